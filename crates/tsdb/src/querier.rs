//! Reads: matchers resolved by the postings, samples merged from RocksDB's chunks and the head.
//!
//! For each selected series the head's chunks (recent, closed-but-unwritten and open) are
//! decoded under the series lock first; RocksDB then supplies only samples older than the head's oldest
//! chunk. Reading the head first means a chunk that closes meanwhile is still seen once: in the
//! copy if it was there, in RocksDB if it had already been written.
//!
//! RocksDB is read block by block (two hours each), one raw iterator per block bounded to it,
//! series in ref order, so a query touches only the blocks its range overlaps.
//!
//! Series are listed in the order Prometheus's storage would list them (`query_order`): in
//! creation order (ref order) for a query that Prometheus would answer from its head block
//! alone, sorted by labels otherwise. Narthex keeps no head block of its own in that sense, so
//! it works out where Prometheus's would begin from the span of the stored samples, taking
//! every two-hour block before it as persisted. Prometheus persists only blocks that hold
//! samples; a query that reads nothing but a gap of two hours or more before the head is
//! therefore answered in label order here and in creation order by Prometheus. And where
//! retention has removed so much that the oldest sample left is less than about two hours
//! before that head, the head's start is worked out from that sample, while Prometheus's
//! head does not move when blocks are deleted.

use std::collections::HashMap;
use std::sync::Arc;

use narthex_model::{
    label_names_of, Labels, MatchOp, Matcher, Querier, Sample, SelectionSize, Series, SeriesOrder,
    StorageError,
};
use rocksdb::ReadOptions;

use crate::chunk::decode_range;
use crate::encoding::{self, block_of, BLOCK_MS};
use crate::head::MemSeries;
use crate::{Tsdb, CF_CHUNKS};

/// Below this many series a second thread costs more than it saves.
const PARALLEL_READ_MIN_SERIES: usize = 1_000;

static MULTI_CORE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1));

pub struct TsdbQuerier<'a> {
    tsdb: &'a Tsdb,
}

/// What a read took from one series' head: its samples (a range of the shared buffer) and
/// where the head's chunks begin.
struct HeadPart {
    samples: std::ops::Range<usize>,
    /// RocksDB supplies the samples before this time.
    head_mint: i64,
}

impl<'a> TsdbQuerier<'a> {
    pub fn new(tsdb: &'a Tsdb) -> Self {
        TsdbQuerier { tsdb }
    }

