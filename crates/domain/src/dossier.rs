//! The dossier as an aggregate: its typed record, the commands that change
//! it and the events they produce.
//!
//! [`Dossier::handle`] is the one way a dossier changes after it exists. It
//! takes a [`Command`] (whose payload is the request body an API client
//! sends), who acts, and the instant; it asks [`lifecycle::decide`] whether
//! the action is allowed, checks the payload, and returns either a
//! [`Rejection`] or the new dossier with its [`Event`] — the new state, the
//! acknowledgement, receipt and finish instants, the clock ledger, the due
//! time and the outcome. Nothing here reads a database or a clock: the
//! working calendar, the procedure version and "now" come in as arguments.
//! docs/architecture.md shows where this sits between HTTP and SQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::calendar::WorkingCalendar;
use crate::clock::{self, ClockError, ClockEvent, ClockInput, LegalClock, Outcome};
use crate::lifecycle::{Action, ClockEffect, DossierFacts, Refusal, Role, State, decide};
use crate::online::OnlineServiceKind;
use crate::procedure::{Delivery, Fee, ProcedureDefinition};

// ---------------------------------------------------------------- values

/// How the dossier reached the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Handed in at the desk.
    Direct,
    /// Sent by post.
    Postal,
    /// Filed on the portal.
    Online,
}

impl Channel {
    /// snake_case name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Direct => "direct",
            Channel::Postal => "postal",
            Channel::Online => "online",
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "direct" => Ok(Channel::Direct),
            "postal" => Ok(Channel::Postal),
            "online" => Ok(Channel::Online),
            other => Err(format!("`{other}` is not a channel")),
        }
    }
}

/// The applicant, as on the forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applicant {
    /// Full name.
    pub full_name: String,
    /// 12-digit personal ID, if given.
    pub national_id: Option<String>,
    /// Phone.
    pub phone: String,
    /// E-mail.
    pub email: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// The applicant asked for no e-mail or SMS about this dossier (the
    /// desk still hands over its papers; the portal still shows it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_messages: bool,
}

/// One document handed in (at the desk: originals and copies; online: an
/// uploaded file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentEntry {
    /// The procedure's requirement code, e.g. `TK`.
    pub requirement_code: String,
    /// Originals received (desk).
    #[serde(default)]
    pub originals: u32,
    /// Copies received (desk).
    #[serde(default)]
    pub copies: u32,
    /// Uploaded file (its id).
    pub file_id: Option<String>,
}

/// A document to add or correct (Form 02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingItem {
    /// The procedure's requirement code of the document to add or correct.
    /// Required when a request is made (422 without it, or with a code the
    /// procedure's version does not list); records stored before this rule
    /// may lack it.
    #[serde(default)]
    pub requirement_code: Option<String>,
    /// What the document is.
    pub name: String,
    /// What is wrong or missing.
    #[serde(default)]
    pub problem: String,
}

/// A rating's criteria, refusing one named twice (a JSON object may repeat
/// a key; the last would silently win).
fn criteria_once<'de, D: Deserializer<'de>>(
    input: D,
) -> Result<BTreeMap<String, Satisfaction>, D::Error> {
    struct Once;
    impl<'de> serde::de::Visitor<'de> for Once {
        type Value = BTreeMap<String, Satisfaction>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of criteria and their levels")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut criteria = BTreeMap::new();
            while let Some((name, level)) = map.next_entry::<String, Satisfaction>()? {
                if criteria.insert(name, level).is_some() {
                    return Err(serde::de::Error::custom("a criterion is named twice"));
                }
            }
            Ok(criteria)
        }
    }
    input.deserialize_map(Once)
}

/// The items of a supplement request. Records written before requests were
/// typed may list bare requirement codes (`["CM"]`): each reads as an item
/// named by its code.
fn missing_items<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<MissingItem>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listed {
        Item(MissingItem),
        Code(String),
    }
    Ok(Vec::<Listed>::deserialize(input)?
        .into_iter()
        .map(|listed| match listed {
            Listed::Item(item) => item,
            Listed::Code(code) => MissingItem {
                requirement_code: Some(code.clone()),
                name: code,
                problem: String::new(),
            },
        })
        .collect())
}

/// How a fee was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Cash at the desk.
    Cash,
    /// Bank transfer, confirmed at the desk.
    Transfer,
    /// Online, through the payment gateway (its signed callback).
    Online,
}

impl PaymentMethod {
    /// snake_case name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Transfer => "transfer",
            PaymentMethod::Online => "online",
        }
    }
}

/// The decision on the dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Granted.
    Approved,
    /// Denied (with reasons, in the result document).
    Denied,
}

/// A citizen's satisfaction (Decision 766's three levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    /// Rất hài lòng.
    VerySatisfied,
    /// Hài lòng.
    Satisfied,
    /// Không hài lòng.
    Dissatisfied,
}

impl Satisfaction {
    /// snake_case name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::VerySatisfied => "very_satisfied",
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::Dissatisfied => "dissatisfied",
        }
    }

    /// Whether the citizen was satisfied (Decision 766: any level but
    /// "dissatisfied").
    pub fn is_satisfied(self) -> bool {
        self != Satisfaction::Dissatisfied
    }
}

/// Whose fault the lateness an apology answers for is, and so who
/// apologises: the agency at fault (Form 04).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApologyFault {
    /// The processing: the agency's leader apologises.
    #[default]
    Processing,
    /// An error of the desk at intake (a document wrongly asked for or
    /// missed): the desk apologises, by its clerk or a leader.
    Intake,
}

impl ApologyFault {
    /// Whether the default, the processing's fault.
    pub fn is_processing(&self) -> bool {
        *self == ApologyFault::Processing
    }

    /// snake_case name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ApologyFault::Processing => "processing",
            ApologyFault::Intake => "intake",
        }
    }
}

// ---------------------------------------------------------------- commands

/// Accept a filed or completed dossier (clerk): the receipt is issued and
/// the clock starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accept {
    /// A note for the control slip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Ask for more documents (Form 02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestSupplement {
    /// Why.
    pub reason: String,
    /// What to add or correct.
    #[serde(deserialize_with = "missing_items")]
    pub items: Vec<MissingItem>,
}

/// The missing documents arrive (owner or clerk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Supply {
    /// The documents added.
    #[serde(default)]
    pub documents: Vec<DocumentEntry>,
    /// A note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Refuse at intake (Form 03).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refuse {
    /// Why.
    pub reason: String,
    /// The legal basis of the refusal.
    pub legal_basis: String,
}

/// Hand over to a processing step or a unit (a control-slip row): name
/// `to_step` or `to_agency_id` (422 on `to_step` otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandOver {
    /// The receiving step, as the procedure names it (e.g. `Thẩm định`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_step: Option<String>,
    /// The receiving unit (agency id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_agency_id: Option<String>,
    /// The receiving person (user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user_id: Option<String>,
    /// A note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Ask the citizen to pay a fee (officer); the clock pauses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestPayment {
    /// Đồng, a positive whole number.
    pub amount: i64,
    /// What for.
    pub reason: String,
}

