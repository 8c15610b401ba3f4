//! A small agency tree with one account per role, for authorization tests:
//!
//! ```text
//! province P
//! ├── commune A ("own": every staff account below lives here)
//! │   └── unit A1 ("child")
//! └── commune B ("sibling")
//! ```

use chrono::Utc;
use motcua_api::auth::Passwords;
use motcua_persistence::agencies::{self, Agency, NewAgency};
use motcua_persistence::sql_types::to_db_time;
use motcua_persistence::users::{self, NewUser, User};
use motcua_persistence::{AgencyId, UserId};

use crate::helpers::TestApp;

/// The password of every fixture account.
pub const PASSWORD: &str = "correct horse battery";

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Anonymous,
    Citizen,
    Clerk,
    Officer,
    Leader,
    Auditor,
    Admin,
}

impl Who {
    pub const ALL: [Who; 7] = [
        Who::Anonymous,
        Who::Citizen,
        Who::Clerk,
        Who::Officer,
        Who::Leader,
        Who::Auditor,
        Who::Admin,
    ];

    pub fn username(self) -> Option<&'static str> {
        match self {
            Who::Anonymous => None,
            Who::Citizen => Some(CITIZEN),
            Who::Clerk => Some("clerk.a"),
            Who::Officer => Some("officer.a"),
            Who::Leader => Some("leader.a"),
            Who::Auditor => Some("auditor.a"),
            Who::Admin => Some("admin.a"),
        }
    }
}

/// A valid personal ID for the fixture citizen.
pub const CITIZEN: &str = "001090000001";
/// Another citizen.
pub const OTHER_CITIZEN: &str = "001190000002";

/// Agencies and accounts of the fixture.
pub struct Fixture {
    pub province: Agency,
    pub own: Agency,
    pub child: Agency,
    pub sibling: Agency,
    /// Staff at A, A1 and B whose accounts are managed in the tests.
    pub staff_own: User,
    pub staff_child: User,
    pub staff_sibling: User,
    pub citizen: User,
    /// Access tokens by caller.
    pub tokens: Vec<(Who, String)>,
}

impl Fixture {
    pub async fn build(app: &TestApp) -> Fixture {
        let passwords = Passwords::new().unwrap_or_else(|e| panic!("{e}"));
        let hash = passwords.hash(PASSWORD).unwrap_or_else(|e| panic!("{e}"));
        let db = app.db.clone();
        let (province, own, child, sibling, staff) = db
            .run(|conn| {
                let now = Utc::now();
                let agency =
                    |conn: &mut _, identifier: &str, kind: &str, parent: Option<AgencyId>| {
                        agencies::create(
                            conn,
                            &NewAgency {
                                identifier: identifier.into(),
                                name: format!("Agency {identifier}"),
                                kind: kind.into(),
                                parent_id: parent,
                            },
                            now,
                        )
                    };
                let province = agency(conn, "000.00.00.H01", "province", None)?;
                let own = agency(conn, "000.01.00.H01", "commune", Some(province.id))?;
                let child = agency(conn, "000.01.01.H01", "unit", Some(own.id))?;
                let sibling = agency(conn, "000.02.00.H01", "commune", Some(province.id))?;
                let mut staff = Vec::new();
                for (username, roles, agency) in [
                    ("clerk.a", "clerk", own.id),
                    ("officer.a", "officer", own.id),
                    ("leader.a", "leader", own.id),
                    ("auditor.a", "auditor", own.id),
                    ("admin.a", "admin", own.id),
                    ("staff.own", "clerk", own.id),
                    ("staff.child", "clerk", child.id),
                    ("staff.sibling", "clerk", sibling.id),
                ] {
                    staff.push(users::create(
                        conn,
                        &new_user(username, "staff", roles, Some(agency), &hash),
                    )?);
                }
                staff.push(users::create(
                    conn,
                    &new_user(CITIZEN, "citizen", "citizen", None, &hash),
                )?);
                staff.push(users::create(
                    conn,
                    &new_user(OTHER_CITIZEN, "citizen", "citizen", None, &hash),
                )?);
                Ok((province, own, child, sibling, staff))
            })
            .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
        motcua_api::bootstrap::import_catalogue(
            &app.db,
            motcua_domain::procedure::DEMO_CATALOGUE_JSON,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut tokens = Vec::new();
        for who in Who::ALL {
            if let Some(username) = who.username() {
                tokens.push((who, app.login(username, PASSWORD).await.0));
            }
        }
        Fixture {
            province,
            own,
            child,
            sibling,
            staff_own: staff[5].clone(),
            staff_child: staff[6].clone(),
            staff_sibling: staff[7].clone(),
            citizen: staff[8].clone(),
            tokens,
        }
    }

    pub fn token(&self, who: Who) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(w, _)| *w == who)
            .map(|(_, t)| t.as_str())
    }
}

