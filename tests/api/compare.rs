//! Reports side by side — Form 06 totals, online uptake and the indicators
//! by agency and by month — against the single-period reports run one agency
//! and one period at a time, over the hand-built history of Form 06's test
//! and over a generated province; the ranking; the CSV read back.

use std::collections::HashMap;

use serde_json::Value;

use crate::fixture::{Fixture, Who};
use crate::helpers::{TestApp, json, problem};
use crate::reports::{FORM06_COLUMNS, columns, generated_province, history, more_history};

/// Reads reports as one caller.
struct Reader<'a> {
    app: &'a TestApp,
    token: String,
}

impl Reader<'_> {
    async fn get(&self, path: &str) -> Value {
        json(
            self.app
                .get_as(&format!("/api/v1{path}"), &self.token)
                .await,
            "application/json",
        )
        .await
    }

    /// A report as CSV, parsed: one map per row, by the key each header
    /// cell gives in brackets.
    async fn csv(&self, path: &str) -> Vec<HashMap<String, String>> {
        let response = self
            .app
            .get_as(&format!("/api/v1{path}"), &self.token)
            .await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let text = response.text().await.unwrap_or_default();
        let mut rows = parse_csv(text.trim_start_matches('\u{feff}')).into_iter();
        let header: Vec<String> = rows
            .next()
            .unwrap_or_default()
            .iter()
            .map(|cell| {
                let key = cell.rsplit_once('(').map_or("", |(_, key)| key);
                key.trim_end_matches(')').to_owned()
            })
            .collect();
        rows.map(|row| header.iter().cloned().zip(row).collect())
            .collect()
    }

    /// The comparison of `report` (`kstt-06`, `online-uptake`,
    /// `indicators`) with `query`, as JSON and as CSV.
    async fn compare(&self, report: &str, query: &str) -> (Value, Vec<HashMap<String, String>>) {
        let path = format!("/reports/{report}/compare?{query}");
        let answer = self.get(&path).await;
        let csv = self.csv(&format!("{path}&format=csv")).await;
        (answer, csv)
    }
}

/// RFC 4180: cells separated by commas, quoted when they hold one, a quote
/// or a line break; rows end with CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// The uptake counts the comparison's lines hold.
const UPTAKE_COUNTS: [&str; 8] = [
    "total",
    "online",
    "online_assisted",
    "online_unassisted",
    "direct",
    "postal",
    "full_online",
    "partial_online",
];

/// The single-period online-uptake report summed over its lines.
fn uptake_sum(report: &Value) -> Vec<u64> {
    UPTAKE_COUNTS
        .iter()
        .map(|key| {
            report
                .as_array()
                .into_iter()
                .flatten()
                .map(|line| line[*key].as_u64().unwrap_or(u64::MAX))
                .sum()
        })
        .collect()
}

fn uptake_counts(line: &Value) -> Vec<u64> {
    UPTAKE_COUNTS
        .iter()
        .map(|key| line[*key].as_u64().unwrap_or(u64::MAX))
        .collect()
}

/// What a line of each comparison must equal in the single-period report
/// for one agency and one period (`scope`: `agency_id=…&period=…` or with
/// from and to), checked for the three reports.
async fn check_line(reader: &Reader<'_>, scope: &str, lines: (&Value, &Value, &Value)) {
    let (form06, uptake, indicators) = lines;
    let single = reader.get(&format!("/reports/kstt-06?{scope}")).await;
    assert_eq!(
        columns(form06),
        columns(&single["total"]),
        "Form 06, {scope}"
    );
    let single = reader
        .get(&format!("/reports/online-uptake?{scope}&group_by=agency"))
        .await;
    let sum = uptake_sum(&single);
    assert_eq!(uptake_counts(uptake), sum, "uptake, {scope}");
    let share = if sum[0] == 0 {
        0.0
    } else {
        sum[1] as f64 / sum[0] as f64
    };
    assert_eq!(uptake["online_share"].as_f64(), Some(share), "{scope}");
    let single = reader.get(&format!("/reports/indicators?{scope}")).await;
    assert_eq!(
        indicators["indicators"], single["indicators"],
        "indicators, {scope}"
    );
    assert_eq!(indicators["points"], single["points"], "{scope}");
    assert_eq!(indicators["maximum"], single["maximum"], "{scope}");
}

