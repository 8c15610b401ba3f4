//! Dossiers over REST: online filing, desk and postal intake, every action of
//! the lifecycle, reads with the live legal clock, the history and its audit.
//!
//! Handlers decide nothing the domain does not: each action asks
//! `lifecycle::decide`, applies the clock effect it returns to the ledger,
//! recomputes the due time with `clock::evaluate`, and writes the dossier and
//! its event in one transaction, guarded by the dossier's version.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{self, ClockEvent, ClockInput, LegalClock, acknowledgement_due};
use motcua_domain::clock::{DeadlineState, Outcome};
use motcua_domain::codes::{AgencyIdentifier, DossierCode};
use motcua_domain::contact::PhoneNumber;
use motcua_domain::dossier::{
    Actor, ApologyRecord, Channel, Command, Context, Dossier, IntakeDecision, Opening,
    PaymentMethod, RatingRecord, Record, RecordPayment, Refuse, Rejection, files_of,
};
use motcua_domain::explain::Step;
use motcua_domain::lifecycle::{Action, Refusal, Role, State};
use motcua_domain::personal_id::PersonalId;
use motcua_domain::procedure::{Delivery, ProcedureDefinition};
use motcua_domain::time::to_local;
use motcua_persistence::dossiers::{self, DossierRow};
use motcua_persistence::procedures::{self, ProcedureRow};
use motcua_persistence::stored::{self, Placement, Unreadable};
use motcua_persistence::{Db, DbConnection, DbError, Id, agencies};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, ChainVerification, HistoryKeys, SubtreeVerification};
use crate::auth::{AccountKind, Principal};
use crate::body::Body;
use crate::clock::Clock;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::Capability;
use crate::routes::access_log::{AccessedResource, record_read};
use crate::routes::catalogue::definition;
use crate::telemetry::RequestId;
use crate::validate::{self, Fields, Page, PageQuery};

// ---------------------------------------------------------------- documents

pub use motcua_domain::dossier::{Applicant, DocumentEntry, Particulars};

/// What answers a dossier whose stored `part` cannot be read (stored before
/// bodies were depth-limited, or damaged by hand): 409 `record_unreadable`
/// for every change, never a 500; reads answer without that part. The
/// cause goes to the log.
pub fn unreadable(code: &str, part: &str, error: impl std::fmt::Display) -> ApiError {
    tracing::error!(dossier = %code, part, %error, "a dossier's stored record cannot be read");
    ApiError::Conflict {
        code: "record_unreadable",
        detail: format!(
            "dossier {code}: its stored {part} cannot be read; an administrator must repair it"
        ),
    }
}

fn unreadable_part(code: &str) -> impl Fn(Unreadable) -> ApiError + '_ {
    move |e| unreadable(code, e.part, e.error)
}

/// The dossier's stored record (applicant, documents, side records).
pub fn parse_details(row: &DossierRow) -> Result<Particulars, ApiError> {
    stored::particulars(row).map_err(unreadable_part(&row.code))
}

fn parse_ledger(row: &DossierRow) -> Result<Vec<ClockEvent>, ApiError> {
    stored::ledger(row).map_err(unreadable_part(&row.code))
}

fn utc(value: NaiveDateTime) -> DateTime<Utc> {
    value.and_utc()
}

fn state_of(row: &DossierRow) -> Result<State, ApiError> {
    stored::from_text(&row.state).map_err(|e| unreadable(&row.code, "state", e))
}

/// The stored dossier as the domain's aggregate.
pub fn load(row: &DossierRow) -> Result<Dossier, ApiError> {
    stored::aggregate(row).map_err(unreadable_part(&row.code))
}

// ---------------------------------------------------------------- views

/// The legal clock of a dossier, live.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// The complete dossier's receipt (raw instant).
    pub received_at: DateTime<Utc>,
    /// When the clock started counting.
    pub effective_start: DateTime<Utc>,
    /// Legal due time (pauses and extensions included; apologies never move it).
    pub due_at: DateTime<Utc>,
    /// Working seconds in the budget.
    pub budget_seconds: i64,
    /// Working seconds consumed.
    pub consumed_seconds: i64,
    /// Working seconds left (negative: overrun).
    pub remaining_seconds: i64,
    /// Within the deadline or overdue.
    pub state: DeadlineState,
    /// Whether the clock is paused.
    pub paused: bool,
    /// The result's classification, once finished.
    pub outcome: Option<Outcome>,
    /// Years without an announced calendar that the due time rests on.
    pub provisional_years: Vec<i32>,
}

impl From<&LegalClock> for ClockView {
    fn from(clock: &LegalClock) -> Self {
        ClockView {
            received_at: clock.received_at,
            effective_start: clock.effective_start,
            due_at: clock.due_at,
            budget_seconds: clock.budget.num_seconds(),
            consumed_seconds: clock.consumed.num_seconds(),
            remaining_seconds: clock.remaining.num_seconds(),
            state: clock.state,
            paused: clock.is_paused,
            outcome: clock.outcome(),
            provisional_years: clock.provisional_years.clone(),
        }
    }
}

/// A dossier.
#[derive(Debug, Serialize, ToSchema)]
pub struct DossierView {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    /// Where it stands in the lifecycle.
    pub status: State,
    /// National portal status code (1–10).
    pub portal_status: Option<u8>,
    /// Version, for `If-Match`.
    pub version: i32,
    /// How it reached the desk.
    pub channel: Channel,
    /// Procedure code and version received under.
    pub procedure_code: String,
    /// Procedure version.
    pub procedure_version: i32,
    /// Procedure name.
    pub procedure_name: String,
    /// Receiving agency.
    pub agency_id: String,
    /// Applicant.
    pub applicant: Option<Applicant>,
    /// Documents.
    pub documents: Vec<DocumentEntry>,
    /// How the result reaches the citizen.
    pub result_delivery: Delivery,
    /// Online: submitted at.
    pub submitted_at: Option<DateTime<Utc>>,
    /// Online: acknowledgement due (8 working hours).
    pub ack_due_at: Option<DateTime<Utc>>,
    /// Online: acknowledged at.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Online: whether the acknowledgement came in time.
    pub acknowledged_in_time: Option<bool>,
    /// The legal clock, once started.
    pub legal_clock: Option<ClockView>,
    /// Side records in order (supplement requests, hand-overs, payments, …),
    /// each with its `kind`.
    pub records: Vec<Record>,
    /// The apology, if given.
    pub apology: Option<ApologyRecord>,
    /// The rating, if given.
    pub rating: Option<RatingRecord>,
    /// False when the stored record (applicant, documents, side records) or
    /// legal clock cannot be read: they are left out here and every change
    /// answers 409 `record_unreadable` until an administrator repairs it.
    pub record_readable: bool,
    /// Staff reading one dossier: signed payment callbacks that were refused
    /// (wrong amount, nothing awaited), for the desk to follow up. Empty elsewhere.
    pub rejected_payments: Vec<RejectedPaymentView>,
}

fn view(
    row: &DossierRow,
    procedure: &ProcedureRow,
    clock: Option<&LegalClock>,
) -> Result<DossierView, ApiError> {
    let (particulars, record_readable) = match parse_details(row) {
        Ok(particulars) => (particulars, true),
        Err(_) => (Particulars::default(), false),
    };
    let state = state_of(row)?;
    let column = |part: &'static str| move |e| unreadable(&row.code, part, e);
    Ok(DossierView {
        id: row.id.to_string(),
        code: row.code.clone(),
        status: state,
        portal_status: state.portal_code(),
        version: row.version,
        channel: stored::from_text(&row.channel).map_err(column("channel"))?,
        procedure_code: procedure.code.clone(),
        procedure_version: procedure.version,
        procedure_name: procedure.name.clone(),
        agency_id: row.receiving_agency_id.to_string(),
        applicant: particulars.applicant,
        documents: particulars.documents,
        result_delivery: stored::from_text(&row.result_delivery)
            .map_err(column("result delivery"))?,
        submitted_at: row.submitted_at.map(utc),
        ack_due_at: row.ack_due_at.map(utc),
        acknowledged_at: row.acknowledged_at.map(utc),
        acknowledged_in_time: row
            .ack_due_at
            .map(|due| row.acknowledged_at.is_some_and(|at| at <= due)),
        legal_clock: clock.map(ClockView::from),
        records: particulars.records,
        apology: particulars.apology,
        rating: particulars.rating,
        record_readable,
        rejected_payments: Vec::new(),
    })
}

