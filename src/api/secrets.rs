//! The provider secret vault over HTTP: tenants' AI provider keys.

use super::access::{admit, needs, Needs, Operator};
use super::error::{ApiError, ErrorBody};
use super::extract::{bearer, request_id, ApiJson, ApiQuery, OptionalJson};
use super::schemas::{FreeText, SecretValue, Tier, Timestamp};
use crate::crypto::operator_token::PlainOperatorToken;
use crate::domain::api_key::{Permission, VerifyCode};
use crate::domain::audit::Actor;
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::pricing::{CostService, Price, PriceUnit, ANY_MODEL};
use crate::domain::secret::{SecretKind, SecretMeta, SecretRef, Service};
use crate::services::costs::Costs;
use crate::services::vault::Caller;
use crate::services::vault::Vault;
use crate::startup::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use utoipa::{IntoParams, ToSchema};

/// An operator (the root token, or an operator token holding `P`; its tenant
/// scope goes to the vault), or a tenant's keyward API key (for its own
/// secrets, as the key's permissions allow).
pub struct SecretCaller<P: Needs>(pub Caller, pub Actor, PhantomData<P>);

impl<P: Needs> FromRequestParts<AppState> for SecretCaller<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "this call needs 'Authorization: Bearer <operator token, root token or API key>'",
            ));
        };
        if PlainOperatorToken::looks_like(token) || state.root.matches(token) {
            let (credential, actor) = admit(parts, state, P::PERMISSION).await?;
            let tenants = credential.grants.tenants;
            return Ok(Self(Caller::Operator { tenants }, actor, PhantomData));
        }
        let request_id = request_id(&parts.headers);
        let v = state.core.keys.verify(token, None).await?;
        match (v.code, v.tenant_id, v.key_id) {
            (VerifyCode::Valid, Some(tenant), Some(key_id)) => Ok(Self(
                Caller::TenantKey {
                    secrets_read: v.permissions.contains(&Permission::SecretsRead),
                    tenant,
                },
                Actor {
                    name: format!("key:{key_id}"),
                    request_id,
                },
                PhantomData,
            )),
            _ => Err(ApiError::unauthorized("the bearer token is not valid")),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveBody {
    /// The end user the key is for (recorded in the audit trail).
    #[schema(value_type = Option<FreeText>)]
    pub user_id: Option<String>,
    /// The tier whose pooled key is the last resort: `free`, `pro`,
    /// `enterprise` or `managed-<plan>` (default: the tenant's plan). A
    /// tenant's own key may not ask for a tier above its tenant's plan.
    #[schema(value_type = Option<Tier>)]
    pub tier: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ResolvedKey {
    pub service: String,
    pub tenant_id: String,
    /// The provider key.
    pub key: String,
    /// customer | managed | pooled: which secret answered.
    pub source: String,
    pub name: String,
    pub version: i64,
}
crate::debug_without_secrets!(ResolvedKey {
    service,
    tenant_id,
    source,
    name,
    version
});

/// Parses a vault administration call's service and tenant and lets only
/// the root token through (a tenant key's attempt is refused and audited).
async fn admin_on(
    state: &AppState,
    caller: &Caller,
    actor: &Actor,
    action: &'static str,
    service: &str,
    tenant: String,
) -> Result<(Service, TenantId), ApiError> {
    let service = Service::parse(service)?;
    let tenant = TenantId::parse(tenant)?;
    state
        .core
        .vault
        .require_vault_admin(caller, actor, action, Some(&tenant), Some(service))
        .await?;
    Ok((service, tenant))
}

fn parse_tier(tier: Option<&str>) -> Result<Option<Plan>, ApiError> {
    Ok(tier.map(|t| Plan::parse_tier("tier", t)).transpose()?)
}

/// A tenant's key for a service: customer key, else managed key, else the
/// platform's pooled key for the tier. Root token, or the tenant's own API
/// key with the `secrets:read` permission; every read and denial is audited.
#[utoipa::path(
    post,
    path = "/api/keys/{service}/{tenant_id}",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    request_body(content = ResolveBody, description = "optional"),
    security(("operator_token" = ["secrets:read"]), ("api_key" = [])),
    responses(
        (status = 200, body = ResolvedKey),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn resolve(
    State(vault): State<Vault>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsRead>,
    Path((service, tenant)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ResolveBody>,
) -> Result<Json<ResolvedKey>, ApiError> {
    let service = Service::parse(&service)?;
    let tenant = TenantId::parse(tenant)?;
    let tier = parse_tier(body.tier.as_deref())?;
    let r = vault
        .resolve_secret(
            &caller,
            &actor,
            service,
            &tenant,
            tier,
            body.user_id.as_deref(),
        )
        .await?;
    Ok(Json(ResolvedKey {
        service: service.to_string(),
        tenant_id: tenant.to_string(),
        key: r.value.to_string(),
        source: r.source.as_str().into(),
        name: r.name,
        version: r.version,
    }))
}

/// A secret as listed: never its value.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub name: String,
    pub service: String,
    /// managed | customer | admin | pooled
    pub kind: String,
    pub tenant_id: Option<String>,
    pub version: i64,
    /// The master key version it is sealed under.
    pub key_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_validated_at: Option<DateTime<Utc>>,
    /// valid | invalid | unavailable
    pub last_validation: Option<String>,
}

impl From<SecretMeta> for SecretView {
    fn from(m: SecretMeta) -> Self {
        Self {
            name: m.name,
            service: m.secret.service.to_string(),
            kind: m.secret.kind.as_str().into(),
            tenant_id: m.secret.owner.tenant().map(|t| t.to_string()),
            version: m.version,
            key_version: m.key_version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            last_validated_at: m.last_validated_at,
            last_validation: m.last_validation.map(|v| v.as_str().into()),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionSecretBody {
    /// Who asked (recorded in the audit trail).
    #[schema(value_type = Option<FreeText>)]
    pub requested_by: Option<String>,
    #[schema(value_type = Option<Tier>)]
    pub tier: Option<String>,
}

/// Mint a managed key for the tenant at the provider (providers with a key
/// management API: Hume), with the tenant's or the platform's admin credentials.
#[utoipa::path(
    post,
    path = "/api/keys/{service}/{tenant_id}/provision",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    request_body(content = ProvisionSecretBody, description = "optional"),
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 201, body = SecretView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn provision(
    State(state): State<AppState>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    Path((service, tenant)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<ProvisionSecretBody>,
) -> Result<(StatusCode, Json<SecretView>), ApiError> {
    let (service, tenant) = admin_on(
        &state,
        &caller,
        &actor,
        "secret.provision",
        &service,
        tenant,
    )
    .await?;
    parse_tier(body.tier.as_deref())?;
    let meta = state
        .core
        .vault
        .provision_managed(&actor, service, &tenant, body.requested_by.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(meta.into())))
}

/// Replace the tenant's managed key with a freshly provisioned one (a new version).
#[utoipa::path(
    post,
    path = "/api/keys/{service}/{tenant_id}/rotate",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 200, body = SecretView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn rotate(
    State(state): State<AppState>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    Path((service, tenant)): Path<(String, String)>,
) -> Result<Json<SecretView>, ApiError> {
    let (service, tenant) =
        admin_on(&state, &caller, &actor, "secret.rotate", &service, tenant).await?;
    let meta = state
        .core
        .vault
        .provision_managed(&actor, service, &tenant, Some("rotation"))
        .await?;
    Ok(Json(meta.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct CustomerKeyBody {
    /// The tenant's own provider key; checked with the provider before it is stored.
    #[schema(value_type = SecretValue)]
    pub key: String,
}
crate::debug_without_secrets!(CustomerKeyBody {});

/// Store the tenant's own key (BYOK) after the provider accepts it.
#[utoipa::path(
    put,
    path = "/api/keys/{service}/{tenant_id}/customer",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    request_body = CustomerKeyBody,
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 200, body = SecretView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid body, or the provider refused the key", body = ErrorBody),
        (status = 503, description = "The provider could not be asked", body = ErrorBody),
    )
)]
pub async fn put_customer(
    State(state): State<AppState>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    Path((service, tenant)): Path<(String, String)>,
    ApiJson(body): ApiJson<CustomerKeyBody>,
) -> Result<Json<SecretView>, ApiError> {
    let (service, tenant) =
        admin_on(&state, &caller, &actor, "secret.write", &service, tenant).await?;
    let secret = SecretRef::tenant(service, tenant, SecretKind::Customer);
    let meta = state
        .core
        .vault
        .put_secret(&actor, &secret, &body.key, true)
        .await?;
    Ok(Json(meta.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretDeleted {
    pub name: String,
    pub deleted: bool,
}

/// Delete the tenant's own key (and its kept versions): the tenant falls
/// back to its managed key, then to its tier's pooled key.
#[utoipa::path(
    delete,
    path = "/api/keys/{service}/{tenant_id}/customer",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 200, body = SecretDeleted),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn delete_customer(
    State(vault): State<Vault>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    Path((service, tenant)): Path<(String, String)>,
) -> Result<Json<SecretDeleted>, ApiError> {
    let service = Service::parse(&service)?;
    let tenant = TenantId::parse(tenant)?;
    vault
        .require_vault_admin(
            &caller,
            &actor,
            "secret.delete",
            Some(&tenant),
            Some(service),
        )
        .await?;
    let secret = SecretRef::tenant(service, tenant, SecretKind::Customer);
    vault.delete_secret(&actor, &secret).await?;
    Ok(Json(SecretDeleted {
        name: secret.name(),
        deleted: true,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionsQuery {
    /// managed (default) | customer | admin
    #[param(pattern = "^(managed|customer|admin)$")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PreviousVersionView {
    pub version: i64,
    /// The master key version it is sealed under.
    pub key_version: i64,
    pub created_at: DateTime<Utc>,
    pub replaced_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionsView {
    pub name: String,
    /// The live version.
    pub current: Option<i64>,
    /// Kept previous versions (`KEYWARD_SECRET_VERSIONS_KEPT`), newest first; never values.
    pub previous: Vec<PreviousVersionView>,
}

fn tenant_kind(kind: Option<&str>) -> Result<SecretKind, ApiError> {
    match kind {
        None => Ok(SecretKind::Managed),
        Some(k) => match SecretKind::parse(k)? {
            SecretKind::Pooled => Err(crate::domain::ValidationError::new(
                "kind",
                "pooled keys belong to a tier, not a tenant",
            )
            .into()),
            kind => Ok(kind),
        },
    }
}

/// A tenant's secret's live version and its kept previous versions.
#[utoipa::path(
    get,
    path = "/api/keys/{service}/{tenant_id}/versions",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path), VersionsQuery),
    security(("operator_token" = ["secrets:read"]), ("api_key" = [])),
    responses(
        (status = 200, body = VersionsView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsRead>,
    Path((service, tenant)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Json<VersionsView>, ApiError> {
    let (service, tenant) =
        admin_on(&state, &caller, &actor, "secret.versions", &service, tenant).await?;
    let kind = tenant_kind(q.kind.as_deref())?;
    let secret = SecretRef::tenant(service, tenant.clone(), kind);
    let vault = &state.core.vault;
    let current = vault
        .list_secrets(Some(&tenant))
        .await?
        .into_iter()
        .find(|m| m.secret == secret)
        .map(|m| m.version);
    let previous = vault.previous_versions(&secret).await?;
    if current.is_none() && previous.is_empty() {
        return Err(ApiError::not_found(format!(
            "no secret '{}'",
            secret.name()
        )));
    }
    Ok(Json(VersionsView {
        name: secret.name(),
        current,
        previous: previous
            .into_iter()
            .map(|p| PreviousVersionView {
                version: p.version,
                key_version: p.key_version,
                created_at: p.created_at,
                replaced_at: p.replaced_at,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// managed (default) | customer | admin
    #[schema(pattern = "^(managed|customer|admin)$")]
    pub kind: Option<String>,
    /// A kept previous version (see `.../versions`).
    #[schema(minimum = 1)]
    pub version: i64,
}

/// Make a kept previous version current again (as a new version; the one it
/// replaces is kept in turn). Audited as `secret.rollback`.
#[utoipa::path(
    post,
    path = "/api/keys/{service}/{tenant_id}/rollback",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    request_body = RollbackBody,
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 200, body = SecretView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn rollback(
    State(state): State<AppState>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    Path((service, tenant)): Path<(String, String)>,
    ApiJson(body): ApiJson<RollbackBody>,
) -> Result<Json<SecretView>, ApiError> {
    let (service, tenant) =
        admin_on(&state, &caller, &actor, "secret.rollback", &service, tenant).await?;
    let kind = tenant_kind(body.kind.as_deref())?;
    let secret = SecretRef::tenant(service, tenant, kind);
    let meta = state
        .core
        .vault
        .rollback_secret(&actor, &secret, body.version)
        .await?;
    Ok(Json(meta.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct PutSecretBody {
    #[schema(value_type = Service)]
    pub service: String,
    /// A pooled key takes a `tier` and no `tenant_id`; managed, customer and
    /// admin secrets take a `tenant_id` and no `tier` (admin without either:
    /// the platform's own admin credentials).
    #[schema(value_type = SecretKind)]
    pub kind: String,
    /// The owning tenant (managed, customer, admin). Absent for pooled keys
    /// and for the platform's own admin credentials.
    #[schema(value_type = Option<TenantId>)]
    pub tenant_id: Option<String>,
    /// The tier of a pooled key.
    #[schema(value_type = Option<Plan>)]
    pub tier: Option<String>,
    #[schema(value_type = SecretValue)]
    pub value: String,
    /// Check the key with its provider first (default true).
    pub validate: Option<bool>,
}
crate::debug_without_secrets!(PutSecretBody {
    service,
    kind,
    tenant_id,
    tier,
    validate
});

/// Store any secret: a managed key held for a tenant, admin credentials
/// (a tenant's, or the platform's with no tenant), or a tier's pooled key.
#[utoipa::path(
    put,
    path = "/api/secrets",
    tag = "vault",
    request_body = PutSecretBody,
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 200, body = SecretView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn put_secret(
    State(vault): State<Vault>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    ApiJson(body): ApiJson<PutSecretBody>,
) -> Result<Json<SecretView>, ApiError> {
    let service = Service::parse(&body.service)?;
    let kind = SecretKind::parse(&body.kind)?;
    let invalid = |m: &str| crate::domain::ValidationError::new("kind", m.to_string());
    let secret = match (kind, body.tenant_id, body.tier) {
        (SecretKind::Pooled, None, Some(tier)) => {
            SecretRef::pool(service, Plan::parse_field("tier", &tier)?)
        }
        (SecretKind::Pooled, _, _) => {
            return Err(invalid("a pooled key takes a tier and no tenant_id").into())
        }
        (SecretKind::Admin, None, None) => SecretRef::platform_admin(service),
        (kind, Some(t), None) => {
            SecretRef::tenant(service, TenantId::parse_field("tenant_id", t)?, kind)
        }
        _ => {
            return Err(invalid(
                "give a tenant_id (and no tier) for managed, customer and admin secrets",
            )
            .into())
        }
    };
    vault
        .require_vault_admin(
            &caller,
            &actor,
            "secret.write",
            secret.owner.tenant(),
            Some(service),
        )
        .await?;
    let meta = vault
        .put_secret(&actor, &secret, &body.value, body.validate.unwrap_or(true))
        .await?;
    Ok(Json(meta.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SecretsQuery {
    /// Only this tenant's secrets.
    #[param(value_type = Option<TenantId>)]
    pub tenant_id: Option<String>,
}

/// Secrets' names, kinds, versions and last validation; never their values.
#[utoipa::path(
    get,
    path = "/api/secrets",
    tag = "vault",
    params(SecretsQuery),
    security(("operator_token" = ["secrets:read"]), ("api_key" = [])),
    responses(
        (status = 200, body = Vec<SecretView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn list(
    State(vault): State<Vault>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsRead>,
    ApiQuery(q): ApiQuery<SecretsQuery>,
) -> Result<Json<Vec<SecretView>>, ApiError> {
    let tenant = q.tenant_id.map(TenantId::parse).transpose()?;
    vault
        .require_vault_admin(&caller, &actor, "secret.list", tenant.as_ref(), None)
        .await?;
    let list = vault.list_secrets(tenant.as_ref()).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceView {
    #[schema(example = "openai")]
    pub service: String,
    /// A model name, or `*` for every model without its own price.
    #[schema(example = "*")]
    pub model: String,
    /// token_in | token_out | character | second | minute
    #[schema(example = "token_in")]
    pub unit: String,
    /// Micro-dollars (1 USD = 1,000,000) per `per_units` units.
    #[schema(example = 2500000)]
    pub price_micros: i64,
    #[schema(example = 1000000)]
    pub per_units: i64,
    pub effective_from: DateTime<Utc>,
}

impl From<Price> for PriceView {
    fn from(p: Price) -> Self {
        Self {
            service: p.service.to_string(),
            model: p.model,
            unit: p.unit.as_str().into(),
            price_micros: p.price_micros,
            per_units: p.per_units,
            effective_from: p.effective_from,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PricesQuery {
    #[param(value_type = Option<CostService>)]
    pub service: Option<String>,
}

/// Each service's cost model: prices by unit and model, with effective dates.
#[utoipa::path(
    get,
    path = "/api/prices",
    tag = "vault",
    params(PricesQuery),
    security(("operator_token" = ["billing:read"])),
    responses(
        (status = 200, body = Vec<PriceView>),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn list_prices(
    State(costs): State<Costs>,
    _operator: Operator<needs::BillingRead>,
    ApiQuery(q): ApiQuery<PricesQuery>,
) -> Result<Json<Vec<PriceView>>, ApiError> {
    let service = q.service.as_deref().map(CostService::parse).transpose()?;
    let prices = costs.prices(service).await?;
    Ok(Json(prices.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PriceBody {
    #[schema(value_type = CostService)]
    pub service: String,
    /// Default `*`.
    #[schema(min_length = 1, max_length = 200)]
    pub model: Option<String>,
    /// The units each service is priced in: token_in / token_out (openai,
    /// anthropic), second (hume), character (elevenlabs), minute (deepgram),
    /// request (keyward).
    #[schema(value_type = PriceUnit)]
    pub unit: String,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub price_micros: i64,
    /// Default 1.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub per_units: Option<i64>,
    /// Default now. Usage before it keeps the price it had.
    #[schema(value_type = Option<Timestamp>)]
    pub effective_from: Option<DateTime<Utc>>,
}

/// Set a price from a date on (history is kept, never rewritten).
#[utoipa::path(
    put,
    path = "/api/prices",
    tag = "vault",
    request_body = PriceBody,
    security(("operator_token" = ["billing:write"])),
    responses(
        (status = 200, body = PriceView),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn set_price(
    State(costs): State<Costs>,
    operator: Operator<needs::BillingWrite>,
    ApiJson(body): ApiJson<PriceBody>,
) -> Result<Json<PriceView>, ApiError> {
    let price = Price {
        service: CostService::parse(&body.service)?,
        model: body.model.unwrap_or_else(|| ANY_MODEL.into()),
        unit: PriceUnit::parse(&body.unit)?,
        price_micros: body.price_micros,
        per_units: body.per_units.unwrap_or(1),
        effective_from: body
            .effective_from
            .unwrap_or_else(crate::services::now)
            .trunc_subsecs(6),
    };
    Ok(Json(costs.set_price(&operator.actor, price).await?.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CheckBody {
    /// managed (default) | customer | admin
    #[schema(pattern = "^(managed|customer|admin)$")]
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckResponse {
    /// valid | invalid | unavailable: what the provider said of the key checked.
    pub validation: String,
    /// True when the refused managed key was replaced by a newly provisioned one.
    pub healed: bool,
    /// The secret as it stands now.
    pub secret: SecretView,
}

/// Check a tenant's stored key with its provider. A managed key the provider
/// refuses is replaced by a freshly provisioned one where the adapter can
/// provision (self-healing), with no gap: readers get the old or the new.
#[utoipa::path(
    post,
    path = "/api/keys/{service}/{tenant_id}/validate",
    tag = "vault",
    params(("service" = Service, Path), ("tenant_id" = TenantId, Path)),
    request_body(content = CheckBody, description = "optional"),
    security(("operator_token" = ["secrets:write"]), ("api_key" = [])),
    responses(
        (status = 200, body = CheckResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn check(
    State(state): State<AppState>,
    SecretCaller(caller, actor, _): SecretCaller<needs::SecretsWrite>,
    Path((service, tenant)): Path<(String, String)>,
    OptionalJson(body): OptionalJson<CheckBody>,
) -> Result<Json<CheckResponse>, ApiError> {
    let (service, tenant) =
        admin_on(&state, &caller, &actor, "secret.validate", &service, tenant).await?;
    let kind = match body.kind.as_deref() {
        None => SecretKind::Managed,
        Some(k) => match SecretKind::parse(k)? {
            SecretKind::Pooled => {
                return Err(crate::domain::ValidationError::new(
                    "kind",
                    "pooled keys belong to a tier, not a tenant",
                )
                .into())
            }
            kind => kind,
        },
    };
    let checked = state
        .core
        .vault
        .check_secret(&actor, &SecretRef::tenant(service, tenant, kind))
        .await?;
    Ok(Json(CheckResponse {
        validation: checked.validation.as_str().into(),
        healed: checked.healed,
        secret: checked.meta.into(),
    }))
}
