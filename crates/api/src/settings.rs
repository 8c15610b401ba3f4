//! Typed settings, read once from the environment by the binary and passed
//! into [`crate::Application::build`]. Nothing reads the environment later.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::history::Keyring;
use motcua_persistence::{DatabaseUrl, DbConfig};

use crate::audit::AnchorSeed;

/// Deployment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Local use: a random signing secret is made up when none is configured.
    Development,
    /// Real deployments: refuses to start without a strong signing secret.
    Production,
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that signs with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Logging output.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// A `tracing` filter directive, e.g. `info` or `motcua_api=debug,info`.
    pub filter: String,
    /// One JSON object per line instead of human-readable text.
    pub json: bool,
}

/// Request size limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON request body, in bytes.
    pub json_body_bytes: usize,
    /// Largest uploaded file, in bytes.
    pub upload_bytes: usize,
    /// Most uploads one account may hold that are not attached to a dossier.
    pub upload_quota_files: i64,
    /// Most bytes of such uploads one account may hold.
    pub upload_quota_bytes: i64,
}

/// Where uploaded files' content is kept (`MOTCUA_FILE_STORE`; see docs/files.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStoreSettings {
    /// `<data dir>/files` (the default): servers share files only if they
    /// share that directory.
    Local,
    /// A bucket of an S3-compatible object store, shared by every server
    /// configured with it.
    S3(S3Settings),
}

/// An S3-compatible bucket (`MOTCUA_S3_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://host:port` of the store; `None` means AWS S3 in [`Self::region`].
    pub endpoint: Option<String>,
    /// The bucket (it must exist).
    pub bucket: String,
    /// The region requests are signed for.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// Key prefix of the objects, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Longest one store operation may take, retries included.
    pub timeout: Duration,
}

/// Everything the application needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deployment mode.
    pub environment: Environment,
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// Database and pool.
    pub database: DbConfig,
    /// Directory for the SQLite file (by default), uploaded files (with the
    /// local file store) and uploads in progress.
    pub data_dir: PathBuf,
    /// Where uploaded files' content is kept.
    pub file_store: FileStoreSettings,
    /// Key that signs access tokens.
    pub jwt_secret: Secret,
    /// Logging.
    pub log: LogSettings,
    /// Body size limits.
    pub limits: Limits,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// How long in-flight requests may run on after SIGTERM.
    pub shutdown_timeout: Duration,
    /// Access and refresh token lifetimes.
    pub tokens: crate::auth::TokenSettings,
    /// "Now" for dossier handling (the system clock, except in tests).
    pub clock: crate::clock::Clock,
    /// Signs online payment-gateway callbacks (none: callbacks are refused).
    pub payment_secret: Option<Secret>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: crate::client::TrustedProxies,
    /// Most password hashes computed at once (Argon2id takes 19 MiB each);
    /// `None` means one per core.
    pub password_hashers: Option<usize>,
    /// The keys of the history's hashes, current first (`MOTCUA_HISTORY_KEYS`).
    /// `None` (development only) means the key kept in the data directory,
    /// created on first use: see [`crate::audit::history_keys`].
    pub history_keys: Option<Keyring>,
    /// Unkeyed (legacy) history events dated from this instant on do not
    /// verify (`MOTCUA_HISTORY_UNKEYED_BEFORE`: when keyed hashes began).
    pub history_unkeyed_before: Option<DateTime<Utc>>,
    /// The seed of the Ed25519 key that signs daily anchors
    /// (`MOTCUA_ANCHOR_KEY`); `None` in development means `anchor.key` in
    /// the data directory. Only `motcua audit anchor` uses it.
    pub anchor_key: Option<AnchorSeed>,
    /// The outbox's dispatcher (docs/integration.md).
    pub outbox: OutboxSettings,
    /// Where the outbox delivers besides webhooks, and how the national
    /// portal's filings are authenticated (docs/integration.md).
    pub destinations: Destinations,
    /// The headless Chromium that prints the audit report as PDF
    /// (`MOTCUA_CHROMIUM`; default `chromium`, `chromium-browser` or
    /// `google-chrome` on PATH; none: PDF is answered 501).
    pub chromium: Option<PathBuf>,
}

