//! Retention: raw usage records, usage events and audit records older than
//! their retention are deleted by the maintenance task; the rollups reports
//! read stay; the policy and the last pass are in /api/stats.

use crate::costs::{event, ingest};
use crate::helpers::{s, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn records_past_their_retention_are_deleted_and_rollups_stay() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    for i in 0..3 {
        app.cache_get(&key, "jt_acme", &format!("q{i}")).await;
    }
    app.flush_usage().await;
    let old = (chrono::Utc::now() - chrono::Duration::days(300)).to_rfc3339();
    let (status, body) = ingest(
        &app,
        &json!([event(
            "old-1",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1000}),
            &old
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Older than the event retention (400 days by default): refused, so a
    // duplicate of a deleted event can never be counted twice.
    let older = (chrono::Utc::now() - chrono::Duration::days(401)).to_rfc3339();
    let (status, body) = ingest(
        &app,
        &json!([event(
            "old-2",
            "acme",
            "u1",
            "openai",
            json!({"tokens_in": 1}),
            &older
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The task ran at start-up; /api/stats shows the policy and the pass.
    let (_, stats) = app.root_json(Method::GET, "/api/stats", None).await;
    assert_eq!(stats["retention"]["usage_record_days"], 90);
    assert_eq!(stats["retention"]["usage_event_days"], 400);
    assert_eq!(stats["retention"]["audit_days"], 730);
    assert!(!stats["retention"]["last_run_at"].is_null(), "{stats}");

    // 91 days on: the raw records go, the hourly rollups stay.
    let now = chrono::Utc::now();
    let run = app
        .app_core
        .retention
        .run(now + chrono::Duration::days(91))
        .await
        .unwrap();
    assert_eq!(run.usage_records, 3);
    assert_eq!(run.usage_events, 0);
    assert_eq!(run.audit_records, 0);
    let (_, records) = app
        .root_json(Method::GET, "/api/usage/acme/records", None)
        .await;
    assert_eq!(records["records"].as_array().unwrap().len(), 0, "{records}");
    let (_, report) = app.root_json(Method::GET, "/api/usage/acme", None).await;
    assert_eq!(report["total"]["requests"], 3, "{report}");

    // 101 days on the event is 401 days old: it goes, its cost rollup stays.
    let run = app
        .app_core
        .retention
        .run(now + chrono::Duration::days(101))
        .await
        .unwrap();
    assert_eq!(run.usage_events, 1);
    let from = (now - chrono::Duration::days(300)).format("%Y-%m-01");
    let (_, tpc) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/acme?period=monthly&from={from}"),
            None,
        )
        .await;
    assert!(tpc["total_cost_micros"].as_i64().unwrap_or(0) > 0, "{tpc}");

    // Audit records are kept their (at least a year's) retention.
    let run = app
        .app_core
        .retention
        .run(now + chrono::Duration::days(731))
        .await
        .unwrap();
    assert!(run.audit_records >= 1);
    let (_, trail) = app.root_json(Method::GET, "/api/audit", None).await;
    assert!(trail["entries"].as_array().unwrap().is_empty(), "{trail}");
    let (_, stats) = app.root_json(Method::GET, "/api/stats", None).await;
    assert!(
        stats["retention"]["last_removed_audit_records"]
            .as_u64()
            .unwrap()
            >= 1
    );
}
