//! The tracking book (Sổ theo dõi hồ sơ): the desk's register of the
//! dossiers an agency numbered, one line each in number order, as JSON, CSV
//! or a printable A4 page (docs/reports.md, "Tracking book").

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use motcua_domain::codes::DossierCode;
use motcua_domain::dossier::{self, Particulars};
use motcua_domain::explain::instant_vi;
use motcua_domain::lifecycle::State;
use motcua_domain::reports::Period;
use motcua_persistence::procedures::ProcedureRow;
use motcua_persistence::{
    AgencyId, Db, DbConnection, DbError, ProcedureId, agencies, dossiers, procedures,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::Capability;
use crate::routes::catalogue::definition;
use crate::routes::dossiers::{live_clock, parse_details};
use crate::routes::forms::{FORM_CSP, circular_2025_in_force, escape};
use crate::routes::reports::{agency_param, csv_document, period_of};

/// Parameters of the tracking book.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookQuery {
    /// The period, as for Form 06: `2026`, `2026-Q3`, `2026-10` or
    /// `cutoff:2026-10`. Required unless both from and to are given (422
    /// otherwise).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency whose book it is (one agency, not a subtree: each desk
    /// keeps its own); default the caller's.
    pub agency_id: Option<String>,
    /// `json` (default), `csv` or `html` (the printable A4 page).
    #[param(value_type = Option<BookFormat>, inline)]
    pub format: Option<String>,
}

/// How the tracking book is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookFormat {
    /// [`TrackingBook`] as JSON.
    Json,
    /// CSV, one row per line.
    Csv,
    /// The printable A4 page.
    Html,
}

/// The tracking book of one agency over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrackingBook {
    /// `Mẫu số 07` (Circular 03/2025/TT-VPCP), or `Mẫu số 06` (Circular
    /// 01/2018/TT-VPCP) for a period that starts before 2025-09-15.
    pub number: String,
    /// `SỔ THEO DÕI HỒ SƠ`.
    pub title: String,
    /// The agency's name.
    pub agency: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// The dossiers the agency numbered in the period, in number order.
    pub lines: Vec<BookLine>,
}

/// The columns of the tracking book: key and Vietnamese heading.
const BOOK_COLUMNS: [(&str, &str); 13] = [
    ("number", "Số thứ tự"),
    ("code", "Mã hồ sơ"),
    ("procedure", "Tên thủ tục hành chính"),
    ("applicant", "Tên cá nhân, tổ chức"),
    ("contact", "Địa chỉ, số điện thoại"),
    ("sets", "Số lượng hồ sơ (bộ)"),
    ("lead_unit", "Cơ quan chủ trì giải quyết"),
    ("received_at", "Ngày, giờ nhận hồ sơ"),
    ("appointed_at", "Ngày, giờ hẹn trả kết quả"),
    ("passed_at", "Chuyển hồ sơ đến cơ quan giải quyết"),
    ("result_at", "Nhận kết quả từ cơ quan giải quyết"),
    ("returned_at", "Trả kết quả cho cá nhân, tổ chức"),
    ("note", "Ghi chú"),
];

/// One dossier in the tracking book. Each field is documented with its
/// column's Vietnamese title first (as in the CSV header).
#[derive(Debug, Serialize, ToSchema)]
pub struct BookLine {
    /// Số thứ tự — its running number in the agency's book of the year
    /// (the receipt's `Số thứ tự`).
    pub number: i64,
    /// Mã hồ sơ — the dossier's code.
    pub code: String,
    /// Tên thủ tục hành chính — the procedure.
    pub procedure: String,
    /// Tên cá nhân, tổ chức — the applicant.
    pub applicant: String,
    /// Địa chỉ, số điện thoại — the applicant's address and phone.
    pub contact: String,
    /// Số lượng hồ sơ (bộ) — sets received (one per dossier).
    pub sets: u32,
    /// Cơ quan chủ trì giải quyết — the unit it was last handed to, or the
    /// receiving agency.
    pub lead_unit: String,
    /// Ngày, giờ nhận hồ sơ — when the clock started (or the filing, if not
    /// yet accepted).
    pub received_at: Option<DateTime<Utc>>,
    /// Ngày, giờ hẹn trả kết quả — the legal due time.
    pub appointed_at: Option<DateTime<Utc>>,
    /// Chuyển hồ sơ đến cơ quan giải quyết — the first hand-over.
    pub passed_at: Option<DateTime<Utc>>,
    /// Nhận kết quả từ cơ quan giải quyết — when the result was recorded.
    pub result_at: Option<DateTime<Utc>>,
    /// Trả kết quả cho cá nhân, tổ chức — when it was handed to the applicant.
    pub returned_at: Option<DateTime<Utc>>,
    /// Ghi chú — refused, withdrawn, stopped, or the apology's new
    /// appointment.
    pub note: String,
}

