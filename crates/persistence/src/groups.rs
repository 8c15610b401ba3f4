//! Interconnected procedure groups (the catalogue's) and their filings: one
//! filing opens a dossier per procedure of the group, each carrying the
//! filing's id (docs/lifecycle.md, "Interconnected groups").

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use motcua_domain::procedure::ProcedureGroup;

use crate::db::DbConnection;
use crate::dossiers::DossierRow;
use crate::error::DbError;
use crate::schema::{dossier_groups, dossiers, procedure_groups, procedures};
use crate::sql_types::{AgencyId, DossierGroupId, UserId, to_db_time};

type GroupColumns = (String, String, String, String);

fn group_of((code, name, basis, members): GroupColumns) -> Result<ProcedureGroup, DbError> {
    let procedures = serde_json::from_str(&members).map_err(unreadable)?;
    Ok(ProcedureGroup {
        code,
        name,
        basis,
        procedures,
    })
}

/// A group's procedures that are not a JSON array of codes: a row written
/// by hand, a failure of the database's (never the client's).
fn unreadable(error: serde_json::Error) -> DbError {
    DbError::Query(diesel::result::Error::DeserializationError(Box::new(error)))
}

/// Stores `group`, replacing the one with its code. Whether it is new.
pub fn put(
    conn: &mut DbConnection,
    group: &ProcedureGroup,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let members = serde_json::to_string(&group.procedures).map_err(unreadable)?;
    conn.write(|conn| {
        let existed = find(conn, &group.code)?.is_some();
        let row = (
            procedure_groups::name.eq(&group.name),
            procedure_groups::basis.eq(&group.basis),
            procedure_groups::procedures.eq(&members),
            procedure_groups::updated_at.eq(to_db_time(now)),
        );
        if existed {
            diesel::update(procedure_groups::table.find(&group.code))
                .set(row)
                .execute(conn)?;
        } else {
            diesel::insert_into(procedure_groups::table)
                .values((procedure_groups::code.eq(&group.code), row))
                .execute(conn)?;
        }
        Ok(!existed)
    })
}

/// The group with this code, if any.
pub fn find(conn: &mut DbConnection, code: &str) -> Result<Option<ProcedureGroup>, DbError> {
    procedure_groups::table
        .find(code)
        .select((
            procedure_groups::code,
            procedure_groups::name,
            procedure_groups::basis,
            procedure_groups::procedures,
        ))
        .first::<GroupColumns>(conn)
        .optional()?
        .map(group_of)
        .transpose()
}

/// Every group, by code.
pub fn list(conn: &mut DbConnection) -> Result<Vec<ProcedureGroup>, DbError> {
    procedure_groups::table
        .order(procedure_groups::code)
        .select((
            procedure_groups::code,
            procedure_groups::name,
            procedure_groups::basis,
            procedure_groups::procedures,
        ))
        .load::<GroupColumns>(conn)?
        .into_iter()
        .map(group_of)
        .collect()
}

/// One filing of a group.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = dossier_groups)]
pub struct Filing {
    /// Its id, which its dossiers carry.
    pub id: DossierGroupId,
    /// The group's code.
    pub group_code: String,
    /// The group's name when filed.
    pub group_name: String,
    /// Where it was filed.
    pub receiving_agency_id: AgencyId,
    /// The citizen who filed it online.
    pub owner_id: Option<UserId>,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Stores a new filing (inside the write transaction that opens its dossiers).
pub fn insert_filing(conn: &mut DbConnection, filing: &Filing) -> Result<(), DbError> {
    diesel::insert_into(dossier_groups::table)
        .values(filing.clone())
        .execute(conn)?;
    Ok(())
}

/// The filing with this id.
pub fn filing(conn: &mut DbConnection, id: DossierGroupId) -> Result<Filing, DbError> {
    Ok(dossier_groups::table.find(id).first(conn)?)
}

/// A filing's dossiers with their procedure codes, in the order they were
/// opened (their codes number them in that order).
pub fn members(
    conn: &mut DbConnection,
    id: DossierGroupId,
) -> Result<Vec<(DossierRow, String)>, DbError> {
    Ok(dossiers::table
        .inner_join(procedures::table)
        .filter(dossiers::group_id.eq(id))
        .order(dossiers::code)
        .select((dossiers::all_columns, procedures::code))
        .load(conn)?)
}
