//! The file store: with the S3 store (a real SeaweedFS, see [`crate::weed`])
//! files live in the bucket, not in the server's data directory, so several
//! servers on one database share them; an outage of the store answers 503
//! and records nothing. With the local store, a server with another data
//! directory cannot serve them.

use std::path::Path;

use motcua_persistence::Backend;
use sha2::{Digest, Sha256};

use crate::fixture::{CITIZEN, Fixture, PASSWORD};
use crate::helpers::{JPEG, PDF, PNG, TestApp, json, problem};
use crate::weed::{self, Weed};

/// Declares each named async test function (taking a [`Backend`]) once per
/// backend, as `sqlite::<name>` and `postgres::<name>`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(motcua_persistence::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(motcua_persistence::Backend::Postgres).await;
                }
            )*
        }
    };
}

backend_tests!(
    uploads_go_to_the_bucket_and_come_back_from_it,
    a_second_server_on_the_same_database_and_bucket_serves_the_file,
    an_outage_of_the_store_answers_503_and_records_nothing,
    a_store_that_refuses_the_key_answers_503_and_records_nothing,
    with_the_local_store_another_data_directory_cannot_serve_the_file,
);

const PREFIX: &str = "motcua/test";

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn file_rows(app: &TestApp) -> i64 {
    app.db
        .run(|conn| {
            use diesel::prelude::*;
            Ok(motcua_persistence::schema::files::table
                .count()
                .get_result(conn)?)
        })
        .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
}

/// Every file under `<data dir>/files`, uploads in progress included.
fn local_files(data_dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(&data_dir.join("files"), &mut found);
    found
}

/// A server on `backend` using the SeaweedFS `weed`; `None` where either is missing.
async fn s3_app(backend: Backend, weed: &Weed) -> Option<TestApp> {
    let store = weed.settings(PREFIX);
    TestApp::spawn_with(backend, |settings| settings.file_store = store).await
}

