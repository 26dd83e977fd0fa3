//! The head: every series in memory with its open chunk, and the maps that find a series by
//! label set or by ref.
//!
//! Appends from many scrape loops run in parallel: the label-set map is split into shards by
//! hash, the ref table is read-locked only to find a series, and each series has its own
//! mutex. Closed chunks wait in `SeriesState::unflushed` until they are written to RocksDB, so a
//! query never misses them; once written, the newest of the last [`RECENT_WINDOW_MS`] stay in
//! `SeriesState::recent`, so queries of the recent past (dashboards, rules) read memory instead
//! of seeking RocksDB once per series, as Prometheus serves its head block from memory.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use narthex_model::{Labels, Sample, SeriesRef, StorageError};

use crate::chunk::{XorChunk, MAX_SAMPLES_PER_CHUNK};
use crate::encoding::block_of;

const SHARDS: usize = 64;

/// How far back from a series' newest sample its written chunks stay in memory: a chunk is
/// kept while it ends within this window, and only the newest [`RECENT_MAX_CHUNKS`]. Two hours
/// is what Prometheus's head holds at the least; at a 15 s scrape interval it is four chunks
/// (about 200 bytes each for a counter, up to 1.1 KB for a noisy gauge). Shorter intervals keep
/// less time, not more memory.
pub const RECENT_WINDOW_MS: i64 = 2 * 60 * 60 * 1000;
pub const RECENT_MAX_CHUNKS: usize = 4;

/// A chunk that is full (or ended at a block boundary) and must be written to RocksDB.
#[derive(Clone)]
pub struct ClosedChunk {
    pub block: i64,
    pub mint: i64,
    pub maxt: i64,
    /// The newest value, persisted beside the series' time span for the duplicate check.
    pub last_v: f64,
    pub bytes: Arc<[u8]>,
}

pub struct MemSeries {
    pub series_ref: SeriesRef,
    pub labels: Labels,
    /// Oldest and newest sample time over everything stored, for time-range look-ups without
    /// locking the series. `i64::MAX`/`i64::MIN` while the series has no sample.
    pub min_t: AtomicI64,
    pub max_t: AtomicI64,
    /// Set when retention or delete_series removed the series; a commit holding it creates
    /// the series anew instead of appending to it.
    removed: AtomicBool,
    /// Where the series' chunks in memory begin ([`SeriesState::memory_start`]), kept by
    /// [`SeriesGuard`] as each lock is released: a query's placement reads it for every
    /// selected series before the query runs, which locking each series made a tenth of a
    /// query over a thousand series.
    memory_start: AtomicI64,
    state: Mutex<SeriesState>,
}

#[derive(Default)]
pub struct SeriesState {
    pub open: Option<OpenChunk>,
    /// Closed chunks not yet in RocksDB, oldest first.
    pub unflushed: Vec<ClosedChunk>,
    /// The newest closed chunks already in RocksDB (at most [`RECENT_MAX_CHUNKS`]) that end
    /// within [`RECENT_WINDOW_MS`] of the newest sample, oldest first. Together with `unflushed` and `open` they are the newest chunks of
    /// the series without a gap, so a reader takes from RocksDB only what is older than all of
    /// them.
    pub recent: Vec<ClosedChunk>,
    /// The newest sample, for the out-of-order and duplicate checks.
    pub last: Option<Sample>,
    /// The sample before the open chunk's last one (in the open chunk, or the last of the
    /// chunk that one closed), as it was when that was appended: the newest sample at an
    /// evaluation time between the last two scrapes, found without decoding. Restored on
    /// start, so queries of the present stay as quick after a restart.
    pub previous: Option<Sample>,
}

impl SeriesState {
    /// Where the chunks in memory (recent, unflushed, open) begin; `i64::MAX` without any.
    pub fn memory_start(&self) -> i64 {
        let closed = self.recent.iter().chain(&self.unflushed).map(|c| c.mint);
        let open = self.open.as_ref().and_then(|o| o.chunk.first_time());
        closed.chain(open).min().unwrap_or(i64::MAX)
    }
}

