//! `/api/webhooks`: endpoints, their signed deliveries, tests and replays.

use super::access::{needs, Operator};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
#[allow(unused_imports)]
use super::schemas::{DeliveryStatusName, EventTypeName, Timestamp};
use crate::domain::access::Permission;
use crate::domain::events::EventType;
use crate::domain::ids::TenantId;
use crate::services::webhooks::{Attempt, Delivery, Endpoint, NewEndpoint, Webhooks};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    /// Where deliveries are POSTed (http or https).
    #[schema(max_length = 2048, example = "https://platform.example/hooks/keyward")]
    pub url: String,
    /// Event types it receives, or `["*"]` for all.
    #[schema(value_type = Vec<EventTypeName>, min_items = 1)]
    pub events: Vec<String>,
    /// Only this tenant's events (absent: every tenant's, and platform events).
    #[schema(value_type = Option<TenantId>)]
    pub tenant_id: Option<String>,
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointItem {
    pub id: String,
    pub url: String,
    pub tenant_id: Option<String>,
    pub events: Vec<String>,
    pub description: String,
    #[schema(value_type = Timestamp)]
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl From<Endpoint> for EndpointItem {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            tenant_id: e.tenant_id,
            events: e.events,
            description: e.description,
            created_at: e.created_at,
            created_by: e.created_by,
        }
    }
}

/// The new endpoint and its signing secret, shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointItem,
    /// `whsec_...`: verify deliveries with it (Standard Webhooks); also
    /// opens secrets sealed to this endpoint. Not shown again.
    pub secret: String,
}
crate::debug_without_secrets!(CreatedEndpoint { endpoint });

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointsPage {
    pub endpoints: Vec<EndpointItem>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryItem {
    pub id: String,
    /// The `webhook-id` header: the same on every retry and replay.
    pub message_id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub tenant_id: Option<String>,
    /// The body as sent (`{"type", "timestamp", "data"}`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `pending`, `delivered` or `failed` (gave up; replayable).
    pub status: String,
    pub attempts: i64,
    #[schema(value_type = Option<Timestamp>, nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    #[schema(value_type = Timestamp)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = Option<Timestamp>, nullable)]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for DeliveryItem {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            message_id: d.message_id,
            endpoint_id: d.endpoint_id,
            event_type: d.event_type,
            tenant_id: d.tenant_id,
            payload: d.payload,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptItem {
    pub attempt: i64,
    #[schema(value_type = Timestamp)]
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i64>,
    /// The first 1,024 characters of the endpoint's answer.
    pub response: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<Attempt> for AttemptItem {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            response: a.response,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveriesPage {
    pub deliveries: Vec<DeliveryItem>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    pub delivery: DeliveryItem,
    pub attempts: Vec<AttemptItem>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    pub endpoint_id: Option<String>,
    /// pending, delivered or failed.
    #[param(value_type = Option<DeliveryStatusName>)]
    pub status: Option<String>,
    /// 1..=500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Registers an endpoint; the answer carries its signing secret, once. The
/// `url` must be an absolute http(s) URL without credentials, at a public
/// address unless `KEYWARD_WEBHOOK_TARGETS=any` (422 otherwise).
#[utoipa::path(
    post,
    path = "/api/webhooks",
    tag = "webhooks",
    request_body = EndpointBody,
    security(("operator_token" = ["webhooks:write"])),
    responses(
        (status = 201, body = CreatedEndpoint),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_endpoint(
    State(webhooks): State<Webhooks>,
    operator: Operator<needs::WebhooksWrite>,
    ApiJson(body): ApiJson<EndpointBody>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    let tenant_id = body
        .tenant_id
        .map(|t| TenantId::parse_field("tenant_id", t))
        .transpose()?;
    // Such an endpoint can open the API keys rotation policies make: only a
    // holder of keys:write may register one.
    let rotated_keys = body
        .events
        .iter()
        .any(|e| e == "*" || e == EventType::KeySecretRotated.as_str());
    if rotated_keys && !operator.grants.permits(Permission::KeysWrite) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "an endpoint receiving key.secret_rotated (or *) receives new API keys: it needs keys:write too",
        ));
    }
    let (endpoint, secret) = webhooks
        .create_endpoint(
            &operator.actor,
            NewEndpoint {
                url: body.url,
                tenant_id,
                events: body.events,
                description: body.description,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint {
            endpoint: endpoint.into(),
            secret: secret.expose().to_string(),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/webhooks",
    tag = "webhooks",
    security(("operator_token" = ["webhooks:read"])),
    responses(
        (status = 200, body = EndpointsPage),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn list_endpoints(
    State(webhooks): State<Webhooks>,
    _operator: Operator<needs::WebhooksRead>,
) -> Result<Json<EndpointsPage>, ApiError> {
    Ok(Json(EndpointsPage {
        endpoints: webhooks
            .endpoints()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/webhooks/{id}",
    tag = "webhooks",
    params(("id" = String, Path)),
    security(("operator_token" = ["webhooks:write"])),
    responses(
        (status = 204, description = "Removed, with its pending deliveries"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_endpoint(
    State(webhooks): State<Webhooks>,
    operator: Operator<needs::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks.delete_endpoint(&operator.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a `webhook.test` event for one endpoint.
#[utoipa::path(
    post,
    path = "/api/webhooks/{id}/test",
    tag = "webhooks",
    params(("id" = String, Path)),
    security(("operator_token" = ["webhooks:write"])),
    responses(
        (status = 202, body = DeliveryItem),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn test_endpoint(
    State(webhooks): State<Webhooks>,
    operator: Operator<needs::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryItem>), ApiError> {
    let d = webhooks.test_endpoint(&operator.actor, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

/// The delivery log, newest first.
#[utoipa::path(
    get,
    path = "/api/webhooks/deliveries",
    tag = "webhooks",
    params(DeliveriesQuery),
    security(("operator_token" = ["webhooks:read"])),
    responses(
        (status = 200, body = DeliveriesPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_deliveries(
    State(webhooks): State<Webhooks>,
    _operator: Operator<needs::WebhooksRead>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveriesPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(
            crate::domain::ValidationError::new("limit", "must be between 1 and 500").into(),
        );
    }
    let deliveries = webhooks
        .deliveries(q.endpoint_id.as_deref(), q.status.as_deref(), limit)
        .await?;
    Ok(Json(DeliveriesPage {
        deliveries: deliveries.into_iter().map(Into::into).collect(),
    }))
}

/// One delivery with each attempt's answer.
#[utoipa::path(
    get,
    path = "/api/webhooks/deliveries/{id}",
    tag = "webhooks",
    params(("id" = String, Path)),
    security(("operator_token" = ["webhooks:read"])),
    responses(
        (status = 200, body = DeliveryDetail),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_delivery(
    State(webhooks): State<Webhooks>,
    _operator: Operator<needs::WebhooksRead>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let (d, attempts) = webhooks.delivery(&id).await?;
    Ok(Json(DeliveryDetail {
        delivery: d.into(),
        attempts: attempts.into_iter().map(Into::into).collect(),
    }))
}

/// Sends a delivery again (same `webhook-id`), whatever its status.
#[utoipa::path(
    post,
    path = "/api/webhooks/deliveries/{id}/replay",
    tag = "webhooks",
    params(("id" = String, Path)),
    security(("operator_token" = ["webhooks:write"])),
    responses(
        (status = 202, body = DeliveryItem),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The endpoint was removed", body = ErrorBody),
    )
)]
pub async fn replay_delivery(
    State(webhooks): State<Webhooks>,
    operator: Operator<needs::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryItem>), ApiError> {
    let d = webhooks.replay(&operator.actor, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}
