//! A runner for Prometheus's PromQL test language ("promqltest", see `testdata/DSL.md`), so
//! Prometheus's own `.test` files check Narthex's parser and engine.
//!
//! A script loads series (`load <interval>` with promtool's series notation), evaluates
//! queries (`eval instant at <t> <query>`, `eval range from <a> to <b> step <s> <query>`) and
//! states the expected result, annotations or error. Parsing and comparison follow
//! `promql/promqltest/test.go`: values within a relative tolerance of 1e-6 (`almost.Equal`),
//! NaN equal to NaN, result order checked only for `expect ordered`, and each instant query
//! also re-run with its selectors pinned by `@` and as a range query, which must agree.
//!
//! Every eval is a case that passes, fails (with its file and line), or is unsupported: Narthex
//! stores float samples only, so cases that expect native histograms or select series loaded
//! with histogram samples, `load_with_nhcb` histograms or start timestamps are counted apart,
//! never as passed.

mod compare;
mod exec;
mod script;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use narthex_model::api::QueryData;
use narthex_model::Querier;

use crate::ast::Expr;

pub use compare::{almost_equal, DEFAULT_EPSILON};

/// Engine settings for a run; the defaults are those of Prometheus's test engine.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How far back an instant selector looks (Prometheus's default 5m).
    pub lookback_delta_ms: i64,
    /// The most samples a query may hold (test.go's `DefaultMaxSamplesPerQuery`).
    pub max_samples: usize,
    pub timeout: Duration,
    /// The step of subqueries written without one (`[5m:]`).
    pub default_subquery_step_ms: i64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 10_000,
            timeout: Duration::from_secs(100),
            default_subquery_step_ms: 60 * 1000,
        }
    }
}

/// The outcome of one test file.
#[derive(Clone, Debug, Default)]
pub struct FileReport {
    /// The name the file was run under (its path for [`run_file`]).
    pub file: String,
    pub passed: usize,
    pub failed: Vec<CaseFailure>,
    pub unsupported: usize,
    /// Which cases were unsupported, and why.
    pub unsupported_cases: Vec<UnsupportedCase>,
}

impl FileReport {
    /// `N passed, M failed, K unsupported`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} unsupported",
            self.passed,
            self.failed.len(),
            self.unsupported
        )
    }
}

/// A failed case: the `eval` (or the malformed command) at `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFailure {
    pub file: String,
    /// 1-based line of the `eval` command.
    pub line: usize,
    pub query: String,
    /// What was expected and what came instead.
    pub message: String,
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}\n    {}",
            self.file, self.line, self.query, self.message
        )
    }
}

/// A case Narthex cannot run, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedCase {
    pub line: usize,
    pub query: String,
    pub reason: String,
}

/// What a query returned: the data and its annotations as the API renders them
/// (`PromQL warning: ... (1:5)`).
#[derive(Clone, Debug, PartialEq)]
pub struct QueryOutput {
    pub data: QueryData,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// The parser and engine a script runs against; errors are their messages, which `expect fail
/// msg:` lines compare with.
pub trait QueryEngine {
    fn parse(&self, query: &str) -> Result<Expr, String>;
    fn instant(&self, querier: &dyn Querier, expr: &Expr, t: i64) -> Result<QueryOutput, String>;
    fn range(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, String>;
}

/// Narthex's own parser and engine, with every experimental feature enabled as Prometheus's
/// test engine has them.
pub struct NarthexEngine {
    engine: crate::Engine,
}

impl NarthexEngine {
    pub fn new(options: &RunOptions) -> Self {
        NarthexEngine {
            engine: crate::Engine::new(crate::EngineOptions {
                lookback_delta_ms: options.lookback_delta_ms,
                experimental_functions: true,
                max_samples: options.max_samples,
                timeout: Some(options.timeout),
                default_subquery_step_ms: options.default_subquery_step_ms,
                // As Prometheus's test engine (`promqltest.NewTestEngine`): the test files'
                // `__name__` cases are written for it.
                delayed_name_removal: true,
            }),
        }
    }
}

impl From<crate::QueryResult> for QueryOutput {
    fn from(r: crate::QueryResult) -> Self {
        QueryOutput {
            data: r.data,
            warnings: r.warnings,
            infos: r.infos,
        }
    }
}

impl QueryEngine for NarthexEngine {
    fn parse(&self, query: &str) -> Result<Expr, String> {
        // Prometheus's test engine enables every experimental feature.
        crate::parse_with(query, &crate::ParseOptions::all()).map_err(|e| e.to_string())
    }

    fn instant(&self, querier: &dyn Querier, expr: &Expr, t: i64) -> Result<QueryOutput, String> {
        self.engine
            .instant(querier, expr, t)
            .map(QueryOutput::from)
            .map_err(|e| e.to_string())
    }

    fn range(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutput, String> {
        self.engine
            .range(querier, expr, start, end, step)
            .map(QueryOutput::from)
            .map_err(|e| e.to_string())
    }
}

/// Runs a test file with Narthex's engine. An unreadable file is one failed case at line 0.
pub fn run_file(path: &Path, options: &RunOptions) -> FileReport {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => run_source(&name, &text, options),
        Err(e) => FileReport {
            failed: vec![CaseFailure {
                file: name.clone(),
                line: 0,
                query: String::new(),
                message: format!("cannot read test file: {e}"),
            }],
            file: name,
            ..FileReport::default()
        },
    }
}

/// Runs a script given as text; `name` labels its failures.
pub fn run_source(name: &str, text: &str, options: &RunOptions) -> FileReport {
    run_source_with(name, text, &NarthexEngine::new(options))
}

/// Runs a script against any engine, e.g. a stub in tests.
pub fn run_source_with(name: &str, text: &str, engine: &dyn QueryEngine) -> FileReport {
    let mut report = FileReport {
        file: name.to_string(),
        ..FileReport::default()
    };
    // A fresh storage per file, as test.go opens one per test.
    let mut runner = exec::Runner::new(engine);
    for command in script::parse_script(text) {
        let Some((line, query, outcome)) = runner.run(&command) else {
            continue;
        };
        match outcome {
            exec::Outcome::Passed => report.passed += 1,
            exec::Outcome::Failed(message) => report.failed.push(CaseFailure {
                file: name.to_string(),
                line,
                query,
                message,
            }),
            exec::Outcome::Unsupported(reason) => {
                report.unsupported += 1;
                report.unsupported_cases.push(UnsupportedCase {
                    line,
                    query,
                    reason,
                });
            }
        }
    }
    report
}

/// `narthex tool promqltest FILE...`: runs each file, prints every failing case with its file
/// and line, then the unsupported count and the closing `N passed, M failed` line. True when
/// nothing failed.
pub fn run_cli(files: &[PathBuf], out: &mut dyn Write) -> bool {
    let options = RunOptions::default();
    let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
    for file in files {
        let report = run_file(file, &options);
        for failure in &report.failed {
            let _ = writeln!(out, "FAIL {failure}");
        }
        passed += report.passed;
        failed += report.failed.len();
        unsupported += report.unsupported;
    }
    let _ = writeln!(
        out,
        "{unsupported} unsupported (native histograms or start timestamps)"
    );
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    failed == 0
}

#[cfg(test)]
mod tests;
