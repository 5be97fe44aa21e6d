//! `keyward usage|prices|plans|invoices|audit ...`, over the API (see `remote`).

use super::remote::{enc, query, Server};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub(super) struct UsageArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: UsageCommand,
}

#[derive(Debug, Subcommand)]
enum UsageCommand {
    /// A tenant's data-plane usage over time.
    Report {
        tenant: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// hour | day
        #[arg(long)]
        granularity: Option<String>,
    },
    /// A tenant's raw usage records.
    Records {
        tenant: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Send usage events (a JSON array of 1 to 1,000) from a file, or `-` for stdin.
    Send { file: String },
    /// Write buffered usage records now.
    Flush,
    /// Every limit applying to a tenant now, per key reaching its namespaces.
    Limits { tenant: String },
    /// What the cache saved a tenant (default assumptions).
    Savings { tenant: String },
}

/// A JSON array of events from a file, or from stdin for `-`.
fn read_events(file: &str) -> Result<Value, String> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))
}

pub(super) async fn run_usage(args: UsageArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        UsageCommand::Report {
            tenant,
            from,
            to,
            granularity,
        } => {
            let q = query(&[("from", from), ("to", to), ("granularity", granularity)]);
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/usage/{}{q}", enc(&tenant)),
                    None,
                )
                .await?;
            s.show(
                &v,
                "/series",
                &[
                    ("START", "/start"),
                    ("REQUESTS", "/requests"),
                    ("HITS", "/hits"),
                    ("MISSES", "/misses"),
                    ("REJECTED", "/rejected"),
                ],
            );
            if !s.json {
                println!("\ntotal: {}", v["total"]);
            }
        }
        UsageCommand::Records {
            tenant,
            from,
            to,
            limit,
        } => {
            let q = query(&[
                ("from", from),
                ("to", to),
                ("limit", limit.map(|l| l.to_string())),
            ]);
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/usage/{}/records{q}", enc(&tenant)),
                    None,
                )
                .await?;
            s.show(
                &v,
                "/records",
                &[
                    ("AT", "/at"),
                    ("KEY", "/key_id"),
                    ("NAMESPACE", "/namespace"),
                    ("OPERATION", "/operation"),
                    ("STATUS", "/status"),
                    ("LATENCY US", "/latency_us"),
                ],
            );
        }
        UsageCommand::Send { file } => {
            let v = s
                .call(Method::POST, "/api/usage/events", Some(read_events(&file)?))
                .await?;
            s.show(
                &v,
                "",
                &[
                    ("ACCEPTED", "/accepted"),
                    ("DUPLICATES", "/duplicates"),
                    ("COST MICROS", "/cost_micros"),
                ],
            );
        }
        UsageCommand::Limits { tenant } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/ratelimit/{}", enc(&tenant)),
                    None,
                )
                .await?;
            s.show(
                &v,
                "/keys",
                &[
                    ("KEY", "/key_id"),
                    ("POOLED", "/pooled"),
                    ("REQ/S", "/per_second/limit"),
                    ("MONTH USED", "/monthly/used"),
                    ("MONTH LIMIT", "/monthly/limit"),
                    ("IN FLIGHT", "/concurrent/used"),
                    ("CONCURRENT", "/concurrent/limit"),
                ],
            );
        }
        UsageCommand::Savings { tenant } => {
            let v = s
                .call(Method::GET, &format!("/api/savings/{}", enc(&tenant)), None)
                .await?;
            s.show(
                &v,
                "",
                &[
                    ("TENANT", "/tenant_id"),
                    ("REQUESTS", "/usage/requests"),
                    ("HIT RATE", "/usage/hit_rate"),
                    ("AVOIDED MICROS", "/avoided_micros"),
                    ("CACHE COST MICROS", "/cache_cost_micros"),
                    ("NET SAVINGS USD", "/net_savings_usd"),
                ],
            );
        }
        UsageCommand::Flush => {
            let v = s.call(Method::POST, "/api/usage/flush", None).await?;
            s.show(&v, "", &[("FLUSHED", "/flushed")]);
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct PricesArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: PricesCommand,
}

#[derive(Debug, Subcommand)]
enum PricesCommand {
    /// Prices by service, unit and model, with their effective dates.
    List {
        #[arg(long)]
        service: Option<String>,
    },
    /// Set a price from a date on (history is kept).
    Set {
        #[arg(long)]
        service: String,
        /// token_in | token_out | character | second | minute | request
        #[arg(long)]
        unit: String,
        /// Micro-dollars per `per_units` units.
        #[arg(long)]
        price_micros: i64,
        #[arg(long)]
        per_units: Option<i64>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        effective_from: Option<String>,
    },
}

