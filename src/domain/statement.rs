//! The money model, once: what a tenant is billed for a span (its
//! statement) and what that earns. Invoices, TPC, the cost dashboard, the
//! customer page and the forecast all read revenue from here, so an
//! invoice's total, the TPC revenue and the dashboard's revenue of a tenant
//! and month are one number.
//!
//! - direct cost: the priced usage events;
//! - allocated costs: SG&A and compliance as shares of direct cost, at the
//!   platform's rates in force on each day;
//! - revenue: the invoice, by the billing mode of the tenant's plan on each
//!   day: *cost-plus* (each service at cost, plus the SG&A and compliance
//!   allocations as lines) or *plan pricing* (the plan's subscription,
//!   prorated by day, plus each service at cost times the plan's usage rate);
//! - gross profit = revenue - direct cost; net profit = gross profit -
//!   allocated costs.
//!
//! Amounts accumulate exactly (micro-dollars times basis points) and each
//! invoice line is rounded to the cent once, half away from zero; revenue is
//! the sum of the lines.

use super::analytics::{next_month, Span};
use super::invoice::{component_code, service_label, InvoiceLine};
use super::money::round_div;
use super::plan::Plan;
use super::pricing::CostService;
use super::ValidationError;
use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub const SUBSCRIPTION_CODE: &str = "10-SUBSCRIPTION";
pub const SGA_CODE: &str = "90-SGA";
pub const COMPLIANCE_CODE: &str = "91-COMPLIANCE";
/// The seed design's SG&A allocation: 10% of direct cost.
pub const DEFAULT_SGA_BPS: i64 = 1_000;
/// The seed design's compliance (GDPR / SOC2 / VAT) allocation: 5%.
pub const DEFAULT_COMPLIANCE_BPS: i64 = 500;

/// How a plan's tenants are invoiced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// Each service at cost plus the SG&A and compliance allocations.
    #[default]
    CostPlus,
    /// The plan's monthly subscription plus usage at cost times its rate.
    PlanPricing,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CostPlus => "cost_plus",
            Self::PlanPricing => "plan_pricing",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "cost_plus" => Ok(Self::CostPlus),
            "plan_pricing" => Ok(Self::PlanPricing),
            other => Err(ValidationError::new(
                "billing_mode",
                format!("'{other}' is not cost_plus or plan_pricing"),
            )),
        }
    }
}

/// What a plan charges, from a day on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanTerms {
    pub mode: BillingMode,
    /// The subscription per calendar month (plan pricing).
    pub monthly_price_micros: i64,
    /// Usage is billed at cost times this many basis points (plan pricing;
    /// 12,000 bills $1.20 per $1 of cost).
    pub usage_rate_bps: i64,
}

impl PlanTerms {
    pub fn check(self) -> Result<Self, ValidationError> {
        if !(0..=1_000_000_000_000).contains(&self.monthly_price_micros) {
            return Err(ValidationError::new(
                "monthly_price_micros",
                "must be between 0 and 10^12",
            ));
        }
        if !(0..=1_000_000).contains(&self.usage_rate_bps) {
            return Err(ValidationError::new(
                "usage_markup_bps",
                "must be between 0 and 1000000",
            ));
        }
        Ok(self)
    }
}

/// The platform's allocation rates, from a day on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationRates {
    pub sga_bps: i64,
    pub compliance_bps: i64,
}

impl Default for AllocationRates {
    fn default() -> Self {
        Self {
            sga_bps: DEFAULT_SGA_BPS,
            compliance_bps: DEFAULT_COMPLIANCE_BPS,
        }
    }
}

impl AllocationRates {
    pub fn check(self) -> Result<Self, ValidationError> {
        for (field, v) in [
            ("sga_bps", self.sga_bps),
            ("compliance_bps", self.compliance_bps),
        ] {
            if !(0..=10_000).contains(&v) {
                return Err(ValidationError::new(field, "must be between 0 and 10000"));
            }
        }
        Ok(self)
    }
}

/// Values in force from a day on: the one in force on a day is the last
/// whose start is on or before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule<T>(Vec<(NaiveDate, T)>);

impl<T: Copy> Schedule<T> {
    pub fn new(mut entries: Vec<(NaiveDate, T)>) -> Self {
        entries.sort_by_key(|e| e.0);
        Self(entries)
    }

