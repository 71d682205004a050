//! The system's counters for `/api/stats`: stored users, the newest one, the queue. However
//! many callers ask at once, one reads them; what it read answers every caller for
//! [`MAX_AGE`] after it began.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::domain::StoredUser;
use crate::queue::{QueueError, QueueMonitor, QueueStats};
use crate::store::{Store, StoreError};

/// How long one read of the counters answers: they are at most this old.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// The counters at one moment.
#[derive(Debug, Clone)]
pub struct Counters {
    /// Stored users.
    pub users: u64,
    /// The newest stored user.
    pub latest: Option<StoredUser>,
    /// The queue's counters.
    pub queue: QueueStats,
}

/// Why the counters could not be read (shared by every caller of that read).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CountersError {
    /// MySQL failed.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// Redis failed.
    #[error(transparent)]
    Queue(Arc<QueueError>),
}

/// Reads the counters, at most once per [`MAX_AGE`].
pub struct Stats {
    store: Store,
    monitor: QueueMonitor,
    last: Recent<Result<Counters, CountersError>>,
}

impl Stats {
    /// The counters of `store` and of the queue `monitor` watches.
    pub fn new(store: Store, monitor: QueueMonitor) -> Self {
        Self {
            store,
            monitor,
            last: Recent::new(MAX_AGE),
        }
    }

    /// The counters, or why they could not be read, as read less than [`MAX_AGE`] ago; when
    /// that read is older, a new one (callers that arrive meanwhile wait for it).
    pub async fn read(&self) -> Result<Counters, CountersError> {
        self.last
            .get(async {
                let (stored, queue) = tokio::join!(self.store.count_and_latest(), self.monitor.stats());
                match (stored, queue) {
                    (Err(err), _) => Err(CountersError::Store(Arc::new(err))),
                    (_, Err(err)) => Err(CountersError::Queue(Arc::new(err))),
                    (Ok((users, latest)), Ok(queue)) => Ok(Counters { users, latest, queue }),
                }
            })
            .await
    }
}

/// A value read at most once per `max_age`: the callers that arrive while it is read wait for
/// that read and share it.
struct Recent<T> {
    max_age: Duration,
    last: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            last: Mutex::new(None),
        }
    }

    /// The value read less than `max_age` ago (counted from the start of its read), or what
    /// `read` answers now.
    async fn get(&self, read: impl Future<Output = T>) -> T {
        let mut last = self.last.lock().await;
        if let Some((began, value)) = last.as_ref()
            && began.elapsed() < self.max_age
        {
            return value.clone();
        }
        let began = Instant::now();
        let value = read.await;
        *last = Some((began, value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A read that counts itself and takes 50 ms.
    async fn counted(reads: Arc<AtomicUsize>) -> usize {
        let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        n
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_read_and_an_old_one_is_read_again() {
        let reads = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Recent::new(Duration::from_secs(60)));
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (shared, reads) = (shared.clone(), reads.clone());
            callers.spawn(async move { shared.get(counted(reads)).await });
        }
        let answers = callers.join_all().await;
        assert_eq!(answers, vec![1; 50], "50 callers at once, one read");

        let brief = Recent::new(Duration::from_millis(100));
        assert_eq!(brief.get(counted(reads.clone())).await, 2);
        assert_eq!(brief.get(counted(reads.clone())).await, 2, "still fresh");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(brief.get(counted(reads)).await, 3, "read again once older than max_age");
    }
}
