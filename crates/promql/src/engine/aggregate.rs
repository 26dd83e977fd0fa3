//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...) as Prometheus's
//! `rangeEvalAgg`, `aggregation`, `aggregationK` and `aggregationCountValues` compute them,
//! including Kahan-compensated sums, the switch to an incremental mean on overflow, and the heap
//! order that decides which series `topk`/`bottomk` keep on ties.

use narthex_model::{Labels, LabelsBuilder, Sample, METRIC_NAME};

use super::binary::go_quote;
use super::gosort;
use super::util::{fast_map, go_f64_to_i64, heap_fix, heap_push, kahan_inc, labels_hash, FastMap};
use super::{exec_err, unparen, Ev, Result};
use crate::ast::{AggregateExpr, AggregateOp, Expr};
use crate::value::{EvalSample, EvalSeries};

/// The values of an aggregation's parameter at each step (`fParams`).
struct FParams {
    values: Vec<f64>,
    min: f64,
    max: f64,
    has_nan: bool,
}

impl FParams {
    fn new(ev: &Ev, expr: &Expr) -> Result<FParams> {
        let values = ev.eval_scalar_steps(expr)?;
        let mut min = f64::MAX;
        let mut max = -f64::MAX;
        let mut has_nan = false;
        for &v in &values {
            if v.is_nan() {
                has_nan = true;
            }
            max = crate::gomath::max(max, v);
            min = crate::gomath::min(min, v);
        }
        Ok(FParams {
            values,
            min,
            max,
            has_nan,
        })
    }
}

/// The grouping key of a series.
fn grouping_key(labels: &Labels, grouping: &[String], without: bool) -> String {
    let mut key = String::new();
    write_grouping_key(&mut key, labels, grouping, without);
    key
}

/// Writes the grouping key of a series into `key` (cleared first), so a caller can reuse one
/// buffer for all series and allocate only for new groups.
fn write_grouping_key(key: &mut String, labels: &Labels, grouping: &[String], without: bool) {
    key.clear();
    for l in labels.iter() {
        let listed = grouping.iter().any(|g| g == &l.name);
        let include = if without {
            !listed && l.name != METRIC_NAME
        } else {
            listed
        };
        if include {
            key.push_str(&l.name);
            key.push('\u{ff}');
            key.push_str(&l.value);
            key.push('\u{ff}');
        }
    }
}

/// The labels of a group's output series.
fn grouping_labels(labels: &Labels, grouping: &[String], without: bool) -> Labels {
    if !without && grouping.is_empty() {
        return Labels::default();
    }
    let mut b = LabelsBuilder::with_capacity(labels.len());
    for l in labels.iter() {
        let listed = grouping.iter().any(|g| g == &l.name);
        let keep = if without {
            !listed && l.name != METRIC_NAME
        } else {
            listed
        };
        if keep {
            b.set(l.name.clone(), l.value.clone());
        }
    }
    b.build()
}

pub(crate) fn eval_aggregate(ev: &Ev, a: &AggregateExpr) -> Result<Vec<EvalSeries>> {
    let mut grouping = a.grouping.clone();
    grouping.sort();
    let inner = unparen(&a.expr);
    if a.op == AggregateOp::CountValues {
        let label = match a.param.as_deref().map(unparen) {
            Some(Expr::String(s)) => s.value.clone(),
            _ => return Err(exec_err("count_values: parameter must be a string")),
        };
        if label.is_empty() {
            return Err(exec_err(format!("invalid label name {}", go_quote(&label))));
        }
        if !a.without {
            grouping.push(label.clone());
            grouping.sort();
        }
        let input = ev.eval_matrix(inner)?;
        let without = a.without;
        return ev.range_eval(&[Some(input)], None, |v, _, ts| {
            Ok(count_values(&v[0], &grouping, without, &label, ts))
        });
    }
    // Prometheus's preprocessing does not reach into the parameter (see `Ev::preprocessed`).
    let whole = Ev {
        preprocessed: false,
        ..*ev
    };
    let params = match a.param.as_deref() {
        Some(p) => Some(FParams::new(&whole, unparen(p))?),
        None => None,
    };
    // Groups, and the series `topk` and friends keep, carry their inputs' name-dropping
    // marks on (see `Ev::drop_names_now`); `count_values` above does not.
    ev.ctx.names_unread.set(true);
    let input = ev.eval_matrix(inner)?;
    range_eval_agg(ev, a, &grouping, input, params)
}

