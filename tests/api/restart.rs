use crate::helpers::{s, spawn_app, spawn_app_in};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn everything_survives_a_restart() {
    let app = spawn_app().await;
    let a = app.provision_tenant("acme").await;
    let b = app.provision_tenant("globex").await;
    let rotated = app
        .rotate(s(&a["key_id"]), json!({"grace_seconds": 3600}))
        .await;
    app.root(
        Method::POST,
        &format!("/api/keys/{}/disable", s(&b["key_id"])),
        None,
    )
    .await;
    let (_, audit_before) = app.root_json(Method::GET, "/api/audit", None).await;
    let dir = app.stop().await;

    let app = spawn_app_in(dir).await;
    assert_eq!(
        app.verify_code(s(&a["api_key"]), Some("jt_acme")).await,
        "VALID",
        "old secret, in grace"
    );
    assert_eq!(
        app.verify_code(s(&rotated["api_key"]), Some("jt_acme"))
            .await,
        "VALID"
    );
    assert_eq!(app.verify_code(s(&b["api_key"]), None).await, "DISABLED");
    let (_, audit_after) = app.root_json(Method::GET, "/api/audit", None).await;
    assert_eq!(audit_before, audit_after);
    let (_, tenants) = app.root_json(Method::GET, "/api/tenants", None).await;
    assert_eq!(tenants["total"], 2);
}
