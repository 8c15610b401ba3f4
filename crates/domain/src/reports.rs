//! Form 06/VPCP/KSTT, "situation and results of resolving administrative
//! procedures" (docs/requirements.md §9.1), computed from each dossier's facts.
//!
//! The meaning of every column, and the instants that decide them, are in
//! docs/reports.md. In short, for a period `[start, end)`:
//!
//! - a dossier is *taken on* if it was accepted before `end` and had not
//!   finished before `start`: *new* if accepted within the period (online or
//!   direct/postal by its channel), *carried over* if accepted before it;
//! - each dossier taken on is exactly one of: *resolved* in the period (its
//!   result recorded then; early, on time or late), *withdrawn* or *stopped* in
//!   the period, or *in progress* at `end` (within deadline or overdue as of
//!   `end`);
//! - refusals at intake in the period are counted apart, outside "taken on".
//!
//! So, exactly: taken on = new online + new direct/postal + carried over =
//! resolved + in progress + withdrawn + stopped, and one period's in-progress
//! count is the next period's carried-over count.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;

use crate::clock::Outcome;
use crate::time::from_local;

/// A reporting period, `[start, end)` as instants (Vietnam days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    /// First day.
    pub first_day: NaiveDate,
    /// Last day (inclusive).
    pub last_day: NaiveDate,
    /// Start instant (00:00 Vietnam time on the first day).
    pub start: DateTime<Utc>,
    /// End instant (00:00 Vietnam time after the last day).
    pub end: DateTime<Utc>,
}

/// Why a period is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(pub String);

impl Period {
    /// The days `first..=last`.
    pub fn days(first: NaiveDate, last: NaiveDate) -> Result<Period, PeriodError> {
        if last < first {
            return Err(PeriodError("the period ends before it starts".into()));
        }
        let after = last
            .succ_opt()
            .ok_or_else(|| PeriodError("date out of range".into()))?;
        Ok(Period {
            first_day: first,
            last_day: last,
            start: from_local(first.and_time(chrono::NaiveTime::MIN)),
            end: from_local(after.and_time(chrono::NaiveTime::MIN)),
        })
    }

    /// `2026` (a year), `2026-Q3` (a quarter), `2026-10` (a month) or
    /// `cutoff:2026-10` (the government's reporting cut-off: 15 September to 14 October).
    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let bad = || {
            PeriodError(format!(
                "`{text}` is not a period (2026, 2026-Q3, 2026-10 or cutoff:2026-10)"
            ))
        };
        let ymd = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad);
        let month_start = |y: &str, m: &str| -> Result<NaiveDate, PeriodError> {
            let (y, m) = (
                y.parse::<i32>().map_err(|_| bad())?,
                m.parse::<u32>().map_err(|_| bad())?,
            );
            ymd(y, m, 1)
        };
        if let Some(month) = text.strip_prefix("cutoff:") {
            let (y, m) = month.split_once('-').ok_or_else(bad)?;
            let month = month_start(y, m)?;
            let previous = month.checked_sub_months(Months::new(1)).ok_or_else(bad)?;
            return Period::days(
                ymd(previous.year(), previous.month(), 15)?,
                ymd(month.year(), month.month(), 14)?,
            );
        }
        match text.split_once('-') {
            None => {
                let year: i32 = text.parse().map_err(|_| bad())?;
                Period::days(ymd(year, 1, 1)?, ymd(year, 12, 31)?)
            }
            Some((y, q)) if q.starts_with('Q') => {
                let quarter: u32 = q[1..].parse().map_err(|_| bad())?;
                if !(1..=4).contains(&quarter) {
                    return Err(bad());
                }
                let first = month_start(y, &(quarter * 3 - 2).to_string())?;
                let last = first
                    .checked_add_months(Months::new(3))
                    .and_then(|d| d.pred_opt())
                    .ok_or_else(bad)?;
                Period::days(first, last)
            }
            Some((y, m)) => {
                let first = month_start(y, m)?;
                let last = first
                    .checked_add_months(Months::new(1))
                    .and_then(|d| d.pred_opt())
                    .ok_or_else(bad)?;
                Period::days(first, last)
            }
        }
    }
}

impl Period {
    /// The calendar months the period touches, each clipped to the period:
    /// `2026-Q3` gives July, August and September; 15 September to 14
    /// October gives 15–30 September and 1–14 October.
    pub fn months(&self) -> Vec<Period> {
        let mut months = Vec::new();
        let mut first = self.first_day;
        while first <= self.last_day {
            let next = first
                .with_day(1)
                .and_then(|day| day.checked_add_months(Months::new(1)));
            let last = next
                .and_then(|day| day.pred_opt())
                .map_or(self.last_day, |day| day.min(self.last_day));
            let Ok(month) = Period::days(first, last) else {
                break;
            };
            months.push(month);
            match next {
                Some(next) => first = next,
                None => break,
            }
        }
        months
    }
}

