//! PromQL functions, as `promql/functions.go` computes them: functions over range vectors slide a
//! window over each series across all steps; the others are applied to the per-step vectors of
//! their arguments. `label_replace`, `label_join` and `timestamp` over a selector work on whole
//! series, as in Prometheus.

use narthex_model::{is_stale_nan, Labels, LabelsBuilder, MatchOp, Sample, METRIC_NAME};

use super::binary::go_quote;
use super::extended;
use super::gosort;
use super::histogram;
use super::util::{civil, days_in_month, go_f64_to_i64, kahan_inc, natsort_less};
use super::{exec_err, merge_same_labelsets, sample_at, unparen, Ev, Result, StepCounts};
use crate::ast::{Call, Expr, Span, ValueType};
use crate::gomath;
use crate::value::{drop_metadata, total_points, EvalSample, EvalSeries};

/// Functions whose argument is a range vector, with the index of that argument.
fn matrix_arg_index(args: &[&Expr]) -> Option<usize> {
    args.iter()
        .position(|a| matches!(a, Expr::MatrixSelector(_) | Expr::Subquery(_)))
}

/// A function call. As in Prometheus, most end holding their result only; a function over a
/// range vector and `info` keep what their other arguments hold (see `eval_range_function`,
/// `info::eval_info`).
pub(crate) fn eval_call(ev: &Ev, call: &Call) -> Result<Vec<EvalSeries>> {
    let original = ev.ctx.held();
    let args: Vec<&Expr> = call.args.iter().map(unparen).collect();
    let name = call.func.name;
    if name == "info" {
        return super::info::eval_info(ev, call);
    }
    if let Some(midx) = matrix_arg_index(&args) {
        return eval_range_function(ev, call, &args, midx);
    }
    let out = eval_instant_call(ev, call, &args)?;
    ev.ctx.hold_result(original, &out);
    Ok(out)
}

fn eval_instant_call(ev: &Ev, call: &Call, args: &[&Expr]) -> Result<Vec<EvalSeries>> {
    let name = call.func.name;
    match name {
        "timestamp" => {
            if let Some(Expr::VectorSelector(vs)) = args.first() {
                return timestamp_over_selector(ev, vs);
            }
        }
        "label_replace" => return label_replace(ev, args),
        "label_join" => return label_join(ev, args),
        _ => {}
    }
    if let (Some(f), [arg]) = (unary_float_fn(name), args) {
        // Each point maps on its own: series by series, without per-step vectors.
        let input = ev.eval_matrix(arg)?;
        return ev.map_series(input, &[], |_, v| Some(f(v)), |_| true);
    }
    let mut inputs = Vec::with_capacity(args.len());
    for a in args {
        if a.value_type() == ValueType::String {
            inputs.push(None);
        } else {
            inputs.push(Some(ev.eval_matrix(a)?));
        }
    }
    if matches!(
        name,
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
    ) && !ev.is_instant()
    {
        ev.ctx.warn(
            "sort is ineffective for range queries since results are always ordered by labels"
                .into(),
            call.span,
        );
    }
    let mut histograms = histogram::Shown::default();
    ev.range_eval(&inputs, None, |v, _, ts| {
        instant_function(ev, name, args, v, ts, &mut histograms)
    })
}

fn string_arg(e: &Expr) -> Result<&str> {
    match e {
        Expr::String(s) => Ok(&s.value),
        _ => Err(exec_err("expected a string argument")),
    }
}

/// A string argument used as a label name, and whether Prometheus accepts it: any non-empty
/// UTF-8 name. The literal's text is always UTF-8 here, but escapes like `"\xff"` can make the
/// Go string invalid UTF-8, which the parser records in `invalid_utf8`.
fn label_name_arg(e: &Expr) -> Result<(&str, bool)> {
    match e {
        Expr::String(s) => Ok((&s.value, !s.value.is_empty() && s.invalid_utf8.is_none())),
        _ => Err(exec_err("expected a string argument")),
    }
}

