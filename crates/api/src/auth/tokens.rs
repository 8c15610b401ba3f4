//! Access tokens (short-lived JWTs, HS256) and refresh tokens (opaque random
//! strings, stored only as SHA-256 hashes).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use motcua_domain::lifecycle::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::settings::Secret;

/// Who issues and who accepts motcua's access tokens.
pub const ISSUER: &str = "motcua";
/// The audience of access tokens: this API.
pub const AUDIENCE: &str = "motcua-api";

/// Token lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct TokenSettings {
    /// Access token lifetime (short: a deactivated account keeps access until then).
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            access_ttl: Duration::minutes(10),
            refresh_ttl: Duration::days(30),
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: `motcua`.
    pub iss: String,
    /// Audience: `motcua-api`.
    pub aud: String,
    /// The account id.
    pub sub: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Issued at, in milliseconds: a token issued before its account last
    /// changed (roles, agency, password, deactivation) is refused as stale.
    #[serde(default)]
    pub iat_ms: i64,
    /// Token id.
    pub jti: String,
    /// `staff` or `citizen`.
    pub kind: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// The staff member's agency id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// The agency's materialized path, for reach checks without a query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_path: Option<String>,
}

/// Signs and checks access tokens with the configured secret.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Lifetimes.
    pub settings: TokenSettings,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `secret` (HS256).
    pub fn new(secret: &Secret, settings: TokenSettings) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        TokenIssuer {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            settings,
        }
    }

    /// Claims for a new access token issued at `now`.
    pub fn claims(
        &self,
        now: DateTime<Utc>,
        subject: String,
        kind: &str,
        roles: Vec<Role>,
        agency: Option<(String, String)>,
    ) -> AccessClaims {
        let (agency, agency_path) = agency.unzip();
        AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: subject,
            exp: (now + self.settings.access_ttl).timestamp(),
            nbf: now.timestamp(),
            iat: now.timestamp(),
            iat_ms: now.timestamp_millis(),
            jti: uuid::Uuid::now_v7().to_string(),
            kind: kind.into(),
            roles,
            agency,
            agency_path,
        }
    }

    /// Signs claims.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| e.to_string())
    }

    /// Checks a token: signature (HS256 only, so `alg: none` and other
    /// algorithms fail), expiry, not-before, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

/// A new opaque refresh token: 244 random bits, as 64 hex digits.
pub fn new_refresh_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What is stored of a refresh token: its SHA-256, hex.
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &str) -> TokenIssuer {
        TokenIssuer::new(&Secret::new(secret), TokenSettings::default())
    }

    #[test]
    fn tokens_round_trip_and_other_keys_are_refused() {
        let issuer_a = issuer("a-secret-of-at-least-thirty-two-bytes!!");
        let claims = issuer_a.claims(Utc::now(), "user".into(), "staff", vec![Role::Clerk], None);
        let token = issuer_a.sign(&claims).unwrap_or_default();
        assert_eq!(issuer_a.verify(&token).ok(), Some(claims));
        assert!(
            issuer("another-secret-of-thirty-two-bytes!!!!")
                .verify(&token)
                .is_err()
        );
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
