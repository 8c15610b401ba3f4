//! The history audit (docs/security.md, "History that cannot be shortened or
//! rewritten unseen"), shared by `GET /audit/verify` and the `motcua audit`
//! commands: where the keys come from, verifying one dossier or every
//! dossier of a subtree over a period (in batches: memory stays bounded on a
//! whole province), and the signed daily anchors.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use motcua_domain::history::{
    self, ANCHOR_VERSION, Broken, Head, HistoryKey, Keyring, Rules, StoredEvent, Verification,
};
use motcua_persistence::audit::{self as store, ChainHead, Scope};
use motcua_persistence::dossiers::EventRow;
use motcua_persistence::{AgencyId, Db, DbConnection, DbError, DossierId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::settings::{Environment, Settings};

/// The file in the data directory that keeps the development history key.
pub const HISTORY_KEY_FILE: &str = "history.key";
/// The file in the data directory that keeps the development anchor key.
pub const ANCHOR_KEY_FILE: &str = "anchor.key";
/// Dossiers read per batch when verifying a subtree.
pub const BATCH: i64 = 500;
/// Broken dossiers listed in a summary (all are counted).
pub const BROKEN_LISTED: usize = 100;

// ---------------------------------------------------------------- keys

/// The keys and rules the history is hashed and checked with.
#[derive(Debug, Clone)]
pub struct HistoryKeys {
    keys: Keyring,
    unkeyed_before: Option<DateTime<Utc>>,
}

impl HistoryKeys {
    /// Keys (current first) and the instant from which unkeyed events no
    /// longer verify.
    pub fn new(keys: Keyring, unkeyed_before: Option<DateTime<Utc>>) -> Self {
        HistoryKeys {
            keys,
            unkeyed_before,
        }
    }

    /// The key new events are hashed with.
    pub fn current(&self) -> &HistoryKey {
        self.keys.current()
    }

    /// The rules chains are verified with.
    pub fn rules(&self) -> Rules<'_> {
        Rules {
            keys: &self.keys,
            unkeyed_before: self.unkeyed_before,
        }
    }
}

/// The history keys of these settings: `MOTCUA_HISTORY_KEYS`, or in
/// development (where none is configured) the key kept in
/// `<data dir>/history.key`, generated on first use (32 random bytes, the
/// file readable by its owner only) so it survives restarts. Production
/// settings always carry keys (they refuse to load without).
pub fn history_keys(settings: &Settings) -> Result<HistoryKeys, String> {
    let keys = match (&settings.history_keys, settings.environment) {
        (Some(keys), _) => keys.clone(),
        (None, Environment::Production) => {
            return Err("MOTCUA_HISTORY_KEYS: required in production".into());
        }
        (None, Environment::Development) => {
            let path = settings.data_dir.join(HISTORY_KEY_FILE);
            let text = kept_in_file(&path, || {
                let id = format!("dev-{}", hex(&random::<4>()?));
                Ok(format!("{id}:{}\n", hex(&random::<32>()?)))
            })?;
            Keyring::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
    };
    Ok(HistoryKeys::new(keys, settings.history_unkeyed_before))
}

/// The 32-byte seed of the Ed25519 key that signs daily anchors.
#[derive(Clone, PartialEq, Eq)]
pub struct AnchorSeed([u8; 32]);

impl AnchorSeed {
    /// A seed from its base64 form (standard alphabet, 32 bytes).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| "not base64 (standard alphabet)".to_owned())?;
        let seed: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "a seed is 32 bytes, this is {} (make one with `openssl rand -base64 32`)",
                bytes.len()
            )
        })?;
        Ok(AnchorSeed(seed))
    }

    /// The signing key.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.0)
    }
}

impl fmt::Debug for AnchorSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnchorSeed([redacted])")
    }
}

/// The key that signs anchors: `MOTCUA_ANCHOR_KEY`, or in development
/// `<data dir>/anchor.key`, generated on first use. Production needs
/// `MOTCUA_ANCHOR_KEY`.
pub fn anchor_signing_key(settings: &Settings) -> Result<SigningKey, String> {
    if let Some(seed) = &settings.anchor_key {
        return Ok(seed.signing_key());
    }
    if settings.environment == Environment::Production {
        return Err(
            "MOTCUA_ANCHOR_KEY: required in production to sign anchors (a base64 \
                    32-byte seed, e.g. `openssl rand -base64 32`)"
                .into(),
        );
    }
    let path = settings.data_dir.join(ANCHOR_KEY_FILE);
    let text = kept_in_file(&path, || {
        Ok(format!("{}\n", BASE64.encode(random::<32>()?)))
    })?;
    AnchorSeed::from_base64(&text)
        .map(|seed| seed.signing_key())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// This installation's anchor key, to trust when checking an anchor:
/// `MOTCUA_ANCHOR_KEY`, else an existing `anchor.key` (never created here).
pub fn installed_anchor_key(settings: &Settings) -> Result<Option<VerifyingKey>, String> {
    if let Some(seed) = &settings.anchor_key {
        return Ok(Some(seed.signing_key().verifying_key()));
    }
    let path = settings.data_dir.join(ANCHOR_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => AnchorSeed::from_base64(&text)
            .map(|seed| Some(seed.signing_key().verifying_key()))
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// The contents of a key file, made by `make` and written (owner-only
/// permissions, never overwriting) if the file does not exist yet.
fn kept_in_file(
    path: &Path,
    make: impl FnOnce() -> Result<String, String>,
) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {error}", path.display()));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = make()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                "generated a development key in {}: keep it (and back it up) with the data",
                path.display()
            );
            Ok(text)
        }
        // Another process made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        Err(error) => Err(format!("cannot create {}: {error}", path.display())),
    }
}

fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the system: {e}"))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

// ---------------------------------------------------------------- verifying

/// The verification of one dossier's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChainVerification {
    /// Whether every link holds and the chain ends at the head the dossier records.
    pub ok: bool,
    /// Events checked (up to and including the first broken one).
    pub events_checked: usize,
    /// The `seq` of the first event that does not hold (null: none, or
    /// only the head is wrong).
    pub first_broken: Option<i32>,
    /// The first problem found: `sequence` (an event missing or out of
    /// place), `link` (previous hash wrong), `hash` (content edited, or
    /// re-hashed without the key), `unknown_key` (a key not configured),
    /// `unkeyed` (an unkeyed hash where none may be), `head` (the chain
    /// does not end where the dossier says: events deleted from its end).
    pub reason: Option<Broken>,
    /// The chain's last event is not the head the dossier records
    /// (`recorded_events` and the last hash).
    pub head_mismatch: bool,
    /// How many events the dossier records.
    pub recorded_events: i32,
    /// Unkeyed (legacy) events among those checked.
    pub unkeyed_events: usize,
}

impl From<Verification> for ChainVerification {
    fn from(v: Verification) -> Self {
        ChainVerification {
            ok: v.ok,
            events_checked: v.events_checked,
            first_broken: v.first_broken,
            reason: v.reason,
            head_mismatch: v.head_mismatch,
            recorded_events: v.recorded_events,
            unkeyed_events: v.unkeyed_events,
        }
    }
}

/// Checks a dossier's stored events (in `seq` order) against its head.
pub fn verify_chain(keys: &HistoryKeys, head: &ChainHead, events: &[EventRow]) -> Verification {
    let contents: Vec<_> = events.iter().map(EventRow::content).collect();
    history::verify(
        &keys.rules(),
        contents.iter().zip(events).map(|(content, e)| StoredEvent {
            content,
            prev_hash: &e.prev_hash,
            hash: &e.hash,
            key_id: &e.key_id,
        }),
        Head {
            events: head.history_events,
            hash: &head.history_head,
        },
    )
}

/// Verifies one dossier (call in a snapshot, so its head and events agree).
pub fn verify_dossier(
    conn: &mut DbConnection,
    keys: &HistoryKeys,
    dossier: DossierId,
) -> Result<Verification, DbError> {
    let head = store::head(conn, dossier)?;
    let events = store::events_of(conn, &[dossier])?;
    Ok(verify_chain(keys, &head, &events))
}

/// A dossier whose history does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BrokenDossier {
    /// The dossier.
    pub dossier_id: String,
    /// Its code.
    pub code: String,
    /// As in a single dossier's verification.
    pub first_broken: Option<i32>,
    /// As in a single dossier's verification.
    pub reason: Option<Broken>,
    /// As in a single dossier's verification.
    pub head_mismatch: bool,
    /// Events checked.
    pub events_checked: usize,
    /// Events the dossier records.
    pub recorded_events: i32,
}

/// The verification of every dossier of a subtree created in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubtreeVerification {
    /// Whether every dossier's history verifies.
    pub ok: bool,
    /// The agency whose subtree was checked.
    pub agency_id: String,
    /// First day (Vietnam) of dossier creation covered; null: from the start.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; null: up to now.
    pub to: Option<NaiveDate>,
    /// Dossiers checked.
    pub dossiers_checked: u64,
    /// Events checked.
    pub events_checked: u64,
    /// Unkeyed (legacy) events among them.
    pub unkeyed_events: u64,
    /// How many dossiers do not verify.
    pub broken_dossiers: u64,
    /// The first of them (at most 100), in order of creation.
    pub broken: Vec<BrokenDossier>,
}

