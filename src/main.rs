#[tokio::main]
async fn main() -> std::process::ExitCode {
    keyward::telemetry::init();
    keyward::cli::run().await
}
