//! Tests of the storage engine against a real RocksDB directory.

use super::*;
use narthex_model::{MatchOp, Matcher, Sample, Series, SeriesOrder};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn write(tsdb: &Tsdb, series: &Labels, samples: &[(i64, f64)]) {
    let mut app = tsdb.appender();
    for &(t, v) in samples {
        app.append(series, t, v).unwrap();
    }
    app.commit().unwrap();
}

fn select(tsdb: &Tsdb, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
    tsdb.querier()
        .select(SeriesOrder::Labels, matchers, mint, maxt)
        .unwrap()
}

#[test]
fn samples_survive_reopen_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let up = labels(&[("__name__", "up"), ("job", "a")]);
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        write(&tsdb, &up, &[(1000, 1.0), (2000, 0.0)]);
        assert_eq!(tsdb.series_count(), 1);
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    assert_eq!(tsdb.series_count(), 1);
    // The head is rebuilt: the series' newest chunk is open in memory again.
    assert_eq!(tsdb.head_chunks(), 1);
    // The newest timestamp was restored: an older sample is refused, a newer one accepted.
    let mut app = tsdb.appender();
    assert!(matches!(
        app.append(&up, 1500, 5.0),
        Err(StorageError::OutOfOrder)
    ));
    app.append(&up, 3000, 1.0).unwrap();
    app.commit().unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "up")], 0, 10_000);
    assert_eq!(got.len(), 1);
    let values: Vec<(i64, f64)> = got[0].samples.iter().map(|s| (s.t, s.v)).collect();
    assert_eq!(values, [(1000, 1.0), (2000, 0.0), (3000, 1.0)]);
}

#[test]
fn uncommitted_batch_is_invisible_and_rollback_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let series = labels(&[("__name__", "x")]);
    let mut app = tsdb.appender();
    app.append(&series, 1, 1.0).unwrap();
    assert!(select(&tsdb, &[Matcher::equal("__name__", "x")], 0, 10).is_empty());
    app.rollback();
    assert!(select(&tsdb, &[Matcher::equal("__name__", "x")], 0, 10).is_empty());
    assert_eq!(tsdb.series_count(), 0);
}

#[test]
fn out_of_order_and_duplicates_are_rejected_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let series = labels(&[("__name__", "x")]);
    write(&tsdb, &series, &[(100, 1.0)]);
    let mut app = tsdb.appender();
    assert!(matches!(
        app.append(&series, 50, 1.0),
        Err(StorageError::OutOfOrder)
    ));
    assert!(matches!(
        app.append(&series, 100, 2.0),
        Err(StorageError::DuplicateTimestamp)
    ));
    // The same value at the same time is an idempotent resend, not an error.
    app.append(&series, 100, 1.0).unwrap();
    app.append(&series, 200, 3.0).unwrap();
    assert!(matches!(
        app.append(&series, 150, 3.0),
        Err(StorageError::OutOfOrder)
    ));
    app.commit().unwrap();
    assert_eq!(tsdb.stats().out_of_order_samples.load(Ordering::Relaxed), 2);
    assert_eq!(tsdb.stats().duplicate_samples.load(Ordering::Relaxed), 1);
    let got = select(&tsdb, &[Matcher::equal("__name__", "x")], 0, 1000);
    let times: Vec<i64> = got[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(times, [100, 200]);
}

#[test]
fn stale_marker_is_stored_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let series = labels(&[("__name__", "x")]);
    write(&tsdb, &series, &[(1, narthex_model::stale_nan())]);
    let got = select(&tsdb, &[Matcher::equal("__name__", "x")], 0, 10);
    assert!(narthex_model::is_stale_nan(got[0].samples[0].v));
}

#[test]
fn all_four_matcher_types_and_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    for (job, instance) in [("api", "a:1"), ("api", "b:1"), ("db", "c:1")] {
        let series = labels(&[("__name__", "up"), ("job", job), ("instance", instance)]);
        write(&tsdb, &series, &[(10, 1.0), (20, 1.0), (30, 1.0)]);
    }
    write(&tsdb, &labels(&[("__name__", "other")]), &[(10, 1.0)]);
    let name = Matcher::equal("__name__", "up");
    let instances = |ms: &[Matcher]| -> Vec<String> {
        select(&tsdb, ms, 0, 100)
            .iter()
            .map(|s| s.labels.get("instance").unwrap_or("").to_string())
            .collect()
    };
    let m = |op, n, v| Matcher::new(op, n, v).unwrap();
    assert_eq!(
        instances(&[name.clone(), m(MatchOp::Equal, "job", "api")]),
        ["a:1", "b:1"]
    );
    assert_eq!(
        instances(&[name.clone(), m(MatchOp::NotEqual, "job", "api")]),
        ["c:1"]
    );
    assert_eq!(
        instances(&[name.clone(), m(MatchOp::RegexMatch, "instance", "(a|c):.*")]),
        ["a:1", "c:1"]
    );
    assert_eq!(
        instances(&[name.clone(), m(MatchOp::RegexNoMatch, "job", "d.")]),
        ["a:1", "b:1"]
    );
    // A matcher on a label no series has matches only when it accepts the empty value.
    assert_eq!(instances(&[m(MatchOp::Equal, "zone", "")]).len(), 4);
    assert!(instances(&[m(MatchOp::Equal, "zone", "x")]).is_empty());
    // Time range is inclusive at both ends; series without samples in range are left out.
    let got = select(&tsdb, &[name], 20, 20);
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|s| s.samples.len() == 1 && s.samples[0].t == 20));
    assert!(select(&tsdb, &[Matcher::equal("__name__", "other")], 11, 100).is_empty());
    assert_eq!(tsdb.label_values("job"), ["api", "db"]);
    assert_eq!(tsdb.label_names(), ["__name__", "instance", "job"]);
}

#[test]
fn a_second_instance_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Tsdb::open(dir.path()).unwrap();
    match Tsdb::open(dir.path()) {
        Err(err @ OpenError::Locked { .. }) => {
            assert!(
                err.to_string().contains("in use by another process"),
                "{err}"
            )
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("second open succeeded"),
    }
}

