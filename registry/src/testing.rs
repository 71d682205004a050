//! Throwaway Redis and MariaDB servers for integration tests (feature `testing`).
//!
//! Tests share one Redis and one MariaDB per test binary (or the ones named by
//! `TEST_REDIS_URL`/`TEST_MYSQL_URL`, which the test command starts), each test with its
//! own database and key prefix. Tests that stop or restart a server start their own.
//! Every server started here is killed when its handle drops, and by a watchdog process if
//! the test binary dies first.

mod endpoint;
mod servers;

use std::sync::OnceLock;

pub use endpoint::MovingEndpoint;
pub use servers::{MariaDb, RedisCluster, RedisServer, SentinelGroup, cli as redis_cli};

/// A unique lowercase name with a prefix, e.g. for databases and key prefixes.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
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

/// The Redis URL shared by this test binary's tests.
pub fn shared_redis_url() -> String {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER
        .get_or_init(|| from_env_or_started("TEST_REDIS_URL", RedisServer::start, RedisServer::url))
        .clone()
}

/// Seed-node URLs (comma-separated, none owning a test's slot) of the Redis Cluster shared by
/// this test binary's tests: `TEST_REDIS_CLUSTER_URL`, or one started here.
pub fn shared_redis_cluster_urls() -> String {
    static CLUSTER: OnceLock<String> = OnceLock::new();
    CLUSTER
        .get_or_init(|| from_env_or_started("TEST_REDIS_CLUSTER_URL", RedisCluster::start, RedisCluster::seed_urls))
        .clone()
}

/// The environment variable `var`, or the address of servers started now, which live as long
/// as the test binary (the watchdogs end them).
fn from_env_or_started<S>(var: &str, start: impl FnOnce() -> S, address: impl FnOnce(&S) -> String) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        let servers = start();
        let address = address(&servers);
        std::mem::forget(servers);
        address
    })
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
    if redis_url.contains(',') {
        // A cluster's seed nodes: KEYS goes to every primary, and the keys share a slot.
        let client = redis::cluster::ClusterClient::new(redis_url.split(',').collect::<Vec<_>>())
            .expect("valid Redis Cluster URLs");
        if let Ok(mut redis) = client.get_async_connection().await {
            delete_keys(&mut redis, key_prefix).await;
        }
    } else if let Ok(mut redis) = redis::Client::open(redis_url)
        .expect("a valid Redis URL")
        .get_multiplexed_async_connection()
        .await
    {
        delete_keys(&mut redis, key_prefix).await;
    }
}

/// Deletes every key of the deployment `key_prefix` (best effort).
async fn delete_keys(redis: &mut impl redis::aio::ConnectionLike, key_prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{key_prefix}}}:*"))
        .query_async(redis)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(keys).query_async(redis).await.unwrap_or(());
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
