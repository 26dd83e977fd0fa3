//! The acceptor thread: it takes each new connection and answers its first request itself
//! when that request is a quick one, without Tokio or hyper.
//!
//! Most clients of the query API open a connection per request (scripts, `urllib`, `curl`,
//! alerting tools). Through Tokio, such a request costs a registration with epoll, a
//! wake-up of a worker for the connection and another for its bytes, hyper's connection
//! state, and a deregistration: on the benchmark machine about 50 us more from request to
//! answer than here, which is more than the whole evaluation of a small query. This thread
//! works as a plain C server does: it waits for a connection on the listener (spinning for
//! a moment after each, see [`crate::idle_spin`]), reads the request that arrives with it,
//! and, for a path listed in
//! [`FirstRequests::paths`] with its whole head and body read, calls the router and polls
//! the answer once; or, for a request [`FirstRequests::direct`] takes (a plain `GET` of a
//! query), calls the endpoint without the router; or, for a plain instant query (one whose
//! answer depends on its URL query string alone, see `plain_query`), has it answered from
//! that query string before any request is built ([`Direct::instant`]). An answer ready at
//! once is written from here, with the head hyper would write (same header order, `date`,
//! `content-length`, `connection: close`).
//!
//! Everything else goes on in Tokio, on the same router: an answer that was not ready (a
//! query on the blocking pool, a yield) in a task that writes it when it is; the requests
//! after the first on a keep-alive connection, and first requests this thread leaves alone,
//! through hyper ([`crate::http_server`]) with the bytes read so far replayed. Left alone
//! are other paths (an endpoint that may take long would hold up every new connection), HEAD
//! and CONNECT, HTTP/1.0, `Transfer-Encoding`, `Expect`, `Upgrade`, a head hyper would refuse
//! (it gives its own error answer), and a request not complete within [`FIRST_BYTES_WAIT`]
//! (a browser's preconnection). A standby thread takes new connections (for hyper) while the
//! acceptor is held longer than [`HELD_FOR`] by one, such as a query with a large result.
//!
//! While it spins, the acceptor keeps off the CPU of a client on this machine: when a
//! loopback connection's packets were processed on its own CPU (`SO_INCOMING_CPU`), the
//! client runs there, and the two take turns on one CPU while another idles. After answering,
//! it moves to another CPU ([`leave_this_cpu`]). On the benchmark machine that put
//! `query.py`'s `absent` under 0.225 ms in 407 of 500 cycles instead of 330 (BENCHMARKS.md,
//! session 21).

use std::future::Future;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::idle_spin::IdleSpin;

/// How long a new connection's request may take to arrive whole before the connection goes
/// to Tokio. Clients send it right after connecting; a browser's preconnection sends
/// nothing for a while, and meanwhile no other connection is taken.
pub const FIRST_BYTES_WAIT: Duration = Duration::from_millis(1);

/// The most bytes read for a first request; a larger one goes to hyper.
const READ_LIMIT: usize = 16 * 1024;

/// The most header fields parsed here (hyper takes 100).
const MAX_HEADERS: usize = 64;

/// What the acceptor thread needs to answer and to hand connections on.
#[derive(Clone)]
pub struct FirstRequests {
    pub router: Router,
    /// Paths whose requests are answered on the acceptor thread: those of endpoints that
    /// answer within a millisecond or yield (a query too large to evaluate at once is
    /// placed elsewhere, see `api::Placement`).
    pub paths: &'static [&'static str],
    pub runtime: tokio::runtime::Handle,
    /// Serves a connection in Tokio, through hyper, its first bytes replayed.
    pub serve_rest: Arc<dyn Fn(tokio::net::TcpStream, Bytes) -> BoxFuture + Send + Sync>,
    /// `true` once shutting down. Each task this module starts holds a clone of this (in a
    /// clone of `FirstRequests`), so that shutdown waits for them; an answer finished after
    /// shutdown began closes its connection, as hyper's do.
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// Spins on the listener for a moment after an answer (see [`crate::idle_spin`]).
    pub spin: Option<Arc<IdleSpin>>,
    /// Answers the requests it takes without the router ([`crate::api::direct_query`]).
    pub direct: Option<Direct>,
}

/// See [`FirstRequests::direct`].
#[derive(Clone)]
pub struct Direct {
    /// Whether `answer` answers the request.
    pub takes: fn(&Request<Body>) -> bool,
    pub answer: Arc<dyn Fn(Request<Body>) -> DirectAnswer + Send + Sync>,
    /// Answers a plain instant query (see [`plain_query`]) from its URL query string alone,
    /// with the status and JSON document that `answer` would give, before any request is
    /// built; `None` to leave it to `answer` ([`crate::api::plain_instant_query`]).
    pub instant: PlainQueryAnswer,
}

/// See [`Direct::instant`].
pub type PlainQueryAnswer = Arc<dyn Fn(&[u8]) -> Option<(StatusCode, String)> + Send + Sync>;

/// The path of the instant query endpoint, whose plain requests [`Direct::instant`] answers.
const INSTANT_QUERY_PATH: &str = "/api/v1/query";

/// An answer of a [`Direct`].
pub type DirectAnswer = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How long the acceptor may be held by one connection before the standby thread takes new
/// connections (to hyper) meanwhile. Answers given here take well under a millisecond but
/// for a large result; this bounds what such a one costs everybody else.
pub const HELD_FOR: Duration = Duration::from_millis(20);

/// The running acceptor and standby threads.
pub struct Acceptor {
    threads: Vec<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// What both threads share.
struct Shared {
    listener: TcpListener,
    stopping: AtomicBool,
    epoch: Instant,
    /// Microseconds since `epoch`, plus one, at which the acceptor took the connection it
    /// is serving; 0 while it waits for one.
    busy_since: AtomicU64,
    /// Whether accepted connections have `TCP_NODELAY` from the listener already.
    nodelay_inherited: bool,
}

impl Shared {
    fn micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// Starts the acceptor thread on `listener`, and the standby thread that takes connections
/// while the acceptor is held ([`HELD_FOR`]).
pub fn start(listener: TcpListener, first: FirstRequests) -> io::Result<Acceptor> {
    // Both threads wait with poll(2), so either may find the next connection taken.
    listener.set_nonblocking(true)?;
    // A connection is taken once its first bytes are in (or after a second without): one
    // that sends nothing for a while (a browser's preconnection) costs the acceptor nothing.
    if let Err(e) = set_tcp_option(&listener, libc::TCP_DEFER_ACCEPT, 1) {
        tracing::debug!(error = %e, "TCP_DEFER_ACCEPT not set");
    }
    let nodelay_inherited = set_listener_nodelay(&listener);
    let shared = Arc::new(Shared {
        listener,
        stopping: AtomicBool::new(false),
        epoch: Instant::now(),
        busy_since: AtomicU64::new(0),
        nodelay_inherited,
    });
    let acceptor = std::thread::Builder::new()
        .name("http-accept".into())
        .spawn({
            let (shared, first) = (shared.clone(), first.clone());
            move || accept_loop(&shared, &first)
        })?;
    let standby = std::thread::Builder::new()
        .name("http-accept-standby".into())
        .spawn({
            let shared = shared.clone();
            move || standby_loop(&shared, &first)
        });
    let standby = match standby {
        Ok(standby) => standby,
        Err(e) => {
            Acceptor {
                threads: vec![acceptor],
                shared,
            }
            .stop();
            return Err(e);
        }
    };
    Ok(Acceptor {
        threads: vec![acceptor, standby],
        shared,
    })
}

impl Acceptor {
    /// Stops accepting: the listener is shut, so new connections are refused, and the
    /// threads end after the connection they hold, if any. Blocks until they have.
    pub fn stop(mut self) {
        self.shut();
        for thread in std::mem::take(&mut self.threads) {
            if thread.join().is_err() {
                tracing::error!("an HTTP acceptor thread panicked");
            }
        }
    }

