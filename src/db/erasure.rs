//! Erasing a tenant: everything the store holds of it, except its invoices
//! (kept for legal retention) and the audit trail (the record of who did
//! what, including the erasure). Runs inside the caller's transaction.

use super::usage::{decode_batch, encode_batch};
use super::{ts, Conn};
use crate::domain::ids::TenantId;
use chrono::{DateTime, Utc};
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
    /// Operator tokens restricted to exactly this tenant, revoked.
    pub operator_tokens: u64,
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
pub async fn erase_tenant(
    conn: &mut Conn,
    id: &TenantId,
    now: DateTime<Utc>,
) -> sqlx::Result<Erased> {
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
    e.cost_rollups = super::costs::forget_tenant(conn, t).await?;
    e.usage_records = erase_raw_records(conn, t, None).await?;
    // Tokens restricted to exactly this tenant have nothing left to act on.
    e.operator_tokens = sqlx::query(
        "UPDATE operator_tokens SET revoked_at = $2 WHERE tenant_scope = $1 AND revoked_at IS NULL",
    )
    .bind(t)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    delete(conn, "DELETE FROM tenant_plans WHERE tenant_id = $1", t).await?;
    delete(conn, "DELETE FROM tenants WHERE id = $1", t).await?;
    sqlx::query("INSERT INTO erased_tenants (id, erased_at) VALUES ($1, $2)")
        .bind(t)
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    Ok(e)
}

/// Rewrites the raw usage batches that hold the tenant's records without
/// them (a batch left empty is deleted), a page at a time so memory stays
/// bounded; only batches whose newest record is at `since` or later. The
/// number of records removed.
async fn erase_raw_records(
    conn: &mut Conn,
    tenant: &str,
    since: Option<DateTime<Utc>>,
) -> sqlx::Result<u64> {
    // The tenant's id appears quoted in the batch's label dictionary.
    let needle = serde_json::to_string(tenant).unwrap_or_default();
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let since = since.map(ts).unwrap_or_default();
    let mut removed = 0u64;
    let mut after = i64::MIN;
    loop {
        let rows = sqlx::query(
            "SELECT id, body FROM usage_batches WHERE id > $1 AND last_at >= $2 \
             AND body LIKE $3 ESCAPE '\\' ORDER BY id LIMIT 100",
        )
        .bind(after)
        .bind(&since)
        .bind(format!("%{escaped}%"))
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(removed);
        }
        for row in rows {
            let id: i64 = row.try_get("id")?;
            after = id;
            let body: String = row.try_get("body")?;
            removed += rewrite_batch(conn, id, &body, tenant).await?;
        }
    }
}

/// One batch without the tenant's records; how many were removed.
async fn rewrite_batch(conn: &mut Conn, id: i64, body: &str, tenant: &str) -> sqlx::Result<u64> {
    let records = decode_batch(body).map_err(|e| sqlx::Error::Decode(e.into()))?;
    let before = records.len();
    let kept: Vec<_> = records
        .into_iter()
        .filter(|r| &*r.tenant_id != tenant)
        .collect();
    let removed = (before - kept.len()) as u64;
    if removed == 0 {
        return Ok(0);
    }
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
    Ok(removed)
}

/// Whether an id belongs to an erased tenant (never issued again).
pub async fn was_erased(conn: &mut Conn, id: &TenantId) -> sqlx::Result<bool> {
    Ok(sqlx::query("SELECT id FROM erased_tenants WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

/// Deletes what queues in flight at an erasure wrote for erased tenants
/// afterwards (usage and cost rollups, events, raw records written since
/// shortly before the erasure); the rows removed.
pub async fn sweep_erased(conn: &mut Conn) -> sqlx::Result<u64> {
    let erased = sqlx::query("SELECT id, erased_at FROM erased_tenants")
        .fetch_all(&mut *conn)
        .await?;
    let mut removed = 0;
    for row in erased {
        let id: String = row.try_get("id")?;
        let at = super::get_ts(&row, "erased_at")?;
        removed += super::costs::forget_tenant(conn, &id).await?;
        for table in LATE_TABLES {
            removed += delete(
                conn,
                &format!("DELETE FROM {table} WHERE tenant_id = $1"),
                &id,
            )
            .await?;
        }
        removed += erase_raw_records(conn, &id, Some(at - chrono::Duration::minutes(5))).await?;
    }
    Ok(removed)
}

/// Where a write already queued at an erasure can still land.
/// (And the cost rollups: see `costs::forget_tenant`.)
const LATE_TABLES: [&str; 3] = ["usage_hourly", "usage_latency_hourly", "usage_events"];
