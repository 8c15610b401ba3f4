//! Dossiers, their day numbering, their hash-chained history and the
//! idempotency of online filings.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use motcua_domain::clock::Outcome;
use motcua_domain::codes::DossierCode;
use motcua_domain::dossier::{ApologyFault, Channel, PaymentMethod, Satisfaction};
use motcua_domain::history::{EventContent, GENESIS, HistoryKey};
use motcua_domain::lifecycle::State;
use motcua_domain::procedure::Delivery;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::{
    agencies, apologies, dossier_counters, dossier_events, dossiers, hand_overs, idempotency_keys,
    payments, procedures, ratings, supplement_requests,
};
use crate::sql_types::{
    AgencyId, Closed, DossierGroupId, DossierId, EventId, ProcedureId, UserId, to_db_time,
};

/// A stored dossier.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = dossiers)]
pub struct DossierRow {
    /// Id.
    pub id: DossierId,
    /// Code `<agency>-<YYMMDD>-<NNNN>`.
    pub code: String,
    /// Receiving agency.
    pub receiving_agency_id: AgencyId,
    /// Procedure version.
    pub procedure_id: ProcedureId,
    /// The citizen's account, for online filings (and look-ups by the owner).
    pub owner_id: Option<UserId>,
    /// How it arrived.
    #[diesel(serialize_as = Closed<Channel>)]
    pub channel: Channel,
    /// Lifecycle state.
    #[diesel(serialize_as = Closed<State>)]
    pub state: State,
    /// Optimistic-concurrency version, from 1.
    pub version: i32,
    /// Applicant's name (searchable).
    pub applicant_name: String,
    /// Applicant's phone (public look-up factor).
    pub applicant_phone: String,
    /// Applicant, documents and side records, JSON.
    pub details: String,
    /// How its result is handed over.
    #[diesel(serialize_as = Closed<Delivery>)]
    pub result_delivery: Delivery,
    /// Online: when the portal received the filing.
    pub submitted_at: Option<NaiveDateTime>,
    /// Online: acknowledgement due.
    pub ack_due_at: Option<NaiveDateTime>,
    /// Online: when the desk acknowledged (accepted, refused or asked for a supplement).
    pub acknowledged_at: Option<NaiveDateTime>,
    /// When the complete dossier was received: the clock's raw start.
    pub received_at: Option<NaiveDateTime>,
    /// Current legal due time.
    pub due_at: Option<NaiveDateTime>,
    /// The clock ledger, JSON.
    pub clock_events: String,
    /// When the result was ready (or processing stopped, or the dossier withdrawn).
    pub finished_at: Option<NaiveDateTime>,
    /// Early, on time or late (results only).
    #[diesel(serialize_as = Closed<Option<Outcome>>)]
    pub outcome: Option<Outcome>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// When the desk accepted it (reports count "taken on" from here).
    pub accepted_at: Option<NaiveDateTime>,
    /// The hash of the last event of its history (empty before the first),
    /// kept by [`append_event`]: the head the audit checks the chain against.
    pub history_head: String,
    /// How many events its history has (the last one's `seq`).
    pub history_events: i32,
    /// The agency that decides it (the receiving agency unless another was
    /// named; `None` only for a row written by hand).
    pub resolving_agency_id: Option<AgencyId>,
    /// The filing of an interconnected procedure group it was opened by
    /// (its linked dossiers carry the same id), if any.
    pub group_id: Option<DossierGroupId>,
    /// The national portal's code, for a dossier filed there.
    pub portal_code: Option<String>,
    /// The clerk who filed it online on the citizen's behalf, at the desk.
    pub assisted_by: Option<UserId>,
}

/// A dossier's content at creation (its code and first event come with
/// it): every column, the same as read back. Its history head is written
/// by the events, whatever the new row says.
pub type NewDossier = DossierRow;

/// The mutable part of a dossier, written as a whole by each change.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = dossiers, treat_none_as_null = true)]
pub struct DossierChanges {
    /// State.
    #[diesel(serialize_as = Closed<State>)]
    pub state: State,
    /// Details JSON.
    pub details: String,
    /// Acknowledged.
    pub acknowledged_at: Option<NaiveDateTime>,
    /// Clock start (raw).
    pub received_at: Option<NaiveDateTime>,
    /// Due.
    pub due_at: Option<NaiveDateTime>,
    /// Ledger JSON.
    pub clock_events: String,
    /// Finished.
    pub finished_at: Option<NaiveDateTime>,
    /// Outcome.
    #[diesel(serialize_as = Closed<Option<Outcome>>)]
    pub outcome: Option<Outcome>,
    /// Result delivery.
    #[diesel(serialize_as = Closed<Delivery>)]
    pub result_delivery: Delivery,
    /// Accepted.
    pub accepted_at: Option<NaiveDateTime>,
}

/// One event to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor_id: Option<UserId>,
    /// In which role.
    pub actor_role: String,
    /// What.
    pub action: String,
    /// State before.
    pub state_before: Option<State>,
    /// State after.
    pub state_after: State,
    /// Details, JSON.
    pub payload: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = dossier_events)]
pub struct EventRow {
    /// Id.
    pub id: EventId,
    /// Dossier.
    pub dossier_id: DossierId,
    /// Position, from 1.
    pub seq: i32,
    /// When.
    pub at: NaiveDateTime,
    /// Who.
    pub actor_id: Option<UserId>,
    /// Role.
    pub actor_role: String,
    /// What.
    pub action: String,
    /// Before.
    pub state_before: Option<State>,
    /// After.
    pub state_after: State,
    /// Details JSON.
    pub payload: String,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// The key its hash was computed with (`sha256`: unkeyed, legacy).
    pub key_id: String,
}