#[test]
fn a_foreign_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("01HXYZBLOCK")).unwrap();
    std::fs::write(dir.path().join("queries.active"), b"").unwrap();
    match Tsdb::open(dir.path()) {
        Err(err @ OpenError::Foreign { .. }) => {
            let text = err.to_string();
            assert!(text.contains("does not hold a Narthex database"), "{text}");
            assert!(text.contains("queries.active"), "{text}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("opened a foreign directory"),
    }
    // Nothing was written into it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn series_without_a_metric_name_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let mut app = tsdb.appender();
    let err = app.append(&labels(&[("job", "x")]), 1, 1.0).unwrap_err();
    assert!(err.is_sample_error());
    assert!(err.to_string().contains("no metric name"));
}

#[test]
fn concurrent_appenders_create_each_series_once() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let tsdb = &tsdb;
            scope.spawn(move || {
                for i in 0..50i64 {
                    let mut app = tsdb.appender();
                    let shared = labels(&[("__name__", "shared"), ("i", &i.to_string())]);
                    let own = labels(&[("__name__", "own"), ("w", &worker.to_string())]);
                    // Several workers may race on `shared` at the same time; at most one wins.
                    let _ = app.append(&shared, 1000, 1.0);
                    app.append(&own, i, 1.0).unwrap();
                    app.commit().unwrap();
                }
            });
        }
    });
    assert_eq!(tsdb.series_count(), 54);
    let own = select(&tsdb, &[Matcher::equal("__name__", "own")], 0, 100);
    assert_eq!(own.len(), 4);
    assert!(own.iter().all(|s| s.samples.len() == 50));
}

/// A deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn as_pairs(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
}

/// Samples over several blocks and many chunks per series, read back over random ranges
/// before and after a reopen, compared with the written samples bit for bit.
#[test]
fn select_matches_what_was_written_across_chunks_blocks_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let series: Vec<Labels> = (0..20)
        .map(|i| labels(&[("__name__", "m"), ("i", &format!("{i:02}"))]))
        .collect();
    let mut written: Vec<Vec<Sample>> = vec![Vec::new(); series.len()];
    let start = -3 * BLOCK_DURATION_MS + 12_345;
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        let mut t = start;
        for step in 0..1500 {
            t += 1 + rng.below(15_000) as i64;
            let mut app = tsdb.appender();
            for (i, s) in series.iter().enumerate() {
                if rng.below(10) == 0 {
                    continue;
                }
                let v = match rng.below(50) {
                    0 => f64::from_bits(narthex_model::STALE_NAN_BITS),
                    1 => f64::INFINITY,
                    2 => -0.0,
                    _ => (step as f64) * (i as f64 + 0.5),
                };
                app.append(s, t, v).unwrap();
                written[i].push(Sample { t, v });
            }
            app.commit().unwrap();
            if step == 700 {
                tsdb.checkpoint().unwrap();
            }
        }
        assert!(tsdb.stats().chunks_created.load(Ordering::Relaxed) > 100);
        check_ranges(&tsdb, &written, &mut rng);
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    check_ranges(&tsdb, &written, &mut rng);
    // Appends continue after the newest sample of each series.
    let last = written[0].last().unwrap().t;
    write(&tsdb, &series[0], &[(last + 1, 42.0)]);
    let got = select(&tsdb, &[Matcher::equal("i", "00")], last, last + 1);
    assert_eq!(as_pairs(&got[0].samples).len(), 2);
}

fn check_ranges(tsdb: &Tsdb, written: &[Vec<Sample>], rng: &mut Rng) {
    let all_min = written.iter().flatten().map(|s| s.t).min().unwrap();
    let all_max = written.iter().flatten().map(|s| s.t).max().unwrap();
    let mut ranges = vec![(i64::MIN, i64::MAX), (all_min, all_min), (all_max, all_max)];
    for _ in 0..30 {
        let a = all_min + rng.below((all_max - all_min) as u64) as i64;
        let b = a + rng.below(3 * BLOCK_DURATION_MS as u64) as i64;
        ranges.push((a, b));
    }
    // Ranges ending among the newest samples, as queries of the present: the newest sample
    // comes from the head without decoding when the range ends at or after the second newest.
    for back in [0, 1, 7_500, 15_000, 30_000, 300_000] {
        ranges.push((all_max - back - 300_000, all_max - back));
    }
    for (mint, maxt) in ranges {
        let got = select(tsdb, &[Matcher::equal("__name__", "m")], mint, maxt);
        let want: Vec<(String, Vec<(i64, u64)>)> = written
            .iter()
            .enumerate()
            .map(|(i, samples)| {
                let inside: Vec<Sample> = samples
                    .iter()
                    .copied()
                    .filter(|s| s.t >= mint && s.t <= maxt)
                    .collect();
                (format!("{i:02}"), as_pairs(&inside))
            })
            .filter(|(_, s)| !s.is_empty())
            .collect();
        let got: Vec<(String, Vec<(i64, u64)>)> = got
            .iter()
            .map(|s| (s.labels.get("i").unwrap().to_string(), as_pairs(&s.samples)))
            .collect();
        assert_eq!(got, want, "range [{mint}, {maxt}]");
        let newest: Vec<(String, Vec<(i64, u64)>)> = tsdb
            .querier()
            .select_newest(
                SeriesOrder::Labels,
                &[Matcher::equal("__name__", "m")],
                mint,
                maxt,
            )
            .unwrap()
            .iter()
            .map(|s| (s.labels.get("i").unwrap().to_string(), as_pairs(&s.samples)))
            .collect();
        let want_newest: Vec<(String, Vec<(i64, u64)>)> = want
            .into_iter()
            .map(|(i, samples)| (i, samples.last().into_iter().copied().collect()))
            .collect();
        assert_eq!(newest, want_newest, "newest in range [{mint}, {maxt}]");
    }
}

#[test]
fn a_checkpoint_empties_the_write_ahead_log_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let series = labels(&[("__name__", "x")]);
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        for t in 0..500 {
            write(&tsdb, &series, &[(t * 1000, t as f64)]);
        }
        assert!(tsdb.wal_bytes() > 500 * 10);
        tsdb.checkpoint().unwrap();
        assert_eq!(tsdb.wal_bytes(), 0);
        write(&tsdb, &series, &[(500_000, 500.0)]);
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "x")], 0, i64::MAX);
    assert_eq!(got[0].samples.len(), 501);
    assert!(got[0]
        .samples
        .iter()
        .enumerate()
        .all(|(i, s)| s.t == i as i64 * 1000 && s.v == i as f64));
}

