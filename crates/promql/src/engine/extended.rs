//! The experimental extended range selectors, `anchored` and `smoothed`, as Prometheus 3
//! evaluates them (`extendedRate`, `pickFirstSampleIndex`, `extendFloats` and `smoothSeries` in
//! `promql/engine.go` and `promql/functions.go`).
//!
//! Both modifiers widen what a range selector reads so that the window's boundaries get a value
//! of their own instead of the extrapolation of a plain range:
//!
//! * `anchored` reads one lookback delta further back, so the last sample at or before the
//!   window's start stands in for the value at the start;
//! * `smoothed` reads one lookback delta further back and one further forward, and interpolates
//!   linearly between the samples around each boundary.
//!
//! Only a few functions make sense over such a window; the others fail with Prometheus's
//! message. A bare `x smoothed` instant selector interpolates its samples onto the step grid.

use narthex_model::Sample;

use super::{exec_err, Result};
use crate::ast::VectorSelector;

/// The functions Prometheus allows with `anchored`, sorted as its error message lists them.
const ANCHORED_FUNCTIONS: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
/// The functions Prometheus allows with `smoothed`, sorted as its error message lists them.
const SMOOTHED_FUNCTIONS: &[&str] = &["delta", "increase", "rate"];

/// Fails unless function `name` may take a range selector with the modifiers of `vs`.
pub(crate) fn check_function(name: &str, vs: &VectorSelector) -> Result<()> {
    let (modifier, allowed) = if vs.anchored {
        ("anchored", ANCHORED_FUNCTIONS)
    } else if vs.smoothed {
        ("smoothed", SMOOTHED_FUNCTIONS)
    } else {
        return Ok(());
    };
    if allowed.contains(&name) {
        return Ok(());
    }
    Err(exec_err(format!(
        "{modifier} modifier can only be used with: {} - not with {name}",
        allowed.join(", ")
    )))
}

/// How much further back and forward than the plain range (`(start, end]`) a selector with these
/// modifiers reads, in ms.
pub(crate) fn widening(vs: &VectorSelector, lookback: i64) -> (i64, i64) {
    if vs.anchored {
        (lookback, 0)
    } else if vs.smoothed {
        (lookback, lookback)
    } else {
        (0, 0)
    }
}

/// Go's `sort.Search(n, f)` over a prefix of `p`: the first index below `n` whose sample has
/// `pred` true, or `n`. The samples are sorted by time, so `pred` on their time is monotonic.
fn search(p: &[Sample], n: usize, pred: impl Fn(&Sample) -> bool) -> usize {
    p[..n.min(p.len())].partition_point(|s| !pred(s))
}

/// The value at `t` on the line between `a` and `b`. For a counter that went down between them,
/// the counter is taken to restart from zero at `a`.
fn interpolate(a: Sample, b: Sample, t: i64, is_counter: bool) -> f64 {
    let y2 = b.v;
    let y1 = if is_counter && y2 < a.v { 0.0 } else { a.v };
    y1 + (y2 - y1) * (t - a.t) as f64 / (b.t - a.t) as f64
}