    fn shut(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes a poll(2) on the listener, on Linux; every accept fails from then on.
        // SAFETY: a plain system call on a descriptor `shared` keeps open.
        unsafe { libc::shutdown(self.shared.listener.as_raw_fd(), libc::SHUT_RDWR) };
        for thread in &self.threads {
            thread.thread().unpark();
        }
    }
}

/// Without `stop` (the serving future dropped), the threads still end, without waiting.
impl Drop for Acceptor {
    fn drop(&mut self) {
        self.shut();
    }
}

fn accept_loop(shared: &Shared, first: &FirstRequests) {
    let fd = shared.listener.as_raw_fd();
    let mut failures = 0u32;
    let mut read = Vec::with_capacity(READ_LIMIT);
    loop {
        let found = (first.spin.as_ref()).and_then(|spin| spin.spin(None, || readable(fd, 0)));
        if found.is_none() {
            readable(fd, -1);
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        match shared.listener.accept() {
            Ok((stream, peer)) => {
                // A client on this machine that runs on this thread's CPU takes turns with it
                // there, while the other CPUs may idle: each of its requests then waits for
                // this thread's whole turn. Once answered, this thread moves away.
                let sharing_clients_cpu =
                    first.spin.is_some() && peer.ip().is_loopback() && on_packets_cpu(&stream);
                failures = 0;
                shared
                    .busy_since
                    .store(shared.micros().saturating_add(1), Ordering::SeqCst);
                read.clear();
                // A panic ends the connection, never this thread (the endpoint's own poll is
                // guarded in `serve_first_request`, to log it).
                let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    serve_first_request(stream, &mut read, first, shared.nodelay_inherited)
                }));
                if served.is_err() {
                    tracing::error!("serving an HTTP connection panicked; it is closed");
                    read = Vec::with_capacity(READ_LIMIT);
                }
                shared.busy_since.store(0, Ordering::SeqCst);
                if sharing_clients_cpu {
                    leave_this_cpu();
                }
                if let Some(spin) = &first.spin {
                    spin.note_activity();
                }
            }
            Err(e) => {
                if !accept_failed(shared, &e, &mut failures) {
                    return;
                }
            }
        }
    }
}

/// Whether this thread runs on the CPU that last processed the connection's packets: for a
/// client on this machine (loopback), the client's own CPU.
fn on_packets_cpu(stream: &TcpStream) -> bool {
    let Ok(cpu) = int_option(stream, libc::SOL_SOCKET, libc::SO_INCOMING_CPU) else {
        return false;
    };
    // SAFETY: no arguments.
    cpu >= 0 && cpu == unsafe { libc::sched_getcpu() }
}

/// A socket option that is an int.
fn int_option(
    stream: &TcpStream,
    level: libc::c_int,
    option: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int option into an int of its size, on an open socket.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            level,
            option,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Moves this thread to another CPU it may run on, then lets it run on all of them again.
fn leave_this_cpu() {
    // SAFETY: cpu_set_t is plain data; the calls get and set this thread's own affinity.
    unsafe {
        let here = libc::sched_getcpu();
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if here < 0 || libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return;
        }
        let mut others = allowed;
        libc::CPU_CLR(here as usize, &mut others);
        if libc::CPU_COUNT(&others) == 0 {
            return;
        }
        if libc::sched_setaffinity(0, size, &others) == 0 {
            libc::sched_setaffinity(0, size, &allowed);
        }
    }
}

/// Looks every [`HELD_FOR`] whether the acceptor has been held that long by one connection;
/// while it is, takes new connections itself and hands them to hyper.
fn standby_loop(shared: &Shared, first: &FirstRequests) {
    let fd = shared.listener.as_raw_fd();
    let held_for = u64::try_from(HELD_FOR.as_micros()).unwrap_or(u64::MAX);
    let mut failures = 0u32;
    while !shared.stopping.load(Ordering::SeqCst) {
        std::thread::park_timeout(HELD_FOR);
        let since = shared.busy_since.load(Ordering::SeqCst);
        if since == 0 || shared.micros().saturating_sub(since - 1) < held_for {
            continue;
        }
        while shared.busy_since.load(Ordering::SeqCst) == since
            && !shared.stopping.load(Ordering::SeqCst)
        {
            // Looks again for the acceptor's return at least this often.
            if readable(fd, 10) <= 0 {
                continue;
            }
            match shared.listener.accept() {
                Ok((stream, _peer)) => {
                    failures = 0;
                    if !shared.nodelay_inherited {
                        set_nodelay(&stream);
                    }
                    serve_in_tokio(stream, Bytes::new(), first);
                }
                Err(e) => {
                    if !accept_failed(shared, &e, &mut failures) {
                        return;
                    }
                }
            }
        }
    }
}

/// After a failed accept: `false` once shutting down (the listener is shut). Otherwise the
/// other thread took the connection or the client gave up meanwhile (`WouldBlock`, the
/// peer's reset: go on at once), or something else failed (out of file descriptors, mostly),
/// where retrying at once would spin: a pause, longer after each failure in a row, from 5 ms
/// up to a second, as Go's server does.
fn accept_failed(shared: &Shared, error: &io::Error, failures: &mut u32) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, WouldBlock};
    if shared.stopping.load(Ordering::SeqCst) {
        return false;
    }
    if error.kind() == WouldBlock {
        return true;
    }
    *failures = failures.saturating_add(1);
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return true;
    }
    let pause = Duration::from_millis(5 << (*failures).min(8).saturating_sub(1))
        .min(Duration::from_secs(1));
    tracing::error!(error = %error, pause_ms = pause.as_millis() as u64, "accepting an HTTP connection failed; retrying");
    std::thread::sleep(pause);
    true
}

/// Sets `TCP_NODELAY` (see [`set_nodelay`]) on the listener, which Linux passes on to the
/// connections it accepts: a system call fewer before each first request is read. Whether
/// it did; if not, each connection gets it.
fn set_listener_nodelay(listener: &TcpListener) -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    match set_tcp_option(listener, libc::TCP_NODELAY, 1) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "TCP_NODELAY not set on the listener");
            false
        }
    }
}

/// Sets a TCP-level option that takes an int.
fn set_tcp_option(
    listener: &TcpListener,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt with an int option of its size, on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            option,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Go's HTTP server, which Prometheus uses, sends small answers without Nagle's delay.
fn set_nodelay(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
    }
}

/// 1 if `fd` has bytes to read (or a connection to accept) within `timeout_ms`, 0 if not,
/// -1 on an error.
fn readable(fd: RawFd, timeout_ms: libc::c_int) -> libc::c_int {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut poll, 1, timeout_ms) }
}

/// What was read: a request to answer, or a plain instant query ([`plain_query`]).
enum Read {
    Request(Box<FirstRequest>),
    PlainQuery(PlainQuery),
}

