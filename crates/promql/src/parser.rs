//! The PromQL parser: text to `ast::Expr`, with errors that carry a line:column position in the
//! form Prometheus prints them (`1:4: parse error: ...`).

use narthex_model::{MatchOp, Matcher, METRIC_NAME};

use crate::ast::{Expr, VectorSelector};

/// A parse error at a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: parse error: {message}")]
pub struct ParseError {
    /// byte offset of the offending token
    pub offset: usize,
    pub line: usize,
    /// 1-based column in characters
    pub column: usize,
    pub message: String,
}

/// Parses a PromQL expression.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser { input, pos: 0 };
    parser.skip_space();
    if parser.at_end() {
        return Err(parser.error_at(0, "no expression found in input"));
    }
    let expr = parser.expr()?;
    parser.skip_space();
    if !parser.at_end() {
        let start = parser.pos;
        let token = parser.describe_token();
        return Err(parser.error_at(start, &format!("unexpected {token}")));
    }
    Ok(expr)
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error_at(&self, offset: usize, message: &str) -> ParseError {
        let before = &self.input[..offset.min(self.input.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = before[line_start..].chars().count() + 1;
        ParseError {
            offset,
            line,
            column,
            message: message.to_string(),
        }
    }

    /// Whitespace and `#` comments.
    fn skip_space(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with('#') {
                let line_end = trimmed.find('\n').unwrap_or(trimmed.len());
                self.pos += line_end;
            } else {
                return;
            }
        }
    }

    fn describe_token(&self) -> String {
        let rest = self.rest();
        match rest.chars().next() {
            None => "end of input".into(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let ident = take_identifier(rest, true);
                format!("identifier {ident:?}")
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                    .unwrap_or(rest.len());
                format!("number {:?}", &rest[..end])
            }
            Some('"' | '\'' | '`') => "string".into(),
            Some(c) => format!("character {c:?}"),
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let name = take_identifier(self.rest(), true).to_string();
                self.pos += name.len();
                self.skip_space();
                let mut matchers = vec![Matcher::equal(METRIC_NAME, name.clone())];
                if self.peek() == Some('{') {
                    matchers.extend(self.label_matchers()?);
                }
                Ok(Expr::VectorSelector(VectorSelector {
                    name: Some(name),
                    matchers,
                }))
            }
            Some('{') => {
                let matchers = self.label_matchers()?;
                if matchers.iter().all(|m| m.matches_empty()) {
                    return Err(self.error_at(
                        start,
                        "vector selector must contain at least one non-empty matcher",
                    ));
                }
                Ok(Expr::VectorSelector(VectorSelector {
                    name: None,
                    matchers,
                }))
            }
            _ => {
                let token = self.describe_token();
                Err(self.error_at(start, &format!("unexpected {token}")))
            }
        }
    }

    /// `{name op "value", ...}` including the braces.
    fn label_matchers(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.pos += 1; // '{'
        let mut matchers = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => {
                    return Err(self.error_at(self.pos, "unexpected end of input inside braces"))
                }
                Some('}') => {
                    self.pos += 1;
                    return Ok(matchers);
                }
                Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
                Some('"' | '\'' | '`') => {
                    // Prometheus 3 allows a quoted metric name alone: {"metric.name"}.
                    let name = self.string()?;
                    matchers.push(Matcher::equal(METRIC_NAME, name));
                    self.after_matcher()?;
                    continue;
                }
                Some(_) => {
                    let token = self.describe_token();
                    return Err(self.error_at(
                        self.pos,
                        &format!("unexpected {token} in label matching, expected label"),
                    ));
                }
            }
            let name_start = self.pos;
            let name = take_identifier(self.rest(), false).to_string();
            self.pos += name.len();
            self.skip_space();
            let op = if self.rest().starts_with("=~") {
                MatchOp::RegexMatch
            } else if self.rest().starts_with("!~") {
                MatchOp::RegexNoMatch
            } else if self.rest().starts_with("!=") {
                MatchOp::NotEqual
            } else if self.rest().starts_with('=') {
                MatchOp::Equal
            } else if self.at_end() {
                return Err(self.error_at(self.pos, "unexpected end of input inside braces"));
            } else {
                let token = self.describe_token();
                return Err(self.error_at(
                    self.pos,
                    &format!("unexpected {token} in label matching, expected label matching operator"),
                ));
            };
            self.pos += op.as_str().len();
            self.skip_space();
            let value = match self.peek() {
                Some('"' | '\'' | '`') => self.string()?,
                None => {
                    return Err(self.error_at(self.pos, "unexpected end of input inside braces"))
                }
                Some(_) => {
                    let token = self.describe_token();
                    return Err(self.error_at(
                        self.pos,
                        &format!("unexpected {token} in label matching, expected string"),
                    ));
                }
            };
            let matcher = Matcher::new(op, name, value)
                .map_err(|e| self.error_at(name_start, &e.to_string()))?;
            matchers.push(matcher);
            self.after_matcher()?;
        }
    }

    /// After a matcher: `,` (a trailing comma is allowed) or the closing brace.
    fn after_matcher(&mut self) -> Result<(), ParseError> {
        self.skip_space();
        match self.peek() {
            Some(',') => {
                self.pos += 1;
                Ok(())
            }
            Some('}') => Ok(()),
            None => Err(self.error_at(self.pos, "unexpected end of input inside braces")),
            Some(_) => {
                let token = self.describe_token();
                Err(self.error_at(
                    self.pos,
                    &format!("unexpected {token} in label matching, expected \",\" or \"}}\""),
                ))
            }
        }
    }

    /// A quoted string: `"..."` and `'...'` with Go escapes, `` `...` `` raw.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let quote = self.peek().unwrap_or('"');
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c == '\\' && quote != '`' {
                let Some((_, escaped)) = chars.next() else { break };
                match escaped {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' | '\'' => out.push(escaped),
                    other => {
                        return Err(self.error_at(
                            start,
                            &format!("unknown escape sequence {:?}", format!("\\{other}")),
                        ))
                    }
                }
                continue;
            }
            if c == '\n' && quote != '`' {
                break;
            }
            out.push(c);
        }
        Err(self.error_at(start, "unterminated quoted string"))
    }
}

