//! The data path on a Redis Cluster of three primaries and three replicas, reached through seed
//! nodes that are all replicas (none owns the deployment's slot: every command is redirected).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use e2e::{Consumer, post_named, post_until_accepted, stored_named};
use producer::testing::{Options, TestApp, spawn_app_with};
use registry::config::RedisMode;
use registry::queue::{DeadLetters, Lease, Slot};
use registry::testing::shared_redis_cluster_urls;

async fn cluster_app(replica_acks: u32) -> TestApp {
    spawn_app_with(Options {
        redis_url: Some(shared_redis_cluster_urls()),
        redis_mode: RedisMode::Cluster,
        replica_acks,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn users_are_queued_read_stored_cached_and_counted_on_a_cluster() {
    let app = cluster_app(1).await;
    let url = app.url("/api/users");
    let (status, body) = post_named(url.clone(), Some("ada"), "Ada").await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_u64().unwrap();
    let (status, again) = post_named(url.clone(), Some("ada"), "Ada").await;
    assert_eq!(
        (status, again["id"].as_u64()),
        (202, Some(id)),
        "the same key answers the same id"
    );
    let resp = app
        .post_user(&json!({"name": "Grace", "email": "grace@example.com"}))
        .await;
    assert_eq!(resp.status(), 202);

    let (_, pending) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(
        (pending["status"].as_str(), pending["source"].as_str()),
        (Some("pending"), Some("queue"))
    );
    let (_, stats) = app.get_json("/api/stats").await;
    assert_eq!(stats["queue"]["pending"], 2, "{stats}");

    assert_eq!(app.drain().await, 2);
    let (_, stored) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(
        (stored["status"].as_str(), stored["source"].as_str()),
        (Some("stored"), Some("database"))
    );
    let (_, cached) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(cached["source"], "cache");
    let resp = app
        .post_user(&json!({"name": "Grace again", "email": "GRACE@example.com"}))
        .await;
    assert_eq!(resp.status(), 409, "the early email check works on the cluster");
    let stats = app.stats_showing(|s| s["users"] == 2).await;
    assert_eq!(
        (stats["users"].as_u64(), stats["queue"]["pending"].as_u64()),
        (Some(2), Some(0)),
        "{stats}"
    );
    assert_eq!(stored_named(&app, "Ada").await, 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_dead_consumers_messages_are_reaped_and_dead_letters_read_failed_on_a_cluster() {
    let app = cluster_app(0).await;
    for i in 0..5 {
        app.add_user(&format!("user {i}"), None).await;
    }
    // A consumer takes them and dies: its lease runs out and another one's reaper puts them back.
    let dying = Lease::new(app.connection(), "dying")
        .unwrap()
        .with_lease(Duration::from_millis(300));
    let taken = dying.take(Slot::First, 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(taken.len(), 5);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reaper = Lease::new(app.connection(), "reaper").unwrap();
    let reaped = reaper.reap().await.unwrap();
    assert_eq!(reaped, vec![("dying".to_owned(), 5)]);
    assert_eq!(app.drain().await, 5);
    assert_eq!(app.stored_count().await, 5);

    // A user whose name the table can no longer hold is dead-lettered, reads failed, and is
    // stored after the column is widened and the letter requeued.
    let mut db = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    db.query_drop("ALTER TABLE users MODIFY name VARCHAR(6) NOT NULL")
        .await
        .unwrap();
    let id = app.add_user("Katherine", None).await;
    app.drain().await;
    let (_, failed) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    db.query_drop("ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL")
        .await
        .unwrap();
    assert_eq!(DeadLetters::new(app.connection()).requeue(10).await.unwrap(), 1);
    assert_eq!(app.drain().await, 1);
    let (_, stored): (u16, Value) = app.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(stored["status"], "stored");
    app.cleanup().await;
}

/// Posts `count` users 10 ms apart, each with its own `Idempotency-Key`, retrying each until
/// `202` as a client does; returns each key's id, and how many attempts were refused.
async fn post_all(url: String, prefix: &'static str, count: usize) -> (Vec<(String, u64)>, u32) {
    let mut ids = Vec::with_capacity(count);
    let mut refused = 0;
    for i in 0..count {
        let key = format!("{prefix}-{i}");
        let (body, refusals) = post_until_accepted(&url, &key, "Failover", Duration::from_secs(30)).await;
        ids.push((key, body["id"].as_u64().unwrap()));
        refused += refusals;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (ids, refused)
}

#[tokio::test]
async fn every_202_is_stored_once_while_the_slots_primary_fails_over_twice() {
    let mut cluster = registry::testing::RedisCluster::start();
    let app = spawn_app_with(Options {
        redis_url: Some(cluster.seed_urls()),
        redis_mode: RedisMode::Cluster,
        replica_acks: 1,
        ..Default::default()
    })
    .await;
    let tag = app.keys().tag().to_owned();
    let stop = tokio_util::sync::CancellationToken::new();
    let consumer = {
        let mut pipeline = app.pipeline().await;
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                // A take or an acknowledgement that meets the failover fails; the next one
                // goes on, as the consumer binary's loop does.
                let _ = pipeline
                    .drain(Duration::from_millis(100), &tokio_util::sync::CancellationToken::new())
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let writers: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|prefix| tokio::spawn(post_all(app.url("/api/users"), prefix, 500)))
        .collect();

    // 1: a manual failover, as for maintenance.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let first = cluster.primary_of(&tag);
    let promoted = cluster.replica_of(first);
    assert!(registry::testing::redis_cli(promoted, &["CLUSTER", "FAILOVER"]).contains("OK"));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while cluster.primary_of(&tag) != promoted {
        assert!(
            std::time::Instant::now() < deadline,
            "the manual failover never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 2: the new primary dies; its replica (the old primary) takes over on its own.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "the load still runs at the kill"
    );
    cluster.kill(promoted);
    // Its replica takes over with no replica of its own: with REDIS_REPLICA_ACKS=1 nothing can
    // be confirmed (503 not_replicated) until the dead node comes back as one, as a replaced
    // node would.
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.restart(promoted);

    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for writer in writers {
        let (ids, refusals) = writer.await.unwrap();
        acknowledged.extend(ids);
        refused += refusals;
    }
    assert_eq!(acknowledged.len(), 1500);
    assert!(
        refused > 0,
        "the kill was felt: attempts refused until the replica took over"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while app.stored_count().await < 1500 {
        assert!(
            std::time::Instant::now() < deadline,
            "not every 202 was stored: {}",
            app.stored_count().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    consumer.await.unwrap();
    let mut db = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    let stored: Vec<u64> = db.query("SELECT id FROM users ORDER BY id").await.unwrap();
    let mut expected: Vec<u64> = acknowledged.iter().map(|(_, id)| *id).collect();
    expected.sort_unstable();
    assert_eq!(stored, expected, "every 202 stored exactly once, and nothing else");
    app.cleanup().await;
}
