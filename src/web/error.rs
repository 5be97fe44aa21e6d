//! The one error type of the HTTP edge. Every failure becomes
//! `{"error":{"code":"STABLE_CODE","message":"..."}}`; each variant's status
//! is decided here and nowhere else.

use crate::services;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
    /// Extra response headers (Retry-After, RateLimit-*).
    pub headers: Vec<(&'static str, String)>,
}

/// On a response refused by a limit or a budget: the refusal's code (the
/// metrics layer counts refusals by it).
#[derive(Debug, Clone, Copy)]
pub struct Refused(pub &'static str);

/// The error body every endpoint returns on failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `KEY_NOT_FOUND`.
    pub code: String,
    pub message: String,
    /// The input field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
}

impl From<services::Error> for ApiError {
    fn from(err: services::Error) -> Self {
        use services::Error as E;
        match err {
            E::Validation(v) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "VALIDATION_ERROR",
                message: v.to_string(),
                field: Some(v.field),
                headers: Vec::new(),
            },
            E::NotFound { code, message } => Self::new(StatusCode::NOT_FOUND, code, message),
            E::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            E::Unauthenticated { code, message } => {
                Self::new(StatusCode::UNAUTHORIZED, code, message)
            }
            E::Forbidden { code, message } => Self::new(StatusCode::FORBIDDEN, code, message),
            E::Unavailable { code, message } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
            }
            E::Limit(l) => Self::from_limit(&l),
            E::PaymentRequired { code, message } => {
                Self::new(StatusCode::PAYMENT_REQUIRED, code, message)
            }
            E::Busy {
                code,
                message,
                retry_after_secs,
            } => {
                let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
                e.headers
                    .push(("retry-after", retry_after_secs.to_string()));
                e
            }
            E::TooManyAttempts {
                code,
                message,
                retry_after_secs,
            } => {
                let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, message);
                e.headers
                    .push(("retry-after", retry_after_secs.to_string()));
                e
            }
            E::Store(e) if crate::db::is_unique_violation(&e) => Self::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                "the change conflicts with existing data",
            ),
            E::Store(e) if crate::db::is_busy(&e) => {
                tracing::warn!(error = %e, "store busy: answered 503");
                let mut e = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "STORE_BUSY",
                    "the store is busy with other writes; nothing was changed, retry shortly",
                );
                e.headers.push(("retry-after", "1".into()));
                e
            }
            E::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                Self::internal()
            }
            E::Internal { context, detail } => {
                tracing::error!(context, detail, "internal failure");
                Self::internal()
            }
        }
    }
}

impl ApiError {
    /// 429 with Retry-After and RateLimit-* headers, or 413 for payload size.
    pub fn from_limit(l: &crate::domain::limits::LimitExceeded) -> Self {
        use crate::domain::limits::LimitKind;
        if l.kind == LimitKind::Payload {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the body is larger than the plan's {} bytes", l.limit),
            );
        }
        if l.kind == LimitKind::Storage {
            return Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                l.kind.code(),
                format!(
                    "the tenant's cached responses would exceed the plan's {} bytes \
                     ({} bytes left); invalidate entries or wait for some to expire",
                    l.limit, l.remaining
                ),
            );
        }
        let (whose, what) = match l.kind {
            LimitKind::PerSecond => ("the plan", format!("{} requests per second", l.limit)),
            LimitKind::Monthly => ("the plan", format!("{} requests this month", l.limit)),
            LimitKind::KeyPerSecond => (
                "the key (all its tenants together)",
                format!("{} requests per second", l.limit),
            ),
            LimitKind::KeyMonthly => (
                "the key (all its tenants together)",
                format!("{} requests this month", l.limit),
            ),
            _ => ("the plan", format!("{} concurrent requests", l.limit)),
        };
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            l.kind.code(),
            format!("{whose} allows {what}; retry in {} s", l.reset_seconds),
        );
        e.headers = rate_limit_headers(l.limit, l.remaining, l.reset_seconds);
        e.headers.push(("retry-after", l.reset_seconds.to_string()));
        e
    }
}

/// The RateLimit-Limit / -Remaining / -Reset header trio.
pub fn rate_limit_headers(
    limit: i64,
    remaining: i64,
    reset_seconds: i64,
) -> Vec<(&'static str, String)> {
    vec![
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", remaining.max(0).to_string()),
        ("ratelimit-reset", reset_seconds.to_string()),
    ]
}

impl From<crate::domain::ValidationError> for ApiError {
    fn from(err: crate::domain::ValidationError) -> Self {
        services::Error::from(err).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field.map(str::to_string),
            },
        };
        let refused = matches!(self.status.as_u16(), 402 | 413 | 429).then_some(self.code);
        let mut response = (self.status, Json(body)).into_response();
        if let Some(code) = refused {
            response.extensions_mut().insert(Refused(code));
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keyward\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A database error with only a code, as the drivers report them.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl std::fmt::Display for Coded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "coded"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn store(code: &'static str) -> ApiError {
        services::Error::Store(sqlx::Error::Database(Box::new(Coded(code)))).into()
    }

    #[test]
    fn a_store_busy_for_now_is_a_503_to_retry_and_other_failures_stay_500() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, PostgreSQL lock timeout, deadlock.
        for code in ["5", "517", "55P03", "40P01"] {
            let e = store(code);
            assert_eq!(
                (e.status, e.code, e.headers.clone()),
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "STORE_BUSY",
                    vec![("retry-after", "1".to_string())]
                ),
                "{code}"
            );
        }
        // SQLITE_CORRUPT, SQLITE_IOERR, PostgreSQL's undefined table, and its
        // all-digit SQLSTATEs whose low byte would read as SQLITE_BUSY
        // (insufficient privilege, a character not in the repertoire).
        for code in ["11", "10", "42P01", "42501", "22021"] {
            assert_eq!(
                store(code).status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "{code}"
            );
        }
    }
}
