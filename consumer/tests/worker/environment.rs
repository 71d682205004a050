//! Faults of the environment, not of a message: a MySQL login refused (a rotated password),
//! a right revoked. The consumer waits them out, says so in `/health/ready`, and dead-letters
//! nothing; a password rotated on disk is picked up without a restart.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use registry::testing::{free_port, metric, shared_mysql_base, unique_name};

use crate::harness::{Harness, kill};

/// Closes every connection the MySQL user has open, as a failover or a rotation does.
async fn cut_connections(root: &mut mysql_async::Conn, user: &str) {
    let ids: Vec<u64> = root
        .exec("SELECT id FROM information_schema.processlist WHERE user = ?", (user,))
        .await
        .unwrap();
    for id in ids {
        let _ = root.query_drop(format!("KILL {id}")).await;
    }
}

/// Waits until `/health/ready` answers `status` with a body that contains `text`.
async fn ready_says(base: &str, status: u16, text: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(resp) = reqwest::get(format!("{base}/health/ready")).await {
            let code = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            if code == status && body.contains(text) {
                return body;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "/health/ready never answered {status} with {text:?}; last {code} {body}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `/health/ready` answers 503 naming `cause`, lets the consumer retry for 3 s
/// more, and checks that it dead-lettered nothing (`why` says why it must not); the body.
async fn waited_out(h: &Harness, base: &str, cause: &str, why: &str) -> String {
    let body = ready_says(base, 503, cause).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.queue.stats().await.unwrap().dead, 0, "{why}");
    body
}

#[tokio::test]
async fn a_refused_login_and_a_revoked_right_are_waited_out_and_dead_letter_nothing() {
    let h = Harness::new().await;
    let db = h.mysql_url.rsplit('/').next().unwrap().to_owned();
    let user = unique_name("env_");
    let mut root = mysql_async::Conn::from_url(shared_mysql_base()).await.unwrap();
    root.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{db}`"))
        .await
        .unwrap();
    root.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'first-password'"))
        .await
        .unwrap();
    root.query_drop(format!("GRANT ALL ON `{db}`.* TO '{user}'@'%'"))
        .await
        .unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name("environment-"));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("mysql-password");
    std::fs::write(&password_file, "first-password\n").unwrap();
    let url = shared_mysql_base().replacen("root@", &format!("{user}@"), 1) + &db;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut consumer = h.spawn_consumer_as(
        &url,
        &[
            "--mysql-password-file",
            password_file.to_str().unwrap(),
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
            "--max-attempts",
            "2",
        ],
        Stdio::null(),
    );
    h.push_users(1, 200).await;
    h.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(h.stored().await, 200);

    // The password is rotated in MySQL and the connections cut; the file still has the old one.
    root.query_drop(format!("ALTER USER '{user}'@'%' IDENTIFIED BY 'second-password'"))
        .await
        .unwrap();
    cut_connections(&mut root, &user).await;
    h.push_users(201, 300).await;
    let body = waited_out(&h, &base, "login refused", "a refused login is no message's fault").await;
    assert!(body.contains("MySQL"), "{body}");
    assert_eq!(h.stored().await, 200);
    // The new password reaches the file: the consumer uses it without a restart.
    std::fs::write(&password_file, "second-password\n").unwrap();
    h.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(h.stored().await, 500);
    ready_says(&base, 200, "\"ready\"").await;

    // A right revoked (as a read-only or full table would refuse writes).
    root.query_drop(format!("REVOKE INSERT ON `{db}`.* FROM '{user}'@'%'"))
        .await
        .unwrap();
    cut_connections(&mut root, &user).await;
    h.push_users(501, 100).await;
    let body = waited_out(&h, &base, "permission denied", "a revoked right is no message's fault").await;
    assert!(body.contains("retrying"), "{body}");
    root.query_drop(format!("GRANT INSERT ON `{db}`.* TO '{user}'@'%'"))
        .await
        .unwrap();
    cut_connections(&mut root, &user).await;
    h.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(h.stored().await, 600);
    assert_eq!(h.queue.stats().await.unwrap().dead, 0);
    let scrape = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let retries = metric(&scrape, r#"consumer_retries_total{cause="mysql"}"#).unwrap_or(0.0);
    assert!(retries > 0.0, "the retries are counted");
    assert_eq!(metric(&scrape, r#"consumer_retries_total{cause="failed"}"#), Some(0.0));

    kill(&consumer, "TERM");
    consumer.wait().unwrap();
    root.query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    h.cleanup().await;
}

#[tokio::test]
async fn a_statement_that_never_ends_is_abandoned_and_a_worker_without_progress_is_not_ready() {
    let h = Harness::new().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut consumer = h.spawn_consumer(&["--metrics-listen", &format!("127.0.0.1:{port}"), "--lease-secs", "3"]);
    h.push_users(1, 100).await;
    h.wait_drained(Duration::from_secs(30)).await;
    ready_says(&base, 200, "\"ready\"").await;

    // Another session holds the table: MySQL answers pings, but the consumer's INSERT waits
    // (for a year, by MySQL's default lock wait) until the lock goes.
    let mut locker = mysql_async::Conn::from_url(h.mysql_url.as_str()).await.unwrap();
    locker.query_drop("LOCK TABLES users WRITE").await.unwrap();
    h.push_users(101, 100).await;
    let body = ready_says(&base, 503, "no progress").await;
    assert!(body.contains("100 messages waiting"), "{body}");
    assert!(body.contains("MySQL: timeout"), "each attempt is abandoned: {body}");
    locker.query_drop("UNLOCK TABLES").await.unwrap();

    h.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(h.stored().await, 200, "every user stored once");
    assert_eq!(h.queue.stats().await.unwrap().dead, 0, "a stall is no message's fault");
    ready_says(&base, 200, "\"ready\"").await;
    kill(&consumer, "TERM");
    consumer.wait().unwrap();
    h.cleanup().await;
}
