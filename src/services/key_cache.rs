//! In-memory state that keeps verification off the database after the first
//! lookup. Loads are single-flight: a burst of requests for one uncached key
//! makes one database read. Every change to a key invalidates its entry before
//! the change's response is sent, and a load that raced an invalidation is
//! thrown away (per-key generations), so the next verify always sees it.

use crate::crypto::api_key::KeyDigest;
use crate::domain::api_key::ApiKey;
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

pub struct KeyCache {
    /// digest -> (key, version). Immutable facts: a digest never changes owner.
    pub owners: Cache<KeyDigest, (KeyId, i64)>,
    pub keys: Cache<KeyId, Arc<CachedKey>>,
    /// namespace -> owning tenant. Namespaces never change owner.
    pub namespaces: Cache<NamespaceName, TenantId>,
    pub tenants: Cache<TenantId, Arc<Tenant>>,
    key_generations: DashMap<KeyId, u64>,
    /// Bumped by tenant-wide changes, which may affect every key.
    global_generation: AtomicU64,
    /// Reads of the store made to fill these caches (for the stats endpoint).
    pub store_reads: AtomicU64,
}

impl KeyCache {
    pub fn new() -> Self {
        Self {
            owners: Cache::new(500_000),
            keys: Cache::new(200_000),
            namespaces: Cache::new(500_000),
            tenants: Cache::new(200_000),
            key_generations: DashMap::new(),
            global_generation: AtomicU64::new(0),
            store_reads: AtomicU64::new(0),
        }
    }

    pub fn count_store_read(&self) {
        self.store_reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn generation(&self, id: &KeyId) -> u64 {
        let own = self.key_generations.get(id).map(|g| *g).unwrap_or(0);
        own.wrapping_add(self.global_generation.load(Ordering::SeqCst) << 32)
    }

    pub async fn invalidate_key(&self, id: &KeyId) {
        *self.key_generations.entry(id.clone()).or_insert(0) += 1;
        self.keys.invalidate(id).await;
    }

    /// After a tenant-wide change (suspension, plan), every key may be affected.
    pub fn invalidate_tenants(&self) {
        self.global_generation.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate_all();
        self.tenants.invalidate_all();
    }
}
