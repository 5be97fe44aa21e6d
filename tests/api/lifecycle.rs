use crate::helpers::{s, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn rotated_key_keeps_old_secret_valid_during_grace_then_expires_it() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let (old, key_id) = (
        s(&body["api_key"]).to_string(),
        s(&body["key_id"]).to_string(),
    );
    assert_eq!(app.verify_code(&old, None).await, "VALID");

    let rotated = app.rotate(&key_id, json!({"grace_seconds": 2})).await;
    let new = s(&rotated["api_key"]).to_string();
    assert_ne!(new, old);
    assert_eq!(
        rotated["key_id"],
        key_id.as_str(),
        "the key id survives rotation"
    );
    assert_eq!(rotated["version"], 2);

    assert_eq!(app.verify_code(&new, Some("jt_acme")).await, "VALID");
    assert_eq!(
        app.verify_code(&old, Some("jt_acme")).await,
        "VALID",
        "old secret in grace"
    );

    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(app.verify_code(&old, Some("jt_acme")).await, "EXPIRED");
    let v = app.verify(&new, Some("jt_acme")).await;
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["key_id"], key_id.as_str());
    assert_eq!(v["version"], 2);
}

#[tokio::test]
async fn rotation_without_a_body_uses_a_24_hour_grace() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key_id = s(&body["key_id"]);
    let res = app
        .root(Method::POST, &format!("/api/keys/{key_id}/rotate"), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: Value = res.json().await.unwrap();
    let grace_end =
        chrono::DateTime::parse_from_rfc3339(s(&rotated["previous_expires_at"])).unwrap();
    let hours =
        (grace_end.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "grace of {hours} hours");
}

#[tokio::test]
async fn immediate_rotation_retires_the_old_secret_at_once() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let (old, key_id) = (s(&body["api_key"]), s(&body["key_id"]));
    assert_eq!(app.verify_code(old, None).await, "VALID");
    let rotated = app.rotate(key_id, json!({"immediate": true})).await;
    assert_eq!(app.verify_code(old, None).await, "EXPIRED");
    assert_eq!(app.verify_code(s(&rotated["api_key"]), None).await, "VALID");
}

#[tokio::test]
async fn key_listing_shows_versions_and_their_states() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key_id = s(&body["key_id"]);
    let rotated = app.rotate(key_id, json!({"grace_seconds": 3600})).await;
    let (status, key) = app
        .root_json(Method::GET, &format!("/api/keys/{key_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let states: Vec<&str> = key["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(&v["state"]))
        .collect();
    assert_eq!(states, ["grace", "current"]);
    assert_eq!(key["display_prefix"], rotated["display_prefix"]);
    assert_eq!(
        key["versions"][0]["expires_at"],
        rotated["previous_expires_at"]
    );
}

#[tokio::test]
async fn disabled_key_is_refused_on_the_very_next_verify_and_enable_restores_it() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let (key, key_id) = (s(&body["api_key"]), s(&body["key_id"]));
    // Warm every cache first.
    assert_eq!(app.verify_code(key, Some("jt_acme")).await, "VALID");
    assert_eq!(app.verify_code(key, Some("jt_acme")).await, "VALID");

    let (status, view) = app
        .root_json(Method::POST, &format!("/api/keys/{key_id}/disable"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "disabled");
    assert_eq!(app.verify_code(key, Some("jt_acme")).await, "DISABLED");

    let (status, view) = app
        .root_json(Method::POST, &format!("/api/keys/{key_id}/enable"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "active");
    assert_eq!(app.verify_code(key, Some("jt_acme")).await, "VALID");
}

#[tokio::test]
async fn a_disabled_key_stays_disabled_through_rotation() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key_id = s(&body["key_id"]);
    app.root(Method::POST, &format!("/api/keys/{key_id}/disable"), None)
        .await;
    let rotated = app.rotate(key_id, json!({})).await;
    assert_eq!(
        app.verify_code(s(&rotated["api_key"]), None).await,
        "DISABLED"
    );
}

