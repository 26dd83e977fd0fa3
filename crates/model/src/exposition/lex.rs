//! Scanning pieces both parsers share: the byte-class table for names, label-value and HELP
//! unescaping, Go-compatible float parsing, the metadata collector, and error formatting.
//!
//! Everything here works on one line (without its line ending) and returns slices of it, so
//! what a parser builds from these borrows from the scraped body.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{MetricMetadata, MetricType, ParseError};

/// Scans a label value from just after its opening quote to just after its closing one.
/// `None` when the line ends first. Escapes follow Prometheus: `\\`, `\"` and `\n` are
/// replaced, any other backslash is kept as written.
pub(super) fn scan_label_value<'a>(c: &mut Cursor<'a>) -> Option<Cow<'a, str>> {
    let s = c.s;
    let b = c.bytes();
    let start = c.pos;
    loop {
        match *b.get(c.pos)? {
            b'"' => {
                let value = &s[start..c.pos];
                c.pos += 1;
                return Some(Cow::Borrowed(value));
            }
            b'\\' => break,
            _ => c.pos += 1,
        }
    }

    let mut out = String::with_capacity(c.pos - start + 16);
    out.push_str(&s[start..c.pos]);
    loop {
        match *b.get(c.pos)? {
            b'"' => {
                c.pos += 1;
                return Some(Cow::Owned(out));
            }
            b'\\' => match *b.get(c.pos + 1)? {
                b'\\' => {
                    out.push('\\');
                    c.pos += 2;
                }
                b'"' => {
                    out.push('"');
                    c.pos += 2;
                }
                b'n' => {
                    out.push('\n');
                    c.pos += 2;
                }
                _ => {
                    out.push('\\');
                    c.pos += 1;
                }
            },
            _ => {
                let chunk = c.pos;
                while !matches!(b.get(c.pos), None | Some(b'"' | b'\\')) {
                    c.pos += 1;
                }
                out.push_str(&s[chunk..c.pos]);
            }
        }
    }
}

/// Text-format HELP text replaces `\\` and `\n` only; other backslashes stay, as in Prometheus.
pub(super) fn unescape_help(text: &str) -> Cow<'_, str> {
    unescape(text, false)
}

/// OpenMetrics HELP text is escaped like a label value: `\\`, `\n` and also `\"` are replaced
/// (Prometheus's `lvalReplacer`); other backslashes stay.
pub(super) fn unescape_help_openmetrics(text: &str) -> Cow<'_, str> {
    unescape(text, true)
}

fn unescape(text: &str, quotes: bool) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('"') if quotes => {
                out.push('"');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Parses a sample value the way Go's `strconv.ParseFloat` does for the forms Prometheus lets
/// through: decimal and exponent notation, `Inf`/`Infinity` with an optional sign and `NaN`
/// without one (all case-insensitive). Hex floats and `_` separators are rejected, as is a
/// finite literal too large for an f64 (Go reports a range error there; Rust would give Inf).
pub(super) fn parse_value(token: &str) -> Option<f64> {
    let b = token.as_bytes();
    let (negative, unsigned) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };

    // Most exposed values are small integers (counts, 0/1 gauges); up to 15 digits they are
    // exact in an f64, so skip the general float parser.
    if !unsigned.is_empty() && unsigned.len() <= 15 && unsigned.iter().all(u8::is_ascii_digit) {
        let n = unsigned
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        let v = n as f64;
        return Some(if negative { -v } else { v });
    }

    if unsigned.first()?.is_ascii_alphabetic() {
        let word = &token[b.len() - unsigned.len()..];
        if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity") {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        // Go accepts no sign on NaN.
        if word.eq_ignore_ascii_case("nan") && unsigned.len() == b.len() {
            return Some(f64::NAN);
        }
        return None;
    }

    // Rust's grammar for these characters is Go's decimal grammar; the filter keeps out the
    // words (`inf`, `nan`) Rust would also accept after a digit-less sign.
    if !b
        .iter()
        .all(|ch| matches!(ch, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    token.parse::<f64>().ok().filter(|v| v.is_finite())
}

pub(super) const METRIC_START: u8 = 1;
pub(super) const METRIC_CONT: u8 = 2;
pub(super) const LABEL_START: u8 = 4;
pub(super) const LABEL_CONT: u8 = 8;

/// Byte classes for names: one table lookup per byte instead of a chain of range checks on the
/// hottest loop of the parser.
pub(super) static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let ch = i as u8;
        let letter = ch.is_ascii_alphabetic() || ch == b'_';
        let digit = ch.is_ascii_digit();
        let mut class = 0;
        if letter || ch == b':' {
            class |= METRIC_START | METRIC_CONT;
        }
        if digit {
            class |= METRIC_CONT | LABEL_CONT;
        }
        if letter {
            class |= LABEL_START | LABEL_CONT;
        }
        table[i] = class;
        i += 1;
    }
    table
};

