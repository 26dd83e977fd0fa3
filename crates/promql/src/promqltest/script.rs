//! Parsing of test scripts into commands, following Prometheus's `promql/promqltest/test.go`
//! line by line: the same command patterns, the same block structure (a block ends at an empty
//! or comment line), the same expectation forms. Where Prometheus rejects the whole file on a
//! malformed block, this parser records the block as [`Command::Invalid`] and goes on, so one bad
//! block costs one case, not the file.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use narthex_model::duration::parse_duration;
use narthex_model::Labels;
use regex::Regex;

use crate::series_notation::{self, SequenceValue};

// The command patterns of test.go, verbatim: Rust's regex and Go's RE2 agree on leftmost-first
// matching, so captures split lines the same way (`from` greedy, `at` and `step` lazy).
static PAT_LOAD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").expect("static regex"));
static PAT_EVAL_INSTANT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
        .expect("static regex")
});
static PAT_EVAL_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
    )
    .expect("static regex")
});
static PAT_EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
        .expect("static regex")
});
static PAT_EXPECT_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
        .expect("static regex")
});
/// What an `expect <type>` without `msg:`/`regex:` matches; as in Go, `.` stops at newlines.
static PAT_MATCH_ANY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^.*$").expect("static regex"));

const RANGE_VECTOR_PREFIX: &str = "expect range vector";
const EXPECT_STRING_PREFIX: &str = "expect string";

#[derive(Debug)]
pub(crate) enum Command {
    Load(LoadCmd),
    Clear,
    Eval(Box<EvalCmd>),
    /// A block that does not parse: reported as a failed case at `line`.
    Invalid {
        line: usize,
        text: String,
        message: String,
    },
}

#[derive(Debug)]
pub(crate) struct LoadCmd {
    pub line: usize,
    /// Milliseconds between the points of each series.
    pub interval: i64,
    /// `load_with_nhcb`: classic histograms are also loaded as native histograms with custom
    /// buckets, which Narthex cannot store.
    pub with_nhcb: bool,
    /// In the order first defined; a later line for the same labels replaces the earlier one,
    /// as test.go keys its definitions by label hash.
    pub series: Vec<LoadSeries>,
}

#[derive(Debug)]
pub(crate) struct LoadSeries {
    pub labels: Labels,
    pub values: Vec<SequenceValue>,
    /// Defined with start timestamps (`@st` lines), which Narthex does not store.
    pub start_timestamps: bool,
}

/// An `expect warn|info|fail` matcher: an exact message or a regular expression.
#[derive(Clone, Debug)]
pub(crate) enum ExpectMatch {
    /// `msg: <text>`.
    Message(String),
    /// `regex: <pattern>`.
    Pattern(Regex),
    /// No `msg:` or `regex:`: test.go's `^.*$`.
    Any,
}

impl ExpectMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            ExpectMatch::Message(m) => m == text,
            // Unanchored, like Go's MatchString.
            ExpectMatch::Pattern(re) => re.is_match(text),
            ExpectMatch::Any => PAT_MATCH_ANY.is_match(text),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ExpectMatch::Message(_) => "message",
            ExpectMatch::Pattern(_) | ExpectMatch::Any => "pattern",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            ExpectMatch::Message(m) => m,
            ExpectMatch::Pattern(re) => re.as_str(),
            ExpectMatch::Any => PAT_MATCH_ANY.as_str(),
        }
    }
}

/// The `expect` lines of an eval, by type.
#[derive(Debug, Default)]
pub(crate) struct Expects {
    pub fail: Vec<ExpectMatch>,
    pub warn: Vec<ExpectMatch>,
    pub info: Vec<ExpectMatch>,
    pub no_warn: usize,
    pub no_info: usize,
    pub ordered: usize,
}

/// Expected values of one series, with its 1-based position among the expectation lines (for
/// `ordered`).
#[derive(Clone, Debug)]
pub(crate) struct Expected {
    pub pos: usize,
    pub values: Vec<SequenceValue>,
}

