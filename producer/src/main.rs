//! The producer binary: configuration, telemetry, build, serve until SIGTERM/Ctrl-C.

use anyhow::Context;
use clap::Parser;
use producer::config::{Cli, Command};
use producer::startup::Application;

/// mimalloc instead of glibc's allocator, which spent a large share of both binaries' CPU
/// under load (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url_path }) = cli.command {
        return registry::health::check(&cli.config.listen, &url_path).await;
    }
    let _logs = registry::telemetry::init(cli.config.log.log_format);
    let app = Application::build(cli.config).await.context("starting the producer")?;
    app.run_until_stopped(registry::shutdown_signal())
        .await
        .context("serving HTTP")
}
