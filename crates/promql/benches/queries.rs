//! The engine's own cost on the query benchmark's data set (`shared/bench/query.py`): 3,000
//! series (40 instances x 3 jobs of request counters with resets, memory gauges and cumulative
//! histogram buckets), 6 hours at 15 s with a fixed per-series jitter so samples never sit on
//! evaluation steps, 4.3 M samples in all, held in `MemoryStorage` so the storage costs next to
//! nothing and the figures are the engine's.
//!
//! Every query of the benchmark's `queries.txt` runs as it does there: `instant` at the data
//! set's end, `range` over its last hour at 60 s. Filter with criterion's usual argument, e.g.
//! `cargo bench -p narthex-promql --bench queries -- 'range sum by'`. A `select/...` benchmark
//! gives MemoryStorage's own share for the selectors the queries use, a `parse/...` one the
//! parser's for each query's text.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use narthex_model::memory::MemoryStorage;
use narthex_model::{Labels, Matcher, SeriesOrder, Storage};
use narthex_promql::{parse, Engine, EngineOptions};

/// `queries.txt`, in its order.
const QUERIES: &[&str] = &[
    "instant sum by (job) (rate(http_requests_total[5m]))",
    "range sum by (job) (rate(http_requests_total[5m]))",
    "instant histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "range histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
    "instant topk(5, rate(http_requests_total[5m]))",
    "instant count by (status) (http_requests_total)",
    "instant label_replace(node_memory_free_bytes, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "instant max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "range avg_over_time(node_memory_free_bytes[10m])",
    "instant http_requests_total / on(job, instance) group_left node_memory_free_bytes",
    "instant absent(nonexistent_metric)",
    "range predict_linear(node_memory_free_bytes[30m], 3600)",
    "instant rate(http_requests_total[5m] offset 10m)",
    "instant quantile_over_time(0.95, node_memory_free_bytes[30m])",
    "instant increase(http_requests_total[1h])",
    "instant irate(http_requests_total[5m])",
    "instant deriv(node_memory_free_bytes[15m])",
    "instant stddev by (job) (node_memory_free_bytes)",
    "instant sort_desc(sum by (instance) (rate(http_requests_total[5m])))",
    "instant http_requests_total unless http_requests_total{method=\"GET\"}",
    "instant resets(http_requests_total[1h])",
    "range sum(rate(http_requests_total[1m]))",
];

/// Not in `queries.txt`: range queries over per-step vector operations (binary operators,
/// functions of instant vectors), which the list above only runs as instant queries.
const EXTRA_QUERIES: &[&str] = &[
    "range http_requests_total / on(job, instance) group_left node_memory_free_bytes",
    "range http_requests_total unless http_requests_total{method=\"GET\"}",
    "range rate(http_requests_total[5m]) * 60",
    "range abs(node_memory_free_bytes)",
];

const JOBS: [&str; 3] = ["api", "web", "worker"];
const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
const STATUS: [&str; 4] = ["200", "404", "500", "503"];
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
const INSTANCES: usize = 40;
const HOURS: i64 = 6;
const STEP_S: i64 = 15;
/// The data set's end (unix seconds, a whole minute), as `query.py --end`.
const END_S: i64 = 1_764_000_000;

/// SplitMix64: a small deterministic generator, so the bench needs no `rand`.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

enum Kind {
    /// A counter growing by about `rate` per sample, reset to 0 now and then.
    Counter(f64),
    /// A random walk around a start value.
    Gauge(f64),
    /// A cumulative bucket: the higher the index, the faster it grows.
    Bucket(f64),
}

/// Loads query.py's data set into a fresh `MemoryStorage`.
fn dataset() -> MemoryStorage {
    let mut rnd = Rng(42);
    let mut defs: Vec<(Labels, Kind, i64)> = Vec::new();
    for (j, job) in JOBS.iter().enumerate() {
        for i in 0..INSTANCES {
            let inst = format!("10.0.{j}.{i}:9100");
            for m in METHODS {
                for st in STATUS {
                    let labels = Labels::from_pairs([
                        ("__name__", "http_requests_total"),
                        ("job", job),
                        ("instance", &inst),
                        ("method", m),
                        ("status", st),
                    ]);
                    let kind = Kind::Counter(rnd.uniform(0.1, 20.0));
                    defs.push((labels, kind, (rnd.next_u64() % 1000) as i64));
                }
            }
            let labels = Labels::from_pairs([
                ("__name__", "node_memory_free_bytes"),
                ("job", job),
                ("instance", &inst),
            ]);
            let kind = Kind::Gauge(rnd.uniform(1e9, 8e9));
            defs.push((labels, kind, (rnd.next_u64() % 1000) as i64));
            for (b, le) in BUCKETS.iter().enumerate() {
                let labels = Labels::from_pairs([
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("job", job),
                    ("instance", &inst),
                    ("le", le),
                ]);
                defs.push((
                    labels,
                    Kind::Bucket(b as f64),
                    (rnd.next_u64() % 1000) as i64,
                ));
            }
        }
    }
    let storage = MemoryStorage::new();
    let start_ms = (END_S - HOURS * 3600) * 1000;
    let n = HOURS * 3600 / STEP_S;
    for (idx, (labels, kind, jitter)) in defs.iter().enumerate() {
        let mut r = Rng(1000 + idx as u64);
        let mut state = 0.0f64;
        // One commit per series keeps the appender's pending batch small.
        let mut app = storage.appender();
        for k in 0..=n {
            let t = start_ms + k * STEP_S * 1000 + jitter;
            let v = match *kind {
                Kind::Counter(rate) => {
                    if r.unit() < 0.002 {
                        state = 0.0;
                    }
                    state += rate * r.uniform(0.5, 1.5);
                    state
                }
                Kind::Gauge(base) => {
                    if state == 0.0 {
                        state = base;
                    }
                    state += r.uniform(-5e6, 5e6);
                    state
                }
                Kind::Bucket(b) => {
                    state += (b + 1.0) * r.uniform(0.0, 3.0);
                    state.floor()
                }
            };
            app.append(labels, t, v).expect("append");
        }
        app.commit().expect("commit");
    }
    storage
}

