//! `motcua gen-data`: fills a database with a realistic, reproducible mix of
//! dossiers for reports and benchmarks, through the same domain and
//! persistence code the server uses: every dossier is opened and moved by
//! the aggregate's commands (`Dossier::open`, `Dossier::handle`), so its
//! row and its events are ones the API could have written; they are stored
//! in bulk (day numbering, dossier rows, hash-chained events).
//!
//! Each dossier is simulated on the national calendar: a procedure from the demo catalogue, a channel, an applicant and
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
use motcua_domain::clock::{self, ClockEvent};
use motcua_domain::dossier::{
    Accept, Actor, Apologise, ApologyFault, Applicant, Channel, Command, Complete, Context,
    DocumentEntry, Dossier, IntakeDecision, MissingItem, Opening, Particulars, PaymentMethod, Rate,
    RecordPayment, Refuse, Rejection, RequestSupplement, ReturnResult, Satisfaction, Stop, Supply,
    Verdict, Withdraw,
};
use motcua_domain::history::HistoryKey;
use motcua_domain::lifecycle::{Role, State};
use motcua_domain::online::OnlineServiceKind;
use motcua_domain::procedure::{CatalogueFile, DEMO_CATALOGUE_JSON, Delivery, ProcedureDefinition};
use motcua_domain::time::{from_local, to_local};
use motcua_persistence::agencies::{self, Agency, NewAgency};
use motcua_persistence::dossiers::{self, NewDossier, NewEvent};
use motcua_persistence::procedures::{self, ProcedureRow};
use motcua_persistence::records::SideRows;
use motcua_persistence::sql_types::to_db_time;
use motcua_persistence::stored::{self, Placement};
use motcua_persistence::{AgencyId, Db, DbError, DossierId, FileId};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Dossiers.
    pub dossiers: u64,
    /// Communes under one province.
    pub agencies: u32,
    /// Months of history, ending with the month before `end`.
    pub months: u32,
    /// Seed: the same seed gives the same data (with fresh ids and payment
    /// references, unique in the database).
    pub seed: u64,
}

/// The generated data's province when none is named: the demo's, when
/// `serve --demo` has seeded it (its accounts then read the reports), else
/// a province of its own, made on first use.
pub const DEMO_PROVINCE: &str = motcua_api::bootstrap::DEMO_PROVINCE;
/// The generator's own province.
pub const OWN_PROVINCE: &str = "000.00.00.H99";

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
pub fn run(db: &Db, plan: Plan, province: &Agency, key: &HistoryKey) -> Result<u64, String> {
    let started = Instant::now();
    let national = motcua_domain::national::national().map_err(|e| e.to_string())?;
    let calendar = WorkingCalendar::single(national);
    crate::import_demo_catalogue(db)?;
    let communes = communes_of(db, province, plan.agencies)?;
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

/// The province named, or by default the demo's when it exists, else the
/// generator's own (made if missing). A named province must exist.
pub fn province(db: &Db, named: Option<&str>) -> Result<Agency, String> {
    if let Some(identifier) = named {
        let agency = db
            .run(|conn| agencies::find_by_identifier(conn, identifier))
            .map_err(|e: DbError| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no agency has the identifier {identifier} (leave out --province to use \
                     the demo's province or the generator's own)"
                )
            })?;
        if agency.kind != "province" {
            return Err(format!(
                "{identifier} is a {}, not a province (--province names the province whose \
                 communes get the dossiers)",
                agency.kind
            ));
        }
        return Ok(agency);
    }
    db.write(|conn| {
        if let Some(demo) = agencies::find_by_identifier(conn, DEMO_PROVINCE)? {
            return Ok(demo);
        }
        match agencies::find_by_identifier(conn, OWN_PROVINCE)? {
            Some(own) => Ok(own),
            None => agencies::create(
                conn,
                &NewAgency {
                    identifier: OWN_PROVINCE.into(),
                    name: "Tỉnh mẫu (dữ liệu sinh)".into(),
                    kind: "province".into(),
                    parent_id: None,
                },
                Utc::now(),
            ),
        }
    })
    .map_err(|e: DbError| e.to_string())
}

