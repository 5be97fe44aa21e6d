//! Dashboard admins: accounts (argon2id), sign-in with rate limiting, sessions
//! with a CSRF token, and the rule that viewers change nothing.

use super::{now, Error, Result};
use crate::crypto::password::{decoy_hash, hash_password, verify_password};
use crate::crypto::vault::Keyring;
use crate::db::admins::AdminUser;
use crate::db::{self, Db};
use crate::domain::admin::{check_password, parse_email, AdminRole};
use crate::domain::audit::Actor;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use std::sync::Arc;

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// Failed sign-ins one client may make for one account before it must wait;
/// each failure after that doubles the wait (1 s, 2 s, 4 s, ... up to 15 min).
pub const SIGN_IN_FREE_FAILURES: u32 = 5;

/// Sign-in attempts (of any outcome) per client address and minute.
pub const SIGN_IN_ATTEMPTS_PER_CLIENT_MINUTE: u32 = 20;

/// The longest a client waits after failing an account's password.
const SIGN_IN_MAX_BACKOFF_SECS: i64 = 15 * 60;

/// What a sign-in may cost, and who must wait (kept in memory, per replica: a
/// restart forgets it).
///
/// Failures are counted per account *and* client, so whoever guesses at an
/// account's password waits longer and longer, while the account's owner,
/// signing in from elsewhere, is never locked out by them. Password checks
/// (argon2id, 19 MiB each) run at most `hashing` at a time; more are refused
/// at once without hashing, so a flood cannot claim the server's memory.
pub struct SignInLimits {
    per_client: DefaultKeyedRateLimiter<String>,
    failures: dashmap::DashMap<(String, String), Failures>,
    hashing: tokio::sync::Semaphore,
}

/// One client's failed sign-ins at one account.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// No attempt from this client at this account before then.
    wait_until: DateTime<Utc>,
}

impl Failures {
    fn after_one_more(self, now: DateTime<Utc>) -> Self {
        let count = self.count.saturating_add(1);
        let wait = if count < SIGN_IN_FREE_FAILURES {
            0
        } else {
            let doublings = (count - SIGN_IN_FREE_FAILURES).min(20);
            (1i64 << doublings).min(SIGN_IN_MAX_BACKOFF_SECS)
        };
        Self {
            count,
            wait_until: now + Duration::seconds(wait),
        }
    }
}

impl SignInLimits {
    /// Refuses an attempt while its (email, client) pair is backing off
    /// after failures, or its client is over the per-minute attempts.
    fn admit(&self, pair: &(String, String)) -> Result<()> {
        if let Some(wait) = self.wait_secs(pair, Utc::now()) {
            return Err(too_many(
                wait,
                format!(
                    "too many failed sign-ins for this account from here; try again in {wait} s"
                ),
            ));
        }
        if self.per_client.check_key(&pair.1).is_err() {
            return Err(too_many(
                60,
                format!(
                    "too many sign-in attempts from here; at most {SIGN_IN_ATTEMPTS_PER_CLIENT_MINUTE} a minute"
                ),
            ));
        }
        Ok(())
    }

    pub fn new(hashing: usize) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).expect("non-zero"));
        Self {
            per_client: RateLimiter::keyed(per_minute(SIGN_IN_ATTEMPTS_PER_CLIENT_MINUTE)),
            failures: dashmap::DashMap::new(),
            hashing: tokio::sync::Semaphore::new(hashing.max(1)),
        }
    }

    /// Forgets addresses whose limits are back to full and failures long
    /// past, so the maps stay small however many names an attacker tries.
    pub fn forget_idle(&self) {
        self.per_client.retain_recent();
        let horizon = Utc::now() - Duration::seconds(SIGN_IN_MAX_BACKOFF_SECS);
        self.failures.retain(|_, f| f.wait_until > horizon);
    }

    /// Seconds this client must still wait before trying this account again.
    fn wait_secs(&self, pair: &(String, String), now: DateTime<Utc>) -> Option<u64> {
        let f = *self.failures.get(pair)?;
        (f.wait_until > now).then(|| (f.wait_until - now).num_seconds().max(1) as u64)
    }

    fn failed(&self, pair: (String, String), now: DateTime<Utc>) {
        let mut entry = self.failures.entry(pair).or_insert(Failures {
            count: 0,
            wait_until: now,
        });
        *entry = entry.after_one_more(now);
    }
}

fn too_many(retry_after_secs: u64, message: String) -> Error {
    Error::TooManyAttempts {
        code: "SIGN_IN_RATE_LIMITED",
        message,
        retry_after_secs,
    }
}

/// A signed-in admin, as a request sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub email: String,
    pub role: AdminRole,
    /// Must accompany every state-changing form of this session.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}
