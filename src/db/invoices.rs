//! Invoices, their lines and the payments reconciled against them.

use super::{corrupt, get_parsed, ts, Conn, Engine};
use crate::domain::invoice::{BillingPeriod, Invoice, InvoiceLine, InvoiceStatus};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Removes a period's drafts (and their lines); returns their numbers.
pub async fn delete_drafts(conn: &mut Conn, period: BillingPeriod) -> sqlx::Result<Vec<String>> {
    let period = period.to_string();
    sqlx::query(
        "DELETE FROM invoice_lines WHERE invoice_number IN \
         (SELECT number FROM invoices WHERE period = $1 AND status = 'draft' \
          AND push_claimed_at IS NULL)",
    )
    .bind(&period)
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query(
        "DELETE FROM invoices WHERE period = $1 AND status = 'draft' \
                     AND push_claimed_at IS NULL RETURNING number",
    )
    .bind(&period)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.try_get("number")).collect()
}

/// Numbers of a period's invoices that are no longer drafts.
pub async fn issued_numbers(conn: &mut Conn, period: BillingPeriod) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT number FROM invoices WHERE period = $1 \
         AND (status <> 'draft' OR push_claimed_at IS NOT NULL) ORDER BY number",
    )
    .bind(period.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.try_get("number")).collect()
}

/// Invoices a statement (12 values each) and lines a statement (6 each):
/// well under either engine's limit on bound values.
const INVOICES_PER_STATEMENT: usize = 200;
const LINES_PER_STATEMENT: usize = 400;

/// Inserts drafts with their lines, many rows a statement (a month's
/// invoices for every tenant at once).
pub async fn insert_all(
    conn: &mut Conn,
    engine: Engine,
    invoices: &[Invoice],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let now = ts(now);
    for part in invoices.chunks(INVOICES_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO invoices (number, tenant_id, period, contact_name, invoice_date, due_date, \
             currency, status, total_cents, paid_cents, xero_invoice_id, generated_at) {}",
            super::values(engine, part.len(), 12)
        );
        let q = part.iter().fold(sqlx::query(&sql), |q, inv| {
            q.bind(&inv.number)
                .bind(&inv.tenant_id)
                .bind(inv.period.to_string())
                .bind(&inv.contact_name)
                .bind(inv.date.to_string())
                .bind(inv.due_date.to_string())
                .bind(&inv.currency)
                .bind(inv.status.as_str())
                .bind(inv.total_cents())
                .bind(inv.paid_cents)
                .bind(inv.xero_invoice_id.clone())
                .bind(&now)
        });
        q.execute(&mut *conn).await?;
    }
    let lines: Vec<(&str, i64, &InvoiceLine)> = invoices
        .iter()
        .flat_map(|inv| {
            inv.lines
                .iter()
                .enumerate()
                .map(|(i, l)| (inv.number.as_str(), i as i64 + 1, l))
        })
        .collect();
    for part in lines.chunks(LINES_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO invoice_lines (invoice_number, line_no, item_code, description, quantity, \
             unit_amount_cents) {}",
            super::values(engine, part.len(), 6)
        );
        let q = part
            .iter()
            .fold(sqlx::query(&sql), |q, (number, no, line)| {
                q.bind(*number)
                    .bind(*no)
                    .bind(&line.item_code)
                    .bind(&line.description)
                    .bind(line.quantity)
                    .bind(line.unit_amount_cents)
            });
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

const COLUMNS: &str = "number, tenant_id, period, contact_name, invoice_date, due_date, currency, \
                       status, paid_cents, xero_invoice_id";

fn date(row: &AnyRow, column: &str) -> sqlx::Result<NaiveDate> {
    get_parsed(row, column, |s| s.parse::<NaiveDate>())
}

fn invoice(row: &AnyRow) -> sqlx::Result<Invoice> {
    Ok(Invoice {
        number: row.try_get("number")?,
        tenant_id: row.try_get("tenant_id")?,
        contact_name: row.try_get("contact_name")?,
        period: get_parsed(row, "period", |s| BillingPeriod::parse(&s))?,
        date: date(row, "invoice_date")?,
        due_date: date(row, "due_date")?,
        currency: row.try_get("currency")?,
        status: get_parsed(row, "status", |s| InvoiceStatus::parse(&s))?,
        lines: Vec::new(),
        paid_cents: row.try_get("paid_cents")?,
        xero_invoice_id: row.try_get("xero_invoice_id")?,
    })
}

async fn with_lines(conn: &mut Conn, mut invoices: Vec<Invoice>) -> sqlx::Result<Vec<Invoice>> {
    for inv in &mut invoices {
        let rows = sqlx::query(
            "SELECT item_code, description, quantity, unit_amount_cents FROM invoice_lines \
             WHERE invoice_number = $1 ORDER BY line_no",
        )
        .bind(&inv.number)
        .fetch_all(&mut *conn)
        .await?;
        inv.lines = rows
            .iter()
            .map(|r| {
                Ok(InvoiceLine {
                    item_code: r.try_get("item_code")?,
                    description: r.try_get("description")?,
                    quantity: r.try_get("quantity")?,
                    unit_amount_cents: r.try_get("unit_amount_cents")?,
                })
            })
            .collect::<sqlx::Result<_>>()?;
    }
    Ok(invoices)
}

