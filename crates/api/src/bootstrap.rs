//! Getting a fresh database going: the first administrator
//! (`motcua create-admin`) and the demo province (`motcua serve --demo`).

use chrono::{NaiveDate, Utc};
use motcua_domain::lifecycle::Role;
use motcua_domain::procedure::{CatalogueFile, DEMO_CATALOGUE_JSON};
use motcua_domain::time::to_local;
use motcua_persistence::agencies::{self, NewAgency};
use motcua_persistence::procedures;
use motcua_persistence::sql_types::to_db_time;
use motcua_persistence::users::{self, NewUser};
use motcua_persistence::{AgencyId, Db, DbError, UserId};

use crate::routes::catalogue::new_version;

use crate::auth::{AccountKind, Passwords, check_password_policy};

/// Why bootstrapping failed, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A bad argument or password.
    #[error("{0}")]
    Invalid(String),
    /// The database refused.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The demo was not seeded, and why.
    #[error("no demo data seeded: {0:?}")]
    NotSeeded(NotSeeded),
}

/// A new, active staff account.
fn staff_account(
    username: &str,
    full_name: &str,
    agency: AgencyId,
    roles: &str,
    password_hash: &str,
) -> NewUser {
    let now = to_db_time(Utc::now());
    NewUser {
        id: UserId::new(),
        kind: AccountKind::Staff.as_str().into(),
        username: username.into(),
        full_name: full_name.into(),
        agency_id: Some(agency),
        roles: roles.into(),
        phone: None,
        email: None,
        date_of_birth: None,
        password_hash: password_hash.into(),
        active: true,
        created_at: now,
        updated_at: now,
    }
}

/// The first (or another) administrator.
#[derive(Debug, Clone)]
pub struct AdminRequest {
    /// The agency's electronic identifier; created (as a province) if there is no agency yet.
    pub agency_identifier: String,
    /// Name for a newly created agency (defaults to the identifier).
    pub agency_name: Option<String>,
    /// Login name.
    pub username: String,
    /// Full name (defaults to the username).
    pub full_name: Option<String>,
    /// Password (from the environment or standard input, never an argument).
    pub password: String,
}

impl AdminRequest {
    /// Checks what can be checked without the database: the password
    /// policy and the agency identifier's form.
    pub fn check(&self) -> Result<(), BootstrapError> {
        crate::validate::staff_username(&self.username)
            .map_err(|reason| BootstrapError::Invalid(format!("the username {reason}")))?;
        check_password_policy(&self.password, &self.username)
            .map_err(|reason| BootstrapError::Invalid(format!("the password {reason}")))?;
        self.agency_identifier
            .parse::<motcua_domain::codes::AgencyIdentifier>()
            .map_err(|e| BootstrapError::Invalid(e.to_string()))?;
        Ok(())
    }
}

/// Creates an administrator; the agency too if the database has none.
/// Returns whether the agency was created.
pub fn create_admin(
    db: &Db,
    passwords: &Passwords,
    request: &AdminRequest,
) -> Result<bool, BootstrapError> {
    request.check()?;
    let hash = passwords
        .hash(&request.password)
        .map_err(BootstrapError::Invalid)?;
    db.write(|conn| {
        let (agency, created) =
            match agencies::find_by_identifier(conn, &request.agency_identifier)? {
                Some(agency) => (agency, false),
                None if agencies::count(conn)? == 0 => {
                    let new = NewAgency {
                        identifier: request.agency_identifier.clone(),
                        name: request
                            .agency_name
                            .clone()
                            .unwrap_or_else(|| request.agency_identifier.clone()),
                        kind: "province".into(),
                        parent_id: None,
                    };
                    (agencies::create(conn, &new, Utc::now())?, true)
                }
                None => {
                    return Err(BootstrapError::Invalid(format!(
                        "no agency has the identifier {}",
                        request.agency_identifier
                    )));
                }
            };
        let result = users::create(
            conn,
            &staff_account(
                &request.username,
                request.full_name.as_deref().unwrap_or(&request.username),
                agency.id,
                Role::Admin.as_str(),
                &hash,
            ),
        );
        match result {
            Ok(_) => Ok(created),
            Err(DbError::Conflict(_)) => Err(BootstrapError::Invalid(format!(
                "the username {} is taken",
                request.username
            ))),
            Err(other) => Err(other.into()),
        }
    })
}