/// `count` communes of the province: those it has, then generated ones
/// (`000.00.01.H27`, … after the province's code), made if missing.
fn communes_of(db: &Db, province: &Agency, count: u32) -> Result<Vec<Agency>, String> {
    let wanted = count.max(1) as usize;
    let code = province
        .identifier
        .rsplit('.')
        .next()
        .unwrap_or("H99")
        .to_owned();
    db.write(|conn| {
        let mut communes: Vec<Agency> = agencies::subtree(conn, &province.path)?
            .into_iter()
            .filter(|a| a.parent_id == Some(province.id) && a.kind == "commune")
            .take(wanted)
            .collect();
        let mut i = 0;
        while communes.len() < wanted {
            i += 1;
            let identifier = format!("000.{:02}.{:02}.{code}", i / 100, i % 100);
            let commune = match agencies::find_by_identifier(conn, &identifier)? {
                // The identifier is another kind of agency's (the demo's
                // departments): not a commune to file at.
                Some(other) if other.kind != "commune" => continue,
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
            if !communes.iter().any(|c| c.id == commune.id) {
                communes.push(commune);
            }
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
    /// Its applicant, documents and side records.
    particulars: Particulars,
}

const CITIZEN: Actor = Actor {
    id: None,
    role: Role::Citizen,
};
const CLERK: Actor = Actor {
    id: None,
    role: Role::Clerk,
};
const OFFICER: Actor = Actor {
    id: None,
    role: Role::Officer,
};
const LEADER: Actor = Actor {
    id: None,
    role: Role::Leader,
};
const GATEWAY: Actor = Actor {
    id: None,
    role: Role::PaymentGateway,
};

/// A dossier's life so far: the aggregate and its events, each produced by
/// the domain from a command as the API would have it. Nothing happens at
/// or after `end` (the dossier is still open then).
struct Life<'a> {
    procedure: &'a ProcedureRow,
    definition: &'a ProcedureDefinition,
    calendar: &'a WorkingCalendar,
    end: DateTime<Utc>,
    dossier: Dossier,
    events: Vec<NewEvent>,
}

impl Life<'_> {
    fn context(&self, at: DateTime<Utc>) -> Context<'_> {
        Context {
            procedure: self.definition,
            calendar: self.calendar,
            at,
        }
    }

    /// The command at `at`, if before the end. `Ok(false)`: it did not
    /// happen (too late, or the lifecycle refuses it, as for an apology
    /// that comes too late); an error is a bug in the simulation.
    fn act(&mut self, command: Command, actor: Actor, at: DateTime<Utc>) -> Result<bool, String> {
        if at >= self.end {
            return Ok(false);
        }
        match self.dossier.handle(command, actor, &self.context(at)) {
            Ok(handled) => {
                self.events.push(stored::event(&handled.event));
                self.dossier = handled.dossier;
                Ok(true)
            }
            Err(Rejection::Refused(_)) => Ok(false),
            Err(other) => Err(other.to_string()),
        }
    }

    /// The last instant of the clock's ledger, or of acceptance.
    fn last(&self) -> DateTime<Utc> {
        self.dossier
            .ledger
            .last()
            .map(ClockEvent::at)
            .or(self.dossier.accepted_at)
            .unwrap_or(self.end)
    }
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
        n if n < 40 && online_allowed => Channel::Online,
        n if n < 90 => Channel::Direct,
        _ => Channel::Postal,
    };
    // Arrival: a day of the history, at a time of office hours (or a little outside).
    let day = first_day + Duration::days(random.below(days) as i64);
    let minute = 7 * 60 + random.below(11 * 60) as i64;
    let arrived = from_local(day.and_time(chrono::NaiveTime::MIN) + Duration::minutes(minute));
    let online = channel == Channel::Online;
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
    let particulars = particulars(random, channel, procedure, definition, delivery);
    let refusal = Refuse {
        reason: "Không thuộc thẩm quyền".into(),
        legal_basis: "Điều 9".into(),
    };

    // It arrives: online, the desk then accepts or refuses it; at the desk,
    // the clerk decides at once.
    let (opening, opener, opened_at) = if online {
        (Opening::Online, CITIZEN, arrived)
    } else {
        let decision = if refused {
            IntakeDecision::Refuse(refusal.clone())
        } else {
            IntakeDecision::Accept
        };
        (Opening::Desk { channel, decision }, CLERK, accepted)
    };
    let context = Context {
        procedure: definition,
        calendar,
        at: opened_at,
    };
    let opened = Dossier::open(opening, particulars, delivery, opener, &context)
        .map_err(|e| e.to_string())?;
    let first = stored::opening_event(&opened.event, &procedure.code, procedure.version, None);
    let mut life = Life {
        procedure,
        definition,
        calendar,
        end,
        dossier: opened.dossier,
        events: vec![first],
    };
    if online {
        let decision = if refused {
            Command::Refuse(refusal)
        } else {
            Command::Accept(Accept::default())
        };
        life.act(decision, CLERK, accepted)?;
    }
    if !refused && life.dossier.state == State::Accepted {
        simulate_processing(random, &mut life, channel, accepted)?;
    }

    let ack_due_at = online
        .then(|| clock::acknowledgement_due(calendar, arrived))
        .transpose()
        .map_err(|e| e.to_string())?;
    let place = Placement {
        id: DossierId::new(),
        code: String::new(),
        agency_id: agency.id,
        resolving_agency_id: None,
        group_id: None,
        portal_code: None,
        assisted_by: None,
        procedure_id: life.procedure.id,
        owner_id: None,
        ack_due_at,
        created_at: opened_at,
    };
    let version = i32::try_from(life.events.len()).unwrap_or(i32::MAX);
    let mut dossier = stored::new_row(place, &life.dossier, version).map_err(|e| e.to_string())?;
    dossier.updated_at = life
        .events
        .last()
        .map_or(dossier.updated_at, |e| to_db_time(e.at));
    Ok(Generated {
        agency,
        dossier,
        events: life.events,
        particulars: life.dossier.particulars,
    })
}

