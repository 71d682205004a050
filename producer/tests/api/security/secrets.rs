//! Passwords never appear in what the producer prints or answers: logs (JSON and pretty, at
//! debug and trace level), error bodies, `--help`, `/metrics`, start-up errors.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use registry::testing::{shared_mysql_base, shared_redis_url, unique_name};
use serde_json::json;

use super::{TempDir, producer, spawn_producer, wait_for};

/// A Redis ACL user and a MySQL user with their own passwords on the shared servers, and
/// wrong passwords for both; dropped at the end.
struct Accounts {
    redis_user: String,
    redis_password: String,
    mysql_user: String,
    mysql_password: String,
    wrong_redis_password: String,
    wrong_mysql_password: String,
    redis_addr: String,
    mysql_addr: String,
    db: String,
    key_prefix: String,
}

impl Accounts {
    async fn create() -> Self {
        let redis_addr = shared_redis_url().trim_start_matches("redis://").to_owned();
        let base = shared_mysql_base();
        let mysql_addr = base
            .trim_start_matches("mysql://root@")
            .trim_end_matches('/')
            .to_owned();
        let accounts = Self {
            redis_user: unique_name("u-"),
            redis_password: unique_name("RedisSecret"),
            mysql_user: unique_name("u_"),
            mysql_password: unique_name("MysqlSecret"),
            wrong_redis_password: unique_name("WrongRedisSecret"),
            wrong_mysql_password: unique_name("WrongMysqlSecret"),
            redis_addr,
            mysql_addr,
            db: unique_name("t_"),
            key_prefix: unique_name("t-"),
        };
        let mut redis = accounts.redis_root().await;
        let () = redis::cmd("ACL")
            .arg(&["SETUSER", &accounts.redis_user, "on"][..])
            .arg(format!(">{}", accounts.redis_password))
            .arg(&["~*", "&*", "+@all"][..])
            .query_async(&mut redis)
            .await
            .unwrap();
        let mut mysql = mysql_async::Conn::from_url(base).await.unwrap();
        mysql
            .query_drop(format!("CREATE DATABASE `{}`", accounts.db))
            .await
            .unwrap();
        for host in ["%", "localhost", "127.0.0.1"] {
            let user = format!("'{}'@'{host}'", accounts.mysql_user);
            mysql
                .query_drop(format!(
                    "CREATE USER {user} IDENTIFIED BY '{}'",
                    accounts.mysql_password
                ))
                .await
                .unwrap();
            mysql
                .query_drop(format!("GRANT ALL ON `{}`.* TO {user}", accounts.db))
                .await
                .unwrap();
        }
        accounts
    }

    async fn redis_root(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(shared_redis_url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    fn redis_url(&self, password: &str) -> String {
        format!("redis://{}:{password}@{}", self.redis_user, self.redis_addr)
    }

    fn mysql_url(&self, password: Option<&str>) -> String {
        let auth = match password {
            Some(password) => format!("{}:{password}", self.mysql_user),
            None => self.mysql_user.clone(),
        };
        format!("mysql://{auth}@{}/{}", self.mysql_addr, self.db)
    }

    /// Every password of the test, named.
    fn secrets(&self) -> [(&'static str, &str); 4] {
        [
            ("the Redis password", &self.redis_password),
            ("the MySQL password", &self.mysql_password),
            ("a wrong Redis password", &self.wrong_redis_password),
            ("a wrong MySQL password", &self.wrong_mysql_password),
        ]
    }

    async fn drop(self) {
        let mut redis = self.redis_root().await;
        let _: redis::RedisResult<()> = redis::cmd("ACL")
            .arg(&["DELUSER", &self.redis_user][..])
            .query_async(&mut redis)
            .await;
        let mut mysql = mysql_async::Conn::from_url(shared_mysql_base()).await.unwrap();
        for host in ["%", "localhost", "127.0.0.1"] {
            let _ = mysql
                .query_drop(format!("DROP USER IF EXISTS '{}'@'{host}'", self.mysql_user))
                .await;
        }
        let _ = mysql.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.db)).await;
    }
}

/// What the test saw, by where it saw it.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.0.push((place.into(), text.into()));
    }

    async fn get(&mut self, http: &reqwest::Client, url: &str) -> u16 {
        let resp = http.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        self.add(format!("GET {url} ({status})"), resp.text().await.unwrap());
        status
    }

    async fn post(&mut self, http: &reqwest::Client, base: &str, body: serde_json::Value) -> u16 {
        let resp = http.post(format!("{base}/api/users")).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        self.add(
            format!("POST {base}/api/users {body} ({status})"),
            resp.text().await.unwrap(),
        );
        status
    }

    fn text_of(&self, place: &str) -> &str {
        self.0.iter().find(|(p, _)| p == place).map_or("", |(_, t)| t.as_str())
    }

    fn assert_no_secret(&self, accounts: &Accounts) {
        for (place, text) in &self.0 {
            for (what, secret) in accounts.secrets() {
                if let Some(line) = text.lines().find(|l| l.contains(secret)) {
                    panic!("{what} appears in {place}:\n{line}");
                }
            }
        }
    }
}

/// Runs the producer to its end (start-up errors), at most 20 s.
async fn run_to_exit(dir: &TempDir, name: &str, env: &[(&str, &str)]) -> String {
    let (proc, _) = spawn_producer(dir, name, env);
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !proc.output().is_empty() && proc.output().contains("Error") {
            break;
        }
    }
    proc.stop()
}