    /// The value in force on `day`, if any had started.
    pub fn at(&self, day: NaiveDate) -> Option<T> {
        let i = self.0.partition_point(|e| e.0 <= day);
        (i > 0).then(|| self.0[i - 1].1)
    }

    /// The value in force on `day`, or the first one when none had started.
    pub fn at_or_first(&self, day: NaiveDate) -> Option<T> {
        self.at(day).or_else(|| self.0.first().map(|e| e.1))
    }

    pub fn entries(&self) -> &[(NaiveDate, T)] {
        &self.0
    }
}

/// The platform's terms: each plan's terms over time and the allocation rates.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    pub plans: HashMap<Plan, Schedule<PlanTerms>>,
    pub rates: Option<Schedule<AllocationRates>>,
}

impl Terms {
    /// Every day on which some plan's terms or the allocation rates change.
    pub fn change_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let plans = self
            .plans
            .values()
            .flat_map(|s| s.entries().iter().map(|e| e.0));
        let rates = self
            .rates
            .iter()
            .flat_map(|s| s.entries().iter().map(|e| e.0));
        plans.chain(rates)
    }

    pub fn plan_on(&self, plan: Plan, day: NaiveDate) -> PlanTerms {
        self.plans
            .get(&plan)
            .and_then(|s| s.at_or_first(day))
            .unwrap_or_default()
    }

    pub fn rates_on(&self, day: NaiveDate) -> AllocationRates {
        self.rates
            .as_ref()
            .and_then(|s| s.at_or_first(day))
            .unwrap_or_default()
    }
}

/// One service's use by a tenant on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCost {
    pub day: NaiveDate,
    pub service: CostService,
    pub events: i64,
    pub cost_micros: i64,
}

/// A tenant's bill for a span and what it earned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    /// The invoice's lines, in code order: subscription, services, SG&A, compliance.
    pub lines: Vec<InvoiceLine>,
    pub events: i64,
    pub direct_cost_micros: i64,
    /// The subscription line(s).
    pub subscription_micros: i64,
    /// The service lines.
    pub usage_micros: i64,
    /// The SG&A and compliance lines (cost-plus days only).
    pub allocations_billed_micros: i64,
    /// Revenue: the sum of the lines.
    pub revenue_micros: i64,
    /// SG&A and compliance at the rates of each day, on every day's cost.
    pub sga_micros: i64,
    pub compliance_micros: i64,
    pub gross_profit_micros: i64,
    pub net_profit_micros: i64,
}

impl Statement {
    pub fn allocated_micros(&self) -> i64 {
        self.sga_micros.saturating_add(self.compliance_micros)
    }

    pub fn total_cents(&self) -> i64 {
        self.lines
            .iter()
            .fold(0i64, |t, l| t.saturating_add(l.amount_cents()))
    }

    pub fn gross_margin_bps(&self) -> Option<i64> {
        margin_bps(self.gross_profit_micros, self.revenue_micros)
    }

    pub fn net_margin_bps(&self) -> Option<i64> {
        margin_bps(self.net_profit_micros, self.revenue_micros)
    }

    /// Adds another tenant's statement (a sub-organisation's, a platform
    /// total); the lines are left as they are.
    pub fn add(&mut self, other: &Statement) {
        let pairs = [
            (&mut self.events, other.events),
            (&mut self.direct_cost_micros, other.direct_cost_micros),
            (&mut self.subscription_micros, other.subscription_micros),
            (&mut self.usage_micros, other.usage_micros),
            (
                &mut self.allocations_billed_micros,
                other.allocations_billed_micros,
            ),
            (&mut self.revenue_micros, other.revenue_micros),
            (&mut self.sga_micros, other.sga_micros),
            (&mut self.compliance_micros, other.compliance_micros),
            (&mut self.gross_profit_micros, other.gross_profit_micros),
            (&mut self.net_profit_micros, other.net_profit_micros),
        ];
        for (sum, part) in pairs {
            *sum = sum.saturating_add(part);
        }
    }
}

/// Profit over revenue in basis points; none without revenue.
pub fn margin_bps(profit: i64, revenue: i64) -> Option<i64> {
    (revenue != 0).then(|| round_div(i128::from(profit) * 10_000, i128::from(revenue)))
}

