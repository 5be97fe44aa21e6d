//! The API-key lifecycle: provision, verify, rotate with grace, disable,
//! enable, list.

use super::changes::{Change, ChangeFeed};
use super::events::Events;
use super::key_cache::{CachedKey, KeyCache, Verdict};
use super::{now, Error, Result};
use crate::crypto::api_key::KeyHasher;
use crate::crypto::api_key::{KeyDigest, PlainApiKey};
use crate::crypto::random_bytes;
use crate::db::Db;
use crate::db::{self, keys::NewSecret};
use crate::domain::api_key::{
    parse_key_expiry, reconcile_plan, ApiKey, KeyStatus, Permission, Rotation, VerifyCode,
    VerifyContext,
};
use crate::domain::audit::Actor;
use crate::domain::events::{Event, EventType};
use crate::domain::ids::{Integration, KeyId, NamespaceName, ProjectId, TenantId};
use crate::domain::namespace::{derive_namespace, Namespace, NamespacePattern};
use crate::domain::plan::Plan;
use crate::domain::tenant::{Tenant, TenantStatus};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

/// A validated provisioning request.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    pub tenant_id: TenantId,
    pub tenant_name: Option<String>,
    pub parent_id: Option<TenantId>,
    pub integration: Integration,
    pub project_id: ProjectId,
    pub plan: Option<Plan>,
    pub rate_limit: Option<i64>,
    /// Limits over every tenant the key serves (a pooled key's own).
    pub overall: crate::domain::limits::OverallLimits,
    /// The namespace to create (or reuse) for the tenant.
    pub namespace: Option<NamespaceName>,
    /// Extra namespace patterns, for pooled keys (`jt_customer_*`).
    pub scopes: Vec<NamespacePattern>,
    pub permissions: Vec<Permission>,
    pub expires_at: Option<DateTime<Utc>>,
    pub sector: String,
    pub use_case: String,
    /// The key's own name and labels.
    pub key_name: String,
    pub metadata: crate::domain::api_key::Metadata,
}

/// A new key: the only value that ever holds its plain secret.
#[derive(Debug)]
pub struct Provisioned {
    pub api_key: PlainApiKey,
    pub key: ApiKey,
    pub tenant: Tenant,
    pub namespace: Option<NamespaceName>,
    /// The monthly quota in force: the key's override or its plan's figure.
    pub monthly_quota: i64,
}

#[derive(Debug)]
pub struct Rotated {
    pub api_key: PlainApiKey,
    pub key_id: KeyId,
    pub version: i64,
    pub previous_expires_at: DateTime<Utc>,
}

pub use crate::domain::api_key::Verification;

fn key_not_found(id: &KeyId) -> Error {
    Error::not_found("KEY_NOT_FOUND", format!("key '{id}' does not exist"))
}

fn key_revoked(id: &KeyId) -> Error {
    Error::conflict(
        "KEY_REVOKED",
        format!("key '{id}' was revoked for good; provision a new one"),
    )
}

/// Locks a key for a change (its row is written first, so concurrent changes
/// to it are serialised) and loads it: KEY_NOT_FOUND, or KEY_REVOKED for a
/// key revoked for good.
async fn live_key(tx: &mut db::Conn, id: &KeyId, now: DateTime<Utc>) -> Result<ApiKey> {
    if !db::keys::touch(tx, id, now).await? {
        return Err(key_not_found(id));
    }
    let key = db::keys::find(tx, id)
        .await?
        .ok_or_else(|| key_not_found(id))?;
    if key.status == KeyStatus::Revoked {
        return Err(key_revoked(id));
    }
    Ok(key)
}

/// What `PATCH /api/keys/{id}` changes; `None` leaves a field as it is, and
/// `Some(None)` clears a quota override or an expiry.
#[derive(Debug, Default)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub metadata: Option<crate::domain::api_key::Metadata>,
    pub rate_limit: Option<Option<i64>>,
    pub overall_per_second: Option<Option<i64>>,
    pub overall_monthly: Option<Option<i64>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub scopes: Option<Vec<NamespacePattern>>,
    pub permissions: Option<Vec<Permission>>,
}

