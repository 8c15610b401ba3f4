//! Form 06/VPCP/KSTT over a hand-built history across two months.

use serde_json::{Value, json};

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who};
use crate::helpers::{TestApp, json, problem, vn};

async fn act(app: &TestApp, token: &str, id: &str, action: &str, mut body: Value) {
    let version = {
        let id: motcua_persistence::DossierId = id.parse().unwrap_or_default();
        app.db
            .run(|conn| motcua_persistence::dossiers::find(conn, id))
            .map(|d| d.version)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    body["version"] = json!(version);
    let response = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/dossiers/{id}/{action}"),
            Some(token),
            Some(&body),
        )
        .await;
    let status = response.status().as_u16();
    assert_eq!(
        status,
        200,
        "{action}: {}",
        response.text().await.unwrap_or_default()
    );
}

/// Builds the history; each dossier's fate is in its comment.
pub(crate) async fn history(app: &TestApp, fixture: &Fixture) {
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let officer = fixture.token(Who::Officer).unwrap_or_default().to_owned();
    let leader = fixture.token(Who::Leader).unwrap_or_default().to_owned();
    let accept = json!({"kind": "accept"});
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
    let intake_at = |at: &str| {
        app.clock.set(vn(at));
        fixture.intake(app, "clerk.a", "1.004194", accept.clone())
    };
    let complete = json!({"outcome": "approved"});

    // D1: accepted Mon 05/10 09:00 (due Thu 08/10 09:00), result Wed 07/10: early.
    let d1 = id(&intake_at("2026-10-05 09:00").await);
    // D2: same, result Thu 08/10 08:00: on time.
    let d2 = id(&intake_at("2026-10-05 09:00").await);
    // D3: same, result Fri 09/10: late.
    let d3 = id(&intake_at("2026-10-05 09:00").await);
    app.clock.set(vn("2026-10-07 10:00"));
    act(app, &officer, &d1, "complete", complete.clone()).await;
    app.clock.set(vn("2026-10-08 08:00"));
    act(app, &officer, &d2, "complete", complete.clone()).await;
    app.clock.set(vn("2026-10-09 10:00"));
    act(
        app,
        &officer,
        &d3,
        "complete",
        json!({"outcome": "denied", "note": "không đủ điều kiện"}),
    )
    .await;
    // D4: accepted Mon 12/10 09:00 (due Thu 15/10 09:00), apology Tue 13/10, result Fri 16/10: late with apology.
    let d4 = id(&intake_at("2026-10-12 09:00").await);
    app.clock.set(vn("2026-10-13 09:00"));
    act(
        app,
        &leader,
        &d4,
        "apology",
        json!({"reason": "chờ xác minh", "new_appointment_at": "2026-10-20T03:00:00Z"}),
    )
    .await;
    app.clock.set(vn("2026-10-16 10:00"));
    act(app, &officer, &d4, "complete", complete.clone()).await;
    // D5: accepted 20/10, withdrawn 21/10. D6: accepted 20/10, stopped 22/10.
    let d5 = id(&intake_at("2026-10-20 09:00").await);
    let d6 = id(&intake_at("2026-10-20 09:00").await);
    app.clock.set(vn("2026-10-21 09:00"));
    act(
        app,
        &clerk,
        &d5,
        "withdraw",
        json!({"reason": "người nộp rút"}),
    )
    .await;
    app.clock.set(vn("2026-10-22 09:00"));
    act(
        app,
        &leader,
        &d6,
        "stop",
        json!({"reason": "dừng theo đề nghị"}),
    )
    .await;
    // D7: refused at the desk on 22/10.
    fixture
        .intake(
            app,
            "clerk.a",
            "1.004194",
            json!({"kind": "refuse", "reason": "sai thẩm quyền", "legal_basis": "Điều 9"}),
        )
        .await;
    // D8: accepted Wed 28/10 09:00 (due Mon 02/11 09:00): open and within at the end of October;
    //     result Tue 03/11: late in November.
    let d8 = id(&intake_at("2026-10-28 09:00").await);
    // D9: accepted Mon 26/10 09:00 (due Thu 29/10 09:00): open and overdue at both ends.
    intake_at("2026-10-26 09:00").await;
    // D10: filed online Thu 29/10 10:00, accepted Mon 02/11 (taken on in November, online),
    //      supplement asked Tue 03/11 09:00: open, waiting for the supplement, within (paused).
    app.clock.set(vn("2026-10-29 10:00"));
    let d10 = fixture.file_online(app, CITIZEN, &fixture.own).await;
    app.clock.set(vn("2026-11-02 09:00"));
    act(app, &clerk, &d10, "accept", json!({})).await;
    app.clock.set(vn("2026-11-03 09:00"));
    act(
        app,
        &officer,
        &d10,
        "request-supplement",
        json!({"reason": "thiếu", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}]}),
    )
    .await;
    app.clock.set(vn("2026-11-03 10:00"));
    act(app, &officer, &d8, "complete", complete.clone()).await;
    // D11: accepted Mon 09/11 09:00, result Tue 10/11: early.
    let d11 = id(&intake_at("2026-11-09 09:00").await);
    app.clock.set(vn("2026-11-10 10:00"));
    act(app, &officer, &d11, "complete", complete.clone()).await;
    // D12: filed online Tue 10/11 10:00 and accepted at 11:00 (due Fri 13/11 10:00), result Thu 12/11: early.
    let d12 = fixture.file_online(app, CITIZEN, &fixture.own).await;
    app.clock.set(vn("2026-11-10 11:00"));
    act(app, &clerk, &d12, "accept", json!({})).await;
    app.clock.set(vn("2026-11-12 10:00"));
    act(app, &officer, &d12, "complete", complete).await;
}

