//! The dossier aggregate in and out of its row: [`aggregate`] reads the
//! domain's [`Dossier`] from a stored row, [`changes`] gives the columns a
//! change writes, [`new_row`] the row of a new dossier and [`event`] the
//! history's record of an event. The API and `gen-data` both store
//! dossiers through these, so what one writes the other reads.

use chrono::{DateTime, Utc};
use motcua_domain::clock::ClockEvent;
use motcua_domain::dossier::{Dossier, Event, Particulars};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dossiers::{DossierChanges, DossierRow, NewDossier, NewEvent};
use crate::error::DbError;
use crate::sql_types::{AgencyId, DossierGroupId, DossierId, ProcedureId, UserId, to_db_time};

/// A stored part of a dossier that does not read as its type (written by
/// hand, or by a release before the part was typed).
#[derive(Debug, thiserror::Error)]
#[error("its stored {part} cannot be read: {error}")]
pub struct Unreadable {
    /// Which part: `record`, `legal clock`, `state`, …
    pub part: &'static str,
    /// Why.
    pub error: String,
}

fn unreadable(part: &'static str) -> impl Fn(serde_json::Error) -> Unreadable {
    move |error| Unreadable {
        part,
        error: error.to_string(),
    }
}

/// A snake_case enum from its stored text.
pub fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
}

/// The applicant, documents and side records.
pub fn particulars(row: &DossierRow) -> Result<Particulars, Unreadable> {
    serde_json::from_str(&row.details).map_err(unreadable("record"))
}

/// The clock's ledger.
pub fn ledger(row: &DossierRow) -> Result<Vec<ClockEvent>, Unreadable> {
    serde_json::from_str(&row.clock_events).map_err(unreadable("legal clock"))
}

/// The dossier of a stored row.
pub fn aggregate(row: &DossierRow) -> Result<Dossier, Unreadable> {
    let utc = |at: Option<chrono::NaiveDateTime>| at.map(|at| at.and_utc());
    Ok(Dossier {
        state: row.state,
        channel: row.channel,
        result_delivery: row.result_delivery,
        submitted_at: utc(row.submitted_at),
        acknowledged_at: utc(row.acknowledged_at),
        received_at: utc(row.received_at),
        accepted_at: utc(row.accepted_at),
        due_at: utc(row.due_at),
        finished_at: utc(row.finished_at),
        outcome: row.outcome,
        ledger: ledger(row)?,
        particulars: particulars(row)?,
    })
}

fn json<T: Serialize>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value)
        .map_err(|e| DbError::Query(diesel::result::Error::SerializationError(Box::new(e))))
}

/// The columns a change of `dossier` writes.
pub fn changes(dossier: &Dossier) -> Result<DossierChanges, DbError> {
    Ok(DossierChanges {
        state: dossier.state,
        details: json(&dossier.particulars)?,
        acknowledged_at: dossier.acknowledged_at.map(to_db_time),
        received_at: dossier.received_at.map(to_db_time),
        due_at: dossier.due_at.map(to_db_time),
        clock_events: json(&dossier.ledger)?,
        finished_at: dossier.finished_at.map(to_db_time),
        outcome: dossier.outcome,
        result_delivery: dossier.result_delivery,
        accepted_at: dossier.accepted_at.map(to_db_time),
    })
}

/// Who and where a new dossier belongs, beside the aggregate.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Its id.
    pub id: DossierId,
    /// Its code (empty: numbered when stored in bulk).
    pub code: String,
    /// The receiving agency.
    pub agency_id: AgencyId,
    /// The agency that decides it, where another than the receiving agency
    /// (`None`: the receiving agency).
    pub resolving_agency_id: Option<AgencyId>,
    /// The filing of a procedure group that opens it, if any.
    pub group_id: Option<DossierGroupId>,
    /// The national portal's code, for a filing made there.
    pub portal_code: Option<String>,
    /// The clerk who filed it online for the citizen at the desk.
    pub assisted_by: Option<UserId>,
    /// The procedure version.
    pub procedure_id: ProcedureId,
    /// The citizen's account (online filings).
    pub owner_id: Option<UserId>,
    /// Online: by when the desk must acknowledge it.
    pub ack_due_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// The row of a new dossier at its `version` (1 for one just opened).
pub fn new_row(place: Placement, dossier: &Dossier, version: i32) -> Result<NewDossier, DbError> {
    let columns = changes(dossier)?;
    let applicant = dossier.particulars.applicant.as_ref();
    Ok(NewDossier {
        id: place.id,
        code: place.code,
        receiving_agency_id: place.agency_id,
        procedure_id: place.procedure_id,
        owner_id: place.owner_id,
        channel: dossier.channel,
        state: columns.state,
        version,
        applicant_name: applicant.map(|a| a.full_name.clone()).unwrap_or_default(),
        applicant_phone: applicant.map(|a| a.phone.clone()).unwrap_or_default(),
        details: columns.details,
        result_delivery: columns.result_delivery,
        submitted_at: dossier.submitted_at.map(to_db_time),
        ack_due_at: place.ack_due_at.map(to_db_time),
        acknowledged_at: columns.acknowledged_at,
        received_at: columns.received_at,
        due_at: columns.due_at,
        clock_events: columns.clock_events,
        finished_at: columns.finished_at,
        outcome: columns.outcome,
        created_at: to_db_time(place.created_at),
        updated_at: to_db_time(place.created_at),
        accepted_at: columns.accepted_at,
        history_head: String::new(),
        history_events: 0,
        // Unnamed: the receiving agency resolves it (Form 06 counts there).
        resolving_agency_id: Some(place.resolving_agency_id.unwrap_or(place.agency_id)),
        group_id: place.group_id,
        portal_code: place.portal_code,
        assisted_by: place.assisted_by,
    })
}

/// The history's record of `event`.
pub fn event(event: &Event) -> NewEvent {
    NewEvent {
        at: event.at,
        actor_id: event.actor.id.map(UserId),
        actor_role: event.actor.role.as_str().into(),
        action: event.action().into(),
        state_before: event.from,
        state_after: event.to,
        payload: event.payload(),
    }
}

/// The history's record of a dossier's arrival: the event's payload with
/// the procedure version it was received under and, for an online filing a
/// clerk made for the citizen at the desk, the clerk (`assisted_by`: the
/// event's actor is the citizen, whose account filed).
pub fn opening_event(
    event: &Event,
    procedure_code: &str,
    procedure_version: i32,
    assisted_by: Option<UserId>,
) -> NewEvent {
    let mut record = self::event(event);
    if let Ok(serde_json::Value::Object(mut payload)) = serde_json::from_str(&record.payload) {
        payload.insert("procedure_code".into(), procedure_code.into());
        payload.insert("procedure_version".into(), procedure_version.into());
        if let Some(clerk) = assisted_by {
            payload.insert("assisted_by".into(), clerk.to_string().into());
        }
        record.payload = serde_json::Value::Object(payload).to_string();
    }
    record
}
