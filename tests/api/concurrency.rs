//! Concurrent requests: numbering, idempotency, and two clerks at once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who};
use crate::helpers::TestApp;

/// A filing whose documents are two files the citizen uploads first.
async fn filing(app: &TestApp, fixture: &Fixture, token: &str) -> Value {
    json!({
        "procedure_code": "1.004194", "agency_id": fixture.own.id.to_string(),
        "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
        "documents": [
            {"requirement_code": "TK", "file_id": app.upload_pdf(token).await},
            {"requirement_code": "CM", "file_id": app.upload_pdf(token).await},
        ],
        "result_delivery": "online",
    })
}

/// Sends `count` identical filings at once; returns (status, body) of each.
async fn file_at_once(
    app: &TestApp,
    token: &str,
    body: &Value,
    key: Option<&str>,
    count: usize,
) -> Vec<(u16, Value)> {
    post_at_once(app, "/api/v1/dossiers", token, body, key, count).await
}

/// Sends `count` identical posts to `path` at once; returns (status, body) of each.
async fn post_at_once(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &Value,
    key: Option<&str>,
    count: usize,
) -> Vec<(u16, Value)> {
    let mut set = JoinSet::new();
    for _ in 0..count {
        let mut request = app.client.post(app.url(path)).bearer_auth(token).json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        set.spawn(async move {
            let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or_default())
        });
    }
    let mut results = Vec::new();
    while let Some(result) = set.join_next().await {
        results.push(result.unwrap_or_else(|e| panic!("{e}")));
    }
    results
}

async fn two_hundred_simultaneous_filings_get_gapless_distinct_codes(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (token, _) = app.login(CITIZEN, PASSWORD).await;
    let body = filing(&app, &fixture, &token).await;
    let results = file_at_once(&app, &token, &body, None, 200).await;
    let failures: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status != 201)
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    let numbers: BTreeSet<u32> = results
        .iter()
        .filter_map(|(_, body)| body["code"].as_str())
        .filter_map(|code| code.rsplit('-').next()?.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=200).collect::<BTreeSet<u32>>());
}

async fn one_idempotency_key_sent_twenty_times_at_once_makes_one_dossier(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (token, _) = app.login(CITIZEN, PASSWORD).await;
    let body = filing(&app, &fixture, &token).await;
    let results = file_at_once(&app, &token, &body, Some("retry-me-42"), 20).await;
    let first = &results[0];
    assert_eq!(first.0, 201, "{:?}", first.1);
    for result in &results {
        assert_eq!(result, first, "every retry gets the first answer");
    }
    let count = app.dossier_count();
    assert_eq!(count, 1);
    // The same key with another body is refused.
    let mut other = body.clone();
    other["result_delivery"] = json!("desk");
    let refused = file_at_once(&app, &token, &other, Some("retry-me-42"), 1).await;
    assert_eq!(refused[0].0, 422, "{:?}", refused[0].1);
}

/// Groups of two procedures filed at once: every dossier of every filing
/// numbered without gaps; one `Idempotency-Key` sent ten times at once
/// makes one filing.
async fn group_filings_at_once_number_every_dossier_and_honour_one_key(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let group = motcua_domain::procedure::ProcedureGroup {
        code: "TT".into(),
        name: "Tạm trú và gia hạn".into(),
        basis: "thử".into(),
        procedures: ["1.004194", "1.002755"]
            .map(|c| c.parse().unwrap_or_else(|e| panic!("{e}")))
            .to_vec(),
    };
    app.db
        .run(|conn| motcua_persistence::groups::put(conn, &group, chrono::Utc::now()))
        .unwrap_or_else(|e| panic!("{e}"));
    let (token, _) = app.login(CITIZEN, PASSWORD).await;
    let mut body = filing(&app, &fixture, &token).await;
    body["group_code"] = json!("TT");
    if let Some(body) = body.as_object_mut() {
        body.remove("procedure_code");
    }
    let results = post_at_once(&app, "/api/v1/dossier-groups", &token, &body, None, 20).await;
    assert!(
        results.iter().all(|(status, _)| *status == 201),
        "{results:?}"
    );
    let numbers: BTreeSet<u32> = results
        .iter()
        .flat_map(|(_, body)| body["dossiers"].as_array().cloned().unwrap_or_default())
        .filter_map(|d| d["code"].as_str()?.rsplit('-').next()?.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=40).collect::<BTreeSet<u32>>());

    let keyed = post_at_once(
        &app,
        "/api/v1/dossier-groups",
        &token,
        &body,
        Some("group-7"),
        10,
    )
    .await;
    assert!(keyed.iter().all(|answer| *answer == keyed[0]), "{keyed:?}");
    assert_eq!(keyed[0].0, 201, "{:?}", keyed[0].1);
    assert_eq!(app.dossier_count(), 42);
}

