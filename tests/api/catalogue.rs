//! The procedure catalogue: versions by date, public reads, admin writes.

use reqwest::Method;
use serde_json::json;

use crate::fixture::{Fixture, Who};
use crate::helpers::{TestApp, json, problem, vn};

fn entry(name: &str, days: u32, from: &str) -> serde_json::Value {
    json!({
        "code": "9.100001", "name": name, "field": {"code": "T", "name": "Thử"},
        "online_kind": "partial", "time_limit": {"amount": days, "unit": "working_days"},
        "on_supplement": "pause", "fee": {"kind": "fixed", "amount": 20000, "online_amount": 10000},
        "documents": [{"code": "TK", "name": "Tờ khai", "mandatory": true}, {"code": "CM", "name": "Giấy tờ", "mandatory": false}],
        "deliveries": ["desk"], "effective_from": from,
    })
}

async fn versions_are_chosen_by_date_and_dossiers_keep_theirs(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let admin = fixture.token(Who::Admin).unwrap_or_default().to_owned();
    let first = app
        .post_json(
            "/api/v1/procedures",
            Some(&admin),
            &entry("Thủ tục thử", 3, "2026-01-01"),
        )
        .await;
    assert_eq!(json(first, "application/json").await["version"], 1);
    // A dossier received under version 1…
    let dossier = fixture
        .intake(&app, "clerk.a", "9.100001", json!({"kind": "accept"}))
        .await;
    assert_eq!(dossier["procedure_version"], 1);
    // …keeps it when version 2 (5 days) comes into force.
    let second = app
        .send(
            Method::PUT,
            "/api/v1/procedures/9.100001",
            Some(&admin),
            Some(&entry("Thủ tục thử (sửa đổi)", 5, "2026-12-01")),
        )
        .await;
    let second = json(second, "application/json").await;
    assert_eq!(
        (
            second["version"].as_i64(),
            second["effective_from"].as_str()
        ),
        (Some(2), Some("2026-12-01"))
    );

    let at = |day: &str| {
        let app = &app;
        let path = format!("/api/v1/procedures/9.100001?at={day}");
        async move { json(app.get(&path).await, "application/json").await }
    };
    assert_eq!(at("2026-11-30").await["version"], 1);
    assert_eq!(at("2026-11-30").await["effective_to"], "2026-11-30");
    assert_eq!(at("2026-12-01").await["version"], 2);
    problem(
        app.get("/api/v1/procedures/9.100001?at=2025-12-31").await,
        404,
        "not_found",
    )
    .await;
    app.clock.set(vn("2026-12-02 09:00"));
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let kept = json(
        app.get_as(
            &format!(
                "/api/v1/dossiers/{}",
                dossier["id"].as_str().unwrap_or_default()
            ),
            &clerk,
        )
        .await,
        "application/json",
    )
    .await;
    assert_eq!(kept["procedure_version"], 1);
    assert_eq!(kept["legal_clock"]["budget_seconds"], 3 * 8 * 3600);

    // A new version must start after the current one.
    let early = app
        .send(
            Method::PUT,
            "/api/v1/procedures/9.100001",
            Some(&admin),
            Some(&entry("x", 2, "2026-06-01")),
        )
        .await;
    problem(early, 409, "version_conflict").await;
    let mismatched = app
        .send(
            Method::PUT,
            "/api/v1/procedures/9.999998",
            Some(&admin),
            Some(&entry("x", 2, "2027-01-01")),
        )
        .await;
    problem(mismatched, 422, "validation_failed").await;
    let mut bad = entry("x", 1, "2027-01-01");
    bad["steps"] = json!([{"name": "Thẩm định", "role": "officer", "hours": 40}]);
    bad["code"] = json!("9.100002");
    let too_long = problem(
        app.post_json("/api/v1/procedures", Some(&admin), &bad)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(too_long["errors"][0]["field"], "steps");
}

async fn the_public_catalogue_filters(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let list = |query: &str| {
        let app = &app;
        let path = format!("/api/v1/procedures{query}");
        async move {
            let body = json(app.get(&path).await, "application/json").await;
            let mut codes: Vec<String> = body
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["code"].as_str().map(str::to_owned))
                .collect();
            codes.sort();
            codes
        }
    };
    assert_eq!(list("").await.len(), 12);
    assert_eq!(
        list("?field=CTRU").await,
        ["1.002755", "1.004194", "1.004222"]
    );
    assert_eq!(
        list("?online_kind=partial").await,
        ["1.000894", "1.001022", "1.004837", "2.000884"]
    );
    assert_eq!(list("?q=khai%20sinh").await, ["1.001193"]);
    assert_eq!(list("?q=1.0042").await, ["1.004222"]);
    let one = json(
        app.get("/api/v1/procedures/1.004194").await,
        "application/json",
    )
    .await;
    assert_eq!(
        (one["online_kind"].as_str(), one["legacy_level"].as_u64()),
        (Some("full"), Some(4))
    );
    assert_eq!(
        one["definition"]["time_limit"],
        json!({"amount": 3, "unit": "working_days"})
    );
}

/// "0,5 ngày làm việc": a procedure may give half a working day (or a day
/// and a half); the clock grants four working hours per half, the catalogue
/// writes the amount back as given, and the receipt prints it as the law
/// does. Halves are for working days only.
async fn half_a_working_day_is_a_time_limit(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let admin = fixture.token(Who::Admin).unwrap_or_default().to_owned();
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let mut half = entry("Thủ tục nửa ngày", 1, "2026-01-01");
    half["time_limit"] = json!({"amount": 0.5, "unit": "working_days"});
    let created = app
        .post_json("/api/v1/procedures", Some(&admin), &half)
        .await;
    assert_eq!(
        json(created, "application/json").await["definition"]["time_limit"],
        json!({"amount": 0.5, "unit": "working_days"})
    );
    // Accepted Monday 23/11 10:00: 1 h 30 before lunch, 2 h 30 after: 15:30.
    app.clock.set(vn("2026-11-23 10:00"));
    let dossier = fixture
        .intake(&app, "clerk.a", "9.100001", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let read = json(
        app.get_as(&format!("/api/v1/dossiers/{id}"), &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(read["legal_clock"]["budget_seconds"], 4 * 3600, "{read}");
    assert_eq!(
        read["legal_clock"]["due_at"].as_str(),
        Some("2026-11-23T08:30:00Z"),
        "{read}"
    );
    let page = app
        .get_as(
            &format!("/api/v1/dossiers/{id}/forms/receipt?format=html"),
            &clerk,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(page.contains("0,5 ngày làm việc"), "{page}");
    // Only working days take halves; nothing finer than a half.
    for (limit, says) in [
        (
            json!({"amount": 1.5, "unit": "working_hours"}),
            "whole numbers",
        ),
        (
            json!({"amount": 0.5, "unit": "calendar_days"}),
            "whole numbers",
        ),
        (json!({"amount": 0.25, "unit": "working_days"}), "a half"),
        (json!({"amount": 0, "unit": "working_days"}), "at least"),
    ] {
        let mut bad = entry("x", 1, "2027-01-01");
        bad["code"] = json!("9.100003");
        bad["time_limit"] = limit.clone();
        let answer = problem(
            app.post_json("/api/v1/procedures", Some(&admin), &bad)
                .await,
            422,
            "validation_failed",
        )
        .await;
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says) && !message.contains(" at line "),
            "{limit}: {answer}"
        );
    }
}

api_tests!(
    versions_are_chosen_by_date_and_dossiers_keep_theirs,
    the_public_catalogue_filters,
    half_a_working_day_is_a_time_limit
);
