//! The audit log: append-only.

use super::{get_ts, ts, Conn};
use crate::domain::audit::{AuditEntry, NewAuditEntry};
use chrono::{DateTime, Utc};
use sqlx::Row;

pub async fn insert(conn: &mut Conn, entry: &NewAuditEntry, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, target_type, target, tenant_id, request_id, \
         outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ts(at))
    .bind(&entry.actor)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(&entry.target)
    .bind(entry.tenant_id.clone())
    .bind(&entry.request_id)
    .bind(entry.outcome)
    .bind(entry.detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Filters for reading the trail; every field narrows the result.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub target: Option<String>,
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries with a smaller id (for paging backwards).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub async fn query(conn: &mut Conn, filter: &AuditFilter) -> sqlx::Result<Vec<AuditEntry>> {
    let mut sql = String::from(
        "SELECT id, at, actor, action, target_type, target, tenant_id, request_id, outcome, detail \
         FROM audit_log WHERE 1 = 1",
    );
    let mut args: Vec<String> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, value: String| {
        args.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(v) = &filter.target {
        push(&mut sql, " AND target = ?", v.clone());
    }
    if let Some(v) = &filter.tenant_id {
        push(&mut sql, " AND tenant_id = ?", v.clone());
    }
    if let Some(v) = &filter.actor {
        push(&mut sql, " AND actor = ?", v.clone());
    }
    if let Some(v) = &filter.action {
        push(&mut sql, " AND action = ?", v.clone());
    }
    if let Some(v) = filter.from {
        push(&mut sql, " AND at >= ?", ts(v));
    }
    if let Some(v) = filter.to {
        push(&mut sql, " AND at < ?", ts(v));
    }
    let n = args.len();
    sql.push_str(&format!(
        " AND id < ${} ORDER BY id DESC LIMIT ${}",
        n + 1,
        n + 2
    ));
    let mut q = sqlx::query(&sql);
    for a in args {
        q = q.bind(a);
    }
    let rows = q
        .bind(filter.before_id.unwrap_or(i64::MAX))
        .bind(filter.limit)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(AuditEntry {
                id: row.try_get("id")?,
                at: get_ts(row, "at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target_type: row.try_get("target_type")?,
                target: row.try_get("target")?,
                tenant_id: row.try_get("tenant_id")?,
                request_id: row.try_get("request_id")?,
                outcome: row.try_get("outcome")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            })
        })
        .collect()
}
