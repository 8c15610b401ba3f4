//! Webhooks for portal clients and the outbox that feeds them
//! (administrators; docs/integration.md).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use motcua_domain::dossier::Event;
use motcua_persistence::outbox::{self, Destination, Message, Webhook};
use motcua_persistence::{Db, MessageId, WebhookId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::Body;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::Capability;
use crate::validate::Fields;

/// A webhook to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where deliveries are posted: an http or https address, at most 2,000
    /// characters.
    pub url: String,
    /// The secret deliveries are signed with: 16 to 200 characters.
    pub secret: String,
    /// The event kinds to hear of (names of history events), or `*` for
    /// every event; 1 to 30.
    #[schema(value_type = Vec<EventKind>)]
    pub kinds: Vec<String>,
}

/// An event kind a webhook may hear of: the name of a history event, or
/// `*` for every event (the list is the domain's: `Event::kinds`).
#[derive(Debug)]
pub struct EventKind;

impl utoipa::PartialSchema for EventKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut kinds = vec!["*"];
        kinds.extend(Event::kinds());
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(kinds))
            .into()
    }
}

impl utoipa::ToSchema for EventKind {}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting for its (next) attempt.
    Pending,
    /// A destination took it.
    Delivered,
    /// Parked after too many failed attempts, until replayed.
    Parked,
    /// A status sync overtaken by a later one of its dossier that the
    /// portal acknowledged: never sent, never replayed.
    Superseded,
}

/// One message of a webhook, as its last attempt left it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    /// The message.
    pub id: String,
    /// The event it tells of (the `X-Motcua-Event-Id` of every attempt).
    pub event_id: String,
    /// The dossier.
    pub dossier_id: String,
    /// Where it stands.
    pub state: MessageState,
    /// Attempts made.
    pub attempts: i32,
    /// When it is due (again), while pending.
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<Message> for MessageView {
    fn from(message: Message) -> Self {
        MessageView {
            id: message.id.to_string(),
            event_id: message.event_id.to_string(),
            dossier_id: message.dossier_id.to_string(),
            state: match message.state.as_str() {
                "delivered" => MessageState::Delivered,
                "parked" => MessageState::Parked,
                "superseded" => MessageState::Superseded,
                _ => MessageState::Pending,
            },
            attempts: message.attempts,
            next_attempt_at: message.next_attempt_at.and_utc(),
            last_error: message.last_error,
            delivered_at: message.delivered_at.map(|at| at.and_utc()),
        }
    }
}

/// A registered webhook (its secret is not shown again) and its latest
/// messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Its id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The event kinds it hears of.
    pub kinds: Vec<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Its 20 latest messages, newest first.
    pub messages: Vec<MessageView>,
}

fn view(webhook: Webhook, messages: Vec<Message>) -> WebhookView {
    WebhookView {
        id: webhook.id.to_string(),
        url: webhook.url,
        kinds: webhook.kinds,
        created_at: webhook.created_at.and_utc(),
        messages: messages.into_iter().map(MessageView::from).collect(),
    }
}

/// The most webhooks registered at once.
pub const MAX_WEBHOOKS: usize = 50;

/// Register a webhook (administrators): every event of the kinds named,
/// from now on, is posted to it with `X-Motcua-Event-Id`,
/// `X-Motcua-Timestamp` and `X-Motcua-Signature` (hex HMAC-SHA256 of
/// `<timestamp>\n<body>` under its secret), retried until it answers 2xx.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered", body = WebhookView),
        (status = 409, description = "50 webhooks are registered already (`too_many_webhooks`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid address, secret or kinds", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
pub async fn register_webhook(
    principal: Principal,
    db: web::Data<Db>,
    body: Body<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    let new = body.value;
    let mut fields = Fields::default();
    let url = new.url.trim().to_owned();
    let parsed = reqwest::Url::parse(&url).ok().filter(|u| {
        ["http", "https"].contains(&u.scheme())
            && u.host_str().is_some_and(|h| !h.is_empty())
            && u.username().is_empty()
            && u.password().is_none()
    });
    if parsed.is_none() || url.len() > 2000 || url.chars().any(char::is_control) {
        fields.error(
            "url",
            "must be an http or https address with a host and no credentials, of at most 2,000 characters",
        );
    }
    let secret_length = new.secret.chars().count();
    if !(16..=200).contains(&secret_length) {
        fields.error("secret", "must be 16 to 200 characters");
    } else if new.secret.chars().any(char::is_control) {
        fields.error("secret", "must not contain control characters");
    } else if new.secret.chars().all(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '\u{200b}'..='\u{200d}' | '\u{feff}')
    }) {
        fields.error("secret", "must not be blank");
    }
    if new.kinds.is_empty() || new.kinds.len() > 30 {
        fields.error("kinds", "name 1 to 30 event kinds");
    } else {
        for (i, kind) in new.kinds.iter().enumerate() {
            if kind != "*" && !Event::kinds().any(|k| k == kind) {
                fields.error(&format!("kinds[{i}]"), "is not an event kind");
            }
        }
    }
    fields.finish()?;
    // Each kind once; `*` covers the others.
    let mut kinds = new.kinds.clone();
    kinds.sort();
    kinds.dedup();
    if kinds.iter().any(|k| k == "*") {
        kinds = vec!["*".to_owned()];
    }
    let by = principal.user_id;
    let db = db.get_ref().clone();
    let webhook = web::block(move || {
        db.write(|conn| {
            // Every event writes a message per webhook in its own
            // transaction: their number is bounded.
            if outbox::webhooks(conn)?.len() >= MAX_WEBHOOKS {
                return Err(ApiError::Conflict {
                    code: "too_many_webhooks",
                    detail: format!("at most {MAX_WEBHOOKS} webhooks are registered"),
                });
            }
            Ok(outbox::subscribe(
                conn,
                &url,
                &new.secret,
                &kinds,
                Some(by),
                Utc::now(),
            )?)
        })
    })
    .await??;
    Ok(HttpResponse::Created().json(view(webhook, Vec::new())))
}

