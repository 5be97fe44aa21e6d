use keyward::config::Settings;
use keyward::startup::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ROOT_TOKEN: &str = "test-root-token-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub app_core: keyward::services::Keyward,
    store: Option<Store>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// Where an app keeps its state: a temporary data directory, and with
/// `KEYWARD_TEST_ENGINE=postgres` a fresh PostgreSQL database, dropped when
/// the last app using it is gone.
pub struct Store {
    pub data_dir: Arc<TempDir>,
    pub postgres: Option<PgDatabase>,
}

/// The server that `KEYWARD_TEST_ENGINE=postgres` runs against (trust auth).
const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub fn url(&self) -> String {
        PG_ADMIN_URL.replace("/test", &format!("/{}", self.name))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async code paths; a thread with its own runtime keeps it simple.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(PG_ADMIN_URL).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn)
                        .await;
                    }
                })
        })
        .join();
    }
}

pub fn engine_is_postgres() -> bool {
    std::env::var("KEYWARD_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

/// A fresh PostgreSQL database on the local server, dropped with the value.
pub async fn pg_database() -> PgDatabase {
    use sqlx::Connection;
    let name = format!("kw_test_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(PG_ADMIN_URL)
        .await
        .expect("PostgreSQL at 127.0.0.1:5432");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create test database");
    PgDatabase { name }
}

async fn fresh_store() -> Store {
    let postgres = if engine_is_postgres() {
        Some(pg_database().await)
    } else {
        None
    };
    Store {
        data_dir: Arc::new(tempfile::tempdir().expect("temp dir")),
        postgres,
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{}_{}", std::process::id(), t, n)
}

/// The apps' warnings (and sqlx's slow statements) in the output of the
/// test that failed: apps run on the test's own thread, whose output the
/// harness captures and prints only for a failure.
fn log_warnings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("keyward=warn,sqlx=warn"))
            .with_test_writer()
            .try_init();
    });
}

/// Runs blocking work (a process) on tokio's blocking pool, so the app on
/// the test's thread goes on serving meanwhile.
async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// A fresh app: its own temporary data directory and database.
pub async fn spawn_app() -> TestApp {
    spawn_app_in(fresh_store().await).await
}

/// A fresh app with extra configuration (`KEYWARD_*` variables).
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_app_in_with(fresh_store().await, extra).await
}

/// An app over an existing store (for restarts).
pub async fn spawn_app_in(store: Store) -> TestApp {
    spawn_app_in_with(store, &[]).await
}

/// An app over an existing store, with extra configuration.
pub async fn spawn_app_in_with(store: Store, extra: &[(&str, &str)]) -> TestApp {
    log_warnings();
    let settings = settings_for(&store, extra);
    let app = Application::build(settings).await.expect("app builds");
    serve(app, store)
}

/// Why an app over `store` with extra configuration refuses to start, if it does.
pub async fn start_error_in(store: &Store, extra: &[(&str, &str)]) -> Option<String> {
    match Application::build(settings_for(store, extra)).await {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// The test configuration of an app over `store`, with `extra` on top.
fn settings_for(store: &Store, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("KEYWARD_ADDR", "127.0.0.1:0".to_string()),
        (
            "KEYWARD_DATA_DIR",
            store.data_dir.path().display().to_string(),
        ),
        ("KEYWARD_ROOT_TOKEN", ROOT_TOKEN.to_string()),
        ("KEYWARD_PROVIDER_TIMEOUT_MS", "1000".to_string()),
        // One app per database here: the replicas' safety TTL (which drops
        // every cache) would only race tests that close the store on purpose.
        // tests/api/replicas.rs runs the feed and its TTL between processes.
        ("KEYWARD_CHANGE_TTL_SECS", "3600".to_string()),
        // Scheduled occurrences would fire into unrelated tests at their
        // hour (invoices at 02:00...); tests of the scheduler turn it on.
        ("KEYWARD_SCHEDULER", "off".to_string()),
        // Webhook deliveries go out at once and retry quickly.
        ("KEYWARD_WEBHOOK_POLL_MS", "100".to_string()),
        ("KEYWARD_WEBHOOK_RETRY_BASE_MS", "200".to_string()),
        // The tests' receivers listen on 127.0.0.1; the default (public
        // addresses only) is tested in automation.rs.
        ("KEYWARD_WEBHOOK_TARGETS", "any".to_string()),
    ]);
    let stub = crate::providers_stub::base_url();
    for service in ["openai", "anthropic", "hume", "elevenlabs", "deepgram"] {
        vars.insert(
            match service {
                "openai" => "KEYWARD_PROVIDER_OPENAI_URL",
                "anthropic" => "KEYWARD_PROVIDER_ANTHROPIC_URL",
                "hume" => "KEYWARD_PROVIDER_HUME_URL",
                "elevenlabs" => "KEYWARD_PROVIDER_ELEVENLABS_URL",
                _ => "KEYWARD_PROVIDER_DEEPGRAM_URL",
            },
            format!("{stub}/{service}"),
        );
    }
    vars.insert("KEYWARD_XERO_API_URL", format!("{stub}/xero"));
    vars.insert(
        "KEYWARD_XERO_TOKEN_URL",
        format!("{stub}/xero/connect/token"),
    );
    vars.insert("KEYWARD_XERO_CLIENT_ID", crate::xero_stub::CLIENT_ID.into());
    vars.insert(
        "KEYWARD_XERO_CLIENT_SECRET",
        crate::xero_stub::CLIENT_SECRET.into(),
    );
    vars.insert(
        "KEYWARD_XERO_TENANT_ID",
        crate::xero_stub::ORGANISATION.into(),
    );
    if let Some(pg) = &store.postgres {
        vars.insert("DATABASE_URL", pg.url());
    }
    for (name, value) in extra {
        vars.insert(name, value.to_string());
    }
    Settings::from_lookup(|k| vars.get(k).cloned()).expect("settings")
}

