//! Refresh tokens: only their SHA-256 hashes are stored. Each login starts a
//! family; each rotation marks the presented token used and adds the next.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::refresh_tokens;
use crate::sql_types::{RefreshTokenId, TokenFamilyId, UserId, to_db_time};

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    /// Row id.
    pub id: RefreshTokenId,
    /// Whose.
    pub user_id: UserId,
    /// The login it descends from.
    pub family_id: TokenFamilyId,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Issued, UTC.
    pub issued_at: NaiveDateTime,
    /// Expires, UTC.
    pub expires_at: NaiveDateTime,
    /// When it was rotated (presented and replaced).
    pub used_at: Option<NaiveDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<NaiveDateTime>,
}

/// Stores a token's hash.
pub fn insert(
    conn: &mut DbConnection,
    user_id: UserId,
    family_id: TokenFamilyId,
    token_hash: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<RefreshTokenId, DbError> {
    let id = RefreshTokenId::new();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(id),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::issued_at.eq(to_db_time(issued_at)),
            refresh_tokens::expires_at.eq(to_db_time(expires_at)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// The token with this hash, if any.
pub fn find_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<RefreshToken>, DbError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .first(conn)
        .optional()?)
}

/// Marks a live token used; `false` if it was already used or revoked (by a
/// concurrent rotation, say): the caller must then treat it as reuse.
pub fn mark_used(
    conn: &mut DbConnection,
    id: RefreshTokenId,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::used_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(to_db_time(now)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Revokes every token of a family; returns how many were live.
pub fn revoke_family(
    conn: &mut DbConnection,
    family_id: TokenFamilyId,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(to_db_time(now)))
    .execute(conn)?)
}

/// Revokes every token of a user (deactivation, password change).
pub fn revoke_user(
    conn: &mut DbConnection,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(to_db_time(now)))
    .execute(conn)?)
}
