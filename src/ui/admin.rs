//! The admin pages: sign-in, and the customers table (`/admin/cache-keys`).
//! Forms post to plain endpoints (see `api::admin_session`), so every page
//! works without JavaScript; data comes from server functions under
//! `/admin/fn/...` that call `services`.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// The signed-in admin, as pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminView {
    pub email: String,
    pub role: String,
    pub csrf_token: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRow {
    pub key_id: String,
    pub display_prefix: String,
    pub status: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub tenant_id: String,
    pub name: String,
    pub plan: String,
    pub status: String,
    pub created_at: String,
    pub keys: Vec<KeyRow>,
    pub namespaces: Vec<String>,
    /// The last hour with data-plane use (UTC), if any.
    pub last_used: Option<String>,
    /// Requests this calendar month, and the plan's monthly quota.
    pub requests: i64,
    pub quota: i64,
    /// Hits over hits + misses this month, as "87.5%".
    pub hit_rate: Option<String>,
}

/// A rotated key's new secret, in the one page view that shows it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownOnce {
    pub key_id: String,
    pub secret: String,
    pub old_valid_until: Option<String>,
}
crate::debug_without_secrets!(ShownOnce {
    key_id,
    old_valid_until
});

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomersPage {
    pub new_secret: Option<ShownOnce>,
    pub admin: AdminView,
    pub rows: Vec<CustomerRow>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub plan: Option<String>,
    pub q: String,
    pub status: Option<String>,
    pub sort: String,
}

/// The signed-in admin of the page being rendered; without one, the
/// response becomes a redirect to the sign-in page.
#[cfg(feature = "ssr")]
pub(crate) async fn page_session(
    state: &crate::startup::AppState,
) -> Result<Option<crate::services::admins::AdminSession>, ServerFnError> {
    let headers: http::HeaderMap = leptos_axum::extract().await?;
    let session = match crate::web::session::session_token(&headers) {
        Some(token) => state
            .core
            .admins
            .admin_session(&token)
            .await
            .map_err(server_error)?,
        None => None,
    };
    if session.is_none() {
        leptos_axum::redirect("/admin/sign-in");
        // Rendering on the server: make it a real redirect for the browser.
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::SEE_OTHER);
        }
    }
    Ok(session)
}

/// A services (or validation) error as a server function error: its message,
/// and the HTTP status the REST API would answer (400 for bad input, 404 for
/// an unknown tenant, ...), mapped in `web::error` as everywhere else.
#[cfg(feature = "ssr")]
pub(crate) fn server_error(e: impl Into<crate::web::error::ApiError>) -> ServerFnError {
    let e = e.into();
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(e.status);
    }
    if e.status.is_server_error() {
        tracing::error!(code = e.code, message = %e.message, "dashboard page failed");
    }
    ServerFnError::new(e.message)
}

/// What a page shows when its data came back without a session.
pub(crate) fn sign_in_first() -> impl IntoView {
    view! { <main class="page"><p>"Sign in first: "<a href="/admin/sign-in">"sign in"</a></p></main> }
}

/// What a page shows when its data could not be read (e.g. a bad filter).
pub(crate) fn page_error(e: ServerFnError) -> impl IntoView {
    let message = match e {
        ServerFnError::ServerError(m) => m,
        other => other.to_string(),
    };
    view! {
        <main class="page">
            <p class="notice error" role="alert">{message}</p>
            <p><a href="/admin/cache-keys">"Back to the customers"</a></p>
        </main>
    }
}

/// The secret a rotation or provisioning just made, for this page view only:
/// taken (never read twice), and the response is marked `no-store`.
#[cfg(feature = "ssr")]
pub(crate) async fn take_new_secret(
    state: &crate::startup::AppState,
    csrf_token: &str,
) -> Result<Option<ShownOnce>, ServerFnError> {
    let shown = state
        .core
        .admins
        .take_new_secret(csrf_token)
        .await
        .map_err(server_error)?
        .map(|s| ShownOnce {
            key_id: s.key_id,
            secret: s.secret,
            old_valid_until: s
                .old_valid_until
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        });
    if shown.is_some() {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.insert_header(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
        }
    }
    Ok(shown)
}

#[cfg(feature = "ssr")]
pub(crate) fn admin_view(s: crate::services::admins::AdminSession) -> AdminView {
    AdminView {
        email: s.email,
        role: s.role.as_str().to_string(),
        csrf_token: s.csrf_token,
    }
}

/// Whether the first-run form should be offered (no admin exists yet).
#[server(prefix = "/admin/fn", endpoint = "setup_needed")]
pub async fn setup_needed() -> Result<bool, ServerFnError> {
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    Ok(state
        .core
        .admins
        .admin_count()
        .await
        .map_err(server_error)?
        == 0)
}

