//! Admin accounts and their sessions.

use super::{get_parsed, get_ts, ts, Conn};
use crate::domain::admin::AdminRole;
use chrono::{DateTime, Utc};
use sqlx::Row;

#[derive(Clone)]
pub struct AdminUser {
    pub email: String,
    pub role: AdminRole,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}
crate::debug_without_secrets!(AdminUser {
    email,
    role,
    created_at
});

/// Adds an account; false when the email is taken.
pub async fn insert(conn: &mut Conn, user: &AdminUser) -> sqlx::Result<bool> {
    let rows = sqlx::query(
        "INSERT INTO admin_users (email, role, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING email",
    )
    .bind(&user.email)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(ts(user.created_at))
    .fetch_all(&mut *conn)
    .await?;
    Ok(!rows.is_empty())
}

pub async fn find(conn: &mut Conn, email: &str) -> sqlx::Result<Option<AdminUser>> {
    let row = sqlx::query(
        "SELECT email, role, password_hash, created_at FROM admin_users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(AdminUser {
            email: r.try_get("email")?,
            role: get_parsed(&r, "role", |s| AdminRole::parse(&s))?,
            password_hash: r.try_get("password_hash")?,
            created_at: get_ts(&r, "created_at")?,
        })
    })
    .transpose()
}

pub async fn count(conn: &mut Conn) -> sqlx::Result<i64> {
    let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM admin_users")
        .fetch_one(&mut *conn)
        .await?;
    row.try_get("n")
}

pub async fn insert_session(
    conn: &mut Conn,
    token_hash: &str,
    email: &str,
    csrf: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO admin_sessions (token_hash, email, csrf_token, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(email)
    .bind(csrf)
    .bind(ts(now))
    .bind(ts(expires_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A live session: (email, role, csrf token, expires at).
pub async fn session(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(String, AdminRole, String, DateTime<Utc>)>> {
    let row = sqlx::query(
        "SELECT s.email AS email, u.role AS role, s.csrf_token AS csrf_token, s.expires_at AS expires_at \
         FROM admin_sessions s JOIN admin_users u ON u.email = s.email \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(ts(now))
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("email")?,
            get_parsed(&r, "role", |s| AdminRole::parse(&s))?,
            r.try_get("csrf_token")?,
            get_ts(&r, "expires_at")?,
        ))
    })
    .transpose()
}

/// Ends a session; returns its email when there was one.
pub async fn delete_session(conn: &mut Conn, token_hash: &str) -> sqlx::Result<Option<String>> {
    let row = sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1 RETURNING email")
        .bind(token_hash)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| r.try_get("email")).transpose()
}

/// Removes expired sessions.
pub async fn delete_expired_sessions(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// A sealed secret waiting for the page that shows it.
#[derive(Debug, Clone)]
pub struct Flash {
    pub session_hash: String,
    pub key_id: String,
    pub key_version: i64,
    pub nonce: String,
    pub ciphertext: String,
    pub old_valid_until: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// Holds a flash for a session (replacing one not yet shown).
pub async fn put_flash(conn: &mut Conn, f: &Flash) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO secret_flash (session_hash, key_id, key_version, nonce, ciphertext, old_valid_until, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_hash) DO UPDATE SET \
         key_id = excluded.key_id, key_version = excluded.key_version, nonce = excluded.nonce, \
         ciphertext = excluded.ciphertext, old_valid_until = excluded.old_valid_until, expires_at = excluded.expires_at",
    )
    .bind(&f.session_hash)
    .bind(&f.key_id)
    .bind(f.key_version)
    .bind(&f.nonce)
    .bind(&f.ciphertext)
    .bind(f.old_valid_until.map(ts))
    .bind(ts(f.expires_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes (deletes and returns) a session's flash, if one is waiting and unexpired.
pub async fn take_flash(
    conn: &mut Conn,
    session_hash: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Flash>> {
    // Almost every page view has nothing waiting: a read, no write lock.
    let waiting = sqlx::query("SELECT 1 AS one FROM secret_flash WHERE session_hash = $1")
        .bind(session_hash)
        .fetch_optional(&mut *conn)
        .await?;
    if waiting.is_none() {
        return Ok(None);
    }
    let row = sqlx::query(
        "DELETE FROM secret_flash WHERE session_hash = $1 \
         RETURNING session_hash, key_id, key_version, nonce, ciphertext, old_valid_until, expires_at",
    )
    .bind(session_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let time = |col: &str| -> sqlx::Result<Option<DateTime<Utc>>> {
        let v: Option<String> = r.try_get(col)?;
        v.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| super::corrupt(format!("secret_flash.{col}: {e}")))
        })
        .transpose()
    };
    let expires_at = time("expires_at")?.unwrap_or(now);
    if expires_at < now {
        return Ok(None);
    }
    Ok(Some(Flash {
        session_hash: r.try_get("session_hash")?,
        key_id: r.try_get("key_id")?,
        key_version: r.try_get("key_version")?,
        nonce: r.try_get("nonce")?,
        ciphertext: r.try_get("ciphertext")?,
        old_valid_until: time("old_valid_until")?,
        expires_at,
    }))
}

/// Drops flashes nobody came to see (run by the maintenance task).
pub async fn delete_expired_flashes(conn: &mut Conn, now: DateTime<Utc>) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM secret_flash WHERE expires_at < $1")
            .bind(ts(now))
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}
