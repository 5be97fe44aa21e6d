//! The command line: `keyward [serve]`, `keyward migrate`.

use crate::config::Settings;
use crate::startup::{self, Application};
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "keyward",
    version,
    about = "Self-hosted API-key and cost control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Create the data directory and database if needed and apply migrations.
    Migrate,
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keyward: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(token) = &app.generated_root_token {
        println!(
            "\nkeyward generated a root admin token. It is shown once; it is also stored, \
             readable only by you, in {}:\n\n    {token}\n",
            data_dir.join("root_token").display()
        );
    }
    let addr = app.local_addr();
    println!("keyward listening on http://{addr}");
    tracing::info!(%addr, "listening");
    app.run_until(startup::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn migrate(settings: Settings) -> Result<(), String> {
    let db = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    db.close().await;
    println!(
        "keyward: migrations applied to {}",
        redact(&settings.database_url())
    );
    Ok(())
}

/// Hides a password in a database URL before printing it.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
