//! The tamper-evident history of a dossier (docs/requirements.md §10).
//!
//! Each event's hash covers the previous event's hash and the event's own
//! canonical content, so editing or deleting a row breaks every link after
//! it. Three things make the history hard to shorten or rewrite unseen
//! (docs/security.md, "History that cannot be shortened or rewritten unseen"):
//!
//! - **keyed hashes**: an event's hash is HMAC-SHA256 under a secret held
//!   outside the database, named by the event's key id, so someone with only
//!   database access cannot re-hash a chain they changed ([`keyed_event_hash`];
//!   events written before keys existed carry the key id [`UNKEYED`] and a
//!   plain SHA-256, [`event_hash`]);
//! - **the head**: the dossier records how many events its chain has and the
//!   last one's hash, so deleting the last event shows ([`Head`]);
//! - **daily anchors**: a root over every event hash of a (Vietnam) day,
//!   signed and published outside the database ([`anchor_root`]).
//!
//! Everything here is pure: keys are parameters, never read from anywhere.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash before the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key id of events hashed without a key (plain SHA-256), as every
/// event was before keyed hashes: they still verify, but anyone with
/// database access could have recomputed them.
pub const UNKEYED: &str = "sha256";

/// What an event says, in the form that is hashed. Field order and
/// formatting are fixed: JSON with keys in alphabetical order, instants as
/// RFC 3339 UTC with microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventContent {
    /// The dossier.
    pub dossier_id: String,
    /// Position in the dossier's history, from 1.
    pub seq: i32,
    /// When, RFC 3339 UTC with microseconds.
    pub at: String,
    /// Who (account id), if a person.
    pub actor_id: Option<String>,
    /// In which role.
    pub actor_role: String,
    /// What.
    pub action: String,
    /// State before (none for the first event).
    pub state_before: Option<String>,
    /// State after.
    pub state_after: String,
    /// Details, as JSON text.
    pub payload: String,
}

impl EventContent {
    /// The canonical bytes: compact JSON with sorted keys.
    pub fn canonical(&self) -> String {
        // serde_json::Value keeps object keys sorted (no `preserve_order`).
        serde_json::to_value(self)
            .map(|value| value.to_string())
            .unwrap_or_default()
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The unkeyed (legacy) hash of an event that follows `previous`:
/// SHA-256 over `previous`, a newline and the canonical content.
pub fn event_hash(previous: &str, content: &EventContent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.canonical().as_bytes());
    hex(&hasher.finalize())
}

/// The keyed hash of an event that follows `previous`: HMAC-SHA256 under
/// `secret` over the same bytes as [`event_hash`] (`previous`, a newline,
/// the canonical content), as 64 lower-case hex digits.
pub fn keyed_event_hash(secret: &[u8], previous: &str, content: &EventContent) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(previous.as_bytes());
    mac.update(b"\n");
    mac.update(content.canonical().as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Why a history key or key list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The id is empty, too long, reserved or has characters other than
    /// letters, digits, `.`, `_` and `-`.
    #[error("key id `{0}` must be 1–64 letters, digits, `.`, `_` or `-`, and not `{UNKEYED}`")]
    BadId(String),
    /// The secret is empty.
    #[error("key `{0}` has an empty secret")]
    EmptySecret(String),
    /// Two keys share an id.
    #[error("key id `{0}` is listed twice")]
    Duplicate(String),
    /// An entry is not `id:secret`.
    #[error("each key is `id:secret`, separated by commas")]
    Malformed,
    /// No key at all.
    #[error("no key given")]
    Empty,
}

/// A secret that keys event hashes, with the id recorded on each event it hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct HistoryKey {
    id: String,
    secret: Vec<u8>,
}

impl HistoryKey {
    /// A key; the id is what events record (`[A-Za-z0-9._-]{1,64}`, not
    /// [`UNKEYED`]), the secret any non-empty bytes.
    pub fn new(id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let (id, secret) = (id.into(), secret.into());
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id != UNKEYED
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid_id {
            return Err(KeyError::BadId(id));
        }
        if secret.is_empty() {
            return Err(KeyError::EmptySecret(id));
        }
        Ok(HistoryKey { id, secret })
    }

