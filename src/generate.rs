//! `motcua gen-data`: fills a database with a realistic, reproducible mix of
//! dossiers for reports and benchmarks, through the same persistence code the
//! server uses (day numbering, dossier rows, hash-chained events).
//!
//! Each dossier is simulated with the domain's legal clock on the national
//! calendar: a procedure from the demo catalogue, a channel, an acceptance in
//! office hours within the months asked for, sometimes a supplement pause,
//! then a fate — result (mostly early, some on time, some late), withdrawal,
//! stop, refusal at intake, or still open.

use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{self, ClockEvent, ClockInput, PauseCause, classify};
use motcua_domain::lifecycle::State;
use motcua_domain::procedure::{CatalogueFile, DEMO_CATALOGUE_JSON, ProcedureDefinition};
use motcua_domain::time::{from_local, to_local};
use motcua_persistence::agencies::{self, Agency, NewAgency};
use motcua_persistence::dossiers::{self, NewDossier, NewEvent};
use motcua_persistence::procedures::{self, ProcedureRow};
use motcua_persistence::sql_types::to_db_time;
use motcua_persistence::{Db, DbError, Id};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Dossiers.
    pub dossiers: u64,
    /// Communes under one province.
    pub agencies: u32,
    /// Months of history, ending with the month before `end`.
    pub months: u32,
    /// Seed: the same seed gives the same data.
    pub seed: u64,
}

/// SplitMix64: small, fast, reproducible.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The generated dossiers end here (exclusive): the first day of this month.
fn end_of_history() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()
}

/// Runs the plan; returns how many dossiers were written.
pub fn run(db: &Db, plan: Plan) -> Result<u64, String> {
    let started = Instant::now();
    let national = motcua_domain::national::national().map_err(|e| e.to_string())?;
    let calendar = WorkingCalendar::single(national);
    crate::import_demo_catalogue(db)?;
    let communes = agencies_for(db, plan.agencies)?;
    let catalogue = procedures_in_force(db)?;
    let mut random = Random(plan.seed);
    let first_day = end_of_history()
        .checked_sub_months(chrono::Months::new(plan.months.max(1)))
        .unwrap_or_else(end_of_history);
    let days = (end_of_history() - first_day).num_days().max(1) as u64;

    let progress = ProgressBar::new(plan.dossiers);
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} dossiers ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut written = 0;
    while written < plan.dossiers {
        let batch = (plan.dossiers - written).min(500);
        let dossiers: Vec<Generated> = (0..batch)
            .map(|_| {
                simulate(
                    &mut random,
                    &calendar,
                    &communes,
                    &catalogue,
                    first_day,
                    days,
                )
            })
            .collect::<Result<_, _>>()?;
        db.write(|conn| store(conn, dossiers))
            .map_err(|e| e.to_string())?;
        written += batch;
        progress.inc(batch);
    }
    progress.finish_and_clear();
    tracing::info!(
        written,
        seconds = started.elapsed().as_secs_f64(),
        "generated {written} dossiers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(written)
}

/// The province and `count` communes, made if missing.
fn agencies_for(db: &Db, count: u32) -> Result<Vec<Agency>, String> {
    db.write(|conn| {
        let province = match agencies::find_by_identifier(conn, "000.00.00.H99")? {
            Some(province) => province,
            None => agencies::create(
                conn,
                &NewAgency {
                    identifier: "000.00.00.H99".into(),
                    name: "Tỉnh mẫu (dữ liệu sinh)".into(),
                    kind: "province".into(),
                    parent_id: None,
                },
                Utc::now(),
            )?,
        };
        let mut communes = Vec::new();
        for i in 1..=count.max(1) {
            let identifier = format!("000.{:02}.{:02}.H99", i / 100, i % 100);
            let commune = match agencies::find_by_identifier(conn, &identifier)? {
                Some(commune) => commune,
                None => agencies::create(
                    conn,
                    &NewAgency {
                        identifier,
                        name: format!("Xã mẫu số {i}"),
                        kind: "commune".into(),
                        parent_id: Some(province.id),
                    },
                    Utc::now(),
                )?,
            };
            communes.push(commune);
        }
        Ok(communes)
    })
    .map_err(|e: DbError| e.to_string())
}

