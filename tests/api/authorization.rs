//! The authorization matrix (docs/requirements.md, S1): every route of the OpenAPI
//! document × every caller × every reach, each with its expected answer.
//! A route missing from the table fails the test, so no route can be added
//! without deciding who may call it. Later issues add their routes (and the
//! "own dossier" / "someone else's dossier" reaches) here.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::Utc;
use motcua_api::auth::hash_refresh_token;
use motcua_persistence::refresh_tokens;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixture::{Fixture, Who};
use crate::helpers::TestApp;

/// Where the target of a request lies relative to the caller's agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The route has no target.
    None,
    /// The caller's own agency (or something in it).
    Own,
    /// A unit below the caller's agency.
    Child,
    /// A sibling agency, outside the caller's subtree.
    Sibling,
    /// The calling citizen's own dossier (filed online at the own agency).
    OwnDossier,
    /// Another citizen's dossier (filed online at the own agency).
    OthersDossier,
    /// A dossier received at the sibling agency and handed to the own one:
    /// held by the caller's agency.
    HandedToMe,
    /// A dossier received at the own agency and handed to the sibling: the
    /// caller's agency reads it, the sibling holds it.
    HandedOnByMe,
}

/// What the caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allow,
    /// Passed authentication, role and reach: the answer is about the
    /// dossier's state or the request's content (2xx, 409, 412, 422).
    Reached,
    Unauthenticated,
    Forbidden,
    Hidden,
    /// In reach, but the action is another agency's: 409 (`held_elsewhere`:
    /// the dossier is held there; `not_at_fault`: the apology is owed there).
    OtherAgency,
}

impl Expect {
    fn matches(self, status: u16) -> bool {
        match self {
            Expect::Allow => (200..300).contains(&status),
            Expect::Reached => ![401, 403, 404].contains(&status) && status < 500,
            Expect::Unauthenticated => status == 401,
            Expect::Forbidden => status == 403,
            Expect::Hidden => status == 404,
            Expect::OtherAgency => status == 409,
        }
    }
}

/// Anyone, authenticated or not.
fn public(_: Who, _: Reach) -> Expect {
    Expect::Allow
}

/// Any authenticated caller.
fn authenticated(who: Who, _: Reach) -> Expect {
    if who == Who::Anonymous {
        Expect::Unauthenticated
    } else {
        Expect::Allow
    }
}

/// Administrators, within their subtree.
fn admin_in_reach(who: Who, reach: Reach) -> Expect {
    match (who, reach) {
        (Who::Anonymous, _) => Expect::Unauthenticated,
        (Who::Admin, Reach::Sibling) => Expect::Hidden,
        (Who::Admin, _) => Expect::Allow,
        _ => Expect::Forbidden,
    }
}

/// Every staff role, within their subtree (reading the agency tree).
fn staff_in_reach(who: Who, reach: Reach) -> Expect {
    match (who, reach) {
        (Who::Anonymous, _) => Expect::Unauthenticated,
        (Who::Citizen, _) => Expect::Forbidden,
        (_, Reach::Sibling) => Expect::Hidden,
        _ => Expect::Allow,
    }
}

/// Administrators anywhere (the catalogue is not per agency).
fn admin(who: Who, _: Reach) -> Expect {
    match who {
        Who::Anonymous => Expect::Unauthenticated,
        Who::Admin => Expect::Allow,
        _ => Expect::Forbidden,
    }
}

fn only(role: Who) -> impl Fn(Who, Reach) -> Expect {
    move |who, _| match who {
        Who::Anonymous => Expect::Unauthenticated,
        w if w == role => Expect::Allow,
        _ => Expect::Forbidden,
    }
}

/// Reading a dossier: staff readers in reach, the owner; administrators are
/// not dossier readers.
fn dossier_read(who: Who, reach: Reach) -> Expect {
    match (who, reach) {
        (Who::Anonymous, _) => Expect::Unauthenticated,
        (Who::Admin, _) => Expect::Forbidden,
        (Who::Citizen, Reach::OwnDossier) => Expect::Allow,
        (Who::Citizen, _) => Expect::Hidden,
        (_, Reach::Sibling) => Expect::Hidden,
        _ => Expect::Allow,
    }
}

/// Listing dossiers: citizens (their own) and staff readers (their subtree).
fn dossier_list(who: Who, _: Reach) -> Expect {
    match who {
        Who::Anonymous => Expect::Unauthenticated,
        Who::Admin => Expect::Forbidden,
        _ => Expect::Allow,
    }
}

