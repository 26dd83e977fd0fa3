//! What to complete at the caret: the context (an expression, a label name in a selector or a
//! `by (...)` list, a label value, a duration) found by scanning the text before the caret, and
//! the ranked candidates for it. Pure functions; the editor component fetches the names.

use narthex_promql::functions::FUNCTIONS;

use super::docs::{function_doc, signature, AGGREGATIONS, DURATIONS, KEYWORDS};

/// Where the caret is, as far as completion cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// Where an expression or an operator may start: metric names, functions, aggregations,
    /// keywords.
    Expression,
    /// A label name inside `metric{...}` (or a bare `{...}`) or a grouping list.
    LabelName { metric: Option<String> },
    /// A label value; `quoted` when the caret is inside the quotes already.
    LabelValue {
        metric: Option<String>,
        label: String,
        quoted: bool,
    },
    /// Inside `[...]`.
    Duration,
    /// Nothing to offer (inside a string that is not a label value, a comment, a number).
    Nothing,
}

/// The context at `caret` (a byte offset) and the start of the text the completion replaces.
pub fn context_at(text: &str, caret: usize) -> (Context, usize) {
    let mut caret = caret.min(text.len());
    // A caret read before the text changed under it may fall inside a character.
    while !text.is_char_boundary(caret) {
        caret -= 1;
    }
    let before = &text[..caret];
    let mut scanner = Scanner::default();
    let mut chars = before.char_indices().peekable();
    while let Some((index, character)) = chars.next() {
        if let Some(quote) = scanner.string_quote {
            if character == '\\' && quote != '`' {
                chars.next();
            } else if character == quote {
                scanner.string_quote = None;
                if let Some(selector) = scanner.selector.as_mut() {
                    selector.expecting = Expecting::Comma;
                }
            }
            continue;
        }
        if scanner.in_comment {
            if character == '\n' {
                scanner.in_comment = false;
            }
            continue;
        }
        if is_word_char(character) {
            if scanner.word_start.is_none() {
                scanner.word_start = Some(index);
            }
            continue;
        }
        scanner.end_word(before, index);
        match character {
            '#' => scanner.in_comment = true,
            '"' | '\'' | '`' => {
                scanner.string_quote = Some(character);
                scanner.string_start = index + 1;
            }
            '{' => {
                scanner.selector = Some(Selector {
                    metric: scanner.last_word_if_adjacent.take(),
                    label: None,
                    expecting: Expecting::Name,
                });
            }
            '}' => scanner.selector = None,
            '[' => scanner.in_brackets = true,
            ']' => scanner.in_brackets = false,
            '(' => {
                let grouping = matches!(
                    scanner.last_word.as_deref(),
                    Some("by" | "without" | "on" | "ignoring" | "group_left" | "group_right")
                ) && scanner.last_word_if_adjacent_or_spaced;
                scanner.parens.push(grouping);
            }
            ')' => {
                scanner.parens.pop();
            }
            '=' | '!' | '~' => {
                if let Some(selector) = scanner.selector.as_mut() {
                    selector.expecting = Expecting::Value;
                }
            }
            ',' => {
                if let Some(selector) = scanner.selector.as_mut() {
                    selector.expecting = Expecting::Name;
                    selector.label = None;
                }
            }
            _ => {}
        }
        if !character.is_whitespace() {
            scanner.last_word_if_adjacent = None;
            scanner.last_word_if_adjacent_or_spaced = character == '(';
        }
    }

    if let Some(_quote) = scanner.string_quote {
        return match scanner.selector {
            Some(Selector {
                metric,
                label: Some(label),
                expecting: Expecting::Value,
            }) => (
                Context::LabelValue {
                    metric,
                    label,
                    quoted: true,
                },
                scanner.string_start,
            ),
            _ => (Context::Nothing, caret),
        };
    }
    if scanner.in_comment {
        return (Context::Nothing, caret);
    }
    let word_start = scanner.word_start.unwrap_or(caret);
    let word = &before[word_start..];
    if scanner.in_brackets {
        return (Context::Duration, word_start);
    }
    if let Some(selector) = scanner.selector {
        return match selector.expecting {
            Expecting::Name => (
                Context::LabelName {
                    metric: selector.metric,
                },
                word_start,
            ),
            Expecting::Value => match selector.label {
                Some(label) => (
                    Context::LabelValue {
                        metric: selector.metric,
                        label,
                        quoted: false,
                    },
                    caret,
                ),
                None => (Context::Nothing, caret),
            },
            Expecting::Comma => (Context::Nothing, caret),
        };
    }
    if scanner.parens.last().copied().unwrap_or(false) {
        return (Context::LabelName { metric: None }, word_start);
    }
    if word.starts_with(|c: char| c.is_ascii_digit()) {
        return (Context::Nothing, caret);
    }
    (Context::Expression, word_start)
}

