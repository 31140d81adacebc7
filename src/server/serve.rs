//! The accept loop: HTTP/1.1 connections with a deadline on request headers and a cap on
//! open connections, closed with a short linger, drained gracefully on shutdown.

use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

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
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: back off rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = open.clone().try_acquire_owned() else {
            tracing::warn!("too many open connections: closing a new one");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // A boxed future, so that the connection can be polled without shutting its socket.
        let service = hyper::service::service_fn(move |request| {
            let mut app = app.clone();
            Box::pin(async move {
                tower::Service::call(&mut app, request.map(axum::body::Body::new)).await
            })
        });
        let mut closing = closing_rx.clone();
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_BUFFER);
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
                Ok(()) => linger(connection.into_parts().io.into_inner()).await,
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