fn count_values(
    vec: &[EvalSample],
    grouping: &[String],
    without: bool,
    label: &str,
    ts: i64,
) -> Vec<EvalSample> {
    let mut order: Vec<(Labels, usize)> = Vec::new();
    let mut index: FastMap<String, usize> = fast_map(0);
    for s in vec {
        let mut b = s.labels.to_builder();
        b.set(label, super::util::format_go_f(s.v));
        let metric = b.build();
        let key = grouping_key(&metric, grouping, without);
        match index.get(&key) {
            Some(&i) => order[i].1 += 1,
            None => {
                index.insert(key, order.len());
                order.push((grouping_labels(&metric, grouping, without), 1));
            }
        }
    }
    order
        .into_iter()
        .map(|(labels, n)| EvalSample {
            labels,
            t: ts,
            v: n as f64,
            drop_name: false,
        })
        .collect()
}

#[derive(Clone, Default)]
struct Group {
    seen: bool,
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental_mean: bool,
    drop_name: bool,
    values: Vec<f64>,
}

/// An element kept by `topk`, `bottomk`, `limitk` and `limit_ratio`.
#[derive(Clone)]
struct KSample {
    series: usize,
    v: f64,
}

fn by_value_less(a: &KSample, b: &KSample) -> bool {
    a.v.is_nan() || a.v < b.v
}

fn by_reverse_value_less(a: &KSample, b: &KSample) -> bool {
    a.v.is_nan() || a.v > b.v
}

fn is_k_op(op: AggregateOp) -> bool {
    matches!(
        op,
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk | AggregateOp::LimitRatio
    )
}

