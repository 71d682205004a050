//! The pipeline's three steps, each over the parts it shares read-only during a batch: take a
//! batch, store it (transient failures retried, a failing batch stored one by one), and
//! acknowledge it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use registry::domain::AcceptedUser;
use registry::queue::{Disposition, Lease, QueueError, Slot};
use registry::store::{Outcome, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{BatchError, PipelineConfig};
use crate::batch::{self, Decoded, Settled};
use crate::metrics::{Metrics, RetryCause};

/// A batch as taken: its processing list and its messages.
#[derive(Debug)]
pub(super) struct Taken {
    pub slot: Slot,
    pub messages: Vec<Vec<u8>>,
}

/// A batch committed to MySQL and not acknowledged yet.
pub(super) struct Stored {
    /// The processing list it was taken into.
    pub slot: Slot,
    pub settled: Settled,
    /// Its `batch` span, for the lines its acknowledgement writes.
    pub span: tracing::Span,
}

/// What the steps share.
pub(super) struct Steps {
    pub lease: Lease,
    pub store: Store,
    pub config: PipelineConfig,
    pub metrics: Arc<Metrics>,
}

impl Steps {
    /// Takes up to a batch into `slot`, waiting up to `wait` for the first message.
    pub async fn take(&self, slot: Slot, wait: Duration) -> Result<Vec<Vec<u8>>, QueueError> {
        self.lease.take(slot, self.config.batch_size, wait).await
    }

    /// Counts the batch's size and opens its `batch` span.
    pub fn batch_span(&self, batch: &Taken) -> tracing::Span {
        self.metrics.batch(batch.messages.len());
        tracing::info_span!("batch", size = batch.messages.len(), consumer = %self.lease.consumer())
    }

    /// Decodes and stores a batch inside `span`; it still has to be acknowledged.
    pub async fn store(
        &self,
        taken: Taken,
        span: tracing::Span,
        cancel: &CancellationToken,
    ) -> Result<Stored, BatchError> {
        let decoded = Decoded::new(taken.messages);
        let dispositions = self
            .store_all(&decoded.users(), cancel)
            .instrument(span.clone())
            .await?;
        Ok(Stored {
            slot: taken.slot,
            settled: decoded.settle(dispositions),
            span,
        })
    }

    /// Acknowledges a stored batch, transient Redis failures retried until `cancel` fires.
    /// After a permanent failure the batch stays in its processing list: the next take into
    /// that list hands it back first, and storing it again is idempotent.
    pub async fn acknowledge(&self, stored: &Stored, cancel: &CancellationToken) -> Result<(), BatchError> {
        let acked = registry::retry::until_done(
            "acknowledging a batch",
            cancel,
            |e: &QueueError| self.transient(e.is_transient(), RetryCause::Redis, || "Redis unreachable".into()),
            || {
                self.lease
                    .acknowledge(stored.slot, &stored.settled.acks, self.config.cache_ttl)
            },
        )
        .await;
        match acked {
            Some(Ok(())) => {
                self.metrics.recovered();
                self.metrics.progressed();
                Ok(())
            }
            Some(Err(err)) => {
                tracing::error!(error = %err, "could not acknowledge a stored batch");
                Err(BatchError::Take(err))
            }
            None => Err(BatchError::Cancelled),
        }
    }

    /// Counts an acknowledged batch's retries and dead letters, and times each stored user.
    pub fn count(&self, batch: &Settled) {
        let now = registry::now_millis();
        for ack in &batch.acks {
            match &ack.disposition {
                Disposition::Retry => self.metrics.retry(RetryCause::Failed),
                Disposition::Dead { cause, .. } => self.metrics.dead_letter(*cause),
                Disposition::Stored(_) | Disposition::Rejected => {}
            }
        }
        for (index, user) in &batch.valid {
            if let Disposition::Stored(_) = batch.acks[*index].disposition {
                self.metrics.stored(user.accepted_at, now);
            }
        }
    }

    /// Stores the users: the whole batch in one transaction, or, when that fails permanently,
    /// one user at a time to find the culprit. One disposition per user, in order.
    async fn store_all(
        &self,
        users: &[AcceptedUser],
        cancel: &CancellationToken,
    ) -> Result<Vec<Disposition>, BatchError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        match self.persist(users, cancel).await? {
            Ok(outcomes) => return Ok(outcomes.into_iter().map(batch::disposition).collect()),
            Err(err) if users.len() == 1 => return Ok(vec![self.failed(&users[0], &err).await]),
            Err(err) => tracing::warn!(error = %err, "batch failed permanently; storing its users one by one"),
        }
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let disposition = match self.persist(std::slice::from_ref(user), cancel).await? {
                Ok(mut outcomes) => batch::disposition(outcomes.remove(0)),
                Err(err) => self.failed(user, &err).await,
            };
            out.push(disposition);
        }
        Ok(out)
    }

    /// Persists with transient errors retried; `Err` only when cancelled.
    async fn persist(
        &self,
        users: &[AcceptedUser],
        cancel: &CancellationToken,
    ) -> Result<Result<Vec<Outcome>, StoreError>, BatchError> {
        registry::retry::until_done(
            "storing a batch",
            cancel,
            |e: &StoreError| self.transient(e.is_transient(), RetryCause::Mysql, || format!("MySQL: {}", e.cause())),
            || async {
                let started = Instant::now();
                let within = self.config.statement_timeout;
                let result = tokio::time::timeout(within, self.store.persist(users))
                    .await
                    .unwrap_or(Err(StoreError::NoAnswer(within)));
                self.metrics.persisted(started.elapsed());
                if result.is_ok() {
                    self.metrics.recovered();
                }
                result
            },
        )
        .await
        .ok_or(BatchError::Cancelled)
    }

    /// Counts a permanent failure of one user: another attempt later, or the dead-letter list.
    async fn failed(&self, user: &AcceptedUser, err: &StoreError) -> Disposition {
        let max = self.config.max_attempts;
        let attempts = self.lease.record_failure(user.id).await.unwrap_or(max);
        let disposition = batch::after_failure(attempts, max, &err.to_string());
        match disposition {
            Disposition::Retry => {
                tracing::warn!(user_id = %user.id, attempts, error = %err, "message failed; it will be retried")
            }
            _ => {
                tracing::warn!(user_id = %user.id, attempts, error = %err, "dead-lettering a message after its last attempt")
            }
        }
        disposition
    }

    /// Counts a retry when an error is transient (and so will be retried), and notes its
    /// cause for `/health/ready` until a step succeeds.
    fn transient(&self, transient: bool, cause: RetryCause, why: impl FnOnce() -> String) -> bool {
        if transient {
            self.metrics.retry(cause);
            self.metrics.in_trouble(why());
        }
        transient
    }
}
