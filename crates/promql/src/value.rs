//! The values the engine passes between expression nodes while evaluating.
//!
//! Like Prometheus, every instant-vector or scalar expression is evaluated over all steps of a
//! query at once and yields a matrix: one series per label set, with at most one point per step.
//! A scalar is a matrix with one series without labels. Range-vector expressions evaluated at a
//! single instant yield the raw samples of their window instead.

use narthex_model::{Labels, Sample};

/// One series of an intermediate result.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalSeries {
    pub labels: Labels,
    /// Points in ascending time order.
    pub points: Vec<Sample>,
    /// Prometheus 3 drops `__name__` (and the other metadata labels) only at the end of the
    /// evaluation, so that `label_replace` and friends can still see it; this marks series
    /// whose name is due to be dropped.
    pub drop_name: bool,
}

/// One element of an instant vector at one step.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalSample {
    pub labels: Labels,
    /// The sample's own timestamp where it matters (`timestamp()`), else the step.
    pub t: i64,
    pub v: f64,
    pub drop_name: bool,
}

/// The result of evaluating one expression node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Matrix(Vec<EvalSeries>),
    String(String),
}

/// The labels Prometheus calls metadata labels: dropped together when a series' meaning changes.
pub const METADATA_LABELS: [&str; 3] = ["__name__", "__type__", "__unit__"];

/// `labels` without the metadata labels.
pub fn drop_metadata(labels: &Labels) -> Labels {
    if !labels
        .iter()
        .any(|l| METADATA_LABELS.contains(&l.name.as_str()))
    {
        return labels.clone();
    }
    labels.filtered(|l| !METADATA_LABELS.contains(&l.name.as_str()))
}

/// Total number of points in a matrix, for the `max_samples` accounting.
pub fn total_points(m: &[EvalSeries]) -> usize {
    m.iter().map(|s| s.points.len()).sum()
}
