//! Tenants.

use super::{get_parsed, get_ts, ts, Conn};
use crate::domain::access::TenantScope;
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
    if done.rows_affected() == 1 {
        super::money::record_plan(
            conn,
            &tenant.id,
            tenant.plan,
            tenant.created_at.date_naive(),
        )
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// A tenant's direct sub-organisations, by id.
pub async fn children(conn: &mut Conn, id: &TenantId) -> sqlx::Result<Vec<Tenant>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE parent_id = $1 ORDER BY id"
    ))
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Moves a tenant under another parent (or to the top with `None`).
pub async fn set_parent(
    conn: &mut Conn,
    id: &TenantId,
    parent: Option<&TenantId>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE tenants SET parent_id = $1, updated_at = $2 WHERE id = $3")
        .bind(parent.map(|p| p.as_str().to_string()))
        .bind(ts(now))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Every tenant's name, by id.
pub async fn names(conn: &mut Conn) -> sqlx::Result<std::collections::HashMap<String, String>> {
    sqlx::query("SELECT id, name FROM tenants")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
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

/// Bytes the tenant's cached responses take in the store (kept by triggers).
pub async fn cached_bytes(conn: &mut Conn, id: &TenantId) -> sqlx::Result<i64> {
    sqlx::query("SELECT cached_bytes FROM tenants WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("cached_bytes"))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// A page of tenants in id order, optionally of one plan.
pub async fn list(
    conn: &mut Conn,
    plan: Option<Plan>,
    scope: &TenantScope,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Tenant>> {
    let (exact, prefix) = scope_filter(scope);
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE ($1 = '' OR plan = $1) AND {} \
         ORDER BY id LIMIT $2 OFFSET $3",
        in_scope(4)
    ))
    .bind(plan.map(Plan::as_str).unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .bind(exact)
    .bind(prefix)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Tenants in a credential's scope: `$n` an exact id, `$n+1` an id prefix
/// (compared as text, so `_` in a prefix is no wildcard); `''` is no limit.
fn in_scope(n: usize) -> String {
    let m = n + 1;
    format!("(${n} = '' OR id = ${n}) AND (${m} = '' OR substr(id, 1, length(${m})) = ${m})")
}

fn scope_filter(scope: &TenantScope) -> (&str, &str) {
    match scope {
        TenantScope::All => ("", ""),
        TenantScope::Tenant(t) => (t.as_str(), ""),
        TenantScope::Prefix(p) => ("", p.as_str()),
    }
}

pub async fn count(conn: &mut Conn, plan: Option<Plan>, scope: &TenantScope) -> sqlx::Result<i64> {
    let (exact, prefix) = scope_filter(scope);
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM tenants WHERE ($1 = '' OR plan = $1) AND {}",
        in_scope(2)
    ))
    .bind(plan.map(Plan::as_str).unwrap_or(""))
    .bind(exact)
    .bind(prefix)
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
    if let (Some(plan), 1) = (plan, done.rows_affected()) {
        super::money::record_plan(conn, id, plan, now.date_naive()).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// What the customers table asks for: a text search over id and name, plan
/// and status filters, a sort, and a page.
#[derive(Debug, Clone, Default)]
pub struct TenantSearch {
    pub text: String,
    pub plan: Option<Plan>,
    pub status: Option<TenantStatus>,
    pub sort: TenantSort,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TenantSort {
    #[default]
    Id,
    Name,
    Plan,
    /// Newest first.
    Created,
}

impl TenantSort {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "id" => Some(Self::Id),
            "name" => Some(Self::Name),
            "plan" => Some(Self::Plan),
            "created" => Some(Self::Created),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "name",
            Self::Plan => "plan",
            Self::Created => "created",
        }
    }

    fn order_by(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "LOWER(name), id",
            Self::Plan => "plan, id",
            Self::Created => "created_at DESC, id",
        }
    }
}

/// A page of tenants matching the search, and how many match in all.
pub async fn search(conn: &mut Conn, s: &TenantSearch) -> sqlx::Result<(Vec<Tenant>, i64)> {
    // LIKE with its wildcards escaped: the text is matched literally.
    let text = s.text.trim().to_lowercase();
    let pattern = if text.is_empty() {
        String::new()
    } else {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    };
    let filter = "($1 = '' OR plan = $1) AND ($2 = '' OR status = $2) \
                  AND ($3 = '' OR LOWER(id) LIKE $3 ESCAPE '\\' OR LOWER(name) LIKE $3 ESCAPE '\\')";
    let plan = s.plan.map(Plan::as_str).unwrap_or("");
    let status = s.status.map(TenantStatus::as_str).unwrap_or("");
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tenants WHERE {filter} ORDER BY {} LIMIT $4 OFFSET $5",
        s.sort.order_by()
    ))
    .bind(plan)
    .bind(status)
    .bind(&pattern)
    .bind(s.limit)
    .bind(s.offset)
    .fetch_all(&mut *conn)
    .await?;
    let tenants = rows
        .iter()
        .map(from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    let total: i64 = sqlx::query(&format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM tenants WHERE {filter}"
    ))
    .bind(plan)
    .bind(status)
    .bind(&pattern)
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    Ok((tenants, total))
}
