//! The one connection type every role of the queue uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};

use super::{Keys, QueueError, is_readonly};
use crate::config::{RedisArgs, RedisMode};

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

/// A connection to one deployment's keys in Redis, in the deployment's [`RedisMode`]: lazily
/// connecting, reconnecting, multiplexed; cheap to clone (clones share it).
///
/// - `standalone`: one server, or an endpoint that follows the primary. A server that answers
///   `READONLY` has been demoted to a replica: the socket is dropped and a new one opened, so
///   that the endpoint leads the next command to the new primary.
/// - `sentinel`: the sentinels name the primary; it is asked again whenever the primary does
///   not answer or answers `READONLY`.
/// - `cluster`: the `redis` crate's cluster client, which follows `MOVED` and `ASK` and learns
///   the new layout after a failover. Every key of a deployment is in one slot (its hash tag).
#[derive(Clone)]
pub struct Connection {
    socket: Arc<Socket>,
    keys: Arc<Keys>,
}

/// Where a [`Connection`]'s sockets go (one per connection, behind its `Arc`: the variants'
/// sizes do not matter).
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Source {
    Standalone(redis::Client),
    Sentinel(Arc<tokio::sync::Mutex<SentinelClient>>),
    Cluster(ClusterClient),
}

/// One open (or opening) connection: a multiplexed socket, or a cluster's.
#[derive(Clone)]
enum Inner {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// The connection of a [`Connection`] and what opens it again.
struct Socket {
    source: Source,
    timeouts: Timeouts,
    /// The connection now, and its generation; `None` until first used or once dropped.
    current: RwLock<Option<(Inner, u64)>>,
    /// Held while a connection is opened (a sentinel asked), so that callers share one.
    opening: tokio::sync::Mutex<()>,
    generations: AtomicU64,
}

impl Socket {
    fn new(source: Source, timeouts: Timeouts) -> Self {
        Self {
            source,
            timeouts,
            current: RwLock::new(None),
            opening: tokio::sync::Mutex::new(()),
            generations: AtomicU64::new(0),
        }
    }

    fn now(&self) -> Option<(Inner, u64)> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The connection now, opened first if there is none.
    async fn get(&self) -> Result<(Inner, u64), RedisError> {
        if let Some(now) = self.now() {
            return Ok(now);
        }
        let _opening = self.opening.lock().await;
        if let Some(now) = self.now() {
            return Ok(now);
        }
        let inner = self.open().await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((inner.clone(), generation));
        Ok((inner, generation))
    }

    async fn open(&self) -> Result<Inner, RedisError> {
        match &self.source {
            Source::Standalone(client) => Ok(Inner::Single(manager(client, self.timeouts)?)),
            Source::Sentinel(sentinel) => {
                // Asking the sentinels has the connect timeout for each one tried.
                let asked = tokio::time::timeout(self.timeouts.connect * 3, async {
                    sentinel.lock().await.async_get_client().await
                })
                .await;
                let client = asked.map_err(|_| {
                    RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no sentinel named the primary in time",
                    ))
                })??;
                Ok(Inner::Single(manager(&client, self.timeouts)?))
            }
            Source::Cluster(client) => {
                let mut config = ClusterConfig::new().set_connection_timeout(self.timeouts.connect);
                if let Some(response) = self.timeouts.response {
                    config = config.set_response_timeout(response);
                }
                Ok(Inner::Cluster(client.get_pending_async_connection_with_config(config)))
            }
        }
    }

    /// Drops the connection of generation `stale` (unless that was done already): the next
    /// command opens a new one.
    fn drop_connection(&self, stale: u64, why: &str) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if matches!(*current, Some((_, generation)) if generation == stale) {
            *current = None;
            tracing::warn!("{why}; opening a new Redis connection");
        }
    }

    /// After a command's `result`: drops a connection to a demoted primary, and, with
    /// sentinels, one to a primary that did not answer (they may name another by now).
    fn after<T>(&self, generation: u64, result: &Result<T, RedisError>, demoted: impl FnOnce(&T) -> bool) {
        let readonly = match result {
            Ok(answer) => demoted(answer),
            Err(err) => is_readonly(err),
        };
        let silent = matches!(self.source, Source::Sentinel(_))
            && result.as_ref().err().is_some_and(|err| {
                err.is_connection_refusal() || err.is_io_error() || err.is_connection_dropped() || err.is_timeout()
            });
        if readonly {
            self.drop_connection(generation, "Redis answered READONLY (a demoted primary)");
        } else if silent {
            self.drop_connection(generation, "the primary the sentinels named does not answer");
        }
    }
}

/// A handle to send commands on: the connection's socket, opened on first use and replaced
/// when it turns out to reach a replica.
#[derive(Clone)]
pub(crate) struct Commands {
    socket: Arc<Socket>,
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (inner, generation) = self.socket.get().await?;
            let result = match inner {
                Inner::Single(mut conn) => conn.req_packed_command(cmd).await,
                Inner::Cluster(mut conn) => conn.req_packed_command(cmd).await,
            };
            self.socket.after(generation, &result, value_is_readonly);
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
            let (inner, generation) = self.socket.get().await?;
            let result = match inner {
                Inner::Single(mut conn) => conn.req_packed_commands(pipeline, offset, count).await,
                Inner::Cluster(mut conn) => conn.req_packed_commands(pipeline, offset, count).await,
            };
            self.socket
                .after(generation, &result, |values| values.iter().any(value_is_readonly));
            result
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

fn value_is_readonly(value: &Value) -> bool {
    match value {
        Value::ServerError(err) => err.code() == "READONLY",
        Value::Array(items) => items.iter().any(value_is_readonly),
        _ => false,
    }
}

impl Connection {
    /// Connects lazily to the standalone server at `url`, for the keys under `key_prefix`:
    /// the first command connects, and the connection is opened again after failures.
    pub fn connect(url: &str, key_prefix: &str, timeouts: Timeouts) -> Result<Self, QueueError> {
        crate::config::install_tls_provider();
        Ok(Self::with_source(
            Source::Standalone(redis::Client::open(url)?),
            key_prefix,
            timeouts,
        ))
    }

