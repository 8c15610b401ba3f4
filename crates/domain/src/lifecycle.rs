//! The dossier lifecycle (docs/requirements.md §6): states with their national portal
//! status codes, the actions that move a dossier, who may take each, and —
//! from the same decision — what each does to the legal clock.
//!
//! [`decide`] is the only way to move a dossier. It either returns the
//! [`Decision`] (next state and clock effect) or a [`Refusal`] naming why
//! not. Because the clock effect comes out of the same decision as the state,
//! the two can never disagree. The table of transitions is in
//! docs/lifecycle.md.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{ClockEvent, PauseCause, SupplementMode};

/// Where a dossier stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Filed online, waiting for the desk (code 1). Clock not started.
    Submitted,
    /// Incomplete at intake; the citizen was asked to complete it (Form 02). Clock not started.
    IntakeSupplement,
    /// Refused at intake (Form 03; code 3). Terminal.
    Refused,
    /// Accepted, receipt and appointment issued (Form 01; code 2). Clock running.
    Accepted,
    /// Handed to a processing step (code 4). Clock running.
    InProcessing,
    /// An officer asked for more documents (Form 02; code 5). Clock paused or to restart.
    SupplementRequested,
    /// Waiting for a fee (code 6). Clock paused.
    AwaitingPayment,
    /// Withdrawn by the citizen (code 7). Terminal.
    Withdrawn,
    /// Stopped by a leader with a notice (code 8). Terminal.
    Stopped,
    /// Result ready, approved or denied (code 9). Clock stopped, outcome classified.
    ResultReady,
    /// Result handed over (code 10). Terminal.
    Returned,
}

impl State {
    /// Every state.
    pub const ALL: [State; 11] = [
        State::Submitted,
        State::IntakeSupplement,
        State::Refused,
        State::Accepted,
        State::InProcessing,
        State::SupplementRequested,
        State::AwaitingPayment,
        State::Withdrawn,
        State::Stopped,
        State::ResultReady,
        State::Returned,
    ];

    /// The states whose clock is running: a dossier in one of them past its
    /// due time is overdue (a paused clock moves its due time; a finished
    /// one has an outcome instead).
    pub const RUNNING: [State; 2] = [State::Accepted, State::InProcessing];

    /// The states of a dossier whose result is ready, handed over or not.
    pub const RESULTED: [State; 2] = [State::ResultReady, State::Returned];

    /// The national public-service portal's status code (none for intake supplement).
    pub fn portal_code(self) -> Option<u8> {
        match self {
            State::Submitted => Some(1),
            State::IntakeSupplement => None,
            State::Refused => Some(3),
            State::Accepted => Some(2),
            State::InProcessing => Some(4),
            State::SupplementRequested => Some(5),
            State::AwaitingPayment => Some(6),
            State::Withdrawn => Some(7),
            State::Stopped => Some(8),
            State::ResultReady => Some(9),
            State::Returned => Some(10),
        }
    }

    /// No action leads out of a terminal state (except rating a returned result).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            State::Refused | State::Withdrawn | State::Stopped | State::Returned
        )
    }

    /// Whether the legal clock has started and not stopped.
    pub fn clock_is_running_or_paused(self) -> bool {
        matches!(
            self,
            State::Accepted
                | State::InProcessing
                | State::SupplementRequested
                | State::AwaitingPayment
        )
    }

    /// snake_case name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::IntakeSupplement => "intake_supplement",
            State::Refused => "refused",
            State::Accepted => "accepted",
            State::InProcessing => "in_processing",
            State::SupplementRequested => "supplement_requested",
            State::AwaitingPayment => "awaiting_payment",
            State::Withdrawn => "withdrawn",
            State::Stopped => "stopped",
            State::ResultReady => "result_ready",
            State::Returned => "returned",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acts. `Citizen` is the dossier's owner: whether the caller owns the
/// dossier is a question of reach, answered before the lifecycle is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The citizen or business who filed the dossier.
    Citizen,
    /// Desk clerk of the one-stop centre.
    Clerk,
    /// Processing officer.
    Officer,
    /// Leader who signs.
    Leader,
    /// Auditor (reads only).
    Auditor,
    /// Administrator (configures; does not process dossiers).
    Admin,
    /// The online payment gateway's verified callback.
    PaymentGateway,
}

