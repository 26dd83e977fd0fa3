//! An in-memory `Storage`: a sorted map of series, for tests, the PromQL test-file runner and
//! rule unit tests, where data is loaded, queried and thrown away. No persistence.
//!
//! Series are grouped by metric name, so that a selector naming its metric (nearly all do) only
//! looks at that metric's series: the PromQL benchmark measures the engine on top of this
//! storage, and matching every series of the storage against every selector was a good part of
//! a query's cost there.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::{
    Appender, Labels, MatchOp, Matcher, Querier, Sample, Series, SeriesOrder, SeriesRef, Storage,
    StorageError, METRIC_NAME,
};

/// Series by metric name, then by labels.
type SeriesMap = BTreeMap<String, BTreeMap<Labels, Vec<Sample>>>;

#[derive(Default)]
pub struct MemoryStorage {
    series: RwLock<SeriesMap>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every series (the test language's `clear`).
    pub fn clear(&self) {
        self.series
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Storage for MemoryStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemoryAppender {
            storage: self,
            pending: Vec::new(),
        })
    }

    fn querier(&self) -> Box<dyn Querier + '_> {
        Box::new(MemoryQuerier { storage: self })
    }
}

struct MemoryAppender<'a> {
    storage: &'a MemoryStorage,
    pending: Vec<(Labels, Sample)>,
}

impl Appender for MemoryAppender<'_> {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, StorageError> {
        if labels.metric_name().is_none() {
            return Err(StorageError::InvalidSeries {
                labels: labels.to_string(),
                reason: "no metric name".into(),
            });
        }
        self.pending.push((labels.clone(), Sample { t, v }));
        Ok(0)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut series = self
            .storage
            .series
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for (labels, sample) in self.pending {
            let name = labels.metric_name().unwrap_or_default();
            let by_labels = match series.get_mut(name) {
                Some(by_labels) => by_labels,
                None => series.entry(name.to_string()).or_default(),
            };
            let samples = by_labels.entry(labels).or_default();
            // Loading test data may interleave series; keep each sorted, last write wins.
            match samples.binary_search_by_key(&sample.t, |s| s.t) {
                Ok(i) => samples[i] = sample,
                Err(i) => samples.insert(i, sample),
            }
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}

struct MemoryQuerier<'a> {
    storage: &'a MemoryStorage,
}

impl Querier for MemoryQuerier<'_> {
    /// Always in label order: this storage does not keep creation order.
    fn select(
        &self,
        _order: SeriesOrder,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let series = self
            .storage
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner());
        // A selector naming its metric reads that metric's series only; the others read all
        // and sort, as series of different names interleave in label order when a label name
        // sorts before `__name__`.
        let name_matcher = matchers
            .iter()
            .position(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal);
        let name = name_matcher.map(|i| matchers[i].value.as_str());
        let groups: Vec<&BTreeMap<Labels, Vec<Sample>>> = match name {
            Some(name) => series.get(name).into_iter().collect(),
            None => series.values().collect(),
        };
        let mut out: Vec<Series> = groups
            .into_iter()
            .flat_map(|g| g.iter())
            .filter(|(labels, _)| {
                // The name matcher holds for the whole group it picked.
                matchers.iter().enumerate().all(|(i, m)| {
                    Some(i) == name_matcher || m.matches(labels.get(&m.name).unwrap_or(""))
                })
            })
            .filter_map(|(labels, samples)| {
                let start = first_at_or_after(samples, mint);
                let end = match maxt.checked_add(1) {
                    Some(after) => first_at_or_after(samples, after),
                    None => samples.len(),
                };
                (start < end).then(|| Series {
                    labels: labels.clone(),
                    samples: samples[start..end].to_vec(),
                })
            })
            .collect();
        if name.is_none() {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(out)
    }
}

