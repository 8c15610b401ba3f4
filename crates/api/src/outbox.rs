//! The outbox's dispatcher (issue #16; docs/integration.md): tasks in the
//! server process that claim due messages (`persistence::outbox::claim`),
//! post each to its webhook signed like the payment gateway's callbacks,
//! and record the attempt: delivered on a 2xx answer, otherwise due again
//! after an exponential backoff with jitter, or parked after the configured
//! number of failures. Several processes on one PostgreSQL share the work
//! (`FOR UPDATE SKIP LOCKED`): no attempt is made twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use motcua_persistence::Db;
use motcua_persistence::outbox::{self, Attempted, Backlog, Claimed};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::task::JoinHandle;

use crate::settings::OutboxSettings;

/// The header naming the event a delivery tells of (the same on every
/// retry: receivers deduplicate on it).
pub const EVENT_HEADER: &str = "X-Motcua-Event-Id";
/// The header with the delivery's Unix time, which the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Motcua-Timestamp";
/// The header with the hex HMAC-SHA256 of `<timestamp>\n<body>` under the
/// webhook's secret.
pub const SIGNATURE_HEADER: &str = "X-Motcua-Signature";

/// How long a claimed message stays with its deliverer before another may
/// try it: well beyond a delivery's timeout (each claimed message is
/// attempted at once), so that no attempt is made twice; and what a message claimed by a
/// process that died waits before it is tried again.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);
/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Deliveries one task has in flight at most.
const BATCH: i64 = 8;

/// The outbox's metrics on `/metrics`: attempts by destination and outcome
/// (this process's), and the backlog (the database's, read at each scrape).
#[derive(Debug, Clone)]
pub struct OutboxMetrics {
    attempts: IntCounterVec,
    pending: IntGauge,
    parked: IntGauge,
    oldest_pending: IntGauge,
    stalled: IntGauge,
    alert_after: Duration,
}

impl OutboxMetrics {
    /// Registers the metrics in `registry`; `alert_after` is how old the
    /// oldest pending message may grow before `motcua_outbox_stalled` is 1.
    pub fn register(registry: &Registry, alert_after: Duration) -> Result<Self, prometheus::Error> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "motcua_outbox_attempts_total",
                "Delivery attempts by this process, by destination and outcome (delivered, failed, parked).",
            ),
            &["destination", "outcome"],
        )?;
        let gauge = |name: &str, help: &str| IntGauge::new(name, help);
        let metrics = OutboxMetrics {
            attempts,
            pending: gauge("motcua_outbox_pending", "Messages waiting to be delivered.")?,
            parked: gauge(
                "motcua_outbox_parked",
                "Messages parked after too many failed attempts.",
            )?,
            oldest_pending: gauge(
                "motcua_outbox_oldest_pending_seconds",
                "Age of the oldest message waiting to be delivered (0: none).",
            )?,
            stalled: gauge(
                "motcua_outbox_stalled",
                "1 when the oldest waiting message is older than MOTCUA_OUTBOX_ALERT_SECS: alert.",
            )?,
            alert_after,
        };
        registry.register(Box::new(metrics.attempts.clone()))?;
        for gauge in [
            &metrics.pending,
            &metrics.parked,
            &metrics.oldest_pending,
            &metrics.stalled,
        ] {
            registry.register(Box::new(gauge.clone()))?;
        }
        Ok(metrics)
    }

    /// Sets the backlog gauges as of `now`.
    pub fn observe(&self, backlog: &Backlog, now: DateTime<Utc>) {
        self.pending.set(backlog.pending);
        self.parked.set(backlog.parked);
        let age = backlog
            .oldest_pending
            .map_or(0, |at| (now - at.and_utc()).num_seconds().max(0));
        self.oldest_pending.set(age);
        let limit = i64::try_from(self.alert_after.as_secs()).unwrap_or(i64::MAX);
        self.stalled.set(i64::from(age > limit));
    }

    fn attempted(&self, attempted: &Attempted, parked: bool) {
        let outcome = match attempted {
            Attempted::Delivered => "delivered",
            Attempted::Failed { .. } if parked => "parked",
            Attempted::Failed { .. } => "failed",
        };
        self.attempts.with_label_values(&["webhook", outcome]).inc();
    }
}

/// The signature of a delivery: hex HMAC-SHA256 of `<timestamp>\n<body>`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{timestamp}\n{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The wait before the next attempt after `failures` failed ones: the
/// configured first delay doubled for each further failure, at most an
/// hour, then moved by up to a quarter either way (`spread`, from 0 to 1),
/// so that messages that failed together do not all come back at once.
pub fn backoff(first: Duration, failures: u32, spread: f64) -> Duration {
    let doubled = first.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
    doubled
        .min(MAX_BACKOFF)
        .mul_f64(0.75 + spread.clamp(0.0, 1.0) / 2.0)
}

