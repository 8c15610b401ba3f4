//! Reports (auditors, leaders and administrators, within their subtree), as
//! JSON or CSV (`?format=csv` or `Accept: text/csv`; UTF-8 with a BOM).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::clock::{
    self, ClockEvent, ClockInput, DeadlineState, LegalClock, Outcome, PauseCause, TimeLimit,
};
use motcua_domain::dossier::{ApologyFault, Channel};
use motcua_domain::indicators::{Indicator, indicators};
use motcua_domain::lifecycle::{Role, State};
use motcua_domain::online::OnlineServiceKind;
use motcua_domain::reports::{Finish, Kstt06Row, OpenAtEnd, Period, ReportDossier, kstt06_counted};
use motcua_persistence::agencies::{self, Agency};
use motcua_persistence::dossiers::{self, CountBy, CountKey, CountedAt, Finished, ReportRow};

use crate::policy::province_of;
use motcua_persistence::procedures::{self, ProcedureRow};
use motcua_persistence::stored;
use motcua_persistence::{AgencyId, Db, DbConnection, DbError, ProcedureId, UserId, users};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::calendars::Calendars;
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::catalogue::definition;

mod compare;
mod council;

pub use compare::{
    CompareBy, CompareQuery, IndicatorsCompare, IndicatorsLine, Kstt06Compare, UptakeCompare,
    indicators_compare, kstt06_compare, uptake_compare,
};
pub use council::{AuditQuery, Printer, audit_report};

/// Parameters of Form 06.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Kstt06Query {
    /// The period: `2026`, `2026-Q3`, `2026-10` or `cutoff:2026-10`.
    /// Required unless both from and to are given (422 otherwise).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency whose subtree is reported (default: the caller's agency).
    pub agency_id: Option<String>,
    /// `field` (default), `procedure`, `agency` (the resolving agency, where
    /// Form 06 counts) or `receiving_agency` (where the dossiers were handed in).
    #[param(value_type = Option<GroupBy>)]
    pub group_by: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// How a report is answered (also `Accept: text/csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// JSON.
    Json,
    /// CSV, UTF-8 with a byte-order mark; each header cell is the column's
    /// Vietnamese title with its JSON key in brackets.
    Csv,
}

/// A row of Form 06: the group, and its counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Kstt06Line {
    /// Mã — the group's key (field code, procedure code or agency
    /// identifier; `total` on the totals row).
    pub key: String,
    /// Tên — the group's name.
    pub name: String,
    /// Cơ quan đã sáp nhập — grouped by agency: the identifiers of the
    /// agencies merged into this one whose dossiers the line counts too
    /// (a period that straddles a merger counts them under the new agency).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// The counts.
    #[serde(flatten)]
    pub counts: Kstt06Row,
}

/// Form 06/VPCP/KSTT.
#[derive(Debug, Serialize, ToSchema)]
pub struct Kstt06Report {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The agency reported on (with its subtree).
    pub agency_id: String,
    /// Grouping.
    pub group_by: GroupBy,
    /// One line per group.
    pub rows: Vec<Kstt06Line>,
    /// The totals.
    pub total: Kstt06Line,
}

/// The columns of Form 06: key and Vietnamese heading.
const COLUMNS: [(&str, &str); 16] = [
    ("taken_on", "Tổng số hồ sơ tiếp nhận"),
    ("new_online", "Tiếp nhận mới trực tuyến"),
    ("new_direct", "Tiếp nhận mới trực tiếp, bưu chính"),
    ("carried_over", "Kỳ trước chuyển qua"),
    ("resolved", "Số hồ sơ đã giải quyết"),
    ("early", "Giải quyết trước hạn"),
    ("on_time", "Giải quyết đúng hạn"),
    ("late", "Giải quyết quá hạn"),
    ("in_progress", "Số hồ sơ đang giải quyết"),
    ("within_deadline", "Đang giải quyết trong hạn"),
    ("overdue", "Đang giải quyết quá hạn"),
    ("withdrawn", "Rút hồ sơ"),
    ("stopped", "Dừng giải quyết"),
    ("waiting_supplement", "Chờ bổ sung hồ sơ"),
    ("late_with_apology", "Quá hạn đã xin lỗi"),
    ("refused_at_intake", "Từ chối tiếp nhận"),
];

pub(crate) fn period_of(
    period: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Period, ApiError> {
    let invalid =
        |field: &str, message: String| ApiError::Validation(vec![FieldError::new(field, message)]);
    let (parsed, field) = match (period, from, to) {
        (Some(period), None, None) => (
            Period::parse(period).map_err(|e| invalid("period", e.to_string()))?,
            "period",
        ),
        (None, Some(from), Some(to)) => (
            Period::days(from, to).map_err(|e| invalid("to", e.to_string()))?,
            "to",
        ),
        (Some(_), _, _) => {
            return Err(invalid(
                "period",
                "give either period or from and to, not both".into(),
            ));
        }
        _ => {
            return Err(invalid(
                "period",
                "required: give period (e.g. 2026-10), or both from and to (YYYY-MM-DD)".into(),
            ));
        }
    };
    // Reports count what happened: from 1990 (before any electronic one-stop
    // record) to ten years ahead at most (the legal clock is not computed
    // decades into the future).
    let last_year = chrono::Datelike::year(&Utc::now()) + 10;
    if chrono::Datelike::year(&parsed.first_day) < 1990
        || chrono::Datelike::year(&parsed.last_day) > last_year
    {
        return Err(invalid(
            field,
            format!("must lie between 1990 and the end of {last_year}"),
        ));
    }
    Ok(parsed)
}

/// Whether the ledger has an open supplement pause at `end`.
fn waiting_for_supplement(ledger: &[ClockEvent], end: DateTime<Utc>) -> bool {
    let mut waiting = false;
    for event in ledger.iter().take_while(|e| e.at() < end) {
        match event {
            ClockEvent::Paused { cause, .. } => waiting = *cause == PauseCause::Supplement,
            ClockEvent::Resumed { .. }
            | ClockEvent::Restarted { .. }
            | ClockEvent::Stopped { .. } => waiting = false,
            ClockEvent::Extended { .. } => {}
        }
    }
    waiting
}

/// The dossiers of a report, each with how many alike ones it stands for,
/// and the names of their groups by key.
type Loaded = (Vec<(ReportDossier, u64)>, HashMap<String, String>);

/// How Form 06 groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By field (lĩnh vực) of the procedures.
    Field,
    /// By procedure.
    Procedure,
    /// By the agency that resolves the dossier (Form 06 counts there).
    Agency,
    /// By the agency that received it (the desk: reconciles with the
    /// resolving agencies' totals).
    ReceivingAgency,
}

impl GroupBy {
    fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        let Some(text) = text else {
            return Ok(GroupBy::Field);
        };
        [
            GroupBy::Field,
            GroupBy::Procedure,
            GroupBy::Agency,
            GroupBy::ReceivingAgency,
        ]
        .into_iter()
        .find(|by| by.as_str() == text)
        .ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new(
                "group_by",
                "must be field, procedure, agency or receiving_agency",
            )])
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            GroupBy::Field => "field",
            GroupBy::Procedure => "procedure",
            GroupBy::Agency => "agency",
            GroupBy::ReceivingAgency => "receiving_agency",
        }
    }

    /// What the database counts closed dossiers by.
    fn count_by(self) -> CountBy {
        match self {
            GroupBy::Agency => CountBy::ResolvingAgency,
            GroupBy::ReceivingAgency => CountBy::Agency,
            GroupBy::Field | GroupBy::Procedure => CountBy::Procedure,
        }
    }

    /// The id a dossier (`row`) is grouped by: an agency or its procedure version.
    fn key(self, row: &ReportRow) -> CountKey {
        match self.count_by() {
            CountBy::ResolvingAgency => {
                CountKey::Agency(row.resolving_agency_id.unwrap_or(row.agency_id))
            }
            CountBy::Agency => CountKey::Agency(row.agency_id),
            CountBy::Procedure => CountKey::Procedure(row.procedure_id),
        }
    }
}

/// What a report looks up by id, read once per report: the procedure
/// versions, the agencies of the subtree and their working calendars; time
/// limits are read from a version's definition when a clock first needs it.
struct Lookups {
    procedures: HashMap<ProcedureId, ProcedureRow>,
    limits: HashMap<ProcedureId, TimeLimit>,
    agencies: HashMap<AgencyId, Agency>,
    calendars: Calendars,
    /// By agency group key: the agencies merged into it that it counted for.
    merged_from: HashMap<String, BTreeSet<String>>,
}

impl Lookups {
    fn load(conn: &mut DbConnection, root: &str) -> Result<Self, ApiError> {
        let procedures = procedures::all(conn)?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        // The whole province: a dossier counted at an agency of the subtree
        // may have been received at another (its calendar and name).
        let agencies: HashMap<AgencyId, Agency> = agencies::subtree(conn, province_of(root))?
            .into_iter()
            .map(|agency| (agency.id, agency))
            .collect();
        let calendars = Calendars::load(conn, agencies.values())?;
        Ok(Lookups {
            procedures,
            limits: HashMap::new(),
            agencies,
            calendars,
            merged_from: HashMap::new(),
        })
    }

