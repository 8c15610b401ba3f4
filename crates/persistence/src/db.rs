//! Connections, the pool and transactions, over PostgreSQL or SQLite.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use crate::error::DbError;
use crate::migrations;

/// One connection to whichever backend the URL chose. Queries written once
/// against [`crate::schema`] run on both; where diesel cannot abstract over the
/// two (upserts, `FOR UPDATE`), repository code matches on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// A PostgreSQL session (time zone UTC, set by diesel).
    Postgres(PgConnection),
    /// An embedded SQLite database file.
    Sqlite(SqliteConnection),
}

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DbConnection::Postgres(_) => "DbConnection::Postgres",
            DbConnection::Sqlite(_) => "DbConnection::Sqlite",
        })
    }
}

impl DbConnection {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Runs `f` in a write transaction: on SQLite `BEGIN IMMEDIATE`, so the write
    /// lock is taken up front and concurrent writers queue on `busy_timeout`
    /// instead of failing with "database is locked" when they upgrade a read
    /// lock; on PostgreSQL a plain transaction. Nested calls become savepoints.
    /// Commits only if `f` returns `Ok`: any `Err`, of whatever type `E` (a
    /// [`DbError`] or a caller's own error that a `DbError` converts into),
    /// rolls the transaction (or savepoint) back and is returned unchanged.
    pub fn write<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let nested = <Self as TransactionManager<Self>>::transaction_manager_status_mut(self)
            .transaction_depth()
            .map_err(DbError::from)?
            .is_some();
        match self {
            DbConnection::Sqlite(sqlite) if !nested => {
                AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
                    .map_err(DbError::from)?;
            }
            // PostgreSQL, or already inside a transaction (a savepoint then).
            _ => {
                <Self as TransactionManager<Self>>::begin_transaction(self)
                    .map_err(DbError::from)?;
            }
        }
        self.finish(f)
    }

    /// Inside a write transaction: waits until no other transaction holds
    /// `key`, then holds it until this transaction ends — for rules that read
    /// then write (a quota, a seed applied once). On PostgreSQL a
    /// transaction-scoped advisory lock on the key's hash; SQLite's write
    /// transactions (`BEGIN IMMEDIATE`) are serialised already.
    pub fn lock_key(&mut self, key: &str) -> Result<(), DbError> {
        if let DbConnection::Postgres(pg) = self {
            use diesel::RunQueryDsl;
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(key)
                .execute(pg)?;
        }
        Ok(())
    }

    /// Runs `f` in a read-only transaction that sees one snapshot of the
    /// database, so a report's several queries agree with each other while
    /// dossiers move on. On PostgreSQL (`REPEATABLE READ READ ONLY`) the
    /// transaction also plans each statement for its actual parameters
    /// (a cached generic plan chosen for a twelve-month period is ruinous for
    /// one month, and the reverse), gives grouping and sorting more memory
    /// than the default, so report aggregates stay in memory, and leaves out
    /// JIT compilation, which costs more than it saves on sub-second
    /// queries (measured: docs/performance.md). On
    /// SQLite (WAL) a deferred transaction holds its first read's snapshot.
    /// Not nestable: called inside a transaction it fails. Any `Err` from `f`,
    /// of whatever type `E`, ends the transaction with a rollback and is
    /// returned unchanged.
    pub fn snapshot<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        match self {
            DbConnection::Postgres(pg) => {
                AnsiTransactionManager::begin_transaction_sql(
                    pg,
                    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                )
                .map_err(DbError::from)?;
                let settings = pg.batch_execute(
                    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '64MB'; \
                     SET LOCAL jit = off",
                );
                if let Err(error) = settings {
                    <Self as TransactionManager<Self>>::rollback_transaction(self)
                        .map_err(DbError::from)?;
                    return Err(DbError::from(error).into());
                }
            }
            DbConnection::Sqlite(sqlite) => {
                AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN DEFERRED")
                    .map_err(DbError::from)?;
            }
        }
        self.finish(f)
    }

    /// Ends the transaction (or savepoint) begun by the caller: commit if `f`
    /// returns `Ok`, else roll back, whatever the type of `f`'s error. A failed
    /// commit or rollback is reported as a [`DbError`], except that when the
    /// rollback fails because the transaction manager is broken, `f`'s own
    /// error is kept: it is the more telling one (diesel does the same).
    fn finish<T, E>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        match f(self) {
            Ok(value) => {
                <Self as TransactionManager<Self>>::commit_transaction(self)
                    .map_err(DbError::from)?;
                Ok(value)
            }
            Err(error) => match <Self as TransactionManager<Self>>::rollback_transaction(self) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback) => Err(DbError::from(rollback).into()),
            },
        }
    }
}

