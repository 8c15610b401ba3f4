//! The caller, as proven by a bearer access token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::errors::ErrorKind;
use motcua_domain::lifecycle::Role;
use motcua_persistence::{AgencyId, Db, DbError, UserId, users};

use crate::auth::TokenIssuer;
use crate::error::ApiError;

/// Staff member or citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Works for an agency.
    Staff,
    /// Files dossiers.
    Citizen,
}

impl AccountKind {
    /// As stored and in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Staff => "staff",
            AccountKind::Citizen => "citizen",
        }
    }
}

/// The authenticated caller. Reach is decided by [`crate::policy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub user_id: UserId,
    /// Staff or citizen.
    pub kind: AccountKind,
    /// Roles held.
    pub roles: Vec<Role>,
    /// The staff member's agency.
    pub agency_id: Option<AgencyId>,
    /// That agency's materialized path.
    pub agency_path: Option<String>,
}

/// The token of an `Authorization: Bearer <token>` header value.
pub(crate) fn bearer(authorization: &str) -> Option<&str> {
    authorization
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

fn unauthenticated(code: &'static str, detail: &str) -> ApiError {
    ApiError::Unauthenticated {
        code,
        detail: detail.to_owned(),
    }
}

fn principal(request: &HttpRequest) -> Result<(Principal, i64), ApiError> {
    let issuer = request
        .app_data::<web::Data<TokenIssuer>>()
        .ok_or_else(|| ApiError::Internal("token issuer not configured".into()))?;
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            unauthenticated(
                "missing_token",
                "this request needs an access token (Authorization: Bearer …)",
            )
        })?;
    let token = value.to_str().ok().and_then(bearer).ok_or_else(|| {
        unauthenticated(
            "invalid_token",
            "the Authorization header must be `Bearer <token>`",
        )
    })?;
    let claims = issuer.verify(token).map_err(|error| match error.kind() {
        ErrorKind::ExpiredSignature => {
            unauthenticated("token_expired", "the access token has expired; refresh it")
        }
        ErrorKind::ImmatureSignature => {
            unauthenticated("invalid_token", "the access token is not valid yet")
        }
        _ => unauthenticated("invalid_token", "the access token is not valid"),
    })?;
    let invalid = || unauthenticated("invalid_token", "the access token is not valid");
    let kind = match claims.kind.as_str() {
        "staff" => AccountKind::Staff,
        "citizen" => AccountKind::Citizen,
        _ => return Err(invalid()),
    };
    let agency_id = claims
        .agency
        .as_deref()
        .map(str::parse::<AgencyId>)
        .transpose()
        .map_err(|_| invalid())?;
    let principal = Principal {
        user_id: claims.sub.parse().map_err(|_| invalid())?,
        kind,
        roles: claims.roles,
        agency_id,
        agency_path: claims.agency_path,
    };
    // Tokens from before `iat_ms` existed: their second, rounded down.
    let issued_ms = if claims.iat_ms > 0 {
        claims.iat_ms
    } else {
        claims.iat.saturating_mul(1000)
    };
    Ok((principal, issued_ms))
}

/// What the database said a moment ago about an account: whether it is
/// active, and when it last changed (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Standing {
    active: bool,
    changed_ms: i64,
}

/// Whether accounts may still act, as the database said a moment ago. An
/// access token outlives a deactivation — or a change of roles, agency or
/// password, which makes tokens issued before it stale — by at most
/// [`AccountStatus::TTL`] (in this process not at all: the account change
/// forgets the entry; in other processes when their entry expires). A
/// bounded map of account → (standing, when read).
#[derive(Debug, Default)]
pub struct AccountStatus {
    entries: Mutex<HashMap<UserId, (Standing, Instant)>>,
}

impl AccountStatus {
    /// How long an account's status is trusted before it is read again.
    pub const TTL: Duration = Duration::from_secs(5);
    const MAX_ENTRIES: usize = 100_000;

    fn cached(&self, id: UserId, now: Instant) -> Option<Standing> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&id)
            .filter(|(_, read)| now.saturating_duration_since(*read) < Self::TTL)
            .map(|(standing, _)| *standing)
    }

    fn remember(&self, id: UserId, standing: Standing, now: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.retain(|_, (_, read)| now.saturating_duration_since(*read) < Self::TTL);
            }
            if entries.len() < Self::MAX_ENTRIES {
                entries.insert(id, (standing, now));
            }
        }
    }

    /// Forgets what is known of an account (it was just changed).
    pub fn forget(&self, id: UserId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&id);
        }
    }
}

/// The principal of a valid token whose account is still active and has not
/// changed since the token was issued.
async fn active_principal(request: HttpRequest) -> Result<Principal, ApiError> {
    let (principal, issued_ms) = principal(&request)?;
    let (Some(status), Some(db)) = (
        request.app_data::<web::Data<AccountStatus>>(),
        request.app_data::<web::Data<Db>>(),
    ) else {
        return Err(ApiError::Internal("account status not configured".into()));
    };
    let now = Instant::now();
    let standing = match status.cached(principal.user_id, now) {
        Some(standing) => standing,
        None => {
            let (db, id) = (db.get_ref().clone(), principal.user_id);
            let found = web::block(move || db.run(|conn| users::find(conn, id))).await?;
            let standing = match found {
                Ok(user) => Standing {
                    active: user.active,
                    changed_ms: user.updated_at.and_utc().timestamp_millis(),
                },
                Err(DbError::NotFound) => Standing {
                    active: false,
                    changed_ms: 0,
                },
                Err(other) => return Err(other.into()),
            };
            status.remember(principal.user_id, standing, now);
            standing
        }
    };
    if !standing.active {
        return Err(unauthenticated(
            "account_inactive",
            "this account has been deactivated",
        ));
    }
    if issued_ms < standing.changed_ms {
        return Err(unauthenticated(
            "token_stale",
            "the account changed since this token was issued; refresh it",
        ));
    }
    Ok(principal)
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(active_principal(request.clone()))
    }
}
