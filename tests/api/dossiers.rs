//! The dossier lifecycle end to end, with the clock set to known instants so
//! that due times are checked against hand-computed values.

use motcua_persistence::{DossierId, FileId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who, online_filing};
use crate::helpers::{TestApp, json, problem, vn, vn_of};

/// Posts an action with the dossier's current version; returns (status, body).
async fn act(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> (u16, Value) {
    app.act(token, id, action, body).await
}

fn version_of(app: &TestApp, id: &str) -> i32 {
    let id: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| motcua_persistence::dossiers::find(conn, id))
        .map(|d| d.version)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn event_count(app: &TestApp, id: &str) -> usize {
    let id: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| motcua_persistence::dossiers::events(conn, id))
        .map(|e| e.len())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn token(fixture: &Fixture, who: Who) -> String {
    fixture.token(who).unwrap_or_default().to_owned()
}

/// A 3-working-day procedure with the given supplement mode and extension allowance.
async fn procedure(app: &TestApp, fixture: &Fixture, code: &str, mode: &str, extension_days: u32) {
    let entry = json!({
        "code": code, "name": "Thủ tục thử nghiệm", "field": {"code": "T", "name": "Thử"},
        "online_kind": "full", "time_limit": {"amount": 3, "unit": "working_days"},
        "on_supplement": mode, "verification_extension_days": extension_days, "fee": {"kind": "exempt"},
        "documents": [{"code": "TK", "name": "Tờ khai", "mandatory": true}, {"code": "CM", "name": "Giấy tờ", "mandatory": false}],
        "deliveries": ["desk", "post", "online"], "effective_from": "2026-01-01",
    });
    let response = app
        .post_json(
            "/api/v1/procedures",
            Some(&token(fixture, Who::Admin)),
            &entry,
        )
        .await;
    assert_eq!(response.status().as_u16(), 201);
}

async fn desk_acceptance_sets_the_legal_due_time_and_a_gapless_code(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let first = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["portal_status"], 2);
    assert_eq!(first["code"], "000.01.00.H01-261102-0001");
    assert_eq!(vn_of(&first["legal_clock"]["due_at"]), "2026-11-05 09:30");
    assert_eq!(first["legal_clock"]["state"], "within_deadline");
    let second = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    assert_eq!(second["code"], "000.01.00.H01-261102-0002");
}

async fn a_processing_supplement_in_pause_mode_moves_the_due_time_by_the_paused_time(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    procedure(&app, &fixture, "9.000001", "pause", 0).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "9.000001", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let (clerk, officer) = (token(&fixture, Who::Clerk), token(&fixture, Who::Officer));
    assert_eq!(
        act(
            &app,
            &clerk,
            &id,
            "handover",
            json!({"to_step": "Thẩm định"})
        )
        .await
        .0,
        200
    );
    app.clock.set(vn("2026-11-03 14:00"));
    let (status, paused) = act(
        &app,
        &officer,
        &id,
        "request-supplement",
        json!({"reason": "thiếu giấy tờ", "items": [{"requirement_code": "CM", "name": "CM", "problem": "mờ"}]}),
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["status"], "supplement_requested");
    assert_eq!(paused["legal_clock"]["paused"], true);
    app.clock.set(vn("2026-11-09 08:30"));
    let (status, resumed) = act(
        &app,
        &clerk,
        &id,
        "supplement",
        json!({"documents": [{"requirement_code": "CM", "copies": 1}]}),
    )
    .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"], "in_processing");
    assert_eq!(vn_of(&resumed["legal_clock"]["due_at"]), "2026-11-10 15:00");
}

async fn a_processing_supplement_in_restart_mode_restarts_the_budget(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    procedure(&app, &fixture, "9.000002", "restart", 0).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "9.000002", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let (clerk, officer) = (token(&fixture, Who::Clerk), token(&fixture, Who::Officer));
    app.clock.set(vn("2026-11-03 14:00"));
    assert_eq!(
        act(
            &app,
            &officer,
            &id,
            "request-supplement",
            json!({"reason": "thiếu", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}]})
        )
        .await
        .0,
        200
    );
    app.clock.set(vn("2026-11-09 08:30"));
    let (status, restarted) = act(
        &app,
        &clerk,
        &id,
        "supplement",
        json!({"documents": [], "note": "đã bổ sung"}),
    )
    .await;
    assert_eq!(status, 200, "{restarted}");
    assert_eq!(
        vn_of(&restarted["legal_clock"]["due_at"]),
        "2026-11-12 08:30"
    );
}

