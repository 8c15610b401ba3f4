//! Calendars as data: one year of one layer (the national calendar or an
//! agency's overrides) in the JSON form the API and the database use.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::{
    CalendarError, CalendarLayer, Confidence, DayHours, DayOffKind, DayRule, WeeklyHours,
};

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Whether a dated rule makes the day off or a working day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// Not worked.
    Off,
    /// Worked (a make-up day, or changed hours).
    Working,
}

impl DayKind {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            DayKind::Off => "off",
            DayKind::Working => "working",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [DayKind::Off, DayKind::Working]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One dated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DaySpec {
    /// The date.
    pub date: NaiveDate,
    /// `off` or `working`.
    #[cfg_attr(feature = "openapi", schema(value_type = DayKind))]
    pub kind: String,
    /// For days off: holiday, compensatory, swapped, weekend_in_break, closure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DayOffKind>,
    /// Name of the holiday, break or make-up day.
    pub name: String,
    /// For working days: `HH:MM-HH:MM` periods (default: Monday's hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Vec<String>>,
}

/// One year of one layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct YearSpec {
    /// Weekly office hours, if this layer sets them: `{"mon": ["07:30-11:30", "13:00-17:00"], …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = weekly_schema))]
    pub weekly: Option<BTreeMap<String, Vec<String>>>,
    /// Dated rules of the year.
    #[serde(default)]
    pub days: Vec<DaySpec>,
}

/// The weekly hours in the OpenAPI document: an object whose properties
/// are the days of the week, each a list of `HH:MM-HH:MM` periods; a day not
/// listed is not worked.
#[cfg(feature = "openapi")]
fn weekly_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let periods = || {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$"))
                    .examples(["07:30-11:30"]),
            )
            .description(Some("Working periods, `HH:MM-HH:MM`."))
    };
    WEEKDAYS
        .iter()
        .fold(ObjectBuilder::new(), |object, day| {
            object.property(*day, periods())
        })
        .schema_type(Type::Object)
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
            utoipa::openapi::schema::Schema,
        >::FreeForm(false)))
        .description(Some(
            "Weekly office hours, if this layer sets them: the working periods of \
             each day worked (`mon` … `sun`); a day not listed is not worked.",
        ))
        .build()
}

/// Why a calendar spec is invalid, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// Where.
    pub field: String,
    /// What.
    pub message: String,
}

fn weekly(spec: &BTreeMap<String, Vec<String>>) -> Result<WeeklyHours, SpecError> {
    let mut days: [DayHours; 7] = Default::default();
    for (name, periods) in spec {
        let index = WEEKDAYS
            .iter()
            .position(|d| d == name)
            .ok_or_else(|| SpecError {
                field: format!("weekly.{name}"),
                message: "is not mon, tue, wed, thu, fri, sat or sun".into(),
            })?;
        days[index] = DayHours::parse(periods).map_err(|e| SpecError {
            field: format!("weekly.{name}"),
            message: e.to_string(),
        })?;
    }
    Ok(WeeklyHours::new(days))
}

impl YearSpec {
    /// Checks the spec for `year` and adds it to `layer`.
    pub fn apply(&self, year: i32, layer: &mut CalendarLayer) -> Result<(), SpecError> {
        if let Some(spec) = &self.weekly {
            layer.weekly = Some(weekly(spec)?);
        }
        let default_hours = layer
            .weekly
            .clone()
            .unwrap_or_default()
            .day(chrono::Weekday::Mon)
            .clone();
        for (i, day) in self.days.iter().enumerate() {
            let field = |name: &str| format!("days[{i}].{name}");
            if day.date.year() != year {
                return Err(SpecError {
                    field: field("date"),
                    message: format!("is not in {year}"),
                });
            }
            let rule = match DayKind::parse(&day.kind) {
                Some(DayKind::Off) => DayRule::Off {
                    kind: day.reason.unwrap_or(DayOffKind::Closure),
                    name: day.name.clone(),
                },
                Some(DayKind::Working) => {
                    let hours = match &day.hours {
                        Some(periods) => {
                            DayHours::parse(periods).map_err(|e: CalendarError| SpecError {
                                field: field("hours"),
                                message: e.to_string(),
                            })?
                        }
                        None => default_hours.clone(),
                    };
                    if !hours.is_working() {
                        return Err(SpecError {
                            field: field("hours"),
                            message: "a working day needs working hours".into(),
                        });
                    }
                    DayRule::Working {
                        hours,
                        name: day.name.clone(),
                    }
                }
                None => {
                    return Err(SpecError {
                        field: field("kind"),
                        message: "must be off or working".into(),
                    });
                }
            };
            if layer.days.insert(day.date, rule).is_some() {
                return Err(SpecError {
                    field: field("date"),
                    message: "is listed twice".into(),
                });
            }
        }
        Ok(())
    }

