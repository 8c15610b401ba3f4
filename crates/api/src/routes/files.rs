//! Uploads: streamed to a local staging directory, typed and checked by their
//! content (see [`crate::content`]), never by the name or the declared type,
//! then put into the content-addressed file store (the local directory or an
//! S3 bucket: see [`crate::storage`]) under their SHA-256; each account
//! may hold a bounded number and size of uploads not yet attached to a
//! dossier. Downloads are sent as attachments with their stored type and
//! `X-Content-Type-Options: nosniff`, so no browser renders them as a page.

use std::io::Write;

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::Utc;
use futures_util::StreamExt;
use motcua_persistence::{Db, DbConnection, FileId, UserId, files};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::content::{self, MediaType};
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::dossiers::visible;
use crate::storage::{FileStore, StoreError};

/// Where files live, how big they may be, and how much one account may hold unattached.
#[derive(Debug, Clone)]
pub struct Uploads {
    /// The file store.
    pub store: FileStore,
    /// Largest upload, bytes.
    pub limit: usize,
    /// Most unattached uploads per account.
    pub quota_files: i64,
    /// Most bytes of unattached uploads per account.
    pub quota_bytes: i64,
}

/// A stored file.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileView {
    /// Id, to reference in a dossier's documents.
    pub id: String,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// `application/pdf`, `image/jpeg` or `image/png`.
    #[schema(value_type = MediaType)]
    pub media_type: String,
}

