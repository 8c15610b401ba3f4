//! The desk's levers on online filing (issue #17): assisted online filing
//! (item 3) — a clerk files online for the citizen at the desk, through
//! the citizen's account and with their password, counted apart — and the
//! outreach list (item 4): the dossiers handed in at the desk or by post
//! for procedures offered fully online, with the applicant's contact and
//! consent, to the staff in reach, each listed dossier recorded in the
//! access log.

use serde_json::{Value, json};

use crate::fixture::{Fixture, PASSWORD, online_filing};
use crate::helpers::{TestApp, problem};

/// Receives a dossier as `clerk` on `channel` for `procedure`.
async fn hand_in(
    app: &TestApp,
    clerk: &str,
    channel: &str,
    procedure: &str,
    applicant: Value,
) -> String {
    let (token, _) = app.login(clerk, PASSWORD).await;
    let documents = match procedure {
        "1.004194" => {
            json!([{"requirement_code": "TK", "originals": 1}, {"requirement_code": "CM", "copies": 1}])
        }
        _ => json!([]),
    };
    let body = json!({
        "channel": channel, "procedure_code": procedure, "applicant": applicant,
        "documents": documents, "result_delivery": "desk",
        "decision": if documents == json!([]) {
            json!({"kind": "request_supplement", "reason": "thiếu giấy tờ",
                   "items": [{"requirement_code": null, "name": "Tờ khai", "problem": "thiếu"}]})
        } else {
            json!({"kind": "accept"})
        },
    });
    let response = app
        .post_json("/api/v1/dossiers/intake", Some(&token), &body)
        .await;
    let status = response.status().as_u16();
    let received: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 201, "{received}");
    received["id"].as_str().unwrap_or_default().to_owned()
}

