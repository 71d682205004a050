//! Reads of users in Redis: the cache of stored users and the pending entries of queued ones.

use std::time::Duration;

use redis::AsyncCommands;

use super::{Connection, QueueError};
use crate::domain::{StoredUser, UserId};
use crate::message::Message;

/// What Redis knows about a user id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Stored, and in the cache.
    Cached(StoredUser),
    /// Accepted and still queued (or being stored).
    Pending(Message),
    /// Neither: ask MySQL.
    Unknown,
}

/// The cache-aside copies of stored users, and the pending entries of queued ones.
#[derive(Clone)]
pub struct UserCache {
    conn: Connection,
}

impl UserCache {
    /// The cache of the deployment behind `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Looks users up in the cache and among pending messages, in one round trip (one `MGET`,
    /// one `HMGET`); one answer per id, in order.
    pub async fn lookup_many(&self, ids: &[UserId]) -> Result<Vec<Lookup>, QueueError> {
        let keys = self.conn.keys();
        let cached_keys: Vec<String> = ids.iter().map(|&id| keys.user(id)).collect();
        let fields: Vec<u64> = ids.iter().map(|id| id.get()).collect();
        let (cached, pending): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .cmd("MGET")
            .arg(&cached_keys)
            .cmd("HMGET")
            .arg(keys.pending())
            .arg(&fields)
            .query_async(&mut self.conn.commands())
            .await?;
        if cached.len() != ids.len() || pending.len() != ids.len() {
            return Err(QueueError::Protocol(format!(
                "{} and {} answers for {} ids",
                cached.len(),
                pending.len(),
                ids.len()
            )));
        }
        Ok(cached.into_iter().zip(pending).map(lookup).collect())
    }

    /// Puts a stored user in the cache for `ttl`.
    pub async fn fill(&self, user: &StoredUser, ttl: Duration) -> Result<(), QueueError> {
        let Some(id) = UserId::new(user.id) else { return Ok(()) };
        let json = serde_json::to_string(user).expect("a user always serializes");
        let () = self
            .conn
            .commands()
            .set_ex(self.conn.keys().user(id), json, ttl.as_secs())
            .await?;
        Ok(())
    }
}

/// One id's answer from its cache entry and pending entry.
fn lookup((cached, pending): (Option<String>, Option<String>)) -> Lookup {
    // A cache entry that does not parse (an older format) is treated as a miss.
    if let Some(user) = cached.and_then(|raw| serde_json::from_str(&raw).ok()) {
        return Lookup::Cached(user);
    }
    match pending.and_then(|raw| Message::decode(&raw).ok()) {
        Some(message) => Lookup::Pending(message),
        None => Lookup::Unknown,
    }
}
