//! Uploads: content-addressed, typed by content, owned, size-limited.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixture::{CITIZEN, Fixture, OTHER_CITIZEN, PASSWORD, Who};
use crate::helpers::{PDF, TestApp, UPLOAD_LIMIT, json, problem};

fn file_count(app: &TestApp) -> i64 {
    app.db
        .run(|conn| {
            use diesel::prelude::*;
            Ok(motcua_persistence::schema::files::table
                .count()
                .get_result(conn)?)
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
}

async fn uploads_are_stored_by_content_and_typed_by_their_bytes(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let stored = json(
        app.upload(&citizen, "to-khai.pdf", PDF.to_vec()).await,
        "application/json",
    )
    .await;
    let expected: String = Sha256::digest(PDF)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored["sha256"], expected.as_str());
    assert_eq!(stored["size"], PDF.len());
    assert_eq!(stored["media_type"], "application/pdf");
    let id = stored["id"].as_str().unwrap_or_default();
    let back = app.get_as(&format!("/api/v1/files/{id}"), &citizen).await;
    assert_eq!(
        back.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/pdf")
    );
    assert_eq!(
        back.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        PDF
    );

    let png = [
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..],
        b"rest",
    ]
    .concat();
    let jpeg = [&[0xFF, 0xD8, 0xFF, 0xE0][..], b"rest"].concat();
    // The type comes from the content, whatever the name says.
    assert_eq!(
        json(
            app.upload(&citizen, "scan.pdf", png).await,
            "application/json"
        )
        .await["media_type"],
        "image/png"
    );
    assert_eq!(
        json(
            app.upload(&citizen, "photo.bin", jpeg).await,
            "application/json"
        )
        .await["media_type"],
        "image/jpeg"
    );

    // Nobody else sees it; staff see it once it is attached to a dossier in their reach.
    let (other, _) = app.login(OTHER_CITIZEN, PASSWORD).await;
    problem(
        app.get_as(&format!("/api/v1/files/{id}"), &other).await,
        404,
        "not_found",
    )
    .await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    problem(
        app.get_as(&format!("/api/v1/files/{id}"), &clerk).await,
        404,
        "not_found",
    )
    .await;
    let dossier = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let view = json(
        app.get_as(&format!("/api/v1/dossiers/{dossier}"), &clerk)
            .await,
        "application/json",
    )
    .await;
    let attached = view["documents"][0]["file_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        app.get_as(&format!("/api/v1/files/{attached}"), &clerk)
            .await
            .status()
            .as_u16(),
        200
    );
    let (sibling, _) = app.login("staff.sibling", PASSWORD).await;
    problem(
        app.get_as(&format!("/api/v1/files/{attached}"), &sibling)
            .await,
        404,
        "not_found",
    )
    .await;
}

async fn bad_uploads_are_refused_and_store_nothing(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let before = file_count(&app);
    // Claims to be a PDF by its name, is not one by its bytes.
    problem(
        app.upload(&citizen, "giay-to.pdf", b"just some text".to_vec())
            .await,
        415,
        "unsupported_media_type",
    )
    .await;
    let mut big = PDF.to_vec();
    big.resize(UPLOAD_LIMIT + 1, b' ');
    problem(
        app.upload(&citizen, "big.pdf", big).await,
        413,
        "payload_too_large",
    )
    .await;
    let not_multipart = app
        .post_json(
            "/api/v1/files",
            Some(&citizen),
            &serde_json::json!({"file": "x"}),
        )
        .await;
    problem(not_multipart, 415, "unsupported_media_type").await;
    let form = reqwest::multipart::Form::new().text("note", "no file here");
    let no_file = app
        .client
        .post(app.url("/api/v1/files"))
        .bearer_auth(&citizen)
        .multipart(form)
        .send()
        .await;
    let no_file = no_file.unwrap_or_else(|e| panic!("{e}"));
    let body: Value = problem(no_file, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "file");
    problem(
        app.upload("not-a-token", "a.pdf", PDF.to_vec()).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(file_count(&app), before, "nothing was stored");
}

api_tests!(
    uploads_are_stored_by_content_and_typed_by_their_bytes,
    bad_uploads_are_refused_and_store_nothing,
);