#[derive(Debug)]
pub(crate) struct EvalCmd {
    pub line: usize,
    pub expr: String,
    /// `Some((start, end, step))` for `eval range`.
    pub range: Option<(i64, i64, i64)>,
    /// The instant query's evaluation time (the end of an `expect range vector`).
    pub eval_time: i64,
    /// The timeline that matrix expectations are laid out on: the range query's, or that of
    /// `expect range vector`. `end` is `None` for an instant query without the latter, where
    /// no matrix value can be expected.
    pub start: i64,
    pub end: Option<i64>,
    pub step: i64,
    /// The deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered`.
    pub legacy_fail: bool,
    pub legacy_warn: bool,
    pub legacy_info: bool,
    pub legacy_ordered: bool,
    pub expected_fail_message: Option<String>,
    pub expected_fail_regexp: Option<Regex>,
    pub expects: Expects,
    /// The expectation is a bare number (a scalar result).
    pub expect_scalar: bool,
    pub scalar: Option<Expected>,
    pub metrics: BTreeMap<Labels, Expected>,
    /// `expect string`; an unset expectation is the empty string, as in test.go.
    pub expected_string: String,
    /// `expect string` or `expect range vector`: the result is not an instant vector or
    /// scalar, so the range-mode cross-check does not apply.
    pub exclude_from_range_query: bool,
    /// Some expected value is a native histogram.
    pub expects_histograms: bool,
}

impl EvalCmd {
    pub fn is_fail(&self) -> bool {
        self.legacy_fail || !self.expects.fail.is_empty()
    }

    /// Whether the expected error is spelled out (`expect fail msg:`/`regex:`,
    /// `expected_fail_message`, `expected_fail_regexp`), not just any error.
    pub fn names_expected_error(&self) -> bool {
        self.expected_fail_message
            .as_ref()
            .is_some_and(|m| !m.is_empty())
            || self.expected_fail_regexp.is_some()
            || self
                .expects
                .fail
                .first()
                .is_some_and(|e| !matches!(e, ExpectMatch::Any))
    }

    pub fn is_ordered(&self) -> bool {
        self.legacy_ordered || self.expects.ordered > 0
    }
}

/// Splits a script into commands. `lines` are numbered from 1.
pub(crate) fn parse_script(input: &str) -> Vec<Command> {
    // test.go trims every line and blanks out comment lines, which therefore end blocks.
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line.split([' ', '\t']).next().unwrap_or("").to_lowercase();
        let parsed = if word == "clear" {
            Ok((i, Command::Clear))
        } else if word.starts_with("load") {
            parse_load(&lines, i)
        } else if word.starts_with("eval") {
            parse_eval(&lines, i).map(|(i, cmd)| (i, Command::Eval(Box::new(cmd))))
        } else {
            Err((i, format!("invalid command {line:?}")))
        };
        match parsed {
            Ok((last, command)) => {
                commands.push(command);
                i = last + 1;
            }
            Err((at, message)) => {
                // Reported at the command's line (a case is known by its eval line), naming
                // the offending line of the block.
                let message = if at == i {
                    message
                } else {
                    format!("line {}: {message}", at + 1)
                };
                commands.push(Command::Invalid {
                    line: i + 1,
                    text: line.to_string(),
                    message,
                });
                // Skip the rest of the block, so its lines are not read as commands.
                i += 1;
                while i < lines.len() && !lines[i].is_empty() {
                    i += 1;
                }
            }
        }
    }
    commands
}

type Parsed<T> = Result<(usize, T), (usize, String)>;

