//! Invoices: one per tenant per calendar month, its lines the tenant's
//! statement for the month (see [`super::statement`]: cost-plus or plan
//! pricing, each line with its component code). Amounts are integer cents
//! on the invoice.
//!
//! Also the two Xero renderings: the sales-invoice CSV import layout and the
//! Xero API `Invoice` JSON (amounts written as exact decimals, never floats).

use super::pricing::CostService;
use super::secret::Service;
use super::ValidationError;
use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// Days from the invoice date to its due date.
pub const PAYMENT_TERMS_DAYS: i64 = 30;

/// The component code of a service's invoice line.
pub fn component_code(service: CostService) -> &'static str {
    match service {
        CostService::Provider(Service::Hume) => "13-HUME",
        CostService::Provider(Service::ElevenLabs) => "14-ELEVENLABS",
        CostService::Provider(Service::OpenAi) => "15-OPENAI",
        CostService::Provider(Service::Anthropic) => "16-ANTHROPIC",
        CostService::Provider(Service::Deepgram) => "17-DEEPGRAM",
        CostService::Cache => "18-KEYWARD",
    }
}

pub fn service_label(service: CostService) -> &'static str {
    match service {
        CostService::Provider(Service::Hume) => "Hume",
        CostService::Provider(Service::ElevenLabs) => "ElevenLabs",
        CostService::Provider(Service::OpenAi) => "OpenAI",
        CostService::Provider(Service::Anthropic) => "Anthropic",
        CostService::Provider(Service::Deepgram) => "Deepgram",
        CostService::Cache => "keyward response cache",
    }
}

/// A calendar month (UTC): the period an invoice covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

impl BillingPeriod {
    /// `YYYY-MM`.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("period", "must be a month as YYYY-MM, e.g. 2026-11");
        let (y, m) = value.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        Ok(Self { year, month })
    }

    /// The month containing `day`.
    pub fn containing(day: NaiveDate) -> Self {
        Self {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month")
    }

    /// The first day of the next month (the period is `[first_day, end)`).
    pub fn end(self) -> NaiveDate {
        let (y, m) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1).expect("valid month")
    }

    pub fn last_day(self) -> NaiveDate {
        self.end() - Duration::days(1)
    }

    /// `YYYYMM`, as used in invoice numbers.
    fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl std::fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The invoice number of a tenant's invoice for a period: the same inputs
/// always give the same number, so regenerating never mints a new one.
/// Numbers are upper case (as invoices are read), so a tenant id with any
/// capital letter also carries a digest of its exact spelling: `acme`,
/// `ACME` and `Acme` get three numbers that differ even to a system (Xero)
/// that compares numbers without regard to case.
pub fn invoice_number(period: BillingPeriod, tenant_id: &str) -> String {
    let upper = tenant_id.to_ascii_uppercase();
    if tenant_id.bytes().any(|b| b.is_ascii_uppercase()) {
        format!("KW-{}-{upper}-{:08X}", period.compact(), fnv1a(tenant_id))
    } else {
        format!("KW-{}-{upper}", period.compact())
    }
}

/// 32-bit FNV-1a: a stable digest (not a secret) to tell spellings apart.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Sent,
    Paid,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sent => "sent",
            Self::Paid => "paid",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "draft" => Ok(Self::Draft),
            "sent" => Ok(Self::Sent),
            "paid" => Ok(Self::Paid),
            _ => Err(ValidationError::new(
                "status",
                "must be one of draft, sent, paid",
            )),
        }
    }
}

/// One invoice line. Quantity is 1: the line's amount is its unit amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    pub item_code: String,
    pub description: String,
    pub quantity: i64,
    pub unit_amount_cents: i64,
}

impl InvoiceLine {
    pub fn amount_cents(&self) -> i64 {
        self.quantity.saturating_mul(self.unit_amount_cents)
    }
}

