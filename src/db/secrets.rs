//! Provider secrets, stored sealed (see `crypto::vault`). This module never
//! sees a plaintext.

use super::{corrupt, get_opt_ts, get_parsed, get_ts, ts, Conn};
use crate::crypto::vault::Sealed;
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::secret::{SecretKind, SecretMeta, SecretOwner, SecretRef, Service, Validation};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "service, owner, kind, name, tenant_id, version, key_version, nonce, \
    ciphertext, created_at, updated_at, last_validated_at, last_validation";

fn owner_from(raw: &str) -> sqlx::Result<SecretOwner> {
    if raw == "platform:" {
        return Ok(SecretOwner::Platform);
    }
    match raw.strip_prefix("pool:") {
        Some(tier) => Plan::parse_field("owner", tier)
            .map(SecretOwner::Pool)
            .map_err(|e| corrupt(format!("owner: {e}"))),
        None => TenantId::parse(raw)
            .map(SecretOwner::Tenant)
            .map_err(|e| corrupt(format!("owner: {e}"))),
    }
}

fn from_row(row: &AnyRow) -> sqlx::Result<(SecretMeta, Sealed)> {
    let secret = SecretRef {
        service: get_parsed(row, "service", |s| Service::parse(&s))?,
        owner: get_parsed(row, "owner", |s| owner_from(&s))?,
        kind: get_parsed(row, "kind", |s| SecretKind::parse(&s))?,
    };
    let last: Option<String> = row.try_get("last_validation")?;
    let nonce: String = row.try_get("nonce")?;
    let ciphertext: String = row.try_get("ciphertext")?;
    let key_version: i64 = row.try_get("key_version")?;
    Ok((
        SecretMeta {
            secret,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            key_version,
            created_at: get_ts(row, "created_at")?,
            updated_at: get_ts(row, "updated_at")?,
            last_validated_at: get_opt_ts(row, "last_validated_at")?,
            last_validation: last.as_deref().and_then(Validation::parse),
        },
        Sealed {
            key_version,
            // Undecodable text becomes an empty value, which fails to open
            // as tampered rather than failing the whole listing.
            nonce: hex::decode(nonce).unwrap_or_default(),
            ciphertext: B64.decode(ciphertext).unwrap_or_default(),
        },
    ))
}

fn bind_ref<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    secret: &SecretRef,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(secret.service.as_str())
        .bind(secret.owner.key())
        .bind(secret.kind.as_str())
}

