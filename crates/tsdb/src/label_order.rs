//! Selections in label order, remembered.
//!
//! Selections of queries that reach past Prometheus's head block, and the API's series
//! listings, are returned sorted by labels, and sorting compares label strings: 1,440
//! series take about 15,000 comparisons, a large part of a small query's time. The order of a
//! set of series never changes (a ref's labels are fixed, and refs are not reused while the
//! process runs), and dashboards select the same sets again and again, so the order of the
//! sets selected last is kept, keyed by the exact set of refs.

use std::sync::{Arc, Mutex, MutexGuard};

use roaring::RoaringBitmap;

use crate::head::{Head, MemSeries};

/// Below this many series sorting costs less than looking the order up.
const MIN_SERIES: u64 = 16;
/// The orders kept, most recently used first.
const MAX_ENTRIES: usize = 64;
/// The refs kept in all orders together (4 bytes each, plus the key's bitmap).
const MAX_REFS: u64 = 1 << 20;

struct Entry {
    refs: RoaringBitmap,
    ordered: Arc<[u32]>,
}

#[derive(Default)]
pub(crate) struct LabelOrder {
    recent: Mutex<Vec<Entry>>,
}

impl LabelOrder {
    /// The series of `refs` that are in the head, sorted by labels.
    pub fn series(&self, head: &Head, refs: &RoaringBitmap) -> Vec<Arc<MemSeries>> {
        let count = refs.len();
        if !(MIN_SERIES..=MAX_REFS).contains(&count) {
            return sorted(head.by_refs(refs.iter()));
        }
        if let Some(ordered) = self.lookup(refs) {
            return head.by_refs(ordered.iter().copied());
        }
        let series = sorted(head.by_refs(refs.iter()));
        // A series is in the postings a moment before it is in the head: an order without it
        // would leave it out of every later selection of this set.
        if series.len() as u64 == count {
            let ordered = series.iter().map(|s| s.series_ref as u32).collect();
            self.remember(refs.clone(), ordered);
        }
        series
    }

    fn lookup(&self, refs: &RoaringBitmap) -> Option<Arc<[u32]>> {
        let mut recent = self.lock();
        let position = recent
            .iter()
            .position(|e| e.refs.len() == refs.len() && e.refs == *refs)?;
        let entry = recent.remove(position);
        let ordered = entry.ordered.clone();
        recent.insert(0, entry);
        Some(ordered)
    }

    fn remember(&self, refs: RoaringBitmap, ordered: Arc<[u32]>) {
        let mut recent = self.lock();
        if recent.iter().any(|e| e.refs == refs) {
            return; // another query got there first
        }
        recent.insert(0, Entry { refs, ordered });
        let mut kept = 0;
        let keep = recent
            .iter()
            .take(MAX_ENTRIES)
            .take_while(|e| {
                kept += e.ordered.len() as u64;
                kept <= MAX_REFS
            })
            .count();
        recent.truncate(keep.max(1));
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn sorted(mut series: Vec<Arc<MemSeries>>) -> Vec<Arc<MemSeries>> {
    series.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::Labels;

    fn head_with(names: &[&str]) -> Head {
        let head = Head::default();
        for (r, name) in names.iter().enumerate() {
            let labels = Labels::from_pairs([("__name__", "m"), ("name", *name)]);
            head.insert(Arc::new(MemSeries::new(r as u64, labels)));
        }
        head
    }

    fn names(series: &[Arc<MemSeries>]) -> Vec<String> {
        series
            .iter()
            .map(|s| s.labels.get("name").unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn orders_by_labels_and_remembers_the_order() {
        // Refs in creation order, labels in another.
        let all: Vec<String> = (0..40).map(|i| format!("s{:02}", (i * 7) % 40)).collect();
        let head = head_with(&all.iter().map(String::as_str).collect::<Vec<_>>());
        let refs: RoaringBitmap = (0..40).collect();
        let mut expected = all.clone();
        expected.sort();
        let order = LabelOrder::default();
        assert_eq!(names(&order.series(&head, &refs)), expected);
        assert_eq!(order.lock().len(), 1, "the order is kept");
        assert_eq!(
            names(&order.series(&head, &refs)),
            expected,
            "from the kept order"
        );
        // A different set has its own order.
        let some: RoaringBitmap = (0..40).step_by(2).collect();
        let mut expected_some: Vec<String> = all.iter().step_by(2).cloned().collect();
        expected_some.sort();
        assert_eq!(names(&order.series(&head, &some)), expected_some);
        assert_eq!(order.lock().len(), 2);
    }

    #[test]
    fn removed_series_leave_the_kept_order() {
        let all: Vec<String> = (0..20).map(|i| format!("s{:02}", 19 - i)).collect();
        let head = head_with(&all.iter().map(String::as_str).collect::<Vec<_>>());
        let refs: RoaringBitmap = (0..20).collect();
        let order = LabelOrder::default();
        order.series(&head, &refs);
        head.remove(19); // "s00"
        let got = names(&order.series(&head, &refs));
        assert_eq!(got.len(), 19);
        assert_eq!(got.first().map(String::as_str), Some("s01"));
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    }

    #[test]
    fn an_order_missing_a_series_is_not_kept() {
        let all: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
        let head = head_with(&all[..19].iter().map(String::as_str).collect::<Vec<_>>());
        // Ref 19 is in the postings but not yet in the head.
        let refs: RoaringBitmap = (0..20).collect();
        let order = LabelOrder::default();
        assert_eq!(order.series(&head, &refs).len(), 19);
        assert_eq!(order.lock().len(), 0);
        let labels = Labels::from_pairs([("__name__", "m"), ("name", "s19")]);
        head.insert(Arc::new(MemSeries::new(19, labels)));
        assert_eq!(order.series(&head, &refs).len(), 20);
        assert_eq!(order.lock().len(), 1);
    }

    #[test]
    fn keeps_a_bounded_number_of_orders() {
        let all: Vec<String> = (0..100).map(|i| format!("s{i:03}")).collect();
        let head = head_with(&all.iter().map(String::as_str).collect::<Vec<_>>());
        let order = LabelOrder::default();
        for start in 0..(MAX_ENTRIES as u32 + 10) {
            let refs: RoaringBitmap = (start % 80..start % 80 + 20)
                .chain([99 - start % 3])
                .collect();
            order.series(&head, &refs);
        }
        assert!(order.lock().len() <= MAX_ENTRIES);
    }
}
