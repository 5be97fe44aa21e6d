//! Usage events: one AI call (or data-plane request) by a tenant's user, with
//! what it consumed and what it cost at the prices in force when it happened.

use super::ids::TenantId;
use super::pricing::{price_at, units_of, CostService, Price, PriceUnit};
use super::ValidationError;
use chrono::{DateTime, Utc};

/// What a call consumed. Seconds and minutes may be fractional (kept in
/// thousandths); tokens and characters are whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Units {
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub characters: Option<i64>,
    pub seconds_milli: Option<i64>,
    pub minutes_milli: Option<i64>,
}

impl Units {
    /// Thousandths of `unit` consumed, if the event says.
    fn milli(&self, unit: PriceUnit) -> Option<i64> {
        let whole = |v: Option<i64>| v.map(|n| n.saturating_mul(1000));
        match unit {
            PriceUnit::TokenIn => whole(self.tokens_in),
            PriceUnit::TokenOut => whole(self.tokens_out),
            PriceUnit::Character => whole(self.characters),
            PriceUnit::Second => self.seconds_milli,
            PriceUnit::Minute => self.minutes_milli,
            // A cache event is one request.
            PriceUnit::Request => Some(1000),
        }
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Parses a count of seconds or minutes with at most three decimals into thousandths.
pub fn parse_milli(field: &'static str, value: f64) -> Result<i64, ValidationError> {
    if !value.is_finite() || !(0.0..=1e12).contains(&value) {
        return Err(ValidationError::new(field, "must be a non-negative number"));
    }
    let milli = (value * 1000.0).round();
    if ((value * 1000.0) - milli).abs() > 1e-6 {
        return Err(ValidationError::new(field, "at most three decimals"));
    }
    Ok(milli as i64)
}

/// A validated usage event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub event_id: String,
    pub trace_id: String,
    pub tenant_id: TenantId,
    pub user_id: String,
    pub service: CostService,
    pub operation: String,
    pub model: Option<String>,
    pub units: Units,
    pub duration_ms: i64,
    pub at: DateTime<Utc>,
}

fn check_label(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl UsageEvent {
    /// Checks the event's fields and that its units fit its service.
    pub fn validate(self) -> Result<Self, ValidationError> {
        check_label("event_id", &self.event_id, 128)?;
        check_label("trace_id", &self.trace_id, 128)?;
        check_label("user_id", &self.user_id, 128)?;
        check_label("operation", &self.operation, 64)?;
        if let Some(m) = &self.model {
            check_label("model", m, 200)?;
        }
        if !(0..=86_400_000).contains(&self.duration_ms) {
            return Err(ValidationError::new(
                "duration_ms",
                "must be between 0 and 86400000",
            ));
        }
        let u = &self.units;
        for (field, v) in [
            ("units.tokens_in", u.tokens_in),
            ("units.tokens_out", u.tokens_out),
            ("units.characters", u.characters),
        ] {
            if v.is_some_and(|n| !(0..=1_000_000_000_000).contains(&n)) {
                return Err(ValidationError::new(field, "must be between 0 and 10^12"));
            }
        }
        let allowed = units_of(self.service);
        let given = [
            (PriceUnit::TokenIn, u.tokens_in.is_some()),
            (PriceUnit::TokenOut, u.tokens_out.is_some()),
            (PriceUnit::Character, u.characters.is_some()),
            (PriceUnit::Second, u.seconds_milli.is_some()),
            (PriceUnit::Minute, u.minutes_milli.is_some()),
        ];
        for (unit, present) in given {
            if present && !allowed.contains(&unit) {
                return Err(ValidationError::new(
                    "units",
                    format!("{} is not charged per {}", self.service, unit.as_str()),
                ));
            }
        }
        if self.service != CostService::Cache && u.is_empty() {
            return Err(ValidationError::new(
                "units",
                format!(
                    "give what the call consumed ({})",
                    allowed
                        .iter()
                        .map(|u| u.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        Ok(self)
    }

    /// The event's cost in micro-dollars at the prices in force at its time.
    pub fn cost_micros(&self, prices: &[Price]) -> Result<i64, ValidationError> {
        let mut total = 0i64;
        for &unit in units_of(self.service) {
            let Some(milli) = self.units.milli(unit) else {
                continue;
            };
            let price = price_at(prices, self.service, self.model.as_deref(), unit, self.at)
                .ok_or_else(|| {
                    ValidationError::new(
                        "timestamp",
                        format!(
                            "no {} price per {} was in force at {}",
                            self.service,
                            unit.as_str(),
                            self.at.to_rfc3339()
                        ),
                    )
                })?;
            total = total.saturating_add(price.cost_micros_milli(milli));
        }
        Ok(total)
    }
}

/// The events of one batch that are new (not seen by event id before), in order.
pub fn dedup_batch(events: Vec<UsageEvent>) -> Vec<UsageEvent> {
    let mut seen = std::collections::HashSet::new();
    events
        .into_iter()
        .filter(|e| seen.insert(e.event_id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret::Service;
    use chrono::TimeZone;

    fn prices() -> Vec<Price> {
        let at = |d| Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap();
        let p = |service, unit, price_micros, per_units, day| Price {
            service,
            model: "*".into(),
            unit,
            price_micros,
            per_units,
            effective_from: at(day),
        };
        vec![
            p(
                CostService::Provider(Service::OpenAi),
                PriceUnit::TokenIn,
                2_500_000,
                1_000_000,
                1,
            ),
            p(
                CostService::Provider(Service::OpenAi),
                PriceUnit::TokenOut,
                10_000_000,
                1_000_000,
                1,
            ),
            p(
                CostService::Provider(Service::Hume),
                PriceUnit::Second,
                1_200,
                1,
                1,
            ),
            p(
                CostService::Cache,
                PriceUnit::Request,
                400_000,
                1_000_000,
                1,
            ),
        ]
    }

    fn event(service: CostService, units: Units) -> UsageEvent {
        UsageEvent {
            event_id: "e1".into(),
            trace_id: "t1".into(),
            tenant_id: TenantId::parse("acme").unwrap(),
            user_id: "u1".into(),
            service,
            operation: "chat".into(),
            model: None,
            units,
            duration_ms: 10,
            at: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn costs_follow_each_cost_model() {
        let chat = event(
            CostService::Provider(Service::OpenAi),
            Units {
                tokens_in: Some(1_000),
                tokens_out: Some(500),
                ..Units::default()
            },
        );
        // 1000 * 2.5/1M $ + 500 * 10/1M $ = 0.0025 + 0.005 $ = 7500 µ$
        assert_eq!(chat.validate().unwrap().cost_micros(&prices()), Ok(7_500));
        let voice = event(
            CostService::Provider(Service::Hume),
            Units {
                seconds_milli: Some(12_500),
                ..Units::default()
            },
        );
        // 12.5 s * 1200 µ$ = 15000 µ$
        assert_eq!(voice.cost_micros(&prices()), Ok(15_000));
        let hit = event(CostService::Cache, Units::default());
        assert_eq!(
            hit.clone().validate().unwrap().cost_micros(&prices()),
            Ok(0),
            "0.4 µ$ rounds to 0"
        );
        let mut early = chat_event();
        early.at = Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap();
        assert!(
            early.cost_micros(&prices()).is_err(),
            "no price in force yet"
        );
    }

    fn chat_event() -> UsageEvent {
        event(
            CostService::Provider(Service::OpenAi),
            Units {
                tokens_in: Some(1),
                ..Units::default()
            },
        )
    }

    #[test]
    fn units_must_fit_the_service() {
        let wrong = event(
            CostService::Provider(Service::Hume),
            Units {
                tokens_in: Some(5),
                ..Units::default()
            },
        );
        assert!(wrong.validate().is_err());
        let none = event(CostService::Provider(Service::OpenAi), Units::default());
        assert!(none.validate().is_err());
        assert_eq!(parse_milli("units.seconds", 1.5), Ok(1500));
        assert!(parse_milli("units.seconds", 1.0005).is_err());
        assert!(parse_milli("units.seconds", -1.0).is_err());
    }
}