fn label_replace(ev: &Ev, args: &[&Expr]) -> Result<Vec<EvalSeries>> {
    if args.len() != 5 {
        return Err(exec_err("label_replace: wrong number of arguments"));
    }
    let (dst, dst_valid) = label_name_arg(args[1])?;
    let repl = string_arg(args[2])?;
    let src = string_arg(args[3])?;
    let regex_str = string_arg(args[4])?;
    let regex = narthex_model::matcher::anchored_regex(regex_str).map_err(|_| {
        exec_err(format!(
            "invalid regular expression in label_replace(): {regex_str}"
        ))
    })?;
    if !dst_valid {
        return Err(exec_err(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut m = ev.eval_matrix(args[0])?;
    for s in m.iter_mut() {
        let src_val = s.labels.get(src).unwrap_or("");
        if let Some(caps) = regex.captures(src_val) {
            let mut res = String::new();
            caps.expand(repl, &mut res);
            let mut b = s.labels.to_builder();
            b.set(dst, res);
            s.labels = b.build();
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    merge_same_labelsets(m)
}

fn label_join(ev: &Ev, args: &[&Expr]) -> Result<Vec<EvalSeries>> {
    if args.len() < 3 {
        return Err(exec_err("label_join: wrong number of arguments"));
    }
    let (dst, dst_valid) = label_name_arg(args[1])?;
    let sep = string_arg(args[2])?;
    let mut srcs = Vec::new();
    for a in &args[3..] {
        let (src, src_valid) = label_name_arg(a)?;
        if !src_valid {
            return Err(exec_err(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
        srcs.push(src);
    }
    if !dst_valid {
        return Err(exec_err(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut m = ev.eval_matrix(args[0])?;
    for s in m.iter_mut() {
        let joined: Vec<&str> = srcs.iter().map(|l| s.labels.get(l).unwrap_or("")).collect();
        let joined = joined.join(sep);
        let mut b = s.labels.to_builder();
        b.set(dst, joined);
        s.labels = b.build();
        if dst == METRIC_NAME {
            s.drop_name = false;
        }
    }
    merge_same_labelsets(m)
}

/// `timestamp(selector)`: the timestamps of the samples themselves, not of the steps.
fn timestamp_over_selector(ev: &Ev, vs: &crate::ast::VectorSelector) -> Result<Vec<EvalSeries>> {
    let lookback = ev.ctx.opts.lookback_delta_ms;
    let at = ev.at_time(vs.at);
    // With `@`, Prometheus looks exactly at the `@` time for every step.
    let (ref_min, ref_max) = match at {
        Some(a) => (a, a),
        None => (ev.start - vs.offset, ev.end - vs.offset),
    };
    let series = ev
        .ctx
        .select(&vs.matchers, ref_min - lookback + 1, ref_max)?;
    let mut out = Vec::with_capacity(series.len());
    let mut made = 0usize;
    for s in series {
        ev.ctx.check_time()?;
        let mut cursor = 0;
        let mut points = Vec::new();
        for t in ev.steps() {
            let r = match at {
                Some(a) => a,
                None => t - vs.offset,
            };
            if at.is_some() {
                cursor = 0;
            }
            if let Some(p) = sample_at(&s.samples, &mut cursor, r, lookback) {
                points.push(Sample {
                    t,
                    v: p.t as f64 / 1000.0,
                });
            }
        }
        ev.ctx.count_queried(points.len());
        // Never more than the peak below, which comes once all series are read: the limit
        // stops a large selection on the way.
        made += points.len();
        ev.ctx.note_held(ev.ctx.held().saturating_add(made))?;
        if !points.is_empty() {
            out.push(EvalSeries {
                labels: s.labels,
                points,
                drop_name: true,
            });
        }
    }
    // Prometheus holds no selector result here: at each step the samples looked at, then
    // their timestamps.
    let counts = StepCounts::of(ev, &[&out]);
    ev.ctx.note_range_eval(ev, &counts, &counts)?;
    Ok(out)
}

fn map_floats(vec: &[EvalSample], f: impl Fn(f64) -> f64) -> Vec<EvalSample> {
    vec.iter()
        .map(|s| EvalSample {
            labels: s.labels.clone(),
            t: s.t,
            v: f(s.v),
            drop_name: true,
        })
        .collect()
}

/// The functions that map each float on its own and take no other argument, computed as
/// Go's `math` package computes them (see [`gomath`]).
fn unary_float_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => gomath::exp,
        "sqrt" => f64::sqrt,
        "ln" => gomath::log,
        "log2" => gomath::log2,
        "log10" => gomath::log10,
        "sin" => gomath::sin,
        "cos" => gomath::cos,
        "tan" => gomath::tan,
        "asin" => gomath::asin,
        "acos" => gomath::acos,
        "atan" => gomath::atan,
        "sinh" => gomath::sinh,
        "cosh" => gomath::cosh,
        "tanh" => gomath::tanh,
        "asinh" => gomath::asinh,
        "acosh" => gomath::acosh,
        "atanh" => gomath::atanh,
        "rad" => |x| x * std::f64::consts::PI / 180.0,
        "deg" => |x| x * 180.0 / std::f64::consts::PI,
        "sgn" => |x| {
            if x < 0.0 {
                -1.0
            } else if x > 0.0 {
                1.0
            } else {
                x
            }
        },
        _ => return None,
    })
}

fn scalar_of(v: &[Vec<EvalSample>], i: usize) -> f64 {
    v.get(i)
        .and_then(|x| x.first())
        .map(|s| s.v)
        .unwrap_or(f64::NAN)
}

fn single(ts: i64, v: f64) -> Vec<EvalSample> {
    vec![EvalSample {
        labels: Labels::default(),
        t: ts,
        v,
        drop_name: false,
    }]
}

/// The labels `absent` and `absent_over_time` give their result: those fixed by equality
/// matchers (`createLabelsForAbsentFunction`).
fn absent_labels(e: &Expr) -> Labels {
    let matchers = match e {
        Expr::VectorSelector(vs) => &vs.matchers,
        Expr::MatrixSelector(ms) => &ms.selector.matchers,
        _ => return Labels::default(),
    };
    let mut b = LabelsBuilder::default();
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(&m.name.as_str()) {
            b.set(m.name.clone(), m.value.clone());
            has.push(&m.name);
        } else {
            b.remove(&m.name);
        }
    }
    b.build()
}

fn date_fn(name: &str, secs: i64) -> f64 {
    let c = civil(secs);
    match name {
        "days_in_month" => days_in_month(c.year, c.month) as f64,
        "day_of_month" => c.day as f64,
        "day_of_week" => c.weekday as f64,
        "day_of_year" => c.yday as f64,
        "hour" => c.hour as f64,
        "minute" => c.minute as f64,
        "month" => c.month as f64,
        _ => c.year as f64,
    }
}

fn instant_function(
    ev: &Ev,
    name: &str,
    args: &[&Expr],
    v: &[Vec<EvalSample>],
    ts: i64,
    histograms: &mut histogram::Shown,
) -> Result<Vec<EvalSample>> {
    let vec0 = || v.first().map(|x| x.as_slice()).unwrap_or(&[]);
    if let Some(f) = unary_float_fn(name) {
        return Ok(map_floats(vec0(), f));
    }
    let out = match name {
        "timestamp" => vec0()
            .iter()
            .map(|s| EvalSample {
                labels: s.labels.clone(),
                t: s.t,
                v: s.t as f64 / 1000.0,
                drop_name: true,
            })
            .collect(),
        "pi" => single(ts, std::f64::consts::PI),
        // Query context functions: Prometheus folds them into numbers before evaluating.
        "min_of" => single(ts, gomath::min(scalar_of(v, 0), scalar_of(v, 1))),
        "max_of" => single(ts, gomath::max(scalar_of(v, 0), scalar_of(v, 1))),
        "step" => single(ts, ev.ctx.query_step as f64 / 1000.0),
        "range" => single(ts, (ev.ctx.query_end - ev.ctx.query_start) as f64 / 1000.0),
        "start" => single(ts, ev.ctx.query_start as f64 / 1000.0),
        "end" => single(ts, ev.ctx.query_end as f64 / 1000.0),
        "time" => single(ts, ts as f64 / 1000.0),
        "vector" => single(ts, scalar_of(v, 0)),
        "scalar" => {
            let vec = vec0();
            single(ts, if vec.len() == 1 { vec[0].v } else { f64::NAN })
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let (min, max) = match name {
                "clamp" => (scalar_of(v, 1), scalar_of(v, 2)),
                "clamp_min" => (scalar_of(v, 1), f64::INFINITY),
                _ => (f64::NEG_INFINITY, scalar_of(v, 1)),
            };
            if max < min {
                Vec::new()
            } else {
                // Go's math.Max/Min: an infinity wins over NaN, NaN over the rest.
                map_floats(vec0(), |x| gomath::max(min, gomath::min(max, x)))
            }
        }
        "round" => {
            let to_nearest = if args.len() >= 2 {
                scalar_of(v, 1)
            } else {
                1.0
            };
            let inv = 1.0 / to_nearest;
            map_floats(vec0(), |x| (x * inv + 0.5).floor() / inv)
        }
        "absent" => {
            if vec0().is_empty() {
                vec![EvalSample {
                    labels: args.first().map(|a| absent_labels(a)).unwrap_or_default(),
                    t: ts,
                    v: 1.0,
                    drop_name: false,
                }]
            } else {
                Vec::new()
            }
        }
        "sort" => {
            let mut out = vec0().to_vec();
            gosort::sort(&mut out, |a, b| b.v.is_nan() || b.v > a.v);
            out
        }
        "sort_desc" => {
            let mut out = vec0().to_vec();
            gosort::sort(&mut out, |a, b| b.v.is_nan() || b.v < a.v);
            out
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut labels = Vec::new();
            for a in &args[1..] {
                labels.push(string_arg(a)?);
            }
            let desc = name == "sort_by_label_desc";
            let mut out = vec0().to_vec();
            out.sort_by(|a, b| {
                for l in &labels {
                    let x = a.labels.get(l).unwrap_or("");
                    let y = b.labels.get(l).unwrap_or("");
                    if x == y {
                        continue;
                    }
                    let less = natsort_less(x, y);
                    return if less != desc {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    };
                }
                let ord = a.labels.cmp(&b.labels);
                if desc {
                    ord.reverse()
                } else {
                    ord
                }
            });
            out
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute"
        | "month" | "year" => {
            if args.is_empty() {
                single(ts, date_fn(name, ts.div_euclid(1000)))
            } else {
                map_floats(vec0(), |x| date_fn(name, go_f64_to_i64(x)))
            }
        }
        "histogram_quantile" => histogram::histogram_quantile(
            ev,
            scalar_of(v, 0),
            v.get(1).map(|x| x.as_slice()).unwrap_or(&[]),
            (args[0].span(), args[1].span()),
            histograms,
        ),
        "histogram_quantiles" => {
            let label = string_arg(args[1])?;
            let qs: Vec<(f64, Span)> = (2..args.len())
                .map(|i| (scalar_of(v, i), args[i].span()))
                .collect();
            histogram::histogram_quantiles(ev, vec0(), label, &qs, args[0].span(), histograms)
        }
        "histogram_fraction" => histogram::histogram_fraction(
            ev,
            scalar_of(v, 0),
            scalar_of(v, 1),
            v.get(2).map(|x| x.as_slice()).unwrap_or(&[]),
            args[2].span(),
        ),
        // Native histograms only; float samples are ignored.
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => Vec::new(),
        _ => {
            return Err(exec_err(format!(
                "function {name} is not supported by this engine"
            )))
        }
    };
    Ok(out)
}

/// What a range function sees at one step.
struct Window<'w> {
    points: &'w [Sample],
    /// For counter functions, the values just before each counter reset inside the window, in
    /// order (found once per series); `None` means scan `points`.
    resets: Option<&'w [f64]>,
    /// The evaluation time of the step.
    ts: i64,
    /// `(range_start, range_end]` is the window.
    range_start: i64,
    range_end: i64,
    /// The range in seconds, as `duration_seconds` gives it.
    range_secs: f64,
    /// The range selector's `anchored` and `smoothed` modifiers: `points` then holds the widened
    /// window (see `extended`).
    anchored: bool,
    smoothed: bool,
}

/// `time.Duration.Seconds()` of a millisecond duration.
fn duration_seconds(ms: i64) -> f64 {
    let ns = ms as i128 * 1_000_000;
    let sec = (ns / 1_000_000_000) as f64;
    let nsec = (ns % 1_000_000_000) as f64;
    sec + nsec / 1e9
}

/// The functions over a range vector, resolved from the name once per call instead of being
/// matched by name for every window.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    AvgOverTime,
    CountOverTime,
    FirstOverTime,
    LastOverTime,
    MaxOverTime,
    MinOverTime,
    SumOverTime,
    QuantileOverTime,
    StddevOverTime,
    StdvarOverTime,
    MadOverTime,
    PresentOverTime,
    AbsentOverTime,
    TsOfFirstOverTime,
    TsOfLastOverTime,
    TsOfMaxOverTime,
    TsOfMinOverTime,
    Changes,
    Resets,
    Deriv,
    PredictLinear,
    DoubleExponentialSmoothing,
}

impl RangeFn {
    fn from_name(name: &str) -> Option<RangeFn> {
        Some(match name {
            "rate" => RangeFn::Rate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "irate" => RangeFn::Irate,
            "idelta" => RangeFn::Idelta,
            "avg_over_time" => RangeFn::AvgOverTime,
            "count_over_time" => RangeFn::CountOverTime,
            "first_over_time" => RangeFn::FirstOverTime,
            "last_over_time" => RangeFn::LastOverTime,
            "max_over_time" => RangeFn::MaxOverTime,
            "min_over_time" => RangeFn::MinOverTime,
            "sum_over_time" => RangeFn::SumOverTime,
            "quantile_over_time" => RangeFn::QuantileOverTime,
            "stddev_over_time" => RangeFn::StddevOverTime,
            "stdvar_over_time" => RangeFn::StdvarOverTime,
            "mad_over_time" => RangeFn::MadOverTime,
            "present_over_time" => RangeFn::PresentOverTime,
            "absent_over_time" => RangeFn::AbsentOverTime,
            "ts_of_first_over_time" => RangeFn::TsOfFirstOverTime,
            "ts_of_last_over_time" => RangeFn::TsOfLastOverTime,
            "ts_of_max_over_time" => RangeFn::TsOfMaxOverTime,
            "ts_of_min_over_time" => RangeFn::TsOfMinOverTime,
            "changes" => RangeFn::Changes,
            "resets" => RangeFn::Resets,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            "double_exponential_smoothing" => RangeFn::DoubleExponentialSmoothing,
            _ => return None,
        })
    }
}

fn eval_range_function(
    ev: &Ev,
    call: &Call,
    args: &[&Expr],
    midx: usize,
) -> Result<Vec<EvalSeries>> {
    let name = call.func.name;
    let Some(func) = RangeFn::from_name(name) else {
        return Err(exec_err(format!(
            "function {name} is not supported by this engine"
        )));
    };
    // How much further back and forward than the range the window reaches (`anchored`,
    // `smoothed`), and the modifiers themselves.
    let (mut back, mut forward, mut anchored, mut smoothed) = (0, 0, false, false);
    // A subquery's result, held until the function is done (as in Prometheus).
    let mut subquery_held = 0usize;
    let (input, range, offset, at, from_selector) = match args[midx] {
        Expr::MatrixSelector(ms) => {
            let vs = &ms.selector;
            extended::check_function(name, vs)?;
            (back, forward) = extended::widening(vs, ev.ctx.opts.lookback_delta_ms);
            (anchored, smoothed) = (vs.anchored, vs.smoothed);
            let at = ev.at_time(vs.at);
            let (ref_min, ref_max) = match at {
                Some(a) => (a - vs.offset, a - vs.offset),
                None => (ev.start - vs.offset, ev.end - vs.offset),
            };
            let series = ev.ctx.select(
                &vs.matchers,
                ref_min - ms.range - back + 1,
                ref_max + forward,
            )?;
            let input: Vec<EvalSeries> = series
                .into_iter()
                .map(|s| EvalSeries {
                    labels: s.labels,
                    points: s
                        .samples
                        .into_iter()
                        .filter(|p| !is_stale_nan(p.v))
                        .collect(),
                    drop_name: false,
                })
                .collect();
            (input, ms.range, vs.offset, at, true)
        }
        Expr::Subquery(sq) => {
            // The subquery's own evaluation is not counted, as in Prometheus: its points
            // are, in the windows below.
            let queried = ev.ctx.samples_read.get();
            let mut m = ev.eval_subquery(sq)?;
            ev.ctx.samples_read.set(queried);
            // A name already due to be dropped inside the subquery stays dropped.
            for s in m.iter_mut() {
                if s.drop_name {
                    s.labels = drop_metadata(&s.labels);
                    s.drop_name = false;
                    ev.ctx.names_dropped_early.set(true);
                }
            }
            subquery_held = total_points(&m);
            (m, sq.range, sq.offset, ev.at_time(sq.at), false)
        }
        _ => return Err(exec_err("expected a range vector argument")),
    };
    // After the range argument, as Prometheus evaluates them; what they hold stays held
    // until the expression around this call ends, as there.
    // The other arguments are scalars, evaluated for every step.
    let mut scalars: Vec<Vec<f64>> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != midx && a.value_type() != ValueType::String {
            scalars.push(ev.eval_scalar_steps(a)?);
        }
    }
    // Prometheus reports positions of a subquery argument at the start of the query.
    let arg0_span = if from_selector || midx != 0 {
        args[0].span()
    } else {
        Span::default()
    };
    let drop_name = name != "last_over_time" && name != "first_over_time";
    let steps = ev.num_steps();
    let shape = WindowShape {
        func,
        scalars: &scalars,
        range,
        back,
        forward,
        offset,
        at,
        range_secs: duration_seconds(range),
        anchored,
        smoothed,
        start: ev.start,
        interval: ev.interval,
        steps,
    };
    // One series' windows never depend on another's: with enough work, and a kernel that
    // neither warns nor fails, the series are split over two threads. (An instant query's
    // interval is 1 ms, so a sample falls into at most `steps` windows, not range/interval.)
    let work: usize = input
        .iter()
        .map(|s| s.points.len())
        .sum::<usize>()
        .saturating_mul(shape.steps_per_sample().min(steps.max(1)));
    let mut out: Vec<EvalSeries> = Vec::with_capacity(input.len());
    // Each series' result, in input order: accounted for `--query.max-samples`, and the
    // non-counter info for rate and increase.
    let mut finish = |labels: Labels, computed: SeriesWindows| -> Result<()> {
        let SeriesWindows {
            points,
            largest_window,
            last_window,
            queried,
        } = computed;
        ev.ctx.count_queried(queried);
        // The samples a window held, as if counted window by window; as in Prometheus, the
        // last window's are still held when the series' result is added (which the peak in
        // `stats` shows), and let go of after it.
        ev.ctx.add_samples(largest_window)?;
        ev.ctx.sub_samples(largest_window - last_window);
        let metric_name = labels.get(METRIC_NAME).unwrap_or("");
        if matches!(func, RangeFn::Rate | RangeFn::Increase)
            && !metric_name.is_empty()
            && !points.is_empty()
            && !["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|suffix| metric_name.ends_with(suffix))
        {
            ev.ctx.info(
                format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
                    go_quote(metric_name)
                ),
                arg0_span,
            );
        }
        if !points.is_empty() {
            ev.ctx.add_samples(points.len())?;
            out.push(EvalSeries {
                labels,
                points,
                drop_name,
            });
        }
        ev.ctx.sub_samples(last_window);
        Ok(())
    };
    if work >= PARALLEL_MIN_WORK.load(std::sync::atomic::Ordering::Relaxed)
        && input.len() >= 2
        && *MULTI_CORE
        && shape.is_pure()
    {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let deadline = ev.ctx.deadline;
        // Either half stops the other: on the deadline, and when the points made so far
        // already exceed what `--query.max-samples` leaves. The accounting after the join
        // applies the limit exactly as one series at a time does.
        let stop = AtomicBool::new(false);
        let budget = AtomicUsize::new(ev.ctx.opts.max_samples.saturating_sub(ev.ctx.samples.get()));
        let kernel =
            |w: &Window, sargs: &[f64]| range_kernel(&|_, _| {}, func, w, sargs, arg0_span);
        let run = |half: &[EvalSeries]| -> Result<Vec<SeriesWindows>> {
            let mut results = Vec::with_capacity(half.len());
            for s in half {
                if stop.load(Ordering::Relaxed)
                    || deadline.is_some_and(|d| super::Instant::now() > d)
                {
                    stop.store(true, Ordering::Relaxed);
                    return Err(super::EngineError::Timeout);
                }
                let computed = shape.series_points(&s.points, &kernel)?;
                // Only the points, which all stay to the end: more of them than the limit
                // leaves fails one series at a time too, whatever the order.
                let kept = computed.points.len();
                if budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(kept)
                    })
                    .is_err()
                {
                    stop.store(true, Ordering::Relaxed);
                    return Err(super::EngineError::TooManySamples);
                }
                results.push(computed);
            }
            Ok(results)
        };
        let (first, second) = input.split_at(input.len() / 2);
        let (first, second) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| run(second));
            let first = run(first);
            let second = helper
                .join()
                .unwrap_or_else(|_| Err(exec_err("an evaluation thread panicked")));
            (first, second)
        });
        let (first, second) = (first?, second?);
        for (s, computed) in input.into_iter().zip(first.into_iter().chain(second)) {
            finish(s.labels, computed)?;
        }
    } else {
        let warn = |message: String, span: Span| ev.ctx.warn(message, span);
        let kernel = |w: &Window, sargs: &[f64]| range_kernel(&warn, func, w, sargs, arg0_span);
        for s in input {
            ev.ctx.check_time()?;
            let computed = shape.series_points(&s.points, &kernel)?;
            finish(s.labels, computed)?;
        }
    }
    // Prometheus ends holding the series' results (for `absent_over_time` too, whatever it
    // then gives) and what the other arguments hold.
    ev.ctx.sub_samples(subquery_held);
    if name == "absent_over_time" {
        if out.iter().any(|s| s.points.len() == steps) {
            return Ok(Vec::new());
        }
        let mut found = std::collections::HashSet::new();
        for s in &out {
            for p in &s.points {
                found.insert(p.t);
            }
        }
        let points: Vec<Sample> = ev
            .steps()
            .filter(|t| !found.contains(t))
            .map(|t| Sample { t, v: 1.0 })
            .collect();
        if points.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![EvalSeries {
            labels: absent_labels(args[midx]),
            points,
            drop_name,
        }]);
    }
    Ok(out)
}

