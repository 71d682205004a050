//! The use case behind `POST /api/users`: accept a new user, exactly once per idempotency key.

use std::sync::Arc;

use crate::coalesce::{CoalesceError, Coalescer};
use crate::domain::{FieldError, IdempotencyKey, NewUser, UserId};
use crate::email_loader::EmailLoader;
use crate::message::MessageTail;
use crate::queue::{
    Connection, EmailIndex, EnqueueRequest, Enqueued, Enqueuer, IdempotencyRecord, QueueError, Replication,
};
use crate::store::{Store, StoreError};

/// Most addresses checked by one MySQL query.
const EMAIL_CHECK_BATCH: usize = 64;

/// Most replayed keys answered by one fence and its `WAIT`.
const FENCE_BATCH: usize = 1024;

/// A user as the client sent it: raw fields, parsed by [`Registrar::accept`].
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The name as sent.
    pub name: &'a str,
    /// The email as sent, if any.
    pub email: Option<&'a str>,
}

impl Submission<'_> {
    /// The body as compared for idempotency: trimmed name and email.
    fn canonical(&self) -> String {
        serde_json::to_string(&(self.name.trim(), self.email.map(str::trim))).expect("strings serialize")
    }
}

/// What [`Registrar::accept`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Queued now under this id.
    Queued(UserId),
    /// The idempotency key was used before for the same body: its id, nothing queued.
    Replayed(UserId),
}

impl Accepted {
    /// The user's id.
    pub fn id(self) -> UserId {
        match self {
            Self::Queued(id) | Self::Replayed(id) => id,
        }
    }
}

