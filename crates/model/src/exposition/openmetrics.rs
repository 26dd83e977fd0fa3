//! OpenMetrics 1.0 text: `parse_openmetrics`.
//!
//! Behaviour follows Prometheus's scrape parser (`model/textparse/openmetricsparse.go` and its
//! lexer `openmetricslex.l`), which is strict about the layout (single spaces, no blank lines,
//! no free comments, a final `# EOF`) and lenient about the structure OpenMetrics prescribes
//! (family grouping, sample-name suffixes, where exemplars may appear), so a body Prometheus
//! scrapes parses here and one it fails on fails here, with the differences noted on
//! `parse_openmetrics`. Error messages follow Prometheus's wording, prefixed with the line.

use std::borrow::Cow;

use super::lex::{
    error, normalize_float_labels, parse_float, sample_capacity, scan_label_value, scan_name,
    shown, unescape_help_openmetrics, Cursor, FloatError, Lines, MetadataBuilder, CLASS,
    LABEL_CONT, LABEL_START, METRIC_CONT, METRIC_START,
};
use super::{Exposition, ExpositionFormat, MetricType, ParseError, ParsedExemplar, ParsedSample};

/// Parse a whole OpenMetrics 1.0 exposition; the first error aborts (the caller stores nothing
/// from a failed scrape).
///
/// What comes back is what `parse_text` gives for the text format, plus:
/// - Timestamps are written in seconds (a float); `timestamp_ms` truncates them to whole
///   milliseconds, as Prometheus does (`int64(ts * 1000)`). NaN and infinite ones are errors.
/// - `MetricMetadata::unit` from `# UNIT` lines, which must name a suffix (`_<unit>`) of the
///   family name; a family without a TYPE line is `MetricType::Unknown`.
/// - `Exposition::exemplars`: each `# {labels} value [timestamp]` after a sample, syntax checked
///   like the sample. Exemplars are not checked against OpenMetrics's 128-character label-set
///   limit, as Prometheus's parser does not either (its exemplar storage drops longer ones);
///   `ParsedExemplar::label_set_length` lets the caller do the same.
/// - `_created` series come back as ordinary samples, which is what Prometheus does unless
///   created-timestamp zero-ingestion is on.
/// - The values of `le` labels of histograms and `quantile` labels of summaries are rewritten in
///   OpenMetrics's canonical float form (`le="1"` becomes `le="1.0"`), as Prometheus 3 does
///   (`series_text` stays as written). The type is the one named on the last `# TYPE` line, as
///   in Prometheus. Conforming exporters already write that form, so this only changes
///   anything for sloppy ones.
///
/// Deliberate differences from Prometheus's parser, all in the direction of either accepting
/// what real exporters send or rejecting what Prometheus would fail the scrape over later anyway
/// (the same choices `parse_text` makes):
/// - `\r\n` line endings are accepted.
/// - A duplicate label name, or an explicit `__name__` label, in a sample is a parse error.
/// - A second `# HELP`, `# TYPE` or `# UNIT` line for one family is an error (OpenMetrics
///   forbids it); Prometheus lets the last one win.
/// - Quoted (UTF-8) metric and label names are rejected.
/// - A space after the value or timestamp that starts neither a timestamp nor an exemplar is an
///   error on its own line (Prometheus reports it, confusingly, as a bad start of the next line).
pub fn parse_openmetrics(input: &str) -> Result<Exposition<'_>, ParseError> {
    let mut parser = Parser {
        samples: Vec::with_capacity(sample_capacity(input)),
        exemplars: Vec::new(),
        metadata: MetadataBuilder::new(MetricType::Unknown),
        scratch: Vec::new(),
        current_type: MetricType::Unknown,
    };
    let mut lines = Lines::new(input);
    let mut last_line = 0;
    while let Some((line_no, line)) = lines.next() {
        last_line = line_no;
        if line.starts_with("# EOF") {
            if line.len() != "# EOF".len() {
                return Err(error(line_no, "unexpected data after # EOF".to_string()));
            }
            if let Some((line_no, _)) = lines.next() {
                return Err(error(line_no, "unexpected data after # EOF".to_string()));
            }
            return Ok(Exposition {
                samples: parser.samples,
                metadata: parser.metadata.finish(),
                exemplars: parser.exemplars,
                format: ExpositionFormat::OpenMetrics,
            });
        }
        parser.line(line, line_no)?;
    }
    // The missing `# EOF` belongs where the input ends: after a final line break, that is the
    // line after the last one.
    let end_line = if input.is_empty() || input.ends_with('\n') {
        last_line + 1
    } else {
        last_line
    };
    Err(error(end_line, "data does not end with # EOF".to_string()))
}

struct Parser<'a> {
    samples: Vec<ParsedSample<'a>>,
    exemplars: Vec<ParsedExemplar<'a>>,
    metadata: MetadataBuilder<'a>,
    /// Reused across samples so each sample's label `Vec` is allocated once at its exact size.
    scratch: Vec<(&'a str, Cow<'a, str>)>,
    /// The type on the last `# TYPE` line, which decides label-value normalization.
    current_type: MetricType,
}

/// Which metadata line.
#[derive(Clone, Copy)]
enum Keyword {
    Help,
    Type,
    Unit,
}

impl Keyword {
    fn as_str(self) -> &'static str {
        match self {
            Keyword::Help => "HELP",
            Keyword::Type => "TYPE",
            Keyword::Unit => "UNIT",
        }
    }
}

