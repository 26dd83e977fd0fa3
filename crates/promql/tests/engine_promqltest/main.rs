//! Runs Prometheus's test files through the engine with a stand-in parser (`miniparse`), to
//! measure the engine before the real parser lands. Informational: prints per-file counts and
//! writes failures to `$ENGINE_PROMQLTEST_DUMP` if set; it never fails the build.

mod miniparse;

use std::path::Path;

use narthex_model::Querier;
use narthex_promql::ast::Expr;
use narthex_promql::promqltest::{run_source_with, QueryEngine, QueryOutput, RunOptions};
use narthex_promql::{Engine, EngineOptions};

struct MiniEngine(Engine);

impl QueryEngine for MiniEngine {
    fn parse(&self, query: &str) -> Result<Expr, String> {
        miniparse::parse(query)
    }

    fn instant(&self, querier: &dyn Querier, expr: &Expr, t: i64) -> Result<QueryOutput, String> {
        self.0
            .instant(querier, expr, t)
            .map(|r| QueryOutput {
                data: r.data,
                warnings: r.warnings,
                infos: r.infos,
            })
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
        self.0
            .range(querier, expr, start, end, step)
            .map(|r| QueryOutput {
                data: r.data,
                warnings: r.warnings,
                infos: r.infos,
            })
            .map_err(|e| e.to_string())
    }
}

#[test]
fn engine_over_prometheus_test_files() {
    let options = RunOptions::default();
    let engine = MiniEngine(Engine::new(EngineOptions {
        lookback_delta_ms: options.lookback_delta_ms,
        experimental_functions: true,
        max_samples: options.max_samples,
        timeout: Some(options.timeout),
        default_subquery_step_ms: options.default_subquery_step_ms,
    }));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "test"));
    files.sort();
    let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
    let mut dump = String::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = run_source_with(&name, &text, &engine);
        println!(
            "{name}: {} passed, {} failed, {} unsupported",
            report.passed,
            report.failed.len(),
            report.unsupported
        );
        passed += report.passed;
        failed += report.failed.len();
        unsupported += report.unsupported;
        for f in report.failed {
            dump.push_str(&format!(
                "{}:{}\t{}\t{}\n",
                name,
                f.line,
                f.query,
                f.message.replace('\n', " ")
            ));
        }
    }
    if let Ok(path) = std::env::var("ENGINE_PROMQLTEST_DUMP") {
        let _ = std::fs::write(path, dump);
    }
    println!(
        "engine with stand-in parser: {passed} passed, {failed} failed, {unsupported} unsupported"
    );
}