/// Why a user was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// A field is invalid.
    #[error(transparent)]
    Invalid(FieldError),
    /// A stored user has this email address.
    #[error("a user with this email address already exists")]
    EmailTaken,
    /// The idempotency key was used with another body.
    #[error("this Idempotency-Key was used with a different request body")]
    KeyReused,
    /// Redis did not answer, or answered nonsense: nothing was queued.
    #[error("the queue is unreachable")]
    QueueUnavailable(#[source] CoalesceError<QueueError>),
    /// Redis took the enqueue and never said whether it ran: the user may be queued. A retry
    /// with the same `Idempotency-Key` finds out.
    #[error("the queue did not confirm the enqueue")]
    OutcomeUnknown(#[source] CoalesceError<QueueError>),
    /// Queued under this id, but fewer replicas than asked confirmed it in time: it may not
    /// survive a failover. A retry with the same `Idempotency-Key` finds out.
    #[error("too few Redis replicas confirmed the enqueue in time")]
    NotReplicated(UserId),
}

impl AcceptError {
    fn queue(err: QueueError) -> Self {
        Self::QueueUnavailable(CoalesceError::Failed(Arc::new(err)))
    }

    /// The error of a failed enqueue: unknown outcome, or nothing queued.
    fn enqueue(err: CoalesceError<QueueError>) -> Self {
        match &err {
            CoalesceError::Failed(cause) if matches!(**cause, QueueError::OutcomeUnknown(_)) => {
                Self::OutcomeUnknown(err)
            }
            _ => Self::QueueUnavailable(err),
        }
    }
}

/// Accepts new users: answers known idempotency keys, parses, checks the email early and
/// queues, sharing round trips between concurrent calls.
pub struct Registrar {
    enqueuer: Enqueuer,
    /// Enqueues the users of concurrent calls in one script run.
    batcher: Coalescer<EnqueueRequest, Enqueued, QueueError>,
    /// Checks the emails of concurrent calls in one query, when Redis cannot answer alone.
    email_checks: Coalescer<String, bool, StoreError>,
    /// Asks whether replicas hold everything so far for concurrent replays in one fence and
    /// `WAIT`: a `WAIT` blocks its connection, so one per replay would queue them all behind
    /// each other while the replicas are slow.
    fences: Coalescer<(), bool, QueueError>,
    /// Loads the stored emails into Redis, so that it can answer alone.
    emails: Arc<EmailLoader>,
}

impl Registrar {
    /// A registrar over the deployment behind `conn` and `store`, with its batching tasks
    /// started on the current runtime. `id_floor`, the highest id stored at start, is a lower
    /// bound of every id it hands out.
    ///
    /// With `replication`, a user is answered as queued only once that many replicas hold it.
    pub fn new(
        conn: Connection,
        store: Store,
        id_floor: u64,
        replication: Option<Replication>,
    ) -> Result<Self, QueueError> {
        let enqueuer = Enqueuer::new(conn.clone()).with_replication(replication)?;
        let email_checks = {
            let store = store.clone();
            Coalescer::spawn(EMAIL_CHECK_BATCH, move |keys: Vec<String>| {
                let store = store.clone();
                async move { store.emails_taken(&keys).await }
            })
        };
        let fences = {
            let enqueuer = enqueuer.clone();
            Coalescer::spawn(FENCE_BATCH, move |replays: Vec<()>| {
                let enqueuer = enqueuer.clone();
                async move { Ok(vec![enqueuer.replicated_so_far().await?; replays.len()]) }
            })
        };
        Ok(Self {
            batcher: enqueuer.spawn_batcher(id_floor),
            fences,
            enqueuer,
            email_checks,
            emails: EmailLoader::new(EmailIndex::new(conn), store),
        })
    }

    /// Starts loading the stored emails into Redis, unless they are there: until then, each
    /// new email costs a MySQL query.
    pub fn load_emails(&self) {
        self.emails.kick();
    }

    /// Accepts `submission`, made by the request `request_id`. A known `key` is answered first,
    /// before any other check (so that a retry of a stored user gets its id, not a conflict).
    pub async fn accept(
        &self,
        submission: Submission<'_>,
        request_id: &str,
        key: Option<&IdempotencyKey>,
    ) -> Result<Accepted, AcceptError> {
        let idempotency = key.map(|key| (key.as_str(), submission.canonical()));
        if let Some((key, canonical)) = &idempotency {
            let known = self
                .enqueuer
                .idempotency_record(key)
                .await
                .map_err(AcceptError::queue)?;
            if let Some(record) = known {
                return self.replay(record, canonical).await;
            }
        }
        let user = NewUser::parse(submission.name, submission.email).map_err(AcceptError::Invalid)?;
        let tail = MessageTail::accepted_now(&user, request_id);
        let idempotency = idempotency.as_ref().map(|(k, c)| (*k, c.as_str()));
        match self.enqueue(&tail, idempotency, user.email_key()).await? {
            Enqueued::New(id) => {
                tracing::info!(user_id = %id, "user queued");
                Ok(Accepted::Queued(id))
            }
            Enqueued::Known(record) => self.replay(record, idempotency.map_or("", |(_, c)| c)).await,
            Enqueued::Unreplicated(id) => {
                tracing::warn!(user_id = %id, "user queued, but not confirmed by enough replicas");
                Err(AcceptError::NotReplicated(id))
            }
            other => Err(AcceptError::queue(QueueError::Protocol(format!(
                "an unchecked enqueue answered {other:?}"
            )))),
        }
    }

    /// Queues the user unless its email is stored already. Redis answers that within the
    /// enqueue once it knows every stored email; when it does not yet, or has seen the email
    /// before, MySQL is asked, and the user is then queued unchecked (also when MySQL does not
    /// answer: the consumer refuses a duplicate). See docs/design.md, "The early email check".
    async fn enqueue(
        &self,
        tail: &MessageTail<'_>,
        idempotency: Option<(&str, &str)>,
        email_key: Option<String>,
    ) -> Result<Enqueued, AcceptError> {
        let queue = |check: bool| {
            let request = EnqueueRequest::new(tail, idempotency, email_key.as_deref(), check);
            async move { self.batcher.call(request).await.map_err(AcceptError::enqueue) }
        };
        match queue(true).await? {
            Enqueued::EmailListed => {}
            Enqueued::EmailsNotLoaded => self.emails.kick(),
            done => return Ok(done),
        }
        let Some(key) = email_key.clone() else {
            let protocol = QueueError::Protocol("the enqueue script checked an email it was not given".into());
            return Err(AcceptError::queue(protocol));
        };
        match self.email_checks.call(key).await {
            Ok(true) => return Err(AcceptError::EmailTaken),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "email check skipped: MySQL unreachable"),
        }
        queue(false).await
    }
}

impl Registrar {
    /// The answer to a known idempotency key: its id, if the body is the same, and, with
    /// replica confirmations on, once enough replicas hold it (a first attempt answered
    /// `not_replicated` must not turn into a `202` before they do).
    async fn replay(&self, record: IdempotencyRecord, canonical: &str) -> Result<Accepted, AcceptError> {
        if record.body != canonical {
            return Err(AcceptError::KeyReused);
        }
        // A batch of the coalescer starts after every call it holds was made, so its fence
        // is written after this key's record was read: its WAIT covers the record.
        match self.fences.call(()).await {
            Ok(true) => Ok(Accepted::Replayed(record.id)),
            Ok(false) => Err(AcceptError::NotReplicated(record.id)),
            Err(err) => Err(AcceptError::QueueUnavailable(err)),
        }
    }
}
