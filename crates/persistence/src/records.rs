//! The side records of dossiers in tables of their own: supplement requests
//! and their items, hand-overs, payments, apologies, ratings and their
//! criteria. Reports count these columns and constraints guard them (a
//! gateway reference is recorded once in the whole database).
//!
//! The aggregate keeps its own copy in the dossier's `details`, which the
//! domain reads; [`SideRows::add`] turns what a change added to it into rows,
//! written in the same transaction as the change. A record of which a
//! dossier may have several is its `nth` of its kind (from 1), its place
//! among the records of that kind in `details`; migration 000015 filled the
//! tables from `details` by the same rule.

use std::collections::HashMap;
use std::mem::{Discriminant, discriminant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use motcua_domain::dossier::{
    ApologyFault, Entry, Particulars, PaymentMethod, Record, Satisfaction,
};
use motcua_domain::lifecycle::Role;

use crate::db::DbConnection;
use crate::dossiers::chunks;
use crate::error::DbError;
use crate::payments::GATEWAY;
use crate::schema::{
    apologies, hand_overs, payments, rating_criteria, ratings, supplement_items,
    supplement_requests,
};
use crate::sql_types::{AgencyId, Closed, DossierId, PaymentId, UserId, to_db_time};

/// A supplement request (Form 02).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = supplement_requests)]
pub struct SupplementRequestRow {
    /// The dossier.
    pub dossier_id: DossierId,
    /// Its n-th request.
    pub nth: i32,
    /// When.
    pub requested_at: NaiveDateTime,
    /// By whom.
    pub requested_by: Option<UserId>,
    /// Why.
    pub reason: String,
}

/// A document to add or correct, of a supplement request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = supplement_items)]
pub struct SupplementItemRow {
    /// The dossier.
    pub dossier_id: DossierId,
    /// Of its n-th request.
    pub nth: i32,
    /// The item's place in the request, from 1.
    pub position: i32,
    /// The procedure's requirement code, where the item is one.
    pub requirement_code: Option<String>,
    /// What the document is.
    pub name: String,
    /// What is wrong or missing.
    pub problem: String,
}

/// A hand-over between steps or units.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = hand_overs)]
pub struct HandOverRow {
    /// The dossier.
    pub dossier_id: DossierId,
    /// Its n-th hand-over.
    pub nth: i32,
    /// When.
    pub handed_at: NaiveDateTime,
    /// By whom.
    pub handed_by: Option<UserId>,
    /// The receiving step.
    pub to_step: Option<String>,
    /// The receiving unit, as given.
    pub to_agency_id: Option<String>,
    /// The receiving person, as given.
    pub to_user_id: Option<String>,
    /// A note.
    pub note: Option<String>,
}

/// A payment.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = payments)]
pub struct PaymentRow {
    /// Id.
    pub id: PaymentId,
    /// The dossier paid for.
    pub dossier_id: DossierId,
    /// Where the reference is unique: [`GATEWAY`], or the receiving agency's id.
    pub scope: String,
    /// The receipt or transaction reference.
    pub reference: String,
    /// Đồng.
    pub amount: i64,
    /// How it was paid.
    #[diesel(serialize_as = Closed<PaymentMethod>)]
    pub method: PaymentMethod,
    /// The staff member who took it (none for the gateway).
    pub recorded_by: Option<UserId>,
    /// When.
    pub recorded_at: NaiveDateTime,
}

/// The apology for lateness.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = apologies)]
pub struct ApologyRow {
    /// The dossier.
    pub dossier_id: DossierId,
    /// When.
    pub apologised_at: NaiveDateTime,
    /// Why the dossier is late.
    pub reason: String,
    /// The new appointment.
    pub new_appointment_at: NaiveDateTime,
    /// Whose fault.
    #[diesel(serialize_as = Closed<ApologyFault>)]
    pub fault: ApologyFault,
}

/// The citizen's rating.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = ratings)]
pub struct RatingRow {
    /// The dossier.
    pub dossier_id: DossierId,
    /// When.
    pub rated_at: NaiveDateTime,
    /// Overall.
    #[diesel(serialize_as = Closed<Satisfaction>)]
    pub overall: Satisfaction,
    /// A comment.
    pub comment: Option<String>,
}

/// A rating of one criterion.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = rating_criteria)]
pub struct RatingCriterionRow {
    /// The dossier.
    pub dossier_id: DossierId,
    /// The criterion.
    pub criterion: String,
    /// Its rating.
    #[diesel(serialize_as = Closed<Satisfaction>)]
    pub value: Satisfaction,
}

/// Rows of side records to write, for one dossier or a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideRows {
    /// Supplement requests.
    pub supplement_requests: Vec<SupplementRequestRow>,
    /// Their items.
    pub supplement_items: Vec<SupplementItemRow>,
    /// Hand-overs.
    pub hand_overs: Vec<HandOverRow>,
    /// Payments.
    pub payments: Vec<PaymentRow>,
    /// Apologies.
    pub apologies: Vec<ApologyRow>,
    /// Ratings.
    pub ratings: Vec<RatingRow>,
    /// Their criteria.
    pub rating_criteria: Vec<RatingCriterionRow>,
}

