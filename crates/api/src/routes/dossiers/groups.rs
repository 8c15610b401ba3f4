//! Interconnected procedure groups filed once (issue #15; Decree
//! 63/2024/NĐ-CP): one application and one set of documents open a dossier
//! per procedure of the group, each at the agency that decides it, with its
//! own code and legal clock, linked by the filing's id. The citizen who
//! filed it and the staff who reach its dossiers read them together.

use std::collections::BTreeMap;

use motcua_domain::procedure::{DocumentRequirement, ProcedureGroup};
use motcua_persistence::DossierGroupId;
use motcua_persistence::groups::{self, Filing};

use super::intake::{
    Attempt, Checked, Filed, check_filing, file_one, idempotency_key, procedure_in_force,
    receiving_agency, replayed, request_hash, resolving_agency, uploaded, with_retries,
};
use super::*;

/// A group filed online by a citizen.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FileGroup {
    /// The group's code (`GET /procedure-groups`).
    pub group_code: String,
    /// Receiving agency id.
    pub agency_id: String,
    /// The agency that decides a procedure of the group, by procedure
    /// code, where the citizen names one; otherwise the procedure's version
    /// says (its `decided_by` kind, else the receiving agency).
    #[serde(default)]
    pub resolving_agencies: BTreeMap<String, String>,
    /// Applicant.
    pub applicant: Applicant,
    /// Documents, each once: every procedure of the group takes those it
    /// asks for.
    pub documents: Vec<DocumentEntry>,
    /// How the results reach the citizen (one every procedure offers).
    pub result_delivery: Delivery,
    /// Where to post the results (delivery `post`).
    pub postal_address: Option<String>,
}

/// One dossier of a group's filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMemberView {
    /// Dossier id.
    pub id: String,
    /// Dossier code.
    pub code: String,
    /// Procedure.
    pub procedure_code: String,
    /// Lifecycle state.
    pub status: State,
    /// The agency that decides it.
    pub resolving_agency_id: String,
    /// By when the desk must acknowledge it (online filings).
    pub ack_due_at: Option<DateTime<Utc>>,
    /// Its legal due time, once its clock has started.
    pub due_at: Option<DateTime<Utc>>,
}

/// A group's filing and its dossiers.
#[derive(Debug, Serialize, ToSchema)]
pub struct DossierGroupView {
    /// The filing's id.
    pub id: String,
    /// The group's code.
    pub group_code: String,
    /// The group's name when filed.
    pub group_name: String,
    /// Receiving agency.
    pub agency_id: String,
    /// When it was filed.
    pub filed_at: DateTime<Utc>,
    /// Its dossiers (those the caller reaches), in the order opened.
    pub dossiers: Vec<GroupMemberView>,
}

fn view_of(filing: &Filing, members: Vec<(DossierRow, String)>) -> DossierGroupView {
    DossierGroupView {
        id: filing.id.to_string(),
        group_code: filing.group_code.clone(),
        group_name: filing.group_name.clone(),
        agency_id: filing.receiving_agency_id.to_string(),
        filed_at: utc(filing.created_at),
        dossiers: members
            .into_iter()
            .map(|(row, procedure_code)| GroupMemberView {
                id: row.id.to_string(),
                code: row.code,
                procedure_code,
                status: row.state,
                resolving_agency_id: row
                    .resolving_agency_id
                    .unwrap_or(row.receiving_agency_id)
                    .to_string(),
                ack_due_at: row.ack_due_at.map(utc),
                due_at: row.due_at.map(utc),
            })
            .collect(),
    }
}

