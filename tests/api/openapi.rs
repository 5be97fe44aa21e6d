use crate::helpers::{spawn_app, ROOT_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

/// Every endpoint the API promises, as (method, path).
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/api/provision"),
    ("post", "/api/namespaces"),
    ("get", "/api/namespaces"),
    ("delete", "/api/namespaces/{name}"),
    ("get", "/api/tenants"),
    ("get", "/api/tenants/{id}"),
    ("patch", "/api/tenants/{id}"),
    ("delete", "/api/tenants/{id}"),
    ("get", "/api/tenants/{id}/children"),
    ("get", "/api/keys"),
    ("get", "/api/keys/{key_id}"),
    ("patch", "/api/keys/{key_id}"),
    ("delete", "/api/keys/{key_id}"),
    ("post", "/api/keys/verify"),
    ("post", "/api/keys/{key_id}/rotate"),
    ("post", "/api/keys/{key_id}/disable"),
    ("post", "/api/keys/{key_id}/enable"),
    ("get", "/api/audit"),
    ("post", "/api/cache/get"),
    ("post", "/api/cache/set"),
    ("post", "/api/cache/invalidate"),
    ("get", "/api/usage/{tenant_id}"),
    ("get", "/api/usage/{tenant_id}/records"),
    ("post", "/api/keys/{service}/{tenant_id}"),
    ("post", "/api/keys/{service}/{tenant_id}/provision"),
    ("post", "/api/keys/{service}/{tenant_id}/rotate"),
    ("put", "/api/keys/{service}/{tenant_id}/customer"),
    ("delete", "/api/keys/{service}/{tenant_id}/customer"),
    ("get", "/api/keys/{service}/{tenant_id}/versions"),
    ("post", "/api/keys/{service}/{tenant_id}/rollback"),
    ("post", "/api/keys/{service}/{tenant_id}/validate"),
    ("put", "/api/secrets"),
    ("get", "/api/secrets"),
    ("put", "/api/prices"),
    ("get", "/api/prices"),
    ("post", "/api/usage/events"),
    ("get", "/api/analytics/tpc/{tenant_id}"),
    ("get", "/api/analytics/forecast"),
    ("get", "/api/analytics/optimize"),
    ("put", "/api/plans/{name}/pricing"),
    ("get", "/api/money/terms"),
    ("put", "/api/money/allocation-rates"),
    ("get", "/api/analytics/savings-projection"),
    ("post", "/api/xero/generate-invoices"),
    ("get", "/api/invoices"),
    ("get", "/api/invoices/{number}"),
    ("get", "/api/xero/export"),
    ("post", "/api/xero/push"),
    ("post", "/api/xero/payments"),
    ("post", "/api/usage/flush"),
    ("get", "/api/savings/{tenant_id}"),
    ("get", "/api/ratelimit/{tenant_id}"),
    ("get", "/api/plans"),
    ("get", "/api/stats"),
    ("put", "/api/plans/{name}"),
    ("post", "/api/tokens"),
    ("get", "/api/tokens"),
    ("delete", "/api/tokens/{id}"),
    ("get", "/api/root-token"),
    ("put", "/api/root-token"),
    ("get", "/api/jobs"),
    ("get", "/api/jobs/{name}"),
    ("put", "/api/jobs/{name}"),
    ("delete", "/api/jobs/{name}"),
    ("post", "/api/jobs/{name}/run"),
    ("get", "/api/jobs/{name}/runs"),
    ("post", "/api/webhooks"),
    ("get", "/api/webhooks"),
    ("delete", "/api/webhooks/{id}"),
    ("post", "/api/webhooks/{id}/test"),
    ("get", "/api/webhooks/deliveries"),
    ("get", "/api/webhooks/deliveries/{id}"),
    ("post", "/api/webhooks/deliveries/{id}/replay"),
    ("get", "/api/budgets"),
    ("get", "/api/tenants/{tenant_id}/budget"),
    ("put", "/api/tenants/{tenant_id}/budget"),
    ("delete", "/api/tenants/{tenant_id}/budget"),
    ("get", "/api/analytics/anomalies"),
    ("get", "/api/keys/{key_id}/rotation-policy"),
    ("put", "/api/keys/{key_id}/rotation-policy"),
    ("put", "/api/plans/{name}/rotation-policy"),
];

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_served_endpoints() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Each documented operation is really served: never the unknown-route 404 or a 405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "acme")
            .replace("{tenant_id}", "acme")
            .replace("{name}", "gold")
            .replace("{key_id}", "key_00000000000000000000000000000000");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app
            .client
            .request(method.clone(), app.url(&concrete))
            .bearer_auth(ROOT_TOKEN)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete}"
        );
        assert_ne!(
            body["error"]["code"], "NOT_FOUND",
            "{method} {concrete} is not routed"
        );
        // Every documented status for this operation includes the one we got.
        let op = &doc["paths"][path][method.as_str().to_lowercase()];
        assert!(
            op["responses"][status.as_str()].is_object(),
            "{method} {path} answered {status}, which the document does not list"
        );
    }
}