impl Role {
    /// snake_case name, as in the API and in stored role lists.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Clerk => "clerk",
            Role::Officer => "officer",
            Role::Leader => "leader",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::PaymentGateway => "payment_gateway",
        }
    }

    /// The roles a staff account can hold.
    pub const STAFF: [Role; 5] = [
        Role::Clerk,
        Role::Officer,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
    ];

    /// Every role.
    pub const ALL: [Role; 7] = [
        Role::Citizen,
        Role::Clerk,
        Role::Officer,
        Role::Leader,
        Role::Auditor,
        Role::Admin,
        Role::PaymentGateway,
    ];
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("`{text}` is not a role"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What someone wants to do to a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Accept a filed (or completed) dossier: receipt issued, clock starts.
    Accept,
    /// Ask for more documents: at intake (clock not started) or in processing (clock pauses).
    RequestSupplement,
    /// The missing documents arrive.
    Supplement,
    /// Refuse at intake (Form 03).
    Refuse,
    /// Hand the dossier to a step or unit (a control-slip row).
    HandOver,
    /// Ask the citizen to pay a fee (clock pauses).
    RequestPayment,
    /// Record a payment (cash, transfer, or the gateway's callback).
    RecordPayment,
    /// Extend for verification, within the procedure's allowance.
    ExtendVerification {
        /// Working days asked for.
        working_days: u32,
    },
    /// Apologise and set a new appointment (Form 04): once, in time.
    Apologise,
    /// Stop processing with a notice.
    Stop,
    /// Record the result (approved or denied): clock stops.
    Complete,
    /// Hand the result to the citizen.
    Return,
    /// The citizen withdraws the dossier.
    Withdraw,
    /// The citizen rates the service, once, after the result.
    Rate,
}

impl Action {
    /// snake_case name, as in the API and in refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::RequestSupplement => "request_supplement",
            Action::Supplement => "supplement",
            Action::Refuse => "refuse",
            Action::HandOver => "hand_over",
            Action::RequestPayment => "request_payment",
            Action::RecordPayment => "record_payment",
            Action::ExtendVerification { .. } => "extend_verification",
            Action::Apologise => "apologise",
            Action::Stop => "stop",
            Action::Complete => "complete",
            Action::Return => "return",
            Action::Withdraw => "withdraw",
            Action::Rate => "rate",
        }
    }

    /// One of each action (with a sample parameter), for exhaustive checks.
    pub const ALL: [Action; 14] = [
        Action::Accept,
        Action::RequestSupplement,
        Action::Supplement,
        Action::Refuse,
        Action::HandOver,
        Action::RequestPayment,
        Action::RecordPayment,
        Action::ExtendVerification { working_days: 1 },
        Action::Apologise,
        Action::Stop,
        Action::Complete,
        Action::Return,
        Action::Withdraw,
        Action::Rate,
    ];

    /// The roles that may take this action (in some state).
    pub fn roles(&self) -> &'static [Role] {
        use Role::*;
        match self {
            Action::Accept | Action::Refuse | Action::Return => &[Clerk],
            Action::RequestSupplement | Action::HandOver => &[Clerk, Officer],
            Action::Supplement | Action::Withdraw => &[Citizen, Clerk],
            Action::RequestPayment => &[Officer],
            Action::RecordPayment => &[Clerk, PaymentGateway],
            Action::ExtendVerification { .. } | Action::Complete => &[Officer, Leader],
            Action::Apologise => &[Leader, Clerk],
            Action::Stop => &[Leader],
            Action::Rate => &[Citizen],
        }
    }
}

/// What the decision does to the legal clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum ClockEffect {
    /// The clock starts (at the receipt of the complete dossier).
    Start,
    /// The clock pauses.
    Pause {
        /// Why.
        cause: PauseCause,
    },
    /// The clock counts again.
    Resume,
    /// The full budget starts again (restart-mode supplement).
    Restart,
    /// Working days are added to the budget.
    Extend {
        /// How many.
        working_days: u32,
    },
    /// The clock stops for good.
    Stop,
}

impl ClockEffect {
    /// The ledger entry recording this effect at `at` (`Start` sets the
    /// clock's receipt instead of adding an entry).
    pub fn event(self, at: DateTime<Utc>) -> Option<ClockEvent> {
        match self {
            ClockEffect::Start => None,
            ClockEffect::Pause { cause } => Some(ClockEvent::Paused { at, cause }),
            ClockEffect::Resume => Some(ClockEvent::Resumed { at }),
            ClockEffect::Restart => Some(ClockEvent::Restarted { at }),
            ClockEffect::Extend { working_days } => Some(ClockEvent::Extended { at, working_days }),
            ClockEffect::Stop => Some(ClockEvent::Stopped { at }),
        }
    }
}

