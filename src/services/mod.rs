//! Use cases: provision, verify, rotate, disable and enable keys; tenants,
//! namespaces and the audit trail. The only layer that touches `db` and
//! `crypto`; it knows nothing of HTTP, HTML or the terminal.

pub mod admins;
pub mod audit;
pub mod billing;
pub mod changes;
pub mod costs;
pub mod dashboard;
pub mod data_plane;
mod key_cache;
pub mod keys;
pub mod limits;
pub mod plans;
pub mod providers;
pub mod response_cache;
pub mod shared_limits;
pub mod store_limits;
pub mod tenants;
pub mod usage;
pub mod vault;

use crate::crypto::api_key::KeyHasher;
use crate::db::Db;
use crate::domain::plan::{Plan, PlanLimits};
use crate::domain::ValidationError;
use chrono::{DateTime, SubsecRound, Utc};
use key_cache::KeyCache;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The application core every adapter (REST API, server functions, CLI) calls.
#[derive(Clone)]
pub struct Keyward {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    hasher: KeyHasher,
    keys: KeyCache,
    limiter: limits::Limiter,
    responses: response_cache::ResponseCache,
    usage: Arc<usage::UsageSink>,
    vault: vault::Vault,
    billing: billing::BillingOptions,
    sign_in_limits: admins::SignInLimits,
    refusal_audit: audit::RefusalAudit,
    /// Per key: requests admitted before their bodies are read.
    upload_gates: moka::future::Cache<crate::domain::ids::KeyId, Arc<data_plane::UploadGate>>,
    /// Plan limits as stored; read on every data-plane request, so kept in memory.
    plans: RwLock<HashMap<Plan, PlanLimits>>,
    /// The smallest payload limit of any plan, kept beside `plans`.
    smallest_payload: std::sync::atomic::AtomicI64,
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// This process among the replicas (its own change notices are skipped).
    instance_id: u64,
    /// Whether the change feed's listening connection is up (PostgreSQL).
    feed_connected: std::sync::atomic::AtomicBool,
    /// Limits shared by the replicas, when Redis is configured.
    shared_limits: Option<shared_limits::SharedLimits>,
    /// Limits shared through PostgreSQL, when there is no Redis.
    store_limits: Option<store_limits::StoreLimits>,
}

/// Counters for operators (and for tests of the caches' behaviour).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Stats {
    /// Store reads made to fill the key caches (digests, keys, tenants, namespaces).
    pub key_store_reads: u64,
    /// Usage records dropped because the writer's queue was full.
    pub usage_records_dropped: u64,
    /// Bytes held by the response cache's memory tier.
    pub cache_memory_bytes: u64,
}

/// Tunables and collaborators of the core.
pub struct CoreOptions {
    /// Bytes the in-memory tier of the response cache may hold.
    pub cache_memory_bytes: u64,
    /// The vault's master keys.
    pub keyring: Arc<crate::crypto::vault::Keyring>,
    /// The AI provider adapters.
    pub providers: Arc<providers::Providers>,
    /// Invoice booking and the Xero client.
    pub billing: billing::BillingOptions,
    /// Redis for limits shared by replicas (`KEYWARD_REDIS_URL`).
    pub redis_url: Option<String>,
    /// With several replicas (PostgreSQL): the longest anything another
    /// replica changed can stay cached here if a change notice is lost.
    pub change_ttl: std::time::Duration,
    /// PostgreSQL without Redis: how often replicas sync their limit counters.
    pub limit_sync: std::time::Duration,
    /// Password checks (argon2id) that may run at once.
    pub sign_in_concurrency: usize,
}