/// A dossier's form: like reading it, but a dossier filed online and not yet
/// accepted has no control slip (404 for everyone who may see it).
fn dossier_form(who: Who, reach: Reach) -> Expect {
    match (dossier_read(who, reach), reach) {
        (Expect::Allow, Reach::OwnDossier | Reach::OthersDossier) => Expect::Hidden,
        (expect, _) => expect,
    }
}

/// A file attached to a dossier: its uploader (the owner of an online
/// filing) and staff who may read the dossier. Desk dossiers' files were
/// uploaded by their clerk; online filings' by their citizen.
fn file_read(who: Who, reach: Reach) -> Expect {
    match (who, reach) {
        (Who::Anonymous, _) => Expect::Unauthenticated,
        (Who::Citizen, Reach::OwnDossier) => Expect::Allow,
        (Who::Citizen | Who::Admin, _) => Expect::Hidden,
        (_, Reach::Sibling) => Expect::Hidden,
        _ => Expect::Allow,
    }
}

/// Reports: auditors, leaders and administrators, on agencies in their subtree.
fn report(who: Who, reach: Reach) -> Expect {
    match (who, reach) {
        (Who::Anonymous, _) => Expect::Unauthenticated,
        (Who::Auditor | Who::Leader | Who::Admin, Reach::Sibling) => Expect::Hidden,
        (Who::Auditor | Who::Leader | Who::Admin, _) => Expect::Allow,
        _ => Expect::Forbidden,
    }
}

/// The outreach list: clerks, leaders and auditors (who read dossiers), in reach.
fn outreach(who: Who, reach: Reach) -> Expect {
    match (who, reach) {
        (Who::Anonymous, _) => Expect::Unauthenticated,
        (Who::Clerk | Who::Auditor | Who::Leader, Reach::Sibling) => Expect::Hidden,
        (Who::Clerk | Who::Auditor | Who::Leader, _) => Expect::Allow,
        _ => Expect::Forbidden,
    }
}

/// The history audit and the access log: staff readers in reach.
fn audit(who: Who, reach: Reach) -> Expect {
    match who {
        Who::Citizen => Expect::Forbidden,
        _ => dossier_read(who, reach),
    }
}

/// A lifecycle action: the roles the domain names for it, on dossiers in reach.
fn action(action: motcua_domain::lifecycle::Action) -> impl Fn(Who, Reach) -> Expect {
    use motcua_domain::lifecycle::Role;
    move |who, reach| {
        let role = match who {
            Who::Anonymous => return Expect::Unauthenticated,
            Who::Citizen => Role::Citizen,
            Who::Clerk => Role::Clerk,
            Who::Officer => Role::Officer,
            Who::Leader => Role::Leader,
            Who::Auditor => Role::Auditor,
            Who::Admin => Role::Admin,
        };
        let visible = match who {
            Who::Citizen => reach == Reach::OwnDossier,
            _ => reach != Reach::Sibling,
        };
        if !visible {
            Expect::Hidden
        } else if !action.roles().contains(&role) {
            Expect::Forbidden
        } else if action == motcua_domain::lifecycle::Action::Apologise {
            // The matrix apologises for the desk's intake error: the
            // receiving agency's to give, wherever the dossier is.
            match reach {
                Reach::HandedToMe => Expect::OtherAgency,
                _ => Expect::Reached,
            }
        } else if reach == Reach::HandedOnByMe {
            Expect::OtherAgency
        } else {
            Expect::Reached
        }
    }
}

struct Route {
    method: Method,
    path: &'static str,
    reaches: &'static [Reach],
    expect: Box<dyn Fn(Who, Reach) -> Expect>,
}

const TARGETS: &[Reach] = &[Reach::Own, Reach::Child, Reach::Sibling];
const DOSSIERS: &[Reach] = &[
    Reach::Own,
    Reach::Child,
    Reach::Sibling,
    Reach::OwnDossier,
    Reach::OthersDossier,
    Reach::HandedToMe,
    Reach::HandedOnByMe,
];

