//! The per-client-IP limit on writes (`governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Writes allowed per client IP.
pub struct WriteLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl WriteLimiter {
    /// `per_sec` writes per second with bursts of `burst`; `None` when `per_sec` is 0 (off).
    pub fn new(per_sec: u32, burst: u32) -> Option<Self> {
        let per_sec = NonZeroU32::new(per_sec)?;
        let burst = NonZeroU32::new(burst.max(1)).expect("max(1) is non-zero");
        Some(Self(RateLimiter::keyed(Quota::per_second(per_sec).allow_burst(burst))))
    }

    /// Counts a write by `ip`; on refusal, how long until the next one is allowed.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.0
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets clients idle long enough to be back at a full burst, so that memory stays
    /// bounded.
    pub fn forget_idle(&self) {
        self.0.retain_recent();
    }
}