/// Below this many window-sample visits a second thread costs more than it saves. (Tests set
/// it to 0 and to `usize::MAX` to compare both ways.)
pub(crate) static PARALLEL_MIN_WORK: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(200_000);

static MULTI_CORE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1));

/// Everything about a range function's windows that is the same for every series.
struct WindowShape<'s> {
    func: RangeFn,
    /// The scalar arguments, one value a step.
    scalars: &'s [Vec<f64>],
    range: i64,
    /// How much further back and forward than the range the window reaches (`anchored`,
    /// `smoothed`).
    back: i64,
    forward: i64,
    offset: i64,
    at: Option<i64>,
    range_secs: f64,
    anchored: bool,
    smoothed: bool,
    start: i64,
    interval: i64,
    steps: usize,
}

/// One series' result points, the most samples one of its windows held, how many its last
/// step's window held, and how many all its windows held together.
struct SeriesWindows {
    points: Vec<Sample>,
    largest_window: usize,
    last_window: usize,
    queried: usize,
}

impl WindowShape<'_> {
    /// How many steps' windows one sample can fall into.
    fn steps_per_sample(&self) -> usize {
        ((self.range + self.back + self.forward) / self.interval.max(1)).max(0) as usize + 1
    }

    /// Whether the kernel can neither warn nor fail for these arguments, so it can run away
    /// from the evaluation context.
    fn is_pure(&self) -> bool {
        let valid_factor = |v: &f64| *v > 0.0 && *v < 1.0;
        match self.func {
            RangeFn::QuantileOverTime => self
                .scalars
                .first()
                .is_some_and(|q| q.iter().all(|q| (0.0..=1.0).contains(q))),
            RangeFn::DoubleExponentialSmoothing => {
                self.scalars.len() == 2 && self.scalars.iter().flatten().all(valid_factor)
            }
            _ => true,
        }
    }

    /// The function over each step's window of one series' points.
    fn series_points<K>(&self, pts: &[Sample], kernel: &K) -> Result<SeriesWindows>
    where
        K: Fn(&Window, &[f64]) -> Result<Option<f64>>,
    {
        // Counter resets are found once per series, not once per window: windows of
        // consecutive steps overlap (a 5m rate every 60s reads each sample five times), and
        // resets are rare, so each window only walks the few resets inside it. The values are
        // added in the same order as a scan of the window would add them, so results are
        // bit-for-bit the same.
        let track_resets = !self.anchored
            && !self.smoothed
            && matches!(
                self.func,
                RangeFn::Rate | RangeFn::Increase | RangeFn::Resets
            );
        let mut reset_at: Vec<usize> = Vec::new();
        let mut reset_prev: Vec<f64> = Vec::new();
        if track_resets {
            for i in 1..pts.len() {
                if pts[i].v < pts[i - 1].v {
                    reset_at.push(i);
                    reset_prev.push(pts[i - 1].v);
                }
            }
        }
        let mut sargs: Vec<f64> = Vec::with_capacity(self.scalars.len());
        let (mut lo, mut hi) = (0usize, 0usize);
        // The resets inside the window are those at `lo < i < hi`: `reset_at[rlo..rhi]`.
        let (mut rlo, mut rhi) = (0usize, 0usize);
        // At most one point a step, and only at steps whose window holds a sample: sized once
        // instead of growing by doubling.
        let mut points = Vec::with_capacity(
            self.steps
                .min(pts.len().saturating_mul(self.steps_per_sample())),
        );
        let (mut largest_window, mut last_window, mut queried) = (0, 0, 0usize);
        for step in 0..self.steps {
            let ts = self.start + step as i64 * self.interval;
            let range_end = self.at.unwrap_or(ts) - self.offset;
            let range_start = range_end - self.range;
            while hi < pts.len() && pts[hi].t <= range_end + self.forward {
                hi += 1;
            }
            while lo < hi && pts[lo].t <= range_start - self.back {
                lo += 1;
            }
            last_window = hi - lo;
            if lo >= hi {
                continue;
            }
            let resets = if track_resets {
                while rlo < reset_at.len() && reset_at[rlo] <= lo {
                    rlo += 1;
                }
                rhi = rhi.max(rlo);
                while rhi < reset_at.len() && reset_at[rhi] < hi {
                    rhi += 1;
                }
                Some(&reset_prev[rlo..rhi])
            } else {
                None
            };
            let w = Window {
                points: &pts[lo..hi],
                resets,
                ts,
                range_start,
                range_end,
                range_secs: self.range_secs,
                anchored: self.anchored,
                smoothed: self.smoothed,
            };
            sargs.clear();
            sargs.extend(self.scalars.iter().map(|v| v[step]));
            largest_window = largest_window.max(hi - lo);
            queried = queried.saturating_add(hi - lo);
            if let Some(v) = kernel(&w, &sargs)? {
                points.push(Sample { t: ts, v });
            }
        }
        Ok(SeriesWindows {
            points,
            largest_window,
            last_window,
            queried,
        })
    }
}

