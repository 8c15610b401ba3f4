//! The `motcua` binary as an operator runs it: configuration from the
//! environment, one-line reasons on failure, SIGTERM for a clean stop.

use std::io::{BufRead, BufReader, Write};
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
            stderr.contains("DATABASE_URL: ") && stderr.contains(expected),
            "{stderr}"
        );
        assert_eq!(stderr.matches("DATABASE_URL").count(), 1, "{stderr}");
    }
}

#[test]
fn an_s3_file_store_without_its_bucket_stops_the_binary_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (ok, stderr) = run(motcua(dir.path())
        .arg("serve")
        .env("MOTCUA_FILE_STORE", "s3")
        .env("MOTCUA_S3_ACCESS_KEY_ID", "motcua")
        .env("MOTCUA_S3_SECRET_ACCESS_KEY", "s3-secret"));
    assert!(!ok, "started without a bucket");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("MOTCUA_S3_BUCKET: required with MOTCUA_FILE_STORE=s3"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_postgres_reports_the_drivers_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = "postgres://motcua:topsecret@127.0.0.1:1/motcua";
    let (ok, stderr) = run(motcua(dir.path()).arg("migrate").env("DATABASE_URL", url));
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stderr.trim().contains(['\t', '\n']), "{stderr:?}");
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
    /// Everything the server wrote to stderr so far, and what follows.
    seen: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Every log line: those seen at start-up and the rest, once the process ended.
    fn all_output(mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns the binary with its stderr read line by line (no address yet).
fn spawn(mut command: Command) -> Server {
    let mut child = command
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
    Server {
        child,
        address: String::new(),
        seen: Vec::new(),
        lines: received,
    }
}

impl Server {
    /// The next line of its log containing `sign`, within 60 s (the lines
    /// before it are kept in `seen`).
    fn wait_for(&mut self, sign: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(sign) {
                return line;
            }
            self.seen.push(line);
        }
        panic!(
            "motcua never said `{sign}`; it said:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits until it reports its address, and keeps it.
    fn wait_until_listening(&mut self) {
        let line = self.wait_for("listening on ");
        self.address = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        self.seen.push(line);
    }
}

/// Spawns the binary and waits until it reports its address.
fn start(command: Command) -> Server {
    let mut server = spawn(command);
    server.wait_until_listening();
    server
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
    // SQLite: exactly the README's command, nothing configured. PostgreSQL: only DATABASE_URL.
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua_on(dir.path(), &database);
    command.arg("serve");
    let mut server = start(command);
    // An empty database: the log says how to make the first account.
    server.wait_for("no account yet: create an administrator with `motcua create-admin");
    // A second server on the same port, or on an address without a port,
    // stops before it creates anything.
    let elsewhere = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let taken = server.address.trim_start_matches("http://");
    for (bind, reason) in [
        (taken, "Address already in use"),
        ("localhost", "host:port"),
    ] {
        let (ok, stderr) = run(motcua(elsewhere.path())
            .arg("serve")
            .env("MOTCUA_BIND", bind));
        assert!(!ok, "{bind}");
        assert!(
            stderr.contains(&format!("cannot listen on {bind}")) && stderr.contains(reason),
            "{stderr}"
        );
        assert!(
            !elsewhere.path().join("data").exists(),
            "{bind}: nothing is created"
        );
    }
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/docs"] {
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
    // At the default level, requests are logged but the probes are not.
    let log = server.all_output();
    assert!(log.contains("http.route=/docs"), "{log}");
    assert!(
        !log.contains("/healthz") && !log.contains("/readyz"),
        "{log}"
    );
}

/// `motcua import-catalogue FILE` adds what is new and is idempotent.
#[test]
fn import_catalogue_adds_new_procedures_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/domain/data/catalogue-demo.json"
    );
    let (ok, first) = run(motcua(dir.path()).args(["import-catalogue", file]));
    assert!(
        ok && first.contains("12 procedure(s) added, 0 already present"),
        "{first}"
    );
    let (ok, again) = run(motcua(dir.path()).args(["import-catalogue", file]));
    assert!(
        ok && again.contains("0 procedure(s) added, 12 already present"),
        "{again}"
    );
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"procedures": [{"code": "nope"}]}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    let (ok, refused) = run(motcua(dir.path()).arg("import-catalogue").arg(&broken));
    assert!(!ok && refused.contains("catalogue file"), "{refused}");
}