pub async fn find(
    conn: &mut Conn,
    secret: &SecretRef,
) -> sqlx::Result<Option<(SecretMeta, Sealed)>> {
    bind_ref(
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM provider_secrets WHERE service = $1 AND owner = $2 AND kind = $3"
        )),
        secret,
    )
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Stores a new value (a new version when one existed, the replaced one
/// kept sealed among the newest `keep` previous versions), with the
/// provider's id of the key when known; returns the version.
#[allow(clippy::too_many_arguments)]
pub async fn put(
    conn: &mut Conn,
    secret: &SecretRef,
    sealed: &Sealed,
    validation: Option<Validation>,
    provider_key_id: Option<&str>,
    now: DateTime<Utc>,
    keep: i64,
) -> sqlx::Result<i64> {
    archive_current(conn, secret, now, keep).await?;
    let row = bind_ref(
        sqlx::query(
            "INSERT INTO provider_secrets (service, owner, kind, name, tenant_id, version, key_version, \
             nonce, ciphertext, created_at, updated_at, last_validated_at, last_validation, \
             provider_key_id) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $9, $10, $11, $12) \
             ON CONFLICT (service, owner, kind) DO UPDATE SET version = provider_secrets.version + 1, \
             key_version = excluded.key_version, nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at, last_validated_at = excluded.last_validated_at, \
             last_validation = excluded.last_validation, \
             provider_key_id = excluded.provider_key_id RETURNING version",
        ),
        secret,
    )
    .bind(secret.name())
    .bind(secret.owner.tenant().map(|t| t.to_string()))
    .bind(sealed.key_version)
    .bind(hex::encode(&sealed.nonce))
    .bind(B64.encode(&sealed.ciphertext))
    .bind(ts(now))
    .bind(validation.map(|_| ts(now)))
    .bind(validation.map(|v| v.as_str().to_string()))
    .bind(provider_key_id)
    .fetch_one(&mut *conn)
    .await?;
    row.try_get("version")
}

/// The provider's id of the live key, when keyward minted it and the
/// provider reported one.
pub async fn provider_key_id(conn: &mut Conn, secret: &SecretRef) -> sqlx::Result<Option<String>> {
    let row = bind_ref(
        sqlx::query(
            "SELECT provider_key_id FROM provider_secrets \
             WHERE service = $1 AND owner = $2 AND kind = $3",
        ),
        secret,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => row.try_get("provider_key_id"),
        None => Ok(None),
    }
}

pub async fn set_validation(
    conn: &mut Conn,
    secret: &SecretRef,
    validation: Validation,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = bind_ref(
        sqlx::query(
            "UPDATE provider_secrets SET last_validated_at = $4, last_validation = $5 \
             WHERE service = $1 AND owner = $2 AND kind = $3",
        ),
        secret,
    )
    .bind(ts(now))
    .bind(validation.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Copies the live value into the previous versions, then keeps only the
/// newest `keep` of those.
async fn archive_current(
    conn: &mut Conn,
    secret: &SecretRef,
    now: DateTime<Utc>,
    keep: i64,
) -> sqlx::Result<()> {
    if keep > 0 {
        bind_ref(
            sqlx::query(
                "INSERT INTO provider_secret_versions (service, owner, kind, version, key_version, \
                 nonce, ciphertext, created_at, replaced_at) \
                 SELECT service, owner, kind, version, key_version, nonce, ciphertext, updated_at, $4 \
                 FROM provider_secrets WHERE service = $1 AND owner = $2 AND kind = $3 \
                 ON CONFLICT (service, owner, kind, version) DO NOTHING",
            ),
            secret,
        )
        .bind(ts(now))
        .execute(&mut *conn)
        .await?;
    }
    bind_ref(
        sqlx::query(
            "DELETE FROM provider_secret_versions WHERE service = $1 AND owner = $2 AND kind = $3 \
             AND version NOT IN (SELECT version FROM provider_secret_versions \
             WHERE service = $1 AND owner = $2 AND kind = $3 ORDER BY version DESC LIMIT $4)",
        ),
        secret,
    )
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A previous version kept sealed.
#[derive(Debug, Clone)]
pub struct PreviousVersion {
    pub version: i64,
    pub key_version: i64,
    pub created_at: DateTime<Utc>,
    pub replaced_at: DateTime<Utc>,
}

/// The kept previous versions of a secret, newest first.
pub async fn previous_versions(
    conn: &mut Conn,
    secret: &SecretRef,
) -> sqlx::Result<Vec<PreviousVersion>> {
    let rows = bind_ref(
        sqlx::query(
            "SELECT version, key_version, created_at, replaced_at FROM provider_secret_versions \
             WHERE service = $1 AND owner = $2 AND kind = $3 ORDER BY version DESC",
        ),
        secret,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PreviousVersion {
                version: r.try_get("version")?,
                key_version: r.try_get("key_version")?,
                created_at: get_ts(r, "created_at")?,
                replaced_at: get_ts(r, "replaced_at")?,
            })
        })
        .collect()
}

fn sealed_from(row: &AnyRow) -> sqlx::Result<Sealed> {
    let nonce: String = row.try_get("nonce")?;
    let ciphertext: String = row.try_get("ciphertext")?;
    Ok(Sealed {
        key_version: row.try_get("key_version")?,
        nonce: hex::decode(nonce).unwrap_or_default(),
        ciphertext: B64.decode(ciphertext).unwrap_or_default(),
    })
}

/// One kept previous version, sealed.
pub async fn find_previous(
    conn: &mut Conn,
    secret: &SecretRef,
    version: i64,
) -> sqlx::Result<Option<Sealed>> {
    bind_ref(
        sqlx::query(
            "SELECT key_version, nonce, ciphertext FROM provider_secret_versions \
             WHERE service = $1 AND owner = $2 AND kind = $3 AND version = $4",
        ),
        secret,
    )
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(sealed_from)
    .transpose()
}

/// Deletes a secret and its kept versions; false when there was none.
pub async fn delete(conn: &mut Conn, secret: &SecretRef) -> sqlx::Result<bool> {
    bind_ref(
        sqlx::query(
            "DELETE FROM provider_secret_versions WHERE service = $1 AND owner = $2 AND kind = $3",
        ),
        secret,
    )
    .execute(&mut *conn)
    .await?;
    let done = bind_ref(
        sqlx::query("DELETE FROM provider_secrets WHERE service = $1 AND owner = $2 AND kind = $3"),
        secret,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Up to `limit` kept versions sealed under another master key than `current`.
pub async fn previous_under_other_versions(
    conn: &mut Conn,
    current: i64,
    limit: i64,
) -> sqlx::Result<Vec<(SecretRef, i64, Sealed)>> {
    let rows = sqlx::query(
        "SELECT service, owner, kind, version, key_version, nonce, ciphertext \
         FROM provider_secret_versions WHERE key_version <> $1 LIMIT $2",
    )
    .bind(current)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let secret = SecretRef {
                service: get_parsed(r, "service", |s| Service::parse(&s))?,
                owner: get_parsed(r, "owner", |s| owner_from(&s))?,
                kind: get_parsed(r, "kind", |s| SecretKind::parse(&s))?,
            };
            Ok((secret, r.try_get("version")?, sealed_from(r)?))
        })
        .collect()
}

/// Replaces a kept version's ciphertext with its re-sealed form (if unchanged).
pub async fn reseal_previous(
    conn: &mut Conn,
    secret: &SecretRef,
    version: i64,
    old: &Sealed,
    new: &Sealed,
) -> sqlx::Result<bool> {
    let done = bind_ref(
        sqlx::query(
            "UPDATE provider_secret_versions SET key_version = $5, nonce = $6, ciphertext = $7 \
             WHERE service = $1 AND owner = $2 AND kind = $3 AND version = $4 \
             AND key_version = $8 AND nonce = $9",
        ),
        secret,
    )
    .bind(version)
    .bind(new.key_version)
    .bind(hex::encode(&new.nonce))
    .bind(B64.encode(&new.ciphertext))
    .bind(old.key_version)
    .bind(hex::encode(&old.nonce))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every secret's metadata, of one tenant or all, in name order.
pub async fn list(conn: &mut Conn, tenant: Option<&TenantId>) -> sqlx::Result<Vec<SecretMeta>> {
    let rows = match tenant {
        Some(t) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM provider_secrets WHERE tenant_id = $1 ORDER BY name"
            ))
            .bind(t.as_str())
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM provider_secrets ORDER BY name"
            ))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter()
        .map(|r| from_row(r).map(|(meta, _)| meta))
        .collect()
}