crate::debug_without_secrets!(AdminSession {
    email,
    role,
    expires_at
});

impl AdminSession {
    /// The audit actor of this admin's actions.
    pub fn actor(&self, request_id: String) -> Actor {
        Actor {
            name: format!("admin:{}", self.email),
            request_id,
        }
    }

    /// What this admin holds: the operator tokens' permission model (an
    /// admin every permission, a viewer the read ones).
    pub fn grants(&self) -> crate::domain::access::Grants {
        crate::domain::access::Grants::of_role(self.role)
    }

    /// Checks a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<()> {
        use subtle::ConstantTimeEq;
        if bool::from(self.csrf_token.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                code: "CSRF_MISMATCH",
                message: "the form is stale or not from this site; reload the page and try again"
                    .into(),
            })
        }
    }
}

/// A new session: the cookie's token (shown to the browser only) and its state.
pub struct SignedIn {
    pub token: String,
    pub session: AdminSession,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new session for `user`, stored (by its token's hash) in the transaction.
async fn open_session(
    conn: &mut db::Conn,
    user: &AdminUser,
    now: DateTime<Utc>,
) -> Result<(String, AdminSession)> {
    let token = random_token();
    let session = AdminSession {
        email: user.email.clone(),
        role: user.role,
        csrf_token: random_token(),
        expires_at: now + SESSION_TTL,
    };
    db::admins::insert_session(
        conn,
        &token_hash(&token),
        &session.email,
        &session.csrf_token,
        now,
        session.expires_at,
    )
    .await?;
    Ok((token, session))
}

fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes::<32>())
}

/// The admins service: accounts, sign-in and sessions of the dashboard.
#[derive(Clone)]
pub struct Admins {
    db: Db,
    /// Seals a new key's secret for the one page view that shows it.
    keyring: Arc<Keyring>,
    sign_in_limits: Arc<SignInLimits>,
}

impl Admins {
    pub fn new(db: Db, keyring: Arc<Keyring>, sign_in_concurrency: usize) -> Self {
        Self {
            db,
            keyring,
            sign_in_limits: Arc::new(SignInLimits::new(sign_in_concurrency)),
        }
    }

    /// Forgets sign-in attempts that no longer count.
    pub fn forget_idle(&self) {
        self.sign_in_limits.forget_idle()
    }

    /// Drops secrets held for a page view that never came.
    pub async fn drop_expired_flashes(&self) {
        if let Ok(mut conn) = self.db.pool().acquire().await {
            if let Err(e) = db::admins::delete_expired_flashes(&mut conn, now()).await {
                tracing::warn!(error = %e, "dropping unseen secret flashes failed");
            }
        }
    }

    /// Adds an admin account (audited). The password is hashed with argon2id
    /// off the async workers.
    pub async fn add_admin(
        &self,
        actor: &Actor,
        email: &str,
        role: AdminRole,
        password: String,
    ) -> Result<String> {
        let email = parse_email(email)?;
        check_password(&password)?;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| Error::internal("hashing a password", e))?
            .map_err(|e| Error::internal("hashing a password", e))?;
        let now = now();
        let mut tx = self.db.begin().await?;
        let added = db::admins::insert(
            &mut tx,
            &AdminUser {
                email: email.clone(),
                role,
                password_hash: hash,
                created_at: now,
            },
        )
        .await?;
        if !added {
            return Err(Error::conflict(
                "ADMIN_EXISTS",
                format!("an admin {email} exists already"),
            ));
        }
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "admin.add",
                "admin",
                email.clone(),
                None,
                json!({"role": role.as_str()}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(email)
    }

