//! The public look-up of a dossier by its code, with the last four digits of
//! the applicant's phone as a second factor. No personal data; rate limited
//! per client address.

use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use motcua_domain::codes::DossierCode;
use motcua_domain::lifecycle::State;
use motcua_persistence::throttle::Kind;
use motcua_persistence::{Db, DbError, dossiers};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AttemptLimiter, RateLimiter};
use crate::client::PublicCaller;
use crate::clock::Clock;
use crate::error::{ApiError, Problem};
use crate::routes::catalogue::definition;
use crate::routes::dossiers::live_clock;

/// Public requests per client address (see [`crate::client`]) a burst may hold.
pub const BURST: u32 = 10;
/// Then one public request per client address every this many seconds.
pub const SECONDS_PER_REQUEST: u64 = 3;

/// The public rate kept by this process: [`BURST`], then one every
/// [`SECONDS_PER_REQUEST`]. Authenticated staff are not counted. It turns
/// a flood away before it reaches the database; [`SharedRates`] then holds
/// the same rate across every server on the database. (`None` only if the
/// constants here were zero.)
pub fn lookup_limit() -> Option<GovernorConfig<PublicCaller, NoOpMiddleware>> {
    GovernorConfigBuilder::default()
        .key_extractor(PublicCaller)
        .seconds_per_request(SECONDS_PER_REQUEST)
        .burst_size(BURST)
        .finish()
}

/// The public rates counted in the database, so that k servers allow the
/// rate once, not k times (R5): the look-up's and the preview's.
#[derive(Debug)]
pub struct SharedRates {
    lookup: RateLimiter,
    preview: RateLimiter,
}

impl Default for SharedRates {
    fn default() -> Self {
        let rate = |kind| RateLimiter::new(kind, BURST, Duration::from_secs(SECONDS_PER_REQUEST));
        SharedRates {
            lookup: rate(Kind::Lookup),
            preview: rate(Kind::Preview),
        }
    }
}

/// Middleware of the look-up's scope: [`SharedRates`]' look-up rate.
pub async fn shared_lookup_rate(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    shared_rate(request, next, |rates| &rates.lookup).await
}

/// Middleware of the preview's scope: [`SharedRates`]' preview rate.
pub async fn shared_preview_rate(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    shared_rate(request, next, |rates| &rates.preview).await
}

/// Counts the request against its address's rate (staff are not counted)
/// before it goes on; 429 with `Retry-After` when the bucket is full.
async fn shared_rate<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
    which: fn(&SharedRates) -> &RateLimiter,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    if !crate::client::is_staff(request.request()) {
        let (Some(db), Some(rates)) = (
            request.app_data::<web::Data<Db>>().cloned(),
            request.app_data::<web::Data<SharedRates>>().cloned(),
        ) else {
            return Err(ApiError::Internal("the shared public rates are not set up".into()).into());
        };
        let address = crate::client::address(request.request());
        web::block(move || which(&rates).reserve(&db, &address, Utc::now()))
            .await
            .map_err(ApiError::from)??;
    }
    next.call(request).await
}

/// The look-up's and the deadline preview's limits (each its own counters).
pub fn limits() -> Option<(crate::routes::PublicLimit, crate::routes::PublicLimit)> {
    Some((lookup_limit()?, lookup_limit()?))
}

/// Wrong second factors per dossier code, whoever asks: after
/// [`CodeGuard::WRONG_ANSWERS`] in an hour the code's look-up pauses until
/// the hour is over, so guessing a phone's last four digits from many
/// addresses is as slow as from one. Right answers do not count.
#[derive(Debug)]
pub struct CodeGuard(pub AttemptLimiter);

impl CodeGuard {
    /// Wrong answers a code tolerates per hour.
    pub const WRONG_ANSWERS: u32 = 10;
}

impl Default for CodeGuard {
    fn default() -> Self {
        CodeGuard(AttemptLimiter::new(
            motcua_persistence::throttle::Kind::Code,
            Self::WRONG_ANSWERS,
            std::time::Duration::from_secs(3600),
        ))
    }
}

/// `?phone_last4=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The last four digits of the applicant's phone number.
    pub phone_last4: Option<String>,
}

/// What anyone with the code and the phone's last digits may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicDossier {
    /// Code.
    pub code: String,
    /// State.
    pub status: State,
    /// National portal status code.
    pub portal_status: Option<u8>,
    /// Procedure name.
    pub procedure_name: String,
    /// When the complete dossier was received.
    pub received_at: Option<DateTime<Utc>>,
    /// The legal due time.
    pub due_at: Option<DateTime<Utc>>,
}

/// Look up a dossier's progress (public; needs the phone's last four digits).
#[utoipa::path(
    tag = "public",
    params(("code" = String, Path, description = "Dossier code"), LookupQuery),
    responses(
        (status = 200, description = "The dossier's progress", body = PublicDossier),
        (status = 404, description = "No such dossier, or the second factor is wrong or missing", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many look-ups from this address, or too many wrong second factors for this code in the last hour", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossiers/{code}")]
pub async fn lookup(
    db: web::Data<Db>,
    caches: web::Data<crate::cache::Caches>,
    clock: web::Data<Clock>,
    guard: web::Data<CodeGuard>,
    code: web::Path<String>,
    query: crate::body::Query<LookupQuery>,
) -> Result<web::Json<PublicDossier>, ApiError> {
    let code = code.into_inner();
    let last4 = query.into_inner().phone_last4.unwrap_or_default();
    if code.parse::<DossierCode>().is_err()
        || last4.len() != 4
        || !last4.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ApiError::NotFound);
    }
    // Counted once the code names a dossier (so nobody can pause a code
    // before it is issued) and before the answer is checked (so parallel
    // guesses cannot overshoot); counted for everyone, staff included (a
    // staff token must not open a brute force on dossiers outside its reach;
    // staff read their own dossiers through `GET /dossiers/{code}`).
    let (db, guard) = (db.get_ref().clone(), guard.into_inner());
    let found = web::block(move || -> Result<_, ApiError> {
        let row = match db.run(|conn| dossiers::find_by_code(conn, &code)) {
            Ok(row) => row,
            Err(DbError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        // Its own short write, with no other connection held meanwhile.
        guard.0.reserve(&db, &code, Utc::now())?;
        if !row.applicant_phone.ends_with(&last4) {
            return Ok(None);
        }
        guard.0.release(&db, &code, Utc::now())?;
        db.run(|conn| -> Result<_, ApiError> {
            let cached = caches.fresh(conn)?;
            let procedure = cached.procedure(conn, row.procedure_id)?;
            let calendar = cached.calendar(conn, row.receiving_agency_id)?;
            Ok(Some((row, procedure, calendar)))
        })
    })
    .await??;
    let (row, procedure, calendar) = found.ok_or(ApiError::NotFound)?;
    let state = row.state;
    let clock = live_clock(&calendar, &row, &definition(&procedure)?, clock.now())?;
    Ok(web::Json(PublicDossier {
        code: row.code,
        status: state,
        portal_status: state.portal_code(),
        procedure_name: procedure.name.clone(),
        received_at: clock.as_ref().map(|c| c.received_at),
        due_at: clock.as_ref().map(|c| c.due_at),
    }))
}
