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
}

/// A rotated key's new secret, in the one page view that shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShownOnce {
    pub key_id: String,
    pub secret: String,
    pub old_valid_until: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomersPage {
    pub new_secret: Option<ShownOnce>,
    pub admin: AdminView,
    pub rows: Vec<CustomerRow>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    pub plan: Option<String>,
}

/// Whether the first-run form should be offered (no admin exists yet).
#[server(prefix = "/admin/fn", endpoint = "setup_needed")]
pub async fn setup_needed() -> Result<bool, ServerFnError> {
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    Ok(state
        .core
        .admin_count()
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?
        == 0)
}

/// A page of customers (tenants with their keys); redirects to the sign-in
/// page without a live session.
#[server(prefix = "/admin/fn", endpoint = "customers")]
pub async fn customers(
    plan: Option<String>,
    page: Option<i64>,
) -> Result<Option<CustomersPage>, ServerFnError> {
    use crate::domain::plan::Plan;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let headers: http::HeaderMap = leptos_axum::extract().await?;
    let session = match crate::api::admin_session::session_token(&headers) {
        Some(token) => state
            .core
            .admin_session(&token)
            .await
            .map_err(|e| ServerFnError::new(e.to_string()))?,
        None => None,
    };
    let Some(session) = session else {
        leptos_axum::redirect("/admin/sign-in");
        // Rendering on the server: make it a real redirect for the browser.
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::SEE_OTHER);
        }
        return Ok(None);
    };
    let plan = plan.filter(|p| !p.is_empty());
    let plan_filter = plan
        .as_deref()
        .map(|p| Plan::parse_field("plan", p))
        .transpose()
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let per_page = 50;
    let page = page.unwrap_or(1).max(1);
    let (tenants, total) = state
        .core
        .list_tenants(plan_filter, per_page, (page - 1) * per_page)
        .await
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let now = chrono::Utc::now();
    let mut rows = Vec::with_capacity(tenants.len());
    for t in tenants {
        let keys = state
            .core
            .list_keys(Some(&t.id))
            .await
            .map_err(|e| ServerFnError::new(e.to_string()))?;
        rows.push(CustomerRow {
            tenant_id: t.id.to_string(),
            name: t.name,
            plan: t.plan.as_str().to_string(),
            status: format!("{:?}", t.status).to_lowercase(),
            created_at: t.created_at.format("%Y-%m-%d").to_string(),
            keys: keys
                .iter()
                .map(|k| KeyRow {
                    key_id: k.id.to_string(),
                    display_prefix: k
                        .versions
                        .iter()
                        .rev()
                        .find(|v| v.state(now) != crate::domain::api_key::SecretState::Retired)
                        .map(|v| v.display_prefix.clone())
                        .unwrap_or_default(),
                    status: format!("{:?}", k.status).to_lowercase(),
                    created_at: k.created_at.format("%Y-%m-%d").to_string(),
                })
                .collect(),
        });
    }
    // Taken, not read: the secret is in this one response only, never cached.
    let new_secret = state
        .secret_flash
        .remove(&session.csrf_token)
        .map(|s| ShownOnce {
            key_id: s.key_id,
            secret: s.secret,
            old_valid_until: s
                .old_valid_until
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        });
    if new_secret.is_some() {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.insert_header(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
        }
    }
    Ok(Some(CustomersPage {
        new_secret,
        admin: AdminView {
            email: session.email,
            role: session.role.as_str().to_string(),
            csrf_token: session.csrf_token,
        },
        rows,
        total,
        page,
        per_page,
        plan,
    }))
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || match query.read().get("error").as_deref() {
        Some("invalid") => Some("The email or the password is wrong."),
        Some("limited") => Some("Too many attempts. Wait a minute, then try again."),
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
                q.get("plan"),
                q.get("page").and_then(|p| p.parse::<i64>().ok()),
            )
        },
        |(plan, page)| customers(plan, page),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading customers..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Customers page/> }.into_any(),
                    Ok(None) => view! { <main class="page"><p>"Sign in first: "<a href="/admin/sign-in">"sign in"</a></p></main> }.into_any(),
                    Err(e) => view! { <main class="page"><p class="notice error" role="alert">{e.to_string()}</p></main> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The message a finished (or refused) action leaves on the page.
fn notice(kind: &str, key: &str, message: &str) -> Option<(bool, String)> {
    match kind {
        "invalid" => Some((true, format!("Provisioning refused: {message}"))),
        "disabled" => Some((
            false,
            format!("Key {key} is disabled: the API refuses it from the next request on."),
        )),
        "active" => Some((false, format!("Key {key} is enabled again."))),
        "confirm" => Some((true, "Tick Confirm before disabling a key.".to_string())),
        "read-only" => Some((
            true,
            "Viewers can see everything and change nothing.".to_string(),
        )),
        "rotated" => Some((false, format!("Key {key} is rotated."))),
        "provisioned" => Some((false, format!("Customer provisioned: key {key}."))),
        _ => None,
    }
}

#[component]
fn Customers(page: CustomersPage) -> impl IntoView {
    let query = use_query_map();
    let message = {
        let q = query.read_untracked();
        notice(
            q.get("notice").as_deref().unwrap_or(""),
            q.get("key").as_deref().unwrap_or(""),
            q.get("message").as_deref().unwrap_or(""),
        )
    };
    let csrf = page.admin.csrf_token.clone();
    let viewer = page.admin.role != "admin";
    let pages = ((page.total + page.per_page - 1) / page.per_page).max(1);
    let plan = page.plan.clone().unwrap_or_default();
    let link = {
        let plan = plan.clone();
        move |n: i64| {
            if plan.is_empty() {
                format!("/admin/cache-keys?page={n}")
            } else {
                format!("/admin/cache-keys?plan={plan}&page={n}")
            }
        }
    };
    let prev = (page.page > 1).then(|| link(page.page - 1));
    let next = (page.page < pages).then(|| link(page.page + 1));
    view! {
        <header class="admin-bar">
            <strong>"keyward admin"</strong>
            <span class="who">{page.admin.email.clone()} " (" {page.admin.role.clone()} ")"</span>
            <form method="post" action="/admin/sign-out">
                <input type="hidden" name="csrf_token" value=page.admin.csrf_token.clone()/>
                <button type="submit">"Sign out"</button>
            </form>
        </header>
        <main class="page wide">
            <h1>"Customers"</h1>
            {message.map(|(error, text)| if error {
                view! { <p class="notice error" role="alert">{text}</p> }.into_any()
            } else {
                view! { <p class="notice" role="status">{text}</p> }.into_any()
            })}
            {viewer.then(|| view! { <p class="muted">"You are signed in as a viewer: actions are refused."</p> })}
            {page.new_secret.clone().map(|s| view! { <NewSecretPanel secret=s/> })}
            <details class="card" open=page.total == 0>
                <summary>"Provision a customer"</summary>
                <form class="grid-form" method="post" action="/admin/provision">
                    <input type="hidden" name="csrf_token" value=csrf.clone()/>
                    <label for="p-user">"Tenant id"</label>
                    <input id="p-user" name="user_id" required pattern="[A-Za-z0-9_-]{1,64}"/>
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
                    <button type="submit">"Provision"</button>
                </form>
            </details>
            <form class="filters" method="get" action="/admin/cache-keys">
                <label for="plan">"Plan"</label>
                <select id="plan" name="plan">
                    <option value="" selected=plan.is_empty()>"All plans"</option>
                    <option value="free" selected=plan == "free">"free"</option>
                    <option value="pro" selected=plan == "pro">"pro"</option>
                    <option value="enterprise" selected=plan == "enterprise">"enterprise"</option>
                </select>
                <button type="submit">"Filter"</button>
            </form>
            <p class="muted">{format!("{} customers, page {} of {}", page.total, page.page, pages)}</p>
            {if page.rows.is_empty() {
                view! { <p class="empty">"No customers yet. Provision one with POST /api/provision."</p> }.into_any()
            } else {
                view! {
                    <table class="customers">
                        <caption class="visually-hidden">"Customers and their keys"</caption>
                        <thead>
                            <tr>
                                <th scope="col">"Tenant"</th>
                                <th scope="col">"Plan"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Keys"</th>
                                <th scope="col">"Created"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {page.rows.into_iter().map(|r| view! {
                                <tr data-tenant=r.tenant_id.clone()>
                                    <td><strong>{r.tenant_id.clone()}</strong><br/><span class="muted">{r.name}</span></td>
                                    <td>{r.plan}</td>
                                    <td><span class=format!("badge {}", r.status)>{r.status.clone()}</span></td>
                                    <td>
                                        <ul class="keys">
                                            {r.keys.into_iter().map(|k| {
                                                let active = k.status == "active";
                                                let action = format!(
                                                    "/admin/keys/{}/{}",
                                                    k.key_id,
                                                    if active { "disable" } else { "enable" }
                                                );
                                                let confirm_id = format!("confirm-{}", k.key_id);
                                                view! {
                                                    <li data-key=k.key_id.clone()>
                                                        <code>{k.display_prefix}"..."</code>
                                                        " "
                                                        <span class=format!("badge {}", k.status)>{k.status.clone()}</span>
                                                        <form class="inline" method="post" action=format!("/admin/keys/{}/rotate", k.key_id)>
                                                            <input type="hidden" name="csrf_token" value=csrf.clone()/>
                                                            <label for=format!("grace-{}", k.key_id)>"Old secret valid for"</label>
                                                            <select id=format!("grace-{}", k.key_id) name="grace_seconds">
                                                                <option value="0">"none (at once)"</option>
                                                                <option value="3600">"1 hour"</option>
                                                                <option value="86400" selected=true>"24 hours"</option>
                                                                <option value="604800">"7 days"</option>
                                                            </select>
                                                            <button type="submit">"Rotate"</button>
                                                        </form>
                                                        <form class="inline" method="post" action=action>
                                                            <input type="hidden" name="csrf_token" value=csrf.clone()/>
                                                            {active.then(|| view! {
                                                                <input type="checkbox" id=confirm_id.clone() name="confirm" value="yes" required/>
                                                                <label for=confirm_id.clone()>"Confirm"</label>
                                                            })}
                                                            <button type="submit" class=if active { "danger" } else { "" }>
                                                                {if active { "Disable" } else { "Enable" }}
                                                            </button>
                                                        </form>
                                                    </li>
                                                }
                                            }).collect_view()}
                                        </ul>
                                    </td>
                                    <td>{r.created_at}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <nav class="pager" aria-label="Pages">
                {prev.map(|href| view! { <a href=href rel="prev">"Previous"</a> })}
                {next.map(|href| view! { <a href=href rel="next">"Next"</a> })}
            </nav>
        </main>
    }
}

/// The new secret after a rotation: shown once, with a copy button (it uses
/// the browser's clipboard; without JavaScript the secret can be selected and
/// copied by hand).
#[component]
fn NewSecretPanel(secret: ShownOnce) -> impl IntoView {
    view! {
        <section class="card secret" role="region" aria-labelledby="new-secret">
            <h2 id="new-secret">"New secret for key " {secret.key_id.clone()}</h2>
            <p><strong>"Copy it now: you will not see this again."</strong></p>
            <p><code class="secret-value">{secret.secret.clone()}</code></p>
            <button
                type="button"
                data-secret=secret.secret.clone()
                onclick="navigator.clipboard.writeText(this.dataset.secret).then(() => { this.textContent = 'Copied'; })"
            >
                "Copy"
            </button>
            {secret.old_valid_until.clone().map(|end| view! {
                <p class="muted">"The old secret keeps working until " {end} "."</p>
            })}
        </section>
    }
}
