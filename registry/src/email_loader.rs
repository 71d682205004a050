//! Loads the stored emails from MySQL into Redis, so that the enqueue script can answer the
//! producer's early duplicate check alone. Why a loaded set stays complete, and its one gap:
//! docs/design.md, "The early email check".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::queue::{EmailIndex, QueueError};
use crate::store::{Store, StoreError};

/// Emails read from MySQL (and added to Redis) at a time.
const PAGE: u32 = 2_000;
/// How long the loading lock lasts without progress (it is renewed with every page).
const LEASE: Duration = Duration::from_secs(60);
/// How long a process waits before it starts another load after one that failed, lost its
/// lock, or found another process loading.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Progress is logged every this many emails.
const PROGRESS_EVERY: u64 = 200_000;

/// A load that failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Redis failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// MySQL failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// The set was complete already.
    Already,
    /// Another process is loading it.
    Elsewhere,
    /// This many emails were added, and the set is marked complete.
    Done(u64),
    /// The lock was lost on the way (it expired, or Redis came back empty): nothing marked.
    Abandoned,
}

/// Loads the stored emails into Redis, one load at a time per process (and per deployment,
/// through a lock in Redis).
pub struct EmailLoader {
    index: EmailIndex,
    store: Store,
    /// Whether a load of this process runs, and the earliest time for the next one.
    state: Mutex<(bool, Option<Instant>)>,
}

impl EmailLoader {
    /// A loader over this deployment's Redis and MySQL.
    pub fn new(index: EmailIndex, store: Store) -> Arc<Self> {
        Arc::new(Self {
            index,
            store,
            state: Mutex::new((false, None)),
        })
    }

    /// Starts a load in the background, unless this process runs one, or its last one failed
    /// (or found another process loading) a few seconds ago. Failures are logged.
    pub fn kick(self: &Arc<Self>) {
        {
            let mut state = self.state.lock().expect("the loader lock is never held across a panic");
            let (running, not_before) = *state;
            if running || not_before.is_some_and(|t| Instant::now() < t) {
                return;
            }
            *state = (true, None);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let outcome = this.load().await;
            match &outcome {
                Ok(Loaded::Abandoned) => {
                    tracing::warn!("loading the stored emails into Redis lost its lock; asking MySQL meanwhile")
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "loading the stored emails into Redis failed; asking MySQL meanwhile")
                }
            }
            let again = match outcome {
                Ok(Loaded::Already | Loaded::Done(_)) => None,
                _ => Some(Instant::now() + RETRY_AFTER),
            };
            *this.state.lock().expect("the loader lock is never held across a panic") = (false, again);
        });
    }

    /// Loads every stored email into Redis and marks the set complete, unless it is complete
    /// already or another process holds the lock.
    pub async fn load(&self) -> Result<Loaded, LoadError> {
        if self.index.emails_loaded().await? {
            return Ok(Loaded::Already);
        }
        let token = format!(
            "{}:{}:{}",
            crate::hostname(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        if !self.index.lock_emails_load(&token, LEASE).await? {
            return Ok(Loaded::Elsewhere);
        }
        tracing::info!("loading the stored emails into Redis for the duplicate check");
        let started = Instant::now();
        let result = self.copy(&token).await;
        let complete = matches!(result, Ok(Some(_)));
        // Released whatever happened; the set is marked complete only if every page went in.
        let released = self.index.end_emails_load(&token, complete).await;
        let loaded = match (result?, released?) {
            (Some(n), true) => n,
            _ => return Ok(Loaded::Abandoned),
        };
        tracing::info!(
            emails = loaded,
            ms = started.elapsed().as_millis() as u64,
            "stored emails loaded into Redis"
        );
        Ok(Loaded::Done(loaded))
    }

    /// Copies the pages; `None` when the lock was lost on the way.
    async fn copy(&self, token: &str) -> Result<Option<u64>, LoadError> {
        let (mut after, mut loaded) = (0, 0u64);
        loop {
            let (emails, last) = self.store.email_keys_after(after, PAGE).await?;
            if !self.index.add_loaded_emails(token, LEASE, &emails).await? {
                return Ok(None);
            }
            let before = loaded;
            loaded += emails.len() as u64;
            if loaded / PROGRESS_EVERY > before / PROGRESS_EVERY {
                tracing::info!(emails = loaded, "loading the stored emails into Redis");
            }
            match last {
                Some(id) => after = id,
                None => return Ok(Some(loaded)),
            }
        }
    }
}
