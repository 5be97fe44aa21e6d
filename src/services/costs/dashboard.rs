//! What the admin dashboards read: the cost overview of a span (across
//! tenants or for one) and the data plane's use per day.

use super::Costs;
use crate::db;
use crate::domain::analytics::Span;
use crate::domain::ids::TenantId;
use crate::domain::overview::{overview, CostOverview, OverviewInput};
use crate::domain::plan::Plan;
use crate::domain::usage::UsageTotals;
use crate::services::Result;
use chrono::{NaiveDate, TimeZone, Utc};

impl Costs {
    /// Cost per day and service, tenants ranked with their profit, the spread
    /// over users and the platform's profitability in `span`; for one tenant
    /// the figures equal its TPC.
    pub async fn cost_overview(
        &self,
        tenant: Option<&TenantId>,
        span: Span,
    ) -> Result<CostOverview> {
        let plan_of_tenant = match tenant {
            Some(t) => Some(self.keys.require_tenant(t).await?.plan),
            None => None,
        };
        self.apply_cost_rollups().await?;
        let mut conn = self.db.pool().acquire().await?;
        let b = db::costs::breakdown(&mut conn, tenant, span.from, span.to).await?;
        let prev = span.previous();
        let previous = db::costs::service_totals(&mut conn, tenant, prev.from, prev.to).await?;
        let counts = match plan_of_tenant {
            Some(plan) => vec![(plan, 1)],
            None => db::costs::tenants_per_plan(&mut conn).await?,
        };
        let mut plans = Vec::new();
        for plan in Plan::ALL {
            let n = counts
                .iter()
                .find(|(p, _)| *p == plan)
                .map(|c| c.1)
                .unwrap_or(0);
            let earnings = db::costs::plan_pricing(&mut conn, plan).await?;
            plans.push((plan, earnings, n));
        }
        let mut by_tenant = b.by_tenant;
        if let (Some(t), Some(plan)) = (tenant, plan_of_tenant) {
            // The tenant is shown even without cost, as TPC shows it.
            if by_tenant.is_empty() {
                by_tenant.push((t.to_string(), plan, 0, 0));
            }
        }
        Ok(overview(OverviewInput {
            span,
            by_day: b.by_day,
            previous,
            by_tenant,
            plans,
            user_costs: b.user_costs,
        }))
    }

    /// The data plane's totals per UTC day in `[from, to)`, of one tenant or all.
    pub async fn usage_days(
        &self,
        tenant: Option<&TenantId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, UsageTotals)>> {
        if let Some(t) = tenant {
            self.keys.require_tenant(t).await?;
        }
        let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"));
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::usage::daily_totals(&mut conn, tenant, at(from), at(to)).await?)
    }
}
