//! The data plane: `POST /api/cache/get`, `/api/cache/set`, `/api/cache/invalidate`,
//! authorised by the customer's API key (`Authorization: Bearer <api key>`).

use super::error::{ApiError, ErrorBody};
use super::extract::bearer_token;
use super::schemas::Message;
use crate::domain::cache::{check_cacheable_status, check_identity, parse_ttl};
use crate::domain::ids::NamespaceName;
use crate::domain::usage::Operation;
use crate::services;
use crate::services::data_plane::{Access, EntryIdentity, Served};
use crate::startup::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CacheGetBody {
    #[schema(example = "openai", min_length = 1, max_length = 200, pattern = r"\S")]
    pub provider: String,
    #[schema(example = "gpt-4o", min_length = 1, max_length = 200, pattern = r"\S")]
    pub model: String,
    /// The conversation; key order and whitespace do not matter.
    #[schema(value_type = Vec<Message>, min_items = 1)]
    pub messages: Value,
    #[schema(value_type = NamespaceName)]
    pub namespace: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CacheSetBody {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub provider: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub model: String,
    #[schema(value_type = Vec<Message>, min_items = 1)]
    pub messages: Value,
    /// The response to cache: any JSON.
    #[schema(value_type = Object)]
    pub response: Box<RawValue>,
    #[schema(value_type = NamespaceName)]
    pub namespace: String,
    /// Seconds to live (default 3600, at most 30 days).
    #[schema(minimum = 1, maximum = 2592000)]
    #[serde(default, deserialize_with = "integer")]
    pub ttl: Option<i64>,
    /// The upstream HTTP status: only a 2xx response is cached.
    #[schema(minimum = 200, maximum = 299)]
    #[serde(default, deserialize_with = "integer")]
    pub status: Option<i64>,
}

/// An integer, also when written with a zero fraction (`60.0`: an integer
/// in JSON Schema). The rest of the body, the cached response above all, is
/// read exactly as sent.
fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        })
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, found {n}")))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CacheInvalidateBody {
    #[schema(value_type = NamespaceName)]
    pub namespace: String,
    /// With `model` and `messages`: the one entry to remove.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub provider: Option<String>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub model: Option<String>,
    #[schema(value_type = Option<Vec<Message>>, min_items = 1)]
    pub messages: Option<Value>,
    /// Remove every entry of the namespace. Give either this (alone) or
    /// `provider`, `model` and `messages` (one entry).
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheGetResponse {
    pub hit: bool,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheSetResponse {
    pub stored: bool,
    pub namespace: String,
    pub cached_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheInvalidateResponse {
    /// How many entries were removed.
    pub invalidated: u64,
}

/// A data-plane request after authentication, payload check and parsing.
struct Incoming<T> {
    key: String,
    body: T,
    bytes_in: i64,
    /// The key's place among its requests in flight, held to the end.
    _upload: services::data_plane::UploadPass,
}

/// Authenticates the key from the headers (a missing, unknown, disabled or
/// expired key is answered at once, the body unread), refuses a body larger
/// than the key's plan allows before reading it, reads it as it streams up
/// to that size, then parses.
async fn read<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    operation: Operation,
) -> Result<Incoming<T>, ApiError> {
    let key = bearer_token(headers)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "MISSING_API_KEY",
                "this call needs 'Authorization: Bearer <api key>'",
            )
        })?
        .to_string();
    let pass = state.core.data_plane.admit_upload(&key, operation).await?;
    let cap = pass.max_payload;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the body is larger than the plan's {cap} bytes"),
        )
    };
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, usize::try_from(cap).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            // Over the plan's size; otherwise the body stalled or outgrew the
            // server's budget, which the body guard answers (408 / 503).
            if is_length_limit(&e) {
                too_large()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "BODY_READ_FAILED", e.to_string())
            }
        })?;
    let parsed = serde_json::from_slice::<T>(&bytes).map_err(super::extract::body_error)?;
    Ok(Incoming {
        key,
        body: parsed,
        bytes_in: bytes.len() as i64,
        _upload: pass,
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// An admitted request being served: what its usage record needs.
struct Metered {
    access: Arc<Access>,
    admission: services::limits::Admission,
    operation: Operation,
    bytes_in: i64,
    started: Instant,
}

impl Metered {
    /// Hands the request's usage record to the batch writer.
    fn record(&self, state: &AppState, hit: Option<bool>, bytes_out: i64, status: u16) {
        record(
            state,
            &self.access,
            self.operation,
            hit,
            self.bytes_in,
            bytes_out,
            self.started,
            status,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    state: &AppState,
    access: &Access,
    operation: Operation,
    hit: Option<bool>,
    bytes_in: i64,
    bytes_out: i64,
    started: Instant,
    status: u16,
) {
    state.core.data_plane.record_usage(
        access,
        Served {
            operation,
            hit,
            bytes_in,
            bytes_out,
            latency_us: started.elapsed().as_micros() as i64,
            status,
        },
    );
}

/// Opens the namespace and admits the request; a refusal by a limit is
/// recorded as usage before it is returned.
async fn admit(
    state: &AppState,
    key: &str,
    namespace: String,
    bytes_in: i64,
    operation: Operation,
    started: Instant,
) -> Result<Metered, ApiError> {
    let namespace = NamespaceName::parse(namespace)?;
    let access = state.core.data_plane.open(key, namespace).await?;
    match state.core.data_plane.admit(&access, bytes_in).await {
        Ok(admission) => Ok(Metered {
            access,
            admission,
            operation,
            bytes_in,
            started,
        }),
        Err(services::Error::Limit(l)) => {
            let err = ApiError::from_limit(&l);
            record(
                state,
                &access,
                operation,
                None,
                bytes_in,
                0,
                started,
                err.status.as_u16(),
            );
            Err(err)
        }
        Err(e) => Err(e.into()),
    }
}

fn json_response(
    status: StatusCode,
    body: &impl Serialize,
    admission: &services::limits::Admission,
) -> (Response, i64) {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    body_response(status, Bytes::from(bytes), admission)
}

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// A JSON body with the monthly quota's RateLimit-* headers; returns its length too.
fn body_response(
    status: StatusCode,
    body: Bytes,
    admission: &services::limits::Admission,
) -> (Response, i64) {
    let len = body.len() as i64;
    // Sized for every header the response will carry, so none regrows the map.
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    for (name, value) in [
        (LIMIT, admission.monthly_limit),
        (REMAINING, admission.monthly_remaining.max(0)),
        (RESET, admission.monthly_reset_seconds),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    *res.headers_mut() = headers;
    (res, len)
}

/// Look up a cached response.
#[utoipa::path(
    post,
    path = "/api/cache/get",
    tag = "cache",
    request_body = CacheGetBody,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "`{\"hit\":true,...}` or `{\"hit\":false}`", body = CacheGetResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    )
)]
pub async fn cache_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req: Incoming<CacheGetBody> = read(&state, &headers, body, Operation::Get).await?;
    let b = &req.body;
    check_identity(&b.provider, &b.model, &b.messages)?;
    let m = admit(
        &state,
        &req.key,
        b.namespace.clone(),
        req.bytes_in,
        Operation::Get,
        started,
    )
    .await?;
    let identity = EntryIdentity {
        provider: &b.provider,
        model: &b.model,
        messages: &b.messages,
    };
    let entry = state
        .core
        .data_plane
        .cache_get(&m.access, &identity)
        .await?;
    let hit = entry.is_some();
    let body = match entry {
        // A hit's body is rendered once per entry and shared afterwards.
        Some(e) => Bytes::from_owner(e.rendered(|e| {
            serde_json::to_vec(&CacheGetResponse {
                hit: true,
                response: Some(e.response.clone()),
                cached_at: Some(e.cached_at),
                expires_at: Some(e.expires_at),
            })
            .unwrap_or_default()
        })),
        None => Bytes::from_static(br#"{"hit":false}"#),
    };
    let (res, bytes_out) = body_response(StatusCode::OK, body, &m.admission);
    m.record(&state, Some(hit), bytes_out, 200);
    Ok(res)
}

/// Store a successful upstream response.
#[utoipa::path(
    post,
    path = "/api/cache/set",
    tag = "cache",
    request_body = CacheSetBody,
    security(("api_key" = [])),
    responses(
        (status = 201, body = CacheSetResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, description = "Invalid body, or a non-2xx upstream status", body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
pub async fn cache_set(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req: Incoming<CacheSetBody> = read(&state, &headers, body, Operation::Set).await?;
    let b = req.body;
    check_identity(&b.provider, &b.model, &b.messages)?;
    check_cacheable_status(b.status)?;
    let ttl = parse_ttl(b.ttl)?;
    let m = admit(
        &state,
        &req.key,
        b.namespace.clone(),
        req.bytes_in,
        Operation::Set,
        started,
    )
    .await?;
    let identity = EntryIdentity {
        provider: &b.provider,
        model: &b.model,
        messages: &b.messages,
    };
    let entry = state
        .core
        .data_plane
        .cache_set(&m.access, &identity, b.response, ttl)
        .await?;
    let out = CacheSetResponse {
        stored: true,
        namespace: m.access.namespace.to_string(),
        cached_at: entry.cached_at,
        expires_at: entry.expires_at,
    };
    let (res, bytes_out) = json_response(StatusCode::CREATED, &out, &m.admission);
    m.record(&state, None, bytes_out, 201);
    Ok(res)
}

/// Remove one entry (provider, model, messages) or, with `"all": true`, a whole namespace.
#[utoipa::path(
    post,
    path = "/api/cache/invalidate",
    tag = "cache",
    request_body = CacheInvalidateBody,
    security(("api_key" = [])),
    responses(
        (status = 200, body = CacheInvalidateResponse),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    )
)]
pub async fn cache_invalidate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req: Incoming<CacheInvalidateBody> =
        read(&state, &headers, body, Operation::Invalidate).await?;
    let b = &req.body;
    let identity = match (&b.provider, &b.model, &b.messages, b.all) {
        (Some(provider), Some(model), Some(messages), false) => {
            check_identity(provider, model, messages)?;
            Some(EntryIdentity { provider, model, messages })
        }
        (None, None, None, true) => None,
        _ => {
            return Err(crate::domain::ValidationError::new(
                "all",
                "give provider, model and messages for one entry, or only \"all\": true for the whole namespace",
            )
            .into())
        }
    };
    let m = admit(
        &state,
        &req.key,
        b.namespace.clone(),
        req.bytes_in,
        Operation::Invalidate,
        started,
    )
    .await?;
    let invalidated = state
        .core
        .data_plane
        .cache_invalidate(&m.access, identity.as_ref())
        .await?;
    let (res, bytes_out) = json_response(
        StatusCode::OK,
        &CacheInvalidateResponse { invalidated },
        &m.admission,
    );
    m.record(&state, None, bytes_out, 200);
    Ok(res)
}
