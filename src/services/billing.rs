//! Billing: monthly invoices from the cost rollups, their Xero exports, the
//! push to Xero's API (OAuth2 client credentials) and payment reconciliation.

use super::costs::Costs;
use super::events::Events;
use super::{now, Error, Result};
use crate::db::{self, Db};
use crate::domain::analytics::Span;
use crate::domain::audit::Actor;
use crate::domain::events::{Event, EventType};
use crate::domain::invoice::{
    draft_invoice, xero_csv, xero_invoices_json, BillingPeriod, Invoice, InvoiceLine,
    InvoiceStatus, Ledger,
};
use crate::domain::ValidationError;
pub use crate::integrations::xero::XeroClient;
use crate::integrations::xero::XeroUnavailable;
use chrono::NaiveDate;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How invoices are booked and where they are pushed.
pub struct BillingOptions {
    pub ledger: Ledger,
    pub currency: String,
    /// `None` until Xero's client id and secret are configured.
    pub xero: Option<XeroClient>,
}

impl Default for BillingOptions {
    fn default() -> Self {
        Self {
            ledger: Ledger {
                account_code: "200".into(),
                tax_type: "OUTPUT".into(),
            },
            currency: "USD".into(),
            xero: None,
        }
    }
}

/// Xero did not answer, or refused: 503 `XERO_UNAVAILABLE`, nothing marked sent.
fn xero_error(e: XeroUnavailable) -> Error {
    Error::Unavailable {
        code: "XERO_UNAVAILABLE",
        message: e.0,
    }
}

/// How long a push's claim on its drafts holds if the push never finishes
/// (the process died); then another push may take them over.
const PUSH_CLAIM_TTL: chrono::Duration = chrono::Duration::minutes(2);

/// What generating a period did.
#[derive(Debug, Clone)]
pub struct Generated {
    pub period: BillingPeriod,
    /// The period's drafts now stored.
    pub invoices: Vec<Invoice>,
    /// Drafts that existed before and were replaced.
    pub replaced: usize,
    /// Invoices already sent or paid, left untouched.
    pub kept: Vec<String>,
}

/// An export of a period's invoices.
pub enum Export {
    Csv(String),
    /// Xero API JSON text (amounts exact, never floats).
    Json(String),
}

/// A payment to reconcile.
pub struct NewPayment {
    pub payment_id: String,
    pub invoice_number: String,
    pub amount_cents: i64,
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
}

/// What reconciling a payment did.
pub struct Reconciled {
    pub invoice: Invoice,
    /// False when the payment id had been recorded before (nothing changed).
    pub recorded: bool,
}

/// The billing service: invoices, their exports and pushes, payments.
#[derive(Clone)]
pub struct Billing {
    db: Db,
    /// Invoices are drawn from the cost rollups, brought up to date first.
    costs: Costs,
    options: Arc<BillingOptions>,
    events: Events,
}

impl Billing {
    pub fn new(db: Db, costs: Costs, options: BillingOptions, events: Events) -> Self {
        Self {
            db,
            costs,
            options: Arc::new(options),
            events,
        }
    }

    fn billing(&self) -> &BillingOptions {
        &self.options
    }