impl EventRow {
    /// The content its hash covers.
    pub fn content(&self) -> EventContent {
        content(
            self.dossier_id,
            self.seq,
            self.at,
            self.actor_id,
            &self.actor_role,
            &self.action,
            self.state_before,
            self.state_after,
            &self.payload,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn content(
    dossier: DossierId,
    seq: i32,
    at: NaiveDateTime,
    actor_id: Option<UserId>,
    actor_role: &str,
    action: &str,
    state_before: Option<State>,
    state_after: State,
    payload: &str,
) -> EventContent {
    EventContent {
        dossier_id: dossier.to_string(),
        seq,
        at: at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true),
        actor_id: actor_id.map(|id| id.to_string()),
        actor_role: actor_role.to_owned(),
        action: action.to_owned(),
        state_before: state_before.map(|s| s.as_str().to_owned()),
        state_after: state_after.as_str().to_owned(),
        payload: payload.to_owned(),
    }
}

/// The next running number of `agency` on `day`, counted in the caller's
/// write transaction: a rolled-back transaction gives its number back, so
/// numbers have no gaps. A concurrent first number of the day can make the
/// insert fail with a conflict; the caller retries the whole transaction.
pub fn next_number(
    conn: &mut DbConnection,
    agency: AgencyId,
    day: NaiveDate,
) -> Result<i32, DbError> {
    let key = dossier_counters::table
        .filter(dossier_counters::agency_id.eq(agency))
        .filter(dossier_counters::day.eq(day));
    let updated = diesel::update(key)
        .set(dossier_counters::last_number.eq(dossier_counters::last_number + 1))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(dossier_counters::table)
            .values((
                dossier_counters::agency_id.eq(agency),
                dossier_counters::day.eq(day),
                dossier_counters::last_number.eq(1),
            ))
            .execute(conn)?;
        return Ok(1);
    }
    Ok(key.select(dossier_counters::last_number).first(conn)?)
}

/// Inserts a dossier and its first event, hashed under `key` (call inside
/// a write transaction).
pub fn insert(
    conn: &mut DbConnection,
    key: &HistoryKey,
    new: &NewDossier,
    first: &NewEvent,
) -> Result<DossierRow, DbError> {
    let new = DossierRow {
        history_head: String::new(),
        history_events: 0,
        ..new.clone()
    };
    let id = new.id;
    diesel::insert_into(dossiers::table)
        .values(new)
        .execute(conn)?;
    append_event(conn, key, id, first)?;
    find(conn, id)
}

/// A dossier by id.
pub fn find(conn: &mut DbConnection, id: DossierId) -> Result<DossierRow, DbError> {
    Ok(dossiers::table.find(id).first(conn)?)
}

/// A dossier by code.
pub fn find_by_code(conn: &mut DbConnection, code: &str) -> Result<DossierRow, DbError> {
    Ok(dossiers::table
        .filter(dossiers::code.eq(code))
        .first(conn)?)
}

/// The dossier filed on the national portal under `portal_code`, if any.
pub fn find_by_portal_code(
    conn: &mut DbConnection,
    portal_code: &str,
) -> Result<Option<DossierRow>, DbError> {
    Ok(dossiers::table
        .filter(dossiers::portal_code.eq(portal_code))
        .first(conn)
        .optional()?)
}

/// A dossier by id or by code, with the materialized path of its receiving
/// agency (for reach), in one query.
pub fn find_with_path(
    conn: &mut DbConnection,
    reference: DossierRef<'_>,
) -> Result<(DossierRow, String), DbError> {
    let query = dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .select((dossiers::all_columns, agencies::path));
    Ok(match reference {
        DossierRef::Id(id) => query.filter(dossiers::id.eq(id)).first(conn)?,
        DossierRef::Code(code) => query.filter(dossiers::code.eq(code)).first(conn)?,
    })
}

/// The paths of the agencies the dossier was handed to (its staff reach it,
/// beside the receiving agency's).
pub fn handed_to_paths(
    conn: &mut DbConnection,
    dossier: DossierId,
) -> Result<Vec<String>, DbError> {
    let ids: Vec<Option<String>> = hand_overs::table
        .filter(hand_overs::dossier_id.eq(dossier))
        .filter(hand_overs::to_agency_id.is_not_null())
        .select(hand_overs::to_agency_id)
        .distinct()
        .load(conn)?;
    let ids: Vec<AgencyId> = ids
        .iter()
        .flatten()
        .filter_map(|id| id.parse().ok())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(agencies::table
        .filter(agencies::id.eq_any(ids))
        .select(agencies::path)
        .load(conn)?)
}

/// What a dossier read needs from the database, in one statement: the
/// dossier, its receiving agency's path (for reach), the cache stamps (for
/// the server's cached calendars and procedures) and whether any payment
/// callback for it was refused (then, and only then, a second query reads
/// them). One round trip instead of three (docs/performance.md, P2).
#[derive(Debug, Clone)]
pub struct ReadFound {
    /// The dossier.
    pub row: DossierRow,
    /// Its receiving agency's path.
    pub path: String,
    /// The cache stamps as of this statement.
    pub stamps: crate::stamps::Stamps,
    /// Whether a payment callback for it was refused.
    pub refused_payments: bool,
}

/// The dossier named by `reference`, with what a read needs (see [`ReadFound`]).
pub fn find_for_read(
    conn: &mut DbConnection,
    reference: DossierRef<'_>,
) -> Result<ReadFound, DbError> {
    use crate::schema::{cache_stamps, rejected_payments};
    let stamp = |name: &'static str| {
        cache_stamps::table
            .filter(cache_stamps::name.eq(name))
            .select(cache_stamps::stamp)
            .single_value()
    };
    let query = dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .select((
            dossiers::all_columns,
            agencies::path,
            stamp("calendars"),
            stamp("procedures"),
            diesel::dsl::exists(
                rejected_payments::table.filter(rejected_payments::dossier_id.eq(dossiers::id)),
            ),
        ));
    type Found = (DossierRow, String, Option<i64>, Option<i64>, bool);
    let (row, path, calendars, procedures, refused_payments): Found = match reference {
        DossierRef::Id(id) => query.filter(dossiers::id.eq(id)).first(conn)?,
        DossierRef::Code(code) => query.filter(dossiers::code.eq(code)).first(conn)?,
    };
    Ok(ReadFound {
        row,
        path,
        stamps: crate::stamps::Stamps {
            calendars: calendars.unwrap_or_default(),
            procedures: procedures.unwrap_or_default(),
        },
        refused_payments,
    })
}

