//! The producer's side: idempotency records and the atomic enqueue.

use std::time::Duration;

use backon::Retryable;
use redis::AsyncCommands;

use super::message::MessageTail;
use super::scripts::{ENQUEUE, ID_EPOCH_MS};
use super::{Queue, QueueError};
use crate::coalesce::Coalescer;
use crate::domain::UserId;

/// Most users enqueued by one script run of [`Queue::spawn_enqueuer`].
pub const ENQUEUE_BATCH: usize = 128;

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
    /// Nothing was queued: the email was accepted before. Ask MySQL whether it is stored (its
    /// user may still be queued, or refused, or deleted by hand), then enqueue unchecked.
    EmailListed,
    /// Nothing was queued: Redis does not know every stored email yet (never loaded, or
    /// Redis came back empty). Ask MySQL, enqueue unchecked, and load them (see
    /// [`crate::emails`]).
    EmailsNotLoaded,
}

/// One user to enqueue, owned, so that it can wait in a batch (see [`Queue::enqueue_many`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueRequest {
    /// [`MessageTail::encode`] of the user.
    pub tail: String,
    /// The `Idempotency-Key` and the canonical body of the request, if it had a key.
    pub idempotency: Option<(String, String)>,
    /// The user's lower-cased email, if any: it joins the accepted ones when the user is queued.
    pub email_key: Option<String>,
    /// Whether to look the email up among the accepted ones first (not when MySQL was asked).
    pub check_email: bool,
}

impl EnqueueRequest {
    /// The request for a message tail, an optional (key, canonical body), and the user's
    /// lower-cased email, if any, to check first or not.
    pub fn new(
        tail: &MessageTail<'_>,
        idempotency: Option<(&str, &str)>,
        email_key: Option<&str>,
        check_email: bool,
    ) -> Self {
        Self {
            tail: tail.encode(),
            idempotency: idempotency.map(|(k, b)| (k.to_owned(), b.to_owned())),
            email_key: email_key.map(str::to_owned),
            check_email,
        }
    }
}

impl Queue {
    /// What an idempotency key was used for, if it is known.
    pub async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, QueueError> {
        let raw: Option<String> = self.conn().get(self.keys.idempotency(key)).await?;
        raw.as_deref().map(IdempotencyRecord::parse).transpose()
    }

    /// Allocates an id and pushes the message, recording the idempotency key (if any) and the
    /// email (if any) atomically with the push. `id_floor` is a lower bound for the id (the
    /// highest id the caller knows to be stored), a second guard against a Redis that came back
    /// empty. See [`EnqueueRequest`] for the email check.
    pub async fn enqueue(&self, request: &EnqueueRequest, id_floor: u64) -> Result<Enqueued, QueueError> {
        let mut one = self.enqueue_many(std::slice::from_ref(request), id_floor).await?;
        Ok(one.remove(0))
    }

    /// Starts, on the current runtime, the task that enqueues the users of concurrent calls in
    /// one script run (up to [`ENQUEUE_BATCH`]; see [`crate::coalesce`]): per user, Redis then
    /// parses, runs and answers a fraction of a command, and the caller sends and awaits a
    /// fraction of a reply. A lone call waits for nothing. A batch Redis refused before it was
    /// sent is resent briefly; `id_floor` is as for [`Queue::enqueue`].
    pub fn spawn_enqueuer(&self, id_floor: u64) -> Coalescer<EnqueueRequest, Enqueued, QueueError> {
        let queue = self.clone();
        Coalescer::spawn(ENQUEUE_BATCH, move |users: Vec<EnqueueRequest>| {
            let queue = queue.clone();
            async move {
                (|| queue.enqueue_many(&users, id_floor))
                    .retry(crate::retry::resend())
                    .when(QueueError::never_sent)
                    .await
            }
        })
    }

    /// [`Queue::enqueue`] for many users in one script run, which is atomic: all of them are
    /// queued (or answered from their keys), in order and with growing ids, or none is.
    pub async fn enqueue_many(&self, users: &[EnqueueRequest], id_floor: u64) -> Result<Vec<Enqueued>, QueueError> {
        let mut script = ENQUEUE.prepare_invoke();
        script
            .key(self.keys.last_id())
            .key(self.keys.queue())
            .key(self.keys.pending())
            .key(self.keys.emails())
            .key(self.keys.emails_loaded())
            .arg(id_floor)
            .arg(IDEMPOTENCY_TTL.as_secs())
            .arg(ID_EPOCH_MS);
        for user in users {
            match &user.idempotency {
                Some((key, canonical)) => script
                    .key(self.keys.idempotency(key))
                    .arg(&user.tail)
                    .arg("1")
                    .arg(canonical),
                None => script.key(self.keys.last_id()).arg(&user.tail).arg("0").arg(""),
            };
            script
                .arg(user.email_key.as_deref().unwrap_or(""))
                .arg(if user.check_email { "1" } else { "0" });
        }
        let replies: Vec<(i64, String)> = script.invoke_async(&mut self.conn()).await?;
        if replies.len() != users.len() {
            return Err(QueueError::Protocol(format!(
                "{} answers to {} enqueued users",
                replies.len(),
                users.len()
            )));
        }
        replies
            .into_iter()
            .map(|(status, value)| match status {
                1 => UserId::parse(&value)
                    .map(Enqueued::New)
                    .ok_or_else(|| QueueError::Protocol(format!("bad id {value:?}"))),
                0 => IdempotencyRecord::parse(&value).map(Enqueued::Known),
                2 => Ok(Enqueued::EmailListed),
                3 => Ok(Enqueued::EmailsNotLoaded),
                _ => Err(QueueError::Protocol(format!("bad enqueue status {status}"))),
            })
            .collect()
    }
}
