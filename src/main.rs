//! `motcua`: the command line. `motcua serve` (the default) runs the HTTP
//! server; `motcua migrate` applies database migrations; `motcua openapi`
//! prints the OpenAPI document. Configuration comes from the environment
//! (see the README).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use motcua_api::{Application, Settings, telemetry};
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
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (as committed in openapi/openapi.json).
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return print_openapi();
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => return fail(&format!("configuration: {error}")),
    };
    telemetry::init(&settings.log);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::Openapi => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn serve(settings: Settings) -> Result<(), String> {
    let database = settings.database.url.to_string();
    let app = Application::build(settings).map_err(|e| e.to_string())?;
    tracing::info!(
        address = %app.address(),
        %database,
        "motcua {} listening on http://{} (database: {database})",
        env!("CARGO_PKG_VERSION"),
        app.address(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime
        .block_on(app.run_until_stopped())
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("motcua stopped");
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

/// One line on stderr, exit status 1.
fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "motcua: {}", message.replace('\n', " "));
    ExitCode::FAILURE
}
