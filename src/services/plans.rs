//! Plans and their limits: stored, editable, and mirrored in memory for the data plane.

use super::{now, Keyward, Result};
use crate::db;
use crate::domain::audit::Actor;
use crate::domain::plan::{Plan, PlanLimits};
use serde_json::json;

impl Keyward {
    pub fn plan_limits(&self, plan: Plan) -> PlanLimits {
        self.inner
            .plans
            .read()
            .expect("plans lock")
            .get(&plan)
            .copied()
            .unwrap_or_else(|| PlanLimits::seed(plan))
    }

    /// The payload limit every plan allows (read on every data-plane request).
    pub fn smallest_payload_limit(&self) -> i64 {
        self.inner
            .smallest_payload
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn plans(&self) -> Vec<(Plan, PlanLimits)> {
        Plan::ALL
            .iter()
            .map(|p| (*p, self.plan_limits(*p)))
            .collect()
    }

    /// Changes a plan's limits; they apply from the next request on.
    pub async fn update_plan(
        &self,
        plan: Plan,
        limits: PlanLimits,
        actor: &Actor,
    ) -> Result<PlanLimits> {
        let limits = limits.validate()?;
        let now = now();
        let mut tx = self.db().pool().begin().await?;
        db::plans::update(&mut tx, plan, &limits, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry("plan.update", "plan", plan.as_str(), None, json!(limits)),
            now,
        )
        .await?;
        tx.commit().await?;
        self.inner
            .plans
            .write()
            .expect("plans lock")
            .insert(plan, limits);
        self.plans_changed();
        self.announce(super::changes::Change::Plans).await;
        Ok(limits)
    }

    /// Re-reads every plan's limits from the store (another replica changed one).
    pub(super) async fn reload_plans(&self) -> Result<()> {
        let plans = {
            let mut conn = self.db().pool().acquire().await?;
            db::plans::all(&mut conn).await?
        };
        *self.inner.plans.write().expect("plans lock") = plans;
        self.plans_changed();
        Ok(())
    }

    fn plans_changed(&self) {
        self.inner.smallest_payload.store(
            smallest_payload(&self.inner.plans.read().expect("plans lock")),
            std::sync::atomic::Ordering::Relaxed,
        );
        self.inner.keys.invalidate_grants();
    }
}

/// The smallest payload limit among plans.
pub(super) fn smallest_payload(plans: &std::collections::HashMap<Plan, PlanLimits>) -> i64 {
    Plan::ALL
        .iter()
        .map(|p| {
            plans
                .get(p)
                .copied()
                .unwrap_or_else(|| PlanLimits::seed(*p))
                .max_payload_bytes
        })
        .min()
        .unwrap_or(0)
}
