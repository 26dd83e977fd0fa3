//! Label sets: the identity of a series.
//!
//! A `Labels` is a sorted list of (name, value) pairs behind an `Arc`, so cloning is a
//! reference-count bump and equality, ordering and hashing follow the sorted order. `__name__`
//! is an ordinary label here, as in Prometheus.
//!
//! Names and values are `ArcStr`s, shared rather than copied: a set derived from another (without
//! `__name__`, a grouping's labels, a result's metric) points at the same strings. Where equal
//! strings are one allocation (the TSDB interns them), comparing them is a pointer test.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

pub use arcstr::ArcStr;

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One (name, value) pair. Equality and hashing are `ArcStr`'s, which test the pointer before
/// the text and hash the text; the order below adds the same pointer shortcut.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Label {
    pub name: ArcStr,
    pub value: ArcStr,
}

impl Label {
    pub fn new(name: impl Into<ArcStr>, value: impl Into<ArcStr>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// String order, with a shortcut for two handles on one allocation.
fn compare_shared(a: &ArcStr, b: &ArcStr) -> Ordering {
    if ArcStr::ptr_eq(a, b) {
        Ordering::Equal
    } else {
        a.as_str().cmp(b.as_str())
    }
}

impl Ord for Label {
    fn cmp(&self, other: &Label) -> Ordering {
        compare_shared(&self.name, &other.name)
            .then_with(|| compare_shared(&self.value, &other.value))
    }
}

impl PartialOrd for Label {
    fn partial_cmp(&self, other: &Label) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A sorted, duplicate-free set of labels. Empty values are dropped, as Prometheus treats an
/// empty label value as an absent label.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    /// Builds a set from pairs in any order; on duplicate names the last one wins.
    pub fn from_pairs<N: Into<ArcStr>, V: Into<ArcStr>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Labels {
        let mut builder = LabelsBuilder::default();
        for (name, value) in pairs {
            builder.set(name, value);
        }
        builder.build()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name, if the set has one.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// A builder starting from this set, for adding or removing labels.
    pub fn to_builder(&self) -> LabelsBuilder {
        LabelsBuilder {
            pairs: self.0.iter().cloned().collect(),
        }
    }

    /// Whether both are the very same set (one shared allocation), which implies equality:
    /// a constant-time test that lets callers skip hashing or comparing a set they have seen.
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The labels for which `keep` is true. The result stays sorted, so unlike going through a
    /// builder nothing is sorted again and only the kept labels are copied.
    pub fn filtered(&self, mut keep: impl FnMut(&Label) -> bool) -> Labels {
        Labels(self.0.iter().filter(|l| keep(l)).cloned().collect())
    }

    /// The same set with every name and value replaced by `shared(string)`, which must return
    /// an equal string: for swapping in interned copies without sorting again.
    pub fn map_strings(&self, mut shared: impl FnMut(&ArcStr) -> ArcStr) -> Labels {
        Labels(
            self.0
                .iter()
                .map(|l| Label {
                    name: shared(&l.name),
                    value: shared(&l.value),
                })
                .collect(),
        )
    }

    /// The same set without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        let mut builder = self.to_builder();
        builder.remove(METRIC_NAME);
        builder.build()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prints the set as PromQL writes a series: `name{a="1", b="2"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for label in self.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

/// Accumulates labels, then sorts once.
#[derive(Default, Clone, Debug)]
pub struct LabelsBuilder {
    pairs: Vec<Label>,
}

impl LabelsBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        LabelsBuilder {
            pairs: Vec::with_capacity(capacity),
        }
    }

    /// Sets `name` to `value`, replacing an earlier value of the same name.
    pub fn set(&mut self, name: impl Into<ArcStr>, value: impl Into<ArcStr>) -> &mut Self {
        let name = name.into();
        let value = value.into();
        if let Some(existing) = self.pairs.iter_mut().find(|l| l.name == name) {
            existing.value = value;
        } else {
            self.pairs.push(Label { name, value });
        }
        self
    }

    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.pairs.retain(|l| l.name != name);
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    pub fn build(mut self) -> Labels {
        self.pairs.retain(|l| !l.value.is_empty());
        self.pairs.sort_unstable();
        Labels(self.pairs.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_last_duplicate_wins() {
        let labels = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("job", "b")]);
        let names: Vec<_> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job"]);
        assert_eq!(labels.get("job"), Some("b"));
        assert_eq!(labels.metric_name(), Some("up"));
    }

    #[test]
    fn empty_values_are_absent() {
        let labels = Labels::from_pairs([("a", ""), ("b", "1")]);
        assert_eq!(labels.len(), 1);
        assert_eq!(labels.get("a"), None);
    }

    #[test]
    fn displays_like_promql() {
        let labels = Labels::from_pairs([
            ("__name__", "up"),
            ("job", "prometheus"),
            ("instance", "localhost:9090"),
        ]);
        assert_eq!(
            labels.to_string(),
            r#"up{instance="localhost:9090", job="prometheus"}"#
        );
        assert_eq!(labels.without_metric_name().metric_name(), None);
        assert!(labels.ptr_eq(&labels.clone()));
        assert!(!labels.ptr_eq(&labels.filtered(|_| true)));
        let kept = labels.filtered(|l| l.name != "job");
        assert_eq!(kept.to_string(), r#"up{instance="localhost:9090"}"#);
    }
}
