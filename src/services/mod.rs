//! Use cases: provision, verify, rotate, disable and enable keys; tenants,
//! namespaces and the audit trail. The only layer that touches `db` and
//! `crypto`; it knows nothing of HTTP, HTML or the terminal.

pub mod audit;
mod key_cache;
pub mod keys;
pub mod tenants;

use crate::crypto::api_key::KeyHasher;
use crate::db::Db;
use crate::domain::ValidationError;
use chrono::{DateTime, SubsecRound, Utc};
use key_cache::KeyCache;
use std::sync::Arc;

/// The application core every adapter (REST API, server functions, CLI) calls.
#[derive(Clone)]
pub struct Keyward {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    hasher: KeyHasher,
    cache: KeyCache,
}

impl Keyward {
    pub fn new(db: Db, hasher: KeyHasher) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                hasher,
                cache: KeyCache::new(),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
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
    #[error("storage failure: {0}")]
    Store(#[from] sqlx::Error),
}

impl Error {
    fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> Self {
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

impl Keyward {
    /// Answers when the store answers (readiness probes).
    pub async fn check_store(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.db().pool()).await?;
        Ok(())
    }
}
