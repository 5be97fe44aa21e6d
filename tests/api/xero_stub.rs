//! A local stand-in for Xero: the OAuth2 token endpoint (client credentials
//! with HTTP basic auth) and the accounting API's `POST Invoices`, which
//! insists on the bearer token and the `Xero-tenant-id` header and answers
//! each invoice with an `InvoiceID`. What it received is kept by invoice
//! number for the tests to read back (`GET /received/{number}`).
//! Served by the providers' stub server under `/xero`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "kw-client";
pub const CLIENT_SECRET: &str = "kw-client-secret";
pub const ORGANISATION: &str = "org-keyward-test";
const TOKEN: &str = "xero-access-token-1";

type Received = Arc<Mutex<HashMap<String, Value>>>;

pub fn router() -> Router {
    let received: Received = Arc::default();
    Router::new()
        .route("/connect/token", post(token))
        .route("/api.xro/2.0/Invoices", post(invoices))
        .route("/received/{number}", get(read_back))
        .with_state(received)
}

async fn token(
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str())
        || form.get("grant_type").map(String::as_str) != Some("client_credentials")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client"})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({"access_token": TOKEN, "expires_in": 1800, "token_type": "Bearer"})),
    )
}

async fn invoices(
    State(received): State<Received>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    if h("authorization") != format!("Bearer {TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"Title": "Unauthorized"})),
        );
    }
    if h("xero-tenant-id") != ORGANISATION {
        return (StatusCode::FORBIDDEN, Json(json!({"Title": "Forbidden"})));
    }
    let mut answered = Vec::new();
    for inv in body["Invoices"].as_array().cloned().unwrap_or_default() {
        let number = inv["InvoiceNumber"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        answered.push(json!({"InvoiceID": format!("xero-{number}"), "InvoiceNumber": number, "Status": inv["Status"]}));
        received.lock().unwrap().insert(number, inv);
    }
    (StatusCode::OK, Json(json!({"Invoices": answered})))
}

async fn read_back(
    State(received): State<Received>,
    Path(number): Path<String>,
) -> (StatusCode, Json<Value>) {
    match received.lock().unwrap().get(&number) {
        Some(v) => (StatusCode::OK, Json(v.clone())),
        None => (StatusCode::NOT_FOUND, Json(Value::Null)),
    }
}
