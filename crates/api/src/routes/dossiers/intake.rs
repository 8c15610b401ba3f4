//! Online filing by citizens and desk or postal intake by clerks: the
//! dossier begins in the domain (`Dossier::open`) and takes the day's next
//! number in the same transaction.

use motcua_domain::agency::{AgencyKind, Decider, Placed, decider};
use motcua_domain::dossier::{Handled, MAX_ITEMS};
use motcua_domain::history::HistoryKey;
use motcua_persistence::DossierGroupId;

use super::actions::rejected;
use super::views::view;
use super::*;

/// Online filing by a citizen.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FileOnline {
    /// Procedure code.
    pub procedure_code: String,
    /// Receiving agency id.
    pub agency_id: String,
    /// The agency that decides it, where another than the receiving agency
    /// (a provincial department, the commune police, another commune of the
    /// province); absent: the receiving agency.
    pub resolving_agency_id: Option<String>,
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
    /// The agency that decides it, where another than the clerk's own (a
    /// provincial department, the commune police, another commune of the
    /// province: received regardless of administrative boundary); absent:
    /// the clerk's agency.
    pub resolving_agency_id: Option<String>,
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
pub(super) struct Checked {
    pub(super) applicant: Applicant,
    pub(super) documents: Vec<DocumentEntry>,
    pub(super) delivery: Delivery,
    pub(super) missing_mandatory: Vec<String>,
}

pub(super) fn check_filing(
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
    for (field, message) in motcua_domain::dossier::document_problems(documents) {
        fields.error(&field, message);
    }
    // Too many documents is one error, not one per document.
    let listed = documents.get(..MAX_ITEMS).unwrap_or(documents);
    for (i, document) in listed.iter().enumerate() {
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
            no_messages: applicant.no_messages,
        },
        documents: documents.to_vec(),
        delivery: delivery?,
        missing_mandatory,
    })
}

