//! Bounds on request bodies and request time, for every route:
//!
//! - a server-wide budget of body bytes held in memory: a request whose
//!   declared length does not fit in what is left is refused before its body
//!   is read, and one whose body outgrows it is cut off; both are answered 503
//!   `SERVER_BUSY` with `Retry-After` (never an out-of-memory kill). Bytes
//!   count against the budget from arrival until the handler has answered;
//! - a stall timeout: a body that sends nothing for that long is cut off
//!   (408 `REQUEST_TIMEOUT`, connection closed);
//! - a total request timeout (408 `REQUEST_TIMEOUT`, connection closed).

use crate::web::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is kept in units of this many bytes.
const UNIT: u64 = 1024;

/// What every request's body is held to.
#[derive(Clone)]
pub struct BodyGuard {
    budget: Arc<Semaphore>,
    budget_units: u64,
    stall: Duration,
    request_timeout: Duration,
}

impl BodyGuard {
    pub fn new(budget_bytes: u64, stall: Duration, request_timeout: Duration) -> Self {
        let units = (budget_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            budget: Arc::new(Semaphore::new(units as usize)),
            budget_units: units,
            stall,
            request_timeout,
        }
    }

    /// Body bytes currently held by requests (for the stats endpoint and tests).
    pub fn held_bytes(&self) -> u64 {
        (self.budget_units - self.budget.available_permits() as u64) * UNIT
    }
}

/// What happened to one request's body, seen by the middleware afterwards.
#[derive(Default)]
struct Outcome {
    over_budget: AtomicBool,
    stalled: AtomicBool,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Outcome {
    fn hold(&self, permit: OwnedSemaphorePermit) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.as_mut() {
            Some(p) => p.merge(permit),
            None => *held = Some(permit),
        }
    }
}

fn units(bytes: u64) -> u32 {
    bytes.div_ceil(UNIT).min(u32::MAX as u64) as u32
}

fn busy() -> Response {
    let mut res = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVER_BUSY",
        "the server is holding as many request bodies as it allows; try again shortly",
    )
    .into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

fn timed_out(message: &'static str) -> Response {
    let mut res =
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT", message).into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

pub async fn guard(State(guard): State<BodyGuard>, req: Request, next: Next) -> Response {
    let outcome = Arc::new(Outcome::default());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body that cannot fit in what is left is refused before a byte is
    // read. Nothing is reserved for it yet: bytes count as they arrive, so a
    // client declaring a large body and sending nothing holds nothing.
    if declared.is_some_and(|n| units(n) as usize > guard.budget.available_permits()) {
        return busy();
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(GuardedBody {
        inner: body,
        outcome: outcome.clone(),
        budget: guard.budget.clone(),
        seen: 0,
        stall: guard.stall,
        sleep: None,
    });
    let answered = tokio::time::timeout(
        guard.request_timeout,
        next.run(Request::from_parts(parts, body)),
    )
    .await;
    let res = match answered {
        Err(_) => timed_out("the request took longer than the server allows"),
        Ok(_) if outcome.over_budget.load(Ordering::Relaxed) => busy(),
        Ok(_) if outcome.stalled.load(Ordering::Relaxed) => {
            timed_out("the request body stopped arriving")
        }
        Ok(res) => res,
    };
    // The body's bytes are released with `outcome`, now that the handler is done.
    drop(outcome);
    res
}

/// A request body that counts its bytes against the budget and stops when
/// it stalls.
struct GuardedBody {
    inner: Body,
    outcome: Arc<Outcome>,
    budget: Arc<Semaphore>,
    seen: u64,
    stall: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

#[derive(Debug, thiserror::Error)]
enum GuardError {
    #[error("the server's budget for request bodies is spent")]
    OverBudget,
    #[error("the request body stopped arriving")]
    Stalled,
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let stall = this.stall;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.outcome.stalled.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(GuardError::Stalled))));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(frame) => frame,
        };
        this.sleep = None;
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                let before = this.seen;
                this.seen += data.len() as u64;
                let need = units(this.seen) - units(before);
                if need > 0 {
                    match this.budget.clone().try_acquire_many_owned(need) {
                        Ok(permit) => this.outcome.hold(permit),
                        Err(_) => {
                            this.outcome.over_budget.store(true, Ordering::Relaxed);
                            return Poll::Ready(Some(Err(axum::Error::new(
                                GuardError::OverBudget,
                            ))));
                        }
                    }
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_units_round_up() {
        assert_eq!(units(0), 0);
        assert_eq!(units(1), 1);
        assert_eq!(units(1024), 1);
        assert_eq!(units(1025), 2);
    }
}
