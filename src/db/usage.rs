//! Usage records and their hourly rollups. Rollups are additive upserts, so
//! any number of writers (replicas) can add to the same hour.

use super::{ts, Conn};
use crate::domain::usage::{Operation, UsageRecord, UsageTotals};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The hour a record is rolled up into.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// (hour, key, tenant, namespace)
type RollupKey = (String, String, String, String);

/// Writes a batch of records and adds them to the hourly rollups. Call inside
/// a transaction so a batch lands whole or not at all.
pub async fn write_batch(conn: &mut Conn, records: &[UsageRecord]) -> sqlx::Result<()> {
    store_raw_batch(conn, records).await?;
    for (key, totals) in hourly_rollups(records) {
        add_to_hourly(conn, &key, &totals).await?;
        add_to_latency_histogram(conn, &key, &totals).await?;
    }
    Ok(())
}

/// Stores the raw records as one `usage_batches` row (nothing for an empty batch).
async fn store_raw_batch(conn: &mut Conn, records: &[UsageRecord]) -> sqlx::Result<()> {
    if let (Some(first), Some(last)) = (
        records.iter().map(|r| r.at).min(),
        records.iter().map(|r| r.at).max(),
    ) {
        sqlx::query(
            "INSERT INTO usage_batches (first_at, last_at, records, body) VALUES ($1, $2, $3, $4)",
        )
        .bind(ts(first))
        .bind(ts(last))
        .bind(records.len() as i64)
        .bind(encode_batch(records))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The records' totals per (hour, key, tenant, namespace), in key order.
fn hourly_rollups(records: &[UsageRecord]) -> Vec<(RollupKey, UsageTotals)> {
    // Grouped by reference first: one allocation per group, not per record.
    let mut groups: HashMap<(i64, &str, &str, &str), UsageTotals> = HashMap::new();
    for r in records {
        let hour = r.at.timestamp().div_euclid(3600);
        let key = (hour, &*r.key_id, &*r.tenant_id, &*r.namespace);
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
    rollups
}

/// Adds one group's totals to its `usage_hourly` row.
async fn add_to_hourly(conn: &mut Conn, key: &RollupKey, t: &UsageTotals) -> sqlx::Result<()> {
    let (hour, key_id, tenant_id, namespace) = key;
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
    .bind(hour)
    .bind(key_id)
    .bind(tenant_id)
    .bind(namespace)
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
    Ok(())
}

/// Adds one group's latency histogram to `usage_latency_hourly` in one
/// statement (nothing when it has no buckets).
async fn add_to_latency_histogram(
    conn: &mut Conn,
    key: &RollupKey,
    t: &UsageTotals,
) -> sqlx::Result<()> {
    if t.latency_buckets.is_empty() {
        return Ok(());
    }
    let (hour, key_id, tenant_id, namespace) = key;
    let mut sql = String::from(
        "INSERT INTO usage_latency_hourly (hour, key_id, tenant_id, namespace, bucket, count) VALUES ",
    );
    for i in 0..t.latency_buckets.len() {
        let p = 5 + 2 * i;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("($1, $2, $3, $4, ${}, ${})", p, p + 1));
    }
    sql.push_str(
        " ON CONFLICT (hour, key_id, tenant_id, namespace, bucket) DO UPDATE SET \
         count = usage_latency_hourly.count + excluded.count",
    );
    let mut q = sqlx::query(&sql)
        .bind(hour)
        .bind(key_id)
        .bind(tenant_id)
        .bind(namespace);
    for (bucket, count) in &t.latency_buckets {
        q = q.bind(*bucket).bind(*count);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The stored form of a batch of raw records: each distinct label once, then
/// one integer tuple per record.
#[derive(Serialize, Deserialize)]
struct StoredBatch<'a> {
    /// Format version.
    v: u32,
    #[serde(borrow)]
    labels: Vec<Cow<'a, str>>,
    /// [at (µs since the epoch), key, tenant, namespace (indexes into
    /// `labels`), operation (0 get, 1 set, 2 invalidate), hit (-1 not a get,
    /// 0 miss, 1 hit), bytes in, bytes out, latency µs, status]
    records: Vec<[i64; 10]>,
}

/// Each distinct label once, in order of first use.
#[derive(Default)]
struct Labels<'a> {
    list: Vec<Cow<'a, str>>,
    index: HashMap<&'a str, i64>,
}

impl<'a> Labels<'a> {
    fn index(&mut self, label: &'a str) -> i64 {
        *self.index.entry(label).or_insert_with(|| {
            self.list.push(Cow::Borrowed(label));
            self.list.len() as i64 - 1
        })
    }
}

const OPERATIONS: [Operation; 3] = [Operation::Get, Operation::Set, Operation::Invalidate];

/// Encodes records as one compact JSON document.
pub fn encode_batch(records: &[UsageRecord]) -> String {
    let mut labels = Labels::default();
    let tuples = records
        .iter()
        .map(|r| {
            [
                r.at.timestamp_micros(),
                labels.index(&r.key_id),
                labels.index(&r.tenant_id),
                labels.index(&r.namespace),
                OPERATIONS
                    .iter()
                    .position(|o| *o == r.operation)
                    .unwrap_or(0) as i64,
                r.hit.map_or(-1, i64::from),
                r.bytes_in,
                r.bytes_out,
                r.latency_us,
                i64::from(r.status),
            ]
        })
        .collect();
    serde_json::to_string(&StoredBatch {
        v: 1,
        labels: labels.list,
        records: tuples,
    })
    .expect("a batch serialises")
}

/// Decodes a document written by [`encode_batch`].
pub fn decode_batch(body: &str) -> Result<Vec<UsageRecord>, String> {
    let batch: StoredBatch = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if batch.v != 1 {
        return Err(format!("unknown usage batch format {}", batch.v));
    }
    let labels: Vec<Arc<str>> = batch.labels.iter().map(|l| Arc::from(&**l)).collect();
    let label = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| labels.get(i).cloned())
            .ok_or_else(|| format!("label {i} out of range"))
    };
    batch
        .records
        .iter()
        .map(|t| {
            Ok(UsageRecord {
                at: DateTime::from_timestamp_micros(t[0]).ok_or("time out of range")?,
                key_id: label(t[1])?,
                tenant_id: label(t[2])?,
                namespace: label(t[3])?,
                operation: usize::try_from(t[4])
                    .ok()
                    .and_then(|i| OPERATIONS.get(i).copied())
                    .ok_or("unknown operation")?,
                hit: match t[5] {
                    -1 => None,
                    h => Some(h != 0),
                },
                bytes_in: t[6],
                bytes_out: t[7],
                latency_us: t[8],
                status: u16::try_from(t[9]).map_err(|e| e.to_string())?,
            })
        })
        .collect()
}

