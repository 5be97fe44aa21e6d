//! The forecast's maths, once: daily cost, revenue and allocated-cost
//! histories (revenue as the money model bills it, on the plan each tenant
//! was on that day), least-squares lines through them, and those lines
//! continued over the next calendar quarters (sums for the API, a daily
//! band for the chart).

use super::analytics::{least_squares, next_month, Fit};
use super::plan::Plan;
use super::statement::{day_figures, margin_bps, Schedule, Terms};
use chrono::{Datelike, Duration, NaiveDate};
use std::collections::HashMap;

/// A series of daily values: (day index from the first day, value in micros).
pub type Points = Vec<(f64, f64)>;

/// The daily series the forecast fits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub cost: Points,
    pub revenue: Points,
    pub allocated: Points,
}

/// What the forecast projects from.
pub struct History<'a> {
    /// (tenant, day, cost in micros) rows of the rollups.
    pub rows: &'a [(String, NaiveDate, i64)],
    /// The plan history of every tenant in scope (a subscription is owed on
    /// the days a tenant existed, used or not).
    pub plans: &'a HashMap<String, Schedule<Plan>>,
    pub terms: &'a Terms,
    /// The first day with data; `days` days up to (not including) today.
    pub first: NaiveDate,
    pub days: i64,
}

impl History<'_> {
    /// Each day's cost, revenue and allocated costs as points for the fits.
    pub fn points(&self) -> Series {
        let n = self.days.max(0) as usize;
        let mut cost: HashMap<(&str, usize), i64> = HashMap::new();
        for (tenant, day, c) in self.rows {
            let i = (*day - self.first).num_days();
            if (0..n as i64).contains(&i) {
                *cost.entry((tenant.as_str(), i as usize)).or_default() += c;
            }
        }
        let mut series = [vec![0i64; n], vec![0i64; n], vec![0i64; n]];
        let empty = Schedule::new(Vec::new());
        let mut tenants: Vec<&str> = self.plans.keys().map(String::as_str).collect();
        tenants.extend(cost.keys().map(|k| k.0));
        tenants.sort_unstable();
        tenants.dedup();
        for tenant in tenants {
            let plans = self.plans.get(tenant).unwrap_or(&empty);
            for (i, slot) in (0..n).enumerate() {
                let day = self.first + Duration::days(i as i64);
                let c = cost.get(&(tenant, i)).copied().unwrap_or(0);
                let subscribed = plans.at(day);
                let plan = subscribed.or_else(|| plans.at_or_first(day));
                let (c, r, a) = day_figures(day, plan, subscribed.is_some(), self.terms, c);
                series[0][slot] += c;
                series[1][slot] += r;
                series[2][slot] += a;
            }
        }
        let points = |v: &[i64]| -> Points {
            v.iter()
                .enumerate()
                .map(|(i, x)| (i as f64, *x as f64))
                .collect()
        };
        Series {
            cost: points(&series[0]),
            revenue: points(&series[1]),
            allocated: points(&series[2]),
        }
    }
}

/// The next `n` calendar quarters after `today`: `[from, to)`.
pub fn next_quarters(today: NaiveDate, n: u32) -> (NaiveDate, NaiveDate) {
    let quarter_start = |y: i32, q: u32| NaiveDate::from_ymd_opt(y, q * 3 + 1, 1).expect("quarter");
    let q = (today.month() - 1) / 3;
    let from = if q == 3 {
        quarter_start(today.year() + 1, 0)
    } else {
        quarter_start(today.year(), q + 1)
    };
    let mut to = from;
    for _ in 0..n * 3 {
        to = next_month(to);
    }
    (from, to)
}

/// The fitted lines and what they project over the horizon.
#[derive(Debug, Clone)]
pub struct Projection {
    pub cost_fit: Option<Fit>,
    pub revenue_fit: Option<Fit>,
    pub allocated_fit: Option<Fit>,
    pub tpc_micros: i64,
    pub revenue_micros: i64,
    pub allocated_micros: i64,
    pub gross_profit_micros: i64,
    pub net_profit_micros: i64,
    pub margin_bps: Option<i64>,
    pub net_margin_bps: Option<i64>,
    /// (day, cost, revenue) per day of history, oldest first.
    pub history: Vec<(NaiveDate, i64, i64)>,
}

/// Fits the series and sums their lines over `[from, to)` (days after the
/// history; a single day of data projects flat).
pub fn project(
    first: NaiveDate,
    series: &Series,
    (from, to): (NaiveDate, NaiveDate),
) -> Projection {
    let start = (from - first).num_days();
    let n = (to - from).num_days();
    let sum = |points: &Points| {
        let fit = least_squares(points);
        (
            fit,
            Fit::or_flat(fit, points.first().map(|p| p.1)).project(start, n),
        )
    };
    let (cost_fit, tpc) = sum(&series.cost);
    let (revenue_fit, revenue) = sum(&series.revenue);
    let (allocated_fit, allocated) = sum(&series.allocated);
    let gross = revenue - tpc;
    let net = gross - allocated;
    let history = series
        .cost
        .iter()
        .zip(&series.revenue)
        .map(|(c, r)| (first + Duration::days(c.0 as i64), c.1 as i64, r.1 as i64))
        .collect();
    Projection {
        cost_fit,
        revenue_fit,
        allocated_fit,
        tpc_micros: tpc,
        revenue_micros: revenue,
        allocated_micros: allocated,
        gross_profit_micros: gross,
        net_profit_micros: net,
        margin_bps: margin_bps(gross, revenue),
        net_margin_bps: margin_bps(net, revenue),
        history,
    }
}

