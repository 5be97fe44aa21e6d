//! The request path's handle on webhooks: [`Events::emit`] queues an event
//! and returns at once (a full queue drops it, counted); the webhooks
//! service turns queued events into deliveries. [`Signals`] turns what the
//! data plane sees on every request (a quota filling up, refusals piling up)
//! into a few events, deduplicated in memory before anything is queued.

use super::metrics::Metrics;
use crate::domain::events::{Event, EventType};
use chrono::{DateTime, Datelike, Utc};
use dashmap::DashMap;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::mpsc;

const QUEUE_CAPACITY: usize = 10_000;

#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<Queued>,
    metrics: Metrics,
}

/// An event, and the mark that makes it go out once across replicas.
pub(crate) struct Queued {
    pub event: Event,
    pub once: Option<String>,
}

impl Events {
    pub(crate) fn channel(metrics: Metrics) -> (Self, mpsc::Receiver<Queued>) {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        (Self { queue, metrics }, rx)
    }

    /// Queues an event for every endpoint that wants it; never blocks.
    pub fn emit(&self, event: Event) {
        self.push(Queued { event, once: None });
    }

    /// Like [`emit`](Self::emit), but only the first event with this mark
    /// (on any replica) goes out.
    pub fn emit_once(&self, mark: String, event: Event) {
        self.push(Queued {
            event,
            once: Some(mark),
        });
    }

    /// The metrics the events' producers also count in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn push(&self, queued: Queued) {
        if self.queue.try_send(queued).is_err() {
            self.metrics.event_dropped();
        }
    }
}

/// Refusals by per-second or concurrency limits, per tenant in a window,
/// that make a storm worth an event.
const STORM_REFUSALS: u32 = 100;
const STORM_WINDOW_SECS: i64 = 300;

/// Turns per-request observations into events, each at most once per
/// tenant and month (quota) or window (storms) from this replica, and once
/// across replicas where it matters (the marks).
#[derive(Clone)]
pub struct Signals {
    events: Events,
    /// (tenant, threshold) -> the month (YYYYMM) it was last announced for.
    quota: Arc<DashMap<(String, u8), i32>>,
    /// tenant -> (window start, refusals in it, announced).
    storms: Arc<DashMap<String, (i64, u32, bool)>>,
}

impl Signals {
    pub fn new(events: Events) -> Self {
        Self {
            events,
            quota: Arc::default(),
            storms: Arc::default(),
        }
    }

    /// A request admitted with `used` of `limit` requests this month.
    pub fn monthly_use(&self, tenant: &str, used: i64, limit: i64, now: DateTime<Utc>) {
        if limit <= 0 || i128::from(used) * 100 < i128::from(limit) * 80 {
            return;
        }
        let threshold = if used >= limit { 100 } else { 80 };
        self.quota_threshold(tenant, threshold, used, limit, now);
    }

    /// A request refused by the monthly quota.
    pub fn quota_refused(&self, tenant: &str, limit: i64, now: DateTime<Utc>) {
        self.quota_threshold(tenant, 100, limit, limit, now);
    }

    fn quota_threshold(
        &self,
        tenant: &str,
        threshold: u8,
        used: i64,
        limit: i64,
        now: DateTime<Utc>,
    ) {
        let month = now.year() * 100 + now.month() as i32;
        let key = (tenant.to_string(), threshold);
        if self.quota.get(&key).is_some_and(|m| *m == month) {
            return;
        }
        self.quota.insert(key, month);
        let period = format!("{}-{:02}", now.year(), now.month());
        let kind = if threshold == 100 {
            EventType::QuotaReached
        } else {
            EventType::QuotaWarning
        };
        self.events.emit_once(
            format!("{}:{tenant}:{period}", kind.as_str()),
            Event::new(
                kind,
                Some(tenant),
                json!({"tenant_id": tenant, "period": period, "percent": threshold,
                       "used": used, "limit": limit}),
            ),
        );
    }

    /// A request refused by a per-second or concurrency limit.
    pub fn burst_refused(&self, tenant: &str, code: &'static str, now: DateTime<Utc>) {
        let t = now.timestamp();
        let window = t - t.rem_euclid(STORM_WINDOW_SECS);
        let mut entry = self
            .storms
            .entry(tenant.to_string())
            .or_insert((window, 0, false));
        if entry.0 != window {
            *entry = (window, 0, false);
        }
        entry.1 += 1;
        if entry.1 >= STORM_REFUSALS && !entry.2 {
            entry.2 = true;
            let started = DateTime::<Utc>::from_timestamp(window, 0).unwrap_or(now);
            self.events.emit_once(
                format!("limit.storm:{tenant}:{window}"),
                Event::new(
                    EventType::LimitStorm,
                    Some(tenant),
                    json!({"tenant_id": tenant, "code": code, "refusals": entry.1,
                           "window_started_at": started, "window_seconds": STORM_WINDOW_SECS}),
                ),
            );
        }
    }
}
