//! The provider secret vault: tenants' AI provider keys, sealed at rest,
//! handed only to whom may read them, each access audited. A secret is never
//! returned unless the audit record of its reading has been written.

use super::audit::Audit;
use super::keys::Keys;
use super::{now, Error, Result};
use crate::crypto::vault::{Keyring, Sealed, VaultError};
use crate::db::{self, Db};
use crate::domain::access::TenantScope;
use crate::domain::audit::Actor;
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::secret::{
    check_secret_value, resolution_order, SecretKind, SecretMeta, SecretRef, Service, Validation,
};
use crate::integrations::providers::{Providers, ProvisionError};
use serde_json::json;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The vault service: tenants' provider secrets, sealed under the master
/// keyring, reached through the provider adapters, every access audited.
#[derive(Clone)]
pub struct Vault {
    db: Db,
    /// Tenants are checked through the key directory's cache.
    keys: Keys,
    audit: Audit,
    keyring: Arc<Keyring>,
    providers: Arc<Providers>,
    /// Previous versions of each secret kept sealed for a rollback.
    versions_kept: i64,
    /// Tenants whose spent budget refuses their provider keys too.
    budgets: super::budgets::BudgetGate,
    /// Validation failures and healings are announced.
    events: super::events::Events,
}

/// Who asks for a secret.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The root token or an operator token (holding the route's permission):
    /// the tenants of its scope (the root token: every tenant; the CLI on
    /// the store: every tenant).
    Operator { tenants: TenantScope },
    /// A tenant's keyward API key; reads its own tenant's secrets only, and
    /// only when the key carries the `secrets:read` permission.
    TenantKey {
        tenant: TenantId,
        secrets_read: bool,
    },
}

impl Caller {
    /// Every tenant (the root token, or the CLI working on the store).
    pub fn everything() -> Self {
        Self::Operator {
            tenants: TenantScope::All,
        }
    }
}

/// A secret handed out: the value, and which secret it came from.
pub struct Resolved {
    pub value: Zeroizing<String>,
    pub source: SecretKind,
    pub name: String,
    pub version: i64,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("value", &"<redacted>")
            .field("source", &self.source)
            .field("name", &self.name)
            .finish()
    }
}

fn vault_error(e: VaultError) -> Error {
    match e {
        VaultError::Tampered | VaultError::UnknownKeyVersion(_) => Error::Conflict {
            code: "SECRET_UNREADABLE",
            message: format!("the stored secret cannot be opened: {e}"),
        },
        VaultError::Configured => Error::Conflict {
            code: "MASTER_KEYS_CONFIGURED",
            message: "the keyring comes from KEYWARD_MASTER_KEYS: add the new version there on \
                      every replica, make it KEYWARD_MASTER_KEY_ACTIVE, restart them, then run \
                      `keyward vault reseal`"
                .into(),
        },
        other => Error::Unavailable {
            code: "VAULT_UNAVAILABLE",
            message: other.to_string(),
        },
    }
}

fn provision_error(e: ProvisionError) -> Error {
    match e {
        ProvisionError::Unsupported(_) => Error::Conflict {
            code: "PROVISIONING_UNSUPPORTED",
            message: e.to_string(),
        },
        ProvisionError::Refused(_) => Error::Conflict {
            code: "ADMIN_KEY_REFUSED",
            message: e.to_string(),
        },
        ProvisionError::Unavailable(..) => Error::Unavailable {
            code: "PROVIDER_UNAVAILABLE",
            message: e.to_string(),
        },
    }
}

/// How a secret value is written: the audited action, the validation it
/// passed, who asked (for the record) and the provider's id of a minted key.
struct Write<'a> {
    action: &'static str,
    validation: Option<Validation>,
    requested_by: Option<&'a str>,
    provider_key_id: Option<&'a str>,
}

impl Write<'_> {
    fn new(action: &'static str) -> Self {
        Self {
            action,
            validation: None,
            requested_by: None,
            provider_key_id: None,
        }
    }
}

