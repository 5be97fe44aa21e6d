//! Usage: every data-plane request becomes a record, handed to a background
//! batch writer through a bounded queue. The request path never waits on the
//! store and never wakes the writer: the writer drains the queue on its own
//! tick (every `FLUSH_EVERY`), on demand, and on graceful shutdown.
//!
//! What a hard crash can lose: the records still queued, at most the last
//! `FLUSH_EVERY` of traffic (and monthly counters re-seed from what landed).
//! That is the price of keeping every database write off the hot path.

use super::keys::Keys;
use super::{now, Result};
use crate::db::{self, Db};
use crate::domain::ids::TenantId;
use crate::domain::pricing::CostService;
use crate::domain::usage::{
    estimate_savings, Savings, SavingsAssumptions, UsageRecord, UsageTotals,
};
use crate::domain::ValidationError;
use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
const QUEUE_CAPACITY: usize = 200_000;
/// Records per transaction: a whole tick's worth at tens of thousands of requests a second.
const BATCH: usize = 50_000;

enum Control {
    Flush(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

/// The request path's handle on the batch writer.
pub struct UsageSink {
    records: mpsc::Sender<UsageRecord>,
    control: mpsc::Sender<Control>,
    dropped: AtomicU64,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl UsageSink {
    pub fn start(db: Db) -> Arc<Self> {
        let (records, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (control, control_rx) = mpsc::channel(16);
        let writer = tokio::spawn(run_writer(db, rx, control_rx));
        Arc::new(Self {
            records,
            control,
            dropped: AtomicU64::new(0),
            writer: std::sync::Mutex::new(Some(writer)),
        })
    }

    /// Queues a record; never blocks. A full queue drops the record and counts it.
    pub fn record(&self, record: UsageRecord) {
        if self.records.try_send(record).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "usage queue full: records dropped");
            }
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records waiting for the writer.
    pub fn queued(&self) -> u64 {
        (QUEUE_CAPACITY - self.records.capacity()) as u64
    }

    /// Writes everything queued so far, then returns.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes everything queued and stops the writer (graceful shutdown).
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let handle = self.writer.lock().expect("writer lock").take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}

async fn run_writer(
    db: Db,
    mut rx: mpsc::Receiver<UsageRecord>,
    mut control: mpsc::Receiver<Control>,
) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending: Vec<UsageRecord> = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => drain(&db, &mut rx, &mut pending).await,
            msg = control.recv() => match msg {
                Some(Control::Flush(done)) => {
                    drain(&db, &mut rx, &mut pending).await;
                    let _ = done.send(());
                }
                Some(Control::Stop(done)) => {
                    drain(&db, &mut rx, &mut pending).await;
                    let _ = done.send(());
                    return;
                }
                None => {
                    drain(&db, &mut rx, &mut pending).await;
                    return;
                }
            },
        }
    }
}

/// Moves everything queued into the store, a batch per transaction. A batch
/// that fails stays pending and is retried on the next tick.
async fn drain(db: &Db, rx: &mut mpsc::Receiver<UsageRecord>, pending: &mut Vec<UsageRecord>) {
    loop {
        while pending.len() < BATCH {
            match rx.try_recv() {
                Ok(r) => pending.push(r),
                Err(_) => break,
            }
        }
        if pending.is_empty() {
            return;
        }
        match write(db, pending).await {
            Ok(()) => pending.clear(),
            Err(e) => {
                tracing::error!(error = %e, records = pending.len(), "usage batch not written; will retry");
                if pending.len() > QUEUE_CAPACITY {
                    pending.drain(..pending.len() - QUEUE_CAPACITY);
                }
                return;
            }
        }
    }
}

async fn write(db: &Db, records: &[UsageRecord]) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    db::usage::write_batch(&mut tx, records).await?;
    // The data plane is a service too: its requests land in the cost rollups
    // (service "keyward") in the same transaction as the records.
    let prices = db::prices::list(&mut tx, Some(CostService::Cache)).await?;
    db::costs::add_data_plane(&mut tx, db.engine(), records, &prices).await?;
    tx.commit().await
}

