//! The log writer: a batch's `user stored` and `user rejected` lines, written on a thread of
//! the blocking pool while the next batch is stored, so that formatting them never delays the
//! next batch (measured in BENCHMARKS.md).

use registry::queue::Disposition;
use tokio::task::JoinHandle;

use crate::batch::Settled;

/// Writes each batch's lines after its acknowledgement, in order, at most one batch behind.
#[derive(Default)]
pub struct Journal {
    /// The last batch's lines, while a thread writes them.
    writing: Option<JoinHandle<()>>,
}

impl Journal {
    /// Has `batch`'s lines written (inside the current span) once the previous batch's are.
    pub async fn write(&mut self, batch: Settled) {
        self.flush().await;
        let span = tracing::Span::current();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let _batch = span.enter();
            log_users(&batch);
            let report = batch.report;
            tracing::info!(
                stored = report.stored,
                rejected = report.rejected,
                retried = report.retried,
                dead = report.dead,
                "batch done"
            );
        }));
    }

    /// Waits until the last batch's lines are written.
    pub async fn flush(&mut self) {
        let Some(writing) = self.writing.take() else { return };
        if let Err(err) = writing.await {
            tracing::error!(error = %err, "writing a batch's log lines failed");
        }
    }
}

/// Logs each stored or refused user with the request id that created it, to follow one user
/// across both logs.
fn log_users(batch: &Settled) {
    for (index, user) in &batch.valid {
        let (id, request_id) = (&user.id, user.request_id.as_str());
        match batch.acks[*index].disposition {
            Disposition::Stored(_) => tracing::info!(user_id = %id, request_id, "user stored"),
            Disposition::Rejected => tracing::info!(user_id = %id, request_id, "user rejected"),
            Disposition::Retry | Disposition::Dead { .. } => {}
        }
    }
}
