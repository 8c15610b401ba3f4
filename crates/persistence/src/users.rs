//! Accounts: staff and citizens.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::{agencies, users};
use crate::sql_types::{AgencyId, UserId, to_db_time};

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// `staff` or `citizen`.
    pub kind: String,
    /// Login name (staff) or personal ID (citizens); unique.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// The staff member's agency (`None` for citizens).
    pub agency_id: Option<AgencyId>,
    /// Comma-separated roles.
    pub roles: String,
    /// Phone, national form.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Date of birth (citizens, when given).
    pub date_of_birth: Option<NaiveDate>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Whether the account may log in.
    pub active: bool,
    /// Created, UTC.
    pub created_at: NaiveDateTime,
    /// Last changed, UTC.
    pub updated_at: NaiveDateTime,
}

/// An account to insert: every column, the same as read back.
pub type NewUser = User;

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    /// New full name.
    pub full_name: Option<String>,
    /// New roles.
    pub roles: Option<String>,
    /// New agency.
    pub agency_id: Option<AgencyId>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
}

/// Stores a new account. A taken username is [`DbError::Conflict`].
pub fn create(conn: &mut DbConnection, new: &NewUser) -> Result<User, DbError> {
    conn.write(|conn| {
        diesel::insert_into(users::table)
            .values(new)
            .execute(conn)?;
        find(conn, new.id)
    })
}

/// The account with this id.
pub fn find(conn: &mut DbConnection, id: UserId) -> Result<User, DbError> {
    Ok(users::table.find(id).first(conn)?)
}

/// The account with this username, if any.
pub fn find_by_username(conn: &mut DbConnection, username: &str) -> Result<Option<User>, DbError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .first(conn)
        .optional()?)
}

/// A staff account with its agency's materialized path (for reach checks).
pub fn find_with_agency_path(
    conn: &mut DbConnection,
    id: UserId,
) -> Result<(User, Option<String>), DbError> {
    let user = find(conn, id)?;
    let path = match user.agency_id {
        Some(agency) => Some(
            agencies::table
                .find(agency)
                .select(agencies::path)
                .first::<String>(conn)?,
        ),
        None => None,
    };
    Ok((user, path))
}

/// Staff accounts whose agency lies in the subtree at `root_path`, ordered by
/// id, after `after` (keyset pagination), at most `limit`.
pub fn list_staff_in_subtree(
    conn: &mut DbConnection,
    root_path: &str,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<User>, DbError> {
    let mut query = users::table
        .inner_join(agencies::table)
        .filter(agencies::path.like(format!("{root_path}%")))
        .select(users::all_columns)
        .order(users::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(users::id.gt(after));
    }
    Ok(query.load(conn)?)
}

/// Applies changes and stamps `updated_at`.
pub fn update(
    conn: &mut DbConnection,
    id: UserId,
    changes: &UserChanges,
    now: DateTime<Utc>,
) -> Result<User, DbError> {
    conn.write(|conn| {
        let updated = diesel::update(users::table.find(id))
            .set((changes, users::updated_at.eq(to_db_time(now))))
            .execute(conn)?;
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        find(conn, id)
    })
}

/// The full names of the accounts among `ids` (for printing who did what;
/// unknown ids are left out).
pub fn full_names(
    conn: &mut DbConnection,
    ids: &[UserId],
) -> Result<std::collections::HashMap<UserId, String>, DbError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(UserId, String)> = users::table
        .filter(users::id.eq_any(ids))
        .select((users::id, users::full_name))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The prefix of the names of accounts the system keeps for itself (the
/// national portal's, migration 000025), which no one can sign in to and
/// no one can be given (usernames have no `:`).
pub const SYSTEM_PREFIX: &str = "system:";

/// How many accounts exist that people use (the system's own not counted).
pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table
        .filter(users::username.not_like(format!("{SYSTEM_PREFIX}%")))
        .count()
        .get_result(conn)?)
}
