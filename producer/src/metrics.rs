//! The producer's Prometheus series.

use std::time::Duration;

use poem::PathPattern;
use poem::http::{Method, StatusCode};
use prometheus::{HistogramVec, IntCounterVec};
use registry::metrics::{CONTENT_TYPE, Exporter, LATENCY_BUCKETS};
use registry::queue::QueueMonitor;

/// Every series the producer exports.
pub struct Metrics {
    exporter: Exporter,
    requests: IntCounterVec,
    duration: HistogramVec,
    cache: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers the producer's series beside the shared queue and process ones.
    pub fn new() -> Self {
        let exporter = Exporter::new();
        let requests = exporter.counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            &["method", "route", "status"],
        );
        let duration = exporter.histogram_vec(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            &["method", "route"],
            LATENCY_BUCKETS,
        );
        let cache = exporter.counter(
            "cache_lookups_total",
            "Reads of a user that looked in the Redis cache first: hit or miss.",
            &["result"],
        );
        // Both results start at 0, so that `increase()` also sees the first lookup.
        for result in ["hit", "miss"] {
            cache.with_label_values(&[result]);
        }
        Self {
            exporter,
            requests,
            duration,
            cache,
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
        self.requests
            .with_label_values(&[method_label(method), route, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[method_label(method), route])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a cache lookup: `hit` when the cache answered.
    pub fn cache_lookup(&self, hit: bool) {
        self.cache.with_label_values(&[if hit { "hit" } else { "miss" }]).inc();
    }
}

/// The `method` label: the method when HTTP defines it, else `other`, so that made-up
/// methods cannot grow the series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The `route` label: the template of the route that answered (`/api/users/{id}`), or
/// `other` for paths no route knows, so that scanning clients cannot grow the series.
pub fn route_label(pattern: Option<&PathPattern>) -> &str {
    let Some(pattern) = pattern else { return "other" };
    match &*pattern.0 {
        // poem-openapi names path parameters by position (`/api/users/:param0`).
        p if p.strip_prefix("/api/users/:").is_some_and(|param| !param.contains('/')) => "/api/users/{id}",
        // The page answers every other path (client-side routes such as `/users/ID`).
        "/*path" => "/",
        p if p == "/docs" || p.starts_with("/docs/") => "/docs",
        known @ ("/api/users" | "/api/stats" | "/health/live" | "/health/ready" | "/metrics" | "/api/openapi.json"
        | "/") => known,
        _ => "other",
    }
}

impl Metrics {
    /// Every series in the Prometheus text format (the queue gauges read from Redis now), and
    /// its content type.
    pub async fn render(&self, monitor: &QueueMonitor) -> (String, &'static str) {
        (self.exporter.render(monitor).await, CONTENT_TYPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_by_template_and_unknown_paths_share_one_label() {
        let label = |p: &str| route_label(Some(&PathPattern(p.into()))).to_owned();
        assert_eq!(label("/api/users/:param0"), "/api/users/{id}");
        assert_eq!(label("/api/users"), "/api/users");
        assert_eq!(label("/*path"), "/");
        assert_eq!(label("/docs/"), "/docs");
        assert_eq!(label("/docs/swagger-ui.css"), "/docs");
        assert_eq!(label("/api"), "other", "unknown /api paths");
        assert_eq!(label("/api/users/:param0/:param1"), "other");
        assert_eq!(route_label(None), "other");
    }
}
