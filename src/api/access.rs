//! The management API's guard: every route names the one permission it
//! needs in its signature (`Operator<needs::KeysRead>`), and the same name is
//! in its OpenAPI `security` requirement (`operator_token: [keys:read]`); a
//! test walks the document and checks each route against a token with and
//! one without it.
//!
//! * [`Operator`] guards a platform-wide route: a tenant-restricted token is
//!   refused (403 `TENANT_RESTRICTED`).
//! * [`TenantOperator`] guards a route about tenants: a restricted token is
//!   admitted, and the handler checks each tenant it touches
//!   ([`TenantOperator::check`]) or narrows its list ([`TenantOperator::only`]).
//!
//! Refusals are 403 with a stable code and an audit record naming the token.

use super::error::ApiError;
use super::extract::{bearer, request_id};
use crate::crypto::operator_token::PlainOperatorToken;
use crate::domain::access::{Grants, Permission, TenantScope};
use crate::domain::audit::Actor;
use crate::domain::ids::TenantId;
pub use crate::services::operators::Operator as Credential;
use crate::services::operators::Operators;
use crate::startup::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use std::marker::PhantomData;

/// A permission as a type, so a route's signature says what it needs.
pub trait Needs: Send + Sync {
    const PERMISSION: Permission;
}

pub mod needs {
    use super::{Needs, Permission};

    macro_rules! markers {
        ($($marker:ident),* $(,)?) => {$(
            pub struct $marker;
            impl Needs for $marker {
                const PERMISSION: Permission = Permission::$marker;
            }
        )*};
    }

    markers!(
        TenantsRead,
        TenantsWrite,
        KeysRead,
        KeysWrite,
        UsageWrite,
        AnalyticsRead,
        BillingRead,
        BillingWrite,
        SecretsRead,
        SecretsWrite,
        TokensWrite,
        AuditRead,
        JobsRead,
        JobsWrite,
        WebhooksRead,
        WebhooksWrite,
        MetricsRead,
    );
}

/// The caller of a platform-wide route, holding `P` over every tenant.
pub struct Operator<P: Needs> {
    pub actor: Actor,
    pub grants: Grants,
    /// Who it is, with its expiry (tokens it creates expire no later).
    pub credential: Credential,
    _needs: PhantomData<P>,
}

/// The caller of a route about tenants, holding `P` over its tenant scope.
pub struct TenantOperator<P: Needs> {
    pub actor: Actor,
    pub grants: Grants,
    credential: Credential,
    operators: Operators,
    route: String,
    _needs: PhantomData<P>,
}

fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Who presented which credential; 401 when none is valid.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<Credential, ApiError> {
    let operators = &state.core.operators;
    let Some(token) = bearer(parts) else {
        return Err(ApiError::unauthorized(
            "this call needs 'Authorization: Bearer <operator token>' (or the root token)",
        ));
    };
    if PlainOperatorToken::looks_like(token) {
        return Ok(operators.authenticate(token).await?);
    }
    if state.root.matches(token) {
        if !operators.root_enabled().await? {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "ROOT_TOKEN_DISABLED",
                "the root token is turned off; use an operator token",
            ));
        }
        return Ok(Credential::root());
    }
    tracing::warn!(path = %parts.uri.path(), "management call with a wrong token");
    Err(ApiError::unauthorized("the bearer token is not valid"))
}

/// Authenticates, then refuses (and audits) a credential without `permission`.
pub(crate) async fn admit(
    parts: &Parts,
    state: &AppState,
    permission: Permission,
) -> Result<(Credential, Actor), ApiError> {
    let credential = authenticate(parts, state).await?;
    let actor = Actor {
        name: credential.name.clone(),
        request_id: request_id(&parts.headers),
    };
    if !credential.grants.permits(permission) {
        refuse(
            &state.core.operators,
            &credential,
            &actor,
            route(parts),
            serde_json::json!({ "needs": permission }),
        )
        .await;
        return Err(forbidden(
            "PERMISSION_DENIED",
            format!("this call needs the {permission} permission, which this token does not hold"),
        ));
    }
    Ok((credential, actor))
}

fn route(parts: &Parts) -> String {
    format!("{} {}", parts.method, parts.uri.path())
}

async fn refuse(
    operators: &Operators,
    credential: &Credential,
    actor: &Actor,
    target: String,
    detail: serde_json::Value,
) {
    operators
        .record_refusal(credential, actor.request_id.clone(), target, detail)
        .await;
}

impl<P: Needs> FromRequestParts<AppState> for Operator<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (credential, actor) = admit(parts, state, P::PERMISSION).await?;
        if !credential.grants.tenants.is_all() {
            refuse(
                &state.core.operators,
                &credential,
                &actor,
                route(parts),
                serde_json::json!({ "needs": "every tenant" }),
            )
            .await;
            return Err(forbidden(
                "TENANT_RESTRICTED",
                "this call acts on every tenant; a tenant-restricted token cannot make it",
            ));
        }
        Ok(Self {
            actor,
            grants: credential.grants.clone(),
            credential,
            _needs: PhantomData,
        })
    }
}

