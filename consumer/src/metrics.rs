//! The consumer's Prometheus series, served as `GET /metrics` on `METRICS_ADDR`.

use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounterVec};
use registry::metrics::{Exporter, LATENCY_BUCKETS};
use registry::queue::{DeadCause, QueueMonitor};

/// Batch sizes: powers of two up to the largest batch allowed.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// Acceptance to storage: the latency buckets, then minutes for outages.
const TIME_TO_STORE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// What made the consumer try again (the `cause` label of `consumer_retries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCause {
    /// A transient MySQL error (connection lost, server down, deadlock, timeout).
    Mysql,
    /// A transient Redis error (taking or acknowledging a batch).
    Redis,
    /// A permanent failure of one message with attempts left: it goes back to the queue.
    Failed,
}

impl RetryCause {
    fn as_str(self) -> &'static str {
        match self {
            Self::Mysql => "mysql",
            Self::Redis => "redis",
            Self::Failed => "failed",
        }
    }
}

/// Every series the consumer exports.
pub struct Metrics {
    exporter: Exporter,
    batch_size: Histogram,
    persist: Histogram,
    retries: IntCounterVec,
    dead_letters: IntCounterVec,
    time_to_store: Histogram,
    /// What the worker is retrying now, if anything (`/health/ready` reports it).
    trouble: std::sync::Mutex<Option<String>>,
    /// When the worker last acknowledged a batch or found the queue empty.
    progress: std::sync::Mutex<Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers the consumer's series beside the shared queue and process ones.
    pub fn new() -> Self {
        let exporter = Exporter::new();
        let metrics = Self {
            batch_size: exporter.histogram("consumer_batch_size", "Messages taken per batch.", BATCH_BUCKETS),
            persist: exporter.histogram(
                "consumer_persist_duration_seconds",
                "Time of one attempt to store a batch in MySQL (one transaction).",
                LATENCY_BUCKETS,
            ),
            retries: exporter.counter(
                "consumer_retries_total",
                "Attempts made again, by cause: mysql, redis (transient errors) or failed (a message sent back).",
                &["cause"],
            ),
            dead_letters: exporter.counter(
                "consumer_dead_letters_total",
                "Messages moved to the dead-letter list, by reason.",
                &["reason"],
            ),
            time_to_store: exporter.histogram(
                "user_time_to_store_seconds",
                "Time from the producer's acceptance of a user to the commit that stored it.",
                TIME_TO_STORE_BUCKETS,
            ),
            exporter,
            trouble: std::sync::Mutex::new(None),
            progress: std::sync::Mutex::new(Instant::now()),
        };
        // Every label value starts at 0, so that `increase()` also sees the first event.
        for cause in [RetryCause::Mysql, RetryCause::Redis, RetryCause::Failed] {
            metrics.retries.with_label_values(&[cause.as_str()]);
        }
        for cause in DeadCause::ALL {
            metrics.dead_letters.with_label_values(&[cause.as_str()]);
        }
        metrics
    }

    /// Notes that the worker is retrying because of `cause` (until [`Metrics::recovered`]).
    pub fn in_trouble(&self, cause: String) {
        *self.trouble.lock().unwrap_or_else(|e| e.into_inner()) = Some(cause);
    }

    /// Notes that the worker's last step succeeded.
    pub fn recovered(&self) {
        let mut trouble = self.trouble.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cause) = trouble.take() {
            tracing::info!(cause = %cause, "the worker is making progress again");
        }
    }

    /// What the worker is retrying now, if anything.
    pub fn trouble(&self) -> Option<String> {
        self.trouble.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Notes that the worker moved on: a batch acknowledged, or nothing left to take.
    pub fn progressed(&self) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// How long since the worker last moved on.
    pub fn since_progress(&self) -> Duration {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }

    /// Counts a batch taken.
    pub fn batch(&self, size: usize) {
        self.batch_size.observe(size as f64);
    }

    /// Times one attempt to store a batch.
    pub fn persisted(&self, took: Duration) {
        self.persist.observe(took.as_secs_f64());
    }

    /// Counts one retry.
    pub fn retry(&self, cause: RetryCause) {
        self.retries.with_label_values(&[cause.as_str()]).inc();
    }

    /// Counts one dead-lettered message.
    pub fn dead_letter(&self, cause: DeadCause) {
        self.dead_letters.with_label_values(&[cause.as_str()]).inc();
    }

    /// Records a user's time from acceptance (ms since the epoch) to now.
    pub fn stored(&self, accepted_at_ms: u64, now_ms: u64) {
        let millis = now_ms.saturating_sub(accepted_at_ms);
        self.time_to_store.observe(millis as f64 / 1000.0);
    }

    /// Every series in the Prometheus text format (the queue gauges read from Redis now).
    pub async fn render(&self, monitor: &QueueMonitor) -> String {
        self.exporter.render(monitor).await
    }
}
