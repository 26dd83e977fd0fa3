//! The experimental `info()` function (Prometheus 3's `promql/info.go`): enriches each series of
//! its first argument with the data labels of the info series (`target_info` by default, or those
//! named by the `__name__` matchers of the second argument) that share its identifying labels
//! `instance` and `job`.
//!
//! Per step, an info series is looked at as a plain instant selector would be, at the time the
//! first argument's (first) selector reads its data: so `@` and `offset` on that selector, or on
//! a subquery around it, move where the info series are looked at too. Of several info series
//! of one metric with the same identifying labels, the one with the newest sample wins.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use narthex_model::{Labels, MatchOp, Matcher, Sample, METRIC_NAME};

use super::binary::labels_string;
use super::{exec_err, sample_at, unparen, Ev, Result, StepCounts};
use crate::ast::{Call, Expr};
use crate::value::{EvalSample, EvalSeries};

/// The labels that tie a series to its info series; hard-coded in Prometheus too.
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// The info metric used when the second argument names none.
const TARGET_INFO: &str = "target_info";

pub(crate) fn eval_info(ev: &Ev, call: &Call) -> Result<Vec<EvalSeries>> {
    let args: Vec<&Expr> = call.args.iter().map(unparen).collect();
    let Some(&base_expr) = args.first() else {
        return Err(exec_err("info: wrong number of arguments"));
    };
    let selector: &[Matcher] = match args.get(1) {
        None => &[],
        Some(Expr::VectorSelector(vs)) => &vs.matchers,
        Some(_) => {
            return Err(exec_err(
                "info: the second argument must be a label selector",
            ))
        }
    };
    let base = ev.eval_matrix(base_expr)?;
    let name_matchers = effective_name_matchers(selector);
    let data_matchers: Vec<&Matcher> = selector.iter().filter(|m| m.name != METRIC_NAME).collect();

    // Info series among the base series are passed through as they are.
    let ignored: Vec<bool> = base
        .iter()
        .map(|s| {
            let name = s.labels.get(METRIC_NAME).unwrap_or("");
            name_matchers.iter().all(|m| m.matches(name))
        })
        .collect();

    // The identifying label values of the other base series: an info series is of interest only
    // if it carries one of them for each identifying label that any base series has.
    let mut id_values: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (s, _) in base.iter().zip(&ignored).filter(|(_, &ig)| !ig) {
        for l in IDENTIFYING_LABELS {
            if let Some(v) = s.labels.get(l).filter(|v| !v.is_empty()) {
                id_values.entry(l).or_default().insert(v.to_string());
            }
        }
    }

    let reference = reference_time(ev, base_expr);
    let ref_at = |ts: i64| reference.0.unwrap_or(ts) - reference.1;
    let info = if id_values.is_empty() {
        Vec::new()
    } else {
        fetch_info_series(ev, &name_matchers, &data_matchers, &id_values, &ref_at)?
    };

    // The newest sample of each info series at each step, as its original timestamp.
    let lookback = ev.ctx.opts.lookback_delta_ms;
    let steps: Vec<i64> = ev.steps().collect();
    let mut info_at: Vec<Vec<Option<i64>>> = Vec::with_capacity(info.len());
    for s in &info {
        ev.ctx.check_time()?;
        let mut cursor = 0;
        let at: Vec<Option<i64>> = steps
            .iter()
            .map(|&ts| sample_at(&s.samples, &mut cursor, ref_at(ts), lookback).map(|p| p.t))
            .collect();
        ev.ctx.count_queried(at.iter().flatten().count());
        info_at.push(at);
    }
    // As Prometheus: the info series' samples are held, on top of the base's, until the
    // expression around this call ends; at each step, both sides' samples are gathered.
    let mut gathered = StepCounts::of(ev, &[&base]);
    let mut info_held = 0;
    for at in &info_at {
        for (step, _) in at.iter().enumerate().filter(|(_, t)| t.is_some()) {
            gathered.add_at(step);
            info_held += 1;
        }
    }
    ev.ctx.add_samples(info_held)?;
    let held_before = ev.ctx.held();
    let info_names: BTreeSet<&str> = info.iter().map(|s| s.name.as_str()).collect();
    let all_match_empty = data_matchers.iter().all(|m| m.matches(""));
    let base_ignored: HashMap<Labels, bool> = base
        .iter()
        .zip(&ignored)
        .map(|(s, &ig)| (s.labels.clone(), ig))
        .collect();

    let inputs = vec![Some(base)];
    let out = ev.range_eval(&inputs, None, |vectors, _, ts| {
        let step = ((ts - ev.start) / ev.interval) as usize;
        // The info series present at this step by signature (name and identifying labels).
        let mut by_sig: HashMap<(&str, Labels), (usize, i64)> = HashMap::new();
        for (i, s) in info.iter().enumerate() {
            let Some(t) = info_at[i].get(step).copied().flatten() else {
                continue;
            };
            match by_sig.entry((s.name.as_str(), identifying(&s.labels))) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert((i, t));
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    let (j, existing_t) = *e.get();
                    if existing_t < t {
                        e.insert((i, t));
                    } else if existing_t == t {
                        return Err(exec_err(format!(
                            "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                            labels_string(&info[j].labels),
                            existing_t,
                            labels_string(&s.labels),
                            t
                        )));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(vectors[0].len());
        for bs in &vectors[0] {
            if base_ignored.get(&bs.labels).copied().unwrap_or(false) {
                out.push(bs.clone());
                continue;
            }
            let base_id = identifying(&bs.labels);
            let mut added: BTreeMap<&str, &str> = BTreeMap::new();
            let mut matched = false;
            for &name in &info_names {
                let Some(&(i, _)) = by_sig.get(&(name, base_id.clone())) else {
                    continue;
                };
                matched = true;
                for l in info[i].labels.iter() {
                    if l.name == METRIC_NAME
                        || (!data_matchers.is_empty()
                            && !data_matchers.iter().any(|m| m.name == l.name))
                    {
                        continue;
                    }
                    if added.get(l.name.as_str()).is_some_and(|v| *v != l.value) {
                        return Err(exec_err(format!("conflicting label: {}", l.name)));
                    }
                    if bs.labels.get(&l.name).is_some() {
                        continue;
                    }
                    added.insert(&l.name, &l.value);
                }
            }
            // Without any info series, a data matcher that needs a value drops the series.
            if !matched && !all_match_empty {
                continue;
            }
            let mut b = bs.labels.to_builder();
            for (name, value) in added {
                b.set(name, value);
            }
            out.push(EvalSample {
                labels: b.build(),
                t: bs.t,
                v: bs.v,
                drop_name: bs.drop_name,
            });
        }
        Ok(out)
    })?;
    ev.ctx
        .note_range_eval(ev, &gathered, &StepCounts::of(ev, &[&out]))?;
    ev.ctx.hold_result(held_before, &out);
    Ok(out)
}

/// The `__name__` matchers that select info series (`effectiveInfoNameMatchers`): those given
/// when one of them is positive; with only negative ones, those restricted to `*_info` metrics;
/// without any, `target_info`.
fn effective_name_matchers(selector: &[Matcher]) -> Vec<Matcher> {
    let given: Vec<Matcher> = selector
        .iter()
        .filter(|m| m.name == METRIC_NAME)
        .cloned()
        .collect();
    if given
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch))
    {
        return given;
    }
    if given.is_empty() {
        return vec![Matcher::equal(METRIC_NAME, TARGET_INFO)];
    }
    let mut out = Vec::with_capacity(given.len() + 1);
    // The pattern is a constant that compiles; should it not, only the negative ones remain.
    if let Ok(m) = Matcher::new(MatchOp::RegexMatch, METRIC_NAME, ".+_info") {
        out.push(m);
    }
    out.extend(given);
    out
}