impl SideRows {
    /// Adds the rows of what `after` records and `before` did not, for the
    /// dossier `dossier` received by `agency` (the scope of its desk's
    /// payment references). Records are only ever appended.
    pub fn add(
        &mut self,
        dossier: DossierId,
        agency: AgencyId,
        before: &Particulars,
        after: &Particulars,
    ) {
        let mut seen: HashMap<Discriminant<Entry>, i32> = HashMap::new();
        for (index, record) in after.records.iter().enumerate() {
            let nth = seen.entry(discriminant(&record.entry)).or_insert(0);
            *nth += 1;
            if index >= before.records.len() {
                self.record(dossier, agency, *nth, record);
            }
        }
        if let (None, Some(apology)) = (&before.apology, &after.apology) {
            self.apologies.push(ApologyRow {
                dossier_id: dossier,
                apologised_at: to_db_time(apology.at),
                reason: apology.reason.clone(),
                new_appointment_at: to_db_time(apology.new_appointment_at),
                fault: apology.fault,
            });
        }
        if let (None, Some(rating)) = (&before.rating, &after.rating) {
            self.ratings.push(RatingRow {
                dossier_id: dossier,
                rated_at: to_db_time(rating.at),
                overall: rating.overall,
                comment: rating.comment.clone(),
            });
            self.rating_criteria
                .extend(
                    rating
                        .criteria
                        .iter()
                        .map(|(criterion, value)| RatingCriterionRow {
                            dossier_id: dossier,
                            criterion: criterion.clone(),
                            value: *value,
                        }),
                );
        }
    }

    fn record(&mut self, dossier: DossierId, agency: AgencyId, nth: i32, record: &Record) {
        let at = to_db_time(record.at);
        let by = record.by.map(UserId);
        match &record.entry {
            Entry::SupplementRequest(request) => {
                self.supplement_requests.push(SupplementRequestRow {
                    dossier_id: dossier,
                    nth,
                    requested_at: at,
                    requested_by: by,
                    reason: request.reason.clone(),
                });
                self.supplement_items
                    .extend(
                        (1..)
                            .zip(&request.items)
                            .map(|(position, item)| SupplementItemRow {
                                dossier_id: dossier,
                                nth,
                                position,
                                requirement_code: item.requirement_code.clone(),
                                name: item.name.clone(),
                                problem: item.problem.clone(),
                            }),
                    );
            }
            Entry::Handover(hand_over) => self.hand_overs.push(HandOverRow {
                dossier_id: dossier,
                nth,
                handed_at: at,
                handed_by: by,
                to_step: hand_over.to_step.clone(),
                to_agency_id: hand_over.to_agency_id.clone(),
                to_user_id: hand_over.to_user_id.clone(),
                note: hand_over.note.clone(),
            }),
            Entry::Payment(payment) => {
                let gateway = record.role == Some(Role::PaymentGateway)
                    || payment.method == Some(PaymentMethod::Online);
                let method = match (payment.method, gateway) {
                    (Some(method), _) => method,
                    (None, true) => PaymentMethod::Online,
                    (None, false) => PaymentMethod::Cash,
                };
                self.payments.push(PaymentRow {
                    id: PaymentId::new(),
                    dossier_id: dossier,
                    scope: if gateway {
                        GATEWAY.into()
                    } else {
                        agency.to_string()
                    },
                    reference: payment.reference.clone(),
                    amount: payment.amount,
                    method,
                    recorded_by: by,
                    recorded_at: at,
                });
            }
            _ => {}
        }
    }

    /// Writes the rows (in the caller's transaction), in chunks that stay
    /// within the backends' limits on bound parameters. A payment reference
    /// already recorded in its scope is [`DbError::Conflict`].
    pub fn insert(self, conn: &mut DbConnection) -> Result<(), DbError> {
        // Multi-row inserts need the backend's own connection.
        macro_rules! insert_all {
            ($($table:ident: $rows:expr),* $(,)?) => {
                match conn {
                    DbConnection::Postgres(pg) => {
                        $(for chunk in chunks($rows, 1000) {
                            diesel::insert_into($table::table).values(chunk).execute(pg)?;
                        })*
                    }
                    DbConnection::Sqlite(sqlite) => {
                        $(for chunk in chunks($rows, 1000) {
                            diesel::insert_into($table::table).values(chunk).execute(sqlite)?;
                        })*
                    }
                }
            };
        }
        insert_all!(
            supplement_requests: self.supplement_requests,
            supplement_items: self.supplement_items,
            hand_overs: self.hand_overs,
            payments: self.payments,
            apologies: self.apologies,
            ratings: self.ratings,
            rating_criteria: self.rating_criteria,
        );
        Ok(())
    }
}

