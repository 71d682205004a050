//! The queue message, in one place: versioned JSON carrying an [`AcceptedUser`].
//!
//! The producer cannot write a whole message: the id is allocated inside the enqueue script,
//! atomically with the push. It writes the [`MessageTail`] (everything after the id), and the
//! script writes [`head`], the id and a comma before it. Both halves are defined here.

use serde::{Deserialize, Serialize};

use crate::domain::{AcceptedUser, FieldError, NewUser, UserId};

/// The message format version this build writes and reads.
pub const VERSION: u32 = 1;

/// A message as it travels through Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Format version.
    pub v: u32,
    /// The user's id.
    pub id: u64,
    /// The user's name.
    pub name: String,
    /// The user's email address.
    #[serde(default)]
    pub email: Option<String>,
    /// When the producer accepted the user, in ms since the Unix epoch.
    pub accepted_at: u64,
    /// The id of the HTTP request that created the user.
    pub request_id: String,
}

/// What a message starts with, up to its id: the enqueue script writes `head() .. id .. ','
/// .. tail`.
pub fn head() -> String {
    format!("{{\"v\":{VERSION},\"id\":")
}

/// The message after its id, as the producer writes it for the enqueue script.
#[derive(Debug, Clone, Serialize)]
pub struct MessageTail<'a> {
    /// The user's name.
    pub name: &'a str,
    /// The user's email address.
    pub email: Option<&'a str>,
    /// Acceptance time, ms since the Unix epoch.
    pub accepted_at: u64,
    /// The request id.
    pub request_id: &'a str,
}

impl<'a> MessageTail<'a> {
    /// The tail of `user`'s message, accepted now, by the request `request_id`.
    pub fn accepted_now(user: &'a NewUser, request_id: &'a str) -> Self {
        Self {
            name: user.name.as_str(),
            email: user.email.as_ref().map(|e| e.as_str()),
            accepted_at: crate::now_millis(),
            request_id,
        }
    }

    /// JSON of the tail without its opening brace: `"name":...}`.
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).expect("a message tail always serializes");
        json[1..].to_owned()
    }

    /// The whole message as the enqueue script writes it for `id` (for tests and tools).
    pub fn complete(&self, id: u64) -> String {
        format!("{}{id},{}", head(), self.encode())
    }
}

/// Why a message cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON of the message shape.
    #[error("undecodable message: {0}")]
    Undecodable(String),
    /// A version this build does not know.
    #[error("unsupported message version {0}")]
    Version(u32),
    /// The id is not a positive integer.
    #[error("invalid id")]
    Id,
    /// A field breaks the rules the producer enforces.
    #[error("invalid message: {0}")]
    Invalid(FieldError),
}

impl DecodeError {
    /// Whether the message could not even be read (as opposed to read and found invalid).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, Self::Undecodable(_) | Self::Version(_))
    }
}

impl Message {
    /// Parses raw JSON; validity is checked by [`Message::validate`].
    pub fn decode(raw: &str) -> Result<Self, DecodeError> {
        serde_json::from_str(raw).map_err(|err| DecodeError::Undecodable(err.to_string()))
    }

    /// Parses a message as taken from Redis; bytes that are not UTF-8 are undecodable.
    pub fn decode_bytes(raw: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(raw).map_err(|err| DecodeError::Undecodable(err.to_string()))
    }

    /// Serializes to JSON (tests and the dead-letter tools build messages with it).
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a message always serializes")
    }

    /// Checks version, id and fields.
    pub fn validate(self) -> Result<AcceptedUser, DecodeError> {
        if self.v != VERSION {
            return Err(DecodeError::Version(self.v));
        }
        let id = UserId::new(self.id).ok_or(DecodeError::Id)?;
        let user = NewUser::parse(&self.name, self.email.as_deref()).map_err(DecodeError::Invalid)?;
        Ok(AcceptedUser {
            id,
            user,
            accepted_at: self.accepted_at,
            request_id: self.request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_completed_as_the_script_does_decodes_to_the_same_user() {
        let tail = MessageTail {
            name: "Zoë \"Z\" O'Neil",
            email: Some("z@example.com"),
            accepted_at: 7,
            request_id: "r-1",
        };
        let msg = Message::decode(&tail.complete(29_000_000_000_001))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(msg.id.get(), 29_000_000_000_001);
        assert_eq!(msg.user.name.as_str(), "Zoë \"Z\" O'Neil");
        assert_eq!(msg.user.email.unwrap().as_str(), "z@example.com");
        assert_eq!((msg.accepted_at, msg.request_id.as_str()), (7, "r-1"));
    }

    #[test]
    fn broken_messages_say_why() {
        let cases = [
            ("not json", "undecodable"),
            (
                r#"{"v":2,"id":1,"name":"a","accepted_at":1,"request_id":"r"}"#,
                "version",
            ),
            (
                r#"{"v":1,"id":0,"name":"a","accepted_at":1,"request_id":"r"}"#,
                "invalid id",
            ),
            (r#"{"v":1,"id":1,"name":"  ","accepted_at":1,"request_id":"r"}"#, "name"),
        ];
        for (raw, want) in cases {
            let err = Message::decode(raw).and_then(Message::validate).unwrap_err();
            assert!(err.to_string().contains(want), "{raw}: {err}");
        }
    }
}