/// The line keyed `key` of a comparison.
fn line<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|line| line["key"] == key)
        .unwrap_or_else(|| panic!("no line {key} in {report}"))
}

/// The three comparisons of one query.
struct Compared {
    form06: Value,
    uptake: Value,
    indicators: Value,
}

impl Compared {
    /// `ranking`: the indicators' extra parameters (`&rank_by=…`).
    async fn read(reader: &Reader<'_>, query: &str, ranking: &str) -> Compared {
        let (form06, form06_csv) = reader.compare("kstt-06", query).await;
        let (uptake, uptake_csv) = reader.compare("online-uptake", query).await;
        let (indicators, indicators_csv) = reader
            .compare("indicators", &format!("{query}{ranking}"))
            .await;
        let compared = Compared {
            form06,
            uptake,
            indicators,
        };
        compared.csv_reads_back(&form06_csv, &uptake_csv, &indicators_csv);
        compared
    }

    fn keys(&self) -> Vec<String> {
        let keys = |report: &Value| -> Vec<String> {
            let mut keys: Vec<String> = report["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|line| line["key"].as_str().unwrap_or_default().to_owned())
                .collect();
            keys.sort();
            keys
        };
        let form06 = keys(&self.form06);
        assert_eq!(form06, keys(&self.uptake));
        assert_eq!(form06, keys(&self.indicators));
        form06
    }

    fn lines(&self, key: &str) -> (&Value, &Value, &Value) {
        (
            line(&self.form06, key),
            line(&self.uptake, key),
            line(&self.indicators, key),
        )
    }

    fn totals(&self) -> (&Value, &Value, &Value) {
        (
            &self.form06["total"],
            &self.uptake["total"],
            &self.indicators["total"],
        )
    }

    /// Each CSV holds the JSON's lines (the total last), figure for figure.
    fn csv_reads_back(
        &self,
        form06: &[HashMap<String, String>],
        uptake: &[HashMap<String, String>],
        indicators: &[HashMap<String, String>],
    ) {
        let with_total = |report: &Value| -> Vec<Value> {
            let mut lines = report["lines"].as_array().cloned().unwrap_or_default();
            lines.extend(report.get("total").filter(|t| !t.is_null()).cloned());
            lines
        };
        let number = |row: &HashMap<String, String>, key: &str| -> f64 {
            row.get(key)
                .and_then(|cell| cell.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {row:?}"))
        };
        let lines = with_total(&self.form06);
        assert_eq!(form06.len(), lines.len());
        for (row, line) in form06.iter().zip(&lines) {
            assert_eq!(row.get("key").map(String::as_str), line["key"].as_str());
            assert_eq!(row.get("name").map(String::as_str), line["name"].as_str());
            let read: Vec<u64> = FORM06_COLUMNS
                .iter()
                .map(|key| number(row, key) as u64)
                .collect();
            assert_eq!(read, columns(line));
        }
        let lines = with_total(&self.uptake);
        assert_eq!(uptake.len(), lines.len());
        for (row, line) in uptake.iter().zip(&lines) {
            assert_eq!(row.get("key").map(String::as_str), line["key"].as_str());
            let read: Vec<u64> = UPTAKE_COUNTS
                .iter()
                .map(|key| number(row, key) as u64)
                .collect();
            assert_eq!(read, uptake_counts(line));
            for share in ["online_share", "full_share"] {
                let json = line[share].as_f64().unwrap_or(f64::NAN);
                assert!((number(row, share) - json).abs() < 5e-5, "{share}: {row:?}");
            }
        }
        let lines = with_total(&self.indicators);
        let mut rows = indicators.iter();
        for line in &lines {
            for indicator in line["indicators"].as_array().into_iter().flatten() {
                let row = rows.next().unwrap_or_else(|| panic!("CSV ends early"));
                assert_eq!(row.get("line").map(String::as_str), line["key"].as_str());
                assert_eq!(
                    row.get("rank").map(String::as_str),
                    Some(
                        line["rank"]
                            .as_u64()
                            .map(|r| r.to_string())
                            .unwrap_or_default()
                    )
                    .as_deref()
                );
                assert_eq!(
                    row.get("key").map(String::as_str),
                    indicator["key"].as_str()
                );
                for (key, decimals) in [
                    ("numerator", 0.5),
                    ("denominator", 0.5),
                    ("ratio", 5e-5),
                    ("points", 5e-3),
                ] {
                    match indicator[key].as_f64() {
                        Some(json) => {
                            assert!((number(row, key) - json).abs() < decimals, "{key}: {row:?}")
                        }
                        None => assert_eq!(row.get(key).map(String::as_str), Some("")),
                    }
                }
                let line_points = line["points"].as_f64().unwrap_or(f64::NAN);
                assert!((number(row, "line_points") - line_points).abs() < 5e-3);
            }
        }
        assert!(rows.next().is_none(), "CSV has more rows than the JSON");
    }
}

/// The hand-built history of Form 06's test (thirty dossiers at a commune
/// and its unit, October and November 2026): the commune's comparison by
/// agency has its unit's line equal to the unit's own reports and a total
/// equal to the commune's; by month, each month equals that month's reports.
async fn comparisons_equal_the_single_reports_over_the_hand_built_history(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    history(&app, &fixture).await;
    more_history(&app, &fixture).await;
    // The reports are read on 1 December, the two months over.
    app.clock.set(crate::helpers::vn("2026-12-01 08:00"));
    let reader = Reader {
        app: &app,
        token: fixture.token(Who::Auditor).unwrap_or_default().to_owned(),
    };
    let (own, unit) = (fixture.own.id, fixture.child.id);
    let period = "from=2026-10-01&to=2026-11-30";

    let by_agency = Compared::read(&reader, &format!("{period}&agency_id={own}"), "").await;
    assert_eq!(
        by_agency.keys(),
        std::slice::from_ref(&fixture.child.identifier)
    );
    let unit_line = by_agency.lines(&fixture.child.identifier);
    // The unit's line is not empty: its dossiers are counted there.
    assert!(columns(unit_line.0)[0] > 0, "{}", unit_line.0);
    check_line(&reader, &format!("{period}&agency_id={unit}"), unit_line).await;
    check_line(
        &reader,
        &format!("{period}&agency_id={own}"),
        by_agency.totals(),
    )
    .await;
    assert_eq!(by_agency.indicators["rank_by"], "points");
    assert_eq!(by_agency.indicators["lines"][0]["rank"], 1);

    let by_month = Compared::read(&reader, &format!("{period}&agency_id={own}&by=month"), "").await;
    assert_eq!(by_month.keys(), ["2026-10", "2026-11"]);
    assert!(by_month.form06["total"].is_null());
    for month in ["2026-10", "2026-11"] {
        let lines = by_month.lines(month);
        check_line(&reader, &format!("period={month}&agency_id={own}"), lines).await;
    }
    // October's in-progress dossiers are November's carried-over ones.
    let october = columns(by_month.lines("2026-10").0);
    let november = columns(by_month.lines("2026-11").0);
    assert_eq!(october[8], november[3]);

    // A period without dossiers: nothing is ranked by points (the
    // catalogue's points alone do not rank a line), and no sum is -0.
    let empty = reader
        .get(&format!(
            "/reports/indicators/compare?period=2022-01&agency_id={own}"
        ))
        .await;
    assert_eq!(empty["lines"][0]["rank"], Value::Null, "{empty}");
    let empty = reader
        .get(&format!(
            "/reports/indicators/compare?period=2022-01&agency_id={own}&by=month"
        ))
        .await;
    assert_eq!(empty["lines"][0]["points"].to_string(), "0.0", "{empty}");

    // Out of reach, wrong parameters.
    let sibling = format!(
        "/api/v1/reports/indicators/compare?{period}&agency_id={}",
        fixture.sibling.id
    );
    problem(app.get_as(&sibling, &reader.token).await, 404, "not_found").await;
    for (query, field) in [
        ("by=week", "by"),
        ("by=month&rank_by=points", "rank_by"),
        ("rank_by=publicity", "rank_by"),
        ("rank_by=nonsense", "rank_by"),
    ] {
        let path = format!("/api/v1/reports/indicators/compare?{period}&{query}");
        let body = problem(
            app.get_as(&path, &reader.token).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
    let path = format!("/api/v1/reports/kstt-06/compare?{period}&rank_by=points");
    problem(
        app.get_as(&path, &reader.token).await,
        422,
        "validation_failed",
    )
    .await;
    let path = "/api/v1/reports/kstt-06/compare?from=2020-01-01&to=2026-01-31&by=month";
    let body = problem(
        app.get_as(path, &reader.token).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "period");
    let clerk = fixture.token(Who::Clerk).unwrap_or_default();
    let path = format!("/api/v1/reports/online-uptake/compare?{period}");
    problem(app.get_as(&path, clerk).await, 403, "forbidden").await;
}

/// A generated province (four communes, three months): each commune's line
/// equals its own reports, each month (the first and last clipped to the
/// period) equals that month's; the ranking follows the ranked value.
async fn comparisons_equal_the_single_reports_over_a_generated_province(app: TestApp) {
    let (token, province) = generated_province(&app, &["11"], "4", "3").await;
    let reader = Reader { app: &app, token };
    let period = "from=2026-08-10&to=2026-10-20";

    let query = format!("{period}&agency_id={}", province.id);
    let by_agency = Compared::read(&reader, &query, "&rank_by=online_filing").await;
    let communes = by_agency.keys();
    assert_eq!(communes.len(), 4, "{communes:?}");
    for commune in &communes {
        let id = app
            .db
            .run(|conn| motcua_persistence::agencies::find_by_identifier(conn, commune))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no agency {commune}"))
            .id;
        let lines = by_agency.lines(commune);
        check_line(&reader, &format!("{period}&agency_id={id}"), lines).await;
    }
    check_line(
        &reader,
        &format!("{period}&agency_id={}", province.id),
        by_agency.totals(),
    )
    .await;
    // Ranked by the online-filing ratio, highest first: each line's place is
    // one more than the number of lines with a higher ratio.
    let ranked = by_agency.indicators["lines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ratio = |line: &Value| {
        line["indicators"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["key"] == "online_filing")
            .and_then(|i| i["ratio"].as_f64())
    };
    for (place, line) in ranked.iter().enumerate() {
        let Some(own) = ratio(line) else {
            panic!("a generated commune has new dossiers: {line}");
        };
        let higher = ranked
            .iter()
            .filter(|other| ratio(other).is_some_and(|r| r > own))
            .count();
        assert_eq!(line["rank"].as_u64(), Some(higher as u64 + 1), "{line}");
        if let Some(next) = ranked.get(place + 1) {
            assert!(ratio(next) <= Some(own), "ranked in order");
        }
    }
    // Ranked by points (the default): the same rule on the line's points.
    let by_points = reader
        .get(&format!(
            "/reports/indicators/compare?{period}&agency_id={}",
            province.id
        ))
        .await;
    let lines = by_points["lines"].as_array().cloned().unwrap_or_default();
    for line in &lines {
        let own = line["points"].as_f64().unwrap_or(f64::NAN);
        let higher = lines
            .iter()
            .filter(|other| other["points"].as_f64().is_some_and(|p| p > own))
            .count();
        assert_eq!(line["rank"].as_u64(), Some(higher as u64 + 1), "{line}");
    }

    let query = format!("{period}&agency_id={}&by=month", province.id);
    let by_month = Compared::read(&reader, &query, "").await;
    assert_eq!(by_month.keys(), ["2026-08", "2026-09", "2026-10"]);
    for (month, scope) in [
        ("2026-08", "from=2026-08-10&to=2026-08-31"),
        ("2026-09", "period=2026-09"),
        ("2026-10", "from=2026-10-01&to=2026-10-20"),
    ] {
        let lines = by_month.lines(month);
        check_line(
            &reader,
            &format!("{scope}&agency_id={}", province.id),
            lines,
        )
        .await;
    }
}

api_tests!(
    comparisons_equal_the_single_reports_over_the_hand_built_history,
    comparisons_equal_the_single_reports_over_a_generated_province
);
