//! `motcua gen-data`: fills a database with a realistic, reproducible mix of
//! dossiers for reports and benchmarks, through the same persistence code the
//! server uses (day numbering, dossier rows, hash-chained events).
//!
//! Each dossier is simulated with the domain's legal clock on the national
//! calendar: a procedure from the demo catalogue, a channel, an applicant and
//! documents, an acceptance in office hours within the months asked for, the
//! fee paid (online for most online filings), sometimes a supplement pause,
//! then a fate — result (mostly early, some on time, some late, most late ones
//! announced by an apology), withdrawal, stop or refusal at intake — then the
//! hand-over and, for some online filers, a rating. A dossier is open at the
//! end when its fate falls later, and 2% stay stuck.

use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{self, ClockEvent, ClockInput, PauseCause, classify};
use motcua_domain::history::HistoryKey;
use motcua_domain::lifecycle::State;
use motcua_domain::procedure::{
    CatalogueFile, DEMO_CATALOGUE_JSON, Delivery, Fee, ProcedureDefinition,
};
use motcua_domain::time::{from_local, to_local};
use motcua_persistence::agencies::{self, Agency, NewAgency};
use motcua_persistence::dossiers::{self, NewDossier, NewEvent};
use motcua_persistence::procedures::{self, ProcedureRow};
use motcua_persistence::sql_types::to_db_time;
use motcua_persistence::{Db, DbError, Id};
use serde_json::{Value, json};

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