fn procedures_in_force(db: &Db) -> Result<Vec<(ProcedureRow, ProcedureDefinition)>, String> {
    let file: CatalogueFile =
        serde_json::from_str(DEMO_CATALOGUE_JSON).map_err(|e| e.to_string())?;
    let day = end_of_history();
    db.run(|conn| {
        let mut found = Vec::new();
        for entry in &file.procedures {
            if let Some(row) = procedures::in_force(conn, entry.code.as_str(), day)? {
                found.push(row);
            }
        }
        Ok(found)
    })
    .map_err(|e| e.to_string())?
    .into_iter()
    .map(|row| {
        let definition: ProcedureDefinition =
            serde_json::from_str(&row.definition).map_err(|e| e.to_string())?;
        Ok((row, definition))
    })
    .collect()
}

/// One simulated dossier, ready to store.
struct Generated {
    agency: Agency,
    dossier: NewDossier,
    events: Vec<NewEvent>,
}

fn simulate(
    random: &mut Random,
    calendar: &WorkingCalendar,
    communes: &[Agency],
    catalogue: &[(ProcedureRow, ProcedureDefinition)],
    first_day: NaiveDate,
    days: u64,
) -> Result<Generated, String> {
    let agency = communes[random.below(communes.len() as u64) as usize].clone();
    let (procedure, definition) = &catalogue[random.below(catalogue.len() as u64) as usize];
    let online_allowed = procedure.online_kind != "none";
    let channel = match random.below(100) {
        n if n < 40 && online_allowed => "online",
        n if n < 90 => "direct",
        _ => "postal",
    };
    // Arrival: a day of the history, at a time of office hours (or a little outside).
    let day = first_day + Duration::days(random.below(days) as i64);
    let minute = 7 * 60 + random.below(11 * 60) as i64;
    let arrived = from_local(day.and_time(chrono::NaiveTime::MIN) + Duration::minutes(minute));
    let accepted = calendar
        .next_working_instant(to_local(arrived))
        .map(from_local)
        .map_err(|e| e.to_string())?;
    let refused = random.chance(4);
    let mut ledger: Vec<ClockEvent> = Vec::new();
    let mut events = vec![event(
        accepted,
        if channel == "online" {
            "file_online"
        } else {
            "intake_accept"
        },
        None,
        State::Accepted,
    )];
    let (_, base_due) =
        clock::due_time(calendar, definition.time_limit, arrived).map_err(|e| e.to_string())?;
    let mut state = State::Accepted;
    let mut finished: Option<DateTime<Utc>> = None;
    let mut outcome = None;
    if refused {
        state = State::Refused;
        finished = Some(accepted);
        events = vec![event(accepted, "intake_refuse", None, State::Refused)];
    } else {
        if random.chance(15) {
            let from = accepted + Duration::hours(1 + random.below(20) as i64);
            let to = from + Duration::hours(24 * (1 + random.below(5) as i64));
            ledger.push(ClockEvent::Paused {
                at: from,
                cause: PauseCause::Supplement,
            });
            ledger.push(ClockEvent::Resumed { at: to });
            events.push(event(
                from,
                "request_supplement",
                Some(State::Accepted),
                State::SupplementRequested,
            ));
            events.push(event(
                to,
                "supplement",
                Some(State::SupplementRequested),
                State::InProcessing,
            ));
        }
        let input = ClockInput {
            calendar,
            limit: definition.time_limit,
            received_at: arrived,
            events: &ledger,
        };
        let due = clock::evaluate(input, base_due + Duration::days(60))
            .map(|c| c.due_at)
            .map_err(|e| e.to_string())?;
        let last = ledger.last().map_or(accepted, ClockEvent::at);
        let fate = random.below(100);
        let end = from_local(end_of_history().and_time(chrono::NaiveTime::MIN));
        let at = match fate {
            0..=7 => None,
            8..=10 => Some((State::Withdrawn, last + Duration::hours(2))),
            11 => Some((State::Stopped, last + Duration::hours(3))),
            // Most results before the due day, some on it, some after.
            // Early: somewhere between 20% and 80% of the time left after the last pause.
            12..=74 => {
                let left = (due - last).num_minutes().max(60);
                let share = 20 + random.below(60) as i64;
                Some((
                    State::ResultReady,
                    last + Duration::minutes(left * share / 100),
                ))
            }
            75..=89 => Some((
                State::ResultReady,
                due - Duration::minutes(30 + random.below(120) as i64),
            )),
            _ => Some((
                State::ResultReady,
                due + Duration::hours(1 + random.below(72) as i64),
            )),
        };
        if let Some((final_state, at)) = at.filter(|(_, at)| *at < end && *at > accepted) {
            state = final_state;
            finished = Some(at);
            ledger.push(ClockEvent::Stopped { at });
            if final_state == State::ResultReady {
                outcome = Some(classify(at, due));
            }
            let action = match final_state {
                State::Withdrawn => "withdraw",
                State::Stopped => "stop",
                _ => "complete",
            };
            events.push(event(at, action, Some(State::InProcessing), final_state));
        } else if !ledger.is_empty() {
            state = State::InProcessing;
        }
    }
    let input = ClockInput {
        calendar,
        limit: definition.time_limit,
        received_at: arrived,
        events: &ledger,
    };
    let due_at = clock::evaluate(input, finished.unwrap_or(arrived))
        .map(|c| c.due_at)
        .map_err(|e| e.to_string())?;
    let now = to_db_time(accepted);
    let dossier = NewDossier {
        id: Id::new(),
        code: String::new(),
        receiving_agency_id: agency.id,
        procedure_id: procedure.id,
        owner_id: None,
        channel: channel.into(),
        state: state.as_str().into(),
        version: events.len() as i32,
        applicant_name: format!("Công dân {}", random.below(1_000_000)),
        applicant_phone: format!("09{:08}", random.below(100_000_000)),
        details: "{}".into(),
        result_delivery: "desk".into(),
        submitted_at: (channel == "online").then(|| to_db_time(arrived)),
        ack_due_at: None,
        acknowledged_at: (channel == "online").then_some(now),
        received_at: (!refused).then(|| to_db_time(arrived)),
        due_at: (!refused).then(|| to_db_time(due_at)),
        clock_events: serde_json::to_string(&ledger).map_err(|e| e.to_string())?,
        finished_at: finished.map(to_db_time),
        outcome: outcome
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        created_at: now,
        updated_at: now,
        accepted_at: (!refused).then_some(now),
    };
    Ok(Generated {
        agency,
        dossier,
        events,
    })
}

