//! Server processes of the tests: started on free ports in folders of their own, killed (and
//! their folders removed) when dropped, and by a watchdog if the test binary dies first.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, unique_name};

fn work_dir(kind: &str) -> PathBuf {
    let root = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("test-servers");
    let dir = root.join(unique_name(&format!("{kind}-")));
    std::fs::create_dir_all(&dir).expect("creating a test server folder");
    dir
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

    /// SIGSTOP: the server keeps its sockets open and answers nothing until resumed.
    fn pause(&self) {
        if let Some(child) = &self.child {
            signal(child.id(), "STOP");
        }
    }

    /// SIGCONT after [`Server::pause`].
    fn resume(&self) {
        if let Some(child) = &self.child {
            signal(child.id(), "CONT");
        }
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
            signal(child.id(), "CONT"); // a paused server is killed all the same
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server with AOF persistence in its own folder; beyond a `maxmemory` (none unless a
/// test sets one) it evicts only keys with a TTL, as deployed (`volatile-lru`).
pub struct RedisServer(Server, Option<u16>);

impl RedisServer {
    /// Starts a new server on a free port.
    pub fn start() -> Self {
        let mut server = Self(Server::new("redis"), None);
        server.start_again();
        server
    }

    /// Starts a new server on a free port, a replica of `primary`.
    pub fn start_replica_of(primary: &RedisServer) -> Self {
        let mut server = Self(Server::new("redis-replica"), Some(primary.0.port));
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.0.port
    }

    /// Starts the server again on the same port and data.
    pub fn start_again(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.0.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--appendonly", "yes", "--save", ""])
            .args(["--maxmemory-policy", "volatile-lru"])
            .arg("--dir")
            .arg(&self.0.dir);
        if let Some(primary) = self.1 {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        self.0.launch(command, "redis-server", Duration::from_secs(10));
    }

    /// Stops the server (SIGTERM: it writes its AOF and exits).
    pub fn stop(&mut self) {
        self.0.stop(Duration::from_secs(5));
    }

    /// Waits until `count` replicas are online (synced) with this server, for up to 20 s.
    pub fn wait_replicas(&self, count: usize) {
        poll(Duration::from_secs(20), "replicas to come online", || {
            let info = cli(self.port(), &["INFO", "replication"]);
            (info.matches("state=online").count() >= count)
                .then_some(())
                .ok_or(info)
        });
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.0.pause();
    }

    /// Lets a paused server go on (SIGCONT): it then runs what it was sent meanwhile.
    pub fn resume(&self) {
        self.0.resume();
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

/// A Redis Cluster of three primaries and three replicas (`redis-server --cluster-enabled
/// yes` and `redis-cli --cluster create`), each node in a folder of its own.
pub struct RedisCluster {
    nodes: Vec<Server>,
}

impl RedisCluster {
    /// Starts six nodes on free ports and makes them one cluster; returns once every slot is
    /// served.
    pub fn start() -> Self {
        let mut nodes: Vec<Server> = (0..6)
            .map(|_| {
                let mut node = Server::new("redis-cluster");
                node.port = cluster_port();
                node
            })
            .collect();
        for node in &mut nodes {
            launch_cluster_node(node);
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be installed (the test command installs it)");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes };
        cluster.wait_ok(Duration::from_secs(30));
        cluster
    }

    /// Waits until every node says `cluster_state:ok` and every primary has a replica online.
    fn wait_ok(&self, within: Duration) {
        for node in &self.nodes {
            poll(within, "the cluster to be ok", || {
                let info = cli(node.port, &["CLUSTER", "INFO"]);
                let replication = cli(node.port, &["INFO", "replication"]);
                let synced = replication.contains("role:slave") || replication.contains("state=online");
                (info.contains("cluster_state:ok") && synced)
                    .then_some(())
                    .ok_or(format!("{info}\n{replication}"))
            });
        }
    }

    /// The ports of the nodes that are replicas now.
    pub fn replica_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .map(|n| n.port)
            .filter(|&port| cli(port, &["ROLE"]).starts_with("slave"))
            .collect()
    }

    /// A comma-separated list of seed-node URLs: the replicas only, so that no seed owns the
    /// slot of any deployment and every command must be redirected at least once.
    pub fn seed_urls(&self) -> String {
        self.replica_ports()
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the primary that serves `key`'s slot now.
    pub fn primary_of(&self, key: &str) -> u16 {
        let slot: u16 = cli(self.nodes[0].port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap();
        self.nodes
            .iter()
            .map(|n| n.port)
            .find(|&port| cli(port, &["ROLE"]).starts_with("master") && owns(port, slot))
            .expect("a primary serves every slot")
    }

    /// The port of a replica of the primary on `primary`.
    pub fn replica_of(&self, primary: u16) -> u16 {
        let primary = primary.to_string();
        self.nodes
            .iter()
            .map(|n| n.port)
            .find(|&port| {
                // A replica's ROLE: "slave", its primary's host, then its port.
                let role = cli(port, &["ROLE"]);
                role.starts_with("slave") && role.lines().nth(2).map(str::trim) == Some(primary.as_str())
            })
            .expect("every primary has a replica")
    }

    /// Starts the node on `port` again, on its data and cluster configuration: it rejoins the
    /// cluster (as a replica, when another node took its slots over).
    pub fn restart(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("a node of this cluster");
        launch_cluster_node(node);
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port)
            && let Some(mut child) = node.child.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Calls `ready` every 100 ms until it answers `Ok`, for up to `within`; then fails the test
/// with `what` it waited for and the last answer.
fn poll(within: Duration, what: &str, mut ready: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        let last = match ready() {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(start.elapsed() < within, "timed out waiting for {what}:\n{last}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free port for a cluster node: its cluster bus listens on the port + 10000, which must be
/// a port too (below 65536) and free.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Starts one cluster node (a failover within about 3 s of its primary's death: node timeout
/// 2 s) on its port, data and cluster configuration file.
fn launch_cluster_node(node: &mut Server) {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &node.port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
        .args(["--appendonly", "yes", "--save", ""])
        .args(["--maxmemory-policy", "volatile-lru"])
        .arg("--cluster-config-file")
        .arg(node.dir.join("nodes.conf"))
        .arg("--dir")
        .arg(&node.dir);
    node.launch(command, "redis-server", Duration::from_secs(10));
}

/// Whether the node on `port` serves `slot` (its own line of `CLUSTER NODES`).
fn owns(port: u16, slot: u16) -> bool {
    let nodes = cli(port, &["CLUSTER", "NODES"]);
    nodes.lines().filter(|l| l.contains("myself")).any(|line| {
        line.split_whitespace().skip(8).any(|range| {
            let (low, high) = range.split_once('-').unwrap_or((range, range));
            matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(l), Ok(h)) if (l..=h).contains(&slot))
        })
    })
}

/// `redis-cli -p PORT ARGS...`: its output.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A primary, two replicas and three sentinels (`redis-server --sentinel`) monitoring it as
/// `mymaster`, quick to fail over (down after 1 s).
pub struct SentinelGroup {
    /// The primary at start.
    pub primary: RedisServer,
    /// Its two replicas.
    pub replicas: Vec<RedisServer>,
    sentinels: Vec<Server>,
}

impl SentinelGroup {
    /// Starts the servers and sentinels; returns once the sentinels know the replicas and
    /// each other.
    pub fn start() -> Self {
        let primary = RedisServer::start();
        let replicas = vec![
            RedisServer::start_replica_of(&primary),
            RedisServer::start_replica_of(&primary),
        ];
        let mut sentinels: Vec<Server> = (0..3).map(|_| Server::new("sentinel")).collect();
        for sentinel in &mut sentinels {
            let config = sentinel.dir.join("sentinel.conf");
            std::fs::write(
                &config,
                format!(
                    "port {}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {} 2\n\
                     sentinel down-after-milliseconds mymaster 1000\n\
                     sentinel failover-timeout mymaster 5000\nsentinel parallel-syncs mymaster 2\n",
                    sentinel.port,
                    sentinel.dir.display(),
                    primary.port()
                ),
            )
            .expect("writing a sentinel's configuration");
            let mut command = Command::new("redis-server");
            command.arg(&config).arg("--sentinel");
            sentinel.launch(command, "redis-server --sentinel", Duration::from_secs(10));
        }
        let group = Self {
            primary,
            replicas,
            sentinels,
        };
        for sentinel in &group.sentinels {
            poll(Duration::from_secs(30), "the sentinels to meet", || {
                let replicas = cli(sentinel.port, &["SENTINEL", "REPLICAS", "mymaster"])
                    .matches("name")
                    .count();
                let others = cli(sentinel.port, &["SENTINEL", "SENTINELS", "mymaster"])
                    .matches("name")
                    .count();
                (replicas >= 2 && others >= 2)
                    .then_some(())
                    .ok_or(format!("{replicas} replicas and {others} other sentinels known"))
            });
        }
        group.primary.wait_replicas(2);
        group
    }

    /// The sentinels' URLs, comma-separated (`REDIS_URL` in sentinel mode).
    pub fn urls(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("redis://127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the primary the first sentinel names now.
    pub fn primary_port(&self) -> u16 {
        let addr = cli(
            self.sentinels[0].port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        );
        addr.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .expect("the sentinels name a primary")
    }

    /// SIGKILLs the primary of the start.
    pub fn kill_primary(&mut self) {
        if let Some(mut child) = self.primary.0.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
