//! Uploaded files' metadata, and their attachment to dossiers.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::{dossier_files, files};
use crate::sql_types::{DossierId, FileId, UserId, to_db_time};

/// A stored file's description.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = files)]
pub struct FileRow {
    /// Id.
    pub id: FileId,
    /// Who uploaded it.
    pub owner_id: UserId,
    /// SHA-256 of the content, hex (also its name in the store).
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// `application/pdf`, `image/jpeg` or `image/png`, from the content.
    pub media_type: String,
    /// Uploaded at.
    pub created_at: NaiveDateTime,
}

/// Describes a newly stored file.
pub fn insert(
    conn: &mut DbConnection,
    owner: UserId,
    sha256: &str,
    size: i64,
    media_type: &str,
    now: DateTime<Utc>,
) -> Result<FileRow, DbError> {
    let id = FileId::new();
    diesel::insert_into(files::table)
        .values((
            files::id.eq(id),
            files::owner_id.eq(owner),
            files::sha256.eq(sha256),
            files::size.eq(size),
            files::media_type.eq(media_type),
            files::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(files::table.find(id).first(conn)?)
}

/// A file by id.
pub fn find(conn: &mut DbConnection, id: FileId) -> Result<FileRow, DbError> {
    Ok(files::table.find(id).first(conn)?)
}

/// Attaches a file to a dossier (once).
pub fn attach(conn: &mut DbConnection, dossier: DossierId, file: FileId) -> Result<(), DbError> {
    let exists = dossier_files::table
        .find((dossier, file))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if !exists {
        diesel::insert_into(dossier_files::table)
            .values((
                dossier_files::dossier_id.eq(dossier),
                dossier_files::file_id.eq(file),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The dossiers a file is attached to.
pub fn dossiers_of(conn: &mut DbConnection, file: FileId) -> Result<Vec<DossierId>, DbError> {
    Ok(dossier_files::table
        .filter(dossier_files::file_id.eq(file))
        .select(dossier_files::dossier_id)
        .load(conn)?)
}

/// Serialises the calling write transaction with every other one that locks
/// the same owner's uploads, until it ends (see [`DbConnection::lock_key`]).
pub fn lock_owner(conn: &mut DbConnection, owner: UserId) -> Result<(), DbError> {
    conn.lock_key(&format!("uploads of {owner}"))
}

/// How many uploads of `owner` are attached to no dossier, and their bytes.
pub fn unattached_usage(conn: &mut DbConnection, owner: UserId) -> Result<(i64, i64), DbError> {
    let sizes: Vec<i64> = files::table
        .left_join(dossier_files::table)
        .filter(files::owner_id.eq(owner))
        .filter(dossier_files::file_id.is_null())
        .select(files::size)
        .load(conn)?;
    let count = i64::try_from(sizes.len()).unwrap_or(i64::MAX);
    Ok((count, sizes.iter().sum()))
}
