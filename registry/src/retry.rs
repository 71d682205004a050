//! The retry policy for transient failures: capped exponential backoff with jitter.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Backoff for failures that last as long as they last (server down, connection lost): 100 ms
/// doubling to 2.5 s, each delay plus a random jitter of up to itself, so at most 5 s.
pub fn transient() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_millis(2500))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// Backoff for resending a command that certainly never reached the server (connection
/// refused): three quick resends, 50, 100 and 200 ms apart.
pub fn resend() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_factor(2.0)
        .with_max_times(3)
}

/// Runs `op` until it succeeds, fails permanently, or `cancel` fires.
///
/// Transient errors (per `is_transient`) are logged and retried after a backoff delay.
/// Returns `None` when cancelled before success.
pub async fn until_done<T, E, F, Fut>(
    what: &str,
    cancel: &CancellationToken,
    is_transient: impl Fn(&E) -> bool,
    mut op: F,
) -> Option<Result<T, E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = transient().build();
    let mut attempt = 1u32;
    loop {
        match op().await {
            Err(err) if is_transient(&err) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(attempt, retry_in_ms = delay.as_millis() as u64, error = %err, "{what} failed, retrying");
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
            done => return Some(done),
        }
    }
}

/// The delays of [`transient`], for loops that sleep between tries themselves.
pub fn transient_delays() -> impl Iterator<Item = Duration> {
    transient().build()
}
