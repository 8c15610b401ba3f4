//! Test support: a fresh, migrated database per test, on either backend.
//!
//! SQLite: a file in a temporary directory, removed with it. PostgreSQL: a
//! database cloned from a migrated template (`CREATE DATABASE … TEMPLATE`,
//! ~20 ms) and dropped when the test ends; databases left by killed runs are
//! swept. The server is `MOTCUA_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, an administrative database).
//! Without a reachable PostgreSQL the PostgreSQL half of the suite is skipped
//! with a notice, unless `CI=true`, where it fails.

pub mod schema;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

use crate::db::{Backend, DatabaseUrl, Db, DbConfig};

/// Default administrative connection for the PostgreSQL half of the tests.
pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const TEST_DB_PREFIX: &str = "motcua_test_";
const TEMPLATE_PREFIX: &str = "motcua_tpl_";
/// Test databases older than this are leftovers of killed runs.
const LEFTOVER_AGE_SECS: u64 = 3 * 3600;
const ADVISORY_LOCK_KEY: i64 = 0x6d6f_7463_7561;

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    url: DatabaseUrl,
    _sqlite_dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh database with every migration applied, or `None` when the
    /// backend is PostgreSQL and no server is reachable outside CI.
    pub fn migrated(backend: Backend) -> Option<TestDb> {
        Self::create(backend, true)
    }

    /// A fresh database with no migrations applied (for migration tests).
    pub fn empty(backend: Backend) -> Option<TestDb> {
        Self::create(backend, false)
    }

    fn create(backend: Backend, migrated: bool) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
                let url = DatabaseUrl::Sqlite(dir.path().join("motcua.db"));
                let test_db = TestDb {
                    url,
                    _sqlite_dir: Some(dir),
                };
                if migrated {
                    let db = test_db.open();
                    db.migrate()
                        .unwrap_or_else(|e| panic!("migrating SQLite: {e}"));
                }
                Some(test_db)
            }
            Backend::Postgres => {
                let admin = postgres_admin_url()?;
                let name = next_database_name();
                let mut conn = pg_connect(&admin);
                let statement = if migrated {
                    format!(
                        "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
                        template(&admin)
                    )
                } else {
                    format!("CREATE DATABASE \"{name}\"")
                };
                exec(&mut conn, &statement);
                Some(TestDb {
                    url: DatabaseUrl::Postgres(with_database(&admin, &name)),
                    _sqlite_dir: None,
                })
            }
        }
    }

    /// The URL to give to the code under test.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A pool on this database.
    pub fn open(&self) -> Db {
        Db::open(&DbConfig::new(self.url.clone()))
            .unwrap_or_else(|e| panic!("opening the test database: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let DatabaseUrl::Postgres(url) = &self.url
            && let Some(admin) = postgres_admin_url()
            && let Some(name) = url.rsplit('/').next()
        {
            let name = name.split('?').next().unwrap_or(name);
            if let Ok(mut conn) = PgConnection::establish(&admin) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        }
    }
}

/// The administrative PostgreSQL URL, if a server answers; decided once per process.
fn postgres_admin_url() -> Option<String> {
    static ADMIN: OnceLock<Option<String>> = OnceLock::new();
    ADMIN
        .get_or_init(|| {
            let url = std::env::var("MOTCUA_TEST_DATABASE_URL")
                .unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned());
            match PgConnection::establish(&url) {
                Ok(_) => Some(url),
                Err(error) => {
                    let shown = DatabaseUrl::parse(&url)
                        .map(|u| u.to_string())
                        .unwrap_or(url);
                    let reason = error.to_string().trim().replace('\n', " ");
                    if is_ci() {
                        panic!("CI=true and PostgreSQL at {shown} is unreachable: {reason}");
                    }
                    // Written past the test harness's capture so it is seen.
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n*** PostgreSQL at {shown} is unreachable ({reason}).\n*** The \
                         PostgreSQL half of the motcua tests is SKIPPED (they pass vacuously). \
                         Set MOTCUA_TEST_DATABASE_URL, or CI=true to make this an error.\n"
                    );
                    None
                }
            }
        })
        .clone()
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn pg_connect(url: &str) -> PgConnection {
    PgConnection::establish(url).unwrap_or_else(|e| panic!("connecting to PostgreSQL: {e}"))
}

fn exec(conn: &mut PgConnection, statement: &str) {
    diesel::sql_query(statement)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn next_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEST_DB_PREFIX}{}_{}_{n}", unix_now(), std::process::id())
}