/// Retention drops whole two-hour blocks older than the newest sample minus the retention
/// time, and series left without samples.
#[test]
fn retention_drops_whole_old_blocks_and_empty_series() {
    let dir = tempfile::tempdir().unwrap();
    let options = TsdbOptions {
        retention_ms: Some(3 * BLOCK_DURATION_MS),
        ..TsdbOptions::default()
    };
    let tsdb = Tsdb::open_with(dir.path(), options).unwrap();
    let old = labels(&[("__name__", "old"), ("job", "gone")]);
    let live = labels(&[("__name__", "live")]);
    write(&tsdb, &old, &[(1000, 1.0), (BLOCK_DURATION_MS + 5, 2.0)]);
    let minute = 60_000;
    let samples: Vec<(i64, f64)> = (0..(6 * BLOCK_DURATION_MS / minute))
        .map(|i| (i * minute, i as f64))
        .collect();
    // A series whose chunk in block 1 is still one the head keeps for recent reads.
    let straddle = labels(&[("__name__", "straddle")]);
    let straddle_samples: Vec<(i64, f64)> = (-30..10)
        .map(|i| (2 * BLOCK_DURATION_MS + i * minute, i as f64))
        .collect();
    write(&tsdb, &straddle, &straddle_samples);
    write(&tsdb, &live, &samples);
    let newest = samples.last().unwrap().0;
    tsdb.apply_retention().unwrap();
    let got = select(
        &tsdb,
        &[Matcher::equal("__name__", "straddle")],
        i64::MIN,
        i64::MAX,
    );
    let times: Vec<i64> = got[0].samples.iter().map(|s| s.t).collect();
    let kept: Vec<i64> = (0..10)
        .map(|i| 2 * BLOCK_DURATION_MS + i * minute)
        .collect();
    assert_eq!(
        times, kept,
        "the dropped block's samples are gone from memory too"
    );
    // The cutoff (newest - 3 blocks) falls inside block 2, which is kept whole.
    let first_kept =
        (newest - 3 * BLOCK_DURATION_MS).div_euclid(BLOCK_DURATION_MS) * BLOCK_DURATION_MS;
    let got = select(
        &tsdb,
        &[Matcher::equal("__name__", "live")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got[0].samples.first().unwrap().t, first_kept);
    assert_eq!(got[0].samples.last().unwrap().t, newest);
    assert!(select(
        &tsdb,
        &[Matcher::equal("__name__", "old")],
        i64::MIN,
        i64::MAX
    )
    .is_empty());
    assert_eq!(tsdb.label_values("job"), Vec::<String>::new());
    assert_eq!(tsdb.series_count(), 2);
    assert_eq!(tsdb.time_span().unwrap().0, first_kept);
    drop(tsdb);
    // Also after a restart: the removed series stays removed.
    let tsdb = Tsdb::open(dir.path()).unwrap();
    assert_eq!(tsdb.series_count(), 2);
    assert_eq!(tsdb.label_names(), ["__name__"]);
}

#[test]
fn a_corrupt_write_ahead_log_is_reported_with_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    drop(Tsdb::open(dir.path()).unwrap());
    let wal_dir = dir.path().join("wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    // Two segments: a damaged record that is not the newest one's tail cannot be a crash.
    let garbage = [40u8, 0, 0, 0, 1, 2, 3, 4]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(7u8, 40))
        .collect::<Vec<u8>>();
    std::fs::write(wal_dir.join("00000100"), &garbage).unwrap();
    std::fs::write(wal_dir.join("00000101"), b"").unwrap();
    match Tsdb::open(dir.path()) {
        Err(err) => {
            let text = err.to_string();
            assert!(
                text.contains("00000100") && text.contains("corrupt"),
                "{text}"
            );
        }
        Ok(_) => panic!("opened with a corrupt log"),
    }
}

#[test]
fn postings_survive_reopen_and_resolve_regexes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        for i in 0..100 {
            let s = labels(&[("__name__", "req"), ("path", &format!("/api/{i}"))]);
            write(&tsdb, &s, &[(1, 1.0)]);
        }
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    assert_eq!(tsdb.label_values("path").len(), 100);
    let m = Matcher::new(MatchOp::RegexMatch, "path", "/api/1.|/api/7").unwrap();
    assert_eq!(select(&tsdb, &[m], 0, 10).len(), 11);
}

// The index-based series, label_names and label_values against reading every sample.

fn by_select(tsdb: &Tsdb, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
    tsdb.querier()
        .select(SeriesOrder::Labels, matchers, mint, maxt)
        .unwrap()
        .into_iter()
        .map(|s| s.labels)
        .collect()
}

#[test]
fn metadata_lookups_agree_with_reading_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    // a: samples 0..=100 every 10; b: only at 500; c: 200 and 800 (a gap over [300, 700]).
    let a = labels(&[("__name__", "m"), ("job", "a"), ("zone", "x")]);
    let b = labels(&[("__name__", "m"), ("job", "b")]);
    let c = labels(&[("__name__", "other"), ("job", "c"), ("zone", "y")]);
    let mut app = tsdb.appender();
    for t in (0..=100).step_by(10) {
        app.append(&a, t, 1.0).unwrap();
    }
    app.append(&b, 500, 1.0).unwrap();
    app.append(&c, 200, 1.0).unwrap();
    app.append(&c, 800, 1.0).unwrap();
    app.commit().unwrap();

    let querier = tsdb.querier();
    let ranges = [
        (i64::MIN, i64::MAX),
        (0, 0),
        (50, 55),
        (101, 199),
        (300, 700),
        (300, 800),
        (150, 250),
        (900, 1000),
        (10, 5),
    ];
    let matcher_sets: [Vec<Matcher>; 3] = [
        vec![],
        vec![Matcher::equal("__name__", "m")],
        vec![Matcher::new(MatchOp::RegexMatch, "job", "a|c").unwrap()],
    ];
    for (mint, maxt) in ranges {
        for matchers in &matcher_sets {
            let want = by_select(&tsdb, matchers, mint, maxt);
            assert_eq!(
                querier.series(matchers, mint, maxt).unwrap(),
                want,
                "series {matchers:?} [{mint}, {maxt}]"
            );
            // Label names and values answer for whole blocks and the whole head, as
            // Prometheus's index does (`index_range`).
            let (index_min, index_max) =
                crate::querier::TsdbQuerier::new(&tsdb).index_range(mint, maxt);
            let want = by_select(&tsdb, matchers, index_min, index_max);
            let mut names: Vec<String> = want
                .iter()
                .flat_map(|l| l.iter().map(|l| l.name.to_string()))
                .collect();
            names.sort();
            names.dedup();
            assert_eq!(
                querier.label_names(matchers, mint, maxt).unwrap(),
                names,
                "names {matchers:?} [{mint}, {maxt}]"
            );
            for name in ["job", "zone", "__name__", "absent"] {
                let mut values: Vec<String> = want
                    .iter()
                    .filter_map(|l| l.get(name).map(str::to_string))
                    .collect();
                values.sort();
                values.dedup();
                assert_eq!(
                    querier.label_values(name, matchers, mint, maxt).unwrap(),
                    values,
                    "values of {name} {matchers:?} [{mint}, {maxt}]"
                );
            }
        }
    }
}

