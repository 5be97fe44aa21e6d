//! The use cases, one service per bounded context (keys, tenants, plans,
//! limits, data plane, usage, vault, costs, billing, admins, audit,
//! operations), each a struct holding exactly the collaborators it calls.
//! [`Keyward::start`] builds and wires them once; adapters (REST API, server
//! functions, CLI) take the one service they need. The only layer that
//! touches `db` and `crypto`; it knows nothing of HTTP, HTML or the terminal.

pub mod admins;
pub mod audit;
pub mod billing;
pub mod budgets;
pub mod changes;
pub mod costs;
pub mod data_plane;
pub mod events;
mod job_tasks;
mod key_cache;
pub mod keys;
pub mod limits;
mod listener;
pub mod metrics;
pub mod operations;
pub mod operators;
pub mod plans;
pub mod response_cache;
pub mod retention;
pub mod scheduler;
pub mod tenants;
pub mod usage;
pub mod vault;
mod webhook_targets;
pub mod webhooks;

use crate::crypto::api_key::KeyHasher;
use crate::db::Db;
use crate::domain::ValidationError;
use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;

/// Every bounded context's service, built and wired once (in [`Keyward::start`]).
/// Adapters take the one service they need (`State<Keys>`, `State<Costs>`, ...
/// through `FromRef` on the app state); no service reaches into another's
/// memory, only through its public methods.
#[derive(Clone)]
pub struct Keyward {
    pub keys: keys::Keys,
    pub tenants: tenants::Tenants,
    pub plans: plans::Plans,
    pub limits: limits::Limits,
    pub data_plane: data_plane::DataPlane,
    pub usage: usage::Usage,
    pub vault: vault::Vault,
    pub costs: costs::Costs,
    pub billing: billing::Billing,
    pub admins: admins::Admins,
    pub audit: audit::Audit,
    pub operations: operations::Operations,
    pub operators: operators::Operators,
    pub retention: retention::RetentionTask,
    pub metrics: metrics::Metrics,
    pub webhooks: webhooks::Webhooks,
    pub scheduler: scheduler::Scheduler,
    pub budgets: budgets::Budgets,
    db: Db,
    /// Background work; aborted when the last handle on the core goes.
    tasks: Arc<Tasks>,
}

/// The background tasks of a core: stopped at shutdown, or when the core is dropped.
#[derive(Default)]
pub(crate) struct Tasks(std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>);