/// An invoice as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    pub tenant_id: String,
    pub contact_name: String,
    pub period: BillingPeriod,
    pub date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    pub status: InvoiceStatus,
    pub lines: Vec<InvoiceLine>,
    pub paid_cents: i64,
    /// Xero's id once pushed.
    pub xero_invoice_id: Option<String>,
}

impl Invoice {
    pub fn total_cents(&self) -> i64 {
        self.lines.iter().map(InvoiceLine::amount_cents).sum()
    }

    pub fn due_cents(&self) -> i64 {
        self.total_cents() - self.paid_cents
    }

    /// The reference printed on the invoice.
    pub fn reference(&self) -> String {
        format!("keyward {} {}", self.tenant_id, self.period)
    }
}

/// A draft invoice of a tenant's statement lines for a period, dated the
/// period's last day; `None` when they bill nothing.
pub fn draft_invoice(
    period: BillingPeriod,
    tenant_id: &str,
    contact_name: &str,
    currency: &str,
    lines: Vec<InvoiceLine>,
) -> Option<Invoice> {
    if lines.iter().all(|l| l.amount_cents() == 0) {
        return None;
    }
    let date = period.last_day();
    Some(Invoice {
        number: invoice_number(period, tenant_id),
        tenant_id: tenant_id.to_string(),
        contact_name: contact_name.to_string(),
        period,
        date,
        due_date: date + Duration::days(PAYMENT_TERMS_DAYS),
        currency: currency.to_string(),
        status: InvoiceStatus::Draft,
        lines,
        paid_cents: 0,
        xero_invoice_id: None,
    })
}

/// Where Xero books the lines: the revenue account and the tax rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    pub account_code: String,
    pub tax_type: String,
}

/// Cents as a decimal amount with two places ("12.34", "-0.05").
pub fn cents_to_decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// The columns of Xero's sales-invoice CSV import template, in order.
pub const XERO_CSV_COLUMNS: [&str; 27] = [
    "*ContactName",
    "EmailAddress",
    "POAddressLine1",
    "POAddressLine2",
    "POAddressLine3",
    "POAddressLine4",
    "POCity",
    "PORegion",
    "POPostalCode",
    "POCountry",
    "*InvoiceNumber",
    "Reference",
    "*InvoiceDate",
    "*DueDate",
    "InventoryItemCode",
    "*Description",
    "*Quantity",
    "*UnitAmount",
    "Discount",
    "*AccountCode",
    "*TaxType",
    "TrackingName1",
    "TrackingOption1",
    "TrackingName2",
    "TrackingOption2",
    "Currency",
    "BrandingTheme",
];

