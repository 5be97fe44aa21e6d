//! The dashboard's sign-in over plain HTML forms (they work without
//! JavaScript): `POST /admin/sign-in`, `POST /admin/sign-out`,
//! `POST /admin/first-run` (creates the first admin with the root token, only
//! while there is none), `GET /admin/session` (who is signed in, and the
//! session's CSRF token for forms; JSON), and the customers page's actions
//! `POST /admin/keys/{key_id}/disable|enable|rotate`.
//!
//! The session cookie `keyward_session` is HttpOnly, SameSite=Strict, Path=/,
//! expires with the session, and is Secure when the request came over TLS
//! (`X-Forwarded-Proto: https` from the proxy terminating it).

use super::error::ApiError;
use super::extract::request_id;
use crate::domain::access::Permission;
use crate::domain::admin::AdminRole;
use crate::services::admins::Admins;
use crate::services::admins::{AdminSession, NewSecret, SESSION_TTL};
use crate::services::vault::Vault;
use crate::services::Error;
use crate::startup::AppState;
use crate::web::session::{cookie, session_token, SignedInAdmin};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A 303 to `location` (the answer to a form post).
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// The gate of every form that changes something: the session's CSRF token
/// (403 when it does not match), then the permission the form needs, which
/// the admin's role holds or not (the API's permission model: a viewer holds
/// the read ones). Without it the admin gets `Some(redirect)` back to `page`
/// with `notice=read-only`: the server refuses, nothing changes, and the
/// page says why.
pub fn admin_gate(
    session: &AdminSession,
    csrf_token: &str,
    page: Option<&str>,
    permission: Permission,
) -> Result<Option<Response>, ApiError> {
    session.check_csrf(csrf_token)?;
    Ok((!session.grants().permits(permission)).then(|| back_to(page, "notice=read-only")))
}

/// Where a form asked to go back to (an admin page, never another site), with
/// `query` added; the customers page when none or a foreign one was given.
pub fn back_to(back: Option<&str>, query: &str) -> Response {
    let page = back
        .filter(|b| {
            b.starts_with("/admin/")
                && !b.contains("//")
                && !b.contains('?')
                && b.chars().all(|c| c.is_ascii_graphic())
        })
        .unwrap_or("/admin/cache-keys");
    see_other(&format!("{page}?{query}"))
}

#[derive(Deserialize)]
pub struct SignInForm {
    pub email: String,
    pub password: String,
}
crate::debug_without_secrets!(SignInForm { email });

/// The client a sign-in attempt is counted against: the socket's address,
/// or behind a trusted proxy (`KEYWARD_TRUSTED_PROXY=1`) the address the
/// proxy saw (the last entry of `X-Forwarded-For`, which the proxy appends),
/// so every admin behind the proxy is not one client.
fn client(addr: &SocketAddr, headers: &HeaderMap, trusted_proxy: bool) -> String {
    if trusted_proxy {
        if let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return last.to_string();
        }
    }
    addr.ip().to_string()
}

/// Signs in and lands on the customers page; a refusal goes back to the
/// sign-in page with `?error=invalid` or `?error=limited`.
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ApiError> {
    match state
        .core
        .admins
        .sign_in(
            &form.email,
            form.password,
            &client(&addr, &headers, state.trusted_proxy),
        )
        .await
    {
        Ok(signed_in) => {
            let mut res = see_other("/admin/cache-keys");
            res.headers_mut().append(
                header::SET_COOKIE,
                cookie(&headers, &signed_in.token, SESSION_TTL.num_seconds()),
            );
            Ok(res)
        }
        Err(Error::Unauthenticated { .. }) => Ok(see_other("/admin/sign-in?error=invalid")),
        Err(Error::TooManyAttempts {
            retry_after_secs, ..
        }) => Ok(retry_after(
            see_other("/admin/sign-in?error=limited"),
            retry_after_secs,
        )),
        Err(Error::Busy {
            retry_after_secs, ..
        }) => Ok(retry_after(
            see_other("/admin/sign-in?error=busy"),
            retry_after_secs,
        )),
        Err(e) => Err(e.into()),
    }
}

fn retry_after(mut res: Response, secs: u64) -> Response {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    pub csrf_token: String,
}

