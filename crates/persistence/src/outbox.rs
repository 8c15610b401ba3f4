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

use motcua_domain::dossier::{Particulars, PaymentMethod};
use motcua_domain::lifecycle::State;
use motcua_domain::portal::{Notice, StatusSync, SyncFacts, spoken_time};
use motcua_domain::procedure::Delivery;

use crate::db::DbConnection;
use crate::dossiers::DossierRow;
use crate::error::DbError;
use crate::schema::{
    agencies, dossiers, outbox, outbox_attempts, payments, procedures, webhook_subscriptions,
};
use crate::sql_types::{Closed, DossierId, EventId, MessageId, UserId, WebhookId, to_db_time};

/// Where a subscription's messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A webhook an administrator registered (any number of them).
    Webhook,
    /// The national public-service portal's status sync.
    Portal,
    /// E-mail notices to the applicant.
    Email,
    /// SMS notices to the applicant.
    Sms,
    /// A NATS JetStream broker.
    Nats,
}

impl Destination {
    /// Every destination.
    pub const ALL: [Destination; 5] = [
        Destination::Webhook,
        Destination::Portal,
        Destination::Email,
        Destination::Sms,
        Destination::Nats,
    ];

    /// Its name, as stored and in the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Webhook => "webhook",
            Destination::Portal => "portal",
            Destination::Email => "email",
            Destination::Sms => "sms",
            Destination::Nats => "nats",
        }
    }

    fn parse(name: &str) -> Result<Destination, DbError> {
        Destination::ALL
            .into_iter()
            .find(|d| d.as_str() == name)
            .ok_or_else(|| {
                DbError::Query(diesel::result::Error::DeserializationError(
                    format!("`{name}` is not an outbox destination").into(),
                ))
            })
    }
}

/// A subscription: a webhook registered by an administrator, or one of the
/// destinations the server's configuration names (one row each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// What it is.
    pub destination: Destination,
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

type WebhookColumns = (WebhookId, String, String, String, String, NaiveDateTime);

fn webhook_of(
    (id, destination, url, secret, kinds, created_at): WebhookColumns,
) -> Result<Webhook, DbError> {
    Ok(Webhook {
        id,
        destination: Destination::parse(&destination)?,
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
        destination: Destination::Webhook,
        url: url.to_owned(),
        secret: secret.to_owned(),
        kinds: kinds.to_vec(),
        created_at: to_db_time(now),
    })
}

/// Removes a webhook with its messages and their attempts. Whether it
/// existed (the configured destinations are not webhooks: they stay).
pub fn unsubscribe(conn: &mut DbConnection, id: WebhookId) -> Result<bool, DbError> {
    conn.write(|conn| {
        let webhook = webhook_subscriptions::table
            .find(id)
            .filter(webhook_subscriptions::destination.eq(Destination::Webhook.as_str()));
        if webhook.count().get_result::<i64>(conn)? == 0 {
            return Ok(false);
        }
        let messages = outbox::table
            .filter(outbox::subscription_id.eq(id))
            .select(outbox::id);
        diesel::delete(outbox_attempts::table.filter(outbox_attempts::message_id.eq_any(messages)))
            .execute(conn)?;
        diesel::delete(outbox::table.filter(outbox::subscription_id.eq(id))).execute(conn)?;
        Ok(diesel::delete(webhook_subscriptions::table.find(id)).execute(conn)? > 0)
    })
}

