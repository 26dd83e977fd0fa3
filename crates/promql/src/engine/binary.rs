//! Binary operators: scalar/scalar, vector/scalar and vector/vector with one-to-one,
//! many-to-one and one-to-many matching, `bool`, and the set operators, with Prometheus's
//! result labels and error messages (`VectorBinop`, `VectorscalarBinop`, `resultMetric`).

use narthex_model::{Labels, LabelsBuilder, Sample, METRIC_NAME};

use super::util::{fast_map, FastMap, FastSet};
use super::{exec_err, Ev, Result, StepCounts};
use crate::ast::{BinaryExpr, BinaryOp, Cardinality, ValueType, VectorMatching};
use crate::gomath;
use crate::value::{drop_metadata, EvalSample, EvalSeries, METADATA_LABELS};

/// Operators that change what a value means, so the result loses the metric name.
pub(crate) fn changes_metric_schema(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Mod
            | BinaryOp::Atan2
    )
}

fn btos(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// `scalarBinop`.
pub(crate) fn scalar_binop(op: BinaryOp, l: f64, r: f64) -> f64 {
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Pow => gomath::pow(l, r),
        BinaryOp::Mod => l % r,
        BinaryOp::Eql => btos(l == r),
        BinaryOp::Neq => btos(l != r),
        BinaryOp::Gtr => btos(l > r),
        BinaryOp::Lss => btos(l < r),
        BinaryOp::Gte => btos(l >= r),
        BinaryOp::Lte => btos(l <= r),
        BinaryOp::Atan2 => gomath::atan2(l, r),
        _ => f64::NAN,
    }
}

/// `vectorElemBinop` for floats: the value and whether the element is kept.
fn elem_binop(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Pow => (gomath::pow(l, r), true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::Atan2 => (gomath::atan2(l, r), true),
        // Set operators never get here; histogram trims do not apply to floats.
        _ => (l, false),
    }
}

/// Go's `strconv.Quote` for label values in error messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prometheus's `Labels.String()`: `{__name__="x", a="b"}`.
pub(crate) fn labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&l.name);
        out.push('=');
        out.push_str(&go_quote(&l.value));
    }
    out.push('}');
    out
}

/// `Labels.MatchLabels`: the labels a matching looks at.
fn match_labels(labels: &Labels, on: bool, names: &[String]) -> Labels {
    let mut b = LabelsBuilder::default();
    for l in labels.iter() {
        let listed = names.iter().any(|n| n == &l.name);
        if on == listed && (on || l.name != METRIC_NAME) {
            b.set(l.name.clone(), l.value.clone());
        }
    }
    b.build()
}

/// The join signature of a series under a matching.
pub(crate) fn signature(labels: &Labels, on: bool, names: &[String]) -> String {
    let mut key = String::new();
    for l in labels.iter() {
        let listed = names.iter().any(|n| n == &l.name);
        let include = if on {
            listed
        } else {
            !listed && l.name != METRIC_NAME
        };
        if include {
            key.push_str(&l.name);
            key.push('\u{ff}');
            key.push_str(&l.value);
            key.push('\u{ff}');
        }
    }
    key
}

/// Signature ordinals of the series of both sides, shared between them.
fn signature_ordinals(sides: &[&Vec<EvalSeries>], on: bool, names: &[String]) -> Vec<Vec<u32>> {
    let mut map: FastMap<String, u32> = fast_map(sides.iter().map(|m| m.len()).sum());
    sides
        .iter()
        .map(|m| {
            m.iter()
                .map(|s| {
                    let key = signature(&s.labels, on, names);
                    let n = map.len() as u32;
                    *map.entry(key).or_insert(n)
                })
                .collect()
        })
        .collect()
}

