//! The consumer's `/metrics` and its log of each stored user, from the real binary.

use std::time::{Duration, Instant};

use registry::testing::{free_port, metric};

use crate::harness::{Harness, kill};

pub async fn scrape(base: &str) -> String {
    let started = Instant::now();
    loop {
        match reqwest::get(format!("{base}/metrics")).await {
            Ok(resp) if resp.status().is_success() => return resp.text().await.unwrap(),
            _ if started.elapsed() < Duration::from_secs(20) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("the consumer's /metrics never answered: {other:?}"),
        }
    }
}

#[tokio::test]
async fn series_count_what_the_consumer_did_and_its_log_names_each_users_request() {
    let h = Harness::new().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}");
    let log_path = std::env::temp_dir().join(format!("{}-consumer.log", h.prefix));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut consumer = h.spawn_consumer_logging(&["--metrics-listen", &listen], log.into());

    let before = scrape(&base).await;
    assert_eq!(metric(&before, "consumer_batch_size_count"), Some(0.0), "{before}");
    assert_eq!(metric(&before, "consumers_live"), Some(1.0), "its own lease: {before}");

    let users = 300;
    h.push_users(1, users).await;
    h.push(&["not a message".to_owned()]).await;
    h.wait_drained(Duration::from_secs(30)).await;
    let after = scrape(&base).await;
    let value = |series: &str| metric(&after, series).unwrap_or_else(|| panic!("{series} missing:\n{after}"));

    assert_eq!(
        value("consumer_batch_size_sum"),
        (users + 1) as f64,
        "every message taken once"
    );
    assert!(
        value("consumer_batch_size_count") >= 2.0,
        "300 messages need two batches of 256"
    );
    assert_eq!(value("user_time_to_store_seconds_count"), users as f64);
    assert!(value("consumer_persist_duration_seconds_count") >= 2.0);
    assert_eq!(value(r#"consumer_dead_letters_total{reason="undecodable"}"#), 1.0);
    assert_eq!(value(r#"queue_messages{state="pending"}"#), 0.0, "drained");
    assert_eq!(value(r#"queue_messages{state="processing"}"#), 0.0, "acknowledged");
    assert_eq!(value(r#"queue_messages{state="dead"}"#), 1.0);
    assert_eq!(value("consumers_live"), 1.0);
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert_eq!(h.stored().await, users);

    kill(&consumer, "TERM");
    assert!(consumer.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let stored: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "user stored")
        .collect();
    // Lines are written while the next batch runs; a stopping consumer writes them all first.
    assert_eq!(stored.len(), users as usize, "one line per stored user:\n{log}");
    for id in [42, users] {
        let line = stored
            .iter()
            .find(|l| l["user_id"].as_str() == Some(id.to_string().as_str()))
            .unwrap_or_else(|| panic!("no JSON 'user stored' line for user {id} in:\n{log}"));
        assert_eq!(
            line["request_id"],
            format!("req-{id}"),
            "the producer's request id travels with the user"
        );
    }
    h.cleanup().await;
}