/// Up to `limit` secrets sealed under a master key version other than `current`.
pub async fn sealed_under_other_versions(
    conn: &mut Conn,
    current: i64,
    limit: i64,
) -> sqlx::Result<Vec<(SecretMeta, Sealed)>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM provider_secrets WHERE key_version <> $1 ORDER BY name LIMIT $2"
    ))
    .bind(current)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// How many secrets are sealed under master key `version`.
pub async fn count_under_version(conn: &mut Conn, version: i64) -> sqlx::Result<i64> {
    let live: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM provider_secrets WHERE key_version = $1")
            .bind(version)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
    let kept: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM provider_secret_versions WHERE key_version = $1")
            .bind(version)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
    let signing: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM webhook_endpoints WHERE key_version = $1",
    )
    .bind(version)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    Ok(live + kept + signing)
}

/// Replaces a ciphertext with its re-sealed form, only if the row still holds
/// `old` (a concurrent write wins; the caller retries with the new value).
pub async fn reseal(
    conn: &mut Conn,
    secret: &SecretRef,
    old: &Sealed,
    new: &Sealed,
) -> sqlx::Result<bool> {
    let done = bind_ref(
        sqlx::query(
            "UPDATE provider_secrets SET key_version = $4, nonce = $5, ciphertext = $6 \
             WHERE service = $1 AND owner = $2 AND kind = $3 AND key_version = $7 AND nonce = $8",
        ),
        secret,
    )
    .bind(new.key_version)
    .bind(hex::encode(&new.nonce))
    .bind(B64.encode(&new.ciphertext))
    .bind(old.key_version)
    .bind(hex::encode(&old.nonce))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
