//! The audit report a People's Council reads (`GET /reports/audit`): every
//! figure and chart names its rule, the figures are the JSON reports', the
//! lists are the overdue and late-without-apology reports'; printed by
//! headless Chromium it is A4 with every chart inside the page's width.
//! The print is skipped with a notice where Chromium is absent (`CI=true`
//! makes that a failure; `.ci/run` installs it).

use serde_json::Value;

use crate::fixture::{Fixture, Who};
use crate::helpers::{TestApp, json, problem, vn};
use crate::printing::{chromium, print};
use crate::reports::{history, more_history};

/// A4 portrait in PDF points (210 × 297 mm).
const A4_POINTS: (f64, f64) = (595.28, 841.89);
/// The page's width inside its 15 mm margins, in CSS pixels (180 mm).
const PRINTED_WIDTH_PX: u32 = 680;

/// The HTML from `id="…"` to the next element with an id.
fn part<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in the report"));
    let rest = &html[start + marker.len()..];
    let end = rest.find(" id=\"").unwrap_or(rest.len());
    &rest[..end]
}

/// The `data-value` of a figure.
fn value<'a>(html: &'a str, id: &str) -> &'a str {
    let figure = part(html, id);
    let start = figure
        .find("data-value=\"")
        .map(|i| i + "data-value=\"".len())
        .unwrap_or_else(|| panic!("{id} has no value"));
    let rest = &figure[start..];
    &rest[..rest.find('"').unwrap_or(0)]
}

/// The indicator `key`'s ratio in an indicators report.
fn ratio(report: &Value, key: &str) -> Option<f64> {
    report["indicators"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["key"] == key)
        .and_then(|i| i["ratio"].as_f64())
}

