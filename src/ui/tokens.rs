//! `/admin/tokens`: operator tokens for the management API (create with
//! permissions, a tenant scope and an expiry; revoke), and the root token's
//! switch. Forms post to `api::admin_tokens`; the page needs `tokens:write`.

use super::admin::{page_error, sign_in_first, AdminBar, AdminView, Notice, ShownOnce};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub display_prefix: String,
    pub state: String,
    pub tenants: String,
    pub permissions: Vec<String>,
    pub every_tenants_secrets: bool,
    pub expires_at: String,
    pub last_used_at: String,
    pub created_by: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokensPageData {
    pub admin: AdminView,
    /// False for an admin without `tokens:write` (a viewer): nothing listed.
    pub may_manage: bool,
    pub root_enabled: bool,
    pub tokens: Vec<TokenRow>,
    pub new_token: Option<ShownOnce>,
    /// Every permission name, for the form's checkboxes.
    pub permissions: Vec<String>,
}

#[cfg(feature = "ssr")]
fn token_row(t: crate::domain::access::OperatorToken) -> TokenRow {
    let at = |t: Option<chrono::DateTime<chrono::Utc>>, none: &str| {
        t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| none.to_string())
    };
    TokenRow {
        state: t.state(chrono::Utc::now()).to_string(),
        expires_at: at(t.expires_at, "never"),
        last_used_at: at(t.last_used_at, "never"),
        tenants: t
            .grants
            .tenants
            .to_stored()
            .unwrap_or_else(|| "every tenant".into()),
        every_tenants_secrets: t.grants.reads_every_tenants_secrets(),
        permissions: t
            .grants
            .permissions
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        id: t.id,
        name: t.name,
        display_prefix: t.display_prefix,
        created_by: t.created_by,
    }
}

/// The tokens, the root token's state, and a token just created (shown once).
#[server(prefix = "/admin/fn", endpoint = "tokens")]
pub async fn tokens_page() -> Result<Option<TokensPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error, take_new_secret};
    use crate::domain::access::Permission;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    let may_manage = session.grants().permits(Permission::TokensWrite);
    let operators = &state.core.operators;
    let (tokens, root_enabled, new_token) = if may_manage {
        (
            operators.list().await.map_err(server_error)?,
            operators.root_enabled().await.map_err(server_error)?,
            take_new_secret(&state, &session.csrf_token).await?,
        )
    } else {
        (Vec::new(), true, None)
    };
    Ok(Some(TokensPageData {
        admin: admin_view(session),
        may_manage,
        root_enabled,
        tokens: tokens.into_iter().map(token_row).collect(),
        new_token,
        permissions: Permission::ALL
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
    }))
}

