//! promtool's rule tooling: `check_rule_files` and `run_rule_tests` on the example files of
//! `tests/promtool/` (the seed's InstanceDown alert, recording rules feeding alerts, a failing
//! test file, invalid and linted rule files), and the same files run through Debian's promtool,
//! which must agree: same pass or fail, same rule counts, and the same report text wherever the
//! report does not quote a parser's error message.

use std::path::{Path, PathBuf};
use std::process::Command;

use narthex_rules::{
    check_rule_files, run_rule_tests, ExpandRequest, ReadOptions, TemplateExpander,
};

const DIR: &str = "tests/promtool";
const PROMTOOL: &str = "/usr/bin/promtool";

/// The two template forms the example files use, `{{ $labels.name }}` and `{{ $value }}`; the
/// real Go-template expander lives in its own crate and is passed by the CLI.
struct TestTemplates;

impl TemplateExpander for TestTemplates {
    fn expand(&self, request: &ExpandRequest<'_>) -> String {
        let mut out = String::new();
        let mut rest = request.text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                break;
            };
            let action = rest[start + 2..start + end].trim();
            if action == "$value" {
                out.push_str(&narthex_model::api::format_float(request.value));
            } else if let Some(name) = action.strip_prefix("$labels.") {
                out.push_str(request.labels.get(name).unwrap_or(""));
            } else {
                out.push_str(&rest[start..start + end + 2]);
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

/// The checked-in test files (`*_test.yml`), or the rule files (every other `.yml`).
fn files(test_files: bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .filter(|p| p.to_string_lossy().ends_with("_test.yml") == test_files)
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

fn narthex_test(paths: &[PathBuf]) -> (bool, String) {
    let mut out = Vec::new();
    let passed = run_rule_tests(paths, ReadOptions::default(), &TestTemplates, &mut out);
    (passed, String::from_utf8(out).unwrap())
}

fn narthex_check(paths: &[PathBuf]) -> (bool, String) {
    let mut out = Vec::new();
    let valid = check_rule_files(paths, ReadOptions::default(), &mut out);
    (valid, String::from_utf8(out).unwrap())
}

/// promtool with standard output and error in one pipe, in the order it wrote them (Go writes
/// both unbuffered).
fn promtool(command: &str, file: &Path) -> (bool, String) {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: scripts/setup.sh installs Debian's prometheus package"
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{PROMTOOL} {command} rules \"$1\" 2>&1"))
        .arg("sh")
        .arg(file)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn example_test_files_pass_or_fail_as_expected() {
    for (name, should_pass) in [
        ("instance_down_test.yml", true),
        ("recording_test.yml", true),
        ("failing_test.yml", false),
        ("eval_error_test.yml", false),
        ("invalid_rules_test.yml", false),
    ] {
        let (passed, out) = narthex_test(&[path(name)]);
        assert_eq!(passed, should_pass, "{name}:\n{out}");
    }
}

#[test]
fn a_failing_test_file_is_reported_in_promtools_words() {
    let (passed, out) = narthex_test(&[path("failing_test.yml")]);
    assert!(!passed);
    let expected = r#"Unit Testing:  tests/promtool/failing_test.yml
  FAILED:
    name: wrong instance,
    alertname: InstanceDown, time: 15s, 
        exp:[
            0:
              Labels:{alertname="InstanceDown", instance="a:9100", job="node"}
              Annotations:{}
            ], 
        got:[]

    name: wrong instance,
    alertname: InstanceDown, time: 30s, 
        exp:[
            0:
              Labels:{alertname="InstanceDown", instance="b:9100", job="node"}
              Annotations:{summary="b is down"}
            ], 
        got:[
            0:
              Labels:{alertname="InstanceDown", instance="a:9100", job="node"}
              Annotations:{}
            ]

    expr: "sum by (job) (up)", time: 30s,
        exp: {job="node"} 3E+00
        got: {job="node"} 2E+00

    expr: "up", time: 0s,
        exp: {__name__="up", instance="a:9100", job="node"} 0E+00
        got: {__name__="up", instance="a:9100", job="node"} 0E+00, {__name__="up", instance="b:9100", job="node"} 1E+00


"#;
    assert_eq!(out, expected);
}

#[test]
fn a_rule_evaluation_error_ends_the_test_group() {
    let (passed, out) = narthex_test(&[path("eval_error_test.yml")]);
    assert!(!passed);
    assert_eq!(
        out,
        "Unit Testing:  tests/promtool/eval_error_test.yml\n  FAILED:\n    rule: up:collapsed, time: 0s, err: vector contains metrics with the same labelset after applying rule labels\n\n\n"
    );
}

#[test]
fn several_files_are_reported_one_after_the_other() {
    let (passed, out) = narthex_test(&[path("instance_down_test.yml"), path("recording_test.yml")]);
    assert!(passed, "{out}");
    assert_eq!(
        out,
        "Unit Testing:  tests/promtool/instance_down_test.yml\n  SUCCESS\n\nUnit Testing:  tests/promtool/recording_test.yml\n  SUCCESS\n\n"
    );
}

#[test]
fn check_rules_counts_rules_and_lints_duplicates() {
    let (valid, out) = narthex_check(&[
        path("alerts.yml"),
        path("recording.yml"),
        path("duplicate.yml"),
    ]);
    // A lint finding is reported but does not fail the check, as promtool without --lint-fatal.
    assert!(valid, "{out}");
    assert_eq!(
        out,
        "Checking tests/promtool/alerts.yml\n  SUCCESS: 1 rules found\n\nChecking tests/promtool/recording.yml\n  SUCCESS: 4 rules found\n\nChecking tests/promtool/duplicate.yml\n  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: job:up:sum\nLabel(s):\n\tteam: core\nMight cause inconsistency while recording expressions\n\n"
    );
    let (valid, out) = narthex_check(&[path("invalid.yml")]);
    assert!(!valid);
    assert!(
        out.starts_with(
            "Checking tests/promtool/invalid.yml\n  FAILED:\ntests/promtool/invalid.yml: "
        ),
        "{out}"
    );
    assert!(out.contains("could not parse expression"), "{out}");
}

/// Where a report quotes a parse error, Narthex's parser words it its own way.
fn quotes_parser_errors(file: &Path) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    name.starts_with("invalid")
}

#[test]
fn test_rules_agrees_with_promtool() {
    for file in files(true) {
        let (narthex_passed, narthex_out) = narthex_test(std::slice::from_ref(&file));
        let (promtool_passed, promtool_out) = promtool("test", &file);
        assert_eq!(
            narthex_passed,
            promtool_passed,
            "{}: narthex:\n{narthex_out}\npromtool:\n{promtool_out}",
            file.display()
        );
        if !quotes_parser_errors(&file) {
            assert_eq!(narthex_out, promtool_out, "{}", file.display());
        }
    }
}

/// The `SUCCESS: N rules found` lines of a report.
fn rule_counts(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.contains("rules found")).collect()
}

