//! The label strings of the series in memory, each held once.
//!
//! Thousands of series repeat the same names (`__name__`, `job`, `instance`) and values (a job,
//! a metric name). Interning them saves the copies, and makes two equal labels one allocation,
//! so sorting and comparing label sets (every selection sorts its series) is a pointer test
//! for the labels the sets share.

use std::collections::HashSet;

use narthex_model::{ArcStr, Labels};

/// A sweep runs at least once in this many calls of [`Symbols::sweep_if_needed`] (an hour at
/// the default maintenance interval).
const SWEEP_EVERY: u32 = 60;

#[derive(Default)]
pub struct Symbols {
    strings: HashSet<ArcStr>,
    /// The count of removed series at the last sweep: strings are freed by removals.
    removed_at_sweep: u64,
    /// Sweeps skipped since the last one: a string a query still held during a sweep is
    /// let go of by a later one even when no series is removed again.
    skipped: u32,
    /// Strings were added for series that were then not created (a failed write).
    stranded: bool,
}

impl Symbols {
    /// `labels` with every string replaced by the table's copy, added when new.
    pub fn intern(&mut self, labels: &Labels) -> Labels {
        labels.map_strings(|s| match self.strings.get(s.as_str()) {
            Some(shared) => shared.clone(),
            None => {
                self.strings.insert(s.clone());
                s.clone()
            }
        })
    }

    /// Notes that strings were interned for series that were not created after all.
    pub fn note_stranded(&mut self) {
        self.stranded = true;
    }

    /// [`Symbols::sweep`], when series were removed (`removed_total` moved) or strings were
    /// stranded since the last sweep, and every [`SWEEP_EVERY`] calls: a sweep visits every
    /// string while series creation waits, so it is not done for nothing.
    pub fn sweep_if_needed(&mut self, removed_total: u64) -> usize {
        if removed_total == self.removed_at_sweep && !self.stranded && self.skipped < SWEEP_EVERY {
            self.skipped += 1;
            return 0;
        }
        self.skipped = 0;
        self.removed_at_sweep = removed_total;
        self.stranded = false;
        self.sweep()
    }

    /// Forgets the strings no series uses any more (the table holds the only reference).
    /// Returns how many were dropped.
    pub fn sweep(&mut self) -> usize {
        let before = self.strings.len();
        self.strings
            .retain(|s| ArcStr::strong_count(s).is_none_or(|count| count > 1));
        // After a burst of series is gone, give the memory back (and keep later sweeps short).
        if self.strings.capacity() > 4 * self.strings.len() + 64 {
            self.strings.shrink_to(2 * self.strings.len());
        }
        before - self.strings.len()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.strings.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation_until_unused() {
        let mut symbols = Symbols::default();
        let a = symbols.intern(&Labels::from_pairs([("job", "api"), ("le", "job")]));
        let b = symbols.intern(&Labels::from_pairs([("job", "api"), ("x", "1")]));
        assert_eq!(a, Labels::from_pairs([("job", "api"), ("le", "job")]));
        let job_a = &a.iter().next().unwrap().name;
        let job_b = &b.iter().next().unwrap().name;
        assert!(ArcStr::ptr_eq(job_a, job_b));
        // A value equal to a name is the same string too.
        assert!(ArcStr::ptr_eq(job_a, &a.iter().nth(1).unwrap().value));
        assert_eq!(symbols.len(), 5);
        drop(b);
        assert_eq!(symbols.sweep(), 2, "x and 1 are no longer used");
        assert_eq!(symbols.len(), 3);
        drop(a);
        assert_eq!(
            symbols.sweep_if_needed(0),
            0,
            "nothing removed, nothing stranded"
        );
        assert_eq!(symbols.sweep_if_needed(1), 3);
        symbols.intern(&Labels::from_pairs([("a", "b")]));
        symbols.note_stranded();
        assert_eq!(symbols.sweep_if_needed(1), 2);
        // Held during the sweep after its removal, then let go: a later round frees it.
        let held = symbols.intern(&Labels::from_pairs([("c", "d")]));
        assert_eq!(symbols.sweep_if_needed(2), 0);
        drop(held);
        let freed: usize = (0..=SWEEP_EVERY).map(|_| symbols.sweep_if_needed(2)).sum();
        assert_eq!(freed, 2);
    }
}
