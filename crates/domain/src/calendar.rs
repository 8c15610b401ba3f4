//! Working calendars: which instants are working time.
//!
//! A calendar is weekly office hours (several periods a day) plus dated
//! exceptions: days off with their reason (public holiday, compensatory day,
//! swapped day, closure) and make-up working days with their hours. Agency
//! calendars are composed from a chain of layers (the national calendar, then
//! the province's, then the commune's), a later layer overriding an earlier
//! one. A calendar also knows its *coverage*: the years whose official
//! schedule is known. A computation that reaches outside it is provisional.
//!
//! Everything rests on one function: `cumulative(t)`, the working time from a
//! fixed origin to the instant `t`. It costs one binary search over the
//! exceptions (whole weeks are counted by arithmetic, never walked), and its
//! inverse — the earliest instant at which the cumulative working time reaches
//! a value — costs a logarithmic number of those. Due times, consumed and
//! remaining time, pauses and extensions are all differences of cumulative
//! working time. The "earliest instant" is what makes a due time that falls on
//! the boundary between two periods the end of the earlier one.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

/// Searches for working time give up after this many days (a calendar with no
/// working time at all would otherwise search forever).
const HORIZON_DAYS: i32 = 366 * 50;

/// What can be wrong with a calendar or a computation on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A period is empty, reversed, or overlaps another one.
    #[error("invalid office hours: {0}")]
    InvalidHours(String),
    /// The same date appears twice in one layer.
    #[error("{0} is listed twice")]
    DuplicateDate(NaiveDate),
    /// No working time within the search horizon: the deadline cannot be reached.
    #[error("the calendar has no working time after {0}")]
    NoWorkingTime(NaiveDate),
    /// The date is outside what the calendar can compute (before year 1 or far future).
    #[error("date out of range")]
    OutOfRange,
}

/// One working period of a day, `[start, end)` in seconds after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    start: u32,
    end: u32,
}

impl Period {
    /// A period from `start` to `end` (end exclusive, after start).
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self, CalendarError> {
        let (start, end) = (
            start.num_seconds_from_midnight(),
            end.num_seconds_from_midnight(),
        );
        if start >= end {
            return Err(CalendarError::InvalidHours(format!(
                "{} is not before {}",
                clock_text(start),
                clock_text(end)
            )));
        }
        Ok(Period { start, end })
    }

    /// Parses `HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let invalid = || CalendarError::InvalidHours(format!("`{text}` is not HH:MM-HH:MM"));
        let (start, end) = text.split_once('-').ok_or_else(invalid)?;
        let parse = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| invalid());
        Period::new(parse(start)?, parse(end)?)
    }

    /// Start, as a time of day.
    pub fn start(&self) -> NaiveTime {
        time_of(self.start)
    }

    /// End, as a time of day.
    pub fn end(&self) -> NaiveTime {
        time_of(self.end)
    }

    fn secs(&self) -> i64 {
        i64::from(self.end - self.start)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", clock_text(self.start), clock_text(self.end))
    }
}

fn clock_text(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
}

fn time_of(secs: u32) -> NaiveTime {
    NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or(NaiveTime::MIN)
}

/// The working periods of one day, in order and not overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct DayHours {
    periods: Vec<Period>,
    total: i64,
}

impl DayHours {
    /// Working hours made of these periods.
    pub fn new(mut periods: Vec<Period>) -> Result<Self, CalendarError> {
        periods.sort();
        if let Some(pair) = periods.windows(2).find(|pair| pair[0].end > pair[1].start) {
            return Err(CalendarError::InvalidHours(format!(
                "{} overlaps {}",
                pair[0], pair[1]
            )));
        }
        let total = periods.iter().map(Period::secs).sum();
        Ok(DayHours { periods, total })
    }

    /// No working time.
    pub fn closed() -> Self {
        DayHours::default()
    }

    /// Parses a list of `HH:MM-HH:MM` periods.
    pub fn parse<S: AsRef<str>>(periods: &[S]) -> Result<Self, CalendarError> {
        DayHours::new(
            periods
                .iter()
                .map(|p| Period::parse(p.as_ref()))
                .collect::<Result<_, _>>()?,
        )
    }

