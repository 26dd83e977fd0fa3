//! Narthex's time-series database: series and samples in RocksDB behind the `model` storage traits.
//!
//! This is the first slice of the engine. Layout in RocksDB:
//! - column family `series`: series ref (u64 big-endian) -> encoded label set;
//! - column family `samples`: series ref ++ timestamp (both order-preserving big-endian) -> value
//!   bits, so one series' samples over a time range are one contiguous key range;
//! - column family `meta`: the format marker that tells a Narthex directory from a foreign one.
//!
//! In memory: the label-set -> ref map, the postings (label pair -> refs) and the newest
//! timestamp of each series (for the out-of-order check), rebuilt from `series` on open.
//! Every commit is one RocksDB write batch through RocksDB's WAL, so a batch survives `kill -9`
//! whole or not at all.

mod encoding;
mod index;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use narthex_model::{
    Appender, Labels, Matcher, Querier, Sample, Series, SeriesRef, Storage, StorageError,
};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, DB};

use index::{Index, Presence};

const CF_SERIES: &str = "series";
const CF_SAMPLES: &str = "samples";
const CF_META: &str = "meta";
const FORMAT_KEY: &[u8] = b"format";
const FORMAT_VALUE: &[u8] = b"narthex-tsdb-v1";

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data directory {path} is in use by another process (lock held): {source}")]
    Locked {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("data directory {path} does not hold a Narthex database: {reason}")]
    Foreign { path: PathBuf, reason: String },
    #[error("data directory {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot open data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: rocksdb::Error,
    },
}

/// Counters exposed as Prometheus's `prometheus_tsdb_*` self-metrics.
#[derive(Default, Debug)]
pub struct TsdbStats {
    pub samples_appended: AtomicU64,
    pub out_of_order_samples: AtomicU64,
    pub duplicate_samples: AtomicU64,
    pub series_created: AtomicU64,
}

/// The database. Cheap to share behind an `Arc`; appenders and queriers borrow it.
pub struct Tsdb {
    db: DB,
    index: RwLock<Index>,
    stats: TsdbStats,
    path: PathBuf,
}

impl Tsdb {
    /// Opens (or creates) the database in `path`, rebuilding the in-memory index.
    pub fn open(path: &Path) -> Result<Arc<Tsdb>, OpenError> {
        std::fs::create_dir_all(path).map_err(|e| OpenError::Foreign {
            path: path.to_path_buf(),
            reason: format!("cannot create directory: {e}"),
        })?;
        check_not_foreign(path)?;

        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
        let column_families = [CF_SERIES, CF_SAMPLES, CF_META]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, options.clone()));
        let db = DB::open_cf_descriptors(&options, path, column_families)
            .map_err(|e| classify_open_error(path, e))?;

        let meta = cf(&db, CF_META).map_err(|e| corrupt(path, e))?;
        match db.get_cf(meta, FORMAT_KEY) {
            Ok(Some(v)) if v == FORMAT_VALUE => {}
            Ok(Some(v)) => {
                return Err(OpenError::Foreign {
                    path: path.to_path_buf(),
                    reason: format!("unknown format marker {:?}", String::from_utf8_lossy(&v)),
                })
            }
            Ok(None) => db
                .put_cf(meta, FORMAT_KEY, FORMAT_VALUE)
                .map_err(|e| corrupt(path, e.to_string()))?,
            Err(e) => return Err(corrupt(path, e.to_string())),
        }

        let index = load_index(&db).map_err(|e| corrupt(path, e.to_string()))?;
        tracing::info!(
            path = %path.display(),
            series = index.len(),
            "opened TSDB"
        );
        Ok(Arc::new(Tsdb {
            db,
            index: RwLock::new(index),
            stats: TsdbStats::default(),
            path: path.to_path_buf(),
        }))
    }

    pub fn stats(&self) -> &TsdbStats {
        &self.stats
    }

    /// Number of series known to the database.
    pub fn series_count(&self) -> usize {
        self.read_index().len()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Label names present on any series, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.read_index().label_names()
    }

    /// Values of label `name` over all series, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.read_index().label_values(name)
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // A panic while holding the lock leaves the index consistent (every mutation is a single
        // insert), so a poisoned lock is still safe to use.
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    fn samples_cf(&self) -> Result<&rocksdb::ColumnFamily, StorageError> {
        cf(&self.db, CF_SAMPLES).map_err(StorageError::Corrupt)
    }
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, String> {
    db.cf_handle(name)
        .ok_or_else(|| format!("column family {name:?} is missing"))
}

