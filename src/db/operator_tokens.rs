//! Operator tokens (their secrets only as digests) and the operator's switches.

use super::{get_opt_ts, get_ts, ts, Conn};
use crate::domain::access::{
    permissions_from_stored, permissions_to_stored, Grants, OperatorToken, TenantScope,
};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "id, name, display_prefix, permissions, tenant_scope, expires_at, \
                       created_at, created_by, last_used_at, revoked_at";

pub async fn insert(conn: &mut Conn, token: &OperatorToken, digest_hex: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO operator_tokens (id, name, digest, display_prefix, permissions, \
         tenant_scope, expires_at, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&token.id)
    .bind(&token.name)
    .bind(digest_hex)
    .bind(&token.display_prefix)
    .bind(permissions_to_stored(&token.grants.permissions))
    .bind(token.grants.tenants.to_stored())
    .bind(token.expires_at.map(ts))
    .bind(ts(token.created_at))
    .bind(&token.created_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn from_row(r: &AnyRow) -> sqlx::Result<OperatorToken> {
    let permissions: String = r.try_get("permissions")?;
    let scope: Option<String> = r.try_get("tenant_scope")?;
    let bad = |e: crate::domain::ValidationError| super::corrupt(format!("operator token: {e}"));
    Ok(OperatorToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        display_prefix: r.try_get("display_prefix")?,
        grants: Grants {
            permissions: permissions_from_stored(&permissions).map_err(bad)?,
            tenants: match scope {
                None => TenantScope::All,
                Some(s) => TenantScope::parse(&s).map_err(bad)?,
            },
        },
        expires_at: get_opt_ts(r, "expires_at")?,
        created_at: get_ts(r, "created_at")?,
        created_by: r.try_get("created_by")?,
        last_used_at: get_opt_ts(r, "last_used_at")?,
        revoked_at: get_opt_ts(r, "revoked_at")?,
    })
}

pub async fn find_by_digest(
    conn: &mut Conn,
    digest_hex: &str,
) -> sqlx::Result<Option<OperatorToken>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator_tokens WHERE digest = $1"
    ))
    .bind(digest_hex)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn find(conn: &mut Conn, id: &str) -> sqlx::Result<Option<OperatorToken>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator_tokens WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Every token, newest first (revoked ones too: the list is their history).
pub async fn list(conn: &mut Conn) -> sqlx::Result<Vec<OperatorToken>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operator_tokens ORDER BY created_at DESC, id"
    ))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Revokes a live token; false when it is unknown or already revoked.
pub async fn revoke(conn: &mut Conn, id: &str, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let rows = sqlx::query(
        "UPDATE operator_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
         RETURNING id",
    )
    .bind(id)
    .bind(ts(now))
    .fetch_all(&mut *conn)
    .await?;
    Ok(!rows.is_empty())
}

/// Revokes the live tokens a creator (`token:<id>`) made; their ids.
pub async fn revoke_created_by(
    conn: &mut Conn,
    creator: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query(
        "UPDATE operator_tokens SET revoked_at = $2 WHERE created_by = $1 AND revoked_at IS NULL \
         RETURNING id",
    )
    .bind(creator)
    .bind(ts(now))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Notes a use, at most once per `every` (so a busy token writes once a minute).
pub async fn touch(
    conn: &mut Conn,
    id: &str,
    now: DateTime<Utc>,
    every: chrono::Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE operator_tokens SET last_used_at = $2 \
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(ts(now))
    .bind(ts(now - every))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn setting(conn: &mut Conn, name: &str) -> sqlx::Result<Option<String>> {
    let row = sqlx::query("SELECT value FROM operator_settings WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get("value")).transpose()
}

pub async fn set_setting(
    conn: &mut Conn,
    name: &str,
    value: &str,
    now: DateTime<Utc>,
    by: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO operator_settings (name, value, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET value = $2, \
         updated_at = $3, updated_by = $4",
    )
    .bind(name)
    .bind(value)
    .bind(ts(now))
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
