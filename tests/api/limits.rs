use crate::helpers::{engine_is_postgres, s, spawn_app, spawn_app_in, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

const MB: i64 = 1024 * 1024;

async fn free_tenant(app: &TestApp, tenant: &str) -> String {
    let body = app
        .provision(
            json!({"user_id": tenant, "integration": "files", "project_id": "jt", "tier": "free"}),
        )
        .await;
    s(&body["api_key"]).to_string()
}

#[tokio::test]
async fn requests_over_the_per_second_limit_get_429_with_rate_limit_headers() {
    let app = spawn_app().await;
    app.set_plan("free", 1000, 2, 5, MB).await;
    let key = free_tenant(&app, "acme").await;

    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..5 {
        let call = app.cache_get(&key, "jt_acme", "q").await;
        statuses.push(call.status.as_u16());
        if call.status == StatusCode::TOO_MANY_REQUESTS {
            refused.get_or_insert(call);
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    let r = refused.unwrap();
    assert_eq!(r.code(), "RATE_LIMITED");
    assert_eq!(r.header("ratelimit-limit"), Some("2"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1).contains(&retry), "retry after {retry}");
    assert!(r.header("ratelimit-reset").is_some());

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.cache_get(&key, "jt_acme", "q").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_monthly_quota_holds_and_survives_a_restart() {
    let app = spawn_app().await;
    let body = app
        .provision(json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "pro", "rate_limit": 3}))
        .await;
    let key = s(&body["api_key"]).to_string();
    for i in 0..2 {
        let call = app.cache_get(&key, "jt_acme", "q").await;
        assert_eq!(call.status, StatusCode::OK);
        assert_eq!(
            call.header("ratelimit-remaining"),
            Some((2 - i).to_string().as_str())
        );
    }
    let store = app.stop().await;
    let app = spawn_app_in(store).await;
    assert_eq!(
        app.cache_get(&key, "jt_acme", "q").await.status,
        StatusCode::OK,
        "third of three"
    );
    let over = app.cache_get(&key, "jt_acme", "q").await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.code(), "MONTHLY_QUOTA_EXCEEDED");
    assert_eq!(over.header("ratelimit-limit"), Some("3"));
    let reset: i64 = over.header("ratelimit-reset").unwrap().parse().unwrap();
    let next_month = keyward::domain::limits::next_month_start(chrono::Utc::now());
    let expected = (next_month - chrono::Utc::now()).num_seconds();
    assert!((reset - expected).abs() <= 5, "reset {reset} vs {expected}");
    assert_eq!(over.header("retry-after"), over.header("ratelimit-reset"));

    let (_, state) = app
        .root_json(Method::GET, "/api/ratelimit/acme", None)
        .await;
    let monthly = &state["keys"][0]["monthly"];
    assert_eq!(
        (
            monthly["limit"].as_i64(),
            monthly["used"].as_i64(),
            monthly["remaining"].as_i64()
        ),
        (Some(3), Some(3), Some(0))
    );
}

#[tokio::test]
async fn bodies_over_the_plans_payload_limit_get_413_and_store_nothing() {
    let app = spawn_app().await;
    app.set_plan("free", 1000, 100, 5, 2000).await;
    let key = free_tenant(&app, "acme").await;
    let big = app
        .cache_set(&key, "jt_acme", "q", json!("x".repeat(3000)))
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.code(), "PAYLOAD_TOO_LARGE");
    assert_eq!(app.cache_get(&key, "jt_acme", "q").await.body["hit"], false);
    let small = app
        .cache_set(&key, "jt_acme", "q", json!("x".repeat(500)))
        .await;
    assert_eq!(small.status, StatusCode::CREATED);
}

