//! The national public-service portal (Cổng Dịch vụ công quốc gia) as
//! motcua talks to it: the dossier status sync it is sent, and the citizen
//! notices an event gives rise to. Every name the portal sees is in this
//! module, so that matching the portal's published integration document is
//! a change here and nowhere else (docs/integration.md).
//!
//! The portal's status codes 1–10 are the lifecycle's
//! ([`State::portal_code`]). The exact field names of the portal's sync
//! interface are given to connected systems under agreement, not
//! published: the names below are motcua's own, chosen to say what each
//! field holds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dossier::Channel;
use crate::lifecycle::State;
use crate::time::to_local;

/// What the portal is told of a dossier: one message each time any of it
/// changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSync {
    /// The dossier's code (the receipt's number).
    pub dossier_code: String,
    /// The procedure's code in the national database of procedures.
    pub procedure_code: String,
    /// The receiving agency's identifier.
    pub receiving_agency: String,
    /// The resolving agency's identifier, where another agency decides.
    pub resolving_agency: Option<String>,
    /// The portal's status code, 1–10.
    pub status: u8,
    /// When the dossier was accepted (the legal clock's start).
    pub received_at: Option<DateTime<Utc>>,
    /// The appointment for the result.
    pub appointment_at: Option<DateTime<Utc>>,
    /// When the result was ready, or processing ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it was filed.
    pub channel: Channel,
    /// Whether a fee was paid online.
    pub paid_online: bool,
    /// Whether the result is delivered electronically.
    pub electronic_result: bool,
}

impl StatusSync {
    /// The sync for a dossier in `state`, or none where the portal has no
    /// code for it (a dossier waiting for the desk's supplement at intake).
    /// `facts` are the rest of what the portal is told.
    pub fn of(state: State, facts: SyncFacts) -> Option<StatusSync> {
        Some(StatusSync {
            status: state.portal_code()?,
            dossier_code: facts.dossier_code,
            procedure_code: facts.procedure_code,
            receiving_agency: facts.receiving_agency,
            resolving_agency: facts.resolving_agency,
            received_at: facts.received_at,
            appointment_at: facts.appointment_at,
            finished_at: facts.finished_at,
            channel: facts.channel,
            paid_online: facts.paid_online,
            electronic_result: facts.electronic_result,
        })
    }
}

/// Everything of a [`StatusSync`] except the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFacts {
    /// See [`StatusSync::dossier_code`].
    pub dossier_code: String,
    /// See [`StatusSync::procedure_code`].
    pub procedure_code: String,
    /// See [`StatusSync::receiving_agency`].
    pub receiving_agency: String,
    /// See [`StatusSync::resolving_agency`].
    pub resolving_agency: Option<String>,
    /// See [`StatusSync::received_at`].
    pub received_at: Option<DateTime<Utc>>,
    /// See [`StatusSync::appointment_at`].
    pub appointment_at: Option<DateTime<Utc>>,
    /// See [`StatusSync::finished_at`].
    pub finished_at: Option<DateTime<Utc>>,
    /// See [`StatusSync::channel`].
    pub channel: Channel,
    /// See [`StatusSync::paid_online`].
    pub paid_online: bool,
    /// See [`StatusSync::electronic_result`].
    pub electronic_result: bool,
}

/// A message to the applicant (by e-mail and SMS) that an event gives rise
/// to: what the one-stop mechanism (Decree 118/2025/NĐ-CP, which replaced
/// Decree 61/2018/NĐ-CP) has the desk tell the applicant — acceptance with
/// the appointment, a
/// request for more documents, the fee, the result, an apology with a new
/// appointment, a refusal with its reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// Accepted, with the appointment.
    Accepted,
    /// More documents are needed.
    SupplementRequested,
    /// A fee is to be paid.
    PaymentRequested,
    /// The result is ready.
    ResultReady,
    /// Late: an apology with a new appointment.
    Apology,
    /// Refused, with the reasons.
    Refused,
}

impl Notice {
    /// Every notice.
    pub const ALL: [Notice; 6] = [
        Notice::Accepted,
        Notice::SupplementRequested,
        Notice::PaymentRequested,
        Notice::ResultReady,
        Notice::Apology,
        Notice::Refused,
    ];

    /// The notice an event (by its history name) leading to `state_after`
    /// gives rise to, if any.
    pub fn of(action: &str, state_after: State) -> Option<Notice> {
        Some(match (action, state_after) {
            ("accept" | "intake_accept", State::Accepted) => Notice::Accepted,
            ("request_supplement" | "intake_request_supplement", _) => Notice::SupplementRequested,
            ("request_payment", State::AwaitingPayment) => Notice::PaymentRequested,
            ("complete", State::ResultReady) => Notice::ResultReady,
            ("apologise", _) => Notice::Apology,
            ("refuse" | "intake_refuse", State::Refused) => Notice::Refused,
            _ => return None,
        })
    }

    /// The history names of the events that may give rise to a notice.
    pub const ACTIONS: [&'static str; 9] = [
        "accept",
        "intake_accept",
        "request_supplement",
        "intake_request_supplement",
        "request_payment",
        "complete",
        "apologise",
        "refuse",
        "intake_refuse",
    ];

    /// Its snake_case name (also its templates' names).
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Accepted => "accepted",
            Notice::SupplementRequested => "supplement_requested",
            Notice::PaymentRequested => "payment_requested",
            Notice::ResultReady => "result_ready",
            Notice::Apology => "apology",
            Notice::Refused => "refused",
        }
    }
}

/// A local time as the notices write it: `14:30 ngày 05/12/2026`.
pub fn spoken_time(at: DateTime<Utc>) -> String {
    to_local(at).format("%H:%M ngày %d/%m/%Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dossier::Event;

    fn facts() -> SyncFacts {
        SyncFacts {
            dossier_code: "000.00.01.H01-261201-0001".into(),
            procedure_code: "1.001193".into(),
            receiving_agency: "000.00.01.H01".into(),
            resolving_agency: None,
            received_at: None,
            appointment_at: None,
            finished_at: None,
            channel: Channel::Online,
            paid_online: false,
            electronic_result: true,
        }
    }

    #[test]
    fn every_state_with_a_portal_code_is_synced_with_it() {
        for state in State::ALL {
            let sync = StatusSync::of(state, facts());
            assert_eq!(sync.map(|s| s.status), state.portal_code(), "{state:?}");
        }
        assert!(StatusSync::of(State::IntakeSupplement, facts()).is_none());
    }

    #[test]
    fn notices_follow_the_events_that_tell_the_applicant_something() {
        assert_eq!(
            Notice::of("intake_accept", State::Accepted),
            Some(Notice::Accepted)
        );
        assert_eq!(
            Notice::of("complete", State::ResultReady),
            Some(Notice::ResultReady)
        );
        assert_eq!(Notice::of("refuse", State::Refused), Some(Notice::Refused));
        assert_eq!(Notice::of("hand_over", State::InProcessing), None);
        assert_eq!(Notice::of("file_online", State::Submitted), None);
        // Every action a notice follows is an event of the history.
        let kinds: Vec<&str> = Event::kinds().collect();
        for action in Notice::ACTIONS {
            assert!(kinds.contains(&action), "{action}");
        }
    }

    #[test]
    fn times_are_written_in_local_time() {
        let at = DateTime::parse_from_rfc3339("2026-12-05T07:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            at.map(spoken_time).as_deref(),
            Some("14:30 ngày 05/12/2026")
        );
    }
}