/// A text cell that a spreadsheet will not run: a value starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (a tenant named
/// `=HYPERLINK(...)`, say) gets a leading `'`, as OWASP advises for CSV
/// injection. Amounts are not text cells and keep their sign.
fn csv_text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        csv_field(&format!("'{value}"))
    } else {
        csv_field(value)
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Xero's sales-invoice import CSV: a header, then one row per line item
/// (an invoice's rows share its number). Dates are DD/MM/YYYY as the import
/// expects; amounts are tax-exclusive decimals.
pub fn xero_csv(invoices: &[Invoice], ledger: &Ledger) -> String {
    let mut out = XERO_CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for inv in invoices {
        for line in &inv.lines {
            let date = inv.date.format("%d/%m/%Y").to_string();
            let due = inv.due_date.format("%d/%m/%Y").to_string();
            let row: [&str; 27] = [
                &inv.contact_name,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                &inv.number,
                &inv.reference(),
                &date,
                &due,
                &line.item_code,
                &line.description,
                &line.quantity.to_string(),
                &cents_to_decimal(line.unit_amount_cents),
                "",
                &ledger.account_code,
                &ledger.tax_type,
                "",
                "",
                "",
                "",
                &inv.currency,
                "",
            ];
            // Columns 16 and 17 are the quantity and the unit amount.
            let fields: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if matches!(i, 16 | 17) {
                        csv_field(f)
                    } else {
                        csv_text(f)
                    }
                })
                .collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// A decimal amount written into JSON as a number, digit for digit.
fn json_decimal(cents: i64) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(cents_to_decimal(cents))
        .expect("a decimal is a JSON number")
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct XeroContact<'a> {
    name: &'a str,
    contact_number: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct XeroLine<'a> {
    description: &'a str,
    quantity: i64,
    unit_amount: Box<serde_json::value::RawValue>,
    account_code: &'a str,
    item_code: &'a str,
    tax_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct XeroInvoice<'a> {
    r#type: &'static str,
    contact: XeroContact<'a>,
    date: String,
    due_date: String,
    invoice_number: &'a str,
    reference: String,
    currency_code: &'a str,
    line_amount_types: &'static str,
    status: &'static str,
    line_items: Vec<XeroLine<'a>>,
}

fn xero_invoice<'a>(inv: &'a Invoice, ledger: &'a Ledger) -> XeroInvoice<'a> {
    let status = match inv.status {
        InvoiceStatus::Draft => "DRAFT",
        InvoiceStatus::Sent | InvoiceStatus::Paid => "AUTHORISED",
    };
    XeroInvoice {
        r#type: "ACCREC",
        contact: XeroContact {
            name: &inv.contact_name,
            contact_number: &inv.tenant_id,
        },
        date: inv.date.to_string(),
        due_date: inv.due_date.to_string(),
        invoice_number: &inv.number,
        reference: inv.reference(),
        currency_code: &inv.currency,
        line_amount_types: "Exclusive",
        status,
        line_items: inv
            .lines
            .iter()
            .map(|l| XeroLine {
                description: &l.description,
                quantity: l.quantity,
                unit_amount: json_decimal(l.unit_amount_cents),
                account_code: &ledger.account_code,
                item_code: &l.item_code,
                tax_type: &ledger.tax_type,
            })
            .collect(),
    }
}

/// The Xero API's request body for invoices (`{"Invoices": [...]}`, each a
/// sales invoice, type ACCREC), as JSON text: amounts such as `0.43` are
/// written exactly, never through a float.
pub fn xero_invoices_json(invoices: &[Invoice], ledger: &Ledger) -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Body<'a> {
        invoices: Vec<XeroInvoice<'a>>,
    }
    serde_json::to_string(&Body {
        invoices: invoices.iter().map(|i| xero_invoice(i, ledger)).collect(),
    })
    .expect("invoices serialise")
}

