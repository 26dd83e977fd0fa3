//! Regular expressions as Prometheus (Go's RE2) reads them, compiled by the `regex` crate: for
//! matchers, `label_replace` and relabeling alike.
//!
//! Where the two read the same text differently the pattern is rewritten to RE2's meaning first:
//! `\d`, `\s`, `\w` and `\b` are ASCII-only in RE2 but Unicode-aware in the `regex` crate, `\<`,
//! `\>`, `\b{start}` are plain characters in RE2 but word-boundary assertions in the `regex`
//! crate, `\141` is octal for `a` in RE2, and `\Q…\E` quotes text (each character a literal of
//! its own), and a `{` that starts no repetition count (`x{`, `a{,5}`) is a literal. Errors are
//! worded as Go's `regexp/syntax` words them.
//!
//! Refused as RE2 refuses them, though the `regex` crate would accept them: a repetition of a
//! repetition (`a**`, `a{2}{3}`), a count above 1000 (`a{1001}`) and `\1` to `\7` alone
//! (back-references; with a second octal digit they are octal escapes, as `\12`).
//!
//! Still different: the `regex` crate accepts nested counts whose product passes 1000
//! (`(a{500}){3}`), `\u{…}` and `\U` escapes, its class operators (`[a&&b]`, `[a-z--c]`, `~~`),
//! nested classes and the `x`, `u` and `R` flags, all of which RE2 refuses or reads as plain
//! characters; and it refuses duplicate group names.

use std::fmt::Write as _;

use regex_syntax::ast::{self, AssertionKind, Ast, ClassPerl, ClassPerlKind, ClassSetItem, Span};

/// A pattern RE2 refuses, as Go's `regexp/syntax` reports it: the error code's text and the
/// piece of the pattern at fault, shown as "missing closing ): `(`".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: `{expr}`")]
pub struct Re2Error {
    /// Go's `ErrorCode` text, such as "missing closing )".
    pub code: String,
    /// The piece of the pattern Go names: the whole pattern for a parenthesis, from the
    /// bracket on for an unclosed class, the escape or operator itself otherwise.
    pub expr: String,
}

/// Compiles `pattern` with RE2's meaning (see the module documentation).
pub fn compile(pattern: &str) -> Result<regex::Regex, Re2Error> {
    let rewritten = translate(pattern)?;
    regex::RegexBuilder::new(&rewritten)
        .octal(true)
        .build()
        .map_err(|e| Re2Error {
            code: match e {
                regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
                other => other.to_string(),
            },
            expr: pattern.to_string(),
        })
}

/// Whether RE2 accepts `pattern`, without building its automata.
pub fn check(pattern: &str) -> Result<(), Re2Error> {
    translate(pattern).map(|_| ())
}

/// `pattern` in the `regex` crate's syntax with RE2's meaning, checked.
fn translate(pattern: &str) -> Result<String, Re2Error> {
    let written = pattern;
    let quoted = expand_quotes(pattern);
    let braced = escape_literal_braces(&quoted);
    let pattern: &str = &braced;
    // RE2 reads `\141` as octal for `a`; the `regex` crate only when asked to.
    let parsed = ast::parse::ParserBuilder::new()
        .octal(true)
        .build()
        .parse(pattern)
        .map_err(|e| syntax_error(written, pattern, e.kind(), e.span()))?;
    let mut edits = ast::visit(
        &parsed,
        Re2Meaning {
            pattern,
            edits: Vec::new(),
        },
    )?;
    edits.sort_by_key(|(span, _)| span.start.offset);
    let mut rewritten = String::with_capacity(pattern.len() + 16 * edits.len());
    let mut at = 0;
    for (span, replacement) in edits {
        rewritten.push_str(&pattern[at..span.start.offset]);
        rewritten.push_str(replacement);
        at = span.end.offset;
    }
    rewritten.push_str(&pattern[at..]);
    // What only the translation finds (a Unicode class that does not exist).
    regex_syntax::ParserBuilder::new()
        .octal(true)
        .build()
        .parse(&rewritten)
        .map_err(|e| match e {
            regex_syntax::Error::Translate(e) => Re2Error {
                code: match e.kind() {
                    regex_syntax::hir::ErrorKind::UnicodePropertyNotFound
                    | regex_syntax::hir::ErrorKind::UnicodePropertyValueNotFound
                    | regex_syntax::hir::ErrorKind::UnicodePerlClassNotFound => {
                        "invalid character class range".to_string()
                    }
                    other => other.to_string(),
                },
                expr: span_text(&rewritten, e.span()).to_string(),
            },
            regex_syntax::Error::Parse(e) => syntax_error(written, &rewritten, e.kind(), e.span()),
            other => Re2Error {
                code: other.to_string(),
                expr: pattern.to_string(),
            },
        })?;
    Ok(rewritten)
}

