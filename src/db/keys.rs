//! API keys, their scopes and their secret versions. Secrets are stored only
//! as digests; nothing here ever sees a plain key.

use super::{get_opt_ts, get_parsed, get_ts, ts, Conn};
use crate::domain::api_key::{ApiKey, KeyStatus, Permission, SecretVersion};
use crate::domain::ids::{Integration, KeyId, ProjectId, TenantId};
use crate::domain::namespace::NamespacePattern;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// A secret version about to be stored.
pub struct NewSecret<'a> {
    pub key_id: &'a KeyId,
    pub version: i64,
    pub digest_hex: String,
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_key(conn: &mut Conn, key: &ApiKey) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, integration, project_id, status, rate_limit, \
         expires_at, created_at, updated_at, permissions, name, metadata, \
         overall_per_second, overall_monthly) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(key.id.as_str())
    .bind(key.tenant_id.as_str())
    .bind(key.integration.as_str())
    .bind(key.project_id.as_str())
    .bind(key.status.as_str())
    .bind(key.rate_limit)
    .bind(key.expires_at.map(ts))
    .bind(ts(key.created_at))
    .bind(ts(key.updated_at))
    .bind(
        key.permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
    .bind(&key.name)
    .bind(metadata_text(&key.metadata))
    .bind(key.overall.requests_per_second)
    .bind(key.overall.requests_per_month)
    .execute(&mut *conn)
    .await?;
    insert_scopes(conn, key).await
}

fn metadata_text(metadata: &crate::domain::api_key::Metadata) -> String {
    serde_json::to_string(metadata).unwrap_or_else(|_| "{}".into())
}

