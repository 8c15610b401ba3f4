//! Reports side by side: Form 06 totals, online uptake and the indicators of
//! an agency subtree, one line per agency directly under its root or one per
//! calendar month of the period, each computed in one request (one
//! snapshot) by the same code as the single-period reports: a single-period
//! report is the one-line, one-period case of the functions here.

use std::collections::{HashMap, HashSet};

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use motcua_domain::clock::{ClockEvent, DeadlineState};
use motcua_domain::dossier::Channel;
use motcua_domain::indicators::{Indicator, IndicatorFacts, IndicatorKey, Share, indicators};
use motcua_domain::online::OnlineServiceKind;
use motcua_domain::procedure::Fee;
use motcua_domain::reports::{Kstt06Row, Period, kstt06_counted};
use motcua_persistence::dossiers::{self, CountKey, CountedAt, Finished, ReportRow};
use motcua_persistence::procedures::ProcedureRow;
use motcua_persistence::{AgencyId, Db, DbConnection, DossierId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    COLUMNS, Grouping, INDICATOR_COLUMNS, Kstt06Line, Lookups, ReportFormat, UPTAKE_COLUMNS,
    UptakeLine, count, counted, counts, csv_document, in_reach, ledger_of, period_of, reporter,
    respond, scored_points, uptake_cells, wants_csv, with_ledgers,
};
use crate::auth::Principal;
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::catalogue::definition;

/// The most months a series may have.
const MAX_MONTHS: usize = 60;

/// The lines of a comparison: line 0 is the whole subtree (the single-period
/// report); by agency, one more line per agency directly under the root,
/// which counts the dossiers of its own subtree.
pub(super) struct Lines {
    /// Key and name of each line.
    pub(super) names: Vec<(String, String)>,
    /// For each agency of the subtree below the root: its line besides the
    /// whole. The root's own dossiers are counted in the whole only.
    of: HashMap<AgencyId, usize>,
}

impl Lines {
    /// The whole subtree only.
    pub(super) fn whole() -> Self {
        Lines {
            names: vec![("total".into(), "Tổng cộng".into())],
            of: HashMap::new(),
        }
    }

