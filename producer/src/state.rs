//! What every handler shares: the library's services, the rate limiter and the metrics.

use std::net::IpAddr;
use std::time::Duration;

use registry::directory::Directory;
use registry::queue::{Connection, QueueError, QueueMonitor, Replication};
use registry::registrar::Registrar;
use registry::stats::Stats;
use registry::store::Store;

use crate::metrics::Metrics;
use crate::rate_limit::WriteLimiter;

/// Shared state of the producer.
pub struct AppState {
    /// Accepts new users.
    pub registrar: Registrar,
    /// Finds users, cache first.
    pub directory: Directory,
    /// The queue's counters (and a ping of Redis).
    pub monitor: QueueMonitor,
    /// The counters of `/api/stats`, read at most once a second.
    pub stats: Stats,
    /// The MySQL store.
    pub store: Store,
    /// This machine's name.
    pub host: String,
    /// Per-client-IP limit on writes; `None` when turned off.
    pub limiter: Option<WriteLimiter>,
    /// The Prometheus series.
    pub metrics: Metrics,
}

impl AppState {
    /// The shared state over one Redis connection and the store, with the services' batching
    /// tasks started on the current runtime. `id_floor` is the highest id stored at start;
    /// `replication`, the replica confirmations each enqueue waits for.
    pub fn new(
        conn: Connection,
        store: Store,
        cache_ttl: Duration,
        limiter: Option<WriteLimiter>,
        id_floor: u64,
        replication: Option<Replication>,
    ) -> Result<Self, QueueError> {
        let monitor = QueueMonitor::new(conn.clone());
        Ok(Self {
            registrar: Registrar::new(conn.clone(), store.clone(), id_floor, replication)?,
            directory: Directory::new(conn.clone(), store.clone(), cache_ttl),
            stats: Stats::new(store.clone(), monitor.clone()),
            monitor,
            store,
            host: registry::hostname(),
            limiter,
            metrics: Metrics::new(),
        })
    }

    /// Counts a write by `ip`; on refusal, how long until the next one is allowed.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter.as_ref().map_or(Ok(()), |limiter| limiter.check(ip))
    }
}
