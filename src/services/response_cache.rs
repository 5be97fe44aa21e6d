//! The response cache: a size-bounded in-memory tier (moka, per-entry TTL)
//! over the persistent store. Hits are served from memory; a miss in memory
//! reads the store once (concurrent misses for the same entry share the read).

use crate::db;
use crate::domain::ids::NamespaceName;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use moka::future::Cache;
use moka::Expiry;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A cached response, kept as the raw JSON it was stored as.
#[derive(Debug)]
pub struct CacheEntry {
    pub response: Box<RawValue>,
    pub cached_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The answer to a hit as an adapter renders it, made once per entry and
    /// then shared by every hit (see [`CacheEntry::rendered`]).
    rendered: OnceLock<Arc<[u8]>>,
}

impl CacheEntry {
    pub fn new(
        response: Box<RawValue>,
        cached_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            response,
            cached_at,
            expires_at,
            rendered: OnceLock::new(),
        }
    }

    /// The entry rendered by `render`, computed on first use and kept: an
    /// entry never changes, so neither does its rendering.
    pub fn rendered(&self, render: impl FnOnce(&Self) -> Vec<u8>) -> Arc<[u8]> {
        self.rendered
            .get_or_init(|| Arc::from(render(self)))
            .clone()
    }
}

/// SHA-256 of (namespace, namespace generation, entry digest): a fixed-size
/// key, so a lookup allocates nothing. Invalidating a whole namespace bumps
/// its generation, which makes every older entry unreachable.
type MemoryKey = [u8; 32];

/// Entries leave memory when they expire, or (with several replicas) after
/// `max_age` at most, so an entry another replica replaced is re-read.
struct UntilExpiry {
    max_age: Option<Duration>,
}

impl Expiry<MemoryKey, Arc<CacheEntry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &MemoryKey,
        value: &Arc<CacheEntry>,
        _: Instant,
    ) -> Option<Duration> {
        let left = (value.expires_at - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        Some(self.max_age.map_or(left, |max| left.min(max)))
    }
}

pub struct ResponseCache {
    memory: Cache<MemoryKey, Arc<CacheEntry>>,
    generations: DashMap<String, u64>,
}

/// What `set` did.
pub enum Stored {
    Entry(Arc<CacheEntry>),
    /// Refused: the owner's cached bytes would exceed its quota; about
    /// `available` bytes were left for this entry.
    OverQuota {
        available: i64,
    },
}

/// The digest naming an entry: SHA-256 of its canonical identity.
pub fn entry_digest(canonical_identity: &str) -> [u8; 32] {
    Sha256::digest(canonical_identity.as_bytes()).into()
}

impl ResponseCache {
    pub fn new(memory_bytes: u64, max_age: Option<Duration>) -> Self {
        Self {
            memory: Cache::builder()
                .max_capacity(memory_bytes)
                .weigher(|_k: &MemoryKey, v: &Arc<CacheEntry>| {
                    // The response, its rendering (about as large) and overhead.
                    u32::try_from(2 * v.response.get().len() + 256).unwrap_or(u32::MAX)
                })
                .expire_after(UntilExpiry { max_age })
                .build(),
            generations: DashMap::new(),
        }
    }

    fn key(&self, namespace: &NamespaceName, digest: [u8; 32]) -> MemoryKey {
        let generation = self
            .generations
            .get(namespace.as_str())
            .map(|g| *g)
            .unwrap_or(0);
        let mut h = Sha256::new();
        h.update(namespace.as_str().as_bytes());
        h.update([0]);
        h.update(generation.to_le_bytes());
        h.update(digest);
        h.finalize().into()
    }