fn range_kernel<W: Fn(String, Span)>(
    warn: &W,
    func: RangeFn,
    w: &Window,
    sargs: &[f64],
    arg0_span: Span,
) -> Result<Option<f64>> {
    let p = w.points;
    if w.anchored || w.smoothed {
        // `extended::check_function` has let only these functions through.
        let rate = |is_counter, is_rate| {
            extended::extended_rate(
                p,
                w.range_start,
                w.range_end,
                w.range_secs,
                w.smoothed,
                is_counter,
                is_rate,
            )
        };
        return Ok(match func {
            RangeFn::Rate => rate(true, true),
            RangeFn::Increase => rate(true, false),
            RangeFn::Delta => rate(false, false),
            RangeFn::Changes => {
                extended::anchored_first_index(p, w.range_start).map(|i| changes(&p[i..]))
            }
            RangeFn::Resets => {
                extended::anchored_first_index(p, w.range_start).map(|i| resets(&p[i..]))
            }
            _ => None,
        });
    }
    let n = p.len();
    Ok(match func {
        RangeFn::Rate => extrapolated_rate(w, true, true),
        RangeFn::Increase => extrapolated_rate(w, true, false),
        RangeFn::Delta => extrapolated_rate(w, false, false),
        RangeFn::Irate => instant_value(p, true),
        RangeFn::Idelta => instant_value(p, false),
        RangeFn::CountOverTime => Some(n as f64),
        RangeFn::PresentOverTime | RangeFn::AbsentOverTime => Some(1.0),
        RangeFn::LastOverTime => Some(p[n - 1].v),
        RangeFn::FirstOverTime => Some(p[0].v),
        RangeFn::TsOfFirstOverTime => Some(p[0].t as f64 / 1000.0),
        RangeFn::TsOfLastOverTime => Some(p[n - 1].t as f64 / 1000.0),
        RangeFn::MaxOverTime => Some(compare_over_time(p, |c, m| c > m || m.is_nan()).0),
        RangeFn::MinOverTime => Some(compare_over_time(p, |c, m| c < m || m.is_nan()).0),
        RangeFn::TsOfMaxOverTime => {
            Some(compare_over_time(p, |c, m| c >= m || m.is_nan()).1 as f64 / 1000.0)
        }
        RangeFn::TsOfMinOverTime => {
            Some(compare_over_time(p, |c, m| c <= m || m.is_nan()).1 as f64 / 1000.0)
        }
        RangeFn::SumOverTime => {
            let (mut sum, mut c) = (0.0, 0.0);
            for s in p {
                (sum, c) = kahan_inc(s.v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        }
        RangeFn::AvgOverTime => Some(avg_over_time(p)),
        RangeFn::QuantileOverTime => {
            let q = sargs.first().copied().unwrap_or(f64::NAN);
            if q.is_nan() || !(0.0..=1.0).contains(&q) {
                warn(
                    format!(
                        "quantile value should be between 0 and 1, got {}",
                        super::util::format_go_g(q)
                    ),
                    arg0_span,
                );
            }
            let mut values: Vec<f64> = p.iter().map(|s| s.v).collect();
            Some(super::aggregate::quantile(q, &mut values))
        }
        RangeFn::StddevOverTime => Some(variance_over_time(p).sqrt()),
        RangeFn::StdvarOverTime => Some(variance_over_time(p)),
        RangeFn::MadOverTime => {
            if p.iter().any(|s| s.v.is_nan()) {
                return Ok(Some(f64::NAN));
            }
            let mut values: Vec<f64> = p.iter().map(|s| s.v).collect();
            let median = super::aggregate::quantile(0.5, &mut values);
            let mut dev: Vec<f64> = p.iter().map(|s| (s.v - median).abs()).collect();
            Some(super::aggregate::quantile(0.5, &mut dev))
        }
        RangeFn::Changes => Some(changes(p)),
        RangeFn::Resets => Some(match w.resets {
            Some(r) => r.len() as f64,
            None => resets(p),
        }),
        RangeFn::Deriv => {
            if n < 2 {
                None
            } else {
                Some(linear_regression(p, p[0].t).0)
            }
        }
        RangeFn::PredictLinear => {
            if n < 2 {
                None
            } else {
                let duration = sargs.first().copied().unwrap_or(f64::NAN);
                let (slope, intercept) = linear_regression(p, w.ts);
                Some(slope * duration + intercept)
            }
        }
        RangeFn::DoubleExponentialSmoothing => {
            let sf = sargs.first().copied().unwrap_or(f64::NAN);
            let tf = sargs.get(1).copied().unwrap_or(f64::NAN);
            if sf.is_nan() || sf <= 0.0 || sf >= 1.0 {
                return Err(exec_err(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                )));
            }
            if tf.is_nan() || tf <= 0.0 || tf >= 1.0 {
                return Err(exec_err(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                )));
            }
            double_exponential_smoothing(p, sf, tf)
        }
    })
}

