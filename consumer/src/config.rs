//! The consumer's settings: each a flag and an environment variable.

use std::time::Duration;

use registry::config::{CacheArgs, LogArgs, MysqlArgs, RedisArgs};

/// Command line of the `consumer` binary.
#[derive(Debug, clap::Parser)]
#[command(
    name = "consumer",
    version,
    about = "Consumer of the user registry: stores queued users in MySQL, exactly once."
)]
pub struct Cli {
    /// What to do (default: consume).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Creates the database, the tables and the application's MySQL user (run once per deploy,
    /// with an admin account in MYSQL_URL / MYSQL_PASSWORD_FILE); needs no Redis.
    Migrate(registry::migration::MigrateArgs),
    /// Manage the dead-letter list.
    Dead {
        /// What to do with it.
        #[command(subcommand)]
        action: DeadAction,
    },
    /// Exits 0 when the consumer whose METRICS_ADDR is here is ready (for container health checks).
    Healthcheck {
        /// Path to probe.
        #[arg(long, default_value = "/health/ready")]
        url_path: String,
    },
}

/// Dead-letter commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeadAction {
    /// Print dead letters, newest first, one JSON object per line.
    List {
        /// How many at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put dead letters back on the queue, oldest first, with fresh attempts.
    Requeue {
        /// How many at most (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Delete every dead letter.
    Purge,
}

/// Settings of the consumer.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub redis: RedisArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub mysql: MysqlArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cache: CacheArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub log: LogArgs,

    /// Address of the consumer's health (and metrics) endpoint.
    #[arg(long = "metrics-listen", env = "METRICS_ADDR", default_value = "0.0.0.0:9091")]
    pub metrics_listen: String,

    /// Most messages stored in one transaction.
    #[arg(long = "batch-size", env = "BATCH_SIZE", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// Attempts before a message that fails permanently goes to the dead-letter list.
    #[arg(long = "max-attempts", env = "MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// Seconds of silence after which a consumer's in-flight messages are re-queued.
    #[arg(long = "lease-secs", env = "LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..))]
    pub lease_secs: u64,
}

impl Config {
    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}