/// Go's error for what the `regex` crate's parser refused in `pattern`, the translation of
/// `written`: errors about the whole pattern show it as written.
fn syntax_error(written: &str, pattern: &str, kind: &ast::ErrorKind, span: &Span) -> Re2Error {
    use ast::ErrorKind as K;
    // An empty span points at the character at fault (a repetition operator).
    let at = match span_text(pattern, span) {
        "" => pattern
            .get(span.start.offset..)
            .and_then(|rest| rest.chars().next())
            .map_or("", |c| {
                &pattern[span.start.offset..span.start.offset + c.len_utf8()]
            }),
        text => text,
    };
    let from_start = pattern.get(span.start.offset..).unwrap_or(pattern);
    let (code, expr) = match kind {
        K::GroupUnclosed => ("missing closing )", written),
        K::GroupUnopened => ("unexpected )", written),
        K::ClassUnclosed => ("missing closing ]", from_start),
        K::ClassRangeInvalid | K::ClassRangeLiteral | K::UnicodeClassInvalid => {
            ("invalid character class range", at)
        }
        // A lone backslash at the very end; otherwise an escape cut short (`\x`).
        K::EscapeUnexpectedEof if ends_in_lone_backslash(written) => {
            ("trailing backslash at end of expression", "")
        }
        K::EscapeUnexpectedEof => (
            "invalid escape sequence",
            written.rfind('\\').map_or(written, |at| &written[at..]),
        ),
        K::ClassEscapeInvalid
        | K::EscapeUnrecognized
        | K::EscapeHexEmpty
        | K::EscapeHexInvalid
        | K::EscapeHexInvalidDigit
        | K::UnsupportedBackreference
        | K::SpecialWordBoundaryUnclosed
        | K::SpecialWordOrRepetitionUnexpectedEof => ("invalid escape sequence", at),
        // Go names a whole count (`{2}`), the `regex` crate its brace.
        K::RepetitionMissing if at == "{" => (
            "missing argument to repetition operator",
            from_start.find('}').map_or(at, |end| &from_start[..=end]),
        ),
        K::RepetitionMissing => ("missing argument to repetition operator", at),
        K::RepetitionCountInvalid
        | K::RepetitionCountUnclosed
        | K::RepetitionCountDecimalEmpty
        | K::DecimalEmpty
        | K::DecimalInvalid => ("invalid repeat count", at),
        K::NestLimitExceeded(_) => ("expression nests too deeply", written),
        K::CaptureLimitExceeded => ("expression too large", written),
        K::GroupNameDuplicate { .. }
        | K::GroupNameEmpty
        | K::GroupNameInvalid
        | K::GroupNameUnexpectedEof => ("invalid named capture", at),
        K::FlagDanglingNegation
        | K::FlagDuplicate { .. }
        | K::FlagRepeatedNegation { .. }
        | K::FlagUnexpectedEof
        | K::FlagUnrecognized
        | K::UnsupportedLookAround => ("invalid or unsupported Perl syntax", at),
        other => {
            return Re2Error {
                code: other.to_string(),
                expr: at.to_string(),
            }
        }
    };
    Re2Error {
        code: code.to_string(),
        expr: expr.to_string(),
    }
}

/// Whether `pattern` ends in a backslash that escapes nothing (an odd run of them).
fn ends_in_lone_backslash(pattern: &str) -> bool {
    pattern.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn span_text<'a>(pattern: &'a str, span: &Span) -> &'a str {
    pattern
        .get(span.start.offset..span.end.offset)
        .unwrap_or(pattern)
}

