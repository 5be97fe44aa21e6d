//! `keyward jobs|webhooks|budgets ...`, over the API (see `remote`).

use super::remote::{enc, query, Server};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub(super) struct JobsArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// Every job: schedule, next occurrence, latest run.
    List,
    /// Create or change a job (a new one needs --task and --schedule).
    Set {
        name: String,
        /// generate_invoices, push_invoices, validate_provider_keys, rotate_keys,
        /// key_expiry, retention, check_anomalies, check_budgets
        #[arg(long)]
        task: Option<String>,
        /// A cron expression, UTC, e.g. "0 2 * * *" or "0 3 * * MON".
        #[arg(long)]
        schedule: Option<String>,
        /// The task's options as JSON, e.g. '{"period":"previous_month"}'.
        #[arg(long)]
        params: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    /// Delete a job (its runs stay in the history).
    Delete { name: String },
    /// Run a job now and wait for its outcome.
    Run { name: String },
    /// A job's runs, newest first.
    Runs {
        name: String,
        #[arg(long)]
        limit: Option<i64>,
    },
}

const RUN_COLUMNS: [(&str, &str); 6] = [
    ("STARTED", "/started_at"),
    ("OCCURRENCE", "/occurrence"),
    ("ATTEMPT", "/attempt"),
    ("TRIGGER", "/trigger"),
    ("OUTCOME", "/outcome"),
    ("SUMMARY", "/summary"),
];

