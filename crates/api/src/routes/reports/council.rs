//! The audit report a People's Council can read without tools:
//! `GET /reports/audit`, one agency and one period as a printable A4 page
//! (HTML with server-drawn SVG charts, no script, nothing fetched), or as
//! PDF printed by headless Chromium where the server has it. Every figure
//! comes from the same code as the JSON reports, and names its rule.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::indicators::{Indicator, IndicatorFacts, Share, indicators};
use motcua_domain::online::OnlineServiceKind;
use motcua_domain::reports::{Kstt06Row, Period};
use motcua_domain::time::to_local;
use motcua_persistence::agencies::Agency;
use motcua_persistence::dossiers::{self, CountedAt};
use motcua_persistence::{AgencyId, Db};
use serde::Deserialize;
use utoipa::IntoParams;

use super::compare::{IndicatorsLine, Lines, form06_series, indicator_series, rank};
use super::{
    LateLine, OverdueLine, OverdueStatus, in_reach, late_list, overdue_list, period_of, reporter,
    uptake,
};
use crate::auth::Principal;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::province_of;
use crate::routes::forms::{FORM_CSP, escape};

/// The most months the report draws.
const MAX_MONTHS: usize = 36;

/// Parameters of the audit report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The period: `2026`, `2026-Q3`, `2026-10` or `cutoff:2026-10`.
    /// Required unless both from and to are given (422 otherwise); at most
    /// 36 months.
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency audited, with its subtree (default: the caller's agency).
    pub agency_id: Option<String>,
    /// `html` (default) or `pdf` (501 `pdf_unavailable` where the server
    /// has no headless Chromium; 429 while four prints are running or
    /// waiting).
    #[param(value_type = Option<AuditFormat>, inline)]
    pub format: Option<String>,
}

/// How the audit report is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditFormat {
    /// The printable page.
    Html,
    /// The page printed to PDF by headless Chromium.
    Pdf,
}

/// Prints HTML to PDF with headless Chromium, one page at a time.
#[derive(Debug)]
pub struct Printer {
    chromium: Option<PathBuf>,
    one_at_a_time: tokio::sync::Semaphore,
    /// Prints running or waiting; beyond [`PRINT_QUEUE`], 429.
    queued: std::sync::atomic::AtomicUsize,
}

/// The most prints running or waiting at once.
const PRINT_QUEUE: usize = 4;

