//! Operator tokens: least-privilege credentials for the management API (a
//! provisioning backend holds `tenants:write` and `keys:write`, a finance
//! script `billing:read`), and the switch that turns the bootstrap root token
//! off. Every check reads the store, so a revocation or expiry holds on the
//! very next request on every replica.

use super::audit::Audit;
use super::{now, Error, Result};
use crate::crypto::api_key::KeyHasher;
use crate::crypto::operator_token::{new_token_id, PlainOperatorToken};
use crate::db::{self, Db};
use crate::domain::access::{parse_permissions, Grants, OperatorToken, Permission, TenantScope};
use crate::domain::audit::{Actor, NewAuditEntry};
use crate::domain::ValidationError;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

/// How often a token's "last used" is written at most.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);
const ROOT_TOKEN_SETTING: &str = "root_token";
const MAX_NAME_CHARS: usize = 100;

/// What an operator asks for when creating a token.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    pub permissions: Vec<String>,
    /// `acme` (one tenant) or `acme-*` (a prefix); none for every tenant.
    pub tenant_scope: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `secrets:read` over every tenant is granted only when asked for by name.
    pub all_tenants_secrets: bool,
}

/// A created token: its secret, shown this once, and what it holds.
pub struct CreatedToken {
    pub secret: PlainOperatorToken,
    pub token: OperatorToken,
}

/// Who presented a credential, and what it holds.
#[derive(Debug, Clone)]
pub struct Operator {
    /// `root`, or `token:<id>`.
    pub name: String,
    pub grants: Grants,
    /// A token's expiry: what it creates expires no later.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Operator {
    /// The root token (and whoever works on the store): everything, no expiry.
    pub fn root() -> Self {
        Self {
            name: "root".into(),
            grants: Grants::root(),
            expires_at: None,
        }
    }
}

#[derive(Clone)]
pub struct Operators {
    db: Db,
    hasher: KeyHasher,
    audit: Audit,
    touched: Arc<dashmap::DashMap<String, std::time::Instant>>,
}

impl Operators {
    pub fn new(db: Db, hasher: KeyHasher, audit: Audit) -> Self {
        Self {
            db,
            hasher,
            audit,
            touched: Arc::default(),
        }
    }

