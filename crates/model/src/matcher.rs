//! Label matchers (`=`, `!=`, `=~`, `!~`), as used in PromQL selectors and `match[]`.
//!
//! Regexes are anchored at both ends, as in Prometheus: `job=~"prom.*"` must match the whole value,
//! and read as RE2 reads them ([`crate::re2`]): `\d` and `\w` are ASCII, `\141` is octal.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex};

use regex::Regex;

use crate::re2::{self, Re2Error};

/// How many compiled patterns [`anchored_regex`] and [`matcher_regex`] keep, each.
const REGEX_CACHE_SIZE: usize = 128;

/// Longer patterns are compiled each time: a compiled regex can take megabytes, and the cache
/// is for the short patterns dashboards repeat.
const REGEX_CACHE_MAX_PATTERN: usize = 1024;

/// `pattern` anchored at both ends with `.` matching newlines, as Prometheus compiles the
/// regexes of `label_replace` (`regexp.Compile("^(?s:" + pattern + ")$")`). Compiled patterns
/// are kept: dashboards send the same ones with every refresh, and compiling one (the regex
/// crate builds its automata up front) can cost more than a small query's whole evaluation.
pub fn anchored_regex(pattern: &str) -> Result<Regex, Re2Error> {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    cached(&CACHE, pattern, |pattern| {
        re2::compile(&format!("^(?s:{pattern})$"))
    })
}

/// As [`anchored_regex`], for a matcher's pattern, which Prometheus parses by itself before
/// anchoring it: a pattern such as `a)|(b` is refused here, while `label_replace` takes it.
/// (`FastRegexMatcher` parses the pattern, then anchors what the parse prints.)
pub fn matcher_regex(pattern: &str) -> Result<Regex, Re2Error> {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    cached(&CACHE, pattern, |pattern| {
        re2::check(pattern)?;
        // Parsed by itself, a `\Q` without `\E` quotes to the end of the pattern, not of
        // the anchored text.
        let quoted = re2::expand_quotes(pattern);
        re2::compile(&format!("^(?s:{quoted})$"))
    })
}

fn cached(
    cache: &Mutex<HashMap<String, Regex>>,
    pattern: &str,
    compile: impl FnOnce(&str) -> Result<Regex, Re2Error>,
) -> Result<Regex, Re2Error> {
    if let Some(regex) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(regex.clone());
    }
    let regex = compile(pattern)?;
    if pattern.len() > REGEX_CACHE_MAX_PATTERN {
        return Ok(regex);
    }
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= REGEX_CACHE_SIZE {
        // Simpler than an LRU, and a workload of more distinct patterns than this gains
        // little from any cache.
        cache.clear();
    }
    cache.insert(pattern.to_string(), regex.clone());
    Ok(regex)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid regular expression {pattern:?} for label {label:?}: {reason}")]
    InvalidRegex {
        label: String,
        pattern: String,
        reason: String,
    },
}

/// One matcher on one label. A missing label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(matcher_regex(&value).map_err(
                |e| MatcherError::InvalidRegex {
                    label: name.clone(),
                    pattern: value.clone(),
                    reason: e.to_string(),
                },
            )?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Convenience for an equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (empty when the label is absent) satisfies this matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            // Regex ops always carry a compiled regex (see `new`).
            (_, None) => false,
        }
    }

    /// Whether this matcher accepts series that lack the label entirely.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_regexes_stay_anchored_and_errors_are_not_cached() {
        // More patterns than the cache holds, each asked twice: every answer is its own.
        for round in 0..2 {
            for i in 0..REGEX_CACHE_SIZE + 10 {
                let regex = anchored_regex(&format!("a{i}|b.c")).unwrap();
                assert!(
                    regex.is_match(&format!("a{i}")),
                    "round {round}, pattern {i}"
                );
                assert!(regex.is_match("b\nc"));
                assert!(!regex.is_match(&format!("xa{i}")));
            }
        }
        assert!(anchored_regex("(").is_err());
        assert!(anchored_regex("(").is_err());
        let long = "x".repeat(REGEX_CACHE_MAX_PATTERN + 1);
        assert!(anchored_regex(&long).unwrap().is_match(&long));
    }

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new(MatchOp::RegexMatch, "job", "prom").unwrap();
        assert!(m.matches("prom"));
        assert!(!m.matches("prometheus"));
        let m = Matcher::new(MatchOp::RegexMatch, "job", "prom.*|node").unwrap();
        assert!(m.matches("prometheus"));
        assert!(m.matches("node"));
        assert!(!m.matches("xnode"));
    }

    #[test]
    fn negative_matchers_and_empty() {
        let m = Matcher::new(MatchOp::NotEqual, "job", "a").unwrap();
        assert!(m.matches(""));
        assert!(!m.matches("a"));
        let m = Matcher::new(MatchOp::RegexNoMatch, "job", "a|b").unwrap();
        assert!(m.matches("c"));
        assert!(!m.matches("b"));
        assert!(Matcher::new(MatchOp::RegexMatch, "x", ".*")
            .unwrap()
            .matches_empty());
    }

    #[test]
    fn bad_regex_names_label_and_pattern() {
        let err = Matcher::new(MatchOp::RegexMatch, "job", "(").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"job\"") && text.contains("\"(\""), "{text}");
    }

    #[test]
    fn matcher_patterns_parse_alone_as_in_prometheus() {
        // Prometheus parses a matcher's pattern before anchoring it, and label_replace's
        // only anchored: `a)|(b` is refused by one and taken by the other, in both.
        let err = Matcher::new(MatchOp::RegexMatch, "job", "a)|(b").unwrap_err();
        assert!(err.to_string().contains("unexpected ): `a)|(b`"), "{err}");
        assert!(anchored_regex("a)|(b").is_ok());
        // A `\Q` without `\E` quotes to the end of the matcher's own pattern.
        let quoted = Matcher::new(MatchOp::RegexMatch, "job", r"x\Q(y").unwrap();
        assert!(quoted.matches("x(y"));
        assert!(!quoted.matches("x(y)"));
        // RE2's ASCII classes.
        let digits = Matcher::new(MatchOp::RegexMatch, "n", r"\d+").unwrap();
        assert!(digits.matches("42") && !digits.matches("\u{0663}"));
    }
}
