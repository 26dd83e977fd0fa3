//! Rule unit tests, as `promtool test rules FILE...` (Prometheus's `cmd/promtool/unittest.go`):
//! a test file names rule files and gives test groups of input series in the expanding notation,
//! expected alerts at some times and expected PromQL results. The rule groups are evaluated from
//! time 0 to the latest `eval_time` at the `evaluation_interval`, input samples being loaded up
//! to each evaluation time first, exactly as promtool's loop; alerts are compared right after
//! the evaluation at or before their `eval_time` (firing ones only, as promtool), PromQL
//! expressions after the last evaluation. Failures are printed in promtool's words, so that
//! users of promtool recognise them.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use narthex_config::Duration;
use narthex_model::memory::MemoryStorage;
use narthex_model::{Labels, Sample, Storage};
use narthex_promql::series_notation::{parse_metric, parse_series_description};
use narthex_promql::{Engine, EngineOptions};
use serde::Deserialize;

use crate::eval::{EvalContext, QueryOutput, TemplateExpander};
use crate::file::{ReadOptions, RuleFile, RuleFileError};
use crate::group::{Group, GroupOptions};
use crate::manager::file_groups;
use crate::rule::{AlertState, Health, Rule, ALERT_NAME_LABEL};

/// promtool's default `evaluation_interval`.
const DEFAULT_EVALUATION_INTERVAL_MS: i64 = 60_000;

/// The query engine of promtool's test suite (`promql.LazyLoader`): Prometheus's default
/// lookback, at most 10,000 samples per query and a 100 s timeout.
const LOOKBACK_DELTA_MS: i64 = 5 * 60_000;
const MAX_SAMPLES: usize = 10_000;
const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(100);

/// Runs the rule unit tests of each file and prints promtool's report to `out` (`Unit Testing:`,
/// then `SUCCESS` or `FAILED:` and every failure); true when every file passed. `read` holds the
/// PromQL feature flags and the template checker the rule files are read with, `templates`
/// expands alert labels and annotations.
pub fn run_rule_tests(
    paths: &[PathBuf],
    read: ReadOptions,
    templates: &dyn TemplateExpander,
    out: &mut dyn Write,
) -> bool {
    let mut passed = true;
    for path in paths {
        // promtool prints the two operands of Println, hence the double space.
        let _ = writeln!(out, "Unit Testing:  {}", path.display());
        let errors = test_file(path, read, templates, out);
        if errors.is_empty() {
            let _ = writeln!(out, "  SUCCESS");
        } else {
            passed = false;
            let _ = writeln!(out, "  FAILED:");
            for error in &errors {
                let _ = writeln!(out, "{error}\n");
            }
        }
        let _ = writeln!(out);
    }
    passed
}

/// Why a test file failed; each displays as promtool prints it.
#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("open {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Yaml(String),
    #[error("{0}")]
    RuleFile(#[from] RuleFileError),
    #[error("group name repeated in evaluation order: {0}")]
    RepeatedGroup(String),
    #[error("evaluation_interval must be positive")]
    Interval,
    #[error("input series {series:?}: {message}")]
    InputSeries { series: String, message: String },
    #[error("{0}")]
    Load(String),
    #[error("an item under alert_rule_test misses required attribute alertname at eval_time {eval_time}{}",
        test_group_suffix(.test_group))]
    MissingAlertname {
        eval_time: Duration,
        test_group: String,
    },
    #[error("    rule: {rule}, time: {}, err: {error}", go_duration(*.ts))]
    RuleEval {
        rule: String,
        ts: i64,
        error: String,
    },
    #[error("{}    alertname: {alertname}, time: {eval_time}, \n        exp:{exp}, \n        got:{got}",
        test_name_line(.test_group))]
    Alerts {
        test_group: String,
        alertname: String,
        eval_time: Duration,
        exp: String,
        got: String,
    },
    #[error("    expr: {}, time: {eval_time}, err: {error}", go_quote(.expr))]
    Query {
        expr: String,
        eval_time: Duration,
        error: String,
    },
    #[error("    expr: {}, time: {eval_time}, err: labels {}: {error}", go_quote(.expr), go_quote(.labels))]
    ExpectedLabels {
        expr: String,
        eval_time: Duration,
        labels: String,
        error: String,
    },
    #[error("    expr: {}, time: {eval_time},\n        exp: {exp}\n        got: {got}", go_quote(.expr))]
    Samples {
        expr: String,
        eval_time: Duration,
        exp: String,
        got: String,
    },
}