    /// The series `matchers` select that may have samples in `[mint, maxt]`, in `order`.
    fn candidates(
        &self,
        order: SeriesOrder,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<Arc<MemSeries>> {
        if mint > maxt {
            return Vec::new();
        }
        let refs = self.tsdb.read_postings().select(matchers);
        let mut series = match order {
            SeriesOrder::Labels => self.tsdb.label_order.series(&self.tsdb.head, &refs),
            // Refs are handed out in creation order (`Head::insert`).
            SeriesOrder::Creation => self.tsdb.head.by_refs(refs.iter()),
        };
        series.retain(|s| s.overlaps(mint, maxt));
        series
    }

    /// The samples in `[mint, maxt]` of each series (in the order given). Many series are read
    /// in two halves on two cores, each half its own way through head and RocksDB: a query
    /// waits on decoding and RocksDB look-ups, which parallelise without shared state.
    fn read(
        &self,
        series: &[Arc<MemSeries>],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Vec<Sample>>, StorageError> {
        if series.len() < PARALLEL_READ_MIN_SERIES || !*MULTI_CORE {
            return self.read_serial(series, mint, maxt);
        }
        // Halves of the refs, not of the order the series come in: each thread then
        // walks its own part of every block's chunk keys.
        let mut order: Vec<usize> = (0..series.len()).collect();
        order.sort_unstable_by_key(|&i| series[i].series_ref);
        let by_ref: Vec<Arc<MemSeries>> = order.iter().map(|&i| series[i].clone()).collect();
        let (first, second) = by_ref.split_at(by_ref.len() / 2);
        let (first, second) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| self.read_serial(second, mint, maxt));
            let first = self.read_serial(first, mint, maxt);
            let second = helper
                .join()
                .unwrap_or_else(|_| Err(StorageError::Engine("a read thread panicked".into())));
            (first, second)
        });
        let mut out = vec![Vec::new(); series.len()];
        for (position, samples) in order.into_iter().zip(first?.into_iter().chain(second?)) {
            out[position] = samples;
        }
        Ok(out)
    }

    fn read_serial(
        &self,
        series: &[Arc<MemSeries>],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Vec<Sample>>, StorageError> {
        // The head first (see the module comment), decoded under each series' lock into one
        // shared buffer: no chunk is copied and no per-series buffer grows step by step.
        let mut head_samples: Vec<Sample> = Vec::new();
        let mut heads: Vec<HeadPart> = Vec::with_capacity(series.len());
        for s in series {
            let start = head_samples.len();
            let head_mint = read_head(s, mint, maxt, &mut head_samples)?;
            heads.push(HeadPart {
                samples: start..head_samples.len(),
                head_mint,
            });
        }
        let mut out: Vec<Vec<Sample>> = vec![Vec::new(); series.len()];
        let needs_disk: Vec<usize> = (0..series.len())
            .filter(|&i| mint < heads[i].head_mint)
            .collect();
        if !needs_disk.is_empty() {
            self.read_persisted(series, &heads, &needs_disk, mint, maxt, &mut out)?;
        }
        for (samples, head) in out.iter_mut().zip(&heads) {
            samples.extend_from_slice(&head_samples[head.samples.clone()]);
        }
        Ok(out)
    }

    fn read_persisted(
        &self,
        series: &[Arc<MemSeries>],
        heads: &[HeadPart],
        wanted: &[usize],
        mint: i64,
        maxt: i64,
        out: &mut [Vec<Sample>],
    ) -> Result<(), StorageError> {
        let Some((db_min, db_max)) = self.tsdb.time_span() else {
            return Ok(());
        };
        let chunks_cf = self.tsdb.cf(CF_CHUNKS)?;
        // Series come in the order asked; chunk keys are in ref order within a block.
        let mut wanted = wanted.to_vec();
        wanted.sort_unstable_by_key(|&i| series[i].series_ref);
        let first_block = block_of(mint.max(db_min));
        let last_block = block_of(maxt.min(db_max));
        for block in first_block..=last_block {
            let block_start = block.saturating_mul(BLOCK_MS);
            let block_end = block_start.saturating_add(BLOCK_MS - 1);
            let mut options = ReadOptions::default();
            options.set_iterate_lower_bound(encoding::block_start_key(block).to_vec());
            options.set_iterate_upper_bound(encoding::block_start_key(block + 1).to_vec());
            let mut iter = self.tsdb.db.raw_iterator_cf_opt(chunks_cf, options);
            for &i in &wanted {
                let s = &series[i];
                if !s.overlaps(block_start, block_end) {
                    continue;
                }
                // Samples from the head's chunks on are read from the head.
                let upto = maxt.min(heads[i].head_mint.saturating_sub(1));
                if upto < block_start || mint > block_end {
                    continue;
                }
                iter.seek(encoding::chunk_key(block, s.series_ref, i64::MIN));
                while iter.valid() {
                    let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                        break;
                    };
                    let key = encoding::decode_chunk_key(key).map_err(StorageError::Corrupt)?;
                    if key.series_ref != s.series_ref || key.mint > upto {
                        break;
                    }
                    let (chunk_maxt, bytes) =
                        encoding::decode_chunk_value(value).map_err(StorageError::Corrupt)?;
                    if chunk_maxt >= mint {
                        // The header's sample count bounds what this chunk adds.
                        if let [hi, lo, ..] = bytes {
                            out[i].reserve(usize::from(u16::from_be_bytes([*hi, *lo])));
                        }
                        decode_range(bytes, mint, upto, &mut out[i]).map_err(|e| {
                            StorageError::Corrupt(format!(
                                "chunk of series {} at {}: {e}",
                                s.series_ref, key.mint
                            ))
                        })?;
                    }
                    iter.next();
                }
                iter.status()
                    .map_err(|e| StorageError::Engine(format!("reading chunks: {e}")))?;
            }
        }
        Ok(())
    }

    /// Whether a series has a sample in `[mint, maxt]`: decided by its time span when it can
    /// be, by reading otherwise.
    fn has_sample(
        &self,
        series: &Arc<MemSeries>,
        mint: i64,
        maxt: i64,
    ) -> Result<bool, StorageError> {
        if !series.overlaps(mint, maxt) {
            return Ok(false);
        }
        let (min_t, max_t) = (
            series.min_t.load(std::sync::atomic::Ordering::Relaxed),
            series.max_t.load(std::sync::atomic::Ordering::Relaxed),
        );
        if (mint..=maxt).contains(&min_t) || (mint..=maxt).contains(&max_t) {
            return Ok(true);
        }
        let samples = self.read(std::slice::from_ref(series), mint, maxt)?;
        Ok(samples.first().is_some_and(|s| !s.is_empty()))
    }

    /// The range whose series Prometheus's index answers label names and values from, for
    /// a request over `[mint, maxt]`: it lists every series of each block the range overlaps
    /// and, when it overlaps the head, every series of the head, whatever the times of their
    /// samples. So a series counts here when it has a sample in the two-hour blocks before
    /// Prometheus's head that the range touches (see `prometheus_head_min_time`), or
    /// anywhere from the head's start on.
    pub(crate) fn index_range(&self, mint: i64, maxt: i64) -> (i64, i64) {
        let Some((oldest, newest)) = self.tsdb.time_span() else {
            return (mint, maxt);
        };
        // Outside the stored samples (or an empty range) Prometheus reads nothing either.
        if mint > maxt || mint > newest || maxt < oldest {
            return (mint, maxt);
        }
        let head_mint = prometheus_head_min_time(oldest, newest);
        let start = if mint >= head_mint {
            head_mint
        } else {
            mint.div_euclid(BLOCK_MS).saturating_mul(BLOCK_MS)
        };
        let end = if maxt >= head_mint {
            i64::MAX
        } else {
            let block_end = maxt
                .div_euclid(BLOCK_MS)
                .saturating_add(1)
                .saturating_mul(BLOCK_MS);
            (block_end - 1).min(head_mint - 1)
        };
        (start, end)
    }

    /// Whether the range covers everything stored, so no series needs checking.
    fn covers_all(&self, mint: i64, maxt: i64) -> bool {
        self.tsdb
            .time_span()
            .is_none_or(|(min, max)| mint <= min && maxt >= max)
    }

    /// Keeps the keys (label names or values, in order) that have a series with a sample in
    /// the range, reading each undecided series at most once.
    fn keys_with_samples(
        &self,
        keys: Vec<(String, roaring::RoaringBitmap)>,
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        if mint > maxt {
            return Ok(Vec::new());
        }
        if self.covers_all(mint, maxt) {
            return Ok(keys.into_iter().map(|(k, _)| k).collect());
        }
        let mut known: HashMap<u32, bool> = HashMap::new();
        let mut result = Vec::new();
        for (key, refs) in keys {
            for r in refs.iter() {
                let has = match known.get(&r) {
                    Some(&has) => has,
                    None => {
                        let has = match self.tsdb.head.by_ref(u64::from(r)) {
                            Some(series) => self.has_sample(&series, mint, maxt)?,
                            None => false,
                        };
                        known.insert(r, has);
                        has
                    }
                };
                if has {
                    result.push(key);
                    break;
                }
            }
        }
        Ok(result)
    }
}