async fn insert_scopes(conn: &mut Conn, key: &ApiKey) -> sqlx::Result<()> {
    for pattern in &key.scopes {
        sqlx::query("INSERT INTO api_key_scopes (key_id, pattern) VALUES ($1, $2)")
            .bind(key.id.as_str())
            .bind(pattern.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn insert_secret(conn: &mut Conn, secret: NewSecret<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO api_key_secrets (key_id, version, digest, display_prefix, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secret.key_id.as_str())
    .bind(secret.version)
    .bind(secret.digest_hex)
    .bind(secret.display_prefix)
    .bind(ts(secret.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Which key and version a digest belongs to. A digest never changes owner.
pub async fn find_secret_owner(
    conn: &mut Conn,
    digest_hex: &str,
) -> sqlx::Result<Option<(KeyId, i64)>> {
    let row = sqlx::query("SELECT key_id, version FROM api_key_secrets WHERE digest = $1")
        .bind(digest_hex)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok((
            get_parsed(&r, "key_id", KeyId::parse)?,
            r.try_get("version")?,
        ))
    })
    .transpose()
}

/// Stamps the key as changed. As the first statement of a transaction this
/// takes the lock that serialises concurrent changes; false when no such key.
pub async fn touch(conn: &mut Conn, id: &KeyId, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET updated_at = $1 WHERE id = $2")
        .bind(ts(now))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes a key's editable fields (name, labels, quota, expiry,
/// permissions, scopes) as `key` holds them.
pub async fn update(conn: &mut Conn, key: &ApiKey, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys SET name = $1, metadata = $2, rate_limit = $3, expires_at = $4, \
         permissions = $5, updated_at = $6, overall_per_second = $7, overall_monthly = $8 \
         WHERE id = $9",
    )
    .bind(&key.name)
    .bind(metadata_text(&key.metadata))
    .bind(key.rate_limit)
    .bind(key.expires_at.map(ts))
    .bind(
        key.permissions
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
    .bind(ts(now))
    .bind(key.overall.requests_per_second)
    .bind(key.overall.requests_per_month)
    .bind(key.id.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM api_key_scopes WHERE key_id = $1")
        .bind(key.id.as_str())
        .execute(&mut *conn)
        .await?;
    insert_scopes(conn, key).await
}

pub async fn set_status(
    conn: &mut Conn,
    id: &KeyId,
    status: KeyStatus,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(ts(now))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn max_version(conn: &mut Conn, id: &KeyId) -> sqlx::Result<i64> {
    let row =
        sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM api_key_secrets WHERE key_id = $1")
            .bind(id.as_str())
            .fetch_one(&mut *conn)
            .await?;
    row.try_get("v")
}

/// Ends every accepted version of the key at `grace_end` at the latest:
/// the current one gets that end, versions already in grace keep an earlier one.
pub async fn retire_secrets(
    conn: &mut Conn,
    id: &KeyId,
    grace_end: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_key_secrets SET expires_at = $1 \
         WHERE key_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
    )
    .bind(ts(grace_end))
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const KEY_COLUMNS: &str =
    "k.id, k.tenant_id, k.integration, k.project_id, k.status, k.rate_limit, \
     k.expires_at, k.created_at, k.updated_at, k.permissions, k.name, k.metadata, \
     k.overall_per_second, k.overall_monthly";

fn key_from_row(row: &AnyRow) -> sqlx::Result<ApiKey> {
    Ok(ApiKey {
        id: get_parsed(row, "id", KeyId::parse)?,
        tenant_id: get_parsed(row, "tenant_id", TenantId::parse)?,
        integration: get_parsed(row, "integration", Integration::parse)?,
        project_id: get_parsed(row, "project_id", ProjectId::parse)?,
        scopes: Vec::new(),
        name: row.try_get("name")?,
        metadata: get_parsed(row, "metadata", |s| serde_json::from_str(&s))?,
        permissions: get_parsed(row, "permissions", |s| {
            s.split(',')
                .filter(|p| !p.is_empty())
                .map(Permission::parse)
                .collect::<Result<Vec<_>, _>>()
        })?,
        status: get_parsed(row, "status", |s| {
            KeyStatus::parse(&s).ok_or_else(|| format!("unknown key status {s:?}"))
        })?,
        rate_limit: row.try_get("rate_limit")?,
        overall: crate::domain::limits::OverallLimits {
            requests_per_second: row.try_get("overall_per_second")?,
            requests_per_month: row.try_get("overall_monthly")?,
        },
        expires_at: get_opt_ts(row, "expires_at")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
        versions: Vec::new(),
    })
}

/// Loads keys matching `filter` (a SQL condition on `k` with `$1`), with
/// their scopes and versions, in three queries whatever the number of keys.
async fn load_where(conn: &mut Conn, filter: &str, arg: &str) -> sqlx::Result<Vec<ApiKey>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE {filter} ORDER BY k.created_at, k.id"
    ))
    .bind(arg)
    .fetch_all(&mut *conn)
    .await?;
    let mut keys = rows
        .iter()
        .map(key_from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Ok(keys);
    }
    let index: HashMap<String, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.id.as_str().to_string(), i))
        .collect();

    let scopes = sqlx::query(&format!(
        "SELECT s.key_id, s.pattern FROM api_key_scopes s JOIN api_keys k ON k.id = s.key_id \
         WHERE {filter} ORDER BY s.pattern"
    ))
    .bind(arg)
    .fetch_all(&mut *conn)
    .await?;
    for row in &scopes {
        let key_id: String = row.try_get("key_id")?;
        if let Some(&i) = index.get(&key_id) {
            keys[i]
                .scopes
                .push(get_parsed(row, "pattern", NamespacePattern::parse)?);
        }
    }

    let secrets = sqlx::query(&format!(
        "SELECT s.key_id, s.version, s.display_prefix, s.created_at, s.expires_at \
         FROM api_key_secrets s JOIN api_keys k ON k.id = s.key_id \
         WHERE {filter} ORDER BY s.version"
    ))
    .bind(arg)
    .fetch_all(&mut *conn)
    .await?;
    for row in &secrets {
        let key_id: String = row.try_get("key_id")?;
        if let Some(&i) = index.get(&key_id) {
            keys[i].versions.push(SecretVersion {
                version: row.try_get("version")?,
                display_prefix: row.try_get("display_prefix")?,
                created_at: get_ts(row, "created_at")?,
                expires_at: get_opt_ts(row, "expires_at")?,
            });
        }
    }
    Ok(keys)
}

pub async fn find(conn: &mut Conn, id: &KeyId) -> sqlx::Result<Option<ApiKey>> {
    Ok(load_where(conn, "k.id = $1", id.as_str()).await?.pop())
}

pub async fn list(conn: &mut Conn, tenant: Option<&TenantId>) -> sqlx::Result<Vec<ApiKey>> {
    match tenant {
        Some(t) => load_where(conn, "k.tenant_id = $1", t.as_str()).await,
        None => load_where(conn, "$1 = $1", "").await,
    }
}

/// An active key under a rotation policy (its own, else its tenant's
/// plan's): how often, and when its newest secret was made.
#[derive(Debug, Clone)]
pub struct RotationDue {
    pub key_id: String,
    pub tenant_id: String,
    pub every_days: i64,
    pub last_rotated_at: DateTime<Utc>,
}

pub async fn under_rotation_policy(conn: &mut Conn) -> sqlx::Result<Vec<RotationDue>> {
    sqlx::query(
        "SELECT k.id, k.tenant_id, \
         CAST(COALESCE(k.rotate_every_days, p.rotate_every_days) AS BIGINT) AS every_days, \
         MAX(s.created_at) AS last_rotated_at \
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
         JOIN plans p ON p.name = t.plan JOIN api_key_secrets s ON s.key_id = k.id \
         WHERE k.status = 'active' AND t.status = 'active' \
         AND COALESCE(k.rotate_every_days, p.rotate_every_days) IS NOT NULL \
         GROUP BY k.id, k.tenant_id, k.rotate_every_days, p.rotate_every_days \
         ORDER BY k.id",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(RotationDue {
            key_id: r.try_get("id")?,
            tenant_id: r.try_get("tenant_id")?,
            every_days: r.try_get("every_days")?,
            last_rotated_at: get_ts(r, "last_rotated_at")?,
        })
    })
    .collect()
}

/// Sets (or, with `None`, clears) a key's rotation policy.
pub async fn set_rotation_policy(
    conn: &mut Conn,
    id: &KeyId,
    every_days: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET rotate_every_days = $1 WHERE id = $2")
        .bind(every_days)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn rotation_policy(conn: &mut Conn, id: &KeyId) -> sqlx::Result<Option<i64>> {
    Ok(
        sqlx::query("SELECT rotate_every_days FROM api_keys WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get::<Option<i64>, _>("rotate_every_days"))
            .transpose()?
            .flatten(),
    )
}

/// Active keys expiring in `[from, to)`: (id, tenant, expiry).
pub async fn expiring(
    conn: &mut Conn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, String, DateTime<Utc>)>> {
    sqlx::query(
        "SELECT id, tenant_id, expires_at FROM api_keys WHERE status = 'active' \
         AND expires_at IS NOT NULL AND expires_at >= $1 AND expires_at < $2 ORDER BY expires_at",
    )
    .bind(ts(from))
    .bind(ts(to))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("tenant_id")?,
            get_ts(r, "expires_at")?,
        ))
    })
    .collect()
}

/// Sets (or clears) the rotation policy of a plan's keys without their own.
pub async fn set_plan_rotation_policy(
    conn: &mut Conn,
    plan: &str,
    every_days: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE plans SET rotate_every_days = $1 WHERE name = $2")
        .bind(every_days)
        .bind(plan)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