    /// The whole, then each agency directly under `root` (by identifier).
    pub(super) fn children(lookups: &Lookups, root: AgencyId) -> Self {
        let mut children: Vec<_> = lookups
            .agencies
            .values()
            .filter(|agency| agency.parent_id == Some(root))
            .collect();
        children.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        let mut lines = Lines::whole();
        for child in children {
            let line = lines.names.len();
            lines
                .names
                .push((child.identifier.clone(), child.name.clone()));
            for agency in lookups.agencies.values() {
                if agency.path.starts_with(&child.path) {
                    lines.of.insert(agency.id, line);
                }
            }
        }
        lines
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    /// The lines a dossier counted at `agency` is counted in.
    fn of(&self, agency: AgencyId) -> impl Iterator<Item = usize> + use<> {
        std::iter::once(0).chain(self.of.get(&agency).copied())
    }

    /// The Form 06 group of a count key: its line's key, or "" outside
    /// every line but the whole.
    pub(super) fn group(&self, key: CountKey) -> (String, String) {
        match key {
            CountKey::Agency(agency) => match self.of.get(&agency) {
                Some(line) => self.names[*line].clone(),
                None => (String::new(), String::new()),
            },
            CountKey::Procedure(_) => (String::new(), String::new()),
        }
    }
}

/// Whether a dossier was open at `at`: accepted before it, not finished before it.
fn open_at(row: &ReportRow, at: DateTime<Utc>) -> bool {
    row.accepted_at.is_some_and(|a| a.and_utc() < at)
        && row.finished_at.is_none_or(|f| f.and_utc() >= at)
}

/// Form 06 totals of each period (outer) and line (inner), counted at the
/// receiving or the resolving agency. The dossiers open at any period's end
/// are read once.
pub(super) fn form06_series(
    conn: &mut DbConnection,
    lookups: &mut Lookups,
    root: &str,
    periods: &[Period],
    counted_at: CountedAt,
    lines: &Lines,
    now: DateTime<Utc>,
) -> Result<Vec<Vec<Kstt06Row>>, ApiError> {
    let mut ends: Vec<DateTime<Utc>> = periods.iter().map(|period| period.end).collect();
    ends.sort();
    ends.dedup();
    let open = with_ledgers(dossiers::open_at_any(conn, root, counted_at, &ends)?)?;
    let grouping = Grouping::Lines(counted_at, lines);
    let mut series = Vec::with_capacity(periods.len());
    for period in periods {
        let closed = dossiers::closed_counts(
            conn,
            root,
            grouping.group_by().count_by(),
            counted_at,
            period.start,
            period.end,
        )?;
        let open_then = open.iter().filter(|(row, _)| open_at(row, period.end));
        let (dossiers, _) = counted(lookups, closed, open_then, period, grouping, now)?;
        let computed = kstt06_counted(dossiers.iter().map(|(d, n)| (d, *n)), period);
        let mut rows = vec![Kstt06Row::default(); lines.len()];
        rows[0] = computed.total;
        for (key, counts) in computed.rows {
            if let Some(line) = lines.names.iter().skip(1).position(|(k, _)| *k == key) {
                rows[line + 1] = counts;
            }
        }
        series.push(rows);
    }
    Ok(series)
}

/// What the indicators need, for each period (outer) and line (inner):
/// counted over `[start, end)` of each period, acknowledgements only up to
/// `now` (one not yet due is not yet late). Definitions: docs/reports.md.
pub(super) fn indicator_series(
    conn: &mut DbConnection,
    lookups: &mut Lookups,
    root: &str,
    periods: &[Period],
    lines: &Lines,
    now: DateTime<Utc>,
) -> Result<Vec<Vec<IndicatorFacts>>, ApiError> {
    let form06 = form06_series(
        conn,
        lookups,
        root,
        periods,
        CountedAt::Receiving,
        lines,
        now,
    )?;
    let Some(last) = periods.last() else {
        return Ok(Vec::new());
    };
    // A dossier asked for a supplement more than once after acceptance
    // counts late, whatever its clock says: from its second request on.
    let second_request: HashMap<DossierId, DateTime<Utc>> =
        dossiers::repeated_supplement_requests(conn, root, last.end)?
            .into_iter()
            .filter_map(|(id, times)| times.get(1).map(|at| (id, at.and_utc())))
            .collect();
    let repeated = second_request.keys().copied().collect();
    let repeated = with_ledgers(dossiers::report_rows(conn, repeated)?)?;
    let mut series = Vec::with_capacity(periods.len());
    for (period, form06) in periods.iter().zip(form06) {
        let mut facts: Vec<IndicatorFacts> = form06
            .into_iter()
            .map(|form06| IndicatorFacts {
                form06,
                ..IndicatorFacts::default()
            })
            .collect();
        // Withdrawals and stops: in time if before the legal due time.
        let ended = dossiers::finished_between(
            conn,
            root,
            period.start,
            period.end,
            Finished::WithdrawnOrStopped,
        )?;
        for row in ended {
            let Some(finished_at) = row.finished_at.map(|at| at.and_utc()) else {
                continue;
            };
            if in_time(lookups, &row, &ledger_of(&row)?, finished_at)? {
                for line in lines.of(row.agency_id) {
                    facts[line].ended_in_time += 1;
                }
            }
        }
        let as_of_end = period.end - chrono::Duration::microseconds(1);
        for (row, ledger) in &repeated {
            let repeated_by_end = second_request
                .get(&row.id)
                .is_some_and(|at| *at < period.end);
            let finished = row.finished_at.map(|at| at.and_utc());
            let handled = row.accepted_at.is_some_and(|at| at.and_utc() < period.end)
                && finished.is_none_or(|at| at >= period.start);
            if !repeated_by_end || !handled {
                continue;
            }
            let at = finished.filter(|at| *at < period.end).unwrap_or(as_of_end);
            if in_time(lookups, row, ledger, at)? {
                for line in lines.of(row.agency_id) {
                    facts[line].repeated_supplement_in_time += 1;
                }
            }
        }
        let catalogue = Catalogue::on(lookups, period.last_day)?;
        let mut filed_online = vec![HashSet::new(); lines.len()];
        for (procedure, agency, channel, n) in
            dossiers::accepted_counts(conn, root, period.start, period.end)?
        {
            let code = &lookups.procedure(procedure)?.code;
            for line in lines.of(agency) {
                facts[line].online_filing.denominator += count(Some(n));
                if channel == Channel::Online {
                    facts[line].online_filing.numerator += count(Some(n));
                    filed_online[line].insert(code.clone());
                }
            }
        }
        let mut paid_online = vec![HashSet::new(); lines.len()];
        for (agency, procedure, paid, online) in
            dossiers::payment_counts(conn, root, period.start, period.end)?
        {
            let code = &lookups.procedure(procedure)?.code;
            for line in lines.of(agency) {
                facts[line].online_payment.numerator += count(online);
                facts[line].online_payment.denominator += count(Some(paid));
                if count(online) > 0 {
                    paid_online[line].insert(code.clone());
                }
            }
        }
        let mut satisfying = vec![0; lines.len()];
        for results in dossiers::result_counts(conn, root, period.start, period.end)? {
            for line in lines.of(results.agency) {
                satisfying[line] += count(results.satisfying);
                facts[line].electronic_result.numerator += count(results.delivered_online);
                facts[line].electronic_result.denominator += count(Some(results.results));
            }
        }
        let due_until = period.end.min(now);
        if period.start < due_until {
            for (agency, due, in_time) in
                dossiers::acknowledgement_counts(conn, root, period.start, due_until)?
            {
                for line in lines.of(agency) {
                    facts[line].acknowledgement.numerator += count(in_time);
                    facts[line].acknowledgement.denominator += count(Some(due));
                }
            }
        }
        for (line, facts) in facts.iter_mut().enumerate() {
            facts.online_offer = catalogue.online_offer();
            facts.online_use = Catalogue::share(&filed_online[line], &catalogue.offering);
            facts.payment_offer = Catalogue::share(&paid_online[line], &catalogue.charging);
            facts.dissatisfied_in_time =
                (facts.form06.early + facts.form06.on_time).saturating_sub(satisfying[line]);
        }
        series.push(facts);
    }
    Ok(series)
}

/// Whether a dossier's legal clock as of `at` is not overdue.
fn in_time(
    lookups: &mut Lookups,
    row: &ReportRow,
    ledger: &[ClockEvent],
    at: DateTime<Utc>,
) -> Result<bool, ApiError> {
    Ok(lookups
        .clock(row, ledger, at)?
        .is_some_and(|legal| legal.state != DeadlineState::Overdue))
}

/// The catalogue as it stood on a day: the codes of the procedures in
/// force (each code's version in force then), of those offering online
/// service (partial or full), and of those charging a fee.
struct Catalogue {
    in_force: usize,
    offering: HashSet<String>,
    charging: HashSet<String>,
}

impl Catalogue {
    fn on(lookups: &Lookups, day: NaiveDate) -> Result<Self, ApiError> {
        let mut in_force: HashMap<&str, &ProcedureRow> = HashMap::new();
        for version in lookups.procedures.values() {
            let current =
                version.effective_from <= day && version.effective_to.is_none_or(|to| to >= day);
            if current
                && in_force
                    .get(version.code.as_str())
                    .is_none_or(|other| other.effective_from < version.effective_from)
            {
                in_force.insert(&version.code, version);
            }
        }
        let mut catalogue = Catalogue {
            in_force: in_force.len(),
            offering: HashSet::new(),
            charging: HashSet::new(),
        };
        for (code, version) in in_force {
            if OnlineServiceKind::parse(&version.online_kind)
                .is_some_and(|kind| kind != OnlineServiceKind::None)
            {
                catalogue.offering.insert(code.to_owned());
            }
            if !matches!(definition(version)?.fee, Fee::Exempt { .. }) {
                catalogue.charging.insert(code.to_owned());
            }
        }
        Ok(catalogue)
    }

