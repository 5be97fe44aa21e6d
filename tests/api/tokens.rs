//! Operator tokens: every management route needs the permission its OpenAPI
//! security requirement names (checked route by route against a token with
//! it and one without), tenant restrictions, expiry, revocation, no wildcard
//! secret access, the root token's switch, and the CLI.

use crate::helpers::{s, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Every permission a documented route needs (`metrics:read` guards
/// `/metrics`, outside the document: tests/api/automation.rs checks it).
const ALL: [&str; 16] = [
    "jobs:read",
    "jobs:write",
    "webhooks:read",
    "webhooks:write",
    "tenants:read",
    "tenants:write",
    "keys:read",
    "keys:write",
    "usage:write",
    "analytics:read",
    "billing:read",
    "billing:write",
    "secrets:read",
    "secrets:write",
    "tokens:write",
    "audit:read",
];

/// Creates a token with the root token; returns (secret, id).
async fn token(app: &TestApp, body: Value) -> (String, String) {
    let (status, created) = app.root_json(Method::POST, "/api/tokens", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        s(&created["token"]).to_string(),
        s(&created["id"]).to_string(),
    )
}

async fn token_with(app: &TestApp, permissions: &[&str], scope: Option<&str>) -> String {
    let mut body = json!({ "name": "test", "permissions": permissions });
    if let Some(scope) = scope {
        body["tenant_scope"] = json!(scope);
    }
    if scope.is_none() && permissions.contains(&"secrets:read") {
        body["all_tenants_secrets"] = json!(true);
    }
    token(app, body).await.0
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json");
    req = match body {
        Some(b) => req.json(&b),
        None => req.body("{}"),
    };
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Calls that authenticate with an API key or nothing: no operator permission.
const NOT_MANAGEMENT: [&str; 4] = [
    "/api/keys/verify",
    "/api/cache/get",
    "/api/cache/set",
    "/api/cache/invalidate",
];

#[tokio::test]
async fn every_route_needs_exactly_the_permission_its_document_names() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let needs: Vec<&str> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|req| req["operator_token"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if NOT_MANAGEMENT.contains(&path.as_str()) {
                assert!(needs.is_empty(), "{method} {path} is not a management call");
                continue;
            }
            assert_eq!(needs.len(), 1, "{method} {path} must name one permission");
            let needed = needs[0];
            assert!(ALL.contains(&needed), "{method} {path}: unknown {needed}");
            assert!(
                op["responses"]["403"].is_object(),
                "{method} {path} documents no 403"
            );
            seen.insert(needed);
            let concrete = path
                .replace("{id}", "acme")
                .replace("{tenant_id}", "acme")
                .replace("{service}", "openai")
                .replace("{name}", "pro")
                .replace("{number}", "KW-202601-ACME")
                .replace("{key_id}", "key_00000000000000000000000000000000");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();

            let others: Vec<&str> = ALL.iter().copied().filter(|p| *p != needed).collect();
            let without = token_with(&app, &others, None).await;
            let (status, body) = call(&app, &without, m.clone(), &concrete, None).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} without {needed}: {body}"
            );
            assert_eq!(
                body["error"]["code"], "PERMISSION_DENIED",
                "{method} {path}"
            );

            let with = token_with(&app, &[needed], None).await;
            let (status, body) = call(&app, &with, m, &concrete, None).await;
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{method} {path} with only {needed} answered {status}: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 45, "only {checked} routes checked");
    assert_eq!(
        seen.len(),
        ALL.len(),
        "a permission no route needs: {seen:?}"
    );
}

