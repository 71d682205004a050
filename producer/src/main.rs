//! The producer binary: configuration, telemetry, build, serve until SIGTERM/Ctrl-C.

use anyhow::Context;
use clap::Parser;
use producer::config::{Cli, Command};
use producer::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url_path }) = cli.command {
        return healthcheck(&cli.config.listen, &url_path).await;
    }
    registry::telemetry::init(cli.config.log.log_format);
    let app = Application::build(cli.config).await.context("starting the producer")?;
    app.run_until_stopped(producer::startup::shutdown_signal())
        .await
        .context("serving HTTP")
}

async fn healthcheck(listen: &str, path: &str) -> anyhow::Result<()> {
    let port = registry::health::port_of(listen).context("LISTEN_ADDR has no port")?;
    let healthy = registry::health::probe(port, path)
        .await
        .context("probing the producer")?;
    anyhow::ensure!(healthy, "the producer is not ready");
    Ok(())
}