    /// Creates a token holding at most what its creator holds, expiring no
    /// later than its creator (a token cannot outlive the one that made it).
    pub async fn create(
        &self,
        new: NewToken,
        creator: &Operator,
        actor: &Actor,
    ) -> Result<CreatedToken> {
        let grants = grants_of(&new, &creator.grants)?;
        let now = now();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(ValidationError::new("expires_at", "must be in the future").into());
        }
        let expires_at = match (new.expires_at, creator.expires_at) {
            (Some(e), Some(cap)) if e > cap => {
                return Err(ValidationError::new(
                    "expires_at",
                    format!("must not be later than the creating token's expiry ({cap})"),
                )
                .into())
            }
            (None, cap) => cap,
            (asked, _) => asked,
        };
        let secret = PlainOperatorToken::generate();
        let token = OperatorToken {
            id: new_token_id(),
            name: check_name(&new.name)?,
            display_prefix: secret.display_prefix(),
            grants,
            expires_at,
            created_at: now,
            created_by: actor.name.clone(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.db.begin().await?;
        db::operator_tokens::insert(&mut tx, &token, &secret.digest(&self.hasher).to_hex()).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "token.create",
                "operator_token",
                &token.id,
                None,
                json!({
                    "name": token.name,
                    "permissions": token.grants.permissions,
                    "tenant_scope": token.grants.tenants.to_stored(),
                    "expires_at": token.expires_at,
                }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedToken { secret, token })
    }

    pub async fn list(&self) -> Result<Vec<OperatorToken>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::operator_tokens::list(&mut conn).await?)
    }

    /// Revokes a token for good, with every token it created (and theirs):
    /// refused from the next request on, everywhere.
    pub async fn revoke(&self, id: &str, actor: &Actor) -> Result<OperatorToken> {
        let now = now();
        let mut tx = self.db.begin().await?;
        if !db::operator_tokens::revoke(&mut tx, id, now).await? {
            return Err(match db::operator_tokens::find(&mut tx, id).await? {
                Some(_) => Error::Conflict {
                    code: "TOKEN_REVOKED",
                    message: "this token is already revoked".into(),
                },
                None => Error::not_found("TOKEN_NOT_FOUND", "no operator token with this id"),
            });
        }
        let token = db::operator_tokens::find(&mut tx, id)
            .await?
            .ok_or_else(|| Error::internal("revoking a token", "it vanished"))?;
        let mut descendants = Vec::new();
        let mut creators = vec![token.actor_name()];
        while let Some(creator) = creators.pop() {
            for child in db::operator_tokens::revoke_created_by(&mut tx, &creator, now).await? {
                creators.push(format!("token:{child}"));
                descendants.push(child);
            }
        }
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "token.revoke",
                "operator_token",
                id,
                None,
                json!({ "name": token.name, "also_revoked": descendants }),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The live token a presented string is, or why not (401 codes).
    pub async fn authenticate(&self, presented: &str) -> Result<Operator> {
        let invalid = || Error::Unauthenticated {
            code: "UNAUTHORIZED",
            message: "the bearer token is not valid".into(),
        };
        let secret = PlainOperatorToken::parse(presented).ok_or_else(invalid)?;
        let digest = secret.digest(&self.hasher).to_hex();
        let mut conn = self.db.pool().acquire().await?;
        let token = db::operator_tokens::find_by_digest(&mut conn, &digest)
            .await?
            .ok_or_else(invalid)?;
        drop(conn);
        let now = now();
        if token.revoked_at.is_some() {
            return Err(Error::Unauthenticated {
                code: "TOKEN_REVOKED",
                message: "this operator token was revoked".into(),
            });
        }
        if !token.is_live(now) {
            return Err(Error::Unauthenticated {
                code: "TOKEN_EXPIRED",
                message: "this operator token has expired".into(),
            });
        }
        self.note_use(&token.id);
        Ok(Operator {
            name: token.actor_name(),
            grants: token.grants,
            expires_at: token.expires_at,
        })
    }

    /// Writes "last used" in the background, at most once a minute a token:
    /// the request never waits on it.
    fn note_use(&self, id: &str) {
        let due = self
            .touched
            .get(id)
            .is_none_or(|t| t.elapsed() >= TOUCH_EVERY.to_std().unwrap_or_default());
        if !due {
            return;
        }
        self.touched
            .insert(id.to_string(), std::time::Instant::now());
        let (db, id) = (self.db.clone(), id.to_string());
        tokio::spawn(async move {
            let done = async {
                let mut conn = db.pool().acquire().await?;
                db::operator_tokens::touch(&mut conn, &id, now(), TOUCH_EVERY).await
            };
            if let Err(e) = done.await {
                tracing::warn!(error = %e, "could not note an operator token's use");
            }
        });
    }

    /// Whether the bootstrap root token is accepted (read from the store, so
    /// turning it off holds on every replica at once).
    pub async fn root_enabled(&self) -> Result<bool> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::operator_tokens::setting(&mut conn, ROOT_TOKEN_SETTING)
            .await?
            .as_deref()
            != Some("disabled"))
    }

    /// Turns the root token off (only while a live, unrestricted token with
    /// `tokens:write` exists, so nobody is locked out) or on again.
    pub async fn set_root_enabled(&self, enabled: bool, actor: &Actor) -> Result<()> {
        let now = now();
        let mut tx = self.db.begin().await?;
        if !enabled {
            let tokens = db::operator_tokens::list(&mut tx).await?;
            let admin_token = tokens.iter().any(|t| {
                t.is_live(now)
                    && t.grants.permits(Permission::TokensWrite)
                    && t.grants.tenants.is_all()
            });
            if !admin_token {
                return Err(Error::Conflict {
                    code: "NO_OPERATOR_TOKEN",
                    message: "create a live operator token with tokens:write over every tenant \
                              before turning the root token off"
                        .into(),
                });
            }
        }
        let value = if enabled { "enabled" } else { "disabled" };
        db::operator_tokens::set_setting(&mut tx, ROOT_TOKEN_SETTING, value, now, &actor.name)
            .await?;
        let action = if enabled {
            "root_token.enable"
        } else {
            "root_token.disable"
        };
        db::audit::insert(
            &mut tx,
            &actor.entry(action, "root_token", "root", None, json!({})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Audits a refused management call (folded when it repeats).
    pub async fn record_refusal(
        &self,
        operator: &Operator,
        request_id: String,
        target: String,
        detail: serde_json::Value,
    ) {
        let entry = NewAuditEntry {
            actor: operator.name.clone(),
            action: "access.refused",
            target_type: "route",
            target,
            tenant_id: None,
            request_id,
            outcome: "refused",
            detail,
        };
        self.audit
            .record_refusal(&operator.name, "access.refused", entry)
            .await;
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters without control characters"),
        )
        .into());
    }
    Ok(name.to_string())
}