const CRASH_SERIES: usize = 50;
const CRASH_COMMITS: i64 = 400;

/// Commits batches of 50 series, one sample each per commit. As the child process of
/// `kill_9_loses_no_committed_sample` (`NARTHEX_CRASH_DIR` set) it reports each commit on
/// stdout and keeps writing until it is killed; on its own it checks what it wrote.
#[test]
fn crash_writer() {
    let child_dir = std::env::var_os("NARTHEX_CRASH_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = child_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let tsdb = Tsdb::open(&dir).unwrap();
    let series: Vec<Labels> = (0..CRASH_SERIES)
        .map(|i| labels(&[("__name__", "crash"), ("i", &i.to_string())]))
        .collect();
    let mut commit = 0i64;
    loop {
        let mut app = tsdb.appender();
        for (i, s) in series.iter().enumerate() {
            app.append(s, commit * 1000, (commit * 100 + i as i64) as f64)
                .unwrap();
        }
        app.commit().unwrap();
        if child_dir.is_some() {
            use std::io::Write;
            println!("committed {commit}");
            std::io::stdout().flush().unwrap();
        } else if commit + 1 == CRASH_COMMITS {
            break;
        }
        commit += 1;
    }
    let got = select(&tsdb, &[Matcher::equal("__name__", "crash")], 0, i64::MAX);
    assert_eq!(got.len(), CRASH_SERIES);
    assert!(got
        .iter()
        .all(|s| s.samples.len() == CRASH_COMMITS as usize));
}

/// A writer process is killed with SIGKILL while committing: after a restart every commit it
/// reported is there, and each series holds a gap-free prefix of what was written.
#[test]
fn kill_9_loses_no_committed_sample() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::crash_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NARTHEX_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reported = -1i64;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            reported = n.trim().parse().unwrap();
            // Enough commits for closed chunks in RocksDB and an open one in the head.
            if reported >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        reported >= 300,
        "the writer reported only {reported} commits"
    );

    let tsdb = Tsdb::open(dir.path()).unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "crash")], 0, i64::MAX);
    assert_eq!(got.len(), CRASH_SERIES);
    for s in &got {
        let i: i64 = s.labels.get("i").unwrap().parse().unwrap();
        assert!(
            s.samples.len() as i64 > reported,
            "series {i}: {} samples, {} commits reported",
            s.samples.len(),
            reported + 1
        );
        for (k, sample) in s.samples.iter().enumerate() {
            let k = k as i64;
            assert_eq!((sample.t, sample.v), (k * 1000, (k * 100 + i) as f64));
        }
    }
    // The restarted database goes on where the killed one stopped.
    let next = got[0].samples.len() as i64;
    write(&tsdb, &got[0].labels, &[(next * 1000, 1.0)]);
}

