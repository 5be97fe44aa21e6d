//! Budgets (`/api/tenants/{tenant_id}/budget`, `/api/budgets`) and cost
//! anomalies (`/api/analytics/anomalies`).

use super::access::{needs, Operator, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
#[allow(unused_imports)]
use super::schemas::{Amount, Day};
use crate::domain::ids::TenantId;
use crate::domain::invoice::parse_amount_cents;
use crate::domain::ValidationError;
use crate::services::budgets::{BudgetStatus, Budgets};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    /// The month's spend allowed (the tenant's priced usage cost, as on the
    /// costs dashboard), in the billing currency: `"500.00"` or `500`.
    #[schema(value_type = Amount, example = "500.00")]
    pub limit: serde_json::Value,
    /// Percentages of the limit that raise a `budget.threshold` event, once
    /// a month each (default 50, 80, 100).
    #[schema(max_items = 10)]
    pub alert_percents: Option<Vec<u32>>,
    /// Refuse the tenant's data-plane requests and provider-key resolution
    /// (402 `BUDGET_EXHAUSTED`) once the limit is reached, until the next
    /// month or a raise. Default false.
    pub hard_cap: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BudgetItem {
    pub tenant_id: String,
    /// `YYYY-MM`, UTC.
    pub period: String,
    pub limit: String,
    pub limit_micros: i64,
    pub spent: String,
    pub spent_micros: i64,
    pub percent: i64,
    pub alert_percents: Vec<u32>,
    pub hard_cap: bool,
    /// True while the tenant's requests are refused.
    pub capped: bool,
}

impl From<BudgetStatus> for BudgetItem {
    fn from(s: BudgetStatus) -> Self {
        Self {
            tenant_id: s.budget.tenant_id,
            period: s.period,
            limit: s.limit,
            limit_micros: s.budget.limit_micros,
            spent: s.spent,
            spent_micros: s.spent_micros,
            percent: s.percent,
            alert_percents: s.budget.alert_percents,
            hard_cap: s.budget.hard_cap,
            capped: s.capped,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BudgetsPage {
    pub budgets: Vec<BudgetItem>,
}

fn amount_micros(v: &serde_json::Value) -> Result<i64, ApiError> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
        _ => {
            return Err(ValidationError::new(
                "limit",
                "must be a decimal string such as \"500.00\", or a whole number",
            )
            .into())
        }
    };
    parse_amount_cents("limit", &text)?
        .checked_mul(10_000)
        .ok_or_else(|| ValidationError::new("limit", "is too large").into())
}

/// Sets a tenant's monthly budget; it is checked at once (a raise lifts a cap).
/// Alert percentages are 1 to 1000 (at most 10); the limit is more than zero
/// (422 otherwise).
#[utoipa::path(
    put,
    path = "/api/tenants/{tenant_id}/budget",
    tag = "budgets",
    params(("tenant_id" = TenantId, Path)),
    request_body = BudgetBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = BudgetItem),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_budget(
    State(budgets): State<Budgets>,
    operator: TenantOperator<needs::BillingWrite>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<BudgetBody>,
) -> Result<Json<BudgetItem>, ApiError> {
    let tenant = TenantId::parse(raw)?;
    operator.check(&tenant).await?;
    let limit = amount_micros(&body.limit)?;
    let status = budgets
        .set(
            &operator.actor,
            &tenant,
            limit,
            body.alert_percents.unwrap_or_else(|| vec![50, 80, 100]),
            body.hard_cap.unwrap_or(false),
        )
        .await?;
    Ok(Json(status.into()))
}

#[utoipa::path(
    get,
    path = "/api/tenants/{tenant_id}/budget",
    tag = "budgets",
    params(("tenant_id" = TenantId, Path)),
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, body = BudgetItem),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn get_budget(
    State(budgets): State<Budgets>,
    operator: TenantOperator<needs::BillingRead>,
    Path(raw): Path<String>,
) -> Result<Json<BudgetItem>, ApiError> {
    let tenant = TenantId::parse(raw)?;
    operator.check(&tenant).await?;
    Ok(Json(budgets.get(&tenant).await?.into()))
}

#[utoipa::path(
    delete,
    path = "/api/tenants/{tenant_id}/budget",
    tag = "budgets",
    params(("tenant_id" = TenantId, Path)),
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 204, description = "Removed (a cap it held is lifted)"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn delete_budget(
    State(budgets): State<Budgets>,
    operator: TenantOperator<needs::BillingWrite>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = TenantId::parse(raw)?;
    operator.check(&tenant).await?;
    budgets.remove(&operator.actor, &tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every budget with the month's spend.
#[utoipa::path(
    get,
    path = "/api/budgets",
    tag = "budgets",
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, body = BudgetsPage),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn list_budgets(
    State(budgets): State<Budgets>,
    _operator: Operator<needs::BillingRead>,
) -> Result<Json<BudgetsPage>, ApiError> {
    Ok(Json(BudgetsPage {
        budgets: budgets.all().await?.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomaliesQuery {
    pub tenant_id: Option<String>,
    /// First day, inclusive (default 30 days ago).
    #[param(value_type = Option<Day>)]
    pub from: Option<NaiveDate>,
    /// Last day, exclusive (default tomorrow).
    #[param(value_type = Option<Day>)]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnomalyItem {
    pub tenant_id: String,
    pub service: String,
    pub day: String,
    pub cost_micros: i64,
    pub mean_micros: i64,
    pub stddev_micros: i64,
    /// Standard deviations above the trailing mean, in thousandths.
    pub score_milli: i64,
    pub detected_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnomaliesPage {
    pub anomalies: Vec<AnomalyItem>,
}

/// Days whose cost of a service was far above the tenant's trailing mean
/// (flagged by the `check_anomalies` job), newest first.
#[utoipa::path(
    get,
    path = "/api/analytics/anomalies",
    tag = "analytics",
    params(AnomaliesQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = AnomaliesPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn anomalies(
    State(budgets): State<Budgets>,
    operator: TenantOperator<needs::AnalyticsRead>,
    ApiQuery(q): ApiQuery<AnomaliesQuery>,
) -> Result<Json<AnomaliesPage>, ApiError> {
    let asked = q
        .tenant_id
        .map(|t| TenantId::parse_field("tenant_id", t))
        .transpose()?;
    let tenant = operator.only(asked).await?;
    let today = crate::services::now().date_naive();
    let from = q.from.unwrap_or(today - chrono::Duration::days(30));
    let to = q.to.unwrap_or(today + chrono::Duration::days(1));
    if from >= to || (to - from).num_days() > 800 {
        return Err(
            ValidationError::new("from", "must be before to, at most 800 days apart").into(),
        );
    }
    let rows = budgets.anomalies(tenant.as_ref(), from, to).await?;
    Ok(Json(AnomaliesPage {
        anomalies: rows
            .into_iter()
            .map(|r| AnomalyItem {
                tenant_id: r.tenant_id,
                service: r.service,
                day: r.day,
                cost_micros: r.cost_micros,
                mean_micros: r.mean_micros,
                stddev_micros: r.stddev_micros,
                score_milli: r.score_milli,
                detected_at: r.detected_at,
            })
            .collect(),
    }))
}
