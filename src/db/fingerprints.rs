//! Fingerprints of the secrets replicas must share (see the migration
//! `0011_config_fingerprints`).

use super::{ts, Conn};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Every recorded fingerprint: (name, fingerprint).
pub async fn all(conn: &mut Conn) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT name, fingerprint FROM config_fingerprints ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("fingerprint")?)))
        .collect()
}

/// Records a fingerprint unless one of that name exists; returns the one in
/// force (the first replica to record it decides).
pub async fn record_first(
    conn: &mut Conn,
    name: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<String> {
    sqlx::query(
        "INSERT INTO config_fingerprints (name, fingerprint, recorded_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(fingerprint)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT fingerprint FROM config_fingerprints WHERE name = $1")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?
        .try_get("fingerprint")
}

/// Sets a fingerprint (a deliberate change: a new master key version, a
/// changed root token).
pub async fn set(
    conn: &mut Conn,
    name: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO config_fingerprints (name, fingerprint, recorded_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, recorded_at = excluded.recorded_at",
    )
    .bind(name)
    .bind(fingerprint)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn remove(conn: &mut Conn, name: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM config_fingerprints WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
