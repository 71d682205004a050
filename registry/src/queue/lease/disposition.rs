//! What becomes of each message of a batch, as the acknowledgement applies it.

use crate::domain::{StoredUser, UserId};

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Committed to MySQL: forget it. With the user when an earlier delivery stored it: a
    /// reader may have cached it since, and that cache entry's lifetime is renewed.
    Stored(Option<StoredUser>),
    /// Refused (its reason is committed to MySQL): forget it.
    Rejected,
    /// Failed permanently this time, attempts left: back to the end of the queue.
    Retry,
    /// Can never be stored: to the dead-letter list.
    Dead {
        /// Why, as a metric label.
        cause: DeadCause,
        /// Why, for people.
        reason: String,
    },
}

/// Why a message was dead-lettered (the `reason` label of `consumer_dead_letters_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadCause {
    /// Not JSON of the message shape, or of an unknown version.
    Undecodable,
    /// Decoded, but a field breaks the rules.
    Invalid,
    /// The id is already stored with different content.
    IdConflict,
    /// Failed permanently `MAX_ATTEMPTS` times.
    AttemptsExhausted,
}

impl DeadCause {
    /// Every cause.
    pub const ALL: [Self; 4] = [
        Self::Undecodable,
        Self::Invalid,
        Self::IdConflict,
        Self::AttemptsExhausted,
    ];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::Invalid => "invalid",
            Self::IdConflict => "id_conflict",
            Self::AttemptsExhausted => "attempts_exhausted",
        }
    }
}

/// The acknowledgement of one message.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The message as it was taken.
    pub raw: String,
    /// Its id, when it could be decoded.
    pub id: Option<UserId>,
    /// What to do with it.
    pub disposition: Disposition,
}