/// How a request names a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DossierRef<'a> {
    /// By id.
    Id(DossierId),
    /// By code.
    Code(&'a str),
}

/// Writes `changes` if the dossier is still at `expected_version`, bumping
/// the version; `false` (nothing written) if someone changed it first.
pub fn update(
    conn: &mut DbConnection,
    id: DossierId,
    expected_version: i32,
    changes: DossierChanges,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        dossiers::table
            .find(id)
            .filter(dossiers::version.eq(expected_version)),
    )
    .set((
        changes,
        dossiers::version.eq(expected_version + 1),
        dossiers::updated_at.eq(to_db_time(now)),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Appends an event to the dossier's chain, hashed under `key` (call inside
/// a write transaction). The chain continues from the head the dossier
/// records, not from whatever its last stored event is: after a deleted
/// last event the new one leaves a visible gap instead of papering over it.
/// The head is read under the row's lock (`FOR NO KEY UPDATE` on
/// PostgreSQL; on SQLite the write transaction holds the database), so
/// concurrent appends to one dossier queue instead of colliding. Not `FOR
/// UPDATE`: that would also hold up every insert that refers to the dossier
/// (the access log's entries check their foreign key with a key-share lock),
/// making staff reads wait for the change to commit.
pub fn append_event(
    conn: &mut DbConnection,
    key: &HistoryKey,
    dossier: DossierId,
    event: &NewEvent,
) -> Result<EventRow, DbError> {
    let row = dossiers::table.find(dossier);
    let head = row.select((
        dossiers::history_events,
        dossiers::history_head,
        dossiers::code,
    ));
    let (recorded, head, code): (i32, String, String) = match conn {
        DbConnection::Postgres(pg) => head.for_no_key_update().first(pg),
        DbConnection::Sqlite(sqlite) => head.first(sqlite),
    }?;
    let seq = recorded + 1;
    let previous = if recorded == 0 {
        GENESIS.to_owned()
    } else {
        head
    };
    let at = to_db_time(event.at);
    let hashed = content(
        dossier,
        seq,
        at,
        event.actor_id,
        &event.actor_role,
        &event.action,
        event.state_before,
        event.state_after,
        &event.payload,
    );
    let hash = key.hash(&previous, &hashed);
    let id = EventId::new();
    diesel::insert_into(dossier_events::table)
        .values((
            dossier_events::id.eq(id),
            dossier_events::dossier_id.eq(dossier),
            dossier_events::seq.eq(seq),
            dossier_events::at.eq(at),
            dossier_events::actor_id.eq(event.actor_id),
            dossier_events::actor_role.eq(&event.actor_role),
            dossier_events::action.eq(&event.action),
            dossier_events::state_before.eq(Closed(event.state_before)),
            dossier_events::state_after.eq(Closed(event.state_after)),
            dossier_events::payload.eq(&event.payload),
            dossier_events::prev_hash.eq(&previous),
            dossier_events::hash.eq(&hash),
            dossier_events::key_id.eq(key.id()),
        ))
        .execute(conn)?;
    diesel::update(row)
        .set((
            dossiers::history_events.eq(seq),
            dossiers::history_head.eq(&hash),
        ))
        .execute(conn)?;
    // Whoever must hear of it, in the same transaction (issue #16).
    crate::outbox::enqueue(
        conn,
        &crate::outbox::Told {
            event_id: id,
            dossier_id: dossier,
            dossier_code: &code,
            seq,
            action: &event.action,
            state_before: event.state_before.map(State::as_str),
            state_after: event.state_after.as_str(),
            at: event.at,
            payload: &event.payload,
        },
    )?;
    Ok(dossier_events::table.find(id).first(conn)?)
}

/// A dossier's events, in order.
pub fn events(conn: &mut DbConnection, dossier: DossierId) -> Result<Vec<EventRow>, DbError> {
    Ok(dossier_events::table
        .filter(dossier_events::dossier_id.eq(dossier))
        .order(dossier_events::seq)
        .load(conn)?)
}

/// The dossier an owner's idempotency key already created, with the hash of
/// the request that created it.
pub fn idempotent(
    conn: &mut DbConnection,
    owner: UserId,
    key: &str,
) -> Result<Option<(String, DossierId)>, DbError> {
    Ok(idempotency_keys::table
        .find((owner, key))
        .select((idempotency_keys::request_hash, idempotency_keys::dossier_id))
        .first(conn)
        .optional()?)
}

/// Records which dossier an idempotency key created (same transaction as the dossier).
pub fn remember_key(
    conn: &mut DbConnection,
    owner: UserId,
    key: &str,
    request_hash: &str,
    dossier: DossierId,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::owner_id.eq(owner),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::dossier_id.eq(dossier),
            idempotency_keys::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// What `GET /dossiers` may filter on. Reach is part of the filter, so it is
/// applied in SQL: a subtree path for staff, an owner for citizens.
#[derive(Debug, Clone, Default)]
pub struct DossierFilter {
    /// Staff: only dossiers received by agencies under this path, or handed
    /// to one.
    pub agency_path: Option<String>,
    /// Citizens: only their own dossiers.
    pub owner: Option<UserId>,
    /// State.
    pub state: Option<State>,
    /// Procedure code.
    pub procedure_code: Option<String>,
    /// Channel.
    pub channel: Option<Channel>,
    /// Open dossiers (clock running) whose due time is before this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Due before this instant.
    pub due_before: Option<DateTime<Utc>>,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_to: Option<DateTime<Utc>>,
    /// Code or applicant name contains.
    pub q: Option<String>,
}

/// A page of dossiers (with their procedure code) matching `filter`, by id.
pub fn list(
    conn: &mut DbConnection,
    filter: &DossierFilter,
    after: Option<DossierId>,
    limit: i64,
) -> Result<Vec<(DossierRow, String)>, DbError> {
    use crate::schema::procedures;
    let mut query = dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .inner_join(procedures::table)
        .select((dossiers::all_columns, procedures::code))
        .order(dossiers::id)
        .limit(limit)
        .into_boxed();
    if let Some(path) = &filter.agency_path {
        let subtree = agencies::path.like(format!("{path}%"));
        // Dossiers handed to an agency of the subtree too. (A hand-over
        // stays within its tree: nothing is handed into a root from outside.)
        let root = path.matches('/').count() <= 2;
        if root {
            query = query.filter(subtree);
        } else {
            let under: Vec<String> = agencies::table
                .filter(agencies::path.like(format!("{path}%")))
                .select(agencies::id)
                .load::<AgencyId>(conn)?
                .iter()
                .map(ToString::to_string)
                .collect();
            let handed = hand_overs::table
                .filter(hand_overs::to_agency_id.eq_any(under))
                .select(hand_overs::dossier_id);
            query = query.filter(subtree.or(dossiers::id.eq_any(handed)));
        }
    }
    if let Some(owner) = filter.owner {
        query = query.filter(dossiers::owner_id.eq(owner));
    }
    if let Some(state) = filter.state {
        query = query.filter(dossiers::state.eq(Closed(state)));
    }
    if let Some(code) = &filter.procedure_code {
        query = query.filter(procedures::code.eq(code.clone()));
    }
    if let Some(channel) = filter.channel {
        query = query.filter(dossiers::channel.eq(Closed(channel)));
    }
    if let Some(at) = filter.overdue_at {
        query = query
            .filter(dossiers::state.eq_any(State::RUNNING.map(Closed)))
            .filter(dossiers::due_at.lt(to_db_time(at)));
    }
    if let Some(before) = filter.due_before {
        query = query.filter(dossiers::due_at.lt(to_db_time(before)));
    }
    if let Some(from) = filter.received_from {
        query = query.filter(dossiers::received_at.ge(to_db_time(from)));
    }
    if let Some(to) = filter.received_to {
        query = query.filter(dossiers::received_at.lt(to_db_time(to)));
    }
    if let Some(q) = &filter.q {
        let pattern = format!("%{}%", like_literal(q));
        query = query.filter(
            dossiers::code
                .like(pattern.clone())
                .escape('\\')
                .or(dossiers::applicant_name.like(pattern).escape('\\')),
        );
    }
    if let Some(after) = after {
        query = query.filter(dossiers::id.gt(after));
    }
    Ok(query.load(conn)?)
}

/// What reports read of a dossier open at some instant, or finished late.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ReportRow {
    /// The dossier.
    pub id: DossierId,
    /// Dossier code.
    pub code: String,
    /// Channel.
    pub channel: Channel,
    /// Accepted.
    pub accepted_at: Option<NaiveDateTime>,
    /// The clock's raw start.
    pub received_at: Option<NaiveDateTime>,
    /// The clock ledger, JSON.
    pub clock_events: String,
    /// Procedure version.
    pub procedure_id: ProcedureId,
    /// Receiving agency.
    pub agency_id: AgencyId,
    /// When it finished, if it has.
    pub finished_at: Option<NaiveDateTime>,
    /// When its apology (Form 04) was given, if it was.
    pub apologised_at: Option<NaiveDateTime>,
    /// Whose fault the apology answered for.
    pub apology_fault: Option<ApologyFault>,
    /// Resolving agency.
    pub resolving_agency_id: Option<AgencyId>,
}

/// Which agency's subtree a report counts a dossier in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountedAt {
    /// Where it was received (online uptake, the indicators, the lists).
    Receiving,
    /// Who resolves it (Form 06).
    Resolving,
}

/// The columns of a [`ReportRow`], from dossiers left-joined to apologies.
macro_rules! report_columns {
    () => {
        (
            dossiers::id,
            dossiers::code,
            dossiers::channel,
            dossiers::accepted_at,
            dossiers::received_at,
            dossiers::clock_events,
            dossiers::procedure_id,
            dossiers::receiving_agency_id,
            dossiers::finished_at,
            apologies::apologised_at.nullable(),
            apologies::fault.nullable(),
            dossiers::resolving_agency_id,
        )
    };
}

/// Dossiers joined to the agency `at` names (receiving or resolving), for a
/// subtree filter on `agencies::path`.
macro_rules! dossiers_at {
    (Receiving) => {
        dossiers::table
            .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
    };
    (Resolving) => {
        dossiers::table.inner_join(
            agencies::table.on(agencies::id.eq(dossiers::resolving_agency_id.assume_not_null())),
        )
    };
}

/// The dossiers under `root_path` (as `counted_at` says) open at `at`:
/// accepted before it and not finished before it.
pub fn open_at(
    conn: &mut DbConnection,
    root_path: &str,
    counted_at: CountedAt,
    at: DateTime<Utc>,
) -> Result<Vec<ReportRow>, DbError> {
    let at = to_db_time(at);
    macro_rules! open {
        ($agency:tt) => {
            dossiers_at!($agency)
                .left_join(apologies::table)
                .filter(agencies::path.like(format!("{root_path}%")))
                .filter(dossiers::accepted_at.lt(at))
                .filter(
                    dossiers::finished_at
                        .is_null()
                        .or(dossiers::finished_at.ge(at)),
                )
                .select(report_columns!())
                .load(conn)?
        };
    }
    Ok(match counted_at {
        CountedAt::Receiving => open!(Receiving),
        CountedAt::Resolving => open!(Resolving),
    })
}

/// The dossiers under `root_path` (as `counted_at` says) open at one of
/// the instants `ends` (ascending), read once for a report over several
/// periods, which then asks each row whether it was open at each period's
/// end. The ids come first from the covering index on `accepted_at`, one
/// range of acceptance at a time (a dossier accepted between two ends is
/// open at one of them if it had not finished by the later one); then the
/// rows of those ids.
pub fn open_at_any(
    conn: &mut DbConnection,
    root_path: &str,
    counted_at: CountedAt,
    ends: &[DateTime<Utc>],
) -> Result<Vec<ReportRow>, DbError> {
    // One instant: one pass over the table reads them faster.
    if let [end] = ends {
        return open_at(conn, root_path, counted_at, *end);
    }
    let mut ids = Vec::new();
    let mut accepted_from = None;
    for end in ends {
        let end = to_db_time(*end);
        macro_rules! open_ids {
            ($agency:tt) => {{
                let mut query = dossiers_at!($agency)
                    .filter(agencies::path.like(format!("{root_path}%")))
                    .filter(dossiers::accepted_at.lt(end))
                    .filter(
                        dossiers::finished_at
                            .is_null()
                            .or(dossiers::finished_at.ge(end)),
                    )
                    .select(dossiers::id)
                    .into_boxed();
                if let Some(from) = accepted_from {
                    query = query.filter(dossiers::accepted_at.ge(from));
                }
                query.load::<DossierId>(conn)?
            }};
        }
        ids.extend(match counted_at {
            CountedAt::Receiving => open_ids!(Receiving),
            CountedAt::Resolving => open_ids!(Resolving),
        });
        accepted_from = Some(end);
    }
    report_rows(conn, ids)
}

/// Which dossiers that finished in a period [`finished_between`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Results recorded after the legal due time: Form 06's late ones.
    LateResults,
    /// Withdrawals and stops after acceptance.
    WithdrawnOrStopped,
}

