//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over classic histograms
//! (series with an `le` label), with Prometheus's bucket fix-ups (`BucketQuantile`,
//! `BucketFraction`, `coalesceBuckets`, `ensureMonotonicAndIgnoreSmallDeltas`) and annotations.
//! Native histograms are not stored by Narthex, so only the classic path exists.

use narthex_model::{Labels, METRIC_NAME};

use super::binary::go_quote;
use super::util::{fast_map, format_go_g, format_openmetrics_float, FastMap, FastSet};
use super::Ev;
use crate::ast::Span;
use crate::value::{EvalSample, METADATA_LABELS};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// One classic histogram: its labels without `le` and its buckets.
struct Histo {
    /// Without `__name__` when its series' name was due to be dropped (Prometheus has
    /// dropped it already).
    labels: Labels,
    buckets: Vec<Bucket>,
}

/// The histograms a `histogram_quantile` call has given a result for at an earlier step.
/// Prometheus 3.5.3 keeps each histogram's labels from step to step and drops their name
/// once it has given a result, so the monotonicity info names the metric at the first step
/// a histogram has buckets, and not after.
#[derive(Default)]
pub(crate) struct Shown {
    earlier: FastSet<Labels>,
}

impl Shown {
    /// The metric name the info for `h` gives at this step.
    fn name_for<'h>(&mut self, h: &'h Histo) -> &'h str {
        let first = self.earlier.insert(h.labels.clone());
        match h.labels.get(METRIC_NAME) {
            Some(name) if first => name,
            _ => "",
        }
    }
}

/// Go's `strconv.ParseFloat` for `le` values (decimal, `Inf`, `NaN`, any case).
fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return s.parse::<f64>().ok();
    }
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Groups the vector into classic histograms (`resetHistograms`), warning about bad `le`s.
fn group_buckets(ev: &Ev, vec: &[EvalSample], span: Span) -> Vec<Histo> {
    let mut out: Vec<Histo> = Vec::new();
    let mut index: FastMap<Labels, usize> = fast_map(vec.len());
    for s in vec {
        let le = s.labels.get("le").unwrap_or("");
        let Some(upper) = parse_le(le) else {
            // A name due to be dropped is gone already in Prometheus.
            let name = match s.drop_name {
                true => "",
                false => s.labels.get(METRIC_NAME).unwrap_or(""),
            };
            let mut msg = format!(
                "bucket label \"le\" is missing or has a malformed value of {}",
                go_quote(le)
            );
            // Prometheus 3.5.3 names the metric even when it has none (newer releases leave
            // the words out then; the test files only check named ones).
            msg.push_str(&format!(" for metric name {}", go_quote(name)));
            ev.ctx.warn(msg, span);
            continue;
        };
        let mut b = s.labels.to_builder();
        b.remove("le");
        if s.drop_name {
            // Gone already in Prometheus: histograms of two names then are one.
            for name in METADATA_LABELS {
                b.remove(name);
            }
        }
        let key = b.build();
        match index.get(&key) {
            Some(&i) => out[i].buckets.push(Bucket { upper, count: s.v }),
            None => {
                index.insert(key.clone(), out.len());
                out.push(Histo {
                    labels: key,
                    buckets: vec![Bucket { upper, count: s.v }],
                });
            }
        }
    }
    out
}

fn sort_buckets(buckets: &mut [Bucket]) {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// Merges buckets with the same upper bound (input sorted).
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

/// `almost.Equal`.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Removes decreases between buckets; tiny ones silently. Returns whether a real decrease was
/// forced away, with the bounds of the affected buckets and the largest decrease.
#[allow(clippy::needless_range_loop)]
fn ensure_monotonic(buckets: &mut [Bucket]) -> (bool, f64, f64, f64) {
    let mut forced = false;
    let (mut min_bucket, mut max_bucket, mut max_diff) = (0.0, 0.0, 0.0);
    let mut prev = buckets[0].count;
    for i in 1..buckets.len() {
        let curr = buckets[i].count;
        let upper = buckets[i].upper;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            buckets[i].count = prev;
            continue;
        }
        if curr < prev {
            if !forced {
                min_bucket = upper;
            }
            max_bucket = upper;
            if prev - curr > max_diff {
                max_diff = prev - curr;
            }
            buckets[i].count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    (forced, min_bucket, max_bucket, max_diff)
}

/// `BucketQuantile`: the value and whether monotonicity had to be forced.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool, (f64, f64, f64)) {
    if q.is_nan() {
        return (f64::NAN, false, (0.0, 0.0, 0.0));
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false, (0.0, 0.0, 0.0));
    }
    if q > 1.0 {
        return (f64::INFINITY, false, (0.0, 0.0, 0.0));
    }
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return (f64::NAN, false, (0.0, 0.0, 0.0)),
    }
    coalesce(buckets);
    let (forced, a, b, c) = ensure_monotonic(buckets);
    let details = (a, b, c);
    if buckets.len() < 2 {
        return (f64::NAN, false, details);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, false, details);
    }
    let mut rank = q * observations;
    // sort.Search over all but the last bucket.
    let n = buckets.len() - 1;
    let bi = buckets[..n].partition_point(|b| b.count < rank);
    if bi == n {
        return (buckets[n - 1].upper, forced, details);
    }
    if bi == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced, details);
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[bi].upper;
    let mut count = buckets[bi].count;
    if bi > 0 {
        bucket_start = buckets[bi - 1].upper;
        count -= buckets[bi - 1].count;
        rank -= buckets[bi - 1].count;
    }
    (
        bucket_start + (bucket_end - bucket_start) * (rank / count),
        forced,
        details,
    )
}

