//! Registration, login, tokens, refresh rotation, throttling.

use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use motcua_persistence::users;
use serde_json::{Value, json};

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who};
use crate::helpers::{TEST_SECRET, TestApp, json, problem};

fn registration(national_id: &str) -> Value {
    json!({
        "national_id": national_id,
        "full_name": "Trần Thị Bích",
        "phone": "0987 654 321",
        "email": "bich@example.vn",
        "date_of_birth": "1995-07-01",
        "password": "a long passphrase",
    })
}

fn user_count(app: &TestApp) -> i64 {
    app.db.run(users::count).unwrap_or_else(|e| panic!("{e}"))
}

async fn a_citizen_registers_logs_in_and_sees_their_account(app: TestApp) {
    let created = app
        .post_json("/api/v1/auth/citizens", None, &registration("001195012345"))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let account = json(created, "application/json").await;
    assert_eq!(account["username"], "001195012345");
    assert_eq!(account["roles"], json!(["citizen"]));
    assert_eq!(account["phone"], "0987654321");
    assert!(account.get("password").is_none() && account.get("password_hash").is_none());

    let (access, refresh) = app.login("001195012345", "a long passphrase").await;
    assert!(!refresh.is_empty());
    let me = json(app.get_as("/api/v1/me", &access).await, "application/json").await;
    assert_eq!(me["id"], account["id"]);
    assert_eq!(me["kind"], "citizen");
}

async fn registration_refuses_each_invalid_personal_id_with_a_field_message(app: TestApp) {
    let before = user_count(&app);
    for (id, message) in [
        ("00119501234", "exactly 12 digits"),
        ("0011950123456", "exactly 12 digits"),
        ("00119501234X", "exactly 12 digits"),
        ("003195012345", "not a known province code"),
        ("001485012345", "in the future"),
    ] {
        let body = problem(
            app.post_json("/api/v1/auth/citizens", None, &registration(id))
                .await,
            422,
            "validation_failed",
        )
        .await;
        let errors = body["errors"].as_array().cloned().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{id}: {body}");
        assert_eq!(errors[0]["field"], "national_id");
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(message),
            "{id}: {body}"
        );
    }
    // The ID says born 1995; the date of birth says otherwise.
    let mut mismatch = registration("001195012345");
    mismatch["date_of_birth"] = json!("1996-01-01");
    let body = problem(
        app.post_json("/api/v1/auth/citizens", None, &mismatch)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "date_of_birth");
    // Every bad field is reported at once.
    let all_bad = json!({"national_id": "1", "full_name": " ", "phone": "12", "email": "x", "date_of_birth": "01/02/1990", "password": "short"});
    let body = problem(
        app.post_json("/api/v1/auth/citizens", None, &all_bad).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "national_id",
            "full_name",
            "phone",
            "email",
            "date_of_birth",
            "password"
        ]
    );
    assert_eq!(user_count(&app), before, "nothing was created");
}

async fn a_second_registration_of_the_same_id_is_a_conflict_and_creates_nothing(app: TestApp) {
    let first = app
        .post_json("/api/v1/auth/citizens", None, &registration("001195012345"))
        .await;
    assert_eq!(first.status().as_u16(), 201);
    let before = user_count(&app);
    let mut again = registration("001195012345");
    again["full_name"] = json!("Someone Else");
    problem(
        app.post_json("/api/v1/auth/citizens", None, &again).await,
        409,
        "already_registered",
    )
    .await;
    assert_eq!(user_count(&app), before);
}

async fn wrong_passwords_and_unknown_users_get_the_same_401(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let wrong = app
        .post_json(
            "/api/v1/auth/token",
            None,
            &json!({"username": "clerk.a", "password": "not the password"}),
        )
        .await;
    let wrong = problem(wrong, 401, "invalid_credentials").await;
    let unknown = app
        .post_json(
            "/api/v1/auth/token",
            None,
            &json!({"username": "nobody", "password": "not the password"}),
        )
        .await;
    let unknown = problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    // A deactivated account cannot log in, with the same answer.
    let admin = fixture.token(Who::Admin).unwrap_or_default();
    let path = format!("/api/v1/users/{}", fixture.staff_own.id);
    let deactivated = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(admin),
            Some(&json!({"active": false})),
        )
        .await;
    assert_eq!(deactivated.status().as_u16(), 200);
    let inactive = app
        .post_json(
            "/api/v1/auth/token",
            None,
            &json!({"username": "staff.own", "password": PASSWORD}),
        )
        .await;
    assert_eq!(problem(inactive, 401, "invalid_credentials").await, wrong);
}