/// The dossiers under `root_path` that finished in `[start, end)` after
/// their acceptance, of the kind asked for.
pub fn finished_between(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    which: Finished,
) -> Result<Vec<ReportRow>, DbError> {
    let (start, end) = (to_db_time(start), to_db_time(end));
    let query = dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .left_join(apologies::table)
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(dossiers::finished_at.ge(start))
        .filter(dossiers::finished_at.lt(end))
        .filter(dossiers::accepted_at.is_not_null())
        .select(report_columns!())
        .into_boxed();
    let query = match which {
        Finished::LateResults => query
            .filter(dossiers::state.eq_any(State::RESULTED.map(Closed)))
            .filter(dossiers::outcome.eq(Closed(Some(Outcome::Late)))),
        Finished::WithdrawnOrStopped => {
            query.filter(dossiers::state.eq_any([Closed(State::Withdrawn), Closed(State::Stopped)]))
        }
    };
    Ok(query.load(conn)?)
}

/// The dossiers that may have had a processing step at an agency under
/// `root_path` between `start` and `end`: received in the subtree or handed
/// to an agency of it, handed over at least once before `end`, and not
/// finished before `start` (the late-steps report then reads their steps).
pub fn with_steps_between(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<DossierRow>, DbError> {
    let (start, end) = (to_db_time(start), to_db_time(end));
    let under: Vec<String> = agencies::table
        .filter(agencies::path.like(format!("{root_path}%")))
        .select(agencies::id)
        .load::<AgencyId>(conn)?
        .iter()
        .map(ToString::to_string)
        .collect();
    let handed_into = hand_overs::table
        .filter(hand_overs::to_agency_id.eq_any(under))
        .select(hand_overs::dossier_id);
    let handed_before_end = hand_overs::table
        .filter(hand_overs::handed_at.lt(end))
        .select(hand_overs::dossier_id);
    Ok(dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .filter(
            agencies::path
                .like(format!("{root_path}%"))
                .or(dossiers::id.eq_any(handed_into)),
        )
        .filter(dossiers::id.eq_any(handed_before_end))
        .filter(
            dossiers::finished_at
                .is_null()
                .or(dossiers::finished_at.ge(start)),
        )
        .order(dossiers::code)
        .select(dossiers::all_columns)
        .load(conn)?)
}

/// The report rows of the dossiers `ids`.
pub fn report_rows(
    conn: &mut DbConnection,
    ids: Vec<DossierId>,
) -> Result<Vec<ReportRow>, DbError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in chunks(ids, 2000) {
        rows.extend(
            dossiers::table
                .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
                .left_join(apologies::table)
                .filter(dossiers::id.eq_any(chunk))
                .select(report_columns!())
                .load::<ReportRow>(conn)?,
        );
    }
    Ok(rows)
}

