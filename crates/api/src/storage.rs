//! Where the content of uploaded files lives: one interface, two stores.
//!
//! Content is addressed by its SHA-256 (lower-case hex), so storing is
//! idempotent: the same bytes always land under the same name, and storing
//! them again changes nothing. Uploads are first received into a local
//! staging directory (bounded by the upload limit, hashed and checked there)
//! and only then put into the store.
//!
//! - [`FileStore::Local`]: `<data dir>/files/<sha256>` (the default). Servers
//!   share files only if they share that directory.
//! - [`FileStore::S3`]: objects `<prefix>/<sha256>` in a bucket of an
//!   S3-compatible object store, through the `object_store` crate; every
//!   server configured with the same bucket sees the same files.
//!
//! See docs/files.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStoreExt, PutPayload, RetryConfig};

use crate::settings::{FileStoreSettings, S3Settings};

/// The file store the server was configured with.
#[derive(Debug, Clone)]
pub enum FileStore {
    /// A local directory, `<data dir>/files`.
    Local {
        /// The directory holding one file per content, named by its SHA-256.
        dir: PathBuf,
    },
    /// A bucket of an S3-compatible object store.
    S3 {
        /// The client, bound to the bucket.
        store: Arc<AmazonS3>,
        /// The key prefix objects are stored under (empty: the bucket's root).
        prefix: ObjectPath,
        /// Longest an operation may take, retries included.
        timeout: Duration,
        /// Uploads in progress before they are put (`<data dir>/files/incoming`).
        staging: PathBuf,
        /// `s3://bucket/prefix at endpoint`, for log lines.
        name: String,
    },
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No content under that name.
    #[error("no such content in the file store")]
    NotFound,
    /// The store could not be reached or refused the operation (the cause).
    #[error("the file store is unavailable: {0}")]
    Unavailable(String),
}

impl FileStore {
    /// The store `settings` name; `data_dir` holds the local store and the
    /// staging directory of uploads. Builds the S3 client but does not
    /// contact the store (a server may start before its store answers).
    pub fn open(settings: &FileStoreSettings, data_dir: &Path) -> Result<Self, String> {
        let dir = data_dir.join("files");
        match settings {
            FileStoreSettings::Local => Ok(FileStore::Local { dir }),
            FileStoreSettings::S3(s3) => Self::s3(s3, dir.join("incoming")),
        }
    }