async fn download(app: &TestApp, token: &str, id: &str) -> Vec<u8> {
    let response = app.get_as(&format!("/api/v1/files/{id}"), token).await;
    assert_eq!(response.status().as_u16(), 200, "download {id}");
    response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

async fn uploads_go_to_the_bucket_and_come_back_from_it(backend: Backend) {
    let Some(weed) = Weed::start().await else {
        return;
    };
    let Some(app) = s3_app(backend, &weed).await else {
        return;
    };
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let pdf = app.upload_pdf(&citizen).await;
    assert_eq!(download(&app, &citizen, &pdf).await, PDF);
    // In the bucket under its hash, and nowhere in the data directory.
    assert_eq!(
        weed.objects().await,
        vec![(weed::key(PREFIX, &sha256(PDF)), PDF.to_vec())]
    );
    assert_eq!(local_files(&app.settings.data_dir), Vec::<String>::new());

    // The same content again: another file, the same object.
    let again = app.upload_pdf(&citizen).await;
    assert_ne!(again, pdf);
    assert_eq!(download(&app, &citizen, &again).await, PDF);
    assert_eq!(weed.objects().await.len(), 1);

    let png = json(
        app.upload(&citizen, "scan.png", PNG.to_vec()).await,
        "application/json",
    )
    .await;
    assert_eq!(png["sha256"], sha256(PNG).as_str());
    let png = png["id"].as_str().unwrap_or_default();
    assert_eq!(download(&app, &citizen, png).await, PNG);
    assert_eq!(weed.objects().await.len(), 2);
    assert_eq!(file_rows(&app), 3);
    assert_eq!(local_files(&app.settings.data_dir), Vec::<String>::new());
}

/// Two servers behind a load balancer: one database, one bucket, each its
/// own data directory. What one stores the other serves.
async fn a_second_server_on_the_same_database_and_bucket_serves_the_file(backend: Backend) {
    let Some(weed) = Weed::start().await else {
        return;
    };
    let Some(mut app) = s3_app(backend, &weed).await else {
        return;
    };
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let first_server = app.address.clone();
    let from_first = app.upload_pdf(&citizen).await;

    let second_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first_dir = app.settings.data_dir.clone();
    app.restart(|settings| settings.data_dir = second_dir.path().to_owned())
        .await;
    assert_ne!(app.address, first_server);
    assert_eq!(download(&app, &citizen, &from_first).await, PDF);

    // And the other way round.
    let from_second = json(
        app.upload(&citizen, "photo.jpg", JPEG.to_vec()).await,
        "application/json",
    )
    .await;
    let from_second = from_second["id"].as_str().unwrap_or_default();
    let on_first = app
        .client
        .get(format!("{first_server}/api/v1/files/{from_second}"))
        .bearer_auth(&citizen)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(on_first.status().as_u16(), 200);
    assert_eq!(
        on_first
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default(),
        JPEG
    );
    assert_eq!(weed.objects().await.len(), 2);
    for dir in [&first_dir, &second_dir.path().to_owned()] {
        assert_eq!(local_files(dir), Vec::<String>::new(), "{}", dir.display());
    }
}

/// The store goes away: an upload answers 503 problem+json with
/// Retry-After, and leaves no row (nor a staged file); a download answers
/// 503 too. The database is untouched by the failure.
async fn an_outage_of_the_store_answers_503_and_records_nothing(backend: Backend) {
    let Some(mut weed) = Weed::start().await else {
        return;
    };
    let Some(app) = s3_app(backend, &weed).await else {
        return;
    };
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let stored = app.upload_pdf(&citizen).await;
    let rows = file_rows(&app);

    weed.stop();
    let response = app.upload(&citizen, "scan.png", PNG.to_vec()).await;
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    problem(response, 503, "file_store_unavailable").await;
    assert_eq!(
        file_rows(&app),
        rows,
        "no row for content that was not stored"
    );
    assert_eq!(local_files(&app.settings.data_dir), Vec::<String>::new());
    // Content already stored, and the same content again, need the store too.
    problem(
        app.get_as(&format!("/api/v1/files/{stored}"), &citizen)
            .await,
        503,
        "file_store_unavailable",
    )
    .await;
    problem(
        app.upload(&citizen, "to-khai.pdf", PDF.to_vec()).await,
        503,
        "file_store_unavailable",
    )
    .await;
    assert_eq!(file_rows(&app), rows);
}

/// Every request is signed: a server with a wrong secret key is refused by
/// the store (503, nothing recorded), not served anonymously.
async fn a_store_that_refuses_the_key_answers_503_and_records_nothing(backend: Backend) {
    let Some(weed) = Weed::start().await else {
        return;
    };
    let mut store = weed.settings(PREFIX);
    if let motcua_api::settings::FileStoreSettings::S3(s3) = &mut store {
        s3.secret_access_key = motcua_api::settings::Secret::new("not-the-secret-key");
    }
    let Some(app) = TestApp::spawn_with(backend, |settings| settings.file_store = store).await
    else {
        return;
    };
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    problem(
        app.upload(&citizen, "to-khai.pdf", PDF.to_vec()).await,
        503,
        "file_store_unavailable",
    )
    .await;
    assert_eq!(file_rows(&app), 0);
    assert_eq!(weed.objects().await, Vec::new());
}

/// The contrast (docs/security.md, 11f): with the local store, a second
/// server on the same database but its own data directory has no content
/// for the first one's files: 503 `file_unavailable`.
async fn with_the_local_store_another_data_directory_cannot_serve_the_file(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let _fixture = Fixture::build(&app).await;
    let (citizen, _) = app.login(CITIZEN, PASSWORD).await;
    let id = app.upload_pdf(&citizen).await;
    assert_eq!(app.stored_files(), 1);
    let second_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    app.restart(|settings| settings.data_dir = second_dir.path().to_owned())
        .await;
    problem(
        app.get_as(&format!("/api/v1/files/{id}"), &citizen).await,
        503,
        "file_unavailable",
    )
    .await;
}
