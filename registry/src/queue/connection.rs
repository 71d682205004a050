//! The one connection type every role of the queue uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};

use super::{Keys, QueueError};
use crate::config::RedisArgs;

/// How a [`Connection`] behaves.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest wait for a TCP/TLS connection.
    pub connect: Duration,
    /// Longest wait for an answer; `None`: for ever.
    pub response: Option<Duration>,
}

/// The longest a blocking command may block ([`Timeouts::BLOCKING`] waits that long and a
/// margin for its answer).
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(5);

impl Timeouts {
    /// For request handling: fail fast so callers can answer 503.
    pub const INTERACTIVE: Timeouts = Timeouts {
        connect: Duration::from_secs(1),
        response: Some(Duration::from_secs(2)),
    };
    /// For a connection that blocks on BLMOVE for at most [`MAX_BLOCK`]: a Redis that
    /// stops answering is still noticed.
    pub const BLOCKING: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        response: Some(Duration::from_secs(MAX_BLOCK.as_secs() + 3)),
    };
}

/// A connection to one deployment's keys in Redis: lazily connecting, reconnecting,
/// multiplexed; cheap to clone (clones share it). A server that answers `READONLY` has been
/// demoted to a replica: the socket is dropped and a new one opened, so that an endpoint that
/// follows the primary (a DNS name, a proxy) leads the next command to the new one.
#[derive(Clone)]
pub struct Connection {
    socket: Arc<Socket>,
    keys: Arc<Keys>,
}

/// The multiplexed socket of a [`Connection`] and what opens it again.
struct Socket {
    client: redis::Client,
    timeouts: Timeouts,
    /// The socket now, and how many times it was replaced.
    current: RwLock<(ConnectionManager, u64)>,
    replaced: AtomicU64,
}

impl Socket {
    fn open(client: redis::Client, timeouts: Timeouts) -> Result<Self, QueueError> {
        Ok(Self {
            current: RwLock::new((manager(&client, timeouts)?, 0)),
            client,
            timeouts,
            replaced: AtomicU64::new(0),
        })
    }

    /// The socket now, and its generation.
    fn get(&self) -> (ConnectionManager, u64) {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Opens a new socket in place of generation `stale`, unless that was done already.
    fn replace(&self, stale: u64) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.1 != stale {
            return;
        }
        match manager(&self.client, self.timeouts) {
            Ok(fresh) => {
                *current = (fresh, stale + 1);
                self.replaced.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("Redis answered READONLY (a demoted primary); opened a new connection");
            }
            Err(err) => tracing::warn!(error = %err, "could not open a new Redis connection"),
        }
    }
}

/// A handle to send commands on: the connection's socket as it was when the handle was taken,
/// which is replaced when it answers `READONLY`.
#[derive(Clone)]
pub(crate) struct Commands {
    manager: ConnectionManager,
    generation: u64,
    socket: Arc<Socket>,
}

impl Commands {
    fn check<T>(&self, result: &Result<T, RedisError>, values: impl FnOnce(&T) -> bool) {
        let demoted = match result {
            Err(err) => is_readonly(err),
            Ok(answer) => values(answer),
        };
        if demoted {
            self.socket.replace(self.generation);
        }
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.manager.req_packed_command(cmd).await;
            self.check(&result, value_is_readonly);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.manager.req_packed_commands(pipeline, offset, count).await;
            self.check(&result, |values| values.iter().any(value_is_readonly));
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.manager.get_db()
    }
}

/// Whether Redis refused a write because it is a replica (inside a transaction: `EXECABORT`
/// with that reason).
fn is_readonly(err: &RedisError) -> bool {
    err.code() == Some("READONLY")
        || err
            .clone()
            .into_server_errors()
            .is_some_and(|errors| errors.iter().any(|(_, e)| e.code() == "READONLY"))
}

fn value_is_readonly(value: &Value) -> bool {
    match value {
        Value::ServerError(err) => err.code() == "READONLY",
        Value::Array(items) => items.iter().any(value_is_readonly),
        _ => false,
    }
}

impl Connection {
    /// Connects lazily to `url`, for the keys under `key_prefix`: the first command connects,
    /// and the connection is opened again after failures.
    pub fn connect(url: &str, key_prefix: &str, timeouts: Timeouts) -> Result<Self, QueueError> {
        crate::config::install_tls_provider();
        Self::with_client(redis::Client::open(url)?, key_prefix, timeouts)
    }

    /// Connects with the deployment's settings: URL, key prefix, the password file when one
    /// is given, and the CA file that a `rediss://` server's certificate must chain to.
    pub fn open(args: &RedisArgs, timeouts: Timeouts) -> Result<Self, QueueError> {
        crate::config::install_tls_provider();
        let mut info = args.redis_url.as_str().into_connection_info()?;
        if let Some(path) = &args.redis_password_file {
            let password = crate::config::read_secret(path).map_err(|source| QueueError::PasswordFile {
                path: path.display().to_string(),
                source,
            })?;
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let Some(path) = &args.redis_ca_file else {
            return Self::with_client(redis::Client::open(info)?, &args.key_prefix, timeouts);
        };
        let root_cert = std::fs::read(path).map_err(|source| QueueError::CaFile {
            path: path.display().to_string(),
            source,
        })?;
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        };
        let client = redis::Client::build_with_tls(info, certificates)?;
        Self::with_client(client, &args.key_prefix, timeouts)
    }

    fn with_client(client: redis::Client, key_prefix: &str, timeouts: Timeouts) -> Result<Self, QueueError> {
        Ok(Self {
            socket: Arc::new(Socket::open(client, timeouts)?),
            keys: Arc::new(Keys::new(key_prefix)),
        })
    }

    /// A second connection to the same server and keys with other timeouts (a consumer's
    /// blocking take must not hold up its other commands).
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Result<Self, QueueError> {
        Ok(Self {
            socket: Arc::new(Socket::open(self.socket.client.clone(), timeouts)?),
            keys: self.keys.clone(),
        })
    }

    /// How many times a demoted server's socket was replaced by a new one.
    pub fn sockets_replaced(&self) -> u64 {
        self.socket.replaced.load(Ordering::Relaxed)
    }

    /// The deployment's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A handle to send commands on (multiplexed: clones share the socket).
    pub(crate) fn commands(&self) -> Commands {
        let (manager, generation) = self.socket.get();
        Commands {
            manager,
            generation,
            socket: self.socket.clone(),
        }
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let _: String = redis::cmd("PING").query_async(&mut self.commands()).await?;
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
