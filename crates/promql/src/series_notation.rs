//! Promtool's expanding series notation, shared by the PromQL test language (`promqltest`) and
//! promtool-style rule unit tests.
//!
//! A series description is a metric followed by its values, separated by whitespace:
//!
//! ```text
//! http_requests{job="api", code="200"}  0+10x5 _ stale 7 -1-1x2 _x3 Inf NaN
//! ```
//!
//! Each value item expands to one or more positions, exactly as Prometheus's series-description
//! grammar (`promql/parser/generated_parser.y`) does:
//!
//! | item        | positions                                               |
//! |-------------|---------------------------------------------------------|
//! | `a`         | `a`                                                     |
//! | `axn`       | `a` repeated n+1 times                                  |
//! | `a+bxn`     | n+1 values `a, a+b, a+2b, ...` (summed step by step)    |
//! | `a-bxn`     | n+1 values `a, a-b, a-2b, ...`                          |
//! | `_`         | one position without a sample                           |
//! | `_xn`       | n positions without samples (n, not n+1)                |
//! | `stale`     | a staleness marker                                      |
//! | `{{...}}`   | a native histogram (recognised, kept as text)           |
//!
//! Numbers follow Go's rules as Prometheus applies them: an integer literal first (`010` is
//! octal), then a float (`1e3`, `.5`, `Inf`, `NaN`, case-insensitive), with `_` digit separators.
//! Narthex stores floats only, so histogram literals are returned as
//! [`SequenceValue::Histogram`] for the caller to report as unsupported.

use std::fmt;

use narthex_model::{stale_nan, Labels, LabelsBuilder, Sample, METRIC_NAME};

/// The largest repetition count accepted (`1x10000000`), so a typo cannot exhaust memory;
/// Prometheus's own test files stay below 10,000.
pub const MAX_REPETITION: u64 = 10_000_000;

/// One position of an expanded value sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum SequenceValue {
    /// `_`: no sample at this position.
    Omitted,
    /// A float sample; `stale` is the staleness-marker NaN (see `narthex_model::is_stale_nan`).
    Float(f64),
    /// A native histogram literal as written (`{{schema:1 sum:3 ...}}`, or the whole
    /// `{{...}}+{{...}}xN` item for each of its positions).
    Histogram(String),
}

impl SequenceValue {
    /// The float value, if this position holds one.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            SequenceValue::Float(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for SequenceValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceValue::Omitted => f.write_str("_"),
            SequenceValue::Float(v) if narthex_model::is_stale_nan(*v) => f.write_str("stale"),
            SequenceValue::Float(v) => f.write_str(&narthex_model::api::format_float(*v)),
            SequenceValue::Histogram(text) => f.write_str(text),
        }
    }
}

/// A parsed series description: the labels and the expanded values.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesDescription {
    pub labels: Labels,
    pub values: Vec<SequenceValue>,
}

impl SeriesDescription {
    /// Whether any position holds a native histogram.
    pub fn has_histograms(&self) -> bool {
        self.values
            .iter()
            .any(|v| matches!(v, SequenceValue::Histogram(_)))
    }

    /// The float samples, the i-th position at `start + i * interval` (ms), as `load` and the
    /// rule unit tests place them. Omitted and histogram positions produce no sample.
    pub fn float_samples(&self, start: i64, interval: i64) -> Vec<Sample> {
        float_samples(&self.values, start, interval)
    }
}

/// See [`SeriesDescription::float_samples`].
pub fn float_samples(values: &[SequenceValue], start: i64, interval: i64) -> Vec<Sample> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let v = v.as_float()?;
            Some(Sample {
                t: start + i as i64 * interval,
                v,
            })
        })
        .collect()
}

/// A syntax error in a series description, at a 1-based character column of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {message}")]
pub struct SeriesError {
    pub column: usize,
    pub message: String,
}

/// Parses `metric{label="value", ...} values...`, as `load` lines, expected-result lines and
/// promtool's `series` + `values` use it. The metric part is either a name, a name and a label
/// set, or a label set alone (`{}` is the empty set); only `=` is allowed in it.
pub fn parse_series_description(input: &str) -> Result<SeriesDescription, SeriesError> {
    let mut cursor = Cursor::new(input);
    cursor.skip_space();
    let labels = cursor.metric()?;
    // Prometheus's grammar needs whitespace between the metric and the first value.
    if !cursor.at_end() && !cursor.peek().is_some_and(is_space) {
        return Err(cursor.error(format!(
            "unexpected {} after the metric, expected whitespace",
            cursor.describe_next()
        )));
    }
    let values = cursor.values()?;
    Ok(SeriesDescription { labels, values })
}