fn take_identifier(s: &str, allow_colon: bool) -> &str {
    let end = s
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || (allow_colon && c == ':') || (i > 0 && c.is_ascii_digit()))
        })
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(input: &str) -> VectorSelector {
        match parse(input) {
            Ok(Expr::VectorSelector(s)) => s,
            Err(e) => panic!("{input}: {e}"),
        }
    }

    #[test]
    fn selectors_with_every_matcher_type() {
        let s = selector(r#"http_requests_total{job="api", code!="500", path=~"/a.*", method!~'GET|PUT',}"#);
        assert_eq!(s.name.as_deref(), Some("http_requests_total"));
        let ops: Vec<_> = s.matchers.iter().map(|m| (m.name.as_str(), m.op)).collect();
        assert_eq!(
            ops,
            [
                ("__name__", MatchOp::Equal),
                ("job", MatchOp::Equal),
                ("code", MatchOp::NotEqual),
                ("path", MatchOp::RegexMatch),
                ("method", MatchOp::RegexNoMatch),
            ]
        );
        let s = selector("  up # comment\n");
        assert_eq!(s.matchers.len(), 1);
        let s = selector("{__name__=~\"up|down\", job=\"a\"}");
        assert_eq!(s.name, None);
        let s = selector("level:metric:rate5m");
        assert_eq!(s.name.as_deref(), Some("level:metric:rate5m"));
    }

    #[test]
    fn string_escapes() {
        let s = selector(r#"x{a="q\"\\\n", b=`raw\n`}"#);
        assert_eq!(s.matchers[1].value, "q\"\\\n");
        assert_eq!(s.matchers[2].value, "raw\\n");
    }

    #[test]
    fn errors_carry_positions_like_prometheus() {
        let cases = [
            ("up{", "1:4: parse error: unexpected end of input inside braces"),
            ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
            (r#"{job=""}"#, "1:1: parse error: vector selector must contain at least one non-empty matcher"),
            ("", "1:1: parse error: no expression found in input"),
            ("up foo", "1:4: parse error: unexpected identifier \"foo\""),
            ("up{job=1}", "1:8: parse error: unexpected number \"1\" in label matching, expected string"),
            ("up{job}", "1:7: parse error: unexpected character '}' in label matching, expected label matching operator"),
            ("up{job=\"a", "1:8: parse error: unterminated quoted string"),
            ("\n  up{", "2:6: parse error: unexpected end of input inside braces"),
        ];
        for (input, want) in cases {
            let err = parse(input).expect_err(input);
            assert_eq!(err.to_string(), want, "input {input:?}");
        }
        let err = parse("up{job=~\"(\"}").unwrap_err();
        assert!(err.message.contains("invalid regular expression"), "{err}");
    }

    #[test]
    fn prints_canonical_form() {
        let expr = parse(r#"up{job = 'a',instance=~"x.*"}"#).unwrap();
        assert_eq!(expr.to_string(), r#"up{job="a", instance=~"x.*"}"#);
        assert_eq!(parse("up").unwrap().to_string(), "up");
        assert_eq!(
            parse(r#"{__name__="up"}"#).unwrap().to_string(),
            r#"{__name__="up"}"#
        );
    }
}