pub(crate) fn eval_binary(ev: &Ev, b: &BinaryExpr) -> Result<Vec<EvalSeries>> {
    let lt = b.lhs.value_type();
    let rt = b.rhs.value_type();
    let op = b.op;
    match (lt, rt) {
        (ValueType::Scalar, ValueType::Scalar) => {
            let l = ev.eval_matrix(&b.lhs)?;
            let r = ev.eval_matrix(&b.rhs)?;
            ev.range_eval(&[Some(l), Some(r)], None, |v, _, ts| {
                let (Some(l), Some(r)) = (v[0].first(), v[1].first()) else {
                    return Ok(Vec::new());
                };
                Ok(vec![EvalSample {
                    labels: Labels::default(),
                    t: ts,
                    v: scalar_binop(op, l.v, r.v),
                    drop_name: false,
                }])
            })
        }
        (ValueType::Vector, ValueType::Scalar) | (ValueType::Scalar, ValueType::Vector) => {
            let swap = lt == ValueType::Scalar;
            let l = ev.eval_matrix(&b.lhs)?;
            let r = ev.eval_matrix(&b.rhs)?;
            let return_bool = b.return_bool;
            // Each vector element pairs with the scalar of its step alone, so this runs series
            // by series (see `Ev::map_series`) instead of assembling vectors step by step.
            let (vec, scalar_matrix) = if swap { (r, l) } else { (l, r) };
            let scalar = ev.scalar_by_step(&scalar_matrix);
            ev.map_series(
                vec,
                &scalar_matrix,
                |step, x| {
                    let scalar = scalar[step]?;
                    let (lf, rf) = if swap { (scalar, x) } else { (x, scalar) };
                    let (mut v, mut keep) = elem_binop(op, lf, rf);
                    // A comparison keeps the vector element's value even when the scalar is on
                    // the left.
                    if op.is_comparison() && swap {
                        v = rf;
                    }
                    if return_bool {
                        v = btos(keep);
                        keep = true;
                    }
                    keep.then_some(v)
                },
                |drop_name| drop_name || changes_metric_schema(op) || return_bool,
            )
        }
        _ => {
            let default_matching = VectorMatching {
                card: if op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
                on: false,
                labels: Vec::new(),
                include: Vec::new(),
                fill: Default::default(),
            };
            let matching = b.matching.as_ref().unwrap_or(&default_matching);
            let l = ev.eval_matrix(&b.lhs)?;
            let r = ev.eval_matrix(&b.rhs)?;
            let sigs = signature_ordinals(&[&l, &r], matching.on, &matching.labels);
            // What Prometheus's step-by-step evaluation would hold, for the two ways below
            // that compute all steps at once.
            let gathered = || StepCounts::of(ev, &[&l, &r]);
            if matches!(op, BinaryOp::And | BinaryOp::Unless) {
                let gathered = gathered();
                let out = filter_by_presence(ev, l, &r, &sigs, op == BinaryOp::And)?;
                ev.ctx
                    .note_range_eval(ev, &gathered, &StepCounts::of(ev, &[&out]))?;
                return Ok(out);
            }
            let return_bool = b.return_bool;
            if op != BinaryOp::Or && !ev.is_instant() {
                if let Some(out) = match_series(ev, op, &l, &r, &sigs, matching, return_bool)? {
                    ev.ctx
                        .note_range_eval(ev, &gathered(), &StepCounts::of(ev, &[&out]))?;
                    return Ok(out);
                }
            }
            let mut cache = MetricCache {
                // One step reuses nothing: skip the pair map there.
                by_pair: (!ev.is_instant()).then(FastMap::default),
                // Sized up front: growing would hash every label set again.
                ids: fast_map(l.len().max(r.len())),
            };
            ev.range_eval(&[Some(l), Some(r)], Some(&sigs), |v, refs, _| {
                let s = &refs.sigs;
                match op {
                    BinaryOp::Or => Ok(vector_or(&v[0], &v[1], &s[0], &s[1])),
                    _ => vector_binop(
                        op,
                        Side {
                            vec: &v[0],
                            sigs: &s[0],
                            series: &refs.series[0],
                        },
                        Side {
                            vec: &v[1],
                            sigs: &s[1],
                            series: &refs.series[1],
                        },
                        matching,
                        return_bool,
                        &mut cache,
                    ),
                }
            })
        }
    }
}

/// The most signature-by-step cells `match_series` holds.
const MAX_MATCH_CELLS: usize = 1 << 21;