/// How many supplement requests each dossier under `root_path` received
/// after its acceptance (in processing, not at the desk) and before
/// `before`, for the dossiers that received any.
pub fn supplement_requests_after_acceptance(
    conn: &mut DbConnection,
    root_path: &str,
    before: DateTime<Utc>,
) -> Result<HashMap<DossierId, i64>, DbError> {
    use diesel::dsl::count_star;
    Ok(supplement_requests::table
        .inner_join(
            dossiers::table
                .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id))),
        )
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(
            supplement_requests::requested_at
                .nullable()
                .ge(dossiers::accepted_at),
        )
        .filter(supplement_requests::requested_at.lt(to_db_time(before)))
        .group_by(supplement_requests::dossier_id)
        .select((supplement_requests::dossier_id, count_star()))
        .load::<(DossierId, i64)>(conn)?
        .into_iter()
        .collect())
}

/// The dossiers under `root_path` asked for a supplement more than once
/// after their acceptance and before `before`, with the instants of those
/// requests in order. (A request's `nth` counts all of a dossier's requests,
/// so only dossiers with a second one are read.)
pub fn repeated_supplement_requests(
    conn: &mut DbConnection,
    root_path: &str,
    before: DateTime<Utc>,
) -> Result<HashMap<DossierId, Vec<NaiveDateTime>>, DbError> {
    let second = diesel::alias!(supplement_requests as second);
    let with_a_second = second
        .filter(second.field(supplement_requests::nth).ge(2))
        .select(second.field(supplement_requests::dossier_id));
    let rows = supplement_requests::table
        .inner_join(
            dossiers::table
                .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id))),
        )
        .filter(supplement_requests::dossier_id.eq_any(with_a_second))
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(
            supplement_requests::requested_at
                .nullable()
                .ge(dossiers::accepted_at),
        )
        .filter(supplement_requests::requested_at.lt(to_db_time(before)))
        .order((
            supplement_requests::dossier_id,
            supplement_requests::requested_at,
        ))
        .select((
            supplement_requests::dossier_id,
            supplement_requests::requested_at,
        ))
        .load::<(DossierId, NaiveDateTime)>(conn)?;
    let mut times: HashMap<DossierId, Vec<NaiveDateTime>> = HashMap::new();
    for (id, at) in rows {
        times.entry(id).or_default().push(at);
    }
    times.retain(|_, times| times.len() > 1);
    Ok(times)
}