impl KeyChanges {
    /// Applies the changes to `key`; the names of the fields that changed.
    fn apply(self, key: &mut ApiKey, now: DateTime<Utc>) -> Result<Vec<&'static str>> {
        let mut changed = Vec::new();
        if let Some(name) = self.name {
            key.name = crate::domain::api_key::check_key_name(&name)?;
            changed.push("name");
        }
        if let Some(metadata) = self.metadata {
            crate::domain::api_key::check_metadata(&metadata)?;
            key.metadata = metadata;
            changed.push("metadata");
        }
        if let Some(limit) = self.rate_limit {
            key.rate_limit = crate::domain::api_key::parse_rate_limit(limit)?;
            changed.push("rate_limit");
        }
        if let Some(n) = self.overall_per_second {
            key.overall.requests_per_second = n;
            changed.push("overall_requests_per_second");
        }
        if let Some(n) = self.overall_monthly {
            key.overall.requests_per_month = n;
            changed.push("overall_requests_per_month");
        }
        key.overall = crate::domain::api_key::check_overall_limits(key.overall)?;
        if let Some(expiry) = self.expires_at {
            key.expires_at = parse_key_expiry(expiry, now)?;
            changed.push("expires_at");
        }
        if let Some(scopes) = self.scopes {
            if scopes.is_empty() {
                return Err(crate::domain::ValidationError::new(
                    "scopes",
                    "a key needs at least one namespace or pattern",
                )
                .into());
            }
            key.scopes = scopes;
            changed.push("scopes");
        }
        if let Some(permissions) = self.permissions {
            key.permissions = permissions;
            changed.push("permissions");
        }
        Ok(changed)
    }
}

/// The keys service: the key lifecycle, and the in-memory directory of
/// keys, tenants and namespaces that keeps verification off the store.
#[derive(Clone)]
pub struct Keys(Arc<Parts>);

struct Parts {
    db: Db,
    hasher: KeyHasher,
    cache: KeyCache,
    feed: ChangeFeed,
    events: Events,
}

impl Keys {
    pub fn new(db: Db, hasher: KeyHasher, feed: ChangeFeed, events: Events) -> Self {
        Self(Arc::new(Parts {
            db,
            hasher,
            cache: KeyCache::new(),
            feed,
            events,
        }))
    }

    fn db(&self) -> &Db {
        &self.0.db
    }

    /// The keyed digest a presented secret is stored and looked up under.
    pub fn digest(&self, key: &PlainApiKey) -> KeyDigest {
        self.0.hasher.digest(key)
    }

