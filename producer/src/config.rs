//! The producer's settings: each a flag and an environment variable.

use ipnet::IpNet;
use registry::config::{CacheArgs, LogArgs, MysqlArgs, RedisArgs};
use registry::queue::Replication;

/// Command line of the `producer` binary.
#[derive(Debug, clap::Parser)]
#[command(
    name = "producer",
    version,
    about = "HTTP producer of the user registry: accepts users and queues them in Redis."
)]
pub struct Cli {
    /// What to do (default: serve HTTP).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Creates the database, the tables and the application's MySQL user (run once per deploy,
    /// with an admin account in MYSQL_URL / MYSQL_PASSWORD_FILE); needs no Redis.
    Migrate(registry::migration::MigrateArgs),
    /// Exits 0 when the producer listening on LISTEN_ADDR here is ready (for container health checks).
    Healthcheck {
        /// Path to probe.
        #[arg(long, default_value = "/health/ready")]
        url_path: String,
    },
}

/// Settings of the producer.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to serve HTTP on.
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub redis: RedisArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub mysql: MysqlArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cache: CacheArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub log: LogArgs,

    /// Redis replicas that must hold a new user's message before it is answered `202` (Redis's
    /// WAIT, once per enqueue round trip). 0: answered once the primary has it (a failover may
    /// lose the last writes); N >= 1: such a 202 survives the loss of the primary as long as one
    /// of those N replicas is promoted; fewer in time: 503 `not_replicated`.
    #[arg(long = "replica-acks", env = "REDIS_REPLICA_ACKS", default_value_t = 0)]
    pub replica_acks: u32,

    /// How long to wait for those replicas, in milliseconds.
    #[arg(
        long = "replica-ack-timeout-ms",
        env = "REDIS_REPLICA_ACK_TIMEOUT_MS",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(1..=60_000)
    )]
    pub replica_ack_timeout_ms: u64,

    /// Writes per second allowed per client IP; 0 turns the limit off.
    #[arg(long = "rate-limit", env = "RATE_LIMIT_PER_SEC", default_value_t = 20)]
    pub rate_limit: u32,

    /// Writes a client IP may make in a burst.
    #[arg(long = "rate-limit-burst", env = "RATE_LIMIT_BURST", default_value_t = 40)]
    pub rate_limit_burst: u32,

    /// Comma-separated IPs or CIDRs of proxies whose X-Forwarded-For is believed (default: none).
    #[arg(long = "trusted-proxies", env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<IpNet>,

    /// Most client connections open at once; the next waits in the kernel's backlog until one
    /// closes.
    #[arg(long = "max-connections", env = "MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Address of a second listener that serves only `/metrics`, to keep it off the public
    /// one (default: `/metrics` on the HTTP address).
    #[arg(long = "metrics-listen", env = "METRICS_ADDR")]
    pub metrics_listen: Option<String>,

    /// Serve Swagger UI at `/docs` (`false` in production: the OpenAPI document stays at
    /// `/api/openapi.json`).
    #[arg(long = "swagger-ui", env = "SWAGGER_UI", default_value_t = true, action = clap::ArgAction::Set)]
    pub swagger_ui: bool,

    /// Comma-separated origins allowed by CORS, or `*` (default: same origin only).
    #[arg(long = "cors-origins", env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

impl Config {
    /// The replica confirmations each enqueue waits for, if any.
    pub fn replication(&self) -> Option<Replication> {
        (self.replica_acks > 0).then(|| Replication {
            acks: self.replica_acks,
            timeout: std::time::Duration::from_millis(self.replica_ack_timeout_ms),
        })
    }
}

fn parse_net(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is neither an IP address nor a CIDR"))
}