/// Customers per page of the table.
#[cfg(feature = "ssr")]
const CUSTOMERS_PER_PAGE: i64 = 50;

/// A page of customers (tenants with their keys); redirects to the sign-in
/// page without a live session.
#[server(prefix = "/admin/fn", endpoint = "customers")]
pub async fn customers(
    q: Option<String>,
    plan: Option<String>,
    status: Option<String>,
    sort: Option<String>,
    page: Option<i64>,
) -> Result<Option<CustomersPage>, ServerFnError> {
    use crate::services::tenants::TenantSort;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    let plan = plan.filter(|p| !p.is_empty());
    let status = status.filter(|p| !p.is_empty());
    let sort = sort
        .as_deref()
        .and_then(TenantSort::parse)
        .unwrap_or_default();
    let q = q.unwrap_or_default();
    // Far past the last page is just an empty page (and never overflows).
    let page = page.unwrap_or(1).clamp(1, 1_000_000);
    let search = customer_search(&q, plan.as_deref(), status.as_deref(), sort, page)?;
    let (customers, total) = state
        .core
        .tenants
        .customers(&search)
        .await
        .map_err(server_error)?;
    let now = chrono::Utc::now();
    let rows = customers
        .into_iter()
        .map(|c| customer_row(c, now))
        .collect::<Vec<_>>();
    let new_secret = take_new_secret(&state, &session.csrf_token).await?;
    Ok(Some(CustomersPage {
        new_secret,
        admin: admin_view(session),
        rows,
        total,
        page,
        per_page: CUSTOMERS_PER_PAGE,
        plan,
        q,
        status,
        sort: sort.as_str().to_string(),
    }))
}

/// The search behind one page of the customers table: the text (at most 100
/// characters), the plan and status filters (refused when unknown), the order.
#[cfg(feature = "ssr")]
fn customer_search(
    q: &str,
    plan: Option<&str>,
    status: Option<&str>,
    sort: crate::services::tenants::TenantSort,
    page: i64,
) -> Result<crate::services::tenants::TenantSearch, ServerFnError> {
    use crate::domain::plan::Plan;
    use crate::domain::tenant::TenantStatus;
    Ok(crate::services::tenants::TenantSearch {
        text: q.chars().take(100).collect(),
        plan: plan
            .map(|p| Plan::parse_field("plan", p))
            .transpose()
            .map_err(server_error)?,
        status: status
            .map(|p| TenantStatus::parse_field("status", p))
            .transpose()
            .map_err(server_error)?,
        sort,
        limit: CUSTOMERS_PER_PAGE,
        offset: (page - 1) * CUSTOMERS_PER_PAGE,
    })
}

/// One customer's row: the tenant, its keys, and this month's activity.
#[cfg(feature = "ssr")]
fn customer_row(
    c: crate::services::tenants::CustomerSummary,
    now: chrono::DateTime<chrono::Utc>,
) -> CustomerRow {
    let a = c.activity;
    let served = a.hits + a.misses;
    CustomerRow {
        tenant_id: c.tenant.id.to_string(),
        name: c.tenant.name,
        plan: c.tenant.plan.as_str().to_string(),
        status: c.tenant.status.as_str().to_string(),
        created_at: c.tenant.created_at.format("%Y-%m-%d").to_string(),
        keys: c.keys.iter().map(|k| key_row(k, now)).collect(),
        namespaces: c.namespaces,
        last_used: a
            .last_used
            .map(|t| t.format("%Y-%m-%d %H:00 UTC").to_string()),
        requests: a.requests,
        quota: c.monthly_quota,
        hit_rate: (served > 0).then(|| format!("{:.1}%", a.hits as f64 * 100.0 / served as f64)),
    }
}