#[test]
fn delete_series_removes_a_range_and_empty_series_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels(&[("__name__", "d"), ("k", "a")]);
    let b = labels(&[("__name__", "d"), ("k", "b")]);
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        let samples: Vec<(i64, f64)> = (0..1000).map(|i| (i * 10_000, i as f64)).collect();
        write(&tsdb, &a, &samples);
        write(&tsdb, &b, &samples[..10]);
        // Cut a's middle (across several persisted chunks) and all of b.
        let touched = tsdb
            .delete_series(&[Matcher::equal("__name__", "d")], 1_000_000, 8_000_000)
            .unwrap();
        assert_eq!(touched, 1, "b's samples end before the range");
        let deleted_b = tsdb
            .delete_series(&[Matcher::equal("k", "b")], i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(deleted_b, 1);
        assert_eq!(tsdb.label_values("k"), ["a"]);
        // Chunks kept in memory for recent reads are not read in place of the rewritten ones.
        // (840..960 is a closed chunk within the last hour; 960.. the open one.)
        let cut = 9_500_000;
        for (from, to) in [(8_500_000, 8_600_000), (cut, 9_985_000)] {
            tsdb.delete_series(&[Matcher::equal("k", "a")], from, to)
                .unwrap();
        }
        let got = select(&tsdb, &[Matcher::equal("k", "a")], 8_000_001, i64::MAX);
        let times: Vec<i64> = got[0].samples.iter().map(|s| s.t).collect();
        let want: Vec<i64> = (801..1000)
            .map(|i| i * 10_000)
            .filter(|t| !(8_500_000..=8_600_000).contains(t) && !(cut..=9_985_000).contains(t))
            .collect();
        assert_eq!(times, want);
        // The newest at a time between the last two samples is not a deleted one.
        let newest = tsdb
            .querier()
            .select_newest(
                SeriesOrder::Labels,
                &[Matcher::equal("k", "a")],
                0,
                9_985_000,
            )
            .unwrap();
        assert_eq!(
            newest[0].samples,
            [Sample {
                t: cut - 10_000,
                v: 949.0
            }]
        );
        write(&tsdb, &a, &[(10_000_000, 1000.0)]);
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let got = select(
        &tsdb,
        &[Matcher::equal("__name__", "d")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got.len(), 1);
    let times: Vec<i64> = got[0].samples.iter().map(|s| s.t).collect();
    let want: Vec<i64> = (0..=1000)
        .map(|i| i * 10_000)
        .filter(|t| {
            ![
                1_000_000..=8_000_000,
                8_500_000..=8_600_000,
                9_500_000..=9_985_000,
            ]
            .iter()
            .any(|deleted| deleted.contains(t))
        })
        .collect();
    assert_eq!(times, want);
    tsdb.compact().unwrap();
}

/// Size retention drops the oldest whole blocks until the database fits, never the newest.
#[test]
fn size_retention_drops_oldest_blocks_first() {
    let dir = tempfile::tempdir().unwrap();
    let options = TsdbOptions {
        retention_ms: None,
        retention_bytes: Some(1),
        ..TsdbOptions::default()
    };
    let tsdb = Tsdb::open_with(dir.path(), options).unwrap();
    let series = labels(&[("__name__", "big")]);
    let mut rng = Rng(7);
    let samples: Vec<(i64, f64)> = (0..(4 * BLOCK_DURATION_MS / 10_000))
        .map(|i| (i * 10_000, rng.next() as f64))
        .collect();
    write(&tsdb, &series, &samples);
    tsdb.checkpoint().unwrap();
    assert!(tsdb.storage_bytes() > 1);
    tsdb.apply_retention().unwrap();
    // A limit of one byte cannot be met: everything but the newest block goes.
    let got = select(
        &tsdb,
        &[Matcher::equal("__name__", "big")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got[0].samples.first().unwrap().t, 3 * BLOCK_DURATION_MS);
    assert_eq!(got[0].samples.last().unwrap().t, samples.last().unwrap().0);
    assert!(tsdb.stats().size_retentions.load(Ordering::Relaxed) >= 3);
}

/// The child of `a_full_disk_fails_commits_cleanly_and_loses_nothing_acknowledged`: runs with a
/// file size limit (`RLIMIT_FSIZE`, so writes fail as on a full disk) and commits until a commit
/// fails, printing each acknowledged commit and the error.
#[test]
fn full_disk_writer() {
    let child_dir = std::env::var_os("NARTHEX_FULL_DISK_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = child_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let tsdb = Tsdb::open(&dir).unwrap();
    let series: Vec<Labels> = (0..20)
        .map(|i| labels(&[("__name__", "full"), ("i", &i.to_string())]))
        .collect();
    // Without the limit (run on its own) this writes 2,000 commits and checks them.
    for commit in 0..2000i64 {
        let mut app = tsdb.appender();
        for (i, s) in series.iter().enumerate() {
            app.append(s, commit * 1000, (commit * 100 + i as i64) as f64)
                .unwrap();
        }
        match app.commit() {
            Ok(()) => println!("committed {commit}"),
            Err(e) => {
                println!("failed {e}");
                assert!(child_dir.is_some(), "commit failed without a limit: {e}");
                if e.to_string().contains("write-ahead log") {
                    // Logged before applied: a commit that could not be logged left nothing.
                    let t = commit * 1000;
                    let got = select(&tsdb, &[Matcher::equal("__name__", "full")], t, t);
                    assert!(got.is_empty(), "an unlogged commit is visible: {got:?}");
                }
                std::process::exit(0);
            }
        }
    }
    let got = select(&tsdb, &[Matcher::equal("__name__", "full")], 0, i64::MAX);
    assert!(got.iter().all(|s| s.samples.len() == 2000));
}

#[test]
fn a_full_disk_fails_commits_cleanly_and_loses_nothing_acknowledged() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "tests::full_disk_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NARTHEX_FULL_DISK_DIR", dir.path());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            // Writes past 64 KiB fail with EFBIG instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 64 << 10,
                rlim_max: 64 << 10,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the writer crashed:\n{stdout}");
    let failure = stdout
        .lines()
        .find_map(|l| l.strip_prefix("failed "))
        .unwrap_or_else(|| panic!("no commit failed:\n{stdout}"));
    assert!(failure.contains("File too large"), "{failure}");
    let acknowledged = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("committed "))
        .count() as i64;
    assert!(acknowledged > 10, "{stdout}");

    // With room again every acknowledged commit is there, and writing goes on.
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "full")], 0, i64::MAX);
    assert_eq!(got.len(), 20);
    for s in &got {
        assert!(
            s.samples.len() as i64 >= acknowledged,
            "{} samples, {acknowledged} commits acknowledged",
            s.samples.len()
        );
    }
    write(&tsdb, &got[0].labels, &[(10_000_000, 1.0)]);
}

/// A damaged RocksDB directory (its manifest pointer garbled) is refused with the directory
/// named, not opened empty over the data.
#[test]
fn a_corrupt_database_is_refused_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        write(&tsdb, &labels(&[("__name__", "x")]), &[(1, 1.0)]);
    }
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-999999\n").unwrap();
    match Tsdb::open(dir.path()) {
        Err(err) => {
            let text = err.to_string();
            assert!(text.contains(&dir.path().display().to_string()), "{text}");
            assert!(text.contains("MANIFEST-999999"), "{text}");
        }
        Ok(_) => panic!("opened a database whose manifest is missing"),
    }
}

/// Checkpoints racing with commits that close chunks: no sample goes missing, neither from
/// queries nor after a restart (a checkpoint must not overwrite a chunk closed meanwhile with
/// its older open copy).
#[test]
fn checkpoints_during_appends_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    const PER_SERIES: i64 = 600;
    const SERIES_PER_WRITER: usize = 500;
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..4)
                .map(|w| {
                    let tsdb = &tsdb;
                    scope.spawn(move || {
                        let series: Vec<Labels> = (0..SERIES_PER_WRITER)
                            .map(|i| labels(&[("__name__", "race"), ("s", &format!("{w}-{i}"))]))
                            .collect();
                        for t in 0..PER_SERIES {
                            let mut app = tsdb.appender();
                            for s in &series {
                                app.append(s, t * 1000, t as f64).unwrap();
                            }
                            app.commit().unwrap();
                        }
                    })
                })
                .collect();
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    tsdb.checkpoint().unwrap();
                }
            });
            for writer in writers {
                writer.join().unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        let got = select(&tsdb, &[Matcher::equal("__name__", "race")], 0, i64::MAX);
        assert_eq!(got.len(), 4 * SERIES_PER_WRITER);
        assert!(got.iter().all(|s| s.samples.len() == PER_SERIES as usize));
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "race")], 0, i64::MAX);
    assert_eq!(got.len(), 4 * SERIES_PER_WRITER);
    for s in &got {
        assert_eq!(s.samples.len(), PER_SERIES as usize, "{}", s.labels);
    }
}

