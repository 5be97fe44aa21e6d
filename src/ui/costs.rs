//! The cost dashboards: `/admin/costs` (across tenants, or one with
//! `?tenant=`) and `/admin/optimize` (the weekly optimisation report). Charts
//! are drawn on the server (see `charts`) from the same figures the tables
//! beside them show.

use super::admin::{AdminBar, AdminView};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// A chart as the page shows it: its SVG (none = the empty state) and the
/// names of its series (also in its legend).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub series: Vec<String>,
    pub svg: Option<String>,
    pub empty: String,
}

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kpi {
    pub label: String,
    pub value: String,
    pub note: String,
    /// Negative figures (a loss) are marked with a word, not only colour.
    pub negative: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    pub service: String,
    pub events: String,
    pub cost: String,
    pub share: String,
    pub previous: String,
    pub trend: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantRow {
    pub tenant_id: String,
    pub plan: String,
    pub events: String,
    pub cost: String,
    pub revenue: String,
    pub profit: String,
    pub margin: String,
    pub loss: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageDayRow {
    pub day: String,
    pub requests: String,
    pub hits: String,
    pub misses: String,
    pub hit_rate: String,
    pub served: String,
    pub saving: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostsPageData {
    pub admin: AdminView,
    pub preset: String,
    pub presets: Vec<(String, String)>,
    pub tenant: String,
    /// First and last day shown (inclusive), UTC.
    pub first_day: String,
    pub last_day: String,
    pub kpis: Vec<Kpi>,
    pub charts: Vec<Chart>,
    pub services: Vec<ServiceRow>,
    pub tenants: Vec<TenantRow>,
    pub tenants_total: usize,
    /// (label, value) of the per-user statistics.
    pub user_stats: Vec<(String, String)>,
    /// Daily cost per service: the header (services) and one row per day.
    pub day_services: Vec<String>,
    pub days: Vec<(String, Vec<String>, String)>,
    pub usage_days: Vec<UsageDayRow>,
    /// The platform forecast's figures (across tenants only).
    pub forecast: Vec<(String, String)>,
}

/// The cost dashboard of a preset window, across tenants or for one tenant.
#[server(prefix = "/admin/fn", endpoint = "costs")]
pub async fn costs_page(
    period: Option<String>,
    tenant: Option<String>,
) -> Result<Option<CostsPageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use super::charts::{self, Series};
    use super::format::{bps, bytes, count, trend, usd};
    use crate::domain::ids::TenantId;
    /// How many tenants the ranking shows.
    const RANKED: usize = 15;
    use crate::domain::overview::Preset;
    use crate::domain::usage::{estimate_savings, SavingsAssumptions};
    use chrono::Duration;
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
    let o = core
        .cost_overview(tenant_id.as_ref(), span)
        .await
        .map_err(server_error)?;
    let usage = core
        .usage_days(tenant_id.as_ref(), span.from, span.to)
        .await
        .map_err(server_error)?;
    let dollars = |m: i64| m as f64 / 1e6;
    let days: Vec<chrono::NaiveDate> = (0..span.days())
        .map(|i| span.from + Duration::days(i))
        .collect();
    let day_labels: Vec<String> = days.iter().map(|d| d.format("%b %d").to_string()).collect();
    let services: Vec<String> = o
        .services
        .iter()
        .filter(|s| s.cost_micros > 0)
        .map(|s| s.service.clone())
        .collect();
    let scope = match &tenant_id {
        Some(t) => format!("tenant {t}"),
        None => "all tenants".to_string(),
    };

    let mut charts_out = Vec::new();
    let daily_series: Vec<Series> = services
        .iter()
        .map(|s| Series {
            name: s.clone(),
            values: days
                .iter()
                .map(|d| dollars(o.daily.get(&(*d, s.clone())).copied().unwrap_or(0)))
                .collect(),
        })
        .collect();
    charts_out.push(Chart {
        id: "daily-cost".into(),
        title: format!("Daily cost by service, {scope} (USD)"),
        series: services.clone(),
        svg: charts::stacked_bars(
            "Daily cost stacked by service",
            &day_labels,
            &daily_series,
            "Day (UTC)",
            "Cost (USD)",
            super::format::usd_axis,
        ),
        empty: "No cost in this period yet.".into(),
    });
    if tenant_id.is_none() {
        let top: Vec<_> = o.tenants.iter().take(RANKED).collect();
        charts_out.push(Chart {
            id: "tenant-ranking".into(),
            title: format!(
                "Cost and revenue per tenant, top {} by cost (USD)",
                top.len()
            ),
            series: vec!["cost".into(), "revenue".into()],
            svg: charts::ranked_bars(
                "Tenants ranked by cost, with their revenue",
                &top.iter().map(|t| t.tenant_id.clone()).collect::<Vec<_>>(),
                &[
                    Series {
                        name: "cost".into(),
                        values: top.iter().map(|t| dollars(t.cost_micros)).collect(),
                    },
                    Series {
                        name: "revenue".into(),
                        values: top.iter().map(|t| dollars(t.revenue_micros)).collect(),
                    },
                ],
                "USD in the period",
                super::format::usd_axis,
            ),
            empty: "No tenant has cost in this period yet.".into(),
        });
    }
    let u = &o.users;
    charts_out.push(Chart {
        id: "user-distribution".into(),
        title: format!(
            "Cost per user, {} users (p95 and p99 marked)",
            count(u.costs.len() as i64)
        ),
        series: vec!["users".into(), "p95".into(), "p99".into()],
        svg: charts::histogram(
            "Distribution of cost per user",
            &u.costs.iter().map(|c| dollars(*c)).collect::<Vec<_>>(),
            &[
                ("p95".into(), dollars(u.p95_micros)),
                ("p99".into(), dollars(u.p99_micros)),
            ],
            "Cost per user in the period (USD)",
            super::format::usd_axis,
        ),
        empty: "No user has cost in this period yet.".into(),
    });
    let by_day: std::collections::BTreeMap<_, _> = usage.into_iter().collect();
    let hit_rate: Vec<f64> = days
        .iter()
        .map(|d| match by_day.get(d) {
            Some(t) if t.hits + t.misses > 0 => t.hit_rate() * 100.0,
            _ => f64::NAN,
        })
        .collect();
    let assumptions = SavingsAssumptions::default();
    let savings: Vec<i64> = days
        .iter()
        .map(|d| {
            by_day
                .get(d)
                .map(|t| estimate_savings(t, &assumptions).net_micros)
                .unwrap_or(0)
        })
        .collect();
    let mut cumulative = 0i64;
    let cumulative_savings: Vec<f64> = savings
        .iter()
        .zip(&days)
        .map(|(s, d)| {
            cumulative += s;
            if *d <= today {
                dollars(cumulative)
            } else {
                f64::NAN
            }
        })
        .collect();
    charts_out.push(Chart {
        id: "hit-rate".into(),
        title: format!("Cache hit rate per day, {scope}"),
        series: vec!["hit rate".into()],
        svg: charts::lines(
            "Cache hit rate per day",
            &day_labels,
            &[Series {
                name: "hit rate".into(),
                values: hit_rate,
            }],
            "Day (UTC)",
            "Hits / lookups (%)",
            Some((0.0, 100.0)),
            super::format::percent_axis,
        ),
        empty: "No cache lookups in this period yet.".into(),
    });
    charts_out.push(Chart {
        id: "savings".into(),
        title: "Net savings from the cache, cumulative (USD)".into(),
        series: vec!["net savings".into()],
        svg: if savings.iter().all(|s| *s == 0) {
            None
        } else {
            charts::lines(
                "Cumulative net savings from the cache",
                &day_labels,
                &[Series {
                    name: "net savings".into(),
                    values: cumulative_savings,
                }],
                "Day (UTC)",
                "Saved (USD)",
                None,
                super::format::usd_axis,
            )
        },
        empty: "No savings from the cache in this period yet.".into(),
    });

    let forecast_rows = {
        let f = core
            .forecast(1, 90, tenant_id.as_ref())
            .await
            .map_err(server_error)?;
        let horizon = (f.forecast_to - f.forecast_from).num_days();
        let project =
            |fit: Option<crate::domain::analytics::Fit>, history: &[f64]| -> Vec<(f64, f64, f64)> {
                let fit = fit.unwrap_or(crate::domain::analytics::Fit {
                    intercept: history.first().copied().unwrap_or(0.0),
                    slope: 0.0,
                    r_squared: 1.0,
                    residual_sd: 0.0,
                });
                (0..horizon)
                    .map(|i| {
                        let x = (f.days + i) as f64;
                        let y = (fit.intercept + fit.slope * x).max(0.0);
                        let d = 1.96 * fit.residual_sd;
                        (
                            dollars(y as i64),
                            dollars((y - d) as i64),
                            dollars((y + d) as i64),
                        )
                    })
                    .collect()
            };
        let cost_hist: Vec<f64> = f.history.iter().map(|h| dollars(h.1)).collect();
        let revenue_hist: Vec<f64> = f.history.iter().map(|h| dollars(h.2)).collect();
        let raw_cost: Vec<f64> = f.history.iter().map(|h| h.1 as f64).collect();
        let raw_revenue: Vec<f64> = f.history.iter().map(|h| h.2 as f64).collect();
        let labels: Vec<String> = f
            .history
            .iter()
            .map(|h| h.0)
            .chain((0..horizon).map(|i| f.forecast_from + Duration::days(i)))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        charts_out.push(Chart {
            id: "forecast".into(),
            title: format!(
                "Daily cost and revenue, last {} days and the next quarter (to {})",
                f.days, f.forecast_to
            ),
            series: vec!["cost".into(), "revenue".into()],
            svg: if f.history.is_empty() {
                None
            } else {
                charts::forecast(
                    "Quarterly forecast of cost and revenue with 95% bands",
                    &labels,
                    &[
                        charts::Projection {
                            name: "cost".into(),
                            history: cost_hist,
                            projected: project(f.cost_fit, &raw_cost),
                        },
                        charts::Projection {
                            name: "revenue".into(),
                            history: revenue_hist,
                            projected: project(f.revenue_fit, &raw_revenue),
                        },
                    ],
                    "USD per day",
                    super::format::usd_axis,
                )
            },
            empty: "No cost data in the last 90 days to forecast from.".into(),
        });
        let band = |fit: Option<crate::domain::analytics::Fit>| {
            fit.map(|fit| (1.96 * fit.residual_sd * (horizon as f64).sqrt()).round() as i64)
                .unwrap_or(0)
        };
        let r2 = |fit: Option<crate::domain::analytics::Fit>| {
            fit.map(|f| format!("{:.2}", f.r_squared))
                .unwrap_or_else(|| "-".into())
        };
        vec![
            (
                "Forecast window".into(),
                format!(
                    "{} to {}",
                    f.forecast_from,
                    f.forecast_to - Duration::days(1)
                ),
            ),
            (
                "Fitted on".into(),
                if f.days == 1 {
                    "1 day".into()
                } else {
                    format!("{} days", f.days)
                },
            ),
            (
                "Cost".into(),
                format!("{} (\u{b1} {})", usd(f.tpc_micros), usd(band(f.cost_fit))),
            ),
            (
                "Revenue".into(),
                format!(
                    "{} (\u{b1} {})",
                    usd(f.revenue_micros),
                    usd(band(f.revenue_fit))
                ),
            ),
            ("Gross profit".into(), usd(f.gross_profit_micros)),
            (
                "Margin".into(),
                f.margin_bps.map(bps).unwrap_or_else(|| "-".into()),
            ),
            (
                "R\u{b2} cost / revenue".into(),
                format!("{} / {}", r2(f.cost_fit), r2(f.revenue_fit)),
            ),
        ]
    };

    let kpis = vec![
        Kpi {
            label: "Cost".into(),
            value: usd(o.total_cost_micros),
            note: format!("{} events", count(o.events)),
            negative: false,
        },
        Kpi {
            label: "Revenue".into(),
            value: usd(o.revenue_micros),
            note: format!(
                "plans {} + usage {}",
                usd(o.plan_revenue_micros),
                usd(o.usage_revenue_micros)
            ),
            negative: false,
        },
        Kpi {
            label: "Profit".into(),
            value: usd(o.profit_micros),
            note: if o.profit_micros < 0 {
                "loss".into()
            } else {
                "".into()
            },
            negative: o.profit_micros < 0,
        },
        Kpi {
            label: "Margin".into(),
            value: o.margin_bps.map(bps).unwrap_or_else(|| "-".into()),
            note: "profit / revenue".into(),
            negative: o.margin_bps.is_some_and(|m| m < 0),
        },
    ];
    let day_rows = days
        .iter()
        .filter(|d| {
            services
                .iter()
                .any(|s| o.daily.contains_key(&(**d, s.clone())))
        })
        .map(|d| {
            let cells: Vec<i64> = services
                .iter()
                .map(|s| o.daily.get(&(*d, s.clone())).copied().unwrap_or(0))
                .collect();
            (
                d.to_string(),
                cells.iter().map(|c| usd(*c)).collect(),
                usd(cells.iter().sum()),
            )
        })
        .collect();
    Ok(Some(CostsPageData {
        admin: admin_view(session),
        preset: preset.as_str().into(),
        presets: Preset::ALL
            .iter()
            .map(|p| (p.as_str().to_string(), p.label().to_string()))
            .collect(),
        tenant: tenant_id.map(|t| t.to_string()).unwrap_or_default(),
        first_day: span.from.to_string(),
        last_day: (span.to - Duration::days(1)).to_string(),
        kpis,
        charts: charts_out,
        services: o
            .services
            .iter()
            .map(|s| ServiceRow {
                service: s.service.clone(),
                events: count(s.events),
                cost: usd(s.cost_micros),
                share: bps(s.share_bps),
                previous: usd(s.previous_cost_micros),
                trend: trend(s.trend_bps),
            })
            .collect(),
        tenants_total: o.tenants.len(),
        tenants: o
            .tenants
            .iter()
            .take(RANKED)
            .map(|t| TenantRow {
                tenant_id: t.tenant_id.clone(),
                plan: t.plan.clone(),
                events: count(t.events),
                cost: usd(t.cost_micros),
                revenue: usd(t.revenue_micros),
                profit: usd(t.profit_micros),
                margin: t.margin_bps.map(bps).unwrap_or_else(|| "-".into()),
                loss: t.profit_micros < 0,
            })
            .collect(),
        user_stats: vec![
            ("Users".into(), count(u.costs.len() as i64)),
            ("Mean".into(), usd(u.mean_micros)),
            ("Median".into(), usd(u.median_micros)),
            ("p95".into(), usd(u.p95_micros)),
            ("p99".into(), usd(u.p99_micros)),
            ("Std dev".into(), usd(u.std_dev_micros)),
        ],
        day_services: services,
        days: day_rows,
        usage_days: days
            .iter()
            .zip(&savings)
            .filter_map(|(d, s)| {
                by_day.get(d).map(|t| UsageDayRow {
                    day: d.to_string(),
                    requests: count(t.requests),
                    hits: count(t.hits),
                    misses: count(t.misses),
                    hit_rate: if t.hits + t.misses > 0 {
                        format!("{:.1}%", t.hit_rate() * 100.0)
                    } else {
                        "-".into()
                    },
                    served: bytes(t.bytes_out),
                    saving: usd(*s),
                })
            })
            .collect(),
        forecast: forecast_rows,
    }))
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
                {(!across).then(|| view! { " \u{b7} " <a href=format!("/admin/customers/{}", page.tenant)>"customer page"</a> })}
            </p>
            <Kpis kpis=page.kpis/>
            <ChartGrid charts=page.charts/>
            <ServiceCosts services=page.services/>
            <UserCosts figures=page.user_stats/>
            <Profitability tenants=page.tenants total=page.tenants_total/>
            <Forecast figures=page.forecast/>
            <DailyCost services=page.day_services days=page.days/>
            <CacheDays days=page.usage_days/>
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
                    <th scope="col">"Cost"</th><th scope="col">"Revenue"</th><th scope="col">"Profit"</th><th scope="col">"Margin"</th>
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
            <td><a href=format!("/admin/costs?tenant={}", t.tenant_id)>{t.tenant_id.clone()}</a></td>
            <td>{t.plan}</td><td class="num">{t.events}</td><td class="num">{t.cost}</td>
            <td class="num">{t.revenue}</td>
            <td class="num">{t.profit}{t.loss.then(|| view! { " " <span class="badge disabled">"loss"</span> })}</td>
            <td class="num">{t.margin}</td>
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

/// Daily cost by service: the cost chart's data as a table.
#[component]
fn DailyCost(services: Vec<String>, days: Vec<(String, Vec<String>, String)>) -> impl IntoView {
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
    view! {
        <details class="card">
            <summary>"Daily cost by service (the chart's data)"</summary>
            {table}
        </details>
    }
    .into_any()
}

/// Cache use per day: the hit-rate and savings charts' data as a table.
#[component]
fn CacheDays(days: Vec<UsageDayRow>) -> impl IntoView {
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
    view! {
        <details class="card">
            <summary>"Cache use per day (the hit-rate and savings charts' data)"</summary>
            {table}
        </details>
    }
    .into_any()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceUseRow {
    pub service: String,
    pub users: String,
    pub user_share: String,
    pub events: String,
    pub cost: String,
    pub cost_per_user: String,
    pub under_used: bool,
    pub saving: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizePageData {
    pub admin: AdminView,
    pub week_start: String,
    pub week_end: String,
    pub previous_week: String,
    pub next_week: String,
    pub thresholds: String,
    pub figures: Vec<(String, String)>,
    pub chart: Chart,
    pub services: Vec<ServiceUseRow>,
    /// (tenant, user, events, cost), the first rows of the cohort.
    pub cohort: Vec<(String, String, String, String)>,
    pub cohort_size: usize,
}

/// The weekly optimisation report of the ISO week containing `week` (a day;
/// default: the current week).
#[server(prefix = "/admin/fn", endpoint = "optimize")]
pub async fn optimize_page(
    week: Option<String>,
) -> Result<Option<OptimizePageData>, ServerFnError> {
    use super::admin::{admin_view, page_session, server_error};
    use super::charts::{self, Series};
    use super::format::{bps, count, usd};
    use crate::domain::analytics::Thresholds;
    use chrono::Duration;
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
    let (span, o) = state.core.optimize(day, t).await.map_err(server_error)?;
    let names: Vec<String> = o.services.iter().map(|s| s.service.clone()).collect();
    let chart = Chart {
        id: "service-use".into(),
        title: "Share of the week's active users per service (%)".into(),
        series: vec!["user share".into(), "threshold".into()],
        svg: charts::ranked_bars(
            "Share of active users per service",
            &names,
            &[
                Series {
                    name: "user share".into(),
                    values: o
                        .services
                        .iter()
                        .map(|s| s.user_share_bps as f64 / 100.0)
                        .collect(),
                },
                Series {
                    name: "threshold".into(),
                    values: o
                        .services
                        .iter()
                        .map(|_| t.min_user_share_bps as f64 / 100.0)
                        .collect(),
                },
            ],
            "Share of active users (%)",
            super::format::percent_axis,
        ),
        empty: "No usage in this week yet.".into(),
    };
    let cohort_size = o.cohort.len();
    Ok(Some(OptimizePageData {
        admin: admin_view(session),
        week_start: span.from.to_string(),
        week_end: (span.to - Duration::days(1)).to_string(),
        previous_week: (span.from - Duration::days(7)).to_string(),
        next_week: span.to.to_string(),
        thresholds: format!(
            "A service is under-used when fewer than {} of the week's active users used it, or it cost under {} per active user.",
            bps(t.min_user_share_bps),
            usd(t.min_cost_per_active_user_micros)
        ),
        figures: vec![
            ("Active users".into(), count(o.active_users)),
            ("Weekly saving if under-used services are dropped".into(), usd(o.weekly_saving_micros)),
            ("Projected quarterly saving (13 weeks)".into(), usd(o.quarterly_saving_micros)),
            ("Trial cohort (most active 30%)".into(), format!("{} users, {} a week", count(cohort_size as i64), usd(o.cohort_weekly_cost_micros))),
            ("Projected ROI of the trial".into(), o.projected_roi_bps.map(bps).unwrap_or_else(|| "-".into())),
        ],
        chart,
        services: o
            .services
            .iter()
            .map(|s| ServiceUseRow {
                service: s.service.clone(),
                users: count(s.users),
                user_share: bps(s.user_share_bps),
                events: count(s.events),
                cost: usd(s.cost_micros),
                cost_per_user: usd(s.cost_per_active_user_micros),
                under_used: s.under_used,
                saving: usd(s.weekly_saving_micros),
            })
            .collect(),
        cohort: o
            .cohort
            .iter()
            .take(50)
            .map(|c| (c.tenant_id.clone(), c.user_id.clone(), count(c.events), usd(c.cost_micros)))
            .collect(),
        cohort_size,
    }))
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
                <a href=format!("/admin/optimize?week={}", page.previous_week) rel="prev">"Previous week"</a>
                <a href=format!("/admin/optimize?week={}", page.next_week) rel="next">"Next week"</a>
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