/// Decodes the series' head chunks (written but recent, closed but unwritten, then open) in
/// the range into `out`; returns the oldest head chunk's start (`i64::MAX` without one).
fn read_head(
    series: &MemSeries,
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) -> Result<i64, StorageError> {
    let state = series.lock();
    let corrupt =
        |e| StorageError::Corrupt(format!("head chunk of series {}: {e}", series.series_ref));
    let mut head_mint = i64::MAX;
    let start = out.len();
    for chunk in state.recent.iter().chain(&state.unflushed) {
        head_mint = head_mint.min(chunk.mint);
        if chunk.maxt >= mint && chunk.mint <= maxt {
            decode_range(&chunk.bytes, mint, maxt, out).map_err(corrupt)?;
        }
    }
    // Written and unwritten chunks interleave in time only when commits wrote a series' chunks
    // out of order; chunks never overlap, so sorting the samples restores the order.
    if !state.recent.is_empty() && !state.unflushed.is_empty() {
        out[start..].sort_unstable_by_key(|s| s.t);
    }
    if let Some(open) = &state.open {
        let first = open.chunk.first_time().unwrap_or(i64::MAX);
        head_mint = head_mint.min(first);
        if open.chunk.last_time().is_some_and(|last| last >= mint) && first <= maxt {
            open.chunk.decode_range(mint, maxt, out).map_err(corrupt)?;
        }
    }
    Ok(head_mint)
}

