//! The history audit against someone with write access to the database:
//! a deleted last event, an edited event, a chain re-hashed without the
//! key, key rotation, and a subtree's verification over a period.

use diesel::prelude::*;
use motcua_domain::history::{GENESIS, Keyring, event_hash};
use motcua_persistence::schema::{dossier_events, dossiers};
use motcua_persistence::{DbError, DossierId};
use serde_json::{Value, json};

use crate::fixture::{Fixture, PASSWORD, Who};
use crate::helpers::{TestApp, json, problem, vn};

fn token(fixture: &Fixture, who: Who) -> String {
    fixture.token(who).unwrap_or_default().to_owned()
}

fn id_of(dossier: &Value) -> DossierId {
    dossier["id"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {dossier}"))
}

/// Runs `f` on the test database, as someone with database access would.
fn tamper<T>(
    app: &TestApp,
    f: impl FnOnce(&mut motcua_persistence::DbConnection) -> Result<T, DbError>,
) -> T {
    app.db.run(f).unwrap_or_else(|e: DbError| panic!("{e}"))
}

async fn act(app: &TestApp, token: &str, id: DossierId, action: &str, body: Value) {
    let (status, answer) = app.act(token, &id.to_string(), action, body).await;
    assert_eq!(status, 200, "{action}: {answer}");
}

/// A dossier of three events: accepted at the desk, handed over, completed.
async fn three_events(app: &TestApp, fixture: &Fixture, clerk: &str) -> Value {
    let dossier = fixture
        .intake(app, clerk, "1.004194", json!({"kind": "accept"}))
        .await;
    let id = id_of(&dossier);
    let (clerk_token, _) = app.login(clerk, PASSWORD).await;
    act(
        app,
        &clerk_token,
        id,
        "handover",
        json!({"to_step": "Thẩm định"}),
    )
    .await;
    act(
        app,
        &token(fixture, Who::Officer),
        id,
        "complete",
        json!({"outcome": "approved"}),
    )
    .await;
    dossier
}

async fn verify(app: &TestApp, token: &str, query: &str) -> Value {
    json(
        app.get_as(&format!("/api/v1/audit/verify?{query}"), token)
            .await,
        "application/json",
    )
    .await
}

async fn verify_dossier(app: &TestApp, fixture: &Fixture, id: DossierId) -> Value {
    verify(
        app,
        &token(fixture, Who::Auditor),
        &format!("dossier_id={id}"),
    )
    .await
}

fn keyring(text: &str) -> Option<Keyring> {
    Some(Keyring::parse(text).unwrap_or_else(|e| panic!("{e}")))
}

async fn a_deleted_last_event_is_reported_by_the_head(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let id = id_of(&three_events(&app, &fixture, "clerk.a").await);
    let intact = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        intact,
        json!({"ok": true, "events_checked": 3, "first_broken": null, "reason": null,
               "head_mismatch": false, "recorded_events": 3, "unkeyed_events": 0})
    );

    // Someone deletes the last event (the result) straight from the table.
    tamper(&app, |conn| {
        diesel::delete(
            dossier_events::table
                .filter(dossier_events::dossier_id.eq(id))
                .filter(dossier_events::seq.eq(3)),
        )
        .execute(conn)
        .map_err(DbError::from)
    });
    let shortened = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        shortened,
        json!({"ok": false, "events_checked": 2, "first_broken": null, "reason": "head",
               "head_mismatch": true, "recorded_events": 3, "unkeyed_events": 0})
    );

    // The next event (the desk returns the result) continues from the
    // recorded head: the gap stays visible.
    act(
        &app,
        &token(&fixture, Who::Clerk),
        id,
        "return",
        json!({"delivery": "desk"}),
    )
    .await;
    let after = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        (
            &after["first_broken"],
            &after["reason"],
            &after["head_mismatch"]
        ),
        (&json!(4), &json!("sequence"), &json!(false)),
        "{after}"
    );
}