    /// The periods, in order.
    pub fn periods(&self) -> &[Period] {
        &self.periods
    }

    /// Total working time of the day.
    pub fn duration(&self) -> Duration {
        Duration::seconds(self.total)
    }

    /// Whether the day has any working time.
    pub fn is_working(&self) -> bool {
        self.total > 0
    }

    /// Working seconds between midnight and `sec`.
    fn worked_before(&self, sec: u32) -> i64 {
        self.periods
            .iter()
            .map(|p| i64::from(sec.clamp(p.start, p.end) - p.start))
            .sum()
    }

    /// The earliest second of the day by which `need` working seconds (in
    /// `1..=total`) have been worked: the end of a period when `need` is
    /// exactly what the periods up to it hold.
    fn reaching(&self, need: i64) -> u32 {
        let mut left = need;
        for period in &self.periods {
            if left <= period.secs() {
                // `left` fits in the period, so it also fits in u32.
                return period.start + u32::try_from(left).unwrap_or(0);
            }
            left -= period.secs();
        }
        self.periods.last().map_or(0, |p| p.end)
    }

    /// End of the last period.
    fn end(&self) -> Option<u32> {
        self.periods.last().map(|p| p.end)
    }
}

/// Office hours for each day of the week, Monday first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyHours([DayHours; 7]);

impl WeeklyHours {
    /// Hours for Monday … Sunday.
    pub fn new(days: [DayHours; 7]) -> Self {
        WeeklyHours(days)
    }

    /// The hours of a weekday.
    pub fn day(&self, weekday: chrono::Weekday) -> &DayHours {
        &self.0[weekday.num_days_from_monday() as usize]
    }

    /// Monday to Friday 07:30–11:30 and 13:00–17:00: the national default.
    pub fn standard() -> Self {
        let office = DayHours {
            periods: vec![
                Period {
                    start: 27_000,
                    end: 41_400,
                },
                Period {
                    start: 46_800,
                    end: 61_200,
                },
            ],
            total: 8 * 3600,
        };
        WeeklyHours([
            office.clone(),
            office.clone(),
            office.clone(),
            office.clone(),
            office,
            DayHours::closed(),
            DayHours::closed(),
        ])
    }
}

impl Default for WeeklyHours {
    fn default() -> Self {
        WeeklyHours::standard()
    }
}

/// Why a date that would otherwise be worked is a day off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DayOffKind {
    /// A public holiday (Labour Code 2019 art. 112).
    Holiday,
    /// Off in lieu of a holiday that fell on a weekly rest day (art. 111(3)).
    Compensatory,
    /// Swapped with a make-up working day, by the year's official notice.
    Swapped,
    /// A weekend day that belongs to an announced break (named for the explanation).
    WeekendInBreak,
    /// Closed for another reason the agency records.
    Closure,
}

/// What a calendar says about one date, overriding the weekly hours.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DayRule {
    /// Not a working day.
    Off {
        /// Why.
        kind: DayOffKind,
        /// The name of the holiday or break, e.g. "Tết Nguyên đán Bính Ngọ".
        name: String,
    },
    /// A working day (a make-up working Saturday, or changed hours).
    Working {
        /// The hours worked that day.
        hours: DayHours,
        /// Why, e.g. "làm bù cho thứ Sáu 02/01".
        name: String,
    },
}

/// How sure the calendar is of a year's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Statutory days only; the year's notice is not known yet.
    Projected,
    /// Announced schedule known from consistent secondary reports.
    Secondary,
    /// Announced schedule seen in a government notice.
    Official,
}

impl Confidence {
    /// Whether a year with this confidence counts as announced.
    pub fn is_announced(self) -> bool {
        self >= Confidence::Secondary
    }
}

/// One calendar in a chain: the national calendar, or an agency's overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarLayer {
    /// Weekly office hours, if this layer sets them.
    pub weekly: Option<WeeklyHours>,
    /// Dated exceptions.
    pub days: BTreeMap<NaiveDate, DayRule>,
    /// Years whose schedule this layer knows, and how surely.
    pub years: BTreeMap<i32, Confidence>,
}

