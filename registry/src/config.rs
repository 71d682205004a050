//! Settings shared by both binaries: each is a flag and an environment variable.

use std::path::PathBuf;
use std::time::Duration;

/// How the deployment's Redis is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RedisMode {
    /// One server, or an endpoint that follows the primary (ElastiCache's primary endpoint).
    #[default]
    Standalone,
    /// Sentinels name the primary; `REDIS_URL` lists them.
    Sentinel,
    /// A Redis Cluster; `REDIS_URL` lists seed nodes.
    Cluster,
}

/// Where the queue lives.
#[derive(Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis URL: `redis://[:password@]host:port[/db]`, or `rediss://` for TLS. In `sentinel`
    /// and `cluster` modes, a comma-separated list: the sentinels, or seed nodes of the cluster.
    #[arg(
        long = "redis-url",
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// `standalone`, `sentinel` (REDIS_URL lists sentinels) or `cluster` (REDIS_URL lists
    /// seed nodes of a Redis Cluster).
    #[arg(long = "redis-mode", env = "REDIS_MODE", value_enum, default_value_t = RedisMode::Standalone)]
    pub redis_mode: RedisMode,

    /// The name under which the sentinels monitor the primary (sentinel mode).
    #[arg(
        long = "redis-sentinel-master",
        env = "REDIS_SENTINEL_MASTER",
        default_value = "mymaster"
    )]
    pub redis_sentinel_master: String,

    /// Prefix of every Redis key of this deployment; keys are `{PREFIX}:...` (a cluster hash tag).
    #[arg(long = "key-prefix", env = "KEY_PREFIX", default_value = "users", value_parser = parse_key_prefix)]
    pub key_prefix: String,

    /// PEM file of the CA certificates that a `rediss://` server's certificate must chain to,
    /// instead of the system's and Mozilla's roots (for a private CA).
    #[arg(long = "redis-ca-file", env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// File whose content is the Redis password or auth token (container secrets); overrides a
    /// password in the URL.
    #[arg(long = "redis-password-file", env = "REDIS_PASSWORD_FILE")]
    pub redis_password_file: Option<PathBuf>,
}

impl RedisArgs {
    /// Settings for `url` and `key_prefix`, nothing else set.
    pub fn new(url: impl Into<String>, key_prefix: impl Into<String>) -> Self {
        Self {
            redis_url: url.into(),
            redis_mode: RedisMode::Standalone,
            redis_sentinel_master: "mymaster".into(),
            key_prefix: key_prefix.into(),
            redis_ca_file: None,
            redis_password_file: None,
        }
    }
}

/// Shows the URL without its password.
impl std::fmt::Debug for RedisArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisArgs")
            .field("redis_url", &redact_url(&self.redis_url))
            .field("redis_mode", &self.redis_mode)
            .field("redis_sentinel_master", &self.redis_sentinel_master)
            .field("key_prefix", &self.key_prefix)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("redis_password_file", &self.redis_password_file)
            .finish()
    }
}

/// Where users are stored.
#[derive(Clone, clap::Args)]
pub struct MysqlArgs {
    /// MySQL URL `mysql://user[:password]@host:port/database`; the database is created when missing.
    #[arg(
        long = "mysql-url",
        env = "MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/users",
        hide_env_values = true
    )]
    pub mysql_url: String,

    /// File whose content is the MySQL password (container secrets); overrides a password in the URL.
    #[arg(long = "mysql-password-file", env = "MYSQL_PASSWORD_FILE")]
    pub mysql_password_file: Option<PathBuf>,

    /// Talk to MySQL over TLS only, verifying the server's certificate and host name; a server
    /// without TLS is refused. The URL option `require_ssl=true` does the same.
    #[arg(long = "mysql-require-tls", env = "MYSQL_REQUIRE_TLS")]
    pub mysql_require_tls: bool,

    /// PEM file of the CA certificates that the MySQL server's certificate must chain to,
    /// instead of Mozilla's roots (e.g. the RDS bundle); implies `--mysql-require-tls`.
    #[arg(long = "mysql-ca-file", env = "MYSQL_CA_FILE")]
    pub mysql_ca_file: Option<PathBuf>,
}