/// Micro-dollars times basis points to whole cents (half away from zero).
fn cents(micro_bps: i128) -> i64 {
    round_div(micro_bps, 100_000_000)
}

/// Exact sums of one statement, before the lines are rounded.
#[derive(Default)]
struct Sums {
    /// Per service: (events, cost, billed in micro-bps).
    services: BTreeMap<&'static str, (CostService, i64, i64, i128)>,
    /// Per (month, monthly price): days subscribed.
    subscription: BTreeMap<(NaiveDate, i64), i64>,
    sga_billed: i128,
    compliance_billed: i128,
    cost_plus_used: bool,
    sga: i128,
    compliance: i128,
    rates_seen: Vec<AllocationRates>,
    plans_seen: Vec<Plan>,
}

/// The tenant's statement for `span`: `plans` is its plan history (days
/// before its first entry have no subscription), `costs` its daily use of
/// each service in the span. `label` names the span on the lines (`2026-11`).
pub fn statement(
    span: Span,
    label: &str,
    plans: &Schedule<Plan>,
    terms: &Terms,
    costs: &[DayCost],
) -> Statement {
    let mut sums = Sums::default();
    let mut by_day: BTreeMap<NaiveDate, Vec<&DayCost>> = BTreeMap::new();
    for c in costs
        .iter()
        .filter(|c| span.from <= c.day && c.day < span.to)
    {
        by_day.entry(c.day).or_default().push(c);
    }
    let mut day = span.from;
    while day < span.to {
        let subscribed = plans.at(day);
        let plan = subscribed.or_else(|| plans.at_or_first(day));
        let plan_terms = plan.map(|p| terms.plan_on(p, day)).unwrap_or_default();
        let rates = terms.rates_on(day);
        if let (Some(p), BillingMode::PlanPricing) = (subscribed, plan_terms.mode) {
            let month = day.with_day(1).expect("day 1");
            *sums
                .subscription
                .entry((month, plan_terms.monthly_price_micros))
                .or_default() += 1;
            note(&mut sums.plans_seen, p);
        }
        for c in by_day.get(&day).into_iter().flatten() {
            sums.add_cost(c, plan_terms, rates);
        }
        day += Duration::days(1);
    }
    sums.into_statement(label)
}

fn note<T: PartialEq>(seen: &mut Vec<T>, value: T) {
    if !seen.contains(&value) {
        seen.push(value);
    }
}

impl Sums {
    fn add_cost(&mut self, c: &DayCost, plan: PlanTerms, rates: AllocationRates) {
        let cost = i128::from(c.cost_micros);
        let rate = match plan.mode {
            BillingMode::CostPlus => 10_000,
            BillingMode::PlanPricing => plan.usage_rate_bps,
        };
        let s = self
            .services
            .entry(component_code(c.service))
            .or_insert((c.service, 0, 0, 0));
        s.1 = s.1.saturating_add(c.events);
        s.2 = s.2.saturating_add(c.cost_micros);
        s.3 += cost * i128::from(rate);
        self.sga += cost * i128::from(rates.sga_bps);
        self.compliance += cost * i128::from(rates.compliance_bps);
        if plan.mode == BillingMode::CostPlus {
            self.cost_plus_used = true;
            self.sga_billed += cost * i128::from(rates.sga_bps);
            self.compliance_billed += cost * i128::from(rates.compliance_bps);
            note(&mut self.rates_seen, rates);
        }
    }

