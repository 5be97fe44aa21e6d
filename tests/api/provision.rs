use crate::helpers::{s, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn provision_creates_tenant_namespace_and_a_key_that_verifies() {
    let app = spawn_app().await;
    let body = app
        .provision(json!({
            "user_id": "acme", "integration": "files", "project_id": "jt",
            "tier": "pro", "rate_limit": 5000, "namespace": "jt_acme_main",
        }))
        .await;

    let key = s(&body["api_key"]);
    assert!(key.starts_with("ac_files_"), "{key}");
    assert!(s(&body["key_id"]).starts_with("key_"));
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(body["namespace"], "jt_acme_main");
    assert_eq!(body["tier"], "pro");
    assert_eq!(body["rate_limit"], 5000);
    assert!(key.starts_with(s(&body["display_prefix"])));

    let (status, tenant) = app.root_json(Method::GET, "/api/tenants/acme", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenant["plan"], "pro");
    assert_eq!(tenant["namespaces"][0]["name"], "jt_acme_main");
    assert_eq!(tenant["key_count"], 1);

    let v = app.verify(key, Some("jt_acme_main")).await;
    assert_eq!(v["valid"], true);
    assert_eq!(v["code"], "VALID");
    assert_eq!(v["key_id"], body["key_id"]);
    assert_eq!(v["tenant_id"], "acme");
    assert_eq!(v["tier"], "pro");
}

#[tokio::test]
async fn provision_without_namespace_derives_one_from_project_and_user() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    assert_eq!(body["namespace"], "jt_acme");
    assert_eq!(body["scopes"], json!(["jt_acme"]));
}

#[tokio::test]
async fn rate_limit_defaults_to_the_plans_monthly_quota() {
    let app = spawn_app().await;
    let free = app
        .provision(
            json!({"user_id": "f", "integration": "files", "project_id": "jt", "tier": "free"}),
        )
        .await;
    assert_eq!(free["rate_limit"], 10_000);
    let ent = app
        .provision(json!({"user_id": "e", "integration": "files", "project_id": "jt", "tier": "enterprise"}))
        .await;
    assert_eq!(ent["rate_limit"], 10_000_000);
}

#[tokio::test]
async fn the_full_key_is_never_shown_again_after_creation() {
    let app = spawn_app().await;
    let body = app.provision_tenant("acme").await;
    let key = s(&body["api_key"]).to_string();
    let secret_part = &key[key.len() - 20..];
    let key_id = s(&body["key_id"]);
    for path in [
        "/api/keys".to_string(),
        "/api/keys?tenant_id=acme".to_string(),
        format!("/api/keys/{key_id}"),
        "/api/tenants/acme".to_string(),
        format!("/api/audit?target={key_id}"),
    ] {
        let text = app
            .root(Method::GET, &path, None)
            .await
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(secret_part),
            "{path} leaked the secret: {text}"
        );
        assert!(
            text.contains(key_id) || path.contains("tenants"),
            "{path}: {text}"
        );
    }
}

