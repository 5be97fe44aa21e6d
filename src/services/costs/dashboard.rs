//! What the admin dashboards read: the cost overview of a span (across
//! tenants or for one) and the data plane's use per day.

use super::Costs;
use crate::db;
use crate::domain::analytics::Span;
use crate::domain::ids::TenantId;
use crate::domain::overview::{overview, CostOverview, OverviewInput};
use crate::domain::plan::Plan;
use crate::domain::usage::UsageTotals;
use crate::services::{Error, Result};
use chrono::{NaiveDate, TimeZone, Utc};

impl Costs {
    /// Cost per day and service, tenants ranked with their profit, the spread
    /// over users and the platform's profitability in `span` (of every
    /// tenant, or of one with its sub-organisations); for one tenant the
    /// figures equal its TPC, and for a calendar month its invoices.
    pub async fn cost_overview(
        &self,
        tenant: Option<&TenantId>,
        span: Span,
    ) -> Result<CostOverview> {
        if let Some(t) = tenant {
            self.keys.require_tenant(t).await?;
        }
        self.apply_cost_rollups().await?;
        let family = match tenant {
            Some(t) => {
                let mut conn = self.db.pool().acquire().await?;
                Some(self.family(&mut conn, t).await?)
            }
            None => None,
        };
        let scope = family.as_deref();
        let prev = span.previous_period();
        // Three reads on connections of their own, at the same time (SQLite
        // readers run side by side in WAL mode); none holds a connection
        // while it waits for another.
        let (b, previous, statements) = tokio::try_join!(
            async {
                let mut conn = self.db.pool().acquire().await?;
                Ok::<_, Error>(db::costs::breakdown(&mut conn, scope, span.from, span.to).await?)
            },
            async {
                let mut conn = self.db.pool().acquire().await?;
                Ok(db::costs::service_totals(&mut conn, scope, prev.from, prev.to).await?)
            },
            async {
                let mut conn = self.db.pool().acquire().await?;
                self.statements(&mut conn, scope, span).await
            },
        )?;
        let statements = statements
            .into_iter()
            .map(|s| (s.tenant_id, s.plan.unwrap_or(Plan::Free), s.statement))
            .collect();
        Ok(overview(OverviewInput {
            span,
            by_day: b.by_day,
            previous,
            statements,
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
