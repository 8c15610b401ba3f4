//! The official forms of a dossier (docs/requirements.md, "Forms"), built only from stored data:
//! as JSON, or as a printable A5 HTML page in Vietnamese with no external assets.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use std::collections::HashMap;

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::clock::Outcome;
use motcua_domain::codes::DossierCode;
use motcua_domain::dossier::{ApologyFault, DocumentEntry, Entry, Verdict};
use motcua_domain::explain::{instant_vi, limit_vi};
use motcua_domain::procedure::{Delivery, Fee, ProcedureDefinition};
use motcua_domain::time::to_local;
use motcua_persistence::dossiers::DossierRow;
use motcua_persistence::procedures::ProcedureRow;
use motcua_persistence::{Db, UserId, agencies, dossiers, procedures, users};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::clock::Clock;
use crate::error::{ApiError, Problem};
use crate::routes::access_log::{AccessRecorder, AccessedResource};
use crate::routes::catalogue::definition;
use crate::routes::dossiers::{Particulars, live_clock, visible};
use crate::telemetry::RequestId;

/// `?format=html` for the printable page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormQuery {
    /// `json` (default) or `html`.
    #[param(value_type = Option<FormFormat>, inline)]
    pub format: Option<String>,
}

/// How a form is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormFormat {
    /// The form as JSON ([`Form`]).
    Json,
    /// The printable A5 page.
    Html,
}

/// Which form (docs/requirements.md, "Forms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormKind {
    /// Giấy tiếp nhận hồ sơ và hẹn trả kết quả.
    Receipt,
    /// Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ.
    SupplementRequest,
    /// Phiếu từ chối tiếp nhận giải quyết hồ sơ.
    Refusal,
    /// Phiếu xin lỗi và hẹn lại ngày trả kết quả.
    Apology,
    /// Thông báo dừng giải quyết hồ sơ.
    StopNotice,
    /// Phiếu kiểm soát quá trình giải quyết hồ sơ.
    ControlSlip,
}

/// Which circular's templates a form follows: the one in force on the
/// day it is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Regime {
    /// Circular 01/2018/TT-VPCP: forms issued before 2025-09-15.
    #[serde(rename = "2018")]
    Circular2018,
    /// Circular 03/2025/TT-VPCP: forms issued from 2025-09-15, the day it
    /// took effect.
    #[serde(rename = "2025")]
    Circular2025,
}

/// The day Circular 03/2025/TT-VPCP's forms took effect.
pub(crate) fn circular_2025_in_force() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 9, 15).unwrap_or_default()
}

/// A form: its number and title under the dossier's regime, and its fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct Form {
    /// `receipt`, `supplement_request`, `refusal`, `apology`, `stop_notice`, `control_slip`.
    #[schema(value_type = FormKind)]
    pub form: String,
    /// The official number, e.g. `Mẫu số 01`.
    pub number: String,
    /// The official title.
    pub title: String,
    /// `2018` (Circular 01/2018/TT-VPCP) or `2025` (Circular 03/2025/TT-VPCP).
    pub regime: Regime,
    /// The agency issuing it.
    pub agency: String,
    /// The date line: the day the form was issued (the event it records),
    /// not the day it is printed.
    pub dated: String,
    /// The dossier code.
    pub dossier_code: String,
    /// The form's fields in print order, each a `[label, value]` pair.
    #[schema(schema_with = label_value_pairs)]
    pub fields: Vec<(String, String)>,
    /// Tables (documents received, supplement items, control-slip rows).
    pub tables: Vec<FormTable>,
    /// The signature blocks at the foot, left to right.
    pub signatures: Vec<Signature>,
}

/// A signature block: who signs, how, and the name printed under it when
/// the records know it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Signature {
    /// The signer's capacity, e.g. `NGƯỜI TIẾP NHẬN HỒ SƠ`.
    pub title: String,
    /// The instruction under it, e.g. `(Ký và ghi rõ họ tên)`.
    pub note: String,
    /// The name printed under the signature, if known.
    pub name: Option<String>,
}