async fn an_edited_middle_event_is_reported_with_its_seq(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let id = id_of(&three_events(&app, &fixture, "clerk.a").await);
    tamper(&app, |conn| {
        diesel::update(
            dossier_events::table
                .filter(dossier_events::dossier_id.eq(id))
                .filter(dossier_events::seq.eq(2)),
        )
        .set(dossier_events::payload.eq(r#"{"to_step":"somewhere else"}"#))
        .execute(conn)
        .map_err(DbError::from)
    });
    let found = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        (
            &found["ok"],
            &found["first_broken"],
            &found["reason"],
            &found["head_mismatch"]
        ),
        (&json!(false), &json!(2), &json!("hash"), &json!(false)),
        "{found}"
    );
}

/// Rewrites a dossier's chain end to end with plain SHA-256 (as anyone can
/// without the key), the second event's payload changed, prev_hash, hash and
/// the dossier's head all consistent.
fn rehash_without_the_key(app: &TestApp, id: DossierId) {
    tamper(app, |conn| {
        let events = motcua_persistence::dossiers::events(conn, id)?;
        let mut previous = GENESIS.to_owned();
        for event in events {
            let mut content = event.content();
            if event.seq == 2 {
                content.payload = r#"{"to_step":"somewhere else"}"#.into();
            }
            let hash = event_hash(&previous, &content);
            diesel::update(dossier_events::table.find(event.id))
                .set((
                    dossier_events::payload.eq(&content.payload),
                    dossier_events::prev_hash.eq(&previous),
                    dossier_events::hash.eq(&hash),
                ))
                .execute(conn)?;
            previous = hash;
        }
        diesel::update(dossiers::table.find(id))
            .set(dossiers::history_head.eq(&previous))
            .execute(conn)?;
        Ok(())
    });
}

async fn a_chain_rehashed_without_the_key_is_reported(app: TestApp) {
    let mut app = app;
    let fixture = Fixture::build(&app).await;
    let id = id_of(&three_events(&app, &fixture, "clerk.a").await);
    rehash_without_the_key(&app, id);
    let found = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        (
            &found["ok"],
            &found["first_broken"],
            &found["reason"],
            &found["head_mismatch"]
        ),
        (&json!(false), &json!(1), &json!("hash"), &json!(false)),
        "{found}"
    );

    // Passed off as events from before keyed hashes (key id `sha256`): they
    // verify as legacy, counted as unkeyed, until the upgrade's date is
    // configured; then an unkeyed event after it is a forgery.
    tamper(&app, |conn| {
        diesel::update(dossier_events::table.filter(dossier_events::dossier_id.eq(id)))
            .set(dossier_events::key_id.eq("sha256"))
            .execute(conn)
            .map_err(DbError::from)
    });
    let legacy = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        (&legacy["ok"], &legacy["unkeyed_events"]),
        (&json!(true), &json!(3)),
        "{legacy}"
    );
    app.restart(|s| s.history_unkeyed_before = Some(vn("2026-11-01 00:00")))
        .await;
    let found = verify_dossier(&app, &fixture, id).await;
    assert_eq!(
        (&found["ok"], &found["first_broken"], &found["reason"]),
        (&json!(false), &json!(1), &json!("unkeyed")),
        "{found}"
    );
}

async fn events_under_an_old_key_verify_while_it_is_listed(app: TestApp) {
    let mut app = app;
    app.restart(|s| s.history_keys = keyring("k2025:old-secret-of-last-year"))
        .await;
    let fixture = Fixture::build(&app).await;
    let old = fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    let old = id_of(&old);

    // Rotation: a new current key, the old one still listed.
    app.restart(|s| {
        s.history_keys = keyring("k2026:new-secret-of-this-year,k2025:old-secret-of-last-year")
    })
    .await;
    act(
        &app,
        &token(&fixture, Who::Clerk),
        old,
        "handover",
        json!({"to_step": "Thẩm định"}),
    )
    .await;
    let new = id_of(
        &fixture
            .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
            .await,
    );
    let key_ids = |dossier: DossierId| -> Vec<String> {
        tamper(&app, |conn| {
            Ok(dossier_events::table
                .filter(dossier_events::dossier_id.eq(dossier))
                .order(dossier_events::seq)
                .select(dossier_events::key_id)
                .load(conn)?)
        })
    };
    assert_eq!(key_ids(old), ["k2025", "k2026"]);
    assert_eq!(key_ids(new), ["k2026"]);
    let listed = json(
        app.get_as(
            &format!("/api/v1/dossiers/{old}/events"),
            &token(&fixture, Who::Auditor),
        )
        .await,
        "application/json",
    )
    .await;
    let listed: Vec<&Value> = listed
        .as_array()
        .map(|events| events.iter().map(|e| &e["key_id"]).collect())
        .unwrap_or_default();
    assert_eq!(listed, [&json!("k2025"), &json!("k2026")]);
    for dossier in [old, new] {
        let checked = verify_dossier(&app, &fixture, dossier).await;
        assert_eq!(checked["ok"], true, "{checked}");
    }

    // Dropping the old key leaves its events unverifiable, named as such.
    app.restart(|s| s.history_keys = keyring("k2026:new-secret-of-this-year"))
        .await;
    let unverifiable = verify_dossier(&app, &fixture, old).await;
    assert_eq!(
        (&unverifiable["first_broken"], &unverifiable["reason"]),
        (&json!(1), &json!("unknown_key")),
        "{unverifiable}"
    );
    assert_eq!(verify_dossier(&app, &fixture, new).await["ok"], true);
}

