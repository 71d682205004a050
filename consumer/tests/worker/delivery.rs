//! Exactly once, whatever arrives: redelivery, id conflicts, duplicate emails, poison.

use registry::domain::UserId;
use registry::queue::{DeadLetters, Lease, Slot, UserCache};
use tokio_util::sync::CancellationToken;

use crate::harness::Harness;

#[tokio::test]
async fn redelivery_of_the_same_message_stores_one_row() {
    let h = Harness::new().await;
    let msg = Harness::message(7, "req-7", "Seven", Some("seven@example.com"));
    h.push(&[msg.clone(), msg.clone()]).await;
    h.drain().await;
    h.push(&[msg]).await;
    h.drain().await;
    assert_eq!(h.stored().await, 1, "three deliveries, one row");
    let stats = h.queue.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.processing, stats.dead),
        (0, 0, 0),
        "every delivery was acknowledged"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn an_acknowledgement_renews_cached_redelivered_users_and_never_caches_new_ones() {
    let h = Harness::new().await;
    let seven = Harness::message(7, "req-7", "Seven", None);
    h.push(std::slice::from_ref(&seven)).await;
    h.drain().await;
    let key = |id| h.conn.keys().user(UserId::new(id).unwrap());
    let mut redis = h.redis.clone();
    let cached: Option<String> = redis::cmd("GET").arg(key(7)).query_async(&mut redis).await.unwrap();
    assert_eq!(cached, None, "storing a user does not put it in the cache");
    // A reader caches it for 5 s; then the message is delivered again, with a new user.
    let user = h.stored_user(7).await;
    UserCache::new(h.conn.clone())
        .fill(&user, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    h.push(&[seven, Harness::message(8, "req-8", "Eight", None)]).await;
    h.drain().await;
    let ttl: i64 = redis::cmd("TTL").arg(key(7)).query_async(&mut redis).await.unwrap();
    assert!(
        ttl > 5,
        "the redelivered user's cache entry was renewed to CACHE_TTL (ttl {ttl} s)"
    );
    let cached: Option<String> = redis::cmd("GET").arg(key(8)).query_async(&mut redis).await.unwrap();
    assert_eq!(cached, None, "the new user of the same batch is not cached");
    assert_eq!(h.stored().await, 2);
    h.cleanup().await;
}

#[tokio::test]
async fn slots_of_the_count_left_below_zero_by_a_hand_correction_still_take_batches() {
    // A correction by hand (README, `user_counts`) can leave a slot below zero: rows deleted
    // from users are subtracted from one slot, while the consumers had spread them over all.
    let h = Harness::new().await;
    drop(h.store().await);
    h.execute(
        "INSERT INTO user_counts (slot, n) SELECT seq - 1, -1000 FROM seq_1_to_16 ON DUPLICATE KEY UPDATE n = -1000",
    )
    .await;
    h.push_users(1, 300).await;
    tokio::time::timeout(std::time::Duration::from_secs(30), h.drain())
        .await
        .expect("the batches are stored, not retried for ever");
    assert_eq!(h.sql_u64("SELECT COUNT(*) FROM users").await, 300);
    let kept = h
        .sql_u64("SELECT CAST(SUM(n) + 16000 AS UNSIGNED) FROM user_counts")
        .await;
    assert_eq!(kept, 300, "every stored user counted, on top of the correction");
    h.cleanup().await;
}

#[tokio::test]
async fn a_message_whose_id_is_stored_for_another_request_never_overwrites_it() {
    let h = Harness::new().await;
    h.push(&[Harness::message(9, "req-original", "Original", None)]).await;
    h.drain().await;
    h.push(&[Harness::message(9, "req-other", "Overwriter", None)]).await;
    h.drain().await;
    let user = h.stored_user(9).await;
    assert_eq!(user.name, "Original");
    let dead = DeadLetters::new(h.conn.clone()).list(10).await.unwrap();
    assert_eq!(dead.len(), 1, "the conflicting message is dead-lettered");
    assert!(dead[0].reason.contains("another request"), "{}", dead[0].reason);
    h.cleanup().await;
}

#[tokio::test]
async fn a_duplicate_email_is_refused_as_rejected_in_one_batch_and_across_batches() {
    let h = Harness::new().await;
    h.push(&[
        Harness::message(1, "r1", "First", Some("dup@example.com")),
        Harness::message(2, "r2", "Second", Some("DUP@example.com")),
    ])
    .await;
    h.drain().await;
    h.push(&[Harness::message(3, "r3", "Third", Some("Dup@Example.com"))])
        .await;
    h.drain().await;
    assert_eq!(h.stored().await, 1, "one row per email");
    let store = h.store().await;
    for id in [2, 3] {
        let reason = store.find_rejection(UserId::new(id).unwrap()).await.unwrap();
        assert_eq!(
            reason.as_deref(),
            Some("email already registered"),
            "user {id} is rejected with its reason"
        );
    }
    assert_eq!(
        h.queue.stats().await.unwrap().dead,
        0,
        "a rejection is an outcome, not a dead letter"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn a_refused_message_delivered_again_stays_refused_even_when_its_address_was_freed() {
    let h = Harness::new().await;
    h.push(&[Harness::message(1, "r1", "First", Some("taken@example.com"))])
        .await;
    h.drain().await;
    let refused = Harness::message(2, "r2", "Second", Some("taken@example.com"));
    h.push(std::slice::from_ref(&refused)).await;
    h.drain().await;
    // An operator deletes the first user by hand; then the refused message comes again (as
    // after a lost acknowledgement) in a batch with a new user, which would insert it.
    h.execute("DELETE FROM users WHERE id = 1").await;
    h.push(&[refused, Harness::message(3, "r3", "Third", Some("third@example.com"))])
        .await;
    h.drain().await;
    assert_eq!(
        h.sql_u64("SELECT COUNT(*) FROM users WHERE id = 2").await,
        0,
        "the refused user is never stored"
    );
    let reason = h.store().await.find_rejection(UserId::new(2).unwrap()).await.unwrap();
    assert_eq!(reason.as_deref(), Some("email already registered"));
    assert_eq!(h.stored_user(3).await.name, "Third", "the new user beside it is stored");
    h.cleanup().await;
}

#[tokio::test]
async fn poison_messages_reach_the_dead_letter_list_with_reasons_and_can_be_requeued_and_purged() {
    let h = Harness::new().await;
    let poison = vec![
        "not json at all".to_owned(),
        r#"{"v":99,"id":5,"name":"Future","accepted_at":1,"request_id":"r"}"#.to_owned(),
        Harness::message(6, "r6", "   ", None),
    ];
    h.push(&poison).await;
    h.push_users(100, 3).await;
    h.drain().await;
    assert_eq!(h.stored().await, 3, "good messages beside poison are stored");
    let listed = h.cli(&["dead", "list"]);
    let reasons: Vec<String> = listed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{listed}");
    for want in ["undecodable", "version 99", "name must not be empty"] {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "a reason mentions {want:?}: {reasons:?}"
        );
    }
    assert!(h.cli(&["dead", "requeue"]).contains("re-queued 3"));
    assert_eq!(h.queue.stats().await.unwrap().pending, 3);
    h.drain().await;
    assert_eq!(h.queue.stats().await.unwrap().dead, 3, "still poison after a requeue");
    assert!(h.cli(&["dead", "purge"]).contains("purged 3"));
    assert_eq!(h.queue.stats().await.unwrap().dead, 0);
    h.cleanup().await;
}

#[tokio::test]
async fn a_take_moves_the_oldest_messages_first_and_a_leaving_consumer_puts_both_lists_back_in_order() {
    let h = Harness::new().await;
    // More messages than one push of the take script can hold (it pushes by a thousand).
    h.push_users(1, 9_000).await;
    let ids = |batch: &[Vec<u8>]| -> Vec<u64> {
        batch
            .iter()
            .map(|raw| registry::message::Message::decode_bytes(raw).unwrap().id)
            .collect()
    };
    let wait = std::time::Duration::from_millis(10);
    let first = Lease::new(h.conn.clone(), "first").unwrap();
    first.heartbeat(std::time::Duration::from_secs(60)).await.unwrap();
    let taken = first.take(Slot::First, 8_500, wait).await.unwrap();
    assert_eq!(ids(&taken), (1..=8_500).collect::<Vec<_>>(), "the oldest, oldest first");
    let ahead = first.take(Slot::Second, 300, wait).await.unwrap();
    assert_eq!(
        ids(&ahead),
        (8_501..=8_800).collect::<Vec<_>>(),
        "the next batch, in the other list"
    );
    let stats = h.queue.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.processing),
        (200, 8_800),
        "both lists count as processing"
    );
    let held = first.take(Slot::First, 10, wait).await.unwrap();
    assert_eq!(
        held.len(),
        8_500,
        "held messages come back, all of them, before new ones"
    );
    assert_eq!(first.leave().await.unwrap(), 8_800, "both lists go back");
    let all = Lease::new(h.conn.clone(), "second")
        .unwrap()
        .take(Slot::First, 10_000, wait)
        .await
        .unwrap();
    assert_eq!(
        ids(&all),
        (1..=9_000).collect::<Vec<_>>(),
        "put back at the head of the queue, in their order"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn a_take_that_waited_for_the_first_message_keeps_it_in_its_list_with_those_that_followed() {
    let h = Harness::new().await;
    let first = Lease::new(h.conn.clone(), "first").unwrap();
    let waiting = tokio::spawn(async move {
        first
            .take(Slot::First, 10, std::time::Duration::from_secs(5))
            .await
            .unwrap()
    });
    // The take blocks in BLMOVE on the empty queue; the first message wakes it, and the
    // messages queued with it join the batch.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    h.push_users(1, 3).await;
    let batch = waiting.await.unwrap();
    let ids: Vec<u64> = batch
        .iter()
        .map(|raw| registry::message::Message::decode_bytes(raw).unwrap().id)
        .collect();
    assert_eq!(ids.first(), Some(&1), "the message BLMOVE moved comes first: {ids:?}");
    let processing = h.conn.keys().processing("first", Slot::First);
    let held: Vec<String> = redis::cmd("LRANGE")
        .arg(&processing)
        .arg(0)
        .arg(-1)
        .query_async(&mut h.redis.clone())
        .await
        .unwrap();
    assert_eq!(
        held.len(),
        batch.len(),
        "every message of the batch is in the processing list"
    );
    assert_eq!(
        held.last().map(String::as_bytes),
        batch.first().map(Vec::as_slice),
        "the oldest at the list's right end, where the reaper starts"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn messages_left_in_the_processing_list_by_a_lost_reply_are_processed_before_new_ones() {
    // Redis restarted (or the connection dropped) after a take moved messages into this
    // consumer's processing list but before its reply arrived: the consumer never saw them,
    // and the acknowledgement of its next batch empties that list.
    let h = Harness::new().await;
    let mut worker = h.worker().await;
    let held = [
        Harness::message(21, "req-21", "Held one", None),
        Harness::message(22, "req-22", "Held two", None),
    ];
    h.push(&held).await;
    let processing = h.conn.keys().processing(worker.lease().consumer(), Slot::First);
    let queue = h.conn.keys().queue();
    for _ in &held {
        let _: Option<String> = redis::cmd("LMOVE")
            .arg(&queue)
            .arg(&processing)
            .arg("RIGHT")
            .arg("LEFT")
            .query_async(&mut h.redis.clone())
            .await
            .unwrap();
    }
    h.push(&[Harness::message(23, "req-23", "Queued after", None)]).await;

    worker
        .drain(
            std::time::Duration::from_millis(100),
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(h.stored().await, 3, "the held messages are stored, not deleted unseen");
    let stats = h.queue.stats().await.unwrap();
    assert_eq!((stats.pending, stats.processing, stats.dead), (0, 0, 0));
    let pending: u64 = redis::cmd("HLEN")
        .arg(h.conn.keys().pending())
        .query_async(&mut h.redis.clone())
        .await
        .unwrap();
    assert_eq!(pending, 0, "no user reads as pending for ever");
    h.cleanup().await;
}

async fn pending_entries(h: &Harness) -> u64 {
    redis::cmd("HLEN")
        .arg(h.conn.keys().pending())
        .query_async(&mut h.redis.clone())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_is_acknowledged_while_the_next_is_stored_and_at_once_when_none_follows() {
    let h = Harness::new().await;
    let mut worker = h.worker().await; // batches of 64
    // Listed as live, so that the queue's counters read its processing lists.
    let lease = std::time::Duration::from_secs(60);
    worker.lease().heartbeat(lease).await.unwrap();
    h.push_users(1, 100).await;
    let cancel = CancellationToken::new();
    let wait = std::time::Duration::from_millis(10);
    let first = worker.try_process_batch(wait, &cancel).await.unwrap();
    assert_eq!((first.taken, first.stored), (64, 64));
    assert_eq!(h.stored().await, 64, "the first batch is committed");
    let stats = h.queue.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.processing),
        (0, 100),
        "the first batch waits in its list for its acknowledgement, the rest was taken ahead"
    );
    assert_eq!(pending_entries(&h).await, 100, "nobody is acknowledged yet");
    let second = worker.try_process_batch(wait, &cancel).await.unwrap();
    assert_eq!(second.taken, 36);
    let stats = h.queue.stats().await.unwrap();
    assert_eq!(
        (stats.pending, stats.processing),
        (0, 0),
        "the first batch was acknowledged during the second, which nothing followed"
    );
    assert_eq!(pending_entries(&h).await, 0, "every user left the pending hash");
    assert_eq!(h.stored().await, 100);
    // A stopping consumer acknowledges what it stored before it leaves.
    h.push_users(101, 100).await;
    worker.try_process_batch(wait, &cancel).await.unwrap();
    assert_eq!(h.queue.stats().await.unwrap().processing, 100);
    let finished = worker.finish(&cancel).await.unwrap();
    assert_eq!(finished.taken, 36, "the batch taken ahead");
    assert_eq!(h.queue.stats().await.unwrap().processing, 0);
    assert_eq!(h.stored().await, 200);
    h.cleanup().await;
}

#[tokio::test]
async fn a_consumer_that_dies_before_its_first_heartbeat_leaves_nothing_stranded() {
    let h = Harness::new().await;
    h.push_users(1, 50).await;
    // It takes and never beats: the take itself registered its lease, on Redis's clock.
    let ghost = Lease::new(h.conn.clone(), "ghost")
        .unwrap()
        .with_lease(std::time::Duration::from_millis(500));
    assert_eq!(
        ghost
            .take(Slot::First, 20, std::time::Duration::ZERO)
            .await
            .unwrap()
            .len(),
        20
    );
    drop(ghost);
    assert_eq!(
        h.queue.stats().await.unwrap().consumers,
        1,
        "counted live while its lease runs"
    );
    let reaper = Lease::new(h.conn.clone(), "reaper").unwrap();
    assert!(
        reaper.reap().await.unwrap().is_empty(),
        "not reaped before its lease runs out"
    );
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(reaper.reap().await.unwrap(), vec![("ghost".to_owned(), 20)]);
    let stats = h.queue.stats().await.unwrap();
    assert_eq!((stats.pending, stats.processing, stats.consumers), (50, 0, 0));
    h.cleanup().await;
}
