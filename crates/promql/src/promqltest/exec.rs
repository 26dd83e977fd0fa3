//! Running parsed commands: loading data into a fresh in-memory storage, evaluating each eval
//! the ways test.go does (the instant query, its `@`-pinned variants, and its range-mode
//! cross-check), and classifying the case.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::LazyLock;

use narthex_model::api::QueryData;
use narthex_model::memory::MemoryStorage;
use narthex_model::{Labels, LabelsBuilder, Matcher, Sample, Storage, METRIC_NAME};
use regex::Regex;

use super::compare::{
    assert_matrix_sorted, check_annotations, check_expected_failure, compare_result,
};
use super::script::{Command, EvalCmd, LoadCmd};
use super::QueryEngine;
use crate::ast::{AtModifier, Expr};
use crate::series_notation::{self, SequenceValue};

/// Besides `functions::AT_MODIFIER_UNSAFE_FUNCTIONS`, functions whose queries skip the `@`
/// variants: the query-context functions give the query's own start, end, range and step,
/// which the `@` variants change: Prometheus's test files expect `start()` at 100s to be 100
/// while test.go re-runs instant queries at up to ten times their time.
const QUERY_CONTEXT_FUNCTIONS: &[&str] = &["start", "end", "range", "step"];

/// Queries whose value depends on the query's own range skip the range-mode cross-check.
static QUERY_CONTEXT_FUNCS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(start|end|range|step)\(\)").expect("static regex"));

/// How one eval ended.
pub(crate) enum Outcome {
    Passed,
    Failed(String),
    Unsupported(String),
}

/// One test file's state: the storage and what it holds that Narthex cannot represent.
pub(crate) struct Runner<'a> {
    engine: &'a dyn QueryEngine,
    storage: MemoryStorage,
    /// Series whose data is only partly loaded (native histogram samples, start timestamps);
    /// evals that select them are unsupported.
    partial: Vec<(Labels, &'static str)>,
}

impl<'a> Runner<'a> {
    pub fn new(engine: &'a dyn QueryEngine) -> Self {
        Runner {
            engine,
            storage: MemoryStorage::new(),
            partial: Vec::new(),
        }
    }

