//! One customer: `/admin/customers/{tenant}`: data-plane use over the last
//! 30 days, the rate limits as gauges, each key's secret versions and
//! actions, the provider secrets (names, kinds, validation; never values)
//! with rotation, and the tenant's audit trail.

use super::admin::{AdminBar, KeyActions, NewSecretPanel, Notice};
use super::costs::{Chart, ChartGrid, Figures};
pub use super::customer_data::{
    AuditRow, CustomerPageData, Gauge, KeyDetail, KeyLimits, SecretRow, VersionRow, DAYS,
};
use super::tenant_actions::TenantActions;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

/// One customer's page: reads what it shows, then builds the page with
/// `customer_model::page`.
#[server(prefix = "/admin/fn", endpoint = "customer")]
pub async fn customer_page(tenant: String) -> Result<Option<CustomerPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use super::customer_model::{self, Input};
    use crate::domain::ids::TenantId;
    use crate::services::audit::AuditFilter;
    use crate::services::usage::Granularity;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    let core = &state.core;
    let id = TenantId::parse(tenant).map_err(server_error)?;
    let detail = core
        .tenants
        .tenant_detail(&id)
        .await
        .map_err(server_error)?;
    let now = chrono::Utc::now();
    let report = core
        .usage
        .usage_report(&id, customer_model::window(now), Granularity::Day)
        .await
        .map_err(server_error)?;
    let limits = core
        .data_plane
        .rate_limits(&id)
        .await
        .map_err(server_error)?;
    let keys = core.keys.list_keys(Some(&id)).await.map_err(server_error)?;
    let secrets = core
        .vault
        .list_secrets(Some(&id))
        .await
        .map_err(server_error)?;
    let audit = core
        .audit
        .audit_trail(AuditFilter {
            tenant_id: Some(id.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await
        .map_err(server_error)?;
    let month = crate::domain::analytics::Period::Monthly.containing(now.date_naive());
    let (_, tpc) = core
        .costs
        .tpc(
            &id,
            crate::domain::analytics::Span {
                from: month.0,
                to: month.1,
            },
        )
        .await
        .map_err(server_error)?;
    let budget = match core.budgets.get(&id).await {
        Ok(b) => Some(b),
        Err(crate::services::Error::NotFound { .. }) => None,
        Err(e) => return Err(server_error(e)),
    };
    let today = now.date_naive();
    let anomalies = core
        .budgets
        .anomalies(
            Some(&id),
            today - chrono::Duration::days(30),
            today + chrono::Duration::days(1),
        )
        .await
        .map_err(server_error)?;
    let new_secret = super::admin::take_new_secret(&state, &session.csrf_token).await?;
    Ok(Some(customer_model::page(Input {
        budget,
        anomalies,
        money: tpc.money,
        admin: admin_view(session),
        new_secret,
        now,
        detail,
        report,
        limits,
        keys,
        secrets,
        audit,
    })))
}

#[component]
pub fn CustomerPage() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.read().get("tenant").unwrap_or_default(),
        customer_page,
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading the customer..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Customer page/> }.into_any(),
                    Ok(None) => super::admin::sign_in_first().into_any(),
                    Err(e) => super::admin::page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

fn notice(kind: &str, q: &leptos_router::params::ParamsMap) -> Option<(bool, String)> {
    let get = |k: &str| super::admin::safe(&q.get(k).unwrap_or_default());
    match kind {
        "secret-rotated" => Some((
            false,
            format!(
                "The {} secret is now version {}.",
                get("service"),
                get("version")
            ),
        )),
        "secret-refused" => Some((
            true,
            format!(
                "The secret was not stored: {}",
                super::admin::reason_text(&q.get("reason").unwrap_or_default())
            ),
        )),
        "disabled" => Some((
            false,
            format!(
                "Key {} is disabled: the API refuses it from the next request on.",
                get("key")
            ),
        )),
        "active" => Some((false, format!("Key {} is enabled again.", get("key")))),
        "rotated" => Some((false, format!("Key {} is rotated.", get("key")))),
        "confirm" => Some((true, "Tick the confirmation box first.".into())),
        "read-only" => Some((
            true,
            "Viewers can see everything and change nothing.".into(),
        )),
        "tenant-updated" => Some((
            false,
            format!("Now on the {} plan, {}.", get("plan"), get("status")),
        )),
        "namespace-created" => Some((false, format!("Namespace {} created.", get("namespace")))),
        "namespace-deleted" => Some((
            false,
            format!(
                "Namespace {} deleted with its cached responses.",
                get("namespace")
            ),
        )),
        "erase-confirm" => Some((
            true,
            "Not erased: type the customer's id exactly to confirm.".into(),
        )),
        "refused" => Some((
            true,
            format!(
                "Refused: {}",
                super::admin::reason_text(&q.get("reason").unwrap_or_default())
            ),
        )),
        _ => None,
    }
}

/// One customer's page, in sections; each section's view is erased
/// (`into_any`) at its component boundary, so no view type is as deep as the
/// page (a release build keeps component types and would overflow on one).
#[component]
fn Customer(page: CustomerPageData) -> impl IntoView {
    let query = use_query_map();
    let message = {
        let q = query.read_untracked();
        notice(q.get("notice").as_deref().unwrap_or(""), &q)
    };
    let csrf = page.admin.csrf_token.clone();
    let back = format!("/admin/customers/{}", page.tenant_id);
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <p><a href="/admin/cache-keys">"\u{2190} Customers"</a></p>
            <h1>{page.tenant_id.clone()} {(page.name != page.tenant_id).then(|| view! { " " <span class="muted">{page.name.clone()}</span> })}</h1>
            {message.map(|(error, text)| view! { <Notice error text/> })}
            {page.new_secret.clone().map(|s| view! { <NewSecretPanel secret=s/> })}
            <TenantFacts
                plan=page.plan.clone()
                status=page.status.clone()
                created_at=page.created_at
                namespaces=page.namespaces.clone()
                tenant_id=page.tenant_id.clone()
            />
            <MoneySection money=page.money/>
            <BudgetSection budget=page.budget tenant_id=page.tenant_id.clone()/>
            <super::automation::AnomalySection anomalies=page.anomalies/>
            <UsageSection usage=page.usage charts=page.charts days=page.days/>
            <RateLimits max_payload=page.max_payload storage=page.storage limits=page.limits/>
            <KeysSection keys=page.keys csrf=csrf.clone() back/>
            <SecretsSection
                secrets=page.secrets
                services=page.services
                csrf
                tenant_id=page.tenant_id.clone()
            />
            <AuditSection audit=page.audit/>
            <TenantActions
                tenant_id=page.tenant_id.clone()
                plan=page.plan
                status=page.status
                namespaces=page.namespaces
                csrf=page.admin.csrf_token.clone()
            />
        </main>
    }
    .into_any()
}