/// `changes`: how often the value changed between consecutive samples (NaN to NaN is none).
fn changes(p: &[Sample]) -> f64 {
    p.windows(2)
        .filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan()))
        .count() as f64
}

/// `resets`: how often the value went down between consecutive samples.
fn resets(p: &[Sample]) -> f64 {
    p.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

/// `extrapolatedRate`: the increase over the window, extrapolated towards its boundaries.
fn extrapolated_rate(w: &Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let first = p[0];
    let last = p[p.len() - 1];
    let mut result = last.v - first.v;
    if is_counter {
        match w.resets {
            Some(resets) => {
                for &prev in resets {
                    result += prev;
                }
            }
            None => {
                for i in 1..p.len() {
                    if p[i].v < p[i - 1].v {
                        result += p[i - 1].v;
                    }
                }
            }
        }
    }
    let mut duration_to_start = (first.t - w.range_start) as f64 / 1000.0;
    let mut duration_to_end = (w.range_end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled_interval / (p.len() - 1) as f64;
    let threshold = avg * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = avg / 2.0;
    }
    if is_counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = avg / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= w.range_secs;
    }
    Some(result * factor)
}

/// `instantValue`: `irate` and `idelta` from the last two samples.
fn instant_value(p: &[Sample], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let a = p[p.len() - 2];
    let b = p[p.len() - 1];
    let interval = b.t - a.t;
    if interval == 0 {
        return None;
    }
    let mut v = b.v;
    // A counter reset leaves the newer value itself; NaNs count as no reset.
    if !is_rate || b.v.partial_cmp(&a.v) != Some(std::cmp::Ordering::Less) {
        v = b.v - a.v;
    }
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// `compareOverTime`: the winning value and its timestamp.
fn compare_over_time(p: &[Sample], better: impl Fn(f64, f64) -> bool) -> (f64, i64) {
    let mut best = p[0].v;
    let mut t = p[0].t;
    for s in p {
        if better(s.v, best) {
            best = s.v;
            t = s.t;
        }
    }
    (best, t)
}

fn avg_over_time(p: &[Sample]) -> f64 {
    let mut sum = p[0].v;
    let mut count = 1.0;
    let mut mean = 0.0;
    let mut c = 0.0;
    let mut incremental = false;
    for (i, s) in p[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(s.v, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(s.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn variance_over_time(p: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for s in p {
        count += 1.0;
        let delta = s.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `linearRegression`: slope and intercept at `intercept_time`, with Kahan sums.
fn linear_regression(p: &[Sample], intercept_time: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = p[0].v;
    let mut const_y = true;
    for (i, s) in p.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn double_exponential_smoothing(p: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    let l = p.len();
    if l < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = p[0].v;
    let mut b = p[1].v - p[0].v;
    for (i, s) in p.iter().enumerate().skip(1) {
        let x = sf * s.v;
        // calcTrendValue(i-1, ...)
        b = if i - 1 == 0 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        };
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}
