//! The queue's counters, read for `/api/stats` and the `queue_messages` and `consumers_live`
//! gauges.

use std::sync::LazyLock;

use redis::Script;

use super::{Connection, QueueError};

static STATS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/stats.lua")));

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

/// Reads the queue's counters.
#[derive(Clone)]
pub struct QueueMonitor {
    conn: Connection,
}

impl QueueMonitor {
    /// The monitor of the deployment behind `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// Queue counters; a consumer is live until the lease deadline of its last heartbeat.
    pub async fn stats(&self) -> Result<QueueStats, QueueError> {
        let keys = self.conn.keys();
        let (pending, processing, dead, consumers): (u64, u64, u64, u64) = STATS
            .key(keys.queue())
            .key(keys.dead())
            .key(keys.consumers())
            .arg(keys.processing_prefix())
            .arg(super::SECOND_SLOT)
            .invoke_async(&mut self.conn.commands())
            .await?;
        Ok(QueueStats {
            pending,
            processing,
            dead,
            consumers,
        })
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        self.conn.ping().await
    }
}
