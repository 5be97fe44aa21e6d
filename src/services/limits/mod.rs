//! The limits context: who is counted (a subject: a key together with the
//! tenant that owns the namespace of the request), what applies to it
//! (`EffectiveLimits`, from its plan), and where requests are counted. One
//! counting interface, [`Limits::admit`], over three strategies side by side:
//!
//! - `local`: this replica's memory (governor GCRA per second, the monthly
//!   quota, requests in flight). Always kept; decides alone on SQLite.
//! - `redis`: shared by every replica through Redis (`KEYWARD_REDIS_URL`),
//!   falling back to `local` while Redis does not answer.
//! - `store`: PostgreSQL without Redis; decisions stay local, counters sync
//!   through the store in the background and each replica allows its share.
//!
//! A key may also carry overall limits (`OverallLimits`: a pooled key's own
//! per-second figure and monthly quota, over every tenant it serves). They
//! are one more subject, the key with `TenantId::every()`, counted the same
//! three ways; a request must pass its tenant's limits first, then the key's.

pub mod local;
pub mod redis;
pub mod store;

use super::keys::Keys;
use super::{now, Error, Result, Tasks};
use crate::db::{self, Db};
use crate::domain::ids::{KeyId, TenantId};
use crate::domain::limits::{month_start, LimitExceeded, OverallLimits};
use governor::DefaultDirectRateLimiter;
use std::sync::Arc;

pub use crate::domain::limits::{EffectiveLimits, Subject};
pub use local::{Admission, LimitState, Limiter, SubjectState};

/// A key's overall limits with their counters.
#[derive(Debug)]
pub struct Overall {
    pub limits: EffectiveLimits,
    pub state: Arc<SubjectState>,
    pub per_second: Arc<DefaultDirectRateLimiter>,
}

/// The limits service: counts every data-plane request against its subject's limits.
#[derive(Clone)]
pub struct Limits(Arc<Parts>);

struct Parts {
    db: Db,
    /// Retired grants when the replicas' shares change.
    keys: Keys,
    local: Limiter,
    redis: Option<redis::SharedLimits>,
    store: Option<store::StoreLimits>,
    /// This replica, in the store's heartbeat table.
    instance: u64,
}

impl Limits {
    /// `redis_url` when configured; `store_sync` on PostgreSQL (used when
    /// there is no Redis).
    pub fn new(
        db: Db,
        keys: Keys,
        instance: u64,
        redis_url: Option<&str>,
        store_sync: Option<std::time::Duration>,
    ) -> Result<Self> {
        let redis = match redis_url {
            Some(url) => {
                Some(
                    redis::SharedLimits::connect(url).map_err(|e| Error::Unavailable {
                        code: "REDIS_URL_INVALID",
                        message: format!("KEYWARD_REDIS_URL: {e}"),
                    })?,
                )
            }
            None => None,
        };
        let store = match (&redis, store_sync) {
            (None, Some(interval)) => Some(store::StoreLimits::new(interval)),
            _ => None,
        };
        Ok(Self(Arc::new(Parts {
            db,
            keys,
            local: Limiter::new(),
            redis,
            store,
            instance,
        })))
    }

    /// Starts the Redis health check or the store sync, whichever applies.
    pub(crate) fn spawn_background(&self, tasks: &Tasks) {
        if let Some(shared) = &self.0.redis {
            tasks.push(shared.spawn_health_check());
            tasks.push(self.spawn_lease_sweep(shared.clone()));
        }
        if self.0.store.is_some() {
            tasks.push(self.spawn_store_sync());
        }
    }