pub fn new_user(
    username: &str,
    kind: &str,
    roles: &str,
    agency: Option<AgencyId>,
    hash: &str,
) -> NewUser {
    let now = to_db_time(Utc::now());
    NewUser {
        id: UserId::new(),
        kind: kind.into(),
        username: username.into(),
        full_name: format!("User {username}"),
        agency_id: agency,
        roles: roles.into(),
        phone: Some("0912345678".into()),
        email: None,
        date_of_birth: None,
        password_hash: hash.into(),
        active: true,
        created_at: now,
        updated_at: now,
    }
}

impl Fixture {
    /// Files a temporary-residence registration (3 working days, pause mode)
    /// online as `citizen` (a username) at agency `agency`; returns the dossier id.
    pub async fn file_online(&self, app: &TestApp, citizen: &str, agency: &Agency) -> String {
        let (token, _) = app.login(citizen, PASSWORD).await;
        let body = online_filing(app, &token, agency).await;
        let response = app.post_json("/api/v1/dossiers", Some(&token), &body).await;
        assert_eq!(response.status().as_u16(), 201, "filing");
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        body["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Receives a dossier at the desk as `clerk` (a username) with `decision`; returns its JSON.
    pub async fn intake(
        &self,
        app: &TestApp,
        clerk: &str,
        procedure: &str,
        decision: serde_json::Value,
    ) -> serde_json::Value {
        let (token, _) = app.login(clerk, PASSWORD).await;
        // The clerk scans the declaration form at the desk.
        let scan = app.upload_pdf(&token).await;
        let documents = serde_json::json!([{"requirement_code": "TK", "originals": 1, "file_id": scan}, {"requirement_code": "CM", "copies": 1}]);
        desk_intake(app, &token, procedure, documents, decision).await
    }

    /// Receives a dossier at the desk as `clerk` with the given `documents`
    /// (paper only) and `decision`; returns its JSON.
    pub async fn intake_with(
        &self,
        app: &TestApp,
        clerk: &str,
        procedure: &str,
        documents: serde_json::Value,
        decision: serde_json::Value,
    ) -> serde_json::Value {
        let (token, _) = app.login(clerk, PASSWORD).await;
        desk_intake(app, &token, procedure, documents, decision).await
    }
}

/// The body of a valid online filing (temporary residence at `agency`,
/// both documents uploaded as `token`'s citizen).
pub async fn online_filing(app: &TestApp, token: &str, agency: &Agency) -> serde_json::Value {
    serde_json::json!({
        "procedure_code": "1.004194", "agency_id": agency.id.to_string(),
        "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
        "documents": [
            {"requirement_code": "TK", "file_id": app.upload_pdf(token).await},
            {"requirement_code": "CM", "file_id": app.upload_pdf(token).await},
        ],
        "result_delivery": "online",
    })
}

/// Receives a dossier at the desk with `token`'s clerk; returns its JSON.
async fn desk_intake(
    app: &TestApp,
    token: &str,
    procedure: &str,
    documents: serde_json::Value,
    decision: serde_json::Value,
) -> serde_json::Value {
    let body = serde_json::json!({
        "channel": "direct", "procedure_code": procedure,
        "applicant": {"full_name": "Trần Thị Bình", "phone": "0987654321", "national_id": "001195012345"},
        "documents": documents,
        "result_delivery": "desk", "decision": decision,
    });
    let response = app
        .post_json("/api/v1/dossiers/intake", Some(token), &body)
        .await;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 201, "intake: {body}");
    body
}
