//! Payments recorded on dossiers, and the gateway callbacks that were refused.
//!
//! A payment's reference is unique in its scope — the gateway's transaction
//! ids in the whole database ([`GATEWAY`]), a desk's receipt numbers within
//! the receiving agency — by a constraint, so a replayed callback cannot pay
//! a second dossier however the requests interleave. Payments are written
//! with the dossier's other side records ([`crate::records`]).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::DbError;
use crate::schema::{payments, rejected_payments};
use crate::sql_types::{DossierId, RejectedPaymentId, to_db_time};

/// The scope of the payment gateway's references.
pub const GATEWAY: &str = "gateway";

/// Whether a reference is already recorded in a scope.
pub fn recorded(conn: &mut DbConnection, scope: &str, reference: &str) -> Result<bool, DbError> {
    let count: i64 = payments::table
        .filter(payments::scope.eq(scope))
        .filter(payments::reference.eq(reference))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// How many payments a dossier has.
pub fn count_for(conn: &mut DbConnection, dossier: DossierId) -> Result<i64, DbError> {
    Ok(payments::table
        .filter(payments::dossier_id.eq(dossier))
        .count()
        .get_result(conn)?)
}

/// A refused gateway callback.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
#[diesel(table_name = rejected_payments)]
pub struct RejectedPayment {
    /// Id.
    pub id: RejectedPaymentId,
    /// The dossier it named.
    pub dossier_id: DossierId,
    /// The gateway's reference.
    pub reference: String,
    /// What the gateway said was paid.
    pub amount: i64,
    /// What was requested, if anything.
    pub expected_amount: Option<i64>,
    /// Why it was refused (a problem code).
    pub reason: String,
    /// When it arrived.
    pub received_at: NaiveDateTime,
}

/// Keeps a refused callback for the desk to follow up, once per dossier and
/// reference (a gateway that repeats its callback adds nothing).
pub fn reject(
    conn: &mut DbConnection,
    dossier: DossierId,
    reference: &str,
    amount: i64,
    expected_amount: Option<i64>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let kept = rejected_payments::table
        .filter(rejected_payments::dossier_id.eq(dossier))
        .filter(rejected_payments::reference.eq(reference))
        .count()
        .get_result::<i64>(conn)?;
    if kept > 0 {
        return Ok(());
    }
    diesel::insert_into(rejected_payments::table)
        .values((
            rejected_payments::id.eq(RejectedPaymentId::new()),
            rejected_payments::dossier_id.eq(dossier),
            rejected_payments::reference.eq(reference),
            rejected_payments::amount.eq(amount),
            rejected_payments::expected_amount.eq(expected_amount),
            rejected_payments::reason.eq(reason),
            rejected_payments::received_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A dossier's refused callbacks, oldest first.
pub fn rejected_of(
    conn: &mut DbConnection,
    dossier: DossierId,
) -> Result<Vec<RejectedPayment>, DbError> {
    Ok(rejected_payments::table
        .filter(rejected_payments::dossier_id.eq(dossier))
        .order(rejected_payments::received_at.asc())
        .load(conn)?)
}
