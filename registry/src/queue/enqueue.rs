//! The producer's side: idempotency records and the atomic enqueue.

use std::time::Duration;

use redis::AsyncCommands;

use super::message::MessageTail;
use super::scripts::{ENQUEUE, ID_EPOCH_MS};
use super::{Queue, QueueError};
use crate::domain::UserId;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The id answered the first time.
    pub id: UserId,
    /// The canonical body of the first request.
    pub body: String,
}

impl IdempotencyRecord {
    fn parse(raw: &str) -> Result<Self, QueueError> {
        raw.split_once('\n')
            .and_then(|(id, body)| {
                Some(Self {
                    id: UserId::parse(id)?,
                    body: body.to_owned(),
                })
            })
            .ok_or_else(|| QueueError::Protocol(format!("bad idempotency record {raw:?}")))
    }
}

/// The outcome of [`Queue::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The message is in the queue under this id.
    New(UserId),
    /// The idempotency key was already known: nothing was queued.
    Known(IdempotencyRecord),
}

impl Queue {
    /// What an idempotency key was used for, if it is known.
    pub async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, QueueError> {
        let raw: Option<String> = self.conn().get(self.keys.idempotency(key)).await?;
        raw.as_deref().map(IdempotencyRecord::parse).transpose()
    }

    /// Allocates an id and pushes the message, recording the idempotency key (if any)
    /// atomically with the push. `id_floor` is a lower bound for the id (the highest id the
    /// caller knows to be stored), a second guard against a Redis that came back empty.
    pub async fn enqueue(
        &self,
        tail: &MessageTail<'_>,
        idempotency: Option<(&str, &str)>,
        id_floor: u64,
    ) -> Result<Enqueued, QueueError> {
        let (idem_key, canonical) = match idempotency {
            Some((key, body)) => (self.keys.idempotency(key), body),
            None => (self.keys.last_id(), ""),
        };
        let (status, value): (i64, String) = ENQUEUE
            .key(self.keys.last_id())
            .key(self.keys.queue())
            .key(self.keys.pending())
            .key(idem_key)
            .arg(tail.encode())
            .arg(id_floor)
            .arg(if idempotency.is_some() { "1" } else { "0" })
            .arg(canonical)
            .arg(IDEMPOTENCY_TTL.as_secs())
            .arg(ID_EPOCH_MS)
            .invoke_async(&mut self.conn())
            .await?;
        match status {
            1 => UserId::parse(&value)
                .map(Enqueued::New)
                .ok_or_else(|| QueueError::Protocol(format!("bad id {value:?}"))),
            _ => IdempotencyRecord::parse(&value).map(Enqueued::Known),
        }
    }
}