    /// Connects with the deployment's settings: its mode and URL(s), key prefix, the password
    /// file when one is given, and the CA file that a `rediss://` server's certificate must
    /// chain to.
    pub fn open(args: &RedisArgs, timeouts: Timeouts) -> Result<Self, QueueError> {
        crate::config::install_tls_provider();
        let password = match &args.redis_password_file {
            Some(path) => Some(
                crate::config::read_secret(path).map_err(|source| QueueError::PasswordFile {
                    path: path.display().to_string(),
                    source,
                })?,
            ),
            None => None,
        };
        let certificates = match &args.redis_ca_file {
            Some(path) => Some(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(path).map_err(|source| QueueError::CaFile {
                    path: path.display().to_string(),
                    source,
                })?),
            }),
            None => None,
        };
        let source = match args.redis_mode {
            RedisMode::Standalone => {
                let mut info = args.redis_url.as_str().into_connection_info()?;
                if let Some(password) = password {
                    let settings = info.redis_settings().clone().set_password(password);
                    info = info.set_redis_settings(settings);
                }
                Source::Standalone(match certificates {
                    Some(certificates) => redis::Client::build_with_tls(info, certificates)?,
                    None => redis::Client::open(info)?,
                })
            }
            RedisMode::Sentinel => Source::Sentinel(Arc::new(tokio::sync::Mutex::new(sentinel(
                args,
                password,
                certificates,
            )?))),
            RedisMode::Cluster => {
                let mut builder = ClusterClient::builder(node_urls(&args.redis_url)?);
                if let Some(password) = password {
                    builder = builder.password(password);
                }
                if let Some(certificates) = certificates {
                    builder = builder.certs(certificates);
                }
                Source::Cluster(builder.build()?)
            }
        };
        Ok(Self::with_source(source, &args.key_prefix, timeouts))
    }

    fn with_source(source: Source, key_prefix: &str, timeouts: Timeouts) -> Self {
        Self {
            socket: Arc::new(Socket::new(source, timeouts)),
            keys: Arc::new(Keys::new(key_prefix)),
        }
    }

    /// A second connection to the same servers and keys with other timeouts (a consumer's
    /// blocking take must not hold up its other commands).
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Result<Self, QueueError> {
        Ok(Self {
            socket: Arc::new(Socket::new(self.socket.source.clone(), timeouts)),
            keys: self.keys.clone(),
        })
    }

    /// The deployment's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A handle to send commands on (multiplexed: clones share the socket).
    pub(crate) fn commands(&self) -> Commands {
        Commands {
            socket: self.socket.clone(),
        }
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        let _: String = redis::cmd("PING").query_async(&mut self.commands()).await?;
        Ok(())
    }
}

/// The URLs of a comma-separated list (sentinels, or a cluster's seed nodes).
fn node_urls(list: &str) -> Result<Vec<redis::ConnectionInfo>, QueueError> {
    let urls: Vec<&str> = list.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    if urls.is_empty() {
        let empty = (redis::ErrorKind::InvalidClientConfig, "REDIS_URL names no node");
        return Err(RedisError::from(empty).into());
    }
    Ok(urls
        .into_iter()
        .map(|u| u.into_connection_info())
        .collect::<Result<_, _>>()?)
}

/// A client of the primary the sentinels in `args.redis_url` name `args.redis_sentinel_master`.
/// A sentinel URL's password is the sentinel's; the password file's (or the first URL's) is
/// the Redis servers'. `rediss://` sentinels mean TLS to the servers too.
fn sentinel(
    args: &RedisArgs,
    password: Option<String>,
    certificates: Option<redis::TlsCertificates>,
) -> Result<SentinelClient, QueueError> {
    let nodes = node_urls(&args.redis_url)?;
    let first = nodes[0].clone();
    let tls = match first.addr() {
        redis::ConnectionAddr::TcpTls { insecure, .. } => Some(if *insecure {
            redis::TlsMode::Insecure
        } else {
            redis::TlsMode::Secure
        }),
        _ => None,
    };
    let sentinel_password = first.redis_settings().password().map(str::to_owned);
    let mut builder = SentinelClientBuilder::new(
        nodes.iter().map(|n| n.addr().clone()),
        &args.redis_sentinel_master,
        SentinelServerType::Master,
    )?;
    if let Some(password) = password.or_else(|| sentinel_password.clone()) {
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(password) = sentinel_password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    if let Some(tls) = tls {
        builder = builder
            .set_client_to_redis_tls_mode(tls)
            .set_client_to_sentinel_tls_mode(tls);
    }
    if let Some(certificates) = certificates {
        builder = builder
            .set_client_to_redis_certificates(certificates.clone())
            .set_client_to_sentinel_certificates(certificates);
    }
    Ok(builder.build()?)
}

/// A lazily connecting, reconnecting multiplexed connection.
fn manager(client: &redis::Client, timeouts: Timeouts) -> Result<ConnectionManager, RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(timeouts.response)
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client.clone(), config)
}
