//! What the history audit reads: dossiers' recorded chain heads in batches
//! (bounded memory over a whole province), their events, and a day's event
//! hashes for the daily anchor.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use motcua_domain::history::AnchorLeaf;

use crate::db::DbConnection;
use crate::dossiers::EventRow;
use crate::error::DbError;
use crate::schema::{dossier_events, dossiers};
use crate::sql_types::{AgencyId, DossierId, to_db_time};

/// A dossier's recorded chain head, with what the audit reports it by.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ChainHead {
    /// The dossier.
    pub id: DossierId,
    /// Its code.
    pub code: String,
    /// When it was created (the audit's period and order).
    pub created_at: NaiveDateTime,
    /// The last event's hash, as the dossier records it.
    pub history_head: String,
    /// How many events, as the dossier records it.
    pub history_events: i32,
}

/// Which dossiers an audit covers: those received by one of `agencies`
/// (a subtree) and created in `[start, end)` (either bound open).
#[derive(Debug, Clone)]
pub struct Scope {
    /// The receiving agencies.
    pub agencies: Vec<AgencyId>,
    /// Created at or after.
    pub start: Option<DateTime<Utc>>,
    /// Created before.
    pub end: Option<DateTime<Utc>>,
}

type Filtered<'a> = dossiers::BoxedQuery<'a, crate::db::MultiBackend>;

fn in_scope(scope: &Scope) -> Filtered<'_> {
    let mut query = dossiers::table
        .filter(dossiers::receiving_agency_id.eq_any(&scope.agencies))
        .into_boxed();
    if let Some(start) = scope.start {
        query = query.filter(dossiers::created_at.ge(to_db_time(start)));
    }
    if let Some(end) = scope.end {
        query = query.filter(dossiers::created_at.lt(to_db_time(end)));
    }
    query
}

/// How many dossiers the scope covers.
pub fn count(conn: &mut DbConnection, scope: &Scope) -> Result<i64, DbError> {
    Ok(in_scope(scope).count().get_result(conn)?)
}

/// The next `limit` heads of the scope after `after` (a previous batch's
/// last `(created_at, id)`), in that order.
pub fn heads_after(
    conn: &mut DbConnection,
    scope: &Scope,
    after: Option<(NaiveDateTime, DossierId)>,
    limit: i64,
) -> Result<Vec<ChainHead>, DbError> {
    let mut query = in_scope(scope);
    if let Some((created, id)) = after {
        query = query.filter(
            dossiers::created_at
                .ge(created)
                .and(dossiers::created_at.gt(created).or(dossiers::id.gt(id))),
        );
    }
    Ok(query
        .order((dossiers::created_at, dossiers::id))
        .limit(limit)
        .select((
            dossiers::id,
            dossiers::code,
            dossiers::created_at,
            dossiers::history_head,
            dossiers::history_events,
        ))
        .load(conn)?)
}

/// The head one dossier records.
pub fn head(conn: &mut DbConnection, dossier: DossierId) -> Result<ChainHead, DbError> {
    Ok(dossiers::table
        .find(dossier)
        .select((
            dossiers::id,
            dossiers::code,
            dossiers::created_at,
            dossiers::history_head,
            dossiers::history_events,
        ))
        .first(conn)?)
}

/// The events of these dossiers, by dossier then `seq`.
pub fn events_of(
    conn: &mut DbConnection,
    dossiers: &[DossierId],
) -> Result<Vec<EventRow>, DbError> {
    if dossiers.is_empty() {
        return Ok(Vec::new());
    }
    Ok(dossier_events::table
        .filter(dossier_events::dossier_id.eq_any(dossiers))
        .order((dossier_events::dossier_id, dossier_events::seq))
        .load(conn)?)
}

/// Every event dated in `[start, end)`, as a daily anchor covers it (in no
/// particular order: the anchor orders them).
pub fn anchor_leaves(
    conn: &mut DbConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<AnchorLeaf>, DbError> {
    let rows: Vec<(NaiveDateTime, DossierId, i32, String)> = dossier_events::table
        .filter(dossier_events::at.ge(to_db_time(start)))
        .filter(dossier_events::at.lt(to_db_time(end)))
        .select((
            dossier_events::at,
            dossier_events::dossier_id,
            dossier_events::seq,
            dossier_events::hash,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(at, dossier, seq, hash)| AnchorLeaf {
            at,
            dossier_id: dossier.to_string(),
            seq,
            hash,
        })
        .collect())
}