/// The two supported database engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL (production deployments).
    Postgres,
    /// Embedded SQLite (the default; a single file).
    Sqlite,
}

impl Backend {
    /// Lower-case name, as used in logs and test names.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed `DATABASE_URL`. The scheme alone chooses the backend.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, passed to libpq unchanged.
    Postgres(String),
    /// `sqlite://PATH`: a database file, created (with its directory) if missing.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses a URL, refusing anything that is not PostgreSQL or a SQLite file
    /// with a one-line reason that never repeats a password.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbError::InvalidUrl(
                    "sqlite:// needs a file path, e.g. sqlite://./data/motcua.db".into(),
                ));
            }
            if path.contains(":memory:") || path.starts_with("file:") || path.contains('?') {
                return Err(DbError::InvalidUrl(
                    "sqlite:// takes a plain file path; in-memory databases and \
                     URI options are not supported (each pooled connection would see its own \
                     database)"
                        .into(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        let scheme = url
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .filter(|scheme| !scheme.is_empty() && scheme.len() <= 20);
        Err(DbError::InvalidUrl(match scheme {
            Some(scheme) => format!(
                "scheme `{scheme}` is not supported: use postgres://, postgresql:// \
                 or sqlite://PATH"
            ),
            None => "not a database URL: use postgres://USER@HOST/DB or \
                     sqlite://PATH"
                .to_owned(),
        }))
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Postgres(_) => Backend::Postgres,
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Prints the URL with any password replaced by `***`, so it can be logged.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // libpq also takes the password as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// How to reach the database and size the pool.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// Where the data lives.
    pub url: DatabaseUrl,
    /// Most connections held open at once.
    pub pool_size: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
    /// Connections the pool keeps open while idle, opened in the background
    /// (1 for the server). One-shot commands use 0 (see [`DbConfig::one_shot`]).
    pub min_idle: u32,
    /// How long [`Db::open`] keeps trying a PostgreSQL server that cannot be
    /// reached yet (a server started before its database); zero: fail at
    /// the first refusal.
    pub wait_for_database: Duration,
}

impl DbConfig {
    /// Defaults suited to the backend: SQLite serialises writers anyway, so a
    /// small pool; PostgreSQL gets more.
    pub fn new(url: DatabaseUrl) -> Self {
        let pool_size = match url.backend() {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        DbConfig {
            url,
            pool_size,
            acquire_timeout: Duration::from_secs(5),
            min_idle: 1,
            wait_for_database: Duration::ZERO,
        }
    }

    /// For a command that opens the database, does its work and exits: it
    /// does not wait for an unreachable database, and no connection is
    /// opened in the background. One still being opened when the process
    /// exits races the exit handlers of libpq's TLS library, and the process
    /// can die of a signal after it has printed its answer.
    pub fn one_shot(mut self) -> Self {
        self.min_idle = 0;
        self.wait_for_database = Duration::ZERO;
        self
    }
}

/// What `/readyz` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Migrations embedded in this binary but not applied to the database.
    pub pending_migrations: usize,
}

/// The database handle shared by the application: a pool of connections.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    /// SQLite has one writer at a time. Writers of this process queue here,
    /// and each is woken as soon as the one before it commits, instead of
    /// polling the database lock in SQLite's busy handler (which sleeps in
    /// steps of up to 100 ms). Other processes still wait on `busy_timeout`.
    sqlite_writers: Option<Arc<Mutex<()>>>,
    /// Whether the last attempt to connect failed, shared with the pool's manager.
    outage: Arc<Outage>,
}

/// Whether the database looks unreachable: the last attempt to connect
/// failed. While it does and no connection is idle, one request at a time
/// waits for a connection (and so has the database tried again); the others
/// fail at once instead of each holding a thread for the whole acquire
/// timeout, so no request's 503 comes later than that timeout, however many
/// arrive meanwhile. The first attempt that succeeds ends it.
#[derive(Debug, Default)]
struct Outage {
    /// Whether the last attempt to connect failed.
    down: AtomicBool,
    /// Whether a request is already waiting for a connection during it.
    probing: AtomicBool,
}

/// Clears [`Outage::probing`] when the probing request is done.
struct Probe<'a>(&'a AtomicBool);

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Db {
    /// Opens one connection right away, so a wrong URL or a database that is
    /// down fails here with the driver's own reason, then builds the pool.
    /// The pool itself connects lazily and never blocks start-up.
    pub fn open(config: &DbConfig) -> Result<Self, DbError> {
        if let DatabaseUrl::Sqlite(path) = &config.url {
            create_parent_dir(path)?;
        }
        let outage = Arc::new(Outage::default());
        let manager = Manager {
            url: config.url.clone(),
            outage: outage.clone(),
        };
        drop(manager.establish_waiting(config.wait_for_database)?);
        Ok(Self::with_manager(manager, config))
    }

    /// The pool over `manager`, which connects lazily.
    fn with_manager(manager: Manager, config: &DbConfig) -> Self {
        let outage = manager.outage.clone();
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(config.min_idle))
            .connection_timeout(config.acquire_timeout)
            .test_on_check_out(false)
            .error_handler(Box::new(LogErrors))
            .build_unchecked(manager);
        Db {
            pool,
            backend: config.url.backend(),
            sqlite_writers: (config.url.backend() == Backend::Sqlite)
                .then(|| Arc::new(Mutex::new(()))),
            outage,
        }
    }

    /// A connection from the pool; while the database looks unreachable (see
    /// [`Outage`]), at once [`DbError::Unavailable`] unless no other request
    /// is trying it.
    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        if self.outage.down.load(Ordering::Acquire) && self.pool.state().idle_connections == 0 {
            if self.outage.probing.swap(true, Ordering::AcqRel) {
                return Err(DbError::Unavailable(
                    "the database could not be reached a moment ago, and another request is trying it again".into(),
                ));
            }
            let _probe = Probe(&self.outage.probing);
            return self.pool.get().map_err(DbError::from);
        }
        self.pool.get().map_err(DbError::from)
    }

    /// The backend behind this handle.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` with a pooled connection (reads, or writes that manage their
    /// own transaction). No transaction is opened here: whatever `f` did
    /// outside one stays done even if it then returns `Err`. A connection the
    /// pool cannot give in time fails as [`DbError::Unavailable`], converted
    /// into `E`.
    pub fn run<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut pooled = self.checkout()?;
        let result = f(&mut pooled.conn);
        // No query checks a connection as it leaves the pool: one that
        // failed is checked here, and a dead one is dropped on return. (An
        // embedded SQLite connection cannot die under the process.)
        if result.is_err() && self.backend == Backend::Postgres {
            pooled.broken = pooled.conn.ping().is_err();
        }
        result
    }

    /// Runs `f` in one write transaction (see [`DbConnection::write`]): all or
    /// nothing. It commits only if `f` returns `Ok`; any `Err`, a [`DbError`]
    /// or the caller's own error type alike, rolls everything back. On
    /// SQLite, after this process's earlier writers (in turn, before taking a
    /// connection from the pool).
    pub fn write<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        // A writer that panicked rolled its transaction back; the turn is free.
        let _turn = self
            .sqlite_writers
            .as_ref()
            .map(|writers| writers.lock().unwrap_or_else(PoisonError::into_inner));
        self.run(|conn| conn.write(f))
    }

    /// Runs `f` in one read-only snapshot (see [`DbConnection::snapshot`]):
    /// for reports, whose several queries must agree. Any `Err` from `f`, of
    /// whatever type `E`, ends the snapshot with a rollback.
    pub fn snapshot<T, E>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        self.run(|conn| conn.snapshot(f))
    }

    /// After a bulk load (`motcua gen-data`, imports), does at once what
    /// autovacuum would do in time — fresh planner statistics and, on
    /// PostgreSQL, the visibility map that index-only scans rely on — and
    /// rebuilds the dossiers' indexes, which a load in random time order
    /// leaves a third larger than the steady, in-order inserts of service do.
    pub fn after_bulk_load(&self) -> Result<(), DbError> {
        // One statement at a time: PostgreSQL runs a multi-statement string in
        // one transaction, and VACUUM refuses to run inside one.
        let statements: &[&str] = match self.backend {
            Backend::Postgres => &["REINDEX TABLE dossiers", "VACUUM (ANALYZE)"],
            Backend::Sqlite => &["REINDEX dossiers", "ANALYZE"],
        };
        self.run(|conn| {
            for statement in statements {
                conn.batch_execute(statement)?;
            }
            Ok(())
        })
    }

    /// Applies every pending embedded migration; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        self.run(migrations::run_pending)
    }

    /// Whether the database answers and carries every migration this binary knows.
    pub fn readiness(&self) -> Result<Readiness, DbError> {
        self.run(|conn| {
            Ok(Readiness {
                pending_migrations: migrations::pending(conn)?,
            })
        })
    }
}

