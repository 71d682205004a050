//! The MySQL side: every SQL statement of the registry.
//!
//! The SQL runs on MySQL 8.x and MariaDB 10.11 alike: no `VALUES()` in updates, no
//! `INSERT ... AS new`; an idempotent insert is `INSERT IGNORE` (it needs only the INSERT right).

mod batch;
mod count;
mod insert;
mod schema;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

pub use batch::Outcome;
pub use insert::{UserRow, new_users_insert};
pub use schema::{AppUser, Migrated, migrate};

use crate::config::MysqlArgs;
use crate::domain::{StoredUser, UserId};

/// Longest wait for a pooled connection before a read gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait for a health check's ping: a stalled server is not ready.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The columns of a [`StoredUser`], `created_at` as RFC 3339 UTC.
const USER_COLUMNS: &str = "id, name, email, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ')";

/// A failure talking to MySQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The driver or server failed.
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    /// No connection within the timeout.
    #[error("mysql: no connection within {0:?}")]
    Timeout(Duration),
    /// A statement got no answer in time (a stalled server or link); it may still complete.
    #[error("mysql: no answer within {0:?}")]
    NoAnswer(Duration),
    /// The password file could not be read.
    #[error("cannot read the MySQL password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file for MySQL TLS could not be read.
    #[error("cannot read the MySQL CA file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The schema is missing or not the one this version needs; the message says what to do.
    #[error("schema: {0}")]
    Schema(String),
    /// Another consumer committed a conflicting row meanwhile; the batch must be retried.
    #[error("a concurrent transaction stored a conflicting row")]
    Contended,
}

impl StoreError {
    /// Whether a statement failed because a row's unique key is already stored
    /// (`ER_DUP_ENTRY`): then it stored nothing.
    pub fn is_duplicate_key(&self) -> bool {
        matches!(self, StoreError::Mysql(mysql_async::Error::Server(err)) if err.code == 1062)
    }

    /// Whether the message being stored is at fault: a value the table cannot hold. Only
    /// such a failure may send a message towards the dead-letter list; every other one is a
    /// fault of the environment (docs/design.md, "Failures by cause").
    pub fn is_message_fault(&self) -> bool {
        matches!(self, StoreError::Mysql(mysql_async::Error::Server(err)) if DATA_ERRORS.contains(&err.code))
    }

    /// Whether trying again later may succeed: any failure of the server, the connection, a
    /// login, a right, a resource or a timeout, and anything unknown. Not: a value the table
    /// cannot hold, or settings that cannot work (a URL, a file, the schema).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Mysql(mysql_async::Error::Url(_)) => false,
            StoreError::Mysql(_) => !self.is_message_fault(),
            StoreError::Timeout(_) | StoreError::NoAnswer(_) | StoreError::Contended => true,
            StoreError::PasswordFile { .. } | StoreError::CaFile { .. } | StoreError::Schema(_) => false,
        }
    }

    /// The kind of failure, for logs and `/health/ready`.
    pub fn cause(&self) -> Cause {
        let StoreError::Mysql(mysql_async::Error::Server(err)) = self else {
            return match self {
                StoreError::Timeout(_) | StoreError::NoAnswer(_) => Cause::Timeout,
                StoreError::Contended => Cause::Contended,
                StoreError::Mysql(mysql_async::Error::Url(_))
                | StoreError::PasswordFile { .. }
                | StoreError::CaFile { .. } => Cause::Settings,
                StoreError::Schema(_) => Cause::Schema,
                StoreError::Mysql(_) => Cause::Connection,
            };
        };
        match err.code {
            1045 => Cause::LoginRefused,
            1044 | 1142 | 1143 | 1227 | 1370 => Cause::PermissionDenied,
            1040 | 1203 | 1226 | 1021 | 1114 | 1037 | 1038 | 1041 => Cause::OutOfResource,
            1290 | 1836 | 1792 => Cause::ReadOnly,
            1205 | 1213 => Cause::LockConflict,
            code if DATA_ERRORS.contains(&code) => Cause::BadValue,
            _ => Cause::ServerError,
        }
    }
}

/// The kind of a [`StoreError`], as [`StoreError::cause`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// No answer in time.
    Timeout,
    /// A concurrent commit of a conflicting row.
    Contended,
    /// A URL or file that cannot work.
    Settings,
    /// The schema is missing or another one.
    Schema,
    /// The connection failed or was lost.
    Connection,
    /// MySQL refused the login (1045).
    LoginRefused,
    /// A right is missing.
    PermissionDenied,
    /// Connections, disk or memory ran out.
    OutOfResource,
    /// The server is read-only (a failover).
    ReadOnly,
    /// A deadlock or a lock wait timeout.
    LockConflict,
    /// A value the table cannot hold.
    BadValue,
    /// Any other server error.
    ServerError,
}

