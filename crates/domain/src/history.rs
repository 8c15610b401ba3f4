//! The tamper-evident history of a dossier (PRODUCT.md §10): each event's
//! hash is SHA-256 over the previous event's hash and the event's own
//! canonical content, so editing or deleting any row breaks every hash after it.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

/// The hash of an event that follows `previous`.
pub fn event_hash(previous: &str, content: &EventContent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.canonical().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The result of checking a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Events checked.
    pub events_checked: usize,
    /// Whether every link holds.
    pub ok: bool,
    /// The sequence number of the first event that does not match.
    pub first_broken: Option<i32>,
}

/// Checks stored events (in `seq` order, each with its stored previous hash
/// and hash) against their content.
pub fn verify<'a>(
    events: impl IntoIterator<Item = (&'a EventContent, &'a str, &'a str)>,
) -> Verification {
    let mut previous = GENESIS.to_owned();
    let mut checked = 0;
    for (expected_seq, (content, prev_hash, hash)) in (1..).zip(events) {
        checked += 1;
        let intact = content.seq == expected_seq
            && prev_hash == previous
            && event_hash(&previous, content) == hash;
        if !intact {
            return Verification {
                events_checked: checked,
                ok: false,
                first_broken: Some(content.seq),
            };
        }
        previous = hash.to_owned();
    }
    Verification {
        events_checked: checked,
        ok: true,
        first_broken: None,
    }
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

    fn chain(events: &[EventContent]) -> Vec<(String, String)> {
        let mut previous = GENESIS.to_owned();
        events
            .iter()
            .map(|e| {
                let hash = event_hash(&previous, e);
                let link = (previous.clone(), hash.clone());
                previous = hash;
                link
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_edit_is_found() {
        let events = vec![
            event(1, "accept"),
            event(2, "hand_over"),
            event(3, "complete"),
        ];
        let links = chain(&events);
        let check = |events: &[EventContent], links: &[(String, String)]| {
            verify(
                events
                    .iter()
                    .zip(links)
                    .map(|(e, (p, h))| (e, p.as_str(), h.as_str())),
            )
        };
        assert_eq!(
            check(&events, &links),
            Verification {
                events_checked: 3,
                ok: true,
                first_broken: None
            }
        );

        let mut edited = events.clone();
        edited[1].action = "refuse".into();
        assert_eq!(check(&edited, &links).first_broken, Some(2));

        let mut deleted_events = events.clone();
        deleted_events.remove(1);
        let mut deleted_links = links.clone();
        deleted_links.remove(1);
        assert_eq!(check(&deleted_events, &deleted_links).first_broken, Some(3));
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
