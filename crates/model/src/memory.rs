//! An in-memory `Storage`: a sorted map of series, for tests, the PromQL test-file runner and
//! rule unit tests, where data is loaded, queried and thrown away. No persistence.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::{Appender, Labels, Matcher, Querier, Sample, Series, SeriesRef, Storage, StorageError};

#[derive(Default)]
pub struct MemoryStorage {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
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
            let samples = series.entry(labels).or_default();
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
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let series = self
            .storage
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(series
            .iter()
            .filter(|(labels, _)| {
                matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
            .filter_map(|(labels, samples)| {
                let start = samples.partition_point(|s| s.t < mint);
                let end = samples.partition_point(|s| s.t <= maxt);
                (start < end).then(|| Series {
                    labels: labels.clone(),
                    samples: samples[start..end].to_vec(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .select(&[Matcher::equal("x", "a")], 20, 40)
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.len(), 3);
        let got = storage
            .querier()
            .select(&[Matcher::equal("__name__", "m")], 0, 9)
            .unwrap();
        assert_eq!(got.len(), 2);
        storage.clear();
        assert!(storage.querier().select(&[], 0, 100).unwrap().is_empty());
    }
}
