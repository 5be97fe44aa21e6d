//! `/api/tokens`: operator tokens (create, list, revoke), and
//! `/api/root-token`: turning the bootstrap root token off and on.

use super::access::{needs, Operator};
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::schemas::{DisplayName, OperatorPermission, TenantScopeText, Timestamp};
use crate::domain::access::OperatorToken;
use crate::services::operators::{NewToken, Operators};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An operator token as listed: never its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// `tok_...`: how the token appears in the audit trail (`token:<id>`).
    pub id: String,
    pub name: String,
    /// `kwt_` and the first characters of the secret.
    pub display_prefix: String,
    #[schema(value_type = Vec<OperatorPermission>)]
    pub permissions: Vec<String>,
    /// One tenant, or `prefix*`; null for every tenant.
    #[schema(value_type = Option<TenantScopeText>)]
    pub tenant_scope: Option<String>,
    /// Holds `secrets:read` over every tenant (granted only by name).
    pub reads_every_tenants_secrets: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// active | expired | revoked
    pub state: String,
}

impl From<OperatorToken> for TokenView {
    fn from(t: OperatorToken) -> Self {
        let state = t.state(crate::services::now());
        Self {
            reads_every_tenants_secrets: t.grants.reads_every_tenants_secrets(),
            permissions: t
                .grants
                .permissions
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            tenant_scope: t.grants.tenants.to_stored(),
            id: t.id,
            name: t.name,
            display_prefix: t.display_prefix,
            expires_at: t.expires_at,
            created_at: t.created_at,
            created_by: t.created_by,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            state: state.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[schema(value_type = DisplayName)]
    pub name: String,
    #[schema(value_type = Vec<OperatorPermission>, min_items = 1)]
    pub permissions: Vec<String>,
    /// Restrict the token to one tenant (`acme`) or an id prefix (`acme-*`).
    #[schema(value_type = Option<TenantScopeText>)]
    pub tenant_scope: Option<String>,
    #[schema(value_type = Option<Timestamp>)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Needed, and only then allowed, for `secrets:read` without a tenant scope.
    #[serde(default)]
    pub all_tenants_secrets: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedTokenView {
    /// The whole token. Shown this once; only its digest is kept.
    pub token: String,
    #[serde(flatten)]
    pub view: TokenView,
}
crate::debug_without_secrets!(CreatedTokenView { view });

/// Create an operator token holding some permissions (no more than the caller holds).
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "tokens",
    request_body = TokenBody,
    security(("operator_token" = ["tokens:write"])),
    responses(
        (status = 201, body = CreatedTokenView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_token(
    State(operators): State<Operators>,
    operator: Operator<needs::TokensWrite>,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<(StatusCode, Json<CreatedTokenView>), ApiError> {
    let new = NewToken {
        name: body.name,
        permissions: body.permissions,
        tenant_scope: body.tenant_scope,
        expires_at: body.expires_at,
        all_tenants_secrets: body.all_tenants_secrets,
    };
    let created = operators
        .create(new, &operator.credential, &operator.actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTokenView {
            token: created.secret.expose().to_string(),
            view: created.token.into(),
        }),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// Every operator token, newest first, revoked and expired ones too.
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "tokens",
    security(("operator_token" = ["tokens:write"])),
    responses(
        (status = 200, body = TokenList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn list_tokens(
    State(operators): State<Operators>,
    _operator: Operator<needs::TokensWrite>,
) -> Result<Json<TokenList>, ApiError> {
    let tokens = operators.list().await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke a token for good: refused from its next request on, on every replica.
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token id (tok_...)")),
    security(("operator_token" = ["tokens:write"])),
    responses(
        (status = 200, body = TokenView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    )
)]
pub async fn revoke_token(
    State(operators): State<Operators>,
    operator: Operator<needs::TokensWrite>,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(operators.revoke(&id, &operator.actor).await?.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RootTokenState {
    /// Whether the bootstrap root token is accepted.
    pub enabled: bool,
}

/// Whether the bootstrap root token is accepted.
#[utoipa::path(
    get,
    path = "/api/root-token",
    tag = "tokens",
    security(("operator_token" = ["tokens:write"])),
    responses(
        (status = 200, body = RootTokenState),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn root_token_state(
    State(operators): State<Operators>,
    _operator: Operator<needs::TokensWrite>,
) -> Result<Json<RootTokenState>, ApiError> {
    Ok(Json(RootTokenState {
        enabled: operators.root_enabled().await?,
    }))
}

/// Turn the root token off (refused with 409 `NO_OPERATOR_TOKEN` unless a
/// live operator token with `tokens:write` over every tenant exists) or on.
#[utoipa::path(
    put,
    path = "/api/root-token",
    tag = "tokens",
    request_body = RootTokenState,
    security(("operator_token" = ["tokens:write"])),
    responses(
        (status = 200, body = RootTokenState),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn set_root_token(
    State(operators): State<Operators>,
    operator: Operator<needs::TokensWrite>,
    ApiJson(body): ApiJson<RootTokenState>,
) -> Result<Json<RootTokenState>, ApiError> {
    operators
        .set_root_enabled(body.enabled, &operator.actor)
        .await?;
    Ok(Json(body))
}
