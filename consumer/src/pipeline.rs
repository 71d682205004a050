//! The consumer's pipeline: while it stores one batch, it acknowledges the batch before and
//! takes the next one, so that storing never waits for Redis. It owns its state; the order of
//! takes and acknowledgements, and why it loses nothing: docs/design.md, "Taking a batch".

mod steps;

use std::sync::Arc;
use std::time::Duration;

use registry::queue::{Lease, QueueError, Slot};
use registry::store::Store;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::steps::{Steps, Stored, Taken};
pub use crate::batch::BatchReport;
use crate::journal::Journal;
use crate::metrics::Metrics;

/// How a pipeline behaves.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Most messages per transaction.
    pub batch_size: usize,
    /// Attempts before a permanently failing message is dead-lettered.
    pub max_attempts: u32,
    /// Cache lifetime of stored users.
    pub cache_ttl: Duration,
    /// Longest wait for MySQL to store a batch; then the attempt is abandoned as a timeout
    /// and made again (storing is idempotent).
    pub statement_timeout: Duration,
}

/// Why a batch did not complete.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Redis failed while taking or acknowledging; what was taken stays in its list.
    #[error("taking a batch: {0}")]
    Take(#[from] QueueError),
    /// Stopped before the batch was done; its messages stay in the processing list.
    #[error("stopped before the batch was stored and acknowledged")]
    Cancelled,
}

/// A consumer's pipeline of batches.
pub struct Pipeline {
    steps: Steps,
    behind: Behind,
    /// A batch taken while the one before was stored, not processed yet.
    ahead: Option<Taken>,
}

/// What the pipeline does behind the batch it stores: acknowledge the last one, take the next.
struct Behind {
    journal: Journal,
    /// The last batch stored, acknowledged while the next one is stored.
    unacked: Option<Stored>,
    /// The processing list the next take goes into.
    next_slot: Slot,
}

impl Pipeline {
    /// A pipeline over `lease` (the consumer's hold on the queue) and `store`.
    pub fn new(lease: Lease, store: Store, config: PipelineConfig) -> Self {
        Self {
            steps: Steps {
                lease,
                store,
                config,
                metrics: Arc::new(Metrics::new()),
            },
            behind: Behind {
                journal: Journal::default(),
                unacked: None,
                next_slot: Slot::First,
            },
            ahead: None,
        }
    }

    /// The Prometheus series.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.steps.metrics.clone()
    }

    /// The consumer's lease.
    pub fn lease(&self) -> &Lease {
        &self.steps.lease
    }

    /// Runs batches until one finds the queue empty (after waiting `wait`); returns how many
    /// messages were taken. Every batch is acknowledged when it returns.
    pub async fn drain(&mut self, wait: Duration, cancel: &CancellationToken) -> Result<usize, BatchError> {
        let mut taken = 0;
        let result = loop {
            match self.try_process_batch(wait, cancel).await {
                Ok(BatchReport { taken: 0, .. }) => break Ok(taken),
                Ok(report) => taken += report.taken,
                Err(err) => break Err(err),
            }
        };
        let result = match (result, self.behind.acknowledge_last(&self.steps, cancel).await) {
            (Ok(_), Err(err)) => Err(err),
            (result, _) => result,
        };
        self.flush_journal().await;
        result
    }

    /// Processes one batch (taken ahead, or taken now, waiting up to `wait` for the first
    /// message): stores it and, meanwhile, acknowledges the batch before it and takes the next
    /// one. This batch is acknowledged now when nothing was there to take, else during the
    /// next call (or by [`Pipeline::finish`], or at the end of [`Pipeline::drain`]). Transient
    /// MySQL/Redis failures after the take are retried until `cancel` fires.
    pub async fn try_process_batch(
        &mut self,
        wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<BatchReport, BatchError> {
        let batch = match self.ahead.take() {
            Some(batch) => batch,
            None => {
                // The queue ran dry: the last batch is not kept waiting for the next.
                self.behind.acknowledge_last(&self.steps, cancel).await?;
                match self.behind.take(&self.steps, wait).await? {
                    Some(batch) => batch,
                    None => return Ok(BatchReport::default()),
                }
            }
        };
        let span = self.steps.batch_span(&batch);
        let (steps, behind) = (&self.steps, &mut self.behind);
        let (next, stored) = tokio::join!(
            async {
                behind.acknowledge_last(steps, cancel).await?;
                Ok::<_, BatchError>(behind.take_ahead(steps).await)
            },
            steps.store(batch, span, cancel)
        );
        let (acked_last, next) = match next {
            Ok(next) => (Ok(()), next),
            Err(err) => (Err(err), None),
        };
        let more = next.is_some();
        self.ahead = next;
        let stored = stored?;
        let report = stored.settled.report;
        if more {
            self.behind.unacked = Some(stored);
        } else {
            self.behind.acknowledge(&self.steps, stored, cancel).await?;
        }
        acked_last.map(|()| report)
    }

    /// Acknowledges the last batch if it is not yet, then processes the batch taken ahead, if
    /// there is one, without taking another: a stopping consumer finishes what it took.
    pub async fn finish(&mut self, cancel: &CancellationToken) -> Result<BatchReport, BatchError> {
        self.behind.acknowledge_last(&self.steps, cancel).await?;
        let Some(batch) = self.ahead.take() else {
            return Ok(BatchReport::default());
        };
        let span = self.steps.batch_span(&batch);
        let stored = self.steps.store(batch, span, cancel).await?;
        self.behind.acknowledge(&self.steps, stored, cancel).await
    }

    /// Waits until the last batch's log lines are written.
    pub async fn flush_journal(&mut self) {
        self.behind.journal.flush().await;
    }
}

impl Behind {
    /// Takes a batch into the list whose turn it is; `None` when the queue stayed empty.
    async fn take(&mut self, steps: &Steps, wait: Duration) -> Result<Option<Taken>, BatchError> {
        let slot = self.next_slot;
        let messages = steps.take(slot, wait).await?;
        if messages.is_empty() {
            // Nothing waiting: an idle consumer is not a stuck one.
            steps.metrics.progressed();
            return Ok(None);
        }
        self.next_slot = slot.other();
        Ok(Some(Taken { slot, messages }))
    }

    /// Takes the next batch without waiting. A failure is only logged: it comes back on the
    /// next take into the same list, which hands back whatever the failed take moved there.
    async fn take_ahead(&mut self, steps: &Steps) -> Option<Taken> {
        match self.take(steps, Duration::ZERO).await {
            Ok(next) => next,
            Err(err) => {
                tracing::debug!(error = %err, "taking the next batch ahead failed");
                None
            }
        }
    }

    /// Acknowledges the last batch stored, if it is not yet.
    async fn acknowledge_last(&mut self, steps: &Steps, cancel: &CancellationToken) -> Result<(), BatchError> {
        match self.unacked.take() {
            Some(last) => self.acknowledge(steps, last, cancel).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// Acknowledges a stored batch, then counts it and has its lines written.
    async fn acknowledge(
        &mut self,
        steps: &Steps,
        stored: Stored,
        cancel: &CancellationToken,
    ) -> Result<BatchReport, BatchError> {
        let span = stored.span.clone();
        steps.acknowledge(&stored, cancel).instrument(span.clone()).await?;
        steps.count(&stored.settled);
        let report = stored.settled.report;
        self.journal.write(stored.settled).instrument(span).await;
        Ok(report)
    }
}