    /// Generates the period's invoices: one draft per tenant its statement
    /// bills anything (see `domain::statement`). Regenerating replaces the period's drafts in
    /// one transaction (same numbers, no duplicates); invoices already sent
    /// or paid are kept as they are.
    pub async fn generate_invoices(
        &self,
        actor: &Actor,
        period: BillingPeriod,
    ) -> Result<Generated> {
        self.costs.apply_cost_rollups().await?;
        let now = now();
        let opts = self.billing();
        let mut tx = self.db.begin().await?;
        // The write comes first, so SQLite takes its write lock up front.
        let replaced = db::invoices::delete_drafts(&mut tx, period).await?.len();
        let kept = db::invoices::issued_numbers(&mut tx, period).await?;
        let span = Span {
            from: period.first_day(),
            to: period.end(),
        };
        let tree = db::money::billing_tree(&mut tx).await?;
        // Tenants whose charges an issued (sent or paid) invoice of the
        // period already carries, its own or a parent's: never billed twice,
        // whatever `invoices_children` says now.
        let mut billed = std::collections::HashSet::new();
        for status in [InvoiceStatus::Sent, InvoiceStatus::Paid] {
            for inv in db::invoices::list(&mut tx, Some(period), Some(status)).await? {
                for l in &inv.lines {
                    if let Some((child, _)) = l.description.split_once(": ") {
                        billed.insert(child.to_string());
                    }
                }
                billed.insert(inv.tenant_id);
            }
        }
        // Each invoice's lines: the tenant's own, then those of the
        // sub-organisations it invoices, named.
        let mut bills: BTreeMap<String, (Vec<InvoiceLine>, Vec<InvoiceLine>)> = BTreeMap::new();
        for s in self.costs.statements(&mut tx, None, span).await? {
            if billed.contains(&s.tenant_id) {
                continue;
            }
            // A parent whose invoice of the month was already issued takes
            // no more lines: the tenant's charges go on its own invoice.
            let to = match bill_to(&tree, &s.tenant_id) {
                parent if billed.contains(&parent) => s.tenant_id.clone(),
                to => to,
            };
            let bill = bills.entry(to.clone()).or_default();
            if to == s.tenant_id {
                bill.0.extend(s.statement.lines);
            } else {
                bill.1.extend(s.statement.lines.into_iter().map(|mut l| {
                    l.description = format!("{}: {}", s.tenant_id, l.description);
                    l
                }));
            }
        }
        let names = db::tenants::names(&mut tx).await?;
        let mut invoices = Vec::new();
        for (tenant_id, (mut lines, children)) in bills {
            lines.extend(children);
            let name = names.get(&tenant_id).unwrap_or(&tenant_id);
            let Some(inv) = draft_invoice(period, &tenant_id, name, &opts.currency, lines) else {
                continue;
            };
            if kept.contains(&inv.number) {
                continue;
            }
            invoices.push(inv);
        }
        db::invoices::insert_all(&mut tx, self.db.engine(), &invoices, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "invoices.generate",
                "period",
                period.to_string(),
                None,
                json!({"invoices": invoices.len(), "replaced": replaced, "kept": kept.len()}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Generated {
            period,
            invoices,
            replaced,
            kept,
        })
    }

    pub async fn invoices(
        &self,
        period: Option<BillingPeriod>,
        status: Option<InvoiceStatus>,
    ) -> Result<Vec<Invoice>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::invoices::list(&mut conn, period, status).await?)
    }

    pub async fn invoice(&self, number: &str) -> Result<Invoice> {
        let mut conn = self.db.pool().acquire().await?;
        db::invoices::get(&mut conn, number)
            .await?
            .ok_or_else(|| Error::not_found("INVOICE_NOT_FOUND", format!("no invoice {number}")))
    }

    /// A period's invoices in Xero's CSV import layout or as Xero API JSON.
    pub async fn export_invoices(&self, period: BillingPeriod, csv: bool) -> Result<Export> {
        let invoices = self.invoices(Some(period), None).await?;
        let ledger = &self.billing().ledger;
        Ok(if csv {
            Export::Csv(xero_csv(&invoices, ledger))
        } else {
            Export::Json(xero_invoices_json(&invoices, ledger))
        })
    }

    /// Pushes the period's drafts to Xero (as authorised sales invoices) and
    /// marks each one Xero accepted as sent; returns the invoices sent now.
    pub async fn push_invoices(
        &self,
        actor: &Actor,
        period: BillingPeriod,
    ) -> Result<Vec<Invoice>> {
        // Not a server failure: a configuration the operator has not made.
        let Some(xero) = &self.billing().xero else {
            return Err(Error::Conflict {
                code: "XERO_NOT_CONFIGURED",
                message:
                    "set KEYWARD_XERO_CLIENT_ID and KEYWARD_XERO_CLIENT_SECRET to push invoices"
                        .into(),
            });
        };
        let drafts = self
            .invoices(Some(period), Some(InvoiceStatus::Draft))
            .await?;
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        // Claimed before Xero is called: a concurrent push sends none of them.
        let claimed = {
            let numbers: Vec<String> = drafts.iter().map(|i| i.number.clone()).collect();
            let now = now();
            let mut conn = self.db.pool().acquire().await?;
            db::invoices::claim_for_push(&mut conn, &numbers, now, now - PUSH_CLAIM_TTL).await?
        };
        let drafts: Vec<Invoice> = drafts
            .into_iter()
            .filter(|i| claimed.contains(&i.number))
            .collect();
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = match self.send_to_xero(xero, &drafts).await {
            Ok(ids) => ids,
            Err(e) => {
                let mut conn = self.db.pool().acquire().await?;
                db::invoices::release_push_claims(&mut conn, &claimed).await?;
                return Err(e);
            }
        };
        let unsent: Vec<String> = claimed
            .iter()
            .filter(|n| !ids.contains_key(*n))
            .cloned()
            .collect();
        let now = now();
        let mut tx = self.db.begin().await?;
        let mut sent = Vec::new();
        for mut inv in drafts {
            let Some(xero_id) = ids.get(&inv.number) else {
                continue;
            };
            if db::invoices::mark_sent(&mut tx, &inv.number, xero_id, now).await? {
                inv.status = InvoiceStatus::Sent;
                inv.xero_invoice_id = Some(xero_id.clone());
                sent.push(inv);
            }
        }
        db::invoices::release_push_claims(&mut tx, &unsent).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "invoices.push",
                "period",
                period.to_string(),
                None,
                json!({"sent": sent.iter().map(|i| i.number.as_str()).collect::<Vec<_>>()}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(sent)
    }

    /// Sends claimed drafts to Xero without ever creating one twice: first
    /// asks Xero which of their numbers it already has (a push that was
    /// killed, or timed out, after Xero accepted), then creates the rest
    /// with an `Idempotency-Key` derived from their content (a retried
    /// request is answered, not repeated). Xero's id per invoice number.
    async fn send_to_xero(
        &self,
        xero: &XeroClient,
        drafts: &[Invoice],
    ) -> Result<BTreeMap<String, String>> {
        let numbers: Vec<&str> = drafts.iter().map(|i| i.number.as_str()).collect();
        let mut ids = xero.existing_invoices(&numbers).await.map_err(xero_error)?;
        let missing: Vec<&Invoice> = drafts
            .iter()
            .filter(|i| !ids.contains_key(&i.number))
            .collect();
        if missing.is_empty() {
            return Ok(ids);
        }
        let ledger = &self.billing().ledger;
        let sent: Vec<Invoice> = missing
            .iter()
            .map(|i| Invoice {
                status: InvoiceStatus::Sent,
                ..(*i).clone()
            })
            .collect();
        let body = xero_invoices_json(&sent, ledger);
        ids.extend(xero.create_invoices(&body).await.map_err(xero_error)?);
        Ok(ids)
    }

    /// Reconciles a payment to its invoice: paid in full (or more) marks it
    /// paid. Idempotent by payment id; a draft cannot be paid (push it first),
    /// and a payment id reused for another invoice or amount is refused.
    pub async fn record_payment(&self, actor: &Actor, p: NewPayment) -> Result<Reconciled> {
        if p.payment_id.is_empty() || p.payment_id.chars().count() > 200 {
            return Err(ValidationError::new("payment_id", "must be 1 to 200 characters").into());
        }
        let now = now();
        let mut tx = self.db.begin().await?;
        let row = db::invoices::Payment {
            payment_id: p.payment_id.clone(),
            invoice_number: p.invoice_number.clone(),
            amount_cents: p.amount_cents,
            paid_on: p.paid_on,
            reference: p.reference.clone(),
        };
        // The insert first: it takes SQLite's write lock and decides idempotency.
        let recorded = db::invoices::insert_payment(&mut tx, &row, now).await?;
        if !recorded {
            let earlier = db::invoices::payment(&mut tx, &p.payment_id).await?;
            if earlier.is_some_and(|e| {
                e.invoice_number != p.invoice_number || e.amount_cents != p.amount_cents
            }) {
                return Err(Error::conflict(
                    "PAYMENT_ID_REUSED",
                    format!(
                        "payment {} was recorded with another invoice or amount",
                        p.payment_id
                    ),
                ));
            }
            drop(tx);
            return Ok(Reconciled {
                invoice: self.invoice(&p.invoice_number).await?,
                recorded: false,
            });
        }
        let mut inv = db::invoices::get(&mut tx, &p.invoice_number)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "INVOICE_NOT_FOUND",
                    format!("no invoice {}", p.invoice_number),
                )
            })?;
        if inv.status == InvoiceStatus::Draft {
            return Err(Error::conflict(
                "INVOICE_NOT_SENT",
                format!(
                    "invoice {} is a draft; send it before recording payments",
                    inv.number
                ),
            ));
        }
        (inv.paid_cents, inv.status) =
            db::invoices::add_paid(&mut tx, &inv.number, p.amount_cents, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "invoice.payment",
                "invoice",
                &inv.number,
                Some(&inv.tenant_id),
                json!({"payment_id": p.payment_id, "amount_cents": p.amount_cents, "status": inv.status.as_str()}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        if inv.status == InvoiceStatus::Paid {
            self.events.emit(Event::new(
                EventType::InvoicePaid,
                Some(&inv.tenant_id),
                json!({"number": inv.number, "tenant_id": inv.tenant_id, "period": inv.period.to_string(),
                       "paid_cents": inv.paid_cents, "total_cents": inv.total_cents()}),
            ));
        }
        Ok(Reconciled {
            invoice: inv,
            recorded: true,
        })
    }
}

