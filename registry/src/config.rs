//! Settings shared by both binaries: each is a flag and an environment variable.

use std::path::PathBuf;
use std::time::Duration;

/// Where the queue lives.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Redis URL: `redis://[:password@]host:port[/db]`, or `rediss://` for TLS.
    #[arg(
        long = "redis-url",
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,

    /// Prefix of every Redis key of this deployment; keys are `{PREFIX}:...` (a cluster hash tag).
    #[arg(long = "key-prefix", env = "KEY_PREFIX", default_value = "users", value_parser = parse_key_prefix)]
    pub key_prefix: String,

    /// PEM file of the CA certificates that a `rediss://` server's certificate must chain to,
    /// instead of the system's and Mozilla's roots (for a private CA).
    #[arg(long = "redis-ca-file", env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
}

/// Where users are stored.
#[derive(Debug, Clone, clap::Args)]
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

/// Makes aws-lc-rs the process's TLS crypto provider, once. rustls cannot pick one itself
/// when a build enables two (redis uses aws-lc-rs, reqwest ring: a workspace or test build
/// has both), and would panic at the first `rediss://` or MySQL TLS connection.
pub fn install_tls_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The URL with any password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparseable url>".into();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // Drop query parameters too: they may carry credentials.
    let path = path.split('?').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{hidden}@{host}{path}")
        }
        None => format!("{scheme}://{authority}{path}"),
    }
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
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want);
            assert!(!redact_url(url).contains("s3cret"));
        }
    }

    #[test]
    fn key_prefixes_cannot_break_the_hash_tag() {
        assert!(parse_key_prefix("users").is_ok());
        for bad in ["", "a{b", "a}b", "a b", &"x".repeat(65)] {
            assert!(parse_key_prefix(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
