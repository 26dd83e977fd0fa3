//! The fuzz target's check (`roundtrip::check_input`: parse without panicking, and the
//! `format_query` round trip) over its seed corpus (`fuzz/corpus/promql_parser/`) and over the
//! inputs that made it fail once (`tests/fuzz-regressions/`), so that `cargo test` keeps them
//! fixed without cargo fuzz's nightly flags.

use std::path::{Path, PathBuf};

use narthex_promql::roundtrip::check_input;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn check_files(files: &[PathBuf]) -> Vec<(String, usize)> {
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for file in files {
        let data = match std::fs::read(file) {
            Ok(data) => data,
            // A fuzzer running meanwhile replaces corpus files with smaller ones.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => panic!("{}: {err}", file.display()),
        };
        match check_input(&data) {
            Ok(parsed) => results.push((file.display().to_string(), parsed)),
            Err(failure) => failures.push(format!("{}: {failure}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    results
}

#[test]
fn seed_corpus_parses_and_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/promql_parser");
    let all = files(&dir);
    let seeds: Vec<PathBuf> = all
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .cloned()
        .collect();
    assert!(seeds.len() >= 30, "only {} seeds", seeds.len());
    // Every seed is a valid query (with all features on), so that fuzzing starts from them.
    for (file, parsed) in check_files(&seeds) {
        assert!(parsed > 0, "{file} does not parse");
    }
    // A corpus grown by a local `make fuzz` is checked too.
    check_files(&all);
}

#[test]
fn fixed_fuzz_failures_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let files = files(&dir);
    assert!(!files.is_empty());
    check_files(&files);
}
