//! Property tests of the user fields: what `UserName::parse` and `Email::parse` accept is
//! exactly what the contract allows, as it will be stored, and the email key behaves.

use proptest::prelude::*;
use registry::domain::{EMAIL_MAX_CHARS, Email, NAME_MAX_CHARS, UserName};

/// Whitespace that trimming removes, including the non-ASCII kinds.
fn padding() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec![' ', '\u{a0}', '\u{2003}', '\u{3000}', '\t', '\n', '\r']),
        0..4,
    )
    .prop_map(String::from_iter)
}

/// A character a valid name may hold anywhere: printable, any script, no whitespace.
fn name_char() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("printable and not whitespace", |c| {
        !c.is_control() && !c.is_whitespace()
    })
}

/// A valid name as stored: 1 to 100 characters, ends without whitespace.
fn stored_name() -> impl Strategy<Value = String> {
    (
        name_char(),
        proptest::collection::vec(any::<char>(), 0..=NAME_MAX_CHARS - 2),
        name_char(),
    )
        .prop_map(|(first, middle, last)| {
            let middle: String = middle.into_iter().filter(|c| !c.is_control()).collect();
            let mut name = String::from(first);
            name.push_str(&middle);
            if name.chars().count() < NAME_MAX_CHARS {
                name.push(last);
            }
            name
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_valid_name_with_padding_parses_to_itself(name in stored_name(), left in padding(), right in padding()) {
        let parsed = UserName::parse(&format!("{left}{name}{right}")).expect("a valid name is accepted");
        prop_assert_eq!(parsed.as_str(), name.as_str());
    }

    #[test]
    fn every_accepted_name_keeps_the_rules(raw in any::<String>()) {
        if let Ok(name) = UserName::parse(&raw) {
            let text = name.as_str();
            let chars = text.chars().count();
            prop_assert!((1..=NAME_MAX_CHARS).contains(&chars), "{chars} characters");
            prop_assert!(!text.chars().any(char::is_control), "no control characters");
            prop_assert_eq!(text, text.trim(), "trimmed");
            prop_assert_eq!(UserName::parse(text), Ok(name.clone()), "parsing is idempotent");
        }
    }

    #[test]
    fn a_control_character_inside_a_name_is_refused(
        name in stored_name(),
        at in any::<prop::sample::Index>(),
        control in any::<char>().prop_filter("a control character", |c| c.is_control()),
    ) {
        // Strictly inside, never at an end where trimming could remove a tab or line break.
        let mut chars: Vec<char> = std::iter::once('x').chain(name.chars()).collect();
        let len = chars.len();
        chars.insert(1 + at.index(len - 1), control);
        let raw: String = chars.into_iter().collect();
        prop_assert!(UserName::parse(&raw).is_err(), "{raw:?} must be refused");
    }

    #[test]
    fn a_name_over_100_characters_is_refused(name in stored_name(), extra in proptest::collection::vec(name_char(), 1..20)) {
        let mut raw = name.clone();
        while raw.chars().count() <= NAME_MAX_CHARS {
            raw.extend(extra.iter());
        }
        prop_assert!(UserName::parse(&raw).is_err());
    }

    #[test]
    fn a_name_survives_a_json_round_trip(name in stored_name()) {
        let name = UserName::parse(&name).unwrap();
        let json = serde_json::to_string(&name).unwrap();
        prop_assert_eq!(serde_json::from_str::<UserName>(&json).unwrap(), name);
    }
}

/// A plausible ASCII address: `local@label(.label)+`, each part within its limit.
fn plausible_email() -> impl Strategy<Value = String> {
    let local = "[A-Za-z0-9._%+-]{1,64}";
    let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?";
    (local, proptest::collection::vec(label, 2..5))
        .prop_map(|(local, labels)| format!("{local}@{}", labels.join(".")))
        .prop_filter("at most 254 characters", |e| e.len() <= EMAIL_MAX_CHARS)
}

/// An address with non-ASCII letters whose lower case is longer or different (`İ`, `ß`,
/// the Kelvin sign), up to the length limit.
fn unicode_email() -> impl Strategy<Value = String> {
    let local = "[a-zA-Z0-9\u{130}\u{df}._+-]{1,32}";
    let label = "[a-zA-Z0-9\u{130}\u{df}\u{212a}]{1,63}";
    (local, proptest::collection::vec(label, 2..6))
        .prop_map(|(local, labels)| format!("{local}@{}", labels.join(".")))
        .prop_map(|email| email.chars().take(EMAIL_MAX_CHARS).collect::<String>())
}

/// Changes the case of some ASCII letters.
fn recase(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &flip)| {
            if flip {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_plausible_email_with_padding_parses_to_itself(email in plausible_email(), left in padding(), right in padding()) {
        let parsed = Email::parse(&format!("{left}{email}{right}")).expect("a plausible email is accepted");
        prop_assert_eq!(parsed.as_str(), email.as_str());
    }

    #[test]
    fn emails_differing_only_in_case_share_a_key(email in plausible_email(), flips in proptest::collection::vec(any::<bool>(), 1..8)) {
        let one = Email::parse(&email).unwrap();
        let other = Email::parse(&recase(&email, &flips)).unwrap();
        prop_assert_eq!(one.key(), other.key());
        prop_assert_eq!(one.key(), email.to_ascii_lowercase());
    }

    #[test]
    fn every_accepted_email_keeps_the_rules(raw in prop_oneof![any::<String>(), unicode_email()]) {
        if let Ok(email) = Email::parse(&raw) {
            let text = email.as_str();
            prop_assert!(text.chars().count() <= EMAIL_MAX_CHARS);
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
            let (local, domain) = text.rsplit_once('@').expect("an accepted email has an @");
            prop_assert!(!local.is_empty() && domain.contains('.'));
            // The key is what the unique column (VARCHAR(254)) stores: it must fit it too.
            let key = email.key();
            prop_assert!(
                key.chars().count() <= EMAIL_MAX_CHARS,
                "the key of {:?} has {} characters",
                text,
                key.chars().count()
            );
            let again = Email::parse(&key).expect("a key is itself a valid email");
            prop_assert_eq!(again.key(), key, "the key is stable");
        }
    }

    #[test]
    fn an_email_over_254_characters_is_refused(email in plausible_email()) {
        let local = email.split('@').next().unwrap();
        let long = format!("{local}@{}.example.com", "a".repeat(EMAIL_MAX_CHARS));
        prop_assert!(Email::parse(&long).is_err());
    }
}

#[test]
fn an_email_whose_lower_case_grows_still_fits_the_key_column() {
    // `İ` (U+0130) lower-cases to two characters: 132 characters, a key of 258.
    let raw = format!("a@{}.com", "\u{130}".repeat(126));
    match Email::parse(&raw) {
        Ok(email) => assert!(
            email.key().chars().count() <= EMAIL_MAX_CHARS,
            "accepted, but its key has {} characters: MySQL would refuse the row",
            email.key().chars().count()
        ),
        Err(err) => assert_eq!(err.field, "email"),
    }
}
