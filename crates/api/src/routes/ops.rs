//! Operations endpoints: liveness, readiness and metrics.

use actix_web::{HttpResponse, ResponseError, get, web};
use motcua_persistence::{Backend, Db};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: Alive,
    /// The motcua version serving.
    pub version: &'static str,
}

/// The only liveness status: an answer at all is the news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Alive {
    /// The process answers.
    Ok,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready` (otherwise the answer is a 503 problem).
    pub status: Readiness,
    /// `postgres` or `sqlite`.
    pub database: Database,
}

/// The only readiness status of a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// The database answers and is migrated.
    Ready,
}

/// The database the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Database {
    /// PostgreSQL.
    Postgres,
    /// An embedded SQLite file.
    Sqlite,
}

impl From<Backend> for Database {
    fn from(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Database::Postgres,
            Backend::Sqlite => Database::Sqlite,
        }
    }
}

/// The process is up. Touches nothing else.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: Alive::Ok,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The database answers and carries every migration this build knows.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "Database unreachable or migrations pending",
         body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub async fn readyz(db: web::Data<Db>) -> Result<web::Json<Ready>, ApiError> {
    let db = db.get_ref().clone();
    let backend = db.backend();
    let readiness = web::block(move || db.readiness()).await??;
    if readiness.pending_migrations > 0 {
        return Err(ApiError::NotReady(format!(
            "{} migration(s) not applied yet; run `motcua migrate`",
            readiness.pending_migrations
        )));
    }
    Ok(web::Json(Ready {
        status: Readiness::Ready,
        database: backend.into(),
    }))
}

/// Prometheus metrics: request counts and latency histograms by route,
/// method and status; the outbox's attempts and backlog (docs/operations.md).
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format",
               body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(
    registry: web::Data<prometheus::Registry>,
    outbox: web::Data<crate::outbox::OutboxMetrics>,
    db: web::Data<Db>,
) -> HttpResponse {
    // The backlog is the database's; without a database the gauges keep
    // their last values and the rest is still answered.
    let db = db.get_ref().clone();
    if let Ok(Ok(backlog)) = web::block(move || db.run(motcua_persistence::outbox::backlog)).await {
        outbox.observe(&backlog, chrono::Utc::now());
    }
    match prometheus::TextEncoder::new().encode_to_string(&registry.gather()) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(error) => ApiError::Internal(error.to_string()).error_response(),
    }
}