/// One print's place in the queue, given back when it ends (or its
/// request is dropped).
struct Queued<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Printer {
    /// `chromium`: the browser's path (`MOTCUA_CHROMIUM`), or `None` to
    /// look for `chromium`, `chromium-browser` or `google-chrome` on PATH.
    pub fn new(chromium: Option<PathBuf>) -> Self {
        let found = chromium.or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).find_map(|dir| {
                ["chromium", "chromium-browser", "google-chrome"]
                    .iter()
                    .map(|name| dir.join(name))
                    .find(|candidate| candidate.is_file())
            })
        });
        Printer {
            chromium: found,
            one_at_a_time: tokio::sync::Semaphore::new(1),
            queued: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The PDF of `html`: Chromium in a fresh profile, offline, at most 60 s.
    async fn pdf(&self, html: String) -> Result<Vec<u8>, ApiError> {
        let Some(chromium) = self.chromium.clone() else {
            return Err(ApiError::PdfUnavailable);
        };
        let place = Queued(&self.queued);
        if self
            .queued
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            >= PRINT_QUEUE
        {
            drop(place);
            return Err(ApiError::TooManyRequests {
                retry_after: Duration::from_secs(10),
            });
        }
        let _turn = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let dir = tempfile::tempdir().map_err(|e| ApiError::Internal(e.to_string()))?;
        let page = dir.path().join("audit.html");
        let pdf = dir.path().join("audit.pdf");
        tokio::fs::write(&page, html)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut command = tokio::process::Command::new(&chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                "--host-resolver-rules=MAP * ~NOTFOUND",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(format!("file://{}", page.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let status = tokio::time::timeout(Duration::from_secs(60), command.status())
            .await
            .map_err(|_| ApiError::Internal("Chromium took over 60 s to print".into()))?
            .map_err(|e| ApiError::Internal(format!("running {}: {e}", chromium.display())))?;
        if !status.success() {
            return Err(ApiError::Internal(format!("Chromium failed: {status}")));
        }
        tokio::fs::read(&pdf)
            .await
            .map_err(|e| ApiError::Internal(format!("Chromium wrote no PDF: {e}")))
    }
}

/// One month of the charts.
struct Month {
    period: Period,
    facts: IndicatorFacts,
    form06: Kstt06Row,
}

/// Online filing by what the procedures offer.
#[derive(Default)]
struct Offer {
    procedures: usize,
    total: u64,
    online: u64,
    assisted: u64,
}

/// The commune's place among the province's communes.
struct Rank {
    place: Option<u32>,
    of: usize,
    province: String,
}

/// Everything the report shows.
struct Audit {
    agency: Agency,
    period: Period,
    generated_at: DateTime<Utc>,
    judged_at: DateTime<Utc>,
    months: Vec<Month>,
    facts: IndicatorFacts,
    form06: Kstt06Row,
    offer: Vec<(OnlineServiceKind, Offer)>,
    overdue: Vec<OverdueLine>,
    late_without_apology: Vec<LateLine>,
    rank: Result<Rank, &'static str>,
}

/// The audit report of an agency (with its subtree) for a period, as a
/// printable A4 page: online share against the procedures' online offer,
/// on-time rate, the Decision 766 points it can compute, month-by-month
/// charts, the overdue list, the late results without an apology, and its
/// rank among the province's communes, each figure with the rule that
/// produced it (auditors, leaders and administrators; docs/reports.md).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "The report: an A4 HTML page (no script, nothing fetched), or its PDF with `format=pdf`", content(
            (String = "text/html"),
            (String = "application/pdf"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period or format", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "PDF asked for, and the server has no headless Chromium (`pdf_unavailable`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "PDF asked for while four prints are running or waiting", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/audit")]
pub async fn audit_report(
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    printer: web::Data<Printer>,
    query: crate::body::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = clock_now.now();
    let query = query.into_inner();
    let agency = reporter(&principal, query.agency_id.as_deref())?;
    let period = period_of(query.period.as_deref(), query.from, query.to)?;
    let invalid =
        |field: &str, message: String| ApiError::Validation(vec![FieldError::new(field, message)]);
    let format = match query.format.as_deref() {
        None | Some("html") => AuditFormat::Html,
        Some("pdf") => AuditFormat::Pdf,
        Some(_) => return Err(invalid("format", "must be html or pdf".into())),
    };
    if period.months().len() > MAX_MONTHS {
        return Err(invalid(
            "period",
            format!("the report draws at most {MAX_MONTHS} months"),
        ));
    }
    let db = db.get_ref().clone();
    let audit =
        web::block(move || db.snapshot(|conn| audit(conn, &principal, agency, period, now)))
            .await??;
    let html = html(&audit);
    if format == AuditFormat::Pdf {
        let bytes = printer.pdf(html).await?;
        return Ok(HttpResponse::Ok()
            .content_type("application/pdf")
            .insert_header((
                actix_web::http::header::CONTENT_DISPOSITION,
                "inline; filename=\"bao-cao-kiem-tra.pdf\"",
            ))
            .body(bytes));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("content-security-policy", FORM_CSP))
        .body(html))
}

/// Reads the report's figures from one snapshot.
fn audit(
    conn: &mut motcua_persistence::DbConnection,
    principal: &Principal,
    agency: AgencyId,
    period: Period,
    now: DateTime<Utc>,
) -> Result<Audit, ApiError> {
    let (path, mut lookups) = in_reach(conn, principal, agency)?;
    let agency_row = lookups.agency(agency)?.clone();
    let mut periods = period.months();
    periods.push(period);
    let whole = Lines::whole();
    let mut facts = indicator_series(conn, &mut lookups, &path, &periods, &whole, now)?
        .into_iter()
        .map(|mut lines| lines.swap_remove(0))
        .collect::<Vec<_>>();
    let mut form06 = form06_series(
        conn,
        &mut lookups,
        &path,
        &periods,
        CountedAt::Resolving,
        &whole,
        now,
    )?
    .into_iter()
    .map(|mut lines| lines.swap_remove(0))
    .collect::<Vec<_>>();
    let (Some(period_facts), Some(period_form06)) = (facts.pop(), form06.pop()) else {
        return Err(ApiError::Internal("the period was not counted".into()));
    };
    let months = periods
        .iter()
        .zip(facts.into_iter().zip(form06))
        .map(|(period, (facts, form06))| Month {
            period: *period,
            facts,
            form06,
        })
        .collect();
    // Online filing by the procedures' offer: the uptake report by procedure.
    let counts = dossiers::accepted_counts(conn, &path, period.start, period.end)?;
    let assisted = dossiers::assisted_counts(conn, &path, period.start, period.end)?;
    let mut offer: Vec<(OnlineServiceKind, Offer)> = [
        OnlineServiceKind::Full,
        OnlineServiceKind::Partial,
        OnlineServiceKind::None,
    ]
    .into_iter()
    .map(|kind| (kind, Offer::default()))
    .collect();
    for line in uptake(&lookups, counts, assisted, false)?.into_values() {
        let kind = line.offered.unwrap_or(OnlineServiceKind::None);
        if let Some((_, offer)) = offer.iter_mut().find(|(k, _)| *k == kind) {
            offer.procedures += 1;
            offer.total += line.total;
            offer.online += line.online;
            offer.assisted += line.online_assisted;
        }
    }
    let judged_at = period.end.min(now);
    let overdue = overdue_list(
        conn,
        &mut lookups,
        &path,
        judged_at,
        chrono::Duration::zero(),
        false,
    )?
    .into_iter()
    .filter(|line| line.status == OverdueStatus::Overdue)
    .collect();
    let late_without_apology = late_list(conn, &mut lookups, &path, &period, true)?;
    let rank = match lookups
        .agencies
        .values()
        .find(|a| a.path == province_of(&path))
        .cloned()
    {
        Some(province) if agency_row.parent_id == Some(province.id) => {
            let communes = Lines::children(&lookups, province.id);
            let series = indicator_series(
                conn,
                &mut lookups,
                &province.path,
                &[period],
                &communes,
                now,
            )?;
            // Among the agencies of its kind (communes with communes), those
            // with dossiers to measure.
            let alike: Vec<&str> = lookups
                .agencies
                .values()
                .filter(|a| a.parent_id == Some(province.id) && a.kind == agency_row.kind)
                .map(|a| a.identifier.as_str())
                .collect();
            let facts = series.into_iter().next().unwrap_or_default();
            let mut lines: Vec<IndicatorsLine> = communes
                .names
                .iter()
                .zip(&facts)
                .skip(1)
                .filter(|((key, _), _)| alike.contains(&key.as_str()))
                .map(|((key, name), facts)| IndicatorsLine::new(key.clone(), name.clone(), facts))
                .collect();
            rank(&mut lines, None);
            let place = lines
                .iter()
                .find(|line| line.key == agency_row.identifier)
                .and_then(|line| line.rank);
            Ok(Rank {
                place,
                of: lines.iter().filter(|line| line.rank.is_some()).count(),
                province: province.name,
            })
        }
        Some(province) if province.id == agency_row.id => {
            Err("cấp tỉnh không xếp hạng cùng các đơn vị trực thuộc")
        }
        Some(_) => Err("đơn vị không trực thuộc trực tiếp cấp tỉnh"),
        None => Err("đơn vị không có cấp tỉnh phía trên"),
    };
    Ok(Audit {
        agency: agency_row,
        period,
        generated_at: now,
        judged_at,
        months,
        facts: period_facts,
        form06: period_form06,
        offer,
        overdue,
        late_without_apology,
        rank,
    })
}

/// `n / d` as a share, or `None` without a denominator.
fn ratio(share: Share) -> Option<f64> {
    (share.denominator > 0).then(|| share.numerator as f64 / share.denominator as f64)
}

/// The on-time rate of Form 06: early and on-time results over results.
fn on_time_of(form06: &Kstt06Row) -> Share {
    Share {
        numerator: form06.early + form06.on_time,
        denominator: form06.resolved,
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn local(at: DateTime<Utc>) -> String {
    to_local(at).format("%H:%M %d/%m/%Y").to_string()
}

/// A figure: its identifier, title, value shown, exact value (for
/// machines), and rule.
fn figure(out: &mut String, id: &str, title: &str, shown: &str, value: &str, rule: &str) {
    let _ = write!(
        out,
        "<div class=\"figure\" id=\"{id}\"><div class=\"title\">{}</div>\
         <div class=\"value\" data-value=\"{}\">{}</div><p class=\"rule\">{}</p></div>",
        escape(title),
        escape(value),
        escape(shown),
        escape(rule)
    );
}

/// A bar chart of one value per month (shares in percent, or counts
/// stacked in two parts), drawn in SVG at a fixed size that scales to the
/// page's width.
struct Chart<'a> {
    id: &'a str,
    title: &'a str,
    rule: &'a str,
    /// Per month: its label and up to two stacked values.
    bars: Vec<(String, [Option<f64>; 2])>,
    /// The top of the scale, and whether the values are shares.
    top: f64,
    shares: bool,
    /// The legend of the two parts (counts).
    legend: [&'a str; 2],
    /// A reference line (value, label).
    reference: Option<(f64, &'a str)>,
}

impl Chart<'_> {
    fn svg(&self, out: &mut String) {
        let (width, height) = (640.0, 230.0);
        let (left, right, top, bottom) = (48.0, 10.0, 18.0, 40.0);
        let plot_w = width - left - right;
        let plot_h = height - top - bottom;
        let scale = if self.top > 0.0 { self.top } else { 1.0 };
        let y = |v: f64| top + plot_h - (v / scale).min(1.0) * plot_h;
        let _ = write!(
            out,
            "<section class=\"chart\" id=\"{}\"><div class=\"title\">{}</div>\
             <svg viewBox=\"0 0 {width} {height}\" \
             role=\"img\" aria-label=\"{}\">",
            self.id,
            escape(self.title),
            escape(self.title)
        );
        for step in 0..=4 {
            let v = scale * f64::from(step) / 4.0;
            let label = if self.shares {
                format!("{:.0}%", v * 100.0)
            } else {
                format!("{v:.0}")
            };
            let _ = write!(
                out,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
                 <text x=\"{}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{label}</text>",
                width - right,
                left - 4.0,
                y(v) + 4.0,
                y = y(v),
            );
        }
        if let Some((value, label)) = self.reference {
            let _ = write!(
                out,
                "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"reference\"/>\
                 <text x=\"{}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>",
                width - right,
                width - right,
                y(value) - 3.0,
                escape(label),
                y = y(value),
            );
        }
        let slot = plot_w / self.bars.len().max(1) as f64;
        let bar = (slot * 0.6).min(40.0);
        for (i, (label, parts)) in self.bars.iter().enumerate() {
            let x = left + slot * i as f64 + (slot - bar) / 2.0;
            let mut base = 0.0;
            for (part, value) in parts.iter().enumerate() {
                let Some(value) = value else { continue };
                let (from, to) = (y(base), y(base + value));
                let _ = write!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{to:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" \
                     class=\"part{part}\"><title>{} {}</title></rect>",
                    (from - to).max(0.0),
                    escape(label),
                    self.shown(*value)
                );
                base += value;
            }
            let total = parts.iter().flatten().sum::<f64>();
            let shown = if parts.iter().all(Option::is_none) {
                "—".to_owned()
            } else {
                self.shown(total)
            };
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\">{}</text>\
                 <text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                y(total) - 3.0,
                escape(&shown),
                x + bar / 2.0,
                height - bottom + 14.0,
                escape(label)
            );
        }
        if !self.shares {
            for (part, name) in self.legend.iter().enumerate() {
                let x = left + 160.0 * part as f64;
                let _ = write!(
                    out,
                    "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" class=\"part{part}\"/>\
                     <text x=\"{}\" y=\"{}\" class=\"axis\">{}</text>",
                    height - 14.0,
                    x + 14.0,
                    height - 5.0,
                    escape(name)
                );
            }
        }
        let _ = write!(
            out,
            "</svg><p class=\"rule\">{}</p></section>",
            escape(self.rule)
        );
    }

    fn shown(&self, value: f64) -> String {
        if self.shares {
            format!("{:.0}%", value * 100.0)
        } else {
            format!("{value:.0}")
        }
    }
}

/// The rules, as printed under each figure.
const RULE_ONLINE: &str = "Tỷ lệ nộp trực tuyến = số hồ sơ tiếp nhận mới trong kỳ được nộp \
     trực tuyến ÷ tổng số hồ sơ tiếp nhận mới trong kỳ (mọi kênh), tại các cơ quan tiếp nhận \
     thuộc đơn vị. Hồ sơ trực tuyến do bộ phận một cửa nộp giúp người dân được đếm là trực \
     tuyến và ghi riêng là \"có hỗ trợ\".";
const RULE_OFFER: &str = "Theo mức độ dịch vụ công trực tuyến mà thủ tục cung cấp (toàn \
     trình, một phần, không): số thủ tục có hồ sơ mới trong kỳ, số hồ sơ mới, số nộp trực \
     tuyến và tỷ lệ. Hồ sơ của thủ tục toàn trình nộp trực tiếp là hồ sơ có thể đã nộp trực \
     tuyến (xem danh sách vận động: /reports/outreach).";
const RULE_ON_TIME: &str = "Tỷ lệ giải quyết đúng hạn = (số hồ sơ giải quyết trước hạn + đúng \
     hạn) ÷ số hồ sơ đã giải quyết trong kỳ, theo Mẫu số 06/VPCP/KSTT (tính tại cơ quan giải \
     quyết), thời hạn theo đồng hồ pháp lý: ngày, giờ làm việc của lịch chính thức, tạm dừng \
     khi chờ bổ sung, gia hạn khi được phép.";
const RULE_POINTS: &str = "Tổng điểm các chỉ số của Quyết định 766/QĐ-TTg mà hệ thống tính \
     được từ dữ liệu của mình (mỗi chỉ số: tử số ÷ mẫu số, điểm tuyến tính hoặc đạt tối đa từ \
     ngưỡng), trên tổng điểm tối đa của các chỉ số đó; các chỉ số dữ liệu nằm ngoài hệ thống \
     được ghi là không tính được.";
const RULE_RANK: &str = "Hạng theo tổng điểm các chỉ số Quyết định 766 tính được, cùng kỳ, \
     trong số các đơn vị cùng loại trực thuộc tỉnh có hồ sơ tiếp nhận hoặc giải quyết trong \
     kỳ (mỗi đơn vị tính cả các cơ quan cấp dưới); điểm bằng nhau cùng hạng.";
const RULE_OVERDUE: &str = "Hồ sơ đang giải quyết đã quá hạn theo đồng hồ pháp lý tại cuối kỳ \
     (hoặc tại thời điểm lập báo cáo nếu kỳ chưa kết thúc), tại các cơ quan tiếp nhận thuộc \
     đơn vị.";
const RULE_LATE: &str = "Hồ sơ trả kết quả quá hạn trong kỳ mà không có văn bản xin lỗi \
     (Mẫu số 04) gửi người dân, theo đồng hồ pháp lý tại lúc có kết quả.";
const RULE_MONTH_ONLINE: &str = "Mỗi cột: tỷ lệ nộp trực tuyến của tháng (hồ sơ mới nộp trực \
     tuyến ÷ hồ sơ mới của tháng); đường ngang: ngưỡng 50% đạt điểm tối đa của chỉ số hồ sơ \
     trực tuyến (Quyết định 766).";
const RULE_MONTH_ON_TIME: &str = "Mỗi cột: tỷ lệ giải quyết đúng hạn của tháng theo Mẫu số 06 \
     (trước hạn + đúng hạn ÷ đã giải quyết trong tháng).";
const RULE_MONTH_NEW: &str = "Mỗi cột: số hồ sơ tiếp nhận mới của tháng, chia theo nộp trực \
     tuyến và trực tiếp, bưu chính (Mẫu số 06, cột tiếp nhận mới).";

/// The page's style: A4 portrait, margins 15 mm, charts scaled to the
/// page's width and kept whole on a page.
const STYLE: &str = "@page { size: A4 portrait; margin: 15mm; }
* { box-sizing: border-box; }
body { font-family: 'Times New Roman', 'DejaVu Serif', serif; font-size: 11pt; margin: 0; color: #000; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 4pt; }
h2 { font-size: 13pt; margin: 14pt 0 6pt; break-after: avoid; }
.meta { text-align: center; margin-bottom: 10pt; }
.figures { display: flex; flex-wrap: wrap; gap: 6pt; }
.figure { flex: 1 1 45%; border: 1px solid #444; padding: 6pt; break-inside: avoid; }
.figure .value { font-size: 18pt; font-weight: bold; }
.title { font-weight: bold; }
.rule { font-size: 9pt; font-style: italic; margin: 3pt 0 0; }
.chart { break-inside: avoid; margin: 8pt 0; width: 100%; }
.chart svg { display: block; width: 100%; height: auto; max-width: 100%; }
svg .grid { stroke: #ccc; stroke-width: 1; }
svg .reference { stroke: #b00; stroke-width: 1.5; stroke-dasharray: 6 4; }
svg .axis { font-size: 11px; fill: #333; }
svg .label { font-size: 11px; font-weight: bold; fill: #000; }
svg .part0 { fill: #2b5fa8; }
svg .part1 { fill: #9bb7de; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { border: 1px solid #444; padding: 2pt 4pt; text-align: left; vertical-align: top; }
tr { break-inside: avoid; }
td.n { text-align: right; }
";

/// The page.
fn html(audit: &Audit) -> String {
    let mut out = String::new();
    let first = audit.period.first_day.format("%d/%m/%Y");
    let last = audit.period.last_day.format("%d/%m/%Y");
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <title>Báo cáo kiểm tra — {name}</title><style>{STYLE}</style></head><body>\
         <h1>BÁO CÁO TÌNH HÌNH GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH</h1>\
         <div class=\"meta\">{name} ({identifier})<br>Kỳ báo cáo: từ {first} đến {last}<br>\
         Lập lúc {generated}; hồ sơ đang giải quyết được đánh giá tại {judged}</div>",
        name = escape(&audit.agency.name),
        identifier = escape(&audit.agency.identifier),
        generated = local(audit.generated_at),
        judged = local(audit.judged_at),
    );

    out.push_str("<h2>1. Kết quả chính</h2><div class=\"figures\">");
    let online = ratio(audit.facts.online_filing);
    figure(
        &mut out,
        "online-share",
        "Tỷ lệ hồ sơ nộp trực tuyến",
        &format!(
            "{} ({} / {})",
            percent(online),
            audit.facts.online_filing.numerator,
            audit.facts.online_filing.denominator
        ),
        &online.map(|v| format!("{v:.4}")).unwrap_or_default(),
        RULE_ONLINE,
    );
    let on_time_share = on_time_of(&audit.form06);
    let on_time = ratio(on_time_share);
    figure(
        &mut out,
        "on-time",
        "Tỷ lệ giải quyết đúng hạn",
        &format!(
            "{} ({} / {})",
            percent(on_time),
            on_time_share.numerator,
            on_time_share.denominator
        ),
        &on_time.map(|v| format!("{v:.4}")).unwrap_or_default(),
        RULE_ON_TIME,
    );
    let indicators = indicators(&audit.facts);
    let (points, maximum) = super::scored_points(&indicators);
    figure(
        &mut out,
        "points",
        "Điểm Quyết định 766 (phần tính được)",
        &format!("{points:.2} / {maximum}"),
        &format!("{points:.2}"),
        RULE_POINTS,
    );
    let (shown, value) = match &audit.rank {
        Ok(rank) => match rank.place {
            Some(place) => (
                format!("{place} / {} ({})", rank.of, rank.province),
                place.to_string(),
            ),
            None => (
                format!("không xếp hạng / {} ({})", rank.of, rank.province),
                String::new(),
            ),
        },
        Err(reason) => (format!("không áp dụng: {reason}"), String::new()),
    };
    figure(
        &mut out,
        "rank",
        "Xếp hạng trong tỉnh",
        &shown,
        &value,
        RULE_RANK,
    );
    out.push_str("</div>");

    out.push_str(
        "<h2>2. Nộp trực tuyến theo mức độ cung cấp dịch vụ công trực tuyến</h2>\
         <section class=\"table\" id=\"offer\"><table><tr><th>Mức độ của thủ tục</th>\
         <th>Số thủ tục có hồ sơ</th><th>Hồ sơ mới</th><th>Nộp trực tuyến</th>\
         <th>Trong đó có hỗ trợ</th><th>Tỷ lệ trực tuyến</th></tr>",
    );
    for (kind, offer) in &audit.offer {
        let name = match kind {
            OnlineServiceKind::Full => "Toàn trình",
            OnlineServiceKind::Partial => "Một phần",
            OnlineServiceKind::None => "Không cung cấp",
        };
        let share = ratio(Share {
            numerator: offer.online,
            denominator: offer.total,
        });
        let _ = write!(
            out,
            "<tr data-offer=\"{}\"><td>{name}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            kind.as_str(),
            offer.procedures,
            offer.total,
            offer.online,
            offer.assisted,
            percent(share)
        );
    }
    let _ = write!(
        out,
        "</table><p class=\"rule\">{}</p></section>",
        escape(RULE_OFFER)
    );

    out.push_str("<h2>3. Diễn biến theo tháng</h2>");
    let label = |month: &Month| month.period.first_day.format("%m/%Y").to_string();
    Chart {
        id: "chart-online",
        title: "Tỷ lệ nộp trực tuyến theo tháng",
        rule: RULE_MONTH_ONLINE,
        bars: audit
            .months
            .iter()
            .map(|m| (label(m), [ratio(m.facts.online_filing), None]))
            .collect(),
        top: 1.0,
        shares: true,
        legend: ["", ""],
        reference: Some((0.5, "50%")),
    }
    .svg(&mut out);
    Chart {
        id: "chart-on-time",
        title: "Tỷ lệ giải quyết đúng hạn theo tháng",
        rule: RULE_MONTH_ON_TIME,
        bars: audit
            .months
            .iter()
            .map(|m| (label(m), [ratio(on_time_of(&m.form06)), None]))
            .collect(),
        top: 1.0,
        shares: true,
        legend: ["", ""],
        reference: None,
    }
    .svg(&mut out);
    let most = audit
        .months
        .iter()
        .map(|m| m.form06.new_online + m.form06.new_direct)
        .max()
        .unwrap_or(0);
    Chart {
        id: "chart-new",
        title: "Hồ sơ tiếp nhận mới theo tháng",
        rule: RULE_MONTH_NEW,
        bars: audit
            .months
            .iter()
            .map(|m| {
                (
                    label(m),
                    [
                        Some(m.form06.new_online as f64),
                        Some(m.form06.new_direct as f64),
                    ],
                )
            })
            .collect(),
        top: nice_top(most),
        shares: false,
        legend: ["Trực tuyến", "Trực tiếp, bưu chính"],
        reference: None,
    }
    .svg(&mut out);

    out.push_str("<h2>4. Các chỉ số Quyết định 766/QĐ-TTg</h2><section class=\"table\" id=\"indicators\"><table><tr><th>Chỉ số</th><th>Tử số / mẫu số</th><th>Tỷ lệ</th><th>Điểm</th><th>Cách tính</th></tr>");
    for indicator in &indicators {
        indicator_row(&mut out, indicator);
    }
    let _ = write!(
        out,
        "</table><p class=\"rule\">{}</p></section>",
        escape(RULE_POINTS)
    );

    let _ = write!(
        out,
        "<h2>5. Hồ sơ quá hạn đang giải quyết ({})</h2><section class=\"table\" id=\"overdue\">",
        audit.overdue.len()
    );
    list(
        &mut out,
        audit.overdue.iter().map(|line| {
            [
                line.code.clone(),
                line.procedure_name.clone(),
                line.agency.clone(),
                local(line.due_at),
                format!("{:.1}", -line.remaining_seconds as f64 / 3600.0),
            ]
        }),
        [
            "Mã hồ sơ",
            "Thủ tục",
            "Nơi tiếp nhận",
            "Hạn giải quyết",
            "Quá hạn (giờ làm việc)",
        ],
    );
    let _ = write!(
        out,
        "<p class=\"rule\">{}</p></section>",
        escape(RULE_OVERDUE)
    );

    let _ = write!(
        out,
        "<h2>6. Hồ sơ trả quá hạn chưa xin lỗi ({})</h2><section class=\"table\" id=\"late\">",
        audit.late_without_apology.len()
    );
    list(
        &mut out,
        audit.late_without_apology.iter().map(|line| {
            [
                line.code.clone(),
                line.procedure_name.clone(),
                line.agency.clone(),
                local(line.due_at),
                local(line.finished_at),
            ]
        }),
        [
            "Mã hồ sơ",
            "Thủ tục",
            "Nơi tiếp nhận",
            "Hạn giải quyết",
            "Có kết quả",
        ],
    );
    let _ = write!(out, "<p class=\"rule\">{}</p></section>", escape(RULE_LATE));
    out.push_str("</body></html>");
    out
}

/// A scale's top above `most`: 1, 2 or 5 times a power of ten.
fn nice_top(most: u64) -> f64 {
    let most = most.max(1) as f64;
    let power = 10f64.powf(most.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|top| *top >= most)
        .unwrap_or(10.0 * power)
}

fn indicator_row(out: &mut String, indicator: &Indicator) {
    let counts = match (indicator.numerator, indicator.denominator) {
        (Some(n), Some(d)) => format!("{n} / {d}"),
        _ => "—".to_owned(),
    };
    let points = match (indicator.points, indicator.maximum) {
        (Some(p), Some(m)) => format!("{p:.2} / {m}"),
        (None, Some(m)) => format!("— / {m}"),
        _ => "—".to_owned(),
    };
    let _ = write!(
        out,
        "<tr data-indicator=\"{}\"><td>{}</td><td class=\"n\">{counts}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{points}</td><td class=\"rule\">{}</td></tr>",
        indicator.key.as_str(),
        escape(indicator.name),
        percent(indicator.ratio),
        escape(indicator.note)
    );
}

/// A table of dossiers, or a line saying there are none.
fn list<const N: usize>(
    out: &mut String,
    rows: impl Iterator<Item = [String; N]>,
    header: [&str; N],
) {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        out.push_str("<p>Không có hồ sơ nào.</p>");
        return;
    }
    out.push_str("<table><tr>");
    for cell in header {
        let _ = write!(out, "<th>{}</th>", escape(cell));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr data-dossier>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}