/// The outbox's configured destinations and the national portal's inbound
/// filings; each is off unless its variables are set.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// The national portal's status sync (`MOTCUA_PORTAL_SYNC_URL`, with
    /// the bearer token `MOTCUA_PORTAL_SYNC_TOKEN`).
    pub portal: Option<Endpoint>,
    /// How the portal's filings prove themselves (`MOTCUA_PORTAL_INBOUND_SECRET`:
    /// HMAC signatures; or `MOTCUA_PORTAL_INBOUND_TOKEN`: a bearer token);
    /// none: the inbound endpoint refuses everything.
    pub portal_inbound: Option<InboundAuth>,
    /// E-mail notices (`MOTCUA_SMTP_URL`, e.g. `smtp://host:25`,
    /// `smtp://user:password@host:587?tls=required`, `smtps://host:465`;
    /// the sender `MOTCUA_SMTP_FROM`).
    pub email: Option<Smtp>,
    /// SMS notices through an HTTP gateway (`MOTCUA_SMS_URL`, with the
    /// bearer token `MOTCUA_SMS_TOKEN`).
    pub sms: Option<Endpoint>,
    /// A NATS server with JetStream (`MOTCUA_NATS_URL`, e.g.
    /// `nats://127.0.0.1:4222`).
    pub nats: Option<String>,
    /// A directory of notice templates replacing the built-in ones
    /// (`MOTCUA_TEMPLATES_DIR`).
    pub templates: Option<PathBuf>,
}

/// An HTTP destination: where, and the bearer token it takes.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// An http or https address.
    pub url: String,
    /// Sent as `Authorization: Bearer …`, if set.
    pub token: Option<Secret>,
}

/// How the national portal's filings are authenticated.
#[derive(Debug, Clone)]
pub enum InboundAuth {
    /// `X-Portal-Signature`: hex HMAC-SHA256 of `<X-Portal-Timestamp>\n<body>`.
    Hmac(Secret),
    /// `Authorization: Bearer <token>` (client credentials).
    Token(Secret),
}

/// The SMTP server e-mail notices go through.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Its address, credentials included.
    pub url: Secret,
    /// Where it is, without credentials (shown to administrators).
    pub shown: String,
    /// The sender, e.g. `Một cửa xã <motcua@example.gov.vn>`.
    pub from: String,
}

/// How the outbox's dispatcher delivers (docs/integration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSettings {
    /// Delivering tasks in this process (`MOTCUA_OUTBOX_WORKERS`, default
    /// 2; 0: this process delivers nothing, another does).
    pub workers: usize,
    /// Failed attempts after which a message is parked
    /// (`MOTCUA_OUTBOX_MAX_ATTEMPTS`, default 10).
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles it, up to an hour,
    /// give or take a quarter (`MOTCUA_OUTBOX_BACKOFF_MS`, default 2000).
    pub backoff: Duration,
    /// How often an idle task looks for due messages
    /// (`MOTCUA_OUTBOX_POLL_MS`, default 1000).
    pub poll: Duration,
    /// How old the oldest waiting message may grow before
    /// `motcua_outbox_stalled` says so (`MOTCUA_OUTBOX_ALERT_SECS`, default 900).
    pub alert_after: Duration,
}

/// A setting that cannot be used, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct SettingsError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub message: String,
}