fn claims(fixture: &Fixture) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": "motcua", "aud": "motcua-api", "sub": fixture.citizen.id.to_string(),
        "exp": now + 600, "nbf": now, "iat": now, "iat_ms": Utc::now().timestamp_millis(),
        "jti": "t", "kind": "citizen", "roles": ["citizen"],
    })
}

fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

fn b64(value: &Value) -> String {
    use std::fmt::Write;
    // base64url without padding, written out to keep the test free of extra crates.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = value.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let _ = out.write_char(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

async fn forged_expired_and_foreign_tokens_are_all_401(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let good = claims(&fixture);
    let control = sign(&good, TEST_SECRET, Algorithm::HS256);
    assert_eq!(
        app.get_as("/api/v1/me", &control).await.status().as_u16(),
        200,
        "the control token works"
    );

    let with = |key: &str, value: Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let now = Utc::now().timestamp();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good)
    );
    let mut tampered_parts: Vec<String> = control.split('.').map(str::to_owned).collect();
    tampered_parts[1] = b64(&with("roles", json!(["admin"])));
    let tampered = tampered_parts.join(".");
    let cases = [
        ("alg none", alg_none, "invalid_token"),
        (
            "another key",
            sign(
                &good,
                "another-secret-with-enough-entropy-0123456789",
                Algorithm::HS256,
            ),
            "invalid_token",
        ),
        (
            "another algorithm",
            sign(&good, TEST_SECRET, Algorithm::HS512),
            "invalid_token",
        ),
        (
            "expired",
            sign(
                &with("exp", json!(now - 120)),
                TEST_SECRET,
                Algorithm::HS256,
            ),
            "token_expired",
        ),
        (
            "not yet valid",
            sign(
                &with("nbf", json!(now + 3600)),
                TEST_SECRET,
                Algorithm::HS256,
            ),
            "invalid_token",
        ),
        (
            "wrong audience",
            sign(
                &with("aud", json!("someone-else")),
                TEST_SECRET,
                Algorithm::HS256,
            ),
            "invalid_token",
        ),
        (
            "wrong issuer",
            sign(&with("iss", json!("evil")), TEST_SECRET, Algorithm::HS256),
            "invalid_token",
        ),
        ("tampered payload", tampered, "invalid_token"),
        ("garbage", "not.a.token".to_owned(), "invalid_token"),
    ];
    for (what, token, code) in cases {
        let response = app.get_as("/api/v1/me", &token).await;
        assert!(
            response.headers().get("www-authenticate").is_some(),
            "{what}"
        );
        let body = problem(response, 401, code).await;
        assert!(body["detail"].is_string(), "{what}");
    }
    problem(app.get("/api/v1/me").await, 401, "missing_token").await;
}

async fn refresh_rotates_and_reuse_revokes_the_whole_family(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let (_, first) = app.login(CITIZEN, PASSWORD).await;
    let rotate = |token: String| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/auth/refresh",
                None,
                &json!({"refresh_token": token}),
            )
            .await
        }
    };
    let rotated = json(rotate(first.clone()).await, "application/json").await;
    let second = rotated["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_ne!(second, first);
    assert_eq!(
        app.get_as(
            "/api/v1/me",
            rotated["access_token"].as_str().unwrap_or_default()
        )
        .await
        .status()
        .as_u16(),
        200
    );

    // The first token again: reuse. The family dies, including the live second token.
    problem(rotate(first).await, 401, "refresh_token_reused").await;
    problem(rotate(second).await, 401, "invalid_refresh_token").await;
    // Another login is another family and still works.
    let (_, other) = app.login(CITIZEN, PASSWORD).await;
    assert_eq!(rotate(other).await.status().as_u16(), 200);
    problem(rotate("made-up".into()).await, 401, "invalid_refresh_token").await;
}

async fn logout_and_deactivation_end_refresh_at_once(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (_, token) = app.login(CITIZEN, PASSWORD).await;
    let out = app
        .post_json(
            "/api/v1/auth/logout",
            None,
            &json!({"refresh_token": token}),
        )
        .await;
    assert_eq!(out.status().as_u16(), 204);
    problem(
        app.post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": token}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;

    let (access, refresh) = app.login("staff.own", PASSWORD).await;
    let admin = fixture.token(Who::Admin).unwrap_or_default();
    let path = format!("/api/v1/users/{}", fixture.staff_own.id);
    let deactivated = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(admin),
            Some(&json!({"active": false})),
        )
        .await;
    assert_eq!(deactivated.status().as_u16(), 200);
    problem(
        app.post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // The access token dies at once too (issue #10, item 11).
    problem(
        app.get_as("/api/v1/me", &access).await,
        401,
        "account_inactive",
    )
    .await;
    // Reactivated: the old token stays dead (issued before the change); a new login works.
    let reactivated = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(admin),
            Some(&json!({"active": true})),
        )
        .await;
    assert_eq!(reactivated.status().as_u16(), 200);
    problem(app.get_as("/api/v1/me", &access).await, 401, "token_stale").await;
    let (fresh, _) = app.login("staff.own", PASSWORD).await;
    assert_eq!(
        app.get_as("/api/v1/me", &fresh).await.status().as_u16(),
        200
    );
}

