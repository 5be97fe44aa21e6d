//! The cost engine over HTTP: usage events in, True Production Cost out.

use super::access::{needs, Operator, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::schemas::{AnalyticsDay, BillingModeName, Label128, Label200, Label64, Timestamp};
use crate::domain::analytics::{round_div, CohortPage, Tpc};
use crate::domain::cost::{parse_milli, Units, UsageEvent};
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::pricing::CostService;
use crate::domain::savings::{SavingsInput, SavingsProjection};
use crate::domain::statement::{AllocationRates, BillingMode, PlanTerms, Statement};
use crate::domain::ValidationError;
use crate::services::costs::Costs;
use crate::services::costs::{parse_span, MAX_EVENTS_PER_BATCH};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Bodies of event batches may be this large (1,000 events with room to spare).
const MAX_EVENTS_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitsBody {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub tokens_in: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub tokens_out: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub characters: Option<i64>,
    /// May be fractional (up to 3 decimals).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64, multiple_of = 0.001)]
    pub seconds: Option<f64>,
    /// May be fractional (up to 3 decimals).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64, multiple_of = 0.001)]
    pub minutes: Option<f64>,
}

/// One AI call (or keyward cache request) by a tenant's user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EventBody {
    /// Unique per event: a retried batch with the same ids counts once.
    #[schema(value_type = Label128)]
    pub event_id: String,
    #[schema(value_type = Label128)]
    pub trace_id: String,
    #[schema(value_type = TenantId)]
    pub tenant_id: String,
    #[schema(value_type = Label128)]
    pub user_id: String,
    #[schema(value_type = CostService)]
    pub service: String,
    #[schema(value_type = Label64)]
    pub operation: String,
    #[schema(value_type = Option<Label200>)]
    pub model: Option<String>,
    /// What the call consumed, in its service's units: tokens_in and/or
    /// tokens_out (openai, anthropic), seconds (hume), characters
    /// (elevenlabs), minutes (deepgram); none for keyward.
    #[serde(default)]
    pub units: UnitsBody,
    #[schema(minimum = 0, maximum = 86_400_000)]
    pub duration_ms: i64,
    /// When the call happened; it picks the price in force.
    #[schema(value_type = Timestamp)]
    pub timestamp: DateTime<Utc>,
}

