//! The forecast's maths, once: daily cost and revenue histories from the
//! cost rollups, least-squares lines through them, and those lines continued
//! over the horizon (sums for the API, a daily band for the chart).

use super::analytics::{least_squares, Earnings, Fit, Period};
use super::plan::Plan;
use chrono::{Duration, NaiveDate};
use std::collections::HashMap;

/// A series of daily values: (day index from the first day, value in micros).
pub type Points = Vec<(f64, f64)>;

/// What the forecast projects from.
pub struct History<'a> {
    /// (day, plan, cost in micros) rows of the rollups.
    pub rows: &'a [(NaiveDate, Plan, i64)],
    /// The first day with data; `days` days up to (not including) today.
    pub first: NaiveDate,
    pub days: i64,
    /// Each plan's price and usage markup.
    pub earnings: &'a HashMap<Plan, Earnings>,
    /// Tenants on each plan (the plan revenue of a day is theirs).
    pub tenants_per_plan: &'a [(Plan, i64)],
}

impl History<'_> {
    /// The daily cost and revenue (usage markup plus each day's share of the
    /// month's plan prices) as points for the fits.
    pub fn points(&self) -> (Points, Points) {
        let n = self.days.max(0) as usize;
        let mut cost = vec![0i64; n];
        let mut usage_revenue = vec![0i64; n];
        for (day, plan, c) in self.rows {
            let i = (*day - self.first).num_days() as usize;
            cost[i] += c;
            let markup = self
                .earnings
                .get(plan)
                .map(|e| e.usage_markup_bps)
                .unwrap_or(0);
            usage_revenue[i] += (i128::from(*c) * i128::from(markup) / 10_000) as i64;
        }
        let cost = cost
            .iter()
            .enumerate()
            .map(|(i, c)| (i as f64, *c as f64))
            .collect();
        let revenue = usage_revenue
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let day = self.first + Duration::days(i as i64);
                (i as f64, *u as f64 + self.plan_revenue(day))
            })
            .collect();
        (cost, revenue)
    }

    /// The plan revenue of one day: every tenant's monthly price spread over
    /// the days of that month.
    fn plan_revenue(&self, day: NaiveDate) -> f64 {
        self.tenants_per_plan
            .iter()
            .map(|(plan, n)| {
                let monthly = self
                    .earnings
                    .get(plan)
                    .map(|e| e.monthly_price_micros)
                    .unwrap_or(0);
                let (m0, m1) = Period::Monthly.containing(day);
                *n as f64 * monthly as f64 / (m1 - m0).num_days() as f64
            })
            .sum()
    }
}

/// The fitted lines and what they project over the horizon.
#[derive(Debug, Clone)]
pub struct Projection {
    pub cost_fit: Option<Fit>,
    pub revenue_fit: Option<Fit>,
    pub tpc_micros: i64,
    pub revenue_micros: i64,
    pub gross_profit_micros: i64,
    pub margin_bps: Option<i64>,
    /// (day, cost, revenue) per day of history, oldest first.
    pub history: Vec<(NaiveDate, i64, i64)>,
}

/// Fits both series and sums their lines over the `horizon` days after the
/// history (a single day of data projects flat).
pub fn project(
    first: NaiveDate,
    cost: &[(f64, f64)],
    revenue: &[(f64, f64)],
    horizon: i64,
) -> Projection {
    let days = cost.len() as i64;
    let cost_fit = least_squares(cost);
    let revenue_fit = least_squares(revenue);
    let tpc = Fit::or_flat(cost_fit, cost.first().map(|p| p.1)).project(days, horizon);
    let revenue_sum =
        Fit::or_flat(revenue_fit, revenue.first().map(|p| p.1)).project(days, horizon);
    let profit = revenue_sum - tpc;
    let history = cost
        .iter()
        .zip(revenue)
        .map(|(c, r)| {
            (
                first + Duration::days(c.0 as i64),
                c.1 as i64,
                r.1.round() as i64,
            )
        })
        .collect();
    Projection {
        cost_fit,
        revenue_fit,
        tpc_micros: tpc,
        revenue_micros: revenue_sum,
        gross_profit_micros: profit,
        margin_bps: (revenue_sum != 0)
            .then(|| (i128::from(profit) * 10_000 / i128::from(revenue_sum)) as i64),
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

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 4, d).unwrap()
    }

    #[test]
    fn the_history_adds_markup_and_the_plan_price_per_day() {
        let rows = [
            (day(1), Plan::Pro, 1_000_000),
            (day(2), Plan::Pro, 3_000_000),
        ];
        let earnings = HashMap::from([(
            Plan::Pro,
            Earnings {
                monthly_price_micros: 30_000_000,
                usage_markup_bps: 2_000,
            },
        )]);
        let h = History {
            rows: &rows,
            first: day(1),
            days: 2,
            earnings: &earnings,
            tenants_per_plan: &[(Plan::Pro, 2)],
        };
        let (cost, revenue) = h.points();
        assert_eq!(cost, vec![(0.0, 1_000_000.0), (1.0, 3_000_000.0)]);
        // 20 % of cost, plus two tenants' $30 over April's 30 days = $2 a day.
        assert_eq!(revenue, vec![(0.0, 2_200_000.0), (1.0, 2_600_000.0)]);
    }

    #[test]
    fn a_line_is_continued_and_one_day_projects_flat() {
        let cost = [(0.0, 100.0), (1.0, 110.0), (2.0, 120.0)];
        let revenue = [(0.0, 200.0), (1.0, 200.0), (2.0, 200.0)];
        let p = project(day(1), &cost, &revenue, 2);
        // days 3 and 4: 130 + 140; revenue flat at 200.
        assert_eq!((p.tpc_micros, p.revenue_micros), (270, 400));
        assert_eq!(p.gross_profit_micros, 130);
        assert_eq!(p.margin_bps, Some(3_250));
        assert_eq!(p.history[2], (day(3), 120, 200));
        let one = project(day(1), &[(0.0, 50.0)], &[(0.0, 80.0)], 3);
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