/// Runs the plan, hashing the histories under `key`; returns how many
/// dossiers were written.
pub fn run(db: &Db, plan: Plan, key: &HistoryKey) -> Result<u64, String> {
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
        db.write(|conn| store(conn, key, dossiers))
            .map_err(|e| e.to_string())?;
        written += batch;
        progress.inc(batch);
    }
    progress.finish_and_clear();
    db.after_bulk_load().map_err(|e| e.to_string())?;
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
    .map_err(|e: DbError| e.to_string())?
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
    let online = channel == "online";
    // The desk takes an online filing up within its working hours, a little later.
    let picked_up = if online {
        arrived + Duration::minutes(10 + random.below(290) as i64)
    } else {
        arrived
    };
    let accepted = calendar
        .next_working_instant(to_local(picked_up))
        .map(from_local)
        .map_err(|e| e.to_string())?;
    let end = from_local(end_of_history().and_time(chrono::NaiveTime::MIN));
    let refused = random.chance(4);
    let delivery = delivery(random, channel, definition);
    let mut details = details(random, channel, procedure, definition, delivery);
    let mut ledger: Vec<ClockEvent> = Vec::new();
    // The dossier's legal clock as of an instant, with the ledger so far.
    let clock_at = |ledger: &[ClockEvent], at: DateTime<Utc>| {
        let input = ClockInput {
            calendar,
            limit: definition.time_limit,
            received_at: arrived,
            events: ledger,
        };
        clock::evaluate(input, at).map_err(|e| e.to_string())
    };
    let (_, base_due) =
        clock::due_time(calendar, definition.time_limit, arrived).map_err(|e| e.to_string())?;
    let mut history = History {
        events: Vec::new(),
        state: State::Submitted,
    };
    let filing = json!({"channel": channel, "procedure_code": procedure.code});
    let (accept, refuse) = if online {
        history.push(arrived, "file_online", State::Submitted, filing.clone());
        ("accept", "refuse")
    } else {
        ("intake_accept", "intake_refuse")
    };
    let mut finished: Option<DateTime<Utc>> = None;
    let mut outcome = None;
    if refused {
        let refusal = json!({"reason": "Không thuộc thẩm quyền", "legal_basis": "Điều 9"});
        history.push(accepted, refuse, State::Refused, refusal);
        finished = Some(accepted);
    } else {
        history.push(accepted, accept, State::Accepted, filing);
        if let Some(payment) = payment(random, channel, definition, accepted) {
            history.push(
                accepted + Duration::minutes(5),
                "record_payment",
                State::Accepted,
                payment.clone(),
            );
            let mut record = payment;
            record["at"] = json!(accepted + Duration::minutes(5));
            push_record(&mut details, "payment", record);
        }
        if random.chance(15) {
            let from = accepted + Duration::hours(1 + random.below(20) as i64);
            let to = from + Duration::hours(24 * (1 + random.below(5) as i64));
            ledger.push(ClockEvent::Paused {
                at: from,
                cause: PauseCause::Supplement,
            });
            ledger.push(ClockEvent::Resumed { at: to });
            let request = json!({
                "reason": "Bổ sung giấy tờ chứng minh",
                "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}],
            });
            history.push(
                from,
                "request_supplement",
                State::SupplementRequested,
                request.clone(),
            );
            let mut record = request;
            record["at"] = json!(from);
            push_record(&mut details, "supplement_request", record);
            history.push(to, "supplement", State::InProcessing, json!({}));
        }
        let due = clock_at(&ledger, base_due + Duration::days(60))?.due_at;
        let last = ledger.last().map_or(accepted, ClockEvent::at);
        // A few dossiers are stuck; the rest are open only if their fate
        // falls after the end of the history.
        let at = match random.below(100) {
            0..=1 => None,
            2..=4 => Some((State::Withdrawn, last + Duration::hours(2))),
            5 => Some((State::Stopped, last + Duration::hours(3))),
            // Most results before the due day, some on it, some after.
            // Early: somewhere between 20% and 80% of the time left after the last pause.
            6..=72 => {
                let left = (due - last).num_minutes().max(60);
                let share = 20 + random.below(60) as i64;
                Some((
                    State::ResultReady,
                    last + Duration::minutes(left * share / 100),
                ))
            }
            73..=88 => Some((
                State::ResultReady,
                due - Duration::minutes(30 + random.below(120) as i64),
            )),
            _ => Some((
                State::ResultReady,
                due + Duration::hours(1 + random.below(72) as i64),
            )),
        };
        // Never before the last pause ended (the ledger stays in time order).
        let at = at.map(|(state, at)| (state, at.max(last + Duration::minutes(30))));
        if let Some((final_state, at)) = at.filter(|(_, at)| *at < end) {
            let late = at > due;
            // Most late results were announced: an apology at least a working
            // day before the due time (the law's "in time"), when there was one.
            let apology_at = last + Duration::hours(1);
            if final_state == State::ResultReady
                && late
                && random.chance(60)
                && clock_at(&ledger, apology_at)?.remaining >= calendar.standard_day()
            {
                let apology = json!({
                    "reason": "Cần xác minh thêm",
                    "new_appointment_at": at + Duration::hours(4),
                    "at": apology_at,
                });
                let state = history.state;
                history.push(apology_at, "apologise", state, apology.clone());
                details["apology"] = apology;
            }
            finished = Some(at);
            ledger.push(ClockEvent::Stopped { at });
            let action = match final_state {
                State::Withdrawn => "withdraw",
                State::Stopped => "stop",
                _ => "complete",
            };
            history.push(at, action, final_state, json!({}));
            if final_state == State::ResultReady {
                outcome = Some(classify(at, due));
                finish(
                    random,
                    &mut history,
                    &mut details,
                    channel,
                    delivery,
                    at,
                    end,
                );
            }
        }
    }
    let due_at = clock_at(&ledger, finished.unwrap_or(arrived))?.due_at;
    let now = to_db_time(accepted);
    let dossier = NewDossier {
        id: Id::new(),
        code: String::new(),
        receiving_agency_id: agency.id,
        procedure_id: procedure.id,
        owner_id: None,
        channel: channel.into(),
        state: history.state.as_str().into(),
        version: history.events.len() as i32,
        applicant_name: details["applicant"]["full_name"]
            .as_str()
            .unwrap_or_default()
            .into(),
        applicant_phone: details["applicant"]["phone"]
            .as_str()
            .unwrap_or_default()
            .into(),
        details: details.to_string(),
        result_delivery: delivery.into(),
        submitted_at: online.then(|| to_db_time(arrived)),
        ack_due_at: online
            .then(|| clock::acknowledgement_due(calendar, arrived).map(to_db_time))
            .transpose()
            .map_err(|e| e.to_string())?,
        acknowledged_at: online.then_some(now),
        received_at: (!refused).then(|| to_db_time(arrived)),
        due_at: (!refused).then(|| to_db_time(due_at)),
        clock_events: serde_json::to_string(&ledger).map_err(|e| e.to_string())?,
        finished_at: finished.map(to_db_time),
        outcome: outcome
            .and_then(|o| serde_json::to_value(o).ok())
            .and_then(|v| v.as_str().map(str::to_owned)),
        created_at: to_db_time(arrived),
        updated_at: now,
        accepted_at: (!refused).then_some(now),
        // Set from the events when stored.
        history_head: String::new(),
        history_events: 0,
    };
    Ok(Generated {
        agency,
        dossier,
        events: history.events,
    })
}

/// A dossier's events as they happen, and the state they leave it in.
struct History {
    events: Vec<NewEvent>,
    state: State,
}

impl History {
    fn push(&mut self, at: DateTime<Utc>, action: &str, after: State, payload: Value) {
        let before = match action {
            "file_online" | "intake_accept" | "intake_refuse" => None,
            _ => Some(self.state.as_str().into()),
        };
        self.events.push(NewEvent {
            at,
            actor_id: None,
            actor_role: "generator".into(),
            action: action.into(),
            state_before: before,
            state_after: after.as_str().into(),
            payload: payload.to_string(),
        });
        self.state = after;
    }
}

