//! Processing across agencies (issue #15): a dossier received at one agency
//! and resolved by another. Reach is the agency's subtree plus the dossiers
//! handed to it; the agency that holds a dossier acts on it, the agencies it
//! passed through read it.
//!
//! ```text
//! province P
//! ├── commune A ("own": the desk that receives)
//! ├── commune B ("sibling")
//! └── department D (created here, with an officer and a leader)
//! province Q (another province, created here)
//! ```

use chrono::Utc;
use motcua_api::auth::Passwords;
use motcua_persistence::agencies::{self, Agency, NewAgency};
use motcua_persistence::users;
use serde_json::{Value, json};

use crate::fixture::{Fixture, PASSWORD, new_user};
use crate::helpers::{TestApp, json, problem, vn};

/// Adds agency `identifier` of `kind` under `parent`, with staff
/// (`username`, `roles`) in it.
fn agency_with_staff(
    app: &TestApp,
    identifier: &str,
    kind: &str,
    parent: Option<&Agency>,
    staff: &[(&str, &str)],
) -> Agency {
    let hash = Passwords::new()
        .and_then(|p| p.hash(PASSWORD))
        .unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| {
            let agency = agencies::create(
                conn,
                &NewAgency {
                    identifier: identifier.into(),
                    name: format!("Agency {identifier}"),
                    kind: kind.into(),
                    parent_id: parent.map(|p| p.id),
                },
                Utc::now(),
            )?;
            for (username, roles) in staff {
                users::create(
                    conn,
                    &new_user(username, "staff", roles, Some(agency.id), &hash),
                )?;
            }
            Ok(agency)
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
}

/// Department D under the fixture's province, with `officer.d` and `leader.d`.
fn department(app: &TestApp, fixture: &Fixture) -> Agency {
    agency_with_staff(
        app,
        "000.00.10.H01",
        "department",
        Some(&fixture.province),
        &[("officer.d", "officer"), ("leader.d", "leader")],
    )
}

/// Desk intake by `clerk` (a token) at their agency, accepted, naming `resolving` (if any).
async fn received_by(app: &TestApp, clerk: &str, resolving: Option<&Agency>) -> reqwest::Response {
    let scan = app.upload_pdf(clerk).await;
    let mut body = json!({
        "channel": "direct", "procedure_code": "1.004194",
        "applicant": {"full_name": "Trần Thị Bình", "phone": "0987654321"},
        "documents": [{"requirement_code": "TK", "originals": 1, "file_id": scan}, {"requirement_code": "CM", "copies": 1}],
        "result_delivery": "desk", "decision": {"kind": "accept"},
    });
    if let Some(agency) = resolving {
        body["resolving_agency_id"] = json!(agency.id.to_string());
    }
    app.post_json("/api/v1/dossiers/intake", Some(clerk), &body)
        .await
}

/// The body of an approving completion.
fn approved() -> Value {
    json!({"outcome": "approved", "result_files": [], "electronic_result": false})
}

async fn status_of_read(app: &TestApp, token: &str, id: &str) -> u16 {
    app.get_as(&format!("/api/v1/dossiers/{id}"), token)
        .await
        .status()
        .as_u16()
}

async fn listed(app: &TestApp, token: &str, id: &str) -> bool {
    let page: Value = json(
        app.get_as("/api/v1/dossiers?limit=100", token).await,
        "application/json",
    )
    .await;
    page["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item["id"] == id))
}

/// A dossier received at commune A for department D: invisible to D before
/// the hand-over, actionable by D after it while A only reads it; D's
/// result returns to A's desk, which hands it to the citizen.
async fn a_department_resolves_what_a_commune_received(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let department = department(&app, &fixture);
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let (officer_a, _) = app.login("officer.a", PASSWORD).await;
    let (officer_d, _) = app.login("officer.d", PASSWORD).await;

    let received = json(
        received_by(&app, &clerk, Some(&department)).await,
        "application/json",
    )
    .await;
    let id = received["id"].as_str().unwrap_or_default().to_owned();
    let (a, d) = (fixture.own.id.to_string(), department.id.to_string());
    assert_eq!(received["agency_id"], a.as_str());
    assert_eq!(received["resolving_agency_id"], d.as_str());
    assert_eq!(received["holder_agency_id"], a.as_str());

    // Before the hand-over D neither reads, lists nor acts on it.
    assert_eq!(status_of_read(&app, &officer_d, &id).await, 404);
    assert!(!listed(&app, &officer_d, &id).await);
    let (status, _) = app.act(&officer_d, &id, "complete", approved()).await;
    assert_eq!(status, 404);

    let (status, handed) = app
        .act(
            &clerk,
            &id,
            "handover",
            json!({"to_agency_id": d.to_uppercase(), "note": "Chuyển Sở"}),
        )
        .await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(handed["holder_agency_id"], d.as_str());

    // D reads, lists and acts; A still reads but no longer acts.
    assert_eq!(status_of_read(&app, &officer_d, &id).await, 200);
    assert!(listed(&app, &officer_d, &id).await);
    assert_eq!(status_of_read(&app, &clerk, &id).await, 200);
    assert!(listed(&app, &clerk, &id).await);
    let (status, refused) = app.act(&officer_a, &id, "complete", approved()).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("held_elsewhere")),
        "{refused}"
    );
    let (status, done) = app.act(&officer_d, &id, "complete", approved()).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("result_ready")),
        "{done}"
    );

    // The result goes back to A's desk; D keeps reading, A hands it over.
    let (status, back) = app
        .act(&officer_d, &id, "handover", json!({"to_agency_id": a}))
        .await;
    assert_eq!(
        (status, back["holder_agency_id"].as_str()),
        (200, Some(a.as_str())),
        "{back}"
    );
    assert_eq!(status_of_read(&app, &officer_d, &id).await, 200);
    let (status, late) = app
        .act(&officer_d, &id, "handover", json!({"to_agency_id": d}))
        .await;
    assert_eq!(
        (status, late["code"].as_str()),
        (409, Some("held_elsewhere")),
        "{late}"
    );
    let (status, returned) = app
        .act(&clerk, &id, "return", json!({"delivery": "desk"}))
        .await;
    assert_eq!(
        (status, returned["status"].as_str()),
        (200, Some("returned")),
        "{returned}"
    );
}

