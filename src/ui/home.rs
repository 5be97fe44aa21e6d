//! The landing page: what keyward is, and where to go next.

use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <main class="page">
            <header class="hero">
                <h1>"keyward"</h1>
                <p class="tagline">"Self-hosted API-key and cost control plane."</p>
            </header>
            <p>
                "keyward issues and guards the API keys a platform hands its customers: "
                "tenants on free, pro and enterprise plans, isolated namespaces, keys shown once "
                "and stored hashed, zero-downtime rotation with a grace period, disable and enable, "
                "expiry, and an audit record of every change."
            </p>
            <nav class="links" aria-label="Where to go">
                <a class="card" href="/admin/cache-keys">
                    <strong>"Admin dashboard"</strong>
                    <span>"Customers, keys, rotation and cost charts."</span>
                </a>
                <a class="card" href="/api/openapi.json" rel="external">
                    <strong>"API documentation"</strong>
                    <span>"The OpenAPI document of every endpoint."</span>
                </a>
                <a class="card" href="/healthz" rel="external">
                    <strong>"Health"</strong>
                    <span>"Liveness of this instance."</span>
                </a>
            </nav>
        </main>
    }
}
