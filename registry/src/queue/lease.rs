//! A consumer's role: reliable take, acknowledgement, heartbeats and the reaper of dead
//! consumers' leases. The protocol and why it loses nothing: docs/design.md, "Taking a batch".

mod disposition;

use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};

pub use disposition::{Ack, DeadCause, Disposition};

use super::dead::DeadLetter;
use super::keys::Slot;
use super::{Connection, QueueError, Timeouts};
use crate::domain::UserId;

static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/take.lua")));
static REAP: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/reap.lua")));
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/heartbeat.lua")));

/// The lease a [`Lease`] takes with unless told otherwise ([`Lease::with_lease`]).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// One consumer's hold on the queue: its two processing lists and its lease; clones share
/// the connections.
#[derive(Clone)]
pub struct Lease {
    /// Non-blocking commands.
    conn: Connection,
    /// The connection that blocks on BLMOVE, so that it never holds up the others.
    taker: Connection,
    /// This consumer's id (names its processing lists and its lease).
    consumer: String,
    /// How long a take or a heartbeat keeps this consumer alive.
    lease: Duration,
}

impl Lease {
    /// The lease of `consumer` over the deployment behind `conn`; the blocking connection is
    /// opened beside it.
    pub fn new(conn: Connection, consumer: impl Into<String>) -> Result<Self, QueueError> {
        Ok(Self {
            taker: conn.with_timeouts(Timeouts::BLOCKING)?,
            conn,
            consumer: consumer.into(),
            lease: DEFAULT_LEASE,
        })
    }

    /// The same, each take and heartbeat keeping the consumer alive for `lease`.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// This consumer's id.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Moves up to `max` of the oldest messages into the processing list `slot`, waiting up to
    /// `wait` (at most 5 s) for the first one (not at all when `wait` is zero). Messages stay in that list
    /// until acknowledged; a consumer takes into a list only once the batch it took there
    /// before is acknowledged. Messages the list already holds come back first, alone (a take
    /// whose reply was lost, or a batch whose acknowledgement failed). Messages come as bytes:
    /// one that is not UTF-8 must fail alone, not the whole batch.
    pub async fn take(&self, slot: Slot, max: usize, wait: Duration) -> Result<Vec<Vec<u8>>, QueueError> {
        let keys = self.conn.keys();
        let (queue, processing) = (keys.queue(), keys.processing(&self.consumer, slot));
        let batch = self.take_into(&queue, &processing, max).await?;
        // A zero wait does not block (BLMOVE would take it as "for ever").
        if !batch.is_empty() || wait.is_zero() {
            return Ok(batch);
        }
        // Waits for a first message without moving it (BLMOVE from the queue to itself, right
        // to right, puts it back where it was), then takes with the script: only the script
        // fills a processing list, registering the lease in the same step.
        let wait = wait.min(super::connection::MAX_BLOCK);
        let first: Option<Vec<u8>> = self
            .taker
            .commands()
            .blmove(
                &queue,
                &queue,
                redis::Direction::Right,
                redis::Direction::Right,
                wait.as_secs_f64(),
            )
            .await?;
        if first.is_none() {
            return Ok(Vec::new());
        }
        self.take_into(&queue, &processing, max).await
    }

