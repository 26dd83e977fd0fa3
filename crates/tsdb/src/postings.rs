//! The inverted index: for each label pair, the set of series refs carrying it (a roaring
//! bitmap), and how matchers are resolved against it.
//!
//! Matchers are resolved against the sorted value list of their label, never by reading series:
//! `=` is one lookup, a regex that is an alternation of literals is a set of lookups, a regex
//! with a literal prefix only visits the values with that prefix, and matchers that accept the
//! empty value (`!=`, `!~`, `=~".*"`) subtract the values they reject from the candidates.

use std::collections::BTreeMap;

use narthex_model::{MatchOp, Matcher};
use roaring::RoaringBitmap;

/// Label name -> label value -> refs of the series with that pair.
#[derive(Default)]
pub struct Postings {
    by_name: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl Postings {
    pub fn add(&mut self, series_ref: u32, labels: &narthex_model::Labels) {
        for label in labels.iter() {
            self.add_pair(&label.name, &label.value, series_ref);
        }
        self.all.insert(series_ref);
    }

    pub fn add_pair(&mut self, name: &str, value: &str, series_ref: u32) {
        // Looking up before inserting avoids allocating the strings for every existing pair.
        match self.by_name.get_mut(name) {
            Some(values) => match values.get_mut(value) {
                Some(refs) => {
                    refs.insert(series_ref);
                }
                None => {
                    values.insert(value.to_string(), RoaringBitmap::from_iter([series_ref]));
                }
            },
            None => {
                let mut values = BTreeMap::new();
                values.insert(value.to_string(), RoaringBitmap::from_iter([series_ref]));
                self.by_name.insert(name.to_string(), values);
            }
        }
        self.all.insert(series_ref);
    }

    /// Replaces the refs of one pair (loading from disk).
    pub fn set_pair(&mut self, name: &str, value: &str, refs: RoaringBitmap) {
        if refs.is_empty() {
            return;
        }
        self.all |= &refs;
        self.by_name
            .entry(name.to_string())
            .or_default()
            .insert(value.to_string(), refs);
    }

    pub fn remove(&mut self, series_ref: u32, labels: &narthex_model::Labels) {
        for label in labels.iter() {
            if let Some(values) = self.by_name.get_mut(label.name.as_str()) {
                if let Some(refs) = values.get_mut(label.value.as_str()) {
                    refs.remove(series_ref);
                    if refs.is_empty() {
                        values.remove(label.value.as_str());
                    }
                }
                if values.is_empty() {
                    self.by_name.remove(label.name.as_str());
                }
            }
        }
        self.all.remove(series_ref);
    }

    pub fn names(&self) -> impl Iterator<Item = (&String, &BTreeMap<String, RoaringBitmap>)> {
        self.by_name.iter()
    }

    pub fn values(&self, name: &str) -> Option<&BTreeMap<String, RoaringBitmap>> {
        self.by_name.get(name)
    }

    /// Number of distinct label pairs.
    pub fn pair_count(&self) -> usize {
        self.by_name.values().map(BTreeMap::len).sum()
    }

    /// The refs of the series matching every matcher (all series when there are none).
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let (narrowing, widening): (Vec<&Matcher>, Vec<&Matcher>) =
            matchers.iter().partition(|m| !m.matches_empty());
        let mut result: Option<RoaringBitmap> = None;
        for matcher in narrowing {
            let refs = self.matching_values_union(matcher);
            result = Some(match result {
                None => refs,
                Some(mut acc) => {
                    acc &= refs;
                    acc
                }
            });
            if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return RoaringBitmap::new();
            }
        }
        let mut result = result.unwrap_or_else(|| self.all.clone());
        for matcher in widening {
            // A matcher that accepts "" keeps the series without the label, and those whose
            // value it accepts: remove the series whose value it rejects.
            if let Some(values) = self.by_name.get(&matcher.name) {
                for (value, refs) in values {
                    if !matcher.matches(value) {
                        result -= refs;
                    }
                }
            }
        }
        result
    }

    /// Union of the refs of every value of `matcher.name` that `matcher` accepts.
    fn matching_values_union(&self, matcher: &Matcher) -> RoaringBitmap {
        let Some(values) = self.by_name.get(&matcher.name) else {
            return RoaringBitmap::new();
        };
        match matcher.op {
            MatchOp::Equal => values.get(&matcher.value).cloned().unwrap_or_default(),
            MatchOp::RegexMatch => match literal_alternatives(&matcher.value) {
                Some(literals) => {
                    let mut out = RoaringBitmap::new();
                    for literal in literals {
                        if let Some(refs) = values.get(literal.as_str()) {
                            out |= refs;
                        }
                    }
                    out
                }
                None => {
                    let prefix = literal_prefix(&matcher.value);
                    let mut out = RoaringBitmap::new();
                    for (value, refs) in values.range(prefix.clone()..) {
                        if !value.starts_with(&prefix) {
                            break;
                        }
                        if matcher.matches(value) {
                            out |= refs;
                        }
                    }
                    out
                }
            },
            MatchOp::NotEqual | MatchOp::RegexNoMatch => {
                let mut out = RoaringBitmap::new();
                for (value, refs) in values {
                    if matcher.matches(value) {
                        out |= refs;
                    }
                }
                out
            }
        }
    }
}

