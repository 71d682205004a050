//! The consumer binary: takes users off the Redis queue and stores them in MySQL.

use clap::Parser;
use consumer::config::{Cli, Command};

/// mimalloc instead of glibc's allocator, which spent a large share of both binaries' CPU
/// under load (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { url_path }) => registry::health::check(&cli.config.metrics_listen, &url_path).await,
        Some(Command::Dead { action }) => consumer::dead::run(&cli.config, action).await,
        Some(Command::Migrate(args)) => {
            let _logs = registry::telemetry::init(cli.config.log.log_format);
            registry::migration::run(&cli.config.mysql, &args).await
        }
        None => {
            let _logs = registry::telemetry::init(cli.config.log.log_format);
            consumer::startup::run(cli.config).await
        }
    }
}