    /// Store reads made to fill the key caches (for the stats endpoint).
    pub fn store_reads(&self) -> u64 {
        self.0
            .cache
            .store_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bumped by every change to keys, tenants or plans; what was derived
    /// from them at an older generation must not be used.
    pub fn change_generation(&self) -> u64 {
        self.0.cache.change_generation()
    }

    /// Retires everything derived from keys, tenants and plans (verdicts, grants).
    pub fn invalidate_grants(&self) {
        self.0.cache.invalidate_grants()
    }

    /// Drops what is held about one key (changed here or on another replica).
    pub async fn invalidate_key(&self, id: &KeyId) {
        self.0.cache.invalidate_key(id).await
    }

    /// After a committed change to a key: drop it here, then tell the other replicas.
    async fn key_changed(&self, id: &KeyId) {
        self.invalidate_key(id).await;
        self.0
            .feed
            .announce(Change::Key {
                key_id: id.to_string(),
            })
            .await;
    }

    /// Drops every key and tenant held (a tenant-wide change).
    pub fn invalidate_tenants(&self) {
        self.0.cache.invalidate_tenants()
    }

    /// Frees verdicts that can no longer be used.
    pub fn drop_stale_verdicts(&self, now: DateTime<Utc>) {
        self.0.cache.drop_stale_verdicts(now)
    }

    /// Fails with TENANT_NOT_FOUND unless the tenant exists.
    pub async fn require_tenant(&self, id: &TenantId) -> Result<Tenant> {
        match self.cached_tenant(id).await? {
            Some(t) => Ok((*t).clone()),
            None => Err(Error::not_found(
                "TENANT_NOT_FOUND",
                format!("tenant '{id}' does not exist"),
            )),
        }
    }

    pub async fn provision(&self, req: ProvisionRequest, actor: &Actor) -> Result<Provisioned> {
        let now = now();
        let expires_at = parse_key_expiry(req.expires_at, now)?;
        let (namespace, scopes) = namespace_and_scopes(&req)?;
        let api_key = PlainApiKey::generate(&req.integration);
        let key = ApiKey {
            id: KeyId::from_random(random_bytes()),
            tenant_id: req.tenant_id.clone(),
            integration: req.integration.clone(),
            project_id: req.project_id.clone(),
            scopes,
            name: req.key_name.clone(),
            metadata: req.metadata.clone(),
            permissions: req.permissions.clone(),
            status: KeyStatus::Active,
            rate_limit: req.rate_limit,
            overall: req.overall,
            expires_at,
            created_at: now,
            updated_at: now,
            versions: Vec::new(),
        };

        let mut tx = self.db().begin().await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "key.provision",
                "key",
                key.id.as_str(),
                Some(req.tenant_id.as_str()),
                json!({
                    "integration": req.integration,
                    "project_id": req.project_id,
                    "namespace": namespace,
                    "scopes": key.scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "rate_limit": req.rate_limit,
                    "overall": req.overall,
                    "display_prefix": api_key.display_prefix(),
                }),
            ),
            now,
        )
        .await?;
        let tenant = ensure_tenant(
            &mut tx,
            &req.tenant_id,
            req.tenant_name.as_deref(),
            req.parent_id.as_ref(),
            req.plan,
            now,
        )
        .await?;
        if let Some(ns) = &namespace {
            claim_namespace(&mut tx, ns, &tenant, &req, now).await?;
        }
        db::keys::insert_key(&mut tx, &key).await?;
        db::keys::insert_secret(
            &mut tx,
            NewSecret {
                key_id: &key.id,
                version: 1,
                digest_hex: self.digest(&api_key).to_hex(),
                display_prefix: api_key.display_prefix(),
                created_at: now,
            },
        )
        .await?;
        let limits = db::plans::limits(&mut tx, tenant.plan).await?;
        tx.commit().await?;

