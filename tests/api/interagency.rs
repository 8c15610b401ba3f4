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

api_tests!(
    form_06_counts_at_the_resolving_agency,
    a_department_resolves_what_a_commune_received,
    a_commune_receives_for_another_commune_of_the_province,
    a_late_step_makes_its_agency_the_one_at_fault,
);
