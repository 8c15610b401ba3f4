//! Filings made on the national public-service portal, received over an
//! authenticated endpoint (issue #16; docs/integration.md): the dossier is
//! opened as an online filing, owned by the portal's account, carrying the
//! portal's code; a second delivery of the same code finds it instead of
//! opening another.

use actix_web::web::Bytes;
use base64::Engine as _;
use futures_util::StreamExt as _;

use motcua_domain::history::HistoryKey;

use super::intake::{
    Attempt, Filed, FilingReceipt, check_filing, file_one, procedure_in_force, receipt_of,
    receiving_agency, resolving_agency, with_retries,
};
use super::payments::invalid_signature;
use super::*;
use crate::routes::files::Uploads;
use crate::settings::InboundAuth;

/// How the portal's filings are authenticated (none configured: every
/// filing is refused), and the turns of reading their bodies: at most
/// [`AT_ONCE`] bodies are held in memory at a time.
#[derive(Debug)]
pub struct PortalInbound {
    auth: Option<InboundAuth>,
    turns: tokio::sync::Semaphore,
}

/// Filings read at once; others wait their turn with their bodies unread.
pub const AT_ONCE: usize = 2;

impl PortalInbound {
    /// The inbound endpoint, authenticated by `auth`.
    pub fn new(auth: Option<InboundAuth>) -> Self {
        PortalInbound {
            auth,
            turns: tokio::sync::Semaphore::new(AT_ONCE),
        }
    }
}

/// The header with a filing's Unix time, covered by its signature.
pub const PORTAL_TIMESTAMP_HEADER: &str = "x-portal-timestamp";
/// The header with the hex HMAC-SHA256 of `<timestamp>\n<body>`.
pub const PORTAL_SIGNATURE_HEADER: &str = "x-portal-signature";
/// The account the portal's filings belong to (created by migration
/// 000025; it cannot sign in).
pub const PORTAL_ACCOUNT: UserId = UserId(uuid::Uuid::from_u128(
    0x0000_0000_0000_4000_8000_0000_0000_d1c0,
));
/// How far a filing's timestamp may be from now.
const WINDOW_SECS: u64 = 300;
/// The most documents one filing carries.
const MAX_DOCUMENTS: usize = 20;

/// One document of a portal filing, with its content.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalDocument {
    /// The procedure's requirement code, e.g. `TK`.
    pub requirement_code: String,
    /// The file's content (PDF, JPEG or PNG), in standard base64.
    pub content_base64: String,
}

/// A filing made on the national portal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalFiling {
    /// The portal's code of the filing: 1 to 64 letters, digits, `.`, `-`
    /// or `_`. A second filing with the same code finds the first one's dossier.
    pub portal_code: String,
    /// The procedure's code.
    pub procedure_code: String,
    /// The receiving agency's identifier (its code in the national
    /// directory of agencies, e.g. `000.00.01.H01`).
    pub agency_identifier: String,
    /// The deciding agency's id, where another than the receiving agency.
    pub resolving_agency_id: Option<String>,
    /// The applicant.
    pub applicant: Applicant,
    /// The documents, with their content (at most 20).
    pub documents: Vec<PortalDocument>,
    /// How the result reaches the citizen (one the procedure offers).
    pub result_delivery: Delivery,
    /// Where to post the result (delivery `post`).
    pub postal_address: Option<String>,
}

