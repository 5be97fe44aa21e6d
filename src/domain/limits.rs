//! Limit windows and the answer a refused request gets.

use super::ids::{KeyId, TenantId};
use super::plan::PlanLimits;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A key and the tenant owning the namespace a request touches.
pub type Subject = (KeyId, TenantId);

/// The limits in force for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveLimits {
    pub per_second: i64,
    pub monthly: i64,
    pub concurrent: i64,
    pub max_payload: i64,
    /// Bytes the owner's cached responses may take in the store.
    pub max_cached: i64,
}

impl EffectiveLimits {
    /// The owner's plan; a key's own monthly figure applies when the key
    /// belongs to the owner (a dedicated key), not to tenants under a pooled key.
    pub fn new(plan: PlanLimits, key_override: Option<i64>, dedicated: bool) -> Self {
        Self {
            per_second: plan.requests_per_second,
            monthly: key_override
                .filter(|_| dedicated)
                .unwrap_or(plan.requests_per_month),
            concurrent: plan.concurrent_requests,
            max_payload: plan.max_payload_bytes,
            max_cached: plan.max_cached_bytes,
        }
    }
}

/// The limits a key carries over every tenant it serves together (a pooled
/// key's own quota), on top of each tenant's plan limits. `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverallLimits {
    pub requests_per_second: Option<i64>,
    pub requests_per_month: Option<i64>,
}

impl OverallLimits {
    /// The overall limits as a subject's limits (no concurrency, payload or
    /// storage figure of their own), or `None` when the key has none.
    pub fn effective(self) -> Option<EffectiveLimits> {
        if self.requests_per_second.is_none() && self.requests_per_month.is_none() {
            return None;
        }
        Some(EffectiveLimits {
            per_second: self.requests_per_second.unwrap_or(i64::MAX),
            monthly: self.requests_per_month.unwrap_or(i64::MAX),
            concurrent: i64::MAX,
            max_payload: i64::MAX,
            max_cached: i64::MAX,
        })
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    PerSecond,
    Monthly,
    Concurrent,
    Payload,
    /// The tenant's cached responses would exceed its plan's storage.
    Storage,
    /// The key's overall per-second figure (all its tenants together).
    KeyPerSecond,
    /// The key's overall monthly quota (all its tenants together).
    KeyMonthly,
}

impl LimitKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::PerSecond => "RATE_LIMITED",
            Self::Monthly => "MONTHLY_QUOTA_EXCEEDED",
            Self::Concurrent => "TOO_MANY_CONCURRENT_REQUESTS",
            Self::Payload => "PAYLOAD_TOO_LARGE",
            Self::Storage => "STORAGE_QUOTA_EXCEEDED",
            Self::KeyPerSecond => "KEY_RATE_LIMITED",
            Self::KeyMonthly => "KEY_MONTHLY_QUOTA_EXCEEDED",
        }
    }

    /// The same limit, counted over the key as a whole.
    pub fn overall(self) -> Self {
        match self {
            Self::PerSecond => Self::KeyPerSecond,
            Self::Monthly => Self::KeyMonthly,
            other => other,
        }
    }
}

/// A refusal, with what the RateLimit headers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    pub kind: LimitKind,
    pub limit: i64,
    pub remaining: i64,
    /// Seconds until the limit resets (RateLimit-Reset, Retry-After).
    pub reset_seconds: i64,
}

/// The first instant of the calendar month (UTC) containing `now`.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists")
}

/// The first instant of the next calendar month (UTC).
pub fn next_month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .expect("the first of a month at midnight UTC exists")
}

/// A month's identity, e.g. 202611.
pub fn month_id(now: DateTime<Utc>) -> i64 {
    now.year() as i64 * 100 + now.month() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_in_utc() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(
            month_start(t),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            next_month_start(t),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(month_id(t), 202612);
    }
}