fn is_word_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_' || character == ':' || character == '.'
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expecting {
    Name,
    Value,
    Comma,
}

#[derive(Debug)]
struct Selector {
    metric: Option<String>,
    label: Option<String>,
    expecting: Expecting,
}

#[derive(Default)]
struct Scanner {
    string_quote: Option<char>,
    string_start: usize,
    in_comment: bool,
    in_brackets: bool,
    selector: Option<Selector>,
    parens: Vec<bool>,
    word_start: Option<usize>,
    last_word: Option<String>,
    /// The word just before, with nothing in between: the metric name of a `{`.
    last_word_if_adjacent: Option<String>,
    /// Whether only blanks followed the last word: `by (` opens a grouping list.
    last_word_if_adjacent_or_spaced: bool,
}

impl Scanner {
    fn end_word(&mut self, text: &str, end: usize) {
        if let Some(start) = self.word_start.take() {
            let word = text[start..end].to_owned();
            if let Some(selector) = self.selector.as_mut() {
                if selector.expecting == Expecting::Name {
                    selector.label = Some(word.clone());
                }
            }
            self.last_word_if_adjacent = Some(word.clone());
            self.last_word = Some(word);
            self.last_word_if_adjacent_or_spaced = true;
        }
    }
}

/// What kind of thing a candidate is; also its CSS class and icon letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Metric,
    Function,
    Aggregation,
    Keyword,
    Label,
    Value,
    Duration,
    History,
}

impl Kind {
    pub fn class(self) -> &'static str {
        match self {
            Kind::Metric => "kind-metric",
            Kind::Function => "kind-function",
            Kind::Aggregation => "kind-aggregation",
            Kind::Keyword => "kind-keyword",
            Kind::Label => "kind-label",
            Kind::Value => "kind-value",
            Kind::Duration => "kind-duration",
            Kind::History => "kind-history",
        }
    }

    pub fn letter(self) -> &'static str {
        match self {
            Kind::Metric => "m",
            Kind::Function => "f",
            Kind::Aggregation => "a",
            Kind::Keyword => "k",
            Kind::Label => "l",
            Kind::Value => "v",
            Kind::Duration => "d",
            Kind::History => "h",
        }
    }
}

/// One entry of the completion list.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub label: String,
    pub kind: Kind,
    /// A signature, a type or a HELP text.
    pub detail: String,
    /// What replaces the typed prefix.
    pub insert: String,
}

/// Looks up the "TYPE: HELP" line of a metric name.
pub type HelpLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Names the editor fetched from the server for the current context.
#[derive(Clone, Default)]
pub struct Names<'a> {
    pub metrics: &'a [String],
    /// Metric name to "TYPE: HELP".
    pub metric_help: Option<HelpLookup<'a>>,
    pub labels: &'a [String],
    pub values: &'a [String],
}

/// The most candidates shown at once.
pub const MAX_CANDIDATES: usize = 50;