fn corrupt(path: &Path, reason: impl Into<String>) -> OpenError {
    OpenError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A directory with files but without RocksDB's CURRENT file is someone else's data (a
/// Prometheus TSDB, say); refuse it rather than write beside it.
fn check_not_foreign(path: &Path) -> Result<(), OpenError> {
    let entries = std::fs::read_dir(path).map_err(|e| OpenError::Foreign {
        path: path.to_path_buf(),
        reason: format!("cannot read directory: {e}"),
    })?;
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !names.is_empty() && !names.iter().any(|n| n == "CURRENT") {
        let mut shown = names;
        shown.sort();
        shown.truncate(5);
        return Err(OpenError::Foreign {
            path: path.to_path_buf(),
            reason: format!(
                "it is not empty and has no RocksDB CURRENT file (found {})",
                shown.join(", ")
            ),
        });
    }
    Ok(())
}

fn classify_open_error(path: &Path, e: rocksdb::Error) -> OpenError {
    let text = e.to_string();
    if text.contains("lock") || text.contains("Resource temporarily unavailable") {
        OpenError::Locked {
            path: path.to_path_buf(),
            source: e,
        }
    } else if text.contains("Corruption") {
        OpenError::Corrupt {
            path: path.to_path_buf(),
            reason: text,
        }
    } else {
        OpenError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

fn load_index(db: &DB) -> Result<Index, String> {
    let series_cf = cf(db, CF_SERIES)?;
    let samples_cf = cf(db, CF_SAMPLES)?;
    let mut index = Index::default();
    for item in db.iterator_cf(series_cf, IteratorMode::Start) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let series_ref = encoding::decode_ref(&key)?;
        let labels = encoding::decode_labels(&value)?;
        // The newest sample of the series sets where appends may continue.
        let last = newest_sample(db, samples_cf, series_ref)?;
        index.insert(series_ref, labels, last);
    }
    Ok(index)
}

fn newest_sample(
    db: &DB,
    samples_cf: &rocksdb::ColumnFamily,
    series_ref: SeriesRef,
) -> Result<Option<Sample>, String> {
    let upper = encoding::sample_key(series_ref, i64::MAX);
    let mut iter = db.iterator_cf(samples_cf, IteratorMode::From(&upper, Direction::Reverse));
    match iter.next() {
        Some(Ok((key, value))) => {
            let (r, t) = encoding::decode_sample_key(&key)?;
            if r != series_ref {
                return Ok(None);
            }
            Ok(Some(Sample {
                t,
                v: encoding::decode_value(&value)?,
            }))
        }
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(None),
    }
}

impl Storage for Tsdb {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(TsdbAppender {
            tsdb: self,
            pending: Vec::new(),
            batch_last: HashMap::new(),
        })
    }

    fn querier(&self) -> Box<dyn Querier + '_> {
        Box::new(TsdbQuerier { tsdb: self })
    }
}

/// Where a pending sample goes: a known series, or one created at commit.
enum Target {
    Existing(SeriesRef),
    New(Labels),
}

struct TsdbAppender<'a> {
    tsdb: &'a Tsdb,
    pending: Vec<(Target, Sample)>,
    /// Newest sample per label set within this batch, for ordering checks before commit.
    batch_last: HashMap<Labels, Sample>,
}

