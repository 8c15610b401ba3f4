//! Staff accounts (administrators, within their subtree).

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::Utc;
use motcua_domain::lifecycle::Role;
use motcua_persistence::sql_types::to_db_time;
use motcua_persistence::users::{NewUser, User, UserChanges};
use motcua_persistence::{
    AgencyId, Db, DbConnection, DbError, UserId, agencies, refresh_tokens, users,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AccountKind, AccountStatus, Passwords, Principal, check_password_policy};
use crate::error::{ApiError, Problem};
use crate::policy::Capability;
use crate::routes::auth::parse_roles;
use crate::validate::{self, Fields, Page, PageQuery};

/// A staff account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Agency id.
    pub agency_id: Option<String>,
    /// Roles.
    #[schema(example = json!(["clerk"]))]
    pub roles: Vec<Role>,
    /// Whether the account may log in.
    pub active: bool,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id.to_string(),
            roles: parse_roles(&user.roles),
            username: user.username,
            full_name: user.full_name,
            agency_id: user.agency_id.map(|id| id.to_string()),
            active: user.active,
        }
    }
}

/// A new staff account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUser {
    /// Login name: 3 to 64 of a-z, 0-9, `.`, `_`, `-`.
    #[schema(example = "clerk.tienson")]
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// The agency, in the administrator's subtree.
    pub agency_id: String,
    /// Roles: staff roles only (clerk, officer, leader, auditor, admin).
    #[schema(value_type = Vec<Role>, example = json!(["clerk"]))]
    pub roles: Vec<String>,
    /// Initial password.
    pub password: String,
}

/// Changes to a staff account. Deactivating it, or changing its password,
/// ends its logins at once (refresh tokens revoked).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUser {
    /// New full name.
    pub full_name: Option<String>,
    /// New roles: staff roles only (clerk, officer, leader, auditor, admin).
    #[schema(value_type = Option<Vec<Role>>)]
    pub roles: Option<Vec<String>>,
    /// Move to another agency in reach.
    pub agency_id: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// New password.
    pub password: Option<String>,
}

fn roles(values: &[String]) -> Result<String, String> {
    let mut roles: Vec<Role> = Vec::new();
    for value in values {
        let role: Role = value.trim().parse()?;
        if !Role::STAFF.contains(&role) {
            return Err(format!(
                "`{value}` is not a staff role (clerk, officer, leader, auditor, admin)"
            ));
        }
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err("at least one role is needed".into());
    }
    Ok(roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

/// A staff account the principal may manage, with its agency's path (404 otherwise).
fn managed(conn: &mut DbConnection, principal: &Principal, id: UserId) -> Result<User, ApiError> {
    let (user, path) = users::find_with_agency_path(conn, id)?;
    match path {
        Some(path) if user.kind == AccountKind::Staff.as_str() => {
            principal.require_on_agency(Capability::ManageUsers, &path)?;
            Ok(user)
        }
        _ => Err(ApiError::NotFound),
    }
}

/// An agency the principal may assign staff to (404 otherwise; 409
/// `agency_merged` for one merged away).
fn assignable(
    conn: &mut DbConnection,
    principal: &Principal,
    agency: AgencyId,
) -> Result<AgencyId, ApiError> {
    let agency = agencies::find(conn, agency)?;
    principal.require_on_agency(Capability::ManageUsers, &agency.path)?;
    if agencies::merged_away(conn, &agency.path)? {
        return Err(crate::routes::agencies::merged());
    }
    Ok(agency.id)
}

fn taken(error: DbError) -> ApiError {
    match error {
        DbError::Conflict(_) => ApiError::Conflict {
            code: "username_taken",
            detail: "another account has this username".into(),
        },
        other => other.into(),
    }
}

/// Staff accounts in the caller's subtree.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of accounts", body = Page<UserView>),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<PageQuery>,
) -> Result<web::Json<Page<UserView>>, ApiError> {
    principal.require(Capability::ManageUsers)?;
    let root = principal.reach()?.to_owned();
    let (limit, after) = query.parse()?;
    let after = after
        .map(|cursor| cursor.parse::<UserId>())
        .transpose()
        .map_err(|_| {
            ApiError::Validation(vec![crate::error::FieldError::new(
                "cursor",
                "is not a cursor from a previous page",
            )])
        })?;
    let db = db.get_ref().clone();
    let rows = web::block(move || {
        db.run(|conn| users::list_staff_in_subtree(conn, &root, after, limit + 1))
    })
    .await??;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |u| u.id.to_string(),
        UserView::from,
    )))
}

