//! The cost overview the dashboards show: for a span, across tenants or for
//! one, cost per day and service, the tenants ranked by cost with what each
//! earned, the spread of cost over users, and the platform's profitability.
//! Revenue and profit are the tenants' statements ([`super::statement`]):
//! for one tenant the figures equal its TPC and, for a calendar month, its
//! invoice.

use super::analytics::{median, percentile, round_div, std_dev, Period, ServiceCost, Span};
use super::plan::Plan;
use super::statement::Statement;
use super::ValidationError;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;

/// The windows the dashboards offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    ThisWeek,
    ThisMonth,
    LastMonth,
    Last30Days,
    Last90Days,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::ThisMonth,
        Preset::LastMonth,
        Preset::ThisWeek,
        Preset::Last30Days,
        Preset::Last90Days,
    ];

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "period",
                    "must be one of this-month, last-month, this-week, last-30-days, last-90-days",
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::ThisWeek => "this-week",
            Preset::ThisMonth => "this-month",
            Preset::LastMonth => "last-month",
            Preset::Last30Days => "last-30-days",
            Preset::Last90Days => "last-90-days",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::ThisWeek => "This week",
            Preset::ThisMonth => "This month",
            Preset::LastMonth => "Last month",
            Preset::Last30Days => "Last 30 days",
            Preset::Last90Days => "Last 90 days",
        }
    }

    /// The span `[from, to)` of the preset on `today` (UTC); the rolling
    /// windows end with today.
    pub fn span(self, today: NaiveDate) -> Span {
        let (from, to) = match self {
            Preset::ThisWeek => Period::Weekly.containing(today),
            Preset::ThisMonth => Period::Monthly.containing(today),
            Preset::LastMonth => {
                Period::Monthly.containing(Period::Monthly.containing(today).0 - Duration::days(1))
            }
            Preset::Last30Days => (today - Duration::days(29), today + Duration::days(1)),
            Preset::Last90Days => (today - Duration::days(89), today + Duration::days(1)),
        };
        Span { from, to }
    }
}

/// One tenant's cost and earnings in the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantProfit {
    pub tenant_id: String,
    /// Its plan today.
    pub plan: Plan,
    pub events: i64,
    pub cost_micros: i64,
    pub revenue_micros: i64,
    /// Gross profit: revenue - cost.
    pub profit_micros: i64,
    /// Gross margin.
    pub margin_bps: Option<i64>,
    pub net_profit_micros: i64,
    pub net_margin_bps: Option<i64>,
}

/// The spread of cost over users (each (tenant, user) with cost in the span).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSpread {
    /// Sorted ascending.
    pub costs: Vec<i64>,
    pub mean_micros: i64,
    pub median_micros: i64,
    pub p95_micros: i64,
    pub p99_micros: i64,
    pub std_dev_micros: i64,
}

