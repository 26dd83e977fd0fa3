//! The Prometheus text exposition format, version 0.0.4: `parse_text`.
//!
//! Behaviour follows Prometheus's scrape parser (`model/textparse/promparse.go`) rather than the
//! stricter `expfmt` parser, except where noted on `parse_text`, because a scrape that Prometheus
//! accepts should not fail here.

use std::borrow::Cow;

use super::lex::{
    error, is_ws, normalize_float_labels, parse_value, sample_capacity, scan_label_value,
    scan_name, shown, token_at, unescape_help, Cursor, Lines, MetadataBuilder, CLASS, LABEL_CONT,
    LABEL_START, METRIC_CONT, METRIC_START,
};
use super::{Exposition, ExpositionFormat, MetricType, ParseError, ParsedSample};

/// Parse a whole text-format (0.0.4) exposition; the first error aborts (the caller stores nothing from a failed scrape).
///
/// Deliberate differences from Prometheus's own scrape parser, all in the direction of either
/// accepting what real exporters send or rejecting what Prometheus would fail the scrape over
/// later anyway:
/// - `\r\n` line endings are accepted (Prometheus reads the `\r` into the value and fails).
/// - Timestamps may carry a sign, so negative timestamps parse (as in `expfmt`).
/// - Surrounding whitespace around the word on a `# TYPE` line is ignored.
/// - A duplicate label name, or an explicit `__name__` label, is a parse error here; Prometheus
///   parses those and then fails the scrape when appending the series.
/// - A second `# HELP` or `# TYPE` line for one family is an error (the format forbids it and
///   `expfmt` rejects it); Prometheus's scrape parser silently lets the last one win.
/// - A `# TYPE` line after samples of its family is accepted, as Prometheus's scrape does.
/// - Quoted (UTF-8) metric and label names from newer format versions are rejected.
///
/// As in Prometheus 3, `le` and `quantile` label values of histograms and summaries (the type
/// of the last `# TYPE` line) are rewritten in OpenMetrics's canonical float form (`le="1"`
/// is stored as `le="1.0"`), so a series is the same whichever format it was scraped in.
pub fn parse_text(input: &str) -> Result<Exposition<'_>, ParseError> {
    let mut parser = Parser {
        samples: Vec::with_capacity(sample_capacity(input)),
        metadata: MetadataBuilder::new(MetricType::Untyped),
        scratch: Vec::new(),
        current_type: MetricType::Untyped,
    };
    for (line_no, line) in Lines::new(input) {
        parser.line(line, line_no)?;
    }
    Ok(Exposition {
        samples: parser.samples,
        metadata: parser.metadata.finish(),
        exemplars: Vec::new(),
        format: ExpositionFormat::Text,
    })
}

struct Parser<'a> {
    samples: Vec<ParsedSample<'a>>,
    metadata: MetadataBuilder<'a>,
    /// Reused across samples so each sample's label `Vec` is allocated once at its exact size.
    scratch: Vec<(&'a str, Cow<'a, str>)>,
    /// The type on the last `# TYPE` line, which decides label-value normalization (as
    /// Prometheus's `PromParser.mtype`).
    current_type: MetricType,
}

impl<'a> Parser<'a> {
    fn line(&mut self, line: &'a str, line_no: usize) -> Result<(), ParseError> {
        let mut c = Cursor { s: line, pos: 0 };
        c.skip_ws();
        match c.peek() {
            None => Ok(()),
            Some(b'#') => {
                c.pos += 1;
                self.comment(c, line_no)
            }
            Some(_) => {
                let mut sample = parse_sample(c, line_no, &mut self.scratch)?;
                normalize_float_labels(self.current_type, &mut sample.labels);
                self.samples.push(sample);
                Ok(())
            }
        }
    }

    /// Only `#`, whitespace, then `HELP` or `TYPE` and more whitespace make a metadata line (as
    /// in Prometheus's lexer); anything else after `#`, including `#HELP` or a bare `# HELP`,
    /// is a comment.
    fn comment(&mut self, mut c: Cursor<'a>, line_no: usize) -> Result<(), ParseError> {
        if !matches!(c.peek(), Some(b' ' | b'\t')) {
            return Ok(());
        }
        c.skip_ws();
        let rest = &c.bytes()[c.pos..];
        let is_help = rest.starts_with(b"HELP");
        if !(is_help || rest.starts_with(b"TYPE")) || !matches!(rest.get(4), Some(b' ' | b'\t')) {
            return Ok(());
        }
        let keyword = if is_help { "HELP" } else { "TYPE" };
        c.pos += 4;
        c.skip_ws();

        let s = c.s;
        let start = c.pos;
        if c.at_end() {
            return Err(error(
                line_no,
                format!("missing metric name in {keyword} line"),
            ));
        }
        let end = scan_name(c.bytes(), start, METRIC_START, METRIC_CONT);
        if end == start || !matches!(c.bytes().get(end), None | Some(b' ' | b'\t')) {
            let token = token_at(s, start, is_ws);
            return Err(error(
                line_no,
                format!("invalid metric name {} in {keyword} line", shown(token)),
            ));
        }
        let family = &s[start..end];

        if is_help {
            // Prometheus drops exactly one separator character and keeps the rest verbatim,
            // leading whitespace included.
            let text = s.get(end + 1..).unwrap_or("");
            let help = unescape_help(text);
            self.metadata.set_help(family, help, line_no)?;
        } else {
            let word = s[end..].trim_matches([' ', '\t']);
            if word.is_empty() {
                return Err(error(
                    line_no,
                    format!("missing metric type in TYPE line for {}", shown(family)),
                ));
            }
            let Some(metric_type) = MetricType::from_text_word(word) else {
                return Err(error(
                    line_no,
                    format!(
                        "invalid metric type {} for {} (expected counter, gauge, histogram, summary or untyped)",
                        shown(word),
                        shown(family)
                    ),
                ));
            };
            self.metadata.set_type(family, metric_type, line_no)?;
            self.current_type = metric_type;
        }
        Ok(())
    }
}

