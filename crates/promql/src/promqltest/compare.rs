//! The checks an eval applies to a query's outcome, as Prometheus's `promql/promqltest/test.go`
//! makes them: the expected error, the annotations, and the result values with a relative
//! tolerance. Messages follow test.go's wording so failures read the same in both.

use narthex_model::api::{format_float, QueryData};
use narthex_model::{is_stale_nan, Labels, Sample, Series};

use super::script::{EvalCmd, ExpectMatch, Expected};
use crate::series_notation::SequenceValue;

/// test.go's `defaultEpsilon`: the relative error allowed for sample values.
pub const DEFAULT_EPSILON: f64 = 0.000001;

/// The smallest positive normal f64 (Go's `math.Float64frombits(0x0010000000000000)`).
const MIN_NORMAL: f64 = f64::MIN_POSITIVE;

/// Prometheus's `util/almost.Equal`: true when `a` and `b` differ by less than their sum times
/// `epsilon`. A staleness marker equals only a staleness marker; any other two NaNs are equal;
/// near zero (either value zero, or both subnormal) the difference must be below
/// `epsilon * MIN_NORMAL`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Checks an error against `expected_fail_message`, `expected_fail_regexp` and `expect fail`.
/// Without any of them, any error is the expected one.
pub(crate) fn check_expected_failure(cmd: &EvalCmd, actual: &str) -> Result<(), String> {
    if let Some(message) = &cmd.expected_fail_message {
        if !message.is_empty() && message != actual {
            return Err(format!(
                "expected error {message:?} evaluating query {:?} (line {}), but got: {actual}",
                cmd.expr, cmd.line
            ));
        }
    }
    if let Some(re) = &cmd.expected_fail_regexp {
        if !re.is_match(actual) {
            return Err(format!(
                "expected error matching pattern {:?} evaluating query {:?} (line {}), but got: {actual}",
                re.as_str(),
                cmd.expr,
                cmd.line
            ));
        }
    }
    if let Some(expected) = cmd.expects.fail.first() {
        if !expected.matches(actual) {
            return Err(format!(
                "expected error matching {:?} evaluating query {:?} (line {}), but got: {actual}",
                expected.text(),
                cmd.expr,
                cmd.line
            ));
        }
    }
    Ok(())
}

/// Checks warnings and infos against the `expect` lines (and the deprecated `eval_warn` /
/// `eval_info`). A plain eval does not look at annotations.
pub(crate) fn check_annotations(
    cmd: &EvalCmd,
    expr: &str,
    warnings: &[String],
    infos: &[String],
) -> Result<(), String> {
    if cmd.legacy_warn && warnings.is_empty() {
        return Err(format!(
            "expected warnings evaluating query {expr:?} (line {}) but got none",
            cmd.line
        ));
    }
    if cmd.legacy_info && infos.is_empty() {
        return Err(format!(
            "expected info annotations evaluating query {expr:?} (line {}) but got none",
            cmd.line
        ));
    }
    let all = || {
        warnings
            .iter()
            .chain(infos)
            .map(String::as_str)
            .collect::<Vec<_>>()
    };
    check_annotations_of_type(expr, &cmd.expects.warn, warnings, cmd.line, "warn", &all())?;
    check_annotations_of_type(expr, &cmd.expects.info, infos, cmd.line, "info", &all())?;
    if cmd.expects.no_warn > 0 && !warnings.is_empty() {
        return Err(format!(
            "unexpected warning annotations evaluating query {expr:?} (line {}): {:?}",
            cmd.line,
            all()
        ));
    }
    if cmd.expects.no_info > 0 && !infos.is_empty() {
        return Err(format!(
            "unexpected info annotations evaluating query {expr:?} (line {}): {:?}",
            cmd.line,
            all()
        ));
    }
    Ok(())
}

/// Every expect line must match some annotation of its type, and (once there is one such line)
/// every annotation of that type must match some expect line.
fn check_annotations_of_type(
    expr: &str,
    expected: &[ExpectMatch],
    actual: &[String],
    line: usize,
    kind: &str,
    all: &[&str],
) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!(
            "expected {kind} annotations but none were found for query {expr:?} (line {line})"
        ));
    }
    for e in expected {
        if !actual.iter().any(|a| e.matches(a)) {
            return Err(format!(
                "expected {kind} annotation matching {} {:?} but no matching annotation was found for query {expr:?} (line {line}), found: {all:?}",
                e.kind(),
                e.text()
            ));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.matches(a)) {
            return Err(format!(
                "unexpected {kind} annotation {a:?} found for query {expr} (line {line})"
            ));
        }
    }
    Ok(())
}

