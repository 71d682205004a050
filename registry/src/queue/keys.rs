//! Names of every Redis key of a deployment (documented in the README's key table).

use crate::domain::UserId;

/// How many hashes hold each kind of record kept without a TTL ([`Keys::idempotency`],
/// [`Keys::outcomes`]): time is cut into buckets of a quarter of the records' TTL, and a
/// bucket's hash is emptied when its turn comes again (`scripts/ring.lua`).
pub const RING_SLOTS: usize = 5;

/// What the name of a consumer's second processing list adds to its first's.
pub const SECOND_SLOT: &str = ":next";

/// One of a consumer's two processing lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `{prefix}:processing:CONSUMER`.
    First,
    /// `{prefix}:processing:CONSUMER:next`.
    Second,
}

impl Slot {
    /// The other list.
    pub fn other(self) -> Self {
        match self {
            Self::First => Self::Second,
            Self::Second => Self::First,
        }
    }
}

/// Key names under one prefix, each inside the `{prefix}` hash tag.
#[derive(Debug, Clone)]
pub struct Keys {
    tag: String,
}

impl Keys {
    /// Keys for the deployment prefix `prefix` (e.g. `users` gives `{users}:queue`).
    pub fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    /// The `{prefix}` hash tag every key starts with.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// LIST of pending messages: producers LPUSH, consumers take from the right.
    pub fn queue(&self) -> String {
        format!("{}:queue", self.tag)
    }

    /// Prefix of each consumer's LISTs of in-flight messages.
    pub fn processing_prefix(&self) -> String {
        format!("{}:processing:", self.tag)
    }

    /// The LIST of messages one consumer took into `slot` and has not acknowledged yet. A
    /// consumer has two: it takes the next batch into one while it stores the batch in the
    /// other. The second is the first's name followed by [`SECOND_SLOT`].
    pub fn processing(&self, consumer: &str, slot: Slot) -> String {
        match slot {
            Slot::First => format!("{}{consumer}", self.processing_prefix()),
            Slot::Second => format!("{}{consumer}{SECOND_SLOT}", self.processing_prefix()),
        }
    }

    /// ZSET of consumers scored by their lease deadline (ms since the epoch), renewed by heartbeats.
    pub fn consumers(&self) -> String {
        format!("{}:consumers", self.tag)
    }

    /// LIST of dead letters: JSON `{reason, message, attempts, at, consumer}`.
    pub fn dead(&self) -> String {
        format!("{}:dead", self.tag)
    }

    /// HASH id -> message of users accepted and not yet stored or rejected.
    pub fn pending(&self) -> String {
        format!("{}:pending", self.tag)
    }

    /// HASH id -> reason of the users whose message is in the dead-letter list, so that a read
    /// answers `failed`; written with the dead letter, removed by its requeue or purge.
    pub fn failed(&self) -> String {
        format!("{}:failed", self.tag)
    }

    /// HASH id -> failed attempts of messages that failed permanently but may be retried.
    pub fn attempts(&self) -> String {
        format!("{}:attempts", self.tag)
    }

    /// STRING: the last id handed out.
    pub fn last_id(&self) -> String {
        format!("{}:last-id", self.tag)
    }

    /// STRING with TTL: the cached JSON of a stored user.
    pub fn user(&self, id: UserId) -> String {
        format!("{}:user:{id}", self.tag)
    }

    /// STRING: the filter of the lower-cased emails of every user accepted (and so of every
    /// user stored), for the producer's early duplicate check: a scalable Bloom filter that
    /// the enqueue script adds each queued user's email to (`scripts/email_filter.lua`).
    pub fn email_filter(&self) -> String {
        format!("{}:emails:filter", self.tag)
    }

    /// STRING `1`, set once [`Keys::email_filter`] holds every stored email: until then the
    /// producer asks MySQL. A Redis that comes back empty has lost it with the filter.
    pub fn email_filter_loaded(&self) -> String {
        format!("{}:emails:filter:loaded", self.tag)
    }

    /// STRING with a TTL: the token of the producer loading the stored addresses from MySQL
    /// into [`Keys::email_filter`], so that one loads at a time. The one key of the queue's
    /// state that `volatile-lru` may evict: the loader then stops at its next page, and a
    /// later load, perhaps started meanwhile by another producer, adds the emails already
    /// loaded a second time (a slightly fuller filter; none is missed, none marked loaded early).
    pub fn email_filter_loading(&self) -> String {
        format!("{}:emails:filter:loading", self.tag)
    }

    /// The SET of every accepted email and its "loaded" marker, which versions before the
    /// filter kept (one member per stored user, never released): the first complete load of
    /// the filter deletes them.
    pub fn legacy_email_set(&self) -> [String; 2] {
        [format!("{}:emails", self.tag), format!("{}:emails:loaded", self.tag)]
    }

    /// The ring of HASHes token -> what one run of the enqueue script answered (or
    /// `abandoned`), for a producer whose answer was lost (registry::queue::Enqueuer): valid
    /// for 30 s, kept without a TTL so that Redis never evicts one (`scripts/ring.lua`).
    pub fn outcomes(&self) -> [String; RING_SLOTS] {
        self.ring("outcomes")
    }

    /// STRING: a counter the producer increments before a `WAIT` that must cover every earlier
    /// write (a replayed idempotency key, with replica confirmations on).
    pub fn fence(&self) -> String {
        format!("{}:fence", self.tag)
    }

    /// The ring of HASHes `Idempotency-Key` -> `id` and canonical body of its first request:
    /// valid for 24 h, kept without a TTL so that Redis never evicts one (`scripts/ring.lua`).
    pub fn idempotency(&self) -> [String; RING_SLOTS] {
        self.ring("idempotency")
    }

    /// STRING with a 24 h TTL: the record of an `Idempotency-Key` as versions before
    /// [`Keys::idempotency`] kept it. Still read, never written, so that a retry across the
    /// upgrade finds its key; the last is gone 24 h after it. To drop in a later version.
    pub fn legacy_idempotency(&self, key: &str) -> String {
        format!("{}:idem:{key}", self.tag)
    }

    /// The hashes `{prefix}:KIND:0` to `:4` of a ring of records.
    fn ring(&self, kind: &str) -> [String; RING_SLOTS] {
        std::array::from_fn(|slot| format!("{}:{kind}:{slot}", self.tag))
    }
}