/// A payment: at the desk (`cash` or `transfer`, by a clerk) or online (the
/// gateway's signed callback, whose method is always `online`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordPayment {
    /// Đồng: the fee due.
    pub amount: i64,
    /// How it was paid: `cash` or `transfer` for a desk payment (required
    /// there); the gateway's callbacks leave it out (always `online`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<PaymentMethod>,
    /// The receipt or the gateway's transaction reference (up to 100 characters).
    pub reference: String,
    /// A note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Extend for verification, within the procedure's allowance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExtendVerification {
    /// Working days.
    pub working_days: u32,
    /// Why.
    pub reason: String,
}

/// Apologise with a new appointment (Form 04): a leader, or the desk's
/// clerk for the desk's own intake error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Apologise {
    /// Why the dossier is late.
    pub reason: String,
    /// The new appointment, a future instant.
    pub new_appointment_at: DateTime<Utc>,
    /// Whose fault: `processing` (default) or `intake`.
    #[serde(default, skip_serializing_if = "ApologyFault::is_processing")]
    pub fault: ApologyFault,
}

/// Stop processing with a notice (leader).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stop {
    /// Why.
    pub reason: String,
}

/// Record the result; the clock stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Complete {
    /// Approved or denied.
    pub outcome: Verdict,
    /// The electronic result: ids of files the caller uploaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub result_files: Vec<String>,
    /// Whether the result is issued electronically.
    #[serde(default)]
    pub electronic_result: bool,
    /// A note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Hand the result over (clerk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnResult {
    /// How the result reached the citizen.
    pub delivery: Delivery,
    /// The postal tracking number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
}

/// Withdraw the dossier (owner or clerk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Withdraw {
    /// Why.
    pub reason: String,
}

/// Rate the service, once, after the result (owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rate {
    /// Overall.
    pub overall: Satisfaction,
    /// Per criterion (e.g. `thai_do`, `thoi_gian`), if given; each once.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "criteria_once"
    )]
    pub criteria: BTreeMap<String, Satisfaction>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What someone asks of a dossier: one lifecycle action with its payload
/// (serialised as the payload alone: the action is named beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Command {
    /// See [`Accept`].
    Accept(Accept),
    /// See [`RequestSupplement`].
    RequestSupplement(RequestSupplement),
    /// See [`Supply`].
    Supply(Supply),
    /// See [`Refuse`].
    Refuse(Refuse),
    /// See [`HandOver`].
    HandOver(HandOver),
    /// See [`RequestPayment`].
    RequestPayment(RequestPayment),
    /// See [`RecordPayment`].
    RecordPayment(RecordPayment),
    /// See [`ExtendVerification`].
    ExtendVerification(ExtendVerification),
    /// See [`Apologise`].
    Apologise(Apologise),
    /// See [`Stop`].
    Stop(Stop),
    /// See [`Complete`].
    Complete(Complete),
    /// See [`ReturnResult`].
    Return(ReturnResult),
    /// See [`Withdraw`].
    Withdraw(Withdraw),
    /// See [`Rate`].
    Rate(Rate),
}

impl Command {
    /// The lifecycle action it asks for.
    pub fn action(&self) -> Action {
        match self {
            Command::Accept(_) => Action::Accept,
            Command::RequestSupplement(_) => Action::RequestSupplement,
            Command::Supply(_) => Action::Supplement,
            Command::Refuse(_) => Action::Refuse,
            Command::HandOver(_) => Action::HandOver,
            Command::RequestPayment(_) => Action::RequestPayment,
            Command::RecordPayment(_) => Action::RecordPayment,
            Command::ExtendVerification(c) => Action::ExtendVerification {
                working_days: c.working_days,
            },
            Command::Apologise(_) => Action::Apologise,
            Command::Stop(_) => Action::Stop,
            Command::Complete(_) => Action::Complete,
            Command::Return(_) => Action::Return,
            Command::Withdraw(_) => Action::Withdraw,
            Command::Rate(_) => Action::Rate,
        }
    }

    /// The command an event of the history records: its action's name and
    /// its payload as [`Command::payload`] wrote it.
    pub fn from_stored(action: &str, payload: &str) -> Result<Command, serde_json::Error> {
        use serde_json::from_str as read;
        Ok(match action {
            "accept" => Command::Accept(read(payload)?),
            "request_supplement" => Command::RequestSupplement(read(payload)?),
            "supplement" => Command::Supply(read(payload)?),
            "refuse" => Command::Refuse(read(payload)?),
            "hand_over" => Command::HandOver(read(payload)?),
            "request_payment" => Command::RequestPayment(read(payload)?),
            "record_payment" => Command::RecordPayment(read(payload)?),
            "extend_verification" => Command::ExtendVerification(read(payload)?),
            "apologise" => Command::Apologise(read(payload)?),
            "stop" => Command::Stop(read(payload)?),
            "complete" => Command::Complete(read(payload)?),
            "return" => Command::Return(read(payload)?),
            "withdraw" => Command::Withdraw(read(payload)?),
            "rate" => Command::Rate(read(payload)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "`{other}` is not a command"
                )));
            }
        })
    }

    /// The payload as JSON text, as the event keeps it.
    pub fn payload(&self) -> String {
        // Plain structs of strings, numbers and maps with string keys:
        // serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The uploaded files it attaches to the dossier, with the field naming each.
    pub fn attached_files(&self) -> Vec<(String, &str)> {
        match self {
            Command::Supply(c) => c
                .documents
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    Some((format!("documents[{i}].file_id"), d.file_id.as_deref()?))
                })
                .collect(),
            Command::Complete(c) => c
                .result_files
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("result_files[{i}]"), f.as_str()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The uploaded files documents attach, each with its field
/// (`documents[i].file_id`).
pub fn files_of(documents: &[DocumentEntry]) -> Vec<(String, &str)> {
    documents
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((format!("documents[{i}].file_id"), d.file_id.as_deref()?)))
        .collect()
}

/// The most originals or copies of one document a desk receives.
pub const MAX_COPIES: u32 = 100;