/// What a calendar says about a date, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayStatus<'a> {
    /// A regular working day under the weekly hours.
    Regular(&'a DayHours),
    /// A regular day of rest (weekend) under the weekly hours.
    Rest,
    /// Worked by exception (make-up day).
    MakeUp(&'a DayHours, &'a str),
    /// Off by exception.
    Off(DayOffKind, &'a str),
}

impl DayStatus<'_> {
    /// Whether any working time falls on the date.
    pub fn is_working(&self) -> bool {
        match self {
            DayStatus::Regular(hours) | DayStatus::MakeUp(hours, _) => hours.is_working(),
            DayStatus::Rest | DayStatus::Off(..) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Exception {
    day: i32,
    date: NaiveDate,
    rule: DayRule,
    hours: DayHours,
}

/// A composed calendar, ready for computations. Immutable; cheap to share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    weekly: WeeklyHours,
    /// `week_prefix[i]`: working seconds of weekdays `0..i` (Monday = 0).
    week_prefix: [i64; 8],
    exceptions: Vec<Exception>,
    /// `delta_prefix[i]`: how much exceptions `0..i` add to the weekly hours.
    delta_prefix: Vec<i64>,
    years: BTreeMap<i32, Confidence>,
    standard_day: i64,
}

/// Day number: days since 0001-12-31 (0001-01-01 is day 1, a Monday).
fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

fn date_of(day: i32) -> Result<NaiveDate, CalendarError> {
    NaiveDate::from_num_days_from_ce_opt(day).ok_or(CalendarError::OutOfRange)
}

/// Monday = 0 … Sunday = 6.
fn weekday_index(day: i32) -> usize {
    // rem_euclid(7) is in 0..7.
    (day - 1).rem_euclid(7) as usize
}

/// A position on the calendar: local date and seconds after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    day: i32,
    sec: u32,
}

impl Position {
    fn of(local: NaiveDateTime) -> Self {
        Position {
            day: day_number(local.date()),
            sec: local.time().num_seconds_from_midnight(),
        }
    }

    fn local(self) -> Result<NaiveDateTime, CalendarError> {
        Ok(date_of(self.day)?.and_time(NaiveTime::MIN) + Duration::seconds(i64::from(self.sec)))
    }
}

impl WorkingCalendar {
    /// Composes a chain of layers, most general first: a later layer's weekly
    /// hours replace earlier ones, its dated rules replace theirs date by
    /// date, and the coverage is the best any layer states for each year.
    pub fn compose(layers: &[&CalendarLayer]) -> Self {
        let weekly = layers
            .iter()
            .rev()
            .find_map(|layer| layer.weekly.clone())
            .unwrap_or_default();
        let mut days: BTreeMap<NaiveDate, &DayRule> = BTreeMap::new();
        let mut years: BTreeMap<i32, Confidence> = BTreeMap::new();
        for layer in layers {
            days.extend(layer.days.iter().map(|(date, rule)| (*date, rule)));
            for (&year, &confidence) in &layer.years {
                let entry = years.entry(year).or_insert(confidence);
                *entry = (*entry).max(confidence);
            }
        }
        let mut week_prefix = [0i64; 8];
        for i in 0..7 {
            week_prefix[i + 1] = week_prefix[i] + weekly.0[i].total;
        }
        let exceptions: Vec<Exception> = days
            .into_iter()
            .map(|(date, rule)| Exception {
                day: day_number(date),
                date,
                hours: match rule {
                    DayRule::Off { .. } => DayHours::closed(),
                    DayRule::Working { hours, .. } => hours.clone(),
                },
                rule: rule.clone(),
            })
            .collect();
        let mut delta_prefix = Vec::with_capacity(exceptions.len() + 1);
        delta_prefix.push(0);
        for exception in &exceptions {
            let regular = weekly.0[weekday_index(exception.day)].total;
            let last = delta_prefix.last().copied().unwrap_or(0);
            delta_prefix.push(last + exception.hours.total - regular);
        }
        WorkingCalendar {
            weekly,
            week_prefix,
            exceptions,
            delta_prefix,
            years,
            standard_day: 8 * 3600,
        }
    }

    /// A calendar of one layer.
    pub fn single(layer: &CalendarLayer) -> Self {
        Self::compose(&[layer])
    }

    /// The length of a standard working day (8 hours): what one unit of a
    /// `working_days` time limit is worth.
    pub fn standard_day(&self) -> Duration {
        Duration::seconds(self.standard_day)
    }

    /// The weekly office hours in force.
    pub fn weekly(&self) -> &WeeklyHours {
        &self.weekly
    }

    /// The coverage: known years and how surely.
    pub fn years(&self) -> &BTreeMap<i32, Confidence> {
        &self.years
    }

    /// Years in `from..=to` whose schedule is not announced: a computation
    /// touching them is provisional.
    pub fn unannounced_years(&self, from: NaiveDate, to: NaiveDate) -> Vec<i32> {
        (from.year()..=to.year())
            .filter(|year| !self.years.get(year).is_some_and(|c| c.is_announced()))
            .collect()
    }

    fn exception(&self, day: i32) -> Option<&Exception> {
        self.exceptions
            .binary_search_by_key(&day, |e| e.day)
            .ok()
            .and_then(|i| self.exceptions.get(i))
    }

    fn hours(&self, day: i32) -> &DayHours {
        match self.exception(day) {
            Some(exception) => &exception.hours,
            None => &self.weekly.0[weekday_index(day)],
        }
    }

    /// What the calendar says about a date.
    pub fn status(&self, date: NaiveDate) -> DayStatus<'_> {
        let day = day_number(date);
        match self.exception(day) {
            Some(Exception {
                rule: DayRule::Off { kind, name },
                ..
            }) => DayStatus::Off(*kind, name),
            Some(Exception {
                rule: DayRule::Working { name, .. },
                hours,
                ..
            }) => DayStatus::MakeUp(hours, name),
            None => {
                let hours = &self.weekly.0[weekday_index(day)];
                if hours.is_working() {
                    DayStatus::Regular(hours)
                } else {
                    DayStatus::Rest
                }
            }
        }
    }

    /// The working hours of a date.
    pub fn hours_on(&self, date: NaiveDate) -> &DayHours {
        self.hours(day_number(date))
    }

    /// Working seconds from the origin to the start of `day`.
    fn cumulative_day(&self, day: i32) -> i64 {
        let k = i64::from(day) - 1;
        let regular =
            k.div_euclid(7) * self.week_prefix[7] + self.week_prefix[k.rem_euclid(7) as usize];
        let before = self.exceptions.partition_point(|e| e.day < day);
        regular + self.delta_prefix[before]
    }

    fn cumulative_at(&self, at: Position) -> i64 {
        self.cumulative_day(at.day) + self.hours(at.day).worked_before(at.sec)
    }

    /// Working time from the calendar's origin to a local instant. Only
    /// differences of this value mean anything.
    pub fn cumulative(&self, local: NaiveDateTime) -> Duration {
        Duration::seconds(self.cumulative_at(Position::of(local)))
    }

    /// Working time between two local instants (zero if `to` is not after `from`).
    pub fn working_time_between(&self, from: NaiveDateTime, to: NaiveDateTime) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        Duration::seconds(
            self.cumulative_at(Position::of(to)) - self.cumulative_at(Position::of(from)),
        )
    }

    /// The earliest position at which the cumulative working time reaches
    /// `target`, searching from `from` (whose start of day is below `target`).
    fn reach(&self, target: i64, from: i32) -> Result<Position, CalendarError> {
        // The day on which `target` is reached is the first `d` with
        // cumulative_day(d + 1) >= target. Gallop from an estimate, then bisect.
        let reached_by_end_of = |d: i32| self.cumulative_day(d + 1) >= target;
        let mut low = from;
        if !reached_by_end_of(low) {
            let week = self.week_prefix[7].max(1);
            let behind = target - self.cumulative_day(low);
            let estimate = i32::try_from(behind.saturating_mul(7) / week).unwrap_or(HORIZON_DAYS);
            let mut step = estimate.clamp(1, HORIZON_DAYS);
            let mut high = low.saturating_add(step);
            while !reached_by_end_of(high) {
                low = high + 1;
                step = step.saturating_mul(2);
                if i64::from(low) - i64::from(from) > i64::from(HORIZON_DAYS) {
                    return Err(CalendarError::NoWorkingTime(date_of(from)?));
                }
                high = low.saturating_add(step);
            }
            // reached_by_end_of(high) holds and, for every d < low, it does not.
            while low < high {
                let mid = low + (high - low) / 2;
                if reached_by_end_of(mid) {
                    high = mid;
                } else {
                    low = mid + 1;
                }
            }
        }
        let need = target - self.cumulative_day(low);
        Ok(Position {
            day: low,
            sec: self.hours(low).reaching(need),
        })
    }

    /// The earliest local instant at which `working` time has been worked
    /// since `from`: where a deadline of that length falls. On the boundary
    /// between two periods it is the end of the earlier one.
    pub fn add_working_time(
        &self,
        from: NaiveDateTime,
        working: Duration,
    ) -> Result<NaiveDateTime, CalendarError> {
        let start = Position::of(from);
        let origin = self.cumulative_at(start);
        if working <= Duration::zero() {
            return Ok(from);
        }
        let target = origin + working.num_seconds();
        self.reach(target, start.day)?.local()
    }

    /// The instant itself if it is working time, otherwise the start of the
    /// next working period (where a clock started at `at` begins to run).
    pub fn next_working_instant(&self, at: NaiveDateTime) -> Result<NaiveDateTime, CalendarError> {
        let position = Position::of(at);
        let hours = self.hours(position.day);
        if hours
            .periods
            .iter()
            .any(|p| p.start <= position.sec && position.sec < p.end)
        {
            return Ok(at);
        }
        // One working second after `at` is reached one second after the next
        // period starts.
        let next = self.reach(self.cumulative_at(position) + 1, position.day)?;
        Ok(next.local()? - Duration::seconds(1))
    }

    /// Whether the local instant falls within working time.
    pub fn is_working_instant(&self, at: NaiveDateTime) -> bool {
        let position = Position::of(at);
        self.hours(position.day)
            .periods
            .iter()
            .any(|p| p.start <= position.sec && position.sec < p.end)
    }

    /// The end of the last working period of `date`, if it is a working day.
    pub fn end_of_working_day(&self, date: NaiveDate) -> Option<NaiveDateTime> {
        let end = self.hours_on(date).end()?;
        Some(date.and_time(NaiveTime::MIN) + Duration::seconds(i64::from(end)))
    }

    /// The first working day strictly after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        let next_day = day_number(date) + 1;
        let position = self.reach(self.cumulative_day(next_day) + 1, next_day)?;
        date_of(position.day)
    }

    /// `date` if it is a working day, otherwise the next working day.
    pub fn working_day_on_or_after(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        if self.hours_on(date).is_working() {
            Ok(date)
        } else {
            self.next_working_day(date)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_opt(h, min, 0))
            .unwrap_or_default()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn plain() -> WorkingCalendar {
        WorkingCalendar::single(&CalendarLayer::default())
    }

    #[test]
    fn day_one_is_a_monday() {
        assert_eq!(weekday_index(day_number(date(2026, 11, 23))), 0);
        assert_eq!(weekday_index(day_number(date(2026, 11, 29))), 6);
        assert_eq!(weekday_index(1), 0);
    }

    #[test]
    fn working_time_counts_only_office_hours() {
        let calendar = plain();
        // Monday 2026-11-23: 09:30 to 14:00 is 2h + 1h.
        let worked =
            calendar.working_time_between(at(2026, 11, 23, 9, 30), at(2026, 11, 23, 14, 0));
        assert_eq!(worked, Duration::hours(3));
        // Friday 16:00 to Monday 08:30: 1h + 1h.
        let worked =
            calendar.working_time_between(at(2026, 11, 27, 16, 0), at(2026, 11, 30, 8, 30));
        assert_eq!(worked, Duration::hours(2));
        // A whole year of plain weeks: 52 weeks and a day (2026 starts on a Thursday).
        let worked = calendar.working_time_between(at(2026, 1, 1, 0, 0), at(2027, 1, 1, 0, 0));
        assert_eq!(worked, Duration::hours(8 * 261));
    }

    #[test]
    fn a_due_time_on_a_period_boundary_is_the_end_of_the_earlier_period() {
        let calendar = plain();
        let monday_open = at(2026, 11, 23, 7, 30);
        assert_eq!(
            calendar
                .add_working_time(monday_open, Duration::hours(8))
                .ok(),
            Some(at(2026, 11, 23, 17, 0))
        );
        assert_eq!(
            calendar
                .add_working_time(monday_open, Duration::hours(4))
                .ok(),
            Some(at(2026, 11, 23, 11, 30))
        );
        assert_eq!(
            calendar
                .add_working_time(monday_open, Duration::hours(4) + Duration::seconds(1))
                .ok(),
            Some(at(2026, 11, 23, 13, 0) + Duration::seconds(1))
        );
    }

    #[test]
    fn instants_outside_working_time_move_to_the_next_period() {
        let calendar = plain();
        for (from, to) in [
            (at(2026, 11, 23, 12, 0), at(2026, 11, 23, 13, 0)),
            (at(2026, 11, 23, 11, 30), at(2026, 11, 23, 13, 0)),
            (at(2026, 11, 23, 17, 0), at(2026, 11, 24, 7, 30)),
            (at(2026, 11, 28, 10, 0), at(2026, 11, 30, 7, 30)),
            (at(2026, 11, 23, 6, 0), at(2026, 11, 23, 7, 30)),
            (at(2026, 11, 23, 9, 0), at(2026, 11, 23, 9, 0)),
        ] {
            assert_eq!(calendar.next_working_instant(from).ok(), Some(to), "{from}");
        }
    }

    #[test]
    fn later_layers_override_earlier_ones_date_by_date() {
        let mut national = CalendarLayer::default();
        national.days.insert(
            date(2026, 12, 1),
            DayRule::Off {
                kind: DayOffKind::Holiday,
                name: "national".into(),
            },
        );
        national.years.insert(2026, Confidence::Official);
        let mut commune = CalendarLayer::default();
        let saturday_morning = DayHours::parse(&["07:30-11:30"]).unwrap_or_default();
        commune.days.insert(
            date(2026, 12, 1),
            DayRule::Working {
                hours: saturday_morning.clone(),
                name: "open anyway".into(),
            },
        );
        let calendar = WorkingCalendar::compose(&[&national, &commune]);
        assert_eq!(calendar.hours_on(date(2026, 12, 1)), &saturday_morning);
        assert!(
            calendar
                .unannounced_years(date(2026, 1, 1), date(2026, 12, 31))
                .is_empty()
        );
        assert_eq!(
            calendar.unannounced_years(date(2026, 1, 1), date(2027, 1, 1)),
            vec![2027]
        );
    }

    #[test]
    fn a_calendar_without_working_time_says_so() {
        let closed = CalendarLayer {
            weekly: Some(WeeklyHours::new(Default::default())),
            ..CalendarLayer::default()
        };
        let calendar = WorkingCalendar::single(&closed);
        assert!(matches!(
            calendar.add_working_time(at(2026, 1, 1, 8, 0), Duration::hours(1)),
            Err(CalendarError::NoWorkingTime(_))
        ));
    }

    #[test]
    fn overlapping_periods_are_refused() {
        assert!(DayHours::parse(&["07:30-11:30", "11:00-17:00"]).is_err());
        assert!(Period::parse("17:00-07:30").is_err());
        assert!(Period::parse("7h30-11h").is_err());
        assert_eq!(
            DayHours::parse(&["13:00-17:00", "07:30-11:30"])
                .map(|h| h.duration())
                .ok(),
            Some(Duration::hours(8))
        );
    }
}
