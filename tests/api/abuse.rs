//! Guessing under concurrency (issue #10, items 5, 6 and 10): limits that
//! hold when the attempts arrive at once and from many addresses, and that an
//! attacker cannot aim at someone else. Clients bind distinct loopback
//! addresses (127.0.0.x), so the server sees distinct peers.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{Value, json};

use crate::fixture::{CITIZEN, Fixture, PASSWORD};
use crate::helpers::{TestApp, json, problem};

/// A client whose connections come from 127.0.0.`n`.
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn concurrent_wrong_logins_are_evaluated_at_most_to_the_limit(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let attacker = client_from(1);
    let url = app.url("/api/v1/auth/token");
    let wrong = json!({"username": "admin.a", "password": "not the password"});
    let attempts = (0..40).map(|_| status_of(attacker.post(&url).json(&wrong)));
    let statuses = futures_util::future::join_all(attempts).await;
    // Five (the per account-and-address limit) were evaluated; the rest never hashed.
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 35, "{statuses:?}");
    let right = json!({"username": "admin.a", "password": PASSWORD});
    assert_eq!(status_of(attacker.post(&url).json(&right)).await, 429);
    // The owner, elsewhere, is not locked out by the attacker's failures.
    assert_eq!(status_of(client_from(2).post(&url).json(&right)).await, 200);

    // 100 attempts at once for an unknown user from one address: at most the
    // address's limit of 20 is evaluated.
    let nobody = json!({"username": "nobody", "password": "whatever it is"});
    let other = client_from(3);
    let attempts = (0..100).map(|n| {
        let body = json!({"username": format!("nobody{}", n % 25), "password": nobody["password"]});
        status_of(other.post(&url).json(&body))
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(count(&statuses, 401), 20, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 80, "{statuses:?}");
}

async fn registrations_are_limited_per_address(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let client = client_from(4);
    let url = app.url("/api/v1/auth/citizens");
    let mut statuses = Vec::new();
    for n in 0..11u32 {
        let body = json!({
            "national_id": format!("0010910{n:05}"), "full_name": "Nguyễn Văn An",
            "phone": "0912345678", "password": "mật khẩu đủ dài 2026",
        });
        statuses.push(status_of(client.post(&url).json(&body)).await);
    }
    assert_eq!(count(&statuses, 201), 10, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429));
    // Probing whether an ID is registered counts against the same limit.
    let body = json!({
        "national_id": CITIZEN, "full_name": "X", "phone": "0912345678",
        "password": "mật khẩu đủ dài 2026",
    });
    assert_eq!(status_of(client.post(&url).json(&body)).await, 429);
    assert_eq!(status_of(client_from(5).post(&url).json(&body)).await, 409);
}

async fn a_code_pauses_after_ten_wrong_second_factors_whoever_asks(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let code = dossier["code"].as_str().unwrap_or_default().to_owned();
    // The applicant's phone is 0987654321: the right answer is 4321.
    let url = |last4: &str| {
        app.url(&format!(
            "/api/v1/public/dossiers/{code}?phone_last4={last4}"
        ))
    };
    let guesses = (0..50u8).map(|n| {
        let client = client_from(10 + n);
        let guess = format!("{:04}", u32::from(n) * 7);
        async move { status_of(client.get(url(&guess))).await }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert_eq!(count(&statuses, 404), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 40, "{statuses:?}");
    // The right answer, from a fresh address, must wait too: the code is paused.
    problem(
        client_from(100)
            .get(url("4321"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        429,
        "too_many_requests",
    )
    .await;
    // A code not issued yet cannot be paused in advance (found by the second
    // outside probe): wrong answers for it do not count, and the citizen who
    // then gets that code looks it up at once.
    let (prefix, number) = code.split_at(code.len() - 4);
    let next = format!("{prefix}{:04}", number.parse::<u32>().unwrap_or(0) + 1);
    for n in 0..12u8 {
        let guess = app.url(&format!(
            "/api/v1/public/dossiers/{next}?phone_last4=00{n:02}"
        ));
        let answer = client_from(150 + n).get(guess).send().await;
        problem(answer.unwrap_or_else(|e| panic!("{e}")), 404, "not_found").await;
    }
    let issued = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    assert_eq!(issued["code"], next.as_str());
    let right = app.url(&format!("/api/v1/public/dossiers/{next}?phone_last4=4321"));
    let answer = client_from(170).get(right).send().await;
    json(answer.unwrap_or_else(|e| panic!("{e}")), "application/json").await;
    // Staff are counted too: a staff token opens no brute force, even on
    // dossiers outside its reach (found by an outside probe). Staff in reach
    // read the dossier itself.
    let clerk = fixture
        .token(crate::fixture::Who::Clerk)
        .unwrap_or_default()
        .to_owned();
    let (sibling, _) = app.login("staff.sibling", crate::fixture::PASSWORD).await;
    for token in [&clerk, &sibling] {
        let answer = client_from(101)
            .get(url("4321"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        problem(answer, 429, "too_many_requests").await;
    }
    let seen: Value = json(
        app.get_as(&format!("/api/v1/dossiers/{code}"), &clerk)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(seen["code"], code.as_str());
}

/// R5 for the public rates: a burst of 10 per address, then one every 3
/// seconds, whichever server is asked. 30 look-ups and 30 previews from one
/// address at once, alternating between two servers on one database: 10 of
/// each pass (more only as the seconds the test took let the bucket leak),
/// where each server's own limit alone would let 20 through. Staff are not
/// counted.
async fn public_rates_are_shared_by_two_servers(mut app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossier = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let code = dossier["code"].as_str().unwrap_or_default().to_owned();
    let first = app.address.clone();
    app.restart(|_| {}).await;
    let servers = [first, app.address.clone()];
    let started = std::time::Instant::now();
    let client = client_from(200);
    let lookups = (0..30).map(|n| {
        let url = format!(
            "{}/api/v1/public/dossiers/{code}?phone_last4=4321",
            servers[n % 2]
        );
        status_of(client.get(url))
    });
    let preview = json!({
        "agency_id": fixture.own.id.to_string(),
        "time_limit": {"amount": 5, "unit": "working_days"},
        "received_at": "2026-11-04T02:30:00Z",
    });
    let previews = (0..30).map(|n| {
        let url = format!("{}/api/v1/deadlines/preview", servers[n % 2]);
        status_of(client.post(url).json(&preview))
    });
    let (lookups, previews) = futures_util::future::join(
        futures_util::future::join_all(lookups),
        futures_util::future::join_all(previews),
    )
    .await;
    let leaked = usize::try_from(started.elapsed().as_secs() / 3).unwrap_or(usize::MAX);
    for statuses in [&lookups, &previews] {
        let passed = count(statuses, 200);
        assert!((10..=10 + leaked).contains(&passed), "{statuses:?}");
        assert_eq!(passed + count(statuses, 429), 30, "{statuses:?}");
    }
    // The desk is not counted: a clerk looks the dossier up 12 times.
    let clerk = fixture
        .token(crate::fixture::Who::Clerk)
        .unwrap_or_default()
        .to_owned();
    for n in 0..12 {
        let url = format!(
            "{}/api/v1/public/dossiers/{code}?phone_last4=4321",
            servers[n % 2]
        );
        assert_eq!(status_of(client.get(url).bearer_auth(&clerk)).await, 200);
    }
}

api_tests!(
    concurrent_wrong_logins_are_evaluated_at_most_to_the_limit,
    registrations_are_limited_per_address,
    a_code_pauses_after_ten_wrong_second_factors_whoever_asks,
    public_rates_are_shared_by_two_servers,
);
