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

    /// The payload limit every plan allows.
    pub fn smallest_payload_limit(&self) -> i64 {
        self.plans()
            .iter()
            .map(|(_, l)| l.max_payload_bytes)
            .min()
            .unwrap_or(0)
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
        Ok(limits)
    }
}
