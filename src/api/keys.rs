//! `/api/keys`: list, inspect, verify, rotate, disable, enable.

use super::access::{needs, Needs, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, OptionalJson};
use super::schemas::{KeyPermission, NamespaceScope, Timestamp};
use crate::domain::api_key::{ApiKey, KeyStatus, Permission, Rotation, SecretState, VerifyCode};
use crate::domain::ids::{KeyId, NamespaceName, TenantId};
use crate::domain::namespace::NamespacePattern;
use crate::services;
use crate::services::keys::KeyChanges;
use crate::services::keys::Keys;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A key as management calls show it: never the secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub tenant_id: String,
    pub integration: String,
    pub project_id: String,
    pub scopes: Vec<String>,
    /// active | disabled | revoked
    pub status: String,
    pub name: String,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Rights beyond the data plane.
    pub permissions: Vec<String>,
    /// Per-key monthly quota override, if any.
    pub rate_limit: Option<i64>,
    /// The key's per-second figure over every tenant it serves, if any.
    pub overall_requests_per_second: Option<i64>,
    /// The key's monthly quota over every tenant it serves, if any.
    pub overall_requests_per_month: Option<i64>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Display prefix of the current secret version.
    pub display_prefix: Option<String>,
    pub versions: Vec<VersionView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    /// When this version stops (stopped) being accepted; null for the current one.
    pub expires_at: Option<DateTime<Utc>>,
    pub state: SecretState,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        let now = services::now();
        Self {
            display_prefix: key.current_version().map(|v| v.display_prefix.clone()),
            key_id: key.id.to_string(),
            tenant_id: key.tenant_id.to_string(),
            integration: key.integration.to_string(),
            project_id: key.project_id.to_string(),
            scopes: key.scopes.iter().map(ToString::to_string).collect(),
            status: key.status.as_str().to_string(),
            name: key.name,
            metadata: key.metadata,
            permissions: key
                .permissions
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            rate_limit: key.rate_limit,
            overall_requests_per_second: key.overall.requests_per_second,
            overall_requests_per_month: key.overall.requests_per_month,
            expires_at: key.expires_at,
            created_at: key.created_at,
            updated_at: key.updated_at,
            versions: key
                .versions
                .into_iter()
                .map(|v| VersionView {
                    state: v.state(now),
                    version: v.version,
                    display_prefix: v.display_prefix,
                    created_at: v.created_at,
                    expires_at: v.expires_at,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Only this tenant's keys.
    #[param(value_type = Option<TenantId>)]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// List keys, optionally of one tenant. Secrets are never included.
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    params(KeyListQuery),
    security(("operator_token" = ["keys:read"])),
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_keys(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysRead>,
    ApiQuery(query): ApiQuery<KeyListQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let asked = query.tenant_id.map(TenantId::parse).transpose()?;
    let tenant = operator.narrow(asked).await?;
    let keys = keys.list_keys(tenant.as_ref()).await?;
    Ok(Json(KeyList {
        keys: keys
            .into_iter()
            .filter(|k| operator.covers(&k.tenant_id))
            .map(KeyView::from)
            .collect(),
    }))
}

fn key_id(raw: String) -> Result<KeyId, ApiError> {
    Ok(KeyId::parse(raw)?)
}

/// The key with this id, when the operator may touch its tenant.
async fn key_in_scope<P: Needs>(
    keys: &Keys,
    operator: &TenantOperator<P>,
    raw: String,
) -> Result<ApiKey, ApiError> {
    let key = keys.get_key(&key_id(raw)?).await?;
    operator.check(&key.tenant_id).await?;
    Ok(key)
}

/// What to change on a key; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// Replaces the key's labels (up to 50 string pairs).
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub metadata: Option<crate::domain::api_key::Metadata>,
    /// The key's monthly quota override; `null` falls back to the plan's figure.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_i64, nullable)]
    pub rate_limit: Option<Option<i64>>,
    /// The key's per-second figure over every tenant it serves together;
    /// `null` removes it.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10_000_000, nullable)]
    pub overall_requests_per_second: Option<Option<i64>>,
    /// The key's monthly quota over every tenant it serves together; `null`
    /// removes it.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000_000_i64, nullable)]
    pub overall_requests_per_month: Option<Option<i64>>,
    /// When the key stops working (in the future); `null` for never.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(value_type = Option<Timestamp>, nullable)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// Replaces the key's namespaces and patterns (at least one).
    #[schema(inline, value_type = Option<Vec<NamespaceScope>>)]
    pub scopes: Option<Vec<String>>,
    /// Replaces the key's rights beyond the data plane.
    #[schema(inline, value_type = Option<Vec<KeyPermission>>)]
    pub permissions: Option<Vec<String>>,
}

impl TryFrom<KeyPatch> for KeyChanges {
    type Error = crate::domain::ValidationError;
    fn try_from(p: KeyPatch) -> Result<Self, Self::Error> {
        Ok(Self {
            name: p.name,
            metadata: p.metadata,
            rate_limit: p.rate_limit,
            overall_per_second: p.overall_requests_per_second,
            overall_monthly: p.overall_requests_per_month,
            expires_at: p.expires_at,
            scopes: p
                .scopes
                .map(|s| s.into_iter().map(NamespacePattern::parse).collect())
                .transpose()?,
            permissions: p
                .permissions
                .map(|ps| ps.iter().map(|p| Permission::parse(p)).collect())
                .transpose()?,
        })
    }
}

/// Change a key's name, labels, monthly quota, expiry, scopes or
/// permissions: in force from the next request on, on every replica.
#[utoipa::path(
    patch,
    path = "/api/keys/{key_id}",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    request_body = KeyPatch,
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The key is revoked", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_key(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysWrite>,
    Path(raw): Path<String>,
    ApiJson(patch): ApiJson<KeyPatch>,
) -> Result<Json<KeyView>, ApiError> {
    let key = key_in_scope(&keys, &operator, raw).await?;
    let changes = KeyChanges::try_from(patch)?;
    if let Some(permissions) = &changes.permissions {
        operator.may_grant_key(&key.tenant_id, permissions).await?;
    }
    if changes.scopes.is_some() && !operator.covers_every_tenant() {
        // Patterns can reach other tenants' namespaces (pooled keys).
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "TENANT_RESTRICTED",
            "a tenant-restricted token cannot change a key's scopes",
        ));
    }
    Ok(Json(
        keys.update_key(&key.id, changes, &operator.actor)
            .await?
            .into(),
    ))
}

