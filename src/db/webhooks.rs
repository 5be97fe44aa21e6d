//! Webhook endpoints, deliveries and their attempts; once-only event marks.

use super::{get_opt_ts, get_ts, ts, Conn};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An endpoint as stored (its signing secret still sealed).
#[derive(Debug, Clone)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub tenant_id: Option<String>,
    pub events: String,
    pub description: String,
    pub key_version: i64,
    pub secret_nonce: String,
    pub secret_sealed: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

const ENDPOINT_COLUMNS: &str = "id, url, tenant_id, events, description, key_version, \
                                secret_nonce, secret_sealed, created_at, created_by";

fn endpoint_from_row(r: &AnyRow) -> sqlx::Result<EndpointRow> {
    Ok(EndpointRow {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        tenant_id: r.try_get("tenant_id")?,
        events: r.try_get("events")?,
        description: r.try_get("description")?,
        key_version: r.try_get("key_version")?,
        secret_nonce: r.try_get("secret_nonce")?,
        secret_sealed: r.try_get("secret_sealed")?,
        created_at: get_ts(r, "created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

pub async fn insert_endpoint(conn: &mut Conn, e: &EndpointRow) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&e.id)
    .bind(&e.url)
    .bind(&e.tenant_id)
    .bind(&e.events)
    .bind(&e.description)
    .bind(e.key_version)
    .bind(&e.secret_nonce)
    .bind(&e.secret_sealed)
    .bind(ts(e.created_at))
    .bind(&e.created_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn endpoints(conn: &mut Conn) -> sqlx::Result<Vec<EndpointRow>> {
    sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
    ))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(endpoint_from_row)
    .collect()
}

pub async fn endpoint(conn: &mut Conn, id: &str) -> sqlx::Result<Option<EndpointRow>> {
    sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(endpoint_from_row)
    .transpose()
}

/// Removes an endpoint and the deliveries still waiting for it.
pub async fn delete_endpoint(conn: &mut Conn, id: &str) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A delivery of one message to one endpoint.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub tenant_id: Option<String>,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, message_id, endpoint_id, event_type, tenant_id, payload, \
                                status, attempts, next_attempt_at, last_status_code, last_error, \
                                created_at, delivered_at";

fn delivery_from_row(r: &AnyRow) -> sqlx::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        message_id: r.try_get("message_id")?,
        endpoint_id: r.try_get("endpoint_id")?,
        event_type: r.try_get("event_type")?,
        tenant_id: r.try_get("tenant_id")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: get_ts(r, "next_attempt_at")?,
        last_status_code: r.try_get("last_status_code")?,
        last_error: r.try_get("last_error")?,
        created_at: get_ts(r, "created_at")?,
        delivered_at: get_opt_ts(r, "delivered_at")?,
    })
}

pub async fn insert_delivery(conn: &mut Conn, d: &DeliveryRow) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&d.id)
    .bind(&d.message_id)
    .bind(&d.endpoint_id)
    .bind(&d.event_type)
    .bind(&d.tenant_id)
    .bind(&d.payload)
    .bind(&d.status)
    .bind(d.attempts)
    .bind(ts(d.next_attempt_at))
    .bind(d.last_status_code)
    .bind(&d.last_error)
    .bind(ts(d.created_at))
    .bind(d.delivered_at.map(ts))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Pending deliveries due by `now` whose lease is free or lapsed.
pub async fn due(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' \
         AND next_attempt_at <= $1 AND (lease_expires_at IS NULL OR lease_expires_at < $1) \
         ORDER BY next_attempt_at LIMIT $2"
    ))
    .bind(ts(now))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(delivery_from_row)
    .collect()
}

/// Takes a delivery's lease (one replica sends it); true when taken.
pub async fn claim(
    conn: &mut Conn,
    id: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET lease_holder = $1, lease_expires_at = $2 \
         WHERE id = $3 AND status = 'pending' \
         AND (lease_expires_at IS NULL OR lease_expires_at < $4)",
    )
    .bind(holder)
    .bind(ts(until))
    .bind(id)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One attempt's result.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub attempt: i64,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Records an attempt and where the delivery stands after it (`status`
