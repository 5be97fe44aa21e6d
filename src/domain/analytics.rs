//! True Production Cost (TPC): what a tenant's use of the AI services cost
//! over a period, per user and per service, how spread it is across users, and
//! what the tenant earned against it. Money is integer micro-dollars;
//! statistics are rounded half up to the micro-dollar.

use super::statement::Statement;
use super::ValidationError;
use chrono::{Datelike, Duration, NaiveDate};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub fn parse(value: Option<&str>) -> Result<Self, ValidationError> {
        match value.unwrap_or("monthly") {
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            "monthly" => Ok(Self::Monthly),
            other => Err(ValidationError::new(
                "period",
                format!("'{other}' is not daily, weekly or monthly"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    /// The period containing `day`: the day, its ISO week (Monday first), or its month.
    pub fn containing(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self {
            Self::Daily => (day, day + Duration::days(1)),
            Self::Weekly => {
                let start = day - Duration::days(day.weekday().num_days_from_monday() as i64);
                (start, start + Duration::days(7))
            }
            Self::Monthly => {
                let start = day.with_day(1).expect("day 1 exists");
                (start, next_month(start))
            }
        }
    }
}

/// The first day of the month after the one starting on `first`.
pub(crate) fn next_month(first: NaiveDate) -> NaiveDate {
    let (y, m) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("valid month")
}

/// `[from, to)` and the equally long window just before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Span {
    /// From the query: `from` defaults to the start of the period containing
    /// `today`, `to` to one period after `from`.
    pub fn parse(
        period: Period,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Self, ValidationError> {
        for day in [from, to].into_iter().flatten() {
            if !(2000..=9999).contains(&day.year()) {
                return Err(ValidationError::new(
                    "from",
                    "days must fall between the years 2000 and 9999",
                ));
            }
        }
        let from = from.unwrap_or_else(|| period.containing(today).0);
        let to = to.unwrap_or_else(|| match period {
            Period::Monthly => {
                next_month(from.with_day(1).expect("day 1")).max(from + Duration::days(1))
            }
            Period::Weekly => from + Duration::days(7),
            Period::Daily => from + Duration::days(1),
        });
        if to <= from {
            return Err(ValidationError::new("to", "must be after 'from'"));
        }
        if (to - from).num_days() > 800 {
            return Err(ValidationError::new(
                "from",
                "the window may span at most 800 days",
            ));
        }
        Ok(Self { from, to })
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// The equally long window just before.
    pub fn previous(&self) -> Self {
        Self {
            from: self.from - Duration::days(self.days()),
            to: self.from,
        }
    }

    /// The period before, in the calendar: the previous month when the span
    /// is a calendar month, the ISO week before when it is an ISO week, the
    /// day before for a day; otherwise the equally long window just before.
    pub fn previous_period(&self) -> Self {
        let before = self.from - Duration::days(1);
        [Period::Monthly, Period::Weekly, Period::Daily]
            .into_iter()
            .find(|p| p.containing(self.from) == (self.from, self.to))
            .map(|p| {
                let (from, to) = p.containing(before);
                Self { from, to }
            })
            .unwrap_or_else(|| self.previous())
    }

    /// A short name of the span for invoice lines: `2026-11` for a calendar
    /// month, else `2026-11-02..2026-11-09`.
    pub fn label(&self) -> String {
        if Period::Monthly.containing(self.from) == (self.from, self.to) {
            self.from.format("%Y-%m").to_string()
        } else {
            format!("{}..{}", self.from, self.to)
        }
    }
}

pub(crate) use super::money::round_div;

/// Nearest-rank percentile of sorted values (`p` in percent).
pub fn percentile(sorted: &[i64], p: u32) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The median of sorted values; the two middle ones averaged (half up) when even.
pub fn median(sorted: &[i64]) -> i64 {
    match sorted.len() {
        0 => 0,
        n if n % 2 == 1 => sorted[n / 2],
        n => round_div(i128::from(sorted[n / 2 - 1]) + i128::from(sorted[n / 2]), 2),
    }
}

/// Population standard deviation, rounded to the micro-dollar.
pub fn std_dev(values: &[i64]) -> i64 {
    if values.is_empty() {
        return 0;
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|v| *v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|v| (*v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    var.sqrt().round() as i64
}

/// One user's cost in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCost {
    pub user_id: String,
    pub events: i64,
    pub cost_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCost {
    pub service: String,
    pub events: i64,
    pub cost_micros: i64,
    /// Share of the period's total, in basis points (1/100 of a percent).
    pub share_bps: i64,
    pub previous_cost_micros: i64,
    /// Change against the previous period in basis points; none when it cost nothing then.
    pub trend_bps: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tpc {
    pub span: Span,
    /// The period the trends compare with.
    pub previous: Span,
    pub total_cost_micros: i64,
    pub events: i64,
    pub users: Vec<UserCost>,
    pub mean_user_cost_micros: i64,
    pub median_user_cost_micros: i64,
    pub p95_user_cost_micros: i64,
    pub p99_user_cost_micros: i64,
    pub std_dev_user_cost_micros: i64,
    pub services: Vec<ServiceCost>,
    /// What the tenant (with its sub-organisations) was billed and earned.
    pub money: Statement,
    /// Each member's own statement when sub-organisations are rolled up
    /// (the tenant first); empty for a tenant without any.
    pub members: Vec<(String, Statement)>,
}

/// The service the data plane books its requests under (per key, not per
/// end user): left out of per-user figures and of the weekly optimisation.
pub const DATA_PLANE_SERVICE: &str = "keyward";

/// A rollup row as analytics needs it: (day, user, service, events, cost).
pub type CostRow = (NaiveDate, String, String, i64, i64);

impl ServiceCost {
    /// A service's figures: its share of `total` and its trend against `previous`.
    pub fn of(service: String, events: i64, cost: i64, previous: i64, total: i64) -> Self {
        Self {
            service,
            events,
            cost_micros: cost,
            share_bps: if total == 0 {
                0
            } else {
                round_div(i128::from(cost) * 10_000, i128::from(total))
            },
            previous_cost_micros: previous,
            trend_bps: (previous != 0)
                .then(|| round_div(i128::from(cost - previous) * 10_000, i128::from(previous))),
        }
    }
}

pub use super::statement::margin_bps;

/// Computes the TPC of a period from its rollup rows and the previous
/// period's, with what it was billed (`money`, see [`super::statement`]).
pub fn tpc(span: Span, current: &[CostRow], previous: &[CostRow], money: Statement) -> Tpc {
    let mut users: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut services: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (_, user, service, events, cost) in current {
        // The data plane's own cost is booked per key, not per end user: it
        // counts in the totals and services, not in the per-user figures.
        if service != DATA_PLANE_SERVICE {
            let u = users.entry(user).or_default();
            u.0 += events;
            u.1 += cost;
        }
        let s = services.entry(service).or_default();
        s.0 += events;
        s.1 += cost;
    }
    let mut before: BTreeMap<&str, i64> = BTreeMap::new();
    for (_, _, service, _, cost) in previous {
        *before.entry(service).or_default() += cost;
    }
    let total: i64 = services.values().map(|s| s.1).sum();
    let events: i64 = services.values().map(|s| s.0).sum();
    let mut costs: Vec<i64> = users.values().map(|u| u.1).collect();
    costs.sort_unstable();
    let n = costs.len() as i128;
    let users_total: i64 = costs.iter().sum();
    let mut service_names: Vec<&str> = services.keys().copied().collect();
    for s in before.keys() {
        if !services.contains_key(s) {
            service_names.push(s);
        }
    }
    service_names.sort_unstable();
    Tpc {
        span,
        previous: span.previous(),
        total_cost_micros: total,
        events,
        users: users
            .iter()
            .map(|(u, (e, c))| UserCost {
                user_id: u.to_string(),
                events: *e,
                cost_micros: *c,
            })
            .collect(),
        mean_user_cost_micros: if n == 0 {
            0
        } else {
            round_div(i128::from(users_total), n)
        },
        median_user_cost_micros: median(&costs),
        p95_user_cost_micros: percentile(&costs, 95),
        p99_user_cost_micros: percentile(&costs, 99),
        std_dev_user_cost_micros: std_dev(&costs),
        services: service_names
            .into_iter()
            .map(|s| {
                let (events, cost) = services.get(s).copied().unwrap_or_default();
                let prev = before.get(s).copied().unwrap_or(0);
                ServiceCost::of(s.to_string(), events, cost, prev, total)
            })
            .collect(),
        money,
        members: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn statistics_by_hand() {
        let v = [1, 2, 3, 4, 100];
        assert_eq!(median(&v), 3);
        assert_eq!(median(&[1, 2, 3, 4]), 3, "2.5 rounds half up");
        assert_eq!(percentile(&v, 95), 100);
        assert_eq!(percentile(&v, 50), 3);
        assert_eq!(percentile(&[], 99), 0);
        // mean 22, deviations 21,20,19,18,78 -> var (441+400+361+324+6084)/5 = 1522
        assert_eq!(std_dev(&v), 39);
        assert_eq!(round_div(-5, 2), -3);
        assert_eq!(round_div(5, 2), 3);
    }

    #[test]
    fn periods_and_proration() {
        assert_eq!(
            Period::Weekly.containing(d(2026, 11, 26)),
            (d(2026, 11, 23), d(2026, 11, 30))
        );
        assert_eq!(
            Period::Monthly.containing(d(2026, 12, 9)),
            (d(2026, 12, 1), d(2027, 1, 1))
        );
        let span = Span {
            from: d(2026, 1, 25),
            to: d(2026, 2, 8),
        };
        assert_eq!(
            span.previous(),
            Span {
                from: d(2026, 1, 11),
                to: d(2026, 1, 25)
            }
        );
        assert_eq!(
            span.previous_period(),
            span.previous(),
            "not a calendar month"
        );
        let march = Span {
            from: d(2026, 3, 1),
            to: d(2026, 4, 1),
        };
        assert_eq!(
            march.previous_period(),
            Span {
                from: d(2026, 2, 1),
                to: d(2026, 3, 1)
            },
            "February, not the 31 days before"
        );
        assert_eq!(march.label(), "2026-03");
        let week = Span {
            from: d(2026, 11, 23),
            to: d(2026, 11, 30),
        };
        assert_eq!(
            week.previous_period(),
            Span {
                from: d(2026, 11, 16),
                to: d(2026, 11, 23)
            }
        );
    }
}

/// A least-squares line y = intercept + slope * x, with its R².
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub intercept: f64,
    pub slope: f64,
    /// 1 - SSres / SStot; 1 when the data are flat and fitted exactly.
    pub r_squared: f64,
    /// The residual standard error, sqrt(SSres / (n - 2)); 0 with two points.
    /// A day's value falls within about 1.96 of these of the line 95 % of
    /// the time (the forecast band).
    pub residual_sd: f64,
}

/// Ordinary least squares over (x, y) points. None with fewer than two points.
pub fn least_squares(points: &[(f64, f64)]) -> Option<Fit> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    let ss_res: f64 = points
        .iter()
        .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
        .sum();
    let r_squared = if ss_tot == 0.0 {
        1.0
    } else {
        1.0 - ss_res / ss_tot
    };
    Some(Fit {
        intercept,
        slope,
        r_squared,
        residual_sd: if points.len() > 2 {
            (ss_res / (n - 2.0)).sqrt()
        } else {
            0.0
        },
    })
}

impl Fit {
    /// The sum of the line's values at x = from .. from + n - 1, never below
    /// zero per day (costs and revenues are not negative), rounded to the micro-dollar.
    pub fn project(&self, from: i64, n: i64) -> i64 {
        (from..from + n)
            .map(|x| (self.intercept + self.slope * x as f64).max(0.0))
            .sum::<f64>()
            .round() as i64
    }
}

/// Days in `quarters` quarters, as the forecast counts them (91 days each).
pub const DAYS_PER_QUARTER: i64 = 91;

#[cfg(test)]
mod fit_tests {
    use super::*;

    #[test]
    fn a_straight_line_is_fitted_exactly() {
        let points: Vec<(f64, f64)> = (0..10)
            .map(|x| (x as f64, 100.0 + 5.0 * x as f64))
            .collect();
        let fit = least_squares(&points).unwrap();
        assert!((fit.slope - 5.0).abs() < 1e-9 && (fit.intercept - 100.0).abs() < 1e-9);
        assert!((fit.r_squared - 1.0).abs() < 1e-12);
        // days 10, 11, 12: 150 + 155 + 160
        assert_eq!(fit.project(10, 3), 465);
        assert!(least_squares(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn noisy_data_by_hand() {
        // x 0..3, y 1, 3, 2, 4: mx 1.5, my 2.5, sxx 5, sxy 2.25-0.25-0.25+2.25 = 4
        // -> slope 0.8, intercept 1.3; predictions 1.3, 2.1, 2.9, 3.7;
        // SSres 0.09+0.81+0.81+0.09 = 1.8; SStot 5; R² = 0.64
        let fit = least_squares(&[(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 4.0)]).unwrap();
        assert!((fit.slope - 0.8).abs() < 1e-9);
        assert!((fit.intercept - 1.3).abs() < 1e-9);
        assert!((fit.r_squared - 0.64).abs() < 1e-9);
        // sqrt(1.8 / 2)
        assert!((fit.residual_sd - 0.9f64.sqrt()).abs() < 1e-9);
    }
}

/// Thresholds under which a service counts as under-used in a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Share of the week's active users who used the service, basis points.
    pub min_user_share_bps: i64,
    /// The service's weekly cost divided by all active users, micro-dollars.
    pub min_cost_per_active_user_micros: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_user_share_bps: 1_000,
            min_cost_per_active_user_micros: 1_000,
        }
    }
}

/// A week's use of one service across the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUse {
    pub service: String,
    pub users: i64,
    pub user_share_bps: i64,
    pub events: i64,
    pub cost_micros: i64,
    pub cost_per_active_user_micros: i64,
    pub under_used: bool,
    /// The week's cost, saved if the service were removed (flagged ones only).
    pub weekly_saving_micros: i64,
}

/// One user of the innovation-trial cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortUser {
    pub tenant_id: String,
    pub user_id: String,
    pub events: i64,
    pub cost_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Optimization {
    pub active_users: i64,
    pub services: Vec<ServiceUse>,
    pub weekly_saving_micros: i64,
    /// 13 weeks of the weekly saving.
    pub quarterly_saving_micros: i64,
    /// A page of the cohort, the most active 30% of users (by events; ties
    /// by cost, then id): all of it unless a [`CohortPage`] was asked for.
    pub cohort: Vec<CohortUser>,
    /// Users in the whole cohort.
    pub cohort_size: i64,
    /// The whole cohort's cost.
    pub cohort_weekly_cost_micros: i64,
    /// Saving / the cohort's weekly cost, basis points: how much of the
    /// cohort's current use the saving would fund. None when it costs nothing.
    pub projected_roi_bps: Option<i64>,
}

/// A service's week across the platform: its distinct users, events and cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceWeek {
    pub service: String,
    pub users: i64,
    pub events: i64,
    pub cost_micros: i64,
}

/// A user's week across services (one per active (tenant, user)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserWeek {
    pub tenant_id: String,
    pub user_id: String,
    pub events: i64,
    pub cost_micros: i64,
}

/// Which users of the trial cohort to list: `limit` from `offset` on, in
/// cohort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CohortPage {
    pub limit: i64,
    pub offset: i64,
}

/// A week's active users as the optimisation needs them: how many, the
/// trial cohort's size and cost, and the page of it to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekUsers {
    pub active: i64,
    pub cohort_size: i64,
    pub cohort_cost_micros: i64,
    pub cohort: Vec<CohortUser>,
}

/// The trial cohort's size for `active` users: 30%, rounded up.
pub fn cohort_size(active: i64) -> i64 {
    (active * 3 + 9) / 10
}

impl WeekUsers {
    /// Ranks every user of the week (by events, then cost, then id): the
    /// most active 30% are the cohort; `page` (or all of it) is listed.
    pub fn ranked(mut users: Vec<UserWeek>, page: Option<CohortPage>) -> Self {
        let active = users.len() as i64;
        users.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then(b.cost_micros.cmp(&a.cost_micros))
                .then_with(|| (&a.tenant_id, &a.user_id).cmp(&(&b.tenant_id, &b.user_id)))
        });
        let size = cohort_size(active);
        users.truncate(size as usize);
        let cost = users.iter().map(|u| u.cost_micros).sum();
        let page = page.unwrap_or(CohortPage {
            limit: size,
            offset: 0,
        });
        let cohort = users
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .map(|u| CohortUser {
                tenant_id: u.tenant_id,
                user_id: u.user_id,
                events: u.events,
                cost_micros: u.cost_micros,
            })
            .collect();
        Self {
            active,
            cohort_size: size,
            cohort_cost_micros: cost,
            cohort,
        }
    }
}