const PRICE_COLUMNS: &[(&str, &str)] = &[
    ("SERVICE", "/service"),
    ("MODEL", "/model"),
    ("UNIT", "/unit"),
    ("PRICE MICROS", "/price_micros"),
    ("PER UNITS", "/per_units"),
    ("FROM", "/effective_from"),
];

pub(super) async fn run_prices(args: PricesArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        PricesCommand::List { service } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/prices{}", query(&[("service", service)])),
                    None,
                )
                .await?;
            s.show(&v, "", PRICE_COLUMNS);
        }
        PricesCommand::Set {
            service,
            unit,
            price_micros,
            per_units,
            model,
            effective_from,
        } => {
            let body = json!({"service": service, "unit": unit, "price_micros": price_micros,
                              "per_units": per_units, "model": model, "effective_from": effective_from});
            let v = s.call(Method::PUT, "/api/prices", Some(body)).await?;
            s.show(&v, "", PRICE_COLUMNS);
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct PlansArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: PlansCommand,
}

#[derive(Debug, Subcommand)]
enum PlansCommand {
    /// Every plan with its limits.
    List,
    /// Set a plan's limits (all four figures; storage optional).
    Set {
        name: String,
        #[arg(long)]
        requests_per_month: i64,
        #[arg(long)]
        requests_per_second: i64,
        #[arg(long)]
        concurrent_requests: i64,
        #[arg(long)]
        max_payload_bytes: i64,
        #[arg(long)]
        max_cached_bytes: Option<i64>,
    },
    /// What a plan charges from a day on: billing mode, subscription, usage rate.
    Pricing {
        name: String,
        /// cost_plus | plan_pricing (default: the mode in force then)
        #[arg(long)]
        billing_mode: Option<String>,
        #[arg(long)]
        monthly_price_micros: i64,
        /// Usage billed at cost x this / 10000 (plan pricing).
        #[arg(long)]
        usage_markup_bps: i64,
        /// YYYY-MM-DD (default today)
        #[arg(long)]
        effective_from: Option<String>,
    },
    /// Every plan's terms and the allocation rates, with their history.
    Terms,
    /// The SG&A and compliance allocation rates from a day on.
    Rates {
        #[arg(long)]
        sga_bps: i64,
        #[arg(long)]
        compliance_bps: i64,
        /// YYYY-MM-DD (default today)
        #[arg(long)]
        effective_from: Option<String>,
    },
}

const TERMS_COLUMNS: &[(&str, &str)] = &[
    ("PLAN", "/plan"),
    ("FROM", "/effective_from"),
    ("MODE", "/billing_mode"),
    ("MONTHLY µ$", "/monthly_price_micros"),
    ("USAGE BPS", "/usage_markup_bps"),
];

const RATES_COLUMNS: &[(&str, &str)] = &[
    ("FROM", "/effective_from"),
    ("SG&A BPS", "/sga_bps"),
    ("COMPLIANCE BPS", "/compliance_bps"),
];

const PLAN_COLUMNS: &[(&str, &str)] = &[
    ("PLAN", "/name"),
    ("REQ/MONTH", "/requests_per_month"),
    ("REQ/S", "/requests_per_second"),
    ("CONCURRENT", "/concurrent_requests"),
    ("MAX PAYLOAD", "/max_payload_bytes"),
    ("MAX CACHED", "/max_cached_bytes"),
];