/// Parses a metric alone (`name{label="value"}`, `{label="value"}`), e.g. the expected labels
/// of a rule unit test.
pub fn parse_metric(input: &str) -> Result<Labels, SeriesError> {
    let mut cursor = Cursor::new(input);
    cursor.skip_space();
    let labels = cursor.metric()?;
    cursor.skip_space();
    if !cursor.at_end() {
        return Err(cursor.error(format!(
            "unexpected {} after the metric",
            cursor.describe_next()
        )));
    }
    Ok(labels)
}

/// Parses a value sequence alone (`1+2x3 _ stale`), e.g. promtool's `values:` field.
pub fn parse_values(input: &str) -> Result<Vec<SequenceValue>, SeriesError> {
    Cursor::new(input).values()
}

/// A number as Prometheus's parser reads one: Go's `strconv.ParseInt(s, 0, 64)` (so `0x1f`, `0o17`,
/// `0b101` and the octal `017` are integers), otherwise `strconv.ParseFloat(s, 64)` (decimal,
/// exponent, `Inf`/`Infinity`/`NaN` in any case, optional sign). `_` may separate digits. Also the
/// rule the test language uses for a scalar result line.
pub fn parse_go_number(s: &str) -> Option<f64> {
    if let Some(n) = parse_go_int(s) {
        return Some(n as f64);
    }
    parse_go_float(s)
}

/// `strconv.ParseInt(s, 0, 64)`.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || !underscores_ok(body) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    // `0x` alone is not a number; `0_7` after the octal `0` is, and so is `0`.
    if digits.is_empty() && prefixed {
        return None;
    }
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms (Go also reads hexadecimal floats, which the
/// test files do not use). Go reports an out-of-range literal (`1e400`) as an error.
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        // Rust reads these the same way, with the sign.
        return s.parse().ok();
    }
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if body.contains('_') && !underscores_ok(body) {
        return None;
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let v: f64 = cleaned.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    Some(v)
}

