//! End-to-end runs of small scripts: the runner's classification, its messages, and the extra
//! evaluations test.go makes (the `@` variants and the range-mode cross-check).

use std::cell::RefCell;

use narthex_model::api::QueryData;
use narthex_model::{Labels, Querier, Sample, Series};

use super::*;
use crate::ast::{AtModifier, Expr};

/// Narthex's engine with a few scripted queries, to reach the error, annotation and scalar
/// paths of the runner independently of the engine's coverage. Records the instant evaluation
/// times it sees.
struct Scripted {
    inner: NarthexEngine,
    instant_times: RefCell<Vec<i64>>,
}

impl Scripted {
    fn new() -> Self {
        Scripted {
            inner: NarthexEngine::new(&RunOptions::default()),
            instant_times: RefCell::new(Vec::new()),
        }
    }
}

fn selector_name(expr: &Expr) -> &str {
    match expr {
        Expr::VectorSelector(s) => s.name.as_deref().unwrap_or(""),
        _ => "",
    }
}

fn output(data: QueryData) -> QueryOutput {
    QueryOutput {
        data,
        warnings: Vec::new(),
        infos: Vec::new(),
    }
}

impl QueryEngine for Scripted {
    fn parse(&self, query: &str) -> Result<Expr, String> {
        self.inner.parse(query)
    }

    fn instant(&self, querier: &dyn Querier, expr: &Expr, t: i64) -> Result<QueryOutput, String> {
        self.instant_times.borrow_mut().push(t);
        match selector_name(expr) {
            "boom" => Err("boom happened".into()),
            "warn_me" => Ok(QueryOutput {
                data: QueryData::Vector(vec![]),
                warnings: vec!["PromQL warning: careful (1:1)".into()],
                infos: vec!["PromQL info: by the way (1:1)".into()],
            }),
            "scalar_one" => Ok(output(QueryData::Scalar(Sample { t, v: 1.0 }))),
            _ => {
                // Honour `@` on a plain selector, which the runner's variants rely on.
                let at = match expr {
                    Expr::VectorSelector(s) => match s.at {
                        Some(AtModifier::Timestamp(at)) => at,
                        _ => t,
                    },
                    _ => t,
                };
                self.inner.instant(querier, expr, at).map(|mut out| {
                    if let QueryData::Vector(v) = &mut out.data {
                        for (_, s) in v.iter_mut() {
                            s.t = t;
                        }
                    }
                    out
                })
            }
        }
    }

