//! Several producers and consumers at once, each as its binary runs it (in this process).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use producer::startup::Application;
use registry::config::{CacheArgs, LogArgs, MysqlArgs, RedisArgs};
use registry::queue::{Connection, QueueMonitor, Timeouts};
use registry::testing::{
    drop_test_data, shared_mysql_base, shared_redis_url, sweep_test_databases, test_database_name, unique_name,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Rows of `sql`'s single number.
async fn count(mysql_url: &str, sql: &str) -> u64 {
    let mut conn = mysql_async::Conn::from_url(mysql_url).await.unwrap();
    conn.query_first(sql).await.unwrap().unwrap_or(0)
}

#[tokio::test]
async fn two_producers_and_two_consumers_store_every_accepted_user_exactly_once() {
    sweep_test_databases().await;
    let redis = RedisArgs::new(shared_redis_url(), unique_name("t-"));
    let mysql = MysqlArgs {
        mysql_url: format!("{}{}", shared_mysql_base(), test_database_name()),
        mysql_password_file: None,
        mysql_require_tls: false,
        mysql_ca_file: None,
    };
    let mut producers = Vec::new();
    for _ in 0..2 {
        let config = producer::config::Config {
            listen: "127.0.0.1:0".into(),
            redis: redis.clone(),
            mysql: mysql.clone(),
            cache: CacheArgs { cache_ttl_secs: 60 },
            log: LogArgs { log_format: None },
            rate_limit: 0,
            rate_limit_burst: 0,
            trusted_proxies: vec![],
            cors_origins: vec![],
            metrics_listen: None,
            swagger_ui: true,
            max_connections: 4096,
            replica_acks: 0,
            replica_ack_timeout_ms: 500,
        };
        let app = Application::build(config).await.unwrap();
        producers.push(format!("http://{}", app.addr()));
        tokio::spawn(app.run_until_stopped(std::future::pending()));
    }
    let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let config = consumer::config::Config {
                redis: redis.clone(),
                mysql: mysql.clone(),
                cache: CacheArgs { cache_ttl_secs: 60 },
                log: LogArgs { log_format: None },
                metrics_listen: "127.0.0.1:0".into(),
                batch_size: 32,
                max_attempts: 5,
                lease_secs: 30,
            };
            tokio::spawn(consumer::startup::run_until(config, stop.clone(), abandon.clone()))
        })
        .collect();
    let http = reqwest::Client::new();
    let producers = Arc::new(producers);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (http, producers) = (http.clone(), producers.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..100 {
                let base = &producers[(worker + i) % 2];
                let email = format!("u{worker}-{i}@example.com");
                let resp = http
                    .post(format!("{base}/api/users"))
                    .json(&json!({"name": format!("u{worker}-{i}"), "email": email}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 202);
                ids.push(resp.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
            }
            ids
        }));
    }
    let mut accepted = HashSet::new();
    for task in tasks {
        accepted.extend(task.await.unwrap());
    }
    assert_eq!(accepted.len(), 800, "800 distinct ids accepted");

    let monitor = QueueMonitor::new(Connection::open(&redis, Timeouts::INTERACTIVE).unwrap());
    let start = Instant::now();
    loop {
        let stats = monitor.stats().await.unwrap();
        if stats.pending == 0 && stats.processing == 0 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not drained: {stats:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(&mysql.mysql_url, "SELECT COUNT(*) FROM users").await,
        800,
        "exactly the accepted users are stored"
    );
    assert_eq!(
        count(&mysql.mysql_url, "SELECT COUNT(DISTINCT id) FROM users").await,
        800
    );
    stop.cancel();
    for consumer in consumers {
        consumer.await.unwrap().expect("a consumer stops cleanly");
    }
    drop_test_data(&mysql.mysql_url, &redis.redis_url, &redis.key_prefix).await;
}
