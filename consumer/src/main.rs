//! The consumer binary: takes users off the Redis queue and stores them in MySQL.

use anyhow::Context;
use clap::Parser;
use consumer::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { url_path }) => {
            let port = registry::health::port_of(&cli.config.metrics_listen).context("METRICS_ADDR has no port")?;
            let healthy = registry::health::probe(port, &url_path)
                .await
                .context("probing the consumer")?;
            anyhow::ensure!(healthy, "the consumer is not ready");
            Ok(())
        }
        Some(Command::Dead { action }) => consumer::dead::run(&cli.config, action).await,
        None => {
            registry::telemetry::init(cli.config.log.log_format);
            consumer::startup::run(cli.config).await
        }
    }
}