/// How a dossier finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Its result was recorded (approved or denied).
    Result {
        /// Early, on time or late.
        outcome: Outcome,
        /// Whether an apology was given.
        apology: bool,
    },
    /// Withdrawn by the citizen after acceptance.
    Withdrawn,
    /// Stopped by a leader.
    Stopped,
}

/// Where an open dossier stood at the end of the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAtEnd {
    /// Overdue at the end instant (the legal due time, pauses included, was before it).
    pub overdue: bool,
    /// Waiting for the citizen's supplement at the end instant.
    pub waiting_for_supplement: bool,
}

/// What the report needs to know of one dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportDossier {
    /// The group it falls in (field, procedure or agency).
    pub group: String,
    /// Filed online.
    pub online: bool,
    /// When the desk accepted it (the receipt was issued), if it did.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When and how it finished, if it did.
    pub finished: Option<(DateTime<Utc>, Finish)>,
    /// When it was refused at intake, if it was.
    pub refused_at: Option<DateTime<Utc>>,
    /// Its standing at the period's end, if it was open then (the caller
    /// evaluates the legal clock as of the end; see [`ReportDossier::open_at`]).
    pub open_at_end: Option<OpenAtEnd>,
}

impl ReportDossier {
    /// Whether the dossier was open (accepted, not finished) at `instant`.
    pub fn open_at(&self, instant: DateTime<Utc>) -> bool {
        self.accepted_at.is_some_and(|a| a < instant)
            && self.finished.is_none_or(|(at, _)| at >= instant)
    }
}

/// One row of Form 06 (a group, or the totals). Each count is documented
/// with its column's Vietnamese title first (as in the CSV header), then its
/// meaning (docs/reports.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Kstt06Row {
    /// Tổng số hồ sơ tiếp nhận — taken on, in all: accepted before the end
    /// of the period and not finished before its start (`new_online +
    /// new_direct + carried_over`).
    pub taken_on: u64,
    /// Tiếp nhận mới trực tuyến — taken on, accepted within the period, filed online.
    pub new_online: u64,
    /// Tiếp nhận mới trực tiếp, bưu chính — taken on, accepted within the
    /// period, received at the desk or by post.
    pub new_direct: u64,
    /// Kỳ trước chuyển qua — taken on, accepted before the period (carried over).
    pub carried_over: u64,
    /// Số hồ sơ đã giải quyết — taken on, result recorded within the period
    /// (`early + on_time + late`).
    pub resolved: u64,
    /// Giải quyết trước hạn — resolved on a day before the due day.
    pub early: u64,
    /// Giải quyết đúng hạn — resolved on the due day, by the due time.
    pub on_time: u64,
    /// Giải quyết quá hạn — resolved after the due time.
    pub late: u64,
    /// Số hồ sơ đang giải quyết — taken on, not finished by the end of the
    /// period (`within_deadline + overdue`).
    pub in_progress: u64,
    /// Đang giải quyết trong hạn — in progress, within the deadline at the end of the period.
    pub within_deadline: u64,
    /// Đang giải quyết quá hạn — in progress, overdue at the end of the period.
    pub overdue: u64,
    /// Rút hồ sơ — taken on, withdrawn by the citizen within the period.
    pub withdrawn: u64,
    /// Dừng giải quyết — taken on, stopped within the period.
    pub stopped: u64,
    /// Chờ bổ sung hồ sơ — in progress and waiting for a supplement at the
    /// end of the period (part of `in_progress`).
    pub waiting_supplement: u64,
    /// Quá hạn đã xin lỗi — resolved late within the period, with an apology
    /// given (part of `late`).
    pub late_with_apology: u64,
    /// Từ chối tiếp nhận — refused at intake within the period (not part of `taken_on`).
    pub refused_at_intake: u64,
}

impl Kstt06Row {
    /// Adds `times` copies of `other`.
    fn add(&mut self, other: &Kstt06Row, times: u64) {
        self.taken_on += other.taken_on * times;
        self.new_online += other.new_online * times;
        self.new_direct += other.new_direct * times;
        self.carried_over += other.carried_over * times;
        self.resolved += other.resolved * times;
        self.early += other.early * times;
        self.on_time += other.on_time * times;
        self.late += other.late * times;
        self.in_progress += other.in_progress * times;
        self.within_deadline += other.within_deadline * times;
        self.overdue += other.overdue * times;
        self.withdrawn += other.withdrawn * times;
        self.stopped += other.stopped * times;
        self.waiting_supplement += other.waiting_supplement * times;
        self.late_with_apology += other.late_with_apology * times;
        self.refused_at_intake += other.refused_at_intake * times;
    }

