//! The label strings of the series in memory, each held once.
//!
//! Thousands of series repeat the same names (`__name__`, `job`, `instance`) and values (a job,
//! a metric name). Interning them saves the copies, and makes two equal labels one allocation,
//! so sorting and comparing label sets (every selection sorts its series) is a pointer test
//! for the labels the sets share.

use std::collections::HashSet;

use narthex_model::{ArcStr, Labels};

#[derive(Default)]
pub struct Symbols {
    strings: HashSet<ArcStr>,
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

    /// Forgets the strings no series uses any more (the table holds the only reference).
    /// Returns how many were dropped.
    pub fn sweep(&mut self) -> usize {
        let before = self.strings.len();
        self.strings
            .retain(|s| ArcStr::strong_count(s).is_none_or(|count| count > 1));
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
        assert_eq!(symbols.sweep(), 3);
    }
}
