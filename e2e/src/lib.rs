//! What the system tests (`tests/system`) share: a test producer ([`producer::testing`]) with
//! a consumer's pipeline over the same queue and database.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use consumer::pipeline::{Pipeline, PipelineConfig};
use producer::testing::TestApp;
use registry::queue::{Connection, Lease, Timeouts};
use registry::testing::unique_name;
use tokio_util::sync::CancellationToken;

/// A consumer for a test producer.
#[allow(async_fn_in_trait)]
pub trait Consumer {
    /// A pipeline over this app's queue and database, as a consumer would run it.
    async fn pipeline(&self) -> Pipeline;

    /// Runs batches until the queue is empty; returns how many messages were taken.
    async fn drain(&self) -> usize;
}

impl Consumer for TestApp {
    async fn pipeline(&self) -> Pipeline {
        let conn = Connection::open(&self.config.redis, Timeouts::INTERACTIVE).unwrap();
        let lease = Lease::new(conn, unique_name("test-consumer-")).unwrap();
        let store = registry::store::Store::open(&self.config.mysql).await.unwrap();
        let config = PipelineConfig {
            batch_size: 64,
            max_attempts: 5,
            cache_ttl: Duration::from_secs(60),
            statement_timeout: Duration::from_secs(30),
        };
        Pipeline::new(lease, store, config)
    }

    async fn drain(&self) -> usize {
        self.pipeline()
            .await
            .drain(Duration::from_millis(100), &CancellationToken::new())
            .await
            .expect("every batch completes")
    }
}

/// POSTs a user named `name`, with an `Idempotency-Key` when given one; the status and body.
pub async fn post_named(url: String, key: Option<&str>, name: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).json(&json!({ "name": name }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 503 {
        assert!(resp.headers().get("retry-after").is_some(), "503 carries Retry-After");
    }
    (status, resp.json().await.unwrap())
}

/// Stored users named `name`.
pub async fn stored_named(app: &TestApp, name: &str) -> u64 {
    let mut conn = mysql_async::Conn::from_url(app.config.mysql.mysql_url.as_str())
        .await
        .unwrap();
    conn.exec_first("SELECT COUNT(*) FROM users WHERE name = ?", (name,))
        .await
        .unwrap()
        .unwrap()
}

/// POSTs a user named `name` with the `Idempotency-Key` `key` until the answer is `202`, as a
/// client does after a `503` (which is the only other answer allowed), for up to `within`;
/// the `202`'s body, and how many attempts were refused first.
pub async fn post_until_accepted(url: &str, key: &str, name: &str, within: Duration) -> (Value, u32) {
    let started = std::time::Instant::now();
    let mut refused = 0;
    loop {
        let (status, body) = post_named(url.to_owned(), Some(key), name).await;
        if status == 202 {
            return (body, refused);
        }
        assert_eq!(status, 503, "{body}");
        refused += 1;
        assert!(
            started.elapsed() < within,
            "{name} ({key}) still refused after {within:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