/// What a group's filing is checked against at once: every document any of
/// its procedures asks for (mandatory where one of them requires it), and
/// the deliveries all of them offer.
fn combined(members: &[(ProcedureRow, ProcedureDefinition)]) -> Option<ProcedureDefinition> {
    let (_, first) = members.first()?;
    let mut documents: Vec<DocumentRequirement> = Vec::new();
    for (_, definition) in members {
        for requirement in &definition.documents {
            match documents.iter_mut().find(|d| d.code == requirement.code) {
                Some(known) => known.mandatory |= requirement.mandatory,
                None => documents.push(requirement.clone()),
            }
        }
    }
    let deliveries = first
        .deliveries
        .iter()
        .copied()
        .filter(|d| members.iter().all(|(_, def)| def.deliveries.contains(d)))
        .collect();
    Some(ProcedureDefinition {
        documents,
        deliveries,
        ..first.clone()
    })
}

/// File an interconnected procedure group online (citizens): one dossier
/// per procedure, in one transaction. Retries with the same
/// `Idempotency-Key` and body return the first answer.
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    request_body = FileGroup,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1 to 200 printable ASCII characters (otherwise 422)")),
    responses(
        (status = 201, description = "Filed: the group's dossiers", body = DossierGroupView),
        (status = 422, description = "Invalid filing, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/dossier-groups")]
pub async fn file_group(
    request: HttpRequest,
    principal: Principal,
    db: web::Data<Db>,
    caches: web::Data<Caches>,
    clock: web::Data<Clock>,
    history_keys: web::Data<HistoryKeys>,
    body: Body<FileGroup>,
) -> Result<HttpResponse, ApiError> {
    let now = clock.now();
    let history_key = history_keys.current().clone();
    if principal.kind != AccountKind::Citizen {
        return Err(ApiError::Forbidden);
    }
    let key = idempotency_key(&request)?;
    let hash = request_hash(body.raw.get());
    let filing = body.value;
    let db = db.get_ref().clone();
    let owner = principal.user_id;
    let filer = principal.clone();
    let view = web::block(move || {
        with_retries(&db, |conn| {
            if let Some(dossier) = replayed(conn, owner, key.as_deref(), &hash)? {
                let group = dossiers::find(conn, dossier)?.group_id.ok_or_else(|| {
                    ApiError::Validation(vec![FieldError::new(
                        "Idempotency-Key",
                        "was already used with another request body",
                    )])
                })?;
                let filing = groups::filing(conn, group)?;
                return Ok(view_of(&filing, groups::members(conn, group)?));
            }
            let code = ProcedureGroup::canonical_code(filing.group_code.trim());
            let found = match code {
                Some(code) => groups::find(conn, &code)?,
                None => None,
            };
            let Some(group) = found else {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "group_code",
                    "no such procedure group",
                )])
                .into());
            };
            let mut fields = Fields::default();
            let members = procedures_of(conn, &mut fields, &group, now)?;
            let agency = receiving_agency(conn, &mut fields, &filing.agency_id)?;
            let checked = combined(&members).and_then(|definition| {
                check_filing(
                    now,
                    &mut fields,
                    &definition,
                    &filing.applicant,
                    &filing.documents,
                    filing.result_delivery,
                    filing.postal_address.as_deref(),
                )
            });
            // One file per document (checked below: none lacks one).
            let files = uploaded(
                conn,
                &mut fields,
                &filer,
                &filing.documents,
                checked.as_ref(),
            )?;
            for code in filing.resolving_agencies.keys() {
                if !group.procedures.iter().any(|p| p.as_str() == code) {
                    fields.error(
                        &format!("resolving_agencies.{code}"),
                        "is not a procedure of the group",
                    );
                }
            }
            let mut resolving = Vec::with_capacity(members.len());
            if let Some(agency) = &agency {
                for (procedure, definition) in &members {
                    resolving.push(resolving_agency(
                        conn,
                        &mut fields,
                        &format!("resolving_agencies.{}", procedure.code),
                        filing
                            .resolving_agencies
                            .get(&procedure.code)
                            .map(String::as_str),
                        agency,
                        definition,
                    )?);
                }
            }
            fields.finish()?;
            let (Some(agency), Some(checked)) = (agency, checked) else {
                return Err(ApiError::Internal("validated filing incomplete".into()).into());
            };

            let calendar = caches.fresh(conn)?.calendar(conn, agency.id)?;
            let record = Filing {
                id: DossierGroupId::new(),
                group_code: group.code.clone(),
                group_name: group.name.clone(),
                receiving_agency_id: agency.id,
                owner_id: Some(owner),
                created_at: motcua_persistence::sql_types::to_db_time(now),
            };
            groups::insert_filing(conn, &record)?;
            let filed = Filed {
                owner,
                agency: &agency,
                calendar: &calendar,
                history_key: &history_key,
                postal_address: filing.postal_address.as_deref(),
                group_id: Some(record.id),
                portal_code: None,
                assisted_by: None,
                at: now,
            };
            let mut first = None;
            for ((procedure, definition), resolving) in members.iter().zip(resolving) {
                // The same file is attached to every dossier that asks for it.
                let (documents, files): (Vec<DocumentEntry>, Vec<FileId>) = checked
                    .documents
                    .iter()
                    .zip(&files)
                    .filter(|(d, _)| definition.asks_for(&d.requirement_code))
                    .map(|(d, f)| (d.clone(), *f))
                    .unzip();
                let own = Checked {
                    applicant: checked.applicant.clone(),
                    documents,
                    delivery: checked.delivery,
                    missing_mandatory: Vec::new(),
                };
                let row = file_one(
                    conn,
                    &filed,
                    (procedure, definition),
                    own,
                    &files,
                    resolving,
                )?;
                first.get_or_insert(row.id);
            }
            if let (Some(key), Some(first)) = (&key, first) {
                dossiers::remember_key(conn, owner, key, &hash, first, now)?;
            }
            Ok(view_of(&record, groups::members(conn, record.id)?))
        })
    })
    .await??;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/dossier-groups/{}", view.id),
        ))
        .json(view))
}

