//! Shared core of the user registry.
//!
//! The producer and the consumer are thin binaries over this crate:
//! - [`domain`]: the user newtypes that parse, so nothing validates twice;
//! - [`config`]: the command-line/environment settings both binaries share;
//! - [`telemetry`]: logging setup;
//! - [`message`]: the queue message, the contract between the producer and the consumer;
//! - [`queue`]: every Redis key and script, one type per role over one connection type;
//! - [`store`]: every SQL statement;
//! - [`migration`]: the deploy-time migration (`producer migrate`, `consumer migrate`);
//! - [`registrar`]: accepting a new user (the use case behind `POST /api/users`);
//! - [`directory`]: finding a user, cache first (behind `GET /api/users/ID`);
//! - [`email_loader`]: the stored emails copied into Redis for the early duplicate check;
//! - [`retry`]: the backoff policy for transient failures;
//! - [`coalesce`]: concurrent calls sharing one round trip;
//! - [`metrics`]: the Prometheus registry and the queue gauges both binaries export.
//!
//! How a user travels from `POST` to its row: docs/design.md.

pub mod coalesce;
pub mod config;
pub mod directory;
pub mod domain;
pub mod email_loader;
pub mod health;
pub mod message;
pub mod metrics;
pub mod migration;
pub mod queue;
pub mod registrar;
pub mod retry;
pub mod stats;
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
