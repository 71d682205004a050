//! The Redis side: every key and script of the queue, the cache and the consumer leases.
//!
//! Keys all carry the deployment's hash tag (`{users}:...`) so that one deployment's keys
//! live in one Redis Cluster slot and the scripts below may touch several of them atomically.

mod dead;
mod emails;
mod enqueue;
mod keys;
mod message;
mod reads;
mod scripts;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::aio::ConnectionManagerConfig;

use crate::config::RedisArgs;

pub use dead::DeadLetter;
pub use enqueue::{ENQUEUE_BATCH, EnqueueRequest, Enqueued, IdempotencyRecord};
pub use keys::{Keys, SECOND_SLOT, Slot};
pub use message::{DecodeError, Message, MessageTail, ValidMessage};
pub use reads::{Lookup, QueueStats};
pub use worker::{Ack, DeadCause, Disposition};

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
                    || err.code().is_some_and(transient_code)
                    // A MULTI/EXEC aborted because Redis was still loading its data reports
                    // EXECABORT; the reasons are inside.
                    || err
                        .clone()
                        .into_server_errors()
                        .is_some_and(|errors| errors.iter().any(|(_, e)| transient_code(e.code())))
            }
            QueueError::Protocol(_) | QueueError::CaFile { .. } => false,
        }
    }

    /// Whether the command certainly never reached Redis, so it is safe to send again.
    pub fn never_sent(&self) -> bool {
        matches!(self, QueueError::Redis(err) if err.is_connection_refusal())
    }
}

/// Server error codes that go away on their own (loading data, a script running, failover).
fn transient_code(code: &str) -> bool {
    matches!(
        code,
        "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "READONLY" | "CLUSTERDOWN"
    )
}

/// How a [`Queue`] connection behaves.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest wait for a TCP/TLS connection.
    pub connect: Duration,
    /// Longest wait for an answer; `None` for connections that block (BLMOVE).
    pub response: Option<Duration>,
}

impl Timeouts {
    /// For request handling: fail fast so callers can answer 503.
    pub const INTERACTIVE: Timeouts = Timeouts {
        connect: Duration::from_secs(1),
        response: Some(Duration::from_secs(2)),
    };
    /// For a connection that blocks on BLMOVE.
    pub const BLOCKING: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: None,
    };
}

/// A handle on one deployment's queue; cheap to clone (one multiplexed connection).
#[derive(Clone)]
pub struct Queue {
    client: redis::Client,
    conn: ConnectionManager,
    keys: Arc<Keys>,
}

impl Queue {
    /// Connects lazily: the first command connects, and the manager reconnects after failures.
    pub fn connect(url: &str, key_prefix: &str, timeouts: Timeouts) -> Result<Self, QueueError> {
        crate::config::install_tls_provider();
        Self::with_client(redis::Client::open(url)?, key_prefix, timeouts)
    }

    /// Connects with the deployment's settings: URL, key prefix, and the CA file that a
    /// `rediss://` server's certificate must chain to, when one is given.
    pub fn from_args(args: &RedisArgs, timeouts: Timeouts) -> Result<Self, QueueError> {
        crate::config::install_tls_provider();
        let Some(path) = &args.redis_ca_file else {
            return Self::connect(&args.redis_url, &args.key_prefix, timeouts);
        };
        let root_cert = std::fs::read(path).map_err(|source| QueueError::CaFile {
            path: path.display().to_string(),
            source,
        })?;
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        };
        let client = redis::Client::build_with_tls(args.redis_url.as_str(), certificates)?;
        Self::with_client(client, &args.key_prefix, timeouts)
    }

    fn with_client(client: redis::Client, key_prefix: &str, timeouts: Timeouts) -> Result<Self, QueueError> {
        let conn = manager(&client, timeouts)?;
        Ok(Self {
            client,
            conn,
            keys: Arc::new(Keys::new(key_prefix)),
        })
    }

    /// A second connection to the same server and keys with other timeouts (a consumer's
    /// blocking BLMOVE must not hold up its other commands).
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Result<Self, QueueError> {
        Ok(Self {
            client: self.client.clone(),
            conn: manager(&self.client, timeouts)?,
            keys: self.keys.clone(),
        })
    }

    /// The deployment's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A connection to send commands on (multiplexed: clones share it).
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }
}

/// A lazily connecting, reconnecting multiplexed connection.
fn manager(client: &redis::Client, timeouts: Timeouts) -> Result<ConnectionManager, QueueError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(timeouts.response)
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_lazy_with_config(client.clone(), config)?)
}
