//! The consumer's HTTP endpoint on METRICS_ADDR: `/health`, `/health/live`, `/health/ready`
//! and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use registry::queue::QueueMonitor;
use registry::store::Store;
use serde_json::json;

use crate::metrics::Metrics;

/// What the health endpoints check.
pub struct Probe {
    /// The queue's counters (and a ping of Redis).
    pub monitor: QueueMonitor,
    /// The store.
    pub store: Store,
    /// This consumer's id.
    pub consumer: String,
    /// The Prometheus series (and the worker's progress).
    pub metrics: Arc<Metrics>,
    /// The lease: a worker that made no progress for longer, with messages waiting, is stuck.
    pub lease: Duration,
}

#[handler]
fn live(probe: Data<&Arc<Probe>>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "host": registry::hostname(), "consumer": probe.consumer}))
}

#[handler]
async fn ready(probe: Data<&Arc<Probe>>) -> Response {
    let (redis, mysql) = tokio::join!(probe.monitor.ping(), probe.store.ping());
    let redis_word = if redis.is_ok() { "ok" } else { "unreachable" };
    // A refusal (login, right, resource) is named; a MySQL that does not answer is unreachable.
    let mysql_refusal = mysql.as_ref().err().map(|e| e.cause()).filter(|c| !c.is_unreachable());
    let mysql_word = match (&mysql, mysql_refusal) {
        (Ok(()), _) => "ok",
        (Err(_), Some(cause)) => cause.as_str(),
        (Err(_), None) => "unreachable",
    };
    let mut body = json!({"status": "ready", "redis": redis_word, "mysql": mysql_word});
    let unready = registry::health::unready(redis.is_ok(), mysql.is_ok()).map(|message| match mysql_refusal {
        Some(cause) => format!("{message} ({cause})"),
        None => message,
    });
    // The worker's state is asked about only when both servers answer.
    let unready = match unready {
        Some(message) => Some(message),
        None => stuck(&probe).await.or_else(|| {
            probe
                .metrics
                .trouble()
                .map(|cause| format!("the worker is retrying: {cause}"))
        }),
    };
    let Some(message) = unready else {
        return Json(body).into_response();
    };
    body["status"] = json!("not_ready");
    body["error"] = json!("not_ready");
    body["message"] = json!(message);
    Json(body).with_status(StatusCode::SERVICE_UNAVAILABLE).into_response()
}

/// Why the worker counts as stuck: no progress for longer than a lease while messages wait.
async fn stuck(probe: &Probe) -> Option<String> {
    let idle = probe.metrics.since_progress();
    if idle <= probe.lease {
        return None;
    }
    let waiting = probe.monitor.stats().await.ok().map(|s| s.pending + s.processing)?;
    let retrying = match probe.metrics.trouble() {
        Some(cause) => format!("; it is retrying: {cause}"),
        None => String::new(),
    };
    (waiting > 0).then(|| {
        format!(
            "the worker has made no progress for {} s with {waiting} messages waiting{retrying}",
            idle.as_secs()
        )
    })
}

#[handler]
async fn metrics(probe: Data<&Arc<Probe>>) -> Response {
    let text = probe.metrics.render(&probe.monitor).await;
    text.with_content_type(registry::metrics::CONTENT_TYPE).into_response()
}

/// The routes of the health endpoint.
pub fn routes(probe: Arc<Probe>) -> impl poem::Endpoint {
    Route::new()
        .at("/health", get(live))
        .at("/health/live", get(live))
        .at("/health/ready", get(ready))
        .at("/metrics", get(metrics))
        .data(probe)
}
