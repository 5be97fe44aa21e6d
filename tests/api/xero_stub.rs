//! A local stand-in for Xero: the OAuth2 token endpoint (client credentials
//! with HTTP basic auth) and the accounting API's `POST Invoices`, which
//! insists on the bearer token and the `Xero-tenant-id` header and answers
//! each invoice with an `InvoiceID`. What it received is kept by invoice
//! number for the tests to read back (`GET /received/{number}`), with how
//! many times each was created (`GET /created/{number}`). Like Xero, it lists
//! invoices by number (`GET Invoices?InvoiceNumbers=a,b`) and answers a
//! repeated `Idempotency-Key` with the first answer, creating nothing. An
//! invoice whose number contains `SLOWPOKE` is created, then answered only
//! after 2.5 s (longer than the tests' timeout): Xero accepted, the caller
//! never heard.
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

#[derive(Default)]
struct Books {
    received: HashMap<String, Value>,
    created: HashMap<String, u32>,
    answered: HashMap<String, Value>,
}

type Received = Arc<Mutex<Books>>;

pub fn router() -> Router {
    let received: Received = Arc::default();
    Router::new()
        .route("/connect/token", post(token))
        .route("/api.xro/2.0/Invoices", post(invoices).get(list))
        .route("/received/{number}", get(read_back))
        .route("/created/{number}", get(created))
        .with_state(received)
}

fn authorised(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    if h("authorization") != format!("Bearer {TOKEN}") {
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"Title": "Unauthorized"})),
        ));
    }
    if h("xero-tenant-id") != ORGANISATION {
        return Err((StatusCode::FORBIDDEN, Json(json!({"Title": "Forbidden"}))));
    }
    Ok(())
}

async fn list(
    State(received): State<Received>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    if let Err(refused) = authorised(&headers) {
        return refused;
    }
    let books = received.lock().unwrap();
    let found: Vec<Value> = q
        .get("InvoiceNumbers")
        .map(String::as_str)
        .unwrap_or("")
        .split(',')
        .filter(|n| books.received.contains_key(*n))
        .map(|n| json!({"InvoiceID": format!("xero-{n}"), "InvoiceNumber": n, "Status": "AUTHORISED"}))
        .collect();
    (StatusCode::OK, Json(json!({"Invoices": found})))
}

async fn created(State(received): State<Received>, Path(number): Path<String>) -> Json<Value> {
    Json(json!(received
        .lock()
        .unwrap()
        .created
        .get(&number)
        .copied()
        .unwrap_or(0)))
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
    if let Err(refused) = authorised(&headers) {
        return refused;
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut slow = false;
    let answer = {
        let mut books = received.lock().unwrap();
        if let Some(earlier) = key.as_ref().and_then(|k| books.answered.get(k)) {
            return (StatusCode::OK, Json(earlier.clone()));
        }
        let mut answered = Vec::new();
        for inv in body["Invoices"].as_array().cloned().unwrap_or_default() {
            let number = inv["InvoiceNumber"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            slow |= number.contains("SLOWPOKE");
            answered.push(json!({"InvoiceID": format!("xero-{number}"), "InvoiceNumber": number, "Status": inv["Status"]}));
            *books.created.entry(number.clone()).or_insert(0) += 1;
            books.received.insert(number, inv);
        }
        let answer = json!({"Invoices": answered});
        if let Some(k) = key {
            books.answered.insert(k, answer.clone());
        }
        answer
    };
    if slow {
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    }
    (StatusCode::OK, Json(answer))
}

async fn read_back(
    State(received): State<Received>,
    Path(number): Path<String>,
) -> (StatusCode, Json<Value>) {
    match received.lock().unwrap().received.get(&number) {
        Some(v) => (StatusCode::OK, Json(v.clone())),
        None => (StatusCode::NOT_FOUND, Json(Value::Null)),
    }
}
