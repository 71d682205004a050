//! Passwords never appear in what the consumer binary prints or serves: logs (JSON and
//! pretty), `--help`, the dead-letter commands, `/health/ready` and `/metrics`.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use registry::testing::{free_port, shared_mysql_base, shared_redis_url, unique_name};

use crate::harness::{Harness, kill};

/// A Redis ACL user and a MySQL user (rights on the harness's database) with their own
/// passwords, and wrong passwords for both.
struct Accounts {
    redis_user: String,
    mysql_user: String,
    secrets: [(&'static str, String); 4],
}

impl Accounts {
    const REDIS: usize = 0;
    const MYSQL: usize = 1;
    const WRONG_REDIS: usize = 2;
    const WRONG_MYSQL: usize = 3;

    async fn create(db: &str) -> Self {
        let accounts = Self {
            redis_user: unique_name("u-"),
            mysql_user: unique_name("u_"),
            secrets: [
                ("the Redis password", unique_name("RedisSecret")),
                ("the MySQL password", unique_name("MysqlSecret")),
                ("a wrong Redis password", unique_name("WrongRedisSecret")),
                ("a wrong MySQL password", unique_name("WrongMysqlSecret")),
            ],
        };
        let mut redis = redis_root().await;
        let () = redis::cmd("ACL")
            .arg(&["SETUSER", &accounts.redis_user, "on"][..])
            .arg(format!(">{}", accounts.secret(Self::REDIS)))
            .arg(&["~*", "&*", "+@all"][..])
            .query_async(&mut redis)
            .await
            .unwrap();
        let mut mysql = mysql_async::Conn::from_url(shared_mysql_base()).await.unwrap();
        mysql
            .query_drop(format!("CREATE DATABASE IF NOT EXISTS `{db}`"))
            .await
            .unwrap();
        for host in ["%", "localhost", "127.0.0.1"] {
            let user = format!("'{}'@'{host}'", accounts.mysql_user);
            let password = accounts.secret(Self::MYSQL);
            mysql
                .query_drop(format!("CREATE USER {user} IDENTIFIED BY '{password}'"))
                .await
                .unwrap();
            mysql
                .query_drop(format!("GRANT ALL ON `{db}`.* TO {user}"))
                .await
                .unwrap();
        }
        accounts
    }

    fn secret(&self, which: usize) -> &str {
        &self.secrets[which].1
    }

    fn redis_url(&self, which: usize) -> String {
        let addr = shared_redis_url().trim_start_matches("redis://").to_owned();
        format!("redis://{}:{}@{addr}", self.redis_user, self.secret(which))
    }

    fn redis_url_without_password(&self) -> String {
        let addr = shared_redis_url().trim_start_matches("redis://").to_owned();
        format!("redis://{}@{addr}", self.redis_user)
    }

    fn mysql_url(&self, db: &str, which: Option<usize>) -> String {
        let addr = shared_mysql_base()
            .trim_start_matches("mysql://root@")
            .trim_end_matches('/')
            .to_owned();
        let auth = match which {
            Some(which) => format!("{}:{}", self.mysql_user, self.secret(which)),
            None => self.mysql_user.clone(),
        };
        format!("mysql://{auth}@{addr}/{db}")
    }

    async fn drop(self) {
        let _: redis::RedisResult<()> = redis::cmd("ACL")
            .arg(&["DELUSER", &self.redis_user][..])
            .query_async(&mut redis_root().await)
            .await;
        let mut mysql = mysql_async::Conn::from_url(shared_mysql_base()).await.unwrap();
        for host in ["%", "localhost", "127.0.0.1"] {
            let _ = mysql
                .query_drop(format!("DROP USER IF EXISTS '{}'@'{host}'", self.mysql_user))
                .await;
        }
    }
}

async fn redis_root() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(shared_redis_url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// The consumer binary with only `env` (and PATH) in its environment.
fn consumer(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consumer"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.envs(env.iter().copied());
    command
}

/// A consumer serving health and metrics on a free port, logging to a file.
struct Running {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Running {
    fn start(env: &[(&str, &str)], log: PathBuf) -> Self {
        let port = free_port();
        let out = File::create(&log).unwrap();
        let child = consumer(env)
            .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn get(&self, path: &str, seen: &mut Vec<(String, String)>) -> u16 {
        let started = Instant::now();
        loop {
            if let Ok(resp) = reqwest::get(format!("{}{path}", self.base)).await {
                let status = resp.status().as_u16();
                seen.push((format!("GET {path} ({status})"), resp.text().await.unwrap()));
                return status;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{path} never answered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stop(mut self) -> String {
        kill(&self.child, "TERM");
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn output_of(command: &mut Command) -> String {
    let out = command.output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn passwords_never_appear_in_the_consumers_logs_help_or_metrics() {
    let h = Harness::new().await;
    let db = h.mysql_url.rsplit('/').next().unwrap().to_owned();
    let accounts = Accounts::create(&db).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name("consumer-secrets-"));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("mysql-password");
    std::fs::write(&password_file, accounts.secret(Accounts::MYSQL)).unwrap();
    let password_file = password_file.to_str().unwrap();
    let redis_ok = accounts.redis_url(Accounts::REDIS);
    let mysql_ok = accounts.mysql_url(&db, Some(Accounts::MYSQL));
    let mut seen: Vec<(String, String)> = Vec::new();

    // Secrets in the URLs, JSON logs at debug level: users are stored.
    let env = [
        ("REDIS_URL", redis_ok.as_str()),
        ("MYSQL_URL", mysql_ok.as_str()),
        ("KEY_PREFIX", h.prefix.as_str()),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
    ];
    let working = Running::start(&env, dir.join("json.log"));
    h.push_users(1, 20).await;
    h.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(h.stored().await, 20);
    assert_eq!(working.get("/health/ready", &mut seen).await, 200);
    assert_eq!(working.get("/metrics", &mut seen).await, 200);
    seen.push(("the JSON log".into(), working.stop()));
    assert!(
        seen.last().unwrap().1.contains(":***@"),
        "the URLs are logged, redacted"
    );

    let mysql_no_password = accounts.mysql_url(&db, None);
    // Both passwords from files (REDIS_PASSWORD_FILE, MYSQL_PASSWORD_FILE), none in a URL.
    let redis_password_file = dir.join("redis-password");
    std::fs::write(&redis_password_file, format!("{}\n", accounts.secret(Accounts::REDIS))).unwrap();
    let redis_user_only = accounts.redis_url_without_password();
    let env = [
        ("REDIS_URL", redis_user_only.as_str()),
        ("REDIS_PASSWORD_FILE", redis_password_file.to_str().unwrap()),
        ("MYSQL_URL", mysql_no_password.as_str()),
        ("MYSQL_PASSWORD_FILE", password_file),
        ("KEY_PREFIX", h.prefix.as_str()),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
    ];
    let from_files = Running::start(&env, dir.join("files.log"));
    h.push_users(21, 20).await;
    h.wait_drained(Duration::from_secs(30)).await;
    assert_eq!(
        h.stored().await,
        40,
        "users are stored with both passwords read from files"
    );
    assert_eq!(from_files.get("/health/ready", &mut seen).await, 200);
    seen.push(("the log with both passwords from files".into(), from_files.stop()));

    // The MySQL password from a file; a wrong Redis password; pretty logs at trace level.
    let redis_wrong = accounts.redis_url(Accounts::WRONG_REDIS);
    let env = [
        ("REDIS_URL", redis_wrong.as_str()),
        ("MYSQL_URL", mysql_no_password.as_str()),
        ("MYSQL_PASSWORD_FILE", password_file),
        ("KEY_PREFIX", h.prefix.as_str()),
        ("LOG_FORMAT", "pretty"),
        ("RUST_LOG", "trace"),
    ];
    let failing = Running::start(&env, dir.join("pretty.log"));
    assert_eq!(failing.get("/health/ready", &mut seen).await, 503);
    failing.get("/metrics", &mut seen).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let log = failing.stop();
    assert!(
        log.contains("authentication failed"),
        "the Redis refusal is logged:\n{log}"
    );
    seen.push(("the pretty log".into(), log));

    // A wrong MySQL password: the consumer waits for MySQL, saying why.
    let mysql_wrong = accounts.mysql_url(&db, Some(Accounts::WRONG_MYSQL));
    let env = [("REDIS_URL", redis_ok.as_str()), ("MYSQL_URL", mysql_wrong.as_str())];
    let waiting = Running::start(&env, dir.join("wrong-mysql.log"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = waiting.stop();
    assert!(log.contains("Access denied"), "{log}");
    seen.push(("the log of a consumer with a wrong MySQL password".into(), log));

    // Help, and the dead-letter commands, with the secrets in the environment.
    let env = [
        ("REDIS_URL", redis_ok.as_str()),
        ("MYSQL_URL", mysql_ok.as_str()),
        ("MYSQL_PASSWORD_FILE", password_file),
        ("KEY_PREFIX", h.prefix.as_str()),
    ];
    for args in [
        &["--help"][..],
        &["-h"],
        &["dead", "--help"],
        &["dead", "list", "--help"],
        &["healthcheck", "--help"],
        &["--version"],
        &["dead", "list"],
    ] {
        seen.push((
            format!("consumer {}", args.join(" ")),
            output_of(consumer(&env).args(args)),
        ));
    }
    let wrong = [("REDIS_URL", redis_wrong.as_str()), ("KEY_PREFIX", h.prefix.as_str())];
    let failed = output_of(consumer(&wrong).args(["dead", "list"]));
    assert!(failed.contains("Error"), "{failed}");
    seen.push(("consumer dead list with a wrong password".into(), failed));
    assert!(
        seen.iter()
            .any(|(p, t)| p == "consumer --help" && t.contains("[env: REDIS_URL]"))
    );

    for (place, text) in &seen {
        for (what, secret) in &accounts.secrets {
            if let Some(line) = text.lines().find(|l| l.contains(secret.as_str())) {
                panic!("{what} appears in {place}:\n{line}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    accounts.drop().await;
    h.cleanup().await;
}
