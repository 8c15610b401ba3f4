//! Auditors' reports (auditors and administrators, within their subtree), as
//! JSON or CSV (`?format=csv` or `Accept: text/csv`; UTF-8 with a BOM).

use std::collections::{HashMap, HashSet};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::{self, ClockEvent, ClockInput, DeadlineState, Outcome, PauseCause};
use motcua_domain::lifecycle::Role;
use motcua_domain::reports::{Finish, Kstt06Row, OpenAtEnd, Period, ReportDossier, kstt06};
use motcua_persistence::dossiers::{self, ReportRow};
use motcua_persistence::{Db, DbConnection, DbError, Id, agencies, procedures};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::catalogue::definition;

/// Parameters of Form 06.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Kstt06Query {
    /// `2026`, `2026-Q3`, `2026-10` or `cutoff:2026-10` (instead of from/to).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD).
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD).
    pub to: Option<NaiveDate>,
    /// The agency whose subtree is reported (default: the caller's agency).
    pub agency_id: Option<String>,
    /// `field` (default), `procedure` or `agency`.
    pub group_by: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A row of Form 06.
#[derive(Debug, Serialize, ToSchema)]
pub struct Kstt06Line {
    /// The group's key (field code, procedure code or agency identifier).
    pub key: String,
    /// The group's name.
    pub name: String,
    /// The counts.
    #[serde(flatten)]
    #[schema(value_type = Object)]
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
    pub group_by: String,
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

fn period_of(query: &Kstt06Query) -> Result<Period, ApiError> {
    let invalid =
        |field: &str, message: String| ApiError::Validation(vec![FieldError::new(field, message)]);
    match (&query.period, query.from, query.to) {
        (Some(period), None, None) => {
            Period::parse(period).map_err(|e| invalid("period", e.to_string()))
        }
        (None, Some(from), Some(to)) => {
            Period::days(from, to).map_err(|e| invalid("to", e.to_string()))
        }
        _ => Err(invalid(
            "period",
            "give either period, or from and to".into(),
        )),
    }
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

/// The dossiers of a report, and the names of their groups by key.
type Loaded = (Vec<ReportDossier>, HashMap<String, String>);

/// Loads what Form 06 needs and evaluates each open dossier's clock as of the end.
fn report_dossiers(
    conn: &mut DbConnection,
    root: &str,
    period: &Period,
    group_by: &str,
) -> Result<Result<Loaded, ApiError>, DbError> {
    let rows: Vec<ReportRow> = dossiers::report_rows(conn, root, period.start, period.end)?;
    let late: Vec<Id> = rows
        .iter()
        .filter(|r| r.outcome.as_deref() == Some("late"))
        .map(|r| r.id)
        .collect();
    let apologised: HashSet<Id> = dossiers::apologised(conn, &late)?.into_iter().collect();
    let mut calendars: HashMap<Id, WorkingCalendar> = HashMap::new();
    let mut limits = HashMap::new();
    let mut names = HashMap::new();
    let mut result = Vec::with_capacity(rows.len());
    for row in rows {
        let (key, name) = match group_by {
            "procedure" => (row.procedure_code.clone(), row.procedure_name.clone()),
            "agency" => (row.agency_identifier.clone(), row.agency_name.clone()),
            _ => (row.field_code.clone(), row.field_name.clone()),
        };
        names.insert(key.clone(), name);
        let finished_at = row.finished_at.map(|f| f.and_utc());
        let outcome = |text: Option<&str>| match text {
            Some("early") => Outcome::Early,
            Some("late") => Outcome::Late,
            _ => Outcome::OnTime,
        };
        let finish = match row.state.as_str() {
            "result_ready" | "returned" => Some(Finish::Result {
                outcome: outcome(row.outcome.as_deref()),
                apology: apologised.contains(&row.id),
            }),
            "withdrawn" => Some(Finish::Withdrawn),
            "stopped" => Some(Finish::Stopped),
            _ => None,
        };
        let mut dossier = ReportDossier {
            group: key,
            online: row.channel == "online",
            accepted_at: row.accepted_at.map(|a| a.and_utc()),
            finished: finish.zip(finished_at).map(|(how, at)| (at, how)),
            refused_at: if row.state == "refused" {
                finished_at
            } else {
                None
            },
            open_at_end: None,
        };
        if dossier.open_at(period.end) {
            let Some(received) = row.received_at else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = calendars.entry(row.agency_id)
            {
                let agency = agencies::find(conn, row.agency_id)?;
                match crate::calendars::calendar_for(conn, &agency)? {
                    Ok(calendar) => slot.insert(calendar),
                    Err(error) => return Ok(Err(error)),
                };
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = limits.entry(row.procedure_id)
            {
                match definition(&procedures::find(conn, row.procedure_id)?) {
                    Ok(definition) => slot.insert(definition.time_limit),
                    Err(error) => return Ok(Err(error)),
                };
            }
            let ledger: Vec<ClockEvent> =
                serde_json::from_str(&row.clock_events).unwrap_or_default();
            let (Some(calendar), Some(limit)) =
                (calendars.get(&row.agency_id), limits.get(&row.procedure_id))
            else {
                continue;
            };
            let input = ClockInput {
                calendar,
                limit: *limit,
                received_at: received.and_utc(),
                events: &ledger,
            };
            // The end instant itself is outside the period: the clock as of just before it.
            let as_of = period.end - chrono::Duration::microseconds(1);
            let state = match clock::evaluate(input, as_of) {
                Ok(clock) => clock.state,
                Err(error) => return Ok(Err(ApiError::Internal(error.to_string()))),
            };
            dossier.open_at_end = Some(OpenAtEnd {
                overdue: state == DeadlineState::Overdue,
                waiting_for_supplement: waiting_for_supplement(&ledger, period.end),
            });
        }
        result.push(dossier);
    }
    Ok(Ok((result, names)))
}

fn wants_csv(request: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
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

fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
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

/// UTF-8 with a BOM (so spreadsheets read Vietnamese); the header holds the
/// Vietnamese heading and the JSON key of each column.
fn csv(report: &Kstt06Report) -> String {
    let mut out = String::from("\u{feff}");
    let mut header = vec!["Mã (key)".to_owned(), "Tên (name)".to_owned()];
    header.extend(
        COLUMNS
            .iter()
            .map(|(key, label)| format!("{label} ({key})")),
    );
    out.push_str(
        &header
            .iter()
            .map(|h| csv_cell(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for line in report.rows.iter().chain(std::iter::once(&report.total)) {
        let mut cells = vec![csv_cell(&line.key), csv_cell(&line.name)];
        cells.extend(counts(&line.counts).iter().map(u64::to_string));
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Form 06/VPCP/KSTT: taken on, resolved, in progress, and the extra columns,
/// for a period and an agency subtree, grouped by field, procedure or agency
/// (auditors and administrators). Column meanings: docs/reports.md.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(Kstt06Query),
    responses(
        (status = 200, description = "The report (JSON, or text/csv)", body = Kstt06Report),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period or grouping", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/kstt-06")]
pub async fn kstt06_report(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    query: web::Query<Kstt06Query>,
) -> Result<HttpResponse, ApiError> {
    if !(principal.has_role(Role::Auditor) || principal.has_role(Role::Admin)) {
        return Err(ApiError::Forbidden);
    }
    let query = query.into_inner();
    let period = period_of(&query)?;
    let group_by = query.group_by.clone().unwrap_or_else(|| "field".into());
    if !["field", "procedure", "agency"].contains(&group_by.as_str()) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "group_by",
            "must be field, procedure or agency",
        )]));
    }
    let as_csv = wants_csv(&request, query.format.as_deref())?;
    let agency = match query.agency_id.as_deref() {
        Some(id) => Some(id.parse::<Id>().map_err(|_| {
            ApiError::Validation(vec![FieldError::new("agency_id", "must be an agency id")])
        })?),
        None => principal.agency_id,
    }
    .ok_or(ApiError::Forbidden)?;
    let db = db.get_ref().clone();
    let grouping = group_by.clone();
    let (dossiers, names) = web::block(move || {
        db.run(|conn| {
            let agency = match agencies::find(conn, agency) {
                Ok(agency) => agency,
                Err(DbError::NotFound) => return Ok(Err(ApiError::NotFound)),
                Err(other) => return Err(other),
            };
            if !principal.reaches(&agency.path) {
                return Ok(Err(ApiError::NotFound));
            }
            report_dossiers(conn, &agency.path, &period, &grouping)
        })
    })
    .await???;
    let computed = kstt06(&dossiers, &period);
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
                key,
                counts,
            })
            .collect(),
        total: Kstt06Line {
            key: "total".into(),
            name: "Tổng cộng".into(),
            counts: computed.total,
        },
    };
    if as_csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv(&report)))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}
