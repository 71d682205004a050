//! The real consumer binary under SIGKILL, SIGTERM, a MySQL outage, and competition.

use std::time::{Duration, Instant};

use registry::testing::{MariaDb, free_port, metric, shared_redis_url};

use crate::harness::{Harness, kill};

#[tokio::test]
async fn a_consumer_killed_mid_batch_loses_and_duplicates_nothing() {
    let h = Harness::new().await;
    h.push_users(1, 3000).await;
    let mut victim = h.spawn_consumer(&["--lease-secs", "3", "--batch-size", "50"]);
    let start = Instant::now();
    loop {
        let stats = h.queue.stats().await.unwrap();
        if stats.processing > 0 && h.stored().await > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the consumer never started a batch"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(&victim, "KILL");
    victim.wait().unwrap();
    let in_flight = h.queue.stats().await.unwrap().processing;
    let mut survivor = h.spawn_consumer(&["--lease-secs", "3"]);
    h.wait_drained(Duration::from_secs(60)).await;
    assert_eq!(
        h.stored().await,
        3000,
        "every user stored ({in_flight} were in flight at the kill)"
    );
    assert_eq!(h.sql_u64("SELECT COUNT(DISTINCT id) FROM users").await, 3000);
    kill(&survivor, "TERM");
    survivor.wait().unwrap();
    h.cleanup().await;
}

#[tokio::test]
async fn mysql_down_for_a_while_loses_and_duplicates_nothing() {
    let mut mysql = MariaDb::start();
    let h = Harness::with(shared_redis_url(), mysql.url("")).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let mut consumer = h.spawn_consumer(&["--batch-size", "20", "--metrics-listen", &listen]);
    h.push_users(1, 200).await;
    h.wait_drained(Duration::from_secs(30)).await;
    mysql.stop();
    h.push_users(201, 200).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.queue.stats().await.unwrap().pending + h.queue.stats().await.unwrap().processing > 0,
        "messages wait while MySQL is down"
    );
    mysql.start_again();
    h.wait_drained(Duration::from_secs(60)).await;
    assert_eq!(h.stored().await, 400);
    assert_eq!(
        h.queue.stats().await.unwrap().dead,
        0,
        "an outage is not a reason to dead-letter"
    );
    let scrape = crate::metrics::scrape(&format!("http://{listen}")).await;
    let retries = metric(&scrape, r#"consumer_retries_total{cause="mysql"}"#).unwrap_or(0.0);
    assert!(retries >= 1.0, "the outage shows as MySQL retries:\n{scrape}");
    assert_eq!(metric(&scrape, "user_time_to_store_seconds_count"), Some(400.0));
    kill(&consumer, "TERM");
    assert!(consumer.wait().unwrap().success());
    h.cleanup().await;
}

#[tokio::test]
async fn sigterm_finishes_the_batch_and_exits_zero_within_ten_seconds() {
    let h = Harness::new().await;
    h.push_users(1, 2000).await;
    let mut consumer = h.spawn_consumer(&["--batch-size", "100"]);
    let start = Instant::now();
    while h.stored().await == 0 {
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(&consumer, "TERM");
    let stopping = Instant::now();
    let status = consumer.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "stopped in {:?}",
        stopping.elapsed()
    );
    let stats = h.queue.stats().await.unwrap();
    assert_eq!(stats.processing, 0, "nothing left in flight");
    assert_eq!(
        stats.pending + h.stored().await,
        2000,
        "every user is stored or still queued"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn consumers_whose_clocks_are_minutes_off_are_neither_reaped_nor_miscounted() {
    let h = std::sync::Arc::new(Harness::new().await);
    // A lease of 6 s: heartbeats every 2 s with a deadline 5 s out, so a consumer slowed by a
    // busy machine is not reaped for that (the clocks are what this test is about).
    let extra = ["--lease-secs", "6", "--batch-size", "20"];
    let (ahead_log, behind_log) = (
        std::env::temp_dir().join(registry::testing::unique_name("ahead-")),
        std::env::temp_dir().join(registry::testing::unique_name("behind-")),
    );
    let file = |p: &std::path::Path| std::process::Stdio::from(std::fs::File::create(p).unwrap());
    let mut ahead = h.spawn_consumer_skewed("+120s", &extra, file(&ahead_log));
    let mut behind = h.spawn_consumer_skewed("-120s", &extra, file(&behind_log));
    // Users keep coming for 12 s, two leases long: both consumers stay busy and alive.
    let pusher = {
        let h = h.clone();
        tokio::spawn(async move {
            for i in 0..120 {
                h.push_users(1 + i * 50, 50).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let start = Instant::now();
    let mut seen_both = false;
    loop {
        let stats = h.queue.stats().await.unwrap();
        if stats.consumers == 2 {
            seen_both = true;
        } else if seen_both && stats.pending > 0 {
            panic!("a live consumer was counted dead: {stats:?}");
        }
        if seen_both && pusher.is_finished() && stats.pending == 0 && stats.processing == 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not drained: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.stored().await, 6000);
    for (child, path) in [(&mut ahead, &ahead_log), (&mut behind, &behind_log)] {
        kill(child, "TERM");
        child.wait().unwrap();
        let log = std::fs::read_to_string(path).unwrap();
        assert!(
            log.contains("heartbeat") || log.contains("consumer"),
            "the log was written:\n{log}"
        );
        assert!(!log.contains("silent consumer"), "nobody was reaped:\n{log}");
        let _ = std::fs::remove_file(path);
    }
    std::sync::Arc::into_inner(h)
        .expect("the pusher is done")
        .cleanup()
        .await;
}
