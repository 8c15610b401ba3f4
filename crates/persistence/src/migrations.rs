//! The schema's history, embedded in the binary: one folder per backend under
//! `migrations/`, with the same migration names in both.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::{Backend, DbConnection};
use crate::error::DbError;

/// PostgreSQL migrations (`migrations/postgres`).
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// SQLite migrations (`migrations/sqlite`).
pub const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The migration set for a backend.
pub fn source(backend: Backend) -> EmbeddedMigrations {
    match backend {
        Backend::Postgres => POSTGRES,
        Backend::Sqlite => SQLITE,
    }
}

/// The PostgreSQL advisory lock held while migrating ("motcua" in ASCII).
const MIGRATION_LOCK: i64 = 0x6d6f_7463_7561;

/// Applies every pending migration, each in its own transaction; returns how
/// many ran. Safe when several processes start at once on one database: on
/// PostgreSQL they queue on an advisory lock (held by this session until the
/// migrations are done, released even if one fails), on SQLite on the write
/// lock (`BEGIN IMMEDIATE` around the whole run; each migration is then a
/// savepoint). The second process finds nothing pending.
pub fn run_pending(conn: &mut DbConnection) -> Result<usize, DbError> {
    let applied = match conn.backend() {
        Backend::Postgres => {
            let lock = format!("SELECT pg_advisory_lock({MIGRATION_LOCK})");
            diesel::sql_query(lock).execute(conn)?;
            let applied = apply(conn);
            let unlock = format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})");
            let released = diesel::sql_query(unlock).execute(conn);
            let applied = applied?;
            released?;
            applied
        }
        Backend::Sqlite => conn.write(apply)?,
    };
    for version in &applied {
        tracing::debug!(%version, "applied migration");
    }
    if let (Some(first), Some(last)) = (applied.first(), applied.last()) {
        tracing::info!(
            count = applied.len(),
            %first,
            %last,
            "applied {} migration(s)",
            applied.len()
        );
    }
    Ok(applied.len())
}

fn apply(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
    conn.run_pending_migrations(source(conn.backend()))
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|error| DbError::Migration(error.to_string()))
}

/// How many embedded migrations the database has not applied yet.
pub fn pending(conn: &mut DbConnection) -> Result<usize, DbError> {
    conn.pending_migrations(source(conn.backend()))
        .map(|pending| pending.len())
        .map_err(|error| DbError::Migration(error.to_string()))
}

#[cfg(test)]
mod tests {
    use diesel_migrations::MigrationHarness;

    use super::source;
    use crate::error::DbError;
    use crate::testing::TestDb;
    use crate::testing::schema::{foreign_keys_without_index, render_schema, snapshot};

    /// The committed `schema.rs` is exactly what the migrations produce, on
    /// each backend. `MOTCUA_BLESS=1` rewrites it instead.
    fn committed_schema_matches_the_migrations(db: TestDb) {
        let rendered = db
            .open()
            .run(|conn| Ok(render_schema(conn)))
            .unwrap_or_else(|e: DbError| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema.rs");
        if std::env::var_os("MOTCUA_BLESS").is_some() {
            std::fs::write(path, &rendered).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == rendered,
            "{path} differs from what the {} migrations produce. Expected:\n{rendered}\n\
             Regenerate with MOTCUA_BLESS=1 cargo test -p motcua-persistence committed_schema",
            db.url().backend()
        );
    }

    /// Migrations that change rows and no schema, each tested on data of
    /// its own: 000014 (`a_database_written_before_the_aggregate_reads_after_migrating`).
    const DATA_ONLY: [&str; 1] = ["20261127000014"];

    /// Each migration's `down.sql` returns the database to exactly the state
    /// before its `up.sql`, and the migration can then be applied again.
    fn every_down_migration_reverts(db: TestDb) {
        let result = db.open().run(|conn| {
            let backend = conn.backend();
            let total = conn
                .pending_migrations(source(backend))
                .map(|m| m.len())
                .unwrap_or(0);
            assert!(total > 0, "no migrations found");
            for _ in 0..total {
                let before = snapshot(conn).unwrap_or_else(|e| panic!("{e}"));
                let applied = conn
                    .run_next_migration(source(backend))
                    .map(|version| version.to_string())
                    .unwrap_or_else(|e| panic!("up: {e}"));
                let after_up = snapshot(conn).unwrap_or_else(|e| panic!("{e}"));
                // Migrations that only convert rows have a test of their own.
                if !DATA_ONLY.contains(&applied.as_str()) {
                    assert_ne!(before, after_up, "{applied} changed nothing");
                }
                conn.revert_last_migration(source(backend))
                    .unwrap_or_else(|e| panic!("down {applied}: {e}"));
                let after_down = snapshot(conn).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    before, after_down,
                    "down.sql of {applied} does not revert its up.sql"
                );
                conn.run_next_migration(source(backend))
                    .unwrap_or_else(|e| panic!("up again {applied}: {e}"));
            }
            Ok(())
        });
        result.unwrap_or_else(|e: DbError| panic!("{e}"));
    }

