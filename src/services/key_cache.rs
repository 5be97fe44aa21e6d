//! In-memory state that keeps verification off the database after the first
//! lookup. Loads are single-flight: a burst of requests for one uncached key
//! makes one database read. Every change to a key invalidates its entry before
//! the change's response is sent, and a load that raced an invalidation is
//! thrown away (per-key generations), so the next verify always sees it.
//!
//! Any change to a key, a tenant or a plan bumps one change generation, which
//! retires every verdict (the verify endpoint's remembered answers) and every
//! data-plane grant built on them at once (they are rebuilt from the caches
//! below on the next request); changes are admin actions, rare next to
//! requests, so this costs little and cannot miss a dependency.

use crate::crypto::api_key::KeyDigest;
use crate::domain::api_key::ApiKey;
use crate::domain::api_key::Verification;
use crate::domain::ids::{KeyId, NamespaceName, TenantId};
use crate::domain::tenant::Tenant;
use dashmap::DashMap;
use moka::future::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A key as verification needs it, with its tenant.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub key: ApiKey,
    pub tenant: Tenant,
    /// The generation the key was loaded at; stale when it differs from now.
    pub generation: u64,
}

/// A remembered verification.
#[derive(Debug)]
pub struct Verdict {
    pub verification: Verification,
    pub generation: u64,
}

impl Verdict {
    pub fn usable(&self, generation: u64, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.generation == generation && self.verification.valid_until.is_none_or(|end| now < end)
    }
}

pub struct KeyCache {
    /// digest -> (key, version). Immutable facts: a digest never changes owner.
    pub owners: Cache<KeyDigest, (KeyId, i64)>,
    /// Digests the store does not know (forged or long-deleted keys): refused
    /// again without a store read. Bounded, and cleared whenever a key
    /// changes here or on another replica (the change feed).
    pub unknown: Cache<KeyDigest, ()>,
    pub keys: Cache<KeyId, Arc<CachedKey>>,
    /// namespace -> owning tenant. A namespace never changes owner, but it
    /// can be deleted (and its name taken again): a tenant-wide change drops these.
    pub namespaces: Cache<NamespaceName, TenantId>,
    /// tenant -> (the tenant-wide generation it was loaded at, the tenant).
    pub tenants: Cache<TenantId, Arc<(u64, Arc<Tenant>)>>,
    key_generations: DashMap<KeyId, u64>,
    /// Bumped by tenant-wide changes, which may affect every key.
    global_generation: AtomicU64,
    /// Reads of the store made to fill these caches (for the stats endpoint).
    pub store_reads: AtomicU64,
    /// (secret digest, namespace asked about) -> the verify endpoint's answer.
    pub verdicts: DashMap<(KeyDigest, Option<NamespaceName>), Arc<Verdict>>,
    change_generation: AtomicU64,
}

impl KeyCache {
    pub fn new() -> Self {
        Self {
            owners: Cache::new(500_000),
            unknown: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(std::time::Duration::from_secs(600))
                .build(),
            keys: Cache::new(200_000),
            namespaces: Cache::new(500_000),
            tenants: Cache::new(200_000),
            key_generations: DashMap::new(),
            global_generation: AtomicU64::new(0),
            store_reads: AtomicU64::new(0),
            verdicts: DashMap::new(),
            change_generation: AtomicU64::new(0),
        }
    }

    pub fn change_generation(&self) -> u64 {
        self.change_generation.load(Ordering::SeqCst)
    }

    /// Frees verdicts that can no longer be used (expired secrets, changes).
    pub fn drop_stale_verdicts(&self, now: chrono::DateTime<chrono::Utc>) {
        let generation = self.change_generation();
        self.verdicts.retain(|_, v| v.usable(generation, now));
    }

    /// Retires every verdict and grant: something they may depend on changed.
    pub fn invalidate_grants(&self) {
        self.change_generation.fetch_add(1, Ordering::SeqCst);
        self.verdicts.clear();
    }

    pub fn count_store_read(&self) {
        self.store_reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Bumped by every tenant-wide change (a tenant loaded before is stale).
    pub fn tenants_generation(&self) -> u64 {
        self.global_generation.load(Ordering::SeqCst)
    }

    pub fn generation(&self, id: &KeyId) -> u64 {
        let own = self.key_generations.get(id).map(|g| *g).unwrap_or(0);
        own.wrapping_add(self.global_generation.load(Ordering::SeqCst) << 32)
    }

    pub async fn invalidate_key(&self, id: &KeyId) {
        *self.key_generations.entry(id.clone()).or_insert(0) += 1;
        self.unknown.invalidate_all();
        self.keys.invalidate(id).await;
        self.invalidate_grants();
    }

    /// After a tenant-wide change (suspension, plan), every key may be affected.
    pub fn invalidate_tenants(&self) {
        self.global_generation.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate_all();
        self.tenants.invalidate_all();
        self.namespaces.invalidate_all();
        self.invalidate_grants();
    }
}