fn routes() -> Vec<Route> {
    use motcua_domain::lifecycle::Action;
    fn route(
        method: Method,
        path: &'static str,
        reaches: &'static [Reach],
        expect: impl Fn(Who, Reach) -> Expect + 'static,
    ) -> Route {
        Route {
            method,
            path,
            reaches,
            expect: Box::new(expect),
        }
    }
    let mut routes = vec![
        route(Method::GET, "/healthz", &[Reach::None], public),
        route(Method::GET, "/readyz", &[Reach::None], public),
        route(Method::GET, "/metrics", &[Reach::None], public),
        route(
            Method::POST,
            "/api/v1/auth/citizens",
            &[Reach::None],
            public,
        ),
        route(Method::POST, "/api/v1/auth/token", &[Reach::None], public),
        route(Method::POST, "/api/v1/auth/refresh", &[Reach::None], public),
        route(Method::POST, "/api/v1/auth/logout", &[Reach::None], public),
        route(Method::GET, "/api/v1/me", &[Reach::None], authenticated),
        route(
            Method::GET,
            "/api/v1/agencies",
            &[Reach::None],
            staff_in_reach,
        ),
        route(Method::POST, "/api/v1/agencies", TARGETS, admin_in_reach),
        route(
            Method::GET,
            "/api/v1/agencies/{id}",
            TARGETS,
            staff_in_reach,
        ),
        route(
            Method::PATCH,
            "/api/v1/agencies/{id}",
            TARGETS,
            admin_in_reach,
        ),
        route(
            Method::POST,
            "/api/v1/agencies/{id}/merge",
            TARGETS,
            admin_in_reach,
        ),
        route(Method::GET, "/api/v1/users", &[Reach::None], admin_in_reach),
        route(Method::POST, "/api/v1/users", TARGETS, admin_in_reach),
        route(Method::GET, "/api/v1/users/{id}", TARGETS, admin_in_reach),
        route(Method::PATCH, "/api/v1/users/{id}", TARGETS, admin_in_reach),
        route(
            Method::GET,
            "/api/v1/agencies/{id}/calendar/{year}",
            TARGETS,
            admin_in_reach,
        ),
        route(
            Method::PUT,
            "/api/v1/agencies/{id}/calendar/{year}",
            TARGETS,
            admin_in_reach,
        ),
        route(
            Method::POST,
            "/api/v1/deadlines/preview",
            &[Reach::None],
            public,
        ),
        // The matrix sends no multipart body: any signed-in caller gets past
        // authentication (to a 415); the upload itself is tested in files.rs.
        route(
            Method::POST,
            "/api/v1/files",
            &[Reach::None],
            |who, _| match who {
                Who::Anonymous => Expect::Unauthenticated,
                _ => Expect::Reached,
            },
        ),
        route(Method::GET, "/api/v1/files/{id}", DOSSIERS, file_read),
        route(Method::GET, "/api/v1/reports/kstt-06", TARGETS, report),
        route(Method::GET, "/api/v1/reports/overdue", TARGETS, report),
        route(Method::GET, "/api/v1/reports/late", TARGETS, report),
        route(Method::GET, "/api/v1/reports/late-steps", TARGETS, report),
        route(Method::GET, "/api/v1/reports/portal-sync", TARGETS, report),
        route(Method::GET, "/api/v1/reports/outreach", TARGETS, outreach),
        // The matrix's body is not a filing: a clerk gets past the role
        // check (to a 422); the filing itself is tested in outreach.rs.
        route(
            Method::POST,
            "/api/v1/dossiers/assisted",
            &[Reach::None],
            |who, _| match who {
                Who::Anonymous => Expect::Unauthenticated,
                Who::Clerk => Expect::Reached,
                _ => Expect::Forbidden,
            },
        ),
        // The national portal's connection proves itself by a signature,
        // never by a user's token: every caller here is refused.
        route(
            Method::POST,
            "/api/v1/portal/filings",
            &[Reach::None],
            |_, _| Expect::Unauthenticated,
        ),
        route(Method::GET, "/api/v1/reports/tracking-book", TARGETS, audit),
        route(
            Method::GET,
            "/api/v1/reports/online-uptake",
            TARGETS,
            report,
        ),
        route(Method::GET, "/api/v1/reports/indicators", TARGETS, report),
        route(
            Method::GET,
            "/api/v1/reports/indicators/compare",
            TARGETS,
            report,
        ),
        route(
            Method::GET,
            "/api/v1/reports/online-uptake/compare",
            TARGETS,
            report,
        ),
        route(
            Method::GET,
            "/api/v1/reports/kstt-06/compare",
            TARGETS,
            report,
        ),
        route(Method::GET, "/api/v1/reports/audit", TARGETS, report),
        route(Method::GET, "/api/v1/procedures", &[Reach::None], public),
        route(
            Method::GET,
            "/api/v1/procedures/{code}",
            &[Reach::None],
            public,
        ),
        route(Method::POST, "/api/v1/procedures", &[Reach::None], admin),
        route(Method::POST, "/api/v1/webhooks", &[Reach::None], admin),
        route(Method::GET, "/api/v1/webhooks", &[Reach::None], admin),
        route(
            Method::DELETE,
            "/api/v1/webhooks/{id}",
            &[Reach::None],
            admin,
        ),
        route(Method::POST, "/api/v1/outbox/replay", &[Reach::None], admin),
        route(
            Method::GET,
            "/api/v1/outbox/destinations",
            &[Reach::None],
            admin,
        ),
        route(
            Method::GET,
            "/api/v1/procedure-groups",
            &[Reach::None],
            public,
        ),
        route(
            Method::PUT,
            "/api/v1/procedure-groups/{code}",
            &[Reach::None],
            admin,
        ),
        route(
            Method::POST,
            "/api/v1/dossier-groups",
            &[Reach::None],
            only(Who::Citizen),
        ),
        // A group's filing: the citizen's own or another citizen's, filed
        // online at the own agency (its dossiers are read as dossiers are).
        route(
            Method::GET,
            "/api/v1/dossier-groups/{id}",
            &[Reach::OwnDossier, Reach::OthersDossier],
            dossier_read,
        ),
        route(
            Method::PUT,
            "/api/v1/procedures/{code}",
            &[Reach::None],
            admin,
        ),
        route(
            Method::POST,
            "/api/v1/dossiers",
            &[Reach::None],
            only(Who::Citizen),
        ),
        route(
            Method::POST,
            "/api/v1/dossiers/intake",
            &[Reach::None],
            only(Who::Clerk),
        ),
        route(
            Method::GET,
            "/api/v1/dossiers",
            &[Reach::None],
            dossier_list,
        ),
        route(Method::GET, "/api/v1/dossiers/{id}", DOSSIERS, dossier_read),
        route(
            Method::GET,
            "/api/v1/dossiers/{id}/events",
            DOSSIERS,
            dossier_read,
        ),
        route(
            Method::GET,
            "/api/v1/dossiers/{id}/deadline",
            DOSSIERS,
            dossier_read,
        ),
        route(
            Method::GET,
            "/api/v1/dossiers/{id}/forms/{form}",
            DOSSIERS,
            dossier_form,
        ),
        route(Method::GET, "/api/v1/audit/verify", DOSSIERS, audit),
        route(Method::GET, "/api/v1/audit/access-log", TARGETS, audit),
        route(
            Method::GET,
            "/api/v1/public/dossiers/{code}",
            &[Reach::None],
            public,
        ),
    ];
    for (path, act) in [
        ("/api/v1/dossiers/{id}/accept", Action::Accept),
        (
            "/api/v1/dossiers/{id}/request-supplement",
            Action::RequestSupplement,
        ),
        ("/api/v1/dossiers/{id}/supplement", Action::Supplement),
        ("/api/v1/dossiers/{id}/refuse", Action::Refuse),
        ("/api/v1/dossiers/{id}/handover", Action::HandOver),
        (
            "/api/v1/dossiers/{id}/request-payment",
            Action::RequestPayment,
        ),
        ("/api/v1/dossiers/{id}/payments", Action::RecordPayment),
        (
            "/api/v1/dossiers/{id}/extend-verification",
            Action::ExtendVerification { working_days: 1 },
        ),
        ("/api/v1/dossiers/{id}/apology", Action::Apologise),
        ("/api/v1/dossiers/{id}/stop", Action::Stop),
        ("/api/v1/dossiers/{id}/complete", Action::Complete),
        ("/api/v1/dossiers/{id}/return", Action::Return),
        ("/api/v1/dossiers/{id}/withdraw", Action::Withdraw),
        ("/api/v1/dossiers/{id}/rating", Action::Rate),
    ] {
        routes.push(route(Method::POST, path, DOSSIERS, action(act)));
    }
    routes
}

