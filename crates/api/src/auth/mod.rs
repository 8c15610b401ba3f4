//! Authentication: password hashing, access and refresh tokens, login
//! throttling, and the [`Principal`] extractor that turns a bearer token into
//! the caller's identity.

mod passwords;
mod principal;
mod throttle;
mod tokens;

pub use passwords::{Passwords, check_password_policy};
pub(crate) use principal::bearer;
pub use principal::{AccountKind, AccountStatus, Principal};
pub use throttle::{AttemptLimiter, LoginThrottle, RateLimiter, ThrottleLimits};
pub use tokens::{AccessClaims, TokenIssuer, TokenSettings, hash_refresh_token, new_refresh_token};