/// What is wrong with documents as listed (each with its field): more than
/// [`MAX_ITEMS`] of them, or counts of originals or copies above
/// [`MAX_COPIES`].
pub fn document_problems(documents: &[DocumentEntry]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if documents.len() > MAX_ITEMS {
        problems.push((
            "documents".to_owned(),
            format!("at most {MAX_ITEMS} documents"),
        ));
        return problems;
    }
    for (i, document) in documents.iter().enumerate() {
        for (name, count) in [
            ("originals", document.originals),
            ("copies", document.copies),
        ] {
            if count > MAX_COPIES {
                problems.push((
                    format!("documents[{i}].{name}"),
                    format!("must be at most {MAX_COPIES}"),
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------- records

/// A side record of the lifecycle: what an action added to the dossier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A supplement request (at intake or in processing).
    SupplementRequest(RequestSupplement),
    /// The supplement that answered it.
    Supplement(Supply),
    /// A refusal at intake.
    Refusal(Refuse),
    /// A hand-over.
    Handover(HandOver),
    /// A fee requested.
    PaymentRequest(RequestPayment),
    /// A payment.
    Payment(RecordPayment),
    /// A verification extension.
    Extension(ExtendVerification),
    /// Processing stopped.
    Stop(Stop),
    /// The result.
    Result(Complete),
    /// The result handed over.
    Return(ReturnResult),
    /// The dossier withdrawn.
    Withdrawal(Withdraw),
}

/// A side record with when, by whom and in which role. Its schema (in
/// [`schema`]) names one component per kind, which client generators
/// handle better than a tagged union of inline parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// What.
    #[serde(flatten)]
    pub entry: Entry,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (a user id; none for the payment gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Uuid>,
    /// In which role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// The apology given (Form 04).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApologyRecord {
    /// Why the dossier is late.
    pub reason: String,
    /// Whose fault (records written before faults were recorded: the
    /// processing's). Left out when the processing's, so that what was
    /// stored before reads and writes the same.
    #[serde(default, skip_serializing_if = "ApologyFault::is_processing")]
    pub fault: ApologyFault,
    /// The new appointment.
    pub new_appointment_at: DateTime<Utc>,
    /// When it was given.
    pub at: DateTime<Utc>,
}

/// The citizen's rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatingRecord {
    /// Overall.
    pub overall: Satisfaction,
    /// Per criterion.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub criteria: BTreeMap<String, Satisfaction>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Everything kept about a dossier besides its indexed columns: the
/// applicant, the documents and the side records of the lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Particulars {
    /// The applicant.
    pub applicant: Option<Applicant>,
    /// Documents.
    #[serde(default)]
    pub documents: Vec<DocumentEntry>,
    /// Where to post the result.
    #[serde(default)]
    pub postal_address: Option<String>,
    /// Online filings: the procedure's online service when filed.
    #[serde(default)]
    pub online_kind: Option<OnlineServiceKind>,
    /// When a complete dossier arrived after an intake supplement request.
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Working days of verification extension granted so far.
    #[serde(default)]
    pub extension_days: u32,
    /// The apology, once.
    #[serde(default)]
    pub apology: Option<ApologyRecord>,
    /// The rating, once.
    #[serde(default)]
    pub rating: Option<RatingRecord>,
    /// Side records in order.
    #[serde(default)]
    pub records: Vec<Record>,
}

impl Particulars {
    /// The latest record whose entry `pick` accepts, with that entry's payload.
    fn last<'a, T>(
        &'a self,
        pick: impl Fn(&'a Entry) -> Option<&'a T>,
    ) -> Option<(&'a Record, &'a T)> {
        self.records
            .iter()
            .rev()
            .find_map(|r| pick(&r.entry).map(|t| (r, t)))
    }

    /// The latest supplement request.
    pub fn last_supplement_request(&self) -> Option<(&Record, &RequestSupplement)> {
        self.last(|e| match e {
            Entry::SupplementRequest(r) => Some(r),
            _ => None,
        })
    }

    /// The latest refusal.
    pub fn last_refusal(&self) -> Option<(&Record, &Refuse)> {
        self.last(|e| match e {
            Entry::Refusal(r) => Some(r),
            _ => None,
        })
    }

    /// The result, if it was a denial after appraisal.
    pub fn denial(&self) -> Option<(&Record, &Complete)> {
        self.last(|e| match e {
            Entry::Result(r) if r.outcome == Verdict::Denied => Some(r),
            _ => None,
        })
    }

    /// The latest stop notice.
    pub fn last_stop(&self) -> Option<(&Record, &Stop)> {
        self.last(|e| match e {
            Entry::Stop(r) => Some(r),
            _ => None,
        })
    }

    /// The hand-overs, in order.
    pub fn handovers(&self) -> impl Iterator<Item = (&Record, &HandOver)> {
        self.records.iter().filter_map(|r| match &r.entry {
            Entry::Handover(h) => Some((r, h)),
            _ => None,
        })
    }

    /// The agency that holds the dossier now: the last one it was handed
    /// to (none: it never left the receiving agency). Its staff act on the
    /// dossier; every agency it was handed to keeps reading it.
    pub fn holder(&self) -> Option<Uuid> {
        self.handovers()
            .filter_map(|(_, h)| h.to_agency_id.as_deref())
            .filter_map(|id| Uuid::parse_str(id).ok())
            .last()
    }

    /// Whether a payment is recorded.
    pub fn paid(&self) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r.entry, Entry::Payment(_)))
    }

    /// The amount of the latest fee request.
    pub fn requested_fee(&self) -> Option<i64> {
        self.last(|e| match e {
            Entry::PaymentRequest(r) => Some(r),
            _ => None,
        })
        .map(|(_, r)| r.amount)
    }
}

// ---------------------------------------------------------------- aggregate

/// A dossier: what the lifecycle and the legal clock need to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dossier {
    /// Where it stands.
    pub state: State,
    /// How it arrived.
    pub channel: Channel,
    /// How the result reaches the citizen.
    pub result_delivery: Delivery,
    /// Online: when the portal received the filing.
    pub submitted_at: Option<DateTime<Utc>>,
    /// Online: when the desk acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The receipt of the complete dossier: the clock's raw start.
    pub received_at: Option<DateTime<Utc>>,
    /// When the desk accepted it.
    pub accepted_at: Option<DateTime<Utc>>,
    /// The legal due time (from the clock).
    pub due_at: Option<DateTime<Utc>>,
    /// When the result was ready, processing stopped, or it was refused or
    /// withdrawn with its clock running.
    pub finished_at: Option<DateTime<Utc>>,
    /// The result's classification.
    pub outcome: Option<Outcome>,
    /// The clock's ledger: pauses, resumptions, restarts, extensions, stop.
    pub ledger: Vec<ClockEvent>,
    /// Applicant, documents and side records.
    pub particulars: Particulars,
}

/// One step of processing (a control-slip row): see [`Dossier::steps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingStep<'a> {
    /// The hand-over that began it: when, by whom.
    pub record: &'a Record,
    /// Where it went.
    pub handover: &'a HandOver,
    /// The agency doing the step.
    pub agency: Uuid,
    /// The step's budget of working hours, where the procedure gives one.
    pub budget_hours: Option<u32>,
    /// Its due time and how it stands, where it has a budget.
    pub deadline: Option<clock::StepDeadline>,
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user (none: the payment gateway).
    pub id: Option<Uuid>,
    /// In which role.
    pub role: Role,
}