fn parse_sample<'a>(
    mut c: Cursor<'a>,
    line_no: usize,
    scratch: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> Result<ParsedSample<'a>, ParseError> {
    let s = c.s;
    let b = c.bytes();
    let start = c.pos;
    let name_end = scan_name(b, start, METRIC_START, METRIC_CONT);
    if name_end == start || !matches!(b.get(name_end), None | Some(b' ' | b'\t' | b'{')) {
        if b.get(start) == Some(&b'{') {
            return Err(error(
                line_no,
                "missing metric name before the label block".to_string(),
            ));
        }
        let token = token_at(s, start, |ch| is_ws(ch) || ch == b'{');
        return Err(error(
            line_no,
            format!("invalid metric name {}", shown(token)),
        ));
    }
    let name = &s[start..name_end];
    c.pos = name_end;
    c.skip_ws();

    scratch.clear();
    let mut series_end = name_end;
    if c.peek() == Some(b'{') {
        c.pos += 1;
        parse_labels(&mut c, name, line_no, scratch)?;
        series_end = c.pos;
        c.skip_ws();
    }
    let series_text = &s[start..series_end];

    let value_start = c.pos;
    c.skip_token();
    let value_token = &s[value_start..c.pos];
    if value_token.is_empty() {
        return Err(error(
            line_no,
            format!("missing value for metric {}", shown(name)),
        ));
    }
    let Some(value) = parse_value(value_token) else {
        return Err(error(
            line_no,
            format!(
                "invalid value {} for metric {}",
                shown(value_token),
                shown(name)
            ),
        ));
    };

    c.skip_ws();
    let timestamp_ms = if c.at_end() {
        None
    } else {
        let ts_start = c.pos;
        c.skip_token();
        let ts_token = &s[ts_start..c.pos];
        let Ok(ts) = ts_token.parse::<i64>() else {
            return Err(error(
                line_no,
                format!(
                    "invalid timestamp {} for metric {}",
                    shown(ts_token),
                    shown(name)
                ),
            ));
        };
        c.skip_ws();
        if !c.at_end() {
            return Err(error(
                line_no,
                format!(
                    "unexpected text {} after the timestamp of metric {}",
                    shown(&s[c.pos..]),
                    shown(name)
                ),
            ));
        }
        Some(ts)
    };

    // Exact-size copy out of the scratch buffer, which keeps its capacity for the next line.
    let mut labels = Vec::new();
    if !scratch.is_empty() {
        labels.reserve_exact(scratch.len());
        labels.append(scratch);
    }
    Ok(ParsedSample {
        name,
        labels,
        value,
        timestamp_ms,
        series_text,
        line: line_no,
    })
}

