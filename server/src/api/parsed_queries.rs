//! Parsed queries kept by their text. Dashboards send the same query texts again and again
//! (each panel at each refresh), and parsing and checking a query is a good part of a small
//! query's answer; VictoriaMetrics keeps such a cache for the same reason. A parse depends
//! only on the text and the server's parse options, which never change while it runs, so a
//! kept tree is the tree a new parse would give. Failed parses are not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use narthex_model::MatchOp;
use narthex_promql::{Expr, ParseError, ParseOptions};

/// The most queries kept. When full, the cache starts again from empty: a bound on memory
/// without bookkeeping on each hit.
const CAPACITY: usize = 1024;

/// Longer texts are parsed each time, so that the bound above also bounds the bytes kept
/// (a tree is a small multiple of its text, but for its regular expressions).
const LONGEST_KEPT: usize = 4096;

/// The most compiled regular expressions (of matchers) the kept trees hold together. A
/// compiled pattern can take megabytes: this is the bound the matchers' own cache of
/// compiled patterns keeps to (128, of patterns up to 1 KiB), not more.
const REGEXES_KEPT: usize = 128;

/// Trees with a longer matcher pattern are not kept (the matchers' cache keeps none either).
const LONGEST_KEPT_PATTERN: usize = 1024;

pub struct ParsedQueries {
    options: ParseOptions,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    trees: HashMap<Arc<str>, Arc<Expr>>,
    /// The regular expressions the trees hold, together.
    regexes: usize,
}

impl ParsedQueries {
    pub fn new(options: ParseOptions) -> ParsedQueries {
        ParsedQueries {
            options,
            kept: Mutex::new(Kept::default()),
        }
    }

    /// The text, shared, and its tree: the kept one, or a new parse.
    pub fn parse(&self, text: &str) -> Result<(Arc<str>, Arc<Expr>), ParseError> {
        if let Some((text, expr)) = self.lock().trees.get_key_value(text) {
            return Ok((text.clone(), expr.clone()));
        }
        let expr = Arc::new(narthex_promql::parse_with(text, &self.options)?);
        let text: Arc<str> = Arc::from(text);
        let keep = (text.len() <= LONGEST_KEPT)
            .then(|| regexes(&expr))
            .flatten()
            .filter(|&regexes| regexes <= REGEXES_KEPT);
        if let Some(regexes) = keep {
            let mut kept = self.lock();
            // Another request may have parsed the same text meanwhile.
            if !kept.trees.contains_key(&*text) {
                if kept.trees.len() >= CAPACITY || kept.regexes + regexes > REGEXES_KEPT {
                    *kept = Kept::default();
                }
                kept.regexes += regexes;
                kept.trees.insert(text.clone(), expr.clone());
            }
        }
        Ok((text, expr))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A map left half-updated by a panic is still a map of correct parses.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many regular expressions the tree's matchers hold; `None` when a pattern is longer
/// than [`LONGEST_KEPT_PATTERN`].
fn regexes(expr: &Expr) -> Option<usize> {
    let (mut count, mut too_long) = (0, false);
    expr.for_each_selector(&mut |selector| {
        for matcher in &selector.matchers {
            if matches!(matcher.op, MatchOp::RegexMatch | MatchOp::RegexNoMatch) {
                count += 1;
                too_long |= matcher.value.len() > LONGEST_KEPT_PATTERN;
            }
        }
    });
    (!too_long).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_parse_is_the_parse_of_its_text() {
        let parsed = ParsedQueries::new(ParseOptions::default());
        let (text, first) = parsed.parse("sum by (job) (rate(x[5m]))").expect("parses");
        let (_, again) = parsed.parse("sum by (job) (rate(x[5m]))").expect("parses");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second parse is the kept tree"
        );
        assert_eq!(&*text, "sum by (job) (rate(x[5m]))");
        let fresh = narthex_promql::parse_with(&text, &ParseOptions::default()).expect("parses");
        assert_eq!(first.to_string(), fresh.to_string());
        let (_, other) = parsed.parse("sum by (job) (rate(x[1m]))").expect("parses");
        assert_ne!(other.to_string(), first.to_string());
    }

    #[test]
    fn failed_parses_are_not_kept_and_keep_failing() {
        let parsed = ParsedQueries::new(ParseOptions::default());
        for _ in 0..2 {
            let error = parsed.parse("sum(").expect_err("incomplete");
            assert_eq!(
                error.to_string(),
                "1:5: parse error: unclosed left parenthesis"
            );
        }
        assert!(parsed.lock().trees.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let parsed = ParsedQueries::new(ParseOptions::default());
        for i in 0..CAPACITY + 10 {
            parsed.parse(&format!("x{i}")).expect("parses");
        }
        assert!(parsed.lock().trees.len() <= CAPACITY);
        assert_eq!(
            parsed.lock().trees.len(),
            10,
            "started again from empty once full"
        );
        let long = format!("x{}", "1".repeat(LONGEST_KEPT));
        let (_, expr) = parsed.parse(&long).expect("parses");
        assert_eq!(expr.to_string(), long);
        assert!(
            !parsed.lock().trees.contains_key(long.as_str()),
            "too long to keep"
        );
    }

    #[test]
    fn the_regular_expressions_kept_stay_within_the_matchers_bound() {
        let parsed = ParsedQueries::new(ParseOptions::default());
        // Two regexes a tree: one tree more than these would make 130.
        for i in 0..REGEXES_KEPT / 2 {
            parsed
                .parse(&format!("x{{a=~\"{i}.*\", b!~\"y\"}} + x{{c=\"d\"}}"))
                .expect("parses");
        }
        assert_eq!(parsed.lock().regexes, REGEXES_KEPT);
        assert_eq!(parsed.lock().trees.len(), REGEXES_KEPT / 2);
        parsed.parse("x{a=~\"last.*\"}").expect("parses");
        assert_eq!(parsed.lock().regexes, 1, "started again from empty");
        assert_eq!(parsed.lock().trees.len(), 1);
        // Trees without regexes do not count; a long pattern is not kept at all.
        parsed.parse("rate(x{a=\"b\"}[5m])").expect("parses");
        assert_eq!(parsed.lock().regexes, 1);
        assert_eq!(parsed.lock().trees.len(), 2);
        let long = format!("x{{a=~\"{}\"}}", "y".repeat(LONGEST_KEPT_PATTERN + 1));
        let (_, expr) = parsed.parse(&long).expect("parses");
        assert_eq!(expr.to_string(), long);
        assert!(!parsed.lock().trees.contains_key(long.as_str()));
        assert_eq!(parsed.lock().regexes, 1);
    }

    #[test]
    fn parse_options_apply_to_kept_parses() {
        let plain = ParsedQueries::new(ParseOptions::default());
        let experimental = ParsedQueries::new(ParseOptions {
            experimental_functions: true,
            ..ParseOptions::default()
        });
        assert!(plain.parse("sort_by_label(x, \"a\")").is_err());
        assert!(experimental.parse("sort_by_label(x, \"a\")").is_ok());
        assert!(
            plain.parse("sort_by_label(x, \"a\")").is_err(),
            "still refused"
        );
    }
}