/// The procedure version in force today, or a 422 on `procedure_code`.
pub(super) fn procedure_in_force(
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
pub(super) enum Attempt {
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
pub(super) fn with_retries<T>(
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

/// What the dossiers of one online filing share.
pub(super) struct Filed<'a> {
    /// The citizen filing.
    pub(super) owner: UserId,
    /// The receiving agency.
    pub(super) agency: &'a agencies::Agency,
    /// Its working calendar.
    pub(super) calendar: &'a WorkingCalendar,
    /// The key the histories are hashed under.
    pub(super) history_key: &'a HistoryKey,
    /// Where to post results.
    pub(super) postal_address: Option<&'a str>,
    /// The group's filing, if any.
    pub(super) group_id: Option<DossierGroupId>,
    /// The national portal's code, for a filing made there.
    pub(super) portal_code: Option<String>,
    /// The clerk who files it for the citizen at the desk.
    pub(super) assisted_by: Option<UserId>,
    /// Now.
    pub(super) at: DateTime<Utc>,
}

/// Opens a dossier filed online (`Dossier::open`), numbers it at the
/// receiving agency and stores it with its `files`, in the filing's write
/// transaction (the day's counter row stays locked until the commit).
pub(super) fn file_one(
    conn: &mut DbConnection,
    filed: &Filed<'_>,
    (procedure, definition): (&ProcedureRow, &ProcedureDefinition),
    checked: Checked,
    files: &[FileId],
    resolving: Option<AgencyId>,
) -> Result<DossierRow, Attempt> {
    let ack_due = acknowledgement_due(filed.calendar, filed.at)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let particulars = Particulars {
        applicant: Some(checked.applicant),
        documents: checked.documents,
        postal_address: filed.postal_address.map(str::to_owned),
        online_kind: stored::from_text(&procedure.online_kind).ok(),
        ..Particulars::default()
    };
    let citizen = Actor {
        id: Some(filed.owner.0),
        role: Role::Citizen,
    };
    let context = Context {
        procedure: definition,
        calendar: filed.calendar,
        at: filed.at,
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
        id: DossierId::new(),
        code: next_code(conn, filed.agency, filed.at)?,
        agency_id: filed.agency.id,
        resolving_agency_id: resolving,
        group_id: filed.group_id,
        portal_code: filed.portal_code.clone(),
        assisted_by: filed.assisted_by,
        procedure_id: procedure.id,
        owner_id: Some(filed.owner),
        ack_due_at: Some(ack_due),
        created_at: filed.at,
    };
    Ok(store_opened(
        conn,
        filed.history_key,
        place,
        &opened,
        procedure,
        files,
    )?)
}

/// Stores a dossier just opened at `place`: its row with its first event,
/// its side records and its files (inside the filing's write transaction).
fn store_opened(
    conn: &mut DbConnection,
    history_key: &HistoryKey,
    place: Placement,
    opened: &Handled,
    procedure: &ProcedureRow,
    files: &[FileId],
) -> Result<DossierRow, DbError> {
    let event = stored::opening_event(
        &opened.event,
        &procedure.code,
        procedure.version,
        place.assisted_by,
    );
    let new = stored::new_row(place, &opened.dossier, 1)?;
    let row = dossiers::insert(conn, history_key, &new, &event)?;
    records::store(
        conn,
        row.id,
        row.receiving_agency_id,
        &Particulars::default(),
        &opened.dossier.particulars,
    )?;
    for file in files {
        motcua_persistence::files::attach(conn, row.id, *file)?;
    }
    Ok(row)
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
pub(super) fn request_hash(raw: &str) -> String {
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
pub(super) fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
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

/// The dossier a retry with `key` (and a body hashed to `hash`) was
/// answered with first, if it was sent before; 422 when the key came with
/// another body.
pub(super) fn replayed(
    conn: &mut DbConnection,
    owner: UserId,
    key: Option<&str>,
    hash: &str,
) -> Result<Option<DossierId>, Attempt> {
    let Some(key) = key else {
        return Ok(None);
    };
    match dossiers::idempotent(conn, owner, key)? {
        Some((stored, _)) if stored != hash => Err(ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            "was already used with another request body",
        )])
        .into()),
        Some((_, dossier)) => Ok(Some(dossier)),
        None => Ok(None),
    }
}

/// The receiving agency an online filing names (a field error on
/// `agency_id` if there is none such, or it was merged away).
pub(super) fn receiving_agency(
    conn: &mut DbConnection,
    fields: &mut Fields,
    named: &str,
) -> Result<Option<agencies::Agency>, Attempt> {
    match named
        .parse::<AgencyId>()
        .ok()
        .map(|id| agencies::find(conn, id))
    {
        Some(Ok(agency)) if agencies::merged_away(conn, &agency.path)? => {
            fields.error("agency_id", MERGED_AWAY);
            Ok(None)
        }
        Some(Ok(agency)) => Ok(Some(agency)),
        Some(Err(DbError::NotFound)) | None => {
            fields.error("agency_id", "no such agency");
            Ok(None)
        }
        Some(Err(other)) => Err(other.into()),
    }
}

/// The uploaded files of an online filing's `documents`: each document is
/// one of the filer's uploads, and none of the mandatory ones is missing
/// (field errors otherwise).
pub(super) fn uploaded(
    conn: &mut DbConnection,
    fields: &mut Fields,
    filer: &Principal,
    documents: &[DocumentEntry],
    checked: Option<&Checked>,
) -> Result<Vec<FileId>, Attempt> {
    for (i, document) in documents.iter().enumerate() {
        if document.file_id.is_none() {
            fields.error(
                &format!("documents[{i}].file_id"),
                "an online filing attaches each document as an uploaded file",
            );
        }
    }
    missing_mandatory(fields, checked);
    match attachable(conn, filer, &files_of(documents)) {
        Ok(files) => Ok(files),
        Err(ApiError::Validation(errors)) => {
            for error in errors {
                fields.error(&error.field, error.message);
            }
            Ok(Vec::new())
        }
        Err(other) => Err(other.into()),
    }
}

/// An online filing must carry every mandatory document: a field error on
/// `documents` for each one missing.
pub(super) fn missing_mandatory(fields: &mut Fields, checked: Option<&Checked>) {
    for code in checked.iter().flat_map(|c| &c.missing_mandatory) {
        fields.error(
            "documents",
            format!("the mandatory document `{code}` is missing"),
        );
    }
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
    caches: web::Data<Caches>,
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
    let by = Online {
        owner: principal.user_id,
        filer: principal,
        assisted_by: None,
    };
    filed_online(
        db.get_ref().clone(),
        caches,
        history_key,
        by,
        body.value,
        key,
        hash,
        now,
    )
    .await
}

/// The citizen at the desk confirms an assisted filing with their own
/// account's credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitizenConfirmation {
    /// The citizen's username (their personal ID).
    pub username: String,
    /// Their password, typed by the citizen.
    pub password: String,
}

/// An online filing a clerk makes for a citizen at the desk.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistedFiling {
    /// The citizen's confirmation.
    pub citizen: CitizenConfirmation,
    /// The filing, as the citizen would make it (its documents uploaded by
    /// the clerk or by the citizen).
    pub filing: FileOnline,
}

/// File online for a citizen at the desk (clerks): the dossier is the
/// citizen's online filing, made through their account with their
/// confirmation (their password), at the clerk's agency or below; it is
/// recorded as assisted by the clerk (`assisted_by`), and the reports count
/// it apart from the filings citizens make alone. A username and password
/// that do not match: 422 on `citizen`, nothing filed; attempts count
/// against the citizen's account as logins do.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    request_body = AssistedFiling,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 200 printable ASCII characters (otherwise 422)")),
    responses(
        (status = 201, description = "Filed", body = FilingReceipt),
        (status = 422, description = "Invalid filing, the citizen did not confirm, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many confirmations failed for this account or address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/dossiers/assisted")]