/// The weekly degradation analysis, from the week's per-service totals and
/// its users (both aggregated by the store: a week of 100,000 users is a
/// count, a sum and a page of the cohort, not one row per user and service).
pub fn optimize(services: &[ServiceWeek], users: WeekUsers, t: Thresholds) -> Optimization {
    let active = users.active;
    let services: Vec<ServiceUse> = services
        .iter()
        .map(|w| {
            let share = round_div(i128::from(w.users) * 10_000, i128::from(active));
            let per_user = round_div(i128::from(w.cost_micros), i128::from(active));
            let under =
                share < t.min_user_share_bps || per_user < t.min_cost_per_active_user_micros;
            ServiceUse {
                service: w.service.clone(),
                users: w.users,
                user_share_bps: share,
                events: w.events,
                cost_micros: w.cost_micros,
                cost_per_active_user_micros: per_user,
                under_used: under,
                weekly_saving_micros: if under { w.cost_micros } else { 0 },
            }
        })
        .collect();
    let saving: i64 = services.iter().map(|s| s.weekly_saving_micros).sum();
    let cohort_cost = users.cohort_cost_micros;
    Optimization {
        active_users: active,
        services,
        weekly_saving_micros: saving,
        quarterly_saving_micros: saving * 13,
        cohort: users.cohort,
        cohort_size: users.cohort_size,
        cohort_weekly_cost_micros: cohort_cost,
        projected_roi_bps: (cohort_cost != 0)
            .then(|| round_div(i128::from(saving) * 10_000, i128::from(cohort_cost))),
    }
}