const MIN_SECRET_BYTES: usize = 32;

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    /// Every variable is documented in the README's configuration table.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let environment = match get("MOTCUA_ENV").as_deref().map(str::trim) {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(SettingsError {
                    variable: "MOTCUA_ENV",
                    message: format!("`{other}` is neither `development` nor `production`"),
                });
            }
        };
        let data_dir = PathBuf::from(get("MOTCUA_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let file_store = file_store(&get)?;
        let url = match get("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(&url).map_err(|e| SettingsError {
                variable: "DATABASE_URL",
                message: e.to_string(),
            })?,
            None => DatabaseUrl::Sqlite(data_dir.join("motcua.db")),
        };
        let mut database = DbConfig::new(url);
        if let Some(size) = parse_number::<u32>(&get, "MOTCUA_DB_POOL_SIZE")? {
            database.pool_size = size.max(1);
        }
        if let Some(secs) = parse_number::<u64>(&get, "MOTCUA_DB_TIMEOUT_SECS")? {
            database.acquire_timeout = Duration::from_secs(secs.max(1));
        }
        // A server may start before its database: it waits this long.
        database.wait_for_database =
            Duration::from_secs(parse_number::<u64>(&get, "MOTCUA_DB_WAIT_SECS")?.unwrap_or(60));

        let jwt_secret = match (get("MOTCUA_JWT_SECRET"), environment) {
            (Some(secret), Environment::Production) => {
                check_strength(&secret).map_err(|message| SettingsError {
                    variable: "MOTCUA_JWT_SECRET",
                    message,
                })?;
                Secret(secret)
            }
            (Some(secret), Environment::Development) => Secret(secret),
            (None, Environment::Production) => {
                return Err(SettingsError {
                    variable: "MOTCUA_JWT_SECRET",
                    message: format!(
                        "required in production: at least {MIN_SECRET_BYTES} random bytes, \
                         e.g. `openssl rand -base64 48`"
                    ),
                });
            }
            // A fresh random key: tokens die with the process, which is fine locally.
            (None, Environment::Development) => Secret(format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )),
        };

        let history_keys = match get("MOTCUA_HISTORY_KEYS") {
            Some(text) => {
                let keys = Keyring::parse(&text).map_err(|e| SettingsError {
                    variable: "MOTCUA_HISTORY_KEYS",
                    message: e.to_string(),
                })?;
                let weak = keys
                    .keys()
                    .iter()
                    .find(|k| k.secret_len() < MIN_SECRET_BYTES);
                if let Some(weak) = weak
                    && environment == Environment::Production
                {
                    return Err(SettingsError {
                        variable: "MOTCUA_HISTORY_KEYS",
                        message: format!(
                            "the secret of key `{}` is too short for production ({} bytes; \
                             at least {MIN_SECRET_BYTES})",
                            weak.id(),
                            weak.secret_len()
                        ),
                    });
                }
                Some(keys)
            }
            None if environment == Environment::Production => {
                return Err(SettingsError {
                    variable: "MOTCUA_HISTORY_KEYS",
                    message: format!(
                        "required in production: `id:secret` pairs separated by commas, the \
                         current key first, each secret at least {MIN_SECRET_BYTES} random bytes \
                         (e.g. `2026a:$(openssl rand -base64 48)`)"
                    ),
                });
            }
            None => None,
        };
        let history_unkeyed_before = get("MOTCUA_HISTORY_UNKEYED_BEFORE")
            .map(|text| {
                parse_instant(text.trim()).ok_or_else(|| SettingsError {
                    variable: "MOTCUA_HISTORY_UNKEYED_BEFORE",
                    message: format!(
                        "`{text}` is neither an RFC 3339 instant nor a day YYYY-MM-DD"
                    ),
                })
            })
            .transpose()?;
        let anchor_key = get("MOTCUA_ANCHOR_KEY")
            .map(|text| {
                AnchorSeed::from_base64(&text).map_err(|message| SettingsError {
                    variable: "MOTCUA_ANCHOR_KEY",
                    message,
                })
            })
            .transpose()?;

        Ok(Settings {
            environment,
            bind: get("MOTCUA_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            database,
            data_dir,
            file_store,
            jwt_secret,
            log: LogSettings {
                filter: get("MOTCUA_LOG").unwrap_or_else(|| "info".into()),
                json: parse_bool(&get, "MOTCUA_LOG_JSON")?.unwrap_or(false),
            },
            limits: Limits {
                json_body_bytes: parse_number(&get, "MOTCUA_MAX_JSON_BYTES")?
                    .unwrap_or(1024 * 1024),
                upload_bytes: parse_number(&get, "MOTCUA_MAX_UPLOAD_BYTES")?
                    .unwrap_or(20 * 1024 * 1024),
                upload_quota_files: parse_number(&get, "MOTCUA_UPLOAD_QUOTA_FILES")?.unwrap_or(50),
                upload_quota_bytes: parse_number(&get, "MOTCUA_UPLOAD_QUOTA_BYTES")?
                    .unwrap_or(200 * 1024 * 1024),
            },
            workers: parse_number(&get, "MOTCUA_WORKERS")?,
            shutdown_timeout: Duration::from_secs(
                parse_number(&get, "MOTCUA_SHUTDOWN_TIMEOUT_SECS")?.unwrap_or(30),
            ),
            tokens: crate::auth::TokenSettings {
                access_ttl: chrono::Duration::seconds(
                    parse_number::<i64>(&get, "MOTCUA_ACCESS_TOKEN_SECS")?
                        .unwrap_or(600)
                        .clamp(30, 3600),
                ),
                refresh_ttl: chrono::Duration::days(
                    parse_number::<i64>(&get, "MOTCUA_REFRESH_TOKEN_DAYS")?
                        .unwrap_or(30)
                        .clamp(1, 365),
                ),
            },
            clock: crate::clock::Clock::system(),
            payment_secret: get("MOTCUA_PAYMENT_SECRET").map(Secret),
            trusted_proxies: crate::client::TrustedProxies::parse(
                &get("MOTCUA_TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|message| SettingsError {
                variable: "MOTCUA_TRUSTED_PROXIES",
                message,
            })?,
            password_hashers: parse_number::<usize>(&get, "MOTCUA_PASSWORD_HASHERS")?
                .map(|n| n.max(1)),
            history_keys,
            history_unkeyed_before,
            anchor_key,
            outbox: OutboxSettings {
                workers: parse_number(&get, "MOTCUA_OUTBOX_WORKERS")?.unwrap_or(2),
                max_attempts: parse_number::<u32>(&get, "MOTCUA_OUTBOX_MAX_ATTEMPTS")?
                    .unwrap_or(10)
                    .max(1),
                backoff: Duration::from_millis(
                    parse_number::<u64>(&get, "MOTCUA_OUTBOX_BACKOFF_MS")?
                        .unwrap_or(2000)
                        .max(1),
                ),
                poll: Duration::from_millis(
                    parse_number::<u64>(&get, "MOTCUA_OUTBOX_POLL_MS")?
                        .unwrap_or(1000)
                        .max(10),
                ),
                alert_after: Duration::from_secs(
                    parse_number::<u64>(&get, "MOTCUA_OUTBOX_ALERT_SECS")?.unwrap_or(900),
                ),
            },
            destinations: destinations(&get)?,
            chromium: get("MOTCUA_CHROMIUM").map(PathBuf::from),
        })
    }
}

