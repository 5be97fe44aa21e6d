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
    } = cmd;
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
    println!(
        "revenue {}, profit {}, margin {}",
        usd(t.revenue_micros),
        usd(t.profit_micros),
        t.margin_bps
            .map(|b| format!("{:.2}%", b as f64 / 100.0))
            .unwrap_or_else(|| "-".into())
    );
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
        .optimize(day, thresholds)
        .await
        .map_err(service_error);
    core.shutdown().await;
    let (span, o) = result?;
    if json {
        let view = crate::api::costs::optimize_view(span, thresholds, o);
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
        o.cohort.len(),
        o.projected_roi_bps
            .map(|b| format!("{:.2}%", b as f64 / 100.0))
            .unwrap_or_else(|| "-".into())
    );
    Ok(())
}