async fn two_clerks_accepting_one_dossier_at_once_make_one_acceptance(app: TestApp) {
    let server = app.address.clone();
    accept_at_once_through(&app, [server.clone(), server]).await;
}

/// Two clerks accept one freshly filed dossier at the same moment, one
/// through each of `servers`: one acceptance, the other told it changed.
async fn accept_at_once_through(app: &TestApp, servers: [String; 2]) {
    let fixture = Fixture::build(app).await;
    let id = fixture.file_online(app, CITIZEN, &fixture.own).await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let mut set = JoinSet::new();
    for server in servers {
        let request = app
            .client
            .post(format!("{server}/api/v1/dossiers/{id}/accept"))
            .bearer_auth(&clerk)
            .json(&json!({"version": 1}));
        set.spawn(async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap_or(0));
    }
    statuses.sort();
    assert!(
        statuses == [200, 409] || statuses == [200, 412],
        "{statuses:?}"
    );
    let events = app
        .db
        .run(|conn| motcua_persistence::dossiers::events(conn, id.parse().unwrap_or_default()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events.iter().filter(|e| e.action == "accept").count(), 1);
}

/// R1 and R5 at a test's size: 60 filings, each sent at once to two servers
/// on one database under its own `Idempotency-Key` (a client retrying on
/// another server) → one dossier per key, both answers the same, and the
/// day's numbers 1 to 60, none twice, none missing.
async fn filings_retried_through_two_servers_make_one_dossier_per_key_and_gapless_numbers(
    mut app: TestApp,
) {
    const KEYS: u32 = 60;
    let fixture = Fixture::build(&app).await;
    let (token, _) = app.login(CITIZEN, PASSWORD).await;
    let body = filing(&app, &fixture, &token).await;
    let first = app.address.clone();
    app.restart(|_| {}).await;
    let servers = [first, app.address.clone()];
    let mut set = JoinSet::new();
    for key in 0..KEYS {
        for server in &servers {
            let request = app
                .client
                .post(format!("{server}/api/v1/dossiers"))
                .bearer_auth(&token)
                .header("idempotency-key", format!("r1-{key}"))
                .json(&body);
            set.spawn(async move {
                let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
                let status = response.status().as_u16();
                (
                    key,
                    status,
                    response.json::<Value>().await.unwrap_or_default(),
                )
            });
        }
    }
    let mut answers: BTreeMap<u32, Vec<(u16, Value)>> = BTreeMap::new();
    while let Some(result) = set.join_next().await {
        let (key, status, body) = result.unwrap_or_else(|e| panic!("{e}"));
        answers.entry(key).or_default().push((status, body));
    }
    for (key, pair) in &answers {
        assert_eq!(pair[0].0, 201, "key {key}: {:?}", pair[0].1);
        assert_eq!(
            pair[0], pair[1],
            "key {key}: both servers give the one dossier"
        );
    }
    let numbers: BTreeSet<u32> = answers
        .values()
        .filter_map(|pair| pair[0].1["code"].as_str())
        .filter_map(|code| code.rsplit('-').next()?.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=KEYS).collect::<BTreeSet<u32>>());
    let count = app.dossier_count();
    assert_eq!(count, i64::from(KEYS), "one dossier per key");
}

/// R4 across two servers (R5): two clerks accept one dossier at the same
/// moment, each through another server on the same database.
async fn two_clerks_on_two_servers_accepting_one_dossier_make_one_acceptance(mut app: TestApp) {
    let first = app.address.clone();
    app.restart(|_| {}).await;
    let second = app.address.clone();
    accept_at_once_through(&app, [first, second]).await;
}

api_tests!(
    two_hundred_simultaneous_filings_get_gapless_distinct_codes,
    one_idempotency_key_sent_twenty_times_at_once_makes_one_dossier,
    group_filings_at_once_number_every_dossier_and_honour_one_key,
    two_clerks_accepting_one_dossier_at_once_make_one_acceptance,
    filings_retried_through_two_servers_make_one_dossier_per_key_and_gapless_numbers,
    two_clerks_on_two_servers_accepting_one_dossier_make_one_acceptance,
);
