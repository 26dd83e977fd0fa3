//! Spinning in Tokio's I/O driver: for a moment after HTTP activity, the worker that waits for
//! I/O events looks for them without sleeping (`--web.idle-spin-microseconds`), so that the
//! next request is picked up without waking a halted CPU. The HTTP acceptor thread
//! (`first_request`) spins the same way on its listener, with an [`IdleSpin`] of its own
//! ([`acceptor_spin`]).
//!
//! A Tokio worker with nothing to do sleeps in `epoll_wait`. On a virtual machine that halts
//! its CPU, and the client's next connection has to wake it through the hypervisor: about
//! 80 us on the benchmark machine (a Firecracker VM with guest halt-polling off), more than the
//! whole rest of a small query. Clients that send requests one after another (scripts,
//! `urllib`, Grafana's panels) send the next one a few hundred microseconds after an answer.
//!
//! Tokio has no setting for this, so this module defines the C symbol `epoll_wait` itself,
//! which mio (Tokio's I/O layer) calls instead of glibc's. On the runtime's own epoll set,
//! within [`RECENT_ACTIVITY`] of an HTTP request, it first takes events without waiting, for
//! up to the budget (never past the wait's own timeout), with a `sched_yield` every
//! [`LOOKS_PER_YIELD`] looks so that a thread queued on the same CPU runs first; once one has,
//! the CPU is wanted and the spin stops. Every other call goes straight to the kernel.
//!
//! Only the one worker that holds Tokio's driver waits there (the others sleep on a condition
//! variable), and a wake-up for it (a task from another thread, a timer change) writes to an
//! eventfd in the same set, so the spin sees it as an event. Linux's guest halt-polling
//! (200 us by default) does the same in the kernel. The spin is off on a single CPU, where it
//! would hold up the very client it waits for; the CPU it uses is the host's too. A hook
//! before Tokio parks a worker would be simpler, but the worker that served the request is
//! often not the one that then waits in `epoll_wait`, and a sleeping waiter gets the event
//! first.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long after the last HTTP activity a waiting worker still spins.
pub const RECENT_ACTIVITY: Duration = Duration::from_millis(2);

/// A `sched_yield` that takes this long let another thread run (alone it takes about a
/// microsecond).
const ANOTHER_THREAD_RAN: Duration = Duration::from_micros(20);

/// Looks between two yields: a yield costs about as much as a look, and a look soon after
/// the event comes is what the spin is for. With a yield after every look, `query.py`'s
/// `absent` was over 0.5x of Prometheus's in 139 of 500 cycles, with one every eight in 98
/// (BENCHMARKS.md, session 21).
const LOOKS_PER_YIELD: u32 = 8;

/// The largest budget `--web.idle-spin-microseconds` takes.
pub const MAX_BUDGET_MICROSECONDS: u64 = 10_000;

static IDLE_SPIN: OnceLock<IdleSpin> = OnceLock::new();

/// Builds the server's multi-threaded runtime, whose I/O driver spins up to `budget` after
/// HTTP activity (zero: never).
pub fn build_runtime(budget: Duration) -> std::io::Result<tokio::runtime::Runtime> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if spinning_allowed(budget) {
        let sets = runtime_epoll_descriptors(&runtime);
        if sets.is_empty() {
            tracing::debug!("the runtime's epoll set was not found; no idle spin");
        } else {
            let _ = IDLE_SPIN.set(IdleSpin::new(sets, budget));
        }
    }
    Ok(runtime)
}

/// A spin of its own for the HTTP acceptor thread (`first_request`), which waits on its
/// listener rather than in Tokio: `None` when spinning is off (a zero budget, one CPU).
pub fn acceptor_spin(budget: Duration) -> Option<std::sync::Arc<IdleSpin>> {
    spinning_allowed(budget).then(|| std::sync::Arc::new(IdleSpin::new(Vec::new(), budget)))
}

/// A spin needs a budget and a second CPU: on one, it would hold up the client it waits for.
fn spinning_allowed(budget: Duration) -> bool {
    !budget.is_zero() && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Called by the HTTP server when a connection comes in and when an answer is ready.
pub fn note_http_activity() {
    if let Some(spin) = IDLE_SPIN.get() {
        spin.note_activity();
    }
}

/// `epoll_wait(2)`, as mio calls it. Defined here, in the executable, it takes the place of
/// glibc's; see [`wait`].
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
    tests::note_call(epfd);
    // SAFETY: the caller's arguments, passed on.
    unsafe { wait(IDLE_SPIN.get(), epfd, events, maxevents, timeout) }
}

