//! The storage traits: how the scrape loop, the query engine and the rule engine write and read
//! samples without knowing which storage engine sits behind them.
//!
//! Writes go through an `Appender`, which buffers a batch (one scrape, one rule evaluation) and
//! makes it durable and visible at `commit`. Reads go through a `Querier`, which selects series by
//! matchers over a closed time range `[mint, maxt]` in milliseconds.

use std::collections::BTreeSet;

use crate::{Labels, Matcher};

/// A numeric handle for a series, stable for the lifetime of the storage.
pub type SeriesRef = u64;

/// One sample: a millisecond timestamp and a float value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// A series with its samples, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A sample older than the newest sample of its series (Prometheus rejects these by default).
    #[error("out of order sample")]
    OutOfOrder,
    /// A sample at the newest timestamp of its series with a different value.
    #[error("duplicate sample for timestamp")]
    DuplicateTimestamp,
    /// A label set the storage refuses (no metric name, invalid names).
    #[error("invalid series {labels}: {reason}")]
    InvalidSeries { labels: String, reason: String },
    /// The storage engine failed; the batch was not written.
    #[error("storage engine: {0}")]
    Engine(String),
    /// Data on disk is not what it should be.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Errors that concern one sample and let the rest of a batch go on (Prometheus counts and
    /// skips them); the others fail the whole batch.
    pub fn is_sample_error(&self) -> bool {
        matches!(
            self,
            StorageError::OutOfOrder
                | StorageError::DuplicateTimestamp
                | StorageError::InvalidSeries { .. }
        )
    }
}

/// Buffers samples of one batch; nothing is visible or durable before `commit`.
pub trait Appender: Send {
    /// Adds a sample to the batch. A per-sample error (see `StorageError::is_sample_error`) rejects
    /// only this sample. Returns the series ref, or 0 for a series this batch creates (its ref is
    /// assigned at commit).
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef, StorageError>;
    /// `append` for a series whose ref an earlier `append` returned: engines skip the label
    /// look-up. `labels` must be the series' labels; a ref the storage no longer knows (0, or a
    /// series removed since) falls back to them.
    fn append_ref(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: i64,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        let _ = series_ref;
        self.append(labels, t, v)
    }
    /// Writes the batch durably and makes it visible to queriers, all or nothing.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;
    /// Drops the batch.
    fn rollback(self: Box<Self>);
}

/// What a storage tells about a selection before reading it ([`Querier::selection_size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectionSize {
    /// How many series the matchers select at most.
    pub series: usize,
    /// From this time (ms) on, every selected series' samples are in memory; `i64::MAX` when
    /// some series has none there.
    pub in_memory_from: i64,
}

/// The order in which a selection lists its series (see [`Querier::query_order`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeriesOrder {
    /// Sorted by label set.
    #[default]
    Labels,
    /// In the order the series were created.
    Creation,
}

/// Reads series over a time range.
pub trait Querier {
    /// Series matching all `matchers` with their samples in `[mint, maxt]`; series with no sample
    /// in the range are left out. In `order`; a storage that does not keep the order its
    /// series were created in lists them by labels either way (its
    /// [`query_order`](Querier::query_order) never gives `Creation`).
    fn select(
        &self,
        order: SeriesOrder,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError>;

    /// The order in which Prometheus's storage lists the series of every selection of a query
    /// that reads `[mint, maxt]` (the span of all its selectors, Prometheus's
    /// `FindMinMaxTime`): in the order they were created when the query reads its head block
    /// alone, by labels when it reads persisted blocks, whose series are sorted and merged.
    /// The PromQL engine asks once per query and selects in that order: an instant vector
    /// lists its series in it, and aggregations add series up in it, which the last digit of
    /// a sum or a standard deviation depends on. Storages that do not keep creation order
    /// answer `Labels`.
    fn query_order(&self, _mint: i64, _maxt: i64) -> SeriesOrder {
        SeriesOrder::Labels
    }

    /// How many series `matchers` select at most, whatever their samples, and from when on
    /// all of them are held in memory, when the storage can tell without reading samples (an
    /// index look-up); `None` otherwise.
    fn selection_size(&self, _matchers: &[Matcher]) -> Option<SelectionSize> {
        None
    }

    /// As [`select`](Querier::select), each series with only its newest sample in the range:
    /// all an instant vector selector evaluated at one time looks at. Engines override it to
    /// answer without decoding the older samples.
    fn select_newest(
        &self,
        order: SeriesOrder,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, StorageError> {
        let mut series = self.select(order, matchers, mint, maxt)?;
        for s in &mut series {
            let older = s.samples.len().saturating_sub(1);
            s.samples.drain(..older);
        }
        Ok(series)
    }

    /// Label sets (without samples) of the series matching `matchers` with a sample in the range.
    /// Sorted by labels. Engines override it to answer without reading the samples.
    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StorageError> {
        Ok(self
            .select(SeriesOrder::Labels, matchers, mint, maxt)?
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }

    /// The label names of the series matching `matchers` (every series when `matchers` is empty)
    /// with a sample in `[mint, maxt]`: sorted, without duplicates. What `/api/v1/labels` lists.
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        Ok(label_names_of(&self.series(matchers, mint, maxt)?))
    }

    /// The values label `name` takes on the series matching `matchers` (every series when
    /// `matchers` is empty) with a sample in `[mint, maxt]`: sorted, without duplicates. What
    /// `/api/v1/label/<name>/values` lists.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StorageError> {
        let mut values = BTreeSet::new();
        for labels in self.series(matchers, mint, maxt)? {
            if let Some(value) = labels.get(name) {
                if !values.contains(value) {
                    values.insert(value.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }
}

/// The label names of `series`: sorted, without duplicates.
pub fn label_names_of(series: &[Labels]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for labels in series {
        for label in labels.iter() {
            if !names.contains(label.name.as_str()) {
                names.insert(label.name.as_str());
            }
        }
    }
    names.into_iter().map(str::to_string).collect()
}

/// A storage engine: hands out appenders and queriers, shared across threads.
pub trait Storage: Send + Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;
    fn querier(&self) -> Box<dyn Querier + '_>;
}
