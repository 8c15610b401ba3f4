//! The access log: staff reads of dossiers' personal data are recorded here
//! ([`AccessRecorder`]), off the dossier's hash-chained history, and auditors
//! list them within their reach, as JSON pages or CSV
//! (`GET /audit/access-log`). See docs/security.md, "The access log".

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::history::day_bounds;
use motcua_domain::lifecycle::Role;
use motcua_persistence::access_log::{self, AccessEntry, AccessFilter, NewAccess, Position};
use motcua_persistence::dossiers::DossierRow;
use motcua_persistence::{AgencyId, Db, DbError, DossierId, UserId, agencies};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AccountKind, Principal};
use crate::error::{ApiError, Problem};
use crate::policy::Capability;
use crate::routes::dossiers::visible;
use crate::routes::reports::{csv_document, wants_csv};
use crate::telemetry::RequestId;
use crate::validate::{Fields, Page, PageQuery};

/// What a staff member read: the dossier itself, one of its printed forms,
/// or its line of the outreach list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessedResource {
    /// The dossier (`GET /dossiers/{id}`).
    Dossier,
    /// Form 01, the receipt.
    Receipt,
    /// Form 02, the supplement request.
    SupplementRequest,
    /// Form 03, the refusal.
    Refusal,
    /// Form 04, the apology.
    Apology,
    /// The stop notice.
    StopNotice,
    /// The control slip.
    ControlSlip,
    /// A line of the outreach list (`GET /reports/outreach`).
    Outreach,
}

impl AccessedResource {
    const ALL: [AccessedResource; 8] = [
        AccessedResource::Dossier,
        AccessedResource::Receipt,
        AccessedResource::SupplementRequest,
        AccessedResource::Refusal,
        AccessedResource::Apology,
        AccessedResource::StopNotice,
        AccessedResource::ControlSlip,
        AccessedResource::Outreach,
    ];

    /// As stored and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessedResource::Dossier => "dossier",
            AccessedResource::Receipt => "receipt",
            AccessedResource::SupplementRequest => "supplement_request",
            AccessedResource::Refusal => "refusal",
            AccessedResource::Apology => "apology",
            AccessedResource::StopNotice => "stop_notice",
            AccessedResource::ControlSlip => "control_slip",
            AccessedResource::Outreach => "outreach",
        }
    }

    /// The resource a form key names (`receipt`, `control_slip`, …).
    pub fn form(key: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .filter(|r| !matches!(r, AccessedResource::Dossier | AccessedResource::Outreach))
            .find(|r| r.as_str() == key)
    }

    fn stored(text: &str) -> Result<Self, ApiError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| ApiError::Internal(format!("unknown access log resource {text:?}")))
    }
}

/// The staff role a read was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReaderRole {
    /// Desk clerk.
    Clerk,
    /// Processing officer.
    Officer,
    /// Leader.
    Leader,
    /// Auditor.
    Auditor,
    /// Administrator (only in reads copied from older histories, by accounts
    /// that also held a reading role).
    Admin,
}

impl ReaderRole {
    fn of(role: Role) -> Option<Self> {
        match role {
            Role::Clerk => Some(ReaderRole::Clerk),
            Role::Officer => Some(ReaderRole::Officer),
            Role::Leader => Some(ReaderRole::Leader),
            Role::Auditor => Some(ReaderRole::Auditor),
            Role::Admin => Some(ReaderRole::Admin),
            Role::Citizen | Role::PaymentGateway => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ReaderRole::Clerk => "clerk",
            ReaderRole::Officer => "officer",
            ReaderRole::Leader => "leader",
            ReaderRole::Auditor => "auditor",
            ReaderRole::Admin => "admin",
        }
    }

    fn stored(text: &str) -> Result<Self, ApiError> {
        text.parse::<Role>()
            .ok()
            .and_then(Self::of)
            .ok_or_else(|| ApiError::Internal(format!("unknown access log role {text:?}")))
    }
}

