//! Idempotency records kept without a TTL (docs/design.md, "Records without a TTL"): each
//! holds for exactly its TTL in a ring of hashes of bounded size, and the earlier versions'
//! records are still read.

use std::time::{Duration, Instant};

use redis::AsyncCommands;

use e2e::post_named;
use producer::testing::spawn_app;
use registry::message::MessageTail;
use registry::queue::{EnqueueRequest, Enqueued, Enqueuer};

#[tokio::test]
async fn a_key_recorded_by_an_earlier_version_still_answers_its_id_and_queues_nothing() {
    let app = spawn_app().await;
    let mut redis = app.redis().await;
    let record = "42\n[\"Ada\",null]"; // as earlier versions kept it: a string with a TTL
    let () = redis
        .set_ex(app.keys().legacy_idempotency("earlier"), record, 3600)
        .await
        .unwrap();
    let (status, body) = post_named(app.url("/api/users"), Some("earlier"), "Ada").await;
    assert_eq!((status, body["id"].as_u64()), (202, Some(42)), "{body}");
    // The enqueue script reads it too (a key first recorded between the check and the push).
    let tail = MessageTail {
        name: "Ada",
        email: None,
        accepted_at: 0,
        request_id: "earlier",
    };
    let request = EnqueueRequest::new(&tail, Some(("earlier", "[\"Ada\",null]")), None, false);
    let enqueued = Enqueuer::new(app.connection()).enqueue(&request, 0).await.unwrap();
    assert!(
        matches!(&enqueued, Enqueued::Known(r) if r.id.get() == 42),
        "{enqueued:?}"
    );
    assert_eq!(app.state.monitor.stats().await.unwrap().pending, 0, "nothing queued");
    app.cleanup().await;
}

#[tokio::test]
async fn an_idempotency_record_holds_for_its_ttl_and_the_ring_keeps_at_most_five_quarters_of_it() {
    let app = spawn_app().await;
    let ttl = Duration::from_secs(2); // buckets of 500 ms
    let ms = Duration::from_millis(5); // Redis's clock in whole ms, against ours
    let enqueuer = Enqueuer::new(app.connection()).with_idempotency_ttl(ttl);
    let tail = MessageTail {
        name: "Ada",
        email: None,
        accepted_at: 0,
        request_id: "ring",
    };
    // One key written every 50 ms for 2.5 TTLs, each between two instants; the first one is
    // looked up after each: known while surely younger than the TTL, unknown once surely older.
    let mut written: Vec<(String, Instant, Instant)> = Vec::new();
    let started = Instant::now();
    while started.elapsed() < ttl * 5 / 2 {
        let key = format!("ring-{}", written.len());
        let before = Instant::now();
        let request = EnqueueRequest::new(&tail, Some((&key, "[\"Ada\",null]")), None, false);
        let enqueued = enqueuer.enqueue(&request, 0).await.unwrap();
        assert!(matches!(enqueued, Enqueued::New(_)), "{key}: {enqueued:?}");
        written.push((key, before, Instant::now()));
        let (first, before, after) = &written[0];
        let asked = Instant::now();
        let known = enqueuer.idempotency_record(first).await.unwrap().is_some();
        if before.elapsed() + ms < ttl {
            assert!(known, "{first} forgotten {:?} after it was written", after.elapsed());
        } else if asked.duration_since(*after) > ttl + ms {
            assert!(
                !known,
                "{first} still known {:?} after it was written",
                before.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The hashes hold every record of the last 4 buckets before the last write, and none
    // older than 5.
    let mut redis = app.redis().await;
    let mut held = 0;
    for key in app.keys().idempotency() {
        let fields: usize = redis.hlen(&key).await.unwrap();
        held += fields.saturating_sub(1); // the field of the hash's bucket
    }
    let (_, last_before, last_after) = written[written.len() - 1];
    let surely_held = written
        .iter()
        .filter(|(_, before, _)| last_after.duration_since(*before) + ms < ttl)
        .count();
    let maybe_held = written
        .iter()
        .filter(|(_, _, after)| last_before.saturating_duration_since(*after) <= ttl * 5 / 4 + ms)
        .count();
    assert!(
        (surely_held..=maybe_held).contains(&held),
        "{held} records held, of {} written: {surely_held} within the TTL, {maybe_held} within 5/4 of it",
        written.len()
    );
    app.cleanup().await;
}
