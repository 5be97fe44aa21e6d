//! Retention: the maintenance task deletes raw usage records, usage events
//! and audit records older than their configured retention, at start-up and
//! then hourly (every replica may run it; deleting twice is harmless). The
//! rollups that reports read stay.

use super::Result;
use crate::db::{self, Db};
use crate::domain::retention::{cutoff, Retention};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// How often the task runs.
pub const EVERY: chrono::Duration = chrono::Duration::hours(1);

/// What one pass removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionRun {
    pub at: DateTime<Utc>,
    pub usage_records: u64,
    pub usage_events: u64,
    pub audit_records: u64,
}

/// The policy and the last pass, as `/api/stats` reports them.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    pub policy: Retention,
    pub last_run: Option<RetentionRun>,
}

#[derive(Clone)]
pub struct RetentionTask {
    db: Db,
    policy: Retention,
    last: Arc<Mutex<Option<RetentionRun>>>,
}

impl RetentionTask {
    pub fn new(db: Db, policy: Retention) -> Self {
        Self {
            db,
            policy,
            last: Arc::default(),
        }
    }

    pub fn report(&self) -> RetentionReport {
        RetentionReport {
            policy: self.policy,
            last_run: self.last.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Runs a pass if none ran in the last hour; a failure is logged and
    /// tried again at the next tick.
    pub async fn run_when_due(&self, now: DateTime<Utc>) {
        let due = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_none_or(|r| now - r.at >= EVERY);
        if due {
            if let Err(e) = self.run(now).await {
                tracing::warn!(error = %e, "applying retention failed; will retry");
            }
        }
    }

    /// Deletes what is past its retention at `now`.
    pub async fn run(&self, now: DateTime<Utc>) -> Result<RetentionRun> {
        let p = self.policy;
        let mut conn = self.db.pool().acquire().await?;
        let run = RetentionRun {
            at: now,
            usage_records: db::retention::delete_usage_batches(
                &mut conn,
                cutoff(now, p.usage_record_days),
            )
            .await?,
            usage_events: db::retention::delete_usage_events(
                &mut conn,
                cutoff(now, p.usage_event_days),
            )
            .await?,
            audit_records: db::retention::delete_audit(&mut conn, cutoff(now, p.audit_days))
                .await?,
        };
        if run.usage_records + run.usage_events + run.audit_records > 0 {
            tracing::info!(
                usage_records = run.usage_records,
                usage_events = run.usage_events,
                audit_records = run.audit_records,
                "retention applied"
            );
        }
        db::erasure::sweep_erased(&mut conn).await?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(run.clone());
        Ok(run)
    }
}