/// Records staff members' reads of dossiers in the access log. Reads that
/// arrive while a batch is being written wait for the next one, and each
/// batch is one insert in one transaction: one commit for many reads (group
/// commit) instead of one per read. A read is answered only once its batch
/// has committed: if it cannot be recorded the request fails and nothing is
/// shown. Bounded: at most [`AccessRecorder::QUEUE`] reads wait; more wait
/// for room. Citizens reading their own dossier are not recorded.
#[derive(Debug, Clone)]
pub struct AccessRecorder {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    read: Read,
    done: oneshot::Sender<Result<(), ApiError>>,
}

/// One read, owned while it waits.
#[derive(Debug)]
struct Read {
    at: DateTime<Utc>,
    actor_id: UserId,
    actor_role: &'static str,
    dossier_id: DossierId,
    agency_id: AgencyId,
    resource: &'static str,
    request_id: String,
}

impl AccessRecorder {
    /// Reads that may wait to be written.
    pub const QUEUE: usize = 4096;
    /// Reads written in one statement at most.
    const BATCH: usize = 256;

    /// Starts the writer: a thread of its own that ends when the last
    /// recorder is dropped.
    pub fn start(db: Db) -> std::io::Result<Self> {
        let (queue, mut waiting) = mpsc::channel::<Pending>(Self::QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                while let Some(first) = waiting.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < Self::BATCH {
                        match waiting.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let entries: Vec<NewAccess<'_>> = batch
                        .iter()
                        .map(|pending| NewAccess {
                            at: pending.read.at,
                            actor_id: pending.read.actor_id,
                            actor_role: pending.read.actor_role,
                            dossier_id: pending.read.dossier_id,
                            agency_id: pending.read.agency_id,
                            resource: pending.read.resource,
                            request_id: &pending.read.request_id,
                        })
                        .collect();
                    let written = db.write(|conn| access_log::append_all(conn, &entries));
                    drop(entries);
                    if let Err(error) = &written {
                        tracing::error!(%error, reads = batch.len(), "reads could not be recorded");
                    }
                    for pending in batch {
                        let answer = match &written {
                            Ok(()) => Ok(()),
                            Err(DbError::Unavailable(_) | DbError::Connect { .. }) => {
                                Err(ApiError::Unavailable)
                            }
                            Err(other) => Err(ApiError::Internal(other.to_string())),
                        };
                        // The request may have gone (its client left): nothing to tell.
                        let _ = pending.done.send(answer);
                    }
                }
            })?;
        Ok(AccessRecorder { queue })
    }

    /// Records a staff member's read of `dossier`; returns once it is
    /// committed. The role recorded is the first of the reader's roles that
    /// reads dossiers.
    pub async fn record(
        &self,
        principal: &Principal,
        dossier: &DossierRow,
        resource: AccessedResource,
        request_id: &RequestId,
        at: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if principal.kind != AccountKind::Staff {
            return Ok(());
        }
        let role = principal
            .roles
            .iter()
            .copied()
            .filter(|role| Capability::ReadDossiers.roles().contains(role))
            .find_map(ReaderRole::of)
            .ok_or(ApiError::Forbidden)?;
        let (done, answer) = oneshot::channel();
        let read = Read {
            at,
            actor_id: principal.user_id,
            actor_role: role.as_str(),
            dossier_id: dossier.id,
            agency_id: dossier.receiving_agency_id,
            resource: resource.as_str(),
            request_id: request_id.0.clone(),
        };
        let stopped = || ApiError::Internal("the access log's writer has stopped".into());
        self.queue
            .send(Pending { read, done })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Filters of the access log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogQuery {
    /// The agency whose subtree's dossiers to cover (default: the caller's
    /// agency); it must be in the caller's reach.
    pub agency_id: Option<String>,
    /// First day (YYYY-MM-DD, Vietnam time) of the reads.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive.
    pub to: Option<NaiveDate>,
    /// Only the reads of this dossier (id or code), which must be in reach.
    pub dossier: Option<String>,
    /// Only the reads by this account (id).
    pub actor_id: Option<String>,
    /// Only the reads made by this request (its `x-request-id`).
    pub request_id: Option<String>,
    /// Items per page, 1 to 500 (default 50); CSV answers are paged alike.
    pub limit: Option<i64>,
    /// From a previous page's `next_cursor` (CSV: its `x-next-cursor` header).
    pub cursor: Option<String>,
    /// `json` or `csv`; without it, CSV if `Accept` names `text/csv`.
    #[param(inline)]
    pub format: Option<ListFormat>,
}

/// The form of a list's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListFormat {
    /// A JSON page.
    Json,
    /// CSV (UTF-8 with a byte-order mark, a header row, one row per item).
    Csv,
}