/// What a command is judged against: the procedure version the dossier was
/// received under, its agency's working calendar and the instant.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The procedure version.
    pub procedure: &'a ProcedureDefinition,
    /// The receiving agency's working calendar.
    pub calendar: &'a WorkingCalendar,
    /// Now.
    pub at: DateTime<Utc>,
}

/// A field of a command that is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field (`reason`, `items`, `documents[0].file_id`, …).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Why a command changes nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Rejection {
    /// The lifecycle refuses the action (wrong state, role, allowance, …).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The payload is not acceptable.
    #[error("invalid fields: {}", .0.iter().map(|i| format!("{}: {}", i.field, i.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Invalid>),
    /// The legal clock cannot be computed (a calendar is missing or damaged).
    #[error(transparent)]
    Clock(#[from] ClockError),
}

/// What happened, as the dossier's history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// The state before (none: the dossier began).
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// What happened.
    pub what: Happening,
}

/// How a dossier begins, or what was done to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happening {
    /// It began.
    Opened(Opening),
    /// A command.
    Command(Command),
}

impl Event {
    /// The names in the history of the events that open a dossier (the
    /// others are their commands' actions' names).
    pub const OPENINGS: [&'static str; 4] = [
        "file_online",
        "intake_accept",
        "intake_request_supplement",
        "intake_refuse",
    ];

    /// The history's names of events: the openings', then the actions'.
    pub fn kinds() -> impl Iterator<Item = &'static str> {
        Self::OPENINGS
            .into_iter()
            .chain(Action::ALL.iter().map(|a| a.name()))
    }

    /// The action's name in the history (`file_online`, `intake_accept`,
    /// `request_supplement`, …).
    pub fn action(&self) -> &'static str {
        match &self.what {
            Happening::Opened(Opening::Online) => "file_online",
            Happening::Opened(Opening::Desk { decision, .. }) => match decision {
                IntakeDecision::Accept => "intake_accept",
                IntakeDecision::RequestSupplement(_) => "intake_request_supplement",
                IntakeDecision::Refuse(_) => "intake_refuse",
            },
            Happening::Command(command) => command.action().name(),
        }
    }

    /// The payload as JSON text: a command's, or how the dossier arrived.
    pub fn payload(&self) -> String {
        match &self.what {
            Happening::Opened(Opening::Online) => {
                serde_json::json!({"channel": Channel::Online}).to_string()
            }
            Happening::Opened(Opening::Desk { channel, decision }) => {
                serde_json::json!({"channel": channel, "decision": decision}).to_string()
            }
            Happening::Command(command) => command.payload(),
        }
    }

    /// The command, if the event is one.
    pub fn command(&self) -> Option<&Command> {
        match &self.what {
            Happening::Command(command) => Some(command),
            Happening::Opened(_) => None,
        }
    }
}

/// How a dossier arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// Filed online by its citizen: it waits for the desk.
    Online,
    /// Handed in at the desk or sent by post, with the clerk's decision.
    Desk {
        /// `direct` or `postal`.
        channel: Channel,
        /// What the clerk decided.
        decision: IntakeDecision,
    },
}

impl Opening {
    /// The opening an event of the history records: its action's name
    /// (`file_online`, `intake_…`) and its payload as [`Event::payload`]
    /// wrote it.
    pub fn from_stored(action: &str, payload: &str) -> Result<Opening, serde_json::Error> {
        #[derive(Deserialize)]
        struct Stored {
            channel: Channel,
            decision: Option<IntakeDecision>,
        }
        let stored: Stored = serde_json::from_str(payload)?;
        match (action, stored) {
            ("file_online", _) => Ok(Opening::Online),
            (
                "intake_accept" | "intake_request_supplement" | "intake_refuse",
                Stored {
                    channel,
                    decision: Some(decision),
                },
            ) => Ok(Opening::Desk { channel, decision }),
            _ => Err(serde::de::Error::custom(format!(
                "`{action}` with this payload is not how a dossier begins"
            ))),
        }
    }
}

/// The clerk's decision on a dossier received at the desk or by post
/// (schema in [`schema`], one component per kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IntakeDecision {
    /// Complete: receipt issued, the clock starts now.
    Accept,
    /// Incomplete: Form 02.
    RequestSupplement(RequestSupplement),
    /// Refused: Form 03.
    Refuse(Refuse),
}

/// A command's result: the event and the dossier after it, with its clock.
#[derive(Debug, Clone)]
pub struct Handled {
    /// What happened.
    pub event: Event,
    /// The dossier after it.
    pub dossier: Dossier,
    /// Its legal clock after it (once started).
    pub clock: Option<LegalClock>,
}

/// The longest free text kept (reasons, notes, comments).
pub const MAX_TEXT: usize = 2000;
/// The longest reference, step name or tracking number.
pub const MAX_SHORT_TEXT: usize = 200;
/// The largest fee a dossier is asked for or pays, in đồng (a thousand
/// billion: far above any fee, far below what a client's floating-point
/// numbers lose).
pub const MAX_FEE: i64 = 1_000_000_000_000;

/// The longest payment reference.
pub const MAX_REFERENCE: usize = 100;

/// Most items a supplement request lists, and most documents a supplement
/// brings.
pub const MAX_ITEMS: usize = 100;

/// Most criteria a rating names.
pub const MAX_CRITERIA: usize = 20;

/// Longest name of a rating's criterion, in characters.
pub const MAX_CRITERION_NAME: usize = 100;

/// Collects field problems.
#[derive(Debug, Default)]
struct Problems(Vec<Invalid>);

impl Problems {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(Invalid {
            field: field.into(),
            message: message.into(),
        });
    }

    /// A required one-line text: trimmed, not empty, at most `max`
    /// characters, no control characters. Returns it trimmed.
    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        if let Err(message) = check_text(value, max) {
            self.add(field, message);
        }
        value.trim().to_owned()
    }

    /// An optional one-line text: checked as [`Problems::text`] when given;
    /// blank is none.
    fn optional(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        Some(self.text(field, value, max))
    }

    /// An optional note or comment: may run over several lines (line
    /// breaks and tabs allowed, other control characters not); blank is none.
    fn note(&mut self, field: &str, value: &Option<String>) -> Option<String> {
        let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let one_line: String = value
            .chars()
            .map(|c| {
                if matches!(c, '\n' | '\r' | '\t') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if let Err(message) = check_text(&one_line, MAX_TEXT) {
            self.add(field, message);
        }
        Some(value.to_owned())
    }

    fn finish(self) -> Result<(), Rejection> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Rejection::Invalid(self.0))
        }
    }
}