/// Create a staff account in the caller's subtree.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    principal: Principal,
    db: web::Data<Db>,
    passwords: web::Data<Passwords>,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ManageUsers)?;
    let body = body.into_inner();
    let mut fields = Fields::default();
    let name = fields.check("username", crate::validate::staff_username(&body.username));
    let full_name = fields.check("full_name", validate::text(&body.full_name, 200));
    let agency = fields.check(
        "agency_id",
        body.agency_id
            .parse::<AgencyId>()
            .map_err(|_| "must be an agency id"),
    );
    let roles = fields.check("roles", roles(&body.roles));
    fields.check(
        "password",
        check_password_policy(&body.password, &body.username),
    );
    fields.finish()?;
    let (Some(name), Some(full_name), Some(agency), Some(roles)) = (name, full_name, agency, roles)
    else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let hash = passwords.hash_bounded(body.password).await?;
    let db = db.get_ref().clone();
    let user = web::block(move || {
        db.run(|conn| {
            let agency = assignable(conn, &principal, agency)?;
            let now = to_db_time(Utc::now());
            let new = NewUser {
                id: UserId::new(),
                kind: AccountKind::Staff.as_str().into(),
                username: name,
                full_name,
                agency_id: Some(agency),
                roles,
                phone: None,
                email: None,
                date_of_birth: None,
                password_hash: hash,
                active: true,
                created_at: now,
                updated_at: now,
            };
            users::create(conn, &new).map_err(taken)
        })
    })
    .await??;
    tracing::info!(user_id = %user.id, "staff account created");
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/users/{}", user.id)))
        .json(UserView::from(user)))
}

/// One staff account in the caller's subtree.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 404, description = "No such account in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users/{id}")]
pub async fn get_user(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<UserId>,
) -> Result<web::Json<UserView>, ApiError> {
    principal.require(Capability::ManageUsers)?;
    let (db, id) = (db.get_ref().clone(), id.into_inner());
    let user = web::block(move || db.run(|conn| managed(conn, &principal, id))).await??;
    Ok(web::Json(user.into()))
}

/// Change a staff account: name, roles, agency, activation, password.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed account", body = UserView),
        (status = 404, description = "No such account (or agency) in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    principal: Principal,
    db: web::Data<Db>,
    passwords: web::Data<Passwords>,
    status: web::Data<AccountStatus>,
    id: web::Path<UserId>,
    body: web::Json<UpdateUser>,
) -> Result<web::Json<UserView>, ApiError> {
    principal.require(Capability::ManageUsers)?;
    let body = body.into_inner();
    let id = id.into_inner();
    let mut fields = Fields::default();
    let full_name = body
        .full_name
        .as_deref()
        .and_then(|v| fields.check("full_name", validate::text(v, 200)));
    let new_roles = body
        .roles
        .as_deref()
        .and_then(|v| fields.check("roles", roles(v)));
    let agency = body.agency_id.as_deref().and_then(|v| {
        fields.check(
            "agency_id",
            v.parse::<AgencyId>().map_err(|_| "must be an agency id"),
        )
    });
    if let Some(password) = &body.password {
        fields.check("password", check_password_policy(password, ""));
    }
    fields.finish()?;
    let password_hash = match body.password {
        Some(password) => Some(passwords.hash_bounded(password).await?),
        None => None,
    };
    let db = db.get_ref().clone();
    let user = web::block(move || {
        db.write(|conn| -> Result<_, ApiError> {
            managed(conn, &principal, id)?;
            let agency_id = agency
                .map(|a| assignable(conn, &principal, a))
                .transpose()?;
            let ends_logins = body.active == Some(false) || password_hash.is_some();
            let changes = UserChanges {
                full_name,
                roles: new_roles,
                agency_id,
                active: body.active,
                password_hash,
            };
            let now = Utc::now();
            let user = users::update(conn, id, &changes, now)?;
            if ends_logins {
                refresh_tokens::revoke_user(conn, id, now)?;
            }
            Ok(user)
        })
    })
    .await??;
    status.forget(user.id);
    tracing::info!(user_id = %user.id, "staff account changed");
    Ok(web::Json(user.into()))
}
