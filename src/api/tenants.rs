//! `/api/tenants`: list, inspect, change plan or status.

use super::access::{needs, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::namespaces::NamespaceView;
use super::schemas::{AnalyticsDay, DisplayName, TenantStatusName};
use crate::domain::access::Permission;
use crate::domain::ids::TenantId;
use crate::domain::plan::{Plan, PlanLimits};
use crate::domain::tenant::{parse_display_name, Tenant, TenantStatus};
use crate::domain::ValidationError;
use crate::services::tenants::TenantChanges;
use crate::services::tenants::Tenants;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    pub name: String,
    /// free | pro | enterprise
    pub plan: String,
    pub parent_id: Option<String>,
    /// active | suspended
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            plan: t.plan.to_string(),
            parent_id: t.parent_id.map(|p| p.to_string()),
            status: t.status.as_str().to_string(),
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantListQuery {
    /// Only tenants on this plan.
    #[param(value_type = Option<Plan>)]
    pub plan: Option<String>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
    /// All tenants matching the filter, across pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// List tenants in id order.
#[utoipa::path(
    get,
    path = "/api/tenants",
    tag = "tenants",
    params(TenantListQuery),
    security(("operator_token" = ["tenants:read"])),
    responses(
        (status = 200, body = TenantList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_tenants(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsRead>,
    ApiQuery(query): ApiQuery<TenantListQuery>,
) -> Result<Json<TenantList>, ApiError> {
    let plan = query
        .plan
        .map(|p| Plan::parse_field("plan", &p))
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ValidationError::new("limit", "must be between 1 and 1000").into());
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ValidationError::new("offset", "must not be negative").into());
    }
    let (tenants, total) = tenants
        .list_tenants(plan, &operator.grants.tenants, limit, offset)
        .await?;
    Ok(Json(TenantList {
        tenants: tenants.into_iter().map(TenantView::from).collect(),
        total,
        limit,
        offset,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LimitsView {
    pub requests_per_month: i64,
    pub requests_per_second: i64,
    pub concurrent_requests: i64,
    pub max_payload_bytes: i64,
    pub max_cached_bytes: i64,
}

impl From<PlanLimits> for LimitsView {
    fn from(l: PlanLimits) -> Self {
        Self {
            requests_per_month: l.requests_per_month,
            requests_per_second: l.requests_per_second,
            concurrent_requests: l.concurrent_requests,
            max_payload_bytes: l.max_payload_bytes,
            max_cached_bytes: l.max_cached_bytes,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantDetailView {
    #[serde(flatten)]
    pub tenant: TenantView,
    /// The limits of the tenant's plan.
    pub limits: LimitsView,
    pub namespaces: Vec<NamespaceView>,
    pub key_count: usize,
    /// Whether its invoice carries its sub-organisations' charges (they then get none of their own).
    pub invoices_children: bool,
}

fn tenant_id(raw: String) -> Result<TenantId, ApiError> {
    Ok(TenantId::parse(raw)?)
}

/// One tenant with its plan limits, namespaces and number of keys.
#[utoipa::path(
    get,
    path = "/api/tenants/{id}",
    tag = "tenants",
    params(("id" = TenantId, Path, description = "Tenant id")),
    security(("operator_token" = ["tenants:read"])),
    responses(
        (status = 200, body = TenantDetailView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn get_tenant(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsRead>,
    Path(raw): Path<String>,
) -> Result<Json<TenantDetailView>, ApiError> {
    let id = tenant_id(raw)?;
    operator.check(&id).await?;
    let detail = tenants.tenant_detail(&id).await?;
    Ok(Json(TenantDetailView {
        tenant: detail.tenant.into(),
        limits: detail.limits.into(),
        namespaces: detail.namespaces.into_iter().map(Into::into).collect(),
        key_count: detail.key_count,
        invoices_children: detail.invoices_children,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TenantPatch {
    #[schema(value_type = Option<DisplayName>)]
    pub name: Option<String>,
    #[schema(value_type = Option<Plan>)]
    pub plan: Option<String>,
    /// The day (UTC) the plan change counts from for billing: today by
    /// default, or an earlier day to correct the plan history (days from it
    /// on are billed on the new plan; limits change now either way).
    #[serde(default)]
    #[schema(value_type = Option<AnalyticsDay>)]
    pub plan_effective_from: Option<chrono::NaiveDate>,
    /// `true`: this tenant's invoice carries its sub-organisations' charges
    /// (all levels below it; they get no invoice of their own).
    #[serde(default)]
    pub invoices_children: Option<bool>,
    /// active | suspended (a suspended tenant's keys are refused as DISABLED)
    #[schema(value_type = Option<TenantStatusName>)]
    pub status: Option<String>,
    /// Move the tenant under this parent organisation; `null` makes it a
    /// top-level tenant. A parent below the tenant is `409 PARENT_CYCLE`.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<TenantId>, nullable)]
    pub parent_id: Option<Option<String>>,
}

impl TryFrom<TenantPatch> for TenantChanges {
    type Error = ValidationError;
    fn try_from(p: TenantPatch) -> Result<Self, Self::Error> {
        Ok(Self {
            name: p.name.map(|n| parse_display_name("name", &n)).transpose()?,
            plan: p.plan.map(|v| Plan::parse_field("plan", &v)).transpose()?,
            status: p
                .status
                .map(|v| TenantStatus::parse_field("status", &v))
                .transpose()?,
            parent: p
                .parent_id
                .map(|p| p.map(|p| TenantId::parse_field("parent_id", p)).transpose())
                .transpose()?,
            plan_from: p.plan_effective_from,
            invoices_children: p.invoices_children,
        })
    }
}

/// Rename a tenant, change its plan, suspend / reactivate it, or move it
/// under another parent. `plan_effective_from` goes with `plan` and lies on
/// or before today (422 otherwise), and after any period already invoiced
/// (409 `PERIOD_INVOICED`); it and `invoices_children` also need `billing:write`.
#[utoipa::path(
    patch,
    path = "/api/tenants/{id}",
    tag = "tenants",
    params(("id" = TenantId, Path, description = "Tenant id")),
    request_body = TenantPatch,
    security(("operator_token" = ["tenants:write"])),
    responses(
        (status = 200, body = TenantView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_tenant(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsWrite>,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> Result<Json<TenantView>, ApiError> {
    let id = tenant_id(raw)?;
    operator.check(&id).await?;
    let changes = TenantChanges::try_from(patch)?;
    if let Some(Some(parent)) = &changes.parent {
        operator.check(parent).await?;
    }
    // What is billed changes: dating a plan change back, or who invoices whom.
    if changes.plan_from.is_some() || changes.invoices_children.is_some() {
        operator.also_needs(Permission::BillingWrite).await?;
    }
    Ok(Json(
        tenants
            .update_tenant(&id, changes, &operator.actor)
            .await?
            .into(),
    ))
}

/// What an erasure removed (invoices and the audit trail stay).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErasedView {
    pub tenant_id: String,
    pub keys: u64,
    pub namespaces: u64,
    pub cached_entries: u64,
    pub provider_secrets: u64,
    pub usage_records: u64,
    pub usage_rollups: u64,
    pub usage_events: u64,
    pub cost_rollups: u64,
}

/// Erase a tenant: its keys (refused from the next request), namespaces and
/// cached responses, provider secrets, usage and cost data are deleted; its
/// invoices are kept for legal retention, and the audit trail keeps one
/// `tenant.erase` record. Refused (409 `TENANT_HAS_CHILDREN`) while it has
/// sub-organisations.
#[utoipa::path(
    delete,
    path = "/api/tenants/{id}",
    tag = "tenants",
    params(("id" = TenantId, Path, description = "Tenant id")),
    security(("operator_token" = ["tenants:write"])),
    responses(
        (status = 200, body = ErasedView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn erase_tenant(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsWrite>,
    Path(raw): Path<String>,
) -> Result<Json<ErasedView>, ApiError> {
    let id = tenant_id(raw)?;
    operator.check(&id).await?;
    let e = tenants.erase_tenant(&id, &operator.actor).await?;
    Ok(Json(ErasedView {
        tenant_id: id.to_string(),
        keys: e.keys,
        namespaces: e.namespaces,
        cached_entries: e.cached_entries,
        provider_secrets: e.provider_secrets,
        usage_records: e.usage_records,
        usage_rollups: e.usage_rollups,
        usage_events: e.usage_events,
        cost_rollups: e.cost_rollups,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChildrenView {
    pub tenant_id: String,
    pub children: Vec<TenantView>,
}

/// A tenant's direct sub-organisations.
#[utoipa::path(
    get,
    path = "/api/tenants/{id}/children",
    tag = "tenants",
    params(("id" = TenantId, Path, description = "Tenant id")),
    security(("operator_token" = ["tenants:read"])),
    responses(
        (status = 200, body = ChildrenView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn tenant_children(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsRead>,
    Path(raw): Path<String>,
) -> Result<Json<ChildrenView>, ApiError> {
    let id = tenant_id(raw)?;
    operator.check(&id).await?;
    let children = tenants.children(&id).await?;
    Ok(Json(ChildrenView {
        tenant_id: id.to_string(),
        children: children
            .into_iter()
            .filter(|c| operator.covers(&c.id))
            .map(Into::into)
            .collect(),
    }))
}