/// RE2's `\Q…\E` (outside brackets): the text between, each character literal; without `\E`
/// to the end of the pattern.
pub fn expand_quotes(pattern: &str) -> std::borrow::Cow<'_, str> {
    if !pattern.contains("\\Q") {
        return std::borrow::Cow::Borrowed(pattern);
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'Q')) if !in_class => {
                    let rest = &pattern[at + 2..];
                    let (quoted, after) = match rest.find("\\E") {
                        Some(end) => (&rest[..end], end + 2),
                        None => (rest, rest.len()),
                    };
                    // Each character on its own, as `\x{…}`: pasted as text, it could
                    // combine with what is around it (`a{\Q2\E}` would become a repetition,
                    // `\0\Q1\E` one octal escape), where RE2 keeps every quoted character a
                    // literal of its own.
                    for quoted_char in quoted.chars() {
                        let _ = write!(out, "\\x{{{:x}}}", u32::from(quoted_char));
                    }
                    // Skip what was quoted, and the `\E`.
                    let resume = at + 2 + after;
                    while chars.peek().is_some_and(|(i, _)| *i < resume) {
                        chars.next();
                    }
                }
                Some((_, next)) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` first in a class is a literal, as is `^]`.
                if chars.peek().is_some_and(|(_, n)| *n == '^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek().is_some_and(|(_, n)| *n == ']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `pattern` with each `{` that starts no repetition count escaped: RE2 reads such a `{` as a
/// literal (`x{,3}`, `a{`, and `a{01}`, since RE2 takes no leading zero), where the `regex`
/// crate refuses it or reads a count. Escaped, it is a literal inside brackets too. The braces
/// of `\p{…}`, `\x{…}`, `\u{…}` and `\b{…}` are left to the parser.
fn escape_literal_braces(pattern: &str) -> std::borrow::Cow<'_, str> {
    let bytes = pattern.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => {
                let escaped = bytes.get(at + 1).copied();
                at += 2;
                if matches!(escaped, Some(b'p' | b'P' | b'x' | b'u' | b'b' | b'B'))
                    && bytes.get(at) == Some(&b'{')
                {
                    while at < bytes.len() && bytes[at] != b'}' {
                        at += 1;
                    }
                    at += 1;
                }
            }
            b'{' => {
                if !starts_repeat_count(&bytes[at + 1..]) {
                    out.push_str(&pattern[copied..at]);
                    out.push_str("\\{");
                    copied = at + 1;
                }
                at += 1;
            }
            _ => at += 1,
        }
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(pattern);
    }
    out.push_str(&pattern[copied..]);
    std::borrow::Cow::Owned(out)
}

/// Whether the text after a `{` completes a count as Go's `parseRepeat` reads one: `n}`,
/// `n,}` or `n,m}`.
fn starts_repeat_count(after_brace: &[u8]) -> bool {
    let Some(rest) = go_decimal(after_brace) else {
        return false;
    };
    match rest {
        [b'}', ..] => true,
        [b',', b'}', ..] => true,
        [b',', more @ ..] => go_decimal(more).is_some_and(|rest| rest.first() == Some(&b'}')),
        _ => false,
    }
}

/// The text after a decimal number at the start of `text`, as Go's `parseInt` reads one (no
/// leading zero); `None` when there is none.
fn go_decimal(text: &[u8]) -> Option<&[u8]> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && text[0] == b'0') {
        return None;
    }
    Some(&text[digits..])
}

/// Collects the spans to rewrite, each with its RE2 meaning in the `regex` crate's syntax, and
/// refuses what the `regex` crate accepts but RE2 does not.
struct Re2Meaning<'a> {
    pattern: &'a str,
    edits: Vec<(Span, &'static str)>,
}

/// RE2's largest repetition count.
const MAX_REPEAT: u32 = 1000;

impl Re2Meaning<'_> {
    fn refuse(&self, code: &str, from: usize, to: usize) -> Re2Error {
        Re2Error {
            code: code.to_string(),
            expr: self
                .pattern
                .get(from..to)
                .unwrap_or(self.pattern)
                .to_string(),
        }
    }

    /// RE2 refuses a repetition of a repetition (`a**`, `a{2}{3}`; Go's "Perl" flags, which
    /// Prometheus uses) and counts above 1000.
    fn check_repetition(&self, repetition: &ast::Repetition) -> Result<(), Re2Error> {
        if let Ast::Repetition(inner) = repetition.ast.as_ref() {
            return Err(self.refuse(
                "invalid nested repetition operator",
                inner.op.span.start.offset,
                repetition.op.span.end.offset,
            ));
        }
        if let ast::RepetitionKind::Range(range) = &repetition.op.kind {
            let largest = match *range {
                ast::RepetitionRange::Exactly(n) | ast::RepetitionRange::AtLeast(n) => n,
                ast::RepetitionRange::Bounded(least, most) => least.max(most),
            };
            if largest > MAX_REPEAT {
                return Err(self.refuse(
                    "invalid repeat count",
                    repetition.op.span.start.offset,
                    repetition.op.span.end.offset,
                ));
            }
        }
        Ok(())
    }

    /// RE2 reads `\1` to `\7` as octal only when another octal digit follows; alone, each is a
    /// back-reference, which it refuses.
    fn check_literal(&self, literal: &ast::Literal) -> Result<(), Re2Error> {
        let text = span_text(self.pattern, &literal.span);
        let single_digit = text.len() == 2 && matches!(text.as_bytes()[1], b'1'..=b'7');
        if literal.kind == ast::LiteralKind::Octal && single_digit {
            return Err(self.refuse(
                "invalid escape sequence",
                literal.span.start.offset,
                literal.span.end.offset,
            ));
        }
        Ok(())
    }

    fn perl_class(&mut self, class: &ClassPerl) {
        // Nested classes are valid inside brackets too, so one spelling serves both places.
        let ascii = match (&class.kind, class.negated) {
            (ClassPerlKind::Digit, false) => "[0-9]",
            (ClassPerlKind::Digit, true) => "[^0-9]",
            (ClassPerlKind::Space, false) => r"[\t\n\x0C\r ]",
            (ClassPerlKind::Space, true) => r"[^\t\n\x0C\r ]",
            (ClassPerlKind::Word, false) => "[0-9A-Za-z_]",
            (ClassPerlKind::Word, true) => "[^0-9A-Za-z_]",
        };
        self.edits.push((class.span, ascii));
    }
}

impl ast::Visitor for Re2Meaning<'_> {
    type Output = Vec<(Span, &'static str)>;
    type Err = Re2Error;

    fn finish(self) -> Result<Self::Output, Re2Error> {
        Ok(self.edits)
    }

    fn visit_pre(&mut self, node: &Ast) -> Result<(), Re2Error> {
        match node {
            Ast::Repetition(repetition) => self.check_repetition(repetition)?,
            Ast::Literal(literal) => self.check_literal(literal)?,
            Ast::ClassPerl(class) => self.perl_class(class),
            Ast::Assertion(assertion) => {
                let re2 = match assertion.kind {
                    AssertionKind::WordBoundary => r"(?-u:\b)",
                    AssertionKind::NotWordBoundary => r"(?-u:\B)",
                    // RE2 has no such assertions: an escaped punctuation mark is the mark, and
                    // a `{…}` that is no repetition count is text.
                    AssertionKind::WordBoundaryStartAngle => "<",
                    AssertionKind::WordBoundaryEndAngle => ">",
                    AssertionKind::WordBoundaryStart => r"(?-u:\b)\{start\}",
                    AssertionKind::WordBoundaryEnd => r"(?-u:\b)\{end\}",
                    AssertionKind::WordBoundaryStartHalf => r"(?-u:\b)\{start-half\}",
                    AssertionKind::WordBoundaryEndHalf => r"(?-u:\b)\{end-half\}",
                    AssertionKind::StartLine
                    | AssertionKind::EndLine
                    | AssertionKind::StartText
                    | AssertionKind::EndText => return Ok(()),
                };
                self.edits.push((assertion.span, re2));
            }
            _ => {}
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), Re2Error> {
        match item {
            ClassSetItem::Perl(class) => self.perl_class(class),
            ClassSetItem::Literal(literal) => self.check_literal(literal)?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        compile(&format!("^(?s:{pattern})$"))
            .expect("compiles")
            .is_match(text)
    }

    #[test]
    fn perl_classes_and_boundaries_are_ascii_as_in_re2() {
        assert!(matches(r"\d+", "2024"));
        assert!(
            !matches(r"\d", "\u{0663}"),
            "an Arabic-Indic digit is no \\d in RE2"
        );
        assert!(!matches(r"\w+", "caf\u{e9}"));
        assert!(matches(r"[\w.]+", "node_1.local"));
        assert!(!matches(r"\s", "\u{a0}"));
        assert!(matches(r"\D", "\u{0663}"));
        // `\u{e9}` is no word character to RE2 (ASCII), so a word starts at `x`; the `regex`
        // crate's own `\b` sees one word `\u{e9}x` and no boundary inside it.
        assert!(matches(r"\u{e9}\bx", "\u{e9}x"));
        assert!(
            matches(r"a\b\u{e9}", "a\u{e9}"),
            "a word ends after `a` in RE2's eyes"
        );
    }

    #[test]
    fn re2_escapes_read_as_re2_reads_them() {
        assert!(matches(r"\141", "a"), "octal");
        assert!(matches(r"\12", "\n"), "two octal digits");
        for literal in ["x{,3}", "a{,}", "a{", "a{01}", "{x}", "a{2,x}"] {
            assert!(matches(literal, literal), "{literal} is text in RE2");
        }
        assert!(matches("[{]{2}", "{{"), "a brace in brackets, then a count");
        assert!(matches(r"\p{Greek}\x{61}", "αa"), "braces of escapes");
        assert!(matches("a{2}b{1,}c{0,1}", "aabc"), "counts");
        assert!(matches("(?:a*)*", "aa"), "a repeated group");
        assert!(matches("a{1000}", &"a".repeat(1000)), "the largest count");
        assert!(
            matches(r"\<a\>", "<a>"),
            "escaped angle brackets are the characters"
        );
    }

    #[test]
    fn errors_read_as_go_writes_them() {
        // What Go 1.24's regexp.Compile answers for the same patterns.
        for (pattern, message) in [
            ("(", "missing closing ): `(`"),
            ("a(b", "missing closing ): `a(b`"),
            (")", "unexpected ): `)`"),
            ("x[a-z", "missing closing ]: `[a-z`"),
            ("[z-a]", "invalid character class range: `z-a`"),
            ("*a", "missing argument to repetition operator: `*`"),
            (r"\y", r"invalid escape sequence: `\y`"),
            (r"\p{Nope}", r"invalid character class range: `\p{Nope}`"),
            ("a\\", "trailing backslash at end of expression: ``"),
            (r"\x", r"invalid escape sequence: `\x`"),
            // A whole-pattern error shows the pattern as written, quotes and all.
            (r"(\Q.\E", r"missing closing ): `(\Q.\E`"),
            ("a**", "invalid nested repetition operator: `**`"),
            ("x*+", "invalid nested repetition operator: `*+`"),
            ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
            ("a{1001}", "invalid repeat count: `{1001}`"),
            ("a{2,1001}", "invalid repeat count: `{2,1001}`"),
            (r"(a)\1", r"invalid escape sequence: `\1`"),
            (r"[\7]", r"invalid escape sequence: `\7`"),
            ("{2}", "missing argument to repetition operator: `{2}`"),
        ] {
            let error = check(pattern).expect_err(pattern);
            assert_eq!(error.to_string(), message, "{pattern}");
            assert_eq!(compile(pattern).expect_err(pattern), error);
        }
    }

    #[test]
    fn quoted_text_is_literal() {
        // As in RE2, a repetition after the quote repeats its last character only.
        assert!(matches(r"\Qa.b*\E+", "a.b***"));
        assert!(!matches(r"\Qa.b*\E+", "a.b*a.b*"));
        assert!(!matches(r"\Qa.b\E", "axb"));
        let unclosed = compile(r"x\Q(y").expect("without \\E, to the end");
        assert!(unclosed.is_match("x(y"));
        // Inside brackets `\Q` is no quote to RE2 (it refuses it); nor here. Read as a quote,
        // `[\Q]\E]` would be the class `[\]]`.
        assert!(check(r"[\Q]\E]").is_err());
        // A `]` first in brackets does not close them: `\Q` is still inside.
        assert!(check(r"[]\Q]\E]").is_err());
        assert!(check(r"[^]\Q]\E]").is_err());
        // Quoted characters do not combine with what surrounds them.
        // (RE2 reads `a{\Q2\E}` as the text `a{2}`; the `regex` crate refuses the `{`.)
        assert!(compile(r"^(?s:a{\Q2\E})$").map_or(true, |re| !re.is_match("aa")));
        assert!(matches(r"\0\Q1\E", "\u{0}1"));
        assert!(matches("\\Q\u{e9}.\\E", "\u{e9}."));
    }
}
