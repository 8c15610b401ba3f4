//! Working calendars by year: the national calendar and agencies' overrides.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::calendar_years;
use crate::sql_types::to_db_time;

/// The scope of the national calendar.
pub const NATIONAL: &str = "national";

/// One stored year of one calendar layer.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = calendar_years)]
pub struct CalendarYear {
    /// `national` or an agency id.
    pub scope: String,
    /// The year.
    pub year: i32,
    /// Weekly hours JSON, if the layer sets them.
    pub weekly: Option<String>,
    /// Dated rules JSON.
    pub days: String,
    /// official, secondary or projected (the national calendar).
    pub confidence: Option<String>,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// Replaces one year of one layer.
pub fn put(
    conn: &mut DbConnection,
    scope: &str,
    year: i32,
    weekly: Option<&str>,
    days: &str,
    confidence: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.write(|conn| {
        diesel::delete(calendar_years::table.find((scope, year))).execute(conn)?;
        diesel::insert_into(calendar_years::table)
            .values((
                calendar_years::scope.eq(scope),
                calendar_years::year.eq(year),
                calendar_years::weekly.eq(weekly),
                calendar_years::days.eq(days),
                calendar_years::confidence.eq(confidence),
                calendar_years::updated_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        crate::stamps::bump(conn, crate::stamps::Cached::Calendars)
    })
}

/// Every stored year of these scopes, by scope then year.
pub fn of_scopes(conn: &mut DbConnection, scopes: &[String]) -> Result<Vec<CalendarYear>, DbError> {
    Ok(calendar_years::table
        .filter(calendar_years::scope.eq_any(scopes))
        .order((calendar_years::scope, calendar_years::year))
        .load(conn)?)
}

/// How many years of a scope are stored.
pub fn count(conn: &mut DbConnection, scope: &str) -> Result<i64, DbError> {
    Ok(calendar_years::table
        .filter(calendar_years::scope.eq(scope))
        .count()
        .get_result(conn)?)
}
