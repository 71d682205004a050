//! The consumer: a reliable, batched, retrying worker over the Redis queue.
//!
//! - [`batch`]: the pure decisions of a batch (stored, refused, retried, dead-lettered);
//! - [`pipeline`]: take, store and acknowledge, overlapped, with the pipeline's own state;
//! - [`journal`]: the log writer;
//! - [`startup`]: connect, serve health, keep the lease, consume, stop cleanly;
//! - [`dead`]: the `consumer dead` commands.

pub mod batch;
pub mod config;
pub mod dead;
pub mod health;
pub mod journal;
pub mod metrics;
pub mod pipeline;
pub mod startup;
