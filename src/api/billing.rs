//! Invoices over HTTP: generate a period, list and read invoices, export them
//! for Xero (CSV import layout or API JSON), push them to Xero, and reconcile
//! payments.

use super::access::{needs, Operator, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::schemas::{Amount, BillingMonth, Day, InvoiceStatusName};
use crate::domain::invoice::{
    cents_to_decimal, parse_amount_cents, BillingPeriod, Invoice, InvoiceStatus,
};
use crate::domain::ValidationError;
use crate::services::billing::Billing;
use crate::services::billing::{billing_period, Export, NewPayment};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    /// The month to invoice. Give exactly one of `period` and `date`.
    #[schema(example = "2026-11", value_type = Option<BillingMonth>)]
    pub period: Option<String>,
    /// Or any day of it.
    #[schema(value_type = Option<Day>)]
    pub date: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLineView {
    pub item_code: String,
    pub description: String,
    pub quantity: i64,
    pub unit_amount_cents: i64,
    /// Decimal, two places ("12.34").
    pub unit_amount: String,
    pub line_amount_cents: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceView {
    pub number: String,
    pub tenant_id: String,
    pub contact_name: String,
    pub period: String,
    pub date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    /// draft | sent | paid
    pub status: String,
    pub lines: Vec<InvoiceLineView>,
    pub total_cents: i64,
    pub total: String,
    pub paid_cents: i64,
    pub due_cents: i64,
    pub xero_invoice_id: Option<String>,
}

impl From<Invoice> for InvoiceView {
    fn from(inv: Invoice) -> Self {
        Self {
            total_cents: inv.total_cents(),
            total: cents_to_decimal(inv.total_cents()),
            due_cents: inv.due_cents(),
            lines: inv
                .lines
                .iter()
                .map(|l| InvoiceLineView {
                    item_code: l.item_code.clone(),
                    description: l.description.clone(),
                    quantity: l.quantity,
                    unit_amount_cents: l.unit_amount_cents,
                    unit_amount: cents_to_decimal(l.unit_amount_cents),
                    line_amount_cents: l.amount_cents(),
                })
                .collect(),
            number: inv.number,
            tenant_id: inv.tenant_id,
            contact_name: inv.contact_name,
            period: inv.period.to_string(),
            date: inv.date,
            due_date: inv.due_date,
            currency: inv.currency,
            status: inv.status.as_str().into(),
            paid_cents: inv.paid_cents,
            xero_invoice_id: inv.xero_invoice_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GeneratedView {
    pub period: String,
    /// The period's drafts as now stored.
    pub invoices: Vec<InvoiceView>,
    /// Drafts of the period that existed before and were replaced.
    pub replaced: usize,
    /// Invoices of the period already sent or paid, left untouched.
    pub kept: Vec<String>,
}

/// Generates one draft invoice per tenant with usage in the period (from the
/// daily cost rollups). Regenerating replaces the period's drafts, keeping
/// their numbers; sent and paid invoices are never touched.
#[utoipa::path(
    post,
    path = "/api/xero/generate-invoices",
    tag = "billing",
    request_body = GenerateBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = GeneratedView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn generate(
    State(billing): State<Billing>,
    operator: Operator<needs::BillingWrite>,
    ApiJson(body): ApiJson<GenerateBody>,
) -> Result<Json<GeneratedView>, ApiError> {
    let period = billing_period(body.period.as_deref(), body.date.as_deref())?;
    let g = billing.generate_invoices(&operator.actor, period).await?;
    Ok(Json(g.into()))
}

impl From<crate::services::billing::Generated> for GeneratedView {
    fn from(g: crate::services::billing::Generated) -> Self {
        Self {
            period: g.period.to_string(),
            invoices: g.invoices.into_iter().map(InvoiceView::from).collect(),
            replaced: g.replaced,
            kept: g.kept,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `YYYY-MM`; all periods when absent.
    #[param(value_type = Option<BillingMonth>)]
    pub period: Option<String>,
    #[param(value_type = Option<InvoiceStatusName>)]
    pub status: Option<String>,
}

fn period_param(value: Option<&str>) -> Result<Option<BillingPeriod>, ValidationError> {
    value.map(BillingPeriod::parse).transpose()
}

/// Invoices by period and status.
#[utoipa::path(
    get,
    path = "/api/invoices",
    tag = "billing",
    params(ListQuery),
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, body = Vec<InvoiceView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn list(
    State(billing): State<Billing>,
    operator: TenantOperator<needs::BillingRead>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<InvoiceView>>, ApiError> {
    let period = period_param(q.period.as_deref())?;
    let status = q.status.as_deref().map(InvoiceStatus::parse).transpose()?;
    let invoices = billing.invoices(period, status).await?;
    Ok(Json(
        invoices
            .into_iter()
            .filter(|i| operator.covers_raw(&i.tenant_id))
            .map(InvoiceView::from)
            .collect(),
    ))
}

/// One invoice with its lines.
#[utoipa::path(
    get,
    path = "/api/invoices/{number}",
    tag = "billing",
    params(("number" = String, Path, description = "The invoice number, e.g. KW-202611-ACME")),
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, body = InvoiceView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn get_invoice(
    State(billing): State<Billing>,
    operator: TenantOperator<needs::BillingRead>,
    Path(number): Path<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    let invoice = billing.invoice(&number).await?;
    operator
        .check(&crate::domain::ids::TenantId::parse(
            invoice.tenant_id.clone(),
        )?)
        .await?;
    Ok(Json(invoice.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    #[param(value_type = BillingMonth)]
    pub period: String,
    /// csv (Xero's sales-invoice import layout) or json (Xero API `{"Invoices":[...]}`); default csv.
    #[param(pattern = "^(csv|json)$")]
    pub format: Option<String>,
}

/// A period's invoices for Xero: the sales-invoice CSV import layout (one row
/// per line item) or the Xero API's Invoice JSON.
#[utoipa::path(
    get,
    path = "/api/xero/export",
    tag = "billing",
    params(ExportQuery),
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, description = "text/csv or application/json"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn export(
    State(billing): State<Billing>,
    _operator: Operator<needs::BillingRead>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let period = BillingPeriod::parse(&q.period)?;
    let csv = match q.format.as_deref().unwrap_or("csv") {
        "csv" => true,
        "json" => false,
        _ => return Err(ValidationError::new("format", "must be csv or json").into()),
    };
    Ok(match billing.export_invoices(period, csv).await? {
        Export::Csv(text) => {
            let disposition = format!("attachment; filename=\"keyward-invoices-{period}.csv\"");
            let mut res = text.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Export::Json(text) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            text,
        )
            .into_response(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    /// The period whose drafts are pushed.
    #[schema(value_type = BillingMonth)]
    pub period: String,
}

/// Pushes a period's drafts to Xero (authorised sales invoices, through the
/// configured API URL with an OAuth2 client-credentials token) and marks
/// each one Xero accepted as sent.
#[utoipa::path(
    post,
    path = "/api/xero/push",
    tag = "billing",
    request_body = PushBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, description = "The invoices sent now", body = Vec<InvoiceView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 409, description = "`XERO_NOT_CONFIGURED`: the operator has not configured Xero", body = ErrorBody),
        (status = 503, description = "`XERO_UNAVAILABLE`: Xero is not answering", body = ErrorBody),
    )
)]
pub async fn push(
    State(billing): State<Billing>,
    operator: Operator<needs::BillingWrite>,
    ApiJson(body): ApiJson<PushBody>,
) -> Result<Json<Vec<InvoiceView>>, ApiError> {
    let period = BillingPeriod::parse(&body.period)?;
    let sent = billing.push_invoices(&operator.actor, period).await?;
    Ok(Json(sent.into_iter().map(InvoiceView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBody {
    /// Unique per payment (e.g. Xero's PaymentID): a retried call records it once.
    #[schema(min_length = 1, max_length = 200)]
    pub payment_id: String,
    pub invoice_number: String,
    /// The amount paid: a positive decimal with at most two places as a
    /// string (`"12.34"`), or a whole number (`12`). Never a fractional JSON
    /// number: money is not a binary float.
    #[schema(value_type = Amount, example = "12.34")]
    pub amount: serde_json::Value,
    /// The day it was paid.
    #[schema(value_type = Day)]
    pub date: NaiveDate,
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    /// False when this payment id had already been recorded (nothing changed).
    pub recorded: bool,
    pub invoice: InvoiceView,
}

/// Reconciles a payment to its invoice; paid in full marks it paid.
#[utoipa::path(
    post,
    path = "/api/xero/payments",
    tag = "billing",
    request_body = PaymentBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = PaymentView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A draft invoice, or a payment id reused with other figures", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn payment(
    State(billing): State<Billing>,
    operator: Operator<needs::BillingWrite>,
    ApiJson(body): ApiJson<PaymentBody>,
) -> Result<(StatusCode, Json<PaymentView>), ApiError> {
    let amount = match &body.amount {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        _ => {
            return Err(ValidationError::new(
                "amount",
                "must be a decimal string such as \"12.34\", or a whole number",
            )
            .into())
        }
    };
    let amount_cents = parse_amount_cents("amount", &amount)?;
    let r = billing
        .record_payment(
            &operator.actor,
            NewPayment {
                payment_id: body.payment_id,
                invoice_number: body.invoice_number,
                amount_cents,
                paid_on: body.date,
                reference: body.reference,
            },
        )
        .await?;
    Ok((
        StatusCode::OK,
        Json(PaymentView {
            recorded: r.recorded,
            invoice: r.invoice.into(),
        }),
    ))
}