/// The version in force of each procedure of `group` that can be filed
/// online (field errors on `group_code` for the others).
fn procedures_of(
    conn: &mut DbConnection,
    fields: &mut Fields,
    group: &ProcedureGroup,
    now: DateTime<Utc>,
) -> Result<Vec<(ProcedureRow, ProcedureDefinition)>, Attempt> {
    let mut members = Vec::with_capacity(group.procedures.len());
    for code in &group.procedures {
        match procedure_in_force(conn, code.as_str(), now) {
            Ok((row, _)) if row.online_kind == "none" => fields.error(
                "group_code",
                format!("the group's procedure {code} cannot be filed online"),
            ),
            Ok(member) => members.push(member),
            Err(ApiError::Validation(_)) => fields.error(
                "group_code",
                format!("the group's procedure {code} is not in force"),
            ),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(members)
}

/// A group's filing with its dossiers: the citizen who filed it sees them
/// all; staff who read dossiers see those they reach (404 when none).
#[utoipa::path(
    tag = "dossiers",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The filing's id")),
    responses(
        (status = 200, description = "The filing and its dossiers", body = DossierGroupView),
        (status = 404, description = "No such filing in reach", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/dossier-groups/{id}")]
pub async fn get_group(
    principal: Principal,
    db: web::Data<Db>,
    id: web::Path<String>,
) -> Result<web::Json<DossierGroupView>, ApiError> {
    if principal.kind == AccountKind::Staff && principal.require(Capability::ReadDossiers).is_err()
    {
        return Err(ApiError::Forbidden);
    }
    let id = id
        .parse::<DossierGroupId>()
        .map_err(|_| ApiError::NotFound)?;
    let db = db.get_ref().clone();
    let view = web::block(move || {
        db.run(|conn| {
            let filing = found(groups::filing(conn, id))?;
            let receiving = agencies::find(conn, filing.receiving_agency_id)?;
            let mut members = Vec::new();
            for (row, code) in groups::members(conn, id)? {
                if reaches(conn, &principal, &row, &receiving.path).is_ok() {
                    members.push((row, code));
                }
            }
            if members.is_empty() {
                return Err(ApiError::NotFound);
            }
            Ok(view_of(&filing, members))
        })
    })
    .await??;
    Ok(web::Json(view))
}