/// A locked series; on release it records [`SeriesState::memory_start`] in the series.
pub struct SeriesGuard<'a> {
    state: MutexGuard<'a, SeriesState>,
    memory_start: &'a AtomicI64,
}

impl std::ops::Deref for SeriesGuard<'_> {
    type Target = SeriesState;
    fn deref(&self) -> &SeriesState {
        &self.state
    }
}

impl std::ops::DerefMut for SeriesGuard<'_> {
    fn deref_mut(&mut self) -> &mut SeriesState {
        &mut self.state
    }
}

impl Drop for SeriesGuard<'_> {
    fn drop(&mut self) {
        let start = self.state.memory_start();
        // Stored only when it changed: most releases (an append to the open chunk, a read)
        // leave it as it was.
        if self.memory_start.load(Ordering::Relaxed) != start {
            self.memory_start.store(start, Ordering::Relaxed);
        }
    }
}

pub struct OpenChunk {
    pub block: i64,
    pub chunk: XorChunk,
}

/// What appending one sample did.
pub enum Appended {
    Added(Option<ClosedChunk>),
    /// The same timestamp and value as the newest sample: an idempotent resend, ignored.
    Duplicate,
}

impl MemSeries {
    pub fn new(series_ref: SeriesRef, labels: Labels) -> MemSeries {
        MemSeries {
            series_ref,
            labels,
            min_t: AtomicI64::new(i64::MAX),
            max_t: AtomicI64::new(i64::MIN),
            removed: AtomicBool::new(false),
            memory_start: AtomicI64::new(i64::MAX),
            state: Mutex::new(SeriesState::default()),
        }
    }

    pub fn lock(&self) -> SeriesGuard<'_> {
        SeriesGuard {
            // The state stays consistent if a holder panicked: every mutation is completed
            // before anything that could panic.
            state: self.state.lock().unwrap_or_else(|e| e.into_inner()),
            memory_start: &self.memory_start,
        }
    }

    /// Where the chunks in memory begin, as of the last lock released; `i64::MAX` without any.
    pub fn memory_start(&self) -> i64 {
        self.memory_start.load(Ordering::Relaxed)
    }

    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::SeqCst);
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// Whether the series has data in `[mint, maxt]` as far as its time span tells.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_t.load(Ordering::Relaxed) <= maxt && self.max_t.load(Ordering::Relaxed) >= mint
    }

    pub fn note_span(&self, min_t: i64, max_t: i64) {
        self.min_t.fetch_min(min_t, Ordering::Relaxed);
        self.max_t.fetch_max(max_t, Ordering::Relaxed);
    }

    /// Checks a sample against the newest one without appending it.
    pub fn check(state: &SeriesState, t: i64, v: f64) -> Result<bool, StorageError> {
        match state.last {
            Some(last) if t < last.t => Err(StorageError::OutOfOrder),
            Some(last) if t == last.t => {
                if v.to_bits() == last.v.to_bits() {
                    Ok(false)
                } else {
                    Err(StorageError::DuplicateTimestamp)
                }
            }
            _ => Ok(true),
        }
    }

    /// Appends a sample under the caller's lock; a chunk that closes is returned (and kept in
    /// `unflushed` until the caller has written it).
    pub fn append(
        &self,
        state: &mut SeriesState,
        t: i64,
        v: f64,
    ) -> Result<Appended, StorageError> {
        if !Self::check(state, t, v)? {
            return Ok(Appended::Duplicate);
        }
        let block = block_of(t);
        // Taken from the chunk, not from `last`, which a delete_series does not move back;
        // before a cut, so that the first sample of a chunk still has the one before it.
        let previous = state
            .open
            .as_ref()
            .and_then(|open| open.chunk.last_time().zip(open.chunk.last_value()))
            .map(|(t, v)| Sample { t, v });
        let mut closed = None;
        if let Some(open) = &state.open {
            if open.block != block || open.chunk.len() >= MAX_SAMPLES_PER_CHUNK {
                if let Some(open) = state.open.take() {
                    let chunk = close(open);
                    state.unflushed.push(chunk.clone());
                    closed = Some(chunk);
                }
            }
        }
        let open = state.open.get_or_insert_with(|| OpenChunk {
            block,
            chunk: XorChunk::new(),
        });
        state.previous = previous;
        open.chunk.append(t, v);
        state.last = Some(Sample { t, v });
        self.note_span(t, t);
        Ok(Appended::Added(closed))
    }
}