/// A tenant's raw records in `[from, to)`, oldest first, at most `limit`.
pub async fn tenant_records(
    conn: &mut Conn,
    tenant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
) -> sqlx::Result<Vec<UsageRecord>> {
    let rows = sqlx::query(
        "SELECT body FROM usage_batches WHERE first_at < $1 AND last_at >= $2 ORDER BY first_at, id",
    )
    .bind(ts(to))
    .bind(ts(from))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let body: String = row.try_get("body")?;
        let records = decode_batch(&body).map_err(|e| sqlx::Error::Decode(e.into()))?;
        out.extend(
            records
                .into_iter()
                .filter(|r| &*r.tenant_id == tenant_id && r.at >= from && r.at < to),
        );
    }
    out.sort_by_key(|r| r.at);
    out.truncate(limit);
    Ok(out)
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

/// Requests admitted (not refused by a limit) with a key since `from`, every
/// tenant together (the count a key's overall limits start from).
pub async fn admitted_by_key_since(
    conn: &mut Conn,
    key_id: &str,
    from: DateTime<Utc>,
) -> sqlx::Result<i64> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(requests - rejected), 0) AS BIGINT) AS n FROM usage_hourly \
         WHERE key_id = $1 AND hour >= $2",
    )
    .bind(key_id)
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

/// A tenant's data-plane use since `since` (requests, hits, misses) and the
/// last hour it was used at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantActivity {
    pub requests: i64,
    pub hits: i64,
    pub misses: i64,
    pub last_used: Option<DateTime<Utc>>,
}

pub async fn tenant_activity(
    conn: &mut Conn,
    tenant: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<TenantActivity> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests, \
         CAST(COALESCE(SUM(hits), 0) AS BIGINT) AS hits, \
         CAST(COALESCE(SUM(misses), 0) AS BIGINT) AS misses \
         FROM usage_hourly WHERE tenant_id = $1 AND hour >= $2",
    )
    .bind(tenant)
    .bind(ts(since))
    .fetch_one(&mut *conn)
    .await?;
    let last = sqlx::query("SELECT MAX(hour) AS last FROM usage_hourly WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await?;
    let last: Option<String> = last.try_get("last")?;
    Ok(TenantActivity {
        requests: row.try_get("requests")?,
        hits: row.try_get("hits")?,
        misses: row.try_get("misses")?,
        last_used: last
            .map(|l| {
                DateTime::parse_from_rfc3339(&l)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| super::corrupt(format!("usage_hourly.hour: {e}")))
            })
            .transpose()?,
    })
}

/// Data-plane totals per UTC day in `[from, to)`, of one tenant or (`None`)
/// of all. Latency buckets are not included.
pub async fn daily_totals(
    conn: &mut Conn,
    tenant: Option<&crate::domain::ids::TenantId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<(chrono::NaiveDate, UsageTotals)>> {
    let rows = sqlx::query(
        "SELECT substr(hour, 1, 10) AS day, \
         CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(hits) AS BIGINT) AS hits, \
         CAST(SUM(misses) AS BIGINT) AS misses, CAST(SUM(rejected) AS BIGINT) AS rejected, \
         CAST(SUM(bytes_in) AS BIGINT) AS bytes_in, CAST(SUM(bytes_out) AS BIGINT) AS bytes_out, \
         CAST(SUM(hit_bytes) AS BIGINT) AS hit_bytes, CAST(SUM(latency_sum_us) AS BIGINT) AS latency_sum_us \
         FROM usage_hourly WHERE hour >= $1 AND hour < $2 AND ($3 = '' OR tenant_id = $3) \
         GROUP BY substr(hour, 1, 10) ORDER BY 1",
    )
    .bind(ts(hour_of(from)))
    .bind(ts(to))
    .bind(super::tenant_filter(tenant))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let day: String = r.try_get("day")?;
            Ok((
                day.parse()
                    .map_err(|e| super::corrupt(format!("usage_hourly.hour: {e}")))?,
                UsageTotals {
                    requests: r.try_get("requests")?,
                    hits: r.try_get("hits")?,
                    misses: r.try_get("misses")?,
                    rejected: r.try_get("rejected")?,
                    bytes_in: r.try_get("bytes_in")?,
                    bytes_out: r.try_get("bytes_out")?,
                    hit_bytes: r.try_get("hit_bytes")?,
                    latency_sum_us: r.try_get("latency_sum_us")?,
                    latency_buckets: Default::default(),
                },
            ))
        })
        .collect()
}