/// A commit that resolved a series before retention or delete_series removed it creates the
/// series anew: the sample is stored and readable, not appended to a removed series.
#[test]
fn a_commit_into_a_series_removed_meanwhile_recreates_it() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let series = labels(&[("__name__", "gone"), ("k", "v")]);
    write(&tsdb, &series, &[(1000, 1.0)]);
    let mut app = tsdb.appender();
    app.append(&series, 2000, 2.0).unwrap();
    tsdb.delete_series(&[Matcher::equal("__name__", "gone")], i64::MIN, i64::MAX)
        .unwrap();
    assert_eq!(tsdb.series_count(), 0);
    app.commit().unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "gone")], 0, i64::MAX);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, vec![Sample { t: 2000, v: 2.0 }]);
    drop(tsdb);
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "gone")], 0, i64::MAX);
    assert_eq!(got[0].samples, vec![Sample { t: 2000, v: 2.0 }]);
}

/// Written chunks stay in memory for recent reads only while their series is recent: a series
/// that stopped lets go of them at the next maintenance, and reads stay the same.
#[test]
fn a_stopped_series_lets_go_of_its_recent_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let stopped = labels(&[("__name__", "m"), ("i", "stopped")]);
    let going = labels(&[("__name__", "m"), ("i", "going")]);
    let minute = 60_000;
    let early: Vec<(i64, f64)> = (0..300).map(|i| (i * 10_000, i as f64)).collect();
    write(&tsdb, &stopped, &early);
    write(&tsdb, &going, &early);
    // The going series runs on for longer than the window.
    let late: Vec<(i64, f64)> = (0..(RECENT_WINDOW_MS / minute + 30))
        .map(|i| (3_000_000 + i * minute, i as f64))
        .collect();
    write(&tsdb, &going, &late);
    let recent_of = |labels: &Labels| tsdb.head.get(labels).unwrap().lock().recent.len();
    assert_eq!(
        recent_of(&stopped),
        2,
        "300 samples: two closed chunks kept"
    );
    let before = select(
        &tsdb,
        &[Matcher::equal("__name__", "m")],
        i64::MIN,
        i64::MAX,
    );
    tsdb.maintain().unwrap();
    assert_eq!(recent_of(&stopped), 0);
    assert!(
        recent_of(&going) > 0,
        "the newest chunks of a live series stay"
    );
    let after = select(
        &tsdb,
        &[Matcher::equal("__name__", "m")],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(before, after);
    assert_eq!(after[1].samples.len(), 300);
}

/// After a delete_series cut the open chunk's tail, the newest sample at a time between the
/// last two samples appended since is never a deleted one.
#[test]
fn the_newest_sample_after_a_delete_and_new_appends_is_not_a_deleted_one() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let series = labels(&[("__name__", "g")]);
    write(&tsdb, &series, &[(10, 1.0), (20, 2.0), (30, 3.0)]);
    tsdb.delete_series(&[Matcher::equal("__name__", "g")], 25, 35)
        .unwrap();
    write(&tsdb, &series, &[(40, 4.0)]);
    let newest = tsdb
        .querier()
        .select_newest(
            SeriesOrder::Labels,
            &[Matcher::equal("__name__", "g")],
            0,
            35,
        )
        .unwrap();
    assert_eq!(newest[0].samples, [Sample { t: 20, v: 2.0 }]);
    write(&tsdb, &series, &[(50, 5.0)]);
    let newest = tsdb
        .querier()
        .select_newest(
            SeriesOrder::Labels,
            &[Matcher::equal("__name__", "g")],
            0,
            45,
        )
        .unwrap();
    assert_eq!(newest[0].samples, [Sample { t: 40, v: 4.0 }]);
}

/// The chunks the head keeps for reads of the recent past are kept again after a restart,
/// so those reads stay in memory, and they return the same samples.
#[test]
fn recent_chunks_are_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // 15 s apart for three hours (six chunks, across a block boundary): the newest chunk of
    // `full` has just closed, the newest of `partial` is open.
    let full = labels(&[("__name__", "m"), ("i", "full")]);
    let partial = labels(&[("__name__", "m"), ("i", "partial")]);
    // Stopped more than the window before the newest sample: it keeps none.
    let stopped = labels(&[("__name__", "m"), ("i", "stopped")]);
    let samples = |n: i64| -> Vec<(i64, f64)> { (0..n).map(|i| (i * 15_000, i as f64)).collect() };
    let kept = |tsdb: &Tsdb, labels: &Labels| -> Vec<(i64, i64, i64)> {
        let series = tsdb.head.get(labels).unwrap();
        let state = series.lock();
        state
            .recent
            .iter()
            .map(|c| (c.block, c.mint, c.maxt))
            .collect()
    };
    // Read before anything locks the series (a release records it anew).
    let memory_start_is_current = |tsdb: &Tsdb, labels: &Labels| -> i64 {
        let series = tsdb.head.get(labels).unwrap();
        let recorded = series.memory_start();
        assert_eq!(recorded, series.lock().memory_start(), "{labels:?}");
        recorded
    };
    let everything = [Matcher::equal("__name__", "m")];
    let in_memory_from = |tsdb: &Tsdb| {
        tsdb.querier()
            .selection_size(&everything)
            .unwrap()
            .in_memory_from
    };
    let (before_full, before_partial, before, memory_before) = {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        write(&tsdb, &full, &samples(720));
        write(&tsdb, &partial, &samples(700));
        write(&tsdb, &stopped, &samples(200));
        for series in [&full, &partial, &stopped] {
            memory_start_is_current(&tsdb, series);
        }
        let got = (
            kept(&tsdb, &full),
            kept(&tsdb, &partial),
            select(&tsdb, &everything, i64::MIN, i64::MAX),
            in_memory_from(&tsdb),
        );
        tsdb.close().unwrap();
        got
    };
    assert_eq!(before_full.len(), head::RECENT_MAX_CHUNKS);
    assert!(before_partial.len() >= 3, "{before_partial:?}");
    // The last hour and a half was in memory.
    let last_ninety_minutes = (720 - 360) * 15_000;
    assert!(memory_before <= last_ninety_minutes, "{memory_before}");
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let starts = [&full, &partial, &stopped].map(|series| memory_start_is_current(&tsdb, series));
    assert_eq!(in_memory_from(&tsdb), starts.into_iter().max().unwrap());
    // The open chunk is reopened and the ones before it kept as they were.
    assert_eq!(kept(&tsdb, &partial), before_partial);
    // The full chunk was still open (a chunk closes when the next sample comes); now it is
    // one of the four kept.
    let chunk_ms = 120 * 15_000;
    assert_eq!(
        kept(&tsdb, &full),
        [2, 3, 4, 5].map(|i| (i64::from(i >= 4), i * chunk_ms, (i + 1) * chunk_ms - 15_000))
    );
    assert_eq!(kept(&tsdb, &stopped), []);
    assert!(in_memory_from(&tsdb) <= last_ninety_minutes);
    assert_eq!(select(&tsdb, &everything, i64::MIN, i64::MAX), before);
}

