//! Cost anomaly detection: a day's cost of a tenant's service against the
//! trailing window's mean and standard deviation.

use super::ValidationError;
use serde::Serialize;

/// When a day counts as an anomaly (the `check_anomalies` job's params).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Days before the checked one that make its baseline (3-90).
    pub window_days: u32,
    /// How many standard deviations above the mean (0.5-100).
    pub threshold_sigma: f64,
    /// Days cheaper than this are never flagged (noise on tiny spend).
    pub min_cost_micros: i64,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            window_days: 14,
            threshold_sigma: 3.0,
            min_cost_micros: 1_000_000,
        }
    }
}

impl Rule {
    /// From a job's params; absent fields take the defaults.
    pub fn from_params(params: &serde_json::Value) -> Result<Self, ValidationError> {
        let d = Self::default();
        let window_days = match params.get("window_days") {
            None => d.window_days,
            Some(v) => v
                .as_u64()
                .filter(|n| (3..=90).contains(n))
                .ok_or_else(|| ValidationError::new("params", "window_days: 3 to 90"))?
                as u32,
        };
        let threshold_sigma = match params.get("threshold_sigma") {
            None => d.threshold_sigma,
            Some(v) => v
                .as_f64()
                .filter(|n| (0.5..=100.0).contains(n))
                .ok_or_else(|| ValidationError::new("params", "threshold_sigma: 0.5 to 100"))?,
        };
        let min_cost_micros = match params.get("min_cost_micros") {
            None => d.min_cost_micros,
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= 0)
                .ok_or_else(|| ValidationError::new("params", "min_cost_micros: 0 or more"))?,
        };
        Ok(Self {
            window_days,
            threshold_sigma,
            min_cost_micros,
        })
    }
}

/// A flagged day: its cost against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub cost_micros: i64,
    pub mean_micros: i64,
    pub stddev_micros: i64,
    /// Standard deviations above the mean, in thousandths.
    pub score_milli: i64,
}

/// A flagged day as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flagged {
    pub tenant_id: String,
    pub service: String,
    pub day: String,
    pub cost_micros: i64,
    pub mean_micros: i64,
    pub stddev_micros: i64,
    pub score_milli: i64,
    pub detected_at: String,
}

/// Judges `cost` against `history` (one cost per day of the window, zero for
/// days without use). A flat history has no spread: a tenth of the mean
/// (at least one micro-unit) stands in for it, so a jump from a steady level
/// still counts.
pub fn assess(history: &[i64], cost: i64, rule: &Rule) -> Option<Finding> {
    if history.is_empty() || cost < rule.min_cost_micros {
        return None;
    }
    let n = history.len() as f64;
    let mean = history.iter().map(|&c| c as f64).sum::<f64>() / n;
    let variance = history
        .iter()
        .map(|&c| (c as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let spread = variance.sqrt().max(mean / 10.0).max(1.0);
    let score = (cost as f64 - mean) / spread;
    (score >= rule.threshold_sigma).then(|| Finding {
        cost_micros: cost,
        mean_micros: mean.round() as i64,
        stddev_micros: variance.sqrt().round() as i64,
        score_milli: (score * 1000.0).round().min(i64::MAX as f64) as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_is_flagged_and_ordinary_days_are_not() {
        let rule = Rule::default();
        let history = [10_000_000, 12_000_000, 9_000_000, 11_000_000, 10_000_000];
        // mean 10.4, sd ~1.02 (below a tenth of the mean: 1.04 stands in).
        assert!(assess(&history, 12_000_000, &rule).is_none());
        let f = assess(&history, 100_000_000, &rule).unwrap();
        assert_eq!(f.mean_micros, 10_400_000);
        assert!(f.score_milli > 80_000, "{f:?}");
        // Below the floor: never flagged.
        assert!(assess(&[0, 0, 0], 999_999, &rule).is_none());
        // From nothing to something real: flagged.
        assert!(assess(&[0, 0, 0], 5_000_000, &rule).is_some());
    }

    #[test]
    fn params_are_checked() {
        let r = Rule::from_params(&serde_json::json!({"threshold_sigma": 2.5})).unwrap();
        assert_eq!(r.threshold_sigma, 2.5);
        assert_eq!(r.window_days, 14);
        for bad in [
            serde_json::json!({"window_days": 1}),
            serde_json::json!({"threshold_sigma": "x"}),
            serde_json::json!({"min_cost_micros": -1}),
        ] {
            assert_eq!(Rule::from_params(&bad).unwrap_err().field, "params");
        }
    }
}
