//! The access log (issue #11, item 5): staff reads of personal data are
//! recorded there, with the request id their response carried, and not in
//! the dossier's history; concurrent reads all succeed; auditors list the
//! log within their reach, as JSON pages or CSV; a read that cannot be
//! recorded shows nothing.

use diesel::prelude::*;
use motcua_api::auth::Passwords;
use motcua_persistence::DbError;
use motcua_persistence::agencies::{self, NewAgency};
use motcua_persistence::schema::access_log;
use motcua_persistence::users;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::fixture::{CITIZEN, Fixture, PASSWORD, Who, new_user};
use crate::helpers::{TestApp, json, problem, vn, vn_of};

fn token(fixture: &Fixture, who: Who) -> String {
    fixture.token(who).unwrap_or_default().to_owned()
}

/// An accepted desk dossier received by `clerk` (a username); returns its id.
async fn accepted(app: &TestApp, fixture: &Fixture, clerk: &str) -> String {
    let dossier = fixture
        .intake(app, clerk, "1.004194", json!({"kind": "accept"}))
        .await;
    dossier["id"].as_str().unwrap_or_default().to_owned()
}

/// Reads a dossier as `token`; returns the request id its response carried.
async fn read(app: &TestApp, token: &str, id: &str) -> String {
    let response = app.get_as(&format!("/api/v1/dossiers/{id}"), token).await;
    assert_eq!(response.status().as_u16(), 200, "reading {id}");
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// One page of the access log as `token`, with `query`.
async fn log_page(app: &TestApp, token: &str, query: &str) -> Value {
    json(
        app.get_as(&format!("/api/v1/audit/access-log?{query}"), token)
            .await,
        "application/json",
    )
    .await
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The account id of `token`'s holder.
async fn account_id(app: &TestApp, token: &str) -> String {
    let me = json(app.get_as("/api/v1/me", token).await, "application/json").await;
    me["id"].as_str().unwrap_or_default().to_owned()
}

fn access_rows(app: &TestApp) -> i64 {
    app.db
        .run(|conn| Ok(access_log::table.count().get_result::<i64>(conn)?))
        .unwrap_or_else(|e: DbError| panic!("{e}"))
}

/// The actions of a dossier's history, as its events list shows them.
async fn history(app: &TestApp, token: &str, id: &str) -> Vec<String> {
    let events = json(
        app.get_as(&format!("/api/v1/dossiers/{id}/events"), token)
            .await,
        "application/json",
    )
    .await;
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

async fn a_staff_read_goes_to_the_access_log_not_the_history(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, auditor) = (token(&fixture, Who::Clerk), token(&fixture, Who::Auditor));
    let id = accepted(&app, &fixture, "clerk.a").await;
    let before = app.version_and_events(&id);
    let lifecycle = history(&app, &auditor, &id).await;
    assert_eq!(lifecycle, ["intake_accept"]);

    let request_id = read(&app, &clerk, &id).await;
    assert!(!request_id.is_empty(), "the response carries a request id");
    // A client's own request id is kept as the response echoes it.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/dossiers/{id}")))
        .bearer_auth(&clerk)
        .header("x-request-id", "desk-7/read-1")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status().as_u16(), 200);

    assert_eq!(
        app.version_and_events(&id),
        before,
        "the history is untouched"
    );
    assert_eq!(history(&app, &auditor, &id).await, lifecycle);
    let verified = json(
        app.get_as(&format!("/api/v1/audit/verify?dossier_id={id}"), &auditor)
            .await,
        "application/json",
    )
    .await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["events_checked"], 1, "lifecycle events only");

    let entries = items(&log_page(&app, &auditor, &format!("dossier={id}")).await);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let code = app.dossier_row(&id).code;
    let first = &entries[0];
    assert_eq!(first["request_id"], request_id.as_str());
    assert_eq!(first["actor_id"], account_id(&app, &clerk).await);
    assert_eq!(first["actor_username"], "clerk.a");
    assert_eq!(first["actor_role"], "clerk");
    assert_eq!(first["dossier_id"], id.as_str());
    assert_eq!(first["dossier_code"], code.as_str());
    assert_eq!(first["agency_id"], fixture.own.id.to_string());
    assert_eq!(first["agency_identifier"], "000.01.00.H01");
    assert_eq!(first["resource"], "dossier");
    assert_eq!(vn_of(&first["at"]), "2026-11-02 09:30");
    assert_eq!(entries[1]["request_id"], "desk-7/read-1");

    // A printed form is a read too, named by its form.
    let slip = app
        .get_as(&format!("/api/v1/dossiers/{id}/forms/control_slip"), &clerk)
        .await;
    assert_eq!(slip.status().as_u16(), 200);
    let entries = items(&log_page(&app, &auditor, &format!("dossier={id}")).await);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["resource"], "control_slip");

    // A citizen reading their own dossier is not recorded.
    let own = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let logged = access_rows(&app);
    read(&app, &citizen, &own).await;
    assert_eq!(access_rows(&app), logged);

    // Append-only: the database refuses to change or remove an entry.
    let changed = app.db.run(|conn| {
        diesel::update(access_log::table)
            .set(access_log::resource.eq("receipt"))
            .execute(conn)
            .map_err(DbError::from)
    });
    assert!(changed.is_err(), "an update was accepted");
    let removed = app.db.run(|conn| {
        diesel::delete(access_log::table)
            .execute(conn)
            .map_err(DbError::from)
    });
    assert!(removed.is_err(), "a delete was accepted");
    assert_eq!(access_rows(&app), logged);
}