#[cfg(test)]
mod optimize_tests {
    use super::*;

    /// (tenant, user, service, events, cost), unique per (tenant, user, service).
    type UseRow = (String, String, String, i64, i64);

    /// What the store's two aggregate queries answer for these rows.
    fn optimize(rows: &[UseRow], t: Thresholds) -> Optimization {
        let mut services: BTreeMap<&str, ServiceWeek> = BTreeMap::new();
        let mut users: BTreeMap<(&str, &str), UserWeek> = BTreeMap::new();
        for (tenant, user, service, events, cost) in rows {
            let s = services.entry(service).or_insert_with(|| ServiceWeek {
                service: service.clone(),
                users: 0,
                events: 0,
                cost_micros: 0,
            });
            s.users += 1;
            s.events += events;
            s.cost_micros += cost;
            let u = users.entry((tenant, user)).or_insert_with(|| UserWeek {
                tenant_id: tenant.clone(),
                user_id: user.clone(),
                events: 0,
                cost_micros: 0,
            });
            u.events += events;
            u.cost_micros += cost;
        }
        let services: Vec<ServiceWeek> = services.into_values().collect();
        super::optimize(
            &services,
            WeekUsers::ranked(users.into_values().collect(), None),
            t,
        )
    }

    #[test]
    fn the_cohort_is_30_percent_rounded_up_and_pages_keep_its_totals() {
        assert_eq!([0, 1, 3, 4, 10, 11].map(cohort_size), [0, 1, 1, 2, 3, 4]);
        let users: Vec<UserWeek> = (0..10)
            .map(|i| UserWeek {
                tenant_id: "t".into(),
                user_id: format!("u{i}"),
                events: i,
                cost_micros: 100,
            })
            .collect();
        let page = WeekUsers::ranked(
            users,
            Some(CohortPage {
                limit: 1,
                offset: 1,
            }),
        );
        let ids: Vec<&str> = page.cohort.iter().map(|c| c.user_id.as_str()).collect();
        assert_eq!(
            (page.active, page.cohort_size, page.cohort_cost_micros, ids),
            (10, 3, 300, vec!["u8"])
        );
    }