/// End of the name starting at `start`, or `start` when no name starts there.
pub(super) fn scan_name(b: &[u8], start: usize, first: u8, rest: u8) -> usize {
    match b.get(start) {
        Some(&ch) if CLASS[ch as usize] & first != 0 => {}
        _ => return start,
    }
    let mut end = start + 1;
    while end < b.len() && CLASS[b[end] as usize] & rest != 0 {
        end += 1;
    }
    end
}

pub(super) fn is_ws(ch: u8) -> bool {
    ch == b' ' || ch == b'\t'
}

/// The text from `start` up to the first byte matching `stop`, for error messages. `stop` only
/// ever matches ASCII, so the slice ends on a character boundary.
pub(super) fn token_at(s: &str, start: usize, stop: impl Fn(u8) -> bool) -> &str {
    let b = s.as_bytes();
    let mut end = start;
    while end < b.len() && !stop(b[end]) {
        end += 1;
    }
    &s[start..end]
}

/// Quotes input for an error message, cut short so a garbage line cannot make a huge error.
pub(super) fn shown(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}...", &s[..cut])
}

pub(super) fn error(line: usize, message: String) -> ParseError {
    ParseError { line, message }
}

/// A position in one line (without its line ending).
pub(super) struct Cursor<'a> {
    pub(super) s: &'a str,
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(super) fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Skips to the next space or tab (or the end of the line).
    pub(super) fn skip_token(&mut self) {
        while self.peek().is_some_and(|ch| !is_ws(ch)) {
            self.pos += 1;
        }
    }
}

/// Why a number did not parse, in the words of Prometheus's `parseFloat` (the OpenMetrics parser
/// reports these as Go does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FloatError {
    /// `p`, `P` or `_`: Prometheus refuses hex floats and digit separators before Go sees them.
    Unsupported,
    Syntax,
    /// A finite literal beyond the f64 range.
    Range,
}

impl FloatError {
    pub(super) fn describe(self, token: &str) -> String {
        match self {
            FloatError::Unsupported => "unsupported character in float".to_string(),
            FloatError::Syntax => {
                format!(
                    "strconv.ParseFloat: parsing {}: invalid syntax",
                    shown(token)
                )
            }
            FloatError::Range => {
                format!(
                    "strconv.ParseFloat: parsing {}: value out of range",
                    shown(token)
                )
            }
        }
    }
}