fn test_group_suffix(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" (in TestGroup {name})")
    }
}

fn test_name_line(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("    name: {name},\n")
    }
}

/// A test file as written; unknown fields are errors, as promtool reads it strictly.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<Duration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    /// Between two input values; the `evaluation_interval` when unset, as documented.
    #[serde(default)]
    interval: Option<Duration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTestCase>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    #[serde(default)]
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct AlertTestCase {
    #[serde(default = "zero")]
    eval_time: Duration,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTestCase {
    #[serde(default)]
    expr: String,
    #[serde(default = "zero")]
    eval_time: Duration,
    #[serde(default)]
    exp_samples: Vec<ExpectedSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
}

fn zero() -> Duration {
    Duration(0)
}

/// One test file: its failures, none when it passed. Warnings (a rule file pattern matching
/// nothing) go to `out` as promtool prints them.
fn test_file(
    path: &Path,
    read: ReadOptions,
    templates: &dyn TemplateExpander,
    out: &mut dyn Write,
) -> Vec<TestError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            return vec![TestError::Read {
                path: path.display().to_string(),
                source,
            }]
        }
    };
    // An empty document is a file without tests, as Go's YAML reads it.
    let file: TestFile = if text.trim().is_empty() {
        TestFile::default()
    } else {
        match serde_yaml::from_str(&text) {
            Ok(file) => file,
            Err(e) => return vec![TestError::Yaml(e.to_string())],
        }
    };
    let base = path.parent().unwrap_or(Path::new(""));
    let rule_files = match resolve_rule_files(base, &file.rule_files, out) {
        Ok(files) => files,
        Err(e) => return vec![e],
    };
    let eval_interval = match file.evaluation_interval.map(|d| d.as_millis()) {
        None | Some(0) => DEFAULT_EVALUATION_INTERVAL_MS,
        // promtool would loop forever; a clear error instead.
        Some(ms) if ms < 0 => return vec![TestError::Interval],
        Some(ms) => ms,
    };
    let mut group_order = HashMap::new();
    for (i, name) in file.group_eval_order.iter().enumerate() {
        if group_order.insert(name.as_str(), i).is_some() {
            return vec![TestError::RepeatedGroup(name.clone())];
        }
    }
    let settings = Settings {
        eval_interval,
        group_order: &group_order,
        rule_files: &rule_files,
        read,
        templates,
    };
    file.tests
        .iter()
        .flat_map(|test| run_test_group(test, &settings))
        .collect()
}

/// `rule_files` relative to the test file's directory, globs expanded (in name order), each file
/// once; a pattern matching nothing is a warning, as in promtool.
fn resolve_rule_files(
    base: &Path,
    patterns: &[String],
    out: &mut dyn Write,
) -> Result<Vec<PathBuf>, TestError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let full = if pattern.is_empty() || Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let full = full.display().to_string();
        let pattern_error = |message: String| {
            TestError::RuleFile(RuleFileError::Pattern {
                pattern: full.clone(),
                message,
            })
        };
        let matches = glob::glob(&full).map_err(|e| pattern_error(e.to_string()))?;
        let mut found = false;
        for entry in matches {
            let entry = entry.map_err(|e| pattern_error(e.to_string()))?;
            found = true;
            if !files.contains(&entry) {
                files.push(entry);
            }
        }
        if !found {
            let _ = writeln!(out, "  WARNING: no file match pattern {full}");
        }
    }
    Ok(files)
}

/// What every test group of a file shares.
struct Settings<'a> {
    eval_interval: i64,
    group_order: &'a HashMap<&'a str, usize>,
    rule_files: &'a [PathBuf],
    read: ReadOptions,
    templates: &'a dyn TemplateExpander,
}

/// The input series of a test group, appended to the storage as evaluation time advances
/// (promtool's lazy loader), so rules never see samples of their future.
struct Input {
    series: Vec<(Labels, Vec<Sample>)>,
    /// Per series, how many samples are already in the storage.
    loaded: Vec<usize>,
}