/// The dossiers one agency numbered in a period, in number order, with
/// what its desk records of each: the tracking book (Circular 03/2025/TT-VPCP
/// Mẫu số 07; 01/2018 Mẫu số 06). Staff who read dossiers, for an agency in
/// their reach.
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(BookQuery),
    responses(
        (status = 200, description = "The book (JSON; CSV with `format=csv` or `Accept: text/csv`, UTF-8 with a byte-order mark, each header cell the column's Vietnamese title with its JSON key in brackets; or the printable A4 page with `format=html`)", content(
            (TrackingBook = "application/json"),
            (String = "text/csv"),
            (String = "text/html"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/tracking-book")]
pub async fn tracking_book(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock: web::Data<crate::clock::Clock>,
    query: crate::body::Query<BookQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ReadDossiers)?;
    let query = query.into_inner();
    let agency = agency_param(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let format = match query.format.as_deref() {
        Some("json") => BookFormat::Json,
        Some("csv") => BookFormat::Csv,
        Some("html") => BookFormat::Html,
        Some(_) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "format",
                "must be json, csv or html",
            )]));
        }
        None if crate::routes::reports::wants_csv(&request, None)? => BookFormat::Csv,
        None => BookFormat::Json,
    };
    let now = clock.now();
    let db = db.get_ref().clone();
    let book = web::block(move || db.snapshot(|conn| book(conn, &principal, agency, &period, now)))
        .await??;
    let rfc3339 = |at: Option<DateTime<Utc>>| at.map(|at| at.to_rfc3339()).unwrap_or_default();
    let rows: Vec<Vec<String>> = book.lines.iter().map(|line| cells(line, rfc3339)).collect();
    Ok(match format {
        BookFormat::Json => HttpResponse::Ok().json(&book),
        BookFormat::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv_document(&BOOK_COLUMNS, &rows)),
        BookFormat::Html => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("content-security-policy", FORM_CSP))
            .body(html(&book)),
    })
}

