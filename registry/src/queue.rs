//! The Redis side: every key and script of the queue, the cache and the consumer leases, as
//! one type per role over one shared [`Connection`]:
//! - [`Enqueuer`]: idempotency records and the atomic enqueue (the producer);
//! - [`Lease`]: a consumer's take, acknowledgement, heartbeat, and the reaper of dead ones;
//! - [`UserCache`]: cached stored users and the pending entries of queued ones (reads);
//! - [`DeadLetters`]: the dead-letter list and its commands;
//! - [`EmailIndex`]: the accepted emails behind the producer's early duplicate check;
//! - [`QueueMonitor`]: the queue's counters, for `/api/stats` and `/metrics`.
//!
//! Keys all carry the deployment's hash tag (`{users}:...`, see [`Keys`]) so that one
//! deployment's keys live in one Redis Cluster slot and a script may touch several atomically.
//! How a user travels through them: docs/design.md.

/// A script from Lua files of `queue/scripts/`, concatenated: the shared functions a script
/// uses (`email_filter.lua`, `ring.lua`) first, then the script itself.
macro_rules! lua {
    ($($file:literal),+ $(,)?) => {
        concat!($(include_str!($file)),+)
    };
}
use lua;

mod cache;
mod connection;
mod dead;
mod emails;
mod enqueue;
mod keys;
mod lease;
mod stats;

pub use cache::{Lookup, UserCache};
pub use connection::{Connection, Timeouts};
pub use dead::{DeadLetter, DeadLetters};
pub use emails::EmailIndex;
pub use enqueue::{ENQUEUE_BATCH, EnqueueRequest, EnqueueStatus, Enqueued, Enqueuer, IdempotencyRecord, Replication};
pub use keys::{Keys, RING_SLOTS, SECOND_SLOT, Slot};
pub use lease::{Ack, DeadCause, Disposition, Lease};
pub use stats::{QueueMonitor, QueueStats};

/// A failure talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The Redis client or server failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A script answered something it never answers.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    /// The CA file for `rediss://` could not be read.
    #[error("cannot read the Redis CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An enqueue was sent and its answer never came, and Redis did not answer the question
    /// since: its users may or may not be queued.
    #[error("redis took the enqueue but did not say whether it ran (first {0})")]
    OutcomeUnknown(String),
    /// The file of the Redis password could not be read.
    #[error("cannot read the Redis password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl QueueError {
    /// Whether trying again later may succeed (connection, timeout, loading, failover).
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::Redis(err) => {
                err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()
                    || has_code(err, transient_code)
            }
            QueueError::Protocol(_)
            | QueueError::OutcomeUnknown(_)
            | QueueError::CaFile { .. }
            | QueueError::PasswordFile { .. } => false,
        }
    }

    /// Whether the command certainly never reached Redis, so it is safe to send again.
    pub fn never_sent(&self) -> bool {
        matches!(self, QueueError::Redis(err) if err.is_connection_refusal())
    }

    /// Whether the command certainly did not run, so it is safe to send again: it never
    /// reached Redis, or Redis refused it as a replica (a demoted primary: the connection
    /// opens anew, towards the new one).
    pub fn never_ran(&self) -> bool {
        self.never_sent() || matches!(self, QueueError::Redis(err) if is_readonly(err))
    }

    /// Whether the command may have run although its answer never came: it was sent (or may
    /// have been) and then the answer timed out or the connection broke.
    pub fn may_have_run(&self) -> bool {
        matches!(self, QueueError::Redis(err)
            if !err.is_connection_refusal()
                && (err.is_timeout() || err.is_io_error() || err.is_connection_dropped()))
    }
}

/// Whether Redis answered the error code `wanted` picks, itself or (a `MULTI`/`EXEC` aborted
/// with `EXECABORT`, e.g. while Redis was still loading its data) among the reasons inside.
fn has_code(err: &redis::RedisError, wanted: impl Fn(&str) -> bool) -> bool {
    err.code().is_some_and(&wanted)
        || err
            .clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, e)| wanted(e.code())))
}

/// Whether Redis refused a write because it is a replica (a demoted primary).
fn is_readonly(err: &redis::RedisError) -> bool {
    has_code(err, |code| code == "READONLY")
}

/// Server error codes that go away on their own (loading data, a script running, failover).
fn transient_code(code: &str) -> bool {
    matches!(
        code,
        "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "READONLY" | "CLUSTERDOWN"
    )
}

/// Parses a reply a script or pipeline gave, as a protocol error when it has another shape.
fn parse<T: redis::FromRedisValue>(value: redis::Value) -> Result<T, QueueError> {
    redis::from_redis_value(value).map_err(|e| QueueError::Protocol(e.to_string()))
}
