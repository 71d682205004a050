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
    /// Its message is in the dead-letter list, for this reason.
    Failed(String),
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

    /// Looks users up in the cache, among pending messages and among dead letters, in one
    /// round trip (one `MGET`, two `HMGET`); one answer per id, in order.
    pub async fn lookup_many(&self, ids: &[UserId]) -> Result<Vec<Lookup>, QueueError> {
        let keys = self.conn.keys();
        let cached_keys: Vec<String> = ids.iter().map(|&id| keys.user(id)).collect();
        let fields: Vec<u64> = ids.iter().map(|id| id.get()).collect();
        type Answers = Vec<Option<String>>;
        let (cached, pending, failed): (Answers, Answers, Answers) = redis::pipe()
            .cmd("MGET")
            .arg(&cached_keys)
            .cmd("HMGET")
            .arg(keys.pending())
            .arg(&fields)
            .cmd("HMGET")
            .arg(keys.failed())
            .arg(&fields)
            .query_async(&mut self.conn.commands())
            .await?;
        if [cached.len(), pending.len(), failed.len()] != [ids.len(); 3] {
            return Err(QueueError::Protocol(format!(
                "{}, {} and {} answers for {} ids",
                cached.len(),
                pending.len(),
                failed.len(),
                ids.len()
            )));
        }
        Ok(cached
            .into_iter()
            .zip(pending)
            .zip(failed)
            .map(|((cached, pending), failed)| lookup(cached, pending, failed))
            .collect())
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

/// One id's answer from its cache entry, pending entry and dead-letter reason.
fn lookup(cached: Option<String>, pending: Option<String>, failed: Option<String>) -> Lookup {
    // A cache entry that does not parse (an older format) is treated as a miss.
    if let Some(user) = cached.and_then(|raw| serde_json::from_str(&raw).ok()) {
        return Lookup::Cached(user);
    }
    match (pending.and_then(|raw| Message::decode(&raw).ok()), failed) {
        (Some(message), _) => Lookup::Pending(message),
        (None, Some(reason)) => Lookup::Failed(reason),
        (None, None) => Lookup::Unknown,
    }
}