#[tokio::test]
async fn a_refusal_is_audited_under_the_token_that_was_refused() {
    let app = spawn_app().await;
    let (secret, id) = token(
        &app,
        json!({"name": "usage sender", "permissions": ["usage:write"]}),
    )
    .await;
    let (status, body) = call(&app, &secret, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "PERMISSION_DENIED");
    assert!(s(&body["error"]["message"]).contains("keys:read"));
    let (_, trail) = app
        .root_json(
            Method::GET,
            &format!("/api/audit?actor=token:{id}&action=access.refused"),
            None,
        )
        .await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["target"], "GET /api/keys");
    assert_eq!(entries[0]["detail"]["needs"], "keys:read");
    // What it may do is audited under its name too.
    let (status, _) = call(&app, &secret, Method::POST, "/api/usage/flush", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_tenant_restricted_token_reaches_only_its_tenants() {
    let app = spawn_app().await;
    let eu = app.provision_tenant("acme-eu").await;
    app.provision_tenant("acme-us").await;
    let globex = app.provision_tenant("globex").await;
    let reads = [
        "tenants:read",
        "tenants:write",
        "keys:read",
        "keys:write",
        "analytics:read",
        "billing:read",
        "secrets:read",
    ];
    let acme = token_with(&app, &reads, Some("acme-*")).await;

    let (status, list) = call(&app, &acme, Method::GET, "/api/tenants", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| s(&t["id"]))
        .collect();
    assert_eq!(ids, ["acme-eu", "acme-us"]);
    assert_eq!(list["total"], 2);

    for path in [
        "/api/tenants/globex",
        "/api/keys?tenant_id=globex",
        "/api/usage/globex",
        "/api/analytics/tpc/globex",
        "/api/ratelimit/globex",
    ] {
        let (status, body) = call(&app, &acme, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "TENANT_NOT_PERMITTED", "{path}");
    }
    let (status, _) = call(&app, &acme, Method::GET, "/api/tenants/acme-eu", None).await;
    assert_eq!(status, StatusCode::OK);

    // Keys: only its tenants' are listed, another tenant's cannot be touched.
    let (_, keys) = call(&app, &acme, Method::GET, "/api/keys", None).await;
    let tenants: BTreeSet<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(&k["tenant_id"]))
        .collect();
    assert_eq!(tenants, BTreeSet::from(["acme-eu", "acme-us"]));
    let globex_key = s(&globex["key_id"]);
    let (status, _) = call(
        &app,
        &acme,
        Method::POST,
        &format!("/api/keys/{globex_key}/disable"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.verify_code(s(&globex["api_key"]), None).await, "VALID");
    let (status, _) = call(
        &app,
        &acme,
        Method::POST,
        &format!("/api/keys/{}/disable", s(&eu["key_id"])),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Provisioning: inside the prefix only, and no pooled keys.
    let body = json!({"user_id": "globex-2", "integration": "files", "project_id": "jt"});
    let (status, _) = call(&app, &acme, Method::POST, "/api/provision", Some(body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body = json!({"user_id": "acme-fr", "integration": "files", "project_id": "jt"});
    let (status, _) = call(&app, &acme, Method::POST, "/api/provision", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let body = json!({"user_id": "acme-de", "integration": "files", "project_id": "jt",
                      "scopes": ["jt_*"]});
    let (status, body) = call(&app, &acme, Method::POST, "/api/provision", Some(body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Platform-wide calls, and aggregates without a tenant, are refused.
    let (status, body) = call(&app, &acme, Method::GET, "/api/plans", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "TENANT_RESTRICTED");
    let (status, body) = call(&app, &acme, Method::GET, "/api/analytics/forecast", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "TENANT_REQUIRED");
    let (status, _) = call(
        &app,
        &acme,
        Method::GET,
        "/api/analytics/forecast?tenant_id=acme-us",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Secrets: another tenant's are refused, its own reach the vault.
    let (status, body) = call(&app, &acme, Method::POST, "/api/keys/openai/globex", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(&app, &acme, Method::POST, "/api/keys/openai/acme-us", None).await;
    assert!(
        status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
        "{status} {body}"
    );

    // A token for one tenant lists that tenant without naming it.
    let one = token_with(&app, &["keys:read"], Some("globex")).await;
    let (_, keys) = call(&app, &one, Method::GET, "/api/keys", None).await;
    let keys = keys["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["tenant_id"], "globex");
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused_on_their_next_request() {
    let app = spawn_app().await;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "old", "permissions": ["keys:read"], "expires_at": past})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (short, _) = token(
        &app,
        json!({"name": "short", "permissions": ["keys:read"], "expires_at": soon}),
    )
    .await;
    let (status, _) = call(&app, &short, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = call(&app, &short, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "TOKEN_EXPIRED");

    let (secret, id) = token(&app, json!({"name": "ci", "permissions": ["keys:read"]})).await;
    let (status, _) = call(&app, &secret, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, revoked) = app
        .root_json(Method::DELETE, &format!("/api/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["state"], "revoked");
    let (status, body) = call(&app, &secret, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "TOKEN_REVOKED");
    let (status, _) = app
        .root_json(Method::DELETE, &format!("/api/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A made-up token of the right shape is simply not valid.
    let fake = format!("kwt_{}", "A".repeat(40));
    let (status, body) = call(&app, &fake, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn tokens_are_shown_once_hold_no_more_than_their_creator_and_note_their_use() {
    let app = spawn_app().await;
    let (secret, id) = token(
        &app,
        json!({"name": "token admin", "permissions": ["tokens:write", "keys:read"]}),
    )
    .await;
    assert!(secret.starts_with("kwt_") && secret.len() == 44);
    let (status, body) = call(
        &app,
        &secret,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "more", "permissions": ["keys:write"]})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "PERMISSION_NOT_HELD");
    let (status, _) = call(
        &app,
        &secret,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "less", "permissions": ["keys:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // No wildcard secret access: secrets:read over every tenant only by name.
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "reader", "permissions": ["secrets:read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/tokens",
            Some(json!({"name": "reader", "permissions": ["secrets:read"],
                        "all_tenants_secrets": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["reads_every_tenants_secrets"], true);
    for bad in [
        json!({"name": "x", "permissions": []}),
        json!({"name": "x", "permissions": ["*"]}),
        json!({"name": "", "permissions": ["keys:read"]}),
        json!({"name": "x", "permissions": ["keys:read"], "tenant_scope": "a b"}),
        json!({"name": "x", "permissions": ["keys:read"], "tenant_scope": ""}),
        json!({"name": "x", "permissions": ["keys:read"], "extra": 1}),
    ] {
        let (status, body) = app
            .root_json(Method::POST, "/api/tokens", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }

    // Listed without the secret; last use noted (in the background).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, list) = app.root_json(Method::GET, "/api/tokens", None).await;
        let text = list.to_string();
        assert!(!text.contains(&secret[4..]), "a secret is listed");
        let mine = list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap()
            .clone();
        assert_eq!(mine["display_prefix"], &secret[..10]);
        if !mine["last_used_at"].is_null() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "last use never noted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_root_token_turns_off_only_once_an_operator_token_can_manage_tokens() {
    let app = spawn_app().await;
    let off = json!({"enabled": false});
    let (status, body) = app
        .root_json(Method::PUT, "/api/root-token", Some(off.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "NO_OPERATOR_TOKEN");
    // A restricted token does not count: it could not mint an unrestricted one.
    token_with(&app, &["tokens:write"], Some("acme")).await;
    let (status, _) = app
        .root_json(Method::PUT, "/api/root-token", Some(off.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let admin = token_with(&app, &["tokens:write"], None).await;
    let (status, _) = app
        .root_json(Method::PUT, "/api/root-token", Some(off.clone()))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.root_json(Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "ROOT_TOKEN_DISABLED");
    let (status, state) = call(&app, &admin, Method::GET, "/api/root-token", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["enabled"], false);

    // Recovery from the store, as the README says: the CLI turns it on.
    let out = app.cli(&["tokens", "root-token", "on"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = app.root_json(Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, trail) = app
        .root_json(Method::GET, "/api/audit?target=root", None)
        .await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert_eq!(actions, ["root_token.enable", "root_token.disable"]);
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_tokens() {
    let app = spawn_app().await;
    let out = app
        .cli(&[
            "tokens",
            "create",
            "--name",
            "finance export",
            "--permission",
            "billing:read,audit:read",
            "--json",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = s(&created["token"]).to_string();
    let id = s(&created["id"]).to_string();
    assert_eq!(
        created["permissions"],
        json!(["billing:read", "audit:read"])
    );
    let (status, _) = call(&app, &secret, Method::GET, "/api/invoices", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, &secret, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let out = app.cli(&["tokens", "list"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&id) && table.contains("finance export"),
        "{table}"
    );
    assert!(!table.contains(&secret[4..]));

    let out = app.cli(&["tokens", "revoke", &id]).await;
    assert!(out.status.success());
    let (status, _) = call(&app, &secret, Method::GET, "/api/invoices", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let out = app
        .cli(&["tokens", "create", "--name", "x", "--permission", "keys:*"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown permission"));
}

#[tokio::test]
async fn a_token_cannot_hand_out_secret_access_outlive_its_creator_or_reach_a_richer_pool() {
    let app = spawn_app().await;
    // Giving a key secrets:read needs secrets:read.
    let provisioner = token_with(&app, &["tenants:write", "keys:write", "keys:read"], None).await;
    let body = json!({"user_id": "acme", "integration": "files", "project_id": "jt",
                      "permissions": ["secrets:read"]});
    let (status, refused) = call(
        &app,
        &provisioner,
        Method::POST,
        "/api/provision",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "PERMISSION_NOT_HELD");
    let body =
        json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "free"});
    let (status, made) = call(
        &app,
        &provisioner,
        Method::POST,
        "/api/provision",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/keys/{}", s(&made["key_id"]));
    let patch = json!({"permissions": ["secrets:read"]});
    let (status, _) = call(&app, &provisioner, Method::PATCH, &path, Some(patch)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A token's tokens expire no later than it, and go when it is revoked.
    let in_an_hour = chrono::Utc::now() + chrono::Duration::hours(1);
    let (parent, parent_id) = token(
        &app,
        json!({"name": "short", "permissions": ["tokens:write", "keys:read"],
               "expires_at": in_an_hour.to_rfc3339()}),
    )
    .await;
    let later = (in_an_hour + chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = call(
        &app,
        &parent,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "longer", "permissions": ["keys:read"], "expires_at": later})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, child) = call(
        &app,
        &parent,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "child", "permissions": ["keys:read"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let capped = chrono::DateTime::parse_from_rfc3339(s(&child["expires_at"])).unwrap();
    assert!(
        (capped.timestamp() - in_an_hour.timestamp()).abs() <= 1,
        "{child}"
    );
    let child_secret = s(&child["token"]).to_string();
    let (status, _) = call(&app, &child_secret, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, revoked) = app
        .root_json(Method::DELETE, &format!("/api/tokens/{parent_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["state"], "revoked");
    let (status, body) = call(&app, &child_secret, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "TOKEN_REVOKED");

    // A token scoped to a free tenant does not read the enterprise pool.
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/secrets",
            Some(
                json!({"service": "openai", "kind": "pooled", "tier": "enterprise",
                        "value": "pool-enterprise-key", "validate": false}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let reader = token_with(&app, &["secrets:read"], Some("acme")).await;
    let (status, body) = call(
        &app,
        &reader,
        Method::POST,
        "/api/keys/openai/acme",
        Some(json!({"tier": "enterprise"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.to_string().contains("pool-enterprise-key"));
}