/// The variables of the S3 file store, refused unless it is chosen (a server
/// configured with a bucket but still on its local directory would not share
/// its files).
const S3_VARIABLES: [&str; 7] = [
    "MOTCUA_S3_ENDPOINT",
    "MOTCUA_S3_BUCKET",
    "MOTCUA_S3_REGION",
    "MOTCUA_S3_ACCESS_KEY_ID",
    "MOTCUA_S3_SECRET_ACCESS_KEY",
    "MOTCUA_S3_PREFIX",
    "MOTCUA_S3_TIMEOUT_SECS",
];

fn file_store(get: &impl Fn(&str) -> Option<String>) -> Result<FileStoreSettings, SettingsError> {
    match get("MOTCUA_FILE_STORE").as_deref().map(str::trim) {
        None | Some("local") => match S3_VARIABLES.into_iter().find(|v| get(v).is_some()) {
            Some(variable) => Err(SettingsError {
                variable,
                message: "set, but MOTCUA_FILE_STORE is not `s3`: uploaded files would stay \
                          in this server's data directory"
                    .into(),
            }),
            None => Ok(FileStoreSettings::Local),
        },
        Some("s3") => {
            let required = |variable: &'static str, what: &str| {
                get(variable)
                    .map(|v| v.trim().to_owned())
                    .ok_or_else(|| SettingsError {
                        variable,
                        message: format!("required with MOTCUA_FILE_STORE=s3: {what}"),
                    })
            };
            let endpoint =
                get("MOTCUA_S3_ENDPOINT").map(|v| v.trim().trim_end_matches('/').to_owned());
            if let Some(endpoint) = &endpoint
                && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            {
                return Err(SettingsError {
                    variable: "MOTCUA_S3_ENDPOINT",
                    message: format!("`{endpoint}` is not an http:// or https:// URL"),
                });
            }
            let bucket = required("MOTCUA_S3_BUCKET", "the bucket's name")?;
            if bucket.contains(['/', ' ']) {
                return Err(SettingsError {
                    variable: "MOTCUA_S3_BUCKET",
                    message: format!("`{bucket}` is not a bucket name"),
                });
            }
            let prefix = get("MOTCUA_S3_PREFIX")
                .map(|v| v.trim().trim_matches('/').to_owned())
                .unwrap_or_default();
            if !prefix.is_empty()
                && prefix
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..")
            {
                return Err(SettingsError {
                    variable: "MOTCUA_S3_PREFIX",
                    message: format!("`{prefix}` has an empty, `.` or `..` segment"),
                });
            }
            Ok(FileStoreSettings::S3(S3Settings {
                endpoint,
                region: get("MOTCUA_S3_REGION")
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_else(|| "us-east-1".into()),
                access_key_id: required("MOTCUA_S3_ACCESS_KEY_ID", "the access key id")?,
                secret_access_key: Secret(required(
                    "MOTCUA_S3_SECRET_ACCESS_KEY",
                    "the secret access key",
                )?),
                bucket,
                prefix,
                timeout: Duration::from_secs(
                    parse_number::<u64>(get, "MOTCUA_S3_TIMEOUT_SECS")?
                        .unwrap_or(30)
                        .max(1),
                ),
            }))
        }
        Some(other) => Err(SettingsError {
            variable: "MOTCUA_FILE_STORE",
            message: format!("`{other}` is neither `local` nor `s3`"),
        }),
    }
}

