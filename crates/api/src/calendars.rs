//! Agencies' working calendars, stored by year: the national calendar
//! (seeded from the shipped data file), then each ancestor's overrides, then
//! the agency's own.

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use motcua_domain::calendar::{CalendarLayer, Confidence, WorkingCalendar};
use motcua_domain::calendar_spec::{YearSpec, layer_from_years};
use motcua_domain::national::national;
use motcua_persistence::agencies::Agency;
use motcua_persistence::calendars::{self, NATIONAL};
use motcua_persistence::{AgencyId, Db, DbConnection, DbError};

use crate::error::ApiError;

/// Loads the national calendar into the database if it is not there yet.
pub fn ensure_national(db: &Db) -> Result<(), String> {
    let layer = national().map_err(|e| e.to_string())?;
    db.write(|conn| -> Result<(), DbError> {
        // Servers starting at once seed it once.
        conn.lock_key("national calendar")?;
        if calendars::count(conn, NATIONAL)? > 0 {
            return Ok(());
        }
        for (year, confidence) in &layer.years {
            let spec = YearSpec::of(layer, *year);
            let weekly = spec
                .weekly
                .as_ref()
                .map(|w| serde_json::to_string(w).unwrap_or_default());
            let days = serde_json::to_string(&spec.days).unwrap_or_default();
            let confidence = serde_json::to_value(confidence)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            calendars::put(
                conn,
                NATIONAL,
                *year,
                weekly.as_deref(),
                &days,
                confidence.as_deref(),
                Utc::now(),
            )?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())
}

/// The scopes of an agency's calendar chain, most general first.
fn chain(agency: &Agency) -> Vec<String> {
    std::iter::once(NATIONAL.to_owned())
        .chain(
            agency
                .path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        )
        .collect()
}

fn year_spec(row: &calendars::CalendarYear) -> Result<YearSpec, ApiError> {
    let weekly = row.weekly.as_deref().map(serde_json::from_str).transpose();
    let days = serde_json::from_str(&row.days);
    match (weekly, days) {
        (Ok(weekly), Ok(days)) => Ok(YearSpec { weekly, days }),
        _ => Err(ApiError::Internal(format!(
            "stored calendar {} {} is unreadable",
            row.scope, row.year
        ))),
    }
}

/// The layers of an agency's chain, most general first.
pub fn layers(conn: &mut DbConnection, agency: &Agency) -> Result<Vec<CalendarLayer>, ApiError> {
    let scopes = chain(agency);
    let rows = calendars::of_scopes(conn, &scopes)?;
    layers_of(&scopes, &rows)
}

/// The layers of `scopes` (most general first) from their stored years (a
/// scope without any is an empty layer, which composition ignores).
fn layers_of(
    scopes: &[String],
    rows: &[calendars::CalendarYear],
) -> Result<Vec<CalendarLayer>, ApiError> {
    let mut layers = Vec::new();
    for scope in scopes {
        let mut years = Vec::new();
        for row in rows.iter().filter(|r| &r.scope == scope) {
            let confidence: Option<Confidence> = row
                .confidence
                .as_deref()
                .and_then(|c| serde_json::from_value(serde_json::Value::String(c.to_owned())).ok());
            years.push((row.year, year_spec(row)?, confidence));
        }
        layers.push(layer_from_years(&years).map_err(|e| ApiError::Internal(e.to_string()))?);
    }
    Ok(layers)
}

/// The working calendars of many agencies (a report's subtree): every stored
/// year of their chains read in one query, one composition per distinct chain
/// of stored scopes (usually just the national calendar), remembered per agency.
#[derive(Debug)]
pub struct Calendars {
    rows: Vec<calendars::CalendarYear>,
    composed: Vec<WorkingCalendar>,
    by_chain: HashMap<Vec<String>, usize>,
    by_agency: HashMap<AgencyId, usize>,
}

impl Calendars {
    /// Reads the stored years of every scope the agencies' chains name.
    pub fn load<'a>(
        conn: &mut DbConnection,
        agencies: impl IntoIterator<Item = &'a Agency>,
    ) -> Result<Self, DbError> {
        let scopes: BTreeSet<String> = agencies.into_iter().flat_map(chain).collect();
        let scopes: Vec<String> = scopes.into_iter().collect();
        Ok(Calendars {
            rows: calendars::of_scopes(conn, &scopes)?,
            composed: Vec::new(),
            by_chain: HashMap::new(),
            by_agency: HashMap::new(),
        })
    }

    /// The calendar `agency` counts deadlines on (it must be among those loaded).
    pub fn of(&mut self, agency: &Agency) -> Result<&WorkingCalendar, ApiError> {
        let index = match self.by_agency.get(&agency.id) {
            Some(index) => *index,
            None => {
                let stored: Vec<String> = chain(agency)
                    .into_iter()
                    .filter(|scope| self.rows.iter().any(|r| &r.scope == scope))
                    .collect();
                let index = match self.by_chain.get(&stored) {
                    Some(index) => *index,
                    None => {
                        let layers = layers_of(&stored, &self.rows)?;
                        self.composed
                            .push(WorkingCalendar::compose(&layers.iter().collect::<Vec<_>>()));
                        self.by_chain.insert(stored, self.composed.len() - 1);
                        self.composed.len() - 1
                    }
                };
                self.by_agency.insert(agency.id, index);
                index
            }
        };
        self.composed
            .get(index)
            .ok_or_else(|| ApiError::Internal("calendar not composed".into()))
    }
}

/// The working calendar the agency counts deadlines on.
pub fn calendar_for(conn: &mut DbConnection, agency: &Agency) -> Result<WorkingCalendar, ApiError> {
    let layers = layers(conn, agency)?;
    Ok(WorkingCalendar::compose(&layers.iter().collect::<Vec<_>>()))
}

/// The layers merged into one, as composition sees them (for showing a year).
pub fn merged(layers: &[CalendarLayer]) -> CalendarLayer {
    let mut merged = CalendarLayer::default();
    for layer in layers {
        if layer.weekly.is_some() {
            merged.weekly.clone_from(&layer.weekly);
        }
        merged
            .days
            .extend(layer.days.iter().map(|(d, r)| (*d, r.clone())));
        for (year, confidence) in &layer.years {
            let entry = merged.years.entry(*year).or_insert(*confidence);
            *entry = (*entry).max(*confidence);
        }
    }
    merged
}