/// A plain `GET` of the instant query endpoint, found in the bytes read: what the router
/// would give its endpoint alone, and with none of the headers that change its answer.
struct PlainQuery {
    /// Where its URL query string is in the bytes read (empty when it has none).
    query: std::ops::Range<usize>,
    keep_alive: bool,
    /// Where the request ends, and the next one (sent early) begins.
    end: usize,
}

/// A request read and parsed here.
struct FirstRequest {
    request: Request<Body>,
    keep_alive: bool,
    /// Bytes after the request (a client sending its next request early).
    rest: Bytes,
}

/// What the answer future gives: the bytes to write and whether the connection stays open;
/// `None` when the answer's body failed (hyper then drops the connection too).
type Answer = Pin<Box<dyn Future<Output = Option<(Vec<u8>, bool)>> + Send>>;

/// `read` is the thread's buffer, empty and with `READ_LIMIT` bytes of room.
fn serve_first_request(
    stream: TcpStream,
    read: &mut Vec<u8>,
    first: &FirstRequests,
    nodelay_inherited: bool,
) {
    if !nodelay_inherited {
        set_nodelay(&stream);
    }
    let request = match read_first_request(&stream, read, first) {
        Ok(Some(Read::Request(request))) => request,
        Ok(Some(Read::PlainQuery(plain))) => {
            let rest = rest_after(read, plain.end);
            let keep_alive = plain.keep_alive && !*first.stop.borrow();
            match answer_plain_query(read, &plain, keep_alive, first) {
                PlainAnswer::Answer(answer) => {
                    return write_answer(stream, answer, keep_alive, rest, first)
                }
                PlainAnswer::Panicked => return,
                PlainAnswer::Elsewhere => {}
            }
            match parse(read, first.paths, false) {
                Parsed::Complete(request) => request,
                _ => return serve_in_tokio(stream, Bytes::copy_from_slice(read), first),
            }
        }
        Ok(None) => return serve_in_tokio(stream, Bytes::copy_from_slice(read), first),
        // The peer went away or reset the connection.
        Err(_) => return,
    };
    let FirstRequest {
        request,
        keep_alive,
        rest,
    } = *request;
    let stop = first.stop.clone();
    let direct = (first.direct.as_ref())
        .filter(|direct| (direct.takes)(&request))
        .map(|direct| direct.answer.clone());
    let router = first.router.clone();
    let mut answer: Answer = Box::pin(async move {
        // Both called when polled: inside the panic guard and the runtime's context. Each
        // boxed: this future's state holds the one that runs, not room for both.
        let response = match direct {
            Some(direct) => direct(request).await,
            None => {
                Box::pin(async move {
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    match hyper::service::Service::call(&service, request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                })
                .await
            }
        };
        let keep_alive = keep_alive && !*stop.borrow();
        encode_response(response, keep_alive).await
    });
    // A panic in an endpoint ends its connection, as it does in a Tokio task, and must not
    // end this thread.
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _runtime = first.runtime.enter();
        answer
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }));
    match polled {
        Ok(Poll::Ready(Some((bytes, keep_alive)))) => {
            write_answer(stream, bytes, keep_alive, rest, first)
        }
        Ok(Poll::Ready(None)) => {}
        Ok(Poll::Pending) => {
            crate::idle_spin::note_http_activity();
            let Some(stream) = into_tokio(stream, first) else {
                return;
            };
            let first = first.clone();
            first.runtime.clone().spawn(async move {
                // As hyper: a client that closes its side before the answer is ready drops
                // it (a query waiting for the gate stops waiting).
                let answered = tokio::select! {
                    answered = answer => answered,
                    () = peer_closed(&stream) => None,
                };
                if let Some((bytes, keep_alive)) = answered {
                    finish_in_tokio(stream, bytes, 0, keep_alive, rest, &first).await;
                }
            });
        }
        Err(_) => tracing::error!("an HTTP endpoint panicked; its connection is closed"),
    }
}

/// Completes when the peer has closed its side of the connection (or it failed); never while
/// it is open, even with bytes of a next request waiting.
async fn peer_closed(stream: &tokio::net::TcpStream) {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        // A next request: hyper reads it once this answer is written.
        Ok(_) => std::future::pending::<()>().await,
    }
}

/// What became of a plain instant query.
enum PlainAnswer {
    /// The answer's bytes.
    Answer(Vec<u8>),
    /// Left to [`Direct::answer`].
    Elsewhere,
    /// The connection is to be closed, as after any endpoint's panic.
    Panicked,
}

/// The answer to a plain instant query, as [`encode_response`] writes the one of
/// [`Direct::answer`].
fn answer_plain_query(
    read: &[u8],
    plain: &PlainQuery,
    keep_alive: bool,
    first: &FirstRequests,
) -> PlainAnswer {
    let (Some(direct), Some(query_string)) = (first.direct.as_ref(), read.get(plain.query.clone()))
    else {
        return PlainAnswer::Elsewhere;
    };
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _runtime = first.runtime.enter();
        (direct.instant)(query_string)
    }));
    let (status, json) = match answered {
        Ok(Some(answer)) => answer,
        Ok(None) => return PlainAnswer::Elsewhere,
        Err(_) => {
            tracing::error!("an HTTP endpoint panicked; its connection is closed");
            return PlainAnswer::Panicked;
        }
    };
    // The router's answer as `direct_query` gives it: the endpoint's `content-type`, the
    // length axum sets, the middleware's `vary`.
    let mut out = Vec::with_capacity(160 + json.len());
    write_status_line(status, None, &mut out);
    out.extend_from_slice(b"content-type: application/json\r\ncontent-length: ");
    out.extend_from_slice(json.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\nvary: Origin\r\n");
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    write_http_date(&mut out);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(json.as_bytes());
    PlainAnswer::Answer(out)
}

/// The bytes after the request that ends at `end` (a client sending its next request early).
fn rest_after(read: &[u8], end: usize) -> Bytes {
    match read.get(end..) {
        Some(rest) if !rest.is_empty() => Bytes::copy_from_slice(rest),
        _ => Bytes::new(),
    }
}