/// Receive a filing made on the national public-service portal (the
/// portal's own connection, not a user's): authenticated by
/// `X-Portal-Timestamp` and `X-Portal-Signature` (hex HMAC-SHA256 of
/// `<timestamp>\n<body>` under `MOTCUA_PORTAL_INBOUND_SECRET`) or by
/// `Authorization: Bearer` with `MOTCUA_PORTAL_INBOUND_TOKEN`, whichever is
/// configured. The dossier is opened as an online filing: 201 with its
/// receipt; the same `portal_code` again: 200 with the first receipt,
/// nothing opened.
#[utoipa::path(
    tag = "dossiers",
    request_body = PortalFiling,
    params(
        ("X-Portal-Timestamp" = Option<i64>, Header, description = "Unix time of the filing (HMAC)"),
        ("X-Portal-Signature" = Option<String>, Header, description = "hex HMAC-SHA256 of `<timestamp>\\n<body>` (HMAC)"),
    ),
    responses(
        (status = 200, description = "Received before under this portal code: its receipt", body = FilingReceipt),
        (status = 201, description = "Opened", body = FilingReceipt),
        (status = 401, description = "Not the portal (`invalid_signature`), or the inbound endpoint is not configured", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than twice the upload limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filing", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or the file store is unavailable; nothing was stored", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/portal/filings")]
#[allow(clippy::too_many_arguments)]
pub async fn receive_filing(
    request: HttpRequest,
    mut payload: web::Payload,
    inbound: web::Data<PortalInbound>,
    db: web::Data<Db>,
    uploads: web::Data<Uploads>,
    caches: web::Data<Caches>,
    clock: web::Data<Clock>,
    history_keys: web::Data<HistoryKeys>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    // What can be checked before the body is read, is: a stranger's body is
    // never buffered when the headers already give them away.
    authenticate(&request, &inbound, None, now)?;
    let _turn = inbound
        .turns
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Base64 makes one and a half uploads of the largest size this long.
    let limit = uploads.limit.saturating_mul(2);
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::MalformedBody(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    let body: Bytes = body.freeze();
    authenticate(&request, &inbound, Some(&body), now)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::MalformedBody("the body is not UTF-8".into()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| {
        ApiError::MalformedBody(crate::error::without_position(&e.to_string()).to_owned())
    })?;
    let filing: PortalFiling = crate::body::parse(text)?;
    let code = filing.portal_code.trim().to_owned();
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "portal_code",
            "1 to 64 letters, digits, `.`, `-` or `_`",
        )]));
    }
    if let Some(receipt) = already_filed(&db, &code).await? {
        return Ok(HttpResponse::Ok().json(receipt));
    }
    let files = store_documents(&filing.documents, &uploads).await?;
    let (db, history_key) = (db.get_ref().clone(), history_keys.current().clone());
    let (receipt, created) = web::block(move || {
        with_retries(&db, |conn| {
            // A delivery of the same filing that committed meanwhile.
            if let Some(row) = dossiers::find_by_portal_code(conn, &code)? {
                let procedure = caches.fresh(conn)?.procedure(conn, row.procedure_id)?;
                return Ok((receipt_of(&row, &procedure.code), false));
            }
            open_filing(conn, &filing, &code, &files, &caches, &history_key, now)
        })
    })
    .await??;
    Ok(if created {
        HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/v1/dossiers/{}", receipt.id)))
            .json(receipt)
    } else {
        HttpResponse::Ok().json(receipt)
    })
}

/// Refuses a caller that is not the portal (401 `invalid_signature`, the
/// same whatever was wrong). Without the `body` (not read yet), checks
/// what the headers alone show: the token, or the timestamp's freshness.
fn authenticate(
    request: &HttpRequest,
    inbound: &PortalInbound,
    body: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let proven = match &inbound.auth {
        None => false,
        Some(InboundAuth::Token(token)) => {
            let given = header("authorization");
            let given = given.strip_prefix("Bearer ").unwrap_or_default();
            same(given.as_bytes(), token.expose().as_bytes())
        }
        Some(InboundAuth::Hmac(secret)) => {
            let timestamp: Option<i64> = header(PORTAL_TIMESTAMP_HEADER).parse().ok();
            match timestamp {
                Some(t) if now.timestamp().abs_diff(t) <= WINDOW_SECS => match body {
                    Some(body) => same(
                        header(PORTAL_SIGNATURE_HEADER)
                            .to_ascii_lowercase()
                            .as_bytes(),
                        portal_signature(secret.expose(), t, body).as_bytes(),
                    ),
                    None => header(PORTAL_SIGNATURE_HEADER).len() == 64,
                },
                _ => false,
            }
        }
    };
    if proven {
        Ok(())
    } else {
        Err(invalid_signature(
            "not signed by the national portal (or its endpoint is not configured)",
        ))
    }
}

/// The portal's signature of a filing: hex HMAC-SHA256 of
/// `<timestamp>\n<body>` under the shared secret.
pub fn portal_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp}\n").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time equality.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The receipt of the dossier already opened for `code`, if any.
async fn already_filed(db: &web::Data<Db>, code: &str) -> Result<Option<FilingReceipt>, ApiError> {
    let (db, code) = (db.get_ref().clone(), code.to_owned());
    web::block(move || {
        db.run(|conn| {
            let Some(row) = dossiers::find_by_portal_code(conn, &code)? else {
                return Ok(None);
            };
            let procedure = motcua_persistence::procedures::find(conn, row.procedure_id)?;
            Ok::<_, ApiError>(Some(receipt_of(&row, &procedure.code)))
        })
    })
    .await?
}

/// A document's content, checked and in the file store.
#[derive(Debug, Clone)]
struct Stored {
    sha256: String,
    size: i64,
    media_type: &'static str,
}

