//! Plan limits on the data plane, all answered from memory: requests per
//! second (GCRA, the governor crate), the calendar-month quota, requests in
//! flight, and payload size. A subject is a key together with the tenant that
//! owns the namespace of the request, so on a pooled key each tenant has its
//! own limits and one cannot starve another. The monthly counter of a subject
//! is seeded once from the usage rollups (one database read, shared by every
//! request that arrives while it runs).

use crate::domain::limits::{month_id, next_month_start, LimitExceeded, LimitKind};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::domain::limits::{EffectiveLimits, Subject};

/// Counters of one subject.
#[derive(Debug)]
pub struct SubjectState {
    month: AtomicI64,
    used: AtomicI64,
    in_flight: AtomicI64,
    second: AtomicI64,
    second_count: AtomicI64,
    /// Admitted on local limits and not yet added to the shared count (the
    /// store's without Redis, see `limits::store`; Redis's after an outage).
    pending: AtomicI64,
    /// The subject's GCRA state, with the requests-per-second figure it was
    /// built for; replaced (once) when the plan's figure changes.
    per_second: Mutex<Option<(i64, Arc<DefaultDirectRateLimiter>)>>,
    /// The tokens and places leased from Redis (limits shared in Redis).
    pub(super) lease: Mutex<super::redis::Lease>,
    /// One lease call to Redis at a time for this subject on this replica.
    pub(super) refill: tokio::sync::Mutex<()>,
}

impl SubjectState {
    /// Moves the counters to `month` (once, whoever gets there first): this
    /// month's count starts from zero, and last month's unsynced admissions
    /// must not land in this month's shared count.
    fn enter_month(&self, month: i64) {
        if self.month.load(Ordering::SeqCst) != month
            && self.month.swap(month, Ordering::SeqCst) != month
        {
            self.used.store(0, Ordering::SeqCst);
            self.pending.store(0, Ordering::SeqCst);
        }
    }

    /// Counts one request in the current second (for reports).
    fn count_second(&self, now: DateTime<Utc>) {
        let second = now.timestamp();
        if self.second.swap(second, Ordering::SeqCst) != second {
            self.second_count.store(0, Ordering::SeqCst);
        }
        self.second_count.fetch_add(1, Ordering::SeqCst);
    }

    /// What was admitted here since the last call (for the shared count).
    pub fn take_pending(&self) -> i64 {
        self.pending.swap(0, Ordering::SeqCst)
    }

    /// Gives back counts taken by `take_pending` that could not be delivered
    /// (or a refund not yet synced, when negative).
    pub fn add_pending(&self, n: i64) {
        if n != 0 {
            self.pending.fetch_add(n, Ordering::SeqCst);
        }
    }

    /// The month's count across replicas as the store has it, plus what
    /// was admitted here since it was read.
    pub fn set_shared_total(&self, total: i64, now: DateTime<Utc>) {
        if self.month.load(Ordering::SeqCst) == month_id(now) {
            self.used.store(
                total + self.pending.load(Ordering::SeqCst),
                Ordering::SeqCst,
            );
        }
    }

    /// The subject's per-second limiter for a plan allowing `per_second`.
    pub fn rate_limiter(&self, per_second: i64) -> Arc<DefaultDirectRateLimiter> {
        let mut slot = self.per_second.lock().expect("rate limiter lock");
        match &*slot {
            Some((rps, limiter)) if *rps == per_second => limiter.clone(),
            _ => {
                let n = NonZeroU32::new(u32::try_from(per_second.max(1)).unwrap_or(u32::MAX))
                    .expect("rps is at least 1");
                let limiter = Arc::new(RateLimiter::direct(Quota::per_second(n)));
                *slot = Some((per_second, limiter.clone()));
                limiter
            }
        }
    }
}

/// Holds a place among the subject's requests in flight until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<SubjectState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An admitted request: its place in flight and the monthly quota left after
/// it (the tighter of the tenant's and the key's overall quota).
#[derive(Debug)]
pub struct Admission {
    _in_flight: InFlight,
    /// The place in flight held in Redis (shared limits), given back on drop.
    _shared: Option<super::redis::SharedInFlight>,
    pub monthly_limit: i64,
    pub monthly_remaining: i64,
    pub monthly_reset_seconds: i64,
}

impl Admission {
    /// Reports the key's overall monthly quota instead of the tenant's when
    /// it leaves less (`used` counts this request).
    pub fn tighten(mut self, limit: i64, used: i64) -> Self {
        let remaining = (limit - used).max(0);
        if remaining < self.monthly_remaining {
            self.monthly_limit = limit;
            self.monthly_remaining = remaining;
        }
        self
    }
}

/// One limit's state, for `GET /api/ratelimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitState {
    pub limit: i64,
    pub used: i64,
    pub remaining: i64,
    pub reset_at: Option<DateTime<Utc>>,
}

pub struct Limiter {
    subjects: moka::future::Cache<Subject, Arc<SubjectState>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    pub fn new() -> Self {
        Self {
            subjects: moka::future::Cache::new(1_000_000),
        }
    }

    /// The subject's counters, seeding the monthly count with `seed` on first use.
    pub async fn subject<F, E>(
        &self,
        subject: &Subject,
        seed: F,
    ) -> Result<Arc<SubjectState>, Arc<E>>
    where
        F: std::future::Future<Output = Result<i64, E>>,
        E: Send + Sync + 'static,
    {
        let now = Utc::now();
        self.subjects
            .try_get_with(subject.clone(), async move {
                Ok(Arc::new(SubjectState {
                    month: AtomicI64::new(month_id(now)),
                    used: AtomicI64::new(seed.await?),
                    in_flight: AtomicI64::new(0),
                    second: AtomicI64::new(now.timestamp()),
                    second_count: AtomicI64::new(0),
                    pending: AtomicI64::new(0),
                    per_second: Mutex::new(None),
                    lease: Mutex::new(super::redis::Lease::default()),
                    refill: tokio::sync::Mutex::new(()),
                }))
            })
            .await
    }