impl Keyward {
    /// Builds the core over a migrated store and starts its background work
    /// (usage writer, expired-entry reclaimer).
    pub async fn start(db: Db, hasher: KeyHasher, options: CoreOptions) -> Result<Self> {
        let plans = {
            let mut conn = db.pool().acquire().await?;
            crate::db::plans::all(&mut conn).await?
        };
        let engine = db.engine();
        let core = Self {
            inner: Arc::new(Inner {
                usage: usage::UsageSink::start(db.clone()),
                vault: vault::Vault {
                    keyring: options.keyring,
                    providers: options.providers,
                },
                billing: options.billing,
                sign_in_limits: admins::SignInLimits::new(options.sign_in_concurrency),
                refusal_audit: audit::RefusalAudit::default(),
                upload_gates: moka::future::Cache::builder()
                    .max_capacity(200_000)
                    .time_to_live(std::time::Duration::from_secs(60))
                    .build(),
                db,
                hasher,
                keys: KeyCache::new(),
                limiter: limits::Limiter::new(),
                responses: response_cache::ResponseCache::new(
                    options.cache_memory_bytes,
                    (engine == crate::db::Engine::Postgres).then_some(options.change_ttl),
                ),
                smallest_payload: std::sync::atomic::AtomicI64::new(plans::smallest_payload(
                    &plans,
                )),
                plans: RwLock::new(plans),
                background: std::sync::Mutex::new(Vec::new()),
                instance_id: {
                    let mut b = [0u8; 8];
                    getrandom::fill(&mut b).expect("system randomness");
                    u64::from_le_bytes(b)
                },
                feed_connected: std::sync::atomic::AtomicBool::new(false),
                store_limits: (engine == crate::db::Engine::Postgres
                    && options.redis_url.is_none())
                .then(|| store_limits::StoreLimits::new(options.limit_sync)),
                shared_limits: match options.redis_url {
                    Some(url) => Some(shared_limits::SharedLimits::connect(&url).map_err(|e| {
                        Error::Unavailable {
                            code: "REDIS_URL_INVALID",
                            message: format!("KEYWARD_REDIS_URL: {e}"),
                        }
                    })?),
                    None => None,
                },
            }),
        };
        core.spawn_maintenance();
        core.start_change_feed(
            (core.db().engine() == crate::db::Engine::Postgres)
                .then(|| core.db().url().to_string()),
            options.change_ttl,
        )
        .await;
        core.spawn_store_limits();
        if let Some(shared) = &core.inner.shared_limits {
            let task = shared.spawn_health_check();
            core.inner.background.lock().expect("tasks").push(task);
        }
        Ok(core)
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Operational counters.
    pub fn stats(&self) -> Stats {
        Stats {
            key_store_reads: self
                .inner
                .keys
                .store_reads
                .load(std::sync::atomic::Ordering::Relaxed),
            usage_records_dropped: self.inner.usage.dropped(),
            cache_memory_bytes: self.inner.responses.memory_bytes(),
        }
    }

    /// Graceful shutdown: writes every queued usage record and stops background work.
    pub async fn shutdown(&self) {
        self.inner.usage.stop().await;
        self.leave_store_limits().await;
        if let Err(e) = self.apply_cost_rollups().await {
            tracing::warn!(error = %e, "cost rollups left queued at shutdown (applied on the next start)");
        }
        let tasks: Vec<_> = self
            .inner
            .background
            .lock()
            .expect("tasks")
            .drain(..)
            .collect();
        for t in tasks {
            t.abort();
        }
    }

    fn spawn_maintenance(&self) {
        // Hold only a weak reference so the task never keeps the core alive.
        let weak = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                inner.keys.drop_stale_grants(now());
                inner.sign_in_limits.forget_idle();
                if let Ok(mut conn) = inner.db.pool().acquire().await {
                    if let Err(e) =
                        crate::db::admins::delete_expired_flashes(&mut conn, now()).await
                    {
                        tracing::warn!(error = %e, "dropping unseen secret flashes failed");
                    }
                    match crate::db::cache::delete_expired(&mut conn, now()).await {
                        Ok(n) if n > 0 => {
                            tracing::debug!(removed = n, "expired cache entries reclaimed")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "reclaiming expired cache entries failed")
                        }
                    }
                }
            }
        });
        self.inner.background.lock().expect("tasks").push(task);
        // Ingested events reach the cost rollups within a second.
        let weak = Arc::downgrade(&self.inner);
        let rollups = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let core = Keyward { inner };
                if let Err(e) = core.apply_cost_rollups().await {
                    tracing::warn!(error = %e, "applying cost rollups failed; will retry");
                }
            }
        });
        self.inner.background.lock().expect("tasks").push(rollups);
    }
}

/// The errors a use case can end in. The HTTP edge maps each to a status in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// No valid credential (401).
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// A valid credential without the right (403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Something the use case depends on (a provider, the keyring) did not answer (503).
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// The server is at a bound it keeps (password checks running, request
    /// bodies held in memory): 503 with Retry-After, nothing done.
    #[error("{message}")]
    Busy {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// Too many attempts of something guarded (sign-in): 429 with Retry-After.
    #[error("{message}")]
    TooManyAttempts {
        code: &'static str,
        message: String,
        retry_after_secs: u64,
    },
    /// A plan limit refused the request (429, or 413 for size).
    #[error("{} limit reached", .0.kind.code())]
    Limit(crate::domain::limits::LimitExceeded),
    #[error("storage failure: {0}")]
    Store(#[from] sqlx::Error),
    /// A failure of keyward itself, not of the request or the store (a
    /// worker task that died, a load that never settled): 500, logged with
    /// what was being done.
    #[error("internal failure while {context}: {detail}")]
    Internal {
        context: &'static str,
        detail: String,
    },
}

impl Error {
    pub(crate) fn internal(context: &'static str, detail: impl ToString) -> Self {
        Self::Internal {
            context,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The current time at the precision the store keeps (microseconds), so a
/// value returned to a caller equals the one read back later.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl Keyward {
    /// How limits are counted now: shared (Redis), local while Redis is
    /// unreachable, or local by configuration.
    pub fn limits_health(&self) -> serde_json::Value {
        match (&self.inner.shared_limits, &self.inner.store_limits) {
            (Some(s), _) => serde_json::json!(s.health()),
            (None, Some(s)) => s.health(),
            (None, None) => serde_json::json!({ "mode": "local", "redis": "not configured" }),
        }
    }

    /// What `/readyz` reports.
    pub async fn readiness(&self) -> Readiness {
        let (database, migrations) = match self.db().migrations_current().await {
            Ok(true) => ("ok", "current"),
            Ok(false) => ("ok", "pending"),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database does not answer");
                ("unreachable", "unknown")
            }
        };
        Readiness {
            status: if database == "ok" && migrations == "current" {
                "ready"
            } else {
                "unavailable"
            },
            database,
            engine: match self.db().engine() {
                crate::db::Engine::Sqlite => "sqlite",
                crate::db::Engine::Postgres => "postgres",
            },
            migrations,
            change_feed: match self.db().engine() {
                crate::db::Engine::Sqlite => "single node",
                crate::db::Engine::Postgres if self.change_feed_connected() => "listening",
                crate::db::Engine::Postgres => "reconnecting",
            },
            limits: self.limits_health(),
        }
    }
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
