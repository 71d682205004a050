//! The dead-letter list: messages that can never be stored, with their reason.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use super::{Connection, QueueError};
use crate::domain::UserId;

static REQUEUE_DEAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/requeue_dead.lua")));

/// One dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Why it can never be stored.
    pub reason: String,
    /// The message exactly as it was queued.
    pub message: String,
    /// Its user id, when it could be decoded.
    pub id: Option<u64>,
    /// When it was dead-lettered, ms since the Unix epoch.
    pub at: u64,
    /// The consumer that gave up on it.
    pub consumer: String,
}

impl DeadLetter {
    /// A dead letter for `raw`, given up now by `consumer`.
    pub fn new(raw: &str, id: Option<UserId>, reason: &str, consumer: &str) -> Self {
        Self {
            reason: reason.to_owned(),
            message: raw.to_owned(),
            id: id.map(UserId::get),
            at: crate::now_millis(),
            consumer: consumer.to_owned(),
        }
    }

    /// JSON, as stored in the list.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a dead letter always serializes")
    }
}

/// The dead-letter list of a deployment, for `consumer dead list|requeue|purge`.
pub struct DeadLetters {
    conn: Connection,
}

impl DeadLetters {
    /// The dead letters of the deployment behind `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Up to `limit` dead letters, newest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let raw: Vec<String> = self
            .conn
            .commands()
            .lrange(self.conn.keys().dead(), 0, limit as isize - 1)
            .await?;
        Ok(raw
            .iter()
            .map(|r| {
                serde_json::from_str(r).unwrap_or_else(|_| DeadLetter {
                    reason: "unreadable dead letter".into(),
                    message: r.clone(),
                    id: None,
                    at: 0,
                    consumer: String::new(),
                })
            })
            .collect())
    }

    /// Moves up to `limit` of the oldest dead letters back to the queue, their users pending
    /// again; returns how many.
    pub async fn requeue(&self, limit: usize) -> Result<u64, QueueError> {
        let keys = self.conn.keys();
        Ok(REQUEUE_DEAD
            .key(keys.dead())
            .key(keys.queue())
            .key(keys.attempts())
            .key(keys.pending())
            .key(keys.failed())
            .arg(limit)
            .invoke_async(&mut self.conn.commands())
            .await?)
    }

    /// Deletes every dead letter (their users then read as unknown); returns how many there
    /// were.
    pub async fn purge(&self) -> Result<u64, QueueError> {
        let keys = self.conn.keys();
        let (count, _): (u64, u64) = redis::pipe()
            .atomic()
            .llen(keys.dead())
            .del(&[keys.dead(), keys.failed()])
            .query_async(&mut self.conn.commands())
            .await?;
        Ok(count)
    }
}