fn range_eval_agg(
    ev: &Ev,
    a: &AggregateExpr,
    grouping: &[String],
    input: Vec<EvalSeries>,
    params: Option<FParams>,
) -> Result<Vec<EvalSeries>> {
    let op = a.op;
    let param_span = a
        .param
        .as_deref()
        .map(|p| unparen(p).span())
        .unwrap_or_default();
    let expr_span = unparen(&a.expr).span();

    // Map input series to groups.
    let mut group_index: FastMap<String, usize> = fast_map(input.len());
    let mut series_group = Vec::with_capacity(input.len());
    let mut result: Vec<EvalSeries> = Vec::new();
    let mut key = String::new();
    for s in &input {
        write_grouping_key(&mut key, &s.labels, grouping, a.without);
        let gi = match group_index.get(key.as_str()) {
            Some(&gi) => gi,
            None => {
                let gi = group_index.len();
                group_index.insert(key.clone(), gi);
                if !is_k_op(op) {
                    result.push(EvalSeries {
                        labels: grouping_labels(&s.labels, grouping, a.without),
                        points: Vec::new(),
                        drop_name: false,
                    });
                }
                gi
            }
        };
        series_group.push(gi);
    }
    let ngroups = group_index.len();

    let param_at = |i: usize| -> f64 {
        params
            .as_ref()
            .and_then(|p| p.values.get(i).copied())
            .unwrap_or(f64::NAN)
    };
    match op {
        AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
            let Some(p) = params.as_ref() else {
                return Ok(Vec::new());
            };
            if p.max < 1.0 {
                return Ok(Vec::new());
            }
            if p.has_nan {
                return Err(exec_err("Parameter value is NaN"));
            }
            if p.min <= i64::MIN as f64 {
                return Err(exec_err(format!(
                    "Scalar value {} underflows int64",
                    super::util::format_go_g(p.min)
                )));
            }
            if p.max >= i64::MAX as f64 {
                return Err(exec_err(format!(
                    "Scalar value {} overflows int64",
                    super::util::format_go_g(p.max)
                )));
            }
        }
        AggregateOp::LimitRatio => {
            let Some(p) = params.as_ref() else {
                return Ok(Vec::new());
            };
            if p.max == 0.0 && p.min == 0.0 {
                return Ok(Vec::new());
            }
            if p.has_nan {
                return Err(exec_err("Ratio value is NaN"));
            }
            if p.max > 1.0 {
                ev.ctx.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to 1",
                        super::util::format_go_g(p.max)
                    ),
                    param_span,
                );
            }
            if p.min < -1.0 {
                ev.ctx.warn(
                    format!(
                        "ratio value should be between -1 and 1, got {}, capping to -1",
                        super::util::format_go_g(p.min)
                    ),
                    param_span,
                );
            }
        }
        AggregateOp::Quantile => {
            if let Some(p) = params.as_ref() {
                if p.has_nan {
                    ev.ctx.warn(
                        "quantile value should be between 0 and 1, got NaN".into(),
                        param_span,
                    );
                }
                if p.max > 1.0 {
                    ev.ctx.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            super::util::format_go_g(p.max)
                        ),
                        param_span,
                    );
                }
                if p.min < 0.0 {
                    ev.ctx.warn(
                        format!(
                            "quantile value should be between 0 and 1, got {}",
                            super::util::format_go_g(p.min)
                        ),
                        param_span,
                    );
                }
            }
        }
        _ => {}
    }
    let _ = expr_span;

    if is_k_op(op) {
        return range_eval_k(ev, op, &input, &series_group, ngroups, &param_at);
    }

    // Series by series over blocks of steps: every input series is walked once, sequentially,
    // adding each point into its group's cell for that step. Each cell still receives the
    // values of its step in input-series order, as Prometheus's step-by-step loop adds them, so
    // the floating-point results are the same. Blocks of steps bound the cells held at once.
    let steps = ev.num_steps();
    let block = (MAX_CELLS / ngroups.max(1)).clamp(1, steps.max(1));
    let mut cells = vec![Group::default(); ngroups * block];
    let mut cursors = vec![0usize; input.len()];
    let mut b0 = 0;
    while b0 < steps {
        ev.ctx.check_time()?;
        let b1 = (b0 + block).min(steps);
        let block_end = ev.start + (b1 as i64) * ev.interval;
        for cell in cells.iter_mut() {
            cell.seen = false;
        }
        for (si, s) in input.iter().enumerate() {
            ev.ctx.check_time()?;
            let pts = &s.points;
            let c = &mut cursors[si];
            let base = series_group[si] * block;
            while *c < pts.len() && pts[*c].t < block_end {
                let i = *c;
                *c += 1;
                let rel = pts[i].t - ev.start;
                // Only points on this grid's steps count, and only the first of equal times.
                if rel < 0 || rel % ev.interval != 0 || (i > 0 && pts[i - 1].t == pts[i].t) {
                    continue;
                }
                let step = (rel / ev.interval) as usize;
                cells[base + step - b0].add(op, pts[i].v, s.drop_name);
            }
        }
        for (gi, out) in result.iter_mut().enumerate() {
            for step in b0..b1 {
                let g = &mut cells[gi * block + step - b0];
                if !g.seen {
                    continue;
                }
                let v = g.result(op, param_at(step));
                out.points.push(Sample {
                    t: ev.start + step as i64 * ev.interval,
                    v,
                });
                out.drop_name = g.drop_name;
            }
        }
        b0 = b1;
    }
    ev.ctx.add_samples(0)?;
    result.retain(|s| !s.points.is_empty());
    Ok(result)
}

/// The most group-by-step cells an aggregation holds at once (see `range_eval_agg`).
const MAX_CELLS: usize = 1 << 16;

