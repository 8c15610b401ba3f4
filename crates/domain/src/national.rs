//! The national working calendar shipped with motcua
//! (`crates/domain/data/national-calendar.json`): default office hours, and
//! each year's official days off and make-up working days.
//!
//! To add a year, append it to the data file from the government's notice
//! (see docs/legal-clock.md); the tests check the file's consistency.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::calendar::{
    CalendarError, CalendarLayer, Confidence, DayHours, DayOffKind, DayRule, WeeklyHours,
};

/// The data file, embedded at build time.
pub const NATIONAL_CALENDAR_JSON: &str = include_str!("../data/national-calendar.json");

/// Why a calendar file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarFileError {
    /// Not the expected JSON shape.
    #[error("calendar file: {0}")]
    Format(String),
    /// Inconsistent content.
    #[error("calendar file: {0}")]
    Content(#[from] CalendarError),
    /// Something contradicts itself.
    #[error("calendar file: {0}")]
    Inconsistent(String),
}

#[derive(Debug, Deserialize)]
struct File {
    office_hours: BTreeMap<String, Vec<String>>,
    years: Vec<Year>,
}

#[derive(Debug, Deserialize)]
struct Year {
    year: i32,
    breaks: Vec<Break>,
    make_up_working_days: Vec<MakeUp>,
}

#[derive(Debug, Deserialize)]
struct Break {
    name: String,
    from: NaiveDate,
    to: NaiveDate,
    confidence: Confidence,
    #[serde(default)]
    days: BTreeMap<NaiveDate, DayOffKind>,
}