async fn the_audit_report_names_every_rule_and_prints_on_a4(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    history(&app, &fixture).await;
    more_history(&app, &fixture).await;
    app.clock.set(vn("2026-12-01 08:00"));
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    let own = fixture.own.id;
    let scope = format!("from=2026-10-01&to=2026-11-30&agency_id={own}");
    let response = app
        .get_as(&format!("/api/v1/reports/audit?{scope}"), &auditor)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert!(header("content-security-policy").contains("default-src 'none'"));
    let html = response.text().await.unwrap_or_default();
    assert!(!html.contains("<script"), "no script");
    assert!(
        !html.contains("http:") && !html.contains("https:"),
        "nothing fetched"
    );

    // Every figure, chart, table and list says how it was counted.
    for id in [
        "online-share",
        "on-time",
        "points",
        "rank",
        "offer",
        "chart-online",
        "chart-on-time",
        "chart-new",
        "indicators",
        "overdue",
        "late",
    ] {
        let part = part(&html, id);
        let rule = part
            .split("<p class=\"rule\">")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap_or_default();
        assert!(rule.chars().count() > 60, "{id} names its rule: {rule:?}");
    }
    // The three charts are SVG drawn here, one bar label per month.
    assert_eq!(html.matches("<svg").count(), 3);
    for chart in ["chart-online", "chart-on-time", "chart-new"] {
        let svg = part(&html, chart);
        assert!(
            svg.contains(">10/2026<") && svg.contains(">11/2026<"),
            "{chart}"
        );
    }

    // The figures are the JSON reports'.
    let get = |path: String| {
        let (app, auditor) = (&app, auditor.clone());
        async move {
            json(
                app.get_as(&format!("/api/v1/reports/{path}"), &auditor)
                    .await,
                "application/json",
            )
            .await
        }
    };
    let indicators = get(format!("indicators?{scope}")).await;
    let online = ratio(&indicators, "online_filing").unwrap_or(f64::NAN);
    assert_eq!(value(&html, "online-share"), format!("{online:.4}"));
    assert_eq!(
        value(&html, "points"),
        format!("{:.2}", indicators["points"].as_f64().unwrap_or(f64::NAN))
    );
    let form06 = get(format!("kstt-06?{scope}")).await;
    let total = &form06["total"];
    let resolved = total["resolved"].as_u64().unwrap_or(0);
    assert!(resolved > 0);
    let on_time = (total["early"].as_u64().unwrap_or(0) + total["on_time"].as_u64().unwrap_or(0))
        as f64
        / resolved as f64;
    assert_eq!(value(&html, "on-time"), format!("{on_time:.4}"));
    // The commune against the province's communes with dossiers to
    // measure (the other one has none, and is not ranked): first, of one.
    assert_eq!(value(&html, "rank"), "1");
    assert!(part(&html, "rank").contains("1 / 1"));
    // Each month's online share is the indicators report of that month.
    for month in ["2026-10", "2026-11"] {
        let report = get(format!("indicators?period={month}&agency_id={own}")).await;
        let share = ratio(&report, "online_filing")
            .map_or("—".to_owned(), |r| format!("{:.0}%", r * 100.0));
        let label = format!("{}/{}", &month[5..], &month[..4]);
        assert!(
            part(&html, "chart-online").contains(&format!("<title>{label} {share}</title>")),
            "{month}: {share}"
        );
    }
    // The lists are the overdue report's overdue lines at the period's end
    // and the late report's results without an apology.
    let overdue = get(format!(
        "overdue?agency_id={own}&as_of=2026-11-30T17:00:00Z&due_within_hours=0"
    ))
    .await;
    let overdue: Vec<&str> = overdue
        .as_array()
        .into_iter()
        .flatten()
        .filter(|line| line["status"] == "overdue")
        .filter_map(|line| line["code"].as_str())
        .collect();
    let listed = part(&html, "overdue");
    assert!(!overdue.is_empty());
    assert_eq!(listed.matches("<tr data-dossier>").count(), overdue.len());
    for code in &overdue {
        assert!(listed.contains(code), "{code} listed overdue");
    }
    let late = get(format!("late?{scope}&without_apology=true")).await;
    let late: Vec<&str> = late
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|line| line["code"].as_str())
        .collect();
    let listed = part(&html, "late");
    assert!(!late.is_empty());
    assert_eq!(listed.matches("<tr data-dossier>").count(), late.len());
    for code in &late {
        assert!(listed.contains(code), "{code} listed late without apology");
    }

    // Not for clerks; another commune is out of reach; a bad format is 422.
    let clerk = fixture.token(Who::Clerk).unwrap_or_default();
    let path = format!("/api/v1/reports/audit?{scope}");
    problem(app.get_as(&path, clerk).await, 403, "forbidden").await;
    let sibling = format!(
        "/api/v1/reports/audit?period=2026-11&agency_id={}",
        fixture.sibling.id
    );
    problem(app.get_as(&sibling, &auditor).await, 404, "not_found").await;
    let body = problem(
        app.get_as(&format!("{path}&format=docx"), &auditor).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "format");

    // Printed: A4 portrait, every chart inside the printed width.
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs Chromium to print the audit report (apt install chromium)"
        );
        eprintln!("*** printing the audit report SKIPPED: no chromium on PATH");
        // Without Chromium the server says it cannot print.
        let answer = app.get_as(&format!("{path}&format=pdf"), &auditor).await;
        problem(answer, 501, "pdf_unavailable").await;
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (pages, (width, height)) = print(&chromium, dir.path(), "audit", &html);
    assert!(pages >= 1);
    assert!(
        (width - A4_POINTS.0).abs() < 2.0 && (height - A4_POINTS.1).abs() < 2.0,
        "A4 portrait: {width} × {height} pt"
    );
    // Laid out at the printed width, each chart lies inside it and is
    // shorter than a page (and kept whole: `break-inside: avoid`).
    let probe = html.replace(
        "</body>",
        "<script>const w = document.documentElement.clientWidth;\
         document.body.setAttribute('data-fit', [...document.querySelectorAll('svg')]\
         .map(s => { const r = s.getBoundingClientRect();\
         return r.left >= 0 && r.right <= w + 0.5 && r.height > 50 && r.height < 1000\
         ? 'inside' : 'clipped ' + r.left + '-' + r.right + ' of ' + w; }).join(','));\
         </script></body>",
    );
    let page = dir.path().join("probe.html");
    std::fs::write(&page, probe).unwrap_or_else(|e| panic!("{e}"));
    let output = std::process::Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--window-size={PRINTED_WIDTH_PX},1000"))
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("probe").display()
        ))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("data-fit=\"inside,inside,inside\""),
        "{}",
        dom.split("data-fit=")
            .nth(1)
            .unwrap_or("no data-fit")
            .chars()
            .take(200)
            .collect::<String>()
    );
    // The server prints the same page to PDF itself, one at a time; twelve
    // at once: four are printed or wait, the others are told to come back.
    let pdf = format!("{path}&format=pdf");
    let answers = futures_util::future::join_all((0..12).map(|_| async {
        let answer = app.get_as(&pdf, &auditor).await;
        let status = answer.status().as_u16();
        (status, answer.bytes().await.unwrap_or_default())
    }))
    .await;
    let printed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .collect();
    let refused = answers.iter().filter(|(status, _)| *status == 429).count();
    assert!(
        (1..=4).contains(&printed.len()) && printed.len() + refused == 12,
        "{:?}",
        answers.iter().map(|(status, _)| status).collect::<Vec<_>>()
    );
    assert!(printed.iter().all(|(_, bytes)| bytes.starts_with(b"%PDF")));
    // Once they are done, the printer takes the next.
    let answer = app.get_as(&pdf, &auditor).await;
    assert_eq!(answer.status().as_u16(), 200);
}

api_tests!(the_audit_report_names_every_rule_and_prints_on_a4);
