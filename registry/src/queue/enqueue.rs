//! The producer's role: idempotency records and the atomic enqueue.

use std::sync::LazyLock;
use std::time::Duration;

use backon::Retryable;
use redis::{AsyncCommands, Script};

use super::{Connection, QueueError};
use crate::coalesce::Coalescer;
use crate::domain::UserId;
use crate::message::MessageTail;

/// Most users enqueued by one script run of [`Enqueuer::spawn_batcher`].
pub const ENQUEUE_BATCH: usize = 128;

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Ids are `(ms since ID_EPOCH_MS) * 1024 + n`: time-ordered, so a Redis that comes back
/// empty still hands out ids above every earlier one, and below 2^53 until the year 2300 (safe
/// in JavaScript). See docs/design.md, "Ids".
pub const ID_EPOCH_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

static ENQUEUE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/enqueue.lua")));

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

/// The status the enqueue script answers for one user (its `KNOWN`, `QUEUED`, ... in
/// `scripts/enqueue.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueStatus {
    /// The idempotency key was known; the value is its record.
    Known = 0,
    /// Queued; the value is the new id.
    Queued = 1,
    /// Not queued: the email is among the accepted ones.
    EmailListed = 2,
    /// Not queued: Redis does not know every stored email yet.
    EmailsNotLoaded = 3,
}

impl EnqueueStatus {
    fn from_code(code: i64) -> Option<Self> {
        [Self::Known, Self::Queued, Self::EmailListed, Self::EmailsNotLoaded]
            .into_iter()
            .find(|status| *status as i64 == code)
    }
}

/// The outcome of an enqueue, for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The message is in the queue under this id.
    New(UserId),
    /// The idempotency key was already known: nothing was queued.
    Known(IdempotencyRecord),
    /// Nothing was queued: the email was accepted before. Ask MySQL whether it is stored (its
    /// user may still be queued, or refused, or deleted by hand), then enqueue unchecked.
    EmailListed,
    /// Nothing was queued: Redis does not know every stored email yet. Ask MySQL, enqueue
    /// unchecked, and load them (see [`crate::email_loader`]).
    EmailsNotLoaded,
}

/// One user to enqueue, owned, so that it can wait in a batch.
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

/// Queues users: allocates their ids and pushes their messages with their pending entries,
/// idempotency records and emails, atomically.
#[derive(Clone)]
pub struct Enqueuer {
    conn: Connection,
}

impl Enqueuer {
    /// The enqueuer of the deployment behind `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// What an idempotency key was used for, if it is known.
    pub async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, QueueError> {
        let raw: Option<String> = self.conn.commands().get(self.conn.keys().idempotency(key)).await?;
        raw.as_deref().map(IdempotencyRecord::parse).transpose()
    }

    /// Enqueues one user (see [`Enqueuer::enqueue_many`]).
    pub async fn enqueue(&self, request: &EnqueueRequest, id_floor: u64) -> Result<Enqueued, QueueError> {
        let mut one = self.enqueue_many(std::slice::from_ref(request), id_floor).await?;
        Ok(one.remove(0))
    }

    /// Starts, on the current runtime, the task that enqueues the users of concurrent calls in
    /// one script run (up to [`ENQUEUE_BATCH`]; see [`crate::coalesce`]). A batch Redis
    /// refused before it was sent is resent briefly; `id_floor` is as for
    /// [`Enqueuer::enqueue_many`].
    pub fn spawn_batcher(&self, id_floor: u64) -> Coalescer<EnqueueRequest, Enqueued, QueueError> {
        let enqueuer = self.clone();
        Coalescer::spawn(ENQUEUE_BATCH, move |users: Vec<EnqueueRequest>| {
            let enqueuer = enqueuer.clone();
            async move {
                (|| enqueuer.enqueue_many(&users, id_floor))
                    .retry(crate::retry::resend())
                    .when(QueueError::never_sent)
                    .await
            }
        })
    }

    /// Allocates ids and pushes the users' messages in one script run, which is atomic: all of
    /// them are queued (or answered from their keys), in order and with growing ids, or none
    /// is. `id_floor` is a lower bound for the ids (the highest id the caller knows to be
    /// stored), a second guard against a Redis that came back empty.
    pub async fn enqueue_many(&self, users: &[EnqueueRequest], id_floor: u64) -> Result<Vec<Enqueued>, QueueError> {
        let keys = self.conn.keys();
        let mut script = ENQUEUE.prepare_invoke();
        script
            .key(keys.last_id())
            .key(keys.queue())
            .key(keys.pending())
            .key(keys.emails())
            .key(keys.emails_loaded())
            .arg(id_floor)
            .arg(IDEMPOTENCY_TTL.as_secs())
            .arg(ID_EPOCH_MS)
            .arg(crate::message::head());
        for user in users {
            match &user.idempotency {
                Some((key, canonical)) => script
                    .key(keys.idempotency(key))
                    .arg(&user.tail)
                    .arg("1")
                    .arg(canonical),
                None => script.key(keys.last_id()).arg(&user.tail).arg("0").arg(""),
            };
            script
                .arg(user.email_key.as_deref().unwrap_or(""))
                .arg(if user.check_email { "1" } else { "0" });
        }
        let replies: Vec<(i64, String)> = script.invoke_async(&mut self.conn.commands()).await?;
        if replies.len() != users.len() {
            return Err(QueueError::Protocol(format!(
                "{} answers to {} enqueued users",
                replies.len(),
                users.len()
            )));
        }
        replies.into_iter().map(|(code, value)| outcome(code, &value)).collect()
    }
}

/// One user's outcome from the script's status and value.
fn outcome(code: i64, value: &str) -> Result<Enqueued, QueueError> {
    match EnqueueStatus::from_code(code) {
        Some(EnqueueStatus::Queued) => UserId::parse(value)
            .map(Enqueued::New)
            .ok_or_else(|| QueueError::Protocol(format!("bad id {value:?}"))),
        Some(EnqueueStatus::Known) => IdempotencyRecord::parse(value).map(Enqueued::Known),
        Some(EnqueueStatus::EmailListed) => Ok(Enqueued::EmailListed),
        Some(EnqueueStatus::EmailsNotLoaded) => Ok(Enqueued::EmailsNotLoaded),
        None => Err(QueueError::Protocol(format!("bad enqueue status {code}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_the_script_answers_is_read_and_others_are_protocol_errors() {
        assert_eq!(outcome(1, "42").unwrap(), Enqueued::New(UserId::new(42).unwrap()));
        let known = outcome(0, "42\n[\"Ada\",null]").unwrap();
        assert!(matches!(known, Enqueued::Known(r) if r.id.get() == 42 && r.body == "[\"Ada\",null]"));
        assert_eq!(outcome(2, "").unwrap(), Enqueued::EmailListed);
        assert_eq!(outcome(3, "").unwrap(), Enqueued::EmailsNotLoaded);
        for (code, value) in [(4, ""), (-1, ""), (1, "0"), (0, "no newline")] {
            assert!(outcome(code, value).is_err(), "{code} {value:?}");
        }
    }
}
