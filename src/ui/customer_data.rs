//! What the customer page shows, as plain data: built on the server by
//! `customer_model`, rendered by `customer`.

use super::admin::{AdminView, ShownOnce};
use super::costs_data::Chart;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gauge {
    pub label: String,
    pub used: i64,
    pub limit: i64,
    /// "used of limit"
    pub shown: String,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyLimits {
    pub key_id: String,
    pub pooled: bool,
    pub gauges: Vec<Gauge>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub version: i64,
    pub display_prefix: String,
    pub state: String,
    pub created_at: String,
    pub valid_until: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyDetail {
    pub key_id: String,
    pub status: String,
    pub integration: String,
    pub scopes: String,
    pub expires_at: String,
    pub versions: Vec<VersionRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretRow {
    pub service: String,
    pub kind: String,
    pub name: String,
    pub version: i64,
    pub updated_at: String,
    pub validation: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// A tenant's monthly budget against the month's spend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetGauge {
    pub period: String,
    pub limit: String,
    pub spent: String,
    pub percent: i64,
    /// "50%, 80%, 100%"
    pub alerts: String,
    pub hard_cap: bool,
    pub capped: bool,
}

/// A day whose cost of a service was far above the trailing mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRow {
    pub day: String,
    pub tenant_id: String,
    pub service: String,
    pub cost: String,
    pub mean: String,
    /// Standard deviations above the mean, e.g. "18.4σ".
    pub score: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerPageData {
    pub admin: AdminView,
    pub new_secret: Option<ShownOnce>,
    pub tenant_id: String,
    pub name: String,
    pub plan: String,
    pub status: String,
    pub created_at: String,
    pub namespaces: Vec<String>,
    /// (label, value) of this month's statement: revenue, cost, profits.
    pub money: Vec<(String, String)>,
    /// (label, value) totals over the window.
    pub usage: Vec<(String, String)>,
    pub charts: Vec<Chart>,
    /// (day, requests, hits, misses, hit rate, bytes in, bytes out, mean latency, p95 latency)
    pub days: Vec<[String; 9]>,
    pub limits: Vec<KeyLimits>,
    pub max_payload: String,
    /// Cached bytes stored, of the plan's quota.
    pub storage: String,
    pub keys: Vec<KeyDetail>,
    pub secrets: Vec<SecretRow>,
    pub services: Vec<String>,
    pub audit: Vec<AuditRow>,
    pub budget: Option<BudgetGauge>,
    pub anomalies: Vec<AnomalyRow>,
}

/// Days of use the page shows.
pub const DAYS: i64 = 30;
