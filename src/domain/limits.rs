//! Limit windows and the answer a refused request gets.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

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
}

impl LimitKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::PerSecond => "RATE_LIMITED",
            Self::Monthly => "MONTHLY_QUOTA_EXCEEDED",
            Self::Concurrent => "TOO_MANY_CONCURRENT_REQUESTS",
            Self::Payload => "PAYLOAD_TOO_LARGE",
            Self::Storage => "STORAGE_QUOTA_EXCEEDED",
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
