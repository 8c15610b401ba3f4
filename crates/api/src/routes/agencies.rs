//! The agency tree (administrators, within their subtree).

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use motcua_domain::codes::AgencyIdentifier;
use motcua_persistence::agencies::{
    self, Agency, AgencyChanges, MergeError, NewAgency, Unmergeable,
};
use motcua_persistence::{AgencyId, Db, DbError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::body::Body;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::Capability;
use crate::validate::{self, Fields, Page, PageQuery};

pub use motcua_domain::agency::AgencyKind;

/// An agency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgencyView {
    /// Id.
    pub id: String,
    /// Electronic identifier (QCVN 102:2016 style).
    #[schema(example = "000.00.15.H49")]
    pub identifier: String,
    /// Name.
    pub name: String,
    /// `province`, `district`, `commune`, `department`, `police`, `other` or `unit`.
    #[schema(value_type = AgencyKind)]
    pub kind: String,
    /// Parent agency id (null for the root).
    pub parent_id: Option<String>,
    /// The agency it was merged into (it receives nothing new since), if any.
    pub merged_into_id: Option<String>,
    /// When it was merged.
    pub merged_at: Option<DateTime<Utc>>,
}

impl From<Agency> for AgencyView {
    fn from(agency: Agency) -> Self {
        AgencyView {
            id: agency.id.to_string(),
            identifier: agency.identifier,
            name: agency.name,
            kind: agency.kind,
            parent_id: agency.parent_id.map(|id| id.to_string()),
            merged_into_id: agency.merged_into_id.map(|id| id.to_string()),
            merged_at: agency.merged_at.map(|at| at.and_utc()),
        }
    }
}

/// A new agency, under a parent in the administrator's reach.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAgency {
    /// Electronic identifier, unique.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// `province`, `district`, `commune`, `department`, `police`, `other` or `unit`.
    #[schema(value_type = AgencyKind)]
    pub kind: String,
    /// The parent agency.
    pub parent_id: String,
}

/// Changes to an agency (the parent cannot change).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateAgency {
    /// New identifier.
    pub identifier: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New kind.
    #[schema(value_type = Option<AgencyKind>)]
    pub kind: Option<String>,
}

fn kind(value: &str) -> Result<String, String> {
    let value = value.trim();
    match AgencyKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == value)
    {
        Some(kind) => Ok(kind.as_str().to_owned()),
        None => Err(format!(
            "must be one of {}",
            AgencyKind::ALL.map(AgencyKind::as_str).join(", ")
        )),
    }
}

fn identifier(value: &str) -> Result<String, String> {
    value
        .trim()
        .parse::<AgencyIdentifier>()
        .map(String::from)
        .map_err(|e| e.to_string())
}

fn conflict(error: DbError) -> ApiError {
    match error {
        DbError::Conflict(_) => ApiError::Conflict {
            code: "identifier_taken",
            detail: "another agency has this identifier".into(),
        },
        // The parent was merged away between the check and the write.
        DbError::MissingReference(_) => merged(),
        other => other.into(),
    }
}

/// 409 `agency_merged`: a merged agency takes nothing new.
pub fn merged() -> ApiError {
    ApiError::Conflict {
        code: "agency_merged",
        detail: "the agency was merged into another and takes nothing new: use that one".into(),
    }
}

/// Finds an agency the principal may manage (404 otherwise).
fn managed(
    conn: &mut motcua_persistence::DbConnection,
    principal: &Principal,
    id: AgencyId,
) -> Result<Agency, ApiError> {
    let agency = agencies::find(conn, id)?;
    principal.require_on_agency(Capability::ManageAgencies, &agency.path)?;
    Ok(agency)
}

/// The agencies in the caller's subtree, parents before children: for
/// every staff role (an auditor chooses the agency a report is for).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of agencies", body = Page<AgencyView>),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/agencies")]
pub async fn list_agencies(
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<PageQuery>,
) -> Result<web::Json<Page<AgencyView>>, ApiError> {
    principal.require(Capability::ReadAgencies)?;
    let root = principal.reach()?.to_owned();
    let (limit, after) = query.parse()?;
    let db = db.get_ref().clone();
    let rows = web::block(move || {
        db.run(|conn| agencies::subtree_page(conn, &root, after.as_deref(), limit + 1))
    })
    .await??;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |a| a.path.clone(),
        AgencyView::from,
    )))
}

/// Create an agency under a parent in the caller's subtree.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    request_body = CreateAgency,
    responses(
        (status = 201, description = "Created", body = AgencyView),
        (status = 404, description = "No such parent in reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Identifier taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/agencies")]
