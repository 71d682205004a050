//! The consumer: a reliable, batched, retrying worker over the Redis queue.

pub mod config;
pub mod dead;
pub mod health;
pub mod metrics;
pub mod startup;
pub mod worker;
