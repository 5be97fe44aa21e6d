//! The audit trail: who did what to which target, when, under which request.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One audit record. `detail` carries action-specific facts and never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target: String,
    pub tenant_id: Option<String>,
    pub request_id: String,
    pub outcome: String,
    pub detail: serde_json::Value,
}

/// An audit record about to be written.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target: String,
    pub tenant_id: Option<String>,
    pub request_id: String,
    pub outcome: &'static str,
    pub detail: serde_json::Value,
}

/// Who is acting, and under which request id; every mutating use case takes one.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub request_id: String,
}

impl Actor {
    pub fn entry(
        &self,
        action: &'static str,
        target_type: &'static str,
        target: impl Into<String>,
        tenant_id: Option<&str>,
        detail: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.name.clone(),
            action,
            target_type,
            target: target.into(),
            tenant_id: tenant_id.map(str::to_string),
            request_id: self.request_id.clone(),
            outcome: "success",
            detail,
        }
    }
}
