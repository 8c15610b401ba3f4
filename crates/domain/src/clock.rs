//! The legal clock (docs/requirements.md §7): when a dossier's deadline starts, when it
//! falls due, how pauses, restarts and extensions move it, how much working
//! time is consumed and left, and how a result is classified.
//!
//! Every quantity is a difference of cumulative working time on the agency's
//! [`WorkingCalendar`], so the rules compose: a pause removes exactly the
//! working time inside it, an extension adds working time to the budget, an
//! apology changes nothing here (it sets a new appointment for the citizen,
//! not a new legal due time).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{CalendarError, WorkingCalendar};
use crate::explain::{MoveReason, Step};
use crate::time::{from_local, to_local};

/// How long the law gives for a procedure (docs/requirements.md §5). In JSON:
/// `{"amount": 3, "unit": "working_days"}`, `{"amount": 0.5, "unit":
/// "working_days"}` (the law's "0,5 ngày làm việc"), or
/// `{"unit": "same_day", "cutoff": "15:00"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TimeLimitSpec", into = "TimeLimitSpec")]
pub enum TimeLimit {
    /// N standard (8-hour) working days of working time; N may end in a
    /// half (`0,5 ngày làm việc`: half a standard day, four hours).
    WorkingDays {
        /// N, counted in halves: 6 is 3 days, 1 is half a day.
        half_days: u32,
    },
    /// N hours of working time.
    WorkingHours {
        /// N.
        amount: u32,
    },
    /// Within the receiving working day if received at or before the cut-off,
    /// otherwise by the end of the next working day.
    SameDay {
        /// The cut-off time of day (by default 15:00).
        cutoff: NaiveTime,
    },
    /// The end of the N-th calendar day after the day of receipt (the period
    /// starts the day after the event: Civil Code 2015, art. 147), or of the
    /// next working day if that is not one (art. 148).
    CalendarDays {
        /// N.
        amount: u32,
    },
    /// The end of the day of the N-th month after receipt that has the
    /// receipt's day number, or the month's last day if it has none (Civil
    /// Code 2015, art. 148), or of the next working day if that is not one.
    Months {
        /// N.
        amount: u32,
    },
}

impl TimeLimit {
    /// N whole working days.
    pub const fn working_days(days: u32) -> Self {
        TimeLimit::WorkingDays {
            half_days: days.saturating_mul(2),
        }
    }
}

/// 15:00, the default same-day cut-off.
pub fn default_cutoff() -> NaiveTime {
    NaiveTime::from_hms_opt(15, 0, 0).unwrap_or(NaiveTime::MIN)
}

// In the OpenAPI document a time limit is its JSON form.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TimeLimit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <TimeLimitSpec as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TimeLimit {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        <TimeLimitSpec as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The unit of a time limit in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Standard (8-hour) working days.
    WorkingDays,
    /// Hours of working time.
    WorkingHours,
    /// Within the receiving working day (cut-off rule).
    SameDay,
    /// Calendar days.
    CalendarDays,
    /// Months.
    Months,
}

impl TimeUnit {
    /// Every unit.
    pub const ALL: [TimeUnit; 5] = [
        TimeUnit::WorkingDays,
        TimeUnit::WorkingHours,
        TimeUnit::SameDay,
        TimeUnit::CalendarDays,
        TimeUnit::Months,
    ];

    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::WorkingDays => "working_days",
            TimeUnit::WorkingHours => "working_hours",
            TimeUnit::SameDay => "same_day",
            TimeUnit::CalendarDays => "calendar_days",
            TimeUnit::Months => "months",
        }
    }
}

/// The JSON form of a [`TimeLimit`]: `{"amount": 3, "unit": "working_days"}`,
/// or `{"unit": "same_day", "cutoff": "15:00"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TimeLimit))]
pub struct TimeLimitSpec {
    /// How many units (not used by `same_day`): a whole number, or for
    /// `working_days` a multiple of one half (`0.5`, `1.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, multiple_of = 0.5, minimum = 0.5))]
    pub amount: Option<Amount>,
    /// `working_days`, `working_hours`, `same_day`, `calendar_days` or `months`.
    #[cfg_attr(feature = "openapi", schema(value_type = TimeUnit))]
    pub unit: String,
    /// `HH:MM`, for `same_day` (default 15:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
}

