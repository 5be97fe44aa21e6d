//! Budgets, anomalies, jobs and webhook deliveries as the pages show them.

use super::admin::AdminView;
use super::automation_data::{
    DeliveryRow, EndpointRow, JobRow, JobsPageData, RunRow, WebhooksPageData,
};
use super::customer_data::{AnomalyRow, BudgetGauge};
use crate::domain::anomaly::Flagged;
use crate::domain::money::micros_decimal;
use crate::domain::schedule::JobRun;
use crate::services::budgets::BudgetStatus;
use crate::services::scheduler::JobView;
use crate::services::webhooks::{Delivery, Endpoint};

pub fn budget_gauge(s: &BudgetStatus) -> BudgetGauge {
    BudgetGauge {
        period: s.period.clone(),
        limit: s.limit.clone(),
        spent: s.spent.clone(),
        percent: s.percent,
        alerts: s
            .budget
            .alert_percents
            .iter()
            .map(|p| format!("{p}%"))
            .collect::<Vec<_>>()
            .join(", "),
        hard_cap: s.budget.hard_cap,
        capped: s.capped,
    }
}

pub fn anomaly_rows(rows: Vec<Flagged>) -> Vec<AnomalyRow> {
    rows.into_iter()
        .map(|f| AnomalyRow {
            day: f.day,
            tenant_id: f.tenant_id,
            service: f.service,
            cost: micros_decimal(f.cost_micros),
            mean: micros_decimal(f.mean_micros),
            score: format!("{:.1}\u{3c3}", f.score_milli as f64 / 1000.0),
        })
        .collect()
}

fn ts(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn run_row(r: JobRun) -> RunRow {
    RunRow {
        job: r.job,
        occurrence: ts(r.occurrence),
        attempt: r.attempt,
        trigger: r.trigger.as_str().into(),
        replica: r.replica,
        started_at: ts(r.started_at),
        ended_at: r.ended_at.map(ts).unwrap_or_else(|| "-".into()),
        outcome: r.outcome.as_str().into(),
        summary: r.summary.to_string(),
    }
}

pub fn jobs_page(admin: AdminView, jobs: Vec<JobView>, runs: Vec<JobRun>) -> JobsPageData {
    JobsPageData {
        admin,
        jobs: jobs
            .into_iter()
            .map(|j| JobRow {
                name: j.name,
                task: j.task.as_str().into(),
                schedule: j.schedule,
                describes: j.describes,
                params: j.params.to_string(),
                enabled: j.enabled,
                next_run_at: ts(j.next_run_at),
                running_on: j.running_on.unwrap_or_default(),
                last_outcome: j
                    .last_run
                    .as_ref()
                    .map(|r| r.outcome.as_str().to_string())
                    .unwrap_or_else(|| "never run".into()),
            })
            .collect(),
        runs: runs.into_iter().map(run_row).collect(),
    }
}

pub fn webhooks_page(
    admin: AdminView,
    endpoints: Vec<Endpoint>,
    deliveries: Vec<Delivery>,
) -> WebhooksPageData {
    WebhooksPageData {
        admin,
        endpoints: endpoints
            .into_iter()
            .map(|e| EndpointRow {
                id: e.id,
                url: e.url,
                tenant_id: e.tenant_id.unwrap_or_else(|| "every tenant".into()),
                events: e.events.join(", "),
                description: e.description,
            })
            .collect(),
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryRow {
                id: d.id,
                message_id: d.message_id,
                endpoint_id: d.endpoint_id,
                event_type: d.event_type,
                tenant_id: d.tenant_id.unwrap_or_default(),
                status: d.status,
                attempts: d.attempts,
                last_status_code: d
                    .last_status_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                last_error: d.last_error.unwrap_or_default(),
                created_at: ts(d.created_at),
            })
            .collect(),
    }
}