/// Waits as `epoll_wait(2)` does; on one of `spin`'s sets with a timeout other than zero,
/// spins first ([`IdleSpin::spin`]) and then waits for what is left of the timeout.
///
/// # Safety
/// As `epoll_wait(2)`.
unsafe fn wait(
    spin: Option<&IdleSpin>,
    epfd: libc::c_int,
    events: *mut libc::epoll_event,
    maxevents: libc::c_int,
    timeout: libc::c_int,
) -> libc::c_int {
    let Some(spin) = spin.filter(|spin| timeout != 0 && spin.watches(epfd)) else {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { kernel_epoll_wait(epfd, events, maxevents, timeout) };
    };
    // A negative timeout waits for ever.
    let limit = u64::try_from(timeout).map(Duration::from_millis).ok();
    let started = Instant::now();
    // SAFETY: the caller's arguments, passed on, with a zero timeout.
    let found = spin.spin(limit, || unsafe {
        kernel_epoll_wait(epfd, events, maxevents, 0)
    });
    if let Some(found) = found {
        return found;
    }
    let left = match limit {
        None => -1,
        Some(limit) => {
            let spent = started.elapsed();
            // At most the timeout given, which is a c_int; zero: one more look.
            let left = limit.saturating_sub(spent).as_millis();
            libc::c_int::try_from(left).unwrap_or(timeout)
        }
    };
    // SAFETY: the caller's arguments, passed on.
    unsafe { kernel_epoll_wait(epfd, events, maxevents, left) }
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
    // The kernel's signal set size (_NSIG / 8), as glibc passes it; unused without a mask.
    let mask_size: libc::size_t = 8;
    // SAFETY: the caller's arguments and a null signal mask.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait,
            epfd,
            events,
            maxevents,
            timeout,
            no_mask,
            mask_size,
        )
    };
    // The kernel returns at most `maxevents`, an int, or -1.
    rc as libc::c_int
}

/// The descriptors of the epoll set that `runtime`'s I/O driver waits on: those in which a
/// socket registered with the runtime shows up (`/proc/self/fdinfo` lists each set's
/// descriptors). The driver holds its set twice (one descriptor to wait on, a duplicate to
/// register with); other runtimes' sets in this process do not have the socket.
fn runtime_epoll_descriptors(runtime: &tokio::runtime::Runtime) -> Vec<RawFd> {
    let Ok(probe) = runtime.block_on(async { tokio::net::UdpSocket::bind("127.0.0.1:0").await })
    else {
        return Vec::new();
    };
    let wanted = format!("tfd: {:>8} ", probe.as_raw_fd());
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
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
        .collect()
}

/// The spin's state: which epoll set, for how long, and when HTTP was last busy.
pub struct IdleSpin {
    /// The set's descriptors. They stay open as long as the runtime, which is as long as the
    /// process serves.
    epoll: Vec<RawFd>,
    budget: Duration,
    /// How long after HTTP activity a wait still spins ([`RECENT_ACTIVITY`]).
    recent: Duration,
    /// A yield this long means another thread wanted the CPU ([`ANOTHER_THREAD_RAN`]).
    contended: Duration,
    epoch: Instant,
    /// Microseconds since `epoch` of the last HTTP activity, plus one (0: none yet).
    last_activity: AtomicU64,
}

impl IdleSpin {
    fn new(epoll: Vec<RawFd>, budget: Duration) -> Self {
        IdleSpin {
            epoll,
            budget,
            recent: RECENT_ACTIVITY,
            contended: ANOTHER_THREAD_RAN,
            epoch: Instant::now(),
            last_activity: AtomicU64::new(0),
        }
    }

    fn watches(&self, epfd: RawFd) -> bool {
        self.epoll.contains(&epfd)
    }

    fn micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub fn note_activity(&self) {
        self.last_activity
            .store(self.micros().saturating_add(1), Ordering::Relaxed);
    }