/// Characters that print as nothing although Unicode does not call them
/// whitespace (zero-width spaces and joiners, the byte-order mark, the soft
/// hyphen, Hangul fillers): a text made only of them is empty.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// The text rule of every free-text field.
pub fn check_text(value: &str, max: usize) -> Result<(), String> {
    let value = value.trim();
    if value.chars().all(|c| c.is_whitespace() || invisible(c)) {
        Err("must not be empty".into())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if value.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(())
    }
}

impl Dossier {
    /// A new dossier as it arrives at `context.at`: filed online by its
    /// citizen (it waits for the desk), or received by a clerk at the desk
    /// or by post and at once accepted (the clock starts), returned for a
    /// supplement (Form 02) or refused (Form 03).
    pub fn open(
        opening: Opening,
        particulars: Particulars,
        result_delivery: Delivery,
        actor: Actor,
        context: &Context<'_>,
    ) -> Result<Handled, Rejection> {
        let now = context.at;
        let (role, channel) = match &opening {
            Opening::Online => (Role::Citizen, Channel::Online),
            Opening::Desk { channel, .. } => (Role::Clerk, *channel),
        };
        if actor.role != role {
            return Err(Refusal::WrongRole {
                action: "file",
                role: actor.role,
            }
            .into());
        }
        let mut dossier = Dossier {
            state: State::Submitted,
            channel,
            result_delivery,
            submitted_at: None,
            acknowledged_at: None,
            received_at: None,
            accepted_at: None,
            due_at: None,
            finished_at: None,
            outcome: None,
            ledger: Vec::new(),
            particulars,
        };
        let stamp = |entry: Entry| Record {
            entry,
            at: now,
            by: actor.id,
            role: Some(actor.role),
        };
        let mut problems = Problems::default();
        let opening = match opening {
            Opening::Online => {
                dossier.submitted_at = Some(now);
                Opening::Online
            }
            Opening::Desk { channel, decision } => {
                if channel == Channel::Online {
                    problems.add("channel", "must be direct or postal");
                }
                let decision = match decision {
                    IntakeDecision::Accept => {
                        dossier.state = State::Accepted;
                        dossier.received_at = Some(now);
                        dossier.accepted_at = Some(now);
                        IntakeDecision::Accept
                    }
                    IntakeDecision::RequestSupplement(request) => {
                        let request = RequestSupplement {
                            reason: problems.text("decision.reason", &request.reason, MAX_TEXT),
                            items: request.items,
                        };
                        dossier.state = State::IntakeSupplement;
                        dossier
                            .particulars
                            .records
                            .push(stamp(Entry::SupplementRequest(request.clone())));
                        IntakeDecision::RequestSupplement(request)
                    }
                    IntakeDecision::Refuse(refusal) => {
                        let refusal = Refuse {
                            reason: problems.text("decision.reason", &refusal.reason, MAX_TEXT),
                            legal_basis: problems.text(
                                "decision.legal_basis",
                                &refusal.legal_basis,
                                MAX_TEXT,
                            ),
                        };
                        dossier.state = State::Refused;
                        dossier.finished_at = Some(now);
                        dossier
                            .particulars
                            .records
                            .push(stamp(Entry::Refusal(refusal.clone())));
                        IntakeDecision::Refuse(refusal)
                    }
                };
                Opening::Desk { channel, decision }
            }
        };
        problems.finish()?;
        let clock = dossier.clock(context.procedure, context.calendar, now)?;
        dossier.due_at = clock.as_ref().map(|c| c.due_at);
        Ok(Handled {
            event: Event {
                at: now,
                actor,
                from: None,
                to: dossier.state,
                what: Happening::Opened(opening),
            },
            dossier,
            clock,
        })
    }

    /// The legal clock as of `at` (none before the clock starts).
    pub fn clock(
        &self,
        procedure: &ProcedureDefinition,
        calendar: &WorkingCalendar,
        at: DateTime<Utc>,
    ) -> Result<Option<LegalClock>, ClockError> {
        let Some(received_at) = self.received_at else {
            return Ok(None);
        };
        let input = ClockInput {
            calendar,
            limit: procedure.time_limit,
            received_at,
            events: &self.ledger,
        };
        clock::evaluate(input, at).map(Some)
    }

