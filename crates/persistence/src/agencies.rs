//! The agency tree (docs/requirements.md §4): storage of units and subtree look-ups.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::agencies;
use crate::sql_types::{AgencyId, to_db_time};

/// A stored agency.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = agencies)]
pub struct Agency {
    /// Row id.
    pub id: AgencyId,
    /// Electronic identifier in the QCVN 102:2016 style, e.g. `000.00.15.H49`; unique.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Kind of unit (province, commune, …).
    pub kind: String,
    /// The parent agency; `None` for a root.
    pub parent_id: Option<AgencyId>,
    /// Materialized path of ids from the root, ending with this agency's id.
    pub path: String,
    /// When the row was created, UTC.
    pub created_at: NaiveDateTime,
    /// The agency it was merged into, if it was ([`merge`]).
    pub merged_into_id: Option<AgencyId>,
    /// When it was merged, UTC.
    pub merged_at: Option<NaiveDateTime>,
}

/// What is needed to create an agency.
#[derive(Debug, Clone)]
pub struct NewAgency {
    /// Electronic identifier; must be unique.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// Kind of unit.
    pub kind: String,
    /// Parent, which must exist.
    pub parent_id: Option<AgencyId>,
}

/// Stores a new agency under its parent. A duplicate identifier is
/// [`DbError::Conflict`]; an unknown parent is [`DbError::MissingReference`].
pub fn create(
    conn: &mut DbConnection,
    new: &NewAgency,
    now: DateTime<Utc>,
) -> Result<Agency, DbError> {
    conn.write(|conn| {
        conn.lock_key(TREE_LOCK)?;
        let id = AgencyId::new();
        let parent_path = match new.parent_id {
            Some(parent) => {
                let path = agencies::table
                    .find(parent)
                    .select(agencies::path)
                    .first::<String>(conn)
                    .optional()?
                    .ok_or_else(|| DbError::MissingReference("agencies.parent_id".into()))?;
                if merged_away(conn, &path)? {
                    return Err(DbError::MissingReference(
                        "agencies.parent_id (merged into another agency)".into(),
                    ));
                }
                path
            }
            None => "/".to_owned(),
        };
        let row = Agency {
            id,
            identifier: new.identifier.clone(),
            name: new.name.clone(),
            kind: new.kind.clone(),
            parent_id: new.parent_id,
            path: format!("{parent_path}{id}/"),
            created_at: to_db_time(now),
            merged_into_id: None,
            merged_at: None,
        };
        diesel::insert_into(agencies::table)
            .values((
                agencies::id.eq(row.id),
                agencies::identifier.eq(&row.identifier),
                agencies::name.eq(&row.name),
                agencies::kind.eq(&row.kind),
                agencies::parent_id.eq(row.parent_id),
                agencies::path.eq(&row.path),
                agencies::created_at.eq(row.created_at),
            ))
            .execute(conn)?;
        Ok(row)
    })
}

/// Whether the agency at `path` was merged away: it, or an agency above
/// it, was merged into another (so it takes nothing new).
pub fn merged_away(conn: &mut DbConnection, path: &str) -> Result<bool, DbError> {
    let line: Vec<AgencyId> = path.split('/').filter_map(|id| id.parse().ok()).collect();
    let merged: i64 = agencies::table
        .filter(agencies::id.eq_any(line))
        .filter(agencies::merged_into_id.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(merged > 0)
}

/// Why two agencies cannot merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmergeable {
    /// The agency was merged already (into the one named).
    AlreadyMerged(AgencyId),
    /// The agency to merge into was merged away (it, or one above it).
    IntoMerged,
    /// The two are of different kinds (a commune merges into a commune).
    OtherKind,
    /// The agency to merge into is the agency itself or under it.
    IntoOwnSubtree,
}

/// Why a merger did not happen: refused, or the database failed. Either
/// rolls its transaction back.
#[derive(Debug)]
pub enum MergeError {
    /// The two agencies cannot merge.
    Refused(Unmergeable),
    /// The database failed.
    Db(DbError),
}

impl From<DbError> for MergeError {
    fn from(error: DbError) -> Self {
        MergeError::Db(error)
    }
}

impl From<diesel::result::Error> for MergeError {
    fn from(error: diesel::result::Error) -> Self {
        MergeError::Db(error.into())
    }
}

/// The lock every change to the tree's shape takes, so that a merger and a
/// new agency under the merged one, or two crossing mergers, do not
/// interleave (PostgreSQL; SQLite has one writer).
const TREE_LOCK: &str = "agency tree";