/// A key as the customers table lists it: the prefix of its newest version
/// still accepted at `now`.
#[cfg(feature = "ssr")]
fn key_row(k: &crate::domain::api_key::ApiKey, now: chrono::DateTime<chrono::Utc>) -> KeyRow {
    KeyRow {
        key_id: k.id.to_string(),
        display_prefix: k
            .versions
            .iter()
            .rev()
            .find(|v| v.state(now) != crate::domain::api_key::SecretState::Retired)
            .map(|v| v.display_prefix.clone())
            .unwrap_or_default(),
        status: k.status.as_str().to_string(),
        created_at: k.created_at.format("%Y-%m-%d").to_string(),
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || match query.read().get("error").as_deref() {
        Some("invalid") => Some("The email or the password is wrong."),
        Some("limited") => {
            Some("Too many failed attempts from here. Wait a little, then try again.")
        }
        Some("busy") => Some("Many sign-ins are being checked right now. Try again in a moment."),
        Some("expired") => Some("Your session has ended. Sign in again, then repeat the action."),
        _ => None,
    };
    let signed_out = move || query.read().get("signed_out").is_some();
    let setup = Resource::new(|| (), |_| setup_needed());
    view! {
        <main class="page narrow">
            <h1>"Sign in to keyward"</h1>
            {move || message().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
            {move || signed_out().then(|| view! { <p class="notice" role="status">"You are signed out."</p> })}
            <form class="stack" method="post" action="/admin/sign-in">
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                <button type="submit">"Sign in"</button>
            </form>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let needed = setup.await.unwrap_or(false);
                    needed.then(|| view! {
                        <section class="card stack" aria-labelledby="first-run">
                            <h2 id="first-run">"First run: create the first admin"</h2>
                            <p>"No admin exists yet. Enter the root token (printed once at first start, and kept in the data directory's root_token file) to create one."</p>
                            <form class="stack" method="post" action="/admin/first-run">
                                <label for="root_token">"Root token"</label>
                                <input id="root_token" name="root_token" type="password" required/>
                                <label for="first_email">"Email"</label>
                                <input id="first_email" name="email" type="email" required/>
                                <label for="first_password">"Password (at least 12 characters)"</label>
                                <input id="first_password" name="password" type="password" minlength="12" required/>
                                <button type="submit">"Create admin and sign in"</button>
                            </form>
                        </section>
                    })
                })}
            </Suspense>
        </main>
    }
}

#[component]
pub fn CacheKeysPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                q.get("q"),
                q.get("plan"),
                q.get("status"),
                q.get("sort"),
                q.get("page").and_then(|p| p.parse::<i64>().ok()),
            )
        },
        |(q, plan, status, sort, page)| customers(q, plan, status, sort, page),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading customers..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Customers page/> }.into_any(),
                    Ok(None) => sign_in_first().into_any(),
                    Err(e) => page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

/// A value from the URL shown on a page only if it looks like an id (so a
/// crafted link cannot put words on the dashboard).
pub(crate) fn safe(value: &str) -> String {
    if !value.is_empty()
        && value.len() <= 80
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        value.to_string()
    } else {
        "?".to_string()
    }
}

/// What to fix, from the stable reason (an input field or an error code) a
/// refused form comes back with.
pub(crate) fn reason_text(reason: &str) -> String {
    match reason {
        "user_id" => "the tenant id must be 1 to 64 letters, digits, '_' or '-'.".into(),
        "tier" => "choose the plan free, pro or enterprise.".into(),
        "integration" => "the integration must be a short lowercase name.".into(),
        "project_id" => "the project must be a short name of letters and digits.".into(),
        "namespace" => "the namespace is not valid or already exists.".into(),
        "name" => "the name is too long.".into(),
        "value" => "the value must be 8 to 4096 printable characters without spaces, and (when checked) accepted by the provider.".into(),
        "service" => "choose one of the listed services.".into(),
        "kind" => "choose managed or customer.".into(),
        "PROVIDER_UNAVAILABLE" => "the provider did not answer; try again, or store it unchecked.".into(),
        "plan" => "choose the plan free, pro or enterprise.".into(),
        "overall_requests_per_second" => "the overall per-second figure is a whole number from 1 to 10000000.".into(),
        "overall_requests_per_month" => "the overall monthly quota is a whole number from 1 to 1000000000000.".into(),
        "scopes" => "namespace patterns are names, or a prefix followed by '*', separated by commas.".into(),
        "amount" => "give the amount as a decimal such as 12.34 and the day it was paid.".into(),
        "XERO_NOT_CONFIGURED" => "Xero is not configured (KEYWARD_XERO_CLIENT_ID and KEYWARD_XERO_CLIENT_SECRET).".into(),
        "XERO_UNAVAILABLE" => "Xero did not answer; try again later.".into(),
        "TENANT_HAS_CHILDREN" => "the customer has sub-organisations; move or erase them first.".into(),
        "NAMESPACE_TAKEN" | "NAMESPACE_EXISTS" => "that namespace name is taken.".into(),
        other => format!("the request was refused ({}).", safe(other)),
    }
}