    fn s3(settings: &S3Settings, staging: PathBuf) -> Result<Self, String> {
        let timeout = settings.timeout;
        let plain_http = settings
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(settings.secret_access_key.expose())
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: timeout,
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(plain_http)
                    .with_timeout(timeout)
                    .with_connect_timeout(timeout.min(Duration::from_secs(5))),
            );
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder
            .build()
            .map_err(|e| format!("the S3 file store: {e}"))?;
        let prefix = ObjectPath::parse(&settings.prefix)
            .map_err(|e| format!("the S3 key prefix `{}`: {e}", settings.prefix))?;
        let name = format!(
            "s3://{}/{} at {}",
            settings.bucket,
            settings.prefix,
            settings.endpoint.as_deref().unwrap_or("AWS")
        );
        Ok(FileStore::S3 {
            store: Arc::new(store),
            prefix,
            timeout,
            staging,
            name,
        })
    }

    /// Where uploads are received before they are put: a local directory
    /// whichever the store (its files are removed once put or refused).
    pub fn staging_dir(&self) -> PathBuf {
        match self {
            FileStore::Local { dir } => dir.join("incoming"),
            FileStore::S3 { staging, .. } => staging.clone(),
        }
    }

    /// Stores the staged file `staged`, whose SHA-256 is `sha256`, under that
    /// name. Idempotent: content already there is kept, and `staged` may then
    /// be left behind (the caller removes it either way).
    pub async fn put(&self, sha256: &str, staged: &Path) -> Result<(), StoreError> {
        match self {
            FileStore::Local { dir } => {
                let (staged, stored) = (staged.to_owned(), dir.join(sha256));
                blocking(move || {
                    if stored.exists() {
                        Ok(())
                    } else {
                        std::fs::rename(&staged, &stored)
                    }
                })
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))
            }
            FileStore::S3 { store, timeout, .. } => {
                let location = self.location(sha256);
                let put = async {
                    match store.head(&location).await {
                        Ok(_) => return Ok(()),
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(other) => return Err(StoreError::Unavailable(other.to_string())),
                    }
                    let staged = staged.to_owned();
                    let bytes = blocking(move || std::fs::read(staged))
                        .await
                        .map_err(|e| StoreError::Unavailable(format!("staged upload: {e}")))?;
                    store
                        .put(&location, PutPayload::from(bytes))
                        .await
                        .map(|_| ())
                        .map_err(|e| StoreError::Unavailable(e.to_string()))
                };
                within(*timeout, put).await
            }
        }
    }

    /// The content stored under `sha256`.
    pub async fn get(&self, sha256: &str) -> Result<Bytes, StoreError> {
        match self {
            FileStore::Local { dir } => {
                let path = dir.join(sha256);
                match blocking(move || std::fs::read(path)).await {
                    Ok(bytes) => Ok(Bytes::from(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound),
                    Err(e) => Err(StoreError::Unavailable(e.to_string())),
                }
            }
            FileStore::S3 { store, timeout, .. } => {
                let location = self.location(sha256);
                let get = async {
                    let found = store.get(&location).await.map_err(s3_error)?;
                    found.bytes().await.map_err(s3_error)
                };
                within(*timeout, get).await
            }
        }
    }

    /// The object key of `sha256` in the S3 store.
    fn location(&self, sha256: &str) -> ObjectPath {
        match self {
            FileStore::S3 { prefix, .. } => prefix.clone().join(sha256),
            FileStore::Local { .. } => ObjectPath::from(sha256),
        }
    }

    /// The store, for log lines: its directory, or bucket and endpoint.
    pub fn describe(&self) -> String {
        match self {
            FileStore::Local { dir } => format!("the local directory {}", dir.display()),
            FileStore::S3 { name, .. } => name.clone(),
        }
    }
}

fn s3_error(error: object_store::Error) -> StoreError {
    match error {
        object_store::Error::NotFound { .. } => StoreError::NotFound,
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// `operation`, or [`StoreError::Unavailable`] once `timeout` has passed.
async fn within<T>(
    timeout: Duration,
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, operation)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "no answer within {} s",
                timeout.as_secs_f32()
            )))
        })
}

/// Runs file-system work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    #[tokio::test]
    async fn the_local_store_is_content_addressed_and_idempotent() {
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = FileStore::open(&FileStoreSettings::Local, data.path())
            .unwrap_or_else(|e| panic!("{e}"));
        let staging = store.staging_dir();
        std::fs::create_dir_all(&staging).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(store.get("ab12").await, Err(StoreError::NotFound)));
        for round in 0..2 {
            let staged = staging.join(format!("upload-{round}"));
            std::fs::write(&staged, b"content").unwrap_or_else(|e| panic!("{e}"));
            store
                .put("ab12", &staged)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let got = store.get("ab12").await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&got[..], b"content");
        }
        assert!(data.path().join("files/ab12").is_file());
    }

    #[tokio::test]
    async fn an_unreachable_s3_store_is_unavailable_within_its_timeout() {
        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let settings = FileStoreSettings::S3(S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            bucket: "motcua".into(),
            region: "us-east-1".into(),
            access_key_id: "key".into(),
            secret_access_key: Secret::new("secret"),
            prefix: "files".into(),
            timeout: Duration::from_secs(2),
        });
        let store = FileStore::open(&settings, data.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.describe().contains("s3://motcua/files"));
        let staged = data.path().join("staged");
        std::fs::write(&staged, b"content").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            store.put("ab12", &staged).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.get("ab12").await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
