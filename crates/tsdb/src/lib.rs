//! Narthex's time-series database: a head of in-memory series with open Gorilla chunks, a
//! write-ahead log, and closed chunks, series and postings in RocksDB.
//!
//! Layout of a data directory:
//! - RocksDB's files, with column families
//!   - `series`: series ref (u64 BE) -> encoded label set;
//!   - `series_times`: series ref -> oldest and newest persisted sample time (restores the
//!     out-of-order check and time-range look-ups on start without reading chunks);
//!   - `postings`: `name 0xFF value` -> roaring bitmap of refs, updated with a merge operator;
//!   - `chunks`: `block, series ref, chunk min time` -> newest time ++ XOR chunk, so one two-hour
//!     block is one contiguous key range (retention drops it with a range delete);
//!   - `meta`: the format marker that tells a Narthex directory from a foreign one;
//! - `wal/`: Narthex's write-ahead log of committed samples (see `wal`).
//!
//! Write path: an `Appender` buffers a batch; `commit` creates new series (durably, through
//! RocksDB's WAL, before anyone can see them), appends the samples to their series' open
//! chunks, logs the accepted samples to `wal/` and writes chunks that closed to RocksDB without
//! RocksDB's WAL (our log already holds their samples). A checkpoint writes the open chunks,
//! flushes RocksDB and deletes the log segments it covers; it runs when the log grows, hourly,
//! on close and after the replay on open.
//!
//! Read path: see `querier`.

pub mod chunk;
mod encoding;
mod head;
mod label_order;
pub use head::RECENT_WINDOW_MS;
mod postings;
mod querier;
mod symbols;
mod wal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use narthex_model::{Appender, Labels, Querier, SeriesRef, Storage, StorageError};
use roaring::RoaringBitmap;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, IteratorMode,
    MergeOperands, Options, WriteBatch, WriteOptions, DB,
};

use encoding::{block_of, BLOCK_MS};
use head::{Appended, ClosedChunk, Head, MemSeries};
use postings::Postings;
use wal::{RefSample, Wal};

pub use encoding::BLOCK_MS as BLOCK_DURATION_MS;

const CF_SERIES: &str = "series";
const CF_SERIES_TIMES: &str = "series_times";
const CF_POSTINGS: &str = "postings";
const CF_CHUNKS: &str = "chunks";
const CF_META: &str = "meta";
const FORMAT_KEY: &[u8] = b"format";
const FORMAT_VALUE: &[u8] = b"narthex-tsdb-v3";
const WAL_DIR: &str = "wal";

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
    #[error("data directory {path}: {source}")]
    Wal {
        path: PathBuf,
        source: wal::WalError,
    },
}

/// How long and how much to keep.
#[derive(Clone, Debug)]
pub struct TsdbOptions {
    /// Blocks entirely older than the newest sample minus this are dropped (`None`: keep all).
    pub retention_ms: Option<i64>,
    /// The oldest blocks are dropped while the database is larger than this.
    pub retention_bytes: Option<u64>,
    /// A checkpoint runs when the write-ahead log grows past this.
    pub wal_checkpoint_bytes: u64,
    /// ... or this long after the previous one.
    pub checkpoint_interval: Duration,
    /// How often the background thread looks at retention and the log.
    pub maintenance_interval: Duration,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        TsdbOptions {
            retention_ms: Some(15 * 24 * 3600 * 1000),
            retention_bytes: None,
            wal_checkpoint_bytes: 256 << 20,
            checkpoint_interval: Duration::from_secs(3600),
            maintenance_interval: Duration::from_secs(60),
        }
    }
}

/// Counters exposed as Prometheus's `prometheus_tsdb_*` self-metrics.
#[derive(Default, Debug)]
pub struct TsdbStats {
    pub samples_appended: AtomicU64,
    pub out_of_order_samples: AtomicU64,
    pub duplicate_samples: AtomicU64,
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
    pub chunks_created: AtomicU64,
    pub checkpoints: AtomicU64,
    pub checkpoint_failures: AtomicU64,
    pub wal_truncations: AtomicU64,
    pub wal_corruptions: AtomicU64,
    pub time_retentions: AtomicU64,
    pub size_retentions: AtomicU64,
    pub blocks_removed: AtomicU64,
    pub commit_failures: AtomicU64,
}

/// The database. Cheap to share behind an `Arc`; appenders and queriers borrow it.
pub struct Tsdb {
    db: DB,
    head: Head,
    postings: RwLock<Postings>,
    wal: Mutex<Wal>,
    /// Commits hold it shared; a checkpoint takes it exclusively for the instant it cuts the
    /// log, so every commit logged before the cut has also reached the head.
    commit_lock: RwLock<()>,
    /// Serialises series creation so refs are handed out once per label set, and holds the
    /// interned label strings of the series.
    creation: Mutex<symbols::Symbols>,
    label_order: label_order::LabelOrder,
    stats: TsdbStats,
    path: PathBuf,
    options: TsdbOptions,
    span: Span,
    last_checkpoint: Mutex<Instant>,
    closed: AtomicBool,
}

impl Tsdb {
    /// Opens (or creates) the database in `path` with default options.
    pub fn open(path: &Path) -> Result<Arc<Tsdb>, OpenError> {
        Self::open_with(path, TsdbOptions::default())
    }

