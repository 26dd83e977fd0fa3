//! Evaluation of PromQL expressions against a `Querier`, reproducing Prometheus 3's engine
//! (`promql/engine.go` and `promql/functions.go`) result for result.
//!
//! The shape follows Prometheus: every scalar or instant-vector expression is evaluated over all
//! steps of the query at once into a matrix (one series per label set, one point per step), so a
//! selector reads its data once for the whole query and walks each series across all steps with
//! a cursor; functions over range vectors slide a window over each series.
//!
//! Whatever can be computed series by series is, because walking one series' points in order
//! is what is cheap (sequential memory, no per-step vectors, label clones or label hashing):
//! aggregations add each series into per-group, per-step cells (`aggregate`), element-wise
//! functions and vector/scalar operators map each series (`Ev::map_series`), `and`/`unless`
//! filter each left series by the right side's presence per step, and vector matching over a
//! range walks each left series against a signature-by-step table of the right side
//! (`binary::match_series`). The rest (`topk` and friends, `or`, vector matching with `fill` or
//! that may fail, `sort`, `histogram_quantile`, ...) runs step by step over per-step vectors
//! (`Ev::range_eval`), as Prometheus's `rangeEval` does. Both give the same results, in the same
//! floating-point order; `benches/queries.rs` measures them.
//!
//! `@` modifiers are applied directly (a selector with `@ t` always looks at `t`); as in
//! Prometheus, an expression whose value cannot change from step to step (every selector and
//! subquery in it has an `@`, or it has none, and no function in it reads the step's time) is
//! evaluated at the first step only and copied to the others (`Ev::eval_step_invariant`).
//! An operation that drops `__name__` marks its series; the mark is carried out as the
//! operation ends (`Ev::drop_names_now`, Prometheus's default), or with delayed name removal
//! (`--enable-feature=promql-delayed-name-removal`, and Prometheus's test files) at the very
//! end of the query (`cleanup`).
//!
//! Samples held in memory are counted as Prometheus's evaluator counts them, for `stats`'
//! `peakSamples` and `--query.max-samples`: a node ends holding its result only (its inputs let
//! go of), and while an operator runs, what Prometheus's `rangeEval` holds at a step is its
//! inputs, the input samples gathered for that step and the results so far (`StepCounts`).

mod aggregate;
mod binary;
pub mod cost;
mod extended;
mod functions;
mod gosort;
mod histogram;
mod info;
mod query_span;
pub(crate) mod util;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use narthex_model::api::QueryData;
use narthex_model::{
    is_stale_nan, Labels, Matcher, Querier, Sample, Series, SeriesOrder, StorageError,
};

use crate::ast::{AtModifier, Expr, MatrixSelector, Span, SubqueryExpr, ValueType, VectorSelector};
use crate::value::{drop_metadata, EvalSample, EvalSeries, Value, METADATA_LABELS};

/// Prometheus's default `--query.lookback-delta`.
pub const DEFAULT_LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// How the engine evaluates queries.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the newest sample (ms).
    pub lookback_delta_ms: i64,
    /// Whether `--enable-feature=promql-experimental-functions` is on.
    pub experimental_functions: bool,
    /// The most samples a query may hold in memory at once.
    pub max_samples: usize,
    /// Wall-clock limit of one query.
    pub timeout: Option<Duration>,
    /// The step of subqueries written without one (`x[5m:]`): Prometheus's global evaluation
    /// interval (ms).
    pub default_subquery_step_ms: i64,
    /// `--enable-feature=promql-delayed-name-removal`: `__name__` stays on a series that an
    /// operation marked until the end of the query (so `label_replace` and `by (__name__)`
    /// still see it). Off, as in Prometheus by default, each operation drops it at once.
    /// Prometheus's own test files are written for it on.
    pub delayed_name_removal: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: DEFAULT_LOOKBACK_DELTA_MS,
            experimental_functions: false,
            max_samples: 50_000_000,
            timeout: None,
            default_subquery_step_ms: 60_000,
            delayed_name_removal: false,
        }
    }
}

/// Why `expr` cannot be evaluated as a range query, in Prometheus's words, if it cannot: only
/// scalars and instant vectors have a value at every step.
pub fn range_query_type_error(expr: &Expr) -> Option<String> {
    let vt = expr.value_type();
    (vt != ValueType::Scalar && vt != ValueType::Vector).then(|| {
        format!(
            "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
            vt.as_str()
        )
    })
}

/// The PromQL engine. Stateless between queries; cheap to share.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    pub options: EngineOptions,
}

/// A query's result with its annotations, as the HTTP API returns them.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub data: QueryData,
    /// `PromQL warning: ...` texts, each ending in the position of the expression concerned.
    pub warnings: Vec<String>,
    /// `PromQL info: ...` texts.
    pub infos: Vec<String>,
    /// What the evaluation read and held, for the API's `stats` parameter.
    pub stats: QueryStats,
}

/// Sample counts of one evaluation, as the API reports them under `stats=all`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Prometheus's `totalQueryableSamples`: the samples the query's selectors gave at each
    /// step, summed over the steps. A range function counts its window at every step (a 5m
    /// window every minute counts each sample five times), an instant selector one sample a
    /// series and step; a subquery's own evaluation counts only as the points it gives the
    /// function around it (or once, for a subquery that is the whole query).
    pub samples_read: u64,
    /// The most samples held in memory at once (Prometheus's `peakSamples`).
    pub peak_samples: usize,
}

/// Why a query failed. `Display` is Prometheus's message.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("expanding series: {0}")]
    Storage(#[from] StorageError),
    /// An evaluation error (Prometheus's `errorType` "execution").
    #[error("{0}")]
    Execution(String),
    /// A query that cannot be run as asked (Prometheus's `errorType` "bad_data").
    #[error("{0}")]
    BadData(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error("query timed out in query execution")]
    Timeout,
    #[error("query was canceled in query execution")]
    Canceled,
}