    /// The id events record.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret's length in bytes (to judge its strength without showing it).
    pub fn secret_len(&self) -> usize {
        self.secret.len()
    }

    /// The keyed hash of an event that follows `previous` under this key.
    pub fn hash(&self, previous: &str, content: &EventContent) -> String {
        keyed_event_hash(&self.secret, previous, content)
    }
}

impl fmt::Debug for HistoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HistoryKey({}, [redacted])", self.id)
    }
}

/// The history keys: the first hashes new events, every one verifies the
/// events that name it (key rotation keeps old keys listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<HistoryKey>,
}

impl Keyring {
    /// A keyring of at least one key with distinct ids; the first is current.
    pub fn new(keys: Vec<HistoryKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(KeyError::Duplicate(key.id.clone()));
            }
        }
        Ok(Keyring { keys })
    }

    /// Parses `id:secret[,id:secret…]` (the secret is everything after the
    /// first colon, as bytes; surrounding spaces are ignored).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let keys = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (id, secret) = entry.split_once(':').ok_or(KeyError::Malformed)?;
                HistoryKey::new(id.trim(), secret.trim().as_bytes())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Keyring::new(keys)
    }

    /// The key new events are hashed with.
    pub fn current(&self) -> &HistoryKey {
        // `new` refuses an empty list.
        &self.keys[0]
    }

    /// The key with this id, if listed.
    pub fn find(&self, id: &str) -> Option<&HistoryKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Every key, the current one first.
    pub fn keys(&self) -> &[HistoryKey] {
        &self.keys
    }
}

/// How a chain is checked beyond its links.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The keys that may have hashed events.
    pub keys: &'a Keyring,
    /// Unkeyed ([`UNKEYED`]) events are accepted only if dated before this
    /// instant (the upgrade to keyed hashes); `None` accepts them at any
    /// date. Either way none may follow a keyed event in the same chain.
    pub unkeyed_before: Option<DateTime<Utc>>,
}

/// One stored event, as read back.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    /// Its content.
    pub content: &'a EventContent,
    /// The stored previous hash.
    pub prev_hash: &'a str,
    /// The stored hash.
    pub hash: &'a str,
    /// The key id it was hashed under ([`UNKEYED`] for none).
    pub key_id: &'a str,
}

/// What the dossier itself records about its chain: how many events (the
/// last one's `seq`) and the last one's hash (empty for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head<'a> {
    /// Events recorded.
    pub events: i32,
    /// The last event's hash.
    pub hash: &'a str,
}

/// What is wrong with a chain (the first problem found).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Broken {
    /// An event is missing or out of place: its `seq` is not the next one.
    Sequence,
    /// Its stored previous hash is not the previous event's hash.
    Link,
    /// Its hash does not match its content under its key: the content was
    /// edited, or the hash was computed without the key.
    Hash,
    /// It names a key that is not configured.
    UnknownKey,
    /// It is unkeyed where no unkeyed event may be: after a keyed event of
    /// the same chain, or dated after the upgrade to keyed hashes.
    Unkeyed,
    /// The links hold but the chain does not end where the dossier says
    /// (events deleted from, or added to, its end).
    Head,
}

impl Broken {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Broken::Sequence => "sequence",
            Broken::Link => "link",
            Broken::Hash => "hash",
            Broken::UnknownKey => "unknown_key",
            Broken::Unkeyed => "unkeyed",
            Broken::Head => "head",
        }
    }
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Events checked (up to and including the first broken one).
    pub events_checked: usize,
    /// Whether every link holds and the chain ends at the dossier's head.
    pub ok: bool,
    /// The sequence number of the first event that does not hold.
    pub first_broken: Option<i32>,
    /// The first problem found; `null` when ok.
    pub reason: Option<Broken>,
    /// The chain's last event (its `seq` and hash) is not the head the
    /// dossier records: events were deleted from (or added to) its end.
    pub head_mismatch: bool,
    /// How many events the dossier records.
    pub recorded_events: i32,
    /// Unkeyed (legacy) events among those checked: their hashes could be
    /// recomputed by anyone with database access.
    pub unkeyed_events: usize,
}

