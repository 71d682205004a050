//! The pure decisions of a batch: which message is stored, refused, retried or
//! dead-lettered, as functions of what was taken and what MySQL answered. No I/O here.

use registry::domain::{AcceptedUser, UserId};
use registry::message::{DecodeError, Message};
use registry::queue::{Ack, DeadCause, Disposition};
use registry::store::Outcome;

/// A batch as taken, decoded: the users to store, and the messages that can never be.
#[derive(Debug)]
pub struct Decoded {
    /// Each message as text, for the queue or a dead letter (moved out as it is settled).
    raw: Vec<String>,
    /// The valid users, with their message's position in the batch.
    valid: Vec<(usize, AcceptedUser)>,
    /// The messages settled already (those that can never be stored); `None` for the others.
    settled: Vec<Option<Ack>>,
}

/// A batch whose every message has its disposition.
#[derive(Debug)]
pub struct Settled {
    /// One per message, in the order taken.
    pub acks: Vec<Ack>,
    /// The valid users, with their message's position in the batch.
    pub valid: Vec<(usize, AcceptedUser)>,
    /// What the batch did.
    pub report: BatchReport,
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// Messages taken.
    pub taken: usize,
    /// Users stored (including redeliveries found already stored).
    pub stored: usize,
    /// Users refused.
    pub rejected: usize,
    /// Messages sent back for another attempt.
    pub retried: usize,
    /// Messages dead-lettered.
    pub dead: usize,
}

impl Decoded {
    /// Decodes the messages of a batch: each valid one becomes a user to store, each other one
    /// a dead letter with its reason. Decoded from the bytes, so that bytes which are not UTF-8
    /// make the message undecodable instead of passing as replacement characters.
    pub fn new(messages: Vec<Vec<u8>>) -> Self {
        let mut decoded = Self {
            raw: Vec::with_capacity(messages.len()),
            valid: Vec::with_capacity(messages.len()),
            settled: vec![None; messages.len()],
        };
        for (i, bytes) in messages.into_iter().enumerate() {
            let message = Message::decode_bytes(&bytes);
            let id = message.as_ref().ok().and_then(|m| UserId::new(m.id));
            // Kept for the queue or a dead letter; one that is not UTF-8 keeps a readable form.
            let text = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            match message.and_then(Message::validate) {
                Ok(user) => decoded.valid.push((i, user)),
                Err(err) => {
                    tracing::warn!(error = %err, "dead-lettering a message that can never be stored");
                    let disposition = Disposition::Dead {
                        cause: dead_cause(&err),
                        reason: err.to_string(),
                    };
                    decoded.settled[i] = Some(Ack {
                        raw: text.clone(),
                        id,
                        disposition,
                    });
                }
            }
            decoded.raw.push(text);
        }
        decoded
    }

    /// The users to store, in the order taken.
    pub fn users(&self) -> Vec<AcceptedUser> {
        self.valid.iter().map(|(_, user)| user.clone()).collect()
    }

    /// Settles the batch with one disposition per user of [`Decoded::users`], in order.
    pub fn settle(mut self, dispositions: Vec<Disposition>) -> Settled {
        assert_eq!(dispositions.len(), self.valid.len(), "one disposition per valid user");
        for ((index, user), disposition) in self.valid.iter().zip(dispositions) {
            self.settled[*index] = Some(Ack {
                raw: std::mem::take(&mut self.raw[*index]),
                id: Some(user.id),
                disposition,
            });
        }
        let acks: Vec<Ack> = self
            .settled
            .into_iter()
            .map(|a| a.expect("every message has a disposition"))
            .collect();
        let report = report(&acks);
        Settled {
            acks,
            valid: self.valid,
            report,
        }
    }
}

/// The dead-letter cause of a message that cannot be decoded or is invalid.
pub fn dead_cause(err: &DecodeError) -> DeadCause {
    if err.is_unreadable() {
        DeadCause::Undecodable
    } else {
        DeadCause::Invalid
    }
}

/// What becomes of a user MySQL answered for.
pub fn disposition(outcome: Outcome) -> Disposition {
    match outcome {
        Outcome::Inserted => Disposition::Stored(None),
        Outcome::AlreadyStored(user) => Disposition::Stored(Some(user)),
        Outcome::Rejected(_) => Disposition::Rejected,
        Outcome::Conflict(reason) => Disposition::Dead {
            cause: DeadCause::IdConflict,
            reason,
        },
    }
}

