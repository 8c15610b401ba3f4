use thiserror::Error;

/// What can go wrong in the persistence layer, classified so the HTTP edge can
/// answer with the right status without looking at SQL.
#[derive(Debug, Error)]
pub enum DbError {
    /// The configured `DATABASE_URL` names no backend motcua supports.
    #[error("{0}")]
    InvalidUrl(String),
    /// The first connection could not be established; carries the driver's own reason.
    #[error("cannot connect to {backend}: {reason}")]
    Connect {
        /// Which backend was tried.
        backend: &'static str,
        /// The driver's message (never contains the password).
        reason: String,
    },
    /// No connection could be had from the pool in time: the database is down or saturated.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Applying or inspecting migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; names the constraint (index) when known.
    #[error("conflicts with an existing record ({0})")]
    Conflict(String),
    /// A foreign key refused the write: a referenced row does not exist.
    #[error("refers to a record that does not exist ({0})")]
    MissingReference(String),
    /// Any other database failure: a bug or an outage, never the client's fault.
    #[error("database error: {0}")]
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for DbError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => DbError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::Conflict(constraint_name(info.as_ref()))
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                DbError::MissingReference(constraint_name(info.as_ref()))
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                DbError::Unavailable(info.message().to_owned())
            }
            other => DbError::Query(other),
        }
    }
}

impl From<r2d2::Error> for DbError {
    fn from(error: r2d2::Error) -> Self {
        DbError::Unavailable(error.to_string())
    }
}

/// PostgreSQL names the violated constraint; SQLite only says which columns, in
/// its message. Either is enough for a log line and a field-level hint.
fn constraint_name(info: &(dyn diesel::result::DatabaseErrorInformation + Send + Sync)) -> String {
    info.constraint_name()
        .map(str::to_owned)
        .unwrap_or_else(|| info.message().to_owned())
}
