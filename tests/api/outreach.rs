//! The outreach list (issue #17, item 4): the dossiers handed in at the
//! desk or by post for procedures offered fully online, with the
//! applicant's contact and consent, to the staff in reach, each listed
//! dossier recorded in the access log.

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

api_tests!(the_outreach_list_shows_in_person_filings_of_fully_online_procedures_in_reach,);
