//! Local stand-ins for the AI providers, answering like each one: its auth
//! header, its status codes, an error body. One server for the whole test
//! process (on its own runtime, so it outlives any single test), at
//! `<base>/<service>/...`. A key starting `valid` is accepted, `slow` answers
//! after 3 s (past the apps' 1 s timeout), `down` gets a 503, anything else a 401.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

static BASE: OnceLock<String> = OnceLock::new();
static MINTED: AtomicU64 = AtomicU64::new(0);
static REVOKED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The provider ids of the keys revoked at the Hume stand-in so far. A key
/// minted as `valid-hume-minted-NNNN` has the id `hk-NNNN`.
pub fn revoked() -> Vec<String> {
    REVOKED.lock().unwrap().clone()
}

pub fn base_url() -> String {
    BASE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(format!("http://{}", listener.local_addr().unwrap()))
                    .unwrap();
                axum::serve(listener, router()).await.unwrap();
            });
        });
        rx.recv().unwrap()
    })
    .clone()
}

/// The key a provider's request carried, read the provider's way.
fn presented(service: &str, headers: &HeaderMap) -> Option<String> {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match service {
        "openai" => h("authorization")?
            .strip_prefix("Bearer ")
            .map(str::to_string),
        "anthropic" => {
            // Anthropic also insists on a version header.
            h("anthropic-version")?;
            h("x-api-key")
        }
        "hume" => h("x-hume-api-key"),
        "elevenlabs" => h("xi-api-key"),
        "deepgram" => h("authorization")?
            .strip_prefix("Token ")
            .map(str::to_string),
        _ => None,
    }
}

async fn answer(service: &str, headers: &HeaderMap) -> (StatusCode, Json<Value>) {
    match presented(service, headers) {
        Some(k) if k.starts_with("valid") => (StatusCode::OK, Json(json!({"data": []}))),
        Some(k) if k.starts_with("slow") => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, Json(json!({"data": []})))
        }
        Some(k) if k.starts_with("down") => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": "overloaded"}})),
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(
                json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}),
            ),
        ),
    }
}

fn router() -> Router {
    Router::new()
        .nest("/xero", crate::xero_stub::router())
        .route(
            "/{service}/v1/models",
            get(|Path(s): Path<String>, h: HeaderMap| async move { answer(&s, &h).await }),
        )
        .route(
            "/hume/v0/evi/configs",
            get(|h: HeaderMap| async move { answer("hume", &h).await }),
        )
        .route(
            "/elevenlabs/v1/user",
            get(|h: HeaderMap| async move { answer("elevenlabs", &h).await }),
        )
        .route(
            "/deepgram/v1/projects",
            get(|h: HeaderMap| async move { answer("deepgram", &h).await }),
        )
        .route(
            "/hume/v0/api-keys",
            post(|h: HeaderMap| async move {
                let (status, body) = answer("hume", &h).await;
                if status != StatusCode::OK {
                    return (status, body);
                }
                let n = MINTED.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::OK,
                    Json(json!({"id": format!("hk-{n:04}"), "api_key": format!("valid-hume-minted-{n:04}")})),
                )
            }),
        )
        .route(
            "/hume/v0/api-keys/{id}",
            // Admin credentials `valid-flaky...` fail here with a 503.
            delete(|Path(id): Path<String>, h: HeaderMap| async move {
                let (status, body) = answer("hume", &h).await;
                if status != StatusCode::OK {
                    return (status, body);
                }
                if presented("hume", &h).is_some_and(|k| k.starts_with("valid-flaky")) {
                    return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "busy"})));
                }
                REVOKED.lock().unwrap().push(id);
                (StatusCode::OK, Json(json!({})))
            }),
        )
}
