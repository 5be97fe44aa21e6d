//! Deleting records past their retention, a chunk at a time (so a large
//! backlog never holds one long lock).

use super::{ts, Conn};
use chrono::{DateTime, Utc};

const CHUNK: i64 = 5_000;

async fn delete_chunked(conn: &mut Conn, sql: &str, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let n = sqlx::query(sql)
            .bind(ts(before))
            .bind(CHUNK)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        total += n;
        if n < CHUNK as u64 {
            return Ok(total);
        }
    }
}

/// Raw usage batches whose newest record is older than `before`; the records removed.
pub async fn delete_usage_batches(conn: &mut Conn, before: DateTime<Utc>) -> sqlx::Result<u64> {
    let records: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(records), 0) AS BIGINT) FROM usage_batches WHERE last_at < $1",
    )
    .bind(ts(before))
    .fetch_one(&mut *conn)
    .await?;
    delete_chunked(
        conn,
        "DELETE FROM usage_batches WHERE id IN \
         (SELECT id FROM usage_batches WHERE last_at < $1 LIMIT $2)",
        before,
    )
    .await?;
    Ok(records as u64)
}

pub async fn delete_usage_events(conn: &mut Conn, before: DateTime<Utc>) -> sqlx::Result<u64> {
    delete_chunked(
        conn,
        "DELETE FROM usage_events WHERE (occurred_at, event_id) IN \
         (SELECT occurred_at, event_id FROM usage_events WHERE occurred_at < $1 LIMIT $2)",
        before,
    )
    .await
}

pub async fn delete_audit(conn: &mut Conn, before: DateTime<Utc>) -> sqlx::Result<u64> {
    delete_chunked(
        conn,
        "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 LIMIT $2)",
        before,
    )
    .await
}