/// Reads the book from one snapshot.
fn book(
    conn: &mut DbConnection,
    principal: &Principal,
    agency: AgencyId,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<TrackingBook, ApiError> {
    let agency = match agencies::find(conn, agency) {
        Ok(agency) if principal.reaches(&agency.path) => agency,
        Ok(_) | Err(DbError::NotFound) => return Err(ApiError::NotFound),
        Err(other) => return Err(other.into()),
    };
    let calendar = crate::calendars::calendar_for(conn, &agency)?;
    let rows = dossiers::numbered_between(
        conn,
        agency.id,
        &agency.identifier,
        period.first_day,
        period.last_day,
    )?;
    let mut procedures: HashMap<ProcedureId, ProcedureRow> = HashMap::new();
    let mut units: HashMap<String, String> = HashMap::new();
    let mut lines = Vec::with_capacity(rows.len());
    // Codes are gapless within a year: the first line of each year is
    // counted, the next ones follow it.
    let mut last: Option<(Option<i32>, i64)> = None;
    for row in rows {
        let year = row
            .code
            .parse::<DossierCode>()
            .ok()
            .map(|code| code.date().year());
        let number = match &last {
            Some((last_year, number)) if *last_year == year => number + 1,
            _ => dossiers::book_position(conn, &row.code)?,
        };
        last = Some((year, number));
        let procedure = match procedures.entry(row.procedure_id) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(procedures::find(conn, row.procedure_id)?),
        };
        let details = parse_details(&row)?;
        let clock = live_clock(&calendar, &row, &definition(procedure)?, now)?;
        let mut lead_unit = agency.name.clone();
        for (_, handover) in details.handovers() {
            if let Some(id) = handover.to_agency_id.as_deref() {
                lead_unit = match units.entry(id.to_owned()) {
                    Entry::Occupied(entry) => entry.get().clone(),
                    Entry::Vacant(entry) => {
                        let name = match id.parse() {
                            Ok(parsed) => agencies::find(conn, parsed)?.name,
                            Err(_) => id.to_owned(),
                        };
                        entry.insert(name).clone()
                    }
                };
            }
        }
        let applicant = details.applicant.as_ref();
        lines.push(BookLine {
            number,
            procedure: procedure.name.clone(),
            applicant: applicant.map(|a| a.full_name.clone()).unwrap_or_default(),
            contact: applicant
                .map(|a| {
                    [a.address.clone(), Some(a.phone.clone())]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
            sets: 1,
            lead_unit,
            received_at: row.received_at.or(row.submitted_at).map(|at| at.and_utc()),
            appointed_at: clock.map(|clock| clock.due_at),
            passed_at: details.handovers().next().map(|(record, _)| record.at),
            result_at: recorded(&details, |entry| matches!(entry, dossier::Entry::Result(_))),
            returned_at: recorded(&details, |entry| matches!(entry, dossier::Entry::Return(_))),
            note: note(row.state, &details),
            code: row.code,
        });
    }
    let number = if period.first_day >= circular_2025_in_force() {
        "Mẫu số 07"
    } else {
        "Mẫu số 06"
    };
    Ok(TrackingBook {
        number: number.into(),
        title: "SỔ THEO DÕI HỒ SƠ".into(),
        agency: agency.name,
        from: period.first_day,
        to: period.last_day,
        lines,
    })
}

/// When the first record of a kind was written.
fn recorded(
    details: &Particulars,
    kind: impl Fn(&dossier::Entry) -> bool,
) -> Option<DateTime<Utc>> {
    details
        .records
        .iter()
        .find(|record| kind(&record.entry))
        .map(|record| record.at)
}

/// The note column: how the dossier ended if not with a result, and the
/// apology's new appointment.
fn note(state: State, details: &Particulars) -> String {
    let mut notes = Vec::new();
    match state {
        State::Refused => notes.push("Từ chối tiếp nhận".to_owned()),
        State::Withdrawn => notes.push("Rút hồ sơ".to_owned()),
        State::Stopped => notes.push("Dừng giải quyết".to_owned()),
        _ => {}
    }
    if let Some(apology) = &details.apology {
        notes.push(format!(
            "Đã xin lỗi, hẹn lại {}",
            instant_vi(apology.new_appointment_at)
        ));
    }
    notes.join("; ")
}

/// A line's cells, its instants written by `at`.
fn cells(line: &BookLine, at: impl Fn(Option<DateTime<Utc>>) -> String) -> Vec<String> {
    vec![
        line.number.to_string(),
        line.code.clone(),
        line.procedure.clone(),
        line.applicant.clone(),
        line.contact.clone(),
        line.sets.to_string(),
        line.lead_unit.clone(),
        at(line.received_at),
        at(line.appointed_at),
        at(line.passed_at),
        at(line.result_at),
        at(line.returned_at),
        line.note.clone(),
    ]
}

/// A4 landscape, Vietnamese, no external assets.
fn html(book: &TrackingBook) -> String {
    let at = |at: Option<DateTime<Utc>>| at.map(instant_vi).unwrap_or_default();
    let mut rows = String::new();
    for line in &book.lines {
        let cells = cells(line, at);
        rows.push_str("<tr>");
        for cell in cells {
            rows.push_str(&format!("<td>{}</td>", escape(&cell)));
        }
        rows.push_str("</tr>");
    }
    let header: String = BOOK_COLUMNS
        .iter()
        .map(|(_, title)| format!("<th>{}</th>", escape(title)))
        .collect();
    format!(
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{title} — {agency}</title><style>\
@page {{ size: A4 landscape; margin: 10mm; }} body {{ font-family: \"Times New Roman\", \"Liberation Serif\", serif; font-size: 9pt; }} \
h1 {{ text-align: center; font-size: 13pt; margin: 2mm 0; }} .number {{ text-align: right; font-style: italic; }} .period {{ text-align: center; }} \
table {{ width: 100%; border-collapse: collapse; }} th, td {{ border: 1px solid #000; padding: 1mm; vertical-align: top; }} \
thead {{ display: table-header-group; }} tr {{ break-inside: avoid; }}\
</style></head><body><p class=\"number\">{number}</p><p>{agency}</p><h1>{title}</h1>\
<p class=\"period\">Từ ngày {from} đến ngày {to}</p><table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></body></html>",
        title = escape(&book.title),
        number = escape(&book.number),
        agency = escape(&book.agency),
        from = book.from.format("%d/%m/%Y"),
        to = book.to.format("%d/%m/%Y"),
    )
}