/// A production signing secret must be long and not an obvious placeholder.
fn check_strength(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "too short for production ({} bytes; at least {MIN_SECRET_BYTES})",
            secret.len()
        ));
    }
    let distinct: std::collections::BTreeSet<char> = secret.chars().collect();
    let lower = secret.to_ascii_lowercase();
    if distinct.len() < 10
        || ["secret", "changeme", "password", "motcua"]
            .iter()
            .any(|w| lower.contains(w))
    {
        return Err(
            "looks like a placeholder, not a random key; use e.g. `openssl rand -base64 48`".into(),
        );
    }
    Ok(())
}

/// An RFC 3339 instant, or a day `YYYY-MM-DD` meaning its start in Vietnam.
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(motcua_domain::history::day_bounds(day).0)
}

/// An http(s) or other address, checked: parsed, of one of `schemes`,
/// with a host.
fn address(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    schemes: &[&str],
) -> Result<Option<reqwest::Url>, SettingsError> {
    let Some(value) = get(variable) else {
        return Ok(None);
    };
    let bad = |message: String| SettingsError { variable, message };
    let url = reqwest::Url::parse(value.trim()).map_err(|e| bad(format!("not an address: {e}")))?;
    if !schemes.contains(&url.scheme()) || url.host_str().is_none() {
        return Err(bad(format!(
            "`{}` is not a {} address with a host",
            url.scheme(),
            schemes.join(" or ")
        )));
    }
    Ok(Some(url))
}

