//! The outbox's dispatcher (issue #16; docs/integration.md): tasks in the
//! server process that claim due messages (`persistence::outbox::claim`),
//! deliver each to its destination — a webhook (signed like the payment
//! gateway's callbacks), the national portal's status sync, an e-mail or
//! SMS notice, a NATS JetStream subject — and record the attempt:
//! delivered when the destination took it, otherwise due again
//! after an exponential backoff with jitter, or parked after the configured
//! number of failures. Several processes on one PostgreSQL share the work
//! (`FOR UPDATE SKIP LOCKED`): no attempt is made twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use motcua_persistence::Db;
use motcua_persistence::outbox::{self, Attempted, Backlog, Claimed, Destination};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::task::JoinHandle;

use crate::notices::{self, Filled, Templates};
use crate::settings::{Destinations, Endpoint, OutboxSettings};

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

    fn attempted(&self, destination: Destination, attempted: &Attempted, parked: bool) {
        let outcome = match attempted {
            Attempted::Delivered => "delivered",
            Attempted::Failed { .. } if parked => "parked",
            Attempted::Failed { .. } => "failed",
        };
        self.attempts
            .with_label_values(&[destination.as_str(), outcome])
            .inc();
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

/// The subject a dossier event is published on to NATS:
/// `motcua.dossiers.<action>`, in the stream [`NATS_STREAM`].
pub fn nats_subject(action: &str) -> String {
    format!("motcua.dossiers.{action}")
}

/// The JetStream stream motcua publishes to (created if missing, with the
/// subjects `motcua.>`).
pub const NATS_STREAM: &str = "MOTCUA";

type Mailer = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

/// What delivers to each configured destination.
struct Deliverers {
    http: reqwest::Client,
    portal: Option<Endpoint>,
    email: Option<(Mailer, lettre::message::Mailbox)>,
    sms: Option<Endpoint>,
    /// The broker's address, and its JetStream once connected.
    nats: Option<(
        String,
        tokio::sync::OnceCell<async_nats::jetstream::Context>,
    )>,
    templates: Templates,
}

impl Deliverers {
    /// The destinations this process delivers to: webhooks, and those
    /// configured.
    fn destinations(&self) -> Vec<Destination> {
        let configured = [
            (self.portal.is_some(), Destination::Portal),
            (self.email.is_some(), Destination::Email),
            (self.sms.is_some(), Destination::Sms),
            (self.nats.is_some(), Destination::Nats),
        ];
        std::iter::once(Destination::Webhook)
            .chain(configured.into_iter().filter(|(on, _)| *on).map(|(_, d)| d))
            .collect()
    }
}

/// Why the dispatcher cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    /// The HTTP client could not be made.
    #[error("the outbox's HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The SMTP address or sender is not one lettre takes.
    #[error("{0}")]
    Smtp(String),
    /// A notice template is unusable.
    #[error(transparent)]
    Template(#[from] notices::TemplateError),
}

/// A dispatcher, checked and ready to start.
pub struct Dispatcher {
    deliverers: Arc<Deliverers>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("destinations", &self.deliverers.destinations())
            .finish()
    }
}

impl Dispatcher {
    /// Checks the destinations' configuration and the notice templates.
    pub fn new(destinations: &Destinations) -> Result<Self, DispatcherError> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let email = match &destinations.email {
            None => None,
            Some(smtp) => {
                let transport = Mailer::from_url(smtp.url.expose())
                    .map_err(|e| DispatcherError::Smtp(format!("MOTCUA_SMTP_URL: {e}")))?
                    .timeout(Some(DELIVERY_TIMEOUT))
                    .build();
                let from = smtp
                    .from
                    .parse()
                    .map_err(|e: lettre::address::AddressError| {
                        DispatcherError::Smtp(format!("MOTCUA_SMTP_FROM: {e}"))
                    })?;
                Some((transport, from))
            }
        };
        Ok(Dispatcher {
            deliverers: Arc::new(Deliverers {
                http,
                portal: destinations.portal.clone(),
                email,
                sms: destinations.sms.clone(),
                nats: destinations
                    .nats
                    .clone()
                    .map(|url| (url, tokio::sync::OnceCell::new())),
                templates: Templates::load(destinations.templates.as_deref())?,
            }),
        })
    }

    /// Starts its tasks (none when `settings.workers` is 0).
    pub fn spawn(
        &self,
        db: &Db,
        settings: OutboxSettings,
        metrics: &OutboxMetrics,
    ) -> Vec<JoinHandle<()>> {
        (0..settings.workers)
            .map(|_| {
                tokio::spawn(work(
                    db.clone(),
                    self.deliverers.clone(),
                    settings,
                    metrics.clone(),
                ))
            })
            .collect()
    }
}

