//! Data-plane usage: one record per request, rolled up per hour, and the
//! figures derived from them (hit rate, latency mean and p95, savings).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Get,
    Set,
    Invalidate,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Invalidate => "invalidate",
        }
    }
}

/// One data-plane request, attributed to the tenant owning its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub at: DateTime<Utc>,
    pub key_id: Arc<str>,
    pub tenant_id: Arc<str>,
    pub namespace: Arc<str>,
    pub operation: Operation,
    /// For gets: whether the entry was served from cache.
    pub hit: Option<bool>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub latency_us: i64,
    pub status: u16,
}

impl UsageRecord {
    /// Refused by a limit: counted as a request, not against the quota.
    pub fn rejected(&self) -> bool {
        self.status == 429 || self.status == 413
    }
}

/// Latency histogram buckets: bucket 0 holds up to 50 µs, each next bucket
/// is 20% wider, so a percentile read from buckets is within 20% of the truth.
pub fn latency_bucket(latency_us: i64) -> i64 {
    if latency_us <= 50 {
        return 0;
    }
    ((latency_us as f64 / 50.0).ln() / 1.2f64.ln()).ceil() as i64
}

/// The upper bound of a latency bucket, in microseconds.
pub fn bucket_upper_us(bucket: i64) -> f64 {
    50.0 * 1.2f64.powi(bucket as i32)
}

/// Additive usage figures over any set of records or rollup rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub requests: i64,
    pub hits: i64,
    pub misses: i64,
    pub rejected: i64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    /// Bytes served by cache hits.
    pub hit_bytes: i64,
    pub latency_sum_us: i64,
    /// latency bucket -> count
    pub latency_buckets: BTreeMap<i64, i64>,
}

impl UsageTotals {
    pub fn add_record(&mut self, r: &UsageRecord) {
        self.requests += 1;
        match r.hit {
            Some(true) => {
                self.hits += 1;
                self.hit_bytes += r.bytes_out;
            }
            Some(false) => self.misses += 1,
            None => {}
        }
        if r.rejected() {
            self.rejected += 1;
        }
        self.bytes_in += r.bytes_in;
        self.bytes_out += r.bytes_out;
        self.latency_sum_us += r.latency_us;
        *self
            .latency_buckets
            .entry(latency_bucket(r.latency_us))
            .or_default() += 1;
    }

    pub fn merge(&mut self, other: &UsageTotals) {
        self.requests += other.requests;
        self.hits += other.hits;
        self.misses += other.misses;
        self.rejected += other.rejected;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.hit_bytes += other.hit_bytes;
        self.latency_sum_us += other.latency_sum_us;
        for (b, n) in &other.latency_buckets {
            *self.latency_buckets.entry(*b).or_default() += n;
        }
    }

    /// Hits over lookups (gets), 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }

    pub fn mean_latency_ms(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.latency_sum_us as f64 / self.requests as f64 / 1000.0
        }
    }

    /// The latency under which `q` (0..1) of requests completed, from the histogram.
    pub fn latency_quantile_ms(&self, q: f64) -> f64 {
        let total: i64 = self.latency_buckets.values().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * total as f64).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (bucket, n) in &self.latency_buckets {
            seen += n;
            if seen >= rank {
                return bucket_upper_us(*bucket) / 1000.0;
            }
        }
        0.0
    }
}

/// The assumptions of the savings estimate, in micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsAssumptions {
    /// What the origin pays per GB of egress (default $0.09).
    pub origin_egress_per_gb_micros: i64,
    /// What the origin pays per request it serves (default $0).
    pub origin_cost_per_request_micros: i64,
    /// What serving from keyward costs per million requests (default $0.40).
    pub cache_cost_per_million_requests_micros: i64,
    /// What keyward's own egress costs per GB (default $0.01).
    pub cache_egress_per_gb_micros: i64,
}

impl Default for SavingsAssumptions {
    fn default() -> Self {
        Self {
            origin_egress_per_gb_micros: 90_000,
            origin_cost_per_request_micros: 0,
            cache_cost_per_million_requests_micros: 400_000,
            cache_egress_per_gb_micros: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Savings {
    /// Origin cost avoided by cache hits.
    pub avoided_micros: i64,
    /// What running the cache cost for all requests.
    pub cache_cost_micros: i64,
    /// avoided - cache cost (may be negative).
    pub net_micros: i64,
}

const GB: i128 = 1_000_000_000;

pub fn estimate_savings(totals: &UsageTotals, a: &SavingsAssumptions) -> Savings {
    let avoided = totals.hit_bytes as i128 * a.origin_egress_per_gb_micros as i128 / GB
        + totals.hits as i128 * a.origin_cost_per_request_micros as i128;
    let cache = totals.requests as i128 * a.cache_cost_per_million_requests_micros as i128
        / 1_000_000
        + totals.bytes_out as i128 * a.cache_egress_per_gb_micros as i128 / GB;
    let clamp = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    Savings {
        avoided_micros: clamp(avoided),
        cache_cost_micros: clamp(cache),
        net_micros: clamp(avoided - cache),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_grow_by_twenty_percent() {
        assert_eq!(latency_bucket(10), 0);
        assert_eq!(latency_bucket(50), 0);
        assert_eq!(latency_bucket(60), 1);
        let b = latency_bucket(5_000);
        assert!(bucket_upper_us(b) >= 5_000.0 && bucket_upper_us(b - 1) < 5_000.0);
    }

    #[test]
    fn p95_reads_the_bucket_holding_the_95th_percentile() {
        let mut t = UsageTotals::default();
        for i in 0..100 {
            let latency_us = if i < 95 { 100 } else { 10_000 };
            t.add_record(&UsageRecord {
                at: Utc::now(),
                key_id: "k".into(),
                tenant_id: "t".into(),
                namespace: "n".into(),
                operation: Operation::Get,
                hit: Some(true),
                bytes_in: 0,
                bytes_out: 10,
                latency_us,
                status: 200,
            });
        }
        let p95 = t.latency_quantile_ms(0.95);
        assert!((0.1..0.12).contains(&p95), "{p95}");
        assert!(t.latency_quantile_ms(0.99) >= 10.0);
        assert_eq!(t.hit_rate(), 1.0);
    }

    #[test]
    fn savings_are_exact_in_micro_dollars() {
        let t = UsageTotals {
            requests: 2_000_000,
            hits: 1_000_000,
            hit_bytes: 10 * 1_000_000_000,
            bytes_out: 10 * 1_000_000_000,
            ..Default::default()
        };
        let s = estimate_savings(&t, &SavingsAssumptions::default());
        assert_eq!(s.avoided_micros, 900_000); // 10 GB * $0.09
        assert_eq!(s.cache_cost_micros, 800_000 + 100_000); // 2M * $0.40/M + 10 GB * $0.01
        assert_eq!(s.net_micros, 0);
    }
}