impl SeriesState {
    /// Moves a chunk that is now in RocksDB from `unflushed` to `recent`, and lets go of the
    /// recent chunks that ended before the window.
    pub fn mark_written(&mut self, chunk: &ClosedChunk) {
        let before = self.unflushed.len();
        self.unflushed
            .retain(|c| !(c.block == chunk.block && c.mint == chunk.mint));
        if before != self.unflushed.len() {
            // Commits may write a series' chunks out of order; `recent` stays sorted.
            let at = self.recent.partition_point(|c| c.mint < chunk.mint);
            self.recent.insert(at, chunk.clone());
        }
        let newest = self.last.map_or(chunk.maxt, |last| last.t.max(chunk.maxt));
        self.prune_recent(newest.saturating_sub(RECENT_WINDOW_MS));
    }

    /// Lets go of the recent chunks beyond the newest [`RECENT_MAX_CHUNKS`] or ending before
    /// `window_start`.
    pub fn prune_recent(&mut self, window_start: i64) {
        // Only chunks older than every unflushed one may go: the head's chunks must stay the
        // newest of the series without a gap (a write that failed keeps an old chunk unflushed).
        let oldest_unflushed = self.unflushed.iter().map(|c| c.mint).min();
        let keep_from = self.recent.len().saturating_sub(RECENT_MAX_CHUNKS);
        let mut index = 0;
        self.recent.retain(|c| {
            let wanted = index >= keep_from && c.maxt >= window_start;
            index += 1;
            wanted || oldest_unflushed.is_some_and(|mint| mint < c.mint)
        });
    }

    /// Lets go of the recent chunks of blocks before `block` (retention removed them).
    pub fn drop_recent_before(&mut self, block: i64) {
        self.recent.retain(|c| c.block >= block);
    }
}

fn close(open: OpenChunk) -> ClosedChunk {
    open.snapshot()
}

impl OpenChunk {
    /// The open chunk as it stands, for a checkpoint or a query.
    pub fn snapshot(&self) -> ClosedChunk {
        ClosedChunk {
            block: self.block,
            mint: self.chunk.first_time().unwrap_or(i64::MIN),
            maxt: self.chunk.last_time().unwrap_or(i64::MIN),
            last_v: self.chunk.last_value().unwrap_or(f64::NAN),
            bytes: Arc::from(self.chunk.bytes()),
        }
    }
}

/// All series, by label set and by ref.
pub struct Head {
    by_labels: Vec<RwLock<HashMap<Labels, Arc<MemSeries>>>>,
    /// Indexed by ref; refs are dense from 1 (0 is never used).
    by_ref: RwLock<Vec<Option<Arc<MemSeries>>>>,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            by_labels: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_ref: RwLock::new(vec![None]),
        }
    }
}

