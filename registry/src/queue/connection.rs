//! The one connection type every role of the queue uses.

use std::sync::Arc;
use std::time::Duration;

use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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
/// multiplexed; cheap to clone (clones share it).
#[derive(Clone)]
pub struct Connection {
    client: redis::Client,
    manager: ConnectionManager,
    keys: Arc<Keys>,
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
            manager: manager(&client, timeouts)?,
            client,
            keys: Arc::new(Keys::new(key_prefix)),
        })
    }

    /// A second connection to the same server and keys with other timeouts (a consumer's
    /// blocking take must not hold up its other commands).
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Result<Self, QueueError> {
        Ok(Self {
            client: self.client.clone(),
            manager: manager(&self.client, timeouts)?,
            keys: self.keys.clone(),
        })
    }

    /// The deployment's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A handle to send commands on (multiplexed: clones share the socket).
    pub(crate) fn commands(&self) -> ConnectionManager {
        self.manager.clone()
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