    fn into_statement(self, label: &str) -> Statement {
        let mut out = Statement::default();
        let mut lines = Vec::new();
        let subscription: i64 = self
            .subscription
            .iter()
            .map(|((month, price), days)| {
                let days_in_month = (next_month(*month) - *month).num_days();
                round_div(
                    i128::from(*price) * i128::from(*days),
                    i128::from(days_in_month),
                )
            })
            .sum();
        if !self.subscription.is_empty() {
            let names: Vec<&str> = self.plans_seen.iter().map(|p| p.as_str()).collect();
            let days: i64 = self.subscription.values().sum();
            lines.push(line(
                SUBSCRIPTION_CODE,
                format!(
                    "{} plan subscription {label} ({days} day{})",
                    names.join(" and "),
                    plural(days)
                ),
                round_div(i128::from(subscription), 10_000),
            ));
        }
        for (code, (service, events, cost, billed)) in &self.services {
            out.events = out.events.saturating_add(*events);
            out.direct_cost_micros = out.direct_cost_micros.saturating_add(*cost);
            if *events == 0 && *billed == 0 {
                continue;
            }
            lines.push(line(
                code,
                format!(
                    "{} usage {label} ({events} event{})",
                    service_label(*service),
                    plural(*events)
                ),
                cents(*billed),
            ));
        }
        if self.cost_plus_used {
            let rate = |f: fn(&AllocationRates) -> i64| match self.rates_seen.as_slice() {
                [one] => format!("{}", Percent(f(one))),
                _ => "the rates in force".to_string(),
            };
            lines.push(line(
                SGA_CODE,
                format!(
                    "Global SG&A allocation at {} of usage {label}",
                    rate(|r| r.sga_bps)
                ),
                cents(self.sga_billed),
            ));
            lines.push(line(
                COMPLIANCE_CODE,
                format!(
                    "Compliance (GDPR / SOC2 / VAT) at {} of usage {label}",
                    rate(|r| r.compliance_bps)
                ),
                cents(self.compliance_billed),
            ));
        }
        // Saturating throughout: absurd figures must not wrap into negative
        // invoices (ingest refuses events costing over $1,000,000 each).
        for l in &lines {
            let micros = l.unit_amount_cents.saturating_mul(10_000);
            let part = match l.item_code.as_str() {
                SUBSCRIPTION_CODE => &mut out.subscription_micros,
                SGA_CODE | COMPLIANCE_CODE => &mut out.allocations_billed_micros,
                _ => &mut out.usage_micros,
            };
            *part = part.saturating_add(micros);
        }
        out.revenue_micros = out
            .subscription_micros
            .saturating_add(out.usage_micros)
            .saturating_add(out.allocations_billed_micros);
        out.sga_micros = cents(self.sga).saturating_mul(10_000);
        out.compliance_micros = cents(self.compliance).saturating_mul(10_000);
        out.gross_profit_micros = out.revenue_micros.saturating_sub(out.direct_cost_micros);
        out.net_profit_micros = out
            .gross_profit_micros
            .saturating_sub(out.allocated_micros());
        out.lines = lines;
        out
    }
}

fn line(code: &str, description: String, cents: i64) -> InvoiceLine {
    InvoiceLine {
        item_code: code.to_string(),
        description,
        quantity: 1,
        unit_amount_cents: cents,
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Basis points as a percentage for people: 1000 -> "10%", 1250 -> "12.5%".
struct Percent(i64);

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, frac) = (self.0 / 100, self.0 % 100);
        if frac == 0 {
            write!(f, "{whole}%")
        } else if frac % 10 == 0 {
            write!(f, "{whole}.{}%", frac / 10)
        } else {
            write!(f, "{whole}.{frac:02}%")
        }
    }
}

