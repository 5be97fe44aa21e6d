//! The cost dashboards: `/admin/costs` (across tenants, or one with
//! `?tenant=`) and `/admin/optimize` (the weekly optimisation report). Charts
//! are drawn on the server (see `charts`) from the same figures the tables
//! beside them show.

use super::admin::AdminBar;
pub use super::costs_data::{
    Chart, CostsPageData, Kpi, OptimizePageData, ServerHtml, ServiceRow, ServiceUseRow, TenantRow,
    UsageDayRow,
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn ChartFigure(chart: Chart) -> impl IntoView {
    let caption_id = format!("{}-caption", chart.id);
    view! {
        <figure class="chart" data-chart=chart.id.clone() data-series=chart.series.join("|")
            aria-labelledby=caption_id.clone()>
            <figcaption id=caption_id.clone()>{chart.title.clone()}</figcaption>
            {match chart.svg {
                Some(svg) => view! { <div class="svg" inner_html=svg></div> }.into_any(),
                None => view! { <p class="empty chart-empty">{chart.empty.clone()}</p> }.into_any(),
            }}
        </figure>
    }
}

/// The cost dashboard of a preset window, across tenants or for one tenant:
/// reads what it shows, then builds the page with `costs_model::page`.
#[server(prefix = "/admin/fn", endpoint = "costs")]
pub async fn costs_page(
    period: Option<String>,
    tenant: Option<String>,
) -> Result<Option<CostsPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use crate::domain::ids::TenantId;
    use crate::domain::overview::Preset;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    let preset = match period.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => Preset::parse(p).map_err(server_error)?,
        None => Preset::ThisMonth,
    };
    let tenant_id = match tenant.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(TenantId::parse(t).map_err(server_error)?),
        None => None,
    };
    let today = chrono::Utc::now().date_naive();
    let span = preset.span(today);
    let core = &state.core;
    // What ingest queued is applied first (the reads' own applies then find
    // little or nothing), then the page's four reads run at the same time,
    // each on its own connection.
    core.costs
        .apply_cost_rollups()
        .await
        .map_err(server_error)?;
    let (overview, usage, forecast, anomalies) = tokio::try_join!(
        core.costs.cost_overview(tenant_id.as_ref(), span),
        core.costs
            .usage_days(tenant_id.as_ref(), span.from, span.to),
        core.costs.forecast(1, 90, tenant_id.as_ref()),
        core.budgets
            .anomalies(tenant_id.as_ref(), span.from, span.to),
    )
    .map_err(server_error)?;
    let mut page = super::costs_model::page(super::costs_model::Input {
        admin: admin_view(session),
        preset,
        tenant: tenant_id.as_ref(),
        today,
        span,
        overview: &overview,
        usage: usage.into_iter().collect(),
        forecast: &forecast,
    });
    page.anomalies = super::automation_model::anomaly_rows(anomalies);
    Ok(Some(page))
}