/// The message a finished (or refused) action leaves on the page.
fn notice(kind: &str, key: &str, reason: &str) -> Option<(bool, String)> {
    let key = safe(key);
    match kind {
        "invalid" => Some((
            true,
            format!("Provisioning refused: {}", reason_text(reason)),
        )),
        "disabled" => Some((
            false,
            format!("Key {key} is disabled: the API refuses it from the next request on."),
        )),
        "active" => Some((false, format!("Key {key} is enabled again."))),
        "confirm" => Some((
            true,
            "Tick the confirmation box before disabling or rotating a key.".to_string(),
        )),
        "read-only" => Some((
            true,
            "Viewers can see everything and change nothing.".to_string(),
        )),
        "rotated" => Some((false, format!("Key {key} is rotated."))),
        "provisioned" => Some((false, format!("Customer provisioned: key {key}."))),
        "erased" => Some((
            false,
            format!("Customer {key} erased: its keys, namespaces, cached responses, secrets and usage are gone; its invoices stay."),
        )),
        _ => None,
    }
}

/// The customers page. Each part is its own component whose view is erased
/// (`into_any`) at the boundary: a release build (which, unlike debug builds,
/// keeps component types) must never see one view type as deep as the whole
/// table, or the compiler overflows its query depth on it.
#[component]
fn Customers(page: CustomersPage) -> impl IntoView {
    let query = use_query_map();
    let message = {
        let q = query.read_untracked();
        notice(
            q.get("notice").as_deref().unwrap_or(""),
            q.get("key").as_deref().unwrap_or(""),
            q.get("reason").as_deref().unwrap_or(""),
        )
    };
    let csrf = page.admin.csrf_token.clone();
    let viewer = page.admin.role != "admin";
    let pages = ((page.total + page.per_page - 1) / page.per_page).max(1);
    let links = CustomerLinks {
        q: page.q.clone(),
        plan: page.plan.clone().unwrap_or_default(),
        status: page.status.clone().unwrap_or_default(),
        sort: page.sort.clone(),
    };
    let prev = (page.page > 1).then(|| links.href(&links.sort, page.page - 1));
    let next = (page.page < pages).then(|| links.href(&links.sort, page.page + 1));
    let summary = format!("{} customers, page {} of {}", page.total, page.page, pages);
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>"Customers"</h1>
            {message.map(|(error, text)| view! { <Notice error text/> })}
            {viewer.then(|| view! { <p class="muted">"You are signed in as a viewer: actions are refused."</p> })}
            {page.new_secret.clone().map(|s| view! { <NewSecretPanel secret=s/> })}
            <ProvisionForm csrf=csrf.clone() open=page.total == 0/>
            <CustomerFilters links=links.clone()/>
            <p class="muted">{summary}</p>
            <CustomersTable rows=page.rows links csrf/>
            <Pager prev next/>
        </main>
    }
    .into_any()
}

/// The customers list's filters and sort, and the links that change one of them.
#[derive(Clone)]
struct CustomerLinks {
    q: String,
    plan: String,
    status: String,
    sort: String,
}

impl CustomerLinks {
    /// A link to this view with the sort and the page set.
    fn href(&self, sort: &str, n: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("q", &self.q),
            ("plan", &self.plan),
            ("status", &self.status),
        ] {
            if !v.is_empty() {
                pairs.push((k, v.clone()));
            }
        }
        if sort != "id" {
            pairs.push(("sort", sort.to_string()));
        }
        if n > 1 {
            pairs.push(("page", n.to_string()));
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        if query.is_empty() {
            "/admin/cache-keys".to_string()
        } else {
            format!("/admin/cache-keys?{}", query.join("&"))
        }
    }
}

#[component]
fn ProvisionForm(csrf: String, open: bool) -> impl IntoView {
    view! {
        <details class="card" open=open>
            <summary>"Provision a customer"</summary>
            <form class="grid-form" method="post" action="/admin/provision">
                <input type="hidden" name="csrf_token" value=csrf/>
                <label for="p-user">"Tenant id"</label>
                <input id="p-user" name="user_id" required pattern="[A-Za-z0-9_\\-]{1,64}"/>
                <label for="p-name">"Name (optional)"</label>
                <input id="p-name" name="name"/>
                <label for="p-tier">"Plan"</label>
                <select id="p-tier" name="tier">
                    <option value="free">"free (pooled key)"</option>
                    <option value="pro" selected=true>"pro"</option>
                    <option value="enterprise">"enterprise"</option>
                </select>
                <label for="p-integration">"Integration"</label>
                <input id="p-integration" name="integration" value="files" required/>
                <label for="p-project">"Project"</label>
                <input id="p-project" name="project_id" value="jt" required/>
                <label for="p-namespace">"Namespace (optional)"</label>
                <input id="p-namespace" name="namespace" placeholder="<project>_<tenant id>"/>
                <label for="p-scopes">"Pooled key: namespace patterns (optional, comma-separated)"</label>
                <input id="p-scopes" name="scopes" placeholder="jt_customer_*"/>
                <label for="p-overall-rps">"Pooled key: overall requests per second, all its tenants (optional)"</label>
                <input id="p-overall-rps" name="overall_requests_per_second" inputmode="numeric"/>
                <label for="p-overall-month">"Pooled key: overall requests per month, all its tenants (optional)"</label>
                <input id="p-overall-month" name="overall_requests_per_month" inputmode="numeric"/>
                <button type="submit">"Provision"</button>
            </form>
        </details>
    }
    .into_any()
}