    fn range(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, String> {
        match selector_name(expr) {
            "boom" => Err("boom happened".into()),
            "warn_me" => Ok(QueryOutput {
                data: QueryData::Matrix(vec![]),
                ..self.instant(querier, expr, start)?
            }),
            "scalar_one" => {
                let mut samples = Vec::new();
                let mut t = start;
                while t <= end {
                    samples.push(Sample { t, v: 1.0 });
                    t += step;
                }
                Ok(output(QueryData::Matrix(vec![Series {
                    labels: Labels::default(),
                    samples,
                }])))
            }
            _ => {
                if let Expr::VectorSelector(s) = expr {
                    if let Some(AtModifier::Timestamp(at)) = s.at {
                        // Every step sees the pinned value.
                        let QueryData::Vector(v) = self.inner.instant(querier, expr, at)?.data
                        else {
                            return Err("not a vector".into());
                        };
                        let series = v
                            .into_iter()
                            .map(|(labels, sample)| {
                                let mut samples = Vec::new();
                                let mut t = start;
                                while t <= end {
                                    samples.push(Sample { t, v: sample.v });
                                    t += step;
                                }
                                Series { labels, samples }
                            })
                            .collect();
                        return Ok(output(QueryData::Matrix(series)));
                    }
                }
                self.inner.range(querier, expr, start, end, step)
            }
        }
    }
}

const SCRIPT: &str = r#"
# Data for the selectors below.
load 1m
    up{job="a"} 1 2 3 _ stale 5
    up{job="b"} 0+10x5

eval instant at 2m up
    up{job="a"} 3
    up{job="b"} 20

eval range from 0 to 5m step 1m up{job="a"}
    up{job="a"} 1 2 3 3 _ 5

eval instant at 1m up{job="b"}
    up{job="b"} 11

eval instant at 0 boom
    expect fail msg: boom happened

eval instant at 0 boom
    expect fail regex: ^boom

eval_fail instant at 0 boom
    expected_fail_message boom happened

eval instant at 0 boom
    expect fail msg: something else

eval instant at 0 up{job="a"}
    expect fail

eval instant at 0 warn_me
    expect warn msg: PromQL warning: careful (1:1)
    expect info

eval instant at 0 warn_me
    expect no_warn

eval instant at 1m scalar_one
    1

eval instant at 1m up{job="nope"}

this is not a command

load 1m
    hist{job="h"} {{schema:0 sum:1 count:1}} 1

eval instant at 1m hist
    hist{job="h"} 1

eval instant at 1m up{job="b"}
    {{schema:0 sum:1 count:1}}

eval instant at 1m up{job="a"}
    up{job="a"} {{schema:0 sum:1 count:1}}

eval instant at 1m up{job="a"} + +
    up{job="a"} 2
"#;

#[test]
fn classifies_every_case() {
    let report = run_source_with("demo.test", SCRIPT, &Scripted::new());
    let failed: Vec<(usize, &str)> = report
        .failed
        .iter()
        .map(|f| (f.line, f.message.as_str()))
        .collect();
    let lines: Vec<usize> = failed.iter().map(|f| f.0).collect();
    // 14: wrong value (11 expected, 10 at 1m); 26: wrong error message; 29: no error;
    // 36: a warning despite no_warn; 44: not a command; 52: a histogram alone is not a series
    // description; 58: a query that does not parse.
    assert_eq!(lines, [14, 26, 29, 36, 44, 52, 58], "{:#?}", report.failed);
    assert!(
        failed[0]
            .1
            .contains("expected 11 for up{job=\"b\"} but got 10"),
        "{}",
        failed[0].1
    );
    assert!(
        failed[1]
            .1
            .contains("expected error matching \"something else\""),
        "{}",
        failed[1].1
    );
    assert!(failed[2].1.contains("but got none"), "{}", failed[2].1);
    assert!(
        failed[3].1.contains("unexpected warning annotations"),
        "{}",
        failed[3].1
    );
    assert!(failed[4].1.contains("invalid command"), "{}", failed[4].1);
    assert!(failed[5].1.contains("line 53: column 1"), "{}", failed[5].1);
    assert!(
        failed[6].1.contains("error parsing query"),
        "{}",
        failed[6].1
    );
    assert_eq!(report.passed, 8, "{report:#?}");
    assert_eq!(report.unsupported, 2, "{report:#?}");
    assert_eq!(report.unsupported_cases[0].line, 49);
    assert_eq!(report.unsupported_cases[1].line, 55);
    assert!(report.unsupported_cases[0]
        .reason
        .contains("native histogram"));
    assert_eq!(report.summary(), "8 passed, 7 failed, 2 unsupported");
}

#[test]
fn instant_queries_are_rerun_pinned_at_other_times() {
    let engine = Scripted::new();
    let report = run_source_with(
        "t.test",
        "load 1m\n  m 1 2 3\n\neval instant at 2m m\n  m 3\n\neval instant at 0 m\n  m 1\n",
        &engine,
    );
    assert_eq!(
        report.summary(),
        "2 passed, 0 failed, 0 unsupported",
        "{report:#?}"
    );
    let times = engine.instant_times.borrow();
    // At 2m: the query itself, then the @-pinned query at -20m, 0, 24s, 2m, 20m; at 0: the
    // query, then at -1s, 0, 1s.
    assert_eq!(
        *times,
        [120_000, -1_200_000, 0, 24_000, 120_000, 1_200_000, 0, -1000, 0, 1000]
    );
}

#[test]
fn clear_empties_the_storage() {
    let report = run_source_with(
        "t.test",
        "load 1m\n  m 1\n\neval instant at 0 m\n  m 1\n\nclear\n\neval instant at 0 m\n",
        &Scripted::new(),
    );
    assert_eq!(
        report.summary(),
        "2 passed, 0 failed, 0 unsupported",
        "{report:#?}"
    );
}

#[test]
fn start_timestamps_and_nhcb_are_unsupported_only_where_selected() {
    let script = "load_with_nhcb 1m\n  h_bucket{le=\"1\"} 1 2\n  h_bucket{le=\"+Inf\"} 2 3\n\n\
        load 1m\n  c@st _ -30s\n  c _ 1\n  d 1\n\n\
        eval instant at 1m h_bucket{le=\"1\"}\n  h_bucket{le=\"1\"} 2\n\n\
        eval instant at 1m h\n\n\
        eval instant at 1m c\n  c 1\n\n\
        eval instant at 1m d\n  d 1\n";
    let report = run_source_with("t.test", script, &Scripted::new());
    assert_eq!(
        report.summary(),
        "2 passed, 0 failed, 2 unsupported",
        "{report:#?}"
    );
    let reasons: Vec<&str> = report
        .unsupported_cases
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert!(reasons[0].contains("load_with_nhcb"), "{reasons:?}");
    assert!(reasons[1].contains("start timestamps"), "{reasons:?}");
}

#[test]
fn cli_output() {
    let dir = std::env::temp_dir().join(format!("narthex-promqltest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.test");
    let bad = dir.join("bad.test");
    std::fs::write(&good, "load 1m\n  m 1\n\neval instant at 0 m\n  m 1\n").expect("write");
    std::fs::write(&bad, "load 1m\n  m 1\n\neval instant at 0 m\n  m 2\n").expect("write");
    let mut out = Vec::new();
    assert!(run_cli(std::slice::from_ref(&good), &mut out));
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.ends_with(
            "0 unsupported (native histograms or start timestamps)\n1 passed, 0 failed\n"
        ),
        "{text}"
    );

    let mut out = Vec::new();
    let missing = dir.join("missing.test");
    assert!(!run_cli(&[good, bad.clone(), missing], &mut out));
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.contains(&format!("FAIL {}:4: m\n    ", bad.display())),
        "{text}"
    );
    assert!(text.contains("missing.test:0"), "{text}");
    assert!(text.ends_with("1 passed, 2 failed\n"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parse_errors_pass_only_as_the_named_expected_error() {
    let script = "eval instant at 0 1 +\n  expect fail\n\n\
        eval instant at 0 1 +\n  expect fail regex: parse error\n\n\
        eval_fail instant at 0 1 +\n  expected_fail_regexp unexpected\n\n\
        eval instant at 0 1 +\n  expect fail msg: something else\n";
    let report = run_source_with("t.test", script, &Scripted::new());
    let lines: Vec<usize> = report.failed.iter().map(|f| f.line).collect();
    assert_eq!(lines, [1, 10], "{report:#?}");
    assert!(report.failed[0].message.starts_with("error parsing query"));
    assert_eq!(report.passed, 2);
}