#[component]
pub fn CostsPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (q.get("period"), q.get("tenant"))
        },
        |(period, tenant)| costs_page(period, tenant),
    );
    view! {
        <Suspense fallback=|| view! { <p>"Loading costs..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Costs page/> }.into_any(),
                    Ok(None) => super::admin::sign_in_first().into_any(),
                    Err(e) => super::admin::page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

/// The cost dashboard. Each section is its own component, its view erased
/// (`into_any`) at the boundary, so no view type is as deep as the page (a
/// release build keeps component types and would overflow on one).
#[component]
fn Costs(page: CostsPageData) -> impl IntoView {
    let across = page.tenant.is_empty();
    let title = if across {
        "Costs across tenants".to_string()
    } else {
        format!("Costs of {}", page.tenant)
    };
    let window = format!("{} to {} (UTC), in USD", page.first_day, page.last_day);
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>{title}</h1>
            <PeriodFilters presets=page.presets preset=page.preset tenant=page.tenant.clone()/>
            <p class="muted">{window}
                {(!across).then(|| view! { " \u{b7} " <a href=format!("/admin/customers/{}", page.tenant) rel="external">"customer page"</a> })}
            </p>
            <Kpis kpis=page.kpis/>
            <ChartGrid charts=page.charts/>
            <ServiceCosts services=page.services/>
            <UserCosts figures=page.user_stats/>
            <Profitability tenants=page.tenants total=page.tenants_total/>
            <Forecast figures=page.forecast/>
            <Savings figures=page.savings/>
            <super::automation::AnomalySection anomalies=page.anomalies/>
            <DailyCost table=page.daily_cost_table/>
            <CacheDays table=page.cache_days_table/>
        </main>
    }
    .into_any()
}

/// The period and tenant the dashboard shows.
#[component]
fn PeriodFilters(presets: Vec<(String, String)>, preset: String, tenant: String) -> impl IntoView {
    view! {
        <form class="filters" method="get" action="/admin/costs">
            <label for="period">"Period"</label>
            <select id="period" name="period">
                {presets.into_iter().map(|(value, label)| {
                    let selected = value == preset;
                    view! { <option value=value selected=selected>{label}</option> }
                }).collect_view()}
            </select>
            <label for="tenant">"Tenant"</label>
            <input id="tenant" name="tenant" value=tenant placeholder="all tenants"/>
            <button type="submit">"Show"</button>
        </form>
    }
    .into_any()
}

/// The headline figures (cost, revenue, profit, ...).
#[component]
fn Kpis(kpis: Vec<Kpi>) -> impl IntoView {
    view! {
        <ul class="kpis">
            {kpis.into_iter().map(|k| view! {
                <li class=if k.negative { "kpi negative" } else { "kpi" }>
                    <span class="kpi-label">{k.label}</span>
                    <strong class="kpi-value">{k.value}</strong>
                    <span class="muted">{k.note}</span>
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// Charts side by side, each in its figure.
#[component]
pub fn ChartGrid(charts: Vec<Chart>) -> impl IntoView {
    view! {
        <div class="chart-grid">
            {charts.into_iter().map(|c| view! { <ChartFigure chart=c/> }).collect_view()}
        </div>
    }
    .into_any()
}

/// Labelled figures as a definition list.
#[component]
pub fn Figures(figures: Vec<(String, String)>) -> impl IntoView {
    view! {
        <dl class="stats">
            {figures.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> }).collect_view()}
        </dl>
    }
    .into_any()
}

/// True Production Cost per service, against the previous period.
#[component]
fn ServiceCosts(services: Vec<ServiceRow>) -> impl IntoView {
    view! {
        <section aria-labelledby="tpc-services">
            <h2 id="tpc-services">"True Production Cost by service"</h2>
            <table class="customers">
                <thead><tr>
                    <th scope="col">"Service"</th><th scope="col">"Events"</th><th scope="col">"Cost"</th>
                    <th scope="col">"Share"</th><th scope="col">"Previous period"</th><th scope="col">"Trend"</th>
                </tr></thead>
                <tbody>
                    {services.into_iter().map(|s| view! {
                        <tr data-service=s.service.clone()>
                            <td>{s.service.clone()}</td><td class="num">{s.events}</td><td class="num">{s.cost}</td>
                            <td class="num">{s.share}</td><td class="num">{s.previous}</td><td class="num">{s.trend}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

/// The distribution of cost per user: count, mean, median, percentiles.
#[component]
fn UserCosts(figures: Vec<(String, String)>) -> impl IntoView {
    view! {
        <section aria-labelledby="tpc-users">
            <h2 id="tpc-users">"Cost per user"</h2>
            <Figures figures/>
            <p class="muted">"Exact: from each user's own total over the period, not a sample or a sketch."</p>
        </section>
    }
    .into_any()
}

/// Cost, revenue and profit per tenant (across tenants only).
#[component]
fn Profitability(tenants: Vec<TenantRow>, total: usize) -> impl IntoView {
    if tenants.is_empty() {
        return ().into_any();
    }
    let heading = format!(
        "Profitability per tenant ({} of {} with cost, costliest first)",
        tenants.len(),
        total
    );
    view! {
        <section aria-labelledby="profitability">
            <h2 id="profitability">{heading}</h2>
            <table class="customers">
                <thead><tr>
                    <th scope="col">"Tenant"</th><th scope="col">"Plan"</th><th scope="col">"Events"</th>
                    <th scope="col">"Cost"</th><th scope="col">"Revenue"</th><th scope="col">"Gross profit"</th><th scope="col">"Margin"</th><th scope="col">"Net profit"</th>
                </tr></thead>
                <tbody>
                    {tenants.into_iter().map(|t| view! { <TenantProfit row=t/> }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

/// One tenant's row of the profitability table.
#[component]
fn TenantProfit(row: TenantRow) -> impl IntoView {
    let t = row;
    view! {
        <tr data-tenant=t.tenant_id.clone()>
            <td><a href=format!("/admin/costs?tenant={}", t.tenant_id) rel="external">{t.tenant_id.clone()}</a></td>
            <td>{t.plan}</td><td class="num">{t.events}</td><td class="num">{t.cost}</td>
            <td class="num">{t.revenue}</td>
            <td class="num">{t.profit}</td>
            <td class="num">{t.margin}</td>
            <td class="num">{t.net_profit}{t.loss.then(|| view! { " " <span class="badge disabled">"loss"</span> })}</td>
        </tr>
    }
    .into_any()
}

/// The next quarter's forecast figures (across tenants only).
#[component]
fn Forecast(figures: Vec<(String, String)>) -> impl IntoView {
    if figures.is_empty() {
        return ().into_any();
    }
    view! {
        <section aria-labelledby="forecast-h">
            <h2 id="forecast-h">"Next quarter (least-squares forecast, 95% band)"</h2>
            <Figures figures/>
        </section>
    }
    .into_any()
}

/// The seed's savings projection next to the measured saving.
#[component]
fn Savings(figures: Vec<(String, String)>) -> impl IntoView {
    view! {
        <section aria-labelledby="savings-h" data-card="savings">
            <h2 id="savings-h">"Savings: the seed's projection and the measured saving"</h2>
            <Figures figures/>
            <p class="muted">"Other inputs: GET /api/analytics/savings-projection or keyward costs project-savings."</p>
        </section>
    }
    .into_any()
}

/// Daily cost by service: the cost chart's data as a table.
#[component]
fn DailyCost(table: ServerHtml) -> impl IntoView {
    view! {
        <details class="card">
            <summary>"Daily cost by service (the chart's data)"</summary>
            <div inner_html=table.0></div>
        </details>
    }
    .into_any()
}

/// The daily cost table's markup, drawn on the server and sent once.
#[cfg(feature = "ssr")]
pub(crate) fn daily_cost_table(
    services: Vec<String>,
    days: Vec<(String, Vec<String>, String)>,
) -> ServerHtml {
    let table = if days.is_empty() {
        view! { <p class="empty">"No cost in this period yet."</p> }.into_any()
    } else {
        view! {
            <table class="customers daily-cost">
                <thead><tr>
                    <th scope="col">"Day"</th>
                    {services.into_iter().map(|s| view! { <th scope="col">{s}</th> }).collect_view()}
                    <th scope="col">"Total"</th>
                </tr></thead>
                <tbody>
                    {days.into_iter().map(|(day, cells, total)| view! {
                        <tr><td>{day}</td>{cells.into_iter().map(|c| view! { <td class="num">{c}</td> }).collect_view()}<td class="num">{total}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any()
    };
    ServerHtml(table.to_html())
}

/// Cache use per day: the hit-rate and savings charts' data as a table.
#[component]
fn CacheDays(table: ServerHtml) -> impl IntoView {
    view! {
        <details class="card">
            <summary>"Cache use per day (the hit-rate and savings charts' data)"</summary>
            <div inner_html=table.0></div>
        </details>
    }
    .into_any()
}

/// The cache-use table's markup, drawn on the server and sent once.
#[cfg(feature = "ssr")]
pub(crate) fn cache_days_table(days: Vec<UsageDayRow>) -> ServerHtml {
    let table = if days.is_empty() {
        view! { <p class="empty">"No cache traffic in this period yet."</p> }.into_any()
    } else {
        view! {
            <table class="customers">
                <thead><tr>
                    <th scope="col">"Day"</th><th scope="col">"Requests"</th><th scope="col">"Hits"</th>
                    <th scope="col">"Misses"</th><th scope="col">"Hit rate"</th><th scope="col">"Served"</th><th scope="col">"Net saving"</th>
                </tr></thead>
                <tbody>
                    {days.into_iter().map(|u| view! {
                        <tr><td>{u.day}</td><td class="num">{u.requests}</td><td class="num">{u.hits}</td>
                        <td class="num">{u.misses}</td><td class="num">{u.hit_rate}</td><td class="num">{u.served}</td><td class="num">{u.saving}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        }.into_any()
    };
    ServerHtml(table.to_html())
}

/// The weekly optimisation report of the ISO week containing `week` (a day;
/// default: the current week): reads the week's analysis, then builds the
/// page with `optimize_model::page`.
#[server(prefix = "/admin/fn", endpoint = "optimize")]
pub async fn optimize_page(
    week: Option<String>,
) -> Result<Option<OptimizePageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use crate::domain::analytics::Thresholds;
    let state = use_context::<crate::startup::AppState>()
        .ok_or_else(|| ServerFnError::new("server state missing"))?;
    let Some(session) = page_session(&state).await? else {
        return Ok(None);
    };
    let day = match week.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => w.parse::<chrono::NaiveDate>().map_err(|_| {
            server_error(crate::domain::ValidationError::new(
                "week",
                "give a day as YYYY-MM-DD",
            ))
        })?,
        None => chrono::Utc::now().date_naive(),
    };
    let t = Thresholds::default();
    let (span, o) = state
        .core
        .costs
        .optimize(
            day,
            t,
            Some(crate::domain::analytics::CohortPage {
                limit: super::optimize_model::COHORT_SHOWN,
                offset: 0,
            }),
        )
        .await
        .map_err(server_error)?;
    let money = state
        .core
        .costs
        .platform_statement(span)
        .await
        .map_err(server_error)?;
    Ok(Some(super::optimize_model::page(
        admin_view(session),
        t,
        span,
        &o,
        &money,
    )))
}

#[component]
pub fn OptimizePage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(move || query.read().get("week"), optimize_page);
    view! {
        <Suspense fallback=|| view! { <p>"Loading the report..."</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Some(page)) => view! { <Optimize page/> }.into_any(),
                    Ok(None) => super::admin::sign_in_first().into_any(),
                    Err(e) => super::admin::page_error(e).into_any(),
                }
            })}
        </Suspense>
    }
}

/// The weekly optimisation report, in sections (see `Costs`).
#[component]
fn Optimize(page: OptimizePageData) -> impl IntoView {
    let heading = format!(
        "Weekly optimisation, {} to {}",
        page.week_start, page.week_end
    );
    let cohort_heading = format!(
        "Trial cohort ({} users{})",
        page.cohort_size,
        if page.cohort_size > 50 {
            ", first 50 shown"
        } else {
            ""
        }
    );
    view! {
        <AdminBar admin=page.admin.clone()/>
        <main class="page wide">
            <h1>{heading}</h1>
            <nav class="pager" aria-label="Weeks">
                <a href=format!("/admin/optimize?week={}", page.previous_week) rel="prev external">"Previous week"</a>
                <a href=format!("/admin/optimize?week={}", page.next_week) rel="next external">"Next week"</a>
            </nav>
            <p class="muted">{page.thresholds.clone()}</p>
            <Figures figures=page.figures/>
            <div class="chart-grid">
                <ChartFigure chart=page.chart/>
            </div>
            <h2>"Services"</h2>
            <ServiceUse services=page.services/>
            <h2>{cohort_heading}</h2>
            <Cohort cohort=page.cohort/>
        </main>
    }
    .into_any()
}

/// Each service's use in the week, and whether it is under-used.
#[component]
fn ServiceUse(services: Vec<ServiceUseRow>) -> impl IntoView {
    if services.is_empty() {
        return view! { <p class="empty">"No usage in this week yet."</p> }.into_any();
    }
    view! {
        <table class="customers">
            <thead><tr>
                <th scope="col">"Service"</th><th scope="col">"Users"</th><th scope="col">"Share of active users"</th>
                <th scope="col">"Events"</th><th scope="col">"Cost"</th><th scope="col">"Cost per active user"</th>
                <th scope="col">"Verdict"</th><th scope="col">"Weekly saving"</th>
            </tr></thead>
            <tbody>
                {services.into_iter().map(|s| view! { <ServiceUseLine row=s/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// One service's row of the weekly use table, with its verdict.
#[component]
fn ServiceUseLine(row: ServiceUseRow) -> impl IntoView {
    let s = row;
    let verdict = if s.under_used {
        view! { <span class="badge disabled">"under-used"</span> }.into_any()
    } else {
        view! { <span class="badge active">"in use"</span> }.into_any()
    };
    view! {
        <tr data-service=s.service.clone() data-under-used=s.under_used.to_string()>
            <td>{s.service.clone()}</td><td class="num">{s.users}</td><td class="num">{s.user_share}</td>
            <td class="num">{s.events}</td><td class="num">{s.cost}</td><td class="num">{s.cost_per_user}</td>
            <td>{verdict}</td>
            <td class="num">{s.saving}</td>
        </tr>
    }
    .into_any()
}

/// The first users of the week's trial cohort.
#[component]
fn Cohort(cohort: Vec<(String, String, String, String)>) -> impl IntoView {
    if cohort.is_empty() {
        return view! { <p class="empty">"No active users in this week."</p> }.into_any();
    }
    view! {
        <table class="customers">
            <thead><tr><th scope="col">"Tenant"</th><th scope="col">"User"</th><th scope="col">"Events"</th><th scope="col">"Cost"</th></tr></thead>
            <tbody>
                {cohort.into_iter().map(|(t, u, e, c)| view! {
                    <tr><td>{t}</td><td>{u}</td><td class="num">{e}</td><td class="num">{c}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
