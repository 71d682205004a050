//! JSON shapes of the API's answers.

use poem_openapi::{Object, Union};
use registry::domain::StoredUser;

use super::strict::{JsonString, Nullable};

/// Answer to an accepted user.
#[derive(Debug, Object)]
pub struct Queued {
    /// The new user's id.
    pub id: u64,
    /// Always `queued`.
    pub status: String,
}

/// Body of `POST /api/users`.
#[derive(Debug, Object)]
pub struct NewUserBody {
    /// 1 to 100 characters after trimming, no control characters.
    pub name: JsonString,
    /// Optional; at most 254 characters, unique among stored users (case-insensitively).
    pub email: Option<JsonString>,
}

/// A stored user.
#[derive(Debug, Object)]
pub struct StoredView {
    /// The user's id.
    pub id: u64,
    /// The user's name.
    pub name: String,
    /// The user's email address, or null.
    pub email: Nullable<String>,
    /// When the user was stored (RFC 3339, UTC).
    pub created_at: String,
    /// Where the answer came from: `cache` or `database`.
    #[oai(skip_serializing_if_is_none)]
    pub source: Option<String>,
}

impl StoredView {
    /// A stored user, answered from `source` (`None` in lists).
    pub fn new(user: StoredUser, source: Option<&str>) -> Self {
        Self {
            id: user.id,
            name: user.name,
            email: user.email.into(),
            created_at: user.created_at,
            source: source.map(Into::into),
        }
    }
}

/// A user accepted but not yet stored.
#[derive(Debug, Object)]
pub struct PendingView {
    /// The user's id.
    pub id: u64,
    /// The user's name.
    pub name: String,
    /// The user's email address, or null.
    pub email: Nullable<String>,
    /// Always `queue`.
    pub source: String,
}

/// A user the consumer refused.
#[derive(Debug, Object)]
pub struct RejectedView {
    /// The user's id.
    pub id: u64,
    /// Why it was refused.
    pub reason: String,
}

/// A user whose message is in the dead-letter list.
#[derive(Debug, Object)]
pub struct FailedView {
    /// The user's id.
    pub id: u64,
    /// Why its message could not be stored; an operator may requeue it.
    pub reason: String,
}

/// A user in one of its four states, told apart by `status`.
#[derive(Debug, Union)]
#[oai(discriminator_name = "status")]
pub enum UserView {
    /// Stored in MySQL.
    #[oai(mapping = "stored")]
    Stored(StoredView),
    /// Still queued.
    #[oai(mapping = "pending")]
    Pending(PendingView),
    /// Refused by the consumer.
    #[oai(mapping = "rejected")]
    Rejected(RejectedView),
    /// In the dead-letter list: not stored unless an operator requeues it.
    #[oai(mapping = "failed")]
    Failed(FailedView),
}

/// A page of stored users.
#[derive(Debug, Object)]
pub struct UserPage {
    /// Stored users, newest first.
    pub users: Vec<StoredView>,
    /// Pass as `before` for the next page; null on the last page.
    pub next: Nullable<u64>,
}

/// Queue counters.
#[derive(Debug, Object)]
pub struct QueueView {
    /// Messages waiting.
    pub pending: u64,
    /// Messages taken by consumers, not yet acknowledged.
    pub processing: u64,
    /// Dead letters.
    pub dead: u64,
}

/// Counters of the whole system.
#[derive(Debug, Object)]
pub struct StatsView {
    /// Stored users.
    pub users: u64,
    /// The newest stored user, or null when there is none.
    pub latest: Nullable<StoredView>,
    /// Queue counters.
    pub queue: QueueView,
    /// Live consumers.
    pub consumers: u64,
    /// The host name of the producer that answered.
    pub host: String,
}
