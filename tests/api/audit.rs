use crate::helpers::{s, spawn_app, ROOT_TOKEN};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_change_to_a_key_is_in_its_audit_trail_newest_first() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key_id = s(&body["key_id"]);
    app.rotate(key_id, json!({"grace_seconds": 60})).await;
    let res = app
        .client
        .post(app.url(&format!("/api/keys/{key_id}/disable")))
        .bearer_auth(ROOT_TOKEN)
        .header("x-request-id", "req-disable-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "req-disable-1");
    app.root(Method::POST, &format!("/api/keys/{key_id}/enable"), None)
        .await;

    let (_, trail) = app
        .root_json(Method::GET, &format!("/api/audit?target={key_id}"), None)
        .await;
    let entries = trail["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| s(&e["action"])).collect();
    assert_eq!(
        actions,
        ["key.enable", "key.disable", "key.rotate", "key.provision"]
    );
    for e in entries {
        assert_eq!(e["actor"], "root");
        assert_eq!(e["tenant_id"], "acme");
        assert_eq!(e["outcome"], "success");
        assert!(!s(&e["request_id"]).is_empty());
        chrono::DateTime::parse_from_rfc3339(s(&e["at"])).expect("RFC 3339 time");
    }
    assert_eq!(entries[1]["request_id"], "req-disable-1");
    assert_eq!(entries[2]["detail"]["version"], 2);
}

#[tokio::test]
async fn the_audit_trail_filters_by_tenant_action_and_time() {
    let app = spawn_app().await;
    let start = chrono::Utc::now();
    app.provision_tenant("acme").await;
    let g = app.provision_tenant("globex").await;
    app.rotate(s(&g["key_id"]), json!({})).await;

    let get = |q: String| {
        let app = &app;
        async move {
            let (_, t) = app
                .root_json(Method::GET, &format!("/api/audit?{q}"), None)
                .await;
            t["entries"].as_array().unwrap().len()
        }
    };
    assert_eq!(get("tenant_id=globex".into()).await, 2);
    assert_eq!(get("action=key.rotate".into()).await, 1);
    assert_eq!(get("actor=root".into()).await, 3);
    assert_eq!(get("limit=1".into()).await, 1);
    let from =
        (start - chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(get(format!("from={from}")).await, 3);
    let to =
        (start - chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(get(format!("to={to}")).await, 0);
}
