//! Erasing a tenant: everything the store holds of it, except its invoices
//! (kept for legal retention) and the audit trail (the record of who did
//! what, including the erasure). Runs inside the caller's transaction.

use super::usage::{decode_batch, encode_batch};
use super::{ts, Conn};
use crate::domain::ids::TenantId;
use serde::Serialize;
use sqlx::Row;

/// What an erasure removed, per kind (for the audit record and the answer).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Erased {
    pub keys: u64,
    pub namespaces: u64,
    pub cached_entries: u64,
    pub provider_secrets: u64,
    pub usage_records: u64,
    pub usage_rollups: u64,
    pub usage_events: u64,
    pub cost_rollups: u64,
    pub limit_counters: u64,
    /// Other tenants' keys' scopes that named the tenant's namespaces.
    pub foreign_key_scopes: u64,
}

async fn delete(conn: &mut Conn, sql: &str, tenant: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query(sql)
        .bind(tenant)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Deletes the tenant and what hangs off it. The caller has checked it
/// exists and has no sub-organisations.
pub async fn erase_tenant(conn: &mut Conn, id: &TenantId) -> sqlx::Result<Erased> {
    let t = id.as_str();
    let mut e = Erased {
        cached_entries: delete(
            conn,
            "DELETE FROM cache_entries WHERE namespace IN \
             (SELECT name FROM namespaces WHERE tenant_id = $1)",
            t,
        )
        .await?,
        foreign_key_scopes: delete(
            conn,
            "DELETE FROM api_key_scopes WHERE pattern IN \
             (SELECT name FROM namespaces WHERE tenant_id = $1)",
            t,
        )
        .await?,
        ..Erased::default()
    };
    e.namespaces = delete(conn, "DELETE FROM namespaces WHERE tenant_id = $1", t).await?;
    for table in ["api_key_scopes", "api_key_secrets"] {
        delete(
            conn,
            &format!(
                "DELETE FROM {table} WHERE key_id IN (SELECT id FROM api_keys WHERE tenant_id = $1)"
            ),
            t,
        )
        .await?;
    }
    e.limit_counters = delete(
        conn,
        "DELETE FROM limit_counters WHERE subject IN \
         (SELECT id || '/' || tenant_id FROM api_keys WHERE tenant_id = $1) \
         OR substr(subject, length(subject) - length($1)) = '/' || $1",
        t,
    )
    .await?;
    e.keys = delete(conn, "DELETE FROM api_keys WHERE tenant_id = $1", t).await?;
    // Kept previous versions of the tenant's secrets are owned by its id.
    delete(
        conn,
        "DELETE FROM provider_secret_versions WHERE owner = $1",
        t,
    )
    .await?;
    e.provider_secrets =
        delete(conn, "DELETE FROM provider_secrets WHERE tenant_id = $1", t).await?;
    for table in ["usage_hourly", "usage_latency_hourly"] {
        e.usage_rollups += delete(
            conn,
            &format!("DELETE FROM {table} WHERE tenant_id = $1"),
            t,
        )
        .await?;
    }
    e.usage_events = delete(conn, "DELETE FROM usage_events WHERE tenant_id = $1", t).await?;
    for table in ["cost_daily", "cost_daily_tenant", "cost_weekly"] {
        e.cost_rollups += delete(
            conn,
            &format!("DELETE FROM {table} WHERE tenant_id = $1"),
            t,
        )
        .await?;
    }
    e.usage_records = erase_raw_records(conn, t).await?;
    delete(conn, "DELETE FROM tenants WHERE id = $1", t).await?;
    Ok(e)
}

/// Rewrites the raw usage batches that hold the tenant's records without
/// them (a batch left empty is deleted); the number of records removed.
async fn erase_raw_records(conn: &mut Conn, tenant: &str) -> sqlx::Result<u64> {
    // The tenant's id appears quoted in the batch's label dictionary.
    let needle = serde_json::to_string(tenant).unwrap_or_default();
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let rows = sqlx::query("SELECT id, body FROM usage_batches WHERE body LIKE $1 ESCAPE '\\'")
        .bind(format!("%{escaped}%"))
        .fetch_all(&mut *conn)
        .await?;
    let mut removed = 0u64;
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let body: String = row.try_get("body")?;
        let records = decode_batch(&body).map_err(|e| sqlx::Error::Decode(e.into()))?;
        let before = records.len();
        let kept: Vec<_> = records
            .into_iter()
            .filter(|r| &*r.tenant_id != tenant)
            .collect();
        if kept.len() == before {
            continue;
        }
        removed += (before - kept.len()) as u64;
        match (
            kept.iter().map(|r| r.at).min(),
            kept.iter().map(|r| r.at).max(),
        ) {
            (Some(first), Some(last)) => {
                sqlx::query(
                    "UPDATE usage_batches SET body = $1, records = $2, first_at = $3, \
                     last_at = $4 WHERE id = $5",
                )
                .bind(encode_batch(&kept))
                .bind(kept.len() as i64)
                .bind(ts(first))
                .bind(ts(last))
                .bind(id)
                .execute(&mut *conn)
                .await?;
            }
            _ => {
                sqlx::query("DELETE FROM usage_batches WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(removed)
}