/// What the vault works with (see [`Vault::new`]).
pub struct Parts {
    pub db: Db,
    pub keys: Keys,
    pub audit: Audit,
    pub keyring: Arc<Keyring>,
    pub providers: Arc<Providers>,
    pub versions_kept: u32,
    /// Tenants whose spent budget refuses their provider keys.
    pub budgets: super::budgets::BudgetGate,
    pub events: super::events::Events,
}

impl Vault {
    pub fn new(p: Parts) -> Self {
        Self {
            db: p.db,
            keys: p.keys,
            audit: p.audit,
            keyring: p.keyring,
            providers: p.providers,
            versions_kept: i64::from(p.versions_kept),
            budgets: p.budgets,
            events: p.events,
        }
    }

    /// Opens a stored secret bound to `secret`'s identity.
    fn open_secret(&self, secret: &SecretRef, sealed: &Sealed) -> Result<Zeroizing<String>> {
        let plain = self
            .keyring
            .open_sealed(sealed, &secret.associated_data())
            .map_err(vault_error)?;
        Ok(Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()))
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Records a refused secret access and returns the refusal.
    async fn deny(
        &self,
        actor: &Actor,
        action: &'static str,
        tenant: Option<&TenantId>,
        service: Option<Service>,
    ) -> Error {
        let target = match (service, tenant) {
            (Some(s), Some(t)) => format!("ai-{s}-{t}"),
            (Some(s), None) => format!("ai-{s}"),
            (None, Some(t)) => t.to_string(),
            (None, None) => "vault".into(),
        };
        let mut entry = actor.entry(
            action,
            "secret",
            target,
            tenant.map(|t| t.as_str()),
            json!({"service": service.map(|s| s.as_str())}),
        );
        entry.outcome = "denied";
        // A refusal repeated by the same caller is written once a minute,
        // with the count of those folded into it.
        self.audit.record_refusal(&actor.name, action, entry).await;
        Error::Forbidden {
            code: "SECRET_ACCESS_DENIED",
            message: "this credential may not do that with tenants' secrets".into(),
        }
    }

    /// Lets only the root token through to a vault administration call; a
    /// tenant's API key gets a 403, and the refusal is audited as `action`.
    pub async fn require_vault_admin(
        &self,
        caller: &Caller,
        actor: &Actor,
        action: &'static str,
        tenant: Option<&TenantId>,
        service: Option<Service>,
    ) -> Result<()> {
        let allowed = match (caller, tenant) {
            (Caller::Operator { tenants }, Some(t)) => tenants.covers(t),
            // The platform's own secrets (pooled keys) need every tenant.
            (Caller::Operator { tenants }, None) => tenants.is_all(),
            (Caller::TenantKey { .. }, _) => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(self.deny(actor, action, tenant, service).await)
        }
    }

    async fn audit_now(&self, entry: crate::domain::audit::NewAuditEntry) -> Result<()> {
        self.audit.record(entry).await
    }

