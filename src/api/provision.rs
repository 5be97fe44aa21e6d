//! `POST /api/provision`: a tenant, its namespace and a key in one call.

use super::access::{needs, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::schemas::{DisplayName, FreeText, KeyPermission, NamespaceScope, Timestamp};
use crate::domain::api_key::{
    check_key_name, check_metadata, check_overall_limits, parse_rate_limit, OverallLimits,
    Permission,
};
use crate::domain::ids::{Integration, NamespaceName, ProjectId, TenantId};
use crate::domain::namespace::NamespacePattern;
use crate::domain::plan::Plan;
use crate::domain::tenant::{parse_display_name, parse_free_text};
use crate::domain::ValidationError;
use crate::services::keys::Keys;
use crate::services::keys::ProvisionRequest;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The design's provisioning body; fields after `rate_limit` are optional extras.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProvisionBody {
    /// The tenant (customer) id; created when it does not exist.
    #[schema(example = "acme", value_type = TenantId)]
    pub user_id: String,
    /// The integration the key is for; it becomes part of the key (`ac_<integration>_...`).
    #[schema(example = "files", value_type = Integration)]
    pub integration: String,
    #[schema(example = "jt", value_type = ProjectId)]
    pub project_id: String,
    /// free | pro | enterprise. Defaults to the tenant's plan, or free for a new tenant.
    #[schema(example = "pro", value_type = Option<Plan>)]
    pub tier: Option<String>,
    /// Monthly request quota for this key, overriding the plan's figure.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub rate_limit: Option<i64>,
    /// The key's own per-second figure over every tenant it serves together
    /// (a pooled key's overall limit, on top of each tenant's plan).
    #[schema(minimum = 1, maximum = 10_000_000)]
    #[serde(default)]
    pub overall_requests_per_second: Option<i64>,
    /// The key's own monthly quota over every tenant it serves together.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(default)]
    pub overall_requests_per_month: Option<i64>,
    /// The tenant's namespace; `<project_id>_<user_id>` when absent (unless `scopes` is given).
    #[schema(value_type = Option<NamespaceName>)]
    pub namespace: Option<String>,
    /// Extra namespace patterns for a pooled key, e.g. `["jt_customer_*"]`:
    /// a namespace name, or a non-empty prefix followed by `*`.
    #[schema(inline, value_type = Option<Vec<NamespaceScope>>)]
    pub scopes: Option<Vec<String>>,
    /// Rights beyond the data plane: `["secrets:read"]` lets the key read its
    /// own tenant's provider secrets.
    #[schema(inline, value_type = Option<Vec<KeyPermission>>)]
    pub permissions: Option<Vec<String>>,
    /// Display name of a new tenant.
    #[schema(value_type = Option<DisplayName>)]
    pub name: Option<String>,
    /// Parent organisation of a new tenant.
    #[schema(value_type = Option<TenantId>)]
    pub parent_id: Option<String>,
    /// When the key stops working; must be in the future.
    #[schema(value_type = Option<Timestamp>)]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<FreeText>)]
    pub sector: Option<String>,
    #[schema(value_type = Option<FreeText>)]
    pub use_case: Option<String>,
    /// The key's own name (e.g. "staging uploads"); changeable with PATCH.
    #[schema(max_length = 100)]
    pub key_name: Option<String>,
    /// The platform's labels for the key: up to 50 string pairs.
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub metadata: Option<crate::domain::api_key::Metadata>,
}

impl TryFrom<ProvisionBody> for ProvisionRequest {
    type Error = ValidationError;