/// A time limit's amount as JSON writes it, kept in halves: a whole number
/// is written as an integer (`3`), a half as a decimal (`0.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    halves: u32,
}

impl Amount {
    /// A whole amount.
    pub const fn whole(n: u32) -> Self {
        Amount {
            halves: n.saturating_mul(2),
        }
    }

    /// The amount in halves.
    pub const fn halves(self) -> u32 {
        self.halves
    }

    /// The whole number, if the amount is one.
    pub const fn as_whole(self) -> Option<u32> {
        if self.halves.is_multiple_of(2) {
            Some(self.halves / 2)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_whole() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "{}.5", self.halves / 2),
        }
    }
}

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_whole() {
            Some(n) => serializer.serialize_u32(n),
            None => serializer.serialize_f64(f64::from(self.halves) / 2.0),
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        let halves = value * 2.0;
        if !(halves.is_finite() && halves >= 0.0 && halves.fract() == 0.0)
            || halves > f64::from(u32::MAX)
        {
            return Err(serde::de::Error::custom(
                "amount must be a whole number, or a whole number and a half (0.5)",
            ));
        }
        // Checked above: a whole number of halves within u32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Amount {
            halves: halves as u32,
        })
    }
}

/// Why a time limit is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeLimitError {
    /// Unknown unit.
    #[error(
        "unit must be working_days, working_hours, same_day, calendar_days or months, not `{0}`"
    )]
    Unit(String),
    /// Missing or zero amount.
    #[error("{0} needs an amount above 0: at least 1, or 0.5 for working_days")]
    Amount(&'static str),
    /// A half in a unit counted in whole numbers.
    #[error("{0} are counted in whole numbers; only working_days may end in a half")]
    Half(&'static str),
    /// Longer than any procedure's limit could be (more than ten years of work).
    #[error("an amount of {0} is beyond any legal time limit")]
    TooLong(Amount),
    /// Cut-off not a time of day.
    #[error("cutoff must be HH:MM, not `{0}`")]
    Cutoff(String),
}

impl TryFrom<TimeLimitSpec> for TimeLimit {
    type Error = TimeLimitError;
    fn try_from(spec: TimeLimitSpec) -> Result<Self, Self::Error> {
        // In halves, up to `max` whole units.
        let halves = |unit: &'static str, max: u32| match spec.amount {
            None => Err(TimeLimitError::Amount(unit)),
            Some(n) if n.halves() == 0 => Err(TimeLimitError::Amount(unit)),
            Some(n) if n.halves() > max * 2 => Err(TimeLimitError::TooLong(n)),
            Some(n) => Ok(n.halves()),
        };
        let amount = |unit: &'static str, max: u32| {
            let halves = halves(unit, max)?;
            if !halves.is_multiple_of(2) {
                return Err(TimeLimitError::Half(unit));
            }
            if halves < 2 {
                return Err(TimeLimitError::Amount(unit));
            }
            Ok(halves / 2)
        };
        let unit = TimeUnit::ALL.into_iter().find(|u| u.as_str() == spec.unit);
        match unit {
            Some(TimeUnit::WorkingDays) => Ok(TimeLimit::WorkingDays {
                half_days: halves("working_days", 2_500)?,
            }),
            Some(TimeUnit::WorkingHours) => Ok(TimeLimit::WorkingHours {
                amount: amount("working_hours", 20_000)?,
            }),
            Some(TimeUnit::CalendarDays) => Ok(TimeLimit::CalendarDays {
                amount: amount("calendar_days", 3_650)?,
            }),
            Some(TimeUnit::Months) => Ok(TimeLimit::Months {
                amount: amount("months", 120)?,
            }),
            Some(TimeUnit::SameDay) => {
                let cutoff = match spec.cutoff {
                    None => default_cutoff(),
                    Some(text) => NaiveTime::parse_from_str(&text, "%H:%M")
                        .map_err(|_| TimeLimitError::Cutoff(text))?,
                };
                Ok(TimeLimit::SameDay { cutoff })
            }
            None => Err(TimeLimitError::Unit(spec.unit)),
        }
    }
}

