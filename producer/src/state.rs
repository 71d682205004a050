//! What every handler shares.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use registry::coalesce::Coalescer;
use registry::domain::UserId;
use registry::emails::EmailLoader;
use registry::queue::{EnqueueRequest, Enqueued, Lookup, Queue, QueueError};
use registry::store::{Store, StoreError};

use crate::metrics::Metrics;

/// Shared state of the producer.
pub struct AppState {
    /// The Redis queue and cache.
    pub queue: Queue,
    /// The MySQL store.
    pub store: Store,
    /// Cache lifetime of stored users.
    pub cache_ttl: Duration,
    /// This machine's name.
    pub host: String,
    /// Per-client-IP limit on writes; `None` when turned off.
    pub limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// The Prometheus series.
    pub metrics: Metrics,
    /// Enqueues the users of concurrent requests in one script run (see [`AppState::new`]).
    pub enqueuer: Coalescer<EnqueueRequest, Enqueued, QueueError>,
    /// Checks the emails of concurrent requests in one query, when Redis cannot answer alone.
    pub email_checks: Coalescer<String, bool, StoreError>,
    /// Loads the stored emails into Redis, so that it can answer alone.
    pub emails: Arc<EmailLoader>,
    /// Looks the users of concurrent reads up in the cache and the queue in one round trip.
    pub lookups: Coalescer<UserId, Lookup, QueueError>,
}

/// Most addresses checked by one query.
const EMAIL_CHECK_BATCH: usize = 64;
/// Most ids looked up by one round trip.
const LOOKUP_BATCH: usize = 128;

impl AppState {
    /// The shared state, with the batch tasks of the enqueue, the email check and the cache
    /// lookup started on the current runtime. Requests that arrive while one script run (or
    /// one query) is in flight share the next: per user, Redis and MySQL then parse, run and
    /// answer a fraction of a command, and the producer sends and awaits a fraction of a
    /// reply. A lone request waits for nothing. `id_floor`, the highest id stored at start, is
    /// a lower bound of every id the enqueue hands out (see [`Queue::spawn_enqueuer`]).
    pub fn new(
        queue: Queue,
        store: Store,
        cache_ttl: Duration,
        limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
        id_floor: u64,
    ) -> Self {
        let enqueuer = queue.spawn_enqueuer(id_floor);
        let email_checks = {
            let store = store.clone();
            Coalescer::spawn(EMAIL_CHECK_BATCH, move |keys: Vec<String>| {
                let store = store.clone();
                async move { store.emails_taken(&keys).await }
            })
        };
        let lookups = {
            let queue = queue.clone();
            Coalescer::spawn(LOOKUP_BATCH, move |ids: Vec<UserId>| {
                let queue = queue.clone();
                async move { queue.lookup_many(&ids).await }
            })
        };
        Self {
            emails: EmailLoader::new(queue.clone(), store.clone()),
            queue,
            store,
            cache_ttl,
            host: registry::hostname(),
            limiter,
            metrics: Metrics::new(),
            enqueuer,
            email_checks,
            lookups,
        }
    }

    /// Builds the rate limiter: `per_sec` writes per second, bursts of `burst`; 0 turns it off.
    pub fn limiter(per_sec: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
        let per_sec = NonZeroU32::new(per_sec)?;
        let burst = NonZeroU32::new(burst.max(1)).expect("max(1) is non-zero");
        Some(RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst)))
    }

    /// Counts a write by `ip`; on refusal, how long until the next one is allowed.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}
