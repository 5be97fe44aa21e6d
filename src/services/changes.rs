//! The change feed between replicas (announcing; `listener` applies what
//! the others announce). Every replica keeps keys, tenants,
//! plans, grants and cached responses in memory; a change made through one
//! replica must reach the others. On PostgreSQL each change is announced
//! with `pg_notify` on the channel `keyward_changes` after its transaction
//! commits, and every replica LISTENs and drops what the change affects.
//!
//! Two nets catch what a notification could miss: when the listening
//! connection drops and comes back (notifications sent meanwhile are lost),
//! the replica drops everything it holds; and every `change_ttl` (default
//! 10 s) it drops its key, tenant and grant caches and reloads plans anyway,
//! so nothing stale outlives that window even if a notification is lost.
//! On SQLite (one node) there is nothing to tell.

use crate::db::{Db, Engine};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

pub const CHANNEL: &str = "keyward_changes";

/// What changed, as far as other replicas' memory is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A key's status, secrets or expiry.
    Key { key_id: String },
    /// A tenant's plan, status or name (may affect every key).
    Tenants,
    /// A plan's limits.
    Plans,
    /// A cached response (`digest` hex) or, without one, a whole namespace.
    Responses {
        namespace: String,
        digest: Option<String>,
    },
    /// Sent by each replica to itself every safety TTL: a listening
    /// connection that stops hearing even its own pings is hung.
    Ping,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Notice {
    /// The replica that made the change (it has applied it already).
    from: u64,
    /// When it was sent (Unix milliseconds): how late notices arrive.
    #[serde(default)]
    sent_ms: i64,
    #[serde(flatten)]
    pub(super) change: Change,
}

/// Announces this replica's changes to the others, and listens for theirs.
#[derive(Clone)]
pub struct ChangeFeed(Arc<FeedState>);

struct FeedState {
    db: Db,
    /// This process among the replicas (its own notices are skipped).
    instance_id: u64,
    /// Whether the listening connection is up (PostgreSQL).
    connected: AtomicBool,
    /// How late the last notice heard arrived, in milliseconds.
    lag_ms: AtomicI64,
}

impl ChangeFeed {
    pub fn new(db: Db) -> Self {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("system randomness");
        Self(Arc::new(FeedState {
            db,
            instance_id: u64::from_le_bytes(b),
            connected: AtomicBool::new(false),
            lag_ms: AtomicI64::new(0),
        }))
    }

    /// This replica's id (also its name in the limit counters' heartbeat).
    pub fn instance_id(&self) -> u64 {
        self.0.instance_id
    }

    /// Tells the other replicas about a change this one has made and applied
    /// (after its transaction committed). Never fails the change itself: a
    /// lost notice is caught by the other replicas' safety TTL.
    pub async fn announce(&self, change: Change) {
        if self.0.db.engine() != Engine::Postgres {
            return;
        }
        let payload = match serde_json::to_string(&Notice {
            from: self.0.instance_id,
            sent_ms: chrono::Utc::now().timestamp_millis(),
            change,
        }) {
            Ok(p) => p,
            Err(_) => return,
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(self.0.db.pool())
            .await
        {
            tracing::warn!(error = %e, "change notice not sent; other replicas catch up within the safety TTL");
        }
    }

    /// Whether this replica currently hears other replicas' changes (always
    /// true on a single-node store).
    pub fn connected(&self) -> bool {
        self.0.db.engine() != Engine::Postgres || self.0.connected.load(Ordering::SeqCst)
    }

    /// Whether a notice came from this replica (already applied here).
    pub(super) fn is_own(&self, notice: &Notice) -> bool {
        notice.from == self.0.instance_id
    }

    /// How late the last notice heard (this replica's own pings included)
    /// arrived after it was sent, in seconds.
    pub fn lag_seconds(&self) -> f64 {
        self.0.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub(super) fn heard(&self, notice: &Notice) {
        if notice.sent_ms > 0 {
            let lag = (chrono::Utc::now().timestamp_millis() - notice.sent_ms).max(0);
            self.0.lag_ms.store(lag, Ordering::Relaxed);
        }
    }

    pub(super) fn set_connected(&self, connected: bool) {
        self.0.connected.store(connected, Ordering::SeqCst);
    }

    pub(super) fn on_postgres(&self) -> bool {
        self.0.db.engine() == Engine::Postgres
    }
}
