//! `keyward billing generate-invoices|export|push`: a month's invoices and Xero.

use super::{cli_actor, core, service_error};
use crate::api::billing::{GeneratedView, InvoiceView};
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum BillingCommand {
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

/// Invoices as the API answers them (`InvoiceView`).
fn invoices_json(invoices: Vec<crate::domain::invoice::Invoice>) -> String {
    let views: Vec<InvoiceView> = invoices.into_iter().map(InvoiceView::from).collect();
    serde_json::to_string(&views).unwrap_or_default()
}

pub(super) async fn run(settings: Settings, cmd: BillingCommand) -> Result<(), String> {
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
                            let view = GeneratedView::from(g);
                            println!("{}", serde_json::to_string(&view).unwrap_or_default());
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
                    Export::Json(text) => println!("{text}"),
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
                        println!("{}", invoices_json(sent));
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
