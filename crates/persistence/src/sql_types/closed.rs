//! Closed sets stored as text: each domain enum has a SQL type of its own,
//! so a column of states gives a [`State`], never a string, and a state
//! cannot be compared with a channel. The text is the enum's snake_case
//! name; the database refuses any other (CHECK constraints, migrations
//! 000013 and 000015).
//!
//! The domain crate knows nothing of diesel, so the impls are here, on the
//! local SQL types. Reading needs nothing more. Writing and comparing go
//! through [`Closed`]: diesel's blanket `AsExpression` keeps a crate from
//! implementing it for another crate's type, so a value is wrapped in a
//! query (`dossiers::state.eq(Closed(State::Refused))`) and row fields name
//! it with `#[diesel(serialize_as = Closed<State>)]`; `Closed<Option<_>>`
//! writes a nullable column.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::internal::derives::as_expression::Bound;
use diesel::pg::Pg;
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, Nullable, SqlType, Text};
use diesel::sqlite::Sqlite;
use motcua_domain::clock::Outcome;
use motcua_domain::dossier::{ApologyFault, Channel, PaymentMethod, Satisfaction};
use motcua_domain::lifecycle::State;
use motcua_domain::procedure::Delivery;
use serde::de::DeserializeOwned;
use std::io::Write;

use crate::db::MultiBackend;

/// The enum named by a stored text.
fn parse<T: DeserializeOwned>(text: String) -> deserialize::Result<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| format!("not a value of its closed set: {e}").into())
}

/// A closed-set value (or an optional one) bound in a query or written to
/// its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed<T>(pub T);

macro_rules! closed_sets {
    ($($(#[$doc:meta])* $sql:ident => $rust:ty;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
        #[diesel(postgres_type(oid = 25, array_oid = 1009))]
        #[diesel(sqlite_type(name = "Text"))]
        pub struct $sql;

        impl ToSql<$sql, Pg> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl ToSql<$sql, Sqlite> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                out.set_value(self.as_str());
                Ok(IsNull::No)
            }
        }

        impl ToSql<$sql, MultiBackend> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($sql, self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<$sql, Pg> for $rust {
            fn from_sql(bytes: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                parse(<String as FromSql<Text, Pg>>::from_sql(bytes)?)
            }
        }

        impl FromSql<$sql, Sqlite> for $rust {
            fn from_sql(bytes: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
                parse(<String as FromSql<Text, Sqlite>>::from_sql(bytes)?)
            }
        }

        impl FromSql<$sql, MultiBackend> for $rust {
            fn from_sql(
                bytes: <MultiBackend as Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                bytes.from_sql::<$rust, $sql>()
            }
        }

        impl HasSqlType<$sql> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql>(lookup)
            }
        }

        impl Queryable<$sql, Pg> for $rust {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl Queryable<$sql, Sqlite> for $rust {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl Queryable<$sql, MultiBackend> for $rust {
            type Row = Self;
            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl ToSql<$sql, Pg> for Closed<$rust> {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <$rust as ToSql<$sql, Pg>>::to_sql(&self.0, out)
            }
        }

        impl ToSql<$sql, Sqlite> for Closed<$rust> {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
                <$rust as ToSql<$sql, Sqlite>>::to_sql(&self.0, out)
            }
        }

        impl ToSql<$sql, MultiBackend> for Closed<$rust> {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                <$rust as ToSql<$sql, MultiBackend>>::to_sql(&self.0, out)
            }
        }

        impl AsExpression<$sql> for Closed<$rust> {
            type Expression = Bound<$sql, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl<'a> AsExpression<$sql> for &'a Closed<$rust> {
            type Expression = Bound<$sql, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl From<$rust> for Closed<$rust> {
            fn from(value: $rust) -> Self {
                Closed(value)
            }
        }

        impl<DB: Backend> ToSql<Nullable<$sql>, DB> for Closed<Option<$rust>>
        where
            $rust: ToSql<$sql, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                match &self.0 {
                    Some(value) => <$rust as ToSql<$sql, DB>>::to_sql(value, out),
                    None => Ok(IsNull::Yes),
                }
            }
        }

        impl AsExpression<Nullable<$sql>> for Closed<Option<$rust>> {
            type Expression = Bound<Nullable<$sql>, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl<'a> AsExpression<Nullable<$sql>> for &'a Closed<Option<$rust>> {
            type Expression = Bound<Nullable<$sql>, Self>;
            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl From<Option<$rust>> for Closed<Option<$rust>> {
            fn from(value: Option<$rust>) -> Self {
                Closed(value)
            }
        }
    )*};
}

closed_sets! {
    /// A dossier's lifecycle state ([`State`]).
    StateText => State;
    /// How a dossier arrived ([`Channel`]).
    ChannelText => Channel;
    /// How its result is handed over ([`Delivery`]).
    DeliveryText => Delivery;
    /// Early, on time or late ([`Outcome`]).
    OutcomeText => Outcome;
    /// How a payment was made ([`PaymentMethod`]).
    PaymentMethodText => PaymentMethod;
    /// A level of satisfaction ([`Satisfaction`]).
    SatisfactionText => Satisfaction;
    /// Whose fault an apology answers for ([`ApologyFault`]).
    ApologyFaultText => ApologyFault;
}

/// The columns of each closed set, as `schema.rs` declares them (its
/// generator reads this list).
pub const CLOSED_COLUMNS: [(&str, &str, &str); 10] = [
    ("dossiers", "state", "StateText"),
    ("dossiers", "channel", "ChannelText"),
    ("dossiers", "result_delivery", "DeliveryText"),
    ("dossiers", "outcome", "OutcomeText"),
    ("dossier_events", "state_before", "StateText"),
    ("dossier_events", "state_after", "StateText"),
    ("payments", "method", "PaymentMethodText"),
    ("ratings", "overall", "SatisfactionText"),
    ("rating_criteria", "value", "SatisfactionText"),
    ("apologies", "fault", "ApologyFaultText"),
];