fn serve(app: Application, store: Store) -> TestApp {
    let base = format!("http://{}", app.local_addr());
    let app_core = app.core().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        base,
        client: reqwest::Client::new(),
        store: Some(store),
        app_core,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Stops the server gracefully and returns its store.
    pub async fn stop(mut self) -> Store {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task ends cleanly");
        }
        self.store.take().expect("store")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the root token.
    pub async fn root(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ROOT_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn root_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self.root(method, path, body).await;
        let status = res.status();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Provisions and asserts 201.
    pub async fn provision(&self, body: Value) -> Value {
        let (status, body) = self
            .root_json(Method::POST, "/api/provision", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "provision failed: {body}");
        body
    }

    /// Provisions a dedicated pro key for `tenant` in project `jt`.
    pub async fn provision_tenant(&self, tenant: &str) -> Value {
        self.provision(json!({
            "user_id": tenant, "integration": "files", "project_id": "jt", "tier": "pro",
        }))
        .await
    }

    pub async fn verify(&self, key: &str, namespace: Option<&str>) -> Value {
        let mut body = json!({ "key": key });
        if let Some(ns) = namespace {
            body["namespace"] = json!(ns);
        }
        let res = self
            .client
            .post(self.url("/api/keys/verify"))
            .json(&body)
            .send()
            .await
            .expect("verify sent");
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("verify body")
    }

    pub async fn verify_code(&self, key: &str, namespace: Option<&str>) -> String {
        self.verify(key, namespace).await["code"]
            .as_str()
            .expect("code")
            .to_string()
    }

    pub async fn rotate(&self, key_id: &str, body: Value) -> Value {
        let (status, body) = self
            .root_json(
                Method::POST,
                &format!("/api/keys/{key_id}/rotate"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "rotate failed: {body}");
        body
    }
}

pub fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// A data-plane call's outcome.
pub struct Call {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    /// Response body length in bytes, as sent.
    pub len: i64,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// POSTs raw JSON text to a data-plane endpoint with an API key.
    pub async fn data_raw(&self, path: &str, key: &str, body: String) -> Call {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("data-plane request");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        Call {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            len: bytes.len() as i64,
        }
    }

    pub async fn data(&self, path: &str, key: &str, body: Value) -> Call {
        self.data_raw(path, key, body.to_string()).await
    }

    pub async fn cache_get(&self, key: &str, namespace: &str, content: &str) -> Call {
        self.data(
            "/api/cache/get",
            key,
            json!({
                "provider": "openai", "model": "gpt-4o", "namespace": namespace,
                "messages": [{"role": "user", "content": content}],
            }),
        )
        .await
    }

    pub async fn cache_set(
        &self,
        key: &str,
        namespace: &str,
        content: &str,
        response: Value,
    ) -> Call {
        self.data(
            "/api/cache/set",
            key,
            json!({
                "provider": "openai", "model": "gpt-4o", "namespace": namespace,
                "messages": [{"role": "user", "content": content}],
                "response": response, "ttl": 600,
            }),
        )
        .await
    }

    /// Sets a plan's limits.
    pub async fn set_plan(
        &self,
        plan: &str,
        per_month: i64,
        per_second: i64,
        concurrent: i64,
        max_payload: i64,
    ) {
        let (status, body) = self
            .root_json(
                Method::PUT,
                &format!("/api/plans/{plan}"),
                Some(json!({
                    "requests_per_month": per_month, "requests_per_second": per_second,
                    "concurrent_requests": concurrent, "max_payload_bytes": max_payload,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "plan update: {body}");
    }

    pub async fn flush_usage(&self) {
        let (status, _) = self.root_json(Method::POST, "/api/usage/flush", None).await;
        assert_eq!(status, StatusCode::OK);
    }

    pub fn engine_url(&self) -> Option<String> {
        self.store
            .as_ref()
            .and_then(|s| s.postgres.as_ref().map(|p| p.url()))
    }

    /// Runs the `keyward` binary as a process over this app's store and data
    /// directory (same database, keyring and pepper), with no other environment.
    /// The app keeps running meanwhile (the process is waited for off the
    /// test's thread, which the app shares): a CLI that waits for a lock
    /// the app holds gets it.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with_env(args, &[]).await
    }

    /// The CLI as a process over this app's store, with extra variables.
    pub async fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let data_dir = self.sqlite_path();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYWARD_DATA_DIR", data_dir.parent().expect("data dir"))
            .envs(env.iter().copied())
            .args(args);
        if let Some(url) = self.engine_url() {
            cmd.env("DATABASE_URL", url);
        }
        off_thread(move || cmd.output().expect("cli runs")).await
    }

    /// Like [`TestApp::cli`], with `input` on the process's stdin.
    pub async fn cli_with_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let data_dir = self.sqlite_path();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYWARD_DATA_DIR", data_dir.parent().expect("data dir"))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(url) = self.engine_url() {
            cmd.env("DATABASE_URL", url);
        }
        let input = input.to_string();
        off_thread(move || {
            let mut child = cmd.spawn().expect("cli starts");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("stdin written");
            child.wait_with_output().expect("cli runs")
        })
        .await
    }

    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.store
            .as_ref()
            .expect("store")
            .data_dir
            .path()
            .join("keyward.db")
    }
}
