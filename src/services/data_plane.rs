//! The data plane: a customer's API key opens a namespace, the plan's limits
//! admit the request, the response cache answers, and usage is recorded. Every
//! step reads memory only once warm; nothing here waits on a database write.

use super::changes::{Change, ChangeFeed};
use super::keys::Keys;
use super::limits::{Admission, EffectiveLimits, LimitState, Limits, Overall, SubjectState};
use super::plans::Plans;
use super::response_cache::{entry_digest, CacheEntry, ResponseCache, Stored};
use super::usage::UsageSink;
use super::{now, Error, Result};
use crate::crypto::api_key::{KeyDigest, PlainApiKey};
use crate::db::{self, Db};
use crate::domain::api_key::VerifyCode;
use crate::domain::cache::canonical_identity;
use crate::domain::ids::{KeyId, NamespaceName, TenantId};
use crate::domain::limits::{LimitExceeded, LimitKind};
use crate::domain::usage::{Operation, UsageRecord};
use chrono::{DateTime, Duration, Utc};
use dashmap::DashMap;
use governor::DefaultDirectRateLimiter;
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;

/// A key's right to one namespace, with the limits that apply and the
/// counters they are checked against. Built once per (secret, namespace) by a
/// full verification, then kept in memory until anything it was derived from
/// changes (see `DataPlane::open`), so a warm request looks up one entry.
#[derive(Debug)]
pub struct Access {
    pub key_id: KeyId,
    pub key_tenant: TenantId,
    /// The tenant owning the namespace: usage and limits are its own.
    pub owner: TenantId,
    pub namespace: NamespaceName,
    pub limits: EffectiveLimits,
    state: Arc<SubjectState>,
    per_second: Arc<DefaultDirectRateLimiter>,
    /// The key's overall limits (all its tenants together), if it has them.
    overall: Option<Overall>,
    /// The labels of its usage records, shared rather than copied per request.
    labels: [Arc<str>; 3],
    /// When the secret (or the key) stops being accepted.
    valid_until: Option<DateTime<Utc>>,
    /// The change generation it was verified at.
    generation: u64,
}

impl Access {
    pub(super) fn usable(&self, generation: u64, now: DateTime<Utc>) -> bool {
        self.generation == generation && self.valid_until.is_none_or(|end| now < end)
    }
}

/// The identity of a cache entry.
pub struct EntryIdentity<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub messages: &'a Value,
}

impl EntryIdentity<'_> {
    fn digest(&self) -> [u8; 32] {
        entry_digest(&canonical_identity(
            self.provider,
            self.model,
            self.messages,
        ))
    }
}

fn refuse(code: VerifyCode) -> Result<()> {
    if code.is_valid() {
        Ok(())
    } else {
        Err(refusal(code))
    }
}

/// The error for a key that is not accepted.
fn refusal(code: VerifyCode) -> Error {
    let (status_401, code, message) = match code {
        VerifyCode::Valid | VerifyCode::Malformed | VerifyCode::NotFound => {
            (true, "INVALID_API_KEY", "the API key is not valid")
        }
        VerifyCode::Expired => (true, "KEY_EXPIRED", "the API key has expired"),
        VerifyCode::Disabled => (false, "KEY_DISABLED", "the API key is disabled"),
        VerifyCode::Revoked => (true, "KEY_REVOKED", "the API key was revoked"),
        VerifyCode::ForbiddenNamespace => (
            false,
            "FORBIDDEN_NAMESPACE",
            "the API key may not touch this namespace",
        ),
    };
    let message = message.to_string();
    if status_401 {
        Error::Unauthenticated { code, message }
    } else {
        Error::Forbidden { code, message }
    }
}

/// What serving one data-plane request amounted to.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    pub operation: Operation,
    /// For gets: whether the entry was served from cache.
    pub hit: Option<bool>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub latency_us: i64,
    pub status: u16,
}

/// A key's bound on requests whose bodies are still to be read (see
/// `DataPlane::admit_upload`); rebuilt a minute after a plan change at most.
pub struct UploadGate {
    per_second: DefaultDirectRateLimiter,
    per_second_limit: i64,
    concurrent: i64,
    in_flight: Arc<std::sync::atomic::AtomicI64>,
}

impl UploadGate {
    fn new(per_second: i64, concurrent: i64) -> Self {
        let n = std::num::NonZeroU32::new(u32::try_from(per_second.max(1)).unwrap_or(u32::MAX))
            .expect("at least 1");
        Self {
            per_second: governor::RateLimiter::direct(governor::Quota::per_second(n)),
            per_second_limit: per_second,
            concurrent,
            in_flight: Arc::default(),
        }
    }