/// When the series' times name a chunk older than the newest one stored (two commits wrote
/// their chunks in the other order), a start takes the times from the newest chunk: every
/// sample is read, the chunks kept for recent reads are the newest, and appends continue after
/// the newest sample.
#[test]
fn a_start_corrects_series_times_that_lag_behind_the_newest_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let series = labels(&[("__name__", "m")]);
    // Into the second block (it starts at sample 480), the newest chunk just full.
    let written: Vec<(i64, f64)> = (0..600).map(|i| (i * 15_000, i as f64)).collect();
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        write(&tsdb, &series, &written);
        tsdb.close().unwrap();
        // Point the series' times at its second chunk (samples 120 to 239).
        let times_cf = tsdb.cf(CF_SERIES_TIMES).unwrap();
        let lagging = encoding::SeriesTimes {
            min_t: 0,
            max_t: 239 * 15_000,
            last_v: 239.0,
            chunk_block: 0,
            chunk_mint: 120 * 15_000,
        };
        tsdb.db
            .put_cf(
                times_cf,
                encoding::ref_key(tsdb.head.get(&series).unwrap().series_ref),
                encoding::times_value(&lagging),
            )
            .unwrap();
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let everything = [Matcher::equal("__name__", "m")];
    let pairs = |got: Vec<Series>| -> Vec<(i64, f64)> {
        got[0].samples.iter().map(|s| (s.t, s.v)).collect()
    };
    assert_eq!(
        pairs(select(&tsdb, &everything, i64::MIN, i64::MAX)),
        written
    );
    assert_eq!(tsdb.time_span(), Some((0, 599 * 15_000)));
    let kept: Vec<i64> = {
        let s = tsdb.head.get(&series).unwrap();
        let state = s.lock();
        state.recent.iter().map(|c| c.mint / 15_000).collect()
    };
    assert_eq!(kept, [120, 240, 360, 480]);
    // Sample 599 is the newest: an older one is refused, a newer one continues the series.
    let mut app = tsdb.appender();
    assert!(matches!(
        app.append(&series, 598 * 15_000, 0.0),
        Err(StorageError::OutOfOrder)
    ));
    app.append(&series, 600 * 15_000, 600.0).unwrap();
    app.commit().unwrap();
    let got = pairs(select(&tsdb, &everything, 598 * 15_000, i64::MAX));
    assert_eq!(
        got,
        [
            (598 * 15_000, 598.0),
            (599 * 15_000, 599.0),
            (600 * 15_000, 600.0)
        ]
    );
}