/// One read of personal data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessEntryView {
    /// The entry's id (for reads copied from an older history: the event's id).
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who read (account id).
    pub actor_id: String,
    /// Their login name.
    pub actor_username: String,
    /// Their full name.
    pub actor_name: String,
    /// The role they read in.
    pub actor_role: ReaderRole,
    /// The dossier read.
    pub dossier_id: String,
    /// Its code.
    pub dossier_code: String,
    /// Its receiving agency (id).
    pub agency_id: String,
    /// That agency's electronic identifier.
    pub agency_identifier: String,
    /// What was read.
    pub resource: AccessedResource,
    /// The request's id, as its response's `x-request-id` carried it (and the
    /// server's log line); null for reads copied from an older history.
    pub request_id: Option<String>,
}

fn entry_view(entry: AccessEntry) -> Result<AccessEntryView, ApiError> {
    let row = entry.row;
    Ok(AccessEntryView {
        id: row.id.to_string(),
        at: row.at.and_utc(),
        actor_id: row.actor_id.to_string(),
        actor_username: entry.actor_username,
        actor_name: entry.actor_name,
        actor_role: ReaderRole::stored(&row.actor_role)?,
        dossier_id: row.dossier_id.to_string(),
        dossier_code: entry.dossier_code,
        agency_id: row.agency_id.to_string(),
        agency_identifier: entry.agency_identifier,
        resource: AccessedResource::stored(&row.resource)?,
        request_id: row.request_id,
    })
}

/// The header that carries a CSV page's next cursor.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

/// The CSV columns: key and Vietnamese heading.
const CSV_COLUMNS: [(&str, &str); 10] = [
    ("at", "Thời điểm"),
    ("actor_username", "Tài khoản"),
    ("actor_name", "Họ và tên"),
    ("actor_role", "Vai trò"),
    ("dossier_code", "Mã hồ sơ"),
    ("agency_identifier", "Cơ quan tiếp nhận"),
    ("resource", "Nội dung xem"),
    ("request_id", "Mã yêu cầu"),
    ("actor_id", "Mã tài khoản"),
    ("dossier_id", "Mã định danh hồ sơ"),
];

fn csv(items: &[AccessEntryView]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|e| {
            vec![
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                e.actor_username.clone(),
                e.actor_name.clone(),
                e.actor_role.as_str().to_owned(),
                e.dossier_code.clone(),
                e.agency_identifier.clone(),
                e.resource.as_str().to_owned(),
                e.request_id.clone().unwrap_or_default(),
                e.actor_id.clone(),
                e.dossier_id.clone(),
            ]
        })
        .collect();
    csv_document(&CSV_COLUMNS, &rows)
}

/// Days accepted in a period: those the service computes with.
fn day_in_range(fields: &mut Fields, field: &str, day: Option<NaiveDate>) {
    if day.is_some_and(|d| !(1900..=2200).contains(&chrono::Datelike::year(&d))) {
        fields.error(field, "must be a day between the years 1900 and 2200");
    }
}

