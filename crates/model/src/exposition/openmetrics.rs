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
    error, normalize_float_label, parse_float, sample_capacity, scan_label_value, scan_name, shown,
    unescape_help_openmetrics, Cursor, FloatError, Lines, MetadataBuilder, CLASS, LABEL_CONT,
    LABEL_START, METRIC_CONT, METRIC_START,
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
///   OpenMetrics's canonical float form (`le="1"` becomes `le="1.0"`), as Prometheus 3 does, so
///   a target's series keep their identity whichever way it writes the bounds. The type is the
///   one named on the last `# TYPE` line, as in Prometheus.
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
                let end = if line.starts_with("# ") {
                    2 + line[2..].find([' ', '\t']).unwrap_or(line.len() - 2)
                } else {
                    line.char_indices().nth(2).map_or(line.len(), |(i, _)| i)
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
                if !text.is_empty()
                    && !(family.len() > text.len()
                        && family.ends_with(text)
                        && family.as_bytes()[family.len() - text.len() - 1] == b'_')
                {
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
        let float_label = match self.current_type {
            MetricType::Histogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        if let Some(float_label) = float_label {
            for (label, value) in self.scratch.iter_mut() {
                if *label == float_label {
                    *value = normalize_float_label(std::mem::take(value));
                }
            }
        }

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
