//! The costs page as a view model: plain functions from what the services
//! returned (the cost overview, data-plane usage per day, the forecast) to
//! the figures, rows and charts the page shows. No I/O and no Leptos here;
//! `costs::costs_page` reads, this builds.

use super::charts::{self, Series};
use super::costs_data::{Chart, CostsPageData, Kpi, ServiceRow, TenantRow, UsageDayRow};
use super::format::{bps, bytes, count, trend, usd, usd_axis};
use crate::domain::analytics::{Fit, Span};
use crate::domain::ids::TenantId;
use crate::domain::overview::{CostOverview, Preset};
use crate::domain::usage::{estimate_savings, SavingsAssumptions, UsageTotals};
use crate::services::costs::Forecast;
use crate::ui::admin::AdminView;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// How many tenants the ranking shows.
const RANKED: usize = 15;

/// What the page is built from.
pub struct Input<'a> {
    pub admin: AdminView,
    pub preset: Preset,
    pub tenant: Option<&'a TenantId>,
    pub today: NaiveDate,
    pub span: Span,
    pub overview: &'a CostOverview,
    /// Data-plane totals by UTC day.
    pub usage: BTreeMap<NaiveDate, UsageTotals>,
    pub forecast: &'a Forecast,
}

fn dollars(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// The whole page.
pub fn page(input: Input<'_>) -> CostsPageData {
    let o = input.overview;
    let days: Vec<NaiveDate> = (0..input.span.days())
        .map(|i| input.span.from + Duration::days(i))
        .collect();
    let services: Vec<String> = o
        .services
        .iter()
        .filter(|s| s.cost_micros > 0)
        .map(|s| s.service.clone())
        .collect();
    let savings = daily_savings(&days, &input.usage);
    let mut charts = cost_charts(o, &days, &services, input.tenant);
    charts.extend(usage_charts(&input, &days, &savings));
    charts.push(forecast_chart(input.forecast));
    CostsPageData {
        preset: input.preset.as_str().into(),
        presets: Preset::ALL
            .iter()
            .map(|p| (p.as_str().to_string(), p.label().to_string()))
            .collect(),
        tenant: input.tenant.map(|t| t.to_string()).unwrap_or_default(),
        first_day: input.span.from.to_string(),
        last_day: (input.span.to - Duration::days(1)).to_string(),
        kpis: kpis(o),
        charts,
        services: service_rows(o),
        tenants_total: o.tenants.len(),
        tenants: tenant_rows(o),
        user_stats: user_stats(o),
        daily_cost_table: super::costs::daily_cost_table(
            services.clone(),
            day_rows(o, &days, &services),
        ),
        cache_days_table: super::costs::cache_days_table(usage_day_rows(
            &days,
            &savings,
            &input.usage,
        )),
        forecast: forecast_rows(input.forecast),
        savings: savings_rows(&savings),
        anomalies: Vec::new(),
        admin: input.admin,
    }
}

/// The seed design's projection (its worked example) next to what the
/// cache measurably saved in the period.
fn savings_rows(daily: &[i64]) -> Vec<(String, String)> {
    let input = crate::domain::savings::SavingsInput::default();
    let p = input.project();
    vec![
        (
            "Projection (seed example)".into(),
            format!(
                "{} customers x {} files of {} MB, {}% hits",
                count(input.customers),
                count(input.files_per_customer_per_month),
                input.average_file_bytes / 1_000_000,
                input.hit_rate_bps / 100
            ),
        ),
        (
            "Without / with the cache".into(),
            format!(
                "{} / {} a month",
                usd(p.origin_cost_without_cache_micros),
                usd(p.total_with_cache_micros)
            ),
        ),
        (
            "Projected saving".into(),
            format!(
                "{} a month ({}), {} the first year, break-even month {}",
                usd(p.monthly_saving_micros),
                p.saving_bps.map(bps).unwrap_or_else(|| "-".into()),
                usd(p.first_year_saving_micros),
                p.break_even_month
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "never".into())
            ),
        ),
        (
            "Measured saving in this period".into(),
            usd(daily.iter().sum()),
        ),
    ]
}

/// Whose figures the page shows, in titles.
fn scope(tenant: Option<&TenantId>) -> String {
    match tenant {
        Some(t) => format!("tenant {t}"),
        None => "all tenants".to_string(),
    }
}

