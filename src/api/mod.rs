//! The JSON API: one file per resource. Routes and the OpenAPI document come
//! from the same `#[utoipa::path]` annotations, so they cannot drift apart.

pub mod access;
pub mod admin_automation;
pub mod admin_billing;
pub mod admin_session;
pub mod admin_tenants;
pub mod admin_tokens;
pub mod audit;
pub mod billing;
pub mod budgets;
pub mod cache;
pub mod contract;
pub mod costs;
pub use crate::web::error;
pub mod extract;
pub mod jobs;
pub mod keys;
pub mod metrics;
pub mod namespaces;
pub mod provision;
pub mod schemas;
pub mod secrets;
pub mod tenants;
pub mod tokens;
pub mod usage;
pub mod webhooks;

use crate::startup::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use error::ApiError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Management bodies are small; a larger one is refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "Self-hosted API-key and cost control plane. Management calls need \
                       `Authorization: Bearer <operator token>` holding the permission the \
                       operation's security requirement names (or the root token); errors are \
                       `{\"error\":{\"code\",\"message\"}}` with a 4xx status."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(
        error::ErrorBody,
        crate::domain::ids::TenantId,
        crate::domain::ids::NamespaceName,
        crate::domain::ids::ProjectId,
        crate::domain::ids::Integration,
        crate::domain::ids::KeyId,
        crate::domain::plan::Plan,
        crate::domain::secret::Service,
        crate::domain::secret::SecretKind,
        crate::domain::pricing::CostService,
        crate::domain::pricing::PriceUnit,
        schemas::DisplayName,
        schemas::FreeText,
        schemas::BillingMonth,
        schemas::Tier,
        schemas::KeyPermission,
        schemas::OperatorPermission,
        schemas::TenantScopeText,
        schemas::NamespaceScope,
        schemas::TenantStatusName,
        schemas::InvoiceStatusName,
        schemas::Message,
        schemas::SecretValue,
        schemas::Timestamp,
        schemas::Day,
        schemas::AnalyticsDay,
        schemas::Label64,
        schemas::Label128,
        schemas::Label200,
        schemas::Amount,
        schemas::JobName,
        schemas::TaskName,
        schemas::EventTypeName,
        schemas::DeliveryStatusName,
        crate::domain::api_key::VerifyCode,
        crate::domain::api_key::SecretState,
    ))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator token (`kwt_...`) holding the permission each operation \
                         lists, or the root token (every permission) while it is turned on.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and their OpenAPI document.
pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(provision::provision))
        .routes(routes!(
            namespaces::create_namespace,
            namespaces::list_namespaces
        ))
        .routes(routes!(namespaces::delete_namespace))
        .routes(routes!(tenants::list_tenants))
        .routes(routes!(
            tenants::get_tenant,
            tenants::update_tenant,
            tenants::erase_tenant
        ))
        .routes(routes!(tenants::tenant_children))
        .routes(routes!(keys::list_keys))
        .routes(routes!(keys::get_key, keys::update_key, keys::revoke_key))
        .routes(routes!(keys::verify_key))
        .routes(routes!(keys::rotate_key))
        .routes(routes!(keys::disable_key))
        .routes(routes!(keys::enable_key))
        .routes(routes!(audit::audit_trail))
        .routes(routes!(cache::cache_get))
        .routes(routes!(cache::cache_set))
        .routes(routes!(cache::cache_invalidate))
        .routes(routes!(usage::usage_report))
        .routes(routes!(usage::usage_records))
        .routes(routes!(usage::savings))
        .routes(routes!(usage::rate_limit))
        .routes(routes!(usage::flush))
        .routes(routes!(usage::stats))
        .routes(routes!(usage::list_plans))
        .routes(routes!(usage::update_plan))
        .routes(routes!(secrets::resolve))
        .routes(routes!(secrets::provision))
        .routes(routes!(secrets::rotate))
        .routes(routes!(secrets::put_customer, secrets::delete_customer))
        .routes(routes!(secrets::versions))
        .routes(routes!(secrets::rollback))
        .routes(routes!(secrets::check))
        .routes(routes!(secrets::put_secret, secrets::list))
        .routes(routes!(secrets::set_price, secrets::list_prices))
        .routes(routes!(costs::ingest))
        .routes(routes!(costs::tpc))
        .routes(routes!(costs::forecast))
        .routes(routes!(costs::optimize))
        .routes(routes!(costs::set_plan_pricing))
        .routes(routes!(costs::money_terms))
        .routes(routes!(costs::savings_projection))
        .routes(routes!(costs::set_allocation_rates))
        .routes(routes!(billing::generate))
        .routes(routes!(billing::list))
        .routes(routes!(billing::get_invoice))
        .routes(routes!(billing::export))
        .routes(routes!(billing::push))
        .routes(routes!(billing::payment))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(tokens::root_token_state, tokens::set_root_token))
        .routes(routes!(keys::set_rotation_policy, keys::rotation_policy))
        .routes(routes!(keys::set_plan_rotation_policy))
        .routes(routes!(jobs::list_jobs))
        .routes(routes!(jobs::get_job, jobs::set_job, jobs::delete_job))
        .routes(routes!(jobs::run_job))
        .routes(routes!(jobs::job_runs))
        .routes(routes!(webhooks::create_endpoint, webhooks::list_endpoints))
        .routes(routes!(webhooks::delete_endpoint))
        .routes(routes!(webhooks::test_endpoint))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::replay_delivery))
        .routes(routes!(
            budgets::set_budget,
            budgets::get_budget,
            budgets::delete_budget
        ))
        .routes(routes!(budgets::list_budgets))
        .routes(routes!(budgets::anomalies))
}

/// Data-plane bodies may be as large as the largest plan allows; each request
/// is checked against its own plan before its body is read.
pub const MAX_DATA_PLANE_BODY_BYTES: usize = 4 * 1024 * 1024 * 1024;

/// `/bench/bare`: a bare handler in the same binary, for the load benchmark
/// (served only with `KEYWARD_BENCH_ROUTES=1`).
pub fn bench_router() -> Router<AppState> {
    Router::new().route(
        "/bench/bare",
        axum::routing::post(|| async { Json(serde_json::json!({ "ok": true })) }),
    )
}

/// Every dashboard form handler, behind the browser-only guard
/// (`admin_session::for_browsers`).
pub fn dashboard_forms() -> Router<AppState> {
    admin_session::router()
        .merge(admin_billing::router())
        .merge(admin_tokens::router())
        .merge(admin_tenants::router())
        .merge(admin_automation::router())
        .layer(axum::middleware::from_fn(admin_session::for_browsers))
}

/// The OpenAPI document served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = openapi_router().split_for_parts().1;
    contract::add_layer_answers(&mut doc);
    doc
}

pub fn router() -> Router<AppState> {
    let (api, mut doc) = openapi_router().split_for_parts();
    contract::add_layer_answers(&mut doc);
    api.route("/api/openapi.json", get(move || async move { Json(doc) }))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/api", any(unknown_route))
        .route("/api/{*rest}", any(unknown_route))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such API endpoint; see /api/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this endpoint does not accept that method; see /api/openapi.json",
    )
}

/// Liveness: the process answers. Also says how limits are counted (shared
/// in Redis, or locally while Redis cannot be reached).
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "limits": state.core.operations.limits_health(),
        "replica": state.core.scheduler.replica(),
    }))
}

/// Readiness for load balancers: the database answers and its migrations
/// are current (503 otherwise); Redis (when configured) and the change feed
/// are reported, but keyward keeps serving without them (local limits; the
/// safety TTL), so they do not make it unready.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let r = state.core.operations.readiness().await;
    if !r.ready() {
        tracing::warn!(
            database = r.database,
            migrations = r.migrations,
            "not ready"
        );
    }
    let status = if r.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(r))
}
