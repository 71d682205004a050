//! `spawn_app()`: a producer on a free port with its own database and Redis key prefix, for
//! the tests of this crate and of the system (feature `testing`).

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use registry::config::{CacheArgs, LogArgs, MysqlArgs, RedisArgs, RedisMode};
use registry::email_loader::EmailLoader;
use registry::queue::{Connection, EmailIndex, Keys, Timeouts};
use registry::store::Store;
use registry::testing::{
    drop_test_data, shared_mysql_base, shared_redis_url, sweep_test_databases, test_database_name, unique_name,
};
use serde_json::{Value, json};

use crate::config::Config;
use crate::startup::Application;
use crate::state::AppState;

/// A running producer and the handles tests use to look behind it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the `/metrics` listener, when it has one of its own.
    pub metrics_base: Option<String>,
    /// A client for it.
    pub http: reqwest::Client,
    /// Its shared state.
    pub state: Arc<AppState>,
    /// Its settings.
    pub config: Config,
}

/// How a test wants its producer.
#[derive(Default)]
pub struct Options {
    /// Writes per second per client IP (0: off).
    pub rate_limit: u32,
    /// Burst of the rate limit.
    pub burst: u32,
    /// A Redis of the test's own, instead of the shared one.
    pub redis_url: Option<String>,
    /// How that Redis is laid out (`redis_url` then lists sentinels or cluster nodes).
    pub redis_mode: RedisMode,
    /// `mysql://.../` of a server of the test's own, instead of the shared one.
    pub mysql_base: Option<String>,
    /// Trusted proxies.
    pub trusted_proxies: Vec<&'static str>,
    /// CORS origins.
    pub cors: Vec<&'static str>,
    /// Serve `/metrics` on a second listener of its own (see [`TestApp::metrics_base`]).
    pub metrics_listener: bool,
    /// Turn Swagger UI (`/docs`) off.
    pub no_swagger_ui: bool,
    /// A cap of open connections other than the default.
    pub max_connections: Option<u32>,
    /// MySQL settings of the test's own (e.g. another user), instead of a new database on
    /// the shared server; the test then drops its database itself.
    pub mysql: Option<MysqlArgs>,
    /// Replicas each enqueue must be confirmed by (`--replica-acks`).
    pub replica_acks: u32,
    /// Their timeout in ms, when not the default.
    pub replica_ack_timeout_ms: Option<u64>,
}

/// A producer with the default options.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// A producer with `opts`, its own database and key prefix, on a free port.
pub async fn spawn_app_with(opts: Options) -> TestApp {
    sweep_test_databases().await;
    let mysql_base = opts.mysql_base.unwrap_or_else(shared_mysql_base);
    let db = test_database_name();
    let config = Config {
        listen: "127.0.0.1:0".into(),
        redis: RedisArgs {
            redis_mode: opts.redis_mode,
            ..RedisArgs::new(opts.redis_url.unwrap_or_else(shared_redis_url), unique_name("t-"))
        },
        mysql: opts
            .mysql
            .unwrap_or_else(|| MysqlArgs::new(format!("{mysql_base}{db}"))),
        cache: CacheArgs { cache_ttl_secs: 60 },
        log: LogArgs { log_format: None },
        rate_limit: opts.rate_limit,
        rate_limit_burst: opts.burst,
        trusted_proxies: opts.trusted_proxies.iter().map(|p| p.parse().unwrap()).collect(),
        cors_origins: opts.cors.iter().map(|s| s.to_string()).collect(),
        metrics_listen: opts.metrics_listener.then(|| "127.0.0.1:0".to_owned()),
        swagger_ui: !opts.no_swagger_ui,
        max_connections: opts.max_connections.unwrap_or(4096),
        replica_acks: opts.replica_acks,
        replica_ack_timeout_ms: opts.replica_ack_timeout_ms.unwrap_or(500),
    };
    let app = Application::build(config.clone()).await.expect("the producer builds");
    let base = format!("http://{}", app.addr());
    let metrics_base = app.metrics_addr().map(|addr| format!("http://{addr}"));
    let state = app.state();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        base,
        metrics_base,
        http: reqwest::Client::new(),
        state,
        config,
    }
}

impl TestApp {
    /// The URL of `path` on this producer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` to `/api/users`.
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

    /// GETs `path`: the status and the JSON body (null when not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("GET answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET /api/stats` until `shows` holds, for as long as an answer may be kept
    /// ([`registry::stats::MAX_AGE`]) and a little more: the last answer either way.
    pub async fn stats_showing(&self, shows: impl Fn(&Value) -> bool) -> Value {
        let asked = std::time::Instant::now();
        loop {
            let (_, stats) = self.get_json("/api/stats").await;
            if shows(&stats) || asked.elapsed() > registry::stats::MAX_AGE + Duration::from_millis(500) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:PORT` of the producer.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends raw bytes on a new connection and returns what the server answers until it
    /// closes the connection (or `within` passes).
    pub async fn raw_exchange(&self, request: &[u8], within: Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr()).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Fails unless the producer still answers `/health/live`.
    pub async fn assert_still_serving(&self) {
        let (status, body) = self.get_json("/health/live").await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("ok")),
            "the server still serves"
        );
    }

    /// A connection of the test's own to this app's Redis keys.
    pub fn connection(&self) -> Connection {
        Connection::open(&self.config.redis, Timeouts::INTERACTIVE).unwrap()
    }

    /// This app's Redis keys.
    pub fn keys(&self) -> Keys {
        Keys::new(&self.config.redis.key_prefix)
    }

    /// The accepted emails of this app's deployment.
    pub fn email_index(&self) -> EmailIndex {
        EmailIndex::new(self.connection())
    }

    /// A loader of the stored emails into this app's Redis, as the producer runs it.
    pub async fn email_loader(&self) -> Arc<EmailLoader> {
        let opts = registry::store::options(&self.config.mysql.mysql_url, None).unwrap();
        EmailLoader::new(self.email_index(), Store::connect(opts).await.unwrap())
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
