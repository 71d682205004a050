//! The producer's role: idempotency records and the atomic enqueue.

use std::sync::LazyLock;
use std::time::Duration;

use backon::Retryable;
use redis::Script;

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

/// How long the answer of an enqueue stays readable for a producer that did not get it.
const OUTCOME_TTL: Duration = Duration::from_secs(30);

/// How long a producer keeps asking what became of an enqueue whose answer it did not get.
const RESOLVE_WITHIN: Duration = Duration::from_secs(3);

static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(super::lua!(
        "scripts/email_filter.lua",
        "scripts/ring.lua",
        "scripts/enqueue.lua"
    ))
});
static OUTCOME: LazyLock<Script> =
    LazyLock::new(|| Script::new(super::lua!("scripts/ring.lua", "scripts/outcome.lua")));
static IDEMPOTENCY_RECORD: LazyLock<Script> =
    LazyLock::new(|| Script::new(super::lua!("scripts/ring.lua", "scripts/idempotency_record.lua")));

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

/// How many replicas must confirm an enqueue before its users are answered, and how long to
/// wait for them (Redis's `WAIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replication {
    /// Replicas that must hold the enqueue (at least 1).
    pub acks: u32,
    /// Longest wait for them.
    pub timeout: Duration,
}

impl Replication {
    /// `WAIT acks timeout`: answers how many replicas acknowledged every earlier write of its
    /// connection.
    fn wait(&self) -> redis::Cmd {
        let mut wait = redis::cmd("WAIT");
        wait.arg(self.acks).arg(self.timeout.as_millis() as u64);
        wait
    }
}

/// The outcome of an enqueue, for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The message is in the queue under this id.
    New(UserId),
    /// The message is in the queue under this id, but fewer replicas than asked confirmed it in
    /// time: it may not survive a failover. A retry with the same `Idempotency-Key` answers
    /// this id if it did, or queues the user anew if it did not.
    Unreplicated(UserId),
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
    /// With replica acknowledgements: the connection the enqueue and its `WAIT` go on (a
    /// `WAIT` blocks its connection, so it has one of its own), and how many to wait for.
    replicated: Option<(Connection, Replication)>,
    /// How long an `Idempotency-Key` is remembered: [`IDEMPOTENCY_TTL`] but in tests.
    idempotency_ttl: Duration,
}

