//! Monthly spend budgets per tenant: alerts at thresholds (events, once a
//! month each) and an optional hard cap. A capped tenant is refused on the
//! data plane and in provider-key resolution from an in-memory set every
//! replica refreshes from the store (the hot path never reads the store).

use super::costs::Costs;
use super::webhooks::Webhooks;
use super::{now, Error, Result, Tasks};
use crate::db::{self, Db};
use crate::domain::audit::Actor;
use crate::domain::budget::Budget;
use crate::domain::events::{Event, EventType};
use crate::domain::ids::TenantId;
use crate::domain::money::micros_decimal;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The tenants refused for their budget, as this replica last heard.
#[derive(Clone, Default)]
pub struct BudgetGate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    any: AtomicBool,
    capped: RwLock<HashSet<String>>,
}

impl BudgetGate {
    /// Whether the tenant's requests are refused (a cheap check when none are).
    pub fn refuses(&self, tenant: &str) -> bool {
        self.0.any.load(Ordering::Relaxed)
            && self
                .0
                .capped
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(tenant)
    }

    fn replace(&self, tenants: HashSet<String>) {
        let mut set = self.0.capped.write().unwrap_or_else(|p| p.into_inner());
        self.0.any.store(!tenants.is_empty(), Ordering::Relaxed);
        *set = tenants;
    }

    /// The refusal a capped tenant gets (402).
    pub fn refusal(tenant: &str) -> Error {
        Error::PaymentRequired {
            code: "BUDGET_EXHAUSTED",
            message: format!(
                "tenant {tenant} has reached its monthly budget; requests resume next month \
                 or when the budget is raised"
            ),
        }
    }
}

/// A budget with the month's spend against it.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetStatus {
    #[serde(flatten)]
    pub budget: Budget,
    /// The month this status is for (`YYYY-MM`, UTC).
    pub period: String,
    pub limit: String,
    pub spent: String,
    pub spent_micros: i64,
    /// Spend as a whole percentage of the limit.
    pub percent: i64,
    /// Whether the tenant's requests are refused now.
    pub capped: bool,
}

#[derive(Clone)]
pub struct Budgets {
    db: Db,
    costs: Costs,
    webhooks: Webhooks,
    gate: BudgetGate,
}

fn period_of(at: DateTime<Utc>) -> String {
    format!("{}-{:02}", at.year(), at.month())
}

fn month_start(at: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(at.year(), at.month(), 1).expect("the first of a month exists")
}

impl Budgets {
    pub(crate) fn new(db: Db, costs: Costs, webhooks: Webhooks, gate: BudgetGate) -> Self {
        Self {
            db,
            costs,
            webhooks,
            gate,
        }
    }

