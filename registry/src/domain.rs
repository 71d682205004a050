//! User newtypes: each parses its raw input once and is valid from then on.

mod fields;
mod idempotency;

use serde::{Deserialize, Serialize};

pub use fields::{EMAIL_MAX_CHARS, Email, NAME_MAX_CHARS, UserName};
pub use idempotency::{IdempotencyKey, InvalidIdempotencyKey};

/// A field that failed validation, with a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The input field at fault (`name`, `email`).
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A user id: a positive integer, unique forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(u64);

impl UserId {
    /// Parses an id from a path segment or a number; zero is not an id.
    pub fn parse(raw: &str) -> Option<Self> {
        raw.parse::<u64>().ok().and_then(Self::new)
    }

    /// Wraps a positive integer.
    pub fn new(id: u64) -> Option<Self> {
        (id > 0).then_some(Self(id))
    }

    /// The numeric value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A user as submitted: a valid name and an optional valid email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The user's name.
    pub name: UserName,
    /// The user's email address, if given.
    pub email: Option<Email>,
}

impl NewUser {
    /// Parses raw input, reporting the first invalid field.
    pub fn parse(name: &str, email: Option<&str>) -> Result<Self, FieldError> {
        Ok(Self {
            name: UserName::parse(name)?,
            email: email.map(Email::parse).transpose()?,
        })
    }

    /// The case-insensitive form of the email, if any (see [`Email::key`]).
    pub fn email_key(&self) -> Option<String> {
        self.email.as_ref().map(Email::key)
    }
}

/// A user the producer accepted: its id, the user, when, and by which request. This is what a
/// queue message carries (see [`crate::message`]) and what the store writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedUser {
    /// The user's id.
    pub id: UserId,
    /// The user.
    pub user: NewUser,
    /// Acceptance time, ms since the Unix epoch.
    pub accepted_at: u64,
    /// The id of the HTTP request that created the user.
    pub request_id: String,
}

/// A user as stored in MySQL (and cached in Redis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUser {
    /// The user's id.
    pub id: u64,
    /// The user's name.
    pub name: String,
    /// The user's email address.
    pub email: Option<String>,
    /// When the row was committed, RFC 3339 in UTC.
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(UserId::parse("42").map(UserId::get), Some(42));
        for raw in ["0", "-1", "abc", "1.5", "", "99999999999999999999999"] {
            assert!(UserId::parse(raw).is_none(), "{raw:?} is not an id");
        }
    }
}