/// Merges agency `from` into `into` at `now`: `from`, with its subtree,
/// moves under `into` (so the subtree of `into` covers its dossiers, which
/// keep their codes and history), and is marked merged. Checked under the
/// tree's lock: neither may be merged already (nor `into` lie under a
/// merged agency), both are of one kind, and `into` lies outside the
/// subtree of `from`.
pub fn merge(
    conn: &mut DbConnection,
    from: AgencyId,
    into: AgencyId,
    now: DateTime<Utc>,
) -> Result<Agency, MergeError> {
    conn.write(|conn| {
        conn.lock_key(TREE_LOCK)?;
        let (from, into) = (find(conn, from)?, find(conn, into)?);
        let refused = |why| Err(MergeError::Refused(why));
        if let Some(merged) = from.merged_into_id {
            return refused(Unmergeable::AlreadyMerged(merged));
        }
        if merged_away(conn, &into.path)? {
            return refused(Unmergeable::IntoMerged);
        }
        if into.kind != from.kind {
            return refused(Unmergeable::OtherKind);
        }
        if into.path.starts_with(&from.path) {
            return refused(Unmergeable::IntoOwnSubtree);
        }
        let subtree: Vec<(AgencyId, String)> = agencies::table
            .filter(agencies::path.like(format!("{}%", from.path)))
            .select((agencies::id, agencies::path))
            .load(conn)?;
        let moved_to = format!("{}{}/", into.path, from.id);
        for (id, path) in subtree {
            let rest = path.strip_prefix(&from.path).unwrap_or_default();
            diesel::update(agencies::table.find(id))
                .set(agencies::path.eq(format!("{moved_to}{rest}")))
                .execute(conn)?;
        }
        diesel::update(agencies::table.find(from.id))
            .set((
                agencies::parent_id.eq(Some(into.id)),
                agencies::merged_into_id.eq(Some(into.id)),
                agencies::merged_at.eq(Some(to_db_time(now))),
            ))
            .execute(conn)?;
        Ok(find(conn, from.id)?)
    })
}

/// The agency with this id.
pub fn find(conn: &mut DbConnection, id: AgencyId) -> Result<Agency, DbError> {
    Ok(agencies::table.find(id).first(conn)?)
}

/// The agency with this electronic identifier, if any.
pub fn find_by_identifier(
    conn: &mut DbConnection,
    identifier: &str,
) -> Result<Option<Agency>, DbError> {
    Ok(agencies::table
        .filter(agencies::identifier.eq(identifier))
        .first(conn)
        .optional()?)
}

/// The agencies of `kind` in the subtree at `root_path` (at most 1,000,
/// in path order: more than a province has of one kind).
pub fn of_kind_under(
    conn: &mut DbConnection,
    root_path: &str,
    kind: &str,
) -> Result<Vec<Agency>, DbError> {
    Ok(agencies::table
        .filter(agencies::path.like(format!("{root_path}%")))
        .filter(agencies::kind.eq(kind))
        .order(agencies::path)
        .limit(1000)
        .load(conn)?)
}

