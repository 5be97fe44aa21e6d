//! The tokens page's actions, for a signed-in admin holding `tokens:write`:
//! `POST /admin/tokens` (create; the token is shown once on the page this
//! redirects to), `POST /admin/tokens/{id}/revoke`, `POST /admin/root-token`.

use super::admin_session::{admin_gate, see_other};
use super::error::ApiError;
use super::extract::request_id;
use crate::domain::access::Permission;
use crate::services::admins::NewSecret;
use crate::services::operators::{NewToken, Operators};
use crate::services::Error;
use crate::startup::AppState;
use crate::web::session::SignedInAdmin;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Form;
use serde::Deserialize;

const PAGE: &str = "/admin/tokens";

fn notice(kind: &str) -> Response {
    see_other(&format!("{PAGE}?notice={kind}"))
}

/// The create form: its fields as pairs, since `permission` repeats.
fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A date from the form (`YYYY-MM-DD`) as the end of that day, UTC.
fn end_of_day(date: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(23, 59, 59)?.and_utc())
}

pub async fn create(
    State(state): State<AppState>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let csrf = field(&form, "csrf_token").unwrap_or_default();
    if let Some(refused) = admin_gate(&session, csrf, Some(PAGE), Permission::TokensWrite)? {
        return Ok(refused);
    }
    let expires_at = match field(&form, "expires_on") {
        None => None,
        Some(date) => match end_of_day(date) {
            Some(at) => Some(at),
            None => return Ok(notice("invalid")),
        },
    };
    let new = NewToken {
        name: field(&form, "name").unwrap_or_default().to_string(),
        permissions: form
            .iter()
            .filter(|(k, _)| k == "permission")
            .map(|(_, v)| v.clone())
            .collect(),
        tenant_scope: field(&form, "tenant_scope").map(str::to_string),
        expires_at,
        all_tenants_secrets: field(&form, "all_tenants_secrets") == Some("yes"),
    };
    let actor = session.actor(request_id(&headers));
    let created = match state
        .core
        .operators
        .create(
            new,
            &crate::services::operators::Operator {
                name: actor.name.clone(),
                grants: session.grants(),
                expires_at: None,
            },
            &actor,
        )
        .await
    {
        Ok(c) => c,
        Err(Error::Validation(_) | Error::Forbidden { .. }) => return Ok(notice("invalid")),
        Err(e) => return Err(e.into()),
    };
    state
        .core
        .admins
        .hold_new_secret(
            &session.csrf_token,
            NewSecret {
                key_id: created.token.id.clone(),
                secret: created.secret.expose().to_string(),
                old_valid_until: None,
            },
        )
        .await?;
    Ok(notice("created"))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    pub csrf_token: String,
    pub confirm: Option<String>,
}

pub async fn revoke(
    State(operators): State<Operators>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ApiError> {
    if let Some(refused) = admin_gate(
        &session,
        &form.csrf_token,
        Some(PAGE),
        Permission::TokensWrite,
    )? {
        return Ok(refused);
    }
    if form.confirm.as_deref() != Some("yes") {
        return Ok(notice("confirm"));
    }
    operators
        .revoke(&id, &session.actor(request_id(&headers)))
        .await?;
    Ok(notice("revoked"))
}

#[derive(Debug, Deserialize)]
pub struct RootTokenForm {
    pub csrf_token: String,
    /// on | off
    pub state: String,
}

pub async fn root_token(
    State(operators): State<Operators>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<RootTokenForm>,
) -> Result<Response, ApiError> {
    if let Some(refused) = admin_gate(
        &session,
        &form.csrf_token,
        Some(PAGE),
        Permission::TokensWrite,
    )? {
        return Ok(refused);
    }
    let on = match form.state.as_str() {
        "on" => true,
        "off" => false,
        _ => return Ok(notice("invalid")),
    };
    let actor = session.actor(request_id(&headers));
    match operators.set_root_enabled(on, &actor).await {
        Ok(()) => Ok(notice(if on { "root-on" } else { "root-off" })),
        Err(Error::Conflict {
            code: "NO_OPERATOR_TOKEN",
            ..
        }) => Ok(notice("no-operator-token")),
        Err(e) => Err(e.into()),
    }
}

pub fn router() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route(PAGE, post(create))
        .route("/admin/tokens/{id}/revoke", post(revoke))
        .route("/admin/root-token", post(root_token))
}
