//! The `keyward` binary: parses the command line and runs it (see `cli`).

// The server allocates and frees many small buffers per request (headers,
// JSON, usage labels); mimalloc serves those faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // `keyward` alone, or `keyward serve`, runs the server.
    let serving = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .is_none_or(|a| a == "serve");
    keyward::telemetry::init(serving);
    keyward::cli::run().await
}