/// What is known about the dossier when someone acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DossierFacts {
    /// Its state.
    pub state: State,
    /// What a supplement request does to its clock (from its procedure version).
    pub supplement_mode: SupplementMode,
    /// Whether an apology was already given.
    pub apology_given: bool,
    /// Whether the citizen already rated it.
    pub rated: bool,
    /// Working days of verification extension the procedure allows in all.
    pub extension_allowance_days: u32,
    /// Working days of extension already granted.
    pub extension_used_days: u32,
    /// Working time left before the legal due time, at the instant of the
    /// action (when the clock has started).
    pub remaining: Option<Duration>,
}

/// An allowed transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// State before.
    pub from: State,
    /// State after (may equal `from` for side records).
    pub to: State,
    /// What happens to the legal clock.
    pub clock: Option<ClockEffect>,
}

/// Why an action is refused. Each variant has a stable code for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The action does not apply in the dossier's state.
    #[error("{action} is not possible while the dossier is {state}")]
    WrongState {
        /// The action.
        action: &'static str,
        /// The state.
        state: State,
    },
    /// The role may not take the action.
    #[error("a {role:?} may not {action}")]
    WrongRole {
        /// The action.
        action: &'static str,
        /// The role.
        role: Role,
    },
    /// An apology was already given (Form 04 is once per dossier).
    #[error("an apology was already given for this dossier")]
    ApologyAlreadyGiven,
    /// The procedure allows no verification extension.
    #[error("this procedure allows no verification extension")]
    NoExtensionAllowed,
    /// The extension asked for exceeds what is left of the allowance.
    #[error("{requested} working days asked, {available} left in the procedure's allowance")]
    ExtensionBeyondAllowance {
        /// Asked.
        requested: u32,
        /// Left.
        available: u32,
    },
    /// An extension of zero days.
    #[error("an extension must be at least one working day")]
    EmptyExtension,
    /// An extension asked once the legal due time has passed: a dossier
    /// already late cannot be made on time by extending it.
    #[error("the due time has passed: a verification extension must be granted before it")]
    ExtensionAfterDueTime,
    /// The citizen already rated the dossier.
    #[error("the dossier was already rated")]
    AlreadyRated,
    /// A fee asked for under a procedure that charges none.
    #[error("this procedure charges no fee")]
    NoFeeCharged,
    /// A payment while no fee is awaited on a dossier whose fee is paid.
    #[error("this dossier's fee is already paid; a further fee must be requested first")]
    FeeAlreadyPaid,
    /// A payment of another amount than the fee due (or with nothing due).
    #[error("{}", match due {
        Some(fee) => format!("{paid} đồng paid where {fee} đồng are due"),
        None => "no fee is due that this payment could settle; an officer requests the fee first".into(),
    })]
    PaymentAmountMismatch {
        /// Paid.
        paid: i64,
        /// Due, if anything is.
        due: Option<i64>,
    },
}

impl Refusal {
    /// Stable snake_case code, sent as the problem `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::WrongState { .. } => "illegal_transition",
            Refusal::WrongRole { .. } => "role_not_allowed",
            Refusal::ApologyAlreadyGiven => "apology_already_given",
            Refusal::NoExtensionAllowed => "extension_not_allowed",
            Refusal::ExtensionBeyondAllowance { .. } => "extension_beyond_allowance",
            Refusal::EmptyExtension => "extension_empty",
            Refusal::ExtensionAfterDueTime => "extension_after_due_time",
            Refusal::AlreadyRated => "already_rated",
            Refusal::NoFeeCharged => "no_fee_charged",
            Refusal::FeeAlreadyPaid => "fee_already_paid",
            Refusal::PaymentAmountMismatch { .. } => "payment_amount_mismatch",
        }
    }
}

