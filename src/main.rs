//! `motcua`: the command line. `motcua serve` (the default) runs the HTTP
//! server; `motcua migrate` applies database migrations; `motcua openapi`
//! prints the OpenAPI document; `motcua audit …` verifies histories and
//! makes and checks the signed daily anchors. Configuration comes from the
//! environment (see the README).

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::task::Poll;

mod audit;
mod generate;
mod prompt;

use clap::{Parser, Subcommand};
use motcua_api::auth::Passwords;
use motcua_api::settings::Environment;
use motcua_api::{Application, Settings, bootstrap, telemetry};
use motcua_persistence::Db;

#[derive(Debug, Parser)]
#[command(
    name = "motcua",
    version,
    about = "Backend for Vietnam's one-stop desks (một cửa)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default). Applies pending migrations first.
    Serve {
        /// Development only: seed a demo province, communes and accounts
        /// unless seeded before (password: MOTCUA_DEMO_PASSWORD, default
        /// `motcua-demo`), and print the accounts.
        #[arg(long)]
        demo: bool,
    },
    /// Create an administrator (and the agency, if the database has none).
    /// The password comes from MOTCUA_ADMIN_PASSWORD or standard input.
    CreateAdmin {
        /// The agency's electronic identifier, e.g. 000.00.00.H27.
        #[arg(long)]
        agency: String,
        /// Login name of the administrator.
        #[arg(long)]
        username: String,
        /// Name of the agency, if it is created now.
        #[arg(long)]
        agency_name: Option<String>,
        /// Full name of the administrator.
        #[arg(long)]
        full_name: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (as committed in openapi/openapi.json).
    Openapi,
    /// Add the procedures of a catalogue file (`{"procedures": [...]}`, as in
    /// crates/domain/data/catalogue-demo.json) that are not in the catalogue yet.
    ImportCatalogue {
        /// The file.
        file: std::path::PathBuf,
    },
    /// Add a realistic, reproducible mix of dossiers to the database (for
    /// reports and benchmarks): communes of a province, the demo catalogue,
    /// and dossiers over the months before November 2026. Each run adds
    /// dossiers (the same seed, the same mix again). Then prints how to
    /// read the province's reports.
    GenData {
        /// The province (agency identifier). Default: the demo's
        /// (000.00.00.H27) if `serve --demo` seeded it, else the
        /// generator's own (000.00.00.H99), made on first use.
        #[arg(long)]
        province: Option<String>,
        /// Also make an administrator and an auditor at the province
        /// (`admin.h27`, `auditor.h27`, …; password MOTCUA_DEMO_PASSWORD,
        /// default `motcua-demo`), unless they exist.
        #[arg(long)]
        accounts: bool,
        /// How many dossiers.
        #[arg(long, default_value_t = 10_000)]
        dossiers: u64,
        /// How many communes.
        #[arg(long, default_value_t = 10)]
        agencies: u32,
        /// Months of history.
        #[arg(long, default_value_t = 12)]
        months: u32,
        /// Seed (the same seed gives the same data).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Put the outbox's parked messages back in line (docs/integration.md):
    /// those named, or with --all every one; prints how many.
    OutboxReplay {
        /// Every parked message.
        #[arg(long, conflicts_with = "messages")]
        all: bool,
        /// The messages' ids.
        messages: Vec<String>,
    },
    /// Verify dossier histories; make and check signed daily anchors
    /// (docs/security.md). Exit status 2 when something does not verify.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return print_openapi();
    }
    let mut settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => return fail(&format!("configuration: {error}")),
    };
    telemetry::init(&settings.log);
    if !matches!(cli.command, None | Some(Command::Serve { .. })) {
        settings.database = settings.database.one_shot();
    }
    let outcome = match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(settings, demo),
        Command::Migrate => migrate(&settings),
        Command::CreateAdmin {
            agency,
            username,
            agency_name,
            full_name,
        } => create_admin(&settings, agency, username, agency_name, full_name),
        Command::ImportCatalogue { file } => import_catalogue(&settings, &file),
        Command::GenData {
            province,
            accounts,
            dossiers,
            agencies,
            months,
            seed,
        } => gen_data(
            &settings,
            province.as_deref(),
            accounts,
            generate::Plan {
                dossiers,
                agencies,
                months,
                seed,
            },
        ),
        Command::Audit { command } => {
            return match audit::run(&settings, command) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(2),
                Err(message) => fail(&message),
            };
        }
        Command::OutboxReplay { all, messages } => outbox_replay(&settings, all, &messages),
        Command::Openapi => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn serve(settings: Settings, demo: bool) -> Result<(), String> {
    if demo && settings.environment == Environment::Production {
        return Err("--demo is for development only (MOTCUA_ENV=production)".into());
    }
    if demo {
        // Before anything is created.
        motcua_api::auth::check_password_policy(&demo_password(), "")
            .map_err(|reason| format!("MOTCUA_DEMO_PASSWORD {reason}"))?;
    }
    let database = settings.database.url.to_string();
    let app = Application::build(settings).map_err(|e| e.to_string())?;
    if demo {
        seed_demo(&app)?;
    }
    let address = app.address();
    let no_account = !demo && !app.has_accounts().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime
        .block_on(async move {
            // One poll starts the server: its workers and its SIGINT and
            // SIGTERM handlers. Only then does it say it listens, so a
            // signal sent on seeing that line stops it cleanly.
            let mut server = std::pin::pin!(app.run_until_stopped());
            let first = std::future::poll_fn(|cx| Poll::Ready(server.as_mut().poll(cx))).await;
            if let Poll::Ready(stopped) = first {
                return stopped;
            }
            tracing::info!(
                %database,
                "motcua {} listening on http://{address}",
                env!("CARGO_PKG_VERSION"),
            );
            if no_account {
                tracing::warn!(
                    "no account yet: create an administrator with `motcua create-admin \
                     --agency <identifier> --username <name>`, or try the demo with \
                     `motcua serve --demo`"
                );
            }
            server.await
        })
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("motcua stopped");
    Ok(())
}