impl Signature {
    fn new(title: &str, note: &str, name: Option<String>) -> Self {
        Signature {
            title: title.into(),
            note: note.into(),
            name,
        }
    }
}

/// The fields of a form in the OpenAPI document: an array of `[label,
/// value]` pairs (arrays of exactly two strings; a tuple's `prefixItems`
/// would be exact too, but client generators refuse it).
fn label_value_pairs() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .min_items(Some(2))
                .max_items(Some(2))
                .description(Some("`[label, value]`"))
                .examples([json!(["Mã hồ sơ", "000.00.15.H49-261102-0001"])]),
        )
        .description(Some(
            "The form's fields in print order, each a `[label, value]` pair.",
        ))
        .build()
}

/// A table of a form: its title, column headings and rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormTable {
    /// Title, e.g. `Thành phần hồ sơ`.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl FormTable {
    fn new(title: &str, columns: &[&str], rows: Vec<Vec<Cell>>) -> Self {
        FormTable {
            title: title.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows,
        }
    }
}

/// A cell of a form's table: text, or a number of copies.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A number (originals, copies).
    Count(u32),
}

/// Each form's key, its number under Circular 03/2025 and its title.
const FORMS: [(&str, &str, &str); 6] = [
    ("receipt", "01", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"),
    (
        "supplement_request",
        "02",
        "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    ),
    ("refusal", "03", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ"),
    (
        "apology",
        "04",
        "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
    ),
    ("stop_notice", "05", "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ"),
    (
        "control_slip",
        "06",
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
    ),
];

/// The title under Circular 01/2018 where it differs from 2025's.
fn title_2018(form: &str) -> Option<&'static str> {
    match form {
        "apology" => Some("PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ"),
        _ => None,
    }
}

/// Circular 01/2018's numbering.
fn number_2018(form: &str) -> &'static str {
    match form {
        "receipt" => "01",
        "supplement_request" => "02",
        "refusal" => "03",
        "apology" => "04",
        "control_slip" => "05",
        _ => "—",
    }
}

/// How a signature is asked for.
const SIGN: &str = "(Ký và ghi rõ họ tên)";
const SEAL: &str = "(Ký, ghi rõ họ tên và đóng dấu)";
/// The head of the agency, who signs its letters.
const HEAD: &str = "THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ";
/// The head of the desk, who signs its apology for an intake error.
const DESK_HEAD: &str = "THỦ TRƯỞNG BỘ PHẬN MỘT CỬA";

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map(instant_vi).unwrap_or_else(|| "—".into())
}

fn optional(value: Option<&str>) -> String {
    value.unwrap_or("—").to_owned()
}

/// The people a dossier's records name (who acted, who received), whose
/// names the forms print.
fn people(details: &Particulars) -> Vec<UserId> {
    details
        .records
        .iter()
        .flat_map(|record| {
            let receiver = match &record.entry {
                Entry::Handover(handover) => handover
                    .to_user_id
                    .as_deref()
                    .and_then(|id| id.parse::<UserId>().ok()),
                _ => None,
            };
            [record.by.map(UserId::from), receiver]
        })
        .flatten()
        .collect()
}

/// How a result reaches the citizen, as the forms say it.
fn delivered(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Post => "Qua dịch vụ bưu chính",
        Delivery::Online => "Trực tuyến",
        Delivery::Desk => "Tại Bộ phận Một cửa",
    }
}