#[tokio::test]
async fn provisioning_into_another_tenants_namespace_is_a_conflict() {
    let app = spawn_app().await;
    app.provision(json!({"user_id": "acme", "integration": "files", "project_id": "jt", "namespace": "shared"}))
        .await;
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/provision",
            Some(json!({"user_id": "evil", "integration": "files", "project_id": "jt", "namespace": "shared"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "NAMESPACE_TAKEN");
    // Nothing was half-written: the tenant "evil" was rolled back with the key.
    let (status, _) = app.root_json(Method::GET, "/api/tenants/evil", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_second_key_for_an_existing_tenant_must_not_change_its_plan() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/provision",
            Some(json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "free"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "PLAN_MISMATCH");

    let second = app
        .provision(json!({"user_id": "acme", "integration": "images", "project_id": "jt"}))
        .await;
    assert_eq!(second["tier"], "pro");
    assert_eq!(second["namespace"], "jt_acme");
    let (_, keys) = app
        .root_json(Method::GET, "/api/keys?tenant_id=acme", None)
        .await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn pooled_key_covers_pattern_namespaces_of_many_tenants() {
    let app = spawn_app().await;
    for (ns, tenant) in [("jt_customer_bob", "bob"), ("jt_customer_carol", "carol")] {
        let (status, body) = app
            .root_json(
                Method::POST,
                "/api/namespaces",
                Some(json!({"name": ns, "user_id": tenant, "sector": "media", "use_case": "thumbnails"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["tenant_id"], tenant);
    }
    let pooled = app
        .provision(json!({
            "user_id": "jt-platform", "integration": "files", "project_id": "jt",
            "tier": "enterprise", "scopes": ["jt_customer_*"],
        }))
        .await;
    assert_eq!(pooled["namespace"], serde_json::Value::Null);
    let key = s(&pooled["api_key"]);

    let bob = app.verify(key, Some("jt_customer_bob")).await;
    assert_eq!(bob["code"], "VALID");
    assert_eq!(bob["tenant_id"], "jt-platform");
    assert_eq!(bob["namespace_tenant_id"], "bob");
    let carol = app.verify(key, Some("jt_customer_carol")).await;
    assert_eq!(carol["namespace_tenant_id"], "carol");

    // A namespace outside the pattern, and one matching it that does not exist.
    app.provision_tenant("dave").await;
    assert_eq!(
        app.verify_code(key, Some("jt_dave")).await,
        "FORBIDDEN_NAMESPACE"
    );
    assert_eq!(
        app.verify_code(key, Some("jt_customer_nobody")).await,
        "FORBIDDEN_NAMESPACE"
    );
}

#[tokio::test]
async fn a_dedicated_key_cannot_touch_another_tenants_namespace() {
    let app = spawn_app().await;
    let acme = app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    assert_eq!(
        app.verify_code(s(&acme["api_key"]), Some("jt_globex"))
            .await,
        "FORBIDDEN_NAMESPACE"
    );
}

#[tokio::test]
async fn a_namespace_name_is_unique() {
    let app = spawn_app().await;
    let body = json!({"name": "jt_one", "user_id": "bob"});
    let (status, _) = app
        .root_json(Method::POST, "/api/namespaces", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) = app
        .root_json(Method::POST, "/api/namespaces", Some(body))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "NAMESPACE_EXISTS");
}

#[tokio::test]
async fn sub_organisations_need_an_existing_parent() {
    let app = spawn_app().await;
    let (status, err) = app
        .root_json(
            Method::POST,
            "/api/provision",
            Some(json!({"user_id": "acme-eu", "integration": "files", "project_id": "jt", "parent_id": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "TENANT_NOT_FOUND");

    app.provision_tenant("acme").await;
    app.provision(json!({"user_id": "acme-eu", "integration": "files", "project_id": "jt", "parent_id": "acme", "name": "Acme Europe"}))
        .await;
    let (_, tenant) = app
        .root_json(Method::GET, "/api/tenants/acme-eu", None)
        .await;
    assert_eq!(tenant["parent_id"], "acme");
    assert_eq!(tenant["name"], "Acme Europe");
}

#[tokio::test]
async fn tenants_list_pages_and_filters_by_plan() {
    let app = spawn_app().await;
    for t in ["a", "b", "c"] {
        app.provision_tenant(t).await;
    }
    app.provision(
        json!({"user_id": "d", "integration": "files", "project_id": "jt", "tier": "free"}),
    )
    .await;
    let (_, page) = app
        .root_json(Method::GET, "/api/tenants?limit=2&offset=1", None)
        .await;
    let ids: Vec<&str> = page["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(&t["id"]))
        .collect();
    assert_eq!(ids, ["b", "c"]);
    assert_eq!(page["total"], 4);
    let (_, free) = app
        .root_json(Method::GET, "/api/tenants?plan=free", None)
        .await;
    assert_eq!(free["total"], 1);
    assert_eq!(free["tenants"][0]["id"], "d");
}