fn outbox_replay(settings: &Settings, all: bool, messages: &[String]) -> Result<(), String> {
    if !all && messages.is_empty() {
        return Err("name the messages to replay, or --all".into());
    }
    let ids = messages
        .iter()
        .map(|id| {
            id.parse()
                .map_err(|_| format!("`{id}` is not a message id"))
        })
        .collect::<Result<Vec<motcua_persistence::MessageId>, String>>()?;
    let db = Db::open(&settings.database).map_err(|e| e.to_string())?;
    let replayed = db
        .write(|conn| {
            motcua_persistence::outbox::replay(
                conn,
                (!all).then_some(ids.as_slice()),
                chrono::Utc::now(),
            )
        })
        .map_err(|e| e.to_string())?;
    tracing::info!(replayed, "{replayed} parked message(s) back in line");
    Ok(())
}

fn migrate(settings: &Settings) -> Result<(), String> {
    let db = Db::open(&settings.database).map_err(|e| e.to_string())?;
    let applied = db.migrate().map_err(|e| e.to_string())?;
    tracing::info!(
        applied,
        database = %settings.database.url,
        "{applied} migration(s) applied; the database is up to date"
    );
    Ok(())
}

fn seed_demo(app: &Application) -> Result<(), String> {
    let password = demo_password();
    let passwords = Passwords::new()?;
    use bootstrap::{BootstrapError, NotSeeded};
    match bootstrap::seed_demo(app.db(), &passwords, &password) {
        Err(BootstrapError::NotSeeded(NotSeeded::AlreadySeeded)) => tracing::info!(
            "the demo is seeded already (province {}); its accounts are in the README, \
             \"Demo\", with the password it was seeded with",
            bootstrap::DEMO_PROVINCE
        ),
        Err(BootstrapError::NotSeeded(NotSeeded::ProvinceTaken)) => tracing::warn!(
            "no demo data seeded: an agency not made by the demo already has its province's \
             identifier, {}",
            bootstrap::DEMO_PROVINCE
        ),
        Err(BootstrapError::NotSeeded(NotSeeded::UsernameTaken(username))) => tracing::warn!(
            "no demo data seeded: an account is already called `{username}`, a name the demo uses"
        ),
        Ok(accounts) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "Demo data seeded. Accounts (password from MOTCUA_DEMO_PASSWORD, default `motcua-demo`):"
            );
            for account in accounts {
                let _ = writeln!(
                    out,
                    "  {:<18} {:<10} {}",
                    account.username, account.roles, account.agency
                );
            }
        }
        Err(other) => return Err(other.to_string()),
    }
    Ok(())
}

