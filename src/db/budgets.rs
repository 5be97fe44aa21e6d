//! Budgets and cost anomalies.

use super::{ts, Conn};
use crate::domain::anomaly::{Finding, Flagged};
use crate::domain::budget::Budget;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

fn budget_from_row(r: &AnyRow) -> sqlx::Result<Budget> {
    let percents: String = r.try_get("alert_percents")?;
    Ok(Budget {
        tenant_id: r.try_get("tenant_id")?,
        limit_micros: r.try_get("limit_micros")?,
        alert_percents: percents
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|e| super::corrupt(format!("budget percent {p:?}: {e}")))
            })
            .collect::<sqlx::Result<_>>()?,
        hard_cap: r.try_get::<i64, _>("hard_cap")? != 0,
        exhausted_period: r.try_get("exhausted_period")?,
    })
}

const COLUMNS: &str = "tenant_id, limit_micros, alert_percents, hard_cap, exhausted_period";

pub async fn upsert(conn: &mut Conn, b: &Budget, now: DateTime<Utc>, by: &str) -> sqlx::Result<()> {
    let percents = b
        .alert_percents
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "INSERT INTO budgets (tenant_id, limit_micros, alert_percents, hard_cap, \
         exhausted_period, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id) DO UPDATE SET limit_micros = $2, alert_percents = $3, \
         hard_cap = $4, exhausted_period = $5, updated_at = $6, updated_by = $7",
    )
    .bind(&b.tenant_id)
    .bind(b.limit_micros)
    .bind(percents)
    .bind(i64::from(b.hard_cap))
    .bind(&b.exhausted_period)
    .bind(ts(now))
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, tenant: &str) -> sqlx::Result<Option<Budget>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM budgets WHERE tenant_id = $1"
    ))
    .bind(tenant)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(budget_from_row)
    .transpose()
}

pub async fn all(conn: &mut Conn) -> sqlx::Result<Vec<Budget>> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM budgets ORDER BY tenant_id"))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(budget_from_row)
        .collect()
}

pub async fn delete(conn: &mut Conn, tenant: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM budgets WHERE tenant_id = $1")
        .bind(tenant)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets whether the budget is spent, unless its limit changed meanwhile
/// (a raise made while a check ran is not undone by it).
pub async fn set_exhausted(
    conn: &mut Conn,
    tenant: &str,
    limit_micros: i64,
    period: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE budgets SET exhausted_period = $1 WHERE tenant_id = $2 AND limit_micros = $3",
    )
    .bind(period)
    .bind(tenant)
    .bind(limit_micros)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Tenants refused for their budget in `period` (capped budgets reached then).
pub async fn capped(conn: &mut Conn, period: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query("SELECT tenant_id FROM budgets WHERE hard_cap = 1 AND exhausted_period = $1")
        .bind(period)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("tenant_id"))
        .collect()
}

/// Records a flagged day (or refreshes its figures); true when it is new.
pub async fn insert_anomaly(
    conn: &mut Conn,
    tenant: &str,
    service: &str,
    day: NaiveDate,
    f: &Finding,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO cost_anomalies (tenant_id, service, day, cost_micros, mean_micros, \
         stddev_micros, score_milli, detected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, service, day) DO NOTHING",
    )
    .bind(tenant)
    .bind(service)
    .bind(day.to_string())
    .bind(f.cost_micros)
    .bind(f.mean_micros)
    .bind(f.stddev_micros)
    .bind(f.score_milli)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        sqlx::query(
            "UPDATE cost_anomalies SET cost_micros = $1, mean_micros = $2, stddev_micros = $3, \
             score_milli = $4 WHERE tenant_id = $5 AND service = $6 AND day = $7",
        )
        .bind(f.cost_micros)
        .bind(f.mean_micros)
        .bind(f.stddev_micros)
        .bind(f.score_milli)
        .bind(tenant)
        .bind(service)
        .bind(day.to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(inserted)
}

/// Anomalies on days in `[from, to)`, of one tenant or all, newest first.
pub async fn anomalies(
    conn: &mut Conn,
    tenant: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<Flagged>> {
    sqlx::query(
        "SELECT tenant_id, service, day, cost_micros, mean_micros, stddev_micros, score_milli, \
         detected_at FROM cost_anomalies WHERE ($1 = '' OR tenant_id = $1) AND day >= $2 \
         AND day < $3 ORDER BY day DESC, tenant_id, service LIMIT 1000",
    )
    .bind(tenant.unwrap_or(""))
    .bind(from.to_string())
    .bind(to.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Flagged {
            tenant_id: r.try_get("tenant_id")?,
            service: r.try_get("service")?,
            day: r.try_get("day")?,
            cost_micros: r.try_get("cost_micros")?,
            mean_micros: r.try_get("mean_micros")?,
            stddev_micros: r.try_get("stddev_micros")?,
            score_milli: r.try_get("score_milli")?,
            detected_at: r.try_get("detected_at")?,
        })
    })
    .collect()
}