/// The multipart body of an upload.
#[derive(Debug, ToSchema)]
pub struct Upload {
    /// The document: a PDF, JPEG or PNG file (its type is read from its content).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

fn multipart_error(error: MultipartError) -> ApiError {
    match error {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => ApiError::UnsupportedMediaType {
            expected: "multipart/form-data",
        },
        other => ApiError::MalformedBody(other.to_string()),
    }
}

fn io(error: std::io::Error) -> ApiError {
    ApiError::Internal(format!("staging an upload: {error}"))
}

/// A file store that cannot do its part: 503, the cause logged.
fn unavailable(store: &FileStore, error: StoreError) -> ApiError {
    tracing::warn!(store = %store.describe(), %error, "file store unavailable");
    ApiError::FileStoreUnavailable
}

/// Upload a document (PDF, JPEG or PNG) as multipart field `file`.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    request_body(content = Upload, content_type = "multipart/form-data", description = "The document as the multipart field `file`"),
    responses(
        (status = 201, description = "Stored", body = FileView),
        (status = 413, description = "Larger than the limit", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account's quota of unattached uploads is used up (code upload_quota_exceeded)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart, or the content is not PDF, JPEG or PNG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `file` field, or the content is not a well-formed PDF or a complete image", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database (code database_unavailable) or the file store (code file_store_unavailable) is unavailable; nothing was stored; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/files")]
pub async fn upload(
    principal: Principal,
    db: web::Data<Db>,
    uploads: web::Data<Uploads>,
    mut payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let temp_dir = uploads.store.staging_dir();
    std::fs::create_dir_all(&temp_dir).map_err(io)?;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(multipart_error)?;
        if field.name() != Some("file") {
            while let Some(chunk) = field.next().await {
                chunk.map_err(multipart_error)?;
            }
            continue;
        }
        let temp = temp_dir.join(uuid::Uuid::now_v7().to_string());
        let stored = store_upload(&mut field, &temp, &principal, &db, &uploads).await;
        let _ = std::fs::remove_file(&temp);
        let (row, sha256) = stored?;
        return Ok(HttpResponse::Created().json(FileView {
            id: row.id.to_string(),
            sha256,
            size: row.size,
            media_type: row.media_type,
        }));
    }
    Err(ApiError::Validation(vec![FieldError::new(
        "file",
        "send the document as the multipart field `file`",
    )]))
}

/// Receives one upload into `temp`, checks its content, puts it into the
/// store and records it within the owner's quota.
///
/// The order keeps the database honest: the content is put first and the
/// row written only once it is stored, so a store that fails (503) leaves no
/// row pointing at missing content. The quota is checked before the put, so
/// an account over its quota stores nothing, and again in the write
/// transaction, serialised per owner, so parallel uploads cannot overshoot
/// it; an upload refused only there leaves its content in the store, named
/// by no row (harmless: content-addressed, unreachable, reused by the next
/// upload of the same bytes).
async fn store_upload(
    field: &mut actix_multipart::Field,
    temp: &std::path::Path,
    principal: &Principal,
    db: &web::Data<Db>,
    uploads: &Uploads,
) -> Result<(files::FileRow, String), ApiError> {
    let (sha256, size, _) = receive(field, temp, uploads.limit).await?;
    let checked = temp.to_owned();
    let media_type = web::block(move || content::check(&checked))
        .await?
        .map_err(|problem| ApiError::Validation(vec![FieldError::new("file", problem)]))?;
    let (quota_files, quota_bytes) = (uploads.quota_files, uploads.quota_bytes);
    let (owner, sha) = (principal.user_id, sha256.clone());
    let reader = db.get_ref().clone();
    web::block(move || {
        reader.run(|conn| quota_allows(conn, owner, size, quota_files, quota_bytes))
    })
    .await??;
    uploads
        .store
        .put(&sha256, temp)
        .await
        .map_err(|e| unavailable(&uploads.store, e))?;
    let db = db.get_ref().clone();
    let row = web::block(move || {
        db.write(|conn| {
            files::lock_owner(conn, owner)?;
            quota_allows(conn, owner, size, quota_files, quota_bytes)?;
            Ok::<_, ApiError>(files::insert(
                conn,
                owner,
                &sha,
                size,
                media_type,
                Utc::now(),
            )?)
        })
    })
    .await??;
    Ok((row, sha256))
}

/// Refuses an upload that would take the owner past their quota of
/// unattached uploads (409 `upload_quota_exceeded`). Authoritative only in
/// the upload's write transaction, after [`files::lock_owner`].
fn quota_allows(
    conn: &mut DbConnection,
    owner: UserId,
    size: i64,
    quota_files: i64,
    quota_bytes: i64,
) -> Result<(), ApiError> {
    let (count, bytes) = files::unattached_usage(conn, owner)?;
    if count + 1 > quota_files || bytes + size > quota_bytes {
        return Err(ApiError::Conflict {
            code: "upload_quota_exceeded",
            detail: format!(
                "you hold {count} uploads ({bytes} bytes) not attached to any dossier; the \
                 limit is {quota_files} uploads and {quota_bytes} bytes: attach or file them first"
            ),
        });
    }
    Ok(())
}

/// Streams one field to `temp`, hashing it; checks size and type as it goes.
async fn receive(
    field: &mut actix_multipart::Field,
    temp: &std::path::Path,
    limit: usize,
) -> Result<(String, i64, &'static str), ApiError> {
    let mut out = std::fs::File::create(temp).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0usize;
    let mut head: Vec<u8> = Vec::with_capacity(16);
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        size += chunk.len();
        if size > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if head.len() < 16 {
            head.extend(chunk.iter().take(16 - head.len()));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).map_err(io)?;
    }
    out.sync_all().map_err(io)?;
    let media_type = content::sniff(&head).ok_or(ApiError::UnsupportedMediaType {
        expected: "a PDF, JPEG or PNG file",
    })?;
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((sha256, i64::try_from(size).unwrap_or(i64::MAX), media_type))
}

/// Download a file: its uploader, or whoever may read a dossier it is attached to.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 200, description = "The content, as an attachment with its stored media type"),
        (status = 404, description = "No such file in reach", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The content is missing from this server's file store (code file_unavailable), or the file store (code file_store_unavailable) or the database (code database_unavailable) is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/files/{id}")]
pub async fn download(
    principal: Principal,
    db: web::Data<Db>,
    uploads: web::Data<Uploads>,
    id: web::Path<FileId>,
) -> Result<HttpResponse, ApiError> {
    let (db, id) = (db.get_ref().clone(), id.into_inner());
    let row = web::block(move || {
        db.run(|conn| {
            let row = files::find(conn, id)?;
            if may_use(conn, &principal, &row)? {
                Ok(row)
            } else {
                Err(ApiError::NotFound)
            }
        })
    })
    .await??;
    let bytes = match uploads.store.get(&row.sha256).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound) => {
            tracing::error!(
                file = %row.id,
                store = %uploads.store.describe(),
                "a file's content is missing from the store"
            );
            return Err(ApiError::FileUnavailable);
        }
        Err(error) => return Err(unavailable(&uploads.store, error)),
    };
    Ok(HttpResponse::Ok()
        .content_type(row.media_type.clone())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}.{}\"",
                row.id,
                extension(&row.media_type)
            ),
        ))
        .body(bytes))
}

fn extension(media_type: &str) -> &'static str {
    match media_type {
        content::PDF => "pdf",
        content::JPEG => "jpg",
        _ => "png",
    }
}

/// Whether `principal` may read a stored file: its uploader, or whoever may
/// read a dossier it is attached to (staff in reach; the citizen who owns
/// it, e.g. for the electronic result the officer attached). Only uploaders
/// attach files, so nobody widens anyone's reach by attaching.
pub fn may_use(
    conn: &mut DbConnection,
    principal: &Principal,
    file: &files::FileRow,
) -> Result<bool, ApiError> {
    if file.owner_id == principal.user_id {
        return Ok(true);
    }
    for dossier in files::dossiers_of(conn, file.id)? {
        match visible(conn, principal, &dossier.to_string()) {
            Ok(_) => return Ok(true),
            // Out of reach: perhaps another of its dossiers is not.
            Err(ApiError::NotFound | ApiError::Forbidden) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(false)
}
