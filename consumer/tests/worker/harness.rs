//! A test's own database and key prefix, with helpers to feed and inspect the queue.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use consumer::pipeline::{Pipeline, PipelineConfig};
use mysql_async::prelude::Queryable;
use registry::domain::{StoredUser, UserId};
use registry::message::Message;
use registry::queue::{Connection, Lease, QueueMonitor, Timeouts};
use registry::store::Store;
use registry::testing::{
    drop_test_data, shared_mysql_base, shared_redis_url, sweep_test_databases, test_database_name, unique_name,
};
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub redis_url: String,
    pub mysql_url: String,
    pub prefix: String,
    /// The test's own connection to the queue's keys.
    pub conn: Connection,
    /// The queue's counters.
    pub queue: QueueMonitor,
    pub redis: redis::aio::MultiplexedConnection,
}

impl Harness {
    pub async fn new() -> Self {
        sweep_test_databases().await;
        Self::with(shared_redis_url(), shared_mysql_base()).await
    }

    pub async fn with(redis_url: String, mysql_base: String) -> Self {
        let prefix = unique_name("t-");
        let mysql_url = format!("{mysql_base}{}", test_database_name());
        let conn = Connection::connect(&redis_url, &prefix, Timeouts::INTERACTIVE).unwrap();
        let queue = QueueMonitor::new(conn.clone());
        let redis = redis::Client::open(redis_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Self {
            redis_url,
            mysql_url,
            prefix,
            conn,
            queue,
            redis,
        }
    }

    pub fn message(id: u64, request: &str, name: &str, email: Option<&str>) -> String {
        Message {
            v: 1,
            id,
            name: name.into(),
            email: email.map(Into::into),
            accepted_at: registry::now_millis(),
            request_id: request.into(),
        }
        .encode()
    }

    /// Pushes raw messages as a producer would (queue + pending entry).
    pub async fn push(&self, raw: &[String]) {
        let keys = self.conn.keys();
        let mut pipe = redis::pipe();
        for m in raw {
            pipe.lpush(keys.queue(), m).ignore();
            if let Ok(msg) = Message::decode(m) {
                pipe.hset(keys.pending(), msg.id, m).ignore();
            }
        }
        let () = pipe.query_async(&mut self.redis.clone()).await.unwrap();
    }

    /// Pushes `n` users with ids `first..first+n`.
    pub async fn push_users(&self, first: u64, n: u64) {
        let raw: Vec<String> = (first..first + n)
            .map(|id| Self::message(id, &format!("req-{id}"), &format!("user {id}"), None))
            .collect();
        for chunk in raw.chunks(500) {
            self.push(chunk).await;
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(registry::store::options(&self.mysql_url, None).unwrap())
            .await
            .unwrap()
    }

    /// A lease of a new consumer over this test's queue.
    pub fn lease(&self) -> Lease {
        Lease::new(self.conn.clone(), unique_name("w-")).unwrap()
    }

    pub async fn worker(&self) -> Pipeline {
        let config = PipelineConfig {
            batch_size: 64,
            max_attempts: 3,
            cache_ttl: Duration::from_secs(60),
            statement_timeout: Duration::from_secs(30),
        };
        Pipeline::new(self.lease(), self.store().await, config)
    }

    /// Runs batches until the queue is empty.
    pub async fn drain(&self) {
        let mut worker = self.worker().await;
        worker
            .drain(Duration::from_millis(100), &CancellationToken::new())
            .await
            .unwrap();
    }

    /// A count, or 0 while the consumer has not created the database yet.
    pub async fn sql_u64(&self, sql: &str) -> u64 {
        let Ok(mut conn) = mysql_async::Conn::from_url(self.mysql_url.as_str()).await else {
            return 0;
        };
        conn.query_first(sql).await.ok().flatten().unwrap_or(0)
    }

    /// Runs a statement on the consumer's database, as an operator would by hand.
    pub async fn execute(&self, sql: &str) {
        let mut conn = mysql_async::Conn::from_url(self.mysql_url.as_str()).await.unwrap();
        conn.query_drop(sql).await.unwrap();
        conn.disconnect().await.unwrap();
    }

    /// The stored rows, after checking that the count the consumers keep (`user_counts`,
    /// read by `/api/stats`) says the same.
    pub async fn stored(&self) -> u64 {
        // One statement reads one snapshot: a running consumer may commit between two.
        let Ok(mut conn) = mysql_async::Conn::from_url(self.mysql_url.as_str()).await else {
            return 0;
        };
        let counts: Option<(u64, Option<i64>)> = conn
            .query_first("SELECT (SELECT COUNT(*) FROM users), (SELECT CAST(SUM(n) AS SIGNED) FROM user_counts)")
            .await
            .ok()
            .flatten();
        let _ = conn.disconnect().await;
        let Some((rows, kept)) = counts else {
            return 0;
        };
        assert_eq!(
            kept.unwrap_or(0),
            i64::try_from(rows).unwrap(),
            "the kept count of stored users against the rows"
        );
        rows
    }

    /// The stored user with this id; fails when there is none.
    pub async fn stored_user(&self, id: u64) -> StoredUser {
        let id = UserId::new(id).expect("ids are positive");
        self.store()
            .await
            .find_user(id)
            .await
            .unwrap()
            .expect("the user is stored")
    }

    /// Waits until nothing is queued or in flight, failing after `within`.
    pub async fn wait_drained(&self, within: Duration) {
        let start = Instant::now();
        loop {
            let stats = self.queue.stats().await.unwrap();
            if stats.pending == 0 && stats.processing == 0 {
                return;
            }
            assert!(
                start.elapsed() < within,
                "queue not drained within {within:?}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Starts the real consumer binary on this test's queue and database.
    pub fn spawn_consumer(&self, extra: &[&str]) -> ConsumerProcess {
        self.spawn_consumer_logging(extra, Stdio::null())
    }

    /// Starts the real consumer binary, its JSON log lines going to `log`.
    pub fn spawn_consumer_logging(&self, extra: &[&str], log: Stdio) -> ConsumerProcess {
        self.spawn_consumer_as(&self.mysql_url, extra, log)
    }

    /// Starts the real consumer binary with another MySQL URL (another user of this test's
    /// database), its JSON log lines going to `log`.
    pub fn spawn_consumer_as(&self, mysql_url: &str, extra: &[&str], log: Stdio) -> ConsumerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_consumer"));
        self.consumer_args(&mut command, mysql_url, extra);
        Self::spawn(command, log)
    }

    /// Starts the real consumer binary with its clock moved by `offset` (libfaketime's
    /// `FAKETIME`, e.g. `+120s`), its JSON log lines going to `log`. The library is preloaded
    /// into the consumer itself rather than run through the `faketime` command, which would
    /// stand between the test and the consumer's pid and not pass signals on.
    pub fn spawn_consumer_skewed(&self, offset: &str, extra: &[&str], log: Stdio) -> ConsumerProcess {
        let library = std::path::Path::new(FAKETIME_LIBRARY);
        assert!(
            library.exists(),
            "{FAKETIME_LIBRARY} is missing: apt-get install faketime (scripts/test installs it)"
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_consumer"));
        command.env("LD_PRELOAD", library).env("FAKETIME", offset);
        self.consumer_args(&mut command, &self.mysql_url, extra);
        Self::spawn(command, log)
    }

    fn consumer_args(&self, command: &mut Command, mysql_url: &str, extra: &[&str]) {
        command
            .args([
                "--redis-url",
                &self.redis_url,
                "--mysql-url",
                mysql_url,
                "--key-prefix",
                &self.prefix,
            ])
            .args(["--log-format", "json"])
            .args(if extra.contains(&"--metrics-listen") {
                &[][..]
            } else {
                &["--metrics-listen", "127.0.0.1:0"][..]
            })
            .args(extra);
    }

    fn spawn(mut command: Command, log: Stdio) -> ConsumerProcess {
        command
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .map(ConsumerProcess)
            .expect("the consumer binary starts")
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_consumer"))
            .args(["--redis-url", &self.redis_url, "--key-prefix", &self.prefix])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "consumer {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub async fn cleanup(self) {
        drop_test_data(&self.mysql_url, &self.redis_url, &self.prefix).await;
    }
}

/// libfaketime for multi-threaded programs, as Debian's `faketime` package installs it.
const FAKETIME_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// A consumer process started by a test; killed on drop, so a failing test leaves none behind.
pub struct ConsumerProcess(Child);

impl std::ops::Deref for ConsumerProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ConsumerProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ConsumerProcess {
    fn drop(&mut self) {
        // Already exited and reaped in a passing test: both calls then do nothing.
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