fn day_labels(days: &[NaiveDate]) -> Vec<String> {
    days.iter().map(|d| d.format("%b %d").to_string()).collect()
}

/// Daily cost by service, the tenant ranking (across tenants only) and the
/// distribution of cost per user.
fn cost_charts(
    o: &CostOverview,
    days: &[NaiveDate],
    services: &[String],
    tenant: Option<&TenantId>,
) -> Vec<Chart> {
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
    let mut out = vec![Chart {
        id: "daily-cost".into(),
        title: format!("Daily cost by service, {} (USD)", scope(tenant)),
        series: services.to_vec(),
        svg: charts::stacked_bars(
            "Daily cost stacked by service",
            &day_labels(days),
            &daily_series,
            "Day (UTC)",
            "Cost (USD)",
            usd_axis,
        ),
        empty: "No cost in this period yet.".into(),
    }];
    if tenant.is_none() {
        out.push(tenant_ranking(o));
    }
    let u = &o.users;
    out.push(Chart {
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
            usd_axis,
        ),
        empty: "No user has cost in this period yet.".into(),
    });
    out
}

fn tenant_ranking(o: &CostOverview) -> Chart {
    let top: Vec<_> = o.tenants.iter().take(RANKED).collect();
    Chart {
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
            usd_axis,
        ),
        empty: "No tenant has cost in this period yet.".into(),
    }
}

/// The cache's net savings per day (default assumptions).
fn daily_savings(days: &[NaiveDate], usage: &BTreeMap<NaiveDate, UsageTotals>) -> Vec<i64> {
    let assumptions = SavingsAssumptions::default();
    days.iter()
        .map(|d| {
            usage
                .get(d)
                .map(|t| estimate_savings(t, &assumptions).net_micros)
                .unwrap_or(0)
        })
        .collect()
}

/// The cache's hit rate per day and its cumulative net savings.
fn usage_charts(input: &Input<'_>, days: &[NaiveDate], savings: &[i64]) -> Vec<Chart> {
    let labels = day_labels(days);
    let hit_rate: Vec<f64> = days
        .iter()
        .map(|d| match input.usage.get(d) {
            Some(t) if t.hits + t.misses > 0 => t.hit_rate() * 100.0,
            _ => f64::NAN,
        })
        .collect();
    let mut cumulative = 0i64;
    let cumulative_savings: Vec<f64> = savings
        .iter()
        .zip(days)
        .map(|(s, d)| {
            cumulative += s;
            if *d <= input.today {
                dollars(cumulative)
            } else {
                f64::NAN
            }
        })
        .collect();
    vec![
        Chart {
            id: "hit-rate".into(),
            title: format!("Cache hit rate per day, {}", scope(input.tenant)),
            series: vec!["hit rate".into()],
            svg: charts::lines(
                "Cache hit rate per day",
                &labels,
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
        },
        Chart {
            id: "savings".into(),
            title: "Net savings from the cache, cumulative (USD)".into(),
            series: vec!["net savings".into()],
            svg: if savings.iter().all(|s| *s == 0) {
                None
            } else {
                charts::lines(
                    "Cumulative net savings from the cache",
                    &labels,
                    &[Series {
                        name: "net savings".into(),
                        values: cumulative_savings,
                    }],
                    "Day (UTC)",
                    "Saved (USD)",
                    None,
                    usd_axis,
                )
            },
            empty: "No savings from the cache in this period yet.".into(),
        },
    ]
}

/// Days the forecast projects.
fn horizon(f: &Forecast) -> i64 {
    (f.forecast_to - f.forecast_from).num_days()
}

/// A fitted line continued over the horizon, with its 95% band, in dollars.
fn project(f: &Forecast, fit: Option<Fit>, history: &[f64]) -> Vec<(f64, f64, f64)> {
    let fit = Fit::or_flat(fit, history.first().copied());
    // Day indexes count from the first day of data; the horizon starts at
    // the next calendar quarter, not tomorrow.
    let start = f
        .data_from
        .map_or(f.days, |first| (f.forecast_from - first).num_days());
    (0..horizon(f))
        .map(|i| {
            let (y, lo, hi) = fit.band_at(start + i);
            (dollars(y as i64), dollars(lo as i64), dollars(hi as i64))
        })
        .collect()
}

fn forecast_chart(f: &Forecast) -> Chart {
    let raw_cost: Vec<f64> = f.history.iter().map(|h| h.1 as f64).collect();
    let raw_revenue: Vec<f64> = f.history.iter().map(|h| h.2 as f64).collect();
    let labels: Vec<String> = f
        .history
        .iter()
        .map(|h| h.0)
        .chain((0..horizon(f)).map(|i| f.forecast_from + Duration::days(i)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    Chart {
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
                        history: f.history.iter().map(|h| dollars(h.1)).collect(),
                        projected: project(f, f.cost_fit, &raw_cost),
                    },
                    charts::Projection {
                        name: "revenue".into(),
                        history: f.history.iter().map(|h| dollars(h.2)).collect(),
                        projected: project(f, f.revenue_fit, &raw_revenue),
                    },
                ],
                "USD per day",
                usd_axis,
            )
        },
        empty: "No cost data in the last 90 days to forecast from.".into(),
    }
}

