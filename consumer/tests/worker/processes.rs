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
