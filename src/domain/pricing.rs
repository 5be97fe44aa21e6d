//! What the AI services charge: prices per unit, by model, with the date each
//! takes effect. Money is integer micro-dollars (1 USD = 1,000,000), never a float.

use super::secret::Service;
use super::ValidationError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a cost is incurred with: an AI provider, or keyward's own response
/// cache (its data-plane requests are a service too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CostService {
    Provider(Service),
    Cache,
}

impl CostService {
    pub const ALL: [CostService; 6] = [
        Self::Provider(Service::OpenAi),
        Self::Provider(Service::Anthropic),
        Self::Provider(Service::Hume),
        Self::Provider(Service::ElevenLabs),
        Self::Provider(Service::Deepgram),
        Self::Cache,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider(s) => s.as_str(),
            Self::Cache => "keyward",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value == "keyward" {
            return Ok(Self::Cache);
        }
        Service::parse(value).map(Self::Provider).map_err(|_| {
            ValidationError::new(
                "service",
                format!("'{value}' is not one of openai, anthropic, hume, elevenlabs, deepgram, keyward"),
            )
        })
    }
}

impl std::fmt::Display for CostService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit a price is charged per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceUnit {
    TokenIn,
    TokenOut,
    Character,
    Second,
    Minute,
    /// One data-plane request (keyward's cache).
    Request,
}

impl PriceUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenIn => "token_in",
            Self::TokenOut => "token_out",
            Self::Character => "character",
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Request => "request",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        [
            Self::TokenIn,
            Self::TokenOut,
            Self::Character,
            Self::Second,
            Self::Minute,
            Self::Request,
        ]
        .into_iter()
        .find(|u| u.as_str() == value)
        .ok_or_else(|| {
            ValidationError::new(
                "unit",
                format!(
                    "'{value}' is not token_in, token_out, character, second, minute or request"
                ),
            )
        })
    }
}

/// The units each service's cost model charges by.
pub fn units_of(service: CostService) -> &'static [PriceUnit] {
    match service {
        CostService::Provider(Service::OpenAi | Service::Anthropic) => {
            &[PriceUnit::TokenIn, PriceUnit::TokenOut]
        }
        CostService::Provider(Service::Hume) => &[PriceUnit::Second],
        CostService::Provider(Service::ElevenLabs) => &[PriceUnit::Character],
        CostService::Provider(Service::Deepgram) => &[PriceUnit::Minute],
        CostService::Cache => &[PriceUnit::Request],
    }
}

/// `*` prices every model that has no price of its own.
pub const ANY_MODEL: &str = "*";

/// A price in force from `effective_from`: `price_micros` per `per_units` units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub service: CostService,
    pub model: String,
    pub unit: PriceUnit,
    pub price_micros: i64,
    pub per_units: i64,
    pub effective_from: DateTime<Utc>,
}

impl Price {
    /// Checks a price against its service's cost model.
    pub fn validate(self) -> Result<Self, ValidationError> {
        if !units_of(self.service).contains(&self.unit) {
            return Err(ValidationError::new(
                "unit",
                format!(
                    "{} charges per {}",
                    self.service,
                    units_of(self.service)
                        .iter()
                        .map(|u| u.as_str())
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
            ));
        }
        if self.model.is_empty() || self.model.chars().count() > 200 {
            return Err(ValidationError::new("model", "must be 1 to 200 characters"));
        }
        if !(0..=1_000_000_000_000).contains(&self.price_micros) {
            return Err(ValidationError::new(
                "price_micros",
                "must be between 0 and 10^12 micro-dollars",
            ));
        }
        if !(1..=1_000_000_000).contains(&self.per_units) {
            return Err(ValidationError::new(
                "per_units",
                "must be between 1 and 10^9",
            ));
        }
        Ok(self)
    }

    /// The cost of `units` units, rounded half up to the micro-dollar.
    pub fn cost_micros(&self, units: i64) -> i64 {
        self.cost_micros_milli(units.saturating_mul(1000))
    }

    /// The cost of `milli_units` thousandths of a unit (fractional seconds
    /// and minutes), rounded half up to the micro-dollar.
    pub fn cost_micros_milli(&self, milli_units: i64) -> i64 {
        let numerator = i128::from(milli_units) * i128::from(self.price_micros);
        let per = i128::from(self.per_units) * 1000;
        i64::try_from((2 * numerator + per) / (2 * per)).unwrap_or(i64::MAX)
    }
}

/// The price in force at `at` for a service, model and unit: the model's own
/// price if it has one, else the `*` price; the latest that took effect by `at`.
pub fn price_at<'a>(
    prices: &'a [Price],
    service: CostService,
    model: Option<&str>,
    unit: PriceUnit,
    at: DateTime<Utc>,
) -> Option<&'a Price> {
    let latest = |model: &str| {
        prices
            .iter()
            .filter(|p| {
                p.service == service && p.unit == unit && p.model == model && p.effective_from <= at
            })
            .max_by_key(|p| p.effective_from)
    };
    model.and_then(latest).or_else(|| latest(ANY_MODEL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn price(model: &str, micros: i64, per: i64, from_day: u32) -> Price {
        Price {
            service: CostService::Provider(Service::OpenAi),
            model: model.into(),
            unit: PriceUnit::TokenIn,
            price_micros: micros,
            per_units: per,
            effective_from: Utc.with_ymd_and_hms(2026, 1, from_day, 0, 0, 0).unwrap(),
        }
    }

    #[test]
    fn costs_round_half_up_in_integer_micro_dollars() {
        let p = price("*", 2_500_000, 1_000_000, 1);
        assert_eq!(p.cost_micros(1_000), 2_500);
        assert_eq!(p.cost_micros(1), 3, "2.5 rounds up");
        assert_eq!(p.cost_micros(0), 0);
        assert_eq!(price("*", 1, 3, 1).cost_micros(1), 0);
        assert_eq!(price("*", 2, 3, 1).cost_micros(1), 1);
    }

    #[test]
    fn the_model_price_in_force_at_the_time_wins() {
        let prices = [
            price("*", 10, 1, 1),
            price("*", 20, 1, 10),
            price("gpt-4o-mini", 1, 1, 5),
        ];
        let at = |day| Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap();
        let p = |model, day| {
            price_at(
                &prices,
                CostService::Provider(Service::OpenAi),
                model,
                PriceUnit::TokenIn,
                at(day),
            )
            .map(|p| p.price_micros)
        };
        assert_eq!(p(None, 2), Some(10));
        assert_eq!(p(None, 12), Some(20));
        assert_eq!(p(Some("gpt-4o-mini"), 2), Some(10), "not yet in force");
        assert_eq!(p(Some("gpt-4o-mini"), 6), Some(1));
        assert_eq!(p(Some("other"), 6), Some(10));
        assert_eq!(
            price_at(
                &prices,
                CostService::Provider(Service::Hume),
                None,
                PriceUnit::Second,
                at(6)
            ),
            None
        );
    }

    #[test]
    fn a_price_must_fit_its_service() {
        let mut p = price("*", 1, 1, 1);
        p.unit = PriceUnit::Minute;
        assert!(p.clone().validate().is_err());
        p.unit = PriceUnit::TokenOut;
        assert!(p.clone().validate().is_ok());
        p.per_units = 0;
        assert!(p.validate().is_err());
    }
}