/// Fifty staff reads of one dossier at once all answer 200, each recorded
/// once under the request id its response carried (on PostgreSQL, reads
/// appended to the history made most of ten concurrent reads fail).
async fn fifty_concurrent_staff_reads_all_answer(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, auditor) = (token(&fixture, Who::Clerk), token(&fixture, Who::Auditor));
    let id = accepted(&app, &fixture, "clerk.a").await;
    let before = app.version_and_events(&id);
    let mut set = JoinSet::new();
    for _ in 0..50 {
        let request = app
            .client
            .get(app.url(&format!("/api/v1/dossiers/{id}")))
            .bearer_auth(&clerk);
        set.spawn(async move {
            let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
            let request_id = response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            (status, request_id, body)
        });
    }
    let mut request_ids = Vec::new();
    let mut failed = Vec::new();
    while let Some(result) = set.join_next().await {
        let (status, request_id, body) = result.unwrap_or_else(|e| panic!("{e}"));
        if status != 200 {
            failed.push(format!("{status} {body}"));
        }
        request_ids.push(request_id);
    }
    assert!(
        failed.is_empty(),
        "{} of 50 failed: {failed:?}",
        failed.len()
    );
    assert_eq!(app.version_and_events(&id), before);
    let page = log_page(&app, &auditor, &format!("dossier={id}&limit=500")).await;
    let mut logged: Vec<String> = items(&page)
        .iter()
        .filter_map(|e| e["request_id"].as_str().map(str::to_owned))
        .collect();
    logged.sort();
    request_ids.sort();
    assert_eq!(logged, request_ids, "each read once, under its request id");
}