/// Holds the store's cache table locked, so cache writes wait while it lives.
async fn lock_cache_writes(app: &TestApp) -> Box<dyn std::any::Any + Send> {
    use sqlx::Connection;
    if engine_is_postgres() {
        let mut conn = sqlx::PgConnection::connect(&app.engine_url().unwrap())
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("LOCK TABLE cache_entries IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        Box::new(conn)
    } else {
        let url = format!("sqlite://{}", app.sqlite_path().display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut conn)
            .await
            .unwrap();
        Box::new(conn)
    }
}

#[tokio::test]
async fn requests_over_the_concurrency_limit_get_429_while_others_are_in_flight() {
    let app = spawn_app().await;
    app.set_plan("free", 1000, 100, 2, MB).await;
    let key = free_tenant(&app, "acme").await;
    app.cache_set(&key, "jt_acme", "warm", json!("w")).await;

    let lock = lock_cache_writes(&app).await;
    // Two slow writes take both places in flight.
    let slow = [
        tokio::spawn({
            let (app_url, key) = (app.url("/api/cache/set"), key.clone());
            async move { slow_set(&app_url, &key, "a").await }
        }),
        tokio::spawn({
            let (app_url, key) = (app.url("/api/cache/set"), key.clone());
            async move { slow_set(&app_url, &key, "b").await }
        }),
    ];
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let third = app.cache_get(&key, "jt_acme", "warm").await;
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.body
    );
    assert_eq!(third.code(), "TOO_MANY_CONCURRENT_REQUESTS");
    assert_eq!(third.header("ratelimit-limit"), Some("2"));

    drop(lock);
    for s in slow {
        assert_eq!(s.await.unwrap(), 201);
    }
    assert_eq!(
        app.cache_get(&key, "jt_acme", "warm").await.status,
        StatusCode::OK
    );
}

