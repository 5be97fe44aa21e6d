use crate::helpers::{s, spawn_app, spawn_app_in};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn usage_matches_the_requests_made_exactly_after_a_flush() {
    let app = spawn_app().await;
    let acme = app
        .provision(
            json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "pro"}),
        )
        .await;
    app.root_json(
        Method::POST,
        "/api/namespaces",
        Some(json!({"name": "acme_second", "user_id": "acme"})),
    )
    .await;
    let key = s(&acme["api_key"]).to_string();
    // The pro key covers only jt_acme; give acme a second key for the other namespace.
    let second = app
        .provision(json!({"user_id": "acme", "integration": "files", "project_id": "jt", "namespace": "acme_second"}))
        .await;
    let key2 = s(&second["api_key"]).to_string();

    let mut served = 0i64;
    let mut sent = 0i64;
    let mut track = |c: &crate::helpers::Call, body_len: usize| {
        served += c.len;
        sent += body_len as i64;
    };
    let get_body = |ns: &str, q: &str| {
        json!({"provider": "openai", "model": "gpt-4o", "namespace": ns, "messages": [{"role": "user", "content": q}]}).to_string()
    };
    let set_body = |ns: &str, q: &str| {
        json!({"provider": "openai", "model": "gpt-4o", "namespace": ns, "messages": [{"role": "user", "content": q}], "response": {"answer": q.repeat(10)}}).to_string()
    };

    // jt_acme: 3 misses, 2 sets, 4 hits. acme_second: 1 miss, 1 set, 2 hits.
    for q in ["a", "b", "c"] {
        let b = get_body("jt_acme", q);
        track(
            &app.data_raw("/api/cache/get", &key, b.clone()).await,
            b.len(),
        );
    }
    for q in ["a", "b"] {
        let b = set_body("jt_acme", q);
        track(
            &app.data_raw("/api/cache/set", &key, b.clone()).await,
            b.len(),
        );
    }
    for q in ["a", "b", "a", "b"] {
        let b = get_body("jt_acme", q);
        let c = app.data_raw("/api/cache/get", &key, b.clone()).await;
        assert_eq!(c.body["hit"], true);
        track(&c, b.len());
    }
    let b = get_body("acme_second", "z");
    track(
        &app.data_raw("/api/cache/get", &key2, b.clone()).await,
        b.len(),
    );
    let b = set_body("acme_second", "z");
    track(
        &app.data_raw("/api/cache/set", &key2, b.clone()).await,
        b.len(),
    );
    for _ in 0..2 {
        let b = get_body("acme_second", "z");
        track(
            &app.data_raw("/api/cache/get", &key2, b.clone()).await,
            b.len(),
        );
    }

    app.flush_usage().await;
    let (status, usage) = app
        .root_json(Method::GET, "/api/usage/acme?granularity=day", None)
        .await;
    assert_eq!(status, 200, "{usage}");
    let t = &usage["total"];
    assert_eq!(t["requests"], 13);
    assert_eq!(t["hits"], 6);
    assert_eq!(t["misses"], 4);
    assert_eq!(t["hit_rate"], 0.6);
    assert_eq!(t["bytes_served"], served);
    assert_eq!(t["bytes_in"], sent);
    assert_eq!(t["rejected"], 0);
    assert!(t["mean_latency_ms"].as_f64().unwrap() > 0.0);
    assert!(t["p95_latency_ms"].as_f64().unwrap() >= t["mean_latency_ms"].as_f64().unwrap() * 0.5);

    let ns: Vec<(&str, i64, i64)> = usage["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                s(&n["namespace"]),
                n["total"]["requests"].as_i64().unwrap(),
                n["total"]["hits"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ns, [("acme_second", 4, 2), ("jt_acme", 9, 4)]);
    assert_eq!(usage["series"].as_array().unwrap().len(), 1);
    assert_eq!(usage["series"][0]["requests"], 13);

    let (_, hourly) = app.root_json(Method::GET, "/api/usage/acme", None).await;
    assert_eq!(hourly["granularity"], "hour");
    assert_eq!(hourly["total"]["requests"], 13);

    // The raw records behind the rollups: one per request, in order.
    let (status, raw) = app
        .root_json(Method::GET, "/api/usage/acme/records", None)
        .await;
    assert_eq!(status, 200, "{raw}");
    let records = raw["records"].as_array().unwrap();
    assert_eq!(records.len(), 13);
    let ops: Vec<(&str, &str, Option<bool>)> = records
        .iter()
        .map(|r| (s(&r["namespace"]), s(&r["operation"]), r["hit"].as_bool()))
        .collect();
    assert_eq!(&ops[..3], [("jt_acme", "get", Some(false)); 3]);
    assert_eq!(&ops[3..5], [("jt_acme", "set", None); 2]);
    assert_eq!(&ops[5..9], [("jt_acme", "get", Some(true)); 4]);
    assert_eq!(ops[9], ("acme_second", "get", Some(false)));
    let total_out: i64 = records
        .iter()
        .map(|r| r["bytes_out"].as_i64().unwrap())
        .sum();
    let total_in: i64 = records
        .iter()
        .map(|r| r["bytes_in"].as_i64().unwrap())
        .sum();
    assert_eq!((total_out, total_in), (served, sent));
    assert!(records
        .iter()
        .all(|r| r["status"] == 200 || r["status"] == 201));
    assert_eq!(records[0]["key_id"], acme["key_id"]);
    assert_eq!(records[9]["key_id"], second["key_id"]);
    let (_, limited) = app
        .root_json(Method::GET, "/api/usage/acme/records?limit=2", None)
        .await;
    assert_eq!(limited["records"].as_array().unwrap().len(), 2);
    let (status, bad) = app
        .root_json(Method::GET, "/api/usage/acme/records?limit=0", None)
        .await;
    assert_eq!(
        (status.as_u16(), bad["error"]["code"].as_str()),
        (422, Some("VALIDATION_ERROR"))
    );
    let (status, _) = app
        .root_json(Method::GET, "/api/usage/nobody/records", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn usage_survives_a_graceful_restart_without_an_explicit_flush() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    for i in 0..7 {
        app.cache_get(&key, "jt_acme", &format!("q{i}")).await;
    }
    let store = app.stop().await;
    let app = spawn_app_in(store).await;
    let (_, usage) = app.root_json(Method::GET, "/api/usage/acme", None).await;
    assert_eq!(usage["total"]["requests"], 7);
    assert_eq!(usage["total"]["misses"], 7);
}

#[tokio::test]
async fn refused_requests_are_counted_apart_and_not_against_the_quota() {
    let app = spawn_app().await;
    let body = app
        .provision(json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "pro", "rate_limit": 2}))
        .await;
    let key = s(&body["api_key"]).to_string();
    for _ in 0..4 {
        app.cache_get(&key, "jt_acme", "q").await;
    }
    app.flush_usage().await;
    let (_, usage) = app.root_json(Method::GET, "/api/usage/acme", None).await;
    assert_eq!(usage["total"]["requests"], 4);
    assert_eq!(usage["total"]["rejected"], 2);
}