#[tokio::test]
async fn key_with_an_expiry_stops_working_when_it_passes() {
    let app = spawn_app().await;
    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let body = app
        .provision(json!({
            "user_id": "acme", "integration": "files", "project_id": "jt",
            "expires_at": expires.to_rfc3339(),
        }))
        .await;
    let key = s(&body["api_key"]);
    assert_eq!(app.verify_code(key, None).await, "VALID");
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(app.verify_code(key, None).await, "EXPIRED");
}

#[tokio::test]
async fn suspending_a_tenant_disables_its_keys_at_once() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key = s(&body["api_key"]);
    assert_eq!(app.verify_code(key, None).await, "VALID");
    let (status, t) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/acme",
            Some(json!({"status": "suspended"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(app.verify_code(key, None).await, "DISABLED");
    app.root_json(
        Method::PATCH,
        "/api/tenants/acme",
        Some(json!({"status": "active", "plan": "enterprise"})),
    )
    .await;
    let v = app.verify(key, None).await;
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["tier"], "enterprise");
}

#[tokio::test]
async fn concurrent_rotations_add_exactly_one_version_each() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key_id = s(&body["key_id"]).to_string();
    const N: usize = 12;

    let calls = (0..N).map(|_| app.rotate(&key_id, json!({"grace_seconds": 600})));
    let results = futures::future::join_all(calls).await;

    let versions: HashSet<i64> = results
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (2..=(N as i64 + 1)).collect::<HashSet<_>>(),
        "one new version per call"
    );
    let (_, key) = app
        .root_json(Method::GET, &format!("/api/keys/{key_id}"), None)
        .await;
    let all = key["versions"].as_array().unwrap();
    assert_eq!(all.len(), N + 1);
    let current: Vec<&Value> = all.iter().filter(|v| v["state"] == "current").collect();
    assert_eq!(current.len(), 1, "exactly one current secret: {key}");
    assert_eq!(current[0]["version"], N as i64 + 1);
    assert!(all.iter().filter(|v| v["state"] == "grace").count() == N);

    // Every secret handed out verifies: the newest as current, the rest in grace.
    for r in &results {
        assert_eq!(app.verify_code(s(&r["api_key"]), None).await, "VALID");
    }
}