    /// Runs the take script and reads the processing list back, in one transaction; oldest
    /// first.
    async fn take_into(&self, queue: &str, processing: &str, max: usize) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut take = TAKE.prepare_invoke();
        take.key(queue)
            .key(processing)
            .key(self.conn.keys().consumers())
            .arg(max)
            .arg(&self.consumer)
            .arg(self.lease.as_millis() as u64);
        // Loaded in the same transaction: a Redis that restarted has no scripts, and an
        // EVALSHA inside a transaction is not sent again with the script, as a lone one is.
        let (_, _, mut batch): (String, u64, Vec<Vec<u8>>) = redis::pipe()
            .atomic()
            .load_script(&TAKE)
            .invoke_script(&take)
            .lrange(processing, 0, -1)
            .query_async(&mut self.taker.commands())
            .await?;
        batch.reverse();
        Ok(batch)
    }

    /// Applies a batch's outcome atomically after its commit: renews cached redelivered users,
    /// moves retries and dead letters, forgets pending entries and empties the processing list
    /// `slot` the batch was taken into.
    pub async fn acknowledge(&self, slot: Slot, acks: &[Ack], cache_ttl: Duration) -> Result<(), QueueError> {
        let keys = self.conn.keys();
        let mut pipe = redis::pipe();
        pipe.atomic();
        // The ids whose pending entry and attempt count go: one HDEL each for the whole batch.
        let mut done: Vec<u64> = Vec::with_capacity(acks.len());
        for ack in acks {
            match &ack.disposition {
                Disposition::Stored(None) | Disposition::Rejected => {}
                Disposition::Stored(Some(user)) => {
                    let json = serde_json::to_string(user).expect("a user always serializes");
                    // Renewed only (XX): a new user enters the cache on its first read.
                    let key = keys.user(UserId::new(user.id).expect("stored ids are positive"));
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(json)
                        .arg("EX")
                        .arg(cache_ttl.as_secs())
                        .arg("XX")
                        .ignore();
                }
                Disposition::Retry => {
                    pipe.lpush(keys.queue(), &ack.raw).ignore();
                    continue; // still pending, attempts kept
                }
                Disposition::Dead { reason, .. } => {
                    let letter = DeadLetter::new(&ack.raw, ack.id, reason, &self.consumer);
                    pipe.lpush(keys.dead(), letter.encode()).ignore();
                    if let Some(id) = ack.id {
                        pipe.hset(keys.failed(), id.get(), reason).ignore();
                    }
                }
            }
            if let Some(id) = ack.id {
                done.push(id.get());
            }
        }
        if !done.is_empty() {
            pipe.hdel(keys.pending(), &done).ignore();
            pipe.hdel(keys.attempts(), &done).ignore();
        }
        pipe.del(keys.processing(&self.consumer, slot)).ignore();
        let () = pipe.query_async(&mut self.conn.commands()).await?;
        Ok(())
    }

    /// Counts one more permanent failure of a message; returns the attempts so far.
    pub async fn record_failure(&self, id: UserId) -> Result<u32, QueueError> {
        Ok(self
            .conn
            .commands()
            .hincr(self.conn.keys().attempts(), id.get(), 1)
            .await?)
    }

    /// Renews this consumer's lease until `lease` from now.
    pub async fn heartbeat(&self, lease: Duration) -> Result<(), QueueError> {
        let _now: u64 = HEARTBEAT
            .key(self.conn.keys().consumers())
            .arg(&self.consumer)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut self.conn.commands())
            .await?;
        Ok(())
    }

    /// Leaves cleanly: puts anything still in flight back at the head of the queue; returns
    /// how many messages went back.
    pub async fn leave(&self) -> Result<u64, QueueError> {
        // Expire our own lease now and let the reaper script do the move atomically.
        let consumers = self.conn.keys().consumers();
        let () = self.conn.commands().zadd(consumers, &self.consumer, 0).await?;
        let reaped = self.reap().await?;
        Ok(reaped.iter().filter(|(c, _)| *c == self.consumer).map(|(_, n)| n).sum())
    }

    /// Re-queues the in-flight messages of every consumer whose lease ran out. Returns each
    /// such consumer with how many messages went back.
    pub async fn reap(&self) -> Result<Vec<(String, u64)>, QueueError> {
        let keys = self.conn.keys();
        let flat: Vec<redis::Value> = REAP
            .key(keys.consumers())
            .key(keys.queue())
            .arg(keys.processing_prefix())
            .arg(super::SECOND_SLOT)
            .invoke_async(&mut self.conn.commands())
            .await?;
        flat.chunks(2)
            .map(|pair| Ok((super::parse(pair[0].clone())?, super::parse(pair[1].clone())?)))
            .collect()
    }
}
