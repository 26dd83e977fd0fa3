//! Parsed queries kept by their text. Dashboards send the same query texts again and again
//! (each panel at each refresh), and parsing and checking a query is a good part of a small
//! query's answer; VictoriaMetrics keeps such a cache for the same reason. A parse depends
//! only on the text and the server's parse options, which never change while it runs, so a
//! kept tree is the tree a new parse would give. Failed parses are not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use narthex_promql::{Expr, ParseError, ParseOptions};

/// The most queries kept. When full, the cache starts again from empty: a bound on memory
/// without bookkeeping on each hit.
const CAPACITY: usize = 1024;

/// Longer texts are parsed each time, so that the bound above also bounds the bytes kept
/// (a tree is a small multiple of its text).
const LONGEST_KEPT: usize = 4096;

pub struct ParsedQueries {
    options: ParseOptions,
    kept: Mutex<HashMap<Arc<str>, Arc<Expr>>>,
}

impl ParsedQueries {
    pub fn new(options: ParseOptions) -> ParsedQueries {
        ParsedQueries {
            options,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The text, shared, and its tree: the kept one, or a new parse.
    pub fn parse(&self, text: &str) -> Result<(Arc<str>, Arc<Expr>), ParseError> {
        if let Some((text, expr)) = self.lock().get_key_value(text) {
            return Ok((text.clone(), expr.clone()));
        }
        let expr = Arc::new(narthex_promql::parse_with(text, &self.options)?);
        let text: Arc<str> = Arc::from(text);
        if text.len() <= LONGEST_KEPT {
            let mut kept = self.lock();
            if kept.len() >= CAPACITY {
                kept.clear();
            }
            kept.insert(text.clone(), expr.clone());
        }
        Ok((text, expr))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Expr>>> {
        // A map left half-updated by a panic is still a map of correct parses.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
        assert!(parsed.lock().is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let parsed = ParsedQueries::new(ParseOptions::default());
        for i in 0..CAPACITY + 10 {
            parsed.parse(&format!("x{i}")).expect("parses");
        }
        assert!(parsed.lock().len() <= CAPACITY);
        assert_eq!(
            parsed.lock().len(),
            10,
            "started again from empty once full"
        );
        let long = format!("x{}", "1".repeat(LONGEST_KEPT));
        let (_, expr) = parsed.parse(&long).expect("parses");
        assert_eq!(expr.to_string(), long);
        assert!(
            !parsed.lock().contains_key(long.as_str()),
            "too long to keep"
        );
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