/// On PostgreSQL a staff read no longer waits for a change of the same
/// dossier: while another transaction holds the dossier's row as an action
/// does until it commits (its update and its history append take `FOR NO
/// KEY UPDATE`), the read answers at once. (Reads used to append to the
/// history under that row's lock, so they queued behind it and behind each
/// other. On SQLite every write, the access log's included, takes the
/// database's one write lock, so there is nothing to show there.)
async fn a_staff_read_does_not_wait_for_a_change_of_the_dossier(app: TestApp) {
    if app.backend != motcua_persistence::Backend::Postgres {
        return;
    }
    let fixture = Fixture::build(&app).await;
    let clerk = token(&fixture, Who::Clerk);
    let id = accepted(&app, &fixture, "clerk.a").await;
    let dossier: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
    let (locked, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let db = app.db.clone();
    let holder = std::thread::spawn(move || {
        db.write(|conn| {
            diesel::sql_query("SELECT id FROM dossiers WHERE id = $1 FOR NO KEY UPDATE")
                .bind::<motcua_persistence::sql_types::Uuid, _>(dossier)
                .execute(conn)?;
            let _ = locked.0.send(());
            let _ = release.1.recv_timeout(std::time::Duration::from_secs(20));
            Ok::<_, DbError>(())
        })
    });
    locked
        .1
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("the row was not locked: {e}"));
    let started = std::time::Instant::now();
    let response = app
        .client
        .get(app.url(&format!("/api/v1/dossiers/{id}")))
        .bearer_auth(&clerk)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    let _ = release.0.send(());
    let status = response.map(|r| r.status().as_u16());
    assert_eq!(
        status.as_ref().ok(),
        Some(&200),
        "while the row is held: {status:?} after {:?}",
        started.elapsed()
    );
    holder
        .join()
        .unwrap_or_else(|_| panic!("the lock holder panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// A second province with an auditor; returns the auditor's token.
async fn other_province_auditor(app: &TestApp) -> String {
    let passwords = Passwords::new().unwrap_or_else(|e| panic!("{e}"));
    let hash = passwords.hash(PASSWORD).unwrap_or_else(|e| panic!("{e}"));
    app.db
        .run(|conn| {
            let province = agencies::create(
                conn,
                &NewAgency {
                    identifier: "000.00.00.H02".into(),
                    name: "Tỉnh khác".into(),
                    kind: "province".into(),
                    parent_id: None,
                },
                chrono::Utc::now(),
            )?;
            users::create(
                conn,
                &new_user("auditor.q", "staff", "auditor", Some(province.id), &hash),
            )
        })
        .unwrap_or_else(|e: DbError| panic!("{e}"));
    app.login("auditor.q", PASSWORD).await.0
}

async fn auditors_see_only_the_reads_in_their_reach(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, auditor) = (token(&fixture, Who::Clerk), token(&fixture, Who::Auditor));
    let own = accepted(&app, &fixture, "clerk.a").await;
    let child = accepted(&app, &fixture, "staff.child").await;
    let sibling = accepted(&app, &fixture, "staff.sibling").await;
    read(&app, &clerk, &own).await;
    read(&app, &clerk, &child).await;
    let (sibling_clerk, _) = app.login("staff.sibling", PASSWORD).await;
    read(&app, &sibling_clerk, &sibling).await;
    let dossiers_of = |page: &Value| -> Vec<String> {
        items(page)
            .iter()
            .filter_map(|e| e["dossier_id"].as_str().map(str::to_owned))
            .collect()
    };

    // Commune A's auditor: A and its unit, not the sibling commune.
    let page = log_page(&app, &auditor, "").await;
    assert_eq!(dossiers_of(&page), [own.clone(), child.clone()]);
    let page = log_page(&app, &auditor, &format!("agency_id={}", fixture.child.id)).await;
    assert_eq!(dossiers_of(&page), [child.as_str()]);
    let outside = format!("/api/v1/audit/access-log?agency_id={}", fixture.sibling.id);
    problem(app.get_as(&outside, &auditor).await, 404, "not_found").await;
    let outside = format!("/api/v1/audit/access-log?dossier={sibling}");
    problem(app.get_as(&outside, &auditor).await, 404, "not_found").await;
    // The sibling commune's clerk sees only its own reads.
    let page = log_page(&app, &sibling_clerk, "").await;
    assert_eq!(dossiers_of(&page), [sibling.as_str()]);

    // Another province's auditor sees none of it, and may not ask for it.
    let stranger = other_province_auditor(&app).await;
    let page = log_page(&app, &stranger, "").await;
    assert!(items(&page).is_empty(), "{page}");
    for query in [
        format!("agency_id={}", fixture.province.id),
        format!("agency_id={}", fixture.own.id),
        format!("dossier={own}"),
    ] {
        let path = format!("/api/v1/audit/access-log?{query}");
        problem(app.get_as(&path, &stranger).await, 404, "not_found").await;
    }

    // Roles that do not read dossiers may not read the log either.
    let path = "/api/v1/audit/access-log";
    for who in [Who::Citizen, Who::Admin] {
        problem(
            app.get_as(path, &token(&fixture, who)).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(app.get(path).await.status().as_u16(), 401);
}

async fn the_access_log_filters_pages_and_answers_csv(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (clerk, officer, auditor) = (
        token(&fixture, Who::Clerk),
        token(&fixture, Who::Officer),
        token(&fixture, Who::Auditor),
    );
    let first = accepted(&app, &fixture, "clerk.a").await;
    let second = accepted(&app, &fixture, "clerk.a").await;
    // Monday: the clerk reads both; Tuesday: the officer reads the first twice.
    let monday = read(&app, &clerk, &first).await;
    read(&app, &clerk, &second).await;
    app.clock.set(vn("2026-11-03 10:00"));
    read(&app, &officer, &first).await;
    read(&app, &officer, &first).await;

    let count = |page: Value| items(&page).len();
    assert_eq!(count(log_page(&app, &auditor, "").await), 4);
    let clerk_id = account_id(&app, &clerk).await;
    assert_eq!(
        count(log_page(&app, &auditor, &format!("actor_id={clerk_id}")).await),
        2
    );
    assert_eq!(
        count(log_page(&app, &auditor, &format!("dossier={first}")).await),
        3
    );
    let code = app.dossier_row(&second).code;
    assert_eq!(
        count(log_page(&app, &auditor, &format!("dossier={code}")).await),
        1,
        "a dossier by its code"
    );
    assert_eq!(
        count(log_page(&app, &auditor, &format!("request_id={monday}")).await),
        1
    );
    assert_eq!(
        count(log_page(&app, &auditor, "from=2026-11-03").await),
        2,
        "Tuesday"
    );
    assert_eq!(
        count(log_page(&app, &auditor, "from=2026-11-02&to=2026-11-02").await),
        2,
        "Monday"
    );
    assert_eq!(count(log_page(&app, &auditor, "to=2026-11-01").await), 0);
    let officer_role = log_page(&app, &auditor, "from=2026-11-03").await;
    assert!(
        items(&officer_role)
            .iter()
            .all(|e| e["actor_role"] == "officer" && e["actor_username"] == "officer.a")
    );

    // Pages of one, in time order, each read once.
    let mut seen = Vec::new();
    let mut query = "limit=1".to_owned();
    loop {
        let page = log_page(&app, &auditor, &query).await;
        let page_items = items(&page);
        assert!(page_items.len() <= 1);
        seen.extend(
            page_items
                .iter()
                .map(|e| (e["at"].to_string(), e["id"].to_string())),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), sorted.len(), "no read twice");

    // CSV: a header row and one row per read; paged with x-next-cursor.
    let response = app
        .get_as("/api/v1/audit/access-log?format=csv", &auditor)
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    assert!(response.headers().get("x-next-cursor").is_none());
    let text = response.text().await.unwrap_or_default();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("\u{feff}Thời điểm (at),"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("Mã yêu cầu (request_id)"));
    assert!(
        lines[1].contains("clerk.a") && lines[1].contains(&monday),
        "{}",
        lines[1]
    );
    let response = app
        .client
        .get(app.url("/api/v1/audit/access-log?limit=3"))
        .bearer_auth(&auditor)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let next = response
        .headers()
        .get("x-next-cursor")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(text.trim_end().split("\r\n").count(), 4, "{text}");
    let rest = app
        .get_as(
            &format!("/api/v1/audit/access-log?format=csv&limit=3&cursor={next}"),
            &auditor,
        )
        .await
        .text()
        .await
        .unwrap_or_default();
    assert_eq!(rest.trim_end().split("\r\n").count(), 2, "{rest}");

    // Wrong filters are 422 naming the field.
    for (query, field) in [
        ("from=2026-11-03&to=2026-11-02", "to"),
        ("actor_id=someone", "actor_id"),
        ("agency_id=42", "agency_id"),
        ("cursor=zz", "cursor"),
        ("cursor=6869", "cursor"),
        ("limit=0", "limit"),
        ("format=xml", "xml"),
        ("from=1800-01-01", "from"),
    ] {
        let body = problem(
            app.get_as(&format!("/api/v1/audit/access-log?{query}"), &auditor)
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert!(body.to_string().contains(field), "{query}: {body}");
    }
}

/// If the read cannot be recorded, the reader gets an error and none of the
/// dossier's data; once the log can be written again, reads work and are
/// recorded. (The log's table is renamed away to make its write fail.)
async fn a_read_that_cannot_be_recorded_shows_nothing(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let clerk = token(&fixture, Who::Clerk);
    let id = accepted(&app, &fixture, "clerk.a").await;
    let before = app.version_and_events(&id);
    let rename = |from: &str, to: &str| {
        let statement = format!("ALTER TABLE {from} RENAME TO {to}");
        app.db
            .run(|conn| Ok(diesel::sql_query(&statement).execute(conn)?))
            .unwrap_or_else(|e: DbError| panic!("{statement}: {e}"));
    };
    rename("access_log", "access_log_away");
    let response = app.get_as(&format!("/api/v1/dossiers/{id}"), &clerk).await;
    let body = problem(response, 500, "internal_error").await;
    assert!(
        !body.to_string().contains("Trần Thị Bình"),
        "no personal data: {body}"
    );
    let form = app
        .get_as(&format!("/api/v1/dossiers/{id}/forms/receipt"), &clerk)
        .await;
    problem(form, 500, "internal_error").await;
    // Citizens reading their own dossier are not recorded: unaffected.
    let own = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    read(&app, &citizen, &own).await;
    rename("access_log_away", "access_log");

    let request_id = read(&app, &clerk, &id).await;
    let rows: Vec<Option<String>> = app
        .db
        .run(|conn| {
            Ok(access_log::table
                .select(access_log::request_id)
                .load(conn)?)
        })
        .unwrap_or_else(|e: DbError| panic!("{e}"));
    assert_eq!(rows, [Some(request_id)], "only the read that was answered");
    assert_eq!(app.version_and_events(&id), before);
}

api_tests!(
    a_staff_read_goes_to_the_access_log_not_the_history,
    fifty_concurrent_staff_reads_all_answer,
    a_staff_read_does_not_wait_for_a_change_of_the_dossier,
    auditors_see_only_the_reads_in_their_reach,
    the_access_log_filters_pages_and_answers_csv,
    a_read_that_cannot_be_recorded_shows_nothing,
);
