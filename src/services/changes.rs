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

use super::keys::Keys;
use super::plans::Plans;
use super::response_cache::ResponseCache;
use super::{Error, Result, Tasks};
use crate::db::{Db, Engine};
use crate::domain::ids::{KeyId, NamespaceName};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Announces this replica's changes to the others, and listens for theirs.
#[derive(Clone)]
pub struct ChangeFeed(Arc<FeedState>);

struct FeedState {
    db: Db,
    /// This process among the replicas (its own notices are skipped).
    instance_id: u64,
    /// Whether the listening connection is up (PostgreSQL).
    connected: AtomicBool,
}

/// What a replica holds in memory that another replica's change can make
/// stale; the feed drops from it what each notice names.
#[derive(Clone)]
pub struct Memory {
    pub keys: Keys,
    pub plans: Plans,
    pub responses: Arc<ResponseCache>,
}

impl Memory {
    /// Applies a change another replica made.
    async fn apply(&self, change: Change) {
        match change {
            Change::Key { key_id } => match KeyId::parse(key_id) {
                Ok(id) => self.keys.invalidate_key(&id).await,
                Err(_) => self.keys.invalidate_tenants(),
            },
            Change::Tenants => self.keys.invalidate_tenants(),
            Change::Ping => {}
            Change::Plans => {
                if let Err(e) = self.plans.reload().await {
                    tracing::warn!(error = %e, "reloading plans after a change failed");
                }
            }
            Change::Responses { namespace, digest } => {
                if let Ok(ns) = NamespaceName::parse(namespace) {
                    let digest = digest
                        .and_then(|d| hex::decode(d).ok())
                        .and_then(|d| <[u8; 32]>::try_from(d).ok());
                    self.responses.forget(&ns, digest).await;
                }
            }
        }
    }

    /// Drops everything held in memory that another replica could have
    /// changed: after a gap in the feed, and every safety TTL.
    pub async fn forget(&self, responses_too: bool) {
        self.keys.invalidate_tenants();
        if let Err(e) = self.plans.reload().await {
            tracing::warn!(error = %e, "reloading plans failed");
        }
        if responses_too {
            self.responses.forget_all();
        }
    }
}

impl ChangeFeed {
    pub fn new(db: Db) -> Self {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("system randomness");
        Self(Arc::new(FeedState {
            db,
            instance_id: u64::from_le_bytes(b),
            connected: AtomicBool::new(false),
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

    /// Listens for other replicas' changes (PostgreSQL only) and runs the
    /// safety TTL; both stop with the core. The first connection is made
    /// before the core serves (so nothing it caches predates listening);
    /// if it cannot be made, the feed keeps trying in the background.
    pub(crate) async fn start(
        &self,
        memory: Memory,
        url: Option<String>,
        ttl: Duration,
        tasks: &Tasks,
    ) {
        if self.0.db.engine() != Engine::Postgres {
            return;
        }
        let (feed, safety_memory) = (self.clone(), memory.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl);
            tick.tick().await;
            loop {
                tick.tick().await;
                safety_memory.forget(false).await;
                feed.announce(Change::Ping).await;
            }
        }));
        let Some(url) = url else { return };
        let first = match tokio::time::timeout(Duration::from_secs(10), subscribe(&url)).await {
            Ok(Ok(listener)) => {
                // Plans were read before listening: read them again.
                if let Err(e) = memory.plans.reload().await {
                    tracing::warn!(error = %e, "reloading plans failed");
                }
                self.0.connected.store(true, Ordering::SeqCst);
                Some(listener)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "change feed not connected yet; retrying");
                None
            }
            Err(_) => None,
        };
        let feed = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut connected = first;
            loop {
                let listener = match connected.take() {
                    Some(l) => l,
                    None => match subscribe(&url).await {
                        Ok(l) => {
                            // Whatever happened while not listening is unknown.
                            memory.forget(true).await;
                            feed.0.connected.store(true, Ordering::SeqCst);
                            l
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change feed cannot connect; retrying");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    },
                };
                if let Err(e) = feed.listen(listener, &memory, ttl * 3).await {
                    tracing::warn!(error = %e, "change feed lost; reconnecting (caches dropped meanwhile)");
                    feed.0.connected.store(false, Ordering::SeqCst);
                    memory.forget(true).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }));
    }

    /// Whether this replica currently hears other replicas' changes (always
    /// true on a single-node store).
    pub fn connected(&self) -> bool {
        self.0.db.engine() != Engine::Postgres || self.0.connected.load(Ordering::SeqCst)
    }

    /// One session of LISTEN: returns Err when the connection failed (the
    /// caller reconnects); the task is aborted when the core stops.
    async fn listen(
        &self,
        mut listener: sqlx::postgres::PgListener,
        memory: &Memory,
        silence: Duration,
    ) -> Result<()> {
        loop {
            // try_recv answers None when the connection was lost (and re-made):
            // notices sent in between are gone, so treat it as a gap.
            // The replica pings itself every safety TTL; hearing nothing at all
            // for three of them means the connection hung (half-open TCP).
            let heard = tokio::time::timeout(silence, listener.try_recv())
                .await
                .map_err(|_| {
                    Error::internal("listening for changes", "the change feed went silent")
                })?;
            let Some(notification) = heard? else {
                return Err(Error::internal(
                    "listening for changes",
                    "listening connection lost",
                ));
            };
            match serde_json::from_str::<Notice>(notification.payload()) {
                Ok(n) if n.from == self.0.instance_id => {}
                Ok(n) => memory.apply(n.change).await,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable change notice; dropping caches");
                    memory.forget(true).await;
                }
            }
        }
    }
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