/// Checks stored events (in `seq` order) against their content and keys,
/// and the chain's end against the dossier's recorded head.
pub fn verify<'a>(
    rules: &Rules<'_>,
    events: impl IntoIterator<Item = StoredEvent<'a>>,
    head: Head<'_>,
) -> Verification {
    let mut previous = GENESIS.to_owned();
    let mut checked = 0;
    let mut unkeyed = 0;
    let mut keyed_seen = false;
    let mut broken: Option<(i32, Broken)> = None;
    let mut last: Option<(i32, &str)> = None;
    for (expected_seq, event) in (1..).zip(events) {
        last = Some((event.content.seq, event.hash));
        if broken.is_some() {
            continue;
        }
        checked += 1;
        let problem = if event.content.seq != expected_seq {
            Some(Broken::Sequence)
        } else if event.prev_hash != previous {
            Some(Broken::Link)
        } else if event.key_id == UNKEYED {
            unkeyed += 1;
            if keyed_seen || too_late(rules.unkeyed_before, &event.content.at) {
                Some(Broken::Unkeyed)
            } else {
                (event_hash(&previous, event.content) != event.hash).then_some(Broken::Hash)
            }
        } else {
            keyed_seen = true;
            match rules.keys.find(event.key_id) {
                None => Some(Broken::UnknownKey),
                Some(key) => {
                    (key.hash(&previous, event.content) != event.hash).then_some(Broken::Hash)
                }
            }
        };
        match problem {
            Some(problem) => broken = Some((event.content.seq, problem)),
            None => previous = event.hash.to_owned(),
        }
    }
    let head_mismatch = match last {
        Some((seq, hash)) => seq != head.events || hash != head.hash,
        None => head.events != 0,
    };
    let reason = broken
        .map(|(_, reason)| reason)
        .or(head_mismatch.then_some(Broken::Head));
    Verification {
        events_checked: checked,
        ok: reason.is_none(),
        first_broken: broken.map(|(seq, _)| seq),
        reason,
        head_mismatch,
        recorded_events: head.events,
        unkeyed_events: unkeyed,
    }
}

/// Whether an unkeyed event dated `at` (RFC 3339) comes too late; a date
/// that does not parse is too late whenever there is a limit.
fn too_late(limit: Option<DateTime<Utc>>, at: &str) -> bool {
    limit.is_some_and(|limit| {
        DateTime::parse_from_rfc3339(at).map_or(true, |at| at.with_timezone(&Utc) >= limit)
    })
}

// ---------------------------------------------------------------- anchors

/// The version tag hashed into every anchor root and signed message.
pub const ANCHOR_VERSION: &str = "motcua-anchor-v1";

/// One event as a daily anchor covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorLeaf {
    /// When (UTC).
    pub at: NaiveDateTime,
    /// The dossier (lower-case hyphenated UUID).
    pub dossier_id: String,
    /// Position in its chain.
    pub seq: i32,
    /// Its stored hash.
    pub hash: String,
}

/// The instants a Vietnam local day spans, UTC: `[start, end)`.
pub fn day_bounds(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = crate::time::from_local(day.and_time(chrono::NaiveTime::MIN));
    (start, start + chrono::Duration::days(1))
}

