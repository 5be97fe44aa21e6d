use crate::helpers::{s, spawn_app, spawn_app_in};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_set_response_is_served_on_the_next_get() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]);

    let miss = app.cache_get(key, "jt_acme", "hello").await;
    assert_eq!(miss.status, StatusCode::OK);
    assert_eq!(miss.body, json!({"hit": false}));

    let response =
        json!({"choices": [{"message": {"content": "hi there"}}], "usage": {"tokens": 7}});
    let set = app
        .cache_set(key, "jt_acme", "hello", response.clone())
        .await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    assert_eq!(set.body["stored"], true);

    let hit = app.cache_get(key, "jt_acme", "hello").await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.body["hit"], true);
    assert_eq!(hit.body["response"], response);
    assert_eq!(hit.body["cached_at"], set.body["cached_at"]);
    assert_eq!(hit.body["expires_at"], set.body["expires_at"]);
    assert!(hit.header("ratelimit-remaining").is_some());
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_change_the_entry() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]);
    app.cache_set(key, "jt_acme", "hello", json!("cached"))
        .await;

    let reordered = r#"{ "namespace":"jt_acme", "messages" : [ { "content":"hello",
        "role" : "user" } ], "model":"gpt-4o","provider":"openai" }"#;
    let hit = app.data_raw("/api/cache/get", key, reordered.into()).await;
    assert_eq!(hit.body["hit"], true, "{}", hit.body);
    assert_eq!(hit.body["response"], "cached");

    let other_model = app
        .data(
            "/api/cache/get",
            key,
            json!({"provider": "openai", "model": "gpt-4o-mini", "namespace": "jt_acme",
            "messages": [{"role": "user", "content": "hello"}]}),
        )
        .await;
    assert_eq!(other_model.body["hit"], false);
    assert_eq!(
        app.cache_get(key, "jt_acme", "hello!").await.body["hit"],
        false
    );
}

#[tokio::test]
async fn namespaces_are_isolated_both_ways() {
    let app = spawn_app().await;
    let a = app.provision_tenant("acme").await;
    let b = app.provision_tenant("globex").await;
    let (ka, kb) = (s(&a["api_key"]), s(&b["api_key"]));

    app.cache_set(ka, "jt_acme", "same question", json!("acme's answer"))
        .await;
    assert_eq!(
        app.cache_get(kb, "jt_globex", "same question").await.body["hit"],
        false
    );
    app.cache_set(kb, "jt_globex", "same question", json!("globex's answer"))
        .await;
    assert_eq!(
        app.cache_get(ka, "jt_acme", "same question").await.body["response"],
        "acme's answer"
    );
    assert_eq!(
        app.cache_get(kb, "jt_globex", "same question").await.body["response"],
        "globex's answer"
    );

    for (key, other) in [(ka, "jt_globex"), (kb, "jt_acme")] {
        let get = app.cache_get(key, other, "same question").await;
        assert_eq!(get.status, StatusCode::FORBIDDEN);
        assert_eq!(get.code(), "FORBIDDEN_NAMESPACE");
        let set = app
            .cache_set(key, other, "same question", json!("poison"))
            .await;
        assert_eq!(set.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.cache_get(ka, "jt_acme", "same question").await.body["response"],
        "acme's answer"
    );
}

#[tokio::test]
async fn entries_expire_to_the_second() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]);
    let set = app
        .data(
            "/api/cache/set",
            key,
            json!({"provider": "openai", "model": "m", "namespace": "jt_acme",
            "messages": [{"role": "user", "content": "q"}], "response": {"a": 1}, "ttl": 1}),
        )
        .await;
    assert_eq!(set.status, StatusCode::CREATED);
    let get = json!({"provider": "openai", "model": "m", "namespace": "jt_acme", "messages": [{"role": "user", "content": "q"}]});
    assert_eq!(
        app.data("/api/cache/get", key, get.clone()).await.body["hit"],
        true
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.data("/api/cache/get", key, get).await.body["hit"],
        false
    );
}

#[tokio::test]
async fn failed_upstream_responses_are_never_cached() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]);
    for status in [429, 500, 404] {
        let set = app
            .data("/api/cache/set", key, json!({"provider": "openai", "model": "m", "namespace": "jt_acme",
                "messages": [{"role": "user", "content": "q"}], "response": {"error": "slow down"}, "status": status}))
            .await;
        assert_eq!(set.status, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
        assert_eq!(set.body["error"]["field"], "status");
    }
    let ok = app
        .data("/api/cache/set", key, json!({"provider": "openai", "model": "m", "namespace": "jt_acme",
            "messages": [{"role": "user", "content": "q2"}], "response": {"ok": true}, "status": 200}))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let get = app
        .data(
            "/api/cache/get",
            key,
            json!({"provider": "openai", "model": "m", "namespace": "jt_acme",
            "messages": [{"role": "user", "content": "q"}]}),
        )
        .await;
    assert_eq!(get.body["hit"], false);
}