/// Where Prometheus's head block would begin if it had taken samples from `oldest` to
/// `newest`. Prometheus compacts the oldest two hours of its head into a persisted block
/// whenever the head spans more than three hours (`Head.compactable`: more than one and a
/// half block ranges), and block ranges end at multiples of two hours (`rangeForTimestamp`),
/// so the head keeps the samples from the first such boundary that leaves it three hours or
/// less, or all of them.
pub(crate) fn prometheus_head_min_time(oldest: i64, newest: i64) -> i64 {
    const COMPACTABLE_SPAN: i64 = BLOCK_MS / 2 * 3;
    if newest.saturating_sub(oldest) <= COMPACTABLE_SPAN {
        return oldest;
    }
    // Go's integer division truncates, as Rust's does.
    let first_block_end = (oldest / BLOCK_MS * BLOCK_MS).saturating_add(BLOCK_MS);
    let excess = newest
        .saturating_sub(COMPACTABLE_SPAN)
        .saturating_sub(first_block_end);
    if excess <= 0 {
        return first_block_end;
    }
    // Each further compaction moves the head's start by one block.
    let further = ((excess as u64).div_ceil(BLOCK_MS as u64) as i64).saturating_mul(BLOCK_MS);
    first_block_end.saturating_add(further)
}

/// What the head tells about a series' newest sample in a range.
enum Newest {
    Found(Sample),
    /// The series has no sample in the range.
    None,
    /// Only a read can tell: the open chunk is missing or continues past the range.
    Unknown,
}

/// The newest sample in `[mint, maxt]` without decoding, when `maxt` is at or after the
/// series' second newest sample (a query of the present, the common case): the open chunk holds
/// the newest samples and knows its last one; the head remembers the one before.
fn newest_in_head(series: &MemSeries, mint: i64, maxt: i64) -> Newest {
    let state = series.lock();
    let Some(open) = &state.open else {
        return Newest::Unknown;
    };
    let (Some(last_t), Some(last_v)) = (open.chunk.last_time(), open.chunk.last_value()) else {
        return Newest::Unknown;
    };
    let newest = if last_t <= maxt {
        Sample {
            t: last_t,
            v: last_v,
        }
    } else {
        match state.previous {
            // The sample before the open chunk's last (see `SeriesState`); a delete_series
            // that rewrote the chunk since has cleared it.
            Some(previous) if previous.t < last_t && previous.t <= maxt => previous,
            _ => return Newest::Unknown,
        }
    };
    if newest.t >= mint {
        Newest::Found(newest)
    } else {
        Newest::None
    }
}