#[tokio::test]
async fn a_key_is_patched_in_place_and_the_next_request_obeys_it() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let (key, key_id) = (
        s(&body["api_key"]).to_string(),
        s(&body["key_id"]).to_string(),
    );
    app.provision_tenant("globex").await;
    // The key serves its namespace (and is now held in memory).
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hi").await.status,
        StatusCode::OK
    );

    let path = format!("/api/keys/{key_id}");
    let in_a_day = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, patched) = app
        .root_json(
            Method::PATCH,
            &path,
            Some(json!({
                "name": "uploads", "metadata": {"team": "files", "env": "prod"},
                "rate_limit": 5, "expires_at": in_a_day,
                "scopes": ["jt_globex"], "permissions": ["secrets:read"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "uploads");
    assert_eq!(patched["metadata"]["team"], "files");
    assert_eq!(patched["rate_limit"], 5);
    assert_eq!(patched["scopes"], json!(["jt_globex"]));
    assert_eq!(patched["permissions"], json!(["secrets:read"]));
    // Scopes: refused its old namespace, allowed the new one, at once.
    assert_eq!(
        app.verify_code(&key, Some("jt_acme")).await,
        "FORBIDDEN_NAMESPACE"
    );
    assert_eq!(app.verify_code(&key, Some("jt_globex")).await, "VALID");

    // Null clears the quota override and the expiry; absent fields stay.
    let (status, cleared) = app
        .root_json(
            Method::PATCH,
            &path,
            Some(json!({"rate_limit": null, "expires_at": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(cleared["rate_limit"].is_null() && cleared["expires_at"].is_null());
    assert_eq!(cleared["name"], "uploads");

    for bad in [
        json!({"rate_limit": 0}),
        json!({"expires_at": "2000-01-01T00:00:00Z"}),
        json!({"scopes": []}),
        json!({"permissions": ["root"]}),
        json!({"name": "x".repeat(101)}),
        json!({"colour": "red"}),
    ] {
        let (status, body) = app.root_json(Method::PATCH, &path, Some(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (_, trail) = app
        .root_json(
            Method::GET,
            &format!("/api/audit?target={key_id}&action=key.update"),
            None,
        )
        .await;
    assert_eq!(trail["entries"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_deleted_key_is_revoked_for_good_and_keeps_its_history() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let (key, key_id) = (
        s(&body["api_key"]).to_string(),
        s(&body["key_id"]).to_string(),
    );
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hi").await.status,
        StatusCode::OK
    );
    let path = format!("/api/keys/{key_id}");
    let (status, revoked) = app.root_json(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "REVOKED");
    let refused = app.cache_get(&key, "jt_acme", "hi").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), "KEY_REVOKED");
    // Nothing brings it back.
    for (method, action) in [
        (Method::POST, "enable"),
        (Method::POST, "rotate"),
        (Method::DELETE, ""),
    ] {
        let p = if action.is_empty() {
            path.clone()
        } else {
            format!("{path}/{action}")
        };
        let (status, body) = app.root_json(method, &p, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{p}: {body}");
        assert_eq!(body["error"]["code"], "KEY_REVOKED");
    }
    let (status, _) = app
        .root_json(Method::PATCH, &path, Some(json!({"name": "back"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Still listed, with its history in the audit trail.
    let (status, shown) = app.root_json(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["status"], "revoked");
    let (_, trail) = app
        .root_json(Method::GET, &format!("/api/audit?target={key_id}"), None)
        .await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert!(actions.contains(&"key.revoke") && actions.contains(&"key.provision"));
}

#[tokio::test]
async fn namespaces_are_listed_and_deleted_with_their_cached_responses() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    let key = s(&acme["api_key"]).to_string();
    let (status, _) = app
        .root_json(
            Method::POST,
            "/api/namespaces",
            Some(json!({"name": "jt_acme_extra", "user_id": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, all) = app.root_json(Method::GET, "/api/namespaces", None).await;
    let names: Vec<&str> = all["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n["name"]))
        .collect();
    assert_eq!(names, ["jt_acme", "jt_acme_extra", "jt_globex"]);
    let (_, mine) = app
        .root_json(Method::GET, "/api/namespaces?tenant_id=acme", None)
        .await;
    assert_eq!(mine["namespaces"].as_array().unwrap().len(), 2);

    // A cached response, served from the store and memory...
    let set = app
        .cache_set(&key, "jt_acme", "hello", json!({"answer": 42}))
        .await;
    assert!(set.status.is_success(), "{:?}", set.body);
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hello").await.status,
        StatusCode::OK
    );
    let (status, deleted) = app
        .root_json(Method::DELETE, "/api/namespaces/jt_acme", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["cached_entries"], 1);
    // ... is gone with it, and the key may no longer use the name.
    assert_eq!(
        app.verify_code(&key, Some("jt_acme")).await,
        "FORBIDDEN_NAMESPACE"
    );
    let (_, tenant) = app.root_json(Method::GET, "/api/tenants/acme", None).await;
    assert_eq!(tenant["namespaces"].as_array().unwrap().len(), 1);
    let (status, body) = app
        .root_json(Method::DELETE, "/api/namespaces/jt_acme", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NAMESPACE_NOT_FOUND");
    // The name may be taken again, by another tenant, and is theirs alone.
    let (status, _) = app
        .root_json(
            Method::POST,
            "/api/namespaces",
            Some(json!({"name": "jt_acme", "user_id": "globex"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.verify_code(&key, Some("jt_acme")).await,
        "FORBIDDEN_NAMESPACE"
    );
}