impl Input {
    fn parse(test: &TestGroup, interval: i64) -> Result<Input, TestError> {
        let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for input in &test.input_series {
            // The series and its values form one line of the test language's `load`.
            let line = format!("{} {}", input.series, input.values);
            let error = |message: String| TestError::InputSeries {
                series: input.series.clone(),
                message,
            };
            let description = parse_series_description(&line).map_err(|e| error(e.to_string()))?;
            if description.has_histograms() {
                return Err(error("native histogram samples are not supported".into()));
            }
            let samples = description.float_samples(0, interval);
            // A series given twice: the last definition wins, as in the lazy loader.
            match index.get(&description.labels) {
                Some(&i) => series[i].1 = samples,
                None => {
                    index.insert(description.labels.clone(), series.len());
                    series.push((description.labels, samples));
                }
            }
        }
        let loaded = vec![0; series.len()];
        Ok(Input { series, loaded })
    }

    /// Appends every sample at or before `ts` not appended yet.
    fn load_till(&mut self, storage: &dyn Storage, ts: i64) -> Result<(), String> {
        let mut appender = storage.appender();
        for ((labels, samples), loaded) in self.series.iter().zip(self.loaded.iter_mut()) {
            while let Some(sample) = samples.get(*loaded).filter(|s| s.t <= ts) {
                appender
                    .append(labels, sample.t, sample.v)
                    .map_err(|e| e.to_string())?;
                *loaded += 1;
            }
        }
        appender.commit().map_err(|e| e.to_string())
    }
}

/// One test group: fresh storage and freshly loaded rule groups, evaluated step by step.
fn run_test_group(test: &TestGroup, settings: &Settings<'_>) -> Vec<TestError> {
    let interval = match test.interval.map(|d| d.as_millis()) {
        Some(ms) if ms > 0 => ms,
        _ => settings.eval_interval,
    };
    let mut input = match Input::parse(test, interval) {
        Ok(input) => input,
        Err(e) => return vec![e],
    };
    let mut groups = match load_rule_groups(settings, interval) {
        Ok(groups) => groups,
        Err(e) => return vec![e],
    };

    // The alert checks by time, in file order within one time.
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTestCase>> = BTreeMap::new();
    for case in &test.alert_rule_test {
        if case.alertname.is_empty() {
            return vec![TestError::MissingAlertname {
                eval_time: case.eval_time,
                test_group: test.name.clone(),
            }];
        }
        alert_tests
            .entry(case.eval_time.as_millis())
            .or_default()
            .push(case);
    }
    let max_time = test
        .alert_rule_test
        .iter()
        .map(|c| c.eval_time.as_millis())
        .chain(
            test.promql_expr_test
                .iter()
                .map(|c| c.eval_time.as_millis()),
        )
        .max()
        .unwrap_or(0);

    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: LOOKBACK_DELTA_MS,
        experimental_functions: settings.read.parse.experimental_functions,
        max_samples: MAX_SAMPLES,
        timeout: Some(QUERY_TIMEOUT),
        // promtool sets the suite's subquery interval to the evaluation interval.
        default_subquery_step_ms: settings.eval_interval,
        // promtool's default (its `--enable-feature=promql-delayed-name-removal` is off).
        delayed_name_removal: false,
    });
    let storage = MemoryStorage::new();
    let external_labels = Labels::from_pairs(test.external_labels.clone());
    let ctx = EvalContext {
        engine: &engine,
        storage: &storage,
        external_labels: &external_labels,
        external_url: &test.external_url,
        templates: settings.templates,
    };
    let options = GroupOptions::default();
    let notify = |_| {};

    let mut errors = Vec::new();
    let mut pending_checks = alert_tests.iter().peekable();
    let mut ts = 0;
    while ts <= max_time {
        if let Err(error) = input.load_till(&storage, ts) {
            errors.push(TestError::Load(error));
            return errors;
        }
        let mut eval_errors = Vec::new();
        for group in groups.iter_mut() {
            group.eval(&ctx, ts, &options, &notify);
            for rule in &group.rules {
                let status = rule.status();
                if status.health == Health::Bad {
                    eval_errors.push(TestError::RuleEval {
                        rule: rule.name().to_string(),
                        ts,
                        error: status.last_error.clone(),
                    });
                }
            }
        }
        // Evaluation errors end the test group; failed expectations so far are kept.
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        // Alerts expected at `t` are compared with this evaluation when ts <= t < next ts.
        while let Some((_, cases)) =
            pending_checks.next_if(|(t, _)| ts <= **t && **t < ts + settings.eval_interval)
        {
            for case in cases {
                if let Some(error) = check_alerts(case, &groups, &test.name) {
                    errors.push(error);
                }
            }
        }
        ts += settings.eval_interval;
    }

    for case in &test.promql_expr_test {
        if let Some(error) = check_expression(case, &ctx, settings.read) {
            errors.push(error);
        }
    }
    errors
}