/// From acceptance: the fee paid (online through the gateway for most
/// online filings), sometimes a supplement pause, then a fate — result
/// (mostly early, some on time, some late, most late ones announced by an
/// apology), withdrawal or stop — then the hand-over and a rating.
fn simulate_processing(
    random: &mut Random,
    life: &mut Life<'_>,
    channel: Channel,
    accepted: DateTime<Utc>,
) -> Result<(), String> {
    let online = channel == Channel::Online;
    if let Some(fee) = life.dossier.fee_due(life.definition) {
        let (method, payer) = match random.below(100) {
            n if online && n < 70 => (None, GATEWAY),
            n if n < 85 => (Some(PaymentMethod::Cash), CLERK),
            _ => (Some(PaymentMethod::Transfer), CLERK),
        };
        let payment = RecordPayment {
            amount: fee,
            method,
            // Unique in the whole database, as the gateway's and the desks'
            // references must be, whichever runs filled it before.
            reference: format!(
                "GD{}-{}",
                accepted.format("%y%m%d"),
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
            note: None,
        };
        life.act(
            Command::RecordPayment(payment),
            payer,
            accepted + Duration::minutes(5),
        )?;
    }
    if let Some(document) = life
        .definition
        .documents
        .last()
        .filter(|_| random.chance(15))
    {
        let from = accepted + Duration::hours(1 + random.below(20) as i64);
        let to = from + Duration::hours(24 * (1 + random.below(5) as i64));
        let request = RequestSupplement {
            reason: "Bổ sung giấy tờ chứng minh".into(),
            items: vec![MissingItem {
                requirement_code: Some(document.code.clone()),
                name: document.name.clone(),
                problem: "thiếu".into(),
            }],
        };
        if life.act(Command::RequestSupplement(request), OFFICER, from)? {
            // Online the citizen uploads it; at the desk the clerk takes a copy.
            let (supplier, file_id, copies) = if online {
                (CITIZEN, Some(uuid::Uuid::now_v7().to_string()), 0)
            } else {
                (CLERK, None, 1)
            };
            let supply = Supply {
                documents: vec![DocumentEntry {
                    requirement_code: document.code.clone(),
                    originals: 0,
                    copies,
                    file_id,
                }],
                note: None,
            };
            life.act(Command::Supply(supply), supplier, to)?;
        }
    }
    if !matches!(life.dossier.state, State::Accepted | State::InProcessing) {
        return Ok(());
    }
    let due = life.dossier.due_at.unwrap_or(life.end);
    let last = life.last();
    // A few dossiers are stuck; the rest are open only if their fate
    // falls after the end of the history.
    let fate = match random.below(100) {
        0..=1 => return Ok(()),
        2..=4 => (State::Withdrawn, last + Duration::hours(2)),
        5 => (State::Stopped, last + Duration::hours(3)),
        // Most results before the due day, some on it, some after.
        // Early: somewhere between 20% and 80% of the time left after the last pause.
        6..=72 => {
            let left = (due - last).num_minutes().max(60);
            let share = 20 + random.below(60) as i64;
            (
                State::ResultReady,
                last + Duration::minutes(left * share / 100),
            )
        }
        73..=88 => (
            State::ResultReady,
            due - Duration::minutes(30 + random.below(120) as i64),
        ),
        _ => (
            State::ResultReady,
            due + Duration::hours(1 + random.below(72) as i64),
        ),
    };
    // Never before the last pause ended (the ledger stays in time order).
    let (fate, at) = (fate.0, fate.1.max(last + Duration::minutes(30)));
    // Most late results were announced: an apology by the processing
    // agency, early in the processing.
    if fate == State::ResultReady && at > due && random.chance(60) {
        let apology = Apologise {
            reason: "Cần xác minh thêm".into(),
            new_appointment_at: at + Duration::hours(4),
            fault: ApologyFault::Processing,
        };
        life.act(
            Command::Apologise(apology),
            LEADER,
            last + Duration::hours(1),
        )?;
    }
    let reason = |text: &str| text.to_owned();
    let done = match fate {
        State::Withdrawn => life.act(
            Command::Withdraw(Withdraw {
                reason: reason("Công dân rút hồ sơ"),
            }),
            if online { CITIZEN } else { CLERK },
            at,
        )?,
        State::Stopped => life.act(
            Command::Stop(Stop {
                reason: reason("Không đủ điều kiện giải quyết"),
            }),
            LEADER,
            at,
        )?,
        _ => life.act(
            Command::Complete(Complete {
                outcome: Verdict::Approved,
                result_files: Vec::new(),
                electronic_result: life.dossier.result_delivery == Delivery::Online,
                note: None,
            }),
            OFFICER,
            at,
        )?,
    };
    if done && fate == State::ResultReady {
        finish(random, life, channel, at)?;
    }
    Ok(())
}

/// How the result goes back: online for some online filings (where the
/// procedure allows it), by post for most postal ones, else at the desk.
fn delivery(random: &mut Random, channel: Channel, definition: &ProcedureDefinition) -> Delivery {
    let offers =
        |d: Delivery| definition.deliveries.is_empty() || definition.deliveries.contains(&d);
    if channel == Channel::Online && offers(Delivery::Online) && random.chance(50) {
        Delivery::Online
    } else if channel == Channel::Postal && offers(Delivery::Post) && random.chance(70) {
        Delivery::Post
    } else {
        Delivery::Desk
    }
}

/// The applicant and the documents, as the desk or the portal records them.
fn particulars(
    random: &mut Random,
    channel: Channel,
    procedure: &ProcedureRow,
    definition: &ProcedureDefinition,
    delivery: Delivery,
) -> Particulars {
    const FAMILY: [&str; 6] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ"];
    const GIVEN: [&str; 6] = [
        "Văn An",
        "Thị Bình",
        "Minh Châu",
        "Quốc Dũng",
        "Thu Hà",
        "Đức Long",
    ];
    let online = channel == Channel::Online;
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
    let documents = definition
        .documents
        .iter()
        .map(|d| DocumentEntry {
            requirement_code: d.code.clone(),
            originals: if online { 0 } else { d.originals },
            copies: if online { 0 } else { d.copies },
            file_id: (online || random.chance(50)).then(|| FileId::new().to_string()),
        })
        .collect();
    Particulars {
        applicant: Some(Applicant {
            full_name: name,
            national_id: Some(format!(
                "0{:02}{}{:08}",
                1 + random.below(96),
                random.below(4),
                random.below(100_000_000)
            )),
            phone: format!("09{:08}", random.below(100_000_000)),
            email: None,
            address: Some(address.clone()),
            no_messages: false,
        }),
        documents,
        postal_address: (delivery == Delivery::Post).then_some(address),
        online_kind: if online {
            stored::from_text::<OnlineServiceKind>(&procedure.online_kind).ok()
        } else {
            None
        },
        ..Particulars::default()
    }
}

/// After the result: most are handed over (desk and post), and some online
/// filers rate the service, before the end of the history.
fn finish(
    random: &mut Random,
    life: &mut Life<'_>,
    channel: Channel,
    result_at: DateTime<Utc>,
) -> Result<(), String> {
    let mut at = result_at;
    let delivery = life.dossier.result_delivery;
    if delivery != Delivery::Online && random.chance(85) {
        at += Duration::hours(2 + random.below(94) as i64);
        let handed = ReturnResult {
            delivery,
            tracking_number: None,
        };
        life.act(Command::Return(handed), CLERK, at)?;
    }
    if channel == Channel::Online && random.chance(40) {
        at += Duration::hours(1 + random.below(48) as i64);
        let overall = match random.below(100) {
            n if n < 45 => Satisfaction::VerySatisfied,
            n if n < 88 => Satisfaction::Satisfied,
            _ => Satisfaction::Dissatisfied,
        };
        let rating = Rate {
            overall,
            criteria: Default::default(),
            comment: None,
        };
        life.act(Command::Rate(rating), CITIZEN, at)?;
    }
    Ok(())
}

/// Numbers the batch per agency and day (one counter update per group) and
/// writes it with its events' hash chains.
fn store(
    conn: &mut motcua_persistence::DbConnection,
    key: &HistoryKey,
    batch: Vec<Generated>,
) -> Result<(), DbError> {
    let mut groups: std::collections::BTreeMap<(AgencyId, NaiveDate), Vec<Generated>> =
        std::collections::BTreeMap::new();
    for generated in batch {
        let day = to_local(generated.dossier.created_at.and_utc()).date();
        groups
            .entry((generated.agency.id, day))
            .or_default()
            .push(generated);
    }
    let mut rows = Vec::new();
    let mut side = SideRows::default();
    let nothing = Particulars::default();
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
            side.add(dossier.id, agency, &nothing, &item.particulars);
            rows.push((dossier, item.events));
        }
    }
    dossiers::insert_new_batch(conn, key, &rows)?;
    side.insert(conn)
}