/// What becomes of a user that failed permanently for the `attempts`-th time: another
/// attempt later, or the dead-letter list after `max_attempts`.
pub fn after_failure(attempts: u32, max_attempts: u32, error: &str) -> Disposition {
    if attempts >= max_attempts {
        Disposition::Dead {
            cause: DeadCause::AttemptsExhausted,
            reason: format!("failed {attempts} times: {error}"),
        }
    } else {
        Disposition::Retry
    }
}

fn report(acks: &[Ack]) -> BatchReport {
    let mut report = BatchReport {
        taken: acks.len(),
        ..BatchReport::default()
    };
    for ack in acks {
        match ack.disposition {
            Disposition::Stored(_) => report.stored += 1,
            Disposition::Rejected => report.rejected += 1,
            Disposition::Retry => report.retried += 1,
            Disposition::Dead { .. } => report.dead += 1,
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64, name: &str) -> Vec<u8> {
        Message {
            v: 1,
            id,
            name: name.into(),
            email: None,
            accepted_at: 1,
            request_id: format!("r-{id}"),
        }
        .encode()
        .into_bytes()
    }

    #[test]
    fn messages_that_can_never_be_stored_are_dead_lettered_with_their_cause() {
        let batch = vec![
            message(1, "Ada"),
            b"not json".to_vec(),
            vec![b'{', 0xff, b'}'],
            message(0, "zero id"),
            message(2, "   "),
        ];
        let decoded = Decoded::new(batch);
        assert_eq!(decoded.users().iter().map(|u| u.id.get()).collect::<Vec<_>>(), [1]);
        let settled = decoded.settle(vec![Disposition::Stored(None)]);
        let causes: Vec<Option<DeadCause>> = settled
            .acks
            .iter()
            .map(|a| match &a.disposition {
                Disposition::Dead { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect();
        use DeadCause::*;
        assert_eq!(
            causes,
            [None, Some(Undecodable), Some(Undecodable), Some(Invalid), Some(Invalid)]
        );
        assert_eq!(settled.acks[3].id, None, "id 0 is no id");
        assert_eq!(
            settled.acks[4].id.map(UserId::get),
            Some(2),
            "an invalid user keeps its id"
        );
        assert_eq!(
            (settled.report.taken, settled.report.stored, settled.report.dead),
            (5, 1, 4)
        );
    }

    #[test]
    fn each_user_gets_the_disposition_of_its_outcome_in_place() {
        let decoded = Decoded::new(vec![message(1, "a"), b"x".to_vec(), message(2, "b"), message(3, "c")]);
        let settled = decoded.settle(vec![
            disposition(Outcome::Inserted),
            disposition(Outcome::Rejected("email already registered".into())),
            disposition(Outcome::Conflict("id 3 is already stored for another request".into())),
        ]);
        let ids: Vec<Option<u64>> = settled.acks.iter().map(|a| a.id.map(UserId::get)).collect();
        assert_eq!(ids, [Some(1), None, Some(2), Some(3)]);
        assert_eq!(settled.acks[0].disposition, Disposition::Stored(None));
        assert_eq!(settled.acks[2].disposition, Disposition::Rejected);
        assert!(matches!(
            settled.acks[3].disposition,
            Disposition::Dead {
                cause: DeadCause::IdConflict,
                ..
            }
        ));
        assert_eq!(settled.acks[0].raw, String::from_utf8(message(1, "a")).unwrap());
        let r = settled.report;
        assert_eq!((r.stored, r.rejected, r.dead, r.retried), (1, 1, 2, 0));
    }

    #[test]
    fn a_failing_user_is_retried_until_its_last_attempt() {
        assert_eq!(after_failure(1, 3, "boom"), Disposition::Retry);
        assert_eq!(after_failure(2, 3, "boom"), Disposition::Retry);
        let last = after_failure(3, 3, "boom");
        assert!(
            matches!(&last, Disposition::Dead { cause: DeadCause::AttemptsExhausted, reason } if reason == "failed 3 times: boom"),
            "{last:?}"
        );
    }
}
