//! Registration, login, token refresh and logout, and `/me`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{NaiveDate, Utc};
use motcua_domain::contact::PhoneNumber;
use motcua_domain::lifecycle::Role;
use motcua_domain::personal_id::PersonalId;
use motcua_domain::time::to_local;
use motcua_persistence::users::{NewUser, User};
use motcua_persistence::{Db, DbError, TokenFamilyId, UserId, agencies, refresh_tokens, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{
    AccountKind, AttemptLimiter, LoginThrottle, Passwords, Principal, TokenIssuer,
    check_password_policy, hash_refresh_token, new_refresh_token,
};
use crate::error::{ApiError, Problem};
use crate::routes::agencies::AgencyView;
use crate::validate::{self, Fields};

/// A citizen's registration.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterCitizen {
    /// 12-digit personal ID (số định danh cá nhân); becomes the login name.
    #[schema(example = "027090001234")]
    pub national_id: String,
    /// Full name.
    pub full_name: String,
    /// Vietnamese mobile or landline.
    #[schema(example = "0912345678")]
    pub phone: String,
    /// E-mail, optional.
    pub email: Option<String>,
    /// Date of birth (YYYY-MM-DD), optional; must agree with the ID.
    pub date_of_birth: Option<String>,
    /// Password (10 to 128 characters).
    pub password: String,
}

/// An account as its holder or an administrator sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// Account id.
    pub id: String,
    /// `staff` or `citizen`.
    #[schema(value_type = AccountKind)]
    pub kind: String,
    /// Login name (the personal ID for citizens).
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Roles.
    #[schema(example = json!(["clerk"]))]
    pub roles: Vec<Role>,
    /// The staff member's agency.
    pub agency: Option<AgencyView>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Whether the account may log in.
    pub active: bool,
}

/// Parses a stored comma-separated role list.
pub fn parse_roles(stored: &str) -> Vec<Role> {
    stored
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect()
}

fn account_view(user: User, agency: Option<agencies::Agency>) -> AccountView {
    AccountView {
        id: user.id.to_string(),
        roles: parse_roles(&user.roles),
        kind: user.kind,
        username: user.username,
        full_name: user.full_name,
        agency: agency.map(AgencyView::from),
        phone: user.phone,
        email: user.email,
        active: user.active,
    }
}

/// Register a citizen account.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterCitizen,
    responses(
        (status = 201, description = "Registered", body = AccountView),
        (status = 409, description = "This personal ID is already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address, or too many password hashes at once; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/citizens")]
pub async fn register_citizen(
    request: HttpRequest,
    db: web::Data<Db>,
    passwords: web::Data<Passwords>,
    limit: web::Data<RegistrationLimit>,
    body: web::Json<RegisterCitizen>,
) -> Result<HttpResponse, ApiError> {
    // Every attempt counts, valid or not, answered 201 or 409: the limit
    // bounds both the hashing cost and how fast anyone can probe which
    // personal IDs are registered (docs/security.md).
    let (address, counts) = (crate::client::address(&request), db.get_ref().clone());
    web::block(move || limit.0.reserve(&counts, &address, Utc::now())).await??;
    let body = body.into_inner();
    let now = Utc::now();
    let today = to_local(now).date();
    let mut fields = Fields::default();
    let national_id = fields.check("national_id", PersonalId::parse(&body.national_id, today));
    let full_name = fields.check("full_name", validate::text(&body.full_name, 200));
    let phone = fields.check("phone", body.phone.parse::<PhoneNumber>());
    let email = match body.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) => fields.check("email", validate::email(email)),
    };
    let date_of_birth = match body.date_of_birth.as_deref() {
        None | Some("") => None,
        Some(text) => fields.check(
            "date_of_birth",
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| "must be a date, YYYY-MM-DD".to_owned())
                .and_then(|d| {
                    if d > today {
                        Err("must not be in the future".to_owned())
                    } else {
                        Ok(d)
                    }
                }),
        ),
    };
    if let (Some(id), Some(born)) = (&national_id, date_of_birth) {
        fields.check("date_of_birth", id.check_holder(Some(born), None));
    }
    fields.check(
        "password",
        check_password_policy(&body.password, &body.national_id),
    );
    fields.finish()?;
    let (Some(national_id), Some(full_name), Some(phone)) = (national_id, full_name, phone) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };

    let hash = passwords.hash_bounded(body.password).await?;
    let new = NewUser {
        id: UserId::new(),
        kind: AccountKind::Citizen.as_str().into(),
        username: national_id.as_str().to_owned(),
        full_name,
        agency_id: None,
        roles: Role::Citizen.as_str().into(),
        phone: Some(phone.as_str().to_owned()),
        email,
        date_of_birth,
        password_hash: hash,
        active: true,
        created_at: motcua_persistence::sql_types::to_db_time(now),
        updated_at: motcua_persistence::sql_types::to_db_time(now),
    };
    let db = db.get_ref().clone();
    let user = web::block(move || db.run(|conn| users::create(conn, &new)))
        .await?
        .map_err(|error| match error {
            DbError::Conflict(_) => ApiError::Conflict {
                code: "already_registered",
                detail: "an account with this personal ID already exists".into(),
            },
            other => other.into(),
        })?;
    tracing::info!(user_id = %user.id, "citizen registered");
    Ok(HttpResponse::Created().json(account_view(user, None)))
}