    fn row(t: &str, u: &str, s: &str, e: i64, c: i64) -> UseRow {
        (t.into(), u.into(), s.into(), e, c)
    }

    #[test]
    fn a_rarely_used_service_is_flagged_and_the_top_30_percent_form_the_cohort() {
        // 10 users all on openai (1,000 µ$ each); one of them also on hume (500 µ$).
        let mut rows: Vec<UseRow> = (0..10)
            .map(|i| row("t", &format!("u{i}"), "openai", 10 + i, 1_000))
            .collect();
        rows.push(row("t", "u0", "hume", 1, 500));
        let o = optimize(&rows, Thresholds::default());
        assert_eq!(o.active_users, 10);
        let hume = o.services.iter().find(|s| s.service == "hume").unwrap();
        // 1 of 10 users = 1,000 bps: not under 10%; 500 / 10 = 50 µ$ per active user < 1,000.
        assert_eq!(
            (
                hume.user_share_bps,
                hume.cost_per_active_user_micros,
                hume.under_used
            ),
            (1_000, 50, true)
        );
        let openai = o.services.iter().find(|s| s.service == "openai").unwrap();
        assert_eq!(
            (
                openai.user_share_bps,
                openai.cost_per_active_user_micros,
                openai.under_used
            ),
            (10_000, 1_000, false)
        );
        assert_eq!(
            (o.weekly_saving_micros, o.quarterly_saving_micros),
            (500, 6_500)
        );
        // ceil(30% of 10) = 3 users: u9 (19 events), u8, u7.
        let ids: Vec<&str> = o.cohort.iter().map(|c| c.user_id.as_str()).collect();
        assert_eq!(ids, ["u9", "u8", "u7"]);
        assert_eq!(o.cohort_weekly_cost_micros, 3_000);
        // 500 / 3,000 = 16.67% -> 1,667 bps
        assert_eq!(o.projected_roi_bps, Some(1_667));
        assert_eq!(optimize(&[], Thresholds::default()).projected_roi_bps, None);
    }
}
