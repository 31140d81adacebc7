//! The accept loop: HTTP/1.1 connections with a deadline on request headers, on answers the
//! client does not take in, and caps on open connections (in all and per client), closed with
//! a short linger, drained gracefully on shutdown.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::clients::{ClientAddr, PerClient};
use super::HttpLimits;

/// Largest read buffer of a connection; request headers must fit in it.
const MAX_BUFFER: usize = 64 * 1024;

/// How long connections in flight get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(30);

/// After a connection's last answer, how long what the client still sends is read and thrown
/// away before the socket is closed. A request refused on its headers may still be sending its
/// body; closing at once would reset the connection and the client would lose the answer.
const LINGER: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish (for at most 30 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections()));
    let per_client = PerClient::new(limits.max_connections_per_client());
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let client = ClientAddr::of(peer.ip());
        let Some(client_slot) = per_client.take(client) else {
            tracing::warn!(client = %peer.ip(), "too many open connections from one client: closing a new one");
            drop(stream);
            continue;
        };
        let Ok(slot) = open.clone().try_acquire_owned() else {
            tracing::warn!("too many open connections: closing a new one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // A boxed future, so that the connection can be polled without shutting its socket.
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            let mut app = app.clone();
            // The request limits count requests per client too.
            request.extensions_mut().insert(client);
            Box::pin(async move {
                tower::Service::call(&mut app, request.map(axum::body::Body::new)).await
            })
        });
        let mut closing = closing_rx.clone();
        let header_timeout = limits.header_timeout;
        let send_timeout = limits.body_timeout;
        connections.spawn(async move {
            let _slots = (slot, client_slot);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_BUFFER);
            let stream = StalledWrites::new(stream, send_timeout);
            let mut connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut shutting_down = false;
            let served = loop {
                tokio::select! {
                    result = poll_fn(|cx| connection.poll_without_shutdown(cx)) => break result,
                    // The flag only ever turns true, so any change means shutdown.
                    _ = closing.changed(), if !shutting_down => {
                        shutting_down = true;
                        std::pin::Pin::new(&mut connection).graceful_shutdown();
                    }
                }
            };
            match served {
                Ok(()) => linger(connection.into_parts().io.into_inner().stream).await,
                Err(e) => tracing::debug!(error = %e, "connection ended"),
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after {DRAIN:?}: closing them");
        connections.abort_all();
    }
}

/// Closes our side, then reads and discards what the client still sends, for at most
/// [`LINGER`], before the socket is dropped.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        let mut discard = [0u8; 16 * 1024];
        while let Ok(n) = stream.read(&mut discard).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A connection whose writes fail once one has waited `limit` for the client to take in
/// what was sent. A client that sends requests and never reads the answers would otherwise
/// hold its connection for as long as it likes: hyper bounds reading a request, not writing
/// an answer.
struct StalledWrites {
    stream: TcpStream,
    limit: Duration,
    /// Armed while a write (or flush) is waiting; reset by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StalledWrites {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        StalledWrites {
            stream,
            limit,
            stalled: None,
        }
    }

    /// What a write that returned `poll` means: progress disarms the timer, waiting arms it
    /// (once) and fails past the limit.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took in nothing for {} s", limit.as_secs()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for StalledWrites {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for StalledWrites {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback connection: (server side, client side).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_in_is_cut_off() {
        let (server, _client) = pair().await;
        let mut stream = StalledWrites::new(server, Duration::from_millis(200));
        let chunk = vec![7u8; 64 * 1024];
        let written = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Err(e) = stream.write_all(&chunk).await {
                    break e;
                }
            }
        })
        .await
        .expect("the writes fail once the client's buffers are full");
        assert_eq!(written.kind(), io::ErrorKind::TimedOut, "{written}");
    }

    #[tokio::test]
    async fn a_client_that_reads_slowly_is_served() {
        let (server, mut client) = pair().await;
        let mut stream = StalledWrites::new(server, Duration::from_millis(500));
        let total = 16 * 1024 * 1024;
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut read = 0;
            while read < total {
                // Pauses shorter than the limit between reads.
                tokio::time::sleep(Duration::from_millis(20)).await;
                read += client.read(&mut buf).await.unwrap();
            }
            read
        });
        stream.write_all(&vec![1u8; total]).await.unwrap();
        stream.flush().await.unwrap();
        assert_eq!(reader.await.unwrap(), total);
    }
}