impl Cause {
    /// The words for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Timeout => "timeout",
            Cause::Contended => "contended",
            Cause::Settings => "settings",
            Cause::Schema => "schema",
            Cause::Connection => "connection",
            Cause::LoginRefused => "login refused",
            Cause::PermissionDenied => "permission denied",
            Cause::OutOfResource => "out of a resource",
            Cause::ReadOnly => "read only",
            Cause::LockConflict => "lock conflict",
            Cause::BadValue => "bad value",
            Cause::ServerError => "server error",
        }
    }

    /// Whether MySQL simply could not be reached (rather than answering with a refusal).
    pub fn is_unreachable(self) -> bool {
        matches!(self, Cause::Connection | Cause::Timeout)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Server errors that a row's values cause: too long, wrong type or charset, out of range,
/// null where none may be, a failed check. MySQL and MariaDB share these codes.
const DATA_ERRORS: [u16; 9] = [1048, 1264, 1265, 1292, 1366, 1367, 1406, 3819, 4025];

/// A pool of connections to the registry's database; clones share it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// The pool, and the options it was made with; replaced when a rotated password is read.
    pool: RwLock<(Pool, Opts)>,
    /// The settings, when the password comes from a file that may change.
    settings: Option<MysqlArgs>,
}

/// Builds connection options from the URL and the optional password file.
pub fn options(url: &str, password_file: Option<&Path>) -> Result<Opts, StoreError> {
    crate::config::install_tls_provider();
    let mut builder = OptsBuilder::from_opts(Opts::from_url(url).map_err(mysql_async::Error::from)?);
    if let Some(path) = password_file {
        let password = crate::config::read_secret(path).map_err(|source| StoreError::PasswordFile {
            path: path.display().to_string(),
            source,
        })?;
        builder = builder.pass(Some(password));
    }
    // Keep idle connections for a minute and do not reset them on return: mysql_async's
    // defaults close a returned connection whenever another is idle, and a reset empties the
    // prepared-statement cache, which cost a new connection and new statements per request
    // (BENCHMARKS.md). No statement here changes session state, so skipping the reset is safe.
    let pool = PoolOpts::default()
        .with_constraints(PoolConstraints::new(1, 32).expect("1 <= 32"))
        .with_inactive_connection_ttl(Duration::from_secs(60))
        .with_reset_connection(false);
    // Read committed for every transaction of every connection, set once per connection:
    // `TxOpts::with_isolation_level` would cost each transaction a round trip of its own
    // (`SET TRANSACTION ...` before `START TRANSACTION`). A batch's transaction must see rows
    // that other consumers committed after it began (`store::batch`); the producer's reads
    // are single statements, which the level does not change.
    Ok(builder
        .pool_opts(pool)
        .setup(vec!["SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"])
        .into())
}

/// Builds connection options from the settings: the URL, the password file, and TLS when it
/// is required (`--mysql-require-tls`, or a CA file given).
pub fn options_for(args: &MysqlArgs) -> Result<Opts, StoreError> {
    let opts = options(&args.mysql_url, args.mysql_password_file.as_deref())?;
    if !args.mysql_require_tls && args.mysql_ca_file.is_none() {
        return Ok(opts);
    }
    // With SSL options set, mysql_async refuses a server that does not offer TLS, and
    // verifies the certificate chain and host name (unless the URL turns that off).
    let mut ssl = opts.ssl_opts().cloned().unwrap_or_default();
    if let Some(path) = &args.mysql_ca_file {
        // Read once now so that a wrong path fails at start; connections read it again,
        // so a rotated CA file is picked up.
        std::fs::read(path).map_err(|source| StoreError::CaFile {
            path: path.display().to_string(),
            source,
        })?;
        ssl = ssl
            .with_root_certs(vec![path.clone().into()])
            .with_disable_built_in_roots(true);
    }
    Ok(OptsBuilder::from_opts(opts).ssl_opts(Some(ssl)).into())
}

impl Store {
    /// Connects, creates the database when missing (and allowed), and applies the schema.
    /// Safe to run from several processes at once.
    #[tracing::instrument(name = "Connecting to MySQL and applying the schema", skip_all)]
    pub async fn connect(opts: Opts) -> Result<Self, StoreError> {
        Self::connect_with(opts, None).await
    }

    /// Connects with the settings (see [`Store::connect`]). With `MYSQL_PASSWORD_FILE`, a
    /// login that MySQL refuses makes the store read the file again, so that a password
    /// rotated on disk is used without a restart.
    pub async fn open(settings: &MysqlArgs) -> Result<Self, StoreError> {
        let opts = options_for(settings)?;
        let settings = settings.mysql_password_file.is_some().then(|| settings.clone());
        Self::connect_with(opts, settings).await
    }

    async fn connect_with(opts: Opts, settings: Option<MysqlArgs>) -> Result<Self, StoreError> {
        schema::create_database(&opts).await?;
        let pool = Pool::new(opts.clone());
        let store = Self {
            inner: Arc::new(Inner {
                pool: RwLock::new((pool, opts)),
                settings,
            }),
        };
        schema::apply(&mut store.conn().await?).await?;
        Ok(store)
    }

    fn pool(&self) -> Pool {
        self.inner.pool.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        let got = tokio::time::timeout(CONNECT_TIMEOUT, self.pool().get_conn())
            .await
            .map_err(|_| StoreError::Timeout(CONNECT_TIMEOUT))?
            .map_err(StoreError::from);
        if let Err(err) = &got
            && err.cause() == Cause::LoginRefused
        {
            self.reread_password();
        }
        got
    }

