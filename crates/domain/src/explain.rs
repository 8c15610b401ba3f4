//! How a due time was reached, step by step (docs/requirements.md §7.8): the structured
//! list the API returns, and the Vietnamese sentences a desk prints.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::Serialize;

use crate::calendar::{DayOffKind, DayStatus, WorkingCalendar};
use crate::clock::{DeadlineState, LegalClock, PauseCause, TimeLimit, seconds};
use crate::time::{from_local, to_local};

/// Why a day was not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DayReason {
    /// A weekly rest day.
    Weekend,
    /// A weekend day inside an announced break.
    WeekendInBreak {
        /// The break.
        name: String,
    },
    /// A public holiday.
    Holiday {
        /// The holiday.
        name: String,
    },
    /// Off in lieu of a holiday that fell on a weekend.
    Compensatory {
        /// The holiday compensated.
        name: String,
    },
    /// Swapped with a make-up working day.
    Swapped {
        /// The break it belongs to.
        name: String,
    },
    /// Closed for another reason.
    Closure {
        /// The reason recorded.
        name: String,
    },
}

impl DayReason {
    fn of(kind: DayOffKind, name: &str) -> Self {
        let name = name.to_owned();
        match kind {
            DayOffKind::Holiday => DayReason::Holiday { name },
            DayOffKind::Compensatory => DayReason::Compensatory { name },
            DayOffKind::Swapped => DayReason::Swapped { name },
            DayOffKind::WeekendInBreak => DayReason::WeekendInBreak { name },
            DayOffKind::Closure => DayReason::Closure { name },
        }
    }

    /// Why `date` is not a working day, if it is not.
    pub fn for_date(calendar: &WorkingCalendar, date: NaiveDate) -> Option<Self> {
        match calendar.status(date) {
            DayStatus::Off(kind, name) => Some(DayReason::of(kind, name)),
            DayStatus::Rest => Some(DayReason::Weekend),
            DayStatus::Regular(_) | DayStatus::MakeUp(..) => None,
        }
    }

    fn vietnamese(&self) -> String {
        match self {
            DayReason::Weekend => "nghỉ cuối tuần".into(),
            DayReason::WeekendInBreak { name } => format!("nghỉ cuối tuần trong kỳ nghỉ {name}"),
            DayReason::Holiday { name } => format!("nghỉ lễ {name}"),
            DayReason::Compensatory { name } => format!("nghỉ bù {name}"),
            DayReason::Swapped { name } => format!("nghỉ hoán đổi ({name}), làm bù vào ngày khác"),
            DayReason::Closure { name } => format!("cơ quan nghỉ: {name}"),
        }
    }
}

/// Why the clock did not start at the instant of receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MoveReason {
    /// Received on a working day, outside its office hours.
    OutsideOfficeHours,
    /// Received on a day that is not a working day.
    NonWorkingDay {
        /// Why that day is not worked.
        reason: DayReason,
    },
}

impl MoveReason {
    /// Why an instant outside working time is outside it.
    pub fn of(calendar: &WorkingCalendar, received: NaiveDateTime) -> Self {
        match DayReason::for_date(calendar, received.date()) {
            Some(reason) => MoveReason::NonWorkingDay { reason },
            None => MoveReason::OutsideOfficeHours,
        }
    }
}

/// One step of an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// The complete dossier was received.
    Received {
        /// When.
        at: DateTime<Utc>,
    },
    /// The clock starts later than the receipt.
    StartMoved {
        /// The receipt.
        from: DateTime<Utc>,
        /// The effective start.
        to: DateTime<Utc>,
        /// Why.
        reason: MoveReason,
    },
    /// How a same-day limit was applied.
    SameDay {
        /// The cut-off.
        cutoff: NaiveTime,
        /// Whether the dossier arrived at or before it (or before opening).
        before_cutoff: bool,
        /// The day whose end is the due time.
        due_day: NaiveDate,
    },
    /// How a calendar-days or months limit was applied.
    CalendarDays {
        /// The N-th calendar day.
        last_day: NaiveDate,
        /// The working day whose end is the due time.
        due_day: NaiveDate,
    },
    /// The working-time budget the limit grants.
    Budget {
        /// The procedure's time limit.
        limit: TimeLimit,
        /// As working time.
        #[serde(rename = "working_seconds", serialize_with = "seconds")]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        working_time: Duration,
    },
    /// A day inside the deadline that is not counted.
    SkippedDay {
        /// The date.
        date: NaiveDate,
        /// Why.
        reason: DayReason,
    },
    /// A weekend day that is counted because it is a make-up working day.
    MakeUpDay {
        /// The date.
        date: NaiveDate,
        /// The notice's description.
        name: String,
    },
    /// The clock was paused.
    Paused {
        /// From.
        from: DateTime<Utc>,
        /// To (`None`: still paused at the instant of evaluation).
        to: Option<DateTime<Utc>>,
        /// Why.
        cause: PauseCause,
        /// Working time inside the pause, added to the due time.
        #[serde(rename = "working_seconds", serialize_with = "seconds")]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        working_time: Duration,
    },
    /// The supplement arrived in restart mode: the full budget starts again.
    Restarted {
        /// When it arrived.
        at: DateTime<Utc>,
        /// The new effective start.
        effective_start: DateTime<Utc>,
        /// The budget, anew.
        #[serde(rename = "working_seconds", serialize_with = "seconds")]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        working_time: Duration,
    },
    /// A verification extension.
    Extended {
        /// When granted.
        at: DateTime<Utc>,
        /// Working days added.
        working_days: u32,
        /// As working time.
        #[serde(rename = "working_seconds", serialize_with = "seconds")]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        working_time: Duration,
    },
    /// The legal due time.
    Due {
        /// When.
        at: DateTime<Utc>,
    },
    /// The computation rests on years without an announced schedule.
    Provisional {
        /// Those years.
        years: Vec<i32>,
    },
    /// Where the dossier stands at the instant of evaluation.
    Status {
        /// The instant.
        as_of: DateTime<Utc>,
        /// Working time consumed.
        #[serde(rename = "consumed_seconds", serialize_with = "seconds")]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        consumed: Duration,
        /// Working time left (negative: overrun).
        #[serde(rename = "remaining_seconds", serialize_with = "seconds")]
        #[cfg_attr(feature = "openapi", schema(value_type = i64))]
        remaining: Duration,
        /// Within the deadline or overdue.
        state: DeadlineState,
        /// Whether the clock is paused.
        paused: bool,
        /// When the clock stopped, if it did.
        stopped_at: Option<DateTime<Utc>>,
    },
}