/// Parses a decimal amount ("12.34", "12", "12.3") into cents; more than two
/// decimal places is refused rather than rounded.
pub fn parse_amount_cents(field: &'static str, value: &str) -> Result<i64, ValidationError> {
    let bad = || {
        ValidationError::new(
            field,
            "must be a positive amount with at most 2 decimals, e.g. 12.34",
        )
    };
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty()
        || whole.len() > 15
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
    {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let cents = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac))
        .ok_or_else(bad)?;
    if cents <= 0 {
        return Err(bad());
    }
    Ok(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_bound_a_month() {
        let p = BillingPeriod::parse("2026-12").unwrap();
        assert_eq!(p.first_day().to_string(), "2026-12-01");
        assert_eq!(p.end().to_string(), "2027-01-01");
        assert_eq!(p.last_day().to_string(), "2026-12-31");
        assert_eq!(p.to_string(), "2026-12");
        assert_eq!(
            BillingPeriod::containing("2024-02-29".parse().unwrap())
                .last_day()
                .to_string(),
            "2024-02-29"
        );
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"] {
            assert!(BillingPeriod::parse(bad).is_err(), "{bad}");
        }
    }

    fn line(code: &str, cents: i64) -> InvoiceLine {
        InvoiceLine {
            item_code: code.into(),
            description: format!("{code} usage"),
            quantity: 1,
            unit_amount_cents: cents,
        }
    }

    #[test]
    fn nothing_billed_no_invoice() {
        let p = BillingPeriod::parse("2026-11").unwrap();
        assert!(draft_invoice(p, "acme", "Acme", "USD", Vec::new()).is_none());
        assert!(draft_invoice(p, "acme", "Acme", "USD", vec![line("15-OPENAI", 0)]).is_none());
        let inv = draft_invoice(
            p,
            "acme",
            "Acme",
            "USD",
            vec![line("15-OPENAI", 100), line("90-SGA", 10)],
        )
        .unwrap();
        assert_eq!(inv.number, "KW-202611-ACME");
        assert_eq!(inv.date.to_string(), "2026-11-30");
        assert_eq!(inv.due_date.to_string(), "2026-12-30");
        assert_eq!(inv.total_cents(), 110);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        use crate::domain::money::Money;
        assert_eq!(Money::from_micros(5_000).cents(), 1);
        assert_eq!(Money::from_micros(4_999).cents(), 0);
        assert_eq!(Money::from_micros(-5_000).cents(), -1);
        assert_eq!(cents_to_decimal(123_405), "1234.05");
        assert_eq!(cents_to_decimal(-7), "-0.07");
    }

    #[test]
    fn the_xero_json_writes_amounts_digit_for_digit() {
        let p = BillingPeriod::parse("2026-11").unwrap();
        let inv = draft_invoice(
            p,
            "acme",
            "Acme",
            "USD",
            vec![
                line("15-OPENAI", 43),
                line("13-HUME", 1_234_567_890_123_457),
            ],
        )
        .unwrap();
        let ledger = Ledger {
            account_code: "200".into(),
            tax_type: "OUTPUT".into(),
        };
        let text = xero_invoices_json(&[inv], &ledger);
        assert!(text.contains(r#""UnitAmount":0.43"#), "{text}");
        // Beyond what a float keeps exactly.
        assert!(text.contains(r#""UnitAmount":12345678901234.57"#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["Invoices"][0]["Type"], "ACCREC");
        assert_eq!(v["Invoices"][0]["Contact"]["ContactNumber"], "acme");
        assert_eq!(v["Invoices"][0]["LineItems"][1]["ItemCode"], "13-HUME");
        assert_eq!(v["Invoices"][0]["LineAmountTypes"], "Exclusive");
    }

    #[test]
    fn invoice_numbers_differ_for_tenant_ids_that_differ_only_in_case() {
        let period = BillingPeriod::parse("2026-11").unwrap();
        let numbers: Vec<String> = ["acme", "ACME", "Acme", "aCME"]
            .iter()
            .map(|t| invoice_number(period, t).to_ascii_uppercase())
            .collect();
        assert_eq!(
            numbers[0], "KW-202611-ACME",
            "lower-case ids keep their numbers"
        );
        for (i, a) in numbers.iter().enumerate() {
            for b in &numbers[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            invoice_number(period, "ACME"),
            invoice_number(period, "ACME")
        );
    }

    #[test]
    fn csv_text_cells_never_start_a_formula() {
        for (value, cell) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("Acme Ltd", "Acme Ltd"),
        ] {
            assert_eq!(csv_text(value), cell, "{value:?}");
        }
        // Amounts keep their sign.
        assert_eq!(csv_field("-5.00"), "-5.00");
    }

    #[test]
    fn csv_quotes_fields_that_need_it() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn amounts_parse_to_cents_exactly() {
        assert_eq!(parse_amount_cents("a", "12.34").unwrap(), 1234);
        assert_eq!(parse_amount_cents("a", "12.3").unwrap(), 1230);
        assert_eq!(parse_amount_cents("a", "12").unwrap(), 1200);
        for bad in ["", "-1", "0", "1.234", "1e3", ".5", "x"] {
            assert!(parse_amount_cents("a", bad).is_err(), "{bad}");
        }
    }
}