/// Ends the session (the form carries its CSRF token) and clears the cookie.
pub async fn sign_out(
    State(admins): State<Admins>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Result<Response, ApiError> {
    session.check_csrf(&form.csrf_token)?;
    if let Some(token) = session_token(&headers) {
        admins.sign_out(&token).await?;
    }
    let mut res = see_other("/admin/sign-in?signed_out=1");
    res.headers_mut()
        .append(header::SET_COOKIE, cookie(&headers, "", 0));
    Ok(res)
}

#[derive(Deserialize)]
pub struct FirstRunForm {
    pub root_token: String,
    pub email: String,
    pub password: String,
}
crate::debug_without_secrets!(FirstRunForm { email });

/// The first admin, made with the root token while no admin exists (so a new
/// install needs no database editing); then signed in.
pub async fn first_run(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<FirstRunForm>,
) -> Result<Response, ApiError> {
    if !state.root.matches(&form.root_token) || !state.core.operators.root_enabled().await? {
        return Err(ApiError::unauthorized("the root token is not valid"));
    }
    if state.core.admins.admin_count().await? > 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ADMINS_EXIST",
            "the first admin exists already; sign in, or add admins with `keyward admin add-user`",
        ));
    }
    let actor = crate::domain::audit::Actor {
        name: "root".into(),
        request_id: String::new(),
    };
    let password = form.password.clone();
    state
        .core
        .admins
        .add_admin(&actor, &form.email, AdminRole::Admin, password)
        .await?;
    sign_in(
        State(state),
        ConnectInfo(addr),
        headers,
        Form(SignInForm {
            email: form.email,
            password: form.password,
        }),
    )
    .await
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub email: String,
    pub role: &'static str,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Who is signed in.
pub async fn session(SignedInAdmin(s): SignedInAdmin) -> impl IntoResponse {
    Json(SessionView {
        email: s.email,
        role: s.role.as_str(),
        csrf_token: s.csrf_token,
        expires_at: s.expires_at,
    })
}

#[derive(Debug, Deserialize)]
pub struct RotateForm {
    pub csrf_token: String,
    /// The admin page to return to (default: the customers page).
    pub back: Option<String>,
    /// How long the old secret keeps working: seconds (0 = at once).
    pub grace_seconds: Option<i64>,
    /// "yes": rotating asks for an explicit confirmation, as disabling does.
    pub confirm: Option<String>,
}

/// `POST /admin/keys/{key_id}/rotate`: a new secret now, the old one valid
/// for the chosen grace period. The new secret is shown once, on the page
/// this redirects to, and is never stored in the clear.
pub async fn rotate_key(
    State(state): State<AppState>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    axum::extract::Path(raw): axum::extract::Path<String>,
    Form(form): Form<RotateForm>,
) -> Result<Response, ApiError> {
    let back = form.back.as_deref();
    if let Some(refused) = admin_gate(&session, &form.csrf_token, back, Permission::KeysWrite)? {
        return Ok(refused);
    }
    let id = crate::domain::ids::KeyId::parse(raw)?;
    if form.confirm.as_deref() != Some("yes") {
        return Ok(back_to(back, "notice=confirm"));
    }
    let grace = form.grace_seconds.unwrap_or(86_400);
    let rotation = crate::domain::api_key::Rotation::parse(Some(grace), grace == 0)?;
    let actor = session.actor(request_id(&headers));
    let rotated = state.core.keys.rotate(&id, rotation, &actor).await?;
    state
        .core
        .admins
        .hold_new_secret(
            &session.csrf_token,
            NewSecret {
                key_id: rotated.key_id.to_string(),
                secret: rotated.api_key.expose().to_string(),
                old_valid_until: Some(rotated.previous_expires_at),
            },
        )
        .await?;
    Ok(back_to(
        back,
        &format!("notice=rotated&key={}", rotated.key_id),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ProvisionForm {
    pub csrf_token: String,
    pub user_id: String,
    pub name: Option<String>,
    pub tier: String,
    pub integration: String,
    pub project_id: String,
    /// The namespace to create (default `<project>_<tenant>`).
    pub namespace: Option<String>,
    /// Namespace patterns for a pooled key, comma-separated (`jt_customer_*`).
    pub scopes: Option<String>,
    /// A pooled key's overall limits (blank: none).
    pub overall_requests_per_second: Option<String>,
    pub overall_requests_per_month: Option<String>,
}

/// `POST /admin/provision`: a customer's tenant, namespace and key, as
/// `POST /api/provision` makes them; the key is shown once on the page this
/// redirects to. A refusal comes back as a notice naming what to fix.
pub async fn provision(
    State(state): State<AppState>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<ProvisionForm>,
) -> Result<Response, ApiError> {
    if let Some(refused) = admin_gate(&session, &form.csrf_token, None, Permission::TenantsWrite)? {
        return Ok(refused);
    }
    // The page says what to fix from a stable reason (a field or an error
    // code), never from text carried in the URL: a crafted link cannot put
    // words on the dashboard.
    let refused =
        |reason: &str| see_other(&format!("/admin/cache-keys?notice=invalid&reason={reason}"));
    let number = |field: Option<&String>| -> Result<Option<i64>, ()> {
        match field.map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| ()),
        }
    };
    let Ok(overall_requests_per_second) = number(form.overall_requests_per_second.as_ref()) else {
        return Ok(refused("overall_requests_per_second"));
    };
    let Ok(overall_requests_per_month) = number(form.overall_requests_per_month.as_ref()) else {
        return Ok(refused("overall_requests_per_month"));
    };
    let body = super::provision::ProvisionBody {
        overall_requests_per_second,
        overall_requests_per_month,
        user_id: form.user_id.trim().to_string(),
        integration: form.integration.trim().to_string(),
        project_id: form.project_id.trim().to_string(),
        tier: Some(form.tier),
        rate_limit: None,
        namespace: form
            .namespace
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        scopes: form
            .scopes
            .map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty()),
        permissions: None,
        name: form.name.filter(|n| !n.trim().is_empty()),
        parent_id: None,
        expires_at: None,
        sector: None,
        use_case: None,
        key_name: None,
        metadata: None,
    };
    let request = match crate::services::keys::ProvisionRequest::try_from(body) {
        Ok(r) => r,
        Err(e) => return Ok(refused(e.field)),
    };
    let actor = session.actor(request_id(&headers));
    match state.core.keys.provision(request, &actor).await {
        Ok(p) => {
            state
                .core
                .admins
                .hold_new_secret(
                    &session.csrf_token,
                    NewSecret {
                        key_id: p.key.id.to_string(),
                        secret: p.api_key.expose().to_string(),
                        old_valid_until: None,
                    },
                )
                .await?;
            Ok(see_other(&format!(
                "/admin/cache-keys?notice=provisioned&key={}",
                p.key.id
            )))
        }
        Err(Error::Validation(v)) => Ok(refused(v.field)),
        Err(Error::Conflict { code, .. }) => Ok(refused(code)),
        Err(e) => Err(e.into()),
    }
}