async fn an_online_filing_goes_through_an_intake_supplement_to_acceptance(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    app.clock.set(vn("2026-11-02 10:00"));
    let id = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let clerk = token(&fixture, Who::Clerk);
    let filed = json(
        app.get_as(&format!("/api/v1/dossiers/{id}"), &citizen)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(filed["status"], "submitted");
    assert_eq!(vn_of(&filed["ack_due_at"]), "2026-11-03 10:00");
    assert!(filed["legal_clock"].is_null());

    app.clock.set(vn("2026-11-02 14:00"));
    let (status, asked) = act(
        &app,
        &clerk,
        &id,
        "request-supplement",
        json!({"reason": "ảnh mờ", "items": [{"requirement_code": "CM", "name": "CM", "problem": "mờ"}]}),
    )
    .await;
    assert_eq!(status, 200, "{asked}");
    assert_eq!(asked["status"], "intake_supplement");
    assert_eq!(asked["acknowledged_in_time"], true);

    app.clock.set(vn("2026-11-03 09:00"));
    let (status, supplied) = act(
        &app,
        &citizen,
        &id,
        "supplement",
        json!({"documents": [{"requirement_code": "CM", "file_id": app.upload_pdf(&citizen).await}]}),
    )
    .await;
    assert_eq!(status, 200, "{supplied}");
    assert_eq!(supplied["status"], "submitted");

    app.clock.set(vn("2026-11-03 10:00"));
    let (status, accepted) = act(&app, &clerk, &id, "accept", json!({})).await;
    assert_eq!(status, 200, "{accepted}");
    // The clock starts when the complete dossier arrived (Tuesday 09:00), not at the clerk's check.
    assert_eq!(
        vn_of(&accepted["legal_clock"]["received_at"]),
        "2026-11-03 09:00"
    );
    assert_eq!(
        vn_of(&accepted["legal_clock"]["due_at"]),
        "2026-11-06 09:00"
    );
}

async fn a_refused_dossier_takes_no_further_action_and_nothing_changes(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let refused = fixture
        .intake(
            &app,
            "clerk.a",
            "1.004194",
            json!({"kind": "refuse", "reason": "không thuộc thẩm quyền", "legal_basis": "Điều 9"}),
        )
        .await;
    assert_eq!(refused["status"], "refused");
    assert!(refused["legal_clock"].is_null());
    let id = refused["id"].as_str().unwrap_or_default().to_owned();
    let (version, events) = (version_of(&app, &id), event_count(&app, &id));
    let clerk = token(&fixture, Who::Clerk);
    for action in ["accept", "handover", "return", "refuse"] {
        let (status, body) = act(
            &app,
            &clerk,
            &id,
            action,
            json!({"reason": "x", "legal_basis": "y", "to_step": "z", "delivery": "desk"}),
        )
        .await;
        assert_eq!(status, 409, "{action}: {body}");
        assert_eq!(body["code"], "illegal_transition");
    }
    assert_eq!(
        (version_of(&app, &id), event_count(&app, &id)),
        (version, events),
        "nothing changed"
    );
}

async fn a_stale_version_is_412_and_changes_nothing(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default();
    let clerk = token(&fixture, Who::Clerk);
    let stale = app
        .send(
            Method::POST,
            &format!("/api/v1/dossiers/{id}/handover"),
            Some(&clerk),
            Some(&json!({"version": 7, "to_step": "x"})),
        )
        .await;
    problem(stale, 412, "stale_version").await;
    let missing = app
        .send(
            Method::POST,
            &format!("/api/v1/dossiers/{id}/handover"),
            Some(&clerk),
            Some(&json!({"to_step": "x"})),
        )
        .await;
    problem(missing, 422, "validation_failed").await;
    // Two versions that disagree are refused, whichever is current.
    let disagree = app
        .client
        .post(app.url(&format!("/api/v1/dossiers/{id}/handover")))
        .bearer_auth(&clerk)
        .header("if-match", "\"1\"")
        .json(&json!({"to_step": "Thẩm định", "version": 2}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = json(disagree, "application/problem+json").await;
    assert_eq!(body["errors"][0]["field"], "version", "{body}");
    assert_eq!(event_count(&app, id), 1);
    let with_header = app
        .client
        .post(app.url(&format!("/api/v1/dossiers/{id}/handover")))
        .bearer_auth(&clerk)
        .header("if-match", "\"1\"")
        .json(&json!({"to_step": "Thẩm định"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(with_header.status().as_u16(), 200);
    assert_eq!(
        with_header
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok()),
        Some("\"2\"")
    );
    assert_eq!(event_count(&app, id), 2);
}

async fn extensions_apologies_results_returns_and_ratings_follow_the_rules(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    procedure(&app, &fixture, "9.000003", "pause", 5).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let (clerk, officer, leader) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Leader),
    );
    let dossier = fixture
        .intake(&app, "clerk.a", "9.000003", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(vn_of(&dossier["legal_clock"]["due_at"]), "2026-11-05 09:30");
    // Another, received at the same time, left alone until it is late.
    let late = fixture
        .intake(&app, "clerk.a", "9.000003", json!({"kind": "accept"}))
        .await;
    let late = late["id"].as_str().unwrap_or_default().to_owned();

    let (status, extended) = act(
        &app,
        &officer,
        &id,
        "extend-verification",
        json!({"working_days": 3, "reason": "xác minh"}),
    )
    .await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(
        vn_of(&extended["legal_clock"]["due_at"]),
        "2026-11-10 09:30"
    );
    let (status, beyond) = act(
        &app,
        &officer,
        &id,
        "extend-verification",
        json!({"working_days": 3, "reason": "thêm"}),
    )
    .await;
    assert_eq!(
        (status, beyond["code"].as_str()),
        (409, Some("extension_beyond_allowance"))
    );

    let (status, sorry) = act(
        &app,
        &leader,
        &id,
        "apology",
        json!({"reason": "chậm xác minh", "new_appointment_at": "2026-11-12T03:00:00Z"}),
    )
    .await;
    assert_eq!(status, 200, "{sorry}");
    assert_eq!(
        vn_of(&sorry["legal_clock"]["due_at"]),
        "2026-11-10 09:30",
        "an apology does not move the legal due time"
    );
    let (status, again) = act(
        &app,
        &leader,
        &id,
        "apology",
        json!({"reason": "lần hai", "new_appointment_at": "2026-11-13T03:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("apology_already_given"))
    );

    app.clock.set(vn("2026-11-09 10:00"));
    let (status, done) = act(
        &app,
        &officer,
        &id,
        "complete",
        json!({"outcome": "approved", "result_files": [], "electronic_result": true}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "result_ready");
    assert_eq!(done["legal_clock"]["outcome"], "early");
    let (status, handed) = act(&app, &clerk, &id, "return", json!({"delivery": "desk"})).await;
    assert_eq!((status, handed["status"].as_str()), (200, Some("returned")));
    // A desk dossier has no owner account: the citizen cannot rate it; the rules say once, after the result.
    let (status, _) = act(
        &app,
        &citizen,
        &id,
        "rating",
        json!({"overall": "satisfied"}),
    )
    .await;
    assert_eq!(status, 404);

    // Past its due time (Thursday 09:30; now the next Monday), the other
    // dossier cannot be extended into being on time; nothing changes.
    let before = (version_of(&app, &late), event_count(&app, &late));
    let (status, refused) = act(
        &app,
        &officer,
        &late,
        "extend-verification",
        json!({"working_days": 3, "reason": "xác minh muộn"}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("extension_after_due_time")),
        "{refused}"
    );
    assert_eq!((version_of(&app, &late), event_count(&app, &late)), before);
}

/// An apology is a duty, not a window: a dossier already late still gets
/// its apology (Form 04), once, and its late result counts in Form 06 as late
/// with an apology.
async fn a_late_dossier_still_gets_its_apology_and_counts_as_late_with_apology(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(vn_of(&dossier["legal_clock"]["due_at"]), "2026-11-05 09:30");
    // Friday, a day after the due time.
    app.clock.set(vn("2026-11-06 10:00"));
    let (leader, officer) = (token(&fixture, Who::Leader), token(&fixture, Who::Officer));
    let apology = json!({"reason": "chậm xác minh", "new_appointment_at": "2026-11-10T03:00:00Z"});
    let (status, body) = act(&app, &leader, &id, "apology", apology.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = act(&app, &leader, &id, "apology", apology).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("apology_already_given")),
        "{body}"
    );
    app.clock.set(vn("2026-11-09 10:00"));
    let (status, done) = act(
        &app,
        &officer,
        &id,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    assert_eq!(
        (status, done["legal_clock"]["outcome"].as_str()),
        (200, Some("late")),
        "{done}"
    );
    let report = json(
        app.get_as(
            "/api/v1/reports/kstt-06?period=2026-11",
            &token(&fixture, Who::Auditor),
        )
        .await,
        "application/json",
    )
    .await;
    assert_eq!(
        (
            report["total"]["late"].as_u64(),
            report["total"]["late_with_apology"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
}

/// Late or about to be, and not yet apologised for: the overdue list shows
/// such a dossier (`without_apology=true` keeps only those); once its result
/// is recorded late, the late list does, with Form 06's late and
/// late-with-apology counts agreeing line for line. A supplement request
/// after acceptance beyond the first is counted on both lists.
async fn late_dossiers_without_an_apology_are_listed_with_their_supplement_requests(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    procedure(&app, &fixture, "9.000001", "pause", 0).await;
    let (clerk, officer, leader, auditor) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Leader),
        token(&fixture, Who::Auditor),
    );
    let mut accepted = Vec::new();
    for _ in 0..2 {
        let dossier = fixture
            .intake(&app, "clerk.a", "9.000001", json!({"kind": "accept"}))
            .await;
        let field = |name: &str| dossier[name].as_str().unwrap_or_default().to_owned();
        accepted.push((field("id"), field("code")));
    }
    let [(apologised, apologised_code), (silent, silent_code)] =
        <[(String, String); 2]>::try_from(accepted).unwrap_or_else(|_| panic!("two dossiers"));
    let handed = act(
        &app,
        &clerk,
        &silent,
        "handover",
        json!({"to_step": "Thẩm định"}),
    )
    .await;
    assert_eq!(handed.0, 200, "{}", handed.1);
    // Two supplement requests in processing, an hour's pause each.
    for (asked, supplied) in [
        ("2026-11-03 14:00", "2026-11-03 15:00"),
        ("2026-11-04 09:00", "2026-11-04 10:00"),
    ] {
        app.clock.set(vn(asked));
        let (status, body) = act(
            &app,
            &officer,
            &silent,
            "request-supplement",
            json!({"reason": "thiếu giấy tờ", "items": [{"requirement_code": "CM", "name": "Giấy tờ", "problem": "mờ"}]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        app.clock.set(vn(supplied));
        let (status, body) = act(
            &app,
            &clerk,
            &silent,
            "supplement",
            json!({"documents": [{"requirement_code": "CM", "copies": 1}]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let report = |path: String| {
        let (app, auditor) = (&app, auditor.clone());
        async move { json(app.get_as(&path, &auditor).await, "application/json").await }
    };
    let listed = |list: &Value| -> Vec<(String, bool, i64)> {
        let mut lines: Vec<(String, bool, i64)> = list
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .map(|line| {
                (
                    line["code"].as_str().unwrap_or_default().to_owned(),
                    line["apologised_at"].is_string(),
                    line["supplement_requests_after_acceptance"]
                        .as_i64()
                        .unwrap_or(-1),
                )
            })
            .collect();
        lines.sort();
        lines
    };

    // Friday 6/11 10:00: both are past their due time (5/11, 09:30 and
    // 11:30), neither apologised for.
    app.clock.set(vn("2026-11-06 10:00"));
    let overdue = report("/api/v1/reports/overdue?without_apology=true".into()).await;
    assert_eq!(
        listed(&overdue),
        vec![
            (apologised_code.clone(), false, 0),
            (silent_code.clone(), false, 2)
        ],
        "{overdue}"
    );
    let apology = json!({"reason": "chậm xác minh", "new_appointment_at": "2026-11-10T03:00:00Z"});
    let (status, body) = act(&app, &leader, &apologised, "apology", apology).await;
    assert_eq!(status, 200, "{body}");
    let overdue = report("/api/v1/reports/overdue?without_apology=true".into()).await;
    assert_eq!(
        listed(&overdue),
        vec![(silent_code.clone(), false, 2)],
        "{overdue}"
    );
    let overdue = report("/api/v1/reports/overdue".into()).await;
    assert_eq!(
        listed(&overdue),
        vec![
            (apologised_code.clone(), true, 0),
            (silent_code.clone(), false, 2)
        ],
        "{overdue}"
    );

    // Monday 9/11: both results, late.
    app.clock.set(vn("2026-11-09 10:00"));
    for id in [&apologised, &silent] {
        let (status, done) = act(
            &app,
            &officer,
            id,
            "complete",
            json!({"outcome": "approved"}),
        )
        .await;
        assert_eq!(
            (status, done["legal_clock"]["outcome"].as_str()),
            (200, Some("late")),
            "{done}"
        );
    }
    let late = report("/api/v1/reports/late?period=2026-11".into()).await;
    assert_eq!(
        listed(&late),
        vec![
            (apologised_code.clone(), true, 0),
            (silent_code.clone(), false, 2)
        ],
        "{late}"
    );
    // Silent's due time was Thursday 5/11 11:30 (two hours paused): it is
    // 4 working hours past it on Thursday, 8 on Friday, 2.5 on Monday.
    let overrun = late
        .as_array()
        .and_then(|lines| lines.iter().find(|l| l["code"] == silent_code.as_str()))
        .map(|line| (vn_of(&line["due_at"]), line["overrun_seconds"].as_i64()));
    assert_eq!(
        overrun,
        Some((
            "2026-11-05 11:30".to_owned(),
            Some((4 + 8 + 2) * 3600 + 1800)
        ))
    );
    let faults: Vec<&Value> = late
        .as_array()
        .map(|lines| lines.iter().map(|l| &l["apology_fault"]).collect())
        .unwrap_or_default();
    assert!(
        faults.contains(&&json!("processing")) && faults.contains(&&Value::Null),
        "{late}"
    );
    let late = report("/api/v1/reports/late?period=2026-11&without_apology=true".into()).await;
    assert_eq!(
        listed(&late),
        vec![(silent_code.clone(), false, 2)],
        "{late}"
    );
    let form = report("/api/v1/reports/kstt-06?period=2026-11".into()).await;
    assert_eq!(
        (
            form["total"]["late"].as_u64(),
            form["total"]["late_with_apology"].as_u64()
        ),
        (Some(2), Some(1)),
        "{form}"
    );
    let csv = app
        .get_as("/api/v1/reports/late?period=2026-11&format=csv", &auditor)
        .await
        .text()
        .await
        .unwrap_or_default();
    let header = csv.lines().next().unwrap_or_default();
    assert!(
        header.contains("Ngày xin lỗi") && header.contains("Số lần yêu cầu bổ sung sau tiếp nhận"),
        "{header}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

/// Each form follows the circular in force on the day it is issued (the
/// event it records, not the day it is printed): Circular 01/2018 before
/// 15/9/2025, Circular 03/2025 from then on — its number, its title and its
/// date line — and carries the templates' fields: the time limit in the
/// procedure's own unit, the tracking book's volume and running number, the
/// receiving officer, the signature blocks; a hand-over to another unit
/// names it on the control slip.
async fn forms_carry_the_official_fields_of_the_circular_in_force_on_their_issue_day(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, leader) = (token(&fixture, Who::Clerk), token(&fixture, Who::Leader));
    let form = |id: String, form: &'static str| {
        let (app, clerk) = (&app, clerk.clone());
        async move {
            json(
                app.get_as(&format!("/api/v1/dossiers/{id}/forms/{form}"), &clerk)
                    .await,
                "application/json",
            )
            .await
        }
    };
    let field = |form: &Value, label: &str| -> String {
        form["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f[0] == label))
            .and_then(|f| f[1].as_str())
            .unwrap_or_else(|| panic!("no {label}: {form}"))
            .to_owned()
    };
    let heading = |form: &Value| {
        (
            form["regime"].as_str().unwrap_or_default().to_owned(),
            form["number"].as_str().unwrap_or_default().to_owned(),
            form["title"].as_str().unwrap_or_default().to_owned(),
            form["dated"].as_str().unwrap_or_default().to_owned(),
        )
    };
    let owned = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());

    // Accepted on Friday 12/9/2025, three days before Circular 03/2025.
    app.clock.set(vn("2025-09-12 09:00"));
    let early = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let early_id = early["id"].as_str().unwrap_or_default().to_owned();
    // Printed and apologised for on Tuesday 16/9, under the new circular.
    app.clock.set(vn("2025-09-16 10:00"));
    let receipt = form(early_id.clone(), "receipt").await;
    assert_eq!(
        heading(&receipt),
        owned(
            "2018",
            "Mẫu số 01",
            "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
            "ngày 12 tháng 09 năm 2025"
        )
    );
    assert_eq!(
        (field(&receipt, "Quyển số"), field(&receipt, "Số thứ tự")),
        ("2025".into(), "1".into())
    );
    let slip = form(early_id.clone(), "control_slip").await;
    assert_eq!(
        heading(&slip),
        owned(
            "2018",
            "Mẫu số 05",
            "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
            "ngày 12 tháng 09 năm 2025"
        )
    );
    let apology = json!({"reason": "chậm xác minh", "new_appointment_at": "2025-09-19T03:00:00Z"});
    let (status, body) = act(&app, &leader, &early_id, "apology", apology).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        heading(&form(early_id.clone(), "apology").await),
        owned(
            "2025",
            "Mẫu số 04",
            "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
            "ngày 16 tháng 09 năm 2025"
        )
    );

    // Two dossiers accepted on Monday 2/11/2026, printed on Wednesday.
    app.clock.set(vn("2026-11-02 09:30"));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let dossier = fixture
            .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
            .await;
        ids.push(dossier["id"].as_str().unwrap_or_default().to_owned());
    }
    let handed = act(
        &app,
        &clerk,
        &ids[1],
        "handover",
        json!({"to_agency_id": fixture.child.id.to_string(), "note": "chuyển đơn vị"}),
    )
    .await;
    assert_eq!(handed.0, 200, "{}", handed.1);
    app.clock.set(vn("2026-11-04 15:00"));
    let receipt = form(ids[1].clone(), "receipt").await;
    assert_eq!(
        heading(&receipt),
        owned(
            "2025",
            "Mẫu số 01",
            "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
            "ngày 02 tháng 11 năm 2026"
        )
    );
    for (label, value) in [
        ("Thời gian giải quyết theo quy định", "3 ngày làm việc"),
        ("Thời gian nhận hồ sơ", "09:30 thứ Hai 02/11/2026"),
        ("Thời gian trả kết quả", "09:30 thứ Năm 05/11/2026"),
        ("Quyển số", "2026"),
        ("Số thứ tự", "2"),
        ("Người tiếp nhận hồ sơ", "User clerk.a"),
    ] {
        assert_eq!(field(&receipt, label), value, "{label}");
    }
    assert_eq!(
        receipt["signatures"],
        json!([
            {"title": "NGƯỜI NỘP HỒ SƠ", "note": "(Ký và ghi rõ họ tên)", "name": "Trần Thị Bình"},
            {"title": "NGƯỜI TIẾP NHẬN HỒ SƠ", "note": "(Ký và ghi rõ họ tên)", "name": "User clerk.a"},
        ])
    );
    assert_eq!(
        field(&form(ids[0].clone(), "receipt").await, "Số thứ tự"),
        "1"
    );
    let slip = form(ids[1].clone(), "control_slip").await;
    assert_eq!(slip["number"], "Mẫu số 06");
    assert_eq!(
        slip["tables"][0]["rows"][0][1], "Agency 000.01.01.H01",
        "{slip}"
    );
    let page = app
        .get_as(
            &format!("/api/v1/dossiers/{}/forms/receipt?format=html", ids[1]),
            &clerk,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    for text in [
        "Quyển số",
        "Số thứ tự",
        "Người tiếp nhận hồ sơ",
        "3 ngày làm việc",
        "NGƯỜI NỘP HỒ SƠ",
        "NGƯỜI TIẾP NHẬN HỒ SƠ",
        "(Ký và ghi rõ họ tên)",
        "ngày 02 tháng 11 năm 2026",
    ] {
        assert!(page.contains(text), "{text} is not on the page");
    }
}

/// What one printed form must carry, written out by hand from the official
/// template: its number, title and date line, each field's row (label and
/// value, in order), each table's rows and the signature blocks.
struct Expected<'a> {
    number: &'a str,
    title: &'a str,
    dated: &'a str,
    fields: Vec<(&'a str, String)>,
    rows: Vec<Vec<&'a str>>,
    signatures: Vec<(&'a str, &'a str, &'a str)>,
}

/// Checks the printable page of `form` of dossier `id` field by field.
async fn check_page(app: &TestApp, token: &str, id: &str, form: &str, expected: Expected<'_>) {
    let page = app
        .get_as(
            &format!("/api/v1/dossiers/{id}/forms/{form}?format=html"),
            token,
        )
        .await;
    assert_eq!(page.status().as_u16(), 200, "{form}");
    let page = page.text().await.unwrap_or_default();
    let mut rows = String::new();
    for (label, value) in &expected.fields {
        rows.push_str(&format!("<tr><th>{label}</th><td>{value}</td></tr>"));
    }
    let mut tables = String::new();
    for row in &expected.rows {
        let cells: String = row.iter().map(|c| format!("<td>{c}</td>")).collect();
        tables.push_str(&format!("<tr>{cells}</tr>"));
    }
    let mut signatures = String::new();
    for (title, note, name) in &expected.signatures {
        signatures.push_str(&format!(
            "<div><b>{title}</b><br><i>{note}</i><div class=\"space\"></div>{name}</div>"
        ));
    }
    for (what, text) in [
        (
            "number",
            format!("<p class=\"number\">{}</p>", expected.number),
        ),
        (
            "motto",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM<br>Độc lập - Tự do - Hạnh phúc".into(),
        ),
        (
            "date line",
            format!("<p class=\"dated\">{}</p>", expected.dated),
        ),
        ("title", format!("<h1>{}</h1>", expected.title)),
        ("fields", format!("<table>{rows}</table>")),
        ("table rows", tables),
        ("signatures", signatures),
    ] {
        assert!(page.contains(&text), "{form}: no {what} {text} in {page}");
    }
}

/// Every form, before and after Circular 03/2025 took effect (15/9/2025),
/// printed field by field as the template of the circular in force on its
/// issue day has it: the receipt, the control slip, the supplement request,
/// the apology, the notice of a denial after appraisal (Form 03), the
/// refusal at the desk (Form 03) and the stop notice.
async fn every_form_prints_the_official_fields_before_and_after_15_september_2025(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, officer, leader) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Leader),
    );
    let intake = |at: &str, decision: Value| {
        app.clock.set(vn(at));
        let fixture = &fixture;
        let app = &app;
        async move {
            let dossier = fixture.intake(app, "clerk.a", "1.004194", decision).await;
            (
                dossier["id"].as_str().unwrap_or_default().to_owned(),
                dossier["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let step = |at: &str, token: &str, id: &str, action: &str, body: Value| {
        app.clock.set(vn(at));
        let (app, token, id, action) = (&app, token.to_owned(), id.to_owned(), action.to_owned());
        async move {
            let (status, answer) = act(app, &token, &id, &action, body).await;
            assert_eq!(status, 200, "{action}: {answer}");
        }
    };
    let common = |code: &str| {
        vec![
            ("Mã hồ sơ", code.to_owned()),
            ("Người nộp hồ sơ", "Trần Thị Bình".to_owned()),
            ("Liên hệ", "0987654321".to_owned()),
            (
                "Thủ tục hành chính",
                "Đăng ký tạm trú (1.004194)".to_owned(),
            ),
        ]
    };
    let with = |code: &str, more: &[(&'static str, &str)]| {
        let mut fields = common(code);
        fields.extend(
            more.iter()
                .map(|(label, value)| (*label, (*value).to_owned())),
        );
        fields
    };
    const SIGN: &str = "(Ký và ghi rõ họ tên)";
    const SEAL: &str = "(Ký, ghi rõ họ tên và đóng dấu)";
    const HEAD: &str = "THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ";
    // (regime's year, Monday of the week, Tuesday, Wednesday, Friday,
    // receipt's book number, the numbers of forms 02–06 in that regime,
    // the apology's title)
    let eras = [
        (
            "2025-09-08",
            "08/09/2025",
            "09/09/2025",
            "10/09/2025",
            "11/09/2025",
            "12/09/2025",
            "1",
            [
                "Mẫu số 02",
                "Mẫu số 03",
                "Mẫu số 04",
                "Mẫu số —",
                "Mẫu số 05",
            ],
            "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
        ),
        (
            "2025-09-22",
            "22/09/2025",
            "23/09/2025",
            "24/09/2025",
            "25/09/2025",
            "26/09/2025",
            "4",
            [
                "Mẫu số 02",
                "Mẫu số 03",
                "Mẫu số 04",
                "Mẫu số 05",
                "Mẫu số 06",
            ],
            "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
        ),
    ];
    for (monday, mon, tue, wed, thu, fri, book, numbers, apology_title) in eras {
        let day = |d: &str, time: &str| {
            let date = chrono::NaiveDate::parse_from_str(d, "%d/%m/%Y").unwrap_or_default();
            format!("{} {time}", date.format("%Y-%m-%d"))
        };
        let dated = |d: &str| {
            let date = chrono::NaiveDate::parse_from_str(d, "%d/%m/%Y").unwrap_or_default();
            date.format("ngày %d tháng %m năm %Y").to_string()
        };
        assert_eq!(day(mon, "09:00"), format!("{monday} 09:00"));
        // A: accepted Monday 09:00 (due Thursday 09:00); receipt and control slip.
        let (a, a_code) = intake(&day(mon, "09:00"), json!({"kind": "accept"})).await;
        check_page(
            &app,
            &clerk,
            &a,
            "receipt",
            Expected {
                number: "Mẫu số 01",
                title: "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
                dated: &dated(mon),
                fields: with(
                    &a_code,
                    &[
                        ("Số lượng hồ sơ", "01 bộ"),
                        ("Thời gian giải quyết theo quy định", "3 ngày làm việc"),
                        ("Thời gian nhận hồ sơ", &format!("09:00 thứ Hai {mon}")),
                        ("Thời gian trả kết quả", &format!("09:00 thứ Năm {thu}")),
                        ("Nơi trả kết quả", "Tại Bộ phận Một cửa"),
                        ("Phí, lệ phí", "15.000 đồng"),
                        ("Quyển số", "2025"),
                        ("Số thứ tự", book),
                        ("Người tiếp nhận hồ sơ", "User clerk.a"),
                    ],
                ),
                rows: vec![
                    vec![
                        "Tờ khai thay đổi thông tin cư trú",
                        "01 bản chính, Bản điện tử",
                    ],
                    vec!["Giấy tờ chứng minh chỗ ở hợp pháp", "01 bản sao"],
                ],
                signatures: vec![
                    ("NGƯỜI NỘP HỒ SƠ", SIGN, "Trần Thị Bình"),
                    ("NGƯỜI TIẾP NHẬN HỒ SƠ", SIGN, "User clerk.a"),
                ],
            },
        )
        .await;
        check_page(
            &app,
            &clerk,
            &a,
            "control_slip",
            Expected {
                number: numbers[4],
                title: "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
                dated: &dated(mon),
                fields: with(
                    &a_code,
                    &[("Hẹn trả kết quả", &format!("09:00 thứ Năm {thu}"))],
                ),
                rows: Vec::new(),
                signatures: Vec::new(),
            },
        )
        .await;
        // C: accepted Monday 09:30, stopped Tuesday 14:00 (below).
        let (c, c_code) = intake(&day(mon, "09:30"), json!({"kind": "accept"})).await;
        // Asked at 10:00 for the proof of residence, brought at 11:00
        // (one working hour paused: due Thursday 10:00).
        let request = json!({"reason": "thiếu", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "bản sao mờ"}]});
        step(
            &day(mon, "10:00"),
            &officer,
            &a,
            "request-supplement",
            request,
        )
        .await;
        check_page(
            &app,
            &clerk,
            &a,
            "supplement_request",
            Expected {
                number: numbers[0],
                title: "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
                dated: &dated(mon),
                fields: with(
                    &a_code,
                    &[
                        ("Lý do", "thiếu"),
                        ("Ngày yêu cầu", &format!("10:00 thứ Hai {mon}")),
                        ("Người hướng dẫn", "User officer.a"),
                    ],
                ),
                rows: vec![vec!["Giấy tờ chứng minh", "bản sao mờ"]],
                signatures: vec![("NGƯỜI HƯỚNG DẪN", SIGN, "User officer.a")],
            },
        )
        .await;
        let supply = json!({"documents": [{"requirement_code": "CM", "copies": 1}]});
        step(&day(mon, "11:00"), &clerk, &a, "supplement", supply).await;
        // Tuesday: the leader foresees the delay and apologises, new appointment Friday 10:00.
        let new_appointment = format!("{}T03:00:00Z", &day(fri, "")[..10]);
        let apology = json!({"reason": "chờ xác minh", "new_appointment_at": new_appointment});
        step(&day(tue, "09:00"), &leader, &a, "apology", apology).await;
        check_page(
            &app,
            &clerk,
            &a,
            "apology",
            Expected {
                number: numbers[2],
                title: apology_title,
                dated: &dated(tue),
                fields: with(
                    &a_code,
                    &[
                        ("Thời gian nhận hồ sơ", &format!("09:00 thứ Hai {mon}")),
                        (
                            "Hẹn trả kết quả theo quy định",
                            &format!("10:00 thứ Năm {thu}"),
                        ),
                        ("Lý do chậm", "chờ xác minh"),
                        (
                            "Xin lỗi ông/bà",
                            "Cơ quan giải quyết xin lỗi ông/bà vì hồ sơ bị chậm trả kết quả.",
                        ),
                        ("Hẹn lại ngày trả kết quả", &format!("10:00 thứ Sáu {fri}")),
                    ],
                ),
                rows: Vec::new(),
                signatures: vec![(HEAD, SEAL, "")],
            },
        )
        .await;
        step(
            &day(tue, "14:00"),
            &leader,
            &c,
            "stop",
            json!({"reason": "dừng theo đề nghị"}),
        )
        .await;
        check_page(
            &app,
            &clerk,
            &c,
            "stop_notice",
            Expected {
                number: numbers[3],
                title: "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ",
                dated: &dated(tue),
                fields: with(
                    &c_code,
                    &[
                        ("Lý do dừng giải quyết", "dừng theo đề nghị"),
                        ("Ngày dừng", &format!("14:00 thứ Ba {tue}")),
                    ],
                ),
                rows: Vec::new(),
                signatures: vec![(HEAD, SEAL, "")],
            },
        )
        .await;
        // B: refused at the desk on Tuesday 15:00.
        let refuse = json!({"kind": "refuse", "reason": "sai thẩm quyền", "legal_basis": "Điều 9"});
        let (b, b_code) = intake(&day(tue, "15:00"), refuse).await;
        check_page(
            &app,
            &clerk,
            &b,
            "refusal",
            Expected {
                number: numbers[1],
                title: "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
                dated: &dated(tue),
                fields: with(
                    &b_code,
                    &[
                        ("Căn cứ pháp lý", "Điều 9"),
                        ("Lý do từ chối", "sai thẩm quyền"),
                        ("Ngày từ chối", &format!("15:00 thứ Ba {tue}")),
                        ("Người tiếp nhận hồ sơ", "User clerk.a"),
                    ],
                ),
                rows: Vec::new(),
                signatures: vec![("NGƯỜI TIẾP NHẬN HỒ SƠ", SIGN, "User clerk.a")],
            },
        )
        .await;
        // Wednesday: denied after appraisal; the notice of the reasons is Form 03.
        let denied = json!({"outcome": "denied", "note": "nơi ở không hợp pháp"});
        step(&day(wed, "09:00"), &officer, &a, "complete", denied).await;
        check_page(
            &app,
            &clerk,
            &a,
            "refusal",
            Expected {
                number: numbers[1],
                title: "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
                dated: &dated(wed),
                fields: with(
                    &a_code,
                    &[
                        ("Thời gian nhận hồ sơ", &format!("09:00 thứ Hai {mon}")),
                        ("Kết quả thẩm định", "Hồ sơ không đủ điều kiện giải quyết"),
                        ("Lý do không giải quyết", "nơi ở không hợp pháp"),
                        ("Ngày thông báo", &format!("09:00 thứ Tư {wed}")),
                    ],
                ),
                rows: Vec::new(),
                signatures: vec![(HEAD, SEAL, "")],
            },
        )
        .await;
    }
    // A dossier accepted and approved has no Form 03; a denial must say why.
    let (approved, _) = intake("2025-09-29 09:00", json!({"kind": "accept"})).await;
    let (_, silent) = act(
        &app,
        &officer,
        &approved,
        "complete",
        json!({"outcome": "denied"}),
    )
    .await;
    assert_eq!(silent["errors"][0]["field"], "note", "{silent}");
    step(
        "2025-09-29 10:00",
        &officer,
        &approved,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    problem(
        app.get_as(
            &format!("/api/v1/dossiers/{approved}/forms/refusal"),
            &clerk,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

/// The tracking book lists the dossiers an agency numbered in a period, in
/// number order, each with its running number of the year (the receipt's),
/// the unit it went to, its times and a note; a later period's numbers go
/// on from the earlier one's. As JSON, CSV and a printable page; staff of
/// another commune do not see it.
async fn the_tracking_book_lists_the_periods_dossiers_in_number_order(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, officer) = (token(&fixture, Who::Clerk), token(&fixture, Who::Officer));
    let accept = json!({"kind": "accept"});
    let refuse =
        json!({"kind": "refuse", "reason": "không thuộc thẩm quyền", "legal_basis": "Điều 9"});
    let mut codes = Vec::new();
    let mut ids = Vec::new();
    for (day, decision) in [
        ("2026-11-02 09:30", &accept),
        ("2026-11-02 10:00", &refuse),
        ("2026-11-02 14:00", &accept),
        ("2026-11-03 08:00", &accept),
    ] {
        app.clock.set(vn(day));
        let dossier = fixture
            .intake(&app, "clerk.a", "1.004194", decision.clone())
            .await;
        codes.push(dossier["code"].as_str().unwrap_or_default().to_owned());
        ids.push(dossier["id"].as_str().unwrap_or_default().to_owned());
    }
    app.clock.set(vn("2026-11-03 09:00"));
    let handed = act(
        &app,
        &clerk,
        &ids[2],
        "handover",
        json!({"to_agency_id": fixture.child.id.to_string()}),
    )
    .await;
    assert_eq!(handed.0, 200, "{}", handed.1);
    app.clock.set(vn("2026-11-03 10:00"));
    let done = act(
        &app,
        &officer,
        &ids[0],
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    assert_eq!(done.0, 200, "{}", done.1);
    app.clock.set(vn("2026-11-03 11:00"));
    let returned = act(&app, &clerk, &ids[0], "return", json!({"delivery": "desk"})).await;
    assert_eq!(returned.0, 200, "{}", returned.1);

    let book = |query: &'static str| {
        let (app, clerk) = (&app, clerk.clone());
        async move {
            json(
                app.get_as(&format!("/api/v1/reports/tracking-book?{query}"), &clerk)
                    .await,
                "application/json",
            )
            .await
        }
    };
    let both = book("from=2026-11-02&to=2026-11-03").await;
    assert_eq!(
        (both["number"].as_str(), both["title"].as_str()),
        (Some("Mẫu số 07"), Some("SỔ THEO DÕI HỒ SƠ"))
    );
    let lines = both["lines"].as_array().cloned().unwrap_or_default();
    let listed: Vec<(i64, String)> = lines
        .iter()
        .map(|line| {
            (
                line["number"].as_i64().unwrap_or_default(),
                line["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        codes
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, code)| (i as i64 + 1, code))
            .collect::<Vec<_>>(),
        "{both}"
    );
    assert_eq!(lines[0]["lead_unit"], "Agency 000.01.00.H01");
    assert_eq!(
        (
            vn_of(&lines[0]["received_at"]),
            vn_of(&lines[0]["appointed_at"]),
            vn_of(&lines[0]["result_at"]),
            vn_of(&lines[0]["returned_at"]),
            lines[0]["passed_at"].is_null(),
        ),
        (
            "2026-11-02 09:30".to_owned(),
            "2026-11-05 09:30".to_owned(),
            "2026-11-03 10:00".to_owned(),
            "2026-11-03 11:00".to_owned(),
            true
        )
    );
    assert_eq!(lines[1]["note"], "Từ chối tiếp nhận");
    assert_eq!(lines[2]["lead_unit"], "Agency 000.01.01.H01");
    assert_eq!(vn_of(&lines[2]["passed_at"]), "2026-11-03 09:00");
    assert_eq!(lines[0]["applicant"], "Trần Thị Bình");

    // The 3rd's book alone: its number goes on from the 2nd's.
    let third = book("from=2026-11-03&to=2026-11-03").await;
    assert_eq!(third["lines"][0]["number"], 4, "{third}");
    assert_eq!(third["lines"].as_array().map(Vec::len), Some(1));

    let csv = app
        .get_as(
            "/api/v1/reports/tracking-book?from=2026-11-02&to=2026-11-03&format=csv",
            &clerk,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    let header = csv.lines().next().unwrap_or_default();
    assert!(
        header.contains("Số thứ tự (number)") && header.contains("Ghi chú (note)"),
        "{header}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let page = app
        .get_as(
            "/api/v1/reports/tracking-book?from=2026-11-02&to=2026-11-03&format=html",
            &clerk,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        page.contains("SỔ THEO DÕI HỒ SƠ") && page.contains(&codes[3]),
        "{page}"
    );

    let other = app
        .get_as(
            &format!(
                "/api/v1/reports/tracking-book?period=2026-11&agency_id={}",
                fixture.own.id
            ),
            &app.login("staff.sibling", PASSWORD).await.0,
        )
        .await;
    problem(other, 404, "not_found").await;
}

/// The agency at fault apologises: a clerk may not apologise for the
/// processing (403), but the desk apologises for its own intake error, and
/// its Form 04 and the late list say so.
async fn the_desk_apologises_for_its_own_intake_error(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let clerk = token(&fixture, Who::Clerk);
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    app.clock.set(vn("2026-11-04 09:00"));
    let apology = |fault: Option<&str>| {
        let mut body = json!({"reason": "bộ phận một cửa tiếp nhận thiếu giấy tờ", "new_appointment_at": "2026-11-10T03:00:00Z"});
        if let Some(fault) = fault {
            body["fault"] = json!(fault);
        }
        body
    };
    for fault in [None, Some("processing")] {
        let (status, body) = act(&app, &clerk, &id, "apology", apology(fault)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    let (status, body) = act(&app, &clerk, &id, "apology", apology(Some("intake"))).await;
    assert_eq!(status, 200, "{body}");
    let form = json(
        app.get_as(&format!("/api/v1/dossiers/{id}/forms/apology"), &clerk)
            .await,
        "application/json",
    )
    .await;
    let said = form["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f[0] == "Xin lỗi ông/bà"))
        .map(|f| f[1].clone());
    assert_eq!(
        said,
        Some(json!(
            "Bộ phận Một cửa xin lỗi ông/bà vì hồ sơ bị chậm trả kết quả."
        )),
        "{form}"
    );
    assert_eq!(form["signatures"][0]["title"], "THỦ TRƯỞNG BỘ PHẬN MỘT CỬA");
    app.clock.set(vn("2026-11-06 10:00"));
    let overdue = json(
        app.get_as("/api/v1/reports/overdue", &token(&fixture, Who::Auditor))
            .await,
        "application/json",
    )
    .await;
    assert_eq!(overdue[0]["apology_fault"], "intake", "{overdue}");
}

async fn an_owner_rates_once_after_the_result_and_may_withdraw_before(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let (clerk, officer) = (token(&fixture, Who::Clerk), token(&fixture, Who::Officer));
    let id = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    assert_eq!(act(&app, &clerk, &id, "accept", json!({})).await.0, 200);
    let (status, early) = act(
        &app,
        &citizen,
        &id,
        "rating",
        json!({"overall": "satisfied"}),
    )
    .await;
    assert_eq!(
        (status, early["code"].as_str()),
        (409, Some("illegal_transition"))
    );
    assert_eq!(
        act(
            &app,
            &officer,
            &id,
            "complete",
            json!({"outcome": "denied", "note": "không đủ điều kiện"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        act(&app, &clerk, &id, "return", json!({"delivery": "online"}))
            .await
            .0,
        200
    );
    let (status, rated) = act(
        &app,
        &citizen,
        &id,
        "rating",
        json!({"overall": "dissatisfied", "comment": "chậm"}),
    )
    .await;
    assert_eq!(status, 200, "{rated}");
    assert_eq!(rated["rating"]["overall"], "dissatisfied");
    let (status, twice) = act(
        &app,
        &citizen,
        &id,
        "rating",
        json!({"overall": "satisfied"}),
    )
    .await;
    assert_eq!(
        (status, twice["code"].as_str()),
        (409, Some("already_rated"))
    );

    let other = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let (status, withdrawn) = act(
        &app,
        &citizen,
        &other,
        "withdraw",
        json!({"reason": "nộp nhầm"}),
    )
    .await;
    assert_eq!(
        (status, withdrawn["status"].as_str()),
        (200, Some("withdrawn"))
    );
}

async fn the_audit_finds_the_first_edited_event(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let (clerk, officer, auditor) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Auditor),
    );
    act(
        &app,
        &clerk,
        &id,
        "handover",
        json!({"to_step": "Thẩm định"}),
    )
    .await;
    act(
        &app,
        &officer,
        &id,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    let path = format!("/api/v1/audit/verify?dossier_id={id}");
    let intact = json(app.get_as(&path, &auditor).await, "application/json").await;
    assert_eq!(
        (intact["ok"].as_bool(), intact["events_checked"].as_u64()),
        (Some(true), Some(3))
    );

    // Someone edits the second event directly in the database.
    let target: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| {
            use diesel::prelude::*;
            use motcua_persistence::schema::dossier_events::dsl::*;
            diesel::update(
                dossier_events
                    .filter(dossier_id.eq(target))
                    .filter(seq.eq(2)),
            )
            .set(payload.eq(r#"{"to_step":"somewhere else"}"#))
            .execute(conn)?;
            Ok(())
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
    let broken = json(app.get_as(&path, &auditor).await, "application/json").await;
    assert_eq!(
        (broken["ok"].as_bool(), broken["first_broken"].as_i64()),
        (Some(false), Some(2))
    );
}

async fn bad_filings_get_field_messages_and_store_nothing(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let good = online_filing(&app, &citizen, &fixture.own).await;
    let (tk, cm) = (good["documents"][0].clone(), good["documents"][1].clone());
    // A file someone else uploaded cannot be attached.
    let (other, _) = app.login(crate::fixture::OTHER_CITIZEN, PASSWORD).await;
    let strangers = json!({"requirement_code": "TK", "file_id": app.upload_pdf(&other).await});
    let with = |path: &[&str], value: Value| {
        let mut body = good.clone();
        let mut target = &mut body;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        body
    };
    let cases = [
        (
            with(&["procedure_code"], json!("9.999999")),
            "procedure_code",
        ),
        (
            with(&["procedure_code"], json!("1.000894")),
            "result_delivery",
        ),
        (with(&["agency_id"], json!("not-an-id")), "agency_id"),
        (
            with(&["applicant", "phone"], json!("12345")),
            "applicant.phone",
        ),
        (
            with(&["applicant", "national_id"], json!("003195012345")),
            "applicant.national_id",
        ),
        (
            with(&["applicant", "full_name"], json!("  ")),
            "applicant.full_name",
        ),
        (with(&["documents"], json!([cm.clone()])), "documents"),
        (
            with(
                &["documents"],
                json!([tk.clone(), {"requirement_code": "XX", "file_id": cm["file_id"]}]),
            ),
            "documents[1].requirement_code",
        ),
        (
            with(
                &["documents"],
                json!([{"requirement_code": "TK"}, cm.clone()]),
            ),
            "documents[0].file_id",
        ),
        (
            with(
                &["documents"],
                json!([{"requirement_code": "TK", "file_id": FileId::new().to_string()}, cm.clone()]),
            ),
            "documents[0].file_id",
        ),
        (
            with(&["documents"], json!([strangers.clone(), cm.clone()])),
            "documents[0].file_id",
        ),
        (
            with(&["result_delivery"], json!("pigeon")),
            "result_delivery",
        ),
        (with(&["result_delivery"], json!("post")), "postal_address"),
    ];
    for (body, field) in cases {
        let response = app
            .post_json("/api/v1/dossiers", Some(&citizen), &body)
            .await;
        let problem = problem(response, 422, "validation_failed").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            fields.contains(&field),
            "expected a message on {field}: {problem}"
        );
    }
    let not_json = app
        .client
        .post(app.url("/api/v1/dossiers"))
        .bearer_auth(&citizen)
        .header("content-type", "text/plain")
        .body("procedure_code=1.004194")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    problem(not_json, 415, "unsupported_media_type").await;
    let malformed = app
        .client
        .post(app.url("/api/v1/dossiers"))
        .bearer_auth(&citizen)
        .header("content-type", "application/json")
        .body("{\"procedure_code\": ")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    problem(malformed, 400, "malformed_body").await;
    // At the desk: accepting without a mandatory document is refused; asking for it is fine.
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let intake = json!({
        "channel": "direct", "procedure_code": "1.004194",
        "applicant": {"full_name": "Trần Thị Bình", "phone": "0987654321"},
        "documents": [{"requirement_code": "CM"}], "result_delivery": "desk", "decision": {"kind": "accept"},
    });
    let refused = app
        .post_json("/api/v1/dossiers/intake", Some(&clerk), &intake)
        .await;
    problem(refused, 422, "validation_failed").await;
    assert_eq!(app.dossier_count(), 0, "nothing was stored");
}

async fn lists_apply_reach_and_filters_in_the_database(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let accept = json!({"kind": "accept"});
    let own = fixture
        .intake(&app, "clerk.a", "1.004194", accept.clone())
        .await;
    let child = fixture
        .intake(&app, "staff.child", "1.004222", accept.clone())
        .await;
    let sibling = fixture
        .intake(&app, "staff.sibling", "1.004194", accept)
        .await;
    let mine = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let ids = |page: &Value| -> Vec<String> {
        let mut ids: Vec<String> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let id = |d: &Value| d["id"].as_str().unwrap_or_default().to_owned();
    let clerk = token(&fixture, Who::Clerk);
    let all = json(
        app.get_as("/api/v1/dossiers", &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(ids(&all), sorted(vec![id(&own), id(&child), mine.clone()]));
    assert!(!ids(&all).contains(&id(&sibling)));

    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let theirs = json(
        app.get_as("/api/v1/dossiers", &citizen).await,
        "application/json",
    )
    .await;
    assert_eq!(ids(&theirs), vec![mine.clone()]);

    let online = json(
        app.get_as("/api/v1/dossiers?channel=online&status=submitted", &clerk)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(ids(&online), vec![mine]);
    let by_procedure = json(
        app.get_as("/api/v1/dossiers?procedure_code=1.004222", &clerk)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(ids(&by_procedure), vec![id(&child)]);
    let by_agency = format!("/api/v1/dossiers?agency_id={}", fixture.child.id);
    assert_eq!(
        ids(&json(app.get_as(&by_agency, &clerk).await, "application/json").await),
        vec![id(&child)]
    );
    let outside = format!("/api/v1/dossiers?agency_id={}", fixture.sibling.id);
    problem(app.get_as(&outside, &clerk).await, 404, "not_found").await;
    let by_code = format!(
        "/api/v1/dossiers?q={}",
        own["code"].as_str().unwrap_or_default()
    );
    assert_eq!(
        ids(&json(app.get_as(&by_code, &clerk).await, "application/json").await),
        vec![id(&own)]
    );
    // `_` and `%` are searched as themselves, not as wildcards: no code or
    // name has them.
    for q in ["_", "%25", "%25%25"] {
        let wild = format!("/api/v1/dossiers?q={q}");
        let found = json(app.get_as(&wild, &clerk).await, "application/json").await;
        assert!(ids(&found).is_empty(), "q={q}: {found}");
    }

    // On Thursday 10:00 the 3-day dossier (due 09:30) is overdue; the 7-day one is not, nor the
    // filed one (its clock has not started).
    assert!(
        ids(&json(
            app.get_as("/api/v1/dossiers?overdue=true", &clerk).await,
            "application/json"
        )
        .await)
        .is_empty()
    );
    app.clock.set(vn("2026-11-05 10:00"));
    let overdue = json(
        app.get_as("/api/v1/dossiers?overdue=true", &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(ids(&overdue), vec![id(&own)]);

    let page = json(
        app.get_as("/api/v1/dossiers?limit=2", &clerk).await,
        "application/json",
    )
    .await;
    let next = page["next_cursor"].as_str().unwrap_or_default();
    let rest = json(
        app.get_as(&format!("/api/v1/dossiers?limit=2&cursor={next}"), &clerk)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(ids(&page).len() + ids(&rest).len(), 3);
    assert!(rest["next_cursor"].is_null());
    problem(
        app.get_as("/api/v1/dossiers?status=lost", &clerk).await,
        422,
        "validation_failed",
    )
    .await;
    // A parameter that does not parse is named.
    for (query, field) in [
        ("limit=abc", "limit"),
        ("overdue=maybe", "overdue"),
        ("due_before=garbage", "due_before"),
    ] {
        let refused = json(
            app.get_as(&format!("/api/v1/dossiers?{query}"), &clerk)
                .await,
            "application/problem+json",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{query}: {refused}");
    }
}

async fn the_public_look_up_needs_the_second_factor_and_shows_no_personal_data(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let code = dossier["code"].as_str().unwrap_or_default();
    let found = app
        .get(&format!("/api/v1/public/dossiers/{code}?phone_last4=4321"))
        .await;
    let found = json(found, "application/json").await;
    assert_eq!(found["status"], "accepted");
    assert_eq!(vn_of(&found["due_at"]), "2026-11-05 09:30");
    let text = found.to_string();
    for personal in ["Trần Thị Bình", "0987654321", "001195012345", "applicant"] {
        assert!(!text.contains(personal), "{personal} leaked: {text}");
    }
    for path in [
        format!("/api/v1/public/dossiers/{code}?phone_last4=1234"),
        format!("/api/v1/public/dossiers/{code}"),
        format!("/api/v1/public/dossiers/{code}?phone_last4=abcd"),
        "/api/v1/public/dossiers/000.01.00.H01-261102-0999?phone_last4=4321".to_owned(),
        "/api/v1/public/dossiers/garbage?phone_last4=4321".to_owned(),
    ] {
        problem(app.get(&path).await, 404, "not_found").await;
    }
    // Rate limited per address: the burst is spent above and in what follows.
    let mut throttled = false;
    for _ in 0..12 {
        let response = app
            .get(&format!("/api/v1/public/dossiers/{code}?phone_last4=4321"))
            .await;
        if response.status().as_u16() == 429 {
            problem(response, 429, "too_many_requests").await;
            throttled = true;
            break;
        }
    }
    assert!(throttled, "twelve look-ups in a row are throttled");
}

async fn forms_are_built_from_the_stored_dossier_as_json_and_printable_html(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let (clerk, officer) = (token(&fixture, Who::Clerk), token(&fixture, Who::Officer));
    app.clock.set(vn("2026-11-02 10:00"));
    assert_eq!(
        act(
            &app,
            &clerk,
            &id,
            "handover",
            json!({"to_step": "Thẩm định", "note": "chuyển thẩm định"})
        )
        .await
        .0,
        200
    );
    app.clock.set(vn("2026-11-03 15:00"));
    assert_eq!(
        act(
            &app,
            &officer,
            &id,
            "handover",
            json!({"to_step": "Phê duyệt"})
        )
        .await
        .0,
        200
    );

    let receipt = json(
        app.get_as(&format!("/api/v1/dossiers/{id}/forms/receipt"), &clerk)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(
        (receipt["number"].as_str(), receipt["regime"].as_str()),
        (Some("Mẫu số 01"), Some("2025"))
    );
    let fields: Vec<(String, String)> =
        serde_json::from_value(receipt["fields"].clone()).unwrap_or_default();
    let field = |label: &str| {
        fields
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        field("Mã hồ sơ"),
        dossier["code"].as_str().unwrap_or_default()
    );
    assert_eq!(field("Thời gian nhận hồ sơ"), "09:30 thứ Hai 02/11/2026");
    assert_eq!(field("Thời gian trả kết quả"), "09:30 thứ Năm 05/11/2026");
    assert_eq!(field("Phí, lệ phí"), "15.000 đồng");
    assert_eq!(
        receipt["tables"][0]["rows"],
        json!([
            [
                "Tờ khai thay đổi thông tin cư trú",
                "01 bản chính, Bản điện tử"
            ],
            ["Giấy tờ chứng minh chỗ ở hợp pháp", "01 bản sao"]
        ])
    );

    // The control slip's rows, as they stand.
    let slip_rows = || async {
        let slip = json(
            app.get_as(&format!("/api/v1/dossiers/{id}/forms/control_slip"), &clerk)
                .await,
            "application/json",
        )
        .await;
        slip["tables"][0]["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let rows = slip_rows().await;
    assert_eq!(rows.len(), 2);
    // Thẩm định has 12 working hours from Monday 10:00 (5.5 h Monday, 6.5 h Tuesday): due Tuesday
    // 15:30; handed on at Tuesday 15:00, on the due day before the due time: on time.
    // Who gave is named, not identified.
    assert_eq!(rows[0][0], "User clerk.a");
    assert_eq!(rows[0][1], "Thẩm định");
    assert_eq!(rows[0][3], "15:30 thứ Ba 03/11/2026");
    assert_eq!(rows[0][4], "Đúng hạn");
    assert_eq!(rows[1][0], "User officer.a");
    assert_eq!(rows[1][4], "Đang xử lý");

    // The result goes back to the desk, and from the desk to the citizen:
    // each hand-over on the slip, with giver, receiver and time.
    app.clock.set(vn("2026-11-04 09:00"));
    let (status, _) = act(
        &app,
        &officer,
        &id,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    assert_eq!(status, 200);
    app.clock.set(vn("2026-11-04 14:00"));
    let (status, _) = act(&app, &clerk, &id, "return", json!({"delivery": "desk"})).await;
    assert_eq!(status, 200);
    let rows = slip_rows().await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(
        rows[2],
        json!([
            "User officer.a",
            "Bộ phận Một cửa",
            "09:00 thứ Tư 04/11/2026",
            "09:30 thứ Năm 05/11/2026",
            "Trước hạn",
            "Có kết quả giải quyết"
        ])
    );
    let applicant = dossier["applicant"]["full_name"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(rows[3][0], "User clerk.a");
    assert_eq!(rows[3][1], format!("Người nộp: {applicant}"));
    assert_eq!(rows[3][2], "14:00 thứ Tư 04/11/2026");
    assert_eq!(rows[3][5], "Tại Bộ phận Một cửa");

    let page = app
        .get_as(
            &format!("/api/v1/dossiers/{id}/forms/receipt?format=html"),
            &clerk,
        )
        .await;
    assert!(
        page.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"))
    );
    let html = page.text().await.unwrap_or_default();
    for expected in [
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "size: A5",
        "Độc lập - Tự do - Hạnh phúc",
        "15.000 đồng",
        "09:30 thứ Năm 05/11/2026",
        "01 bản chính, Bản điện tử",
    ] {
        assert!(html.contains(expected), "{expected}");
    }
    assert_eq!(html.matches("Mã hồ sơ").count(), 1, "each field once");
    let slip_page = app
        .get_as(
            &format!("/api/v1/dossiers/{id}/forms/control_slip?format=html"),
            &clerk,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    for expected in [
        "User clerk.a",
        "User officer.a",
        "Bộ phận Một cửa",
        "Trước hạn",
    ] {
        assert!(slip_page.contains(expected), "{expected}");
    }
    let staff_ids = app
        .db
        .run(|conn| motcua_persistence::users::find_by_username(conn, "clerk.a"))
        .ok()
        .flatten()
        .map(|u| u.id.to_string())
        .unwrap_or_default();
    assert!(
        !staff_ids.is_empty() && !slip_page.contains(&staff_ids),
        "names, not ids"
    );
    assert!(
        !html.contains("http://")
            && !html.contains("https://")
            && !html.contains("<link")
            && !html.contains("<script"),
        "no external assets"
    );

    problem(
        app.get_as(&format!("/api/v1/dossiers/{id}/forms/refusal"), &clerk)
            .await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.get_as(&format!("/api/v1/dossiers/{id}/forms/nonsense"), &clerk)
            .await,
        404,
        "not_found",
    )
    .await;
    let refused = fixture
        .intake(
            &app,
            "clerk.a",
            "1.004194",
            json!({"kind": "refuse", "reason": "sai thẩm quyền", "legal_basis": "Điều 9"}),
        )
        .await;
    let refusal = json(
        app.get_as(
            &format!(
                "/api/v1/dossiers/{}/forms/refusal",
                refused["id"].as_str().unwrap_or_default()
            ),
            &clerk,
        )
        .await,
        "application/json",
    )
    .await;
    assert_eq!(refusal["number"], "Mẫu số 03");
    assert!(refusal["fields"].to_string().contains("sai thẩm quyền"));
}

/// Asserts an action is refused with 409 and changes nothing.
async fn illegal(app: &TestApp, token: &str, id: &str, action: &str, body: Value) {
    let (version, events) = (version_of(app, id), event_count(app, id));
    let (status, answer) = act(app, token, id, action, body).await;
    assert_eq!(status, 409, "{action}: {answer}");
    assert!(
        answer["code"]
            .as_str()
            .is_some_and(|c| c == "illegal_transition"),
        "{action}: {answer}"
    );
    assert_eq!(
        (version_of(app, id), event_count(app, id)),
        (version, events),
        "{action} changed nothing"
    );
}

async fn every_state_refuses_an_illegal_action_and_the_desk_paths_work(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, officer, leader) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Leader),
    );
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let id = |d: &Value| d["id"].as_str().unwrap_or_default().to_owned();
    let any = json!({"reason": "x", "legal_basis": "y", "to_step": "Thẩm định", "delivery": "desk", "outcome": "approved", "amount": 1000, "method": "cash", "reference": "R", "overall": "satisfied", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}]});

    // Submitted (online): nothing to complete yet.
    let submitted = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    illegal(&app, &officer, &submitted, "complete", any.clone()).await;

    // The desk asks for a supplement at intake; the citizen comes back with it and the clerk accepts.
    app.clock.set(vn("2026-11-02 09:30"));
    let incomplete = fixture.intake(&app, "clerk.a", "1.004194", json!({"kind": "request_supplement", "reason": "thiếu giấy tờ", "items": [{"requirement_code": "CM", "name": "CM"}]})).await;
    assert_eq!(incomplete["status"], "intake_supplement");
    assert!(incomplete["legal_clock"].is_null());
    let incomplete = id(&incomplete);
    illegal(&app, &clerk, &incomplete, "handover", any.clone()).await;
    app.clock.set(vn("2026-11-03 14:00"));
    let (status, accepted) = act(&app, &clerk, &incomplete, "accept", json!({})).await;
    assert_eq!(
        (status, accepted["status"].as_str()),
        (200, Some("accepted")),
        "{accepted}"
    );
    assert_eq!(
        vn_of(&accepted["legal_clock"]["due_at"]),
        "2026-11-06 14:00",
        "the clock starts at the acceptance"
    );
    illegal(&app, &clerk, &incomplete, "return", any.clone()).await;

    // In processing, waiting for a supplement, waiting for payment.
    act(
        &app,
        &clerk,
        &incomplete,
        "handover",
        json!({"to_step": "Thẩm định"}),
    )
    .await;
    illegal(&app, &clerk, &incomplete, "accept", any.clone()).await;
    act(
        &app,
        &officer,
        &incomplete,
        "request-supplement",
        json!({"reason": "mờ", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}]}),
    )
    .await;
    illegal(&app, &officer, &incomplete, "complete", any.clone()).await;
    act(
        &app,
        &clerk,
        &incomplete,
        "supplement",
        json!({"documents": [], "note": "đã bổ sung"}),
    )
    .await;
    act(
        &app,
        &officer,
        &incomplete,
        "request-payment",
        json!({"amount": 15000, "reason": "lệ phí"}),
    )
    .await;
    illegal(&app, &clerk, &incomplete, "handover", any.clone()).await;
    act(
        &app,
        &clerk,
        &incomplete,
        "payments",
        json!({"amount": 15000, "method": "cash", "reference": "BL-01"}),
    )
    .await;

    // Result ready, then returned by post.
    act(
        &app,
        &officer,
        &incomplete,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    illegal(&app, &clerk, &incomplete, "withdraw", any.clone()).await;
    let (status, posted) = act(
        &app,
        &clerk,
        &incomplete,
        "return",
        json!({"delivery": "post", "tracking_number": "EV123456789VN"}),
    )
    .await;
    assert_eq!(
        (
            status,
            posted["status"].as_str(),
            posted["result_delivery"].as_str()
        ),
        (200, Some("returned"), Some("post"))
    );
    illegal(&app, &leader, &incomplete, "stop", any.clone()).await;

    // Stopped by a leader with a notice; nothing moves it afterwards.
    let stopped = id(&fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await);
    let (status, stop) = act(
        &app,
        &leader,
        &stopped,
        "stop",
        json!({"reason": "người nộp đề nghị dừng"}),
    )
    .await;
    assert_eq!(
        (
            status,
            stop["status"].as_str(),
            stop["portal_status"].as_u64()
        ),
        (200, Some("stopped"), Some(8))
    );
    illegal(&app, &officer, &stopped, "complete", any.clone()).await;
    let notice = json(
        app.get_as(
            &format!("/api/v1/dossiers/{stopped}/forms/stop_notice"),
            &clerk,
        )
        .await,
        "application/json",
    )
    .await;
    assert!(
        notice["fields"]
            .to_string()
            .contains("người nộp đề nghị dừng")
    );

    // Withdrawn by its owner.
    let withdrawn = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    assert_eq!(
        act(
            &app,
            &citizen,
            &withdrawn,
            "withdraw",
            json!({"reason": "nhầm"})
        )
        .await
        .0,
        200
    );
    illegal(&app, &clerk, &withdrawn, "accept", any).await;
}

/// A request that fails keeps nothing it wrote: its whole transaction rolls
/// back, whether the failure is the client's (a 4xx) or ours (a 500); a
/// staff read that fails is not recorded.
async fn a_failed_request_keeps_nothing_it_wrote(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, officer, admin) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Admin),
    );
    let accepted = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    assert_eq!(accepted["code"], "000.01.00.H01-261102-0001");
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    let before = (version_of(&app, &id), event_count(&app, &id));

    // Validation fails after the dossier was loaded and the transition decided.
    let (status, body) = act(&app, &officer, &id, "complete", json!({"outcome": "maybe"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );
    assert_eq!(
        (version_of(&app, &id), event_count(&app, &id)),
        before,
        "nothing changed"
    );

    // The agency's stored calendar becomes unreadable: requests fail late.
    app.db
        .write(|conn| {
            motcua_persistence::calendars::put(
                conn,
                &fixture.own.id.to_string(),
                2026,
                None,
                "not a calendar",
                None,
                chrono::Utc::now(),
            )
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
    // A staff read that fails (its calendar cannot be read) records nothing:
    // neither in the history nor in the access log.
    let path = format!("/api/v1/dossiers/{id}");
    problem(app.get_as(&path, &clerk).await, 500, "internal_error").await;
    assert_eq!(
        (version_of(&app, &id), event_count(&app, &id)),
        before,
        "nothing in the history"
    );
    assert_eq!(access_log_entries(&app, &id), 0, "no read recorded");
    // An online filing whose calendar cannot be read fails (it takes the
    // day's number only after the calendar, just before its insert): no
    // number is used up.
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let filing = online_filing(&app, &citizen, &fixture.own).await;
    let response = app
        .post_json("/api/v1/dossiers", Some(&citizen), &filing)
        .await;
    problem(response, 500, "internal_error").await;

    let calendar = format!("/api/v1/agencies/{}/calendar/2026", fixture.own.id);
    let repaired = app
        .send(
            Method::PUT,
            &calendar,
            Some(&admin),
            Some(&json!({"days": []})),
        )
        .await;
    assert_eq!(repaired.status().as_u16(), 200);
    let filed = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let filed = json(
        app.get_as(&format!("/api/v1/dossiers/{filed}"), &citizen)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(
        filed["code"], "000.01.00.H01-261102-0002",
        "no gap in the numbers"
    );
    // With the calendar readable again, the staff read is recorded, in the
    // access log and not in the history.
    json(app.get_as(&path, &clerk).await, "application/json").await;
    assert_eq!(access_log_entries(&app, &id), 1);
    assert_eq!(event_count(&app, &id), before.1);
}

/// Servers keep composed calendars in memory. A calendar changed through
/// another server on the same database moves the deadlines this server
/// shows on its very next request (the change bumps a stamp both read).
async fn a_calendar_changed_through_another_server_moves_deadlines_at_once(mut app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, admin) = (token(&fixture, Who::Clerk), token(&fixture, Who::Admin));
    let accepted = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let path = format!(
        "/api/v1/dossiers/{}",
        accepted["id"].as_str().unwrap_or_default()
    );
    let due = |app: &TestApp| {
        let (path, clerk) = (path.clone(), clerk.clone());
        let request = app.client.get(app.url(&path)).bearer_auth(clerk);
        async move {
            let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
            vn_of(&json(response, "application/json").await["legal_clock"]["due_at"])
        }
    };
    assert_eq!(
        due(&app).await,
        "2026-11-05 09:30",
        "read (and cached) here"
    );
    let first = app.address.clone();
    app.restart(|_| {}).await;
    let closed = json!({"days": [{"date": "2026-11-04", "kind": "off", "reason": "closure", "name": "Bão"}]});
    let calendar = format!("/api/v1/agencies/{}/calendar/2026", fixture.own.id);
    let saved = app
        .send(Method::PUT, &calendar, Some(&admin), Some(&closed))
        .await;
    assert_eq!(
        saved.status().as_u16(),
        200,
        "changed through the second server"
    );
    app.address = first;
    assert_eq!(
        due(&app).await,
        "2026-11-06 09:30",
        "the first server sees it at once"
    );
}

/// How many reads of a dossier the access log holds.
fn access_log_entries(app: &TestApp, id: &str) -> usize {
    let id: DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| motcua_persistence::access_log::of_dossier(conn, id))
        .map(|entries| entries.len())
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
}

api_tests!(
    every_state_refuses_an_illegal_action_and_the_desk_paths_work,
    a_calendar_changed_through_another_server_moves_deadlines_at_once,
    agency_calendars_override_their_parents_and_move_deadlines,
    forms_are_built_from_the_stored_dossier_as_json_and_printable_html,
    the_public_look_up_needs_the_second_factor_and_shows_no_personal_data,
    lists_apply_reach_and_filters_in_the_database,
    bad_filings_get_field_messages_and_store_nothing,
    desk_acceptance_sets_the_legal_due_time_and_a_gapless_code,
    a_processing_supplement_in_pause_mode_moves_the_due_time_by_the_paused_time,
    a_processing_supplement_in_restart_mode_restarts_the_budget,
    an_online_filing_goes_through_an_intake_supplement_to_acceptance,
    a_refused_dossier_takes_no_further_action_and_nothing_changes,
    a_stale_version_is_412_and_changes_nothing,
    extensions_apologies_results_returns_and_ratings_follow_the_rules,
    a_late_dossier_still_gets_its_apology_and_counts_as_late_with_apology,
    late_dossiers_without_an_apology_are_listed_with_their_supplement_requests,
    forms_carry_the_official_fields_of_the_circular_in_force_on_their_issue_day,
    every_form_prints_the_official_fields_before_and_after_15_september_2025,
    the_tracking_book_lists_the_periods_dossiers_in_number_order,
    the_desk_apologises_for_its_own_intake_error,
    an_owner_rates_once_after_the_result_and_may_withdraw_before,
    the_audit_finds_the_first_edited_event,
    a_failed_request_keeps_nothing_it_wrote,
    side_records_are_rows_of_their_own,
);

/// Each side record an action adds is a row of its own table, written with
/// the action: a hand-over, a supplement request and its items, an apology,
/// a rating and its criteria read back as columns. A rating naming a
/// criterion too long to be a key is refused and writes nothing.
async fn side_records_are_rows_of_their_own(app: TestApp) {
    use motcua_persistence::records;

    let fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let (clerk, officer, leader) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Leader),
    );
    let id = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let (status, accepted) = act(&app, &clerk, &id, "accept", json!({})).await;
    assert_eq!(status, 200, "{accepted}");
    // A hand-over names a unit that exists and a person on the staff.
    let before = app.version_and_events(&id);
    for (body, field) in [
        (
            json!({"to_agency_id": motcua_persistence::AgencyId::new().to_string()}),
            "to_agency_id",
        ),
        (
            json!({"to_step": "Thẩm định", "to_user_id": motcua_persistence::UserId::new().to_string()}),
            "to_user_id",
        ),
        (json!({"to_step": "Không có bước này"}), "to_step"),
    ] {
        let (status, refused) = act(&app, &clerk, &id, "handover", body).await;
        assert_eq!(
            (status, refused["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{refused}"
        );
    }
    // A supplement request asks only for documents of the procedure's
    // published set: each item names one by its code.
    for item in [
        json!({"name": "Bản sao sổ hộ khẩu", "problem": "thiếu"}),
        json!({"requirement_code": "HK", "name": "Sổ hộ khẩu", "problem": "thiếu"}),
    ] {
        let (status, refused) = act(
            &app,
            &officer,
            &id,
            "request-supplement",
            json!({"reason": "thiếu giấy tờ", "items": [item]}),
        )
        .await;
        assert_eq!(
            (status, refused["errors"][0]["field"].as_str()),
            (422, Some("items[0].requirement_code")),
            "{refused}"
        );
    }
    assert_eq!(
        app.version_and_events(&id),
        before,
        "refusals wrote nothing"
    );
    let unit = json!({"to_agency_id": fixture.child.id.to_string()});
    let (status, handed) = act(&app, &clerk, &id, "handover", unit).await;
    assert_eq!(status, 200, "{handed}");
    let steps = [
        (
            &clerk,
            "handover",
            json!({"to_step": "Thẩm định", "note": "hồ sơ đủ"}),
        ),
        (
            &officer,
            "request-supplement",
            json!({"reason": "thiếu giấy tờ", "items": [
                {"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "mờ"},
                {"requirement_code": "TK", "name": "Tờ khai", "problem": "thiếu chữ ký"},
            ]}),
        ),
        (
            &citizen,
            "supplement",
            json!({"documents": [], "note": "đã bổ sung"}),
        ),
    ];
    for (token, action, body) in steps {
        let (status, answer) = act(&app, token, &id, action, body).await;
        assert_eq!(status, 200, "{action}: {answer}");
    }
    let due = app
        .get_as(&format!("/api/v1/dossiers/{id}"), &officer)
        .await
        .json::<Value>()
        .await
        .unwrap_or_default()["legal_clock"]["due_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no due time"));
    let appointment = (due + chrono::Duration::days(3)).to_utc();
    let steps = [
        (
            &leader,
            "apology",
            json!({"reason": "chậm xác minh", "new_appointment_at": appointment}),
        ),
        (&officer, "complete", json!({"outcome": "approved"})),
        (&clerk, "return", json!({"delivery": "online"})),
    ];
    for (token, action, body) in steps {
        let (status, answer) = act(&app, token, &id, action, body).await;
        assert_eq!(status, 200, "{action}: {answer}");
    }
    let long = "t".repeat(101);
    let (status, refused) = act(
        &app,
        &citizen,
        &id,
        "rating",
        json!({"overall": "satisfied", "criteria": {long: "satisfied"}}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (422, Some("validation_failed")),
        "{refused}"
    );
    let (status, rated) = act(
        &app,
        &citizen,
        &id,
        "rating",
        json!({"overall": "dissatisfied", "comment": "chờ lâu",
               "criteria": {"thái độ": "satisfied", "thời gian": "dissatisfied"}}),
    )
    .await;
    assert_eq!(status, 200, "{rated}");

    let dossier: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    let rows = app
        .db
        .run(|conn| records::of(conn, dossier))
        .unwrap_or_else(|e| panic!("{e}"));
    let hand_over = &rows.hand_overs[..];
    assert_eq!(
        hand_over
            .iter()
            .map(|h| (h.nth, h.to_step.as_deref(), h.note.as_deref()))
            .collect::<Vec<_>>(),
        [(1, None, None), (2, Some("Thẩm định"), Some("hồ sơ đủ"))]
    );
    assert_eq!(
        rows.supplement_requests
            .iter()
            .map(|r| (r.nth, r.reason.as_str()))
            .collect::<Vec<_>>(),
        [(1, "thiếu giấy tờ")]
    );
    assert_eq!(
        rows.supplement_items
            .iter()
            .map(|i| (
                i.position,
                i.requirement_code.as_deref(),
                i.name.as_str(),
                i.problem.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (1, Some("CM"), "Giấy tờ chứng minh", "mờ"),
            (2, Some("TK"), "Tờ khai", "thiếu chữ ký")
        ]
    );
    assert_eq!(
        rows.apologies
            .iter()
            .map(|a| (a.reason.as_str(), a.new_appointment_at.and_utc()))
            .collect::<Vec<_>>(),
        [("chậm xác minh", appointment)]
    );
    assert_eq!(
        rows.ratings
            .iter()
            .map(|r| (r.overall.as_str(), r.comment.as_deref()))
            .collect::<Vec<_>>(),
        [("dissatisfied", Some("chờ lâu"))]
    );
    assert_eq!(
        rows.rating_criteria
            .iter()
            .map(|c| (c.criterion.as_str(), c.value.as_str()))
            .collect::<Vec<_>>(),
        [("thái độ", "satisfied"), ("thời gian", "dissatisfied")]
    );
    let differences = app
        .db
        .run(records::differences)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(differences.is_empty(), "{differences:#?}");
}

async fn agency_calendars_override_their_parents_and_move_deadlines(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let admin = token(&fixture, Who::Admin);
    // Commune A closes on Monday 2026-11-09 and works on Saturday 2026-11-14.
    let own = json!({"days": [
        {"date": "2026-11-09", "kind": "off", "reason": "closure", "name": "Đại hội đại biểu"},
        {"date": "2026-11-14", "kind": "working", "name": "Làm bù", "hours": ["07:30-11:30"]},
    ]});
    let path = format!("/api/v1/agencies/{}/calendar/2026", fixture.own.id);
    let saved = app.send(Method::PUT, &path, Some(&admin), Some(&own)).await;
    let saved = json(saved, "application/json").await;
    assert_eq!(saved["own"]["days"].as_array().map(Vec::len), Some(2));
    assert_eq!(saved["announced"], true);
    // The unit below inherits it; its own part is empty.
    let child = json(
        app.get_as(
            &format!("/api/v1/agencies/{}/calendar/2026", fixture.child.id),
            &admin,
        )
        .await,
        "application/json",
    )
    .await;
    assert!(child["own"]["days"].as_array().is_some_and(Vec::is_empty));
    assert!(
        child["effective"]["days"]
            .to_string()
            .contains("Đại hội đại biểu")
    );
    assert!(
        child["effective"]["days"]
            .to_string()
            .contains("Quốc khánh"),
        "the national days are there too"
    );

    let preview = |agency: String| {
        let app = &app;
        async move {
            let body = json!({"agency_id": agency, "time_limit": {"amount": 5, "unit": "working_days"}, "received_at": "2026-11-04T02:30:00Z"});
            json(
                app.post_json("/api/v1/deadlines/preview", None, &body)
                    .await,
                "application/json",
            )
            .await
        }
    };
    // 5 working days from Wednesday 09:30: the sibling commune counts Wed–Tue (due Wednesday 11-11);
    // commune A and its unit skip Monday 11-09 (due Thursday 11-12).
    assert_eq!(
        vn_of(&preview(fixture.sibling.id.to_string()).await["due_at"]),
        "2026-11-11 09:30"
    );
    let at_child = preview(fixture.child.id.to_string()).await;
    assert_eq!(vn_of(&at_child["due_at"]), "2026-11-12 09:30");
    assert!(
        at_child["explanation_vi"]
            .to_string()
            .contains("Đại hội đại biểu")
    );

    // The same rule applies to a real dossier received by A.
    app.clock.set(vn("2026-11-04 09:30"));
    procedure(&app, &fixture, "9.000004", "pause", 0).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "9.000004", json!({"kind": "accept"}))
        .await;
    // 3 working days from Wednesday 09:30, skipping Monday 11-09: Tuesday 11-10 09:30.
    assert_eq!(vn_of(&dossier["legal_clock"]["due_at"]), "2026-11-10 09:30");

    let bad = json!({"days": [{"date": "2027-01-01", "kind": "off", "name": "x"}]});
    problem(
        app.send(Method::PUT, &path, Some(&admin), Some(&bad)).await,
        422,
        "validation_failed",
    )
    .await;
    let neither =
        json!({"agency_id": fixture.own.id.to_string(), "received_at": "2026-11-04T02:30:00Z"});
    problem(
        app.post_json("/api/v1/deadlines/preview", None, &neither)
            .await,
        422,
        "validation_failed",
    )
    .await;
}
