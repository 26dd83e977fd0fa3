//! Rule file checks, as `promtool check rules FILE...`: each file is read and checked as the
//! server reads it, its rules counted, and linted for duplicate rules (same name and labels),
//! which promtool reports without failing the check.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::file::{ReadOptions, RuleFile};

/// Checks each rule file and prints promtool's report to `out` (`Checking FILE`, then
/// `  SUCCESS: N rules found` or `  FAILED:` with the reason); true when every file can be
/// loaded. Duplicate rules are reported as promtool's lint does, without making the result false
/// (promtool's default, without `--lint-fatal`).
pub fn check_rule_files(paths: &[PathBuf], read: ReadOptions, out: &mut dyn Write) -> bool {
    let mut valid = true;
    for path in paths {
        let _ = writeln!(out, "Checking {}", path.display());
        match RuleFile::load(path, read) {
            Err(error) => {
                valid = false;
                let _ = writeln!(out, "  FAILED:\n{error}");
            }
            Ok(file) => {
                let duplicates = duplicate_rules(&file);
                if duplicates.is_empty() {
                    let count: usize = file.groups.iter().map(|g| g.rules.len()).sum();
                    let _ = writeln!(out, "  SUCCESS: {count} rules found");
                } else {
                    let _ = writeln!(out, "  FAILED:\n{}", duplicates_message(&duplicates));
                }
            }
        }
        let _ = writeln!(out);
    }
    valid
}

/// A rule's identity for the lint: its name and its labels (group labels under rule labels).
type RuleKey = (String, BTreeMap<String, String>);

/// The rules of a file that share name and labels with another, each once, in name order
/// (promtool's `checkDuplicates`).
fn duplicate_rules(file: &RuleFile) -> Vec<RuleKey> {
    let mut keys: Vec<RuleKey> = file
        .groups
        .iter()
        .flat_map(|group| {
            group.rules.iter().map(|rule| {
                let mut labels = group.labels.clone();
                labels.extend(rule.labels.clone());
                (rule.name().to_string(), labels)
            })
        })
        .collect();
    keys.sort();
    let mut duplicates: Vec<RuleKey> = Vec::new();
    for pair in keys.windows(2) {
        if pair[0] == pair[1] && duplicates.last() != Some(&pair[1]) {
            duplicates.push(pair[1].clone());
        }
    }
    duplicates
}

/// promtool's lint error text.
fn duplicates_message(duplicates: &[RuleKey]) -> String {
    let mut message = format!("lint error {} duplicate rule(s) found.\n", duplicates.len());
    for (name, labels) in duplicates {
        message.push_str(&format!("Metric: {name}\nLabel(s):\n"));
        for (label, value) in labels {
            message.push_str(&format!("\t{label}: {value}\n"));
        }
    }
    message.push_str("Might cause inconsistency while recording expressions");
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> (bool, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yml");
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        let valid = check_rule_files(
            std::slice::from_ref(&path),
            ReadOptions::default(),
            &mut out,
        );
        let out = String::from_utf8(out).unwrap();
        (valid, out.replace(&path.display().to_string(), "FILE"))
    }

    #[test]
    fn counts_rules_of_every_group() {
        let (valid, out) = check(
            "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n- name: b\n  rules:\n  - alert: A\n    expr: up == 0\n",
        );
        assert!(valid);
        assert_eq!(out, "Checking FILE\n  SUCCESS: 2 rules found\n\n");
        assert_eq!(check("").1, "Checking FILE\n  SUCCESS: 0 rules found\n\n");
    }

    #[test]
    fn an_invalid_file_fails_with_its_reason() {
        let (valid, out) = check("groups:\n- name: a\n  rules:\n  - record: r\n    expr: up ==\n");
        assert!(!valid);
        assert!(out.starts_with("Checking FILE\n  FAILED:\nFILE: "), "{out}");
        assert!(out.contains("could not parse expression"), "{out}");
        assert!(out.ends_with("\n\n"), "{out}");
    }

    #[test]
    fn duplicate_rules_are_linted_without_failing() {
        let (valid, out) = check(
            "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n    labels: {x: '1'}\n  - record: r\n    expr: up\n    labels: {x: '1'}\n  - record: r\n    expr: up\n    labels: {x: '1'}\n- name: b\n  rules:\n  - record: r\n    expr: up\n  - alert: A\n    expr: up\n  - alert: A\n    expr: up\n",
        );
        assert!(valid);
        assert_eq!(
            out,
            "Checking FILE\n  FAILED:\nlint error 2 duplicate rule(s) found.\nMetric: A\nLabel(s):\nMetric: r\nLabel(s):\n\tx: 1\nMight cause inconsistency while recording expressions\n\n"
        );
    }
}
