//! What the JSON API (`api/`) and the dashboard's pages (`ui/`) share at the
//! HTTP edge, so neither imports the other: the one mapping of service
//! errors to a status and a stable code (`error`), the admin session's
//! cookie and the extractor of the signed-in admin (`session`), the
//! browser protections every route sits behind (`browser_protection`), and
//! the metrics layer (`metrics`).

pub mod browser_protection;
pub mod error;
pub mod metrics;
pub mod session;
