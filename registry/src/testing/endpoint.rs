//! An endpoint that follows the primary, as ElastiCache's primary endpoint, a DNS name or a
//! proxy with a role check does: new connections go to the server it points at now, while
//! connections opened before stay with the server they reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// A TCP endpoint on 127.0.0.1 forwarding each new connection to the port it points at; its
/// accept loop runs on the current runtime until the endpoint is dropped.
pub struct MovingEndpoint {
    port: u16,
    target: Arc<AtomicU16>,
    accepting: tokio::task::JoinHandle<()>,
}

impl MovingEndpoint {
    /// An endpoint pointing at `target` (a port on 127.0.0.1).
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the endpoint");
        let port = listener.local_addr().expect("the endpoint's address").port();
        let target = Arc::new(AtomicU16::new(target));
        let to = target.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let port = to.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            port,
            target,
            accepting,
        }
    }

    /// `redis://127.0.0.1:PORT` of the endpoint.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends the connections opened from now on to `target`.
    pub fn point_to(&self, target: u16) {
        self.target.store(target, Ordering::SeqCst);
    }
}

impl Drop for MovingEndpoint {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
