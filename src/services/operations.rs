//! Operating the core: readiness (`/readyz`), health counters (`/healthz`,
//! stats), and the housekeeping that keeps the store tidy.

use super::changes::ChangeFeed;
use super::keys::Keys;
use super::limits::Limits;
use super::response_cache::ResponseCache;
use super::usage::UsageSink;
use super::{now, Stats};
use crate::db::{self, Db, Engine};
use std::sync::Arc;

/// The operations service.
#[derive(Clone)]
pub struct Operations(Arc<Parts>);

/// What operations reports on, as wired by the core.
pub struct Parts {
    pub db: Db,
    pub keys: Keys,
    pub limits: Limits,
    pub responses: Arc<ResponseCache>,
    pub usage: Arc<UsageSink>,
    pub feed: ChangeFeed,
}

/// The readiness report of `/readyz`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub engine: &'static str,
    pub migrations: &'static str,
    pub change_feed: &'static str,
    pub limits: serde_json::Value,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.status == "ready"
    }
}

impl Operations {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(parts))
    }

    /// Operational counters.
    pub fn stats(&self) -> Stats {
        Stats {
            key_store_reads: self.0.keys.store_reads(),
            usage_records_dropped: self.0.usage.dropped(),
            cache_memory_bytes: self.0.responses.memory_bytes(),
        }
    }

    /// What `/metrics` samples when scraped.
    pub async fn sampled(&self, webhook_queue_depth: i64) -> super::metrics::Sampled {
        super::metrics::Sampled {
            usage_queue_depth: self.0.usage.queued(),
            usage_records_dropped: self.0.usage.dropped(),
            cache_memory_bytes: self.0.responses.memory_bytes(),
            change_feed_connected: self.0.feed.connected(),
            change_feed_lag_seconds: self.0.feed.lag_seconds(),
            webhook_queue_depth,
        }
    }

    /// How limits are counted now (see `Limits::health`).
    pub fn limits_health(&self) -> serde_json::Value {
        self.0.limits.health()
    }

    /// What `/readyz` reports.
    pub async fn readiness(&self) -> Readiness {
        let (database, migrations) = match self.0.db.migrations_current().await {
            Ok(true) => ("ok", "current"),
            Ok(false) => ("ok", "pending"),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database does not answer");
                ("unreachable", "unknown")
            }
        };
        let engine = self.0.db.engine();
        Readiness {
            status: if database == "ok" && migrations == "current" {
                "ready"
            } else {
                "unavailable"
            },
            database,
            engine: match engine {
                Engine::Sqlite => "sqlite",
                Engine::Postgres => "postgres",
            },
            migrations,
            change_feed: match engine {
                Engine::Sqlite => "single node",
                Engine::Postgres if self.0.feed.connected() => "listening",
                Engine::Postgres => "reconnecting",
            },
            limits: self.0.limits.health(),
        }
    }

    /// Writes every queued usage record and stops the writer (shutdown).
    pub(crate) async fn stop_writing(&self) {
        self.0.usage.stop().await;
    }

    /// Deletes expired cache entries from the store.
    pub(crate) async fn reclaim_expired(&self) {
        let Ok(mut conn) = self.0.db.pool().acquire().await else {
            return;
        };
        match db::cache::delete_expired(&mut conn, now()).await {
            Ok(n) if n > 0 => tracing::debug!(removed = n, "expired cache entries reclaimed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reclaiming expired cache entries failed"),
        }
    }
}
