//! The invoices page's actions, for a signed-in admin (session cookie, not
//! the root token): generate a month's invoices, download them for Xero, push
//! them to Xero, and record a payment.

use super::admin_session::see_other;
use super::error::ApiError;
use crate::domain::invoice::BillingPeriod;
use crate::services::billing::Billing;
use crate::services::billing::Export;
use crate::startup::AppState;
use crate::web::session::SignedInAdmin;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct GenerateForm {
    pub csrf_token: String,
    /// `YYYY-MM`
    pub period: String,
}

/// `POST /admin/invoices/generate`: (re)generates a month's drafts; back to
/// the invoices page of that month with a notice.
pub async fn generate(
    State(billing): State<Billing>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<GenerateForm>,
) -> Result<Response, ApiError> {
    if let Some(refused) = super::admin_session::admin_gate(
        &session,
        &form.csrf_token,
        Some("/admin/invoices"),
        crate::domain::access::Permission::BillingWrite,
    )? {
        return Ok(refused);
    }
    let period = match BillingPeriod::parse(form.period.trim()) {
        Ok(p) => p,
        Err(_) => return Ok(see_other("/admin/invoices?notice=bad-period")),
    };
    let actor = session.actor(super::extract::request_id(&headers));
    let g = billing.generate_invoices(&actor, period).await?;
    Ok(see_other(&format!(
        "/admin/invoices?period={period}&notice=generated&count={}",
        g.invoices.len()
    )))
}

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    pub period: String,
    pub format: Option<String>,
}

/// `GET /admin/invoices/export?period=YYYY-MM&format=csv|json`: the same
/// files as `GET /api/xero/export`, for the signed-in admin.
pub async fn export(
    State(billing): State<Billing>,
    SignedInAdmin(_session): SignedInAdmin,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let period = BillingPeriod::parse(&q.period)?;
    let csv = q.format.as_deref() != Some("json");
    Ok(match billing.export_invoices(period, csv).await? {
        Export::Csv(text) => {
            let mut res = text.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"keyward-invoices-{period}.csv\""
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Export::Json(value) => {
            let mut res = Json(value).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"keyward-invoices-{period}.json\""
            )) {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct PushForm {
    pub csrf_token: String,
    pub period: String,
}

/// `POST /admin/invoices/push`: the month's drafts to Xero.
pub async fn push(
    State(billing): State<Billing>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<PushForm>,
) -> Result<Response, ApiError> {
    let gate = super::admin_session::admin_gate(
        &session,
        &form.csrf_token,
        Some("/admin/invoices"),
        crate::domain::access::Permission::BillingWrite,
    )?;
    if let Some(refused) = gate {
        return Ok(refused);
    }
    let Ok(period) = BillingPeriod::parse(form.period.trim()) else {
        return Ok(see_other("/admin/invoices?notice=bad-period"));
    };
    let actor = session.actor(super::extract::request_id(&headers));
    match billing.push_invoices(&actor, period).await {
        Ok(sent) => Ok(see_other(&format!(
            "/admin/invoices?period={period}&notice=pushed&count={}",
            sent.len()
        ))),
        Err(crate::services::Error::Conflict { code, .. })
        | Err(crate::services::Error::Unavailable { code, .. }) => Ok(see_other(&format!(
            "/admin/invoices?period={period}&notice=refused&reason={code}"
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct PaymentForm {
    pub csrf_token: String,
    pub period: String,
    /// A decimal amount, e.g. 12.34.
    pub amount: String,
    /// YYYY-MM-DD
    pub date: String,
    pub reference: Option<String>,
    /// The page's id for this form: a second submit of it is the same payment.
    pub form_id: Option<String>,
}

/// `POST /admin/invoices/{number}/payment`: a payment received, reconciled.
pub async fn payment(
    State(billing): State<Billing>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    axum::extract::Path(number): axum::extract::Path<String>,
    Form(form): Form<PaymentForm>,
) -> Result<Response, ApiError> {
    let gate = super::admin_session::admin_gate(
        &session,
        &form.csrf_token,
        Some("/admin/invoices"),
        crate::domain::access::Permission::BillingWrite,
    )?;
    if let Some(refused) = gate {
        return Ok(refused);
    }
    let period = BillingPeriod::parse(form.period.trim()).ok();
    let back = |query: &str| {
        let p = period.map(|p| format!("period={p}&")).unwrap_or_default();
        see_other(&format!("/admin/invoices?{p}{query}"))
    };
    let amount = crate::domain::invoice::parse_amount_cents("amount", form.amount.trim());
    let date = chrono::NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d");
    let (Ok(amount_cents), Ok(paid_on)) = (amount, date) else {
        return Ok(back("notice=refused&reason=amount"));
    };
    let actor = session.actor(super::extract::request_id(&headers));
    let new = crate::services::billing::NewPayment {
        payment_id: format!(
            "dashboard-{}",
            form.form_id
                .filter(
                    |id| id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
                )
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        ),
        invoice_number: number,
        amount_cents,
        paid_on,
        reference: form.reference.filter(|r| !r.trim().is_empty()),
    };
    match billing.record_payment(&actor, new).await {
        Ok(_) => Ok(back("notice=paid")),
        Err(crate::services::Error::Conflict { code, .. })
        | Err(crate::services::Error::NotFound { code, .. }) => {
            Ok(back(&format!("notice=refused&reason={code}")))
        }
        Err(crate::services::Error::Validation(v)) => {
            Ok(back(&format!("notice=refused&reason={}", v.field)))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/invoices/generate", post(generate))
        .route("/admin/invoices/push", post(push))
        .route("/admin/invoices/{number}/payment", post(payment))
        .route("/admin/invoices/export", get(export))
}
