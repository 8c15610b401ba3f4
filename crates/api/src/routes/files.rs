//! Uploads: streamed to a content-addressed store under the data directory
//! (`files/<sha256>`), with the type decided from the content's first bytes
//! (PDF, JPEG or PNG), never from the name or the declared type.

use std::io::Write;
use std::path::PathBuf;

use actix_multipart::{Multipart, MultipartError};
use actix_web::{HttpResponse, get, post, web};
use chrono::Utc;
use futures_util::StreamExt;
use motcua_persistence::{Db, DbError, Id, files};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::{AccountKind, Principal};
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::dossiers::visible;

/// Where files live and how big they may be.
#[derive(Debug, Clone)]
pub struct FileStore {
    /// `<data dir>/files`.
    pub dir: PathBuf,
    /// Largest upload, bytes.
    pub limit: usize,
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
    pub media_type: String,
}

/// The media type the first bytes announce, if it is one we accept.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
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
    ApiError::Internal(format!("file store: {error}"))
}

/// Upload a document (PDF, JPEG or PNG) as multipart field `file`.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    request_body(content = Object, content_type = "multipart/form-data", description = "field `file`"),
    responses(
        (status = 201, description = "Stored", body = FileView),
        (status = 413, description = "Larger than the limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart, or the content is not PDF, JPEG or PNG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `file` field", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/files")]
pub async fn upload(
    principal: Principal,
    db: web::Data<Db>,
    store: web::Data<FileStore>,
    mut payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let temp_dir = store.dir.join("incoming");
    std::fs::create_dir_all(&temp_dir).map_err(io)?;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(multipart_error)?;
        if field.name() != Some("file") {
            while let Some(chunk) = field.next().await {
                chunk.map_err(multipart_error)?;
            }
            continue;
        }
        let temp = temp_dir.join(Id::new().to_string());
        let result = receive(&mut field, &temp, store.limit).await;
        let (sha256, size, media_type) = match result {
            Ok(received) => received,
            Err(error) => {
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
        };
        let target = store.dir.join(&sha256);
        if target.exists() {
            let _ = std::fs::remove_file(&temp);
        } else {
            std::fs::rename(&temp, &target).map_err(io)?;
        }
        let db = db.get_ref().clone();
        let owner = principal.user_id;
        let sha = sha256.clone();
        let row = web::block(move || {
            db.run(|conn| files::insert(conn, owner, &sha, size, media_type, Utc::now()))
        })
        .await??;
        return Ok(HttpResponse::Created().json(FileView {
            id: row.id.to_string(),
            sha256,
            size,
            media_type: row.media_type,
        }));
    }
    Err(ApiError::Validation(vec![FieldError::new(
        "file",
        "send the document as the multipart field `file`",
    )]))
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
    let media_type = sniff(&head).ok_or(ApiError::UnsupportedMediaType {
        expected: "a PDF, JPEG or PNG file",
    })?;
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((sha256, i64::try_from(size).unwrap_or(i64::MAX), media_type))
}

/// Download a file: its owner, or staff who may read a dossier it is attached to.
#[utoipa::path(
    tag = "files",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "File id")),
    responses(
        (status = 200, description = "The content, with its media type"),
        (status = 404, description = "No such file in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/files/{id}")]
pub async fn download(
    principal: Principal,
    db: web::Data<Db>,
    store: web::Data<FileStore>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    let (db, id) = (db.get_ref().clone(), id.into_inner());
    let row = web::block(move || {
        db.run(|conn| {
            let row = match files::find(conn, id) {
                Ok(row) => row,
                Err(DbError::NotFound) => return Err(ApiError::NotFound),
                Err(other) => return Err(other.into()),
            };
            if row.owner_id == principal.user_id {
                return Ok(row);
            }
            if principal.kind == AccountKind::Staff {
                for dossier in files::dossiers_of(conn, id)? {
                    match visible(conn, &principal, &dossier.to_string()) {
                        Ok(_) => return Ok(row),
                        // Out of reach: perhaps another of its dossiers is not.
                        Err(ApiError::NotFound | ApiError::Forbidden) => {}
                        Err(other) => return Err(other),
                    }
                }
            }
            Err(ApiError::NotFound)
        })
    })
    .await??;
    let bytes = std::fs::read(store.dir.join(&row.sha256)).map_err(io)?;
    Ok(HttpResponse::Ok().content_type(row.media_type).body(bytes))
}