/// One day's figures for the forecast, unrounded micro-dollars: cost,
/// revenue (as the statement would bill it) and allocated costs.
pub fn day_figures(
    day: NaiveDate,
    plan: Option<Plan>,
    subscribed: bool,
    terms: &Terms,
    cost_micros: i64,
) -> (i64, i64, i64) {
    let plan_terms = plan.map(|p| terms.plan_on(p, day)).unwrap_or_default();
    let rates = terms.rates_on(day);
    let cost = i128::from(cost_micros);
    let (mut revenue, allocated) = (
        0i128,
        cost * i128::from(rates.sga_bps + rates.compliance_bps),
    );
    match plan_terms.mode {
        BillingMode::CostPlus => revenue += cost * 10_000 + allocated,
        BillingMode::PlanPricing => {
            revenue += cost * i128::from(plan_terms.usage_rate_bps);
            if subscribed {
                let month = day.with_day(1).expect("day 1");
                let days_in_month = (next_month(month) - month).num_days();
                revenue += i128::from(plan_terms.monthly_price_micros) * 10_000
                    / i128::from(days_in_month);
            }
        }
    }
    (
        cost_micros,
        round_div(revenue, 10_000),
        round_div(allocated, 10_000),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret::Service;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn november() -> Span {
        Span {
            from: d(11, 1),
            to: d(12, 1),
        }
    }

    fn hume(day: u32, events: i64, cost: i64) -> DayCost {
        DayCost {
            day: d(11, day),
            service: CostService::Provider(Service::Hume),
            events,
            cost_micros: cost,
        }
    }

    fn terms(mode: BillingMode) -> Terms {
        let mut t = Terms::default();
        t.plans.insert(
            Plan::Pro,
            Schedule::new(vec![(
                d(1, 1),
                PlanTerms {
                    mode,
                    monthly_price_micros: 30_000_000,
                    usage_rate_bps: 12_000,
                },
            )]),
        );
        t
    }

    fn on_pro() -> Schedule<Plan> {
        Schedule::new(vec![(d(1, 1), Plan::Pro)])
    }

    #[test]
    fn cost_plus_bills_cost_and_the_allocations() {
        // $4.00 and $2.34567 of Hume: cost $6.34567, SG&A $0.634567 -> 63 c,
        // compliance $0.3172835 -> 32 c; revenue 635 + 63 + 32 = 730 c.
        let s = statement(
            november(),
            "2026-11",
            &on_pro(),
            &terms(BillingMode::CostPlus),
            &[hume(3, 2, 4_000_000), hume(20, 1, 2_345_670)],
        );
        let codes: Vec<(&str, i64)> = s
            .lines
            .iter()
            .map(|l| (l.item_code.as_str(), l.unit_amount_cents))
            .collect();
        assert_eq!(
            codes,
            [("13-HUME", 635), (SGA_CODE, 63), (COMPLIANCE_CODE, 32)]
        );
        assert_eq!(
            s.lines[1].description,
            "Global SG&A allocation at 10% of usage 2026-11"
        );
        assert_eq!(s.revenue_micros, 7_300_000);
        assert_eq!(s.total_cents(), 730);
        assert_eq!(s.direct_cost_micros, 6_345_670);
        assert_eq!(s.gross_profit_micros, 7_300_000 - 6_345_670);
        assert_eq!(s.sga_micros + s.compliance_micros, 950_000);
        assert_eq!(s.net_profit_micros, 7_300_000 - 6_345_670 - 950_000);
    }

    #[test]
    fn lines_follow_the_component_codes_and_round_once() {
        let at = |service, events, cost| DayCost {
            day: d(11, 2),
            service,
            events,
            cost_micros: cost,
        };
        let s = statement(
            november(),
            "2026-11",
            &on_pro(),
            &terms(BillingMode::CostPlus),
            &[
                at(CostService::Provider(Service::OpenAi), 3, 12_345_678), // 12.35
                at(CostService::Provider(Service::Hume), 1, 1_004_999),    // 1.00
                at(CostService::Cache, 10, 5_000),                         // 0.01
                at(CostService::Provider(Service::Deepgram), 0, 0),        // skipped
            ],
        );
        let codes: Vec<&str> = s.lines.iter().map(|l| l.item_code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "13-HUME",
                "15-OPENAI",
                "18-KEYWARD",
                SGA_CODE,
                COMPLIANCE_CODE
            ]
        );
        let amounts: Vec<i64> = s.lines.iter().map(|l| l.unit_amount_cents).collect();
        // Cost $13.355677: 10 % = 1.3355677 -> 1.34; 5 % = 0.66778385 -> 0.67.
        assert_eq!(amounts, [100, 1235, 1, 134, 67]);
        assert!(s.lines[1].description.contains("3 events"));
        assert!(s.lines[0].description.contains("1 event)"));
    }

    #[test]
    fn plan_pricing_bills_the_subscription_and_usage_at_its_rate() {
        // $30 a month, usage at 120 %: $6.34567 of cost bills $7.614804 -> 761 c.
        let s = statement(
            november(),
            "2026-11",
            &on_pro(),
            &terms(BillingMode::PlanPricing),
            &[hume(3, 2, 4_000_000), hume(20, 1, 2_345_670)],
        );
        let codes: Vec<(&str, i64)> = s
            .lines
            .iter()
            .map(|l| (l.item_code.as_str(), l.unit_amount_cents))
            .collect();
        assert_eq!(codes, [(SUBSCRIPTION_CODE, 3_000), ("13-HUME", 761)]);
        assert_eq!(s.revenue_micros, 37_610_000);
        assert_eq!(s.subscription_micros, 30_000_000);
        // Allocations are costs here, not lines: 63 c + 32 c.
        assert_eq!(s.allocated_micros(), 950_000);
        assert_eq!(s.net_profit_micros, 37_610_000 - 6_345_670 - 950_000);
    }

    #[test]
    fn a_rate_change_mid_month_applies_from_its_day() {
        let mut t = terms(BillingMode::CostPlus);
        t.rates = Some(Schedule::new(vec![
            (d(1, 1), AllocationRates::default()),
            (
                d(11, 16),
                AllocationRates {
                    sga_bps: 2_000,
                    compliance_bps: 500,
                },
            ),
        ]));
        // $10 on the 3rd at 10 %, $10 on the 20th at 20 %: SG&A $3.00.
        let s = statement(
            november(),
            "2026-11",
            &on_pro(),
            &t,
            &[hume(3, 1, 10_000_000), hume(20, 1, 10_000_000)],
        );
        assert_eq!(s.lines[1].unit_amount_cents, 300);
        assert_eq!(
            s.lines[1].description,
            "Global SG&A allocation at the rates in force of usage 2026-11"
        );
        assert_eq!(s.lines[2].unit_amount_cents, 100);
        assert_eq!(s.sga_micros, 3_000_000);
    }

    #[test]
    fn a_plan_change_mid_month_prorates_each_plan_by_its_days() {
        let mut t = terms(BillingMode::PlanPricing);
        t.plans.insert(
            Plan::Enterprise,
            Schedule::new(vec![(
                d(1, 1),
                PlanTerms {
                    mode: BillingMode::PlanPricing,
                    monthly_price_micros: 300_000_000,
                    usage_rate_bps: 10_000,
                },
            )]),
        );
        // Pro from the 1st ($30/month), enterprise from the 21st ($300/month):
        // 20/30 * 30 + 10/30 * 300 = $120; usage $10 on the 3rd at 120 % and
        // $10 on the 25th at 100 %: $22.
        let plans = Schedule::new(vec![(d(1, 1), Plan::Pro), (d(11, 21), Plan::Enterprise)]);
        let s = statement(
            november(),
            "2026-11",
            &plans,
            &t,
            &[hume(3, 1, 10_000_000), hume(25, 1, 10_000_000)],
        );
        assert_eq!(s.subscription_micros, 120_000_000);
        assert_eq!(s.usage_micros, 22_000_000);
        assert_eq!(
            s.lines[0].description,
            "pro and enterprise plan subscription 2026-11 (30 days)"
        );
    }

    #[test]
    fn no_subscription_before_the_tenant_existed_and_nothing_used_bills_nothing() {
        let plans = Schedule::new(vec![(d(11, 16), Plan::Pro)]);
        let s = statement(
            november(),
            "2026-11",
            &plans,
            &terms(BillingMode::PlanPricing),
            &[],
        );
        assert_eq!(s.subscription_micros, 15_000_000, "15 of 30 days");
        let s = statement(
            november(),
            "2026-11",
            &plans,
            &terms(BillingMode::CostPlus),
            &[],
        );
        assert!(s.lines.is_empty());
        assert_eq!(s.revenue_micros, 0);
    }

    #[test]
    fn day_figures_add_up_to_the_statement_before_rounding() {
        let t = terms(BillingMode::PlanPricing);
        let (c, r, a) = day_figures(d(11, 3), Some(Plan::Pro), true, &t, 10_000_000);
        assert_eq!((c, r, a), (10_000_000, 12_000_000 + 1_000_000, 1_500_000));
        let t = terms(BillingMode::CostPlus);
        let (_, r, _) = day_figures(d(11, 3), Some(Plan::Pro), true, &t, 10_000_000);
        assert_eq!(r, 11_500_000);
    }

    #[test]
    fn percentages_read_as_people_write_them() {
        assert_eq!(Percent(1_000).to_string(), "10%");
        assert_eq!(Percent(1_250).to_string(), "12.5%");
        assert_eq!(Percent(1_234).to_string(), "12.34%");
        assert_eq!(Percent(5).to_string(), "0.05%");
    }
}