    /// A tenant's key for a service: its own (customer) key first, then its
    /// managed key, then the platform's pooled key for its tier.
    pub async fn resolve_secret(
        &self,
        caller: &Caller,
        actor: &Actor,
        service: Service,
        tenant: &TenantId,
        tier: Option<Plan>,
        user_id: Option<&str>,
    ) -> Result<Resolved> {
        let allowed = match caller {
            Caller::Operator { tenants } => tenants.covers(tenant),
            Caller::TenantKey {
                tenant: own,
                secrets_read,
            } => own == tenant && *secrets_read,
        };
        if !allowed {
            return Err(self
                .deny(actor, "secret.read", Some(tenant), Some(service))
                .await);
        }
        let t = self.keys.require_tenant(tenant).await?;
        if self.budgets.refuses(tenant.as_str()) {
            return Err(super::budgets::BudgetGate::refusal(tenant.as_str()));
        }
        // A tenant's key, or an operator restricted to some tenants, reads
        // the tenant's own plan's pooled key, never a richer one (a pooled
        // key is the platform's, beyond any tenant scope).
        let scoped = match caller {
            Caller::TenantKey { .. } => true,
            Caller::Operator { tenants } => !tenants.is_all(),
        };
        if scoped && tier.is_some_and(|asked| asked.above(t.plan)) {
            return Err(self
                .deny(actor, "secret.read", Some(tenant), Some(service))
                .await);
        }
        let tier = tier.unwrap_or(t.plan);
        // Find first, then let the connection go: the audit write below needs
        // one of its own, and holding two per request can starve the pool.
        let found = {
            let mut conn = self.db.pool().acquire().await?;
            let mut found = None;
            for secret in resolution_order(service, tenant, tier) {
                if let Some(row) = db::secrets::find(&mut conn, &secret).await? {
                    found = Some((secret, row));
                    break;
                }
            }
            found
        };
        if let Some((secret, (meta, sealed))) = found {
            let value = self.open_secret(&secret, &sealed)?;
            // The record first: no audit, no secret.
            self.audit_now(actor.entry(
                "secret.read",
                "secret",
                meta.name.clone(),
                Some(tenant.as_str()),
                json!({"service": service.as_str(), "kind": secret.kind.as_str(), "version": meta.version,
                       "user_id": user_id}),
            ))
            .await?;
            return Ok(Resolved {
                value,
                source: secret.kind,
                name: meta.name,
                version: meta.version,
            });
        }
        Err(Error::not_found(
            "NO_PROVIDER_KEY",
            format!(
                "no {service} key for tenant '{tenant}': no customer, managed or {tier} pooled key"
            ),
        ))
    }

    /// Stores a secret (a new version when one exists), after checking it
    /// with its provider when `validate` is set: an invalid key is refused.
    pub async fn put_secret(
        &self,
        actor: &Actor,
        secret: &SecretRef,
        value: &str,
        validate: bool,
    ) -> Result<SecretMeta> {
        check_secret_value(value)?;
        if let Some(t) = secret.owner.tenant() {
            self.keys.require_tenant(t).await?;
        }
        let validation = if validate {
            match self.providers().validate(secret.service, value).await {
                Validation::Valid => Some(Validation::Valid),
                Validation::Invalid => {
                    self.audit_now({
                        let mut e = actor.entry(
                            "secret.write",
                            "secret",
                            secret.name(),
                            secret.owner.tenant().map(|t| t.as_str()),
                            json!({"service": secret.service.as_str(), "kind": secret.kind.as_str(), "validation": "invalid"}),
                        );
                        e.outcome = "refused";
                        e
                    })
                    .await?;
                    return Err(Error::Validation(crate::domain::ValidationError::new(
                        "value",
                        format!("{} refused this key", secret.service),
                    )));
                }
                Validation::Unavailable => {
                    return Err(Error::Unavailable {
                        code: "PROVIDER_UNAVAILABLE",
                        message: format!(
                            "{} could not be asked whether the key is valid; try again",
                            secret.service
                        ),
                    })
                }
            }
        } else {
            None
        };
        let write = Write {
            validation,
            ..Write::new("secret.write")
        };
        self.store_secret(actor, secret, value, write).await
    }