impl<'a> Parser<'a> {
    fn line(&mut self, line: &'a str, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        match b.first() {
            Some(&ch) if CLASS[ch as usize] & METRIC_START != 0 => self.sample(line, line_no),
            Some(b'#') => self.metadata_line(line, line_no),
            Some(b'{') if b.get(1) == Some(&b'"') => Err(quoted_name(line_no, "metric", line)),
            Some(b'{') => Err(error(
                line_no,
                format!("metric name not set while parsing: {}", shown_tail(line)),
            )),
            _ => Err(expected(line_no, "expected a valid start token", line, 0)),
        }
    }

    /// `# HELP`, `# TYPE` or `# UNIT`, each followed by exactly one space, the family name, one
    /// space and the rest of the line. (`# EOF` is handled by the caller; any other comment is
    /// an error in OpenMetrics.)
    fn metadata_line(&mut self, line: &'a str, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let keyword = match b.get(..7) {
            Some(b"# HELP ") => Keyword::Help,
            Some(b"# TYPE ") => Keyword::Type,
            Some(b"# UNIT ") => Keyword::Unit,
            _ => {
                // Prometheus quotes the comment's first word back.
                let end = match line.strip_prefix("# ") {
                    Some(rest) => 2 + rest.find([' ', '\t']).unwrap_or(rest.len()),
                    None => line.char_indices().nth(2).map_or(line.len(), |(i, _)| i),
                };
                let token = &line[..end];
                return Err(error(
                    line_no,
                    format!(
                        "expected a valid start token, got {} while parsing: {}",
                        shown(token),
                        shown(token)
                    ),
                ));
            }
        };
        let kw = keyword.as_str();
        let start = 7;
        let end = scan_name(b, start, METRIC_START, METRIC_CONT);
        if end == start {
            if b.get(start) == Some(&b'"') {
                return Err(quoted_name(line_no, "metric", line));
            }
            return Err(expected(
                line_no,
                &format!("expected metric name after {kw}"),
                line,
                start,
            ));
        }
        if b.get(end) != Some(&b' ') {
            return Err(error(line_no, format!("expected text in {kw}")));
        }
        let family = &line[start..end];
        let text = &line[end + 1..];

        match keyword {
            Keyword::Help => {
                self.metadata
                    .set_help(family, unescape_help_openmetrics(text), line_no)
            }
            Keyword::Type => {
                let Some(metric_type) = MetricType::from_openmetrics_word(text) else {
                    return Err(error(
                        line_no,
                        format!(
                            "invalid metric type {} for metric {} (expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)",
                            shown(text),
                            shown(family)
                        ),
                    ));
                };
                self.current_type = metric_type;
                self.metadata.set_type(family, metric_type, line_no)
            }
            Keyword::Unit => {
                // Prometheus's check: a non-empty unit must end the family name after a `_`.
                let suffix = family
                    .strip_suffix(text)
                    .is_some_and(|base| base.ends_with('_'));
                if !text.is_empty() && !suffix {
                    return Err(error(
                        line_no,
                        format!(
                            "unit {} not a suffix of metric {}",
                            shown(text),
                            shown(family)
                        ),
                    ));
                }
                self.metadata.set_unit(family, text, line_no)
            }
        }
    }

    /// `name[{labels}] value [timestamp] [# {labels} value [timestamp]]`, single spaces only.
    fn sample(&mut self, line: &'a str, line_no: usize) -> Result<(), ParseError> {
        let b = line.as_bytes();
        let name_end = scan_name(b, 0, METRIC_START, METRIC_CONT);
        let name = &line[..name_end];
        let mut pos = name_end;
        self.scratch.clear();
        if b.get(pos) == Some(&b'{') {
            pos = parse_labels(line, pos + 1, line_no, Some(name), &mut self.scratch)?;
        }
        let series_text = &line[..pos];

        if b.get(pos) != Some(&b' ') {
            return Err(expected(line_no, "expected value after metric", line, pos));
        }
        let (token, end) = next_token(line, pos + 1);
        if token.is_empty() {
            return Err(expected(
                line_no,
                "expected value after metric",
                line,
                pos + 1,
            ));
        }
        let value = parse_float(token).map_err(|e| float_error(line_no, e, token, line, end))?;
        pos = end;

        let mut timestamp_ms = None;
        let mut exemplar_at = None;
        if pos < b.len() {
            // `b[pos]` is the space that ended the value.
            if b[pos + 1..].starts_with(b"# {") {
                exemplar_at = Some(pos + 4);
            } else {
                let (token, end) = next_token(line, pos + 1);
                if token.is_empty() {
                    return Err(expected(
                        line_no,
                        "expected timestamp or exemplar after value",
                        line,
                        pos + 1,
                    ));
                }
                let ts =
                    parse_float(token).map_err(|e| float_error(line_no, e, token, line, end))?;
                if !ts.is_finite() {
                    return Err(error(
                        line_no,
                        format!("invalid timestamp {}", go_float_word(ts)),
                    ));
                }
                timestamp_ms = Some(seconds_to_ms(ts));
                pos = end;
                if pos < b.len() {
                    if b[pos + 1..].starts_with(b"# {") {
                        exemplar_at = Some(pos + 4);
                    } else {
                        return Err(expected(
                            line_no,
                            "expected next entry after timestamp",
                            line,
                            pos,
                        ));
                    }
                }
            }
        }

        let sample_index = self.samples.len();
        if let Some(at) = exemplar_at {
            let exemplar = parse_exemplar(line, at, line_no, sample_index)?;
            self.exemplars.push(exemplar);
        }

        // Prometheus 3 stores histogram bounds and summary quantiles in canonical form.
        normalize_float_labels(self.current_type, &mut self.scratch);

        // Exact-size copy out of the scratch buffer, which keeps its capacity for the next line.
        let mut labels = Vec::new();
        if !self.scratch.is_empty() {
            labels.reserve_exact(self.scratch.len());
            labels.append(&mut self.scratch);
        }
        self.samples.push(ParsedSample {
            name,
            labels,
            value,
            timestamp_ms,
            series_text,
            line: line_no,
        });
        Ok(())
    }
}

/// The exemplar from just after `# {` to the end of the line.
fn parse_exemplar<'a>(
    line: &'a str,
    start: usize,
    line_no: usize,
    sample: usize,
) -> Result<ParsedExemplar<'a>, ParseError> {
    let b = line.as_bytes();
    let mut labels = Vec::new();
    let pos = parse_labels(line, start, line_no, None, &mut labels)?;
    if b.get(pos) != Some(&b' ') {
        return Err(expected(
            line_no,
            "expected value after exemplar labels",
            line,
            pos,
        ));
    }
    let (token, end) = next_token(line, pos + 1);
    if token.is_empty() {
        return Err(expected(
            line_no,
            "expected value after exemplar labels",
            line,
            pos + 1,
        ));
    }
    let value = parse_float(token).map_err(|e| float_error(line_no, e, token, line, end))?;

    let mut timestamp_ms = None;
    if end < b.len() {
        let (token, ts_end) = next_token(line, end + 1);
        if token.is_empty() {
            return Err(expected(
                line_no,
                "expected timestamp or comment",
                line,
                end + 1,
            ));
        }
        let ts = parse_float(token).map_err(|e| float_error(line_no, e, token, line, ts_end))?;
        if !ts.is_finite() {
            return Err(error(
                line_no,
                format!("invalid exemplar timestamp {}", go_float_word(ts)),
            ));
        }
        if ts_end < b.len() {
            return Err(expected(
                line_no,
                "expected next entry after exemplar timestamp",
                line,
                ts_end,
            ));
        }
        timestamp_ms = Some(seconds_to_ms(ts));
    }
    Ok(ParsedExemplar {
        sample,
        labels,
        value,
        timestamp_ms,
    })
}

/// Parses `name="value"` pairs from just after `{` to just after the matching `}`, returning
/// that position. No whitespace is allowed anywhere; a trailing comma is. `metric` is the
/// sample's name, or `None` for an exemplar's labels, which may repeat a name or use
/// `__name__` (Prometheus does not object there either).
fn parse_labels<'a>(
    line: &'a str,
    mut pos: usize,
    line_no: usize,
    metric: Option<&str>,
    out: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> Result<usize, ParseError> {
    let b = line.as_bytes();
    loop {
        match b.get(pos) {
            Some(b'}') => return Ok(pos + 1),
            Some(b'"') => return Err(quoted_name(line_no, "label", line)),
            _ => {}
        }
        let end = scan_name(b, pos, LABEL_START, LABEL_CONT);
        if end == pos {
            return Err(expected(line_no, "expected label name", line, pos));
        }
        let label = &line[pos..end];
        if b.get(end) != Some(&b'=') {
            return Err(expected(line_no, "expected equal", line, end));
        }
        if let Some(metric) = metric {
            if label == crate::labels::METRIC_NAME {
                return Err(error(
                    line_no,
                    format!(
                        "label name \"__name__\" is not allowed in the label block of metric {}",
                        shown(metric)
                    ),
                ));
            }
            if out.iter().any(|(n, _)| *n == label) {
                return Err(error(
                    line_no,
                    format!(
                        "duplicate label name {} for metric {}",
                        shown(label),
                        shown(metric)
                    ),
                ));
            }
        }
        if b.get(end + 1) != Some(&b'"') {
            return Err(expected(line_no, "expected label value", line, end + 1));
        }
        let mut c = Cursor {
            s: line,
            pos: end + 2,
        };
        let Some(value) = scan_label_value(&mut c) else {
            return Err(error(
                line_no,
                format!(
                    "expected label value, got {} (unterminated) while parsing: {}",
                    shown(&line[end + 1..]),
                    shown_tail(line)
                ),
            ));
        };
        out.push((label, value));
        pos = c.pos;
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => {}
            _ => {
                return Err(expected(
                    line_no,
                    "expected comma or brace close",
                    line,
                    pos,
                ))
            }
        }
    }
}

/// The token from `start` to the next space (or the end of the line), and where it ends.
/// OpenMetrics separates with single spaces, so a tab is part of a token.
#[inline]
fn next_token(line: &str, start: usize) -> (&str, usize) {
    let end = line.as_bytes()[start..]
        .iter()
        .position(|&ch| ch == b' ')
        .map_or(line.len(), |i| start + i);
    (&line[start..end], end)
}

/// Seconds to whole milliseconds, truncating as Go's `int64(ts * 1000)` does (and saturating
/// where Go's conversion is undefined).
fn seconds_to_ms(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

/// Go's `%f` of a non-finite float.
fn go_float_word(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "+Inf"
    } else {
        "-Inf"
    }
}