/// A series' identifying labels only.
fn identifying(labels: &Labels) -> Labels {
    let pairs: Vec<(&str, &str)> = IDENTIFYING_LABELS
        .iter()
        .filter_map(|&l| labels.get(l).map(|v| (l, v)))
        .collect();
    Labels::from_pairs(pairs)
}

/// Where the first selector (depth first) of `e` reads its data at step `ts`, as
/// `(fixed time, offset)`: `fixed.unwrap_or(ts) - offset`. `@` and `offset` of subqueries on the
/// way down count too. Without any selector, the step itself.
fn reference_time(ev: &Ev, e: &Expr) -> (Option<i64>, i64) {
    fn walk(ev: &Ev, e: &Expr) -> Option<(Option<i64>, i64)> {
        match e {
            Expr::VectorSelector(vs) => Some((ev.at_time(vs.at), vs.offset)),
            Expr::MatrixSelector(ms) => Some((ev.at_time(ms.selector.at), ms.selector.offset)),
            Expr::Subquery(sq) => {
                let inner = walk(ev, &sq.expr)?;
                Some(match (inner.0, ev.at_time(sq.at)) {
                    (Some(_), _) => inner,
                    (None, Some(a)) => (Some(a - sq.offset), inner.1),
                    (None, None) => (None, sq.offset + inner.1),
                })
            }
            Expr::Paren(p) => walk(ev, &p.expr),
            Expr::Unary(u) => walk(ev, &u.expr),
            Expr::Binary(b) => walk(ev, &b.lhs).or_else(|| walk(ev, &b.rhs)),
            Expr::Aggregate(a) => {
                walk(ev, &a.expr).or_else(|| a.param.as_ref().and_then(|p| walk(ev, p)))
            }
            Expr::Call(c) => c.args.iter().find_map(|a| walk(ev, a)),
            Expr::Number(_) | Expr::String(_) => None,
        }
    }
    walk(ev, e).unwrap_or((None, 0))
}

