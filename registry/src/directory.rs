//! The use case behind `GET /api/users/ID`: where a user is, cache first.

use std::time::Duration;

use crate::coalesce::{CoalesceError, Coalescer};
use crate::domain::{StoredUser, UserId};
use crate::message::Message;
use crate::queue::{Connection, Lookup, QueueError, UserCache};
use crate::store::{Store, StoreError};

/// Most ids looked up by one round trip.
const LOOKUP_BATCH: usize = 128;

/// Where a user was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Stored, answered by the cache.
    Cached(StoredUser),
    /// Still queued: its pending message.
    Pending(Message),
    /// Stored, answered by MySQL (and now cached).
    Stored(StoredUser),
    /// Refused by the consumer, with the reason.
    Rejected(String),
    /// In the dead-letter list, with the reason: stored only if an operator requeues it.
    Failed(String),
}

/// Why a user could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// Nothing knows this id.
    #[error("no such user")]
    NotFound,
    /// MySQL did not answer.
    #[error("the database is unreachable")]
    DatabaseUnavailable(#[source] StoreError),
    /// MySQL does not know the id and Redis did not answer: it may be queued there.
    #[error("the queue is unreachable")]
    QueueUnavailable(#[source] CoalesceError<QueueError>),
}

/// Finds users: the cache and the queue in Redis, then MySQL, which fills the cache.
pub struct Directory {
    cache: UserCache,
    /// Looks the users of concurrent reads up in one round trip.
    lookups: Coalescer<UserId, Lookup, QueueError>,
    store: Store,
    cache_ttl: Duration,
}

impl Directory {
    /// A directory over the deployment behind `conn` and `store`, its batching task started on
    /// the current runtime; users read from MySQL stay cached for `cache_ttl`.
    pub fn new(conn: Connection, store: Store, cache_ttl: Duration) -> Self {
        let cache = UserCache::new(conn);
        let lookups = {
            let cache = cache.clone();
            Coalescer::spawn(LOOKUP_BATCH, move |ids: Vec<UserId>| {
                let cache = cache.clone();
                async move { cache.lookup_many(&ids).await }
            })
        };
        Self {
            cache,
            lookups,
            store,
            cache_ttl,
        }
    }

    /// Where the user `id` is: the cache, the queue, the dead letters, MySQL (filling the
    /// cache), or refused.
    pub async fn find(&self, id: UserId) -> Result<Found, FindError> {
        let redis = self.lookups.call(id).await;
        match redis {
            Ok(Lookup::Cached(user)) => return Ok(Found::Cached(user)),
            Ok(Lookup::Pending(message)) => return Ok(Found::Pending(message)),
            Ok(Lookup::Failed(reason)) => return Ok(Found::Failed(reason)),
            Ok(Lookup::Unknown) => {}
            Err(ref err) => tracing::warn!(error = %err, "cache unreachable; reading from MySQL"),
        }
        let stored = self.store.find_user(id).await.map_err(FindError::DatabaseUnavailable)?;
        if let Some(user) = stored {
            if redis.is_ok()
                && let Err(err) = self.cache.fill(&user, self.cache_ttl).await
            {
                tracing::warn!(error = %err, "could not fill the cache");
            }
            return Ok(Found::Stored(user));
        }
        let rejection = self
            .store
            .find_rejection(id)
            .await
            .map_err(FindError::DatabaseUnavailable)?;
        match (rejection, redis) {
            (Some(reason), _) => Ok(Found::Rejected(reason)),
            (None, Err(err)) => Err(FindError::QueueUnavailable(err)),
            (None, Ok(_)) => Err(FindError::NotFound),
        }
    }
}
