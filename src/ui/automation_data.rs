//! What the jobs and webhooks pages show, as plain data.

use super::admin::AdminView;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub name: String,
    pub task: String,
    pub schedule: String,
    pub describes: String,
    pub params: String,
    pub enabled: bool,
    pub next_run_at: String,
    pub running_on: String,
    pub last_outcome: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub job: String,
    pub occurrence: String,
    pub attempt: i64,
    pub trigger: String,
    pub replica: String,
    pub started_at: String,
    pub ended_at: String,
    pub outcome: String,
    /// What it changed, as JSON.
    pub summary: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobsPageData {
    pub admin: AdminView,
    pub jobs: Vec<JobRow>,
    pub runs: Vec<RunRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub tenant_id: String,
    pub events: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub tenant_id: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: String,
    pub last_error: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhooksPageData {
    pub admin: AdminView,
    pub endpoints: Vec<EndpointRow>,
    pub deliveries: Vec<DeliveryRow>,
}