    /// How many admin accounts exist (none: the first-run path is open).
    pub async fn admin_count(&self) -> Result<i64> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::admins::count(&mut conn).await?)
    }

    /// Signs an admin in: rate-limited per email and per client address; an
    /// unknown email and a wrong password get the same answer in about the
    /// same time. Audited either way.
    pub async fn sign_in(&self, email: &str, password: String, client: &str) -> Result<SignedIn> {
        let email = parse_email(email).map_err(|_| invalid_credentials())?;
        let limits = &self.sign_in_limits;
        let pair = (email.clone(), client.to_string());
        limits.admit(&pair)?;
        // Taken before any work: a flood is refused, not queued.
        let Ok(_hashing) = limits.hashing.try_acquire() else {
            return Err(Error::Busy {
                code: "SIGN_IN_BUSY",
                message: "too many sign-ins are being checked right now; try again shortly".into(),
                retry_after_secs: 1,
            });
        };
        let user = {
            let mut conn = self.db.pool().acquire().await?;
            db::admins::find(&mut conn, &email).await?
        };
        let stored = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| decoy_hash().to_string());
        let ok = tokio::task::spawn_blocking(move || verify_password(&stored, &password))
            .await
            .unwrap_or(false);
        let now = now();
        let mut tx = self.db.begin().await?;
        let actor = Actor {
            name: format!("admin:{email}"),
            request_id: String::new(),
        };
        if !ok {
            limits.failed(pair, now);
        } else {
            limits.failures.remove(&pair);
        }
        let Some(user) = user.filter(|_| ok) else {
            db::audit::insert(
                &mut tx,
                &actor.entry(
                    "admin.sign_in_failed",
                    "admin",
                    email.clone(),
                    None,
                    json!({"client": client}),
                ),
                now,
            )
            .await?;
            tx.commit().await?;
            return Err(invalid_credentials());
        };
        let (token, session) = open_session(&mut tx, &user, now).await?;
        db::audit::insert(
            &mut tx,
            &actor.entry(
                "admin.sign_in",
                "admin",
                email,
                None,
                json!({"client": client}),
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(SignedIn { token, session })
    }

    /// The live session a cookie's token names, if any.
    pub async fn admin_session(&self, token: &str) -> Result<Option<AdminSession>> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::admins::session(&mut conn, &token_hash(token), now())
            .await?
            .map(|(email, role, csrf_token, expires_at)| AdminSession {
                email,
                role,
                csrf_token,
                expires_at,
            }))
    }

    /// Ends a session (audited).
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        let now = now();
        let mut tx = self.db.begin().await?;
        if let Some(email) = db::admins::delete_session(&mut tx, &token_hash(token)).await? {
            let actor = Actor {
                name: format!("admin:{email}"),
                request_id: String::new(),
            };
            db::audit::insert(
                &mut tx,
                &actor.entry("admin.sign_out", "admin", email, None, json!({})),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn invalid_credentials() -> Error {
    Error::Unauthenticated {
        code: "INVALID_CREDENTIALS",
        message: "the email or the password is wrong".into(),
    }
}

/// A secret made by a dashboard action, waiting to be shown once.
#[derive(Clone)]
pub struct NewSecret {
    pub key_id: String,
    pub secret: String,
    /// When the replaced secret stops working (rotation only).
    pub old_valid_until: Option<DateTime<Utc>>,
}
crate::debug_without_secrets!(NewSecret {
    key_id,
    old_valid_until
});

/// How long a new secret waits for the page that shows it.
const FLASH_TTL: Duration = Duration::minutes(2);

fn flash_aad(session_hash: &str, key_id: &str) -> Vec<u8> {
    format!("admin-flash/{session_hash}/{key_id}").into_bytes()
}

impl Admins {
    /// Holds `secret` for the session's next page view (any replica may
    /// serve it), sealed with the vault's master key.
    pub async fn hold_new_secret(&self, csrf_token: &str, secret: NewSecret) -> Result<()> {
        let session_hash = hex::encode(Sha256::digest(csrf_token.as_bytes()));
        let sealed = self
            .keyring
            .seal(
                secret.secret.as_bytes(),
                &flash_aad(&session_hash, &secret.key_id),
            )
            .map_err(|e| Error::Unavailable {
                code: "VAULT_UNAVAILABLE",
                message: e.to_string(),
            })?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut conn = self.db.pool().acquire().await?;
        db::admins::put_flash(
            &mut conn,
            &db::admins::Flash {
                session_hash,
                key_id: secret.key_id,
                key_version: sealed.key_version,
                nonce: b64.encode(&sealed.nonce),
                ciphertext: b64.encode(&sealed.ciphertext),
                old_valid_until: secret.old_valid_until,
                expires_at: now() + FLASH_TTL,
            },
        )
        .await?;
        Ok(())
    }

    /// Takes the secret held for the session, if any (it is deleted: shown once).
    pub async fn take_new_secret(&self, csrf_token: &str) -> Result<Option<NewSecret>> {
        let session_hash = hex::encode(Sha256::digest(csrf_token.as_bytes()));
        let mut conn = self.db.pool().acquire().await?;
        let Some(flash) = db::admins::take_flash(&mut conn, &session_hash, now()).await? else {
            return Ok(None);
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let sealed = crate::crypto::vault::Sealed {
            key_version: flash.key_version,
            nonce: b64.decode(&flash.nonce).unwrap_or_default(),
            ciphertext: b64.decode(&flash.ciphertext).unwrap_or_default(),
        };
        let plain = self
            .keyring
            .open_sealed(&sealed, &flash_aad(&session_hash, &flash.key_id))
            .map_err(|e| Error::Unavailable {
                code: "VAULT_UNAVAILABLE",
                message: e.to_string(),
            })?;
        Ok(Some(NewSecret {
            key_id: flash.key_id,
            secret: String::from_utf8_lossy(&plain).into_owned(),
            old_valid_until: flash.old_valid_until,
        }))
    }
}