/// Checks the uploaded files a request attaches — documents
/// (`documents[i].file_id`) and, on completion, the electronic result
/// (`result_files[i]`), each named by its field: each must exist and be the
/// caller's own upload. Returns their ids, or a 422 naming each file that is
/// not. (Attaching grants whoever reads the dossier — its citizen too — the
/// file; so a file another account uploaded cannot be attached even where
/// the caller may read it: that would hand one citizen's document to another.)
fn attachable(
    conn: &mut DbConnection,
    principal: &Principal,
    named: &[(String, &str)],
) -> Result<Vec<Id>, ApiError> {
    let mut ids = Vec::new();
    let mut fields = Fields::default();
    for (field, file) in named {
        let Ok(id) = file.parse::<Id>() else {
            fields.error(field, "is not a file id");
            continue;
        };
        match motcua_persistence::files::find(conn, id) {
            Ok(row) if row.owner_id == principal.user_id => ids.push(id),
            Ok(_) | Err(DbError::NotFound) => fields.error(field, "no such file of yours"),
            Err(other) => return Err(other.into()),
        }
    }
    fields.finish()?;
    Ok(ids)
}

/// The working calendar of an agency (by id), for use inside a transaction.
pub fn agency_calendar(conn: &mut DbConnection, agency: Id) -> Result<WorkingCalendar, ApiError> {
    let agency = agencies::find(conn, agency)?;
    crate::calendars::calendar_for(conn, &agency)
}

/// The live clock of a started dossier.
pub fn live_clock(
    calendar: &WorkingCalendar,
    row: &DossierRow,
    definition: &ProcedureDefinition,
    at: DateTime<Utc>,
) -> Result<Option<LegalClock>, ApiError> {
    let Some(received) = row.received_at else {
        return Ok(None);
    };
    let ledger = parse_ledger(row)?;
    let input = ClockInput {
        calendar,
        limit: definition.time_limit,
        received_at: utc(received),
        events: &ledger,
    };
    clock::evaluate(input, at)
        .map(Some)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

// ---------------------------------------------------------------- intake

/// Online filing by a citizen.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FileOnline {
    /// Procedure code.
    pub procedure_code: String,
    /// Receiving agency id.
    pub agency_id: String,
    /// Applicant.
    pub applicant: Applicant,
    /// Documents: requirement code and uploaded file.
    pub documents: Vec<DocumentEntry>,
    /// How the result reaches the citizen (one the procedure offers).
    pub result_delivery: Delivery,
    /// Where to post the result (delivery `post`).
    pub postal_address: Option<String>,
}

/// What an online filing returns (identical on an idempotent retry).
#[derive(Debug, Serialize, ToSchema)]
pub struct FilingReceipt {
    /// Dossier id.
    pub id: String,
    /// Dossier code.
    pub code: String,
    /// `submitted`.
    pub status: State,
    /// When the portal received the filing.
    pub submitted_at: Option<DateTime<Utc>>,
    /// By when the desk must accept, refuse or ask for a supplement.
    pub ack_due_at: Option<DateTime<Utc>>,
    /// Procedure.
    pub procedure_code: String,
    /// Receiving agency.
    pub agency_id: String,
}

/// Desk or postal intake by a clerk.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Intake {
    /// `direct` or `postal`.
    pub channel: Channel,
    /// Procedure code.
    pub procedure_code: String,
    /// Applicant.
    pub applicant: Applicant,
    /// Documents received.
    pub documents: Vec<DocumentEntry>,
    /// How the result reaches the citizen (one the procedure offers).
    pub result_delivery: Delivery,
    /// Where to post the result.
    pub postal_address: Option<String>,
    /// What the clerk decides now.
    pub decision: IntakeDecision,
}

/// Validated applicant, documents and delivery against a procedure version.
struct Checked {
    applicant: Applicant,
    documents: Vec<DocumentEntry>,
    delivery: Delivery,
    missing_mandatory: Vec<String>,
}

fn check_filing(
    now: DateTime<Utc>,
    fields: &mut Fields,
    definition: &ProcedureDefinition,
    applicant: &Applicant,
    documents: &[DocumentEntry],
    delivery: Delivery,
    postal_address: Option<&str>,
) -> Option<Checked> {
    let today = to_local(now).date();
    let name = fields.check(
        "applicant.full_name",
        validate::text(&applicant.full_name, 200),
    );
    let phone = fields.check("applicant.phone", applicant.phone.parse::<PhoneNumber>());
    let national_id = match applicant.national_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => fields
            .check("applicant.national_id", PersonalId::parse(id, today))
            .map(|id| id.as_str().to_owned()),
    };
    let email = match applicant.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) => fields.check("applicant.email", validate::email(email)),
    };
    let delivery = fields.check(
        "result_delivery",
        if definition.deliveries.contains(&delivery) {
            Ok(delivery)
        } else {
            Err("this procedure does not deliver results that way")
        },
    );
    if delivery == Some(Delivery::Post) && postal_address.is_none_or(|a| a.trim().is_empty()) {
        fields.error("postal_address", "is needed for delivery by post");
    }
    for (i, document) in documents.iter().enumerate() {
        if !definition
            .documents
            .iter()
            .any(|r| r.code == document.requirement_code)
        {
            fields.error(
                &format!("documents[{i}].requirement_code"),
                format!(
                    "`{}` is not a document this procedure asks for",
                    document.requirement_code
                ),
            );
        }
    }
    let missing_mandatory = definition
        .documents
        .iter()
        .filter(|r| r.mandatory && !documents.iter().any(|d| d.requirement_code == r.code))
        .map(|r| r.code.clone())
        .collect();
    Some(Checked {
        applicant: Applicant {
            full_name: name?,
            national_id,
            phone: phone?.as_str().to_owned(),
            email,
            address: applicant
                .address
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        },
        documents: documents.to_vec(),
        delivery: delivery?,
        missing_mandatory,
    })
}

/// The procedure version in force today, or a 422 on `procedure_code`.
fn procedure_in_force(
    conn: &mut DbConnection,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(ProcedureRow, ProcedureDefinition), ApiError> {
    let today = to_local(now).date();
    match procedures::in_force(conn, code, today)? {
        Some(row) => definition(&row).map(|d| (row, d)),
        None => Err(ApiError::Validation(vec![FieldError::new(
            "procedure_code",
            "no procedure with this code is in force",
        )])),
    }
}

/// How one attempt at a filing transaction failed. A unique conflict in the
/// database is kept apart from the answers to the client, so that
/// [`with_retries`] can tell what is worth another try; either rolls the
/// attempt back.
#[derive(Debug)]
enum Attempt {
    /// A concurrent filing took the same first number of the day or the same
    /// idempotency key.
    Conflict(DbError),
    /// Anything else: what the client is told.
    Failed(ApiError),
}

impl From<DbError> for Attempt {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Conflict(_) => Attempt::Conflict(error),
            other => Attempt::Failed(other.into()),
        }
    }
}

impl From<ApiError> for Attempt {
    fn from(error: ApiError) -> Self {
        Attempt::Failed(error)
    }
}

/// Runs a filing transaction, retrying when a concurrent filing took the same
/// first number of the day or the same idempotency key (unique conflicts).
fn with_retries<T>(
    db: &Db,
    mut attempt: impl FnMut(&mut DbConnection) -> Result<T, Attempt>,
) -> Result<T, ApiError> {
    let mut tries = 0;
    loop {
        match db.write(&mut attempt) {
            Ok(value) => return Ok(value),
            Err(Attempt::Conflict(_)) if tries < 5 => tries += 1,
            Err(Attempt::Conflict(error)) => return Err(error.into()),
            Err(Attempt::Failed(error)) => return Err(error),
        }
    }
}

