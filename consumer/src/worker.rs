//! The worker: take a batch, store it in one transaction, acknowledge it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use registry::queue::{Ack, DeadCause, Disposition, Message, Queue, QueueError, Slot, Timeouts, ValidMessage};
use registry::store::{Outcome, Store, StoreError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::metrics::{Metrics, RetryCause};

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This consumer's unique id (names its processing list).
    pub consumer: String,
    /// Most messages per transaction.
    pub batch_size: usize,
    /// Attempts before a permanently failing message is dead-lettered.
    pub max_attempts: u32,
    /// Cache lifetime of stored users.
    pub cache_ttl: Duration,
}

/// A consumer's worker.
pub struct Worker {
    /// Non-blocking commands.
    pub queue: Queue,
    /// The connection that blocks on BLMOVE.
    pub taker: Queue,
    /// MySQL.
    pub store: Store,
    /// Settings.
    pub config: WorkerConfig,
    /// The Prometheus series.
    pub metrics: Arc<Metrics>,
    /// The last batch's log lines, while a thread writes them (`journal`).
    journal: Mutex<Option<JoinHandle<()>>>,
    /// The next batch, taken while the last one was stored, and the list the next take goes
    /// into.
    ahead: Mutex<Ahead>,
    /// The last batch, stored and not acknowledged yet: it is acknowledged while the next one
    /// is stored.
    unacked: Mutex<Option<Stored>>,
}

/// What the worker took ahead.
#[derive(Debug)]
struct Ahead {
    /// A batch taken while the one before was stored, not processed yet.
    batch: Option<Taken>,
    /// The processing list the next take goes into.
    slot: Slot,
}

/// A batch as taken: its processing list and its messages.
#[derive(Debug)]
struct Taken {
    slot: Slot,
    messages: Vec<Vec<u8>>,
}

/// A batch committed to MySQL and not acknowledged yet: what its acknowledgement needs.
struct Stored {
    /// The processing list it was taken into.
    slot: Slot,
    acks: Vec<Ack>,
    valid: Vec<(usize, ValidMessage)>,
    report: BatchReport,
    /// Its `batch` span, for the lines its acknowledgement writes.
    span: tracing::Span,
}

/// Why a batch did not complete.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Redis failed while taking; nothing was taken.
    #[error("taking a batch: {0}")]
    Take(#[from] registry::queue::QueueError),
    /// Stopped before the batch was done; its messages stay in the processing list.
    #[error("stopped before the batch was stored and acknowledged")]
    Cancelled,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// Messages taken.
    pub taken: usize,
    /// Users stored (including redeliveries found already stored).
    pub stored: usize,
    /// Users refused.
    pub rejected: usize,
    /// Messages sent back for another attempt.
    pub retried: usize,
    /// Messages dead-lettered.
    pub dead: usize,
}

impl Worker {
    /// A worker over `queue` (its non-blocking connection) and `store`; the connection that
    /// blocks on BLMOVE is opened beside the queue's.
    pub fn new(queue: Queue, store: Store, config: WorkerConfig) -> Result<Self, QueueError> {
        let taker = queue.with_timeouts(Timeouts::BLOCKING)?;
        Ok(Self {
            queue,
            taker,
            store,
            config,
            metrics: Arc::new(Metrics::new()),
            journal: Mutex::new(None),
            ahead: Mutex::new(Ahead {
                batch: None,
                slot: Slot::First,
            }),
            unacked: Mutex::new(None),
        })
    }

    /// Runs batches until one finds the queue empty (after waiting `wait`); returns how many
    /// messages were taken. Every batch is acknowledged when it returns.
    pub async fn drain(&self, wait: Duration, cancel: &CancellationToken) -> Result<usize, BatchError> {
        let mut taken = 0;
        let result = loop {
            match self.try_process_batch(wait, cancel).await {
                Ok(BatchReport { taken: 0, .. }) => break Ok(taken),
                Ok(report) => taken += report.taken,
                Err(err) => break Err(err),
            }
        };
        let result = match (result, self.acknowledge_last(cancel).await) {
            (Ok(_), Err(err)) => Err(err),
            (result, _) => result,
        };
        self.flush_journal().await;
        result
    }