/// Reads and parses the connection's first request: `None` when it is one to leave to
/// hyper, `read` then holding what was read.
fn read_first_request(
    stream: &TcpStream,
    read: &mut Vec<u8>,
    first: &FirstRequests,
) -> io::Result<Option<Read>> {
    let fd = stream.as_raw_fd();
    let deadline = Instant::now() + FIRST_BYTES_WAIT;
    loop {
        // SAFETY: writes at most the spare capacity of `read`, then marks it filled.
        let received = unsafe {
            let spare = read.spare_capacity_mut();
            libc::recv(
                fd,
                spare.as_mut_ptr().cast(),
                spare.len(),
                libc::MSG_DONTWAIT,
            )
        };
        match received {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n if n > 0 => {
                // SAFETY: the kernel wrote `n` bytes there.
                unsafe { read.set_len(read.len() + n as usize) };
                match parse(read, first.paths, first.direct.is_some()) {
                    Parsed::Complete(request) => return Ok(Some(Read::Request(request))),
                    Parsed::PlainQuery(plain) => return Ok(Some(Read::PlainQuery(plain))),
                    Parsed::ElseWhere => return Ok(None),
                    Parsed::Partial if read.len() == read.capacity() => return Ok(None),
                    Parsed::Partial => {}
                }
            }
            _ => {
                let error = io::Error::last_os_error();
                match error.kind() {
                    io::ErrorKind::WouldBlock => {}
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(error),
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                let waited = match &first.spin {
                    Some(spin) => spin
                        .spin(Some(left), || readable(fd, 0))
                        .unwrap_or_else(|| readable(fd, millis_rounded_up(deadline))),
                    None => readable(fd, millis_rounded_up(deadline)),
                };
                if waited == 0 {
                    return Ok(None);
                }
                // An error (EINTR) is looked at again by the next recv.
            }
        }
    }
}

fn millis_rounded_up(deadline: Instant) -> libc::c_int {
    let left = deadline.saturating_duration_since(Instant::now());
    libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
}

enum Parsed {
    Complete(Box<FirstRequest>),
    PlainQuery(PlainQuery),
    Partial,
    /// One for hyper.
    ElseWhere,
}

/// Parses a request: `plain_queries` tells whether a plain instant query ([`plain_query`]) is
/// to be told apart from other requests.
fn parse(read: &[u8], paths: &[&str], plain_queries: bool) -> Parsed {
    // Left uninitialised: filling 64 empty fields (2 KB) cost more than parsing a short head.
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut []);
    let head_len = match head.parse_with_uninit_headers(read, &mut fields) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::ElseWhere,
    };
    let (Some(method), Some(target), Some(1)) = (head.method, head.path, head.version) else {
        return Parsed::ElseWhere;
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if !paths.contains(&path) || method == "HEAD" || method == "CONNECT" {
        return Parsed::ElseWhere;
    }
    if plain_queries && method == "GET" && path == INSTANT_QUERY_PATH {
        if let Some(plain) = plain_query(read, target, head.headers, head_len) {
            return Parsed::PlainQuery(plain);
        }
    }
    let mut builder = Request::builder()
        .method(method)
        .uri(target)
        .version(axum::http::Version::HTTP_11);
    let mut content_length: Option<usize> = None;
    let mut keep_alive = true;
    let Some(headers) = builder.headers_mut() else {
        return Parsed::ElseWhere;
    };
    for field in head.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(field.name.as_bytes()),
            HeaderValue::from_bytes(field.value),
        ) else {
            return Parsed::ElseWhere;
        };
        match name {
            header::TRANSFER_ENCODING | header::EXPECT | header::UPGRADE => {
                return Parsed::ElseWhere
            }
            header::CONTENT_LENGTH => {
                let length = std::str::from_utf8(field.value)
                    .ok()
                    .filter(|digits| {
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|digits| digits.parse::<usize>().ok());
                match (length, content_length) {
                    (Some(length), None) => content_length = Some(length),
                    _ => return Parsed::ElseWhere,
                }
            }
            header::CONNECTION if has_close_token(field.value) => keep_alive = false,
            _ => {}
        }
        headers.append(name, value);
    }
    let body_len = content_length.unwrap_or(0);
    let Some(body_end) = head_len.checked_add(body_len) else {
        return Parsed::ElseWhere;
    };
    if body_end > READ_LIMIT {
        return Parsed::ElseWhere;
    }
    if read.len() < body_end {
        return Parsed::Partial;
    }
    let body = if body_len == 0 {
        Body::empty()
    } else {
        Body::from(Bytes::copy_from_slice(&read[head_len..body_end]))
    };
    match builder.body(body) {
        Ok(request) => Parsed::Complete(Box::new(FirstRequest {
            request,
            keep_alive,
            rest: rest_after(read, body_end),
        })),
        // A target the URI type refuses: hyper answers it (with its 400, or after
        // `request_line` has encoded what Go accepts).
        Err(_) => Parsed::ElseWhere,
    }
}

/// RFC 3986's characters of a path and query, which the URI type takes unchanged (hyper
/// refuses `"`, `<`, `>` and others, which `request_line` then encodes for it), by byte.
static PLAIN_TARGET_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let others = b"-._~!$&'()*+,;=:@/?%";
    let mut at = 0;
    while at < others.len() {
        table[others[at] as usize] = true;
        at += 1;
    }
    table
};

/// A `GET` of [`INSTANT_QUERY_PATH`] (its `target`, within `read`) whose answer depends on its
/// URL query string alone: without a body, `Origin` (CORS headers), an `Accept-Encoding` that
/// asks for compression, or anything else that would have the request go to hyper or answered
/// otherwise; with a target and header fields that [`parse`] would take as they are. `None`
/// for any other, which goes the usual way.
fn plain_query(
    read: &[u8],
    target: &str,
    fields: &[httparse::Header],
    head_len: usize,
) -> Option<PlainQuery> {
    if !target.bytes().all(|b| PLAIN_TARGET_BYTES[usize::from(b)]) {
        return None;
    }
    let mut keep_alive = true;
    for field in fields {
        let name = field.name;
        let value = field.value;
        // What `HeaderValue` takes; `HeaderName` takes the tokens httparse does.
        if !value.iter().all(|&b| b == b'\t' || (b >= 32 && b != 127)) {
            return None;
        }
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        if is("content-length")
            || is("transfer-encoding")
            || is("content-type")
            || is("expect")
            || is("upgrade")
            || is("origin")
            || (is("accept-encoding") && crate::api::http_compat::asks_for_compression(value))
        {
            return None;
        }
        if is("connection") && has_close_token(value) {
            keep_alive = false;
        }
    }
    let query_start = target.find('?').map_or(target.len(), |at| at + 1);
    // `target` is a part of `read`, as httparse parses in place.
    let target_at = (target.as_ptr() as usize).checked_sub(read.as_ptr() as usize)?;
    let query = target_at + query_start..target_at + target.len();
    Some(PlainQuery {
        query,
        keep_alive,
        end: head_len,
    })
}

/// Whether a `Connection` header's value lists `close`.
fn has_close_token(value: &[u8]) -> bool {
    // hyper reads the value as text (`HeaderValue::to_str`), so only a visible-ASCII one counts.
    let visible = value.iter().all(|&b| b == b'\t' || (32..127).contains(&b));
    visible
        && value
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// How hyper frames an answer's body, from what the body says of itself before it is read.
#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// The body is already at its end: no body.
    None,
    Known(u64),
    Unknown,
}