impl Fit {
    /// `fit`, or with too few points for one the flat line through the first
    /// value (zero without any).
    pub fn or_flat(fit: Option<Fit>, first: Option<f64>) -> Fit {
        fit.unwrap_or(Fit {
            intercept: first.unwrap_or(0.0),
            slope: 0.0,
            r_squared: 1.0,
            residual_sd: 0.0,
        })
    }

    /// The line's value at day `x` (never below zero) with its 95 % band
    /// (1.96 residual standard errors either side).
    pub fn band_at(&self, x: i64) -> (f64, f64, f64) {
        let y = (self.intercept + self.slope * x as f64).max(0.0);
        let d = 1.96 * self.residual_sd;
        (y, y - d, y + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::statement::{BillingMode, PlanTerms};

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 4, d).unwrap()
    }

    #[test]
    fn the_history_bills_each_day_on_the_plan_of_that_day() {
        let rows = [
            ("a".to_string(), day(1), 1_000_000),
            ("a".to_string(), day(2), 3_000_000),
        ];
        let mut terms = Terms::default();
        terms.plans.insert(
            Plan::Pro,
            Schedule::new(vec![(
                day(1),
                PlanTerms {
                    mode: BillingMode::PlanPricing,
                    monthly_price_micros: 30_000_000,
                    usage_rate_bps: 12_000,
                },
            )]),
        );
        // "b" joined on the 2nd, on pro too.
        let plans = HashMap::from([
            ("a".to_string(), Schedule::new(vec![(day(1), Plan::Pro)])),
            ("b".to_string(), Schedule::new(vec![(day(2), Plan::Pro)])),
        ]);
        let h = History {
            rows: &rows,
            plans: &plans,
            terms: &terms,
            first: day(1),
            days: 2,
        };
        let s = h.points();
        assert_eq!(s.cost, vec![(0.0, 1_000_000.0), (1.0, 3_000_000.0)]);
        // 120 % of cost, plus $1 a day per subscribed tenant ($30 over April's 30 days).
        assert_eq!(s.revenue, vec![(0.0, 2_200_000.0), (1.0, 5_600_000.0)]);
        // 15 % of cost.
        assert_eq!(s.allocated, vec![(0.0, 150_000.0), (1.0, 450_000.0)]);
    }

    #[test]
    fn the_next_calendar_quarter() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            next_quarters(d(2026, 12, 6), 1),
            (d(2027, 1, 1), d(2027, 4, 1))
        );
        assert_eq!(
            next_quarters(d(2026, 1, 1), 1),
            (d(2026, 4, 1), d(2026, 7, 1))
        );
        assert_eq!(
            next_quarters(d(2026, 5, 31), 2),
            (d(2026, 7, 1), d(2027, 1, 1))
        );
    }

    #[test]
    fn a_line_is_continued_and_one_day_projects_flat() {
        let series = Series {
            cost: vec![(0.0, 100.0), (1.0, 110.0), (2.0, 120.0)],
            revenue: vec![(0.0, 200.0), (1.0, 200.0), (2.0, 200.0)],
            allocated: vec![(0.0, 15.0), (1.0, 16.5), (2.0, 18.0)],
        };
        // Days 4 and 5 (indexes 3 and 4): 130 + 140; revenue flat at 200.
        let p = project(day(1), &series, (day(4), day(6)));
        assert_eq!((p.tpc_micros, p.revenue_micros), (270, 400));
        assert_eq!(p.gross_profit_micros, 130);
        assert_eq!(p.allocated_micros, 41);
        assert_eq!(p.net_profit_micros, 89);
        assert_eq!(p.margin_bps, Some(3_250));
        assert_eq!(p.net_margin_bps, Some(2_225));
        assert_eq!(p.history[2], (day(3), 120, 200));
        let one = Series {
            cost: vec![(0.0, 50.0)],
            revenue: vec![(0.0, 80.0)],
            allocated: vec![(0.0, 0.0)],
        };
        let one = project(day(1), &one, (day(2), day(5)));
        assert!(one.cost_fit.is_none());
        assert_eq!((one.tpc_micros, one.revenue_micros), (150, 240));
    }

    #[test]
    fn the_band_is_never_below_zero_at_its_centre() {
        let fit = Fit {
            intercept: 10.0,
            slope: -5.0,
            r_squared: 1.0,
            residual_sd: 1.0,
        };
        assert_eq!(fit.band_at(1), (5.0, 5.0 - 1.96, 5.0 + 1.96));
        assert_eq!(fit.band_at(4).0, 0.0);
    }
}