/// Registrations per client address: [`RegistrationLimit::PER_ADDRESS`] an hour.
#[derive(Debug)]
pub struct RegistrationLimit(pub AttemptLimiter);

impl RegistrationLimit {
    /// Registration attempts one address may make per hour.
    pub const PER_ADDRESS: u32 = 10;
}

impl Default for RegistrationLimit {
    fn default() -> Self {
        RegistrationLimit(AttemptLimiter::new(
            motcua_persistence::throttle::Kind::Registration,
            Self::PER_ADDRESS,
            std::time::Duration::from_secs(3600),
        ))
    }
}

/// Login.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The login name (staff) or personal ID (citizens).
    pub username: String,
    /// The password.
    pub password: String,
}

/// Tokens issued at login or refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque token for `/auth/refresh`; single use.
    pub refresh_token: String,
}

/// The kind of access token: bearer tokens (RFC 6750), always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum TokenType {
    /// `Authorization: Bearer <access_token>`.
    Bearer,
}

/// Stores the hash of a new refresh token in `family` (a new family at
/// login) and returns the token.
fn store_refresh_token(
    conn: &mut motcua_persistence::DbConnection,
    issuer: &TokenIssuer,
    user_id: UserId,
    family: TokenFamilyId,
) -> Result<String, DbError> {
    let now = Utc::now();
    let token = new_refresh_token();
    refresh_tokens::insert(
        conn,
        user_id,
        family,
        &hash_refresh_token(&token),
        now,
        now + issuer.settings.refresh_ttl,
    )?;
    Ok(token)
}

/// Signs an access token for the user and pairs it with the refresh token.
fn tokens(
    issuer: &TokenIssuer,
    user: &User,
    agency_path: Option<String>,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let agency = user.agency_id.map(|id| id.to_string()).zip(agency_path);
    let claims = issuer.claims(
        Utc::now(),
        user.id.to_string(),
        &user.kind,
        parse_roles(&user.roles),
        agency,
    );
    Ok(TokenResponse {
        access_token: issuer.sign(&claims).map_err(ApiError::Internal)?,
        token_type: TokenType::Bearer,
        expires_in: issuer.settings.access_ttl.num_seconds(),
        refresh_token,
    })
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthenticated {
        code: "invalid_credentials",
        detail: "the username or password is wrong".into(),
    }
}

/// Log in with a username (or personal ID) and password.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/token")]
pub async fn login(
    request: HttpRequest,
    db: web::Data<Db>,
    passwords: web::Data<Passwords>,
    issuer: web::Data<TokenIssuer>,
    throttle: web::Data<LoginThrottle>,
    body: web::Json<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    let address = crate::client::address(&request);
    // Counted before the password is hashed, with the counts locked:
    // concurrent attempts (on any server) cannot all slip past the limit.
    let (db, issuer) = (db.get_ref().clone(), issuer.into_inner());
    let (counts, who, from, limits) = (
        db.clone(),
        username.clone(),
        address.clone(),
        throttle.clone(),
    );
    web::block(move || limits.reserve(&counts, &who, &from, Utc::now())).await??;

    let name = username.trim().to_owned();
    let reader = db.clone();
    let found =
        web::block(move || reader.run(|conn| users::find_by_username(conn, &name))).await??;
    // Hashing holds no database connection (a storm of logins must not take
    // the pool from everyone else, docs/requirements.md, P7) and waits for a turn.
    let stored = found.as_ref().map(|u| u.password_hash.clone());
    let matches = passwords.verify_bounded(password, stored).await?;
    let db_for_counts = db.clone();
    let outcome = match found {
        Some(user) if matches && user.active => {
            let signing = issuer.clone();
            Some(
                web::block(move || {
                    db.write(|conn| -> Result<_, DbError> {
                        let (user, path) = users::find_with_agency_path(conn, user.id)?;
                        let refresh =
                            store_refresh_token(conn, &signing, user.id, TokenFamilyId::new())?;
                        Ok((user, path, refresh))
                    })
                })
                .await??,
            )
        }
        _ => None,
    };
    match outcome {
        Some((user, path, refresh)) => {
            let counts = db_for_counts.clone();
            web::block(move || throttle.succeeded(&counts, &username, &address, Utc::now()))
                .await??;
            tracing::info!(user_id = %user.id, "logged in");
            Ok(web::Json(tokens(&issuer, &user, path, refresh)?))
        }
        None => {
            tracing::info!("login failed");
            Err(invalid_credentials())
        }
    }
}