/// The rule groups of the test file's rule files, in `group_eval_order` (groups not listed rank
/// with the first listed one, as in promtool; file order otherwise). Every alerting rule counts
/// as restored, so ALERTS series are written from the first evaluation.
fn load_rule_groups(settings: &Settings<'_>, interval: i64) -> Result<Vec<Group>, TestError> {
    let mut groups = Vec::new();
    for path in settings.rule_files {
        let file = RuleFile::load(path, settings.read)?;
        groups.extend(file_groups(
            &path.display().to_string(),
            file,
            interval,
            0,
            false,
        ));
    }
    groups.sort_by_key(|g| {
        settings
            .group_order
            .get(g.name.as_str())
            .copied()
            .unwrap_or(0)
    });
    Ok(groups)
}

/// One alert check: the firing alerts of every alerting rule named `alertname` (the same name
/// may be used in several groups) against the expected ones.
fn check_alerts(case: &AlertTestCase, groups: &[Group], test_group: &str) -> Option<TestError> {
    let mut got: Vec<(Labels, Labels)> = groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter_map(|rule| match rule {
            Rule::Alerting(rule) if rule.name == case.alertname => Some(rule),
            _ => None,
        })
        .flat_map(|rule| rule.active_alerts())
        .filter(|alert| alert.state == AlertState::Firing)
        .map(|alert| (alert.labels.clone(), alert.annotations.clone()))
        .collect();
    let mut exp: Vec<(Labels, Labels)> = case
        .exp_alerts
        .iter()
        .map(|alert| {
            // The rule adds `alertname`; tests do not write it.
            let mut labels = alert.exp_labels.clone();
            labels.insert(ALERT_NAME_LABEL.to_string(), case.alertname.clone());
            (
                Labels::from_pairs(labels),
                Labels::from_pairs(alert.exp_annotations.clone()),
            )
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    let indent = " ".repeat(12);
    Some(TestError::Alerts {
        test_group: test_group.to_string(),
        alertname: case.alertname.clone(),
        eval_time: case.eval_time,
        exp: indent_lines(&alerts_string(&exp), &indent),
        got: indent_lines(&alerts_string(&got), &indent),
    })
}

/// One PromQL check at its `eval_time`, after every rule evaluation.
fn check_expression(
    case: &PromqlTestCase,
    ctx: &EvalContext<'_>,
    read: ReadOptions,
) -> Option<TestError> {
    let query_error = |error: String| TestError::Query {
        expr: case.expr.clone(),
        eval_time: case.eval_time,
        error,
    };
    let expr = match narthex_promql::parse_with(&case.expr, &read.parse) {
        Ok(expr) => expr,
        Err(e) => return Some(query_error(e.to_string())),
    };
    let mut got = match ctx.query(&expr, case.eval_time.as_millis()) {
        Ok(QueryOutput::Vector(samples)) => samples,
        Ok(QueryOutput::Scalar(v)) => vec![(Labels::default(), v)],
        Err(e) => return Some(query_error(e)),
    };
    let mut exp = Vec::with_capacity(case.exp_samples.len());
    for sample in &case.exp_samples {
        // An empty string is the empty label set for promtool.
        let labels = if sample.labels.trim().is_empty() {
            Ok(Labels::default())
        } else {
            parse_metric(&sample.labels)
        };
        match labels {
            Ok(labels) => exp.push((labels, sample.value)),
            Err(e) => {
                return Some(TestError::ExpectedLabels {
                    expr: case.expr.clone(),
                    eval_time: case.eval_time,
                    labels: sample.labels.clone(),
                    error: e.to_string(),
                })
            }
        }
    }
    // By labels only: equal label sets keep their order, values are compared as written.
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    // Exact float equality, so NaN never matches, as promtool's reflect.DeepEqual.
    let same =
        got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && g.1 == e.1);
    if same {
        return None;
    }
    Some(TestError::Samples {
        expr: case.expr.clone(),
        eval_time: case.eval_time,
        exp: samples_string(&exp),
        got: samples_string(&got),
    })
}

/// promtool's `labelsAndAnnotations.String()`.
fn alerts_string(alerts: &[(Labels, Labels)]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (labels, annotations)) in alerts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let one = format!(
            "\nLabels:{}\nAnnotations:{}",
            go_labels(labels),
            go_labels(annotations)
        );
        s.push_str(&format!("\n{i}:{}", indent_lines(&one, "  ")));
    }
    s.push_str("\n]");
    s
}