#[derive(Debug, Deserialize)]
struct MakeUp {
    date: NaiveDate,
    name: String,
    confidence: Confidence,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Parses a calendar file in the national calendar's format.
pub fn parse(json: &str) -> Result<CalendarLayer, CalendarFileError> {
    let file: File =
        serde_json::from_str(json).map_err(|e| CalendarFileError::Format(e.to_string()))?;
    if let Some(unknown) = file
        .office_hours
        .keys()
        .find(|k| !WEEKDAYS.contains(&k.as_str()))
    {
        return Err(CalendarFileError::Format(format!(
            "unknown weekday `{unknown}`"
        )));
    }
    let mut days: [DayHours; 7] = Default::default();
    for (i, name) in WEEKDAYS.iter().enumerate() {
        if let Some(periods) = file.office_hours.get(*name) {
            days[i] = DayHours::parse(periods)?;
        }
    }
    let weekly = WeeklyHours::new(days);
    // The make-up days' hours: the regular hours of a working weekday.
    let make_up_hours = weekly.day(chrono::Weekday::Mon).clone();

    let mut layer = CalendarLayer {
        weekly: Some(weekly.clone()),
        ..CalendarLayer::default()
    };
    for year in &file.years {
        let mut confidence = Confidence::Official;
        for entry in &year.breaks {
            confidence = confidence.min(entry.confidence);
            if entry.from > entry.to || entry.from.year() != year.year {
                return Err(CalendarFileError::Inconsistent(format!(
                    "break `{}` ({} to {}) is not within {}",
                    entry.name, entry.from, entry.to, year.year
                )));
            }
            if let Some(stray) = entry
                .days
                .keys()
                .find(|d| **d < entry.from || **d > entry.to)
            {
                return Err(CalendarFileError::Inconsistent(format!(
                    "{stray} is outside break `{}`",
                    entry.name
                )));
            }
            for date in entry.from.iter_days().take_while(|d| *d <= entry.to) {
                let regular = weekly.day(date.weekday()).is_working();
                let kind = entry.days.get(&date).copied().unwrap_or(if regular {
                    DayOffKind::Holiday
                } else {
                    DayOffKind::WeekendInBreak
                });
                let rule = DayRule::Off {
                    kind,
                    name: entry.name.clone(),
                };
                if layer.days.insert(date, rule).is_some() {
                    return Err(CalendarError::DuplicateDate(date).into());
                }
            }
        }
        for make_up in &year.make_up_working_days {
            confidence = confidence.min(make_up.confidence);
            let rule = DayRule::Working {
                hours: make_up_hours.clone(),
                name: make_up.name.clone(),
            };
            if make_up.date.year() != year.year || layer.days.insert(make_up.date, rule).is_some() {
                return Err(CalendarFileError::Inconsistent(format!(
                    "make-up day {} is a duplicate or outside {}",
                    make_up.date, year.year
                )));
            }
        }
        layer.years.insert(year.year, confidence);
    }
    Ok(layer)
}

/// The shipped national calendar (parsed once).
pub fn national() -> Result<&'static CalendarLayer, CalendarFileError> {
    static NATIONAL: OnceLock<Result<CalendarLayer, CalendarFileError>> = OnceLock::new();
    NATIONAL
        .get_or_init(|| parse(NATIONAL_CALENDAR_JSON))
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{DayStatus, WorkingCalendar};

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap_or_default()
    }

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::single(national().unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn the_shipped_file_parses_and_covers_2024_to_2026() {
        let layer = national().unwrap_or_else(|e| panic!("{e}"));
        let announced: Vec<i32> = layer
            .years
            .iter()
            .filter(|(_, c)| c.is_announced())
            .map(|(y, _)| *y)
            .collect();
        assert_eq!(announced, vec![2024, 2025, 2026]);
        assert_eq!(layer.years.get(&2025), Some(&Confidence::Secondary));
        assert_eq!(layer.years.get(&2027), Some(&Confidence::Projected));
    }

    #[test]
    fn each_day_has_the_reason_of_the_notice() {
        let calendar = calendar();
        let cases = [
            ("2026-02-16", "Off(Holiday, \"Tết Nguyên đán Bính Ngọ\")"),
            (
                "2026-02-14",
                "Off(WeekendInBreak, \"Tết Nguyên đán Bính Ngọ\")",
            ),
            ("2026-04-26", "Off(Holiday, \"Giỗ Tổ Hùng Vương\")"),
            ("2026-04-27", "Off(Compensatory, \"Giỗ Tổ Hùng Vương\")"),
            ("2026-01-02", "Off(Swapped, \"Tết Dương lịch\")"),
            ("2026-08-31", "Off(Swapped, \"Quốc khánh\")"),
            (
                "2024-04-29",
                "Off(Swapped, \"Ngày Chiến thắng và Quốc tế Lao động\")",
            ),
            (
                "2025-05-02",
                "Off(Swapped, \"Ngày Chiến thắng và Quốc tế Lao động\")",
            ),
            ("2024-09-03", "Off(Holiday, \"Quốc khánh\")"),
            ("2027-05-03", "Off(Compensatory, \"Quốc tế Lao động\")"),
        ];
        for (day, expected) in cases {
            assert_eq!(
                format!("{:?}", calendar.status(date(day))),
                expected,
                "{day}"
            );
        }
        for day in ["2024-05-04", "2025-04-26", "2026-01-10", "2026-08-22"] {
            let status = calendar.status(date(day));
            assert!(
                matches!(status, DayStatus::MakeUp(hours, _) if hours.duration() == chrono::Duration::hours(8)),
                "{day}: {status:?}"
            );
        }
        assert!(matches!(
            calendar.status(date("2026-11-26")),
            DayStatus::Regular(_)
        ));
        assert!(matches!(
            calendar.status(date("2026-11-28")),
            DayStatus::Rest
        ));
    }

    #[test]
    fn every_swapped_day_has_a_make_up_day_in_the_same_year() {
        let layer = national().unwrap_or_else(|e| panic!("{e}"));
        let count = |year: i32, working: bool| {
            layer
                .days
                .iter()
                .filter(|(d, rule)| {
                    d.year() == year
                        && match rule {
                            DayRule::Off { kind, .. } => !working && *kind == DayOffKind::Swapped,
                            DayRule::Working { .. } => working,
                        }
                })
                .count()
        };
        for year in 2024..=2027 {
            assert_eq!(count(year, false), count(year, true), "{year}");
        }
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let bad = [
            r#"{"office_hours": {"mon": ["07:30-11:30"]}, "years": [{"year": 2026, "breaks": [{"name": "x", "from": "2026-01-02", "to": "2026-01-01", "confidence": "official"}], "make_up_working_days": []}]}"#,
            r#"{"office_hours": {"funday": []}, "years": []}"#,
            r#"{"office_hours": {"mon": ["11:30-07:30"]}, "years": []}"#,
            r#"{"office_hours": {}, "years": [{"year": 2026, "breaks": [], "make_up_working_days": [{"date": "2025-01-04", "name": "x", "confidence": "official"}]}]}"#,
            r#"{"office_hours": {}}"#,
        ];
        for json in bad {
            assert!(parse(json).is_err(), "{json}");
        }
    }
}