/// Candidates for `context`, matching `prefix`: names starting with it first (shortest first),
/// then names containing it; case-insensitive. An exact match alone is not offered.
pub fn candidates(context: &Context, prefix: &str, names: &Names<'_>) -> Vec<Candidate> {
    let mut pool: Vec<Candidate> = Vec::new();
    match context {
        Context::Nothing => return Vec::new(),
        Context::Expression => {
            for name in names.metrics {
                pool.push(Candidate {
                    label: name.clone(),
                    kind: Kind::Metric,
                    detail: names
                        .metric_help
                        .and_then(|help| help(name))
                        .unwrap_or_default(),
                    insert: name.clone(),
                });
            }
            for function in FUNCTIONS.iter().filter(|f| !f.experimental) {
                pool.push(Candidate {
                    label: function.name.to_owned(),
                    kind: Kind::Function,
                    detail: format!("{} — {}", signature(function), function_doc(function.name)),
                    insert: format!("{}(", function.name),
                });
            }
            for (op, doc) in AGGREGATIONS {
                pool.push(Candidate {
                    label: op.as_str().to_owned(),
                    kind: Kind::Aggregation,
                    detail: (*doc).to_owned(),
                    insert: format!("{}(", op.as_str()),
                });
            }
            for (keyword, doc) in KEYWORDS {
                pool.push(Candidate {
                    label: (*keyword).to_owned(),
                    kind: Kind::Keyword,
                    detail: (*doc).to_owned(),
                    insert: format!("{keyword} "),
                });
            }
        }
        Context::LabelName { .. } => {
            for name in names.labels {
                pool.push(Candidate {
                    label: name.clone(),
                    kind: Kind::Label,
                    detail: "label".to_owned(),
                    insert: name.clone(),
                });
            }
        }
        Context::LabelValue { quoted, .. } => {
            for value in names.values {
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                pool.push(Candidate {
                    label: value.clone(),
                    kind: Kind::Value,
                    detail: "label value".to_owned(),
                    insert: if *quoted {
                        escaped
                    } else {
                        format!("\"{escaped}\"")
                    },
                });
            }
        }
        Context::Duration => {
            for duration in DURATIONS {
                pool.push(Candidate {
                    label: (*duration).to_owned(),
                    kind: Kind::Duration,
                    detail: "duration".to_owned(),
                    insert: (*duration).to_owned(),
                });
            }
        }
    }
    rank(pool, prefix)
}

