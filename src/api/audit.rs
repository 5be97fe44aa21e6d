//! `GET /api/audit`: the audit trail, newest first.

use super::access::{needs, Operator};
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::schemas::Timestamp;
use crate::domain::audit::AuditEntry;
use crate::services::audit::Audit;
use crate::services::audit::{AuditFilter, DEFAULT_LIMIT, MAX_LIMIT};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// A key id, tenant id or namespace name.
    pub target: Option<String>,
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    /// e.g. key.rotate, key.disable, key.provision, tenant.update, namespace.create
    pub action: Option<String>,
    /// RFC 3339, inclusive.
    #[param(value_type = Option<Timestamp>)]
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive.
    #[param(value_type = Option<Timestamp>)]
    pub to: Option<DateTime<Utc>>,
    /// Entries older than this id (paging).
    pub before_id: Option<i64>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target: String,
    pub tenant_id: Option<String>,
    pub request_id: String,
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target_type: e.target_type,
            target: e.target,
            tenant_id: e.tenant_id,
            request_id: e.request_id,
            outcome: e.outcome,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
}

/// The audit trail, newest first, filtered.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditQuery),
    security(("operator_token" = ["audit:read"])),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn audit_trail(
    State(audit): State<Audit>,
    _operator: Operator<needs::AuditRead>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(
            crate::domain::ValidationError::new("limit", "must be between 1 and 1000").into(),
        );
    }
    let entries = audit
        .audit_trail(AuditFilter {
            target: q.target,
            tenant_id: q.tenant_id,
            actor: q.actor,
            action: q.action,
            from: q.from,
            to: q.to,
            before_id: q.before_id,
            limit,
        })
        .await?;
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}
