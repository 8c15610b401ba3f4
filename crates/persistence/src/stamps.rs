//! Stamps of what servers cache: one counter per cached kind of data,
//! bumped in the transaction that changes it (migration
//! `2026-11-27-000016_cache_stamps`). A server compares the counters with
//! those it cached under and forgets what changed.

use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::cache_stamps;

/// The counters, as one query reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamps {
    /// Bumped by every change to a stored calendar year.
    pub calendars: i64,
    /// Bumped by every new procedure version (which also ends the previous one).
    pub procedures: i64,
}

/// A cached kind of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    /// Working calendars.
    Calendars,
    /// Procedure versions.
    Procedures,
}

impl Cached {
    fn name(self) -> &'static str {
        match self {
            Cached::Calendars => "calendars",
            Cached::Procedures => "procedures",
        }
    }
}

/// Reads the counters.
pub fn read(conn: &mut DbConnection) -> Result<Stamps, DbError> {
    let rows: Vec<(String, i64)> = cache_stamps::table.load(conn)?;
    let mut stamps = Stamps::default();
    for (name, stamp) in rows {
        match name.as_str() {
            "calendars" => stamps.calendars = stamp,
            "procedures" => stamps.procedures = stamp,
            _ => {}
        }
    }
    Ok(stamps)
}

/// Bumps a counter; call it in the transaction that changes the data.
pub fn bump(conn: &mut DbConnection, what: Cached) -> Result<(), DbError> {
    diesel::update(cache_stamps::table.find(what.name()))
        .set(cache_stamps::stamp.eq(cache_stamps::stamp + 1))
        .execute(conn)?;
    Ok(())
}
