//! The customer page's tenant actions, for a signed-in admin holding
//! `tenants:write`: change the plan, suspend or resume, create and delete
//! namespaces, and erase the tenant (confirmed by typing its id). Each goes
//! back to the page with a notice naming the outcome.

use super::admin_session::{admin_gate, see_other};
use super::error::ApiError;
use super::extract::request_id;
use crate::domain::access::Permission;
use crate::domain::ids::{NamespaceName, TenantId};
use crate::domain::plan::Plan;
use crate::domain::tenant::TenantStatus;
use crate::services::tenants::{NewNamespace, TenantChanges, Tenants};
use crate::services::Error;
use crate::web::session::SignedInAdmin;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

fn page(tenant: &TenantId, query: &str) -> Response {
    see_other(&format!("/admin/customers/{tenant}?{query}"))
}

/// A refusal the page can explain: its stable code, nothing from the input.
fn refused(tenant: &TenantId, e: Error) -> Result<Response, ApiError> {
    match e {
        Error::Validation(v) => Ok(page(tenant, &format!("notice=refused&reason={}", v.field))),
        Error::Conflict { code, .. } | Error::NotFound { code, .. } => {
            Ok(page(tenant, &format!("notice=refused&reason={code}")))
        }
        other => Err(other.into()),
    }
}

/// The CSRF token and `tenants:write`; a refusal goes back to the customer's page.
fn tenant_gate(
    session: &crate::services::admins::AdminSession,
    csrf_token: &str,
    id: &TenantId,
) -> Result<Option<Response>, ApiError> {
    let back = format!("/admin/customers/{id}");
    admin_gate(session, csrf_token, Some(&back), Permission::TenantsWrite)
}

#[derive(Debug, Deserialize)]
pub struct TenantForm {
    pub csrf_token: String,
    /// free | pro | enterprise
    pub plan: Option<String>,
    /// active | suspended
    pub status: Option<String>,
    /// "yes" to confirm a suspension.
    pub confirm: Option<String>,
}

/// `POST /admin/tenants/{id}`: a new plan, or a new status.
pub async fn update(
    State(tenants): State<Tenants>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<TenantForm>,
) -> Result<Response, ApiError> {
    let id = TenantId::parse(raw)?;
    if let Some(r) = tenant_gate(&session, &form.csrf_token, &id)? {
        return Ok(r);
    }
    let plan = match form.plan.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => match Plan::parse_field("plan", p) {
            Ok(p) => Some(p),
            Err(_) => return Ok(page(&id, "notice=refused&reason=plan")),
        },
        None => None,
    };
    let status = match form.status.as_deref() {
        Some(s) => match TenantStatus::parse_field("status", s) {
            Ok(s) => Some(s),
            Err(_) => return Ok(page(&id, "notice=refused&reason=status")),
        },
        None => None,
    };
    if status == Some(TenantStatus::Suspended) && form.confirm.as_deref() != Some("yes") {
        return Ok(page(&id, "notice=confirm"));
    }
    let changes = TenantChanges {
        plan,
        status,
        ..TenantChanges::default()
    };
    let actor = session.actor(request_id(&headers));
    match tenants.update_tenant(&id, changes, &actor).await {
        Ok(t) => Ok(page(
            &id,
            &format!(
                "notice=tenant-updated&plan={}&status={}",
                t.plan,
                t.status.as_str()
            ),
        )),
        Err(e) => refused(&id, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct NamespaceForm {
    pub csrf_token: String,
    pub name: String,
}

/// `POST /admin/tenants/{id}/namespaces`: a new namespace for the tenant.
pub async fn create_namespace(
    State(tenants): State<Tenants>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<NamespaceForm>,
) -> Result<Response, ApiError> {
    let id = TenantId::parse(raw)?;
    if let Some(r) = tenant_gate(&session, &form.csrf_token, &id)? {
        return Ok(r);
    }
    let Ok(name) = NamespaceName::parse(form.name.trim()) else {
        return Ok(page(&id, "notice=refused&reason=namespace"));
    };
    let new = NewNamespace {
        name: name.clone(),
        tenant_id: id.clone(),
        plan: None,
        sector: String::new(),
        use_case: String::new(),
    };
    match tenants
        .create_namespace(new, &session.actor(request_id(&headers)))
        .await
    {
        Ok(_) => Ok(page(
            &id,
            &format!("notice=namespace-created&namespace={name}"),
        )),
        Err(e) => refused(&id, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    pub csrf_token: String,
    pub confirm: Option<String>,
}

/// `POST /admin/namespaces/{name}/delete`: the namespace and its cached responses.
pub async fn delete_namespace(
    State(tenants): State<Tenants>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, ApiError> {
    let name = NamespaceName::parse(raw)?;
    let ns = tenants.namespace(&name).await?;
    let id = ns.tenant_id;
    if let Some(r) = tenant_gate(&session, &form.csrf_token, &id)? {
        return Ok(r);
    }
    if form.confirm.as_deref() != Some("yes") {
        return Ok(page(&id, "notice=confirm"));
    }
    match tenants
        .delete_namespace(&name, &session.actor(request_id(&headers)))
        .await
    {
        Ok(_) => Ok(page(
            &id,
            &format!("notice=namespace-deleted&namespace={name}"),
        )),
        Err(e) => refused(&id, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct EraseForm {
    pub csrf_token: String,
    /// The tenant's id, typed again.
    pub confirm_id: String,
}

/// `POST /admin/tenants/{id}/erase`: only when the id was typed again.
pub async fn erase(
    State(tenants): State<Tenants>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<EraseForm>,
) -> Result<Response, ApiError> {
    let id = TenantId::parse(raw)?;
    if let Some(r) = tenant_gate(&session, &form.csrf_token, &id)? {
        return Ok(r);
    }
    if form.confirm_id.trim() != id.as_str() {
        return Ok(page(&id, "notice=erase-confirm"));
    }
    match tenants
        .erase_tenant(&id, &session.actor(request_id(&headers)))
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/admin/cache-keys?notice=erased&key={id}"
        ))),
        Err(e) => refused(&id, e),
    }
}

pub fn router() -> axum::Router<crate::startup::AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/admin/tenants/{id}", post(update))
        .route("/admin/tenants/{id}/namespaces", post(create_namespace))
        .route("/admin/tenants/{id}/erase", post(erase))
        .route("/admin/namespaces/{name}/delete", post(delete_namespace))
}