    /// The processing steps, one per hand-over, as the control slip shows
    /// them: where each went (the agency handed to, else the one that held
    /// the dossier, starting with `receiving`), and, where the procedure's
    /// version gives the step a budget of working hours, its due time and
    /// whether it kept it (a step ends at the next hand-over, or when the
    /// dossier finished), as of `at`.
    pub fn steps(
        &self,
        receiving: Uuid,
        procedure: &ProcedureDefinition,
        calendar: &WorkingCalendar,
        at: DateTime<Utc>,
    ) -> Result<Vec<ProcessingStep<'_>>, ClockError> {
        let handovers: Vec<_> = self.particulars.handovers().collect();
        let mut holder = receiving;
        let mut steps = Vec::with_capacity(handovers.len());
        for (i, (record, handover)) in handovers.iter().enumerate() {
            if let Some(to) = handover
                .to_agency_id
                .as_deref()
                .and_then(|id| Uuid::parse_str(id).ok())
            {
                holder = to;
            }
            let budget = handover.to_step.as_deref().and_then(|name| {
                let name = name.to_lowercase();
                procedure
                    .steps
                    .iter()
                    .find(|step| step.name.to_lowercase() == name)
                    .map(|step| step.hours)
            });
            let ended = handovers
                .get(i + 1)
                .map(|(next, _)| next.at)
                .or(self.finished_at);
            let deadline = budget
                .map(|hours| {
                    clock::step_deadline(calendar, record.at, hours, &self.ledger, ended, at)
                })
                .transpose()?;
            steps.push(ProcessingStep {
                record,
                handover,
                agency: holder,
                budget_hours: budget,
                deadline,
            });
        }
        Ok(steps)
    }

    /// The agency at fault for lateness: the agency of the step that ran
    /// over its budget by the most (its apology is owed by that agency's
    /// leader), or none when no step with a budget ran over.
    pub fn at_fault(steps: &[ProcessingStep<'_>], at: DateTime<Utc>) -> Option<Uuid> {
        steps
            .iter()
            .filter_map(|step| {
                let deadline = step.deadline.as_ref()?;
                let overran = match (deadline.outcome, deadline.finished_at) {
                    (Some(Outcome::Late), Some(ended)) => ended - deadline.due_at,
                    (None, None) if at > deadline.due_at => at - deadline.due_at,
                    _ => return None,
                };
                Some((overran, step.agency))
            })
            .max_by_key(|(overran, _)| *overran)
            .map(|(_, agency)| agency)
    }

    /// The fee a payment must settle now: while awaiting payment, what the
    /// latest request asked for; otherwise (paid up front) the procedure's
    /// fixed fee for the dossier's channel. `None`: nothing a payment could
    /// match (a fee set by formula is requested first).
    pub fn fee_due(&self, procedure: &ProcedureDefinition) -> Option<i64> {
        if self.state == State::AwaitingPayment {
            return self.particulars.requested_fee();
        }
        procedure
            .fee
            .fixed_amount(self.channel == Channel::Online)
            .map(|fee| fee.amount())
    }

    /// Decides `command` by `actor` at `context.at`: the event and the
    /// dossier after it, or why not. The lifecycle is asked first (a wrong
    /// role or state wins over a bad payload), then the payload is checked,
    /// then payments are matched against the fee due.
    pub fn handle(
        &self,
        command: Command,
        actor: Actor,
        context: &Context<'_>,
    ) -> Result<Handled, Rejection> {
        let Context {
            procedure,
            calendar,
            at: now,
        } = *context;
        // Only an extension asks how much time is left (it must come before
        // the due time); the clock is evaluated for it alone.
        let before = match command {
            Command::ExtendVerification(_) => self.clock(procedure, calendar, now)?,
            _ => None,
        };
        let facts = DossierFacts {
            state: self.state,
            supplement_mode: procedure.on_supplement,
            apology_given: self.particulars.apology.is_some(),
            rated: self.particulars.rating.is_some(),
            extension_allowance_days: procedure.verification_extension_days,
            extension_used_days: self.particulars.extension_days,
            remaining: before.as_ref().map(|c| c.remaining),
        };
        let decision = decide(&facts, command.action(), actor.role)?;
        // The agency at fault apologises: only a leader for the processing;
        // the desk's clerk too for an error at intake.
        if let Command::Apologise(apology) = &command
            && apology.fault == ApologyFault::Processing
            && actor.role != Role::Leader
        {
            return Err(Refusal::WrongRole {
                action: "apologise for the processing",
                role: actor.role,
            }
            .into());
        }
        let command = self.checked(command, actor, context)?;

        let mut next = self.clone();
        next.state = decision.to;
        let stamp = |entry: Entry| Record {
            entry,
            at: now,
            by: actor.id,
            role: Some(actor.role),
        };
        let particulars = &mut next.particulars;
        match &command {
            Command::Accept(_) => {}
            Command::RequestSupplement(c) => {
                particulars
                    .records
                    .push(stamp(Entry::SupplementRequest(c.clone())));
            }
            Command::Supply(c) => {
                particulars.documents.extend(c.documents.iter().cloned());
                if self.state == State::IntakeSupplement {
                    particulars.completed_at = Some(now);
                }
                particulars
                    .records
                    .push(stamp(Entry::Supplement(c.clone())));
            }
            Command::Refuse(c) => particulars.records.push(stamp(Entry::Refusal(c.clone()))),
            Command::HandOver(c) => particulars.records.push(stamp(Entry::Handover(c.clone()))),
            Command::RequestPayment(c) => {
                particulars
                    .records
                    .push(stamp(Entry::PaymentRequest(c.clone())));
            }
            Command::RecordPayment(c) => particulars.records.push(stamp(Entry::Payment(c.clone()))),
            Command::ExtendVerification(c) => {
                particulars.records.push(stamp(Entry::Extension(c.clone())));
            }
            Command::Apologise(c) => {
                particulars.apology = Some(ApologyRecord {
                    reason: c.reason.clone(),
                    fault: c.fault,
                    new_appointment_at: c.new_appointment_at,
                    at: now,
                });
            }
            Command::Stop(c) => particulars.records.push(stamp(Entry::Stop(c.clone()))),
            Command::Complete(c) => particulars.records.push(stamp(Entry::Result(c.clone()))),
            Command::Return(c) => particulars.records.push(stamp(Entry::Return(c.clone()))),
            Command::Withdraw(c) => particulars
                .records
                .push(stamp(Entry::Withdrawal(c.clone()))),
            Command::Rate(c) => {
                particulars.rating = Some(RatingRecord {
                    overall: c.overall,
                    criteria: c.criteria.clone(),
                    comment: c.comment.clone(),
                    at: now,
                });
            }
        }

        if let Command::Return(c) = &command {
            next.result_delivery = c.delivery;
        }
        // Leaving `submitted` is the desk's acknowledgement of an online
        // filing (a fee paid up front leaves it where it is; the citizen's
        // withdrawal is no acknowledgement).
        if self.state == State::Submitted
            && next.acknowledged_at.is_none()
            && !matches!(decision.to, State::Submitted | State::Withdrawn)
        {
            next.acknowledged_at = Some(now);
        }
        match decision.clock {
            Some(ClockEffect::Start) => {
                // Online: the portal's receipt of the complete filing; at the desk: now.
                next.received_at = Some(
                    next.particulars
                        .completed_at
                        .or(self.submitted_at)
                        .unwrap_or(now),
                );
                next.accepted_at = Some(now);
            }
            Some(effect) => {
                next.ledger.extend(effect.event(now));
                if let ClockEffect::Extend { working_days } = effect {
                    next.particulars.extension_days += working_days;
                }
            }
            None => {}
        }
        if matches!(
            decision.to,
            State::ResultReady | State::Stopped | State::Refused
        ) || (decision.to == State::Withdrawn && self.state.clock_is_running_or_paused())
        {
            next.finished_at = Some(now);
        }
        let clock = next.clock(procedure, calendar, now)?;
        if let Some(clock) = &clock {
            next.due_at = Some(clock.due_at);
            if decision.to == State::ResultReady {
                next.outcome = clock.outcome();
            }
        }
        Ok(Handled {
            event: Event {
                at: now,
                actor,
                from: Some(self.state),
                to: decision.to,
                what: Happening::Command(command),
            },
            dossier: next,
            clock,
        })
    }

    /// The command with its texts trimmed, or the fields that are not
    /// acceptable; a payment must also match the fee due.
    fn checked(
        &self,
        command: Command,
        actor: Actor,
        context: &Context<'_>,
    ) -> Result<Command, Rejection> {
        let mut problems = Problems::default();
        let p = &mut problems;
        let command = match command {
            Command::Accept(c) => Command::Accept(Accept {
                note: p.note("note", &c.note),
            }),
            Command::RequestSupplement(c) => {
                // Form 02 lists what to add or correct: at least one item,
                // each a document the procedure's published set names (no
                // agency may ask for documents outside it).
                if c.items.is_empty() {
                    p.add("items", "name at least one document to add or correct");
                } else if c.items.len() > MAX_ITEMS {
                    p.add("items", format!("at most {MAX_ITEMS} items"));
                }
                let items = c
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let code = format!("items[{i}].requirement_code");
                        let requirement_code =
                            p.optional(&code, &item.requirement_code, MAX_SHORT_TEXT);
                        match requirement_code.as_deref() {
                            None => p.add(
                                &code,
                                "required: the code of the procedure's document to add or \
                                 correct (nothing outside the published set may be asked for)",
                            ),
                            Some(unknown) if !context.procedure.asks_for(unknown) => p.add(
                                &code,
                                format!("`{unknown}` is not a document this procedure asks for"),
                            ),
                            Some(_) => {}
                        }
                        let problem = item.problem.trim();
                        if problem.chars().count() > MAX_TEXT {
                            p.add(
                                &format!("items[{i}].problem"),
                                format!("at most {MAX_TEXT} characters"),
                            );
                        }
                        MissingItem {
                            requirement_code,
                            name: p.text(&format!("items[{i}].name"), &item.name, MAX_TEXT),
                            problem: problem.to_owned(),
                        }
                    })
                    .collect();
                Command::RequestSupplement(RequestSupplement {
                    reason: p.text("reason", &c.reason, MAX_TEXT),
                    items,
                })
            }
            Command::Supply(c) => {
                for (field, message) in document_problems(&c.documents) {
                    p.add(&field, message);
                }
                // Something arrives: documents, or at least a note of what
                // was handed in; each a document the procedure asks for, and
                // online (the citizen) as an uploaded file.
                let note = c.note.as_deref().map(str::trim).unwrap_or_default();
                if c.documents.is_empty() && note.is_empty() {
                    p.add(
                        "documents",
                        "list the documents supplied (or explain in `note`)",
                    );
                }
                for (i, document) in c.documents.iter().enumerate() {
                    if !context.procedure.asks_for(&document.requirement_code) {
                        p.add(
                            &format!("documents[{i}].requirement_code"),
                            format!(
                                "`{}` is not a document this procedure asks for",
                                document.requirement_code
                            ),
                        );
                    }
                    if actor.role == Role::Citizen && document.file_id.is_none() {
                        p.add(
                            &format!("documents[{i}].file_id"),
                            "a citizen supplies an uploaded file",
                        );
                    }
                }
                Command::Supply(Supply {
                    note: p.note("note", &c.note),
                    documents: c.documents,
                })
            }
            Command::Refuse(c) => Command::Refuse(Refuse {
                reason: p.text("reason", &c.reason, MAX_TEXT),
                legal_basis: p.text("legal_basis", &c.legal_basis, MAX_TEXT),
            }),
            Command::HandOver(c) => {
                let handover = HandOver {
                    to_step: p.optional("to_step", &c.to_step, MAX_SHORT_TEXT),
                    to_agency_id: p.optional("to_agency_id", &c.to_agency_id, MAX_SHORT_TEXT),
                    to_user_id: p.optional("to_user_id", &c.to_user_id, MAX_SHORT_TEXT),
                    note: p.note("note", &c.note),
                };
                if handover.to_step.is_none() && handover.to_agency_id.is_none() {
                    p.add(
                        "to_step",
                        "name the receiving step (to_step) or unit (to_agency_id)",
                    );
                }
                let steps = &context.procedure.steps;
                if let Some(step) = handover.to_step.as_deref().filter(|step| {
                    let step = step.to_lowercase();
                    !steps.is_empty() && !steps.iter().any(|s| s.name.to_lowercase() == step)
                }) {
                    let known: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                    p.add(
                        "to_step",
                        format!(
                            "`{step}` is not a step of this procedure ({})",
                            known.join(", ")
                        ),
                    );
                }
                let mut handover = handover;
                for (field, id) in [
                    ("to_agency_id", &mut handover.to_agency_id),
                    ("to_user_id", &mut handover.to_user_id),
                ] {
                    match id.as_deref().map(Uuid::parse_str) {
                        // Stored in one spelling, so that reach can find it.
                        Some(Ok(uuid)) => *id = Some(uuid.to_string()),
                        Some(Err(_)) => p.add(field, "must be an id (UUID)"),
                        None => {}
                    }
                }
                Command::HandOver(handover)
            }
            Command::RequestPayment(c) => {
                if c.amount <= 0 || c.amount > MAX_FEE {
                    p.add(
                        "amount",
                        format!("must be a whole number of đồng from 1 to {MAX_FEE}"),
                    );
                } else if let Some(fee) = context
                    .procedure
                    .fee
                    .fixed_amount(self.channel == Channel::Online)
                    .filter(|fee| fee.amount() != c.amount)
                {
                    p.add(
                        "amount",
                        format!(
                            "must be the procedure's fee for this channel, {} đồng",
                            fee.amount()
                        ),
                    );
                }
                Command::RequestPayment(RequestPayment {
                    amount: c.amount,
                    reason: p.text("reason", &c.reason, MAX_TEXT),
                })
            }
            Command::RecordPayment(c) => {
                if c.amount <= 0 || c.amount > MAX_FEE {
                    p.add(
                        "amount",
                        format!("must be a whole number of đồng from 1 to {MAX_FEE}"),
                    );
                }
                let gateway = actor.role == Role::PaymentGateway;
                let method = if gateway {
                    Some(PaymentMethod::Online)
                } else {
                    if !matches!(
                        c.method,
                        Some(PaymentMethod::Cash | PaymentMethod::Transfer)
                    ) {
                        p.add(
                            "method",
                            "must be cash or transfer (online payments come from the \
                             gateway's signed callback)",
                        );
                    }
                    c.method
                };
                Command::RecordPayment(RecordPayment {
                    amount: c.amount,
                    method,
                    reference: {
                        // One receipt number, one spelling: no look-alike
                        // letters or invisible characters to write it twice.
                        if !c
                            .reference
                            .trim()
                            .chars()
                            .all(|c| c.is_ascii_graphic() || c == ' ')
                        {
                            p.add(
                                "reference",
                                "use letters, digits and ASCII punctuation (no accents, no invisible characters)",
                            );
                        }
                        p.text("reference", &c.reference, MAX_REFERENCE)
                    },
                    note: p.note("note", &c.note),
                })
            }
            Command::ExtendVerification(c) => Command::ExtendVerification(ExtendVerification {
                working_days: c.working_days,
                reason: p.text("reason", &c.reason, MAX_TEXT),
            }),
            Command::Apologise(c) => {
                // The new appointment replaces one the dossier will miss:
                // it lies after the legal due time (which it never moves).
                let due = self
                    .clock(context.procedure, context.calendar, context.at)?
                    .map(|clock| clock.due_at);
                if c.new_appointment_at <= context.at {
                    p.add("new_appointment_at", "must be a future instant (RFC 3339)");
                } else if c.new_appointment_at
                    > due.unwrap_or(context.at) + chrono::Duration::days(366)
                {
                    p.add(
                        "new_appointment_at",
                        "must be within a year of the legal due time",
                    );
                } else if let Some(due) = due.filter(|due| c.new_appointment_at <= *due) {
                    p.add(
                        "new_appointment_at",
                        format!(
                            "must be after the legal due time, {}",
                            crate::explain::instant_vi(due)
                        ),
                    );
                }
                Command::Apologise(Apologise {
                    reason: p.text("reason", &c.reason, MAX_TEXT),
                    new_appointment_at: c.new_appointment_at,
                    fault: c.fault,
                })
            }
            Command::Stop(c) => Command::Stop(Stop {
                reason: p.text("reason", &c.reason, MAX_TEXT),
            }),
            Command::Complete(c) => {
                // A denial is a written notice that states its reasons
                // (Form 03 after appraisal): the note is its reason.
                if c.outcome == Verdict::Denied
                    && c.note.as_deref().is_none_or(|n| n.trim().is_empty())
                {
                    p.add(
                        "note",
                        "a denial must state its reason: the citizen receives it in writing",
                    );
                }
                Command::Complete(Complete {
                    note: p.note("note", &c.note),
                    ..c
                })
            }
            Command::Return(c) => Command::Return(ReturnResult {
                tracking_number: p.optional("tracking_number", &c.tracking_number, MAX_SHORT_TEXT),
                delivery: c.delivery,
            }),
            Command::Withdraw(c) => Command::Withdraw(Withdraw {
                reason: p.text("reason", &c.reason, MAX_TEXT),
            }),
            Command::Rate(c) => {
                // Criteria are keys of a table: named, short and few.
                if c.criteria.len() > MAX_CRITERIA {
                    p.add("criteria", format!("at most {MAX_CRITERIA} criteria"));
                }
                if c.criteria
                    .keys()
                    .any(|name| name.trim().is_empty() || name.chars().count() > MAX_CRITERION_NAME)
                {
                    p.add(
                        "criteria",
                        format!("each criterion is named in 1 to {MAX_CRITERION_NAME} characters"),
                    );
                }
                Command::Rate(Rate {
                    comment: p.note("comment", &c.comment),
                    ..c
                })
            }
        };
        problems.finish()?;
        if matches!(command, Command::RequestPayment(_))
            && matches!(context.procedure.fee, Fee::Exempt { .. })
        {
            return Err(Refusal::NoFeeCharged.into());
        }
        if let Command::RecordPayment(payment) = &command {
            if self.state != State::AwaitingPayment && self.particulars.paid() {
                return Err(Refusal::FeeAlreadyPaid.into());
            }
            let due = self.fee_due(context.procedure);
            if due != Some(payment.amount) {
                return Err(Refusal::PaymentAmountMismatch {
                    paid: payment.amount,
                    due,
                }
                .into());
            }
        }
        Ok(command)
    }
}