impl Tasks {
    pub(crate) fn push(&self, task: tokio::task::JoinHandle<()>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    fn abort_all(&self) {
        let tasks: Vec<_> = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for t in tasks {
            t.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
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
    pub providers: Arc<crate::integrations::providers::Providers>,
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
    /// How long usage and audit records are kept.
    pub retention: crate::domain::retention::Retention,
    /// Previous versions of each provider secret kept sealed for a rollback.
    pub secret_versions_kept: u32,
    /// Webhook retries and polling.
    pub webhooks: webhooks::WebhookOptions,
    /// The job scheduler's tick and leases.
    pub scheduler: scheduler::SchedulerOptions,
}

impl Keyward {
    /// Builds every service over a migrated store, wires them, and starts
    /// their background work (usage writer, reclaimers, change feed, limit sync).
    pub async fn start(db: Db, hasher: KeyHasher, options: CoreOptions) -> Result<Self> {
        let postgres = db.engine() == crate::db::Engine::Postgres;
        let tasks = Arc::new(Tasks::default());
        let feed = changes::ChangeFeed::new(db.clone());
        let operators_hasher = hasher.clone();
        let metrics = metrics::Metrics::new();
        let (events, event_queue) = events::Events::channel(metrics.clone());
        let gate = budgets::BudgetGate::default();
        let keys = keys::Keys::new(db.clone(), hasher, feed.clone(), events.clone());
        let plans = plans::Plans::load(db.clone(), keys.clone(), feed.clone()).await?;
        let limits = limits::Limits::new(
            db.clone(),
            keys.clone(),
            feed.instance_id(),
            options.redis_url.as_deref(),
            postgres.then_some(options.limit_sync),
        )?;
        let responses = Arc::new(response_cache::ResponseCache::new(
            options.cache_memory_bytes,
            postgres.then_some(options.change_ttl),
        ));
        let sink = usage::UsageSink::start(db.clone());
        let audit = audit::Audit::new(db.clone());
        let admins = admins::Admins::new(
            db.clone(),
            options.keyring.clone(),
            options.sign_in_concurrency,
        );
        let costs = costs::Costs::new(db.clone(), keys.clone(), options.retention.usage_event_days);
        let data_plane = data_plane::DataPlane::new(data_plane::Parts {
            db: db.clone(),
            keys: keys.clone(),
            plans: plans.clone(),
            limits: limits.clone(),
            responses: responses.clone(),
            usage: sink.clone(),
            feed: feed.clone(),
            signals: events::Signals::new(events.clone()),
            budgets: gate.clone(),
            metrics: metrics.clone(),
        });
        let webhooks = webhooks::Webhooks::start(
            db.clone(),
            options.keyring.clone(),
            metrics.clone(),
            events.clone(),
            event_queue,
            options.webhooks.clone(),
            &tasks,
        );
        let budgets =
            budgets::Budgets::new(db.clone(), costs.clone(), webhooks.clone(), gate.clone());
        let vault = vault::Vault::new(vault::Parts {
            db: db.clone(),
            keys: keys.clone(),
            audit: audit.clone(),
            keyring: options.keyring,
            providers: options.providers,
            versions_kept: options.secret_versions_kept,
            budgets: gate,
            events: events.clone(),
        });
        let billing = billing::Billing::new(db.clone(), costs.clone(), options.billing, events);
        let retention = retention::RetentionTask::new(db.clone(), options.retention);
        let scheduler = scheduler::Scheduler::new(
            db.clone(),
            job_tasks::Runner {
                db: db.clone(),
                billing: billing.clone(),
                vault: vault.clone(),
                keys: keys.clone(),
                retention: retention.clone(),
                budgets: budgets.clone(),
                costs: costs.clone(),
                webhooks: webhooks.clone(),
                history_days: options.retention.audit_days,
            },
            metrics.clone(),
            options.scheduler.clone(),
        );
        scheduler.seed().await?;
        let core = Self {
            tenants: tenants::Tenants::new(
                db.clone(),
                keys.clone(),
                plans.clone(),
                feed.clone(),
                responses.clone(),
            ),
            usage: usage::Usage::new(db.clone(), keys.clone(), sink.clone()),
            vault,
            billing,
            operations: operations::Operations::new(operations::Parts {
                db: db.clone(),
                keys: keys.clone(),
                limits: limits.clone(),
                responses: responses.clone(),
                usage: sink,
                feed: feed.clone(),
            }),
            operators: operators::Operators::new(db.clone(), operators_hasher, audit.clone()),
            retention,
            metrics,
            webhooks,
            scheduler,
            budgets,
            keys,
            plans,
            limits,
            data_plane,
            costs,
            audit,
            admins,
            db: db.clone(),
            tasks,
        };
        core.spawn_maintenance();
        let memory = listener::Memory {
            keys: core.keys.clone(),
            plans: core.plans.clone(),
            responses,
        };
        listener::start(
            &feed,
            memory,
            postgres.then(|| db.url().to_string()),
            options.change_ttl,
            &core.tasks,
        )
        .await;
        core.limits.spawn_background(&core.tasks);
        core.budgets
            .spawn_refresh(&core.tasks, std::time::Duration::from_secs(5));
        core.scheduler.spawn(&core.tasks);
        Ok(core)
    }

    /// The store every service works on.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Operational counters.
    pub fn stats(&self) -> Stats {
        self.operations.stats()
    }

    /// Graceful shutdown: writes every queued usage record and stops background work.
    pub async fn shutdown(&self) {
        self.operations.stop_writing().await;
        self.limits.leave().await;
        if let Err(e) = self.costs.apply_cost_rollups().await {
            tracing::warn!(error = %e, "cost rollups left queued at shutdown (applied on the next start)");
        }
        self.tasks.abort_all();
    }

    fn spawn_maintenance(&self) {
        let (keys, data_plane, admins, operations, retention) = (
            self.keys.clone(),
            self.data_plane.clone(),
            self.admins.clone(),
            self.operations.clone(),
            self.retention.clone(),
        );
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tick.tick().await;
                keys.drop_stale_verdicts(now());
                data_plane.drop_stale_grants(now());
                admins.forget_idle();
                admins.drop_expired_flashes().await;
                operations.reclaim_expired().await;
                retention.run_when_due(now()).await;
            }
        }));
        // Histogram samples are folded into their buckets every 5 s, whether
        // or not anyone scrapes `/metrics`: memory stays bounded.
        let metrics = self.metrics.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.upkeep();
            }
        }));
        // Ingested events reach the cost rollups within a second.
        let costs = self.costs.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = costs.apply_cost_rollups().await {
                    tracing::warn!(error = %e, "applying cost rollups failed; will retry");
                }
            }
        }));
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
    /// The tenant's budget is spent and capped (402) until the next month or a raise.
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: String },
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
