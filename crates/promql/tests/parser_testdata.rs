//! Parses every query of Prometheus's PromQL test files (`testdata/*.test`) with all features
//! enabled: each must parse unless the test expects the evaluation to fail, and must print back
//! to a query that parses to the same tree (Prometheus's `format_query` round trip).

use std::path::Path;

use narthex_promql::roundtrip::normalized;
use narthex_promql::{parse_with, ParseOptions};

/// An `eval` command: the file and line, the query, and whether the test expects a failure.
struct EvalQuery {
    location: String,
    query: String,
    expect_fail: bool,
}

fn eval_queries() -> Vec<EvalQuery> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("test file");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(query) = eval_query(line) else {
                continue;
            };
            // `eval_fail` or an `expect fail` line before the next command.
            let mut expect_fail = line.starts_with("eval_fail");
            for next in &lines[i + 1..] {
                let t = next.trim();
                if t.starts_with("eval") || t.starts_with("load") || t.starts_with("clear") {
                    break;
                }
                if t.starts_with("expect fail") {
                    expect_fail = true;
                }
            }
            out.push(EvalQuery {
                location: format!(
                    "{}:{}",
                    file.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                    i + 1
                ),
                query: query.to_string(),
                expect_fail,
            });
        }
    }
    out
}

/// The query of `eval[_x] instant at <t> <query>` or `eval[_x] range from <a> to <b> step <c>
/// <query>`.
fn eval_query(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("eval")?;
    let rest = rest
        .split_once(char::is_whitespace)
        .map(|(_, r)| r)?
        .trim_start();
    let words = |s: &str, n: usize| -> Option<String> {
        let mut s = s.trim_start();
        for _ in 0..n {
            let (_, r) = s.split_once(char::is_whitespace)?;
            s = r.trim_start();
        }
        Some(s.to_string())
    };
    let skip = if rest.starts_with("instant") {
        3 // instant at <t>
    } else if rest.starts_with("range") {
        7 // range from <a> to <b> step <c>
    } else {
        return None;
    };
    let query = words(rest, skip)?;
    let start = line.len() - query.len();
    line.get(start..)
}

#[test]
fn every_testdata_query_parses_and_round_trips() {
    let options = ParseOptions::all();
    let queries = eval_queries();
    let mut parsed = 0;
    let mut failures = Vec::new();
    let mut expected_failures_that_parse = 0;
    let mut expected_failures_that_fail = Vec::new();
    for q in &queries {
        match parse_with(&q.query, &options) {
            Ok(expr) => {
                parsed += 1;
                if q.expect_fail {
                    expected_failures_that_parse += 1;
                }
                let printed = expr.to_string();
                match parse_with(&printed, &options) {
                    Ok(again) if normalized(&again) == normalized(&expr) => {}
                    Ok(again) => failures.push(format!(
                        "{}: {}\n  printed {printed}\n  first  {}\n  second {}",
                        q.location,
                        q.query,
                        normalized(&expr),
                        normalized(&again)
                    )),
                    Err(err) => failures.push(format!(
                        "{}: {}\n  printed {printed}\n  does not parse: {err}",
                        q.location, q.query
                    )),
                }
            }
            Err(err) if q.expect_fail => {
                expected_failures_that_fail.push(format!("{}: {}: {err}", q.location, q.query))
            }
            Err(err) => failures.push(format!("{}: {}\n  {err}", q.location, q.query)),
        }
    }
    println!(
        "{} eval queries: {parsed} parse ({expected_failures_that_parse} of them expect a \
         runtime failure), {} fail to parse as the test expects",
        queries.len(),
        expected_failures_that_fail.len()
    );
    for f in &expected_failures_that_fail {
        println!("  expected parse failure: {f}");
    }
    assert!(queries.len() > 2000, "found only {} queries", queries.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every prefix of every test query, each query with one character removed, and random strings
/// of PromQL-ish characters: parsing must return (never panic), and whatever parses must print
/// back to a query that parses to the same tree.
#[test]
fn mangled_queries_never_panic_and_round_trip() {
    let options = ParseOptions::all();
    let mut checked = 0usize;
    let mut failures = Vec::new();
    let mut check = |q: &str| {
        checked += 1;
        if let Ok(expr) = parse_with(q, &options) {
            let printed = expr.to_string();
            match parse_with(&printed, &options) {
                Ok(again) if normalized(&again) == normalized(&expr) => {}
                Ok(_) => failures.push(format!("{q:?} prints as {printed:?}, a different tree")),
                Err(err) => failures.push(format!("{q:?} prints as {printed:?}: {err}")),
            }
        }
        // The default options must not panic either.
        let _ = narthex_promql::parse(q);
    };
    for q in eval_queries() {
        let boundaries: Vec<usize> = q
            .query
            .char_indices()
            .map(|(i, _)| i)
            .chain([q.query.len()])
            .collect();
        for &end in &boundaries {
            check(&q.query[..end]);
        }
        for pair in boundaries.windows(2) {
            check(&format!("{}{}", &q.query[..pair[0]], &q.query[pair[1]..]));
        }
    }
    // A small deterministic generator (no dependencies for a fuzzer here).
    let alphabet: Vec<char> =
        "abfnorsty_:0159.eEx+-*/%^=!~<>(){}[],@\"'`\\# \nsumbyoffsetstep()ninf"
            .chars()
            .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..50_000 {
        let len = (next() % 24) as usize;
        let q: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        check(&q);
    }
    println!("checked {checked} mangled queries");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