/// Starts the dispatcher's tasks (none when `settings.workers` is 0).
pub fn spawn(db: Db, settings: OutboxSettings, metrics: OutboxMetrics) -> Vec<JoinHandle<()>> {
    let client = match reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the outbox cannot make an HTTP client: nothing is delivered");
            return Vec::new();
        }
    };
    (0..settings.workers)
        .map(|_| tokio::spawn(work(db.clone(), client.clone(), settings, metrics.clone())))
        .collect()
}

/// One task: keeps up to [`BATCH`] deliveries in flight, claiming due
/// messages as slots free up (a destination that hangs holds its slots for
/// the delivery timeout, not the others'), and waits a poll interval when
/// nothing is due.
async fn work(db: Db, client: reqwest::Client, settings: OutboxSettings, metrics: OutboxMetrics) {
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let free = BATCH - i64::try_from(in_flight.len()).unwrap_or(BATCH);
        let claimed = if free > 0 {
            claim(&db, free).await
        } else {
            Vec::new()
        };
        if claimed.is_empty() {
            // Something to wait for: a delivery to finish, or the poll.
            tokio::select! {
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(settings.poll) => {}
            }
            continue;
        }
        for message in claimed {
            let (db, client, metrics) = (db.clone(), client.clone(), metrics.clone());
            in_flight
                .spawn(async move { attempt(&db, &client, &settings, &metrics, message).await });
        }
    }
}

/// Up to `limit` due messages, claimed (none when the claim fails: the
/// next poll tries again).
async fn claim(db: &Db, limit: i64) -> Vec<Claimed> {
    let claiming = db.clone();
    let claimed = tokio::task::spawn_blocking(move || {
        claiming.run(|conn| outbox::claim(conn, Utc::now(), LEASE, limit))
    })
    .await;
    match claimed {
        Ok(Ok(claimed)) => claimed,
        Ok(Err(error)) => {
            tracing::warn!(%error, "the outbox could not claim messages");
            Vec::new()
        }
        Err(error) => {
            tracing::error!(%error, "the outbox's claim panicked");
            Vec::new()
        }
    }
}

/// Delivers one claimed message and records how it went.
async fn attempt(
    db: &Db,
    client: &reqwest::Client,
    settings: &OutboxSettings,
    metrics: &OutboxMetrics,
    message: Claimed,
) {
    let attempted = deliver(client, &message).await;
    let failures = u32::try_from(message.attempts + 1).unwrap_or(u32::MAX);
    let retry_at = (failures < settings.max_attempts).then(|| {
        let spread = f64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 255.0;
        let wait = backoff(settings.backoff, failures, spread);
        Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or(LEASE)
    });
    metrics.attempted(&attempted, retry_at.is_none());
    let recording = db.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        recording.run(|conn| outbox::record(conn, &message, Utc::now(), &attempted, retry_at))
    })
    .await;
    // Unrecorded, the lease runs out and the message is tried again: at
    // least once, never lost.
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "the outbox could not record a delivery attempt");
        }
        Err(error) => tracing::error!(%error, "recording a delivery attempt panicked"),
    }
}

/// Posts one message to its webhook.
async fn deliver(client: &reqwest::Client, message: &Claimed) -> Attempted {
    let timestamp = Utc::now().timestamp();
    let sent = client
        .post(&message.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, message.event_id.to_string())
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(
            SIGNATURE_HEADER,
            signature(&message.secret, timestamp, &message.payload),
        )
        .body(message.payload.clone())
        .send()
        .await;
    match sent {
        Ok(answer) if answer.status().is_success() => Attempted::Delivered,
        Ok(answer) => Attempted::Failed {
            status: Some(i32::from(answer.status().as_u16())),
            error: format!("answered {}", answer.status()),
        },
        Err(error) => Attempted::Failed {
            status: None,
            error: if error.is_timeout() {
                format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())
            } else if error.is_connect() {
                "could not connect".to_owned()
            } else {
                error.to_string()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_an_hour_give_or_take_a_quarter() {
        let first = Duration::from_secs(2);
        assert_eq!(backoff(first, 1, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(first, 3, 0.5), Duration::from_secs(8));
        assert_eq!(backoff(first, 30, 0.5), MAX_BACKOFF);
        assert_eq!(backoff(first, 1, 0.0), Duration::from_millis(1500));
        assert_eq!(backoff(first, 1, 1.0), Duration::from_millis(2500));
    }

    #[test]
    fn the_signature_covers_the_timestamp_and_the_body() {
        let signed = signature("s3cret", 1_700_000_000, "{}");
        assert_eq!(signed.len(), 64);
        assert_ne!(signed, signature("s3cret", 1_700_000_001, "{}"));
        assert_ne!(signed, signature("s3cret", 1_700_000_000, "{ }"));
        assert_ne!(signed, signature("other", 1_700_000_000, "{}"));
    }
}
