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
    pub data_dir: Arc<TempDir>,
    pub app_core: keyward::services::Keyward,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// A fresh app: its own temporary data directory and SQLite database.
pub async fn spawn_app() -> TestApp {
    spawn_app_in(Arc::new(tempfile::tempdir().expect("temp dir"))).await
}

/// An app over an existing data directory (for restarts).
pub async fn spawn_app_in(data_dir: Arc<TempDir>) -> TestApp {
    let vars: HashMap<&str, String> = HashMap::from([
        ("KEYWARD_ADDR", "127.0.0.1:0".to_string()),
        ("KEYWARD_DATA_DIR", data_dir.path().display().to_string()),
        ("KEYWARD_ROOT_TOKEN", ROOT_TOKEN.to_string()),
    ]);
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("settings");
    let app = Application::build(settings).await.expect("app builds");
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
        data_dir,
        app_core,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Stops the server gracefully and returns its data directory.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task ends cleanly");
        }
        self.data_dir.clone()
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