fn destinations(get: &impl Fn(&str) -> Option<String>) -> Result<Destinations, SettingsError> {
    let endpoint = |url: &'static str, token: &'static str| -> Result<_, SettingsError> {
        Ok(address(get, url, &["http", "https"])?.map(|url| Endpoint {
            url: url.to_string(),
            token: get(token).map(Secret),
        }))
    };
    let portal_inbound = match (
        get("MOTCUA_PORTAL_INBOUND_SECRET"),
        get("MOTCUA_PORTAL_INBOUND_TOKEN"),
    ) {
        (Some(_), Some(_)) => {
            return Err(SettingsError {
                variable: "MOTCUA_PORTAL_INBOUND_TOKEN",
                message: "set either MOTCUA_PORTAL_INBOUND_SECRET (HMAC) or this, not both".into(),
            });
        }
        (Some(secret), None) => Some(InboundAuth::Hmac(Secret(secret))),
        (None, Some(token)) => Some(InboundAuth::Token(Secret(token))),
        (None, None) => None,
    };
    let short = match &portal_inbound {
        Some(InboundAuth::Hmac(secret)) if secret.0.len() < 16 => {
            Some("MOTCUA_PORTAL_INBOUND_SECRET")
        }
        Some(InboundAuth::Token(token)) if token.0.len() < 16 => {
            Some("MOTCUA_PORTAL_INBOUND_TOKEN")
        }
        _ => None,
    };
    if let Some(variable) = short {
        return Err(SettingsError {
            variable,
            message: "must be at least 16 characters".into(),
        });
    }
    let email = match address(get, "MOTCUA_SMTP_URL", &["smtp", "smtps"])? {
        None => None,
        Some(url) => {
            let from = get("MOTCUA_SMTP_FROM").ok_or(SettingsError {
                variable: "MOTCUA_SMTP_FROM",
                message: "e-mail notices need a sender".into(),
            })?;
            if from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(SettingsError {
                    variable: "MOTCUA_SMTP_FROM",
                    message: format!("`{from}` is not an e-mail address"),
                });
            }
            let shown = format!(
                "{}://{}:{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.port()
                    .unwrap_or(if url.scheme() == "smtps" { 465 } else { 25 })
            );
            Some(Smtp {
                url: Secret(url.to_string()),
                shown,
                from,
            })
        }
    };
    Ok(Destinations {
        portal: endpoint("MOTCUA_PORTAL_SYNC_URL", "MOTCUA_PORTAL_SYNC_TOKEN")?,
        portal_inbound,
        email,
        sms: endpoint("MOTCUA_SMS_URL", "MOTCUA_SMS_TOKEN")?,
        nats: address(get, "MOTCUA_NATS_URL", &["nats", "tls"])?.map(|url| url.to_string()),
        templates: get("MOTCUA_TEMPLATES_DIR").map(PathBuf::from),
    })
}

