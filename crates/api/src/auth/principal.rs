//! The caller, as proven by a bearer access token.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::errors::ErrorKind;
use motcua_domain::lifecycle::Role;
use motcua_persistence::Id;

use crate::auth::TokenIssuer;
use crate::error::ApiError;

/// Staff member or citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub user_id: Id,
    /// Staff or citizen.
    pub kind: AccountKind,
    /// Roles held.
    pub roles: Vec<Role>,
    /// The staff member's agency.
    pub agency_id: Option<Id>,
    /// That agency's materialized path.
    pub agency_path: Option<String>,
}

fn unauthenticated(code: &'static str, detail: &str) -> ApiError {
    ApiError::Unauthenticated {
        code,
        detail: detail.to_owned(),
    }
}

fn principal(request: &HttpRequest) -> Result<Principal, ApiError> {
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
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
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
        .map(str::parse::<Id>)
        .transpose()
        .map_err(|_| invalid())?;
    Ok(Principal {
        user_id: claims.sub.parse().map_err(|_| invalid())?,
        kind,
        roles: claims.roles,
        agency_id,
        agency_path: claims.agency_path,
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal(request))
    }
}