/// hour or day buckets for usage reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn parse(value: Option<&str>) -> std::result::Result<Self, ValidationError> {
        match value.unwrap_or("hour") {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            other => Err(ValidationError::new(
                "granularity",
                format!("'{other}' is not hour or day"),
            )),
        }
    }

    fn truncate(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let step = match self {
            Self::Hour => TimeDelta::hours(1),
            Self::Day => TimeDelta::days(1),
        };
        at.duration_trunc(step).unwrap_or(at)
    }
}

/// A validated reporting window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    /// Defaults to the last 24 hours (hourly) or 30 days (daily); at most 400 days.
    pub fn parse(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        granularity: Granularity,
    ) -> std::result::Result<Self, ValidationError> {
        let to = to.unwrap_or_else(|| now() + Duration::seconds(1));
        let from = from.unwrap_or_else(|| match granularity {
            Granularity::Hour => to - Duration::hours(24),
            Granularity::Day => to - Duration::days(30),
        });
        if from >= to {
            return Err(ValidationError::new("from", "must be before 'to'"));
        }
        if to - from > Duration::days(400) {
            return Err(ValidationError::new(
                "from",
                "the window may span at most 400 days",
            ));
        }
        Ok(Self { from, to })
    }
}

/// Usage of one tenant over a window.
#[derive(Debug, Clone)]
pub struct UsageReport {
    pub total: UsageTotals,
    /// bucket start -> totals
    pub series: BTreeMap<DateTime<Utc>, UsageTotals>,
    /// namespace -> (totals, bucket start -> totals)
    pub namespaces: BTreeMap<String, (UsageTotals, BTreeMap<DateTime<Utc>, UsageTotals>)>,
}

/// The usage service: reports over the recorded data-plane requests.
#[derive(Clone)]
pub struct Usage {
    db: Db,
    keys: Keys,
    sink: Arc<UsageSink>,
}

impl Usage {
    pub fn new(db: Db, keys: Keys, sink: Arc<UsageSink>) -> Self {
        Self { db, keys, sink }
    }

    /// Records dropped because the writer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.sink.dropped()
    }

    /// Writes every queued record now (reports read what has landed).
    pub async fn flush(&self) {
        self.sink.flush().await
    }

    pub async fn usage_report(
        &self,
        tenant: &TenantId,
        window: Window,
        granularity: Granularity,
    ) -> Result<UsageReport> {
        self.keys.require_tenant(tenant).await?;
        let mut conn = self.db.pool().acquire().await?;
        let hours =
            db::usage::tenant_hours(&mut conn, tenant.as_str(), window.from, window.to).await?;
        let mut report = UsageReport {
            total: UsageTotals::default(),
            series: BTreeMap::new(),
            namespaces: BTreeMap::new(),
        };
        for ((hour, namespace), totals) in hours {
            let Ok(hour) = DateTime::parse_from_rfc3339(&hour) else {
                continue;
            };
            let bucket = granularity.truncate(hour.with_timezone(&Utc));
            report.total.merge(&totals);
            report.series.entry(bucket).or_default().merge(&totals);
            let ns = report.namespaces.entry(namespace).or_default();
            ns.0.merge(&totals);
            ns.1.entry(bucket).or_default().merge(&totals);
        }
        Ok(report)
    }

    /// A tenant's raw usage records in the window, oldest first.
    pub async fn usage_records(
        &self,
        tenant: &TenantId,
        window: Window,
        limit: usize,
    ) -> Result<Vec<UsageRecord>> {
        self.keys.require_tenant(tenant).await?;
        let mut conn = self.db.pool().acquire().await?;
        Ok(
            db::usage::tenant_records(&mut conn, tenant.as_str(), window.from, window.to, limit)
                .await?,
        )
    }

    pub async fn savings(
        &self,
        tenant: &TenantId,
        window: Window,
        assumptions: SavingsAssumptions,
    ) -> Result<(UsageTotals, Savings)> {
        let report = self.usage_report(tenant, window, Granularity::Day).await?;
        let savings = estimate_savings(&report.total, &assumptions);
        Ok((report.total, savings))
    }
}
