//! Property tests of the queue message: a tail encoded by the producer and completed with
//! `v` and `id` the way the enqueue script does it decodes to exactly what was sent.

use proptest::prelude::*;
use registry::message::{DecodeError, Message, MessageTail, head};

/// Ids are below 2^53: the enqueue script computes them as Lua numbers (doubles).
const MAX_ID: u64 = 1 << 53;

/// What the enqueue script pushes: `head .. string.format('%.0f', id) .. ',' .. tail`.
fn as_the_script_completes_it(id: u64, tail: &MessageTail<'_>) -> String {
    format!("{}{:.0},{}", head(), id as f64, tail.encode())
}

/// Text with what JSON must escape: quotes, backslashes, control characters, surrogate-pair
/// characters, and the occasional fake closing brace.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\"\\\\{}:,\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}\u{fffd}\u{1f600}a-z]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn a_completed_tail_decodes_to_what_was_sent(
        id in 1..=MAX_ID,
        name in tricky_text(),
        email in proptest::option::of(tricky_text()),
        accepted_at in any::<u64>(),
        request_id in tricky_text(),
    ) {
        let tail = MessageTail {
            name: &name,
            email: email.as_deref(),
            accepted_at,
            request_id: &request_id,
        };
        let raw = as_the_script_completes_it(id, &tail);
        let decoded = Message::decode(&raw).map_err(|e| TestCaseError::fail(format!("{raw}: {e}")))?;
        prop_assert_eq!(
            decoded,
            Message { v: 1, id, name: name.clone(), email: email.clone(), accepted_at, request_id: request_id.clone() }
        );
    }

    #[test]
    fn a_valid_user_survives_encoding_and_validation(
        id in 1..=MAX_ID,
        name in "[^\u{0}-\u{1f}\u{7f}-\u{9f}\\s][^\u{0}-\u{1f}\u{7f}-\u{9f}]{0,98}[^\u{0}-\u{1f}\u{7f}-\u{9f}\\s]",
        accepted_at in any::<u64>(),
    ) {
        let tail = MessageTail { name: &name, email: Some("a.b@example.com"), accepted_at, request_id: "r" };
        let valid = Message::decode(&as_the_script_completes_it(id, &tail)).unwrap().validate().unwrap();
        prop_assert_eq!(valid.id.get(), id);
        prop_assert_eq!(valid.user.name.as_str(), name.as_str());
        let email = valid.user.email.map(String::from);
        prop_assert_eq!(email.as_deref(), Some("a.b@example.com"));
    }

    #[test]
    fn a_full_message_survives_its_own_encoding(
        v in any::<u32>(),
        id in any::<u64>(),
        name in tricky_text(),
        email in proptest::option::of(tricky_text()),
        accepted_at in any::<u64>(),
        request_id in tricky_text(),
    ) {
        let msg = Message { v, id, name, email, accepted_at, request_id };
        prop_assert_eq!(Message::decode(&msg.encode()).unwrap(), msg);
    }

    #[test]
    fn garbage_never_panics_and_is_refused_with_a_reason(raw in any::<String>()) {
        match Message::decode(&raw).and_then(Message::validate) {
            Ok(msg) => prop_assert!(msg.id.get() > 0),
            Err(DecodeError::Undecodable(why)) => prop_assert!(!why.is_empty()),
            Err(_) => {}
        }
    }
}

#[test]
fn the_script_formats_every_id_below_2_pow_53_exactly() {
    // The id travels through a Lua double: `%.0f` must print it digit for digit.
    for id in [1, 1023, 1024, 29_000_000_000_001, MAX_ID - 1, MAX_ID] {
        assert_eq!(format!("{:.0}", id as f64), id.to_string());
    }
}