#[allow(clippy::too_many_arguments)]
pub async fn file_assisted(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    caches: web::Data<Caches>,
    clock: web::Data<Clock>,
    history_keys: web::Data<HistoryKeys>,
    passwords: web::Data<crate::auth::Passwords>,
    throttle: web::Data<crate::auth::LoginThrottle>,
    body: Body<AssistedFiling>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    if !principal.has_role(Role::Clerk) {
        return Err(ApiError::Forbidden);
    }
    let key = idempotency_key(&request)?;
    let hash = request_hash(body.raw.get());
    let AssistedFiling { citizen, filing } = body.value;
    // At the clerk's desk: an agency they reach.
    let desk = principal.agency_path.clone().unwrap_or_default();
    let (db, username) = (db.get_ref().clone(), citizen.username.trim().to_owned());
    let (reader, agency_id) = (db.clone(), filing.agency_id.clone());
    let at_desk = web::block(move || {
        reader.run(|conn| {
            Ok::<_, DbError>(match agency_id.parse::<AgencyId>() {
                Ok(id) => match agencies::find(conn, id) {
                    Ok(agency) => agency.path.starts_with(&desk),
                    Err(DbError::NotFound) => true,
                    Err(other) => return Err(other),
                },
                Err(_) => true,
            })
        })
    })
    .await??;
    if !at_desk {
        return Err(ApiError::Validation(vec![FieldError::new(
            "filing.agency_id",
            "is not an agency of your desk",
        )]));
    }
    // Counted like a login before the password is hashed.
    let address = crate::client::address(&request);
    let (counts, who, from, limits) = (
        db.clone(),
        username.clone(),
        address.clone(),
        throttle.clone(),
    );
    web::block(move || limits.reserve(&counts, &who, &from, Utc::now())).await??;
    let (reader, name) = (db.clone(), username.clone());
    let found = web::block(move || {
        reader.run(|conn| motcua_persistence::users::find_by_username(conn, &name))
    })
    .await??;
    let stored = found.as_ref().map(|u| u.password_hash.clone());
    let matches = passwords.verify_bounded(citizen.password, stored).await?;
    let owner = match found {
        Some(user) if matches && user.active && user.kind == AccountKind::Citizen.as_str() => {
            user.id
        }
        _ => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "citizen",
                "the citizen's username and password do not match",
            )]));
        }
    };
    let counts = db.clone();
    web::block(move || throttle.succeeded(&counts, &username, &address, Utc::now())).await??;
    let by = Online {
        owner,
        assisted_by: Some(principal.user_id),
        filer: principal,
    };
    filed_online(
        db,
        caches,
        history_keys.current().clone(),
        by,
        filing,
        key,
        hash,
        now,
    )
    .await
}

/// Who files online: the citizen who owns the dossier, the account whose
/// uploads it attaches (the citizen's, or the assisting clerk's), and the
/// clerk who assists, if any.
struct Online {
    owner: UserId,
    filer: Principal,
    assisted_by: Option<UserId>,
}

/// Files `filing` online as `by` says, idempotently under `key`: 201 with
/// the receipt.
#[allow(clippy::too_many_arguments)]
async fn filed_online(
    db: Db,
    caches: web::Data<Caches>,
    history_key: HistoryKey,
    by: Online,
    filing: FileOnline,
    key: Option<String>,
    hash: String,
    now: DateTime<Utc>,
) -> Result<HttpResponse, ApiError> {
    let Online {
        owner,
        filer,
        assisted_by,
    } = by;
    let receipt = web::block(move || {
        with_retries(&db, |conn| {
            if let Some(dossier) = replayed(conn, owner, key.as_deref(), &hash)? {
                let row = dossiers::find(conn, dossier)?;
                let procedure = caches.fresh(conn)?.procedure(conn, row.procedure_id)?;
                return Ok((receipt_of(&row, &procedure.code), false));
            }
            let (procedure, definition) = procedure_in_force(conn, &filing.procedure_code, now)?;
            let mut fields = Fields::default();
            if procedure.online_kind == "none" {
                fields.error("procedure_code", "this procedure cannot be filed online");
            }
            let agency = receiving_agency(conn, &mut fields, &filing.agency_id)?;
            let checked = check_filing(
                now,
                &mut fields,
                &definition,
                &filing.applicant,
                &filing.documents,
                filing.result_delivery,
                filing.postal_address.as_deref(),
            );
            let files = uploaded(
                conn,
                &mut fields,
                &filer,
                &filing.documents,
                checked.as_ref(),
            )?;
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
                    owner,
                    agency: &agency,
                    calendar: &calendar,
                    history_key: &history_key,
                    postal_address: filing.postal_address.as_deref(),
                    group_id: None,
                    portal_code: None,
                    assisted_by,
                    at: now,
                },
                (&procedure, &definition),
                checked,
                &files,
                resolving,
            )?;
            if let Some(key) = &key {
                dossiers::remember_key(conn, owner, key, &hash, row.id, now)?;
            }
            Ok((receipt_of(&row, &procedure.code), true))
        })
    })
    .await??;
    let (receipt, _created) = receipt;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/dossiers/{}", receipt.id)))
        .json(receipt))
}