/// Compares a result with the expected values (test.go's `compareResult`).
pub(crate) fn compare_result(cmd: &EvalCmd, result: &QueryData) -> Result<(), String> {
    match result {
        QueryData::Matrix(series) => compare_matrix(cmd, series),
        QueryData::Vector(samples) => compare_vector(cmd, samples),
        QueryData::Scalar(sample) => {
            if !cmd.expect_scalar {
                return Err(format!(
                    "expected vector or matrix result, but got scalar {}",
                    format_float(sample.v)
                ));
            }
            match first_value(cmd.scalar.as_ref()) {
                Some(SequenceValue::Histogram(h)) => Err(format!(
                    "expected histogram {h} but got scalar {}",
                    format_float(sample.v)
                )),
                Some(expected) => {
                    let want = value_of(expected);
                    if almost_equal(want, sample.v, DEFAULT_EPSILON) {
                        Ok(())
                    } else {
                        Err(format!(
                            "expected scalar {} but got {}",
                            format_float(want),
                            format_float(sample.v)
                        ))
                    }
                }
                None => Err("expected a scalar value, but the expectation is empty".into()),
            }
        }
        QueryData::String { value, .. } => {
            if &cmd.expected_string == value {
                Ok(())
            } else {
                Err(format!(
                    "expected string \"{}\" but got \"{value}\"",
                    cmd.expected_string
                ))
            }
        }
    }
}

fn first_value(expected: Option<&Expected>) -> Option<&SequenceValue> {
    expected.and_then(|e| e.values.first())
}

/// The float an expectation compares with; like Go's zero-valued `SequenceValue.Value`, an
/// omitted position compares as 0.
fn value_of(v: &SequenceValue) -> f64 {
    match v {
        SequenceValue::Float(f) => *f,
        _ => 0.0,
    }
}

fn format_values(values: &[SequenceValue]) -> String {
    let parts: Vec<String> = values.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(" "))
}

fn format_points(series: &Series) -> String {
    let points: Vec<String> = series
        .samples
        .iter()
        .map(|s| format!("{} @[{}]", format_float(s.v), s.t))
        .collect();
    let plural = if series.samples.len() == 1 { "" } else { "s" };
    format!(
        "{} float point{plural} [{}]",
        series.samples.len(),
        points.join(" ")
    )
}