/// Assigns the next code of the receiving agency for today. The number is
/// taken in the caller's write transaction: it is given back if the
/// transaction fails later on.
fn next_code(
    conn: &mut DbConnection,
    agency: &agencies::Agency,
    now: DateTime<Utc>,
) -> Result<String, Attempt> {
    let day = to_local(now).date();
    let number = dossiers::next_number(conn, agency.id, day)?;
    let identifier: Result<AgencyIdentifier, _> = agency.identifier.parse();
    let code = match (identifier, u16::try_from(number)) {
        (Ok(identifier), Ok(number)) => DossierCode::new(identifier, day, number)
            .map(|code| code.to_string())
            .ok_or_else(|| ApiError::Conflict {
                code: "daily_numbers_exhausted",
                detail: "the agency has numbered 9999 dossiers today".into(),
            }),
        _ => Err(ApiError::Internal(format!(
            "agency identifier {} cannot number dossiers",
            agency.identifier
        ))),
    };
    Ok(code?)
}

/// The hash an idempotency key is kept with: of the body's JSON with its
/// keys in order and no spaces, so a retry that formats it differently is
/// still the same request.
fn request_hash(raw: &str) -> String {
    let canonical =
        serde_json::from_str::<Value>(raw).map_or_else(|_| raw.to_owned(), |v| v.to_string());
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The request's `Idempotency-Key`: 1 to 200 printable ASCII characters, or
/// 422 — a key that were silently ignored would make a retry file twice.
fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let invalid =
        |message: &str| ApiError::Validation(vec![FieldError::new("Idempotency-Key", message)]);
    let key = value
        .to_str()
        .map_err(|_| invalid("must be printable ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(invalid(&format!(
            "must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(invalid("must be printable ASCII"));
    }
    Ok(Some(key.to_owned()))
}

/// File a dossier online (citizens). Retries with the same `Idempotency-Key`
/// and body return the first answer.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    request_body = FileOnline,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 200 printable ASCII characters (otherwise 422)")),
    responses(
        (status = 201, description = "Filed", body = FilingReceipt),
        (status = 422, description = "Invalid filing, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/dossiers")]
pub async fn file_online(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    history_keys: web::Data<HistoryKeys>,
    body: Body<FileOnline>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    let history_key = history_keys.current().clone();
    if principal.kind != AccountKind::Citizen {
        return Err(ApiError::Forbidden);
    }
    let key = idempotency_key(&request)?;
    let hash = request_hash(body.raw.get());
    let filing = body.value;
    let db = db.get_ref().clone();
    let owner = principal.user_id;
    let filer = principal.clone();
    let receipt = web::block(move || {
        with_retries(&db, |conn| {
            if let Some(key) = &key
                && let Some((stored, dossier)) = dossiers::idempotent(conn, owner, key)?
            {
                if stored != hash {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "Idempotency-Key",
                        "was already used with another request body",
                    )])
                    .into());
                }
                let row = dossiers::find(conn, dossier)?;
                return Ok((receipt_of(conn, &row)?, false));
            }
            let (procedure, definition) = procedure_in_force(conn, &filing.procedure_code, now)?;
            let mut fields = Fields::default();
            let online_kind = procedure.online_kind.clone();
            if online_kind == "none" {
                fields.error("procedure_code", "this procedure cannot be filed online");
            }
            let agency = match filing
                .agency_id
                .parse::<Id>()
                .ok()
                .map(|id| agencies::find(conn, id))
            {
                Some(Ok(agency)) => Some(agency),
                Some(Err(DbError::NotFound)) | None => {
                    fields.error("agency_id", "no such agency");
                    None
                }
                Some(Err(other)) => return Err(other.into()),
            };
            let checked = check_filing(
                now,
                &mut fields,
                &definition,
                &filing.applicant,
                &filing.documents,
                filing.result_delivery,
                filing.postal_address.as_deref(),
            );
            for (i, document) in filing.documents.iter().enumerate() {
                if document.file_id.is_none() {
                    fields.error(
                        &format!("documents[{i}].file_id"),
                        "an online filing attaches each document as an uploaded file",
                    );
                }
            }
            let files = match attachable(conn, &filer, &files_of(&filing.documents)) {
                Ok(files) => files,
                Err(ApiError::Validation(errors)) => {
                    for error in errors {
                        fields.error(&error.field, error.message);
                    }
                    Vec::new()
                }
                Err(other) => return Err(other.into()),
            };
            if let Some(checked) = &checked {
                for code in &checked.missing_mandatory {
                    fields.error(
                        "documents",
                        format!("the mandatory document `{code}` is missing"),
                    );
                }
            }
            fields.finish()?;
            let (Some(agency), Some(checked)) = (agency, checked) else {
                return Err(ApiError::Internal("validated filing incomplete".into()).into());
            };

            let code = next_code(conn, &agency, now)?;
            let calendar = crate::calendars::calendar_for(conn, &agency)?;
            let ack_due = acknowledgement_due(&calendar, now)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let particulars = Particulars {
                applicant: Some(checked.applicant),
                documents: checked.documents,
                postal_address: filing.postal_address.clone(),
                online_kind: stored::from_text(&online_kind).ok(),
                ..Particulars::default()
            };
            let citizen = Actor {
                id: Some(owner.0),
                role: Role::Citizen,
            };
            let context = Context {
                procedure: &definition,
                calendar: &calendar,
                at: now,
            };
            let opened = Dossier::open(
                Opening::Online,
                particulars,
                checked.delivery,
                citizen,
                &context,
            )
            .map_err(rejected)?;
            let place = Placement {
                id: Id::new(),
                code,
                agency_id: agency.id,
                procedure_id: procedure.id,
                owner_id: Some(owner),
                ack_due_at: Some(ack_due),
                created_at: now,
            };
            let new = stored::new_row(place, &opened.dossier, 1)?;
            let event = stored::opening_event(&opened.event, &procedure.code, procedure.version);
            let row = dossiers::insert(conn, &history_key, &new, &event)?;
            for file in &files {
                motcua_persistence::files::attach(conn, row.id, *file)?;
            }
            if let Some(key) = &key {
                dossiers::remember_key(conn, owner, key, &hash, row.id, now)?;
            }
            Ok((receipt_of(conn, &row)?, true))
        })
    })
    .await??;
    let (receipt, _created) = receipt;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/dossiers/{}", receipt.id)))
        .json(receipt))
}

fn receipt_of(conn: &mut DbConnection, row: &DossierRow) -> Result<FilingReceipt, DbError> {
    let procedure = procedures::find(conn, row.procedure_id)?;
    Ok(FilingReceipt {
        id: row.id.to_string(),
        code: row.code.clone(),
        status: State::Submitted,
        submitted_at: row.submitted_at.map(utc),
        ack_due_at: row.ack_due_at.map(utc),
        procedure_code: procedure.code,
        agency_id: row.receiving_agency_id.to_string(),
    })
}

