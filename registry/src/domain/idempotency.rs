//! The `Idempotency-Key` a client sends so that a retried `POST` queues nothing new.

/// Longest accepted key, in bytes.
pub const MAX_LEN: usize = 128;

/// A client's idempotency key: 1 to 128 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 128 printable ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// Checks a raw header value.
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        let printable = raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if raw.is_empty() || raw.len() > MAX_LEN || !printable {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_128_printable_ascii_characters() {
        assert!(IdempotencyKey::parse("order 42/retry-1").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
        let cases = [
            ("", "empty"),
            (&"k".repeat(129)[..], "129 characters"),
            ("tab\there", "a tab"),
            ("é", "a non-ASCII character"),
        ];
        for (raw, why) in cases {
            assert!(IdempotencyKey::parse(raw).is_err(), "a key with {why} must be refused");
        }
    }
}