    fn enter(&self) -> Result<UploadSlot> {
        use std::sync::atomic::Ordering;
        let slot = UploadSlot(self.in_flight.clone());
        if self.in_flight.fetch_add(1, Ordering::SeqCst) + 1 > self.concurrent {
            return Err(Error::Limit(crate::domain::limits::LimitExceeded {
                kind: crate::domain::limits::LimitKind::Concurrent,
                limit: self.concurrent,
                remaining: 0,
                reset_seconds: 1,
            }));
        }
        if self.per_second.check().is_err() {
            return Err(Error::Limit(crate::domain::limits::LimitExceeded {
                kind: crate::domain::limits::LimitKind::PerSecond,
                limit: self.per_second_limit,
                remaining: 0,
                reset_seconds: 1,
            }));
        }
        Ok(slot)
    }
}

/// A place among a key's requests in flight, given back when dropped.
pub struct UploadSlot(Arc<std::sync::atomic::AtomicI64>);

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What `admit_upload` grants: the body size allowed, and the place held
/// until the request is done.
pub struct UploadPass {
    pub max_payload: i64,
    _in_flight: UploadSlot,
}

/// Every limit of a tenant, as reported by `GET /api/ratelimit/{tenant}`.
pub struct TenantLimits {
    pub plan: crate::domain::plan::Plan,
    pub storage: Storage,
    pub subjects: Vec<SubjectLimits>,
}

/// The bytes a tenant's cached responses take in the store, and its plan's quota.
#[derive(Debug, Clone, Copy)]
pub struct Storage {
    pub used_bytes: i64,
    pub quota_bytes: i64,
}

/// One subject's limits.
#[derive(Debug, Clone)]
pub struct SubjectLimits {
    pub key_id: KeyId,
    pub key_tenant: TenantId,
    pub pooled: bool,
    pub per_second: LimitState,
    pub monthly: LimitState,
    pub concurrent: LimitState,
    pub max_payload_bytes: i64,
    /// The key's overall per-second figure and monthly quota (every tenant
    /// it serves together), where it has them.
    pub overall_per_second: Option<LimitState>,
    pub overall_monthly: Option<LimitState>,
}

/// The data-plane service: opens namespaces with presented keys, admits
/// requests under their limits, serves the response cache, records usage.
#[derive(Clone)]
pub struct DataPlane(Arc<State>);

/// The data plane's collaborators, as wired by the core.
pub struct Parts {
    pub db: Db,
    pub keys: Keys,
    pub plans: Plans,
    pub limits: Limits,
    pub responses: Arc<ResponseCache>,
    pub usage: Arc<UsageSink>,
    pub feed: ChangeFeed,
    /// Quota and storm events from what requests meet.
    pub signals: super::events::Signals,
    /// Tenants refused for their spent budget.
    pub budgets: super::budgets::BudgetGate,
    pub metrics: super::metrics::Metrics,
}

struct State {
    parts: Parts,
    /// (secret digest, namespace) -> a verified right to the namespace.
    grants: DashMap<(KeyDigest, NamespaceName), Arc<Access>>,
    /// Per key: requests admitted before their bodies are read.
    upload_gates: moka::future::Cache<KeyId, Arc<UploadGate>>,
}

impl std::ops::Deref for DataPlane {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0.parts
    }
}

