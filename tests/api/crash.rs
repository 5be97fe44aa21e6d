//! kill -9 under load: the server process is killed (SIGKILL) while it
//! serves data-plane traffic, ingests usage events, rotates and disables keys
//! and rotates a key from the dashboard; restarted on the same store, it has
//! every change and every event it acknowledged. On the engine the suite runs
//! on (SQLite, or PostgreSQL with `KEYWARD_TEST_ENGINE=postgres`).

use crate::helpers::{engine_is_postgres, pg_database, s, ROOT_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keyward serve` as its own process on `dir` (and `database_url`), ready.
async fn start(dir: &Path, database_url: Option<&str>, run: u32) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.with_extension(format!("log{run}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.arg("serve")
        .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYWARD_DATA_DIR", dir)
        .env("KEYWARD_ROOT_TOKEN", ROOT_TOKEN)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let server = Server {
        child: cmd.spawn().expect("keyward starts"),
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{}/healthz", server.base))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the server did not start: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn root(base: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ROOT_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status();
            (status, res.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Value::Null),
    }
}

async fn provision(base: &str, tenant: &str) -> Value {
    let (status, body) = root(
        base,
        Method::POST,
        "/api/provision",
        Some(json!({"user_id": tenant, "integration": "files", "project_id": "jt", "tier": "enterprise"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn verify(base: &str, key: &str) -> String {
    let (_, v) = root(
        base,
        Method::POST,
        "/api/keys/verify",
        Some(json!({"key": key})),
    )
    .await;
    s(&v["code"]).to_string()
}

/// Runs `step` until `stop` is set; collects what each acknowledged.
fn until_stopped<T, F, Fut>(stop: &Arc<AtomicBool>, mut step: F) -> tokio::task::JoinHandle<Vec<T>>
where
    T: Send + 'static,
    F: FnMut(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<T>> + Send,
{
    let stop = stop.clone();
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            match step(n).await {
                Some(ack) => acked.push(ack),
                // Nothing (left) to do: let the other loops run.
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            }
            n += 1;
        }
        acked
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pg = if engine_is_postgres() {
        Some(pg_database().await)
    } else {
        None
    };
    let url = pg.as_ref().map(|p| p.url());
    let mut server = start(&data, url.as_deref(), 1).await;
    let base = server.base.clone();

    let traffic = s(&provision(&base, "traffic").await["api_key"]).to_string();
    let rotated = s(&provision(&base, "rotated").await["key_id"]).to_string();
    let mut to_disable = Vec::new();
    for i in 0..40 {
        to_disable.push(s(&provision(&base, &format!("gone{i}")).await["key_id"]).to_string());
    }
    let dash = provision(&base, "dash").await;
    let (dash_id, dash_old) = (
        s(&dash["key_id"]).to_string(),
        s(&dash["api_key"]).to_string(),
    );
    // A dashboard session (first run with the root token).
    let res = client()
        .post(format!("{base}/admin/first-run"))
        .form(&[
            ("root_token", ROOT_TOKEN),
            ("email", "ops@example.com"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session: Value = client()
        .get(format!("{base}/admin/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = s(&session["csrf_token"]).to_string();

    let stop = Arc::new(AtomicBool::new(false));
    // Data-plane traffic: each acknowledged set, with when it was acknowledged.
    let sets = until_stopped(&stop, {
        let (base, key) = (base.clone(), traffic.clone());
        move |n| {
            let (base, key) = (base.clone(), key.clone());
            async move {
                let res = client()
                    .post(format!("{base}/api/cache/set"))
                    .bearer_auth(&key)
                    .json(
                        &json!({"provider": "openai", "model": "m", "namespace": "jt_traffic",
                                  "messages": [{"role": "user", "content": format!("q{n}")}],
                                  "response": {"a": n}}),
                    )
                    .send()
                    .await
                    .ok()?;
                (res.status() == StatusCode::CREATED).then(Instant::now)
            }
        }
    });
    // Usage events: batches of 20 with unique ids.
    let ingested = until_stopped(&stop, {
        let base = base.clone();
        move |n| {
            let base = base.clone();
            async move {
                let events: Vec<Value> = (0..20)
                    .map(|j| json!({"event_id": format!("crash-{n}-{j}"), "trace_id": "t", "tenant_id": "traffic",
                                    "user_id": "u1", "service": "openai", "operation": "chat",
                                    "units": {"tokens_in": 10}, "duration_ms": 5,
                                    "timestamp": "2026-10-05T10:00:00Z"}))
                    .collect();
                let (status, _) = root(
                    &base,
                    Method::POST,
                    "/api/usage/events",
                    Some(Value::Array(events)),
                )
                .await;
                (status == StatusCode::OK).then_some(20u64)
            }
        }
    });
    // Rotations with grace: every acknowledged secret must still verify.
    let rotations = until_stopped(&stop, {
        let (base, id) = (base.clone(), rotated.clone());
        move |_| {
            let (base, id) = (base.clone(), id.clone());
            async move {
                let (status, body) = root(
                    &base,
                    Method::POST,
                    &format!("/api/keys/{id}/rotate"),
                    Some(json!({"grace_seconds": 3600})),
                )
                .await;
                (status == StatusCode::OK).then(|| s(&body["api_key"]).to_string())
            }
        }
    });
    // Disables, one key after another.
    let disabled = until_stopped(&stop, {
        let base = base.clone();
        let ids = to_disable.clone();
        move |n| {
            let base = base.clone();
            let id = ids.get(n as usize).cloned();
            async move {
                let id = id?;
                let (status, _) = root(
                    &base,
                    Method::POST,
                    &format!("/api/keys/{id}/disable"),
                    None,
                )
                .await;
                (status == StatusCode::OK).then_some(id)
            }
        }
    });

    tokio::time::sleep(Duration::from_millis(700)).await;
    // A dashboard rotation with "at once" grace, acknowledged mid-run.
    let res = client()
        .post(format!("{base}/admin/keys/{dash_id}/rotate"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("grace_seconds", "0"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    tokio::time::sleep(Duration::from_millis(400)).await;

    // SIGKILL, mid-traffic.
    let killed_at = Instant::now();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let sets = sets.await.unwrap();
    let ingested: u64 = ingested.await.unwrap().iter().sum();
    let rotations = rotations.await.unwrap();
    let disabled = disabled.await.unwrap();
    assert!(!sets.is_empty() && ingested > 0 && !rotations.is_empty() && !disabled.is_empty());

    // The store opens cleanly, and everything acknowledged is there.
    let server = start(&data, url.as_deref(), 2).await;
    let base = server.base.clone();
    for secret in &rotations {
        assert_eq!(
            verify(&base, secret).await,
            "VALID",
            "an acknowledged rotation was lost"
        );
    }
    for id in &disabled {
        let (_, key) = root(&base, Method::GET, &format!("/api/keys/{id}"), None).await;
        assert_eq!(
            key["status"], "disabled",
            "an acknowledged disable was lost: {key}"
        );
    }
    let (_, tpc) = root(
        &base,
        Method::GET,
        "/api/analytics/tpc/traffic?period=daily&from=2026-10-05",
        None,
    )
    .await;
    assert!(
        tpc["events"].as_u64().unwrap() >= ingested,
        "acknowledged events lost: {ingested} acknowledged, {tpc}"
    );
    // The dashboard's shown-once secret is still shown once; the old one is dead.
    let page = client()
        .get(format!("{base}/admin/cache-keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown =
        crate::admins::shown_secret(&page).expect("the acknowledged rotation's secret is shown");
    assert_eq!(verify(&base, &shown).await, "VALID");
    assert_ne!(
        verify(&base, &dash_old).await,
        "VALID",
        "the at-once rotation retired the old secret"
    );
    // Data-plane usage: at most what was not yet flushed (the last half
    // second before the kill) is missing.
    let flushed_before = killed_at - Duration::from_millis(1500);
    let surely_written = sets.iter().filter(|at| **at < flushed_before).count() as u64;
    let (_, usage) = root(&base, Method::GET, "/api/usage/traffic", None).await;
    let recorded = usage["total"]["requests"].as_u64().unwrap();
    assert!(
        recorded >= surely_written && recorded <= sets.len() as u64,
        "usage records: {recorded} stored, {surely_written} acknowledged well before the kill, {} in all",
        sets.len()
    );
    drop(server);
}