/// Go's rule for digit separators: `_` only between digits, or between a base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    // `saw` is the class of the previous character: '^' start, '0' digit or prefix, '_', '!' other.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'b' | b'o' | b'x') {
        hex = bytes[1] | 0x20 == b'x';
        i = 2;
        saw = b'0';
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alphanumeric(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// Unquotes a PromQL string literal (`"..."`, `'...'` or `` `...` ``) with Go's escapes, as
/// Prometheus does for label values and the test language's `expect string`. Escapes that form
/// invalid UTF-8 (`"\xff"`) are replaced by U+FFFD, since Rust strings are UTF-8.
pub fn unquote(literal: &str) -> Result<String, String> {
    let mut chars = literal.chars();
    let quote = chars.next().ok_or("empty string literal")?;
    if !matches!(quote, '"' | '\'' | '`') || literal.len() < 2 || !literal.ends_with(quote) {
        return Err(format!("invalid string literal {literal}"));
    }
    let inner = &literal[1..literal.len() - 1];
    if quote == '`' {
        if inner.contains('`') {
            return Err(format!("invalid string literal {literal}"));
        }
        return Ok(inner.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c == quote || c == '\n' {
            return Err(format!("invalid string literal {literal}"));
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let escape = it.next().ok_or("escape sequence not terminated")?;
        let simple = match escape {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' | '"' => Some(escape as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        let (count, radix, is_byte) = match escape {
            '0'..='7' => (3, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            other => return Err(format!("unknown escape sequence \\{other}")),
        };
        let mut digits = String::new();
        if escape.is_digit(8) {
            digits.push(escape);
        }
        while digits.len() < count {
            let d = it.next().ok_or("escape sequence not terminated")?;
            digits.push(d);
        }
        let value = u32::from_str_radix(&digits, radix)
            .map_err(|_| format!("illegal escape sequence \\{escape}{digits}"))?;
        if is_byte {
            let byte =
                u8::try_from(value).map_err(|_| format!("octal escape value > 255: {value}"))?;
            out.push(byte);
        } else {
            let c =
                char::from_u32(value).ok_or("escape sequence is an invalid Unicode code point")?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A position in the input, with the small lexer the notation needs.
struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a str) -> Self {
        Cursor { input, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn error_at(&self, offset: usize, message: String) -> SeriesError {
        let column = self.input[..offset.min(self.input.len())].chars().count() + 1;
        SeriesError { column, message }
    }

    fn error(&self, message: String) -> SeriesError {
        self.error_at(self.pos, message)
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("character {c:?}"),
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names, without `:` for label names.
    fn identifier(&mut self, allow_colon: bool) -> Option<&'a str> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = if self.pos == start {
                is_alpha(c) || (allow_colon && c == ':')
            } else {
                is_alphanumeric(c) || (allow_colon && c == ':')
            };
            if !ok {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.input[start..self.pos])
    }

    /// `metric_identifier label_set | label_set`.
    fn metric(&mut self) -> Result<Labels, SeriesError> {
        let mut builder = LabelsBuilder::default();
        let name = match self.peek() {
            Some(c) if is_alpha(c) || c == ':' => self.identifier(true).map(str::to_string),
            Some('{') => None,
            _ => {
                return Err(self.error(format!(
                    "unexpected {}, expected a metric name or label set",
                    self.describe_next()
                )))
            }
        };
        if self.peek() == Some('{') && self.peek_second() != Some('{') {
            self.label_set(&mut builder)?;
        }
        // A name before the braces wins over a quoted name inside them, as in Prometheus.
        if let Some(name) = name {
            builder.set(METRIC_NAME, name);
        }
        Ok(builder.build())
    }

    /// `{ item, item, ... }` with an optional trailing comma; an item is `name="value"`,
    /// `"quoted name"="value"`, or a quoted metric name alone.
    fn label_set(&mut self, builder: &mut LabelsBuilder) -> Result<(), SeriesError> {
        self.eat('{');
        loop {
            self.skip_space();
            if self.eat('}') {
                return Ok(());
            }
            let item_start = self.pos;
            let (name, quoted) = match self.peek() {
                Some(c) if is_alpha(c) => (self.identifier(false).unwrap_or("").to_string(), false),
                Some('"' | '\'' | '`') => (self.string()?, true),
                _ => {
                    return Err(self.error(format!(
                        "unexpected {} in label set, expected a label name or \"}}\"",
                        self.describe_next()
                    )))
                }
            };
            self.skip_space();
            if quoted && matches!(self.peek(), Some(',' | '}')) {
                builder.set(METRIC_NAME, name);
            } else {
                if !self.eat('=') {
                    return Err(self.error(format!(
                        "unexpected {} in label set, expected \"=\"",
                        self.describe_next()
                    )));
                }
                if matches!(self.peek(), Some('~')) {
                    return Err(self.error_at(
                        item_start,
                        "only \"=\" is allowed in a series description".to_string(),
                    ));
                }
                self.skip_space();
                if !matches!(self.peek(), Some('"' | '\'' | '`')) {
                    return Err(self.error(format!(
                        "unexpected {} in label set, expected a quoted label value",
                        self.describe_next()
                    )));
                }
                let value = self.string()?;
                builder.set(name, value);
            }
            self.skip_space();
            if self.eat(',') {
                continue;
            }
            if self.eat('}') {
                return Ok(());
            }
            return Err(self.error(format!(
                "unexpected {} in label set, expected \",\" or \"}}\"",
                self.describe_next()
            )));
        }
    }

    /// A quoted string at the cursor, unquoted.
    fn string(&mut self) -> Result<String, SeriesError> {
        let start = self.pos;
        let quote = self.bump().unwrap_or('"');
        loop {
            match self.bump() {
                None | Some('\n') if quote != '`' => {
                    return Err(self.error_at(start, "unterminated quoted string".to_string()))
                }
                None => return Err(self.error_at(start, "unterminated raw string".to_string())),
                Some('\\') if quote != '`' => {
                    self.bump();
                }
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        unquote(&self.input[start..self.pos]).map_err(|e| self.error_at(start, e))
    }

    /// Whitespace-separated items up to the end of the input.
    fn values(&mut self) -> Result<Vec<SequenceValue>, SeriesError> {
        let mut values = Vec::new();
        loop {
            self.skip_space();
            if self.at_end() {
                return Ok(values);
            }
            self.item(&mut values)?;
            if !self.at_end() && !self.peek().is_some_and(is_space) {
                return Err(self.error(format!(
                    "unexpected {} in series values",
                    self.describe_next()
                )));
            }
        }
    }

    /// One item: `_`, `_xN`, `v`, `vxN`, `v+dxN`, `v-dxN`, or a histogram form.
    fn item(&mut self, out: &mut Vec<SequenceValue>) -> Result<(), SeriesError> {
        if self.rest().starts_with("{{") {
            return self.histogram_item(out);
        }
        if self.peek() == Some('_') {
            self.pos += 1;
            if self.eat('x') {
                let n = self.repetition()?;
                out.extend(std::iter::repeat_n(SequenceValue::Omitted, n as usize));
            } else {
                out.push(SequenceValue::Omitted);
            }
            return Ok(());
        }
        let first = self.series_value()?;
        match self.peek() {
            Some('x') => {
                self.pos += 1;
                let n = self.repetition()?;
                // Repetition yields n+1 values: the initial one and n more.
                out.extend(std::iter::repeat_n(
                    SequenceValue::Float(first),
                    n as usize + 1,
                ));
            }
            Some(sign @ ('+' | '-')) => {
                self.pos += 1;
                let magnitude = self.number()?;
                let delta = if sign == '-' { -magnitude } else { magnitude };
                if !self.eat('x') {
                    return Err(self.error(format!(
                        "unexpected {} in series values, expected \"x\" and a repetition count",
                        self.describe_next()
                    )));
                }
                let n = self.repetition()?;
                // Accumulate as Prometheus does (`v += delta`), not `first + i * delta`, so
                // rounding matches bit for bit.
                let mut v = first;
                for _ in 0..=n {
                    out.push(SequenceValue::Float(v));
                    v += delta;
                }
            }
            _ => out.push(SequenceValue::Float(first)),
        }
        Ok(())
    }

    /// `stale`, a number, or a signed number.
    fn series_value(&mut self) -> Result<f64, SeriesError> {
        match self.peek() {
            Some('+') => {
                self.pos += 1;
                self.number()
            }
            Some('-') => {
                self.pos += 1;
                Ok(-self.number()?)
            }
            Some(c) if is_alpha(c) => {
                let start = self.pos;
                let word = self.word();
                if word == "stale" {
                    Ok(stale_nan())
                } else if matches!(word.to_ascii_lowercase().as_str(), "inf" | "nan") {
                    parse_go_number(word)
                        .ok_or_else(|| self.error_at(start, format!("invalid number {word:?}")))
                } else {
                    Err(self.error_at(
                        start,
                        format!(
                            "unexpected identifier {word:?} in series values, expected number or \"stale\""
                        ),
                    ))
                }
            }
            _ => self.number(),
        }
    }

    /// An identifier as Prometheus's lexer takes it in a value sequence (letters, digits, `_`,
    /// `:`), so `Infx3` is one (invalid) word, as there.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| is_alphanumeric(c) || c == ':') {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// An unsigned number: a numeric token, or the words `Inf` / `NaN`.
    fn number(&mut self) -> Result<f64, SeriesError> {
        let start = self.pos;
        if self.peek().is_some_and(is_alpha) {
            let word = self.word();
            if matches!(word.to_ascii_lowercase().as_str(), "inf" | "nan") {
                if let Some(v) = parse_go_number(word) {
                    return Ok(v);
                }
            }
            return Err(self.error_at(
                start,
                format!("unexpected identifier {word:?} in series values, expected a number"),
            ));
        }
        let token = self.number_token()?;
        parse_go_number(token)
            .ok_or_else(|| self.error_at(start, format!("error parsing number {token:?}")))
    }

    /// Scans a numeric token the way Prometheus's lexer does in series descriptions: digits with
    /// at most one `.` and one exponent, `_` separators, and no hexadecimal (`0x5` would be
    /// ambiguous with repetition). The token may be followed by `x` but by no other letter.
    fn number_token(&mut self) -> Result<&'a str, SeriesError> {
        let start = self.pos;
        let bad = |cursor: &Self| {
            let end = cursor.pos.min(cursor.input.len());
            cursor.error_at(
                start,
                format!("bad number syntax: {:?}", &cursor.input[start..end]),
            )
        };
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
        self.eat('.');
        if digit(self.peek()) {
            self.pos += 1;
        }
        let mut dot = false;
        let mut exponent = false;
        while let Some(c) = self.peek() {
            match c {
                '.' => {
                    self.pos += 1;
                    if dot || matches!(self.peek(), Some('_' | '.')) {
                        return Err(bad(self));
                    }
                    dot = true;
                }
                'e' | 'E' => {
                    self.pos += 1;
                    if exponent {
                        return Err(bad(self));
                    }
                    exponent = true;
                    if matches!(self.peek(), Some('+' | '-')) {
                        self.pos += 1;
                    }
                    if matches!(self.peek(), None | Some('.' | '_' | 'e' | 'E')) {
                        return Err(bad(self));
                    }
                }
                '_' => {
                    self.pos += 1;
                    if matches!(self.peek(), None | Some('.' | '_' | 'e' | 'E')) {
                        return Err(bad(self));
                    }
                }
                c if c.is_ascii_digit() => self.pos += 1,
                _ => break,
            }
        }
        if self.pos == start {
            return Err(self.error(format!(
                "unexpected {} in series values, expected a number",
                self.describe_next()
            )));
        }
        match self.peek() {
            Some('x') => {}
            Some(c) if is_alphanumeric(c) => {
                self.pos += c.len_utf8();
                return Err(bad(self));
            }
            _ => {}
        }
        Ok(&self.input[start..self.pos])
    }

    /// The count after `x`: a base-10 unsigned integer, at most [`MAX_REPETITION`].
    fn repetition(&mut self) -> Result<u64, SeriesError> {
        let start = self.pos;
        let token = self.number_token()?;
        let n = token.parse::<u64>().map_err(|e| {
            self.error_at(
                start,
                format!("invalid repetition in series values: {token:?}: {e}"),
            )
        })?;
        if n > MAX_REPETITION {
            return Err(self.error_at(
                start,
                format!("repetition {n} in series values exceeds the limit of {MAX_REPETITION}"),
            ));
        }
        Ok(n)
    }

    /// `{{...}}`, `{{...}}xN`, `{{...}}+{{...}}xN`, `{{...}}-{{...}}xN`. The literal is only
    /// delimited and counted, not interpreted.
    fn histogram_item(&mut self, out: &mut Vec<SequenceValue>) -> Result<(), SeriesError> {
        let start = self.pos;
        self.histogram_literal()?;
        match self.peek() {
            Some('x') => {
                self.pos += 1;
                let n = self.repetition()?;
                let text = self.input[start..self.pos].to_string();
                out.extend(std::iter::repeat_n(
                    SequenceValue::Histogram(text),
                    n as usize + 1,
                ));
            }
            Some('+' | '-') => {
                self.pos += 1;
                if !self.rest().starts_with("{{") {
                    return Err(self.error(format!(
                        "unexpected {} in series values, expected a histogram increment",
                        self.describe_next()
                    )));
                }
                self.histogram_literal()?;
                if !self.eat('x') {
                    return Err(self.error(format!(
                        "unexpected {} in series values, expected \"x\" and a repetition count",
                        self.describe_next()
                    )));
                }
                let n = self.repetition()?;
                let text = self.input[start..self.pos].to_string();
                out.extend(std::iter::repeat_n(
                    SequenceValue::Histogram(text),
                    n as usize + 1,
                ));
            }
            _ => out.push(SequenceValue::Histogram(
                self.input[start..self.pos].to_string(),
            )),
        }
        Ok(())
    }

    fn histogram_literal(&mut self) -> Result<(), SeriesError> {
        let start = self.pos;
        match self.rest()[2..].find("}}") {
            Some(end) => {
                self.pos += 2 + end + 2;
                Ok(())
            }
            None => Err(self.error_at(
                start,
                "histogram description incomplete: missing \"}}\"".to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::is_stale_nan;

    fn floats(input: &str) -> Vec<Option<f64>> {
        parse_values(input)
            .unwrap_or_else(|e| panic!("{input}: {e}"))
            .iter()
            .map(SequenceValue::as_float)
            .collect()
    }

    #[test]
    fn expansions_match_promtool() {
        let cases: &[(&str, &[Option<f64>])] = &[
            ("1", &[Some(1.0)]),
            ("1+2x3", &[Some(1.0), Some(3.0), Some(5.0), Some(7.0)]),
            (
                "5-1x4",
                &[Some(5.0), Some(4.0), Some(3.0), Some(2.0), Some(1.0)],
            ),
            ("1x5", &[Some(1.0); 6]),
            ("1x0", &[Some(1.0)]),
            ("_", &[None]),
            ("_x3", &[None, None, None]),
            ("_x0", &[]),
            // No hexadecimal in series values: this is 0 repeated.
            ("0x2", &[Some(0.0), Some(0.0), Some(0.0)]),
            ("-1", &[Some(-1.0)]),
            ("+2", &[Some(2.0)]),
            ("-1-1x2", &[Some(-1.0), Some(-2.0), Some(-3.0)]),
            ("-2+1x2", &[Some(-2.0), Some(-1.0), Some(0.0)]),
            ("1e3", &[Some(1000.0)]),
            ("1e-3x1", &[Some(0.001), Some(0.001)]),
            ("2.5E+2", &[Some(250.0)]),
            (".5", &[Some(0.5)]),
            ("1_000", &[Some(1000.0)]),
            // Go's ParseInt with base 0 reads a leading zero as octal.
            ("010", &[Some(8.0)]),
            ("09", &[Some(9.0)]),
            (
                "Inf -Inf +Inf inf",
                &[
                    Some(f64::INFINITY),
                    Some(f64::NEG_INFINITY),
                    Some(f64::INFINITY),
                    Some(f64::INFINITY),
                ],
            ),
            ("1 _ 3", &[Some(1.0), None, Some(3.0)]),
            (
                "  0+10x2   _x2  ",
                &[Some(0.0), Some(10.0), Some(20.0), None, None],
            ),
            ("", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(&floats(input), want, "{input}");
        }
    }

    #[test]
    fn increments_accumulate_like_prometheus() {
        // promtool sums step by step: ten additions of 0.1 are not 10 * 0.1.
        let got = floats("0+0.1x10");
        assert_eq!(got.len(), 11);
        assert_eq!(got[10], Some(0.9999999999999999));
        assert_ne!(got[10], Some(10.0 * 0.1));
    }

    #[test]
    fn special_values() {
        let values = parse_values("stale NaN nan -NaN Inf-1x1").unwrap();
        assert!(matches!(values[0], SequenceValue::Float(v) if is_stale_nan(v)));
        for v in &values[1..4] {
            let v = v.as_float().unwrap();
            assert!(v.is_nan() && !is_stale_nan(v));
        }
        assert_eq!(values[4].as_float(), Some(f64::INFINITY));
        assert_eq!(values[5].as_float(), Some(f64::INFINITY));
        assert_eq!(values.len(), 6);
        assert_eq!(values[0].to_string(), "stale");
    }

    #[test]
    fn invalid_values_are_errors_not_panics() {
        for input in [
            "1+2",
            "1x",
            "1xa",
            "1x1.5",
            "_x",
            "foo",
            "Infx3",
            "1..2",
            "1e",
            "1e+",
            "5m",
            "1a",
            "1+",
            "1++2x3",
            "1 2x-1",
            "stalex2",
            "{{schema:1",
            "1-{{}}x2",
            "1_",
        ] {
            assert!(parse_values(input).is_err(), "{input} should not parse");
        }
        let err = parse_values("1 2 foo").unwrap_err();
        assert_eq!(err.column, 5);
        assert!(err.message.contains("\"foo\""), "{err}");
    }

    #[test]
    fn histograms_are_recognised_and_counted() {
        let values = parse_values(
            "1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} _ {{count:1}}x2 {{}}+{{sum:1}}x1",
        )
        .unwrap();
        let kinds: Vec<&str> = values
            .iter()
            .map(|v| match v {
                SequenceValue::Omitted => "_",
                SequenceValue::Float(_) => "f",
                SequenceValue::Histogram(_) => "h",
            })
            .collect();
        assert_eq!(kinds, ["f", "h", "_", "h", "h", "h", "h", "h"]);
        assert_eq!(
            values[1],
            SequenceValue::Histogram("{{schema:1 sum:3 count:22 buckets:[5 10 7]}}".into())
        );
        let desc = parse_series_description("h{a=\"b\"} {{count:1}} 2").unwrap();
        assert!(desc.has_histograms());
        assert_eq!(
            desc.float_samples(0, 60_000),
            [Sample { t: 60_000, v: 2.0 }]
        );
    }

    #[test]
    fn series_descriptions() {
        let d = parse_series_description(
            r#"http_requests{job="api-server", instance="0", group="production"}	0+10x2"#,
        )
        .unwrap();
        assert_eq!(
            d.labels,
            Labels::from_pairs([
                ("__name__", "http_requests"),
                ("job", "api-server"),
                ("instance", "0"),
                ("group", "production"),
            ])
        );
        assert_eq!(d.values.len(), 3);
        assert_eq!(
            d.float_samples(0, 300_000),
            [
                Sample { t: 0, v: 0.0 },
                Sample {
                    t: 300_000,
                    v: 10.0
                },
                Sample {
                    t: 600_000,
                    v: 20.0
                },
            ]
        );

        let d = parse_series_description("{} 3").unwrap();
        assert!(d.labels.is_empty());
        let d = parse_series_description("up 1").unwrap();
        assert_eq!(d.labels, Labels::from_pairs([("__name__", "up")]));
        let d = parse_series_description("some_metric_with_stale_marker{} 1 _ 3").unwrap();
        assert_eq!(
            d.labels.metric_name(),
            Some("some_metric_with_stale_marker")
        );
        let d = parse_series_description("ns:rule:rate5m{a='x', b=`y\\`,} 1").unwrap();
        assert_eq!(d.labels.metric_name(), Some("ns:rule:rate5m"));
        assert_eq!(d.labels.get("a"), Some("x"));
        assert_eq!(d.labels.get("b"), Some("y\\"));
        let d = parse_series_description(r#"{"my.metric", "some label"="v\n"} 1"#).unwrap();
        assert_eq!(d.labels.metric_name(), Some("my.metric"));
        assert_eq!(d.labels.get("some label"), Some("v\n"));
        let d = parse_series_description(r#"{__name__="x", le="+Inf"}"#).unwrap();
        assert_eq!(d.labels.metric_name(), Some("x"));
        assert!(d.values.is_empty());
        // Keywords are ordinary names here.
        let d = parse_series_description("sum{by=\"on\"} 1").unwrap();
        assert_eq!(d.labels.metric_name(), Some("sum"));
    }

    #[test]
    fn invalid_descriptions() {
        for input in [
            "1 2",
            r#"m{a=~"b"} 1"#,
            r#"m{a!="b"} 1"#,
            r#"m{a="b" 1"#,
            r#"m{a=b} 1"#,
            r#"m{a="b}"#,
            r#"m{a="b"}1"#,
            r#"m{a="\q"} 1"#,
        ] {
            assert!(parse_series_description(input).is_err(), "{input}");
        }
        assert_eq!(
            parse_metric(r#"up{job="a"}"#).unwrap(),
            Labels::from_pairs([("__name__", "up"), ("job", "a")])
        );
        assert!(parse_metric("up 1").is_err());
    }

    #[test]
    fn go_numbers() {
        assert_eq!(parse_go_number("0x1f"), Some(31.0));
        assert_eq!(parse_go_number("-3"), Some(-3.0));
        assert_eq!(parse_go_number("1e400"), None);
        assert_eq!(parse_go_number("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_go_number("Infinity"), Some(f64::INFINITY));
        assert!(parse_go_number("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_go_number("1_0.5"), Some(10.5));
        assert_eq!(parse_go_number("_1"), None);
        assert_eq!(parse_go_number("1__0"), None);
        assert_eq!(parse_go_number("abc"), None);
        assert_eq!(parse_go_number("0"), Some(0.0));
        assert_eq!(parse_go_number("{a=\"b\"}"), None);
        assert_eq!(parse_go_number("9223372036854775808"), Some(2f64.powi(63)));
    }

    #[test]
    fn unquoting() {
        assert_eq!(unquote(r#""a\"b""#).unwrap(), "a\"b");
        assert_eq!(unquote(r"'it\'s'").unwrap(), "it's");
        assert_eq!(unquote(r#""\x41\101\u00e9\U0001F600""#).unwrap(), "AAé😀");
        assert_eq!(unquote("`raw\\n`").unwrap(), "raw\\n");
        assert_eq!(unquote(r#""""#).unwrap(), "");
        assert!(unquote(r#""abc"#).is_err());
        assert!(unquote("abc").is_err());
        assert!(unquote(r#""a"b""#).is_err());
    }
}