async fn a_subtree_verification_finds_the_broken_dossier_among_intact_ones(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    // Commune A (own): two intact dossiers; unit A1 (child): one intact,
    // one edited; commune B (sibling, out of reach): one edited.
    three_events(&app, &fixture, "clerk.a").await;
    fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    fixture
        .intake(&app, "staff.child", "1.004194", json!({"kind": "accept"}))
        .await;
    let broken = three_events(&app, &fixture, "staff.child").await;
    let elsewhere = fixture
        .intake(&app, "staff.sibling", "1.004194", json!({"kind": "accept"}))
        .await;
    // And one on the next day, outside the period.
    app.clock.set(vn("2026-11-03 09:00"));
    fixture
        .intake(&app, "clerk.a", "1.004194", json!({"kind": "accept"}))
        .await;
    for (dossier, seq) in [(id_of(&broken), 2), (id_of(&elsewhere), 1)] {
        tamper(&app, |conn| {
            diesel::update(
                dossier_events::table
                    .filter(dossier_events::dossier_id.eq(dossier))
                    .filter(dossier_events::seq.eq(seq)),
            )
            .set(dossier_events::actor_role.eq("leader"))
            .execute(conn)
            .map_err(DbError::from)
        });
    }

    let auditor = token(&fixture, Who::Auditor);
    let own = fixture.own.id;
    let summary = verify(
        &app,
        &auditor,
        &format!("agency_id={own}&from=2026-11-02&to=2026-11-02"),
    )
    .await;
    assert_eq!(
        summary,
        json!({
            "ok": false, "agency_id": own.to_string(), "from": "2026-11-02", "to": "2026-11-02",
            "dossiers_checked": 4, "events_checked": 2 + 1 + 1 + 3, "unkeyed_events": 0,
            "broken_dossiers": 1,
            "broken": [{
                "dossier_id": broken["id"], "code": broken["code"], "first_broken": 2,
                "reason": "hash", "head_mismatch": false, "events_checked": 2, "recorded_events": 3,
            }],
        })
    );
    // The caller's agency by default; the next day holds one intact dossier.
    let both_days = verify(&app, &auditor, "from=2026-11-02&to=2026-11-03").await;
    assert_eq!(
        (
            &both_days["dossiers_checked"],
            &both_days["broken_dossiers"]
        ),
        (&json!(5), &json!(1))
    );
    let next_day = verify(&app, &auditor, "from=2026-11-03&to=2026-11-03").await;
    assert_eq!(
        (&next_day["ok"], &next_day["dossiers_checked"]),
        (&json!(true), &json!(1))
    );
    // The unit's clerk sees the unit only; the sibling is out of reach.
    let unit = verify(
        &app,
        &app.login("staff.child", PASSWORD).await.0,
        "from=2026-11-01&to=2026-11-30",
    )
    .await;
    assert_eq!(
        (&unit["dossiers_checked"], &unit["broken_dossiers"]),
        (&json!(2), &json!(1))
    );
    let sibling = format!(
        "/api/v1/audit/verify?agency_id={}&from=2026-11-02&to=2026-11-02",
        fixture.sibling.id
    );
    problem(app.get_as(&sibling, &auditor).await, 404, "not_found").await;
    let province = format!(
        "/api/v1/audit/verify?agency_id={}&from=2026-11-02&to=2026-11-02",
        fixture.province.id
    );
    problem(app.get_as(&province, &auditor).await, 404, "not_found").await;
    // Administrators and citizens do not read dossiers.
    problem(
        app.get_as(
            "/api/v1/audit/verify?from=2026-11-02&to=2026-11-02",
            &token(&fixture, Who::Admin),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    problem(
        app.get_as(
            "/api/v1/audit/verify?from=2026-11-02&to=2026-11-02",
            &token(&fixture, Who::Citizen),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A period needs both ends in order, and is not mixed with a dossier.
    for query in [
        "from=2026-11-02",
        "from=2026-11-03&to=2026-11-02",
        &format!(
            "dossier_id={}&from=2026-11-02&to=2026-11-02",
            broken["id"].as_str().unwrap_or_default()
        ),
        "agency_id=not-an-id&from=2026-11-02&to=2026-11-02",
    ] {
        problem(
            app.get_as(&format!("/api/v1/audit/verify?{query}"), &auditor)
                .await,
            422,
            "validation_failed",
        )
        .await;
    }
}

api_tests!(
    a_deleted_last_event_is_reported_by_the_head,
    an_edited_middle_event_is_reported_with_its_seq,
    a_chain_rehashed_without_the_key_is_reported,
    events_under_an_old_key_verify_while_it_is_listed,
    a_subtree_verification_finds_the_broken_dossier_among_intact_ones,
);
