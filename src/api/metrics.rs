//! `GET /metrics`: the Prometheus text exposition, for a scraper holding an
//! operator token with `metrics:read` (Prometheus: `authorization:
//! credentials: kwt_...`).

use super::access::{needs, Operator};
use crate::startup::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

pub async fn scrape(
    State(state): State<AppState>,
    _operator: Operator<needs::MetricsRead>,
) -> impl IntoResponse {
    let core = &state.core;
    let sampled = core
        .operations
        .sampled(core.webhooks.queue_depth().await)
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        core.metrics.render(&sampled),
    )
}
