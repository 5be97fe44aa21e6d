//! The `keyward` binary: parses the command line and runs it (see `cli`).

// The server allocates and frees many small buffers per request (headers,
// JSON, usage labels); mimalloc serves those faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    keyward::telemetry::init();
    keyward::cli::run().await
}
