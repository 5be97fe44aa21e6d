//! Erasing a tenant: nothing of it is readable afterwards through any read
//! endpoint, except its invoices (legal retention) and the audit trail;
//! other tenants are untouched; sub-organisations are listed and moved.

use crate::costs::{event, ingest};
use crate::helpers::{s, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Every management read that can name or list a tenant's data.
fn reads(key_id: &str, period: &str) -> Vec<String> {
    [
        "/api/tenants",
        "/api/tenants/acme",
        "/api/tenants/acme/children",
        "/api/keys",
        "/api/keys?tenant_id=acme",
        &format!("/api/keys/{key_id}"),
        "/api/namespaces",
        "/api/namespaces?tenant_id=acme",
        "/api/usage/acme",
        "/api/usage/acme/records",
        "/api/savings/acme",
        "/api/ratelimit/acme",
        &format!("/api/analytics/tpc/acme?period=monthly&from={period}-01"),
        "/api/analytics/forecast",
        "/api/analytics/forecast?tenant_id=acme",
        "/api/analytics/optimize",
        "/api/secrets",
        "/api/secrets?tenant_id=acme",
        "/api/stats",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect()
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = app.root(Method::GET, path, None).await;
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn an_erased_tenant_leaves_nothing_readable_but_its_invoices() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    let (key, key_id) = (
        s(&acme["api_key"]).to_string(),
        s(&acme["key_id"]).to_string(),
    );
    // Data of every kind: a cached response, data-plane usage, cost events
    // (last month, invoiced), and a provider secret.
    let set = app
        .cache_set(&key, "jt_acme", "hello", json!({"a": 1}))
        .await;
    assert!(set.status.is_success());
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hello").await.status,
        StatusCode::OK
    );
    app.flush_usage().await;
    let last_month = (chrono::Utc::now() - chrono::Duration::days(35))
        .format("%Y-%m-15T10:00:00Z")
        .to_string();
    let period = &last_month[..7];
    let (status, body) = ingest(
        &app,
        &json!([
            event(
                "e1",
                "acme",
                "acme-user-1",
                "openai",
                json!({"tokens_in": 1_000_000}),
                &last_month
            ),
            event(
                "e2",
                "globex",
                "globex-user-1",
                "openai",
                json!({"tokens_in": 1_000_000}),
                &last_month
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/secrets",
            Some(
                json!({"service": "openai", "kind": "managed", "tenant_id": "acme",
                        "value": "sk-acme-secret-value-123", "validate": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, invoices) = app
        .root_json(
            Method::POST,
            "/api/xero/generate-invoices",
            Some(json!({"period": period})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{invoices}");
    // Before: acme is readable everywhere (the test's markers really occur).
    let markers = [key_id.as_str(), "jt_acme", "acme-user-1", "sk-acme-secret"];
    let mut seen = std::collections::BTreeSet::<&str>::new();
    for path in reads(&key_id, period) {
        let (_, text) = get(&app, &path).await;
        seen.extend(markers.iter().copied().filter(|m| text.contains(m)));
    }
    assert_eq!(seen.len(), 3, "markers seen before: {seen:?}"); // never the secret value

    let (_, token) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(
                json!({"name": "acme only", "permissions": ["keys:read"], "tenant_scope": "acme"}),
            ),
        )
        .await;
    let scoped = s(&token["token"]).to_string();
    let (status, erased) = app
        .root_json(Method::DELETE, "/api/tenants/acme", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["keys"], 1);
    assert_eq!(erased["namespaces"], 1);
    assert_eq!(erased["cached_entries"], 1);
    assert_eq!(erased["provider_secrets"], 1);
    assert_eq!(erased["usage_events"], 1);
    assert!(erased["usage_records"].as_u64().unwrap() >= 2, "{erased}");

    // After: no read shows anything of acme; tenant-named reads are 404 or empty.
    for path in reads(&key_id, period) {
        let (status, text) = get(&app, &path).await;
        assert!(
            status.is_success() || status == StatusCode::NOT_FOUND,
            "{path}: {status} {text}"
        );
        if !status.is_success() {
            continue; // a 404 names what was asked for, nothing more
        }
        for m in markers {
            assert!(!text.contains(m), "{path} still shows {m}: {text}");
        }
        assert!(
            !text.contains("\"acme\""),
            "{path} still names acme: {text}"
        );
    }
    for path in ["/api/tenants/acme", &format!("/api/keys/{key_id}")] {
        assert_eq!(get(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(app.verify_code(&key, Some("jt_acme")).await, "NOT_FOUND");
    assert_eq!(
        app.cache_get(&key, "jt_acme", "hello").await.status,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = app
        .root_json(Method::POST, "/api/keys/openai/acme", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Kept: the invoice (legal retention) and the audit trail with one erase record.
    let (_, kept) = get(&app, &format!("/api/invoices?period={period}")).await;
    assert!(kept.contains("\"acme\""), "the invoice is kept: {kept}");
    let (_, trail) = app
        .root_json(
            Method::GET,
            "/api/audit?tenant_id=acme&action=tenant.erase",
            None,
        )
        .await;
    assert_eq!(trail["entries"].as_array().unwrap().len(), 1);

    // Globex is untouched.
    let (status, tpc) = app
        .root_json(
            Method::GET,
            &format!("/api/analytics/tpc/globex?period=monthly&from={period}-01"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(tpc.to_string().contains("globex-user-1"), "{tpc}");
    assert_eq!(get(&app, "/api/tenants/globex").await.0, StatusCode::OK);

    // The id is never issued again (its invoices keep it), and a token
    // restricted to it was revoked with it.
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/provision",
            Some(json!({"user_id": "acme", "integration": "files", "project_id": "jt"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "TENANT_ERASED");
    let (status, body) = app
        .client
        .get(app.url("/api/keys"))
        .bearer_auth(&scoped)
        .send()
        .await
        .map(|r| (r.status(), r))
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = body.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TOKEN_REVOKED");
}

#[tokio::test]
async fn sub_organisations_are_listed_moved_and_guard_their_parents_erasure() {
    let app = spawn_app().await;
    app.provision_tenant("holding").await;
    app.provision_tenant("other").await;
    app.provision(
        json!({"user_id": "sub-a", "integration": "files", "project_id": "jt",
                         "tier": "pro", "parent_id": "holding"}),
    )
    .await;
    let (_, kids) = app
        .root_json(Method::GET, "/api/tenants/holding/children", None)
        .await;
    let ids: Vec<&str> = kids["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(&t["id"]))
        .collect();
    assert_eq!(ids, ["sub-a"]);

    let (status, body) = app
        .root_json(Method::DELETE, "/api/tenants/holding", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "TENANT_HAS_CHILDREN");

    // Moving under a sub-organisation of itself is a cycle; under another tenant is fine.
    let (status, body) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/holding",
            Some(json!({"parent_id": "sub-a"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "PARENT_CYCLE");
    let (status, _) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/sub-a",
            Some(json!({"parent_id": "nobody"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, moved) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/sub-a",
            Some(json!({"parent_id": "other"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moved["parent_id"], "other");
    let (_, kids) = app
        .root_json(Method::GET, "/api/tenants/other/children", None)
        .await;
    assert_eq!(kids["children"].as_array().unwrap().len(), 1);
    let (status, top) = app
        .root_json(
            Method::PATCH,
            "/api/tenants/sub-a",
            Some(json!({"parent_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(top["parent_id"].is_null());
    let (status, _) = app
        .root_json(Method::DELETE, "/api/tenants/holding", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .root_json(Method::DELETE, "/api/tenants/holding", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