/// promtool's `parsedSamplesString`: `{labels} value, ...`, or `nil`.
fn samples_string(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    samples
        .iter()
        .map(|(labels, v)| format!("{} {}", go_labels(labels), go_float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prefixes every line but the first with `indent` (promtool's `indentLines`).
fn indent_lines(lines: &str, indent: &str) -> String {
    lines
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                line.to_string()
            } else {
                format!("{indent}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `labels.Labels.String()`: every label, `__name__` included, values quoted as Go does.
fn go_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={}", l.name, go_quote(&l.value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Go's `strconv.Quote`: printable characters as they are, the rest escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: the shortest digits that read back, as
/// `d.dddE±dd`.
fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's shortest form is `2.5E10` / `1E-7`; Go signs the exponent and gives it two digits.
    let rust = format!("{v:E}");
    let Some((mantissa, exponent)) = rust.split_once('E') else {
        return rust;
    };
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}E{sign}{digits:0>2}")
}

/// Go's `time.Duration.String()` for milliseconds: `0s`, `500ms`, `1m0s`, `1h0m30.5s`.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
    let (seconds, millis) = (ms / 1000 % 60, ms % 1000);
    let mut s = sign.to_string();
    if hours > 0 {
        s.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        s.push_str(&format!("{minutes}m"));
    }
    s.push_str(&seconds.to_string());
    if millis > 0 {
        let fraction = format!("{millis:03}");
        s.push('.');
        s.push_str(fraction.trim_end_matches('0'));
    }
    s.push('s');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_e_format() {
        let cases = [
            (1.0, "1E+00"),
            (0.0, "0E+00"),
            (-0.0, "-0E+00"),
            (2.5e10, "2.5E+10"),
            (1e-7, "1E-07"),
            (123.456, "1.23456E+02"),
            (1e300, "1E+300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(go_float_e(v), want, "{v}");
        }
    }

    #[test]
    fn durations_print_as_go_time_duration() {
        let cases = [
            (0, "0s"),
            (500, "500ms"),
            (1000, "1s"),
            (60_000, "1m0s"),
            (90_500, "1m30.5s"),
            (3_600_000, "1h0m0s"),
            (3_630_000, "1h0m30s"),
            (1_250, "1.25s"),
        ];
        for (ms, want) in cases {
            assert_eq!(go_duration(ms), want, "{ms}");
        }
    }

    #[test]
    fn strings_quote_as_go() {
        assert_eq!(go_quote("up == 0"), r#""up == 0""#);
        assert_eq!(go_quote("a\"b\\c\nd\te\u{1}é"), r#""a\"b\\c\nd\te\x01é""#);
    }

    #[test]
    fn labels_print_as_go_with_the_metric_name_inside() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(go_labels(&labels), r#"{__name__="up", job="a\"b"}"#);
        assert_eq!(go_labels(&Labels::default()), "{}");
    }

    #[test]
    fn alert_lists_print_as_promtool() {
        let one = (
            Labels::from_pairs([("alertname", "A"), ("x", "1")]),
            Labels::from_pairs([("summary", "s")]),
        );
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            alerts_string(&[one.clone(), one]),
            "[\n0:\n  Labels:{alertname=\"A\", x=\"1\"}\n  Annotations:{summary=\"s\"},\n1:\n  Labels:{alertname=\"A\", x=\"1\"}\n  Annotations:{summary=\"s\"}\n]"
        );
    }
}
