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
    Attempt, Filed, FilingReceipt, check_filing, file_one, missing_mandatory, procedure_in_force,
    receipt_of, receiving_agency, request_hash, resolving_agency, with_retries,
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
/// receipt; the same `portal_code` again with the same body: 200 with the
/// first receipt, nothing opened; with another body: 409.
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
        (status = 409, description = "This portal code was filed before with another body (`portal_code_reused`)", body = Problem, content_type = "application/problem+json"),
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
    let hash = request_hash(text);
    let filing = std::sync::Arc::new(filing);
    // Filed before: its receipt, its documents not even decoded. Otherwise
    // the filing is checked before any content is kept, so that one
    // refused keeps nothing.
    let earlier = {
        let (db, filing) = (db.get_ref().clone(), filing.clone());
        let (code, hash) = (code.clone(), hash.clone());
        web::block(move || {
            db.run(|conn| {
                if let Some(receipt) = filed_before(conn, &code, &hash)? {
                    return Ok(Some(receipt));
                }
                let placeholders = entries(&filing.documents, &[]);
                check(conn, &filing, &placeholders, now).map_err(refused)?;
                Ok::<_, ApiError>(None)
            })
        })
        .await??
    };
    if let Some(receipt) = earlier {
        return Ok(HttpResponse::Ok().json(receipt));
    }
    let documents = decode_documents(&filing.documents, &uploads).await?;
    documents.put(&uploads).await?;
    let (db, history_key) = (db.get_ref().clone(), history_keys.current().clone());
    let (receipt, created) = web::block(move || {
        with_retries(&db, |conn| {
            // A delivery of the same filing that committed meanwhile.
            if let Some(receipt) = filed_before(conn, &code, &hash)? {
                return Ok((receipt, false));
            }
            let filed = Filing {
                filing: &filing,
                code: &code,
                hash: &hash,
                contents: &documents.contents,
            };
            Ok((open_filing(conn, &filed, &caches, &history_key, now)?, true))
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

/// The receipt of the dossier already opened for `code`, if any; a 409
/// `portal_code_reused` when that filing had another body.
fn filed_before(
    conn: &mut DbConnection,
    code: &str,
    hash: &str,
) -> Result<Option<FilingReceipt>, ApiError> {
    match dossiers::idempotent(conn, PORTAL_ACCOUNT, code)? {
        None => Ok(None),
        Some((stored, _)) if stored != hash => Err(ApiError::Conflict {
            code: "portal_code_reused",
            detail: format!("portal code {code} was filed before with another body"),
        }),
        Some((_, dossier)) => {
            let row = dossiers::find(conn, dossier)?;
            let procedure = motcua_persistence::procedures::find(conn, row.procedure_id)?;
            Ok(Some(receipt_of(&row, &procedure.code)))
        }
    }
}

/// What a failed check answers, outside the write transaction.
fn refused(attempt: Attempt) -> ApiError {
    match attempt {
        Attempt::Failed(error) => error,
        Attempt::Conflict(error) => error.into(),
    }
}

/// The documents' contents, checked like uploads and staged in temporary
/// files (removed when dropped) until they are put into the file store.
struct Decoded {
    contents: Vec<Content>,
    staged: Vec<std::path::PathBuf>,
}

/// One document's content, as its file row will describe it.
#[derive(Debug, Clone)]
struct Content {
    sha256: String,
    size: i64,
    media_type: &'static str,
}

impl Drop for Decoded {
    fn drop(&mut self) {
        for path in &self.staged {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Decoded {
    /// Puts every content into the file store (content-addressed: a filing
    /// that fails after this, in a race with another delivery, leaves
    /// content no row names, reused by the next upload of the same bytes).
    async fn put(&self, uploads: &Uploads) -> Result<(), ApiError> {
        for (content, staged) in self.contents.iter().zip(&self.staged) {
            uploads
                .store
                .put(&content.sha256, staged)
                .await
                .map_err(|e| {
                    tracing::warn!(store = %uploads.store.describe(), %e, "file store unavailable");
                    ApiError::FileStoreUnavailable
                })?;
        }
        Ok(())
    }
}

/// Decodes each document and checks its content as an upload's.
async fn decode_documents(
    documents: &[PortalDocument],
    uploads: &Uploads,
) -> Result<Decoded, ApiError> {
    if documents.len() > MAX_DOCUMENTS {
        return Err(ApiError::Validation(vec![FieldError::new(
            "documents",
            format!("at most {MAX_DOCUMENTS} documents"),
        )]));
    }
    let staging = uploads.store.staging_dir();
    std::fs::create_dir_all(&staging)
        .map_err(|e| ApiError::Internal(format!("staging a document: {e}")))?;
    let mut decoded = Decoded {
        contents: Vec::new(),
        staged: Vec::new(),
    };
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
        std::fs::write(&temp, &bytes)
            .map_err(|e| ApiError::Internal(format!("staging a document: {e}")))?;
        decoded.staged.push(temp.clone());
        let media_type = web::block(move || crate::content::check(&temp))
            .await?
            .map_err(invalid)?;
        decoded.contents.push(Content {
            sha256,
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            media_type,
        });
    }
    Ok(decoded)
}

/// The filing's documents as a dossier lists them, with their files
/// (none yet while the filing is only checked).
fn entries(documents: &[PortalDocument], files: &[FileId]) -> Vec<DocumentEntry> {
    documents
        .iter()
        .enumerate()
        .map(|(i, document)| DocumentEntry {
            requirement_code: document.requirement_code.clone(),
            originals: 0,
            copies: 0,
            file_id: files.get(i).map(ToString::to_string),
        })
        .collect()
}

/// What a checked filing opens.
struct Checked {
    procedure: ProcedureRow,
    definition: ProcedureDefinition,
    agency: agencies::Agency,
    resolving: Option<AgencyId>,
    checked: super::intake::Checked,
}

/// Checks a filing as an online filing is checked: the procedure in force
/// and offered online, the receiving agency by its identifier, the
/// applicant, every mandatory document, the resolving agency.
fn check(
    conn: &mut DbConnection,
    filing: &PortalFiling,
    documents: &[DocumentEntry],
    now: DateTime<Utc>,
) -> Result<Checked, Attempt> {
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
    let checked = check_filing(
        now,
        &mut fields,
        &definition,
        &filing.applicant,
        documents,
        filing.result_delivery,
        filing.postal_address.as_deref(),
    );
    missing_mandatory(&mut fields, checked.as_ref());
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
    Ok(Checked {
        procedure,
        definition,
        agency,
        resolving,
        checked,
    })
}

/// A filing to open: its body, code and body's hash, and its documents'
/// contents (in the file store).
struct Filing<'a> {
    filing: &'a PortalFiling,
    code: &'a str,
    hash: &'a str,
    contents: &'a [Content],
}

/// Opens the filing's dossier with its files and remembers its code
/// (inside the write transaction, checking it again).
fn open_filing(
    conn: &mut DbConnection,
    filed: &Filing<'_>,
    caches: &Caches,
    history_key: &HistoryKey,
    now: DateTime<Utc>,
) -> Result<FilingReceipt, Attempt> {
    let mut files = Vec::new();
    for content in filed.contents {
        let row = motcua_persistence::files::insert(
            conn,
            PORTAL_ACCOUNT,
            &content.sha256,
            content.size,
            content.media_type,
            now,
        )?;
        files.push(row.id);
    }
    let documents = entries(&filed.filing.documents, &files);
    let Checked {
        procedure,
        definition,
        agency,
        resolving,
        checked,
    } = check(conn, filed.filing, &documents, now)?;
    let calendar = caches.fresh(conn)?.calendar(conn, agency.id)?;
    let row = file_one(
        conn,
        &Filed {
            owner: PORTAL_ACCOUNT,
            agency: &agency,
            calendar: &calendar,
            history_key,
            postal_address: filed.filing.postal_address.as_deref(),
            group_id: None,
            portal_code: Some(filed.code.to_owned()),
            assisted_by: None,
            at: now,
        },
        (&procedure, &definition),
        checked,
        &files,
        resolving,
    )?;
    dossiers::remember_key(conn, PORTAL_ACCOUNT, filed.code, filed.hash, row.id, now)?;
    Ok(receipt_of(&row, &procedure.code))
}
