//! `narthex tool` against promtool: the same rule unit-test files and rule files give the same
//! verdicts from the real binary (with its Go-template expander) and from Debian's promtool.

use std::path::{Path, PathBuf};
use std::process::Command;

const PROMTOOL: &str = "/usr/bin/promtool";

fn promtool_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/rules/tests/promtool")
}

fn files(suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(promtool_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn succeeds(program: &str, args: &[&str], file: &Path) -> bool {
    Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn rule_unit_tests_pass_and_fail_as_with_promtool() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} missing: run scripts/setup.sh"
    );
    let tests = files("_test.yml");
    assert!(tests.len() >= 4, "{tests:?}");
    let mut verdicts = Vec::new();
    for test in &tests {
        let ours = succeeds(
            env!("CARGO_BIN_EXE_narthex"),
            &["tool", "test", "rules"],
            test,
        );
        let theirs = succeeds(PROMTOOL, &["test", "rules"], test);
        assert_eq!(ours, theirs, "{}", test.display());
        verdicts.push(ours);
    }
    // Both outcomes are exercised.
    assert!(
        verdicts.contains(&true) && verdicts.contains(&false),
        "{verdicts:?}"
    );
}

#[test]
fn rule_file_checks_agree_with_promtool() {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} missing: run scripts/setup.sh"
    );
    let mut rule_files: Vec<PathBuf> = files(".yml")
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("_test.yml"))
        .collect();
    rule_files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules.yml"));
    for file in &rule_files {
        let ours = succeeds(
            env!("CARGO_BIN_EXE_narthex"),
            &["tool", "check", "rules"],
            file,
        );
        let theirs = succeeds(PROMTOOL, &["check", "rules"], file);
        assert_eq!(ours, theirs, "{}", file.display());
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/prometheus.yml");
    let output = Command::new(env!("CARGO_BIN_EXE_narthex"))
        .args(["tool", "check", "config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("Checking") && stdout.contains("rules.yml"),
        "{stdout}"
    );
    assert!(stdout.contains("SUCCESS: 1 rules found"), "{stdout}");
}