/// The forecast's figures beside its chart.
fn forecast_rows(f: &Forecast) -> Vec<(String, String)> {
    let band = |fit: Option<Fit>| {
        fit.map(|fit| (1.96 * fit.residual_sd * (horizon(f) as f64).sqrt()).round() as i64)
            .unwrap_or(0)
    };
    let r2 = |fit: Option<Fit>| {
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
            "Gross margin".into(),
            f.margin_bps.map(bps).unwrap_or_else(|| "-".into()),
        ),
        (
            "Allocated (SG&A, compliance)".into(),
            usd(f.allocated_micros),
        ),
        ("Net profit".into(), usd(f.net_profit_micros)),
        (
            "Net margin".into(),
            f.net_margin_bps.map(bps).unwrap_or_else(|| "-".into()),
        ),
        (
            "R\u{b2} cost / revenue".into(),
            format!("{} / {}", r2(f.cost_fit), r2(f.revenue_fit)),
        ),
    ]
}

/// A loss said in words, not only in colour.
fn loss(profit: i64) -> &'static str {
    if profit < 0 {
        "loss; "
    } else {
        ""
    }
}

fn kpis(o: &CostOverview) -> Vec<Kpi> {
    let m = &o.money;
    let margin = |v: Option<i64>| v.map(bps).unwrap_or_else(|| "-".into());
    vec![
        Kpi {
            label: "Cost".into(),
            value: usd(o.total_cost_micros),
            note: format!("{} events", count(o.events)),
            negative: false,
        },
        Kpi {
            label: "Revenue".into(),
            value: usd(m.revenue_micros),
            note: format!(
                "invoiced: subscriptions {} + usage {} + allocations {}",
                usd(m.subscription_micros),
                usd(m.usage_micros),
                usd(m.allocations_billed_micros)
            ),
            negative: false,
        },
        Kpi {
            label: "Gross profit".into(),
            value: usd(m.gross_profit_micros),
            note: format!(
                "{}margin {}",
                loss(m.gross_profit_micros),
                margin(m.gross_margin_bps())
            ),
            negative: m.gross_profit_micros < 0,
        },
        Kpi {
            label: "Net profit".into(),
            value: usd(m.net_profit_micros),
            note: format!(
                "{}after SG&A {} and compliance {}; margin {}",
                loss(m.net_profit_micros),
                usd(m.sga_micros),
                usd(m.compliance_micros),
                margin(m.net_margin_bps())
            ),
            negative: m.net_profit_micros < 0,
        },
    ]
}

/// One row per day with cost: each service's cost and the day's total.
fn day_rows(
    o: &CostOverview,
    days: &[NaiveDate],
    services: &[String],
) -> Vec<(String, Vec<String>, String)> {
    days.iter()
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
        .collect()
}

fn service_rows(o: &CostOverview) -> Vec<ServiceRow> {
    o.services
        .iter()
        .map(|s| ServiceRow {
            service: s.service.clone(),
            events: count(s.events),
            cost: usd(s.cost_micros),
            share: bps(s.share_bps),
            previous: usd(s.previous_cost_micros),
            trend: trend(s.trend_bps),
        })
        .collect()
}

