//! The metrics layer: every request counted by route (the matched pattern,
//! never the raw path), method and status, timed, and its refusal (a limit
//! or a budget) counted by code.

use super::error::Refused;
use crate::services::metrics::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

pub async fn record(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    // A bounded set of labels: any other method counts as "other".
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    metrics.request(
        &route,
        method,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(Refused(code)) = res.extensions().get::<Refused>() {
        metrics.limit_refused(code);
    }
    res
}