/// A change of roles or agency takes effect at once: tokens issued before it
/// are stale (401 `token_stale`); a refresh carries the new roles (found by an
/// outside probe: a demoted clerk kept accepting dossiers with the old token).
async fn a_role_change_makes_older_access_tokens_stale(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (access, refresh) = app.login("staff.own", PASSWORD).await;
    assert_eq!(
        app.get_as("/api/v1/dossiers", &access)
            .await
            .status()
            .as_u16(),
        200
    );
    let admin = fixture.token(Who::Admin).unwrap_or_default();
    let path = format!("/api/v1/users/{}", fixture.staff_own.id);
    let demoted = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(admin),
            Some(&json!({"roles": ["auditor"]})),
        )
        .await;
    assert_eq!(demoted.status().as_u16(), 200);
    problem(
        app.get_as("/api/v1/dossiers", &access).await,
        401,
        "token_stale",
    )
    .await;
    let renewed = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh}),
        )
        .await;
    let renewed: serde_json::Value = renewed.json().await.unwrap_or_default();
    let token = renewed["access_token"].as_str().unwrap_or_default();
    let me: serde_json::Value = app
        .get_as("/api/v1/me", token)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(me["roles"], json!(["auditor"]), "{me}");
}

async fn repeated_failures_are_slowed_per_account_with_retry_after(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/auth/token",
                None,
                &json!({"username": "clerk.a", "password": password}),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password!").await.status().as_u16(), 401);
    }
    // Now even the right password waits.
    let throttled = attempt(PASSWORD).await;
    let retry_after: u64 = throttled
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    problem(throttled, 429, "too_many_requests").await;
    // Another account from the same address is not affected (yet).
    app.login("officer.a", PASSWORD).await;
}

async fn repeated_failures_are_slowed_per_client_address(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    for n in 0..20 {
        let body = json!({"username": format!("guess{n}"), "password": "whatever it is"});
        assert_eq!(
            app.post_json("/api/v1/auth/token", None, &body)
                .await
                .status()
                .as_u16(),
            401
        );
    }
    let body = json!({"username": "officer.a", "password": PASSWORD});
    problem(
        app.post_json("/api/v1/auth/token", None, &body).await,
        429,
        "too_many_requests",
    )
    .await;
}

async fn unknown_users_take_as_long_as_known_ones(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    // Interleaved, so that load from other tests hits both sides alike; two known
    // accounts, so that neither reaches the throttle's limit.
    for n in 0..6 {
        let account = if n % 2 == 0 { "clerk.a" } else { "officer.a" };
        for (username, times) in [
            (account.to_owned(), &mut known),
            (format!("nobody{n}"), &mut unknown),
        ] {
            let started = Instant::now();
            let response = app
                .post_json(
                    "/api/v1/auth/token",
                    None,
                    &json!({"username": username, "password": "wrong password"}),
                )
                .await;
            times.push(started.elapsed());
            assert_eq!(response.status().as_u16(), 401);
        }
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        (times[2] + times[3]) / 2
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    // Without the dummy hash an unknown user answers some 50 times faster; the
    // generous margin absorbs a loaded machine.
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.25..=4.0).contains(&ratio),
        "unknown {unknown:?} vs known {known:?}"
    );
}

api_tests!(
    a_citizen_registers_logs_in_and_sees_their_account,
    registration_refuses_each_invalid_personal_id_with_a_field_message,
    a_second_registration_of_the_same_id_is_a_conflict_and_creates_nothing,
    wrong_passwords_and_unknown_users_get_the_same_401,
    forged_expired_and_foreign_tokens_are_all_401,
    refresh_rotates_and_reuse_revokes_the_whole_family,
    logout_and_deactivation_end_refresh_at_once,
    a_role_change_makes_older_access_tokens_stale,
    repeated_failures_are_slowed_per_account_with_retry_after,
    repeated_failures_are_slowed_per_client_address,
    unknown_users_take_as_long_as_known_ones,
);