/// Imports a catalogue file (`{"procedures": [...]}`): each procedure whose
/// code is not in the catalogue yet is added as version 1, in force from its
/// `effective_from` or from today. Returns (added, already present).
pub fn import_catalogue(db: &Db, json: &str) -> Result<(usize, usize), BootstrapError> {
    let file: CatalogueFile = serde_json::from_str(json)
        .map_err(|e| BootstrapError::Invalid(format!("catalogue file: {e}")))?;
    let today = to_local(Utc::now()).date();
    let versions = file
        .procedures
        .iter()
        .map(|entry| {
            new_version(entry, today).map_err(|error| {
                BootstrapError::Invalid(format!("{}: {}", entry.code, describe(&error)))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    db.write(|conn| {
        let (mut added, mut present) = (0, 0);
        for version in &versions {
            if procedures::in_force(conn, &version.code, version.effective_from)?.is_some() {
                present += 1;
            } else {
                procedures::add_version(conn, version, Utc::now())?;
                added += 1;
            }
        }
        Ok((added, present))
    })
}

fn describe(error: &crate::error::ApiError) -> String {
    match error {
        crate::error::ApiError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// One seeded demo account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    /// Login name.
    pub username: String,
    /// Roles, comma-separated.
    pub roles: String,
    /// The agency's name.
    pub agency: String,
}

/// Accounts that read a generated province's reports (`motcua gen-data
/// --accounts`): an administrator and an auditor at the province, named
/// after it, made if missing, all with `password`. Returns those made.
pub fn report_accounts(
    db: &Db,
    passwords: &Passwords,
    password: &str,
    province: &agencies::Agency,
) -> Result<Vec<DemoAccount>, BootstrapError> {
    check_password_policy(password, "")
        .map_err(|reason| BootstrapError::Invalid(format!("MOTCUA_DEMO_PASSWORD {reason}")))?;
    let code = province
        .identifier
        .rsplit('.')
        .next()
        .unwrap_or("")
        .to_lowercase();
    let wanted = [
        (
            format!("admin.{code}"),
            "Quản trị (dữ liệu sinh)",
            Role::Admin,
        ),
        (
            format!("auditor.{code}"),
            "Giám sát (dữ liệu sinh)",
            Role::Auditor,
        ),
    ];
    let mut made = Vec::new();
    for (username, full_name, role) in wanted {
        if db
            .run(|conn| users::find_by_username(conn, &username))?
            .is_some()
        {
            continue;
        }
        let hash = passwords.hash(password).map_err(BootstrapError::Invalid)?;
        db.write(|conn| {
            users::create(
                conn,
                &staff_account(&username, full_name, province.id, role.as_str(), &hash),
            )
        })?;
        made.push(DemoAccount {
            username,
            roles: role.as_str().into(),
            agency: province.name.clone(),
        });
    }
    Ok(made)
}

/// The demo citizen's login: a valid personal ID (Bắc Ninh, male, born 1990).
pub const DEMO_CITIZEN: &str = "027090001234";

/// The demo province's identifier.
pub const DEMO_PROVINCE: &str = "000.00.00.H27";

/// Why the demo was not seeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSeeded {
    /// The demo province and its accounts are there already (seeded before).
    AlreadySeeded,
    /// Another agency has the demo province's identifier (e.g. made by
    /// `create-admin`).
    ProvinceTaken,
    /// An account has one of the demo's usernames.
    UsernameTaken(String),
}

/// Seeds the demo province and its accounts unless the province exists or
/// one of its usernames is taken (a database with other agencies, such as
/// a generated province, gets the demo beside them); returns the accounts
/// made (all with `password`), or [`BootstrapError::NotSeeded`] with the
/// reason (the transaction then rolls back).
pub fn seed_demo(
    db: &Db,
    passwords: &Passwords,
    password: &str,
) -> Result<Vec<DemoAccount>, BootstrapError> {
    check_password_policy(password, "")
        .map_err(|reason| BootstrapError::Invalid(format!("MOTCUA_DEMO_PASSWORD {reason}")))?;
    let not_seeded = |conn: &mut motcua_persistence::DbConnection,
                      usernames: &[&str]|
     -> Result<Option<NotSeeded>, DbError> {
        if agencies::find_by_identifier(conn, DEMO_PROVINCE)?.is_some() {
            return Ok(Some(
                if users::find_by_username(conn, DEMO_CITIZEN)?.is_some() {
                    NotSeeded::AlreadySeeded
                } else {
                    NotSeeded::ProvinceTaken
                },
            ));
        }
        for username in usernames {
            if users::find_by_username(conn, username)?.is_some() {
                return Ok(Some(NotSeeded::UsernameTaken((*username).into())));
            }
        }
        Ok(None)
    };
    let staff: [(&str, &str, usize, &[Role]); 10] = [
        ("admin", "Quản trị tỉnh", 0, &[Role::Admin]),
        ("clerk", "Nguyễn Thị Thu (một cửa)", 1, &[Role::Clerk]),
        (
            "officer",
            "Trần Văn Bình (chuyên viên)",
            1,
            &[Role::Officer],
        ),
        ("leader", "Lê Văn Cường (lãnh đạo)", 1, &[Role::Leader]),
        ("auditor", "Phạm Thị Dung (giám sát)", 1, &[Role::Auditor]),
        ("clerk-2", "Hoàng Văn Em (một cửa)", 2, &[Role::Clerk]),
        (
            "auditor-province",
            "Vũ Thị Giang (giám sát tỉnh)",
            0,
            &[Role::Auditor],
        ),
        (
            "officer-stp",
            "Đặng Văn Hải (chuyên viên Sở Tư pháp)",
            4,
            &[Role::Officer],
        ),
        (
            "leader-stp",
            "Bùi Thị Lan (lãnh đạo Sở Tư pháp)",
            4,
            &[Role::Leader],
        ),
        (
            "officer-ca",
            "Ngô Văn Khánh (công an phường)",
            6,
            &[Role::Officer],
        ),
    ];
    let usernames: Vec<&str> = staff
        .iter()
        .map(|(username, ..)| *username)
        .chain([DEMO_CITIZEN])
        .collect();
    if let Some(reason) = db.run(|conn| not_seeded(conn, &usernames))? {
        return Err(BootstrapError::NotSeeded(reason));
    }
    // Hash before opening the transaction: hashing is slow on purpose.
    let hashes: Vec<String> = (0..=staff.len())
        .map(|_| passwords.hash(password))
        .collect::<Result<_, _>>()
        .map_err(BootstrapError::Invalid)?;
    let accounts = db.write(|conn| -> Result<_, BootstrapError> {
        // Servers started at once with --demo seed it once; the others find
        // it seeded.
        conn.lock_key("demo seed")?;
        if let Some(reason) = not_seeded(conn, &usernames)? {
            return Err(BootstrapError::NotSeeded(reason));
        }
        let now = Utc::now();
        let province = agencies::create(
            conn,
            &NewAgency {
                identifier: DEMO_PROVINCE.into(),
                name: "Tỉnh Bắc Ninh (demo)".into(),
                kind: "province".into(),
                parent_id: None,
            },
            now,
        )?;
        let mut tree = vec![province];
        // Two tiers since 1 July 2025: communes and wards, the province's
        // departments and the commune-level police all answer to the province.
        for (identifier, name, kind) in [
            ("000.01.27.H27", "Phường Tiên Sơn", "commune"),
            ("000.02.27.H27", "Xã Phù Lãng", "commune"),
            ("000.03.27.H27", "Xã Đại Đồng", "commune"),
            ("000.00.10.H27", "Sở Tư pháp", "department"),
            ("000.00.11.H27", "Sở Y tế", "department"),
            ("000.01.95.H27", "Công an phường Tiên Sơn", "police"),
        ] {
            let agency = NewAgency {
                identifier: identifier.into(),
                name: name.into(),
                kind: kind.into(),
                parent_id: Some(tree[0].id),
            };
            tree.push(agencies::create(conn, &agency, now)?);
        }
        let db_now = to_db_time(now);
        let mut accounts = Vec::new();
        for ((username, full_name, agency, roles), hash) in staff.iter().zip(&hashes) {
            let roles = roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(",");
            users::create(
                conn,
                &staff_account(username, full_name, tree[*agency].id, &roles, hash),
            )?;
            accounts.push(DemoAccount {
                username: (*username).into(),
                roles,
                agency: tree[*agency].name.clone(),
            });
        }
        users::create(
            conn,
            &NewUser {
                id: UserId::new(),
                kind: AccountKind::Citizen.as_str().into(),
                username: DEMO_CITIZEN.into(),
                full_name: "Nguyễn Văn An".into(),
                agency_id: None,
                roles: Role::Citizen.as_str().into(),
                phone: Some("0912345678".into()),
                email: Some("an.nguyen@example.vn".into()),
                date_of_birth: NaiveDate::from_ymd_opt(1990, 5, 15),
                password_hash: hashes[staff.len()].clone(),
                active: true,
                created_at: db_now,
                updated_at: db_now,
            },
        )?;
        accounts.push(DemoAccount {
            username: DEMO_CITIZEN.into(),
            roles: Role::Citizen.as_str().into(),
            agency: "—".into(),
        });
        Ok(accounts)
    })?;
    import_catalogue(db, DEMO_CATALOGUE_JSON)?;
    Ok(accounts)
}
