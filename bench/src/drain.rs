//! Times a drain: from the first message taken off a full queue to the last one acknowledged
//! (the consumer acknowledges only after its commit), then checks MySQL holds every user.

use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::*;
use registry::queue::QueueMonitor;
use serde_json::json;

/// Options of `bench drain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    queue: crate::QueueArgs,
    /// MySQL URL of the consumers' database, for the final count.
    #[arg(long, env = "MYSQL_URL", hide_env_values = true)]
    mysql_url: String,
    /// Users in the queue (all must end up stored).
    #[arg(long)]
    expect: u64,
    /// Users stored before the drain (a seeded table), counted with the drained ones.
    #[arg(long, default_value_t = 0)]
    stored_before: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// Polls the queue every 5 ms until it is drained; reports the rate.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let monitor = QueueMonitor::new(args.queue.connection()?);
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut started = None;
    let mut last_report = Instant::now();
    loop {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the queue was not drained within {}s",
            args.timeout_secs
        );
        let stats = monitor.stats().await?;
        let (queued, unacknowledged) = (stats.pending, stats.pending + stats.processing);
        if started.is_none() && queued < args.expect {
            started = Some(Instant::now());
        }
        if started.is_some() && unacknowledged == 0 {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            crate::progress(format_args!("{unacknowledged} users not yet stored"));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.expect("set before the loop ends").elapsed().as_secs_f64();
    let dead = monitor.stats().await?.dead;
    let pool = mysql_async::Pool::new(registry::store::options(&args.mysql_url, None)?);
    let stored: Option<u64> = pool
        .get_conn()
        .await?
        .query_first("SELECT COUNT(*) FROM users")
        .await
        .context("counting stored users")?;
    pool.disconnect().await?;
    anyhow::ensure!(
        stored == Some(args.stored_before + args.expect) && dead == 0,
        "expected {} stored users and no dead letters, found {stored:?} and {dead}",
        args.stored_before + args.expect
    );
    Ok(json!({ "users": args.expect, "secs": secs, "rate": args.expect as f64 / secs }))
}
