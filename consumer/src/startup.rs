//! Running a consumer: connect, serve health, heartbeat, reap, consume, drain on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::Server;
use poem::listener::TcpListener;
use registry::config::redact_url;
use registry::queue::{Connection, Lease, QueueMonitor, Timeouts};
use registry::store::{self, Store, StoreError};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::{self, Probe};
use crate::metrics::RetryCause;
use crate::pipeline::{BatchError, Pipeline, PipelineConfig};

/// How long a stopping consumer may spend finishing its batch (SIGTERM to exit < 10 s).
const FINISH_WITHIN: Duration = Duration::from_secs(7);
/// How long BLMOVE waits for a message before checking for a stop.
const TAKE_WAIT: Duration = Duration::from_secs(1);
/// How often leases are checked for dead consumers.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// A unique id for this consumer process.
pub fn consumer_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}-{}", registry::hostname(), std::process::id(), &random[..8])
}

/// Runs a consumer until SIGTERM/Ctrl-C.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let abandon = CancellationToken::new();
    tokio::spawn(on_signal(stop.clone(), abandon.clone()));
    run_until(config, stop, abandon).await
}

async fn on_signal(stop: CancellationToken, abandon: CancellationToken) {
    registry::shutdown_signal().await;
    tracing::info!("finishing the current batch");
    stop.cancel();
    tokio::time::sleep(FINISH_WITHIN).await;
    abandon.cancel();
}

/// Runs a consumer until `stop`; a batch in progress gets until `abandon` to finish.
pub async fn run_until(config: Config, stop: CancellationToken, abandon: CancellationToken) -> anyhow::Result<()> {
    let consumer = consumer_id();
    tracing::info!(
        consumer = %consumer,
        redis = %redact_url(&config.redis.redis_url),
        mysql = %redact_url(&config.mysql.mysql_url),
        key_prefix = %config.redis.key_prefix,
        batch_size = config.batch_size,
        lease_secs = config.lease_secs,
        "starting a consumer"
    );
    let conn = Connection::open(&config.redis, Timeouts::INTERACTIVE).context("invalid Redis URL or CA file")?;
    store::options_for(&config.mysql)?; // a setting that cannot work stops the start here
    let store = registry::retry::until_done("connecting to MySQL", &stop, StoreError::is_transient, || {
        Store::open(&config.mysql)
    })
    .await;
    let Some(store) = store else { return Ok(()) };
    let store = store.context("connecting to MySQL")?;

    let lease = Lease::new(conn.clone(), consumer.clone())
        .context("opening the blocking Redis connection")?
        .with_lease(config.lease());
    let pipeline_config = PipelineConfig {
        batch_size: config.batch_size as usize,
        max_attempts: config.max_attempts,
        cache_ttl: config.cache.ttl(),
        // A statement may not outlast the lease that keeps its batch this consumer's.
        statement_timeout: config.lease(),
    };
    let mut pipeline = Pipeline::new(lease.clone(), store.clone(), pipeline_config);

    let probe = Arc::new(Probe {
        monitor: QueueMonitor::new(conn),
        store: store.clone(),
        consumer: consumer.clone(),
        metrics: pipeline.metrics(),
        lease: config.lease(),
    });
    let health = Server::new(TcpListener::bind(config.metrics_listen.clone())).run_with_graceful_shutdown(
        health::routes(probe),
        abandon.clone().cancelled_owned(),
        Some(Duration::from_secs(1)),
    );
    let health = tokio::spawn(health);
    let leases = tokio::spawn(keep_lease(lease.clone(), config.lease(), stop.clone()));

    consume(&mut pipeline, &stop, &abandon).await;
    leases.abort();
    match lease.leave().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(requeued = n, "put unfinished messages back on the queue"),
        Err(err) => tracing::warn!(error = %err, "could not leave cleanly; the lease will re-queue in-flight messages"),
    }
    abandon.cancel();
    let _ = health.await;
    store.close().await;
    tracing::info!(consumer = %consumer, "consumer stopped");
    Ok(())
}

async fn consume(pipeline: &mut Pipeline, stop: &CancellationToken, abandon: &CancellationToken) {
    let mut backoff = registry::retry::transient_delays();
    while !stop.is_cancelled() {
        match pipeline.try_process_batch(TAKE_WAIT, abandon).await {
            Ok(_) => {
                pipeline.metrics().recovered();
                backoff = registry::retry::transient_delays();
            }
            Err(BatchError::Cancelled) => break,
            Err(BatchError::Take(err)) => {
                pipeline.metrics().retry(RetryCause::Redis);
                pipeline.metrics().in_trouble("Redis unreachable".into());
                let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "queue unavailable");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    if !abandon.is_cancelled()
        && let Err(err) = pipeline.finish(abandon).await
    {
        tracing::warn!(error = %err, "could not finish the batch taken ahead; leaving puts it back on the queue");
    }
    pipeline.flush_journal().await;
}

/// Heartbeats (every third of the lease) and re-queues dead consumers' messages (every second).
async fn keep_lease(holder: Lease, lease: Duration, stop: CancellationToken) {
    let beat_every = lease / 3;
    let mut last_beat: Option<tokio::time::Instant> = None;
    // The lease deadline is set one reaper tick short, so that messages of a consumer that
    // died right after a heartbeat are back in the queue within the lease.
    let deadline = lease.saturating_sub(REAP_EVERY);
    while !stop.is_cancelled() {
        if last_beat.is_none_or(|t| t.elapsed() >= beat_every) {
            match holder.heartbeat(deadline).await {
                Ok(()) => last_beat = Some(tokio::time::Instant::now()),
                Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
            }
        }
        match holder.reap().await {
            Ok(reaped) => {
                for (dead, count) in reaped {
                    tracing::warn!(dead_consumer = %dead, requeued = count, "re-queued the in-flight messages of a silent consumer");
                }
            }
            Err(err) => tracing::debug!(error = %err, "lease check failed"),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(REAP_EVERY) => {}
        }
    }
}