    fn try_from(body: ProvisionBody) -> Result<Self, Self::Error> {
        Ok(Self {
            tenant_id: TenantId::parse_field("user_id", body.user_id)?,
            tenant_name: body
                .name
                .map(|n| parse_display_name("name", &n))
                .transpose()?,
            parent_id: body
                .parent_id
                .map(|p| TenantId::parse_field("parent_id", p))
                .transpose()?,
            integration: Integration::parse(body.integration)?,
            project_id: ProjectId::parse(body.project_id)?,
            plan: body
                .tier
                .map(|t| Plan::parse_field("tier", &t))
                .transpose()?,
            rate_limit: parse_rate_limit(body.rate_limit)?,
            overall: check_overall_limits(OverallLimits {
                requests_per_second: body.overall_requests_per_second,
                requests_per_month: body.overall_requests_per_month,
            })?,
            namespace: body.namespace.map(NamespaceName::parse).transpose()?,
            scopes: body
                .scopes
                .unwrap_or_default()
                .into_iter()
                .map(NamespacePattern::parse)
                .collect::<Result<_, _>>()?,
            permissions: body
                .permissions
                .unwrap_or_default()
                .iter()
                .map(|p| Permission::parse(p))
                .collect::<Result<_, _>>()?,
            expires_at: body.expires_at,
            sector: parse_free_text("sector", body.sector.as_deref().unwrap_or(""))?,
            use_case: parse_free_text("use_case", body.use_case.as_deref().unwrap_or(""))?,
            key_name: check_key_name(body.key_name.as_deref().unwrap_or(""))?,
            metadata: {
                let metadata = body.metadata.unwrap_or_default();
                check_metadata(&metadata)?;
                metadata
            },
        })
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProvisionResponse {
    /// The full key. Shown this once; keyward keeps only a digest.
    pub api_key: String,
    pub key_id: String,
    pub tenant_id: String,
    pub namespace: Option<String>,
    pub tier: String,
    /// The monthly quota in force for this key.
    pub rate_limit: i64,
    pub scopes: Vec<String>,
    pub permissions: Vec<String>,
    pub display_prefix: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}
crate::debug_without_secrets!(ProvisionResponse {
    key_id,
    tenant_id,
    namespace,
    tier,
    rate_limit,
    scopes,
    permissions,
    display_prefix,
    version,
    created_at,
    expires_at
});

/// Provision a key (creating the tenant and namespace when they do not exist).
#[utoipa::path(
    post,
    path = "/api/provision",
    tag = "keys",
    request_body = ProvisionBody,
    security(("operator_token" = ["tenants:write"])),
    responses(
        (status = 201, description = "Key created; `api_key` is shown only now", body = ProvisionResponse),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 403, description = "The token lacks the permission or the tenant", body = ErrorBody),
        (status = 404, description = "Parent tenant not found", body = ErrorBody),
        (status = 409, description = "Namespace taken or plan mismatch", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
    )
)]
pub async fn provision(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::TenantsWrite>,
    ApiJson(body): ApiJson<ProvisionBody>,
) -> Result<(StatusCode, Json<ProvisionResponse>), ApiError> {
    let request = ProvisionRequest::try_from(body)?;
    operator.check(&request.tenant_id).await?;
    if let Some(parent) = &request.parent_id {
        operator.check(parent).await?;
    }
    if !request.scopes.is_empty() && !operator.covers_every_tenant() {
        // Extra namespace patterns make a pooled key, which spans tenants.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "TENANT_RESTRICTED",
            "a tenant-restricted token cannot give a key extra namespace patterns (scopes)",
        ));
    }
    operator
        .may_grant_key(&request.tenant_id, &request.permissions)
        .await?;
    let done = keys.provision(request, &operator.actor).await?;
    let version = done.key.versions.last();
    Ok((
        StatusCode::CREATED,
        Json(ProvisionResponse {
            api_key: done.api_key.expose().to_string(),
            key_id: done.key.id.to_string(),
            tenant_id: done.tenant.id.to_string(),
            namespace: done.namespace.map(|n| n.to_string()),
            tier: done.tenant.plan.to_string(),
            rate_limit: done.monthly_quota,
            scopes: done.key.scopes.iter().map(ToString::to_string).collect(),
            permissions: done
                .key
                .permissions
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            display_prefix: version
                .map(|v| v.display_prefix.clone())
                .unwrap_or_default(),
            version: version.map(|v| v.version).unwrap_or(1),
            created_at: done.key.created_at,
            expires_at: done.key.expires_at,
        }),
    ))
}
