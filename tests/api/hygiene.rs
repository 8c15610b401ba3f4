//! Odd bytes at the door (issue #10, items 4, 7 and 9): control characters,
//! deep nesting and unusable idempotency keys are refused with 422 naming the
//! field, before anything is written, on both backends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who, online_filing};
use crate::helpers::{TestApp, json, problem};

fn account_count(app: &TestApp) -> i64 {
    app.db
        .run(|conn| {
            use diesel::prelude::*;
            Ok(motcua_persistence::schema::users::table
                .count()
                .get_result(conn)?)
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
}

async fn refused(response: reqwest::Response, field: &str) {
    let body = problem(response, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], field, "{body}");
}

async fn nul_anywhere_is_422_naming_the_field(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    // Unauthenticated, in a body, a query and a path.
    refused(
        app.post_json(
            "/api/v1/auth/token",
            None,
            &json!({"username": "a\u{0}", "password": "x"}),
        )
        .await,
        "username",
    )
    .await;
    refused(app.get("/api/v1/procedures?q=%00").await, "q").await;
    refused(app.get("/api/v1/procedures/%00").await, "path").await;
    refused(app.get_as("/api/v1/dossiers/%00", &clerk).await, "path").await;
    refused(app.get_as("/api/v1/dossiers?q=a%00b", &clerk).await, "q").await;
    // Other control characters too; tab and line breaks pass in free text.
    refused(app.get("/api/v1/procedures?q=%1B%5B31m").await, "q").await;

    // A registration with a NUL in the e-mail stores nothing (SQLite would have).
    let accounts = account_count(&app);
    let registration = json!({
        "national_id": "001091000123", "full_name": "Nguyễn Văn An", "phone": "0912345678",
        "email": "an\u{0}@example.vn", "password": "mật khẩu đủ dài 2026",
    });
    refused(
        app.post_json("/api/v1/auth/citizens", None, &registration)
            .await,
        "email",
    )
    .await;
    assert_eq!(account_count(&app), accounts);

    // In an action's nested field: nothing changes.
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default();
    let before = app.version_and_events(id);
    let handover =
        json!({"to_step": "thẩm định", "note": {"lines": ["ok", "bad\u{0}"]}, "version": before.0});
    refused(
        app.post_json(
            &format!("/api/v1/dossiers/{id}/handover"),
            Some(&clerk),
            &handover,
        )
        .await,
        "note.lines[1]",
    )
    .await;
    assert_eq!(app.version_and_events(id), before);
    let fine =
        json!({"to_step": "thẩm định", "note": "dòng một\ndòng hai\tcột", "version": before.0});
    let moved = app
        .post_json(
            &format!("/api/v1/dossiers/{id}/handover"),
            Some(&clerk),
            &fine,
        )
        .await;
    assert_eq!(moved.status().as_u16(), 200);
}

async fn a_deeply_nested_body_is_422_and_the_dossier_still_answers(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default();
    let before = app.version_and_events(id);
    // The reproduction: a note nested 125 levels deep on /payments.
    let mut note = json!("sâu");
    for _ in 0..125 {
        note = json!({ "n": note });
    }
    let body = json!({"amount": 15000, "method": "cash", "reference": "BL-9", "note": note, "version": before.0});
    refused(
        app.post_json(
            &format!("/api/v1/dossiers/{id}/payments"),
            Some(&clerk),
            &body,
        )
        .await,
        "body",
    )
    .await;
    assert_eq!(app.version_and_events(id), before, "nothing was written");
    let read: Value = json(
        app.get_as(&format!("/api/v1/dossiers/{id}"), &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(read["record_readable"], true);
}

async fn an_idempotency_key_that_would_be_ignored_is_refused(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let body = online_filing(&app, &citizen, &fixture.own).await;
    let file = |key: String| {
        let request = app
            .client
            .request(Method::POST, app.url("/api/v1/dossiers"))
            .bearer_auth(&citizen)
            .header("idempotency-key", key)
            .json(&body);
        async move { request.send().await.unwrap_or_else(|e| panic!("{e}")) }
    };
    refused(file("k".repeat(201)).await, "Idempotency-Key").await;
    refused(file("khóa".into()).await, "Idempotency-Key").await;
    // At the limit, the key works: the retry gets the same dossier.
    let key = "k".repeat(200);
    let first = json(file(key.clone()).await, "application/json").await;
    let again = json(file(key).await, "application/json").await;
    assert_eq!(first["id"], again["id"]);
}

/// A record stored before bodies were depth-limited (here: 200 levels deep)
/// cannot be parsed; the dossier still answers reads, and changes are
/// refused with a clear 409 instead of a 500 that never goes away.
/// Overwrites a dossier's stored record and legal clock, as damage by hand would.
fn damage(app: &TestApp, id: &str, details: &str, clock_events: &str) {
    let target: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| {
            use diesel::prelude::*;
            use motcua_persistence::schema::dossiers;
            diesel::update(dossiers::table.find(target))
                .set((
                    dossiers::details.eq(details),
                    dossiers::clock_events.eq(clock_events),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
}

/// The dossier still reads (without what is damaged); a change is 409
/// `record_unreadable` and writes nothing.
async fn reads_but_refuses_changes(app: &TestApp, clerk: &str, id: &str) -> Value {
    let read = json(
        app.get_as(&format!("/api/v1/dossiers/{id}"), clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(read["record_readable"], false);
    let before = app.version_and_events(id);
    let handover = json!({"to_step": "thẩm định", "version": before.0});
    problem(
        app.post_json(
            &format!("/api/v1/dossiers/{id}/handover"),
            Some(clerk),
            &handover,
        )
        .await,
        409,
        "record_unreadable",
    )
    .await;
    assert_eq!(app.version_and_events(id), before);
    read
}

async fn a_dossier_whose_record_cannot_be_read_still_answers(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let deep = format!("{{\"records\": [{}1{}]}}", "[".repeat(200), "]".repeat(200));
    let ledger = app.dossier_row(&id).clock_events;
    damage(&app, &id, &deep, &ledger);
    let read = reads_but_refuses_changes(&app, &clerk, &id).await;
    assert_eq!(read["code"], dossier["code"]);

    // Its legal clock damaged too (found by the second outside probe): the
    // dossier still reads, changes and reports say which dossier to repair.
    damage(&app, &id, "{}", "{{");
    let read = reads_but_refuses_changes(&app, &clerk, &id).await;
    assert_eq!(read["legal_clock"], Value::Null);
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    let report = problem(
        app.get_as("/api/v1/reports/kstt-06?period=2026-11", &auditor)
            .await,
        409,
        "record_unreadable",
    )
    .await;
    assert!(
        report["detail"]
            .as_str()
            .is_some_and(|d| d.contains(dossier["code"].as_str().unwrap_or("?"))),
        "{report}"
    );
}

/// Dates no report or catalogue can mean are 422, not a 500 from the
/// database or the legal clock (found by the second outside probe).
async fn dates_outside_what_the_service_computes_are_422(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    refused(app.get("/api/v1/procedures?at=-9999-01-01").await, "at").await;
    refused(
        app.get("/api/v1/procedures/1.004194?at=9999-12-31").await,
        "at",
    )
    .await;
    let auditor = fixture.token(Who::Auditor).unwrap_or_default().to_owned();
    refused(
        app.get_as(
            "/api/v1/reports/kstt-06?from=2026-01-01&to=2100-12-31",
            &auditor,
        )
        .await,
        "to",
    )
    .await;
    refused(
        app.get_as("/api/v1/reports/indicators?period=1850-01", &auditor)
            .await,
        "period",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/procedures?at=2026-11-02")
            .await
            .status()
            .as_u16(),
        200
    );
}

/// The closed sets of the domain are closed in the database: a raw write of
/// any value the domain names is taken, anything else refused (PostgreSQL by
/// CHECK constraints, SQLite by triggers), for a dossier's state, channel,
/// result delivery and outcome, its events' states, a payment's method and
/// a rating's levels.
async fn the_database_refuses_values_outside_the_closed_sets(app: TestApp) {
    use diesel::prelude::*;
    use motcua_domain::clock::Outcome;
    use motcua_domain::dossier::{Channel, PaymentMethod, Satisfaction};
    use motcua_domain::lifecycle::State;
    use motcua_domain::procedure::Delivery;
    use motcua_persistence::DbError;

    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id: motcua_persistence::DossierId = dossier["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{dossier}"));
    // Raw SQL: the typed columns take only the domain's values.
    let write = |column: &str, value: &str| -> Result<usize, DbError> {
        let value = format!("'{}'", value.replace('\'', "''"));
        let statement = match column {
            "state" | "channel" | "result_delivery" | "outcome" => {
                format!("UPDATE dossiers SET {column} = {value} WHERE id = '{id}'")
            }
            "state_after" | "state_before" => {
                format!("UPDATE dossier_events SET {column} = {value} WHERE dossier_id = '{id}'")
            }
            "method" => format!(
                "INSERT INTO payments (id, dossier_id, scope, reference, amount, method, recorded_at) \
                 VALUES ('{}', '{id}', 'test', 'R-' || {value}, 1, {value}, '2026-11-02 03:00:00')",
                motcua_persistence::PaymentId::new()
            ),
            "overall" => format!("UPDATE ratings SET overall = {value} WHERE dossier_id = '{id}'"),
            "criterion" => format!(
                "INSERT INTO rating_criteria (dossier_id, criterion, value) \
                 VALUES ('{id}', 'c-' || {value}, {value})"
            ),
            other => panic!("no column {other}"),
        };
        app.db
            .write(|conn| Ok(diesel::sql_query(statement).execute(conn)?))
    };
    let rated = format!(
        "INSERT INTO ratings (dossier_id, rated_at, overall) \
         VALUES ('{id}', '2026-11-02 03:00:00', 'satisfied')"
    );
    app.db
        .write(|conn| Ok::<_, DbError>(diesel::sql_query(rated).execute(conn)?))
        .unwrap_or_else(|e| panic!("{e}"));
    let satisfaction = [
        Satisfaction::VerySatisfied,
        Satisfaction::Satisfied,
        Satisfaction::Dissatisfied,
    ]
    .map(Satisfaction::as_str);
    let states = State::ALL.map(State::as_str);
    let closed: [(&str, Vec<&str>); 9] = [
        ("state", states.to_vec()),
        (
            "channel",
            [Channel::Direct, Channel::Postal, Channel::Online]
                .map(Channel::as_str)
                .to_vec(),
        ),
        (
            "result_delivery",
            [Delivery::Desk, Delivery::Post, Delivery::Online]
                .map(Delivery::as_str)
                .to_vec(),
        ),
        (
            "outcome",
            [Outcome::Early, Outcome::OnTime, Outcome::Late]
                .map(Outcome::as_str)
                .to_vec(),
        ),
        ("state_after", states.to_vec()),
        ("state_before", states.to_vec()),
        (
            "method",
            [
                PaymentMethod::Cash,
                PaymentMethod::Transfer,
                PaymentMethod::Online,
            ]
            .map(PaymentMethod::as_str)
            .to_vec(),
        ),
        ("overall", satisfaction.to_vec()),
        ("criterion", satisfaction.to_vec()),
    ];
    for (column, values) in closed {
        for value in values {
            assert!(write(column, value).is_ok(), "{column} = {value} refused");
        }
        for wrong in ["lost", "", "Accepted"] {
            assert!(write(column, wrong).is_err(), "{column} = {wrong:?} taken");
        }
    }
}

/// A typed body names the field of a wrong value whatever its JSON type,
/// refuses an array in place of the object, and the dossier's ETag is the
/// version an action sends as `If-Match` (found by the outside probe).
async fn typed_bodies_name_the_field_and_the_etag_is_the_version(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, officer) = (
        fixture.token(Who::Clerk).unwrap_or_default().to_owned(),
        fixture.token(Who::Officer).unwrap_or_default().to_owned(),
    );
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let before = app.version_and_events(&id);
    for outcome in [
        Value::Null,
        json!(5),
        json!(true),
        json!(["approved"]),
        json!("maybe"),
    ] {
        let (status, body) = app
            .act(&officer, &id, "complete", json!({"outcome": outcome}))
            .await;
        assert_eq!(
            (status, body["errors"][0]["field"].as_str()),
            (422, Some("outcome")),
            "{outcome}: {body}"
        );
    }
    let path = format!("/api/v1/dossiers/{id}/accept");
    let array = app.post_json(&path, Some(&clerk), &json!([])).await;
    let array = problem(array, 422, "validation_failed").await;
    assert_eq!(array["errors"][0]["field"], "body", "{array}");
    assert_eq!(app.version_and_events(&id), before, "nothing changed");

    let read = app.get_as(&format!("/api/v1/dossiers/{id}"), &clerk).await;
    let etag = read
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(etag, Some(format!("\"{}\"", before.0)));
    let handover = app
        .send(
            Method::POST,
            &format!("/api/v1/dossiers/{id}/handover"),
            Some(&clerk),
            Some(&json!({"to_step": "Thẩm định"})),
        )
        .await;
    assert_eq!(handover.status().as_u16(), 422, "no version, no action");
}

api_tests!(
    typed_bodies_name_the_field_and_the_etag_is_the_version,
    the_database_refuses_values_outside_the_closed_sets,
    dates_outside_what_the_service_computes_are_422,
    a_dossier_whose_record_cannot_be_read_still_answers,
    nul_anywhere_is_422_naming_the_field,
    a_deeply_nested_body_is_422_and_the_dossier_still_answers,
    an_idempotency_key_that_would_be_ignored_is_refused,
);
