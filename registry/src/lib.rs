//! Shared core of the user registry.
//!
//! The producer and the consumer are thin binaries over this crate:
//! - [`domain`]: the user newtypes that parse, so nothing validates twice;
//! - [`config`]: the command-line/environment settings both binaries share;
//! - [`telemetry`]: logging setup;
//! - [`queue`]: every Redis key and script (enqueue, take, acknowledge, leases, dead letters, cache);
//! - [`store`]: every SQL statement;
//! - [`emails`]: the accepted users' emails in Redis, for the producer's duplicate check;
//! - [`retry`]: the backoff policy for transient failures;
//! - [`coalesce`]: concurrent calls sharing one round trip (the producer's enqueue, email check
//!   and cache reads);
//! - [`metrics`]: the Prometheus registry and the queue gauges both binaries export.

pub mod coalesce;
pub mod config;
pub mod domain;
pub mod emails;
pub mod health;
pub mod metrics;
pub mod queue;
pub mod retry;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

/// The name of this machine, as shown by `/health/live` and `/api/stats`.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stop signal received");
}