/// The index of the first sample at or after `t` (`samples.len()` when there is none).
///
/// Samples of a series are nearly evenly spaced, so the position is first guessed by
/// interpolating between the first and the last timestamp, then found by galloping from the
/// guess. A plain binary search costs a cache (and TLB) miss per probe over long series, which
/// made a query's `select` cost more than its evaluation; the guess is usually within a few
/// samples, so this touches one or two cache lines.
fn first_at_or_after(samples: &[Sample], t: i64) -> usize {
    let n = samples.len();
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return 0;
    };
    if t <= first.t {
        return 0;
    }
    if t > last.t {
        return n;
    }
    // first.t < t <= last.t here, so n >= 2 and the span is positive.
    let span = (last.t - first.t) as i128;
    let guess = ((t - first.t) as i128 * (n - 1) as i128 / span) as usize;
    let guess = guess.min(n - 1);
    // Gallop to a bracket [lo, hi) with samples[lo].t < t <= samples[hi].t (or hi == n).
    let (lo, hi) = if samples[guess].t < t {
        let (mut lo, mut step) = (guess, 1);
        loop {
            let probe = lo + step;
            if probe >= n {
                break (lo, n);
            }
            if samples[probe].t >= t {
                break (lo, probe);
            }
            lo = probe;
            step *= 2;
        }
    } else {
        let (mut hi, mut step) = (guess, 1);
        loop {
            if hi < step {
                break (0, hi);
            }
            let probe = hi - step;
            if samples[probe].t < t {
                break (probe, hi);
            }
            hi = probe;
            step *= 2;
        }
    };
    lo + samples[lo..hi].partition_point(|s| s.t < t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_at_or_after_matches_partition_point() {
        // Even, uneven and clustered timestamps.
        let series: Vec<Vec<i64>> = vec![
            vec![],
            vec![5],
            (0..100).map(|i| i * 15).collect(),
            (0..100).map(|i| i * i).collect(),
            (0..50).chain(1000..1010).chain(5000..5100).collect(),
            vec![1, 1_000_000],
        ];
        for ts in series {
            let samples: Vec<Sample> = ts.iter().map(|&t| Sample { t, v: 0.0 }).collect();
            let hi = ts.last().copied().unwrap_or(0) + 3;
            for t in -3..=hi.min(20_000) {
                assert_eq!(
                    first_at_or_after(&samples, t),
                    samples.partition_point(|s| s.t < t),
                    "t={t} in {ts:?}"
                );
            }
        }
    }

    #[test]
    fn select_by_matchers_and_range() {
        let storage = MemoryStorage::new();
        let mut app = storage.appender();
        let a = Labels::from_pairs([("__name__", "m"), ("x", "a")]);
        let b = Labels::from_pairs([("__name__", "m"), ("x", "b")]);
        for t in 0..10 {
            app.append(&a, t * 10, t as f64).unwrap();
        }
        app.append(&b, 5, 1.0).unwrap();
        app.commit().unwrap();
        let got = storage
            .querier()
            .select(SeriesOrder::Labels, &[Matcher::equal("x", "a")], 20, 40)
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 3);
        let got = storage
            .querier()
            .select(
                SeriesOrder::Labels,
                &[Matcher::equal("__name__", "m")],
                0,
                9,
            )
            .unwrap();
        assert_eq!(got.len(), 2);
        let got = storage
            .querier()
            .select(SeriesOrder::Labels, &[Matcher::equal("x", "a")], 21, 89)
            .unwrap();
        assert_eq!(got[0].samples.first().map(|s| s.t), Some(30));
        assert_eq!(got[0].samples.last().map(|s| s.t), Some(80));
        // Label names sorting before `__name__` interleave metrics in label order.
        let mut app = storage.appender();
        let c = Labels::from_pairs([("__name__", "a"), ("A", "2")]);
        let d = Labels::from_pairs([("__name__", "z"), ("A", "1")]);
        app.append(&c, 5, 1.0).unwrap();
        app.append(&d, 5, 1.0).unwrap();
        app.commit().unwrap();
        let got = storage
            .querier()
            .select(SeriesOrder::Labels, &[], 0, 9)
            .unwrap();
        let got: Vec<_> = got.into_iter().map(|s| s.labels).collect();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(got, sorted);
        assert_eq!(got.len(), 4);
        storage.clear();
        assert!(storage
            .querier()
            .select(SeriesOrder::Labels, &[], 0, 100)
            .unwrap()
            .is_empty());
    }
}