/// Arithmetic and comparison operators between two vectors over a range, series by series,
/// for the usual case where no step can raise a matching error and no two pairs of series
/// produce the same result labels. Each left series is walked once, meeting at each step the
/// right series of its signature at that step (a signature-by-step table built from the right
/// side); result labels are built once per pair of series. `None` when the case is not that
/// simple (a `fill` modifier, two right series of one signature at a step, two left series of
/// one signature under one-to-one matching, result labels shared between left series, or too
/// big a table): `vector_binop` step by step then gives the exact result or error.
fn match_series(
    ev: &Ev,
    op: BinaryOp,
    l: &[EvalSeries],
    r: &[EvalSeries],
    sigs: &[Vec<u32>],
    matching: &VectorMatching,
    return_bool: bool,
) -> Result<Option<Vec<EvalSeries>>> {
    if matching.fill.lhs.is_some() || matching.fill.rhs.is_some() {
        return Ok(None);
    }
    let one_to_many = matching.card == Cardinality::OneToMany;
    // As in `vector_binop`, the right is always the "one" side.
    let (lhs, rhs, lsigs, rsigs) = if one_to_many {
        (r, l, &sigs[1], &sigs[0])
    } else {
        (l, r, &sigs[0], &sigs[1])
    };
    let steps = ev.num_steps();
    // Right signatures → table rows.
    let mut rows: FastMap<u32, usize> = fast_map(rhs.len());
    for &sig in rsigs {
        let n = rows.len();
        rows.entry(sig).or_insert(n);
    }
    if rows.len().saturating_mul(steps) > MAX_MATCH_CELLS {
        return Ok(None);
    }
    // table[row * steps + step] = 1 + the right series with that signature at that step, and
    // values[...] its value there.
    let mut table = vec![0u32; rows.len() * steps];
    let mut values = vec![0f64; rows.len() * steps];
    for (j, s) in rhs.iter().enumerate() {
        let row = rows[&rsigs[j]];
        let mut prev_t = None;
        for p in &s.points {
            if prev_t == Some(p.t) {
                continue;
            }
            prev_t = Some(p.t);
            let Some(step) = ev.step_index(p.t) else {
                continue;
            };
            let cell = &mut table[row * steps + step];
            if *cell != 0 {
                return Ok(None);
            }
            *cell = j as u32 + 1;
            values[row * steps + step] = p.v;
        }
    }
    if matching.card == Cardinality::OneToOne {
        let mut seen: FastSet<u32> = FastSet::default();
        for sig in lsigs {
            if rows.contains_key(sig) && !seen.insert(*sig) {
                return Ok(None);
            }
        }
    }
    let mut by_pair: FastMap<(u32, u32), usize> = FastMap::default();
    let mut by_labels: FastMap<Labels, usize> = fast_map(lhs.len());
    // Output series with the left series that produces them.
    let mut out: Vec<(EvalSeries, usize)> = Vec::new();
    for (i, ls) in lhs.iter().enumerate() {
        ev.ctx.check_time()?;
        let Some(&row) = rows.get(&lsigs[i]) else {
            continue;
        };
        let drop_name = return_bool || (!changes_metric_schema(op) && ls.drop_name);
        let mut prev_t = None;
        for p in &ls.points {
            if prev_t == Some(p.t) {
                continue;
            }
            prev_t = Some(p.t);
            let Some(step) = ev.step_index(p.t) else {
                continue;
            };
            let j = match table[row * steps + step] {
                0 => continue,
                j => j - 1,
            };
            let rv = values[row * steps + step];
            let (fl, fr) = if one_to_many { (rv, p.v) } else { (p.v, rv) };
            let (mut v, keep) = elem_binop(op, fl, fr);
            if return_bool {
                v = btos(keep);
            }
            if !keep && !return_bool {
                continue;
            }
            let o = match by_pair.get(&(i as u32, j)) {
                Some(&o) => o,
                None => {
                    let metric = result_metric(&ls.labels, &rhs[j as usize].labels, op, matching);
                    let o = match by_labels.get(&metric) {
                        // Result labels shared with another left series: they would merge or
                        // clash, which the step-by-step path decides.
                        Some(&o) if out[o].1 != i => return Ok(None),
                        Some(&o) => o,
                        None => {
                            by_labels.insert(metric.clone(), out.len());
                            out.push((
                                EvalSeries {
                                    labels: metric,
                                    points: Vec::new(),
                                    drop_name,
                                },
                                i,
                            ));
                            out.len() - 1
                        }
                    };
                    by_pair.insert((i as u32, j), o);
                    o
                }
            };
            out[o].0.points.push(Sample { t: p.t, v });
        }
    }
    Ok(Some(out.into_iter().map(|(s, _)| s).collect()))
}