/// Reads `{"period":"YYYY-MM"}` or `{"date":"YYYY-MM-DD"}` (the month containing it).
pub fn billing_period(
    period: Option<&str>,
    date: Option<&str>,
) -> Result<BillingPeriod, ValidationError> {
    match (period, date) {
        (Some(p), None) => BillingPeriod::parse(p),
        (None, Some(d)) => d
            .parse::<NaiveDate>()
            .ok()
            .filter(|d| (2000..=9999).contains(&chrono::Datelike::year(d)))
            .map(BillingPeriod::containing)
            .ok_or_else(|| {
                ValidationError::new(
                    "date",
                    "must be a date as YYYY-MM-DD between the years 2000 and 9999",
                )
            }),
        _ => Err(ValidationError::new(
            "period",
            "give either period (YYYY-MM) or date (YYYY-MM-DD)",
        )),
    }
}

/// Whose invoice a tenant's charges go on: its parent's when the parent
/// invoices its sub-organisations (and so on up), else its own.
fn bill_to(
    tree: &std::collections::HashMap<String, (Option<String>, bool)>,
    tenant: &str,
) -> String {
    let mut at = tenant.to_string();
    // Parents form no cycle (moves are checked); the bound is a guard.
    for _ in 0..64 {
        match tree.get(&at) {
            Some((Some(parent), _)) if tree.get(parent).is_some_and(|p| p.1) => {
                at = parent.clone();
            }
            _ => break,
        }
    }
    at
}