/// Revoke a key for good: every secret version stops at once (`KEY_REVOKED`
/// on the next request, on every replica); the key stays listed with status
/// `revoked`, and its history stays in usage and the audit trail.
#[utoipa::path(
    delete,
    path = "/api/keys/{key_id}",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn revoke_key(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysWrite>,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let key = key_in_scope(&keys, &operator, raw).await?;
    Ok(Json(
        keys.revoke_key(&key.id, &operator.actor).await?.into(),
    ))
}

/// One key with its secret versions and their states.
#[utoipa::path(
    get,
    path = "/api/keys/{key_id}",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("operator_token" = ["keys:read"])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn get_key(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysRead>,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    Ok(Json(key_in_scope(&keys, &operator, raw).await?.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyBody {
    /// The full API key to check.
    pub key: String,
    /// Also check that the key may touch this namespace.
    #[schema(value_type = Option<NamespaceName>)]
    pub namespace: Option<String>,
}
crate::debug_without_secrets!(VerifyBody { namespace });

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: VerifyCode,
    pub key_id: Option<String>,
    pub tenant_id: Option<String>,
    pub namespace: Option<String>,
    /// The tenant owning `namespace` (usage is attributed to it on pooled
    /// keys); only when `code` is `VALID`.
    pub namespace_tenant_id: Option<String>,
    pub tier: Option<String>,
    /// The secret version presented.
    pub version: Option<i64>,
}

/// Verify a key (and optionally its right to a namespace). Needs no root
/// token: the key is the credential. Always 200 for a well-formed request.
#[utoipa::path(
    post,
    path = "/api/keys/verify",
    tag = "keys",
    request_body = VerifyBody,
    responses(
        (status = 200, body = VerifyResponse),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn verify_key(
    State(keys): State<Keys>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let namespace = body.namespace.map(NamespaceName::parse).transpose()?;
    let v = keys.verify(&body.key, namespace).await?;
    Ok(Json(VerifyResponse {
        valid: v.code.is_valid(),
        code: v.code,
        key_id: v.key_id.map(|k| k.to_string()),
        tenant_id: v.tenant_id.map(|t| t.to_string()),
        namespace: v.namespace.map(|n| n.to_string()),
        // Only for a namespace the key may use: otherwise the answer would
        // tell a key's holder who owns any namespace name they guess.
        namespace_tenant_id: v
            .namespace_tenant_id
            .filter(|_| v.code.is_valid())
            .map(|t| t.to_string()),
        tier: v.plan.map(|p| p.to_string()),
        version: v.version,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RotateBody {
    /// How long the previous secret keeps working (default 86400, at most 30 days).
    #[schema(minimum = 0, maximum = 2592000)]
    pub grace_seconds: Option<i64>,
    /// Retire every previous secret at once (e.g. after a leak).
    #[serde(default)]
    pub immediate: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RotateResponse {
    /// The new full key. Shown this once.
    pub api_key: String,
    /// Unchanged by rotation.
    pub key_id: String,
    pub version: i64,
    pub display_prefix: String,
    /// When the previous secret stops working.
    pub previous_expires_at: DateTime<Utc>,
}
crate::debug_without_secrets!(RotateResponse {
    key_id,
    version,
    display_prefix,
    previous_expires_at
});

/// Rotate a key: a new secret version under the same key id; the old one
/// keeps working until its grace period ends.
#[utoipa::path(
    post,
    path = "/api/keys/{key_id}/rotate",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    request_body(content = Option<RotateBody>, description = "Optional"),
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = RotateResponse),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 409, description = "KEY_REVOKED: the key was revoked for good", body = ErrorBody),
    )
)]
pub async fn rotate_key(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysWrite>,
    Path(raw): Path<String>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> Result<Json<RotateResponse>, ApiError> {
    let key = key_in_scope(&keys, &operator, raw).await?;
    let rotation = Rotation::parse(body.grace_seconds, body.immediate)?;
    let done = keys.rotate(&key.id, rotation, &operator.actor).await?;
    Ok(Json(RotateResponse {
        display_prefix: done.api_key.display_prefix(),
        api_key: done.api_key.expose().to_string(),
        key_id: done.key_id.to_string(),
        version: done.version,
        previous_expires_at: done.previous_expires_at,
    }))
}

async fn set_status(
    keys: Keys,
    operator: TenantOperator<needs::KeysWrite>,
    raw: String,
    status: KeyStatus,
) -> Result<Json<KeyView>, ApiError> {
    let key = key_in_scope(&keys, &operator, raw).await?;
    Ok(Json(
        keys.set_key_status(&key.id, status, &operator.actor)
            .await?
            .into(),
    ))
}

/// Disable a key: refused from the very next request on.
#[utoipa::path(
    post,
    path = "/api/keys/{key_id}/disable",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 409, description = "KEY_REVOKED: the key was revoked for good", body = ErrorBody),
    )
)]
pub async fn disable_key(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysWrite>,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_status(keys, operator, raw, KeyStatus::Disabled).await
}

