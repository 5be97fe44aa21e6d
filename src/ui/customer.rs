//! One customer: `/admin/customers/{tenant}`: data-plane use over the last
//! 30 days, the rate limits as gauges, each key's secret versions and
//! actions, the provider secrets (names, kinds, validation; never values)
//! with rotation, and the tenant's audit trail.

use super::admin::{AdminBar, AdminView, KeyActions, NewSecretPanel, Notice, ShownOnce};
use super::costs::{Chart, ChartGrid, Figures};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub label: String,
    pub used: i64,
    pub limit: i64,
    /// "used of limit"
    pub shown: String,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyLimits {
    pub key_id: String,
    pub pooled: bool,
    pub gauges: Vec<Gauge>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub version: i64,
    pub display_prefix: String,
    pub state: String,
    pub created_at: String,
    pub valid_until: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyDetail {
    pub key_id: String,
    pub status: String,
    pub integration: String,
    pub scopes: String,
    pub expires_at: String,
    pub versions: Vec<VersionRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretRow {
    pub service: String,
    pub kind: String,
    pub name: String,
    pub version: i64,
    pub updated_at: String,
    pub validation: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerPageData {
    pub admin: AdminView,
    pub new_secret: Option<ShownOnce>,
    pub tenant_id: String,
    pub name: String,
    pub plan: String,
    pub status: String,
    pub created_at: String,
    pub namespaces: Vec<String>,
    /// (label, value) totals over the window.
    pub usage: Vec<(String, String)>,
    pub charts: Vec<Chart>,
    /// (day, requests, hits, misses, hit rate, bytes in, bytes out, mean latency, p95 latency)
    pub days: Vec<[String; 9]>,
    pub limits: Vec<KeyLimits>,
    pub max_payload: String,
    /// Cached bytes stored, of the plan's quota.
    pub storage: String,
    pub keys: Vec<KeyDetail>,
    pub secrets: Vec<SecretRow>,
    pub services: Vec<String>,
    pub audit: Vec<AuditRow>,
}

/// Days of use the page shows.
const DAYS: i64 = 30;

#[server(prefix = "/admin/fn", endpoint = "customer")]
pub async fn customer_page(tenant: String) -> Result<Option<CustomerPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use super::charts::{self, Series};
    use super::format::{bytes, count};
    use crate::domain::ids::TenantId;
    use crate::services::audit::AuditFilter;
    use crate::services::usage::{Granularity, Window};
    use chrono::{Duration, SecondsFormat, Utc};
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
    let now = Utc::now();
    let today = now.date_naive();
    let first = today - Duration::days(DAYS - 1);
    let window = Window {
        from: first.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
        to: now,
    };
    let report = core
        .usage
        .usage_report(&id, window, Granularity::Day)
        .await
        .map_err(server_error)?;
    let days: Vec<chrono::NaiveDate> = (0..DAYS).map(|i| first + Duration::days(i)).collect();
    let labels: Vec<String> = days.iter().map(|d| d.format("%b %d").to_string()).collect();
    let of_day = |d: &chrono::NaiveDate| {
        report
            .series
            .iter()
            .find(|(at, _)| at.date_naive() == *d)
            .map(|(_, t)| t)
    };
    let pick = |f: fn(&crate::domain::usage::UsageTotals) -> f64| -> Vec<f64> {
        days.iter()
            .map(|d| of_day(d).map(f).unwrap_or(0.0))
            .collect()
    };
    let charts_out = vec![
        Chart {
            id: "requests".into(),
            title: format!("Requests per day, last {DAYS} days"),
            series: vec!["hits".into(), "misses".into(), "other".into()],
            svg: charts::stacked_bars(
                "Requests per day by outcome",
                &labels,
                &[
                    Series {
                        name: "hits".into(),
                        values: pick(|t| t.hits as f64),
                    },
                    Series {
                        name: "misses".into(),
                        values: pick(|t| t.misses as f64),
                    },
                    Series {
                        name: "other".into(),
                        values: pick(|t| (t.requests - t.hits - t.misses) as f64),
                    },
                ],
                "Day (UTC)",
                "Requests",
                |v| count(v.round() as i64),
            ),
            empty: format!("No requests in the last {DAYS} days."),
        },
        Chart {
            id: "latency".into(),
            title: format!("Latency per day (ms), last {DAYS} days"),
            series: vec!["mean".into(), "p95".into()],
            svg: charts::lines(
                "Latency per day",
                &labels,
                &[
                    Series {
                        name: "mean".into(),
                        values: days
                            .iter()
                            .map(|d| of_day(d).map(|t| t.mean_latency_ms()).unwrap_or(f64::NAN))
                            .collect(),
                    },
                    Series {
                        name: "p95".into(),
                        values: days
                            .iter()
                            .map(|d| {
                                of_day(d)
                                    .map(|t| t.latency_quantile_ms(0.95))
                                    .unwrap_or(f64::NAN)
                            })
                            .collect(),
                    },
                ],
                "Day (UTC)",
                "Milliseconds",
                None,
                |v| format!("{v:.1} ms"),
            ),
            empty: format!("No requests in the last {DAYS} days."),
        },
    ];
    let mut charts_out = charts_out;
    charts_out.push(Chart {
        id: "customer-hit-rate".into(),
        title: format!("Hit rate and bytes served per day, last {DAYS} days"),
        series: vec!["hit rate".into(), "bytes out (% of the busiest day)".into()],
        svg: {
            let peak = days
                .iter()
                .filter_map(|d| of_day(d).map(|t| t.bytes_out))
                .max()
                .unwrap_or(0)
                .max(1) as f64;
            charts::lines(
                "Cache hit rate and bytes served per day",
                &labels,
                &[
                    Series {
                        name: "hit rate".into(),
                        values: days
                            .iter()
                            .map(|d| match of_day(d) {
                                Some(t) if t.hits + t.misses > 0 => t.hit_rate() * 100.0,
                                _ => f64::NAN,
                            })
                            .collect(),
                    },
                    Series {
                        name: "bytes out (% of the busiest day)".into(),
                        values: days
                            .iter()
                            .map(|d| {
                                of_day(d).map_or(f64::NAN, |t| t.bytes_out as f64 * 100.0 / peak)
                            })
                            .collect(),
                    },
                ],
                "Day (UTC)",
                "Percent",
                Some((0.0, 100.0)),
                |v| format!("{v:.0}%"),
            )
        },
        empty: format!("No cache lookups in the last {DAYS} days."),
    });
    let t = &report.total;
    let usage = vec![
        ("Requests".into(), count(t.requests)),
        ("Hits".into(), count(t.hits)),
        ("Misses".into(), count(t.misses)),
        (
            "Hit rate".into(),
            if t.hits + t.misses > 0 {
                format!("{:.1}%", t.hit_rate() * 100.0)
            } else {
                "-".into()
            },
        ),
        ("Refused by limits".into(), count(t.rejected)),
        (
            "Bytes in / out".into(),
            format!("{} / {}", bytes(t.bytes_in), bytes(t.bytes_out)),
        ),
        (
            "Latency mean / p95".into(),
            format!(
                "{:.2} ms / {:.2} ms",
                t.mean_latency_ms(),
                t.latency_quantile_ms(0.95)
            ),
        ),
    ];
    let day_rows = days
        .iter()
        .rev()
        .filter_map(|d| {
            of_day(d).map(|t| {
                [
                    d.to_string(),
                    count(t.requests),
                    count(t.hits),
                    count(t.misses),
                    if t.hits + t.misses > 0 {
                        format!("{:.1}%", t.hit_rate() * 100.0)
                    } else {
                        "-".into()
                    },
                    bytes(t.bytes_in),
                    bytes(t.bytes_out),
                    format!("{:.2} ms", t.mean_latency_ms()),
                    format!("{:.2} ms", t.latency_quantile_ms(0.95)),
                ]
            })
        })
        .collect();
    let tenant_limits = core
        .data_plane
        .rate_limits(&id)
        .await
        .map_err(server_error)?;
    let storage = format!(
        "{} of {}",
        bytes(tenant_limits.storage.used_bytes),
        bytes(tenant_limits.storage.quota_bytes)
    );
    let subjects = tenant_limits.subjects;
    let limits = subjects
        .iter()
        .map(|s| KeyLimits {
            key_id: s.key_id.to_string(),
            pooled: s.pooled,
            gauges: vec![
                Gauge {
                    label: "Requests this second".into(),
                    used: s.per_second.used,
                    limit: s.per_second.limit,
                    shown: format!(
                        "{} of {}",
                        count(s.per_second.used),
                        count(s.per_second.limit)
                    ),
                    note: "per second".into(),
                },
                Gauge {
                    label: "Requests this month".into(),
                    used: s.monthly.used,
                    limit: s.monthly.limit,
                    shown: format!("{} of {}", count(s.monthly.used), count(s.monthly.limit)),
                    note: s
                        .monthly
                        .reset_at
                        .map(|r| format!("resets {}", r.format("%Y-%m-%d")))
                        .unwrap_or_default(),
                },
                Gauge {
                    label: "Concurrent requests".into(),
                    used: s.concurrent.used,
                    limit: s.concurrent.limit,
                    shown: format!(
                        "{} of {}",
                        count(s.concurrent.used),
                        count(s.concurrent.limit)
                    ),
                    note: "in flight now".into(),
                },
            ],
        })
        .collect();
    let max_payload = subjects
        .first()
        .map(|s| bytes(s.max_payload_bytes))
        .unwrap_or_else(|| "-".into());
    let stamp = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let keys = core
        .keys
        .list_keys(Some(&id))
        .await
        .map_err(server_error)?
        .into_iter()
        .map(|k| KeyDetail {
            key_id: k.id.to_string(),
            status: k.status.as_str().into(),
            integration: k.integration.to_string(),
            scopes: k
                .scopes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            expires_at: k.expires_at.map(stamp).unwrap_or_else(|| "never".into()),
            versions: k
                .versions
                .iter()
                .rev()
                .map(|v| VersionRow {
                    version: v.version,
                    display_prefix: v.display_prefix.clone(),
                    state: format!("{:?}", v.state(now)).to_lowercase(),
                    created_at: stamp(v.created_at),
                    valid_until: v.expires_at.map(stamp).unwrap_or_else(|| "-".into()),
                })
                .collect(),
        })
        .collect();
    let secrets = core
        .vault
        .list_secrets(Some(&id))
        .await
        .map_err(server_error)?
        .into_iter()
        .map(|m| SecretRow {
            service: m.secret.service.as_str().into(),
            kind: m.secret.kind.as_str().into(),
            name: m.name,
            version: m.version,
            updated_at: stamp(m.updated_at),
            validation: match (m.last_validation, m.last_validated_at) {
                (Some(v), Some(at)) => format!("{} at {}", v.as_str(), stamp(at)),
                _ => "never checked".into(),
            },
        })
        .collect();
    let audit = core
        .audit
        .audit_trail(AuditFilter {
            tenant_id: Some(id.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await
        .map_err(server_error)?
        .into_iter()
        .map(|a| AuditRow {
            at: stamp(a.at),
            actor: a.actor,
            action: a.action,
            target: format!("{} {}", a.target_type, a.target),
            outcome: a.outcome,
        })
        .collect();
    let new_secret = super::admin::take_new_secret(&state, &session.csrf_token).await?;
    let t = detail.tenant;
    Ok(Some(CustomerPageData {
        admin: admin_view(session),
        new_secret,
        tenant_id: t.id.to_string(),
        name: t.name,
        plan: t.plan.as_str().into(),
        status: t.status.as_str().into(),
        created_at: stamp(t.created_at),
        namespaces: detail
            .namespaces
            .iter()
            .map(|n| n.name.to_string())
            .collect(),
        usage,
        charts: charts_out,
        days: day_rows,
        limits,
        max_payload,
        storage,
        keys,
        secrets,
        services: crate::domain::secret::Service::ALL
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        audit,
    }))
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
        "confirm" => Some((
            true,
            "Tick the confirmation box before disabling or rotating a key.".into(),
        )),
        "read-only" => Some((
            true,
            "Viewers can see everything and change nothing.".into(),
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
                plan=page.plan
                status=page.status
                created_at=page.created_at
                namespaces=page.namespaces
                tenant_id=page.tenant_id.clone()
            />
            <UsageSection usage=page.usage charts=page.charts days=page.days/>
            <RateLimits max_payload=page.max_payload storage=page.storage limits=page.limits/>
            <KeysSection keys=page.keys csrf=csrf.clone() back/>
            <SecretsSection
                secrets=page.secrets
                services=page.services
                csrf
                tenant_id=page.tenant_id
            />
            <AuditSection audit=page.audit/>
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
            <div><dt>"Costs"</dt><dd><a href=format!("/admin/costs?tenant={tenant_id}")>"cost dashboard"</a></dd></div>
        </dl>
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