        let mut key = key;
        key.versions.push(crate::domain::api_key::SecretVersion {
            version: 1,
            display_prefix: api_key.display_prefix(),
            created_at: now,
            expires_at: None,
        });
        Ok(Provisioned {
            monthly_quota: key.rate_limit.unwrap_or(limits.requests_per_month),
            api_key,
            key,
            tenant,
            namespace,
        })
    }

    /// Checks a presented key. Served from memory after the first lookup; a
    /// malformed key is rejected without touching the store.
    pub async fn verify(
        &self,
        presented: &str,
        namespace: Option<NamespaceName>,
    ) -> Result<Verification> {
        let Ok(plain) = PlainApiKey::parse(presented) else {
            return Ok(Verification::bare(VerifyCode::Malformed, namespace));
        };
        self.verify_digest(&self.digest(&plain), namespace).await
    }

    /// Verification of a well-formed key, by its digest. A verdict about a
    /// key that exists (and a namespace that exists, if one was asked about)
    /// is kept until its secret's validity ends or anything changes.
    pub async fn verify_digest(
        &self,
        digest: &KeyDigest,
        namespace: Option<NamespaceName>,
    ) -> Result<Verification> {
        let cache = &self.0.cache;
        let generation = cache.change_generation();
        let question = (digest.clone(), namespace);
        if let Some(v) = cache.verdicts.get(&question) {
            if v.usable(generation, Utc::now()) {
                return Ok(v.verification.clone());
            }
        }
        let (digest, namespace) = question;
        let v = self.verify_uncached(&digest, namespace).await?;
        let known =
            v.key_id.is_some() && (v.namespace.is_none() || v.namespace_tenant_id.is_some());
        if known && cache.change_generation() == generation {
            cache.verdicts.insert(
                (digest, v.namespace.clone()),
                Arc::new(Verdict {
                    verification: v.clone(),
                    generation,
                }),
            );
        }
        Ok(v)
    }

    async fn verify_uncached(
        &self,
        digest: &KeyDigest,
        namespace: Option<NamespaceName>,
    ) -> Result<Verification> {
        let cache = &self.0.cache;
        if cache.unknown.contains_key(digest) {
            return Ok(Verification::bare(VerifyCode::NotFound, namespace));
        }
        let owner = cache
            .owners
            .optionally_get_with(digest.clone(), async {
                cache.count_store_read();
                let mut conn = self.db().pool().acquire().await.ok()?;
                match db::keys::find_secret_owner(&mut conn, &digest.to_hex()).await {
                    Ok(Some(owner)) => Some(owner),
                    Ok(None) => {
                        cache.unknown.insert(digest.clone(), ()).await;
                        None
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "key lookup failed");
                        None
                    }
                }
            })
            .await;
        let Some((key_id, version)) = owner else {
            return Ok(Verification::bare(VerifyCode::NotFound, namespace));
        };
        let Some(cached) = self.cached_key(&key_id).await? else {
            return Ok(Verification::bare(VerifyCode::NotFound, namespace));
        };
        let namespace_owner = match &namespace {
            Some(ns) => match self.namespace_owner(ns).await? {
                Some(owner) => self.cached_tenant(&owner).await?,
                None => None,
            },
            None => None,
        };
        let owner_status = namespace_owner
            .as_ref()
            .map(|t| t.status)
            .unwrap_or(TenantStatus::Active);
        let tenant_status = if owner_status == TenantStatus::Active {
            cached.tenant.status
        } else {
            owner_status
        };
        let code = cached.key.check(
            version,
            &VerifyContext {
                now: now(),
                tenant_status,
                namespace: namespace.as_ref().map(|ns| (ns, namespace_owner.is_some())),
            },
        );
        Ok(Verification {
            code,
            key_id: Some(key_id),
            tenant_id: Some(cached.key.tenant_id.clone()),
            namespace,
            namespace_tenant_id: namespace_owner.as_ref().map(|t| t.id.clone()),
            namespace_plan: namespace_owner.as_ref().map(|t| t.plan),
            plan: Some(cached.tenant.plan),
            rate_limit: cached.key.rate_limit,
            overall: cached.key.overall,
            permissions: cached.key.permissions.clone(),
            version: Some(version),
            valid_until: cached.key.valid_until(version),
        })
    }

    /// The key with its tenant, from memory or (once, for concurrent callers) the store.
    async fn cached_key(&self, id: &KeyId) -> Result<Option<Arc<CachedKey>>> {
        let cache = &self.0.cache;
        for _ in 0..3 {
            let generation = cache.generation(id);
            let loaded = cache
                .keys
                .try_get_with(id.clone(), async {
                    cache.count_store_read();
                    let mut conn = self.db().pool().acquire().await?;
                    let key = db::keys::find(&mut conn, id)
                        .await?
                        .ok_or(LoadError::Missing)?;
                    let tenant = db::tenants::find(&mut conn, &key.tenant_id)
                        .await?
                        .ok_or(LoadError::Missing)?;
                    Ok::<_, LoadError>(Arc::new(CachedKey {
                        key,
                        tenant,
                        generation,
                    }))
                })
                .await;
            match loaded {
                Ok(k) if k.generation == cache.generation(id) => return Ok(Some(k)),
                // Loaded before a change that landed meanwhile: drop it and load again.
                Ok(_) => cache.keys.invalidate(id).await,
                Err(e) => return e.into_result(),
            }
        }
        Err(Error::internal(
            "loading a key",
            "it kept changing while it was loaded",
        ))
    }

    /// The tenant, from memory or the store; a load that raced a tenant-wide
    /// change (suspension, plan; here or from another replica) is dropped
    /// and made again, as for keys.
    pub async fn cached_tenant(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>> {
        let cache = &self.0.cache;
        for _ in 0..3 {
            let generation = cache.tenants_generation();
            let loaded = cache
                .tenants
                .try_get_with(id.clone(), async {
                    cache.count_store_read();
                    let mut conn = self.db().pool().acquire().await?;
                    let tenant = db::tenants::find(&mut conn, id)
                        .await?
                        .ok_or(LoadError::Missing)?;
                    Ok::<_, LoadError>(Arc::new((generation, Arc::new(tenant))))
                })
                .await;
            match loaded {
                Ok(t) if t.0 == cache.tenants_generation() => return Ok(Some(t.1.clone())),
                Ok(_) => cache.tenants.invalidate(id).await,
                Err(e) => return e.into_result(),
            }
        }
        Err(Error::internal(
            "loading a tenant",
            "it kept changing while it was loaded",
        ))
    }

    async fn namespace_owner(&self, name: &NamespaceName) -> Result<Option<TenantId>> {
        let owner = self
            .0
            .cache
            .namespaces
            .optionally_get_with(name.clone(), async {
                self.0.cache.count_store_read();
                let mut conn = self.db().pool().acquire().await.ok()?;
                db::namespaces::find(&mut conn, name)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "namespace lookup failed");
                        None
                    })
                    .map(|ns| ns.tenant_id)
            })
            .await;
        Ok(owner)
    }

    /// Adds a new secret version to the same key id. The new secret works at
    /// once; older ones keep working until `rotation`'s grace end (never later
    /// than an end they already had).
    pub async fn rotate(&self, id: &KeyId, rotation: Rotation, actor: &Actor) -> Result<Rotated> {
        let now = now();
        let mut tx = self.db().begin().await?;
        let key = live_key(&mut tx, id, now).await?;
        let version = db::keys::max_version(&mut tx, id).await? + 1;
        let grace_end = rotation.grace_end(now);
        db::keys::retire_secrets(&mut tx, id, grace_end).await?;
        let api_key = PlainApiKey::generate(&key.integration);
        db::keys::insert_secret(
            &mut tx,
            NewSecret {
                key_id: id,
                version,
                digest_hex: self.digest(&api_key).to_hex(),
                display_prefix: api_key.display_prefix(),
                created_at: now,
            },
        )
        .await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "key.rotate",
                "key",
                id.as_str(),
                Some(key.tenant_id.as_str()),
                json!({
                    "version": version,
                    "grace_seconds": rotation.grace.num_seconds(),
                    "previous_expires_at": grace_end,
                    "display_prefix": api_key.display_prefix(),
                }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.key_changed(id).await;
        self.0.events.emit(Event::new(
            EventType::KeyRotated,
            Some(key.tenant_id.as_str()),
            json!({"key_id": id, "tenant_id": key.tenant_id, "version": version,
                   "previous_expires_at": grace_end, "display_prefix": api_key.display_prefix(),
                   "rotated_by": actor.name}),
        ));
        Ok(Rotated {
            api_key,
            key_id: id.clone(),
            version,
            previous_expires_at: grace_end,
        })
    }

    pub async fn set_key_status(
        &self,
        id: &KeyId,
        status: KeyStatus,
        actor: &Actor,
    ) -> Result<ApiKey> {
        let now = now();
        let mut tx = self.db().begin().await?;
        let before = live_key(&mut tx, id, now).await?.status;
        db::keys::set_status(&mut tx, id, status, now).await?;
        let key = db::keys::find(&mut tx, id)
            .await?
            .ok_or_else(|| key_not_found(id))?;
        let action = match status {
            KeyStatus::Active => "key.enable",
            KeyStatus::Disabled => "key.disable",
            KeyStatus::Revoked => "key.revoke",
        };
        db::audit::insert(
            &mut tx,
            &actor.entry(
                action,
                "key",
                id.as_str(),
                Some(key.tenant_id.as_str()),
                json!({ "from": before.as_str(), "to": status.as_str() }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.key_changed(id).await;
        if status == KeyStatus::Disabled && before != KeyStatus::Disabled {
            self.0.events.emit(Event::new(
                EventType::KeyDisabled,
                Some(key.tenant_id.as_str()),
                json!({"key_id": id, "tenant_id": key.tenant_id, "disabled_by": actor.name}),
            ));
        }
        Ok(key)
    }

    /// Changes a key's name, labels, quota, expiry, scopes or permissions;
    /// the next request on every replica sees them (the change is announced).
    pub async fn update_key(
        &self,
        id: &KeyId,
        changes: KeyChanges,
        actor: &Actor,
    ) -> Result<ApiKey> {
        let now = now();
        let mut tx = self.db().begin().await?;
        let mut key = live_key(&mut tx, id, now).await?;
        let changed = changes.apply(&mut key, now)?;
        db::keys::update(&mut tx, &key, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "key.update",
                "key",
                id.as_str(),
                Some(key.tenant_id.as_str()),
                json!({
                    "changed": changed,
                    "rate_limit": key.rate_limit,
                    "overall": key.overall,
                    "expires_at": key.expires_at,
                    "scopes": key.scopes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "permissions": key.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.key_changed(id).await;
        self.get_key(id).await
    }

    /// Revokes a key for good: every secret version retired now, the key
    /// refused (`KEY_REVOKED`) from the next request on, on every replica;
    /// its row and history stay (usage, audit).
    pub async fn revoke_key(&self, id: &KeyId, actor: &Actor) -> Result<ApiKey> {
        let now = now();
        let mut tx = self.db().begin().await?;
        let key = live_key(&mut tx, id, now).await?;
        db::keys::set_status(&mut tx, id, KeyStatus::Revoked, now).await?;
        db::keys::retire_secrets(&mut tx, id, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "key.revoke",
                "key",
                id.as_str(),
                Some(key.tenant_id.as_str()),
                json!({ "from": key.status.as_str() }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.key_changed(id).await;
        self.get_key(id).await
    }

    pub async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>> {
        let mut conn = self.db().pool().acquire().await?;
        Ok(db::keys::list(&mut conn, tenant).await?)
    }

    pub async fn get_key(&self, id: &KeyId) -> Result<ApiKey> {
        let mut conn = self.db().pool().acquire().await?;
        db::keys::find(&mut conn, id)
            .await?
            .ok_or_else(|| key_not_found(id))
    }
}

/// Creates the key's namespace for its tenant, or finds it already theirs;
/// NAMESPACE_TAKEN when another tenant owns it.
async fn claim_namespace(
    conn: &mut db::Conn,
    ns: &NamespaceName,
    tenant: &Tenant,
    req: &ProvisionRequest,
    now: DateTime<Utc>,
) -> Result<()> {
    let new = Namespace {
        name: ns.clone(),
        tenant_id: tenant.id.clone(),
        sector: req.sector.clone(),
        use_case: req.use_case.clone(),
        created_at: now,
    };
    if !db::namespaces::insert_if_absent(conn, &new).await? {
        let existing = db::namespaces::find(conn, ns).await?;
        if existing.is_some_and(|e| e.tenant_id != tenant.id) {
            return Err(Error::conflict(
                "NAMESPACE_TAKEN",
                format!("namespace '{ns}' belongs to another tenant"),
            ));
        }
    }
    Ok(())
}

/// The namespace a provisioning creates (the one asked for; without one,
/// derived from project and tenant unless the key is pooled over patterns)
/// and the key's scopes, which always cover that namespace.
fn namespace_and_scopes(
    req: &ProvisionRequest,
) -> Result<(Option<NamespaceName>, Vec<NamespacePattern>)> {
    let namespace = match (&req.namespace, req.scopes.is_empty()) {
        (Some(ns), _) => Some(ns.clone()),
        (None, true) => Some(derive_namespace(&req.project_id, &req.tenant_id)?),
        (None, false) => None,
    };
    let mut scopes = req.scopes.clone();
    if let Some(ns) = &namespace {
        if !scopes.iter().any(|p| p.matches(ns)) {
            scopes.push(NamespacePattern::Exact(ns.clone()));
        }
    }
    Ok((namespace, scopes))
}

/// Creates the tenant when missing; otherwise checks the requested plan
/// against the tenant's. Call inside a transaction that already wrote.
pub(super) async fn ensure_tenant(
    conn: &mut db::Conn,
    id: &TenantId,
    name: Option<&str>,
    parent: Option<&TenantId>,
    plan: Option<Plan>,
    now: DateTime<Utc>,
) -> Result<Tenant> {
    if let Some(existing) = db::tenants::find(conn, id).await? {
        return match reconcile_plan(Some(existing.plan), plan) {
            Ok(_) => Ok(existing),
            Err((have, want)) => Err(Error::conflict(
                "PLAN_MISMATCH",
                format!(
                    "tenant '{id}' is on the {have} plan, not {want}; change it with PATCH /api/tenants/{id}"
                ),
            )),
        };
    }
    if db::erasure::was_erased(conn, id).await? {
        return Err(Error::conflict(
            "TENANT_ERASED",
            format!("tenant '{id}' was erased; its id is not issued again (its invoices keep it)"),
        ));
    }
    if let Some(parent) = parent {
        if parent == id {
            return Err(crate::domain::ValidationError::new(
                "parent_id",
                "a tenant cannot be its own parent",
            )
            .into());
        }
        if db::tenants::find(conn, parent).await?.is_none() {
            return Err(Error::not_found(
                "TENANT_NOT_FOUND",
                format!("parent tenant '{parent}' does not exist"),
            ));
        }
    }
    let tenant = Tenant {
        id: id.clone(),
        name: name.map(str::to_string).unwrap_or_else(|| id.to_string()),
        plan: reconcile_plan(None, plan).unwrap_or(Plan::Free),
        parent_id: parent.cloned(),
        status: TenantStatus::Active,
        created_at: now,
    };
    db::tenants::insert_if_absent(conn, &tenant).await?;
    Ok(tenant)
}

/// Why a single-flight load found nothing: absent, or the store failed.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("not found")]
    Missing,
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

impl LoadError {
    fn into_result<T>(self: Arc<Self>) -> Result<Option<T>> {
        match &*self {
            LoadError::Missing => Ok(None),
            // Shared by every waiter of the load, so not movable back into
            // a `sqlx::Error`: reported with what failed.
            LoadError::Store(e) => Err(Error::internal("reading the store for a cache load", e)),
        }
    }
}

/// How often a rotation policy may rotate: 1 day to 10 years.
fn check_rotation_days(days: Option<i64>) -> Result<()> {
    if days.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(crate::domain::ValidationError::new(
            "rotate_every_days",
            "must be 1 to 3650 days, or null for no policy",
        )
        .into());
    }
    Ok(())
}

impl Keys {
    /// A key's own rotation policy (`None`: none; its plan's may apply).
    pub async fn rotation_policy(&self, id: &KeyId) -> Result<Option<i64>> {
        let mut conn = self.db().pool().acquire().await?;
        Ok(db::keys::rotation_policy(&mut conn, id).await?)
    }

    /// Sets or clears a key's rotation policy: the `rotate_keys` job rotates
    /// it this many days after its newest secret was made.
    pub async fn set_rotation_policy(
        &self,
        id: &KeyId,
        every_days: Option<i64>,
        actor: &Actor,
    ) -> Result<Option<i64>> {
        check_rotation_days(every_days)?;
        let now = now();
        let mut tx = self.db().begin().await?;
        let key = live_key(&mut tx, id, now).await?;
        db::keys::set_rotation_policy(&mut tx, id, every_days).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "key.rotation_policy",
                "key",
                id.as_str(),
                Some(key.tenant_id.as_str()),
                json!({"rotate_every_days": every_days}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(every_days)
    }

    /// Sets or clears a plan's rotation policy (for keys without their own).
    pub async fn set_plan_rotation_policy(
        &self,
        plan: crate::domain::plan::Plan,
        every_days: Option<i64>,
        actor: &Actor,
    ) -> Result<Option<i64>> {
        check_rotation_days(every_days)?;
        let now = now();
        let mut tx = self.db().begin().await?;
        db::keys::set_plan_rotation_policy(&mut tx, plan.as_str(), every_days).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "plan.rotation_policy",
                "plan",
                plan.as_str(),
                None,
                json!({"rotate_every_days": every_days}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(every_days)
    }
}
