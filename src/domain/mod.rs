//! The domain core: keyward's rules and types. It knows nothing of HTTP, HTML,
//! SQL or the terminal; it imports std, serde, chrono and thiserror only.

pub mod access;
pub mod admin;
pub mod analytics;
pub mod anomaly;
pub mod api_key;
pub mod audit;
pub mod budget;
pub mod cache;
pub mod cost;
pub mod events;
pub mod forecast;
pub mod ids;
pub mod invoice;
pub mod limits;
pub mod money;
pub mod namespace;
pub mod overview;
pub mod plan;
pub mod pricing;
pub mod retention;
pub mod savings;
#[cfg(feature = "ssr")]
pub mod schedule;
pub mod secret;
pub mod statement;
pub mod tenant;
pub mod usage;

/// A value from outside failed a domain rule. `field` names the input it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