/// The session's own forms (sign-in, keys, provisioning, secrets); the
/// dashboard mounts them with the others in `api::dashboard_forms`.
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/sign-in", post(sign_in))
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/first-run", post(first_run))
        .route("/admin/session", get(session))
        .route("/admin/keys/{key_id}/disable", post(disable_key))
        .route("/admin/keys/{key_id}/enable", post(enable_key))
        .route("/admin/keys/{key_id}/rotate", post(rotate_key))
        .route("/admin/provision", post(provision))
        .route("/admin/secrets/rotate", post(rotate_provider_secret))
}

/// The dashboard's forms are for browsers on this site:
/// - a POST from another site (`Sec-Fetch-Site: cross-site`, or an `Origin`
///   that is not this host) is refused before anything runs, which also
///   covers the forms that carry no session yet (sign-in, first run);
/// - a refusal to a browser (it asked for HTML) is a page, not JSON: an
///   ended session goes back to the sign-in page, anything else shows its
///   message with a way back. API clients keep the JSON errors.
pub async fn for_browsers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = req.headers();
    if req.method() == axum::http::Method::POST {
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
        // The host the browser used: the proxy's X-Forwarded-Host, else Host.
        let host = headers
            .get("x-forwarded-host")
            .or_else(|| headers.get(header::HOST))
            .and_then(|v| v.to_str().ok());
        let foreign_origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|origin| {
                let origin_host = origin.split("://").nth(1).unwrap_or(origin);
                host.is_some_and(|h| h != origin_host)
            });
        if cross_site || foreign_origin {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "CROSS_SITE_FORM",
                "dashboard forms are accepted from this site only",
            )
            .into_response();
        }
    }
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let res = next.run(req).await;
    let status = res.status();
    if !html || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    if status == StatusCode::UNAUTHORIZED {
        return see_other("/admin/sign-in?error=expired");
    }
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "the request was refused".to_string());
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>keyward: refused</title>\
             <link rel=\"stylesheet\" href=\"/pkg/keyward.css\"></head><body><main class=\"page narrow\">\
             <h1>That did not work</h1><p class=\"notice error\" role=\"alert\">{escaped}</p>\
             <p><a href=\"/admin/cache-keys\">Back to the dashboard</a> (reload the page you came from to get a fresh form).</p>\
             </main></body></html>"
        ),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct KeyStatusForm {
    pub csrf_token: String,
    /// Disabling asks for an explicit confirmation (a checkbox in the page),
    /// so a stray click or keypress does not cut a customer off.
    pub confirm: Option<String>,
    /// The admin page to return to (default: the customers page).
    pub back: Option<String>,
}