fn create_admin(
    settings: &Settings,
    agency: String,
    username: String,
    agency_name: Option<String>,
    full_name: Option<String>,
) -> Result<(), String> {
    let username = username.trim().to_owned();
    let password = prompt::admin_password(&username)?;
    let request = bootstrap::AdminRequest {
        agency_identifier: agency,
        agency_name,
        username,
        full_name,
        password,
    };
    // Refuse a bad argument before the database is created or migrated.
    request.check().map_err(|e| e.to_string())?;
    let db = Db::open(&settings.database).map_err(|e| e.to_string())?;
    db.migrate().map_err(|e| e.to_string())?;
    let created =
        bootstrap::create_admin(&db, &Passwords::new()?, &request).map_err(|e| e.to_string())?;
    tracing::info!(
        agency_created = created,
        "administrator {} created in agency {}; start the server (`motcua serve`) and log in \
         with POST /api/v1/auth/token",
        request.username,
        request.agency_identifier
    );
    Ok(())
}

fn import_catalogue(settings: &Settings, file: &std::path::Path) -> Result<(), String> {
    let json = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let db = Db::open(&settings.database).map_err(|e| e.to_string())?;
    db.migrate().map_err(|e| e.to_string())?;
    let (added, present) = bootstrap::import_catalogue(&db, &json).map_err(|e| e.to_string())?;
    tracing::info!(
        added,
        present,
        "catalogue imported: {added} procedure(s) added, {present} already present"
    );
    Ok(())
}

fn gen_data(
    settings: &Settings,
    province: Option<&str>,
    accounts: bool,
    plan: generate::Plan,
) -> Result<(), String> {
    let db = Db::open(&settings.database).map_err(|e| e.to_string())?;
    db.migrate().map_err(|e| e.to_string())?;
    let keys = motcua_api::audit::history_keys(settings)?;
    let province = generate::province(&db, province)?;
    let written = generate::run(&db, plan, &province, keys.current())?;
    let password = demo_password();
    let made = if accounts {
        bootstrap::report_accounts(&db, &Passwords::new()?, &password, &province)
            .map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let auditor = db
        .run(|conn| {
            motcua_persistence::users::list_staff_in_subtree(conn, &province.path, None, 1000)
        })
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|user| {
            user.active
                && user.agency_id == Some(province.id)
                && user.roles.split(',').any(|role| role == "auditor")
        });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{written} dossiers generated in {} ({}), {} commune(s).",
        province.name,
        province.identifier,
        plan.agencies.max(1)
    );
    for account in &made {
        let _ = writeln!(
            out,
            "Account made: {} ({}), password from MOTCUA_DEMO_PASSWORD (default `motcua-demo`).",
            account.username, account.roles
        );
    }
    let _ = match auditor {
        Some(auditor) => writeln!(
            out,
            "Reports: log in as `{}` (POST /api/v1/auth/token) and ask for a month, e.g. \
             GET /api/v1/reports/kstt-06?period=2026-10 (README, \"Reports on a generated province\").",
            auditor.username
        ),
        None => writeln!(
            out,
            "No auditor works at {} yet: `motcua gen-data --accounts --dossiers 0` makes one \
             (and no more dossiers).",
            province.identifier
        ),
    };
    Ok(())
}

/// The demo accounts' password: MOTCUA_DEMO_PASSWORD, default `motcua-demo`.
fn demo_password() -> String {
    std::env::var("MOTCUA_DEMO_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "motcua-demo".into())
}

/// Adds the demo catalogue's procedures that are missing.
pub fn import_demo_catalogue(db: &Db) -> Result<(), String> {
    bootstrap::import_catalogue(db, motcua_domain::procedure::DEMO_CATALOGUE_JSON)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn print_openapi() -> ExitCode {
    let document = motcua_api::openapi();
    match document.to_pretty_json() {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "{json}").is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("cannot render the OpenAPI document: {error}")),
    }
}

/// One line on stderr (line breaks, tabs and runs of spaces from drivers
/// become single spaces), exit status 1.
fn fail(message: &str) -> ExitCode {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let _ = writeln!(std::io::stderr(), "motcua: {line}");
    ExitCode::FAILURE
}
