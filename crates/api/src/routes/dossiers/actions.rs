//! The lifecycle's actions, one endpoint each: the body is the domain's
//! command payload; [`act`] loads the dossier, asks `Dossier::handle` and
//! stores the new columns, the attached files, a payment's row and the
//! event in one transaction.
// actix's route macro makes a public unit struct per handler; expanded inside
// macro_rules, the lint no longer sees it as generated code.
#![allow(missing_debug_implementations)]

use super::payments::{already_recorded, unused_reference};
use super::views::view;
use super::*;
use motcua_domain::dossier::{
    Accept, Apologise, ApologyFault, Complete, ExtendVerification, HandOver, Rate, RequestPayment,
    RequestSupplement, ReturnResult, Stop, Supply, Withdraw,
};

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
    if let (Some(Some(header)), Some(field)) = (from_header, version)
        && header != field
    {
        return Err(ApiError::Validation(vec![FieldError::new(
            "version",
            format!("is {field}, but If-Match says {header}: send one version"),
        )]));
    }
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
pub(super) fn rejected(rejection: Rejection) -> ApiError {
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
pub(super) async fn act(
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
    let caches = request
        .app_data::<web::Data<Caches>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("no caches".into()))?;
    let db = db.get_ref().clone();
    let done = web::block(move || {
        db.write(|conn| {
            let (row, receiving_path) = reached(conn, &principal, &reference)?;
            if row.version != expected {
                return Err(stale(row.version));
            }
            let cached = caches.fresh(conn)?;
            let procedure = cached.procedure(conn, row.procedure_id)?;
            let definition = definition(&procedure)?;
            let calendar = cached.calendar(conn, row.receiving_agency_id)?;
            let dossier = load(&row)?;
            let action = command.action();
            // A role that may never take the action is refused first (403).
            if action.roles().contains(&acting_role(&principal, action)) {
                match &command {
                    Command::Apologise(apology) => owes_apology(
                        conn,
                        &principal,
                        (row.receiving_agency_id, &receiving_path),
                        &dossier,
                        apology.fault,
                        (&definition, &calendar, now),
                    )?,
                    _ => holds(conn, &principal, &receiving_path, &dossier)?,
                }
            }
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
            if let Some(Command::HandOver(handover)) = handled.event.command() {
                receivers_exist(conn, handover, &receiving_path)?;
            }
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
                stored::changes(&handled.dossier)?,
                now,
            )? {
                return Err(stale(row.version + 1));
            }
            for file in &files {
                motcua_persistence::files::attach(conn, row.id, *file)?;
            }
            let side = records::store(
                conn,
                row.id,
                row.receiving_agency_id,
                &dossier.particulars,
                &handled.dossier.particulars,
            );
            match (side, handled.event.command()) {
                // Recorded by a concurrent request since the check.
                (Err(DbError::Conflict(_)), Some(Command::RecordPayment(payment))) => {
                    return Err(already_recorded(&payment.reference));
                }
                (side, _) => side?,
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

/// 409 `not_at_fault` unless the staff member's agency owes the apology
/// (Form 04): for the desk's intake error, the receiving agency; for the
/// processing, the agency whose step ran over its budget by the most
/// (`Dossier::at_fault`), or, where no step did, the agency holding the
/// dossier.
fn owes_apology(
    conn: &mut DbConnection,
    principal: &Principal,
    (receiving, receiving_path): (AgencyId, &str),
    dossier: &Dossier,
    fault: ApologyFault,
    (definition, calendar, now): (&ProcedureDefinition, &WorkingCalendar, DateTime<Utc>),
) -> Result<(), ApiError> {
    if principal.kind != AccountKind::Staff {
        return Ok(());
    }
    let owing = match fault {
        ApologyFault::Intake => agencies::find(conn, receiving)?,
        ApologyFault::Processing => {
            let steps = dossier
                .steps(receiving.0, definition, calendar, now)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            match Dossier::at_fault(&steps, now) {
                Some(agency) => agencies::find(conn, AgencyId(agency))?,
                None => return holds(conn, principal, receiving_path, dossier),
            }
        }
    };
    if principal.reaches(&owing.path) {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: "not_at_fault",
        detail: format!("the lateness is {}'s: that agency apologises", owing.name),
    })
}

/// 422 unless the unit a hand-over names is an agency of the receiving
/// agency's province (at `receiving_path`) and the person a staff account
/// (the domain has checked that both are ids).
fn receivers_exist(
    conn: &mut DbConnection,
    handover: &HandOver,
    receiving_path: &str,
) -> Result<(), ApiError> {
    let mut fields = Fields::default();
    if let Some(id) = handover
        .to_agency_id
        .as_deref()
        .and_then(|id| id.parse().ok())
    {
        match agencies::find(conn, id) {
            Err(DbError::NotFound) => fields.error("to_agency_id", "is not an agency"),
            Ok(agency) if province_of(&agency.path) != province_of(receiving_path) => fields.error(
                "to_agency_id",
                "must be an agency of the receiving agency's province",
            ),
            Ok(agency) if agencies::merged_away(conn, &agency.path)? => {
                fields.error("to_agency_id", MERGED_AWAY);
            }
            other => drop(other?),
        }
    }
    if let Some(id) = handover
        .to_user_id
        .as_deref()
        .and_then(|id| id.parse().ok())
    {
        match motcua_persistence::users::find(conn, id) {
            Ok(user) if user.kind == "staff" && user.active => {}
            Ok(_) | Err(DbError::NotFound) => {
                fields.error("to_user_id", "is not an active staff account")
            }
            Err(other) => return Err(other.into()),
        }
    }
    fields.finish()
}

fn stale(current: i32) -> ApiError {
    ApiError::PreconditionFailed {
        detail: format!("the dossier has changed; its current version is {current}"),
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
                    ("If-Match" = String, Header, description = "The dossier's current version as its ETag, `\"<version>\"` (from `GET /dossiers/{id}` or the last action's answer); without it (or a `version` field in the body) the action is refused with 422"),
                ),
                request_body = $body,
                responses(
                    (status = 200, description = "The dossier after the action", body = DossierView),
                    (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Not possible in the dossier's state (code: the reason), or another agency's to do: `held_elsewhere` (the dossier is held by another agency: it acts until it hands the dossier back), `not_at_fault` (an apology owed by the agency at fault)", body = Problem, content_type = "application/problem+json"),
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

// The action endpoints, one per lifecycle action; each body is the
// domain's command payload.
action_routes! {
    accept: "/dossiers/{id}/accept" => Accept, Command::Accept, "Accept a filed or completed dossier (clerk): the receipt is issued and the clock starts.";
    request_supplement: "/dossiers/{id}/request-supplement" => RequestSupplement, Command::RequestSupplement, "Ask for more documents (Form 02; clerk at intake, officer in processing).";
    supply: "/dossiers/{id}/supplement" => Supply, Command::Supply, "The missing documents arrive (owner or clerk).";
    refuse: "/dossiers/{id}/refuse" => Refuse, Command::Refuse, "Refuse at intake (Form 03; clerk).";
    hand_over: "/dossiers/{id}/handover" => HandOver, Command::HandOver, "Hand over to a step or unit (a control-slip row): name `to_step` or `to_agency_id`.";
    request_payment: "/dossiers/{id}/request-payment" => RequestPayment, Command::RequestPayment, "Ask the citizen to pay (officer); the clock pauses.";
    extend_verification: "/dossiers/{id}/extend-verification" => ExtendVerification, Command::ExtendVerification, "Extend for verification within the procedure's allowance (officer or leader).";
    apologise: "/dossiers/{id}/apology" => Apologise, Command::Apologise, "Apologise with a new appointment (Form 04; leader; once, from when lateness is foreseeable until the result, late dossiers included).";
    stop_processing: "/dossiers/{id}/stop" => Stop, Command::Stop, "Stop processing with a notice (leader).";
    complete: "/dossiers/{id}/complete" => Complete, Command::Complete, "Record the result (officer or leader); the clock stops.";
    return_result: "/dossiers/{id}/return" => ReturnResult, Command::Return, "Hand the result over (clerk).";
    withdraw: "/dossiers/{id}/withdraw" => Withdraw, Command::Withdraw, "Withdraw the dossier (owner or clerk).";
    rate: "/dossiers/{id}/rating" => Rate, Command::Rate, "Rate the service once, after the result (owner).";
}