/// The README's walkthrough (scripts/walkthrough.sh) runs as written against
/// `serve --demo`.
async fn the_readme_walkthrough_runs_as_written(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let available = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !available("bash") || !available("curl") {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs bash and curl for the walkthrough"
        );
        let _ = writeln!(
            std::io::stderr(),
            "*** walkthrough SKIPPED: bash or curl missing"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua_on(dir.path(), &database);
    command.args(["serve", "--demo"]).stdout(Stdio::null());
    let mut server = start(command);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/walkthrough.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(&server.address)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(terminate(&mut server));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for step in [
        "accept -> accepted",
        "handover -> in_processing",
        "request-supplement -> supplement_requested",
        "supplement -> in_processing",
        "complete -> result_ready",
        "return -> returned",
        "rating -> returned",
        "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
        "\"ok\":true",
    ] {
        assert!(printed.contains(step), "missing `{step}` in:\n{printed}");
    }
    // Its files went to a temporary directory, not to where it ran.
    assert_eq!(
        std::fs::read_dir(dir.path()).map(Iterator::count).ok(),
        Some(1),
        "only the server's data directory is here"
    );
    let receipt = printed
        .lines()
        .find_map(|line| line.strip_prefix("receipt written to "))
        .unwrap_or_else(|| panic!("no receipt in:\n{printed}"));
    let html = std::fs::read_to_string(receipt).unwrap_or_default();
    assert!(
        html.contains("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"),
        "the receipt was printed"
    );
    // The acknowledgement deadline is shown in Vietnam time (UTC+7).
    assert!(printed.contains(", Vietnam time)"), "{printed}");
    if let Some(work) = Path::new(receipt).parent() {
        let _ = std::fs::remove_dir_all(work);
    }
}

/// The README's "Reports on a generated province": `serve --demo`, then
/// `gen-data` beside the running server; the demo's province auditor gets a
/// non-empty Form 06 and lists the agencies in reach. Without the demo,
/// `gen-data --accounts` makes its own province's auditor.
async fn reports_on_a_generated_province_read_as_the_readme_says(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua_on(dir.path(), &database);
    command.args(["serve", "--demo"]).stdout(Stdio::null());
    let mut server = start(command);
    let generate = |extra: &[&str]| {
        let output = motcua_on(dir.path(), &database)
            .args([
                "gen-data",
                "--dossiers",
                "300",
                "--agencies",
                "5",
                "--months",
                "2",
            ])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let printed = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{printed}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed
    };
    let printed = generate(&[]);
    assert!(
        printed.contains("Tỉnh Bắc Ninh (demo) (000.00.00.H27)")
            && printed.contains("log in as `auditor-province`"),
        "{printed}"
    );
    let client = reqwest::Client::new();
    let base = format!("{}/api/v1", server.address);
    let login = |username: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let answer: serde_json::Value = client
                .post(format!("{base}/auth/token"))
                .json(&serde_json::json!({"username": username, "password": "motcua-demo"}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .json()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            answer["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let get = |path: String, token: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(response.status().as_u16(), 200, "{path}");
            response
                .json::<serde_json::Value>()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let taken = |report: &serde_json::Value| report["total"]["taken_on"].as_u64().unwrap_or(0);
    let auditor = login("auditor-province").await;
    let form = get("/reports/kstt-06?period=2026-10".into(), auditor.clone()).await;
    assert!(taken(&form) > 0, "{form}");
    // The README's comparison: the province's communes side by side, ranked.
    let compared = get(
        "/reports/indicators/compare?period=2026-10&rank_by=online_filing".into(),
        auditor.clone(),
    )
    .await;
    let ranks: Vec<Option<u64>> = compared["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|line| line["rank"].as_u64())
        .collect();
    assert!(
        ranks.len() >= 3 && ranks.first() == Some(&Some(1)),
        "{compared}"
    );
    let listed = get("/agencies".into(), auditor).await;
    let identifiers: Vec<&str> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["identifier"].as_str())
        .collect();
    for expected in [
        "000.00.00.H27",
        "000.01.27.H27",
        "000.00.01.H27",
        "000.00.02.H27",
    ] {
        assert!(identifiers.contains(&expected), "{identifiers:?}");
    }
    // The commune auditor sees their commune's share only.
    let commune = get(
        "/reports/kstt-06?period=2026-10".into(),
        login("auditor").await,
    )
    .await;
    assert!(
        taken(&commune) > 0 && taken(&commune) < taken(&form),
        "{commune}"
    );

    // A province that does not exist is not made up.
    let (ok, stderr) =
        run(motcua_on(dir.path(), &database).args(["gen-data", "--province", "000.00.00.H12"]));
    assert!(
        !ok && stderr.contains("no agency has the identifier 000.00.00.H12"),
        "{stderr}"
    );
    // Nor is a commune taken for a province.
    let (ok, stderr) =
        run(motcua_on(dir.path(), &database).args(["gen-data", "--province", "000.01.27.H27"]));
    assert!(
        !ok && stderr.contains("000.01.27.H27 is a commune, not a province"),
        "{stderr}"
    );
    assert!(terminate(&mut server));

    // Without the demo: a province of its own, with its accounts.
    let (Some(fresh), own) = (
        self::database(backend),
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
    ) else {
        return;
    };
    let output = motcua_on(own.path(), &fresh)
        .args([
            "gen-data",
            "--dossiers",
            "200",
            "--agencies",
            "2",
            "--months",
            "2",
            "--accounts",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("(000.00.00.H99)")
            && printed.contains("Account made: auditor.h99 (auditor)")
            && printed.contains("log in as `auditor.h99`"),
        "{printed}"
    );
    // The demo can still be seeded beside the generated province.
    let mut command = motcua_on(own.path(), &fresh);
    command.args(["serve", "--demo"]).stdout(Stdio::null());
    let mut server = start(command);
    let status = client
        .post(format!("{}/api/v1/auth/token", server.address))
        .json(&serde_json::json!({"username": "auditor-province", "password": "motcua-demo"}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    assert!(terminate(&mut server));
}

/// The walkthrough says which step failed and why: against a server that
/// is not there, and with the wrong password.
async fn the_walkthrough_explains_a_failed_step(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let walk = |base: &str, password: &str| {
        let output = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/walkthrough.sh"
            ))
            .arg(base)
            .env("MOTCUA_DEMO_PASSWORD", password)
            .env("TMPDIR", scratch.path())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // No server: a closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let stopped = format!("http://127.0.0.1:{port}");
    let said = walk(&stopped, "motcua-demo");
    assert!(
        said.contains("step \"log in as 027090001234\" failed: cannot reach")
            && said.contains(&stopped)
            && said.contains("serve --demo"),
        "{said}"
    );
    // A server, but not the demo's password: the server's problem details.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua_on(dir.path(), &database);
    command.args(["serve", "--demo"]).stdout(Stdio::null());
    let mut server = start(command);
    // (The address may be given with the API's prefix and a slash.)
    let said = walk(
        &format!("{}/api/v1/", server.address),
        "not the demo password",
    );
    assert!(terminate(&mut server));
    assert_eq!(
        std::fs::read_dir(scratch.path()).map(Iterator::count).ok(),
        Some(0),
        "a failed walk leaves no files behind"
    );
    assert!(
        said.contains("step \"log in as 027090001234\" failed: HTTP 401")
            && said.contains("\"status\":401")
            && said.contains("MOTCUA_DEMO_PASSWORD"),
        "{said}"
    );
}

/// `motcua audit` on a generated province: verify it, anchor a day, check
/// the anchor; then what each catches: a cleanly truncated chain (last event
/// deleted and the head rewound) passes `verify` but not the anchor, and an
/// edited event fails `verify` with exit status 2.
fn audit_commands_verify_anchor_and_catch_tampering(backend: Backend) {
    use diesel::prelude::*;
    use motcua_persistence::schema::{dossier_events, dossiers};
    use motcua_persistence::{DatabaseUrl, Db, DbConfig, DbError, DossierId};

    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let motcua = |args: &[&str]| -> (Option<i32>, serde_json::Value, String) {
        let output = motcua_on(dir.path(), &database)
            .args(args)
            .env("MOTCUA_LOG", "warn")
            .output()
            .unwrap_or_else(|e| panic!("running motcua: {e}"));
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&output.status) {
            stderr.push_str(&format!("(ended by signal {signal})"));
        }
        (
            output.status.code(),
            serde_json::from_slice(&output.stdout).unwrap_or_default(),
            stderr,
        )
    };
    let (code, _, stderr) = motcua(&[
        "gen-data",
        "--dossiers",
        "300",
        "--agencies",
        "3",
        "--months",
        "1",
        "--seed",
        "5",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, summary, stderr) = motcua(&["audit", "verify", "--agency", "000.00.00.H99"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        (
            &summary["ok"],
            &summary["dossiers_checked"],
            &summary["broken_dossiers"]
        ),
        (
            &serde_json::json!(true),
            &serde_json::json!(300),
            &serde_json::json!(0)
        ),
        "{summary}"
    );

    let url = match &database {
        Some(db) => db.url().clone(),
        None => DatabaseUrl::Sqlite(dir.path().join("data/motcua.db")),
    };
    let db = Db::open(&DbConfig::new(url)).unwrap_or_else(|e| panic!("{e}"));
    // A dossier whose last event is not its first: its day is anchored.
    let (dossier, seq, at): (DossierId, i32, chrono::NaiveDateTime) = db
        .run(|conn| {
            Ok(dossier_events::table
                .inner_join(dossiers::table)
                .filter(dossier_events::seq.eq(dossiers::history_events))
                .filter(dossier_events::seq.gt(1))
                .select((
                    dossier_events::dossier_id,
                    dossier_events::seq,
                    dossier_events::at,
                ))
                .first(conn)?)
        })
        .unwrap_or_else(|e: DbError| panic!("{e}"));
    let day = motcua_domain::time::to_local(at.and_utc())
        .date()
        .format("%Y-%m-%d")
        .to_string();
    let (code, anchor, stderr) = motcua(&["audit", "anchor", "--day", &day]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(anchor["events"].as_u64().unwrap_or(0) >= 1, "{anchor}");
    let file = dir.path().join("anchor.json");
    std::fs::write(&file, anchor.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let file = file.to_string_lossy().into_owned();
    let (code, check, stderr) = motcua(&["audit", "verify-anchor", &file]);
    assert_eq!(
        (code, &check["ok"]),
        (Some(0), &serde_json::json!(true)),
        "{stderr}"
    );
    let (_, published, _) = motcua(&["audit", "public-key"]);
    assert_eq!(published["public_key"], anchor["public_key"]);
    let stranger = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
    let (code, check, _) = motcua(&["audit", "verify-anchor", &file, "--public-key", stranger]);
    assert_eq!(
        (code, &check["key_trusted"]),
        (Some(2), &serde_json::json!(false))
    );

    // The last event deleted and the head rewound: the chain looks whole.
    db.run(|conn| {
        let previous: String = dossier_events::table
            .filter(dossier_events::dossier_id.eq(dossier))
            .filter(dossier_events::seq.eq(seq - 1))
            .select(dossier_events::hash)
            .first(conn)?;
        diesel::delete(
            dossier_events::table
                .filter(dossier_events::dossier_id.eq(dossier))
                .filter(dossier_events::seq.eq(seq)),
        )
        .execute(conn)?;
        diesel::update(dossiers::table.find(dossier))
            .set((
                dossiers::history_events.eq(seq - 1),
                dossiers::history_head.eq(previous),
            ))
            .execute(conn)?;
        Ok(())
    })
    .unwrap_or_else(|e: DbError| panic!("{e}"));
    let (code, _, _) = motcua(&["audit", "verify", "--agency", "000.00.00.H99"]);
    assert_eq!(code, Some(0), "only the anchor can tell");
    let (code, check, _) = motcua(&["audit", "verify-anchor", &file]);
    assert_eq!(code, Some(2), "{check}");
    assert_eq!(
        (
            &check["root_matches"],
            &check["signature_valid"],
            &check["events_now"]
        ),
        (
            &serde_json::json!(false),
            &serde_json::json!(true),
            &serde_json::json!(anchor["events"].as_u64().unwrap_or(0) - 1)
        )
    );

    // An edited event: verify names its dossier and exits with status 2.
    db.run(|conn| {
        diesel::update(
            dossier_events::table
                .filter(dossier_events::dossier_id.eq(dossier))
                .filter(dossier_events::seq.eq(1)),
        )
        .set(dossier_events::payload.eq("{}"))
        .execute(conn)?;
        Ok(())
    })
    .unwrap_or_else(|e: DbError| panic!("{e}"));
    let (code, summary, _) = motcua(&["audit", "verify", "--agency", "000.00.00.H99"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        (
            &summary["broken_dossiers"],
            &summary["broken"][0]["dossier_id"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(dossier.to_string())
        ),
        "{summary}"
    );
}

#[test]
fn production_refuses_to_start_without_history_keys() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for keys in [None, Some("2026a:Xq9tiny")] {
        let mut command = motcua(dir.path());
        command
            .arg("serve")
            .env("MOTCUA_ENV", "production")
            .env("MOTCUA_JWT_SECRET", "q8VvX1pZk3N7tR2wY5bC9dF0gH4jL6mSxx");
        if let Some(keys) = keys {
            command.env("MOTCUA_HISTORY_KEYS", keys);
        }
        let (ok, stderr) = run(&mut command);
        assert!(!ok);
        assert!(stderr.contains("MOTCUA_HISTORY_KEYS"), "{stderr}");
        assert!(!stderr.contains("Xq9tiny"), "the key leaked: {stderr}");
        assert!(!dir.path().join("data").exists());
    }
}

/// Issue #10, item 8: several servers starting at once on an empty database
/// (a rolling deploy, a restart of every replica) all migrate, seed the
/// national calendar and the demo once, and serve.
async fn servers_starting_at_once_on_an_empty_database_all_start(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut servers: Vec<Server> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..3)
            .map(|_| {
                let mut command = motcua_on(dir.path(), &database);
                // --demo: the seeding, too, must happen once.
                command.args(["serve", "--demo"]).stdout(Stdio::null());
                scope.spawn(move || start(command))
            })
            .collect();
        starting
            .into_iter()
            .map(|s| {
                s.join()
                    .unwrap_or_else(|_| panic!("a server did not start"))
            })
            .collect()
    });
    let client = reqwest::Client::new();
    for server in &servers {
        let ready = client
            .get(format!("{}/readyz", server.address))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ready.status().as_u16(), 200);
    }
    for server in &mut servers {
        assert!(terminate(server));
    }
}

mod sqlite {
    use motcua_persistence::Backend::Sqlite;

    #[tokio::test]
    async fn the_demo_is_not_claimed_seeded_over_an_administrators_province() {
        super::the_demo_is_not_claimed_seeded_over_an_administrators_province(Sqlite).await;
    }

    #[tokio::test]
    async fn reports_on_a_generated_province_read_as_the_readme_says() {
        super::reports_on_a_generated_province_read_as_the_readme_says(Sqlite).await;
    }

    #[tokio::test]
    async fn the_walkthrough_explains_a_failed_step() {
        super::the_walkthrough_explains_a_failed_step(Sqlite).await;
    }

    #[tokio::test]
    async fn servers_starting_at_once_on_an_empty_database_all_start() {
        super::servers_starting_at_once_on_an_empty_database_all_start(Sqlite).await;
    }

    #[tokio::test]
    async fn the_readme_walkthrough_runs_as_written() {
        super::the_readme_walkthrough_runs_as_written(Sqlite).await;
    }

    #[tokio::test]
    async fn serves_with_no_configuration_and_stops_on_sigterm() {
        super::serves_and_stops_cleanly(Sqlite).await;
    }

    #[tokio::test]
    async fn create_admin_bootstraps_the_first_agency_and_account() {
        super::create_admin_bootstraps_the_first_agency_and_account(Sqlite).await;
    }

    #[tokio::test]
    async fn serve_demo_seeds_the_documented_accounts() {
        super::serve_demo_seeds_the_documented_accounts(Sqlite).await;
    }

    #[test]
    fn audit_commands_verify_anchor_and_catch_tampering() {
        super::audit_commands_verify_anchor_and_catch_tampering(Sqlite);
    }

    #[tokio::test]
    async fn sigterm_lets_requests_in_flight_finish_and_refuses_new_connections() {
        super::sigterm_lets_requests_in_flight_finish_and_refuses_new_connections(Sqlite).await;
    }
}

mod postgres {
    use motcua_persistence::Backend::Postgres;

    #[tokio::test]
    async fn the_demo_is_not_claimed_seeded_over_an_administrators_province() {
        super::the_demo_is_not_claimed_seeded_over_an_administrators_province(Postgres).await;
    }

    #[tokio::test]
    async fn reports_on_a_generated_province_read_as_the_readme_says() {
        super::reports_on_a_generated_province_read_as_the_readme_says(Postgres).await;
    }

    #[tokio::test]
    async fn the_walkthrough_explains_a_failed_step() {
        super::the_walkthrough_explains_a_failed_step(Postgres).await;
    }

    #[tokio::test]
    async fn servers_starting_at_once_on_an_empty_database_all_start() {
        super::servers_starting_at_once_on_an_empty_database_all_start(Postgres).await;
    }

    #[tokio::test]
    async fn the_readme_walkthrough_runs_as_written() {
        super::the_readme_walkthrough_runs_as_written(Postgres).await;
    }

    #[tokio::test]
    async fn serves_and_migrates_an_empty_database_and_stops_on_sigterm() {
        super::serves_and_stops_cleanly(Postgres).await;
    }

    #[tokio::test]
    async fn create_admin_bootstraps_the_first_agency_and_account() {
        super::create_admin_bootstraps_the_first_agency_and_account(Postgres).await;
    }

    #[tokio::test]
    async fn serve_demo_seeds_the_documented_accounts() {
        super::serve_demo_seeds_the_documented_accounts(Postgres).await;
    }

    #[test]
    fn audit_commands_verify_anchor_and_catch_tampering() {
        super::audit_commands_verify_anchor_and_catch_tampering(Postgres);
    }

    #[tokio::test]
    async fn sigterm_lets_requests_in_flight_finish_and_refuses_new_connections() {
        super::sigterm_lets_requests_in_flight_finish_and_refuses_new_connections(Postgres).await;
    }

    #[tokio::test]
    async fn a_server_started_before_its_database_waits_then_serves() {
        super::a_server_started_before_its_database_waits_then_serves().await;
    }
}

/// A server started before its PostgreSQL is reachable waits for it, saying
/// so on each try, and serves once it is up (issue #12, R3): here the
/// database's port is closed at first, then a relay to the real server
/// opens on it.
async fn a_server_started_before_its_database_waits_then_serves() {
    use std::net::{TcpListener, TcpStream};
    let Some(Some(database)) = database(Backend::Postgres) else {
        return;
    };
    let motcua_persistence::DatabaseUrl::Postgres(url) = database.url() else {
        return;
    };
    let (credentials, rest) = url.split_once('@').unwrap_or_else(|| panic!("{url}"));
    let (target, name) = rest.split_once('/').unwrap_or_else(|| panic!("{url}"));
    let target = target.to_owned();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua(dir.path());
    command
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("{credentials}@127.0.0.1:{port}/{name}"),
        )
        .env("MOTCUA_DB_WAIT_SECS", "60");
    let mut server = spawn(command);
    let waiting = server.wait_for("cannot be reached yet");
    // The driver's reason and the wait so far, on one line.
    assert!(
        waiting.contains("Is the server running") && waiting.contains("waited_secs"),
        "{waiting}"
    );
    // The database comes up: a relay from the closed port to the real server.
    let relay = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        for client in relay.incoming().map_while(Result::ok) {
            let Ok(upstream) = TcpStream::connect(&target) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone(), upstream.try_clone()),
                (upstream.try_clone(), client.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| a.ok().zip(b.ok()))
            {
                std::thread::spawn(move || std::io::copy(&mut from, &mut to));
            }
        }
    });
    server.wait_until_listening();
    let ready = reqwest::get(format!("{}/readyz", server.address))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ready, 200);
}

/// Runs the password-bearing flows against a real server and searches its
/// log (at debug level) for the secrets and personal data involved.
#[tokio::test]
async fn no_password_token_or_personal_id_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua(dir.path());
    command.arg("serve").env("MOTCUA_LOG", "debug");
    let mut server = start(command);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.address);
    let national_id = "036194012345";
    let password = "a secret passphrase 42";
    let registered = client
        .post(url("/api/v1/auth/citizens"))
        .json(&serde_json::json!({
            "national_id": national_id, "full_name": "Đỗ Thị Hoa", "phone": "0903 123 456",
            "date_of_birth": "1994-02-03", "password": password,
        }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(registered.status().as_u16(), 201);
    let tokens: serde_json::Value = client
        .post(url("/api/v1/auth/token"))
        .json(&serde_json::json!({"username": national_id, "password": password}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!access.is_empty() && !refresh.is_empty());
    let wrong = client
        .post(url("/api/v1/auth/token"))
        .json(&serde_json::json!({"username": national_id, "password": "a wrong guess 123"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wrong.status().as_u16(), 401);
    let me = client
        .get(url("/api/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(me.status().as_u16(), 200);
    let rotated = client
        .post(url("/api/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rotated.status().as_u16(), 200);

    assert!(terminate(&mut server));
    let log = server.all_output();
    assert!(
        log.contains("citizen registered") && log.contains("logged in"),
        "the log was captured:\n{log}"
    );
    for secret in [
        national_id,
        password,
        "a wrong guess 123",
        &access,
        &refresh,
        "0903123456",
        "0903 123 456",
    ] {
        assert!(
            !log.contains(secret),
            "`{secret}` appears in the log:\n{log}"
        );
    }
}

/// R7: SIGTERM while requests are in flight. Three uploads are halfway
/// through their bodies when the signal arrives: the server stops taking
/// connections at once (a new one is refused), lets the three finish (each
/// answers 201 with its file), and then exits cleanly well within its
/// shutdown timeout.
async fn sigterm_lets_requests_in_flight_finish_and_refuses_new_connections(backend: Backend) {
    use std::net::TcpStream;
    const TIMEOUT_SECS: u64 = 20;
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut command = motcua_on(dir.path(), &database);
    command
        .args(["serve", "--demo"])
        .env("MOTCUA_SHUTDOWN_TIMEOUT_SECS", TIMEOUT_SECS.to_string())
        .stdout(Stdio::null());
    let mut server = start(command);
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/token", server.address))
        .json(&serde_json::json!({"username": "027090001234", "password": "motcua-demo"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    let token = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let host = server.address.trim_start_matches("http://").to_owned();
    let uploads: Vec<(TcpStream, Vec<u8>)> = (0..3)
        .map(|n| {
            let mut body = b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n".to_vec();
            body.extend(crate::helpers::padded_pdf(40_000 + n));
            body.extend(b"\r\n--b0undary--\r\n");
            let head = format!(
                "POST /api/v1/files HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut stream = TcpStream::connect(&host).unwrap_or_else(|e| panic!("{e}"));
            let rest = body.split_off(body.len() / 2);
            stream
                .write_all(&[head.as_bytes(), &body].concat())
                .unwrap_or_else(|e| panic!("{e}"));
            (stream, rest)
        })
        .collect();
    // In flight: the server is writing each upload's first half to its
    // staging directory (a connection it has not accepted yet is not).
    let staging = dir.path().join("data/files/incoming");
    poll_until(
        Instant::now() + Duration::from_secs(10),
        "the uploads start",
        || std::fs::read_dir(&staging).map_or(0, Iterator::count) == uploads.len(),
    );
    let pid = server.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -TERM failed");
    let signalled = Instant::now();
    // New connections are refused as soon as the server has seen the signal.
    poll_until(
        signalled + Duration::from_secs(10),
        "connections refused",
        || TcpStream::connect(&host).is_err(),
    );
    for (mut stream, rest) in uploads {
        stream.write_all(&rest).unwrap_or_else(|e| panic!("{e}"));
        let mut answer = String::new();
        use std::io::Read;
        stream
            .read_to_string(&mut answer)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
        assert!(answer.contains("\"sha256\""), "{answer}");
    }
    let mut status = None;
    poll_until(
        signalled + Duration::from_secs(TIMEOUT_SECS),
        "the process exits within its shutdown timeout",
        || {
            status = server.child.try_wait().ok().flatten();
            status.is_some()
        },
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        server.all_output()
    );
}

/// Checks `done` every 20 ms until it holds; fails the test at `deadline`.
fn poll_until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh database for a binary test: SQLite by default (nothing
/// configured), PostgreSQL through DATABASE_URL. `None`: backend unavailable.
fn database(backend: Backend) -> Option<Option<TestDb>> {
    match backend {
        Backend::Sqlite => Some(None),
        Backend::Postgres => TestDb::empty(Backend::Postgres).map(Some),
    }
}

/// The binary in `dir`, pointed at `database`.
fn motcua_on(dir: &Path, database: &Option<TestDb>) -> Command {
    let mut command = motcua(dir);
    if let Some(db) = database
        && let motcua_persistence::DatabaseUrl::Postgres(url) = db.url()
    {
        command.env("DATABASE_URL", url);
    }
    command
}

/// The first administrator from the command line, then a login with it.
async fn create_admin_bootstraps_the_first_agency_and_account(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let motcua = |dir: &Path| motcua_on(dir, &database);
    let password = "first admin passphrase";
    let create = |username: &str, agency: &str, password: &str| {
        let mut command = motcua(dir.path());
        command
            .args([
                "create-admin",
                "--agency",
                agency,
                "--username",
                username,
                "--agency-name",
                "Tỉnh Thử",
            ])
            .env("MOTCUA_ADMIN_PASSWORD", password);
        run(&mut command)
    };
    // A weak password is refused before anything is created.
    let (ok, stderr) = create("root", "000.00.00.H99", "short");
    assert!(!ok && stderr.contains("password"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing is created");
    let (ok, stderr) = create("root", "000.00.00.H99", password);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains(password));
    // The same username again, an unknown agency, a weak password: refused with a reason.
    let (ok, stderr) = create("root", "000.00.00.H99", password);
    assert!(!ok && stderr.contains("taken"), "{stderr}");
    let (ok, stderr) = create("second", "000.00.00.H98", password);
    assert!(!ok && stderr.contains("no agency"), "{stderr}");
    let (ok, stderr) = create("third", "000.00.00.H99", "short");
    assert!(!ok && stderr.contains("password"), "{stderr}");
    // Usernames follow the API's rule for staff.
    for bad in ["", "a b", "Admin", "ab", "12345"] {
        let (ok, stderr) = create(bad, "000.00.00.H99", password);
        assert!(!ok && stderr.contains("the username"), "{bad:?}: {stderr}");
    }
    // The password can come from standard input instead of the environment.
    let mut command = motcua(dir.path());
    command
        .args([
            "create-admin",
            "--agency",
            "000.00.00.H99",
            "--username",
            "from.stdin",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = writeln!(stdin, "typed in passphrase");
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let typed_at_a_terminal = "typed at a terminal";
    create_admin_at_a_terminal(motcua(dir.path()), "at.terminal", typed_at_a_terminal);

    let mut command = motcua(dir.path());
    command.arg("serve");
    let mut server = start(command);
    let client = reqwest::Client::new();
    for (username, password) in [
        ("root", password),
        ("from.stdin", "typed in passphrase"),
        ("at.terminal", typed_at_a_terminal),
    ] {
        let login = client
            .post(format!("{}/api/v1/auth/token", server.address))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(login.status().as_u16(), 200, "{username}");
    }
    assert!(terminate(&mut server));
}

/// The README's `create-admin` example names the demo's province: `serve
/// --demo` on that database says it cannot seed the demo, not that it did.
async fn the_demo_is_not_claimed_seeded_over_an_administrators_province(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (ok, stderr) = run(motcua_on(dir.path(), &database)
        .args([
            "create-admin",
            "--agency",
            "000.00.00.H27",
            "--username",
            "admin",
        ])
        .env("MOTCUA_ADMIN_PASSWORD", "Tien Son passphrase 9"));
    assert!(ok, "{stderr}");
    let mut command = motcua_on(dir.path(), &database);
    command.args(["serve", "--demo"]).stdout(Stdio::null());
    let mut server = start(command);
    // Said while starting, before the address.
    assert!(
        server
            .seen
            .iter()
            .any(|line| line.contains("no demo data seeded: an agency not made by the demo")),
        "{:?}",
        server.seen
    );
    assert!(terminate(&mut server));
}

/// Runs `create-admin` on a pseudo-terminal (util-linux `script`), types
/// the password twice when asked, and checks that it never appears on the
/// terminal.
fn create_admin_at_a_terminal(motcua: Command, username: &str, password: &str) {
    let Ok(script) = Command::new("script").arg("--version").output() else {
        assert!(std::env::var("CI").is_err(), "CI needs util-linux `script`");
        let _ = writeln!(
            std::io::stderr(),
            "*** create-admin at a terminal SKIPPED: no `script`"
        );
        return;
    };
    assert!(script.status.success());
    let line = format!(
        "{} create-admin --agency 000.00.00.H99 --username {username}",
        motcua.get_program().to_string_lossy()
    );
    let mut command = Command::new("script");
    command
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .current_dir(motcua.get_current_dir().unwrap_or(Path::new(".")))
        .env_clear()
        .envs(
            motcua
                .get_envs()
                .filter_map(|(name, value)| value.map(|value| (name, value))),
        )
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{e}"));
    let (Some(mut typing), Some(mut terminal)) = (child.stdin.take(), child.stdout.take()) else {
        panic!("no pipes to `script`");
    };
    let (bytes, shown) = mpsc::channel::<u8>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut byte = [0u8; 1];
        while terminal.read(&mut byte).is_ok_and(|n| n == 1) {
            if bytes.send(byte[0]).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for prompt in ["Password for", "The same password again: "] {
        let answered = screen.len();
        poll_until(deadline, &format!("the prompt `{prompt}`"), || {
            screen.extend(shown.try_iter());
            String::from_utf8_lossy(&screen[answered..]).contains(prompt)
        });
        writeln!(typing, "{password}").unwrap_or_else(|e| panic!("{e}"));
    }
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    screen.extend(shown.iter());
    let screen = String::from_utf8_lossy(&screen);
    assert!(status.success(), "{screen}");
    assert!(
        !screen.contains(password),
        "the password was shown: {screen}"
    );
}

/// `serve --demo` seeds the documented accounts once, in development only.
async fn serve_demo_seeds_the_documented_accounts(backend: Backend) {
    let Some(database) = database(backend) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let motcua = |dir: &Path| motcua_on(dir, &database);
    let (ok, stderr) = run(motcua(dir.path())
        .args(["serve", "--demo"])
        .env("MOTCUA_ENV", "production")
        .env("MOTCUA_JWT_SECRET", "q8VvX1pZk3N7tR2wY5bC9dF0gH4jL6mSxx")
        .env(
            "MOTCUA_HISTORY_KEYS",
            "2026a:Zp4mW8xQ2vN6bT1yK9cR3hJ7gF5dL0sA",
        ));
    assert!(!ok && stderr.contains("development only"), "{stderr}");
    // A weak demo password is refused before anything is created.
    let (ok, stderr) = run(motcua(dir.path())
        .args(["serve", "--demo"])
        .env("MOTCUA_DEMO_PASSWORD", "short"));
    assert!(!ok && stderr.contains("MOTCUA_DEMO_PASSWORD"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing is created");

    let mut command = motcua(dir.path());
    command.args(["serve", "--demo"]).stdout(Stdio::piped());
    let mut server = start(command);
    let client = reqwest::Client::new();
    for username in [
        "admin",
        "clerk",
        "officer",
        "leader",
        "auditor",
        "clerk-2",
        "auditor-province",
        "officer-stp",
        "leader-stp",
        "officer-ca",
        "027090001234",
    ] {
        let login = client
            .post(format!("{}/api/v1/auth/token", server.address))
            .json(&serde_json::json!({"username": username, "password": "motcua-demo"}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(login.status().as_u16(), 200, "{username}");
    }
    let mut printed = String::new();
    if let Some(mut stdout) = server.child.stdout.take() {
        assert!(terminate(&mut server));
        use std::io::Read;
        let _ = stdout.read_to_string(&mut printed);
    }
    for username in ["admin", "clerk-2", "auditor-province", "027090001234"] {
        assert!(printed.contains(username), "{printed}");
    }
    assert!(printed.contains("Phường Tiên Sơn"), "{printed}");
    assert!(printed.contains("Sở Tư pháp"), "{printed}");
    assert!(printed.contains("Công an phường Tiên Sơn"), "{printed}");
}