/// Plan, status, creation, namespaces, and a link to the tenant's costs.
#[component]
fn TenantFacts(
    plan: String,
    status: String,
    created_at: String,
    namespaces: Vec<String>,
    tenant_id: String,
) -> impl IntoView {
    view! {
        <dl class="stats">
            <div><dt>"Plan"</dt><dd>{plan}</dd></div>
            <div><dt>"Status"</dt><dd><span class=format!("badge {status}")>{status.clone()}</span></dd></div>
            <div><dt>"Created"</dt><dd>{created_at}</dd></div>
            <div><dt>"Namespaces"</dt><dd>{namespaces.join(", ")}</dd></div>
            <div><dt>"Costs"</dt><dd><a href=format!("/admin/costs?tenant={tenant_id}") rel="external">"cost dashboard"</a></dd></div>
        </dl>
    }
    .into_any()
}

/// This month's bill and what it earns, by the money model (the same
/// figures as the invoice, TPC and the cost dashboard).
#[component]
fn MoneySection(money: Vec<(String, String)>) -> impl IntoView {
    view! {
        <section aria-labelledby="money-h" data-card="money">
            <h2 id="money-h">"This month: billed (the month's subscription, usage to date), cost and profit"</h2>
            <Figures figures=money/>
        </section>
    }
    .into_any()
}

/// The month's spend budget as a gauge (set over the API or CLI).
#[component]
fn BudgetSection(
    budget: Option<super::customer_data::BudgetGauge>,
    tenant_id: String,
) -> impl IntoView {
    let Some(b) = budget else {
        return view! {
            <section aria-labelledby="budget-h">
                <h2 id="budget-h">"Budget"</h2>
                <p class="empty">{format!("No monthly budget: set one with PUT /api/tenants/{tenant_id}/budget or keyward budgets set {tenant_id} --limit 500.00.")}</p>
            </section>
        }
        .into_any();
    };
    let state = if b.capped {
        "capped: requests refused (402) until next month or a raise"
    } else if b.hard_cap {
        "hard cap: requests are refused once it is reached"
    } else {
        "alerts only"
    };
    view! {
        <section aria-labelledby="budget-h">
            <h2 id="budget-h">{format!("Budget, {}", b.period)}</h2>
            <div class="card gauges" data-card="budget">
                <div class="gauge">
                    <label for="budget-gauge">"Spend of budget"</label>
                    <meter id="budget-gauge" min="0" max="100" low="80" high="80" optimum="0" value=b.percent.min(100)></meter>
                    <span>{format!("{} of {} ({}%)", b.spent, b.limit, b.percent)}</span>
                    <span class="muted">{format!("Alerts at {}; {state}.", b.alerts)}</span>
                </div>
            </div>
        </section>
    }
    .into_any()
}