impl DataPlane {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(State {
            parts,
            grants: DashMap::new(),
            upload_gates: moka::future::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(std::time::Duration::from_secs(60))
                .build(),
        }))
    }

    /// Frees grants that can no longer be used (expired secrets, or derived
    /// from keys, tenants or plans that changed since).
    pub fn drop_stale_grants(&self, now: DateTime<Utc>) {
        let generation = self.keys.change_generation();
        self.0.grants.retain(|_, a| a.usable(generation, now));
    }

    /// The payload limit every plan allows (checked before a body is read).
    pub fn smallest_payload_limit(&self) -> i64 {
        self.plans.smallest_payload_limit()
    }

    /// Admits a data-plane request before its body is read: the key is
    /// verified (a bad key is refused at once), then passes its upload gate,
    /// which holds the key to twice its plan's per-second and concurrency
    /// figures on this replica, so a key cannot push more uploads at once
    /// than that however slowly it sends them. (The exact limits apply once
    /// the body names the namespace, whose owner's plan decides.) Returns the
    /// largest body the key may send, and its place among the key's
    /// requests in flight.
    ///
    /// A refusal here is recorded as usage like any other (status 429),
    /// under the key's own tenant and an empty namespace (none is known yet).
    pub async fn admit_upload(&self, presented: &str, operation: Operation) -> Result<UploadPass> {
        let v = self.keys.verify(presented, None).await?;
        refuse(v.code)?;
        let (Some(plan), Some(key_id), Some(tenant)) = (v.plan, v.key_id, v.tenant_id) else {
            return Err(Error::Store(sqlx::Error::RowNotFound));
        };
        let limits = self.plans.plan_limits(plan);
        let gate = self
            .0
            .upload_gates
            .get_with(key_id.clone(), async {
                Arc::new(UploadGate::new(
                    2 * limits.requests_per_second,
                    2 * limits.concurrent_requests,
                ))
            })
            .await;
        let in_flight = gate.enter().inspect_err(|_| {
            self.usage.record(UsageRecord {
                at: now(),
                key_id: Arc::from(key_id.as_str()),
                tenant_id: Arc::from(tenant.as_str()),
                namespace: Arc::from(""),
                operation,
                hit: None,
                bytes_in: 0,
                bytes_out: 0,
                latency_us: 0,
                status: 429,
            })
        })?;
        Ok(UploadPass {
            max_payload: limits.max_payload_bytes,
            _in_flight: in_flight,
        })
    }

    /// Opens `namespace` with a presented key: 401 / 403 unless the key is
    /// valid and its scope covers the namespace. Warm, this is one keyed HMAC
    /// and one map lookup; cold (or after any change to keys, tenants or
    /// plans), a full verification whose result is kept for the next request.
    pub async fn open(&self, presented: &str, namespace: NamespaceName) -> Result<Arc<Access>> {
        let Ok(plain) = PlainApiKey::parse(presented) else {
            return Err(refusal(VerifyCode::Malformed));
        };
        let digest = self.keys.digest(&plain);
        let generation = self.keys.change_generation();
        let grant = (digest, namespace);
        if let Some(access) = self.0.grants.get(&grant) {
            if access.usable(generation, Utc::now()) {
                return Ok(access.clone());
            }
        }
        let (digest, namespace) = grant;
        let v = self
            .keys
            .verify_digest(&digest, Some(namespace.clone()))
            .await?;
        refuse(v.code)?;
        let (Some(key_id), Some(key_tenant), Some(owner), Some(owner_plan)) = (
            v.key_id,
            v.tenant_id,
            v.namespace_tenant_id,
            v.namespace_plan,
        ) else {
            return Err(Error::Store(sqlx::Error::RowNotFound));
        };
        let dedicated = owner == key_tenant;
        let limits = self.limits.on_this_replica(EffectiveLimits::new(
            self.plans.plan_limits(owner_plan),
            v.rate_limit,
            dedicated,
        ));
        let state = self
            .limits
            .subject_state(&(key_id.clone(), owner.clone()))
            .await?;
        let overall = self.limits.overall(&key_id, v.overall).await?;
        let access = Arc::new(Access {
            overall,
            per_second: state.rate_limiter(limits.per_second),
            state,
            labels: [
                Arc::from(key_id.as_str()),
                Arc::from(owner.as_str()),
                Arc::from(namespace.as_str()),
            ],
            limits,
            key_id,
            key_tenant,
            owner,
            namespace: namespace.clone(),
            valid_until: v.valid_until,
            generation,
        });
        // Kept only if nothing changed while it was verified.
        if self.keys.change_generation() == generation {
            self.0.grants.insert((digest, namespace), access.clone());
        }
        Ok(access)
    }

    /// Admits a request of `payload` bytes under the access's limits.
    pub async fn admit(&self, access: &Access, payload: i64) -> Result<Admission> {
        if self.budgets.refuses(access.owner.as_str()) {
            return Err(super::budgets::BudgetGate::refusal(access.owner.as_str()));
        }
        let admitted = self
            .limits
            .admit(
                (&access.key_id, &access.owner),
                &access.state,
                &access.per_second,
                &access.limits,
                access.overall.as_ref(),
                payload,
            )
            .await;
        let owner = access.owner.as_str();
        match &admitted {
            Ok(a) => self.signals.monthly_use(
                owner,
                a.monthly_limit - a.monthly_remaining,
                a.monthly_limit,
                Utc::now(),
            ),
            Err(Error::Limit(l)) => match l.kind {
                LimitKind::Monthly => self.signals.quota_refused(owner, l.limit, Utc::now()),
                LimitKind::PerSecond | LimitKind::Concurrent => {
                    self.signals.burst_refused(owner, l.kind.code(), Utc::now())
                }
                _ => {}
            },
            Err(_) => {}
        }
        admitted
    }

    pub async fn cache_get(
        &self,
        access: &Access,
        identity: &EntryIdentity<'_>,
    ) -> Result<Option<Arc<CacheEntry>>> {
        Ok(self
            .responses
            .get(&self.db, &access.namespace, identity.digest(), now())
            .await?)
    }

    pub async fn cache_set(
        &self,
        access: &Access,
        identity: &EntryIdentity<'_>,
        response: Box<RawValue>,
        ttl: Duration,
    ) -> Result<Arc<CacheEntry>> {
        let now = now();
        let stored = self
            .responses
            .set(
                &self.db,
                &access.namespace,
                identity.digest(),
                identity.provider,
                identity.model,
                response,
                now,
                now + ttl,
                access.limits.max_cached,
            )
            .await?;
        match stored {
            Stored::Entry(entry) => Ok(entry),
            Stored::OverQuota { available } => Err(Error::Limit(LimitExceeded {
                kind: LimitKind::Storage,
                limit: access.limits.max_cached,
                remaining: available,
                reset_seconds: 0,
            })),
        }
    }

    /// Removes one entry, or with no identity the whole namespace; returns how many.
    pub async fn cache_invalidate(
        &self,
        access: &Access,
        identity: Option<&EntryIdentity<'_>>,
    ) -> Result<u64> {
        let cache = &self.responses;
        let removed = match identity {
            Some(id) => {
                cache
                    .invalidate(&self.db, &access.namespace, id.digest())
                    .await? as u64
            }
            None => {
                cache
                    .invalidate_namespace(&self.db, &access.namespace)
                    .await?
            }
        };
        self.feed
            .announce(Change::Responses {
                namespace: access.namespace.to_string(),
                digest: identity.map(|id| hex::encode(id.digest())),
            })
            .await;
        Ok(removed)
    }

    /// Hands the request's usage record, attributed to the namespace's
    /// tenant, to the batch writer (never blocks).
    pub fn record_usage(&self, access: &Access, served: Served) {
        if let Some(hit) = served.hit {
            self.metrics.cache_lookup(
                hit,
                if hit {
                    served.bytes_out.max(0) as u64
                } else {
                    0
                },
            );
        }
        self.usage.record(UsageRecord {
            at: now(),
            key_id: access.labels[0].clone(),
            tenant_id: access.labels[1].clone(),
            namespace: access.labels[2].clone(),
            operation: served.operation,
            hit: served.hit,
            bytes_in: served.bytes_in,
            bytes_out: served.bytes_out,
            latency_us: served.latency_us,
            status: served.status,
        });
    }

    /// Every limit that applies to a tenant's namespaces: one subject per key
    /// that can reach them (its own keys, and pooled keys over its namespaces).
    pub async fn rate_limits(&self, tenant: &TenantId) -> Result<TenantLimits> {
        let t = self.keys.require_tenant(tenant).await?;
        let (namespaces, keys, cached_bytes) = {
            let mut conn = self.db.pool().acquire().await?;
            (
                db::namespaces::list_for_tenant(&mut conn, tenant).await?,
                db::keys::list(&mut conn, None).await?,
                db::tenants::cached_bytes(&mut conn, tenant).await?,
            )
        };
        let plan = self.plans.plan_limits(t.plan);
        let mut out = Vec::new();
        for key in keys {
            let own = key.tenant_id == *tenant;
            if !own && !namespaces.iter().any(|ns| key.allows(&ns.name)) {
                continue;
            }
            let limits = EffectiveLimits::new(plan, key.rate_limit, own);
            let subject = (key.id.clone(), tenant.clone());
            let [per_second, monthly, concurrent] = self.limits.report(&subject, &limits).await?;
            let (overall_per_second, overall_monthly) = match key.overall.effective() {
                Some(overall) => {
                    let every = (key.id.clone(), TenantId::every());
                    let [s, m, _] = self.limits.report(&every, &overall).await?;
                    (
                        key.overall.requests_per_second.map(|_| s),
                        key.overall.requests_per_month.map(|_| m),
                    )
                }
                None => (None, None),
            };
            out.push(SubjectLimits {
                overall_per_second,
                overall_monthly,
                key_id: key.id,
                key_tenant: key.tenant_id,
                pooled: !own,
                per_second,
                monthly,
                concurrent,
                max_payload_bytes: limits.max_payload,
            });
        }
        Ok(TenantLimits {
            plan: t.plan,
            storage: Storage {
                used_bytes: cached_bytes,
                quota_bytes: plan.max_cached_bytes,
            },
            subjects: out,
        })
    }
}