fn parse_load(lines: &[&str], start: usize) -> Parsed<Command> {
    let Some(caps) = PAT_LOAD.captures(lines[start]) else {
        return Err((
            start,
            "invalid load command. (load[_with_nhcb] <step:duration>)".into(),
        ));
    };
    let step = caps.get(2).map_or("", |m| m.as_str());
    let interval = parse_duration(step)
        .map_err(|e| (start, format!("invalid step definition {step:?}: {e}")))?;
    let mut cmd = LoadCmd {
        line: start + 1,
        interval,
        with_nhcb: caps.get(1).is_some(),
        series: Vec::new(),
    };
    let mut index: BTreeMap<Labels, usize> = BTreeMap::new();
    // A standalone `@st` line gives every later series of the block start timestamps.
    let mut default_st = false;
    let mut pending_st: Option<(usize, Labels)> = None;
    let mut i = start;
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let line = lines[i];
        if let Some((metric, _sequence)) = split_st_line(line) {
            if let Some((st_line, _)) = &pending_st {
                return Err((*st_line, "@st line has no following sample line".into()));
            }
            if metric.is_empty() {
                default_st = true;
                continue;
            }
            let labels = series_notation::parse_metric(metric)
                .map_err(|e| (i, format!("invalid @st line metric {metric:?}: {e}")))?;
            pending_st = Some((i, labels));
            continue;
        }
        let desc = series_notation::parse_series_description(line)
            .map_err(|e| (i, format!("column {}: {}", e.column, e.message)))?;
        let mut start_timestamps = default_st;
        if let Some((st_line, labels)) = pending_st.take() {
            if labels != desc.labels {
                return Err((
                    st_line,
                    "@st metric does not match the following sample line metric".into(),
                ));
            }
            start_timestamps = true;
        }
        let series = LoadSeries {
            labels: desc.labels.clone(),
            values: desc.values,
            start_timestamps,
        };
        match index.get(&desc.labels) {
            Some(&at) => cmd.series[at] = series,
            None => {
                index.insert(desc.labels, cmd.series.len());
                cmd.series.push(series);
            }
        }
    }
    if let Some((st_line, _)) = pending_st {
        return Err((st_line, "@st line has no following sample line".into()));
    }
    Ok((i, Command::Load(cmd)))
}

/// `metric{...}@st <sequence>` or `@st <sequence>`: the metric part (possibly empty) and the
/// sequence, when the first whitespace-separated word ends in `@st`.
fn split_st_line(line: &str) -> Option<(&str, &str)> {
    let space = line.find([' ', '\t'])?;
    let metric = line[..space].strip_suffix("@st")?;
    Some((metric, line[space + 1..].trim()))
}

