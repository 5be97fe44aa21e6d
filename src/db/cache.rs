//! The persistent tier of the response cache.

use super::{get_ts, ts, Conn};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A stored response as the cache reads it back.
pub struct StoredEntry {
    pub response: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub struct NewEntry<'a> {
    pub namespace: &'a str,
    pub entry_key: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub response: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn upsert(conn: &mut Conn, e: &NewEntry<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cache_entries (namespace, entry_key, provider, model, response, size_bytes, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (namespace, entry_key) DO UPDATE SET provider = excluded.provider, \
         model = excluded.model, response = excluded.response, size_bytes = excluded.size_bytes, \
         created_at = excluded.created_at, expires_at = excluded.expires_at",
    )
    .bind(e.namespace)
    .bind(e.entry_key)
    .bind(e.provider)
    .bind(e.model)
    .bind(e.response)
    .bind(e.response.len() as i64)
    .bind(ts(e.created_at))
    .bind(ts(e.expires_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Bytes the entries of the tenant owning `namespace` take, all its
/// namespaces together (kept by triggers on `cache_entries`).
pub async fn owner_cached_bytes(conn: &mut Conn, namespace: &str) -> sqlx::Result<i64> {
    sqlx::query(
        "SELECT t.cached_bytes FROM tenants t JOIN namespaces n ON n.tenant_id = t.id \
         WHERE n.name = $1",
    )
    .bind(namespace)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get("cached_bytes"))
    .transpose()
    .map(Option::unwrap_or_default)
}

/// The entry if it exists and has not expired at `now`.
pub async fn find_live(
    conn: &mut Conn,
    namespace: &str,
    entry_key: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<StoredEntry>> {
    let row = sqlx::query(
        "SELECT response, created_at, expires_at FROM cache_entries \
         WHERE namespace = $1 AND entry_key = $2 AND expires_at > $3",
    )
    .bind(namespace)
    .bind(entry_key)
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(StoredEntry {
            response: r.try_get("response")?,
            created_at: get_ts(&r, "created_at")?,
            expires_at: get_ts(&r, "expires_at")?,
        })
    })
    .transpose()
}

/// Removes one entry; true when there was one.
pub async fn delete(conn: &mut Conn, namespace: &str, entry_key: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM cache_entries WHERE namespace = $1 AND entry_key = $2")
        .bind(namespace)
        .bind(entry_key)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every entry of a namespace; returns how many.
pub async fn delete_namespace(conn: &mut Conn, namespace: &str) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM cache_entries WHERE namespace = $1")
        .bind(namespace)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Reclaims expired entries; returns how many.
pub async fn delete_expired(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM cache_entries WHERE expires_at <= $1")
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
