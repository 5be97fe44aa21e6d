//! Reading the audit trail.

use super::{Keyward, Result};
use crate::db;
pub use crate::db::audit::AuditFilter;
use crate::domain::audit::AuditEntry;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

impl Keyward {
    /// Newest first; `filter.limit` is clamped to `1..=MAX_LIMIT`.
    pub async fn audit_trail(&self, mut filter: AuditFilter) -> Result<Vec<AuditEntry>> {
        filter.limit = filter.limit.clamp(1, MAX_LIMIT);
        let mut conn = self.db().pool().acquire().await?;
        Ok(db::audit::query(&mut conn, &filter).await?)
    }
}