async fn slow_set(url: &str, key: &str, content: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(
            &json!({"provider": "openai", "model": "gpt-4o", "namespace": "jt_acme",
            "messages": [{"role": "user", "content": content}], "response": "r"}),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn on_a_pooled_key_one_tenant_cannot_starve_another() {
    let app = spawn_app().await;
    app.set_plan("free", 4, 2, 5, MB).await;
    for (ns, tenant) in [("jt_customer_bob", "bob"), ("jt_customer_carol", "carol")] {
        let (status, _) = app
            .root_json(
                Method::POST,
                "/api/namespaces",
                Some(json!({"name": ns, "user_id": tenant})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let pooled = app
        .provision(
            json!({"user_id": "jt-platform", "integration": "files", "project_id": "jt",
            "tier": "enterprise", "scopes": ["jt_customer_*"]}),
        )
        .await;
    let key = s(&pooled["api_key"]);

    // Bob exhausts his per-second allowance...
    let bob: Vec<u16> =
        futures::future::join_all((0..4).map(|_| app.cache_get(key, "jt_customer_bob", "q")))
            .await
            .iter()
            .map(|c| c.status.as_u16())
            .collect();
    assert!(bob.contains(&429), "{bob:?}");
    // ...and Carol is untouched.
    assert_eq!(
        app.cache_get(key, "jt_customer_carol", "q").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.cache_get(key, "jt_customer_carol", "q").await.status,
        StatusCode::OK
    );

    // Monthly quotas are per tenant too: bob used 2 of 4.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.cache_get(key, "jt_customer_bob", "q").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.cache_get(key, "jt_customer_bob", "q").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.cache_get(key, "jt_customer_bob", "q").await.code(),
        "MONTHLY_QUOTA_EXCEEDED"
    );
    assert_eq!(
        app.cache_get(key, "jt_customer_carol", "q").await.status,
        StatusCode::OK
    );

    let (_, state) = app.root_json(Method::GET, "/api/ratelimit/bob", None).await;
    assert_eq!(state["plan"], "free");
    let k = &state["keys"][0];
    assert_eq!(k["pooled"], true);
    assert_eq!(k["key_tenant_id"], "jt-platform");
    assert_eq!(k["monthly"]["used"], 4);
    assert_eq!(k["monthly"]["remaining"], 0);
    assert_eq!(k["per_second"]["limit"], 2);
    assert_eq!(k["concurrent"]["limit"], 5);
    assert_eq!(k["max_payload_bytes"], MB);
}

#[tokio::test]
async fn plans_are_seeded_with_the_designs_figures_and_editable() {
    let app = spawn_app().await;
    let (_, plans) = app.root_json(Method::GET, "/api/plans", None).await;
    assert_eq!(
        plans["plans"],
        json!([
            {"name": "free", "requests_per_month": 10000, "requests_per_second": 10, "concurrent_requests": 5, "max_payload_bytes": 10 * MB, "max_cached_bytes": 100 * MB},
            {"name": "pro", "requests_per_month": 100000, "requests_per_second": 50, "concurrent_requests": 20, "max_payload_bytes": 100 * MB, "max_cached_bytes": 10 * 1024 * MB},
            {"name": "enterprise", "requests_per_month": 10000000, "requests_per_second": 500, "concurrent_requests": 100, "max_payload_bytes": 1024 * MB, "max_cached_bytes": 200 * 1024 * MB},
        ])
    );
    let (status, err) = app
        .root_json(Method::PUT, "/api/plans/free", Some(json!({"requests_per_month": 0, "requests_per_second": 1, "concurrent_requests": 1, "max_payload_bytes": 1})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    app.set_plan("pro", 5, 6, 7, 8).await;
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?action=plan.update", None)
        .await;
    assert_eq!(trail["entries"][0]["target"], "pro");
}

/// The tenant's cached bytes as the rate-limit state reports them.
async fn storage(app: &TestApp, tenant: &str) -> (i64, i64) {
    let (status, state) = app
        .root_json(Method::GET, &format!("/api/ratelimit/{tenant}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    (
        state["storage"]["used_bytes"].as_i64().unwrap(),
        state["storage"]["quota_bytes"].as_i64().unwrap(),
    )
}

/// A cached response whose stored JSON text is exactly `len` bytes.
fn response_of(len: usize) -> serde_json::Value {
    // {"t":"..."} is 8 bytes around the text.
    json!({ "t": "x".repeat(len - 8) })
}

#[tokio::test]
async fn cached_bytes_are_held_to_the_plans_storage_quota_across_namespaces() {
    let app = spawn_app().await;
    let (status, plan) = app
        .root_json(
            Method::PUT,
            "/api/plans/free",
            Some(json!({
                "requests_per_month": 1000, "requests_per_second": 1000,
                "concurrent_requests": 50, "max_payload_bytes": MB, "max_cached_bytes": 3000,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["max_cached_bytes"], 3000);
    let body = app
        .provision(
            json!({"user_id": "acme", "integration": "files", "project_id": "jt",
                          "tier": "free", "namespace": "acme_main", "scopes": ["acme_*"]}),
        )
        .await;
    let key = s(&body["api_key"]).to_string();
    let (status, ns) = app
        .root_json(
            Method::POST,
            "/api/namespaces",
            Some(json!({"name": "acme_docs", "user_id": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ns}");
    let other = free_tenant(&app, "beta").await;
    assert_eq!(storage(&app, "acme").await, (0, 3000));

    // Two namespaces of one tenant share its quota.
    let a = app
        .cache_set(&key, "acme_main", "a", response_of(1000))
        .await;
    assert!(a.status.is_success(), "{}", a.body);
    let b = app
        .cache_set(&key, "acme_docs", "b", response_of(1000))
        .await;
    assert!(b.status.is_success(), "{}", b.body);
    assert_eq!(storage(&app, "acme").await.0, 2000);

    let over = app
        .cache_set(&key, "acme_docs", "c", response_of(1500))
        .await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", over.body);
    assert_eq!(over.code(), "STORAGE_QUOTA_EXCEEDED");
    assert!(
        over.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3000"),
        "{}",
        over.body
    );
    assert_eq!(storage(&app, "acme").await.0, 2000, "nothing half-written");
    let miss = app.cache_get(&key, "acme_docs", "c").await;
    assert_eq!(miss.body["hit"], false, "{}", miss.body);

    // Another tenant's quota is its own.
    let theirs = app
        .cache_set(&other, "jt_beta", "a", response_of(2500))
        .await;
    assert!(theirs.status.is_success(), "{}", theirs.body);
    assert_eq!(storage(&app, "beta").await.0, 2500);

    // Replacing an entry counts its new size only; removing frees its bytes.
    let smaller = app
        .cache_set(&key, "acme_main", "a", response_of(500))
        .await;
    assert!(smaller.status.is_success());
    assert_eq!(storage(&app, "acme").await.0, 1500);
    let fits = app
        .cache_set(&key, "acme_docs", "c", response_of(1500))
        .await;
    assert!(fits.status.is_success(), "{}", fits.body);
    assert_eq!(storage(&app, "acme").await.0, 3000);
    let gone = app
        .data(
            "/api/cache/invalidate",
            &key,
            json!({"namespace": "acme_docs", "all": true}),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert_eq!(storage(&app, "acme").await.0, 500);

    // Writers racing for the last bytes never pass the quota together.
    let key = std::sync::Arc::new(key);
    let app = std::sync::Arc::new(app);
    let racers: Vec<_> = (0..12)
        .map(|i| {
            let (app, key) = (app.clone(), key.clone());
            tokio::spawn(async move {
                app.cache_set(&key, "acme_docs", &format!("r{i}"), response_of(1000))
                    .await
                    .status
            })
        })
        .collect();
    let mut stored = 0;
    for r in racers {
        match r.await.unwrap() {
            s if s.is_success() => stored += 1,
            StatusCode::PAYLOAD_TOO_LARGE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(stored, 2, "2 of 12 fit in the 2500 bytes left");
    assert_eq!(storage(&app, "acme").await.0, 2500);
}

/// A pooled key over `jt_customer_*` serving bob and carol (free plan).
async fn pooled_over_two_tenants(app: &TestApp, overall: serde_json::Value) -> (String, String) {
    for (ns, tenant) in [("jt_customer_bob", "bob"), ("jt_customer_carol", "carol")] {
        let (status, _) = app
            .root_json(
                Method::POST,
                "/api/namespaces",
                Some(json!({"name": ns, "user_id": tenant})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut body = json!({"user_id": "jt-platform", "integration": "files", "project_id": "jt",
        "tier": "enterprise", "scopes": ["jt_customer_*"]});
    for (k, v) in overall.as_object().unwrap() {
        body[k] = v.clone();
    }
    let pooled = app.provision(body).await;
    (
        s(&pooled["api_key"]).to_string(),
        s(&pooled["key_id"]).to_string(),
    )
}

#[tokio::test]
async fn a_pooled_keys_overall_monthly_quota_holds_across_its_tenants() {
    let app = spawn_app().await;
    app.set_plan("free", 100, 100, 5, MB).await;
    let (key, key_id) =
        pooled_over_two_tenants(&app, json!({"overall_requests_per_month": 3})).await;
    for ns in ["jt_customer_bob", "jt_customer_bob", "jt_customer_carol"] {
        let call = app.cache_get(&key, ns, "q").await;
        assert_eq!(call.status, StatusCode::OK, "{:?}", call.body);
    }
    // The fourth, whichever tenant, is the key's: 429 naming the key's quota.
    for ns in ["jt_customer_carol", "jt_customer_bob"] {
        let call = app.cache_get(&key, ns, "q").await;
        assert_eq!(call.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(call.code(), "KEY_MONTHLY_QUOTA_EXCEEDED");
        assert_eq!(call.header("ratelimit-limit"), Some("3"));
        assert!(call.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("all its tenants"));
    }
    // What the key refused is not charged to the tenant's own quota.
    let (_, state) = app.root_json(Method::GET, "/api/ratelimit/bob", None).await;
    let k = &state["keys"][0];
    assert_eq!(k["monthly"]["used"], 2, "{state}");
    assert_eq!(k["overall_monthly"]["limit"], 3, "{state}");
    assert_eq!(k["overall_monthly"]["used"], 3, "{state}");
    assert!(k.get("overall_per_second").is_none(), "{state}");

    // Raised on the key: in force on the next request.
    let (status, view) = app
        .root_json(
            Method::PATCH,
            &format!("/api/keys/{key_id}"),
            Some(json!({"overall_requests_per_month": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["overall_requests_per_month"], 4);
    let call = app.cache_get(&key, "jt_customer_carol", "q").await;
    assert_eq!(call.status, StatusCode::OK);
    // The tighter quota is the one the headers report: the key's, 0 left.
    assert_eq!(call.header("ratelimit-limit"), Some("4"));
    assert_eq!(call.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        app.cache_get(&key, "jt_customer_bob", "q").await.code(),
        "KEY_MONTHLY_QUOTA_EXCEEDED"
    );
    // Removed: only the tenants' own plans apply again.
    let (status, view) = app
        .root_json(
            Method::PATCH,
            &format!("/api/keys/{key_id}"),
            Some(json!({"overall_requests_per_month": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(view["overall_requests_per_month"].is_null());
    assert_eq!(
        app.cache_get(&key, "jt_customer_bob", "q").await.status,
        StatusCode::OK
    );
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?action=key.update", None)
        .await;
    assert_eq!(
        trail["entries"][0]["detail"]["changed"],
        json!(["overall_requests_per_month"])
    );
}

#[tokio::test]
async fn a_pooled_keys_overall_per_second_figure_holds_across_its_tenants() {
    let app = spawn_app().await;
    // Each tenant alone may send 100 a second; the key carries 2 for all.
    app.set_plan("free", 1000, 100, 50, MB).await;
    let (key, _) = pooled_over_two_tenants(&app, json!({"overall_requests_per_second": 2})).await;
    let calls = futures::future::join_all((0..6).map(|i| {
        let ns = if i % 2 == 0 {
            "jt_customer_bob"
        } else {
            "jt_customer_carol"
        };
        app.cache_get(&key, ns, "q")
    }))
    .await;
    let ok = calls.iter().filter(|c| c.status == StatusCode::OK).count();
    assert!((2..=3).contains(&ok), "{ok} admitted");
    let refused: Vec<&str> = calls
        .iter()
        .filter(|c| c.status != StatusCode::OK)
        .map(|c| c.code())
        .collect();
    assert!(
        refused.iter().all(|c| *c == "KEY_RATE_LIMITED"),
        "{refused:?}"
    );
    let one = calls
        .iter()
        .find(|c| c.code() == "KEY_RATE_LIMITED")
        .unwrap();
    assert_eq!(one.header("retry-after"), Some("1"));
    // A tenant's refused requests are not charged to its monthly count.
    let (_, state) = app.root_json(Method::GET, "/api/ratelimit/bob", None).await;
    let bob_ok = calls
        .iter()
        .enumerate()
        .filter(|(i, c)| i % 2 == 0 && c.status == StatusCode::OK)
        .count();
    assert_eq!(
        state["keys"][0]["monthly"]["used"], bob_ok as i64,
        "{state}"
    );
    assert_eq!(
        state["keys"][0]["overall_per_second"]["limit"], 2,
        "{state}"
    );
}

#[tokio::test]
async fn overall_limits_out_of_range_are_refused_with_the_field() {
    let app = spawn_app().await;
    for (field, value) in [
        ("overall_requests_per_second", json!(0)),
        ("overall_requests_per_second", json!(10_000_001)),
        ("overall_requests_per_month", json!(-1)),
        ("overall_requests_per_month", json!(0)),
    ] {
        let (status, err) = app
            .root_json(
                Method::POST,
                "/api/provision",
                Some(json!({"user_id": "acme", "integration": "files", "project_id": "jt", field: value})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let plain = app
        .provision(json!({"user_id": "acme", "integration": "files", "project_id": "jt"}))
        .await;
    let (status, err) = app
        .root_json(
            Method::PATCH,
            &format!("/api/keys/{}", s(&plain["key_id"])),
            Some(json!({"overall_requests_per_second": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["field"], "overall_requests_per_second");
}