    fn online_offer(&self) -> Share {
        Share {
            numerator: u64::try_from(self.offering.len()).unwrap_or(0),
            denominator: u64::try_from(self.in_force).unwrap_or(0),
        }
    }

    /// Of the procedures `of`, how many are in `met`.
    fn share(met: &HashSet<String>, of: &HashSet<String>) -> Share {
        Share {
            numerator: u64::try_from(met.intersection(of).count()).unwrap_or(0),
            denominator: u64::try_from(of.len()).unwrap_or(0),
        }
    }
}

/// Online uptake of each period (outer) and line (inner).
fn uptake_series(
    conn: &mut DbConnection,
    lookups: &Lookups,
    root: &str,
    periods: &[Period],
    lines: &Lines,
) -> Result<Vec<Vec<UptakeLine>>, ApiError> {
    let mut series = Vec::with_capacity(periods.len());
    for period in periods {
        let counts = dossiers::accepted_counts(conn, root, period.start, period.end)?;
        let assisted = dossiers::assisted_counts(conn, root, period.start, period.end)?;
        let assisted = super::assisted_by(assisted);
        let mut uptake: Vec<UptakeLine> = lines
            .names
            .iter()
            .map(|(key, name)| UptakeLine {
                key: key.clone(),
                name: name.clone(),
                ..UptakeLine::default()
            })
            .collect();
        for (procedure, agency, channel, n) in counts {
            let procedure_row = lookups.procedure(procedure)?;
            let helped = assisted.get(&(procedure, agency)).copied().unwrap_or(0);
            for line in lines.of(agency) {
                uptake[line].add(procedure_row, channel, count(Some(n)), helped);
            }
        }
        series.push(uptake.into_iter().map(UptakeLine::with_shares).collect());
    }
    Ok(series)
}

/// How a comparison lays out its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompareBy {
    /// One line per agency directly under the one reported on, each
    /// counting its own subtree (a province's communes), with the whole
    /// subtree as the total.
    Agency,
    /// One line per calendar month of the period (the first and last
    /// clipped to the period), each as the report for that month alone.
    Month,
}