    /// Processes one batch (taken ahead, or taken now, waiting up to `wait` for the first
    /// message): stores it and, meanwhile, acknowledges the batch before it and takes the next
    /// one, so that the next call starts storing at once. This batch is acknowledged now when
    /// nothing was there to take, else during the next call (or by [`Worker::finish`], or at
    /// the end of [`Worker::drain`]). Transient MySQL/Redis failures after the take are retried
    /// until `cancel` fires.
    ///
    /// A list is taken into only after the batch taken there before is acknowledged: the next
    /// batch goes into the list of the batch before this one, right after that batch's
    /// acknowledgement. When an acknowledgement fails, its batch stays in its list, and the
    /// next take into that list hands it back first.
    pub async fn try_process_batch(
        &self,
        wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<BatchReport, BatchError> {
        let ahead = self.ahead().batch.take();
        let batch = match ahead {
            Some(batch) => batch,
            None => {
                // The queue ran dry: the last batch is not kept waiting for the next.
                self.acknowledge_last(cancel).await?;
                match self.take(wait).await? {
                    Some(batch) => batch,
                    None => return Ok(BatchReport::default()),
                }
            }
        };
        let span = self.batch_span(&batch);
        let ((acked_last, next), stored) = tokio::join!(
            async {
                if let Err(err) = self.acknowledge_last(cancel).await {
                    return (Err(err), None);
                }
                // Without waiting: when nothing is there, this batch is acknowledged at once.
                match self.take(Duration::ZERO).await {
                    Ok(next) => (Ok(()), next),
                    // The error comes back on the next take, into the same list; the failed
                    // take may have moved messages there, and that take hands them back.
                    Err(err) => {
                        tracing::debug!(error = %err, "taking the next batch ahead failed");
                        (Ok(()), None)
                    }
                }
            },
            self.store(batch, span, cancel)
        );
        let more = next.is_some();
        self.ahead().batch = next;
        let stored = stored?;
        let report = stored.report;
        if more {
            *self.unacked() = Some(stored);
        } else {
            self.acknowledge(stored, cancel).await?;
        }
        acked_last.map(|()| report)
    }

    /// Acknowledges the last batch if it is not yet, then processes the batch taken ahead, if
    /// there is one, without taking another: a stopping consumer finishes what it took.
    pub async fn finish(&self, cancel: &CancellationToken) -> Result<BatchReport, BatchError> {
        self.acknowledge_last(cancel).await?;
        let ahead = self.ahead().batch.take();
        let Some(batch) = ahead else {
            return Ok(BatchReport::default());
        };
        let span = self.batch_span(&batch);
        let stored = self.store(batch, span, cancel).await?;
        self.acknowledge(stored, cancel).await
    }

    /// Counts the batch's size and opens its `batch` span.
    fn batch_span(&self, batch: &Taken) -> tracing::Span {
        self.metrics.batch(batch.messages.len());
        tracing::info_span!("batch", size = batch.messages.len(), consumer = %self.config.consumer)
    }

    /// Acknowledges the last batch stored, if it is not yet.
    async fn acknowledge_last(&self, cancel: &CancellationToken) -> Result<(), BatchError> {
        let last = self.unacked().take();
        match last {
            Some(last) => self.acknowledge(last, cancel).await.map(|_| ()),
            None => Ok(()),
        }
    }

    fn unacked(&self) -> std::sync::MutexGuard<'_, Option<Stored>> {
        self.unacked
            .lock()
            .expect("the unacknowledged-batch lock is never held across a panic")
    }

    /// Takes a batch into the list whose turn it is; `None` when the queue stayed empty.
    async fn take(&self, wait: Duration) -> Result<Option<Taken>, BatchError> {
        let slot = self.ahead().slot;
        let messages = self
            .taker
            .take(&self.config.consumer, slot, self.config.batch_size, wait)
            .await?;
        if messages.is_empty() {
            return Ok(None);
        }
        self.ahead().slot = slot.other();
        Ok(Some(Taken { slot, messages }))
    }