fn rank(pool: Vec<Candidate>, prefix: &str) -> Vec<Candidate> {
    let needle = prefix.to_ascii_lowercase();
    let mut scored: Vec<(u8, usize, Candidate)> = pool
        .into_iter()
        .filter(|candidate| candidate.label != prefix || prefix.is_empty())
        .filter_map(|candidate| {
            let haystack = candidate.label.to_ascii_lowercase();
            let score = if haystack.starts_with(&needle) {
                0
            } else if haystack.contains(&needle) {
                1
            } else {
                return None;
            };
            Some((score, candidate.label.len(), candidate))
        })
        .collect();
    scored.sort_by(|a, b| (a.0, a.1, &a.2.label).cmp(&(b.0, b.1, &b.2.label)));
    scored
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|(_, _, candidate)| candidate)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The context where `|` marks the caret, and the text the completion would replace.
    fn at_caret(marked: &str) -> (Context, String) {
        let caret = marked.find('|').unwrap();
        let text = marked.replace('|', "");
        let (context, start) = context_at(&text, caret);
        (context, text[start..caret].to_owned())
    }

    fn metric(name: &str) -> Option<String> {
        Some(name.to_owned())
    }

    #[test]
    fn contexts_follow_the_syntax_before_the_caret() {
        assert_eq!(at_caret("|"), (Context::Expression, "".into()));
        assert_eq!(at_caret("rat|"), (Context::Expression, "rat".into()));
        assert_eq!(
            at_caret("sum(rate(http_req|"),
            (Context::Expression, "http_req".into())
        );
        assert_eq!(
            at_caret("up{|"),
            (
                Context::LabelName {
                    metric: metric("up")
                },
                "".into()
            )
        );
        assert_eq!(
            at_caret(r#"up{job="a", inst|}"#),
            (
                Context::LabelName {
                    metric: metric("up")
                },
                "inst".into()
            )
        );
        assert_eq!(
            at_caret(r#"up{job="pro|"#),
            (
                Context::LabelValue {
                    metric: metric("up"),
                    label: "job".into(),
                    quoted: true
                },
                "pro".into()
            )
        );
        assert_eq!(
            at_caret(r#"{job=~|"#),
            (
                Context::LabelValue {
                    metric: None,
                    label: "job".into(),
                    quoted: false
                },
                "".into()
            )
        );
        assert_eq!(at_caret("rate(x[5|"), (Context::Duration, "5".into()));
        assert_eq!(
            at_caret("sum by (jo|"),
            (Context::LabelName { metric: None }, "jo".into())
        );
        assert_eq!(
            at_caret("a / on(instance) group_left(|"),
            (Context::LabelName { metric: None }, "".into())
        );
        assert_eq!(at_caret("sum(x) |"), (Context::Expression, "".into()));
        assert_eq!(at_caret("up > 1|"), (Context::Nothing, "".into()));
        assert_eq!(
            at_caret(r#"label_replace(up, "a|"#),
            (Context::Nothing, "".into())
        );
        assert_eq!(at_caret("up # comment |"), (Context::Nothing, "".into()));
        assert_eq!(
            at_caret("up # c\n+ ra|"),
            (Context::Expression, "ra".into())
        );
        // A string with an escaped quote does not end early.
        assert_eq!(
            at_caret(r#"up{a="x\"y", b|"#),
            (
                Context::LabelName {
                    metric: metric("up")
                },
                "b".into()
            )
        );
    }

    #[test]
    fn candidates_rank_prefix_matches_first() {
        let metrics = vec![
            "http_requests_total".to_owned(),
            "node_rate_limit".to_owned(),
            "rate_limiter_hits".to_owned(),
        ];
        let names = Names {
            metrics: &metrics,
            ..Names::default()
        };
        let found = candidates(&Context::Expression, "rate", &names);
        let labels: Vec<&str> = found.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels.first(), Some(&"rate_limiter_hits"));
        assert!(
            labels.iter().position(|l| *l == "node_rate_limit")
                > labels.iter().position(|l| *l == "rate_limiter_hits")
        );
        let rate = found.iter().find(|c| c.label == "irate").unwrap();
        assert_eq!(rate.kind, Kind::Function);
        assert_eq!(rate.insert, "irate(");
        assert!(rate
            .detail
            .starts_with("irate(range-vector) instant-vector — "));
        assert!(!labels.contains(&"http_requests_total"));

        let keywords = candidates(&Context::Expression, "grou", &names);
        let group_left = keywords.iter().find(|c| c.label == "group_left").unwrap();
        assert_eq!(group_left.kind, Kind::Keyword);
        assert_eq!(group_left.insert, "group_left ");
        let group = keywords.iter().find(|c| c.label == "group").unwrap();
        assert_eq!(
            (group.kind, group.insert.as_str()),
            (Kind::Aggregation, "group(")
        );
    }

    #[test]
    fn label_values_are_quoted_and_escaped_when_needed() {
        let values = vec!["a\"b".to_owned(), "prometheus".to_owned()];
        let names = Names {
            values: &values,
            ..Names::default()
        };
        let unquoted = Context::LabelValue {
            metric: None,
            label: "job".into(),
            quoted: false,
        };
        let quoted = Context::LabelValue {
            metric: None,
            label: "job".into(),
            quoted: true,
        };
        let inserts = |context| -> Vec<String> {
            candidates(&context, "", &names)
                .into_iter()
                .map(|c| c.insert)
                .collect()
        };
        assert_eq!(inserts(unquoted), [r#""a\"b""#, r#""prometheus""#]);
        assert_eq!(inserts(quoted), [r#"a\"b"#, "prometheus"]);
    }

    #[test]
    fn an_exact_match_alone_is_not_offered() {
        let metrics = vec!["xyzzy".to_owned(), "xyzzy_total".to_owned()];
        let names = Names {
            metrics: &metrics,
            ..Names::default()
        };
        let found = candidates(&Context::Expression, "xyzzy", &names);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "xyzzy_total");
        assert!(candidates(&Context::Nothing, "", &names).is_empty());
    }
}
