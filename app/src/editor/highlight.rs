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

/// Where the parser gave up: the byte range to underline and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorMark {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// The parse error of `input`, if any, with the token it points at as the marked range (one
/// character when the token is unknown, an empty range at the end for "unexpected end").
/// Every feature flag is on: only what no server setting would accept is marked; the server
/// reports the rest when the query runs.
pub fn error_mark(input: &str) -> Option<ErrorMark> {
    if input.trim().is_empty() {
        return None;
    }
    let error = narthex_promql::parse_with(input, &narthex_promql::ParseOptions::all()).err()?;
    let start = error.offset.min(input.len());
    let end = lex(input)
        .tokens
        .iter()
        .find(|token| token.start == start && token.end > start)
        .map(|token| token.end)
        .or_else(|| input[start..].chars().next().map(|c| start + c.len_utf8()))
        .unwrap_or(start);
    Some(ErrorMark {
        start,
        end,
        message: error.to_string(),
    })
}

/// The highlighted text as HTML: one `<span>` per classified segment, the error range in a
/// `<mark>`, and an empty `caret-anchor` span at `caret` whose position the completion list
/// is placed at. A trailing newline gets a space after it, as a textarea shows an empty last
/// line.
pub fn render_html(input: &str, error: Option<&ErrorMark>, caret: Option<usize>) -> String {
    let segments = highlight(input);
    let mut cuts: Vec<usize> = segments.iter().flat_map(|s| [s.start, s.end]).collect();
    if let Some(error) = error {
        cuts.extend([error.start, error.end]);
    }
    cuts.extend(caret);
    cuts.push(0);
    cuts.push(input.len());
    cuts.retain(|&cut| cut <= input.len() && input.is_char_boundary(cut));
    cuts.sort_unstable();
    cuts.dedup();
    let class_at = |position: usize| {
        segments
            .iter()
            .find(|s| s.start <= position && position < s.end)
            .map_or("", |s| s.class)
    };
    let mut html = String::with_capacity(input.len() * 3);
    for window in cuts.windows(2) {
        let (start, end) = (window[0], window[1]);
        if caret == Some(start) {
            html.push_str(r#"<span class="caret-anchor"></span>"#);
        }
        let marked = error.is_some_and(|e| e.start <= start && end <= e.end && e.start < e.end);
        if marked {
            html.push_str(r#"<mark class="error-marker">"#);
        }
        let class = class_at(start);
        if !class.is_empty() {
            html.push_str(&format!(r#"<span class="{class}">"#));
        }
        escape_into(&input[start..end], &mut html);
        if !class.is_empty() {
            html.push_str("</span>");
        }
        if marked {
            html.push_str("</mark>");
        }
    }
    if caret == Some(input.len()) && !input.is_empty() {
        html.push_str(r#"<span class="caret-anchor"></span>"#);
    }
    if let Some(error) = error.filter(|e| e.start == e.end) {
        let _ = error;
        html.push_str(r#"<mark class="error-marker at-end"> </mark>"#);
    }
    if input.is_empty() && caret.is_some() {
        html.push_str(r#"<span class="caret-anchor"></span>"#);
    }
    if input.ends_with('\n') {
        html.push(' ');
    }
    html
}

fn escape_into(text: &str, out: &mut String) {
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_mark_the_token_the_parser_stopped_at() {
        let mark = error_mark("sum(rate(x[5m]) by (job)").expect("an error");
        assert_eq!(
            mark.message,
            "1:17: parse error: unexpected <by> in aggregation"
        );
        assert_eq!((mark.start, mark.end), (16, 18));
        let unclosed = error_mark("sum(").expect("an error");
        assert_eq!((unclosed.start, unclosed.end), (4, 4));
        let mark = error_mark("up + + foo}").expect("an error");
        assert_eq!(&"up + + foo}"[mark.start..mark.end], "}");
        assert_eq!(error_mark("rate(x[5m])"), None);
        assert_eq!(error_mark("  "), None);
    }

    #[test]
    fn html_nests_classes_marks_and_the_caret_anchor() {
        let input = "a<b}";
        let error = error_mark(input).expect("an error");
        let html = render_html(input, Some(&error), Some(1));
        assert_eq!(
            html,
            concat!(
                r#"<span class="tok-metric">a</span><span class="caret-anchor"></span>"#,
                r#"<span class="tok-operator">&lt;</span><span class="tok-metric">b</span>"#,
                r#"<mark class="error-marker"><span class="tok-invalid">}</span></mark>"#
            )
        );
        assert_eq!(
            render_html("up\n", None, Some(3)),
            r#"<span class="tok-metric">up</span>"#.to_owned()
                + "\n"
                + r#"<span class="caret-anchor"></span> "#
        );
        assert!(render_html("sum(", error_mark("sum(").as_ref(), None)
            .ends_with(r#"<mark class="error-marker at-end"> </mark>"#));
    }

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
