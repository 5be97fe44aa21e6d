//! Tenants.

use super::{get_parsed, get_ts, ts, Conn};
use crate::domain::ids::TenantId;
use crate::domain::plan::Plan;
use crate::domain::tenant::{Tenant, TenantStatus};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

const COLUMNS: &str = "id, name, plan, parent_id, status, created_at";

fn from_row(row: &AnyRow) -> sqlx::Result<Tenant> {
    let parent: Option<String> = row.try_get("parent_id")?;
    Ok(Tenant {
        id: get_parsed(row, "id", TenantId::parse)?,
        name: row.try_get("name")?,
        plan: get_parsed(row, "plan", |s| Plan::parse_field("plan", &s))?,
        parent_id: parent
            .map(TenantId::parse)
            .transpose()
            .map_err(|e| super::corrupt(format!("parent_id: {e}")))?,
        status: get_parsed(row, "status", |s| TenantStatus::parse_field("status", &s))?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// Inserts the tenant unless one with its id exists; true when inserted.
pub async fn insert_if_absent(conn: &mut Conn, tenant: &Tenant) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO tenants (id, name, plan, parent_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(tenant.id.as_str())
    .bind(&tenant.name)
    .bind(tenant.plan.as_str())
    .bind(tenant.parent_id.as_ref().map(|p| p.as_str().to_string()))
    .bind(tenant.status.as_str())
    .bind(ts(tenant.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn find(conn: &mut Conn, id: &TenantId) -> sqlx::Result<Option<Tenant>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of tenants in id order, optionally of one plan.
pub async fn list(
    conn: &mut Conn,
    plan: Option<Plan>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Tenant>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE ($1 = '' OR plan = $1) ORDER BY id LIMIT $2 OFFSET $3"
    ))
    .bind(plan.map(Plan::as_str).unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn count(conn: &mut Conn, plan: Option<Plan>) -> sqlx::Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM tenants WHERE ($1 = '' OR plan = $1)")
        .bind(plan.map(Plan::as_str).unwrap_or(""))
        .fetch_one(&mut *conn)
        .await?;
    row.try_get("n")
}

/// Applies the given changes; true when the tenant exists.
pub async fn update(
    conn: &mut Conn,
    id: &TenantId,
    name: Option<&str>,
    plan: Option<Plan>,
    status: Option<TenantStatus>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE tenants SET name = COALESCE($1, name), plan = COALESCE($2, plan), \
         status = COALESCE($3, status), updated_at = $4 WHERE id = $5",
    )
    .bind(name.map(str::to_string))
    .bind(plan.map(|p| p.as_str().to_string()))
    .bind(status.map(|s| s.as_str().to_string()))
    .bind(ts(now))
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
