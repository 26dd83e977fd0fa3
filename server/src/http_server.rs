//! The HTTP/1.1 server behind `--web.listen-address`: connections taken by the acceptor
//! thread ([`crate::first_request`]), which answers a connection's first request itself when
//! it is a quick one; everything else served by hyper, one Tokio task per connection; and a
//! graceful shutdown that stops accepting and lets requests in flight finish.
//!
//! `axum::serve` would serve the same router with costs that matter when every request comes
//! on a new connection, as from most scripts and `urllib`: it copies the router's whole route
//! table for each connection, and reads the first bytes of every connection apart to look for
//! an HTTP/2 preface (Prometheus serves only HTTP/1.1 without TLS, as here).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::first_request::{self, BoxFuture, FirstRequests, Replayed};
use crate::request_line::LenientRequestLines;

/// How the server takes connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// Paths whose first request on a connection the acceptor thread answers itself
    /// ([`crate::first_request`]).
    pub first_request_paths: &'static [&'static str],
    /// How long the acceptor thread spins for the next connection after an answer (zero:
    /// never; see [`crate::idle_spin`]).
    pub spin_budget: Duration,
    /// Answers some of those first requests without the router ([`FirstRequests::direct`]).
    pub direct: Option<first_request::Direct>,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits for
/// the requests in flight; idle keep-alive connections are closed at once, and a connection
/// that sends no request headers within 30 seconds is closed (hyper's header read timeout).
/// An error: the acceptor thread could not start.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new());
    // `true` once shutting down. Every connection holds a receiver, so when the sender sees
    // none left, every connection has ended.
    let (stop_sender, stop) = watch::channel(false);
    let serve_rest: Arc<dyn Fn(TcpStream, Bytes) -> BoxFuture + Send + Sync> = {
        let (router, stop) = (router.clone(), stop.clone());
        Arc::new(move |stream, read| {
            Box::pin(serve_connection(
                stream,
                read,
                router.clone(),
                http.clone(),
                stop.clone(),
            ))
        })
    };
    let acceptor = listener.into_std().and_then(|listener| {
        first_request::start(
            listener,
            FirstRequests {
                router,
                paths: options.first_request_paths,
                runtime: tokio::runtime::Handle::current(),
                serve_rest,
                stop: stop.clone(),
                spin: crate::idle_spin::acceptor_spin(options.spin_budget),
                direct: options.direct,
            },
        )
    });
    // Nothing was accepted yet: with no acceptor, nothing is left to wait for.
    let acceptor = acceptor?;
    shutdown.await;
    if tokio::task::spawn_blocking(move || acceptor.stop())
        .await
        .is_err()
    {
        tracing::error!("stopping the HTTP acceptor failed");
    }
    stop_sender.send_replace(true);
    // The loop's own receiver would keep `closed` from ever completing.
    drop(stop);
    stop_sender.closed().await;
    Ok(())
}

/// Serves a connection through hyper; `read` holds its first bytes, already read.
async fn serve_connection(
    stream: TcpStream,
    read: Bytes,
    router: Router,
    http: http1::Builder,
    mut stop: watch::Receiver<bool>,
) {
    let router = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |request| {
        let answer = hyper::service::Service::call(&router, request);
        async move {
            let answer = answer.await;
            crate::idle_spin::note_http_activity();
            answer
        }
    });
    let stream = LenientRequestLines::new(Replayed::new(stream, read));
    let connection = http.serve_connection(TokioIo::new(stream), service);
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    /// A server with `/fast`, `/slow` (answers after 300 ms) and `/busy` (holds its thread for
    /// 400 ms), serving from 50 ms on, stopped through the sender.
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
            )
            .route(
                // Holds its worker thread after yielding once, as a larger query evaluated in
                // place does (`api::Placement`).
                "/busy",
                get(|| async {
                    tokio::task::yield_now().await;
                    std::thread::sleep(Duration::from_millis(400));
                    "busy"
                }),
            );
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            // Connections made meanwhile wait in the listen queue with their requests.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let options = ServeOptions {
                // `/slow` is answered by the acceptor (in a task, as it is not ready at once),
                // the others through hyper, so that Tokio's side is tested too.
                first_request_paths: &["/slow"],
                spin_budget: Duration::ZERO,
                direct: None,
            };
            serve(listener, router, options, async {
                let _ = stopped.await;
            })
            .await
            .expect("serving");
        });
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
    async fn new_connections_are_answered_while_a_request_holds_a_thread() {
        let (address, _stop, _server) = start().await;
        // Connected and sent before the server accepts it, as with a client faster than the
        // server's wake-up: the request is there on the connection's first read.
        let busy = send(address, "/busy", true).await;
        let busy = tokio::spawn(read_to_end(busy));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fast = read_to_end(send(address, "/fast", true).await).await;
        assert!(fast.ends_with("fast"), "{fast}");
        assert!(
            !busy.is_finished(),
            "the new connection was answered while the busy one still held its thread"
        );
        let busy = busy.await.expect("busy client");
        assert!(busy.ends_with("busy"), "{busy}");
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
        assert!(
            TcpStream::connect(address).await.is_err(),
            "the listener is closed as soon as shutdown begins"
        );
        let answer = read_to_end(in_flight).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("slow"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops once its request is answered")
            .expect("server task");
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