/// The dossiers of `agency` (identifier `identifier`) numbered on the days
/// `first..=last`, in number order: the lines of its tracking book for
/// those days. Codes are `<agency>-<YYMMDD>-<NNNN>`, so the days are a range
/// of codes.
pub fn numbered_between(
    conn: &mut DbConnection,
    agency: AgencyId,
    identifier: &str,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<DossierRow>, DbError> {
    let day = |day: NaiveDate| format!("{identifier}-{}", day.format("%y%m%d"));
    // `~` sorts after the `-` that follows a code's day.
    Ok(dossiers::table
        .filter(dossiers::receiving_agency_id.eq(agency))
        .filter(dossiers::code.ge(day(first)))
        .filter(dossiers::code.lt(format!("{}~", day(last))))
        .order(dossiers::code)
        .load(conn)?)
}

/// `text` for a `LIKE … ESCAPE '\\'` pattern: `%` and `_` are characters,
/// not wildcards.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Who accepted `dossier` (the actor of the event that took it to
/// `accepted`): the receiving officer its receipt names.
pub fn acceptor(conn: &mut DbConnection, dossier: DossierId) -> Result<Option<UserId>, DbError> {
    Ok(dossier_events::table
        .filter(dossier_events::dossier_id.eq(dossier))
        .filter(dossier_events::state_after.eq(Closed(State::Accepted)))
        .order(dossier_events::seq)
        .select(dossier_events::actor_id)
        .first::<Option<UserId>>(conn)
        .optional()?
        .flatten())
}

/// The place of the dossier coded `code` in its agency's tracking book of
/// its year: how many of the agency's codes of that year (`<agency>-<YY>…`)
/// sort at or before it. Codes are gapless and ordered by day and number,
/// so this is its running number in the year.
pub fn book_position(conn: &mut DbConnection, code: &str) -> Result<i64, DbError> {
    // `<agency>-<YYMMDD>-<NNNN>`: the year's codes share `<agency>-<YY>`.
    let Ok(parsed) = code.parse::<DossierCode>() else {
        return Ok(0);
    };
    let year_prefix = format!(
        "{}-{}",
        parsed.agency().as_str(),
        parsed.date().format("%y")
    );
    Ok(dossiers::table
        .filter(
            dossiers::code
                .like(format!("{}%", like_literal(&year_prefix)))
                .escape('\\'),
        )
        .filter(dossiers::code.le(code))
        .count()
        .get_result(conn)?)
}

/// `sum(case when condition then 1 else 0 end)`: how many rows meet it.
macro_rules! how_many {
    ($condition:expr) => {
        diesel::dsl::sum(
            diesel::dsl::case_when($condition, 1.into_sql::<diesel::sql_types::Integer>())
                .otherwise(0.into_sql::<diesel::sql_types::Integer>()),
        )
    };
}

/// Dossiers alike for Form 06 that finished in a period, counted by the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedCount {
    /// The procedure version or the receiving agency, as asked for.
    pub key: CountKey,
    /// Channel.
    pub channel: Channel,
    /// State now (a finished state).
    pub state: State,
    /// Early, on time or late (results only).
    pub outcome: Option<Outcome>,
    /// How many.
    pub count: i64,
    /// How many of them were accepted within the period (the rest before it).
    pub accepted_in_period: Option<i64>,
    /// How many of them (late results) were announced by an apology.
    pub apologised: Option<i64>,
}

/// What closed dossiers are counted by, besides channel, state and outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountBy {
    /// The procedure version (reports by field or by procedure).
    Procedure,
    /// The receiving agency.
    Agency,
    /// The resolving agency.
    ResolvingAgency,
}

/// The procedure version or the agency (receiving or resolving) a
/// [`ClosedCount`] is for, as [`CountBy`] asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountKey {
    /// A procedure version.
    Procedure(ProcedureId),
    /// An agency.
    Agency(AgencyId),
}

