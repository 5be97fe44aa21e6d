//! The seed design's cache-savings estimate, reproducible: from customers,
//! files per customer per month, their average size, the hit rate, what the
//! origin pays per GB and what the cache costs per month, what a month
//! costs without and with the cache, the saving, the first year and the
//! month the cache has paid for its set-up.
//!
//! The seed's worked example is the default: 1,000 customers x 100 files of
//! 20 MB = 100,000 requests (2,000 GB) a month, 70 % hits, origin $0.10/GB
//! -> $200 a month without the cache, $60 with it, plus $50 for the cache:
//! $110, a saving of $90 a month (45 %), $1,080 in the first year.

use super::money::round_div;
use super::ValidationError;
use serde::{Deserialize, Serialize};

const GB: i128 = 1_000_000_000;

/// What the projection starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsInput {
    pub customers: i64,
    pub files_per_customer_per_month: i64,
    /// Bytes (SI: a GB is 10^9 bytes).
    pub average_file_bytes: i64,
    /// Share of requests served from the cache, basis points (7000 = 70 %).
    pub hit_rate_bps: i64,
    /// What the origin pays per GB served, micro-dollars.
    pub origin_cost_per_gb_micros: i64,
    /// What the cache costs per month, micro-dollars.
    pub cache_cost_per_month_micros: i64,
    /// A one-off set-up cost the savings must repay, micro-dollars.
    pub setup_cost_micros: i64,
}

impl Default for SavingsInput {
    fn default() -> Self {
        Self {
            customers: 1_000,
            files_per_customer_per_month: 100,
            average_file_bytes: 20_000_000,
            hit_rate_bps: 7_000,
            origin_cost_per_gb_micros: 100_000,
            cache_cost_per_month_micros: 50_000_000,
            setup_cost_micros: 0,
        }
    }
}

/// What a month costs without and with the cache, and what that saves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsProjection {
    pub requests_per_month: i64,
    pub hits_per_month: i64,
    pub origin_cost_without_cache_micros: i64,
    pub origin_cost_with_cache_micros: i64,
    pub cache_cost_micros: i64,
    /// Origin with the cache plus the cache.
    pub total_with_cache_micros: i64,
    pub monthly_saving_micros: i64,
    /// The saving over the cost without the cache, basis points.
    pub saving_bps: Option<i64>,
    /// Twelve months of saving less the set-up cost.
    pub first_year_saving_micros: i64,
    /// The first month (1 = the first) by whose end the savings have repaid
    /// the set-up cost; none when the cache saves nothing.
    pub break_even_month: Option<i64>,
}

impl SavingsInput {
    pub fn check(self) -> Result<Self, ValidationError> {
        let bounds: [(&'static str, i64, i64, i64); 7] = [
            ("customers", self.customers, 1, 10_000_000),
            (
                "files_per_customer_per_month",
                self.files_per_customer_per_month,
                1,
                1_000_000_000,
            ),
            (
                "average_file_bytes",
                self.average_file_bytes,
                1,
                1_000_000_000_000,
            ),
            ("hit_rate_bps", self.hit_rate_bps, 0, 10_000),
            (
                "origin_cost_per_gb_micros",
                self.origin_cost_per_gb_micros,
                0,
                1_000_000_000,
            ),
            (
                "cache_cost_per_month_micros",
                self.cache_cost_per_month_micros,
                0,
                1_000_000_000_000,
            ),
            (
                "setup_cost_micros",
                self.setup_cost_micros,
                0,
                1_000_000_000_000,
            ),
        ];
        for (field, value, lo, hi) in bounds {
            if !(lo..=hi).contains(&value) {
                return Err(ValidationError::new(
                    field,
                    format!("must be between {lo} and {hi}"),
                ));
            }
        }
        Ok(self)
    }

    /// The projection (inputs checked by [`Self::check`]).
    pub fn project(self) -> SavingsProjection {
        let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        let requests = i128::from(self.customers) * i128::from(self.files_per_customer_per_month);
        let hits = round_div(requests * i128::from(self.hit_rate_bps), 10_000);
        let origin = |files: i128| {
            clamp(
                files
                    * i128::from(self.average_file_bytes)
                    * i128::from(self.origin_cost_per_gb_micros)
                    / GB,
            )
        };
        let without = origin(requests);
        let with = origin(requests - i128::from(hits));
        let total = with.saturating_add(self.cache_cost_per_month_micros);
        let saving = without - total;
        SavingsProjection {
            requests_per_month: clamp(requests),
            hits_per_month: hits,
            origin_cost_without_cache_micros: without,
            origin_cost_with_cache_micros: with,
            cache_cost_micros: self.cache_cost_per_month_micros,
            total_with_cache_micros: total,
            monthly_saving_micros: saving,
            saving_bps: (without != 0)
                .then(|| round_div(i128::from(saving) * 10_000, i128::from(without))),
            first_year_saving_micros: clamp(
                i128::from(saving) * 12 - i128::from(self.setup_cost_micros),
            ),
            break_even_month: (saving > 0).then(|| {
                (i128::from(self.setup_cost_micros) / i128::from(saving)
                    + i128::from(self.setup_cost_micros % saving != 0))
                .max(1) as i64
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_worked_example_to_the_cent() {
        let p = SavingsInput::default().check().unwrap().project();
        assert_eq!(p.requests_per_month, 100_000);
        assert_eq!(p.hits_per_month, 70_000);
        assert_eq!(p.origin_cost_without_cache_micros, 200_000_000);
        assert_eq!(p.origin_cost_with_cache_micros, 60_000_000);
        assert_eq!(p.cache_cost_micros, 50_000_000);
        assert_eq!(p.total_with_cache_micros, 110_000_000);
        assert_eq!(p.monthly_saving_micros, 90_000_000);
        assert_eq!(p.saving_bps, Some(4_500));
        assert_eq!(p.first_year_saving_micros, 1_080_000_000);
        assert_eq!(p.break_even_month, Some(1));
    }

    #[test]
    fn a_setup_cost_moves_the_break_even_month() {
        let input = SavingsInput {
            setup_cost_micros: 200_000_000,
            ..SavingsInput::default()
        };
        let p = input.project();
        // $90 a month repays $200 by the end of month 3.
        assert_eq!(p.break_even_month, Some(3));
        assert_eq!(p.first_year_saving_micros, 880_000_000);
        let losing = SavingsInput {
            cache_cost_per_month_micros: 500_000_000,
            ..SavingsInput::default()
        };
        assert_eq!(losing.project().break_even_month, None);
        assert!(losing.project().monthly_saving_micros < 0);
    }

    #[test]
    fn inputs_out_of_range_are_refused_by_name() {
        let bad = SavingsInput {
            hit_rate_bps: 10_001,
            ..SavingsInput::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "hit_rate_bps");
        let bad = SavingsInput {
            customers: 0,
            ..SavingsInput::default()
        };
        assert_eq!(bad.check().unwrap_err().field, "customers");
    }
}
