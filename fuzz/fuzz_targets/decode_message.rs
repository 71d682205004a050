//! Decodes arbitrary bytes as a queue message the way a consumer does: nothing may panic,
//! and whatever validates must be storable and survive its own encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry::domain::{EMAIL_MAX_CHARS, NAME_MAX_CHARS};
use registry::message::{Message, MessageTail};

fuzz_target!(|data: &[u8]| {
    // Redis hands the consumer bytes; a message that is not UTF-8 must be refusable too.
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let Ok(message) = Message::decode(raw) else { return };
    assert_eq!(
        Message::decode(&message.encode()).as_ref(),
        Ok(&message),
        "re-encoding changes {raw:?}"
    );
    let Ok(valid) = message.clone().validate() else { return };

    // What validates fits the columns it is stored in.
    assert!(valid.id.get() > 0);
    let name = valid.user.name.as_str();
    assert!((1..=NAME_MAX_CHARS).contains(&name.chars().count()), "name {name:?}");
    assert!(!name.chars().any(char::is_control), "name {name:?}");
    if let Some(email) = &valid.user.email {
        assert!(email.as_str().chars().count() <= EMAIL_MAX_CHARS, "email {email:?}");
        assert!(
            email.key().chars().count() <= EMAIL_MAX_CHARS,
            "the key of {email:?} overflows its column"
        );
    }

    // The producer's tail of the same user, completed as the enqueue script does, decodes back.
    let tail = MessageTail {
        name,
        email: valid.user.email.as_ref().map(|e| e.as_str()),
        accepted_at: valid.accepted_at,
        request_id: &valid.request_id,
    };
    let completed = tail.complete(valid.id.get());
    let again = Message::decode(&completed).expect("a completed tail decodes");
    assert_eq!((again.id, again.name.as_str()), (valid.id.get(), name));
});
