//! Syntax highlighting of PromQL: the shared lexer's tokens, classified by what they are in
//! context (a metric name, a function, a label name inside braces or a `by (...)` list), with
//! comments and the text after a lexing error marked as such.

use narthex_promql::functions;
use narthex_promql::lexer::{lex, Token, TokenKind};

/// A stretch of the input and the CSS class it is drawn with (`""` for plain text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start: usize,
    pub end: usize,
    pub class: &'static str,
}

/// Classifies every byte of `input`; the segments are in order, adjacent, and cover it all.
pub fn highlight(input: &str) -> Vec<Segment> {
    let lexed = lex(input);
    let mut segments = Vec::new();
    let mut covered = 0;
    let mut brace_depth = 0usize;
    // Parentheses opened right after `by`, `without`, `on`, ... hold label names.
    let mut paren_is_grouping: Vec<bool> = Vec::new();
    let mut previous: Option<TokenKind> = None;
    let tokens = &lexed.tokens;
    for (index, token) in tokens.iter().enumerate() {
        if token.start > covered {
            gap(input, covered, token.start, &mut segments);
        }
        let in_grouping = paren_is_grouping.last().copied().unwrap_or(false);
        let class = match token.kind {
            TokenKind::Eof => {
                covered = covered.max(token.start);
                break;
            }
            TokenKind::Error => {
                segments.push(Segment {
                    start: token.start,
                    end: input.len(),
                    class: "tok-invalid",
                });
                covered = input.len();
                break;
            }
            TokenKind::Identifier => {
                let next = tokens.get(index + 1).map(|t| t.kind);
                let text = &input[token.start..token.end];
                if brace_depth > 0 || in_grouping {
                    "tok-label"
                } else if next == Some(TokenKind::LeftParen) && functions::lookup(text).is_some() {
                    "tok-function"
                } else {
                    "tok-metric"
                }
            }
            TokenKind::MetricIdentifier => "tok-metric",
            TokenKind::Number => "tok-number",
            TokenKind::Duration => "tok-duration",
            TokenKind::String => "tok-string",
            TokenKind::Aggregator(_) => "tok-aggregation",
            TokenKind::Start
            | TokenKind::End
            | TokenKind::Step
            | TokenKind::Range
            | TokenKind::MinOf
            | TokenKind::MaxOf => "tok-function",
            TokenKind::LeftParen => {
                let grouping = matches!(
                    previous,
                    Some(
                        TokenKind::By
                            | TokenKind::Without
                            | TokenKind::On
                            | TokenKind::Ignoring
                            | TokenKind::GroupLeft
                            | TokenKind::GroupRight
                    )
                );
                paren_is_grouping.push(grouping);
                "tok-paren"
            }
            TokenKind::RightParen => {
                paren_is_grouping.pop();
                "tok-paren"
            }
            TokenKind::LeftBrace => {
                brace_depth += 1;
                "tok-brace"
            }
            TokenKind::RightBrace => {
                brace_depth = brace_depth.saturating_sub(1);
                "tok-brace"
            }
            TokenKind::LeftBracket | TokenKind::RightBracket | TokenKind::Colon => "tok-bracket",
            TokenKind::Comma => "tok-punct",
            TokenKind::Eql => "tok-operator",
            kind if kind.is_keyword() => "tok-keyword",
            kind if kind.is_operator() => match kind {
                TokenKind::Land | TokenKind::Lor | TokenKind::Lunless | TokenKind::Atan2 => {
                    "tok-keyword"
                }
                _ => "tok-operator",
            },
            _ => "",
        };
        push(&mut segments, token, class);
        covered = token.end;
        previous = Some(token.kind);
    }
    if covered < input.len() {
        gap(input, covered, input.len(), &mut segments);
    }
    segments
}

fn push(segments: &mut Vec<Segment>, token: &Token, class: &'static str) {
    segments.push(Segment {
        start: token.start,
        end: token.end,
        class,
    });
}

/// Text between tokens: blanks, and comments from `#` to the end of the line.
fn gap(input: &str, start: usize, end: usize, segments: &mut Vec<Segment>) {
    let mut position = start;
    let text = &input[start..end];
    let mut rest = text;
    while let Some(hash) = rest.find('#') {
        let comment_start = position + hash;
        let comment_end = input[comment_start..end]
            .find('\n')
            .map_or(end, |newline| comment_start + newline);
        if comment_start > position {
            segments.push(Segment {
                start: position,
                end: comment_start,
                class: "",
            });
        }
        segments.push(Segment {
            start: comment_start,
            end: comment_end,
            class: "tok-comment",
        });
        position = comment_end;
        rest = &input[position..end];
    }
    if position < end {
        segments.push(Segment {
            start: position,
            end,
            class: "",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(input: &str) -> Vec<(&str, &'static str)> {
        highlight(input)
            .into_iter()
            .filter(|segment| !segment.class.is_empty())
            .map(|segment| (&input[segment.start..segment.end], segment.class))
            .collect()
    }

    #[test]
    fn tokens_are_classified_in_context() {
        assert_eq!(
            classes(r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 1h)) > 0.5"#),
            vec![
                ("sum", "tok-aggregation"),
                ("by", "tok-keyword"),
                ("(", "tok-paren"),
                ("job", "tok-label"),
                (")", "tok-paren"),
                ("(", "tok-paren"),
                ("rate", "tok-function"),
                ("(", "tok-paren"),
                ("http_requests_total", "tok-metric"),
                ("{", "tok-brace"),
                ("code", "tok-label"),
                ("=~", "tok-operator"),
                ("\"5..\"", "tok-string"),
                ("}", "tok-brace"),
                ("[", "tok-bracket"),
                ("5m", "tok-duration"),
                ("]", "tok-bracket"),
                ("offset", "tok-keyword"),
                ("1h", "tok-duration"),
                (")", "tok-paren"),
                (")", "tok-paren"),
                (">", "tok-operator"),
                ("0.5", "tok-number"),
            ]
        );
    }

    #[test]
    fn segments_cover_the_whole_input_with_comments() {
        let input = "up # is it?\n  and on(instance) foo:bar";
        let segments = highlight(input);
        let mut end = 0;
        for segment in &segments {
            assert_eq!(segment.start, end, "{segments:?}");
            end = segment.end;
        }
        assert_eq!(end, input.len());
        assert!(classes(input).contains(&("# is it?", "tok-comment")));
        assert!(classes(input).contains(&("and", "tok-keyword")));
        assert!(classes(input).contains(&("instance", "tok-label")));
        assert!(classes(input).contains(&("foo:bar", "tok-metric")));
    }

    #[test]
    fn an_unfinished_string_is_marked_invalid_to_the_end() {
        assert_eq!(
            classes(r#"up{job="prom"#),
            vec![
                ("up", "tok-metric"),
                ("{", "tok-brace"),
                ("job", "tok-label"),
                ("=", "tok-operator"),
                ("\"prom", "tok-invalid"),
            ]
        );
        assert!(highlight("").is_empty());
    }

    #[test]
    fn a_metric_named_like_a_function_is_a_metric() {
        assert_eq!(classes("rate"), vec![("rate", "tok-metric")]);
    }
}