fn tenant_rows(o: &CostOverview) -> Vec<TenantRow> {
    o.tenants
        .iter()
        .take(RANKED)
        .map(|t| TenantRow {
            tenant_id: t.tenant_id.clone(),
            plan: t.plan.as_str().to_string(),
            events: count(t.events),
            cost: usd(t.cost_micros),
            revenue: usd(t.revenue_micros),
            profit: usd(t.profit_micros),
            margin: t.margin_bps.map(bps).unwrap_or_else(|| "-".into()),
            net_profit: usd(t.net_profit_micros),
            loss: t.net_profit_micros < 0,
        })
        .collect()
}

fn user_stats(o: &CostOverview) -> Vec<(String, String)> {
    let u = &o.users;
    vec![
        ("Users".into(), count(u.costs.len() as i64)),
        ("Mean".into(), usd(u.mean_micros)),
        ("Median".into(), usd(u.median_micros)),
        ("p95".into(), usd(u.p95_micros)),
        ("p99".into(), usd(u.p99_micros)),
        ("Std dev".into(), usd(u.std_dev_micros)),
    ]
}

/// One row per day with data-plane traffic.
fn usage_day_rows(
    days: &[NaiveDate],
    savings: &[i64],
    usage: &BTreeMap<NaiveDate, UsageTotals>,
) -> Vec<UsageDayRow> {
    days.iter()
        .zip(savings)
        .filter_map(|(d, s)| {
            usage.get(d).map(|t| UsageDayRow {
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
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::overview::{overview, OverviewInput};
    use crate::domain::statement::{statement, DayCost, Schedule, Terms};

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    fn sample() -> CostOverview {
        let span = Span {
            from: d(1),
            to: d(4),
        };
        let openai = |day, events, cost| DayCost {
            day: d(day),
            service: crate::domain::pricing::CostService::parse("openai").unwrap(),
            events,
            cost_micros: cost,
        };
        let acme = statement(
            span,
            "2026-11-01..2026-11-04",
            &Schedule::new(vec![(d(1), crate::domain::plan::Plan::Pro)]),
            &Terms::default(),
            &[openai(2, 4, 1_500_000), openai(3, 2, 2_000_000)],
        );
        overview(OverviewInput {
            span,
            by_day: vec![
                (d(2), "openai".into(), 3, 1_000_000),
                (d(2), "hume".into(), 1, 500_000),
                (d(3), "openai".into(), 2, 2_000_000),
            ],
            previous: vec![("openai".into(), 1_500_000)],
            statements: vec![("acme".into(), crate::domain::plan::Plan::Pro, acme)],
            user_costs: vec![3_500_000],
        })
    }

    #[test]
    fn days_with_cost_are_rows_of_each_service_and_their_total() {
        let o = sample();
        let services = vec!["hume".to_string(), "openai".to_string()];
        let rows = day_rows(&o, &[d(1), d(2), d(3)], &services);
        assert_eq!(
            rows,
            vec![
                (
                    "2026-11-02".to_string(),
                    vec!["$0.5000".to_string(), "$1.00".to_string()],
                    "$1.50".to_string()
                ),
                (
                    "2026-11-03".to_string(),
                    vec!["$0.00".to_string(), "$2.00".to_string()],
                    "$2.00".to_string()
                ),
            ],
            "the day without cost has no row"
        );
    }

    #[test]
    fn a_loss_is_said_in_words_not_only_in_colour() {
        let mut o = sample();
        o.money.gross_profit_micros = -1;
        o.money.net_profit_micros = -1;
        let k = kpis(&o);
        for label in ["Gross profit", "Net profit"] {
            let profit = k.iter().find(|k| k.label == label).unwrap();
            assert!(profit.negative, "{label}");
            assert!(
                profit.note.starts_with("loss; "),
                "{label}: {}",
                profit.note
            );
        }
    }

    #[test]
    fn savings_count_only_days_with_traffic() {
        let mut usage = BTreeMap::new();
        usage.insert(
            d(2),
            UsageTotals {
                requests: 10,
                hits: 5,
                misses: 5,
                bytes_out: 5_000_000_000,
                hit_bytes: 5_000_000_000,
                ..Default::default()
            },
        );
        let savings = daily_savings(&[d(1), d(2)], &usage);
        assert_eq!(savings[0], 0);
        assert!(savings[1] > 0, "{savings:?}");
        let rows = usage_day_rows(&[d(1), d(2)], &savings, &usage);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].hit_rate, "50.0%");
    }
}
