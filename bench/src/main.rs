//! The parts of `scripts/bench` that wrk and redis-benchmark cannot do: the raw insert limit
//! of MariaDB, filling the queue with real messages, timing a drain, a steady-rate poster that
//! measures acceptance-to-stored latency, and writing BENCHMARKS.md.
//!
//! Each measuring subcommand prints one JSON object on stdout (progress goes to stderr);
//! `scripts/bench` collects them into a results file that `bench report` turns into tables.

mod drain;
mod fill;
mod floor;
mod insert;
mod report;
mod rows;
mod select;
mod stats;
mod steady;

use clap::{Parser, Subcommand};
use registry::config::{RedisArgs, RedisMode};
use registry::queue::{Connection, Timeouts};

#[derive(Parser)]
#[command(about = "Benchmark helpers for scripts/bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The raw rate of multi-row INSERTs of user rows, as the consumer writes them.
    InsertLimit(insert::Args),
    /// The rate of the producer's email check (a point SELECT) from many connections.
    SelectLimit(select::Args),
    /// Fills the queue with users through the producer's own enqueue script.
    Fill(fill::Args),
    /// Waits for consumers (started by the caller) to drain the queue, and times it.
    Drain(drain::Args),
    /// Posts users at a steady rate and measures 202-to-stored latency.
    Steady(steady::Args),
    /// Serves the same requests as the producer doing nothing else, or one Redis command each.
    HttpFloor(floor::Args),
    /// Writes the figures of a run into BENCHMARKS.md.
    Report(report::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let figures = match Cli::parse().command {
        Command::InsertLimit(args) => insert::run(args).await?,
        Command::SelectLimit(args) => select::run(args).await?,
        Command::Fill(args) => fill::run(args).await?,
        Command::Drain(args) => drain::run(args).await?,
        Command::Steady(args) => steady::run(args).await?,
        Command::HttpFloor(args) => floor::run(args).await?,
        Command::Report(args) => return report::run(args),
    };
    println!("{figures}");
    Ok(())
}

/// The queue `bench fill` fills and `bench drain` watches.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// Redis URL.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: String,
    /// Key prefix of the deployment whose queue is filled or drained.
    #[arg(long, env = "KEY_PREFIX")]
    key_prefix: String,
    /// `standalone`, `sentinel` or `cluster` (then `--redis-url` lists nodes), as the binaries.
    #[arg(long, env = "REDIS_MODE", value_enum, default_value_t = RedisMode::Standalone)]
    redis_mode: RedisMode,
}

impl QueueArgs {
    /// A connection to the queue, as the binaries open theirs.
    fn connection(&self) -> anyhow::Result<Connection> {
        let args = RedisArgs {
            redis_mode: self.redis_mode,
            ..RedisArgs::new(self.redis_url.clone(), self.key_prefix.clone())
        };
        Ok(Connection::open(&args, Timeouts::INTERACTIVE)?)
    }
}

/// Progress for the person watching, on stderr.
fn progress(message: impl std::fmt::Display) {
    eprintln!("    {message}");
}