pub(super) async fn run_plans(args: PlansArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        PlansCommand::List => {
            let v = s.call(Method::GET, "/api/plans", None).await?;
            s.show(&v, "/plans", PLAN_COLUMNS);
        }
        PlansCommand::Set {
            name,
            requests_per_month,
            requests_per_second,
            concurrent_requests,
            max_payload_bytes,
            max_cached_bytes,
        } => {
            let body = json!({"requests_per_month": requests_per_month,
                "requests_per_second": requests_per_second, "concurrent_requests": concurrent_requests,
                "max_payload_bytes": max_payload_bytes, "max_cached_bytes": max_cached_bytes});
            let v = s
                .call(
                    Method::PUT,
                    &format!("/api/plans/{}", enc(&name)),
                    Some(body),
                )
                .await?;
            s.show(&v, "", PLAN_COLUMNS);
        }
        PlansCommand::Pricing {
            name,
            billing_mode,
            monthly_price_micros,
            usage_markup_bps,
            effective_from,
        } => {
            let body = json!({"billing_mode": billing_mode, "monthly_price_micros": monthly_price_micros,
                "usage_markup_bps": usage_markup_bps, "effective_from": effective_from});
            let path = format!("/api/plans/{}/pricing", enc(&name));
            let v = s.call(Method::PUT, &path, Some(body)).await?;
            s.show(&v, "", &TERMS_COLUMNS[1..]);
        }
        PlansCommand::Terms => {
            let v = s.call(Method::GET, "/api/money/terms", None).await?;
            s.show(&v, "/plans", TERMS_COLUMNS);
            if !s.json {
                s.show(&v, "/allocation_rates", RATES_COLUMNS);
            }
        }
        PlansCommand::Rates {
            sga_bps,
            compliance_bps,
            effective_from,
        } => {
            let body = json!({"sga_bps": sga_bps, "compliance_bps": compliance_bps,
                "effective_from": effective_from});
            let v = s
                .call(Method::PUT, "/api/money/allocation-rates", Some(body))
                .await?;
            s.show(&v, "", RATES_COLUMNS);
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct InvoicesArgs {
    #[command(flatten)]
    server: Server,
    #[command(subcommand)]
    cmd: InvoicesCommand,
}

#[derive(Debug, Subcommand)]
enum InvoicesCommand {
    /// Invoices by period (YYYY-MM) and status.
    List {
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        status: Option<String>,
    },
    /// One invoice with its lines.
    Show { number: String },
    /// Generate a month's draft invoices.
    Generate {
        #[arg(long)]
        period: String,
    },
    /// Push a month's drafts to Xero.
    Push {
        #[arg(long)]
        period: String,
    },
    /// Record a payment against an invoice.
    Pay {
        number: String,
        /// A decimal amount, e.g. 12.34
        #[arg(long)]
        amount: String,
        /// YYYY-MM-DD
        #[arg(long)]
        date: String,
        /// Your id for the payment (a repeat with the same id is not counted twice).
        #[arg(long)]
        payment_id: String,
        #[arg(long)]
        reference: Option<String>,
    },
}

const INVOICE_COLUMNS: &[(&str, &str)] = &[
    ("NUMBER", "/number"),
    ("TENANT", "/tenant_id"),
    ("PERIOD", "/period"),
    ("STATUS", "/status"),
    ("TOTAL", "/total"),
    ("DUE CENTS", "/due_cents"),
    ("CURRENCY", "/currency"),
];

pub(super) async fn run_invoices(args: InvoicesArgs) -> Result<(), String> {
    let s = &args.server;
    match args.cmd {
        InvoicesCommand::List { period, status } => {
            let q = query(&[("period", period), ("status", status)]);
            let v = s
                .call(Method::GET, &format!("/api/invoices{q}"), None)
                .await?;
            s.show(&v, "", INVOICE_COLUMNS);
        }
        InvoicesCommand::Show { number } => {
            let v = s
                .call(
                    Method::GET,
                    &format!("/api/invoices/{}", enc(&number)),
                    None,
                )
                .await?;
            s.show(&v, "", INVOICE_COLUMNS);
        }
        InvoicesCommand::Generate { period } => {
            let v = s
                .call(
                    Method::POST,
                    "/api/xero/generate-invoices",
                    Some(json!({"period": period})),
                )
                .await?;
            s.show(&v, "/invoices", INVOICE_COLUMNS);
        }
        InvoicesCommand::Push { period } => {
            let v = s
                .call(
                    Method::POST,
                    "/api/xero/push",
                    Some(json!({"period": period})),
                )
                .await?;
            println!("{}", serde_json::to_string(&v).unwrap_or_default());
        }
        InvoicesCommand::Pay {
            number,
            amount,
            date,
            payment_id,
            reference,
        } => {
            let body = json!({"payment_id": payment_id, "invoice_number": number,
                              "amount": amount, "date": date, "reference": reference});
            let v = s
                .call(Method::POST, "/api/xero/payments", Some(body))
                .await?;
            println!("{}", serde_json::to_string(&v).unwrap_or_default());
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    #[command(flatten)]
    server: Server,
    #[arg(long)]
    tenant: Option<String>,
    /// e.g. token:tok_..., admin:ops@example.com, root
    #[arg(long)]
    actor: Option<String>,
    /// e.g. key.rotate, tenant.erase, access.refused
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    target: Option<String>,
    /// RFC 3339
    #[arg(long)]
    from: Option<String>,
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    limit: Option<i64>,
}

/// `keyward audit`: the audit trail, newest first.
pub(super) async fn run_audit(a: AuditArgs) -> Result<(), String> {
    let q = query(&[
        ("tenant_id", a.tenant),
        ("actor", a.actor),
        ("action", a.action),
        ("target", a.target),
        ("from", a.from),
        ("to", a.to),
        ("limit", a.limit.map(|l| l.to_string())),
    ]);
    let v = a
        .server
        .call(Method::GET, &format!("/api/audit{q}"), None)
        .await?;
    a.server.show(
        &v,
        "/entries",
        &[
            ("AT", "/at"),
            ("ACTOR", "/actor"),
            ("ACTION", "/action"),
            ("TARGET", "/target"),
            ("TENANT", "/tenant_id"),
            ("OUTCOME", "/outcome"),
        ],
    );
    Ok(())
}