    fn ahead(&self) -> std::sync::MutexGuard<'_, Ahead> {
        self.ahead
            .lock()
            .expect("the take-ahead lock is never held across a panic")
    }

    /// Decodes and stores a batch (inside `span`); it still has to be acknowledged.
    async fn store(&self, taken: Taken, span: tracing::Span, cancel: &CancellationToken) -> Result<Stored, BatchError> {
        self.decode_and_store(taken, span.clone(), cancel)
            .instrument(span)
            .await
    }

    async fn decode_and_store(
        &self,
        taken: Taken,
        span: tracing::Span,
        cancel: &CancellationToken,
    ) -> Result<Stored, BatchError> {
        let Taken { slot, messages: taken } = taken;
        let mut acks: Vec<Option<Ack>> = vec![None; taken.len()];
        let mut raw: Vec<String> = Vec::with_capacity(taken.len());
        let mut valid: Vec<(usize, ValidMessage)> = Vec::with_capacity(taken.len());
        for (i, bytes) in taken.into_iter().enumerate() {
            // Decoded from the bytes, so that bytes which are not UTF-8 make the message
            // undecodable instead of passing as replacement characters.
            let decoded = Message::decode_bytes(&bytes);
            // The message as it goes back to the queue or into a dead letter (moved, not
            // copied; one that is not UTF-8 keeps a readable form).
            let text = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            let id = decoded.as_ref().ok().and_then(|m| registry::domain::UserId::new(m.id));
            match decoded.and_then(Message::validate) {
                Ok(message) => valid.push((i, message)),
                Err(err) => {
                    tracing::warn!(error = %err, "dead-lettering a message that can never be stored");
                    acks[i] = Some(Ack {
                        raw: text.clone(),
                        id,
                        disposition: Disposition::Dead {
                            cause: err.cause(),
                            reason: err.to_string(),
                        },
                    });
                }
            }
            raw.push(text);
        }
        for (i, disposition) in self.store_all(&valid, cancel).await? {
            let id = Some(valid[i].1.id);
            let index = valid[i].0;
            acks[index] = Some(Ack {
                raw: std::mem::take(&mut raw[index]),
                id,
                disposition,
            });
        }
        let acks: Vec<Ack> = acks
            .into_iter()
            .map(|a| a.expect("every message has an outcome"))
            .collect();
        let report = report(&acks);
        Ok(Stored {
            slot,
            acks,
            valid,
            report,
            span,
        })
    }

    /// Acknowledges a stored batch (transient Redis failures retried until `cancel` fires),
    /// then has its lines written.
    async fn acknowledge(&self, stored: Stored, cancel: &CancellationToken) -> Result<BatchReport, BatchError> {
        let Stored {
            slot,
            acks,
            valid,
            report,
            span,
        } = stored;
        let acked = registry::retry::until_done(
            "acknowledging a batch",
            cancel,
            |e: &QueueError| self.transient(e.is_transient(), RetryCause::Redis),
            || {
                self.queue
                    .acknowledge(&self.config.consumer, slot, &acks, self.config.cache_ttl)
            },
        )
        .instrument(span.clone())
        .await;
        match acked {
            Some(Ok(())) => {
                self.journal(acks, valid, report).instrument(span).await;
                Ok(report)
            }
            // A permanent Redis error on ack: the batch stays in this consumer's processing
            // list, and its next take hands it back first (or the lease re-queues it if this
            // consumer dies); storing again is idempotent.
            Some(Err(err)) => {
                let _entered = span.enter();
                tracing::error!(error = %err, "could not acknowledge a stored batch");
                Err(BatchError::Take(err))
            }
            None => Err(BatchError::Cancelled),
        }
    }

    /// Stores the valid messages: the whole batch in one transaction, or, when that fails
    /// permanently, one message at a time to find the culprit. Returns (index in `valid`,
    /// disposition) pairs.
    async fn store_all(
        &self,
        valid: &[(usize, ValidMessage)],
        cancel: &CancellationToken,
    ) -> Result<Vec<(usize, Disposition)>, BatchError> {
        if valid.is_empty() {
            return Ok(Vec::new());
        }
        let messages: Vec<ValidMessage> = valid.iter().map(|(_, m)| m.clone()).collect();
        match self.persist(&messages, cancel).await? {
            Ok(outcomes) => {
                return Ok(outcomes
                    .into_iter()
                    .enumerate()
                    .map(|(i, o)| (i, disposition(o)))
                    .collect());
            }
            Err(err) if messages.len() == 1 => return Ok(vec![(0, self.failed(&messages[0], &err).await)]),
            Err(err) => tracing::warn!(error = %err, "batch failed permanently; storing its messages one by one"),
        }
        let mut out = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            let one = std::slice::from_ref(message);
            let disposition = match self.persist(one, cancel).await? {
                Ok(mut outcomes) => disposition(outcomes.remove(0)),
                Err(err) => self.failed(message, &err).await,
            };
            out.push((i, disposition));
        }
        Ok(out)
    }

    /// Persists with transient errors retried; `Err(BatchError)` only when cancelled.
    async fn persist(
        &self,
        messages: &[ValidMessage],
        cancel: &CancellationToken,
    ) -> Result<Result<Vec<Outcome>, StoreError>, BatchError> {
        registry::retry::until_done(
            "storing a batch",
            cancel,
            |e: &StoreError| self.transient(e.is_transient(), RetryCause::Mysql),
            || async {
                let started = Instant::now();
                let result = self.store.persist(messages).await;
                self.metrics.persisted(started.elapsed());
                result
            },
        )
        .await
        .ok_or(BatchError::Cancelled)
    }

    /// Counts a retry when an error is transient (and so will be retried).
    fn transient(&self, transient: bool, cause: RetryCause) -> bool {
        if transient {
            self.metrics.retry(cause);
        }
        transient
    }

    /// After an acknowledgement: counts retries and dead letters and times each stored user,
    /// then logs each stored or refused user (with the request id that created it, to follow
    /// one user across both logs) and the batch. A thread of the blocking pool writes the lines
    /// while the next batch is taken and stored: they were a third of a consumer's CPU, all of
    /// it on the way from one batch to the next (BENCHMARKS.md). It first waits for the
    /// previous batch's lines, so that batches keep their order and at most one batch's lines
    /// wait.
    async fn journal(&self, acks: Vec<Ack>, valid: Vec<(usize, ValidMessage)>, report: BatchReport) {
        count(&self.metrics, &acks, &valid);
        self.flush_journal().await;
        let span = tracing::Span::current();
        let writing = tokio::task::spawn_blocking(move || {
            let _batch = span.enter();
            log_users(&acks, &valid);
            tracing::info!(
                stored = report.stored,
                rejected = report.rejected,
                retried = report.retried,
                dead = report.dead,
                "batch done"
            );
        });
        *self
            .journal
            .lock()
            .expect("the journal lock is never held across a panic") = Some(writing);
    }

    /// Waits until the last batch's log lines are written.
    pub async fn flush_journal(&self) {
        let writing = self
            .journal
            .lock()
            .expect("the journal lock is never held across a panic")
            .take();
        let Some(writing) = writing else { return };
        if let Err(err) = writing.await {
            tracing::error!(error = %err, "writing a batch's log lines failed");
        }
    }

    /// Counts a permanent failure: another attempt later, or the dead-letter list.
    async fn failed(&self, message: &ValidMessage, err: &StoreError) -> Disposition {
        let attempts = self
            .queue
            .record_failure(message.id)
            .await
            .unwrap_or(self.config.max_attempts);
        if attempts >= self.config.max_attempts {
            tracing::warn!(user_id = %message.id, attempts, error = %err, "dead-lettering a message after its last attempt");
            Disposition::Dead {
                cause: DeadCause::AttemptsExhausted,
                reason: format!("failed {attempts} times: {err}"),
            }
        } else {
            tracing::warn!(user_id = %message.id, attempts, error = %err, "message failed; it will be retried");
            Disposition::Retry
        }
    }
}