/// Invoices of a period (or all), optionally of one status, by number.
pub async fn list(
    conn: &mut Conn,
    period: Option<BillingPeriod>,
    status: Option<InvoiceStatus>,
) -> sqlx::Result<Vec<Invoice>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE ($1 = '' OR period = $1) AND ($2 = '' OR status = $2) \
         ORDER BY period, number"
    ))
    .bind(period.map(|p| p.to_string()).unwrap_or_default())
    .bind(status.map(|s| s.as_str()).unwrap_or_default())
    .fetch_all(&mut *conn)
    .await?;
    let invoices = rows.iter().map(invoice).collect::<sqlx::Result<Vec<_>>>()?;
    with_lines(conn, invoices).await
}

pub async fn get(conn: &mut Conn, number: &str) -> sqlx::Result<Option<Invoice>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM invoices WHERE number = $1"))
        .bind(number)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(with_lines(conn, vec![invoice(&r)?]).await?.pop()),
    }
}

/// Marks a draft sent (pushed to Xero under `xero_id`); false if it was not a draft.
pub async fn mark_sent(
    conn: &mut Conn,
    number: &str,
    xero_id: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE invoices SET status = 'sent', xero_invoice_id = $1, sent_at = $2, \
         push_claimed_at = NULL WHERE number = $3 AND status = 'draft'",
    )
    .bind(xero_id)
    .bind(ts(now))
    .bind(number)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Claims drafts for one push to Xero: of `numbers`, those still drafts and
/// not claimed by a push still running (a claim from before `stale_before`
/// was left by a push that died). Returns the numbers claimed.
pub async fn claim_for_push(
    conn: &mut Conn,
    numbers: &[String],
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    let mut claimed = Vec::new();
    for number in numbers {
        let done = sqlx::query(
            "UPDATE invoices SET push_claimed_at = $1 WHERE number = $2 AND status = 'draft' \
             AND (push_claimed_at IS NULL OR push_claimed_at < $3)",
        )
        .bind(ts(now))
        .bind(number)
        .bind(ts(stale_before))
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            claimed.push(number.clone());
        }
    }
    Ok(claimed)
}

/// Gives back the claims of a push that did not send these invoices.
pub async fn release_push_claims(conn: &mut Conn, numbers: &[String]) -> sqlx::Result<()> {
    for number in numbers {
        sqlx::query(
            "UPDATE invoices SET push_claimed_at = NULL WHERE number = $1 AND status = 'draft'",
        )
        .bind(number)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A payment received against an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub payment_id: String,
    pub invoice_number: String,
    pub amount_cents: i64,
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
}

/// Stores a payment unless one with its id exists; true when stored.
pub async fn insert_payment(
    conn: &mut Conn,
    p: &Payment,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let rows = sqlx::query(
        "INSERT INTO invoice_payments (payment_id, invoice_number, amount_cents, paid_on, reference, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id",
    )
    .bind(&p.payment_id)
    .bind(&p.invoice_number)
    .bind(p.amount_cents)
    .bind(p.paid_on.to_string())
    .bind(p.reference.clone())
    .bind(ts(now))
    .fetch_all(&mut *conn)
    .await?;
    Ok(!rows.is_empty())
}

/// A stored payment by id.
pub async fn payment(conn: &mut Conn, payment_id: &str) -> sqlx::Result<Option<Payment>> {
    let row = sqlx::query(
        "SELECT payment_id, invoice_number, amount_cents, paid_on, reference FROM invoice_payments \
         WHERE payment_id = $1",
    )
    .bind(payment_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Payment {
            payment_id: r.try_get("payment_id")?,
            invoice_number: r.try_get("invoice_number")?,
            amount_cents: r.try_get("amount_cents")?,
            paid_on: date(&r, "paid_on")?,
            reference: r.try_get("reference")?,
        })
    })
    .transpose()
}

/// Adds a payment to what has been paid on an invoice and sets its status
/// from the sum, in one statement: concurrent payments add up (each UPDATE
/// sees the row as the last one left it), never read-then-written back.
pub async fn add_paid(
    conn: &mut Conn,
    number: &str,
    amount_cents: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<(i64, InvoiceStatus)> {
    let row = sqlx::query(
        "UPDATE invoices SET paid_cents = paid_cents + $1, \
           status = CASE WHEN total_cents - (paid_cents + $1) <= 0 THEN 'paid' ELSE 'sent' END, \
           paid_at = CASE WHEN total_cents - (paid_cents + $1) <= 0 THEN $2 ELSE NULL END \
         WHERE number = $3 RETURNING paid_cents, status",
    )
    .bind(amount_cents)
    .bind(ts(now))
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| corrupt(format!("invoice {number} vanished while paid")))?;
    let status: String = row.try_get("status")?;
    let status = InvoiceStatus::parse(&status)
        .map_err(|_| corrupt(format!("invoice {number} has status {status}")))?;
    Ok((row.try_get("paid_cents")?, status))
}
