//! Prometheus metrics: counters and histograms recorded where things
//! happen, gauges sampled when `/metrics` is scraped. Each core has its own
//! recorder (no process-wide global), so replicas in one process (tests)
//! count apart.

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::Arc;

/// Request latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

/// What is sampled at scrape time.
pub struct Sampled {
    pub usage_queue_depth: u64,
    pub usage_records_dropped: u64,
    pub cache_memory_bytes: u64,
    pub change_feed_connected: bool,
    pub change_feed_lag_seconds: f64,
    pub webhook_queue_depth: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("keyward_http_request_duration_seconds".into()),
                &LATENCY_BUCKETS,
            )
            .expect("static, non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        let m = Self {
            recorder: Arc::new(recorder),
            handle,
        };
        m.with(describe_all);
        m
    }

    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    /// One HTTP request: its route (the matched pattern, never the raw path),
    /// method and status, and how long it took.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.with(|| {
            let labels = [
                ("route", route.to_string()),
                ("method", method.to_string()),
                ("status", status.to_string()),
            ];
            counter!("keyward_http_requests_total", &labels).increment(1);
            histogram!(
                "keyward_http_request_duration_seconds",
                "route" => route.to_string(),
                "method" => method.to_string()
            )
            .record(seconds);
        });
    }

    /// A request refused by a limit (`kind`: the refusal's code).
    pub fn limit_refused(&self, kind: &'static str) {
        self.with(|| counter!("keyward_limit_refusals_total", "kind" => kind).increment(1));
    }

    /// A cache lookup: hit or miss, and the bytes served from the cache.
    pub fn cache_lookup(&self, hit: bool, bytes_served: u64) {
        self.with(|| {
            let result = if hit { "hit" } else { "miss" };
            counter!("keyward_cache_lookups_total", "result" => result).increment(1);
            if hit {
                counter!("keyward_cache_served_bytes_total").increment(bytes_served);
            }
        });
    }

    /// A response stored in the cache.
    pub fn cache_stored(&self, bytes: u64) {
        self.with(|| counter!("keyward_cache_stored_bytes_total").increment(bytes));
    }

    pub fn job_run(&self, task: &'static str, outcome: &'static str) {
        self.with(|| {
            counter!("keyward_job_runs_total", "task" => task, "outcome" => outcome).increment(1)
        });
    }

    /// A webhook delivery attempt (`outcome`: delivered, retrying, failed).
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.with(|| counter!("keyward_webhook_attempts_total", "outcome" => outcome).increment(1));
    }

    /// A provider key checked against its provider (`outcome`: valid, invalid, unreachable, healed).
    pub fn provider_validation(&self, service: &str, outcome: &'static str) {
        self.with(|| {
            counter!(
                "keyward_provider_validations_total",
                "service" => service.to_string(),
                "outcome" => outcome
            )
            .increment(1)
        });
    }

    /// An event that could not be queued (the queue was full).
    pub fn event_dropped(&self) {
        self.with(|| counter!("keyward_events_dropped_total").increment(1));
    }

    /// Folds recorded histogram samples into their buckets (they are kept
    /// raw until then).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The text exposition, with the sampled gauges set first.
    pub fn render(&self, s: &Sampled) -> String {
        self.with(|| {
            gauge!("keyward_usage_queue_depth").set(s.usage_queue_depth as f64);
            counter!("keyward_usage_records_dropped_total").absolute(s.usage_records_dropped);
            gauge!("keyward_cache_memory_bytes").set(s.cache_memory_bytes as f64);
            gauge!("keyward_change_feed_connected")
                .set(f64::from(u8::from(s.change_feed_connected)));
            gauge!("keyward_change_feed_lag_seconds").set(s.change_feed_lag_seconds);
            gauge!("keyward_webhook_queue_depth").set(s.webhook_queue_depth as f64);
        });
        self.handle.run_upkeep();
        self.handle.render()
    }
}

fn describe_all() {
    describe_counter!(
        "keyward_http_requests_total",
        "HTTP requests answered, by route, method and status."
    );
    describe_histogram!(
        "keyward_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer HTTP requests, by route and method."
    );
    describe_counter!(
        "keyward_limit_refusals_total",
        "Requests refused by a limit, by kind (its error code)."
    );
    describe_counter!(
        "keyward_cache_lookups_total",
        "Response cache lookups, by result (hit or miss)."
    );
    describe_counter!(
        "keyward_cache_served_bytes_total",
        Unit::Bytes,
        "Bytes served from the response cache."
    );
    describe_counter!(
        "keyward_cache_stored_bytes_total",
        Unit::Bytes,
        "Bytes of responses stored in the cache."
    );
    describe_counter!(
        "keyward_job_runs_total",
        "Scheduled job runs, by task and outcome."
    );
    describe_counter!(
        "keyward_webhook_attempts_total",
        "Webhook delivery attempts, by outcome."
    );
    describe_counter!(
        "keyward_provider_validations_total",
        "Provider key checks, by service and outcome."
    );
    describe_counter!(
        "keyward_events_dropped_total",
        "Events not queued for webhooks because the queue was full."
    );
    describe_gauge!(
        "keyward_usage_queue_depth",
        "Usage records waiting for the batch writer."
    );
    describe_counter!(
        "keyward_usage_records_dropped_total",
        "Usage records dropped because the writer's queue was full."
    );
    describe_gauge!(
        "keyward_cache_memory_bytes",
        Unit::Bytes,
        "Bytes held by the response cache's memory tier."
    );
    describe_gauge!(
        "keyward_change_feed_connected",
        "1 while this replica hears other replicas' changes."
    );
    describe_gauge!(
        "keyward_change_feed_lag_seconds",
        Unit::Seconds,
        "How late the last change notice arrived after it was sent."
    );
    describe_gauge!(
        "keyward_webhook_queue_depth",
        "Webhook deliveries waiting to be sent (every replica's)."
    );
}
