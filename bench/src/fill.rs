//! Fills the queue with real messages: each user goes through `Enqueuer::enqueue`, the
//! producer's own Lua script (id allocation, queue, pending entry), many at once over one
//! multiplexed connection as the producer sends them.

use std::sync::Arc;
use std::time::Instant;

use registry::message::MessageTail;
use registry::queue::{EnqueueRequest, Enqueued, Enqueuer, QueueMonitor};
use serde_json::json;

use crate::rows;

/// Options of `bench fill`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    queue: crate::QueueArgs,
    /// Users to queue.
    #[arg(long, default_value_t = 200_000)]
    count: usize,
    /// Enqueues in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// Queues the users and reports the rate.
pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let conn = args.queue.connection()?;
    let queue = Enqueuer::new(conn.clone());
    let users = Arc::new(rows::users(&rows::run_tag(), args.count));
    crate::progress(format_args!("queueing {} users", args.count));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..args.concurrency {
        let (queue, users, lanes) = (queue.clone(), users.clone(), args.concurrency);
        tasks.spawn(async move {
            for u in users.iter().skip(lane).step_by(lanes) {
                let tail = MessageTail::accepted_now(&u.user, &u.request_id);
                let email_key = u.user.email_key();
                let request = EnqueueRequest::new(&tail, None, email_key.as_deref(), false);
                match queue.enqueue(&request, 0).await? {
                    Enqueued::New(_) => {}
                    other => anyhow::bail!("an enqueue without checks answered {other:?}"),
                }
            }
            Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let secs = started.elapsed().as_secs_f64();
    let pending = QueueMonitor::new(conn).stats().await?.pending;
    anyhow::ensure!(
        pending >= args.count as u64,
        "queued {} but the queue holds {pending}",
        args.count
    );
    Ok(json!({ "users": args.count, "secs": secs, "rate": args.count as f64 / secs }))
}