impl Enqueuer {
    /// The enqueuer of the deployment behind `conn`.
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            replicated: None,
            idempotency_ttl: IDEMPOTENCY_TTL,
        }
    }

    /// The same, remembering each `Idempotency-Key` for `ttl`: for tests of the records' expiry.
    #[cfg(feature = "testing")]
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// The same, each enqueue confirmed by `replication.acks` replicas (`WAIT`) on a connection
    /// of its own; `None` or zero acks: no confirmation asked.
    pub fn with_replication(mut self, replication: Option<Replication>) -> Result<Self, QueueError> {
        self.replicated = match replication {
            Some(r) if r.acks > 0 => Some((self.conn.with_timeouts(super::Timeouts::INTERACTIVE)?, r)),
            _ => None,
        };
        Ok(self)
    }

    /// Whether enough replicas hold everything written before now, when confirmations are
    /// asked for (always true when they are not): a write of the fence key on the enqueue's
    /// connection, then `WAIT` for it, which covers every earlier write of any connection. A
    /// replayed idempotency key is answered `202` only after this.
    pub async fn replicated_so_far(&self) -> Result<bool, QueueError> {
        let Some((conn, replication)) = &self.replicated else {
            return Ok(true);
        };
        let (_, acked): (u64, u32) = redis::pipe()
            .incr(conn.keys().fence(), 1)
            .add_command(replication.wait())
            .query_async(&mut conn.commands())
            .await?;
        Ok(acked >= replication.acks)
    }

    /// What an idempotency key was used for, if it is known.
    pub async fn idempotency_record(&self, key: &str) -> Result<Option<IdempotencyRecord>, QueueError> {
        let keys = self.conn.keys();
        let raw: Option<String> = IDEMPOTENCY_RECORD
            .key(&keys.idempotency())
            .key(keys.legacy_idempotency(key))
            .arg(key)
            .arg(self.idempotency_ttl.as_millis() as u64)
            .invoke_async(&mut self.conn.commands())
            .await?;
        raw.as_deref().map(IdempotencyRecord::parse).transpose()
    }

    /// Enqueues one user (see [`Enqueuer::enqueue_many`]).
    pub async fn enqueue(&self, request: &EnqueueRequest, id_floor: u64) -> Result<Enqueued, QueueError> {
        let mut one = self.enqueue_many(std::slice::from_ref(request), id_floor).await?;
        Ok(one.remove(0))
    }

    /// Starts, on the current runtime, the task that enqueues the users of concurrent calls in
    /// one script run (up to [`ENQUEUE_BATCH`]; see [`crate::coalesce`]). A batch that
    /// certainly did not run (never sent, or refused by a demoted primary) is resent briefly; `id_floor` is as for
    /// [`Enqueuer::enqueue_many`].
    pub fn spawn_batcher(&self, id_floor: u64) -> Coalescer<EnqueueRequest, Enqueued, QueueError> {
        let enqueuer = self.clone();
        Coalescer::spawn(ENQUEUE_BATCH, move |users: Vec<EnqueueRequest>| {
            let enqueuer = enqueuer.clone();
            async move {
                (|| enqueuer.enqueue_many(&users, id_floor))
                    .retry(crate::retry::resend())
                    .when(QueueError::never_ran)
                    .await
            }
        })
    }

    /// Allocates ids and pushes the users' messages in one script run, which is atomic: all of
    /// them are queued (or answered from their keys), in order and with growing ids, or none
    /// is. `id_floor` is a lower bound for the ids (the highest id the caller knows to be
    /// stored), a second guard against a Redis that came back empty.
    ///
    /// When the script was sent and its answer did not come, the answer is read back from the
    /// record the script keeps (docs/design.md, "An answer lost"): the users' outcomes if it
    /// ran, the original error if it did not (and now never will), and
    /// [`QueueError::OutcomeUnknown`] when Redis does not say within a few seconds.
    pub async fn enqueue_many(&self, users: &[EnqueueRequest], id_floor: u64) -> Result<Vec<Enqueued>, QueueError> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        match self.run_enqueue(users, id_floor, &token).await {
            Err(err) if err.may_have_run() => self.resolve(&token, users.len(), err).await,
            done => done,
        }
    }

    async fn run_enqueue(
        &self,
        users: &[EnqueueRequest],
        id_floor: u64,
        token: &str,
    ) -> Result<Vec<Enqueued>, QueueError> {
        let keys = self.conn.keys();
        let mut script = ENQUEUE.prepare_invoke();
        script
            .key(keys.last_id())
            .key(keys.queue())
            .key(keys.pending())
            .key(keys.email_filter())
            .key(keys.email_filter_loaded())
            .key(&keys.outcomes())
            .key(&keys.idempotency())
            .arg(id_floor)
            .arg(self.idempotency_ttl.as_millis() as u64)
            .arg(ID_EPOCH_MS)
            .arg(crate::message::head())
            .arg(OUTCOME_TTL.as_millis() as u64)
            .arg(token);
        for user in users {
            let (key, canonical) = match &user.idempotency {
                Some((key, canonical)) => {
                    script.key(keys.legacy_idempotency(key));
                    (key.as_str(), canonical.as_str())
                }
                None => {
                    script.key(keys.last_id());
                    ("", "")
                }
            };
            script
                .arg(&user.tail)
                .arg(key)
                .arg(canonical)
                .arg(user.email_key.as_deref().unwrap_or(""))
                .arg(if user.check_email { "1" } else { "0" });
        }
        let Some((conn, replication)) = &self.replicated else {
            let replies: Vec<(i64, String)> = script.invoke_async(&mut self.conn.commands()).await?;
            return outcomes(replies, users.len());
        };
        // The script and its WAIT in one round trip; a Redis that lost its scripts (a restart,
        // a failover) answers NOSCRIPT without running anything, so load it and send again.
        let mut pipe = redis::pipe();
        pipe.invoke_script(&script).add_command(replication.wait());
        let sent: Result<(Vec<(i64, String)>, u32), redis::RedisError> = pipe.query_async(&mut conn.commands()).await;
        let (replies, acked) = match sent {
            Err(err) if err.code() == Some("NOSCRIPT") => {
                let _: String = script.load_async(&mut conn.commands()).await?;
                pipe.query_async(&mut conn.commands()).await?
            }
            other => other?,
        };
        let outcomes = outcomes(replies, users.len())?;
        if acked >= replication.acks {
            return Ok(outcomes);
        }
        tracing::warn!(
            acked,
            wanted = replication.acks,
            users = users.len(),
            "too few replicas confirmed an enqueue in time"
        );
        Ok(outcomes.into_iter().map(unreplicated).collect())
    }

    /// What became of the enqueue run `token` of `count` users whose answer was lost with
    /// `lost`: asks Redis until it answers or [`RESOLVE_WITHIN`] passes.
    async fn resolve(&self, token: &str, count: usize, lost: QueueError) -> Result<Vec<Enqueued>, QueueError> {
        tracing::warn!(error = %lost, "the answer of an enqueue was lost; asking Redis what became of it");
        let ask = async {
            let mut delays = crate::retry::transient_delays();
            loop {
                let asked: Result<String, redis::RedisError> = OUTCOME
                    .key(&self.conn.keys().outcomes())
                    .arg(token)
                    .arg(OUTCOME_TTL.as_millis() as u64)
                    .invoke_async(&mut self.conn.commands())
                    .await;
                match asked {
                    Ok(kept) => return kept,
                    Err(err) => {
                        tracing::debug!(error = %err, "asking what became of an enqueue failed");
                        tokio::time::sleep(delays.next().unwrap_or(Duration::from_millis(500))).await;
                    }
                }
            }
        };
        let Ok(kept) = tokio::time::timeout(RESOLVE_WITHIN, ask).await else {
            return Err(QueueError::OutcomeUnknown(lost.to_string()));
        };
        if kept == "abandoned" {
            return Err(lost);
        }
        tracing::info!(users = count, "the enqueue had run; its answer was read back");
        let outcomes = outcomes(kept_replies(&kept)?, count)?;
        // Whether replicas hold it cannot be asked any more (a WAIT covers only the writes of
        // its own connection): with confirmations wanted, its users are told it may not last.
        Ok(match self.replicated {
            Some(_) => outcomes.into_iter().map(unreplicated).collect(),
            None => outcomes,
        })
    }
}