/// Receive a dossier at the desk or by post (clerks), with the decision:
/// accept, request a supplement, or refuse.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    request_body = Intake,
    responses(
        (status = 201, description = "Received", body = DossierView),
        (status = 422, description = "Invalid intake", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/dossiers/intake")]
pub async fn intake(
    principal: Principal,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    history_keys: web::Data<HistoryKeys>,
    body: Body<Intake>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    let history_key = history_keys.current().clone();
    if !principal.has_role(Role::Clerk) {
        return Err(ApiError::Forbidden);
    }
    let agency_id = principal.agency_id.ok_or(ApiError::Forbidden)?;
    let intake = body.value;
    let db = db.get_ref().clone();
    let actor = principal.user_id;
    let clerk = principal.clone();
    let row_and_procedure = web::block(move || {
        with_retries(&db, |conn| {
            let (procedure, definition) = procedure_in_force(conn, &intake.procedure_code, now)?;
            let mut fields = Fields::default();
            if intake.channel == Channel::Online {
                fields.error("channel", "must be direct or postal");
            }
            let checked = check_filing(now, &mut fields, &definition, &intake.applicant, &intake.documents, intake.result_delivery, intake.postal_address.as_deref());
            let files = attachable(conn, &clerk, &files_of(&intake.documents))?;
            if let (IntakeDecision::Accept, Some(checked)) = (&intake.decision, &checked) {
                for code in &checked.missing_mandatory {
                    fields.error("documents", format!("the mandatory document `{code}` is missing: request a supplement instead"));
                }
            }
            fields.finish()?;
            let Some(checked) = checked else {
                return Err(ApiError::Internal("validated intake incomplete".into()).into());
            };
            let agency = agencies::find(conn, agency_id)?;
            let calendar = crate::calendars::calendar_for(conn, &agency)?;
            let code = next_code(conn, &agency, now)?;
            let particulars = Particulars {
                applicant: Some(checked.applicant),
                documents: checked.documents,
                postal_address: intake.postal_address.clone(),
                ..Particulars::default()
            };
            let opening = Opening::Desk { channel: intake.channel, decision: intake.decision.clone() };
            let clerk = Actor { id: Some(actor.0), role: Role::Clerk };
            let context = Context { procedure: &definition, calendar: &calendar, at: now };
            let opened = Dossier::open(opening, particulars, checked.delivery, clerk, &context).map_err(rejected)?;
            let place = Placement { id: Id::new(), code, agency_id: agency.id, procedure_id: procedure.id, owner_id: None, ack_due_at: None, created_at: now };
            let new = stored::new_row(place, &opened.dossier, 1)?;
            let event = stored::opening_event(&opened.event, &procedure.code, procedure.version);
            let row = dossiers::insert(conn, &history_key, &new, &event)?;
            for file in &files {
                motcua_persistence::files::attach(conn, row.id, *file)?;
            }
            Ok((row, procedure, calendar))
        })
    })
    .await??;
    let (row, procedure, calendar) = row_and_procedure;
    let definition = definition(&procedure)?;
    let clock = live_clock(&calendar, &row, &definition, now)?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/dossiers/{}", row.id)))
        .json(view(&row, &procedure, clock.as_ref())?))
}

// ---------------------------------------------------------------- reads

/// Finds a dossier by id or code that the principal may see (404 otherwise).
pub fn visible(
    conn: &mut DbConnection,
    principal: &Principal,
    reference: &str,
) -> Result<DossierRow, ApiError> {
    let found = match reference.parse::<Id>() {
        Ok(id) => dossiers::find(conn, id),
        Err(_) => dossiers::find_by_code(conn, reference),
    };
    let row = match found {
        Ok(row) => row,
        Err(DbError::NotFound) => return Err(ApiError::NotFound),
        Err(other) => return Err(other.into()),
    };
    let allowed = match principal.kind {
        AccountKind::Citizen => row.owner_id == Some(principal.user_id),
        AccountKind::Staff => {
            if principal.require(Capability::ReadDossiers).is_err() {
                return Err(ApiError::Forbidden);
            }
            principal.reaches(&dossiers::agency_path(conn, &row)?)
        }
    };
    if allowed {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// One dossier, by id or code, with its live legal clock. A staff member's
/// read (they see personal data) is recorded in the access log, not in the
/// dossier's history: the dossier is read in one read-only snapshot, then
/// the read is recorded in a short write of its own, and only then is the
/// dossier answered — a read that cannot be recorded answers an error, not
/// the data. Citizens reading their own dossier are not recorded.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dossier id or code")),
    responses(
        (status = 200, description = "The dossier", body = DossierView),
        (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers/{id}")]
pub async fn get_dossier(
    principal: Principal,
    request_id: RequestId,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    id: web::Path<String>,
) -> Result<web::Json<DossierView>, ApiError> {
    let now = clock.now();
    let (db, reference) = (db.get_ref().clone(), id.into_inner());
    let view = web::block(move || -> Result<DossierView, ApiError> {
        let (row, procedure, calendar, rejected) = db.snapshot(|conn| -> Result<_, ApiError> {
            let row = visible(conn, &principal, &reference)?;
            let procedure = procedures::find(conn, row.procedure_id)?;
            let calendar = agency_calendar(conn, row.receiving_agency_id)?;
            let rejected = match principal.kind {
                AccountKind::Staff => motcua_persistence::payments::rejected_of(conn, row.id)?,
                AccountKind::Citizen => Vec::new(),
            };
            Ok((row, procedure, calendar, rejected))
        })?;
        let view = read_view(&row, &procedure, &calendar, rejected, now)?;
        record_read(
            &db,
            &principal,
            &row,
            AccessedResource::Dossier,
            &request_id,
            now,
        )?;
        Ok(view)
    })
    .await??;
    Ok(web::Json(view))
}

/// What `GET /dossiers/{id}` answers: the dossier with its live clock (left
/// out if its ledger cannot be read) and, for staff, the refused callbacks.
fn read_view(
    row: &DossierRow,
    procedure: &ProcedureRow,
    calendar: &WorkingCalendar,
    rejected: Vec<motcua_persistence::payments::RejectedPayment>,
    now: DateTime<Utc>,
) -> Result<DossierView, ApiError> {
    let (clock, clock_readable) = match live_clock(calendar, row, &definition(procedure)?, now) {
        Ok(clock) => (clock, true),
        Err(ApiError::Conflict {
            code: "record_unreadable",
            ..
        }) => (None, false),
        Err(other) => return Err(other),
    };
    let mut view = view(row, procedure, clock.as_ref())?;
    view.record_readable &= clock_readable;
    view.rejected_payments = rejected
        .into_iter()
        .map(|r| RejectedPaymentView {
            reference: r.reference,
            amount: r.amount,
            expected_amount: r.expected_amount,
            reason: r.reason,
            received_at: utc(r.received_at),
        })
        .collect();
    Ok(view)
}

/// A signed gateway callback that was refused, kept for the desk.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectedPaymentView {
    /// The gateway's reference.
    pub reference: String,
    /// What the gateway reported as paid, in đồng.
    pub amount: i64,
    /// What was due, if anything.
    pub expected_amount: Option<i64>,
    /// Why it was refused.
    #[schema(value_type = RejectedReason)]
    pub reason: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// Why a signed payment callback was refused (the problem code it got).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectedReason {
    /// Another amount than the fee due.
    PaymentAmountMismatch,
    /// Nothing awaited: the dossier was in no state to take a payment.
    IllegalTransition,
    /// The fee was already paid.
    FeeAlreadyPaid,
}

/// Filters of `GET /dossiers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DossierQuery {
    /// State.
    #[param(value_type = Option<State>)]
    pub status: Option<String>,
    /// Procedure code.
    pub procedure_code: Option<String>,
    /// Receiving agency (its subtree), within the caller's reach.
    pub agency_id: Option<String>,
    /// How dossiers reached the desk.
    #[param(value_type = Option<Channel>)]
    pub channel: Option<String>,
    /// `true`: only open dossiers (clock running) past their due time now.
    pub overdue: Option<bool>,
    /// Due before this instant (RFC 3339): e.g. the end of today for the desk's "due today".
    pub due_before: Option<DateTime<Utc>>,
    /// Received at or after (RFC 3339).
    pub received_from: Option<DateTime<Utc>>,
    /// Received before (RFC 3339).
    pub received_to: Option<DateTime<Utc>>,
    /// Part of the code or of the applicant's name.
    pub q: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One dossier in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DossierSummary {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    /// State.
    pub status: State,
    /// Procedure code.
    pub procedure_code: String,
    /// Channel.
    pub channel: Channel,
    /// Applicant's name.
    pub applicant_name: String,
    /// Receiving agency.
    pub agency_id: String,
    /// When the clock started (raw receipt).
    pub received_at: Option<DateTime<Utc>>,
    /// The legal due time as last computed (paused dossiers: as of the pause).
    pub due_at: Option<DateTime<Utc>>,
    /// Version.
    pub version: i32,
}

/// Dossiers in the caller's reach (staff: their subtree; citizens: their own), filtered.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(DossierQuery),
    responses(
        (status = 200, description = "A page of dossiers", body = Page<DossierSummary>),
        (status = 404, description = "The agency filter names no agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers")]
pub async fn list_dossiers(
    principal: Principal,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    query: web::Query<DossierQuery>,
) -> Result<web::Json<Page<DossierSummary>>, ApiError> {
    let query = query.into_inner();
    let (limit, cursor) = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let after = cursor.map(|c| c.parse::<Id>()).transpose().map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            "cursor",
            "is not a cursor from a previous page",
        )])
    })?;
    let mut fields = Fields::default();
    if let Some(status) = &query.status
        && serde_json::from_value::<State>(Value::String(status.clone())).is_err()
    {
        fields.error("status", "is not a dossier state");
    }
    if let Some(channel) = &query.channel
        && !["direct", "postal", "online"].contains(&channel.as_str())
    {
        fields.error("channel", "must be direct, postal or online");
    }
    let agency = query.agency_id.as_deref().and_then(|a| {
        fields.check(
            "agency_id",
            a.parse::<Id>().map_err(|_| "must be an agency id"),
        )
    });
    fields.finish()?;
    let mut filter = dossiers::DossierFilter {
        state: query.status,
        procedure_code: query.procedure_code,
        channel: query.channel,
        overdue_at: query.overdue.filter(|o| *o).map(|_| clock.now()),
        due_before: query.due_before,
        received_from: query.received_from,
        received_to: query.received_to,
        q: query.q.filter(|q| !q.trim().is_empty()),
        ..dossiers::DossierFilter::default()
    };
    match principal.kind {
        AccountKind::Citizen => filter.owner = Some(principal.user_id),
        AccountKind::Staff => {
            principal.require(Capability::ReadDossiers)?;
            filter.agency_path = Some(principal.reach()?.to_owned());
        }
    }
    let db = db.get_ref().clone();
    let rows = web::block(move || {
        db.run(|conn| {
            if let Some(agency) = agency {
                let agency = match agencies::find(conn, agency) {
                    Ok(agency) => agency,
                    Err(DbError::NotFound) => return Err(ApiError::NotFound),
                    Err(other) => return Err(other.into()),
                };
                if principal.kind == AccountKind::Citizen || !principal.reaches(&agency.path) {
                    return Err(ApiError::NotFound);
                }
                filter.agency_path = Some(agency.path);
            }
            Ok(dossiers::list(conn, &filter, after, limit + 1)?)
        })
    })
    .await??;
    let rows = rows
        .into_iter()
        .map(|(row, procedure_code)| {
            let channel: Channel =
                stored::from_text(&row.channel).map_err(|e| unreadable(&row.code, "channel", e))?;
            Ok((state_of(&row)?, channel, row, procedure_code))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |(_, _, row, _)| row.id.to_string(),
        |(status, channel, row, procedure_code)| DossierSummary {
            id: row.id.to_string(),
            code: row.code,
            status,
            procedure_code,
            channel,
            applicant_name: row.applicant_name,
            agency_id: row.receiving_agency_id.to_string(),
            received_at: row.received_at.map(utc),
            due_at: row.due_at.map(utc),
            version: row.version,
        },
    )))
}

