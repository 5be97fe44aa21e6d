//! Plans (free / pro / enterprise) and the limits each one grants.

use super::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    pub fn parse_field(field: &'static str, value: &str) -> Result<Self, ValidationError> {
        match value {
            "free" => Ok(Self::Free),
            "pro" => Ok(Self::Pro),
            "enterprise" => Ok(Self::Enterprise),
            other => Err(ValidationError::new(
                field,
                format!("'{other}' is not a plan; expected free, pro or enterprise"),
            )),
        }
    }

    /// A vault tier: a plan's name, or the seed design's `managed-<plan>`
    /// (the platform-managed pooled key of that plan), e.g. `managed-enterprise`.
    pub fn parse_tier(field: &'static str, value: &str) -> Result<Self, ValidationError> {
        let plan = value.strip_prefix("managed-").unwrap_or(value);
        Self::parse_field(field, plan).map_err(|_| {
            ValidationError::new(
                field,
                format!(
                    "'{value}' is not a tier; expected free, pro, enterprise or managed-<plan>"
                ),
            )
        })
    }

    /// Whether this plan ranks above `other` (free < pro < enterprise).
    pub fn above(self, other: Plan) -> bool {
        let rank = |p: Plan| Self::ALL.iter().position(|q| *q == p).unwrap_or(0);
        rank(self) > rank(other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits a plan grants. Stored in the database (editable); these are the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    pub requests_per_month: i64,
    pub requests_per_second: i64,
    pub concurrent_requests: i64,
    pub max_payload_bytes: i64,
    /// Bytes the tenant's cached responses may take in the store, all
    /// namespaces together (checked at every `set`).
    pub max_cached_bytes: i64,
}

impl PlanLimits {
    pub fn seed(plan: Plan) -> Self {
        const MB: i64 = 1024 * 1024;
        match plan {
            Plan::Free => Self {
                requests_per_month: 10_000,
                requests_per_second: 10,
                concurrent_requests: 5,
                max_payload_bytes: 10 * MB,
                max_cached_bytes: 100 * MB,
            },
            Plan::Pro => Self {
                requests_per_month: 100_000,
                requests_per_second: 50,
                concurrent_requests: 20,
                max_payload_bytes: 100 * MB,
                max_cached_bytes: 10 * 1024 * MB,
            },
            Plan::Enterprise => Self {
                requests_per_month: 10_000_000,
                requests_per_second: 500,
                concurrent_requests: 100,
                max_payload_bytes: 1024 * MB,
                max_cached_bytes: 200 * 1024 * MB,
            },
        }
    }
}

impl PlanLimits {
    /// Every figure must be positive; payloads are capped at 4 GiB.
    pub fn validate(self) -> Result<Self, ValidationError> {
        for (field, v) in [
            ("requests_per_month", self.requests_per_month),
            ("requests_per_second", self.requests_per_second),
            ("concurrent_requests", self.concurrent_requests),
            ("max_payload_bytes", self.max_payload_bytes),
            ("max_cached_bytes", self.max_cached_bytes),
        ] {
            if v < 1 {
                return Err(ValidationError::new(field, "must be at least 1"));
            }
        }
        if self.requests_per_second > u32::MAX as i64 {
            return Err(ValidationError::new("requests_per_second", "is too large"));
        }
        if self.max_payload_bytes > 4 * 1024 * 1024 * 1024 {
            return Err(ValidationError::new(
                "max_payload_bytes",
                "must be at most 4 GiB",
            ));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tier_tests {
    use super::*;

    #[test]
    fn tiers_are_plans_or_managed_plans() {
        assert_eq!(Plan::parse_tier("tier", "pro").unwrap(), Plan::Pro);
        assert_eq!(
            Plan::parse_tier("tier", "managed-enterprise").unwrap(),
            Plan::Enterprise
        );
        for bad in ["managed-", "managed-gold", "Managed-pro", "", "enterprise "] {
            assert!(Plan::parse_tier("tier", bad).is_err(), "{bad:?}");
        }
        assert!(Plan::Enterprise.above(Plan::Pro));
        assert!(!Plan::Free.above(Plan::Free));
    }
}
