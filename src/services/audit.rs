//! Reading the audit trail, and keeping repeated refusals from flooding it.

use super::{now, Result};
pub use crate::db::audit::AuditFilter;
use crate::db::{self, Db};
use crate::domain::audit::AuditEntry;
use crate::domain::audit::NewAuditEntry;
use std::sync::Arc;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The audit service: reads the trail, and writes refusals without letting
/// a repeated one flood it.
#[derive(Clone)]
pub struct Audit {
    db: Db,
    refusals: Arc<RefusalAudit>,
}

impl Audit {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            refusals: Arc::default(),
        }
    }

    /// Newest first; `filter.limit` is clamped to `1..=MAX_LIMIT`.
    pub async fn audit_trail(&self, mut filter: AuditFilter) -> Result<Vec<AuditEntry>> {
        filter.limit = filter.limit.clamp(1, MAX_LIMIT);
        let mut conn = self.db.pool().acquire().await?;
        Ok(db::audit::query(&mut conn, &filter).await?)
    }

    /// Writes one audit entry in its own transaction.
    pub async fn record(&self, entry: NewAuditEntry) -> Result<()> {
        let mut tx = self.db.begin().await?;
        db::audit::insert(&mut tx, &entry, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes a refusal, folding repeats: the first of a kind (same actor,
    /// action and target) at once, then at most one a minute carrying how
    /// many were folded into it. Never fails the caller.
    pub async fn record_refusal(
        &self,
        actor: &str,
        action: &'static str,
        mut entry: NewAuditEntry,
    ) {
        if let Some(folded) = self.refusals.admit(actor, action, &entry.target) {
            if folded > 0 {
                entry.detail["repeated"] = serde_json::json!(folded);
            }
            if let Err(e) = self.record(entry).await {
                tracing::error!(error = %e, "could not audit a refusal");
            }
        }
    }
}

/// How often one repeated refusal (same actor, action and target) is written.
pub const REFUSAL_AUDIT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Kinds of refusal remembered at once; beyond it, every refusal is written.
const MAX_KINDS: usize = 50_000;

/// Coalesces refusals that repeat: the first of a kind is written at once,
/// then at most one a minute, carrying how many were folded into it since the
/// last. A client hammering a refused call costs one audit write a minute, not
/// one a request.
#[derive(Default)]
pub struct RefusalAudit {
    kinds: std::sync::Mutex<std::collections::HashMap<(String, &'static str, String), Window>>,
}

struct Window {
    started: std::time::Instant,
    folded: u64,
}

impl RefusalAudit {
    /// `Some(n)` when this refusal is to be written, `n` being the earlier
    /// refusals of its kind folded into it; `None` when it is folded.
    pub fn admit(&self, actor: &str, action: &'static str, target: &str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let key = (actor.to_string(), action, target.to_string());
        if let Some(w) = kinds.get_mut(&key) {
            if now.duration_since(w.started) < REFUSAL_AUDIT_EVERY {
                w.folded += 1;
                return None;
            }
            let folded = w.folded;
            *w = Window {
                started: now,
                folded: 0,
            };
            return Some(folded);
        }
        if kinds.len() >= MAX_KINDS {
            kinds.retain(|_, w| now.duration_since(w.started) < REFUSAL_AUDIT_EVERY);
        }
        if kinds.len() < MAX_KINDS {
            kinds.insert(
                key,
                Window {
                    started: now,
                    folded: 0,
                },
            );
        }
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_refusal_is_written_once_a_window() {
        let audit = RefusalAudit::default();
        assert_eq!(
            audit.admit("key:k1", "secret.read", "ai-openai-acme"),
            Some(0)
        );
        for _ in 0..99 {
            assert_eq!(audit.admit("key:k1", "secret.read", "ai-openai-acme"), None);
        }
        // Another kind is written at once.
        assert_eq!(
            audit.admit("key:k2", "secret.read", "ai-openai-acme"),
            Some(0)
        );
    }
}