    /// Opens (or creates) the database, replays the write-ahead log into the head, and starts
    /// the maintenance thread (checkpoints and retention).
    pub fn open_with(path: &Path, options: TsdbOptions) -> Result<Arc<Tsdb>, OpenError> {
        let tsdb = Arc::new(Self::open_inner(path, options)?);
        let weak = Arc::downgrade(&tsdb);
        let interval = tsdb.options.maintenance_interval;
        let spawned = std::thread::Builder::new()
            .name("tsdb-maintenance".into())
            .spawn(move || maintenance_loop(weak, interval));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the TSDB maintenance thread");
        }
        Ok(tsdb)
    }

    fn open_inner(path: &Path, options: TsdbOptions) -> Result<Tsdb, OpenError> {
        std::fs::create_dir_all(path).map_err(|e| OpenError::Foreign {
            path: path.to_path_buf(),
            reason: format!("cannot create directory: {e}"),
        })?;
        check_not_foreign(path)?;
        let db = open_rocksdb(path)?;

        let meta = cf(&db, CF_META).map_err(|e| corrupt(path, e))?;
        match db.get_cf(meta, FORMAT_KEY) {
            Ok(Some(v)) if v == FORMAT_VALUE => {}
            Ok(Some(v)) => {
                return Err(OpenError::Foreign {
                    path: path.to_path_buf(),
                    reason: format!(
                        "it holds format {:?}, this Narthex reads {:?}; move the directory away or delete it",
                        String::from_utf8_lossy(&v),
                        String::from_utf8_lossy(FORMAT_VALUE)
                    ),
                })
            }
            Ok(None) => db
                .put_cf(meta, FORMAT_KEY, FORMAT_VALUE)
                .map_err(|e| corrupt(path, e.to_string()))?,
            Err(e) => return Err(corrupt(path, e.to_string())),
        }

        let wal_dir = path.join(WAL_DIR);
        let wal_error = |source| OpenError::Wal {
            path: path.to_path_buf(),
            source,
        };
        let head = Head::default();
        let mut symbols = symbols::Symbols::default();
        let postings = load(&db, &head, &mut symbols).map_err(|e| corrupt(path, e))?;
        let stats = TsdbStats::default();
        let span = Span::default();
        for series in head.all() {
            span.note(
                series.min_t.load(Ordering::Relaxed),
                series.max_t.load(Ordering::Relaxed),
            );
        }

        let started = Instant::now();
        let mut replay_error = None;
        let mut replayed = 0u64;
        let replay_stats = wal::replay(&wal_dir, |record| {
            let wal::Record::Samples(samples) = record;
            if replay_error.is_some() {
                return;
            }
            match replay_samples(&db, &head, &stats, &span, &samples) {
                Ok(n) => replayed += n,
                Err(e) => replay_error = Some(e),
            }
        })
        .map_err(wal_error)?;
        if let Some(e) = replay_error {
            return Err(corrupt(path, format!("replaying the write-ahead log: {e}")));
        }
        stats
            .wal_corruptions
            .fetch_add(replay_stats.torn_records as u64, Ordering::Relaxed);
        let tsdb = Tsdb {
            wal: Mutex::new(Wal::open(&wal_dir).map_err(wal_error)?),
            db,
            head,
            postings: RwLock::new(postings),
            commit_lock: RwLock::new(()),
            creation: Mutex::new(symbols),
            label_order: label_order::LabelOrder::default(),
            stats,
            path: path.to_path_buf(),
            options,
            span,
            last_checkpoint: Mutex::new(Instant::now()),
            closed: AtomicBool::new(false),
        };
        // The replayed samples go to RocksDB now, so the next start does not replay them again.
        tsdb.checkpoint()
            .map_err(|e| corrupt(path, format!("checkpoint after replay: {e}")))?;
        tracing::info!(
            path = %path.display(),
            series = tsdb.head.len(),
            wal_segments = replay_stats.segments,
            replayed_samples = replayed,
            replay_ms = started.elapsed().as_millis() as u64,
            "opened TSDB"
        );
        Ok(tsdb)
    }

    pub fn stats(&self) -> &TsdbStats {
        &self.stats
    }

    pub fn options(&self) -> &TsdbOptions {
        &self.options
    }

    /// Number of series in the head.
    pub fn series_count(&self) -> usize {
        self.head.len()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Label names present on any series, sorted.
    pub fn label_names(&self) -> Vec<String> {
        self.read_postings()
            .names()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Values of label `name` over all series, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.read_postings()
            .values(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Oldest and newest sample time in the database, if it holds any.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        self.span.get()
    }

    /// Chunks in memory: open, closed but unwritten, and written but kept for recent reads.
    pub fn head_chunks(&self) -> usize {
        self.head
            .all()
            .iter()
            .map(|s| {
                let state = s.lock();
                usize::from(state.open.is_some()) + state.unflushed.len() + state.recent.len()
            })
            .sum()
    }

    /// Bytes of RocksDB's files (all column families) plus the write-ahead log.
    pub fn storage_bytes(&self) -> u64 {
        let sst: u64 = [CF_SERIES, CF_SERIES_TIMES, CF_POSTINGS, CF_CHUNKS, CF_META]
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .filter_map(|cf| {
                self.db
                    .property_int_value_cf(cf, "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
            })
            .sum();
        sst + self.lock_wal().size()
    }

    /// Memory RocksDB holds: memtables, table readers (indexes and filters) and the block cache.
    pub fn rocksdb_memory_bytes(&self) -> u64 {
        let per_family: u64 = [CF_SERIES, CF_SERIES_TIMES, CF_POSTINGS, CF_CHUNKS, CF_META]
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .flat_map(|cf| {
                [
                    "rocksdb.cur-size-all-mem-tables",
                    "rocksdb.estimate-table-readers-mem",
                ]
                .into_iter()
                .filter_map(move |p| self.db.property_int_value_cf(cf, p).ok().flatten())
            })
            .sum();
        let cache = self
            .db
            .property_int_value("rocksdb.block-cache-usage")
            .ok()
            .flatten()
            .unwrap_or(0);
        per_family + cache
    }

    /// Bytes of the write-ahead log.
    pub fn wal_bytes(&self) -> u64 {
        self.lock_wal().size()
    }

    fn read_postings(&self) -> RwLockReadGuard<'_, Postings> {
        self.postings.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_postings(&self) -> RwLockWriteGuard<'_, Postings> {
        self.postings.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_wal(&self) -> MutexGuard<'_, Wal> {
        self.wal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        cf(&self.db, name).map_err(StorageError::Corrupt)
    }

    fn write_closed_chunks(
        &self,
        closed: &[(Arc<MemSeries>, ClosedChunk)],
    ) -> Result<(), StorageError> {
        write_closed_chunks(&self.db, &self.stats, closed)
    }

    /// Makes everything in the head durable in RocksDB and deletes the write-ahead log that
    /// held it: open chunks are written as they stand (the full chunk overwrites them later,
    /// under the same key), RocksDB is flushed, then the covered log segments go.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let result = self.checkpoint_inner();
        match &result {
            Ok(()) => self.stats.checkpoints.fetch_add(1, Ordering::Relaxed),
            Err(_) => self
                .stats
                .checkpoint_failures
                .fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    fn checkpoint_inner(&self) -> Result<(), StorageError> {
        let exclusive = self.commit_lock.write().unwrap_or_else(|e| e.into_inner());
        self.checkpoint_holding(exclusive)
    }

    /// The checkpoint, with commits already excluded by the caller.
    fn checkpoint_holding(&self, exclusive: RwLockWriteGuard<'_, ()>) -> Result<(), StorageError> {
        let engine = |what: &str| {
            let what = what.to_string();
            move |e: rocksdb::Error| StorageError::Engine(format!("{what}: {e}"))
        };
        // Commits wait while the open chunks are written: a commit that closed a chunk and
        // wrote it meanwhile would otherwise have its full chunk overwritten by the older copy
        // taken here (same key).
        let first_kept = self
            .lock_wal()
            .cut()
            .map_err(|e| StorageError::Engine(e.to_string()))?;
        let chunks_cf = self.cf(CF_CHUNKS)?;
        let times_cf = self.cf(CF_SERIES_TIMES)?;
        let mut batch = WriteBatch::default();
        let mut retried = Vec::new();
        for series in self.head.all() {
            let (unflushed, snapshot) = {
                let state = series.lock();
                (
                    state.unflushed.clone(),
                    state.open.as_ref().map(|open| open.snapshot()),
                )
            };
            // Closed chunks whose write failed before: the log about to be deleted holds
            // their samples, so they must reach RocksDB now.
            for chunk in &unflushed {
                put_chunk(&mut batch, chunks_cf, times_cf, &series, chunk);
            }
            if !unflushed.is_empty() {
                retried.push(series.clone());
            }
            if let Some(chunk) = snapshot {
                put_chunk(&mut batch, chunks_cf, times_cf, &series, &chunk);
            }
            if batch.size_in_bytes() > 16 << 20 {
                self.db
                    .write_opt(std::mem::take(&mut batch), &no_wal())
                    .map_err(engine("writing open chunks"))?;
            }
        }
        self.db
            .write_opt(batch, &no_wal())
            .map_err(engine("writing open chunks"))?;
        for series in retried {
            let mut state = series.lock();
            for chunk in std::mem::take(&mut state.unflushed) {
                // Put back so that it is found and moved like any written chunk.
                state.unflushed.push(chunk.clone());
                state.mark_written(&chunk);
            }
        }
        drop(exclusive);
        let families: Vec<&rocksdb::ColumnFamily> =
            [CF_SERIES, CF_SERIES_TIMES, CF_POSTINGS, CF_CHUNKS]
                .iter()
                .filter_map(|n| self.db.cf_handle(n))
                .collect();
        self.db
            .flush_cfs_opt(&families, &rocksdb::FlushOptions::default())
            .map_err(engine("flushing"))?;
        self.lock_wal()
            .truncate_before(first_kept)
            .map_err(|e| StorageError::Engine(e.to_string()))?;
        self.stats.wal_truncations.fetch_add(1, Ordering::Relaxed);
        *self
            .last_checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        Ok(())
    }

    /// One round of background work: a checkpoint when the log is large or old, then retention.
    pub fn maintain(&self) -> Result<(), StorageError> {
        // First, so that a failing checkpoint or retention does not keep removed series'
        // strings alive.
        let removed = self.stats.series_removed.load(Ordering::Relaxed);
        self.creation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sweep_if_needed(removed);
        let since = self
            .last_checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if self.wal_bytes() > self.options.wal_checkpoint_bytes
            || since >= self.options.checkpoint_interval
        {
            self.checkpoint()?;
        }
        self.apply_retention()?;
        self.trim_idle_recent();
        Ok(())
    }

    /// Lets go of the recent chunks of series without a sample in the last
    /// [`head::RECENT_WINDOW_MS`] before the newest sample stored: a series that stopped would
    /// otherwise keep them until retention removes it.
    fn trim_idle_recent(&self) {
        let Some((_, newest)) = self.time_span() else {
            return;
        };
        let window_start = newest.saturating_sub(head::RECENT_WINDOW_MS);
        for series in self.head.all() {
            if series.max_t.load(Ordering::Relaxed) < window_start {
                let mut state = series.lock();
                if !state.recent.is_empty() {
                    state.prune_recent(window_start);
                }
            }
        }
    }

    /// Drops whole blocks: those entirely older than the retention time (measured from the
    /// newest sample, as Prometheus does), then the oldest while the size limit is exceeded.
    /// Series left without any sample are removed from the index.
    pub fn apply_retention(&self) -> Result<(), StorageError> {
        let Some((min_t, max_t)) = self.time_span() else {
            return Ok(());
        };
        let oldest = block_of(min_t);
        let newest = block_of(max_t);
        let mut keep_from = oldest;
        if let Some(retention) = self.options.retention_ms {
            // A block is kept while any of it lies within the retention window.
            let cutoff = max_t.saturating_sub(retention);
            let first_kept = block_of(cutoff);
            if first_kept > keep_from {
                keep_from = first_kept;
                self.stats.time_retentions.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(limit) = self.options.retention_bytes {
            let chunks_cf = self.cf(CF_CHUNKS)?;
            let mut total = self.storage_bytes();
            // Never the block being written to.
            while total > limit && keep_from < newest {
                let size = self.block_bytes(chunks_cf, keep_from);
                keep_from += 1;
                total = total.saturating_sub(size.max(1));
                self.stats.size_retentions.fetch_add(1, Ordering::Relaxed);
            }
        }
        if keep_from > oldest {
            self.drop_blocks_before(keep_from)?;
        }
        Ok(())
    }

    fn block_bytes(&self, chunks_cf: &rocksdb::ColumnFamily, block: i64) -> u64 {
        let (from, to) = (
            encoding::block_start_key(block),
            encoding::block_start_key(block + 1),
        );
        let range = rocksdb::Range::new(&from, &to);
        self.db
            .get_approximate_sizes_cf(chunks_cf, &[range])
            .first()
            .copied()
            .unwrap_or(0)
    }

    /// Removes every chunk of the blocks before `block` and the series that had data only
    /// there.
    fn drop_blocks_before(&self, block: i64) -> Result<(), StorageError> {
        let engine = |e: rocksdb::Error| StorageError::Engine(format!("retention: {e}"));
        let cutoff_t = block.saturating_mul(BLOCK_MS);
        let chunks_cf = self.cf(CF_CHUNKS)?;
        let from = encoding::block_start_key(i64::MIN);
        let to = encoding::block_start_key(block);
        // Memory first: until the range delete a reader then finds these blocks in RocksDB, as
        // before, never a mix of both.
        for series in self.head.all() {
            series.lock().drop_recent_before(block);
        }
        self.db
            .delete_range_cf(chunks_cf, from, to)
            .map_err(engine)?;
        // Files wholly inside the range go at once instead of waiting for compaction.
        self.db
            .delete_file_in_range_cf(chunks_cf, from, to)
            .map_err(engine)?;
        self.db
            .compact_range_cf(chunks_cf, Some(&from[..]), Some(&to[..]));

        let stale: Vec<Arc<MemSeries>> = self
            .head
            .all()
            .into_iter()
            .filter(|s| {
                // A series just created has no sample yet (max_t = MIN): not stale.
                let max_t = s.max_t.load(Ordering::Relaxed);
                max_t != i64::MIN && max_t < cutoff_t
            })
            .collect();
        self.remove_series(&stale)?;
        if let Some((min_t, _)) = self.span.get() {
            self.stats
                .blocks_removed
                .fetch_add((block - block_of(min_t)).max(0) as u64, Ordering::Relaxed);
        }
        // The oldest time left is the start of the first kept block, or later.
        let mut new_min = i64::MAX;
        for series in self.head.all() {
            let min = series.min_t.load(Ordering::Relaxed).max(cutoff_t);
            series.min_t.store(min, Ordering::Relaxed);
            new_min = new_min.min(min);
        }
        self.span.min.store(new_min, Ordering::Relaxed);
        tracing::info!(
            before = cutoff_t,
            removed_series = stale.len(),
            "retention dropped old blocks"
        );
        Ok(())
    }

    /// Flushes the head to RocksDB and stops the maintenance thread; the log is empty after it,
    /// so the next start has nothing to replay. Called on shutdown; dropping does it too.
    pub fn close(&self) -> Result<(), StorageError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.checkpoint()
    }

    /// Writes a consistent copy of the database into `dir` (which must not exist), for backups
    /// (`/api/v1/admin/tsdb/snapshot`).
    pub fn snapshot(&self, dir: &Path) -> Result<(), StorageError> {
        self.checkpoint()?;
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)
            .map_err(|e| StorageError::Engine(format!("snapshot: {e}")))?;
        checkpoint
            .create_checkpoint(dir)
            .map_err(|e| StorageError::Engine(format!("snapshot into {}: {e}", dir.display())))
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers`
    /// (`/api/v1/admin/tsdb/delete_series`); a series left without samples is removed. The
    /// data is gone from disk at once (no tombstones), so `clean_tombstones` only compacts.
    /// Returns the number of series touched.
    pub fn delete_series(
        &self,
        matchers: &[narthex_model::Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<usize, StorageError> {
        let engine = |e: rocksdb::Error| StorageError::Engine(format!("delete_series: {e}"));
        let refs = self.read_postings().select(matchers);
        let targets: Vec<Arc<MemSeries>> = self
            .head
            .by_refs(refs.iter())
            .into_iter()
            .filter(|s| s.overlaps(mint, maxt))
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let chunks_cf = self.cf(CF_CHUNKS)?;
        let mut emptied = Vec::new();
        {
            // No commit runs meanwhile, so no chunk is in flight between the head and RocksDB.
            let exclusive = self.commit_lock.write().unwrap_or_else(|e| e.into_inner());
            let mut rewritten_heads = Vec::new();
            let mut batch = WriteBatch::default();
            for series in &targets {
                let mut left = 0usize;
                let (span_min, span_max) = (
                    series.min_t.load(Ordering::Relaxed),
                    series.max_t.load(Ordering::Relaxed),
                );
                // Every persisted chunk of the series: rewrite those the range cuts.
                for block in block_of(span_min)..=block_of(span_max) {
                    let from = encoding::chunk_key(block, series.series_ref, i64::MIN);
                    let to = encoding::chunk_key(block, series.series_ref + 1, i64::MIN);
                    let mut options = rocksdb::ReadOptions::default();
                    options.set_iterate_upper_bound(to.to_vec());
                    let mut iter = self.db.raw_iterator_cf_opt(chunks_cf, options);
                    iter.seek(from);
                    while iter.valid() {
                        let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                            break;
                        };
                        let (chunk_maxt, bytes) =
                            encoding::decode_chunk_value(value).map_err(StorageError::Corrupt)?;
                        let key_fields =
                            encoding::decode_chunk_key(key).map_err(StorageError::Corrupt)?;
                        if chunk_maxt < mint || key_fields.mint > maxt {
                            left += 1;
                            iter.next();
                            continue;
                        }
                        batch.delete_cf(chunks_cf, key);
                        if let Some(rewritten) = chunk_without(bytes, mint, maxt)? {
                            let (first, last) = (
                                rewritten.first_time().unwrap_or(key_fields.mint),
                                rewritten.last_time().unwrap_or(chunk_maxt),
                            );
                            batch.put_cf(
                                chunks_cf,
                                encoding::chunk_key(block, series.series_ref, first),
                                encoding::chunk_value(last, rewritten.bytes()),
                            );
                            left += 1;
                        }
                        iter.next();
                    }
                    iter.status().map_err(engine)?;
                }
                // Closed chunks whose write failed are written now, without the range (the
                // checkpoint below would write them back whole). A checkpoint may have written
                // an earlier state of one under the same key; the later put wins.
                let unflushed = series.lock().unflushed.clone();
                for chunk in &unflushed {
                    batch.delete_cf(
                        chunks_cf,
                        encoding::chunk_key(chunk.block, series.series_ref, chunk.mint),
                    );
                    if let Some(rewritten) = chunk_without(&chunk.bytes, mint, maxt)? {
                        let (first, last) = (
                            rewritten.first_time().unwrap_or(chunk.mint),
                            rewritten.last_time().unwrap_or(chunk.maxt),
                        );
                        batch.put_cf(
                            chunks_cf,
                            encoding::chunk_key(chunk.block, series.series_ref, first),
                            encoding::chunk_value(last, rewritten.bytes()),
                        );
                        left += 1;
                    }
                }
                // The open chunk without the range, applied after RocksDB is written.
                let open_bytes = series
                    .lock()
                    .open
                    .as_ref()
                    .map(|open| open.chunk.bytes().to_vec());
                if let Some(bytes) = open_bytes {
                    let rewritten = chunk_without(&bytes, mint, maxt)?;
                    if rewritten.is_some() {
                        left += 1;
                    }
                    rewritten_heads.push((series.clone(), rewritten));
                }
                if left == 0 {
                    emptied.push(series.clone());
                }
            }
            self.db.write(batch).map_err(engine)?;
            // The closed chunks in memory may be among those rewritten: RocksDB has them all.
            // (Until here a reader saw the data as before the delete.)
            for series in &targets {
                let mut state = series.lock();
                state.recent.clear();
                state.unflushed.clear();
            }
            for (series, rewritten) in rewritten_heads {
                let mut state = series.lock();
                state.previous = None;
                match rewritten {
                    Some(chunk) => {
                        if let Some(open) = &mut state.open {
                            open.chunk = chunk;
                        }
                    }
                    None => state.open = None,
                }
            }
            // The log still holds the deleted samples: persist the head and drop the log
            // before any commit can follow.
            self.checkpoint_holding(exclusive)?;
        }
        self.remove_series(&emptied)?;
        Ok(targets.len())
    }

    /// Compacts every column family into its final, zstd-compressed level (what
    /// `/api/v1/admin/tsdb/clean_tombstones` asks for: deleted data is already gone, this
    /// returns its space; a backfill ends with it).
    pub fn compact(&self) -> Result<(), StorageError> {
        for name in [CF_SERIES, CF_SERIES_TIMES, CF_POSTINGS, CF_CHUNKS] {
            let family = self.cf(name)?;
            let mut options = rocksdb::CompactOptions::default();
            options.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
            self.db
                .compact_range_cf_opt(family, None::<&[u8]>, None::<&[u8]>, &options);
        }
        Ok(())
    }

    /// Removes series from RocksDB, the postings and the head. No commit runs meanwhile; one
    /// that resolved a series before finds it marked removed and creates it anew.
    fn remove_series(&self, series: &[Arc<MemSeries>]) -> Result<(), StorageError> {
        if series.is_empty() {
            return Ok(());
        }
        let _exclusive = self.commit_lock.write().unwrap_or_else(|e| e.into_inner());
        let _creation = self.creation.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = WriteBatch::default();
        let series_cf = self.cf(CF_SERIES)?;
        let times_cf = self.cf(CF_SERIES_TIMES)?;
        let postings_cf = self.cf(CF_POSTINGS)?;
        for s in series {
            let key = encoding::ref_key(s.series_ref);
            batch.delete_cf(series_cf, key);
            batch.delete_cf(times_cf, key);
            let refs = RoaringBitmap::from_iter([s.series_ref as u32]);
            for label in s.labels.iter() {
                batch.merge_cf(
                    postings_cf,
                    encoding::postings_key(&label.name, &label.value),
                    postings_delta(&RoaringBitmap::new(), &refs),
                );
            }
        }
        self.db
            .write(batch)
            .map_err(|e| StorageError::Engine(format!("removing series: {e}")))?;
        {
            let mut postings = self.write_postings();
            for s in series {
                postings.remove(s.series_ref as u32, &s.labels);
            }
        }
        for s in series {
            s.mark_removed();
            self.head.remove(s.series_ref);
        }
        self.stats
            .series_removed
            .fetch_add(series.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Head statistics and the cardinality tables of `/api/v1/status/tsdb`.
    pub fn status(&self, limit: usize) -> TsdbStatus {
        let postings = self.read_postings();
        let mut series_by_metric = Vec::new();
        let mut value_count_by_name = Vec::new();
        let mut memory_by_name = Vec::new();
        let mut series_by_pair = Vec::new();
        for (name, values) in postings.names() {
            value_count_by_name.push((name.clone(), values.len() as u64));
            // As Prometheus: the bytes of each distinct value, counted once.
            let mut bytes = 0u64;
            for (value, refs) in values {
                bytes += value.len() as u64;
                if name == "__name__" {
                    series_by_metric.push((value.clone(), refs.len()));
                }
                series_by_pair.push((format!("{name}={value}"), refs.len()));
            }
            memory_by_name.push((name.clone(), bytes));
        }
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let (min_time, max_time) = self.time_span().unwrap_or((i64::MAX, i64::MIN));
        let num_label_pairs = postings.pair_count() as u64;
        drop(postings);
        TsdbStatus {
            num_series: self.head.len() as u64,
            num_label_pairs,
            chunk_count: self.head_chunks() as u64,
            min_time,
            max_time,
            series_count_by_metric_name: top(series_by_metric),
            label_value_count_by_label_name: top(value_count_by_name),
            memory_in_bytes_by_label_name: top(memory_by_name),
            series_count_by_label_value_pair: top(series_by_pair),
        }
    }

    /// Appends one batch durably. Shared by the appender's commit.
    fn commit_batch(&self, batch: PendingBatch) -> Result<(), StorageError> {
        let _shared = self.commit_lock.read().unwrap_or_else(|e| e.into_inner());
        let created = self.create_series(&batch.new_series)?;
        // Resolve every sample's series; one removed since `append` (retention, delete_series)
        // is created anew, so the sample is not appended to a series nobody can read.
        let mut resolved: Vec<(Arc<MemSeries>, i64, f64)> = Vec::with_capacity(batch.samples.len());
        for (target, t, v) in batch.samples {
            let series = match target {
                Target::Existing(series) if series.is_removed() => {
                    match self
                        .create_series(std::slice::from_ref(&series.labels))?
                        .pop()
                    {
                        Some(series) => series,
                        None => continue,
                    }
                }
                Target::Existing(series) => series,
                Target::New(i) => match created.get(i) {
                    Some(series) => series.clone(),
                    None => continue,
                },
            };
            resolved.push((series, t, v));
        }
        // Logged before the head changes (as Prometheus does): a commit that cannot be logged
        // leaves nothing visible, and every sample a query can see is durable.
        let logged: Vec<RefSample> = resolved
            .iter()
            .map(|(series, t, v)| RefSample {
                series_ref: series.series_ref,
                t: *t,
                v: *v,
            })
            .collect();
        self.lock_wal()
            .log_samples(&logged)
            .map_err(|e| StorageError::Engine(e.to_string()))?;
        let mut appended = 0u64;
        let mut closed = Vec::new();
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for (series, t, v) in resolved {
            let mut state = series.lock();
            match series.append(&mut state, t, v) {
                Ok(Appended::Added(chunk)) => {
                    appended += 1;
                    min_t = min_t.min(t);
                    max_t = max_t.max(t);
                    if let Some(chunk) = chunk {
                        drop(state);
                        closed.push((series, chunk));
                    }
                }
                Ok(Appended::Duplicate) => {}
                // Another appender wrote this series since `append` checked it; replay drops
                // the logged sample the same way.
                Err(StorageError::OutOfOrder) => {
                    self.stats
                        .out_of_order_samples
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.stats.duplicate_samples.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if min_t <= max_t {
            self.span.note(min_t, max_t);
        }
        self.write_closed_chunks(&closed)?;
        self.stats
            .samples_appended
            .fetch_add(appended, Ordering::Relaxed);
        Ok(())
    }

    /// Creates the series of a batch that do not exist yet: written to RocksDB (series, times,
    /// postings) through RocksDB's WAL, then made visible. Returns them in the order asked.
    fn create_series(&self, wanted: &[Labels]) -> Result<Vec<Arc<MemSeries>>, StorageError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut symbols = self.creation.lock().unwrap_or_else(|e| e.into_inner());
        let series_cf = self.cf(CF_SERIES)?;
        let postings_cf = self.cf(CF_POSTINGS)?;
        let mut next = self.head.next_ref();
        let mut result = Vec::with_capacity(wanted.len());
        let mut fresh = Vec::new();
        let mut batch = WriteBatch::default();
        for labels in wanted {
            if let Some(existing) = self.head.get(labels) {
                result.push(existing);
                continue;
            }
            if next > u64::from(u32::MAX) {
                symbols.note_stranded();
                return Err(StorageError::Engine(
                    "series refs exhausted (4 billion series created)".into(),
                ));
            }
            let series = Arc::new(MemSeries::new(next, symbols.intern(labels)));
            next += 1;
            batch.put_cf(
                series_cf,
                encoding::ref_key(series.series_ref),
                encoding::encode_labels(labels),
            );
            let refs = RoaringBitmap::from_iter([series.series_ref as u32]);
            for label in labels.iter() {
                batch.merge_cf(
                    postings_cf,
                    encoding::postings_key(&label.name, &label.value),
                    postings_delta(&refs, &RoaringBitmap::new()),
                );
            }
            fresh.push(series.clone());
            result.push(series);
        }
        if !fresh.is_empty() {
            if let Err(e) = self.db.write(batch) {
                symbols.note_stranded();
                return Err(StorageError::Engine(format!("creating series: {e}")));
            }
            {
                let mut postings = self.write_postings();
                for series in &fresh {
                    postings.add(series.series_ref as u32, &series.labels);
                }
            }
            for series in &fresh {
                self.head.insert(series.clone());
            }
            self.stats
                .series_created
                .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        }
        Ok(result)
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "final TSDB checkpoint failed; the next start replays the write-ahead log");
        }
    }
}

/// `/api/v1/status/tsdb`'s figures.
#[derive(Debug, Clone)]
pub struct TsdbStatus {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    pub min_time: i64,
    pub max_time: i64,
    pub series_count_by_metric_name: Vec<(String, u64)>,
    pub label_value_count_by_label_name: Vec<(String, u64)>,
    pub memory_in_bytes_by_label_name: Vec<(String, u64)>,
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
}

/// A chunk re-encoded without its samples in `[mint, maxt]`; `None` when none is left.
fn chunk_without(
    bytes: &[u8],
    mint: i64,
    maxt: i64,
) -> Result<Option<chunk::XorChunk>, StorageError> {
    let mut samples = Vec::new();
    chunk::decode(bytes, &mut samples).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    samples.retain(|s| s.t < mint || s.t > maxt);
    if samples.is_empty() {
        return Ok(None);
    }
    let mut rewritten = chunk::XorChunk::new();
    for s in &samples {
        rewritten.append(s.t, s.v);
    }
    Ok(Some(rewritten))
}

/// Oldest and newest sample time over the whole database.
struct Span {
    min: AtomicI64,
    max: AtomicI64,
}

impl Default for Span {
    fn default() -> Self {
        Span {
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(i64::MIN),
        }
    }
}

impl Span {
    fn note(&self, min_t: i64, max_t: i64) {
        self.min.fetch_min(min_t, Ordering::Relaxed);
        self.max.fetch_max(max_t, Ordering::Relaxed);
    }

    fn get(&self) -> Option<(i64, i64)> {
        let (min, max) = (
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        );
        (min <= max).then_some((min, max))
    }
}

/// Applies logged samples to the head again (replay): samples the head already has (they
/// reached a persisted chunk before the crash) are skipped as duplicates or out of order.
fn replay_samples(
    db: &DB,
    head: &Head,
    stats: &TsdbStats,
    span: &Span,
    samples: &[RefSample],
) -> Result<u64, StorageError> {
    let mut closed = Vec::new();
    let mut applied = 0;
    for s in samples {
        let Some(series) = head.by_ref(s.series_ref) else {
            // Series are durable before they are used, so only retention can have removed
            // this one since: nothing to restore.
            continue;
        };
        let mut state = series.lock();
        if let Ok(Appended::Added(chunk)) = series.append(&mut state, s.t, s.v) {
            applied += 1;
            span.note(s.t, s.t);
            if let Some(chunk) = chunk {
                drop(state);
                closed.push((series.clone(), chunk));
            }
        }
    }
    write_closed_chunks(db, stats, &closed)?;
    Ok(applied)
}

/// Writes closed chunks (without RocksDB's WAL: the samples are in ours until the next
/// checkpoint) and releases them from memory.
fn write_closed_chunks(
    db: &DB,
    stats: &TsdbStats,
    closed: &[(Arc<MemSeries>, ClosedChunk)],
) -> Result<(), StorageError> {
    if closed.is_empty() {
        return Ok(());
    }
    let chunks_cf = cf(db, CF_CHUNKS).map_err(StorageError::Corrupt)?;
    let times_cf = cf(db, CF_SERIES_TIMES).map_err(StorageError::Corrupt)?;
    let mut batch = WriteBatch::default();
    for (series, chunk) in closed {
        put_chunk(&mut batch, chunks_cf, times_cf, series, chunk);
    }
    db.write_opt(batch, &no_wal())
        .map_err(|e| StorageError::Engine(format!("writing chunks: {e}")))?;
    for (series, chunk) in closed {
        series.lock().mark_written(chunk);
    }
    stats
        .chunks_created
        .fetch_add(closed.len() as u64, Ordering::Relaxed);
    Ok(())
}

fn maintenance_loop(tsdb: Weak<Tsdb>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(tsdb) = tsdb.upgrade() else {
            return;
        };
        if tsdb.closed.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = tsdb.maintain() {
            tracing::error!(error = %e, "TSDB maintenance failed");
        }
    }
}

fn put_chunk(
    batch: &mut WriteBatch,
    chunks_cf: &rocksdb::ColumnFamily,
    times_cf: &rocksdb::ColumnFamily,
    series: &MemSeries,
    chunk: &ClosedChunk,
) {
    batch.put_cf(
        chunks_cf,
        encoding::chunk_key(chunk.block, series.series_ref, chunk.mint),
        encoding::chunk_value(chunk.maxt, &chunk.bytes),
    );
    let min_t = series.min_t.load(Ordering::Relaxed).min(chunk.mint);
    batch.put_cf(
        times_cf,
        encoding::ref_key(series.series_ref),
        encoding::times_value(&encoding::SeriesTimes {
            min_t,
            max_t: chunk.maxt,
            last_v: chunk.last_v,
            chunk_block: chunk.block,
            chunk_mint: chunk.mint,
        }),
    );
}

fn no_wal() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.disable_wal(true);
    options
}

/// One batch from an appender, resolved as far as `append` could.
struct PendingBatch {
    new_series: Vec<Labels>,
    samples: Vec<(Target, i64, f64)>,
}

enum Target {
    Existing(Arc<MemSeries>),
    /// Index into `PendingBatch::new_series`.
    New(usize),
}

/// Postings merge operands: `D ++ len(adds) u32 LE ++ adds ++ removes`; the stored value is
/// `F ++ bitmap`. Partial merges fold deltas together, full merges apply them to the bitmap.
fn postings_delta(adds: &RoaringBitmap, removes: &RoaringBitmap) -> Vec<u8> {
    let mut out = vec![b'D'];
    out.extend_from_slice(&(adds.serialized_size() as u32).to_le_bytes());
    // Serialising into a Vec cannot fail.
    let _ = adds.serialize_into(&mut out);
    let _ = removes.serialize_into(&mut out);
    out
}

fn decode_delta(bytes: &[u8]) -> Option<(RoaringBitmap, RoaringBitmap)> {
    let rest = bytes.strip_prefix(b"D")?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let adds = RoaringBitmap::deserialize_from(rest.get(4..4 + len)?).ok()?;
    let removes = RoaringBitmap::deserialize_from(rest.get(4 + len..)?).ok()?;
    Some((adds, removes))
}

fn decode_postings_value(bytes: &[u8]) -> Option<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes.strip_prefix(b"F")?).ok()
}

fn postings_full_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let mut refs = match existing {
        Some(bytes) => decode_postings_value(bytes)?,
        None => RoaringBitmap::new(),
    };
    for operand in operands {
        let (adds, removes) = decode_delta(operand)?;
        refs -= removes;
        refs |= adds;
    }
    let mut out = vec![b'F'];
    refs.serialize_into(&mut out).ok()?;
    Some(out)
}

fn postings_partial_merge(
    _key: &[u8],
    _existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let mut adds = RoaringBitmap::new();
    let mut removes = RoaringBitmap::new();
    for operand in operands {
        let (a, r) = decode_delta(operand)?;
        // Later operands win: a later add cancels an earlier remove and vice versa.
        adds -= &r;
        removes -= &a;
        adds |= a;
        removes |= r;
    }
    Some(postings_delta(&adds, &removes))
}

fn open_rocksdb(path: &Path) -> Result<DB, OpenError> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_compression_type(DBCompressionType::Lz4);
    options.set_bottommost_compression_type(DBCompressionType::Zstd);
    options.set_max_background_jobs(2);
    // Chunks and their series' times are written together without RocksDB's WAL: they must
    // reach disk together too, or a restart could trust a time whose chunk was lost.
    options.set_atomic_flush(true);
    // RocksDB's informational log grows without bound otherwise; warnings are enough.
    options.set_log_level(rocksdb::LogLevel::Warn);
    options.set_keep_log_file_num(2);
    // Small memtables: they are memory per series (new series and their postings land there
    // first), and the head, not RocksDB, serves the newest data.
    options.set_write_buffer_size(4 << 20);
    options.set_max_write_buffer_number(2);
    let cache = Cache::new_lru_cache(32 << 20);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&cache);
    options.set_block_based_table_factory(&table);

    let mut postings_options = options.clone();
    postings_options.set_merge_operator(
        "narthex_postings",
        postings_full_merge,
        postings_partial_merge,
    );
    let mut families: BTreeMap<String, Options> = BTreeMap::new();
    for name in [CF_SERIES, CF_SERIES_TIMES, CF_CHUNKS, CF_META] {
        families.insert(name.to_string(), options.clone());
    }
    families.insert(CF_POSTINGS.to_string(), postings_options);
    // Column families of other formats must be opened too, so the format check can explain.
    if let Ok(existing) = DB::list_cf(&options, path) {
        for name in existing {
            families.entry(name).or_insert_with(|| options.clone());
        }
    }
    let descriptors = families
        .into_iter()
        .map(|(name, opts)| ColumnFamilyDescriptor::new(name, opts));
    DB::open_cf_descriptors(&options, path, descriptors).map_err(|e| classify_open_error(path, e))
}

/// Loads series, their time spans and the postings into memory.
fn load(db: &DB, head: &Head, symbols: &mut symbols::Symbols) -> Result<Postings, String> {
    let series_cf = cf(db, CF_SERIES)?;
    let times_cf = cf(db, CF_SERIES_TIMES)?;
    let postings_cf = cf(db, CF_POSTINGS)?;
    let chunks_cf = cf(db, CF_CHUNKS)?;
    let mut chunks = db.raw_iterator_cf(chunks_cf);
    let mut all = Vec::new();
    for item in db.iterator_cf(series_cf, IteratorMode::Start) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let series_ref = encoding::decode_ref(&key)?;
        let labels =
            encoding::decode_labels(&value).map_err(|e| format!("series {series_ref}: {e}"))?;
        all.push(Arc::new(MemSeries::new(
            series_ref,
            symbols.intern(&labels),
        )));
    }
    let mut all_times = Vec::new();
    for item in db.iterator_cf(times_cf, IteratorMode::Start) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let series_ref = encoding::decode_ref(&key)?;
        let times = encoding::decode_times_value(&value)?;
        let Ok(i) = all.binary_search_by_key(&series_ref, |s| s.series_ref) else {
            continue;
        };
        let (times, newest) = newest_chunk(&mut chunks, series_ref, times)
            .map_err(|e| format!("newest chunk of series {series_ref}: {e}"))?;
        all_times.push((i, times, newest));
    }
    // As the maintenance's trim: series without a sample in the window before the newest
    // sample stored keep no chunks for recent reads.
    let recent_from = all_times
        .iter()
        .map(|(_, times, _)| times.max_t)
        .max()
        .unwrap_or(i64::MIN)
        .saturating_sub(RECENT_WINDOW_MS);
    for (i, times, newest) in all_times {
        let series = &all[i];
        let series_ref = series.series_ref;
        series.note_span(times.min_t, times.max_t);
        // The newest chunk becomes the open chunk again, so appends continue it and queries of
        // recent data read the head, as before the restart.
        let open = match newest {
            Some(value) => {
                let (_, bytes) = encoding::decode_chunk_value(&value)?;
                let chunk = chunk::XorChunk::from_bytes(bytes.to_vec())
                    .map_err(|e| format!("newest chunk of series {series_ref}: {e}"))?;
                (chunk.len() < chunk::MAX_SAMPLES_PER_CHUNK
                    && chunk.last_time() == Some(times.max_t))
                .then_some(head::OpenChunk {
                    block: times.chunk_block,
                    chunk,
                })
            }
            None => None,
        };
        let recent = if times.max_t >= recent_from {
            load_recent(&mut chunks, series_ref, &times, open.is_some())
                .map_err(|e| format!("recent chunks of series {series_ref}: {e}"))?
        } else {
            Vec::new()
        };
        let previous = sample_before_open(open.as_ref(), &recent)
            .map_err(|e| format!("newest chunks of series {series_ref}: {e}"))?;
        let mut state = series.lock();
        state.last = Some(narthex_model::Sample {
            t: times.max_t,
            v: times.last_v,
        });
        state.open = open;
        state.recent = recent;
        state.previous = previous;
    }
    let mut postings = Postings::default();
    for item in db.iterator_cf(postings_cf, IteratorMode::Start) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let (name, label_value) = encoding::decode_postings_key(&key)?;
        let refs = decode_postings_value(&value)
            .ok_or_else(|| format!("postings of {name}={label_value:?} are unreadable"))?;
        postings.set_pair(&name, &label_value, refs);
    }
    for series in all {
        head.insert(series);
    }
    Ok(postings)
}

/// The series' times as of its newest chunk stored, and that chunk's stored value (absent
/// when the chunk the times name is not stored). A series' times are written with each of
/// its chunks, so when two commits wrote chunks of one series in the other order, they name
/// the older one; a start taking them as they are would reopen the wrong chunk, check new
/// samples against an old time, and leave the newer chunks' blocks out of the time span.
/// The newest chunk is looked for in the block the times name and the two after it: the racing
/// commit's chunk starts in one of them unless the series skipped hours between two samples.
fn newest_chunk(
    chunks: &mut rocksdb::DBRawIteratorWithThreadMode<'_, DB>,
    series_ref: SeriesRef,
    times: encoding::SeriesTimes,
) -> Result<(encoding::SeriesTimes, Option<Vec<u8>>), String> {
    for ahead in (0..=2).rev() {
        let block = times.chunk_block.saturating_add(ahead);
        chunks.seek_for_prev(encoding::chunk_key(block, series_ref, i64::MAX));
        chunks.status().map_err(|e| e.to_string())?;
        let (Some(key), Some(value)) = (chunks.key(), chunks.value()) else {
            continue;
        };
        let key = encoding::decode_chunk_key(key)?;
        if key.block != block || key.series_ref != series_ref {
            continue;
        }
        if key.block == times.chunk_block {
            // As nearly always: the newest stored is the one the times name, or that one is
            // missing.
            let named = (key.mint == times.chunk_mint).then(|| value.to_vec());
            if key.mint <= times.chunk_mint {
                return Ok((times, named));
            }
        }
        let (maxt, bytes) = encoding::decode_chunk_value(value)?;
        let chunk = chunk::XorChunk::from_bytes(bytes.to_vec())
            .map_err(|e| format!("chunk at {}: {e}", key.mint))?;
        let last_v = chunk
            .last_value()
            .ok_or_else(|| format!("chunk at {} is empty", key.mint))?;
        tracing::debug!(
            series_ref,
            "series times named an older chunk than the newest stored"
        );
        let newest = encoding::SeriesTimes {
            min_t: times.min_t,
            max_t: maxt.max(times.max_t),
            last_v,
            chunk_block: key.block,
            chunk_mint: key.mint,
        };
        return Ok((newest, Some(value.to_vec())));
    }
    Ok((times, None))
}

/// The sample before the open chunk's last one, as appends left it in
/// `SeriesState::previous`: the open chunk's second newest, or the newest of the chunk
/// before it (the newest of `recent`, which ends where the open chunk begins).
fn sample_before_open(
    open: Option<&head::OpenChunk>,
    recent: &[ClosedChunk],
) -> Result<Option<narthex_model::Sample>, chunk::ChunkError> {
    let Some(open) = open else {
        return Ok(None);
    };
    let bytes = match open.chunk.len() {
        0 => return Ok(None),
        1 => match recent.last() {
            Some(chunk) => &chunk.bytes[..],
            None => return Ok(None),
        },
        _ => open.chunk.bytes(),
    };
    let skip_newest = open.chunk.len() > 1;
    let mut newest_two = [None, None];
    for sample in chunk::ChunkIter::new(bytes) {
        let (t, v) = sample?;
        newest_two = [newest_two[1], Some(narthex_model::Sample { t, v })];
    }
    Ok(if skip_newest {
        newest_two[0]
    } else {
        newest_two[1]
    })
}

/// The written chunks the head kept for reads of the recent past (`SeriesState::recent`),
/// read back on start so that those reads stay in memory after a restart: the newest chunks
/// before the open one (or from the newest, when it was full), at most
/// [`head::RECENT_MAX_CHUNKS`], ending within [`RECENT_WINDOW_MS`] of the newest sample,
/// oldest first. `times` name the newest chunk stored ([`newest_chunk`]): with the open chunk
/// these are the series' newest chunks without a gap, as a reader needs them.
fn load_recent(
    chunks: &mut rocksdb::DBRawIteratorWithThreadMode<'_, DB>,
    series_ref: SeriesRef,
    times: &encoding::SeriesTimes,
    newest_is_open: bool,
) -> Result<Vec<ClosedChunk>, String> {
    let newest = encoding::chunk_key(times.chunk_block, series_ref, times.chunk_mint);
    let window_start = times.max_t.saturating_sub(RECENT_WINDOW_MS);
    let mut recent = Vec::new();
    // Backwards from the newest chunk; the window spans at most two blocks.
    'blocks: for block in (block_of(window_start)..=times.chunk_block).rev() {
        if block == times.chunk_block {
            chunks.seek_for_prev(newest);
            if newest_is_open && chunks.key() == Some(&newest[..]) {
                chunks.prev();
            }
        } else {
            chunks.seek_for_prev(encoding::chunk_key(block, series_ref, i64::MAX));
        }
        while chunks.valid() {
            let (Some(key), Some(value)) = (chunks.key(), chunks.value()) else {
                break;
            };
            let key = encoding::decode_chunk_key(key)?;
            if key.block != block || key.series_ref != series_ref {
                break;
            }
            let (maxt, bytes) = encoding::decode_chunk_value(value)?;
            if maxt < window_start {
                break 'blocks;
            }
            recent.push(ClosedChunk {
                block,
                mint: key.mint,
                maxt,
                // Only a chunk being written needs it (for the series' times); these are.
                last_v: f64::NAN,
                bytes: Arc::from(bytes),
            });
            if recent.len() == head::RECENT_MAX_CHUNKS {
                break 'blocks;
            }
            chunks.prev();
        }
    }
    chunks.status().map_err(|e| e.to_string())?;
    recent.reverse();
    Ok(recent)
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

impl Storage for Tsdb {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(TsdbAppender {
            tsdb: self,
            batch: PendingBatch {
                new_series: Vec::new(),
                samples: Vec::new(),
            },
            new_index: std::collections::HashMap::new(),
            batch_last: std::collections::HashMap::new(),
        })
    }

    fn querier(&self) -> Box<dyn Querier + '_> {
        Box::new(querier::TsdbQuerier::new(self))
    }
}

struct TsdbAppender<'a> {
    tsdb: &'a Tsdb,
    batch: PendingBatch,
    /// Label set -> index in `batch.new_series`.
    new_index: std::collections::HashMap<Labels, usize>,
    /// Newest sample per series within this batch (existing series by ref, new ones by
    /// `usize::MAX - index`), for the ordering checks before commit.
    batch_last: std::collections::HashMap<u64, narthex_model::Sample>,
}

impl TsdbAppender<'_> {
    /// Checks a sample against the newest one of its series (committed or in this batch) and
    /// buffers it.
    fn push(
        &mut self,
        target: Target,
        key: u64,
        committed_last: Option<narthex_model::Sample>,
        t: i64,
        v: f64,
    ) -> Result<bool, StorageError> {
        let last = self.batch_last.get(&key).copied().or(committed_last);
        let state = head::SeriesState {
            last,
            ..Default::default()
        };
        match MemSeries::check(&state, t, v) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => {
                let counter = match e {
                    StorageError::OutOfOrder => &self.tsdb.stats.out_of_order_samples,
                    _ => &self.tsdb.stats.duplicate_samples,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        }
        self.batch_last.insert(key, narthex_model::Sample { t, v });
        self.batch.samples.push((target, t, v));
        Ok(true)
    }

    fn append_existing(
        &mut self,
        series: Arc<MemSeries>,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let last = series.lock().last;
        let r = series.series_ref;
        self.push(Target::Existing(series), r, last, t, v)?;
        Ok(r)
    }
}

impl Appender for TsdbAppender<'_> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, StorageError> {
        if labels.metric_name().is_none() {
            return Err(StorageError::InvalidSeries {
                labels: labels.to_string(),
                reason: "no metric name".into(),
            });
        }
        if let Some(series) = self.tsdb.head.get(labels) {
            return self.append_existing(series, t, v);
        }
        let next = self.batch.new_series.len();
        let i = *self.new_index.entry(labels.clone()).or_insert(next);
        if i == next {
            self.batch.new_series.push(labels.clone());
        }
        self.push(Target::New(i), u64::MAX - i as u64, None, t, v)?;
        Ok(0)
    }

    fn append_ref(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        match self.tsdb.head.by_ref(series_ref) {
            Some(series) if series.labels == *labels => self.append_existing(series, t, v),
            _ => self.append(labels, t, v),
        }
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        if self.batch.samples.is_empty() {
            return Ok(());
        }
        let tsdb = self.tsdb;
        let result = tsdb.commit_batch(self.batch);
        if result.is_err() {
            tsdb.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn rollback(self: Box<Self>) {}
}

#[cfg(test)]
mod tests;
