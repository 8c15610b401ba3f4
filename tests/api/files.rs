//! Uploads: content-addressed, typed by content, owned, size-limited.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixture::{CITIZEN, Fixture, OTHER_CITIZEN, PASSWORD, Who};
use crate::helpers::{
    JPEG, PDF, PNG, TestApp, UPLOAD_LIMIT, UPLOAD_QUOTA_BYTES, json, padded_pdf, problem,
};

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

/// Files a dossier online as the fixture citizen in commune A; returns the
/// id of its first document's file, after checking A's clerk may read it.
async fn a_filed_document(app: &TestApp, fixture: &Fixture, clerk: &str) -> String {
    let dossier = fixture.file_online(app, CITIZEN, &fixture.own).await;
    let view = json(
        app.get_as(&format!("/api/v1/dossiers/{dossier}"), clerk)
            .await,
        "application/json",
    )
    .await;
    let attached = view["documents"][0]["file_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        app.get_as(&format!("/api/v1/files/{attached}"), clerk)
            .await
            .status()
            .as_u16(),
        200
    );
    attached
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
    let header = |name: &str| {
        back.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(
        header("content-disposition"),
        Some(format!("attachment; filename=\"{id}.pdf\""))
    );
    assert_eq!(
        back.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        PDF
    );

    let (png, jpeg) = (PNG.to_vec(), JPEG.to_vec());
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
    let attached = a_filed_document(&app, &fixture, &clerk).await;
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

/// Issue #10, item 11: magic bytes alone no longer make a document.
async fn content_that_only_starts_like_a_document_is_refused(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let before = file_count(&app);
    let mut random_pdf = b"%PDF-1.7\n".to_vec();
    random_pdf.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let png_then_html = [PNG, b"<html><script>alert(document.cookie)</script></html>"].concat();
    let png_magic_then_html = [&PNG[..8], b"<html><script>alert(1)</script></html>"].concat();
    for (name, bytes) in [
        ("random.pdf", random_pdf),
        ("trailing-html.png", png_then_html),
        ("magic-only.png", png_magic_then_html),
    ] {
        let body = problem(
            app.upload(&citizen, name, bytes).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "file", "{name}: {body}");
    }
    assert_eq!(file_count(&app), before, "nothing was stored");
}

/// Issue #10, item 3: staff of a sibling commune attach a citizen's upload
/// to a dossier of their own to read it. Refused, and the file stays unreadable.
async fn staff_cannot_read_a_file_by_attaching_it(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let file = app.upload_pdf(&citizen).await;
    let (sibling, _) = app.login("staff.sibling", PASSWORD).await;
    let intake = serde_json::json!({
        "channel": "direct", "procedure_code": "1.004194",
        "applicant": {"full_name": "Trần Thị Bình", "phone": "0987654321", "national_id": "001195012345"},
        "documents": [
            {"requirement_code": "TK", "originals": 1, "file_id": file},
            {"requirement_code": "CM", "copies": 1},
        ],
        "result_delivery": "desk", "decision": {"kind": "accept"},
    });
    let body = problem(
        app.post_json("/api/v1/dossiers/intake", Some(&sibling), &intake)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "documents[0].file_id");
    problem(
        app.get_as(&format!("/api/v1/files/{file}"), &sibling).await,
        404,
        "not_found",
    )
    .await;
    // Once the citizen files it in commune A, A's clerk may read it, but may
    // not attach it to another dossier (whose citizen would then read it);
    // B's clerk can do neither (found by the second outside probe).
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let attached = a_filed_document(&app, &fixture, &clerk).await;
    let mut again = intake.clone();
    again["documents"][0]["file_id"] = attached.clone().into();
    for token in [&clerk, &sibling] {
        problem(
            app.post_json("/api/v1/dossiers/intake", Some(token), &again)
                .await,
            422,
            "validation_failed",
        )
        .await;
    }
    problem(
        app.get_as(&format!("/api/v1/files/{attached}"), &sibling)
            .await,
        404,
        "not_found",
    )
    .await;
}

/// Issue #10, item 11: one account cannot fill the disk with uploads it
/// never files. Ten parallel uploads of 200 KB against a 1 MiB quota: five
/// fit, five are refused, and the quota holds exactly.
async fn the_upload_quota_holds_under_parallel_uploads(app: TestApp) {
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let big = padded_pdf(200 * 1024);
    let uploads = (0..10).map(|_| app.upload(&citizen, "big.pdf", big.clone()));
    let statuses: Vec<u16> = futures_util::future::join_all(uploads)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let fitting = usize::try_from(UPLOAD_QUOTA_BYTES / (200 * 1024)).unwrap_or(0);
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        fitting,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        10 - fitting,
        "{statuses:?}"
    );
    let body = problem(
        app.upload(&citizen, "big.pdf", big).await,
        409,
        "upload_quota_exceeded",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not attached")),
        "{body}"
    );
    // A refused upload leaves nothing in the store (found by an outside probe).
    let stored = app.stored_files();
    problem(
        app.upload(&citizen, "other.pdf", padded_pdf(150 * 1024))
            .await,
        409,
        "upload_quota_exceeded",
    )
    .await;
    assert_eq!(app.stored_files(), stored);
    // Another account is not affected.
    let (other, _) = app.login(OTHER_CITIZEN, PASSWORD).await;
    assert_eq!(
        app.upload(&other, "a.pdf", PDF.to_vec())
            .await
            .status()
            .as_u16(),
        201
    );
}

/// An officer attaches the electronic result on completion; the citizen who
/// owns the dossier may download it, nobody else; a file the officer may not
/// read cannot be named as a result (found by an outside probe).
async fn an_electronic_result_reaches_its_citizen_and_nobody_else(app: TestApp) {
    let fixture = Fixture::build(&app).await;
    let id = fixture.file_online(&app, CITIZEN, &fixture.own).await;
    let clerk = fixture.token(Who::Clerk).unwrap_or_default().to_owned();
    let officer = fixture.token(Who::Officer).unwrap_or_default().to_owned();
    let version = |body: &Value| body["version"].as_i64().unwrap_or_default();
    let accepted = json(
        app.post_json(
            &format!("/api/v1/dossiers/{id}/accept"),
            Some(&clerk),
            &serde_json::json!({"version": 1}),
        )
        .await,
        "application/json",
    )
    .await;
    let (other, _) = app.login(OTHER_CITIZEN, PASSWORD).await;
    let foreign = app.upload_pdf(&other).await;
    let result = app.upload_pdf(&officer).await;
    // The citizen's own declaration, readable by the officer, is not a result
    // the officer may hand on (it would reach whoever owns this dossier).
    let declaration = accepted["documents"][0]["file_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let complete = |files: Vec<&str>, version: i64| serde_json::json!({"outcome": "approved", "result_files": files, "version": version});
    let path = format!("/api/v1/dossiers/{id}/complete");
    for bad in [
        vec!["not-a-file"],
        vec![foreign.as_str()],
        vec![declaration.as_str()],
        vec!["00000000-0000-0000-0000-000000000000"],
    ] {
        let body = problem(
            app.post_json(&path, Some(&officer), &complete(bad, version(&accepted)))
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "result_files[0]", "{body}");
    }
    json(
        app.post_json(
            &path,
            Some(&officer),
            &complete(vec![result.as_str()], version(&accepted)),
        )
        .await,
        "application/json",
    )
    .await;
    let (owner, _) = app.login(CITIZEN, PASSWORD).await;
    assert_eq!(
        app.get_as(&format!("/api/v1/files/{result}"), &owner)
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.get_as(&format!("/api/v1/files/{result}"), &clerk)
            .await
            .status()
            .as_u16(),
        200
    );
    problem(
        app.get_as(&format!("/api/v1/files/{result}"), &other).await,
        404,
        "not_found",
    )
    .await;
}

api_tests!(
    an_electronic_result_reaches_its_citizen_and_nobody_else,
    uploads_are_stored_by_content_and_typed_by_their_bytes,
    bad_uploads_are_refused_and_store_nothing,
    content_that_only_starts_like_a_document_is_refused,
    staff_cannot_read_a_file_by_attaching_it,
    the_upload_quota_holds_under_parallel_uploads,
);
