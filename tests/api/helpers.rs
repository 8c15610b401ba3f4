use motcua_api::clock::Clock;
use motcua_api::settings::Secret;
use motcua_api::{Application, Settings};
use motcua_persistence::testing::TestDb;
use motcua_persistence::{Backend, DatabaseUrl, Db, DbConfig};

/// The upload limit of test servers.
pub const UPLOAD_LIMIT: usize = 256 * 1024;

/// The bytes of unattached uploads one account may hold on test servers.
pub const UPLOAD_QUOTA_BYTES: i64 = 1024 * 1024;

/// A 2×2 PNG and a 2×2 JPEG, as an image library writes them.
pub const PNG: &[u8] = include_bytes!("fixtures/scan.png");
/// See [`PNG`].
pub const JPEG: &[u8] = include_bytes!("fixtures/photo.jpg");

/// A well-formed PDF of about `size` bytes: [`PDF`] with a comment before
/// its cross-reference table (whose offset moves accordingly).
pub fn padded_pdf(size: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(PDF).into_owned();
    let (objects, _) = text.split_once("xref").unwrap_or_default();
    let padding = format!("%{}\n", "x".repeat(size.saturating_sub(PDF.len() + 2)));
    let xref_at = objects.len() + padding.len();
    format!(
        "{objects}{padding}xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n\
         trailer << /Size 3 /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
    )
    .into_bytes()
}

/// A minimal well-formed PDF: two objects, a cross-reference table whose
/// offsets are right, a trailer.
pub const PDF: &[u8] = b"%PDF-1.4\n\
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n\
xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \n\
trailer << /Size 3 /Root 1 0 R >>\nstartxref\n110\n%%EOF\n";

/// The payment gateway's shared secret on test servers.
pub const PAYMENT_SECRET: &str = "gateway-secret-for-tests";

/// The signing secret of test servers (tests forge tokens with it).
pub const TEST_SECRET: &str = "test-secret-with-enough-entropy-0123456789abcdef";

/// A running application with its own database, reached over HTTP.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub db: Db,
    /// "Now" for dossier handling; starts at Monday 2026-11-02 09:30 Vietnam time.
    pub clock: Clock,
    /// The settings the server runs with.
    pub settings: Settings,
    _data_dir: tempfile::TempDir,
    _database: TestDb,
}