/// The answer as hyper 1 writes it for an HTTP/1.1 request (`proto::h1::role::Server::encode`),
/// and whether the connection stays open after it. `None` when the body fails.
async fn encode_response(response: Response<Body>, keep_alive: bool) -> Option<(Vec<u8>, bool)> {
    use axum::body::HttpBody;
    let (mut parts, mut body) = response.into_parts();
    if parts.status.is_informational() {
        // hyper answers no 1xx this way either: it sends a bare 500.
        parts = Response::new(()).into_parts().0;
        parts.status = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        body = Body::empty();
    }
    // The framing is this module's, whatever an endpoint says (none sets one).
    parts.headers.remove(header::TRANSFER_ENCODING);
    let framing = if body.is_end_stream() {
        Framing::None
    } else {
        body.size_hint()
            .exact()
            .map_or(Framing::Unknown, Framing::Known)
    };
    // The data frames, as hyper writes them: one chunk each when the length is unknown.
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            if !data.is_empty() {
                frames.push(data);
            }
        }
    }
    let connection_close = |value: &HeaderValue| has_close_token(value.as_bytes());
    let mut keep_alive = keep_alive;
    if !keep_alive {
        match parts.headers.entry(header::CONNECTION) {
            header::Entry::Occupied(mut entry) => {
                if !entry.iter().any(connection_close) {
                    entry.append(HeaderValue::from_static("close"));
                }
            }
            header::Entry::Vacant(entry) => {
                entry.insert(HeaderValue::from_static("close"));
            }
        }
    } else if parts
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .any(connection_close)
    {
        keep_alive = false;
    }
    let status = parts.status;
    // Neither a length nor a body for these (`can_have_content_length`, `can_have_body`).
    let bodiless = status.is_informational()
        || status == axum::http::StatusCode::NO_CONTENT
        || status == axum::http::StatusCode::NOT_MODIFIED;
    let body_len: usize = frames.iter().map(Bytes::len).sum();
    let mut out = Vec::with_capacity(160 + parts.headers.len() * 32 + body_len + frames.len() * 8);
    let reason = parts.extensions.get::<hyper::ext::ReasonPhrase>();
    write_status_line(status, reason, &mut out);
    let written = encode_headers(&parts.headers, framing, bodiless, &mut out);
    let chunked = match (written.length, framing) {
        (true, _) => false,
        (false, Framing::Unknown) if !bodiless => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            true
        }
        (false, Framing::None | Framing::Known(0)) if !bodiless => {
            out.extend_from_slice(b"content-length: 0\r\n");
            false
        }
        (false, Framing::Known(length)) if !bodiless => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(length.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            false
        }
        (false, _) => false,
    };
    if !written.date {
        out.extend_from_slice(b"date: ");
        write_http_date(&mut out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless && framing != Framing::None {
        for data in &frames {
            if chunked {
                out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            } else {
                out.extend_from_slice(data);
            }
        }
        if chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    Some((out, keep_alive))
}

/// The status line as hyper writes it.
fn write_status_line(
    status: StatusCode,
    reason: Option<&hyper::ext::ReasonPhrase>,
    out: &mut Vec<u8>,
) {
    if status == StatusCode::OK && reason.is_none() {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        match reason {
            Some(reason) => out.extend_from_slice(reason.as_bytes()),
            None => out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Which of the header lines that frame an answer were written.
struct Written {
    length: bool,
    date: bool,
}

/// Writes the header fields as hyper does: in the map's order; the values of `connection` and
/// `trailer` joined on one line; the first `content-length` only, and
/// none for a body already at its end.
fn encode_headers(
    headers: &HeaderMap,
    framing: Framing,
    bodiless: bool,
    out: &mut Vec<u8>,
) -> Written {
    let mut written = Written {
        length: false,
        date: false,
    };
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        match *name {
            header::CONTENT_LENGTH => {
                if framing != Framing::None {
                    if let Some(value) = values.next() {
                        out.extend_from_slice(b"content-length: ");
                        out.extend_from_slice(value.as_bytes());
                        out.extend_from_slice(b"\r\n");
                        written.length = true;
                    }
                }
                continue;
            }
            header::TRAILER if bodiless => continue,
            header::CONNECTION | header::TRAILER => {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                for (i, value) in values.enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(value.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                continue;
            }
            header::DATE => written.date = true,
            _ => {}
        }
        for value in values {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    written
}

/// Writes the `date` header's value, formatted once a second as hyper does.
fn write_http_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHED.with_borrow_mut(|(cached_second, text)| {
        if *cached_second != second {
            *cached_second = second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    })
}

/// Writes what it can of the answer at once, the rest (if any) from a task, and then closes
/// the connection or hands it to hyper for the next request.
fn write_answer(
    stream: TcpStream,
    bytes: Vec<u8>,
    keep_alive: bool,
    rest: Bytes,
    first: &FirstRequests,
) {
    // SAFETY: sends from a live buffer of its length.
    let sent = unsafe {
        libc::send(
            stream.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    let sent = match usize::try_from(sent) {
        Ok(sent) => sent,
        Err(_) if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock => 0,
        // The peer is gone.
        Err(_) => return,
    };
    if sent == bytes.len() {
        if keep_alive {
            serve_in_tokio(stream, rest, first);
        } else {
            // As hyper: the answer is followed by the end of the stream.
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        return;
    }
    let Some(stream) = into_tokio(stream, first) else {
        return;
    };
    let first_for_task = first.clone();
    first.runtime.spawn(async move {
        finish_in_tokio(stream, bytes, sent, keep_alive, rest, &first_for_task).await;
    });
}

/// Writes the rest of an answer, then closes the connection or serves its next requests.
async fn finish_in_tokio(
    mut stream: tokio::net::TcpStream,
    bytes: Vec<u8>,
    sent: usize,
    keep_alive: bool,
    rest: Bytes,
    first: &FirstRequests,
) {
    if stream.write_all(&bytes[sent..]).await.is_err() {
        return;
    }
    if keep_alive {
        (first.serve_rest)(stream, rest).await;
    } else {
        let _ = stream.shutdown().await;
    }
}

fn into_tokio(stream: TcpStream, first: &FirstRequests) -> Option<tokio::net::TcpStream> {
    let _runtime = first.runtime.enter();
    stream
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(stream))
        .inspect_err(|e| tracing::debug!(error = %e, "could not hand a connection to Tokio"))
        .ok()
}

fn serve_in_tokio(stream: TcpStream, read: Bytes, first: &FirstRequests) {
    crate::idle_spin::note_http_activity();
    let Some(stream) = into_tokio(stream, first) else {
        return;
    };
    let serve = (first.serve_rest)(stream, read);
    first.runtime.spawn(serve);
}

/// A stream whose first bytes were already read: they are read again first.
pub struct Replayed<S> {
    inner: S,
    first: Bytes,
}

impl<S> Replayed<S> {
    pub fn new(inner: S, first: Bytes) -> Self {
        Replayed { inner, first }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            let taken = self.first.split_to(n);
            buf.put_slice(&taken);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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
    use super::*;
    use crate::http_server::{serve, ServeOptions};
    use axum::http::StatusCode;
    use axum::response::{AppendHeaders, IntoResponse};
    use axum::routing::get;
    use tokio::io::AsyncReadExt;

    /// A body that does not know its length, as a stream's, sending its frames in turn.
    struct UnsizedBody(Vec<Bytes>);

    impl axum::body::HttpBody for UnsizedBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            let next = (!self.0.is_empty()).then(|| self.0.remove(0));
            Poll::Ready(next.map(|data| Ok(hyper::body::Frame::data(data))))
        }
    }

    fn answer_or_panic(panic: bool) -> &'static str {
        assert!(!panic, "an endpoint panicked");
        "no panic"
    }

    /// Every path of [`router`].
    const PATHS: &[&str] = &[
        "/text",
        "/json",
        "/empty",
        "/teapot",
        "/close",
        "/unsized",
        "/odd",
        "/later",
        "/missing",
        "/panic",
        "/hold",
        "/dated",
        "/unchanged",
        "/abandoned",
        INSTANT_QUERY_PATH,
    ];

    static ABANDONED_RAN: AtomicBool = AtomicBool::new(false);

    /// Answers of many shapes, each with an `x-thread` header naming the thread that made it.
    fn router() -> Router {
        Router::new()
            .route(
                "/text",
                get(|| async { "text" }).post(|body: Bytes| async move { body }),
            )
            .route(
                "/json",
                get(|| async { axum::Json(serde_json::json!({"a": [1, "b"]})) }),
            )
            .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
            .route(
                "/teapot",
                get(|| async {
                    let headers = AppendHeaders([("x-many", "1"), ("x-many", "2")]);
                    (StatusCode::IM_A_TEAPOT, headers, "tea")
                }),
            )
            .route(
                "/close",
                get(|| async { ([(header::CONNECTION, "close")], "bye") }),
            )
            .route(
                "/unsized",
                get(|| async {
                    let frames: [&[u8]; 4] =
                        [b"chunk", b"", b"a longer chunk of 31 bytes here", b"end"];
                    Body::new(UnsizedBody(frames.map(Bytes::from_static).to_vec()))
                }),
            )
            .route(
                "/odd",
                get(|| async { StatusCode::from_u16(599).map_or(StatusCode::OK, |s| s) }),
            )
            .route(
                "/later",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    "later"
                }),
            )
            .route("/panic", get(|| async { answer_or_panic(true) }))
            .route(
                "/dated",
                get(|| async { ([(header::DATE, "Thu, 01 Jan 1970 00:00:00 GMT")], "dated") }),
            )
            .route("/unchanged", get(|| async { StatusCode::NOT_MODIFIED }))
            .route(
                // Notes whether it ran to its end.
                "/abandoned",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ABANDONED_RAN.store(true, Ordering::SeqCst);
                    "abandoned"
                }),
            )
            .route(
                // Holds the thread that answers it without yielding.
                "/hold",
                get(|| async {
                    std::thread::sleep(Duration::from_millis(500));
                    "held"
                }),
            )
            .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found\n").into_response() })
            .layer(axum::middleware::map_response(
                |mut response: Response<Body>| async move {
                    let thread = std::thread::current().name().unwrap_or("").to_string();
                    if let Ok(value) = HeaderValue::from_str(&thread) {
                        response.headers_mut().insert("x-thread", value);
                    }
                    response
                },
            ))
    }

    /// A server of [`router`] on its own runtime, answering first requests of `paths` on the
    /// acceptor.
    fn start(paths: &'static [&'static str]) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
        start_with(router(), paths, None)
    }

    fn start_with(
        router: Router,
        paths: &'static [&'static str],
        direct: Option<Direct>,
    ) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let options = ServeOptions {
            first_request_paths: paths,
            spin_budget: Duration::ZERO,
            direct,
        };
        runtime.spawn(serve(listener, router, options, std::future::pending()));
        (address, runtime)
    }

    /// Sends `pieces` on a new connection, `pause` apart, and reads until the server closes
    /// it.
    fn exchange(address: std::net::SocketAddr, pieces: &[&[u8]], pause: Duration) -> String {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        // Each piece goes out at once.
        stream.set_nodelay(true).expect("nodelay");
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(pause);
            }
            stream.write_all(piece).expect("send");
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// The answer to a GET of `path` on a new connection, closed after it.
    fn fetch(address: std::net::SocketAddr, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        exchange(address, &[request.as_bytes()], Duration::ZERO)
    }

    /// The answer without its `x-thread` lines and with the current date masked, and the
    /// `x-thread` values.
    fn comparable(answer: &str) -> (String, Vec<String>) {
        let mut threads = Vec::new();
        let mut kept = Vec::new();
        for line in answer.split_inclusive("\r\n") {
            if let Some(thread) = line.strip_prefix("x-thread: ") {
                threads.push(thread.trim_end().to_string());
            } else if line.starts_with("date: ") && !line.contains("1970") {
                kept.push("date: (now)\r\n".to_string());
            } else {
                kept.push(line.to_string());
            }
        }
        (kept.concat(), threads)
    }

    const ACCEPTOR: &str = "http-accept";

    /// The acceptor leaves `TCP_NODELAY` to the listener on Linux, which must pass it on.
    #[test]
    fn accepted_connections_have_the_listeners_nodelay() {
        let nodelay = |stream: &TcpStream| {
            int_option(stream, libc::IPPROTO_TCP, libc::TCP_NODELAY).expect("getsockopt") != 0
        };
        for set in [false, true] {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            if set {
                assert_eq!(set_listener_nodelay(&listener), cfg!(target_os = "linux"));
            }
            let _client =
                TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
            let (accepted, _) = listener.accept().expect("accept");
            assert_eq!(nodelay(&accepted), set && cfg!(target_os = "linux"));
        }
    }

    #[test]
    fn the_acceptor_answers_as_hyper_does() {
        let (hyper_only, _hyper_runtime) = start(&[]);
        let (acceptor, _runtime) = start(PATHS);
        let close =
            |target: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        // Each request, and the thread that should answer each of its requests on the
        // acceptor's server (hyper's answers come from Tokio's workers).
        let cases: Vec<(String, Vec<bool>)> = vec![
            (close("/text"), vec![true]),
            (close("/json?a=1&b=%20"), vec![true]),
            (close("/empty"), vec![true]),
            (close("/teapot"), vec![true]),
            (close("/unsized"), vec![true]),
            (close("/odd"), vec![true]),
            (close("/missing"), vec![true]),
            (close("/dated"), vec![true]),
            (close("/unchanged"), vec![true]),
            (close("/later"), vec![false]),
            // The answer closes the connection of a keep-alive request.
            ("GET /close HTTP/1.1\r\nHost: x\r\n\r\n".into(), vec![true]),
            (
                "POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".into(),
                vec![true],
            ),
            // Not allowed: the router's 405.
            ("PUT /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(), vec![true]),
            // Header names in any case, `close` among other tokens.
            ("GET /text HTTP/1.1\r\nhOsT: x\r\nCONNECTION: TE, Close\r\n\r\n".into(), vec![true]),
            // Two requests in one send: the second is replayed to hyper, also after an answer
            // finished in a task.
            (
                format!("GET /text HTTP/1.1\r\nHost: x\r\n\r\n{}", close("/json")),
                vec![true, false],
            ),
            (
                format!("GET /later HTTP/1.1\r\nHost: x\r\n\r\n{}", close("/json")),
                vec![false, false],
            ),
            // Left to hyper: HEAD, HTTP/1.0, a chunked body, a head hyper refuses, a target
            // with an unencoded quote (`request_line` encodes it), a path not listed.
            ("HEAD /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(), vec![false]),
            ("GET /text HTTP/1.0\r\n\r\n".into(), vec![false]),
            (
                "POST /text HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(),
                vec![false],
            ),
            ("GET /text HTTP/1.1\r\nBad Header: x\r\n\r\n".into(), vec![]),
            (close("/text?q=\"a\""), vec![false]),
            (close("/elsewhere"), vec![false]),
        ];
        for (request, on_acceptor) in cases {
            let expected = exchange(hyper_only, &[request.as_bytes()], Duration::ZERO);
            let answer = exchange(acceptor, &[request.as_bytes()], Duration::ZERO);
            let (expected, hyper_threads) = comparable(&expected);
            let (answer, threads) = comparable(&answer);
            assert!(!expected.is_empty(), "no answer to {request:?}");
            assert_eq!(answer, expected, "answers to {request:?}");
            assert!(
                hyper_threads.iter().all(|t| t != ACCEPTOR),
                "{hyper_threads:?}"
            );
            let wanted: Vec<bool> = on_acceptor;
            let got: Vec<bool> = threads.iter().map(|t| t == ACCEPTOR).collect();
            assert_eq!(got, wanted, "threads {threads:?} answering {request:?}");
        }
    }

    #[test]
    fn requests_arriving_in_pieces_or_late_are_answered() {
        let (acceptor, _runtime) = start(PATHS);
        let request: &[u8] = b"POST /text HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        // Within the wait, the pieces are put together on the acceptor; after it (a head
        // split, then a body late), hyper reads the rest after the bytes already read.
        for (pause, on_acceptor) in [(Duration::ZERO, true), (Duration::from_millis(30), false)] {
            for split in [10, 40, request.len() - 2] {
                let (head, tail) = request.split_at(split);
                let answer = exchange(acceptor, &[head, tail], pause);
                assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
                assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
                let thread = format!("x-thread: {ACCEPTOR}\r\n");
                assert_eq!(answer.contains(&thread), on_acceptor, "{pause:?}: {answer}");
            }
        }
        // A connection that sends nothing for a while (a browser's preconnection) holds up
        // neither itself nor others.
        let idle = TcpStream::connect(acceptor).expect("connect");
        let answer = fetch(acceptor, "/text");
        assert!(answer.ends_with("\r\n\r\ntext"), "{answer}");
        assert!(
            answer.contains(&format!("x-thread: {ACCEPTOR}\r\n")),
            "{answer}"
        );
        drop(idle);
    }

    /// A [`Direct`] that answers `/text`, `/later` and [`INSTANT_QUERY_PATH`] itself, marked
    /// `x-direct`; and plain instant queries with `{"plain":"<query string>"}`, but for those
    /// whose query string says `elsewhere` (left to `answer`) or `status=422`.
    fn direct() -> Direct {
        Direct {
            takes: |request| {
                matches!(
                    request.uri().path(),
                    "/text" | "/later" | INSTANT_QUERY_PATH
                )
            },
            answer: Arc::new(|request: Request<Body>| {
                let later = request.uri().path() == "/later";
                Box::pin(async move {
                    if later {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        return ([("x-direct", "yes")], "direct later").into_response();
                    }
                    ([("x-direct", "yes")], "direct text").into_response()
                })
            }),
            instant: Arc::new(|query_string: &[u8]| {
                let query_string = String::from_utf8_lossy(query_string).into_owned();
                if query_string.contains("elsewhere") {
                    return None;
                }
                let status = if query_string == "status=422" {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                };
                Some((status, format!("{{\"plain\":\"{query_string}\"}}")))
            }),
        }
    }

    /// Runs `body` with this thread allowed only on `cpu`, then allows it its former CPUs.
    fn pinned_to<T>(cpu: usize, body: impl FnOnce() -> T) -> T {
        // SAFETY: plain data; this thread's own affinity.
        unsafe {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut allowed), 0);
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            assert_eq!(libc::sched_setaffinity(0, size, &one), 0);
            let result = body();
            assert_eq!(libc::sched_setaffinity(0, size, &allowed), 0);
            result
        }
    }

    /// The CPUs this thread may run on.
    fn allowed_cpus() -> Vec<usize> {
        // SAFETY: plain data; this thread's own affinity.
        unsafe {
            let mut allowed: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &allowed))
                .collect()
        }
    }

    /// A loopback connection whose packets this thread sent on `cpu` tells so, and no other
    /// CPU; leaving a CPU moves the thread to another one and keeps its allowed CPUs.
    #[test]
    fn the_acceptor_knows_and_leaves_a_local_clients_cpu() {
        let cpus = allowed_cpus();
        let first_cpu = cpus[0];
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (accepted, _client) = pinned_to(first_cpu, || {
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            std::io::Write::write_all(&mut client, b"GET / HTTP/1.1\r\n\r\n").unwrap();
            let (accepted, _) = listener.accept().unwrap();
            assert!(
                on_packets_cpu(&accepted),
                "sent and looked at on CPU {first_cpu}"
            );
            (accepted, client)
        });
        if let Some(&second_cpu) = cpus.get(1) {
            pinned_to(second_cpu, || assert!(!on_packets_cpu(&accepted)));
        }
        let moved = pinned_to(first_cpu, || {
            // Allowed everywhere again but still on the first CPU, as after an answer.
            // SAFETY: plain data; this thread's own affinity.
            unsafe {
                let mut all: libc::cpu_set_t = std::mem::zeroed();
                for &cpu in &cpus {
                    libc::CPU_SET(cpu, &mut all);
                }
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &all);
            }
            leave_this_cpu();
            // SAFETY: no arguments.
            let now = unsafe { libc::sched_getcpu() };
            (now, allowed_cpus())
        });
        match cpus.len() {
            1 => assert_eq!(moved.0, first_cpu as libc::c_int, "nowhere else to go"),
            _ => assert_ne!(
                moved.0, first_cpu as libc::c_int,
                "moved off CPU {first_cpu}"
            ),
        }
        assert_eq!(moved.1, cpus, "allowed on every CPU again");
    }

    /// The table holds exactly RFC 3986's unreserved, reserved and `%` characters.
    #[test]
    fn plain_target_bytes_are_rfc_3986_characters() {
        for byte in 0..=255u8 {
            let expected = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte);
            assert_eq!(PLAIN_TARGET_BYTES[usize::from(byte)], expected, "{byte}");
        }
    }

    /// Only a `GET` of the instant query path whose answer depends on its query string alone
    /// is answered from it, with the head the router's answer would have; every other request
    /// to that path goes to `Direct::answer` or hyper as before.
    #[test]
    fn plain_instant_queries_are_answered_from_their_query_string() {
        let (acceptor, _runtime) = start_with(router(), PATHS, Some(direct()));
        let get = |target: &str, fields: &str| {
            let request =
                format!("GET {target} HTTP/1.1\r\nHost: x\r\n{fields}Connection: close\r\n\r\n");
            comparable(&exchange(acceptor, &[request.as_bytes()], Duration::ZERO)).0
        };
        let plain = |status_line: &str, body: &str| {
            format!(
                "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 vary: Origin\r\nconnection: close\r\ndate: (now)\r\n\r\n{body}",
                body.len()
            )
        };
        let path = INSTANT_QUERY_PATH;
        let taken = [
            (format!("{path}?query=up&time=1"), "", "query=up&time=1"),
            (path.to_string(), "", ""),
            (format!("{path}?"), "", ""),
            (
                format!("{path}?query=sum%28up%29+%2F+2&x=%zz;y"),
                "User-Agent: Python-urllib/3.11\r\n",
                "query=sum%28up%29+%2F+2&x=%zz;y",
            ),
            (
                format!("{path}?a=1"),
                "Accept-Encoding: identity\r\n",
                "a=1",
            ),
            (format!("{path}?a=1"), "Accept-Encoding: br\r\n", "a=1"),
        ];
        for (target, fields, query_string) in &taken {
            let body = format!("{{\"plain\":\"{query_string}\"}}");
            assert_eq!(
                get(target, fields),
                plain("200 OK", &body),
                "{target} {fields:?}"
            );
        }
        assert_eq!(
            get(&format!("{path}?status=422"), ""),
            plain("422 Unprocessable Entity", "{\"plain\":\"status=422\"}")
        );
        // Left to `Direct::answer`: headers that change the answer (CORS, compression), a
        // body, and what `instant` declines.
        let direct_answer = [
            (format!("{path}?a=1"), "Origin: https://grafana\r\n"),
            (format!("{path}?a=1"), "Accept-Encoding: gzip\r\n"),
            (format!("{path}?a=1"), "accept-encoding: br, deflate\r\n"),
            (format!("{path}?a=1"), "Content-Length: 0\r\n"),
            (
                format!("{path}?a=1"),
                "Content-Type: multipart/form-data; boundary=b\r\n",
            ),
            (format!("{path}?elsewhere=1"), ""),
        ];
        for (target, fields) in &direct_answer {
            let answer = get(target, fields);
            assert!(
                answer.ends_with("\r\n\r\ndirect text"),
                "{target} {fields:?}: {answer}"
            );
        }
        // Left to hyper: a target the URI type refuses as it is, and other methods.
        for (method, target) in [
            ("GET", format!("{path}?query=\"a\"")),
            ("POST", path.to_string()),
        ] {
            let request = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let answer = exchange(acceptor, &[request.as_bytes()], Duration::ZERO);
            assert!(
                !answer.contains("{\"plain\""),
                "{method} {target}: {answer}"
            );
        }
        // Kept alive: no `connection` line, and the next request (sent early, in the same
        // segment) is hyper's.
        let two = format!(
            "GET {path}?a=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let (answers, threads) = comparable(&exchange(acceptor, &[two.as_bytes()], Duration::ZERO));
        let first = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\
                     vary: Origin\r\ndate: (now)\r\n\r\n{\"plain\":\"a=1\"}";
        assert!(answers.starts_with(first), "{answers}");
        assert!(answers.ends_with("\r\n\r\ntext"), "{answers}");
        assert!(threads.iter().all(|t| t != ACCEPTOR), "{threads:?}");
    }

    #[test]
    fn direct_answers_take_only_the_first_requests_they_are_given() {
        let (acceptor, _runtime) = start_with(router(), PATHS, Some(direct()));
        let answer = fetch(acceptor, "/text");
        assert!(answer.contains("\r\nx-direct: yes\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\ndirect text"), "{answer}");
        // Not ready at once: written from a task, as the router's are.
        let answer = fetch(acceptor, "/later");
        assert!(answer.ends_with("\r\n\r\ndirect later"), "{answer}");
        // Not taken: the router answers, on the acceptor.
        let answer = fetch(acceptor, "/json");
        assert!(!answer.contains("x-direct"), "{answer}");
        assert!(
            answer.contains(&format!("x-thread: {ACCEPTOR}\r\n")),
            "{answer}"
        );
        // Only a connection's first request: the next ones are hyper's, through the router.
        let (_, second) = two_on_one_connection(acceptor, "direct text", "/text");
        assert!(second.ends_with("\r\n\r\ntext"), "{second}");
        assert!(second.contains("x-thread: tokio"), "{second}");
    }

    /// A keep-alive GET of `/text`, read until its answer ends with `first_end`, then a GET of
    /// `second_path` closing the connection on the same connection: both answers.
    fn two_on_one_connection(
        address: std::net::SocketAddr,
        first_end: &str,
        second_path: &str,
    ) -> (String, String) {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream
            .write_all(b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut first = Vec::new();
        let mut buffer = [0u8; 1024];
        while !first.ends_with(first_end.as_bytes()) {
            let read = stream.read(&mut buffer).expect("first answer");
            assert!(
                read > 0,
                "closed after {:?}",
                String::from_utf8_lossy(&first)
            );
            first.extend_from_slice(&buffer[..read]);
        }
        // Sent only once the first answer is in: hyper, not the acceptor, reads it.
        std::thread::sleep(Duration::from_millis(50));
        let second_request =
            format!("GET {second_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(second_request.as_bytes()).expect("send");
        let mut second = String::new();
        stream.read_to_string(&mut second).expect("second answer");
        (String::from_utf8_lossy(&first).into_owned(), second)
    }

    #[test]
    fn a_keep_alive_connection_goes_on_in_hyper() {
        let (acceptor, _runtime) = start(PATHS);
        let (first, second) = two_on_one_connection(acceptor, "\r\n\r\ntext", "/json");
        assert!(
            first.contains(&format!("x-thread: {ACCEPTOR}\r\n")),
            "{first}"
        );
        assert!(!first.contains("connection:"), "{first}");
        assert!(second.ends_with("\r\n\r\n{\"a\":[1,\"b\"]}"), "{second}");
        assert!(second.contains("x-thread: tokio"), "{second}");
    }

    #[test]
    fn a_client_gone_before_its_answer_is_ready_is_not_answered() {
        use std::io::Write;
        let (acceptor, _runtime) = start(PATHS);
        let mut stream = TcpStream::connect(acceptor).expect("connect");
        stream
            .write_all(b"GET /abandoned HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        std::thread::sleep(Duration::from_millis(50));
        drop(stream);
        std::thread::sleep(Duration::from_millis(400));
        assert!(
            !ABANDONED_RAN.load(Ordering::SeqCst),
            "the answer of a closed connection was still worked out"
        );
        // The same request kept open runs to its end.
        let answer = fetch(acceptor, "/abandoned");
        assert!(answer.ends_with("abandoned"), "{answer}");
        assert!(ABANDONED_RAN.load(Ordering::SeqCst));
    }

    #[test]
    fn a_panicking_endpoint_closes_its_connection_and_nothing_else() {
        let (acceptor, _runtime) = start(PATHS);
        let answer = exchange(
            acceptor,
            &[b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n"],
            Duration::ZERO,
        );
        assert_eq!(answer, "");
        // The panic's report may have held the acceptor long enough for the standby thread
        // to take connections; it stops within its poll's 10 ms.
        std::thread::sleep(Duration::from_millis(50));
        let answer = fetch(acceptor, "/text");
        assert!(answer.ends_with("\r\n\r\ntext"), "{answer}");
        // Still by the acceptor thread, not its standby.
        assert!(
            answer.contains(&format!("x-thread: {ACCEPTOR}\r\n")),
            "{answer}"
        );
    }

    #[test]
    fn new_connections_are_answered_while_the_acceptor_is_held() {
        let (acceptor, _runtime) = start(PATHS);
        let held = std::thread::spawn(move || fetch(acceptor, "/hold"));
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let answer = fetch(acceptor, "/text");
        let waited = started.elapsed();
        assert!(answer.ends_with("\r\n\r\ntext"), "{answer}");
        // Answered through hyper by the standby thread, not after the hold.
        assert!(!answer.contains(ACCEPTOR), "{answer}");
        assert!(
            !held.is_finished(),
            "answered only after the held request ({waited:?})"
        );
        let held = held.join().expect("held client");
        assert!(held.ends_with("\r\n\r\nheld"), "{held}");
        assert!(
            held.contains(&format!("x-thread: {ACCEPTOR}\r\n")),
            "{held}"
        );
    }

    #[test]
    fn a_large_answer_is_written_whole() {
        // Larger than a socket's send buffer: the acceptor writes what it can and a task the
        // rest, while the client reads slowly.
        let router = Router::new().route("/big", get(|| async { "x".repeat(8 << 20) }));
        let (address, runtime) = start_with(router, &["/big"], None);
        let answer = runtime.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(address)
                .await
                .expect("connect");
            tokio::io::AsyncWriteExt::write_all(
                &mut stream,
                b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await
            .expect("send");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.expect("read");
            answer
        });
        let body_at = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head")
            + 4;
        assert_eq!(answer.len() - body_at, 8 << 20);
        assert!(answer[body_at..].iter().all(|&b| b == b'x'));
    }
}
