use crate::helpers::{s, spawn_app, ROOT_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    token: Option<&'static str>,
    content_type: Option<&'static str>,
    body: Option<String>,
    status: StatusCode,
    code: &'static str,
}

fn case(
    what: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Option<String>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        token: Some(ROOT_TOKEN),
        content_type: body.as_ref().map(|_| "application/json"),
        body,
        status: StatusCode::from_u16(status).unwrap(),
        code,
    }
}

fn provision_with(field: &str, value: Value) -> Option<String> {
    let mut body =
        json!({"user_id": "acme2", "integration": "files", "project_id": "jt", "tier": "pro"});
    body[field] = value;
    Some(body.to_string())
}

#[tokio::test]
async fn bad_input_of_every_kind_gets_a_clear_4xx_json_error_and_changes_nothing() {
    let app = spawn_app().await;
    let existing = app.provision_tenant("acme").await;
    let key_id = s(&existing["key_id"]).to_string();
    let unknown_key = "key_00000000000000000000000000000000";

    let (_, audit_before) = app
        .root_json(Method::GET, "/api/audit?limit=1000", None)
        .await;
    let (_, tenants_before) = app.root_json(Method::GET, "/api/tenants", None).await;
    let (_, key_before) = app
        .root_json(Method::GET, &format!("/api/keys/{key_id}"), None)
        .await;

    let mut cases = vec![
        // Authentication
        Case {
            token: None,
            ..case(
                "missing token",
                Method::POST,
                "/api/provision",
                provision_with("user_id", json!("x")),
                401,
                "UNAUTHORIZED",
            )
        },
        Case {
            token: Some("wrong-token-wrong-token"),
            ..case(
                "wrong token",
                Method::POST,
                "/api/provision",
                provision_with("user_id", json!("x")),
                401,
                "UNAUTHORIZED",
            )
        },
        Case {
            token: Some(""),
            ..case(
                "empty token",
                Method::GET,
                "/api/tenants",
                None,
                401,
                "UNAUTHORIZED",
            )
        },
        Case {
            token: None,
            ..case(
                "rotate without token",
                Method::POST,
                format!("/api/keys/{key_id}/rotate"),
                None,
                401,
                "UNAUTHORIZED",
            )
        },
        Case {
            token: None,
            ..case(
                "disable without token",
                Method::POST,
                format!("/api/keys/{key_id}/disable"),
                None,
                401,
                "UNAUTHORIZED",
            )
        },
        Case {
            token: None,
            ..case(
                "audit without token",
                Method::GET,
                "/api/audit",
                None,
                401,
                "UNAUTHORIZED",
            )
        },
        // Malformed JSON
        case(
            "truncated json",
            Method::POST,
            "/api/provision",
            Some("{\"user_id\": \"a\"".into()),
            400,
            "INVALID_JSON",
        ),
        case(
            "not json",
            Method::POST,
            "/api/provision",
            Some("user_id=a".into()),
            400,
            "INVALID_JSON",
        ),
        case(
            "malformed rotate body",
            Method::POST,
            format!("/api/keys/{key_id}/rotate"),
            Some("{grace".into()),
            400,
            "INVALID_JSON",
        ),
        case(
            "malformed verify body",
            Method::POST,
            "/api/keys/verify",
            Some("[".into()),
            400,
            "INVALID_JSON",
        ),
        // Wrong types and missing fields
        case(
            "user_id as number",
            Method::POST,
            "/api/provision",
            provision_with("user_id", json!(42)),
            422,
            "INVALID_BODY",
        ),
        case(
            "rate_limit as string",
            Method::POST,
            "/api/provision",
            provision_with("rate_limit", json!("many")),
            422,
            "INVALID_BODY",
        ),
        case(
            "scopes as string",
            Method::POST,
            "/api/provision",
            provision_with("scopes", json!("jt_*")),
            422,
            "INVALID_BODY",
        ),
        case(
            "expires_at not a date",
            Method::POST,
            "/api/provision",
            provision_with("expires_at", json!("tomorrow")),
            422,
            "INVALID_BODY",
        ),
        case(
            "missing integration",
            Method::POST,
            "/api/provision",
            Some(json!({"user_id": "a", "project_id": "jt"}).to_string()),
            422,
            "INVALID_BODY",
        ),
        case(
            "body is an array",
            Method::POST,
            "/api/provision",
            Some("[]".into()),
            422,
            "INVALID_BODY",
        ),
        case(
            "verify without key",
            Method::POST,
            "/api/keys/verify",
            Some("{}".into()),
            422,
            "INVALID_BODY",
        ),
        case(
            "grace as string",
            Method::POST,
            format!("/api/keys/{key_id}/rotate"),
            Some(json!({"grace_seconds": "1h"}).to_string()),
            422,
            "INVALID_BODY",
        ),
        case(
            "namespace without user",
            Method::POST,
            "/api/namespaces",
            Some(json!({"name": "x"}).to_string()),
            422,
            "INVALID_BODY",
        ),
        // Bad values and ids
        case(
            "user_id with space",
            Method::POST,
            "/api/provision",
            provision_with("user_id", json!("a b")),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "user_id too long",
            Method::POST,
            "/api/provision",
            provision_with("user_id", json!("a".repeat(65))),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "empty user_id",
            Method::POST,
            "/api/provision",
            provision_with("user_id", json!("")),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "uppercase integration",
            Method::POST,
            "/api/provision",
            provision_with("integration", json!("Files")),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "unknown tier",
            Method::POST,
            "/api/provision",
            provision_with("tier", json!("gold")),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "negative rate limit",
            Method::POST,
            "/api/provision",
            provision_with("rate_limit", json!(-5)),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bare star scope",
            Method::POST,
            "/api/provision",
            provision_with("scopes", json!(["*"])),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "expiry in the past",
            Method::POST,
            "/api/provision",
            provision_with("expires_at", json!("2001-01-01T00:00:00Z")),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bad namespace name",
            Method::POST,
            "/api/namespaces",
            Some(json!({"name": "a/b", "user_id": "bob"}).to_string()),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "negative grace",
            Method::POST,
            format!("/api/keys/{key_id}/rotate"),
            Some(json!({"grace_seconds": -1}).to_string()),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "grace beyond 30 days",
            Method::POST,
            format!("/api/keys/{key_id}/rotate"),
            Some(json!({"grace_seconds": 2_592_001}).to_string()),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bad key id",
            Method::POST,
            "/api/keys/not-a-key/rotate",
            None,
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bad key id on get",
            Method::GET,
            "/api/keys/key_XYZ",
            None,
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bad tenant id",
            Method::GET,
            "/api/tenants/a%20b",
            None,
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bad tenant filter",
            Method::GET,
            "/api/keys?tenant_id=a%20b",
            None,
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "bad verify namespace",
            Method::POST,
            "/api/keys/verify",
            Some(json!({"key": "x", "namespace": "a b"}).to_string()),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "unknown plan patch",
            Method::PATCH,
            "/api/tenants/acme",
            Some(json!({"plan": "gold"}).to_string()),
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "page size too big",
            Method::GET,
            "/api/tenants?limit=5000",
            None,
            422,
            "VALIDATION_ERROR",
        ),
        case(
            "audit page size zero",
            Method::GET,
            "/api/audit?limit=0",
            None,
            422,
            "VALIDATION_ERROR",
        ),
        // Unknown ids
        case(
            "unknown key id rotate",
            Method::POST,
            format!("/api/keys/{unknown_key}/rotate"),
            None,
            404,
            "KEY_NOT_FOUND",
        ),
        case(
            "unknown key id disable",
            Method::POST,
            format!("/api/keys/{unknown_key}/disable"),
            None,
            404,
            "KEY_NOT_FOUND",
        ),
        case(
            "unknown key id enable",
            Method::POST,
            format!("/api/keys/{unknown_key}/enable"),
            None,
            404,
            "KEY_NOT_FOUND",
        ),
        case(
            "unknown key id get",
            Method::GET,
            format!("/api/keys/{unknown_key}"),
            None,
            404,
            "KEY_NOT_FOUND",
        ),
        case(
            "unknown tenant",
            Method::GET,
            "/api/tenants/nobody",
            None,
            404,
            "TENANT_NOT_FOUND",
        ),
        case(
            "unknown tenant patch",
            Method::PATCH,
            "/api/tenants/nobody",
            Some(json!({"plan": "pro"}).to_string()),
            404,
            "TENANT_NOT_FOUND",
        ),
        // Query strings, media types, routes, methods
        case(
            "limit not a number",
            Method::GET,
            "/api/tenants?limit=abc",
            None,
            400,
            "INVALID_QUERY",
        ),
        case(
            "audit from not a date",
            Method::GET,
            "/api/audit?from=yesterday",
            None,
            400,
            "INVALID_QUERY",
        ),
        Case {
            content_type: Some("text/plain"),
            ..case(
                "wrong content type",
                Method::POST,
                "/api/provision",
                provision_with("user_id", json!("x")),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            )
        },
        Case {
            content_type: None,
            ..case(
                "no content type",
                Method::POST,
                "/api/namespaces",
                Some(json!({"name": "x", "user_id": "y"}).to_string()),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            )
        },
        case(
            "unknown endpoint",
            Method::GET,
            "/api/nothing-here",
            None,
            404,
            "NOT_FOUND",
        ),
        case(
            "wrong method",
            Method::DELETE,
            "/api/provision",
            None,
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    // Oversized body: over the 64 KiB management limit.
    let huge = json!({"user_id": "acme3", "integration": "files", "project_id": "jt", "name": "x".repeat(70 * 1024)});
    cases.push(case(
        "oversized body",
        Method::POST,
        "/api/provision",
        Some(huge.to_string()),
        413,
        "PAYLOAD_TOO_LARGE",
    ));

    for c in cases {
        let mut req = app.client.request(c.method.clone(), app.url(&c.path));
        if let Some(t) = c.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = c.body {
            req = req.body(b);
        }
        let res = req.send().await.expect("sent");
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, c.status, "{}: {text}", c.what);
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not JSON: {text}", c.what));
        assert_eq!(body["error"]["code"], c.code, "{}: {text}", c.what);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: no message: {text}",
            c.what
        );
    }

    let (_, audit_after) = app
        .root_json(Method::GET, "/api/audit?limit=1000", None)
        .await;
    let (_, tenants_after) = app.root_json(Method::GET, "/api/tenants", None).await;
    let (_, key_after) = app
        .root_json(Method::GET, &format!("/api/keys/{key_id}"), None)
        .await;
    assert_eq!(
        audit_before, audit_after,
        "no bad request left an audit record"
    );
    assert_eq!(
        tenants_before, tenants_after,
        "no bad request created or changed a tenant"
    );
    assert_eq!(key_before, key_after, "no bad request changed the key");
    assert_eq!(
        app.verify_code(s(&existing["api_key"]), Some("jt_acme"))
            .await,
        "VALID"
    );
}

#[tokio::test]
async fn validation_errors_name_the_field_at_fault() {
    let app = spawn_app().await;
    let (status, body) = app
        .root_json(
            Method::POST,
            "/api/provision",
            Some(json!({"user_id": "acme", "integration": "files", "project_id": "j t"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "project_id");
}
