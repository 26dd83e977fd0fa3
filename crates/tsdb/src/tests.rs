//! Tests of the storage engine against a real RocksDB directory.

use super::*;
use narthex_model::MatchOp;

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
    tsdb.querier().select(matchers, mint, maxt).unwrap()
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