impl From<TimeLimit> for TimeLimitSpec {
    fn from(limit: TimeLimit) -> Self {
        let (unit, amount, cutoff) = match limit {
            TimeLimit::WorkingDays { half_days } => (
                TimeUnit::WorkingDays,
                Some(Amount { halves: half_days }),
                None,
            ),
            TimeLimit::WorkingHours { amount } => {
                (TimeUnit::WorkingHours, Some(Amount::whole(amount)), None)
            }
            TimeLimit::CalendarDays { amount } => {
                (TimeUnit::CalendarDays, Some(Amount::whole(amount)), None)
            }
            TimeLimit::Months { amount } => (TimeUnit::Months, Some(Amount::whole(amount)), None),
            TimeLimit::SameDay { cutoff } => (
                TimeUnit::SameDay,
                None,
                Some(cutoff.format("%H:%M").to_string()),
            ),
        };
        TimeLimitSpec {
            amount,
            unit: unit.as_str().into(),
            cutoff,
        }
    }
}

/// What a supplement request does to the clock (per procedure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SupplementMode {
    /// The clock stops while the citizen completes the dossier, then goes on.
    Pause,
    /// The clock stops, and the full budget starts again when the supplement arrives.
    Restart,
}

/// Why the clock is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PauseCause {
    /// Waiting for the citizen to supplement the dossier.
    Supplement,
    /// Waiting for the citizen to pay a fee.
    Payment,
}

/// One entry in a dossier's clock ledger, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClockEvent {
    /// The clock stops counting.
    Paused {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        cause: PauseCause,
    },
    /// The clock counts again after a pause.
    Resumed {
        /// When.
        at: DateTime<Utc>,
    },
    /// The complete supplement arrived (restart mode): the full budget starts again.
    Restarted {
        /// When the supplement arrived.
        at: DateTime<Utc>,
    },
    /// A verification extension adds working days to the budget.
    Extended {
        /// When it was granted.
        at: DateTime<Utc>,
        /// How many working days.
        working_days: u32,
    },
    /// The clock stops for good (result ready, stopped, withdrawn).
    Stopped {
        /// When.
        at: DateTime<Utc>,
    },
}

impl ClockEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ClockEvent::Paused { at, .. }
            | ClockEvent::Resumed { at }
            | ClockEvent::Restarted { at }
            | ClockEvent::Extended { at, .. }
            | ClockEvent::Stopped { at } => *at,
        }
    }
}

/// Why a clock cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The calendar cannot answer (no working time, date out of range).
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// The ledger is not in time order, or starts before the receipt.
    #[error("clock events out of order at {0}")]
    OutOfOrder(DateTime<Utc>),
    /// A pause while paused, or a resume while running.
    #[error("clock event {0} does not fit the clock's state")]
    Inconsistent(&'static str),
}

/// State of an open dossier against its deadline at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// At or before the due time.
    WithinDeadline,
    /// After the due time.
    Overdue,
}

/// Classification of a result against the due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DeadlineOutcome))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Finished on a day before the due day.
    Early,
    /// Finished on the due day, at or before the due time.
    OnTime,
    /// Finished after the due time.
    Late,
}

impl Outcome {
    /// snake_case name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Early => "early",
            Outcome::OnTime => "on_time",
            Outcome::Late => "late",
        }
    }
}

/// Classifies a result finished at `finished` against `due` (docs/requirements.md §7.6):
/// days compare in Vietnam time.
pub fn classify(finished: DateTime<Utc>, due: DateTime<Utc>) -> Outcome {
    if finished > due {
        Outcome::Late
    } else if to_local(finished).date() < to_local(due).date() {
        Outcome::Early
    } else {
        Outcome::OnTime
    }
}