/// `parse_value` with the reason for a refusal.
pub(super) fn parse_float(token: &str) -> Result<f64, FloatError> {
    if let Some(v) = parse_value(token) {
        return Ok(v);
    }
    if token.bytes().any(|ch| matches!(ch, b'p' | b'P' | b'_')) {
        return Err(FloatError::Unsupported);
    }
    let decimal = token
        .bytes()
        .all(|ch| matches!(ch, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'));
    if decimal && token.parse::<f64>().is_ok_and(f64::is_infinite) {
        return Err(FloatError::Range);
    }
    Err(FloatError::Syntax)
}

/// Rewrites the `le` label of a histogram sample or the `quantile` label of a summary sample
/// in canonical float form, as Prometheus 3 does in both parsers.
pub(super) fn normalize_float_labels(
    metric_type: super::MetricType,
    labels: &mut [(&str, Cow<'_, str>)],
) {
    let float_label = match metric_type {
        super::MetricType::Histogram => "le",
        super::MetricType::Summary => "quantile",
        _ => return,
    };
    for (label, value) in labels.iter_mut() {
        if *label == float_label {
            *value = normalize_float_label(std::mem::take(value));
        }
    }
}

/// A `le` or `quantile` label value in the form Prometheus 3 stores it
/// (`normalizeFloatsInLabelValues`): a value that parses as a float is rewritten as
/// `FormatOpenMetricsFloat` would write it (`1` becomes `1.0`, `0.50` becomes `0.5`, `1e6` stays
/// `1e+06`); anything else is kept as written. Already-canonical values, which is what
/// conforming exporters send, stay borrowed.
pub(super) fn normalize_float_label(value: Cow<'_, str>) -> Cow<'_, str> {
    if is_canonical_float(&value) {
        return value;
    }
    // Go's ParseFloat would also take hex floats here (`0x1p-2`); `parse_value` does not, so
    // such a value is kept as written.
    match parse_value(&value) {
        Some(v) => {
            let canonical = format_openmetrics_float(v);
            if canonical == *value {
                value
            } else {
                Cow::Owned(canonical)
            }
        }
        None => value,
    }
}

/// A cheap check for the common case: `+Inf`, `-Inf`, `NaN`, or a plain decimal `[-]I.F` that
/// `format_openmetrics_float` would print exactly so. That holds when the integer part has no
/// leading zero and at most 6 digits, a zero integer part is followed by at most 3 zeros (Go's
/// `'g'` switches to exponent form outside 1e-4 <= |v| < 1e6), the fraction has no trailing
/// zero other than a lone `.0` on a non-zero or unsigned value, and there are at most 15
/// significant digits (so the digits are the shortest round-trip form of the value they parse
/// to).
fn is_canonical_float(s: &str) -> bool {
    if matches!(s, "+Inf" | "-Inf" | "NaN") {
        return true;
    }
    let b = s.as_bytes();
    let (negative, unsigned) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let Some(dot) = unsigned.iter().position(|&ch| ch == b'.') else {
        return false;
    };
    let (int, frac) = (&unsigned[..dot], &unsigned[dot + 1..]);
    if int.is_empty()
        || frac.is_empty()
        || !int.iter().all(u8::is_ascii_digit)
        || !frac.iter().all(u8::is_ascii_digit)
        || (int.len() > 1 && int[0] == b'0')
        || int.len() > 6
    {
        return false;
    }
    if frac == b"0" {
        // `1.0`, `250.0`, and `0.0` (but not `-0.0`, which Go prints as `0.0`).
        return !(negative && int == b"0");
    }
    if frac.last() == Some(&b'0') {
        return false;
    }
    let significant = if int == b"0" {
        let zeros = frac.iter().take_while(|&&ch| ch == b'0').count();
        if zeros > 3 {
            return false;
        }
        frac.len() - zeros
    } else {
        int.len() + frac.len()
    };
    significant <= 15
}

/// Prometheus's `FormatOpenMetricsFloat`: Go's shortest `%g` form (`strconv.FormatFloat(f, 'g',
/// -1, 64)`), with `.0` appended when that has neither a `.` nor an `e`.
pub(super) fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return "0.0".to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's shortest mode does; only the
    // layout differs.
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    // Go switches to exponent form below 1e-4 and, in shortest mode, from 1e6 up.
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let mut out = format!("{f}");
    if !out.contains('.') {
        out.push_str(".0");
    }
    out
}

/// Where a family's HELP, TYPE and UNIT lines were seen, to reject a second one with a useful
/// message.
struct FamilySeen {
    index: usize,
    help_line: Option<usize>,
    type_line: Option<usize>,
    unit_line: Option<usize>,
}

/// Collects the metadata lines of one exposition: one entry per family, in first-seen order
/// until `finish` sorts them.
pub(super) struct MetadataBuilder<'a> {
    metadata: Vec<MetricMetadata<'a>>,
    families: HashMap<&'a str, FamilySeen>,
    /// The type of a family that has HELP or UNIT but no TYPE line.
    default_type: MetricType,
}

/// Which metadata line a call records.
#[derive(Clone, Copy)]
enum Field {
    Help,
    Type,
    Unit,
}

impl<'a> MetadataBuilder<'a> {
    pub(super) fn new(default_type: MetricType) -> Self {
        MetadataBuilder {
            metadata: Vec::new(),
            families: HashMap::new(),
            default_type,
        }
    }

    pub(super) fn set_help(
        &mut self,
        family: &'a str,
        help: Cow<'a, str>,
        line_no: usize,
    ) -> Result<(), ParseError> {
        let index = self.claim(family, Field::Help, line_no)?;
        self.metadata[index].help = Some(help);
        Ok(())
    }

    pub(super) fn set_type(
        &mut self,
        family: &'a str,
        metric_type: MetricType,
        line_no: usize,
    ) -> Result<(), ParseError> {
        let index = self.claim(family, Field::Type, line_no)?;
        self.metadata[index].metric_type = metric_type;
        Ok(())
    }

    /// An empty unit is recorded as no unit.
    pub(super) fn set_unit(
        &mut self,
        family: &'a str,
        unit: &'a str,
        line_no: usize,
    ) -> Result<(), ParseError> {
        let index = self.claim(family, Field::Unit, line_no)?;
        self.metadata[index].unit = (!unit.is_empty()).then_some(unit);
        Ok(())
    }

    /// The family's entry, created on first sight; an error if this kind of line was seen for
    /// it before.
    fn claim(
        &mut self,
        family: &'a str,
        field: Field,
        line_no: usize,
    ) -> Result<usize, ParseError> {
        let metadata = &mut self.metadata;
        let default_type = self.default_type;
        let seen = self.families.entry(family).or_insert_with(|| {
            metadata.push(MetricMetadata {
                family,
                metric_type: default_type,
                help: None,
                unit: None,
            });
            FamilySeen {
                index: metadata.len() - 1,
                help_line: None,
                type_line: None,
                unit_line: None,
            }
        });
        let (slot, keyword) = match field {
            Field::Help => (&mut seen.help_line, "HELP"),
            Field::Type => (&mut seen.type_line, "TYPE"),
            Field::Unit => (&mut seen.unit_line, "UNIT"),
        };
        if let Some(first) = *slot {
            return Err(error(
                line_no,
                format!(
                    "second {keyword} line for metric {} (first on line {first})",
                    shown(family)
                ),
            ));
        }
        *slot = Some(line_no);
        Ok(seen.index)
    }

    /// The metadata sorted by family name, as `Exposition::metadata_for` expects it.
    pub(super) fn finish(self) -> Vec<MetricMetadata<'a>> {
        let mut metadata = self.metadata;
        metadata.sort_unstable_by(|a, b| a.family.cmp(b.family));
        metadata
    }
}

/// The lines of a body with their 1-based numbers, without the `\n` or `\r\n` that ends them.
/// A final line without a line ending is still a line; nothing follows a final `\n`.
pub(super) struct Lines<'a> {
    rest: &'a str,
    line_no: usize,
}

impl<'a> Lines<'a> {
    pub(super) fn new(input: &'a str) -> Self {
        Lines {
            rest: input,
            line_no: 0,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    #[inline]
    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.rest.is_empty() {
            return None;
        }
        self.line_no += 1;
        let line = match self.rest.find('\n') {
            Some(i) => {
                let line = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                line
            }
            None => std::mem::take(&mut self.rest),
        };
        Some((self.line_no, line.strip_suffix('\r').unwrap_or(line)))
    }
}

/// An upper bound on the samples of a body: its line count. A single vectorised pass to size
/// the sample vector beats regrowing it (and copying every sample) log2(n) times on a
/// 100k-series scrape; metadata lines make this an overestimate.
///
/// Counting into a `u8` per chunk of at most 255 bytes lets the compiler keep 16 or 32 byte-wide
/// counters in a vector register; a plain `filter().count()` widens every byte to a `u64` lane
/// and was a sixth of the whole parse.
pub(super) fn sample_capacity(input: &str) -> usize {
    let newlines: usize = input
        .as_bytes()
        .chunks(255)
        .map(|chunk| {
            chunk
                .iter()
                .fold(0u8, |n, &b| n.wrapping_add(u8::from(b == b'\n')))
        })
        .map(usize::from)
        .sum();
    newlines + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn openmetrics_floats_are_formatted_as_go_does() {
        // Expected strings are what Prometheus's `FormatOpenMetricsFloat` returns.
        for (v, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.5, "0.5"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (10.0, "10.0"),
            (2.5, "2.5"),
            (100_000.0, "100000.0"),
            (999_999.0, "999999.0"),
            (999_999.5, "999999.5"),
            (1e6, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (123_456.789, "123456.789"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (-2.5e-300, "-2.5e-300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_openmetrics_float(v), want, "{v:e}");
        }
    }

    #[test]
    fn float_labels() {
        for (value, want, borrowed) in [
            ("1", "1.0", false),
            ("1.0", "1.0", true),
            ("0.0", "0.0", true),
            ("-0.0", "0.0", false),
            ("0", "0.0", false),
            ("0.25", "0.25", true),
            ("0.250", "0.25", false),
            (".5", "0.5", false),
            ("+0.5", "0.5", false),
            ("00.5", "0.5", false),
            ("2.5e-1", "0.25", false),
            ("1e-05", "1e-05", true),
            ("0.00001", "1e-05", false),
            ("1000000", "1e+06", false),
            ("1e+06", "1e+06", true),
            ("100000.0", "100000.0", true),
            ("+Inf", "+Inf", true),
            ("+inf", "+Inf", false),
            ("Inf", "+Inf", false),
            ("-Inf", "-Inf", true),
            ("NaN", "NaN", true),
            ("nan", "NaN", false),
            // Not floats: kept.
            ("", "", true),
            ("c", "c", true),
            ("1_000", "1_000", true),
            ("0x1p-2", "0x1p-2", true),
            ("1e400", "1e400", true),
        ] {
            let got = normalize_float_label(Cow::Borrowed(value));
            assert_eq!(got, want, "{value:?}");
            assert_eq!(matches!(got, Cow::Borrowed(_)), borrowed, "{value:?}");
        }
    }

    #[test]
    fn float_errors() {
        assert_eq!(parse_float("1.5"), Ok(1.5));
        assert_eq!(parse_float("1_5"), Err(FloatError::Unsupported));
        assert_eq!(parse_float("0x1p3"), Err(FloatError::Unsupported));
        assert_eq!(parse_float("1e400"), Err(FloatError::Range));
        assert_eq!(parse_float("-1e400"), Err(FloatError::Range));
        assert_eq!(parse_float("1e"), Err(FloatError::Syntax));
        assert_eq!(parse_float(""), Err(FloatError::Syntax));
        assert_eq!(
            FloatError::Syntax.describe("x"),
            "strconv.ParseFloat: parsing \"x\": invalid syntax"
        );
    }

    #[test]
    fn lines() {
        let got: Vec<_> = Lines::new("a\r\n\nb\nc").collect();
        assert_eq!(got, vec![(1, "a"), (2, ""), (3, "b"), (4, "c")]);
        assert_eq!(Lines::new("").count(), 0);
        assert_eq!(Lines::new("x\n").collect::<Vec<_>>(), vec![(1, "x")]);
        assert_eq!(sample_capacity("a\nb\n"), 3);
        assert_eq!(sample_capacity(""), 1);
        // Chunk boundaries and a chunk of nothing but line breaks (255 fits the u8 counter).
        for len in [254, 255, 256, 510, 511, 1000] {
            assert_eq!(sample_capacity(&"\n".repeat(len)), len + 1);
            assert_eq!(sample_capacity(&"ab\n".repeat(len)), len + 1);
        }
    }

    proptest! {
        /// The fast path never calls a value canonical that the slow path would rewrite.
        #[test]
        fn canonical_check_agrees_with_formatting(
            negative in any::<bool>(),
            int in "(0|[1-9][0-9]{0,7})",
            frac in "[0-9]{1,18}",
        ) {
            let s = format!("{}{int}.{frac}", if negative { "-" } else { "" });
            if is_canonical_float(&s) {
                let v = parse_value(&s).unwrap();
                prop_assert_eq!(format_openmetrics_float(v), s);
            }
        }

        /// Formatting round-trips and is its own normal form.
        #[test]
        fn formatting_round_trips(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let s = format_openmetrics_float(v);
            let back = parse_value(&s).unwrap();
            if v.is_nan() {
                prop_assert!(back.is_nan());
            } else if v == 0.0 {
                prop_assert_eq!(back, 0.0);
            } else {
                prop_assert_eq!(back.to_bits(), v.to_bits());
            }
            let again = normalize_float_label(Cow::Borrowed(&s));
            prop_assert_eq!(again.as_ref(), s.as_str());
        }
    }
}