/// Counts retries and dead letters, and times each stored user.
fn count(metrics: &Metrics, acks: &[Ack], valid: &[(usize, ValidMessage)]) {
    let now = registry::now_millis();
    for ack in acks {
        match &ack.disposition {
            Disposition::Retry => metrics.retry(RetryCause::Failed),
            Disposition::Dead { cause, .. } => metrics.dead_letter(*cause),
            Disposition::Stored(_) | Disposition::Rejected => {}
        }
    }
    for (index, message) in valid {
        if let Disposition::Stored(_) = acks[*index].disposition {
            metrics.stored(message.accepted_at, now);
        }
    }
}

/// Logs each stored or refused user with its request id.
fn log_users(acks: &[Ack], valid: &[(usize, ValidMessage)]) {
    for (index, message) in valid {
        let (id, request_id) = (&message.id, message.request_id.as_str());
        match acks[*index].disposition {
            Disposition::Stored(_) => tracing::info!(user_id = %id, request_id, "user stored"),
            Disposition::Rejected => tracing::info!(user_id = %id, request_id, "user rejected"),
            Disposition::Retry | Disposition::Dead { .. } => {}
        }
    }
}

fn disposition(outcome: Outcome) -> Disposition {
    match outcome {
        Outcome::Inserted => Disposition::Stored(None),
        Outcome::AlreadyStored(user) => Disposition::Stored(Some(user)),
        Outcome::Rejected(_) => Disposition::Rejected,
        Outcome::Conflict(reason) => Disposition::Dead {
            cause: DeadCause::IdConflict,
            reason,
        },
    }
}

fn report(acks: &[Ack]) -> BatchReport {
    let mut report = BatchReport {
        taken: acks.len(),
        ..BatchReport::default()
    };
    for ack in acks {
        match ack.disposition {
            Disposition::Stored(_) => report.stored += 1,
            Disposition::Rejected => report.rejected += 1,
            Disposition::Retry => report.retried += 1,
            Disposition::Dead { .. } => report.dead += 1,
        }
    }
    report
}
