//! Coalescing: calls that arrive while a round trip is in flight share the next one.
//!
//! A [`Coalescer`] owns a task that takes every call waiting, up to a maximum, hands them to
//! one batch function (one Redis script, one SQL query), and answers each caller from that
//! batch's result. Nothing waits on a timer: an idle coalescer runs a lone call at once, and
//! under load the batches grow by themselves to what arrived during the previous round trip,
//! as a database's group commit does. One batch runs at a time.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

type Reply<O, E> = oneshot::Sender<Result<O, Arc<E>>>;

/// Batches calls of `I -> O` into calls of `Vec<I> -> Vec<O>`; see the module's text.
pub struct Coalescer<I, O, E> {
    calls: mpsc::UnboundedSender<(I, Reply<O, E>)>,
}

impl<I, O, E> Clone for Coalescer<I, O, E> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
        }
    }
}

impl<I, O, E> fmt::Debug for Coalescer<I, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

/// Why a coalesced call failed.
#[derive(Debug, thiserror::Error)]
pub enum CoalesceError<E: std::error::Error + 'static> {
    /// The batch it was part of failed: every call of that batch gets this error.
    #[error(transparent)]
    Failed(Arc<E>),
    /// The batch holding the call ended without an answer for it (it panicked, or answered the
    /// wrong number of outputs: a bug, logged), or the batch task has stopped (the runtime is
    /// shutting down).
    #[error("the call's batch ended without an answer")]
    Unanswered,
}

impl<I, O, E> Coalescer<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// Starts the batch task on the current Tokio runtime. `run` gets between 1 and `max`
    /// inputs and must answer one output per input, in the same order. Each batch runs as a
    /// task of its own: one that panics (or answers the wrong number of outputs) fails its
    /// own calls with [`CoalesceError::Unanswered`], and the next batch runs as usual.
    pub fn spawn<F, Fut>(max: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        assert!(max > 0, "a batch holds at least one call");
        let (calls, mut waiting) = mpsc::unbounded_channel::<(I, Reply<O, E>)>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max);
            while waiting.recv_many(&mut batch, max).await > 0 {
                let (inputs, replies): (Vec<I>, Vec<Reply<O, E>>) = batch.drain(..).unzip();
                let count = inputs.len();
                match tokio::spawn(run(inputs)).await {
                    Ok(Ok(outputs)) if outputs.len() == count => {
                        for (reply, output) in replies.into_iter().zip(outputs) {
                            let _ = reply.send(Ok(output));
                        }
                    }
                    Ok(Ok(outputs)) => {
                        tracing::error!(
                            calls = count,
                            outputs = outputs.len(),
                            "a batch answered the wrong number of outputs"
                        );
                    }
                    Ok(Err(err)) => {
                        let err = Arc::new(err);
                        for reply in replies {
                            let _ = reply.send(Err(err.clone()));
                        }
                    }
                    Err(panicked) => {
                        tracing::error!(calls = count, error = %panicked, "a batch failed without an answer")
                    }
                }
            }
        });
        Self { calls }
    }

    /// Runs `input` in the next batch and waits for its output.
    pub async fn call(&self, input: I) -> Result<O, CoalesceError<E>> {
        let (reply, answer) = oneshot::channel();
        self.calls.send((input, reply)).map_err(|_| CoalesceError::Unanswered)?;
        match answer.await {
            Ok(result) => result.map_err(CoalesceError::Failed),
            Err(_) => Err(CoalesceError::Unanswered),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("odd batch")]
    struct Odd;

    #[tokio::test]
    async fn a_lone_call_runs_at_once_and_concurrent_calls_share_batches_in_order() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let doubler = Coalescer::spawn(8, move |xs: Vec<u32>| {
            seen.lock().unwrap().push(xs.len());
            async move {
                tokio::task::yield_now().await;
                Ok::<_, Odd>(xs.into_iter().map(|x| x * 2).collect())
            }
        });
        assert_eq!(doubler.call(21).await.unwrap(), 42);
        let mut calls = tokio::task::JoinSet::new();
        for x in 0..20 {
            let doubler = doubler.clone();
            calls.spawn(async move { (x, doubler.call(x).await.unwrap()) });
        }
        while let Some(done) = calls.join_next().await {
            let (x, doubled) = done.unwrap();
            assert_eq!(doubled, x * 2);
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes[0], 1, "the lone call waited for company: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 21, "{sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 8), "a batch outgrew its maximum: {sizes:?}");
        assert!(
            sizes.len() < 21,
            "twenty concurrent calls never shared a batch: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_own_calls_only() {
        let fragile = Coalescer::spawn(4, |xs: Vec<u32>| async move {
            assert!(!xs.contains(&13), "thirteen");
            Ok::<_, Odd>(xs)
        });
        let err = fragile.call(13).await.unwrap_err();
        assert!(matches!(err, CoalesceError::Unanswered), "{err:?}");
        assert_eq!(fragile.call(7).await.unwrap(), 7, "the next batch runs");
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_calls_and_the_next_batch_still_runs() {
        let flaky = Coalescer::spawn(4, |xs: Vec<u32>| async move {
            if xs.contains(&13) { Err(Odd) } else { Ok(xs) }
        });
        let err = flaky.call(13).await.unwrap_err();
        assert!(matches!(err, CoalesceError::Failed(_)), "{err:?}");
        assert_eq!(err.to_string(), "odd batch");
        assert_eq!(flaky.call(7).await.unwrap(), 7);
    }
}
