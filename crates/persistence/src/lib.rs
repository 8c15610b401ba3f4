//! Storage for motcua: one diesel schema served by PostgreSQL or by an embedded
//! SQLite file.
//!
//! The crate knows nothing of HTTP. It hands out a [`Db`] handle (an r2d2 pool
//! of [`DbConnection`]s), applies the embedded migrations, and exposes
//! repository functions that return [`DbError`], never a raw diesel error.
//!
//! Everything here is blocking; the API crate runs it on its blocking pool.

pub mod access_log;
pub mod agencies;
pub mod audit;
pub mod calendars;
mod db;
pub mod dossiers;
mod error;
pub mod files;
pub mod groups;
pub mod migrations;
pub mod outbox;
pub mod payments;
pub mod procedures;
pub mod records;
pub mod refresh_tokens;
pub mod stamps;
pub mod throttle;
#[rustfmt::skip] // generated from the migrations; see testing::schema
pub mod schema;
pub mod sql_types;
pub mod stored;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod users;

pub use db::{Backend, DatabaseUrl, Db, DbConfig, DbConnection, Readiness};
pub use error::DbError;
pub use sql_types::{
    AccessId, AgencyId, DossierGroupId, DossierId, EventId, FileId, MessageId, PaymentId,
    ProcedureId, RefreshTokenId, RejectedPaymentId, TokenFamilyId, UserId, WebhookId,
};