    /// Every subject with counters here.
    pub fn subjects(&self) -> Vec<(Subject, Arc<SubjectState>)> {
        self.subjects
            .iter()
            .map(|(k, v)| ((*k).clone(), v))
            .collect()
    }

    /// Admits one request of `payload` bytes or says which limit refuses it.
    /// Checks run cheapest-first and a refused request consumes nothing.
    pub fn admit(
        state: &Arc<SubjectState>,
        per_second: &DefaultDirectRateLimiter,
        limits: &EffectiveLimits,
        payload: i64,
        now: DateTime<Utc>,
    ) -> Result<Admission, LimitExceeded> {
        Self::check_payload(limits, payload)?;
        let month_reset = (next_month_start(now) - now).num_seconds().max(1);
        let month = month_id(now);
        state.enter_month(month);
        let monthly_refusal = || LimitExceeded {
            kind: LimitKind::Monthly,
            limit: limits.monthly,
            remaining: 0,
            reset_seconds: month_reset,
        };
        if state.used.load(Ordering::SeqCst) >= limits.monthly {
            return Err(monthly_refusal());
        }
        let in_flight = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = InFlight(state.clone());
        if in_flight > limits.concurrent {
            return Err(LimitExceeded {
                kind: LimitKind::Concurrent,
                limit: limits.concurrent,
                remaining: 0,
                reset_seconds: 1,
            });
        }
        if let Err(not_until) = per_second.check() {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(LimitExceeded {
                kind: LimitKind::PerSecond,
                limit: limits.per_second,
                remaining: 0,
                reset_seconds: (wait.as_millis() as i64 + 999) / 1000,
            });
        }
        let before = state.used.fetch_add(1, Ordering::SeqCst);
        if before >= limits.monthly {
            state.used.fetch_sub(1, Ordering::SeqCst);
            return Err(monthly_refusal());
        }
        state.pending.fetch_add(1, Ordering::SeqCst);
        state.count_second(now);
        Ok(Admission {
            _in_flight: guard,
            _shared: None,
            monthly_limit: limits.monthly,
            monthly_remaining: limits.monthly - before - 1,
            monthly_reset_seconds: month_reset,
        })
    }

    /// Gives back the monthly count of a request `admit` let through that a
    /// later check refused (the key's overall limits). Its per-second cell
    /// stays spent: a tenant pushing past a full pool slows itself down.
    pub fn refund(state: &SubjectState, now: DateTime<Utc>) {
        if state.month.load(Ordering::SeqCst) == month_id(now) {
            state.used.fetch_sub(1, Ordering::SeqCst);
            state.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Counts here a request the shared limits (Redis) admitted under a
    /// key's overall limits, with the overall monthly count after it.
    pub fn overall_admitted_elsewhere(state: &SubjectState, used: i64, now: DateTime<Utc>) {
        state.enter_month(month_id(now));
        state.used.fetch_max(used, Ordering::SeqCst);
        state.count_second(now);
    }

    /// Refuses a body larger than the limits allow.
    pub fn check_payload(limits: &EffectiveLimits, payload: i64) -> Result<(), LimitExceeded> {
        if payload > limits.max_payload {
            return Err(LimitExceeded {
                kind: LimitKind::Payload,
                limit: limits.max_payload,
                remaining: 0,
                reset_seconds: 0,
            });
        }
        Ok(())
    }

    /// The subject's monthly count as this replica knows it.
    pub fn used_this_month(state: &SubjectState, now: DateTime<Utc>) -> i64 {
        if state.month.load(Ordering::SeqCst) == month_id(now) {
            state.used.load(Ordering::SeqCst)
        } else {
            0
        }
    }

    /// Counts here a request the shared limits (Redis) admitted, so the local
    /// counters stay close for reports and for a fallback.
    pub fn admitted_elsewhere(
        state: &Arc<SubjectState>,
        limits: &EffectiveLimits,
        shared: super::redis::SharedAdmission,
        now: DateTime<Utc>,
    ) -> Admission {
        state.enter_month(month_id(now));
        // Never below what this replica counted itself.
        state.used.fetch_max(shared.monthly_used, Ordering::SeqCst);
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        state.count_second(now);
        Admission {
            _in_flight: InFlight(state.clone()),
            monthly_limit: limits.monthly,
            monthly_remaining: (limits.monthly - shared.monthly_used).max(0),
            monthly_reset_seconds: (next_month_start(now) - now).num_seconds().max(1),
            _shared: Some(shared.in_flight),
        }
    }

    /// The current state of each limit of a subject: per second, monthly, concurrent.
    pub fn report(
        state: &SubjectState,
        limits: &EffectiveLimits,
        now: DateTime<Utc>,
    ) -> [LimitState; 3] {
        let this_second = state.second.load(Ordering::SeqCst) == now.timestamp();
        let second_used = if this_second {
            state.second_count.load(Ordering::SeqCst)
        } else {
            0
        };
        let used = Self::used_this_month(state, now);
        let in_flight = state.in_flight.load(Ordering::SeqCst);
        let state_of = |limit: i64, used: i64, reset_at| LimitState {
            limit,
            used,
            remaining: (limit - used).max(0),
            reset_at,
        };
        let next_second = DateTime::from_timestamp(now.timestamp() + 1, 0);
        [
            state_of(limits.per_second, second_used, next_second),
            state_of(limits.monthly, used, Some(next_month_start(now))),
            state_of(limits.concurrent, in_flight, None),
        ]
    }
}