#[component]
fn CustomerFilters(links: CustomerLinks) -> impl IntoView {
    let CustomerLinks {
        q,
        plan,
        status,
        sort,
    } = links;
    view! {
        <form class="filters" method="get" action="/admin/cache-keys" role="search">
            <label for="q">"Search"</label>
            <input id="q" name="q" type="search" value=q placeholder="tenant id or name"/>
            <label for="status">"Status"</label>
            <select id="status" name="status">
                <option value="" selected=status.is_empty()>"Any status"</option>
                <option value="active" selected=status == "active">"active"</option>
                <option value="suspended" selected=status == "suspended">"suspended"</option>
            </select>
            <input type="hidden" name="sort" value=sort/>
            <label for="plan">"Plan"</label>
            <select id="plan" name="plan">
                <option value="" selected=plan.is_empty()>"All plans"</option>
                <option value="free" selected=plan == "free">"free"</option>
                <option value="pro" selected=plan == "pro">"pro"</option>
                <option value="enterprise" selected=plan == "enterprise">"enterprise"</option>
            </select>
            <button type="submit">"Filter"</button>
        </form>
    }
    .into_any()
}

#[component]
fn CustomersTable(rows: Vec<CustomerRow>, links: CustomerLinks, csrf: String) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No customers yet. Provision one with POST /api/provision."</p> }
            .into_any();
    }
    view! {
        <table class="customers">
            <caption class="visually-hidden">"Customers and their keys"</caption>
            <thead>
                <tr>
                    <SortHeader key="id" label="Tenant" links=links.clone()/>
                    <SortHeader key="plan" label="Plan" links=links.clone()/>
                    <th scope="col">"Namespaces"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Keys"</th>
                    <SortHeader key="created" label="Created" links/>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Requests this month"</th>
                    <th scope="col">"Hit rate"</th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <CustomerRowView row csrf=csrf.clone()/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// A column header that sorts the table by `key`.
#[component]
fn SortHeader(key: &'static str, label: &'static str, links: CustomerLinks) -> impl IntoView {
    let current = links.sort == key;
    // Newest first when sorted by creation; the others A to Z.
    let descending = key == "created";
    let (order, arrow) = match (current, descending) {
        (false, _) => ("none", ""),
        (true, false) => ("ascending", " \u{25B2}"),
        (true, true) => ("descending", " \u{25BC}"),
    };
    view! {
        <th scope="col" aria-sort=order>
            <a href=links.href(key, 1)>{label}{arrow}</a>
        </th>
    }
    .into_any()
}

#[component]
fn CustomerRowView(row: CustomerRow, csrf: String) -> impl IntoView {
    let r = row;
    view! {
        <tr data-tenant=r.tenant_id.clone()>
            <td><a href=format!("/admin/customers/{}", r.tenant_id) rel="external"><strong>{r.tenant_id.clone()}</strong></a><br/><span class="muted">{r.name}</span></td>
            <td>{r.plan}</td>
            <td>{r.namespaces.join(", ")}</td>
            <td><span class=format!("badge {}", r.status)>{r.status.clone()}</span></td>
            <td><KeyList keys=r.keys csrf/></td>
            <td>{r.created_at}</td>
            <td>{r.last_used.unwrap_or_else(|| "never".to_string())}</td>
            <td><QuotaUse requests=r.requests quota=r.quota/></td>
            <td>{r.hit_rate.unwrap_or_else(|| "-".to_string())}</td>
        </tr>
    }
    .into_any()
}

/// A customer's keys, each with its rotate and disable/enable forms.
#[component]
fn KeyList(keys: Vec<KeyRow>, csrf: String) -> impl IntoView {
    view! {
        <ul class="keys">
            {keys.into_iter().map(|k| {
                let active = k.status == "active";
                view! {
                    <li data-key=k.key_id.clone()>
                        <code>{k.display_prefix}"..."</code>
                        " "
                        <span class=format!("badge {}", k.status)>{k.status.clone()}</span>
                        <KeyActions key_id=k.key_id.clone() active csrf=csrf.clone() back=None/>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// Requests this month against the monthly quota, as text and a meter.
#[component]
pub fn QuotaUse(requests: i64, quota: i64) -> impl IntoView {
    view! {
        {format!("{requests} / {quota}")}
        <meter min="0" max=quota.max(1) value=requests.min(quota)
            aria-label="share of the monthly quota used"></meter>
    }
    .into_any()
}

/// Previous and next page links, where there is such a page.
#[component]
pub fn Pager(prev: Option<String>, next: Option<String>) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {prev.map(|href| view! { <a href=href rel="prev">"Previous"</a> })}
            {next.map(|href| view! { <a href=href rel="next">"Next"</a> })}
        </nav>
    }
    .into_any()
}

/// The new secret after a rotation: shown once, with a copy button. The
/// button's handler lives in the wasm bundle (no inline script, so a strict
/// Content-Security-Policy holds); without JavaScript the secret can be
/// selected and copied by hand.
#[component]
pub fn NewSecretPanel(secret: ShownOnce) -> impl IntoView {
    let (label, set_label) = signal("Copy");
    let value = secret.secret.clone();
    view! {
        <section class="card secret" role="region" aria-labelledby="new-secret">
            <h2 id="new-secret">"New secret for key " {secret.key_id.clone()}</h2>
            <p><strong>"Copy it now: you will not see this again."</strong></p>
            <p><code class="secret-value">{secret.secret.clone()}</code></p>
            <button type="button" class="copy" on:click=move |_| copy_to_clipboard(value.clone(), set_label)>
                {label}
            </button>
            {secret.old_valid_until.clone().map(|end| view! {
                <p class="muted">"The old secret keeps working until " {end} "."</p>
            })}
        </section>
    }
    .into_any()
}

/// Writes `text` to the browser's clipboard, then says how it went on the button.
fn copy_to_clipboard(text: String, label: WriteSignal<&'static str>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        let Some(window) = web_sys::window() else {
            return;
        };
        let written = window.navigator().clipboard().write_text(&text);
        let outcome = wasm_bindgen_futures::JsFuture::from(written).await;
        label.set(if outcome.is_ok() {
            "Copied"
        } else {
            "Copy refused: select the secret and copy it by hand"
        });
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (text, label);
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A key's Rotate (grace period, confirmation) and Disable (confirmation) /
/// Enable forms; `back` is the admin page to return to (default: customers).
/// Ids are prefixed with the page, so two lists on one page never clash.
#[component]
pub fn KeyActions(
    key_id: String,
    active: bool,
    csrf: String,
    back: Option<String>,
) -> impl IntoView {
    let scope = if back.is_some() { "c-" } else { "" };
    let grace_id = format!("{scope}grace-{key_id}");
    let rotate_id = format!("{scope}rotate-confirm-{key_id}");
    let confirm_id = format!("{scope}confirm-{key_id}");
    let back_field = move || {
        back.clone()
            .map(|b| view! { <input type="hidden" name="back" value=b/> })
    };
    view! {
        <form class="inline" method="post" action=format!("/admin/keys/{key_id}/rotate")>
            <input type="hidden" name="csrf_token" value=csrf.clone()/>
            {back_field()}
            <label for=grace_id.clone()>"Old secret valid for"</label>
            <select id=grace_id name="grace_seconds">
                <option value="0">"none (at once)"</option>
                <option value="3600">"1 hour"</option>
                <option value="86400" selected=true>"24 hours"</option>
                <option value="604800">"7 days"</option>
            </select>
            <input type="checkbox" id=rotate_id.clone() name="confirm" value="yes" required/>
            <label for=rotate_id>"Confirm rotate"</label>
            <button type="submit">"Rotate"</button>
        </form>
        <form class="inline" method="post"
            action=format!("/admin/keys/{key_id}/{}", if active { "disable" } else { "enable" })>
            <input type="hidden" name="csrf_token" value=csrf/>
            {back_field()}
            {active.then(|| view! {
                <input type="checkbox" id=confirm_id.clone() name="confirm" value="yes" required/>
                <label for=confirm_id.clone()>"Confirm disable"</label>
            })}
            <button type="submit" class=if active { "danger" } else { "" }>
                {if active { "Disable" } else { "Enable" }}
            </button>
        </form>
    }
}

/// What an action left to say: an error (`role="alert"`) or a status.
#[component]
pub fn Notice(error: bool, text: String) -> impl IntoView {
    if error {
        view! { <p class="notice error" role="alert">{text}</p> }.into_any()
    } else {
        view! { <p class="notice" role="status">{text}</p> }.into_any()
    }
}

/// The bar on every signed-in page: where to go, who is signed in, sign-out.
#[component]
pub fn AdminBar(admin: AdminView) -> impl IntoView {
    view! {
        <header class="admin-bar">
            <strong>"keyward admin"</strong>
            <nav aria-label="Admin pages" class="admin-nav">
                <a href="/admin/cache-keys">"Customers"</a>
                <a href="/admin/costs" rel="external">"Costs"</a>
                <a href="/admin/optimize" rel="external">"Optimisation"</a>
                <a href="/admin/invoices">"Invoices"</a>
                <a href="/admin/tokens">"Tokens"</a>
                <a href="/admin/jobs">"Jobs"</a>
                <a href="/admin/webhooks">"Webhooks"</a>
            </nav>
            <span class="who">{admin.email.clone()} " (" {admin.role.clone()} ")"</span>
            <form method="post" action="/admin/sign-out">
                <input type="hidden" name="csrf_token" value=admin.csrf_token.clone()/>
                <button type="submit">"Sign out"</button>
            </form>
        </header>
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoiceRow {
    pub number: String,
    pub tenant_id: String,
    pub contact_name: String,
    pub status: String,
    pub date: String,
    pub due_date: String,
    pub lines: usize,
    pub total: String,
    pub due: String,
    pub currency: String,
    /// Identifies this page's payment form: submitting it twice records one payment.
    pub payment_form_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvoicesPageData {
    pub admin: AdminView,
    pub period: String,
    pub status: String,
    pub invoices: Vec<InvoiceRow>,
}

/// A month's invoices (default: last month), optionally of one status.
#[server(prefix = "/admin/fn", endpoint = "invoices")]
pub async fn invoices_page(
    period: Option<String>,
    status: Option<String>,
) -> Result<Option<InvoicesPageData>, ServerFnError> {
    use crate::domain::invoice::{cents_to_decimal, BillingPeriod, InvoiceStatus};
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    let period = match period.filter(|p| !p.is_empty()) {
        Some(p) => BillingPeriod::parse(&p).map_err(server_error)?,
        None => {
            let today = chrono::Utc::now().date_naive();
            BillingPeriod::containing(
                BillingPeriod::containing(today).first_day() - chrono::Duration::days(1),
            )
        }
    };
    let status = status.filter(|s| !s.is_empty());
    let status_filter = status
        .as_deref()
        .map(InvoiceStatus::parse)
        .transpose()
        .map_err(server_error)?;
    let invoices = state
        .core
        .billing
        .invoices(Some(period), status_filter)
        .await
        .map_err(server_error)?;
    Ok(Some(InvoicesPageData {
        admin: admin_view(session),
        period: period.to_string(),
        status: status.unwrap_or_default(),
        invoices: invoices
            .into_iter()
            .map(|i| InvoiceRow {
                total: cents_to_decimal(i.total_cents()),
                due: cents_to_decimal(i.due_cents()),
                lines: i.lines.len(),
                number: i.number,
                tenant_id: i.tenant_id,
                contact_name: i.contact_name,
                status: i.status.as_str().to_string(),
                date: i.date.to_string(),
                due_date: i.due_date.to_string(),
                currency: i.currency,
                payment_form_id: uuid::Uuid::new_v4().to_string(),
            })
            .collect(),
    }))
}

#[component]
pub fn InvoicesPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (q.get("period"), q.get("status"))
        },
        |(period, status)| invoices_page(period, status),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading invoices..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Invoices page/> }.into_any(),
                    Ok(None) => sign_in_first().into_any(),
                    Err(e) => page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Invoices(page: InvoicesPageData) -> impl IntoView {
    let query = use_query_map();
    let message = {
        let q = query.read_untracked();
        match q.get("notice").as_deref() {
            Some("generated") => Some((
                false,
                // Only a number from the URL is shown; anything else, not at all.
                match q.get("count").and_then(|c| c.parse::<u32>().ok()) {
                    Some(n) => format!("{n} draft invoices generated for {}.", page.period),
                    None => format!("Draft invoices generated for {}.", page.period),
                },
            )),
            Some("read-only") => Some((
                true,
                "Viewers can see everything and change nothing.".to_string(),
            )),
            Some("bad-period") => Some((true, "Give the month as YYYY-MM.".to_string())),
            Some("pushed") => Some((
                false,
                match q.get("count").and_then(|c| c.parse::<u32>().ok()) {
                    Some(n) => format!("{n} invoices pushed to Xero."),
                    None => "Invoices pushed to Xero.".to_string(),
                },
            )),
            Some("paid") => Some((false, "Payment recorded.".to_string())),
            Some("refused") => Some((
                true,
                format!(
                    "Refused: {}",
                    reason_text(&q.get("reason").unwrap_or_default())
                ),
            )),
            _ => None,
        }
    };
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>"Invoices " {page.period.clone()}</h1>
            {message.map(|(error, text)| view! { <Notice error text/> })}
            <InvoiceFilters period=page.period.clone() status=page.status/>
            <InvoiceActions csrf=page.admin.csrf_token.clone() period=page.period.clone()/>
            <InvoiceTable invoices=page.invoices csrf=page.admin.csrf_token.clone() period=page.period.clone()/>
        </main>
    }
    .into_any()
}

/// The month and status the invoice list shows.
#[component]
fn InvoiceFilters(period: String, status: String) -> impl IntoView {
    view! {
        <form class="filters" method="get" action="/admin/invoices">
            <label for="period">"Month"</label>
            <input id="period" name="period" type="month" value=period/>
            <label for="inv-status">"Status"</label>
            <select id="inv-status" name="status">
                <option value="" selected=status.is_empty()>"Any status"</option>
                <option value="draft" selected=status == "draft">"draft"</option>
                <option value="sent" selected=status == "sent">"sent"</option>
                <option value="paid" selected=status == "paid">"paid"</option>
            </select>
            <button type="submit">"Show"</button>
        </form>
    }
    .into_any()
}

/// Generating the month's invoices, and their Xero downloads.
#[component]
fn InvoiceActions(csrf: String, period: String) -> impl IntoView {
    let csv = format!("/admin/invoices/export?period={period}&format=csv");
    let json = format!("/admin/invoices/export?period={period}&format=json");
    let generate = format!("Generate invoices for {period}");
    view! {
        <div class="actions">
            <form method="post" action="/admin/invoices/generate">
                <input type="hidden" name="csrf_token" value=csrf.clone()/>
                <input type="hidden" name="period" value=period.clone()/>
                <button type="submit">{generate}</button>
            </form>
            <form method="post" action="/admin/invoices/push">
                <input type="hidden" name="csrf_token" value=csrf/>
                <input type="hidden" name="period" value=period/>
                <button type="submit">"Push drafts to Xero"</button>
            </form>
            <a class="download" href=csv download>"Download Xero CSV"</a>
            <a class="download" href=json download>"Download Xero JSON"</a>
        </div>
    }
    .into_any()
}

/// Recording a payment received for a sent invoice (default: what is due, today).
#[component]
fn PaymentForm(
    number: String,
    due: String,
    csrf: String,
    period: String,
    form_id: String,
) -> impl IntoView {
    let amount_id = format!("pay-amount-{number}");
    let date_id = format!("pay-date-{number}");
    view! {
        <form class="inline" method="post" action=format!("/admin/invoices/{number}/payment")>
            <input type="hidden" name="csrf_token" value=csrf/>
            <input type="hidden" name="period" value=period/>
            <input type="hidden" name="form_id" value=form_id/>
            <label for=amount_id.clone()>"Amount"</label>
            <input id=amount_id name="amount" value=due inputmode="decimal" size="8" required/>
            <label for=date_id.clone()>"Paid on"</label>
            <input id=date_id name="date" type="date" required/>
            <button type="submit">"Record payment"</button>
        </form>
    }
    .into_any()
}

/// The month's invoices, or a hint to generate them.
#[component]
fn InvoiceTable(invoices: Vec<InvoiceRow>, csrf: String, period: String) -> impl IntoView {
    if invoices.is_empty() {
        return view! { <p class="empty">"No invoices for this month yet. Generate them from the month's usage."</p> }.into_any();
    }
    view! {
        <table class="customers invoices">
            <caption class="visually-hidden">"Invoices of the month"</caption>
            <thead>
                <tr>
                    <th scope="col">"Number"</th>
                    <th scope="col">"Customer"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Date"</th>
                    <th scope="col">"Due"</th>
                    <th scope="col">"Lines"</th>
                    <th scope="col">"Total"</th>
                    <th scope="col">"Outstanding"</th>
                    <th scope="col">"Payment"</th>
                </tr>
            </thead>
            <tbody>
                {invoices.into_iter().map(|i| view! {
                    <tr data-invoice=i.number.clone()>
                        <td><code>{i.number.clone()}</code></td>
                        <td>{i.contact_name}<br/><span class="muted">{i.tenant_id}</span></td>
                        <td><span class=format!("badge {}", i.status.clone())>{i.status.clone()}</span></td>
                        <td>{i.date}</td>
                        <td>{i.due_date}</td>
                        <td>{i.lines}</td>
                        <td class="num">{format!("{} {}", i.total, i.currency)}</td>
                        <td class="num">{format!("{} {}", i.due, i.currency)}</td>
                        <td>{(i.status == "sent").then(|| view! {
                            <PaymentForm number=i.number.clone() due=i.due.clone() csrf=csrf.clone() period=period.clone() form_id=i.payment_form_id.clone()/>
                        })}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
