//! The admin session at the HTTP edge: the `keyward_session` cookie (HttpOnly,
//! SameSite=Strict, Path=/, Secure over TLS), and the signed-in admin of a
//! request. Used by the dashboard's forms and by its pages alike.

use super::browser_protection::over_tls;
use super::error::ApiError;
use crate::services::admins::AdminSession;
use crate::startup::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};

pub const COOKIE: &str = "keyward_session";

/// The session token the request's cookie carries, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

pub fn cookie(headers: &HeaderMap, value: &str, max_age: i64) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in admin of a request (401 without a live session).
pub struct SignedInAdmin(pub AdminSession);

impl FromRequestParts<AppState> for SignedInAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session_token(&parts.headers).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "NOT_SIGNED_IN",
                "sign in at /admin/sign-in",
            )
        })?;
        match state.core.admins.admin_session(&token).await? {
            Some(s) => Ok(Self(s)),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "NOT_SIGNED_IN",
                "the session has ended; sign in again at /admin/sign-in",
            )),
        }
    }
}