/// A refresh token presented for rotation or logout.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

enum Rotation {
    Rotated(Box<User>, Option<String>, String),
    Refused(&'static str, &'static str),
}

/// Exchange a refresh token for new tokens. The presented token dies;
/// presenting it again revokes the whole login (token family).
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn rotate(
    db: web::Data<Db>,
    issuer: web::Data<TokenIssuer>,
    body: web::Json<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let hash = hash_refresh_token(body.refresh_token.trim());
    let (db, issuer) = (db.get_ref().clone(), issuer.into_inner());
    let signing = issuer.clone();
    let outcome = web::block(move || {
        // A refusal is a success here: the revocation of a reused token's
        // family must be committed.
        db.write(|conn| -> Result<Rotation, DbError> {
            let now = Utc::now();
            let Some(token) = refresh_tokens::find_by_hash(conn, &hash)? else {
                return Ok(Rotation::Refused("invalid_refresh_token", "the refresh token is not valid"));
            };
            if token.revoked_at.is_some() {
                return Ok(Rotation::Refused("invalid_refresh_token", "the refresh token was revoked"));
            }
            if token.used_at.is_some() || !refresh_tokens::mark_used(conn, token.id, now)? {
                // A rotated token came back: it was stolen or replayed. End the login.
                refresh_tokens::revoke_family(conn, token.family_id, now)?;
                tracing::warn!(user_id = %token.user_id, "refresh token reused; its family is revoked");
                return Ok(Rotation::Refused(
                    "refresh_token_reused",
                    "the refresh token was already used; this login has been ended, log in again",
                ));
            }
            if token.expires_at <= motcua_persistence::sql_types::to_db_time(now) {
                return Ok(Rotation::Refused("invalid_refresh_token", "the refresh token has expired"));
            }
            let (user, path) = users::find_with_agency_path(conn, token.user_id)?;
            if !user.active {
                refresh_tokens::revoke_family(conn, token.family_id, now)?;
                return Ok(Rotation::Refused("invalid_refresh_token", "the account is deactivated"));
            }
            let refresh = store_refresh_token(conn, &signing, user.id, token.family_id)?;
            Ok(Rotation::Rotated(Box::new(user), path, refresh))
        })
    })
    .await??;
    match outcome {
        Rotation::Rotated(user, path, refresh) => {
            Ok(web::Json(tokens(&issuer, &user, path, refresh)?))
        }
        Rotation::Refused(code, detail) => Err(ApiError::Unauthenticated {
            code,
            detail: detail.into(),
        }),
    }
}

/// End a login: its refresh tokens are revoked. Access tokens run out by themselves.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Logged out (also for an unknown token)"))
)]
#[post("/auth/logout")]
pub async fn log_out(
    db: web::Data<Db>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = hash_refresh_token(body.refresh_token.trim());
    let db = db.get_ref().clone();
    web::block(move || {
        db.write(|conn| -> Result<(), DbError> {
            if let Some(token) = refresh_tokens::find_by_hash(conn, &hash)? {
                refresh_tokens::revoke_family(conn, token.family_id, Utc::now())?;
            }
            Ok(())
        })
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own account.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me")]
pub async fn me(
    principal: Principal,
    db: web::Data<Db>,
) -> Result<web::Json<AccountView>, ApiError> {
    let db = db.get_ref().clone();
    let (user, agency) = web::block(move || {
        db.run(|conn| {
            let user = users::find(conn, principal.user_id)?;
            let agency = user
                .agency_id
                .map(|id| agencies::find(conn, id))
                .transpose()?;
            Ok((user, agency))
        })
    })
    .await?
    .map_err(|error| match error {
        // The token outlived its account.
        DbError::NotFound => ApiError::Unauthenticated {
            code: "invalid_token",
            detail: "the account no longer exists".into(),
        },
        other => other.into(),
    })?;
    Ok(web::Json(account_view(user, agency)))
}
