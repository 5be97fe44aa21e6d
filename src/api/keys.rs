//! `/api/keys`: list, inspect, verify, rotate, disable, enable.

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, OptionalJson, RootActor};
use crate::domain::api_key::{ApiKey, KeyStatus, Rotation, SecretState, VerifyCode};
use crate::domain::ids::{KeyId, NamespaceName, TenantId};
use crate::services;
use crate::services::keys::Keys;
use crate::startup::AppState;
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
    /// active | disabled
    pub status: String,
    /// Per-key monthly quota override, if any.
    pub rate_limit: Option<i64>,
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
            rate_limit: key.rate_limit,
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
    security(("root_token" = [])),
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_keys(
    State(keys): State<Keys>,
    _root: RootActor,
    ApiQuery(query): ApiQuery<KeyListQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let tenant = query.tenant_id.map(TenantId::parse).transpose()?;
    let keys = keys.list_keys(tenant.as_ref()).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

fn key_id(raw: String) -> Result<KeyId, ApiError> {
    Ok(KeyId::parse(raw)?)
}

/// One key with its secret versions and their states.
#[utoipa::path(
    get,
    path = "/api/keys/{key_id}",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("root_token" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn get_key(
    State(keys): State<Keys>,
    _root: RootActor,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let id = key_id(raw)?;
    Ok(Json(keys.get_key(&id).await?.into()))
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
    security(("root_token" = [])),
    responses(
        (status = 200, body = RotateResponse),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn rotate_key(
    State(keys): State<Keys>,
    RootActor(actor): RootActor,
    Path(raw): Path<String>,
    OptionalJson(body): OptionalJson<RotateBody>,
) -> Result<Json<RotateResponse>, ApiError> {
    let id = key_id(raw)?;
    let rotation = Rotation::parse(body.grace_seconds, body.immediate)?;
    let done = keys.rotate(&id, rotation, &actor).await?;
    Ok(Json(RotateResponse {
        display_prefix: done.api_key.display_prefix(),
        api_key: done.api_key.expose().to_string(),
        key_id: done.key_id.to_string(),
        version: done.version,
        previous_expires_at: done.previous_expires_at,
    }))
}

async fn set_status(
    state: AppState,
    actor: crate::domain::audit::Actor,
    raw: String,
    status: KeyStatus,
) -> Result<Json<KeyView>, ApiError> {
    let id = key_id(raw)?;
    Ok(Json(
        state
            .core
            .keys
            .set_key_status(&id, status, &actor)
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
    security(("root_token" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn disable_key(
    State(state): State<AppState>,
    RootActor(actor): RootActor,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_status(state, actor, raw, KeyStatus::Disabled).await
}

/// Enable a disabled key again.
#[utoipa::path(
    post,
    path = "/api/keys/{key_id}/enable",
    tag = "keys",
    params(("key_id" = KeyId, Path, description = "The stable key id")),
    security(("root_token" = [])),
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn enable_key(
    State(state): State<AppState>,
    RootActor(actor): RootActor,
    Path(raw): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_status(state, actor, raw, KeyStatus::Active).await
}
