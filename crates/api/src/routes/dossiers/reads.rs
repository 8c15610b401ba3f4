//! Reads: one dossier (staff reads go to the access log), lists, the
//! history, the explained due time and the audit of the hash chain.

use super::views::{RejectedPaymentView, view};
use super::*;

/// One dossier, by id or code, with its live legal clock. A staff member's
/// read (they see personal data) is recorded in the access log, not in the
/// dossier's history: the dossier is read, then the read is recorded (with
/// other reads of the moment, in one commit), and only then is the dossier
/// answered — a read that cannot be recorded answers an error, not the
/// data. Citizens reading their own dossier are not recorded.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dossier id or code")),
    responses(
        (status = 200, description = "The dossier", body = DossierView, headers(
            ("ETag" = String, description = "The dossier's version, `\"<version>\"`, to send as `If-Match` with an action"),
        )),
        (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers/{id}")]
pub async fn get_dossier(
    principal: Principal,
    request_id: RequestId,
    db: web::Data<Db>,
    caches: web::Data<Caches>,
    recorder: web::Data<AccessRecorder>,
    clock: web::Data<Clock>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    let (db, reference, reader) = (db.get_ref().clone(), id.into_inner(), principal.clone());
    let (view, row) = web::block(move || -> Result<_, ApiError> {
        // A plain read, no transaction: a report's snapshot settings and
        // its BEGIN and COMMIT are three round trips a dossier does not need.
        // One statement for the dossier, its reach, the cache stamps and
        // whether payments were refused (then one more reads them).
        let (row, procedure, calendar, rejected) = db.run(|conn| -> Result<_, ApiError> {
            let found = visible_for_read(conn, &principal, &reference)?;
            let row = found.row;
            let cached = caches.as_of(found.stamps);
            let procedure = cached.procedure(conn, row.procedure_id)?;
            let calendar = cached.calendar(conn, row.receiving_agency_id)?;
            let rejected = match principal.kind {
                AccountKind::Staff if found.refused_payments => {
                    motcua_persistence::payments::rejected_of(conn, row.id)?
                }
                _ => Vec::new(),
            };
            Ok((row, procedure, calendar, rejected))
        })?;
        Ok((read_view(&row, &procedure, &calendar, rejected, now)?, row))
    })
    .await??;
    recorder
        .record(&reader, &row, AccessedResource::Dossier, &request_id, now)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", view.version)))
        .json(view))
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
    query: crate::body::Query<DossierQuery>,
) -> Result<web::Json<Page<DossierSummary>>, ApiError> {
    let query = query.into_inner();
    let (limit, cursor) = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let after = cursor
        .map(|c| c.parse::<DossierId>())
        .transpose()
        .map_err(|_| {
            ApiError::Validation(vec![FieldError::new(
                "cursor",
                "is not a cursor from a previous page",
            )])
        })?;
    let mut fields = Fields::default();
    let state = query.status.as_deref().and_then(|status| {
        fields.check(
            "status",
            stored::from_text::<State>(status).map_err(|_| "is not a dossier state"),
        )
    });
    let channel = query.channel.as_deref().and_then(|channel| {
        fields.check(
            "channel",
            stored::from_text::<Channel>(channel).map_err(|_| "must be direct, postal or online"),
        )
    });
    let agency = query.agency_id.as_deref().and_then(|a| {
        fields.check(
            "agency_id",
            a.parse::<AgencyId>().map_err(|_| "must be an agency id"),
        )
    });
    fields.finish()?;
    let mut filter = dossiers::DossierFilter {
        state,
        procedure_code: query.procedure_code,
        channel,
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
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |(row, _)| row.id.to_string(),
        |(row, procedure_code)| DossierSummary {
            id: row.id.to_string(),
            code: row.code,
            status: row.state,
            procedure_code,
            channel: row.channel,
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
    pub state_before: Option<State>,
    /// State after.
    #[schema(value_type = State)]
    pub state_after: State,
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
    caches: web::Data<Caches>,
    clock: web::Data<Clock>,
    id: web::Path<String>,
) -> Result<web::Json<DeadlineView>, ApiError> {
    let now = clock.now();
    let (db, reference) = (db.get_ref().clone(), id.into_inner());
    let (row, procedure, calendar) = web::block(move || {
        db.run(|conn| -> Result<_, ApiError> {
            let row = visible(conn, &principal, &reference)?;
            let cached = caches.fresh(conn)?;
            let procedure = cached.procedure(conn, row.procedure_id)?;
            let calendar = cached.calendar(conn, row.receiving_agency_id)?;
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
    query: crate::body::Query<VerifyQuery>,
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
            .parse::<AgencyId>()
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