/// `and` and `unless` series by series: a left point stays when some right series with its
/// signature has a point at the same step (`and`), or when none has (`unless`). What
/// Prometheus's `VectorAnd` and `VectorUnless` compute step by step, without per-step vectors.
fn filter_by_presence(
    ev: &Ev,
    lhs: Vec<EvalSeries>,
    rhs: &[EvalSeries],
    sigs: &[Vec<u32>],
    keep_present: bool,
) -> Result<Vec<EvalSeries>> {
    // The steps at which each signature has a right-hand point, sorted.
    let mut present: FastMap<u32, Vec<u32>> = fast_map(rhs.len());
    for (s, &sig) in rhs.iter().zip(&sigs[1]) {
        let steps = present.entry(sig).or_default();
        let was_sorted_up_to = steps.len();
        steps.extend(
            s.points
                .iter()
                .filter_map(|p| ev.step_index(p.t))
                .map(|i| i as u32),
        );
        if was_sorted_up_to > 0 {
            // Several right series share the signature.
            steps.sort_unstable();
            steps.dedup();
        }
    }
    let none: Vec<u32> = Vec::new();
    let mut out = Vec::with_capacity(lhs.len());
    for (s, sig) in lhs.into_iter().zip(&sigs[0]) {
        ev.ctx.check_time()?;
        let steps = present.get(sig).unwrap_or(&none);
        let mut next = 0;
        let mut prev_t = None;
        let mut points = Vec::with_capacity(s.points.len());
        for p in &s.points {
            // As `range_eval`, only the first point of a step counts.
            if prev_t == Some(p.t) {
                continue;
            }
            prev_t = Some(p.t);
            let Some(step) = ev.step_index(p.t) else {
                continue;
            };
            let step = step as u32;
            while next < steps.len() && steps[next] < step {
                next += 1;
            }
            let is_present = next < steps.len() && steps[next] == step;
            if is_present == keep_present {
                points.push(*p);
            }
        }
        if !points.is_empty() {
            out.push(EvalSeries {
                labels: s.labels,
                points,
                drop_name: s.drop_name,
            });
        }
    }
    Ok(out)
}

fn vector_or(lhs: &[EvalSample], rhs: &[EvalSample], ls: &[u32], rs: &[u32]) -> Vec<EvalSample> {
    if lhs.is_empty() {
        return rhs.to_vec();
    }
    if rhs.is_empty() {
        return lhs.to_vec();
    }
    let present: FastSet<u32> = ls.iter().copied().collect();
    let mut out = lhs.to_vec();
    out.extend(
        rhs.iter()
            .zip(rs)
            .filter(|(_, s)| !present.contains(s))
            .map(|(e, _)| e.clone()),
    );
    out
}

/// `resultMetric`.
fn result_metric(lhs: &Labels, rhs: &Labels, op: BinaryOp, matching: &VectorMatching) -> Labels {
    let drop_meta = changes_metric_schema(op);
    let kept = lhs.filtered(|l| {
        if drop_meta && METADATA_LABELS.contains(&l.name.as_str()) {
            return false;
        }
        matching.card != Cardinality::OneToOne
            || matching.labels.iter().any(|n| n == &l.name) == matching.on
    });
    if matching.include.is_empty() {
        return kept;
    }
    let mut b = kept.to_builder();
    for name in &matching.include {
        match rhs.get(name) {
            Some(v) => {
                b.set(name.clone(), v.to_string());
            }
            None => {
                b.remove(name);
            }
        }
    }
    b.build()
}

/// One operand of `vector_binop` at one step: its elements, their join signatures and the
/// indices of their series in the operand's matrix.
struct Side<'a> {
    vec: &'a [EvalSample],
    sigs: &'a [u32],
    series: &'a [u32],
}

/// The result labels of matched pairs of series, kept across the steps of a range query: a
/// pair matched at one step is usually matched at the next, and building its labels (copying
/// label strings) and hashing them at every step dominated range queries over binary operators.
struct MetricCache {
    /// (left series, right series) after the one-to-many swap → result labels and their id;
    /// `None` for instant queries.
    by_pair: Option<FastMap<(u32, u32), (Labels, u32)>>,
    /// Result label sets → id, so that equal label sets from different pairs share an id.
    ids: FastMap<Labels, u32>,
}

impl MetricCache {
    fn id_of(&mut self, metric: &Labels) -> u32 {
        if let Some(&id) = self.ids.get(metric) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(metric.clone(), id);
        id
    }
}