/// Data-plane use over the window: totals, charts, and the charts' data.
#[component]
fn UsageSection(
    usage: Vec<(String, String)>,
    charts: Vec<Chart>,
    days: Vec<[String; 9]>,
) -> impl IntoView {
    view! {
        <section aria-labelledby="usage-h">
            <h2 id="usage-h">{format!("Usage, last {DAYS} days")}</h2>
            <Figures figures=usage/>
            <ChartGrid charts/>
            <details class="card">
                <summary>"Usage per day (the charts' data)"</summary>
                <UsageDays days/>
            </details>
        </section>
    }
    .into_any()
}

/// Use per day: the usage charts' data as a table.
#[component]
fn UsageDays(days: Vec<[String; 9]>) -> impl IntoView {
    if days.is_empty() {
        return view! { <p class="empty">"No requests in this window."</p> }.into_any();
    }
    view! {
        <table class="customers">
            <thead><tr>
                <th scope="col">"Day"</th><th scope="col">"Requests"</th><th scope="col">"Hits"</th><th scope="col">"Misses"</th>
                <th scope="col">"Hit rate"</th><th scope="col">"Bytes in"</th><th scope="col">"Bytes out"</th><th scope="col">"Mean latency"</th><th scope="col">"p95 latency"</th>
            </tr></thead>
            <tbody>
                {days.into_iter().map(|row| view! {
                    <tr>{row.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The rate limits of every key serving the tenant, as gauges.
#[component]
fn RateLimits(max_payload: String, storage: String, limits: Vec<KeyLimits>) -> impl IntoView {
    let note = format!(
        "Largest request body: {max_payload}. Cached responses stored: {storage}. \
         Figures are this replica's live counters."
    );
    let gauges = if limits.is_empty() {
        view! { <p class="empty">"No key serves this tenant's namespaces."</p> }.into_any()
    } else {
        limits
            .into_iter()
            .map(|k| view! { <KeyGauges limits=k/> })
            .collect_view()
            .into_any()
    };
    view! {
        <section aria-labelledby="limits-h">
            <h2 id="limits-h">"Rate limits now"</h2>
            <p class="muted">{note}</p>
            {gauges}
        </section>
    }
    .into_any()
}

/// One key's card of gauges: requests this second and month, concurrency.
#[component]
fn KeyGauges(limits: KeyLimits) -> impl IntoView {
    let k = limits;
    view! {
        <div class="card gauges" data-key=k.key_id.clone()>
            <h3>"Key " <code>{k.key_id.clone()}</code>{k.pooled.then_some(" (pooled)")}</h3>
            <div class="gauge-row">
                {k.gauges.into_iter().map(|g| {
                    let id = format!("g-{}-{}", k.key_id, g.label.replace(' ', "-").to_lowercase());
                    let high = g.limit * 8 / 10;
                    view! {
                        <div class="gauge">
                            <label for=id.clone()>{g.label.clone()}</label>
                            <meter id=id min="0" max=g.limit.max(1) low=high high=high optimum="0" value=g.used.min(g.limit.max(1))></meter>
                            <span>{g.shown.clone()}</span>
                            <span class="muted">{g.note}</span>
                        </div>
                    }
                }).collect_view()}
            </div>
        </div>
    }
    .into_any()
}

/// The tenant's keys, each with its secret versions and actions.
#[component]
fn KeysSection(keys: Vec<KeyDetail>, csrf: String, back: String) -> impl IntoView {
    view! {
        <section aria-labelledby="keys-h">
            <h2 id="keys-h">"Keys and their secret versions"</h2>
            {keys.into_iter().map(|k| view! { <KeyCard key=k csrf=csrf.clone() back=back.clone()/> }).collect_view()}
        </section>
    }
    .into_any()
}

/// One key: its secret versions and its actions.
#[component]
fn KeyCard(key: KeyDetail, csrf: String, back: String) -> impl IntoView {
    let k = key;
    let active = k.status == "active";
    let about = format!(
        "integration {} \u{b7} namespaces {} \u{b7} expires {}",
        k.integration, k.scopes, k.expires_at
    );
    view! {
        <div class="card" data-key=k.key_id.clone()>
            <h3><code>{k.key_id.clone()}</code> " " <span class=format!("badge {}", k.status)>{k.status.clone()}</span></h3>
            <p class="muted">{about}</p>
            <table class="customers">
                <thead><tr><th scope="col">"Version"</th><th scope="col">"Prefix"</th><th scope="col">"State"</th><th scope="col">"Created"</th><th scope="col">"Valid until"</th></tr></thead>
                <tbody>
                    {k.versions.into_iter().map(|v| view! {
                        <tr><td>{v.version}</td><td><code>{v.display_prefix}"..."</code></td>
                        <td><span class=format!("badge {}", v.state)>{v.state.clone()}</span></td><td>{v.created_at}</td><td>{v.valid_until}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div class="actions">
                <KeyActions key_id=k.key_id.clone() active csrf back=Some(back)/>
            </div>
        </div>
    }
    .into_any()
}

/// The tenant's provider secrets (never their values) and the rotate form.
#[component]
fn SecretsSection(
    secrets: Vec<SecretRow>,
    services: Vec<String>,
    csrf: String,
    tenant_id: String,
) -> impl IntoView {
    let table = if secrets.is_empty() {
        view! { <p class="empty">"No provider secrets stored for this tenant (it uses pooled keys)."</p> }.into_any()
    } else {
        view! {
            <table class="customers secrets">
                <thead><tr><th scope="col">"Service"</th><th scope="col">"Kind"</th><th scope="col">"Name"</th><th scope="col">"Version"</th><th scope="col">"Updated"</th><th scope="col">"Last validation"</th></tr></thead>
                <tbody>
                    {secrets.into_iter().map(|s| view! {
                        <tr data-secret=format!("{}/{}", s.service, s.kind)><td>{s.service.clone()}</td><td>{s.kind.clone()}</td><td>{s.name}</td><td>{s.version}</td><td>{s.updated_at}</td><td>{s.validation}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any()
    };
    view! {
        <section aria-labelledby="secrets-h">
            <h2 id="secrets-h">"Provider secrets"</h2>
            <p class="muted">"Names, kinds and validation only: values are sealed (AES-256-GCM) and never shown."</p>
            {table}
            <SecretRotateForm services csrf tenant_id/>
        </section>
    }
    .into_any()
}

/// The form that stores a new version of a provider secret.
#[component]
fn SecretRotateForm(services: Vec<String>, csrf: String, tenant_id: String) -> impl IntoView {
    view! {
        <details class="card">
            <summary>"Rotate (or add) a provider secret"</summary>
            <form class="grid-form" method="post" action="/admin/secrets/rotate" autocomplete="off">
                <input type="hidden" name="csrf_token" value=csrf/>
                <input type="hidden" name="tenant_id" value=tenant_id/>
                <label for="s-service">"Service"</label>
                <select id="s-service" name="service">
                    {services.into_iter().map(|s| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view()}
                </select>
                <label for="s-kind">"Kind"</label>
                <select id="s-kind" name="kind">
                    <option value="managed">"managed (the platform's key for this tenant)"</option>
                    <option value="customer">"customer (their own key)"</option>
                </select>
                <label for="s-value">"New value"</label>
                <input id="s-value" name="value" type="password" required minlength="8" autocomplete="new-password"/>
                <label for="s-validate">"Check it with the provider first"</label>
                <input id="s-validate" name="validate" type="checkbox" value="yes" checked=true/>
                <button type="submit">"Store new version"</button>
            </form>
        </details>
    }
    .into_any()
}

/// The tenant's latest audit records.
#[component]
fn AuditSection(audit: Vec<AuditRow>) -> impl IntoView {
    let table = if audit.is_empty() {
        view! { <p class="empty">"Nothing recorded for this tenant yet."</p> }.into_any()
    } else {
        view! {
            <table class="customers audit">
                <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"Who"</th><th scope="col">"Action"</th><th scope="col">"Target"</th><th scope="col">"Outcome"</th></tr></thead>
                <tbody>
                    {audit.into_iter().map(|a| view! {
                        <tr><td>{a.at}</td><td>{a.actor}</td><td><code>{a.action}</code></td><td>{a.target}</td><td>{a.outcome}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any()
    };
    view! {
        <section aria-labelledby="audit-h">
            <h2 id="audit-h">"Audit trail (latest 50)"</h2>
            {table}
        </section>
    }
    .into_any()
}
