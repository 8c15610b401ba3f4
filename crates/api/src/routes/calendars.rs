//! `GET/PUT /agencies/{id}/calendar/{year}` and `POST /deadlines/preview`.

use actix_web::{get, post, put, web};
use chrono::{DateTime, Utc};
use motcua_domain::calendar::CalendarLayer;
use motcua_domain::calendar_spec::YearSpec;
use motcua_domain::clock::{self, ClockEvent, ClockInput, PauseCause, TimeLimit};
use motcua_domain::explain::Step;
use motcua_domain::time::to_local;
use motcua_persistence::calendars as stored;
use motcua_persistence::{AgencyId, Db, DbError, agencies, procedures};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::calendars::{calendar_for, layers, merged};
use crate::error::{ApiError, FieldError, Problem};
use crate::policy::Capability;
use crate::routes::catalogue::definition;

/// A year of an agency's calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarView {
    /// The year.
    pub year: i32,
    /// The agency's own overrides for the year (empty: it inherits everything).
    pub own: YearSpec,
    /// What the agency counts on: the national calendar, its ancestors' and its own rules.
    pub effective: YearSpec,
    /// Whether the year's official schedule is announced (otherwise deadlines into it are provisional).
    pub announced: bool,
}

impl CalendarView {
    /// The year as the agency's chain of layers (most general first) gives it.
    fn of(year: i32, chain: &[CalendarLayer]) -> Self {
        let all = merged(chain);
        CalendarView {
            year,
            own: chain
                .last()
                .map(|layer| YearSpec::of(layer, year))
                .unwrap_or_default(),
            effective: YearSpec::of(&all, year),
            announced: all.years.get(&year).is_some_and(|c| c.is_announced()),
        }
    }
}

fn year_of(year: i32) -> Result<i32, ApiError> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(ApiError::Validation(vec![FieldError::new(
            "year",
            "must be between 2000 and 2100",
        )]))
    }
}

/// An agency's calendar for a year (administrators, within their subtree).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Agency id"), ("year" = i32, Path, description = "Year")),
    responses(
        (status = 200, description = "The year's calendar", body = CalendarView),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/agencies/{id}/calendar/{year}")]
pub async fn get_calendar(
    principal: Principal,
    db: web::Data<Db>,
    path: web::Path<(AgencyId, i32)>,
) -> Result<web::Json<CalendarView>, ApiError> {
    principal.require(Capability::ManageAgencies)?;
    let (id, year) = path.into_inner();
    let year = year_of(year)?;
    let db = db.get_ref().clone();
    let chain = web::block(move || {
        db.run(|conn| {
            let agency = agencies::find(conn, id)?;
            if !principal.reaches(&agency.path) {
                return Err(ApiError::NotFound);
            }
            layers(conn, &agency)
        })
    })
    .await??;
    Ok(web::Json(CalendarView::of(year, &chain)))
}

/// Set an agency's own rules for a year: weekly hours and dated days off or
/// working days; they override its parent's (administrators, within their subtree).
#[utoipa::path(
    tag = "administration",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Agency id"), ("year" = i32, Path, description = "Year")),
    request_body(content = YearSpec, description = "The agency's own weekly hours (optional) and dated days off or working days for the year"),
    responses(
        (status = 200, description = "The year's calendar after the change", body = CalendarView),
        (status = 404, description = "No such agency in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid calendar", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/agencies/{id}/calendar/{year}")]
pub async fn put_calendar(
    principal: Principal,
    db: web::Data<Db>,
    path: web::Path<(AgencyId, i32)>,
    body: web::Json<YearSpec>,
) -> Result<web::Json<CalendarView>, ApiError> {
    principal.require(Capability::ManageAgencies)?;
    let (id, year) = path.into_inner();
    let year = year_of(year)?;
    let spec = body.into_inner();
    spec.apply(year, &mut CalendarLayer::default())
        .map_err(|e| ApiError::Validation(vec![FieldError::new(e.field, e.message)]))?;
    let db = db.get_ref().clone();
    let check = principal.clone();
    let chain = web::block(move || {
        db.run(|conn| {
            let agency = agencies::find(conn, id)?;
            if !check.reaches(&agency.path) {
                return Err(ApiError::NotFound);
            }
            let weekly = spec
                .weekly
                .as_ref()
                .map(|w| serde_json::to_string(w).unwrap_or_default());
            let days = serde_json::to_string(&spec.days).unwrap_or_default();
            stored::put(
                conn,
                &agency.id.to_string(),
                year,
                weekly.as_deref(),
                &days,
                None,
                Utc::now(),
            )?;
            layers(conn, &agency)
        })
    })
    .await??;
    Ok(web::Json(CalendarView::of(year, &chain)))
}

/// A hypothetical filing.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PreviewRequest {
    /// The receiving agency (its calendar is used).
    pub agency_id: String,
    /// A procedure code (its time limit is used) …
    pub procedure_code: Option<String>,
    /// … or a time limit.
    pub time_limit: Option<TimeLimit>,
    /// When the complete dossier would be received (RFC 3339).
    pub received_at: DateTime<Utc>,
    /// Pauses of the clock (waiting for a supplement), in order.
    #[serde(default)]
    pub pauses: Vec<Pause>,
}

/// A pause of the clock.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Pause {
    /// From.
    pub from: DateTime<Utc>,
    /// To.
    pub to: DateTime<Utc>,
}

/// Where a hypothetical filing's deadline would fall, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// When the clock would start.
    pub effective_start: DateTime<Utc>,
    /// The legal due time.
    pub due_at: DateTime<Utc>,
    /// Working seconds in the budget.
    pub budget_seconds: i64,
    /// Years without an announced calendar the answer rests on.
    pub provisional_years: Vec<i32>,
    /// The steps, structured.
    pub explanation: Vec<Step>,
    /// The steps in Vietnamese.
    pub explanation_vi: Vec<String>,
}

