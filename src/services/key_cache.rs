//! In-memory state that keeps verification off the database after the first
//! lookup. Every change to a key invalidates its entry before the change's
//! response is sent, so the next verify always sees it.

use crate::crypto::api_key::KeyDigest;
use crate::domain::api_key::ApiKey;
use crate::domain::ids::{KeyId, NamespaceName, TenantId};
use crate::domain::plan::Plan;
use crate::domain::tenant::TenantStatus;
use moka::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A key as verification needs it, with its tenant's standing.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub key: ApiKey,
    pub tenant_status: TenantStatus,
    pub plan: Plan,
}

pub struct KeyCache {
    /// digest -> (key, version). Immutable facts: a digest never changes owner.
    owners: Cache<KeyDigest, (KeyId, i64)>,
    keys: Cache<KeyId, Arc<CachedKey>>,
    /// namespace -> owning tenant. Namespaces never change owner.
    namespaces: Cache<NamespaceName, TenantId>,
    /// Bumped by every invalidation, so a load that raced one is not kept.
    epoch: AtomicU64,
}

impl KeyCache {
    pub fn new() -> Self {
        Self {
            owners: Cache::new(200_000),
            keys: Cache::new(100_000),
            namespaces: Cache::new(200_000),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn owner(&self, digest: &KeyDigest) -> Option<(KeyId, i64)> {
        self.owners.get(digest)
    }

    pub fn put_owner(&self, digest: KeyDigest, owner: (KeyId, i64)) {
        self.owners.insert(digest, owner);
    }

    pub fn namespace_owner(&self, name: &NamespaceName) -> Option<TenantId> {
        self.namespaces.get(name)
    }

    pub fn put_namespace_owner(&self, name: NamespaceName, tenant: TenantId) {
        self.namespaces.insert(name, tenant);
    }

    pub fn key(&self, id: &KeyId) -> Option<Arc<CachedKey>> {
        self.keys.get(id)
    }

    /// Call before reading a key from the store; pass the result to `put_key`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps a freshly loaded key unless an invalidation happened since
    /// `epoch` was read. Checking again after the insert closes the window
    /// where an invalidation lands between the check and the insert.
    pub fn put_key(&self, epoch: u64, key: Arc<CachedKey>) {
        if self.epoch() != epoch {
            return;
        }
        let id = key.key.id.clone();
        self.keys.insert(id.clone(), key);
        if self.epoch() != epoch {
            self.keys.invalidate(&id);
        }
    }

    pub fn invalidate_key(&self, id: &KeyId) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate(id);
    }

    /// After a tenant-wide change (suspension, plan), every key may be affected.
    pub fn invalidate_all_keys(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.keys.invalidate_all();
    }
}