/// Enable a disabled key again.
#[utoipa::path(
    post,
    path = "/api/keys/{key_id}/enable",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 409, description = "KEY_REVOKED: the key was revoked for good", body = ErrorBody),
    )
)]
pub async fn enable_key(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysWrite>,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_status(keys, operator, raw, KeyStatus::Active).await
}

/// A rotation policy: rotate every this many days (null: no policy).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationPolicy {
    #[schema(minimum = 1, maximum = 3650)]
    pub rotate_every_days: Option<i64>,
}

/// Sets a key's rotation policy: the `rotate_keys` job rotates it when its
/// newest secret is this many days old, keeps the old one for the job's
/// grace, and sends the new secret sealed to the webhooks subscribed to
/// `key.secret_rotated`.
#[utoipa::path(
    put,
    path = "/api/keys/{key_id}/rotation-policy",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    request_body = RotationPolicy,
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = RotationPolicy),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_rotation_policy(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysWrite>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<RotationPolicy>,
) -> Result<Json<RotationPolicy>, ApiError> {
    let key = key_in_scope(&keys, &operator, raw).await?;
    let days = keys
        .set_rotation_policy(&key.id, body.rotate_every_days, &operator.actor)
        .await?;
    Ok(Json(RotationPolicy {
        rotate_every_days: days,
    }))
}

#[utoipa::path(
    get,
    path = "/api/keys/{key_id}/rotation-policy",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("operator_token" = ["keys:read"])),
    responses(
        (status = 200, body = RotationPolicy),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn rotation_policy(
    State(keys): State<Keys>,
    operator: TenantOperator<needs::KeysRead>,
    Path(raw): Path<String>,
) -> Result<Json<RotationPolicy>, ApiError> {
    let key = key_in_scope(&keys, &operator, raw).await?;
    Ok(Json(RotationPolicy {
        rotate_every_days: keys.rotation_policy(&key.id).await?,
    }))
}

/// Sets a plan's rotation policy, for its keys without their own.
#[utoipa::path(
    put,
    path = "/api/plans/{name}/rotation-policy",
    tag = "keys",
    params(("name" = crate::domain::plan::Plan, Path)),
    request_body = RotationPolicy,
    security(("operator_token" = ["keys:write"])),
    responses(
        (status = 200, body = RotationPolicy),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_plan_rotation_policy(
    State(keys): State<Keys>,
    operator: super::access::Operator<needs::KeysWrite>,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<RotationPolicy>,
) -> Result<Json<RotationPolicy>, ApiError> {
    let plan = crate::domain::plan::Plan::parse_field("name", &raw)?;
    let days = keys
        .set_plan_rotation_policy(plan, body.rotate_every_days, &operator.actor)
        .await?;
    Ok(Json(RotationPolicy {
        rotate_every_days: days,
    }))
}
