//! Logging. Secrets never reach a log line: plain keys and tokens are types
//! whose `Debug` prints nothing secret, and request bodies are not logged.

use tracing_subscriber::{fmt, EnvFilter};

/// Log lines go to stderr, for the server and every command alike: a
/// command's stdout holds only its answer (`--json` is parsed by scripts).
/// The server logs from `info` up, a one-shot command only warnings (its
/// answer says what it did); `RUST_LOG` overrides both.
pub fn init(serving: bool) {
    let default = if serving {
        "info,sqlx=warn,tower_http=info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
