//! The public procedure catalogue, and its administration.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{NaiveDate, Utc};
use motcua_domain::codes::ProcedureCode;
use motcua_domain::online::OnlineServiceKind;
use motcua_domain::procedure::{AgencyLevel, ProcedureDefinition, ProcedureEntry, ProcedureGroup};
use motcua_domain::time::to_local;
use motcua_persistence::procedures::{self, CatalogueFilter, NewVersion, ProcedureRow};
use motcua_persistence::{Db, DbError, groups};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::body::Body;
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::Capability;
use crate::validate::Fields;

/// A procedure version as the catalogue shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcedureView {
    /// National code.
    pub code: String,
    /// Version number.
    pub version: i32,
    /// Name.
    pub name: String,
    /// Field code and name.
    pub field: FieldView,
    /// Level of the implementing agency.
    #[schema(value_type = AgencyLevel)]
    pub agency_level: String,
    /// `none`, `partial` (legacy level 3) or `full` (legacy level 4).
    #[schema(value_type = OnlineServiceKind)]
    pub online_kind: String,
    /// Legacy online service level (3 or 4), if any.
    pub legacy_level: Option<u8>,
    /// First day in force.
    pub effective_from: NaiveDate,
    /// Last day in force.
    pub effective_to: Option<NaiveDate>,
    /// Time limit, supplement mode, fees, documents, deliveries, steps (as
    /// stored from the entry's [`ProcedureDefinition`]).
    pub definition: ProcedureDefinition,
}

/// A field (lĩnh vực).
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

impl TryFrom<ProcedureRow> for ProcedureView {
    type Error = ApiError;
    fn try_from(row: ProcedureRow) -> Result<Self, ApiError> {
        let legacy_level =
            motcua_persistence::stored::from_text::<OnlineServiceKind>(&row.online_kind)
                .ok()
                .and_then(OnlineServiceKind::legacy_level);
        Ok(ProcedureView {
            definition: definition(&row)?,
            code: row.code,
            version: row.version,
            name: row.name,
            field: FieldView {
                code: row.field_code,
                name: row.field_name,
            },
            agency_level: row.agency_level,
            online_kind: row.online_kind,
            legacy_level,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
        })
    }
}

/// Parses a stored definition (validated when it was stored).
pub fn definition(row: &ProcedureRow) -> Result<ProcedureDefinition, ApiError> {
    serde_json::from_str(&row.definition)
        .map_err(|e| ApiError::Internal(format!("procedure {} definition: {e}", row.code)))
}

/// Catalogue filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// Words of the name, or part of the code.
    pub q: Option<String>,
    /// Field code, e.g. `HT`.
    pub field: Option<String>,
    /// `none`, `partial` or `full`.
    #[param(value_type = Option<OnlineServiceKind>)]
    pub online_kind: Option<String>,
    /// `commune`, `district` or `province`.
    #[param(value_type = Option<AgencyLevel>)]
    pub agency_level: Option<String>,
    /// The day (YYYY-MM-DD) whose versions to show; default today.
    pub at: Option<NaiveDate>,
}

/// The procedures in force (public).
#[utoipa::path(
    tag = "catalogue",
    params(CatalogueQuery),
    responses((status = 200, description = "Procedures in force", body = [ProcedureView]))
)]
#[get("/procedures")]
pub async fn list_procedures(
    db: web::Data<Db>,
    query: crate::body::Query<CatalogueQuery>,
) -> Result<web::Json<Vec<ProcedureView>>, ApiError> {
    let query = query.into_inner();
    let day = crate::validate::supported_day("at", query.at)?;
    let filter = CatalogueFilter {
        q: query.q.filter(|q| !q.trim().is_empty()),
        field: query.field,
        online_kind: query.online_kind,
        agency_level: query.agency_level,
    };
    let db = db.get_ref().clone();
    let rows =
        web::block(move || db.run(|conn| procedures::catalogue(conn, day, &filter))).await??;
    Ok(web::Json(
        rows.into_iter()
            .map(ProcedureView::try_from)
            .collect::<Result<_, _>>()?,
    ))
}