fn parse_eval(lines: &[&str], start: usize) -> Parsed<EvalCmd> {
    let line = lines[start];
    let instant = PAT_EVAL_INSTANT.captures(line);
    let range = PAT_EVAL_RANGE.captures(line);
    let group =
        |caps: &regex::Captures, n: usize| caps.get(n).map_or("", |m| m.as_str()).to_string();
    let (modifier, expr) = match (&instant, &range) {
        (Some(c), _) => (group(c, 1), group(c, 3)),
        (None, Some(c)) => (group(c, 1), group(c, 5)),
        (None, None) => {
            return Err((
                start,
                "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'".into(),
            ))
        }
    };
    let context = |message: String| {
        (
            start,
            format!("error in eval {expr} (line {}): {message}", start + 1),
        )
    };
    let mut cmd = EvalCmd {
        line: start + 1,
        expr: expr.clone(),
        range: None,
        eval_time: 0,
        start: 0,
        end: None,
        step: 0,
        legacy_fail: modifier == "fail",
        legacy_warn: modifier == "warn",
        legacy_info: modifier == "info",
        legacy_ordered: modifier == "ordered",
        expected_fail_message: None,
        expected_fail_regexp: None,
        expects: Expects::default(),
        expect_scalar: false,
        scalar: None,
        metrics: BTreeMap::new(),
        expected_string: String::new(),
        exclude_from_range_query: false,
        expects_histograms: false,
    };
    let is_instant = instant.is_some();
    if let Some(c) = &instant {
        let at = group(c, 2);
        let t = parse_duration(&at)
            .map_err(|e| context(format!("invalid timestamp definition {at:?}: {e}")))?;
        cmd.eval_time = t;
        cmd.start = t;
    } else if let Some(c) = &range {
        let (from, to, step) =
            parse_durations(&group(c, 2), &group(c, 3), &group(c, 4)).map_err(context)?;
        cmd.range = Some((from, to, step));
        cmd.start = from;
        cmd.end = Some(to);
        cmd.step = step;
    }

    let mut expect_range_vector = false;
    // The position the next series line gets (test.go's `j`): expect lines do not count,
    // `expect range vector` and `expect string` lines do.
    let mut pos = 1;
    let mut i = start;
    while i + 1 < lines.len() && !lines[i + 1].is_empty() {
        i += 1;
        let def = lines[i];
        if cmd.legacy_fail {
            if let Some(rest) = def.strip_prefix("expected_fail_message") {
                cmd.expected_fail_message = Some(rest.trim().to_string());
                break;
            }
            if let Some(rest) = def.strip_prefix("expected_fail_regexp") {
                let pattern = rest.trim();
                let re = Regex::new(pattern).map_err(|e| {
                    context(format!(
                        "invalid regexp '{pattern}' for expected_fail_regexp: {e}"
                    ))
                })?;
                cmd.expected_fail_regexp = Some(re);
                break;
            }
        }
        if def.starts_with(RANGE_VECTOR_PREFIX) {
            let (from, to, step) = parse_expect_range_vector(def).map_err(context)?;
            expect_range_vector = true;
            cmd.start = from;
            cmd.end = Some(to);
            cmd.step = step;
            cmd.eval_time = to;
            cmd.exclude_from_range_query = true;
            pos += 1;
            continue;
        }
        if def.starts_with(EXPECT_STRING_PREFIX) {
            cmd.expected_string = parse_expect_string(def).map_err(context)?;
            cmd.exclude_from_range_query = true;
            pos += 1;
            continue;
        }
        // Only a space separates `expect` here, so a metric named `expect{}` still works.
        if def.split(' ').next() == Some("expect") {
            parse_expect(def, &mut cmd.expects).map_err(context)?;
            continue;
        }
        if let Some(v) = series_notation::parse_go_number(def) {
            cmd.expect_scalar = true;
            cmd.scalar = Some(Expected {
                pos: 0,
                values: vec![SequenceValue::Float(v)],
            });
            break;
        }
        let desc = series_notation::parse_series_description(def)
            .map_err(|e| (i, format!("column {}: {}", e.column, e.message)))?;
        if desc.values.len() > 1 && is_instant && !expect_range_vector {
            return Err(context("expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into()));
        }
        cmd.expects_histograms |= desc.has_histograms();
        cmd.expect_scalar = false;
        cmd.metrics.insert(
            desc.labels,
            Expected {
                pos,
                values: desc.values,
            },
        );
        pos += 1;
    }
    Ok((i, cmd))
}

fn parse_durations(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let from_ms = parse_duration(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let to_ms =
        parse_duration(to).map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if to_ms < from_ms {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step_ms =
        parse_duration(step).map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((from_ms, to_ms, step_ms))
}

fn parse_expect_range_vector(line: &str) -> Result<(i64, i64, i64), String> {
    let caps = PAT_EXPECT_RANGE
        .captures(line)
        .ok_or_else(|| format!("invalid range vector definition {line:?}"))?;
    let group = |n: usize| caps.get(n).map_or("", |m| m.as_str());
    parse_durations(group(1), group(2), group(3))
}

fn parse_expect_string(line: &str) -> Result<String, String> {
    const MISSING: &str = "expected string literal not valid - a quoted string literal is required";
    if line == EXPECT_STRING_PREFIX {
        return Err(MISSING.into());
    }
    let literal = line
        .strip_prefix(&format!("{EXPECT_STRING_PREFIX} "))
        .unwrap_or(line);
    if literal.is_empty() {
        return Err(MISSING.into());
    }
    series_notation::unquote(literal).map_err(|_| {
        "expected string literal not valid - check that the string is correctly quoted".into()
    })
}

fn parse_expect(line: &str, expects: &mut Expects) -> Result<(), String> {
    let caps = PAT_EXPECT.captures(line.trim()).ok_or(
        "invalid expect statement, must match `expect <type> <match_type>: <string>` format",
    )?;
    let kind = caps.get(1).map_or("", |m| m.as_str());
    let matcher = match caps.get(2).map(|m| m.as_str()) {
        Some("msg") => ExpectMatch::Message(caps.get(3).map_or("", |m| m.as_str()).trim().into()),
        Some(_) => {
            let pattern = caps.get(3).map_or("", |m| m.as_str()).trim();
            ExpectMatch::Pattern(
                Regex::new(pattern).map_err(|_| format!("invalid regex {pattern} for {kind}"))?,
            )
        }
        None => ExpectMatch::Any,
    };
    match kind {
        "fail" => expects.fail.push(matcher),
        "warn" => expects.warn.push(matcher),
        "info" => expects.info.push(matcher),
        "no_warn" => expects.no_warn += 1,
        "no_info" => expects.no_info += 1,
        _ => expects.ordered += 1,
    }
    if !expects.info.is_empty() && expects.no_info > 0 {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if !expects.warn.is_empty() && expects.no_warn > 0 {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if expects.fail.len() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evals(input: &str) -> Vec<EvalCmd> {
        parse_script(input)
            .into_iter()
            .map(|c| match c {
                Command::Eval(e) => *e,
                other => panic!("not an eval: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn blocks_and_comments() {
        let script = "# header\nload 1m\n  a{x=\"1\"} 1 2 3\n  b 0+1x2\n  a{x=\"1\"} 9\n\n\
            CLEAR\nload 30s\n\tc _ 1\n# comment ends nothing here\neval instant at 1m a\n  a{x=\"1\"} 9\n";
        let commands = parse_script(script);
        assert_eq!(commands.len(), 4, "{commands:?}");
        let Command::Load(load) = &commands[0] else {
            panic!()
        };
        assert_eq!(load.line, 2);
        assert_eq!(load.interval, 60_000);
        // The second definition of a{x="1"} replaces the first, in the first one's place.
        assert_eq!(load.series.len(), 2);
        assert_eq!(load.series[0].values, [SequenceValue::Float(9.0)]);
        assert!(matches!(commands[1], Command::Clear));
        let Command::Load(load) = &commands[2] else {
            panic!()
        };
        assert_eq!(load.interval, 30_000);
        let Command::Eval(eval) = &commands[3] else {
            panic!()
        };
        assert_eq!(eval.line, 11);
        assert_eq!(eval.eval_time, 60_000);
    }

    #[test]
    fn eval_lines() {
        let e = &evals("eval instant at 1h30m sum by (job) (rate(x[5m]))")[0];
        assert_eq!(e.expr, "sum by (job) (rate(x[5m]))");
        assert_eq!(e.eval_time, 5_400_000);
        assert!(e.range.is_none() && e.end.is_none());

        let e = &evals("eval range from 0 to 10m step 30s  foo  to  bar")[0];
        assert_eq!(e.range, Some((0, 600_000, 30_000)));
        assert_eq!(e.expr, "foo  to  bar");

        let e = &evals("eval_ordered instant at 0 topk(3, x)\n x{a=\"1\"} 1\n x{a=\"2\"} 2")[0];
        assert!(e.is_ordered());
        let positions: Vec<usize> = e.metrics.values().map(|x| x.pos).collect();
        assert_eq!(positions, [1, 2]);

        let e = &evals("eval_fail instant at 0 x\n expected_fail_message  boom: it broke ")[0];
        assert!(e.is_fail());
        assert_eq!(e.expected_fail_message.as_deref(), Some("boom: it broke"));
    }

    #[test]
    fn expect_lines() {
        // warn and no_warn together are rejected.
        let commands = parse_script("eval instant at 1m x\n  expect warn\n  x 1\n  expect no_warn");
        assert!(
            matches!(&commands[0], Command::Invalid { line: 1, message, .. } if message.contains("warn and no_warn"))
        );
        let commands = parse_script(
            "eval instant at 1m x\n  expect warn msg: PromQL warning: bad (1:1)\n  expect info regex: a|b\n  expect ordered\n  expect fail\n  x 1",
        );
        let Command::Eval(e) = &commands[0] else {
            panic!("{commands:?}")
        };
        assert!(e.expects.warn[0].matches("PromQL warning: bad (1:1)"));
        assert!(!e.expects.warn[0].matches("PromQL warning: bad"));
        assert!(e.expects.info[0].matches("xxbxx"));
        assert_eq!(e.expects.ordered, 1);
        assert!(e.is_fail() && e.is_ordered());
        // Expect lines do not take positions.
        assert_eq!(e.metrics.values().next().map(|x| x.pos), Some(1));

        let commands = parse_script("eval instant at 1m x\n  expect warn msg:\n\neval instant at 1m y\n  expect fail\n  expect fail");
        assert!(
            matches!(&commands[0], Command::Invalid { line: 1, .. }),
            "{commands:?}"
        );
        assert!(
            matches!(&commands[1], Command::Invalid { line: 4, message, .. } if message.contains("multiple expect fail"))
        );
    }

    #[test]
    fn scalar_string_and_range_vector_expectations() {
        let e = &evals("eval instant at 0 1 + 1\n  2")[0];
        assert!(e.expect_scalar);
        assert_eq!(
            e.scalar.as_ref().map(|s| s.values.clone()),
            Some(vec![SequenceValue::Float(2.0)])
        );
        let e = &evals("eval instant at 0 1\n  -Inf")[0];
        assert_eq!(
            e.scalar.as_ref().map(|s| s.values.clone()),
            Some(vec![SequenceValue::Float(f64::NEG_INFINITY)])
        );

        let e = &evals("eval instant at 50m \" Foo \"\n    expect string \" Foo \"")[0];
        assert_eq!(e.expected_string, " Foo ");
        assert!(e.exclude_from_range_query);
        let e = &evals("eval instant at 50m ``\n    expect string ``")[0];
        assert_eq!(e.expected_string, "");

        let e = &evals("eval instant at 5m m[1m]\n  expect range vector from 10s to 1m step 10s\n  m{env=\"a\"} 2 3 4 5 6")[0];
        assert_eq!(
            (e.start, e.end, e.step, e.eval_time),
            (10_000, Some(60_000), 10_000, 60_000)
        );
        assert_eq!(
            e.metrics.values().next().map(|x| (x.pos, x.values.len())),
            Some((2, 5))
        );

        // Several values in an instant expectation need `expect range vector`.
        let commands = parse_script("eval instant at 0 m\n  m 1 2");
        assert!(matches!(&commands[0], Command::Invalid { line: 1, .. }));
    }

    #[test]
    fn load_variants() {
        let commands = parse_script(
            "load_with_nhcb 5m\n  h_bucket{le=\"1\"} 0+1x2\n\nload 1m\n  m{a=\"b\"}@st _ -30s-1mx2\n  m{a=\"b\"} _ 1 2 3\n  n 1\n  @st 0s\n  o 1 {{count:1}}",
        );
        let Command::Load(nhcb) = &commands[0] else {
            panic!("{commands:?}")
        };
        assert!(nhcb.with_nhcb);
        let Command::Load(st) = &commands[1] else {
            panic!("{commands:?}")
        };
        let flags: Vec<bool> = st.series.iter().map(|s| s.start_timestamps).collect();
        assert_eq!(flags, [true, false, true]);

        let commands = parse_script("load 1m\n  m 1\n  oops{ 1\n  n 2\n\neval instant at 0 m\n");
        assert!(
            matches!(&commands[0], Command::Invalid { line: 1, message, .. } if message.starts_with("line 3: column 7: unexpected character '1' in label set")),
            "{commands:?}"
        );
        assert!(matches!(&commands[1], Command::Eval(_)));

        let commands = parse_script("load 1x\n m 1\nbogus\n");
        assert!(
            matches!(&commands[0], Command::Invalid { line: 1, .. }),
            "{commands:?}"
        );
        assert_eq!(commands.len(), 1);
        let commands = parse_script("bogus command\n");
        assert!(
            matches!(&commands[0], Command::Invalid { line: 1, message, .. } if message.contains("invalid command"))
        );
    }
}