#[component]
pub fn TokensPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| tokens_page());
    view! {
        <Suspense fallback=|| view! { <p>"Loading tokens..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Tokens page/> }.into_any(),
                    Ok(None) => sign_in_first().into_any(),
                    Err(e) => page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

fn notice_text(kind: &str) -> Option<(bool, &'static str)> {
    Some(match kind {
        "created" => (false, "Token created."),
        "revoked" => (false, "Token revoked: it is refused from its next request on."),
        "root-off" => (false, "The root token is turned off."),
        "root-on" => (false, "The root token is turned on."),
        "read-only" => (true, "Managing tokens needs the tokens:write permission."),
        "confirm" => (true, "Tick the confirmation box first."),
        "no-operator-token" => (
            true,
            "Create a live token with tokens:write over every tenant before turning the root token off.",
        ),
        "invalid" => (
            true,
            "The token was not created: give a name, at least one permission, a tenant scope \
             like acme or acme-*, a future expiry, and tick 'every tenant's secrets' to grant \
             secrets:read without a scope.",
        ),
        _ => return None,
    })
}

#[component]
fn Tokens(page: TokensPageData) -> impl IntoView {
    let query = use_query_map();
    let message = query
        .read_untracked()
        .get("notice")
        .and_then(|n| notice_text(&n));
    let csrf = page.admin.csrf_token.clone();
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>"Operator tokens"</h1>
            {message.map(|(error, text)| view! { <Notice error text=text.to_string()/> })}
            {page.new_token.map(|t| view! { <NewTokenPanel token=t/> })}
            {if page.may_manage {
                view! {
                    <CreateTokenForm csrf=csrf.clone() permissions=page.permissions/>
                    <TokenTable tokens=page.tokens csrf=csrf.clone()/>
                    <RootTokenSwitch csrf enabled=page.root_enabled/>
                }
                .into_any()
            } else {
                view! { <p class="notice error" role="alert">"Managing tokens needs the tokens:write permission."</p> }.into_any()
            }}
        </main>
    }
    .into_any()
}

#[component]
fn NewTokenPanel(token: ShownOnce) -> impl IntoView {
    view! {
        <section class="card secret" role="region" aria-labelledby="new-token">
            <h2 id="new-token">"New operator token " {token.key_id}</h2>
            <p><strong>"Copy it now: you will not see this again."</strong></p>
            <p><code class="secret-value">{token.secret}</code></p>
        </section>
    }
}

#[component]
fn CreateTokenForm(csrf: String, permissions: Vec<String>) -> impl IntoView {
    view! {
        <details class="card" open>
            <summary>"Create a token"</summary>
            <form method="post" action="/admin/tokens" class="stack">
                <input type="hidden" name="csrf_token" value=csrf/>
                <label for="token-name">"Name"</label>
                <input id="token-name" name="name" required maxlength="100" placeholder="provisioning backend"/>
                <fieldset>
                    <legend>"Permissions"</legend>
                    {permissions.into_iter().map(|p| {
                        let id = format!("perm-{}", p.replace(':', "-"));
                        view! {
                            <span class="check">
                                <input type="checkbox" id=id.clone() name="permission" value=p.clone()/>
                                <label for=id>{p}</label>
                            </span>
                        }
                    }).collect_view()}
                </fieldset>
                <label for="token-scope">"Tenants (blank: every tenant; acme, or acme-* for a prefix)"</label>
                <input id="token-scope" name="tenant_scope" maxlength="65"/>
                <label for="token-expires">"Expires on (blank: never)"</label>
                <input id="token-expires" name="expires_on" type="date"/>
                <span class="check">
                    <input type="checkbox" id="token-all-secrets" name="all_tenants_secrets" value="yes"/>
                    <label for="token-all-secrets">"Grant secrets:read over every tenant's provider secrets"</label>
                </span>
                <button type="submit">"Create token"</button>
            </form>
        </details>
    }
}

#[component]
fn TokenTable(tokens: Vec<TokenRow>, csrf: String) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="empty">"No operator tokens yet."</p> }.into_any();
    }
    view! {
        <table class="customers tokens">
            <caption class="visually-hidden">"Operator tokens"</caption>
            <thead>
                <tr>
                    <th scope="col">"Token"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Tenants"</th>
                    <th scope="col">"Permissions"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {tokens.into_iter().map(|t| view! { <TokenRowView row=t csrf=csrf.clone()/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TokenRowView(row: TokenRow, csrf: String) -> impl IntoView {
    let confirm_id = format!("revoke-confirm-{}", row.id);
    let active = row.state == "active";
    view! {
        <tr data-token=row.id.clone()>
            <td>{row.name}<br/><code class="muted">{row.id.clone()} " " {row.display_prefix} "..."</code></td>
            <td><span class=format!("badge {}", row.state)>{row.state.clone()}</span></td>
            <td>{row.tenants}</td>
            <td>
                {row.permissions.join(", ")}
                {row.every_tenants_secrets.then(|| view! {
                    <br/><span class="badge danger">"reads every tenant's secrets"</span>
                })}
            </td>
            <td>{row.expires_at}</td>
            <td>{row.last_used_at}</td>
            <td>
                {active.then(|| view! {
                    <form class="inline" method="post" action=format!("/admin/tokens/{}/revoke", row.id)>
                        <input type="hidden" name="csrf_token" value=csrf/>
                        <input type="checkbox" id=confirm_id.clone() name="confirm" value="yes" required/>
                        <label for=confirm_id>"Confirm revoke"</label>
                        <button type="submit" class="danger">"Revoke"</button>
                    </form>
                })}
            </td>
        </tr>
    }
}

#[component]
fn RootTokenSwitch(csrf: String, enabled: bool) -> impl IntoView {
    let (state, action, next) = if enabled {
        ("on", "Turn the root token off", "off")
    } else {
        ("off", "Turn the root token on", "on")
    };
    view! {
        <section class="card">
            <h2>"Root token"</h2>
            <p>"The bootstrap root token is turned " <strong data-root-token=state>{state}</strong> "."</p>
            <form method="post" action="/admin/root-token">
                <input type="hidden" name="csrf_token" value=csrf/>
                <input type="hidden" name="state" value=next/>
                <button type="submit">{action}</button>
            </form>
        </section>
    }
}
