//! `motcua audit`: verifies the histories of a subtree over a period (a
//! progress bar on stderr, the summary as JSON on stdout), prints a day's
//! signed anchor for publication, and checks a published anchor against the
//! database. Each returns whether everything verified.

use std::io::Write;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use motcua_api::Settings;
use motcua_api::audit::{self, Anchor};
use motcua_persistence::{AgencyId, Db, DbError, agencies};
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every dossier of an agency's subtree created in a period:
    /// each chain under its keys and against the head its dossier records.
    Verify {
        /// The agency: its electronic identifier (e.g. 000.00.00.H27) or id.
        #[arg(long)]
        agency: String,
        /// First day of dossier creation (YYYY-MM-DD, Vietnam); default: the start.
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Last day, inclusive; default: up to now.
        #[arg(long)]
        to: Option<NaiveDate>,
    },
    /// Print a past day's anchor as JSON, for publication: how many events
    /// the day has, their root, and an Ed25519 signature (MOTCUA_ANCHOR_KEY,
    /// or in development anchor.key in the data directory).
    Anchor {
        /// The day (YYYY-MM-DD, Vietnam local time); it must be over.
        #[arg(long)]
        day: NaiveDate,
    },
    /// Check a published anchor (a file as `audit anchor` printed it): its
    /// signature, its key, and that the database still gives its count and root.
    VerifyAnchor {
        /// The anchor file.
        file: std::path::PathBuf,
        /// The public key to trust (base64), as published; default: this
        /// installation's anchor key.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the anchor key's public half (base64) and its id, for publication.
    PublicKey,
}

/// Runs an audit command; `Ok(false)` when something does not verify.
pub fn run(settings: &Settings, command: AuditCommand) -> Result<bool, String> {
    match command {
        AuditCommand::Verify { agency, from, to } => verify(settings, &agency, from, to),
        AuditCommand::Anchor { day } => anchor(settings, day),
        AuditCommand::VerifyAnchor { file, public_key } => {
            verify_anchor(settings, &file, public_key.as_deref())
        }
        AuditCommand::PublicKey => {
            let key = audit::anchor_signing_key(settings)?.verifying_key();
            print_json(&serde_json::json!({
                "key_id": audit::key_id(&key),
                "public_key": audit::public_key_base64(&key),
            }))?;
            Ok(true)
        }
    }
}

fn open(settings: &Settings) -> Result<Db, String> {
    let db = Db::open(&settings.database).map_err(|e| e.to_string())?;
    let pending = db
        .readiness()
        .map_err(|e| e.to_string())?
        .pending_migrations;
    if pending > 0 {
        return Err(format!(
            "the database lacks {pending} migration(s): run `motcua migrate` first"
        ));
    }
    Ok(db)
}

fn print_json(value: &impl Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    writeln!(std::io::stdout().lock(), "{text}").map_err(|e| format!("stdout: {e}"))
}

fn verify(
    settings: &Settings,
    agency: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<bool, String> {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err("--to is before --from".into());
    }
    let keys = audit::history_keys(settings)?;
    let db = open(settings)?;
    let (root, subtree) = db
        .run(|conn| -> Result<_, DbError> {
            let root = match agency.parse::<AgencyId>() {
                Ok(id) => Some(agencies::find(conn, id)?),
                Err(_) => agencies::find_by_identifier(conn, agency)?,
            };
            let Some(root) = root else {
                return Ok(None);
            };
            let subtree: Vec<AgencyId> = agencies::subtree(conn, &root.path)?
                .into_iter()
                .map(|a| a.id)
                .collect();
            Ok(Some((root, subtree)))
        })
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no agency `{agency}`"))?;
    let scope = audit::scope_of(subtree, from, to);
    let total = db
        .run(|conn| motcua_persistence::audit::count(conn, &scope))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let progress = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} dossiers ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary =
        audit::verify_scope(&db, &keys, &scope, |n| progress.inc(n)).map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    summary.agency_id = root.id.to_string();
    summary.from = from;
    summary.to = to;
    tracing::info!(
        dossiers = summary.dossiers_checked,
        events = summary.events_checked,
        broken = summary.broken_dossiers,
        seconds = started.elapsed().as_secs_f64(),
        "verified {} dossiers ({} events) of {} in {:.1} s: {}",
        summary.dossiers_checked,
        summary.events_checked,
        root.identifier,
        started.elapsed().as_secs_f64(),
        if summary.ok {
            "all intact".to_owned()
        } else {
            format!("{} broken", summary.broken_dossiers)
        }
    );
    print_json(&summary)?;
    Ok(summary.ok)
}

fn anchor(settings: &Settings, day: NaiveDate) -> Result<bool, String> {
    let (_, end) = motcua_domain::history::day_bounds(day);
    if Utc::now() < end {
        return Err(format!(
            "{day} is not over yet (it ends at {end} UTC): anchor only past days"
        ));
    }
    let key = audit::anchor_signing_key(settings)?;
    let db = open(settings)?;
    let anchor = audit::anchor_day(&db, day, &key).map_err(|e| e.to_string())?;
    print_json(&anchor)?;
    Ok(true)
}

fn verify_anchor(
    settings: &Settings,
    file: &std::path::Path,
    public_key: Option<&str>,
) -> Result<bool, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let anchor: Anchor = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not an anchor: {e}", file.display()))?;
    let trusted = match public_key {
        Some(text) => audit::public_key_from_base64(text)?,
        None => audit::installed_anchor_key(settings)?.ok_or(
            "no key to trust: give --public-key (as published), or configure MOTCUA_ANCHOR_KEY",
        )?,
    };
    let db = open(settings)?;
    let check = audit::check_anchor(&db, &anchor, &trusted)?;
    print_json(&check)?;
    Ok(check.ok)
}
