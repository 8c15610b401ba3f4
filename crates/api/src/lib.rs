//! The motcua REST API: actix-web handlers over the domain and persistence
//! crates. Errors leave as problem+json ([`error::ApiError`]); settings come
//! in as a value ([`Settings`]); the OpenAPI document is generated from the
//! handlers ([`openapi`]).

pub mod audit;
pub mod auth;
pub mod body;
pub mod bootstrap;
pub mod cache;
pub mod calendars;
pub mod client;
pub mod clock;
pub mod content;
pub mod error;
pub mod hygiene;
pub mod notices;
pub mod outbox;
pub mod policy;
pub mod routes;
pub mod settings;
mod startup;
pub mod storage;
pub mod telemetry;
mod validate;
mod wire;

pub use settings::Settings;
pub use startup::{AppState, Application, StartupError, app, openapi};
