//! `POST /api/namespaces`.

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, RootActor};
use super::schemas::FreeText;
use crate::domain::ids::{NamespaceName, TenantId};
use crate::domain::namespace::Namespace;
use crate::domain::plan::Plan;
use crate::domain::tenant::parse_free_text;
use crate::domain::ValidationError;
use crate::services::tenants::NewNamespace;
use crate::services::tenants::Tenants;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    security(("root_token" = [])),
    responses(
        (status = 201, body = NamespaceView),
        (status = 401, body = ErrorBody),
        (status = 409, description = "Name taken, or plan mismatch", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_namespace(
    State(tenants): State<Tenants>,
    RootActor(actor): RootActor,
    ApiJson(body): ApiJson<NamespaceBody>,
) -> Result<(StatusCode, Json<NamespaceView>), ApiError> {
    let request = NewNamespace::try_from(body)?;
    let ns = tenants.create_namespace(request, &actor).await?;
    Ok((StatusCode::CREATED, Json(ns.into())))
}
