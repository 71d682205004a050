//! `spawn_app()`: a producer on a free port with its own database and Redis key prefix.

use std::sync::Arc;
use std::time::Duration;

use consumer::worker::{Worker, WorkerConfig};
use mysql_async::prelude::Queryable;
use producer::config::Config;
use producer::startup::Application;
use producer::state::AppState;
use registry::config::{CacheArgs, LogArgs, MysqlArgs, RedisArgs};
use registry::queue::{Queue, Timeouts};
use registry::testing::{
    drop_test_data, shared_mysql_base, shared_redis_url, sweep_test_databases, test_database_name, unique_name,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running producer and the handles tests use to look behind it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    pub config: Config,
}

/// How a test wants its producer.
#[derive(Default)]
pub struct Options {
    pub rate_limit: u32,
    pub burst: u32,
    pub redis_url: Option<String>,
    /// `mysql://.../` of a server of the test's own, instead of the shared one.
    pub mysql_base: Option<String>,
    pub trusted_proxies: Vec<&'static str>,
    pub cors: Vec<&'static str>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(opts: Options) -> TestApp {
    sweep_test_databases().await;
    let mysql_base = opts.mysql_base.unwrap_or_else(shared_mysql_base);
    let db = test_database_name();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        redis: RedisArgs {
            redis_url: opts.redis_url.unwrap_or_else(shared_redis_url),
            key_prefix: unique_name("t-"),
            redis_ca_file: None,
        },
        mysql: MysqlArgs {
            mysql_url: format!("{mysql_base}{db}"),
            mysql_password_file: None,
            mysql_require_tls: false,
            mysql_ca_file: None,
        },
        cache: CacheArgs { cache_ttl_secs: 60 },
        log: LogArgs { log_format: None },
        rate_limit: opts.rate_limit,
        rate_limit_burst: opts.burst,
        trusted_proxies: opts.trusted_proxies.iter().map(|p| p.parse().unwrap()).collect(),
        cors_origins: opts.cors.iter().map(|s| s.to_string()).collect(),
    };
    let app = Application::build(config.clone()).await.expect("the producer builds");
    let base = format!("http://{}", app.addr());
    let state = app.state();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        base,
        http: reqwest::Client::new(),
        state,
        config,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_user(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/users"))
            .json(body)
            .send()
            .await
            .expect("POST answers")
    }

    /// POSTs a valid user and returns its id.
    pub async fn add_user(&self, name: &str, email: Option<&str>) -> u64 {
        let resp = self.post_user(&json!({"name": name, "email": email})).await;
        assert_eq!(resp.status(), 202, "a valid user is accepted");
        resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap()
    }

    /// POSTs until Redis answers again (after a restart or an outage), for up to 5 s;
    /// returns the first answer that is not `503`.
    pub async fn post_until_redis_answers(&self, body: &Value) -> (u16, Value) {
        for _ in 0..50 {
            let resp = self.post_user(body).await;
            let status = resp.status().as_u16();
            if status != 503 {
                return (status, resp.json().await.unwrap_or(Value::Null));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the producer never got Redis back");
    }

    /// A connection to this app's Redis, to look behind the producer.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.config.redis.redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("GET answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A worker over this app's queue and database, as a consumer would run it.
    pub async fn worker(&self) -> Worker {
        let redis = &self.config.redis;
        let queue = Queue::connect(&redis.redis_url, &redis.key_prefix, Timeouts::INTERACTIVE).unwrap();
        let opts = registry::store::options(&self.config.mysql.mysql_url, None).unwrap();
        let store = registry::store::Store::connect(opts).await.unwrap();
        let config = WorkerConfig {
            consumer: unique_name("test-consumer-"),
            batch_size: 64,
            max_attempts: 5,
            cache_ttl: Duration::from_secs(60),
        };
        Worker::new(queue, store, config).unwrap()
    }

    /// Runs batches until the queue is empty; returns how many messages were taken.
    pub async fn drain(&self) -> usize {
        let worker = self.worker().await;
        worker
            .drain(Duration::from_millis(100), &CancellationToken::new())
            .await
            .expect("every batch completes")
    }

    /// Rows in the users table.
    pub async fn stored_count(&self) -> u64 {
        let mut conn = mysql_async::Conn::from_url(self.config.mysql.mysql_url.as_str())
            .await
            .unwrap();
        conn.query_first("SELECT COUNT(*) FROM users").await.unwrap().unwrap()
    }

    /// Drops the test's database and Redis keys.
    pub async fn cleanup(self) {
        let (mysql, redis) = (&self.config.mysql, &self.config.redis);
        drop_test_data(&mysql.mysql_url, &redis.redis_url, &redis.key_prefix).await;
    }
}