/// Parses from just after `{` to just after the matching `}`.
fn parse_labels<'a>(
    c: &mut Cursor<'a>,
    metric: &str,
    line_no: usize,
    scratch: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> Result<(), ParseError> {
    let s = c.s;
    let b = c.bytes();
    loop {
        c.skip_ws();
        let start = c.pos;
        match c.peek() {
            None => {
                return Err(error(
                    line_no,
                    format!(
                        "unterminated label block for metric {} (missing \"}}\")",
                        shown(metric)
                    ),
                ))
            }
            Some(b'}') => {
                c.pos += 1;
                return Ok(());
            }
            Some(ch @ (b',' | b'=' | b'"')) => {
                return Err(error(
                    line_no,
                    format!(
                        "expected a label name in the label block of metric {}, found {:?}",
                        shown(metric),
                        ch as char
                    ),
                ))
            }
            Some(_) => {}
        }

        // A name runs up to a delimiter; anything else glued to it (`a-b`, `a:b`) makes the
        // whole run an invalid name, while a valid name followed by the wrong delimiter is
        // reported below as a missing `=`.
        let delimiter = |ch: u8| is_ws(ch) || matches!(ch, b'=' | b',' | b'}' | b'"');
        let end = scan_name(b, start, LABEL_START, LABEL_CONT);
        if end == start || b.get(end).is_some_and(|&ch| !delimiter(ch)) {
            let token = token_at(s, start, delimiter);
            return Err(error(
                line_no,
                format!(
                    "invalid label name {} for metric {}",
                    shown(token),
                    shown(metric)
                ),
            ));
        }
        let label = &s[start..end];
        if label == crate::labels::METRIC_NAME {
            return Err(error(
                line_no,
                format!(
                    "label name \"__name__\" is not allowed in the label block of metric {}",
                    shown(metric)
                ),
            ));
        }
        if scratch.iter().any(|(n, _)| *n == label) {
            return Err(error(
                line_no,
                format!(
                    "duplicate label name {} for metric {}",
                    shown(label),
                    shown(metric)
                ),
            ));
        }

        c.pos = end;
        c.skip_ws();
        if c.peek() != Some(b'=') {
            return Err(error(
                line_no,
                format!(
                    "expected \"=\" after label name {} of metric {}",
                    shown(label),
                    shown(metric)
                ),
            ));
        }
        c.pos += 1;
        c.skip_ws();
        if c.peek() != Some(b'"') {
            return Err(error(
                line_no,
                format!(
                    "expected a quoted value for label {} of metric {}",
                    shown(label),
                    shown(metric)
                ),
            ));
        }
        c.pos += 1;
        let Some(value) = scan_label_value(c) else {
            return Err(error(
                line_no,
                format!(
                    "unterminated label value for label {} of metric {}",
                    shown(label),
                    shown(metric)
                ),
            ));
        };
        scratch.push((label, value));

        c.skip_ws();
        match c.peek() {
            Some(b',') => c.pos += 1,
            // Prometheus accepts pairs separated by whitespace alone (`{a="1" b="2"}`), and so
            // must we, or such a target would scrape there and fail here.
            None | Some(b'}') => {}
            Some(ch) if CLASS[ch as usize] & LABEL_START != 0 => {}
            Some(_) => {
                let token = token_at(s, c.pos, is_ws);
                return Err(error(
                    line_no,
                    format!(
                        "expected \",\" or \"}}\" after label {} of metric {}, found {}",
                        shown(label),
                        shown(metric),
                        shown(token)
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{escape_help, escape_label_value, format_value, MetricMetadata};

    fn parse(input: &str) -> Exposition<'_> {
        match parse_text(input) {
            Ok(expo) => expo,
            Err(e) => panic!("unexpected error for {input:?}: {e}"),
        }
    }

    fn parse_err(input: &str) -> ParseError {
        match parse_text(input) {
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

    fn one(input: &str) -> ParsedSample<'_> {
        let mut expo = parse(input);
        assert_eq!(expo.samples.len(), 1, "{input:?}");
        expo.samples.remove(0)
    }

    fn label_pairs<'s>(sample: &'s ParsedSample<'_>) -> Vec<(&'s str, &'s str)> {
        sample
            .labels
            .iter()
            .map(|(n, v)| (*n, v.as_ref()))
            .collect()
    }

    #[test]
    fn counter_gauge_untyped() {
        let input = "# HELP http_requests_total Requests served.\n\
                     # TYPE http_requests_total counter\n\
                     http_requests_total{method=\"get\",code=\"200\"} 1027\n\
                     http_requests_total{method=\"post\",code=\"400\"} 3\n\
                     # TYPE temperature gauge\n\
                     temperature -12.5\n\
                     # TYPE legacy untyped\n\
                     legacy 7\n\
                     no_metadata 1\n";
        let expo = parse(input);
        assert_eq!(expo.samples.len(), 5);

        let s = &expo.samples[0];
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(label_pairs(s), vec![("method", "get"), ("code", "200")]);
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp_ms, None);
        assert_eq!(
            s.series_text,
            "http_requests_total{method=\"get\",code=\"200\"}"
        );
        assert_eq!(s.line, 3);
        assert_eq!(expo.samples[1].line, 4);

        let t = &expo.samples[2];
        assert_eq!((t.name, t.value, t.line), ("temperature", -12.5, 6));
        assert!(t.labels.is_empty());
        assert_eq!(t.series_text, "temperature");

        assert_eq!(
            expo.metadata_for("http_requests_total"),
            Some(&MetricMetadata {
                family: "http_requests_total",
                metric_type: MetricType::Counter,
                help: Some(Cow::Borrowed("Requests served.")),
                unit: None,
            })
        );
        let gauge = expo.metadata_for("temperature").expect("gauge metadata");
        assert_eq!((gauge.metric_type, &gauge.help), (MetricType::Gauge, &None));
        assert_eq!(
            expo.metadata_for("legacy").map(|m| m.metric_type),
            Some(MetricType::Untyped)
        );
        assert_eq!(expo.metadata_for("no_metadata"), None);
        // `_total` is not stripped: the family is named in full.
        assert_eq!(expo.metadata_for("http_requests"), None);
    }

    #[test]
    fn metadata_is_sorted_by_family_and_merged() {
        let expo = parse(
            "# TYPE zeta gauge\n# HELP alpha First.\n# TYPE mid counter\n# TYPE alpha counter\n# HELP zeta Last.\n",
        );
        let families: Vec<_> = expo.metadata.iter().map(|m| m.family).collect();
        assert_eq!(families, vec!["alpha", "mid", "zeta"]);
        assert_eq!(expo.metadata[0].metric_type, MetricType::Counter);
        assert_eq!(expo.metadata[0].help.as_deref(), Some("First."));
        assert_eq!(expo.metadata[1].help, None);
        assert_eq!(expo.metadata[2].metric_type, MetricType::Gauge);
        assert_eq!(expo.metadata[2].help.as_deref(), Some("Last."));
        assert!(expo.samples.is_empty());
    }

    #[test]
    fn help_without_type_is_untyped() {
        let expo = parse("# HELP foo Some help.\nfoo 1\n");
        let m = expo.metadata_for("foo").expect("metadata");
        assert_eq!(m.metric_type, MetricType::Untyped);
        assert_eq!(m.help.as_deref(), Some("Some help."));
    }

    #[test]
    fn histogram() {
        let input = r#"# HELP rpc_duration_seconds RPC latency.
# TYPE rpc_duration_seconds histogram
rpc_duration_seconds_bucket{le="0.05"} 24054
rpc_duration_seconds_bucket{le="0.1"} 33444
rpc_duration_seconds_bucket{le="0.5"} 129389
rpc_duration_seconds_bucket{le="1"} 133988
rpc_duration_seconds_bucket{le="+Inf"} 144320
rpc_duration_seconds_sum 53423.5
rpc_duration_seconds_count 144320
"#;
        let expo = parse(input);
        assert_eq!(expo.samples.len(), 7);
        let les: Vec<_> = expo.samples[..5]
            .iter()
            .map(|s| {
                assert_eq!(s.name, "rpc_duration_seconds_bucket");
                assert_eq!(s.labels.len(), 1);
                assert_eq!(s.labels[0].0, "le");
                s.labels[0].1.as_ref()
            })
            .collect();
        // Bounds in canonical form, as Prometheus 3 stores them (`1` becomes `1.0`).
        assert_eq!(les, vec!["0.05", "0.1", "0.5", "1.0", "+Inf"]);
        assert_eq!(expo.samples[4].value, 144320.0);
        assert_eq!(
            expo.samples[4].series_text,
            "rpc_duration_seconds_bucket{le=\"+Inf\"}"
        );
        assert_eq!(expo.samples[5].name, "rpc_duration_seconds_sum");
        assert_eq!(expo.samples[5].value, 53423.5);
        assert_eq!(expo.samples[6].name, "rpc_duration_seconds_count");
        assert_eq!(expo.samples[6].line, 9);

        for name in [
            "rpc_duration_seconds",
            "rpc_duration_seconds_bucket",
            "rpc_duration_seconds_sum",
            "rpc_duration_seconds_count",
        ] {
            let m = expo.metadata_for(name).expect(name);
            assert_eq!(m.family, "rpc_duration_seconds");
            assert_eq!(m.metric_type, MetricType::Histogram);
            assert_eq!(m.help.as_deref(), Some("RPC latency."));
        }
        assert_eq!(expo.metadata_for("rpc_duration_seconds_total"), None);
        assert_eq!(expo.metadata_for("rpc_duration_seconds_created"), None);
    }

    #[test]
    fn summary() {
        let input = r#"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 4.9351e-05
go_gc_duration_seconds{quantile="0.25"} 7.424100000000001e-05
go_gc_duration_seconds{quantile="0.5"} 8.3835e-05
go_gc_duration_seconds{quantile="1"} 0.000227
go_gc_duration_seconds_sum 0.002207
go_gc_duration_seconds_count 19
"#;
        let expo = parse(input);
        assert_eq!(expo.samples.len(), 6);
        assert_eq!(label_pairs(&expo.samples[1]), vec![("quantile", "0.25")]);
        assert_eq!(expo.samples[1].value, 7.424100000000001e-05);
        assert_eq!(expo.samples[0].value, 4.9351e-05);
        assert_eq!(expo.samples[5].value, 19.0);
        for name in [
            "go_gc_duration_seconds",
            "go_gc_duration_seconds_sum",
            "go_gc_duration_seconds_count",
        ] {
            let m = expo.metadata_for(name).expect(name);
            assert_eq!(m.metric_type, MetricType::Summary);
            assert_eq!(m.family, "go_gc_duration_seconds");
        }
        // Summaries have no buckets.
        assert_eq!(expo.metadata_for("go_gc_duration_seconds_bucket"), None);
    }

    #[test]
    fn suffix_lookup_requires_the_right_type() {
        let expo = parse("# TYPE foo counter\n# TYPE bar gauge\n");
        assert_eq!(expo.metadata_for("foo_count"), None);
        assert_eq!(expo.metadata_for("foo_sum"), None);
        assert_eq!(expo.metadata_for("bar_bucket"), None);
        // An exact family always wins over a suffix match.
        let expo = parse("# TYPE x histogram\n# TYPE x_count gauge\n");
        assert_eq!(
            expo.metadata_for("x_count").map(|m| m.metric_type),
            Some(MetricType::Gauge)
        );
        assert_eq!(
            expo.metadata_for("x_sum").map(|m| m.metric_type),
            Some(MetricType::Histogram)
        );
        assert_eq!(Exposition::default().metadata_for("x"), None);
    }

    #[test]
    fn help_escapes_and_spacing() {
        let expo = parse(concat!(
            "# HELP a Line one\\nline two, a backslash \\\\ and \\\"quotes\\\" \\t kept.\n",
            "# HELP b\n",
            "# HELP c \n",
            "# HELP d  two spaces\n",
            "#\tHELP\te\ttabbed\n",
            "# HELP f trailing \n",
            "# HELP g ünïcödé ✓\n",
        ));
        let help = |f: &str| {
            expo.metadata_for(f)
                .and_then(|m| m.help.as_deref())
                .map(str::to_string)
        };
        assert_eq!(
            help("a").as_deref(),
            Some("Line one\nline two, a backslash \\ and \\\"quotes\\\" \\t kept.")
        );
        assert!(matches!(
            expo.metadata_for("a").and_then(|m| m.help.as_ref()),
            Some(Cow::Owned(_))
        ));
        assert_eq!(help("b").as_deref(), Some(""));
        assert_eq!(help("c").as_deref(), Some(""));
        // Like Prometheus, only the one separator character is dropped.
        assert_eq!(help("d").as_deref(), Some(" two spaces"));
        assert_eq!(help("e").as_deref(), Some("tabbed"));
        assert_eq!(help("f").as_deref(), Some("trailing "));
        assert_eq!(help("g").as_deref(), Some("ünïcödé ✓"));
        assert!(matches!(
            expo.metadata_for("g").and_then(|m| m.help.as_ref()),
            Some(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn type_line_variants() {
        let expo = parse(
            "#  TYPE a counter\n# TYPE\tb\tgauge\n# TYPE c summary \t\n# TYPE d:e histogram\n",
        );
        let types: Vec<_> = expo
            .metadata
            .iter()
            .map(|m| (m.family, m.metric_type))
            .collect();
        assert_eq!(
            types,
            vec![
                ("a", MetricType::Counter),
                ("b", MetricType::Gauge),
                ("c", MetricType::Summary),
                ("d:e", MetricType::Histogram),
            ]
        );
    }

    #[test]
    fn label_value_escapes() {
        let s = one(
            r#"m{a="quote \" here",b="back\\slash",c="new\nline",d="keep \t and \x",e="",f="\\n"} 1"#,
        );
        assert_eq!(
            label_pairs(&s),
            vec![
                ("a", "quote \" here"),
                ("b", "back\\slash"),
                ("c", "new\nline"),
                // Prometheus leaves unknown escapes as written.
                ("d", "keep \\t and \\x"),
                ("e", ""),
                ("f", "\\n"),
            ]
        );
        assert!(matches!(s.labels[0].1, Cow::Owned(_)));
        assert!(matches!(s.labels[4].1, Cow::Borrowed("")));
        assert_eq!(
            s.series_text,
            r#"m{a="quote \" here",b="back\\slash",c="new\nline",d="keep \t and \x",e="",f="\\n"}"#
        );
    }

    #[test]
    fn label_values_without_escapes_are_borrowed() {
        let input = String::from("m{path=\"/api/v1/query\",utf8=\"日本語 ✓\",odd=\"{},=# \"} 2\n");
        let s = one(&input);
        assert_eq!(
            label_pairs(&s),
            vec![
                ("path", "/api/v1/query"),
                ("utf8", "日本語 ✓"),
                ("odd", "{},=# ")
            ]
        );
        for (name, value) in &s.labels {
            assert!(matches!(value, Cow::Borrowed(_)), "{name} was copied");
        }
        // Names and series text point into the input.
        let range = input.as_bytes().as_ptr_range();
        assert!(range.contains(&s.name.as_ptr()));
        assert!(range.contains(&s.series_text.as_ptr()));
    }

    #[test]
    fn names_with_colons_and_underscores() {
        let expo = parse("job:http_requests:rate5m{_l=\"x\",L2_a=\"y\"} 3\n_m 1\n:m 2\n");
        assert_eq!(expo.samples[0].name, "job:http_requests:rate5m");
        assert_eq!(
            label_pairs(&expo.samples[0]),
            vec![("_l", "x"), ("L2_a", "y")]
        );
        assert_eq!(expo.samples[1].name, "_m");
        assert_eq!(expo.samples[2].name, ":m");
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            one("m 1 1700000000000\n").timestamp_ms,
            Some(1_700_000_000_000)
        );
        assert_eq!(one("m 1 -1500\n").timestamp_ms, Some(-1500));
        assert_eq!(one("m 1 0").timestamp_ms, Some(0));
        assert_eq!(one("m 1 +5").timestamp_ms, Some(5));
        assert_eq!(one("m 1 9223372036854775807").timestamp_ms, Some(i64::MAX));
        assert_eq!(one("m 1 -9223372036854775808").timestamp_ms, Some(i64::MIN));
        assert_eq!(one("m{a=\"b\"} 2 \t 42 \t").timestamp_ms, Some(42));
        assert_eq!(one("m 1").timestamp_ms, None);
        assert_eq!(one("m 1   ").timestamp_ms, None);
    }

    #[test]
    fn special_and_exotic_values() {
        let v = |s: &str| one(s).value;
        assert_eq!(v("m +Inf"), f64::INFINITY);
        assert_eq!(v("m -Inf"), f64::NEG_INFINITY);
        assert_eq!(v("m Inf"), f64::INFINITY);
        assert_eq!(v("m inf"), f64::INFINITY);
        assert_eq!(v("m +infinity"), f64::INFINITY);
        assert_eq!(v("m -INFINITY"), f64::NEG_INFINITY);
        assert!(v("m NaN").is_nan());
        assert!(v("m nan").is_nan());
        assert!(v("m NAN").is_nan());
        assert!(!crate::is_stale_nan(v("m NaN")));
        assert_eq!(v("m 0"), 0.0);
        assert!(v("m -0").is_sign_negative());
        assert_eq!(v("m 1.0"), 1.0);
        assert_eq!(v("m 1."), 1.0);
        assert_eq!(v("m .5"), 0.5);
        assert_eq!(v("m +.5"), 0.5);
        assert_eq!(v("m -3"), -3.0);
        assert_eq!(v("m +3"), 3.0);
        assert_eq!(v("m 1e3"), 1000.0);
        assert_eq!(v("m 1E+3"), 1000.0);
        assert_eq!(v("m 2.5e-3"), 0.0025);
        assert_eq!(v("m 1.7e+09"), 1.7e9);
        assert_eq!(v("m 123456789012345"), 123_456_789_012_345.0);
        assert_eq!(v("m 1234567890123456789"), 1.2345678901234568e18);
        assert_eq!(v("m 18446744073709551616"), 18_446_744_073_709_551_616.0);
        assert_eq!(v("m 1.7976931348623157e308"), f64::MAX);
        assert_eq!(v("m 5e-324"), 5e-324);
        // Underflow rounds to zero, as in Go.
        assert_eq!(v("m 1e-400"), 0.0);
    }

    #[test]
    fn whitespace_variants() {
        let expo = parse(concat!(
            "  m1 1\n",
            "\tm2\t2\t\n",
            "m3 {a=\"1\"} 3\n",
            "m4{ a = \"1\" , b =\t\"2\" } 4\n",
            "m5{a=\"1\",} 5\n",
            "m6{} 6\n",
            "m7 { } 7\n",
            "m8{a=\"1\"}8\n",
            "m9{a=\"1\" b=\"2\"} 9\n",
            "m10    10     100\n",
        ));
        let got: Vec<_> = expo
            .samples
            .iter()
            .map(|s| (s.name, s.value, s.labels.len()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("m1", 1.0, 0),
                ("m2", 2.0, 0),
                ("m3", 3.0, 1),
                ("m4", 4.0, 2),
                ("m5", 5.0, 1),
                ("m6", 6.0, 0),
                ("m7", 7.0, 0),
                ("m8", 8.0, 1),
                ("m9", 9.0, 2),
                ("m10", 10.0, 0),
            ]
        );
        assert_eq!(label_pairs(&expo.samples[3]), vec![("a", "1"), ("b", "2")]);
        assert_eq!(label_pairs(&expo.samples[8]), vec![("a", "1"), ("b", "2")]);
        assert_eq!(expo.samples[9].timestamp_ms, Some(100));
        assert_eq!(expo.samples[0].series_text, "m1");
        assert_eq!(expo.samples[2].series_text, "m3 {a=\"1\"}");
        assert_eq!(expo.samples[3].series_text, "m4{ a = \"1\" , b =\t\"2\" }");
        assert_eq!(expo.samples[5].series_text, "m6{}");
        assert_eq!(expo.samples[6].series_text, "m7 { }");
    }

    #[test]
    fn crlf_line_endings() {
        let expo =
            parse("# HELP m Help.\r\n# TYPE m counter\r\nm{a=\"b\"} 1 123\r\n\r\nm{a=\"c\"} 2\r\n");
        assert_eq!(expo.samples.len(), 2);
        assert_eq!(expo.samples[0].timestamp_ms, Some(123));
        assert_eq!(expo.samples[1].value, 2.0);
        assert_eq!(expo.samples[1].line, 5);
        let m = expo.metadata_for("m").expect("metadata");
        assert_eq!(m.help.as_deref(), Some("Help."));
        assert_eq!(m.metric_type, MetricType::Counter);
    }

    #[test]
    fn missing_final_newline() {
        let expo = parse("a 1\nb{x=\"y\"} 2 77");
        assert_eq!(expo.samples.len(), 2);
        assert_eq!(expo.samples[1].timestamp_ms, Some(77));
        assert_eq!(expo.samples[1].line, 2);
        assert_eq!(one("# TYPE c gauge\nc 3").value, 3.0);
        assert_eq!(parse("# HELP d x").metadata.len(), 1);
    }

    #[test]
    fn empty_blank_and_comment_only_input() {
        assert_eq!(parse(""), Exposition::default());
        assert_eq!(parse("\n\n  \n\t\n\r\n"), Exposition::default());
        let expo = parse(concat!(
            "#\n",
            "# just a comment\n",
            "#HELP not metadata\n",
            "# HELP\n",
            "# TYPE\n",
            "# HELPx y z\n",
            "# Hrandom comment starting with prefix of HELP\n",
            "# comment with escaped \\n newline and \\ backslash\n",
            "# EOF\n",
            "  # indented comment\n",
        ));
        assert_eq!(expo, Exposition::default());
    }

    #[test]
    fn comments_between_samples_keep_line_numbers() {
        let expo = parse("# c\n\na 1\n# c\n\n\nb 2\n");
        let lines: Vec<_> = expo.samples.iter().map(|s| (s.name, s.line)).collect();
        assert_eq!(lines, vec![("a", 3), ("b", 7)]);
    }

    #[test]
    fn type_after_samples_is_accepted() {
        // Prometheus's scrape parser accepts this; the TYPE line is still recorded.
        let expo = parse("foo 1\n# TYPE foo gauge\n");
        assert_eq!(expo.samples.len(), 1);
        assert_eq!(
            expo.metadata_for("foo").map(|m| m.metric_type),
            Some(MetricType::Gauge)
        );
    }

    #[test]
    fn python_client_output() {
        let input = r#"# HELP python_info Python platform information
# TYPE python_info gauge
python_info{implementation="CPython",major="3",minor="11",patchlevel="7",version="3.11.7"} 1.0
# HELP hello_world_latency_seconds Time for a request Hello World.
# TYPE hello_world_latency_seconds histogram
hello_world_latency_seconds_bucket{le="0.005"} 3.0
hello_world_latency_seconds_bucket{le="+Inf"} 3.0
hello_world_latency_seconds_count 3.0
hello_world_latency_seconds_sum 0.000123
# HELP hello_world_latency_seconds_created Time for a request Hello World.
# TYPE hello_world_latency_seconds_created gauge
hello_world_latency_seconds_created 1.7e+09
"#;
        let expo = parse(input);
        assert_eq!(expo.samples.len(), 6);

        assert_eq!(
            expo.samples[0],
            ParsedSample {
                name: "python_info",
                labels: vec![
                    ("implementation", Cow::Borrowed("CPython")),
                    ("major", Cow::Borrowed("3")),
                    ("minor", Cow::Borrowed("11")),
                    ("patchlevel", Cow::Borrowed("7")),
                    ("version", Cow::Borrowed("3.11.7")),
                ],
                value: 1.0,
                timestamp_ms: None,
                series_text: r#"python_info{implementation="CPython",major="3",minor="11",patchlevel="7",version="3.11.7"}"#,
                line: 3,
            }
        );
        assert_eq!(
            expo.samples[2],
            ParsedSample {
                name: "hello_world_latency_seconds_bucket",
                labels: vec![("le", Cow::Borrowed("+Inf"))],
                value: 3.0,
                timestamp_ms: None,
                series_text: r#"hello_world_latency_seconds_bucket{le="+Inf"}"#,
                line: 7,
            }
        );
        let sum = &expo.samples[4];
        assert_eq!(
            (sum.name, sum.value, sum.line),
            ("hello_world_latency_seconds_sum", 0.000123, 9)
        );
        let created = &expo.samples[5];
        assert_eq!(
            (created.name, created.value, created.line),
            ("hello_world_latency_seconds_created", 1.7e9, 12)
        );

        assert_eq!(
            expo.metadata,
            vec![
                MetricMetadata {
                    family: "hello_world_latency_seconds",
                    metric_type: MetricType::Histogram,
                    help: Some(Cow::Borrowed("Time for a request Hello World.")),
                    unit: None,
                },
                MetricMetadata {
                    family: "hello_world_latency_seconds_created",
                    metric_type: MetricType::Gauge,
                    help: Some(Cow::Borrowed("Time for a request Hello World.")),
                    unit: None,
                },
                MetricMetadata {
                    family: "python_info",
                    metric_type: MetricType::Gauge,
                    help: Some(Cow::Borrowed("Python platform information")),
                    unit: None,
                },
            ]
        );
        assert_eq!(
            expo.metadata_for("hello_world_latency_seconds_bucket")
                .map(|m| m.metric_type),
            Some(MetricType::Histogram)
        );
        // `_created` is its own gauge family in this output, not part of the histogram.
        assert_eq!(
            expo.metadata_for("hello_world_latency_seconds_created")
                .map(|m| m.metric_type),
            Some(MetricType::Gauge)
        );
    }

    #[test]
    fn error_invalid_metric_name() {
        assert_err("ok 1\n1abc 2\n", 2, &["invalid metric name", "\"1abc\""]);
        assert_err("a-b 1\n", 1, &["invalid metric name", "\"a-b\""]);
        assert_err(
            "foo.bar{a=\"b\"} 1\n",
            1,
            &["invalid metric name", "\"foo.bar\""],
        );
        assert_err("\"quoted\" 1\n", 1, &["invalid metric name"]);
        assert_err("ok 1\n{a=\"b\"} 1\n", 2, &["missing metric name"]);
        assert_err(
            "# HELP 1x text\n",
            1,
            &["invalid metric name", "\"1x\"", "HELP"],
        );
        assert_err(
            "\n# TYPE a.b counter\n",
            2,
            &["invalid metric name", "\"a.b\"", "TYPE"],
        );
        assert_err("# HELP \n", 1, &["missing metric name", "HELP"]);
        assert_err("# TYPE  \t\n", 1, &["missing metric name", "TYPE"]);
    }

    #[test]
    fn error_invalid_label_name() {
        assert_err(
            "m{1a=\"b\"} 1\n",
            1,
            &["invalid label name", "\"1a\"", "\"m\""],
        );
        assert_err("m{a:b=\"c\"} 1\n", 1, &["invalid label name", "\"a:b\""]);
        assert_err(
            "x 1\n\nm{a=\"b\",c-d=\"e\"} 1\n",
            3,
            &["invalid label name", "\"c-d\""],
        );
        assert_err("m{=\"b\"} 1\n", 1, &["expected a label name", "\"m\""]);
        assert_err("m{,} 1\n", 1, &["expected a label name"]);
        assert_err("m{a=\"b\",,} 1\n", 1, &["expected a label name"]);
        assert_err("m{\"a\"=\"b\"} 1\n", 1, &["expected a label name"]);
    }

    #[test]
    fn error_label_syntax() {
        assert_err("m{a} 1\n", 1, &["expected \"=\"", "\"a\"", "\"m\""]);
        assert_err("m{a,b=\"c\"} 1\n", 1, &["expected \"=\"", "\"a\""]);
        assert_err("m{a\"b\"} 1\n", 1, &["expected \"=\"", "\"a\""]);
        assert_err("m{a=b} 1\n", 1, &["expected a quoted value", "\"a\""]);
        assert_err("m{a='b'} 1\n", 1, &["expected a quoted value", "\"a\""]);
        assert_err(
            "m{a=\"b\";c=\"d\"} 1\n",
            1,
            &["expected \",\" or \"}\"", "\"a\""],
        );
        assert_err(
            "m{a=\"b\"\n} 1\n",
            1,
            &["unterminated label block", "\"m\""],
        );
        assert_err("m{a=\"b\",", 1, &["unterminated label block"]);
        assert_err("m{", 1, &["unterminated label block"]);
    }

    #[test]
    fn error_unterminated_label_value() {
        assert_err(
            "m 1\nm{a=\"b} 1\n",
            2,
            &["unterminated label value", "\"a\"", "\"m\""],
        );
        // A raw newline cannot continue a value onto the next line.
        assert_err("m{a=\"b\nc\"} 1\n", 1, &["unterminated label value"]);
        assert_err("m{a=\"b\\\"} 1\n", 1, &["unterminated label value"]);
        assert_err("m{a=\"b\\", 1, &["unterminated label value"]);
        assert_err("m{a=\"", 1, &["unterminated label value"]);
    }

    #[test]
    fn error_missing_value() {
        assert_err("m\n", 1, &["missing value", "\"m\""]);
        assert_err("a 1\nm{a=\"b\"}\n", 2, &["missing value", "\"m\""]);
        assert_err("m{a=\"b\"}   \t\r\n", 1, &["missing value"]);
        assert_err("m", 1, &["missing value"]);
    }

    #[test]
    fn error_invalid_value() {
        let e = parse_err("m 1\n# c\nfoo abc\n");
        assert_eq!(
            e.to_string(),
            "line 3: invalid value \"abc\" for metric \"foo\""
        );
        for bad in [
            "true", "1_000", "0x1p-3", "0x1P-3", "0x10", "1e", "e5", ".", "-", "+", "--1", "1..2",
            "1e5.5", "+nan", "-NaN", "infin", "Infinit", "1,5", "1{", "1e400", "-1e400",
        ] {
            assert_err(
                &format!("m{{a=\"b\"}} {bad}\n"),
                1,
                &["invalid value", &format!("{bad:?}"), "\"m\""],
            );
        }
    }

    #[test]
    fn error_invalid_timestamp() {
        for bad in [
            "1.5",
            "12a",
            "1e3",
            "abc",
            "9223372036854775808",
            "--1",
            "-",
            "0x10",
        ] {
            assert_err(
                &format!("m 1 {bad}\n"),
                1,
                &["invalid timestamp", &format!("{bad:?}"), "\"m\""],
            );
        }
    }

    #[test]
    fn error_trailing_garbage() {
        assert_err("m 1 2 3\n", 1, &["after the timestamp", "\"3\"", "\"m\""]);
        assert_err(
            "ok 1\nm{a=\"b\"} 1 2 # comment\n",
            2,
            &["after the timestamp", "\"# comment\""],
        );
    }

    #[test]
    fn error_duplicate_label() {
        assert_err(
            "m{a=\"1\",b=\"2\",a=\"3\"} 1\n",
            1,
            &["duplicate label name", "\"a\"", "\"m\""],
        );
    }

    #[test]
    fn error_explicit_metric_name_label() {
        assert_err("m{__name__=\"other\"} 1\n", 1, &["__name__", "\"m\""]);
    }

    #[test]
    fn error_type_lines() {
        assert_err(
            "# TYPE m counters\n",
            1,
            &["invalid metric type", "\"counters\"", "\"m\""],
        );
        assert_err(
            "# TYPE m Counter\n",
            1,
            &["invalid metric type", "\"Counter\""],
        );
        assert_err("# TYPE m gaugehistogram\n", 1, &["invalid metric type"]);
        assert_err(
            "# TYPE m counter gauge\n",
            1,
            &["invalid metric type", "\"counter gauge\""],
        );
        assert_err("\n# TYPE m\n", 2, &["missing metric type", "\"m\""]);
        assert_err("# TYPE m \n", 1, &["missing metric type"]);
    }

    #[test]
    fn error_second_type_or_help() {
        assert_err(
            "# TYPE m counter\nm 1\n# TYPE m gauge\n",
            3,
            &["second TYPE line", "\"m\"", "line 1"],
        );
        assert_err(
            "# HELP m one\n# TYPE m counter\n# HELP m two\n",
            3,
            &["second HELP line", "\"m\"", "line 1"],
        );
        // The same type twice is still a second TYPE line.
        assert_err("# TYPE m gauge\n# TYPE m gauge\n", 2, &["second TYPE line"]);
    }

    #[test]
    fn first_error_aborts() {
        let e = parse_err("a 1\nb x\n# TYPE c bogus\nd{ 1\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("invalid value"), "{e}");
    }

    #[test]
    fn long_tokens_are_cut_in_messages() {
        let name = "x".repeat(1000);
        let e = parse_err(&format!("m {name}\n"));
        assert!(e.message.len() < 200, "{}", e.message);
        assert!(e.message.contains("..."));
    }

    #[test]
    fn metric_type_names() {
        let all = [
            (MetricType::Counter, "counter"),
            (MetricType::Gauge, "gauge"),
            (MetricType::Histogram, "histogram"),
            (MetricType::Summary, "summary"),
            (MetricType::Untyped, "untyped"),
        ];
        for (t, s) in all {
            assert_eq!(t.as_str(), s);
            assert_eq!(t.to_string(), s);
            let expo = parse_text(&format!("# TYPE m {s}\n")).map(|e| e.metadata[0].metric_type);
            assert_eq!(expo, Ok(t));
        }
    }

    #[test]
    fn written_output_parses_back() {
        let values = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1.0 / 3.0,
            0.1 + 0.2,
            1.7e9,
            9_007_199_254_740_992.0,
            9_007_199_254_740_994.0,
            1e21,
            1e-7,
            -2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let label_values = [
            "",
            "plain",
            "a\\b",
            "say \"hi\"",
            "two\nlines",
            "\\n literal",
            "日本",
        ];
        let help = "Help with \\ and\nnewline and \"quotes\".";
        let mut text = format!("# HELP m {}\n# TYPE m gauge\n", escape_help(help));
        for (i, v) in values.iter().enumerate() {
            let lv = label_values[i % label_values.len()];
            text.push_str(&format!(
                "m{{i=\"{i}\",v=\"{}\"}} {} {}\n",
                escape_label_value(lv),
                format_value(*v),
                -(i as i64) * 1000
            ));
        }
        let expo = parse(&text);
        assert_eq!(
            expo.metadata_for("m").and_then(|m| m.help.as_deref()),
            Some(help)
        );
        assert_eq!(expo.samples.len(), values.len());
        for (i, (s, v)) in expo.samples.iter().zip(values).enumerate() {
            if v.is_nan() {
                assert!(s.value.is_nan());
            } else {
                assert_eq!(s.value.to_bits(), v.to_bits(), "value {i}: {v}");
            }
            assert_eq!(s.labels[1].1, label_values[i % label_values.len()]);
            assert_eq!(s.timestamp_ms, Some(-(i as i64) * 1000));
        }
    }

    #[test]
    fn many_series_parse_quickly_and_correctly() {
        let mut text = String::from("# HELP big A big family.\n# TYPE big counter\n");
        for i in 0..20_000 {
            text.push_str(&format!(
                "big{{instance=\"host-{i}:9100\",job=\"node\",mode=\"idle\",cpu=\"{}\"}} {}.25 1700000000{:03}\n",
                i % 64,
                i,
                i % 1000
            ));
        }
        let expo = parse(&text);
        assert_eq!(expo.samples.len(), 20_000);
        let last = &expo.samples[19_999];
        assert_eq!(last.value, 19_999.25);
        assert_eq!(last.line, 20_002);
        assert_eq!(last.labels.len(), 4);
        assert_eq!(last.labels[0].1, "host-19999:9100");
        assert_eq!(last.timestamp_ms, Some(1_700_000_000_999));
    }
}