/// pending with the next attempt's time, delivered, or failed).
pub async fn record_attempt(
    conn: &mut Conn,
    delivery_id: &str,
    holder: &str,
    a: &AttemptRow,
    status: &str,
    next_attempt_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, \
         response, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (delivery_id, attempt) DO NOTHING",
    )
    .bind(delivery_id)
    .bind(a.attempt)
    .bind(ts(a.attempted_at))
    .bind(a.status_code)
    .bind(&a.response)
    .bind(&a.error)
    .bind(a.duration_ms)
    .execute(&mut *conn)
    .await?;
    let delivered = (status == "delivered").then(|| ts(a.attempted_at));
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
         last_status_code = $4, last_error = $5, delivered_at = COALESCE($6, delivered_at), \
         lease_holder = NULL, lease_expires_at = NULL WHERE id = $7 AND lease_holder = $8",
    )
    .bind(status)
    .bind(a.attempt)
    .bind(ts(next_attempt_at))
    .bind(a.status_code)
    .bind(&a.error)
    .bind(delivered)
    .bind(delivery_id)
    .bind(holder)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts a delivery back in the queue, due now (a replay).
pub async fn requeue(conn: &mut Conn, id: &str, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
         lease_holder = NULL, lease_expires_at = NULL WHERE id = $2",
    )
    .bind(ts(now))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delivery(conn: &mut Conn, id: &str) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(delivery_from_row)
    .transpose()
}

/// Deliveries newest first, of one endpoint or all, of one status or all.
pub async fn deliveries(
    conn: &mut Conn,
    endpoint: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
         WHERE ($1 = '' OR endpoint_id = $1) AND ($2 = '' OR status = $2) \
         ORDER BY created_at DESC, id LIMIT $3"
    ))
    .bind(endpoint.unwrap_or(""))
    .bind(status.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(delivery_from_row)
    .collect()
}

pub async fn attempts(conn: &mut Conn, delivery_id: &str) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query(
        "SELECT attempt, attempted_at, status_code, response, error, duration_ms \
         FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(delivery_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(AttemptRow {
            attempt: r.try_get("attempt")?,
            attempted_at: get_ts(r, "attempted_at")?,
            status_code: r.try_get("status_code")?,
            response: r.try_get("response")?,
            error: r.try_get("error")?,
            duration_ms: r.try_get("duration_ms")?,
        })
    })
    .collect()
}

/// Pending deliveries (the queue's depth, for metrics).
pub async fn pending_count(conn: &mut Conn) -> sqlx::Result<i64> {
    sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM webhook_deliveries WHERE status = 'pending'",
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")
}

/// Records `mark` once: true for the first caller (on any replica).
pub async fn mark_once(conn: &mut Conn, mark: &str, now: DateTime<Utc>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO event_marks (mark, created_at) VALUES ($1, $2) ON CONFLICT (mark) DO NOTHING",
    )
    .bind(mark)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finished deliveries, their attempts, and marks older than `before` (retention).
pub async fn delete_before(conn: &mut Conn, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let before = ts(before);
    let attempts = sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries \
         WHERE status <> 'pending' AND created_at < $1)",
    )
    .bind(&before)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let deliveries =
        sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
            .bind(&before)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM event_marks WHERE created_at < $1")
        .bind(&before)
        .execute(&mut *conn)
        .await?;
    Ok(attempts + deliveries)
}

/// Endpoints whose signing secret is sealed under another master key
/// version than `version` (a reseal moves them).
pub async fn endpoints_under_other_versions(
    conn: &mut Conn,
    version: i64,
    limit: i64,
) -> sqlx::Result<Vec<EndpointRow>> {
    sqlx::query(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE key_version <> $1 ORDER BY id LIMIT $2"
    ))
    .bind(version)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(endpoint_from_row)
    .collect()
}

/// Replaces an endpoint's sealed signing secret if it still holds `old_sealed`.
pub async fn reseal_endpoint(
    conn: &mut Conn,
    id: &str,
    old_sealed: &str,
    key_version: i64,
    nonce: &str,
    sealed: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET key_version = $1, secret_nonce = $2, secret_sealed = $3 \
         WHERE id = $4 AND secret_sealed = $5",
    )
    .bind(key_version)
    .bind(nonce)
    .bind(sealed)
    .bind(id)
    .bind(old_sealed)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