/// The rows of what a change of one dossier added, written.
pub fn store(
    conn: &mut DbConnection,
    dossier: DossierId,
    agency: AgencyId,
    before: &Particulars,
    after: &Particulars,
) -> Result<(), DbError> {
    let mut rows = SideRows::default();
    rows.add(dossier, agency, before, after);
    rows.insert(conn)
}

/// Checks of the tables against the records (for tests, and for the
/// persistence crate's own migration tests).
#[cfg(any(test, feature = "test-support"))]
mod checks {
    use diesel::prelude::*;
    use motcua_domain::dossier::Particulars;

    use super::SideRows;
    use crate::db::DbConnection;
    use crate::dossiers::DossierRow;
    use crate::error::DbError;
    use crate::schema::{
        apologies, hand_overs, payments, rating_criteria, ratings, supplement_items,
        supplement_requests,
    };
    use crate::sql_types::{DossierId, PaymentId};
    use crate::stored::Unreadable;

    /// A dossier's side rows as stored, in the order [`SideRows::add`] gives
    /// them.
    pub fn of(conn: &mut DbConnection, dossier: DossierId) -> Result<SideRows, DbError> {
        Ok(SideRows {
            supplement_requests: supplement_requests::table
                .filter(supplement_requests::dossier_id.eq(dossier))
                .order(supplement_requests::nth)
                .load(conn)?,
            supplement_items: supplement_items::table
                .filter(supplement_items::dossier_id.eq(dossier))
                .order((supplement_items::nth, supplement_items::position))
                .load(conn)?,
            hand_overs: hand_overs::table
                .filter(hand_overs::dossier_id.eq(dossier))
                .order(hand_overs::nth)
                .load(conn)?,
            payments: payments::table
                .filter(payments::dossier_id.eq(dossier))
                .order((payments::recorded_at, payments::id))
                .load(conn)?,
            apologies: apologies::table
                .filter(apologies::dossier_id.eq(dossier))
                .load(conn)?,
            ratings: ratings::table
                .filter(ratings::dossier_id.eq(dossier))
                .load(conn)?,
            rating_criteria: rating_criteria::table
                .filter(rating_criteria::dossier_id.eq(dossier))
                .order(rating_criteria::criterion)
                .load(conn)?,
        })
    }

    /// The rows the records in a stored dossier's `details` call for: what its
    /// tables hold if every change wrote its rows (payments with fresh ids).
    pub fn derived(row: &DossierRow) -> Result<SideRows, Unreadable> {
        let mut rows = SideRows::default();
        let particulars = crate::stored::particulars(row)?;
        rows.add(
            row.id,
            row.receiving_agency_id,
            &Particulars::default(),
            &particulars,
        );
        Ok(rows)
    }

    /// Whether the tables hold exactly the side rows of every dossier's
    /// records; the differences, named by dossier code. Payments compare
    /// without their ids, and a reference may carry its dossier's id after it
    /// (as migration 000015 marks references that repeated).
    pub fn differences(conn: &mut DbConnection) -> Result<Vec<String>, DbError> {
        use crate::schema::dossiers;
        let mut differences = Vec::new();
        let mut after: Option<DossierId> = None;
        loop {
            let mut page = dossiers::table.order(dossiers::id).limit(500).into_boxed();
            if let Some(after) = after {
                page = page.filter(dossiers::id.gt(after));
            }
            let rows: Vec<DossierRow> = page.load(conn)?;
            let Some(last) = rows.last() else {
                return Ok(differences);
            };
            after = Some(last.id);
            for row in &rows {
                differences.extend(difference(conn, row)?);
            }
        }
    }

    /// How a dossier's stored side rows differ from what its records call for.
    fn difference(conn: &mut DbConnection, row: &DossierRow) -> Result<Option<String>, DbError> {
        let Ok(mut expected) = derived(row) else {
            return Ok(Some(format!("{}: its records cannot be read", row.code)));
        };
        let mut stored = of(conn, row.id)?;
        let marked = format!(" ({})", row.id);
        for payment in stored.payments.iter_mut() {
            if let Some(reference) = payment.reference.strip_suffix(&marked) {
                payment.reference = reference.to_owned();
            }
        }
        for payment in stored.payments.iter_mut().chain(&mut expected.payments) {
            payment.id = PaymentId(uuid::Uuid::nil());
        }
        Ok((stored != expected).then(|| {
            format!(
                "{}: stored {stored:?}, its records call for {expected:?}",
                row.code
            )
        }))
    }
}

#[cfg(any(test, feature = "test-support"))]
pub use checks::{derived, differences, of};