    async fn store_secret(
        &self,
        actor: &Actor,
        secret: &SecretRef,
        value: &str,
        write: Write<'_>,
    ) -> Result<SecretMeta> {
        let Write {
            action,
            validation,
            requested_by,
            provider_key_id,
        } = write;
        let sealed = self
            .keyring
            .seal(value.as_bytes(), &secret.associated_data())
            .map_err(vault_error)?;
        let now = now();
        let mut tx = self.db.begin().await?;
        let version = db::secrets::put(
            &mut tx,
            secret,
            &sealed,
            validation,
            provider_key_id,
            now,
            self.versions_kept,
        )
        .await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                action,
                "secret",
                secret.name(),
                secret.owner.tenant().map(|t| t.as_str()),
                json!({"service": secret.service.as_str(), "kind": secret.kind.as_str(), "version": version,
                       "validation": validation.map(|v| v.as_str()), "requested_by": requested_by}),
            ),
            now,
        )
        .await?;
        let (meta, _) = db::secrets::find(&mut tx, secret)
            .await?
            .ok_or_else(|| Error::Store(sqlx::Error::RowNotFound))?;
        tx.commit().await?;
        Ok(meta)
    }

    /// Mints a managed key for a tenant at the provider (with the tenant's
    /// admin credentials, else the platform's) and stores it; the previous
    /// managed key, if any, is replaced by a new version and, when keyward
    /// minted it and the adapter can, revoked at the provider (audited as
    /// `secret.revoke_at_provider`; a failure there is recorded, and the
    /// new key stays in force).
    pub async fn provision_managed(
        &self,
        actor: &Actor,
        service: Service,
        tenant: &TenantId,
        requested_by: Option<&str>,
    ) -> Result<SecretMeta> {
        self.keys.require_tenant(tenant).await?;
        if !self.providers().adapter(service).can_provision() {
            return Err(provision_error(ProvisionError::Unsupported(service)));
        }
        let admin = {
            let mut conn = self.db.pool().acquire().await?;
            let mut found = None;
            for secret in [
                SecretRef::tenant(service, tenant.clone(), SecretKind::Admin),
                SecretRef::platform_admin(service),
            ] {
                if let Some((_, sealed)) = db::secrets::find(&mut conn, &secret).await? {
                    found = Some(self.open_secret(&secret, &sealed)?);
                    break;
                }
            }
            found.ok_or_else(|| {
                Error::not_found(
                    "NO_ADMIN_KEY",
                    format!("no {service} admin credentials for '{tenant}' or the platform"),
                )
            })?
        };
        let secret = SecretRef::tenant(service, tenant.clone(), SecretKind::Managed);
        let previous = {
            let mut conn = self.db.pool().acquire().await?;
            db::secrets::provider_key_id(&mut conn, &secret).await?
        };
        let minted = self
            .providers()
            .provision(service, &admin, tenant.as_str())
            .await
            .map_err(provision_error)?;
        let meta = self
            .store_secret(
                actor,
                &secret,
                &minted.key,
                Write {
                    validation: Some(Validation::Valid),
                    requested_by,
                    provider_key_id: minted.provider_key_id.as_deref(),
                    ..Write::new("secret.provision")
                },
            )
            .await?;
        if let Some(old) = previous.filter(|old| Some(old) != minted.provider_key_id.as_ref()) {
            self.revoke_at_provider(actor, &secret, &admin, &old)
                .await?;
        }
        Ok(meta)
    }

    /// Revokes a replaced managed key at its provider, and audits the outcome.
    async fn revoke_at_provider(
        &self,
        actor: &Actor,
        secret: &SecretRef,
        admin: &str,
        provider_key_id: &str,
    ) -> Result<()> {
        let service = secret.service;
        let outcome = self
            .providers()
            .revoke(service, admin, provider_key_id)
            .await;
        let mut entry = actor.entry(
            "secret.revoke_at_provider",
            "secret",
            secret.name(),
            secret.owner.tenant().map(|t| t.as_str()),
            json!({"service": service.as_str(), "provider_key_id": provider_key_id,
                   "error": outcome.as_ref().err().map(ToString::to_string)}),
        );
        if let Err(e) = &outcome {
            tracing::warn!(secret = %secret.name(), error = %e, "the replaced managed key could not be revoked at its provider");
            entry.outcome = "failed";
        }
        self.audit_now(entry).await
    }

    /// Deletes a tenant's own (customer) key and its kept versions: the
    /// tenant then resolves to its managed key, else the pooled one.
    pub async fn delete_secret(&self, actor: &Actor, secret: &SecretRef) -> Result<()> {
        let now = now();
        let mut tx = self.db.begin().await?;
        if !db::secrets::delete(&mut tx, secret).await? {
            return Err(Error::not_found(
                "SECRET_NOT_FOUND",
                format!("no {} secret '{}'", secret.kind.as_str(), secret.name()),
            ));
        }
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "secret.delete",
                "secret",
                secret.name(),
                secret.owner.tenant().map(|t| t.as_str()),
                json!({"service": secret.service.as_str(), "kind": secret.kind.as_str()}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The kept previous versions of a secret (never their values), newest first.
    pub async fn previous_versions(
        &self,
        secret: &SecretRef,
    ) -> Result<Vec<db::secrets::PreviousVersion>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::secrets::previous_versions(&mut conn, secret).await?)
    }

    /// Makes a kept previous version current again, as a new version (the
    /// one it replaces is kept in turn), audited as `secret.rollback`.
    pub async fn rollback_secret(
        &self,
        actor: &Actor,
        secret: &SecretRef,
        version: i64,
    ) -> Result<SecretMeta> {
        let sealed = {
            let mut conn = self.db.pool().acquire().await?;
            db::secrets::find_previous(&mut conn, secret, version)
                .await?
                .ok_or_else(|| {
                    Error::not_found(
                        "SECRET_VERSION_NOT_FOUND",
                        format!("'{}' keeps no version {version}", secret.name()),
                    )
                })?
        };
        let value = self.open_secret(secret, &sealed)?;
        let note = format!("rollback to version {version}");
        let write = Write {
            requested_by: Some(&note),
            ..Write::new("secret.rollback")
        };
        self.store_secret(actor, secret, &value, write).await
    }

    /// The secrets of one tenant (or all), without their values.
    pub async fn list_secrets(&self, tenant: Option<&TenantId>) -> Result<Vec<SecretMeta>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::secrets::list(&mut conn, tenant).await?)
    }

    /// Adds a master key version and re-seals every secret under it while
    /// the vault keeps serving (each row is swapped only if unchanged since
    /// it was read). Returns the new version and how many secrets moved.
    ///
    /// A new version written into this host's `master.keys` exists on this
    /// host only: on PostgreSQL (where replicas share the database) this is
    /// refused unless `only_replica` says no other replica uses the database;
    /// with a keyring from configuration it is always refused (change the
    /// configuration, then `reseal`).
    pub async fn rotate_master(&self, actor: &Actor, only_replica: bool) -> Result<(i64, u64)> {
        let keyring = &self.keyring;
        if keyring.is_configured() {
            return Err(vault_error(VaultError::Configured));
        }
        if self.db.engine() == crate::db::Engine::Postgres && !only_replica {
            return Err(Error::conflict(
                "MASTER_KEY_NOT_SHARED",
                "replicas sharing this PostgreSQL database would not have a version written \
                 into this host's master.keys; give every replica the keyring through \
                 KEYWARD_MASTER_KEYS (see the README), or pass --only-replica if no other \
                 replica uses this database",
            ));
        }
        let version = keyring.add_version().map_err(vault_error)?;
        // Recorded before anything is sealed under it: a replica started
        // without this version now refuses to start instead of failing reads.
        if let Some((_, fingerprint)) = keyring
            .fingerprints()
            .into_iter()
            .find(|(v, _)| *v == version)
        {
            let mut conn = self.db.pool().acquire().await?;
            db::fingerprints::set(
                &mut conn,
                &format!("master_key_v{version}"),
                &fingerprint,
                now(),
            )
            .await?;
        }
        let moved = self.reseal_under(version).await?;
        self.audit_now(actor.entry(
            "vault.rotate_master",
            "vault",
            format!("master-key-{version}"),
            None,
            json!({"version": version, "resealed": moved}),
        ))
        .await?;
        Ok((version, moved))
    }

    /// Re-seals every secret not yet under the active master key version
    /// (after `KEYWARD_MASTER_KEY_ACTIVE` moved on every replica). Returns
    /// the active version and how many secrets moved.
    pub async fn reseal(&self, actor: &Actor) -> Result<(i64, u64)> {
        let version = self.keyring.current_version();
        let moved = self.reseal_under(version).await?;
        self.audit_now(actor.entry(
            "vault.reseal",
            "vault",
            format!("master-key-{version}"),
            None,
            json!({"version": version, "resealed": moved}),
        ))
        .await?;
        Ok((version, moved))
    }

    /// Re-seals what is sealed under other versions than `version` (the
    /// active one), while the vault keeps serving: each row is swapped only
    /// if unchanged since it was read.
    async fn reseal_under(&self, version: i64) -> Result<u64> {
        let keyring = &self.keyring;
        let mut moved = 0u64;
        loop {
            let batch = {
                let mut conn = self.db.pool().acquire().await?;
                db::secrets::sealed_under_other_versions(&mut conn, version, 100).await?
            };
            if batch.is_empty() {
                break;
            }
            for (meta, old) in batch {
                let aad = meta.secret.associated_data();
                let plain = keyring.open_sealed(&old, &aad).map_err(vault_error)?;
                let new = keyring.seal(&plain, &aad).map_err(vault_error)?;
                let mut conn = self.db.pool().acquire().await?;
                if db::secrets::reseal(&mut conn, &meta.secret, &old, &new).await? {
                    moved += 1;
                }
            }
        }
        // The kept previous versions move too, or retiring the old master
        // key would leave them unreadable.
        loop {
            let batch = {
                let mut conn = self.db.pool().acquire().await?;
                db::secrets::previous_under_other_versions(&mut conn, version, 100).await?
            };
            if batch.is_empty() {
                break;
            }
            for (secret, v, old) in batch {
                let aad = secret.associated_data();
                let plain = keyring.open_sealed(&old, &aad).map_err(vault_error)?;
                let new = keyring.seal(&plain, &aad).map_err(vault_error)?;
                let mut conn = self.db.pool().acquire().await?;
                db::secrets::reseal_previous(&mut conn, &secret, v, &old, &new).await?;
            }
        }
        // Webhook endpoints' signing secrets are sealed by the same keyring.
        loop {
            let batch = {
                let mut conn = self.db.pool().acquire().await?;
                db::webhooks::endpoints_under_other_versions(&mut conn, version, 100).await?
            };
            if batch.is_empty() {
                break;
            }
            for e in batch {
                let aad = super::webhooks::endpoint_aad(&e.id);
                let old = super::webhooks::sealed_of(&e)?;
                let plain = keyring.open_sealed(&old, &aad).map_err(vault_error)?;
                let new = keyring.seal(&plain, &aad).map_err(vault_error)?;
                let mut conn = self.db.pool().acquire().await?;
                db::webhooks::reseal_endpoint(
                    &mut conn,
                    &e.id,
                    &e.secret_sealed,
                    new.key_version,
                    &super::webhooks::b64(&new.nonce),
                    &super::webhooks::b64(&new.ciphertext),
                )
                .await?;
            }
        }
        Ok(moved)
    }

    /// Removes an old master key version once nothing is sealed under it.
    pub async fn retire_master(&self, actor: &Actor, version: i64) -> Result<()> {
        let in_use = {
            let mut conn = self.db.pool().acquire().await?;
            db::secrets::count_under_version(&mut conn, version).await?
        };
        if in_use > 0 {
            return Err(Error::conflict(
                "MASTER_KEY_IN_USE",
                format!("{in_use} secrets are still sealed under version {version}; run rotate-master first"),
            ));
        }
        if !self.keyring.retire_version(version).map_err(vault_error)? {
            return Err(Error::conflict(
                "MASTER_KEY_NOT_RETIRABLE",
                format!("version {version} is the current one or not in the keyring file"),
            ));
        }
        {
            let mut conn = self.db.pool().acquire().await?;
            db::fingerprints::remove(&mut conn, &format!("master_key_v{version}")).await?;
        }
        self.audit_now(actor.entry(
            "vault.retire_master",
            "vault",
            format!("master-key-{version}"),
            None,
            json!({"version": version}),
        ))
        .await
    }
}