impl Step {
    /// When the step happened, for ordering the middle of an explanation.
    fn instant(&self) -> Option<DateTime<Utc>> {
        match self {
            Step::SkippedDay { date, .. } | Step::MakeUpDay { date, .. } => {
                Some(from_local(date.and_time(NaiveTime::MIN)))
            }
            Step::Paused { from, .. } => Some(*from),
            Step::Restarted { at, .. } | Step::Extended { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// The step as a sentence in Vietnamese, for printing at the desk.
    pub fn vietnamese(&self) -> String {
        match self {
            Step::Received { at } => format!("Tiếp nhận hồ sơ lúc {}.", instant_vi(*at)),
            Step::StartMoved { to, reason, .. } => {
                let why = match reason {
                    MoveReason::OutsideOfficeHours => "Tiếp nhận ngoài giờ hành chính".to_owned(),
                    MoveReason::NonWorkingDay { reason } => {
                        format!(
                            "Tiếp nhận vào ngày không làm việc ({})",
                            reason.vietnamese()
                        )
                    }
                };
                format!("{why}: thời hạn bắt đầu tính từ {}.", instant_vi(*to))
            }
            Step::SameDay {
                cutoff,
                before_cutoff,
                due_day,
            } => {
                let cutoff = cutoff.format("%H:%M");
                if *before_cutoff {
                    format!(
                        "Tiếp nhận trước {cutoff}: trả kết quả trong ngày {}.",
                        day_vi(*due_day)
                    )
                } else {
                    format!(
                        "Tiếp nhận sau {cutoff}: trả kết quả trong ngày làm việc tiếp theo, {}.",
                        day_vi(*due_day)
                    )
                }
            }
            Step::CalendarDays { last_day, due_day } => {
                if last_day == due_day {
                    format!("Ngày cuối của thời hạn: {}.", day_vi(*due_day))
                } else {
                    format!(
                        "Ngày cuối của thời hạn, {}, không phải ngày làm việc: chuyển sang {}.",
                        day_vi(*last_day),
                        day_vi(*due_day)
                    )
                }
            }
            Step::Budget {
                limit,
                working_time,
            } => {
                format!(
                    "Thời hạn giải quyết: {} ({} làm việc).",
                    limit_vi(*limit),
                    hours_vi(*working_time)
                )
            }
            Step::SkippedDay { date, reason } => {
                format!("Không tính {}: {}.", day_vi(*date), reason.vietnamese())
            }
            Step::MakeUpDay { date, name } => {
                format!("Tính {}: ngày làm bù ({name}).", day_vi(*date))
            }
            Step::Paused {
                from,
                to,
                cause,
                working_time,
            } => {
                let cause = match cause {
                    PauseCause::Supplement => "chờ bổ sung hồ sơ",
                    PauseCause::Payment => "chờ nộp phí, lệ phí",
                };
                match to {
                    Some(to) => format!(
                        "Tạm dừng tính thời hạn ({cause}) từ {} đến {}: không tính {} làm việc.",
                        instant_vi(*from),
                        instant_vi(*to),
                        hours_vi(*working_time)
                    ),
                    None => format!(
                        "Đang tạm dừng tính thời hạn ({cause}) từ {}: đến nay không tính {} làm việc.",
                        instant_vi(*from),
                        hours_vi(*working_time)
                    ),
                }
            }
            Step::Restarted {
                at,
                effective_start,
                working_time,
            } => format!(
                "Nhận hồ sơ bổ sung lúc {}: thời hạn tính lại từ đầu ({}) kể từ {}.",
                instant_vi(*at),
                hours_vi(*working_time),
                instant_vi(*effective_start)
            ),
            Step::Extended { working_days, .. } => {
                format!("Gia hạn để xác minh thêm {working_days} ngày làm việc.")
            }
            Step::Due { at } => format!("Hạn giải quyết theo quy định: {}.", instant_vi(*at)),
            Step::Provisional { years } => {
                let years: Vec<String> = years.iter().map(i32::to_string).collect();
                format!(
                    "Lưu ý: lịch nghỉ năm {} chưa được công bố chính thức; thời hạn là tạm tính.",
                    years.join(", ")
                )
            }
            Step::Status {
                as_of,
                consumed,
                remaining,
                state,
                paused,
                stopped_at,
            } => {
                let when = match stopped_at {
                    Some(stopped) => format!("Dừng tính lúc {}", instant_vi(*stopped)),
                    None => format!("Tại thời điểm {}", instant_vi(*as_of)),
                };
                let standing = match state {
                    DeadlineState::WithinDeadline => format!("còn {}", hours_vi(*remaining)),
                    DeadlineState::Overdue => format!("quá hạn {}", hours_vi(-*remaining)),
                };
                let paused = if *paused { " (đang tạm dừng)" } else { "" };
                format!(
                    "{when}: đã sử dụng {}, {standing}{paused}.",
                    hours_vi(*consumed)
                )
            }
        }
    }
}

/// Completes an explanation: the days counted or skipped between the start
/// and the due time, interleaved in time order with the ledger steps already
/// traced, then the due time, coverage and status.
pub(crate) fn finish(
    steps: &mut Vec<Step>,
    calendar: &WorkingCalendar,
    clock: &LegalClock,
    as_of: DateTime<Utc>,
) {
    let first_dated = steps
        .iter()
        .position(|s| s.instant().is_some())
        .unwrap_or(steps.len());
    let mut dated: Vec<Step> = steps.split_off(first_dated);
    let start = to_local(clock.effective_start).date();
    let due = to_local(clock.due_at).date();
    for date in start.iter_days().take_while(|d| *d <= due) {
        match calendar.status(date) {
            DayStatus::Off(kind, name) => dated.push(Step::SkippedDay {
                date,
                reason: DayReason::of(kind, name),
            }),
            DayStatus::Rest => dated.push(Step::SkippedDay {
                date,
                reason: DayReason::Weekend,
            }),
            DayStatus::MakeUp(_, name) => dated.push(Step::MakeUpDay {
                date,
                name: name.to_owned(),
            }),
            DayStatus::Regular(_) => {}
        }
    }
    dated.sort_by_key(Step::instant);
    steps.extend(dated);
    steps.push(Step::Due { at: clock.due_at });
    if clock.is_provisional() {
        steps.push(Step::Provisional {
            years: clock.provisional_years.clone(),
        });
    }
    steps.push(Step::Status {
        as_of,
        consumed: clock.consumed,
        remaining: clock.remaining,
        state: clock.state,
        paused: clock.is_paused,
        stopped_at: clock.stopped_at,
    });
}

fn weekday_vi(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "thứ Hai",
        Weekday::Tue => "thứ Ba",
        Weekday::Wed => "thứ Tư",
        Weekday::Thu => "thứ Năm",
        Weekday::Fri => "thứ Sáu",
        Weekday::Sat => "thứ Bảy",
        Weekday::Sun => "Chủ nhật",
    }
}

/// "thứ Ba 24/02/2026".
pub fn day_vi(date: NaiveDate) -> String {
    format!("{} {}", weekday_vi(date.weekday()), date.format("%d/%m/%Y"))
}

/// "10:00 thứ Ba 24/02/2026", in Vietnam time.
pub fn instant_vi(at: DateTime<Utc>) -> String {
    let local = to_local(at);
    format!("{} {}", local.format("%H:%M"), day_vi(local.date()))
}

/// "5 giờ 30 phút".
pub fn hours_vi(time: Duration) -> String {
    let minutes = time.num_minutes().max(0);
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} phút"),
        (h, 0) => format!("{h} giờ"),
        (h, m) => format!("{h} giờ {m} phút"),
    }
}

/// A number of halves as Vietnamese writes it: `3`, `0,5`, `1,5`.
fn halves_vi(halves: u32) -> String {
    if halves.is_multiple_of(2) {
        (halves / 2).to_string()
    } else {
        format!("{},5", halves / 2)
    }
}

/// A time limit as the forms and explanations print it, in its own unit
/// (`3 ngày làm việc`, `0,5 ngày làm việc`, `4 giờ làm việc`, `15 ngày`, `1 tháng`).
pub fn limit_vi(limit: TimeLimit) -> String {
    match limit {
        TimeLimit::WorkingDays { half_days } => format!("{} ngày làm việc", halves_vi(half_days)),
        TimeLimit::WorkingHours { amount } => format!("{amount} giờ làm việc"),
        TimeLimit::SameDay { cutoff } => {
            format!("trong ngày (tiếp nhận trước {})", cutoff.format("%H:%M"))
        }
        TimeLimit::CalendarDays { amount } => format!("{amount} ngày"),
        TimeLimit::Months { amount } => format!("{amount} tháng"),
    }
}
