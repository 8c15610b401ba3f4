//! Payments: desk payments by clerks and the payment gateway's signed
//! callbacks, recorded once per reference.

use super::actions::act;
use super::*;

/// Headers of a signed payment-gateway callback.
pub const SIGNATURE_HEADER: &str = "x-motcua-signature";
/// The callback's Unix time, covered by the signature.
pub const TIMESTAMP_HEADER: &str = "x-motcua-timestamp";
/// How far a callback's timestamp may be from now.
const CALLBACK_WINDOW_SECS: u64 = 300;

/// What the gateway signs: the timestamp, the dossier's code, the amount in
/// đồng and the gateway's reference, one per line (docs/security.md has a
/// worked example). The signature is hex HMAC-SHA256 of these bytes, so a
/// callback for one dossier, amount or reference is worthless for another.
pub fn callback_message(
    timestamp: i64,
    dossier_code: &str,
    amount: i64,
    reference: &str,
) -> String {
    format!("{timestamp}\n{dossier_code}\n{amount}\n{reference}")
}

/// The gateway's signature of [`callback_message`] with `secret`, in hex.
pub fn callback_signature(
    secret: &str,
    timestamp: i64,
    dossier_code: &str,
    amount: i64,
    reference: &str,
) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(callback_message(timestamp, dossier_code, amount, reference).as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn invalid_signature(detail: &str) -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_signature",
        detail: detail.into(),
    }
}

/// The callback's timestamp, if present and within five minutes of now.
fn callback_timestamp(request: &HttpRequest, now: DateTime<Utc>) -> Result<i64, ApiError> {
    let timestamp: i64 = request
        .headers()
        .get(TIMESTAMP_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| invalid_signature("missing or invalid timestamp"))?;
    if now.timestamp().abs_diff(timestamp) > CALLBACK_WINDOW_SECS {
        return Err(invalid_signature(
            "the timestamp is too old or in the future",
        ));
    }
    Ok(timestamp)
}

