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
