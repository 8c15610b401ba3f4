//! HTTP handlers, grouped by area. Each handler is registered with
//! `service(...)` so that utoipa-actix-web sees it and the OpenAPI document
//! is generated from the same registration that serves requests.

pub mod ops;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every documented route of the application.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics);
}