impl Appender for TsdbAppender<'_> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, StorageError> {
        if labels.metric_name().is_none() {
            return Err(StorageError::InvalidSeries {
                labels: labels.to_string(),
                reason: "no metric name".into(),
            });
        }
        let (existing, committed_last) = {
            let index = self.tsdb.read_index();
            match index.lookup(labels) {
                Some((r, last)) => (Some(r), last),
                None => (None, None),
            }
        };
        let last = self.batch_last.get(labels).copied().or(committed_last);
        if let Some(last) = last {
            if t < last.t {
                self.tsdb
                    .stats
                    .out_of_order_samples
                    .fetch_add(1, Ordering::Relaxed);
                return Err(StorageError::OutOfOrder);
            }
            if t == last.t {
                if v.to_bits() == last.v.to_bits() {
                    // Prometheus silently accepts an identical resend.
                    return Ok(existing.unwrap_or(0));
                }
                self.tsdb
                    .stats
                    .duplicate_samples
                    .fetch_add(1, Ordering::Relaxed);
                return Err(StorageError::DuplicateTimestamp);
            }
        }
        let sample = Sample { t, v };
        self.batch_last.insert(labels.clone(), sample);
        let target = match existing {
            Some(r) => Target::Existing(r),
            None => Target::New(labels.clone()),
        };
        self.pending.push((target, sample));
        Ok(existing.unwrap_or(0))
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let tsdb = self.tsdb;
        let series_cf = cf(&tsdb.db, CF_SERIES).map_err(StorageError::Corrupt)?;
        let samples_cf = tsdb.samples_cf()?;
        // Series creation and the write happen under the index write lock so that two
        // concurrent commits cannot create the same series twice.
        let mut index = tsdb.write_index();
        let mut batch = WriteBatch::default();
        let mut created: Vec<(SeriesRef, Labels)> = Vec::new();
        let mut resolved: Vec<(SeriesRef, Sample)> = Vec::with_capacity(self.pending.len());
        let mut batch_seen: HashMap<SeriesRef, Sample> = HashMap::new();
        for (target, sample) in self.pending {
            let series_ref = match target {
                Target::Existing(r) => r,
                Target::New(labels) => match index.lookup(&labels) {
                    Some((r, _)) => r,
                    None => match created.iter().find(|(_, l)| *l == labels) {
                        Some((r, _)) => *r,
                        None => {
                            let r = index.next_ref() + created.len() as u64;
                            batch.put_cf(
                                series_cf,
                                encoding::ref_key(r),
                                encoding::encode_labels(&labels),
                            );
                            created.push((r, labels));
                            r
                        }
                    },
                },
            };
            // Another appender may have committed to this series since `append` checked it.
            let last = batch_seen
                .get(&series_ref)
                .copied()
                .or_else(|| index.last(series_ref));
            if let Some(last) = last {
                if sample.t < last.t {
                    tsdb.stats
                        .out_of_order_samples
                        .fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if sample.t == last.t {
                    if sample.v.to_bits() != last.v.to_bits() {
                        tsdb.stats.duplicate_samples.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
            }
            batch_seen.insert(series_ref, sample);
            batch.put_cf(
                samples_cf,
                encoding::sample_key(series_ref, sample.t),
                encoding::encode_value(sample.v),
            );
            resolved.push((series_ref, sample));
        }
        tsdb.db
            .write(batch)
            .map_err(|e| StorageError::Engine(e.to_string()))?;
        let created_count = created.len() as u64;
        for (r, labels) in created {
            index.insert(r, labels, None);
        }
        let appended = resolved.len() as u64;
        for (r, sample) in resolved {
            index.observe(r, sample);
        }
        drop(index);
        tsdb.stats
            .samples_appended
            .fetch_add(appended, Ordering::Relaxed);
        tsdb.stats
            .series_created
            .fetch_add(created_count, Ordering::Relaxed);
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}

struct TsdbQuerier<'a> {
    tsdb: &'a Tsdb,
}

impl Querier for TsdbQuerier<'_> {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let candidates = self.tsdb.read_index().matching(matchers);
        let samples_cf = self.tsdb.samples_cf()?;
        let mut result = Vec::with_capacity(candidates.len());
        for (series_ref, labels) in candidates {
            let start = encoding::sample_key(series_ref, mint);
            let mut samples = Vec::new();
            for item in self
                .tsdb
                .db
                .iterator_cf(samples_cf, IteratorMode::From(&start, Direction::Forward))
            {
                let (key, value) = item.map_err(|e| StorageError::Engine(e.to_string()))?;
                let (r, t) = encoding::decode_sample_key(&key).map_err(StorageError::Corrupt)?;
                if r != series_ref || t > maxt {
                    break;
                }
                samples.push(Sample {
                    t,
                    v: encoding::decode_value(&value).map_err(StorageError::Corrupt)?,
                });
            }
            if !samples.is_empty() {
                result.push(Series { labels, samples });
            }
        }
        result.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(result)
    }

    /// From the index: the newest sample decides most series; the others take one seek each.
    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StorageError> {
        let candidates: Vec<(SeriesRef, Labels, Presence)> = {
            let index = self.tsdb.read_index();
            index
                .matching_refs(matchers)
                .into_iter()
                .filter_map(|r| match index.presence(r, mint, maxt) {
                    Presence::No => None,
                    presence => index.labels(r).map(|labels| (r, labels.clone(), presence)),
                })
                .collect()
        };
        let mut result = Vec::with_capacity(candidates.len());
        for (series_ref, labels, presence) in candidates {
            if presence == Presence::Yes || self.has_sample(series_ref, mint, maxt)? {
                result.push(labels);
            }
        }
        result.sort();
        Ok(result)
    }

    /// Without matchers, from the postings: a name is listed as soon as one of its series is
    /// known to have a sample in the range, so the whole index is not walked series by series.
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        if !matchers.is_empty() {
            let mut names = BTreeSet::new();
            for labels in self.series(matchers, mint, maxt)? {
                for label in labels.iter() {
                    if !names.contains(&label.name) {
                        names.insert(label.name.clone());
                    }
                }
            }
            return Ok(names.into_iter().collect());
        }
        let keys: Vec<(String, KeyPresence)> = {
            let index = self.tsdb.read_index();
            index
                .postings()
                .iter()
                .filter_map(|(name, values)| {
                    let refs = values.values().flat_map(|refs| refs.iter().copied());
                    classify(&index, refs, mint, maxt).map(|p| (name.clone(), p))
                })
                .collect()
        };
        self.resolve_keys(keys, mint, maxt)
    }

    /// From the postings of `name`; with matchers, from the matching series' values of `name`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let keys: Vec<(String, KeyPresence)> = {
            let index = self.tsdb.read_index();
            let Some(values) = index.postings().get(name) else {
                return Ok(Vec::new());
            };
            if matchers.is_empty() {
                values
                    .iter()
                    .filter_map(|(value, refs)| {
                        classify(&index, refs.iter().copied(), mint, maxt)
                            .map(|p| (value.clone(), p))
                    })
                    .collect()
            } else {
                // Grouping the matching series by value costs one lookup per series, where
                // intersecting every value's postings with them would cost one pass per value.
                let mut by_value: BTreeMap<&str, Vec<SeriesRef>> = BTreeMap::new();
                for r in index.matching_refs(matchers) {
                    if let Some(value) = index.labels(r).and_then(|l| l.get(name)) {
                        by_value.entry(value).or_default().push(r);
                    }
                }
                by_value
                    .into_iter()
                    .filter_map(|(value, refs)| {
                        classify(&index, refs.into_iter(), mint, maxt)
                            .map(|p| (value.to_string(), p))
                    })
                    .collect()
            }
        };
        self.resolve_keys(keys, mint, maxt)
    }
}