    /// Keeps this replica's gate within `every` of the store.
    pub(crate) fn spawn_refresh(&self, tasks: &Tasks, every: std::time::Duration) {
        let budgets = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = budgets.refresh_gate().await {
                    tracing::warn!(error = %e, "refreshing the budget caps failed");
                }
            }
        }));
    }

    pub fn gate(&self) -> &BudgetGate {
        &self.gate
    }

    async fn refresh_gate(&self) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let capped = db::budgets::capped(&mut conn, &period_of(now())).await?;
        self.gate.replace(capped.into_iter().collect());
        Ok(())
    }

    async fn spent(&self, tenant: &str, at: DateTime<Utc>) -> Result<i64> {
        let id = TenantId::parse(tenant.to_string())?;
        let mut conn = self.db.pool().acquire().await?;
        let from = month_start(at);
        let to = at.date_naive() + Duration::days(1);
        let days = db::costs::tenant_day_costs(&mut conn, Some(&[id]), from, to).await?;
        Ok(days.iter().map(|(_, d)| d.cost_micros).sum())
    }

    fn status(&self, budget: Budget, spent: i64, at: DateTime<Utc>) -> BudgetStatus {
        let period = period_of(at);
        BudgetStatus {
            period: period.clone(),
            limit: micros_decimal(budget.limit_micros),
            spent: micros_decimal(spent),
            spent_micros: spent,
            percent: budget.percent(spent),
            capped: budget.hard_cap && budget.exhausted_period.as_deref() == Some(period.as_str()),
            budget,
        }
    }

    /// Sets a tenant's budget and checks it at once (a raise lifts a cap now).
    pub async fn set(
        &self,
        actor: &Actor,
        tenant: &TenantId,
        limit_micros: i64,
        alert_percents: Vec<u32>,
        hard_cap: bool,
    ) -> Result<BudgetStatus> {
        let alert_percents = Budget::check(limit_micros, alert_percents)?;
        let at = now();
        let mut tx = self.db.begin().await?;
        if db::tenants::find(&mut tx, tenant).await?.is_none() {
            return Err(Error::not_found(
                "TENANT_NOT_FOUND",
                format!("no tenant {tenant}"),
            ));
        }
        let budget = Budget {
            tenant_id: tenant.to_string(),
            limit_micros,
            alert_percents,
            hard_cap,
            exhausted_period: None,
        };
        db::budgets::upsert(&mut tx, &budget, at, &actor.name).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "budget.set",
                "tenant",
                tenant.as_str(),
                Some(tenant.as_str()),
                json!({"limit": micros_decimal(limit_micros), "alert_percents": budget.alert_percents, "hard_cap": hard_cap}),
            ),
            at,
        )
        .await?;
        tx.commit().await?;
        self.costs.apply_cost_rollups().await?;
        let status = self.check(budget, at).await?;
        self.refresh_gate().await?;
        Ok(status)
    }

    pub async fn get(&self, tenant: &TenantId) -> Result<BudgetStatus> {
        let mut conn = self.db.pool().acquire().await?;
        let Some(budget) = db::budgets::find(&mut conn, tenant.as_str()).await? else {
            return Err(Error::not_found(
                "BUDGET_NOT_FOUND",
                format!("tenant {tenant} has no budget"),
            ));
        };
        drop(conn);
        let at = now();
        let spent = self.spent(tenant.as_str(), at).await?;
        Ok(self.status(budget, spent, at))
    }

    /// Every budget with its spend (the budgets page and `GET /api/budgets`).
    pub async fn all(&self) -> Result<Vec<BudgetStatus>> {
        let mut conn = self.db.pool().acquire().await?;
        let budgets = db::budgets::all(&mut conn).await?;
        drop(conn);
        let at = now();
        let mut out = Vec::with_capacity(budgets.len());
        for b in budgets {
            let spent = self.spent(&b.tenant_id, at).await?;
            out.push(self.status(b, spent, at));
        }
        Ok(out)
    }

    pub async fn remove(&self, actor: &Actor, tenant: &TenantId) -> Result<()> {
        let at = now();
        let mut tx = self.db.begin().await?;
        if !db::budgets::delete(&mut tx, tenant.as_str()).await? {
            return Err(Error::not_found(
                "BUDGET_NOT_FOUND",
                format!("tenant {tenant} has no budget"),
            ));
        }
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "budget.remove",
                "tenant",
                tenant.as_str(),
                Some(tenant.as_str()),
                json!({}),
            ),
            at,
        )
        .await?;
        tx.commit().await?;
        self.refresh_gate().await
    }

    /// Checks every budget (the `check_budgets` job).
    pub async fn check_all(&self) -> Result<serde_json::Value> {
        self.costs.apply_cost_rollups().await?;
        let mut conn = self.db.pool().acquire().await?;
        let budgets = db::budgets::all(&mut conn).await?;
        drop(conn);
        let at = now();
        let (mut capped, mut alerts) = (Vec::new(), 0);
        for b in budgets {
            let before = b.exhausted_period.clone();
            let tenant = b.tenant_id.clone();
            // One budget's failure does not hold the others up.
            let status = match self.check(b, at).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "checking a budget failed");
                    continue;
                }
            };
            if status.capped {
                capped.push(status.budget.tenant_id.clone());
            }
            if status.budget.exhausted_period != before {
                alerts += 1;
            }
        }
        self.refresh_gate().await?;
        Ok(json!({"capped": capped, "cap_changes": alerts}))
    }

    /// Raises the thresholds the month's spend has reached (once each) and
    /// sets or lifts the cap.
    async fn check(&self, mut budget: Budget, at: DateTime<Utc>) -> Result<BudgetStatus> {
        let spent = self.spent(&budget.tenant_id, at).await?;
        let period = period_of(at);
        let tenant = budget.tenant_id.clone();
        for percent in budget.reached(spent) {
            let mark = format!("budget:{tenant}:{period}:{percent}:{}", budget.limit_micros);
            self.webhooks
                .publish_once(
                    &mark,
                    Event::new(
                        EventType::BudgetThreshold,
                        Some(&tenant),
                        json!({"tenant_id": tenant, "period": period, "percent": percent,
                               "limit": micros_decimal(budget.limit_micros), "spent": micros_decimal(spent)}),
                    ),
                )
                .await?;
        }
        let exhausted = budget.exhausted_by(spent);
        let now_capped = exhausted.then(|| period.clone());
        if now_capped != budget.exhausted_period {
            let mut conn = self.db.pool().acquire().await?;
            db::budgets::set_exhausted(
                &mut conn,
                &tenant,
                budget.limit_micros,
                now_capped.as_deref(),
            )
            .await?;
            if exhausted {
                self.webhooks
                    .publish_once(
                        &format!("budget.reached:{tenant}:{period}:{}", budget.limit_micros),
                        Event::new(
                            EventType::BudgetReached,
                            Some(&tenant),
                            json!({"tenant_id": tenant, "period": period, "hard_cap": budget.hard_cap,
                                   "limit": micros_decimal(budget.limit_micros), "spent": micros_decimal(spent)}),
                        ),
                    )
                    .await?;
            }
            budget.exhausted_period = now_capped;
        }
        Ok(self.status(budget, spent, at))
    }
}

impl Budgets {
    /// Flagged cost anomalies on days in `[from, to)`, of one tenant or all.
    pub async fn anomalies(
        &self,
        tenant: Option<&TenantId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<crate::domain::anomaly::Flagged>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::budgets::anomalies(&mut conn, tenant.map(|t| t.as_str()), from, to).await?)
    }
}
