//! Limits shared by replicas through PostgreSQL, when there is no Redis. The
//! hot path still decides from memory; a background sync every
//! `KEYWARD_LIMIT_SYNC_MS` (default 200 ms) adds what this replica admitted
//! to each subject's monthly count in the store (`limit_counters`) and reads
//! back what the other replicas added, and beats a heartbeat (`replicas`).
//!
//! - Monthly quota: global, within what the other replicas admitted since
//!   their last sync (about one sync interval of their traffic).
//! - Per second and concurrency: each replica allows its share,
//!   ceil(limit / live replicas), so together they never allow more than
//!   the limit plus one per replica; traffic spread unevenly is held
//!   tighter than the limit, never looser.

use super::Limits;
use crate::db;
use crate::domain::ids::{KeyId, TenantId};
use crate::services::{now, Result};
use chrono::{DateTime, Duration as Span, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A replica not heard from for three sync intervals (at least 3 s) is gone;
/// its share is given out.
fn alive_window(interval: Duration) -> Span {
    Span::milliseconds((3 * interval.as_millis() as i64).max(3_000))
}

pub struct StoreLimits {
    replicas: AtomicI64,
    last_sync: Mutex<Option<DateTime<Utc>>>,
    last_error: Mutex<Option<String>>,
    interval: Duration,
}

impl StoreLimits {
    pub fn new(interval: Duration) -> Self {
        Self {
            replicas: AtomicI64::new(1),
            last_sync: Mutex::new(None),
            last_error: Mutex::new(None),
            interval,
        }
    }

    /// Live replicas (this one included), as of the last heartbeat.
    pub fn replicas(&self) -> i64 {
        self.replicas.load(Ordering::SeqCst).max(1)
    }

    pub fn health(&self) -> serde_json::Value {
        let error = self.last_error.lock().expect("sync error").clone();
        serde_json::json!({
            "mode": "postgres",
            "redis": "not configured",
            "replicas": self.replicas(),
            "sync_ms": self.interval.as_millis() as u64,
            "sync": if error.is_some() { "failing" } else { "ok" },
            "error": error,
        })
    }
}

/// `limit` split among `n` replicas, rounded up (never below 1).
pub fn share(limit: i64, n: i64) -> i64 {
    if n <= 1 {
        limit
    } else {
        (limit / n + i64::from(limit % n != 0)).max(1)
    }
}

fn subject_name(key: &KeyId, tenant: &TenantId) -> String {
    format!("{key}/{tenant}")
}

fn period(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

impl Limits {
    /// The store sync's task: every interval, one [`Limits::sync_store`].
    pub(super) fn spawn_store_sync(&self) -> tokio::task::JoinHandle<()> {
        let limits = self.clone();
        tokio::spawn(async move {
            let Some(interval) = limits.0.store.as_ref().map(|s| s.interval) else {
                return;
            };
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let outcome = limits.sync_store().await;
                let Some(store) = &limits.0.store else { return };
                let mut error = store.last_error.lock().expect("sync error");
                match outcome {
                    Ok(()) => {
                        if error.take().is_some() {
                            tracing::info!("limit counters sync again with the other replicas");
                        }
                    }
                    Err(e) => {
                        if error.is_none() {
                            tracing::warn!(error = %e, "syncing limit counters failed; limits are local until it works again");
                        }
                        *error = Some(e.to_string());
                    }
                }
            }
        })
    }

    /// One sync: heartbeat, add this replica's admissions, read the others'.
    pub async fn sync_store(&self) -> Result<()> {
        let Some(store) = &self.0.store else {
            return Ok(());
        };
        let now = now();
        let period = period(now);
        let instance = format!("{:016x}", self.0.instance);
        let mut conn = self.0.db.pool().acquire().await?;
        let live = db::limits::heartbeat(
            &mut conn,
            &instance,
            now,
            now - alive_window(store.interval),
        )
        .await?;
        if store.replicas.swap(live, Ordering::SeqCst) != live {
            // Shares changed: grants carry the old per-second and concurrency figures.
            self.0.keys.invalidate_grants();
        }
        let subjects = self.0.local.subjects();
        let mut rows = Vec::new();
        let mut states = std::collections::HashMap::new();
        for ((key, tenant), state) in subjects {
            let name = subject_name(&key, &tenant);
            let delta = state.take_pending();
            if delta < 0 {
                // A refund (see `Limiter::refund`) of a count already synced.
                state.add_pending(delta);
            }
            if delta > 0 {
                let used = super::Limiter::used_this_month(&state, now);
                rows.push((name.clone(), (used - delta).max(0), delta));
            }
            states.insert(name, state);
        }
        let mut totals = match db::limits::add_counts(
            &mut conn,
            self.0.db.engine(),
            &period,
            &rows,
            now,
        )
        .await
        {
            Ok(t) => t,
            Err(e) => {
                // Not counted in the store: keep them for the next sync.
                for (name, _, delta) in &rows {
                    if let Some(state) = states.get(name) {
                        state.add_pending(*delta);
                    }
                }
                return Err(e.into());
            }
        };
        let since = store
            .last_sync
            .lock()
            .expect("last sync")
            .map_or(now - Span::minutes(1), |t| t - Span::seconds(1));
        totals.extend(db::limits::counts_since(&mut conn, &period, since).await?);
        for (name, total) in totals {
            if let Some(state) = states.get(&name) {
                state.set_shared_total(total, now);
            }
        }
        *store.last_sync.lock().expect("last sync") = Some(now);
        Ok(())
    }

    /// A graceful stop: the last admissions counted, and the others take
    /// this replica's share at once.
    pub(crate) async fn leave(&self) {
        if self.0.store.is_none() {
            return;
        }
        if let Err(e) = self.sync_store().await {
            tracing::warn!(error = %e, "last limit sync failed");
        }
        if let Ok(mut conn) = self.0.db.pool().acquire().await {
            let instance = format!("{:016x}", self.0.instance);
            let _ = db::limits::forget_replica(&mut conn, &instance).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shares_round_up() {
        assert_eq!(super::share(10, 1), 10);
        assert_eq!(super::share(10, 2), 5);
        assert_eq!(super::share(10, 3), 4);
        assert_eq!(super::share(1, 4), 1);
        assert_eq!(super::share(i64::MAX, 3), i64::MAX / 3 + 1, "no overflow");
    }
}