/// `?at=` for one procedure.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// The day (YYYY-MM-DD); default today.
    pub at: Option<NaiveDate>,
}

/// One procedure: the version in force today or on `?at=` (public).
#[utoipa::path(
    tag = "catalogue",
    params(("code" = String, Path, description = "Procedure code"), AtQuery),
    responses(
        (status = 200, description = "The version in force", body = ProcedureView),
        (status = 404, description = "No such procedure in force then", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/procedures/{code}")]
pub async fn get_procedure(
    db: web::Data<Db>,
    code: web::Path<String>,
    query: crate::body::Query<AtQuery>,
) -> Result<web::Json<ProcedureView>, ApiError> {
    let day = crate::validate::supported_day("at", query.at)?;
    let (db, code) = (db.get_ref().clone(), code.into_inner());
    let row = web::block(move || db.run(|conn| procedures::in_force(conn, &code, day))).await??;
    row.map(|row| ProcedureView::try_from(row).map(web::Json))
        .ok_or(ApiError::NotFound)?
}

/// Validates an entry and turns it into a version to store.
pub fn new_version(entry: &ProcedureEntry, today: NaiveDate) -> Result<NewVersion, ApiError> {
    let problems = entry.problems();
    if !problems.is_empty() {
        return Err(ApiError::Validation(
            problems
                .into_iter()
                .map(|(f, m)| FieldError::new(f, m))
                .collect(),
        ));
    }
    let kind = serde_json::to_value(entry.online_kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(NewVersion {
        code: entry.code.to_string(),
        name: entry.name.trim().to_owned(),
        field_code: entry.field.code.clone(),
        field_name: entry.field.name.clone(),
        agency_level: entry.agency_level.as_str().to_owned(),
        online_kind: kind,
        effective_from: entry.effective_from.unwrap_or(today),
        definition: serde_json::to_string(&entry.definition)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    })
}

async fn store(
    principal: Principal,
    db: web::Data<Db>,
    entry: ProcedureEntry,
    path_code: Option<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    if path_code.is_some_and(|code| code != entry.code.as_str()) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "code",
            "must match the code in the path",
        )]));
    }
    let version = new_version(&entry, to_local(Utc::now()).date())?;
    let db = db.get_ref().clone();
    let row =
        web::block(move || db.run(|conn| procedures::add_version(conn, &version, Utc::now())))
            .await?
            .map_err(|error| match error {
                DbError::Conflict(detail) => ApiError::Conflict {
                    code: "version_conflict",
                    detail,
                },
                other => other.into(),
            })?;
    Ok(HttpResponse::Created().json(ProcedureView::try_from(row)?))
}

/// Add a procedure to the catalogue (administrators).
#[utoipa::path(
    tag = "catalogue",
    security(("bearer" = [])),
    request_body(content = ProcedureEntry, description = "A catalogue entry, as in crates/domain/data/catalogue-demo.json"),
    responses(
        (status = 201, description = "Stored as version 1 (or the next version)", body = ProcedureView),
        (status = 422, description = "Invalid entry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/procedures")]
pub async fn create_procedure(
    principal: Principal,
    db: web::Data<Db>,
    body: web::Json<ProcedureEntry>,
) -> Result<HttpResponse, ApiError> {
    store(principal, db, body.into_inner(), None).await
}

/// Add a new version of a procedure, in force from its `effective_from` (administrators).
#[utoipa::path(
    tag = "catalogue",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "Procedure code")),
    request_body(content = ProcedureEntry, description = "The new version's entry"),
    responses(
        (status = 201, description = "The new version", body = ProcedureView),
        (status = 409, description = "Does not start after the current version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid entry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/procedures/{code}")]