#[test]
fn check_rules_agrees_with_promtool() {
    for file in files(false) {
        let (narthex_valid, narthex_out) = narthex_check(std::slice::from_ref(&file));
        let (promtool_valid, promtool_out) = promtool("check", &file);
        let context = format!(
            "{}: narthex:\n{narthex_out}\npromtool:\n{promtool_out}",
            file.display()
        );
        assert_eq!(narthex_valid, promtool_valid, "{context}");
        assert_eq!(
            rule_counts(&narthex_out),
            rule_counts(&promtool_out),
            "{context}"
        );
        if !quotes_parser_errors(&file) {
            assert_eq!(narthex_out, promtool_out, "{context}");
        }
    }
}

/// Writes `files` (name, text) into a temporary directory and runs the first as a test file.
fn run_temp(files: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let test = dir.path().join(files[0].0);
    let (passed, out) = narthex_test(&[test]);
    (
        passed,
        out.replace(&format!("{}/", dir.path().display()), ""),
    )
}

const ALWAYS: &str = "groups:\n- name: g\n  rules:\n  - alert: Always\n    expr: vector(1)\n";

#[test]
fn the_input_interval_defaults_to_the_evaluation_interval() {
    // Samples 30s apart: `up` at 60s is the third value.
    let (passed, out) = run_temp(&[(
        "t.yml",
        "evaluation_interval: 30s\ntests:\n- input_series:\n  - series: up\n    values: 1 2 3\n  promql_expr_test:\n  - expr: up\n    eval_time: 1m\n    exp_samples:\n    - labels: up\n      value: 3\n",
    )]);
    assert!(passed, "{out}");
}

#[test]
fn file_level_problems_are_reported_as_promtool() {
    let (passed, out) = run_temp(&[(
        "t.yml",
        "rule_files: [a.yml]\ngroup_eval_order: [g, g]\ntests: []\n",
    )]);
    assert!(!passed);
    assert_eq!(
        out,
        "Unit Testing:  t.yml\n  WARNING: no file match pattern a.yml\n  FAILED:\ngroup name repeated in evaluation order: g\n\n\n"
    );

    let (passed, out) = run_temp(&[
        (
            "t.yml",
            "rule_files: [r.yml]\ntests:\n- name: n\n  alert_rule_test:\n  - eval_time: 2m\n",
        ),
        ("r.yml", ALWAYS),
    ]);
    assert!(!passed);
    assert_eq!(
        out,
        "Unit Testing:  t.yml\n  FAILED:\nan item under alert_rule_test misses required attribute alertname at eval_time 2m (in TestGroup n)\n\n\n"
    );

    let (passed, out) = run_temp(&[("t.yml", "tests: []\nbogus: 1\n")]);
    assert!(!passed);
    assert!(out.contains("unknown field `bogus`"), "{out}");

    let (passed, out) = run_temp(&[(
        "t.yml",
        "tests:\n- input_series:\n  - series: 'up{job=\"a\"'\n    values: '1'\n",
    )]);
    assert!(!passed);
    assert!(out.contains("input series \"up{job=\\\"a\\\"\""), "{out}");

    // Without tests the rule files are never loaded, as in promtool.
    let (passed, out) = run_temp(&[("t.yml", "rule_files: [r.yml]\n"), ("r.yml", "oops")]);
    assert!(passed, "{out}");
}

#[test]
fn alerts_of_the_same_name_in_several_groups_are_compared_together() {
    let rules = "groups:\n- name: a\n  rules:\n  - alert: Same\n    expr: vector(1)\n    labels: {from: a}\n- name: b\n  rules:\n  - alert: Same\n    expr: vector(1)\n    labels: {from: b}\n";
    let test = "rule_files: [r.yml]\ntests:\n- alert_rule_test:\n  - eval_time: 0s\n    alertname: Same\n    exp_alerts:\n    - exp_labels: {from: b}\n    - exp_labels: {from: a}\n";
    let (passed, out) = run_temp(&[("t.yml", test), ("r.yml", rules)]);
    assert!(passed, "{out}");
}

#[test]
fn nan_never_matches_as_in_promtool() {
    let (passed, out) = run_temp(&[(
        "t.yml",
        "tests:\n- promql_expr_test:\n  - expr: NaN\n    eval_time: 0s\n    exp_samples:\n    - value: .nan\n",
    )]);
    assert!(!passed);
    assert!(
        out.contains("    expr: \"NaN\", time: 0s,\n        exp: {} NaN\n        got: {} NaN\n"),
        "{out}"
    );
}
