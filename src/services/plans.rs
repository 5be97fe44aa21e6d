//! Plans and their limits: stored, editable, and mirrored in memory for the data plane.

use super::changes::{Change, ChangeFeed};
use super::keys::Keys;
use super::{now, Result};
use crate::db::{self, Db};
use crate::domain::audit::Actor;
use crate::domain::plan::{Plan, PlanLimits};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// The plans service: every plan's limits, kept in memory for the data plane.
#[derive(Clone)]
pub struct Plans(Arc<Parts>);

struct Parts {
    db: Db,
    /// Grants carry plan limits: retired when a plan changes.
    keys: Keys,
    feed: ChangeFeed,
    /// Plan limits as stored; read on every data-plane request.
    table: RwLock<HashMap<Plan, PlanLimits>>,
    /// The smallest payload limit of any plan, kept beside `table`.
    smallest_payload: AtomicI64,
}

impl Plans {
    /// Reads every plan's limits from the store.
    pub async fn load(db: Db, keys: Keys, feed: ChangeFeed) -> Result<Self> {
        let table = {
            let mut conn = db.pool().acquire().await?;
            db::plans::all(&mut conn).await?
        };
        Ok(Self(Arc::new(Parts {
            smallest_payload: AtomicI64::new(smallest_payload(&table)),
            table: RwLock::new(table),
            db,
            keys,
            feed,
        })))
    }

    pub fn plan_limits(&self, plan: Plan) -> PlanLimits {
        self.0
            .table
            .read()
            .expect("plans lock")
            .get(&plan)
            .copied()
            .unwrap_or_else(|| PlanLimits::seed(plan))
    }

    /// The payload limit every plan allows (read on every data-plane request).
    pub fn smallest_payload_limit(&self) -> i64 {
        self.0.smallest_payload.load(Ordering::Relaxed)
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
        let mut tx = self.0.db.begin().await?;
        db::plans::update(&mut tx, plan, &limits, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry("plan.update", "plan", plan.as_str(), None, json!(limits)),
            now,
        )
        .await?;
        tx.commit().await?;
        self.0
            .table
            .write()
            .expect("plans lock")
            .insert(plan, limits);
        self.plans_changed();
        self.0.feed.announce(Change::Plans).await;
        Ok(limits)
    }

    /// Re-reads every plan's limits from the store (another replica changed one).
    pub async fn reload(&self) -> Result<()> {
        let plans = {
            let mut conn = self.0.db.pool().acquire().await?;
            db::plans::all(&mut conn).await?
        };
        *self.0.table.write().expect("plans lock") = plans;
        self.plans_changed();
        Ok(())
    }

    fn plans_changed(&self) {
        self.0.smallest_payload.store(
            smallest_payload(&self.0.table.read().expect("plans lock")),
            Ordering::Relaxed,
        );
        self.0.keys.invalidate_grants();
    }
}

/// The smallest payload limit among plans.
fn smallest_payload(plans: &HashMap<Plan, PlanLimits>) -> i64 {
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
