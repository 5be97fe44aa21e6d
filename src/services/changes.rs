//! The change feed between replicas. Every replica keeps keys, tenants,
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

use super::{Keyward, Result};
use crate::db::Engine;
use crate::domain::ids::{KeyId, NamespaceName};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

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
struct Notice {
    /// The replica that made the change (it has applied it already).
    from: u64,
    #[serde(flatten)]
    change: Change,
}

impl Keyward {
    /// Tells the other replicas about a change this one has made and applied
    /// (after its transaction committed). Never fails the change itself: a
    /// lost notice is caught by the other replicas' safety TTL.
    pub(super) async fn announce(&self, change: Change) {
        if self.db().engine() != Engine::Postgres {
            return;
        }
        let payload = match serde_json::to_string(&Notice {
            from: self.inner.instance_id,
            change,
        }) {
            Ok(p) => p,
            Err(_) => return,
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(self.db().pool())
            .await
        {
            tracing::warn!(error = %e, "change notice not sent; other replicas catch up within the safety TTL");
        }
    }

    /// Applies a change another replica made.
    async fn apply_change(&self, change: Change) {
        let inner = &self.inner;
        match change {
            Change::Key { key_id } => match KeyId::parse(key_id) {
                Ok(id) => inner.keys.invalidate_key(&id).await,
                Err(_) => inner.keys.invalidate_tenants(),
            },
            Change::Tenants => inner.keys.invalidate_tenants(),
            Change::Ping => {}
            Change::Plans => {
                if let Err(e) = self.reload_plans().await {
                    tracing::warn!(error = %e, "reloading plans after a change failed");
                }
            }
            Change::Responses { namespace, digest } => {
                if let Ok(ns) = NamespaceName::parse(namespace) {
                    let digest = digest
                        .and_then(|d| hex::decode(d).ok())
                        .and_then(|d| <[u8; 32]>::try_from(d).ok());
                    inner.responses.forget(&ns, digest).await;
                }
            }
        }
    }

    /// Drops everything held in memory that another replica could have
    /// changed: after a gap in the feed, and every safety TTL.
    async fn forget_shared_state(&self, responses_too: bool) {
        self.inner.keys.invalidate_tenants();
        if let Err(e) = self.reload_plans().await {
            tracing::warn!(error = %e, "reloading plans failed");
        }
        if responses_too {
            self.inner.responses.forget_all();
        }
    }

    /// Listens for other replicas' changes (PostgreSQL only) and runs the
    /// safety TTL; both stop with the core. The first connection is made
    /// before the core serves (so nothing it caches predates listening);
    /// if it cannot be made, the feed keeps trying in the background.
    pub(super) async fn start_change_feed(&self, url: Option<String>, ttl: Duration) {
        if self.db().engine() != Engine::Postgres {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let safety = tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let core = Keyward { inner };
                core.forget_shared_state(false).await;
                core.announce(Change::Ping).await;
            }
        });
        self.inner.background.lock().expect("tasks").push(safety);
        let Some(url) = url else { return };
        let first = match tokio::time::timeout(Duration::from_secs(10), subscribe(&url)).await {
            Ok(Ok(listener)) => {
                // Plans were read before listening: read them again.
                if let Err(e) = self.reload_plans().await {
                    tracing::warn!(error = %e, "reloading plans failed");
                }
                self.inner.feed_connected.store(true, Ordering::SeqCst);
                Some(listener)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "change feed not connected yet; retrying");
                None
            }
            Err(_) => None,
        };
        let weak = Arc::downgrade(&self.inner);
        let listener = tokio::spawn(async move {
            let mut connected = first;
            loop {
                let listener = match connected.take() {
                    Some(l) => l,
                    None => match subscribe(&url).await {
                        Ok(l) => {
                            let Some(inner) = weak.upgrade() else { return };
                            // Whatever happened while not listening is unknown.
                            let core = Keyward { inner };
                            core.forget_shared_state(true).await;
                            core.inner.feed_connected.store(true, Ordering::SeqCst);
                            l
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change feed cannot connect; retrying");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            if weak.strong_count() == 0 {
                                return;
                            }
                            continue;
                        }
                    },
                };
                match listen(listener, &weak, ttl * 3).await {
                    Ok(()) => return, // the core is gone
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed lost; reconnecting (caches dropped meanwhile)");
                        let Some(inner) = weak.upgrade() else { return };
                        inner.feed_connected.store(false, Ordering::SeqCst);
                        Keyward { inner }.forget_shared_state(true).await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        self.inner.background.lock().expect("tasks").push(listener);
    }

    /// Whether this replica currently hears other replicas' changes (always
    /// true on a single-node store).
    pub fn change_feed_connected(&self) -> bool {
        self.db().engine() != Engine::Postgres || self.inner.feed_connected.load(Ordering::SeqCst)
    }
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// One session of LISTEN: returns Ok when the core is dropped, Err when the
/// connection failed (the caller reconnects).
async fn listen(
    mut listener: sqlx::postgres::PgListener,
    weak: &std::sync::Weak<super::Inner>,
    silence: Duration,
) -> Result<()> {
    loop {
        // try_recv answers None when the connection was lost (and re-made):
        // notices sent in between are gone, so treat it as a gap.
        // The replica pings itself every safety TTL; hearing nothing at all
        // for three of them means the connection hung (half-open TCP).
        let heard = tokio::time::timeout(silence, listener.try_recv())
            .await
            .map_err(|_| sqlx::Error::Protocol("the change feed went silent".into()))?;
        let notification = match heard? {
            Some(n) => n,
            None => {
                return Err(sqlx::Error::Protocol("listening connection lost".into()).into());
            }
        };
        let Some(inner) = weak.upgrade() else {
            return Ok(());
        };
        let core = Keyward { inner };
        match serde_json::from_str::<Notice>(notification.payload()) {
            Ok(n) if n.from == core.inner.instance_id => {}
            Ok(n) => core.apply_change(n.change).await,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable change notice; dropping caches");
                core.forget_shared_state(true).await;
            }
        }
    }
}
