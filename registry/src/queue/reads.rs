//! Reads: the cache-first user lookup and the queue's counters.

use std::time::Duration;

use redis::AsyncCommands;

use super::message::Message;
use super::scripts::STATS;
use super::{Queue, QueueError};
use crate::domain::{StoredUser, UserId};

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

/// Counts of the queue's lists and live consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Messages waiting in the queue.
    pub pending: u64,
    /// Messages taken by consumers and not yet acknowledged.
    pub processing: u64,
    /// Dead letters.
    pub dead: u64,
    /// Consumers whose lease has not run out.
    pub consumers: u64,
}

impl Queue {
    /// Looks users up in the cache and among pending messages, in one round trip (one `MGET`,
    /// one `HMGET`); one answer per id, in order.
    pub async fn lookup_many(&self, ids: &[UserId]) -> Result<Vec<Lookup>, QueueError> {
        let keys: Vec<String> = ids.iter().map(|&id| self.keys.user(id)).collect();
        let fields: Vec<u64> = ids.iter().map(|id| id.get()).collect();
        let (cached, pending): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .cmd("MGET")
            .arg(&keys)
            .cmd("HMGET")
            .arg(self.keys.pending())
            .arg(&fields)
            .query_async(&mut self.conn())
            .await?;
        if cached.len() != ids.len() || pending.len() != ids.len() {
            return Err(QueueError::Protocol(format!(
                "{} and {} answers for {} ids",
                cached.len(),
                pending.len(),
                ids.len()
            )));
        }
        Ok(cached
            .into_iter()
            .zip(pending)
            .map(|(cached, pending)| {
                // A cache entry that does not parse (an older format) is treated as a miss.
                if let Some(user) = cached.and_then(|raw| serde_json::from_str(&raw).ok()) {
                    return Lookup::Cached(user);
                }
                match pending.and_then(|raw| Message::decode(&raw).ok()) {
                    Some(message) => Lookup::Pending(message),
                    None => Lookup::Unknown,
                }
            })
            .collect())
    }

    /// Puts a stored user in the cache for `ttl`.
    pub async fn cache_user(&self, user: &StoredUser, ttl: Duration) -> Result<(), QueueError> {
        let Some(id) = UserId::new(user.id) else { return Ok(()) };
        let json = serde_json::to_string(user).expect("a user always serializes");
        let () = self.conn().set_ex(self.keys.user(id), json, ttl.as_secs()).await?;
        Ok(())
    }

    /// Queue counters; a consumer is live until the lease deadline of its last heartbeat.
    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let cutoff = crate::now_millis();
        let (pending, processing, dead, consumers): (u64, u64, u64, u64) = STATS
            .key(self.keys.queue())
            .key(self.keys.dead())
            .key(self.keys.consumers())
            .arg(cutoff)
            .arg(self.keys.processing_prefix())
            .arg(super::SECOND_SLOT)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(QueueStats {
            pending,
            processing,
            dead,
            consumers,
        })
    }
}