/// One event of a dossier's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Position, from 1.
    pub seq: i32,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (account id).
    pub actor_id: Option<String>,
    /// In which role.
    #[schema(value_type = HistoryRole)]
    pub actor_role: String,
    /// What.
    #[schema(value_type = HistoryAction)]
    pub action: String,
    /// State before (none: the dossier began).
    #[schema(value_type = Option<State>)]
    pub state_before: Option<String>,
    /// State after.
    #[schema(value_type = State)]
    pub state_after: String,
    /// Details.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// The id of the key its hash was computed with (`sha256`: unkeyed, legacy).
    pub key_id: String,
}

/// What an event of the history records. The history is shown exactly as
/// it was written and hashed, so it names what earlier releases wrote too.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    /// Filed online.
    FileOnline,
    /// Received at the desk and accepted.
    IntakeAccept,
    /// Received at the desk and returned for a supplement.
    IntakeRequestSupplement,
    /// Received at the desk and refused.
    IntakeRefuse,
    /// Accepted.
    Accept,
    /// A supplement requested.
    RequestSupplement,
    /// The supplement arrived.
    Supplement,
    /// Refused.
    Refuse,
    /// Handed over.
    HandOver,
    /// A fee requested.
    RequestPayment,
    /// A payment recorded.
    RecordPayment,
    /// Extended for verification.
    ExtendVerification,
    /// An apology given.
    Apologise,
    /// Processing stopped.
    Stop,
    /// The result recorded.
    Complete,
    /// The result handed over.
    Return,
    /// Withdrawn.
    Withdraw,
    /// Rated.
    Rate,
    /// A staff read of personal data (written into histories before reads
    /// went to the access log).
    ReadPersonalData,
}

/// In which role an event's actor acted: a role, or (in histories written
/// by earlier releases of `gen-data`) the generator.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryRole {
    /// The dossier's citizen.
    Citizen,
    /// Desk clerk.
    Clerk,
    /// Processing officer.
    Officer,
    /// Leader.
    Leader,
    /// Auditor.
    Auditor,
    /// Administrator.
    Admin,
    /// The payment gateway.
    PaymentGateway,
    /// `gen-data` before it drove the domain.
    Generator,
}

