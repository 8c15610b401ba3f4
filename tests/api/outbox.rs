//! The outbox and its webhooks (issue #16): each event of a dossier's life
//! reaches a registered webhook at least once, in the dossier's order, signed
//! and carrying its event id; a receiver that is down for a while gets
//! everything once it is back; a message parked after the limit is
//! replayed; two server processes never make one attempt twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixture::{Fixture, PASSWORD};
use crate::helpers::TestApp;

const SECRET: &str = "a webhook secret of some length";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) event_id: String,
    pub(crate) signed: bool,
    pub(crate) authorization: String,
    pub(crate) body: Value,
    pub(crate) answered: u16,
}

/// A webhook receiver on a free local port: answers 503 to its first
/// `failing` requests (and while `down` is set), 200 after; keeps every request.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
    pub(crate) down: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub(crate) async fn start(failing: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "http://{}/hook",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let got = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let (kept, off) = (got.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (kept, off, seen) = (kept.clone(), off.clone(), seen.clone());
                tokio::spawn(async move {
                    let Some((headers, body)) = read_request(&mut stream).await else {
                        return;
                    };
                    let header = |name: &str| {
                        headers
                            .lines()
                            .find_map(|line| {
                                let (key, value) = line.split_once(':')?;
                                key.trim()
                                    .eq_ignore_ascii_case(name)
                                    .then(|| value.trim().to_owned())
                            })
                            .unwrap_or_default()
                    };
                    let timestamp: i64 = header("x-motcua-timestamp").parse().unwrap_or(0);
                    let signed = header("x-motcua-signature")
                        == motcua_api::outbox::signature(SECRET, timestamp, &body);
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let answered = if n < failing || off.load(Ordering::SeqCst) {
                        503
                    } else {
                        200
                    };
                    if let Ok(mut got) = kept.lock() {
                        got.push(Received {
                            event_id: header("x-motcua-event-id"),
                            signed,
                            authorization: header("authorization"),
                            body: serde_json::from_str(&body).unwrap_or_default(),
                            answered,
                        });
                    }
                    let reply = format!(
                        "HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        Receiver { url, got, down }
    }

    pub(crate) fn got(&self) -> Vec<Received> {
        self.got.lock().map(|got| got.clone()).unwrap_or_default()
    }

    /// The requests answered 200, in the order they came.
    pub(crate) fn delivered(&self) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    /// Waits (up to 30 s) until `done` holds of what was received.
    pub(crate) async fn until(&self, what: &str, done: impl Fn(&Receiver) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: received {:?}",
                self.got()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads one HTTP/1.1 request: its header block and its body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let headers = text[..end].to_owned();
            let length: usize = headers
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned();
                return Some((headers, body));
            }
        }
    }
}

/// A server on the same database whose outbox delivers, quickly.
pub(crate) async fn delivering(app: &mut TestApp, max_attempts: u32) {
    app.restart(|settings| {
        settings.outbox.workers = 2;
        settings.outbox.max_attempts = max_attempts;
        settings.outbox.backoff = Duration::from_millis(20);
        settings.outbox.poll = Duration::from_millis(20);
    })
    .await;
}

async fn register(app: &TestApp, url: &str, kinds: Value) -> Value {
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let body = json!({"url": url, "secret": SECRET, "kinds": kinds});
    let response = app.post_json("/api/v1/webhooks", Some(&admin), &body).await;
    assert_eq!(response.status().as_u16(), 201, "register");
    response.json().await.unwrap_or_default()
}

/// A dossier's life at commune A: received and accepted, completed, returned.
pub(crate) async fn a_life(app: &TestApp, fixture: &Fixture) -> String {
    let accepted = fixture
        .intake(app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    let (officer, _) = app.login("officer.a", PASSWORD).await;
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let done = json!({"outcome": "approved", "result_files": [], "electronic_result": false});
    assert_eq!(app.act(&officer, &id, "complete", done).await.0, 200);
    assert_eq!(
        app.act(&clerk, &id, "return", json!({"delivery": "desk"}))
            .await
            .0,
        200
    );
    id
}

async fn a_dossier_s_life_reaches_a_webhook_in_order_after_it_comes_back(mut app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let receiver = Receiver::start(3).await;
    let webhook = register(&app, &receiver.url, json!(["*"])).await;
    delivering(&mut app, 50).await;
    let id = a_life(&app, &fixture).await;

    receiver
        .until("three events delivered", |r| r.delivered().len() >= 3)
        .await;
    let delivered = receiver.delivered();
    let actions: Vec<&str> = delivered
        .iter()
        .filter_map(|r| r.body["action"].as_str())
        .collect();
    assert_eq!(actions, ["intake_accept", "complete", "return"]);
    assert!(
        delivered
            .iter()
            .all(|r| r.signed && r.body["dossier_id"] == id.as_str())
    );
    assert!(
        delivered
            .iter()
            .all(|r| r.body["event_id"] == r.event_id.as_str())
    );
    // The first three attempts failed: each was the first message's, tried
    // again with the same event id until it got through.
    let got = receiver.got();
    assert_eq!(got.iter().filter(|r| r.answered == 503).count(), 3);
    assert!(got[..3].iter().all(|r| r.event_id == delivered[0].event_id));
    let ids: std::collections::BTreeSet<&str> =
        delivered.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one delivery per event");

    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let listed: Value = app
        .get_as("/api/v1/webhooks", &admin)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(listed[0]["id"], webhook["id"]);
    assert!(listed[0].get("secret").is_none(), "{listed}");
    let messages = listed[0]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(messages.len(), 3, "{listed}");
    assert!(
        messages.iter().all(|m| m["state"] == "delivered"),
        "{listed}"
    );
    assert_eq!(
        messages.iter().filter_map(|m| m["attempts"].as_i64()).max(),
        Some(4),
        "{listed}"
    );

    let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
    for line in [
        "motcua_outbox_attempts_total{destination=\"webhook\",outcome=\"failed\"} 3",
        "motcua_outbox_attempts_total{destination=\"webhook\",outcome=\"delivered\"} 3",
        "motcua_outbox_pending 0",
        "motcua_outbox_stalled 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
}

async fn a_parked_message_is_replayed_and_delivered(mut app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let receiver = Receiver::start(0).await;
    receiver.down.store(true, Ordering::SeqCst);
    register(&app, &receiver.url, json!(["intake_accept"])).await;
    delivering(&mut app, 2).await;
    fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let parked = || async {
        let listed: Value = app
            .get_as("/api/v1/webhooks", &admin)
            .await
            .json()
            .await
            .unwrap_or_default();
        listed[0]["messages"][0].clone()
    };
    let becomes = |state: &'static str| {
        let parked = &parked;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while parked().await["state"] != state {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never {state}: {}",
                    parked().await
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    becomes("parked").await;
    let message = parked().await;
    assert_eq!(message["attempts"].as_i64(), Some(2), "{message}");
    assert_eq!(receiver.got().len(), 2);
    // The server stays ready while a destination is down; the metrics say
    // what waits.
    assert_eq!(app.get("/readyz").await.status().as_u16(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
    for line in [
        "motcua_outbox_parked 1",
        "motcua_outbox_attempts_total{destination=\"webhook\",outcome=\"parked\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }

    receiver.down.store(false, Ordering::SeqCst);
    // Replay names what it replays: no ids and no `all` is a mistake, as is
    // a misspelt field; nothing is replayed.
    for body in [
        json!({}),
        json!({"message_id": [message["id"]]}),
        json!({"message_ids": null}),
    ] {
        let answer = app
            .post_json("/api/v1/outbox/replay", Some(&admin), &body)
            .await;
        assert_eq!(answer.status().as_u16(), 422, "{body}");
    }
    assert_eq!(parked().await["state"], "parked");
    let replayed = app
        .post_json(
            "/api/v1/outbox/replay",
            Some(&admin),
            &json!({"message_ids": [message["id"]]}),
        )
        .await;
    let replayed: Value = replayed.json().await.unwrap_or_default();
    assert_eq!(replayed["replayed"].as_u64(), Some(1), "{replayed}");
    receiver
        .until("the replayed message", |r| r.delivered().len() == 1)
        .await;
    assert_eq!(
        receiver.delivered()[0].event_id,
        message["event_id"].as_str().unwrap_or_default()
    );
    // Its delivery is recorded (the third attempt of its life), once.
    becomes("delivered").await;
    assert_eq!(receiver.delivered().len(), 1);

    // A webhook removed hears of nothing more.
    let id = {
        let listed: Value = app
            .get_as("/api/v1/webhooks", &admin)
            .await
            .json()
            .await
            .unwrap_or_default();
        listed[0]["id"].as_str().unwrap_or_default().to_owned()
    };
    let path = format!("/api/v1/webhooks/{id}");
    let remove = || app.send(reqwest::Method::DELETE, &path, Some(&admin), None);
    assert_eq!(remove().await.status().as_u16(), 204);
    assert_eq!(remove().await.status().as_u16(), 404);
    let listed: Value = app
        .get_as("/api/v1/webhooks", &admin)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(listed, json!([]));
}

async fn two_servers_deliver_each_message_once(mut app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let receiver = Receiver::start(0).await;
    register(&app, &receiver.url, json!(["*"])).await;
    delivering(&mut app, 10).await;
    delivering(&mut app, 10).await;
    for _ in 0..5 {
        a_life(&app, &fixture).await;
    }
    receiver
        .until("fifteen deliveries", |r| r.delivered().len() >= 15)
        .await;
    // Each message was attempted once (recorded, whichever server made the
    // attempt) and delivered once.
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let listed: Value = app
        .get_as("/api/v1/webhooks", &admin)
        .await
        .json()
        .await
        .unwrap_or_default();
    let messages = listed[0]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(messages.len(), 15, "{listed}");
    assert!(
        messages
            .iter()
            .all(|m| m["state"] == "delivered" && m["attempts"] == 1),
        "{listed}"
    );
    let got = receiver.got();
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!((got.len(), ids.len()), (15, 15), "each message once");
}

async fn a_webhook_is_checked_before_it_is_stored_and_their_number_is_bounded(app: TestApp) {
    Fixture::build(&app).await;
    let (admin, _) = app.login("admin.a", PASSWORD).await;
    let (clerk, _) = app.login("clerk.a", PASSWORD).await;
    let good =
        json!({"url": "https://client.example/hook", "secret": SECRET, "kinds": ["complete"]});
    let post = |token: String, body: Value| {
        let app = &app;
        async move { app.post_json("/api/v1/webhooks", Some(&token), &body).await }
    };
    assert_eq!(post(clerk, good.clone()).await.status().as_u16(), 403);
    for (field, value) in [
        ("url", json!("ftp://client.example/hook")),
        ("url", json!("http://user:password@client.example/hook")),
        ("url", json!("http://")),
        ("secret", json!("short")),
        ("kinds", json!([])),
        ("kinds[1]", json!(["complete", "no_such_event"])),
    ] {
        let mut body = good.clone();
        let key = field.split('[').next().unwrap_or(field);
        body[key] = value;
        let refused =
            crate::helpers::problem(post(admin.clone(), body).await, 422, "validation_failed")
                .await;
        assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    }
    let listed: Value = app
        .get_as("/api/v1/webhooks", &admin)
        .await
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(listed, json!([]), "nothing stored");
    for _ in 0..motcua_api::routes::webhooks::MAX_WEBHOOKS {
        assert_eq!(
            post(admin.clone(), good.clone()).await.status().as_u16(),
            201
        );
    }
    crate::helpers::problem(post(admin.clone(), good).await, 409, "too_many_webhooks").await;
}

api_tests!(
    a_webhook_is_checked_before_it_is_stored_and_their_number_is_bounded,
    a_dossier_s_life_reaches_a_webhook_in_order_after_it_comes_back,
    a_parked_message_is_replayed_and_delivered,
    two_servers_deliver_each_message_once,
);