impl EventBody {
    fn into_event(self) -> Result<UsageEvent, ValidationError> {
        UsageEvent {
            event_id: self.event_id,
            trace_id: self.trace_id,
            tenant_id: TenantId::parse_field("tenant_id", self.tenant_id)?,
            user_id: self.user_id,
            service: CostService::parse(&self.service)?,
            operation: self.operation,
            model: self.model,
            units: Units {
                tokens_in: self.units.tokens_in,
                tokens_out: self.units.tokens_out,
                characters: self.units.characters,
                seconds_milli: self
                    .units
                    .seconds
                    .map(|v| parse_milli("units.seconds", v))
                    .transpose()?,
                minutes_milli: self
                    .units
                    .minutes
                    .map(|v| parse_milli("units.minutes", v))
                    .transpose()?,
            },
            duration_ms: self.duration_ms,
            at: self.timestamp,
        }
        .validate()
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestResponse {
    /// Events stored by this call.
    pub accepted: usize,
    /// Events already stored before (same event_id), not counted again.
    pub duplicates: usize,
    /// The cost of the batch's events, in micro-dollars (1 USD = 1,000,000).
    pub cost_micros: i64,
}

/// Ingest a batch of 1 to 1,000 usage events (a JSON array). Each is priced
/// at the price in force at its timestamp; the batch lands whole or not at all.
#[utoipa::path(
    post,
    path = "/api/usage/events",
    tag = "costs",
    request_body(content = Vec<EventBody>, description = "1 to 1,000 events"),
    security(("operator_token" = ["usage:write"])),
    responses(
        (status = 200, body = IngestResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "An event names an unknown tenant", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn ingest(
    State(costs): State<Costs>,
    operator: TenantOperator<needs::UsageWrite>,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_EVENTS_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("an event batch may be at most {MAX_EVENTS_BODY_BYTES} bytes"),
            )
        })?;
    let bodies: Vec<EventBody> = serde_json::from_slice(&bytes)
        .or_else(|e| {
            // Integers written as `20.0` (a slower path only such batches take).
            if !e.is_data() {
                return Err(e);
            }
            let mut value: serde_json::Value = serde_json::from_slice(&bytes)?;
            super::extract::integral_numbers_as_integers(&mut value);
            serde_json::from_value(value)
        })
        .map_err(super::extract::body_error)?;
    if bodies.is_empty() || bodies.len() > MAX_EVENTS_PER_BATCH {
        return Err(ValidationError::new(
            "events",
            format!("give 1 to {MAX_EVENTS_PER_BATCH} events"),
        )
        .into());
    }
    let events = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            b.into_event()
                .map_err(|e| ValidationError::new(e.field, format!("event {i}: {}", e.message)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tenants: std::collections::BTreeSet<_> = events.iter().map(|e| &e.tenant_id).collect();
    for tenant in tenants {
        operator.check(tenant).await?;
    }
    let done = costs.ingest_events(events).await?;
    Ok(Json(IngestResponse {
        accepted: done.accepted,
        duplicates: done.duplicates,
        cost_micros: done.cost_micros,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TpcQuery {
    /// daily | weekly | monthly (default).
    #[param(pattern = "^(daily|weekly|monthly)$")]
    pub period: Option<String>,
    /// First day (UTC), default the start of the current period; before `to`.
    #[param(value_type = Option<AnalyticsDay>)]
    pub from: Option<NaiveDate>,
    /// Day after the last (exclusive), default one period after `from`.
    #[param(value_type = Option<AnalyticsDay>)]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserCostView {
    pub user_id: String,
    pub events: i64,
    pub cost_micros: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceCostView {
    pub service: String,
    pub events: i64,
    pub cost_micros: i64,
    /// Share of the total, in basis points (10000 = 100%).
    pub share_bps: i64,
    pub previous_cost_micros: i64,
    /// Change against the previous period in basis points; null when it cost nothing then.
    pub trend_bps: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserStats {
    pub count: usize,
    pub mean_micros: i64,
    pub median_micros: i64,
    pub p95_micros: i64,
    pub p99_micros: i64,
    pub std_dev_micros: i64,
}

/// Revenue, cost and profit by the money model (README, "The money model"):
/// revenue is what the tenant is invoiced, to the cent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Profitability {
    /// The tenant's plan today.
    pub plan: String,
    /// Revenue: the sum of the invoice lines for the period.
    pub revenue_micros: i64,
    /// The subscription line (plan pricing), prorated by day.
    pub plan_revenue_micros: i64,
    /// The service lines: at cost (cost-plus) or cost times the plan's usage rate.
    pub usage_revenue_micros: i64,
    /// The SG&A and compliance lines billed (cost-plus).
    pub allocations_billed_micros: i64,
    /// Direct cost: the priced usage events.
    pub cost_micros: i64,
    /// SG&A at the platform's rate(s) on direct cost.
    pub sga_micros: i64,
    /// Compliance at the platform's rate(s) on direct cost.
    pub compliance_micros: i64,
    /// Revenue - direct cost.
    pub profit_micros: i64,
    /// Gross profit over revenue in basis points; null without revenue.
    pub margin_bps: Option<i64>,
    /// Gross profit - SG&A - compliance.
    pub net_profit_micros: i64,
    /// Net profit over revenue in basis points; null without revenue.
    pub net_margin_bps: Option<i64>,
}

impl Profitability {
    pub fn of(plan: &str, s: &Statement) -> Self {
        Self {
            plan: plan.to_string(),
            revenue_micros: s.revenue_micros,
            plan_revenue_micros: s.subscription_micros,
            usage_revenue_micros: s.usage_micros,
            allocations_billed_micros: s.allocations_billed_micros,
            cost_micros: s.direct_cost_micros,
            sga_micros: s.sga_micros,
            compliance_micros: s.compliance_micros,
            profit_micros: s.gross_profit_micros,
            margin_bps: s.gross_margin_bps(),
            net_profit_micros: s.net_profit_micros,
            net_margin_bps: s.net_margin_bps(),
        }
    }
}

/// A sub-organisation's part of its parent's figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub tenant_id: String,
    pub cost_micros: i64,
    pub revenue_micros: i64,
    pub net_profit_micros: i64,
    /// Its share of the family's direct cost, in basis points.
    pub cost_share_bps: i64,
    /// Its share of the family's revenue, in basis points.
    pub revenue_share_bps: i64,
}

/// True Production Cost of a tenant over a period. Money in integer micro-dollars.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TpcView {
    pub tenant_id: String,
    pub period: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub previous_from: NaiveDate,
    pub total_cost_micros: i64,
    pub events: i64,
    pub users: Vec<UserCostView>,
    pub user_stats: UserStats,
    pub services: Vec<ServiceCostView>,
    /// With its sub-organisations (all levels) rolled up.
    pub profitability: Profitability,
    /// The tenant and each sub-organisation with its share; empty for a
    /// tenant without sub-organisations.
    pub members: Vec<MemberView>,
}

/// The JSON of a tenant's TPC (also what `keyward costs analyze --json` prints).
pub fn view(tenant: &TenantId, period: &str, plan: Plan, t: Tpc) -> TpcView {
    TpcView {
        tenant_id: tenant.to_string(),
        period: period.into(),
        from: t.span.from,
        to: t.span.to,
        previous_from: t.previous.from,
        total_cost_micros: t.total_cost_micros,
        events: t.events,
        user_stats: UserStats {
            count: t.users.len(),
            mean_micros: t.mean_user_cost_micros,
            median_micros: t.median_user_cost_micros,
            p95_micros: t.p95_user_cost_micros,
            p99_micros: t.p99_user_cost_micros,
            std_dev_micros: t.std_dev_user_cost_micros,
        },
        users: t
            .users
            .into_iter()
            .map(|u| UserCostView {
                user_id: u.user_id,
                events: u.events,
                cost_micros: u.cost_micros,
            })
            .collect(),
        services: t
            .services
            .into_iter()
            .map(|s| ServiceCostView {
                service: s.service,
                events: s.events,
                cost_micros: s.cost_micros,
                share_bps: s.share_bps,
                previous_cost_micros: s.previous_cost_micros,
                trend_bps: s.trend_bps,
            })
            .collect(),
        profitability: Profitability::of(plan.as_str(), &t.money),
        members: t
            .members
            .iter()
            .map(|(id, s)| {
                let share = |part: i64, whole: i64| {
                    if whole == 0 {
                        0
                    } else {
                        round_div(i128::from(part) * 10_000, i128::from(whole))
                    }
                };
                MemberView {
                    tenant_id: id.clone(),
                    cost_micros: s.direct_cost_micros,
                    revenue_micros: s.revenue_micros,
                    net_profit_micros: s.net_profit_micros,
                    cost_share_bps: share(s.direct_cost_micros, t.money.direct_cost_micros),
                    revenue_share_bps: share(s.revenue_micros, t.money.revenue_micros),
                }
            })
            .collect(),
    }
}

/// A tenant's True Production Cost: total, per user, per service (with the
/// trend against the previous period), spread across users, profitability.
#[utoipa::path(
    get,
    path = "/api/analytics/tpc/{tenant_id}",
    tag = "costs",
    params(("tenant_id" = TenantId, Path), TpcQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = TpcView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn tpc(
    State(costs): State<Costs>,
    operator: TenantOperator<needs::AnalyticsRead>,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<TpcQuery>,
) -> Result<Json<TpcView>, ApiError> {
    let tenant = TenantId::parse(tenant)?;
    operator.check(&tenant).await?;
    let (period, span) = parse_span(q.period.as_deref(), q.from, q.to)?;
    let (plan, t) = costs.tpc(&tenant, span).await?;
    Ok(Json(view(&tenant, period.as_str(), plan, t)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanPricingBody {
    /// How the plan's tenants are invoiced: `cost_plus` (each service at
    /// cost plus the SG&A and compliance lines) or `plan_pricing` (the
    /// monthly subscription plus usage at cost times `usage_markup_bps`).
    /// Default: the plan's current mode.
    #[schema(value_type = Option<BillingModeName>)]
    #[serde(default)]
    pub billing_mode: Option<BillingMode>,
    /// The plan's subscription per calendar month, micro-dollars (plan pricing).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub monthly_price_micros: i64,
    /// Usage is billed at cost times this / 10000 (12000 = cost + 20%; plan pricing).
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub usage_markup_bps: i64,
    /// The first day the terms apply (UTC, default today); earlier days keep
    /// the terms in force then.
    #[serde(default)]
    #[schema(value_type = Option<AnalyticsDay>)]
    pub effective_from: Option<NaiveDate>,
}

/// What a plan charges from a day on: billing mode, subscription and usage
/// rate (effective-dated; used by invoices, TPC, the dashboards and the forecast).
#[utoipa::path(
    put,
    path = "/api/plans/{name}/pricing",
    tag = "costs",
    params(("name" = Plan, Path)),
    request_body = PlanPricingBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = PlanPricingBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn set_plan_pricing(
    State(costs): State<Costs>,
    operator: Operator<needs::BillingWrite>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PlanPricingBody>,
) -> Result<Json<PlanPricingBody>, ApiError> {
    let plan = Plan::parse_field("name", &name)?;
    let mode = match body.billing_mode {
        Some(mode) => mode,
        None => {
            let today = chrono::Utc::now().date_naive();
            costs
                .terms()
                .await?
                .plan_on(plan, body.effective_from.unwrap_or(today))
                .mode
        }
    };
    let (from, p) = costs
        .set_plan_terms(
            &operator.actor,
            plan,
            body.effective_from,
            PlanTerms {
                mode,
                monthly_price_micros: body.monthly_price_micros,
                usage_rate_bps: body.usage_markup_bps,
            },
        )
        .await?;
    Ok(Json(PlanPricingBody {
        billing_mode: Some(p.mode),
        monthly_price_micros: p.monthly_price_micros,
        usage_markup_bps: p.usage_rate_bps,
        effective_from: Some(from),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AllocationRatesBody {
    /// Global SG&A as basis points of direct cost (1000 = 10%).
    #[schema(minimum = 0, maximum = 10_000)]
    pub sga_bps: i64,
    /// Compliance (GDPR / SOC2 / VAT) as basis points of direct cost (500 = 5%).
    #[schema(minimum = 0, maximum = 10_000)]
    pub compliance_bps: i64,
    /// The first day the rates apply (UTC, default today).
    #[serde(default)]
    #[schema(value_type = Option<AnalyticsDay>)]
    pub effective_from: Option<NaiveDate>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanTermsView {
    pub plan: String,
    pub effective_from: NaiveDate,
    #[schema(value_type = BillingModeName)]
    pub billing_mode: BillingMode,
    pub monthly_price_micros: i64,
    pub usage_markup_bps: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MoneyTermsView {
    /// Every plan's terms, oldest first per plan.
    pub plans: Vec<PlanTermsView>,
    /// The allocation rates, oldest first.
    pub allocation_rates: Vec<AllocationRatesBody>,
}

/// The money model's terms: each plan's billing mode, subscription and
/// usage rate, and the SG&A and compliance rates, each with its history.
#[utoipa::path(
    get,
    path = "/api/money/terms",
    tag = "costs",
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, body = MoneyTermsView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn money_terms(
    State(costs): State<Costs>,
    _operator: Operator<needs::BillingRead>,
) -> Result<Json<MoneyTermsView>, ApiError> {
    let terms = costs.terms().await?;
    let mut plans = Vec::new();
    for plan in Plan::ALL {
        for (from, t) in terms
            .plans
            .get(&plan)
            .map(|s| s.entries())
            .unwrap_or_default()
        {
            plans.push(PlanTermsView {
                plan: plan.to_string(),
                effective_from: *from,
                billing_mode: t.mode,
                monthly_price_micros: t.monthly_price_micros,
                usage_markup_bps: t.usage_rate_bps,
            });
        }
    }
    let allocation_rates = terms
        .rates
        .as_ref()
        .map(|s| s.entries())
        .unwrap_or_default()
        .iter()
        .map(|(from, r)| AllocationRatesBody {
            sga_bps: r.sga_bps,
            compliance_bps: r.compliance_bps,
            effective_from: Some(*from),
        })
        .collect();
    Ok(Json(MoneyTermsView {
        plans,
        allocation_rates,
    }))
}

/// Sets the platform's SG&A and compliance allocation rates from a day on.
#[utoipa::path(
    put,
    path = "/api/money/allocation-rates",
    tag = "costs",
    request_body = AllocationRatesBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = AllocationRatesBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_allocation_rates(
    State(costs): State<Costs>,
    operator: Operator<needs::BillingWrite>,
    ApiJson(body): ApiJson<AllocationRatesBody>,
) -> Result<Json<AllocationRatesBody>, ApiError> {
    let (from, r) = costs
        .set_allocation_rates(
            &operator.actor,
            body.effective_from,
            AllocationRates {
                sga_bps: body.sga_bps,
                compliance_bps: body.compliance_bps,
            },
        )
        .await?;
    Ok(Json(AllocationRatesBody {
        sga_bps: r.sga_bps,
        compliance_bps: r.compliance_bps,
        effective_from: Some(from),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// Calendar quarters to project after the current one, 1..=8 (default 1).
    #[param(minimum = 1, maximum = 8)]
    pub quarters: Option<i64>,
    /// Days of history to fit, 2..=730 (default 90), from the first day with data.
    #[param(minimum = 2, maximum = 730)]
    pub days: Option<i64>,
    /// One tenant's cost and revenue (default: the whole platform).
    #[param(value_type = Option<TenantId>)]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FitView {
    /// Micro-dollars per day at the first day of data.
    pub intercept_micros: f64,
    /// Change in micro-dollars per day, per day.
    pub slope_micros_per_day: f64,
    pub r_squared: f64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ForecastView {
    pub quarters: i64,
    /// The data span the regression used, `[data_from, data_to)`.
    pub data_from: Option<NaiveDate>,
    pub data_to: NaiveDate,
    pub days: i64,
    pub cost_fit: Option<FitView>,
    pub revenue_fit: Option<FitView>,
    pub allocated_fit: Option<FitView>,
    /// The next calendar quarter(s): `[forecast_from, forecast_to)`.
    pub forecast_from: NaiveDate,
    pub forecast_to: NaiveDate,
    pub projected_tpc_micros: i64,
    pub projected_revenue_micros: i64,
    /// SG&A and compliance on the projected cost.
    pub projected_allocated_micros: i64,
    pub projected_gross_profit_micros: i64,
    /// Gross profit over revenue in basis points; null without revenue.
    pub projected_margin_bps: Option<i64>,
    pub projected_net_profit_micros: i64,
    /// Net profit over revenue in basis points; null without revenue.
    pub projected_net_margin_bps: Option<i64>,
}

/// Least-squares regression over the platform's (or one tenant's) daily cost and revenue,
/// projecting the next quarters' TPC, revenue, gross profit and margin.
#[utoipa::path(
    get,
    path = "/api/analytics/forecast",
    tag = "costs",
    params(ForecastQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = ForecastView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn forecast(
    State(costs): State<Costs>,
    operator: TenantOperator<needs::AnalyticsRead>,
    ApiQuery(q): ApiQuery<ForecastQuery>,
) -> Result<Json<ForecastView>, ApiError> {
    let tenant = q
        .tenant_id
        .as_deref()
        .map(|t| crate::domain::ids::TenantId::parse_field("tenant_id", t))
        .transpose()?;
    let tenant = operator.only(tenant).await?;
    let f = costs
        .forecast(
            q.quarters.unwrap_or(1),
            q.days.unwrap_or(90),
            tenant.as_ref(),
        )
        .await?;
    let fit = |f: Option<crate::domain::analytics::Fit>| {
        f.map(|f| FitView {
            intercept_micros: f.intercept,
            slope_micros_per_day: f.slope,
            r_squared: f.r_squared,
        })
    };
    Ok(Json(ForecastView {
        quarters: f.quarters,
        data_from: f.data_from,
        data_to: f.data_to,
        days: f.days,
        cost_fit: fit(f.cost_fit),
        revenue_fit: fit(f.revenue_fit),
        allocated_fit: fit(f.allocated_fit),
        forecast_from: f.forecast_from,
        forecast_to: f.forecast_to,
        projected_tpc_micros: f.tpc_micros,
        projected_revenue_micros: f.revenue_micros,
        projected_allocated_micros: f.allocated_micros,
        projected_gross_profit_micros: f.gross_profit_micros,
        projected_margin_bps: f.margin_bps,
        projected_net_profit_micros: f.net_profit_micros,
        projected_net_margin_bps: f.net_margin_bps,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptimizeQuery {
    /// Any day of the ISO week to analyse (default: last week).
    #[param(value_type = Option<AnalyticsDay>)]
    pub week: Option<NaiveDate>,
    /// Flag services used by fewer than this share of the week's active users (basis points, default 1000 = 10%).
    #[param(minimum = 0, maximum = 10000)]
    pub min_user_share_bps: Option<i64>,
    /// Flag services whose weekly cost divided by all active users is below this (micro-dollars, default 1000).
    #[param(minimum = 0)]
    pub min_cost_per_active_user_micros: Option<i64>,
    /// Trial-cohort users in this answer, 1..=1000 (default 100); `trial_cohort_size` tells how many there are.
    #[param(minimum = 1, maximum = 1000)]
    pub cohort_limit: Option<i64>,
    /// Trial-cohort users to skip, in cohort order (default 0).
    #[param(minimum = 0)]
    pub cohort_offset: Option<i64>,
}

impl OptimizeQuery {
    /// The page of the trial cohort asked for, with the API's default and bounds.
    fn cohort_page(&self) -> Result<CohortPage, ValidationError> {
        let q = self;
        let limit = q.cohort_limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ValidationError::new(
                "cohort_limit",
                "must be between 1 and 1000",
            ));
        }
        let offset = q.cohort_offset.unwrap_or(0);
        if offset < 0 {
            return Err(ValidationError::new(
                "cohort_offset",
                "must not be negative",
            ));
        }
        Ok(CohortPage { limit, offset })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceUseView {
    pub service: String,
    pub users: i64,
    pub user_share_bps: i64,
    pub events: i64,
    pub cost_micros: i64,
    pub cost_per_active_user_micros: i64,
    pub under_used: bool,
    pub weekly_saving_micros: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CohortUserView {
    pub tenant_id: String,
    pub user_id: String,
    pub events: i64,
    pub cost_micros: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptimizeView {
    pub week_from: NaiveDate,
    pub week_to: NaiveDate,
    pub active_users: i64,
    pub min_user_share_bps: i64,
    pub min_cost_per_active_user_micros: i64,
    pub services: Vec<ServiceUseView>,
    pub weekly_saving_micros: i64,
    pub quarterly_saving_micros: i64,
    /// A page of the innovation-trial cohort (the 30% most active users, by
    /// events, then cost, then tenant and user id): `cohort_limit` users from
    /// `cohort_offset` on.
    pub trial_cohort: Vec<CohortUserView>,
    /// Users in the whole cohort, across pages.
    pub trial_cohort_size: i64,
    pub cohort_limit: i64,
    pub cohort_offset: i64,
    pub trial_cohort_weekly_cost_micros: i64,
    /// Weekly saving over the cohort's weekly cost, basis points; null when the cohort costs nothing.
    pub projected_roi_bps: Option<i64>,
}

/// The weekly degradation analysis: under-used services, what removing each
/// would save, and the innovation-trial cohort the saving could fund.
#[utoipa::path(
    get,
    path = "/api/analytics/optimize",
    tag = "costs",
    params(OptimizeQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = OptimizeView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn optimize(
    State(costs): State<Costs>,
    _operator: Operator<needs::AnalyticsRead>,
    ApiQuery(q): ApiQuery<OptimizeQuery>,
) -> Result<Json<OptimizeView>, ApiError> {
    let defaults = crate::domain::analytics::Thresholds::default();
    let thresholds = crate::domain::analytics::Thresholds {
        min_user_share_bps: q.min_user_share_bps.unwrap_or(defaults.min_user_share_bps),
        min_cost_per_active_user_micros: q
            .min_cost_per_active_user_micros
            .unwrap_or(defaults.min_cost_per_active_user_micros),
    };
    if !(0..=10_000).contains(&thresholds.min_user_share_bps) {
        return Err(
            ValidationError::new("min_user_share_bps", "must be between 0 and 10000").into(),
        );
    }
    if thresholds.min_cost_per_active_user_micros < 0 {
        return Err(ValidationError::new(
            "min_cost_per_active_user_micros",
            "must not be negative",
        )
        .into());
    }
    let page = q.cohort_page()?;
    let day = q
        .week
        .unwrap_or_else(|| crate::services::now().date_naive() - chrono::Duration::days(7));
    let (span, o) = costs.optimize(day, thresholds, Some(page)).await?;
    Ok(Json(optimize_view(span, thresholds, o, Some(page))))
}

/// The JSON of a week's optimisation with the page of its cohort it was
/// computed for (`None`: all of it, what `keyward optimize analyze --json`
/// prints).
pub fn optimize_view(
    span: crate::domain::analytics::Span,
    thresholds: crate::domain::analytics::Thresholds,
    o: crate::domain::analytics::Optimization,
    page: Option<CohortPage>,
) -> OptimizeView {
    let page = page.unwrap_or(CohortPage {
        limit: o.cohort_size,
        offset: 0,
    });
    OptimizeView {
        week_from: span.from,
        week_to: span.to,
        active_users: o.active_users,
        min_user_share_bps: thresholds.min_user_share_bps,
        min_cost_per_active_user_micros: thresholds.min_cost_per_active_user_micros,
        services: o
            .services
            .into_iter()
            .map(|s| ServiceUseView {
                service: s.service,
                users: s.users,
                user_share_bps: s.user_share_bps,
                events: s.events,
                cost_micros: s.cost_micros,
                cost_per_active_user_micros: s.cost_per_active_user_micros,
                under_used: s.under_used,
                weekly_saving_micros: s.weekly_saving_micros,
            })
            .collect(),
        weekly_saving_micros: o.weekly_saving_micros,
        quarterly_saving_micros: o.quarterly_saving_micros,
        trial_cohort: o
            .cohort
            .into_iter()
            .map(|c| CohortUserView {
                tenant_id: c.tenant_id,
                user_id: c.user_id,
                events: c.events,
                cost_micros: c.cost_micros,
            })
            .collect(),
        trial_cohort_size: o.cohort_size,
        cohort_limit: page.limit,
        cohort_offset: page.offset,
        trial_cohort_weekly_cost_micros: o.cohort_weekly_cost_micros,
        projected_roi_bps: o.projected_roi_bps,
    }
}

/// The inputs of the savings projection; each defaults to the seed
/// design's worked example.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SavingsProjectionQuery {
    /// Customers served (default 1000).
    #[param(minimum = 1, maximum = 10_000_000)]
    pub customers: Option<i64>,
    /// Files each customer fetches per month (default 100).
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub files_per_customer_per_month: Option<i64>,
    /// Average file size in bytes (default 20000000, 20 MB; a GB is 10^9 bytes).
    #[param(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub average_file_bytes: Option<i64>,
    /// Share of requests the cache serves, basis points (default 7000 = 70%).
    #[param(minimum = 0, maximum = 10_000)]
    pub hit_rate_bps: Option<i64>,
    /// What the origin pays per GB served, micro-dollars (default 100000 = $0.10).
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub origin_cost_per_gb_micros: Option<i64>,
    /// What the cache costs per month, micro-dollars (default 50000000 = $50).
    #[param(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub cache_cost_per_month_micros: Option<i64>,
    /// One-off set-up cost to repay, micro-dollars (default 0).
    #[param(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub setup_cost_micros: Option<i64>,
}

impl SavingsProjectionQuery {
    pub fn input(&self) -> SavingsInput {
        let d = SavingsInput::default();
        SavingsInput {
            customers: self.customers.unwrap_or(d.customers),
            files_per_customer_per_month: self
                .files_per_customer_per_month
                .unwrap_or(d.files_per_customer_per_month),
            average_file_bytes: self.average_file_bytes.unwrap_or(d.average_file_bytes),
            hit_rate_bps: self.hit_rate_bps.unwrap_or(d.hit_rate_bps),
            origin_cost_per_gb_micros: self
                .origin_cost_per_gb_micros
                .unwrap_or(d.origin_cost_per_gb_micros),
            cache_cost_per_month_micros: self
                .cache_cost_per_month_micros
                .unwrap_or(d.cache_cost_per_month_micros),
            setup_cost_micros: self.setup_cost_micros.unwrap_or(d.setup_cost_micros),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavingsProjectionView {
    #[schema(value_type = Object)]
    pub input: SavingsInput,
    pub requests_per_month: i64,
    pub hits_per_month: i64,
    pub origin_cost_without_cache_micros: i64,
    pub origin_cost_with_cache_micros: i64,
    pub cache_cost_micros: i64,
    pub total_with_cache_micros: i64,
    pub monthly_saving_micros: i64,
    /// The saving over the cost without the cache, basis points; null when that is 0.
    pub saving_bps: Option<i64>,
    pub first_year_saving_micros: i64,
    /// The month by whose end the savings repaid the set-up (1 = the first); null when nothing is saved.
    pub break_even_month: Option<i64>,
}

impl SavingsProjectionView {
    pub fn of(input: SavingsInput, p: SavingsProjection) -> Self {
        Self {
            input,
            requests_per_month: p.requests_per_month,
            hits_per_month: p.hits_per_month,
            origin_cost_without_cache_micros: p.origin_cost_without_cache_micros,
            origin_cost_with_cache_micros: p.origin_cost_with_cache_micros,
            cache_cost_micros: p.cache_cost_micros,
            total_with_cache_micros: p.total_with_cache_micros,
            monthly_saving_micros: p.monthly_saving_micros,
            saving_bps: p.saving_bps,
            first_year_saving_micros: p.first_year_saving_micros,
            break_even_month: p.break_even_month,
        }
    }
}

/// The seed design's savings estimate, for any inputs: a month's cost
/// without and with the cache, the saving, the first year and the
/// break-even month. Compare with `GET /api/savings/{tenant_id}`, a real
/// tenant's measured savings.
#[utoipa::path(
    get,
    path = "/api/analytics/savings-projection",
    tag = "costs",
    params(SavingsProjectionQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = SavingsProjectionView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn savings_projection(
    _operator: Operator<needs::AnalyticsRead>,
    ApiQuery(q): ApiQuery<SavingsProjectionQuery>,
) -> Result<Json<SavingsProjectionView>, ApiError> {
    let input = q.input().check()?;
    Ok(Json(SavingsProjectionView::of(input, input.project())))
}