/// One task: keeps up to [`BATCH`] deliveries in flight, claiming due
/// messages as slots free up (a destination that hangs holds its slots for
/// the delivery timeout, not the others'), and waits a poll interval when
/// nothing is due.
async fn work(
    db: Db,
    deliverers: Arc<Deliverers>,
    settings: OutboxSettings,
    metrics: OutboxMetrics,
) {
    let to = deliverers.destinations();
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let free = BATCH - i64::try_from(in_flight.len()).unwrap_or(BATCH);
        let claimed = if free > 0 {
            claim(&db, free, &to).await
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
            let (db, deliverers, metrics) = (db.clone(), deliverers.clone(), metrics.clone());
            in_flight.spawn(async move {
                attempt(&db, &deliverers, &settings, &metrics, message).await;
            });
        }
    }
}

/// Up to `limit` due messages, claimed (none when the claim fails: the
/// next poll tries again).
async fn claim(db: &Db, limit: i64, to: &[Destination]) -> Vec<Claimed> {
    let (claiming, to) = (db.clone(), to.to_vec());
    let claimed = tokio::task::spawn_blocking(move || {
        claiming.run(|conn| outbox::claim(conn, Utc::now(), LEASE, limit, &to))
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
    deliverers: &Deliverers,
    settings: &OutboxSettings,
    metrics: &OutboxMetrics,
    message: Claimed,
) {
    let attempted = match message.destination {
        Destination::Webhook => deliver(&deliverers.http, &message).await,
        Destination::Portal => sync_portal(deliverers, &message).await,
        Destination::Email => send_email(deliverers, &message).await,
        Destination::Sms => send_sms(deliverers, &message).await,
        Destination::Nats => publish(deliverers, &message).await,
    };
    let failures = u32::try_from(message.attempts + 1).unwrap_or(u32::MAX);
    let retry_at = (failures < settings.max_attempts).then(|| {
        let spread = f64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 255.0;
        let wait = backoff(settings.backoff, failures, spread);
        Utc::now() + chrono::TimeDelta::from_std(wait).unwrap_or(LEASE)
    });
    metrics.attempted(message.destination, &attempted, retry_at.is_none());
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
    answered(sent)
}

/// How an HTTP destination answered: delivered on a 2xx.
fn answered(sent: Result<reqwest::Response, reqwest::Error>) -> Attempted {
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

/// A failure that is not an HTTP answer.
fn failed(error: impl std::fmt::Display) -> Attempted {
    Attempted::Failed {
        status: None,
        error: error.to_string(),
    }
}

/// Posts the portal's status sync, with `Authorization: Bearer` and its
/// token where one is configured.
async fn sync_portal(deliverers: &Deliverers, message: &Claimed) -> Attempted {
    let Some(portal) = &deliverers.portal else {
        return failed("the portal is not configured in this process");
    };
    let mut request = deliverers
        .http
        .post(&portal.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, message.event_id.to_string())
        .body(message.payload.clone());
    if let Some(token) = &portal.token {
        request = request.bearer_auth(token.expose());
    }
    answered(request.send().await)
}

/// The notice a message holds, rendered for `channel`.
fn rendered(
    deliverers: &Deliverers,
    channel: notices::Channel,
    message: &Claimed,
) -> Result<(Filled, String, String), Attempted> {
    let filled: Filled = serde_json::from_str(&message.payload)
        .map_err(|error| failed(format!("unreadable notice: {error}")))?;
    let (subject, text) = deliverers
        .templates
        .render(channel, &filled)
        .ok_or_else(|| failed("no template"))?;
    Ok((filled, subject, text))
}

/// Sends an e-mail notice through the SMTP server. Its `Message-ID` is
/// made of the event's id: the same on every retry.
async fn send_email(deliverers: &Deliverers, message: &Claimed) -> Attempted {
    use lettre::AsyncTransport;
    let Some((transport, from)) = &deliverers.email else {
        return failed("e-mail is not configured in this process");
    };
    let (filled, subject, body) = match rendered(deliverers, notices::Channel::Email, message) {
        Ok(rendered) => rendered,
        Err(attempted) => return attempted,
    };
    let to = match filled.to.parse::<lettre::message::Mailbox>() {
        Ok(to) => to,
        Err(error) => return failed(format!("`{}`: {error}", filled.to)),
    };
    let email = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(format!(
            "<{}.{}@motcua>",
            message.event_id,
            filled.notice.as_str()
        )))
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body);
    match email {
        Ok(email) => match transport.send(email).await {
            Ok(_) => Attempted::Delivered,
            Err(error) => failed(error),
        },
        Err(error) => failed(error),
    }
}

/// Posts an SMS notice to the gateway as `{"id", "to", "text"}`: the number
/// in international form, `id` the same on every retry (for the gateway
/// to deduplicate).
async fn send_sms(deliverers: &Deliverers, message: &Claimed) -> Attempted {
    let Some(gateway) = &deliverers.sms else {
        return failed("SMS is not configured in this process");
    };
    let (filled, _, text) = match rendered(deliverers, notices::Channel::Sms, message) {
        Ok(rendered) => rendered,
        Err(attempted) => return attempted,
    };
    let to = filled
        .to
        .parse::<motcua_domain::contact::PhoneNumber>()
        .map_or(filled.to.clone(), |phone| phone.international());
    let body = serde_json::json!({
        "id": format!("{}.{}", message.event_id, filled.notice.as_str()),
        "to": to,
        "text": text,
    });
    let mut request = deliverers
        .http
        .post(&gateway.url)
        .header(EVENT_HEADER, message.event_id.to_string())
        .json(&body);
    if let Some(token) = &gateway.token {
        request = request.bearer_auth(token.expose());
    }
    answered(request.send().await)
}

/// Publishes the event to JetStream on [`nats_subject`] with `Nats-Msg-Id`
/// the event's id (JetStream drops a duplicate within its window):
/// delivered once the stream acknowledges it.
async fn publish(deliverers: &Deliverers, message: &Claimed) -> Attempted {
    let Some((url, connected)) = &deliverers.nats else {
        return failed("NATS is not configured in this process");
    };
    let context = connected
        .get_or_try_init(|| async {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(DELIVERY_TIMEOUT)
                .connect(url.as_str())
                .await
                .map_err(|e| format!("could not connect: {e}"))?;
            let context = async_nats::jetstream::new(client);
            context
                .get_or_create_stream(async_nats::jetstream::stream::Config {
                    name: NATS_STREAM.to_owned(),
                    subjects: vec!["motcua.>".to_owned()],
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("stream {NATS_STREAM}: {e}"))?;
            Ok::<_, String>(context)
        })
        .await;
    let context = match context {
        Ok(context) => context,
        Err(error) => return failed(error),
    };
    let action = serde_json::from_str::<serde_json::Value>(&message.payload)
        .ok()
        .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "event".to_owned());
    let mut headers = async_nats::HeaderMap::new();
    let event_id = message.event_id.to_string();
    headers.insert("Nats-Msg-Id", event_id.as_str());
    headers.insert(EVENT_HEADER, event_id.as_str());
    let published = tokio::time::timeout(DELIVERY_TIMEOUT, async {
        context
            .publish_with_headers(
                nats_subject(&action),
                headers,
                message.payload.clone().into(),
            )
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    match published {
        Ok(Ok(_)) => Attempted::Delivered,
        Ok(Err(error)) => failed(error),
        Err(_) => failed(format!(
            "no acknowledgement within {} s",
            DELIVERY_TIMEOUT.as_secs()
        )),
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