/// Eighteen more dossiers (E1–E18) on top of [`history`]: same-day
/// certifications (field CT) and guardianship registrations (field HT) at the
/// commune, residence dossiers (CTRU) at its unit `000.01.01.H01`. Each
/// fate is in its comment; due times follow docs/legal-clock.md.
pub(crate) async fn more_history(app: &TestApp, fixture: &Fixture) {
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let officer = fixture.token(Who::Officer).unwrap_or_default().to_owned();
    let leader = fixture.token(Who::Leader).unwrap_or_default().to_owned();
    let certification = json!([{"requirement_code": "BC", "originals": 1}, {"requirement_code": "BS", "copies": 1}]);
    let guardianship = json!([{"requirement_code": "TK", "originals": 1}, {"requirement_code": "VB", "originals": 1}]);
    let residence = json!([{"requirement_code": "TK", "originals": 1}, {"requirement_code": "CM", "copies": 1}]);
    let accept = json!({"kind": "accept"});
    let refuse = json!({"kind": "refuse", "reason": "sai thẩm quyền", "legal_basis": "Điều 9"});
    let intake = |at: &str,
                  clerk: &'static str,
                  procedure: &'static str,
                  documents: &Value,
                  decision: &Value| {
        app.clock.set(vn(at));
        let (documents, decision) = (documents.clone(), decision.clone());
        async move {
            fixture
                .intake_with(app, clerk, procedure, documents, decision)
                .await["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let at = |when: &str| app.clock.set(vn(when));
    let done = json!({"outcome": "approved"});
    let (own, unit) = ("clerk.a", "staff.child");
    let (copy, guard, stay) = ("2.000815", "1.004837", "1.004194");

    // E1: same-day, accepted Thu 01/10 10:00 (due 17:00 that day), result 14:00: on time.
    let e1 = intake("2026-10-01 10:00", own, copy, &certification, &accept).await;
    at("2026-10-01 14:00");
    act(app, &officer, &e1, "complete", done.clone()).await;
    // E2: accepted Thu 01/10 16:00, after the 15:00 cut-off (due Fri 02/10 17:00), result 16:30: early.
    let e2 = intake("2026-10-01 16:00", own, copy, &certification, &accept).await;
    at("2026-10-01 16:30");
    act(app, &officer, &e2, "complete", done.clone()).await;
    // E3: accepted Fri 02/10 10:00 (due 17:00), result Mon 05/10 08:00: late.
    let e3 = intake("2026-10-02 10:00", own, copy, &certification, &accept).await;
    at("2026-10-05 08:00");
    act(app, &officer, &e3, "complete", done.clone()).await;
    // E4: accepted Fri 30/10 16:00 (due Mon 02/11 17:00): open and within at the end of
    //     October; result Mon 02/11 09:00: on time in November.
    let e4 = intake("2026-10-30 16:00", own, copy, &certification, &accept).await;
    at("2026-11-02 09:00");
    act(app, &officer, &e4, "complete", done.clone()).await;
    // E5: refused at the desk on Fri 30/10.
    intake("2026-10-30 10:00", own, copy, &certification, &refuse).await;
    // E6: accepted Mon 16/11 10:00, supplement asked 11:00 and given Tue 17/11 09:00 (the
    //     clock restarts: due 17/11 17:00), result 17/11 10:00: on time.
    let e6 = intake("2026-11-16 10:00", own, copy, &certification, &accept).await;
    at("2026-11-16 11:00");
    act(
        app,
        &officer,
        &e6,
        "request-supplement",
        json!({"reason": "thiếu bản chính", "items": [{"requirement_code": "BC", "name": "Bản chính", "problem": "thiếu"}]}),
    )
    .await;
    at("2026-11-17 09:00");
    act(
        app,
        &clerk,
        &e6,
        "supplement",
        json!({"documents": [{"requirement_code": "BC", "originals": 1}]}),
    )
    .await;
    at("2026-11-17 10:00");
    act(app, &officer, &e6, "complete", done.clone()).await;

    // E7: at the unit, accepted Tue 06/10 09:00 (due Fri 09/10 09:00), result Thu 08/10: early.
    let e7 = intake("2026-10-06 09:00", unit, stay, &residence, &accept).await;
    at("2026-10-08 10:00");
    act(app, &officer, &e7, "complete", done.clone()).await;
    // E8: accepted Tue 06/10 09:00, withdrawn Wed 07/10.
    let e8 = intake("2026-10-06 09:00", unit, stay, &residence, &accept).await;
    at("2026-10-07 09:00");
    act(
        app,
        &clerk,
        &e8,
        "withdraw",
        json!({"reason": "người nộp rút"}),
    )
    .await;
    // E9: accepted Thu 15/10 10:00, supplement asked Fri 16/10 10:00 and never given:
    //     open, waiting for the supplement, within (paused) at the end of both months.
    let e9 = intake("2026-10-15 10:00", unit, stay, &residence, &accept).await;
    at("2026-10-16 10:00");
    act(
        app,
        &officer,
        &e9,
        "request-supplement",
        json!({"reason": "thiếu", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}]}),
    )
    .await;
    // E10: accepted Mon 19/10 09:00 (due Thu 22/10 09:00), result Fri 23/10: late, no apology.
    let e10 = intake("2026-10-19 09:00", unit, stay, &residence, &accept).await;
    at("2026-10-23 10:00");
    act(app, &officer, &e10, "complete", done.clone()).await;
    // E11: accepted Tue 27/10 09:00 (due Fri 30/10 09:00): open and overdue at the end of
    //      October; result Wed 04/11: late in November.
    let e11 = intake("2026-10-27 09:00", unit, stay, &residence, &accept).await;
    at("2026-11-04 10:00");
    act(app, &officer, &e11, "complete", done.clone()).await;
    // E12: accepted Thu 29/10 09:00 (due Tue 03/11 09:00): open and within at the end of
    //      October; stopped Mon 02/11.
    let e12 = intake("2026-10-29 09:00", unit, stay, &residence, &accept).await;
    at("2026-11-02 10:00");
    act(
        app,
        &leader,
        &e12,
        "stop",
        json!({"reason": "dừng theo đề nghị"}),
    )
    .await;
    // E13: accepted Wed 04/11 09:00, withdrawn Thu 05/11.
    let e13 = intake("2026-11-04 09:00", unit, stay, &residence, &accept).await;
    at("2026-11-05 09:00");
    act(
        app,
        &clerk,
        &e13,
        "withdraw",
        json!({"reason": "người nộp rút"}),
    )
    .await;
    // E14: accepted Mon 23/11 09:00 (due Thu 26/11 09:00): open and overdue at the end of November.
    intake("2026-11-23 09:00", unit, stay, &residence, &accept).await;
    // E15: accepted Fri 27/11 09:00 (due Wed 02/12 09:00): open and within at the end of November.
    intake("2026-11-27 09:00", unit, stay, &residence, &accept).await;

    // E16: guardianship, accepted Mon 09/11 09:00 (due Thu 12/11 09:00), apology Tue 10/11,
    //      result Fri 13/11: late with an apology.
    let e16 = intake("2026-11-09 09:00", own, guard, &guardianship, &accept).await;
    at("2026-11-10 09:00");
    act(
        app,
        &leader,
        &e16,
        "apology",
        json!({"reason": "chờ xác minh", "new_appointment_at": "2026-11-13T03:00:00Z"}),
    )
    .await;
    at("2026-11-13 10:00");
    act(app, &officer, &e16, "complete", done.clone()).await;
    // E17: refused at the desk on Tue 10/11.
    intake("2026-11-10 10:00", own, guard, &guardianship, &refuse).await;
    // E18: accepted Wed 11/11 09:00 (due Mon 16/11 09:00), result Mon 16/11 08:30: on time.
    let e18 = intake("2026-11-11 09:00", own, guard, &guardianship, &accept).await;
    at("2026-11-16 08:30");
    act(app, &officer, &e18, "complete", done).await;
}

/// The keys of Form 06's 16 columns, in order, as written on the form.
pub(crate) const FORM06_COLUMNS: [&str; 16] = [
    "taken_on",
    "new_online",
    "new_direct",
    "carried_over",
    "resolved",
    "early",
    "on_time",
    "late",
    "in_progress",
    "within_deadline",
    "overdue",
    "withdrawn",
    "stopped",
    "waiting_supplement",
    "late_with_apology",
    "refused_at_intake",
];

/// The 16 columns in order, as written on the form.
pub(crate) fn columns(row: &Value) -> Vec<u64> {
    FORM06_COLUMNS
        .iter()
        .map(|key| row[*key].as_u64().unwrap_or(u64::MAX))
        .collect()
}

async fn form_06_over_a_hand_built_history(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    history(&app, &fixture).await;
    more_history(&app, &fixture).await;
    // Read once November is over: open dossiers are judged at its end.
    app.clock.set(vn("2026-12-01 08:00"));
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    let report = |query: &str| {
        let app = &app;
        let path = format!("/api/v1/reports/kstt-06?{query}");
        let auditor = auditor.clone();
        async move { json(app.get_as(&path, &auditor).await, "application/json").await }
    };
    // A row of a grouped report by its key.
    let row = |report: &Value, key: &str| {
        report["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["key"] == key)
            .map(columns)
            .unwrap_or_else(|| panic!("no row {key} in {report}"))
    };
    let october = report("period=2026-10").await;
    // October: D1–D9, E1–E12. Taken on: D1–D6, D8, D9, E1–E4, E7–E12 (18, at the desk);
    // resolved D1 D2 D3 D4 E1 E2 E3 E7 E10; open D8 D9 E4 E9 E11 E12 (overdue D9 E11);
    // withdrawn D5 E8; stopped D6; waiting E9; apology D4; refused D7 E5.
    //                                       taken new-on new-di carry resolv early on-t late in-pr within overd withd stop wait apolo refus
    assert_eq!(
        columns(&october["total"]),
        [18, 0, 18, 0, 9, 3, 2, 4, 6, 4, 2, 2, 1, 1, 1, 2],
        "{october}"
    );
    // November: carried D8 D9 E4 E9 E11 E12; new D10 D12 online, D11 E6 E13–E16 E18 at the desk;
    // resolved D8 (late) D11 D12 (early) E4 E6 E18 (on time) E11 E16 (late, E16 with apology);
    // open D9 E14 (overdue) D10 E9 (waiting) E15; withdrawn E13; stopped E12; refused E17.
    let november = report("from=2026-11-01&to=2026-11-30").await;
    assert_eq!(
        columns(&november["total"]),
        [15, 2, 7, 6, 8, 2, 3, 3, 5, 3, 2, 1, 1, 2, 1, 1],
        "{november}"
    );
    assert_eq!(
        october["total"]["in_progress"],
        november["total"]["carried_over"]
    );
    // Both months at once: nothing carried, every new dossier, November's closing.
    let both = report("from=2026-10-01&to=2026-11-30").await;
    assert_eq!(
        columns(&both["total"]),
        [27, 2, 25, 0, 17, 5, 5, 7, 5, 3, 2, 3, 2, 2, 2, 3],
        "{both}"
    );
    // By field (the default grouping).
    assert_eq!(
        (
            october["rows"].as_array().map(Vec::len),
            row(&october, "CT"),
            row(&october, "CTRU")
        ),
        (
            Some(2),
            vec![4, 0, 4, 0, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1],
            vec![14, 0, 14, 0, 6, 2, 1, 3, 5, 3, 2, 2, 1, 1, 1, 1]
        ),
        "{october}"
    );
    let names: Vec<(&str, &str)> = october["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(names.contains(&("CTRU", "Cư trú")), "{names:?}");
    assert_eq!(
        (
            row(&november, "CT"),
            row(&november, "HT"),
            row(&november, "CTRU")
        ),
        (
            vec![2, 0, 1, 1, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![2, 0, 2, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1],
            vec![11, 2, 4, 5, 4, 2, 0, 2, 5, 3, 2, 1, 1, 2, 0, 0]
        ),
        "{november}"
    );
    // By agency: the commune and its unit.
    let by_agency = report("period=2026-10&group_by=agency").await;
    assert_eq!(
        (
            row(&by_agency, "000.01.00.H01"),
            row(&by_agency, "000.01.01.H01")
        ),
        (
            vec![12, 0, 12, 0, 7, 2, 2, 3, 3, 2, 1, 1, 1, 0, 1, 2],
            vec![6, 0, 6, 0, 2, 1, 0, 1, 3, 2, 1, 1, 0, 1, 0, 0]
        ),
        "{by_agency}"
    );
    // By procedure, November: the guardianship registrations are E16–E18.
    let by_procedure = report("period=2026-11&group_by=procedure").await;
    assert_eq!(
        row(&by_procedure, "1.004837"),
        [2, 0, 2, 0, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1],
        "{by_procedure}"
    );
    // The province's auditor is not in this fixture; the commune's auditor cannot see the sibling.
    let sibling = format!(
        "/api/v1/reports/kstt-06?period=2026-10&agency_id={}",
        fixture.sibling.id
    );
    problem(app.get_as(&sibling, &auditor).await, 404, "not_found").await;
    problem(
        app.get_as("/api/v1/reports/kstt-06?period=2026-13", &auditor)
            .await,
        422,
        "validation_failed",
    )
    .await;
    // No period, or a period and days both: the field says which to give.
    for (query, says) in [
        ("", "required: give period"),
        ("?from=2026-10-01", "required: give period"),
        (
            "?period=2026-10&from=2026-10-01&to=2026-10-31",
            "either period or from and to, not both",
        ),
    ] {
        let answer = problem(
            app.get_as(&format!("/api/v1/reports/kstt-06{query}"), &auditor)
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(answer["errors"][0]["field"], "period", "{answer}");
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{query}: {answer}"
        );
    }
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    problem(
        app.get_as("/api/v1/reports/kstt-06?period=2026-10", &citizen)
            .await,
        403,
        "forbidden",
    )
    .await;

    // The CSV says the same.
    let csv = app
        .get_as(
            "/api/v1/reports/kstt-06?period=2026-10&format=csv",
            &auditor,
        )
        .await;
    assert!(
        csv.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/csv"))
    );
    let text = csv.text().await.unwrap_or_default();
    assert!(text.starts_with('\u{feff}'), "BOM");
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(
        lines[0].contains("Tổng số hồ sơ tiếp nhận (taken_on)"),
        "{}",
        lines[0]
    );
    let total: Vec<u64> = lines
        .last()
        .unwrap_or(&"")
        .split(',')
        .skip(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(total, columns(&october["total"]));
    let by_header = app
        .client
        .get(app.url("/api/v1/reports/kstt-06?period=2026-10"))
        .bearer_auth(&auditor)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_header.text().await.unwrap_or_default(), text);
}

async fn overdue_lists_and_online_uptake_over_the_same_history(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    history(&app, &fixture).await;
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    let get = |path: String| {
        let app = &app;
        let auditor = auditor.clone();
        async move { json(app.get_as(&path, &auditor).await, "application/json").await }
    };
    // End of November: D9 is overdue; D10 is paused for a supplement, so it is not "due soon".
    let november_end = get("/api/v1/reports/overdue?as_of=2026-11-30T10:00:00Z".into()).await;
    let listed: Vec<(&str, &str)> = november_end
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| Some((l["status"].as_str()?, l["procedure_code"].as_str()?)))
        .collect();
    assert_eq!(listed, [("overdue", "1.004194")], "{november_end}");
    assert!(
        november_end[0]["remaining_seconds"]
            .as_i64()
            .is_some_and(|r| r < 0)
    );
    // Wednesday 28/10 15:00 (08:00Z): D9 (due Thu 29/10 09:00) has 3.5 working hours left: due soon.
    let soon = get("/api/v1/reports/overdue?as_of=2026-10-28T08:00:00Z".into()).await;
    assert_eq!(soon.as_array().map(Vec::len), Some(1), "{soon}");
    assert_eq!(
        (
            soon[0]["status"].as_str(),
            soon[0]["remaining_seconds"].as_i64()
        ),
        (Some("due_soon"), Some(3 * 3600 + 1800))
    );
    // The CSV of the same list, parsed back, carries the same line.
    let csv = app
        .get_as(
            "/api/v1/reports/overdue?as_of=2026-10-28T08:00:00Z&format=csv",
            &auditor,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    let csv_lines: Vec<Vec<&str>> = csv
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(csv_lines.len(), 2, "{csv}");
    assert_eq!(csv_lines[0][0], "Mã hồ sơ (code)");
    let line = &csv_lines[1];
    assert_eq!(
        (line[0], line[1], line[6], line[7], line[8]),
        (
            soon[0]["code"].as_str().unwrap_or("?"),
            "1.004194",
            "due_soon",
            "12600",
            "false"
        ),
        "{csv}"
    );
    let instant = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
    assert_eq!(
        (instant(line[4]), instant(line[5])),
        (
            soon[0]["received_at"].as_str().and_then(instant),
            soon[0]["due_at"].as_str().and_then(instant)
        )
    );
    assert!(instant(line[5]).is_some(), "{csv}");

    let uptake = get("/api/v1/reports/online-uptake?period=2026-11".into()).await;
    let line = &uptake[0];
    assert_eq!(
        (line["key"].as_str(), line["offered"].as_str()),
        (Some("1.004194"), Some("full"))
    );
    let counts: Vec<u64> = [
        "total",
        "online",
        "direct",
        "postal",
        "full_online",
        "partial_online",
    ]
    .iter()
    .map(|k| line[*k].as_u64().unwrap_or(99))
    .collect();
    assert_eq!(counts, [3, 2, 1, 0, 2, 0]);
    assert!((line["online_share"].as_f64().unwrap_or(0.0) - 2.0 / 3.0).abs() < 1e-9);
    let october = get("/api/v1/reports/online-uptake?period=2026-10&group_by=agency".into()).await;
    assert_eq!(
        (october[0]["total"].as_u64(), october[0]["online"].as_u64()),
        (Some(8), Some(0))
    );
    let csv = app
        .get_as(
            "/api/v1/reports/online-uptake?period=2026-11&format=csv",
            &auditor,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    let last = csv.lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("1.004194,Đăng ký tạm trú,full,3,2,0,2,1,0,2,0,0.6667,0.6667"),
        "{last}"
    );
}

/// An indicator's key, numerator, denominator and points.
type Score = (String, Option<u64>, Option<u64>, Option<f64>);

/// Decision 766 over the whole hand-built history: D1–D12 and E1–E18 (the
/// thirty dossiers Form 06's test counts), with D13 (a fee paid in cash)
/// and D14 (asked twice for a supplement) added in November.
async fn indicators_over_the_same_history(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    history(&app, &fixture).await;
    more_history(&app, &fixture).await;
    let officer = fixture.token(Who::Officer).unwrap_or_default().to_owned();
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    // D13: accepted Mon 16/11 09:00, fee asked 09:30 and paid in cash at 10:00, result Tue 17/11: early.
    app.clock.set(vn("2026-11-16 09:00"));
    let d13 = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    app.clock.set(vn("2026-11-16 09:30"));
    let fee = json!({"amount": 15000, "reason": "lệ phí"});
    act(&app, &officer, &d13, "request-payment", fee).await;
    app.clock.set(vn("2026-11-16 10:00"));
    let cash = json!({"amount": 15000, "method": "cash", "reference": "BL-13"});
    act(&app, &clerk, &d13, "payments", cash).await;
    app.clock.set(vn("2026-11-17 10:00"));
    act(
        &app,
        &officer,
        &d13,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    // D14: accepted Mon 16/11 09:00, asked twice for a supplement (each
    // brought within the hour), result Tue 17/11 11:00: early by its clock,
    // late for the portal's progress (more than one supplement request).
    app.clock.set(vn("2026-11-16 09:00"));
    let d14 = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for (asked, brought) in [
        ("2026-11-16 10:00", "2026-11-16 11:00"),
        ("2026-11-16 14:00", "2026-11-16 15:00"),
    ] {
        app.clock.set(vn(asked));
        let request = json!({"reason": "thiếu", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}]});
        act(&app, &officer, &d14, "request-supplement", request).await;
        app.clock.set(vn(brought));
        let supply = json!({"documents": [{"requirement_code": "CM", "copies": 1}]});
        act(&app, &clerk, &d14, "supplement", supply).await;
    }
    app.clock.set(vn("2026-11-17 11:00"));
    act(
        &app,
        &officer,
        &d14,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    let d14 = json(
        app.get_as(&format!("/api/v1/dossiers/{d14}"), &officer)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(d14["legal_clock"]["outcome"], "early", "{d14}");
    // The citizen rates D12 (early, delivered online) dissatisfied.
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let d12 = app
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use motcua_domain::dossier::Channel;
            use motcua_domain::lifecycle::State;
            use motcua_persistence::schema::dossiers;
            use motcua_persistence::sql_types::Closed;
            dossiers::table
                .filter(dossiers::channel.eq(Closed(Channel::Online)))
                .filter(dossiers::state.eq(Closed(State::ResultReady)))
                .select(dossiers::id)
                .first::<motcua_persistence::DossierId>(conn)
                .map_err(motcua_persistence::DbError::from)
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    act(
        &app,
        &citizen,
        &d12,
        "rating",
        json!({"overall": "dissatisfied"}),
    )
    .await;

    // Read once November is over: open dossiers are judged at its end.
    app.clock.set(vn("2026-12-01 08:00"));
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    let get = |period: &'static str| {
        let app = &app;
        let auditor = auditor.clone();
        async move {
            let path = format!("/api/v1/reports/indicators?period={period}");
            json(app.get_as(&path, &auditor).await, "application/json").await
        }
    };
    let shares = |report: &Value| -> Vec<Score> {
        report["indicators"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["key"].as_str().unwrap_or_default().to_owned(),
                    i["numerator"].as_u64(),
                    i["denominator"].as_u64(),
                    i["points"].as_f64(),
                )
            })
            .collect()
    };
    let row = |key: &str, n: Option<u64>, d: Option<u64>, p: Option<f64>| (key.to_owned(), n, d, p);
    // Written out by hand from the portal's formulas (docs/reports.md,
    // "Indicators"). The demo catalogue has 12 procedures in force, all
    // offering online service, 7 of them charging a fee.
    let november = get("2026-11").await;
    assert_eq!(
        shares(&november),
        [
            row("publicity", None, None, None),
            // Form 06's November (its test) with D13 and D14: results 10 (early D11
            // D12 D13 D14, on time E4 E6 E18, late D8 E11 E16), open 5 (within D10 E9
            // E15, overdue D9 E14), withdrawn E13 and stopped E12, both before their
            // due time. In time: 4 + 3 + 3 + 2 = 12, less D14 (asked twice for a
            // supplement) = 11 of 17. 20 × 11/17 = 12.94.
            row("progress", Some(11), Some(17), Some(12.94)),
            // 12 of 12 offer online service: 2 × 1 ≥ full at 80%.
            row("online_offer", Some(12), Some(12), Some(2.0)),
            // Only 1.004194 had online filings (D10, D12): 4 × 1/12.
            row("online_use", Some(1), Some(12), Some(0.33)),
            // Accepted in November: D10 and D12 online; D11 D13 D14 E6 E13 E14 E15 E16
            // E18 at the desk: 2/11; 6 × (2/11) / 0.5 = 2.18.
            row("online_filing", Some(2), Some(11), Some(2.18)),
            // D13 paid in cash.
            row("online_payment", Some(0), Some(1), Some(0.0)),
            row("payment_offer", Some(0), Some(7), Some(0.0)),
            row("fee_sync", None, None, None),
            // Progress's 11 in time less D12, rated dissatisfied: 10/17;
            // 6 × (10/17) / 0.9 = 3.92.
            row("satisfaction", Some(10), Some(17), Some(3.92)),
            row("complaints", None, None, None),
            // Of the 10 results only D12 went out online: 6 × 1/10.
            row("electronic_result", Some(1), Some(10), Some(0.6)),
            row("digitisation", None, None, None),
            // D12 filed Tue 10/11 10:00, acknowledged at 11:00 (due Wed 11/11 10:00).
            row("acknowledgement", Some(1), Some(1), None),
        ],
        "{november}"
    );
    // 12.94 + 2 + 0.33 + 2.18 + 0 + 0 + 3.92 + 0.6, out of the 52 points scored.
    assert_eq!(
        (november["points"].as_f64(), november["maximum"].as_f64()),
        (Some(21.97), Some(52.0))
    );
    let october = get("2026-10").await;
    assert_eq!(
        shares(&october),
        [
            row("publicity", None, None, None),
            // Form 06's October: results 9 (early D1 E2 E7, on time D2 E1, late D3 D4
            // E3 E10), open 6 (within D8 E4 E9 E12, overdue D9 E11), withdrawn D5 E8
            // and stopped D6, all three before their due time. In time: 3 + 2 + 4 + 3
            // = 12 of 18; nobody asked twice. 20 × 12/18 = 13.33.
            row("progress", Some(12), Some(18), Some(13.33)),
            row("online_offer", Some(12), Some(12), Some(2.0)),
            row("online_use", Some(0), Some(12), Some(0.0)),
            // The 18 accepted in October all came to the desk.
            row("online_filing", Some(0), Some(18), Some(0.0)),
            // No payment: nothing to measure, no points.
            row("online_payment", Some(0), Some(0), None),
            row("payment_offer", Some(0), Some(7), Some(0.0)),
            row("fee_sync", None, None, None),
            // No rating: 12/18; 6 × (12/18) / 0.9 = 4.44.
            row("satisfaction", Some(12), Some(18), Some(4.44)),
            row("complaints", None, None, None),
            // Nine results, none online.
            row("electronic_result", Some(0), Some(9), Some(0.0)),
            row("digitisation", None, None, None),
            // D10 filed Thu 29/10 10:00 (due Fri 30/10 10:00), acknowledged only on Mon 02/11: late.
            row("acknowledgement", Some(0), Some(1), None),
        ],
        "{october}"
    );
    // 13.33 + 2 + 4.44, out of 46: online payment has nothing to score.
    assert_eq!(
        (october["points"].as_f64(), october["maximum"].as_f64()),
        (Some(19.77), Some(46.0))
    );

    // The CSV carries the same figures.
    let csv = app
        .get_as(
            "/api/v1/reports/indicators?period=2026-11&format=csv",
            &auditor,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    let lines: Vec<Vec<&str>> = csv
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(
        lines[0][..4],
        [
            "Mã chỉ số (key)",
            "Chỉ số (name)",
            "Tính được (computable)",
            "Tử số (numerator)"
        ]
    );
    let progress = lines
        .iter()
        .find(|l| l[0] == "progress")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        progress[2..8],
        ["true", "11", "17", "0.6471", "12.94", "20"],
        "{csv}"
    );
    // A sibling commune is out of the auditor's reach.
    let sibling = format!(
        "/api/v1/reports/indicators?period=2026-11&agency_id={}",
        fixture.sibling.id
    );
    problem(app.get_as(&sibling, &auditor).await, 404, "not_found").await;
}

/// Fills the test's database with `motcua gen-data` (500 dossiers per
/// seed, at `agencies` communes over `months` months to the end of October
/// 2026, through the persistence code); returns the token of an auditor of
/// the generated province, appointed by its administrator, and the province.
pub(crate) async fn generated_province(
    app: &TestApp,
    seeds: &[&str],
    agencies: &str,
    months: &str,
) -> (String, motcua_persistence::agencies::Agency) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let password = "Kiem-toan-2026-ok";
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_motcua"));
        for (name, _) in std::env::vars() {
            if name.starts_with("MOTCUA_") || name == "DATABASE_URL" {
                command.env_remove(name);
            }
        }
        let output = command
            .current_dir(dir.path())
            .env("DATABASE_URL", app.database_url())
            // The server's data directory: its history key hashes the events.
            .env("MOTCUA_DATA_DIR", &app.settings.data_dir)
            .env("MOTCUA_LOG", "warn")
            .env("MOTCUA_ADMIN_PASSWORD", password)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running motcua: {e}"));
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    for seed in seeds {
        run(&[
            "gen-data",
            "--dossiers",
            "500",
            "--agencies",
            agencies,
            "--months",
            months,
            "--seed",
            seed,
        ]);
    }
    run(&[
        "create-admin",
        "--agency",
        "000.00.00.H99",
        "--username",
        "admin.gen",
    ]);
    // The administrator appoints the province's auditor, who reads everything below.
    let (admin, _) = app.login("admin.gen", password).await;
    let province = app
        .db
        .run(|conn| motcua_persistence::agencies::find_by_identifier(conn, "000.00.00.H99"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("gen-data made no province"));
    let appointed = app
        .post_json(
            "/api/v1/users",
            Some(&admin),
            &json!({
                "username": "kiem.toan", "full_name": "Kiểm Toán Viên", "roles": ["auditor"],
                "agency_id": province.id.to_string(), "password": password,
            }),
        )
        .await;
    assert_eq!(appointed.status().as_u16(), 201);
    let (token, _) = app.login("kiem.toan", password).await;
    (token, province)
}

/// Random histories written by the data generator (`motcua gen-data`, through
/// the persistence code) keep Form 06's invariants on this backend: each
/// month's columns add up, one month's closing is the next one's opening, and
/// every grouping sums to the totals row.
async fn form_06_invariants_hold_on_generated_histories(app: TestApp) {
    // A fixed seed, and one that changes with every run (printed, to replay a failure).
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(1)
        .to_string();
    eprintln!("gen-data seeds: 5 and {seed}");
    let (token, _) = generated_province(&app, &["5", seed.as_str()], "3", "4").await;
    let report = |query: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let path = format!("/api/v1/reports/kstt-06?{query}");
            json(app.get_as(&path, &token).await, "application/json").await
        }
    };
    let mut closing: Option<u64> = None;
    let mut new_in_months = 0;
    let mut carried_over_seen = 0;
    for month in ["2026-07", "2026-08", "2026-09", "2026-10"] {
        let report_of_month = report(format!("period={month}")).await;
        let total = columns(&report_of_month["total"]);
        let [
            taken,
            online,
            direct,
            carried,
            resolved,
            early,
            on_time,
            late,
            open,
            within,
            overdue,
            withdrawn,
            stopped,
            ..,
        ] = total[..]
        else {
            panic!("{report_of_month}");
        };
        assert!(taken > 0 && resolved > 0 && open > 0, "{month}: {total:?}");
        assert_eq!(taken, online + direct + carried, "{month}");
        assert_eq!(resolved, early + on_time + late, "{month}");
        assert_eq!(open, within + overdue, "{month}");
        assert_eq!(taken, resolved + open + withdrawn + stopped, "{month}");
        assert_eq!(
            carried,
            closing.unwrap_or(0),
            "{month} opens where the month before closed"
        );
        closing = Some(open);
        new_in_months += online + direct;
        carried_over_seen += carried;
        for group in ["field", "procedure", "agency"] {
            let grouped = report(format!("period={month}&group_by={group}")).await;
            let mut sums = vec![0; total.len()];
            for row in grouped["rows"].as_array().into_iter().flatten() {
                for (sum, value) in sums.iter_mut().zip(columns(row)) {
                    *sum += value;
                }
            }
            assert_eq!(sums, total, "{month} grouped by {group}");
        }
    }
    assert!(
        carried_over_seen > 0,
        "the months are chained by open dossiers"
    );
    // The four months at once: every month's new dossiers, and the last closing.
    let whole = columns(&report("from=2026-07-01&to=2026-10-31".into()).await["total"]);
    assert_eq!(
        (whole[1] + whole[2], whole[8]),
        (new_in_months, closing.unwrap_or(0))
    );
    // Some late results were announced by an apology, never more than were late.
    assert!(0 < whole[14] && whole[14] <= whole[7], "{whole:?}");
    // The indicators see the generated payments and ratings.
    let indicators = json(
        app.get_as(
            "/api/v1/reports/indicators?from=2026-07-01&to=2026-10-31",
            &token,
        )
        .await,
        "application/json",
    )
    .await;
    let share = |key: &str| {
        indicators["indicators"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["key"] == key)
            .map(|i| (i["numerator"].as_u64(), i["denominator"].as_u64()))
    };
    // Some but not all paid online, and some results were late or disliked;
    // acknowledgements: some were due, perhaps all given in time.
    for (key, all_may_meet) in [
        ("online_payment", false),
        ("satisfaction", false),
        ("acknowledgement", true),
    ] {
        assert!(
            share(key).is_some_and(|(n, d)| n
                .zip(d)
                .is_some_and(|(n, d)| 0 < n && (n < d || (all_may_meet && n == d)))),
            "{key}: {indicators}"
        );
    }
    // Every generated clock ledger is in time order and starts after the receipt.
    let ledgers = app
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use motcua_persistence::schema::dossiers;
            dossiers::table
                .select((dossiers::received_at, dossiers::clock_events))
                .load::<(Option<chrono::NaiveDateTime>, String)>(conn)
                .map_err(motcua_persistence::DbError::from)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    for (received, ledger) in ledgers {
        let events: Vec<motcua_domain::clock::ClockEvent> =
            serde_json::from_str(&ledger).unwrap_or_else(|e| panic!("{e}: {ledger}"));
        let times: Vec<_> = events.iter().map(|e| e.at()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1])
                && times
                    .first()
                    .is_none_or(|first| received.is_some_and(|r| r.and_utc() <= *first)),
            "{received:?} {ledger}"
        );
    }
    // The generated dossiers are real ones: the busiest reads back through the
    // API, and its hash-chained history verifies.
    let busiest = app
        .db
        .run(|conn| {
            use diesel::dsl::count_star;
            use diesel::prelude::*;
            use motcua_persistence::schema::dossier_events;
            dossier_events::table
                .group_by(dossier_events::dossier_id)
                .select((dossier_events::dossier_id, count_star()))
                .order(count_star().desc())
                .first::<(motcua_persistence::DossierId, i64)>(conn)
                .map_err(motcua_persistence::DbError::from)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let verified = json(
        app.get_as(
            &format!("/api/v1/audit/verify?dossier_id={}", busiest.0),
            &token,
        )
        .await,
        "application/json",
    )
    .await;
    assert_eq!(
        (
            verified["ok"].as_bool(),
            verified["events_checked"].as_i64()
        ),
        (Some(true), Some(busiest.1)),
        "{verified}"
    );
    let dossier = json(
        app.get_as(&format!("/api/v1/dossiers/{}", busiest.0), &token)
            .await,
        "application/json",
    )
    .await;
    assert!(
        dossier["applicant"]["full_name"]
            .as_str()
            .is_some_and(|name| !name.is_empty()),
        "{dossier}"
    );
    every_generated_history_replays_through_the_domain(&app);
    // Their side records are rows of their own tables, as the API writes them.
    let differences = app
        .db
        .run(motcua_persistence::records::differences)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(differences.is_empty(), "{differences:#?}");
}

/// Each generated dossier is one the API could have produced: its history,
/// replayed command by command through the domain (`Dossier::open`, then
/// `Dossier::handle` with each event's stored command, actor role and
/// instant), gives back every stored event and the stored row.
fn every_generated_history_replays_through_the_domain(app: &TestApp) {
    use motcua_domain::calendar::WorkingCalendar;
    use motcua_domain::dossier::{Actor, Command, Context, Dossier, Opening, Particulars};
    use motcua_domain::lifecycle::Role;
    use motcua_domain::procedure::ProcedureDefinition;
    use motcua_persistence::dossiers::{self, DossierFilter};
    use motcua_persistence::{procedures, stored};

    let national = motcua_domain::national::national().unwrap_or_else(|e| panic!("{e}"));
    let calendar = WorkingCalendar::single(national);
    let mut after = None;
    let mut replayed = 0;
    loop {
        let page = app
            .db
            .run(|conn| dossiers::list(conn, &DossierFilter::default(), after, 200))
            .unwrap_or_else(|e| panic!("{e}"));
        let Some((last, _)) = page.last() else { break };
        after = Some(last.id);
        for (row, _) in &page {
            let (events, procedure) = app
                .db
                .run(|conn| {
                    Ok::<_, motcua_persistence::DbError>((
                        dossiers::events(conn, row.id)?,
                        procedures::find(conn, row.procedure_id)?,
                    ))
                })
                .unwrap_or_else(|e| panic!("{e}"));
            let definition: ProcedureDefinition =
                serde_json::from_str(&procedure.definition).unwrap_or_else(|e| panic!("{e}"));
            let stored_dossier =
                stored::aggregate(row).unwrap_or_else(|e| panic!("{}: {e}", row.code));
            let actor = |role: &str| Actor {
                id: None,
                role: role
                    .parse::<Role>()
                    .unwrap_or_else(|e| panic!("{role}: {e:?}")),
            };
            let context = |at| Context {
                procedure: &definition,
                calendar: &calendar,
                at,
            };
            // What the dossier held when it arrived: its applicant and the
            // documents before those its supplements added.
            let supplied: usize = stored_dossier
                .particulars
                .records
                .iter()
                .map(|r| match &r.entry {
                    motcua_domain::dossier::Entry::Supplement(s) => s.documents.len(),
                    _ => 0,
                })
                .sum();
            let documents = &stored_dossier.particulars.documents;
            let arrived = Particulars {
                applicant: stored_dossier.particulars.applicant.clone(),
                documents: documents[..documents.len().saturating_sub(supplied)].to_vec(),
                postal_address: stored_dossier.particulars.postal_address.clone(),
                online_kind: stored_dossier.particulars.online_kind,
                ..Particulars::default()
            };
            let (first, rest) = events
                .split_first()
                .unwrap_or_else(|| panic!("{}: no events", row.code));
            let opening = Opening::from_stored(&first.action, &first.payload)
                .unwrap_or_else(|e| panic!("{}: {e}", row.code));
            let opened = Dossier::open(
                opening,
                arrived,
                stored_dossier.result_delivery,
                actor(&first.actor_role),
                &context(first.at.and_utc()),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", row.code));
            let mut dossier = opened.dossier;
            for event in rest {
                let command = Command::from_stored(&event.action, &event.payload)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", row.code, event.action));
                let handled = dossier
                    .handle(
                        command,
                        actor(&event.actor_role),
                        &context(event.at.and_utc()),
                    )
                    .unwrap_or_else(|e| panic!("{} {}: {e}", row.code, event.action));
                let again = stored::event(&handled.event);
                assert_eq!(
                    (
                        again.action.as_str(),
                        again.state_after.as_str(),
                        again.payload.as_str()
                    ),
                    (
                        event.action.as_str(),
                        event.state_after.as_str(),
                        event.payload.as_str()
                    ),
                    "{}",
                    row.code
                );
                dossier = handled.dossier;
            }
            assert_eq!(dossier, stored_dossier, "{}", row.code);
            replayed += 1;
        }
    }
    assert_eq!(replayed, 1000, "every generated dossier was replayed");
}

/// A month not over yet is judged as of now: a dossier due later in the
/// month is in progress within its deadline today, and overdue once its
/// due time has passed — not already because the month's end is later.
async fn a_month_not_over_is_judged_as_of_now(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    // Accepted Monday 2/11/2026 08:00: 3 working days, due Thursday 08:00.
    app.clock.set(vn("2026-11-02 08:00"));
    fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let standing = |at: &'static str| {
        let (app, auditor) = (&app, auditor.clone());
        async move {
            app.clock.set(vn(at));
            let report = json(
                app.get_as("/api/v1/reports/kstt-06?period=2026-11", &auditor)
                    .await,
                "application/json",
            )
            .await;
            let total = &report["total"];
            (
                total["in_progress"].as_u64(),
                total["within_deadline"].as_u64(),
                total["overdue"].as_u64(),
            )
        }
    };
    assert_eq!(
        standing("2026-11-03 10:00").await,
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(
        standing("2026-11-06 10:00").await,
        (Some(1), Some(0), Some(1))
    );
}

api_tests!(
    a_month_not_over_is_judged_as_of_now,
    form_06_invariants_hold_on_generated_histories,
    indicators_over_the_same_history,
    form_06_over_a_hand_built_history,
    overdue_lists_and_online_uptake_over_the_same_history
);