impl MysqlArgs {
    /// Settings for `url`, nothing else set.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            mysql_url: url.into(),
            mysql_password_file: None,
            mysql_require_tls: false,
            mysql_ca_file: None,
        }
    }
}

/// Shows the URL without its password.
impl std::fmt::Debug for MysqlArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlArgs")
            .field("mysql_url", &redact_url(&self.mysql_url))
            .field("mysql_password_file", &self.mysql_password_file)
            .field("mysql_require_tls", &self.mysql_require_tls)
            .field("mysql_ca_file", &self.mysql_ca_file)
            .finish()
    }
}

/// How long stored users stay in the Redis cache.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// Seconds a stored user stays in the Redis cache after it is written or read.
    #[arg(long = "cache-ttl", env = "CACHE_TTL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_ttl_secs: u64,
}

impl CacheArgs {
    /// The cache lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_secs)
    }
}

/// Log output.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format: `pretty` or `json` [default: pretty on a terminal, else json].
    #[arg(long = "log-format", env = "LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

/// The two log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

fn parse_key_prefix(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > 64 {
        return Err("the key prefix must be 1 to 64 characters".into());
    }
    if raw.contains(['{', '}']) || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the key prefix must not contain braces, spaces or control characters".into());
    }
    Ok(raw.to_owned())
}

/// The content of a secret's file (a container secret), without its trailing line break.
pub fn read_secret(path: &std::path::Path) -> std::io::Result<String> {
    let secret = std::fs::read_to_string(path)?;
    Ok(secret.trim_end_matches(['\r', '\n']).to_owned())
}

