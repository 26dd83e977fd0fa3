//! Runs Prometheus's PromQL test files (`testdata/*.test`) against Narthex's parser and engine
//! and holds the result to `testdata/known-failures.txt`.
//!
//! The test fails when a case fails that is not listed there, and when a listed case no longer
//! fails, so the list can only shrink. Run with `--nocapture` to see per-file counts; set
//! `PROMQLTEST_DUMP=<file>` to write every failure with its full message, and every
//! unsupported case with its reason, to a file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use narthex_promql::promqltest::{run_file, CaseFailure, RunOptions};

/// `file.test:LINE  reason` lines; `#` starts a comment line.
fn known_failures(path: &Path) -> BTreeMap<(String, usize), String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut known = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let where_ = |msg: &str| format!("{}:{}: {msg}: {raw:?}", path.display(), n + 1);
        let (case, reason) = line
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("{}", where_("missing reason")));
        let reason = reason.trim();
        assert!(!reason.is_empty(), "{}", where_("missing reason"));
        let (file, case_line) = case
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{}", where_("expected file.test:LINE")));
        let case_line: usize = case_line
            .parse()
            .unwrap_or_else(|_| panic!("{}", where_("expected file.test:LINE")));
        let previous = known.insert((file.to_string(), case_line), reason.to_string());
        assert!(previous.is_none(), "{}", where_("listed twice"));
    }
    known
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

#[test]
fn prometheus_test_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let known = known_failures(&dir.join("known-failures.txt"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());

    let options = RunOptions::default();
    let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
    let mut failures: BTreeMap<(String, usize), CaseFailure> = BTreeMap::new();
    let mut unsupported_cases = Vec::new();
    for path in &files {
        let report = run_file(path, &options);
        let name = file_name(&report.file);
        println!("{name}: {}", report.summary());
        passed += report.passed;
        failed += report.failed.len();
        unsupported += report.unsupported;
        for case in report.unsupported_cases {
            unsupported_cases.push((name.clone(), case));
        }
        for failure in report.failed {
            failures.insert((name.clone(), failure.line), failure);
        }
    }

    if let Ok(dump) = std::env::var("PROMQLTEST_DUMP") {
        let mut text = String::new();
        for ((file, line), f) in &failures {
            let _ = writeln!(
                text,
                "{file}:{line}\t{}\t{}",
                f.query,
                f.message.replace('\n', " ")
            );
        }
        for (file, case) in &unsupported_cases {
            let _ = writeln!(
                text,
                "{file}:{}\t{}\tUNSUPPORTED: {}",
                case.line, case.query, case.reason
            );
        }
        std::fs::write(&dump, text).unwrap_or_else(|e| panic!("cannot write {dump}: {e}"));
    }

    let unexpected: Vec<&CaseFailure> = failures
        .iter()
        .filter(|(key, _)| !known.contains_key(*key))
        .map(|(_, f)| f)
        .collect();
    let fixed: Vec<(&(String, usize), &String)> = known
        .iter()
        .filter(|(key, _)| !failures.contains_key(*key))
        .collect();
    for failure in &unexpected {
        println!(
            "UNEXPECTED FAILURE {}:{}: {}",
            file_name(&failure.file),
            failure.line,
            failure.query
        );
        println!("    {}", failure.message);
    }
    for ((file, line), reason) in &fixed {
        println!("NOW PASSING (remove from known-failures.txt) {file}:{line}  {reason}");
    }
    println!("total: {passed} passed, {failed} failed, {unsupported} unsupported");
    println!("{passed} passed, {failed} failed");
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} unexpected failures, {} known failures now pass; see the output above",
        unexpected.len(),
        fixed.len()
    );
}