    /// Applies the migrations up to and including the one whose version ends
    /// with `last`.
    fn migrate_through(conn: &mut crate::db::DbConnection, last: &str) {
        let backend = conn.backend();
        loop {
            let applied = conn
                .run_next_migration(source(backend))
                .map(|version| version.to_string())
                .unwrap_or_else(|e| panic!("up: {e}"));
            if applied.ends_with(last) {
                return;
            }
        }
    }

    /// Migration 000010 records on each existing dossier its chain's head
    /// (the last event's `seq` and hash) and marks the existing events
    /// unkeyed.
    fn the_history_head_is_backfilled_from_existing_events(db: TestDb) {
        use chrono::NaiveDate;
        use diesel::prelude::*;

        use crate::schema::{agencies, dossier_events, dossiers, procedures};
        use crate::sql_types::{AgencyId, Closed, DossierId, EventId, ProcedureId};
        use motcua_domain::dossier::Channel;
        use motcua_domain::lifecycle::State;
        use motcua_domain::procedure::Delivery;

        let result = db.open().run(|conn| {
            let backend = conn.backend();
            migrate_through(conn, "000009");
            let at = NaiveDate::from_ymd_opt(2026, 11, 2)
                .and_then(|d| d.and_hms_opt(2, 30, 0))
                .unwrap_or_default();
            let (agency, procedure) = (AgencyId::new(), ProcedureId::new());
            diesel::insert_into(agencies::table)
                .values((
                    agencies::id.eq(agency),
                    agencies::identifier.eq("000.00.00.H99"),
                    agencies::name.eq("P"),
                    agencies::kind.eq("province"),
                    agencies::path.eq(format!("/{agency}/")),
                    agencies::created_at.eq(at),
                ))
                .execute(conn)?;
            diesel::insert_into(procedures::table)
                .values((
                    procedures::id.eq(procedure),
                    procedures::code.eq("1.000001"),
                    procedures::version.eq(1),
                    procedures::name.eq("x"),
                    procedures::field_code.eq("x"),
                    procedures::field_name.eq("x"),
                    procedures::agency_level.eq("commune"),
                    procedures::online_kind.eq("none"),
                    procedures::effective_from.eq(at.date()),
                    procedures::definition.eq("{}"),
                    procedures::created_at.eq(at),
                ))
                .execute(conn)?;
            let (with_events, without) = (DossierId::new(), DossierId::new());
            for (id, code) in [(with_events, "a"), (without, "b")] {
                diesel::insert_into(dossiers::table)
                    .values((
                        dossiers::id.eq(id),
                        dossiers::code.eq(code),
                        dossiers::receiving_agency_id.eq(agency),
                        dossiers::procedure_id.eq(procedure),
                        dossiers::channel.eq(Closed(Channel::Direct)),
                        dossiers::state.eq(Closed(State::Accepted)),
                        dossiers::version.eq(1),
                        dossiers::applicant_name.eq("x"),
                        dossiers::applicant_phone.eq("x"),
                        dossiers::details.eq("{}"),
                        dossiers::result_delivery.eq(Closed(Delivery::Desk)),
                        dossiers::clock_events.eq("[]"),
                        dossiers::created_at.eq(at),
                        dossiers::updated_at.eq(at),
                    ))
                    .execute(conn)?;
            }
            for (seq, hash) in [(1, "h1"), (2, "h2")] {
                diesel::insert_into(dossier_events::table)
                    .values((
                        dossier_events::id.eq(EventId::new()),
                        dossier_events::dossier_id.eq(with_events),
                        dossier_events::seq.eq(seq),
                        dossier_events::at.eq(at),
                        dossier_events::actor_role.eq("clerk"),
                        dossier_events::action.eq("x"),
                        dossier_events::state_after.eq(Closed(State::Accepted)),
                        dossier_events::payload.eq("{}"),
                        dossier_events::prev_hash.eq("p"),
                        dossier_events::hash.eq(hash),
                    ))
                    .execute(conn)?;
            }
            conn.run_next_migration(source(backend))
                .unwrap_or_else(|e| panic!("000010: {e}"));
            let heads: Vec<(DossierId, i32, String)> = dossiers::table
                .select((
                    dossiers::id,
                    dossiers::history_events,
                    dossiers::history_head,
                ))
                .load(conn)?;
            for (id, events, head) in heads {
                let expected = if id == with_events {
                    (2, "h2")
                } else {
                    (0, "")
                };
                assert_eq!((events, head.as_str()), expected);
            }
            let keys: Vec<String> = dossier_events::table
                .select(dossier_events::key_id)
                .load(conn)?;
            assert_eq!(keys, ["sha256", "sha256"]);
            Ok(())
        });
        result.unwrap_or_else(|e: DbError| panic!("{e}"));
    }

