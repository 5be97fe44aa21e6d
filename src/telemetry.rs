//! Logging. Secrets never reach a log line: plain keys and tokens are types
//! whose `Debug` prints nothing secret, and request bodies are not logged.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