/// A page of the subtree at `root_path`, in path order (parents before
/// children), after the agency whose path is `after` (keyset pagination).
pub fn subtree_page(
    conn: &mut DbConnection,
    root_path: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Agency>, DbError> {
    let mut query = agencies::table
        .filter(agencies::path.like(format!("{root_path}%")))
        .order(agencies::path)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(agencies::path.gt(after.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// Changes to an agency; `None` leaves a field as it is. The parent cannot
/// change (moving a subtree is not supported).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = agencies)]
pub struct AgencyChanges {
    /// New identifier (must stay unique).
    pub identifier: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<String>,
}

/// Applies changes to an agency.
pub fn update(
    conn: &mut DbConnection,
    id: AgencyId,
    changes: &AgencyChanges,
) -> Result<Agency, DbError> {
    conn.write(|conn| {
        if changes.identifier.is_some() || changes.name.is_some() || changes.kind.is_some() {
            let updated = diesel::update(agencies::table.find(id))
                .set(changes)
                .execute(conn)?;
            if updated == 0 {
                return Err(DbError::NotFound);
            }
        }
        find(conn, id)
    })
}

/// How many agencies exist.
pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(agencies::table.count().get_result(conn)?)
}

/// The agency at `root_path` and everything below it, ordered by path
/// (parents before children).
pub fn subtree(conn: &mut DbConnection, root_path: &str) -> Result<Vec<Agency>, DbError> {
    Ok(agencies::table
        .filter(agencies::path.like(format!("{root_path}%")))
        .order(agencies::path)
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::testing::TestDb;

    fn new_agency(identifier: &str, parent_id: Option<AgencyId>) -> NewAgency {
        NewAgency {
            identifier: identifier.to_owned(),
            name: format!("Đơn vị {identifier}"),
            kind: "commune".to_owned(),
            parent_id,
        }
    }

    fn instant() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 8, 30, 15)
            .single()
            .map(|t| t + chrono::Duration::nanoseconds(123_456_789))
            .unwrap_or_default()
    }

    fn stored_agencies_read_back_exactly(db: TestDb) {
        let db = db.open();
        let created = db
            .run(|conn| create(conn, &new_agency("000.00.00.H49", None), instant()))
            .unwrap_or_else(|e| panic!("{e}"));
        let found = db
            .run(|conn| find(conn, created.id))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found, created);
        assert_eq!(found.name, "Đơn vị 000.00.00.H49");
        assert_eq!(
            found.created_at.and_utc().timestamp_subsec_micros(),
            123_456
        );
        assert!(matches!(
            db.run(|conn| find(conn, AgencyId::new())),
            Err(DbError::NotFound)
        ));
    }

    fn subtree_holds_the_agency_and_its_descendants(db: TestDb) {
        let db = db.open();
        let tree = db
            .run(|conn| {
                let province = create(conn, &new_agency("P", None), instant())?;
                let commune = create(conn, &new_agency("C1", Some(province.id)), instant())?;
                let unit = create(conn, &new_agency("C1.U", Some(commune.id)), instant())?;
                let sibling = create(conn, &new_agency("C2", Some(province.id)), instant())?;
                let whole = subtree(conn, &province.path)?;
                let commune_only = subtree(conn, &commune.path)?;
                Ok((province, commune, unit, sibling, whole, commune_only))
            })
            .unwrap_or_else(|e: DbError| panic!("{e}"));
        let (province, commune, unit, sibling, whole, commune_only) = tree;
        let ids = |agencies: &[Agency]| agencies.iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[0].id, province.id, "the root comes first");
        assert!(ids(&whole).contains(&sibling.id));
        assert_eq!(ids(&commune_only), vec![commune.id, unit.id]);
    }

    fn duplicate_identifiers_are_a_conflict(db: TestDb) {
        let db = db.open();
        let first = db.run(|conn| create(conn, &new_agency("X", None), instant()));
        assert!(first.is_ok());
        let second = db.run(|conn| create(conn, &new_agency("X", None), instant()));
        assert!(matches!(second, Err(DbError::Conflict(_))), "{second:?}");
    }

    fn the_database_enforces_foreign_keys(db: TestDb) {
        let db = db.open();
        let unknown = new_agency("orphan", Some(AgencyId::new()));
        let checked = db.run(|conn| create(conn, &unknown, instant()));
        assert!(
            matches!(checked, Err(DbError::MissingReference(_))),
            "{checked:?}"
        );
        // Bypassing the repository's own check: the database still refuses.
        let raw = db.write(|conn| {
            diesel::insert_into(agencies::table)
                .values((
                    agencies::id.eq(AgencyId::new()),
                    agencies::identifier.eq("orphan"),
                    agencies::name.eq("orphan"),
                    agencies::kind.eq("commune"),
                    agencies::parent_id.eq(Some(AgencyId::new())),
                    agencies::path.eq("/x/"),
                    agencies::created_at.eq(to_db_time(instant())),
                ))
                .execute(conn)?;
            Ok(())
        });
        assert!(matches!(raw, Err(DbError::MissingReference(_))), "{raw:?}");
    }

    fn a_failed_write_leaves_nothing_behind(db: TestDb) {
        let db = db.open();
        let outcome: Result<(), DbError> = db.write(|conn| {
            create(conn, &new_agency("kept?", None), instant())?;
            Err(DbError::NotFound)
        });
        assert!(outcome.is_err());
        let count: i64 = db
            .run(|conn| Ok(agencies::table.count().get_result(conn)?))
            .unwrap_or_else(|e: DbError| panic!("{e}"));
        assert_eq!(count, 0);
    }

    fn concurrent_writers_all_succeed(db: TestDb) {
        let db = db.open();
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let db = db.clone();
                std::thread::spawn(move || {
                    (0..10)
                        .map(|n| {
                            let new = new_agency(&format!("W{writer}.{n}"), None);
                            db.write(|conn| {
                                // Read, then write, in one transaction: the pattern
                                // that deadlocks SQLite's deferred transactions.
                                let before: i64 = agencies::table.count().get_result(conn)?;
                                create(conn, &new, instant()).map(|_| before)
                            })
                        })
                        .filter(Result::is_err)
                        .count()
                })
            })
            .collect();
        let failures: usize = writers
            .into_iter()
            .map(|w| w.join().unwrap_or(usize::MAX))
            .sum();
        assert_eq!(failures, 0);
        let count: i64 = db
            .run(|conn| Ok(agencies::table.count().get_result(conn)?))
            .unwrap_or_else(|e: DbError| panic!("{e}"));
        assert_eq!(count, 80);
    }

    crate::db_tests!(
        stored_agencies_read_back_exactly,
        subtree_holds_the_agency_and_its_descendants,
        duplicate_identifiers_are_a_conflict,
        the_database_enforces_foreign_keys,
        a_failed_write_leaves_nothing_behind,
        concurrent_writers_all_succeed,
    );
}
