//! What the costs and optimisation pages show, as plain data: built on the
//! server by `costs_model` and `optimize_model`, rendered by `costs`.

use super::admin::AdminView;
use serde::{Deserialize, Serialize};

/// A chart as the page shows it: its SVG (none = the empty state) and the
/// names of its series (also in its legend).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub series: Vec<String>,
    /// Sent once, in the server's HTML: the data the page hydrates from
    /// says only whether there is one (the browser keeps the drawn SVG).
    #[serde(with = "drawn_only")]
    pub svg: Option<String>,
    pub empty: String,
}

/// A chart's SVG serialized as whether it was drawn; read back as an empty
/// drawing, which hydration leaves alone (`inner_html` does not replace
/// what the server rendered). Links to pages with charts are full page
/// loads (`rel="external"`), so a chart is never built in the browser.
mod drawn_only {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(svg: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(svg.is_some())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(bool::deserialize(d)?.then(String::new))
    }
}

/// Markup rendered on the server and sent once, in its HTML: the data the
/// page hydrates from carries none of it (read back as empty, which
/// hydration leaves alone, as with a chart's SVG). For the long tables
/// that only show figures (no forms, no links to follow in the app).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ServerHtml(pub String);

impl Serialize for ServerHtml {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for ServerHtml {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d)?;
        Ok(Self::default())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kpi {
    pub label: String,
    pub value: String,
    pub note: String,
    /// Negative figures (a loss) are marked with a word, not only colour.
    pub negative: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    pub service: String,
    pub events: String,
    pub cost: String,
    pub share: String,
    pub previous: String,
    pub trend: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantRow {
    pub tenant_id: String,
    pub plan: String,
    pub events: String,
    pub cost: String,
    pub revenue: String,
    /// Gross profit.
    pub profit: String,
    pub margin: String,
    pub net_profit: String,
    pub loss: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageDayRow {
    pub day: String,
    pub requests: String,
    pub hits: String,
    pub misses: String,
    pub hit_rate: String,
    pub served: String,
    pub saving: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostsPageData {
    pub admin: AdminView,
    pub preset: String,
    pub presets: Vec<(String, String)>,
    pub tenant: String,
    /// First and last day shown (inclusive), UTC.
    pub first_day: String,
    pub last_day: String,
    pub kpis: Vec<Kpi>,
    pub charts: Vec<Chart>,
    pub services: Vec<ServiceRow>,
    pub tenants: Vec<TenantRow>,
    pub tenants_total: usize,
    /// (label, value) of the per-user statistics.
    pub user_stats: Vec<(String, String)>,
    /// Daily cost per service (the cost chart's data), a table sent once.
    pub daily_cost_table: ServerHtml,
    /// Cache use per day (the hit-rate and savings charts' data), a table sent once.
    pub cache_days_table: ServerHtml,
    /// The platform forecast's figures (across tenants only).
    pub forecast: Vec<(String, String)>,
    /// The seed's savings projection beside what the cache saved in the period.
    pub savings: Vec<(String, String)>,
    /// Cost anomalies flagged in the period (of the tenant shown, or all).
    pub anomalies: Vec<super::customer_data::AnomalyRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceUseRow {
    pub service: String,
    pub users: String,
    pub user_share: String,
    pub events: String,
    pub cost: String,
    pub cost_per_user: String,
    pub under_used: bool,
    pub saving: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizePageData {
    pub admin: AdminView,
    pub week_start: String,
    pub week_end: String,
    pub previous_week: String,
    pub next_week: String,
    pub thresholds: String,
    pub figures: Vec<(String, String)>,
    pub chart: Chart,
    pub services: Vec<ServiceUseRow>,
    /// (tenant, user, events, cost), the first rows of the cohort.
    pub cohort: Vec<(String, String, String, String)>,
    pub cohort_size: usize,
}