impl UserSpread {
    pub fn of(mut costs: Vec<i64>) -> Self {
        costs.sort_unstable();
        let total: i64 = costs.iter().sum();
        Self {
            mean_micros: if costs.is_empty() {
                0
            } else {
                round_div(i128::from(total), costs.len() as i128)
            },
            median_micros: median(&costs),
            p95_micros: percentile(&costs, 95),
            p99_micros: percentile(&costs, 99),
            std_dev_micros: std_dev(&costs),
            costs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostOverview {
    pub span: Span,
    pub total_cost_micros: i64,
    pub events: i64,
    /// Cost per (day, service); days without cost are absent.
    pub daily: BTreeMap<(NaiveDate, String), i64>,
    /// Per service, with the previous span's cost for the trend.
    pub services: Vec<ServiceCost>,
    /// Tenants with cost in the span, costliest first.
    pub tenants: Vec<TenantProfit>,
    pub users: UserSpread,
    /// Every tenant's statement added up: revenue, allocations, profits.
    pub money: Statement,
}

/// What the overview is computed from.
pub struct OverviewInput {
    pub span: Span,
    /// (day, service, events, cost)
    pub by_day: Vec<(NaiveDate, String, i64, i64)>,
    /// (service, cost) of the previous span.
    pub previous: Vec<(String, i64)>,
    /// Each tenant in scope with its plan today and its statement for the
    /// span (used or not: a subscription is owed either way).
    pub statements: Vec<(String, Plan, Statement)>,
    pub user_costs: Vec<i64>,
}

/// The overview of the span: costs per day and service, tenants ranked by
/// cost with their revenue, the user spread and the platform's profit.
pub fn overview(input: OverviewInput) -> CostOverview {
    let span = input.span;
    let (daily, mut services) = daily_and_service_costs(&input.by_day);
    let before = previous_costs(&input.previous, &mut services);
    let total: i64 = services.values().map(|s| s.1).sum();
    let events: i64 = services.values().map(|s| s.0).sum();
    let mut money = Statement::default();
    for (_, _, s) in &input.statements {
        money.add(s);
    }
    let tenants = tenant_profits(&input.statements);
    CostOverview {
        span,
        total_cost_micros: total,
        events,
        daily,
        services: services
            .into_iter()
            .map(|(service, (events, cost))| {
                let prev = before.get(&service).copied().unwrap_or(0);
                ServiceCost::of(service, events, cost, prev, total)
            })
            .collect(),
        tenants,
        users: UserSpread::of(input.user_costs),
        money,
    }
}

/// Per service (events, cost) totals.
type ServiceTotals = BTreeMap<String, (i64, i64)>;

/// Cost per (day, service), and (events, cost) per service, from the
/// span's (day, service, events, cost) rows.
fn daily_and_service_costs(
    by_day: &[(NaiveDate, String, i64, i64)],
) -> (BTreeMap<(NaiveDate, String), i64>, ServiceTotals) {
    let mut daily: BTreeMap<(NaiveDate, String), i64> = BTreeMap::new();
    let mut services: ServiceTotals = BTreeMap::new();
    for (day, service, events, cost) in by_day {
        *daily.entry((*day, service.clone())).or_default() += cost;
        let s = services.entry(service.clone()).or_default();
        s.0 += events;
        s.1 += cost;
    }
    (daily, services)
}

/// The previous span's cost per service; a service used only then is added
/// to `services` with nothing in this span.
fn previous_costs(
    previous: &[(String, i64)],
    services: &mut ServiceTotals,
) -> BTreeMap<String, i64> {
    let mut before: BTreeMap<String, i64> = BTreeMap::new();
    for (service, cost) in previous {
        *before.entry(service.clone()).or_default() += cost;
        services.entry(service.clone()).or_default();
    }
    before
}

/// Each tenant with cost or revenue in the span, with its profit,
/// costliest first (ties by tenant id).
fn tenant_profits(statements: &[(String, Plan, Statement)]) -> Vec<TenantProfit> {
    let mut tenants: Vec<TenantProfit> = statements
        .iter()
        .filter(|(_, _, s)| s.events != 0 || s.direct_cost_micros != 0 || s.revenue_micros != 0)
        .map(|(tenant, plan, s)| TenantProfit {
            tenant_id: tenant.clone(),
            plan: *plan,
            events: s.events,
            cost_micros: s.direct_cost_micros,
            revenue_micros: s.revenue_micros,
            profit_micros: s.gross_profit_micros,
            margin_bps: s.gross_margin_bps(),
            net_profit_micros: s.net_profit_micros,
            net_margin_bps: s.net_margin_bps(),
        })
        .collect();
    tenants.sort_by(|a, b| {
        b.cost_micros
            .cmp(&a.cost_micros)
            .then_with(|| a.tenant_id.cmp(&b.tenant_id))
    });
    tenants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    #[test]
    fn presets_by_hand() {
        let today = d(26);
        assert_eq!(
            Preset::ThisMonth.span(today),
            Span {
                from: d(1),
                to: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            }
        );
        assert_eq!(
            Preset::LastMonth.span(today),
            Span {
                from: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
                to: d(1)
            }
        );
        assert_eq!(Preset::Last30Days.span(today).days(), 30);
        assert_eq!(Preset::Last30Days.span(today).to, d(27));
        assert_eq!(
            Preset::ThisWeek.span(today),
            Span {
                from: d(23),
                to: d(30)
            }
        );
        assert!(Preset::parse("yesterday").is_err());
        assert_eq!(Preset::parse("last-90-days").unwrap(), Preset::Last90Days);
    }

    #[test]
    fn overview_by_hand() {
        use crate::domain::statement::{
            statement, BillingMode, DayCost, PlanTerms, Schedule, Terms,
        };
        // November: 30 days. Pro bills 30 $/month + usage at 120 %; free nothing.
        let span = Span {
            from: d(1),
            to: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
        };
        let mut terms = Terms::default();
        let on = |mode, price, rate| {
            Schedule::new(vec![(
                d(1),
                PlanTerms {
                    mode,
                    monthly_price_micros: price,
                    usage_rate_bps: rate,
                },
            )])
        };
        terms
            .plans
            .insert(Plan::Pro, on(BillingMode::PlanPricing, 30_000_000, 12_000));
        terms
            .plans
            .insert(Plan::Free, on(BillingMode::PlanPricing, 0, 0));
        let openai = |day, events, cost| DayCost {
            day: d(day),
            service: crate::domain::pricing::CostService::parse("openai").unwrap(),
            events,
            cost_micros: cost,
        };
        let bill = |plan, costs: &[DayCost]| {
            statement(
                span,
                "2026-11",
                &Schedule::new(vec![(d(1), plan)]),
                &terms,
                costs,
            )
        };
        let o = overview(OverviewInput {
            span,
            by_day: vec![
                (d(2), "openai".into(), 3, 1_000_000),
                (d(2), "hume".into(), 1, 500_000),
                (d(3), "openai".into(), 2, 2_000_000),
            ],
            previous: vec![("openai".into(), 1_500_000), ("deepgram".into(), 9)],
            statements: vec![
                (
                    "acme".into(),
                    Plan::Pro,
                    bill(
                        Plan::Pro,
                        &[openai(2, 1, 1_000_000), openai(3, 2, 2_000_000)],
                    ),
                ),
                ("idle".into(), Plan::Pro, bill(Plan::Pro, &[])),
                (
                    "tiny".into(),
                    Plan::Free,
                    bill(Plan::Free, &[openai(2, 2, 500_000)]),
                ),
            ],
            user_costs: vec![2_000_000, 500_000, 1_000_000],
        });
        assert_eq!(o.total_cost_micros, 3_500_000);
        assert_eq!(o.events, 6);
        assert_eq!(o.daily[&(d(2), "openai".to_string())], 1_000_000);
        // Services sorted by name; deepgram only in the previous span.
        let names: Vec<&str> = o.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["deepgram", "hume", "openai"]);
        let openai = &o.services[2];
        assert_eq!((openai.cost_micros, openai.share_bps), (3_000_000, 8_571));
        assert_eq!(openai.trend_bps, Some(10_000), "3.0 against 1.5 is +100 %");
        // acme: 30 $ + 120 % of 3 $ = 33.6 $, gross 30.6 $; idle pays 30 $;
        // tiny: no revenue, so no margin.
        let ids: Vec<&str> = o.tenants.iter().map(|t| t.tenant_id.as_str()).collect();
        assert_eq!(ids, ["acme", "tiny", "idle"]);
        assert_eq!(o.tenants[0].revenue_micros, 33_600_000);
        assert_eq!(o.tenants[0].profit_micros, 30_600_000);
        assert_eq!(o.tenants[1].margin_bps, None);
        assert_eq!(o.tenants[2].revenue_micros, 30_000_000);
        assert_eq!(o.money.subscription_micros, 60_000_000);
        assert_eq!(o.money.usage_micros, 3_600_000);
        assert_eq!(o.money.gross_profit_micros, 63_600_000 - 3_500_000);
        // Allocations at 10 % + 5 % of every tenant's cost: 0.45 $ + 0.075 $.
        assert_eq!(
            o.money.allocated_micros(),
            300_000 + 150_000 + 50_000 + 30_000
        );
        assert_eq!(o.users.costs, [500_000, 1_000_000, 2_000_000]);
        assert_eq!(o.users.median_micros, 1_000_000);
        assert_eq!(o.users.p99_micros, 2_000_000);
    }
}