/// What the indicators by agency are ranked by: their points, or one
/// computable indicator's ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// The total of the computable indicators' points.
    Points,
    /// Tiến độ giải quyết.
    Progress,
    /// Thủ tục cung cấp dịch vụ công trực tuyến.
    OnlineOffer,
    /// Dịch vụ công trực tuyến có phát sinh hồ sơ.
    OnlineUse,
    /// Tỷ lệ hồ sơ trực tuyến.
    OnlineFiling,
    /// Hồ sơ thanh toán trực tuyến.
    OnlinePayment,
    /// Thủ tục có thanh toán trực tuyến.
    PaymentOffer,
    /// Mức độ hài lòng.
    Satisfaction,
    /// Trả kết quả điện tử.
    ElectronicResult,
    /// Tiếp nhận hồ sơ trực tuyến đúng hạn.
    Acknowledgement,
}

impl RankBy {
    const ALL: [RankBy; 10] = [
        RankBy::Points,
        RankBy::Progress,
        RankBy::OnlineOffer,
        RankBy::OnlineUse,
        RankBy::OnlineFiling,
        RankBy::OnlinePayment,
        RankBy::PaymentOffer,
        RankBy::Satisfaction,
        RankBy::ElectronicResult,
        RankBy::Acknowledgement,
    ];

    /// The indicator whose ratio ranks, or `None` for the points.
    fn indicator(self) -> Option<IndicatorKey> {
        match self {
            RankBy::Points => None,
            RankBy::Progress => Some(IndicatorKey::Progress),
            RankBy::OnlineOffer => Some(IndicatorKey::OnlineOffer),
            RankBy::OnlineUse => Some(IndicatorKey::OnlineUse),
            RankBy::OnlineFiling => Some(IndicatorKey::OnlineFiling),
            RankBy::OnlinePayment => Some(IndicatorKey::OnlinePayment),
            RankBy::PaymentOffer => Some(IndicatorKey::PaymentOffer),
            RankBy::Satisfaction => Some(IndicatorKey::Satisfaction),
            RankBy::ElectronicResult => Some(IndicatorKey::ElectronicResult),
            RankBy::Acknowledgement => Some(IndicatorKey::Acknowledgement),
        }
    }

    fn as_str(self) -> &'static str {
        self.indicator().map_or("points", IndicatorKey::as_str)
    }
}

/// Parameters of a comparison.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// The period, as for the single-period reports: `2026`, `2026-Q3`,
    /// `2026-10` or `cutoff:2026-10`. Required unless both from and to are
    /// given (422 otherwise).
    pub period: Option<String>,
    /// First day (YYYY-MM-DD); with to, instead of the period.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD); with from, instead of the period.
    pub to: Option<NaiveDate>,
    /// The agency whose subtree is compared (default: the caller's agency).
    pub agency_id: Option<String>,
    /// `agency` (default): its direct subordinates side by side; `month`:
    /// month by month (at most 60 months).
    #[param(value_type = Option<CompareBy>, inline)]
    pub by: Option<String>,
    /// Indicators by agency only (422 elsewhere): what the lines are ranked
    /// by, `points` (default, the total of the computable points) or a
    /// computable indicator's key (its ratio).
    #[param(value_type = Option<RankBy>, inline)]
    pub rank_by: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<ReportFormat>, inline)]
    pub format: Option<String>,
}

