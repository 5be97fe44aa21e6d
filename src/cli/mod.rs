//! The command line. On the store (same database, data directory and keyring
//! as the server): `keyward [serve]`, `migrate`, `secrets
//! get|list|provision|rotate`, `vault rotate-master|retire-master`, `costs
//! analyze`, `optimize analyze`, `billing generate-invoices|export|push`,
//! `admin add-user`, `tokens create|list|revoke|root-token`, `migrate-store`.
//! Over a running server's API with an operator token (`remote`): `tenants`,
//! `keys`, `namespaces`, `usage`, `prices`, `plans`, `invoices`, `audit`. Tables for
//! people, `--json` for scripts. One file per command group; this one parses
//! and dispatches.

mod admin;
mod api_keys;
mod automation;
mod billing;
mod catalog;
mod costs;
mod remote;
mod secret_store;
mod secrets;
mod tenants;
mod tokens;
mod vault;

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
    /// Tenants' AI provider keys in the vault (on the store).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Tenants: list, show, children, update, suspend, resume, erase (over the API).
    Tenants(tenants::TenantsArgs),
    /// API keys: list, show, provision, update, rotate, disable, enable, revoke (over the API).
    Keys(api_keys::KeysArgs),
    /// Namespaces: list, create, delete (over the API).
    Namespaces(tenants::NamespacesArgs),
    /// Data-plane usage and usage events (over the API).
    Usage(catalog::UsageArgs),
    /// Service prices (over the API).
    Prices(catalog::PricesArgs),
    /// Plans and their limits (over the API).
    Plans(catalog::PlansArgs),
    /// Invoices: list, show, generate, push to Xero, record payments (over the API).
    Invoices(catalog::InvoicesArgs),
    /// The audit trail, newest first, filtered (over the API).
    Audit(catalog::AuditArgs),
    /// Scheduled jobs: list, set, delete, run, runs (over the API).
    Jobs(automation::JobsArgs),
    /// Webhook endpoints and deliveries: list, add, remove, test, deliveries, replay (over the API).
    Webhooks(automation::WebhooksArgs),
    /// Tenants' monthly spend budgets: list, show, set, remove (over the API).
    Budgets(automation::BudgetsArgs),
    /// The vault's master keys.
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Cost analytics.
    #[command(subcommand)]
    Costs(costs::CostsCommand),
    /// The weekly optimisation analysis.
    #[command(subcommand)]
    Optimize(costs::OptimizeCommand),
    /// Invoices: generate a month's, export them for Xero, push them to Xero.
    #[command(subcommand)]
    Billing(billing::BillingCommand),
    /// Dashboard admin accounts.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Operator tokens for the management API, and the root token's switch.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Copy a SQLite store into PostgreSQL (migrated first) from one consistent
    /// snapshot (the server may keep running), verified by row counts and
    /// checksums before it commits. Prints a per-table report.
    MigrateStore {
        /// The SQLite store, e.g. sqlite://data/keyward.db
        #[arg(long)]
        from: String,
        /// The PostgreSQL store, e.g. postgres://keyward@db/keyward
        #[arg(long)]
        to: String,
        /// Replace what the target already holds (refused otherwise).
        #[arg(long)]
        replace: bool,
    },
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
        Command::Secrets(cmd) => secrets::run(settings, cmd).await,
        Command::Tenants(args) => tenants::run_tenants(args).await,
        Command::Keys(args) => api_keys::run(args).await,
        Command::Namespaces(args) => tenants::run_namespaces(args).await,
        Command::Usage(args) => catalog::run_usage(args).await,
        Command::Prices(args) => catalog::run_prices(args).await,
        Command::Plans(args) => catalog::run_plans(args).await,
        Command::Invoices(args) => catalog::run_invoices(args).await,
        Command::Audit(args) => catalog::run_audit(args).await,
        Command::Jobs(args) => automation::run_jobs(args).await,
        Command::Webhooks(args) => automation::run_webhooks(args).await,
        Command::Budgets(args) => automation::run_budgets(args).await,
        Command::Vault(cmd) => vault::run(settings, cmd).await,
        Command::Costs(cmd) => costs::analyze(settings, cmd).await,
        Command::Optimize(cmd) => costs::optimize(settings, cmd).await,
        Command::Billing(cmd) => billing::run(settings, cmd).await,
        Command::Admin(cmd) => admin::run(settings, cmd).await,
        Command::Tokens(cmd) => tokens::run(settings, cmd).await,
        Command::MigrateStore { from, to, replace } => {
            crate::db::copy::copy_store(&from, &to, replace)
                .await
                .map(|report| print!("{report}"))
                .map_err(|e| e.to_string())
        }
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
    if let Some(file) = &settings.config_file {
        println!(
            "keyward: settings from {} (the environment overrides it)",
            file.display()
        );
    }
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

/// The services over the store, for one command. This process runs no
/// scheduled job: it exits when the command is done, and a job it started
/// would be cut off (the server's replicas run them; `jobs run` still works).
pub(crate) async fn core(settings: &Settings) -> Result<crate::services::Keyward, String> {
    let db = startup::open_store(settings)
        .await
        .map_err(|e| e.to_string())?;
    let mut settings = settings.clone();
    settings.scheduler.enabled = false;
    startup::open_core(&settings, db)
        .await
        .map_err(|e| e.to_string())
}

pub(crate) fn cli_actor() -> crate::domain::audit::Actor {
    crate::domain::audit::Actor {
        name: format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

pub(crate) fn service_error(e: crate::services::Error) -> String {
    e.to_string()
}

pub(crate) fn usd(micros: i64) -> String {
    let exact = crate::domain::money::micros_decimal(micros);
    match exact.strip_prefix('-') {
        Some(abs) => format!("-${abs}"),
        None => format!("${exact}"),
    }
}
