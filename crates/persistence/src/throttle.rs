//! Counts of attempts that limits apply to, shared by every server on the
//! database (migration `2026-11-27-000017_throttle_counters`). The rules
//! (how many, for how long) are the API's; this module keeps the counts.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::throttle_counters;
use crate::sql_types::to_db_time;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Failed logins of an (account, address) pair.
    Pair,
    /// Failed logins from an address.
    Address,
    /// Failed logins of an account from anywhere.
    Account,
    /// An (account, address) pair that logged in successfully.
    Known,
    /// Registrations from an address.
    Registration,
    /// Wrong second factors for a dossier code.
    Code,
    /// Public look-ups of dossiers from an address (a rate: the count is a
    /// leaky bucket's level, `last_at` when it last leaked).
    Lookup,
    /// Public deadline previews from an address (a rate, as [`Kind::Lookup`]).
    Preview,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Pair => "pair",
            Kind::Address => "address",
            Kind::Account => "account",
            Kind::Known => "known",
            Kind::Registration => "registration",
            Kind::Code => "code",
            Kind::Lookup => "lookup",
            Kind::Preview => "preview",
        }
    }
}

/// One count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Attempts counted.
    pub count: u32,
    /// When counting began (the window's start).
    pub first_at: DateTime<Utc>,
    /// The last attempt counted.
    pub last_at: DateTime<Utc>,
    /// Attempts wait until then.
    pub blocked_until: Option<DateTime<Utc>>,
}

impl Counter {
    /// Nothing counted yet, as of `now`.
    pub fn fresh(now: DateTime<Utc>) -> Self {
        Counter {
            count: 0,
            first_at: now,
            last_at: now,
            blocked_until: None,
        }
    }
}

type Row = (i32, NaiveDateTime, NaiveDateTime, Option<NaiveDateTime>);

fn from_db_time(naive: NaiveDateTime) -> DateTime<Utc> {
    naive.and_utc()
}

/// The counter of (`kind`, `key`), created empty if there is none, locked
/// until the transaction ends (on SQLite the write transaction holds the
/// database). Call it inside `Db::write`.
pub fn lock(
    conn: &mut DbConnection,
    kind: Kind,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Counter, DbError> {
    let at = to_db_time(now);
    let empty = (
        throttle_counters::kind.eq(kind.as_str()),
        throttle_counters::key.eq(key),
        throttle_counters::count.eq(0),
        throttle_counters::first_at.eq(at),
        throttle_counters::last_at.eq(at),
    );
    let query = throttle_counters::table.find((kind.as_str(), key)).select((
        throttle_counters::count,
        throttle_counters::first_at,
        throttle_counters::last_at,
        throttle_counters::blocked_until,
    ));
    let found: Row = match conn {
        DbConnection::Postgres(pg) => {
            diesel::insert_into(throttle_counters::table)
                .values(empty)
                .on_conflict_do_nothing()
                .execute(pg)?;
            query.for_update().first(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_into(throttle_counters::table)
                .values(empty)
                .on_conflict_do_nothing()
                .execute(sqlite)?;
            query.first(sqlite)?
        }
    };
    Ok(counter(found))
}

fn counter((count, first_at, last_at, blocked_until): Row) -> Counter {
    Counter {
        count: u32::try_from(count).unwrap_or(0),
        first_at: from_db_time(first_at),
        last_at: from_db_time(last_at),
        blocked_until: blocked_until.map(from_db_time),
    }
}

/// Stores a counter read with [`lock`].
pub fn store(
    conn: &mut DbConnection,
    kind: Kind,
    key: &str,
    counter: &Counter,
) -> Result<(), DbError> {
    diesel::update(throttle_counters::table.find((kind.as_str(), key)))
        .set((
            throttle_counters::count.eq(i32::try_from(counter.count).unwrap_or(i32::MAX)),
            throttle_counters::first_at.eq(to_db_time(counter.first_at)),
            throttle_counters::last_at.eq(to_db_time(counter.last_at)),
            throttle_counters::blocked_until.eq(counter.blocked_until.map(to_db_time)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets counters of `kinds` whose last attempt was before `before`.
pub fn forget(
    conn: &mut DbConnection,
    kinds: &[Kind],
    before: DateTime<Utc>,
) -> Result<usize, DbError> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    Ok(diesel::delete(
        throttle_counters::table
            .filter(throttle_counters::kind.eq_any(kinds))
            .filter(throttle_counters::last_at.lt(to_db_time(before))),
    )
    .execute(conn)?)
}

/// The counter of (`kind`, `key`) as it stands, without locking it (a fresh
/// one if there is none).
pub fn peek(
    conn: &mut DbConnection,
    kind: Kind,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Counter, DbError> {
    let row: Option<Row> = throttle_counters::table
        .find((kind.as_str(), key))
        .select((
            throttle_counters::count,
            throttle_counters::first_at,
            throttle_counters::last_at,
            throttle_counters::blocked_until,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map_or_else(|| Counter::fresh(now), counter))
}

/// Adds one to the count of (`kind`, `key`) — a count whose last attempt
/// was before `stale_before` starts over — and returns it. Each statement
/// locks the row only while it runs: for a count that many requests touch
/// at once (one account's failures from everywhere), outside a transaction.
pub fn bump(
    conn: &mut DbConnection,
    kind: Kind,
    key: &str,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<u32, DbError> {
    let at = to_db_time(now);
    diesel::update(throttle_counters::table.find((kind.as_str(), key)))
        .filter(throttle_counters::last_at.lt(to_db_time(stale_before)))
        .set(throttle_counters::count.eq(0))
        .execute(conn)?;
    let one = (
        throttle_counters::kind.eq(kind.as_str()),
        throttle_counters::key.eq(key),
        throttle_counters::count.eq(1),
        throttle_counters::first_at.eq(at),
        throttle_counters::last_at.eq(at),
    );
    let more = (
        throttle_counters::count.eq(throttle_counters::count + 1),
        throttle_counters::last_at.eq(at),
    );
    let count: i32 = match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(throttle_counters::table)
            .values(one)
            .on_conflict((throttle_counters::kind, throttle_counters::key))
            .do_update()
            .set(more)
            .returning(throttle_counters::count)
            .get_result(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_into(throttle_counters::table)
            .values(one)
            .on_conflict((throttle_counters::kind, throttle_counters::key))
            .do_update()
            .set(more)
            .returning(throttle_counters::count)
            .get_result(sqlite)?,
    };
    Ok(u32::try_from(count).unwrap_or(0))
}

/// Takes one from the count of (`kind`, `key`), if it has any, in one statement.
pub fn take_back(conn: &mut DbConnection, kind: Kind, key: &str) -> Result<(), DbError> {
    diesel::update(throttle_counters::table.find((kind.as_str(), key)))
        .filter(throttle_counters::count.gt(0))
        .set(throttle_counters::count.eq(throttle_counters::count - 1))
        .execute(conn)?;
    Ok(())
}