fn event(at: DateTime<Utc>, action: &str, before: Option<State>, after: State) -> NewEvent {
    NewEvent {
        at,
        actor_id: None,
        actor_role: "generator".into(),
        action: action.into(),
        state_before: before.map(|s| s.as_str().into()),
        state_after: after.as_str().into(),
        payload: "{}".into(),
    }
}

/// Numbers the batch per agency and day (one counter update per group) and
/// writes it with its events' hash chains.
fn store(
    conn: &mut motcua_persistence::DbConnection,
    batch: Vec<Generated>,
) -> Result<(), DbError> {
    let mut groups: std::collections::BTreeMap<(Id, NaiveDate), Vec<Generated>> =
        std::collections::BTreeMap::new();
    for generated in batch {
        let day = to_local(generated.dossier.created_at.and_utc()).date();
        groups
            .entry((generated.agency.id, day))
            .or_default()
            .push(generated);
    }
    let mut rows = Vec::new();
    for ((agency, day), generated) in groups {
        let count = i32::try_from(generated.len()).unwrap_or(i32::MAX);
        let first = dossiers::reserve_numbers(conn, agency, day, count)?;
        for (number, item) in (first..).zip(generated) {
            let mut dossier = item.dossier;
            dossier.code = format!(
                "{}-{}-{number:04}",
                item.agency.identifier,
                day.format("%y%m%d")
            );
            rows.push((dossier, item.events));
        }
    }
    dossiers::insert_new_batch(conn, &rows)
}