/// Preview a deadline for a hypothetical filing (public, rate limited).
#[utoipa::path(
    tag = "catalogue",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The deadline and its explanation", body = Preview),
        (status = 422, description = "Invalid request", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many previews from this address; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/preview")]
pub async fn preview(
    db: web::Data<Db>,
    body: web::Json<PreviewRequest>,
) -> Result<web::Json<Preview>, ApiError> {
    let request = body.into_inner();
    let agency = request.agency_id.parse::<AgencyId>().map_err(|_| {
        ApiError::Validation(vec![FieldError::new("agency_id", "must be an agency id")])
    })?;
    if request.procedure_code.is_some() == request.time_limit.is_some() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "procedure_code",
            "give either procedure_code or time_limit",
        )]));
    }
    let mut events = Vec::new();
    let mut last = request.received_at;
    for (i, pause) in request.pauses.iter().enumerate() {
        if pause.from < last || pause.to < pause.from {
            return Err(ApiError::Validation(vec![FieldError::new(
                format!("pauses[{i}]"),
                "pauses must be in order, after the receipt, each ending after it starts",
            )]));
        }
        events.push(ClockEvent::Paused {
            at: pause.from,
            cause: PauseCause::Supplement,
        });
        events.push(ClockEvent::Resumed { at: pause.to });
        last = pause.to;
    }
    let db = db.get_ref().clone();
    let code = request.procedure_code.clone();
    let day = to_local(request.received_at).date();
    let (calendar, limit) = web::block(move || {
        db.run(|conn| {
            let agency = match agencies::find(conn, agency) {
                Ok(agency) => agency,
                Err(DbError::NotFound) => {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "agency_id",
                        "no such agency",
                    )]));
                }
                Err(other) => return Err(other.into()),
            };
            let limit = match &code {
                Some(code) => match procedures::in_force(conn, code, day)? {
                    Some(row) => Some(definition(&row)?.time_limit),
                    None => {
                        return Err(ApiError::Validation(vec![FieldError::new(
                            "procedure_code",
                            "no procedure with this code is in force then",
                        )]));
                    }
                },
                None => None,
            };
            Ok((calendar_for(conn, &agency)?, limit))
        })
    })
    .await??;
    let limit = limit
        .or(request.time_limit)
        .ok_or_else(|| ApiError::Internal("no time limit".into()))?;
    let input = ClockInput {
        calendar: &calendar,
        limit,
        received_at: request.received_at,
        events: &events,
    };
    let (clock, steps) = clock::evaluate_explained(input, last)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("received_at", e.to_string())]))?;
    Ok(web::Json(Preview {
        effective_start: clock.effective_start,
        due_at: clock.due_at,
        budget_seconds: clock.budget.num_seconds(),
        provisional_years: clock.provisional_years.clone(),
        explanation_vi: steps.iter().map(Step::vietnamese).collect(),
        explanation: steps,
    }))
}
