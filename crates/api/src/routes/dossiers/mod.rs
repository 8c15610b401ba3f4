//! Dossiers over REST: online filing and desk intake ([`intake`]), every
//! action of the lifecycle ([`actions`]) and payments ([`payments`]), reads
//! with the live legal clock, the history and its audit ([`reads`]), and
//! what they answer ([`views`]).
//!
//! Handlers decide nothing the domain does not: each loads the dossier's
//! aggregate (`persistence::stored`), asks the domain (`Dossier::open`,
//! `Dossier::handle`) and stores what it returns — the dossier's columns
//! and its event — in one transaction, guarded by the dossier's version
//! (docs/architecture.md follows one action from HTTP to SQL).

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
use motcua_persistence::{
    AgencyId, Db, DbConnection, DbError, DossierId, FileId, UserId, agencies, records,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, ChainVerification, HistoryKeys, SubtreeVerification};
use crate::auth::{AccountKind, Principal};
use crate::body::Body;
use crate::cache::Caches;
use crate::clock::Clock;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::{Capability, province_of};
use crate::routes::access_log::{AccessRecorder, AccessedResource};
use crate::routes::catalogue::definition;
use crate::telemetry::RequestId;
use crate::validate::{self, Fields, Page, PageQuery};

pub mod actions;
pub mod groups;
pub mod intake;
pub mod payments;
pub mod portal;
pub mod reads;
pub mod views;

pub use payments::{PaymentSecret, SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_signature};
pub use views::{ClockView, DossierView};

// ---------------------------------------------------------------- documents

pub use motcua_domain::dossier::{Applicant, DocumentEntry, Particulars};

/// The field error for an agency that was merged into another.
const MERGED_AWAY: &str = "was merged into another agency, which takes its place";

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

/// The stored dossier as the domain's aggregate.
pub fn load(row: &DossierRow) -> Result<Dossier, ApiError> {
    stored::aggregate(row).map_err(unreadable_part(&row.code))
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
) -> Result<Vec<FileId>, ApiError> {
    let mut ids = Vec::new();
    let mut fields = Fields::default();
    for (field, file) in named {
        let Ok(id) = file.parse::<FileId>() else {
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

/// Finds a dossier by id or code that the principal may see (404 otherwise).
pub fn visible(
    conn: &mut DbConnection,
    principal: &Principal,
    reference: &str,
) -> Result<DossierRow, ApiError> {
    if principal.kind == AccountKind::Staff && principal.require(Capability::ReadDossiers).is_err()
    {
        return Err(ApiError::Forbidden);
    }
    in_reach(conn, principal, reference)
}

/// The dossier with this id or code, if it is the citizen's own or under
/// the staff member's agency (404 otherwise, so existence does not leak).
/// Also what actions use (the lifecycle then says who may act).
fn in_reach(
    conn: &mut DbConnection,
    principal: &Principal,
    reference: &str,
) -> Result<DossierRow, ApiError> {
    Ok(reached(conn, principal, reference)?.0)
}

/// [`in_reach`], with the receiving agency's path.
fn reached(
    conn: &mut DbConnection,
    principal: &Principal,
    reference: &str,
) -> Result<(DossierRow, String), ApiError> {
    let (row, path) = found(dossiers::find_with_path(conn, parse_reference(reference)))?;
    reaches(conn, principal, &row, &path)?;
    Ok((row, path))
}

/// 409 `held_elsewhere` unless the staff member's reach covers the agency
/// that holds the dossier now (the last it was handed to, else the
/// receiving agency at `receiving_path`): the agencies it passed through
/// read it, the one that holds it acts on it. Citizens and the payment
/// gateway act as the lifecycle lets them.
fn holds(
    conn: &mut DbConnection,
    principal: &Principal,
    receiving_path: &str,
    dossier: &Dossier,
) -> Result<(), ApiError> {
    if principal.kind != AccountKind::Staff {
        return Ok(());
    }
    let holder = match dossier.particulars.holder() {
        Some(id) => Some(agencies::find(conn, AgencyId(id))?),
        None => None,
    };
    let path = holder
        .as_ref()
        .map_or(receiving_path, |agency| &agency.path);
    if principal.reaches(path) {
        return Ok(());
    }
    let name = match holder {
        Some(agency) => agency.name,
        None => String::from("the receiving agency"),
    };
    Err(ApiError::Conflict {
        code: "held_elsewhere",
        detail: format!(
            "the dossier is with {name}: only its staff act on it until it is handed back"
        ),
    })
}

/// A dossier id or its code.
fn parse_reference(reference: &str) -> dossiers::DossierRef<'_> {
    match reference.parse::<DossierId>() {
        Ok(id) => dossiers::DossierRef::Id(id),
        Err(_) => dossiers::DossierRef::Code(reference),
    }
}

/// A dossier that is not there is a 404.
fn found<T>(result: Result<T, DbError>) -> Result<T, ApiError> {
    match result {
        Ok(found) => Ok(found),
        Err(DbError::NotFound) => Err(ApiError::NotFound),
        Err(other) => Err(other.into()),
    }
}

/// Whether the principal reaches the dossier, whose receiving agency has
/// `path` (404 if not, so existence does not leak): a citizen their own;
/// staff a dossier received under their agency, or handed to an agency
/// under it (reach = subtree ∪ handed to it; the sender keeps reading it).
fn reaches(
    conn: &mut DbConnection,
    principal: &Principal,
    row: &DossierRow,
    path: &str,
) -> Result<(), ApiError> {
    let allowed = match principal.kind {
        AccountKind::Citizen => row.owner_id == Some(principal.user_id),
        AccountKind::Staff => {
            principal.reaches(path)
                || dossiers::handed_to_paths(conn, row.id)?
                    .iter()
                    .any(|handed| principal.reaches(handed))
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// [`visible`] for `GET /dossiers/{id}`: the dossier with what the read
/// needs besides, in one statement ([`dossiers::find_for_read`]).
pub fn visible_for_read(
    conn: &mut DbConnection,
    principal: &Principal,
    reference: &str,
) -> Result<dossiers::ReadFound, ApiError> {
    if principal.kind == AccountKind::Staff && principal.require(Capability::ReadDossiers).is_err()
    {
        return Err(ApiError::Forbidden);
    }
    let read = found(dossiers::find_for_read(conn, parse_reference(reference)))?;
    reaches(conn, principal, &read.row, &read.path)?;
    Ok(read)
}
