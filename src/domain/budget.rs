//! Monthly spend budgets: alert thresholds and an optional hard cap.

use super::ValidationError;
use serde::Serialize;

/// A tenant's budget for each calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub tenant_id: String,
    /// The month's spend allowed, in micro-units of the billing currency.
    pub limit_micros: i64,
    /// Percentages of the limit that raise an alert once a month each, ascending.
    pub alert_percents: Vec<u32>,
    /// Whether reaching the limit refuses the tenant's requests until the next month.
    pub hard_cap: bool,
    /// The month (`YYYY-MM`) the cap was reached in, while it holds.
    pub exhausted_period: Option<String>,
}

impl Budget {
    /// Checks an operator's figures; percentages are sorted and deduplicated.
    pub fn check(
        limit_micros: i64,
        mut alert_percents: Vec<u32>,
    ) -> Result<Vec<u32>, ValidationError> {
        if limit_micros <= 0 {
            return Err(ValidationError::new("limit", "must be more than zero"));
        }
        if alert_percents.len() > 10 || alert_percents.iter().any(|p| !(1..=1000).contains(p)) {
            return Err(ValidationError::new(
                "alert_percents",
                "at most 10 percentages, each 1 to 1000",
            ));
        }
        alert_percents.sort_unstable();
        alert_percents.dedup();
        Ok(alert_percents)
    }

    /// The alert percentages `spent` has reached.
    pub fn reached(&self, spent_micros: i64) -> Vec<u32> {
        self.alert_percents
            .iter()
            .copied()
            .filter(|&p| {
                i128::from(spent_micros) * 100 >= i128::from(p) * i128::from(self.limit_micros)
            })
            .collect()
    }

    pub fn exhausted_by(&self, spent_micros: i64) -> bool {
        spent_micros >= self.limit_micros
    }

    /// Spend as a whole percentage of the limit (for gauges).
    pub fn percent(&self, spent_micros: i64) -> i64 {
        (i128::from(spent_micros.max(0)) * 100 / i128::from(self.limit_micros.max(1))) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(limit: i64, percents: Vec<u32>) -> Budget {
        Budget {
            tenant_id: "t".into(),
            limit_micros: limit,
            alert_percents: percents,
            hard_cap: true,
            exhausted_period: None,
        }
    }

    #[test]
    fn thresholds_are_reached_in_exact_integers() {
        let b = budget(100_000_000, vec![50, 80, 100]);
        assert!(b.reached(49_999_999).is_empty());
        assert_eq!(b.reached(80_000_000), vec![50, 80]);
        assert_eq!(b.reached(100_000_000), vec![50, 80, 100]);
        assert!(b.exhausted_by(100_000_000));
        assert!(!b.exhausted_by(99_999_999));
        assert_eq!(b.percent(80_500_000), 80);
    }

    #[test]
    fn figures_are_checked() {
        assert_eq!(Budget::check(1, vec![80, 50, 80]).unwrap(), vec![50, 80]);
        assert_eq!(Budget::check(0, vec![]).unwrap_err().field, "limit");
        assert_eq!(
            Budget::check(5, vec![0]).unwrap_err().field,
            "alert_percents"
        );
    }
}
