//! Narthex's shared data model: what every other crate speaks.
//!
//! Labels and matchers, samples, the exposition formats (Prometheus text and OpenMetrics), the
//! storage traits that the scrape loop, the query engine and the rule engine program against (so
//! none of them imports the TSDB), and the JSON shapes of the Prometheus HTTP API. No I/O here:
//! this crate also compiles to wasm for the web UI.

pub mod api;
pub mod duration;
pub mod exposition;
pub mod labels;
pub mod matcher;
pub mod memory;
pub mod re2;
pub mod storage;

pub use labels::{ArcStr, Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use storage::{
    label_names_of, Appender, Querier, Sample, SelectionSize, Series, SeriesOrder, SeriesRef,
    Storage, StorageError,
};

/// The bit pattern Prometheus writes as a staleness marker: a NaN that is never produced by
/// arithmetic, so it survives storage bit-exact and tells "series gone" apart from a real NaN.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness-marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True when `v` is exactly the staleness marker (not any other NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