/// Whether one of the series behind a label name or value has a sample in the range.
enum KeyPresence {
    Yes,
    /// Undecided by the index: these series must be read.
    Maybe(Vec<SeriesRef>),
}

/// `None` when no series of `refs` can have a sample in the range.
fn classify(
    index: &Index,
    refs: impl Iterator<Item = SeriesRef>,
    mint: i64,
    maxt: i64,
) -> Option<KeyPresence> {
    let mut maybe = Vec::new();
    for r in refs {
        match index.presence(r, mint, maxt) {
            Presence::Yes => return Some(KeyPresence::Yes),
            Presence::Maybe => maybe.push(r),
            Presence::No => {}
        }
    }
    (!maybe.is_empty()).then_some(KeyPresence::Maybe(maybe))
}

impl TsdbQuerier<'_> {
    /// Whether the series has a sample in `[mint, maxt]`: one seek in `samples`.
    fn has_sample(
        &self,
        series_ref: SeriesRef,
        mint: i64,
        maxt: i64,
    ) -> Result<bool, StorageError> {
        if mint > maxt {
            return Ok(false);
        }
        let samples_cf = self.tsdb.samples_cf()?;
        let start = encoding::sample_key(series_ref, mint);
        let mut iter = self
            .tsdb
            .db
            .iterator_cf(samples_cf, IteratorMode::From(&start, Direction::Forward));
        match iter.next() {
            None => Ok(false),
            Some(Err(e)) => Err(StorageError::Engine(e.to_string())),
            Some(Ok((key, _))) => {
                let (r, t) = encoding::decode_sample_key(&key).map_err(StorageError::Corrupt)?;
                Ok(r == series_ref && t <= maxt)
            }
        }
    }

    /// The keys (in their given, sorted order) that have a series with a sample in the range,
    /// reading each undecided series at most once.
    fn resolve_keys(
        &self,
        keys: Vec<(String, KeyPresence)>,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut known: HashMap<SeriesRef, bool> = HashMap::new();
        let mut result = Vec::with_capacity(keys.len());
        for (key, presence) in keys {
            let keep = match presence {
                KeyPresence::Yes => true,
                KeyPresence::Maybe(refs) => {
                    let mut found = false;
                    for r in refs {
                        let has = match known.get(&r) {
                            Some(&has) => has,
                            None => {
                                let has = self.has_sample(r, mint, maxt)?;
                                known.insert(r, has);
                                has
                            }
                        };
                        if has {
                            found = true;
                            break;
                        }
                    }
                    found
                }
            };
            if keep {
                result.push(key);
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests;

/// The index-based `series`, `label_names` and `label_values` against the definitions they
/// shortcut (read every sample with `select`), over time ranges that cut series in all ways.
#[cfg(test)]
mod metadata_tests {
    use super::*;
    use narthex_model::MatchOp;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn by_select(tsdb: &Tsdb, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        tsdb.querier()
            .select(matchers, mint, maxt)
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
                let mut names: Vec<String> = want
                    .iter()
                    .flat_map(|l| l.iter().map(|l| l.name.clone()))
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
}