/// OpenAPI schemas of the tagged unions — side records and the intake
/// decision — as `oneOf` named components, each the payload's schema and
/// its `kind` (and, for records, when, by whom and in which role).
#[cfg(feature = "openapi")]
pub mod schema {
    use std::borrow::Cow;

    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{
        AllOfBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat, Type,
    };
    use utoipa::{PartialSchema, ToSchema};

    use super::*;

    type Schemas = Vec<(String, RefOr<Schema>)>;

    /// The kinds of side record: `kind`, component name, payload.
    fn record_kinds() -> [(&'static str, &'static str, Cow<'static, str>); 11] {
        [
            (
                "supplement_request",
                "SupplementRequestRecord",
                RequestSupplement::name(),
            ),
            ("supplement", "SupplementRecord", Supply::name()),
            ("refusal", "RefusalRecord", Refuse::name()),
            ("handover", "HandoverRecord", HandOver::name()),
            (
                "payment_request",
                "PaymentRequestRecord",
                RequestPayment::name(),
            ),
            ("payment", "PaymentRecord", RecordPayment::name()),
            ("extension", "ExtensionRecord", ExtendVerification::name()),
            ("stop", "StopRecord", Stop::name()),
            ("result", "ResultRecord", Complete::name()),
            ("return", "ReturnRecord", ReturnResult::name()),
            ("withdrawal", "WithdrawalRecord", Withdraw::name()),
        ]
    }

    fn kind(value: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .property(
                "kind",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([value])),
            )
            .required("kind")
    }

