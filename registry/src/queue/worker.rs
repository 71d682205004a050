//! The consumer's side: reliable take, acknowledgement, heartbeats and the lease reaper.

use std::time::Duration;

use redis::AsyncCommands;

use super::dead::DeadLetter;
use super::keys::Slot;
use super::scripts::{REAP, TAKE};
use super::{Queue, QueueError};
use crate::domain::{StoredUser, UserId};

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Committed to MySQL: forget it. With the user when an earlier delivery stored it: a
    /// reader may have cached it since, and its cache entry's lifetime is renewed. A user this
    /// batch stored has nothing to renew: until the acknowledgement reads find it pending, and
    /// any cached copy is this very row (rows are never changed).
    Stored(Option<StoredUser>),
    /// Refused (its reason is committed to MySQL): forget it.
    Rejected,
    /// Failed permanently this time, attempts left: back to the end of the queue.
    Retry,
    /// Can never be stored: to the dead-letter list.
    Dead {
        /// Why, as a metric label.
        cause: DeadCause,
        /// Why, for people.
        reason: String,
    },
}

/// Why a message was dead-lettered (the `reason` label of `consumer_dead_letters_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadCause {
    /// Not JSON of the message shape, or of an unknown version.
    Undecodable,
    /// Decoded, but a field breaks the rules.
    Invalid,
    /// The id is already stored with different content.
    IdConflict,
    /// Failed permanently `MAX_ATTEMPTS` times.
    AttemptsExhausted,
}

impl DeadCause {
    /// Every cause.
    pub const ALL: [Self; 4] = [
        Self::Undecodable,
        Self::Invalid,
        Self::IdConflict,
        Self::AttemptsExhausted,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::Invalid => "invalid",
            Self::IdConflict => "id_conflict",
            Self::AttemptsExhausted => "attempts_exhausted",
        }
    }
}

/// The acknowledgement of one message.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The message as it was taken.
    pub raw: String,
    /// Its id, when it could be decoded.
    pub id: Option<UserId>,
    /// What to do with it.
    pub disposition: Disposition,
}

impl Queue {
    /// Moves up to `max` of the oldest messages into one of the consumer's processing lists,
    /// waiting up to `wait` for the first one (not at all when `wait` is zero). Messages stay in
    /// that list until acknowledged.
    /// A consumer takes into a list only once it acknowledged the batch it took there before.
    ///
    /// Messages the list already holds come back first, alone: a take whose reply was lost
    /// (or a batch whose acknowledgement failed) leaves them there, and the acknowledgement of
    /// the next batch would otherwise delete them unprocessed.
    /// Messages come as bytes: one that is not UTF-8 must fail alone, not the whole batch.
    pub async fn take(
        &self,
        consumer: &str,
        slot: Slot,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Vec<u8>>, QueueError> {
        let (queue, processing) = (self.keys.queue(), self.keys.processing(consumer, slot));
        let batch = self.take_into(&queue, &processing, max, true).await?;
        // A zero wait does not block (BLMOVE would take it as "for ever").
        if !batch.is_empty() || wait.is_zero() {
            return Ok(batch);
        }
        let first: Option<Vec<u8>> = self
            .conn()
            .blmove(
                &queue,
                &processing,
                redis::Direction::Right,
                redis::Direction::Left,
                wait.as_secs_f64(),
            )
            .await?;
        let Some(first) = first else { return Ok(Vec::new()) };
        if max == 1 {
            return Ok(vec![first]);
        }
        // The message BLMOVE just moved stays in the list, and comes back first.
        self.take_into(&queue, &processing, max - 1, false).await
    }

    /// Runs [`TAKE`] and reads the processing list back, in one transaction; oldest first.
    async fn take_into(
        &self,
        queue: &str,
        processing: &str,
        max: usize,
        hand_back: bool,
    ) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut take = TAKE.prepare_invoke();
        take.key(queue).key(processing).arg(max).arg(u8::from(hand_back));
        // Loaded in the same transaction: a Redis that restarted has no scripts, and an
        // EVALSHA inside a transaction is not sent again with the script, as a lone one is.
        let (_, _, mut batch): (String, u64, Vec<Vec<u8>>) = redis::pipe()
            .atomic()
            .load_script(&TAKE)
            .invoke_script(&take)
            .lrange(processing, 0, -1)
            .query_async(&mut self.conn())
            .await?;
        batch.reverse();
        Ok(batch)
    }

    /// Applies a batch's outcome atomically after its commit: renews cached redelivered users, moves
    /// retries and dead letters, forgets pending entries and empties the processing list the
    /// batch was taken into.
    pub async fn acknowledge(
        &self,
        consumer: &str,
        slot: Slot,
        acks: &[Ack],
        cache_ttl: Duration,
    ) -> Result<(), QueueError> {
        let keys = &self.keys;
        let mut pipe = redis::pipe();
        pipe.atomic();
        // The ids whose pending entry and attempt count go: one HDEL each for the whole batch.
        let mut done: Vec<u64> = Vec::with_capacity(acks.len());
        for ack in acks {
            match &ack.disposition {
                Disposition::Stored(None) | Disposition::Rejected => {}
                Disposition::Stored(Some(user)) => {
                    let json = serde_json::to_string(user).expect("a user always serializes");
                    // Never pre-fills: a cached copy is renewed (XX), and a new user enters the
                    // cache on its first read (cache-aside).
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
                    let letter = DeadLetter::new(&ack.raw, ack.id, reason, consumer);
                    pipe.lpush(keys.dead(), letter.encode()).ignore();
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
        pipe.del(keys.processing(consumer, slot)).ignore();
        let () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Counts one more permanent failure of a message; returns the attempts so far.
    pub async fn record_failure(&self, id: UserId) -> Result<u32, QueueError> {
        Ok(self.conn().hincr(self.keys.attempts(), id.get(), 1).await?)
    }

    /// Renews the consumer's lease until `lease` from now.
    pub async fn heartbeat(&self, consumer: &str, lease: Duration) -> Result<(), QueueError> {
        let deadline = crate::now_millis() + lease.as_millis() as u64;
        let () = self.conn().zadd(self.keys.consumers(), consumer, deadline).await?;
        Ok(())
    }

    /// Leaves cleanly: puts anything still in flight back at the head of the queue.
    pub async fn leave(&self, consumer: &str) -> Result<u64, QueueError> {
        // Expire our own lease now and let the reaper script do the move atomically.
        let () = self.conn().zadd(self.keys.consumers(), consumer, 0).await?;
        let reaped = self.reap().await?;
        Ok(reaped.iter().filter(|(c, _)| c == consumer).map(|(_, n)| n).sum())
    }

    /// Re-queues the in-flight messages of every consumer whose lease ran out.
    /// Returns each such consumer with how many messages went back.
    pub async fn reap(&self) -> Result<Vec<(String, u64)>, QueueError> {
        let flat: Vec<redis::Value> = REAP
            .key(self.keys.consumers())
            .key(self.keys.queue())
            .arg(crate::now_millis())
            .arg(self.keys.processing_prefix())
            .arg(super::SECOND_SLOT)
            .invoke_async(&mut self.conn())
            .await?;
        let bad = |e: redis::ParsingError| QueueError::Protocol(e.to_string());
        flat.chunks(2)
            .map(|pair| {
                let consumer: String = redis::from_redis_value(pair[0].clone()).map_err(bad)?;
                let count: u64 = redis::from_redis_value(pair[1].clone()).map_err(bad)?;
                Ok((consumer, count))
            })
            .collect()
    }
}