/// A queued user's outcome when too few replicas confirmed its enqueue.
fn unreplicated(outcome: Enqueued) -> Enqueued {
    match outcome {
        Enqueued::New(id) => Enqueued::Unreplicated(id),
        other => other,
    }
}

/// The answer the enqueue script kept as JSON, `[status, value, status, value, ...]`.
fn kept_replies(kept: &str) -> Result<Vec<(i64, String)>, QueueError> {
    let bad = |why: String| QueueError::Protocol(format!("outcome record {kept:?}: {why}"));
    let flat: Vec<serde_json::Value> = serde_json::from_str(kept).map_err(|e| bad(e.to_string()))?;
    flat.chunks(2)
        .map(|pair| match pair {
            [serde_json::Value::Number(code), serde_json::Value::String(value)] => code
                .as_i64()
                .map(|code| (code, value.clone()))
                .ok_or_else(|| bad(format!("status {code}"))),
            other => Err(bad(format!("pair {other:?}"))),
        })
        .collect()
}

/// The users' outcomes from the script's answer, one `(status, value)` per user.
fn outcomes(replies: Vec<(i64, String)>, count: usize) -> Result<Vec<Enqueued>, QueueError> {
    if replies.len() != count {
        return Err(QueueError::Protocol(format!(
            "{} answers to {count} enqueued users",
            replies.len()
        )));
    }
    replies.into_iter().map(|(code, value)| outcome(code, &value)).collect()
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

    #[test]
    fn a_kept_answer_reads_as_the_answer_itself() {
        let kept = kept_replies(r#"[1,"42",0,"7\n[\"Ada\",null]",2,""]"#).unwrap();
        assert_eq!(
            kept,
            vec![(1, "42".into()), (0, "7\n[\"Ada\",null]".into()), (2, String::new())]
        );
        for bad in ["{}", "[1]", r#"["1","42"]"#, "[1.5,\"42\"]", "not json"] {
            assert!(kept_replies(bad).is_err(), "{bad}");
        }
    }
}