/// What a comparison covers: the period, the agency, the layout and the
/// periods of its series.
#[derive(Clone)]
struct Compare {
    period: Period,
    agency: AgencyId,
    by: CompareBy,
    periods: Vec<Period>,
    as_csv: bool,
}

impl Compare {
    fn parse(
        request: &HttpRequest,
        principal: &Principal,
        query: &CompareQuery,
    ) -> Result<Self, ApiError> {
        let agency = reporter(principal, query.agency_id.as_deref())?;
        let period = period_of(query.period.as_deref(), query.from, query.to)?;
        let invalid = |field: &str, message: String| {
            ApiError::Validation(vec![FieldError::new(field, message)])
        };
        let by = match query.by.as_deref() {
            None | Some("agency") => CompareBy::Agency,
            Some("month") => CompareBy::Month,
            Some(_) => return Err(invalid("by", "must be agency or month".into())),
        };
        let periods = match by {
            CompareBy::Agency => vec![period],
            CompareBy::Month => {
                let months = month_count(&period);
                if months > MAX_MONTHS {
                    return Err(invalid(
                        "period",
                        format!("{months} months: a series has at most {MAX_MONTHS}"),
                    ));
                }
                period.months()
            }
        };
        let as_csv = wants_csv(request, query.format.as_deref())?;
        Ok(Compare {
            period,
            agency,
            by,
            periods,
            as_csv,
        })
    }

    /// The lines for `lookups` of the agency's subtree.
    fn lines(&self, lookups: &Lookups) -> Lines {
        match self.by {
            CompareBy::Agency => Lines::children(lookups, self.agency),
            CompareBy::Month => Lines::whole(),
        }
    }

    /// Counts the series in one snapshot of the agency's subtree, with
    /// `count` (given the connection, the lookups, the subtree's path, the
    /// periods and the lines), and lays it out.
    async fn read<T: Send + 'static>(
        &self,
        db: &Db,
        principal: Principal,
        count: impl FnOnce(
            &mut DbConnection,
            &mut Lookups,
            &str,
            &[Period],
            &Lines,
        ) -> Result<Vec<Vec<T>>, ApiError>
        + Send
        + 'static,
    ) -> Result<(Vec<(String, String, T)>, Option<T>), ApiError> {
        let (db, compare) = (db.clone(), self.clone());
        let (lines, series) = web::block(move || {
            db.snapshot(|conn| {
                let (path, mut lookups) = in_reach(conn, &principal, compare.agency)?;
                let lines = compare.lines(&lookups);
                let series = count(conn, &mut lookups, &path, &compare.periods, &lines)?;
                Ok::<_, ApiError>((lines, series))
            })
        })
        .await??;
        Ok(self.lay_out(&lines, series))
    }

    /// The answer's lines from a series, `(key, name, value)`, and its total
    /// (by agency: the whole subtree over the period; by month: none).
    fn lay_out<T>(
        &self,
        lines: &Lines,
        series: Vec<Vec<T>>,
    ) -> (Vec<(String, String, T)>, Option<T>) {
        match self.by {
            CompareBy::Agency => {
                let mut lines_of_period = series.into_iter().next().unwrap_or_default();
                let total = (!lines_of_period.is_empty()).then(|| lines_of_period.remove(0));
                let named = lines
                    .names
                    .iter()
                    .skip(1)
                    .cloned()
                    .zip(lines_of_period)
                    .map(|((key, name), value)| (key, name, value))
                    .collect();
                (named, total)
            }
            CompareBy::Month => {
                let named = self
                    .periods
                    .iter()
                    .zip(series)
                    .filter_map(|(period, lines)| {
                        let value = lines.into_iter().next()?;
                        let (key, name) = month_name(period.first_day);
                        Some((key, name, value))
                    })
                    .collect();
                (named, None)
            }
        }
    }
}