pub async fn new_procedure_version(
    principal: Principal,
    db: web::Data<Db>,
    code: web::Path<String>,
    body: web::Json<ProcedureEntry>,
) -> Result<HttpResponse, ApiError> {
    store(principal, db, body.into_inner(), Some(code.into_inner())).await
}

/// A group as an administrator writes it (the code is in the path).
#[derive(Debug, Deserialize, ToSchema)]
pub struct GroupBody {
    /// Name.
    pub name: String,
    /// The legal basis, e.g. `Nghị định 63/2024/NĐ-CP`.
    pub basis: String,
    /// The codes of its procedures, each in force today, in the order their
    /// dossiers are opened.
    #[schema(example = json!(["1.001193", "1.004222"]))]
    pub procedures: Vec<String>,
}

/// The interconnected procedure groups a citizen can file at once (public).
#[utoipa::path(
    tag = "catalogue",
    responses((status = 200, description = "Every group, by code", body = [ProcedureGroup]))
)]
#[get("/procedure-groups")]
pub async fn list_groups(db: web::Data<Db>) -> Result<web::Json<Vec<ProcedureGroup>>, ApiError> {
    let db = db.get_ref().clone();
    Ok(web::Json(web::block(move || db.run(groups::list)).await??))
}

/// Enter or replace an interconnected procedure group (administrators).
#[utoipa::path(
    tag = "catalogue",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The group's code: 1 to 40 letters, digits, `.`, `-` or `_`")),
    request_body = GroupBody,
    responses(
        (status = 201, description = "Entered", body = ProcedureGroup),
        (status = 200, description = "Replaced (filings made before keep the name they were filed under)", body = ProcedureGroup),
        (status = 422, description = "Invalid group, or a procedure not in force", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/procedure-groups/{code}")]
pub async fn put_group(
    principal: Principal,
    db: web::Data<Db>,
    code: web::Path<String>,
    body: Body<GroupBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Capability::ManageCatalogue)?;
    let body = body.value;
    let invalid = |errors: Vec<FieldError>| Err(ApiError::Validation(errors));
    if !(2..=ProcedureGroup::MAX_PROCEDURES).contains(&body.procedures.len()) {
        // Before anything is read: a list of any length costs nothing.
        return invalid(vec![FieldError::new(
            "procedures",
            format!(
                "a group joins 2 to {} different procedures",
                ProcedureGroup::MAX_PROCEDURES
            ),
        )]);
    }
    let mut fields = Fields::default();
    let procedures: Vec<ProcedureCode> = body
        .procedures
        .iter()
        .enumerate()
        .filter_map(|(i, code)| {
            fields.check(
                &format!("procedures[{i}]"),
                code.trim().parse::<ProcedureCode>(),
            )
        })
        .collect();
    let code = code.into_inner();
    let group = ProcedureGroup {
        code: ProcedureGroup::canonical_code(&code).unwrap_or(code),
        name: body.name.trim().to_owned(),
        basis: body.basis.trim().to_owned(),
        procedures,
    };
    for (field, message) in group.problems() {
        fields.error(field, message);
    }
    fields.finish()?;
    let today = to_local(Utc::now()).date();
    let db = db.get_ref().clone();
    let (group, created) = web::block(move || {
        db.write(|conn| {
            let mut fields = Fields::default();
            for (i, code) in group.procedures.iter().enumerate() {
                match procedures::in_force(conn, code.as_str(), today)? {
                    None => fields.error(
                        &format!("procedures[{i}]"),
                        "no procedure with this code is in force",
                    ),
                    // A group is filed online: each of its procedures must be.
                    Some(row) if row.online_kind == "none" => {
                        fields.error(&format!("procedures[{i}]"), "cannot be filed online")
                    }
                    Some(_) => {}
                }
            }
            fields.finish()?;
            let created = groups::put(conn, &group, Utc::now())?;
            Ok::<_, ApiError>((group, created))
        })
    })
    .await??;
    Ok(if created {
        HttpResponse::Created().json(group)
    } else {
        HttpResponse::Ok().json(group)
    })
}
