//! Payments (issue #10, items 1 and 2): the gateway's signature binds the
//! dossier, the amount, the reference and the timestamp; a reference is
//! recorded once in the whole database; the amount must equal the fee due;
//! citizens cannot record payments, staff only desk payments.

use motcua_api::routes::dossiers::{SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_signature};
use serde_json::{Value, json};

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who};
use crate::helpers::{PAYMENT_SECRET, TestApp, json, problem, vn, vn_of};

const FEE: i64 = 15000;
/// The same procedure's fee when filed online.
const ONLINE_FEE: i64 = 7000;

/// An accepted desk dossier (temporary residence, fee 15,000 đồng) for which
/// the officer has requested the fee; returns (id, code).
async fn awaiting_payment(app: &TestApp, fixture: &Fixture) -> (String, String) {
    let dossier = fixture
        .intake(app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let code = dossier["code"].as_str().unwrap_or_default().to_owned();
    let officer = fixture.token(Who::Officer).unwrap_or_default().to_owned();
    let (status, body) = post(
        app,
        &format!("/api/v1/dossiers/{id}/request-payment"),
        Some(&officer),
        json!({"amount": FEE, "reason": "lệ phí", "version": version(app, &id)}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("awaiting_payment")),
        "{body}"
    );
    (id, code)
}

fn version(app: &TestApp, id: &str) -> i32 {
    app.dossier_row(id).version
}

fn state(app: &TestApp, id: &str) -> (&'static str, i32) {
    let row = app.dossier_row(id);
    (row.state.as_str(), row.version)
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let response = app.post_json(path, token, &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// A gateway callback to `path` with these exact body bytes and headers.
async fn callback(
    app: &TestApp,
    path_id: &str,
    body: &Value,
    timestamp: i64,
    signature: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/dossiers/{path_id}/payments")))
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn a_signed_callback_pays_only_the_dossier_amount_and_reference_it_names(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    app.clock.set(vn("2026-11-03 08:30"));
    let (d1, code1) = awaiting_payment(&app, &fixture).await;
    let (d2, code2) = awaiting_payment(&app, &fixture).await;
    let (d3, code3) = awaiting_payment(&app, &fixture).await;
    app.clock.set(vn("2026-11-03 10:30"));
    let now = vn("2026-11-03 10:30").timestamp();
    let sign = |code: &str, amount: i64, reference: &str, at: i64| {
        callback_signature(PAYMENT_SECRET, at, code, amount, reference)
    };
    let body = json!({"amount": FEE, "reference": "GW-0001"});

    // Forged: signed for another amount, for another time, or with a stale timestamp.
    for (signature, at) in [
        (sign(&code1, 1, "GW-0001", now), now),
        (sign(&code1, FEE, "GW-0001", now - 1), now),
        (sign(&code1, FEE, "GW-0001", now - 3600), now - 3600),
    ] {
        problem(
            callback(&app, &d1, &body, at, &signature).await,
            401,
            "invalid_signature",
        )
        .await;
    }
    let signature = sign(&code1, FEE, "GW-0001", now);
    let paid = json(
        callback(&app, &d1, &body, now, &signature).await,
        "application/json",
    )
    .await;
    assert_eq!(paid["status"], "in_processing");
    // Accepted Tuesday 08:30 (three working days: Friday 08:30), paused
    // from 08:30 to 10:30 while the fee was awaited: due two hours later.
    assert_eq!(vn_of(&paid["legal_clock"]["due_at"]), "2026-11-06 10:30");

    // The same bytes and headers replayed at D2 by id and at D3 by code: the
    // signature names D1, so neither moves.
    problem(
        callback(&app, &d2, &body, now, &signature).await,
        401,
        "invalid_signature",
    )
    .await;
    problem(
        callback(&app, &code3, &body, now, &signature).await,
        401,
        "invalid_signature",
    )
    .await;
    // Even a correctly signed callback that reuses D1's reference is refused.
    let reused = sign(&code2, FEE, "GW-0001", now);
    problem(
        callback(&app, &d2, &body, now, &reused).await,
        409,
        "payment_already_recorded",
    )
    .await;
    assert_eq!(state(&app, &d2).0, "awaiting_payment");
    assert_eq!(state(&app, &d3).0, "awaiting_payment");
    // Replayed at D1 itself.
    problem(
        callback(&app, &d1, &body, now, &signature).await,
        409,
        "payment_already_recorded",
    )
    .await;
    // A timestamp at the end of the range is refused, not an overflow that
    // drops the connection (found by schemathesis).
    problem(
        callback(&app, &d1, &body, i64::MIN + 1, &signature).await,
        401,
        "invalid_signature",
    )
    .await;
    // An unknown dossier answers like a bad signature (codes are not probed this way).
    problem(
        callback(&app, "000.01.00.H01-261103-9999", &body, now, &signature).await,
        401,
        "invalid_signature",
    )
    .await;

    // 1 đồng, properly signed for D3: refused, nothing moves, kept for the desk.
    let cheap = json!({"amount": 1, "reference": "GW-0003"});
    let before = state(&app, &d3);
    problem(
        callback(&app, &code3, &cheap, now, &sign(&code3, 1, "GW-0003", now)).await,
        409,
        "payment_amount_mismatch",
    )
    .await;
    assert_eq!(
        state(&app, &d3),
        before,
        "the refused callback changed nothing"
    );
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let seen = json(
        app.get_as(&format!("/api/v1/dossiers/{d3}"), &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(
        seen["rejected_payments"],
        json!([{
            "reference": "GW-0003", "amount": 1, "expected_amount": FEE,
            "reason": "payment_amount_mismatch", "received_at": seen["rejected_payments"][0]["received_at"],
        }]),
        "{seen}"
    );
    // The gateway repeats the refused callback: kept once.
    problem(
        callback(&app, &code3, &cheap, now, &sign(&code3, 1, "GW-0003", now)).await,
        409,
        "payment_amount_mismatch",
    )
    .await;
    let seen = json(
        app.get_as(&format!("/api/v1/dossiers/{d3}"), &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(seen["rejected_payments"].as_array().map(Vec::len), Some(1));

    // D1 is paid: a second, properly signed payment with a new reference is
    // refused (the fee is paid) and kept for the desk to refund.
    let second = json!({"amount": FEE, "reference": "GW-0009"});
    let before = state(&app, &d1);
    problem(
        callback(&app, &d1, &second, now, &sign(&code1, FEE, "GW-0009", now)).await,
        409,
        "fee_already_paid",
    )
    .await;
    assert_eq!(state(&app, &d1), before);
    let seen = json(
        app.get_as(&format!("/api/v1/dossiers/{d1}"), &clerk).await,
        "application/json",
    )
    .await;
    assert_eq!(
        seen["rejected_payments"][0]["reason"], "fee_already_paid",
        "{seen}"
    );

    // A desk receipt number does not block the gateway: D2's genuine
    // callback with a reference a clerk used for cash elsewhere goes through.
    let (d4, _) = awaiting_payment(&app, &fixture).await;
    let cash = json!({"amount": FEE, "method": "cash", "reference": "VNPAY-0042", "version": state(&app, &d4).1});
    let (status, body) = post(
        &app,
        &format!("/api/v1/dossiers/{d4}/payments"),
        Some(&clerk),
        cash,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let genuine = json!({"amount": FEE, "reference": "VNPAY-0042"});
    let paid = json(
        callback(
            &app,
            &d2,
            &genuine,
            now,
            &sign(&code2, FEE, "VNPAY-0042", now),
        )
        .await,
        "application/json",
    )
    .await;
    assert_eq!(paid["status"], "in_processing");

    let events = app
        .db
        .run(|conn| motcua_persistence::dossiers::events(conn, d1.parse().unwrap_or_default()))
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
    let payment = events
        .iter()
        .find(|e| e.action == "record_payment")
        .map(|e| (e.actor_role.clone(), e.actor_id));
    assert_eq!(payment, Some(("payment_gateway".to_owned(), None)));
}

async fn only_staff_record_desk_payments_and_only_the_fee_due(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    // The citizen's own online filing, accepted at the desk, fee requested.
    let id = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let officer = fixture.token(Who::Officer).unwrap_or_default().to_owned();
    for (token, action, body) in [
        (&clerk, "accept", json!({})),
        (
            &officer,
            "request-payment",
            json!({"amount": ONLINE_FEE, "reason": "lệ phí"}),
        ),
    ] {
        let mut body = body;
        body["version"] = json!(version(&app, &id));
        let (status, answer) = post(
            &app,
            &format!("/api/v1/dossiers/{id}/{action}"),
            Some(token),
            body,
        )
        .await;
        assert_eq!(status, 200, "{action}: {answer}");
    }
    let path = format!("/api/v1/dossiers/{id}/payments");
    let before = state(&app, &id);

    // The owner marks their own fee paid: 403, nothing changes.
    let (owner, _) = app.login(CITIZEN, PASSWORD).await;
    let cash = json!({"amount": ONLINE_FEE, "method": "cash", "reference": "tôi đã trả", "version": before.1});
    let (status, body) = post(&app, &path, Some(&owner), cash).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );

    // Staff cannot claim an online payment, nor a different amount.
    let online =
        json!({"amount": ONLINE_FEE, "method": "online", "reference": "BL-1", "version": before.1});
    let (status, body) = post(&app, &path, Some(&clerk), online).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("method")),
        "{body}"
    );
    let short = json!({"amount": ONLINE_FEE - 1, "method": "cash", "reference": "BL-1", "version": before.1});
    let (status, body) = post(&app, &path, Some(&clerk), short).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("payment_amount_mismatch")),
        "{body}"
    );
    assert_eq!(state(&app, &id), before, "refusals changed nothing");

    // A clerk of a sibling commune does not reach it.
    let (sibling, _) = app.login("staff.sibling", PASSWORD).await;
    let desk =
        json!({"amount": ONLINE_FEE, "method": "cash", "reference": "BL-1", "version": before.1});
    let (status, _) = post(&app, &path, Some(&sibling), desk.clone()).await;
    assert_eq!(status, 404);

    let (status, body) = post(&app, &path, Some(&clerk), desk).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("in_processing")),
        "{body}"
    );
    // Paid once is paid: a second cash receipt on the same fee is refused.
    let twice = json!({"amount": ONLINE_FEE, "method": "cash", "reference": "BL-2", "version": state(&app, &id).1});
    let (status, body) = post(&app, &path, Some(&clerk), twice).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("fee_already_paid")),
        "{body}"
    );
}

/// Two signed callbacks for one dossier at once (a double-clicked payment):
/// one pays; the other, retried on the new version rather than answered 412,
/// finds the fee paid and is kept for the desk (found by an outside probe).
async fn concurrent_callbacks_pay_once_and_never_answer_412(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (id, code) = awaiting_payment(&app, &fixture).await;
    let now = app.clock.now().timestamp();
    let calls = ["GW-A", "GW-B", "GW-C"].map(|reference| {
        let body = json!({"amount": FEE, "reference": reference});
        let signature = callback_signature(PAYMENT_SECRET, now, &code, FEE, reference);
        let (app, id) = (&app, id.clone());
        async move {
            callback(app, &id, &body, now, &signature)
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(calls).await;
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409, 409]);
    assert_eq!(state(&app, &id).0, "in_processing");
}

api_tests!(
    concurrent_callbacks_pay_once_and_never_answer_412,
    a_signed_callback_pays_only_the_dossier_amount_and_reference_it_names,
    only_staff_record_desk_payments_and_only_the_fee_due,
);