/// A read of many series runs on two threads, each taking half of the refs; every series still
/// gets its own samples, in label order.
#[test]
fn many_series_are_read_in_two_halves_each_with_its_own_samples() {
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    // Created in an order unrelated to their labels; each series' values name it.
    let count = 1_200;
    let mut app = tsdb.appender();
    for i in 0..count {
        let n = (i * 7_919) % count;
        let series = labels(&[("__name__", "m"), ("n", &format!("{n:04}"))]);
        for t in 0..3 {
            app.append(&series, t * 1_000, n as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let got = select(&tsdb, &[Matcher::equal("__name__", "m")], 0, 10_000);
    assert_eq!(got.len(), count);
    for (expected, series) in got.iter().enumerate() {
        assert_eq!(
            series.labels.get("n"),
            Some(format!("{expected:04}").as_str())
        );
        let values: Vec<f64> = series.samples.iter().map(|s| s.v).collect();
        assert_eq!(values, [expected as f64; 3]);
    }
}

#[test]
fn prometheus_head_starts_at_the_first_block_boundary_leaving_three_hours_or_less() {
    use crate::querier::prometheus_head_min_time as head_min;
    const HOUR: i64 = 3_600_000;
    let end = 100 * BLOCK_MS + 37 * 60_000;
    // Three hours or less: nothing compacted yet.
    assert_eq!(head_min(end - 3 * HOUR, end), end - 3 * HOUR);
    // Six hours: blocks up to the boundary 2h37m before the end (3h would be 1h37m past
    // the boundary before it).
    assert_eq!(head_min(end - 6 * HOUR, end), 99 * BLOCK_MS);
    // Just over three hours from a boundary: the first block ends at the next one.
    assert_eq!(
        head_min(98 * BLOCK_MS, 98 * BLOCK_MS + 3 * HOUR + 1),
        99 * BLOCK_MS
    );
    // The first block ends at the boundary after the oldest sample even when that leaves the
    // head shorter than needed.
    assert_eq!(
        head_min(99 * BLOCK_MS - 1, 99 * BLOCK_MS + 3 * HOUR),
        99 * BLOCK_MS
    );
}

#[test]
fn selections_come_in_creation_order_where_prometheus_reads_its_head_alone() {
    const MINUTE: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let end = 100 * BLOCK_MS + 37 * MINUTE;
    let start = end - 360 * MINUTE;
    let every_15m = |from: i64, to: i64| -> Vec<(i64, f64)> {
        (from..=to)
            .step_by(15 * MINUTE as usize)
            .map(|t| (t, t as f64))
            .collect()
    };
    // Created m, z, a; z stops after an hour, so its chunk is still open in memory while
    // the others' chunks of that time are in RocksDB only.
    let series = |instance: &str| labels(&[("__name__", "x"), ("instance", instance)]);
    write(&tsdb, &series("m"), &every_15m(start, end));
    write(&tsdb, &series("z"), &every_15m(start, start + 60 * MINUTE));
    write(&tsdb, &series("a"), &every_15m(start, end));
    let querier = tsdb.querier();
    let x = [Matcher::equal("__name__", "x")];
    let instances = |got: Vec<Series>| -> Vec<String> {
        got.iter()
            .map(|s| s.labels.get("instance").unwrap_or("").to_string())
            .collect()
    };

    // The head holds the last 2h37m (see the test above): the last five minutes are in it.
    assert_eq!(
        querier.query_order(end - 5 * MINUTE + 1, end),
        SeriesOrder::Creation
    );
    assert_eq!(
        querier.query_order(end - 157 * MINUTE, end),
        SeriesOrder::Creation
    );
    assert_eq!(
        querier.query_order(end - 158 * MINUTE, end),
        SeriesOrder::Labels
    );
    assert_eq!(
        querier.query_order(start, start + MINUTE),
        SeriesOrder::Labels
    );
    // Before everything, Prometheus reads nothing; after everything, its head alone.
    assert_eq!(
        querier.query_order(start - 2 * BLOCK_MS, start - 1),
        SeriesOrder::Creation
    );
    assert_eq!(querier.query_order(end + 1, end + 2), SeriesOrder::Creation);

    let whole = |order| instances(querier.select(order, &x, start, end).unwrap());
    assert_eq!(whole(SeriesOrder::Creation), ["m", "z", "a"]);
    assert_eq!(whole(SeriesOrder::Labels), ["a", "m", "z"]);
    // The newest sample half an hour in: m's and a's from RocksDB, z's from its open chunk.
    let (mint, maxt) = (start + 25 * MINUTE + 1, start + 30 * MINUTE);
    let newest = |order| querier.select_newest(order, &x, mint, maxt).unwrap();
    let in_creation_order = newest(SeriesOrder::Creation);
    assert_eq!(instances(in_creation_order.clone()), ["m", "z", "a"]);
    let half_hour_in = start + 30 * MINUTE;
    for s in &in_creation_order {
        assert_eq!(
            as_pairs(&s.samples),
            [(half_hour_in, (half_hour_in as f64).to_bits())]
        );
    }
    assert_eq!(instances(newest(SeriesOrder::Labels)), ["a", "m", "z"]);
}

#[test]
fn label_names_and_values_cover_whole_blocks_and_the_whole_head_as_prometheus() {
    const MINUTE: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let end = 100 * BLOCK_MS + 37 * MINUTE;
    let job = |job: &str, name: &str| labels(&[("__name__", name), ("job", job)]);
    // Six hours of data: Prometheus's head would start 2h37m before the end (see above), and
    // the block before it spans [end - 4h37m, end - 2h37m).
    write(&tsdb, &job("old", "x"), &[(end - 360 * MINUTE, 1.0)]);
    write(&tsdb, &job("block", "x"), &[(end - 270 * MINUTE, 1.0)]);
    write(
        &tsdb,
        &job("early", "y"),
        &[(end - 120 * MINUTE, 1.0), (end - 60 * MINUTE, 1.0)],
    );
    write(
        &tsdb,
        &job("late", "x"),
        &[(end - 10 * MINUTE, 1.0), (end, 1.0)],
    );
    let querier = tsdb.querier();
    let values = |mint: i64, maxt: i64| querier.label_values("job", &[], mint, maxt).unwrap();
    // The last five minutes touch the head: every series of the head counts.
    assert_eq!(values(end - 5 * MINUTE, end), ["early", "late"]);
    assert_eq!(
        querier.label_names(&[], end - 5 * MINUTE, end).unwrap(),
        ["__name__", "job"]
    );
    let y = [Matcher::equal("__name__", "y")];
    assert_eq!(
        querier
            .label_values("job", &y, end - 5 * MINUTE, end)
            .unwrap(),
        ["early"]
    );
    // A minute inside the block before the head: every series of that block.
    assert_eq!(values(end - 200 * MINUTE, end - 199 * MINUTE), ["block"]);
    // After the newest sample, and before the oldest, nothing.
    assert!(values(end + 1, end + 10 * MINUTE).is_empty());
    assert!(values(end - 400 * MINUTE, end - 361 * MINUTE).is_empty());
}

/// The sample before the newest (`SeriesState::previous`, which answers a query of the present
/// without decoding) is known after a chunk was cut right before the newest sample, and again
/// after a reopen, whether the open chunk holds one sample or more.
#[test]
fn the_sample_before_the_newest_is_known_after_a_cut_and_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // One sample past a full chunk, and ten.
    let cut = labels(&[("__name__", "cut")]);
    let longer = labels(&[("__name__", "longer")]);
    let samples = |n: i64| (1..=n).map(|i| (i * 1000, i as f64)).collect::<Vec<_>>();
    let full = chunk::MAX_SAMPLES_PER_CHUNK as i64;
    let previous_of = |tsdb: &Tsdb, labels: &Labels| {
        let state = tsdb.head.get(labels).unwrap().lock().previous;
        state.map(|s| (s.t, s.v))
    };
    let expected = [(&cut, full + 1), (&longer, full + 10)];
    {
        let tsdb = Tsdb::open(dir.path()).unwrap();
        for (series, n) in expected {
            write(&tsdb, series, &samples(n));
            assert_eq!(
                previous_of(&tsdb, series),
                Some(((n - 1) * 1000, (n - 1) as f64))
            );
        }
    }
    let tsdb = Tsdb::open(dir.path()).unwrap();
    for (series, n) in expected {
        assert_eq!(
            previous_of(&tsdb, series),
            Some(((n - 1) * 1000, (n - 1) as f64)),
            "{series:?} after a reopen"
        );
        // A query between the last two samples answers the one before the newest.
        let newest = tsdb
            .querier()
            .select_newest(
                SeriesOrder::Labels,
                &[Matcher::equal("__name__", series.get("__name__").unwrap())],
                0,
                n * 1000 - 1,
            )
            .unwrap();
        let got: Vec<(i64, f64)> = newest[0].samples.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(got, [((n - 1) * 1000, (n - 1) as f64)]);
    }
}
