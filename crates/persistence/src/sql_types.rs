//! The one SQL type the two backends do not share: UUIDs are native `uuid` on
//! PostgreSQL and 36-character text on SQLite. Columns declare [`Uuid`]; Rust
//! code sees one id type per entity ([`DossierId`], [`UserId`], …), and
//! one entity's id is not another's:
//!
//! ```compile_fail
//! fn find_dossier(_: motcua_persistence::DossierId) {}
//! find_dossier(motcua_persistence::UserId::new());
//! ```

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, SqlType, Text};
use diesel::sqlite::Sqlite;

use crate::db::MultiBackend;

mod closed;
pub use closed::*;

/// SQL type of UUID columns: `uuid` on PostgreSQL, `CHAR(36)` text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct Uuid;

/// Defines one row-identifier type per entity: a UUID (version 7 for new
/// rows, so ids sort by creation) stored in [`Uuid`] columns, printed and
/// serialised hyphenated. Each is its own type, so the compiler refuses a
/// user's id where a dossier's is meant; the only way in from elsewhere is
/// the raw [`uuid::Uuid`] (`From`, or the public field), for ids that come
/// from outside (a path, a domain record).
macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression, FromSqlRow)]
        #[diesel(sql_type = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                $name(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map($name)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(value: uuid::Uuid) -> Self {
                $name(value)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl ToSql<Uuid, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.0.as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Uuid, Pg> for $name {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                Ok($name(uuid::Uuid::from_slice(bytes.as_bytes())?))
            }
        }

        impl ToSql<Uuid, Sqlite> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.to_string());
                Ok(IsNull::No)
            }
        }

        impl FromSql<Uuid, Sqlite> for $name {
            fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Sqlite>>::from_sql(bytes)?;
                Ok(text.parse()?)
            }
        }

        impl ToSql<Uuid, MultiBackend> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((Uuid, self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<Uuid, MultiBackend> for $name {
            fn from_sql(bytes: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                bytes.from_sql::<$name, Uuid>()
            }
        }
    )+};
}

ids! {
    /// A dossier (`dossiers.id`).
    DossierId;
    /// An account, staff or citizen (`users.id`).
    UserId;
    /// An agency of the tree (`agencies.id`).
    AgencyId;
    /// A procedure version (`procedures.id`).
    ProcedureId;
    /// An uploaded file (`files.id`).
    FileId;
    /// An event of a dossier's history (`dossier_events.id`).
    EventId;
    /// A recorded payment (`payments.id`).
    PaymentId;
    /// A refused gateway callback (`rejected_payments.id`).
    RejectedPaymentId;
    /// A stored refresh token (`refresh_tokens.id`).
    RefreshTokenId;
    /// A login's family of refresh tokens (`refresh_tokens.family_id`).
    TokenFamilyId;
    /// An entry of the access log (`access_log.id`).
    AccessId;
    /// One filing of an interconnected procedure group (`dossier_groups.id`).
    DossierGroupId;
    /// A message of the outbox (`outbox.id`).
    MessageId;
    /// A webhook registered by an administrator (`webhook_subscriptions.id`).
    WebhookId;
}

impl HasSqlType<Uuid> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<Uuid>(lookup)
    }
}

/// The form in which instants are stored: UTC, truncated to the microsecond
/// (what PostgreSQL keeps), so a value reads back exactly as it was written.
pub fn to_db_time(instant: DateTime<Utc>) -> NaiveDateTime {
    let naive = instant.naive_utc();
    naive
        .with_nanosecond(naive.nanosecond() / 1_000 * 1_000)
        .unwrap_or(naive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_hyphenated_and_parse_back() {
        let id = DossierId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<DossierId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<DossierId>().is_err());
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let first = UserId::new();
        let second = UserId::new();
        assert!(first < second);
    }
}