    /// Runs one command; `Some` for commands that count as a case (evals, and failures of
    /// others).
    pub fn run(&mut self, command: &Command) -> Option<(usize, String, Outcome)> {
        match command {
            Command::Clear => {
                self.storage.clear();
                self.partial.clear();
                None
            }
            Command::Load(load) => self
                .load(load)
                .err()
                .map(|e| (load.line, "load".to_string(), Outcome::Failed(e))),
            Command::Invalid {
                line,
                text,
                message,
            } => Some((
                *line,
                text.clone(),
                Outcome::Failed(format!("invalid test script: {message}")),
            )),
            Command::Eval(cmd) => {
                // An engine panic fails this case, not the whole run.
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| self.eval(cmd))).unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("(no message)");
                        Outcome::Failed(format!("panicked: {message}"))
                    });
                Some((cmd.line, cmd.expr.clone(), outcome))
            }
        }
    }

    fn load(&mut self, load: &LoadCmd) -> Result<(), String> {
        let mut appender = self.storage.appender();
        for series in &load.series {
            for Sample { t, v } in series_notation::float_samples(&series.values, 0, load.interval)
            {
                if let Err(e) = appender.append(&series.labels, t, v) {
                    appender.rollback();
                    return Err(format!("appending to {}: {e}", series.labels));
                }
            }
            if series
                .values
                .iter()
                .any(|v| matches!(v, SequenceValue::Histogram(_)))
            {
                self.partial
                    .push((series.labels.clone(), "selects native histogram samples"));
            }
            if series.start_timestamps {
                self.partial.push((
                    series.labels.clone(),
                    "selects series with start timestamps",
                ));
            }
            if load.with_nhcb {
                if let Some(base) = nhcb_series(&series.labels) {
                    self.partial.push((
                        base,
                        "selects native histograms with custom buckets (load_with_nhcb)",
                    ));
                }
            }
        }
        appender.commit().map_err(|e| format!("committing: {e}"))
    }

    fn eval(&self, cmd: &EvalCmd) -> Outcome {
        if cmd.expects_histograms {
            return Outcome::Unsupported("expects native histogram values".into());
        }
        let expr = match self.engine.parse(&cmd.expr) {
            Ok(expr) => expr,
            Err(e) => {
                // test.go parses every query when it reads the file, so a query Prometheus
                // rejects only when running it (some checks come late there) must parse. Where
                // Narthex rejects it earlier, the case still passes if the error is the one the
                // case names; a bare `expect fail` does not vouch for a parse error.
                if cmd.names_expected_error() && check_expected_failure(cmd, &e).is_ok() {
                    return Outcome::Passed;
                }
                return Outcome::Failed(format!("error parsing query {:?}: {e}", cmd.expr));
            }
        };
        if let Some(reason) = self.unsupported_reason(&expr) {
            return Outcome::Unsupported(reason.into());
        }
        let result = match cmd.range {
            Some((start, end, step)) => self.exec_range(cmd, &expr, start, end, step),
            None => self.exec_instant(cmd, &expr),
        };
        match result {
            Ok(()) => Outcome::Passed,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Why the query cannot be checked here: one of its selectors matches a series whose data
    /// is only partly loaded.
    fn unsupported_reason(&self, expr: &Expr) -> Option<&'static str> {
        let mut reason = None;
        expr.for_each_selector(&mut |selector| {
            if reason.is_none() {
                reason = self
                    .partial
                    .iter()
                    .find(|(labels, _)| selects(&selector.matchers, labels))
                    .map(|(_, r)| *r);
            }
        });
        reason
    }

    fn exec_range(
        &self,
        cmd: &EvalCmd,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<(), String> {
        let querier = self.storage.querier();
        let output = match self.engine.range(&*querier, expr, start, end, step) {
            Ok(output) => output,
            Err(e) if cmd.is_fail() => return check_expected_failure(cmd, &e),
            Err(e) => {
                return Err(format!(
                    "error evaluating query {:?} (line {}): {e}",
                    cmd.expr, cmd.line
                ))
            }
        };
        if cmd.is_fail() {
            return Err(format!(
                "expected error evaluating query {:?} (line {}) but got none",
                cmd.expr, cmd.line
            ));
        }
        check_annotations(cmd, &cmd.expr, &output.warnings, &output.infos)?;
        compare_result(cmd, &output.data)
            .map_err(|e| format!("error in eval {} (line {}): {e}", cmd.expr, cmd.line))
    }

    /// The query at its time, then (as test.go does to check step invariance) with every
    /// selector pinned by `@` to that time and evaluated at other times.
    fn exec_instant(&self, cmd: &EvalCmd, expr: &Expr) -> Result<(), String> {
        self.run_instant_query(cmd, expr, cmd.eval_time, None)?;
        if let Some((pinned, times)) = at_modifier_variants(expr, cmd.eval_time) {
            for t in times {
                self.run_instant_query(cmd, &pinned, t, Some(cmd.eval_time))?;
            }
        }
        Ok(())
    }

    fn run_instant_query(
        &self,
        cmd: &EvalCmd,
        expr: &Expr,
        t: i64,
        pinned_at: Option<i64>,
    ) -> Result<(), String> {
        let label = match pinned_at {
            None => format!("{:?}", cmd.expr),
            Some(at) => format!(
                "{:?} with every selector at @ {} evaluated at t={}",
                cmd.expr,
                seconds(at),
                seconds(t)
            ),
        };
        let querier = self.storage.querier();
        let output = match self.engine.instant(&*querier, expr, t) {
            Ok(output) => output,
            Err(e) if cmd.is_fail() => return check_expected_failure(cmd, &e),
            Err(e) => {
                return Err(format!(
                    "error evaluating query {label} (line {}): {e}",
                    cmd.line
                ))
            }
        };
        if cmd.is_fail() {
            return Err(format!(
                "expected error evaluating query {label} (line {}) but got none",
                cmd.line
            ));
        }
        check_annotations(cmd, &cmd.expr, &output.warnings, &output.infos)?;
        compare_result(cmd, &output.data)
            .map_err(|e| format!("error in eval {label} (line {}): {e}", cmd.line))?;

        if cmd.exclude_from_range_query || query_depends_on_range(cmd, expr, pinned_at) {
            return Ok(());
        }
        // The same query as a range query must give the same value at the middle step.
        let range = self
            .engine
            .range(&*querier, expr, t - 60_000, t + 60_000, 60_000)
            .map_err(|e| {
                format!(
                    "error evaluating query {label} (line {}) in range mode: {e}",
                    cmd.line
                )
            })?;
        if cmd.is_ordered() {
            // Range results are always sorted by labels.
            return Ok(());
        }
        let QueryData::Matrix(matrix) = &range.data else {
            return Err(format!(
                "error in eval {label} (line {}) range mode: range query returned a {}, not a matrix",
                cmd.line,
                range.data.result_type()
            ));
        };
        assert_matrix_sorted(matrix)
            .map_err(|e| format!("error in eval {label} (line {}) range mode: {e}", cmd.line))?;
        let vector: Vec<(Labels, Sample)> = matrix
            .iter()
            .filter_map(|s| {
                let point = s.samples.iter().find(|p| p.t == t)?;
                Some((s.labels.clone(), *point))
            })
            .collect();
        let from_range = if matches!(output.data, QueryData::Scalar(_)) {
            match vector.first() {
                Some((_, sample)) => QueryData::Scalar(*sample),
                None => {
                    return Err(format!(
                        "error in eval {label} (line {}) range mode: no value at t={}",
                        cmd.line,
                        seconds(t)
                    ))
                }
            }
        } else {
            QueryData::Vector(vector)
        };
        compare_result(cmd, &from_range)
            .map_err(|e| format!("error in eval {label} (line {}) range mode: {e}", cmd.line))
    }
}

fn seconds(ms: i64) -> String {
    let mut out = String::new();
    narthex_model::api::write_timestamp(ms, &mut out);
    out
}

/// Whether the range-mode check is skipped because the query mentions `start()`, `end()`,
/// `range()` or `step()`, which a range query resolves differently. test.go looks at the query
/// text: the original for the query itself, the re-printed one for its `@`-pinned variants
/// (where `@ start()` has become a timestamp).
fn query_depends_on_range(cmd: &EvalCmd, expr: &Expr, pinned_at: Option<i64>) -> bool {
    match pinned_at {
        None => QUERY_CONTEXT_FUNCS.is_match(&cmd.expr),
        Some(_) => QUERY_CONTEXT_FUNCS.is_match(&expr.to_string()),
    }
}

/// The base series `load_with_nhcb` builds a native histogram for from a classic histogram
/// series: `x_bucket{le=...}` (with a valid `le`), `x_count` and `x_sum` all become `x`.
fn nhcb_series(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let base = if let Some(base) = name.strip_suffix("_bucket") {
        let le = labels.get("le")?;
        if series_notation::parse_go_number(le).is_none_or(f64::is_nan) {
            return None;
        }
        base
    } else if let Some(base) = name.strip_suffix("_count") {
        base
    } else {
        name.strip_suffix("_sum")?
    };
    let mut builder: LabelsBuilder = labels.to_builder();
    builder.remove("le");
    builder.set(METRIC_NAME, base);
    Some(builder.build())
}

fn selects(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// test.go's `atModifierTestCases`: the query with `@ t` on every selector and on every
/// outermost subquery (whose insides are left alone), evaluated at other times. `None` when
/// the query uses a function that depends on the evaluation time itself.
pub(crate) fn at_modifier_variants(expr: &Expr, t: i64) -> Option<(Expr, Vec<i64>)> {
    if uses_at_unsafe_function(expr) {
        return None;
    }
    let mut pinned = expr.clone();
    pin(&mut pinned, t);
    let times = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    Some((pinned, times))
}

fn uses_at_unsafe_function(expr: &Expr) -> bool {
    match expr {
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector(_) => {
            false
        }
        Expr::Subquery(s) => uses_at_unsafe_function(&s.expr),
        Expr::Paren(p) => uses_at_unsafe_function(&p.expr),
        Expr::Unary(u) => uses_at_unsafe_function(&u.expr),
        Expr::Binary(b) => uses_at_unsafe_function(&b.lhs) || uses_at_unsafe_function(&b.rhs),
        Expr::Aggregate(a) => {
            a.param.as_deref().is_some_and(uses_at_unsafe_function)
                || uses_at_unsafe_function(&a.expr)
        }
        Expr::Call(c) => {
            crate::functions::AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name)
                || QUERY_CONTEXT_FUNCTIONS.contains(&c.func.name)
                || c.args.iter().any(uses_at_unsafe_function)
        }
    }
}

/// Sets `@ t` where test.go does. An existing `@ <timestamp>` stays; `@ start()` and `@ end()`
/// are replaced, as Go's printer prefers the timestamp it sets over them.
fn pin(expr: &mut Expr, t: i64) {
    let pin_at = |at: &mut Option<AtModifier>| {
        if !matches!(at, Some(AtModifier::Timestamp(_))) {
            *at = Some(AtModifier::Timestamp(t));
        }
    };
    match expr {
        Expr::Number(_) | Expr::String(_) => {}
        Expr::VectorSelector(s) => pin_at(&mut s.at),
        Expr::MatrixSelector(m) => pin_at(&mut m.selector.at),
        Expr::Subquery(s) => {
            // A subquery with a timestamp shields everything inside it.
            pin_at(&mut s.at);
        }
        Expr::Paren(p) => pin(&mut p.expr, t),
        Expr::Unary(u) => pin(&mut u.expr, t),
        Expr::Binary(b) => {
            pin(&mut b.lhs, t);
            pin(&mut b.rhs, t);
        }
        Expr::Aggregate(a) => {
            if let Some(param) = &mut a.param {
                pin(param, t);
            }
            pin(&mut a.expr, t);
        }
        Expr::Call(c) => {
            for arg in &mut c.args {
                pin(arg, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhcb_base_series() {
        let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        assert_eq!(
            nhcb_series(&l(&[("__name__", "h_bucket"), ("le", "0.1"), ("job", "a")])),
            Some(l(&[("__name__", "h"), ("job", "a")]))
        );
        assert_eq!(
            nhcb_series(&l(&[("__name__", "h_sum"), ("job", "a")])),
            Some(l(&[("__name__", "h"), ("job", "a")]))
        );
        assert_eq!(
            nhcb_series(&l(&[("__name__", "h_bucket"), ("le", "NaN")])),
            None
        );
        assert_eq!(nhcb_series(&l(&[("__name__", "h_bucket")])), None);
        assert_eq!(nhcb_series(&l(&[("__name__", "h_total")])), None);
    }
}
