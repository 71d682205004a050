//! What the system tests (`tests/system`) share: a test producer ([`producer::testing`]) with
//! a consumer's pipeline over the same queue and database.

use std::time::Duration;

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
        let redis = &self.config.redis;
        let conn = Connection::connect(&redis.redis_url, &redis.key_prefix, Timeouts::INTERACTIVE).unwrap();
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