const REGEX_META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

/// `a|b|c` where every branch is a plain literal: the literals. Prometheus's most common regex
/// (Grafana's multi-value variables) becomes a handful of lookups.
fn literal_alternatives(pattern: &str) -> Option<Vec<String>> {
    let branches: Vec<&str> = pattern.split('|').collect();
    if branches
        .iter()
        .all(|b| !b.contains(|c| REGEX_META.contains(&c)))
    {
        Some(branches.into_iter().map(str::to_string).collect())
    } else {
        None
    }
}

/// The literal text every match must start with (`foo` of `foo.*bar`); empty when the regex
/// starts with anything else or has a top-level alternation.
fn literal_prefix(pattern: &str) -> String {
    if pattern.contains('|') {
        return String::new();
    }
    let end = pattern
        .find(|c| REGEX_META.contains(&c))
        .unwrap_or(pattern.len());
    let prefix = &pattern[..end];
    // A quantifier applies to the character before it: `ab?` guarantees only `a`.
    match pattern[end..].chars().next() {
        Some('?' | '*' | '{') => {
            let mut chars = prefix.chars();
            chars.next_back();
            chars.as_str().to_string()
        }
        _ => prefix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::Labels;

    fn index(series: &[&[(&str, &str)]]) -> Postings {
        let mut p = Postings::default();
        for (i, pairs) in series.iter().enumerate() {
            p.add(i as u32 + 1, &Labels::from_pairs(pairs.iter().copied()));
        }
        p
    }

    fn refs(p: &Postings, matchers: &[Matcher]) -> Vec<u32> {
        p.select(matchers).iter().collect()
    }

    fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
        Matcher::new(op, name, value).unwrap()
    }

    #[test]
    fn all_four_matcher_types_agree_with_matching_each_series() {
        let series: &[&[(&str, &str)]] = &[
            &[("__name__", "up"), ("job", "api"), ("zone", "eu")],
            &[("__name__", "up"), ("job", "web")],
            &[("__name__", "up"), ("job", "apiary"), ("zone", "us")],
            &[("__name__", "down"), ("job", "api"), ("zone", "")],
            &[("__name__", "up"), ("job", "a|b")],
        ];
        let p = index(series);
        let cases = [
            vec![m(MatchOp::Equal, "job", "api")],
            vec![m(MatchOp::Equal, "zone", "")],
            vec![m(MatchOp::NotEqual, "zone", "eu")],
            vec![m(MatchOp::RegexMatch, "job", "api|web")],
            vec![m(MatchOp::RegexMatch, "job", "api.*")],
            vec![m(MatchOp::RegexMatch, "job", "apx?.*")],
            vec![m(MatchOp::RegexMatch, "job", ".*")],
            vec![m(MatchOp::RegexMatch, "job", "a\\|b")],
            vec![m(MatchOp::RegexMatch, "zone", "eu|")],
            vec![m(MatchOp::RegexNoMatch, "job", "api.*")],
            vec![m(MatchOp::RegexNoMatch, "zone", ".+")],
            vec![
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::RegexNoMatch, "zone", "us"),
            ],
            vec![m(MatchOp::Equal, "nope", "x")],
            vec![],
        ];
        for matchers in cases {
            let want: Vec<u32> = series
                .iter()
                .enumerate()
                .filter(|(_, pairs)| {
                    let labels = Labels::from_pairs(pairs.iter().copied());
                    matchers
                        .iter()
                        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
                })
                .map(|(i, _)| i as u32 + 1)
                .collect();
            assert_eq!(refs(&p, &matchers), want, "{matchers:?}");
        }
    }

    #[test]
    fn regex_shortcuts_find_literals_and_prefixes() {
        assert_eq!(
            literal_alternatives("a|bc|"),
            Some(vec!["a".into(), "bc".into(), "".into()])
        );
        assert_eq!(literal_alternatives("a.*"), None);
        assert_eq!(literal_prefix("node_.*"), "node_");
        assert_eq!(literal_prefix("abc?d"), "ab");
        assert_eq!(literal_prefix("a|b"), "");
        assert_eq!(literal_prefix("(a)"), "");
    }

    #[test]
    fn removing_a_series_drops_empty_values_and_names() {
        let mut p = index(&[&[("__name__", "a"), ("x", "1")], &[("__name__", "a")]]);
        p.remove(1, &Labels::from_pairs([("__name__", "a"), ("x", "1")]));
        assert!(p.values("x").is_none());
        assert_eq!(refs(&p, &[]), vec![2]);
    }
}
