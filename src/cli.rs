//! The command line: `keyward [serve]`, `keyward migrate`, and the vault:
//! `keyward keys get|provision|rotate <service> <tenant>`,
//! `keyward vault rotate-master|retire-master`, `keyward costs analyze`,
//! `keyward optimize analyze`, `keyward billing generate-invoices|export|push`,
//! `keyward admin add-user`, `keyward migrate-store --from sqlite://... --to
//! postgres://...`. Vault commands run over the
//! same core as the server (same database, data directory and keyring), print
//! human tables, or JSON with `--json`.

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
    /// Tenants' AI provider keys in the vault.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The vault's master keys.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Cost analytics.
    #[command(subcommand)]
    Costs(CostsCommand),
    /// The weekly optimisation analysis.
    #[command(subcommand)]
    Optimize(OptimizeCommand),
    /// Invoices: generate a month's, export them for Xero, push them to Xero.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Dashboard admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
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

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Add an admin account. The password is read from stdin (piped), or
    /// prompted for without echo on a terminal; at least 12 characters.
    AddUser {
        email: String,
        /// admin (changes things) or viewer (sees everything, changes nothing).
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
enum BillingCommand {
    /// Generate (or regenerate) the draft invoices of a month.
    GenerateInvoices {
        /// Any day of the month to invoice, YYYY-MM-DD.
        #[arg(long, conflicts_with = "period", required_unless_present = "period")]
        date: Option<String>,
        /// The month, YYYY-MM.
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a month's invoices for Xero: csv (the sales-invoice import layout) or json (API Invoices).
    Export {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Push a month's drafts to Xero and mark them sent.
    Push {
        #[arg(long)]
        period: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CostsCommand {
    /// A tenant's True Production Cost over a period.
    Analyze {
        #[arg(long)]
        tenant: String,
        /// daily | weekly | monthly
        #[arg(long, default_value = "monthly")]
        period: String,
        /// First day, YYYY-MM-DD (default: the start of the current period).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum OptimizeCommand {
    /// Under-used services, savings and the innovation-trial cohort of a week.
    Analyze {
        /// Any day of the week (default: last week).
        #[arg(long)]
        week: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Print the key a tenant gets for a service (customer, else managed, else pooled).
    Get {
        service: String,
        tenant: String,
        /// The tier whose pooled key is the last resort (default: the tenant's plan).
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Mint a managed key for the tenant at the provider.
    Provision {
        service: String,
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace the tenant's managed key with a freshly provisioned one.
    Rotate {
        service: String,
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Add a master key version and re-seal every secret under it (the server may keep running).
    /// Refused when the keyring comes from KEYWARD_MASTER_KEYS, and on PostgreSQL unless
    /// --only-replica (a version written here would be missing on other replicas).
    RotateMaster {
        #[arg(long)]
        json: bool,
        /// No other replica uses this database.
        #[arg(long)]
        only_replica: bool,
    },
    /// Re-seal every secret under the active master key version
    /// (after KEYWARD_MASTER_KEY_ACTIVE moved on every replica).
    Reseal {
        #[arg(long)]
        json: bool,
    },
    /// Remove an old master key version once nothing is sealed under it.
    RetireMaster {
        version: i64,
        #[arg(long)]
        json: bool,
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
        Command::Keys(cmd) => keys(settings, cmd).await,
        Command::Vault(cmd) => vault(settings, cmd).await,
        Command::Costs(cmd) => costs(settings, cmd).await,
        Command::Optimize(cmd) => optimize(settings, cmd).await,
        Command::Billing(cmd) => billing(settings, cmd).await,
        Command::Admin(cmd) => admin(settings, cmd).await,
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

async fn core(settings: &Settings) -> Result<crate::services::Keyward, String> {
    let db = startup::open_store(settings)
        .await
        .map_err(|e| e.to_string())?;
    startup::open_core(settings, db)
        .await
        .map_err(|e| e.to_string())
}

fn cli_actor() -> crate::domain::audit::Actor {
    crate::domain::audit::Actor {
        name: format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".into())
        ),
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

fn service_error(e: crate::services::Error) -> String {
    e.to_string()
}

fn print_meta(meta: &crate::domain::secret::SecretMeta, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "name": meta.name, "service": meta.secret.service.as_str(),
                "kind": meta.secret.kind.as_str(), "version": meta.version,
                "key_version": meta.key_version, "updated_at": meta.updated_at,
            })
        );
    } else {
        println!(
            "{:<40} {:<10} {:<8} {:>7}",
            "NAME", "SERVICE", "KIND", "VERSION"
        );
        println!(
            "{:<40} {:<10} {:<8} {:>7}",
            meta.name,
            meta.secret.service.as_str(),
            meta.secret.kind.as_str(),
            meta.version
        );
    }
}

async fn keys(settings: Settings, cmd: KeysCommand) -> Result<(), String> {
    use crate::domain::ids::TenantId;
    use crate::domain::secret::Service;
    let core = core(&settings).await?;
    let actor = cli_actor();
    let parse = |service: &str, tenant: &str| -> Result<(Service, TenantId), String> {
        Ok((
            Service::parse(service).map_err(|e| e.to_string())?,
            TenantId::parse(tenant).map_err(|e| e.to_string())?,
        ))
    };
    let result = match cmd {
        KeysCommand::Get {
            service,
            tenant,
            tier,
            json,
        } => {
            let (service, tenant) = parse(&service, &tenant)?;
            let tier = tier
                .map(|t| crate::domain::plan::Plan::parse_field("tier", &t))
                .transpose()
                .map_err(|e| e.to_string())?;
            let r = core
                .vault
                .resolve_secret(
                    &crate::services::vault::Caller::Root,
                    &actor,
                    service,
                    &tenant,
                    tier,
                    None,
                )
                .await
                .map_err(service_error)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"service": service.as_str(), "tenant_id": tenant.as_str(),
                        "key": r.value.as_str(), "source": r.source.as_str(), "name": r.name, "version": r.version})
                );
            } else {
                println!("{:<40} {:<8} {:>7}  KEY", "NAME", "SOURCE", "VERSION");
                println!(
                    "{:<40} {:<8} {:>7}  {}",
                    r.name,
                    r.source.as_str(),
                    r.version,
                    r.value.as_str()
                );
            }
            Ok(())
        }
        KeysCommand::Provision {
            service,
            tenant,
            json,
        }
        | KeysCommand::Rotate {
            service,
            tenant,
            json,
        } => {
            let (service, tenant) = parse(&service, &tenant)?;
            let meta = core
                .vault
                .provision_managed(&actor, service, &tenant, Some("cli"))
                .await
                .map_err(service_error)?;
            print_meta(&meta, json);
            Ok(())
        }
    };
    core.shutdown().await;
    result
}

async fn vault(settings: Settings, cmd: VaultCommand) -> Result<(), String> {
    let core = core(&settings).await?;
    let actor = cli_actor();
    let result = match cmd {
        VaultCommand::Reseal { json } => core
            .vault
            .reseal(&actor)
            .await
            .map(|(version, moved)| {
                if json {
                    println!("{}", serde_json::json!({"version": version, "resealed": moved}));
                } else {
                    println!("{moved} secrets re-sealed under master key version {version}");
                }
            })
            .map_err(service_error),
        VaultCommand::RotateMaster { json, only_replica } => core
            .vault
            .rotate_master(&actor, only_replica)
            .await
            .map(|(version, moved)| {
                if json {
                    println!("{}", serde_json::json!({"version": version, "resealed": moved}));
                } else {
                    println!("master key version {version} is current; {moved} secrets re-sealed under it");
                }
            })
            .map_err(service_error),
        VaultCommand::RetireMaster { version, json } => core
            .vault
            .retire_master(&actor, version)
            .await
            .map(|()| {
                if json {
                    println!("{}", serde_json::json!({"retired": version}));
                } else {
                    println!("master key version {version} retired");
                }
            })
            .map_err(service_error),
    };
    core.shutdown().await;
    result
}

fn usd(micros: i64) -> String {
    let exact = crate::domain::money::micros_decimal(micros);
    match exact.strip_prefix('-') {
        Some(abs) => format!("-${abs}"),
        None => format!("${exact}"),
    }
}

async fn costs(settings: Settings, cmd: CostsCommand) -> Result<(), String> {
    let CostsCommand::Analyze {
        tenant,
        period,
        from,
        json,
    } = cmd;
    let tenant = crate::domain::ids::TenantId::parse(tenant).map_err(|e| e.to_string())?;
    let (period, span) =
        crate::services::costs::parse_span(Some(&period), from, None).map_err(service_error)?;
    let core = core(&settings).await?;
    let result = core.costs.tpc(&tenant, span).await.map_err(service_error);
    core.shutdown().await;
    let (plan, t) = result?;
    if json {
        let view = crate::api::costs::view(&tenant, period.as_str(), plan, t);
        println!(
            "{}",
            serde_json::to_string(&view).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "tenant {} ({}), {} {} .. {}: {} events, cost {}",
        tenant,
        plan,
        period.as_str(),
        span.from,
        span.to,
        t.events,
        usd(t.total_cost_micros)
    );
    println!(
        "{:<12} {:>16} {:>8} {:>10}",
        "SERVICE", "COST", "SHARE", "TREND"
    );
    for s in &t.services {
        println!(
            "{:<12} {:>16} {:>7.2}% {:>10}",
            s.service,
            usd(s.cost_micros),
            s.share_bps as f64 / 100.0,
            s.trend_bps
                .map(|b| format!("{:+.2}%", b as f64 / 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "users {}: mean {}, median {}, p95 {}, p99 {}, sd {}",
        t.users.len(),
        usd(t.mean_user_cost_micros),
        usd(t.median_user_cost_micros),
        usd(t.p95_user_cost_micros),
        usd(t.p99_user_cost_micros),
        usd(t.std_dev_user_cost_micros)
    );
    println!(
        "revenue {}, profit {}, margin {}",
        usd(t.revenue_micros),
        usd(t.profit_micros),
        t.margin_bps
            .map(|b| format!("{:.2}%", b as f64 / 100.0))
            .unwrap_or_else(|| "-".into())
    );
    Ok(())
}

async fn optimize(settings: Settings, cmd: OptimizeCommand) -> Result<(), String> {
    let OptimizeCommand::Analyze { week, json } = cmd;
    let day =
        week.unwrap_or_else(|| crate::services::now().date_naive() - chrono::Duration::days(7));
    let thresholds = crate::domain::analytics::Thresholds::default();
    let core = core(&settings).await?;
    let result = core
        .costs
        .optimize(day, thresholds)
        .await
        .map_err(service_error);
    core.shutdown().await;
    let (span, o) = result?;
    if json {
        let view = crate::api::costs::optimize_view(span, thresholds, o);
        println!(
            "{}",
            serde_json::to_string(&view).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "week {} .. {}: {} active users",
        span.from, span.to, o.active_users
    );
    println!(
        "{:<12} {:>6} {:>8} {:>16} {:>10}",
        "SERVICE", "USERS", "SHARE", "COST", "UNDER-USED"
    );
    for s in &o.services {
        println!(
            "{:<12} {:>6} {:>7.2}% {:>16} {:>10}",
            s.service,
            s.users,
            s.user_share_bps as f64 / 100.0,
            usd(s.cost_micros),
            if s.under_used { "yes" } else { "no" }
        );
    }
    println!(
        "saving {} a week; trial cohort {} users; projected ROI {}",
        usd(o.weekly_saving_micros),
        o.cohort.len(),
        o.projected_roi_bps
            .map(|b| format!("{:.2}%", b as f64 / 100.0))
            .unwrap_or_else(|| "-".into())
    );
    Ok(())
}

fn invoice_table(invoices: &[crate::domain::invoice::Invoice]) {
    use crate::domain::invoice::cents_to_decimal;
    println!(
        "{:<28} {:<20} {:<7} {:>6} {:>14} {:<5}",
        "NUMBER", "TENANT", "STATUS", "LINES", "TOTAL", "CUR"
    );
    for i in invoices {
        println!(
            "{:<28} {:<20} {:<7} {:>6} {:>14} {:<5}",
            i.number,
            i.tenant_id,
            i.status.as_str(),
            i.lines.len(),
            cents_to_decimal(i.total_cents()),
            i.currency
        );
    }
}

fn invoices_json(invoices: &[crate::domain::invoice::Invoice]) -> serde_json::Value {
    invoices
        .iter()
        .map(|i| {
            serde_json::json!({
                "number": i.number, "tenant_id": i.tenant_id, "period": i.period.to_string(),
                "status": i.status.as_str(), "total_cents": i.total_cents(),
                "lines": i.lines.iter().map(|l| serde_json::json!({
                    "item_code": l.item_code, "description": l.description,
                    "quantity": l.quantity, "unit_amount_cents": l.unit_amount_cents,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

async fn billing(settings: Settings, cmd: BillingCommand) -> Result<(), String> {
    use crate::domain::invoice::BillingPeriod;
    use crate::services::billing::{billing_period, Export};
    let parse = |p: &str| BillingPeriod::parse(p).map_err(|e| e.to_string());
    let core = core(&settings).await?;
    let result = match cmd {
        BillingCommand::GenerateInvoices { date, period, json } => {
            match billing_period(period.as_deref(), date.as_deref()) {
                Err(e) => Err(e.to_string()),
                Ok(p) => core
                    .billing
                    .generate_invoices(&cli_actor(), p)
                    .await
                    .map_err(service_error)
                    .map(|g| {
                        if json {
                            println!(
                                "{}",
                                serde_json::json!({"period": g.period.to_string(), "invoices": invoices_json(&g.invoices),
                                    "replaced": g.replaced, "kept": g.kept})
                            );
                        } else {
                            println!(
                                "period {}: {} draft invoices ({} replaced, {} already sent or paid kept)",
                                g.period,
                                g.invoices.len(),
                                g.replaced,
                                g.kept.len()
                            );
                            invoice_table(&g.invoices);
                        }
                    }),
            }
        }
        BillingCommand::Export { period, format } => match (parse(&period), format.as_str()) {
            (Err(e), _) => Err(e),
            (Ok(p), "csv" | "json") => core
                .billing
                .export_invoices(p, format == "csv")
                .await
                .map_err(service_error)
                .map(|export| match export {
                    Export::Csv(text) => print!("{text}"),
                    Export::Json(value) => println!("{value:#}"),
                }),
            (Ok(_), other) => Err(format!("--format must be csv or json, not {other:?}")),
        },
        BillingCommand::Push { period, json } => match parse(&period) {
            Err(e) => Err(e),
            Ok(p) => core
                .billing
                .push_invoices(&cli_actor(), p)
                .await
                .map_err(service_error)
                .map(|sent| {
                    if json {
                        println!("{}", invoices_json(&sent));
                    } else {
                        println!("period {p}: {} invoices sent to Xero", sent.len());
                        invoice_table(&sent);
                    }
                }),
        },
    };
    core.shutdown().await;
    result
}

/// The password for a new admin: prompted without echo on a terminal,
/// otherwise the first line of stdin.
fn read_password() -> Result<String, String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")
            .map_err(|e| format!("reading the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("reading the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn admin(settings: Settings, cmd: AdminCommand) -> Result<(), String> {
    let AdminCommand::AddUser { email, role } = cmd;
    let role = crate::domain::admin::AdminRole::parse(&role).map_err(|e| e.to_string())?;
    let password = read_password()?;
    let core = core(&settings).await?;
    let result = core
        .admins
        .add_admin(&cli_actor(), &email, role, password)
        .await
        .map_err(service_error);
    core.shutdown().await;
    let email = result?;
    println!(
        "keyward: admin {email} added ({}); sign in at /admin/sign-in",
        role.as_str()
    );
    Ok(())
}
