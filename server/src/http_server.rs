//! The HTTP/1.1 server behind `--web.listen-address`: one task per connection, and a graceful
//! shutdown that stops accepting and lets requests in flight finish.
//!
//! `axum::serve` would do the same with costs that matter when every request comes on a new
//! connection, as from most scripts and `urllib`: it copies the router's whole route table for
//! each connection, reads the first bytes of every connection apart to look for an HTTP/2
//! preface (Prometheus serves only HTTP/1.1 without TLS, as here), and accepts again before
//! the new connection has read its request. Together about a tenth of a trivial query's latency
//! on the benchmark machine.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the task waiting for the next connection needs.
struct Acceptor {
    listener: TcpListener,
    router: Router,
    http: http1::Builder,
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the requests in
/// flight; idle keep-alive connections are closed at once.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let acceptor = Arc::new(Acceptor {
        listener,
        router,
        http: http1::Builder::new(),
    });
    // `true` once shutting down. Every task holds a receiver, so when the sender sees none
    // left, every connection has ended.
    let (stop_sender, stop) = watch::channel(false);
    tokio::spawn(accept_and_serve(acceptor, stop));
    shutdown.await;
    stop_sender.send_replace(true);
    stop_sender.closed().await;
}

/// Waits for a connection, hands the waiting on to a new task, and serves the connection.
///
/// The new task is queued behind this one on this thread, so the request, which has usually
/// arrived with the connection, is read and answered before anything else happens; accepting
/// in a loop would put one more system call before the answer, and yielding to let the
/// connection go first wakes the runtime's other threads.
///
/// Tokio cannot move that queued task to another thread, so a request that would hold this
/// thread for long yields first and lets it run: queries evaluated on the request's thread do
/// (`api::Placement`); everything larger goes to the blocking pool anyway.
fn accept_and_serve(
    acceptor: Arc<Acceptor>,
    mut stop: watch::Receiver<bool>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    // Boxed: a task that spawns its own kind needs a named future type to be `Send`.
    Box::pin(async move {
        let stream = loop {
            tokio::select! {
                accepted = acceptor.listener.accept() => match accepted {
                    Ok((stream, _peer)) => break stream,
                    Err(e) => pause_after_accept_error(e).await,
                },
                () = stopping(&mut stop) => return,
            }
        };
        tokio::spawn(accept_and_serve(acceptor.clone(), stop.clone()));
        let (router, http) = (acceptor.router.clone(), acceptor.http.clone());
        // Only waiting tasks keep the listener open, so it closes as soon as shutdown begins.
        drop(acceptor);
        serve_connection(stream, router, &http, stop).await;
    })
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    http: &http1::Builder,
    mut stop: watch::Receiver<bool>,
) {
    // Go's HTTP server, which Prometheus uses, sends small answers without Nagle's delay.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
    }
    let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        () = stopping(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// Completes once shutdown has begun (at once if it already has).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only after shutdown has begun.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// A failed accept is the peer's problem when the connection was reset before we took it;
/// otherwise (out of file descriptors, mostly) retrying at once would spin, so wait a little,
/// as Go's server does.
async fn pause_after_accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "accepting an HTTP connection failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    /// A server with `/fast` and `/slow` (answers after 300 ms), stopped through the sender.
    async fn start() -> (
        std::net::SocketAddr,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let router = Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow"
                }),
            );
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        (address, stop, server)
    }

    async fn send(address: std::net::SocketAddr, path: &str, close: bool) -> TcpStream {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let connection = if close { "close" } else { "keep-alive" };
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        stream
    }

    async fn read_to_end(mut stream: TcpStream) -> String {
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read answer");
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_connections_are_all_answered() {
        let (address, _stop, _server) = start().await;
        let clients: Vec<_> = (0..64)
            .map(|i| {
                tokio::spawn(async move {
                    let path = if i % 8 == 0 { "/slow" } else { "/fast" };
                    read_to_end(send(address, path, true).await).await
                })
            })
            .collect();
        for (i, client) in clients.into_iter().enumerate() {
            let answer = client.await.expect("client task");
            let body = if i % 8 == 0 { "slow" } else { "fast" };
            assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
            assert!(answer.ends_with(body), "{answer}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
        let (address, stop, server) = start().await;
        let in_flight = send(address, "/slow", true).await;
        // Let the request reach its handler before shutdown begins.
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).expect("server is running");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !server.is_finished(),
            "the server waits for the request in flight"
        );
        let answer = read_to_end(in_flight).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("slow"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops once its request is answered")
            .expect("server task");
        assert!(
            TcpStream::connect(address).await.is_err(),
            "the listener is closed after shutdown"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_keep_alive_connections_do_not_hold_up_shutdown() {
        let (address, stop, server) = start().await;
        let mut idle = send(address, "/fast", false).await;
        let mut first = [0u8; 512];
        let read = idle.read(&mut first).await.expect("first answer");
        let first = String::from_utf8_lossy(&first[..read]).into_owned();
        assert!(first.ends_with("fast"), "{first}");
        stop.send(()).expect("server is running");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops with a connection left open")
            .expect("server task");
        let rest = tokio::time::timeout(Duration::from_secs(5), read_to_end(idle))
            .await
            .expect("the idle connection is closed");
        assert_eq!(rest, "");
    }
}