    /// If HTTP was busy just now: takes events without waiting (`look`, which returns their
    /// count or -1 on an error) until there are some or the budget, or `limit` if shorter,
    /// is spent. `None` when there were none, and the caller waits for them as usual.
    pub fn spin(
        &self,
        limit: Option<Duration>,
        mut look: impl FnMut() -> libc::c_int,
    ) -> Option<libc::c_int> {
        let last = self.last_activity.load(Ordering::Relaxed);
        let since = self.micros().saturating_sub(last.saturating_sub(1));
        if last == 0 || u128::from(since) > self.recent.as_micros() {
            return None;
        }
        let budget = limit.map_or(self.budget, |limit| limit.min(self.budget));
        let mut now = Instant::now();
        let deadline = now + budget;
        let mut looks = 0u32;
        loop {
            let found = look();
            if found != 0 {
                return Some(found);
            }
            looks = looks.wrapping_add(1);
            if !looks.is_multiple_of(LOOKS_PER_YIELD) {
                std::hint::spin_loop();
                continue;
            }
            let before = Instant::now();
            if before >= deadline {
                return None;
            }
            // A thread queued on this CPU (RocksDB's, the blocking pool's, a client's) runs
            // first.
            std::thread::yield_now();
            now = Instant::now();
            // If one ran, at the yield or by preempting this one, the CPU is wanted: spinning
            // on would take turns with that thread and slow it down (a query on the blocking
            // pool, a client on this CPU), so after one more look the wait sleeps.
            if now - before >= self.contended {
                let found = look();
                return (found != 0).then_some(found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::Mutex;

    /// Each epoll descriptor the process waited on through `epoll_wait`, with the last time.
    static WAITED_ON: Mutex<Vec<(RawFd, Instant)>> = Mutex::new(Vec::new());

    pub(super) fn note_call(epfd: RawFd) {
        let mut seen = WAITED_ON.lock().unwrap_or_else(|e| e.into_inner());
        match seen.iter_mut().find(|(fd, _)| *fd == epfd) {
            Some((_, last)) => *last = Instant::now(),
            None => seen.push((epfd, Instant::now())),
        }
    }

    const LONG: Duration = Duration::from_secs(600);

    /// A spin on `epoll` for `budget` after activity up to `recent` ago, which goes on
    /// spinning beside other threads (the tests run in parallel) unless `contended` is set.
    fn spin_for(epoll: Vec<RawFd>, budget: Duration, recent: Duration) -> IdleSpin {
        let mut spin = IdleSpin::new(epoll, budget);
        spin.recent = recent;
        spin.contended = Duration::MAX;
        spin
    }

    #[test]
    fn a_spin_ends_at_the_first_look_that_finds_events() {
        let spin = spin_for(Vec::new(), LONG, LONG);
        spin.note_activity();
        let mut looks = 0;
        let found = spin.spin(None, || {
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
        assert_eq!(spin.spin(None, || -1), Some(-1));
    }

    #[test]
    fn a_spin_that_finds_nothing_gives_up_after_its_budget_or_the_wait_limit() {
        let spin = spin_for(Vec::new(), Duration::from_millis(20), LONG);
        spin.note_activity();
        let mut looks = 0;
        let started = Instant::now();
        assert_eq!(
            spin.spin(None, || {
                looks += 1;
                0
            }),
            None
        );
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(looks >= 2, "looked {looks} times");

        // A wait's own timeout, when shorter, ends the spin sooner: the look that finds the
        // event ending a budget of ten minutes would come only after 40 ms.
        let spin = spin_for(Vec::new(), LONG, LONG);
        spin.note_activity();
        let started = Instant::now();
        let found = spin.spin(Some(Duration::from_millis(20)), || {
            i32::from(started.elapsed() >= Duration::from_millis(40))
        });
        assert_eq!(found, None);
    }

    #[test]
    fn a_spin_stops_when_another_thread_wants_its_cpu() {
        // Both threads on one CPU: the one this test runs on, if the test may choose it.
        // SAFETY: sched_getcpu has no arguments.
        let cpu = usize::try_from(unsafe { libc::sched_getcpu() }).expect("sched_getcpu");
        let pin = move || {
            // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            unsafe { libc::CPU_SET(cpu, &mut set) };
            // SAFETY: sets the calling thread's affinity from a live set.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 }
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinner = std::thread::spawn({
            let stop = stop.clone();
            move || {
                if !pin() {
                    return None;
                }
                let mut spin = spin_for(Vec::new(), Duration::from_secs(60), LONG);
                spin.contended = ANOTHER_THREAD_RAN;
                spin.note_activity();
                let started = Instant::now();
                let mut looks = 0;
                let found = spin.spin(None, || {
                    looks += 1;
                    0
                });
                stop.store(true, Ordering::Relaxed);
                Some((found, started.elapsed(), looks))
            }
        });
        let busy = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let pinned = pin();
                while pinned && !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }
        });
        let outcome = spinner.join().expect("spinner");
        stop.store(true, Ordering::Relaxed);
        busy.join().expect("busy thread");
        // Pinning can be refused (a restricted CPU set); then there is nothing to check.
        if let Some((found, took, looks)) = outcome {
            assert_eq!(found, None);
            assert!(
                took < Duration::from_secs(30),
                "spun {took:?} beside a busy thread"
            );
            assert!(looks >= 2, "one more look after yielding: {looks}");
        }
    }

    #[test]
    fn no_spin_without_recent_http_activity() {
        let spin = spin_for(Vec::new(), LONG, Duration::from_millis(10));
        let mut looks = 0;
        assert_eq!(
            spin.spin(None, || {
                looks += 1;
                0
            }),
            None
        );
        spin.note_activity();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            spin.spin(None, || {
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

    fn signal(event: RawFd) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to an eventfd.
        let written = unsafe { libc::write(event, one.as_ptr().cast(), one.len()) };
        assert_eq!(written, 8, "eventfd write");
    }

    fn thread_cpu_time() -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes one timespec into a live one.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        assert_eq!(rc, 0, "clock_gettime");
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    /// `wait` on `epoll` with room for four events: the count and the first event's data.
    fn wait_on(spin: Option<&IdleSpin>, epoll: RawFd, timeout: i32) -> (i32, u64) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: the buffer holds the 4 events asked for.
        let found = unsafe { wait(spin, epoll, events.as_mut_ptr(), 4, timeout) };
        (found, events[0].u64)
    }

    #[test]
    fn epoll_wait_passes_waits_through_to_the_kernel() {
        let (epoll, event) = epoll_with_eventfd();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: the buffer holds the 4 events asked for.
        let none = unsafe { epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), 4, 0) };
        assert_eq!(none, 0);
        signal(event.as_raw_fd());
        // SAFETY: as above; the event is there, so the wait returns at once.
        let found = unsafe { epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), 4, 600_000) };
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
    fn a_wait_on_a_watched_set_spins_then_sleeps_for_the_rest() {
        let (epoll, event) = epoll_with_eventfd();
        let spin = spin_for(vec![epoll.as_raw_fd()], Duration::from_millis(200), LONG);
        spin.note_activity();
        // Nothing comes: the spin, on the CPU, then the sleep, off it, end with the wait's
        // 300 ms. (The spin yields to other threads; it gets a tenth of a CPU at least.)
        let (started, cpu_before) = (Instant::now(), thread_cpu_time());
        assert_eq!(wait_on(Some(&spin), epoll.as_raw_fd(), 300), (0, 0));
        let (took, cpu) = (started.elapsed(), thread_cpu_time() - cpu_before);
        assert!(took >= Duration::from_millis(299), "{took:?}");
        assert!(
            cpu >= Duration::from_millis(20),
            "spun for {cpu:?} of CPU only"
        );
        let spin = spin_for(vec![epoll.as_raw_fd()], Duration::from_millis(20), LONG);
        spin.note_activity();
        // An event during the spin is returned by it, and one during the sleep after it wakes
        // the sleep, both with their data.
        for delay_ms in [5, 100] {
            let event_fd = event.as_raw_fd();
            let signaller = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay_ms));
                signal(event_fd);
            });
            assert_eq!(wait_on(Some(&spin), epoll.as_raw_fd(), -1), (1, 7));
            signaller.join().expect("signaller");
            let mut count = [0u8; 8];
            // SAFETY: reads 8 bytes into a live buffer from the eventfd (resets it).
            let read = unsafe { libc::read(event_fd, count.as_mut_ptr().cast(), 8) };
            assert_eq!(read, 8);
        }
        // A zero timeout never spins, and a set not watched is passed through: either would
        // take a minute otherwise.
        let spin = spin_for(vec![epoll.as_raw_fd()], Duration::from_secs(60), LONG);
        spin.note_activity();
        let started = Instant::now();
        assert_eq!(wait_on(Some(&spin), epoll.as_raw_fd(), 0), (0, 0));
        let (other, _other_event) = epoll_with_eventfd();
        assert_eq!(wait_on(Some(&spin), other.as_raw_fd(), 30), (0, 0));
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn tokio_waits_through_this_epoll_wait_on_the_set_found() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sets = runtime_epoll_descriptors(&runtime);
        assert!(!sets.is_empty(), "the runtime's epoll set was not found");
        // Descriptor numbers of sets closed before are reused; only later calls count.
        let found_at = Instant::now();
        // The runtime's worker waits for the connection below in epoll_wait, on its set.
        runtime
            .block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let address = listener.local_addr()?;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    std::net::TcpStream::connect(address)
                });
                listener.accept().await.map(|_| ())
            })
            .expect("accept");
        let deadline = Instant::now() + Duration::from_secs(20);
        let waited_on_found = || {
            let seen = WAITED_ON.lock().unwrap_or_else(|e| e.into_inner());
            seen.iter()
                .any(|(fd, last)| sets.contains(fd) && *last >= found_at)
        };
        while !waited_on_found() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            waited_on_found(),
            "no epoll_wait call on the set found ({sets:?})"
        );
    }
}
