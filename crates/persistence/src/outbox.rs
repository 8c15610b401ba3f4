//! The transactional outbox (issue #16; docs/integration.md): every
//! destination that must hear of a dossier's event gets a message in the
//! same transaction as the event ([`enqueue`], called by
//! `dossiers::append_event`), so an event is never stored without its
//! messages nor a message sent for an event that was rolled back. A
//! dispatcher then claims due messages ([`claim`]: `FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, so several server processes share the work without
//! claiming one attempt twice; SQLite has one writer), delivers them and
//! records each attempt ([`record`]). Delivery is at least once; each
//! message carries its event's id for receivers to deduplicate.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::{outbox, outbox_attempts, webhook_subscriptions};
use crate::sql_types::{DossierId, EventId, MessageId, UserId, WebhookId, to_db_time};

/// A webhook registered by an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// Where deliveries are posted.
    pub url: String,
    /// The secret deliveries are signed with.
    pub secret: String,
    /// The event kinds (actions) it hears of; `*`: every event.
    pub kinds: Vec<String>,
    /// When it was registered.
    pub created_at: NaiveDateTime,
}

impl Webhook {
    /// Whether it hears of events of `action`.
    pub fn hears(&self, action: &str) -> bool {
        self.kinds.iter().any(|kind| kind == "*" || kind == action)
    }
}

type WebhookColumns = (WebhookId, String, String, String, NaiveDateTime);

fn webhook_of((id, url, secret, kinds, created_at): WebhookColumns) -> Result<Webhook, DbError> {
    Ok(Webhook {
        id,
        url,
        secret,
        kinds: serde_json::from_str(&kinds).map_err(unreadable)?,
        created_at,
    })
}

/// A stored value that is not the JSON it should be: a row written by hand.
fn unreadable(error: serde_json::Error) -> DbError {
    DbError::Query(diesel::result::Error::DeserializationError(Box::new(error)))
}

