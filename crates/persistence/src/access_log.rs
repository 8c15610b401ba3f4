//! The access log: staff reads of dossiers' personal data — who read which
//! dossier (or which of its forms), when, in which role, from which request.
//!
//! Append-only: this module inserts and reads, nothing else, and the
//! database refuses updates and deletes (triggers of migration
//! `2026-11-27-000011_access_log`). It is kept off the dossier row and its
//! hash-chained history, so recording a read is one small insert that never
//! conflicts with another read or with a change of the dossier.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::{access_log, agencies, dossiers, users};
use crate::sql_types::{AccessId, AgencyId, DossierId, UserId, to_db_time};

/// A read to record.
#[derive(Debug, Clone)]
pub struct NewAccess<'a> {
    /// When.
    pub at: DateTime<Utc>,
    /// The staff account that read.
    pub actor_id: UserId,
    /// The role it read in (`clerk`, `officer`, `leader`, `auditor`, `admin`).
    pub actor_role: &'a str,
    /// The dossier read.
    pub dossier_id: DossierId,
    /// The dossier's receiving agency (whose auditors see the entry).
    pub agency_id: AgencyId,
    /// What was read: `dossier`, or a form's key (`receipt`, `control_slip`, …).
    pub resource: &'a str,
    /// The request's id, as its response carried it.
    pub request_id: &'a str,
}

/// Records reads, many in one statement (the server writes them in batches).
pub fn append_all(conn: &mut DbConnection, entries: &[NewAccess<'_>]) -> Result<(), DbError> {
    let rows: Vec<_> = entries
        .iter()
        .map(|entry| {
            (
                access_log::id.eq(AccessId::new()),
                access_log::at.eq(to_db_time(entry.at)),
                access_log::actor_id.eq(entry.actor_id),
                access_log::actor_role.eq(entry.actor_role),
                access_log::dossier_id.eq(entry.dossier_id),
                access_log::agency_id.eq(entry.agency_id),
                access_log::resource.eq(entry.resource),
                access_log::request_id.eq(Some(entry.request_id)),
            )
        })
        .collect();
    // Multi-row inserts need the backend's own connection.
    match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(access_log::table)
            .values(&rows)
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_into(access_log::table)
            .values(&rows)
            .execute(sqlite)?,
    };
    Ok(())
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct AccessRow {
    /// Id (for reads copied from a history by the migration: the event's id).
    pub id: AccessId,
    /// When.
    pub at: NaiveDateTime,
    /// Who.
    pub actor_id: UserId,
    /// In which role.
    pub actor_role: String,
    /// Which dossier.
    pub dossier_id: DossierId,
    /// Its receiving agency.
    pub agency_id: AgencyId,
    /// What was read.
    pub resource: String,
    /// The request's id; none for reads copied from a history.
    pub request_id: Option<String>,
}

/// An entry with what an auditor reads it by.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct AccessEntry {
    /// The entry.
    pub row: AccessRow,
    /// The reader's login name.
    pub actor_username: String,
    /// The reader's full name.
    pub actor_name: String,
    /// The dossier's code.
    pub dossier_code: String,
    /// The receiving agency's electronic identifier.
    pub agency_identifier: String,
}

/// Which entries to list. Every bound is optional; `agency_path` is the
/// caller's reach (or a subtree within it) and should always be given.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    /// Entries of dossiers received in this subtree (materialized path prefix).
    pub agency_path: Option<String>,
    /// Of this dossier.
    pub dossier: Option<DossierId>,
    /// By this account.
    pub actor: Option<UserId>,
    /// Made by this request.
    pub request_id: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
}

/// Where a page ends: entries are listed by time, then id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The entry's time.
    pub at: NaiveDateTime,
    /// The entry's id.
    pub id: AccessId,
}

impl Position {
    /// The position of an entry.
    pub fn of(row: &AccessRow) -> Self {
        Position {
            at: row.at,
            id: row.id,
        }
    }
}

/// `<at, RFC 3339 UTC with microseconds>/<id>`.
impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .at
            .and_utc()
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        write!(f, "{at}/{}", self.id)
    }
}

impl FromStr for Position {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = "is not a position in the access log";
        let (at, id) = text.split_once('/').ok_or(bad)?;
        let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad)?;
        Ok(Position {
            at: to_db_time(at.with_timezone(&Utc)),
            id: id.parse().map_err(|_| bad)?,
        })
    }
}

/// Up to `limit` entries matching `filter`, oldest first, after `after`.
pub fn list(
    conn: &mut DbConnection,
    filter: &AccessFilter,
    after: Option<Position>,
    limit: i64,
) -> Result<Vec<AccessEntry>, DbError> {
    let mut query = access_log::table
        .inner_join(users::table.on(users::id.eq(access_log::actor_id)))
        .inner_join(dossiers::table.on(dossiers::id.eq(access_log::dossier_id)))
        .inner_join(agencies::table.on(agencies::id.eq(access_log::agency_id)))
        .select((
            access_log::all_columns,
            users::username,
            users::full_name,
            dossiers::code,
            agencies::identifier,
        ))
        .order((access_log::at, access_log::id))
        .limit(limit)
        .into_boxed();
    if let Some(path) = &filter.agency_path {
        query = query.filter(agencies::path.like(format!("{path}%")));
    }
    if let Some(dossier) = filter.dossier {
        query = query.filter(access_log::dossier_id.eq(dossier));
    }
    if let Some(actor) = filter.actor {
        query = query.filter(access_log::actor_id.eq(actor));
    }
    if let Some(request_id) = &filter.request_id {
        query = query.filter(access_log::request_id.eq(request_id.clone()));
    }
    if let Some(from) = filter.from {
        query = query.filter(access_log::at.ge(to_db_time(from)));
    }
    if let Some(to) = filter.to {
        query = query.filter(access_log::at.lt(to_db_time(to)));
    }
    if let Some(after) = after {
        query = query.filter(
            access_log::at
                .gt(after.at)
                .or(access_log::at.eq(after.at).and(access_log::id.gt(after.id))),
        );
    }
    Ok(query.load(conn)?)
}

/// Every entry of one dossier, oldest first (tests and tools).
pub fn of_dossier(conn: &mut DbConnection, dossier: DossierId) -> Result<Vec<AccessRow>, DbError> {
    Ok(access_log::table
        .filter(access_log::dossier_id.eq(dossier))
        .order((access_log::at, access_log::id))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_print_and_parse_back() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
            .and_then(|d| d.and_hms_micro_opt(2, 30, 0, 123_456))
            .unwrap_or_default();
        let position = Position {
            at,
            id: AccessId::new(),
        };
        let text = position.to_string();
        assert!(text.starts_with("2026-11-02T02:30:00.123456Z/"), "{text}");
        assert_eq!(text.parse::<Position>(), Ok(position));
        assert!("2026-11-02T02:30:00Z".parse::<Position>().is_err());
        assert!("yesterday/x".parse::<Position>().is_err());
    }
}
