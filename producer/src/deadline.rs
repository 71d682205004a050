//! Slow, idle and too many clients: a connection must send each request head within
//! [`HEADER_TIMEOUT`] of its first byte, an idle connection is closed after [`IDLE_TIMEOUT`],
//! and at most `--max-connections` are open at once (the next waits in the kernel's backlog
//! until one closes). Why an acceptor does this and not poem or hyper: docs/design.md, "Slow
//! clients".

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Longest time from the first byte of a request head to its end.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time a connection may stay open without sending a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An acceptor whose connections are closed when a client is too slow or idle too long, and
/// that accepts no more than its cap of connections at once.
pub struct SlowClientGuard<A> {
    inner: A,
    open: Arc<Semaphore>,
}

impl<A> SlowClientGuard<A> {
    /// Guards the connections of `inner`, at most `max_connections` open at once.
    pub fn new(inner: A, max_connections: usize) -> Self {
        Self {
            inner,
            open: Arc::new(Semaphore::new(max_connections)),
        }
    }
}

impl<A: Acceptor> Acceptor for SlowClientGuard<A> {
    type Io = Guarded<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let permit = self
            .open
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let mut guarded = Guarded::new(io);
        guarded.permit = Some(permit);
        Ok((guarded, local, remote, scheme))
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No byte of the next request yet: [`IDLE_TIMEOUT`] runs.
    Idle,
    /// Inside a request head: [`HEADER_TIMEOUT`] runs from its first byte.
    Head,
    /// The head is complete: the body and the handler take what they take.
    Handling,
}

/// A connection under [`SlowClientGuard`].
pub struct Guarded<T> {
    inner: T,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// The last bytes read, to find the blank line that ends a head across reads.
    tail: [u8; 4],
    /// This connection's place under the cap, given back when it closes.
    permit: Option<OwnedSemaphorePermit>,
}

impl<T> Guarded<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            tail: [0; 4],
            permit: None,
        }
    }

    fn restart(&mut self, phase: Phase, timeout: Duration) {
        self.phase = phase;
        self.deadline.as_mut().reset(Instant::now() + timeout);
    }

    /// Follows the bytes just read: the first byte starts a head, a blank line ends it.
    fn saw(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.phase == Phase::Idle {
                self.restart(Phase::Head, HEADER_TIMEOUT);
            }
            self.tail = [self.tail[1], self.tail[2], self.tail[3], byte];
            if self.phase == Phase::Head && (&self.tail == b"\r\n\r\n" || self.tail[2..] == *b"\n\n") {
                self.phase = Phase::Handling;
            }
        }
    }

    /// A response is going out: the connection waits for its next request.
    fn answered(&mut self) {
        if self.phase == Phase::Handling {
            self.tail = [0; 4];
            self.restart(Phase::Idle, IDLE_TIMEOUT);
        }
    }
}

impl<T> Guarded<T> {
    /// The error that ends a connection whose deadline has passed, if it has.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.phase == Phase::Handling || self.deadline.as_mut().poll(cx).is_pending() {
            return None;
        }
        let what = match self.phase {
            Phase::Head => "the request head took too long",
            _ => "the connection was idle too long",
        };
        Some(io::Error::new(io::ErrorKind::TimedOut, what))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Checked before reading too, so that a trickle of bytes cannot outrun it.
        if let Some(err) = this.expired(cx) {
            return Poll::Ready(Err(err));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            this.saw(&buf.filled()[before..]);
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.answered();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.answered();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_head_that_stalls_fails_the_read_after_the_header_timeout() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut guarded = Guarded::new(server);
        client.write_all(b"GET /health/li").await.unwrap();
        let mut buf = [0; 64];
        let n = guarded.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET /health/li");
        let started = Instant::now();
        let err = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), HEADER_TIMEOUT, "the head timeout, not the idle one");
    }

    #[tokio::test(start_paused = true)]
    async fn trickling_bytes_does_not_extend_the_head_deadline() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut guarded = Guarded::new(server);
        let started = Instant::now();
        let mut buf = [0; 64];
        let err = loop {
            client.write_all(b"X").await.unwrap();
            match guarded.read(&mut buf).await {
                Ok(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                Err(err) => break err,
            }
        };
        assert_eq!(
            (err.kind(), started.elapsed()),
            (io::ErrorKind::TimedOut, HEADER_TIMEOUT)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_head_is_not_timed_while_it_is_handled() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut guarded = Guarded::new(server);
        let head = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        client.write_all(head).await.unwrap();
        let mut buf = [0; 64];
        guarded.read_exact(&mut buf[..head.len()]).await.unwrap();
        // A slow handler: the read stays pending well past both timeouts.
        let pending = tokio::time::timeout(IDLE_TIMEOUT * 2, guarded.read(&mut buf)).await;
        assert!(pending.is_err(), "no timeout while the request is handled");
        // Once answered, an idle connection is closed after the idle timeout.
        guarded.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let started = Instant::now();
        let err = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!((err.kind(), started.elapsed()), (io::ErrorKind::TimedOut, IDLE_TIMEOUT));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_speaks_is_closed_after_the_idle_timeout() {
        let (_client, server) = tokio::io::duplex(1024);
        let mut guarded = Guarded::new(server);
        let started = Instant::now();
        let err = guarded.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!((err.kind(), started.elapsed()), (io::ErrorKind::TimedOut, IDLE_TIMEOUT));
    }
}