/// What checking a stored secret with its provider found and did.
#[derive(Debug)]
pub struct Checked {
    pub meta: SecretMeta,
    pub validation: Validation,
    /// Set when an invalid managed key was replaced by a newly provisioned one.
    pub healed: bool,
}

impl Vault {
    /// Checks a stored secret with its provider and records the outcome. A
    /// managed key the provider refuses is replaced (self-healing) when its
    /// adapter can provision and admin credentials are at hand: the new key
    /// is a new version, swapped in atomically, and the swap is audited.
    pub async fn check_secret(&self, actor: &Actor, secret: &SecretRef) -> Result<Checked> {
        let found = {
            let mut conn = self.db.pool().acquire().await?;
            db::secrets::find(&mut conn, secret).await?
        };
        let Some((_, sealed)) = found else {
            return Err(Error::not_found(
                "SECRET_NOT_FOUND",
                format!("there is no secret '{}'", secret.name()),
            ));
        };
        let value = self.open_secret(secret, &sealed)?;
        let validation = self.providers().validate(secret.service, &value).await;
        let now = now();
        let mut tx = self.db.begin().await?;
        db::secrets::set_validation(&mut tx, secret, validation, now).await?;
        let mut entry = actor.entry(
            "secret.validate",
            "secret",
            secret.name(),
            secret.owner.tenant().map(|t| t.as_str()),
            json!({"service": secret.service.as_str(), "kind": secret.kind.as_str(), "validation": validation.as_str()}),
        );
        if validation != Validation::Valid {
            entry.outcome = "failed";
        }
        db::audit::insert(&mut tx, &entry, now).await?;
        tx.commit().await?;

        let can_heal = validation == Validation::Invalid
            && secret.kind == SecretKind::Managed
            && self.providers().adapter(secret.service).can_provision();
        if let (true, Some(tenant)) = (can_heal, secret.owner.tenant()) {
            match self
                .provision_managed(actor, secret.service, tenant, Some("self-healing"))
                .await
            {
                Ok(meta) => {
                    self.announce_check(secret, "healed");
                    self.audit_now(actor.entry(
                        "secret.heal",
                        "secret",
                        secret.name(),
                        Some(tenant.as_str()),
                        json!({"service": secret.service.as_str(), "replaced_by_version": meta.version}),
                    ))
                    .await?;
                    return Ok(Checked {
                        meta,
                        validation,
                        healed: true,
                    });
                }
                Err(e) => {
                    tracing::warn!(secret = %secret.name(), error = %e, "could not replace an invalid managed key");
                }
            }
        }
        self.announce_check(
            secret,
            match validation {
                Validation::Valid => "valid",
                Validation::Invalid => "invalid",
                Validation::Unavailable => "unreachable",
            },
        );
        let mut conn = self.db.pool().acquire().await?;
        let (meta, _) = db::secrets::find(&mut conn, secret)
            .await?
            .ok_or_else(|| Error::Store(sqlx::Error::RowNotFound))?;
        Ok(Checked {
            meta,
            validation,
            healed: false,
        })
    }

    /// Counts a check's outcome and announces a failure or a healing.
    fn announce_check(&self, secret: &SecretRef, outcome: &'static str) {
        use crate::domain::events::{Event, EventType};
        self.events
            .metrics()
            .provider_validation(secret.service.as_str(), outcome);
        let kind = match outcome {
            "healed" => EventType::ProviderKeyHealed,
            "invalid" => EventType::ProviderKeyValidationFailed,
            _ => return,
        };
        let tenant = secret.owner.tenant().map(|t| t.as_str());
        self.events.emit(Event::new(
            kind,
            tenant,
            json!({"secret": secret.name(), "service": secret.service.as_str(),
                   "kind": secret.kind.as_str(), "tenant_id": tenant}),
        ));
    }
}
