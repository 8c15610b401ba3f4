//! The `motcua` binary as an operator runs it: configuration from the
//! environment, one-line reasons on failure, SIGTERM for a clean stop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use motcua_persistence::Backend;
use motcua_persistence::testing::TestDb;

/// The binary with a clean environment of motcua variables, run in `dir`.
fn motcua(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_motcua"));
    command.current_dir(dir).env("RUST_BACKTRACE", "0");
    for (name, _) in std::env::vars() {
        if name.starts_with("MOTCUA_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command
}

/// Runs to completion; returns (success, stderr).
fn run(command: &mut Command) -> (bool, String) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running motcua: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn unsupported_database_urls_stop_the_binary_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (url, expected) in [
        ("mysql://x", "scheme `mysql` is not supported"),
        ("garbage", "not a database URL"),
    ] {
        let (ok, stderr) = run(motcua(dir.path()).arg("serve").env("DATABASE_URL", url));
        assert!(!ok, "{url} was accepted");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("DATABASE_URL") && stderr.contains(expected),
            "{stderr}"
        );
    }
}

#[test]
fn an_unreachable_postgres_reports_the_drivers_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = "postgres://motcua:topsecret@127.0.0.1:1/motcua";
    let (ok, stderr) = run(motcua(dir.path()).arg("migrate").env("DATABASE_URL", url));
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        !stderr.contains("topsecret"),
        "the password leaked: {stderr}"
    );
}

#[test]
fn production_refuses_to_start_with_a_weak_secret() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for secret in [None, Some("changeme")] {
        let mut command = motcua(dir.path());
        command.arg("serve").env("MOTCUA_ENV", "production");
        if let Some(secret) = secret {
            command.env("MOTCUA_JWT_SECRET", secret);
        }
        let (ok, stderr) = run(&mut command);
        assert!(!ok);
        assert!(stderr.contains("MOTCUA_JWT_SECRET"), "{stderr}");
        assert!(
            !dir.path().join("data").exists(),
            "nothing is created before refusing"
        );
    }
}

/// A running `motcua serve`, killed if a test fails midway.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut command: Command) -> Server {
    let mut child = command
        .arg("serve")
        .env("MOTCUA_BIND", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning motcua: {e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while let Ok(line) = received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            return Server { child, address };
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "motcua did not report its address; it said:\n{}",
        seen.join("\n")
    );
}

/// Sends SIGTERM and waits for the process to end; returns whether it exited cleanly.
fn terminate(server: &mut Server) -> bool {
    let pid = server.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

async fn serves_and_stops_cleanly(backend: Backend) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua(dir.path());
    // SQLite: exactly the README's command, nothing configured. PostgreSQL: only DATABASE_URL.
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match TestDb::empty(Backend::Postgres) {
            Some(db) => Some(db),
            None => return,
        },
    };
    if let Some(db) = &database
        && let motcua_persistence::DatabaseUrl::Postgres(url) = db.url()
    {
        command.env("DATABASE_URL", url);
    }
    let mut server = start(command);
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let response = client
            .get(format!("{}{path}", server.address))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(response.status().as_u16(), 200, "{path}");
        if path == "/readyz" {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            assert_eq!(body["database"], backend.name());
        }
    }
    if backend == Backend::Sqlite {
        assert!(
            dir.path().join("data/motcua.db").is_file(),
            "default database file"
        );
    }
    assert!(
        terminate(&mut server),
        "motcua did not exit cleanly on SIGTERM"
    );
}

mod sqlite {
    #[tokio::test]
    async fn serves_with_no_configuration_and_stops_on_sigterm() {
        super::serves_and_stops_cleanly(motcua_persistence::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test]
    async fn serves_and_migrates_an_empty_database_and_stops_on_sigterm() {
        super::serves_and_stops_cleanly(motcua_persistence::Backend::Postgres).await;
    }
}