pub(super) fn receipt_of(row: &DossierRow, procedure_code: &str) -> FilingReceipt {
    FilingReceipt {
        id: row.id.to_string(),
        code: row.code.clone(),
        status: State::Submitted,
        submitted_at: row.submitted_at.map(utc),
        ack_due_at: row.ack_due_at.map(utc),
        procedure_code: procedure_code.to_owned(),
        agency_id: row.receiving_agency_id.to_string(),
    }
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
    caches: web::Data<Caches>,
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
            let agency = agencies::find(conn, agency_id)?;
            if agencies::merged_away(conn, &agency.path)? {
                return Err(crate::routes::agencies::merged().into());
            }
            let resolving = resolving_agency(conn, &mut fields, "resolving_agency_id", intake.resolving_agency_id.as_deref(), &agency, &definition)?;
            fields.finish()?;
            let Some(checked) = checked else {
                return Err(ApiError::Internal("validated intake incomplete".into()).into());
            };
            let calendar = caches.fresh(conn)?.calendar(conn, agency.id)?;
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
            // The day's counter row stays locked until the commit: taken last.
            let code = next_code(conn, &agency, now)?;
            let place = Placement { id: DossierId::new(), code, agency_id: agency.id, resolving_agency_id: resolving, group_id: None, portal_code: None, assisted_by: None, procedure_id: procedure.id, owner_id: None, ack_due_at: None, created_at: now };
            let row = store_opened(conn, &history_key, place, &opened, &procedure, &files)?;
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

/// The agency that decides a dossier of `definition` received at
/// `receiving`: the one named (`field`), which must be of the same
/// province; else, where the procedure's version says which kind of agency
/// decides it, the nearest of that kind in the province
/// (`agency::decider`; a tie or none is a field error asking the clerk to
/// name one). `None`: the receiving agency decides (the stored row then
/// names it).
pub(super) fn resolving_agency(
    conn: &mut DbConnection,
    fields: &mut Fields,
    field: &str,
    named: Option<&str>,
    receiving: &agencies::Agency,
    definition: &ProcedureDefinition,
) -> Result<Option<AgencyId>, ApiError> {
    let province = province_of(&receiving.path);
    let Some(named) = named else {
        let Some(kind) = definition.decided_by else {
            return Ok(None);
        };
        let mut candidates = Vec::new();
        for agency in agencies::of_kind_under(conn, province, kind.as_str())? {
            if !agencies::merged_away(conn, &agency.path)? {
                candidates.push(agency);
            }
        }
        fn place(a: &agencies::Agency) -> Placed<'_, AgencyId> {
            Placed {
                id: a.id,
                path: &a.path,
                kind: AgencyKind::parse(&a.kind).unwrap_or(AgencyKind::Unit),
            }
        }
        let placed: Vec<_> = candidates.iter().map(place).collect();
        return Ok(match decider(kind, place(receiving), &placed) {
            Decider::One(id) => Some(id),
            Decider::None => {
                fields.error(
                    field,
                    format!(
                        "the procedure is decided by an agency of kind `{}` and the province has none: name the agency that decides it",
                        kind.as_str()
                    ),
                );
                None
            }
            Decider::Several(ids) => {
                let names: Vec<&str> = candidates
                    .iter()
                    .filter(|a| ids.contains(&a.id))
                    .map(|a| a.name.as_str())
                    .collect();
                fields.error(
                    field,
                    format!("name the agency that decides it: {} can", names.join(", ")),
                );
                None
            }
        });
    };
    let Ok(id) = named.parse::<AgencyId>() else {
        fields.error(field, "must be an agency id");
        return Ok(None);
    };
    match agencies::find(conn, id) {
        Ok(agency) if province_of(&agency.path) != province => {
            fields.error(
                field,
                "must be an agency of the receiving agency's province",
            );
            Ok(None)
        }
        Ok(agency) if agencies::merged_away(conn, &agency.path)? => {
            fields.error(field, MERGED_AWAY);
            Ok(None)
        }
        Ok(agency) => Ok(Some(agency.id)),
        Err(DbError::NotFound) => {
            fields.error(field, "no such agency");
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}
