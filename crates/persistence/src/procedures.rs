//! Procedure versions.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::procedures;
use crate::sql_types::{ProcedureId, to_db_time};

/// A stored procedure version.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = procedures)]
pub struct ProcedureRow {
    /// Row id (of this version).
    pub id: ProcedureId,
    /// National code.
    pub code: String,
    /// Version number, from 1.
    pub version: i32,
    /// Name.
    pub name: String,
    /// Field code.
    pub field_code: String,
    /// Field name.
    pub field_name: String,
    /// Level of the implementing agency.
    pub agency_level: String,
    /// `none`, `partial` or `full`.
    pub online_kind: String,
    /// First day in force.
    pub effective_from: NaiveDate,
    /// Last day in force (none: open-ended).
    pub effective_to: Option<NaiveDate>,
    /// The legal details, JSON (`ProcedureDefinition`).
    pub definition: String,
    /// Stored at.
    pub created_at: NaiveDateTime,
}

/// A new version's content.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Field code.
    pub field_code: String,
    /// Field name.
    pub field_name: String,
    /// Agency level.
    pub agency_level: String,
    /// Online kind.
    pub online_kind: String,
    /// In force from.
    pub effective_from: NaiveDate,
    /// Definition JSON.
    pub definition: String,
}

/// Stores a new version of `code`: version 1 if it is new, else the next
/// number. The previous open-ended version ends the day before this one
/// starts. Refuses a start date not after the previous version's.
pub fn add_version(
    conn: &mut DbConnection,
    new: &NewVersion,
    now: DateTime<Utc>,
) -> Result<ProcedureRow, DbError> {
    conn.write(|conn| {
        let latest: Option<ProcedureRow> = procedures::table
            .filter(procedures::code.eq(&new.code))
            .order(procedures::version.desc())
            .first(conn)
            .optional()?;
        let version = match &latest {
            Some(previous) => {
                if new.effective_from <= previous.effective_from {
                    return Err(DbError::Conflict(format!(
                        "a new version must start after {}",
                        previous.effective_from
                    )));
                }
                let day_before = new.effective_from.pred_opt().unwrap_or(new.effective_from);
                diesel::update(procedures::table.find(previous.id))
                    .set(procedures::effective_to.eq(Some(day_before)))
                    .execute(conn)?;
                previous.version + 1
            }
            None => 1,
        };
        let id = ProcedureId::new();
        diesel::insert_into(procedures::table)
            .values((
                procedures::id.eq(id),
                procedures::code.eq(&new.code),
                procedures::version.eq(version),
                procedures::name.eq(&new.name),
                procedures::field_code.eq(&new.field_code),
                procedures::field_name.eq(&new.field_name),
                procedures::agency_level.eq(&new.agency_level),
                procedures::online_kind.eq(&new.online_kind),
                procedures::effective_from.eq(new.effective_from),
                procedures::effective_to.eq(None::<NaiveDate>),
                procedures::definition.eq(&new.definition),
                procedures::created_at.eq(to_db_time(now)),
            ))
            .execute(conn)?;
        crate::stamps::bump(conn, crate::stamps::Cached::Procedures)?;
        Ok(procedures::table.find(id).first(conn)?)
    })
}

/// The version of `code` in force on `day`.
pub fn in_force(
    conn: &mut DbConnection,
    code: &str,
    day: NaiveDate,
) -> Result<Option<ProcedureRow>, DbError> {
    Ok(procedures::table
        .filter(procedures::code.eq(code))
        .filter(procedures::effective_from.le(day))
        .filter(
            procedures::effective_to
                .is_null()
                .or(procedures::effective_to.ge(day)),
        )
        .order(procedures::version.desc())
        .first(conn)
        .optional()?)
}

/// Every version of every procedure (a small table: reports look names and
/// time limits up here instead of one query per dossier).
pub fn all(conn: &mut DbConnection) -> Result<Vec<ProcedureRow>, DbError> {
    Ok(procedures::table.load(conn)?)
}

/// A version by row id.
pub fn find(conn: &mut DbConnection, id: ProcedureId) -> Result<ProcedureRow, DbError> {
    Ok(procedures::table.find(id).first(conn)?)
}

/// Filters of the public catalogue.
#[derive(Debug, Clone, Default)]
pub struct CatalogueFilter {
    /// Words in the name or the code.
    pub q: Option<String>,
    /// Field code.
    pub field: Option<String>,
    /// Online kind.
    pub online_kind: Option<String>,
    /// Agency level.
    pub agency_level: Option<String>,
}

/// The versions in force on `day` matching the filter, by code.
pub fn catalogue(
    conn: &mut DbConnection,
    day: NaiveDate,
    filter: &CatalogueFilter,
) -> Result<Vec<ProcedureRow>, DbError> {
    let mut query = procedures::table
        .filter(procedures::effective_from.le(day))
        .filter(
            procedures::effective_to
                .is_null()
                .or(procedures::effective_to.ge(day)),
        )
        .order(procedures::code)
        .into_boxed();
    if let Some(field) = &filter.field {
        query = query.filter(procedures::field_code.eq(field.clone()));
    }
    if let Some(kind) = &filter.online_kind {
        query = query.filter(procedures::online_kind.eq(kind.clone()));
    }
    if let Some(level) = &filter.agency_level {
        query = query.filter(procedures::agency_level.eq(level.clone()));
    }
    if let Some(q) = &filter.q {
        let pattern = format!("%{}%", q.replace(['%', '_'], ""));
        query = query.filter(
            procedures::name
                .like(pattern.clone())
                .or(procedures::code.like(pattern)),
        );
    }
    Ok(query.load(conn)?)
}

/// How many procedure versions exist.
pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(procedures::table.count().get_result(conn)?)
}