/// [`closed_counts`] in the subtree of the `$agency` agency.
macro_rules! closed_counts_at {
    ($agency:tt, $conn:expr, $root_path:expr, $by:expr, $start:expr, $end:expr) => {{
        use diesel::dsl::count_star;
        let (conn, root_path, by) = ($conn, $root_path, $by);
        let (start, end) = (to_db_time($start), to_db_time($end));
        // `IN (subquery)` runs once (a hashed set), not once per row as a
        // correlated `EXISTS` would on SQLite, which has no statistics.
        let apologised = apologies::table.select(apologies::dossier_id);
        let closed = dossiers_at!($agency)
            .filter(agencies::path.like(format!("{root_path}%")))
            .filter(dossiers::finished_at.ge(start))
            .filter(dossiers::finished_at.lt(end))
            .filter(
                dossiers::accepted_at
                    .is_not_null()
                    .or(dossiers::state.eq(Closed(State::Refused))),
            );
        let new = how_many!(dossiers::accepted_at.ge(start));
        let with_apology = how_many!(
            dossiers::outcome
                .eq(Closed(Some(Outcome::Late)))
                .and(dossiers::state.eq_any(State::RESULTED.map(Closed)))
                .and(dossiers::id.eq_any(apologised))
        );
        // The same query twice: diesel types the grouping column statically.
        macro_rules! counted_by {
            ($key:expr, $keyed:expr) => {
                closed
                    .group_by(($key, dossiers::channel, dossiers::state, dossiers::outcome))
                    .select((
                        $key,
                        dossiers::channel,
                        dossiers::state,
                        dossiers::outcome,
                        count_star(),
                        new,
                        with_apology,
                    ))
                    .load::<(
                        _,
                        Channel,
                        State,
                        Option<Outcome>,
                        i64,
                        Option<i64>,
                        Option<i64>,
                    )>(conn)?
                    .into_iter()
                    .map(
                        |(key, channel, state, outcome, count, accepted_in_period, apologised)| {
                            ClosedCount {
                                key: $keyed(key),
                                channel,
                                state,
                                outcome,
                                count,
                                accepted_in_period,
                                apologised,
                            }
                        },
                    )
                    .collect()
            };
        }
        Ok(match by {
            CountBy::Procedure => counted_by!(dossiers::procedure_id, CountKey::Procedure),
            CountBy::Agency => counted_by!(dossiers::receiving_agency_id, CountKey::Agency),
            // Grouped by both: a dossier stored without a resolving agency
            // is resolved where it was received.
            CountBy::ResolvingAgency => counted_by!(
                (dossiers::resolving_agency_id, dossiers::receiving_agency_id),
                |(resolving, receiving): (Option<AgencyId>, AgencyId)| CountKey::Agency(
                    resolving.unwrap_or(receiving)
                )
            ),
        })
    }};
}

/// The dossiers under `root_path` (their receiving or resolving agency's
/// subtree, as `counted_at` says) that finished in `[start, end)` (results,
/// withdrawals and stops after acceptance, refusals at intake), counted by
/// procedure or agency, channel, state and outcome, with how many were new
/// in the period and how many late ones carry an apology: one pass over the
/// covering index on `finished_at`.
pub fn closed_counts(
    conn: &mut DbConnection,
    root_path: &str,
    by: CountBy,
    counted_at: CountedAt,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<ClosedCount>, DbError> {
    match counted_at {
        CountedAt::Receiving => closed_counts_at!(Receiving, conn, root_path, by, start, end),
        CountedAt::Resolving => closed_counts_at!(Resolving, conn, root_path, by, start, end),
    }
}

/// Payments of one receiving agency and procedure version: the agency, the
/// version, how many, and how many of them online.
pub type PaymentCount = (AgencyId, ProcedureId, i64, Option<i64>);

/// Payments recorded in `[start, end)` on dossiers under `root_path`, by
/// the dossiers' receiving agency and procedure version: how many, and how
/// many of them online (through the gateway or the portal).
pub fn payment_counts(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PaymentCount>, DbError> {
    Ok(payments::table
        .inner_join(
            dossiers::table
                .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id))),
        )
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(payments::recorded_at.ge(to_db_time(start)))
        .filter(payments::recorded_at.lt(to_db_time(end)))
        .group_by((dossiers::receiving_agency_id, dossiers::procedure_id))
        .select((
            dossiers::receiving_agency_id,
            dossiers::procedure_id,
            diesel::dsl::count_star(),
            how_many!(payments::method.eq(Closed(PaymentMethod::Online))),
        ))
        .load(conn)?)
}

/// Results recorded in `[start, end)` at an agency, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct ResultCounts {
    /// The receiving agency.
    pub agency: AgencyId,
    /// Results.
    pub results: i64,
    /// Of which neither late nor rated "dissatisfied" (whenever rated).
    pub satisfying: Option<i64>,
    /// Of which delivered electronically.
    pub delivered_online: Option<i64>,
}