/// Reads of personal data by staff, in the caller's reach (staff who read
/// dossiers, like `/audit/verify`), oldest first: the dossiers received in
/// the subtree of `agency_id` (default: the caller's agency), narrowed by
/// period, dossier, account or request. JSON pages, or CSV (`?format=csv`
/// or `Accept: text/csv`; UTF-8 with a BOM, a header row, one row per read,
/// paged like JSON with the next page's cursor in `x-next-cursor`).
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(AccessLogQuery),
    responses(
        (status = 200, description = "A page of the access log, as JSON or CSV",
         content((Page<AccessEntryView> = "application/json"), (String = "text/csv")),
         headers(("x-next-cursor" = String, description = "CSV only: the cursor of the next page, when there is one"))),
        (status = 404, description = "No such agency or dossier in reach", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter, period or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit/access-log")]
pub async fn list_access_log(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    query: crate::body::Query<AccessLogQuery>,
) -> Result<HttpResponse, ApiError> {
    if principal.kind != AccountKind::Staff {
        return Err(ApiError::Forbidden);
    }
    principal.require(Capability::ReadDossiers)?;
    let query = query.into_inner();
    let as_csv = match query.format {
        Some(format) => format == ListFormat::Csv,
        None => wants_csv(&request, None)?,
    };
    let (limit, cursor) = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let mut fields = Fields::default();
    let after = cursor.and_then(|c| {
        fields.check(
            "cursor",
            c.parse::<Position>()
                .map_err(|_| "is not a cursor from a previous page"),
        )
    });
    let agency = match query.agency_id.as_deref() {
        Some(text) => fields.check(
            "agency_id",
            text.parse::<AgencyId>().map_err(|_| "must be an agency id"),
        ),
        None => principal.agency_id,
    };
    let actor = query.actor_id.as_deref().and_then(|text| {
        fields.check(
            "actor_id",
            text.parse::<UserId>().map_err(|_| "must be an account id"),
        )
    });
    day_in_range(&mut fields, "from", query.from);
    day_in_range(&mut fields, "to", query.to);
    if let (Some(from), Some(to)) = (query.from, query.to)
        && to < from
    {
        fields.error("to", "must not be before from");
    }
    fields.finish()?;
    let agency = agency.ok_or(ApiError::Forbidden)?;
    let mut filter = AccessFilter {
        actor,
        request_id: query.request_id.filter(|r| !r.is_empty()),
        from: query.from.map(|day| day_bounds(day).0),
        to: query.to.map(|day| day_bounds(day).1),
        ..AccessFilter::default()
    };
    let dossier = query.dossier.filter(|d| !d.trim().is_empty());
    let db = db.get_ref().clone();
    let entries = web::block(move || {
        db.snapshot(|conn| -> Result<_, ApiError> {
            let root = match agencies::find(conn, agency) {
                Ok(found) if principal.reaches(&found.path) => found,
                Ok(_) | Err(DbError::NotFound) => return Err(ApiError::NotFound),
                Err(other) => return Err(other.into()),
            };
            filter.agency_path = Some(root.path);
            if let Some(reference) = dossier {
                filter.dossier = Some(visible(conn, &principal, reference.trim())?.id);
            }
            Ok(access_log::list(conn, &filter, after, limit + 1)?)
        })
    })
    .await??;
    let rows = entries
        .into_iter()
        .map(|entry| {
            let position = Position::of(&entry.row);
            entry_view(entry).map(|view| (position, view))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let page = Page::from_rows(
        rows,
        limit,
        |(position, _)| position.to_string(),
        |(_, view)| view,
    );
    if !as_csv {
        return Ok(HttpResponse::Ok().json(page));
    }
    let mut response = HttpResponse::Ok();
    response.content_type("text/csv; charset=utf-8");
    if let Some(next) = &page.next_cursor
        && let Ok(value) = HeaderValue::from_str(next)
    {
        response.insert_header((HeaderName::from_static(NEXT_CURSOR_HEADER), value));
    }
    Ok(response.body(csv(&page.items)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_key_and_the_dossier_name_a_resource() {
        for resource in AccessedResource::ALL {
            let text = serde_json::to_value(resource).unwrap_or_default();
            assert_eq!(text, resource.as_str());
            assert_eq!(
                AccessedResource::stored(resource.as_str()).ok(),
                Some(resource)
            );
        }
        assert_eq!(
            AccessedResource::form("control_slip"),
            Some(AccessedResource::ControlSlip)
        );
        assert_eq!(AccessedResource::form("dossier"), None);
        assert_eq!(AccessedResource::form("nonsense"), None);
    }
}