    /// The spec of `year` in a layer (its weekly hours and that year's dated rules).
    pub fn of(layer: &CalendarLayer, year: i32) -> YearSpec {
        let weekly = layer.weekly.as_ref().map(|w| {
            WEEKDAYS
                .iter()
                .enumerate()
                .filter_map(|(i, name)| {
                    let day = w.day(weekday(i));
                    day.is_working().then(|| {
                        (
                            (*name).to_owned(),
                            day.periods().iter().map(ToString::to_string).collect(),
                        )
                    })
                })
                .collect()
        });
        let days = layer
            .days
            .range(
                NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default()
                    ..=NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or_default(),
            )
            .map(|(date, rule)| match rule {
                DayRule::Off { kind, name } => DaySpec {
                    date: *date,
                    kind: DayKind::Off.as_str().into(),
                    reason: Some(*kind),
                    name: name.clone(),
                    hours: None,
                },
                DayRule::Working { hours, name } => DaySpec {
                    date: *date,
                    kind: DayKind::Working.as_str().into(),
                    reason: None,
                    name: name.clone(),
                    hours: Some(hours.periods().iter().map(ToString::to_string).collect()),
                },
            })
            .collect();
        YearSpec { weekly, days }
    }
}

fn weekday(index: usize) -> chrono::Weekday {
    [
        chrono::Weekday::Mon,
        chrono::Weekday::Tue,
        chrono::Weekday::Wed,
        chrono::Weekday::Thu,
        chrono::Weekday::Fri,
        chrono::Weekday::Sat,
        chrono::Weekday::Sun,
    ][index % 7]
}

/// A layer built from stored years (oldest first), with their confidence.
pub fn layer_from_years(
    years: &[(i32, YearSpec, Option<Confidence>)],
) -> Result<CalendarLayer, SpecError> {
    let mut layer = CalendarLayer::default();
    for (year, spec, confidence) in years {
        spec.apply(*year, &mut layer)?;
        if let Some(confidence) = confidence {
            layer.years.insert(*year, *confidence);
        }
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::WorkingCalendar;
    use crate::national::national;

    #[test]
    fn the_national_calendar_survives_a_round_trip_through_year_specs() {
        let national = national().unwrap_or_else(|e| panic!("{e}"));
        let years: Vec<(i32, YearSpec, Option<Confidence>)> = national
            .years
            .iter()
            .map(|(year, confidence)| (*year, YearSpec::of(national, *year), Some(*confidence)))
            .collect();
        let rebuilt = layer_from_years(&years).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            WorkingCalendar::single(&rebuilt),
            WorkingCalendar::single(national)
        );
    }

    #[test]
    fn bad_specs_name_the_field() {
        let spec: YearSpec = serde_json::from_str(
            r#"{"days": [{"date": "2027-03-01", "kind": "off", "name": "x"}]}"#,
        )
        .unwrap_or_default();
        let error = spec
            .apply(2026, &mut CalendarLayer::default())
            .err()
            .map(|e| e.field);
        assert_eq!(error.as_deref(), Some("days[0].date"));
        let spec: YearSpec =
            serde_json::from_str(r#"{"weekly": {"mon": ["17:00-07:00"]}}"#).unwrap_or_default();
        assert!(spec.apply(2026, &mut CalendarLayer::default()).is_err());
    }
}