/// A step's or a dossier's standing against its due time (`pending` while it runs).
fn standing(outcome: Option<Outcome>, pending: &'static str) -> &'static str {
    match outcome {
        Some(Outcome::Early) => "Trước hạn",
        Some(Outcome::OnTime) => "Đúng hạn",
        Some(Outcome::Late) => "Quá hạn",
        None => pending,
    }
}

/// A person's name for a form: the account's full name, `—` for none.
fn person(names: &HashMap<UserId, String>, id: Option<UserId>) -> String {
    id.and_then(|id| names.get(&id).cloned())
        .unwrap_or_else(|| "—".into())
}

/// How a document was handed in: `01 bản chính, 01 bản sao`, `Bản điện tử`, or both.
fn handed_in(entry: &DocumentEntry) -> String {
    let mut parts = Vec::new();
    if entry.originals > 0 {
        parts.push(format!("{:02} bản chính", entry.originals));
    }
    if entry.copies > 0 {
        parts.push(format!("{:02} bản sao", entry.copies));
    }
    if entry.file_id.is_some() {
        parts.push("Bản điện tử".into());
    }
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

/// The documents as they stand: one row per requirement, a supplied
/// replacement in place of what it replaced (marked as supplied).
fn documents_received(details: &Particulars, definition: &ProcedureDefinition) -> Vec<Vec<Cell>> {
    let mut latest: Vec<(&DocumentEntry, bool)> = Vec::new();
    for entry in &details.documents {
        match latest
            .iter_mut()
            .find(|(seen, _)| seen.requirement_code == entry.requirement_code)
        {
            Some(slot) => *slot = (entry, true),
            None => latest.push((entry, false)),
        }
    }
    latest
        .into_iter()
        .map(|(entry, replaced)| {
            let name = definition
                .documents
                .iter()
                .find(|r| r.code == entry.requirement_code)
                .map(|r| r.name.clone())
                .unwrap_or_else(|| entry.requirement_code.clone());
            let name = if replaced {
                format!("{name} (đã bổ sung)")
            } else {
                name
            };
            vec![Cell::Text(name), Cell::Text(handed_in(entry))]
        })
        .collect()
}

/// What a form is built from, read in one go.
struct Stored {
    row: DossierRow,
    details: Particulars,
    procedure: ProcedureRow,
    /// The receiving agency's name.
    agency: String,
    /// The full names of the people the records name (the receiving
    /// officer among them).
    names: HashMap<UserId, String>,
    /// The names of the agencies the dossier was handed over to.
    agencies: HashMap<String, String>,
    /// Who accepted the dossier.
    receiving_officer: Option<UserId>,
    /// Its running number in the receiving agency's tracking book of the year.
    book_position: i64,
    calendar: WorkingCalendar,
}

/// Builds a form from the stored dossier, or `None` if the dossier has no such form (yet).
fn build(form: &str, stored: &Stored, now: DateTime<Utc>) -> Result<Option<Form>, ApiError> {
    let Stored {
        row,
        details,
        procedure,
        agency,
        names,
        agencies,
        receiving_officer,
        book_position,
        calendar,
    } = stored;
    let Some((key, number, title)) = FORMS.iter().find(|(key, ..)| *key == form) else {
        return Ok(None);
    };
    let definition = definition(procedure)?;
    let clock = live_clock(calendar, row, &definition, now)?;
    let received = row
        .received_at
        .map(|r| r.and_utc())
        .or(row.submitted_at.map(|s| s.and_utc()));
    let accepted = row.accepted_at.map(|a| a.and_utc()).or(received);
    let officer = receiving_officer.map(|id| person(names, Some(id)));
    let applicant = details.applicant.clone();
    let name = applicant
        .as_ref()
        .map(|a| a.full_name.clone())
        .unwrap_or_default();
    let applicant_name = name.clone();
    let contact = applicant
        .as_ref()
        .map(|a| {
            [Some(a.phone.clone()), a.email.clone(), a.address.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let mut fields: Vec<(String, String)> = vec![
        ("Mã hồ sơ".into(), row.code.clone()),
        ("Người nộp hồ sơ".into(), name),
        ("Liên hệ".into(), contact),
        (
            "Thủ tục hành chính".into(),
            format!("{} ({})", procedure.name, procedure.code),
        ),
    ];
    let mut tables = Vec::new();
    let mut signatures = Vec::new();
    // The day the form was issued: the event it records.
    let issued: Option<DateTime<Utc>>;
    let push = |fields: &mut Vec<(String, String)>, label: &str, value: String| {
        fields.push((label.into(), value))
    };
    match *key {
        "receipt" => {
            let clock = match &clock {
                Some(clock) => clock,
                None => return Ok(None),
            };
            tables.push(FormTable::new(
                "Thành phần hồ sơ",
                &["Giấy tờ", "Hình thức nộp"],
                documents_received(details, &definition),
            ));
            push(&mut fields, "Số lượng hồ sơ", "01 bộ".into());
            push(
                &mut fields,
                "Thời gian giải quyết theo quy định",
                limit_vi(definition.time_limit),
            );
            push(
                &mut fields,
                "Thời gian nhận hồ sơ",
                when(Some(clock.received_at)),
            );
            push(
                &mut fields,
                "Thời gian trả kết quả",
                when(Some(clock.due_at)),
            );
            push(
                &mut fields,
                "Nơi trả kết quả",
                delivered(row.result_delivery).into(),
            );
            let fee = match &definition.fee {
                Fee::Fixed { amount, .. } => format!("{} đồng", amount.grouped()),
                Fee::Exempt { note: None } => "—".into(),
                Fee::Exempt { note: Some(note) } | Fee::Formula { note } | Fee::Local { note } => {
                    note.clone()
                }
            };
            push(&mut fields, "Phí, lệ phí", fee);
            let year = row
                .code
                .parse::<DossierCode>()
                .map(|code| code.date().year().to_string())
                .unwrap_or_default();
            push(&mut fields, "Quyển số", year);
            push(&mut fields, "Số thứ tự", book_position.to_string());
            push(
                &mut fields,
                "Người tiếp nhận hồ sơ",
                optional(officer.as_deref()),
            );
            issued = accepted;
            signatures = vec![
                Signature::new("NGƯỜI NỘP HỒ SƠ", SIGN, Some(applicant_name.clone())),
                Signature::new("NGƯỜI TIẾP NHẬN HỒ SƠ", SIGN, officer.clone()),
            ];
        }
        "supplement_request" => {
            let Some((record, request)) = details.last_supplement_request() else {
                return Ok(None);
            };
            push(&mut fields, "Lý do", request.reason.clone());
            push(&mut fields, "Ngày yêu cầu", when(Some(record.at)));
            let by = record.by.map(|id| person(names, Some(UserId::from(id))));
            push(&mut fields, "Người hướng dẫn", optional(by.as_deref()));
            issued = Some(record.at);
            signatures = vec![Signature::new("NGƯỜI HƯỚNG DẪN", SIGN, by)];
            tables.push(FormTable::new(
                "Nội dung cần bổ sung, hoàn thiện",
                &["Giấy tờ", "Nội dung"],
                request
                    .items
                    .iter()
                    .map(|i| vec![Cell::Text(i.name.clone()), Cell::Text(i.problem.clone())])
                    .collect(),
            ));
        }
        "refusal" => {
            if let Some((record, refusal)) = details.last_refusal() {
                // Refused at the desk: the receiving officer signs.
                push(&mut fields, "Căn cứ pháp lý", refusal.legal_basis.clone());
                push(&mut fields, "Lý do từ chối", refusal.reason.clone());
                push(&mut fields, "Ngày từ chối", when(Some(record.at)));
                let by = record.by.map(|id| person(names, Some(UserId::from(id))));
                push(
                    &mut fields,
                    "Người tiếp nhận hồ sơ",
                    optional(by.as_deref()),
                );
                issued = Some(record.at);
                signatures = vec![Signature::new("NGƯỜI TIẾP NHẬN HỒ SƠ", SIGN, by)];
            } else if let Some((record, denial)) = details.denial() {
                // Denied after appraisal: the dossier goes back with this
                // notice of the reasons, signed by the deciding agency's head.
                push(
                    &mut fields,
                    "Thời gian nhận hồ sơ",
                    when(clock.as_ref().map(|c| c.received_at)),
                );
                push(
                    &mut fields,
                    "Kết quả thẩm định",
                    "Hồ sơ không đủ điều kiện giải quyết".into(),
                );
                push(
                    &mut fields,
                    "Lý do không giải quyết",
                    optional(denial.note.as_deref()),
                );
                push(&mut fields, "Ngày thông báo", when(Some(record.at)));
                issued = Some(record.at);
                signatures = vec![Signature::new(HEAD, SEAL, None)];
            } else {
                return Ok(None);
            }
        }
        "apology" => {
            let Some(apology) = &details.apology else {
                return Ok(None);
            };
            push(
                &mut fields,
                "Thời gian nhận hồ sơ",
                when(clock.as_ref().map(|c| c.received_at)),
            );
            push(
                &mut fields,
                "Hẹn trả kết quả theo quy định",
                when(clock.as_ref().map(|c| c.due_at)),
            );
            push(&mut fields, "Lý do chậm", apology.reason.clone());
            let (who, signer) = match apology.fault {
                ApologyFault::Processing => ("Cơ quan giải quyết", HEAD),
                ApologyFault::Intake => ("Bộ phận Một cửa", DESK_HEAD),
            };
            push(
                &mut fields,
                "Xin lỗi ông/bà",
                format!("{who} xin lỗi ông/bà vì hồ sơ bị chậm trả kết quả."),
            );
            push(
                &mut fields,
                "Hẹn lại ngày trả kết quả",
                when(Some(apology.new_appointment_at)),
            );
            issued = Some(apology.at);
            signatures = vec![Signature::new(signer, SEAL, None)];
        }
        "stop_notice" => {
            let Some((record, stop)) = details.last_stop() else {
                return Ok(None);
            };
            push(&mut fields, "Lý do dừng giải quyết", stop.reason.clone());
            push(&mut fields, "Ngày dừng", when(Some(record.at)));
            issued = Some(record.at);
            signatures = vec![Signature::new(HEAD, SEAL, None)];
        }
        _ => {
            let clock = match &clock {
                Some(clock) => clock,
                None => return Ok(None),
            };
            push(&mut fields, "Hẹn trả kết quả", when(Some(clock.due_at)));
            let dossier = crate::routes::dossiers::load(row)?;
            let steps = dossier
                .steps(row.receiving_agency_id.0, &definition, calendar, now)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut rows = Vec::new();
            for step in &steps {
                let (record, handover) = (step.record, step.handover);
                let started = record.at;
                let step_name = optional(handover.to_step.as_deref());
                let (due, result) = match &step.deadline {
                    Some(deadline) => (
                        when(Some(deadline.due_at)),
                        standing(deadline.outcome, "Đang xử lý").to_owned(),
                    ),
                    None => ("—".into(), "—".into()),
                };
                let step = step_name;
                let unit = handover
                    .to_agency_id
                    .as_deref()
                    .and_then(|id| agencies.get(id))
                    .cloned();
                let receiver = match handover
                    .to_user_id
                    .as_deref()
                    .and_then(|id| id.parse::<UserId>().ok())
                {
                    Some(id) => format!("{step}: {}", person(names, Some(id))),
                    None => step,
                };
                // A hand-over to another unit names it.
                let receiver = match unit {
                    Some(unit) if receiver == "—" => unit,
                    Some(unit) => format!("{unit} — {receiver}"),
                    None => receiver,
                };
                rows.push(
                    [
                        person(names, record.by.map(UserId::from)),
                        receiver,
                        when(Some(started)),
                        due,
                        result,
                        optional(handover.note.as_deref()),
                    ]
                    .map(Cell::Text)
                    .into(),
                );
            }
            // The result back to the desk, then to the citizen.
            for record in &details.records {
                let row_of = |giver: String,
                              receiver: String,
                              due: String,
                              result: &str,
                              note: String|
                 -> Vec<Cell> {
                    [
                        giver,
                        receiver,
                        when(Some(record.at)),
                        due,
                        result.to_owned(),
                        note,
                    ]
                    .map(Cell::Text)
                    .into()
                };
                match &record.entry {
                    Entry::Result(result) => {
                        let standing = standing(clock.outcome(), "—");
                        let verdict = match result.outcome {
                            Verdict::Approved => "Có kết quả giải quyết",
                            Verdict::Denied => "Không giải quyết (có văn bản nêu lý do)",
                        };
                        rows.push(row_of(
                            person(names, record.by.map(UserId::from)),
                            "Bộ phận Một cửa".into(),
                            when(Some(clock.due_at)),
                            standing,
                            verdict.into(),
                        ));
                    }
                    Entry::Return(handed) => {
                        let how = delivered(handed.delivery);
                        rows.push(row_of(
                            person(names, record.by.map(UserId::from)),
                            format!("Người nộp: {}", applicant_name),
                            "—".into(),
                            "—",
                            how.into(),
                        ));
                    }
                    _ => {}
                }
            }
            issued = accepted;
            tables.push(FormTable::new(
                "Quá trình giải quyết",
                &[
                    "Bên giao",
                    "Bên nhận",
                    "Thời gian giao nhận",
                    "Hạn xử lý",
                    "Kết quả",
                    "Ghi chú",
                ],
                rows,
            ));
        }
    }
    let issued_on = to_local(issued.unwrap_or(now)).date();
    let (number, title, regime) = if issued_on >= circular_2025_in_force() {
        (number.to_string(), *title, Regime::Circular2025)
    } else {
        (
            number_2018(key).to_owned(),
            title_2018(key).unwrap_or(title),
            Regime::Circular2018,
        )
    };
    Ok(Some(Form {
        form: (*key).into(),
        number: format!("Mẫu số {number}"),
        title: title.into(),
        regime,
        agency: agency.to_owned(),
        dated: format!(
            "ngày {} tháng {} năm {}",
            issued_on.format("%d"),
            issued_on.format("%m"),
            issued_on.format("%Y")
        ),
        dossier_code: row.code.clone(),
        fields,
        tables,
        signatures,
    }))
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A5, Vietnamese, no external assets (system fonts with Vietnamese glyphs).
fn html(form: &Form) -> String {
    let mut body = String::new();
    for (label, value) in &form.fields {
        body.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        ));
    }
    let mut tables = String::new();
    for table in &form.tables {
        tables.push_str(&format!(
            "<h2>{}</h2><table class=\"grid\"><tr>",
            escape(&table.title)
        ));
        for column in &table.columns {
            tables.push_str(&format!("<th>{}</th>", escape(column)));
        }
        tables.push_str("</tr>");
        for row in &table.rows {
            tables.push_str("<tr>");
            for cell in row {
                let cell = match cell {
                    Cell::Text(text) => escape(text),
                    Cell::Count(count) => count.to_string(),
                };
                tables.push_str(&format!("<td>{cell}</td>"));
            }
            tables.push_str("</tr>");
        }
        tables.push_str("</table>");
    }
    let mut signatures = String::new();
    if !form.signatures.is_empty() {
        signatures.push_str("<div class=\"signatures\">");
        for signature in &form.signatures {
            signatures.push_str(&format!(
                "<div><b>{}</b><br><i>{}</i><div class=\"space\"></div>{}</div>",
                escape(&signature.title),
                escape(&signature.note),
                escape(signature.name.as_deref().unwrap_or_default())
            ));
        }
        signatures.push_str("</div>");
    }
    format!(
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{title} — {code}</title><style>\
@page {{ size: A5; margin: 10mm; }} body {{ font-family: \"Times New Roman\", \"Liberation Serif\", serif; font-size: 11pt; }} \
.header {{ display: flex; justify-content: space-between; text-align: center; font-size: 11pt; }} .motto {{ font-weight: bold; }} \
h1 {{ text-align: center; font-size: 13pt; margin: 5mm 0 2mm; }} h2 {{ font-size: 11pt; margin: 2mm 0; }} .number {{ text-align: right; font-style: italic; }} \
table {{ width: 100%; border-collapse: collapse; }} th {{ text-align: left; vertical-align: top; width: 40%; }} \
.grid th, .grid td {{ border: 1px solid #000; padding: 1mm; width: auto; }} .dated {{ text-align: right; font-style: italic; }} \
.signatures {{ display: flex; justify-content: space-around; text-align: center; margin-top: 3mm; break-inside: avoid; }} .space {{ height: 12mm; }}\
</style></head><body><p class=\"number\">{number}</p><div class=\"header\"><div>{agency}</div>\
<div class=\"motto\">CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM<br>Độc lập - Tự do - Hạnh phúc</div></div>\
<p class=\"dated\">{dated}</p><h1>{title}</h1><table>{body}</table>{tables}{signatures}</body></html>",
        title = escape(&form.title),
        code = escape(&form.dossier_code),
        number = escape(&form.number),
        agency = escape(&form.agency),
        dated = escape(&form.dated),
    )
}

/// The printed forms need nothing but their own inline style: no script,
/// no fetch, no frame, no form submission, nothing from elsewhere.
pub const FORM_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                            base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A form of the dossier (`receipt`, `supplement_request`, `refusal`,
/// `apology`, `stop_notice`, `control_slip`), as JSON or printable HTML.
/// A staff member's read is recorded in the access log before the form is
/// answered (as for the dossier itself).
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Dossier id or code"), ("form" = FormKind, Path, description = "Which form"), FormQuery),
    responses(
        (status = 200, description = "The form (JSON, or the printable A5 page with `format=html`)", content(
            (Form = "application/json"),
            (String = "text/html"),
        )),
        (status = 404, description = "No such dossier in reach, or the dossier has no such form", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers/{id}/forms/{form}")]
pub async fn dossier_form(
    principal: Principal,
    request_id: RequestId,
    db: web::Data<Db>,
    recorder: web::Data<AccessRecorder>,
    clock: web::Data<Clock>,
    path: web::Path<(String, String)>,
    query: crate::body::Query<FormQuery>,
) -> Result<HttpResponse, ApiError> {
    let (reference, form) = path.into_inner();
    let now = clock.now();
    let db = db.get_ref().clone();
    let reader = principal.clone();
    let stored = web::block(move || {
        db.run(|conn| -> Result<_, ApiError> {
            let row = visible(conn, &principal, &reference)?;
            let details = crate::routes::dossiers::parse_details(&row)?;
            let procedure = procedures::find(conn, row.procedure_id)?;
            let agency = agencies::find(conn, row.receiving_agency_id)?;
            let receiving_officer = dossiers::acceptor(conn, row.id)?;
            let mut named = people(&details);
            named.extend(receiving_officer);
            let names = users::full_names(conn, &named)?;
            let mut agencies = HashMap::new();
            for (_, handover) in details.handovers() {
                if let Some(id) = handover.to_agency_id.as_deref()
                    && let Ok(parsed) = id.parse()
                {
                    agencies.insert(id.to_owned(), agencies::find(conn, parsed)?.name);
                }
            }
            let book_position = dossiers::book_position(conn, &row.code)?;
            let calendar = crate::calendars::calendar_for(conn, &agency)?;
            Ok(Stored {
                row,
                details,
                procedure,
                agency: agency.name,
                names,
                agencies,
                receiving_officer,
                book_position,
                calendar,
            })
        })
    })
    .await??;
    let form = build(&form, &stored, now)?.ok_or(ApiError::NotFound)?;
    let row = &stored.row;
    let resource = AccessedResource::form(&form.form)
        .ok_or_else(|| ApiError::Internal(format!("form {} has no access log name", form.form)))?;
    let response = match query.format.as_deref() {
        Some("html") => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("content-security-policy", FORM_CSP))
            .body(html(&form)),
        None | Some("json") => HttpResponse::Ok().json(form),
        Some(_) => {
            return Err(ApiError::Validation(vec![crate::error::FieldError::new(
                "format",
                "must be json or html",
            )]));
        }
    };
    // A staff member's read is recorded before the form is answered.
    recorder
        .record(&reader, row, resource, &request_id, now)
        .await?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_form_kinds_are_the_forms() {
        let kinds = [
            FormKind::Receipt,
            FormKind::SupplementRequest,
            FormKind::Refusal,
            FormKind::Apology,
            FormKind::StopNotice,
            FormKind::ControlSlip,
        ]
        .map(|kind| serde_json::to_value(kind).unwrap_or_default());
        assert_eq!(kinds, FORMS.map(|(key, ..)| serde_json::Value::from(key)));
    }
}