/// How many calendar months a period touches.
fn month_count(period: &Period) -> usize {
    let index = |day: NaiveDate| i64::from(day.year()) * 12 + i64::from(day.month0());
    usize::try_from(index(period.last_day) - index(period.first_day) + 1).unwrap_or(0)
}

/// A month's key (`2026-10`) and name (`Tháng 10/2026`).
fn month_name(day: NaiveDate) -> (String, String) {
    (
        day.format("%Y-%m").to_string(),
        day.format("Tháng %m/%Y").to_string(),
    )
}

/// Form 06 totals side by side.
#[derive(Debug, Serialize, ToSchema)]
pub struct Kstt06Compare {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The agency reported on (with its subtree).
    pub agency_id: String,
    /// The layout.
    pub by: CompareBy,
    /// One line per agency (key: its identifier) or per month (key
    /// `YYYY-MM`), each with Form 06's totals for it.
    pub lines: Vec<Kstt06Line>,
    /// By agency: the whole subtree (Form 06's totals row for the agency
    /// reported on, which also counts its own dossiers); by month: absent.
    pub total: Option<Kstt06Line>,
}

/// Form 06 totals (counted at the resolving agency, as Form 06 counts) for
/// each agency directly under the one reported on, or for each month of the
/// period, in one request: each line equals Form 06's totals row for that
/// agency, or that month, alone (auditors, leaders and administrators).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(CompareQuery),
    responses(
        (status = 200, description = "The lines (JSON, or CSV with `format=csv` or `Accept: text/csv`: one row per line, the total last)", content(
            (Kstt06Compare = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period, layout or ranking", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/kstt-06/compare")]
pub async fn kstt06_compare(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    query: crate::body::Query<CompareQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = clock_now.now();
    let query = query.into_inner();
    no_ranking(&query)?;
    let compare = Compare::parse(&request, &principal, &query)?;
    let (named, total) = compare
        .read(
            &db,
            principal,
            move |conn, lookups, path, periods, lines| {
                form06_series(
                    conn,
                    lookups,
                    path,
                    periods,
                    CountedAt::Resolving,
                    lines,
                    now,
                )
            },
        )
        .await?;
    let line = |key: String, name: String, counts: Kstt06Row| Kstt06Line {
        key,
        name,
        merged_from: Vec::new(),
        counts,
    };
    let report = Kstt06Compare {
        from: compare.period.first_day,
        to: compare.period.last_day,
        agency_id: compare.agency.to_string(),
        by: compare.by,
        lines: named
            .into_iter()
            .map(|(key, name, counts)| line(key, name, counts))
            .collect(),
        total: total.map(|counts| line("total".into(), "Tổng cộng".into(), counts)),
    };
    Ok(respond(compare.as_csv, &report, || {
        let mut header = vec![("key", "Mã"), ("name", "Tên")];
        header.extend(COLUMNS.iter().copied());
        let rows: Vec<Vec<String>> = report
            .lines
            .iter()
            .chain(report.total.as_ref())
            .map(|line| {
                let mut cells = vec![line.key.clone(), line.name.clone()];
                cells.extend(counts(&line.counts).iter().map(u64::to_string));
                cells
            })
            .collect();
        csv_document(&header, &rows)
    }))
}

/// Online uptake side by side.
#[derive(Debug, Serialize, ToSchema)]
pub struct UptakeCompare {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The agency reported on (with its subtree).
    pub agency_id: String,
    /// The layout.
    pub by: CompareBy,
    /// One line per agency (key: its identifier) or per month (key
    /// `YYYY-MM`); `offered` is null.
    pub lines: Vec<UptakeLine>,
    /// By agency: the whole subtree; by month: absent.
    pub total: Option<UptakeLine>,
}

/// Online uptake (new dossiers by channel, online assisted and not, full
/// and partial online, the shares) for each agency directly under the one
/// reported on, or for each month of the period, in one request: each line
/// equals the sum of the online-uptake report's lines for that agency, or
/// that month, alone (auditors, leaders and administrators).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(CompareQuery),
    responses(
        (status = 200, description = "The lines (JSON, or CSV with `format=csv` or `Accept: text/csv`: one row per line, the total last)", content(
            (UptakeCompare = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period, layout or ranking", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/online-uptake/compare")]
pub async fn uptake_compare(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<CompareQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    no_ranking(&query)?;
    let compare = Compare::parse(&request, &principal, &query)?;
    let (named, total) = compare
        .read(&db, principal, |conn, lookups, path, periods, lines| {
            uptake_series(conn, lookups, path, periods, lines)
        })
        .await?;
    let report = UptakeCompare {
        from: compare.period.first_day,
        to: compare.period.last_day,
        agency_id: compare.agency.to_string(),
        by: compare.by,
        lines: named
            .into_iter()
            .map(|(key, name, line)| UptakeLine { key, name, ..line })
            .collect(),
        total,
    };
    Ok(respond(compare.as_csv, &report, || {
        let rows: Vec<Vec<String>> = report
            .lines
            .iter()
            .chain(report.total.as_ref())
            .map(uptake_cells)
            .collect();
        csv_document(&UPTAKE_COLUMNS, &rows)
    }))
}

/// The indicators of one line.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorsLine {
    /// Mã — the agency's identifier, or the month (`YYYY-MM`).
    pub key: String,
    /// Tên — the agency's name, or the month's.
    pub name: String,
    /// Hạng — by agency: the place by `rank_by` among the lines (1 is
    /// best; equal values share a place); null when the line has no value
    /// for it (no dossiers) and on the total and by month.
    pub rank: Option<u32>,
    /// Tổng điểm — points earned by the computable, scored indicators.
    pub points: f64,
    /// Điểm tối đa — their maximum.
    pub maximum: f64,
    /// Each indicator, as in the single-period report.
    pub indicators: Vec<Indicator>,
}

impl IndicatorsLine {
    pub(super) fn new(key: String, name: String, facts: &IndicatorFacts) -> Self {
        let indicators = indicators(facts);
        let (points, maximum) = scored_points(&indicators);
        IndicatorsLine {
            key,
            name,
            rank: None,
            points,
            maximum,
            indicators,
        }
    }

    /// The value the line is ranked by.
    pub(super) fn value(&self, rank_by: Option<IndicatorKey>) -> Option<f64> {
        match rank_by {
            // Points need dossiers: a line that received and handled none
            // would score the catalogue's points alone.
            None => {
                let measured = |key| self.value(Some(key)).is_some();
                (measured(IndicatorKey::Progress) || measured(IndicatorKey::OnlineFiling))
                    .then_some(self.points)
            }
            Some(key) => self
                .indicators
                .iter()
                .find(|indicator| indicator.key == key)
                .and_then(|indicator| indicator.ratio),
        }
    }
}

/// The indicators side by side.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorsCompare {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The agency reported on (with its subtree).
    pub agency_id: String,
    /// The layout.
    pub by: CompareBy,
    /// By agency: what the lines are ranked by (`points` or an indicator key).
    pub rank_by: Option<String>,
    /// By agency: the lines in rank order (unranked last, then by key); by
    /// month: in month order.
    pub lines: Vec<IndicatorsLine>,
    /// By agency: the whole subtree; by month: absent.
    pub total: Option<IndicatorsLine>,
}

/// The CSV of the indicators side by side: one row per line and indicator.
const INDICATORS_COMPARE_COLUMNS: [(&str, &str); 5] = [
    ("line", "Dòng (cơ quan hoặc tháng)"),
    ("line_name", "Tên dòng"),
    ("rank", "Hạng"),
    ("line_points", "Tổng điểm"),
    ("line_maximum", "Tổng điểm tối đa"),
];

/// The Decision 766 indicators for each agency directly under the one
/// reported on (ranked by `rank_by`), or for each month of the period, in
/// one request: each line equals the indicators report for that agency, or
/// that month, alone (auditors, leaders and administrators).
#[utoipa::path(
    tag = "reports",
    security(("bearer" = [])),
    params(CompareQuery),
    responses(
        (status = 200, description = "The lines (JSON, or CSV with `format=csv` or `Accept: text/csv`: one row per line and indicator, the total last)", content(
            (IndicatorsCompare = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid period, layout or ranking", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/indicators/compare")]
pub async fn indicators_compare(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    clock_now: web::Data<crate::clock::Clock>,
    query: crate::body::Query<CompareQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = clock_now.now();
    let query = query.into_inner();
    let compare = Compare::parse(&request, &principal, &query)?;
    let rank_by = rank_by(&query, compare.by)?;
    let (named, total) = compare
        .read(
            &db,
            principal,
            move |conn, lookups, path, periods, lines| {
                indicator_series(conn, lookups, path, periods, lines, now)
            },
        )
        .await?;
    let mut lines: Vec<IndicatorsLine> = named
        .into_iter()
        .map(|(key, name, facts)| IndicatorsLine::new(key, name, &facts))
        .collect();
    if let Some(rank_by) = rank_by {
        rank(&mut lines, rank_by);
    }
    let report = IndicatorsCompare {
        from: compare.period.first_day,
        to: compare.period.last_day,
        agency_id: compare.agency.to_string(),
        by: compare.by,
        rank_by: rank_by.map(|key| key.map_or("points", IndicatorKey::as_str).to_owned()),
        lines,
        total: total.map(|facts| IndicatorsLine::new("total".into(), "Tổng cộng".into(), &facts)),
    };
    Ok(respond(compare.as_csv, &report, || {
        let mut header = INDICATORS_COMPARE_COLUMNS.to_vec();
        header.extend(INDICATOR_COLUMNS.iter().copied());
        let mut rows = Vec::new();
        for line in report.lines.iter().chain(report.total.as_ref()) {
            for indicator in &line.indicators {
                let mut cells = vec![
                    line.key.clone(),
                    line.name.clone(),
                    line.rank.map(|r| r.to_string()).unwrap_or_default(),
                    format!("{:.2}", line.points),
                    format!("{}", line.maximum),
                ];
                cells.extend(super::indicator_cells(indicator));
                rows.push(cells);
            }
        }
        csv_document(&header, &rows)
    }))
}

/// What the indicators are ranked by: by agency, `points` (None inside) or
/// an indicator with a ratio; never by month.
fn rank_by(query: &CompareQuery, by: CompareBy) -> Result<Option<Option<IndicatorKey>>, ApiError> {
    let invalid =
        |message: &str| ApiError::Validation(vec![FieldError::new("rank_by", message.to_owned())]);
    match (by, query.rank_by.as_deref()) {
        (CompareBy::Month, None) => Ok(None),
        (CompareBy::Month, Some(_)) => Err(invalid("only the lines by agency are ranked")),
        (CompareBy::Agency, None) => Ok(Some(None)),
        (CompareBy::Agency, Some(text)) => RankBy::ALL
            .into_iter()
            .find(|rank_by| rank_by.as_str() == text)
            .map(|rank_by| Some(rank_by.indicator()))
            .ok_or_else(|| {
                invalid("must be points or a computable indicator's key (e.g. online_filing)")
            }),
    }
}

/// Form 06 and uptake lines are not ranked.
fn no_ranking(query: &CompareQuery) -> Result<(), ApiError> {
    match query.rank_by {
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "rank_by",
            "only the indicators are ranked",
        )])),
        None => Ok(()),
    }
}

