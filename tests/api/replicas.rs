//! Several replicas: two keyward processes on one PostgreSQL database and one
//! Redis, traffic spread over both. A change made through one is enforced by
//! the other (the change feed), limits hold across both (Redis), usage and
//! audit records land once each; and with Redis gone, a replica keeps
//! serving on local limits, says so, and recovers by itself.

use crate::helpers::{engine_is_postgres, pg_database, s, ROOT_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const REDIS: &str = "127.0.0.1:6379";
/// Fixed for every replica, as a deployment would set them.
const PEPPER: &str = "replica-test-pepper-0123456789abcdef";
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

struct Replica {
    child: Child,
    base: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `keyward serve` as its own process and waits until it is ready.
async fn replica(
    database_url: Option<&str>,
    redis_url: Option<&str>,
    env: &[(&str, &str)],
) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.arg("serve")
        .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
        .env("KEYWARD_DATA_DIR", dir.path())
        .env("KEYWARD_ROOT_TOKEN", ROOT_TOKEN)
        .env("KEYWARD_KEY_HASH_SECRET", PEPPER)
        .env("KEYWARD_MASTER_KEY", MASTER_KEY)
        .env("RUST_LOG", "info")
        .env_remove("DATABASE_URL")
        // The log (stdout and stderr) goes to a file the test reads.
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap());
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    if let Some(url) = redis_url {
        cmd.env("KEYWARD_REDIS_URL", url);
    }
    let mode = match (redis_url, database_url) {
        (Some(_), _) => "redis",
        (None, Some(_)) => "postgres",
        (None, None) => "local",
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("keyward starts");
    let r = Replica {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = reqwest::get(format!("{}/readyz", r.base)).await {
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if body["status"] == "ready"
                && body["change_feed"] != "reconnecting"
                && body["limits"]["mode"] == mode
            {
                return r;
            }
        }
        assert!(
            Instant::now() < deadline,
            "replica not ready: {}",
            std::fs::read_to_string(&r.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Replica {
    async fn root(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ROOT_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A cache lookup with `key`: the status and the error code, if any.
    async fn get(
        &self,
        client: &reqwest::Client,
        key: &str,
        namespace: &str,
    ) -> (StatusCode, String) {
        let res = client
            .post(format!("{}/api/cache/get", self.base))
            .bearer_auth(key)
            .json(
                &json!({"provider": "openai", "model": "gpt-4o", "namespace": namespace,
                          "messages": [{"role": "user", "content": "hello"}]}),
            )
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_string(),
        )
    }

    async fn health(&self) -> Value {
        reqwest::get(format!("{}/healthz", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn provision(r: &Replica, tenant: &str) -> (String, String) {
    let (status, body) = r
        .root(
            reqwest::Method::POST,
            "/api/provision",
            Some(json!({"user_id": tenant, "integration": "files", "project_id": "jt", "tier": "pro"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        s(&body["api_key"]).to_string(),
        s(&body["key_id"]).to_string(),
    )
}

/// Sets the pro plan's limits through `via` and waits until `other` (if
/// any) has them too (the change feed carries them).
/// Sleeps until just after the next second starts (a fresh per-second window).
async fn sleep_into_next_second() {
    tokio::time::sleep(Duration::from_millis(
        1_050 - (chrono::Utc::now().timestamp_subsec_millis() as u64).min(1_000),
    ))
    .await;
}

async fn set_pro(
    via: &Replica,
    other: Option<&Replica>,
    per_second: i64,
    per_month: i64,
    concurrent: i64,
) {
    let (status, body) = via
        .root(
            reqwest::Method::PUT,
            "/api/plans/pro",
            Some(
                json!({"requests_per_month": per_month, "requests_per_second": per_second,
                        "concurrent_requests": concurrent, "max_payload_bytes": 1_048_576}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let Some(other) = other else { return };
    let since = Instant::now();
    loop {
        let (_, plans) = other.root(reqwest::Method::GET, "/api/plans", None).await;
        let pro = plans["plans"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "pro").cloned())
            .unwrap_or(Value::Null);
        if pro["requests_per_second"] == per_second
            && pro["requests_per_month"] == per_month
            && pro["concurrent_requests"] == concurrent
        {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the plan change never reached the other replica"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_replicas_share_revocations_limits_usage_and_audit() {
    if engine_is_postgres() {
        return; // these tests make their own PostgreSQL databases: run once, in the first pass
    }
    let db = pg_database().await;
    let url = db.url();
    let redis = format!("redis://{REDIS}");
    // A long safety TTL: what the test sees is the change feed, not the TTL.
    let env = [("KEYWARD_CHANGE_TTL_SECS", "60")];
    let a = replica(Some(&url), Some(&redis), &env).await;
    let b = replica(Some(&url), Some(&redis), &env).await;
    let client = reqwest::Client::new();
    let (key, key_id) = provision(&a, "acme").await;
    // Requests to acme's namespace that got past verification (a refused
    // key is not usage).
    let mut served_acme = 0;

    // Revocation: B serves the key from memory, A disables it, B refuses it.
    for _ in 0..3 {
        assert_eq!(b.get(&client, &key, "jt_acme").await.0, StatusCode::OK);
        served_acme += 1;
    }
    let (status, _) = a
        .root(
            reqwest::Method::POST,
            &format!("/api/keys/{key_id}/disable"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let disabled_at = Instant::now();
    let window = loop {
        let (status, _) = b.get(&client, &key, "jt_acme").await;
        if status == StatusCode::OK {
            served_acme += 1;
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            break disabled_at.elapsed();
        }
        assert!(
            disabled_at.elapsed() < Duration::from_secs(5),
            "B still serves a key A disabled, long before the safety TTL (60 s) could explain it"
        );
    };
    eprintln!(
        "revocation seen by the other replica after {} ms",
        window.as_millis()
    );
    let (status, _) = b
        .root(
            reqwest::Method::POST,
            &format!("/api/keys/{key_id}/enable"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let enabled_at = Instant::now();
    while a.get(&client, &key, "jt_acme").await.0 != StatusCode::OK {
        assert!(
            enabled_at.elapsed() < Duration::from_secs(5),
            "A never saw B's enable"
        );
    }
    served_acme += 1;

    // A plan change made through A applies on B (limits are per plan).
    set_pro(&a, Some(&b), 10, 1_000_000, 100).await;
    // Per second, across both: a burst right after a second starts, spread
    // over A and B. One fixed window admits 10; if the burst spills into the
    // next second, at most 20 (the documented tolerance). Counted per replica
    // it would be 10 on each, plus refills.
    let (quick, _) = provision(&a, "quick").await;
    sleep_into_next_second().await;
    let burst = (0..60).map(|i| {
        let (r, client, key) = (if i % 2 == 0 { &a } else { &b }, &client, &quick);
        async move { r.get(client, key, "jt_quick").await }
    });
    let started = chrono::Utc::now().timestamp();
    let results = futures::future::join_all(burst).await;
    let one_second = chrono::Utc::now().timestamp() == started;
    let admitted = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    let limited = results.iter().filter(|r| r.1 == "RATE_LIMITED").count();
    eprintln!("per-second burst over two replicas: {admitted} of 60 admitted (limit 10, within one second: {one_second})");
    if one_second {
        // One window: exactly the limit across both (each replica counting
        // only itself would admit 20).
        assert_eq!(admitted, 10);
    } else {
        // The burst spilled into the next second: at most two windows.
        assert!((10..=20).contains(&admitted), "{admitted} admitted");
    }
    assert_eq!(admitted + limited, 60);

    // A larger limit: each replica leases blocks of tokens from Redis (a
    // quarter of what is left), serving from memory between leases; a
    // burst over both still never gets past the limit in one window.
    set_pro(&a, Some(&b), 200, 1_000_000, 1_000).await;
    let (wide, _) = provision(&a, "wide").await;
    sleep_into_next_second().await;
    let burst = (0..600).map(|i| {
        let (r, client, key) = (if i % 2 == 0 { &a } else { &b }, &client, &wide);
        async move { r.get(client, key, "jt_wide").await }
    });
    let started = chrono::Utc::now().timestamp();
    let results = futures::future::join_all(burst).await;
    let windows = (chrono::Utc::now().timestamp() - started + 1) as usize;
    let admitted = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    let limited = results.iter().filter(|r| r.1 == "RATE_LIMITED").count();
    eprintln!(
        "per-second burst of 600 over two replicas, limit 200: {admitted} admitted \
         over {windows} one-second window(s)"
    );
    assert_eq!(admitted + limited, 600);
    // Never past the limit in any window the burst touched; and leases left
    // unused at most a few of the first window's tokens.
    assert!(admitted <= 200 * windows, "{admitted} admitted");
    assert!(admitted >= 150, "{admitted} admitted");
    // A plan change applies at once, though the replicas hold tokens leased
    // under the old one: with the quota lowered to 5 above what was used,
    // at most 5 more are admitted at once, and exactly 5 once the dropped
    // tokens went back to Redis (the sweep, each second).
    set_pro(&a, Some(&b), 200, admitted as i64 + 5, 1_000).await;
    // In the next second (this one's tokens may be spent by the burst).
    sleep_into_next_second().await;
    let mut more = 0;
    for i in 0..12 {
        let r = if i % 2 == 0 { &a } else { &b };
        if r.get(&client, &wide, "jt_wide").await.0 == StatusCode::OK {
            more += 1;
        }
    }
    assert!(more <= 5, "{more} admitted past a lowered quota");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for i in 0..12 {
        let r = if i % 2 == 0 { &a } else { &b };
        if r.get(&client, &wide, "jt_wide").await.0 == StatusCode::OK {
            more += 1;
        }
    }
    assert_eq!(more, 5, "the lowered quota's last 5 requests");
    let (_, health) = a.root(reqwest::Method::GET, "/healthz", None).await;
    let lease_calls = health["limits"]["lease_calls"].as_u64().unwrap_or(0);
    eprintln!("lease calls to Redis on replica A so far: {lease_calls}");
    assert!(lease_calls > 0, "{health}");

    // The monthly quota, across both: exactly the quota is admitted.
    set_pro(&b, Some(&a), 1000, 25, 100).await;
    let (monthly, _) = provision(&b, "monthly").await;
    let mut ok = 0;
    let mut over = 0;
    for i in 0..40 {
        let r = if i % 2 == 0 { &a } else { &b };
        match r.get(&client, &monthly, "jt_monthly").await {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::TOO_MANY_REQUESTS, code) => {
                assert_eq!(code, "MONTHLY_QUOTA_EXCEEDED");
                over += 1
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((ok, over), (25, 15), "the quota holds across replicas");

    // Concurrency across both: two slow writes (one through each replica)
    // hold the 2 places; a third request on either is refused; once they
    // finish, the places are given back.
    set_pro(&a, Some(&b), 1000, 1_000_000, 2).await;
    let (slow_key, _) = provision(&a, "slow").await;
    for r in [&a, &b] {
        assert_eq!(r.get(&client, &slow_key, "jt_slow").await.0, StatusCode::OK);
    }
    let set = |r: &Replica, content: &'static str| {
        let (url, key) = (format!("{}/api/cache/set", r.base), slow_key.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(
                    &json!({"provider": "openai", "model": "gpt-4o", "namespace": "jt_slow",
                              "messages": [{"role": "user", "content": content}], "response": "r"}),
                )
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Warm the entry both replicas will read from memory while writes wait.
    assert!(set(&a, "hello").await.is_success());
    for r in [&a, &b] {
        assert_eq!(r.get(&client, &slow_key, "jt_slow").await.0, StatusCode::OK);
    }
    use sqlx::Connection;
    let mut lock = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE cache_entries IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let slow = [tokio::spawn(set(&a, "x")), tokio::spawn(set(&b, "y"))];
    tokio::time::sleep(Duration::from_millis(400)).await;
    for r in [&a, &b] {
        let (status, code) = r.get(&client, &slow_key, "jt_slow").await;
        assert_eq!(
            (status, code.as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_CONCURRENT_REQUESTS"
            )
        );
    }
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    for t in slow {
        assert!(t.await.unwrap().is_success());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for r in [&a, &b] {
        assert_eq!(
            r.get(&client, &slow_key, "jt_slow").await.0,
            StatusCode::OK,
            "places given back"
        );
    }

    // Usage: every request lands once, whichever replica served it.
    for r in [&a, &b] {
        let (status, _) = r
            .root(reqwest::Method::POST, "/api/usage/flush", None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    for (tenant, sent) in [("acme", served_acme), ("quick", 60), ("monthly", 40)] {
        let (status, usage) = a
            .root(
                reqwest::Method::GET,
                &format!("/api/usage/{tenant}?granularity=day"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{usage}");
        assert_eq!(usage["total"]["requests"], sent, "{tenant}: {usage}");
    }
    // An admin rotates through A; the page that shows the new secret once
    // is served by B (the secret waits sealed in the store, not in A's memory).
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["admin", "add-user", "ops@example.com", "--role", "admin"])
        .env("DATABASE_URL", &url)
        .env("KEYWARD_DATA_DIR", a._dir.path())
        .env("KEYWARD_MASTER_KEY", MASTER_KEY)
        .env("KEYWARD_KEY_HASH_SECRET", PEPPER)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"correct horse battery staple\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = browser
        .post(format!("{}/admin/sign-in", a.base))
        .form(&[
            ("email", "ops@example.com"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session: Value = browser
        .get(format!("{}/admin/session", b.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = session["csrf_token"]
        .as_str()
        .expect("the session is valid on B")
        .to_string();
    let res = browser
        .post(format!("{}/admin/keys/{key_id}/rotate", a.base))
        .header("cookie", &cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("grace_seconds", "3600"),
            ("confirm", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = browser
        .get(format!("{}/admin/cache-keys", b.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "class=\"secret-value\">";
    let start = page.find(marker).expect("B shows the secret A made") + marker.len();
    let secret = &page[start..start + page[start..].find('<').unwrap()];
    assert_eq!(b.get(&client, secret, "jt_acme").await.0, StatusCode::OK);

    // Audit: each change once, from whichever replica made it.
    let (_, trail) = b
        .root(
            reqwest::Method::GET,
            &format!("/api/audit?target={key_id}"),
            None,
        )
        .await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["key.rotate", "key.enable", "key.disable", "key.provision"],
        "{trail}"
    );
}

/// A TCP proxy in front of Redis that the test can cut and restore.
struct Proxy {
    port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            struct AbortAll(Vec<tokio::task::JoinHandle<()>>);
            impl Drop for AbortAll {
                fn drop(&mut self) {
                    for t in &self.0 {
                        t.abort();
                    }
                }
            }
            let mut guard = AbortAll(Vec::new());
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(REDIS).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                guard.0.push(task);
            }
        });
        Self {
            port,
            tasks: vec![accept],
        }
    }

    /// Closes the listener and every connection through it.
    fn cut(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn without_redis_a_replica_serves_on_local_limits_and_recovers() {
    if engine_is_postgres() {
        return; // run once, in the first pass (it brings its own stores)
    }
    let mut proxy = Proxy::start(0).await;
    let port = proxy.port;
    let r = replica(None, Some(&format!("redis://127.0.0.1:{port}")), &[]).await;
    let client = reqwest::Client::new();
    // A monthly quota of 30 shows that what was admitted during the outage
    // still counts once Redis is back.
    set_pro(&r, None, 1000, 30, 100).await;
    let (key, _) = provision(&r, "acme").await;
    assert_eq!(r.get(&client, &key, "jt_acme").await.0, StatusCode::OK);
    assert_eq!(r.health().await["limits"]["mode"], "redis");

    // Redis goes away mid-run: requests keep being served, on local limits.
    proxy.cut();
    for _ in 0..20 {
        assert_eq!(r.get(&client, &key, "jt_acme").await.0, StatusCode::OK);
    }
    let health = r.health().await;
    assert_eq!(health["limits"]["mode"], "local", "{health}");
    assert_eq!(health["limits"]["redis"], "unreachable");
    assert!(health["limits"]["local_decisions"].as_u64().unwrap() > 0);
    let ready: Value = reqwest::get(format!("{}/readyz", r.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["limits"]["mode"], "local");
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(log.contains("Redis unreachable"), "{log}");

    // Redis is back: the health check notices, limits are shared again.
    let _proxy = Proxy::start(port).await;
    let back = Instant::now();
    while r.health().await["limits"]["mode"] != "redis" {
        assert!(back.elapsed() < Duration::from_secs(15), "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 1 before the outage + 20 during it: 9 more fit in the quota of 30.
    let mut after = Vec::new();
    for _ in 0..12 {
        after.push(r.get(&client, &key, "jt_acme").await);
    }
    let ok = after.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(ok, 9, "{after:?}");
    assert!(after[9..].iter().all(|a| a.1 == "MONTHLY_QUOTA_EXCEEDED"));
    let log = std::fs::read_to_string(&r.log).unwrap();
    assert!(log.contains("limits are shared by every replica"), "{log}");
}

#[tokio::test]
async fn without_redis_replicas_share_limits_through_postgresql() {
    if engine_is_postgres() {
        return; // run once, in the first pass (it brings its own stores)
    }
    let db = pg_database().await;
    let url = db.url();
    let env = [("KEYWARD_LIMIT_SYNC_MS", "100")];
    let a = replica(Some(&url), None, &env).await;
    let b = replica(Some(&url), None, &env).await;
    let client = reqwest::Client::new();
    // Both see two live replicas (heartbeats in the store).
    let seen = Instant::now();
    while a.health().await["limits"]["replicas"] != 2 || b.health().await["limits"]["replicas"] != 2
    {
        assert!(
            seen.elapsed() < Duration::from_secs(10),
            "replicas never saw each other"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Monthly quota 25, traffic alternating over A and B in rounds a little
    // slower than the sync: exactly the quota is admitted across both.
    set_pro(&a, Some(&b), 1000, 25, 100).await;
    let (key, _) = provision(&a, "monthly").await;
    let (mut ok, mut over) = (0, 0);
    for round in 0..8 {
        for i in 0..5 {
            let r = if (round + i) % 2 == 0 { &a } else { &b };
            match r.get(&client, &key, "jt_monthly").await {
                (StatusCode::OK, _) => ok += 1,
                (StatusCode::TOO_MANY_REQUESTS, code) => {
                    assert_eq!(code, "MONTHLY_QUOTA_EXCEEDED");
                    over += 1
                }
                other => panic!("{other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("monthly quota 25 over two replicas synced through PostgreSQL: {ok} admitted");
    assert_eq!((ok, over), (25, 15));

    // Per second: each of the two allows half of 10; a burst over both
    // admits about 10 (plus what the per-replica GCRA refills meanwhile).
    set_pro(&b, Some(&a), 10, 1_000_000, 100).await;
    let (quick, _) = provision(&b, "quick").await;
    let burst = (0..60).map(|i| {
        let (r, client, key) = (if i % 2 == 0 { &a } else { &b }, &client, &quick);
        async move { r.get(client, key, "jt_quick").await }
    });
    let results = futures::future::join_all(burst).await;
    let admitted = results.iter().filter(|r| r.0 == StatusCode::OK).count();
    eprintln!("per-second burst over two replicas (PostgreSQL shares): {admitted} of 60 admitted (limit 10)");
    assert!((8..=14).contains(&admitted), "{admitted} admitted");

    // One replica leaves: the other takes the whole limit again.
    drop(b);
    let gone = Instant::now();
    while a.health().await["limits"]["replicas"] != 1 {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "the stopped replica was never forgotten"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_change_whose_notice_is_lost_is_seen_within_the_safety_ttl() {
    if engine_is_postgres() {
        return; // run once, in the first pass (it brings its own stores)
    }
    let db = pg_database().await;
    let url = db.url();
    let r = replica(Some(&url), None, &[("KEYWARD_CHANGE_TTL_SECS", "2")]).await;
    let client = reqwest::Client::new();
    let (key, key_id) = provision(&r, "acme").await;
    assert_eq!(r.get(&client, &key, "jt_acme").await.0, StatusCode::OK);
    // A change that sends no notice (made in the database behind keyward's
    // back, as if the notice were lost).
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE api_keys SET status = 'disabled' WHERE id = $1")
        .bind(&key_id)
        .execute(&mut conn)
        .await
        .unwrap();
    let changed = Instant::now();
    loop {
        let (status, _) = r.get(&client, &key, "jt_acme").await;
        if status != StatusCode::OK {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(6),
            "still served well past the 2 s safety TTL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "a change without a notice was enforced after {} ms (TTL 2 s)",
        changed.elapsed().as_millis()
    );
}

/// A keyward process configured as every replica of the deployment is
/// (database, root token, pepper, master key), with its own data directory.
fn deployed_keyward(database_url: &str, data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.env("DATABASE_URL", database_url)
        .env("KEYWARD_DATA_DIR", data_dir)
        .env("KEYWARD_ROOT_TOKEN", ROOT_TOKEN)
        .env("KEYWARD_KEY_HASH_SECRET", PEPPER)
        .env("KEYWARD_MASTER_KEY", MASTER_KEY);
    cmd
}

/// Stores `tenant`'s managed OpenAI key through replica `r`.
async fn put_managed_openai(r: &Replica, tenant: &str) {
    let body = json!({"service": "openai", "kind": "managed", "tenant_id": tenant,
                      "value": format!("managed-key-of-{tenant}"), "validate": false});
    let (status, body) = r
        .root(reqwest::Method::PUT, "/api/secrets", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Replica `r` reads each tenant's managed OpenAI key back.
async fn reads_all(r: &Replica, tenants: &[&str]) {
    for tenant in tenants {
        let (status, got) = managed_openai(r, tenant).await;
        assert_eq!(status, StatusCode::OK, "{tenant}: {got}");
        assert_eq!(got["key"], format!("managed-key-of-{tenant}"));
    }
}

/// The provider secret `tenant`'s managed OpenAI key, as replica `r` reads it.
async fn managed_openai(r: &Replica, tenant: &str) -> (StatusCode, Value) {
    r.root(
        reqwest::Method::POST,
        &format!("/api/keys/openai/{tenant}"),
        Some(json!({})),
    )
    .await
}

#[tokio::test]
async fn a_master_key_rotation_by_configuration_never_leaves_a_replica_unable_to_read() {
    if engine_is_postgres() {
        return; // these tests make their own PostgreSQL databases: run once, in the first pass
    }
    const V2: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
    let db = pg_database().await;
    let url = db.url();
    let v1_only = format!("1:{MASTER_KEY}");
    let both = format!("1:{MASTER_KEY},2:{V2}");
    let old = [("KEYWARD_MASTER_KEYS", v1_only.as_str())];
    let added = [
        ("KEYWARD_MASTER_KEYS", both.as_str()),
        ("KEYWARD_MASTER_KEY_ACTIVE", "1"),
    ];
    let active = [
        ("KEYWARD_MASTER_KEYS", both.as_str()),
        ("KEYWARD_MASTER_KEY_ACTIVE", "2"),
    ];
    let mut a = replica(Some(&url), None, &old).await;
    let mut b = replica(Some(&url), None, &old).await;
    for tenant in ["one", "two", "three"] {
        let (status, body) = a
            .root(
                reqwest::Method::POST,
                "/api/provision",
                Some(json!({"user_id": tenant, "integration": "files", "project_id": "jt"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    put_managed_openai(&a, "one").await;

    // Step 1, replica by replica: version 2 added, version 1 still sealing.
    drop(a);
    a = replica(Some(&url), None, &added).await;
    put_managed_openai(&a, "two").await;
    reads_all(&b, &["one", "two"]).await;
    drop(b);
    b = replica(Some(&url), None, &added).await;

    // Step 2, replica by replica: version 2 seals; every replica opens it.
    drop(a);
    a = replica(Some(&url), None, &active).await;
    put_managed_openai(&a, "three").await;
    reads_all(&b, &["one", "two", "three"]).await;
    drop(b);
    b = replica(Some(&url), None, &active).await;

    // Step 3, once: re-seal everything under version 2 (a third process).
    let dir = tempfile::tempdir().unwrap();
    let out = deployed_keyward(&url, dir.path())
        .args(["vault", "reseal", "--json"])
        .envs(active)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resealed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resealed["version"], 2);
    for r in [&a, &b] {
        reads_all(r, &["one", "two", "three"]).await;
    }

    // A replica that was left behind with version 1 alone refuses to start,
    // naming the variable, instead of answering 409 on every read.
    let dir = tempfile::tempdir().unwrap();
    let out = deployed_keyward(&url, dir.path())
        .arg("serve")
        .env("KEYWARD_ADDR", format!("127.0.0.1:{}", free_port()))
        .envs(old)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KEYWARD_MASTER_KEY"), "{err}");
}

/// An operator token made on one replica works on the other, and its
/// revocation there holds on the very next request here; so do turning the
/// root token off, and a key's patch or revocation.
#[tokio::test]
async fn operator_tokens_and_the_root_switch_hold_on_every_replica_at_once() {
    if engine_is_postgres() {
        return; // makes its own PostgreSQL database: run once, in the first pass
    }
    let db = pg_database().await;
    let url = db.url();
    let a = replica(Some(&url), None, &[]).await;
    let b = replica(Some(&url), None, &[]).await;
    let client = reqwest::Client::new();
    let keys = |replica: &Replica, token: &str| {
        client
            .get(format!("{}/api/keys", replica.base))
            .bearer_auth(token.to_string())
            .send()
    };
    let (status, made) = a
        .root(
            reqwest::Method::POST,
            "/api/tokens",
            Some(json!({"name": "ops", "permissions": ["keys:read", "tokens:write"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = s(&made["token"]).to_string();
    assert_eq!(keys(&b, &token).await.unwrap().status(), StatusCode::OK);

    // A key patched or revoked through A: B obeys on its next request,
    // though it serves the key from memory.
    let (key, key_id) = provision(&a, "acme").await;
    assert_eq!(b.get(&client, &key, "jt_acme").await.0, StatusCode::OK);
    let (status, _) = a
        .root(
            reqwest::Method::PATCH,
            &format!("/api/keys/{key_id}"),
            Some(json!({"scopes": ["jt_other"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        b.get(&client, &key, "jt_acme").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = a
        .root(
            reqwest::Method::DELETE,
            &format!("/api/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, code) = b.get(&client, &key, "jt_other").await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "KEY_REVOKED")
    );

    // The root token off on A: B refuses it on its next request.
    let (status, _) = b.root(reqwest::Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    let off = client
        .put(format!("{}/api/root-token", a.base))
        .bearer_auth(&token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    let (status, body) = b.root(reqwest::Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "ROOT_TOKEN_DISABLED");

    // Revoked through B: A refuses it on its next request.
    let id = s(&made["id"]).to_string();
    let revoked = client
        .delete(format!("{}/api/tokens/{id}", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let refused = keys(&a, &token).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TOKEN_REVOKED");
}

/// Namespaces of bob and carol and a pooled key over both, carrying an
/// overall monthly quota of `quota`, made through `r`.
async fn pooled_with_overall_quota(r: &Replica, quota: i64) -> String {
    for (ns, tenant) in [("jt_customer_bob", "bob"), ("jt_customer_carol", "carol")] {
        let (status, body) = r
            .root(
                reqwest::Method::POST,
                "/api/namespaces",
                Some(json!({"name": ns, "user_id": tenant, "tier": "pro"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = r
        .root(
            reqwest::Method::POST,
            "/api/provision",
            Some(
                json!({"user_id": "jt-platform", "integration": "files", "project_id": "jt",
                "tier": "enterprise", "scopes": ["jt_customer_*"],
                "overall_requests_per_month": quota}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s(&body["api_key"]).to_string()
}

#[tokio::test]
async fn a_pooled_keys_overall_quota_holds_across_replicas_in_redis_and_postgresql() {
    if engine_is_postgres() {
        return; // run once, in the first pass (it brings its own stores)
    }
    let client = reqwest::Client::new();
    // Shared in Redis: every decision is global at once.
    let db = pg_database().await;
    let url = db.url();
    let redis = format!("redis://{REDIS}");
    let a = replica(Some(&url), Some(&redis), &[]).await;
    let b = replica(Some(&url), Some(&redis), &[]).await;
    let key = pooled_with_overall_quota(&a, 5).await;
    let mut answers = Vec::new();
    for i in 0..8 {
        let r = if i % 2 == 0 { &a } else { &b };
        let ns = if i % 3 == 0 {
            "jt_customer_carol"
        } else {
            "jt_customer_bob"
        };
        answers.push(r.get(&client, &key, ns).await);
    }
    let ok = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(ok, 5, "{answers:?}");
    assert!(
        answers[5..]
            .iter()
            .all(|a| a.1 == "KEY_MONTHLY_QUOTA_EXCEEDED"),
        "{answers:?}"
    );
    drop((a, b));

    // Synced through PostgreSQL: global within one sync interval.
    let db = pg_database().await;
    let url = db.url();
    let env = [("KEYWARD_LIMIT_SYNC_MS", "100")];
    let a = replica(Some(&url), None, &env).await;
    let b = replica(Some(&url), None, &env).await;
    let key = pooled_with_overall_quota(&a, 6).await;
    let (mut ok, mut over) = (0, 0);
    for round in 0..5 {
        for i in 0..2 {
            let r = if i == 0 { &a } else { &b };
            let ns = if round % 2 == 0 {
                "jt_customer_bob"
            } else {
                "jt_customer_carol"
            };
            match r.get(&client, &key, ns).await {
                (StatusCode::OK, _) => ok += 1,
                (StatusCode::TOO_MANY_REQUESTS, code) => {
                    assert_eq!(code, "KEY_MONTHLY_QUOTA_EXCEEDED");
                    over += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    assert_eq!((ok, over), (6, 4));
}

/// The runs of job `name` as replica `r` lists them, oldest first.
async fn job_runs(r: &Replica, name: &str) -> Vec<Value> {
    let (status, body) = r
        .root(
            reqwest::Method::GET,
            &format!("/api/jobs/{name}/runs?limit=500"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut runs = body["runs"].as_array().cloned().unwrap_or_default();
    runs.reverse();
    runs
}

#[tokio::test]
async fn with_two_replicas_each_job_occurrence_runs_once() {
    if engine_is_postgres() {
        return; // these tests make their own PostgreSQL databases: run once, in the first pass
    }
    let db = pg_database().await;
    let url = db.url();
    let env = [
        ("KEYWARD_SCHEDULER_TICK_MS", "50"),
        ("KEYWARD_JOB_LEASE_SECS", "5"),
    ];
    let a = replica(Some(&url), None, &env).await;
    let b = replica(Some(&url), None, &env).await;
    let (status, body) = a
        .root(
            reqwest::Method::PUT,
            "/api/jobs/sweep",
            Some(json!({"task": "check_budgets", "schedule": "* * * * * *"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let runs = job_runs(&b, "sweep").await;
    assert!(runs.len() >= 4, "about one run a second: {runs:?}");
    let mut occurrences: Vec<&str> = runs.iter().map(|r| s(&r["occurrence"])).collect();
    occurrences.sort();
    occurrences.dedup();
    assert_eq!(
        occurrences.len(),
        runs.len(),
        "an occurrence ran twice: {runs:?}"
    );
    assert!(runs
        .iter()
        .all(|r| r["attempt"] == 1 && r["trigger"] == "schedule"));
    let replicas: std::collections::HashSet<&str> = runs.iter().map(|r| s(&r["replica"])).collect();
    let names = [
        a.health().await["replica"].clone(),
        b.health().await["replica"].clone(),
    ];
    assert!(
        replicas.iter().all(|r| names.iter().any(|n| n == r)),
        "{replicas:?}"
    );
}

#[tokio::test]
async fn a_job_whose_replica_is_killed_mid_run_is_taken_over() {
    if engine_is_postgres() {
        return; // these tests make their own PostgreSQL databases: run once, in the first pass
    }
    let db = pg_database().await;
    let url = db.url();
    let openai = format!("{}/openai", crate::providers_stub::base_url());
    // Each check of a `slow` key takes 3 s at the provider stand-in.
    let env = [
        ("KEYWARD_SCHEDULER_TICK_MS", "100"),
        ("KEYWARD_JOB_LEASE_SECS", "2"),
        ("KEYWARD_PROVIDER_OPENAI_URL", openai.as_str()),
    ];
    let a = replica(Some(&url), None, &env).await;
    let b = replica(Some(&url), None, &env).await;
    for tenant in ["t1", "t2"] {
        provision(&a, tenant).await;
        let (status, body) = a
            .root(
                reqwest::Method::PUT,
                "/api/secrets",
                Some(
                    json!({"service": "openai", "kind": "customer", "tenant_id": tenant,
                            "value": format!("slow-key-of-{tenant}"), "validate": false}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = a
        .root(
            reqwest::Method::PUT,
            "/api/jobs/validate-provider-keys",
            Some(json!({"schedule": "*/2 * * * * *"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Wait until one replica holds the job, then kill that one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        let (_, job) = b
            .root(
                reqwest::Method::GET,
                "/api/jobs/validate-provider-keys",
                None,
            )
            .await;
        if let Some(h) = job["running_on"].as_str() {
            break h.to_string();
        }
        assert!(Instant::now() < deadline, "the job never started: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let a_name = a.health().await["replica"].as_str().unwrap().to_string();
    let (killed, survivor) = if holder == a_name { (a, b) } else { (b, a) };
    let first = job_runs(&survivor, "validate-provider-keys").await;
    let occurrence = s(&first.last().unwrap()["occurrence"]).to_string();
    drop(killed); // SIGKILL: no lease given back, the run stays "running"

    // The survivor takes the same occurrence over once the lease lapses.
    let deadline = Instant::now() + Duration::from_secs(30);
    let runs = loop {
        let runs: Vec<Value> = job_runs(&survivor, "validate-provider-keys")
            .await
            .into_iter()
            .filter(|r| r["occurrence"] == occurrence.as_str())
            .collect();
        if runs.iter().any(|r| r["outcome"] == "succeeded") {
            break runs;
        }
        assert!(Instant::now() < deadline, "never taken over: {runs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(
        (runs[0]["attempt"].as_i64(), s(&runs[0]["outcome"])),
        (Some(1), "abandoned")
    );
    assert_eq!(s(&runs[0]["replica"]), holder);
    assert_eq!(
        (runs[1]["attempt"].as_i64(), s(&runs[1]["outcome"])),
        (Some(2), "succeeded")
    );
    assert_eq!(runs[1]["replica"], survivor.health().await["replica"]);
    assert_eq!(runs[1]["summary"]["valid"], 2, "{runs:?}");
}