/// The legal clock of a dossier as of an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegalClock {
    /// When the (complete) dossier was received: the raw instant.
    pub received_at: DateTime<Utc>,
    /// When the clock started: the receipt, moved into working time. After a
    /// restart, the arrival of the supplement, moved likewise.
    pub effective_start: DateTime<Utc>,
    /// The legal due time, after pauses and extensions.
    pub due_at: DateTime<Utc>,
    /// The working-time budget: the time limit plus extensions.
    #[serde(serialize_with = "seconds")]
    pub budget: Duration,
    /// Working time removed by pauses (up to the instant of evaluation).
    #[serde(serialize_with = "seconds")]
    pub paused: Duration,
    /// Working time consumed (since the start, pauses excluded).
    #[serde(serialize_with = "seconds")]
    pub consumed: Duration,
    /// Budget minus consumed; negative once overdue (the overrun).
    #[serde(serialize_with = "seconds")]
    pub remaining: Duration,
    /// Within the deadline or overdue, at the instant of evaluation (or at
    /// the stop, for a stopped clock).
    pub state: DeadlineState,
    /// Whether a pause is open.
    pub is_paused: bool,
    /// When the clock stopped, if it did.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Years touched whose official schedule is not announced: the due time is provisional.
    pub provisional_years: Vec<i32>,
}

impl LegalClock {
    /// The result's classification, if the clock stopped.
    pub fn outcome(&self) -> Option<Outcome> {
        self.stopped_at.map(|at| classify(at, self.due_at))
    }

    /// Whether the due time rests on a year without an announced schedule.
    pub fn is_provisional(&self) -> bool {
        !self.provisional_years.is_empty()
    }
}

/// Serializes a duration as whole seconds.
pub(crate) fn seconds<S: serde::Serializer>(
    value: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_i64(value.num_seconds())
}

/// N half standard working days of working time.
fn working_half_days(calendar: &WorkingCalendar, half_days: u32) -> Duration {
    Duration::seconds(calendar.standard_day().num_seconds() * i64::from(half_days) / 2)
}

/// A dossier's clock: its calendar, time limit, receipt and ledger.
#[derive(Debug, Clone, Copy)]
pub struct ClockInput<'a> {
    /// The receiving agency's composed calendar.
    pub calendar: &'a WorkingCalendar,
    /// The procedure version's time limit.
    pub limit: TimeLimit,
    /// When the complete dossier was received (the raw instant).
    pub received_at: DateTime<Utc>,
    /// The ledger, in time order.
    pub events: &'a [ClockEvent],
}