/// Constant-time comparison of the given signature with the expected one.
fn signature_matches(request: &HttpRequest, expected: &str) -> bool {
    let given = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The scope a payment reference is unique in: the gateway's in the whole
/// database, a desk's within the receiving agency.
fn payment_scope(row: &DossierRow, principal: &Principal) -> String {
    if principal.has_role(Role::PaymentGateway) {
        motcua_persistence::payments::GATEWAY.to_owned()
    } else {
        row.receiving_agency_id.to_string()
    }
}

pub(super) fn already_recorded(reference: &str) -> ApiError {
    ApiError::Conflict {
        code: "payment_already_recorded",
        detail: format!("payment {reference} is already recorded"),
    }
}

/// 409 `payment_already_recorded` for a reference used before in its scope,
/// so a gateway's retry of a callback that was recorded gets this answer
/// whatever the dossier's state now.
pub(super) fn unused_reference(
    conn: &mut DbConnection,
    row: &DossierRow,
    principal: &Principal,
    reference: &str,
) -> Result<(), ApiError> {
    let scope = payment_scope(row, principal);
    if motcua_persistence::payments::recorded(conn, &scope, reference.trim())? {
        return Err(already_recorded(reference));
    }
    Ok(())
}

/// Record a payment: `{amount, method, reference}`. Desk payments (`cash`,
/// `transfer`) by a clerk in reach; online payments only by the payment
/// gateway's signed callback: headers `X-Motcua-Timestamp` (Unix time) and
/// `X-Motcua-Signature` (hex HMAC-SHA256 over
/// `<timestamp>\n<dossier code>\n<amount>\n<reference>` with the configured
/// secret). The amount must equal the fee requested (409
/// `payment_amount_mismatch`; a signed callback refused for its amount or
/// because nothing is awaited is kept for the desk, see `rejected_payments`
/// on the dossier). A reference is recorded once in the whole database (409
/// `payment_already_recorded`). Citizens cannot record payments (403).
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = []), ()),
    params(
        ("id" = String, Path, description = "Dossier id or code"),
        ("x-motcua-signature" = Option<String>, Header, description = "Gateway callbacks: hex HMAC-SHA256 of `<timestamp>\\n<dossier code>\\n<amount>\\n<reference>`"),
        ("x-motcua-timestamp" = Option<i64>, Header, description = "Gateway callbacks: Unix time"),
        ("If-Match" = Option<String>, Header, description = "Desk payments: the dossier's current version as its ETag, `\"<version>\"` (without it the payment is refused with 422); signed gateway callbacks send none"),
    ),
    request_body = RecordPayment,
    responses(
        (status = 200, description = "The dossier after the payment", body = DossierView),
        (status = 401, description = "No token, or a bad or stale signature", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Citizens and other roles may not record payments", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dossier in reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not awaiting payment, a different amount than requested, or the reference is already recorded", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/dossiers/{id}/payments")]
pub async fn record_payment(
    request: HttpRequest,
    db: web::Data<Db>,
    clock: web::Data<Clock>,
    secret: web::Data<PaymentSecret>,
    id: web::Path<String>,
    raw: web::Json<Box<serde_json::value::RawValue>>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    if !request.headers().contains_key(SIGNATURE_HEADER) {
        use actix_web::FromRequest;
        // Who asks comes first (401 before 422). Citizens, and staff without
        // the clerk's role, are refused by the lifecycle (403) once the
        // dossier is found in reach.
        let principal = Principal::extract(&request).await?;
        let body = Body::<RecordPayment>::read(raw.into_inner())?;
        let command = Command::RecordPayment(body.value);
        return act(
            request,
            principal,
            db,
            now,
            id.into_inner(),
            command,
            body.version,
        )
        .await;
    }
    let Body {
        value: mut payment,
        version,
        ..
    } = Body::<RecordPayment>::read(raw.into_inner())?;

    // A gateway callback: verified against the dossier it names before anything else.
    let secret = secret.0.clone().ok_or_else(|| {
        invalid_signature("payment callbacks are not configured (MOTCUA_PAYMENT_SECRET)")
    })?;
    let timestamp = callback_timestamp(&request, now)?;
    let reference = id.into_inner();
    let reader = db.get_ref().clone();
    let found = web::block(move || {
        reader.run(|conn| match reference.parse::<DossierId>() {
            Ok(id) => dossiers::find(conn, id),
            Err(_) => dossiers::find_by_code(conn, &reference),
        })
    })
    .await?;
    // An unknown dossier cannot have a valid signature: the same 401, so an
    // unsigned caller learns nothing about which codes exist.
    let row = found.map_err(|error| match error {
        DbError::NotFound => invalid_signature("the signature does not match"),
        other => other.into(),
    })?;
    let expected = callback_signature(
        secret.expose(),
        timestamp,
        &row.code,
        payment.amount,
        &payment.reference,
    );
    if !signature_matches(&request, &expected) {
        return Err(invalid_signature("the signature does not match"));
    }
    payment.method = Some(PaymentMethod::Online);
    let gateway = Principal {
        user_id: UserId(uuid::Uuid::nil()),
        kind: AccountKind::Staff,
        roles: vec![Role::PaymentGateway],
        agency_id: None,
        agency_path: Some("/".into()),
    };
    // The gateway does not track versions: it acts on the current one, and
    // when another change lands in between (412), on the next one.
    let mut current = row.version;
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        let outcome = act(
            request.clone(),
            gateway.clone(),
            db.clone(),
            now,
            row.id.to_string(),
            Command::RecordPayment(payment.clone()),
            version.or(Some(current)),
        )
        .await;
        if version.is_some()
            || attempts == 3
            || !matches!(outcome, Err(ApiError::PreconditionFailed { .. }))
        {
            break outcome;
        }
        let (reader, id) = (db.get_ref().clone(), row.id);
        current = web::block(move || reader.run(|conn| dossiers::find(conn, id)))
            .await?
            .map_err(ApiError::from)?
            .version;
    };
    if let Err(ApiError::Conflict { code, .. }) = &outcome
        && matches!(
            *code,
            "payment_amount_mismatch" | "illegal_transition" | "fee_already_paid"
        )
    {
        // Money arrived that the dossier did not expect: kept for the desk
        // to follow up (refund or ask for the difference).
        let (reason, db) = (*code, db.get_ref().clone());
        let kept = web::block(move || {
            db.write(|conn| {
                let procedure = procedures::find(conn, row.procedure_id)?;
                let expected_fee = match (definition(&procedure), load(&row)) {
                    (Ok(definition), Ok(dossier)) => dossier.fee_due(&definition),
                    _ => None,
                };
                motcua_persistence::payments::reject(
                    conn,
                    row.id,
                    &payment.reference,
                    payment.amount,
                    expected_fee,
                    reason,
                    now,
                )
                .map_err(ApiError::from)
            })
        })
        .await?;
        if let Err(error) = kept {
            tracing::error!(%error, "a refused payment callback could not be kept");
        }
    }
    outcome
}

/// The secret that signs payment-gateway callbacks (none: callbacks refused).
#[derive(Debug, Clone, Default)]
pub struct PaymentSecret(pub Option<crate::settings::Secret>);

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example in docs/security.md is what the server computes.
    #[test]
    fn the_documented_callback_example_holds() {
        let signature = callback_signature(
            "gateway-secret-example",
            1_793_676_600,
            "000.01.00.H01-261103-0001",
            15_000,
            "GW-20261103-7781",
        );
        assert_eq!(
            signature,
            "150e10e66d7c81bd2216708a125d0d2b34e79c461fff5899b383f096b8836b16"
        );
        let documented = include_str!("../../../../../docs/security.md");
        assert!(documented.contains(&signature));
    }
}