pub(crate) type Result<T> = std::result::Result<T, EngineError>;

pub(crate) fn exec_err(msg: impl Into<String>) -> EngineError {
    EngineError::Execution(msg.into())
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Instant query at `t` (ms). A range-vector expression (e.g. `x[5m]`) gives
    /// `QueryData::Matrix`, a scalar `QueryData::Scalar`, a string `QueryData::String`.
    pub fn instant(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        t: i64,
    ) -> std::result::Result<QueryResult, EngineError> {
        self.instant_with_source(querier, expr, None, t)
    }

    /// Like `instant`, with the query text, so annotation positions of multi-line queries are
    /// given as Prometheus gives them (line:column). Without it, positions assume one line.
    pub fn instant_with_source(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        source: Option<&str>,
        t: i64,
    ) -> std::result::Result<QueryResult, EngineError> {
        let resolved = resolve(expr, 0, 0)?;
        let expr = resolved.as_ref().unwrap_or(expr);
        let ctx = Ctx::new(querier, &self.options, expr, t, t, 0);
        let ev = Ev {
            ctx: &ctx,
            start: t,
            end: t,
            interval: 1,
            preprocessed: true,
        };
        let value = ev.eval(expr)?;
        let data = match value {
            Value::String(s) => QueryData::String { t, value: s },
            Value::Matrix(m) => {
                let m = cleanup(m, ctx.names_dropped_early.get())?;
                match expr.value_type() {
                    ValueType::Scalar => {
                        let v = m
                            .first()
                            .and_then(|s| s.points.first())
                            .map(|p| p.v)
                            .unwrap_or(f64::NAN);
                        QueryData::Scalar(Sample { t, v })
                    }
                    // Sorted, as Prometheus sorts every matrix result (`sortMatrixResult`).
                    ValueType::Matrix => QueryData::Matrix(sorted_by_labels(m)),
                    // In the order evaluation left the series, as Prometheus lists them.
                    _ => QueryData::Vector(
                        m.into_iter()
                            .filter_map(|s| {
                                let p = s.points.first()?;
                                Some((s.labels, Sample { t, v: p.v }))
                            })
                            .collect(),
                    ),
                }
            }
        };
        let (warnings, infos) = ctx.annotations(source);
        Ok(QueryResult {
            data,
            warnings,
            infos,
            stats: ctx.stats(),
        })
    }

    /// Range query from `start` to `end` inclusive every `step` (ms).
    pub fn range(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> std::result::Result<QueryResult, EngineError> {
        self.range_with_source(querier, expr, None, start, end, step)
    }

    /// Like `range`, with the query text for annotation positions (see `instant_with_source`).
    pub fn range_with_source(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        source: Option<&str>,
        start: i64,
        end: i64,
        step: i64,
    ) -> std::result::Result<QueryResult, EngineError> {
        if let Some(message) = range_query_type_error(expr) {
            return Err(EngineError::BadData(message));
        }
        if step <= 0 {
            return Err(EngineError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(EngineError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let resolved = resolve(expr, step, end - start)?;
        let expr = resolved.as_ref().unwrap_or(expr);
        let ctx = Ctx::new(querier, &self.options, expr, start, end, step);
        let ev = Ev {
            ctx: &ctx,
            start,
            end,
            interval: step,
            preprocessed: true,
        };
        let value = ev.eval(expr)?;
        let m = match value {
            Value::Matrix(m) => cleanup(m, ctx.names_dropped_early.get())?,
            Value::String(_) => Vec::new(),
        };
        let m = m.into_iter().filter(|s| !s.points.is_empty()).collect();
        let (warnings, infos) = ctx.annotations(source);
        Ok(QueryResult {
            data: QueryData::Matrix(sorted_by_labels(m)),
            warnings,
            infos,
            stats: ctx.stats(),
        })
    }
}

/// Fills in the durations written as expressions (`[5m+step()]`), on a copy, when there are any.
fn resolve(expr: &Expr, step: i64, range: i64) -> Result<Option<Expr>> {
    // Most queries have none: no copy of the tree for them.
    if !expr.has_duration_expressions() {
        return Ok(None);
    }
    let mut copy = expr.clone();
    copy.resolve_durations(step, range)
        .map_err(EngineError::Execution)?;
    Ok(if &copy == expr { None } else { Some(copy) })
}

/// A matrix result: its series sorted by labels.
fn sorted_by_labels(m: Vec<EvalSeries>) -> Vec<Series> {
    let mut out: Vec<Series> = m
        .into_iter()
        .map(|s| Series {
            labels: s.labels,
            samples: s.points,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// The `__name__`, `__type__` and `__unit__` labels of a set, found among its first labels
/// (sets are sorted, and these names start with `__`) as Prometheus's `DropReserved` does.
fn metadata(labels: &Labels) -> impl Iterator<Item = &narthex_model::Label> {
    labels
        .iter()
        .take_while(|l| l.name.as_bytes().first().is_some_and(|&b| b <= b'_'))
        .filter(|l| METADATA_LABELS.contains(&l.name.as_str()))
}

/// Drops the names marked for dropping and merges series that end up with the same labels
/// (Prometheus's `cleanupMetricLabels` and `mergeSeriesWithSameLabelset`).
fn cleanup(mut m: Vec<EvalSeries>, names_dropped_early: bool) -> Result<Vec<EvalSeries>> {
    let mut renamed = names_dropped_early;
    for s in m.iter_mut() {
        if s.drop_name {
            s.labels = drop_metadata(&s.labels);
            s.drop_name = false;
            renamed = true;
        }
    }
    // Every operation leaves its series' label sets distinct; only dropping names can make
    // two equal. Looking for equal sets costs a hash of every set once selections come in
    // creation order, where the quick test for increasing label sets fails.
    if !renamed {
        return Ok(m);
    }
    merge_same_labelsets(m)
}

/// Whether two series have equal label sets (Prometheus's `ContainsSameLabelset`).
fn contains_same_labelset(m: &[EvalSeries]) -> bool {
    // Strictly increasing label sets (a selection's label order, which most functions keep)
    // hold no duplicates: n - 1 comparisons, most of them on shared strings, instead of
    // hashing them all.
    if m.windows(2).all(|w| w[0].labels < w[1].labels) {
        return false;
    }
    // Borrowed keys: this runs on every query's result, and cloning each label set only to
    // look for duplicates cost reference-count traffic.
    let mut index: util::FastSet<&Labels> =
        util::FastSet::with_capacity_and_hasher(m.len(), Default::default());
    !m.iter().all(|s| index.insert(&s.labels))
}

/// Merges series with equal label sets, failing if two of them have a point at the same time.
pub(crate) fn merge_same_labelsets(m: Vec<EvalSeries>) -> Result<Vec<EvalSeries>> {
    if !contains_same_labelset(&m) {
        return Ok(m);
    }
    let mut out: Vec<EvalSeries> = Vec::with_capacity(m.len());
    let mut pos: util::FastMap<Labels, usize> = util::fast_map(m.len());
    for s in m {
        match pos.get(&s.labels) {
            Some(&i) => {
                let base = &mut out[i];
                base.points.extend(s.points);
                base.drop_name |= s.drop_name;
            }
            None => {
                pos.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    for s in out.iter_mut() {
        s.points.sort_by_key(|p| p.t);
        if s.points.windows(2).any(|w| w[0].t == w[1].t) {
            return Err(exec_err(
                "vector cannot contain metrics with the same labelset",
            ));
        }
    }
    Ok(out)
}

/// Annotations of one query, deduplicated by text as Prometheus does.
#[derive(Default)]
pub(crate) struct Annotations {
    /// message (without position) → (is_info, byte offset of the expression)
    map: BTreeMap<String, (bool, usize)>,
}

/// The state shared by all evaluators of one query.
pub(crate) struct Ctx<'a> {
    pub querier: &'a dyn Querier,
    pub opts: &'a EngineOptions,
    /// The query's start and end, for `@ start()` and `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    /// The query's step (0 for an instant query), for `step()`.
    pub query_step: i64,
    /// The order every selection lists its series in, as Prometheus's storage would for
    /// this query's time range (see `Querier::query_order`).
    order: SeriesOrder,
    /// Whether a name was dropped before the end (a subquery's, under a range function),
    /// which may leave series with equal label sets for the end to merge or refuse.
    pub names_dropped_early: Cell<bool>,
    /// Set by an aggregation just before it evaluates its argument, taken by that
    /// evaluation (see `Ev::drop_names_now`).
    pub names_unread: Cell<bool>,
    deadline: Option<Instant>,
    annos: RefCell<Annotations>,
    /// Samples currently held, for `max_samples`.
    samples: Cell<usize>,
    peak_samples: Cell<usize>,
    samples_read: Cell<u64>,
    ticks: Cell<u32>,
}

impl<'a> Ctx<'a> {
    fn new(
        querier: &'a dyn Querier,
        opts: &'a EngineOptions,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Self {
        let (mint, maxt) = query_span::query_span(expr, start, end, opts.lookback_delta_ms);
        Ctx {
            querier,
            opts,
            query_start: start,
            query_end: end,
            query_step: step,
            order: querier.query_order(mint, maxt),
            names_dropped_early: Cell::new(false),
            names_unread: Cell::new(false),
            deadline: opts.timeout.map(|d| Instant::now() + d),
            annos: RefCell::new(Annotations::default()),
            samples: Cell::new(0),
            peak_samples: Cell::new(0),
            samples_read: Cell::new(0),
            ticks: Cell::new(0),
        }
    }

    fn stats(&self) -> QueryStats {
        QueryStats {
            samples_read: self.samples_read.get(),
            peak_samples: self.peak_samples.get(),
        }
    }

    pub fn warn(&self, msg: String, span: Span) {
        self.annos
            .borrow_mut()
            .map
            .insert(format!("PromQL warning: {msg}"), (false, span.start));
    }

    pub fn info(&self, msg: String, span: Span) {
        self.annos
            .borrow_mut()
            .map
            .insert(format!("PromQL info: {msg}"), (true, span.start));
    }

    fn annotations(&self, source: Option<&str>) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        let mut infos = Vec::new();
        for (msg, &(is_info, pos)) in self.annos.borrow().map.iter() {
            let (line, col) = match source {
                Some(src) if pos <= src.len() && src.is_char_boundary(pos) => {
                    let before = &src[..pos];
                    let line = before.matches('\n').count() + 1;
                    let col = match before.rfind('\n') {
                        Some(i) => pos - i,
                        None => pos + 1,
                    };
                    (line, col)
                }
                _ => (1, pos + 1),
            };
            let text = format!("{msg} ({line}:{col})");
            if is_info {
                infos.push(text);
            } else {
                warnings.push(text);
            }
        }
        (warnings, infos)
    }

    /// Fails once the query has run out of time. Cheap enough to call in inner loops.
    pub fn check_time(&self) -> Result<()> {
        if let Some(deadline) = self.deadline {
            let t = self.ticks.get().wrapping_add(1);
            self.ticks.set(t);
            if t.is_multiple_of(64) && Instant::now() > deadline {
                return Err(EngineError::Timeout);
            }
        }
        Ok(())
    }

    /// Counts `n` samples given by a selector at one step, or over several (see
    /// [`QueryStats::samples_read`]).
    pub fn count_queried(&self, n: usize) {
        self.samples_read
            .set(self.samples_read.get().saturating_add(n as u64));
    }

    /// Accounts for `n` more samples in memory.
    pub fn add_samples(&self, n: usize) -> Result<()> {
        let cur = self.samples.get().saturating_add(n);
        self.samples.set(cur);
        self.note_held(cur)
    }

    /// The samples held now.
    pub fn held(&self) -> usize {
        self.samples.get()
    }

    /// Notes that `n` samples are held at some moment (the current count stays as it is):
    /// the peak, and the limit.
    pub fn note_held(&self, n: usize) -> Result<()> {
        self.peak_samples.set(self.peak_samples.get().max(n));
        if n > self.opts.max_samples {
            return Err(EngineError::TooManySamples);
        }
        Ok(())
    }

    /// Ends a node that held `original` samples before it began: it now holds those and its
    /// result, its inputs let go of (Prometheus: `originalNumSamples + mat.TotalSamples()`).
    pub fn hold_result(&self, original: usize, result: &[EvalSeries]) {
        let cur = original.saturating_add(crate::value::total_points(result));
        self.samples.set(cur);
        self.peak_samples.set(self.peak_samples.get().max(cur));
    }

    /// What Prometheus's `rangeEval` holds step by step, for an operator that computes all
    /// steps at once: at each step the samples held before it (its inputs among them), the
    /// input samples gathered for the step and the results of the steps so far, that step's
    /// included.
    pub fn note_range_eval(
        &self,
        ev: &Ev,
        gathered: &StepCounts,
        results: &StepCounts,
    ) -> Result<()> {
        let base = self.samples.get();
        let mut earlier = 0usize;
        let mut most = 0usize;
        for step in 0..ev.num_steps() {
            let now = results.at(step);
            most = most.max(earlier + gathered.at(step) + now);
            earlier += now;
        }
        self.note_held(base.saturating_add(most))
    }

    /// Releases `n` samples.
    pub fn sub_samples(&self, n: usize) {
        self.samples.set(self.samples.get().saturating_sub(n));
    }

    /// Reads the series matching `matchers` with samples in `[mint, maxt]`.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        self.read(matchers, mint, maxt, false)
    }

    /// As [`select`](Self::select), with only the newest sample of each series.
    pub fn select_newest(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>> {
        self.read(matchers, mint, maxt, true)
    }

    fn read(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        newest_only: bool,
    ) -> Result<Vec<Series>> {
        self.check_time()?;
        if mint > maxt {
            return Ok(Vec::new());
        }
        let series = if newest_only {
            self.querier
                .select_newest(self.order, matchers, mint, maxt)?
        } else {
            self.querier.select(self.order, matchers, mint, maxt)?
        };
        Ok(series)
    }
}

/// How many series of some matrices have a point at each step of an evaluator's grid (a
/// series counted once a step, as Prometheus's `gatherVector` takes one point per series).
pub(crate) struct StepCounts {
    /// Series with a point at every step.
    dense: usize,
    /// The others, per step (empty while there are none).
    sparse: Vec<usize>,
}

impl StepCounts {
    pub fn new() -> StepCounts {
        StepCounts {
            dense: 0,
            sparse: Vec::new(),
        }
    }

    pub fn of(ev: &Ev, matrices: &[&[EvalSeries]]) -> StepCounts {
        let mut counts = StepCounts::new();
        for m in matrices {
            counts.add(ev, m);
        }
        counts
    }

    /// Whether `points` has one point at every step: a series' points are at distinct steps,
    /// in order, so as many as there are steps, from the first to the last, are one at each.
    pub fn spans_all_steps(ev: &Ev, points: &[Sample]) -> bool {
        let steps = ev.num_steps();
        match (points.first(), points.last()) {
            (Some(first), Some(last)) => {
                points.len() == steps
                    && ev.step_index(first.t) == Some(0)
                    && ev.step_index(last.t) == Some(steps - 1)
            }
            _ => false,
        }
    }

    /// Counts a series with a point at every step.
    pub fn add_dense(&mut self) {
        self.dense += 1;
    }

    pub fn add(&mut self, ev: &Ev, m: &[EvalSeries]) {
        let steps = ev.num_steps();
        for s in m {
            if Self::spans_all_steps(ev, &s.points) {
                self.dense += 1;
                continue;
            }
            if self.sparse.len() < steps {
                self.sparse.resize(steps, 0);
            }
            let mut prev = None;
            for p in &s.points {
                if prev == Some(p.t) {
                    continue;
                }
                prev = Some(p.t);
                if let Some(step) = ev.step_index(p.t) {
                    self.sparse[step] += 1;
                }
            }
        }
    }

    /// Counts one more series at `step`.
    pub fn add_at(&mut self, step: usize) {
        if self.sparse.len() <= step {
            self.sparse.resize(step + 1, 0);
        }
        self.sparse[step] += 1;
    }

    pub fn at(&self, step: usize) -> usize {
        self.dense + self.sparse.get(step).copied().unwrap_or(0)
    }
}

/// An evaluator over one time grid: `start..=end` every `interval`.
#[derive(Clone, Copy)]
pub(crate) struct Ev<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    /// Whether Prometheus's preprocessing reaches the expressions evaluated here: it does not
    /// reach into an aggregation's parameter. Where it does, step-invariant expressions are
    /// evaluated once and copied to every step, and `@ start()` and `@ end()` are resolved;
    /// where it does not, Prometheus evaluates every step and ignores those two modifiers.
    pub preprocessed: bool,
}

/// Whether `expr`'s value is the same at every step (Prometheus's `preprocessExprHelper`):
/// every selector and subquery in it has an `@`, and no function in it reads the step's time.
/// An aggregation's parameter is not looked at, as Prometheus does not.
pub(crate) fn is_step_invariant(expr: &Expr) -> bool {
    match expr {
        Expr::Number(_) | Expr::String(_) => true,
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.selector.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Paren(p) => is_step_invariant(&p.expr),
        Expr::Unary(u) => is_step_invariant(&u.expr),
        Expr::Aggregate(a) => is_step_invariant(&a.expr),
        Expr::Binary(b) => is_step_invariant(&b.lhs) && is_step_invariant(&b.rhs),
        Expr::Call(c) => {
            !crate::functions::AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name)
                && c.args.iter().all(is_step_invariant)
        }
    }
}

/// Strips parentheses, as Prometheus's preprocessing does for function and aggregation
/// arguments.
pub(crate) fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        _ => e,
    }
}

impl<'c, 'a> Ev<'c, 'a> {
    pub fn num_steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1).max(0) as usize
    }

    /// The step timestamps.
    pub fn steps(&self) -> impl Iterator<Item = i64> {
        let (start, end, interval) = (self.start, self.end, self.interval);
        (0..)
            .map(move |i| start + i * interval)
            .take_while(move |&t| t <= end)
    }

    pub fn is_instant(&self) -> bool {
        self.start == self.end
    }

    /// The fixed evaluation time of an `@` modifier.
    pub fn at_time(&self, at: Option<AtModifier>) -> Option<i64> {
        match at? {
            AtModifier::Timestamp(t) => Some(t),
            AtModifier::Start if self.preprocessed => Some(self.ctx.query_start),
            AtModifier::End if self.preprocessed => Some(self.ctx.query_end),
            AtModifier::Start | AtModifier::End => None,
        }
    }

    pub fn eval(&self, expr: &Expr) -> Result<Value> {
        // This expression's own; the expressions under it start without.
        let names_unread = self.ctx.names_unread.replace(false);
        self.ctx.check_time()?;
        if self.end < self.start {
            return Ok(Value::Matrix(Vec::new()));
        }
        if self.preprocessed
            && !self.is_instant()
            && !matches!(
                expr,
                Expr::Number(_) | Expr::String(_) | Expr::MatrixSelector(_) | Expr::Subquery(_)
            )
            && is_step_invariant(expr)
        {
            let m = self.eval_step_invariant(expr)?;
            return Ok(Value::Matrix(self.drop_names_now(expr, m, names_unread)?));
        }
        let original = self.ctx.held();
        let value = self.eval_node(expr)?;
        // Calls end their own way (see `functions::eval_call`).
        if let (Value::Matrix(m), false) = (&value, matches!(expr, Expr::Call(_))) {
            self.ctx.hold_result(original, m);
        }
        match value {
            Value::Matrix(m) => Ok(Value::Matrix(self.drop_names_now(expr, m, names_unread)?)),
            other => Ok(other),
        }
    }

    /// Without delayed name removal (Prometheus's default), the names `expr` marked for
    /// dropping go now, before any other operation sees them: `x or present_over_time(x[1h])`
    /// then has two series once `x` has ended, `label_replace` and `by (__name__)` above find
    /// no name. Series that end up with one label set are refused as Prometheus refuses
    /// them: where a function over a range vector dropped the names, at all (its
    /// `ContainsSameLabelset` check); elsewhere only when two have a point at the same step
    /// (its step-by-step evaluation, and the merge after a unary minus), and otherwise
    /// merged.
    ///
    /// Under an aggregation (`names_unread`) the marks may stay when every series carries
    /// one and all have the same name (and type and unit): dropping could then make no two
    /// series equal, the aggregation groups them alike with or without the name, and it
    /// passes the marks on to its own result. That spares rebuilding every label set of
    /// `sum by (job) (rate(x[5m]))` for nothing.
    fn drop_names_now(
        &self,
        expr: &Expr,
        mut m: Vec<EvalSeries>,
        names_unread: bool,
    ) -> Result<Vec<EvalSeries>> {
        if self.ctx.opts.delayed_name_removal || !m.iter().any(|s| s.drop_name) {
            return Ok(m);
        }
        if names_unread && m.iter().all(|s| s.drop_name) {
            // Label sets are sorted, and these names start with `__`: only the first few
            // labels need a look (as Prometheus's `DropReserved`), not a search per name.
            let first = &m[0].labels;
            if m.iter().all(|s| metadata(&s.labels).eq(metadata(first))) {
                return Ok(m);
            }
        }
        for s in m.iter_mut().filter(|s| s.drop_name) {
            s.labels = drop_metadata(&s.labels);
            s.drop_name = false;
        }
        let whole_matrix = match expr {
            Expr::Call(c) => c.args.iter().any(|a| a.value_type() == ValueType::Matrix),
            _ => false,
        };
        if !whole_matrix {
            return merge_same_labelsets(m);
        }
        if contains_same_labelset(&m) {
            return Err(exec_err(
                "vector cannot contain metrics with the same labelset",
            ));
        }
        Ok(m)
    }

    /// An expression whose value is the same at every step, evaluated at the first step and
    /// copied to the others, as Prometheus evaluates a `StepInvariantExpr`; the samples read
    /// count at every step.
    fn eval_step_invariant(&self, expr: &Expr) -> Result<Vec<EvalSeries>> {
        let once = Ev {
            end: self.start,
            ..*self
        };
        let read_before = self.ctx.samples_read.get();
        let m = once.eval_matrix(expr)?;
        let read = self.ctx.samples_read.get() - read_before;
        let steps = self.num_steps();
        self.ctx
            .samples_read
            .set(read_before.saturating_add(read.saturating_mul(steps as u64)));
        let mut out = Vec::with_capacity(m.len());
        for s in m {
            let Some(first) = s.points.first() else {
                continue;
            };
            self.ctx.add_samples(steps - 1)?;
            let v = first.v;
            out.push(EvalSeries {
                labels: s.labels,
                points: self.steps().map(|t| Sample { t, v }).collect(),
                drop_name: s.drop_name,
            });
        }
        Ok(out)
    }

    fn eval_node(&self, expr: &Expr) -> Result<Value> {
        match expr {
            Expr::Number(n) => {
                let v = n.value;
                self.ctx.add_samples(self.num_steps())?;
                Ok(Value::Matrix(vec![EvalSeries {
                    labels: Labels::default(),
                    points: self.steps().map(|t| Sample { t, v }).collect(),
                    drop_name: false,
                }]))
            }
            Expr::String(s) => Ok(Value::String(s.value.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::VectorSelector(vs) => Ok(Value::Matrix(self.eval_vector_selector(vs)?)),
            Expr::MatrixSelector(ms) => {
                if !self.is_instant() {
                    return Err(exec_err("cannot do range evaluation of matrix selector"));
                }
                Ok(Value::Matrix(self.eval_matrix_selector(ms)?))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.eval_subquery(sq)?)),
            Expr::Unary(u) => {
                let mut m = self.eval_matrix(&u.expr)?;
                if u.op == crate::ast::UnaryOp::Neg {
                    for s in m.iter_mut() {
                        s.drop_name = true;
                        for p in s.points.iter_mut() {
                            p.v = -p.v;
                        }
                    }
                }
                Ok(Value::Matrix(m))
            }
            Expr::Binary(b) => Ok(Value::Matrix(binary::eval_binary(self, b)?)),
            Expr::Aggregate(a) => Ok(Value::Matrix(aggregate::eval_aggregate(self, a)?)),
            Expr::Call(c) => Ok(Value::Matrix(functions::eval_call(self, c)?)),
        }
    }

    /// Evaluates an expression that must yield a matrix (anything but a string).
    pub fn eval_matrix(&self, expr: &Expr) -> Result<Vec<EvalSeries>> {
        match self.eval(expr)? {
            Value::Matrix(m) => Ok(m),
            Value::String(_) => Err(exec_err("unexpected string expression")),
        }
    }

    /// Evaluates a scalar expression into one value per step (NaN where it has none).
    pub fn eval_scalar_steps(&self, expr: &Expr) -> Result<Vec<f64>> {
        let m = self.eval_matrix(expr)?;
        let mut out = vec![f64::NAN; self.num_steps()];
        if let Some(s) = m.first() {
            for p in &s.points {
                let i = ((p.t - self.start) / self.interval) as usize;
                if i < out.len() {
                    out[i] = p.v;
                }
            }
        }
        Ok(out)
    }

    /// An instant vector selector: for each step the newest sample in the left-open lookback
    /// window `(t - lookback, t]`, unless it is a staleness marker.
    fn eval_vector_selector(&self, vs: &VectorSelector) -> Result<Vec<EvalSeries>> {
        if vs.smoothed {
            return self.eval_smoothed_selector(vs);
        }
        let at = self.at_time(vs.at);
        let lookback = self.ctx.opts.lookback_delta_ms;
        let (ref_min, ref_max) = match at {
            Some(a) => (a - vs.offset, a - vs.offset),
            None => (self.start - vs.offset, self.end - vs.offset),
        };
        // One evaluation time needs only each series' newest sample in the lookback window.
        let series = if ref_min == ref_max {
            self.ctx
                .select_newest(&vs.matchers, ref_min - lookback + 1, ref_max)?
        } else {
            self.ctx
                .select(&vs.matchers, ref_min - lookback + 1, ref_max)?
        };
        let steps = self.num_steps();
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            self.ctx.check_time()?;
            // At most one point a step, and a sample shows at the steps of one lookback delta.
            let steps_per_sample = (lookback / self.interval.max(1)).max(0) as usize + 1;
            let mut points =
                Vec::with_capacity(steps.min(s.samples.len().saturating_mul(steps_per_sample)));
            if let Some(a) = at {
                if let Some(p) = sample_at(&s.samples, &mut 0, a - vs.offset, lookback) {
                    self.ctx.add_samples(steps)?;
                    points = self.steps().map(|t| Sample { t, v: p.v }).collect();
                }
            } else {
                let mut cursor = 0;
                for t in self.steps() {
                    if let Some(p) = sample_at(&s.samples, &mut cursor, t - vs.offset, lookback) {
                        points.push(Sample { t, v: p.v });
                    }
                }
                self.ctx.add_samples(points.len())?;
            }
            self.ctx.count_queried(points.len());
            if !points.is_empty() {
                out.push(EvalSeries {
                    labels: s.labels,
                    points,
                    drop_name: false,
                });
            }
        }
        Ok(out)
    }

    /// A `smoothed` instant selector: for each step the value interpolated at the step time from
    /// the non-stale samples within a lookback delta on either side (see
    /// `extended::smoothed_value`).
    fn eval_smoothed_selector(&self, vs: &VectorSelector) -> Result<Vec<EvalSeries>> {
        let at = self.at_time(vs.at);
        let lookback = self.ctx.opts.lookback_delta_ms;
        let (ref_min, ref_max) = match at {
            Some(a) => (a - vs.offset, a - vs.offset),
            None => (self.start - vs.offset, self.end - vs.offset),
        };
        let series = self
            .ctx
            .select(&vs.matchers, ref_min - lookback + 1, ref_max + lookback)?;
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            self.ctx.check_time()?;
            let samples: Vec<Sample> = s
                .samples
                .into_iter()
                .filter(|p| !is_stale_nan(p.v))
                .collect();
            let (mut lo, mut hi) = (0, 0);
            let mut points = Vec::new();
            for t in self.steps() {
                let data_t = at.unwrap_or(t) - vs.offset;
                while hi < samples.len() && samples[hi].t <= data_t + lookback {
                    hi += 1;
                }
                while lo < hi && samples[lo].t <= data_t - lookback {
                    lo += 1;
                }
                if let Some(v) = extended::smoothed_value(&samples[lo..hi], data_t) {
                    points.push(Sample { t, v });
                }
            }
            self.ctx.count_queried(points.len());
            self.ctx.add_samples(points.len())?;
            if !points.is_empty() {
                out.push(EvalSeries {
                    labels: s.labels,
                    points,
                    drop_name: false,
                });
            }
        }
        Ok(out)
    }

    /// The raw samples of a range selector at the single evaluation time; with `anchored` or
    /// `smoothed`, those of the widened window with points added at the range's boundaries.
    fn eval_matrix_selector(&self, ms: &MatrixSelector) -> Result<Vec<EvalSeries>> {
        let vs = &ms.selector;
        let maxt = self.at_time(vs.at).unwrap_or(self.start) - vs.offset;
        let mint = maxt - ms.range;
        let (back, forward) = extended::widening(vs, self.ctx.opts.lookback_delta_ms);
        let series = self
            .ctx
            .select(&vs.matchers, mint - back + 1, maxt + forward)?;
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let mut points: Vec<Sample> = s
                .samples
                .into_iter()
                .filter(|p| p.t > mint - back && p.t <= maxt + forward && !is_stale_nan(p.v))
                .collect();
            // The widened window's samples, as a range function over it counts them.
            self.ctx.count_queried(points.len());
            if vs.anchored || vs.smoothed {
                points = extended::extend_samples(&points, mint, maxt, vs.smoothed);
            }
            self.ctx.add_samples(points.len())?;
            if !points.is_empty() {
                out.push(EvalSeries {
                    labels: s.labels,
                    points,
                    drop_name: false,
                });
            }
        }
        Ok(out)
    }

    /// A subquery: its expression evaluated at absolute multiples of its step covering the
    /// windows of all steps of this evaluator.
    pub fn eval_subquery(&self, sq: &SubqueryExpr) -> Result<Vec<EvalSeries>> {
        let step = match sq.step {
            Some(s) if s > 0 => s,
            _ => self.ctx.opts.default_subquery_step_ms.max(1),
        };
        let (outer_start, outer_end) = match self.at_time(sq.at) {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        let lo = outer_start - sq.offset - sq.range;
        let mut start = step * (lo / step);
        if start <= lo {
            start += step;
        }
        let inner = Ev {
            ctx: self.ctx,
            start,
            end: outer_end - sq.offset,
            interval: step,
            preprocessed: self.preprocessed,
        };
        inner.eval_matrix(&sq.expr)
    }

    /// The step of a point of this grid's matrices (`None` for a time off the grid).
    pub fn step_index(&self, t: i64) -> Option<usize> {
        let rel = t - self.start;
        if rel < 0 || t > self.end || rel % self.interval != 0 {
            return None;
        }
        Some((rel / self.interval) as usize)
    }

    /// A scalar expression's matrix as one optional value per step.
    pub fn scalar_by_step(&self, m: &[EvalSeries]) -> Vec<Option<f64>> {
        let mut out = vec![None; self.num_steps()];
        if let Some(s) = m.first() {
            for p in &s.points {
                if let Some(i) = self.step_index(p.t) {
                    out[i] = Some(p.v);
                }
            }
        }
        out
    }

    /// Maps every point of every series on its own: `f(step, value)` gives the new value or
    /// drops the point, `drop_name(old)` the series' new name-dropping mark. What `range_eval`
    /// computes for element-wise operations, but series by series: no per-step vectors,
    /// label clones or output lookups, and each series' points are read and written
    /// sequentially. Label sets are unique within a matrix, so series map one to one.
    pub fn map_series(
        &self,
        input: Vec<EvalSeries>,
        also_gathered: &[EvalSeries],
        mut f: impl FnMut(usize, f64) -> Option<f64>,
        drop_name: impl Fn(bool) -> bool,
    ) -> Result<Vec<EvalSeries>> {
        // Counted on the way (see `Ctx::note_range_eval`), a series at every step at once.
        let mut gathered = StepCounts::of(self, &[also_gathered]);
        let mut results = StepCounts::new();
        let mut out = Vec::with_capacity(input.len());
        for s in input {
            self.ctx.check_time()?;
            let dense = StepCounts::spans_all_steps(self, &s.points);
            let mut points = Vec::with_capacity(s.points.len());
            let mut prev_t = None;
            for p in &s.points {
                // As `range_eval`, only the first point of a step counts.
                if prev_t == Some(p.t) {
                    continue;
                }
                prev_t = Some(p.t);
                let Some(step) = self.step_index(p.t) else {
                    continue;
                };
                if !dense {
                    gathered.add_at(step);
                }
                if let Some(v) = f(step, p.v) {
                    points.push(Sample { t: p.t, v });
                    if !dense {
                        results.add_at(step);
                    }
                }
            }
            if dense {
                gathered.add_dense();
                if points.len() == s.points.len() {
                    results.add_dense();
                } else {
                    for p in &points {
                        if let Some(step) = self.step_index(p.t) {
                            results.add_at(step);
                        }
                    }
                }
            }
            if !points.is_empty() {
                out.push(EvalSeries {
                    labels: s.labels,
                    points,
                    drop_name: drop_name(s.drop_name),
                });
            }
        }
        self.ctx.note_range_eval(self, &gathered, &results)?;
        Ok(out)
    }

    /// Runs `f` once per step over the per-step vectors of `inputs` (Prometheus's
    /// `rangeEval`) and assembles the results into series. `None` inputs (string arguments)
    /// give empty vectors. With `sigs`, the join signature of every input series is passed
    /// along with each vector element (`StepRefs::sigs`); the index of each element's input
    /// series always is (`StepRefs::series`).
    pub fn range_eval<F>(
        &self,
        inputs: &[Option<Vec<EvalSeries>>],
        sigs: Option<&[Vec<u32>]>,
        mut f: F,
    ) -> Result<Vec<EvalSeries>>
    where
        F: FnMut(&[Vec<EvalSample>], &StepRefs, i64) -> Result<Vec<EvalSample>>,
    {
        let empty: Vec<EvalSeries> = Vec::new();
        let mats: Vec<&Vec<EvalSeries>> = inputs
            .iter()
            .map(|m| m.as_ref().unwrap_or(&empty))
            .collect();
        let mut cursors: Vec<Vec<usize>> = mats.iter().map(|m| vec![0; m.len()]).collect();
        let mut vectors: Vec<Vec<EvalSample>> =
            mats.iter().map(|m| Vec::with_capacity(m.len())).collect();
        let mut refs = StepRefs {
            sigs: mats.iter().map(|m| Vec::with_capacity(m.len())).collect(),
            series: mats.iter().map(|m| Vec::with_capacity(m.len())).collect(),
        };
        let mut out: Vec<EvalSeries> = Vec::new();
        // The timestamp of each output series' newest point, to catch duplicates in a step.
        let mut last_t: Vec<i64> = Vec::new();
        let mut index: util::FastMap<Labels, usize> = util::fast_map(0);
        // The output series of each position of the previous step's result. Results mostly
        // list the same series in the same order step after step, with the very same label
        // sets (clones of the inputs' or cached), so a pointer comparison with the series at
        // the same position usually finds the output series without hashing its labels.
        let mut prev_slots: Vec<usize> = Vec::new();
        let mut slots: Vec<usize> = Vec::new();
        let instant = self.is_instant();
        // Held besides the inputs: the results of the steps so far (see `Ctx::note_range_eval`).
        let base = self.ctx.held();
        let mut results_held = 0usize;
        for ts in self.steps() {
            self.ctx.check_time()?;
            for (i, m) in mats.iter().enumerate() {
                vectors[i].clear();
                refs.sigs[i].clear();
                refs.series[i].clear();
                for (si, s) in m.iter().enumerate() {
                    let c = &mut cursors[i][si];
                    while *c < s.points.len() && s.points[*c].t < ts {
                        *c += 1;
                    }
                    if *c < s.points.len() && s.points[*c].t == ts {
                        vectors[i].push(EvalSample {
                            labels: s.labels.clone(),
                            t: ts,
                            v: s.points[*c].v,
                            drop_name: s.drop_name,
                        });
                        if let Some(sg) = sigs {
                            refs.sigs[i].push(sg[i][si]);
                        }
                        refs.series[i].push(si as u32);
                        *c += 1;
                    }
                }
            }
            let result = f(&vectors, &refs, ts)?;
            let gathered: usize = vectors.iter().map(Vec::len).sum();
            results_held += result.len();
            self.ctx
                .note_held(base.saturating_add(results_held + gathered))?;
            if instant {
                return Ok(result
                    .into_iter()
                    .map(|s| EvalSeries {
                        labels: s.labels,
                        points: vec![Sample { t: ts, v: s.v }],
                        drop_name: s.drop_name,
                    })
                    .collect());
            }
            slots.clear();
            for (pos, s) in result.into_iter().enumerate() {
                let known = match prev_slots.get(pos) {
                    Some(&i) if out[i].labels.ptr_eq(&s.labels) => Some(i),
                    _ => index.get(&s.labels).copied(),
                };
                let i = match known {
                    Some(i) => {
                        if last_t[i] == ts {
                            return Err(exec_err(
                                "vector cannot contain metrics with the same labelset",
                            ));
                        }
                        last_t[i] = ts;
                        out[i].points.push(Sample { t: ts, v: s.v });
                        i
                    }
                    None => {
                        let i = out.len();
                        index.insert(s.labels.clone(), i);
                        last_t.push(ts);
                        out.push(EvalSeries {
                            labels: s.labels,
                            points: vec![Sample { t: ts, v: s.v }],
                            drop_name: s.drop_name,
                        });
                        i
                    }
                };
                slots.push(i);
            }
            std::mem::swap(&mut prev_slots, &mut slots);
        }
        Ok(out)
    }
}

/// Where the elements of one step's vectors in `Ev::range_eval` come from, input by input.
pub(crate) struct StepRefs {
    /// The join signature ordinal of each element (empty without `sigs`).
    pub sigs: Vec<Vec<u32>>,
    /// The index of each element's series in its input matrix.
    pub series: Vec<Vec<u32>>,
}

/// The newest sample at or before `t` and after `t - lookback`, unless it is a staleness
/// marker. `cursor` keeps the position between calls with increasing `t`.
pub(crate) fn sample_at(
    samples: &[Sample],
    cursor: &mut usize,
    t: i64,
    lookback: i64,
) -> Option<Sample> {
    while *cursor < samples.len() && samples[*cursor].t <= t {
        *cursor += 1;
    }
    let newest = samples[..*cursor].last()?;
    if newest.t <= t - lookback || is_stale_nan(newest.v) {
        return None;
    }
    Some(*newest)
}