fn float_error(line_no: usize, e: FloatError, token: &str, line: &str, end: usize) -> ParseError {
    error(
        line_no,
        format!(
            "{} while parsing: {}",
            e.describe(token),
            shown_tail(&line[..end])
        ),
    )
}

/// Prometheus's parse error: `<what>, got "<found>" while parsing: "<line up to it>"`, where the
/// found text is the character at `at` (a line break at the end of the line).
fn expected(line_no: usize, what: &str, line: &str, at: usize) -> ParseError {
    let (got, upto) = match line.get(at..).and_then(|rest| rest.chars().next()) {
        Some(ch) => (ch.to_string(), at + ch.len_utf8()),
        None => ("\n".to_string(), line.len()),
    };
    let mut context = line.get(..upto).unwrap_or(line).to_string();
    if upto >= line.len() && got == "\n" {
        context.push('\n');
    }
    error(
        line_no,
        format!(
            "{what}, got {} while parsing: {}",
            shown(&got),
            shown_tail(&context)
        ),
    )
}

fn quoted_name(line_no: usize, what: &str, line: &str) -> ParseError {
    error(
        line_no,
        format!(
            "quoted (UTF-8) {what} names are not supported while parsing: {}",
            shown_tail(line)
        ),
    )
}

/// Like `shown`, but keeps the end of a long text, where the parser stopped.
fn shown_tail(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let mut cut = s.len() - MAX;
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    format!("...{:?}", &s[cut..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::MetricMetadata;

    fn parse(input: &str) -> Exposition<'_> {
        match parse_openmetrics(input) {
            Ok(expo) => expo,
            Err(e) => panic!("unexpected error for {input:?}: {e}"),
        }
    }

    fn parse_err(input: &str) -> ParseError {
        match parse_openmetrics(input) {
            Ok(expo) => panic!("expected an error for {input:?}, got {expo:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error is on `line` and its message mentions every fragment.
    fn assert_err(input: &str, line: usize, fragments: &[&str]) {
        let e = parse_err(input);
        assert_eq!(e.line, line, "wrong line for {input:?}: {e}");
        for fragment in fragments {
            assert!(
                e.message.contains(fragment),
                "message for {input:?} should mention {fragment:?}: {e}"
            );
        }
        assert!(e.to_string().starts_with(&format!("line {line}: ")));
    }

    /// Asserts the error is on `line` with exactly this message.
    fn assert_exact_err(input: &str, line: usize, message: &str) {
        let e = parse_err(input);
        assert_eq!((e.line, e.message.as_str()), (line, message), "{input:?}");
    }

    fn label_pairs<'s>(labels: &'s [(&str, Cow<'_, str>)]) -> Vec<(&'s str, &'s str)> {
        labels.iter().map(|(n, v)| (*n, v.as_ref())).collect()
    }

    /// The main input of Prometheus's `TestOpenMetricsParse` (without its UTF-8 names, which
    /// Narthex rejects).
    const PROMETHEUS_INPUT: &str = r#"# HELP go_gc_duration_seconds A summary of the GC invocation durations.
# TYPE go_gc_duration_seconds summary
# UNIT go_gc_duration_seconds seconds
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5",a="b"} 8.3835e-05
# HELP nohelp1 
# HELP help2 escape \ \n \\ \" \x chars
# UNIT nounit 
go_gc_duration_seconds{quantile="1.0",a="b"} 8.3835e-05
go_gc_duration_seconds_count 99
some:aggregate:rate5m{a_b="c"} 1
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 33 123.123
# TYPE hh histogram
hh_bucket{le="+Inf"} 1
# TYPE gh gaugehistogram
gh_bucket{le="+Inf"} 1
# TYPE hhh histogram
hhh_bucket{le="+Inf"} 1 # {id="histogram-bucket-test"} 4
hhh_count 1 # {id="histogram-count-test"} 4
# TYPE ggh gaugehistogram
ggh_bucket{le="+Inf"} 1 # {id="gaugehistogram-bucket-test",xx="yy"} 4 123.123
ggh_count 1 # {id="gaugehistogram-count-test",xx="yy"} 4 123.123
# TYPE smr_seconds summary
smr_seconds_count 2.0 # {id="summary-count-test"} 1 123.321
smr_seconds_sum 42.0 # {id="summary-sum-test"} 1 123.321
# TYPE ii info
ii{foo="bar"} 1
# TYPE ss stateset
ss{ss="foo"} 1
ss{ss="bar"} 0
ss{A="a"} 0
# TYPE un unknown
_metric_starting_with_underscore 1
testmetric{_label_starting_with_underscore="foo"} 1
testmetric{label="\"bar\""} 1
# HELP foo Counter with and without labels to certify CT is parsed for both cases
# TYPE foo counter
foo_total 17.0 1520879607.789 # {id="counter-test"} 5
foo_created 1520872607.123
foo_total{a="b"} 17.0 1520879607.789 # {id="counter-test"} 5
foo_created{a="b"} 1520872607.123
foo_total{le="c"} 21.0
foo_created{le="c"} 1520872621.123
foo_total{le="1"} 10.0
# HELP bar Summary with CT at the end, making sure we find CT even if it's multiple lines a far
# TYPE bar summary
bar_count 17.0
bar_sum 324789.3
bar{quantile="0.95"} 123.7
bar{quantile="0.99"} 150.0
bar_created 1520872608.124
# HELP baz Histogram with the same objective as above's summary
# TYPE baz histogram
baz_bucket{le="0.0"} 0
baz_bucket{le="+Inf"} 17
baz_count 17
baz_sum 324789.3
baz_created 1520872609.125
# HELP fizz_created Gauge which shouldn't be parsed as CT
# TYPE fizz_created gauge
fizz_created 17.0
# HELP something Histogram with _created between buckets and summary
# TYPE something histogram
something_count 18
something_sum 324789.4
something_created 1520430001
something_bucket{le="0.0"} 1
something_bucket{le="1"} 2
something_bucket{le="+Inf"} 18
# HELP yum Summary with _created between sum and quantiles
# TYPE yum summary
yum_count 20
yum_sum 324789.5
yum_created 1520430003
yum{quantile="0.95"} 123.7
yum{quantile="0.99"} 150.0
# HELP foobar Summary with _created as the first line
# TYPE foobar summary
foobar_count 21
foobar_created 1520430004
foobar_sum 324789.6
foobar{quantile="0.95"} 123.8
foobar{quantile="0.99"} 150.1
"#;

    #[test]
    fn prometheus_parse_test_input() {
        let input = format!(
            "{PROMETHEUS_INPUT}# HELP metric foo\x00bar\nnull_byte_metric{{a=\"abc\x00\"}} 1\n# EOF\n"
        );
        let expo = parse(&input);
        assert_eq!(expo.format, ExpositionFormat::OpenMetrics);

        // (series text, labels after unescaping and normalization, value, timestamp)
        type Expected = (
            &'static str,
            &'static [(&'static str, &'static str)],
            f64,
            Option<i64>,
        );
        let expected: &[Expected] = &[
            (
                r#"go_gc_duration_seconds{quantile="0"}"#,
                &[("quantile", "0.0")],
                4.9351e-05,
                None,
            ),
            (
                r#"go_gc_duration_seconds{quantile="0.25"}"#,
                &[("quantile", "0.25")],
                7.424100000000001e-05,
                None,
            ),
            (
                r#"go_gc_duration_seconds{quantile="0.5",a="b"}"#,
                &[("quantile", "0.5"), ("a", "b")],
                8.3835e-05,
                None,
            ),
            (
                r#"go_gc_duration_seconds{quantile="1.0",a="b"}"#,
                &[("quantile", "1.0"), ("a", "b")],
                8.3835e-05,
                None,
            ),
            ("go_gc_duration_seconds_count", &[], 99.0, None),
            (
                r#"some:aggregate:rate5m{a_b="c"}"#,
                &[("a_b", "c")],
                1.0,
                None,
            ),
            ("go_goroutines", &[], 33.0, Some(123123)),
            (r#"hh_bucket{le="+Inf"}"#, &[("le", "+Inf")], 1.0, None),
            (r#"gh_bucket{le="+Inf"}"#, &[("le", "+Inf")], 1.0, None),
            (r#"hhh_bucket{le="+Inf"}"#, &[("le", "+Inf")], 1.0, None),
            ("hhh_count", &[], 1.0, None),
            (r#"ggh_bucket{le="+Inf"}"#, &[("le", "+Inf")], 1.0, None),
            ("ggh_count", &[], 1.0, None),
            ("smr_seconds_count", &[], 2.0, None),
            ("smr_seconds_sum", &[], 42.0, None),
            (r#"ii{foo="bar"}"#, &[("foo", "bar")], 1.0, None),
            (r#"ss{ss="foo"}"#, &[("ss", "foo")], 1.0, None),
            (r#"ss{ss="bar"}"#, &[("ss", "bar")], 0.0, None),
            (r#"ss{A="a"}"#, &[("A", "a")], 0.0, None),
            ("_metric_starting_with_underscore", &[], 1.0, None),
            (
                r#"testmetric{_label_starting_with_underscore="foo"}"#,
                &[("_label_starting_with_underscore", "foo")],
                1.0,
                None,
            ),
            (
                r#"testmetric{label="\"bar\""}"#,
                &[("label", "\"bar\"")],
                1.0,
                None,
            ),
            ("foo_total", &[], 17.0, Some(1520879607789)),
            // `_created` lines are ordinary samples (Prometheus's default).
            ("foo_created", &[], 1520872607.123, None),
            (
                r#"foo_total{a="b"}"#,
                &[("a", "b")],
                17.0,
                Some(1520879607789),
            ),
            (r#"foo_created{a="b"}"#, &[("a", "b")], 1520872607.123, None),
            // `le` of a counter is not a bucket bound and stays as written.
            (r#"foo_total{le="c"}"#, &[("le", "c")], 21.0, None),
            (
                r#"foo_created{le="c"}"#,
                &[("le", "c")],
                1520872621.123,
                None,
            ),
            (r#"foo_total{le="1"}"#, &[("le", "1")], 10.0, None),
            ("bar_count", &[], 17.0, None),
            ("bar_sum", &[], 324789.3, None),
            (
                r#"bar{quantile="0.95"}"#,
                &[("quantile", "0.95")],
                123.7,
                None,
            ),
            (
                r#"bar{quantile="0.99"}"#,
                &[("quantile", "0.99")],
                150.0,
                None,
            ),
            ("bar_created", &[], 1520872608.124, None),
            (r#"baz_bucket{le="0.0"}"#, &[("le", "0.0")], 0.0, None),
            (r#"baz_bucket{le="+Inf"}"#, &[("le", "+Inf")], 17.0, None),
            ("baz_count", &[], 17.0, None),
            ("baz_sum", &[], 324789.3, None),
            ("baz_created", &[], 1520872609.125, None),
            ("fizz_created", &[], 17.0, None),
            ("something_count", &[], 18.0, None),
            ("something_sum", &[], 324789.4, None),
            ("something_created", &[], 1520430001.0, None),
            (r#"something_bucket{le="0.0"}"#, &[("le", "0.0")], 1.0, None),
            // A histogram bound in non-canonical form is normalized.
            (r#"something_bucket{le="1"}"#, &[("le", "1.0")], 2.0, None),
            (
                r#"something_bucket{le="+Inf"}"#,
                &[("le", "+Inf")],
                18.0,
                None,
            ),
            ("yum_count", &[], 20.0, None),
            ("yum_sum", &[], 324789.5, None),
            ("yum_created", &[], 1520430003.0, None),
            (
                r#"yum{quantile="0.95"}"#,
                &[("quantile", "0.95")],
                123.7,
                None,
            ),
            (
                r#"yum{quantile="0.99"}"#,
                &[("quantile", "0.99")],
                150.0,
                None,
            ),
            ("foobar_count", &[], 21.0, None),
            ("foobar_created", &[], 1520430004.0, None),
            ("foobar_sum", &[], 324789.6, None),
            (
                r#"foobar{quantile="0.95"}"#,
                &[("quantile", "0.95")],
                123.8,
                None,
            ),
            (
                r#"foobar{quantile="0.99"}"#,
                &[("quantile", "0.99")],
                150.1,
                None,
            ),
            (
                "null_byte_metric{a=\"abc\x00\"}",
                &[("a", "abc\x00")],
                1.0,
                None,
            ),
        ];
        let got: Vec<_> = expo
            .samples
            .iter()
            .map(|s| {
                (
                    s.series_text,
                    label_pairs(&s.labels),
                    s.value,
                    s.timestamp_ms,
                )
            })
            .collect();
        let want: Vec<_> = expected
            .iter()
            .map(|(series, labels, value, ts)| (*series, labels.to_vec(), *value, *ts))
            .collect();
        assert_eq!(got, want);
        for s in &expo.samples {
            let name_end = s.series_text.find('{').unwrap_or(s.series_text.len());
            assert_eq!(s.name, &s.series_text[..name_end]);
            let line = input.lines().nth(s.line - 1).expect("sample line");
            assert!(
                line.starts_with(s.series_text),
                "{line} / {}",
                s.series_text
            );
        }

        let exemplars: Vec<_> = expo
            .exemplars
            .iter()
            .map(|e| {
                (
                    expo.samples[e.sample].series_text,
                    label_pairs(&e.labels),
                    e.value,
                    e.timestamp_ms,
                )
            })
            .collect();
        assert_eq!(
            exemplars,
            vec![
                (
                    r#"hhh_bucket{le="+Inf"}"#,
                    vec![("id", "histogram-bucket-test")],
                    4.0,
                    None
                ),
                ("hhh_count", vec![("id", "histogram-count-test")], 4.0, None),
                (
                    r#"ggh_bucket{le="+Inf"}"#,
                    vec![("id", "gaugehistogram-bucket-test"), ("xx", "yy")],
                    4.0,
                    Some(123123)
                ),
                (
                    "ggh_count",
                    vec![("id", "gaugehistogram-count-test"), ("xx", "yy")],
                    4.0,
                    Some(123123)
                ),
                (
                    "smr_seconds_count",
                    vec![("id", "summary-count-test")],
                    1.0,
                    Some(123321)
                ),
                (
                    "smr_seconds_sum",
                    vec![("id", "summary-sum-test")],
                    1.0,
                    Some(123321)
                ),
                ("foo_total", vec![("id", "counter-test")], 5.0, None),
                (
                    r#"foo_total{a="b"}"#,
                    vec![("id", "counter-test")],
                    5.0,
                    None
                ),
            ]
        );

        let metadata: Vec<_> = expo
            .metadata
            .iter()
            .map(|m| (m.family, m.metric_type, m.help.as_deref(), m.unit))
            .collect();
        use MetricType::*;
        assert_eq!(
            metadata,
            vec![
                (
                    "bar",
                    Summary,
                    Some("Summary with CT at the end, making sure we find CT even if it's multiple lines a far"),
                    None
                ),
                (
                    "baz",
                    Histogram,
                    Some("Histogram with the same objective as above's summary"),
                    None
                ),
                (
                    "fizz_created",
                    Gauge,
                    Some("Gauge which shouldn't be parsed as CT"),
                    None
                ),
                (
                    "foo",
                    Counter,
                    Some("Counter with and without labels to certify CT is parsed for both cases"),
                    None
                ),
                (
                    "foobar",
                    Summary,
                    Some("Summary with _created as the first line"),
                    None
                ),
                ("ggh", GaugeHistogram, None, None),
                ("gh", GaugeHistogram, None, None),
                (
                    "go_gc_duration_seconds",
                    Summary,
                    Some("A summary of the GC invocation durations."),
                    Some("seconds")
                ),
                (
                    "go_goroutines",
                    Gauge,
                    Some("Number of goroutines that currently exist."),
                    None
                ),
                ("help2", Unknown, Some("escape \\ \n \\ \" \\x chars"), None),
                ("hh", Histogram, None, None),
                ("hhh", Histogram, None, None),
                ("ii", Info, None, None),
                ("metric", Unknown, Some("foo\x00bar"), None),
                ("nohelp1", Unknown, Some(""), None),
                ("nounit", Unknown, None, None),
                ("smr_seconds", Summary, None, None),
                (
                    "something",
                    Histogram,
                    Some("Histogram with _created between buckets and summary"),
                    None
                ),
                ("ss", Stateset, None, None),
                ("un", Unknown, None, None),
                (
                    "yum",
                    Summary,
                    Some("Summary with _created between sum and quantiles"),
                    None
                ),
            ]
        );

        let family_of = |name: &str| expo.metadata_for(name).map(|m| (m.family, m.metric_type));
        assert_eq!(family_of("foo_total"), Some(("foo", Counter)));
        assert_eq!(family_of("foo_created"), Some(("foo", Counter)));
        assert_eq!(family_of("baz_bucket"), Some(("baz", Histogram)));
        assert_eq!(family_of("baz_created"), Some(("baz", Histogram)));
        assert_eq!(family_of("gh_bucket"), Some(("gh", GaugeHistogram)));
        assert_eq!(family_of("bar_count"), Some(("bar", Summary)));
        assert_eq!(family_of("bar_created"), Some(("bar", Summary)));
        assert_eq!(family_of("fizz_created"), Some(("fizz_created", Gauge)));
        assert_eq!(family_of("ss"), Some(("ss", Stateset)));
        assert_eq!(family_of("go_goroutines_total"), None);
        assert_eq!(family_of("ii_info"), Some(("ii", Info)));
        assert_eq!(family_of("some:aggregate:rate5m"), None);
    }

    #[test]
    fn created_series_and_no_metadata() {
        // Prometheus's `TestCTParseFailures` inputs: every line is a sample.
        let expo = parse(concat!(
            "# HELP thing histogram with _created as first line\n",
            "# TYPE thing histogram\n",
            "thing_created 1520872607.123\n",
            "thing_count 17\n",
            "thing_sum 324789.3\n",
            "thing_bucket{le=\"0.0\"} 0\n",
            "thing_bucket{le=\"+Inf\"} 17\n",
            "# HELP thing_c counter with _created as first line\n",
            "# TYPE thing_c counter\n",
            "thing_c_created 1520872607.123\n",
            "thing_c_total 14123.232\n",
            "# EOF\n",
        ));
        let names: Vec<_> = expo.samples.iter().map(|s| (s.name, s.line)).collect();
        assert_eq!(
            names,
            vec![
                ("thing_created", 3),
                ("thing_count", 4),
                ("thing_sum", 5),
                ("thing_bucket", 6),
                ("thing_bucket", 7),
                ("thing_c_created", 10),
                ("thing_c_total", 11),
            ]
        );
        assert_eq!(expo.samples[0].value, 1520872607.123);
        assert_eq!(
            expo.metadata_for("thing_c_created").map(|m| m.family),
            Some("thing_c")
        );

        let expo = parse(
            "foo_total 17.0\nfoo_created 1520872607.123\nfoo_total{a=\"b\"} 17.0\nfoo_created{a=\"b\"} 1520872608.123\n# EOF\n",
        );
        let series: Vec<_> = expo.samples.iter().map(|s| s.series_text).collect();
        assert_eq!(
            series,
            vec![
                "foo_total",
                "foo_created",
                "foo_total{a=\"b\"}",
                "foo_created{a=\"b\"}"
            ]
        );
        assert!(expo.metadata.is_empty());
        assert_eq!(expo.metadata_for("foo_total"), None);
    }

    #[test]
    fn eof_handling() {
        assert_eq!(parse("# EOF").samples.len(), 0);
        assert_eq!(parse("# EOF\n"), parse("# EOF"));
        assert_eq!(parse("# EOF\r\n").samples.len(), 0);
        assert_exact_err("", 1, "data does not end with # EOF");
        assert_exact_err("metric 1", 1, "data does not end with # EOF");
        assert_exact_err("metric 1\n", 2, "data does not end with # EOF");
        assert_exact_err(
            "metric_total 1 # {aa=\"bb\"} 4",
            1,
            "data does not end with # EOF",
        );
        assert_exact_err("a 1\n# TYPE a gauge\n", 3, "data does not end with # EOF");
        assert_exact_err("# EOF\na 1", 2, "unexpected data after # EOF");
        assert_exact_err("# EOF\n\n", 2, "unexpected data after # EOF");
        assert_exact_err("# EOFa 1", 1, "unexpected data after # EOF");
        assert_exact_err("a 1\n# EOF \n", 2, "unexpected data after # EOF");
        assert_exact_err("# EOF\n# EOF\n", 2, "unexpected data after # EOF");
        assert_err("a\n#EOF\n", 1, &["expected value after metric"]);
        assert_err(" # EOF\n", 1, &["expected a valid start token"]);
        assert_err("#EOF\n", 1, &["expected a valid start token"]);
    }

    #[test]
    fn prometheus_error_cases() {
        // Prometheus's `TestOpenMetricsParseErrors`; where its message names the lexer's token
        // type (`("INVALID")`) ours leaves that out, and it shows a single character as found.
        let exact: &[(&str, usize, &str)] = &[
            (
                "\n",
                1,
                r#"expected a valid start token, got "\n" while parsing: "\n""#,
            ),
            (
                "\n\n#EOF\n",
                1,
                r#"expected a valid start token, got "\n" while parsing: "\n""#,
            ),
            (
                " a 1\n#EOF\n",
                1,
                r#"expected a valid start token, got " " while parsing: " ""#,
            ),
            (
                "9\n#EOF\n",
                1,
                r#"expected a valid start token, got "9" while parsing: "9""#,
            ),
            (
                "#\tTYPE c counter\n",
                1,
                r##"expected a valid start token, got "#\t" while parsing: "#\t""##,
            ),
            (
                "# H",
                1,
                r##"expected a valid start token, got "# H" while parsing: "# H""##,
            ),
            (
                "#",
                1,
                r##"expected a valid start token, got "#" while parsing: "#""##,
            ),
            (
                "# TYPE \n#EOF\n",
                1,
                r##"expected metric name after TYPE, got "\n" while parsing: "# TYPE \n""##,
            ),
            ("# TYPE m\n#EOF\n", 1, "expected text in TYPE"),
            (
                "# UNIT metric suffix\n#EOF\n",
                1,
                r#"unit "suffix" not a suffix of metric "metric""#,
            ),
            (
                "# UNIT metricsuffix suffix\n#EOF\n",
                1,
                r#"unit "suffix" not a suffix of metric "metricsuffix""#,
            ),
            (
                "# UNIT m suffix\n#EOF\n",
                1,
                r#"unit "suffix" not a suffix of metric "m""#,
            ),
            (
                "# UNIT \n#EOF\n",
                1,
                r##"expected metric name after UNIT, got "\n" while parsing: "# UNIT \n""##,
            ),
            ("# UNIT m\n#EOF\n", 1, "expected text in UNIT"),
            (
                "# HELP \n#EOF\n",
                1,
                r##"expected metric name after HELP, got "\n" while parsing: "# HELP \n""##,
            ),
            ("# HELP m\n#EOF\n", 1, "expected text in HELP"),
            (
                "a\t1\n#EOF\n",
                1,
                r#"expected value after metric, got "\t" while parsing: "a\t""#,
            ),
            (
                "a 1\t2\n#EOF\n",
                1,
                r#"strconv.ParseFloat: parsing "1\t2": invalid syntax while parsing: "a 1\t2""#,
            ),
            (
                "a 1 1z\n#EOF\n",
                1,
                r#"strconv.ParseFloat: parsing "1z": invalid syntax while parsing: "a 1 1z""#,
            ),
            (
                "a{b='c'} 1\n# EOF\n",
                1,
                r#"expected label value, got "'" while parsing: "a{b='""#,
            ),
            (
                "a{b=\n# EOF\n",
                1,
                r#"expected label value, got "\n" while parsing: "a{b=\n""#,
            ),
            (
                "a true\n",
                1,
                r#"strconv.ParseFloat: parsing "true": invalid syntax while parsing: "a true""#,
            ),
            (
                "foo 1_2\n\n# EOF\n",
                1,
                r#"unsupported character in float while parsing: "foo 1_2""#,
            ),
            (
                "foo 0x1p-3\n\n# EOF\n",
                1,
                r#"unsupported character in float while parsing: "foo 0x1p-3""#,
            ),
            (
                "foo 0x1P-3\n\n# EOF\n",
                1,
                r#"unsupported character in float while parsing: "foo 0x1P-3""#,
            ),
            (
                "foo 0 1_2\n\n# EOF\n",
                1,
                r#"unsupported character in float while parsing: "foo 0 1_2""#,
            ),
            (
                "custom_metric_total 1 # {aa=bb}\n# EOF\n",
                1,
                r##"expected label value, got "b" while parsing: "custom_metric_total 1 # {aa=b""##,
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\"}\n# EOF\n",
                1,
                r##"expected value after exemplar labels, got "\n" while parsing: "custom_metric_total 1 # {aa=\"bb\"}\n""##,
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\"} 1_2",
                1,
                r##"unsupported character in float while parsing: "custom_metric_total 1 # {aa=\"bb\"} 1_2""##,
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\"} 0x1p-3",
                1,
                r##"unsupported character in float while parsing: "custom_metric_total 1 # {aa=\"bb\"} 0x1p-3""##,
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\"} true",
                1,
                r##"strconv.ParseFloat: parsing "true": invalid syntax while parsing: "custom_metric_total 1 # {aa=\"bb\"} true""##,
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\",cc=}",
                1,
                r##"expected label value, got "}" while parsing: "custom_metric_total 1 # {aa=\"bb\",cc=}""##,
            ),
            (
                "custom_metric_total 1 # {aa=\\\"\u{ff}\\\"} 9.0",
                1,
                r##"expected label value, got "\\" while parsing: "custom_metric_total 1 # {aa=\\""##,
            ),
            (
                "{b=\"c\",} 1",
                1,
                r#"metric name not set while parsing: "{b=\"c\",} 1""#,
            ),
            ("a 1 NaN", 1, "invalid timestamp NaN"),
            ("a 1 -Inf", 1, "invalid timestamp -Inf"),
            ("a 1 Inf", 1, "invalid timestamp +Inf"),
            (
                "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 NaN",
                2,
                "invalid exemplar timestamp NaN",
            ),
            (
                "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {aa=\"bb\"} 4 -Inf",
                2,
                "invalid exemplar timestamp -Inf",
            ),
        ];
        for (input, line, message) in exact {
            assert_exact_err(input, *line, message);
        }

        // Same rejection, different wording of what was found.
        let similar: &[(&str, usize, &[&str])] = &[
            ("metric", 1, &["expected value after metric"]),
            (
                "# TYPE u untyped\n#EOF\n",
                1,
                &[r#"invalid metric type "untyped""#],
            ),
            (
                "# TYPE c counter \n#EOF\n",
                1,
                &[r#"invalid metric type "counter ""#],
            ),
            (
                "# TYPE c  counter\n",
                1,
                &[r#"invalid metric type " counter""#],
            ),
            (
                "#  TYPE c counter\n#EOF\n",
                1,
                &["expected a valid start token, got \"# \""],
            ),
            (
                "a 1 2 \n#EOF\n",
                1,
                &["expected next entry after timestamp, got \" \""],
            ),
            (
                "a 1 2 #\n#EOF\n",
                1,
                &["expected next entry after timestamp, got \" \""],
            ),
            (
                "a 1 1 1\n# EOF\n",
                1,
                &["expected next entry after timestamp, got \" \""],
            ),
            (
                "a{,b=\"c\"} 1\n# EOF\n",
                1,
                &["expected label name, got \",\""],
            ),
            (
                "a{b=\"c\"d=\"e\"} 1\n# EOF\n",
                1,
                &["expected comma or brace close, got \"d\""],
            ),
            (
                "a{b=\"c\",,d=\"e\"} 1\n# EOF\n",
                1,
                &["expected label name, got \",\""],
            ),
            (
                "something_weird{problem=\"\n# EOF\n",
                1,
                &["expected label value", "unterminated"],
            ),
            (
                "empty_label_name{=\"\"} 0\n# EOF\n",
                1,
                &["expected label name, got \"=\""],
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\"}",
                1,
                &["expected value after exemplar labels"],
            ),
            // Prometheus says "expected label name" for these: a bare name in an exemplar.
            (
                "custom_metric_total 1 # {bb}",
                1,
                &["expected equal, got \"}\""],
            ),
            (
                "custom_metric_total 1 # {bb, a=\"dd\"}",
                1,
                &["expected equal, got \",\""],
            ),
            (
                "custom_metric_total 1 # {aa=\"bb\",,cc=\"dd\"} 1",
                1,
                &["expected label name, got \",\""],
            ),
            // UTF-8 names in quotes (Prometheus 3 accepts them; Narthex does not).
            (
                "{\"go.gc_duration_seconds\",quantile=\"0\"} 1\n# EOF\n",
                1,
                &["quoted (UTF-8) metric names are not supported"],
            ),
            (
                "{\"a\",\"b = \"c\"}\n# EOF\n",
                1,
                &["quoted (UTF-8) metric names are not supported"],
            ),
            (
                "# HELP \"go.gc\" help\n# EOF\n",
                1,
                &["quoted (UTF-8) metric names are not supported"],
            ),
            (
                "m{\"a.b\"=\"c\"} 1\n# EOF\n",
                1,
                &["quoted (UTF-8) label names are not supported"],
            ),
            (
                "quotedexemplar_count 1 # {\"id.thing\"=\"histogram-count-test\"} 4\n# EOF\n",
                1,
                &["quoted (UTF-8) label names are not supported"],
            ),
        ];
        for (input, line, fragments) in similar {
            assert_err(input, *line, fragments);
        }
    }

    #[test]
    fn null_bytes() {
        // Prometheus's `TestOMNullByteHandling`.
        for input in [
            "null_byte_metric{a=\"abc\x00\"} 1\n# EOF\n",
            "a{b=\"\x00ss\"} 1\n# EOF\n",
            "a{b=\"\x00\"} 1\n# EOF\n",
            "a{b=\"\x00\"} 1\n# EOF",
        ] {
            let expo = parse(input);
            assert!(expo.samples[0].labels[0].1.contains('\x00'), "{input:?}");
        }
        for (input, fragments) in [
            (
                "a{b=\x00\"ssss\"} 1\n# EOF\n",
                &["expected label value, got \"\\0\""][..],
            ),
            ("a{b=\"\x00", &["expected label value", "unterminated"]),
            (
                "a{b\x00=\"hiih\"}\t1",
                &["expected equal, got \"\\0\" while parsing: \"a{b\\0\""],
            ),
            (
                "a\x00{b=\"ddd\"} 1",
                &["expected value after metric, got \"\\0\""],
            ),
            (
                "custom_metric_total 1 # {b=\x00\"ssss\"} 1\n",
                &["expected label value, got \"\\0\""],
            ),
        ] {
            assert_err(input, 1, fragments);
        }
        // Prometheus's lexer trips over a NUL in an exemplar's label value; nothing forbids one.
        let expo = parse("custom_metric_total 1 # {b=\"\x00ss\"} 1\n# EOF\n");
        assert_eq!(expo.exemplars[0].labels[0].1, "\x00ss");
    }

    #[test]
    fn timestamps_are_float_seconds_truncated_to_ms() {
        let ts = |t: &str| {
            let input = format!("m 1 {t}\n# EOF\n");
            parse_openmetrics(&input)
                .unwrap_or_else(|e| panic!("{t}: {e}"))
                .samples[0]
                .timestamp_ms
        };
        assert_eq!(ts("1520879607.789"), Some(1_520_879_607_789));
        assert_eq!(ts("1520879607"), Some(1_520_879_607_000));
        assert_eq!(ts("1.9999"), Some(1999));
        assert_eq!(ts("0.0005"), Some(0));
        assert_eq!(ts("-1.5"), Some(-1500));
        assert_eq!(ts("-0.0009"), Some(0));
        assert_eq!(ts("1e3"), Some(1_000_000));
        assert_eq!(ts("+5"), Some(5000));
        assert_eq!(ts("0"), Some(0));
        // Beyond the i64 range the conversion saturates (Go's is undefined there).
        assert_eq!(ts("1e300"), Some(i64::MAX));
        assert_eq!(parse("m 1\n# EOF\n").samples[0].timestamp_ms, None);
        assert_err("m 1 1e400\n# EOF\n", 1, &["value out of range"]);
        assert_err("m 1 abc\n# EOF\n", 1, &["invalid syntax", "\"abc\""]);
    }

    #[test]
    fn values() {
        let v = |t: &str| {
            let input = format!("m {t}\n# EOF\n");
            parse_openmetrics(&input)
                .unwrap_or_else(|e| panic!("{t}: {e}"))
                .samples[0]
                .value
        };
        assert_eq!(v("1"), 1.0);
        assert_eq!(v("-1.5e-3"), -0.0015);
        assert_eq!(v("+Inf"), f64::INFINITY);
        assert_eq!(v("-Inf"), f64::NEG_INFINITY);
        assert!(v("NaN").is_nan());
        assert!(!crate::is_stale_nan(v("NaN")));
        assert_eq!(v("1.7976931348623157e308"), f64::MAX);
        assert_err("m 1e400\n# EOF\n", 1, &["value out of range"]);
        assert_err("m -\n# EOF\n", 1, &["invalid syntax"]);
    }

    #[test]
    fn exemplars() {
        let expo = parse(concat!(
            "# TYPE h histogram\n",
            "h_bucket{le=\"0.5\"} 3 # {trace_id=\"a\\\"b\",span=\"\"} 0.25 1700000000.5\n",
            "h_bucket{le=\"+Inf\"} 4 1700000001 # {} 2\n",
            "h_count 4 # {x=\"1\",x=\"2\",__name__=\"n\",} NaN\n",
            "h_sum 2.5\n",
            "# EOF\n",
        ));
        assert_eq!(expo.samples.len(), 4);
        assert_eq!(expo.samples[1].timestamp_ms, Some(1_700_000_001_000));
        assert_eq!(expo.exemplars.len(), 3);

        let e = &expo.exemplars[0];
        assert_eq!(e.sample, 0);
        assert_eq!(
            label_pairs(&e.labels),
            vec![("trace_id", "a\"b"), ("span", "")]
        );
        assert_eq!(e.value, 0.25);
        assert_eq!(e.timestamp_ms, Some(1_700_000_000_500));
        assert_eq!(e.label_set_length(), "trace_ida\"bspan".len());

        let e = &expo.exemplars[1];
        assert_eq!(
            (e.sample, e.labels.len(), e.value, e.timestamp_ms),
            (1, 0, 2.0, None)
        );

        // Exemplar labels are not held to the sample rules (Prometheus takes these too).
        let e = &expo.exemplars[2];
        assert_eq!(e.sample, 2);
        assert_eq!(
            label_pairs(&e.labels),
            vec![("x", "1"), ("x", "2"), ("__name__", "n")]
        );
        assert!(e.value.is_nan());

        // The limit is counted in characters, not bytes.
        let long = format!(
            "m_total 1 # {{id=\"{}\"}} 1\n# EOF\n",
            "é".repeat(super::super::EXEMPLAR_MAX_LABEL_SET_LENGTH - 2)
        );
        let expo = parse(&long);
        assert_eq!(
            expo.exemplars[0].label_set_length(),
            super::super::EXEMPLAR_MAX_LABEL_SET_LENGTH
        );

        for (input, fragments) in [
            (
                "m 1 # {a=\"b\"} 1 2 3\n",
                &["expected next entry after exemplar timestamp"][..],
            ),
            ("m 1 # {a=\"b\"} 1 \n", &["expected timestamp or comment"]),
            (
                "m 1 # {a=\"b\"}  1\n",
                &["expected value after exemplar labels, got \" \""],
            ),
            (
                "m 1 # {a=\"b\"}1\n",
                &["expected value after exemplar labels, got \"1\""],
            ),
            (
                "m 1 # {a=\"b\" } 1\n",
                &["expected comma or brace close, got \" \""],
            ),
            (
                "m 1 # {a=\"b\"} 1 +Inf\n",
                &["invalid exemplar timestamp +Inf"],
            ),
            (
                "m 1 # {a=\"b\"} 1 x\n",
                &["strconv.ParseFloat: parsing \"x\""],
            ),
            (
                "m 1 # {a=\"b\"} abc\n",
                &["strconv.ParseFloat: parsing \"abc\""],
            ),
            // Not an exemplar: `#` must be followed by ` {`.
            (
                "m 1 #{a=\"b\"} 1\n",
                &["strconv.ParseFloat: parsing \"#{a=\\\"b\\\"}\""],
            ),
            ("m 1 # a\n", &["strconv.ParseFloat: parsing \"#\""]),
            (
                "m 1 2 #{a=\"b\"} 1\n",
                &["expected next entry after timestamp"],
            ),
        ] {
            assert_err(input, 1, fragments);
        }
    }

    #[test]
    fn strict_layout() {
        for (input, fragments) in [
            (
                "m  1\n# EOF\n",
                &["expected value after metric, got \" \""][..],
            ),
            (
                "m 1 \n# EOF\n",
                &["expected timestamp or exemplar after value"],
            ),
            (
                "m 1  2\n# EOF\n",
                &["expected timestamp or exemplar after value"],
            ),
            ("m {a=\"b\"} 1\n# EOF\n", &["invalid syntax"]),
            (
                "m{a=\"b\"}1\n# EOF\n",
                &["expected value after metric, got \"1\""],
            ),
            (
                "m{ a=\"b\"} 1\n# EOF\n",
                &["expected label name, got \" \""],
            ),
            ("m{a =\"b\"} 1\n# EOF\n", &["expected equal, got \" \""]),
            (
                "m{a= \"b\"} 1\n# EOF\n",
                &["expected label value, got \" \""],
            ),
            (
                "m{a=\"b\", c=\"d\"} 1\n# EOF\n",
                &["expected label name, got \" \""],
            ),
            ("m{a:b=\"c\"} 1\n# EOF\n", &["expected equal, got \":\""]),
            (
                "m{a=\"b\"\n",
                &["expected comma or brace close, got \"\\n\""],
            ),
            ("m{a=\"b\n", &["expected label value", "unterminated"]),
            ("m{\n", &["expected label name, got \"\\n\""]),
            (
                "# just a comment\n# EOF\n",
                &["expected a valid start token, got \"# just\""],
            ),
            ("#HELP m x\n# EOF\n", &["expected a valid start token"]),
            (
                "# HELP  m x\n# EOF\n",
                &["expected metric name after HELP, got \" \""],
            ),
            (
                "# TYPE m  gauge\n# EOF\n",
                &["invalid metric type \" gauge\""],
            ),
            (
                "# TYPE m Gauge\n# EOF\n",
                &["invalid metric type \"Gauge\""],
            ),
            ("# TYPE a.b gauge\n# EOF\n", &["expected text in TYPE"]),
            (
                "\tm 1\n# EOF\n",
                &["expected a valid start token, got \"\\t\""],
            ),
        ] {
            assert_err(input, 1, fragments);
        }
        assert_err(
            "a 1\n\nb 2\n# EOF\n",
            2,
            &["expected a valid start token, got \"\\n\""],
        );
    }

    #[test]
    fn labels_and_series_text() {
        let input = String::from(concat!(
            "m{path=\"/api/v1/query\",utf8=\"日本語 ✓\",odd=\"{},=# \",} 2\n",
            "m{esc=\"a\\\\b\\nc\\\"d\\x\"} 3\n",
            "m{} 4\n",
            "# EOF\n",
        ));
        let expo = parse(&input);
        let s = &expo.samples[0];
        assert_eq!(
            label_pairs(&s.labels),
            vec![
                ("path", "/api/v1/query"),
                ("utf8", "日本語 ✓"),
                ("odd", "{},=# ")
            ]
        );
        assert_eq!(
            s.series_text,
            "m{path=\"/api/v1/query\",utf8=\"日本語 ✓\",odd=\"{},=# \",}"
        );
        for (name, value) in &s.labels {
            assert!(matches!(value, Cow::Borrowed(_)), "{name} was copied");
        }
        let range = input.as_bytes().as_ptr_range();
        assert!(range.contains(&s.name.as_ptr()));
        assert!(range.contains(&s.series_text.as_ptr()));

        let s = &expo.samples[1];
        assert_eq!(label_pairs(&s.labels), vec![("esc", "a\\b\nc\"d\\x")]);
        assert!(matches!(s.labels[0].1, Cow::Owned(_)));
        assert_eq!(
            (expo.samples[2].series_text, expo.samples[2].labels.len()),
            ("m{}", 0)
        );

        assert_err(
            "m{a=\"1\",b=\"2\",a=\"3\"} 1\n# EOF\n",
            1,
            &["duplicate label name", "\"a\"", "\"m\""],
        );
        assert_err("m{__name__=\"x\"} 1\n# EOF\n", 1, &["__name__", "\"m\""]);
    }

    #[test]
    fn float_labels_are_normalized_for_histograms_and_summaries() {
        let expo = parse(concat!(
            "# TYPE h histogram\n",
            "h_bucket{le=\"1\"} 1\n",
            "h_bucket{le=\"0.50\"} 1\n",
            "h_bucket{le=\"1000000\"} 1\n",
            "h_bucket{le=\"1e-05\"} 1\n",
            "h_bucket{le=\"0.1\"} 1\n",
            "h_bucket{le=\"+inf\"} 1\n",
            "h_bucket{le=\"high\",quantile=\"1\"} 1\n",
            "# TYPE s summary\n",
            "s{quantile=\"0.990\",le=\"1\"} 1\n",
            "s{quantile=\"1\"} 1\n",
            "# TYPE g gaugehistogram\n",
            "g_bucket{le=\"1\"} 1\n",
            "# TYPE c counter\n",
            "c_total{le=\"1\",quantile=\"1\"} 1\n",
            "# EOF\n",
        ));
        let labels: Vec<_> = expo
            .samples
            .iter()
            .map(|s| label_pairs(&s.labels))
            .collect();
        assert_eq!(
            labels,
            vec![
                vec![("le", "1.0")],
                vec![("le", "0.5")],
                vec![("le", "1e+06")],
                vec![("le", "1e-05")],
                vec![("le", "0.1")],
                vec![("le", "+Inf")],
                vec![("le", "high"), ("quantile", "1")],
                vec![("quantile", "0.99"), ("le", "1")],
                vec![("quantile", "1.0")],
                // Prometheus normalizes classic histograms only.
                vec![("le", "1")],
                vec![("le", "1"), ("quantile", "1")],
            ]
        );
        // Canonical values stay borrowed; the series text stays as written.
        assert!(matches!(expo.samples[4].labels[0].1, Cow::Borrowed("0.1")));
        assert_eq!(expo.samples[0].series_text, "h_bucket{le=\"1\"}");
    }

    #[test]
    fn metadata_lines() {
        let expo = parse(concat!(
            "# HELP a_seconds Help with \\\\ and \\n and \\\" and \\t.\n",
            "# UNIT a_seconds seconds\n",
            "# TYPE a_seconds histogram\n",
            "# HELP only_help  two spaces \n",
            "# UNIT x_bytes \n",
            "# TYPE s stateset\n",
            "# EOF\n",
        ));
        assert_eq!(
            expo.metadata,
            vec![
                MetricMetadata {
                    family: "a_seconds",
                    metric_type: MetricType::Histogram,
                    help: Some(Cow::Owned("Help with \\ and \n and \" and \\t.".into())),
                    unit: Some("seconds"),
                },
                MetricMetadata {
                    family: "only_help",
                    metric_type: MetricType::Unknown,
                    help: Some(Cow::Borrowed(" two spaces ")),
                    unit: None,
                },
                MetricMetadata {
                    family: "s",
                    metric_type: MetricType::Stateset,
                    help: None,
                    unit: None,
                },
                MetricMetadata {
                    family: "x_bytes",
                    metric_type: MetricType::Unknown,
                    help: None,
                    unit: None,
                },
            ]
        );
        // A unit may be the whole name after an underscore, and a name may contain colons.
        parse("# UNIT _seconds seconds\n# UNIT a:b_c c\n# EOF\n");
        assert_err("# UNIT seconds seconds\n# EOF\n", 1, &["not a suffix"]);
        assert_err("# UNIT a_xseconds seconds\n# EOF\n", 1, &["not a suffix"]);

        for (input, line, fragments) in [
            (
                "# TYPE m counter\nm_total 1\n# TYPE m gauge\n# EOF\n",
                3,
                &["second TYPE line", "\"m\"", "line 1"][..],
            ),
            (
                "# HELP m one\n# HELP m two\n# EOF\n",
                2,
                &["second HELP line", "line 1"],
            ),
            (
                "# UNIT m_s s\n# TYPE m_s gauge\n# UNIT m_s s\n# EOF\n",
                3,
                &["second UNIT line", "line 1"],
            ),
        ] {
            assert_err(input, line, fragments);
        }
    }

    #[test]
    fn metric_type_words() {
        use MetricType::*;
        for (word, t) in [
            ("counter", Counter),
            ("gauge", Gauge),
            ("histogram", Histogram),
            ("gaugehistogram", GaugeHistogram),
            ("summary", Summary),
            ("info", Info),
            ("stateset", Stateset),
            ("unknown", Unknown),
        ] {
            assert_eq!(t.as_str(), word);
            assert_eq!(t.to_string(), word);
            let input = format!("# TYPE m {word}\n# EOF\n");
            assert_eq!(parse(&input).metadata[0].metric_type, t);
        }
        // The text format's words for its own types only.
        assert!(crate::exposition::parse_text("# TYPE m info\n").is_err());
    }

    #[test]
    fn crlf_line_endings() {
        let expo =
            parse("# HELP m Help.\r\n# TYPE m counter\r\nm_total{a=\"b\"} 1 123\r\n# EOF\r\n");
        assert_eq!(expo.samples[0].timestamp_ms, Some(123_000));
        assert_eq!(
            expo.metadata_for("m_total").and_then(|m| m.help.as_deref()),
            Some("Help.")
        );
    }

    #[test]
    fn error_lines_count_from_one() {
        assert_err(
            "# TYPE a gauge\na 1\na 2\nb{ 3\n# EOF\n",
            4,
            &["expected label name"],
        );
        let e = parse_err(&format!("m{{a=\"{}\" 1\n# EOF\n", "x".repeat(1000)));
        assert!(e.message.len() < 300, "{}", e.message);
    }

    #[test]
    fn many_series() {
        let mut text = String::from("# HELP big A big family.\n# TYPE big counter\n");
        for i in 0..20_000 {
            text.push_str(&format!(
                "big_total{{instance=\"host-{i}:9100\",job=\"node\",mode=\"idle\",cpu=\"{}\"}} {}.25 1700000000.{:03}\n",
                i % 64,
                i,
                i % 1000
            ));
        }
        text.push_str("# EOF\n");
        let expo = parse(&text);
        assert_eq!(expo.samples.len(), 20_000);
        let last = &expo.samples[19_999];
        assert_eq!(last.value, 19_999.25);
        assert_eq!(last.line, 20_002);
        assert_eq!(last.labels[0].1, "host-19999:9100");
        assert_eq!(last.timestamp_ms, Some(1_700_000_000_999));
    }
}
