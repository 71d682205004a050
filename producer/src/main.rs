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
    match &cli.command {
        Some(Command::Healthcheck { url_path }) => return registry::health::check(&cli.config.listen, url_path).await,
        Some(Command::Migrate(args)) => {
            let _logs = registry::telemetry::init(cli.config.log.log_format);
            return registry::migration::run(&cli.config.mysql, args).await;
        }
        None => {}
    }
    let _logs = registry::telemetry::init(cli.config.log.log_format);
    let app = Application::build(cli.config).await.context("starting the producer")?;
    app.run_until_stopped(registry::shutdown_signal())
        .await
        .context("serving HTTP")
}