#[tokio::test]
async fn passwords_never_appear_in_logs_errors_help_or_metrics() {
    let accounts = Accounts::create().await;
    let dir = TempDir::new("secrets");
    let password_file = dir.path("mysql-password");
    std::fs::write(&password_file, format!("{}\n", accounts.mysql_password)).unwrap();
    let http = reqwest::Client::new();
    let mut seen = Seen::default();
    let (redis_ok, redis_wrong) = (
        accounts.redis_url(&accounts.redis_password),
        accounts.redis_url(&accounts.wrong_redis_password),
    );
    let mysql_in_url = accounts.mysql_url(Some(&accounts.mysql_password));
    let mysql_no_password = accounts.mysql_url(None);
    let password_file = password_file.to_str().unwrap();
    let prefix = accounts.key_prefix.as_str();

    // Secrets in the URLs, JSON logs at debug level, and a full round of requests.
    let env = [
        ("REDIS_URL", redis_ok.as_str()),
        ("MYSQL_URL", mysql_in_url.as_str()),
        ("KEY_PREFIX", prefix),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
        ("RATE_LIMIT_PER_SEC", "0"),
    ];
    let (good, base) = spawn_producer(&dir, "json", &env);
    wait_for(&format!("{base}/health/ready"), 200, &good, Duration::from_secs(30)).await;
    assert_eq!(
        seen.post(&http, &base, json!({"name": "Ada", "email": "ada@example.com"}))
            .await,
        202
    );
    assert_eq!(
        seen.post(&http, &base, json!({"name": "Ada", "email": "not an email"}))
            .await,
        422
    );
    assert_eq!(seen.post(&http, &base, json!({"name": 5})).await, 400);
    seen.get(&http, &format!("{base}/api/users/1")).await;
    seen.get(&http, &format!("{base}/api/users?limit=5")).await;
    seen.get(&http, &format!("{base}/api/stats")).await;
    seen.get(&http, &format!("{base}/health/ready")).await;
    let metrics = format!("{base}/metrics");
    assert_eq!(seen.get(&http, &metrics).await, 200, "the producer exports /metrics");
    seen.add("the JSON log", good.stop());
    let json_log = seen.text_of("the JSON log");
    assert!(
        json_log.contains("user queued") && json_log.contains(":***@"),
        "{json_log}"
    );

    // The password from a file, a wrong Redis password: 503s, pretty logs at trace level.
    let env = [
        ("REDIS_URL", redis_wrong.as_str()),
        ("MYSQL_URL", mysql_no_password.as_str()),
        ("MYSQL_PASSWORD_FILE", password_file),
        ("KEY_PREFIX", prefix),
        ("LOG_FORMAT", "pretty"),
        ("RUST_LOG", "trace"),
    ];
    let (failing, base) = spawn_producer(&dir, "pretty", &env);
    wait_for(&format!("{base}/health/live"), 200, &failing, Duration::from_secs(30)).await;
    assert_eq!(seen.post(&http, &base, json!({"name": "Bob"})).await, 503);
    assert_eq!(seen.get(&http, &format!("{base}/health/ready")).await, 503);
    seen.get(&http, &format!("{base}/api/users/1")).await;
    seen.get(&http, &format!("{base}/api/stats")).await;
    seen.get(&http, &format!("{base}/metrics")).await;
    seen.add("the pretty log", failing.stop());
    let log = seen.text_of("the pretty log");
    assert!(
        log.contains("authentication failed"),
        "the Redis refusal is logged:\n{log}"
    );

    // A wrong MySQL password: the producer waits for MySQL, logging why.
    let mysql_wrong = accounts.mysql_url(Some(&accounts.wrong_mysql_password));
    let env = [("REDIS_URL", redis_ok.as_str()), ("MYSQL_URL", mysql_wrong.as_str())];
    let (waiting, _) = spawn_producer(&dir, "wrong-mysql", &env);
    tokio::time::sleep(Duration::from_secs(3)).await;
    seen.add("the log of a producer with a wrong MySQL password", waiting.stop());
    let log = seen.text_of("the log of a producer with a wrong MySQL password");
    assert!(log.contains("Access denied"), "{log}");

    // URLs that do not parse, with a password in them: start-up errors.
    let bad_redis = format!("redis://u:{}@127.0.0.1:notaport", accounts.redis_password);
    let bad_mysql = format!("mysql://u:{}@127.0.0.1:notaport/db", accounts.mysql_password);
    for (name, env) in [
        (
            "bad-redis-url",
            [("REDIS_URL", bad_redis.as_str()), ("MYSQL_URL", mysql_in_url.as_str())],
        ),
        (
            "bad-mysql-url",
            [("REDIS_URL", redis_ok.as_str()), ("MYSQL_URL", bad_mysql.as_str())],
        ),
    ] {
        let output = run_to_exit(&dir, name, &env).await;
        assert!(output.contains("Error"), "{name}: {output}");
        seen.add(format!("the start-up error of {name}"), output);
    }

    // --help and --version with every secret in the environment.
    let env = [
        ("REDIS_URL", redis_ok.as_str()),
        ("MYSQL_URL", mysql_in_url.as_str()),
        ("MYSQL_PASSWORD_FILE", password_file),
    ];
    for args in [&["--help"][..], &["-h"], &["healthcheck", "--help"], &["--version"]] {
        let out = producer(&env).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        seen.add(format!("producer {}", args.join(" ")), text);
    }
    assert!(
        seen.text_of("producer --help").contains("[env: REDIS_URL]"),
        "values are hidden"
    );

    seen.assert_no_secret(&accounts);
    accounts.drop().await;
}
