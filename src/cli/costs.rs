//! `keyward costs analyze` (a tenant's TPC) and `keyward optimize analyze` (the weekly
//! optimisation); `--json` prints the API's own views.

use super::{core, service_error, usd};
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(super) enum CostsCommand {
    /// A tenant's True Production Cost over a period.
    Analyze {
        #[arg(long)]
        tenant: String,
        /// daily | weekly | monthly
        #[arg(long, default_value = "monthly")]
        period: String,
        /// First day, YYYY-MM-DD (default: the start of the current period).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
    /// The seed design's savings estimate (defaults: its worked example).
    ProjectSavings {
        #[arg(long)]
        customers: Option<i64>,
        #[arg(long)]
        files_per_customer_per_month: Option<i64>,
        /// Bytes (a GB is 10^9 bytes).
        #[arg(long)]
        average_file_bytes: Option<i64>,
        /// Basis points (7000 = 70%).
        #[arg(long)]
        hit_rate_bps: Option<i64>,
        #[arg(long)]
        origin_cost_per_gb_micros: Option<i64>,
        #[arg(long)]
        cache_cost_per_month_micros: Option<i64>,
        #[arg(long)]
        setup_cost_micros: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

/// `keyward costs project-savings`: computed here, no store needed.
fn project_savings(cmd: CostsCommand) -> Result<(), String> {
    let CostsCommand::ProjectSavings {
        customers,
        files_per_customer_per_month,
        average_file_bytes,
        hit_rate_bps,
        origin_cost_per_gb_micros,
        cache_cost_per_month_micros,
        setup_cost_micros,
        json,
    } = cmd
    else {
        return Err("not a projection".into());
    };
    let query = crate::api::costs::SavingsProjectionQuery {
        customers,
        files_per_customer_per_month,
        average_file_bytes,
        hit_rate_bps,
        origin_cost_per_gb_micros,
        cache_cost_per_month_micros,
        setup_cost_micros,
    };
    let input = query.input().check().map_err(|e| e.to_string())?;
    let p = input.project();
    if json {
        let view = crate::api::costs::SavingsProjectionView::of(input, p);
        println!(
            "{}",
            serde_json::to_string(&view).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "{} requests a month, {} hits; origin {} without the cache, {} with it + cache {} = {}",
        p.requests_per_month,
        p.hits_per_month,
        usd(p.origin_cost_without_cache_micros),
        usd(p.origin_cost_with_cache_micros),
        usd(p.cache_cost_micros),
        usd(p.total_with_cache_micros)
    );
    println!(
        "saving {} a month ({}); first year {}; break-even month {}",
        usd(p.monthly_saving_micros),
        percent(p.saving_bps),
        usd(p.first_year_saving_micros),
        p.break_even_month
            .map(|m| m.to_string())
            .unwrap_or_else(|| "never".into())
    );
    Ok(())
}

#[derive(Debug, Subcommand)]
pub(super) enum OptimizeCommand {
    /// Under-used services, savings and the innovation-trial cohort of a week.
    Analyze {
        /// Any day of the week (default: last week).
        #[arg(long)]
        week: Option<chrono::NaiveDate>,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn analyze(settings: Settings, cmd: CostsCommand) -> Result<(), String> {
    let CostsCommand::Analyze {
        tenant,
        period,
        from,
        json,
    } = cmd
    else {
        return project_savings(cmd);
    };
    let tenant = crate::domain::ids::TenantId::parse(tenant).map_err(|e| e.to_string())?;
    let (period, span) =
        crate::services::costs::parse_span(Some(&period), from, None).map_err(service_error)?;
    let core = core(&settings).await?;
    let result = core.costs.tpc(&tenant, span).await.map_err(service_error);
    core.shutdown().await;
    let (plan, t) = result?;
    if json {
        let view = crate::api::costs::view(&tenant, period.as_str(), plan, t);
        println!(
            "{}",
            serde_json::to_string(&view).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "tenant {} ({}), {} {} .. {}: {} events, cost {}",
        tenant,
        plan,
        period.as_str(),
        span.from,
        span.to,
        t.events,
        usd(t.total_cost_micros)
    );
    println!(
        "{:<12} {:>16} {:>8} {:>10}",
        "SERVICE", "COST", "SHARE", "TREND"
    );
    for s in &t.services {
        println!(
            "{:<12} {:>16} {:>7.2}% {:>10}",
            s.service,
            usd(s.cost_micros),
            s.share_bps as f64 / 100.0,
            s.trend_bps
                .map(|b| format!("{:+.2}%", b as f64 / 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "users {}: mean {}, median {}, p95 {}, p99 {}, sd {}",
        t.users.len(),
        usd(t.mean_user_cost_micros),
        usd(t.median_user_cost_micros),
        usd(t.p95_user_cost_micros),
        usd(t.p99_user_cost_micros),
        usd(t.std_dev_user_cost_micros)
    );
    let m = &t.money;
    println!(
        "revenue {} (invoiced), gross profit {} ({}), allocated {}, net profit {} ({})",
        usd(m.revenue_micros),
        usd(m.gross_profit_micros),
        percent(m.gross_margin_bps()),
        usd(m.allocated_micros()),
        usd(m.net_profit_micros),
        percent(m.net_margin_bps())
    );
    for (id, s) in &t.members {
        println!(
            "  {id}: cost {}, revenue {}, net profit {}",
            usd(s.direct_cost_micros),
            usd(s.revenue_micros),
            usd(s.net_profit_micros)
        );
    }
    Ok(())
}

pub(super) async fn optimize(settings: Settings, cmd: OptimizeCommand) -> Result<(), String> {
    let OptimizeCommand::Analyze { week, json } = cmd;
    let day =
        week.unwrap_or_else(|| crate::services::now().date_naive() - chrono::Duration::days(7));
    let thresholds = crate::domain::analytics::Thresholds::default();
    let core = core(&settings).await?;
    let result = core
        .costs
        .optimize(day, thresholds, None)
        .await
        .map_err(service_error);
    core.shutdown().await;
    let (span, o) = result?;
    if json {
        let view = crate::api::costs::optimize_view(span, thresholds, o, None);
        println!(
            "{}",
            serde_json::to_string(&view).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "week {} .. {}: {} active users",
        span.from, span.to, o.active_users
    );
    println!(
        "{:<12} {:>6} {:>8} {:>16} {:>10}",
        "SERVICE", "USERS", "SHARE", "COST", "UNDER-USED"
    );
    for s in &o.services {
        println!(
            "{:<12} {:>6} {:>7.2}% {:>16} {:>10}",
            s.service,
            s.users,
            s.user_share_bps as f64 / 100.0,
            usd(s.cost_micros),
            if s.under_used { "yes" } else { "no" }
        );
    }
    println!(
        "saving {} a week; trial cohort {} users; projected ROI {}",
        usd(o.weekly_saving_micros),
        o.cohort_size,
        o.projected_roi_bps
            .map(|b| format!("{:.2}%", b as f64 / 100.0))
            .unwrap_or_else(|| "-".into())
    );
    Ok(())
}

/// Basis points as an exact percentage for people ("-0.05%"), "-" for none.
fn percent(bps: Option<i64>) -> String {
    bps.map(|b| {
        let sign = if b < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}%", b.abs() / 100, b.abs() % 100)
    })
    .unwrap_or_else(|| "-".into())
}
