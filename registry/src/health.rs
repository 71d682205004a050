//! The `healthcheck` subcommand of both binaries: a tiny HTTP probe of a local endpoint,
//! so container images need no curl.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GETs `path` from `127.0.0.1:port` (HTTP/1.0); true when the status is 2xx.
pub async fn probe(port: u16, path: &str) -> Result<bool, std::io::Error> {
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let head = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(3), request)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 3 s"))??;
    let status_line = String::from_utf8_lossy(&reply);
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    Ok(code.starts_with('2'))
}

/// The port of a `host:port` listen address.
pub fn port_of(listen: &str) -> Option<u16> {
    listen.rsplit_once(':').and_then(|(_, port)| port.parse().ok())
}

/// The `healthcheck` subcommand: Ok when `path` on the local port of `listen` answers 2xx.
pub async fn check(listen: &str, path: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let port = port_of(listen).with_context(|| format!("{listen:?} has no port"))?;
    let healthy = probe(port, path).await.context("probing the local health endpoint")?;
    anyhow::ensure!(healthy, "not ready");
    Ok(())
}

/// Readiness of the two dependencies: `None` when both answer, else a message naming the
/// failed ones (e.g. `"Redis unreachable"`).
pub fn unready(redis_ok: bool, mysql_ok: bool) -> Option<String> {
    let failed: Vec<&str> = [("Redis", redis_ok), ("MySQL", mysql_ok)]
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    (!failed.is_empty()).then(|| format!("{} unreachable", failed.join(" and ")))
}