    fn procedure(&self, id: ProcedureId) -> Result<&ProcedureRow, ApiError> {
        self.procedures
            .get(&id)
            .ok_or_else(|| ApiError::Internal(format!("procedure {id} is missing")))
    }

    fn limit(&mut self, id: ProcedureId) -> Result<TimeLimit, ApiError> {
        if let Some(limit) = self.limits.get(&id) {
            return Ok(*limit);
        }
        let limit = definition(self.procedure(id)?)?.time_limit;
        self.limits.insert(id, limit);
        Ok(limit)
    }

    fn agency(&self, id: AgencyId) -> Result<&Agency, ApiError> {
        agency_in(&self.agencies, id)
    }

    /// A group's key and name for the id `by` groups on ([`GroupBy::key`]):
    /// an agency's, or a procedure's (or its field's, by field).
    /// An agency merged into another is counted under the agency that took
    /// its place (the chain followed to its end), and remembered there.
    fn group(&mut self, by: GroupBy, key: CountKey) -> Result<(String, String), ApiError> {
        Ok(match key {
            CountKey::Agency(id) => {
                let counted = self.agency(id)?;
                let mut current = counted;
                for _ in 0..self.agencies.len() {
                    match current.merged_into_id {
                        Some(next) => current = self.agency(next)?,
                        None => break,
                    }
                }
                let (key, name) = (current.identifier.clone(), current.name.clone());
                if current.id != counted.id {
                    let former = counted.identifier.clone();
                    self.merged_from
                        .entry(key.clone())
                        .or_default()
                        .insert(former);
                }
                (key, name)
            }
            CountKey::Procedure(id) => {
                let procedure = self.procedure(id)?;
                if by == GroupBy::Field {
                    (procedure.field_code.clone(), procedure.field_name.clone())
                } else {
                    (procedure.code.clone(), procedure.name.clone())
                }
            }
        })
    }

    /// The legal clock of an open dossier (`ledger` is its clock ledger) as of `at`.
    fn clock(
        &mut self,
        row: &ReportRow,
        ledger: &[ClockEvent],
        at: DateTime<Utc>,
    ) -> Result<Option<LegalClock>, ApiError> {
        let Some(received) = row.received_at else {
            return Ok(None);
        };
        let limit = self.limit(row.procedure_id)?;
        // The agencies and the calendars are borrowed apart: the field, not `self.agency`.
        let agency = agency_in(&self.agencies, row.agency_id)?;
        let input = ClockInput {
            calendar: self.calendars.of(agency)?,
            limit,
            received_at: received.and_utc(),
            events: ledger,
        };
        clock::evaluate(input, at)
            .map(Some)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

fn agency_in(agencies: &HashMap<AgencyId, Agency>, id: AgencyId) -> Result<&Agency, ApiError> {
    agencies
        .get(&id)
        .ok_or_else(|| ApiError::Internal(format!("agency {id} is outside the subtree")))
}

/// Loads what Form 06 needs. The database counts the dossiers that finished
/// in the period (each count comes back as one representative dossier dated
/// at the period's start: accepted then if new, just before if carried over);
/// the dossiers open at the end come one by one, with their legal clock
/// evaluated as of the end.
fn report_dossiers(
    conn: &mut DbConnection,
    lookups: &mut Lookups,
    root: &str,
    period: &Period,
    group_by: GroupBy,
    counted_at: CountedAt,
    now: DateTime<Utc>,
) -> Result<Loaded, ApiError> {
    let closed = dossiers::closed_counts(
        conn,
        root,
        group_by.count_by(),
        counted_at,
        period.start,
        period.end,
    )?;
    let open = with_ledgers(dossiers::open_at(conn, root, counted_at, period.end)?)?;
    counted(
        lookups,
        closed,
        open.iter(),
        period,
        Grouping::By(group_by),
        now,
    )
}

/// Report rows with their clock ledgers read.
fn with_ledgers(rows: Vec<ReportRow>) -> Result<Vec<(ReportRow, Vec<ClockEvent>)>, ApiError> {
    rows.into_iter()
        .map(|row| {
            let ledger = ledger_of(&row)?;
            Ok((row, ledger))
        })
        .collect()
}

/// How Form 06 puts dossiers into lines: a grouping of the report, or the
/// lines of a comparison (by the agency it counts them at).
#[derive(Clone, Copy)]
enum Grouping<'a> {
    By(GroupBy),
    Lines(CountedAt, &'a compare::Lines),
}

impl Grouping<'_> {
    fn group_by(self) -> GroupBy {
        match self {
            Grouping::By(by) => by,
            Grouping::Lines(CountedAt::Resolving, _) => GroupBy::Agency,
            Grouping::Lines(CountedAt::Receiving, _) => GroupBy::ReceivingAgency,
        }
    }

    /// A group's key and name for the id the dossiers were counted by.
    fn group(self, lookups: &mut Lookups, key: CountKey) -> Result<(String, String), ApiError> {
        match self {
            Grouping::By(by) => lookups.group(by, key),
            Grouping::Lines(_, lines) => Ok(lines.group(key)),
        }
    }
}

/// A count from SQL (`count(*)` or a nullable `sum`) as a number of dossiers.
fn count(n: Option<i64>) -> u64 {
    u64::try_from(n.unwrap_or(0)).unwrap_or(0)
}

/// A report cannot count a dossier whose legal clock cannot be read: 409
/// `record_unreadable` naming it, for an administrator to repair (not a 500).
fn ledger_of(row: &ReportRow) -> Result<Vec<ClockEvent>, ApiError> {
    serde_json::from_str(&row.clock_events)
        .map_err(|e| crate::routes::dossiers::unreadable(&row.code, "legal clock", e))
}

/// Turns the closed counts and the open rows into weighted report dossiers.
fn counted<'r>(
    lookups: &mut Lookups,
    closed: Vec<dossiers::ClosedCount>,
    open: impl Iterator<Item = &'r (ReportRow, Vec<ClockEvent>)>,
    period: &Period,
    grouping: Grouping,
    now: DateTime<Utc>,
) -> Result<Loaded, ApiError> {
    let mut names = HashMap::new();
    let mut result = Vec::new();
    let carried_at = period.start - chrono::Duration::microseconds(1);
    for closed in closed {
        let (key, name) = grouping.group(lookups, closed.key)?;
        names.insert(key.clone(), name);
        let dossier = |accepted_at, finished| ReportDossier {
            group: key.clone(),
            online: closed.channel == Channel::Online,
            accepted_at,
            finished,
            refused_at: None,
            open_at_end: None,
        };
        let total = count(Some(closed.count));
        let result_with = |apology| Finish::Result {
            outcome: closed.outcome.unwrap_or(Outcome::OnTime),
            apology,
        };
        let finish = match closed.state {
            State::Refused => {
                let refused = ReportDossier {
                    refused_at: Some(period.start),
                    ..dossier(None, None)
                };
                result.push((refused, total));
                continue;
            }
            State::Withdrawn => Finish::Withdrawn,
            State::Stopped => Finish::Stopped,
            State::ResultReady | State::Returned => result_with(false),
            // No other state has a finish time.
            _ => continue,
        };
        // Which of them are new, and which carry an apology, does not change
        // any other column: the apologies go to the new ones first.
        let new = count(closed.accepted_in_period).min(total);
        let mut apologised = count(closed.apologised).min(total);
        for (accepted_at, times) in [(period.start, new), (carried_at, total - new)] {
            let with_apology = apologised.min(times);
            apologised -= with_apology;
            for (finish, times) in [
                (result_with(true), with_apology),
                (finish, times - with_apology),
            ] {
                if times > 0 {
                    let finished = Some((period.start, finish));
                    result.push((dossier(Some(accepted_at), finished), times));
                }
            }
        }
    }
    // The end instant itself is outside the period: the clock as of just
    // before it — or as of now, for a period not over yet (a dossier due
    // later this month is not overdue today).
    let judged_at = period.end.min(now);
    let as_of = judged_at - chrono::Duration::microseconds(1);
    for (row, ledger) in open {
        let (key, name) = grouping.group(lookups, grouping.group_by().key(row))?;
        names.insert(key.clone(), name);
        let Some(clock) = lookups.clock(row, ledger, as_of)? else {
            continue;
        };
        let dossier = ReportDossier {
            group: key,
            online: row.channel == Channel::Online,
            accepted_at: row.accepted_at.map(|a| a.and_utc()),
            finished: None,
            refused_at: None,
            open_at_end: Some(OpenAtEnd {
                overdue: clock.state == DeadlineState::Overdue,
                waiting_for_supplement: waiting_for_supplement(ledger, judged_at),
            }),
        };
        result.push((dossier, 1));
    }
    Ok((result, names))
}