impl Querier for TsdbQuerier<'_> {
    fn selection_size(&self, matchers: &[Matcher]) -> Option<SelectionSize> {
        // Regular expressions are matched against every value of their label: not cheap
        // enough for a look-up made before the query is admitted.
        if matchers
            .iter()
            .any(|m| matches!(m.op, MatchOp::RegexMatch | MatchOp::RegexNoMatch))
        {
            return None;
        }
        let refs = self.tsdb.read_postings().select(matchers);
        let mut size = SelectionSize {
            series: 0,
            in_memory_from: i64::MIN,
        };
        self.tsdb.head.for_each_ref(refs.iter(), |s| {
            size.series += 1;
            size.in_memory_from = size.in_memory_from.max(s.memory_start());
        });
        Some(size)
    }

    fn query_order(&self, mint: i64, maxt: i64) -> SeriesOrder {
        let Some((oldest, newest)) = self.tsdb.time_span() else {
            return SeriesOrder::Creation;
        };
        // Prometheus's persisted blocks hold `[oldest, head_mint)`.
        let head_mint = prometheus_head_min_time(oldest, newest);
        if oldest < head_mint && mint < head_mint && maxt >= oldest {
            SeriesOrder::Labels
        } else {
            SeriesOrder::Creation
        }
    }

    fn select_newest(
        &self,
        order: SeriesOrder,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let series = self.candidates(order, matchers, mint, maxt);
        // Each found series with its position among the candidates.
        let mut result = Vec::with_capacity(series.len());
        let mut to_read = Vec::new();
        for (position, s) in series.into_iter().enumerate() {
            match newest_in_head(&s, mint, maxt) {
                Newest::Found(sample) => result.push((
                    position,
                    Series {
                        labels: s.labels.clone(),
                        samples: vec![sample],
                    },
                )),
                Newest::None => {}
                Newest::Unknown => to_read.push((position, s)),
            }
        }
        if !to_read.is_empty() {
            let (positions, to_read): (Vec<usize>, Vec<Arc<MemSeries>>) =
                to_read.into_iter().unzip();
            let samples = self.read(&to_read, mint, maxt)?;
            for ((position, s), mut samples) in positions.into_iter().zip(&to_read).zip(samples) {
                if let Some(newest) = samples.pop() {
                    result.push((
                        position,
                        Series {
                            labels: s.labels.clone(),
                            samples: vec![newest],
                        },
                    ));
                }
            }
            result.sort_unstable_by_key(|(position, _)| *position);
        }
        Ok(result.into_iter().map(|(_, series)| series).collect())
    }

    fn select(
        &self,
        order: SeriesOrder,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let series = self.candidates(order, matchers, mint, maxt);
        let samples = self.read(&series, mint, maxt)?;
        let result: Vec<Series> = series
            .iter()
            .zip(samples)
            .filter(|(_, samples)| !samples.is_empty())
            .map(|(s, samples)| Series {
                labels: s.labels.clone(),
                samples,
            })
            .collect();
        Ok(result)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StorageError> {
        let mut result = Vec::new();
        for series in self.candidates(SeriesOrder::Labels, matchers, mint, maxt) {
            if self.has_sample(&series, mint, maxt)? {
                result.push(series.labels.clone());
            }
        }
        Ok(result)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let (mint, maxt) = self.index_range(mint, maxt);
        if !matchers.is_empty() {
            return Ok(label_names_of(&self.series(matchers, mint, maxt)?));
        }
        let keys: Vec<(String, roaring::RoaringBitmap)> = self
            .tsdb
            .read_postings()
            .names()
            .map(|(name, values)| {
                let mut refs = roaring::RoaringBitmap::new();
                for r in values.values() {
                    refs |= r;
                }
                (name.clone(), refs)
            })
            .collect();
        self.keys_with_samples(keys, mint, maxt)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let (mint, maxt) = self.index_range(mint, maxt);
        let keys: Vec<(String, roaring::RoaringBitmap)> = {
            let postings = self.tsdb.read_postings();
            let Some(values) = postings.values(name) else {
                return Ok(Vec::new());
            };
            let restrict = (!matchers.is_empty()).then(|| postings.select(matchers));
            values
                .iter()
                .filter_map(|(value, refs)| {
                    let refs = match &restrict {
                        Some(allowed) => refs & allowed,
                        None => refs.clone(),
                    };
                    (!refs.is_empty()).then(|| (value.clone(), refs))
                })
                .collect()
        };
        self.keys_with_samples(keys, mint, maxt)
    }
}
