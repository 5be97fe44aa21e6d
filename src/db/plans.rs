//! Plan limits as stored (editable; seeded by the first migration).

use super::Conn;
use crate::domain::plan::{Plan, PlanLimits};
use sqlx::Row;

pub async fn limits(conn: &mut Conn, plan: Plan) -> sqlx::Result<PlanLimits> {
    let row = sqlx::query(
        "SELECT requests_per_month, requests_per_second, concurrent_requests, max_payload_bytes, \
         max_cached_bytes FROM plans WHERE name = $1",
    )
    .bind(plan.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(PlanLimits {
        requests_per_month: row.try_get("requests_per_month")?,
        requests_per_second: row.try_get("requests_per_second")?,
        concurrent_requests: row.try_get("concurrent_requests")?,
        max_payload_bytes: row.try_get("max_payload_bytes")?,
        max_cached_bytes: row.try_get("max_cached_bytes")?,
    })
}

pub async fn all(conn: &mut Conn) -> sqlx::Result<std::collections::HashMap<Plan, PlanLimits>> {
    let mut out = std::collections::HashMap::new();
    for plan in Plan::ALL {
        out.insert(plan, limits(conn, plan).await?);
    }
    Ok(out)
}

pub async fn update(
    conn: &mut Conn,
    plan: Plan,
    l: &PlanLimits,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE plans SET requests_per_month = $1, requests_per_second = $2, \
         concurrent_requests = $3, max_payload_bytes = $4, max_cached_bytes = $5, updated_at = $6 \
         WHERE name = $7",
    )
    .bind(l.requests_per_month)
    .bind(l.requests_per_second)
    .bind(l.concurrent_requests)
    .bind(l.max_payload_bytes)
    .bind(l.max_cached_bytes)
    .bind(super::ts(now))
    .bind(plan.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
