//! The user's fields: a name and an email address, each parsed once.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// Longest name, in characters (Unicode scalar values, as MySQL counts them).
pub const NAME_MAX_CHARS: usize = 100;
/// Longest email address, in characters.
pub const EMAIL_MAX_CHARS: usize = 254;

/// A user's name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    /// Trims and checks a raw name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::new("name", "name must not be empty"));
        }
        if name.chars().count() > NAME_MAX_CHARS {
            return Err(FieldError::new(
                "name",
                format!("name must be at most {NAME_MAX_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new("name", "name must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserName {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> Self {
        name.0
    }
}

/// An email address: trimmed, at most 254 characters, a plausible `local@domain.tld`.
///
/// Uniqueness is case-insensitive: [`Email::key`] is the form that is compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Trims and checks a raw address.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim();
        let invalid = |why: &str| Err(FieldError::new("email", why));
        if email.is_empty() {
            return invalid("email must not be empty; leave it out instead");
        }
        // The lower-cased key is stored too, and lower case can be longer (`İ` is two characters).
        if email.chars().count() > EMAIL_MAX_CHARS || email.to_lowercase().chars().count() > EMAIL_MAX_CHARS {
            return invalid("email must be at most 254 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("email must not contain spaces or control characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return invalid("email must look like name@example.com");
        };
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return invalid("email must look like name@example.com");
        }
        if !domain.contains('.')
            || !labels_ok
            || domain.contains(['(', ')', '[', ']', ',', ';', ':', '<', '>', '"', '\\'])
        {
            return invalid("email must have a domain such as example.com");
        }
        Ok(Self(email.to_owned()))
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive form used for uniqueness.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(UserName::parse(&"é".repeat(100)).is_ok(), "100 two-byte characters fit");
        let cases = [
            ("", "empty"),
            ("   ", "only spaces"),
            (&"x".repeat(101)[..], "101 characters"),
            ("a\u{0}b", "a NUL byte"),
            ("tab\there", "a tab"),
            ("line\nbreak", "a line break"),
        ];
        for (raw, why) in cases {
            assert!(UserName::parse(raw).is_err(), "a name with {why} must be refused");
        }
    }

    #[test]
    fn emails_must_be_plausible() {
        assert_eq!(Email::parse(" Ada@Example.COM ").unwrap().key(), "ada@example.com");
        let long_local = format!("{}@example.com", "a".repeat(243));
        assert_eq!(long_local.len(), 255);
        let cases = [
            ("plainaddress", "no @"),
            ("@example.com", "no local part"),
            ("ada@", "no domain"),
            ("ada@localhost", "a domain without a dot"),
            ("ada@exa mple.com", "a space"),
            ("ada@example..com", "an empty label"),
            ("ada@-example.com", "a label starting with a hyphen"),
            (&long_local[..], "255 characters"),
        ];
        for (raw, why) in cases {
            assert!(Email::parse(raw).is_err(), "an email with {why} must be refused: {raw}");
        }
    }
}
