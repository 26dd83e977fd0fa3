//! Criterion benchmarks of the storage engine on a real RocksDB directory: appending a scrape's
//! worth of samples, and selecting series over the windows PromQL asks for.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use narthex_model::{Labels, Matcher, SeriesOrder, Storage};
use narthex_tsdb::Tsdb;

const SERIES: usize = 10_000;
const SCRAPE_MS: i64 = 15_000;

fn series() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("metric_{}", i % 100)),
                ("instance", format!("host-{}:9100", i / 100)),
                ("job", "node".to_string()),
            ])
        })
        .collect()
}

/// One commit of one sample for each of 10,000 series, as one scrape of a large target.
fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tsdb = Tsdb::open(dir.path()).expect("open");
    let labels = series();
    let mut t = 0i64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("scrape_of_10k_series", |b| {
        b.iter(|| {
            t += SCRAPE_MS;
            let mut app = tsdb.appender();
            for (i, l) in labels.iter().enumerate() {
                app.append(l, t, (t / 1000 + i as i64) as f64)
                    .expect("append");
            }
            app.commit().expect("commit");
        })
    });
    group.finish();
}

/// 1,000 series of the data set above over 4 hours; reads of a 5-minute and a 1-hour window
/// at the end (head and RocksDB chunks), and of the whole range.
fn select(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tsdb = Tsdb::open(dir.path()).expect("open");
    let labels: Vec<Labels> = series().into_iter().take(1000).collect();
    let steps = 4 * 3600 * 1000 / SCRAPE_MS;
    for step in 0..steps {
        let t = step * SCRAPE_MS;
        let mut app = tsdb.appender();
        for (i, l) in labels.iter().enumerate() {
            app.append(l, t, (step * (i as i64 + 1)) as f64)
                .expect("append");
        }
        app.commit().expect("commit");
    }
    let end = (steps - 1) * SCRAPE_MS;
    let matcher = [Matcher::equal("job", "node")];
    let mut group = c.benchmark_group("select_1000_series");
    for (name, window) in [("5m", 300_000i64), ("1h", 3_600_000), ("4h", end + 1)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || tsdb.querier(),
                |q| {
                    q.select(SeriesOrder::Labels, &matcher, end - window + 1, end)
                        .expect("select")
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, append, select);
criterion_main!(benches);
