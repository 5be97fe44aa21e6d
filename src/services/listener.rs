//! Applying the other replicas' changes (PostgreSQL): LISTEN on the change
//! feed's channel, drop from memory what each notice names, and the two
//! nets (a gap in listening drops everything; every safety TTL drops keys,
//! tenants and grants and reloads plans anyway).

use super::changes::{Change, ChangeFeed, Notice, CHANNEL};
use super::keys::Keys;
use super::plans::Plans;
use super::response_cache::ResponseCache;
use super::{Error, Result, Tasks};
use crate::domain::ids::{KeyId, NamespaceName};
use std::sync::Arc;
use std::time::Duration;

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

/// Listens for other replicas' changes (PostgreSQL only) and runs the
/// safety TTL; both stop with the core. The first connection is made
/// before the core serves (so nothing it caches predates listening);
/// if it cannot be made, the feed keeps trying in the background.
pub(crate) async fn start(
    feed: &ChangeFeed,
    memory: Memory,
    url: Option<String>,
    ttl: Duration,
    tasks: &Tasks,
) {
    if !feed.on_postgres() {
        return;
    }
    let safety_memory = memory.clone();
    let safety_feed = feed.clone();
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(ttl);
        tick.tick().await;
        loop {
            tick.tick().await;
            safety_memory.forget(false).await;
            safety_feed.announce(Change::Ping).await;
        }
    }));
    let Some(url) = url else { return };
    let first = match tokio::time::timeout(Duration::from_secs(10), subscribe(&url)).await {
        Ok(Ok(listener)) => {
            // Plans were read before listening: read them again.
            if let Err(e) = memory.plans.reload().await {
                tracing::warn!(error = %e, "reloading plans failed");
            }
            feed.set_connected(true);
            Some(listener)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "change feed not connected yet; retrying");
            None
        }
        Err(_) => None,
    };
    let feed = feed.clone();
    tasks.push(tokio::spawn(async move {
        let mut connected = first;
        loop {
            let listener = match connected.take() {
                Some(l) => l,
                None => match subscribe(&url).await {
                    Ok(l) => {
                        // Whatever happened while not listening is unknown.
                        memory.forget(true).await;
                        feed.set_connected(true);
                        l
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change feed cannot connect; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                },
            };
            if let Err(e) = listen(&feed, listener, &memory, ttl * 3).await {
                tracing::warn!(error = %e, "change feed lost; reconnecting (caches dropped meanwhile)");
                feed.set_connected(false);
                memory.forget(true).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }));
}

/// One session of LISTEN: returns Err when the connection failed (the
/// caller reconnects); the task is aborted when the core stops.
async fn listen(
    feed: &ChangeFeed,
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
            .map_err(|_| Error::internal("listening for changes", "the change feed went silent"))?;
        let Some(notification) = heard? else {
            return Err(Error::internal(
                "listening for changes",
                "listening connection lost",
            ));
        };
        let notice = serde_json::from_str::<Notice>(notification.payload());
        if let Ok(n) = &notice {
            feed.heard(n);
        }
        match notice {
            Ok(n) if feed.is_own(&n) => {}
            Ok(n) => memory.apply(n.change).await,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable change notice; dropping caches");
                memory.forget(true).await;
            }
        }
    }
}

async fn subscribe(url: &str) -> Result<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
