//! Every form, printed by headless Chromium from its HTML page, is one A5
//! page; the tracking book is A4 landscape. Skipped with a notice where no Chromium is installed (`chromium`
//! on PATH, or `MOTCUA_TEST_CHROMIUM`); with `CI=true` a missing Chromium
//! fails the test instead (`.ci/run` installs the Debian package).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::fixture::{Fixture, Who};
use crate::helpers::{TestApp, vn};

/// A5 in PDF points (148 × 210 mm), and how far Chromium's rounding may stray.
const A5_POINTS: (f64, f64) = (419.53, 595.28);
/// A4 landscape (297 × 210 mm), for the tracking book.
const A4_LANDSCAPE_POINTS: (f64, f64) = (841.89, 595.28);
const TOLERANCE: f64 = 2.0;

pub(crate) fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOTCUA_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(PathBuf::from)
}

/// Prints `html` to PDF; returns the page count and the first page's size.
pub(crate) fn print(chromium: &Path, dir: &Path, name: &str, html: &str) -> (usize, (f64, f64)) {
    let page = dir.join(format!("{name}.html"));
    let pdf = dir.join(format!("{name}.pdf"));
    std::fs::write(&page, html).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", chromium.display()));
    let bytes = std::fs::read(&pdf).unwrap_or_else(|e| {
        panic!(
            "{name}: no PDF ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let text = String::from_utf8_lossy(&bytes);
    // The page tree's `/Count`, and the pages' `/MediaBox [0 0 w h]`
    // (Chromium writes both as plain text).
    let count = text
        .split("/Count ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<usize>().ok())
        })
        .max()
        .unwrap_or(0);
    let size = text
        .split("/MediaBox [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .map(|numbers| {
            let n: Vec<f64> = numbers
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            (
                n.get(2).copied().unwrap_or(0.0),
                n.get(3).copied().unwrap_or(0.0),
            )
        })
        .unwrap_or((0.0, 0.0));
    (count, size)
}

/// Each form of a dossier with a hand-over, an apology and a supplement
/// request and answer, of a refused and of a stopped one.
async fn every_form_prints_on_one_a5_page(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let token = |who| fixture.token(who).unwrap_or_default().to_owned();
    let (clerk, officer, leader) = (token(Who::Clerk), token(Who::Officer), token(Who::Leader));
    let id = |dossier: &serde_json::Value| dossier["id"].as_str().unwrap_or_default().to_owned();
    let ok = |(status, body): (u16, serde_json::Value)| assert_eq!(status, 200, "{body}");

    // One dossier through a hand-over, an apology, a supplement request.
    let main = id(&fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await);
    app.clock.set(vn("2026-11-02 10:00"));
    ok(app
        .act(
            &clerk,
            &main,
            "handover",
            json!({"to_step": "Thẩm định", "note": "chuyển thẩm định"}),
        )
        .await);
    ok(app
        .act(
            &leader,
            &main,
            "apology",
            json!({"reason": "chậm xác minh với cơ quan khác", "new_appointment_at": "2026-11-12T03:00:00Z"}),
        )
        .await);
    ok(app
        .act(
            &officer,
            &main,
            "request-supplement",
            json!({"reason": "Giấy tờ chứng minh chỗ ở bị mờ", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh chỗ ở hợp pháp", "problem": "ảnh mờ, không đọc được số nhà"}]}),
        )
        .await);
    // The citizen brings the clearer copy: the receipt lists the
    // document once, as supplied, not beside the one it replaces.
    ok(app
        .act(
            &clerk,
            &main,
            "supplement",
            json!({"documents": [{"requirement_code": "CM", "copies": 1}]}),
        )
        .await);
    let receipt: serde_json::Value = app
        .get_as(&format!("/api/v1/dossiers/{main}/forms/receipt"), &clerk)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(
        receipt["tables"][0]["rows"],
        json!([
            [
                "Tờ khai thay đổi thông tin cư trú",
                "01 bản chính, Bản điện tử"
            ],
            [
                "Giấy tờ chứng minh chỗ ở hợp pháp (đã bổ sung)",
                "01 bản sao"
            ]
        ])
    );
    let refused = id(&fixture
        .intake(
            &app,
            "clerk.a",
            "1.004194",
            json!({"kind": "refuse", "reason": "không thuộc thẩm quyền của xã", "legal_basis": "Khoản 2 Điều 9"}),
        )
        .await);
    let stopped = id(&fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await);
    ok(app
        .act(
            &leader,
            &stopped,
            "stop",
            json!({"reason": "người nộp đề nghị dừng"}),
        )
        .await);

    let Some(chromium) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs Chromium to print the forms (apt install chromium)"
        );
        eprintln!("*** printing forms SKIPPED: no chromium on PATH (apt install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (dossier, form) in [
        (&main, "receipt"),
        (&main, "control_slip"),
        (&main, "apology"),
        (&main, "supplement_request"),
        (&refused, "refusal"),
        (&stopped, "stop_notice"),
    ] {
        let response = app
            .get_as(
                &format!("/api/v1/dossiers/{dossier}/forms/{form}?format=html"),
                &clerk,
            )
            .await;
        assert_eq!(response.status().as_u16(), 200, "{form}");
        let html = response.text().await.unwrap_or_default();
        let (pages, (width, height)) = print(&chromium, dir.path(), form, &html);
        assert_eq!(pages, 1, "{form} prints on one page");
        assert!(
            (width - A5_POINTS.0).abs() < TOLERANCE && (height - A5_POINTS.1).abs() < TOLERANCE,
            "{form} is A5: {width} × {height} pt"
        );
    }
    // The tracking book of the month: A4 landscape.
    let response = app
        .get_as(
            "/api/v1/reports/tracking-book?period=2026-11&format=html",
            &clerk,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200, "tracking book");
    let html = response.text().await.unwrap_or_default();
    let (pages, (width, height)) = print(&chromium, dir.path(), "tracking_book", &html);
    assert_eq!(pages, 1, "the month's few lines print on one page");
    assert!(
        (width - A4_LANDSCAPE_POINTS.0).abs() < TOLERANCE
            && (height - A4_LANDSCAPE_POINTS.1).abs() < TOLERANCE,
        "the tracking book is A4 landscape: {width} × {height} pt"
    );
}

api_tests!(every_form_prints_on_one_a5_page);
