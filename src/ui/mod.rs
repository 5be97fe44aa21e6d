//! Leptos pages. Server functions sit beside the page that uses them and call
//! `services`; nothing here names `db` or `crypto`.

pub mod admin;
pub mod automation;
mod automation_data;
#[cfg(feature = "ssr")]
mod automation_model;
#[cfg(feature = "ssr")]
mod charts;
pub mod costs;
mod costs_data;
#[cfg(feature = "ssr")]
mod costs_model;
pub mod customer;
mod customer_data;
#[cfg(feature = "ssr")]
mod customer_model;
#[cfg(feature = "ssr")]
mod format;
mod home;
#[cfg(feature = "ssr")]
mod optimize_model;
mod tenant_actions;
pub mod tokens;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's inline scripts carry this response's nonce; its policy admits them.
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(policy) =
            http::HeaderValue::from_str(&crate::web::browser_protection::page_policy(&nonce))
        {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/keyward.css"/>
        <Title text="keyward"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=home::HomePage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("admin"), StaticSegment("sign-in"))
                    view=admin::SignInPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("invoices"))
                    view=admin::InvoicesPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("tokens"))
                    view=tokens::TokensPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("costs"))
                    view=costs::CostsPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("optimize"))
                    view=costs::OptimizePage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("customers"), ParamSegment("tenant"))
                    view=customer::CustomerPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("jobs"))
                    view=automation::JobsPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("webhooks"))
                    view=automation::WebhooksPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("admin"), StaticSegment("cache-keys"))
                    view=admin::CacheKeysPage
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <main class="page">
            <h1>"Not found"</h1>
            <p>"There is no page here. " <a href="/">"Back to keyward"</a></p>
        </main>
    }
}