    /// Counts one dossier into the row.
    fn count(&mut self, dossier: &ReportDossier, period: &Period) {
        let in_period = |at: DateTime<Utc>| period.start <= at && at < period.end;
        if dossier.refused_at.is_some_and(in_period) {
            self.refused_at_intake += 1;
        }
        let Some(accepted) = dossier.accepted_at else {
            return;
        };
        let taken_on =
            accepted < period.end && dossier.finished.is_none_or(|(at, _)| at >= period.start);
        if !taken_on {
            return;
        }
        self.taken_on += 1;
        if accepted >= period.start {
            if dossier.online {
                self.new_online += 1;
            } else {
                self.new_direct += 1;
            }
        } else {
            self.carried_over += 1;
        }
        match dossier.finished {
            Some((at, finish)) if at < period.end => match finish {
                Finish::Result { outcome, apology } => {
                    self.resolved += 1;
                    match outcome {
                        Outcome::Early => self.early += 1,
                        Outcome::OnTime => self.on_time += 1,
                        Outcome::Late => {
                            self.late += 1;
                            if apology {
                                self.late_with_apology += 1;
                            }
                        }
                    }
                }
                Finish::Withdrawn => self.withdrawn += 1,
                Finish::Stopped => self.stopped += 1,
            },
            _ => {
                self.in_progress += 1;
                let open = dossier.open_at_end.unwrap_or(OpenAtEnd {
                    overdue: false,
                    waiting_for_supplement: false,
                });
                if open.overdue {
                    self.overdue += 1;
                } else {
                    self.within_deadline += 1;
                }
                if open.waiting_for_supplement {
                    self.waiting_supplement += 1;
                }
            }
        }
    }
}

/// The report: one row per group (in group order) and the totals row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kstt06 {
    /// Rows by group.
    pub rows: Vec<(String, Kstt06Row)>,
    /// The totals.
    pub total: Kstt06Row,
}

/// Computes Form 06 over the dossiers for the period.
pub fn kstt06(dossiers: &[ReportDossier], period: &Period) -> Kstt06 {
    kstt06_counted(dossiers.iter().map(|d| (d, 1)), period)
}

/// Computes Form 06 over dossiers each standing for a number of alike ones
/// (the same group and the same facts as far as the period can tell, which
/// lets the database count closed dossiers instead of sending each).
pub fn kstt06_counted<'a>(
    dossiers: impl IntoIterator<Item = (&'a ReportDossier, u64)>,
    period: &Period,
) -> Kstt06 {
    let mut groups: BTreeMap<&str, Kstt06Row> = BTreeMap::new();
    for (dossier, times) in dossiers {
        let mut row = Kstt06Row::default();
        row.count(dossier, period);
        if row != Kstt06Row::default() && times > 0 {
            groups.entry(&dossier.group).or_default().add(&row, times);
        }
    }
    let mut total = Kstt06Row::default();
    for row in groups.values() {
        total.add(row, 1);
    }
    Kstt06 {
        rows: groups.into_iter().map(|(g, r)| (g.to_owned(), r)).collect(),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn a_period_splits_into_its_calendar_months_clipped_to_it() {
        let months = |text: &str| -> Vec<(NaiveDate, NaiveDate)> {
            Period::parse(text)
                .unwrap_or_else(|e| panic!("{e}"))
                .months()
                .iter()
                .map(|m| (m.first_day, m.last_day))
                .collect()
        };
        assert_eq!(
            months("2024-Q1"),
            [
                (day("2024-01-01"), day("2024-01-31")),
                (day("2024-02-01"), day("2024-02-29")),
                (day("2024-03-01"), day("2024-03-31")),
            ]
        );
        assert_eq!(
            months("cutoff:2026-10"),
            [
                (day("2026-09-15"), day("2026-09-30")),
                (day("2026-10-01"), day("2026-10-14")),
            ]
        );
        assert_eq!(months("2026").len(), 12);
        let one_day = Period::days(day("2026-10-05"), day("2026-10-05"));
        let one_day = one_day.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one_day.months(), [one_day]);
        // Each month starts where the one before it ends.
        let year = Period::parse("2026").unwrap_or_else(|e| panic!("{e}"));
        for pair in year.months().windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
    }

    #[test]
    fn periods_parse_as_the_government_writes_them() {
        let check = |text: &str, first: &str, last: &str| {
            let period = Period::parse(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (period.first_day, period.last_day),
                (day(first), day(last)),
                "{text}"
            );
        };
        check("2026", "2026-01-01", "2026-12-31");
        check("2026-Q3", "2026-07-01", "2026-09-30");
        check("2026-Q1", "2026-01-01", "2026-03-31");
        check("2026-02", "2026-02-01", "2026-02-28");
        check("cutoff:2026-10", "2026-09-15", "2026-10-14");
        check("cutoff:2026-01", "2025-12-15", "2026-01-14");
        for bad in ["2026-Q5", "2026-13", "cutoff:2026", "last month", ""] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        let period = Period::parse("2026-10").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            period.start.to_rfc3339(),
            "2026-09-30T17:00:00+00:00",
            "midnight in Vietnam"
        );
    }
}