/// Makes aws-lc-rs the process's TLS crypto provider, once. rustls cannot pick one itself
/// when a build enables two (redis uses aws-lc-rs, reqwest ring: a workspace or test build
/// has both), and would panic at the first `rediss://` or MySQL TLS connection.
pub fn install_tls_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The URL with any password replaced by `***` and its query dropped, for logs and errors;
/// a comma-separated list of URLs (Sentinel, Cluster seeds) has each one redacted.
///
/// The URL is read by the `url` crate. A password that is not percent-encoded may hold `/`,
/// `?`, `#` or `@`, which make the parser see a host or path that is really part of the
/// password: so everything between `://` and the last `@` before the path is hidden whatever
/// the parser made of it.
pub fn redact_url(url: &str) -> String {
    // A comma starts the next URL only when a scheme follows it: a password may hold commas.
    let mut urls = Vec::new();
    let mut start = 0;
    for (at, _) in url.match_indices(',') {
        let next = url[at + 1..].trim_start();
        let scheme = next.split("://").next().unwrap_or("");
        if next.contains("://")
            && !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            urls.push(&url[start..at]);
            start = at + 1;
        }
    }
    urls.push(&url[start..]);
    urls.into_iter().map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(raw: &str) -> String {
    let raw = raw.trim();
    let Some((scheme, rest)) = raw.split_once("://") else {
        return "<unparseable url>".into();
    };
    // The userinfo ends at the last '@' of the text: none may follow in a host, port or
    // path that matters for finding a server, and a password may hold every other character.
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let Ok(parsed) = url::Url::parse(&format!("{scheme}://{after}")) else {
        return format!(
            "{scheme}://{}<unparseable host>",
            if userinfo.is_some() { "***@" } else { "" }
        );
    };
    let mut shown = format!("{}://", parsed.scheme());
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => shown.push_str(&format!("{user}:***@")),
            None if parsed.scheme().starts_with("redis") && !userinfo.is_empty() => {
                // `redis://TOKEN@host`: an auth token is easily put where the user name goes.
                shown.push_str("***@");
            }
            None => shown.push_str(&format!("{userinfo}@")),
        }
    }
    shown.push_str(parsed.host_str().unwrap_or(""));
    if let Some(port) = parsed.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(parsed.path());
    shown
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mysql: MysqlArgs,
    }

    #[test]
    fn mysql_tls_is_off_by_default_and_required_by_a_flag() {
        let parse = |args: &[&str]| Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap();
        // (The tests run the binaries with MYSQL_REQUIRE_TLS set: see producer/tests/api/security.rs.)
        assert!(!parse(&[]).mysql.mysql_require_tls);
        assert!(parse(&["--mysql-require-tls"]).mysql.mysql_require_tls);
        let with_ca = parse(&["--mysql-ca-file", "/ca.pem"]).mysql;
        assert_eq!(with_ca.mysql_ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));
    }

    #[test]
    fn redacted_urls_never_show_passwords() {
        let cases = [
            ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
            (
                "mysql://app:s3cret@db:3306/users?ssl-mode=required",
                "mysql://app:***@db:3306/users",
            ),
            ("rediss://default:s3cret@cache", "rediss://default:***@cache"),
            ("mysql://root@127.0.0.1:3306/users", "mysql://root@127.0.0.1:3306/users"),
            ("redis://:pa/ss@host:6379", "redis://:***@host:6379"),
            ("redis://u:p@ss?x#y@host/2", "redis://u:***@host/2"),
            ("redis://s3cret@host", "redis://***@host"),
            (
                "redis://:s3cret@a:26379, redis://:s3cret@b:26379",
                "redis://:***@a:26379,redis://:***@b:26379",
            ),
            ("not a url s3cret", "<unparseable url>"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want);
            assert!(!redact_url(url).contains("s3cret"));
        }
    }

    proptest::proptest! {
        /// Whatever a password holds, encoded or not, the redacted URL shows none of it, and
        /// still names the host and port.
        #[test]
        fn no_password_survives_redaction(
            user in "[a-z]{0,8}",
            password in "[ -~]{6,24}",
            host in "[a-z]{1,10}",
            port in 1u16..,
            encode in proptest::bool::ANY,
            scheme in proptest::sample::select(vec!["redis", "rediss", "mysql"]),
        ) {
            // A password needs a distinctive stretch to be found in the output at all.
            proptest::prop_assume!(!host.contains(&password) && !user.contains(&password));
            let written = if encode {
                url::form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>()
            } else {
                password.clone()
            };
            let url = format!("{scheme}://{user}:{written}@{host}:{port}/0");
            let shown = redact_url(&url);
            proptest::prop_assert!(!shown.contains(&password), "{url} -> {shown}");
            proptest::prop_assert!(!shown.contains(&written), "{url} -> {shown}");
            proptest::prop_assert!(shown.contains(&format!("{host}:{port}")), "{url} -> {shown}");
        }
    }

    #[test]
    fn settings_print_no_password_in_debug() {
        #[derive(Parser, Debug)]
        struct Both {
            #[command(flatten)]
            redis: RedisArgs,
            #[command(flatten)]
            mysql: MysqlArgs,
        }
        let both = Both::try_parse_from([
            "x",
            "--redis-url",
            "redis://:RedisSecret@h:6379",
            "--mysql-url",
            "mysql://app:MysqlSecret@db/users",
        ])
        .unwrap();
        let shown = format!("{both:?} {both:#?}");
        assert!(
            !shown.contains("RedisSecret") && !shown.contains("MysqlSecret"),
            "{shown}"
        );
        assert!(shown.contains("redis://:***@h:6379"), "{shown}");
    }

    #[test]
    fn key_prefixes_cannot_break_the_hash_tag() {
        assert!(parse_key_prefix("users").is_ok());
        for bad in ["", "a{b", "a}b", "a b", &"x".repeat(65)] {
            assert!(parse_key_prefix(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
