//! Operations endpoints: liveness, readiness and metrics.

use actix_web::{HttpResponse, ResponseError, get, web};
use motcua_persistence::Db;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The motcua version serving.
    pub version: &'static str,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `postgres` or `sqlite`.
    #[schema(example = "sqlite")]
    pub database: &'static str,
}

/// The process is up. Touches nothing else.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok",
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
        status: "ready",
        database: backend.name(),
    }))
}

/// Prometheus metrics: request counts and latency histograms by route, method and status.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format",
               body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(registry: web::Data<prometheus::Registry>) -> HttpResponse {
    match prometheus::TextEncoder::new().encode_to_string(&registry.gather()) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(error) => ApiError::Internal(error.to_string()).error_response(),
    }
}