impl Group {
    /// Adds one input value (`aggregation`'s per-sample switch).
    #[inline]
    fn add(&mut self, op: AggregateOp, f: f64, drop_name: bool) {
        if !self.seen {
            self.seen = true;
            self.value = f;
            self.mean = f;
            self.kahan_c = 0.0;
            self.count = 1.0;
            self.incremental_mean = false;
            self.drop_name = drop_name;
            self.values.clear();
            match op {
                AggregateOp::Stddev | AggregateOp::Stdvar => {
                    self.value = if f.is_nan() || f.is_infinite() {
                        f64::NAN
                    } else {
                        0.0
                    };
                }
                AggregateOp::Quantile => self.values.push(f),
                AggregateOp::Group => self.value = 1.0,
                _ => {}
            }
            return;
        }
        if drop_name {
            self.drop_name = true;
        }
        match op {
            AggregateOp::Sum => {
                let (v, c) = kahan_inc(f, self.value, self.kahan_c);
                self.value = v;
                self.kahan_c = c;
            }
            AggregateOp::Avg => {
                self.count += 1.0;
                if !self.incremental_mean {
                    let (nv, nc) = kahan_inc(f, self.value, self.kahan_c);
                    if !nv.is_infinite() {
                        self.value = nv;
                        self.kahan_c = nc;
                        return;
                    }
                    self.incremental_mean = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.kahan_c /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                let (m, c) = kahan_inc(f / self.count, q * self.mean, q * self.kahan_c);
                self.mean = m;
                self.kahan_c = c;
            }
            AggregateOp::Group => {}
            AggregateOp::Max if self.value < f || self.value.is_nan() => self.value = f,
            AggregateOp::Min if self.value > f || self.value.is_nan() => self.value = f,
            AggregateOp::Count => self.count += 1.0,
            AggregateOp::Stddev | AggregateOp::Stdvar => {
                self.count += 1.0;
                let delta = f - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (f - self.mean);
            }
            AggregateOp::Quantile => self.values.push(f),
            _ => {}
        }
    }

    /// The group's result at its step.
    fn result(&mut self, op: AggregateOp, fparam: f64) -> f64 {
        match op {
            AggregateOp::Avg => {
                if self.incremental_mean {
                    self.mean + self.kahan_c
                } else {
                    self.value / self.count + self.kahan_c / self.count
                }
            }
            AggregateOp::Count => self.count,
            AggregateOp::Stdvar => self.value / self.count,
            AggregateOp::Stddev => (self.value / self.count).sqrt(),
            AggregateOp::Quantile => quantile(fparam, &mut self.values),
            AggregateOp::Sum => self.value + self.kahan_c,
            _ => self.value,
        }
    }
}

/// `topk`, `bottomk`, `limitk` and `limit_ratio` step by step: which series they keep depends
/// on the whole vector of a step.
fn range_eval_k(
    ev: &Ev,
    op: AggregateOp,
    input: &[EvalSeries],
    series_group: &[usize],
    ngroups: usize,
    param_at: &dyn Fn(usize) -> f64,
) -> Result<Vec<EvalSeries>> {
    let mut cursors = vec![0usize; input.len()];
    let mut k_out: Vec<EvalSeries> = Vec::new();
    // Output series by input series: a kept series keeps its labels, so no hashing is needed.
    let mut k_index: Vec<Option<usize>> = vec![None; input.len()];
    let instant = ev.is_instant();
    let mut heaps: Vec<Vec<KSample>> = vec![Vec::new(); ngroups];
    let mut current: Vec<Option<f64>> = Vec::with_capacity(input.len());
    for (step, ts) in ev.steps().enumerate() {
        ev.ctx.check_time()?;
        let fparam = param_at(step);
        // The values of all input series at this step.
        current.clear();
        for (si, s) in input.iter().enumerate() {
            let c = &mut cursors[si];
            while *c < s.points.len() && s.points[*c].t < ts {
                *c += 1;
            }
            if *c < s.points.len() && s.points[*c].t == ts {
                current.push(Some(s.points[*c].v));
                *c += 1;
            } else {
                current.push(None);
            }
        }
        let step_result = aggregation_k(op, fparam, input, series_group, &current, &mut heaps)?;
        for (si, v) in step_result {
            let s = &input[si];
            if instant {
                k_out.push(EvalSeries {
                    labels: s.labels.clone(),
                    points: vec![Sample { t: ts, v }],
                    drop_name: s.drop_name,
                });
                continue;
            }
            match k_index[si] {
                Some(i) => k_out[i].points.push(Sample { t: ts, v }),
                None => {
                    k_index[si] = Some(k_out.len());
                    k_out.push(EvalSeries {
                        labels: s.labels.clone(),
                        points: vec![Sample { t: ts, v }],
                        drop_name: s.drop_name,
                    });
                }
            }
        }
    }
    Ok(k_out)
}

/// One step of `topk`, `bottomk`, `limitk` or `limit_ratio`: the kept (series, value) pairs,
/// group by group in the order Prometheus returns them.
fn aggregation_k(
    op: AggregateOp,
    fparam: f64,
    input: &[EvalSeries],
    series_group: &[usize],
    current: &[Option<f64>],
    heaps: &mut [Vec<KSample>],
) -> Result<Vec<(usize, f64)>> {
    for h in heaps.iter_mut() {
        h.clear();
    }
    let mut seen = vec![false; heaps.len()];
    let mut order: Vec<usize> = Vec::new();
    let k = go_f64_to_i64(fparam).min(input.len() as i64);
    let ratio = fparam.clamp(-1.0, 1.0);
    for (si, v) in current.iter().enumerate() {
        let Some(f) = *v else { continue };
        match op {
            AggregateOp::LimitRatio => {
                if fparam == 0.0 {
                    return Ok(Vec::new());
                }
            }
            _ => {
                if k < 1 {
                    return Ok(Vec::new());
                }
            }
        }
        let s = KSample { series: si, v: f };
        let gi = series_group[si];
        let heap = &mut heaps[gi];
        if !seen[gi] {
            seen[gi] = true;
            order.push(gi);
            match op {
                AggregateOp::LimitRatio => {
                    if add_ratio_sample(ratio, &input[si].labels) {
                        heap_push(heap, s, &by_value_less);
                    }
                }
                AggregateOp::Limitk => heap.push(s),
                AggregateOp::Topk => heap_push(heap, s, &by_value_less),
                _ => heap_push(heap, s, &by_reverse_value_less),
            }
            continue;
        }
        match op {
            AggregateOp::Topk => {
                if (heap.len() as i64) < k {
                    heap_push(heap, s, &by_value_less);
                } else if heap[0].v < s.v || (heap[0].v.is_nan() && !s.v.is_nan()) {
                    heap[0] = s;
                    if k > 1 {
                        heap_fix(heap, 0, &by_value_less);
                    }
                }
            }
            AggregateOp::Bottomk => {
                if (heap.len() as i64) < k {
                    heap_push(heap, s, &by_reverse_value_less);
                } else if heap[0].v > s.v || (heap[0].v.is_nan() && !s.v.is_nan()) {
                    heap[0] = s;
                    if k > 1 {
                        heap_fix(heap, 0, &by_reverse_value_less);
                    }
                }
            }
            AggregateOp::Limitk => {
                if (heap.len() as i64) < k {
                    heap_push(heap, s, &by_value_less);
                }
            }
            _ => {
                if add_ratio_sample(ratio, &input[si].labels) {
                    heap_push(heap, s, &by_value_less);
                }
            }
        }
    }
    // Prometheus walks its groups in first-seen order of the whole input, not of this step.
    order.sort_unstable();
    let mut out = Vec::new();
    for gi in order {
        let heap = &mut heaps[gi];
        match op {
            AggregateOp::Topk if heap.len() > 1 => gosort::sort(heap, |a, b| by_value_less(b, a)),
            AggregateOp::Bottomk if heap.len() > 1 => {
                gosort::sort(heap, |a, b| by_reverse_value_less(b, a))
            }
            _ => {}
        }
        out.extend(heap.iter().map(|s| (s.series, s.v)));
    }
    Ok(out)
}

/// `HashRatioSampler.AddRatioSample`.
fn add_ratio_sample(ratio: f64, labels: &Labels) -> bool {
    let offset = labels_hash(labels) as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}

/// `quantile`: the q-quantile of `values` by linear interpolation between closest ranks.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // NaN sorts first, as with Prometheus's `vectorByValueHeap`; the rest by value. Go's
    // `sort.Sort` is unstable, so 0 and -0, which compare equal, have no set order there;
    // here -0 comes first.
    let mut nans = 0;
    for i in 0..values.len() {
        if values[i].is_nan() {
            values.swap(nans, i);
            nans += 1;
        }
    }
    values[nans..].sort_unstable_by(f64::total_cmp);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}