/// How the result goes back: online for some online filings (where the
/// procedure allows it), by post for most postal ones, else at the desk.
fn delivery(random: &mut Random, channel: &str, definition: &ProcedureDefinition) -> &'static str {
    let offers =
        |d: Delivery| definition.deliveries.is_empty() || definition.deliveries.contains(&d);
    if channel == "online" && offers(Delivery::Online) && random.chance(50) {
        "online"
    } else if channel == "postal" && offers(Delivery::Post) && random.chance(70) {
        "post"
    } else {
        "desk"
    }
}

/// The applicant and the documents, as the desk or the portal records them.
fn details(
    random: &mut Random,
    channel: &str,
    procedure: &ProcedureRow,
    definition: &ProcedureDefinition,
    delivery: &str,
) -> Value {
    const FAMILY: [&str; 6] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ"];
    const GIVEN: [&str; 6] = [
        "Văn An",
        "Thị Bình",
        "Minh Châu",
        "Quốc Dũng",
        "Thu Hà",
        "Đức Long",
    ];
    let name = format!(
        "{} {}",
        FAMILY[random.below(6) as usize],
        GIVEN[random.below(6) as usize]
    );
    let address = format!(
        "Số {}, thôn {}, xã mẫu, tỉnh mẫu",
        1 + random.below(200),
        1 + random.below(12)
    );
    let documents: Vec<Value> = definition
        .documents
        .iter()
        .map(|d| {
            json!({
                "requirement_code": d.code,
                "originals": if channel == "online" { 0 } else { d.originals },
                "copies": if channel == "online" { 0 } else { d.copies },
                "file_id": (channel == "online" || random.chance(50)).then(|| Id::new().to_string()),
            })
        })
        .collect();
    json!({
        "applicant": {
            "full_name": name,
            "national_id": format!("0{:02}{}{:08}", 1 + random.below(96), random.below(4), random.below(100_000_000)),
            "phone": format!("09{:08}", random.below(100_000_000)),
            "email": null,
            "address": address,
        },
        "documents": documents,
        "postal_address": (delivery == "post").then_some(address),
        "online_kind": (channel == "online").then(|| procedure.online_kind.clone()),
        "completed_at": null,
        "extension_days": 0,
        "apology": null,
        "rating": null,
        "records": [],
    })
}

/// The fee, paid when the dossier is taken on (online through the gateway
/// for most online filings), if the procedure charges a fixed one.
fn payment(
    random: &mut Random,
    channel: &str,
    definition: &ProcedureDefinition,
    at: DateTime<Utc>,
) -> Option<Value> {
    let Fee::Fixed {
        amount,
        online_amount,
        ..
    } = &definition.fee
    else {
        return None;
    };
    let online = channel == "online";
    let amount = if online {
        online_amount.unwrap_or(*amount)
    } else {
        *amount
    };
    let method = match random.below(100) {
        n if online && n < 70 => "online",
        n if n < 85 => "cash",
        _ => "transfer",
    };
    Some(json!({
        "amount": amount,
        "method": method,
        "reference": format!("GD{}{:06}", at.format("%y%m%d"), random.below(1_000_000)),
    }))
}

fn push_record(details: &mut Value, kind: &str, mut record: Value) {
    record["kind"] = json!(kind);
    if let Some(records) = details["records"].as_array_mut() {
        records.push(record);
    }
}

/// After the result: most are handed over (desk and post), and some online
/// filers rate the service, before the end of the history.
fn finish(
    random: &mut Random,
    history: &mut History,
    details: &mut Value,
    channel: &str,
    delivery: &str,
    result_at: DateTime<Utc>,
    end: DateTime<Utc>,
) {
    let mut at = result_at;
    if delivery != "online" && random.chance(85) {
        at += Duration::hours(2 + random.below(94) as i64);
        if at < end {
            history.push(at, "return", State::Returned, json!({"delivery": delivery}));
        }
    }
    if channel == "online" && random.chance(40) {
        at += Duration::hours(1 + random.below(48) as i64);
        let overall = match random.below(100) {
            n if n < 45 => "very_satisfied",
            n if n < 88 => "satisfied",
            _ => "dissatisfied",
        };
        if at < end {
            let rating = json!({"overall": overall, "at": at});
            let state = history.state;
            history.push(at, "rate", state, rating.clone());
            details["rating"] = rating;
        }
    }
}

/// Numbers the batch per agency and day (one counter update per group) and
/// writes it with its events' hash chains.
fn store(
    conn: &mut motcua_persistence::DbConnection,
    key: &HistoryKey,
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
    dossiers::insert_new_batch(conn, key, &rows)
}