/// The webhooks with their latest messages and how each stands
/// (administrators).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    responses((status = 200, description = "Every webhook", body = [WebhookView]))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    principal: Principal,
    db: web::Data<Db>,
) -> Result<web::Json<Vec<WebhookView>>, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    let db = db.get_ref().clone();
    let views = web::block(move || {
        db.run(|conn| {
            let mut views = Vec::new();
            for webhook in outbox::webhooks(conn)? {
                let messages = outbox::messages(conn, webhook.id, 20)?;
                views.push(view(webhook, messages));
            }
            Ok::<_, ApiError>(views)
        })
    })
    .await??;
    Ok(web::Json(views))
}

/// Which parked messages to replay: `message_ids`, or `all`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// The messages (1 to 1,000; those not parked are left as they are).
    pub message_ids: Option<Vec<String>>,
    /// `true`: every parked message (instead of `message_ids`).
    #[serde(default)]
    pub all: bool,
}

/// How many messages went back in line.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// Parked messages now pending again, their attempts counted afresh.
    pub replayed: usize,
}

/// Put parked messages back in line (administrators); the same as
/// `motcua outbox-replay`. A replayed message is delivered after the later
/// messages of its dossier that went out meanwhile: receivers order by
/// `seq`.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = Replay,
    responses(
        (status = 200, description = "Replayed", body = Replayed),
        (status = 422, description = "Not message ids", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/outbox/replay")]
pub async fn replay(
    principal: Principal,
    db: web::Data<Db>,
    body: Body<Replay>,
) -> Result<web::Json<Replayed>, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    let replay = body.value;
    let invalid = |field: &str, message: &str| {
        Err(ApiError::Validation(vec![FieldError::new(field, message)]))
    };
    let ids = match (replay.message_ids, replay.all) {
        (None, true) => None,
        (Some(_), true) => return invalid("all", "name message_ids or set all, not both"),
        (None, false) => return invalid("message_ids", "name the messages, or set all"),
        (Some(ids), false) if ids.is_empty() || ids.len() > 1000 => {
            return invalid("message_ids", "name 1 to 1,000 messages");
        }
        (Some(ids), false) => {
            let mut fields = Fields::default();
            let parsed: Vec<MessageId> = ids
                .iter()
                .enumerate()
                .filter_map(|(i, id)| {
                    fields.check(&format!("message_ids[{i}]"), id.parse::<MessageId>())
                })
                .collect();
            fields.finish()?;
            Some(parsed)
        }
    };
    let db = db.get_ref().clone();
    let replayed =
        web::block(move || db.write(|conn| outbox::replay(conn, ids.as_deref(), Utc::now())))
            .await??;
    Ok(web::Json(Replayed { replayed }))
}

/// Remove a webhook with its messages and their attempts (administrators):
/// nothing more is delivered to it.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The webhook")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn remove_webhook(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    let id = id.parse::<WebhookId>().map_err(|_| ApiError::NotFound)?;
    let db = db.get_ref().clone();
    let removed = web::block(move || db.write(|conn| outbox::unsubscribe(conn, id))).await??;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

/// A destination the configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// The national public-service portal's status sync.
    Portal,
    /// E-mail notices to the applicant.
    Email,
    /// SMS notices to the applicant.
    Sms,
    /// A NATS JetStream broker.
    Nats,
}

/// A configured destination and its latest messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// Which destination.
    pub destination: DestinationKind,
    /// Where it is (no credentials); empty once unconfigured.
    pub address: String,
    /// The event kinds it hears of (none: not configured any more; its
    /// messages stay, and replays still deliver them where a server has it
    /// configured).
    #[schema(value_type = Vec<EventKind>)]
    pub kinds: Vec<String>,
    /// Its 20 latest messages, newest first (their ids are what
    /// `POST /outbox/replay` takes).
    pub messages: Vec<MessageView>,
}

/// The outbox's configured destinations — the national portal, e-mail, SMS,
/// NATS — with their latest messages and how each stands (administrators;
/// webhooks are listed by `GET /webhooks`).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    responses((status = 200, description = "Every destination ever configured", body = [DestinationView]))
)]
#[get("/outbox/destinations")]
pub async fn list_destinations(
    principal: Principal,
    db: web::Data<Db>,
) -> Result<web::Json<Vec<DestinationView>>, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    let db = db.get_ref().clone();
    let views = web::block(move || {
        db.run(|conn| {
            let mut views = Vec::new();
            for subscription in outbox::subscriptions(conn)? {
                let destination = match subscription.destination {
                    Destination::Webhook => continue,
                    Destination::Portal => DestinationKind::Portal,
                    Destination::Email => DestinationKind::Email,
                    Destination::Sms => DestinationKind::Sms,
                    Destination::Nats => DestinationKind::Nats,
                };
                let messages = outbox::messages(conn, subscription.id, 20)?;
                views.push(DestinationView {
                    destination,
                    address: subscription.url,
                    kinds: subscription.kinds,
                    messages: messages.into_iter().map(MessageView::from).collect(),
                });
            }
            Ok::<_, ApiError>(views)
        })
    })
    .await??;
    Ok(web::Json(views))
}
