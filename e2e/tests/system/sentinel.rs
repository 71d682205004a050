//! Sentinel mode, and what `REDIS_REPLICA_ACKS` buys: one primary, two replicas, three
//! sentinels; the replicas' links stalled (SIGSTOP) and the consumers behind, then the primary
//! SIGKILLed and a replica promoted.

use std::time::{Duration, Instant};

use e2e::{Consumer, post_named, post_until_accepted};
use producer::testing::{Options, spawn_app_with};
use registry::config::RedisMode;
use registry::testing::SentinelGroup;

/// What one failover cost: users answered 202 while the replicas were stalled, and how many of
/// all the 202s were never stored.
struct Cost {
    acknowledged_during_stall: usize,
    lost: usize,
}

async fn fail_over_with(replica_acks: u32) -> Cost {
    let mut group = SentinelGroup::start();
    let app = spawn_app_with(Options {
        redis_url: Some(group.urls()),
        redis_mode: RedisMode::Sentinel,
        replica_acks,
        replica_ack_timeout_ms: Some(200),
        ..Default::default()
    })
    .await;
    let url = app.url("/api/users");
    let mut acknowledged: Vec<u64> = Vec::new();
    for i in 0..20 {
        let (status, body) = post_named(url.clone(), Some(&format!("before-{i}")), "Before").await;
        assert_eq!(status, 202, "{body}");
        acknowledged.push(body["id"].as_u64().unwrap());
    }

    // The replicas stall (SIGSTOP), and fall behind: a 32 MiB write fills the sockets between
    // them and the primary (a stopped process still receives into its kernel buffers), so what
    // comes after stays in the primary's memory, as when a link is slow or cut. Users keep
    // coming; nobody consumes them.
    for replica in &group.replicas {
        replica.pause();
    }
    let primary = redis::Client::open(group.primary.url()).unwrap();
    let mut direct = primary.get_multiplexed_async_connection().await.unwrap();
    let ballast = format!("{}:ballast", app.keys().tag());
    let _: () = redis::cmd("SET")
        .arg(&ballast)
        .arg(vec![b'x'; 32 << 20])
        .query_async(&mut direct)
        .await
        .unwrap();
    let mut unanswered = Vec::new();
    let stall = Instant::now();
    let mut during = 0;
    let mut i = 0;
    while stall.elapsed() < Duration::from_millis(1500) {
        let key = format!("stalled-{i}");
        let (status, body) = post_named(url.clone(), Some(&key), "Stalled").await;
        match status {
            202 => {
                acknowledged.push(body["id"].as_u64().unwrap());
                during += 1;
            }
            503 => unanswered.push(key),
            other => panic!("{other} {body}"),
        }
        i += 1;
    }
    // The primary dies; the replicas come back and the sentinels promote one.
    let old = group.primary.port();
    group.kill_primary();
    for replica in &group.replicas {
        replica.resume();
    }
    let promoted = Instant::now();
    while group.primary_port() == old {
        assert!(promoted.elapsed() < Duration::from_secs(30), "no replica was promoted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Clients retry what was not answered 202, with the same key, until it is.
    for key in &unanswered {
        let (body, _) = post_until_accepted(&url, key, "Stalled", Duration::from_secs(30)).await;
        acknowledged.push(body["id"].as_u64().unwrap());
    }
    // The consumer starts behind the failover; a take or acknowledgement that meets it fails
    // and is made again, as the consumer binary's loop does.
    let mut pipeline = app.pipeline().await;
    let started = Instant::now();
    loop {
        match pipeline
            .drain(Duration::from_millis(100), &tokio_util::sync::CancellationToken::new())
            .await
        {
            Ok(_)
                if app
                    .state
                    .monitor
                    .stats()
                    .await
                    .is_ok_and(|s| s.pending == 0 && s.processing == 0) =>
            {
                break;
            }
            Ok(_) => {}
            Err(err) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "the consumer never recovered: {err}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let stored = app.stored_count().await as usize;
    let mut db = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    use mysql_async::prelude::Queryable;
    let ids: Vec<u64> = db.query("SELECT id FROM users").await.unwrap();
    let lost = acknowledged.iter().filter(|id| !ids.contains(id)).count();
    assert_eq!(stored, acknowledged.len() - lost, "no row without a 202, none twice");
    eprintln!(
        "REDIS_REPLICA_ACKS={replica_acks}: {} answered 202, {during} of them while the replicas \
         were stalled, {lost} lost",
        acknowledged.len()
    );
    app.cleanup().await;
    Cost {
        acknowledged_during_stall: during,
        lost,
    }
}

#[tokio::test]
async fn with_replica_acks_a_failover_loses_no_202_and_without_them_it_loses_the_stalled_ones() {
    let confirmed = fail_over_with(1).await;
    assert_eq!(
        confirmed.acknowledged_during_stall, 0,
        "no 202 while no replica confirms"
    );
    assert_eq!(confirmed.lost, 0, "every 202 survives the failover");

    let unconfirmed = fail_over_with(0).await;
    assert!(unconfirmed.acknowledged_during_stall > 0);
    assert_eq!(
        unconfirmed.lost, unconfirmed.acknowledged_during_stall,
        "what the primary alone held is gone with it"
    );
}