/// Counts the results recorded in `[start, end)` under `root_path`, by
/// receiving agency.
pub fn result_counts(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<ResultCounts>, DbError> {
    let dissatisfied = ratings::table
        .filter(ratings::overall.eq(Closed(Satisfaction::Dissatisfied)))
        .select(ratings::dossier_id);
    Ok(dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(dossiers::state.eq_any(State::RESULTED.map(Closed)))
        .filter(dossiers::finished_at.ge(to_db_time(start)))
        .filter(dossiers::finished_at.lt(to_db_time(end)))
        .group_by(dossiers::receiving_agency_id)
        .select((
            dossiers::receiving_agency_id,
            diesel::dsl::count_star(),
            how_many!(
                (dossiers::outcome
                    .is_null()
                    .or(dossiers::outcome.ne(Closed(Some(Outcome::Late)))))
                // `NOT (id IN …)`: PostgreSQL hashes an `IN` subquery
                // once, but runs `<> ALL` again for every row.
                .and(diesel::dsl::not(dossiers::id.eq_any(dissatisfied)))
            ),
            how_many!(dossiers::result_delivery.eq(Closed(Delivery::Online))),
        ))
        .load(conn)?)
}

/// Dossiers accepted in `[start, end)` under `root_path`, counted by
/// procedure version, agency and channel.
pub fn accepted_counts(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(ProcedureId, AgencyId, Channel, i64)>, DbError> {
    Ok(dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(dossiers::accepted_at.ge(to_db_time(start)))
        .filter(dossiers::accepted_at.lt(to_db_time(end)))
        .group_by((
            dossiers::procedure_id,
            dossiers::receiving_agency_id,
            dossiers::channel,
        ))
        .select((
            dossiers::procedure_id,
            dossiers::receiving_agency_id,
            dossiers::channel,
            diesel::dsl::count_star(),
        ))
        .load(conn)?)
}

/// Online filings accepted in `[start, end)` under `root_path` that a clerk
/// made for the citizen at the desk, counted by procedure version and agency.
pub fn assisted_counts(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(ProcedureId, AgencyId, i64)>, DbError> {
    Ok(dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(dossiers::accepted_at.ge(to_db_time(start)))
        .filter(dossiers::accepted_at.lt(to_db_time(end)))
        .filter(dossiers::channel.eq(Closed(Channel::Online)))
        .filter(dossiers::assisted_by.is_not_null())
        .group_by((dossiers::procedure_id, dossiers::receiving_agency_id))
        .select((
            dossiers::procedure_id,
            dossiers::receiving_agency_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)?)
}

/// The outreach list's dossiers: received at the desk or by post at an
/// agency under `root_path` in `[start, end)`, for a procedure version
/// offered fully online, in order of arrival; at most `limit`, each with
/// its procedure's code and name.
pub fn received_in_person_for_online(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(DossierRow, String, String)>, DbError> {
    Ok(dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .inner_join(procedures::table)
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(dossiers::channel.eq_any([Closed(Channel::Direct), Closed(Channel::Postal)]))
        .filter(procedures::online_kind.eq("full"))
        .filter(dossiers::created_at.ge(to_db_time(start)))
        .filter(dossiers::created_at.lt(to_db_time(end)))
        .order((dossiers::created_at, dossiers::code))
        .limit(limit)
        .select((dossiers::all_columns, procedures::code, procedures::name))
        .load(conn)?)
}

/// Online filings under `root_path` whose acknowledgement fell due in
/// `[start, end)`, by receiving agency: how many, and how many were
/// acknowledged in time.
pub fn acknowledgement_counts(
    conn: &mut DbConnection,
    root_path: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(AgencyId, i64, Option<i64>)>, DbError> {
    Ok(dossiers::table
        .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(dossiers::ack_due_at.ge(to_db_time(start)))
        .filter(dossiers::ack_due_at.lt(to_db_time(end)))
        .group_by(dossiers::receiving_agency_id)
        .select((
            dossiers::receiving_agency_id,
            diesel::dsl::count_star(),
            how_many!(dossiers::acknowledged_at.le(dossiers::ack_due_at)),
        ))
        .load(conn)?)
}

/// Reserves `count` consecutive numbers of `agency` on `day` (in the caller's
/// transaction); returns the first.
pub fn reserve_numbers(
    conn: &mut DbConnection,
    agency: AgencyId,
    day: NaiveDate,
    count: i32,
) -> Result<i32, DbError> {
    let key = dossier_counters::table
        .filter(dossier_counters::agency_id.eq(agency))
        .filter(dossier_counters::day.eq(day));
    let updated = diesel::update(key)
        .set(dossier_counters::last_number.eq(dossier_counters::last_number + count))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(dossier_counters::table)
            .values((
                dossier_counters::agency_id.eq(agency),
                dossier_counters::day.eq(day),
                dossier_counters::last_number.eq(count),
            ))
            .execute(conn)?;
        return Ok(1);
    }
    let last: i32 = key.select(dossier_counters::last_number).first(conn)?;
    Ok(last - count + 1)
}

/// Inserts new dossiers with their first events in bulk (for data
/// generation): the events' hash chains (under `key`) and the dossiers'
/// heads are computed here, as [`append_event`] would, but written with
/// multi-row inserts.
pub fn insert_new_batch(
    conn: &mut DbConnection,
    key: &HistoryKey,
    batch: &[(NewDossier, Vec<NewEvent>)],
) -> Result<(), DbError> {
    #[derive(Insertable)]
    #[diesel(table_name = dossier_events)]
    struct EventInsert {
        id: EventId,
        dossier_id: DossierId,
        seq: i32,
        at: NaiveDateTime,
        actor_id: Option<UserId>,
        actor_role: String,
        action: String,
        #[diesel(serialize_as = Closed<Option<State>>)]
        state_before: Option<State>,
        #[diesel(serialize_as = Closed<State>)]
        state_after: State,
        payload: String,
        prev_hash: String,
        hash: String,
        key_id: String,
    }
    let mut dossiers: Vec<DossierRow> = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    for (dossier, list) in batch {
        let mut previous = GENESIS.to_owned();
        let mut count = 0;
        for (seq, event) in (1..).zip(list) {
            count = seq;
            let at = to_db_time(event.at);
            let hashed = content(
                dossier.id,
                seq,
                at,
                event.actor_id,
                &event.actor_role,
                &event.action,
                event.state_before,
                event.state_after,
                &event.payload,
            );
            let hash = key.hash(&previous, &hashed);
            events.push(EventInsert {
                id: EventId::new(),
                dossier_id: dossier.id,
                seq,
                at,
                actor_id: event.actor_id,
                actor_role: event.actor_role.clone(),
                action: event.action.clone(),
                state_before: event.state_before,
                state_after: event.state_after,
                payload: event.payload.clone(),
                prev_hash: std::mem::replace(&mut previous, hash.clone()),
                hash,
                key_id: key.id().to_owned(),
            });
        }
        dossiers.push(DossierRow {
            history_head: if count == 0 { String::new() } else { previous },
            history_events: count,
            ..dossier.clone()
        });
    }
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in chunks(dossiers, 1000) {
                diesel::insert_into(dossiers::table)
                    .values(chunk)
                    .execute(pg)?;
            }
            for chunk in chunks(events, 2000) {
                diesel::insert_into(dossier_events::table)
                    .values(chunk)
                    .execute(pg)?;
            }
        }
        DbConnection::Sqlite(sqlite) => {
            for chunk in chunks(dossiers, 1000) {
                diesel::insert_into(dossiers::table)
                    .values(chunk)
                    .execute(sqlite)?;
            }
            for chunk in chunks(events, 2000) {
                diesel::insert_into(dossier_events::table)
                    .values(chunk)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}

/// `rows` in owned chunks of `size` for multi-row inserts (rows whose
/// closed-set fields convert on insert are inserted by value).
pub(crate) fn chunks<T>(rows: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let mut rows = rows.into_iter();
    std::iter::from_fn(move || {
        let chunk: Vec<T> = rows.by_ref().take(size).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}