/// A dossier's history, oldest first (staff in reach, auditors, the owner).
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dossier id or code")),
    responses(
        (status = 200, description = "The events", body = [EventView]),
        (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers/{id}/events")]
pub async fn dossier_events(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<web::Json<Vec<EventView>>, ApiError> {
    let (db, reference) = (db.get_ref().clone(), id.into_inner());
    let events = web::block(move || {
        db.run(|conn| -> Result<_, ApiError> {
            let row = visible(conn, &principal, &reference)?;
            Ok(dossiers::events(conn, row.id)?)
        })
    })
    .await??;
    Ok(web::Json(
        events
            .into_iter()
            .map(|e| EventView {
                seq: e.seq,
                at: utc(e.at),
                actor_id: e.actor_id.map(|id| id.to_string()),
                actor_role: e.actor_role,
                action: e.action,
                state_before: e.state_before,
                state_after: e.state_after,
                payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
                prev_hash: e.prev_hash,
                hash: e.hash,
                key_id: e.key_id,
            })
            .collect(),
    ))
}

/// How the due time was reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineView {
    /// The clock; null while it has not started (filed, not yet accepted).
    pub legal_clock: Option<ClockView>,
    /// The steps, structured.
    pub explanation: Vec<Step>,
    /// The same steps as Vietnamese sentences, for printing.
    pub explanation_vi: Vec<String>,
}

/// The explanation of a dossier's due time.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dossier id or code")),
    responses(
        (status = 200, description = "The explanation", body = DeadlineView),
        (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers/{id}/deadline")]
pub async fn dossier_deadline(
    principal: Principal,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    id: web::Path<String>,
) -> Result<web::Json<DeadlineView>, ApiError> {
    let now = clock.now();
    let (db, reference) = (db.get_ref().clone(), id.into_inner());
    let (row, procedure, calendar) = web::block(move || {
        db.run(|conn| -> Result<_, ApiError> {
            let row = visible(conn, &principal, &reference)?;
            let procedure = procedures::find(conn, row.procedure_id)?;
            let calendar = agency_calendar(conn, row.receiving_agency_id)?;
            Ok((row, procedure, calendar))
        })
    })
    .await??;
    let definition = definition(&procedure)?;
    let Some(received) = row.received_at else {
        return Ok(web::Json(DeadlineView {
            legal_clock: None,
            explanation: Vec::new(),
            explanation_vi: Vec::new(),
        }));
    };
    let ledger = parse_ledger(&row)?;
    let input = ClockInput {
        calendar: &calendar,
        limit: definition.time_limit,
        received_at: utc(received),
        events: &ledger,
    };
    let (clock, steps) =
        clock::evaluate_explained(input, now).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(web::Json(DeadlineView {
        legal_clock: Some(ClockView::from(&clock)),
        explanation_vi: steps.iter().map(Step::vietnamese).collect(),
        explanation: steps,
    }))
}

/// `?dossier_id=` for one dossier, or `?agency_id=&from=&to=` for every
/// dossier of a subtree created in a period.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// One dossier (id or code) whose history to verify.
    pub dossier_id: Option<String>,
    /// Instead of one dossier: the agency whose subtree to verify (default:
    /// the caller's agency).
    pub agency_id: Option<String>,
    /// With a subtree: the first day (YYYY-MM-DD, Vietnam) on which the
    /// dossiers were created.
    pub from: Option<NaiveDate>,
    /// With a subtree: the last day, inclusive.
    pub to: Option<NaiveDate>,
}

/// One dossier's verification, or a subtree's summary.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum VerifyAnswer {
    /// `?dossier_id=`.
    Dossier(ChainVerification),
    /// `?agency_id=&from=&to=`.
    Subtree(SubtreeVerification),
}

/// Verifies hash-chained histories (staff who read dossiers, in reach).
///
/// One dossier's (`dossier_id`), or every dossier of an agency's subtree
/// created from `from` to `to` (read in batches; the summary lists at most
/// 100 broken dossiers and counts them all). Each chain is checked link by
/// link under its events' keys and against the head its dossier records.
/// Response shapes: docs/security.md.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(VerifyQuery),
    responses(
        (status = 200, description = "The verification", body = VerifyAnswer),
        (status = 404, description = "No such dossier or agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither a dossier nor a period, or both", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit/verify")]
pub async fn verify_history(
    principal: Principal,
    db: web::Data<Db>,
    keys: web::Data<HistoryKeys>,
    query: web::Query<VerifyQuery>,
) -> Result<HttpResponse, ApiError> {
    if principal.kind != AccountKind::Staff {
        return Err(ApiError::Forbidden);
    }
    let query = query.into_inner();
    let db = db.get_ref().clone();
    let invalid =
        |field: &str, message: &str| ApiError::Validation(vec![FieldError::new(field, message)]);
    if let Some(reference) = query.dossier_id {
        if query.agency_id.is_some() || query.from.is_some() || query.to.is_some() {
            return Err(invalid(
                "dossier_id",
                "give either dossier_id, or agency_id with from and to",
            ));
        }
        let verification = web::block(move || {
            db.snapshot(|conn| -> Result<_, ApiError> {
                let row = visible(conn, &principal, &reference)?;
                Ok(audit::verify_dossier(conn, &keys, row.id)?)
            })
        })
        .await??;
        return Ok(HttpResponse::Ok().json(VerifyAnswer::Dossier(verification.into())));
    }
    principal.require(Capability::ReadDossiers)?;
    let (from, to) = match (query.from, query.to) {
        (Some(from), Some(to)) if from <= to => (from, to),
        (Some(_), Some(_)) => return Err(invalid("to", "must not be before from")),
        _ => {
            return Err(invalid(
                "from",
                "give dossier_id, or a period: from and to (YYYY-MM-DD)",
            ));
        }
    };
    let agency = match query.agency_id.as_deref() {
        Some(text) => text
            .parse::<Id>()
            .map_err(|_| invalid("agency_id", "must be an agency id"))?,
        None => principal.agency_id.ok_or(ApiError::Forbidden)?,
    };
    let summary = web::block(move || -> Result<_, ApiError> {
        let subtree = db.run(|conn| -> Result<_, ApiError> {
            let root = match agencies::find(conn, agency) {
                Ok(found) if principal.reaches(&found.path) => found,
                Ok(_) | Err(DbError::NotFound) => return Err(ApiError::NotFound),
                Err(other) => return Err(other.into()),
            };
            Ok(agencies::subtree(conn, &root.path)?
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>())
        })?;
        let scope = audit::scope_of(subtree, Some(from), Some(to));
        let mut summary = audit::verify_scope(&db, &keys, &scope, |_| {})?;
        summary.agency_id = agency.to_string();
        summary.from = Some(from);
        summary.to = Some(to);
        Ok(summary)
    })
    .await??;
    Ok(HttpResponse::Ok().json(VerifyAnswer::Subtree(summary)))
}

// ---------------------------------------------------------------- actions

/// The version an action is based on: `If-Match: "<version>"` or a `version` field.
fn expected_version(request: &HttpRequest, version: Option<i32>) -> Result<i32, ApiError> {
    let from_header = request
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .parse::<i32>()
                .ok()
        });
    from_header.unwrap_or(version).ok_or_else(|| {
        ApiError::Validation(vec![FieldError::new(
            "version",
            "send the dossier's current version (If-Match or a version field)",
        )])
    })
}

/// Maps the domain's answer to HTTP: a role that may never act is 403, the
/// lifecycle's other refusals 409 with their reason as the code, a bad
/// payload 422 naming its fields, a clock that cannot be computed 500.
fn rejected(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::Refused(Refusal::WrongRole { .. }) => ApiError::Forbidden,
        Rejection::Refused(other) => ApiError::Conflict {
            code: other.code(),
            detail: other.to_string(),
        },
        Rejection::Invalid(fields) => ApiError::Validation(
            fields
                .into_iter()
                .map(|i| FieldError::new(i.field, i.message))
                .collect(),
        ),
        Rejection::Clock(error) => ApiError::Internal(error.to_string()),
    }
}

/// One action, in one transaction: the dossier in reach at the expected
/// version, the domain's decision, the files it attaches, the dossier's new
/// columns, a payment's row, and the event in the history.
async fn act(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    now: DateTime<Utc>,
    reference: String,
    command: Command,
    version: Option<i32>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&request, version)?;
    let history_key = request
        .app_data::<web::Data<HistoryKeys>>()
        .map(|keys| keys.current().clone())
        .ok_or_else(|| ApiError::Internal("no history keys".into()))?;
    let db = db.get_ref().clone();
    let done = web::block(move || {
        db.write(|conn| {
            let row = visible_for_action(conn, &principal, &reference)?;
            if row.version != expected {
                return Err(stale(row.version));
            }
            let procedure = procedures::find(conn, row.procedure_id)?;
            let definition = definition(&procedure)?;
            let calendar = agency_calendar(conn, row.receiving_agency_id)?;
            let dossier = load(&row)?;
            let reference = match &command {
                Command::RecordPayment(payment) => Some(payment.reference.clone()),
                _ => None,
            };
            let actor = Actor {
                id: (!principal.user_id.0.is_nil()).then_some(principal.user_id.0),
                role: acting_role(&principal, command.action()),
            };
            let context = Context {
                procedure: &definition,
                calendar: &calendar,
                at: now,
            };
            let handled = match (dossier.handle(command, actor, &context), reference) {
                // A payment the lifecycle lets this caller record but the
                // dossier does not await: a retry of one recorded before
                // says so (a gateway repeats its callbacks).
                (Err(Rejection::Refused(refusal)), Some(reference))
                    if !matches!(refusal, Refusal::WrongRole { .. }) =>
                {
                    unused_reference(conn, &row, &principal, &reference)?;
                    Err(rejected(Rejection::Refused(refusal)))
                }
                (handled, _) => handled.map_err(rejected),
            }?;
            let attached = handled
                .event
                .command()
                .map(Command::attached_files)
                .unwrap_or_default();
            let files = attachable(conn, &principal, &attached)?;
            if !dossiers::update(
                conn,
                row.id,
                expected,
                &stored::changes(&handled.dossier)?,
                now,
            )? {
                return Err(stale(row.version + 1));
            }
            for file in &files {
                motcua_persistence::files::attach(conn, row.id, *file)?;
            }
            if let Some(Command::RecordPayment(payment)) = handled.event.command() {
                store_payment(conn, &row, &principal, payment, now)?;
            }
            dossiers::append_event(conn, &history_key, row.id, &stored::event(&handled.event))?;
            let row = dossiers::find(conn, row.id)?;
            Ok((row, procedure, handled.clock))
        })
    })
    .await??;
    let (row, procedure, clock) = done;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", row.version)))
        .json(view(&row, &procedure, clock.as_ref())?))
}