/// Verifies every dossier of `scope`, [`BATCH`] dossiers at a time, each
/// batch's heads and events read in one snapshot; `progress` hears how many
/// dossiers each batch checked. Memory holds one batch, never the whole
/// scope.
pub fn verify_scope(
    db: &Db,
    keys: &HistoryKeys,
    scope: &Scope,
    mut progress: impl FnMut(u64),
) -> Result<SubtreeVerification, DbError> {
    let mut summary = SubtreeVerification {
        ok: true,
        agency_id: String::new(),
        from: None,
        to: None,
        dossiers_checked: 0,
        events_checked: 0,
        unkeyed_events: 0,
        broken_dossiers: 0,
        broken: Vec::new(),
    };
    let mut after: Option<(NaiveDateTime, DossierId)> = None;
    loop {
        let (heads, events) = db.snapshot(|conn| -> Result<_, DbError> {
            let heads = store::heads_after(conn, scope, after, BATCH)?;
            let ids: Vec<DossierId> = heads.iter().map(|h| h.id).collect();
            let events = store::events_of(conn, &ids)?;
            Ok((heads, events))
        })?;
        let Some(last) = heads.last() else {
            break;
        };
        after = Some((last.created_at, last.id));
        let mut chains: HashMap<DossierId, &[EventRow]> = HashMap::with_capacity(heads.len());
        for chain in events.chunk_by(|a, b| a.dossier_id == b.dossier_id) {
            if let Some(first) = chain.first() {
                chains.insert(first.dossier_id, chain);
            }
        }
        for head in &heads {
            let chain = chains.get(&head.id).copied().unwrap_or_default();
            let verification = verify_chain(keys, head, chain);
            summary.dossiers_checked += 1;
            summary.events_checked += verification.events_checked as u64;
            summary.unkeyed_events += verification.unkeyed_events as u64;
            if !verification.ok {
                summary.ok = false;
                summary.broken_dossiers += 1;
                if summary.broken.len() < BROKEN_LISTED {
                    summary.broken.push(BrokenDossier {
                        dossier_id: head.id.to_string(),
                        code: head.code.clone(),
                        first_broken: verification.first_broken,
                        reason: verification.reason,
                        head_mismatch: verification.head_mismatch,
                        events_checked: verification.events_checked,
                        recorded_events: verification.recorded_events,
                    });
                }
            }
        }
        progress(heads.len() as u64);
        if (heads.len() as i64) < BATCH {
            break;
        }
    }
    Ok(summary)
}

/// The scope of a subtree over Vietnam days `from..=to` of creation.
pub fn scope_of(agencies: Vec<AgencyId>, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Scope {
    Scope {
        agencies,
        start: from.map(|day| history::day_bounds(day).0),
        end: to.map(|day| history::day_bounds(day).1),
    }
}

// ---------------------------------------------------------------- anchors

/// A day's anchor, as published: what it covers, its root, and the
/// signature over [`history::anchor_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// `motcua-anchor-v1`.
    pub version: String,
    /// The day (Vietnam local, UTC+7).
    pub day: NaiveDate,
    /// The day's time zone, `+07:00`.
    pub timezone: String,
    /// How the root is made.
    pub root_algorithm: String,
    /// Events of the day.
    pub events: usize,
    /// The root, hex.
    pub root: String,
    /// The first 16 hex digits of SHA-256 over the public key.
    pub key_id: String,
    /// The Ed25519 public key, base64.
    pub public_key: String,
    /// The Ed25519 signature over the anchor message, base64.
    pub signature: String,
}

/// How a day's anchor root is made, as stated in each anchor.
pub const ROOT_ALGORITHM: &str = "sha256 over \"motcua-anchor-v1\\n<day>\\n\" and each event hash \
     + \"\\n\", events ordered by (at, dossier_id, seq)";

/// The id of a public key: the first 16 hex digits of SHA-256 over it.
pub fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes())[..8])
}

/// The count and root of `day` as the database holds it now.
pub fn day_root(db: &Db, day: NaiveDate) -> Result<(usize, String), DbError> {
    let (start, end) = history::day_bounds(day);
    let mut leaves = db.snapshot(|conn| store::anchor_leaves(conn, start, end))?;
    Ok(history::anchor_root(day, &mut leaves))
}

/// Computes and signs `day`'s anchor.
pub fn anchor_day(db: &Db, day: NaiveDate, key: &SigningKey) -> Result<Anchor, DbError> {
    let (events, root) = day_root(db, day)?;
    let signature = key.sign(history::anchor_message(day, events, &root).as_bytes());
    let public = key.verifying_key();
    Ok(Anchor {
        version: ANCHOR_VERSION.into(),
        day,
        timezone: "+07:00".into(),
        root_algorithm: ROOT_ALGORITHM.into(),
        events,
        root,
        key_id: key_id(&public),
        public_key: BASE64.encode(public.as_bytes()),
        signature: BASE64.encode(signature.to_bytes()),
    })
}