fn create_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|error| DbError::Connect {
                backend: "sqlite",
                reason: format!("cannot create directory {}: {error}", dir.display()),
            })
        }
        _ => Ok(()),
    }
}

/// An r2d2 connection manager that picks the backend from the URL scheme and
/// keeps the driver's error. (diesel's generic manager over a MultiConnection
/// reports every PostgreSQL failure as "invalid connection url".)
#[derive(Debug)]
struct Manager {
    url: DatabaseUrl,
    outage: Arc<Outage>,
}

impl Manager {
    /// Connects, trying again for up to `wait` while a PostgreSQL server
    /// cannot be reached (refused, or still starting), with a log line each
    /// time. Any other failure (a wrong password, a missing database) stops
    /// at once.
    fn establish_waiting(&self, wait: Duration) -> Result<DbConnection, DbError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            match self.establish() {
                Err(DbError::Connect { backend, reason })
                    if backend == "postgres"
                        && unreachable(&reason)
                        && started.elapsed() + pause <= wait =>
                {
                    tracing::warn!(
                        %reason,
                        waited_secs = started.elapsed().as_secs(),
                        limit_secs = wait.as_secs(),
                        "the database cannot be reached yet; trying again in {} ms",
                        pause.as_millis()
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    fn establish(&self) -> Result<DbConnection, DbError> {
        let backend = self.url.backend().name();
        // libpq's reasons span lines, the second indented by a tab: one line here.
        let fail = |error: ConnectionError| DbError::Connect {
            backend,
            reason: error
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        };
        match &self.url {
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgres)
                .map_err(fail),
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path).map_err(fail)?;
                // busy_timeout first: the other pragmas may need to wait for a lock.
                // Switching a new file to WAL takes an exclusive lock, and SQLite
                // answers "database is locked" at once, without its busy handler,
                // when several processes open a new file together: retried for
                // as long as the busy timeout, with a growing pause.
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                let mut pause = Duration::from_millis(5);
                loop {
                    let configured = conn.batch_execute(
                        "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                         PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                    );
                    match configured {
                        Ok(()) => break,
                        Err(error)
                            if error.to_string().contains("locked")
                                && std::time::Instant::now() < deadline =>
                        {
                            std::thread::sleep(pause);
                            pause = (pause * 2).min(Duration::from_millis(200));
                        }
                        Err(error) => {
                            return Err(DbError::Connect {
                                backend,
                                reason: format!("cannot configure {path}: {error}"),
                            });
                        }
                    }
                }
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A pooled connection, and whether a failure showed it dead.
struct Pooled {
    conn: DbConnection,
    broken: bool,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = DbError;

    fn connect(&self) -> Result<Pooled, DbError> {
        let conn = self.establish();
        self.outage.down.store(conn.is_err(), Ordering::Release);
        Ok(Pooled {
            conn: conn?,
            broken: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), DbError> {
        pooled.conn.ping().map(drop).map_err(DbError::from)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.broken || pooled.conn.is_broken()
    }
}

/// Whether libpq's reason says the server is not there (yet), rather than
/// that it refused these credentials or this database.
fn unreachable(reason: &str) -> bool {
    [
        "Connection refused",
        "the database system is starting up",
        "the database system is shutting down",
        "timeout expired",
        "No such file or directory",
        "server closed the connection unexpectedly",
    ]
    .iter()
    .any(|sign| reason.contains(sign))
}

/// Sends the pool's background connection failures to the log.
#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<DbError> for LogErrors {
    fn handle_error(&self, error: DbError) {
        tracing::warn!(%error, "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_chooses_the_backend() {
        for url in [
            "postgres://u@h/db",
            "postgresql://u:p@h:5432/db?sslmode=require",
        ] {
            assert_eq!(
                DatabaseUrl::parse(url).map(|u| u.backend()).ok(),
                Some(Backend::Postgres)
            );
        }
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/motcua.db").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("./data/motcua.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/motcua/db.sqlite").ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from(
                "/var/lib/motcua/db.sqlite"
            )))
        );
    }

    #[test]
    fn other_urls_are_refused_with_a_one_line_reason() {
        for (url, expected) in [
            ("mysql://x", "scheme `mysql` is not supported"),
            ("garbage", "not a database URL"),
            ("", "not a database URL"),
            ("sqlite://", "needs a file path"),
            ("sqlite://:memory:", "in-memory databases"),
        ] {
            let error = DatabaseUrl::parse(url)
                .map(drop)
                .err()
                .map(|e| e.to_string());
            let message = error.unwrap_or_default();
            assert!(message.contains(expected), "{url:?} gave {message:?}");
            assert!(!message.contains('\n'));
        }
    }

    #[test]
    fn printed_urls_hide_the_password() {
        let url = DatabaseUrl::parse("postgres://motcua:s3cret@db:5432/motcua?sslmode=require");
        let printed = url.map(|u| u.to_string()).unwrap_or_default();
        assert_eq!(
            printed,
            "postgres://motcua:***@db:5432/motcua?sslmode=require"
        );
        let printed = DatabaseUrl::parse("postgres://motcua@db/motcua").map(|u| u.to_string());
        assert_eq!(printed.ok().as_deref(), Some("postgres://motcua@db/motcua"));
        // libpq's password parameter too.
        let printed = DatabaseUrl::parse(
            "postgres://motcua@db/motcua?sslmode=require&password=s3cret&connect_timeout=5",
        )
        .map(|u| u.to_string());
        assert_eq!(
            printed.ok().as_deref(),
            Some("postgres://motcua@db/motcua?sslmode=require&password=***&connect_timeout=5")
        );
    }

    /// No query checks a connection as it leaves the pool; a connection the
    /// server ended fails the request that uses it, is found dead then, and
    /// the next request gets a fresh one. (PostgreSQL only: an embedded
    /// SQLite connection cannot be ended from outside.)
    #[test]
    fn a_connection_the_server_ended_fails_once_and_is_replaced() {
        use diesel::RunQueryDsl;
        use diesel::dsl::sql;
        use diesel::sql_types::Integer;

        let Some(test) = crate::testing::TestDb::migrated(Backend::Postgres) else {
            return;
        };
        let config = DbConfig {
            pool_size: 1,
            ..DbConfig::new(test.url().clone())
        };
        let db = Db::open(&config.one_shot()).unwrap_or_else(|e| panic!("{e}"));
        let backend_pid = |db: &Db| {
            db.run(|conn| {
                Ok::<i32, DbError>(
                    diesel::select(sql::<Integer>("pg_backend_pid()")).get_result(conn)?,
                )
            })
        };
        let first = backend_pid(&db).unwrap_or_else(|e| panic!("{e}"));
        test.open()
            .run(|conn| {
                diesel::sql_query(format!("SELECT pg_terminate_backend({first})")).execute(conn)?;
                Ok::<_, DbError>(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(backend_pid(&db).is_err(), "the ended connection answered");
        let second = backend_pid(&db).unwrap_or_else(|e| panic!("no fresh connection: {e}"));
        assert_ne!(first, second);
    }

    /// R3: while the database cannot be reached, one request at a time
    /// waits for a connection; the others answer at once.
    #[test]
    fn while_the_database_is_unreachable_one_request_waits_and_the_others_fail_at_once() {
        let url = DatabaseUrl::parse("postgres://motcua@127.0.0.1:1/nowhere?connect_timeout=2")
            .unwrap_or_else(|e| panic!("{e}"));
        let config = DbConfig {
            acquire_timeout: Duration::from_secs(1),
            ..DbConfig::new(url.clone()).one_shot()
        };
        let outage = Arc::new(Outage::default());
        let db = Db::with_manager(Manager { url, outage }, &config);
        let attempt = || match db.run(|_| Ok::<(), DbError>(())) {
            Ok(()) => String::from("connected"),
            Err(error) => error.to_string(),
        };
        let first = attempt();
        assert!(first.contains("Connection refused"), "{first}");
        let barrier = std::sync::Barrier::new(8);
        let answers: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        attempt()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let at_once = answers
            .iter()
            .filter(|a| a.contains("another request is trying it again"))
            .count();
        assert_eq!(at_once, 7, "{answers:?}");
        assert!(
            answers.iter().any(|a| a.contains("Connection refused")),
            "{answers:?}"
        );
    }

    /// The first connection made after an outage ends it: requests wait
    /// for connections as usual again.
    #[test]
    fn a_connection_made_after_an_outage_ends_it() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some(test) = crate::testing::TestDb::migrated(backend) else {
                continue;
            };
            let config = DbConfig::new(test.url().clone()).one_shot();
            let outage = Arc::new(Outage::default());
            outage.down.store(true, Ordering::Release);
            let db = Db::with_manager(
                Manager {
                    url: config.url.clone(),
                    outage: outage.clone(),
                },
                &config,
            );
            assert!(db.run(|_| Ok::<(), DbError>(())).is_ok());
            assert!(!outage.down.load(Ordering::Acquire), "{backend:?}");
        }
    }
}