    /// Migration 000011 copies the reads recorded in histories into the
    /// access log (keeping each event's id, with no request id) and leaves
    /// the histories as they were: their chains cover those events.
    fn reads_in_histories_are_copied_into_the_access_log(db: TestDb) {
        use chrono::NaiveDate;
        use diesel::prelude::*;

        use crate::schema::{access_log, agencies, dossier_events, dossiers, procedures, users};
        use crate::sql_types::{
            AccessId, AgencyId, Closed, DossierId, EventId, ProcedureId, UserId,
        };
        use motcua_domain::dossier::Channel;
        use motcua_domain::lifecycle::State;
        use motcua_domain::procedure::Delivery;

        let result = db.open().run(|conn| {
            let backend = conn.backend();
            migrate_through(conn, "000010");
            let at = NaiveDate::from_ymd_opt(2026, 11, 2)
                .and_then(|d| d.and_hms_micro_opt(2, 30, 0, 250_000))
                .unwrap_or_default();
            let (agency, procedure, clerk, dossier) = (
                AgencyId::new(),
                ProcedureId::new(),
                UserId::new(),
                DossierId::new(),
            );
            diesel::insert_into(agencies::table)
                .values((
                    agencies::id.eq(agency),
                    agencies::identifier.eq("000.00.00.H99"),
                    agencies::name.eq("P"),
                    agencies::kind.eq("province"),
                    agencies::path.eq(format!("/{agency}/")),
                    agencies::created_at.eq(at),
                ))
                .execute(conn)?;
            diesel::insert_into(users::table)
                .values((
                    users::id.eq(clerk),
                    users::kind.eq("staff"),
                    users::username.eq("clerk"),
                    users::full_name.eq("C"),
                    users::agency_id.eq(Some(agency)),
                    users::roles.eq("clerk"),
                    users::password_hash.eq("x"),
                    users::active.eq(true),
                    users::created_at.eq(at),
                    users::updated_at.eq(at),
                ))
                .execute(conn)?;
            diesel::insert_into(procedures::table)
                .values((
                    procedures::id.eq(procedure),
                    procedures::code.eq("1.000001"),
                    procedures::version.eq(1),
                    procedures::name.eq("x"),
                    procedures::field_code.eq("x"),
                    procedures::field_name.eq("x"),
                    procedures::agency_level.eq("commune"),
                    procedures::online_kind.eq("none"),
                    procedures::effective_from.eq(at.date()),
                    procedures::definition.eq("{}"),
                    procedures::created_at.eq(at),
                ))
                .execute(conn)?;
            diesel::insert_into(dossiers::table)
                .values((
                    dossiers::id.eq(dossier),
                    dossiers::code.eq("a"),
                    dossiers::receiving_agency_id.eq(agency),
                    dossiers::procedure_id.eq(procedure),
                    dossiers::channel.eq(Closed(Channel::Direct)),
                    dossiers::state.eq(Closed(State::Accepted)),
                    dossiers::version.eq(1),
                    dossiers::applicant_name.eq("x"),
                    dossiers::applicant_phone.eq("x"),
                    dossiers::details.eq("{}"),
                    dossiers::result_delivery.eq(Closed(Delivery::Desk)),
                    dossiers::clock_events.eq("[]"),
                    dossiers::created_at.eq(at),
                    dossiers::updated_at.eq(at),
                ))
                .execute(conn)?;
            let read = EventId::new();
            for (id, seq, action) in [
                (EventId::new(), 1, "accept"),
                (read, 2, "read_personal_data"),
            ] {
                diesel::insert_into(dossier_events::table)
                    .values((
                        dossier_events::id.eq(id),
                        dossier_events::dossier_id.eq(dossier),
                        dossier_events::seq.eq(seq),
                        dossier_events::at.eq(at),
                        dossier_events::actor_id.eq(Some(clerk)),
                        dossier_events::actor_role.eq("clerk"),
                        dossier_events::action.eq(action),
                        dossier_events::state_after.eq(Closed(State::Accepted)),
                        dossier_events::payload.eq("{}"),
                        dossier_events::prev_hash.eq("p"),
                        dossier_events::hash.eq(format!("h{seq}")),
                    ))
                    .execute(conn)?;
            }
            conn.run_next_migration(source(backend))
                .unwrap_or_else(|e| panic!("000011: {e}"));
            type Copied = (
                AccessId,
                chrono::NaiveDateTime,
                UserId,
                String,
                DossierId,
                AgencyId,
                String,
                Option<String>,
            );
            let copied: Vec<Copied> = access_log::table
                .select((
                    access_log::id,
                    access_log::at,
                    access_log::actor_id,
                    access_log::actor_role,
                    access_log::dossier_id,
                    access_log::agency_id,
                    access_log::resource,
                    access_log::request_id,
                ))
                .load(conn)?;
            assert_eq!(
                copied,
                [(
                    AccessId(read.0),
                    at,
                    clerk,
                    "clerk".to_owned(),
                    dossier,
                    agency,
                    "dossier".to_owned(),
                    None
                )]
            );
            let kept: i64 = dossier_events::table.count().get_result(conn)?;
            assert_eq!(kept, 2, "the histories keep their events");
            Ok(())
        });
        result.unwrap_or_else(|e: DbError| panic!("{e}"));
    }