fn shard_of(labels: &Labels) -> usize {
    let mut hasher = DefaultHasher::new();
    labels.hash(&mut hasher);
    (hasher.finish() as usize) % SHARDS
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl Head {
    pub fn get(&self, labels: &Labels) -> Option<Arc<MemSeries>> {
        read(&self.by_labels[shard_of(labels)]).get(labels).cloned()
    }

    pub fn by_ref(&self, series_ref: SeriesRef) -> Option<Arc<MemSeries>> {
        read(&self.by_ref)
            .get(series_ref as usize)
            .and_then(Clone::clone)
    }

    /// Looks up many refs under one lock.
    pub fn by_refs(&self, refs: impl Iterator<Item = u32>) -> Vec<Arc<MemSeries>> {
        let table = read(&self.by_ref);
        refs.filter_map(|r| table.get(r as usize).and_then(Clone::clone))
            .collect()
    }

    /// Calls `f` on each series of `refs` under one lock, without taking a reference to any.
    pub fn for_each_ref(&self, refs: impl Iterator<Item = u32>, mut f: impl FnMut(&MemSeries)) {
        let table = read(&self.by_ref);
        for r in refs {
            if let Some(Some(series)) = table.get(r as usize) {
                f(series);
            }
        }
    }

    /// The ref the next new series gets.
    pub fn next_ref(&self) -> SeriesRef {
        read(&self.by_ref).len() as SeriesRef
    }

    /// Makes a series visible. The caller has made it durable and holds the creation lock, so
    /// refs are handed out in order.
    pub fn insert(&self, series: Arc<MemSeries>) {
        let r = series.series_ref as usize;
        {
            let mut table = write(&self.by_ref);
            if table.len() <= r {
                table.resize(r + 1, None);
            }
            table[r] = Some(series.clone());
        }
        write(&self.by_labels[shard_of(&series.labels)]).insert(series.labels.clone(), series);
    }

    pub fn remove(&self, series_ref: SeriesRef) -> Option<Arc<MemSeries>> {
        let series = write(&self.by_ref)
            .get_mut(series_ref as usize)
            .and_then(Option::take)?;
        write(&self.by_labels[shard_of(&series.labels)]).remove(&series.labels);
        Some(series)
    }

    /// Every series, in ref order.
    pub fn all(&self) -> Vec<Arc<MemSeries>> {
        read(&self.by_ref).iter().flatten().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.by_labels.iter().map(|s| read(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(mint: i64, maxt: i64) -> ClosedChunk {
        ClosedChunk {
            block: block_of(mint),
            mint,
            maxt,
            last_v: 0.0,
            bytes: Arc::from(&[][..]),
        }
    }

    fn mints(chunks: &[ClosedChunk]) -> Vec<i64> {
        chunks.iter().map(|c| c.mint).collect()
    }

    #[test]
    fn written_chunks_stay_in_order_without_a_gap_before_the_unwritten_ones() {
        let hour = RECENT_WINDOW_MS; // one window
        let mut state = SeriesState {
            unflushed: vec![chunk(0, 9), chunk(10, 19), chunk(20, 29)],
            last: Some(Sample { t: 35, v: 0.0 }),
            ..SeriesState::default()
        };
        // Written out of order: the newest first.
        state.mark_written(&chunk(20, 29));
        state.mark_written(&chunk(10, 19));
        assert_eq!(mints(&state.recent), [10, 20]);
        assert_eq!(mints(&state.unflushed), [0]);
        // A second report of the same write changes nothing.
        state.mark_written(&chunk(10, 19));
        assert_eq!(mints(&state.recent), [10, 20]);

        // An hour later the recent chunks have left the window, but an older chunk is still
        // unwritten: dropping them would leave a gap between it and the open chunk.
        state.last = Some(Sample {
            t: 29 + hour + 10,
            v: 0.0,
        });
        state.unflushed.push(chunk(30 + hour, 39 + hour));
        state.mark_written(&chunk(30 + hour, 39 + hour));
        assert_eq!(mints(&state.recent), [10, 20, 30 + hour]);
        // Once it is written, everything older than the window goes.
        state.mark_written(&chunk(0, 9));
        assert_eq!(mints(&state.recent), [30 + hour]);
        assert!(state.unflushed.is_empty());

        state.drop_recent_before(block_of(31 + hour) + 1);
        assert!(state.recent.is_empty());

        // Within the window, only the newest chunks are kept.
        let t = 40 + hour;
        state.unflushed = (0..RECENT_MAX_CHUNKS as i64 + 1)
            .map(|i| chunk(t + 10 * i, t + 10 * i + 9))
            .collect();
        for c in state.unflushed.clone() {
            state.mark_written(&c);
        }
        let kept: Vec<i64> = (1..RECENT_MAX_CHUNKS as i64 + 1)
            .map(|i| t + 10 * i)
            .collect();
        assert_eq!(mints(&state.recent), kept);
    }
}