/// The dossiers the matrix acts on, by reach, the code of the own one, and
/// two files of the fixture citizen's (for filings).
struct Dossiers(
    Vec<(Reach, String)>,
    String,
    Vec<String>,
    Vec<(Reach, String)>,
);

impl Dossiers {
    async fn build(app: &TestApp, fixture: &Fixture) -> Dossiers {
        let accept = json!({"kind": "accept"});
        let own = fixture
            .intake(app, "clerk.a", "1.004194", accept.clone())
            .await;
        let child = fixture
            .intake(app, "staff.child", "1.004194", accept.clone())
            .await;
        let sibling = fixture
            .intake(app, "staff.sibling", "1.004194", accept.clone())
            .await;
        // Across agencies: one received at B and handed to A, one received
        // at A and handed to B.
        let to_me = handed(app, fixture, "staff.sibling", &fixture.own).await;
        let on_by_me = handed(app, fixture, "clerk.a", &fixture.sibling).await;
        let mine = fixture
            .file_online(app, crate::fixture::CITIZEN, &fixture.own)
            .await;
        let theirs = fixture
            .file_online(app, crate::fixture::OTHER_CITIZEN, &fixture.own)
            .await;
        let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();
        let code = own["code"].as_str().unwrap_or_default().to_owned();
        let group = motcua_domain::procedure::ProcedureGroup {
            code: "MATRIX".into(),
            name: "Tạm trú và gia hạn".into(),
            basis: "matrix".into(),
            procedures: ["1.004194", "1.002755"]
                .map(|c| c.parse().unwrap_or_else(|e| panic!("{e}")))
                .to_vec(),
        };
        app.db
            .run(|conn| motcua_persistence::groups::put(conn, &group, Utc::now()))
            .unwrap_or_else(|e| panic!("{e}"));
        let groups = vec![
            (
                Reach::OwnDossier,
                group_filed(app, fixture, crate::fixture::CITIZEN).await,
            ),
            (
                Reach::OthersDossier,
                group_filed(app, fixture, crate::fixture::OTHER_CITIZEN).await,
            ),
        ];
        let (citizen, _) = app
            .login(crate::fixture::CITIZEN, crate::fixture::PASSWORD)
            .await;
        let files = vec![
            app.upload_pdf(&citizen).await,
            app.upload_pdf(&citizen).await,
        ];
        Dossiers(
            vec![
                (Reach::Own, id(&own)),
                (Reach::Child, id(&child)),
                (Reach::Sibling, id(&sibling)),
                (Reach::OwnDossier, mine),
                (Reach::OthersDossier, theirs),
                (Reach::HandedToMe, to_me),
                (Reach::HandedOnByMe, on_by_me),
            ],
            code,
            files,
            groups,
        )
    }