/// Keeps the row of a configured `destination` (not a webhook) as this
/// server's configuration has it: hearing `kinds` at `address` (where it
/// is shown, never a credential); unconfigured (`kinds` empty), hearing
/// nothing, its messages kept for the reconciliation and for replays. Run
/// at start; servers starting together agree (the later one's update wins).
pub fn configure(
    conn: &mut DbConnection,
    destination: Destination,
    address: &str,
    kinds: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let listed = serde_json::to_string(kinds).map_err(unreadable)?;
    let row = webhook_subscriptions::table
        .filter(webhook_subscriptions::destination.eq(destination.as_str()));
    let attempt = |conn: &mut DbConnection| {
        conn.write(|conn| {
            let updated = diesel::update(row)
                .set((
                    webhook_subscriptions::url.eq(address),
                    webhook_subscriptions::kinds.eq(&listed),
                ))
                .execute(conn)?;
            if updated == 0 && !kinds.is_empty() {
                diesel::insert_into(webhook_subscriptions::table)
                    .values((
                        webhook_subscriptions::id.eq(WebhookId::new()),
                        webhook_subscriptions::destination.eq(destination.as_str()),
                        webhook_subscriptions::url.eq(address),
                        webhook_subscriptions::secret.eq(""),
                        webhook_subscriptions::kinds.eq(&listed),
                        webhook_subscriptions::created_at.eq(to_db_time(now)),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, DbError>(())
        })
    };
    match attempt(conn) {
        // Another server inserted it meanwhile: update that one.
        Err(DbError::Conflict(_)) => attempt(conn),
        done => done,
    }
}

/// Every webhook registered by administrators, oldest first.
pub fn webhooks(conn: &mut DbConnection) -> Result<Vec<Webhook>, DbError> {
    Ok(subscriptions(conn)?
        .into_iter()
        .filter(|s| s.destination == Destination::Webhook)
        .collect())
}

/// Every subscription, oldest first: the webhooks and the configured
/// destinations.
pub fn subscriptions(conn: &mut DbConnection) -> Result<Vec<Webhook>, DbError> {
    webhook_subscriptions::table
        .order(webhook_subscriptions::created_at)
        .select((
            webhook_subscriptions::id,
            webhook_subscriptions::destination,
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
    /// What the event says (its JSON payload).
    pub payload: &'a str,
}

/// Stores the messages of one event for every destination that hears of
/// it, inside the event's own write transaction: webhooks and the broker
/// get the event; the portal its status sync, when what it knows of the
/// dossier changed; e-mail and SMS the applicant's notice, when the event
/// tells them something and they can and may be told.
pub fn enqueue(conn: &mut DbConnection, told: &Told<'_>) -> Result<usize, DbError> {
    let hearing: Vec<Webhook> = subscriptions(conn)?
        .into_iter()
        .filter(|subscription| subscription.hears(told.action))
        .collect();
    if hearing.is_empty() {
        return Ok(0);
    }
    let event = serde_json::json!({
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
    let mut facts = None;
    let mut stored = 0;
    for subscription in &hearing {
        let payload = match subscription.destination {
            Destination::Webhook | Destination::Nats => Some(event.clone()),
            Destination::Portal => {
                let facts = told_facts(conn, told, &mut facts)?;
                portal_sync(conn, told, subscription.id, facts)?
            }
            Destination::Email | Destination::Sms => {
                let facts = told_facts(conn, told, &mut facts)?;
                notice(told, subscription.destination, facts)?
            }
        };
        let Some(payload) = payload else { continue };
        diesel::insert_into(outbox::table)
            .values((
                outbox::id.eq(MessageId::new()),
                outbox::event_id.eq(told.event_id),
                outbox::dossier_id.eq(told.dossier_id),
                outbox::seq.eq(told.seq),
                outbox::subscription_id.eq(Some(subscription.id)),
                outbox::payload.eq(&payload),
                outbox::state.eq(PENDING),
                outbox::attempts.eq(0),
                outbox::next_attempt_at.eq(now),
                outbox::created_at.eq(now),
            ))
            .execute(conn)?;
        stored += 1;
    }
    Ok(stored)
}

/// What the portal and the notices are built from: the dossier as the
/// event left it, its procedure and agencies.
struct Facts {
    dossier: DossierRow,
    procedure_code: String,
    procedure_name: String,
    receiving: String,
    resolving: Option<String>,
    /// None when the stored record cannot be read: no notice then, but the
    /// event itself and its other messages are not held up.
    particulars: Option<Particulars>,
    paid_online: bool,
}

/// The event's [`Facts`], read once for all its destinations.
fn told_facts<'f>(
    conn: &mut DbConnection,
    told: &Told<'_>,
    facts: &'f mut Option<Facts>,
) -> Result<&'f Facts, DbError> {
    if let Some(facts) = facts {
        return Ok(facts);
    }
    let dossier: DossierRow = dossiers::table.find(told.dossier_id).first(conn)?;
    let (procedure_code, procedure_name): (String, String) = procedures::table
        .find(dossier.procedure_id)
        .select((procedures::code, procedures::name))
        .first(conn)?;
    let identifier = |conn: &mut DbConnection, id| -> Result<String, DbError> {
        Ok(agencies::table
            .find(id)
            .select(agencies::identifier)
            .first(conn)?)
    };
    let receiving = identifier(conn, dossier.receiving_agency_id)?;
    let resolving = match dossier.resolving_agency_id {
        Some(id) if id != dossier.receiving_agency_id => Some(identifier(conn, id)?),
        _ => None,
    };
    let paid_online = payments::table
        .filter(payments::dossier_id.eq(told.dossier_id))
        .filter(payments::method.eq(Closed(PaymentMethod::Online)))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    let particulars = serde_json::from_str(&dossier.details).ok();
    Ok(facts.insert(Facts {
        dossier,
        procedure_code,
        procedure_name,
        receiving,
        resolving,
        particulars,
        paid_online,
    }))
}

/// The portal's status sync after the event, unless the portal has no code
/// for the state or its last message already says the same.
fn portal_sync(
    conn: &mut DbConnection,
    told: &Told<'_>,
    subscription: WebhookId,
    facts: &Facts,
) -> Result<Option<String>, DbError> {
    let utc = |at: Option<NaiveDateTime>| at.map(|at| at.and_utc());
    let dossier = &facts.dossier;
    let Some(sync) = StatusSync::of(
        dossier.state,
        SyncFacts {
            dossier_code: told.dossier_code.to_owned(),
            procedure_code: facts.procedure_code.clone(),
            receiving_agency: facts.receiving.clone(),
            resolving_agency: facts.resolving.clone(),
            received_at: utc(dossier.received_at),
            appointment_at: utc(dossier.due_at),
            finished_at: utc(dossier.finished_at),
            channel: dossier.channel,
            paid_online: facts.paid_online,
            electronic_result: dossier.result_delivery == Delivery::Online,
        },
    ) else {
        return Ok(None);
    };
    let payload = serde_json::to_string(&sync).map_err(unreadable)?;
    let last: Option<String> = outbox::table
        .filter(outbox::dossier_id.eq(told.dossier_id))
        .filter(outbox::subscription_id.eq(subscription))
        .order(outbox::seq.desc())
        .select(outbox::payload)
        .first(conn)
        .optional()?;
    Ok((last.as_deref() != Some(payload.as_str())).then_some(payload))
}

/// The applicant's notice of the event by `destination` (e-mail or SMS):
/// what the templates are filled with. None when the event tells them
/// nothing, they asked for no messages, or there is no address to use.
fn notice(
    told: &Told<'_>,
    destination: Destination,
    facts: &Facts,
) -> Result<Option<String>, DbError> {
    let state = facts.dossier.state;
    let Some(notice) = Notice::of(told.action, state) else {
        return Ok(None);
    };
    let Some(applicant) = facts
        .particulars
        .as_ref()
        .and_then(|p| p.applicant.as_ref())
    else {
        return Ok(None);
    };
    let to = match destination {
        Destination::Email => applicant.email.clone(),
        _ => Some(applicant.phone.clone()).filter(|phone| !phone.is_empty()),
    };
    let Some(to) = to.filter(|_| !applicant.no_messages) else {
        return Ok(None);
    };
    // What the event says: the reason of a request or refusal, the fee.
    let said: serde_json::Value = serde_json::from_str(told.payload).unwrap_or_default();
    let reason = said
        .get("reason")
        .or_else(|| said.get("decision").and_then(|d| d.get("reason")))
        .and_then(serde_json::Value::as_str);
    // An apology names the new appointment; otherwise it is the due time.
    let apology = said
        .get("new_appointment_at")
        .and_then(serde_json::Value::as_str)
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc));
    let appointment = apology
        .or(facts.dossier.due_at.map(|at| at.and_utc()))
        .map(spoken_time);
    Ok(Some(
        serde_json::json!({
            "notice": notice.as_str(),
            "to": to,
            "applicant_name": applicant.full_name,
            "dossier_code": told.dossier_code,
            "procedure_name": facts.procedure_name,
            "appointment": appointment,
            "reason": reason,
            "amount": said.get("amount").and_then(serde_json::Value::as_i64),
        })
        .to_string(),
    ))
}

const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const PARKED: &str = "parked";
/// A status sync the portal no longer needs: a later one of its dossier
/// was delivered (sending it now would put the portal back in the past).
const SUPERSEDED: &str = "superseded";

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
    /// What it goes to.
    pub destination: Destination,
    /// The webhook's address (the configured destinations': where shown).
    pub url: String,
    /// The webhook's secret.
    pub secret: String,
}

/// Claims up to `limit` due messages to the destinations `to` (those this
/// process can deliver to) for `lease` (a message whose
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
    to: &[Destination],
) -> Result<Vec<Claimed>, DbError> {
    let names: Vec<&str> = to.iter().map(|d| d.as_str()).collect();
    let deliverable = || {
        outbox::subscription_id.eq_any(
            webhook_subscriptions::table
                .filter(webhook_subscriptions::destination.eq_any(names.clone()))
                .select(webhook_subscriptions::id.nullable()),
        )
    };
    // Idle most of the time: a read finds that first, without taking
    // SQLite's write lock.
    let any_due: i64 = outbox::table
        .filter(deliverable())
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
            .filter(deliverable())
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
        let rows: Vec<(MessageId, EventId, String, i32, String, String, String)> = outbox::table
            .inner_join(webhook_subscriptions::table)
            .filter(outbox::id.eq_any(&ids))
            .order((outbox::next_attempt_at, outbox::created_at))
            .select((
                outbox::id,
                outbox::event_id,
                outbox::payload,
                outbox::attempts,
                webhook_subscriptions::destination,
                webhook_subscriptions::url,
                webhook_subscriptions::secret,
            ))
            .load(conn)?;
        rows.into_iter()
            .map(
                |(id, event_id, payload, attempts, destination, url, secret)| {
                    Ok(Claimed {
                        id,
                        event_id,
                        payload,
                        attempts,
                        destination: Destination::parse(&destination)?,
                        url,
                        secret,
                    })
                },
            )
            .collect()
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
            // The portal holds one status per dossier: the earlier syncs
            // still parked or waiting would only take it back.
            if message.destination == Destination::Portal {
                let (dossier, seq, subscription): (DossierId, i32, Option<WebhookId>) = row
                    .select((outbox::dossier_id, outbox::seq, outbox::subscription_id))
                    .first(conn)?;
                diesel::update(
                    outbox::table
                        .filter(outbox::dossier_id.eq(dossier))
                        .filter(outbox::subscription_id.eq(subscription))
                        .filter(outbox::seq.lt(seq))
                        .filter(outbox::state.eq_any([PARKED, PENDING])),
                )
                .set(outbox::state.eq(SUPERSEDED))
                .execute(conn)?;
            }
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
    /// `pending`, `delivered`, `parked` or `superseded` (a status sync
    /// overtaken by a later one of its dossier, never sent).
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

/// How one dossier stands with the national portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLine {
    /// The dossier.
    pub dossier_id: DossierId,
    /// Its code.
    pub dossier_code: String,
    /// Its state here.
    pub state: State,
    /// The last status sync the portal acknowledged (a 2xx answer), with when.
    pub acknowledged: Option<(StatusSync, NaiveDateTime)>,
    /// Its status syncs still waiting for delivery.
    pub waiting: i64,
    /// Its status syncs parked after too many failures.
    pub parked: i64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

impl SyncLine {
    /// Whether the portal shows what this system does: it acknowledged the
    /// state's status code and nothing waits. A dossier in a state the
    /// portal has no code for is in step once the rest is.
    pub fn in_step(&self) -> bool {
        let acknowledged = self.acknowledged.as_ref().map(|(sync, _)| sync.status);
        self.waiting == 0
            && self.parked == 0
            && (self.state.portal_code().is_none() || acknowledged == self.state.portal_code())
    }
}

/// How each dossier received at an agency whose path starts with `path`
/// stands with the portal, in code order.
pub fn portal_sync_lines(conn: &mut DbConnection, path: &str) -> Result<Vec<SyncLine>, DbError> {
    let reached = || {
        dossiers::table
            .inner_join(agencies::table.on(agencies::id.eq(dossiers::receiving_agency_id)))
            .filter(agencies::path.like(format!("{path}%")))
    };
    let rows: Vec<(DossierId, String, State)> = reached()
        .order(dossiers::code)
        .select((dossiers::id, dossiers::code, dossiers::state))
        .load(conn)?;
    let portal: Option<WebhookId> = webhook_subscriptions::table
        .filter(webhook_subscriptions::destination.eq(Destination::Portal.as_str()))
        .select(webhook_subscriptions::id)
        .first(conn)
        .optional()?;
    let mut lines: Vec<SyncLine> = rows
        .into_iter()
        .map(|(dossier_id, dossier_code, state)| SyncLine {
            dossier_id,
            dossier_code,
            state,
            acknowledged: None,
            waiting: 0,
            parked: 0,
            last_error: None,
        })
        .collect();
    let Some(portal) = portal else {
        return Ok(lines);
    };
    type Sent = (
        DossierId,
        i32,
        String,
        String,
        Option<NaiveDateTime>,
        Option<String>,
    );
    let sent: Vec<Sent> = outbox::table
        .filter(outbox::subscription_id.eq(portal))
        .filter(outbox::dossier_id.eq_any(reached().select(dossiers::id)))
        .order((outbox::dossier_id, outbox::seq))
        .select((
            outbox::dossier_id,
            outbox::seq,
            outbox::state,
            outbox::payload,
            outbox::delivered_at,
            outbox::last_error,
        ))
        .load(conn)?;
    let mut by_dossier: std::collections::HashMap<DossierId, Vec<Sent>> =
        std::collections::HashMap::new();
    for message in sent {
        by_dossier.entry(message.0).or_default().push(message);
    }
    for line in &mut lines {
        // What the portal shows is the sync it acknowledged last, whatever
        // its place in the history.
        for (_, _, state, payload, delivered_at, error) in
            by_dossier.remove(&line.dossier_id).unwrap_or_default()
        {
            match (state.as_str(), delivered_at) {
                (DELIVERED, Some(at))
                    if line
                        .acknowledged
                        .as_ref()
                        .is_none_or(|(_, last)| at >= *last) =>
                {
                    let sync = serde_json::from_str(&payload).map_err(unreadable)?;
                    line.acknowledged = Some((sync, at));
                }
                (PARKED, _) => line.parked += 1,
                (PENDING, _) => line.waiting += 1,
                _ => {}
            }
            if error.is_some() {
                line.last_error = error;
            }
        }
    }
    Ok(lines)
}