fn compare_vector(cmd: &EvalCmd, samples: &[(Labels, Sample)]) -> Result<(), String> {
    if cmd.expect_scalar {
        return Err(format!(
            "expected scalar result, but got vector {}",
            format_vector(samples)
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (pos, (labels, sample)) in samples.iter().enumerate() {
        let Some(expected) = cmd.metrics.get(labels) else {
            return Err(format!(
                "unexpected metric {labels} in result, has value {}",
                format_float(sample.v)
            ));
        };
        if cmd.is_ordered() && expected.pos != pos + 1 {
            return Err(format!(
                "expected metric {labels} with {} at position {} but was at {}",
                format_values(&expected.values),
                expected.pos,
                pos + 1
            ));
        }
        match expected.values.first() {
            None => {
                return Err(format!(
                    "expected metric {labels} has no value to compare with {}",
                    format_float(sample.v)
                ))
            }
            Some(SequenceValue::Histogram(h)) => {
                return Err(format!(
                    "expected histogram {h} for {labels} but got float value {}",
                    format_float(sample.v)
                ))
            }
            Some(v) => {
                let want = value_of(v);
                if !almost_equal(want, sample.v, DEFAULT_EPSILON) {
                    return Err(format!(
                        "expected {} for {labels} but got {}",
                        format_float(want),
                        format_float(sample.v)
                    ));
                }
            }
        }
        seen.insert(labels);
    }
    for (labels, expected) in &cmd.metrics {
        if !seen.contains(labels) {
            return Err(format!(
                "expected metric {labels} with {} not found",
                format_values(&expected.values)
            ));
        }
    }
    Ok(())
}

fn format_vector(samples: &[(Labels, Sample)]) -> String {
    let parts: Vec<String> = samples
        .iter()
        .map(|(l, s)| format!("{l} => {} @[{}]", format_float(s.v), s.t))
        .collect();
    parts.join("\n")
}

/// Matrix results must be sorted by labels, as Prometheus's engine sorts them.
pub(crate) fn assert_matrix_sorted(series: &[Series]) -> Result<(), String> {
    for (i, pair) in series.windows(2).enumerate() {
        if pair[0].labels > pair[1].labels {
            return Err(format!(
                "matrix results should always be sorted by labels, but matrix is not sorted: series at index {} with labels {} sorts before series at index {i} with labels {}",
                i + 1,
                pair[1].labels,
                pair[0].labels
            ));
        }
    }
    Ok(())
}

fn compare_matrix(cmd: &EvalCmd, series: &[Series]) -> Result<(), String> {
    if cmd.is_ordered() {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    if cmd.expect_scalar {
        return Err(format!(
            "expected scalar result, but got matrix of {} series",
            series.len()
        ));
    }
    assert_matrix_sorted(series)?;
    let mut seen = std::collections::BTreeSet::new();
    for s in series {
        let Some(expected) = cmd.metrics.get(&s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has {}",
                s.labels,
                format_points(s)
            ));
        };
        seen.insert(&s.labels);
        // The i-th expected value belongs to start + i * step; `_` positions expect no point.
        let mut floats = Vec::new();
        let mut histograms = 0;
        for (i, v) in expected.values.iter().enumerate() {
            let t = cmd.start + i as i64 * cmd.step;
            if cmd.end.is_none_or(|end| t > end) {
                return Err(format!(
                    "expected {} points for {}, but query time range cannot return this many points",
                    expected.values.len(),
                    s.labels
                ));
            }
            match v {
                SequenceValue::Float(f) => floats.push(Sample { t, v: *f }),
                SequenceValue::Histogram(_) => histograms += 1,
                SequenceValue::Omitted => {}
            }
        }
        if floats.len() != s.samples.len() || histograms != 0 {
            return Err(format!(
                "expected {} float points and {histograms} histogram points for {}, but got {}",
                floats.len(),
                s.labels,
                format_points(s)
            ));
        }
        for (i, (want, got)) in floats.iter().zip(&s.samples).enumerate() {
            if want.t != got.t {
                return Err(format!(
                    "expected float value at index {i} for {} to have timestamp {}, but it had timestamp {} (result has {})",
                    s.labels,
                    want.t,
                    got.t,
                    format_points(s)
                ));
            }
            if !almost_equal(got.v, want.v, DEFAULT_EPSILON) {
                return Err(format!(
                    "expected float value at index {i} (t={}) for {} to be {}, but got {} (result has {})",
                    got.t,
                    s.labels,
                    format_float(want.v),
                    format_float(got.v),
                    format_points(s)
                ));
            }
        }
    }
    for labels in cmd.metrics.keys() {
        if !seen.contains(labels) {
            return Err(format!("expected metric {labels} not found"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::script::{parse_script, Command};
    use super::*;
    use narthex_model::stale_nan;

    fn eval(script: &str) -> EvalCmd {
        match parse_script(script).into_iter().next() {
            Some(Command::Eval(e)) => *e,
            other => panic!("{other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn vector(items: &[(&[(&str, &str)], f64)]) -> QueryData {
        QueryData::Vector(
            items
                .iter()
                .map(|(l, v)| (labels(l), Sample { t: 0, v: *v }))
                .collect(),
        )
    }

    #[test]
    fn tolerance_is_relative() {
        assert!(almost_equal(1.0, 1.0 + 1e-7, DEFAULT_EPSILON));
        assert!(!almost_equal(1.0, 1.0 + 3e-6, DEFAULT_EPSILON));
        assert!(almost_equal(1e12, 1e12 + 1000.0, DEFAULT_EPSILON));
        assert!(!almost_equal(1e-3, 1.1e-3, DEFAULT_EPSILON));
        // Against zero only a difference below epsilon * MIN_NORMAL passes.
        assert!(!almost_equal(0.0, 1e-300, DEFAULT_EPSILON));
        assert!(almost_equal(0.0, -0.0, DEFAULT_EPSILON));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, DEFAULT_EPSILON));
        assert!(!almost_equal(
            f64::INFINITY,
            f64::NEG_INFINITY,
            DEFAULT_EPSILON
        ));
        assert!(!almost_equal(f64::INFINITY, 1e308, DEFAULT_EPSILON));
        assert!(almost_equal(
            f64::MAX,
            f64::MAX * (1.0 - 1e-9),
            DEFAULT_EPSILON
        ));
    }

    #[test]
    fn nan_and_stale() {
        assert!(almost_equal(f64::NAN, -f64::NAN, DEFAULT_EPSILON));
        assert!(almost_equal(stale_nan(), stale_nan(), DEFAULT_EPSILON));
        assert!(!almost_equal(stale_nan(), f64::NAN, DEFAULT_EPSILON));
        assert!(!almost_equal(f64::NAN, stale_nan(), DEFAULT_EPSILON));
        assert!(!almost_equal(f64::NAN, 1.0, DEFAULT_EPSILON));
    }

    #[test]
    fn vectors_match_by_labels_in_any_order() {
        let cmd = eval("eval instant at 0 x\n  x{a=\"1\"} 1\n  x{a=\"2\"} NaN");
        let ok = vector(&[
            (&[("__name__", "x"), ("a", "2")], f64::NAN),
            (&[("__name__", "x"), ("a", "1")], 1.0000001),
        ]);
        assert_eq!(compare_result(&cmd, &ok), Ok(()));
        let missing = vector(&[(&[("__name__", "x"), ("a", "1")], 1.0)]);
        let err = compare_result(&cmd, &missing).unwrap_err();
        assert!(
            err.contains("x{a=\"2\"}") && err.contains("not found"),
            "{err}"
        );
        let extra = vector(&[
            (&[("__name__", "x"), ("a", "1")], 1.0),
            (&[("__name__", "x"), ("a", "2")], f64::NAN),
            (&[("__name__", "x"), ("a", "3")], 3.0),
        ]);
        let err = compare_result(&cmd, &extra).unwrap_err();
        assert!(err.starts_with("unexpected metric x{a=\"3\"}"), "{err}");
        let wrong = vector(&[
            (&[("__name__", "x"), ("a", "1")], 1.1),
            (&[("__name__", "x"), ("a", "2")], f64::NAN),
        ]);
        assert_eq!(
            compare_result(&cmd, &wrong),
            Err("expected 1 for x{a=\"1\"} but got 1.1".into())
        );
        // An empty result matches no expectation lines, not a scalar.
        let cmd = eval("eval instant at 0 x");
        assert_eq!(compare_result(&cmd, &QueryData::Vector(vec![])), Ok(()));
        assert!(compare_result(&cmd, &QueryData::Scalar(Sample { t: 0, v: 1.0 })).is_err());
    }

    #[test]
    fn order_only_checked_when_ordered() {
        let result = vector(&[(&[("a", "2")], 2.0), (&[("a", "1")], 1.0)]);
        let unordered = eval("eval instant at 0 x\n  {a=\"1\"} 1\n  {a=\"2\"} 2");
        assert_eq!(compare_result(&unordered, &result), Ok(()));
        let ordered = eval("eval instant at 0 x\n  expect ordered\n  {a=\"1\"} 1\n  {a=\"2\"} 2");
        let err = compare_result(&ordered, &result).unwrap_err();
        assert!(err.contains("at position 2 but was at 1"), "{err}");
        let ordered = eval("eval_ordered instant at 0 x\n  {a=\"2\"} 2\n  {a=\"1\"} 1");
        assert_eq!(compare_result(&ordered, &result), Ok(()));
        // Ordered expectations cannot be met by a matrix.
        assert!(compare_result(&ordered, &QueryData::Matrix(vec![])).is_err());
    }

    #[test]
    fn scalars_and_strings() {
        let cmd = eval("eval instant at 0 1\n  1");
        assert_eq!(
            compare_result(&cmd, &QueryData::Scalar(Sample { t: 0, v: 1.0 })),
            Ok(())
        );
        assert!(compare_result(&cmd, &QueryData::Scalar(Sample { t: 0, v: 2.0 })).is_err());
        assert!(compare_result(&cmd, &QueryData::Vector(vec![])).is_err());
        let cmd = eval("eval instant at 0 \"a\"\n  expect string \"a\"");
        let s = |v: &str| QueryData::String {
            t: 0,
            value: v.into(),
        };
        assert_eq!(compare_result(&cmd, &s("a")), Ok(()));
        assert!(compare_result(&cmd, &s("b")).is_err());
    }

    #[test]
    fn matrices_check_timestamps_and_gaps() {
        let cmd = eval("eval range from 0 to 2m step 1m x\n  x 1 _ 3");
        let series = |points: &[(i64, f64)]| {
            QueryData::Matrix(vec![Series {
                labels: labels(&[("__name__", "x")]),
                samples: points.iter().map(|&(t, v)| Sample { t, v }).collect(),
            }])
        };
        assert_eq!(
            compare_result(&cmd, &series(&[(0, 1.0), (120_000, 3.0)])),
            Ok(())
        );
        let err = compare_result(&cmd, &series(&[(0, 1.0), (60_000, 3.0)])).unwrap_err();
        assert!(err.contains("to have timestamp 120000"), "{err}");
        let err = compare_result(&cmd, &series(&[(0, 1.0)])).unwrap_err();
        assert!(err.contains("expected 2 float points"), "{err}");
        let err = compare_result(&cmd, &series(&[(0, 1.0), (120_000, 3.5)])).unwrap_err();
        assert!(err.contains("to be 3, but got 3.5"), "{err}");
        // More values than steps cannot be met.
        let cmd = eval("eval range from 0 to 1m step 1m x\n  x 1 2 3");
        assert!(compare_result(&cmd, &series(&[(0, 1.0), (60_000, 2.0)]))
            .unwrap_err()
            .contains("cannot return this many points"));
        // Unsorted matrices are an engine bug.
        let cmd = eval("eval range from 0 to 0 step 1m x\n  {a=\"1\"} 1\n  {a=\"2\"} 2");
        let unsorted = QueryData::Matrix(vec![
            Series {
                labels: labels(&[("a", "2")]),
                samples: vec![Sample { t: 0, v: 2.0 }],
            },
            Series {
                labels: labels(&[("a", "1")]),
                samples: vec![Sample { t: 0, v: 1.0 }],
            },
        ]);
        assert!(compare_result(&cmd, &unsorted)
            .unwrap_err()
            .contains("not sorted"));
    }

    #[test]
    fn range_vector_of_an_instant_query() {
        let cmd = eval(
            "eval instant at 1m m[1m]\n  expect range vector from 30s to 1m step 30s\n  m 1 2",
        );
        let m = QueryData::Matrix(vec![Series {
            labels: labels(&[("__name__", "m")]),
            samples: vec![Sample { t: 30_000, v: 1.0 }, Sample { t: 60_000, v: 2.0 }],
        }]);
        assert_eq!(compare_result(&cmd, &m), Ok(()));
        // Without `expect range vector` no matrix point can be expected.
        let cmd = eval("eval instant at 1m m[1m]\n  m 1");
        assert!(compare_result(&cmd, &m).is_err());
    }

    #[test]
    fn annotations() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let plain = eval("eval instant at 0 x");
        assert_eq!(
            check_annotations(&plain, "x", &w(&["PromQL warning: a"]), &[]),
            Ok(())
        );
        let no_warn = eval("eval instant at 0 x\n  expect no_warn");
        assert!(check_annotations(&no_warn, "x", &w(&["PromQL warning: a"]), &[]).is_err());
        assert_eq!(
            check_annotations(&no_warn, "x", &[], &w(&["PromQL info: b"])),
            Ok(())
        );
        let warn = eval("eval instant at 0 x\n  expect warn msg: PromQL warning: a (1:1)");
        assert_eq!(
            check_annotations(&warn, "x", &w(&["PromQL warning: a (1:1)"]), &[]),
            Ok(())
        );
        // Every warning needs a matching expect line once there is one.
        assert!(check_annotations(
            &warn,
            "x",
            &w(&["PromQL warning: a (1:1)", "PromQL warning: b (1:1)"]),
            &[]
        )
        .is_err());
        assert!(check_annotations(&warn, "x", &[], &[]).is_err());
        let any_info = eval("eval instant at 0 x\n  expect info");
        assert_eq!(
            check_annotations(&any_info, "x", &[], &w(&["PromQL info: z"])),
            Ok(())
        );
        let legacy = eval("eval_warn instant at 0 x");
        assert!(check_annotations(&legacy, "x", &[], &[]).is_err());
    }

    #[test]
    fn expected_failures() {
        let any = eval("eval instant at 0 x\n  expect fail");
        assert_eq!(check_expected_failure(&any, "boom"), Ok(()));
        let msg = eval("eval instant at 0 x\n  expect fail msg: boom");
        assert_eq!(check_expected_failure(&msg, "boom"), Ok(()));
        assert!(check_expected_failure(&msg, "boom!").is_err());
        let re = eval("eval instant at 0 x\n  expect fail regex: bo+m");
        assert_eq!(check_expected_failure(&re, "a boooom here"), Ok(()));
        let legacy = eval("eval_fail instant at 0 x\n  expected_fail_regexp ^b");
        assert_eq!(check_expected_failure(&legacy, "boom"), Ok(()));
        assert!(check_expected_failure(&legacy, "aboom").is_err());
    }
}