/// The grants a new token asks for, refused when they exceed its creator's or
/// ask for every tenant's secrets without saying so.
fn grants_of(new: &NewToken, creator: &Grants) -> Result<Grants> {
    let permissions = parse_permissions(&new.permissions)?;
    // Absent is every tenant; an empty or blank scope is a mistake, refused.
    let tenants = match new.tenant_scope.as_deref() {
        None => TenantScope::All,
        Some(s) => TenantScope::parse(s.trim())?,
    };
    let grants = Grants {
        permissions,
        tenants,
    };
    if grants.reads_every_tenants_secrets() && !new.all_tenants_secrets {
        return Err(ValidationError::new(
            "permissions",
            "secrets:read over every tenant is never implied: restrict the token with \
             tenant_scope, or ask for it by name with all_tenants_secrets: true",
        )
        .into());
    }
    if let Some(p) = grants.permissions.iter().find(|p| !creator.permits(**p)) {
        return Err(Error::Forbidden {
            code: "PERMISSION_NOT_HELD",
            message: format!("a token cannot grant {p}, which its creator does not hold"),
        });
    }
    if !creator.tenants.is_all() {
        return Err(Error::Forbidden {
            code: "TENANT_RESTRICTED",
            message: "a tenant-restricted credential cannot create tokens".into(),
        });
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(permissions: &[&str], scope: Option<&str>, all_secrets: bool) -> NewToken {
        NewToken {
            name: "t".into(),
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            tenant_scope: scope.map(str::to_string),
            expires_at: None,
            all_tenants_secrets: all_secrets,
        }
    }

    #[test]
    fn every_tenants_secrets_must_be_asked_for_by_name() {
        let root = Grants::root();
        assert!(grants_of(&asking(&["secrets:read"], None, false), &root).is_err());
        assert!(grants_of(&asking(&["secrets:read"], None, true), &root).is_ok());
        assert!(grants_of(&asking(&["secrets:read"], Some("acme"), false), &root).is_ok());
        // A blank scope is not "every tenant".
        assert!(grants_of(&asking(&["keys:read"], Some(""), false), &root).is_err());
    }

    #[test]
    fn a_token_grants_no_more_than_its_creator_holds() {
        let mut creator = Grants::root();
        creator.permissions = [Permission::TokensWrite, Permission::KeysRead]
            .into_iter()
            .collect();
        assert!(grants_of(&asking(&["keys:read"], None, false), &creator).is_ok());
        assert!(grants_of(&asking(&["keys:write"], None, false), &creator).is_err());
    }
}