    /// The live entry, from memory or else the store.
    pub async fn get(
        &self,
        db: &db::Db,
        namespace: &NamespaceName,
        digest: [u8; 32],
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<Arc<CacheEntry>>> {
        let key = self.key(namespace, digest);
        if let Some(hit) = self.memory.get(&key).await {
            if hit.expires_at > now {
                return Ok(Some(hit));
            }
        }
        let loaded = self
            .memory
            .try_get_with(key, async {
                let mut conn = db.pool().acquire().await?;
                let stored =
                    db::cache::find_live(&mut conn, namespace.as_str(), &hex::encode(digest), now)
                        .await?
                        .ok_or(LoadError::Miss)?;
                let response = RawValue::from_string(stored.response)
                    .map_err(|e| LoadError::Store(sqlx::Error::Decode(e.into())))?;
                Ok::<_, LoadError>(Arc::new(CacheEntry::new(
                    response,
                    stored.created_at,
                    stored.expires_at,
                )))
            })
            .await;
        match loaded {
            Ok(entry) => Ok(Some(entry).filter(|e| e.expires_at > now)),
            Err(e) => match &*e {
                LoadError::Miss => Ok(None),
                LoadError::Store(s) => Err(sqlx::Error::Protocol(s.to_string())),
            },
        }
    }

    /// Stores an entry (replacing any with the same identity), unless the
    /// namespace owner's entries would then take more than `quota` bytes.
    /// The write comes first (it takes the lock that serialises the owner's
    /// writers), the check after it, and an entry over the quota is rolled back.
    #[allow(clippy::too_many_arguments)]
    pub async fn set(
        &self,
        db: &db::Db,
        namespace: &NamespaceName,
        digest: [u8; 32],
        provider: &str,
        model: &str,
        response: Box<RawValue>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        quota: i64,
    ) -> sqlx::Result<Stored> {
        let mut tx = db.begin().await?;
        db::cache::upsert(
            &mut tx,
            &db::cache::NewEntry {
                namespace: namespace.as_str(),
                entry_key: &hex::encode(digest),
                provider,
                model,
                response: response.get(),
                created_at: now,
                expires_at,
            },
        )
        .await?;
        let used = db::cache::owner_cached_bytes(&mut tx, namespace.as_str()).await?;
        if used > quota {
            tx.rollback().await?;
            let size = response.get().len() as i64;
            return Ok(Stored::OverQuota {
                available: (quota - (used - size)).max(0),
            });
        }
        tx.commit().await?;
        let entry = Arc::new(CacheEntry::new(response, now, expires_at));
        self.memory
            .insert(self.key(namespace, digest), entry.clone())
            .await;
        Ok(Stored::Entry(entry))
    }

    /// Removes one entry; true when one was stored.
    pub async fn invalidate(
        &self,
        db: &db::Db,
        namespace: &NamespaceName,
        digest: [u8; 32],
    ) -> sqlx::Result<bool> {
        let mut conn = db.pool().acquire().await?;
        let existed =
            db::cache::delete(&mut conn, namespace.as_str(), &hex::encode(digest)).await?;
        self.memory.invalidate(&self.key(namespace, digest)).await;
        Ok(existed)
    }

    /// Removes every entry of a namespace; returns how many were stored.
    pub async fn invalidate_namespace(
        &self,
        db: &db::Db,
        namespace: &NamespaceName,
    ) -> sqlx::Result<u64> {
        let mut conn = db.pool().acquire().await?;
        let removed = db::cache::delete_namespace(&mut conn, namespace.as_str()).await?;
        *self
            .generations
            .entry(namespace.as_str().to_string())
            .or_insert(0) += 1;
        Ok(removed)
    }

    /// Forgets (in memory only) an entry or a whole namespace another
    /// replica removed from the store.
    pub async fn forget(&self, namespace: &NamespaceName, digest: Option<[u8; 32]>) {
        match digest {
            Some(d) => self.memory.invalidate(&self.key(namespace, d)).await,
            None => {
                *self
                    .generations
                    .entry(namespace.as_str().to_string())
                    .or_insert(0) += 1;
            }
        }
    }

    /// Forgets every entry held in memory (they are re-read from the store).
    pub fn forget_all(&self) {
        self.memory.invalidate_all();
    }

    /// Bytes held by the memory tier (approximate).
    pub fn memory_bytes(&self) -> u64 {
        self.memory.weighted_size()
    }
}

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("not cached")]
    Miss,
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}