    /// Gives idle leased tokens and places back to Redis every second.
    fn spawn_lease_sweep(&self, shared: redis::SharedLimits) -> tokio::task::JoinHandle<()> {
        let limits = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if limits.strong_count() == 0 {
                    return;
                }
                shared.sweep().await;
            }
        })
    }

    /// `limits` as this replica applies them: with store-synced limits each
    /// replica allows its share of the per-second and concurrency figures.
    pub fn on_this_replica(&self, mut limits: EffectiveLimits) -> EffectiveLimits {
        if let Some(store) = &self.0.store {
            let n = store.replicas();
            limits.per_second = store::share(limits.per_second, n);
            limits.concurrent = store::share(limits.concurrent, n);
        }
        limits
    }

    /// A subject's counters, seeded once from the usage rollups.
    pub async fn subject_state(&self, subject: &Subject) -> Result<Arc<SubjectState>> {
        let db = self.0.db.clone();
        let (key, tenant) = (subject.0.to_string(), subject.1.clone());
        self.0
            .local
            .subject(subject, async move {
                let mut conn = db.pool().acquire().await?;
                let since = month_start(now());
                if tenant.is_every() {
                    db::usage::admitted_by_key_since(&mut conn, &key, since).await
                } else {
                    db::usage::admitted_since(&mut conn, &key, tenant.as_str(), since).await
                }
            })
            .await
            .map_err(|e| Error::internal("seeding a subject's monthly count", e))
    }

    /// A key's overall limits with their counters (as this replica applies
    /// them), or `None` when the key has none.
    pub async fn overall(&self, key: &KeyId, limits: OverallLimits) -> Result<Option<Overall>> {
        let Some(limits) = limits.effective() else {
            return Ok(None);
        };
        let limits = self.on_this_replica(limits);
        let state = self
            .subject_state(&(key.clone(), TenantId::every()))
            .await?;
        Ok(Some(Overall {
            per_second: state.rate_limiter(limits.per_second),
            state,
            limits,
        }))
    }

    /// Admits a request of `payload` bytes under `limits`, then under the
    /// key's `overall` limits if it has them: in Redis when configured and
    /// reachable (shared by every replica, both checks in one atomic
    /// script), otherwise from this replica's memory.
    pub async fn admit(
        &self,
        (key, owner): (&KeyId, &TenantId),
        state: &Arc<SubjectState>,
        per_second: &DefaultDirectRateLimiter,
        limits: &EffectiveLimits,
        overall: Option<&Overall>,
        payload: i64,
    ) -> Result<Admission> {
        if let Some(shared) = &self.0.redis {
            Limiter::check_payload(limits, payload).map_err(Error::Limit)?;
            if shared.is_healthy() {
                if let Some(answer) = self
                    .admit_shared(shared, (key, owner), state, limits, overall)
                    .await
                {
                    return answer;
                }
            }
            shared.count_fallback();
        }
        let now = now();
        let admission =
            Limiter::admit(state, per_second, limits, payload, now).map_err(Error::Limit)?;
        let Some(o) = overall else {
            return Ok(admission);
        };
        match Limiter::admit(&o.state, &o.per_second, &o.limits, 0, now) {
            Ok(a) => {
                let used = a.monthly_limit - a.monthly_remaining;
                Ok(admission.tighten(o.limits.monthly, used))
            }
            Err(mut refused) => {
                Limiter::refund(state, now);
                refused.kind = refused.kind.overall();
                Err(Error::Limit(refused))
            }
        }
    }

    /// One admission from this replica's leases of Redis's tokens; `None`
    /// when Redis did not answer.
    async fn admit_shared(
        &self,
        shared: &redis::SharedLimits,
        (key, owner): (&KeyId, &TenantId),
        state: &Arc<SubjectState>,
        limits: &EffectiveLimits,
        overall: Option<&Overall>,
    ) -> Option<Result<Admission>> {
        let now = now();
        let subject = (key.clone(), owner.clone());
        let counts = redis::Counts {
            seed: Limiter::used_this_month(state, now),
            overall: overall.map(|o| redis::OverallCounts {
                limits: o.limits,
                state: o.state.clone(),
                seed: Limiter::used_this_month(&o.state, now),
            }),
        };
        let answer = shared.admit(&subject, state, limits, counts, now).await?;
        Some(match answer {
            Ok(admitted) => {
                let overall_used = admitted.overall_used;
                let admission = Limiter::admitted_elsewhere(state, limits, admitted, now);
                match overall {
                    Some(o) => {
                        Limiter::overall_admitted_elsewhere(&o.state, overall_used, now);
                        Ok(admission.tighten(o.limits.monthly, overall_used))
                    }
                    None => Ok(admission),
                }
            }
            Err(refused) => Err(Error::Limit(refused)),
        })
    }

    /// A subject's per-second, monthly and concurrency figures now.
    pub async fn report(
        &self,
        subject: &Subject,
        limits: &EffectiveLimits,
    ) -> Result<[LimitState; 3]> {
        let state = self.subject_state(subject).await?;
        Ok(Limiter::report(&state, limits, now()))
    }

    /// Refuses a payload over `limits` before anything is counted.
    pub fn check_payload(limits: &EffectiveLimits, payload: i64) -> Result<(), LimitExceeded> {
        Limiter::check_payload(limits, payload)
    }

    /// How limits are counted now: shared (Redis), local while Redis is
    /// unreachable, or local by configuration.
    pub fn health(&self) -> serde_json::Value {
        match (&self.0.redis, &self.0.store) {
            (Some(s), _) => serde_json::json!(s.health()),
            (None, Some(s)) => s.health(),
            (None, None) => serde_json::json!({ "mode": "local", "redis": "not configured" }),
        }
    }
}
