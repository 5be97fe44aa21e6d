//! The weekly optimisation report as a view model: plain functions from the
//! costs service's analysis of a week to the figures, chart and rows the
//! page shows. No I/O and no Leptos here; `costs::optimize_page` reads, this
//! builds.

use super::admin::AdminView;
use super::charts::{self, Series};
use super::costs_data::{Chart, OptimizePageData, ServiceUseRow};
use super::format::{bps, count, percent_axis, usd};
use crate::domain::analytics::{Optimization, Span, Thresholds};
use crate::domain::statement::Statement;
use chrono::Duration;

/// How many users of the trial cohort the page lists.
pub const COHORT_SHOWN: i64 = 50;

/// The whole page: the week `span`, analysed under `t`.
pub fn page(
    admin: AdminView,
    t: Thresholds,
    span: Span,
    o: &Optimization,
    money: &Statement,
) -> OptimizePageData {
    OptimizePageData {
        admin,
        week_start: span.from.to_string(),
        week_end: (span.to - Duration::days(1)).to_string(),
        previous_week: (span.from - Duration::days(7)).to_string(),
        next_week: span.to.to_string(),
        thresholds: thresholds(t),
        figures: figures(o, money),
        chart: service_use_chart(o, t),
        services: service_rows(o),
        cohort: cohort_rows(o),
        cohort_size: o.cohort_size as usize,
    }
}

/// When a service counts as under-used, in words.
fn thresholds(t: Thresholds) -> String {
    format!(
        "A service is under-used when fewer than {} of the week's active users used it, or it cost under {} per active user.",
        bps(t.min_user_share_bps),
        usd(t.min_cost_per_active_user_micros)
    )
}

/// The headline figures, as (label, value).
fn figures(o: &Optimization, money: &Statement) -> Vec<(String, String)> {
    let margin = |m: Option<i64>| m.map(bps).unwrap_or_else(|| "-".into());
    vec![
        ("Active users".into(), count(o.active_users)),
        (
            "Weekly saving if under-used services are dropped".into(),
            usd(o.weekly_saving_micros),
        ),
        (
            "Projected quarterly saving (13 weeks)".into(),
            usd(o.quarterly_saving_micros),
        ),
        (
            "Trial cohort (most active 30%)".into(),
            format!(
                "{} users, {} a week",
                count(o.cohort_size),
                usd(o.cohort_weekly_cost_micros)
            ),
        ),
        (
            "Projected ROI of the trial".into(),
            o.projected_roi_bps.map(bps).unwrap_or_else(|| "-".into()),
        ),
        (
            "The week billed (money model), net profit".into(),
            format!(
                "{} billed, {} net ({})",
                usd(money.revenue_micros),
                usd(money.net_profit_micros),
                margin(money.net_margin_bps())
            ),
        ),
    ]
}

/// Each service's share of the week's active users, against the threshold.
fn service_use_chart(o: &Optimization, t: Thresholds) -> Chart {
    let names: Vec<String> = o.services.iter().map(|s| s.service.clone()).collect();
    Chart {
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
            percent_axis,
        ),
        empty: "No usage in this week yet.".into(),
    }
}

fn service_rows(o: &Optimization) -> Vec<ServiceUseRow> {
    o.services
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
        .collect()
}

/// (tenant, user, events, cost) of the cohort's first users.
fn cohort_rows(o: &Optimization) -> Vec<(String, String, String, String)> {
    o.cohort
        .iter()
        .take(COHORT_SHOWN as usize)
        .map(|c| {
            (
                c.tenant_id.clone(),
                c.user_id.clone(),
                count(c.events),
                usd(c.cost_micros),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::{CohortUser, ServiceUse};
    use chrono::NaiveDate;

    fn admin() -> AdminView {
        AdminView {
            email: "ops@example.com".into(),
            role: "owner".into(),
            csrf_token: "t".into(),
        }
    }

    fn analysis(cohort: usize) -> Optimization {
        Optimization {
            active_users: 1_500,
            services: vec![ServiceUse {
                service: "hume".into(),
                users: 90,
                user_share_bps: 600,
                events: 1_234,
                cost_micros: 2_500_000,
                cost_per_active_user_micros: 1_667,
                under_used: true,
                weekly_saving_micros: 2_500_000,
            }],
            weekly_saving_micros: 2_500_000,
            quarterly_saving_micros: 32_500_000,
            cohort: (0..cohort)
                .map(|i| CohortUser {
                    tenant_id: "acme".into(),
                    user_id: format!("u{i}"),
                    events: 10,
                    cost_micros: 20_000,
                })
                .collect(),
            cohort_size: cohort as i64,
            cohort_weekly_cost_micros: 1_200_000,
            projected_roi_bps: None,
        }
    }

    #[test]
    fn the_week_links_to_its_neighbours_and_ends_the_day_before_the_next() {
        let monday = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        let span = Span {
            from: monday(2),
            to: monday(9),
        };
        let p = page(
            admin(),
            Thresholds::default(),
            span,
            &analysis(60),
            &Statement::default(),
        );
        assert_eq!(
            (p.week_start.as_str(), p.week_end.as_str()),
            ("2026-11-02", "2026-11-08")
        );
        assert_eq!(
            (p.previous_week.as_str(), p.next_week.as_str()),
            ("2026-10-26", "2026-11-09")
        );
        assert_eq!(p.cohort_size, 60);
        assert_eq!(p.cohort.len(), 50, "the table shows the first 50");
    }

    #[test]
    fn figures_and_rows_are_written_for_people() {
        let o = analysis(3);
        assert_eq!(
            figures(&o, &Statement::default())[3],
            (
                "Trial cohort (most active 30%)".to_string(),
                "3 users, $1.20 a week".to_string()
            )
        );
        assert_eq!(
            figures(&o, &Statement::default())[4].1,
            "-",
            "an unknown ROI is a dash"
        );
        let row = &service_rows(&o)[0];
        assert_eq!(
            (
                row.user_share.as_str(),
                row.events.as_str(),
                row.cost_per_user.as_str()
            ),
            ("6.0%", "1,234", "$0.0017")
        );
        assert_eq!(
            thresholds(Thresholds::default()),
            "A service is under-used when fewer than 10.0% of the week's active users used it, or it cost under $0.0010 per active user."
        );
    }
}
