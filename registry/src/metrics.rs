//! Prometheus metrics both binaries share: a registry with the process's own figures, the
//! queue gauges (read from Redis at each scrape) and the text encoding.
//!
//! Each binary registers its own series on an [`Exporter`]; series names and labels are the
//! contract in the README's "Metrics" table.

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::queue::QueueMonitor;

/// Buckets, in seconds, for request and storage latencies: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `Content-Type` of [`Exporter::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metrics registry with the queue gauges every binary exports.
pub struct Exporter {
    registry: Registry,
    queue_messages: IntGaugeVec,
    consumers_live: IntGauge,
}

impl Default for Exporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Exporter {
    /// A registry holding the process metrics (`process_resident_memory_bytes`, ...) and the
    /// queue gauges `queue_messages{state}` and `consumers_live`.
    pub fn new() -> Self {
        let exporter = Self {
            registry: Registry::new(),
            queue_messages: IntGaugeVec::new(
                Opts::new(
                    "queue_messages",
                    "Messages in the queue by state: pending, processing or dead.",
                ),
                &["state"],
            )
            .expect("valid metric"),
            consumers_live: IntGauge::new("consumers_live", "Consumers whose lease has not run out.")
                .expect("valid metric"),
        };
        exporter.register(exporter.queue_messages.clone());
        exporter.register(exporter.consumers_live.clone());
        exporter.register(prometheus::process_collector::ProcessCollector::for_self());
        exporter
    }

    /// Registers a collector; names are fixed in code, so a clash is a programming error.
    fn register<C: Collector + 'static>(&self, collector: C) {
        self.registry
            .register(Box::new(collector))
            .expect("each series is registered once");
    }

    /// A new counter with labels.
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
        self.register(counter.clone());
        counter
    }

    /// A new histogram without labels.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid");
        self.register(histogram.clone());
        histogram
    }

    /// A new histogram with labels.
    pub fn histogram_vec(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        let histogram =
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("valid metric");
        self.register(histogram.clone());
        histogram
    }

    /// Refreshes the queue gauges from Redis (keeping the last values when Redis does not
    /// answer) and encodes every series in the Prometheus text format.
    pub async fn render(&self, monitor: &QueueMonitor) -> String {
        match monitor.stats().await {
            Ok(stats) => {
                let gauge = |state: &str, n: u64| {
                    self.queue_messages.with_label_values(&[state]).set(saturating_i64(n));
                };
                gauge("pending", stats.pending);
                gauge("processing", stats.processing);
                gauge("dead", stats.dead);
                self.consumers_live.set(saturating_i64(stats.consumers));
            }
            Err(err) => tracing::debug!(error = %err, "queue gauges not refreshed: Redis unreachable"),
        }
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("writing to a Vec cannot fail");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
