//! The HTTP producer: validates new users, queues them in Redis, answers reads cache-first.

pub mod config;
pub mod deadline;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;
