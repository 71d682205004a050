//! The limit of MariaDB for what the consumer writes: the same user rows, in multi-row INSERTs
//! of the consumer's batch size, each its own transaction (autocommit, so one durable commit
//! per batch as for the consumer), through prepared statements as mysql_async sends them.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use mysql_async::prelude::*;
use mysql_async::{Pool, Value};
use serde_json::json;

use crate::rows::{self, BenchUser};

/// Options of `bench insert-limit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// MySQL URL; its database is created (with the registry's schema) when missing and
    /// should be empty: rows are appended to its `users` table.
    #[arg(long, env = "MYSQL_URL", hide_env_values = true)]
    mysql_url: String,
    /// Rows to insert.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per INSERT (the consumer's BATCH_SIZE).
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Connections inserting at once, each a batch at a time.
    #[arg(long, default_value_t = 1)]
    connections: usize,
}

/// Inserts the rows and reports the rate.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let pool = schema_pool(&args.mysql_url).await?;
    let users = Arc::new(rows::users(&rows::run_tag(), args.rows));
    crate::progress(format_args!(
        "inserting {} rows, {} per INSERT, over {} connection(s)",
        args.rows, args.batch_size, args.connections
    ));
    let started = Instant::now();
    insert_all(&pool, users, args.batch_size, args.connections).await?;
    let secs = started.elapsed().as_secs_f64();
    let count: Option<u64> = pool.get_conn().await?.query_first("SELECT COUNT(*) FROM users").await?;
    pool.disconnect().await?;
    anyhow::ensure!(
        count == Some(args.rows as u64),
        "expected {} rows, found {count:?}",
        args.rows
    );
    Ok(json!({
        "rows": args.rows,
        "batch_size": args.batch_size,
        "connections": args.connections,
        "secs": secs,
        "rate": args.rows as f64 / secs,
    }))
}

/// A pool on `mysql_url`'s database, after the store's own start-up has created the database
/// and the real schema.
pub async fn schema_pool(mysql_url: &str) -> anyhow::Result<Pool> {
    let opts = registry::store::options(mysql_url, None)?;
    registry::store::Store::connect(opts.clone())
        .await
        .context("creating the schema")?
        .close()
        .await;
    Ok(Pool::new(opts))
}

/// Stores `rows` users (256 per INSERT), for measurements that need a filled table.
pub async fn fill_table(pool: &Pool, rows: usize) -> anyhow::Result<()> {
    insert_all(pool, Arc::new(rows::users(&rows::run_tag(), rows)), 256, 1).await
}

/// Inserts the users, `batch_size` per statement, over `connections` connections.
async fn insert_all(
    pool: &Pool,
    users: Arc<Vec<BenchUser>>,
    batch_size: usize,
    connections: usize,
) -> anyhow::Result<()> {
    let first_id = registry::now_millis() * 1024;
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..connections {
        let (pool, users) = (pool.clone(), users.clone());
        tasks.spawn(async move { insert_lane(pool, &users, first_id, batch_size, lane, connections).await });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// One connection's share: batches `lane`, `lane + lanes`, ... in order.
async fn insert_lane(
    pool: Pool,
    users: &[BenchUser],
    first_id: u64,
    batch_size: usize,
    lane: usize,
    lanes: usize,
) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await?;
    for (n, batch) in users.chunks(batch_size).enumerate().skip(lane).step_by(lanes) {
        let first = first_id + (n * batch_size) as u64;
        let (sql, params) = insert(batch, first);
        conn.exec_drop(sql, params).await?;
    }
    Ok(())
}

/// The consumer's statement for a batch of new users (the ids `first_id`, `first_id + 1`, ...).
fn insert(batch: &[BenchUser], first_id: u64) -> (String, Vec<Value>) {
    let accepted_at = registry::now_millis();
    registry::store::new_users_insert(
        batch
            .iter()
            .enumerate()
            .map(|(i, u)| (first_id + i as u64, &u.user, u.request_id.as_str(), accepted_at)),
    )
}
