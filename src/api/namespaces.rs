//! `/api/namespaces`: create, list, delete (with the namespace's cached responses).

use super::access::{needs, TenantOperator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use super::schemas::FreeText;
use crate::domain::ids::{NamespaceName, TenantId};
use crate::domain::namespace::Namespace;
use crate::domain::plan::Plan;
use crate::domain::tenant::parse_free_text;
use crate::domain::ValidationError;
use crate::services::tenants::NewNamespace;
use crate::services::tenants::Tenants;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
pub struct NamespaceBody {
    #[schema(example = "jt_customer_bob", value_type = NamespaceName)]
    pub name: String,
    /// The owning tenant; created (on `tier`, default free) when it does not exist.
    #[schema(value_type = TenantId)]
    pub user_id: String,
    #[schema(value_type = Option<FreeText>)]
    pub sector: Option<String>,
    #[schema(value_type = Option<FreeText>)]
    pub use_case: Option<String>,
    #[schema(value_type = Option<Plan>)]
    pub tier: Option<String>,
}

impl TryFrom<NamespaceBody> for NewNamespace {
    type Error = ValidationError;
    fn try_from(body: NamespaceBody) -> Result<Self, Self::Error> {
        Ok(Self {
            name: NamespaceName::parse_field("name", body.name)?,
            tenant_id: TenantId::parse_field("user_id", body.user_id)?,
            plan: body
                .tier
                .map(|t| Plan::parse_field("tier", &t))
                .transpose()?,
            sector: parse_free_text("sector", body.sector.as_deref().unwrap_or(""))?,
            use_case: parse_free_text("use_case", body.use_case.as_deref().unwrap_or(""))?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceView {
    pub name: String,
    pub tenant_id: String,
    pub sector: String,
    pub use_case: String,
    pub created_at: DateTime<Utc>,
}

impl From<Namespace> for NamespaceView {
    fn from(ns: Namespace) -> Self {
        Self {
            name: ns.name.to_string(),
            tenant_id: ns.tenant_id.to_string(),
            sector: ns.sector,
            use_case: ns.use_case,
            created_at: ns.created_at,
        }
    }
}

/// Create a namespace for a tenant.
#[utoipa::path(
    post,
    path = "/api/namespaces",
    tag = "tenants",
    request_body = NamespaceBody,
    security(("operator_token" = ["tenants:write"])),
    responses(
        (status = 201, body = NamespaceView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "Name taken, or plan mismatch", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_namespace(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsWrite>,
    ApiJson(body): ApiJson<NamespaceBody>,
) -> Result<(StatusCode, Json<NamespaceView>), ApiError> {
    let request = NewNamespace::try_from(body)?;
    operator.check(&request.tenant_id).await?;
    let ns = tenants.create_namespace(request, &operator.actor).await?;
    Ok((StatusCode::CREATED, Json(ns.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NamespaceListQuery {
    /// Only this tenant's namespaces.
    #[param(value_type = Option<TenantId>)]
    pub tenant_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceList {
    pub namespaces: Vec<NamespaceView>,
}

/// List namespaces by name, optionally of one tenant.
#[utoipa::path(
    get,
    path = "/api/namespaces",
    tag = "tenants",
    params(NamespaceListQuery),
    security(("operator_token" = ["tenants:read"])),
    responses(
        (status = 200, body = NamespaceList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_namespaces(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsRead>,
    ApiQuery(query): ApiQuery<NamespaceListQuery>,
) -> Result<Json<NamespaceList>, ApiError> {
    let asked = query.tenant_id.map(TenantId::parse).transpose()?;
    let tenant = operator.narrow(asked).await?;
    let namespaces = tenants.list_namespaces(tenant.as_ref()).await?;
    Ok(Json(NamespaceList {
        namespaces: namespaces
            .into_iter()
            .filter(|n| operator.covers(&n.tenant_id))
            .map(Into::into)
            .collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NamespaceDeleted {
    pub name: String,
    /// Cached responses removed with it.
    pub cached_entries: u64,
}

/// Delete a namespace and every response cached in it. Keys naming it lose
/// that scope (`FORBIDDEN_NAMESPACE` from the next request on, even if the
/// name is taken again later).
#[utoipa::path(
    delete,
    path = "/api/namespaces/{name}",
    tag = "tenants",
    params(("name" = NamespaceName, Path)),
    security(("operator_token" = ["tenants:write"])),
    responses(
        (status = 200, body = NamespaceDeleted),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn delete_namespace(
    State(tenants): State<Tenants>,
    operator: TenantOperator<needs::TenantsWrite>,
    Path(raw): Path<String>,
) -> Result<Json<NamespaceDeleted>, ApiError> {
    let name = NamespaceName::parse(raw)?;
    let ns = tenants.namespace(&name).await?;
    operator.check(&ns.tenant_id).await?;
    let cached_entries = tenants.delete_namespace(&name, &operator.actor).await?;
    Ok(Json(NamespaceDeleted {
        name: name.to_string(),
        cached_entries,
    }))
}
