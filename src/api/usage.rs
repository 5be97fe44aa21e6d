//! Usage, savings and rate-limit state per tenant; plans.

use super::access::{needs, Operator, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::schemas::Timestamp;
use crate::domain::ids::TenantId;
use crate::domain::plan::{Plan, PlanLimits};
use crate::domain::usage::{SavingsAssumptions, UsageTotals};
use crate::services::data_plane::DataPlane;
use crate::services::plans::Plans;
use crate::services::usage::Usage;
use crate::services::usage::{Granularity, Window};
use crate::startup::AppState;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Inclusive (default: 24 h or 30 days before `to`); before `to`, and at
    /// most 400 days before it.
    #[param(value_type = Option<Timestamp>)]
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive (default: now).
    #[param(value_type = Option<Timestamp>)]
    pub to: Option<DateTime<Utc>>,
    /// hour (default) | day
    #[param(pattern = "^(hour|day)$")]
    pub granularity: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageFigures {
    pub requests: i64,
    pub hits: i64,
    pub misses: i64,
    /// hits / (hits + misses)
    pub hit_rate: f64,
    /// Requests refused by a limit (429 / 413).
    pub rejected: i64,
    pub bytes_in: i64,
    /// Response bytes sent.
    pub bytes_served: i64,
    pub mean_latency_ms: f64,
    /// From an hourly histogram with 20%-wide buckets.
    pub p95_latency_ms: f64,
}

impl From<&UsageTotals> for UsageFigures {
    fn from(t: &UsageTotals) -> Self {
        Self {
            requests: t.requests,
            hits: t.hits,
            misses: t.misses,
            hit_rate: t.hit_rate(),
            rejected: t.rejected,
            bytes_in: t.bytes_in,
            bytes_served: t.bytes_out,
            mean_latency_ms: t.mean_latency_ms(),
            p95_latency_ms: t.latency_quantile_ms(0.95),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsagePoint {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceUsage {
    pub namespace: String,
    pub total: UsageFigures,
    pub series: Vec<UsagePoint>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageReportView {
    pub tenant_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: String,
    pub total: UsageFigures,
    pub series: Vec<UsagePoint>,
    pub namespaces: Vec<NamespaceUsage>,
}

fn series(points: &BTreeMap<DateTime<Utc>, UsageTotals>) -> Vec<UsagePoint> {
    points
        .iter()
        .map(|(start, t)| UsagePoint {
            start: *start,
            figures: t.into(),
        })
        .collect()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordsQuery {
    /// Inclusive (default: 24 h before `to`); before `to`, and at most 400
    /// days before it.
    #[param(value_type = Option<Timestamp>)]
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive (default: now).
    #[param(value_type = Option<Timestamp>)]
    pub to: Option<DateTime<Utc>>,
    /// At most this many records, oldest first (default 1000, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// One data-plane request as recorded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageRecordView {
    pub at: DateTime<Utc>,
    pub key_id: String,
    pub namespace: String,
    /// get | set | invalidate
    pub operation: String,
    /// For gets: whether it was served from cache.
    pub hit: Option<bool>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub latency_us: i64,
    pub status: u16,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageRecordsView {
    pub tenant_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub records: Vec<UsageRecordView>,
}

/// A tenant's raw usage records (written by the batch writer), oldest first.
#[utoipa::path(
    get,
    path = "/api/usage/{tenant_id}/records",
    tag = "usage",
    params(("tenant_id" = TenantId, Path), RecordsQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = UsageRecordsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn usage_records(
    State(usage): State<Usage>,
    operator: TenantOperator<needs::AnalyticsRead>,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<RecordsQuery>,
) -> Result<Json<UsageRecordsView>, ApiError> {
    let tenant = TenantId::parse(tenant)?;
    operator.check(&tenant).await?;
    let window = Window::parse(q.from, q.to, Granularity::Hour)?;
    let limit = match q.limit {
        None => 1000,
        Some(n) if (1..=10_000).contains(&n) => n as usize,
        Some(_) => {
            return Err(
                crate::domain::ValidationError::new("limit", "must be between 1 and 10000").into(),
            )
        }
    };
    let records = usage.usage_records(&tenant, window, limit).await?;
    Ok(Json(UsageRecordsView {
        tenant_id: tenant.to_string(),
        from: window.from,
        to: window.to,
        records: records
            .into_iter()
            .map(|r| UsageRecordView {
                at: r.at,
                key_id: r.key_id.to_string(),
                namespace: r.namespace.to_string(),
                operation: r.operation.as_str().into(),
                hit: r.hit,
                bytes_in: r.bytes_in,
                bytes_out: r.bytes_out,
                latency_us: r.latency_us,
                status: r.status,
            })
            .collect(),
    }))
}

/// A tenant's data-plane usage, in total and per namespace, over time.
#[utoipa::path(
    get,
    path = "/api/usage/{tenant_id}",
    tag = "usage",
    params(("tenant_id" = TenantId, Path), UsageQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = UsageReportView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn usage_report(
    State(usage): State<Usage>,
    operator: TenantOperator<needs::AnalyticsRead>,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReportView>, ApiError> {
    let tenant = TenantId::parse(tenant)?;
    operator.check(&tenant).await?;
    let granularity = Granularity::parse(q.granularity.as_deref())?;
    let window = Window::parse(q.from, q.to, granularity)?;
    let report = usage.usage_report(&tenant, window, granularity).await?;
    Ok(Json(UsageReportView {
        tenant_id: tenant.to_string(),
        from: window.from,
        to: window.to,
        granularity: match granularity {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
        .into(),
        total: (&report.total).into(),
        series: series(&report.series),
        namespaces: report
            .namespaces
            .iter()
            .map(|(ns, (total, points))| NamespaceUsage {
                namespace: ns.clone(),
                total: total.into(),
                series: series(points),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SavingsQuery {
    /// Inclusive (default: 30 days before `to`); before `to`, and at most
    /// 400 days before it.
    #[param(value_type = Option<Timestamp>)]
    pub from: Option<DateTime<Utc>>,
    /// Exclusive (default: now).
    #[param(value_type = Option<Timestamp>)]
    pub to: Option<DateTime<Utc>>,
    /// Origin egress price per GB in micro-dollars (default 90000 = $0.09).
    #[param(minimum = 0)]
    pub origin_egress_per_gb_micros: Option<i64>,
    /// Origin cost per request served, micro-dollars (default 0).
    #[param(minimum = 0)]
    pub origin_cost_per_request_micros: Option<i64>,
    /// Cache cost per million requests, micro-dollars (default 400000 = $0.40).
    #[param(minimum = 0)]
    pub cache_cost_per_million_requests_micros: Option<i64>,
    /// Cache egress price per GB, micro-dollars (default 10000 = $0.01).
    #[param(minimum = 0)]
    pub cache_egress_per_gb_micros: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SavingsView {
    pub tenant_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The prices the estimate used, micro-dollars.
    #[schema(value_type = Object)]
    pub assumptions: SavingsAssumptions,
    pub usage: UsageFigures,
    /// Bytes served by hits: origin egress avoided.
    pub hit_bytes: i64,
    pub avoided_micros: i64,
    pub cache_cost_micros: i64,
    pub net_savings_micros: i64,
    /// net savings in dollars, e.g. "12.345678"
    pub net_savings_usd: String,
}

/// The cost-savings estimate: origin cost avoided by hits against the cache's own cost.
#[utoipa::path(
    get,
    path = "/api/savings/{tenant_id}",
    tag = "usage",
    params(("tenant_id" = TenantId, Path), SavingsQuery),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = SavingsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn savings(
    State(usage): State<Usage>,
    operator: TenantOperator<needs::AnalyticsRead>,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<SavingsQuery>,
) -> Result<Json<SavingsView>, ApiError> {
    let tenant = TenantId::parse(tenant)?;
    operator.check(&tenant).await?;
    let d = SavingsAssumptions::default();
    let a = SavingsAssumptions {
        origin_egress_per_gb_micros: q
            .origin_egress_per_gb_micros
            .unwrap_or(d.origin_egress_per_gb_micros),
        origin_cost_per_request_micros: q
            .origin_cost_per_request_micros
            .unwrap_or(d.origin_cost_per_request_micros),
        cache_cost_per_million_requests_micros: q
            .cache_cost_per_million_requests_micros
            .unwrap_or(d.cache_cost_per_million_requests_micros),
        cache_egress_per_gb_micros: q
            .cache_egress_per_gb_micros
            .unwrap_or(d.cache_egress_per_gb_micros),
    };
    for (field, v) in [
        ("origin_egress_per_gb_micros", a.origin_egress_per_gb_micros),
        (
            "origin_cost_per_request_micros",
            a.origin_cost_per_request_micros,
        ),
        (
            "cache_cost_per_million_requests_micros",
            a.cache_cost_per_million_requests_micros,
        ),
        ("cache_egress_per_gb_micros", a.cache_egress_per_gb_micros),
    ] {
        if v < 0 {
            return Err(crate::domain::ValidationError::new(field, "must not be negative").into());
        }
    }
    let window = Window::parse(q.from, q.to, Granularity::Day)?;
    let (totals, s) = usage.savings(&tenant, window, a).await?;
    Ok(Json(SavingsView {
        tenant_id: tenant.to_string(),
        from: window.from,
        to: window.to,
        assumptions: a,
        usage: (&totals).into(),
        hit_bytes: totals.hit_bytes,
        avoided_micros: s.avoided_micros,
        cache_cost_micros: s.cache_cost_micros,
        net_savings_micros: s.net_micros,
        net_savings_usd: crate::domain::money::micros_decimal(s.net_micros),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LimitView {
    pub limit: i64,
    pub used: i64,
    pub remaining: i64,
    pub reset_at: Option<DateTime<Utc>>,
}

impl From<crate::services::limits::LimitState> for LimitView {
    fn from(s: crate::services::limits::LimitState) -> Self {
        Self {
            limit: s.limit,
            used: s.used,
            remaining: s.remaining,
            reset_at: s.reset_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubjectLimitsView {
    pub key_id: String,
    /// The key's own tenant (differs from the reported tenant on pooled keys).
    pub key_tenant_id: String,
    pub pooled: bool,
    pub per_second: LimitView,
    pub monthly: LimitView,
    pub concurrent: LimitView,
    pub max_payload_bytes: i64,
    /// The key's own per-second figure over every tenant it serves
    /// together (absent when it has none); a request needs room in both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overall_per_second: Option<LimitView>,
    /// The key's own monthly quota over every tenant it serves together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overall_monthly: Option<LimitView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RateLimitView {
    pub tenant_id: String,
    pub plan: String,
    /// The tenant's cached responses in the store, all namespaces together.
    pub storage: StorageView,
    pub keys: Vec<SubjectLimitsView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StorageView {
    pub used_bytes: i64,
    /// The plan's `max_cached_bytes`; a `set` that would pass it is refused
    /// with 413 `STORAGE_QUOTA_EXCEEDED`.
    pub quota_bytes: i64,
}

/// The state of every limit applying to a tenant, per key that reaches its namespaces.
#[utoipa::path(
    get,
    path = "/api/ratelimit/{tenant_id}",
    tag = "usage",
    params(("tenant_id" = TenantId, Path)),
    security(("operator_token" = ["analytics:read"])),
    responses(
        (status = 200, body = RateLimitView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn rate_limit(
    State(data_plane): State<DataPlane>,
    operator: TenantOperator<needs::AnalyticsRead>,
    Path(tenant): Path<String>,
) -> Result<Json<RateLimitView>, ApiError> {
    let tenant = TenantId::parse(tenant)?;
    operator.check(&tenant).await?;
    let limits = data_plane.rate_limits(&tenant).await?;
    Ok(Json(RateLimitView {
        tenant_id: tenant.to_string(),
        plan: limits.plan.to_string(),
        storage: StorageView {
            used_bytes: limits.storage.used_bytes,
            quota_bytes: limits.storage.quota_bytes,
        },
        keys: limits
            .subjects
            .into_iter()
            // A pooled key of a tenant outside the token's scope is not shown.
            .filter(|s| operator.covers(&s.key_tenant))
            .map(|s| SubjectLimitsView {
                key_id: s.key_id.to_string(),
                key_tenant_id: s.key_tenant.to_string(),
                pooled: s.pooled,
                per_second: s.per_second.into(),
                monthly: s.monthly.into(),
                concurrent: s.concurrent.into(),
                max_payload_bytes: s.max_payload_bytes,
                overall_per_second: s.overall_per_second.map(Into::into),
                overall_monthly: s.overall_monthly.map(Into::into),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlushResponse {
    pub flushed: bool,
    /// Records dropped because the queue was full, since start-up.
    pub dropped: u64,
}

/// Write every queued usage record now (normally at most 0.5 s away).
#[utoipa::path(
    post,
    path = "/api/usage/flush",
    tag = "usage",
    security(("operator_token" = ["usage:write"])),
    responses((status = 200, body = FlushResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn flush(
    State(state): State<AppState>,
    _operator: Operator<needs::UsageWrite>,
) -> Json<FlushResponse> {
    state.core.usage.flush().await;
    Json(FlushResponse {
        flushed: true,
        dropped: state.core.usage.dropped(),
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    pub name: String,
    pub requests_per_month: i64,
    pub requests_per_second: i64,
    pub concurrent_requests: i64,
    pub max_payload_bytes: i64,
    pub max_cached_bytes: i64,
}

impl PlanView {
    fn new(plan: Plan, l: PlanLimits) -> Self {
        Self {
            name: plan.to_string(),
            requests_per_month: l.requests_per_month,
            requests_per_second: l.requests_per_second,
            concurrent_requests: l.concurrent_requests,
            max_payload_bytes: l.max_payload_bytes,
            max_cached_bytes: l.max_cached_bytes,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanList {
    pub plans: Vec<PlanView>,
}

/// The plans and their limits.
#[utoipa::path(
    get,
    path = "/api/plans",
    tag = "plans",
    security(("operator_token" = ["billing:read"])),
    responses((status = 200, body = PlanList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_plans(
    State(state): State<AppState>,
    _operator: Operator<needs::BillingRead>,
) -> Json<PlanList> {
    Json(PlanList {
        plans: state
            .core
            .plans
            .plans()
            .into_iter()
            .map(|(p, l)| PlanView::new(p, l))
            .collect(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PlanBody {
    #[schema(minimum = 1)]
    pub requests_per_month: i64,
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub requests_per_second: i64,
    #[schema(minimum = 1)]
    pub concurrent_requests: i64,
    /// At most 4 GiB.
    #[schema(minimum = 1, maximum = 4294967296_i64)]
    pub max_payload_bytes: i64,
    /// Bytes a tenant's cached responses may take; unchanged when absent.
    #[schema(minimum = 1)]
    pub max_cached_bytes: Option<i64>,
}

/// Change a plan's limits (from the next request on).
#[utoipa::path(
    put,
    path = "/api/plans/{name}",
    tag = "plans",
    params(("name" = Plan, Path)),
    request_body = PlanBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = PlanView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn update_plan(
    State(plans): State<Plans>,
    operator: Operator<needs::BillingWrite>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PlanBody>,
) -> Result<Json<PlanView>, ApiError> {
    let plan = Plan::parse_field("name", &name)?;
    let limits = PlanLimits {
        requests_per_month: body.requests_per_month,
        requests_per_second: body.requests_per_second,
        concurrent_requests: body.concurrent_requests,
        max_payload_bytes: body.max_payload_bytes,
        max_cached_bytes: body
            .max_cached_bytes
            .unwrap_or(plans.plan_limits(plan).max_cached_bytes),
    };
    let limits = plans.update_plan(plan, limits, &operator.actor).await?;
    Ok(Json(PlanView::new(plan, limits)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatsView {
    /// Store reads made to fill the key caches since start-up.
    pub key_store_reads: u64,
    /// Usage records dropped because the writer's queue was full.
    pub usage_records_dropped: u64,
    /// Bytes held by the response cache's memory tier.
    pub cache_memory_bytes: u64,
    pub retention: RetentionView,
}

/// How long records are kept, and what this replica's last pass removed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RetentionView {
    pub usage_record_days: u64,
    pub usage_event_days: u64,
    /// At least 365.
    pub audit_days: u64,
    /// When this replica last applied it (hourly; null before the first pass).
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_removed_usage_records: u64,
    pub last_removed_usage_events: u64,
    pub last_removed_audit_records: u64,
}

/// Operational counters of this instance.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "usage",
    security(("operator_token" = ["analytics:read"])),
    responses((status = 200, body = StatsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn stats(
    State(state): State<AppState>,
    _operator: Operator<needs::AnalyticsRead>,
) -> Json<StatsView> {
    let s = state.core.stats();
    let r = state.core.retention.report();
    let last_run_at = r.last_run.as_ref().map(|run| run.at);
    let last = r.last_run.unwrap_or_default();
    Json(StatsView {
        key_store_reads: s.key_store_reads,
        usage_records_dropped: s.usage_records_dropped,
        cache_memory_bytes: s.cache_memory_bytes,
        retention: RetentionView {
            usage_record_days: r.policy.usage_record_days,
            usage_event_days: r.policy.usage_event_days,
            audit_days: r.policy.audit_days,
            last_run_at,
            last_removed_usage_records: last.usage_records,
            last_removed_usage_events: last.usage_events,
            last_removed_audit_records: last.audit_records,
        },
    })
}
