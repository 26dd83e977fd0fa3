//! Go-style spinning in Tokio's I/O driver: right after HTTP requests were served, the worker
//! that waits for I/O events looks for them without sleeping for a short while
//! (`--web.idle-spin-microseconds`), so that the next request is picked up without waking a
//! halted CPU.
//!
//! A Tokio worker with nothing to do sleeps in `epoll_wait`. On a virtual machine that halts
//! its CPU, and the client's next connection has to wake it through the hypervisor: about
//! 80 us on the benchmark machine (a Firecracker VM with guest halt-polling off), more than the
//! whole rest of a small query. Clients that send requests one after another (scripts,
//! `urllib`, Grafana's panels) send the next one a few hundred microseconds after an answer.
//!
//! Tokio has no setting for this, so this module defines the C symbol `epoll_wait` itself,
//! which mio (Tokio's I/O layer) calls instead of glibc's. On the runtime's own epoll set,
//! within [`RECENT_ACTIVITY`] of an HTTP request, it first takes events without waiting, up to
//! the budget, yielding the CPU between looks to any other thread that wants it; every other
//! call goes straight to the kernel. Only the one worker that holds Tokio's driver calls it
//! (the others sleep on a condition variable), so one thread spins at most. Linux's guest
//! halt-polling (200 us by default) and Go's scheduler, which polls the network before its
//! threads sleep, do the same. It is off on a single CPU, where it would hold up the very
//! client it waits for. A hook before Tokio parks a worker would be simpler, but the worker
//! that served the request is often not the one that then waits in `epoll_wait`, and a
//! sleeping waiter gets the event first.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long after the last HTTP activity a waiting worker still spins.
pub const RECENT_ACTIVITY: Duration = Duration::from_millis(2);

static IDLE_SPIN: OnceLock<IdleSpin> = OnceLock::new();

/// Builds the server's multi-threaded runtime, whose I/O driver spins up to `budget` after
/// HTTP activity (zero: never).
pub fn build_runtime(budget: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let multi_core = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    if !budget.is_zero() && multi_core {
        match runtime_epoll(&runtime) {
            Some(epoll) => {
                let _ = IDLE_SPIN.set(IdleSpin::new(epoll, budget));
            }
            None => tracing::debug!("the runtime's epoll set was not found; no idle spin"),
        }
    }
    Ok(runtime)
}

/// Called by the HTTP server when a connection comes in and when an answer is ready.
pub fn note_http_activity() {
    if let Some(spin) = IDLE_SPIN.get() {
        spin.note_activity();
    }
}

#[cfg(test)]
static CALLS: AtomicU64 = AtomicU64::new(0);

/// `epoll_wait(2)`, as mio calls it; on the runtime's epoll set it may spin first
/// (`IdleSpin::spin`). Defined here, in the executable, it takes the place of glibc's.
///
/// # Safety
/// As `epoll_wait(2)`: `events` has room for `maxevents` events.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: libc::c_int,
    events: *mut libc::epoll_event,
    maxevents: libc::c_int,
    timeout: libc::c_int,
) -> libc::c_int {
    #[cfg(test)]
    CALLS.fetch_add(1, Ordering::Relaxed);
    if timeout != 0 {
        if let Some(spin) = IDLE_SPIN.get().filter(|spin| spin.epoll == epfd) {
            // SAFETY: the caller's arguments, passed on.
            let found = spin.spin(|| unsafe { kernel_epoll_wait(epfd, events, maxevents, 0) });
            if let Some(found) = found {
                return found;
            }
        }
    }
    // SAFETY: the caller's arguments, passed on.
    unsafe { kernel_epoll_wait(epfd, events, maxevents, timeout) }
}

/// The system call itself, as `epoll_pwait` without a signal mask (what glibc's `epoll_wait`
/// does, and the only form some architectures have). -1 with `errno` set on an error.
unsafe fn kernel_epoll_wait(
    epfd: libc::c_int,
    events: *mut libc::epoll_event,
    maxevents: libc::c_int,
    timeout: libc::c_int,
) -> libc::c_int {
    let no_mask: *const libc::sigset_t = std::ptr::null();
    // SAFETY: the caller's arguments and a null signal mask (its size is then ignored).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait,
            epfd,
            events,
            maxevents,
            timeout,
            no_mask,
            std::mem::size_of::<libc::sigset_t>(),
        )
    };
    // The kernel returns at most `maxevents`, an int, or -1.
    rc as libc::c_int
}

/// The descriptor of the epoll set that `runtime`'s I/O driver waits on: the one in which a
/// socket registered with the runtime shows up (`/proc/self/fdinfo` lists each set's
/// descriptors). Other runtimes' sets in this process do not have it.
fn runtime_epoll(runtime: &tokio::runtime::Runtime) -> Option<RawFd> {
    let probe = runtime
        .block_on(async { tokio::net::UdpSocket::bind("127.0.0.1:0").await })
        .ok()?;
    let wanted = format!("tfd: {:>8} ", probe.as_raw_fd());
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let fd: RawFd = entry.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(entry.path()).ok()?;
        if target.as_os_str() != "anon_inode:[eventpoll]" {
            return None;
        }
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
        info.lines()
            .any(|line| line.starts_with(&wanted))
            .then_some(fd)
    })
}

/// The spin's state: which epoll set, for how long, and when HTTP was last busy.
struct IdleSpin {
    epoll: RawFd,
    budget: Duration,
    epoch: Instant,
    /// Microseconds since `epoch` of the last HTTP activity, plus one (0: none yet).
    last_activity: AtomicU64,
}