    /// After a refused login: reads the password file again and, when it changed, makes new
    /// connections with it (the old pool's connections close as they come back).
    fn reread_password(&self) {
        let Some(settings) = &self.inner.settings else { return };
        let opts = match options_for(settings) {
            Ok(opts) => opts,
            Err(err) => {
                return tracing::warn!(error = %err, "MySQL refused the login, and the password file cannot be read");
            }
        };
        let mut current = self.inner.pool.write().unwrap_or_else(|e| e.into_inner());
        if current.1.pass() == opts.pass() {
            tracing::warn!("MySQL refused the login; the password file has not changed");
            return;
        }
        tracing::info!("MySQL refused the login; the password file changed: new connections use it");
        let old = std::mem::replace(&mut *current, (Pool::new(opts.clone()), opts));
        drop(current);
        tokio::spawn(async move {
            let _ = old.0.disconnect().await;
        });
    }

    /// Checks that MySQL answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let ping = async {
            self.conn().await?.ping().await?;
            Ok(())
        };
        tokio::time::timeout(PING_TIMEOUT, ping)
            .await
            .unwrap_or(Err(StoreError::NoAnswer(PING_TIMEOUT)))
    }

    /// Closes the pool's connections.
    pub async fn close(self) {
        let _ = self.pool().disconnect().await;
    }

    /// A stored user.
    pub async fn find_user(&self, id: UserId) -> Result<Option<StoredUser>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = self.conn().await?.exec_first(sql, (id.get(),)).await?;
        Ok(row.map(user_from_row))
    }

    /// The reason a user was refused, if it was.
    pub async fn find_rejection(&self, id: UserId) -> Result<Option<String>, StoreError> {
        let reason = self
            .conn()
            .await?
            .exec_first("SELECT reason FROM rejected_users WHERE id = ?", (id.get(),))
            .await?;
        Ok(reason)
    }

    /// Whether a stored user already has each of these emails (their lower-cased keys), in one
    /// query, in order. The list is padded to a power of two (repeating its last key), so a
    /// connection prepares a handful of statements, not one per list length.
    pub async fn emails_taken(&self, email_keys: &[String]) -> Result<Vec<bool>, StoreError> {
        let Some(last) = email_keys.last() else {
            return Ok(Vec::new());
        };
        let width = email_keys.len().next_power_of_two();
        let sql = format!(
            "SELECT email_key FROM users WHERE email_key IN ({})",
            vec!["?"; width].join(",")
        );
        let params: Vec<&str> = email_keys
            .iter()
            .chain(std::iter::repeat_n(last, width - email_keys.len()))
            .map(String::as_str)
            .collect();
        let found: Vec<String> = self.conn().await?.exec(sql, params).await?;
        Ok(email_keys.iter().map(|key| found.contains(key)).collect())
    }

    /// Up to `limit` stored emails (lower-cased) of users with ids above `after`, by id, with
    /// the id of the last row read (`None` once past the last user).
    pub async fn email_keys_after(&self, after: u64, limit: u32) -> Result<(Vec<String>, Option<u64>), StoreError> {
        let rows: Vec<(u64, Option<String>)> = self
            .conn()
            .await?
            .exec(
                "SELECT id, email_key FROM users WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
            .await?;
        let last = rows.last().map(|(id, _)| *id);
        Ok((rows.into_iter().filter_map(|(_, key)| key).collect(), last))
    }

    /// Up to `limit` stored users with ids below `before`, newest first.
    pub async fn list_users(&self, limit: u32, before: Option<UserId>) -> Result<Vec<StoredUser>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id < ? ORDER BY id DESC LIMIT ?");
        let before = before.map_or(u64::MAX, UserId::get);
        let rows: Vec<(u64, String, Option<String>, String)> = self.conn().await?.exec(sql, (before, limit)).await?;
        Ok(rows.into_iter().map(user_from_row).collect())
    }

    /// How many users are stored (as the consumers' commits keep it: see `count`), and the
    /// newest one: two reads of a few rows each, whatever the number of users.
    pub async fn count_and_latest(&self) -> Result<(u64, Option<StoredUser>), StoreError> {
        let mut conn = self.conn().await?;
        let count = count::total(&mut conn).await?;
        let latest = conn
            .query_first(format!("SELECT {USER_COLUMNS} FROM users ORDER BY id DESC LIMIT 1"))
            .await?;
        Ok((count, latest.map(user_from_row)))
    }

    /// The highest stored id (a floor for new ids).
    pub async fn max_id(&self) -> Result<u64, StoreError> {
        let max: Option<Option<u64>> = self.conn().await?.query_first("SELECT MAX(id) FROM users").await?;
        Ok(max.flatten().unwrap_or(0))
    }
}

fn user_from_row((id, name, email, created_at): (u64, String, Option<String>, String)) -> StoredUser {
    StoredUser {
        id,
        name,
        email,
        created_at,
    }
}