/// The migrated template for the current migration set, built once (under an
/// advisory lock, since test processes run in parallel) and reused.
fn template(admin: &str) -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let mut conn = pg_connect(admin);
            // Per role: a database cloned from another role's template would
            // hold tables this role may not touch.
            let role = current_role(&mut conn);
            let name = format!("{TEMPLATE_PREFIX}{role}_{:016x}", migrations_fingerprint());
            exec(&mut conn, &format!("SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})"));
            sweep_leftovers(&mut conn, &name);
            if !database_exists(&mut conn, &name) {
                let building = format!("{name}_build");
                exec(&mut conn, &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"));
                exec(&mut conn, &format!("CREATE DATABASE \"{building}\""));
                {
                    let url = DatabaseUrl::Postgres(with_database(admin, &building));
                    let db = Db::open(&DbConfig::new(url))
                        .unwrap_or_else(|e| panic!("opening the template: {e}"));
                    db.migrate().unwrap_or_else(|e| panic!("migrating the template: {e}"));
                }
                // The pool is gone; FORCE closes any connection it left behind.
                exec(
                    &mut conn,
                    &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{building}'"),
                );
                exec(&mut conn, &format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\""));
                // Marked as a template, any role that may create databases can
                // clone it, whichever role built it.
                exec(&mut conn, &format!("ALTER DATABASE \"{name}\" IS_TEMPLATE true"));
            }
            exec(&mut conn, &format!("SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})"));
            name
        })
        .clone()
}

#[derive(diesel::QueryableByName)]
struct Role {
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
}

/// The connected role's name, reduced to characters safe in a database name.
fn current_role(conn: &mut PgConnection) -> String {
    diesel::sql_query("SELECT current_user::text AS role")
        .get_result::<Role>(conn)
        .map(|r| {
            r.role
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .unwrap_or_else(|e| panic!("current_user: {e}"))
}

#[derive(diesel::QueryableByName)]
struct DatabaseName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

fn database_names(conn: &mut PgConnection) -> Vec<String> {
    diesel::sql_query("SELECT datname::text AS datname FROM pg_database")
        .load::<DatabaseName>(conn)
        .unwrap_or_else(|e| panic!("listing databases: {e}"))
        .into_iter()
        .map(|row| row.datname)
        .collect()
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    database_names(conn).iter().any(|n| n == name)
}

/// Drops test databases of runs that died before cleaning up, and templates
/// of other migration sets. Failures are ignored: another run may own them.
fn sweep_leftovers(conn: &mut PgConnection, current_template: &str) {
    let now = unix_now();
    for name in database_names(conn) {
        let stale = match name.strip_prefix(TEST_DB_PREFIX) {
            Some(rest) => rest
                .split('_')
                .next()
                .and_then(|secs| secs.parse::<u64>().ok())
                .is_some_and(|created| now.saturating_sub(created) > LEFTOVER_AGE_SECS),
            None => {
                // Only this role's own templates of other migration sets.
                let own_prefix = current_template
                    .rsplit_once('_')
                    .map_or("", |(prefix, _)| prefix);
                name.starts_with(own_prefix)
                    && name != current_template
                    && !name.ends_with("_build")
            }
        };
        if stale {
            let _ = diesel::sql_query(format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"))
                .execute(conn);
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(conn);
        }
    }
}

/// Identifies the PostgreSQL migration set by its file names and contents, so
/// a changed migration gets a new template, and by the names of the
/// migrations embedded in this binary, which are the ones a template gets:
/// a test binary built before a migration was added (still running while
/// the file appeared) must not build a template that a later binary, which
/// embeds the new migration, takes for its own.
fn migrations_fingerprint() -> u64 {
    fn visit(dir: &Path, hasher: &mut DefaultHasher) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            path.file_name().hash(hasher);
            if path.is_dir() {
                visit(&path, hasher);
            } else if let Ok(bytes) = std::fs::read(&path) {
                bytes.hash(hasher);
            }
        }
    }
    let mut hasher = DefaultHasher::new();
    let embedded: Vec<String> = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(
        &crate::migrations::POSTGRES,
    )
    .map(|migrations| migrations.iter().map(|m| m.name().to_string()).collect())
    .unwrap_or_default();
    embedded.hash(&mut hasher);
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres"),
        &mut hasher,
    );
    hasher.finish()
}

/// Declares each named test function (taking a [`TestDb`]) once per backend,
/// as `sqlite::<name>` and `postgres::<name>`. With `empty:` first, the
/// databases carry no migrations.
#[macro_export]
macro_rules! db_tests {
    (@with $constructor:ident; $($name:ident),*) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let db = $crate::testing::TestDb::$constructor($crate::Backend::Sqlite);
                    if let Some(db) = db {
                        super::$name(db);
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let db = $crate::testing::TestDb::$constructor($crate::Backend::Postgres);
                    if let Some(db) = db {
                        super::$name(db);
                    }
                }
            )*
        }
    };
    (empty: $($name:ident),* $(,)?) => {
        $crate::db_tests!(@with empty; $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::db_tests!(@with migrated; $($name),*);
    };
}

/// Reverts the most recent migration, leaving the database one step behind
/// the binary (to exercise readiness checks).
pub fn revert_last_migration(db: &Db) -> Result<String, String> {
    use diesel_migrations::MigrationHarness;
    db.run(|conn| {
        let source = crate::migrations::source(conn.backend());
        Ok(conn
            .revert_last_migration(source)
            .map(|version| version.to_string()))
    })
    .map_err(|e: crate::error::DbError| e.to_string())?
    .map_err(|e| e.to_string())
}
