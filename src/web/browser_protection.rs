//! Headers that tell browsers how to protect keyward's pages and answers:
//! a Content-Security-Policy on everything (pages replace it with one that
//! admits their own inline scripts by a per-response nonce), no framing, no
//! MIME sniffing, no referrer sent to other sites (`same-origin`: with
//! `no-referrer`, browsers send `Origin: null` and the dashboard's same-site
//! form check would refuse every form), HSTS when served over TLS, and
//! `no-store` on every API and admin response (they can carry a secret shown
//! once).

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The policy of every response that does not set its own: only keyward's
/// own scripts (and its wasm), styles and images; no plugins, no `<base>`,
/// no framing, forms post only to keyward.
pub const BASE_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// The policy of a server-rendered page: as [`BASE_POLICY`], plus the inline
/// scripts that carry this response's nonce (Leptos's hydration loader and
/// its serialized data).
pub fn page_policy(nonce: &str) -> String {
    BASE_POLICY.replacen(
        "script-src 'self'",
        &format!("script-src 'self' 'nonce-{nonce}'"),
        1,
    )
}

/// Whether the request reached us over TLS (as the proxy terminating it says).
pub fn over_tls(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub async fn protect(req: Request, next: Next) -> Response {
    let tls = over_tls(req.headers());
    let path = req.uri().path();
    let private = path.starts_with("/api/") || path.starts_with("/admin");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if !h.contains_key(CONTENT_SECURITY_POLICY) {
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BASE_POLICY),
        );
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if tls {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if private {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_policy_admits_only_its_own_nonce() {
        let p = page_policy("abc123");
        assert!(p.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"));
        assert!(!p.contains("unsafe-inline"));
        assert!(p.contains("frame-ancestors 'none'"));
    }
}