/// The root of a day's anchor: the events are put in order by (`at`,
/// `dossier_id`, `seq`), then the root is SHA-256 over
/// `motcua-anchor-v1\n<YYYY-MM-DD>\n` followed by each event's hash and a
/// newline. Returns (events, root as hex). A plain hash over the ordered
/// list, not a Merkle tree: checking it needs all of the day's hashes.
pub fn anchor_root(day: NaiveDate, leaves: &mut [AnchorLeaf]) -> (usize, String) {
    leaves.sort_by(|a, b| (a.at, &a.dossier_id, a.seq).cmp(&(b.at, &b.dossier_id, b.seq)));
    let mut hasher = Sha256::new();
    hasher.update(ANCHOR_VERSION.as_bytes());
    hasher.update(b"\n");
    hasher.update(day.format("%Y-%m-%d").to_string().as_bytes());
    hasher.update(b"\n");
    for leaf in leaves.iter() {
        hasher.update(leaf.hash.as_bytes());
        hasher.update(b"\n");
    }
    (leaves.len(), hex(&hasher.finalize()))
}

/// The bytes an anchor's signature covers.
pub fn anchor_message(day: NaiveDate, events: usize, root: &str) -> String {
    format!(
        "{ANCHOR_VERSION}\nday={}\nevents={events}\nroot={root}\n",
        day.format("%Y-%m-%d")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i32, action: &str) -> EventContent {
        EventContent {
            dossier_id: "d".into(),
            seq,
            at: "2026-11-26T08:00:00.000000Z".into(),
            actor_id: Some("u".into()),
            actor_role: "clerk".into(),
            action: action.into(),
            state_before: None,
            state_after: "accepted".into(),
            payload: "{}".into(),
        }
    }

    fn keys() -> Keyring {
        Keyring::parse("k2:new-secret-of-enough-length-0123456789,k1:old-secret")
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A stored chain: (content, prev_hash, hash, key_id), hashed with
    /// `key` (`None`: unkeyed).
    type Stored = Vec<(EventContent, String, String, String)>;

    fn chain(events: &[EventContent], key: Option<&HistoryKey>) -> Stored {
        let mut previous = GENESIS.to_owned();
        events
            .iter()
            .map(|e| {
                let (hash, id) = match key {
                    Some(key) => (key.hash(&previous, e), key.id().to_owned()),
                    None => (event_hash(&previous, e), UNKEYED.to_owned()),
                };
                let stored = (e.clone(), previous.clone(), hash.clone(), id);
                previous = hash;
                stored
            })
            .collect()
    }

    fn head(stored: &Stored) -> (i32, String) {
        stored
            .last()
            .map(|(e, _, h, _)| (e.seq, h.clone()))
            .unwrap_or_default()
    }

    fn check_with(rules: &Rules<'_>, stored: &Stored, recorded: &(i32, String)) -> Verification {
        verify(
            rules,
            stored
                .iter()
                .map(|(content, prev_hash, hash, key_id)| StoredEvent {
                    content,
                    prev_hash,
                    hash,
                    key_id,
                }),
            Head {
                events: recorded.0,
                hash: &recorded.1,
            },
        )
    }

    fn check(stored: &Stored, recorded: &(i32, String)) -> Verification {
        let keys = keys();
        let rules = Rules {
            keys: &keys,
            unkeyed_before: None,
        };
        check_with(&rules, stored, recorded)
    }

    fn three() -> Vec<EventContent> {
        vec![
            event(1, "accept"),
            event(2, "hand_over"),
            event(3, "complete"),
        ]
    }

    #[test]
    fn an_intact_keyed_chain_verifies_and_any_edit_is_found() {
        let keys = keys();
        let stored = chain(&three(), Some(keys.current()));
        let recorded = head(&stored);
        assert_eq!(
            check(&stored, &recorded),
            Verification {
                events_checked: 3,
                ok: true,
                first_broken: None,
                reason: None,
                head_mismatch: false,
                recorded_events: 3,
                unkeyed_events: 0,
            }
        );

        let mut edited = stored.clone();
        edited[1].0.action = "refuse".into();
        let found = check(&edited, &recorded);
        assert_eq!(
            (
                found.ok,
                found.first_broken,
                found.reason,
                found.events_checked
            ),
            (false, Some(2), Some(Broken::Hash), 2)
        );

        let mut middle_deleted = stored.clone();
        middle_deleted.remove(1);
        let found = check(&middle_deleted, &recorded);
        assert_eq!(
            (found.first_broken, found.reason),
            (Some(3), Some(Broken::Sequence))
        );
    }

    #[test]
    fn a_deleted_last_event_is_found_by_the_head() {
        let keys = keys();
        let mut stored = chain(&three(), Some(keys.current()));
        let recorded = head(&stored);
        stored.pop();
        let found = check(&stored, &recorded);
        assert_eq!(
            (
                found.ok,
                found.first_broken,
                found.reason,
                found.head_mismatch
            ),
            (false, None, Some(Broken::Head), true)
        );
        // An empty chain where the dossier records events, and the reverse.
        assert!(check(&Vec::new(), &recorded).head_mismatch);
        assert!(check(&chain(&three(), Some(keys.current())), &(0, String::new())).head_mismatch);
        assert!(check(&Vec::new(), &(0, String::new())).ok);
    }

    #[test]
    fn a_chain_rehashed_without_the_key_is_found() {
        let keys = keys();
        // Plain SHA-256 under the current key's id: the hashes do not match.
        let mut forged = chain(&three(), None);
        for link in &mut forged {
            link.3 = keys.current().id().to_owned();
        }
        let found = check(&forged, &head(&forged));
        assert_eq!(
            (found.first_broken, found.reason),
            (Some(1), Some(Broken::Hash))
        );
        // Under a guessed key: the same.
        let guessed = HistoryKey::new("k2", "guess").unwrap_or_else(|e| panic!("{e}"));
        let forged = chain(&three(), Some(&guessed));
        assert_eq!(check(&forged, &head(&forged)).reason, Some(Broken::Hash));
        // Under an id nobody configured.
        let stranger = HistoryKey::new("k9", "x").unwrap_or_else(|e| panic!("{e}"));
        let forged = chain(&three(), Some(&stranger));
        assert_eq!(
            check(&forged, &head(&forged)).reason,
            Some(Broken::UnknownKey)
        );
    }

    #[test]
    fn unkeyed_events_verify_only_before_keyed_ones_and_before_the_upgrade() {
        let keys = keys();
        let legacy = chain(&three(), None);
        let found = check(&legacy, &head(&legacy));
        assert_eq!((found.ok, found.unkeyed_events), (true, 3));

        // Two legacy events, then keyed ones: fine. The reverse is not.
        let mut mixed = chain(&three()[..2], None);
        let extra = event(3, "complete");
        let hash = keys.current().hash(&mixed[1].2, &extra);
        mixed.push((extra, mixed[1].2.clone(), hash, "k2".into()));
        assert!(check(&mixed, &head(&mixed)).ok);
        let mut reversed = chain(&three()[..2], Some(keys.current()));
        let extra = event(3, "complete");
        let hash = event_hash(&reversed[1].2, &extra);
        reversed.push((extra, reversed[1].2.clone(), hash, UNKEYED.into()));
        let found = check(&reversed, &head(&reversed));
        assert_eq!(
            (found.first_broken, found.reason),
            (Some(3), Some(Broken::Unkeyed))
        );

        // With the upgrade's date configured, unkeyed events after it fail.
        let upgrade = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        let strict = Rules {
            keys: &keys,
            unkeyed_before: upgrade("2026-11-26T08:00:00Z"),
        };
        let found = check_with(&strict, &legacy, &head(&legacy));
        assert_eq!(
            (found.first_broken, found.reason),
            (Some(1), Some(Broken::Unkeyed))
        );
        let lenient = Rules {
            keys: &keys,
            unkeyed_before: upgrade("2026-11-26T08:00:01Z"),
        };
        assert!(check_with(&lenient, &legacy, &head(&legacy)).ok);
    }

    #[test]
    fn rotation_keeps_old_events_verifiable_while_the_old_key_is_listed() {
        let old = Keyring::parse("k1:old-secret").unwrap_or_else(|e| panic!("{e}"));
        let written = chain(&three(), Some(old.current()));
        assert!(check(&written, &head(&written)).ok, "k1 is still listed");
        let dropped = Keyring::parse("k2:new").unwrap_or_else(|e| panic!("{e}"));
        let rules = Rules {
            keys: &dropped,
            unkeyed_before: None,
        };
        assert_eq!(
            check_with(&rules, &written, &head(&written)).reason,
            Some(Broken::UnknownKey)
        );
    }

    #[test]
    fn keyed_hashes_are_hmac_sha256() {
        // RFC 4231, test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The keyed hash covers the same bytes as the unkeyed one.
        let content = event(1, "accept");
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"k").unwrap_or_else(|e| panic!("{e}"));
        mac.update(format!("{GENESIS}\n{}", content.canonical()).as_bytes());
        assert_eq!(
            keyed_event_hash(b"k", GENESIS, &content),
            hex(&mac.finalize().into_bytes())
        );
        assert_ne!(
            keyed_event_hash(b"k", GENESIS, &content),
            event_hash(GENESIS, &content)
        );
    }

    #[test]
    fn keyrings_parse_and_refuse_what_they_cannot_use() {
        let ring = Keyring::parse(" new:abc:def , old:xyz ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.current().id(), "new");
        assert_eq!(ring.current().secret_len(), 7);
        assert!(ring.find("old").is_some() && ring.find("sha256").is_none());
        assert!(!format!("{ring:?}").contains("abc"));
        for (text, error) in [
            ("", KeyError::Empty),
            ("nocolon", KeyError::Malformed),
            ("sha256:x", KeyError::BadId("sha256".into())),
            ("a b:x", KeyError::BadId("a b".into())),
            ("a:", KeyError::EmptySecret("a".into())),
            ("a:x,a:y", KeyError::Duplicate("a".into())),
        ] {
            assert_eq!(Keyring::parse(text), Err(error), "{text}");
        }
    }

    fn leaf(at: &str, dossier: &str, seq: i32, hash: &str) -> AnchorLeaf {
        AnchorLeaf {
            at: NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
                .unwrap_or_else(|e| panic!("{e}")),
            dossier_id: dossier.into(),
            seq,
            hash: hash.into(),
        }
    }

    #[test]
    fn the_anchor_root_is_sha256_over_the_ordered_hashes() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
        let mut leaves = vec![
            leaf("2026-11-02 03:00:00", "b", 1, "h3"),
            leaf("2026-11-02 02:00:00", "b", 2, "h2"),
            leaf("2026-11-02 02:00:00", "a", 7, "h1"),
            leaf("2026-11-02 02:00:00", "b", 1, "h0"),
        ];
        let (count, root) = anchor_root(day, &mut leaves);
        let expected = hex(&Sha256::digest(
            b"motcua-anchor-v1\n2026-11-02\nh1\nh0\nh2\nh3\n".as_slice(),
        ));
        assert_eq!((count, root.clone()), (4, expected));
        // The order of the input does not matter; any hash does.
        leaves.reverse();
        assert_eq!(anchor_root(day, &mut leaves).1, root);
        leaves[0].hash = "changed".into();
        assert_ne!(anchor_root(day, &mut leaves).1, root);
        // Nor is a day's root another day's.
        leaves[0].hash = "h3".into();
        assert_ne!(
            anchor_root(day.succ_opt().unwrap_or_default(), &mut leaves).1,
            root
        );
        assert_eq!(
            anchor_message(day, 4, "ab"),
            "motcua-anchor-v1\nday=2026-11-02\nevents=4\nroot=ab\n"
        );
    }

    #[test]
    fn a_vietnam_day_starts_at_17_utc_the_day_before() {
        let (start, end) = day_bounds(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default());
        assert_eq!(start.to_rfc3339(), "2026-11-01T17:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-02T17:00:00+00:00");
    }

    #[test]
    fn the_canonical_form_sorts_keys() {
        let text = event(1, "accept").canonical();
        assert!(
            text.starts_with(r#"{"action":"accept","actor_id":"u","actor_role":"clerk","at":"#),
            "{text}"
        );
    }
}