/// The due time of a fresh dossier: (effective start, due). The hot path of
/// the clock: a few logarithmic searches, no allocation.
pub fn due_time(
    calendar: &WorkingCalendar,
    limit: TimeLimit,
    received_at: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ClockError> {
    let received = to_local(received_at);
    let start = calendar.next_working_instant(received)?;
    let budget = base_budget(calendar, limit, received, start, None)?;
    let due = calendar.add_working_time(start, budget)?;
    Ok((from_local(start), from_local(due)))
}

/// The working time a limit grants from `start` (raw receipt `received`).
fn base_budget(
    calendar: &WorkingCalendar,
    limit: TimeLimit,
    received: NaiveDateTime,
    start: NaiveDateTime,
    trace: Option<&mut Vec<Step>>,
) -> Result<Duration, ClockError> {
    let due_day_end = |day: NaiveDate| -> Result<Duration, ClockError> {
        let end = calendar
            .end_of_working_day(day)
            .ok_or(CalendarError::NoWorkingTime(day))?;
        Ok(calendar.working_time_between(start, end))
    };
    let budget = match limit {
        TimeLimit::WorkingDays { half_days } => working_half_days(calendar, half_days),
        TimeLimit::WorkingHours { amount } => Duration::hours(i64::from(amount)),
        TimeLimit::SameDay { cutoff } => {
            let in_time = start.date() != received.date() || received.time() <= cutoff;
            let day = if in_time {
                start.date()
            } else {
                calendar.next_working_day(start.date())?
            };
            if let Some(trace) = trace {
                trace.push(Step::SameDay {
                    cutoff,
                    before_cutoff: in_time,
                    due_day: day,
                });
            }
            due_day_end(day)?
        }
        // Counted from the day of receipt (the period starts the next day,
        // whether or not a working day), not from the start moved into
        // working time: received on a Saturday, day 1 is the Sunday.
        TimeLimit::CalendarDays { .. } | TimeLimit::Months { .. } => {
            let received_on = received.date();
            let last = match limit {
                TimeLimit::Months { amount } => {
                    received_on.checked_add_months(chrono::Months::new(amount))
                }
                TimeLimit::CalendarDays { amount } => {
                    received_on.checked_add_days(chrono::Days::new(u64::from(amount)))
                }
                _ => None,
            }
            .ok_or(CalendarError::OutOfRange)?;
            // (Only a zero amount, which a procedure cannot have, could put
            // the last day before the start.)
            let day = calendar.working_day_on_or_after(last.max(start.date()))?;
            if let Some(trace) = trace {
                trace.push(Step::CalendarDays {
                    last_day: last,
                    due_day: day,
                });
            }
            due_day_end(day)?
        }
    };
    Ok(budget)
}

/// Computes the clock as of `as_of`, ignoring ledger entries after it (so a
/// report can ask how a dossier stood at the end of a past period).
pub fn evaluate(input: ClockInput<'_>, as_of: DateTime<Utc>) -> Result<LegalClock, ClockError> {
    run(input, as_of, None)
}

/// Like [`evaluate`], also returning the steps that explain the due time.
pub fn evaluate_explained(
    input: ClockInput<'_>,
    as_of: DateTime<Utc>,
) -> Result<(LegalClock, Vec<Step>), ClockError> {
    let mut steps = Vec::new();
    let clock = run(input, as_of, Some(&mut steps))?;
    Ok((clock, steps))
}

fn run(
    input: ClockInput<'_>,
    as_of: DateTime<Utc>,
    mut trace: Option<&mut Vec<Step>>,
) -> Result<LegalClock, ClockError> {
    let calendar = input.calendar;
    let received = to_local(input.received_at);
    let mut start = calendar.next_working_instant(received)?;
    if let Some(trace) = trace.as_deref_mut() {
        trace.push(Step::Received {
            at: input.received_at,
        });
        if start != received {
            trace.push(Step::StartMoved {
                from: input.received_at,
                to: from_local(start),
                reason: MoveReason::of(calendar, received),
            });
        }
    }
    let mut budget = base_budget(calendar, input.limit, received, start, trace.as_deref_mut())?;
    if let Some(trace) = trace.as_deref_mut() {
        trace.push(Step::Budget {
            limit: input.limit,
            working_time: budget,
        });
    }
    let mut extension = Duration::zero();
    let mut paused = Duration::zero();
    let mut open_pause: Option<(DateTime<Utc>, PauseCause)> = None;
    let mut stopped_at = None;
    let mut previous = input.received_at;

    for event in input.events.iter().take_while(|e| e.at() <= as_of) {
        let at = event.at();
        if at < previous {
            return Err(ClockError::OutOfOrder(at));
        }
        previous = at;
        match *event {
            ClockEvent::Paused { cause, .. } => {
                if open_pause.is_some() {
                    return Err(ClockError::Inconsistent("paused"));
                }
                open_pause = Some((at, cause));
            }
            ClockEvent::Resumed { .. } => {
                let (from, cause) = open_pause
                    .take()
                    .ok_or(ClockError::Inconsistent("resumed"))?;
                let removed = pause_time(calendar, start, from, at);
                paused += removed;
                if let Some(trace) = trace.as_deref_mut() {
                    trace.push(Step::Paused {
                        from,
                        to: Some(at),
                        cause,
                        working_time: removed,
                    });
                }
            }
            ClockEvent::Restarted { .. } => {
                if let Some((from, cause)) = open_pause.take()
                    && let Some(trace) = trace.as_deref_mut()
                {
                    let removed = pause_time(calendar, start, from, at);
                    trace.push(Step::Paused {
                        from,
                        to: Some(at),
                        cause,
                        working_time: removed,
                    });
                }
                let arrived = to_local(at);
                start = calendar.next_working_instant(arrived)?;
                paused = Duration::zero();
                budget = base_budget(calendar, input.limit, arrived, start, None)?;
                if let Some(trace) = trace.as_deref_mut() {
                    trace.push(Step::Restarted {
                        at,
                        effective_start: from_local(start),
                        working_time: budget,
                    });
                }
            }
            ClockEvent::Extended { working_days, .. } => {
                let added = working_half_days(calendar, working_days.saturating_mul(2));
                extension += added;
                if let Some(trace) = trace.as_deref_mut() {
                    trace.push(Step::Extended {
                        at,
                        working_days,
                        working_time: added,
                    });
                }
            }
            ClockEvent::Stopped { .. } => {
                stopped_at = Some(at);
                break;
            }
        }
    }

    let until = stopped_at.unwrap_or(as_of);
    if let Some((from, cause)) = open_pause {
        let removed = pause_time(calendar, start, from, until);
        paused += removed;
        if let Some(trace) = trace.as_deref_mut() {
            trace.push(Step::Paused {
                from,
                to: None,
                cause,
                working_time: removed,
            });
        }
    }
    let total = budget + extension;
    let due = calendar.add_working_time(start, total + paused)?;
    let until_local = to_local(until);
    let consumed =
        (calendar.working_time_between(start, until_local) - paused).max(Duration::zero());
    let due_at = from_local(due);
    let clock = LegalClock {
        received_at: input.received_at,
        effective_start: from_local(start),
        due_at,
        budget: total,
        paused,
        consumed,
        remaining: total - consumed,
        state: if until <= due_at {
            DeadlineState::WithinDeadline
        } else {
            DeadlineState::Overdue
        },
        is_paused: open_pause.is_some() && stopped_at.is_none(),
        stopped_at,
        provisional_years: calendar
            .unannounced_years(start.date(), due.date().max(until_local.date())),
    };
    if let Some(trace) = trace {
        crate::explain::finish(trace, calendar, &clock, as_of);
    }
    Ok(clock)
}

/// Working time inside a pause, counting only what lies after the clock's start.
fn pause_time(
    calendar: &WorkingCalendar,
    start: NaiveDateTime,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Duration {
    calendar.working_time_between(to_local(from).max(start), to_local(to))
}

/// How long the desk has to acknowledge an online filing (docs/requirements.md §7.7).
pub const ACKNOWLEDGEMENT_HOURS: u32 = 8;

/// When an online filing submitted at `submitted_at` must have been accepted,
/// refused or sent a supplement request: 8 working hours later.
pub fn acknowledgement_due(
    calendar: &WorkingCalendar,
    submitted_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, ClockError> {
    due_time(
        calendar,
        TimeLimit::WorkingHours {
            amount: ACKNOWLEDGEMENT_HOURS,
        },
        submitted_at,
    )
    .map(|(_, due)| due)
}

/// One step of the internal process as the control slip shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepDeadline {
    /// When the dossier was handed to the step.
    pub started_at: DateTime<Utc>,
    /// The step's due time: its budget of working hours from its start, pauses excluded.
    pub due_at: DateTime<Utc>,
    /// When the step handed the dossier on, if it did.
    pub finished_at: Option<DateTime<Utc>>,
    /// The classification of the finished step.
    pub outcome: Option<Outcome>,
    /// For an unfinished step: within its budget or overdue at the instant asked.
    pub state: DeadlineState,
}

/// The due time and classification of one control-slip step: `budget` of
/// working time from the hand-over, moved by the pauses in `events`.
pub fn step_deadline(
    calendar: &WorkingCalendar,
    started_at: DateTime<Utc>,
    budget_hours: u32,
    events: &[ClockEvent],
    finished_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> Result<StepDeadline, ClockError> {
    let mut ledger: Vec<ClockEvent> = events
        .iter()
        .filter(|e| {
            e.at() >= started_at
                && finished_at.is_none_or(|end| e.at() <= end)
                && !matches!(e, ClockEvent::Stopped { .. } | ClockEvent::Restarted { .. })
        })
        .copied()
        .collect();
    if let Some(end) = finished_at {
        ledger.push(ClockEvent::Stopped { at: end });
    }
    let input = ClockInput {
        calendar,
        limit: TimeLimit::WorkingHours {
            amount: budget_hours,
        },
        received_at: started_at,
        events: &ledger,
    };
    let clock = evaluate(input, as_of.max(finished_at.unwrap_or(as_of)))?;
    Ok(StepDeadline {
        started_at,
        due_at: clock.due_at,
        finished_at,
        outcome: clock.outcome(),
        state: clock.state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_read_the_catalogue_format() {
        let read = |json: &str| serde_json::from_str::<TimeLimit>(json).map_err(|e| e.to_string());
        assert_eq!(
            read(r#"{"amount": 3, "unit": "working_days"}"#),
            Ok(TimeLimit::working_days(3))
        );
        // The law's "0,5 ngày làm việc" and "1,5 ngày làm việc".
        assert_eq!(
            read(r#"{"amount": 0.5, "unit": "working_days"}"#),
            Ok(TimeLimit::WorkingDays { half_days: 1 })
        );
        assert_eq!(
            read(r#"{"amount": 1.5, "unit": "working_days"}"#),
            Ok(TimeLimit::WorkingDays { half_days: 3 })
        );
        assert_eq!(
            read(r#"{"amount": 0, "unit": "same_day", "cutoff": "15:00"}"#),
            Ok(TimeLimit::SameDay {
                cutoff: default_cutoff()
            })
        );
        assert_eq!(
            read(r#"{"unit": "same_day"}"#),
            Ok(TimeLimit::SameDay {
                cutoff: default_cutoff()
            })
        );
        for bad in [
            r#"{"amount": 0, "unit": "working_days"}"#,
            r#"{"unit": "working_hours"}"#,
            r#"{"amount": 3, "unit": "weeks"}"#,
            r#"{"unit": "same_day", "cutoff": "3pm"}"#,
            r#"{"amount": 99999, "unit": "working_days"}"#,
            // Halves only for working days; nothing finer than a half.
            r#"{"amount": 1.5, "unit": "working_hours"}"#,
            r#"{"amount": 0.5, "unit": "calendar_days"}"#,
            r#"{"amount": 2.5, "unit": "months"}"#,
            r#"{"amount": 0.25, "unit": "working_days"}"#,
            r#"{"amount": -1, "unit": "working_days"}"#,
            r#"{"amount": 1e300, "unit": "working_days"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        // Whole amounts are written as integers, halves as decimals.
        let write = |limit: TimeLimit| serde_json::to_string(&limit).unwrap_or_default();
        assert_eq!(
            write(TimeLimit::working_days(3)),
            r#"{"amount":3,"unit":"working_days"}"#
        );
        assert_eq!(
            write(TimeLimit::WorkingDays { half_days: 3 }),
            r#"{"amount":1.5,"unit":"working_days"}"#
        );
        let json = serde_json::to_string(&TimeLimit::SameDay {
            cutoff: default_cutoff(),
        })
        .unwrap_or_default();
        assert_eq!(json, r#"{"unit":"same_day","cutoff":"15:00"}"#);
    }

    #[test]
    fn classification_compares_days_in_vietnam_time() {
        let due = from_local(
            NaiveDate::from_ymd_opt(2026, 11, 24)
                .and_then(|d| d.and_hms_opt(10, 0, 0))
                .unwrap_or_default(),
        );
        // 23:30 Vietnam time the evening before is already 16:30 UTC the same UTC day.
        let evening_before = due - Duration::minutes(10 * 60 + 30);
        assert_eq!(classify(evening_before, due), Outcome::Early);
        assert_eq!(classify(due - Duration::hours(2), due), Outcome::OnTime);
        assert_eq!(classify(due, due), Outcome::OnTime);
        assert_eq!(classify(due + Duration::seconds(1), due), Outcome::Late);
    }
}