impl IdleSpin {
    fn new(epoll: RawFd, budget: Duration) -> Self {
        IdleSpin {
            epoll,
            budget,
            epoch: Instant::now(),
            last_activity: AtomicU64::new(0),
        }
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn note_activity(&self) {
        self.last_activity
            .store(self.micros().saturating_add(1), Ordering::Relaxed);
    }

    /// If HTTP was busy just now: takes events without waiting (`look`, which returns their
    /// count or -1 on an error) until there are some or the budget is spent. `None` when
    /// there were none, and the caller waits for them as usual.
    fn spin(&self, mut look: impl FnMut() -> libc::c_int) -> Option<libc::c_int> {
        let last = self.last_activity.load(Ordering::Relaxed);
        let recent = last != 0
            && self.micros().saturating_sub(last - 1) <= RECENT_ACTIVITY.as_micros() as u64;
        if !recent {
            return None;
        }
        let deadline = Instant::now() + self.budget;
        loop {
            let found = look();
            if found != 0 {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Lets any other thread that wants this CPU (RocksDB's, the blocking pool's, a
            // client's) have it: the spin uses only time nobody else would.
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{FromRawFd, OwnedFd};

    #[test]
    fn a_spin_ends_at_the_first_look_that_finds_events() {
        let spin = IdleSpin::new(-1, Duration::from_secs(60));
        spin.note_activity();
        let mut looks = 0;
        let found = spin.spin(|| {
            looks += 1;
            if looks < 5 {
                0
            } else {
                3
            }
        });
        assert_eq!(found, Some(3));
        assert_eq!(looks, 5);
        // An error ends it too, and reaches the caller as it is.
        assert_eq!(spin.spin(|| -1), Some(-1));
    }

    #[test]
    fn a_spin_that_finds_nothing_gives_up_after_its_budget() {
        let spin = IdleSpin::new(-1, Duration::from_millis(20));
        spin.note_activity();
        let mut looks = 0;
        let started = Instant::now();
        assert_eq!(
            spin.spin(|| {
                looks += 1;
                0
            }),
            None
        );
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(looks >= 2, "looked {looks} times");
    }

    #[test]
    fn no_spin_without_recent_http_activity() {
        let spin = IdleSpin::new(-1, Duration::from_secs(60));
        let mut looks = 0;
        assert_eq!(
            spin.spin(|| {
                looks += 1;
                0
            }),
            None
        );
        // Activity longer ago than RECENT_ACTIVITY does not count either.
        spin.last_activity.store(1, Ordering::Relaxed);
        std::thread::sleep(RECENT_ACTIVITY + Duration::from_millis(5));
        assert_eq!(
            spin.spin(|| {
                looks += 1;
                0
            }),
            None
        );
        assert_eq!(looks, 0);
    }

    /// A fresh epoll set watching a fresh eventfd.
    fn epoll_with_eventfd() -> (OwnedFd, OwnedFd) {
        // SAFETY: plain descriptor-creating calls, checked below.
        let (epoll, event) = unsafe { (libc::epoll_create1(0), libc::eventfd(0, 0)) };
        assert!(epoll >= 0 && event >= 0, "epoll_create1/eventfd failed");
        let mut interest = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 7,
        };
        // SAFETY: both descriptors were just created; `interest` outlives the call.
        let rc = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, event, &mut interest) };
        assert_eq!(rc, 0, "epoll_ctl");
        // SAFETY: each descriptor is owned here alone.
        unsafe { (OwnedFd::from_raw_fd(epoll), OwnedFd::from_raw_fd(event)) }
    }

    #[test]
    fn epoll_wait_passes_other_sets_through_to_the_kernel() {
        let (epoll, event) = epoll_with_eventfd();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: the buffer holds the 4 events asked for.
        let none = unsafe { epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), 4, 0) };
        assert_eq!(none, 0);
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to an eventfd.
        let written = unsafe { libc::write(event.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        assert_eq!(written, 8);
        // SAFETY: as above; the event is there, so the wait returns at once.
        let found = unsafe { epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), 4, 10_000) };
        assert_eq!(found, 1);
        let (data, flags) = (events[0].u64, events[0].events);
        assert_eq!((data, flags), (7, libc::EPOLLIN as u32));
        // SAFETY: as above, on a descriptor that is no epoll set.
        let failed = unsafe { epoll_wait(event.as_raw_fd(), events.as_mut_ptr(), 4, 0) };
        assert_eq!(failed, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn tokio_waits_through_this_epoll_wait_on_the_set_found() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let epoll = runtime_epoll(&runtime).expect("the runtime's epoll set");
        let before = CALLS.load(Ordering::Relaxed);
        // A connection the runtime waits for: its worker sleeps in epoll_wait meanwhile.
        let answer = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                std::net::TcpStream::connect(address).expect("connect")
            });
            listener.accept().await.map(|_| ())
        });
        assert!(answer.is_ok());
        assert!(
            CALLS.load(Ordering::Relaxed) > before,
            "the runtime did not call this module's epoll_wait"
        );
        // The set found is the runtime's: a connection waiting on a listener the runtime
        // watches shows up in it. The only worker is held busy meanwhile, so that it does not
        // take the event first.
        let listener = runtime.block_on(async {
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind")
        });
        let address = listener.local_addr().expect("address");
        let (started, holding) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = started.send(());
            std::thread::sleep(Duration::from_secs(2));
        });
        holding.recv().expect("the worker runs the holding task");
        let _client = std::net::TcpStream::connect(address).expect("connect");
        let mut readiness = libc::pollfd {
            fd: epoll,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; waits at most 1.5 s, while the worker is held.
        let ready = unsafe { libc::poll(&mut readiness, 1, 1_500) };
        assert_eq!(
            ready, 1,
            "the descriptor found is not the runtime's epoll set"
        );
        drop(listener);
    }
}