fn stale(current: i32) -> ApiError {
    ApiError::PreconditionFailed {
        detail: format!("the dossier has changed; its current version is {current}"),
    }
}

/// Like [`visible`], for actions: citizens act on their own dossiers only;
/// staff within their subtree.
fn visible_for_action(
    conn: &mut DbConnection,
    principal: &Principal,
    reference: &str,
) -> Result<DossierRow, ApiError> {
    let found = match reference.parse::<Id>() {
        Ok(id) => dossiers::find(conn, id),
        Err(_) => dossiers::find_by_code(conn, reference),
    };
    let row = match found {
        Ok(row) => row,
        Err(DbError::NotFound) => return Err(ApiError::NotFound),
        Err(other) => return Err(other.into()),
    };
    let allowed = match principal.kind {
        AccountKind::Citizen => row.owner_id == Some(principal.user_id),
        AccountKind::Staff => principal.reaches(&dossiers::agency_path(conn, &row)?),
    };
    if allowed {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// The role the principal acts in for `action`: the first of their roles the
/// action admits (or their first role, which the domain then refuses).
fn acting_role(principal: &Principal, action: Action) -> Role {
    principal
        .roles
        .iter()
        .copied()
        .find(|r| action.roles().contains(r))
        .or_else(|| principal.roles.first().copied())
        .unwrap_or(Role::Citizen)
}

macro_rules! action_routes {
    ($($name:ident: $path:literal => $body:ident, $command:path, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            #[utoipa::path(
                tag = "dossiers",
                security(("bearer" = [])),
                params(
                    ("id" = String, Path, description = "Dossier id or code"),
                    ("If-Match" = Option<String>, Header, description = "The dossier's current version, `\"<version>\"` (or send a `version` field in the body)"),
                ),
                request_body = $body,
                responses(
                    (status = 200, description = "The dossier after the action", body = DossierView),
                    (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Not possible in the dossier's state (code: the reason)", body = Problem, content_type = "application/problem+json"),
                    (status = 412, description = "Stale version", body = Problem, content_type = "application/problem+json"),
                    (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
                )
            )]
            #[post($path)]
            pub async fn $name(
                request: HttpRequest,
                principal: Principal,
                db: web::Data<Db>,
                clock: web::Data<Clock>,
                id: web::Path<String>,
                body: Body<$body>,
            ) -> Result<HttpResponse, ApiError> {
                let Body { value, version, .. } = body;
                act(request, principal, db, clock.now(), id.into_inner(), $command(value), version).await
            }
        )*
    };
}

/// The action endpoints, one per lifecycle action; each body is the
/// domain's command payload.
// actix's route macro makes a public unit struct per handler; expanded inside
// macro_rules, the lint no longer sees it as generated code.
#[allow(missing_debug_implementations)]
pub mod actions {
    use super::*;
    use motcua_domain::dossier::{
        Accept, Apologise, Complete, ExtendVerification, HandOver, Rate, RequestPayment,
        RequestSupplement, ReturnResult, Stop, Supply, Withdraw,
    };

    action_routes! {
        accept: "/dossiers/{id}/accept" => Accept, Command::Accept, "Accept a filed or completed dossier (clerk): the receipt is issued and the clock starts.";
        request_supplement: "/dossiers/{id}/request-supplement" => RequestSupplement, Command::RequestSupplement, "Ask for more documents (Form 02; clerk at intake, officer in processing).";
        supply: "/dossiers/{id}/supplement" => Supply, Command::Supply, "The missing documents arrive (owner or clerk).";
        refuse: "/dossiers/{id}/refuse" => Refuse, Command::Refuse, "Refuse at intake (Form 03; clerk).";
        hand_over: "/dossiers/{id}/handover" => HandOver, Command::HandOver, "Hand over to a step or unit (a control-slip row): name `to_step` or `to_agency_id`.";
        request_payment: "/dossiers/{id}/request-payment" => RequestPayment, Command::RequestPayment, "Ask the citizen to pay (officer); the clock pauses.";
        extend_verification: "/dossiers/{id}/extend-verification" => ExtendVerification, Command::ExtendVerification, "Extend for verification within the procedure's allowance (officer or leader).";
        apologise: "/dossiers/{id}/apology" => Apologise, Command::Apologise, "Apologise with a new appointment (Form 04; leader; once, at least one working day before the due time).";
        stop_processing: "/dossiers/{id}/stop" => Stop, Command::Stop, "Stop processing with a notice (leader).";
        complete: "/dossiers/{id}/complete" => Complete, Command::Complete, "Record the result (officer or leader); the clock stops.";
        return_result: "/dossiers/{id}/return" => ReturnResult, Command::Return, "Hand the result over (clerk).";
        withdraw: "/dossiers/{id}/withdraw" => Withdraw, Command::Withdraw, "Withdraw the dossier (owner or clerk).";
        rate: "/dossiers/{id}/rating" => Rate, Command::Rate, "Rate the service once, after the result (owner).";
    }
}

/// Headers of a signed payment-gateway callback.
pub const SIGNATURE_HEADER: &str = "x-motcua-signature";
/// The callback's Unix time, covered by the signature.
pub const TIMESTAMP_HEADER: &str = "x-motcua-timestamp";
/// How far a callback's timestamp may be from now.
const CALLBACK_WINDOW_SECS: u64 = 300;

/// What the gateway signs: the timestamp, the dossier's code, the amount in
/// đồng and the gateway's reference, one per line (docs/security.md has a
/// worked example). The signature is hex HMAC-SHA256 of these bytes, so a
/// callback for one dossier, amount or reference is worthless for another.
pub fn callback_message(
    timestamp: i64,
    dossier_code: &str,
    amount: i64,
    reference: &str,
) -> String {
    format!("{timestamp}\n{dossier_code}\n{amount}\n{reference}")
}

/// The gateway's signature of [`callback_message`] with `secret`, in hex.
pub fn callback_signature(
    secret: &str,
    timestamp: i64,
    dossier_code: &str,
    amount: i64,
    reference: &str,
) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(callback_message(timestamp, dossier_code, amount, reference).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn invalid_signature(detail: &str) -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_signature",
        detail: detail.into(),
    }
}

/// The callback's timestamp, if present and within five minutes of now.
fn callback_timestamp(request: &HttpRequest, now: DateTime<Utc>) -> Result<i64, ApiError> {
    let timestamp: i64 = request
        .headers()
        .get(TIMESTAMP_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| invalid_signature("missing or invalid timestamp"))?;
    if now.timestamp().abs_diff(timestamp) > CALLBACK_WINDOW_SECS {
        return Err(invalid_signature(
            "the timestamp is too old or in the future",
        ));
    }
    Ok(timestamp)
}

/// Constant-time comparison of the given signature with the expected one.
fn signature_matches(request: &HttpRequest, expected: &str) -> bool {
    let given = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The scope a payment reference is unique in: the gateway's in the whole
/// database, a desk's within the receiving agency.
fn payment_scope(row: &DossierRow, principal: &Principal) -> String {
    if principal.has_role(Role::PaymentGateway) {
        motcua_persistence::payments::GATEWAY.to_owned()
    } else {
        row.receiving_agency_id.to_string()
    }
}

fn already_recorded(reference: &str) -> ApiError {
    ApiError::Conflict {
        code: "payment_already_recorded",
        detail: format!("payment {reference} is already recorded"),
    }
}

/// 409 `payment_already_recorded` for a reference used before in its scope,
/// so a gateway's retry of a callback that was recorded gets this answer
/// whatever the dossier's state now.
fn unused_reference(
    conn: &mut DbConnection,
    row: &DossierRow,
    principal: &Principal,
    reference: &str,
) -> Result<(), ApiError> {
    let scope = payment_scope(row, principal);
    if motcua_persistence::payments::recorded(conn, &scope, reference.trim())? {
        return Err(already_recorded(reference));
    }
    Ok(())
}

/// Records the payment's row in the action's transaction. The reference is
/// unique in its scope in the database, so of two concurrent requests with
/// one reference the second gets 409 `payment_already_recorded`.
fn store_payment(
    conn: &mut DbConnection,
    row: &DossierRow,
    principal: &Principal,
    payment: &RecordPayment,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let scope = payment_scope(row, principal);
    let method = payment
        .method
        .map(|m| stored::to_text(&m))
        .unwrap_or_default();
    let recorded = motcua_persistence::payments::record(
        conn,
        &motcua_persistence::payments::NewPayment {
            dossier_id: row.id,
            scope: &scope,
            reference: &payment.reference,
            amount: payment.amount,
            method: &method,
            recorded_by: (!principal.user_id.0.is_nil()).then_some(principal.user_id),
        },
        now,
    );
    match recorded {
        // Recorded by a concurrent request since the check.
        Err(DbError::Conflict(_)) => Err(already_recorded(&payment.reference)),
        other => Ok(other?),
    }
}

/// Record a payment: `{amount, method, reference}`. Desk payments (`cash`,
/// `transfer`) by a clerk in reach; online payments only by the payment
/// gateway's signed callback: headers `X-Motcua-Timestamp` (Unix time) and
/// `X-Motcua-Signature` (hex HMAC-SHA256 over
/// `<timestamp>\n<dossier code>\n<amount>\n<reference>` with the configured
/// secret). The amount must equal the fee requested (409
/// `payment_amount_mismatch`; a signed callback refused for its amount or
/// because nothing is awaited is kept for the desk, see `rejected_payments`
/// on the dossier). A reference is recorded once in the whole database (409
/// `payment_already_recorded`). Citizens cannot record payments (403).
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = []), ()),
    params(
        ("id" = String, Path, description = "Dossier id or code"),
        ("x-motcua-signature" = Option<String>, Header, description = "Gateway callbacks: hex HMAC-SHA256 of `<timestamp>\\n<dossier code>\\n<amount>\\n<reference>`"),
        ("x-motcua-timestamp" = Option<i64>, Header, description = "Gateway callbacks: Unix time"),
    ),
    request_body = RecordPayment,
    responses(
        (status = 200, description = "The dossier after the payment", body = DossierView),
        (status = 401, description = "No token, or a bad or stale signature", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Citizens and other roles may not record payments", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not awaiting payment, a different amount than requested, or the reference is already recorded", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/dossiers/{id}/payments")]
pub async fn record_payment(
    request: HttpRequest,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    secret: web::Data<PaymentSecret>,
    id: web::Path<String>,
    raw: web::Json<Box<serde_json::value::RawValue>>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    if !request.headers().contains_key(SIGNATURE_HEADER) {
        use actix_web::FromRequest;
        // Who asks comes first (401 before 422). Citizens, and staff without
        // the clerk's role, are refused by the lifecycle (403) once the
        // dossier is found in reach.
        let principal = Principal::extract(&request).await?;
        let body = Body::<RecordPayment>::read(raw.into_inner())?;
        let command = Command::RecordPayment(body.value);
        return act(
            request,
            principal,
            db,
            now,
            id.into_inner(),
            command,
            body.version,
        )
        .await;
    }
    let Body {
        value: mut payment,
        version,
        ..
    } = Body::<RecordPayment>::read(raw.into_inner())?;

    // A gateway callback: verified against the dossier it names before anything else.
    let secret = secret.0.clone().ok_or_else(|| {
        invalid_signature("payment callbacks are not configured (MOTCUA_PAYMENT_SECRET)")
    })?;
    let timestamp = callback_timestamp(&request, now)?;
    let reference = id.into_inner();
    let reader = db.get_ref().clone();
    let found = web::block(move || {
        reader.run(|conn| match reference.parse::<Id>() {
            Ok(id) => dossiers::find(conn, id),
            Err(_) => dossiers::find_by_code(conn, &reference),
        })
    })
    .await?;
    // An unknown dossier cannot have a valid signature: the same 401, so an
    // unsigned caller learns nothing about which codes exist.
    let row = found.map_err(|error| match error {
        DbError::NotFound => invalid_signature("the signature does not match"),
        other => other.into(),
    })?;
    let expected = callback_signature(
        secret.expose(),
        timestamp,
        &row.code,
        payment.amount,
        &payment.reference,
    );
    if !signature_matches(&request, &expected) {
        return Err(invalid_signature("the signature does not match"));
    }
    payment.method = Some(PaymentMethod::Online);
    let gateway = Principal {
        user_id: Id(uuid::Uuid::nil()),
        kind: AccountKind::Staff,
        roles: vec![Role::PaymentGateway],
        agency_id: None,
        agency_path: Some("/".into()),
    };
    // The gateway does not track versions: it acts on the current one, and
    // when another change lands in between (412), on the next one.
    let mut current = row.version;
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        let outcome = act(
            request.clone(),
            gateway.clone(),
            db.clone(),
            now,
            row.id.to_string(),
            Command::RecordPayment(payment.clone()),
            version.or(Some(current)),
        )
        .await;
        if version.is_some()
            || attempts == 3
            || !matches!(outcome, Err(ApiError::PreconditionFailed { .. }))
        {
            break outcome;
        }
        let (reader, id) = (db.get_ref().clone(), row.id);
        current = web::block(move || reader.run(|conn| dossiers::find(conn, id)))
            .await?
            .map_err(ApiError::from)?
            .version;
    };
    if let Err(ApiError::Conflict { code, .. }) = &outcome
        && matches!(
            *code,
            "payment_amount_mismatch" | "illegal_transition" | "fee_already_paid"
        )
    {
        // Money arrived that the dossier did not expect: kept for the desk
        // to follow up (refund or ask for the difference).
        let (reason, db) = (*code, db.get_ref().clone());
        let kept = web::block(move || {
            db.write(|conn| {
                let procedure = procedures::find(conn, row.procedure_id)?;
                let expected_fee = match (definition(&procedure), load(&row)) {
                    (Ok(definition), Ok(dossier)) => dossier.fee_due(&definition),
                    _ => None,
                };
                motcua_persistence::payments::reject(
                    conn,
                    row.id,
                    &payment.reference,
                    payment.amount,
                    expected_fee,
                    reason,
                    now,
                )
                .map_err(ApiError::from)
            })
        })
        .await?;
        if let Err(error) = kept {
            tracing::error!(%error, "a refused payment callback could not be kept");
        }
    }
    outcome
}

/// The secret that signs payment-gateway callbacks (none: callbacks refused).
#[derive(Debug, Clone, Default)]
pub struct PaymentSecret(pub Option<crate::settings::Secret>);

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example in docs/security.md is what the server computes.
    #[test]
    fn the_documented_callback_example_holds() {
        let signature = callback_signature(
            "gateway-secret-example",
            1_793_676_600,
            "000.01.00.H01-261103-0001",
            15_000,
            "GW-20261103-7781",
        );
        assert_eq!(
            signature,
            "150e10e66d7c81bd2216708a125d0d2b34e79c461fff5899b383f096b8836b16"
        );
        let documented = include_str!("../../../../docs/security.md");
        assert!(documented.contains(&signature));
    }
}
