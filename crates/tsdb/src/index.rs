//! The in-memory series index: label set <-> series ref, postings per label pair, and the newest
//! sample per series.

use std::collections::{BTreeMap, HashMap};

use narthex_model::{Labels, Matcher, Sample, SeriesRef};

#[derive(Default)]
pub struct Index {
    by_labels: HashMap<Labels, SeriesRef>,
    series: HashMap<SeriesRef, SeriesEntry>,
    /// label name -> label value -> sorted series refs
    postings: BTreeMap<String, BTreeMap<String, Vec<SeriesRef>>>,
    max_ref: SeriesRef,
}

struct SeriesEntry {
    labels: Labels,
    last: Option<Sample>,
}

impl Index {
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// The ref the next new series gets (refs start at 1).
    pub fn next_ref(&self) -> SeriesRef {
        self.max_ref + 1
    }

    pub fn lookup(&self, labels: &Labels) -> Option<(SeriesRef, Option<Sample>)> {
        let r = *self.by_labels.get(labels)?;
        Some((r, self.series.get(&r).and_then(|e| e.last)))
    }

    pub fn last(&self, series_ref: SeriesRef) -> Option<Sample> {
        self.series.get(&series_ref).and_then(|e| e.last)
    }

    pub fn insert(&mut self, series_ref: SeriesRef, labels: Labels, last: Option<Sample>) {
        for label in labels.iter() {
            let refs = self
                .postings
                .entry(label.name.clone())
                .or_default()
                .entry(label.value.clone())
                .or_default();
            if let Err(pos) = refs.binary_search(&series_ref) {
                refs.insert(pos, series_ref);
            }
        }
        self.by_labels.insert(labels.clone(), series_ref);
        self.series.insert(series_ref, SeriesEntry { labels, last });
        self.max_ref = self.max_ref.max(series_ref);
    }

    /// Records a committed sample as the newest of its series.
    pub fn observe(&mut self, series_ref: SeriesRef, sample: Sample) {
        if let Some(entry) = self.series.get_mut(&series_ref) {
            if entry.last.is_none_or(|last| last.t <= sample.t) {
                entry.last = Some(sample);
            }
        }
    }

    pub fn label_names(&self) -> Vec<String> {
        self.postings.keys().cloned().collect()
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.postings
            .get(name)
            .map(|values| values.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Series matching every matcher. Matchers that reject the empty value narrow the candidates
    /// through postings (a union over the label's matching values); the rest filter the result.
    pub fn matching(&self, matchers: &[Matcher]) -> Vec<(SeriesRef, Labels)> {
        self.matching_refs(matchers)
            .into_iter()
            .filter_map(|r| self.series.get(&r).map(|e| (r, e.labels.clone())))
            .collect()
    }

    /// The refs of the series matching every matcher, ascending (see `matching`).
    pub fn matching_refs(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut candidates: Option<Vec<SeriesRef>> = None;
        for matcher in matchers.iter().filter(|m| !m.matches_empty()) {
            let mut refs: Vec<SeriesRef> = self
                .postings
                .get(&matcher.name)
                .map(|values| {
                    values
                        .iter()
                        .filter(|(value, _)| matcher.matches(value))
                        .flat_map(|(_, refs)| refs.iter().copied())
                        .collect()
                })
                .unwrap_or_default();
            refs.sort_unstable();
            refs.dedup();
            candidates = Some(match candidates {
                None => refs,
                Some(previous) => intersect(&previous, &refs),
            });
        }
        let refs: Vec<SeriesRef> = match candidates {
            Some(refs) => refs,
            None => {
                let mut all: Vec<SeriesRef> = self.series.keys().copied().collect();
                all.sort_unstable();
                all
            }
        };
        refs.into_iter()
            .filter(|r| {
                self.series.get(r).is_some_and(|e| {
                    matchers
                        .iter()
                        .all(|m| m.matches(e.labels.get(&m.name).unwrap_or("")))
                })
            })
            .collect()
    }

    pub fn labels(&self, series_ref: SeriesRef) -> Option<&Labels> {
        self.series.get(&series_ref).map(|e| &e.labels)
    }

    /// What the newest sample tells about whether a series has a sample in `[mint, maxt]`, so
    /// that most series are decided without reading the samples.
    pub fn presence(&self, series_ref: SeriesRef, mint: i64, maxt: i64) -> Presence {
        match self.last(series_ref) {
            _ if mint > maxt => Presence::No,
            None => Presence::No,
            Some(last) if last.t < mint => Presence::No,
            Some(last) if last.t <= maxt => Presence::Yes,
            // Only newer samples are known: an older one may still fall in the range.
            Some(_) => Presence::Maybe,
        }
    }

    /// Label name -> value -> series refs (ascending), for lookups of names and values.
    pub fn postings(&self) -> &BTreeMap<String, BTreeMap<String, Vec<SeriesRef>>> {
        &self.postings
    }
}

/// Whether a series has a sample in a time range, as far as the index can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Yes,
    No,
    /// The samples must be read to know.
    Maybe,
}

fn intersect(a: &[SeriesRef], b: &[SeriesRef]) -> Vec<SeriesRef> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