pub(crate) fn wants_csv(request: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "format",
            "must be json or csv",
        )])),
        None => Ok(request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv"))),
    }
}

/// One CSV cell. Text that a spreadsheet would take for a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return, and is not a
/// number) gets a leading `'`: names and addresses come from citizens, and
/// the file is opened by staff (OWASP, "CSV injection").
fn csv_cell(text: &str) -> String {
    let formula =
        text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text = if formula {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn counts(row: &Kstt06Row) -> [u64; 16] {
    [
        row.taken_on,
        row.new_online,
        row.new_direct,
        row.carried_over,
        row.resolved,
        row.early,
        row.on_time,
        row.late,
        row.in_progress,
        row.within_deadline,
        row.overdue,
        row.withdrawn,
        row.stopped,
        row.waiting_supplement,
        row.late_with_apology,
        row.refused_at_intake,
    ]
}

/// Form 06 as CSV: key, name and the 16 columns.
fn csv(report: &Kstt06Report) -> String {
    let mut header = vec![("key", "Mã"), ("name", "Tên")];
    header.extend(COLUMNS.iter().copied());
    // Grouped by agency, the agencies merged into each line's come last.
    let by_agency = matches!(report.group_by, GroupBy::Agency | GroupBy::ReceivingAgency);
    if by_agency {
        header.push(("merged_from", "Cơ quan đã sáp nhập"));
    }
    let rows: Vec<Vec<String>> = report
        .rows
        .iter()
        .chain(std::iter::once(&report.total))
        .map(|line| {
            let mut cells = vec![line.key.clone(), line.name.clone()];
            cells.extend(counts(&line.counts).iter().map(u64::to_string));
            if by_agency {
                cells.push(line.merged_from.join("; "));
            }
            cells
        })
        .collect();
    csv_document(&header, &rows)
}

/// The agency a report covers (its subtree): `agency_id` or the caller's
/// own; 404 outside reach. Auditors, leaders and administrators.
fn reporter(principal: &Principal, agency_id: Option<&str>) -> Result<AgencyId, ApiError> {
    let reads_reports = [Role::Auditor, Role::Leader, Role::Admin];
    if !reads_reports.iter().any(|role| principal.has_role(*role)) {
        return Err(ApiError::Forbidden);
    }
    agency_param(principal, agency_id)
}

/// The `agency_id` parameter, or the caller's own agency.
pub(crate) fn agency_param(
    principal: &Principal,
    agency_id: Option<&str>,
) -> Result<AgencyId, ApiError> {
    match agency_id {
        Some(id) => id.parse::<AgencyId>().map_err(|_| {
            ApiError::Validation(vec![FieldError::new("agency_id", "must be an agency id")])
        }),
        None => principal.agency_id.ok_or(ApiError::Forbidden),
    }
}

/// The agency's materialized path, if in the principal's reach, with the
/// lookups of its subtree.
fn in_reach(
    conn: &mut DbConnection,
    principal: &Principal,
    agency: AgencyId,
) -> Result<(String, Lookups), ApiError> {
    let path = match agencies::find(conn, agency) {
        Ok(agency) if principal.reaches(&agency.path) => agency.path,
        Ok(_) | Err(DbError::NotFound) => return Err(ApiError::NotFound),
        Err(other) => return Err(other.into()),
    };
    let lookups = Lookups::load(conn, &path)?;
    Ok((path, lookups))
}

/// Writes a CSV document: BOM, a header of "Vietnamese heading (key)", rows.
pub(crate) fn csv_document(header: &[(&str, &str)], rows: &[Vec<String>]) -> String {
    let mut out = String::from("\u{feff}");
    let header: Vec<String> = header
        .iter()
        .map(|(key, label)| csv_cell(&format!("{label} ({key})")))
        .collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in rows {
        out.push_str(
            &row.iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

fn respond<T: Serialize>(as_csv: bool, body: &T, csv: impl FnOnce() -> String) -> HttpResponse {
    if as_csv {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv())
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// Form 06/VPCP/KSTT: taken on, resolved, in progress, and the extra columns,
/// for a period and an agency subtree, grouped by field, procedure or agency
/// (auditors, leaders and administrators). Column meanings: docs/reports.md.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(Kstt06Query),
    responses(
        (status = 200, description = "The report (JSON, or CSV with `format=csv` or `Accept: text/csv`: UTF-8 with a byte-order mark, each header cell the column's Vietnamese title with its JSON key in brackets)", content(
            (Kstt06Report = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period or grouping", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/kstt-06")]
pub async fn kstt06_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    query: crate::body::Query<Kstt06Query>,
) -> Result<HttpResponse, ApiError> {
    let now = clock_now.now();
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let group_by = GroupBy::parse(query.group_by.as_deref())?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let db = db.get_ref().clone();
    let ((dossiers, names), mut merged_from) = web::block(move || {
        db.snapshot(|conn| {
            let (path, mut lookups) = in_reach(conn, &principal, agency)?;
            let loaded = report_dossiers(
                conn,
                &mut lookups,
                &path,
                &period,
                group_by,
                CountedAt::Resolving,
                now,
            )?;
            Ok::<_, ApiError>((loaded, lookups.merged_from))
        })
    })
    .await??;
    let computed = kstt06_counted(dossiers.iter().map(|(d, n)| (d, *n)), &period);
    let report = Kstt06Report {
        from: period.first_day,
        to: period.last_day,
        agency_id: agency.to_string(),
        group_by,
        rows: computed
            .rows
            .into_iter()
            .map(|(key, counts)| Kstt06Line {
                name: names.get(&key).cloned().unwrap_or_default(),
                merged_from: merged_from
                    .remove(&key)
                    .map(|set| set.into_iter().collect())
                    .unwrap_or_default(),
                key,
                counts,
            })
            .collect(),
        total: Kstt06Line {
            key: "total".into(),
            name: "Tổng cộng".into(),
            merged_from: Vec::new(),
            counts: computed.total,
        },
    };
    Ok(respond(as_csv, &report, || csv(&report)))
}

/// Parameters of the overdue list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverdueQuery {
    /// The agency (with its subtree); default the caller's.
    pub agency_id: Option<String>,
    /// The instant to judge at (RFC 3339); default now.
    pub as_of: Option<DateTime<Utc>>,
    /// Also list dossiers with at most this many working hours left (default 8).
    pub due_within_hours: Option<i64>,
    /// `true`: only the dossiers without an apology (Form 04) — late or
    /// about to be, and the citizen not yet told.
    pub without_apology: Option<bool>,
    /// `json` or `csv`.
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// The columns of the overdue list: key and Vietnamese heading.
const OVERDUE_COLUMNS: [(&str, &str); 12] = [
    ("code", "Mã hồ sơ"),
    ("procedure_code", "Mã thủ tục"),
    ("procedure_name", "Tên thủ tục"),
    ("agency", "Cơ quan tiếp nhận"),
    ("received_at", "Ngày tiếp nhận"),
    ("due_at", "Hạn giải quyết"),
    ("status", "Tình trạng"),
    ("remaining_seconds", "Thời gian còn lại (giây)"),
    ("paused", "Tạm dừng"),
    ("apologised_at", "Ngày xin lỗi"),
    ("apology_fault", "Xin lỗi vì lỗi của"),
    (
        "supplement_requests_after_acceptance",
        "Số lần yêu cầu bổ sung sau tiếp nhận",
    ),
];

/// One open dossier past or near its due time. Each field is documented
/// with its column's Vietnamese title first (as in the CSV header).
#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueLine {
    /// Mã hồ sơ — the dossier's code.
    pub code: String,
    /// Mã thủ tục — the procedure's code.
    pub procedure_code: String,
    /// Tên thủ tục — the procedure's name.
    pub procedure_name: String,
    /// Cơ quan tiếp nhận — the receiving agency.
    pub agency: String,
    /// Ngày tiếp nhận — when the clock started.
    pub received_at: DateTime<Utc>,
    /// Hạn giải quyết — the legal due time (as of `as_of`).
    pub due_at: DateTime<Utc>,
    /// Tình trạng — `overdue`, or `due_soon`.
    pub status: OverdueStatus,
    /// Thời gian còn lại (giây) — working seconds left (negative: the overrun).
    pub remaining_seconds: i64,
    /// Tạm dừng — whether the clock is paused.
    pub paused: bool,
    /// Ngày xin lỗi — when the apology (Form 04) was given; null: not yet.
    pub apologised_at: Option<DateTime<Utc>>,
    /// Xin lỗi vì lỗi của — whose fault the apology answered for:
    /// `processing` (the agency) or `intake` (the desk).
    pub apology_fault: Option<ApologyFault>,
    /// Số lần yêu cầu bổ sung sau tiếp nhận — supplement requests after
    /// acceptance (the law allows one; a second counts against the agency).
    pub supplement_requests_after_acceptance: i64,
}

/// Where a listed dossier stands against its due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverdueStatus {
    /// Past its due time.
    Overdue,
    /// Within `due_within_hours` working hours of it, the clock running.
    DueSoon,
}

impl OverdueStatus {
    fn as_str(self) -> &'static str {
        match self {
            OverdueStatus::Overdue => "overdue",
            OverdueStatus::DueSoon => "due_soon",
        }
    }
}

/// The lines of the overdue list: the open dossiers overdue at `as_of`, or
/// due within `soon` of working time with their clock running.
/// The dossiers under `root` open at `as_of` that are overdue or due within
/// `soon` (only those without an apology, if asked), the least time left first.
fn overdue_list(
    conn: &mut DbConnection,
    lookups: &mut Lookups,
    root: &str,
    as_of: DateTime<Utc>,
    soon: chrono::Duration,
    without_apology: bool,
) -> Result<Vec<OverdueLine>, ApiError> {
    let mut rows = dossiers::open_at(conn, root, CountedAt::Receiving, as_of)?;
    if without_apology {
        rows.retain(|row| row.apologised_at.is_none());
    }
    let later_requests = dossiers::supplement_requests_after_acceptance(conn, root, as_of)?;
    let mut lines = Vec::new();
    for row in rows {
        let Some(legal) = lookups.clock(&row, &ledger_of(&row)?, as_of)? else {
            continue;
        };
        let status = if legal.state == DeadlineState::Overdue {
            OverdueStatus::Overdue
        } else if legal.remaining <= soon && !legal.is_paused {
            OverdueStatus::DueSoon
        } else {
            continue;
        };
        let procedure = lookups.procedure(row.procedure_id)?;
        lines.push(OverdueLine {
            procedure_code: procedure.code.clone(),
            procedure_name: procedure.name.clone(),
            agency: lookups.agency(row.agency_id)?.name.clone(),
            code: row.code,
            received_at: legal.received_at,
            due_at: legal.due_at,
            status,
            remaining_seconds: legal.remaining.num_seconds(),
            paused: legal.is_paused,
            apologised_at: row.apologised_at.map(|at| at.and_utc()),
            apology_fault: row.apology_fault,
            supplement_requests_after_acceptance: later_requests.get(&row.id).copied().unwrap_or(0),
        });
    }
    lines.sort_by_key(|l| (l.remaining_seconds, l.code.clone()));
    Ok(lines)
}

/// Open dossiers past their due time, or within `due_within_hours` working
/// hours of it, at an instant (most overdue first), with their apology and
/// their supplement requests after acceptance; `without_apology=true` keeps
/// those the citizen has not been apologised to for.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(OverdueQuery),
    responses(
        (status = 200, description = "The list (JSON, or CSV with `format=csv` or `Accept: text/csv`: UTF-8 with a byte-order mark, each header cell the column's Vietnamese title with its JSON key in brackets)", content(
            ([OverdueLine] = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/overdue")]
pub async fn overdue_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    query: crate::body::Query<OverdueQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let as_of = query.as_of.unwrap_or_else(|| clock_now.now());
    let soon = chrono::Duration::hours(query.due_within_hours.unwrap_or(8).clamp(0, 24 * 200));
    let without_apology = query.without_apology.unwrap_or(false);
    let db = db.get_ref().clone();
    let lines = web::block(move || {
        db.snapshot(|conn| {
            let (path, mut lookups) = in_reach(conn, &principal, agency)?;
            overdue_list(conn, &mut lookups, &path, as_of, soon, without_apology)
        })
    })
    .await??;
    Ok(respond(as_csv, &lines, || {
        let rows: Vec<Vec<String>> = lines
            .iter()
            .map(|l| {
                vec![
                    l.code.clone(),
                    l.procedure_code.clone(),
                    l.procedure_name.clone(),
                    l.agency.clone(),
                    l.received_at.to_rfc3339(),
                    l.due_at.to_rfc3339(),
                    l.status.as_str().to_owned(),
                    l.remaining_seconds.to_string(),
                    l.paused.to_string(),
                    l.apologised_at
                        .map(|at| at.to_rfc3339())
                        .unwrap_or_default(),
                    l.apology_fault
                        .map(ApologyFault::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    l.supplement_requests_after_acceptance.to_string(),
                ]
            })
            .collect();
        csv_document(&OVERDUE_COLUMNS, &rows)
    }))
}

/// Parameters of the list of late results.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LateQuery {
    /// The period, as for Form 06: `2026`, `2026-Q3`, `2026-10` or
    /// `cutoff:2026-10`. Required unless both from and to are given (422
    /// otherwise).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency (with its subtree); default the caller's.
    pub agency_id: Option<String>,
    /// `true`: only the late results given without an apology.
    pub without_apology: Option<bool>,
    /// `json` or `csv`.
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// The columns of the list of late results: key and Vietnamese heading.
const LATE_COLUMNS: [(&str, &str); 11] = [
    ("code", "Mã hồ sơ"),
    ("procedure_code", "Mã thủ tục"),
    ("procedure_name", "Tên thủ tục"),
    ("agency", "Cơ quan tiếp nhận"),
    ("received_at", "Ngày tiếp nhận"),
    ("due_at", "Hạn giải quyết"),
    ("finished_at", "Ngày có kết quả"),
    ("overrun_seconds", "Thời gian quá hạn (giây)"),
    ("apologised_at", "Ngày xin lỗi"),
    ("apology_fault", "Xin lỗi vì lỗi của"),
    (
        "supplement_requests_after_acceptance",
        "Số lần yêu cầu bổ sung sau tiếp nhận",
    ),
];

/// One result recorded after its legal due time. Each field is documented
/// with its column's Vietnamese title first (as in the CSV header).
#[derive(Debug, Serialize, ToSchema)]
pub struct LateLine {
    /// Mã hồ sơ — the dossier's code.
    pub code: String,
    /// Mã thủ tục — the procedure's code.
    pub procedure_code: String,
    /// Tên thủ tục — the procedure's name.
    pub procedure_name: String,
    /// Cơ quan tiếp nhận — the receiving agency.
    pub agency: String,
    /// Ngày tiếp nhận — when the clock started.
    pub received_at: DateTime<Utc>,
    /// Hạn giải quyết — the legal due time.
    pub due_at: DateTime<Utc>,
    /// Ngày có kết quả — when the result was recorded.
    pub finished_at: DateTime<Utc>,
    /// Thời gian quá hạn (giây) — working seconds past the due time.
    pub overrun_seconds: i64,
    /// Ngày xin lỗi — when the apology (Form 04) was given; null: never
    /// (Form 06 counts the line as late without apology).
    pub apologised_at: Option<DateTime<Utc>>,
    /// Xin lỗi vì lỗi của — whose fault the apology answered for:
    /// `processing` (the agency) or `intake` (the desk).
    pub apology_fault: Option<ApologyFault>,
    /// Số lần yêu cầu bổ sung sau tiếp nhận — supplement requests after
    /// acceptance (the law allows one; a second counts against the agency).
    pub supplement_requests_after_acceptance: i64,
}

/// The dossiers whose result was recorded late in a period — the ones Form
/// 06 counts as late, one line each, `apologised_at` telling those it counts
/// as late with apology — most overrun first; `without_apology=true` keeps
/// those the citizen was never apologised to for.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(LateQuery),
    responses(
        (status = 200, description = "The list (JSON, or CSV with `format=csv` or `Accept: text/csv`: UTF-8 with a byte-order mark, each header cell the column's Vietnamese title with its JSON key in brackets)", content(
            ([LateLine] = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/late")]
pub async fn late_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<LateQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let without_apology = query.without_apology.unwrap_or(false);
    let db = db.get_ref().clone();
    let lines = web::block(move || {
        db.snapshot(|conn| {
            let (path, mut lookups) = in_reach(conn, &principal, agency)?;
            late_list(conn, &mut lookups, &path, &period, without_apology)
        })
    })
    .await??;
    Ok(respond(as_csv, &lines, || {
        let rows: Vec<Vec<String>> = lines
            .iter()
            .map(|l| {
                vec![
                    l.code.clone(),
                    l.procedure_code.clone(),
                    l.procedure_name.clone(),
                    l.agency.clone(),
                    l.received_at.to_rfc3339(),
                    l.due_at.to_rfc3339(),
                    l.finished_at.to_rfc3339(),
                    l.overrun_seconds.to_string(),
                    l.apologised_at
                        .map(|at| at.to_rfc3339())
                        .unwrap_or_default(),
                    l.apology_fault
                        .map(ApologyFault::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    l.supplement_requests_after_acceptance.to_string(),
                ]
            })
            .collect();
        csv_document(&LATE_COLUMNS, &rows)
    }))
}

/// The results recorded late in the period under `root` (only those
/// without an apology, if asked), the longest overrun first.
fn late_list(
    conn: &mut DbConnection,
    lookups: &mut Lookups,
    root: &str,
    period: &Period,
    without_apology: bool,
) -> Result<Vec<LateLine>, ApiError> {
    let mut rows =
        dossiers::finished_between(conn, root, period.start, period.end, Finished::LateResults)?;
    if without_apology {
        rows.retain(|row| row.apologised_at.is_none());
    }
    let later = dossiers::supplement_requests_after_acceptance(conn, root, period.end)?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(finished_at) = row.finished_at.map(|at| at.and_utc()) else {
            continue;
        };
        let Some(legal) = lookups.clock(&row, &ledger_of(&row)?, finished_at)? else {
            continue;
        };
        let procedure = lookups.procedure(row.procedure_id)?;
        lines.push(LateLine {
            procedure_code: procedure.code.clone(),
            procedure_name: procedure.name.clone(),
            agency: lookups.agency(row.agency_id)?.name.clone(),
            received_at: legal.received_at,
            due_at: legal.due_at,
            finished_at,
            overrun_seconds: -legal.remaining.num_seconds(),
            apologised_at: row.apologised_at.map(|at| at.and_utc()),
            apology_fault: row.apology_fault,
            supplement_requests_after_acceptance: later.get(&row.id).copied().unwrap_or(0),
            code: row.code,
        });
    }
    lines.sort_by_key(|l| (std::cmp::Reverse(l.overrun_seconds), l.code.clone()));
    Ok(lines)
}

/// The columns of the late-steps report's lines: key and Vietnamese heading.
const LATE_STEP_COLUMNS: [(&str, &str); 9] = [
    ("code", "Mã hồ sơ"),
    ("procedure_code", "Mã thủ tục"),
    ("step", "Bước xử lý"),
    ("agency", "Cơ quan thực hiện"),
    ("officer", "Người thực hiện"),
    ("started_at", "Ngày nhận xử lý"),
    ("due_at", "Hạn của bước"),
    ("ended_at", "Ngày chuyển bước"),
    ("overrun_seconds", "Thời gian quá hạn (giây)"),
];

/// One processing step that ran over its budget. Each field is documented
/// with its column's Vietnamese title first (as in the CSV header).
#[derive(Debug, Serialize, ToSchema)]
pub struct LateStepLine {
    /// Mã hồ sơ — the dossier's code.
    pub code: String,
    /// Mã thủ tục — the procedure's code.
    pub procedure_code: String,
    /// Bước xử lý — the step, as the procedure's version names it.
    pub step: Option<String>,
    /// The agency that did the step.
    pub agency_id: String,
    /// Cơ quan thực hiện — its name.
    pub agency: String,
    /// The officer of the step: the person it was handed to, else the one
    /// who handed it on; null when neither is known.
    pub officer_id: Option<String>,
    /// Người thực hiện — their name.
    pub officer: Option<String>,
    /// Ngày nhận xử lý — when the step began (its hand-over).
    pub started_at: DateTime<Utc>,
    /// Hạn của bước — its due time: its budget of working hours from its
    /// start, pauses excluded.
    pub due_at: DateTime<Utc>,
    /// Ngày chuyển bước — when it handed the dossier on; null: still open.
    pub ended_at: Option<DateTime<Utc>>,
    /// Thời gian quá hạn (giây) — seconds from its due time to its end (or
    /// to the end of the period, or now, for a step still open).
    pub overrun_seconds: i64,
}

/// Late steps counted for one agency, or one officer of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LateStepTotal {
    /// The agency.
    pub agency_id: String,
    /// Its name.
    pub agency: String,
    /// The officer (by-officer totals; null: steps without a known officer).
    pub officer_id: Option<String>,
    /// Their name.
    pub officer: Option<String>,
    /// Số bước quá hạn — steps over their budget.
    pub late_steps: u32,
    /// Tổng thời gian quá hạn (giây) — their overruns added up, in seconds.
    pub overrun_seconds: i64,
}

/// The steps that ran over their budgets in a period, with totals by agency
/// and by officer (most late steps first).
#[derive(Debug, Serialize, ToSchema)]
pub struct LateStepsReport {
    /// Each late step, most overrun first.
    pub lines: Vec<LateStepLine>,
    /// By the agency that did the step.
    pub by_agency: Vec<LateStepTotal>,
    /// By officer within agency.
    pub by_officer: Vec<LateStepTotal>,
}

/// Parameters of the late-steps report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LateStepsQuery {
    /// The period, as for Form 06: `2026`, `2026-Q3`, `2026-10` or
    /// `cutoff:2026-10`. Required unless both from and to are given.
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency (with its subtree) whose steps to list; default the caller's.
    pub agency_id: Option<String>,
    /// `json` or `csv` (the lines).
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// The processing steps that ran over their budget of working hours in a
/// period (their due time in the period), at the agencies of a subtree —
/// whoever received the dossiers — with totals by agency and officer
/// (auditors, leaders and administrators). A step is a hand-over to a step
/// of the procedure's version that gives it a budget (docs/lifecycle.md,
/// "Steps and fault"); one still open counts once its due time has passed.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(LateStepsQuery),
    responses(
        (status = 200, description = "The report (JSON, or its lines as CSV with `format=csv` or `Accept: text/csv`)", content(
            (LateStepsReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/late-steps")]
pub async fn late_steps_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    query: crate::body::Query<LateStepsQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = clock_now.now();
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let as_of = period.end.min(now);
    let db = db.get_ref().clone();
    let mut lines = web::block(move || {
        db.snapshot(|conn| {
            let (path, mut lookups) = in_reach(conn, &principal, agency)?;
            let rows = dossiers::with_steps_between(conn, &path, period.start, period.end)?;
            let mut officers: HashMap<uuid::Uuid, Option<String>> = HashMap::new();
            let mut lines = Vec::new();
            for row in rows {
                let dossier = crate::routes::dossiers::load(&row)?;
                let procedure = lookups.procedure(row.procedure_id)?;
                let (procedure_code, definition) = (procedure.code.clone(), definition(procedure)?);
                let receiving = agency_in(&lookups.agencies, row.receiving_agency_id)?;
                let calendar = lookups.calendars.of(receiving)?;
                let steps = dossier
                    .steps(row.receiving_agency_id.0, &definition, calendar, as_of)
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                for (i, step) in steps.iter().enumerate() {
                    let Some(deadline) = &step.deadline else {
                        continue;
                    };
                    if deadline.due_at < period.start || deadline.due_at >= period.end {
                        continue;
                    }
                    let overrun = match deadline.finished_at {
                        Some(ended) if ended > deadline.due_at => ended - deadline.due_at,
                        None if as_of > deadline.due_at => as_of - deadline.due_at,
                        _ => continue,
                    };
                    let doer = lookups.agency(AgencyId(step.agency))?;
                    if !doer.path.starts_with(&path) {
                        continue;
                    }
                    let officer = step
                        .handover
                        .to_user_id
                        .as_deref()
                        .and_then(|id| uuid::Uuid::parse_str(id).ok())
                        .or_else(|| steps.get(i + 1).and_then(|next| next.record.by));
                    let name = match officer {
                        Some(id) => match officers.get(&id) {
                            Some(name) => name.clone(),
                            None => {
                                let name = match users::find(conn, UserId(id)) {
                                    Ok(user) => Some(user.full_name),
                                    Err(DbError::NotFound) => None,
                                    Err(other) => return Err(other.into()),
                                };
                                officers.insert(id, name.clone());
                                name
                            }
                        },
                        None => None,
                    };
                    lines.push(LateStepLine {
                        code: row.code.clone(),
                        procedure_code: procedure_code.clone(),
                        step: step.handover.to_step.clone(),
                        agency_id: doer.id.to_string(),
                        agency: doer.name.clone(),
                        officer_id: officer.map(|id| id.to_string()),
                        officer: name,
                        started_at: deadline.started_at,
                        due_at: deadline.due_at,
                        ended_at: deadline.finished_at,
                        overrun_seconds: overrun.num_seconds(),
                    });
                }
            }
            Ok::<_, ApiError>(lines)
        })
    })
    .await??;
    lines.sort_by(|a, b| {
        b.overrun_seconds
            .cmp(&a.overrun_seconds)
            .then_with(|| a.code.cmp(&b.code))
            .then_with(|| a.started_at.cmp(&b.started_at))
    });
    let totals = |by_officer: bool| {
        let mut totals: BTreeMap<(String, Option<String>), LateStepTotal> = BTreeMap::new();
        for line in &lines {
            let officer = by_officer.then(|| line.officer_id.clone()).flatten();
            let total = totals
                .entry((line.agency_id.clone(), officer.clone()))
                .or_insert_with(|| LateStepTotal {
                    agency_id: line.agency_id.clone(),
                    agency: line.agency.clone(),
                    officer_id: officer,
                    officer: by_officer.then(|| line.officer.clone()).flatten(),
                    late_steps: 0,
                    overrun_seconds: 0,
                });
            total.late_steps += 1;
            total.overrun_seconds += line.overrun_seconds;
        }
        let mut totals: Vec<LateStepTotal> = totals.into_values().collect();
        totals.sort_by(|a, b| {
            b.late_steps
                .cmp(&a.late_steps)
                .then_with(|| b.overrun_seconds.cmp(&a.overrun_seconds))
                .then_with(|| a.agency.cmp(&b.agency))
        });
        totals
    };
    let report = LateStepsReport {
        by_agency: totals(false),
        by_officer: totals(true),
        lines,
    };
    Ok(respond(as_csv, &report, || {
        let rows: Vec<Vec<String>> = report
            .lines
            .iter()
            .map(|l| {
                vec![
                    l.code.clone(),
                    l.procedure_code.clone(),
                    l.step.clone().unwrap_or_default(),
                    l.agency.clone(),
                    l.officer.clone().unwrap_or_default(),
                    l.started_at.to_rfc3339(),
                    l.due_at.to_rfc3339(),
                    l.ended_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
                    l.overrun_seconds.to_string(),
                ]
            })
            .collect();
        csv_document(&LATE_STEP_COLUMNS, &rows)
    }))
}

/// Parameters of the online-uptake report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UptakeQuery {
    /// The period, as for Form 06: `2026`, `2026-Q3`, `2026-10` or
    /// `cutoff:2026-10`. Required unless both from and to are given (422
    /// otherwise).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency (with its subtree); default the caller's.
    pub agency_id: Option<String>,
    /// `procedure` (default) or `agency`.
    #[param(value_type = Option<UptakeGroupBy>, inline)]
    pub group_by: Option<String>,
    /// `json` or `csv`.
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// How the online-uptake report groups its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UptakeGroupBy {
    /// By procedure.
    Procedure,
    /// By receiving agency.
    Agency,
}

/// The columns of the online-uptake report: key and Vietnamese heading.
const UPTAKE_COLUMNS: [(&str, &str); 13] = [
    ("key", "Mã"),
    ("name", "Tên"),
    ("offered", "Mức độ DVCTT cung cấp"),
    ("total", "Tổng số hồ sơ mới"),
    ("online", "Nộp trực tuyến"),
    (
        "online_assisted",
        "Trực tuyến có hỗ trợ tại bộ phận một cửa",
    ),
    ("online_unassisted", "Trực tuyến tự nộp"),
    ("direct", "Nộp trực tiếp"),
    ("postal", "Nộp qua bưu chính"),
    ("full_online", "Trực tuyến toàn trình (mức 4)"),
    ("partial_online", "Trực tuyến một phần (mức 3)"),
    ("online_share", "Tỷ lệ nộp trực tuyến"),
    ("full_share", "Tỷ lệ toàn trình"),
];

/// Online uptake of one group. Each field is documented with its column's
/// Vietnamese title first (as in the CSV header).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct UptakeLine {
    /// Mã — the procedure's code or the agency's identifier.
    pub key: String,
    /// Tên — its name.
    pub name: String,
    /// Mức độ DVCTT cung cấp — what the procedure offers online: `none`,
    /// `partial` (level 3) or `full` (level 4); null when grouped by agency.
    pub offered: Option<OnlineServiceKind>,
    /// Tổng số hồ sơ mới — dossiers taken on as new in the period.
    pub total: u64,
    /// Nộp trực tuyến — of which filed online.
    pub online: u64,
    /// Trực tuyến có hỗ trợ tại bộ phận một cửa — of the online ones,
    /// filed by a clerk for the citizen at the desk (`POST
    /// /dossiers/assisted`).
    pub online_assisted: u64,
    /// Trực tuyến tự nộp — of the online ones, filed by the citizen alone.
    pub online_unassisted: u64,
    /// Nộp trực tiếp — of which received at the desk.
    pub direct: u64,
    /// Nộp qua bưu chính — of which received by post.
    pub postal: u64,
    /// Trực tuyến toàn trình (mức 4) — online ones handled as full online
    /// service (legacy level 4).
    pub full_online: u64,
    /// Trực tuyến một phần (mức 3) — online ones handled as partial online
    /// service (legacy level 3).
    pub partial_online: u64,
    /// Tỷ lệ nộp trực tuyến — online / total (0 when there are none).
    pub online_share: f64,
    /// Tỷ lệ toàn trình — full_online / total (0 when there are none).
    pub full_share: f64,
}

impl UptakeLine {
    /// Counts `n` new dossiers of `procedure` filed by `channel`, of which
    /// `assisted` (online ones) were filed by a clerk for the citizen.
    fn add(&mut self, procedure: &ProcedureRow, channel: Channel, n: u64, assisted: u64) {
        self.total += n;
        match channel {
            Channel::Online => {
                self.online += n;
                self.online_assisted += assisted;
                self.online_unassisted += n.saturating_sub(assisted);
                match stored::from_text(&procedure.online_kind) {
                    Ok(OnlineServiceKind::Full) => self.full_online += n,
                    _ => self.partial_online += n,
                }
            }
            Channel::Postal => self.postal += n,
            Channel::Direct => self.direct += n,
        }
    }

    /// The line with its shares computed from its counts.
    fn with_shares(mut self) -> Self {
        let share = |n: u64| {
            if self.total == 0 {
                0.0
            } else {
                n as f64 / self.total as f64
            }
        };
        self.online_share = share(self.online);
        self.full_share = share(self.full_online);
        self
    }
}

/// The assisted online filings by procedure version and agency.
fn assisted_by(
    assisted: Vec<(ProcedureId, AgencyId, i64)>,
) -> HashMap<(ProcedureId, AgencyId), u64> {
    assisted
        .into_iter()
        .map(|(procedure, agency, n)| ((procedure, agency), count(Some(n))))
        .collect()
}

/// The uptake lines from the accepted counts, by procedure code or agency.
fn uptake(
    lookups: &Lookups,
    counts: Vec<(ProcedureId, AgencyId, Channel, i64)>,
    assisted: Vec<(ProcedureId, AgencyId, i64)>,
    by_agency: bool,
) -> Result<BTreeMap<String, UptakeLine>, ApiError> {
    let mut groups: BTreeMap<String, UptakeLine> = BTreeMap::new();
    let assisted = assisted_by(assisted);
    for (procedure_id, agency, channel, n) in counts {
        let procedure = lookups.procedure(procedure_id)?;
        let (key, name, offered) = if by_agency {
            let agency = lookups.agency(agency)?;
            (agency.identifier.clone(), agency.name.clone(), None)
        } else {
            (
                procedure.code.clone(),
                procedure.name.clone(),
                OnlineServiceKind::parse(&procedure.online_kind),
            )
        };
        let line = groups.entry(key.clone()).or_insert_with(|| UptakeLine {
            key,
            name,
            offered,
            ..UptakeLine::default()
        });
        let helped = assisted.get(&(procedure_id, agency)).copied().unwrap_or(0);
        line.add(procedure, channel, count(Some(n)), helped);
    }
    Ok(groups)
}

/// An uptake line's CSV cells.
fn uptake_cells(line: &UptakeLine) -> Vec<String> {
    vec![
        line.key.clone(),
        line.name.clone(),
        line.offered
            .map(OnlineServiceKind::as_str)
            .unwrap_or_default()
            .to_owned(),
        line.total.to_string(),
        line.online.to_string(),
        line.online_assisted.to_string(),
        line.online_unassisted.to_string(),
        line.direct.to_string(),
        line.postal.to_string(),
        line.full_online.to_string(),
        line.partial_online.to_string(),
        format!("{:.4}", line.online_share),
        format!("{:.4}", line.full_share),
    ]
}

/// Online uptake: per procedure (or agency), the new dossiers of the period by
/// channel, the share filed online, and full vs partial online service, next
/// to what the procedure offers — "online filing under 30%" at a glance.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(UptakeQuery),
    responses(
        (status = 200, description = "The report (JSON, or CSV with `format=csv` or `Accept: text/csv`: UTF-8 with a byte-order mark, each header cell the column's Vietnamese title with its JSON key in brackets)", content(
            ([UptakeLine] = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/online-uptake")]
pub async fn online_uptake(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<UptakeQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let by_agency = match query.group_by.as_deref() {
        None | Some("procedure") => false,
        Some("agency") => true,
        Some(_) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "group_by",
                "must be procedure or agency",
            )]));
        }
    };
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let db = db.get_ref().clone();
    let groups = web::block(move || {
        db.snapshot(|conn| {
            let (path, lookups) = in_reach(conn, &principal, agency)?;
            let counts = dossiers::accepted_counts(conn, &path, period.start, period.end)?;
            let assisted = dossiers::assisted_counts(conn, &path, period.start, period.end)?;
            uptake(&lookups, counts, assisted, by_agency)
        })
    })
    .await??;
    let lines: Vec<UptakeLine> = groups.into_values().map(UptakeLine::with_shares).collect();
    Ok(respond(as_csv, &lines, || {
        let rows: Vec<Vec<String>> = lines.iter().map(uptake_cells).collect();
        csv_document(&UPTAKE_COLUMNS, &rows)
    }))
}

/// Parameters of the indicators.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndicatorsQuery {
    /// The period: `2026`, `2026-Q3`, `2026-10` or `cutoff:2026-10`.
    /// Required unless both from and to are given (422 otherwise).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency whose subtree is measured (default: the caller's agency).
    pub agency_id: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// The columns of the indicators (CSV: one line per indicator): key and
/// Vietnamese heading.
const INDICATOR_COLUMNS: [(&str, &str); 10] = [
    ("key", "Mã chỉ số"),
    ("name", "Chỉ số"),
    ("computable", "Tính được"),
    ("numerator", "Tử số"),
    ("denominator", "Mẫu số"),
    ("ratio", "Tỷ lệ"),
    ("points", "Điểm"),
    ("maximum", "Điểm tối đa"),
    ("threshold", "Ngưỡng đạt tối đa"),
    ("note", "Ghi chú"),
];

/// The Decision 766-style indicators of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorsReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The agency measured (with its subtree).
    pub agency_id: String,
    /// Tổng điểm — points earned by the computable, scored indicators.
    pub points: f64,
    /// Điểm tối đa — their maximum.
    pub maximum: f64,
    /// Each indicator.
    pub indicators: Vec<Indicator>,
}

/// The total of the computable, scored indicators' points (each to two
/// decimals, so is their sum) and of their maximums.
fn scored_points(indicators: &[Indicator]) -> (f64, f64) {
    // Folded from +0.0: an empty `sum` of floats is -0.0.
    let add = |values: &mut dyn Iterator<Item = f64>| values.fold(0.0, |sum, v| sum + v);
    let scored = || indicators.iter().filter(|i| i.points.is_some());
    (
        (add(&mut scored().filter_map(|i| i.points)) * 100.0).round() / 100.0,
        add(&mut scored().filter_map(|i| i.maximum)),
    )
}

/// An indicator's CSV cells.
fn indicator_cells(indicator: &Indicator) -> Vec<String> {
    let text = |value: Option<String>| value.unwrap_or_default();
    vec![
        indicator.key.as_str().to_owned(),
        indicator.name.to_owned(),
        indicator.computable.to_string(),
        text(indicator.numerator.map(|n| n.to_string())),
        text(indicator.denominator.map(|n| n.to_string())),
        text(indicator.ratio.map(|r| format!("{r:.4}"))),
        text(indicator.points.map(|p| format!("{p:.2}"))),
        text(indicator.maximum.map(|m| format!("{m}"))),
        text(indicator.threshold.map(|t| format!("{t}"))),
        indicator.note.to_owned(),
    ]
}

/// Service-quality indicators in the shape of Decision 766/QĐ-TTg for a
/// period and an agency subtree: each with numerator, denominator, ratio,
/// points and maximum; the ones this system holds no data for say so
/// (auditors, leaders and administrators). Definitions: docs/reports.md.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(IndicatorsQuery),
    responses(
        (status = 200, description = "The indicators (JSON, or CSV with `format=csv` or `Accept: text/csv`: UTF-8 with a byte-order mark, each header cell the column's Vietnamese title with its JSON key in brackets)", content(
            (IndicatorsReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/indicators")]
pub async fn indicators_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    query: crate::body::Query<IndicatorsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let now = clock_now.now();
    let db = db.get_ref().clone();
    let facts = web::block(move || {
        db.snapshot(|conn| {
            let (path, mut lookups) = in_reach(conn, &principal, agency)?;
            let lines = compare::Lines::whole();
            let series =
                compare::indicator_series(conn, &mut lookups, &path, &[period], &lines, now)?;
            series
                .into_iter()
                .flatten()
                .next()
                .ok_or_else(|| ApiError::Internal("no indicators counted".into()))
        })
    })
    .await??;
    let indicators = indicators(&facts);
    let (points, maximum) = scored_points(&indicators);
    let report = IndicatorsReport {
        from: period.first_day,
        to: period.last_day,
        agency_id: agency.to_string(),
        points,
        maximum,
        indicators,
    };
    Ok(respond(as_csv, &report, || {
        let rows: Vec<Vec<String>> = report.indicators.iter().map(indicator_cells).collect();
        csv_document(&INDICATOR_COLUMNS, &rows)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        for (text, cell) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("@SUM(1)", "'@SUM(1)"),
            ("+84 912", "'+84 912"),
            ("-x", "'-x"),
            ("\t=1", "'\t=1"),
            // Numbers stay numbers; other text is as it was.
            ("-3600", "-3600"),
            ("+5", "+5"),
            ("Nguyễn Văn An", "Nguyễn Văn An"),
            ("a, b", "\"a, b\""),
        ] {
            assert_eq!(csv_cell(text), cell, "{text:?}");
        }
    }
    use utoipa::PartialSchema;

    /// The description of each property of a schema, by name.
    fn descriptions(schema: impl serde::Serialize) -> HashMap<String, String> {
        let schema = serde_json::to_value(schema).unwrap_or_default();
        let mut found = HashMap::new();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let nullable = property["oneOf"].as_array().into_iter().flatten();
            let description = std::iter::once(property)
                .chain(nullable)
                .find_map(|p| p["description"].as_str());
            found.insert(name.clone(), description.unwrap_or_default().to_owned());
        }
        found
    }

    /// Each column's description starts with the Vietnamese title the CSV
    /// header gives it: the JSON and the CSV name a column alike.
    fn check(columns: &[(&str, &str)], schema: impl serde::Serialize, what: &str) {
        let descriptions = descriptions(schema);
        for (key, title) in columns {
            let description = descriptions.get(*key).map(String::as_str);
            assert!(
                description.is_some_and(|d| d.starts_with(&format!("{title} — "))),
                "{what}.{key}: {description:?} does not start with its column title `{title}`"
            );
        }
        assert_eq!(
            descriptions.len(),
            columns.len(),
            "{what}: {descriptions:?}"
        );
    }

    #[test]
    fn the_documented_columns_are_the_csv_columns() {
        check(&COLUMNS, Kstt06Row::schema(), "Kstt06Row");
        check(&UPTAKE_COLUMNS, UptakeLine::schema(), "UptakeLine");
        check(&OVERDUE_COLUMNS, OverdueLine::schema(), "OverdueLine");
        check(&INDICATOR_COLUMNS, Indicator::schema(), "Indicator");
    }
}

/// Where a dossier stands with the national portal, when not in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncProblem {
    /// No status sync was ever stored for it (filed before the portal was
    /// configured, or while it was not).
    NeverSynced,
    /// Its latest sync waits for its first attempt.
    Pending,
    /// Its latest sync failed and will be tried again.
    Retrying,
    /// A sync was parked after too many failures: replay it.
    Parked,
    /// The portal acknowledged another status than the dossier's.
    Behind,
}

impl SyncProblem {
    fn as_str(self) -> &'static str {
        match self {
            SyncProblem::NeverSynced => "never_synced",
            SyncProblem::Pending => "pending",
            SyncProblem::Retrying => "retrying",
            SyncProblem::Parked => "parked",
            SyncProblem::Behind => "behind",
        }
    }
}

/// The columns of the portal reconciliation's lines: key and Vietnamese heading.
const PORTAL_SYNC_COLUMNS: [(&str, &str); 8] = [
    ("code", "Mã hồ sơ"),
    ("state", "Trạng thái"),
    ("status", "Mã trạng thái trên hệ thống"),
    ("acknowledged_status", "Mã trạng thái Cổng đã nhận"),
    ("acknowledged_at", "Thời điểm Cổng xác nhận"),
    ("problem", "Vấn đề"),
    ("waiting", "Số bản tin chờ gửi"),
    ("last_error", "Lỗi gần nhất"),
];

/// A dossier whose status on the national portal is not what it is here.
/// Each field is documented with its column's Vietnamese title first (as
/// in the CSV header).
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSyncLine {
    /// Mã hồ sơ — the dossier's code.
    pub code: String,
    /// The dossier's id.
    pub dossier_id: String,
    /// Trạng thái — its state here.
    pub state: State,
    /// Mã trạng thái trên hệ thống — the portal's code for that state
    /// (null: the portal has none, e.g. intake supplement).
    pub status: Option<u8>,
    /// Mã trạng thái Cổng đã nhận — the status in the last sync the portal
    /// acknowledged (null: none acknowledged).
    pub acknowledged_status: Option<u8>,
    /// Thời điểm Cổng xác nhận — when it acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Vấn đề — what is wrong.
    pub problem: SyncProblem,
    /// Số bản tin chờ gửi — its syncs waiting or parked.
    pub waiting: i64,
    /// Lỗi gần nhất — why the last failed attempt failed.
    pub last_error: Option<String>,
}

/// The national portal reconciliation: how many dossiers are in step, and
/// each one that is not.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSyncReport {
    /// Số hồ sơ — dossiers received in the subtree.
    pub dossiers: u64,
    /// Số hồ sơ đã đồng bộ — those whose status the portal acknowledged
    /// and for which nothing waits.
    pub in_step: u64,
    /// Each one that is not, by code.
    pub lines: Vec<PortalSyncLine>,
}

/// Parameters of the portal reconciliation.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortalSyncQuery {
    /// The agency (with its subtree) whose received dossiers to check;
    /// default the caller's.
    pub agency_id: Option<String>,
    /// `json` or `csv` (the lines).
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// The national portal reconciliation (auditors, leaders and
/// administrators): for every dossier received in a subtree, its status
/// here against the last status the portal acknowledged (a 2xx answer to
/// its status sync), listing those never synced, waiting, failing, parked
/// or behind (docs/integration.md).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(PortalSyncQuery),
    responses(
        (status = 200, description = "The reconciliation (JSON, or its lines as CSV with `format=csv` or `Accept: text/csv`)", content(
            (PortalSyncReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/portal-sync")]
pub async fn portal_sync_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<PortalSyncQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let db = db.get_ref().clone();
    let stands = web::block(move || {
        db.snapshot(|conn| {
            let (path, _) = in_reach(conn, &principal, agency)?;
            Ok::<_, ApiError>(motcua_persistence::outbox::portal_sync_lines(conn, &path)?)
        })
    })
    .await??;
    let dossiers = stands.len() as u64;
    let lines: Vec<PortalSyncLine> = stands
        .into_iter()
        .filter(|line| !line.in_step())
        .map(|line| {
            let acknowledged_status = line.acknowledged.as_ref().map(|(sync, _)| sync.status);
            let problem = if line.parked > 0 {
                SyncProblem::Parked
            } else if line.waiting > 0 && line.last_error.is_some() {
                SyncProblem::Retrying
            } else if line.waiting > 0 {
                SyncProblem::Pending
            } else if line.acknowledged.is_none() {
                SyncProblem::NeverSynced
            } else {
                SyncProblem::Behind
            };
            PortalSyncLine {
                code: line.dossier_code,
                dossier_id: line.dossier_id.to_string(),
                state: line.state,
                status: line.state.portal_code(),
                acknowledged_status,
                acknowledged_at: line.acknowledged.map(|(_, at)| at.and_utc()),
                problem,
                waiting: line.waiting + line.parked,
                last_error: line.last_error,
            }
        })
        .collect();
    let report = PortalSyncReport {
        dossiers,
        in_step: dossiers - lines.len() as u64,
        lines,
    };
    Ok(respond(as_csv, &report, || {
        let rows: Vec<Vec<String>> = report
            .lines
            .iter()
            .map(|l| {
                let code = |c: Option<u8>| c.map(|c| c.to_string()).unwrap_or_default();
                vec![
                    l.code.clone(),
                    l.state.as_str().to_owned(),
                    code(l.status),
                    code(l.acknowledged_status),
                    l.acknowledged_at
                        .map(|at| at.to_rfc3339())
                        .unwrap_or_default(),
                    l.problem.as_str().to_owned(),
                    l.waiting.to_string(),
                    l.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        csv_document(&PORTAL_SYNC_COLUMNS, &rows)
    }))
}

/// The columns of the outreach list: key and Vietnamese heading.
const OUTREACH_COLUMNS: [(&str, &str); 9] = [
    ("code", "Mã hồ sơ"),
    ("received_at", "Ngày tiếp nhận"),
    ("channel", "Hình thức nộp"),
    ("procedure_code", "Mã thủ tục"),
    ("procedure_name", "Tên thủ tục"),
    ("applicant_name", "Người nộp"),
    ("phone", "Số điện thoại"),
    ("email", "Thư điện tử"),
    ("may_contact", "Đồng ý nhận tin"),
];

/// A dossier handed in at the desk or by post for a procedure the citizen
/// could have filed fully online. Each field is documented with its
/// column's Vietnamese title first (as in the CSV header).
#[derive(Debug, Serialize, ToSchema)]
pub struct OutreachLine {
    /// Mã hồ sơ — the dossier's code.
    pub code: String,
    /// The dossier's id.
    pub dossier_id: String,
    /// Ngày tiếp nhận — when it arrived.
    pub received_at: DateTime<Utc>,
    /// Hình thức nộp — at the desk (`direct`) or by post (`postal`).
    pub channel: Channel,
    /// Mã thủ tục — the procedure's code.
    pub procedure_code: String,
    /// Tên thủ tục — its name.
    pub procedure_name: String,
    /// Người nộp — the applicant.
    pub applicant_name: String,
    /// Số điện thoại — their phone.
    pub phone: String,
    /// Thư điện tử — their e-mail address, if they gave one.
    pub email: Option<String>,
    /// Đồng ý nhận tin — whether they may be contacted: false when they
    /// asked for no messages (`applicant.no_messages`).
    pub may_contact: bool,
}

/// The outreach list.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutreachReport {
    /// At most 1,000 dossiers, in order of arrival.
    pub lines: Vec<OutreachLine>,
    /// Whether more dossiers match (ask for a shorter period).
    pub more: bool,
}

/// Parameters of the outreach list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutreachQuery {
    /// The period, as for Form 06: `2026`, `2026-Q3`, `2026-10`. Required
    /// unless both from and to are given.
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency (with its subtree); default the caller's.
    pub agency_id: Option<String>,
    /// `json` or `csv` (the lines).
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// The most lines of one outreach list.
const OUTREACH_LIMIT: usize = 1000;

/// The outreach list (clerks, leaders and auditors of the agency or
/// above: those who read dossiers): the dossiers handed in at the desk or by post in a
/// period, at the agencies of a subtree, for procedures offered fully
/// online — with the applicant's contact and whether they may be contacted
/// — so that the desk can invite them to file online next time. It holds
/// personal data: each dossier listed is recorded in the access log
/// (resource `outreach`), as a read of the dossier is.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(OutreachQuery),
    responses(
        (status = 200, description = "The list (JSON, or its lines as CSV with `format=csv` or `Accept: text/csv`)", content(
            (OutreachReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/outreach")]
pub async fn outreach_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    recorder: web::Data<crate::routes::access_log::AccessRecorder>,
    request_id: crate::telemetry::RequestId,
    clock: web::Data<crate::clock::Clock>,
    query: crate::body::Query<OutreachQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    // Those who read dossiers' personal data (administrators do not).
    let allowed = [Role::Clerk, Role::Leader, Role::Auditor];
    if !allowed.iter().any(|role| principal.has_role(*role)) {
        return Err(ApiError::Forbidden);
    }
    let agency = agency_param(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let reader = principal.clone();
    let db = db.get_ref().clone();
    let mut rows = web::block(move || {
        db.snapshot(|conn| {
            let (path, _) = in_reach(conn, &reader, agency)?;
            let limit = i64::try_from(OUTREACH_LIMIT + 1).unwrap_or(i64::MAX);
            Ok::<_, ApiError>(dossiers::received_in_person_for_online(
                conn,
                &path,
                period.start,
                period.end,
                limit,
            )?)
        })
    })
    .await??;
    let more = rows.len() > OUTREACH_LIMIT;
    rows.truncate(OUTREACH_LIMIT);
    // Personal data: every dossier shown is recorded first.
    let now = clock.now();
    let recorded = futures_util::future::join_all(rows.iter().map(|(row, _, _)| {
        recorder.record(
            &principal,
            row,
            crate::routes::access_log::AccessedResource::Outreach,
            &request_id,
            now,
        )
    }))
    .await;
    recorded
        .into_iter()
        .collect::<Result<Vec<()>, ApiError>>()?;
    let lines: Vec<OutreachLine> = rows
        .into_iter()
        .map(|(row, procedure_code, procedure_name)| {
            let applicant = crate::routes::dossiers::load(&row)
                .ok()
                .and_then(|dossier| dossier.particulars.applicant);
            OutreachLine {
                code: row.code,
                dossier_id: row.id.to_string(),
                received_at: row.created_at.and_utc(),
                channel: row.channel,
                procedure_code,
                procedure_name,
                applicant_name: row.applicant_name,
                phone: row.applicant_phone,
                email: applicant.as_ref().and_then(|a| a.email.clone()),
                may_contact: applicant.is_some_and(|a| !a.no_messages),
            }
        })
        .collect();
    let report = OutreachReport { lines, more };
    Ok(respond(as_csv, &report, || {
        let rows: Vec<Vec<String>> = report
            .lines
            .iter()
            .map(|l| {
                vec![
                    l.code.clone(),
                    l.received_at.to_rfc3339(),
                    l.channel.as_str().to_owned(),
                    l.procedure_code.clone(),
                    l.procedure_name.clone(),
                    l.applicant_name.clone(),
                    l.phone.clone(),
                    l.email.clone().unwrap_or_default(),
                    l.may_contact.to_string(),
                ]
            })
            .collect();
        csv_document(&OUTREACH_COLUMNS, &rows)
    }))
}