#[tokio::test]
async fn savings_follow_the_stated_assumptions() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    let key = s(&acme["api_key"]).to_string();
    app.cache_set(&key, "jt_acme", "big", json!("x".repeat(100_000)))
        .await;
    let mut hit_bytes = 0;
    for _ in 0..10 {
        hit_bytes += app.cache_get(&key, "jt_acme", "big").await.len;
    }
    app.flush_usage().await;
    let (status, v) = app
        .root_json(
            Method::GET,
            "/api/savings/acme?origin_egress_per_gb_micros=1000000000&cache_cost_per_million_requests_micros=1000000&cache_egress_per_gb_micros=0",
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["hit_bytes"], hit_bytes);
    // $1000 per GB of origin egress avoided: 1 micro-dollar per byte.
    assert_eq!(v["avoided_micros"], hit_bytes);
    // $1 per million requests: 11 requests.
    assert_eq!(v["cache_cost_micros"], 11);
    assert_eq!(v["net_savings_micros"], hit_bytes - 11);
    assert_eq!(
        v["assumptions"]["origin_egress_per_gb_micros"],
        1_000_000_000
    );

    let (status, _) = app
        .root_json(
            Method::GET,
            "/api/savings/acme?cache_egress_per_gb_micros=-1",
            None,
        )
        .await;
    assert_eq!(status, 422);
    let (status, e): (_, Value) = app.root_json(Method::GET, "/api/usage/nobody", None).await;
    assert_eq!(status, 404, "{e}");
}
