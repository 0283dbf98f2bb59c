//! Serving HTTP connections: the accept loop, hyper's settings for each connection, and a
//! graceful drain at shutdown. `axum::serve` does the same but offers no way to size hyper's
//! buffers. With ten thousand agents each holding a connection open in a long poll, those
//! buffers are most of the server's memory.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The most hyper buffers of a connection's incoming bytes: the least hyper allows. A request's
/// head must fit (a larger one is refused with 431; 8 KiB is also nginx's default), and the
/// buffer of a connection never grows past it. With the default (about 400 KiB), the buffer
/// doubles to 16 KiB whenever a request arrives while bytes of the previous one are still
/// referenced, which a long poll's connection then keeps for as long as it waits.
const MAX_READ_BUFFER_BYTES: usize = 8192;

/// How long the accept loop pauses after an error that is not about one connection (out of file
/// descriptors, say), rather than spin on it.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish the request it is serving, and returns once all have closed.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    // HTTP/1.1 only, as `axum::serve` without axum's `http2` feature.
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_READ_BUFFER_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                tracing::error!(%error, "cannot accept connections; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        // A clone of the router is one `Arc`; the route table is shared, never rebuilt.
        // The peer's address rides on each request as axum's `ConnectInfo`: refused
        // credentials are counted by client address.
        let service = router
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors about the one connection being accepted, which say nothing about the next.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