fn parse_number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<T>, SettingsError> {
    get(variable)
        .map(|value| {
            value.trim().parse::<T>().map_err(|_| SettingsError {
                variable,
                message: format!("`{value}` is not a non-negative whole number"),
            })
        })
        .transpose()
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<bool>, SettingsError> {
    get(variable)
        .map(|value| match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(SettingsError {
                variable,
                message: format!("`{value}` is not true or false"),
            }),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use motcua_persistence::Backend;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    const STRONG: &str = "q8VvX1pZk3N7tR2wY5bC9dF0gH4jL6mS";

    #[test]
    fn defaults_need_no_configuration() {
        let s = settings(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("./data/motcua.db"))
        );
        assert!(s.jwt_secret.expose().len() >= MIN_SECRET_BYTES);
        assert_eq!(s.limits.upload_bytes, 20 * 1024 * 1024);
        assert!(!s.log.json);
    }

    #[test]
    fn the_data_dir_moves_the_default_database() {
        let s = settings(&[("MOTCUA_DATA_DIR", "/srv/motcua")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.database.url,
            DatabaseUrl::Sqlite(PathBuf::from("/srv/motcua/motcua.db"))
        );
    }

    #[test]
    fn database_url_chooses_the_backend() {
        let s =
            settings(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.database.url.backend(), Backend::Postgres);
        let error = settings(&[("DATABASE_URL", "mysql://x")])
            .err()
            .map(|e| e.to_string());
        assert!(error.unwrap_or_default().starts_with("DATABASE_URL: "));
    }

    const HISTORY_KEYS: &str = "2026a:Zp4mW8xQ2vN6bT1yK9cR3hJ7gF5dL0sA";

    #[test]
    fn production_demands_a_strong_secret() {
        let prod = |secret: Option<&str>| {
            let mut vars = vec![
                ("MOTCUA_ENV", "production"),
                ("MOTCUA_HISTORY_KEYS", HISTORY_KEYS),
            ];
            vars.extend(secret.map(|s| ("MOTCUA_JWT_SECRET", s)));
            settings(&vars).map(|s| s.jwt_secret)
        };
        for weak in [
            None,
            Some("short"),
            Some("changeme-changeme-changeme-changeme"),
            Some(&"a".repeat(64)),
        ] {
            let error = prod(weak).err().map(|e| e.variable);
            assert_eq!(error, Some("MOTCUA_JWT_SECRET"), "{weak:?} was accepted");
        }
        assert_eq!(prod(Some(STRONG)).ok(), Some(Secret::new(STRONG)));
    }

    #[test]
    fn production_demands_history_keys_of_32_bytes() {
        let prod = |keys: Option<&str>| {
            let mut vars = vec![("MOTCUA_ENV", "production"), ("MOTCUA_JWT_SECRET", STRONG)];
            vars.extend(keys.map(|k| ("MOTCUA_HISTORY_KEYS", k)));
            settings(&vars)
        };
        for weak in [
            None,
            Some("2026a:short"),
            Some("2026b:Zp4mW8xQ2vN6bT1yK9cR3hJ7gF5dL0sA,2026a:short"),
            Some("no-colon"),
        ] {
            let error = prod(weak).err().map(|e| e.variable);
            assert_eq!(error, Some("MOTCUA_HISTORY_KEYS"), "{weak:?} was accepted");
        }
        let keys = prod(Some(HISTORY_KEYS))
            .unwrap_or_else(|e| panic!("{e}"))
            .history_keys
            .unwrap_or_else(|| panic!("no keys"));
        assert_eq!(keys.current().id(), "2026a");
        // Development takes short keys, or none (a key file then).
        let dev =
            settings(&[("MOTCUA_HISTORY_KEYS", "dev:short")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            dev.history_keys.map(|k| k.current().id().to_owned()),
            Some("dev".into())
        );
        assert!(
            settings(&[])
                .unwrap_or_else(|e| panic!("{e}"))
                .history_keys
                .is_none()
        );
    }

    #[test]
    fn the_unkeyed_cutoff_and_the_anchor_key_parse() {
        let s = settings(&[
            ("MOTCUA_HISTORY_UNKEYED_BEFORE", "2026-11-28"),
            (
                "MOTCUA_ANCHOR_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.history_unkeyed_before.map(|t| t.to_rfc3339()),
            Some("2026-11-27T17:00:00+00:00".into())
        );
        assert!(s.anchor_key.is_some());
        assert!(!format!("{s:?}").contains("AAECAwQF"));
        let s = settings(&[("MOTCUA_HISTORY_UNKEYED_BEFORE", "2026-11-28T09:00:00+07:00")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.history_unkeyed_before.map(|t| t.to_rfc3339()),
            Some("2026-11-28T02:00:00+00:00".into())
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("MOTCUA_ENV", "staging"),
            ("MOTCUA_LOG_JSON", "maybe"),
            ("MOTCUA_DB_POOL_SIZE", "-1"),
            ("MOTCUA_MAX_JSON_BYTES", "1MB"),
            ("MOTCUA_HISTORY_KEYS", "sha256:reserved"),
            ("MOTCUA_HISTORY_UNKEYED_BEFORE", "yesterday"),
            ("MOTCUA_ANCHOR_KEY", "c2hvcnQ="),
            ("MOTCUA_ANCHOR_KEY", "not base64!"),
        ] {
            let error = settings(&[(name, value)]).err().map(|e| e.variable);
            assert_eq!(error, Some(name));
        }
    }

    const S3: [(&str, &str); 5] = [
        ("MOTCUA_FILE_STORE", "s3"),
        ("MOTCUA_S3_ENDPOINT", "http://127.0.0.1:8333/"),
        ("MOTCUA_S3_BUCKET", "motcua-files"),
        ("MOTCUA_S3_ACCESS_KEY_ID", "motcua"),
        ("MOTCUA_S3_SECRET_ACCESS_KEY", "s3-secret-never-printed"),
    ];

    #[test]
    fn the_file_store_is_local_unless_s3_is_chosen() {
        let local = settings(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.file_store, FileStoreSettings::Local);
        let local = settings(&[("MOTCUA_FILE_STORE", "local")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.file_store, FileStoreSettings::Local);
        let mut vars = S3.to_vec();
        vars.extend([
            ("MOTCUA_S3_PREFIX", "/motcua/files/"),
            ("MOTCUA_S3_TIMEOUT_SECS", "7"),
        ]);
        let s3 = settings(&vars).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s3.file_store,
            FileStoreSettings::S3(S3Settings {
                endpoint: Some("http://127.0.0.1:8333".into()),
                bucket: "motcua-files".into(),
                region: "us-east-1".into(),
                access_key_id: "motcua".into(),
                secret_access_key: Secret::new("s3-secret-never-printed"),
                prefix: "motcua/files".into(),
                timeout: Duration::from_secs(7),
            })
        );
        assert!(!format!("{s3:?}").contains("s3-secret-never-printed"));
        // AWS itself needs no endpoint.
        let aws = settings(&[&S3[..1], &S3[2..]].concat()).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(
                aws.file_store,
                FileStoreSettings::S3(S3Settings { endpoint: None, .. })
            ),
            "{aws:?}"
        );
    }

    #[test]
    fn the_s3_store_names_what_is_missing_or_wrong() {
        for missing in [
            "MOTCUA_S3_BUCKET",
            "MOTCUA_S3_ACCESS_KEY_ID",
            "MOTCUA_S3_SECRET_ACCESS_KEY",
        ] {
            let vars: Vec<_> = S3
                .into_iter()
                .filter(|(name, _)| *name != missing)
                .collect();
            let error = settings(&vars).err();
            assert_eq!(error.as_ref().map(|e| e.variable), Some(missing));
            assert!(
                error.is_some_and(|e| e.message.contains("required with MOTCUA_FILE_STORE=s3")),
                "{missing}"
            );
        }
        for (name, value) in [
            ("MOTCUA_FILE_STORE", "ftp"),
            ("MOTCUA_S3_ENDPOINT", "127.0.0.1:8333"),
            ("MOTCUA_S3_BUCKET", "a/b"),
            ("MOTCUA_S3_PREFIX", "a//b"),
            ("MOTCUA_S3_PREFIX", "a/../b"),
            ("MOTCUA_S3_TIMEOUT_SECS", "soon"),
        ] {
            let mut vars = S3.to_vec();
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
            let error = settings(&vars).err().map(|e| e.variable);
            assert_eq!(error, Some(name), "{name}={value}");
        }
    }

    #[test]
    fn s3_variables_without_the_s3_store_are_refused() {
        // Forgetting MOTCUA_FILE_STORE=s3 would leave each server with its own files.
        for (name, value) in &S3[1..] {
            let error = settings(&[(name, value)]).err();
            assert_eq!(error.as_ref().map(|e| e.variable), Some(*name));
            assert!(error.is_some_and(|e| e.message.contains("MOTCUA_FILE_STORE is not `s3`")));
        }
        let error = settings(&[("MOTCUA_FILE_STORE", "local"), ("MOTCUA_S3_BUCKET", "b")]).err();
        assert_eq!(error.map(|e| e.variable), Some("MOTCUA_S3_BUCKET"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = settings(&[
            ("MOTCUA_JWT_SECRET", STRONG),
            ("MOTCUA_HISTORY_KEYS", HISTORY_KEYS),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{s:?}").contains(STRONG));
        assert!(!format!("{s:?}").contains("Zp4mW8xQ"));
    }
}