async fn the_outreach_list_shows_in_person_filings_of_fully_online_procedures_in_reach(
    app: TestApp,
) {
    let fixture = Fixture::build(&app).await;
    // Temporary residence (1.004194) is offered fully online; marriage
    // registration (1.000894) partly.
    let at_desk = hand_in(
        &app,
        "clerk.a",
        "direct",
        "1.004194",
        json!({"full_name": "Trần Thị Bình", "phone": "0987654321", "email": "binh@example.vn"}),
    )
    .await;
    let by_post = hand_in(
        &app,
        "clerk.a",
        "postal",
        "1.004194",
        json!({"full_name": "Lò Văn Sáng", "phone": "0977000111", "no_messages": true}),
    )
    .await;
    let partial = hand_in(
        &app,
        "clerk.a",
        "direct",
        "1.000894",
        json!({"full_name": "Đỗ Văn Hùng", "phone": "0966000222"}),
    )
    .await;
    let elsewhere = hand_in(
        &app,
        "staff.sibling",
        "direct",
        "1.004194",
        json!({"full_name": "Mai Thị Lan", "phone": "0955000333"}),
    )
    .await;
    let (citizen, _) = app.login(&fixture.citizen.username, PASSWORD).await;
    let filing = online_filing(&app, &citizen, &fixture.own).await;
    let online = app
        .post_json("/api/v1/dossiers", Some(&citizen), &filing)
        .await;
    assert_eq!(online.status().as_u16(), 201);

    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let path = format!(
        "/api/v1/reports/outreach?period=2026-11&agency_id={}",
        fixture.own.id
    );
    let report: Value = app
        .get_as(&path, &clerk)
        .await
        .json()
        .await
        .unwrap_or_default();
    let ids: Vec<&str> = report["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l["dossier_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    // Only the in-person filings of the fully online procedure, here.
    assert_eq!(ids, [at_desk.as_str(), by_post.as_str()], "{report}");
    assert!(!ids.contains(&partial.as_str()) && !ids.contains(&elsewhere.as_str()));
    assert_eq!(report["more"], false);
    let first = &report["lines"][0];
    assert_eq!(first["channel"], "direct");
    assert_eq!(first["procedure_code"], "1.004194");
    assert_eq!(first["applicant_name"], "Trần Thị Bình");
    assert_eq!(first["phone"], "0987654321");
    assert_eq!(first["email"], "binh@example.vn");
    assert_eq!(first["may_contact"], true);
    let second = &report["lines"][1];
    assert_eq!(
        (&second["channel"], &second["may_contact"]),
        (&json!("postal"), &json!(false))
    );
    assert_eq!(second["email"], Value::Null);

    // The CSV holds the same lines.
    let csv = app
        .get_as(&format!("{path}&format=csv"), &clerk)
        .await
        .text()
        .await
        .unwrap_or_default();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[0].contains("binh@example.vn") && rows[0].ends_with(",true"),
        "{csv}"
    );
    assert!(
        rows[1].contains("0977000111") && rows[1].ends_with(",false"),
        "{csv}"
    );

    // Each listing is recorded: the auditor sees the clerk's two reads.
    let (auditor, _) = app.login("auditor.a", PASSWORD).await;
    let log: Value = app
        .get_as(
            &format!("/api/v1/audit/access-log?agency_id={}", fixture.own.id),
            &auditor,
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    let outreach: Vec<&Value> = log["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["resource"] == "outreach")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(outreach.len(), 4, "two listings of two dossiers: {log}");

    // Personal data stays with the staff in reach.
    let (sibling, _) = app.login("staff.sibling", PASSWORD).await;
    problem(app.get_as(&path, &sibling).await, 404, "not_found").await;
    let (officer, _) = app.login("officer.a", PASSWORD).await;
    problem(app.get_as(&path, &officer).await, 403, "forbidden").await;
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    problem(app.get_as(&path, &admin).await, 403, "forbidden").await;
    problem(app.get_as(&path, &citizen).await, 403, "forbidden").await;
}

async fn a_clerk_files_online_for_a_citizen_who_confirms_and_it_counts_apart(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let (citizen, _) = app.login(&fixture.citizen.username, PASSWORD).await;
    // The clerk scans the citizen's papers at the desk.
    let mut filing = online_filing(&app, &clerk, &fixture.own).await;
    filing["applicant"]["full_name"] = json!("Nguyễn Văn An");
    let assisted = |password: &str| {
        json!({
            "citizen": {"username": fixture.citizen.username, "password": password},
            "filing": filing,
        })
    };
    // Without the citizen's confirmation nothing is filed.
    let refused = problem(
        app.post_json(
            "/api/v1/dossiers/assisted",
            Some(&clerk),
            &assisted("wrong password 1"),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "citizen", "{refused}");
    assert_eq!(app.dossier_count(), 0);
    // Only a clerk assists; not at another agency's desk.
    let (officer, _) = app.login("officer.a", PASSWORD).await;
    problem(
        app.post_json(
            "/api/v1/dossiers/assisted",
            Some(&officer),
            &assisted(PASSWORD),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let (sibling, _) = app.login("staff.sibling", PASSWORD).await;
    let elsewhere = problem(
        app.post_json(
            "/api/v1/dossiers/assisted",
            Some(&sibling),
            &assisted(PASSWORD),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        elsewhere["errors"][0]["field"], "filing.agency_id",
        "{elsewhere}"
    );

    let filed = app
        .post_json(
            "/api/v1/dossiers/assisted",
            Some(&clerk),
            &assisted(PASSWORD),
        )
        .await;
    assert_eq!(filed.status().as_u16(), 201);
    let filed: Value = filed.json().await.unwrap_or_default();
    let id = filed["id"].as_str().unwrap_or_default().to_owned();
    // The citizen's own online dossier, assisted by the clerk.
    let row = app.dossier_row(&id);
    assert_eq!(row.owner_id, Some(fixture.citizen.id));
    assert_eq!(row.channel, motcua_domain::dossier::Channel::Online);
    let seen: Value = app
        .get_as(&format!("/api/v1/dossiers/{id}"), &citizen)
        .await
        .json()
        .await
        .unwrap_or_default();
    let clerk_id = app
        .db
        .run(|conn| motcua_persistence::users::find_by_username(conn, "clerk.a"))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|user| user.id.to_string())
        .unwrap_or_default();
    assert_eq!(seen["assisted_by"], clerk_id.as_str(), "{seen}");
    let events: Value = app
        .get_as(&format!("/api/v1/dossiers/{id}/events"), &clerk)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert!(events.to_string().contains(&clerk_id), "{events}");

    // The citizen files another alone; both are accepted.
    let own = online_filing(&app, &citizen, &fixture.own).await;
    let alone = app
        .post_json("/api/v1/dossiers", Some(&citizen), &own)
        .await;
    assert_eq!(alone.status().as_u16(), 201);
    let alone: Value = alone.json().await.unwrap_or_default();
    for dossier in [id.as_str(), alone["id"].as_str().unwrap_or_default()] {
        assert_eq!(app.act(&clerk, dossier, "accept", json!({})).await.0, 200);
    }
    let (auditor, _) = app.login("auditor.a", PASSWORD).await;
    let uptake: Value = app
        .get_as(
            &format!(
                "/api/v1/reports/online-uptake?period=2026-11&agency_id={}",
                fixture.own.id
            ),
            &auditor,
        )
        .await
        .json()
        .await
        .unwrap_or_default();
    let line = &uptake[0];
    assert_eq!(
        (
            &line["online"],
            &line["online_assisted"],
            &line["online_unassisted"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{uptake}"
    );
}

api_tests!(
    the_outreach_list_shows_in_person_filings_of_fully_online_procedures_in_reach,
    a_clerk_files_online_for_a_citizen_who_confirms_and_it_counts_apart,
);