    /// Pushes `T`'s schema and the ones it refers to.
    fn push<T: ToSchema>(schemas: &mut Schemas) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }

    impl PartialSchema for Record {
        fn schema() -> RefOr<Schema> {
            record_kinds()
                .into_iter()
                .fold(OneOfBuilder::new(), |one_of, (_, name, _)| {
                    one_of.item(Ref::from_schema_name(name))
                })
                .description(Some(
                    "A side record of the lifecycle, by `kind`, with when, by whom and in which role.",
                ))
                .into()
        }
    }

    impl ToSchema for Record {
        fn schemas(schemas: &mut Schemas) {
            let stamp = |value: &str| {
                kind(value)
                    .property(
                        "at",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                            .description(Some("When.")),
                    )
                    .required("at")
                    .property(
                        "by",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                            .description(Some("Who (a user id; absent for the payment gateway).")),
                    )
                    .property("role", Ref::from_schema_name(Role::name()))
            };
            for (value, name, payload) in record_kinds() {
                let record = AllOfBuilder::new()
                    .item(Ref::from_schema_name(payload))
                    .item(stamp(value));
                schemas.push((name.to_owned(), record.into()));
            }
            push::<RequestSupplement>(schemas);
            push::<Supply>(schemas);
            push::<Refuse>(schemas);
            push::<HandOver>(schemas);
            push::<RequestPayment>(schemas);
            push::<RecordPayment>(schemas);
            push::<ExtendVerification>(schemas);
            push::<Stop>(schemas);
            push::<Complete>(schemas);
            push::<ReturnResult>(schemas);
            push::<Withdraw>(schemas);
            push::<Role>(schemas);
        }
    }

    impl PartialSchema for IntakeDecision {
        fn schema() -> RefOr<Schema> {
            OneOfBuilder::new()
                .item(Ref::from_schema_name("IntakeAccept"))
                .item(Ref::from_schema_name("IntakeSupplementRequest"))
                .item(Ref::from_schema_name("IntakeRefusal"))
                .description(Some("What the clerk decides at intake, by `kind`."))
                .into()
        }
    }

    impl ToSchema for IntakeDecision {
        fn schemas(schemas: &mut Schemas) {
            let accept = kind("accept").description(Some(
                "Complete: the receipt is issued and the clock starts now.",
            ));
            schemas.push(("IntakeAccept".into(), accept.into()));
            let supplement = AllOfBuilder::new()
                .item(Ref::from_schema_name(RequestSupplement::name()))
                .item(kind("request_supplement"))
                .description(Some("Incomplete: Form 02."));
            schemas.push(("IntakeSupplementRequest".into(), supplement.into()));
            let refusal = AllOfBuilder::new()
                .item(Ref::from_schema_name(Refuse::name()))
                .item(kind("refuse"))
                .description(Some("Refused: Form 03."));
            schemas.push(("IntakeRefusal".into(), refusal.into()));
            push::<RequestSupplement>(schemas);
            push::<Refuse>(schemas);
        }
    }
}
