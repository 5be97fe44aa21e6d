//! The provider secret vault over HTTP (adapters against local stubs), and
//! its CLI as a process.

use crate::helpers::{engine_is_postgres, s, spawn_app, TestApp, ROOT_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn put_secret(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.root_json(Method::PUT, "/api/secrets", Some(body)).await
}

async fn resolve_as(
    app: &TestApp,
    token: &str,
    service: &str,
    tenant: &str,
) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/keys/{service}/{tenant}")))
        .bearer_auth(token)
        .json(&json!({"userId": "u1"}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn resolve(app: &TestApp, service: &str, tenant: &str) -> (StatusCode, Value) {
    resolve_as(app, ROOT_TOKEN, service, tenant).await
}

async fn sql(app: &TestApp, statement: &str) {
    sqlx::query(statement)
        .execute(app.app_core.db().pool())
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

#[tokio::test]
async fn every_kind_round_trips_and_resolution_prefers_customer_then_managed_then_pool() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await; // pro
    let (status, _) = resolve(&app, "openai", "acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, pooled) = put_secret(
        &app,
        json!({"service": "openai", "kind": "pooled", "tier": "pro", "value": "pool-pro-key-1", "validate": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pooled}");
    assert_eq!(pooled["name"], "ai-openai-pool-pro");
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (got["key"].as_str(), got["source"].as_str()),
        (Some("pool-pro-key-1"), Some("pooled"))
    );

    let (status, managed) = put_secret(
        &app,
        json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "valid-managed-acme"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{managed}");
    assert_eq!(managed["name"], "ai-openai-acme");
    assert_eq!(managed["last_validation"], "valid");
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (got["key"].as_str(), got["source"].as_str()),
        (Some("valid-managed-acme"), Some("managed"))
    );

    let (status, customer) = app
        .root_json(
            Method::PUT,
            "/api/keys/openai/acme/customer",
            Some(json!({"key": "valid-customer-acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{customer}");
    assert_eq!(customer["name"], "ai-openai-acme-customer");
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (got["key"].as_str(), got["source"].as_str()),
        (Some("valid-customer-acme"), Some("customer"))
    );

    // A second value is a new version; admin credentials are stored but never resolved.
    app.root_json(
        Method::PUT,
        "/api/keys/openai/acme/customer",
        Some(json!({"key": "valid-customer-acme-2"})),
    )
    .await;
    let (status, admin) = put_secret(
        &app,
        json!({"service": "openai", "kind": "admin", "tenant_id": "acme", "value": "admin-acme-openai", "validate": false}),
    )
    .await;
    assert_eq!(
        (status, admin["name"].as_str()),
        (StatusCode::OK, Some("ai-openai-acme-admin"))
    );
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (got["key"].as_str(), got["version"].as_i64()),
        (Some("valid-customer-acme-2"), Some(2))
    );

    // A tier asked for explicitly picks that tier's pool.
    put_secret(
        &app,
        json!({"service": "deepgram", "kind": "pooled", "tier": "free", "value": "pool-free-dg", "validate": false}),
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/keys/deepgram/acme"))
        .bearer_auth(ROOT_TOKEN)
        .json(&json!({"tier": "free"}))
        .send()
        .await
        .unwrap();
    let got: Value = res.json().await.unwrap();
    assert_eq!(got["key"], "pool-free-dg");

    // The listing names everything and shows no value.
    let (status, list) = app
        .root_json(Method::GET, "/api/secrets?tenant_id=acme", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| s(&m["name"]))
        .collect();
    assert_eq!(
        names,
        [
            "ai-openai-acme",
            "ai-openai-acme-admin",
            "ai-openai-acme-customer"
        ]
    );
    let text = list.to_string();
    for secret in [
        "valid-managed-acme",
        "valid-customer-acme",
        "admin-acme-openai",
    ] {
        assert!(!text.contains(secret), "a listing leaked {secret}");
    }
    let (_, all) = app.root_json(Method::GET, "/api/secrets", None).await;
    assert_eq!(all.as_array().unwrap().len(), 5);

    // Bad input: clear errors.
    let (status, err) = resolve(&app, "myspace", "acme").await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("service"))
    );
    let (status, _) = put_secret(
        &app,
        json!({"service": "openai", "kind": "pooled", "value": "x-long-enough"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = put_secret(&app, json!({"service": "openai", "kind": "managed", "tenant_id": "nobody", "value": "valid-123456", "validate": false})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = put_secret(
        &app,
        json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "short"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_tenant_key_reads_only_its_own_secrets_and_denials_are_audited() {
    let app = spawn_app().await;
    let reader = app
        .provision(
            json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "pro",
                          "permissions": ["secrets:read"]}),
        )
        .await;
    assert_eq!(reader["permissions"], json!(["secrets:read"]));
    let plain = app.provision_tenant("globex").await;
    for (tenant, value) in [
        ("acme", "valid-acme-secret"),
        ("globex", "valid-globex-secret"),
    ] {
        let (status, _) = put_secret(
            &app,
            json!({"service": "anthropic", "kind": "managed", "tenant_id": tenant, "value": value}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let acme_key = s(&reader["api_key"]);
    let (status, own) = resolve_as(&app, acme_key, "anthropic", "acme").await;
    assert_eq!(
        (status, own["key"].as_str()),
        (StatusCode::OK, Some("valid-acme-secret"))
    );

    let (status, err) = resolve_as(&app, acme_key, "anthropic", "globex").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("SECRET_ACCESS_DENIED"))
    );
    assert!(!err.to_string().contains("valid-globex-secret"));
    // A key without the permission reads nothing, not even its own tenant's.
    let (status, _) = resolve_as(&app, s(&plain["api_key"]), "anthropic", "globex").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = resolve_as(&app, "ac_files_not-a-key", "anthropic", "acme").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Reading is all a tenant key may do: administration is the root token's.
    for (method, path, body) in [
        (
            Method::PUT,
            "/api/keys/openai/acme/customer",
            json!({"key": "valid-sneaky-1"}),
        ),
        (Method::POST, "/api/keys/hume/acme/provision", json!({})),
        (Method::POST, "/api/keys/anthropic/acme/validate", json!({})),
        (Method::GET, "/api/secrets?tenant_id=acme", Value::Null),
        (
            Method::PUT,
            "/api/secrets",
            json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "valid-sneaky-2"}),
        ),
    ] {
        let mut req = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(acme_key);
        if !body.is_null() {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    let (_, own_audit) = app
        .root_json(Method::GET, "/api/audit?tenant_id=acme", None)
        .await;
    let denied_admin = own_audit.to_string().matches("\"denied\"").count();
    assert_eq!(denied_admin, 4, "{own_audit}");

    let (_, audit) = app
        .root_json(Method::GET, "/api/audit?tenant_id=globex", None)
        .await;
    let entries = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .cloned()
        .unwrap_or_default();
    let denied: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "secret.read" && e["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 2, "{audit}");
    assert_eq!(
        denied
            .iter()
            .filter(|e| e["actor"].as_str().unwrap().starts_with("key:"))
            .count(),
        2
    );
    let (_, acme_audit) = app
        .root_json(Method::GET, "/api/audit?tenant_id=acme", None)
        .await;
    let reads = acme_audit.to_string().matches("\"secret.read\"").count();
    assert_eq!(reads, 1, "the successful read is audited");
    assert!(!acme_audit.to_string().contains("valid-acme-secret"));
}

#[tokio::test]
async fn a_moved_or_tampered_ciphertext_does_not_open() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    app.provision_tenant("globex").await;
    for (tenant, value) in [("acme", "valid-acme-1"), ("globex", "valid-globex-1")] {
        put_secret(
            &app,
            json!({"service": "openai", "kind": "managed", "tenant_id": tenant, "value": value}),
        )
        .await;
    }
    // Copy acme's sealed value onto globex's row.
    sql(
        &app,
        "UPDATE provider_secrets SET nonce = (SELECT nonce FROM provider_secrets WHERE owner = 'acme'), \
         ciphertext = (SELECT ciphertext FROM provider_secrets WHERE owner = 'acme') WHERE owner = 'globex'",
    )
    .await;
    let (status, err) = resolve(&app, "openai", "globex").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("SECRET_UNREADABLE"))
    );
    assert!(!err.to_string().contains("valid-acme-1"));
    // acme's own row still opens; then tamper with it.
    let (status, _) = resolve(&app, "openai", "acme").await;
    assert_eq!(status, StatusCode::OK);
    sql(
        &app,
        "UPDATE provider_secrets SET ciphertext = 'AAAA' || ciphertext WHERE owner = 'acme'",
    )
    .await;
    let (status, err) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("SECRET_UNREADABLE"))
    );
    sql(
        &app,
        "UPDATE provider_secrets SET ciphertext = 'AAAA' WHERE owner = 'acme'",
    )
    .await;
    let (status, _) = resolve(&app, "openai", "acme").await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn each_adapter_validates_against_its_provider() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    for service in ["openai", "anthropic", "hume", "elevenlabs", "deepgram"] {
        let path = format!("/api/keys/{service}/acme/customer");
        let (status, ok) = app
            .root_json(
                Method::PUT,
                &path,
                Some(json!({"key": format!("valid-{service}-123")})),
            )
            .await;
        assert_eq!(
            (status, ok["last_validation"].as_str()),
            (StatusCode::OK, Some("valid")),
            "{service}: {ok}"
        );
        let (status, bad) = app
            .root_json(Method::PUT, &path, Some(json!({"key": "wrong-key-123456"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{service}: {bad}");
        let (status, down) = app
            .root_json(Method::PUT, &path, Some(json!({"key": "down-key-123456"})))
            .await;
        assert_eq!(
            (status, down["error"]["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("PROVIDER_UNAVAILABLE")
            ),
            "{service}"
        );
        // The refused and unchecked keys were not stored.
        let (_, got) = resolve(&app, service, "acme").await;
        assert_eq!(got["key"], format!("valid-{service}-123"));
    }
    // A provider slower than the timeout is "unavailable", not a hang.
    let started = std::time::Instant::now();
    let (status, _) = app
        .root_json(
            Method::PUT,
            "/api/keys/openai/acme/customer",
            Some(json!({"key": "slow-key-123456"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_millis(2900));
}

#[tokio::test]
async fn hume_keys_are_provisioned_with_admin_credentials_others_say_unsupported() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    let (status, err) = app
        .root_json(
            Method::POST,
            "/api/keys/hume/acme/provision",
            Some(json!({"requestedBy": "ops"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NO_ADMIN_KEY"))
    );
    put_secret(
        &app,
        json!({"service": "hume", "kind": "admin", "value": "valid-platform-admin"}),
    )
    .await;
    let (status, meta) = app
        .root_json(
            Method::POST,
            "/api/keys/hume/acme/provision",
            Some(json!({"requestedBy": "ops"})),
        )
        .await;
    assert_eq!(
        (status, meta["kind"].as_str()),
        (StatusCode::CREATED, Some("managed")),
        "{meta}"
    );
    let (_, first) = resolve(&app, "hume", "acme").await;
    assert!(s(&first["key"]).starts_with("valid-hume-minted-"));
    let (status, rotated) = app
        .root_json(Method::POST, "/api/keys/hume/acme/rotate", None)
        .await;
    assert_eq!(
        (status, rotated["version"].as_i64()),
        (StatusCode::OK, Some(2))
    );
    let (_, second) = resolve(&app, "hume", "acme").await;
    assert_ne!(first["key"], second["key"]);
    // The replaced key was revoked at the provider, by the provider's id.
    let id_of = |key: &Value| s(key).replace("valid-hume-minted-", "hk-");
    let revoked = crate::providers_stub::revoked();
    assert!(revoked.contains(&id_of(&first["key"])), "{revoked:?}");
    assert!(!revoked.contains(&id_of(&second["key"])), "{revoked:?}");
    let (_, trail) = app
        .root_json(
            Method::GET,
            "/api/audit?action=secret.revoke_at_provider",
            None,
        )
        .await;
    assert_eq!(trail["entries"][0]["outcome"], "success", "{trail}");
    assert_eq!(
        trail["entries"][0]["detail"]["provider_key_id"],
        id_of(&first["key"])
    );

    // The provider failing to revoke is recorded; the new key is in force anyway.
    put_secret(
        &app,
        json!({"service": "hume", "kind": "admin", "value": "valid-flaky-admin"}),
    )
    .await;
    let (status, _) = app
        .root_json(Method::POST, "/api/keys/hume/acme/rotate", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, third) = resolve(&app, "hume", "acme").await;
    assert_ne!(third["key"], second["key"]);
    assert!(!crate::providers_stub::revoked().contains(&id_of(&second["key"])));
    let (_, trail) = app
        .root_json(
            Method::GET,
            "/api/audit?action=secret.revoke_at_provider",
            None,
        )
        .await;
    assert_eq!(trail["entries"][0]["outcome"], "failed", "{trail}");
    assert_eq!(
        trail["entries"][0]["detail"]["provider_key_id"],
        id_of(&second["key"])
    );

    let (status, err) = app
        .root_json(Method::POST, "/api/keys/openai/acme/provision", None)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("PROVISIONING_UNSUPPORTED"))
    );
}

#[tokio::test]
async fn master_rotation_under_concurrent_reads_loses_nothing() {
    let app = spawn_app().await;
    let tenants: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for t in &tenants {
        app.provision_tenant(t).await;
        put_secret(
            &app,
            json!({"service": "elevenlabs", "kind": "managed", "tenant_id": t, "value": format!("valid-{t}-el")}),
        )
        .await;
    }
    let readers: Vec<_> = tenants
        .iter()
        .map(|t| {
            let (client, url, t) = (
                app.client.clone(),
                app.url(&format!("/api/keys/elevenlabs/{t}")),
                t.clone(),
            );
            tokio::spawn(async move {
                for _ in 0..25 {
                    let res = client
                        .post(&url)
                        .bearer_auth(ROOT_TOKEN)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                    let v: Value = res.json().await.unwrap();
                    assert_eq!(v["key"], format!("valid-{t}-el"));
                }
            })
        })
        .collect();
    let actor = keyward::domain::audit::Actor {
        name: "test".into(),
        request_id: "r".into(),
    };
    let (version, moved) = app
        .app_core
        .vault
        .rotate_master(&actor, true)
        .await
        .unwrap();
    assert_eq!((version, moved), (2, 8));
    for r in readers {
        r.await.unwrap();
    }
    let (_, list) = app.root_json(Method::GET, "/api/secrets", None).await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["key_version"] == 2));
    // Version 1 can go now; every secret still opens.
    app.app_core.vault.retire_master(&actor, 1).await.unwrap();
    for t in &tenants {
        let (status, v) = resolve(&app, "elevenlabs", t).await;
        assert_eq!(
            (status, v["key"].clone()),
            (StatusCode::OK, json!(format!("valid-{t}-el")))
        );
    }
    assert!(
        app.app_core.vault.retire_master(&actor, 2).await.is_err(),
        "the current version stays"
    );
}

#[tokio::test]
async fn no_audit_record_no_secret() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    put_secret(
        &app,
        json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "valid-withheld"}),
    )
    .await;
    if engine_is_postgres() {
        sql(&app, "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql").await;
        sql(&app, "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION no_audit()").await;
    } else {
        sql(&app, "CREATE TRIGGER no_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(FAIL, 'audit down'); END").await;
    }
    let (status, body) = resolve(&app, "openai", "acme").await;
    assert!(!status.is_success(), "{status} {body}");
    assert!(!body.to_string().contains("valid-withheld"));
}

#[tokio::test]
async fn the_cli_reads_provisions_and_rotates_the_master_key() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    put_secret(
        &app,
        json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "valid-cli-secret"}),
    )
    .await;
    let run = async |args: &[&str]| app.cli(args).await;
    let out = run(&["secrets", "get", "openai", "acme", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["key"].as_str(), v["source"].as_str()),
        (Some("valid-cli-secret"), Some("managed"))
    );
    let table = run(&["secrets", "get", "openai", "acme"]).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("NAME") && text.contains("ai-openai-acme"),
        "{text}"
    );

    let out = run(&["secrets", "provision", "openai", "acme", "--json"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key management API"));
    let out = run(&["secrets", "get", "nope", "acme"]).await;
    assert!(!out.status.success());

    let out = run(&["vault", "rotate-master", "--json", "--only-replica"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["version"].as_i64(), v["resealed"].as_i64()),
        (Some(2), Some(1))
    );
    // The running server reads the re-sealed secret under the new version.
    let (status, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (status, got["key"].as_str()),
        (StatusCode::OK, Some("valid-cli-secret"))
    );
}

#[tokio::test]
async fn prices_have_effective_dates_and_fit_each_cost_model() {
    let app = spawn_app().await;
    let (status, prices) = app
        .root_json(Method::GET, "/api/prices?service=openai", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let list = prices.as_array().unwrap();
    assert!(list.iter().any(|p| p["model"] == "*"
        && p["unit"] == "token_in"
        && p["price_micros"] == 2_500_000
        && p["per_units"] == 1_000_000));
    let (_, all) = app.root_json(Method::GET, "/api/prices", None).await;
    let units: std::collections::BTreeSet<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (s(&p["service"]), s(&p["unit"])))
        .collect();
    for expected in [
        ("hume", "second"),
        ("elevenlabs", "character"),
        ("deepgram", "minute"),
        ("anthropic", "token_out"),
    ] {
        assert!(units.contains(&expected), "{expected:?} in {units:?}");
    }

    let (status, set) = app
        .root_json(
            Method::PUT,
            "/api/prices",
            Some(json!({"service": "openai", "unit": "token_in", "price_micros": 2_000_000, "per_units": 1_000_000,
                        "effective_from": "2026-12-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let (_, after) = app
        .root_json(Method::GET, "/api/prices?service=openai", None)
        .await;
    let token_in: Vec<i64> = after
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["model"] == "*" && p["unit"] == "token_in")
        .map(|p| p["price_micros"].as_i64().unwrap())
        .collect();
    assert_eq!(token_in, [2_500_000, 2_000_000], "history is kept");

    for bad in [
        json!({"service": "deepgram", "unit": "token_in", "price_micros": 1}),
        json!({"service": "openai", "unit": "token_in", "price_micros": -1}),
        json!({"service": "openai", "unit": "furlong", "price_micros": 1}),
        json!({"service": "openai", "unit": "token_in", "price_micros": 1, "per_units": 0}),
    ] {
        let (status, err) = app
            .root_json(Method::PUT, "/api/prices", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {err}");
    }
    let (_, audit) = app
        .root_json(Method::GET, "/api/audit?action=price.set", None)
        .await;
    assert!(audit.to_string().contains("price.set"));
}

#[tokio::test]
async fn an_invalid_managed_key_heals_itself_where_the_provider_can_provision() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    put_secret(
        &app,
        json!({"service": "hume", "kind": "admin", "value": "valid-platform-admin"}),
    )
    .await;
    for service in ["hume", "openai"] {
        let (status, _) = put_secret(
            &app,
            json!({"service": service, "kind": "managed", "tenant_id": "acme", "value": "revoked-at-provider", "validate": false}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, checked) = app
        .root_json(Method::POST, "/api/keys/hume/acme/validate", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(
        (checked["validation"].as_str(), checked["healed"].as_bool()),
        (Some("invalid"), Some(true))
    );
    assert_eq!(checked["secret"]["version"], 2);
    assert_eq!(checked["secret"]["last_validation"], "valid");
    let (_, got) = resolve(&app, "hume", "acme").await;
    assert!(s(&got["key"]).starts_with("valid-hume-minted-"));
    let (_, audit) = app
        .root_json(
            Method::GET,
            "/api/audit?tenant_id=acme&action=secret.heal",
            None,
        )
        .await;
    assert!(audit.to_string().contains("secret.heal"), "{audit}");

    // OpenAI cannot mint keys: the invalid key is reported, not replaced.
    let (_, checked) = app
        .root_json(Method::POST, "/api/keys/openai/acme/validate", None)
        .await;
    assert_eq!(
        (checked["validation"].as_str(), checked["healed"].as_bool()),
        (Some("invalid"), Some(false))
    );
    assert_eq!(checked["secret"]["last_validation"], "invalid");
    let (status, _) = app
        .root_json(Method::POST, "/api/keys/deepgram/acme/validate", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A full run of the binary with verbose logging: no secret it handled may
/// appear in its output.
#[tokio::test]
async fn no_secret_value_ever_reaches_the_logs() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let stub = crate::providers_stub::base_url();
    let log = dir.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYWARD_ADDR", "127.0.0.1:0")
        .env("KEYWARD_ROOT_TOKEN", ROOT_TOKEN)
        .env("RUST_LOG", "trace")
        .env("KEYWARD_PROVIDER_TIMEOUT_MS", "1000")
        .envs(
            ["openai", "anthropic", "hume", "elevenlabs", "deepgram"].map(|s| {
                (
                    format!("KEYWARD_PROVIDER_{}_URL", s.to_uppercase()),
                    format!("{stub}/{s}"),
                )
            }),
        )
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("server.err")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut base = None;
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find_map(|l| l.strip_prefix("keyward listening on "))
        {
            base = Some(url.to_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let base = base.expect("server listening");
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(ROOT_TOKEN)
            .json(&body)
            .send()
    };
    let secrets = [
        "valid-logcheck-customer-7c1f",
        "wrong-logcheck-refused-9a2e",
        "valid-logcheck-pooled-3b4d",
        "valid-logcheck-admin-5e6f",
    ];
    call(
        Method::POST,
        "/api/provision",
        json!({"user_id": "acme", "integration": "files", "project_id": "jt", "tier": "pro"}),
    )
    .await
    .unwrap();
    let r = call(
        Method::PUT,
        "/api/keys/openai/acme/customer",
        json!({"key": secrets[0]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(
        Method::PUT,
        "/api/keys/anthropic/acme/customer",
        json!({"key": secrets[1]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    call(
        Method::PUT,
        "/api/secrets",
        json!({"service": "deepgram", "kind": "pooled", "tier": "pro", "value": secrets[2]}),
    )
    .await
    .unwrap();
    call(
        Method::PUT,
        "/api/secrets",
        json!({"service": "hume", "kind": "admin", "value": secrets[3]}),
    )
    .await
    .unwrap();
    call(Method::POST, "/api/keys/hume/acme/provision", json!({}))
        .await
        .unwrap();
    for service in ["openai", "deepgram", "hume"] {
        let r = call(
            Method::POST,
            &format!("/api/keys/{service}/acme"),
            json!({}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    call(
        Method::POST,
        "/api/keys/openai/acme/validate",
        json!({"kind": "customer"}),
    )
    .await
    .unwrap();
    call(Method::GET, "/api/secrets", json!({})).await.unwrap();
    call(Method::GET, "/api/audit", json!({})).await.unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();

    let output = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("server.err")).unwrap();
    assert!(
        output.contains("secret"),
        "the run logged its requests: {output}"
    );
    for secret in secrets {
        assert!(!output.contains(secret), "{secret} leaked into the logs");
    }
    assert!(
        !output.contains("valid-hume-minted-"),
        "a provisioned key leaked into the logs"
    );
}

#[tokio::test]
async fn previous_versions_are_kept_sealed_rolled_back_and_a_customer_key_deleted() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    put_secret(
        &app,
        json!({"service": "openai", "kind": "managed", "tenant_id": "acme", "value": "valid-managed-acme"}),
    )
    .await;
    for v in 1..=5 {
        let (status, body) = app
            .root_json(
                Method::PUT,
                "/api/keys/openai/acme/customer",
                Some(json!({"key": format!("valid-customer-{v}")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Three previous versions kept (the default), newest first, never a value.
    let (status, versions) = app
        .root_json(
            Method::GET,
            "/api/keys/openai/acme/versions?kind=customer",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    assert_eq!(versions["current"], 5);
    let kept: Vec<i64> = versions["previous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, [4, 3, 2]);
    assert!(!versions.to_string().contains("valid-customer"));

    // The master key rotates; the kept versions move with the live one, so
    // the old master key retires and a rollback still opens them.
    let out = app
        .cli(&["vault", "rotate-master", "--json", "--only-replica"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = app.cli(&["vault", "retire-master", "1"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, rolled) = app
        .root_json(
            Method::POST,
            "/api/keys/openai/acme/rollback",
            Some(json!({"kind": "customer", "version": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["version"], 6);
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(got["key"], "valid-customer-2");
    let (status, _) = app
        .root_json(
            Method::POST,
            "/api/keys/openai/acme/rollback",
            Some(json!({"kind": "customer", "version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "version 1 is no longer kept");

    // Deleting the customer key: the tenant falls back to its managed key.
    let (status, deleted) = app
        .root_json(Method::DELETE, "/api/keys/openai/acme/customer", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(
        (got["key"].as_str(), got["source"].as_str()),
        (Some("valid-managed-acme"), Some("managed"))
    );
    let (status, _) = app
        .root_json(
            Method::GET,
            "/api/keys/openai/acme/versions?kind=customer",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .root_json(Method::DELETE, "/api/keys/openai/acme/customer", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, trail) = app
        .root_json(
            Method::GET,
            "/api/audit?target=ai-openai-acme-customer",
            None,
        )
        .await;
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"secret.delete") && actions.contains(&"secret.rollback"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_cli_stores_lists_versions_rolls_back_and_deletes_a_tenants_secret() {
    let app = spawn_app().await;
    app.provision_tenant("acme").await;
    for v in ["valid-cli-1", "valid-cli-2"] {
        let out = app
            .cli_with_stdin(
                &[
                    "secrets",
                    "put",
                    "openai",
                    "acme",
                    "--kind",
                    "customer",
                    "--no-check",
                    "--json",
                ],
                &format!("{v}\n"),
            )
            .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(v),
            "a value was printed"
        );
    }
    let out = app
        .cli(&[
            "secrets", "versions", "openai", "acme", "--kind", "customer", "--json",
        ])
        .await;
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kept[0]["version"], 1, "{kept}");
    let out = app
        .cli(&[
            "secrets",
            "rollback",
            "openai",
            "acme",
            "--kind",
            "customer",
            "--version",
            "1",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, got) = resolve(&app, "openai", "acme").await;
    assert_eq!(got["key"], "valid-cli-1");
    let out = app
        .cli(&["secrets", "delete", "openai", "acme", "--kind", "customer"])
        .await;
    assert!(out.status.success());
    let (status, _) = resolve(&app, "openai", "acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let out = app.cli(&["secrets", "list", "--tenant", "acme"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("NAME"));
}