impl<P: Needs> FromRequestParts<AppState> for TenantOperator<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (credential, actor) = admit(parts, state, P::PERMISSION).await?;
        Ok(Self {
            actor,
            grants: credential.grants.clone(),
            credential,
            operators: state.core.operators.clone(),
            route: route(parts),
            _needs: PhantomData,
        })
    }
}

impl<P: Needs> TenantOperator<P> {
    /// Refuses (403 `PERMISSION_DENIED`, audited) a part of a call that needs
    /// one more permission than its route (e.g. dating a plan change back,
    /// which rewrites what is billed, needs `billing:write`).
    pub async fn also_needs(&self, permission: Permission) -> Result<(), ApiError> {
        if self.grants.permits(permission) {
            return Ok(());
        }
        self.refused(
            serde_json::json!({ "needs": permission }),
            "PERMISSION_DENIED",
            format!(
                "this change needs the {permission} permission, which this token does not hold"
            ),
        )
        .await
    }

    /// Refuses (403 `TENANT_NOT_PERMITTED`, audited) a tenant outside the scope.
    pub async fn check(&self, tenant: &TenantId) -> Result<(), ApiError> {
        if self.grants.tenants.covers(tenant) {
            return Ok(());
        }
        self.refused(
            serde_json::json!({ "tenant_id": tenant }),
            "TENANT_NOT_PERMITTED",
            "this token may not act on that tenant".into(),
        )
        .await
    }

    /// Audits a refusal of this call (`detail` says why) and answers 403 `code`.
    async fn refused(
        &self,
        detail: serde_json::Value,
        code: &'static str,
        message: String,
    ) -> Result<(), ApiError> {
        refuse(
            &self.operators,
            &self.credential,
            &self.actor,
            self.route.clone(),
            detail,
        )
        .await;
        Err(forbidden(code, message))
    }

    /// The tenant a list is narrowed to: the one asked for (checked), or for
    /// a token restricted to one tenant, that tenant. A token restricted to a
    /// prefix must name a tenant.
    pub async fn only(&self, asked: Option<TenantId>) -> Result<Option<TenantId>, ApiError> {
        match (asked, &self.grants.tenants) {
            (Some(t), _) => self.check(&t).await.map(|()| Some(t)),
            (None, TenantScope::All) => Ok(None),
            (None, TenantScope::Tenant(t)) => Ok(Some(t.clone())),
            (None, TenantScope::Prefix(_)) => Err(forbidden(
                "TENANT_REQUIRED",
                "a token restricted to a tenant prefix must name the tenant (tenant_id)",
            )),
        }
    }

    /// The tenant a list asks the store for (checked when named; a token
    /// restricted to one tenant asks for it); the caller then keeps only the
    /// rows [`Self::covers`].
    pub async fn narrow(&self, asked: Option<TenantId>) -> Result<Option<TenantId>, ApiError> {
        match (asked, &self.grants.tenants) {
            (Some(t), _) => self.check(&t).await.map(|()| Some(t)),
            (None, TenantScope::Tenant(t)) => Ok(Some(t.clone())),
            (None, _) => Ok(None),
        }
    }

    pub fn covers(&self, tenant: &TenantId) -> bool {
        self.grants.tenants.covers(tenant)
    }

    /// [`Self::covers`] for a tenant id as stored in a read model.
    pub fn covers_raw(&self, tenant: &str) -> bool {
        TenantId::parse(tenant).is_ok_and(|t| self.covers(&t))
    }

    /// Refuses to hand a key a right the caller lacks: an API key with
    /// `secrets:read` reads its tenant's provider keys, so only a caller
    /// holding `secrets:read` over that tenant may give it one.
    pub async fn may_grant_key(
        &self,
        tenant: &TenantId,
        permissions: &[crate::domain::api_key::Permission],
    ) -> Result<(), ApiError> {
        let wants_secrets = permissions.contains(&crate::domain::api_key::Permission::SecretsRead);
        if wants_secrets && !self.grants.permits(Permission::SecretsRead) {
            refuse(
                &self.operators,
                &self.credential,
                &self.actor,
                self.route.clone(),
                serde_json::json!({ "needs": Permission::SecretsRead, "to_grant": "secrets:read" }),
            )
            .await;
            return Err(forbidden(
                "PERMISSION_NOT_HELD",
                "giving a key secrets:read needs the secrets:read permission",
            ));
        }
        self.check(tenant).await
    }

    /// Whether every tenant is in scope (lists over all tenants need it).
    pub fn covers_every_tenant(&self) -> bool {
        self.grants.tenants.is_all()
    }
}