/// Registers a webhook.
pub fn subscribe(
    conn: &mut DbConnection,
    url: &str,
    secret: &str,
    kinds: &[String],
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<Webhook, DbError> {
    let id = WebhookId::new();
    let listed = serde_json::to_string(kinds).map_err(unreadable)?;
    diesel::insert_into(webhook_subscriptions::table)
        .values((
            webhook_subscriptions::id.eq(id),
            webhook_subscriptions::url.eq(url),
            webhook_subscriptions::secret.eq(secret),
            webhook_subscriptions::kinds.eq(&listed),
            webhook_subscriptions::created_by.eq(by),
            webhook_subscriptions::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(Webhook {
        id,
        url: url.to_owned(),
        secret: secret.to_owned(),
        kinds: kinds.to_vec(),
        created_at: to_db_time(now),
    })
}

/// Removes a webhook with its messages and their attempts. Whether it existed.
pub fn unsubscribe(conn: &mut DbConnection, id: WebhookId) -> Result<bool, DbError> {
    conn.write(|conn| {
        let messages = outbox::table
            .filter(outbox::subscription_id.eq(id))
            .select(outbox::id);
        diesel::delete(outbox_attempts::table.filter(outbox_attempts::message_id.eq_any(messages)))
            .execute(conn)?;
        diesel::delete(outbox::table.filter(outbox::subscription_id.eq(id))).execute(conn)?;
        Ok(diesel::delete(webhook_subscriptions::table.find(id)).execute(conn)? > 0)
    })
}

/// Every webhook, oldest first.
pub fn webhooks(conn: &mut DbConnection) -> Result<Vec<Webhook>, DbError> {
    webhook_subscriptions::table
        .order(webhook_subscriptions::created_at)
        .select((
            webhook_subscriptions::id,
            webhook_subscriptions::url,
            webhook_subscriptions::secret,
            webhook_subscriptions::kinds,
            webhook_subscriptions::created_at,
        ))
        .load::<WebhookColumns>(conn)?
        .into_iter()
        .map(webhook_of)
        .collect()
}

/// A dossier event as its messages tell it.
#[derive(Debug, Clone)]
pub struct Told<'a> {
    /// The event's id: stable, for receivers to deduplicate.
    pub event_id: EventId,
    /// The dossier.
    pub dossier_id: DossierId,
    /// Its code.
    pub dossier_code: &'a str,
    /// The event's place in the dossier's history.
    pub seq: i32,
    /// What happened (the lifecycle action).
    pub action: &'a str,
    /// The state before (`null` for the first event).
    pub state_before: Option<&'a str>,
    /// The state after.
    pub state_after: &'a str,
    /// When.
    pub at: DateTime<Utc>,
}

/// Stores the messages of one event for every destination that hears of
/// it, inside the event's own write transaction.
pub fn enqueue(conn: &mut DbConnection, told: &Told<'_>) -> Result<usize, DbError> {
    let hearing: Vec<Webhook> = webhooks(conn)?
        .into_iter()
        .filter(|webhook| webhook.hears(told.action))
        .collect();
    if hearing.is_empty() {
        return Ok(0);
    }
    let payload = serde_json::json!({
        "event_id": told.event_id.to_string(),
        "dossier_id": told.dossier_id.to_string(),
        "dossier_code": told.dossier_code,
        "seq": told.seq,
        "action": told.action,
        "state_before": told.state_before,
        "state_after": told.state_after,
        "at": told.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
    .to_string();
    // Due at once (the event's instant, or now if a test's clock runs ahead).
    let now = to_db_time(told.at.min(Utc::now()));
    for webhook in &hearing {
        diesel::insert_into(outbox::table)
            .values((
                outbox::id.eq(MessageId::new()),
                outbox::event_id.eq(told.event_id),
                outbox::dossier_id.eq(told.dossier_id),
                outbox::seq.eq(told.seq),
                outbox::subscription_id.eq(Some(webhook.id)),
                outbox::payload.eq(&payload),
                outbox::state.eq(PENDING),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(now),
                outbox::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(hearing.len())
}

const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const PARKED: &str = "parked";

/// A message claimed for delivery, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The message.
    pub id: MessageId,
    /// Its event's id.
    pub event_id: EventId,
    /// What to post.
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
    /// The webhook's address.
    pub url: String,
    /// The webhook's secret.
    pub secret: String,
}

/// Claims up to `limit` due messages for `lease` (a message whose
/// deliverer dies is due again when the lease ends). A dossier's messages
/// to one destination are claimed one at a time and in their order: none
/// while an earlier one is pending. On PostgreSQL the rows are locked
/// `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers, in this process or
/// another, never claim the same attempt.
pub fn claim(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claimed>, DbError> {
    // Idle most of the time: a read finds that first, without taking
    // SQLite's write lock.
    let any_due: i64 = outbox::table
        .filter(outbox::state.eq(PENDING))
        .filter(outbox::next_attempt_at.le(to_db_time(now)))
        .count()
        .get_result(conn)?;
    if any_due == 0 {
        return Ok(Vec::new());
    }
    conn.write(|conn| {
        // The same SQL on both backends: no earlier message of the dossier
        // to the destination is still pending.
        let first_in_line = diesel::dsl::sql::<diesel::sql_types::Bool>(
            "NOT EXISTS (SELECT 1 FROM outbox AS earlier \
             WHERE earlier.dossier_id = outbox.dossier_id \
             AND earlier.subscription_id = outbox.subscription_id \
             AND earlier.state = 'pending' AND earlier.seq < outbox.seq)",
        );
        let due = outbox::table
            .filter(outbox::state.eq(PENDING))
            .filter(outbox::next_attempt_at.le(to_db_time(now)))
            .filter(first_in_line)
            .order((outbox::next_attempt_at, outbox::created_at))
            .limit(limit)
            .select(outbox::id);
        let ids: Vec<MessageId> = match conn {
            DbConnection::Postgres(pg) => due.for_update().skip_locked().load(pg)?,
            DbConnection::Sqlite(sqlite) => due.load(sqlite)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set(outbox::next_attempt_at.eq(to_db_time(now + lease)))
            .execute(conn)?;
        let rows: Vec<(MessageId, EventId, String, i32, String, String)> = outbox::table
            .inner_join(webhook_subscriptions::table)
            .filter(outbox::id.eq_any(&ids))
            .order((outbox::next_attempt_at, outbox::created_at))
            .select((
                outbox::id,
                outbox::event_id,
                outbox::payload,
                outbox::attempts,
                webhook_subscriptions::url,
                webhook_subscriptions::secret,
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(id, event_id, payload, attempts, url, secret)| Claimed {
                id,
                event_id,
                payload,
                attempts,
                url,
                secret,
            })
            .collect())
    })
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempted {
    /// The destination took it (a 2xx answer).
    Delivered,
    /// It did not: its HTTP status, if it answered, and why.
    Failed {
        /// The status it answered with.
        status: Option<i32>,
        /// What went wrong.
        error: String,
    },
}

/// Records an attempt of `message` at `at` (numbered after every attempt it
/// had, replays included): delivered, or failed and due again at
/// `retry_at`, or parked when `retry_at` is none.
pub fn record(
    conn: &mut DbConnection,
    message: &Claimed,
    at: DateTime<Utc>,
    attempted: &Attempted,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    conn.write(|conn| {
        // Numbered over the message's whole life: a replay counts its
        // attempts afresh for parking, not in the record.
        let last: Option<i32> = outbox_attempts::table
            .filter(outbox_attempts::message_id.eq(message.id))
            .select(diesel::dsl::max(outbox_attempts::n))
            .first(conn)?;
        let n = last.unwrap_or(0) + 1;
        let attempts = message.attempts + 1;
        let (delivered, status, error) = match attempted {
            Attempted::Delivered => (true, None, None),
            Attempted::Failed { status, error } => (false, *status, Some(error.as_str())),
        };
        diesel::insert_into(outbox_attempts::table)
            .values((
                outbox_attempts::message_id.eq(message.id),
                outbox_attempts::n.eq(n),
                outbox_attempts::at.eq(to_db_time(at)),
                outbox_attempts::delivered.eq(delivered),
                outbox_attempts::status.eq(status),
                outbox_attempts::error.eq(error),
            ))
            .execute(conn)?;
        let row = outbox::table.find(message.id);
        if delivered {
            diesel::update(row)
                .set((
                    outbox::state.eq(DELIVERED),
                    outbox::attempts.eq(attempts),
                    outbox::delivered_at.eq(Some(to_db_time(at))),
                    outbox::last_error.eq(None::<String>),
                ))
                .execute(conn)?;
        } else {
            let (state, next) = match retry_at {
                Some(next) => (PENDING, next),
                None => (PARKED, at),
            };
            diesel::update(row)
                .set((
                    outbox::state.eq(state),
                    outbox::attempts.eq(attempts),
                    outbox::next_attempt_at.eq(to_db_time(next)),
                    outbox::last_error.eq(error),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Puts parked messages back in line, due at `now` with their attempts
/// counted afresh (for parking; `outbox_attempts` keeps them all): those of
/// `ids` (ids of messages not parked are left as they are), or every
/// parked one. How many.
pub fn replay(
    conn: &mut DbConnection,
    ids: Option<&[MessageId]>,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let set = (
        outbox::state.eq(PENDING),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(to_db_time(now)),
    );
    let parked = outbox::table.filter(outbox::state.eq(PARKED));
    conn.write(|conn| {
        Ok(match ids {
            Some(ids) => diesel::update(parked.filter(outbox::id.eq_any(ids)))
                .set(set)
                .execute(conn)?,
            None => diesel::update(parked).set(set).execute(conn)?,
        })
    })
}

/// A message as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Its event's id.
    pub event_id: EventId,
    /// The dossier.
    pub dossier_id: DossierId,
    /// The event's place in the dossier's history.
    pub seq: i32,
    /// The webhook it goes to.
    pub subscription_id: Option<WebhookId>,
    /// What is posted.
    pub payload: String,
    /// `pending`, `delivered` or `parked`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// When it is due (again).
    pub next_attempt_at: NaiveDateTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was stored.
    pub created_at: NaiveDateTime,
    /// When it was delivered.
    pub delivered_at: Option<NaiveDateTime>,
}

/// The messages of a webhook, most recent first (at most `limit`).
pub fn messages(
    conn: &mut DbConnection,
    webhook: WebhookId,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    Ok(outbox::table
        .filter(outbox::subscription_id.eq(webhook))
        .order((outbox::created_at.desc(), outbox::seq.desc()))
        .limit(limit)
        .load(conn)?)
}

/// What the outbox holds now, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Messages waiting to be delivered.
    pub pending: i64,
    /// Messages parked after too many failures.
    pub parked: i64,
    /// When the oldest pending message was stored.
    pub oldest_pending: Option<NaiveDateTime>,
}

/// The outbox's backlog.
pub fn backlog(conn: &mut DbConnection) -> Result<Backlog, DbError> {
    let count = |conn: &mut DbConnection, state: &str| -> Result<i64, DbError> {
        Ok(outbox::table
            .filter(outbox::state.eq(state))
            .count()
            .get_result(conn)?)
    };
    Ok(Backlog {
        pending: count(conn, PENDING)?,
        parked: count(conn, PARKED)?,
        oldest_pending: outbox::table
            .filter(outbox::state.eq(PENDING))
            .select(diesel::dsl::min(outbox::created_at))
            .first(conn)?,
    })
}