    fn id(&self, reach: Reach) -> String {
        self.0
            .iter()
            .find(|(r, _)| *r == reach)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    }
}

/// The body of a filing of the group `MATRIX` at the own agency, with `files`.
fn group_filing(fixture: &Fixture, files: &[String]) -> Value {
    json!({
        "group_code": "MATRIX", "agency_id": fixture.own.id.to_string(),
        "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
        "documents": [{"requirement_code": "TK", "file_id": files[0]}, {"requirement_code": "CM", "file_id": files[1]}],
        "result_delivery": "online",
    })
}

/// The group `MATRIX` filed online by `citizen` (a username); its id.
async fn group_filed(app: &TestApp, fixture: &Fixture, citizen: &str) -> String {
    let (token, _) = app.login(citizen, crate::fixture::PASSWORD).await;
    let files = [app.upload_pdf(&token).await, app.upload_pdf(&token).await];
    let response = app
        .post_json(
            "/api/v1/dossier-groups",
            Some(&token),
            &group_filing(fixture, &files),
        )
        .await;
    assert_eq!(response.status().as_u16(), 201, "group filing");
    let body: Value = response.json().await.unwrap_or_default();
    body["id"].as_str().unwrap_or_default().to_owned()
}

/// A dossier received and accepted by `clerk`, who hands it over to `to`.
async fn handed(
    app: &TestApp,
    fixture: &Fixture,
    clerk: &str,
    to: &motcua_persistence::agencies::Agency,
) -> String {
    let dossier = fixture
        .intake(app, clerk, "1.004194", json!({"kind": "accept"}))
        .await;
    let (token, _) = app.login(clerk, crate::fixture::PASSWORD).await;
    let id = dossier["id"].as_str().unwrap_or_default().to_owned();
    let body = json!({"to_agency_id": to.id.to_string()});
    let (status, answer) = app.act(&token, &id, "handover", body).await;
    assert_eq!(status, 200, "{answer}");
    id
}

/// The dossier's current version, read straight from the database.
fn current_version(app: &TestApp, id: &str) -> i32 {
    let id: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| motcua_persistence::dossiers::find(conn, id))
        .map(|d| d.version)
        .unwrap_or_else(|e| panic!("{e}"))
}

static SERIAL: AtomicU32 = AtomicU32::new(1);

