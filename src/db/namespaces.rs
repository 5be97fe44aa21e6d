//! Namespaces.

use super::{get_parsed, get_ts, ts, Conn};
use crate::domain::ids::{NamespaceName, TenantId};
use crate::domain::namespace::Namespace;
use sqlx::any::AnyRow;
use sqlx::Row;

fn from_row(row: &AnyRow) -> sqlx::Result<Namespace> {
    Ok(Namespace {
        name: get_parsed(row, "name", NamespaceName::parse)?,
        tenant_id: get_parsed(row, "tenant_id", TenantId::parse)?,
        sector: row.try_get("sector")?,
        use_case: row.try_get("use_case")?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// Inserts the namespace unless the name is taken; true when inserted.
pub async fn insert_if_absent(conn: &mut Conn, ns: &Namespace) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO namespaces (name, tenant_id, sector, use_case, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
    )
    .bind(ns.name.as_str())
    .bind(ns.tenant_id.as_str())
    .bind(&ns.sector)
    .bind(&ns.use_case)
    .bind(ts(ns.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find(conn: &mut Conn, name: &NamespaceName) -> sqlx::Result<Option<Namespace>> {
    sqlx::query(
        "SELECT name, tenant_id, sector, use_case, created_at FROM namespaces WHERE name = $1",
    )
    .bind(name.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Every namespace, by name.
pub async fn list_all(conn: &mut Conn) -> sqlx::Result<Vec<Namespace>> {
    let rows = sqlx::query(
        "SELECT name, tenant_id, sector, use_case, created_at FROM namespaces ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// What deleting a namespace removed.
pub struct Deleted {
    pub cached_entries: u64,
    /// Keys' scopes naming it exactly (a name taken again later must not
    /// open to them); patterns (`jt_*`) stay, they name no one namespace.
    pub key_scopes: u64,
}

/// Deletes a namespace with its cached entries and the key scopes naming it.
pub async fn delete(conn: &mut Conn, name: &NamespaceName) -> sqlx::Result<Deleted> {
    // Entries first: their delete trigger finds the owner through the namespace.
    let cached_entries = super::cache::delete_namespace(conn, name.as_str()).await?;
    let key_scopes = sqlx::query("DELETE FROM api_key_scopes WHERE pattern = $1")
        .bind(name.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM namespaces WHERE name = $1")
        .bind(name.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(Deleted {
        cached_entries,
        key_scopes,
    })
}

pub async fn list_for_tenant(conn: &mut Conn, tenant: &TenantId) -> sqlx::Result<Vec<Namespace>> {
    let rows = sqlx::query(
        "SELECT name, tenant_id, sector, use_case, created_at FROM namespaces \
         WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(tenant.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
