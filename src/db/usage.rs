//! Usage records and their hourly rollups. Rollups are additive upserts, so
//! any number of writers (replicas) can add to the same hour.

use super::{ts, Conn};
use crate::domain::usage::{UsageRecord, UsageTotals};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// The hour a record is rolled up into.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// (hour, key, tenant, namespace)
type RollupKey = (String, String, String, String);

/// Writes a batch of records and adds them to the hourly rollups. Call inside
/// a transaction so a batch lands whole or not at all.
pub async fn write_batch(
    conn: &mut Conn,
    engine: super::Engine,
    records: &[UsageRecord],
) -> sqlx::Result<()> {
    for chunk in records.chunks(100) {
        let mut sql = String::from(
            "INSERT INTO usage_records (at, key_id, tenant_id, namespace, operation, hit, bytes_in, \
             bytes_out, latency_us, status) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push('(');
            sql.push_str(&super::placeholders(engine, i * 10 + 1, 10));
            sql.push(')');
        }
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(ts(r.at))
                .bind(r.key_id.as_str())
                .bind(r.tenant_id.as_str())
                .bind(r.namespace.as_str())
                .bind(r.operation.as_str())
                .bind(r.hit.map(i64::from))
                .bind(r.bytes_in)
                .bind(r.bytes_out)
                .bind(r.latency_us)
                .bind(r.status as i64);
        }
        q.execute(&mut *conn).await?;
    }

    // Grouped by reference first: one allocation per group, not per record.
    let mut groups: HashMap<(i64, &str, &str, &str), UsageTotals> = HashMap::new();
    for r in records {
        let hour = r.at.timestamp().div_euclid(3600);
        let key = (
            hour,
            r.key_id.as_str(),
            r.tenant_id.as_str(),
            r.namespace.as_str(),
        );
        groups.entry(key).or_default().add_record(r);
    }
    let rollups: HashMap<RollupKey, UsageTotals> = groups
        .into_iter()
        .map(|((hour, k, t, n), totals)| {
            let at = DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default();
            (
                (ts(at), k.to_string(), t.to_string(), n.to_string()),
                totals,
            )
        })
        .collect();
    // A stable order keeps concurrent writers from deadlocking on PostgreSQL.
    let mut rollups: Vec<_> = rollups.into_iter().collect();
    rollups.sort_by(|a, b| a.0.cmp(&b.0));
    for ((hour, key_id, tenant_id, namespace), t) in rollups {
        sqlx::query(
            "INSERT INTO usage_hourly (hour, key_id, tenant_id, namespace, requests, hits, misses, \
             rejected, bytes_in, bytes_out, hit_bytes, latency_sum_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (hour, key_id, tenant_id, namespace) DO UPDATE SET \
             requests = usage_hourly.requests + excluded.requests, \
             hits = usage_hourly.hits + excluded.hits, \
             misses = usage_hourly.misses + excluded.misses, \
             rejected = usage_hourly.rejected + excluded.rejected, \
             bytes_in = usage_hourly.bytes_in + excluded.bytes_in, \
             bytes_out = usage_hourly.bytes_out + excluded.bytes_out, \
             hit_bytes = usage_hourly.hit_bytes + excluded.hit_bytes, \
             latency_sum_us = usage_hourly.latency_sum_us + excluded.latency_sum_us",
        )
        .bind(&hour)
        .bind(&key_id)
        .bind(&tenant_id)
        .bind(&namespace)
        .bind(t.requests)
        .bind(t.hits)
        .bind(t.misses)
        .bind(t.rejected)
        .bind(t.bytes_in)
        .bind(t.bytes_out)
        .bind(t.hit_bytes)
        .bind(t.latency_sum_us)
        .execute(&mut *conn)
        .await?;
        for (bucket, count) in &t.latency_buckets {
            sqlx::query(
                "INSERT INTO usage_latency_hourly (hour, key_id, tenant_id, namespace, bucket, count) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (hour, key_id, tenant_id, namespace, bucket) DO UPDATE SET \
                 count = usage_latency_hourly.count + excluded.count",
            )
            .bind(&hour)
            .bind(&key_id)
            .bind(&tenant_id)
            .bind(&namespace)
            .bind(*bucket)
            .bind(*count)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Requests admitted (not refused by a limit) for a key and tenant since `from`.
pub async fn admitted_since(
    conn: &mut Conn,
    key_id: &str,
    tenant_id: &str,
    from: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(requests - rejected), 0) AS BIGINT) AS n FROM usage_hourly \
         WHERE key_id = $1 AND tenant_id = $2 AND hour >= $3",
    )
    .bind(key_id)
    .bind(tenant_id)
    .bind(ts(hour_of(from)))
    .fetch_one(&mut *conn)
    .await?;
    row.try_get("n")
}

/// A tenant's rollups in `[from, to)`, per (hour, namespace).
pub async fn tenant_hours(
    conn: &mut Conn,
    tenant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<BTreeMap<(String, String), UsageTotals>> {
    let mut out: BTreeMap<(String, String), UsageTotals> = BTreeMap::new();
    let rows = sqlx::query(
        "SELECT hour, namespace, \
         CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(hits) AS BIGINT) AS hits, \
         CAST(SUM(misses) AS BIGINT) AS misses, CAST(SUM(rejected) AS BIGINT) AS rejected, \
         CAST(SUM(bytes_in) AS BIGINT) AS bytes_in, CAST(SUM(bytes_out) AS BIGINT) AS bytes_out, \
         CAST(SUM(hit_bytes) AS BIGINT) AS hit_bytes, CAST(SUM(latency_sum_us) AS BIGINT) AS latency_sum_us \
         FROM usage_hourly WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 \
         GROUP BY hour, namespace",
    )
    .bind(tenant_id)
    .bind(ts(hour_of(from)))
    .bind(ts(to))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let key = (
            r.try_get::<String, _>("hour")?,
            r.try_get::<String, _>("namespace")?,
        );
        let t = out.entry(key).or_default();
        t.requests += r.try_get::<i64, _>("requests")?;
        t.hits += r.try_get::<i64, _>("hits")?;
        t.misses += r.try_get::<i64, _>("misses")?;
        t.rejected += r.try_get::<i64, _>("rejected")?;
        t.bytes_in += r.try_get::<i64, _>("bytes_in")?;
        t.bytes_out += r.try_get::<i64, _>("bytes_out")?;
        t.hit_bytes += r.try_get::<i64, _>("hit_bytes")?;
        t.latency_sum_us += r.try_get::<i64, _>("latency_sum_us")?;
    }
    let rows = sqlx::query(
        "SELECT hour, namespace, bucket, CAST(SUM(count) AS BIGINT) AS n FROM usage_latency_hourly \
         WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 GROUP BY hour, namespace, bucket",
    )
    .bind(tenant_id)
    .bind(ts(hour_of(from)))
    .bind(ts(to))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let key = (
            r.try_get::<String, _>("hour")?,
            r.try_get::<String, _>("namespace")?,
        );
        let bucket: i64 = r.try_get("bucket")?;
        let n: i64 = r.try_get("n")?;
        *out.entry(key)
            .or_default()
            .latency_buckets
            .entry(bucket)
            .or_default() += n;
    }
    Ok(out)
}