fn serial() -> u32 {
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// A fresh, valid personal ID (Hà Nội, male, born 1990).
fn fresh_personal_id() -> String {
    format!("001090{:06}", 100_000 + serial())
}

/// The concrete request for a route, caller and reach: the path with its
/// `{id}` filled in, and a valid body.
fn request(
    app: &TestApp,
    fixture: &Fixture,
    dossiers: &Dossiers,
    route: &Route,
    reach: Reach,
) -> (String, Option<Value>) {
    if route.path == "/api/v1/public/dossiers/{code}" {
        let code = dossiers.1.clone();
        return (
            format!("/api/v1/public/dossiers/{code}?phone_last4=4321"),
            None,
        );
    }
    if route.path == "/api/v1/files/{id}" {
        let dossier: motcua_persistence::DossierId = dossiers.id(reach).parse().unwrap_or_default();
        let file: motcua_persistence::FileId = app
            .db
            .run(|conn| {
                use diesel::prelude::*;
                use motcua_persistence::schema::dossier_files;
                Ok(dossier_files::table
                    .filter(dossier_files::dossier_id.eq(dossier))
                    .select(dossier_files::file_id)
                    .first(conn)?)
            })
            .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
        return (format!("/api/v1/files/{file}"), None);
    }
    if route.path == "/api/v1/files" {
        return (route.path.to_owned(), None);
    }
    if route.path == "/api/v1/dossier-groups/{id}" {
        let id = dossiers
            .3
            .iter()
            .find(|(r, _)| *r == reach)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        return (format!("/api/v1/dossier-groups/{id}"), None);
    }
    if route.path == "/api/v1/webhooks" && route.method == Method::POST {
        let body = json!({"url": "http://127.0.0.1:9/hook", "secret": "a matrix secret, long enough", "kinds": ["*"]});
        return (route.path.to_owned(), Some(body));
    }
    if route.path == "/api/v1/outbox/replay" {
        return (route.path.to_owned(), Some(json!({"all": true})));
    }
    if route.path == "/api/v1/webhooks/{id}" {
        // A webhook made for the purpose, removed.
        let webhook = app
            .db
            .run(|conn| {
                motcua_persistence::outbox::subscribe(
                    conn,
                    "http://127.0.0.1:9/hook",
                    "a matrix secret, long enough",
                    &["*".to_owned()],
                    None,
                    Utc::now(),
                )
            })
            .unwrap_or_else(|e| panic!("{e}"));
        return (format!("/api/v1/webhooks/{}", webhook.id), None);
    }
    if route.path == "/api/v1/dossier-groups" {
        return (
            route.path.to_owned(),
            Some(group_filing(fixture, &dossiers.2)),
        );
    }
    if route.path == "/api/v1/procedure-groups/{code}" {
        let body =
            json!({"name": "Nhóm thử", "basis": "matrix", "procedures": ["1.004194", "1.002755"]});
        return (
            format!("/api/v1/procedure-groups/MATRIX-{}", serial()),
            Some(body),
        );
    }
    if route.path.starts_with("/api/v1/dossiers/{id}") || route.path == "/api/v1/audit/verify" {
        let id = dossiers.id(reach);
        if route.path == "/api/v1/audit/verify" {
            return (format!("/api/v1/audit/verify?dossier_id={id}"), None);
        }
        let path = route
            .path
            .replace("{id}", &id)
            .replace("{form}", "control_slip");
        if route.method == Method::GET {
            return (path, None);
        }
        let body = json!({
            "version": current_version(app, &id), "reason": "matrix", "legal_basis": "matrix", "items": [{"requirement_code": "CM", "name": "Giấy tờ chứng minh", "problem": "thiếu"}],
            "to_step": "Thẩm định", "amount": 1000, "method": "cash", "reference": "matrix", "working_days": 1,
            "outcome": "approved", "delivery": "desk", "overall": "satisfied",
            "new_appointment_at": "2099-01-01T00:00:00Z",
            // An apology for the desk's intake error: every role the
            // lifecycle lets apologise may give it (a processing apology is
            // a leader's alone: dossiers::*::the_desk_apologises_…).
            "fault": "intake",
        });
        return (path, Some(body));
    }
    let agency = match reach {
        Reach::Child => &fixture.child,
        Reach::Sibling => &fixture.sibling,
        _ => &fixture.own,
    };
    let staff = match reach {
        Reach::Child => &fixture.staff_child,
        Reach::Sibling => &fixture.staff_sibling,
        _ => &fixture.staff_own,
    };
    let n = serial();
    let (id, body) = match (route.method.as_str(), route.path) {
        ("POST", "/api/v1/auth/citizens") => (
            None,
            json!({
                "national_id": fresh_personal_id(), "full_name": "Lê Văn Mới", "phone": "0911111111", "password": "a fine passphrase",
            }),
        ),
        ("POST", "/api/v1/auth/token") => (
            None,
            json!({"username": "clerk.a", "password": crate::fixture::PASSWORD}),
        ),
        ("POST", "/api/v1/auth/refresh") | ("POST", "/api/v1/auth/logout") => (
            None,
            json!({"refresh_token": live_refresh_token(app, fixture)}),
        ),
        ("POST", "/api/v1/agencies") => (
            None,
            json!({
                "identifier": format!("000.{:02}.99.H01", n % 100), "name": format!("Unit {n}"), "kind": "unit", "parent_id": agency.id.to_string(),
            }),
        ),
        ("PATCH", "/api/v1/agencies/{id}") => (
            Some(agency.id.to_string()),
            json!({"name": format!("Renamed {n}")}),
        ),
        ("GET", "/api/v1/agencies/{id}") => (Some(agency.id.to_string()), Value::Null),
        ("POST", "/api/v1/agencies/{id}/merge") => {
            let unit = |series: u32| {
                app.db
                    .run(|conn| {
                        motcua_persistence::agencies::create(
                            conn,
                            &motcua_persistence::agencies::NewAgency {
                                identifier: format!("000.{:02}.{series}.H01", n % 100),
                                name: format!("Unit {series}-{n}"),
                                kind: "unit".into(),
                                parent_id: Some(agency.id),
                            },
                            Utc::now(),
                        )
                    })
                    .unwrap_or_else(|e| panic!("{e}"))
            };
            // Two units made for the purpose under the target: one merges
            // into the other.
            let (merged, into) = (unit(97), unit(98));
            (
                Some(merged.id.to_string()),
                json!({"into_agency_id": into.id.to_string()}),
            )
        }
        ("GET", "/api/v1/reports/kstt-06")
        | ("GET", "/api/v1/reports/late")
        | ("GET", "/api/v1/reports/late-steps")
        | ("GET", "/api/v1/reports/outreach")
        | ("GET", "/api/v1/reports/tracking-book")
        | ("GET", "/api/v1/reports/online-uptake")
        | ("GET", "/api/v1/reports/indicators")
        | ("GET", "/api/v1/reports/indicators/compare")
        | ("GET", "/api/v1/reports/online-uptake/compare")
        | ("GET", "/api/v1/reports/kstt-06/compare")
        | ("GET", "/api/v1/reports/audit") => {
            return (
                format!("{}?period=2026-11&agency_id={}", route.path, agency.id),
                None,
            );
        }
        ("GET", "/api/v1/audit/access-log") => {
            return (
                format!("/api/v1/audit/access-log?agency_id={}", agency.id),
                None,
            );
        }
        ("GET", "/api/v1/reports/overdue") | ("GET", "/api/v1/reports/portal-sync") => {
            return (format!("{}?agency_id={}", route.path, agency.id), None);
        }
        ("GET", "/api/v1/agencies/{id}/calendar/{year}") => {
            return (
                format!("/api/v1/agencies/{}/calendar/2026", agency.id),
                None,
            );
        }
        ("PUT", "/api/v1/agencies/{id}/calendar/{year}") => {
            return (
                format!("/api/v1/agencies/{}/calendar/2026", agency.id),
                Some(json!({"days": []})),
            );
        }
        ("POST", "/api/v1/deadlines/preview") => (
            None,
            json!({
                "agency_id": fixture.own.id.to_string(), "procedure_code": "1.004194", "received_at": "2026-11-02T02:30:00Z",
            }),
        ),
        ("POST", "/api/v1/users") => (
            None,
            json!({
                "username": format!("new.user{n}"), "full_name": "Người Mới", "agency_id": agency.id.to_string(),
                "roles": ["clerk"], "password": "a fine passphrase",
            }),
        ),
        ("PATCH", "/api/v1/users/{id}") => (
            Some(staff.id.to_string()),
            json!({"full_name": format!("Renamed {n}")}),
        ),
        ("GET", "/api/v1/users/{id}") => (Some(staff.id.to_string()), Value::Null),
        ("GET", "/api/v1/procedures/{code}") => {
            return ("/api/v1/procedures/1.004194".to_owned(), None);
        }
        ("POST", "/api/v1/procedures") | ("PUT", "/api/v1/procedures/{code}") => {
            let code = format!("9.{:06}", n);
            let entry = json!({
                "code": code, "name": "Thủ tục thử", "field": {"code": "T", "name": "Thử"},
                "online_kind": "partial", "time_limit": {"amount": 2, "unit": "working_days"},
                "on_supplement": "pause", "fee": {"kind": "exempt"},
                "documents": [{"code": "TK", "name": "Tờ khai", "mandatory": true}], "deliveries": ["desk"],
            });
            let path = if route.method == Method::PUT {
                format!("/api/v1/procedures/{code}")
            } else {
                route.path.to_owned()
            };
            return (path, Some(entry));
        }
        ("POST", "/api/v1/dossiers") => (
            None,
            json!({
                "procedure_code": "1.004194", "agency_id": fixture.own.id.to_string(),
                "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
                "documents": [{"requirement_code": "TK", "file_id": dossiers.2[0]}, {"requirement_code": "CM", "file_id": dossiers.2[1]}],
                "result_delivery": "online",
            }),
        ),
        ("POST", "/api/v1/dossiers/assisted") => (
            None,
            json!({
                "citizen": {"username": fixture.citizen.username, "password": "not the password"},
                "filing": {
                    "procedure_code": "1.004194", "agency_id": fixture.own.id.to_string(),
                    "applicant": {"full_name": "Nguyễn Văn An", "phone": "0912345678"},
                    "documents": [], "result_delivery": "online",
                },
            }),
        ),
        ("POST", "/api/v1/dossiers/intake") => (
            None,
            json!({
                "channel": "direct", "procedure_code": "1.004194",
                "applicant": {"full_name": "Trần Thị Bình", "phone": "0987654321"},
                "documents": [{"requirement_code": "TK"}, {"requirement_code": "CM"}],
                "result_delivery": "desk", "decision": {"kind": "accept"},
            }),
        ),
        _ => (None, Value::Null),
    };
    let path = match id {
        Some(id) => route.path.replace("{id}", &id),
        None => route.path.to_owned(),
    };
    (path, (!body.is_null()).then_some(body))
}

/// A refresh token that works once, stored straight into the database.
fn live_refresh_token(app: &TestApp, fixture: &Fixture) -> String {
    let token = format!("matrix-refresh-{}-{}", serial(), uuid_like());
    let now = Utc::now();
    app.db
        .run(|conn| {
            refresh_tokens::insert(
                conn,
                fixture.citizen.id,
                motcua_persistence::TokenFamilyId::new(),
                &hash_refresh_token(&token),
                now,
                now + chrono::Duration::days(1),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    token
}

fn uuid_like() -> String {
    motcua_persistence::RefreshTokenId::new().to_string()
}

async fn every_route_role_and_reach_gets_the_expected_answer(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let dossiers = Dossiers::build(&app, &fixture).await;
    let routes = routes();

    // Every operation of the OpenAPI document has its row, and nothing else.
    let document = serde_json::to_value(motcua_api::openapi()).unwrap_or_default();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in item
            .as_object()
            .into_iter()
            .flatten()
            .map(|(m, _)| m.to_uppercase())
        {
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                documented.push((method, path.clone()));
            }
        }
    }
    let mut covered: Vec<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    documented.sort();
    covered.sort();
    assert_eq!(
        documented, covered,
        "the matrix must list exactly the documented routes"
    );

    let mut wrong = Vec::new();
    let mut checked = 0;
    for route in &routes {
        for &reach in route.reaches {
            for who in Who::ALL {
                let (path, body) = request(&app, &fixture, &dossiers, route, reach);
                let response = app
                    .send(
                        route.method.clone(),
                        &path,
                        fixture.token(who),
                        body.as_ref(),
                    )
                    .await;
                let status = response.status().as_u16();
                let expected = (route.expect)(who, reach);
                if !expected.matches(status) {
                    let text = response.text().await.unwrap_or_default();
                    wrong.push(format!(
                        "{} {} as {who:?} ({reach:?}): expected {expected:?}, got {status} {text}",
                        route.method, route.path
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn lists_show_only_the_subtree(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let admin = fixture.token(Who::Admin).unwrap_or_default();
    let agencies = app.get_as("/api/v1/agencies", admin).await;
    let agencies: Value = agencies.json().await.unwrap_or_default();
    let ids: Vec<&str> = agencies["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [fixture.own.id.to_string(), fixture.child.id.to_string()]
    );
    assert!(!ids.contains(&fixture.province.id.to_string().as_str()));

    let users: Value = app
        .get_as("/api/v1/users?limit=3", admin)
        .await
        .json()
        .await
        .unwrap_or_default();
    let mut seen: Vec<String> = Vec::new();
    let mut page = users;
    loop {
        seen.extend(
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u["username"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                page = app
                    .get_as(&format!("/api/v1/users?limit=3&cursor={cursor}"), admin)
                    .await
                    .json()
                    .await
                    .unwrap_or_default();
            }
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "admin.a",
            "auditor.a",
            "clerk.a",
            "leader.a",
            "officer.a",
            "staff.child",
            "staff.own"
        ]
    );
}

api_tests!(
    every_route_role_and_reach_gets_the_expected_answer,
    lists_show_only_the_subtree
);