pub async fn create_agency(
    principal: Principal,
    db: web::Data<Db>,
    body: web::Json<CreateAgency>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ManageAgencies)?;
    let mut fields = Fields::default();
    let identifier = fields.check("identifier", identifier(&body.identifier));
    let name = fields.check("name", validate::text(&body.name, 200));
    let kind = fields.check("kind", kind(&body.kind));
    let parent = fields.check(
        "parent_id",
        body.parent_id
            .parse::<AgencyId>()
            .map_err(|_| "must be an agency id"),
    );
    fields.finish()?;
    let (Some(identifier), Some(name), Some(kind), Some(parent)) = (identifier, name, kind, parent)
    else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let db = db.get_ref().clone();
    let agency = web::block(move || {
        db.run(|conn| {
            let parent = managed(conn, &principal, parent)?;
            if agencies::merged_away(conn, &parent.path)? {
                return Err(merged());
            }
            let new = NewAgency {
                identifier,
                name,
                kind,
                parent_id: Some(parent.id),
            };
            agencies::create(conn, &new, Utc::now()).map_err(conflict)
        })
    })
    .await??;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/agencies/{}", agency.id)))
        .json(AgencyView::from(agency)))
}

/// One agency in the caller's subtree (every staff role).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Agency id")),
    responses(
        (status = 200, description = "The agency", body = AgencyView),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/agencies/{id}")]
pub async fn get_agency(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<AgencyId>,
) -> Result<web::Json<AgencyView>, ApiError> {
    principal.require(Capability::ReadAgencies)?;
    let (db, id) = (db.get_ref().clone(), id.into_inner());
    let agency = web::block(move || {
        db.run(|conn| {
            let agency = agencies::find(conn, id)?;
            principal.require_on_agency(Capability::ReadAgencies, &agency.path)?;
            Ok::<_, ApiError>(agency)
        })
    })
    .await??;
    Ok(web::Json(agency.into()))
}

/// Change an agency's identifier, name or kind.
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Agency id")),
    request_body = UpdateAgency,
    responses(
        (status = 200, description = "The changed agency", body = AgencyView),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Identifier taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/agencies/{id}")]
pub async fn update_agency(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<AgencyId>,
    body: web::Json<UpdateAgency>,
) -> Result<web::Json<AgencyView>, ApiError> {
    principal.require(Capability::ManageAgencies)?;
    let mut fields = Fields::default();
    let changes = AgencyChanges {
        identifier: body
            .identifier
            .as_deref()
            .and_then(|v| fields.check("identifier", identifier(v))),
        name: body
            .name
            .as_deref()
            .and_then(|v| fields.check("name", validate::text(v, 200))),
        kind: body
            .kind
            .as_deref()
            .and_then(|v| fields.check("kind", kind(v))),
    };
    fields.finish()?;
    let (db, id) = (db.get_ref().clone(), id.into_inner());
    let agency = web::block(move || {
        db.run(|conn| {
            managed(conn, &principal, id)?;
            agencies::update(conn, id, &changes).map_err(conflict)
        })
    })
    .await??;
    Ok(web::Json(agency.into()))
}

/// Which agency to merge into.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeAgency {
    /// The agency that takes over (in the administrator's reach, outside the
    /// merged agency's subtree, not merged itself).
    pub into_agency_id: String,
}

/// Merge an agency into another (administrators reaching both), as the 2025
/// reorganisation merged provinces and communes: it moves, with its
/// subtree, under the agency it is merged into, whose staff and reports
/// then reach its dossiers (their codes and histories unchanged); it
/// receives nothing new. Its own staff's tokens name its old place in the
/// tree until they are refreshed (docs/lifecycle.md, "Mergers").
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The agency merged away")),
    request_body = MergeAgency,
    responses(
        (status = 200, description = "The merged agency", body = AgencyView),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Merged already (`agency_merged`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Cannot merge into that agency", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/agencies/{id}/merge")]
pub async fn merge_agency(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<AgencyId>,
    body: Body<MergeAgency>,
) -> Result<web::Json<AgencyView>, ApiError> {
    principal.require(Capability::ManageAgencies)?;
    let invalid =
        |message: &str| ApiError::Validation(vec![FieldError::new("into_agency_id", message)]);
    let into = body
        .value
        .into_agency_id
        .parse::<AgencyId>()
        .map_err(|_| invalid("must be an agency id"))?;
    let (db, id) = (db.get_ref().clone(), id.into_inner());
    let agency = web::block(move || {
        db.run(|conn| {
            managed(conn, &principal, id)?;
            match agencies::find(conn, into) {
                Ok(target) if principal.reaches(&target.path) => {}
                Ok(_) | Err(DbError::NotFound) => return Err(invalid("no such agency in reach")),
                Err(other) => return Err(other.into()),
            }
            match agencies::merge(conn, id, into, Utc::now()) {
                Ok(agency) => Ok(agency),
                Err(MergeError::Refused(Unmergeable::AlreadyMerged(_))) => Err(merged()),
                Err(MergeError::Refused(Unmergeable::IntoMerged)) => Err(invalid(
                    "was merged into another agency (or lies under one): merge into that one",
                )),
                Err(MergeError::Refused(Unmergeable::OtherKind)) => Err(invalid(
                    "is of another kind: an agency merges into one of its own kind",
                )),
                Err(MergeError::Refused(Unmergeable::IntoOwnSubtree)) => {
                    Err(invalid("is the agency itself or under it"))
                }
                Err(MergeError::Db(error)) => Err(error.into()),
            }
        })
    })
    .await??;
    Ok(web::Json(agency.into()))
}