/// The outcome of checking a published anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorCheck {
    /// All of the below hold.
    pub ok: bool,
    /// The day.
    pub day: NaiveDate,
    /// The signature is the anchor's public key's, over its day, count and root.
    pub signature_valid: bool,
    /// The anchor's public key is the trusted one.
    pub key_trusted: bool,
    /// Events of the day in the anchor.
    pub events_anchored: usize,
    /// Events of the day in the database now.
    pub events_now: usize,
    /// The database's root for the day equals the anchor's.
    pub root_matches: bool,
}

/// Checks a published anchor: its signature, that its key is `trusted`,
/// and that the database still gives the same count and root for its day.
pub fn check_anchor(
    db: &Db,
    anchor: &Anchor,
    trusted: &VerifyingKey,
) -> Result<AnchorCheck, String> {
    let public: Option<VerifyingKey> = BASE64
        .decode(&anchor.public_key)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok());
    let signature: Option<Signature> = BASE64
        .decode(&anchor.signature)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .map(|bytes| Signature::from_bytes(&bytes));
    let message = history::anchor_message(anchor.day, anchor.events, &anchor.root);
    let signature_valid = anchor.version == ANCHOR_VERSION
        && match (&public, &signature) {
            (Some(public), Some(signature)) => {
                public.verify_strict(message.as_bytes(), signature).is_ok()
            }
            _ => false,
        };
    let key_trusted = public.as_ref() == Some(trusted);
    let (events_now, root) = day_root(db, anchor.day).map_err(|e| e.to_string())?;
    let root_matches = events_now == anchor.events && root == anchor.root;
    Ok(AnchorCheck {
        ok: signature_valid && key_trusted && root_matches,
        day: anchor.day,
        signature_valid,
        key_trusted,
        events_anchored: anchor.events,
        events_now,
        root_matches,
    })
}

/// A public key from its base64 form.
pub fn public_key_from_base64(text: &str) -> Result<VerifyingKey, String> {
    BASE64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .ok_or_else(|| "not a base64 Ed25519 public key (32 bytes)".to_owned())
}

/// The base64 form of a public key.
pub fn public_key_base64(key: &VerifyingKey) -> String {
    BASE64.encode(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use motcua_persistence::Backend;
    use motcua_persistence::testing::TestDb;

    use super::*;

    fn development(dir: &Path) -> Settings {
        let mut settings = Settings::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        settings.data_dir = dir.join("data");
        settings
    }

    #[test]
    fn development_keys_are_made_once_and_readable_by_their_owner_only() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let settings = development(dir.path());
        let first = history_keys(&settings).unwrap_or_else(|e| panic!("{e}"));
        let again = history_keys(&settings).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.current(), again.current());
        assert!(first.current().id().starts_with("dev-"));
        assert_eq!(first.current().secret_len(), 64);
        let signer = anchor_signing_key(&settings).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            installed_anchor_key(&settings).unwrap_or_else(|e| panic!("{e}")),
            Some(signer.verifying_key())
        );
        #[cfg(unix)]
        for file in [HISTORY_KEY_FILE, ANCHOR_KEY_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(settings.data_dir.join(file))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default();
            assert_eq!(mode, 0o600, "{file}");
        }
    }

    #[test]
    fn production_uses_only_configured_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut settings = development(dir.path());
        settings.environment = Environment::Production;
        assert!(history_keys(&settings).is_err());
        assert!(anchor_signing_key(&settings).is_err());
        assert_eq!(installed_anchor_key(&settings), Ok(None));
        assert!(
            !settings.data_dir.exists(),
            "no key file is made in production"
        );
    }

    #[test]
    fn an_anchor_verifies_until_its_day_changes_or_its_key_is_not_trusted() {
        let database = TestDb::migrated(Backend::Sqlite).unwrap_or_else(|| panic!("SQLite"));
        let db = database.open();
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
        let key = AnchorSeed([7; 32]).signing_key();
        let anchor = anchor_day(&db, day, &key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((anchor.events, anchor.day), (0, day));
        let check = |anchor: &Anchor, trusted: &VerifyingKey| {
            check_anchor(&db, anchor, trusted).unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(check(&anchor, &key.verifying_key()).ok);

        let stranger = AnchorSeed([8; 32]).signing_key().verifying_key();
        let untrusted = check(&anchor, &stranger);
        assert!(!untrusted.ok && untrusted.signature_valid && !untrusted.key_trusted);

        let mut forged = anchor.clone();
        forged.events = 1;
        let found = check(&forged, &key.verifying_key());
        assert!(!found.ok && !found.signature_valid && !found.root_matches);

        let mut moved = anchor.clone();
        moved.day = day.succ_opt().unwrap_or_default();
        assert!(!check(&moved, &key.verifying_key()).signature_valid);
    }
}