/// Received regardless of administrative boundary: commune A receives a
/// dossier that commune B resolves; B's staff see it only once A hands it
/// over. Agencies of another province can neither resolve nor receive it.
async fn a_commune_receives_for_another_commune_of_the_province(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let elsewhere = agency_with_staff(&app, "000.00.00.H02", "province", None, &[]);
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let (clerk_b, _) = app.login("staff.sibling", PASSWORD).await;

    let outside = received_by(&app, &clerk, Some(&elsewhere)).await;
    let answer = problem(outside, 422, "validation_failed").await;
    assert!(
        answer.to_string().contains("resolving_agency_id"),
        "{answer}"
    );

    let received = json(
        received_by(&app, &clerk, Some(&fixture.sibling)).await,
        "application/json",
    )
    .await;
    let id = received["id"].as_str().unwrap_or_default().to_owned();
    let b = fixture.sibling.id.to_string();
    assert_eq!(received["resolving_agency_id"], b.as_str());
    assert_eq!(status_of_read(&app, &clerk_b, &id).await, 404);

    let (status, refused) = app
        .act(
            &clerk,
            &id,
            "handover",
            json!({"to_agency_id": elsewhere.id.to_string()}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused.to_string().contains("to_agency_id"), "{refused}");

    let (status, _) = app
        .act(&clerk, &id, "handover", json!({"to_agency_id": b}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of_read(&app, &clerk_b, &id).await, 200);
    assert!(listed(&app, &clerk_b, &id).await);
    let (status, step) = app
        .act(&clerk_b, &id, "handover", json!({"to_step": "Thẩm định"}))
        .await;
    assert_eq!(status, 200, "{step}");
    assert_eq!(
        step["holder_agency_id"],
        b.as_str(),
        "a step within B leaves it with B"
    );

    // A dossier that never left A stays out of B's reach.
    let own = json(received_by(&app, &clerk, None).await, "application/json").await;
    assert_eq!(
        own["resolving_agency_id"],
        fixture.own.id.to_string().as_str()
    );
    let own = own["id"].as_str().unwrap_or_default();
    assert_eq!(status_of_read(&app, &clerk_b, own).await, 404);
    assert!(!listed(&app, &clerk_b, own).await);
}

/// Three agencies: commune A receives, department D appraises (budget 12
/// working hours) and runs over, the police unit P approves (budget 8) in
/// time, the result goes back to A. The control slip lists each step with
/// its giver, receiver, due time and standing; the lateness is D's, so D's
/// leader apologises and A's cannot.
async fn a_late_step_makes_its_agency_the_one_at_fault(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let department = department(&app, &fixture);
    let police = agency_with_staff(
        &app,
        "000.01.95.H01",
        "police",
        Some(&fixture.province),
        &[("officer.p", "officer")],
    );
    let app = &app;
    let token = |username: &'static str| async move { app.login(username, PASSWORD).await.0 };
    let (clerk, leader_a) = (token("clerk.a").await, token("leader.a").await);
    let (officer_d, leader_d) = (token("officer.d").await, token("leader.d").await);
    let officer_p = token("officer.p").await;

    // Monday 2/11/2026 08:00: received at A (3 working days: due Thursday 08:00).
    app.clock.set(vn("2026-11-02 08:00"));
    let received = json(
        received_by(app, &clerk, Some(&department)).await,
        "application/json",
    )
    .await;
    let id = received["id"].as_str().unwrap_or_default().to_owned();
    app.clock.set(vn("2026-11-02 08:30"));
    let to_d = json!({"to_agency_id": department.id.to_string(), "to_step": "Thẩm định"});
    assert_eq!(app.act(&clerk, &id, "handover", to_d).await.0, 200);
    // D keeps it until Wednesday afternoon: far beyond its 12 hours.
    app.clock.set(vn("2026-11-04 16:00"));
    let to_p = json!({"to_agency_id": police.id.to_string(), "to_step": "Phê duyệt"});
    assert_eq!(app.act(&officer_d, &id, "handover", to_p).await.0, 200);

    // Thursday 09:00, past the due time: the apology is D's to give.
    app.clock.set(vn("2026-11-05 09:00"));
    let apology =
        json!({"reason": "Sở thẩm định chậm", "new_appointment_at": "2026-11-05T09:00:00Z"});
    let (status, refused) = app.act(&leader_a, &id, "apology", apology.clone()).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("not_at_fault")),
        "{refused}"
    );
    let (status, given) = app.act(&leader_d, &id, "apology", apology).await;
    assert_eq!(status, 200, "{given}");

    app.clock.set(vn("2026-11-05 09:30"));
    let (status, done) = app.act(&officer_p, &id, "complete", approved()).await;
    assert_eq!(
        (status, done["legal_clock"]["outcome"].as_str()),
        (200, Some("late")),
        "{done}"
    );
    let back = json!({"to_agency_id": fixture.own.id.to_string()});
    assert_eq!(app.act(&officer_p, &id, "handover", back).await.0, 200);

    let slip = json(
        app.get_as(&format!("/api/v1/dossiers/{id}/forms/control_slip"), &clerk)
            .await,
        "application/json",
    )
    .await;
    let rows = slip["tables"][0]["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cells = |i: usize| -> Vec<String> {
        rows.get(i)
            .and_then(Value::as_array)
            .map(|row| {
                row.iter()
                    .map(|c| c.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (first, second, third) = (cells(0), cells(1), cells(2));
    assert_eq!(
        (first[0].as_str(), first[1].as_str(), first[4].as_str()),
        (
            "User clerk.a",
            "Agency 000.00.10.H01 — Thẩm định",
            "Quá hạn"
        ),
        "{slip}"
    );
    assert_ne!(first[3], "—", "the step's due time: {slip}");
    assert_eq!(
        (second[0].as_str(), second[1].as_str()),
        ("User officer.d", "Agency 000.01.95.H01 — Phê duyệt"),
        "{slip}"
    );
    assert!(
        ["Trước hạn", "Đúng hạn"].contains(&second[4].as_str()),
        "{slip}"
    );
    assert_eq!(
        (third[0].as_str(), third[1].as_str(), third[3].as_str()),
        ("User officer.p", "Agency 000.01.00.H01", "—"),
        "{slip}"
    );

    // The late-steps report lists D's appraisal under D and the officer who
    // held it. Its 12 working hours from Monday 08:30 (07:30–11:30 and
    // 13:00–17:00) ran out on Tuesday at 14:00; it ended Wednesday at 16:00,
    // 26 hours later. The police's step kept its budget; A did no late step.
    let late_steps = |token: String, agency: String, csv: bool| async move {
        let format = if csv { "&format=csv" } else { "" };
        app.get_as(
            &format!("/api/v1/reports/late-steps?period=2026-11&agency_id={agency}{format}"),
            &token,
        )
        .await
    };
    let at_d = json(
        late_steps(leader_d.clone(), department.id.to_string(), false).await,
        "application/json",
    )
    .await;
    let line = &at_d["lines"][0];
    assert_eq!(at_d["lines"].as_array().map(Vec::len), Some(1), "{at_d}");
    assert_eq!(
        (
            line["code"].as_str(),
            line["step"].as_str(),
            line["agency"].as_str(),
            line["officer"].as_str()
        ),
        (
            received["code"].as_str(),
            Some("Thẩm định"),
            Some("Agency 000.00.10.H01"),
            Some("User officer.d")
        ),
        "{at_d}"
    );
    assert_eq!(
        (
            line["due_at"].as_str(),
            line["ended_at"].as_str(),
            line["overrun_seconds"].as_i64()
        ),
        (
            Some("2026-11-03T07:00:00Z"),
            Some("2026-11-04T09:00:00Z"),
            Some(26 * 3600)
        ),
        "{at_d}"
    );
    assert_eq!(
        at_d["by_agency"][0]["late_steps"].as_u64(),
        Some(1),
        "{at_d}"
    );
    assert_eq!(at_d["by_officer"][0]["officer"], "User officer.d", "{at_d}");
    let csv = late_steps(leader_d, department.id.to_string(), true)
        .await
        .text()
        .await
        .unwrap_or_default();
    let csv_lines: Vec<&str> = csv.lines().collect();
    assert_eq!(csv_lines.len(), 2, "{csv}");
    assert!(
        csv_lines[1].contains("Thẩm định") && csv_lines[1].ends_with(",93600"),
        "{csv}"
    );
    let at_a = json(
        late_steps(leader_a, fixture.own.id.to_string(), false).await,
        "application/json",
    )
    .await;
    assert_eq!(at_a["lines"].as_array().map(Vec::len), Some(0), "{at_a}");
}

/// Form 06 counts a dossier at the agency that resolves it: department D's
/// report counts the dossiers D resolves, received at A or at B, and none
/// that A resolves itself; grouped by receiving agency, its rows add up to
/// the same totals; A's report no longer counts what D resolves.
async fn form_06_counts_at_the_resolving_agency(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let department = department(&app, &fixture);
    let (clerk_a, _) = app.login("clerk.a", PASSWORD).await;
    let (clerk_b, _) = app.login("staff.sibling", PASSWORD).await;
    let (officer_d, _) = app.login("officer.d", PASSWORD).await;
    let (leader_d, _) = app.login("leader.d", PASSWORD).await;
    let (leader_a, _) = app.login("leader.a", PASSWORD).await;
    let to_d = json!({"to_agency_id": department.id.to_string(), "to_step": "Thẩm định"});

    app.clock.set(vn("2026-11-02 08:00"));
    // Received at A for D, resolved by D.
    let first = json(
        received_by(&app, &clerk_a, Some(&department)).await,
        "application/json",
    )
    .await;
    let first = first["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        app.act(&clerk_a, &first, "handover", to_d.clone()).await.0,
        200
    );
    assert_eq!(
        app.act(&officer_d, &first, "complete", approved()).await.0,
        200
    );
    // Received at B (regardless of boundary) for D, still open.
    let second = json(
        received_by(&app, &clerk_b, Some(&department)).await,
        "application/json",
    )
    .await;
    assert_eq!(second["agency_id"], fixture.sibling.id.to_string().as_str());
    let second = second["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.act(&clerk_b, &second, "handover", to_d).await.0, 200);
    // Received and resolved at A.
    json(received_by(&app, &clerk_a, None).await, "application/json").await;

    app.clock.set(vn("2026-11-20 10:00"));
    let report = |token: String, agency: String, group_by: &'static str| {
        let app = &app;
        async move {
            let path = format!(
                "/api/v1/reports/kstt-06?agency_id={agency}&period=2026-11&group_by={group_by}"
            );
            json(app.get_as(&path, &token).await, "application/json").await
        }
    };
    let d = department.id.to_string();
    let at_d = report(leader_d.clone(), d.clone(), "agency").await;
    assert_eq!(
        (
            at_d["total"]["taken_on"].as_u64(),
            at_d["total"]["resolved"].as_u64()
        ),
        (Some(2), Some(1)),
        "{at_d}"
    );
    let keys: Vec<&str> = at_d["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(keys, ["000.00.10.H01"], "{at_d}");

    let by_desk = report(leader_d, d, "receiving_agency").await;
    assert_eq!(by_desk["total"], at_d["total"], "the same totals");
    let mut rows: Vec<(String, u64)> = by_desk["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or_default().to_owned(),
                r["taken_on"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("000.01.00.H01".to_owned(), 1),
            ("000.02.00.H01".to_owned(), 1)
        ],
        "{by_desk}"
    );

    let at_a = report(leader_a, fixture.own.id.to_string(), "agency").await;
    assert_eq!(at_a["total"]["taken_on"].as_u64(), Some(1), "{at_a}");
}

/// A procedure decided by an agency of `kind`, as an administrator enters
/// it: two working days, full online service, a declaration (`TK`) and a
/// birth certificate (`GCS`).
async fn decided_by(app: &TestApp, admin: &str, code: &str, kind: &str) {
    let entry = json!({
        "code": code, "name": "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi", "field": {"code": "BHYT", "name": "Bảo hiểm y tế"},
        "online_kind": "full", "effective_from": "2026-01-01", "time_limit": {"amount": 2, "unit": "working_days"},
        "on_supplement": "pause", "fee": {"kind": "exempt"}, "decided_by": kind,
        "documents": [{"code": "TK", "name": "Tờ khai", "mandatory": true}, {"code": "GCS", "name": "Giấy chứng sinh", "mandatory": true}],
        "deliveries": ["desk", "online"],
    });
    let response = app
        .post_json("/api/v1/procedures", Some(admin), &entry)
        .await;
    assert_eq!(response.status().as_u16(), 201, "procedure {code}");
}

/// The procedure's version says which kind of agency decides it: a dossier
/// received without a named resolving agency goes to the one agency of that
/// kind in the province; with two, the clerk must name one.
async fn the_procedure_says_which_kind_of_agency_decides(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let office = agency_with_staff(&app, "000.00.40.H01", "other", Some(&fixture.province), &[]);
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    decided_by(&app, &admin, "9.100001", "other").await;
    let intake = |clerk: String| {
        let app = &app;
        async move {
            let scan = app.upload_pdf(&clerk).await;
            let body = json!({
                "channel": "direct", "procedure_code": "9.100001",
                "applicant": {"full_name": "Trần Thị Bình", "phone": "0987654321"},
                "documents": [{"requirement_code": "TK", "file_id": scan}, {"requirement_code": "GCS", "copies": 1}],
                "result_delivery": "desk", "decision": {"kind": "accept"},
            });
            app.post_json("/api/v1/dossiers/intake", Some(&clerk), &body)
                .await
        }
    };
    let received = json(intake(clerk.clone()).await, "application/json").await;
    assert_eq!(received["agency_id"], fixture.own.id.to_string().as_str());
    assert_eq!(
        received["resolving_agency_id"],
        office.id.to_string().as_str(),
        "{received}"
    );

    let second = agency_with_staff(&app, "000.00.41.H01", "other", Some(&fixture.province), &[]);
    let before = app.dossier_count();
    let refused = problem(intake(clerk).await, 422, "validation_failed").await;
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert_eq!(
        refused["errors"][0]["field"], "resolving_agency_id",
        "{refused}"
    );
    assert!(
        message.contains(&office.name) && message.contains(&second.name),
        "{message}"
    );
    let after = app.dossier_count();
    assert_eq!(before, after, "nothing stored");
}

/// An interconnected group of three procedures (birth registration,
/// permanent residence, a health insurance card for a child under six:
/// Decree 63/2024) filed once online at commune A: three linked dossiers,
/// each with its own code and clock, at the agency that decides it (A; the
/// police unit the citizen names; the one social insurance office, from the
/// procedure's version), sharing the documents they ask for. The citizen and
/// A's desk see them together; the police see theirs once it is handed to them.
async fn a_group_filed_once_opens_linked_dossiers_with_their_own_clocks(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let police = agency_with_staff(
        &app,
        "000.00.30.H01",
        "police",
        Some(&fixture.province),
        &[("officer.p", "officer")],
    );
    let office = agency_with_staff(&app, "000.00.40.H01", "other", Some(&fixture.province), &[]);
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let (officer_p, _) = app.login("officer.p", PASSWORD).await;
    let (citizen, _) = app.login(crate::fixture::CITIZEN, PASSWORD).await;
    let (other, _) = app.login(crate::fixture::OTHER_CITIZEN, PASSWORD).await;
    decided_by(&app, &admin, "9.100001", "other").await;

    let group = json!({
        "name": "Liên thông đăng ký khai sinh, đăng ký thường trú, cấp thẻ BHYT cho trẻ em dưới 6 tuổi",
        "basis": "Nghị định 63/2024/NĐ-CP", "procedures": ["1.001193", "1.004222", "9.100001"],
    });
    let put = |body: Value, token: String| {
        let app = &app;
        async move {
            app.send(
                reqwest::Method::PUT,
                "/api/v1/procedure-groups/LT-KS",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    assert_eq!(
        put(group.clone(), clerk.clone()).await.status().as_u16(),
        403
    );
    let mut unknown = group.clone();
    unknown["procedures"][2] = json!("9.999999");
    let refused = problem(put(unknown, admin.clone()).await, 422, "validation_failed").await;
    assert_eq!(refused["errors"][0]["field"], "procedures[2]", "{refused}");
    assert_eq!(
        put(group.clone(), admin.clone()).await.status().as_u16(),
        201
    );
    assert_eq!(
        put(group.clone(), admin.clone()).await.status().as_u16(),
        200
    );
    let listed: Value = json(
        app.get("/api/v1/procedure-groups").await,
        "application/json",
    )
    .await;
    assert_eq!(listed[0]["code"], "LT-KS", "{listed}");
    assert_eq!(listed[0]["procedures"][1], "1.004222", "{listed}");

    let (tk, gcs, cm) = (
        app.upload_pdf(&citizen).await,
        app.upload_pdf(&citizen).await,
        app.upload_pdf(&citizen).await,
    );
    let filing = json!({
        "group_code": "lt-ks", "agency_id": fixture.own.id.to_string(),
        "resolving_agencies": {"1.004222": police.id.to_string()},
        "applicant": {"full_name": "Nguyễn Thị Mai", "phone": "0912345678"},
        "documents": [{"requirement_code": "TK", "file_id": tk}, {"requirement_code": "GCS", "file_id": gcs}, {"requirement_code": "CM", "file_id": cm}],
        "result_delivery": "online",
    });
    let count = || app.dossier_count();
    let before = count();
    // What no procedure of the group asks for, or a resolving agency for a
    // procedure outside it, is refused, and nothing is stored.
    let mut stray = filing.clone();
    stray["documents"][2]["requirement_code"] = json!("XX");
    stray["resolving_agencies"]["1.000656"] = json!(police.id.to_string());
    let refused = problem(
        app.post_json("/api/v1/dossier-groups", Some(&citizen), &stray)
            .await,
        422,
        "validation_failed",
    )
    .await;
    let mut fields: Vec<&str> = refused["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "documents",
            "documents[2].requirement_code",
            "resolving_agencies.1.000656"
        ],
        "{refused}"
    );
    let mut many = filing.clone();
    many["documents"] = json!(vec![json!({"requirement_code": "TK", "file_id": tk}); 101]);
    let refused = problem(
        app.post_json("/api/v1/dossier-groups", Some(&citizen), &many)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "documents", "{refused}");
    let mut nowhere = filing.clone();
    nowhere["group_code"] = json!("LT-XX");
    problem(
        app.post_json("/api/v1/dossier-groups", Some(&citizen), &nowhere)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(count(), before);
    assert_eq!(
        app.post_json("/api/v1/dossier-groups", Some(&clerk), &filing)
            .await
            .status()
            .as_u16(),
        403
    );

    let send = || {
        app.client
            .post(app.url("/api/v1/dossier-groups"))
            .bearer_auth(&citizen)
            .header("Idempotency-Key", "group-1")
            .json(&filing)
            .send()
    };
    let filed = json(
        send().await.unwrap_or_else(|e| panic!("{e}")),
        "application/json",
    )
    .await;
    let again = json(
        send().await.unwrap_or_else(|e| panic!("{e}")),
        "application/json",
    )
    .await;
    assert_eq!(filed, again, "a retry answers the first filing");
    assert_eq!(count(), before + 3);
    let group_id = filed["id"].as_str().unwrap_or_default().to_owned();
    let members = filed["dossiers"].as_array().cloned().unwrap_or_default();
    let column = |key: &str| {
        members
            .iter()
            .map(|m| m[key].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        column("procedure_code"),
        ["1.001193", "1.004222", "9.100001"]
    );
    assert_eq!(
        column("resolving_agency_id"),
        [
            fixture.own.id.to_string(),
            police.id.to_string(),
            office.id.to_string()
        ]
    );
    let codes = column("code");
    assert!(
        codes.iter().all(|c| c.starts_with(&fixture.own.identifier)),
        "{codes:?}"
    );
    assert_eq!(
        codes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3,
        "{codes:?}"
    );
    assert!(column("status").iter().all(|s| s == "submitted"));

    // Each takes the documents its procedure asks for; the same file serves all.
    let ids = column("id");
    let mut documents = Vec::new();
    for id in &ids {
        let dossier = json(
            app.get_as(&format!("/api/v1/dossiers/{id}"), &citizen)
                .await,
            "application/json",
        )
        .await;
        assert_eq!(dossier["group_id"], group_id.as_str());
        let codes: Vec<String> = dossier["documents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["requirement_code"].as_str().map(str::to_owned))
            .collect();
        documents.push(codes);
    }
    assert_eq!(
        documents,
        [vec!["TK", "GCS"], vec!["TK", "CM"], vec!["TK", "GCS"]]
    );

    // The desk accepts all three: each has its own legal clock.
    for id in &ids {
        let (status, accepted) = app.act(&clerk, id, "accept", json!({})).await;
        assert_eq!(status, 200, "{accepted}");
    }
    let together = |token: String| {
        let (app, group_id) = (&app, group_id.clone());
        async move {
            app.get_as(&format!("/api/v1/dossier-groups/{group_id}"), &token)
                .await
        }
    };
    let seen = json(together(citizen.clone()).await, "application/json").await;
    let dues: Vec<String> = seen["dossiers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["due_at"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(dues.iter().all(|d| !d.is_empty()), "{seen}");
    assert_eq!(
        dues.iter().collect::<std::collections::BTreeSet<_>>().len(),
        3,
        "three clocks: {dues:?}"
    );
    let at_desk = json(together(clerk.clone()).await, "application/json").await;
    assert_eq!(
        at_desk["dossiers"].as_array().map(Vec::len),
        Some(3),
        "{at_desk}"
    );
    assert_eq!(together(other).await.status().as_u16(), 404);
    assert_eq!(together(admin).await.status().as_u16(), 403);

    // The police see the residence dossier once the desk hands it to them.
    assert_eq!(together(officer_p.clone()).await.status().as_u16(), 404);
    let (status, handed) = app
        .act(
            &clerk,
            &ids[1],
            "handover",
            json!({"to_agency_id": police.id.to_string()}),
        )
        .await;
    assert_eq!(status, 200, "{handed}");
    let at_police = json(together(officer_p).await, "application/json").await;
    let theirs: Vec<&str> = at_police["dossiers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["code"].as_str())
        .collect();
    assert_eq!(theirs, [codes[1].as_str()], "{at_police}");
}

/// Commune B merged into commune A (the 2025 reorganisation): B's dossiers
/// keep their codes and histories, A's staff and reports reach them, Form
/// 06 for a period that straddles the merger counts them on A's line with B
/// named as merged into it, and B receives nothing new. A provincial
/// administrator merges; two crossing mergers at once cannot both happen.
async fn a_merged_commune_s_dossiers_are_reached_and_counted_under_the_new_one(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    // B's one-stop unit, with a clerk of its own.
    let b_unit = agency_with_staff(
        &app,
        "000.02.01.H01",
        "unit",
        Some(&fixture.sibling),
        &[("clerk.b1", "clerk")],
    );
    let hash = Passwords::new()
        .and_then(|p| p.hash(PASSWORD))
        .unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| {
            users::create(
                conn,
                &new_user(
                    "admin.p",
                    "staff",
                    "admin",
                    Some(fixture.province.id),
                    &hash,
                ),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let app = &app;
    let token = |username: &'static str| async move { app.login(username, PASSWORD).await.0 };
    let (leader_a, admin_a, admin_p) = (
        token("leader.a").await,
        token("admin.a").await,
        token("admin.p").await,
    );
    let clerk_b = token("staff.sibling").await;

    // Monday 2/11: B receives and accepts a dossier; A does not reach it.
    app.clock.set(vn("2026-11-02 08:00"));
    let received = json(received_by(app, &clerk_b, None).await, "application/json").await;
    let id = received["id"].as_str().unwrap_or_default().to_owned();
    let code = received["code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(status_of_read(app, &leader_a, &id).await, 404);
    let events = app.version_and_events(&id);

    let merge = |token: String, from: String, into: String| async move {
        app.post_json(
            &format!("/api/v1/agencies/{from}/merge"),
            Some(&token),
            &json!({"into_agency_id": into}),
        )
        .await
    };
    let (a, b) = (fixture.own.id.to_string(), fixture.sibling.id.to_string());
    // A's administrator does not reach B.
    assert_eq!(
        merge(admin_a, b.clone(), a.clone()).await.status().as_u16(),
        404
    );
    problem(
        merge(admin_p.clone(), a.clone(), fixture.child.id.to_string()).await,
        422,
        "validation_failed",
    )
    .await;

    app.clock.set(vn("2026-11-16 08:00"));
    let merged = json(
        merge(admin_p.clone(), b.clone(), a.clone()).await,
        "application/json",
    )
    .await;
    assert_eq!(
        (
            merged["merged_into_id"].as_str(),
            merged["parent_id"].as_str()
        ),
        (Some(a.as_str()), Some(a.as_str())),
        "{merged}"
    );
    problem(
        merge(admin_p.clone(), b.clone(), a.clone()).await,
        409,
        "agency_merged",
    )
    .await;
    problem(
        merge(admin_p.clone(), a.clone(), b.clone()).await,
        422,
        "validation_failed",
    )
    .await;

    // A reaches B's dossier, unchanged; B's staff reach it again once their
    // token is renewed (it names B's old place in the tree).
    let read = json(
        app.get_as(&format!("/api/v1/dossiers/{id}"), &leader_a)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(
        (read["code"].as_str(), read["agency_id"].as_str()),
        (Some(code.as_str()), Some(b.as_str()))
    );
    assert_eq!(app.version_and_events(&id), events);
    let clerk_b = token("staff.sibling").await;
    assert_eq!(status_of_read(app, &clerk_b, &id).await, 200);
    assert_eq!(status_of_read(app, &leader_a, &id).await, 200);

    // B receives nothing new, nor does anything under it: not at its desks,
    // not named to resolve; no agency is made under it, no account at it;
    // nothing merges into what lies under it, nor into another kind.
    problem(received_by(app, &clerk_b, None).await, 409, "agency_merged").await;
    let clerk_b1 = token("clerk.b1").await;
    problem(
        received_by(app, &clerk_b1, None).await,
        409,
        "agency_merged",
    )
    .await;
    let unit = json!({"identifier": "000.02.02.H01", "name": "Tổ mới", "kind": "unit", "parent_id": b_unit.id.to_string()});
    problem(
        app.post_json("/api/v1/agencies", Some(&admin_p), &unit)
            .await,
        409,
        "agency_merged",
    )
    .await;
    let account = json!({"username": "new.b", "full_name": "Người Mới", "agency_id": b.clone(), "roles": ["clerk"], "password": "a fine passphrase"});
    problem(
        app.post_json("/api/v1/users", Some(&admin_p), &account)
            .await,
        409,
        "agency_merged",
    )
    .await;
    let x = agency_with_staff(app, "000.05.00.H01", "unit", Some(&fixture.province), &[]);
    problem(
        merge(admin_p.clone(), x.id.to_string(), b_unit.id.to_string()).await,
        422,
        "validation_failed",
    )
    .await;
    problem(
        merge(admin_p.clone(), x.id.to_string(), a.clone()).await,
        422,
        "validation_failed",
    )
    .await;
    let (clerk_a, _) = app.login("clerk.a", PASSWORD).await;
    let refused = problem(
        received_by(app, &clerk_a, Some(&fixture.sibling)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        refused["errors"][0]["field"], "resolving_agency_id",
        "{refused}"
    );

    // Form 06 for A, by agency: B's dossier on A's line, B named beside it.
    app.clock.set(vn("2026-12-01 08:00"));
    let report = json(
        app.get_as(
            &format!("/api/v1/reports/kstt-06?period=2026-11&agency_id={a}&group_by=agency"),
            &leader_a,
        )
        .await,
        "application/json",
    )
    .await;
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{report}");
    assert_eq!(rows[0]["key"], fixture.own.identifier.as_str(), "{report}");
    assert_eq!(
        rows[0]["merged_from"],
        json!([fixture.sibling.identifier]),
        "{report}"
    );
    assert_eq!(rows[0]["taken_on"].as_u64(), Some(1), "{report}");
    assert_eq!(report["total"]["taken_on"].as_u64(), Some(1), "{report}");
    let csv = app
        .get_as(
            &format!(
                "/api/v1/reports/kstt-06?period=2026-11&agency_id={a}&group_by=agency&format=csv"
            ),
            &leader_a,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(
        csv.lines()
            .next()
            .is_some_and(|h| h.ends_with("Cơ quan đã sáp nhập (merged_from)")),
        "{csv}"
    );
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.ends_with(&fixture.sibling.identifier)),
        "{csv}"
    );

    // Two crossing mergers at once: one of them happens, the tree stays a tree.
    let x = agency_with_staff(
        app,
        "000.03.00.H01",
        "commune",
        Some(&fixture.province),
        &[],
    );
    let y = agency_with_staff(
        app,
        "000.04.00.H01",
        "commune",
        Some(&fixture.province),
        &[],
    );
    let (one, other) = tokio::join!(
        merge(admin_p.clone(), x.id.to_string(), y.id.to_string()),
        merge(admin_p.clone(), y.id.to_string(), x.id.to_string()),
    );
    let mut statuses = [one.status().as_u16(), other.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 422]);
    let (x, y) = app
        .db
        .run(|conn| Ok((agencies::find(conn, x.id)?, agencies::find(conn, y.id)?)))
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
    assert!(
        x.path.starts_with(&y.path) != y.path.starts_with(&x.path),
        "one under the other: {} {}",
        x.path,
        y.path
    );
}

api_tests!(
    form_06_counts_at_the_resolving_agency,
    a_department_resolves_what_a_commune_received,
    a_commune_receives_for_another_commune_of_the_province,
    a_late_step_makes_its_agency_the_one_at_fault,
    the_procedure_says_which_kind_of_agency_decides,
    a_group_filed_once_opens_linked_dossiers_with_their_own_clocks,
    a_merged_commune_s_dossiers_are_reached_and_counted_under_the_new_one,
);