fn vector_binop(
    op: BinaryOp,
    lhs: Side,
    rhs: Side,
    matching: &VectorMatching,
    return_bool: bool,
    cache: &mut MetricCache,
) -> Result<Vec<EvalSample>> {
    let fill = matching.fill;
    if (lhs.vec.is_empty() && rhs.vec.is_empty())
        || ((lhs.vec.is_empty() || rhs.vec.is_empty()) && fill.lhs.is_none() && fill.rhs.is_none())
    {
        return Ok(Vec::new());
    }
    let one_to_many = matching.card == Cardinality::OneToMany;
    // For one-to-many, swap sides so that the right is always the "one" side.
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let (lseries, rseries) = (lhs.series, rhs.series);
    let (lhs, rhs, lsigs, rsigs) = (lhs.vec, rhs.vec, lhs.sigs, rhs.sigs);
    let mut right: FastMap<u32, usize> = fast_map(rhs.len());
    for (i, rs) in rhs.iter().enumerate() {
        if let Some(&dup) = right.get(&rsigs[i]) {
            let side = if one_to_many { "left" } else { "right" };
            let matched = match_labels(&rs.labels, matching.on, &matching.labels);
            // As Prometheus shows them: without a name already dropped (Prometheus drops it
            // at once), in label order, so the message is stable.
            let shown = |s: &EvalSample| {
                if s.drop_name {
                    drop_metadata(&s.labels)
                } else {
                    s.labels.clone()
                }
            };
            let (a, b) = (shown(rs), shown(&rhs[dup]));
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            return Err(exec_err(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                labels_string(&matched),
                side,
                labels_string(&a),
                labels_string(&b)
            )));
        }
        right.insert(rsigs[i], i);
    }
    let mut matched_one: FastSet<u32> = FastSet::default();
    // (signature, result label set id) pairs seen in this step.
    let mut matched_many: FastSet<(u32, u32)> = FastSet::default();
    let mut out = Vec::new();
    // With one-to-many the operands are swapped above but the fill values are not: Prometheus
    // applies `fill_left` to the (swapped) left operand, so with `group_right` it fills the
    // original right-hand side (fill-modifier.test's group_right cases pin this down).
    let (fill_rhs, fill_lhs) = (fill.rhs, fill.lhs);
    // Each pair with its series indices when both sides are real samples (not fills), for
    // `MetricCache`.
    type Work = (EvalSample, EvalSample, u32, Option<(u32, u32)>);
    let mut work: Vec<Work> = Vec::with_capacity(lhs.len());
    for (i, ls) in lhs.iter().enumerate() {
        let sig = lsigs[i];
        let (rs, pair) = match right.get(&sig) {
            Some(&ri) => (rhs[ri].clone(), Some((lseries[i], rseries[ri]))),
            None => {
                let Some(f) = fill_rhs else { continue };
                let rs = EvalSample {
                    labels: match_labels(&ls.labels, matching.on, &matching.labels),
                    t: ls.t,
                    v: f,
                    drop_name: false,
                };
                (rs, None)
            }
        };
        work.push((ls.clone(), rs, sig, pair));
    }
    if let Some(f) = fill_lhs {
        let left: FastSet<u32> = lsigs.iter().copied().collect();
        let mut missing: Vec<(u32, usize)> = right
            .iter()
            .filter(|(sig, _)| !left.contains(sig))
            .map(|(&sig, &i)| (sig, i))
            .collect();
        missing.sort_by_key(|&(_, i)| i);
        for (sig, i) in missing {
            let rs = rhs[i].clone();
            let ls = EvalSample {
                labels: match_labels(&rs.labels, matching.on, &matching.labels),
                t: rs.t,
                v: f,
                drop_name: false,
            };
            work.push((ls, rs, sig, None));
        }
    }
    for (ls, rs, sig, pair) in work {
        let ls = &ls;
        let rs = &rs;
        let (fl, fr) = if one_to_many {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let (mut v, keep) = elem_binop(op, fl, fr);
        if return_bool {
            v = btos(keep);
        }
        let cached = match (pair, &cache.by_pair) {
            (Some(p), Some(by_pair)) => by_pair.get(&p),
            _ => None,
        };
        let (metric, id) = match cached {
            Some((metric, id)) => (metric.clone(), *id),
            None => {
                let metric = result_metric(&ls.labels, &rs.labels, op, matching);
                // Ids only serve the many-to-one check below.
                let id = if matching.card == Cardinality::OneToOne {
                    0
                } else {
                    cache.id_of(&metric)
                };
                if let (Some(p), Some(by_pair)) = (pair, cache.by_pair.as_mut()) {
                    by_pair.insert(p, (metric.clone(), id));
                }
                (metric, id)
            }
        };
        if matching.card == Cardinality::OneToOne {
            if !matched_one.insert(sig) {
                return Err(exec_err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if !matched_many.insert((sig, id)) {
            return Err(exec_err(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        if !keep && !return_bool {
            continue;
        }
        out.push(EvalSample {
            labels: metric,
            t: ls.t,
            v,
            drop_name: return_bool || (!changes_metric_schema(op) && ls.drop_name),
        });
    }
    Ok(out)
}