impl TestApp {
    /// Starts the application on a fresh database of `backend`; `None` when
    /// that backend is unavailable here (PostgreSQL outside CI).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], with the test settings changed by `configure`.
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        let database = TestDb::migrated(backend)?;
        let data_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let mut settings =
            Settings::from_lookup(|_| None).unwrap_or_else(|e| panic!("default settings: {e}"));
        settings.bind = "127.0.0.1:0".into();
        settings.database = DbConfig::new(database.url().clone());
        settings.data_dir = data_dir.path().to_owned();
        settings.workers = Some(1);
        settings.jwt_secret = Secret::new(TEST_SECRET);
        settings.payment_secret = Some(Secret::new(PAYMENT_SECRET));
        settings.limits.upload_bytes = UPLOAD_LIMIT;
        settings.limits.upload_quota_bytes = UPLOAD_QUOTA_BYTES;
        let clock = Clock::fixed(vn("2026-11-02 09:30"));
        settings.clock = clock.clone();
        // The outbox delivers only where a test asks it to (tests/api/outbox.rs).
        settings.outbox.workers = 0;
        configure(&mut settings);
        let (address, db) = serve(settings.clone());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("HTTP client: {e}"));
        Some(TestApp {
            address,
            client,
            backend,
            db,
            clock,
            settings,
            _data_dir: data_dir,
            _database: database,
        })
    }

    /// Starts another server on the same database, data directory and clock,
    /// with the settings changed by `configure` (e.g. other history keys),
    /// and talks to it from now on. The previous server keeps running,
    /// unused, until the test ends.
    pub async fn restart(&mut self, configure: impl FnOnce(&mut Settings)) {
        configure(&mut self.settings);
        let (address, db) = serve(self.settings.clone());
        self.address = address;
        self.db = db;
    }

    /// A dossier's row, straight from the database.
    pub fn dossier_row(&self, id: &str) -> motcua_persistence::dossiers::DossierRow {
        let id: motcua_persistence::DossierId = id.parse().unwrap_or_else(|e| panic!("{e}"));
        self.db
            .run(|conn| motcua_persistence::dossiers::find(conn, id))
            .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
    }

    /// Posts a lifecycle action on the dossier's current version; returns
    /// (status, body).
    pub async fn act(
        &self,
        token: &str,
        id: &str,
        action: &str,
        mut body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        body["version"] = serde_json::json!(self.dossier_row(id).version);
        let path = format!("/api/v1/dossiers/{id}/{action}");
        let response = self
            .send(reqwest::Method::POST, &path, Some(token), Some(&body))
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// How many dossiers the database holds.
    pub fn dossier_count(&self) -> i64 {
        use diesel::prelude::*;
        self.db
            .run(|conn| {
                Ok(motcua_persistence::schema::dossiers::table
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"))
    }

    /// A dossier's version and the number of events in its history: what a
    /// request that fails must leave as it was.
    pub fn version_and_events(&self, id: &str) -> (i32, usize) {
        let row = self.dossier_row(id);
        let events = self
            .db
            .run(|conn| motcua_persistence::dossiers::events(conn, row.id))
            .unwrap_or_else(|e: motcua_persistence::DbError| panic!("{e}"));
        (row.version, events.len())
    }

    /// How many files the server's file store holds (its content-addressed
    /// `files/` directory, not counting uploads in progress).
    pub fn stored_files(&self) -> usize {
        std::fs::read_dir(self._data_dir.path().join("files"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The test database's URL, password included, for a child `motcua` process.
    pub fn database_url(&self) -> String {
        match self._database.url() {
            DatabaseUrl::Postgres(url) => url.clone(),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Logs in; returns (access token, refresh token).
    pub async fn login(&self, username: &str, password: &str) -> (String, String) {
        let response = self
            .post_json(
                "/api/v1/auth/token",
                None,
                &serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status().as_u16(), 200, "login as {username}");
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        (
            body["access_token"].as_str().unwrap_or_default().to_owned(),
            body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// Uploads `bytes` as the multipart field `file`; returns the response.
    pub async fn upload(&self, token: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        self.client
            .post(self.url("/api/v1/files"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload: {e}"))
    }

    /// Uploads a PDF; returns its file id.
    pub async fn upload_pdf(&self, token: &str) -> String {
        let response = self.upload(token, "to-khai.pdf", PDF.to_vec()).await;
        assert_eq!(response.status().as_u16(), 201, "upload");
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        body["id"].as_str().unwrap_or_default().to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
}

/// Builds and spawns the application; returns its address and database.
fn serve(settings: Settings) -> (String, Db) {
    let app = Application::build(settings).unwrap_or_else(|e| panic!("starting the app: {e}"));
    let address = format!("http://{}", app.address());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    (address, db)
}

/// Vietnam local time "YYYY-MM-DD HH:MM" as an instant.
pub fn vn(text: &str) -> chrono::DateTime<chrono::Utc> {
    let local = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    motcua_domain::time::from_local(local)
}

/// An RFC 3339 instant from a response, shown in Vietnam time "YYYY-MM-DD HH:MM".
pub fn vn_of(value: &serde_json::Value) -> String {
    value
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            motcua_domain::time::to_local(t.with_timezone(&chrono::Utc))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| format!("not an instant: {value}"))
}

/// The body of a response as JSON, checking its media type.
pub async fn json(response: reqwest::Response, media_type: &str) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !content_type.starts_with(media_type) {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        panic!("content type {content_type} ({status}): {body}");
    }
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("JSON body: {e}"))
}

/// Asserts an RFC 9457 problem with this status and code; returns it.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    let body = json(response, "application/problem+json").await;
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code);
    assert_eq!(body["type"], format!("urn:motcua:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}

/// Declares each named async test function (taking a [`TestApp`]) once per
/// backend, as `sqlite::<name>` and `postgres::<name>`.
macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = crate::helpers::TestApp::spawn(motcua_persistence::Backend::Sqlite).await;
                    if let Some(app) = app {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let app = crate::helpers::TestApp::spawn(motcua_persistence::Backend::Postgres).await;
                    if let Some(app) = app {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
