//! keyward runs itself: the job scheduler (cron in the store, leases, runs
//! recorded, missed occurrences run once), webhooks signed per Standard
//! Webhooks and verified by the `standardwebhooks` library from PyPI,
//! retried and replayed, every event type, budgets with a hard cap, cost
//! anomalies, and `/metrics` checked by `promtool check metrics`.

use crate::costs::{event, ingest};
use crate::helpers::{s, spawn_app_in_with, spawn_app_with, TestApp, ROOT_TOKEN};
use crate::receiver::{verify_with_standardwebhooks, Received, Receiver};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Registers an endpoint for `events` at `receiver`; its signing secret.
async fn endpoint(app: &TestApp, receiver: &Receiver, events: Value) -> (String, String) {
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/webhooks",
            Some(json!({"url": receiver.url, "events": events, "description": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = s(&body["secret"]).to_string();
    assert!(secret.starts_with("whsec_"), "{body}");
    (s(&body["id"]).to_string(), secret)
}

/// Every delivery verifies with the standardwebhooks library; their payloads.
fn verified(secret: &str, got: &[Received]) -> Vec<Value> {
    let results = verify_with_standardwebhooks(secret, got);
    assert_eq!(results.len(), got.len());
    results
        .into_iter()
        .map(|r| {
            assert_eq!(r["ok"], true, "standardwebhooks refused a delivery: {r}");
            r["payload"].clone()
        })
        .collect()
}

async fn run_job(app: &TestApp, name: &str) -> Value {
    let (status, run) = app
        .root_json(Method::POST, &format!("/api/jobs/{name}/run"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    run
}

async fn set_job(app: &TestApp, name: &str, body: Value) -> Value {
    let (status, job) = app
        .root_json(Method::PUT, &format!("/api/jobs/{name}"), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{job}");
    job
}

#[tokio::test]
async fn jobs_are_seeded_edited_checked_and_run_on_demand() {
    let app = spawn_app_with(&[]).await;
    let (status, list) = app.root_json(Method::GET, "/api/jobs", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| s(&j["name"]))
        .collect();
    for seeded in [
        "generate-invoices",
        "push-invoices",
        "validate-provider-keys",
        "rotate-keys",
        "key-expiry",
        "retention",
        "check-anomalies",
        "check-budgets",
    ] {
        assert!(names.contains(&seeded), "{seeded} missing from {names:?}");
    }

    // The staging example: weekly, Monday 3 AM UTC.
    let job = set_job(
        &app,
        "generate-invoices",
        json!({"schedule": "0 3 * * MON"}),
    )
    .await;
    let next: chrono::DateTime<Utc> = s(&job["next_run_at"]).parse().unwrap();
    use chrono::{Datelike, Timelike};
    assert_eq!(
        (next.weekday(), next.hour(), next.minute()),
        (chrono::Weekday::Mon, 3, 0)
    );
    assert!(next > Utc::now() && next <= Utc::now() + Duration::days(7));
    assert_eq!(job["task"], "generate_invoices");

    for (body, field) in [
        (json!({"schedule": "every day"}), "schedule"),
        (json!({"schedule": "0 0 31 2 *"}), "schedule"),
        (json!({"task": "make_coffee"}), "task"),
        (json!({"params": {"period": "last week"}}), "params"),
        (json!({"params": [1]}), "params"),
    ] {
        let (status, err) = app
            .root_json(
                Method::PUT,
                "/api/jobs/generate-invoices",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    let (status, err) = app
        .root_json(
            Method::PUT,
            "/api/jobs/new-one",
            Some(json!({"schedule": "* * * * *"})),
        )
        .await;
    assert_eq!(
        (status, s(&err["error"]["field"])),
        (StatusCode::UNPROCESSABLE_ENTITY, "task")
    );
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/jobs/Bad_Name",
            Some(json!({"task": "retention", "schedule": "* * * * *"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .root_json(Method::POST, "/api/jobs/nope/run", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A run now: November's invoices from November's usage.
    app.provision_tenant("acme").await;
    let (st, _) = ingest(
        &app,
        &json!([event(
            "j1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 2_000_000}),
            "2026-11-10T10:00:00Z"
        )]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    set_job(
        &app,
        "generate-invoices",
        json!({"params": {"period": "2026-11"}}),
    )
    .await;
    let run = run_job(&app, "generate-invoices").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["summary"]["period"], "2026-11");
    assert_eq!(
        run["summary"]["invoices"].as_array().unwrap().len(),
        1,
        "{run}"
    );
    let (_, invoices) = app
        .root_json(Method::GET, "/api/invoices?period=2026-11", None)
        .await;
    assert_eq!(invoices.as_array().map(Vec::len), Some(1), "{invoices}");

    let (_, runs) = app
        .root_json(Method::GET, "/api/jobs/generate-invoices/runs", None)
        .await;
    assert_eq!(runs["runs"][0]["id"], run["id"]);
    let (_, job) = app
        .root_json(Method::GET, "/api/jobs/generate-invoices", None)
        .await;
    assert_eq!(job["last_run"]["id"], run["id"]);
    // A manual run leaves the schedule alone.
    assert_eq!(
        s(&job["next_run_at"])
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        next
    );

    let (_, audit) = app
        .root_json(Method::GET, "/api/audit?action=job.run", None)
        .await;
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(1),
        "{audit}"
    );
    let (status, _) = app
        .root_json(Method::DELETE, "/api/jobs/generate-invoices", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .root_json(Method::GET, "/api/jobs/generate-invoices", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Runs of `job` whose occurrence lies in `[from, to)`.
fn runs_between(
    runs: &Value,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> Vec<Value> {
    runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let at: chrono::DateTime<Utc> = s(&r["occurrence"]).parse().unwrap();
            at >= from && at < to
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn occurrences_missed_while_down_run_once_after_a_restart() {
    let on = [
        ("KEYWARD_SCHEDULER", "on"),
        ("KEYWARD_SCHEDULER_TICK_MS", "100"),
    ];
    let app = spawn_app_with(&on).await;
    set_job(
        &app,
        "sweep",
        json!({"task": "check_budgets", "schedule": "*/2 * * * * *"}),
    )
    .await;
    // Let it run a few times, then stop for several occurrences.
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let store = app.stop().await;
    let down_from = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(7000)).await;
    let app = spawn_app_in_with(store, &on).await;
    let up_at = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, runs) = app
        .root_json(Method::GET, "/api/jobs/sweep/runs?limit=100", None)
        .await;
    let missed = runs_between(&runs, down_from, up_at);
    assert_eq!(
        missed.len(),
        1,
        "three occurrences fell while down; exactly one ran: {missed:?}"
    );
    assert_eq!(missed[0]["outcome"], "succeeded");
    // Ran after the restart, and the schedule moved past now.
    let started: chrono::DateTime<Utc> = s(&missed[0]["started_at"]).parse().unwrap();
    assert!(started >= up_at - Duration::milliseconds(50));
    let (_, job) = app.root_json(Method::GET, "/api/jobs/sweep", None).await;
    let next: chrono::DateTime<Utc> = s(&job["next_run_at"]).parse().unwrap();
    assert!(next > up_at, "{job}");
    // Before the stop it ran on schedule, once per occurrence.
    let before = runs_between(&runs, down_from - Duration::seconds(10), down_from);
    assert!(before.len() >= 2, "{before:?}");
    let mut occurrences: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["occurrence"]))
        .collect();
    let n = occurrences.len();
    occurrences.sort();
    occurrences.dedup();
    assert_eq!(occurrences.len(), n, "an occurrence ran twice: {runs}");
}

#[tokio::test]
async fn a_schedule_edited_while_its_job_runs_keeps_the_edits_next_occurrence() {
    let app = spawn_app_with(&[
        ("KEYWARD_SCHEDULER", "on"),
        ("KEYWARD_SCHEDULER_TICK_MS", "100"),
    ])
    .await;
    // A key starting `slow` takes 3 s to check at the provider stand-in.
    app.provision_tenant("t1").await;
    let (status, body) = app
        .root_json(
            Method::PUT,
            "/api/secrets",
            Some(
                json!({"service": "openai", "kind": "customer", "tenant_id": "t1",
                        "value": "slow-key-of-t1", "validate": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    set_job(
        &app,
        "validate-provider-keys",
        json!({"schedule": "*/2 * * * * *"}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, job) = app
            .root_json(Method::GET, "/api/jobs/validate-provider-keys", None)
            .await;
        if job["running_on"].is_string() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ran: {job}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Mid-run, the schedule moves to once a year.
    let edited = set_job(
        &app,
        "validate-provider-keys",
        json!({"schedule": "0 0 1 1 *"}),
    )
    .await;
    let yearly = s(&edited["next_run_at"]).to_string();
    assert!(yearly.ends_with("-01-01T00:00:00Z"), "{edited}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let job = loop {
        let (_, job) = app
            .root_json(Method::GET, "/api/jobs/validate-provider-keys", None)
            .await;
        if job["running_on"].is_null() && job["last_run"]["outcome"] == "succeeded" {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never finished: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // The run that ended did not put the old schedule's next occurrence back.
    assert_eq!(s(&job["next_run_at"]), yearly, "{job}");
    assert_eq!(job["schedule"], "0 0 1 1 *");
}

#[tokio::test]
async fn an_endpoint_that_never_answers_holds_up_only_its_own_deliveries() {
    let app = spawn_app_with(&[("KEYWARD_WEBHOOK_TIMEOUT_MS", "8000")]).await;
    let stuck = Receiver::hanging().await;
    let quick = Receiver::start(&[]).await;
    let (stuck_id, _) = endpoint(&app, &stuck, json!(["*"])).await;
    let (quick_id, _) = endpoint(&app, &quick, json!(["*"])).await;
    let (_, held) = app
        .root_json(
            Method::POST,
            &format!("/api/webhooks/{stuck_id}/test"),
            None,
        )
        .await;
    stuck.wait_for("webhook.test", 1).await;
    // The stuck endpoint now holds its connection open for 8 s.
    app.root_json(
        Method::POST,
        &format!("/api/webhooks/{quick_id}/test"),
        None,
    )
    .await;
    quick.wait_for("webhook.test", 1).await;
    let (_, detail) = app
        .root_json(
            Method::GET,
            &format!("/api/webhooks/deliveries/{}", s(&held["id"])),
            None,
        )
        .await;
    assert_eq!(
        detail["delivery"]["attempts"], 0,
        "the quick endpoint waited for the stuck one's attempt to end: {detail}"
    );
}

#[tokio::test]
async fn webhooks_go_only_to_public_addresses_unless_configured() {
    let public = [("KEYWARD_WEBHOOK_TARGETS", "public")];
    let app = spawn_app_with(&public).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://172.20.0.1/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://localhost:3000/hook",
        "http://LocalHost./hook",
        "http://admin.localhost/hook",
    ] {
        let (status, body) = app
            .root_json(
                Method::POST,
                "/api/webhooks",
                Some(json!({"url": url, "events": ["*"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{url}: {body}");
        assert!(
            s(&body["error"]["message"]).contains("public address"),
            "{url}: {body}"
        );
    }
    // A public name is accepted (it is resolved, and checked, when sent).
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/webhooks",
            Some(json!({"url": "https://hooks.example.com/k", "events": ["*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let store = app.stop().await;

    // An endpoint registered while internal targets were allowed...
    let receiver = Receiver::start(&[]).await;
    let app = spawn_app_in_with(store, &[("KEYWARD_WEBHOOK_TARGETS", "any")]).await;
    let (id, _) = endpoint(&app, &receiver, json!(["webhook.test"])).await;
    let store = app.stop().await;
    // ...is not called once they are not: the attempt fails, logged why.
    let app = spawn_app_in_with(store, &public).await;
    let (status, d) = app
        .root_json(Method::POST, &format!("/api/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{d}");
    let path = format!("/api/webhooks/deliveries/{}", s(&d["id"]));
    let mut attempts = Value::Null;
    for _ in 0..100 {
        let (_, got) = app.root_json(Method::GET, &path, None).await;
        if got["attempts"].as_array().is_some_and(|a| !a.is_empty()) {
            attempts = got["attempts"].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        s(&attempts[0]["error"]).contains("public address"),
        "{attempts}"
    );
    assert!(attempts[0]["status_code"].is_null(), "{attempts}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn concurrent_replays_all_succeed_while_deliveries_are_written() {
    // Each replay reads, then writes; on SQLite a transaction that starts
    // by reading fails with "database is locked" when another write lands
    // in between, unless it takes the write lock first.
    let app = spawn_app_with(&[]).await;
    let receiver = Receiver::start(&[]).await;
    let (id, _) = endpoint(&app, &receiver, json!(["*"])).await;
    let (_, delivery) = app
        .root_json(Method::POST, &format!("/api/webhooks/{id}/test"), None)
        .await;
    let path = format!("/api/webhooks/deliveries/{}/replay", s(&delivery["id"]));
    let replays = (0..24).map(|_| app.root_json(Method::POST, &path, None));
    let answers = futures::future::join_all(replays).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::ACCEPTED, "{body}");
    }
}

#[tokio::test]
async fn deliveries_are_signed_verified_by_standardwebhooks_retried_and_replayed() {
    let app = spawn_app_with(&[]).await;
    // The endpoint fails twice (500, 503), then accepts.
    let receiver = Receiver::start(&[500, 503]).await;
    let (id, secret) = endpoint(&app, &receiver, json!(["webhook.test", "key.rotated"])).await;
    let (status, d) = app
        .root_json(Method::POST, &format!("/api/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{d}");
    let got = receiver.wait_for("webhook.test", 3).await;
    // The same message each time (one webhook-id), each attempt signed anew.
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == s(&d["message_id"])), "{ids:?}");
    let payloads = verified(&secret, &got);
    assert_eq!(payloads[0]["type"], "webhook.test");
    assert_eq!(payloads[0]["data"]["endpoint_id"], id.as_str());

    // A wrong secret is refused by the library (the check can fail).
    let wrong = format!("whsec_{}", base64_of(&[7u8; 32]));
    let refused = verify_with_standardwebhooks(&wrong, &got[..1]);
    assert_eq!(refused[0]["ok"], false, "{refused:?}");

    // The log: delivered on the third attempt, each answer kept.
    let delivery = s(&d["id"]).to_string();
    let detail = wait_delivery(&app, &delivery, "delivered").await;
    let attempts = detail["attempts"].as_array().unwrap();
    let codes: Vec<i64> = attempts
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 503, 200], "{detail}");
    assert!(s(&attempts[2]["response"]).contains("received"));
    // Backoff: the retries were spaced out (200 ms, then 6 x 200 ms).
    let at = |i: usize| {
        s(&attempts[i]["attempted_at"])
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };
    assert!(at(1) - at(0) >= Duration::milliseconds(190), "{detail}");
    assert!(at(2) - at(1) >= Duration::milliseconds(1190), "{detail}");

    // Replay from the log: delivered again, same webhook-id, verifiable.
    let (status, replayed) = app
        .root_json(
            Method::POST,
            &format!("/api/webhooks/deliveries/{delivery}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    let got = receiver.wait_for("webhook.test", 4).await;
    assert_eq!(got[3].header("webhook-id"), got[0].header("webhook-id"));
    verified(&secret, &got[3..]);
    let detail = wait_delivery(&app, &delivery, "delivered").await;
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 4);
    let (_, audit) = app
        .root_json(Method::GET, "/api/audit?action=webhook.replay", None)
        .await;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1));

    // An endpoint that never answers well is given up after the attempts
    // allowed; it stays in the log, replayable.
    let app2 = spawn_app_with(&[
        ("KEYWARD_WEBHOOK_MAX_ATTEMPTS", "2"),
        ("KEYWARD_WEBHOOK_RETRY_BASE_MS", "50"),
    ])
    .await;
    let dead = Receiver::start(&[500, 500, 500]).await;
    let (id2, _) = endpoint(&app2, &dead, json!(["*"])).await;
    let (_, d2) = app2
        .root_json(Method::POST, &format!("/api/webhooks/{id2}/test"), None)
        .await;
    let detail = wait_delivery(&app2, s(&d2["id"]), "failed").await;
    assert_eq!(detail["delivery"]["attempts"], 2);
    let (_, failed) = app2
        .root_json(Method::GET, "/api/webhooks/deliveries?status=failed", None)
        .await;
    assert_eq!(failed["deliveries"].as_array().map(Vec::len), Some(1));

    // Bad registrations are refused with the field.
    for (body, field) in [
        (json!({"url": "ftp://x.example/h", "events": ["*"]}), "url"),
        (json!({"url": "not a url", "events": ["*"]}), "url"),
        (
            json!({"url": "https://u:p@x.example/h", "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "https://x.example/h", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://x.example/h", "events": ["key.nope"]}),
            "events",
        ),
    ] {
        let (status, err) = app
            .root_json(Method::POST, "/api/webhooks", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field, "{body} -> {err}");
    }
    // The secret is never shown again.
    let (_, list) = app.root_json(Method::GET, "/api/webhooks", None).await;
    assert!(!list.to_string().contains(&secret));
    assert!(!list.to_string().contains("whsec_"));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn wait_delivery(app: &TestApp, id: &str, status: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, detail) = app
            .root_json(Method::GET, &format!("/api/webhooks/deliveries/{id}"), None)
            .await;
        assert_eq!(code, StatusCode::OK, "{detail}");
        if detail["delivery"]["status"] == status {
            return detail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {status}: {detail}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Opens a `sealed_secret` as a platform would (README: HMAC-SHA256 of the
/// signing secret's bytes under "keyward-sealed-secret-v1" is the
/// AES-256-GCM key; the webhook-id is the associated data).
fn open_sealed(secret: &str, message_id: &str, sealed: &Value) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Key, Nonce};
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&raw).unwrap();
    mac.update(b"keyward-sealed-secret-v1");
    let key = mac.finalize().into_bytes();
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
    let nonce = b64.decode(s(&sealed["nonce"])).unwrap();
    let ciphertext = b64.decode(s(&sealed["ciphertext"])).unwrap();
    let plain = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: message_id.as_bytes(),
            },
        )
        .expect("the sealed secret opens with the endpoint's secret");
    String::from_utf8(plain).unwrap()
}

#[tokio::test]
async fn every_event_type_is_delivered_signed_and_verified() {
    let app = spawn_app_with(&[]).await;
    let receiver = Receiver::start(&[]).await;
    let (_, secret) = endpoint(&app, &receiver, json!(["*"])).await;
    // A tenant's own endpoint hears only that tenant.
    let beta_receiver = Receiver::start(&[]).await;
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/webhooks",
            Some(json!({"url": beta_receiver.url, "events": ["*"], "tenant_id": "beta"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no tenant beta yet: {body}");

    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    let key_id = s(&acme["key_id"]).to_string();
    app.provision_tenant("beta").await;
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/webhooks",
            Some(json!({"url": beta_receiver.url, "events": ["*"], "tenant_id": "beta"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // key.rotated (by hand) and key.disabled.
    app.rotate(&key_id, json!({"grace_seconds": 60})).await;
    let second = app
        .provision(
            json!({"user_id": "acme", "integration": "files", "project_id": "jt2", "tier": "pro"}),
        )
        .await;
    let (st, _) = app
        .root_json(
            Method::POST,
            &format!("/api/keys/{}/disable", s(&second["key_id"])),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);

    // key.secret_rotated: a policy due (rotating up to a day early).
    let (st, b) = app
        .root_json(
            Method::PUT,
            &format!("/api/keys/{key_id}/rotation-policy"),
            Some(json!({"rotate_every_days": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    set_job(
        &app,
        "rotate-keys",
        json!({"params": {"ahead_days": 1, "grace_seconds": 3600}}),
    )
    .await;
    let run = run_job(&app, "rotate-keys").await;
    assert_eq!(run["summary"]["rotated"], json!([key_id]), "{run}");

    // key.expiring: a key expiring in three days.
    let third = app
        .provision(
            json!({"user_id": "acme", "integration": "files", "project_id": "jt3", "tier": "pro"}),
        )
        .await;
    let expires = (Utc::now() + Duration::days(3)).to_rfc3339();
    let (st, b) = app
        .root_json(
            Method::PATCH,
            &format!("/api/keys/{}", s(&third["key_id"])),
            Some(json!({"expires_at": expires})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let run = run_job(&app, "key-expiry").await;
    assert_eq!(
        run["summary"]["warned"].as_array().map(Vec::len),
        Some(1),
        "{run}"
    );
    // Warned once, however often the job runs.
    let run = run_job(&app, "key-expiry").await;
    assert_eq!(
        run["summary"]["warned"].as_array().map(Vec::len),
        Some(0),
        "{run}"
    );

    // quota.warning at 80% and quota.reached at 100% (a monthly quota of 5);
    // then limit.storm: 100 refusals of a per-second limit.
    let fresh = app
        .provision(
            json!({"user_id": "gamma", "integration": "files", "project_id": "jt", "tier": "free"}),
        )
        .await;
    app.set_plan("free", 5, 1000, 50, 1_048_576).await;
    let gamma_key = s(&fresh["api_key"]).to_string();
    for i in 0..6 {
        app.cache_get(&gamma_key, "jt_gamma", &format!("q{i}"))
            .await;
    }
    app.set_plan("free", 1_000_000, 1, 50, 1_048_576).await;
    let mut refused = 0;
    for i in 0..150 {
        if app
            .cache_get(&gamma_key, "jt_gamma", &format!("s{i}"))
            .await
            .status
            == StatusCode::TOO_MANY_REQUESTS
        {
            refused += 1;
        }
    }
    assert!(refused >= 100, "{refused}");

    // provider_key.validation_failed and provider_key.healed.
    for body in [
        json!({"service": "hume", "kind": "admin", "value": "valid-platform-admin"}),
        json!({"service": "hume", "kind": "managed", "tenant_id": "acme", "value": "revoked-at-provider", "validate": false}),
        json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "revoked-at-provider", "validate": false}),
    ] {
        let (st, b) = app.root_json(Method::PUT, "/api/secrets", Some(body)).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let run = run_job(&app, "validate-provider-keys").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["summary"]["healed"], 1, "{run}");
    assert_eq!(run["summary"]["invalid"], 1, "{run}");

    // cost.anomaly, budget.threshold and budget.reached: two weeks of
    // steady spend, then a spike today.
    let today = Utc::now().date_naive();
    let mut events = Vec::new();
    for d in 1..=14 {
        let day = today - Duration::days(d);
        events.push(event(
            &format!("h{d}"),
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 400_000}),
            &format!("{day}T12:00:00Z"),
        ));
    }
    events.push(event(
        "spike",
        "acme",
        "u1",
        "openai",
        json!({"tokens_in": 8_000_000}),
        &Utc::now().to_rfc3339(),
    ));
    let (st, b) = ingest(&app, &Value::Array(events)).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let run = run_job(&app, "check-anomalies").await;
    assert_eq!(
        run["summary"]["flagged"],
        json!([{"tenant_id": "acme", "service": "openai"}]),
        "{run}"
    );
    let (st, b) = app
        .root_json(
            Method::PUT,
            "/api/tenants/acme/budget",
            Some(json!({"limit": "10.00", "alert_percents": [50, 100]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // invoice.generated, invoice.pushed, invoice.paid.
    let (st, _) = ingest(
        &app,
        &json!([event(
            "nov",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 2_000_000}),
            "2026-11-10T10:00:00Z"
        )]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    set_job(
        &app,
        "generate-invoices",
        json!({"params": {"period": "2026-11"}}),
    )
    .await;
    let run = run_job(&app, "generate-invoices").await;
    let number = s(&run["summary"]["invoices"][0]).to_string();
    set_job(
        &app,
        "push-invoices",
        json!({"params": {"period": "2026-11"}}),
    )
    .await;
    let run = run_job(&app, "push-invoices").await;
    assert_eq!(run["summary"]["pushed"], json!([number]), "{run}");
    let (_, inv) = app
        .root_json(Method::GET, &format!("/api/invoices/{number}"), None)
        .await;
    let (st, b) = app
        .root_json(
            Method::POST,
            "/api/xero/payments",
            Some(json!({"payment_id": "p1", "invoice_number": number, "amount": inv["total"].clone(), "date": "2026-12-01"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // job.failed: a push with nothing to push to (Xero not configured).
    let bare = spawn_app_with(&[("KEYWARD_XERO_CLIENT_ID", "")]).await;
    let bare_receiver = Receiver::start(&[]).await;
    let (_, bare_secret) = endpoint(&bare, &bare_receiver, json!(["job.failed"])).await;
    let run = run_job(&bare, "push-invoices").await;
    assert_eq!(run["outcome"], "failed", "{run}");
    assert!(
        run["summary"]["error"].to_string().contains("XERO"),
        "{run}"
    );
    let failed = bare_receiver.wait_for("job.failed", 1).await;
    let p = &verified(&bare_secret, &failed)[0];
    assert_eq!(p["data"]["job"], "push-invoices");

    // Every type arrived at the platform endpoint, verified by the library.
    for t in [
        "key.rotated",
        "key.disabled",
        "key.secret_rotated",
        "key.expiring",
        "quota.warning",
        "quota.reached",
        "limit.storm",
        "provider_key.validation_failed",
        "provider_key.healed",
        "cost.anomaly",
        "budget.threshold",
        "budget.reached",
        "invoice.generated",
        "invoice.pushed",
        "invoice.paid",
    ] {
        let got = receiver.wait_for(t, 1).await;
        let payloads = verified(&secret, &got);
        assert_eq!(payloads[0]["type"], t);
        assert!(payloads[0]["timestamp"].is_string());
    }
    // Once-only events went out once.
    for t in [
        "quota.warning",
        "quota.reached",
        "limit.storm",
        "key.expiring",
    ] {
        let n = receiver
            .received()
            .iter()
            .filter(|r| r.json()["type"] == t)
            .count();
        assert_eq!(n, 1, "{t} delivered {n} times");
    }
    let storm = &receiver.wait_for("limit.storm", 1).await[0].json();
    assert_eq!(storm["data"]["tenant_id"], "gamma");
    assert_eq!(storm["data"]["code"], "RATE_LIMITED");
    let budget = &receiver.wait_for("budget.threshold", 2).await;
    let percents: Vec<i64> = budget
        .iter()
        .map(|r| r.json()["data"]["percent"].as_i64().unwrap())
        .collect();
    assert_eq!(percents.len(), 2, "{percents:?}");

    // The rotated secret: sealed to the endpoint, opens with its secret, and
    // is a working key; it never appears in clear.
    let sealed = &receiver.wait_for("key.secret_rotated", 1).await[0];
    let body = sealed.json();
    let new_key = open_sealed(
        &secret,
        sealed.header("webhook-id").unwrap(),
        &body["data"]["sealed_secret"],
    );
    assert!(
        new_key.starts_with(&s(&body["data"]["display_prefix"])[..8]),
        "{body}"
    );
    assert!(!sealed.body.contains(&new_key));
    assert_eq!(app.verify_code(&new_key, None).await, "VALID");
    // The old secret still works within the policy's grace.
    assert_eq!(app.verify_code(&key, None).await, "VALID");

    // beta's own endpoint heard nothing of acme or gamma.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for r in beta_receiver.received() {
        assert_eq!(r.json()["data"]["tenant_id"], "beta", "{}", r.body);
    }
}

#[tokio::test]
async fn a_budget_cap_refuses_until_it_is_raised_and_its_gauge_shows() {
    let app = spawn_app_with(&[]).await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    let (st, b) = app
        .root_json(Method::PUT, "/api/secrets", Some(json!({"service": "openai", "kind": "customer", "tenant_id": "acme", "value": "valid-openai-acme", "validate": false})))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // 5.00 of spend this month: 2,000,000 input tokens x 2.5 $/M.
    let (st, _) = ingest(
        &app,
        &json!([event(
            "b1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 2_000_000}),
            &Utc::now().to_rfc3339()
        )]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    let (st, b) = app
        .root_json(
            Method::PUT,
            "/api/tenants/acme/budget",
            Some(json!({"limit": "4.00", "hard_cap": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        (
            b["spent"].as_str(),
            b["percent"].as_i64(),
            b["capped"].as_bool()
        ),
        (Some("5.000000"), Some(125), Some(true)),
        "{b}"
    );

    // The data plane and provider-key resolution refuse with 402.
    let call = app.cache_get(&key, "jt_acme", "hello").await;
    assert_eq!(call.status, StatusCode::PAYMENT_REQUIRED, "{:?}", call.body);
    assert_eq!(call.code(), "BUDGET_EXHAUSTED");
    let (st, b) = app
        .root_json(Method::POST, "/api/keys/openai/acme", None)
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("BUDGET_EXHAUSTED")),
        "{b}"
    );

    // Raised: through at once.
    let (st, b) = app
        .root_json(
            Method::PUT,
            "/api/tenants/acme/budget",
            Some(json!({"limit": "10.00", "hard_cap": true})),
        )
        .await;
    assert_eq!(
        (st, b["capped"].as_bool(), b["percent"].as_i64()),
        (StatusCode::OK, Some(false), Some(50)),
        "{b}"
    );
    let call = app.cache_get(&key, "jt_acme", "hello").await;
    assert_eq!(call.status, StatusCode::OK, "{:?}", call.body);

    // Without a hard cap, reaching the limit alerts but refuses nothing.
    let (_, b) = app
        .root_json(
            Method::PUT,
            "/api/tenants/acme/budget",
            Some(json!({"limit": "1.00"})),
        )
        .await;
    assert_eq!(b["capped"], false, "{b}");
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hello").await.status,
        StatusCode::OK
    );

    // The customer page shows the budget's gauge.
    crate::dashboards::add_admins(&app).await;
    let (cookie, _) = crate::admins::signed_in(&app, "viewer@example.com").await;
    let html = crate::dashboards::page_html(&app, "/admin/customers/acme", &cookie).await;
    assert!(
        html.contains("Budget"),
        "the customer page shows the budget"
    );
    assert!(
        html.contains("500%"),
        "spend against the 1.00 budget: 5.00 = 500%"
    );

    for (body, field) in [
        (json!({"limit": "0"}), "limit"),
        (json!({"limit": 1.5}), "limit"),
        (
            json!({"limit": "5", "alert_percents": [0]}),
            "alert_percents",
        ),
    ] {
        let (st, err) = app
            .root_json(Method::PUT, "/api/tenants/acme/budget", Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {err}");
        assert_eq!(err["error"]["field"], field);
    }
    let (st, _) = app
        .root_json(
            Method::PUT,
            "/api/tenants/nobody/budget",
            Some(json!({"limit": "5"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = app
        .root_json(Method::DELETE, "/api/tenants/acme/budget", None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = app
        .root_json(Method::GET, "/api/tenants/acme/budget", None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_generated_spike_is_flagged_as_an_anomaly_and_shown() {
    let app = spawn_app_with(&[]).await;
    app.provision_tenant("acme").await;
    let today = Utc::now().date_naive();
    let mut events = Vec::new();
    // Steady: 1.00 a day (400,000 tokens x 2.5 $/M) for 14 days, with a
    // little wobble; today 20.00.
    for d in 1..=14 {
        let day = today - Duration::days(d);
        let tokens = 400_000 + (d % 3) * 20_000;
        events.push(event(
            &format!("h{d}"),
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": tokens}),
            &format!("{day}T12:00:00Z"),
        ));
    }
    let (st, _) = ingest(&app, &Value::Array(events)).await;
    assert_eq!(st, StatusCode::OK);
    // An ordinary day is not flagged.
    let (st, _) = ingest(
        &app,
        &json!([event(
            "t0",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 420_000}),
            &Utc::now().to_rfc3339()
        )]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let run = run_job(&app, "check-anomalies").await;
    assert_eq!(run["summary"]["flagged"], json!([]), "{run}");
    let (st, _) = ingest(
        &app,
        &json!([event(
            "t1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 8_000_000}),
            &Utc::now().to_rfc3339()
        )]),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let run = run_job(&app, "check-anomalies").await;
    assert_eq!(
        run["summary"]["flagged"],
        json!([{"tenant_id": "acme", "service": "openai"}]),
        "{run}"
    );

    let (st, page) = app
        .root_json(Method::GET, "/api/analytics/anomalies?tenant_id=acme", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let a = &page["anomalies"][0];
    assert_eq!(
        (s(&a["service"]), s(&a["day"])),
        ("openai", today.to_string().as_str())
    );
    // 21.05 today against a mean of about 1.03.
    assert_eq!(a["cost_micros"], 21_050_000);
    assert!(a["score_milli"].as_i64().unwrap() > 3_000, "{a}");

    crate::dashboards::add_admins(&app).await;
    let (cookie, _) = crate::admins::signed_in(&app, "viewer@example.com").await;
    let html = crate::dashboards::page_html(&app, "/admin/customers/acme", &cookie).await;
    assert!(
        html.contains("Cost anomalies"),
        "the customer page lists anomalies"
    );
    let html = crate::dashboards::page_html(&app, "/admin/costs", &cookie).await;
    assert!(
        html.contains("Cost anomalies"),
        "the costs dashboard lists anomalies"
    );
}

#[tokio::test]
async fn metrics_pass_promtool_and_count_the_requests_made() {
    let app = spawn_app_with(&[]).await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    for i in 0..3 {
        app.cache_get(&key, "jt_acme", &format!("q{i}")).await;
    }
    app.cache_set(&key, "jt_acme", "q0", json!({"answer": 42}))
        .await;
    app.cache_get(&key, "jt_acme", "q0").await;
    app.set_plan("pro", 1_000_000, 1, 50, 1_048_576).await;
    for i in 0..5 {
        app.cache_get(&key, "jt_acme", &format!("r{i}")).await;
    }

    // Without the permission: 401/403.
    let res = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (st, token) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "prometheus", "permissions": ["metrics:read"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{token}");
    let (st, other) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "reader", "permissions": ["tenants:read"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let res = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(s(&other["token"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(s(&token["token"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();

    // promtool (Debian's prometheus package) accepts the exposition.
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/setup.sh test)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The counters match the requests made: 9 cache gets (4 + 5), of which
    // 1 hit, 4 misses, and the per-second refusals; 1 set.
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let gets_ok =
        value(r#"keyward_http_requests_total{route="/api/cache/get",method="POST",status="200"}"#);
    let gets_429 =
        value(r#"keyward_http_requests_total{route="/api/cache/get",method="POST",status="429"}"#);
    assert_eq!(gets_ok + gets_429, 9.0, "{text}");
    assert!(gets_429 >= 1.0, "{text}");
    assert_eq!(
        value(r#"keyward_limit_refusals_total{kind="RATE_LIMITED"}"#),
        gets_429
    );
    assert_eq!(
        value(r#"keyward_cache_lookups_total{result="hit"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(r#"keyward_cache_lookups_total{result="miss"}"#),
        gets_ok - 1.0,
        "{text}"
    );
    assert_eq!(
        value(r#"keyward_http_requests_total{route="/api/cache/set",method="POST",status="201"}"#),
        1.0
    );
    assert_eq!(
        value(
            r#"keyward_http_request_duration_seconds_count{route="/api/cache/get",method="POST"}"#
        ),
        9.0
    );
    for family in [
        "keyward_usage_queue_depth",
        "keyward_usage_records_dropped_total",
        "keyward_change_feed_lag_seconds",
        "keyward_webhook_queue_depth",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}")),
            "{family} missing"
        );
    }
    // A raw path never becomes a label (no unbounded series).
    assert!(!text.contains("jt_acme"));
    let _ = ROOT_TOKEN;
}

#[tokio::test]
async fn jobs_and_webhooks_need_the_rights_of_what_they_reach() {
    let app = spawn_app_with(&[]).await;
    let token = |perms: Value| {
        let app = &app;
        async move {
            let (st, t) = app
                .root_json(
                    Method::POST,
                    "/api/tokens",
                    Some(json!({"name": "t", "permissions": perms})),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{t}");
            s(&t["token"]).to_string()
        }
    };
    let call = |bearer: String, method: Method, path: &'static str, body: Option<Value>| {
        let app = &app;
        async move {
            let mut req = app
                .client
                .request(method, app.url(path))
                .bearer_auth(bearer);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // jobs:write alone runs a budget check, not an invoice run (billing:write).
    let jobs = token(json!(["jobs:write"])).await;
    let (st, b) = call(
        jobs.clone(),
        Method::POST,
        "/api/jobs/generate-invoices/run",
        None,
    )
    .await;
    assert_eq!(
        (st, s(&b["error"]["code"])),
        (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        "{b}"
    );
    let (st, b) = call(
        jobs.clone(),
        Method::POST,
        "/api/jobs/check-budgets/run",
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, _) = call(
        jobs,
        Method::PUT,
        "/api/jobs/rotate-keys",
        Some(json!({"schedule": "0 * * * *"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // webhooks:write alone cannot subscribe to rotated keys (they open with the endpoint's secret).
    let hooks = token(json!(["webhooks:write"])).await;
    for events in [json!(["*"]), json!(["key.secret_rotated"])] {
        let (st, b) = call(
            hooks.clone(),
            Method::POST,
            "/api/webhooks",
            Some(json!({"url": "https://hooks.example/k", "events": events})),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    }
    let (st, b) = call(
        hooks,
        Method::POST,
        "/api/webhooks",
        Some(json!({"url": "https://hooks.example/k", "events": ["quota.reached"]})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    // A rotation policy with nobody to receive the new secret rotates nothing
    // (the tenant would be locked out when the grace ends) and says so.
    let acme = app.provision_tenant("acme").await;
    let key_id = s(&acme["key_id"]).to_string();
    let (st, _) = app
        .root_json(
            Method::PUT,
            &format!("/api/keys/{key_id}/rotation-policy"),
            Some(json!({"rotate_every_days": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    set_job(&app, "rotate-keys", json!({"params": {"ahead_days": 1}})).await;
    let run = run_job(&app, "rotate-keys").await;
    assert_eq!(run["summary"]["rotated"], json!([]), "{run}");
    assert_eq!(
        run["summary"]["skipped_no_endpoint"],
        json!([key_id]),
        "{run}"
    );
    assert_eq!(app.verify_code(s(&acme["api_key"]), None).await, "VALID");
}
