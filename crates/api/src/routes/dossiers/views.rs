//! What the dossier routes answer: the dossier with its live legal clock.

use super::*;

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
    /// Receiving agency: where the citizen handed it in.
    pub agency_id: String,
    /// Resolving agency: who decides it (the receiving agency unless
    /// another was named at intake).
    pub resolving_agency_id: String,
    /// The agency that holds it now: the last it was handed to, else the
    /// receiving agency. Its staff act on it; agencies it passed through read it.
    pub holder_agency_id: String,
    /// The filing of an interconnected procedure group that opened it with
    /// its linked dossiers (`GET /dossier-groups/{id}`), if any.
    pub group_id: Option<String>,
    /// The national portal's code, for a filing made there
    /// (`POST /portal/filings`).
    pub portal_code: Option<String>,
    /// The clerk who filed it online for the citizen at the desk
    /// (`POST /dossiers/assisted`), if one did.
    pub assisted_by: Option<String>,
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

pub(super) fn view(
    row: &DossierRow,
    procedure: &ProcedureRow,
    clock: Option<&LegalClock>,
) -> Result<DossierView, ApiError> {
    let (particulars, record_readable) = match parse_details(row) {
        Ok(particulars) => (particulars, true),
        Err(_) => (Particulars::default(), false),
    };
    let state = row.state;
    Ok(DossierView {
        id: row.id.to_string(),
        code: row.code.clone(),
        status: state,
        portal_status: state.portal_code(),
        version: row.version,
        channel: row.channel,
        procedure_code: procedure.code.clone(),
        procedure_version: procedure.version,
        procedure_name: procedure.name.clone(),
        agency_id: row.receiving_agency_id.to_string(),
        resolving_agency_id: row
            .resolving_agency_id
            .unwrap_or(row.receiving_agency_id)
            .to_string(),
        holder_agency_id: particulars
            .holder()
            .map_or_else(|| row.receiving_agency_id.to_string(), |id| id.to_string()),
        group_id: row.group_id.map(|id| id.to_string()),
        portal_code: row.portal_code.clone(),
        assisted_by: row.assisted_by.map(|id| id.to_string()),
        applicant: particulars.applicant,
        documents: particulars.documents,
        result_delivery: row.result_delivery,
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