/// Ranks the lines by `rank_by`, highest first; equal values share a place
/// (1, 2, 2, 4); lines without a value come last, unranked; ties and the
/// unranked in key order.
pub(super) fn rank(lines: &mut [IndicatorsLine], rank_by: Option<IndicatorKey>) {
    lines.sort_by(|a, b| {
        let (va, vb) = (a.value(rank_by), b.value(rank_by));
        vb.partial_cmp(&va)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut previous: Option<(f64, u32)> = None;
    for (place, line) in (1..).zip(lines.iter_mut()) {
        let Some(value) = line.value(rank_by) else {
            continue;
        };
        let rank = match previous {
            Some((last, rank)) if last == value => rank,
            _ => place,
        };
        line.rank = Some(rank);
        previous = Some((value, rank));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented ranking keys are `points` and the computable
    /// indicators, no more and no fewer.
    #[test]
    fn the_documented_ranking_keys_are_the_computable_indicators() {
        let documented: Vec<String> = RankBy::ALL
            .iter()
            .map(|key| serde_json::to_value(key).unwrap_or_default().to_string())
            .collect();
        let names: Vec<String> = RankBy::ALL
            .iter()
            .map(|key| format!("\"{}\"", key.as_str()))
            .collect();
        assert_eq!(documented, names);
        let mut computable = vec!["\"points\"".to_owned()];
        computable.extend(
            indicators(&IndicatorFacts::default())
                .iter()
                .filter(|indicator| indicator.computable)
                .map(|indicator| format!("\"{}\"", indicator.key.as_str())),
        );
        assert_eq!(documented, computable);
    }
}
