//! The state of the producer's early duplicate check: the filter of accepted emails that the
//! enqueue script looks new users up in (`scripts/email_filter.lua`), and its loading from
//! MySQL (see [`crate::email_loader`]).

use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::{Connection, QueueError};

static ADD_LOADED_EMAILS: LazyLock<Script> =
    LazyLock::new(|| Script::new(super::lua!("scripts/email_filter.lua", "scripts/add_loaded_emails.lua")));
static MIGHT_HOLD: LazyLock<Script> =
    LazyLock::new(|| Script::new(super::lua!("scripts/email_filter.lua", "scripts/filter_has.lua")));
static END_EMAILS_LOAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/end_emails_load.lua")));

/// The filter of accepted emails in Redis, with the marker that says it is complete and the
/// lock of the process loading it.
#[derive(Clone)]
pub struct EmailIndex {
    conn: Connection,
}

impl EmailIndex {
    /// The email index of the deployment behind `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Whether the filter is marked as holding every stored email.
    pub async fn emails_loaded(&self) -> Result<bool, QueueError> {
        Ok(self
            .conn
            .commands()
            .exists(self.conn.keys().email_filter_loaded())
            .await?)
    }

    /// Whether the filter may hold `email_key` (a lower-cased email): false means surely not.
    pub async fn might_hold(&self, email_key: &str) -> Result<bool, QueueError> {
        let held: i64 = MIGHT_HOLD
            .key(self.conn.keys().email_filter())
            .arg(email_key)
            .invoke_async(&mut self.conn.commands())
            .await?;
        Ok(held == 1)
    }

    /// Takes the loading lock for `lease` under `token`; false when another loader holds it.
    pub async fn lock_emails_load(&self, token: &str, lease: Duration) -> Result<bool, QueueError> {
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(lease.as_secs()));
        let set: Option<String> = self
            .conn
            .commands()
            .set_options(self.conn.keys().email_filter_loading(), token, options)
            .await?;
        Ok(set.is_some())
    }

    /// Adds loaded emails and renews the lock for `lease`; false (nothing added) when the lock
    /// is no longer `token`'s.
    pub async fn add_loaded_emails(&self, token: &str, lease: Duration, emails: &[String]) -> Result<bool, QueueError> {
        let held: i64 = ADD_LOADED_EMAILS
            .key(self.conn.keys().email_filter())
            .key(self.conn.keys().email_filter_loading())
            .arg(token)
            .arg(lease.as_secs())
            .arg(emails)
            .invoke_async(&mut self.conn.commands())
            .await?;
        Ok(held == 1)
    }

    /// Releases the lock if it is still `token`'s, marking the filter loaded (and dropping the
    /// set of earlier versions) when `complete`; false when the lock was no longer `token`'s
    /// (then nothing is marked).
    pub async fn end_emails_load(&self, token: &str, complete: bool) -> Result<bool, QueueError> {
        let keys = self.conn.keys();
        let [legacy_set, legacy_loaded] = keys.legacy_email_set();
        let held: i64 = END_EMAILS_LOAD
            .key(keys.email_filter_loading())
            .key(keys.email_filter_loaded())
            .key(legacy_set)
            .key(legacy_loaded)
            .arg(token)
            .arg(if complete { "1" } else { "0" })
            .invoke_async(&mut self.conn.commands())
            .await?;
        Ok(held == 1)
    }
}
