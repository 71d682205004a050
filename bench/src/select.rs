//! The limit of MariaDB for the producer's early email check: the same point SELECT on
//! `email_key`, prepared once per connection, from many connections at once, for addresses
//! that are not stored (the common case of a new user).

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use serde_json::json;

use crate::stats::summary;

/// Options of `bench select-limit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// MySQL URL; its database is created (with the registry's schema) when missing.
    #[arg(long, env = "MYSQL_URL", hide_env_values = true)]
    mysql_url: String,
    /// Users stored first, so that the index is not empty.
    #[arg(long, default_value_t = 50_000)]
    rows: usize,
    /// Connections querying at once.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Seconds of querying.
    #[arg(long, default_value_t = 10)]
    secs: u64,
}

/// The producer's query for one address; the producer asks for the addresses of concurrent
/// requests in one `IN (...)` (see `Store::emails_taken` in registry/src/store.rs).
const EMAIL_TAKEN: &str = "SELECT 1 FROM users WHERE email_key = ?";

/// Runs the queries and reports their rate and latency.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let pool = crate::insert::schema_pool(&args.mysql_url).await?;
    crate::insert::fill_table(&pool, args.rows).await?;
    crate::progress(format_args!(
        "email checks from {} connections for {} s",
        args.connections, args.secs
    ));
    let until = Instant::now() + Duration::from_secs(args.secs);
    let tag = crate::rows::run_tag();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..args.connections {
        let (pool, tag) = (pool.clone(), tag.clone());
        tasks.spawn(async move {
            let mut conn = pool.get_conn().await?;
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let key = format!("new.{tag}.{lane}.{}@example.com", latencies.len());
                let started = Instant::now();
                let hit: Option<u8> = conn.exec_first(EMAIL_TAKEN, (key,)).await?;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(hit.is_none(), "a new address was found stored");
            }
            anyhow::Ok(latencies)
        });
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let secs = started.elapsed().as_secs_f64();
    pool.disconnect().await?;
    let queries = latencies.len();
    Ok(json!({
        "queries": queries,
        "connections": args.connections,
        "secs": secs,
        "rps": queries as f64 / secs,
        "latency": summary(latencies),
    }))
}
