//! A webhook endpoint for tests: records every delivery (headers and body)
//! and answers with the statuses it is told, in turn (then 200).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    answers: VecDeque<u16>,
    /// Records each delivery and never answers (the sender's timeout ends it).
    hang: bool,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// Starts one on a random port; it answers `answers` in turn, then 200.
    pub async fn start(answers: &[u16]) -> Self {
        Self::serve(Inner {
            received: Vec::new(),
            answers: answers.iter().copied().collect(),
            hang: false,
        })
        .await
    }

    /// One that records each delivery and never answers.
    pub async fn hanging() -> Self {
        Self::serve(Inner {
            hang: true,
            ..Inner::default()
        })
        .await
    }

    async fn serve(inner: Inner) -> Self {
        let inner = Arc::new(Mutex::new(inner));
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inner }
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits until a delivery of `event_type` has arrived `n` times; all of them.
    pub async fn wait_for(&self, event_type: &str, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<Received> = self
                .received()
                .into_iter()
                .filter(|r| r.json()["type"] == event_type)
                .collect();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{n} x {event_type} not delivered; got: {:?}",
                self.received()
                    .iter()
                    .map(|r| r.json()["type"].clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let (hang, code) = {
        let mut inner = inner.lock().unwrap();
        inner.received.push(Received {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body,
        });
        (inner.hang, inner.answers.pop_front().unwrap_or(200))
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"received": true, "code": code}).to_string(),
    )
}

/// Verifies deliveries with the `standardwebhooks` library from PyPI (run
/// by `scripts/verify_webhooks.py` in the tools' virtualenv); one result
/// per delivery: `{"ok": true, "payload": ...}` or `{"ok": false, "error"}`.
pub fn verify_with_standardwebhooks(secret: &str, deliveries: &[Received]) -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh test (it installs standardwebhooks)",
        python.display()
    );
    let request = json!({
        "secret": secret,
        "deliveries": deliveries.iter().map(|d| json!({
            "headers": d.headers.iter().cloned().collect::<std::collections::HashMap<_, _>>(),
            "body": d.body,
        })).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(python)
        .arg(root.join("scripts/verify_webhooks.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "verify_webhooks.py failed");
    serde_json::from_slice(&out.stdout).expect("a JSON list")
}
