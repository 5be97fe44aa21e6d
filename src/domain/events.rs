//! The events keyward announces to webhook endpoints: their types and the
//! body every delivery carries (`{"type", "timestamp", "data"}`).

use super::ValidationError;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Every event type an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventType {
    #[serde(rename = "key.rotated")]
    KeyRotated,
    /// A rotation policy rotated a key: the new secret, sealed to the endpoint.
    #[serde(rename = "key.secret_rotated")]
    KeySecretRotated,
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    #[serde(rename = "key.disabled")]
    KeyDisabled,
    #[serde(rename = "quota.warning")]
    QuotaWarning,
    #[serde(rename = "quota.reached")]
    QuotaReached,
    #[serde(rename = "limit.storm")]
    LimitStorm,
    #[serde(rename = "provider_key.validation_failed")]
    ProviderKeyValidationFailed,
    #[serde(rename = "provider_key.healed")]
    ProviderKeyHealed,
    #[serde(rename = "cost.anomaly")]
    CostAnomaly,
    #[serde(rename = "budget.threshold")]
    BudgetThreshold,
    #[serde(rename = "budget.reached")]
    BudgetReached,
    #[serde(rename = "invoice.generated")]
    InvoiceGenerated,
    #[serde(rename = "invoice.pushed")]
    InvoicePushed,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    #[serde(rename = "job.failed")]
    JobFailed,
    /// Sent on request, to check an endpoint.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    pub const ALL: [EventType; 17] = [
        Self::KeyRotated,
        Self::KeySecretRotated,
        Self::KeyExpiring,
        Self::KeyDisabled,
        Self::QuotaWarning,
        Self::QuotaReached,
        Self::LimitStorm,
        Self::ProviderKeyValidationFailed,
        Self::ProviderKeyHealed,
        Self::CostAnomaly,
        Self::BudgetThreshold,
        Self::BudgetReached,
        Self::InvoiceGenerated,
        Self::InvoicePushed,
        Self::InvoicePaid,
        Self::JobFailed,
        Self::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyRotated => "key.rotated",
            Self::KeySecretRotated => "key.secret_rotated",
            Self::KeyExpiring => "key.expiring",
            Self::KeyDisabled => "key.disabled",
            Self::QuotaWarning => "quota.warning",
            Self::QuotaReached => "quota.reached",
            Self::LimitStorm => "limit.storm",
            Self::ProviderKeyValidationFailed => "provider_key.validation_failed",
            Self::ProviderKeyHealed => "provider_key.healed",
            Self::CostAnomaly => "cost.anomaly",
            Self::BudgetThreshold => "budget.threshold",
            Self::BudgetReached => "budget.reached",
            Self::InvoiceGenerated => "invoice.generated",
            Self::InvoicePushed => "invoice.pushed",
            Self::InvoicePaid => "invoice.paid",
            Self::JobFailed => "job.failed",
            Self::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                ValidationError::new(
                    "events",
                    format!(
                        "unknown event type {:?}; known: {} (or \"*\" for all)",
                        value.chars().take(60).collect::<String>(),
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }
}

/// What an endpoint subscribes to: every event, or these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    All,
    Only(Vec<EventType>),
}

impl Subscription {
    /// `["*"]` or a non-empty list of known types.
    pub fn parse(values: &[String]) -> Result<Self, ValidationError> {
        if values.iter().any(|v| v == "*") {
            return Ok(Self::All);
        }
        if values.is_empty() || values.len() > EventType::ALL.len() {
            return Err(ValidationError::new(
                "events",
                "list at least one event type (or \"*\" for all)",
            ));
        }
        let mut types = values
            .iter()
            .map(|v| EventType::parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        types.sort_by_key(|t| t.as_str());
        types.dedup();
        Ok(Self::Only(types))
    }

    pub fn wants(&self, t: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.contains(&t),
        }
    }

    /// Stored (and shown) as `*` or comma-separated names.
    pub fn to_stored(&self) -> String {
        match self {
            Self::All => "*".into(),
            Self::Only(types) => types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".into()],
            Self::Only(types) => types.iter().map(|t| t.as_str().to_string()).collect(),
        }
    }

    pub fn from_stored(value: &str) -> Result<Self, ValidationError> {
        Self::parse(&value.split(',').map(str::to_string).collect::<Vec<_>>())
    }
}

/// Something that happened, for whoever subscribed.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    /// The tenant it is about (tenant endpoints get only their own).
    pub tenant_id: Option<String>,
    pub at: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventType, tenant_id: Option<&str>, data: serde_json::Value) -> Self {
        Self {
            kind,
            tenant_id: tenant_id.map(str::to_string),
            at: Utc::now(),
            data,
        }
    }

    /// The JSON body a delivery carries (the Standard Webhooks payload shape).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "type": self.kind.as_str(),
            "timestamp": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "data": self.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_parse_and_round_trip() {
        let s = Subscription::parse(&["quota.reached".into(), "key.rotated".into()]).unwrap();
        assert!(s.wants(EventType::KeyRotated));
        assert!(!s.wants(EventType::JobFailed));
        assert_eq!(Subscription::from_stored(&s.to_stored()).unwrap(), s);
        assert_eq!(
            Subscription::parse(&["*".into()]).unwrap(),
            Subscription::All
        );
        assert!(Subscription::parse(&[]).is_err());
        assert!(Subscription::parse(&["key.nope".into()]).is_err());
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()).unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