/// `BucketFraction`: the fraction of observations between `lower` and `upper`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    sort_buckets(buckets);
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce(buckets);
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for (i, b) in buckets.iter().enumerate() {
        let lower_bound = if i == 0 {
            // A natural lower bound of 0 for histograms with only positive buckets.
            if b.upper > 0.0 {
                0.0
            } else {
                f64::NEG_INFINITY
            }
        } else {
            buckets[i - 1].upper
        };
        let upper_bound = b.upper;
        // No interpolation within a bucket of infinite width: the observations of the +Inf
        // bucket count as above, those of a -Inf bucket as below any value inside it.
        let interpolate = |v: f64| {
            if upper_bound == f64::INFINITY {
                rank
            } else if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

fn invalid_quantile(ev: &Ev, q: f64, span: Span) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.ctx.warn(
            format!(
                "quantile value should be between 0 and 1, got {}",
                format_go_g(q)
            ),
            span,
        );
    }
}

fn monotonicity_info(ev: &Ev, name: &str, span: Span, details: (f64, f64, f64)) {
    let mut msg = String::from(
        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)",
    );
    // As Prometheus 3.5.3 words it, with or without a name (see `Shown`).
    msg.push_str(&format!(" for metric name {}", go_quote(name)));
    let _ = details;
    ev.ctx.info(msg, span);
}

pub(crate) fn histogram_quantile(
    ev: &Ev,
    q: f64,
    vec: &[EvalSample],
    (q_span, vec_span): (Span, Span),
    shown: &mut Shown,
) -> Vec<EvalSample> {
    invalid_quantile(ev, q, q_span);
    let mut out = Vec::new();
    for mut h in group_buckets(ev, vec, vec_span) {
        let (v, forced, details) = bucket_quantile(q, &mut h.buckets);
        let name = shown.name_for(&h);
        if forced {
            monotonicity_info(ev, name, vec_span, details);
        }
        out.push(EvalSample {
            labels: h.labels,
            t: 0,
            v,
            drop_name: true,
        });
    }
    out
}

pub(crate) fn histogram_quantiles(
    ev: &Ev,
    vec: &[EvalSample],
    label: &str,
    qs: &[(f64, Span)],
    vec_span: Span,
    shown: &mut Shown,
) -> Vec<EvalSample> {
    for &(q, span) in qs {
        invalid_quantile(ev, q, span);
    }
    let histos = group_buckets(ev, vec, vec_span);
    let names: Vec<&str> = histos.iter().map(|h| shown.name_for(h)).collect();
    let mut out = Vec::new();
    for &(q, _) in qs {
        let qs_label = format_openmetrics_float(q);
        for (h, &name) in histos.iter().zip(&names) {
            let mut buckets = h.buckets.clone();
            let (v, forced, details) = bucket_quantile(q, &mut buckets);
            if forced {
                monotonicity_info(ev, name, vec_span, details);
            }
            let mut b = h.labels.to_builder();
            b.set(label, qs_label.clone());
            out.push(EvalSample {
                labels: b.build(),
                t: 0,
                v,
                drop_name: true,
            });
        }
    }
    out
}

pub(crate) fn histogram_fraction(
    ev: &Ev,
    lower: f64,
    upper: f64,
    vec: &[EvalSample],
    vec_span: Span,
) -> Vec<EvalSample> {
    let mut out = Vec::new();
    for mut h in group_buckets(ev, vec, vec_span) {
        let v = bucket_fraction(lower, upper, &mut h.buckets);
        out.push(EvalSample {
            labels: h.labels,
            t: 0,
            v,
            drop_name: true,
        });
    }
    out
}