/// Decides whether `role` may take `action` on a dossier described by
/// `facts`, and if so what state it enters and what its clock does.
pub fn decide(facts: &DossierFacts, action: Action, role: Role) -> Result<Decision, Refusal> {
    use State::*;
    if !action.roles().contains(&role) {
        return Err(Refusal::WrongRole {
            action: action.name(),
            role,
        });
    }
    let from = facts.state;
    let go = |to: State, clock: Option<ClockEffect>| Ok(Decision { from, to, clock });
    let wrong_state = || {
        Err(Refusal::WrongState {
            action: action.name(),
            state: from,
        })
    };
    let in_progress = from.clock_is_running_or_paused();

    match action {
        Action::Accept => match from {
            Submitted | IntakeSupplement => go(Accepted, Some(ClockEffect::Start)),
            _ => wrong_state(),
        },
        Action::RequestSupplement => match (from, role) {
            (Submitted, Role::Clerk) => go(IntakeSupplement, None),
            (Accepted | InProcessing, _) => go(
                SupplementRequested,
                Some(ClockEffect::Pause {
                    cause: PauseCause::Supplement,
                }),
            ),
            _ => wrong_state(),
        },
        Action::Supplement => match from {
            IntakeSupplement => go(Submitted, None),
            SupplementRequested => go(
                InProcessing,
                Some(match facts.supplement_mode {
                    SupplementMode::Pause => ClockEffect::Resume,
                    SupplementMode::Restart => ClockEffect::Restart,
                }),
            ),
            _ => wrong_state(),
        },
        Action::Refuse => match from {
            Submitted | IntakeSupplement => go(Refused, None),
            _ => wrong_state(),
        },
        Action::HandOver => match from {
            Accepted | InProcessing => go(InProcessing, None),
            // The result goes back to the desk that received the dossier.
            ResultReady => go(ResultReady, None),
            _ => wrong_state(),
        },
        Action::RequestPayment => match from {
            Accepted | InProcessing => go(
                AwaitingPayment,
                Some(ClockEffect::Pause {
                    cause: PauseCause::Payment,
                }),
            ),
            _ => wrong_state(),
        },
        Action::RecordPayment => match from {
            AwaitingPayment => go(InProcessing, Some(ClockEffect::Resume)),
            // A fee paid up front, at filing or at the desk: a side record.
            Submitted | Accepted | InProcessing => go(from, None),
            _ => wrong_state(),
        },
        Action::ExtendVerification { working_days } => {
            if !in_progress {
                return wrong_state();
            }
            if working_days == 0 {
                return Err(Refusal::EmptyExtension);
            }
            if facts.extension_allowance_days == 0 {
                return Err(Refusal::NoExtensionAllowed);
            }
            if facts.remaining.is_none_or(|left| left <= Duration::zero()) {
                return Err(Refusal::ExtensionAfterDueTime);
            }
            let available = facts
                .extension_allowance_days
                .saturating_sub(facts.extension_used_days);
            if working_days > available {
                return Err(Refusal::ExtensionBeyondAllowance {
                    requested: working_days,
                    available,
                });
            }
            go(from, Some(ClockEffect::Extend { working_days }))
        }
        // An apology is a duty, not a window: owed from the moment lateness
        // is foreseeable until the result, late dossiers included; once.
        Action::Apologise => {
            if !in_progress {
                return wrong_state();
            }
            if facts.apology_given {
                return Err(Refusal::ApologyAlreadyGiven);
            }
            go(from, None)
        }
        Action::Stop => {
            if in_progress {
                go(Stopped, Some(ClockEffect::Stop))
            } else {
                wrong_state()
            }
        }
        Action::Complete => match from {
            Accepted | InProcessing => go(ResultReady, Some(ClockEffect::Stop)),
            _ => wrong_state(),
        },
        Action::Return => match from {
            ResultReady => go(Returned, None),
            _ => wrong_state(),
        },
        Action::Withdraw => match from {
            Submitted | IntakeSupplement => go(Withdrawn, None),
            _ if in_progress => go(Withdrawn, Some(ClockEffect::Stop)),
            _ => wrong_state(),
        },
        Action::Rate => match from {
            ResultReady | Returned if facts.rated => Err(Refusal::AlreadyRated),
            ResultReady | Returned => go(from, None),
            _ => wrong_state(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: State) -> DossierFacts {
        DossierFacts {
            state,
            supplement_mode: SupplementMode::Pause,
            apology_given: false,
            rated: false,
            extension_allowance_days: 5,
            extension_used_days: 0,
            remaining: Some(Duration::hours(16)),
        }
    }

    /// The documented transitions (docs/lifecycle.md), written out
    /// independently of `decide`: (action, roles, from, to, clock effect).
    /// (action, roles, from, to, clock effect)
    type Row = (&'static str, Vec<Role>, State, State, Option<ClockEffect>);

    fn documented() -> Vec<Row> {
        use ClockEffect as E;
        use Role::*;
        use State::*;
        let supplement = Some(E::Pause {
            cause: PauseCause::Supplement,
        });
        let payment = Some(E::Pause {
            cause: PauseCause::Payment,
        });
        let mut table = vec![
            ("accept", vec![Clerk], Submitted, Accepted, Some(E::Start)),
            (
                "accept",
                vec![Clerk],
                IntakeSupplement,
                Accepted,
                Some(E::Start),
            ),
            (
                "request_supplement",
                vec![Clerk],
                Submitted,
                IntakeSupplement,
                None,
            ),
            (
                "request_supplement",
                vec![Clerk, Officer],
                Accepted,
                SupplementRequested,
                supplement,
            ),
            (
                "request_supplement",
                vec![Clerk, Officer],
                InProcessing,
                SupplementRequested,
                supplement,
            ),
            (
                "supplement",
                vec![Citizen, Clerk],
                IntakeSupplement,
                Submitted,
                None,
            ),
            (
                "supplement",
                vec![Citizen, Clerk],
                SupplementRequested,
                InProcessing,
                Some(E::Resume),
            ),
            ("refuse", vec![Clerk], Submitted, Refused, None),
            ("refuse", vec![Clerk], IntakeSupplement, Refused, None),
            (
                "hand_over",
                vec![Clerk, Officer],
                Accepted,
                InProcessing,
                None,
            ),
            (
                "hand_over",
                vec![Clerk, Officer],
                InProcessing,
                InProcessing,
                None,
            ),
            (
                "hand_over",
                vec![Clerk, Officer],
                ResultReady,
                ResultReady,
                None,
            ),
            (
                "request_payment",
                vec![Officer],
                Accepted,
                AwaitingPayment,
                payment,
            ),
            (
                "request_payment",
                vec![Officer],
                InProcessing,
                AwaitingPayment,
                payment,
            ),
            (
                "record_payment",
                vec![Clerk, PaymentGateway],
                AwaitingPayment,
                InProcessing,
                Some(E::Resume),
            ),
            (
                "complete",
                vec![Officer, Leader],
                Accepted,
                ResultReady,
                Some(E::Stop),
            ),
            (
                "complete",
                vec![Officer, Leader],
                InProcessing,
                ResultReady,
                Some(E::Stop),
            ),
            ("return", vec![Clerk], ResultReady, Returned, None),
            ("withdraw", vec![Citizen, Clerk], Submitted, Withdrawn, None),
            (
                "withdraw",
                vec![Citizen, Clerk],
                IntakeSupplement,
                Withdrawn,
                None,
            ),
            ("rate", vec![Citizen], ResultReady, ResultReady, None),
            ("rate", vec![Citizen], Returned, Returned, None),
        ];
        for state in [Submitted, Accepted, InProcessing] {
            table.push((
                "record_payment",
                vec![Clerk, PaymentGateway],
                state,
                state,
                None,
            ));
        }
        for state in [Accepted, InProcessing, SupplementRequested, AwaitingPayment] {
            table.push((
                "extend_verification",
                vec![Officer, Leader],
                state,
                state,
                Some(E::Extend { working_days: 1 }),
            ));
            table.push(("apologise", vec![Leader, Clerk], state, state, None));
            table.push(("stop", vec![Leader], state, Stopped, Some(E::Stop)));
            table.push((
                "withdraw",
                vec![Citizen, Clerk],
                state,
                Withdrawn,
                Some(E::Stop),
            ));
        }
        table
    }

    #[test]
    fn every_state_action_and_role_is_a_documented_transition_or_a_typed_refusal() {
        let table = documented();
        let mut allowed = 0;
        for state in State::ALL {
            for action in Action::ALL {
                for role in Role::ALL {
                    let expected = table.iter().find(|(name, roles, from, ..)| {
                        *name == action.name() && *from == state && roles.contains(&role)
                    });
                    let decided = decide(&facts(state), action, role);
                    match (expected, decided) {
                        (Some((_, _, _, to, clock)), Ok(decision)) => {
                            assert_eq!(
                                (decision.to, decision.clock),
                                (*to, *clock),
                                "{action:?} by {role:?} in {state}"
                            );
                            allowed += 1;
                        }
                        (None, Err(Refusal::WrongRole { .. })) => {
                            assert!(
                                !table.iter().any(|(name, roles, ..)| *name == action.name()
                                    && roles.contains(&role)),
                                "{action:?} by {role:?} refused for its role"
                            );
                        }
                        (None, Err(Refusal::WrongState { state: s, .. })) => assert_eq!(s, state),
                        (expected, decided) => panic!(
                            "{action:?} by {role:?} in {state}: expected {expected:?}, decided {decided:?}"
                        ),
                    }
                }
            }
        }
        assert_eq!(
            allowed,
            table
                .iter()
                .map(|(_, roles, ..)| roles.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn a_restart_mode_supplement_restarts_the_clock() {
        let mut f = facts(State::SupplementRequested);
        f.supplement_mode = SupplementMode::Restart;
        let decision = decide(&f, Action::Supplement, Role::Citizen);
        assert_eq!(decision.map(|d| d.clock), Ok(Some(ClockEffect::Restart)));
    }

    #[test]
    fn an_apology_is_owed_until_the_result_and_given_once() {
        let mut f = facts(State::InProcessing);
        for left in [
            Duration::hours(20),
            Duration::hours(8) - Duration::minutes(1),
            Duration::zero(),
            Duration::hours(-3),
        ] {
            f.remaining = Some(left);
            assert!(
                decide(&f, Action::Apologise, Role::Leader).is_ok(),
                "{left}: late or about to be, the apology is owed"
            );
        }
        f.apology_given = true;
        assert_eq!(
            decide(&f, Action::Apologise, Role::Leader),
            Err(Refusal::ApologyAlreadyGiven)
        );
        let done = facts(State::ResultReady);
        assert!(decide(&done, Action::Apologise, Role::Leader).is_err());
    }

    #[test]
    fn extensions_stay_within_the_allowance() {
        let mut f = facts(State::InProcessing);
        let extend = |days| Action::ExtendVerification { working_days: days };
        assert!(decide(&f, extend(5), Role::Officer).is_ok());
        f.extension_used_days = 3;
        assert_eq!(
            decide(&f, extend(3), Role::Officer),
            Err(Refusal::ExtensionBeyondAllowance {
                requested: 3,
                available: 2
            })
        );
        assert_eq!(
            decide(&f, extend(0), Role::Officer),
            Err(Refusal::EmptyExtension)
        );
        // Only before the due time: at it or after, the dossier is late.
        for left in [Duration::zero(), Duration::hours(-3)] {
            f.remaining = Some(left);
            assert_eq!(
                decide(&f, extend(1), Role::Officer),
                Err(Refusal::ExtensionAfterDueTime)
            );
        }
        f.remaining = Some(Duration::minutes(1));
        assert!(decide(&f, extend(1), Role::Officer).is_ok());
        f.extension_allowance_days = 0;
        assert_eq!(
            decide(&f, extend(1), Role::Leader),
            Err(Refusal::NoExtensionAllowed)
        );
    }

    #[test]
    fn a_rating_is_given_once() {
        let mut f = facts(State::Returned);
        assert!(decide(&f, Action::Rate, Role::Citizen).is_ok());
        f.rated = true;
        assert_eq!(
            decide(&f, Action::Rate, Role::Citizen),
            Err(Refusal::AlreadyRated)
        );
    }

    #[test]
    fn portal_codes_are_those_of_the_national_portal() {
        let codes: Vec<Option<u8>> = State::ALL.iter().map(|s| s.portal_code()).collect();
        assert_eq!(
            codes,
            vec![
                Some(1),
                None,
                Some(3),
                Some(2),
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(8),
                Some(9),
                Some(10)
            ]
        );
    }

    #[test]
    fn refusal_codes_are_distinct() {
        let refusals = [
            Refusal::WrongState {
                action: "accept",
                state: State::Returned,
            },
            Refusal::WrongRole {
                action: "accept",
                role: Role::Auditor,
            },
            Refusal::ApologyAlreadyGiven,
            Refusal::NoExtensionAllowed,
            Refusal::ExtensionBeyondAllowance {
                requested: 2,
                available: 1,
            },
            Refusal::EmptyExtension,
            Refusal::AlreadyRated,
        ];
        let codes: std::collections::BTreeSet<&str> = refusals.iter().map(Refusal::code).collect();
        assert_eq!(codes.len(), refusals.len());
    }
}
