//! Monthly counts shared by replicas through the store, and the replicas'
//! heartbeats (see `services::limits::store`).

use super::{placeholders, ts, Conn, Engine};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Adds each subject's `delta` to its count of `period`; a subject without a
/// row yet starts at `seed + delta`. Answers every added subject's total.
pub async fn add_counts(
    conn: &mut Conn,
    engine: Engine,
    period: &str,
    rows: &[(String, i64, i64)],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, i64)>> {
    let mut totals = Vec::with_capacity(rows.len());
    let at = ts(now);
    for chunk in rows.chunks(200) {
        let mut sql = String::from(
            "INSERT INTO limit_counters (subject, period, used, last_delta, updated_at) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&placeholders(engine, i * 5 + 1, 5));
            sql.push(')');
        }
        sql.push_str(
            " ON CONFLICT (subject, period) DO UPDATE SET used = limit_counters.used + excluded.last_delta, \
             last_delta = excluded.last_delta, updated_at = excluded.updated_at RETURNING subject, used",
        );
        let mut q = sqlx::query(&sql);
        for (subject, seed, delta) in chunk {
            q = q
                .bind(subject.as_str())
                .bind(period)
                .bind(seed + delta)
                .bind(*delta)
                .bind(at.as_str());
        }
        for r in q.fetch_all(&mut *conn).await? {
            totals.push((r.try_get("subject")?, r.try_get("used")?));
        }
    }
    Ok(totals)
}

/// Counts of `period` changed at or after `since` (by any replica).
pub async fn counts_since(
    conn: &mut Conn,
    period: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query("SELECT subject, used FROM limit_counters WHERE period = $1 AND updated_at >= $2")
        .bind(period)
        .bind(ts(since))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("subject")?, r.try_get("used")?)))
        .collect()
}

/// Records that `instance` is alive, and answers how many replicas were
/// seen since `alive_since` (this one included).
pub async fn heartbeat(
    conn: &mut Conn,
    instance: &str,
    now: DateTime<Utc>,
    alive_since: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO replicas (instance_id, seen_at) VALUES ($1, $2) \
         ON CONFLICT (instance_id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(instance)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
        .bind(ts(alive_since - chrono::Duration::hours(1)))
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM replicas WHERE seen_at >= $1")
        .bind(ts(alive_since))
        .fetch_one(&mut *conn)
        .await?;
    row.try_get("n")
}

/// A replica leaving (graceful shutdown): the others take its share at once.
pub async fn forget_replica(conn: &mut Conn, instance: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM replicas WHERE instance_id = $1")
        .bind(instance)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
