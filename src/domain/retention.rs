//! How long records are kept before the maintenance task deletes them.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// The audit trail is the security record: never kept less than a year.
pub const MIN_AUDIT_DAYS: u64 = 365;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Raw data-plane usage records (the hourly rollups stay).
    pub usage_record_days: u64,
    /// Usage events (the daily and weekly cost rollups stay).
    pub usage_event_days: u64,
    pub audit_days: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            usage_record_days: 90,
            usage_event_days: 400,
            audit_days: 730,
        }
    }
}

/// The instant before which records of a kind are deleted.
pub fn cutoff(now: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    now - Duration::days(days.min(36_500) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_count_whole_days_back() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(cutoff(now, 90).to_rfc3339(), "2026-09-04T10:00:00+00:00");
        assert!(Retention::default().audit_days >= MIN_AUDIT_DAYS);
    }
}