#[tokio::test]
async fn the_data_plane_needs_a_valid_enabled_key() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]);
    let body = json!({"provider": "p", "model": "m", "namespace": "jt_acme", "messages": [{"role": "user", "content": "q"}]});

    let res = app
        .client
        .post(app.url("/api/cache/get"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "MISSING_API_KEY");

    let bad = app
        .data("/api/cache/get", "ac_files_nope", body.clone())
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_API_KEY")
    );

    app.root(
        Method::POST,
        &format!("/api/keys/{}/disable", s(&acme["key_id"])),
        None,
    )
    .await;
    let disabled = app.data("/api/cache/get", key, body.clone()).await;
    assert_eq!(
        (disabled.status, disabled.code()),
        (StatusCode::FORBIDDEN, "KEY_DISABLED")
    );

    app.root(
        Method::POST,
        &format!("/api/keys/{}/enable", s(&acme["key_id"])),
        None,
    )
    .await;
    let malformed = app
        .data_raw("/api/cache/get", key, "{not json".into())
        .await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "INVALID_JSON")
    );
    let missing = app
        .data("/api/cache/get", key, json!({"provider": "p"}))
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY")
    );
    let empty = app
        .data(
            "/api/cache/get",
            key,
            json!({"provider": "p", "model": "m", "namespace": "jt_acme", "messages": []}),
        )
        .await;
    assert_eq!(
        (empty.status, empty.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR")
    );
}

#[tokio::test]
async fn invalidate_removes_one_entry_or_a_whole_namespace() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]);
    for q in ["one", "two", "three"] {
        app.cache_set(key, "jt_acme", q, json!(q)).await;
    }
    let one = app
        .data(
            "/api/cache/invalidate",
            key,
            json!({"provider": "openai", "model": "gpt-4o", "namespace": "jt_acme",
            "messages": [{"role": "user", "content": "one"}]}),
        )
        .await;
    assert_eq!(one.body["invalidated"], 1);
    assert_eq!(
        app.cache_get(key, "jt_acme", "one").await.body["hit"],
        false
    );
    assert_eq!(app.cache_get(key, "jt_acme", "two").await.body["hit"], true);

    let vague = app
        .data(
            "/api/cache/invalidate",
            key,
            json!({"namespace": "jt_acme"}),
        )
        .await;
    assert_eq!(
        vague.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a whole namespace needs \"all\": true"
    );

    let all = app
        .data(
            "/api/cache/invalidate",
            key,
            json!({"namespace": "jt_acme", "all": true}),
        )
        .await;
    assert_eq!(all.body["invalidated"], 2);
    assert_eq!(
        app.cache_get(key, "jt_acme", "two").await.body["hit"],
        false
    );
    assert_eq!(
        app.cache_get(key, "jt_acme", "three").await.body["hit"],
        false
    );
    app.cache_set(key, "jt_acme", "two", json!("again")).await;
    assert_eq!(
        app.cache_get(key, "jt_acme", "two").await.body["response"],
        "again"
    );
}

#[tokio::test]
async fn cached_entries_survive_a_restart() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    app.cache_set(&key, "jt_acme", "persist me", json!({"kept": true}))
        .await;
    let store = app.stop().await;
    let app = spawn_app_in(store).await;
    let hit = app.cache_get(&key, "jt_acme", "persist me").await;
    assert_eq!(hit.body["hit"], true);
    assert_eq!(hit.body["response"], json!({"kept": true}));
}

/// A warm key's right to a namespace is kept in memory; every change to the
/// key, its tenant or its plan must still apply from the very next request.
#[tokio::test]
async fn warm_keys_follow_every_change_at_once() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    let key_id = s(&acme["key_id"]).to_string();
    let get = |key: String| {
        let app = &app;
        async move { app.cache_get(&key, "jt_acme", "q").await }
    };
    for _ in 0..3 {
        assert_eq!(get(key.clone()).await.status, StatusCode::OK);
    }
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "VALID");

    // Disable, enable.
    app.root(Method::POST, &format!("/api/keys/{key_id}/disable"), None)
        .await;
    assert_eq!(get(key.clone()).await.code(), "KEY_DISABLED");
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "DISABLED");
    app.root(Method::POST, &format!("/api/keys/{key_id}/enable"), None)
        .await;
    assert_eq!(get(key.clone()).await.status, StatusCode::OK);

    // Tenant suspension.
    app.root_json(
        Method::PATCH,
        "/api/tenants/acme",
        Some(json!({"status": "suspended"})),
    )
    .await;
    assert_eq!(get(key.clone()).await.status, StatusCode::FORBIDDEN);
    app.root_json(
        Method::PATCH,
        "/api/tenants/acme",
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(get(key.clone()).await.status, StatusCode::OK);

    // A plan change applies to the next request: one request a month left.
    let month = get(key.clone()).await;
    let used: i64 = month
        .header("ratelimit-limit")
        .unwrap()
        .parse::<i64>()
        .unwrap()
        - month
            .header("ratelimit-remaining")
            .unwrap()
            .parse::<i64>()
            .unwrap();
    app.set_plan("pro", used + 1, 50, 20, 1 << 20).await;
    assert_eq!(get(key.clone()).await.status, StatusCode::OK);
    let over = get(key.clone()).await;
    assert_eq!(
        (over.status, over.code()),
        (StatusCode::TOO_MANY_REQUESTS, "MONTHLY_QUOTA_EXCEEDED")
    );
    app.set_plan("pro", 100_000, 50, 20, 100 << 20).await;

    // Rotation with a one-second grace: the old secret works, then stops by itself.
    let rotated = app.rotate(&key_id, json!({"grace_seconds": 1})).await;
    let new_key = s(&rotated["api_key"]).to_string();
    assert_eq!(get(key.clone()).await.status, StatusCode::OK);
    assert_eq!(get(new_key.clone()).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let old = get(key.clone()).await;
    assert_eq!(
        (old.status, old.code()),
        (StatusCode::UNAUTHORIZED, "KEY_EXPIRED")
    );
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "EXPIRED");
    assert_eq!(get(new_key.clone()).await.status, StatusCode::OK);

    // Immediate rotation retires the warm secret at once.
    app.rotate(&key_id, json!({"immediate": true})).await;
    assert_eq!(get(new_key).await.status, StatusCode::UNAUTHORIZED);
}
