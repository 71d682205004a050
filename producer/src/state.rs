//! What every handler shares.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use registry::queue::Queue;
use registry::store::Store;

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
    /// The highest stored id seen at start: new ids are always above it.
    pub id_floor: u64,
    /// The Prometheus series.
    pub metrics: Metrics,
}

impl AppState {
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