/// Keeps glibc's malloc from handing freed memory back to the kernel after every iteration.
///
/// With its defaults (trim above 128 KiB of free top-of-heap, mmap for blocks from 128 KiB up,
/// both adapting only upwards), each query's megabytes of freshly allocated series are
/// returned when the result is dropped and page-faulted back in, zeroed, by the next run: over
/// half of a long `select` went to the kernel. A long-running server that reuses its heap does
/// not pay that on every query, so the bench measures without it. Set
/// `NARTHEX_BENCH_MALLOC_DEFAULTS=1` to measure with glibc's defaults.
fn keep_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("NARTHEX_BENCH_MALLOC_DEFAULTS").is_some() {
            return;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator tunables; it is called before the bench
        // allocates anything large and from a single thread.
        unsafe {
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mallopt(M_MMAP_THRESHOLD, 1 << 30);
        }
    }
}

fn bench_queries(c: &mut Criterion) {
    keep_heap();
    let storage = dataset();
    let engine = Engine::new(EngineOptions::default());
    let end = END_S * 1000;
    let mut group = c.benchmark_group("query");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for line in QUERIES.iter().chain(EXTRA_QUERIES) {
        let (kind, text) = line.split_once(' ').expect("kind and query");
        let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        group.bench_function(*line, |b| {
            b.iter(|| {
                let querier = storage.querier();
                let result = if kind == "instant" {
                    engine.instant(querier.as_ref(), &expr, end)
                } else {
                    engine.range(querier.as_ref(), &expr, end - 3_600_000, end, 60_000)
                };
                black_box(result.unwrap_or_else(|e| panic!("{text}: {e}")))
            })
        });
    }
    group.finish();

    // The parser's share, which every request pays before evaluating.
    let mut group = c.benchmark_group("parse");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut texts: Vec<&str> = QUERIES
        .iter()
        .map(|line| line.split_once(' ').expect("kind and query").1)
        .collect();
    texts.sort_unstable();
    texts.dedup();
    for text in texts {
        group.bench_function(text, |b| {
            b.iter(|| black_box(parse(black_box(text)).unwrap_or_else(|e| panic!("{text}: {e}"))))
        });
    }
    group.finish();

    // MemoryStorage's share: a 5 minute and a 1 hour window of the biggest metric.
    let mut group = c.benchmark_group("select");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let matchers = [Matcher::equal("__name__", "http_requests_total")];
    for (name, range) in [("5m", 300_000), ("65m", 3_900_000)] {
        group.bench_function(format!("http_requests_total[{name}]"), |b| {
            b.iter(|| {
                let querier = storage.querier();
                black_box(
                    querier
                        .select(SeriesOrder::Labels, &matchers, end - range + 1, end)
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

/// This thread's CPU time: unlike wall time, it does not count the time the thread waited for
/// a core, which on a busy shared machine is most of the noise.
fn thread_cpu_time() -> Duration {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            tv_sec: i64,
            tv_nsec: i64,
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        extern "C" {
            fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        }
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
        if unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        }
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// `NARTHEX_BENCH_MIN=N`: instead of criterion's statistics, runs every query N times and
/// prints the fastest and the median run in thread CPU time. On a shared, busy machine these
/// move far less between runs than criterion's wall-clock figures.
fn min_of_runs(runs: usize) {
    keep_heap();
    let storage = dataset();
    let engine = Engine::new(EngineOptions::default());
    let end = END_S * 1000;
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    for line in QUERIES.iter().chain(EXTRA_QUERIES) {
        if filter.as_ref().is_some_and(|f| !line.contains(f.as_str())) {
            continue;
        }
        let (kind, text) = line.split_once(' ').expect("kind and query");
        let expr = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let querier = storage.querier();
                let t0 = thread_cpu_time();
                let result = if kind == "instant" {
                    engine.instant(querier.as_ref(), &expr, end)
                } else {
                    engine.range(querier.as_ref(), &expr, end - 3_600_000, end, 60_000)
                };
                black_box(result.unwrap_or_else(|e| panic!("{text}: {e}")));
                thread_cpu_time() - t0
            })
            .collect();
        times.sort();
        println!(
            "{:>10.3} ms min {:>10.3} ms median  {line}",
            times[0].as_secs_f64() * 1e3,
            times[runs / 2].as_secs_f64() * 1e3
        );
    }
}

criterion_group!(benches, bench_queries);

fn main() {
    match std::env::var("NARTHEX_BENCH_MIN")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(runs) if runs > 0 => min_of_runs(runs),
        _ => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