pub(super) async fn run_jobs(args: JobsArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        JobsCommand::List => {
            let v = s.call(Method::GET, "/api/jobs", None).await?;
            s.show(
                &v,
                "/jobs",
                &[
                    ("NAME", "/name"),
                    ("TASK", "/task"),
                    ("SCHEDULE", "/schedule"),
                    ("ENABLED", "/enabled"),
                    ("NEXT RUN", "/next_run_at"),
                    ("LAST OUTCOME", "/last_run/outcome"),
                ],
            );
        }
        JobsCommand::Set {
            name,
            task,
            schedule,
            params,
            enable,
            disable,
        } => {
            let mut body = json!({});
            if let Some(t) = task {
                body["task"] = json!(t);
            }
            if let Some(sch) = schedule {
                body["schedule"] = json!(sch);
            }
            if let Some(p) = params {
                body["params"] = serde_json::from_str::<Value>(&p)
                    .map_err(|e| format!("--params: not JSON: {e}"))?;
            }
            if enable || disable {
                body["enabled"] = json!(enable);
            }
            let v = s
                .call(
                    Method::PUT,
                    &format!("/api/jobs/{}", enc(&name)),
                    Some(body),
                )
                .await?;
            s.show(
                &v,
                "",
                &[
                    ("NAME", "/name"),
                    ("TASK", "/task"),
                    ("SCHEDULE", "/schedule"),
                    ("DESCRIBES", "/describes"),
                    ("ENABLED", "/enabled"),
                    ("NEXT RUN", "/next_run_at"),
                ],
            );
        }
        JobsCommand::Delete { name } => {
            s.call(Method::DELETE, &format!("/api/jobs/{}", enc(&name)), None)
                .await?;
            if !s.json {
                println!("deleted job {name}");
            }
        }
        JobsCommand::Run { name } => {
            let v = s
                .call(Method::POST, &format!("/api/jobs/{}/run", enc(&name)), None)
                .await?;
            s.show(&v, "", &RUN_COLUMNS);
            if v["outcome"] == "failed" {
                return Err(format!("job {name} failed: {}", v["summary"]["error"]));
            }
        }
        JobsCommand::Runs { name, limit } => {
            let q = query(&[("limit", limit.map(|l| l.to_string()))]);
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/jobs/{}/runs{q}", enc(&name)),
                    None,
                )
                .await?;
            s.show(&v, "/runs", &RUN_COLUMNS);
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct WebhooksArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// Registered endpoints.
    List,
    /// Register an endpoint; prints its signing secret once.
    Add {
        url: String,
        /// Event types (repeat), or "*" for all.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        /// Only this tenant's events.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Remove an endpoint.
    Remove { id: String },
    /// Send a webhook.test event to an endpoint.
    Test { id: String },
    /// The delivery log, newest first.
    Deliveries {
        #[arg(long)]
        endpoint: Option<String>,
        /// pending, delivered or failed
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Send a delivery again.
    Replay { id: String },
}

const DELIVERY_COLUMNS: [(&str, &str); 7] = [
    ("ID", "/id"),
    ("EVENT", "/event_type"),
    ("TENANT", "/tenant_id"),
    ("STATUS", "/status"),
    ("ATTEMPTS", "/attempts"),
    ("LAST CODE", "/last_status_code"),
    ("CREATED", "/created_at"),
];

pub(super) async fn run_webhooks(args: WebhooksArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        WebhooksCommand::List => {
            let v = s.call(Method::GET, "/api/webhooks", None).await?;
            s.show(
                &v,
                "/endpoints",
                &[
                    ("ID", "/id"),
                    ("URL", "/url"),
                    ("TENANT", "/tenant_id"),
                    ("EVENTS", "/events"),
                ],
            );
        }
        WebhooksCommand::Add {
            url,
            events,
            tenant,
            description,
        } => {
            let v = s
                .call(
                    Method::POST,
                    "/api/webhooks",
                    Some(json!({"url": url, "events": events, "tenant_id": tenant,
                                "description": description})),
                )
                .await?;
            if s.json {
                println!("{v}");
            } else {
                println!(
                    "endpoint {} registered for {}",
                    v["id"].as_str().unwrap_or("?"),
                    url
                );
                println!(
                    "signing secret (shown once; verify deliveries and open sealed secrets with it):\n\n    {}\n",
                    v["secret"].as_str().unwrap_or("?")
                );
            }
        }
        WebhooksCommand::Remove { id } => {
            s.call(Method::DELETE, &format!("/api/webhooks/{}", enc(&id)), None)
                .await?;
            if !s.json {
                println!("removed endpoint {id}");
            }
        }
        WebhooksCommand::Test { id } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("/api/webhooks/{}/test", enc(&id)),
                    None,
                )
                .await?;
            s.show(&v, "", &DELIVERY_COLUMNS);
        }
        WebhooksCommand::Deliveries {
            endpoint,
            status,
            limit,
        } => {
            let q = query(&[
                ("endpoint_id", endpoint),
                ("status", status),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let v = s
                .call(Method::GET, &format!("/api/webhooks/deliveries{q}"), None)
                .await?;
            s.show(&v, "/deliveries", &DELIVERY_COLUMNS);
        }
        WebhooksCommand::Replay { id } => {
            let v = s
                .call(
                    Method::POST,
                    &format!("/api/webhooks/deliveries/{}/replay", enc(&id)),
                    None,
                )
                .await?;
            s.show(&v, "", &DELIVERY_COLUMNS);
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct BudgetsArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: BudgetsCommand,
}

#[derive(Debug, Subcommand)]
enum BudgetsCommand {
    /// Every budget with the month's spend.
    List,
    /// A tenant's budget and spend.
    Show { tenant: String },
    /// Set a tenant's monthly budget.
    Set {
        tenant: String,
        /// The month's limit, e.g. 500.00
        #[arg(long)]
        limit: String,
        /// Alert percentages, e.g. --alert 50 --alert 80 (default 50, 80, 100).
        #[arg(long = "alert")]
        alerts: Vec<u32>,
        /// Refuse the tenant's requests once the limit is reached.
        #[arg(long)]
        hard_cap: bool,
    },
    /// Remove a tenant's budget (lifts its cap).
    Remove { tenant: String },
}

const BUDGET_COLUMNS: [(&str, &str); 7] = [
    ("TENANT", "/tenant_id"),
    ("PERIOD", "/period"),
    ("LIMIT", "/limit"),
    ("SPENT", "/spent"),
    ("%", "/percent"),
    ("HARD CAP", "/hard_cap"),
    ("CAPPED", "/capped"),
];

pub(super) async fn run_budgets(args: BudgetsArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        BudgetsCommand::List => {
            let v = s.call(Method::GET, "/api/budgets", None).await?;
            s.show(&v, "/budgets", &BUDGET_COLUMNS);
        }
        BudgetsCommand::Show { tenant } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/tenants/{}/budget", enc(&tenant)),
                    None,
                )
                .await?;
            s.show(&v, "", &BUDGET_COLUMNS);
        }
        BudgetsCommand::Set {
            tenant,
            limit,
            alerts,
            hard_cap,
        } => {
            let mut body = json!({"limit": limit, "hard_cap": hard_cap});
            if !alerts.is_empty() {
                body["alert_percents"] = json!(alerts);
            }
            let v = s
                .call(
                    Method::PUT,
                    &format!("/api/tenants/{}/budget", enc(&tenant)),
                    Some(body),
                )
                .await?;
            s.show(&v, "", &BUDGET_COLUMNS);
        }
        BudgetsCommand::Remove { tenant } => {
            s.call(
                Method::DELETE,
                &format!("/api/tenants/{}/budget", enc(&tenant)),
                None,
            )
            .await?;
            if !s.json {
                println!("removed the budget of {tenant}");
            }
        }
    }
    Ok(())
}