/// Decodes each document, checks its content as an upload's and puts it
/// into the file store (content-addressed: a filing refused later leaves
/// content no row names, reused by the next upload of the same bytes).
async fn store_documents(
    documents: &[PortalDocument],
    uploads: &Uploads,
) -> Result<Vec<Stored>, ApiError> {
    if documents.len() > MAX_DOCUMENTS {
        return Err(ApiError::Validation(vec![FieldError::new(
            "documents",
            format!("at most {MAX_DOCUMENTS} documents"),
        )]));
    }
    let staging = uploads.store.staging_dir();
    std::fs::create_dir_all(&staging)
        .map_err(|e| ApiError::Internal(format!("staging a document: {e}")))?;
    let mut stored = Vec::new();
    for (i, document) in documents.iter().enumerate() {
        let field = format!("documents[{i}].content_base64");
        let invalid =
            |message: String| ApiError::Validation(vec![FieldError::new(&field, message)]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(document.content_base64.trim())
            .map_err(|_| invalid("is not standard base64".into()))?;
        if bytes.len() > uploads.limit {
            return Err(invalid(format!("is larger than {} bytes", uploads.limit)));
        }
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let temp = staging.join(uuid::Uuid::now_v7().to_string());
        let written = std::fs::write(&temp, &bytes);
        let checked = match written {
            Ok(()) => {
                let path = temp.clone();
                web::block(move || crate::content::check(&path)).await?
            }
            Err(e) => Err(e.to_string()),
        };
        let put = match &checked {
            Ok(_) => uploads.store.put(&sha256, &temp).await.map_err(|e| {
                tracing::warn!(store = %uploads.store.describe(), %e, "file store unavailable");
                ApiError::FileStoreUnavailable
            }),
            Err(_) => Ok(()),
        };
        let _ = std::fs::remove_file(&temp);
        let media_type = checked.map_err(invalid)?;
        put?;
        stored.push(Stored {
            sha256,
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            media_type,
        });
    }
    Ok(stored)
}

/// Opens the filing's dossier with its files (inside the write transaction).
fn open_filing(
    conn: &mut DbConnection,
    filing: &PortalFiling,
    code: &str,
    stored: &[Stored],
    caches: &Caches,
    history_key: &HistoryKey,
    now: DateTime<Utc>,
) -> Result<(FilingReceipt, bool), Attempt> {
    let (procedure, definition) = procedure_in_force(conn, &filing.procedure_code, now)?;
    let mut fields = Fields::default();
    if procedure.online_kind == "none" {
        fields.error("procedure_code", "this procedure cannot be filed online");
    }
    let agency = match agencies::find_by_identifier(conn, filing.agency_identifier.trim())? {
        Some(agency) => receiving_agency(conn, &mut fields, &agency.id.to_string())?,
        None => {
            fields.error("agency_identifier", "no agency has this identifier");
            None
        }
    };
    let mut files = Vec::new();
    let mut documents = Vec::new();
    for (document, content) in filing.documents.iter().zip(stored) {
        let row = motcua_persistence::files::insert(
            conn,
            PORTAL_ACCOUNT,
            &content.sha256,
            content.size,
            content.media_type,
            now,
        )?;
        files.push(row.id);
        documents.push(DocumentEntry {
            requirement_code: document.requirement_code.clone(),
            originals: 0,
            copies: 0,
            file_id: Some(row.id.to_string()),
        });
    }
    let checked = check_filing(
        now,
        &mut fields,
        &definition,
        &filing.applicant,
        &documents,
        filing.result_delivery,
        filing.postal_address.as_deref(),
    );
    let resolving = match &agency {
        Some(agency) => resolving_agency(
            conn,
            &mut fields,
            "resolving_agency_id",
            filing.resolving_agency_id.as_deref(),
            agency,
            &definition,
        )?,
        None => None,
    };
    fields.finish()?;
    let (Some(agency), Some(checked)) = (agency, checked) else {
        return Err(ApiError::Internal("validated filing incomplete".into()).into());
    };
    let calendar = caches.fresh(conn)?.calendar(conn, agency.id)?;
    let row = file_one(
        conn,
        &Filed {
            owner: PORTAL_ACCOUNT,
            agency: &agency,
            calendar: &calendar,
            history_key,
            postal_address: filing.postal_address.as_deref(),
            group_id: None,
            portal_code: Some(code.to_owned()),
            at: now,
        },
        (&procedure, &definition),
        checked,
        &files,
        resolving,
    )?;
    Ok((receipt_of(&row, &procedure.code), true))
}