/// `POST /admin/keys/{key_id}/disable|enable` from the customers page: the
/// session's CSRF token, an admin (viewers are refused), and for disable a
/// confirmation; then back to the page with a notice. Audited as the admin.
async fn set_key_status(
    state: AppState,
    session: AdminSession,
    headers: HeaderMap,
    raw: String,
    form: KeyStatusForm,
    status: crate::domain::api_key::KeyStatus,
) -> Result<Response, ApiError> {
    let back = form.back.as_deref();
    if let Some(refused) = admin_gate(&session, &form.csrf_token, back, Permission::KeysWrite)? {
        return Ok(refused);
    }
    let id = crate::domain::ids::KeyId::parse(raw)?;
    if status == crate::domain::api_key::KeyStatus::Disabled
        && form.confirm.as_deref() != Some("yes")
    {
        return Ok(back_to(back, "notice=confirm"));
    }
    let actor = session.actor(request_id(&headers));
    let key = state.core.keys.set_key_status(&id, status, &actor).await?;
    Ok(back_to(
        back,
        &format!("notice={}&key={}", status.as_str(), key.id),
    ))
}

pub async fn disable_key(
    State(state): State<AppState>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    axum::extract::Path(raw): axum::extract::Path<String>,
    Form(form): Form<KeyStatusForm>,
) -> Result<Response, ApiError> {
    set_key_status(
        state,
        session,
        headers,
        raw,
        form,
        crate::domain::api_key::KeyStatus::Disabled,
    )
    .await
}

pub async fn enable_key(
    State(state): State<AppState>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    axum::extract::Path(raw): axum::extract::Path<String>,
    Form(form): Form<KeyStatusForm>,
) -> Result<Response, ApiError> {
    set_key_status(
        state,
        session,
        headers,
        raw,
        form,
        crate::domain::api_key::KeyStatus::Active,
    )
    .await
}

#[derive(Deserialize)]
pub struct ProviderSecretForm {
    pub csrf_token: String,
    pub tenant_id: String,
    pub service: String,
    pub kind: String,
    /// The new value (the provider key); never echoed back or logged.
    pub value: String,
    /// "yes" to check the key with its provider first (an invalid key is refused).
    pub validate: Option<String>,
}
crate::debug_without_secrets!(ProviderSecretForm {
    tenant_id,
    service,
    kind,
    validate
});

/// `POST /admin/secrets/rotate` from the customer page: stores a new version
/// of a tenant's provider secret (sealed like every other), audited as the
/// admin; back to the customer page with a notice.
pub async fn rotate_provider_secret(
    State(vault): State<Vault>,
    SignedInAdmin(session): SignedInAdmin,
    headers: HeaderMap,
    Form(form): Form<ProviderSecretForm>,
) -> Result<Response, ApiError> {
    use crate::domain::secret::{SecretKind, SecretRef, Service};
    let tenant = crate::domain::ids::TenantId::parse(form.tenant_id.trim())?;
    let page = format!("/admin/customers/{tenant}");
    if let Some(refused) = admin_gate(
        &session,
        &form.csrf_token,
        Some(&page),
        Permission::SecretsWrite,
    )? {
        return Ok(refused);
    }
    let secret = SecretRef::tenant(
        Service::parse(&form.service)?,
        tenant,
        SecretKind::parse(&form.kind)?,
    );
    let actor = session.actor(request_id(&headers));
    let validate = form.validate.as_deref() == Some("yes");
    match vault
        .put_secret(&actor, &secret, form.value.trim(), validate)
        .await
    {
        Ok(meta) => Ok(back_to(
            Some(&page),
            &format!(
                "notice=secret-rotated&service={}&version={}",
                secret.service.as_str(),
                meta.version
            ),
        )),
        Err(Error::Validation(v)) => Ok(back_to(
            Some(&page),
            &format!("notice=secret-refused&reason={}", v.field),
        )),
        Err(Error::Conflict { code, .. } | Error::Unavailable { code, .. }) => Ok(back_to(
            Some(&page),
            &format!("notice=secret-refused&reason={code}"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_address_it_saw() {
        let addr: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        assert_eq!(client(&addr, &headers, true), "203.0.113.7");
        assert_eq!(
            client(&addr, &headers, false),
            "10.0.0.2",
            "not trusted: the socket"
        );
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client(&addr, &headers, true), "10.0.0.2");
    }
}