/// An info series: its metric name, labels and samples.
struct InfoSeries {
    name: String,
    labels: Labels,
    samples: Vec<Sample>,
}

/// Reads the info series that match the name and data matchers and carry identifying label
/// values of interest, over the times the steps look at.
fn fetch_info_series(
    ev: &Ev,
    name_matchers: &[Matcher],
    data_matchers: &[&Matcher],
    id_values: &BTreeMap<&str, BTreeSet<String>>,
    ref_at: &impl Fn(i64) -> i64,
) -> Result<Vec<InfoSeries>> {
    let (first, last) = (ref_at(ev.start), ref_at(ev.end));
    let (mint, maxt) = (first.min(last), first.max(last));
    let matchers: Vec<Matcher> = name_matchers
        .iter()
        .cloned()
        .chain(data_matchers.iter().map(|&m| m.clone()))
        .collect();
    let lookback = ev.ctx.opts.lookback_delta_ms;
    let series = ev.ctx.select(&matchers, mint - lookback + 1, maxt)?;
    Ok(series
        .into_iter()
        .filter(|s| {
            id_values
                .iter()
                .all(|(l, allowed)| s.labels.get(l).is_some_and(|v| allowed.contains(v)))
        })
        .map(|s| InfoSeries {
            name: s.labels.get(METRIC_NAME).unwrap_or("").to_string(),
            labels: s.labels,
            samples: s.samples,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: MatchOp, value: &str) -> Matcher {
        Matcher::new(op, METRIC_NAME, value).unwrap()
    }

    #[test]
    fn effective_name_matchers_default_and_negative_only() {
        let none = effective_name_matchers(&[]);
        assert_eq!(none, vec![Matcher::equal(METRIC_NAME, TARGET_INFO)]);
        // Only negative matchers would select every other metric: restricted to *_info.
        let neg = effective_name_matchers(&[m(MatchOp::NotEqual, "target_info")]);
        assert_eq!(neg.len(), 2);
        assert!(neg.iter().all(|x| x.matches("build_info")));
        assert!(!neg.iter().all(|x| x.matches("metric")));
        // A positive matcher is taken as given, alongside the negative ones.
        let pos = effective_name_matchers(&[
            m(MatchOp::RegexMatch, ".+_info"),
            m(MatchOp::RegexNoMatch, ".*build.*"),
        ]);
        assert_eq!(pos.len(), 2);
        // Data matchers are not name matchers.
        let data = Matcher::new(MatchOp::RegexMatch, "data", ".+").unwrap();
        assert_eq!(
            effective_name_matchers(&[data]),
            vec![Matcher::equal(METRIC_NAME, TARGET_INFO)]
        );
    }

    #[test]
    fn identifying_keeps_only_instance_and_job() {
        let l = Labels::from_pairs([("__name__", "m"), ("instance", "a"), ("x", "y")]);
        assert_eq!(identifying(&l), Labels::from_pairs([("instance", "a")]));
    }
}
