//! Throwaway Redis and MariaDB servers for integration tests (feature `testing`).
//!
//! Tests share one Redis and one MariaDB per test binary (or the ones named by
//! `TEST_REDIS_URL`/`TEST_MYSQL_URL`, which the test command starts), each test with its
//! own database and key prefix. Tests that stop or restart a server start their own.
//! Every server started here is killed when its handle drops, and by a watchdog process if
//! the test binary dies first.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A unique lowercase name with a prefix, e.g. for databases and key prefixes.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn work_dir(kind: &str) -> PathBuf {
    let root = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("test-servers");
    let dir = root.join(unique_name(&format!("{kind}-")));
    std::fs::create_dir_all(&dir).expect("creating a test server folder");
    dir
}

/// A TCP port nothing listens on now, and not handed out before by this process.
pub fn free_port() -> u16 {
    // The kernel may offer the same free port twice to two servers picked before either
    // starts; a port is never handed out twice in one test process.
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

fn wait_for_port(port: u16, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn wait_for_port_closed(port: u16, within: Duration) {
    let start = Instant::now();
    while start.elapsed() < within && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills `pid` when this test process exits, even by a crash.
fn watchdog(pid: u32) {
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {pid} 2>/dev/null",
        std::process::id()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// A server process of the tests: its port and folder, stopped cleanly on request and
/// killed (its folder removed) on drop.
struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn new(kind: &str) -> Self {
        Self {
            child: None,
            port: free_port(),
            dir: work_dir(kind),
        }
    }

    /// Spawns `command`, guards it with a watchdog and waits until it accepts connections.
    fn launch(&mut self, mut command: Command, what: &str, within: Duration) {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|_| panic!("{what} must be installed (the test command installs it)"));
        watchdog(child.id());
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, within),
            "{what} did not start; see {}",
            self.dir.display()
        );
    }

    /// SIGTERM, then waits for the process to exit and its port to close.
    fn stop(&mut self, within: Duration) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            let _ = child.wait();
            wait_for_port_closed(self.port, within);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server with AOF persistence in its own folder.
pub struct RedisServer(Server);

impl RedisServer {
    /// Starts a new server on a free port.
    pub fn start() -> Self {
        let mut server = Self(Server::new("redis"));
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }

    /// Starts the server again on the same port and data.
    pub fn start_again(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.0.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(&self.0.dir);
        self.0.launch(command, "redis-server", Duration::from_secs(10));
    }

    /// Stops the server (SIGTERM: it writes its AOF and exits).
    pub fn stop(&mut self) {
        self.0.stop(Duration::from_secs(5));
    }

    /// Stops the server and deletes its data: it comes back empty.
    pub fn restart_empty(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.0.dir);
        std::fs::create_dir_all(&self.0.dir).expect("recreating the redis folder");
        self.start_again();
    }
}

/// A MariaDB server (root without password on 127.0.0.1) in its own folder.
pub struct MariaDb(Server);

impl MariaDb {
    /// Initialises a data folder and starts a server on a free port.
    pub fn start() -> Self {
        let server = Server::new("mariadb");
        let status = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", server.dir.join("data").display()))
            .args(as_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db must be installed (the test command installs it)");
        assert!(status.success(), "mariadb-install-db failed");
        let mut server = Self(server);
        server.start_again();
        server
    }

    /// `mysql://root@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.0.port)
    }

    /// Starts the server again on the same port and data.
    pub fn start_again(&mut self) {
        let bin = ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("mariadbd");
        let dir = &self.0.dir;
        let mut command = Command::new(bin);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", dir.join("mysqld.err").display()))
            .arg(format!("--port={}", self.0.port))
            .args([
                "--bind-address=127.0.0.1",
                "--innodb-buffer-pool-size=128M",
                "--max-connections=500",
            ])
            .args(as_root());
        self.0.launch(command, "MariaDB", Duration::from_secs(60));
    }

    /// Stops the server cleanly.
    pub fn stop(&mut self) {
        self.0.stop(Duration::from_secs(10));
    }
}

fn as_root() -> Vec<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    if root { vec!["--user=root".into()] } else { Vec::new() }
}

/// The Redis URL shared by this test binary's tests.
pub fn shared_redis_url() -> String {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| {
                let server = RedisServer::start();
                let url = server.url();
                std::mem::forget(server); // lives as long as the test binary; the watchdog ends it
                url
            })
        })
        .clone()
}

/// `mysql://root@HOST:PORT/` of the MariaDB shared by this test binary's tests; append a
/// database name.
pub fn shared_mysql_base() -> String {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            std::env::var("TEST_MYSQL_URL")
                .map(|u| format!("{}/", u.trim_end_matches('/')))
                .unwrap_or_else(|_| {
                    let server = MariaDb::start();
                    let url = server.url("");
                    std::mem::forget(server);
                    url
                })
        })
        .clone()
}

/// Prefix of every database a test creates (see [`test_database_name`]).
const TEST_DB_PREFIX: &str = "t_";

/// A new database name for one test.
pub fn test_database_name() -> String {
    unique_name(TEST_DB_PREFIX)
}

/// Drops the test databases that earlier runs left behind on the shared MariaDB. Runs once
/// per test binary; call it before creating a test database there.
pub async fn sweep_test_databases() {
    use mysql_async::prelude::Queryable;
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let mut conn = mysql_async::Conn::from_url(shared_mysql_base())
                .await
                .expect("MariaDB answers");
            let pattern = format!("{}%", TEST_DB_PREFIX.replace('_', "\\_"));
            let dbs: Vec<String> = conn
                .exec(
                    "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
                    (pattern,),
                )
                .await
                .expect("listing databases");
            for db in dbs {
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                    .await
                    .expect("dropping a leftover database");
            }
        })
        .await;
}

/// Drops a test's database (named in `mysql_url`) and deletes its Redis keys.
pub async fn drop_test_data(mysql_url: &str, redis_url: &str, key_prefix: &str) {
    use mysql_async::prelude::Queryable;
    // Connected to the server, not to the database: a test may end before anything created it.
    let (server, db) = mysql_url.rsplit_once('/').expect("the URL names a database");
    let mut conn = mysql_async::Conn::from_url(server).await.expect("MariaDB answers");
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .expect("dropping the test database");
    let client = redis::Client::open(redis_url).expect("a valid Redis URL");
    if let Ok(mut redis) = client.get_multiplexed_async_connection().await {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{key_prefix}}}:*"))
            .query_async(&mut redis)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(keys).query_async(&mut redis).await.unwrap_or(());
        }
    }
}

/// The value of one series in a Prometheus text scrape, named with its labels exactly as
/// exported (`queue_messages{state="pending"}`); `None` when absent.
pub fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}
