//! Plan limits as stored (editable; seeded by the first migration).

use super::Conn;
use crate::domain::plan::{Plan, PlanLimits};
use sqlx::Row;

pub async fn limits(conn: &mut Conn, plan: Plan) -> sqlx::Result<PlanLimits> {
    let row = sqlx::query(
        "SELECT requests_per_month, requests_per_second, concurrent_requests, max_payload_bytes \
         FROM plans WHERE name = $1",
    )
    .bind(plan.as_str())
    .fetch_one(&mut *conn)
    .await?;
    Ok(PlanLimits {
        requests_per_month: row.try_get("requests_per_month")?,
        requests_per_second: row.try_get("requests_per_second")?,
        concurrent_requests: row.try_get("concurrent_requests")?,
        max_payload_bytes: row.try_get("max_payload_bytes")?,
    })
}
