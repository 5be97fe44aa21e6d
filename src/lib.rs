//! keyward: a self-hosted API-key and cost control plane.
//!
//! Data flows one way: the edge (`api`, `ui` server functions, `cli`) calls
//! `services`, which uses `domain`, `db` and `crypto`.

#[macro_use]
mod redact;

pub mod domain;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod body_guard;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod crypto;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod http_server;
#[cfg(feature = "ssr")]
pub mod integrations;
#[cfg(feature = "ssr")]
pub mod services;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod telemetry;
#[cfg(feature = "ssr")]
pub mod web;

/// The whole HTTP surface: the JSON API, then the Leptos pages and static files.
#[cfg(feature = "ssr")]
pub fn routes(
    state: startup::AppState,
    bench_routes: bool,
    guard: &config::GuardSettings,
) -> axum::Router {
    use leptos_axum::{generate_route_list, LeptosRoutes};
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;

    let leptos_options = (*state.leptos_options).clone();
    let pages = generate_route_list(ui::App);
    let mut router = axum::Router::new()
        .merge(api::router())
        .merge(api::dashboard_forms());
    if bench_routes {
        // Behind the same middleware as every route, so the benchmark's
        // baseline differs from the real endpoints only by their handlers.
        router = router.merge(api::bench_router());
    }
    // Pages and server functions see the application state as context.
    let context = {
        let state = state.clone();
        move || leptos::prelude::provide_context(state.clone())
    };
    let server_fns = {
        let context = context.clone();
        move |req: axum::extract::Request| {
            let context = context.clone();
            async move { leptos_axum::handle_server_fns_with_context(context, req).await }
        }
    };
    router
        .route("/admin/fn/{*name}", axum::routing::any(server_fns))
        .leptos_routes_with_context(&state, pages, context, {
            let options = leptos_options.clone();
            move || ui::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<startup::AppState, _>(
            ui::shell,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.core.metrics.clone(),
            web::metrics::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_guard::BodyGuard::new(
                guard.body_memory_mb * 1024 * 1024,
                guard.body_timeout,
                guard.request_timeout,
            ),
            body_guard::guard,
        ))
        .layer(axum::middleware::from_fn(web::browser_protection::protect))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(ui::App);
}