    /// What `gen-data` of the release before the typed aggregate wrote
    /// (`fixtures/gen-data-before-aggregate.sql`, its rows as plain
    /// INSERTs): payment and supplement-request records without their
    /// instant, supplement items as bare codes, histories by a "generator".
    const BEFORE_AGGREGATE: &str = include_str!("../fixtures/gen-data-before-aggregate.sql");

    /// A database filled by the release before the typed aggregate reads,
    /// once migrated, as typed aggregates: every record of every dossier
    /// has its instant — the one of the event that made it.
    fn a_database_written_before_the_aggregate_reads_after_migrating(db: TestDb) {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;
        use motcua_domain::dossier::Entry;

        use crate::dossiers::DossierRow;
        use crate::schema::{dossier_events, dossiers};

        let result = db.open().run(|conn| {
            let backend = conn.backend();
            migrate_through(conn, "000010");
            conn.batch_execute(BEFORE_AGGREGATE)?;
            // That release's gen-data wrote no hand-overs and no rating
            // criteria; its API did, in this shape. Its references could
            // repeat: two online payments share one here.
            conn.batch_execute(
                r#"UPDATE dossiers SET details = replace(replace(replace(details,
                    'GD260916855432', 'GD260914142828'),
                    '"records":[]', '"records":[{"kind":"handover","to_step":"Thẩm định","note":"đủ"}]'),
                    '"overall":"satisfied"}', '"overall":"satisfied","criteria":{"thái độ":"satisfied","thời gian":"dissatisfied"}}')"#,
            )?;
            let unreadable_before = dossiers::table
                .select(dossiers::details)
                .load::<String>(conn)?
                .iter()
                .filter(|details| {
                    serde_json::from_str::<motcua_domain::dossier::Particulars>(details).is_err()
                })
                .count();
            assert!(unreadable_before > 0, "the fixture has no legacy records");
            conn.run_pending_migrations(source(backend))
                .unwrap_or_else(|e| panic!("up: {e}"));
            let rows: Vec<DossierRow> = dossiers::table.load(conn)?;
            assert!(rows.len() >= 40, "{} dossiers", rows.len());
            for row in &rows {
                let dossier =
                    crate::stored::aggregate(row).unwrap_or_else(|e| panic!("{}: {e}", row.code));
                let events: Vec<(String, chrono::NaiveDateTime)> = dossier_events::table
                    .filter(dossier_events::dossier_id.eq(row.id))
                    .order(dossier_events::seq)
                    .select((dossier_events::action, dossier_events::at))
                    .load(conn)?;
                for record in &dossier.particulars.records {
                    let action = match record.entry {
                        Entry::Payment(_) => "record_payment",
                        Entry::SupplementRequest(_) => "request_supplement",
                        _ => continue,
                    };
                    // Intake's own request is made by the intake event.
                    let made = events.iter().any(|(a, at)| {
                        (a == action || a.starts_with("intake")) && at.and_utc() == record.at
                    });
                    assert!(
                        made,
                        "{}: {action} record at {} has no event",
                        row.code, record.at
                    );
                }
            }
            // 000015: the side records are rows of their own tables, as
            // the records in `details` call for, and there are some of each.
            let differences = crate::records::differences(conn)?;
            assert!(differences.is_empty(), "{differences:#?}");
            use crate::schema::{
                apologies, hand_overs, payments, rating_criteria, ratings, supplement_items,
                supplement_requests,
            };
            let counts: [i64; 7] = [
                payments::table.count().get_result(conn)?,
                hand_overs::table.count().get_result(conn)?,
                rating_criteria::table.count().get_result(conn)?,
                ratings::table.count().get_result(conn)?,
                apologies::table.count().get_result(conn)?,
                supplement_requests::table.count().get_result(conn)?,
                supplement_items::table.count().get_result(conn)?,
            ];
            assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
            let repeated: Vec<String> = payments::table
                .filter(payments::reference.like("GD260914142828%"))
                .order(payments::reference)
                .select(payments::reference)
                .load(conn)?;
            assert_eq!(repeated.len(), 2, "{repeated:?}");
            assert_eq!(repeated[0], "GD260914142828");
            assert!(repeated[1].starts_with("GD260914142828 ("), "{repeated:?}");
            Ok(())
        });
        result.unwrap_or_else(|e: DbError| panic!("{e}"));
    }

    crate::db_tests!(
        empty: every_down_migration_reverts,
        the_history_head_is_backfilled_from_existing_events,
        reads_in_histories_are_copied_into_the_access_log,
        a_database_written_before_the_aggregate_reads_after_migrating,
    );

    /// Every foreign key leads an index (issue #11, item 3): deleting or
    /// re-keying a referenced row, and joining from it, must not scan the
    /// referencing table. Names each foreign key without one.
    fn every_foreign_key_leads_an_index(db: TestDb) {
        let missing = db
            .open()
            .run(|conn| Ok(foreign_keys_without_index(conn)))
            .unwrap_or_else(|e: DbError| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            missing.is_empty(),
            "foreign keys whose columns lead no index on {}:\n  {}\nadd the indexes in a migration",
            db.url().backend(),
            missing.join("\n  ")
        );
    }

    mod migrated {
        use super::*;
        crate::db_tests!(
            committed_schema_matches_the_migrations,
            every_foreign_key_leads_an_index
        );
    }
}