/// `rate`, `increase` or `delta` over an anchored or smoothed window (`extendedRate`). `p` holds
/// the widened window's samples; `(range_start, range_end]` is the range as written.
pub(crate) fn extended_rate(
    p: &[Sample],
    range_start: i64,
    range_end: i64,
    range_seconds: f64,
    smoothed: bool,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let mut last = p.len().checked_sub(1)?;
    // The last sample at or before the range start (the anchor), else the first sample; the
    // search leaves out the last sample, as Prometheus's does.
    let mut first = search(p, last, |s| s.t > range_start).saturating_sub(1);
    if smoothed {
        // The first sample at or after the range end: the right boundary's value comes from it.
        last = search(p, last, |s| s.t >= range_end);
    }
    if p[last].t <= range_start || (smoothed && p[first].t > range_end) {
        return None;
    }
    let left = match p.get(first + 1) {
        Some(&next) if smoothed && p[first].t < range_start => {
            interpolate(p[first], next, range_start, is_counter)
        }
        _ => p[first].v,
    };
    let right = if smoothed && last > 0 && p[last].t > range_end {
        interpolate(p[last - 1], p[last], range_end, is_counter)
    } else {
        p[last].v
    };
    let mut result = right - left;
    if is_counter {
        // Resets at the boundaries are already in `left` and `right`; only the samples strictly
        // inside the range are checked.
        if p[first].t <= range_start {
            first += 1;
        }
        let end = if p[last].t >= range_end {
            last
        } else {
            last + 1
        };
        let inner = p.get(first..end).unwrap_or(&[]);
        let mut prev = left;
        for s in inner {
            if s.v < prev {
                result += prev;
            }
            prev = s.v;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= range_seconds;
    }
    Some(result)
}

/// Where `changes` and `resets` over an anchored window start (`pickFirstSampleIndex`): at the
/// last sample at or before the range start, or the first sample when there is none. `None` when
/// no sample lies inside the range, which gives no result.
pub(crate) fn anchored_first_index(p: &[Sample], range_start: i64) -> Option<usize> {
    let last = p.last()?;
    if last.t <= range_start {
        return None;
    }
    Some(search(p, p.len() - 1, |s| s.t > range_start).saturating_sub(1))
}

/// A bare anchored or smoothed range selector's samples (`extendFloats`): those inside
/// `(mint, maxt]` with a point added at `mint` and at `maxt` carrying the boundary values. `p`
/// holds the widened window's samples.
pub(crate) fn extend_samples(p: &[Sample], mint: i64, maxt: i64, smoothed: bool) -> Vec<Sample> {
    let Some(mut last) = p.len().checked_sub(1) else {
        return Vec::new();
    };
    let mut first = search(p, last, |s| s.t > mint).saturating_sub(1);
    if smoothed {
        last = search(p, last, |s| s.t >= maxt);
    }
    if p[last].t <= mint {
        return Vec::new();
    }
    // Prometheus interpolates here without counter handling: it does not know the metric type.
    let left = match p.get(first + 1) {
        Some(&next) if smoothed && p[first].t < mint => interpolate(p[first], next, mint, false),
        _ => p[first].v,
    };
    let right = if smoothed && last > 0 && p[last].t > maxt {
        interpolate(p[last - 1], p[last], maxt, false)
    } else {
        p[last].v
    };
    // Samples on the boundaries are replaced by the boundary points.
    if p[first].t <= mint {
        first += 1;
    }
    let end = if p[last].t >= maxt { last } else { last + 1 };
    let mut out = Vec::with_capacity(end.saturating_sub(first) + 2);
    out.push(Sample { t: mint, v: left });
    out.extend_from_slice(p.get(first..end).unwrap_or(&[]));
    out.push(Sample { t: maxt, v: right });
    out
}

/// A smoothed instant selector's value at `t` (`smoothSeries`), from the samples of
/// `(t - lookback, t + lookback]`: the sample at `t`, else the interpolation between the samples
/// around `t`, else the last sample before `t` when none follows. Nothing when no sample precedes
/// `t`.
pub(crate) fn smoothed_value(window: &[Sample], t: i64) -> Option<f64> {
    let i = window.partition_point(|s| s.t < t);
    match (i.checked_sub(1).map(|j| window[j]), window.get(i)) {
        (_, Some(next)) if next.t == t => Some(next.v),
        // Prometheus does not know whether the metric is a counter here, so no reset handling.
        (Some(prev), Some(&next)) => Some(interpolate(prev, next, t, false)),
        (Some(prev), None) => Some(prev.v),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn degenerate_windows_give_nothing_rather_than_panicking() {
        assert_eq!(extended_rate(&[], 0, 10, 10.0, true, true, true), None);
        assert_eq!(
            extended_rate(&[s(5, 1.0)], 5, 10, 10.0, true, true, true),
            None
        );
        assert_eq!(anchored_first_index(&[], 0), None);
        assert!(extend_samples(&[], 0, 10, true).is_empty());
        assert_eq!(smoothed_value(&[], 0), None);
    }

    #[test]
    fn smoothed_rate_interpolates_across_a_reset() {
        // extended_vectors.test: `metric 100 10` every 15s, rate(metric[10s] smoothed) at 12s.
        let p = [s(0, 100.0), s(15_000, 10.0)];
        let r = extended_rate(&p, 2_000, 12_000, 10.0, true, true, true).unwrap();
        assert!((r - 2.0 / 3.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn extend_samples_adds_boundary_points() {
        let p = [s(0, 1.0), s(60_000, 2.0), s(120_000, 3.0)];
        // An anchored window reads nothing after its end.
        let out = extend_samples(&p[..2], 30_000, 90_000, false);
        assert_eq!(out, vec![s(30_000, 1.0), s(60_000, 2.0), s(90_000, 2.0)]);
        let out = extend_samples(&p, 30_000, 90_000, true);
        assert_eq!(out, vec![s(30_000, 1.5), s(60_000, 2.0), s(90_000, 2.5)]);
    }

    #[test]
    fn only_the_allowed_functions_take_the_modifiers() {
        let mut vs = VectorSelector {
            name: None,
            matchers: Vec::new(),
            offset: 0,
            offset_expr: None,
            at: None,
            anchored: false,
            smoothed: true,
            span: Default::default(),
        };
        assert!(check_function("rate", &vs).is_ok());
        let err = check_function("changes", &vs).unwrap_err().to_string();
        assert_eq!(
            err,
            "smoothed modifier can only be used with: delta, increase, rate - not with changes"
        );
        vs.smoothed = false;
        vs.anchored = true;
        assert!(check_function("resets", &vs).is_ok());
        assert!(check_function("deriv", &vs).is_err());
    }
}
