//! Unit tests of the engine over hand-built ASTs and the in-memory storage, with values worked
//! out from Prometheus's formulas (and checked against its test files where they overlap).

use narthex_model::memory::MemoryStorage;
use narthex_model::{stale_nan, Storage};

use super::*;
use crate::ast::*;

const MIN: i64 = 60_000;

fn span(start: usize) -> Span {
    Span { start, end: start }
}

fn sel_at(name: &str, labels: &[(&str, &str)], start: usize) -> VectorSelector {
    let mut matchers = vec![Matcher::equal("__name__", name)];
    for (k, v) in labels {
        matchers.push(Matcher::equal(*k, *v));
    }
    VectorSelector {
        name: Some(name.into()),
        matchers,
        offset: 0,
        offset_expr: None,
        at: None,
        anchored: false,
        smoothed: false,
        span: span(start),
    }
}

fn sel(name: &str, labels: &[(&str, &str)]) -> Expr {
    Expr::VectorSelector(sel_at(name, labels, 0))
}

fn msel(vs: VectorSelector, range: i64) -> Expr {
    let s = vs.span;
    Expr::MatrixSelector(MatrixSelector {
        selector: vs,
        range,
        range_expr: None,
        span: s,
    })
}

fn num(v: f64) -> Expr {
    Expr::Number(NumberLiteral {
        value: v,
        duration: false,
        span: span(0),
    })
}

macro_rules! func {
    ($id:ident, $name:expr, $ret:expr) => {
        static $id: Function = Function {
            name: $name,
            arg_types: &[],
            variadic: 0,
            return_type: $ret,
            experimental: false,
        };
    };
}

func!(RATE, "rate", ValueType::Vector);
func!(INCREASE, "increase", ValueType::Vector);
func!(SUM_OVER_TIME, "sum_over_time", ValueType::Vector);
func!(HISTOGRAM_QUANTILE, "histogram_quantile", ValueType::Vector);
func!(TIME, "time", ValueType::Scalar);
func!(ABSENT, "absent", ValueType::Vector);
func!(SORT, "sort", ValueType::Vector);
func!(DERIV, "deriv", ValueType::Vector);
func!(TIMESTAMP, "timestamp", ValueType::Vector);

fn call(f: &'static Function, args: Vec<Expr>) -> Expr {
    Expr::Call(Call {
        func: f,
        args,
        span: span(0),
    })
}

fn bin(op: BinaryOp, lhs: Expr, rhs: Expr, matching: Option<VectorMatching>) -> Expr {
    Expr::Binary(BinaryExpr {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        return_bool: false,
        matching,
        span: span(0),
    })
}

fn agg(op: AggregateOp, expr: Expr, param: Option<Expr>, by: &[&str]) -> Expr {
    Expr::Aggregate(AggregateExpr {
        op,
        expr: Box::new(expr),
        param: param.map(Box::new),
        grouping: by.iter().map(|s| s.to_string()).collect(),
        without: false,
        span: span(0),
    })
}

/// Label pairs and (t, v) points of one test series.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn storage(series: &[TestSeries]) -> MemoryStorage {
    let st = MemoryStorage::new();
    let mut app = st.appender();
    for (labels, points) in series {
        let l = Labels::from_pairs(labels.iter().copied());
        for &(t, v) in points.iter() {
            app.append(&l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
    st
}

/// `count` samples every minute from 0, starting at `start` and growing by `inc`.
fn linear(start: f64, inc: f64, count: i64) -> Vec<(i64, f64)> {
    (0..count)
        .map(|i| (i * MIN, start + inc * i as f64))
        .collect()
}

fn vector(r: &QueryResult) -> Vec<(String, f64)> {
    match &r.data {
        QueryData::Vector(v) => v.iter().map(|(l, s)| (l.to_string(), s.v)).collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

fn instant(st: &MemoryStorage, e: &Expr, t: i64) -> QueryResult {
    Engine::default()
        .instant(st.querier().as_ref(), e, t)
        .expect("query")
}

#[test]
fn selector_lookback_is_left_open_and_stops_at_staleness() {
    let st = storage(&[(
        &[("__name__", "up"), ("job", "a")],
        &[(0, 1.0), (MIN, 2.0), (2 * MIN, stale_nan()), (4 * MIN, 4.0)],
    )]);
    let e = sel("up", &[]);
    assert_eq!(
        vector(&instant(&st, &e, MIN + 30_000)),
        [("up{job=\"a\"}".into(), 2.0)]
    );
    assert!(vector(&instant(&st, &e, 2 * MIN)).is_empty());
    let r = Engine::default()
        .range(st.querier().as_ref(), &e, 0, 10 * MIN, MIN)
        .expect("range");
    let QueryData::Matrix(m) = r.data else {
        panic!()
    };
    let times: Vec<i64> = m[0].samples.iter().map(|s| s.t / MIN).collect();
    // The sample at 4m is visible until (but not at) 9m.
    assert_eq!(times, [0, 1, 4, 5, 6, 7, 8]);
}

#[test]
fn rate_extrapolates_like_prometheus() {
    let st = storage(&[(&[("__name__", "x_total")], &linear(0.0, 10.0, 11))]);
    let e = call(&RATE, vec![msel(sel_at("x_total", &[], 5), 5 * MIN)]);
    let r = instant(&st, &e, 5 * MIN);
    // Samples 10..50 at 1m..5m: 40 over 240s, extrapolated by 60s at the start (not below 0).
    assert_eq!(vector(&r), [("{}".into(), 50.0 / 300.0)]);
    assert!(r.infos.is_empty());
    // A counter reset adds the value before it.
    let st = storage(&[(
        &[("__name__", "y")],
        &[(0, 10.0), (MIN, 20.0), (2 * MIN, 5.0), (3 * MIN, 15.0)],
    )]);
    let e = call(&INCREASE, vec![msel(sel_at("y", &[], 9), 3 * MIN)]);
    let r = instant(&st, &e, 3 * MIN);
    // The window (0, 3m] leaves out the sample at 0: 15 - 20 + 20 (reset) over 120s,
    // extrapolated by 60s at the start (the zero point, 160s back, is further).
    assert_eq!(vector(&r), [("{}".into(), 15.0 * 180.0 / 120.0)]);
    assert_eq!(
        r.infos,
        ["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"y\" (1:10)"]
    );
}

#[test]
fn sum_uses_kahan_compensation() {
    let st = storage(&[
        (&[("__name__", "m"), ("i", "1")], &[(0, 1e100)]),
        (&[("__name__", "m"), ("i", "2")], &[(0, 1.0)]),
        (&[("__name__", "m"), ("i", "3")], &[(0, -1e100)]),
    ]);
    let e = agg(AggregateOp::Sum, sel("m", &[]), None, &[]);
    assert_eq!(vector(&instant(&st, &e, 0)), [("{}".into(), 1.0)]);
    let e = agg(AggregateOp::Avg, sel("m", &[]), None, &[]);
    assert_eq!(vector(&instant(&st, &e, 0)), [("{}".into(), 1.0 / 3.0)]);
    let e = call(
        &SUM_OVER_TIME,
        vec![msel(sel_at("m", &[("i", "1")], 0), MIN)],
    );
    assert_eq!(vector(&instant(&st, &e, 0)), [("{i=\"1\"}".into(), 1e100)]);
}

#[test]
fn topk_orders_and_names_survive() {
    let st = storage(&[
        (&[("__name__", "m"), ("i", "a")], &[(0, 3.0)]),
        (&[("__name__", "m"), ("i", "b")], &[(0, 1.0)]),
        (&[("__name__", "m"), ("i", "c")], &[(0, 2.0)]),
    ]);
    let e = agg(AggregateOp::Topk, sel("m", &[]), Some(num(2.0)), &[]);
    assert_eq!(
        vector(&instant(&st, &e, 0)),
        [("m{i=\"a\"}".into(), 3.0), ("m{i=\"c\"}".into(), 2.0)]
    );
    let e = call(&SORT, vec![sel("m", &[])]);
    let got: Vec<f64> = vector(&instant(&st, &e, 0))
        .into_iter()
        .map(|x| x.1)
        .collect();
    assert_eq!(got, [1.0, 2.0, 3.0]);
}

#[test]
fn one_to_one_matching_and_its_errors() {
    let st = storage(&[
        (&[("__name__", "a"), ("i", "1")], &[(0, 3.0)]),
        (&[("__name__", "a"), ("i", "2")], &[(0, 4.0)]),
        (&[("__name__", "b"), ("i", "1"), ("x", "p")], &[(0, 10.0)]),
        (&[("__name__", "b"), ("i", "1"), ("x", "q")], &[(0, 20.0)]),
    ]);
    let on_i = VectorMatching {
        card: Cardinality::OneToOne,
        on: true,
        labels: vec!["i".into()],
        include: vec![],
        fill: Default::default(),
    };
    let e = bin(
        BinaryOp::Add,
        sel("a", &[]),
        sel("b", &[("x", "p")]),
        Some(on_i.clone()),
    );
    assert_eq!(vector(&instant(&st, &e, 0)), [("{i=\"1\"}".into(), 13.0)]);
    let e = bin(
        BinaryOp::Add,
        sel("a", &[]),
        sel("b", &[]),
        Some(on_i.clone()),
    );
    let err = Engine::default()
        .instant(st.querier().as_ref(), &e, 0)
        .expect_err("duplicate");
    assert_eq!(
        err.to_string(),
        "found duplicate series for the match group {i=\"1\"} on the right hand-side of the operation: [{__name__=\"b\", i=\"1\", x=\"p\"}, {__name__=\"b\", i=\"1\", x=\"q\"}];many-to-many matching not allowed: matching labels must be unique on one side"
    );
    // A name already dropped is not shown, as Prometheus drops it at once.
    let e = crate::parse("a + on(i) -b").expect("parses");
    let err = Engine::default()
        .instant(st.querier().as_ref(), &e, 0)
        .expect_err("duplicate");
    assert_eq!(
        err.to_string(),
        "found duplicate series for the match group {i=\"1\"} on the right hand-side of the operation: [{i=\"1\", x=\"p\"}, {i=\"1\", x=\"q\"}];many-to-many matching not allowed: matching labels must be unique on one side"
    );
    // group_right: many on the right, labels from the right, `i` copied from the left.
    let many = VectorMatching {
        card: Cardinality::OneToMany,
        on: true,
        labels: vec!["i".into()],
        include: vec![],
        fill: Default::default(),
    };
    let e = bin(BinaryOp::Mul, sel("a", &[]), sel("b", &[]), Some(many));
    assert_eq!(
        vector(&instant(&st, &e, 0)),
        [
            ("{i=\"1\", x=\"p\"}".into(), 30.0),
            ("{i=\"1\", x=\"q\"}".into(), 60.0)
        ]
    );
    // Comparisons keep the name; `or` adds what the left lacks.
    let e = bin(BinaryOp::Gtr, sel("a", &[]), num(3.5), None);
    assert_eq!(vector(&instant(&st, &e, 0)), [("a{i=\"2\"}".into(), 4.0)]);
    let e = bin(BinaryOp::Or, sel("a", &[("i", "1")]), sel("a", &[]), None);
    assert_eq!(vector(&instant(&st, &e, 0)).len(), 2);
}

#[test]
fn a_point_that_loses_its_name_is_another_series_unless_removal_is_delayed() {
    // `a` ends at 5m and is visible until 10m; `present_over_time(a[10m])` until 15m, marked
    // to lose the name. Dropped at once (Prometheus's default), from 10m on `or` adds
    // another series; delayed, the points join `a`'s series, which keeps its name.
    let st = storage(&[(&[("__name__", "a"), ("i", "1")], &linear(5.0, 1.0, 6))]);
    let range = |delayed: bool, query: &str| {
        let e = crate::parse(query).expect("parses");
        let r = name_removal(delayed)
            .range(st.querier().as_ref(), &e, 0, 14 * MIN, MIN)
            .expect("range");
        let QueryData::Matrix(m) = r.data else {
            panic!("not a matrix")
        };
        m.iter()
            .map(|s| {
                let points = s.samples.iter().map(|p| (p.t / MIN, p.v)).collect();
                (s.labels.to_string(), points)
            })
            .collect::<Vec<(String, Vec<(i64, f64)>)>>()
    };
    let kept: Vec<(i64, f64)> = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0, 10.0, 10.0, 10.0]
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v))
        .collect();
    let present: Vec<(i64, f64)> = (10..15).map(|t| (t, 1.0)).collect();
    let or = "a or present_over_time(a[10m])";
    assert_eq!(
        range(false, or),
        [
            ("a{i=\"1\"}".to_string(), kept.clone()),
            ("{i=\"1\"}".to_string(), present.clone()),
        ]
    );
    assert_eq!(
        range(true, or),
        [("a{i=\"1\"}".to_string(), [kept, present].concat())]
    );
    // Both halves lose the name under `- 1`: one series either way.
    let minus: Vec<(i64, f64)> = [
        4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0, 9.0, 9.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, v)| (i as i64, v))
    .collect();
    for delayed in [true, false] {
        assert_eq!(
            range(delayed, "(a or present_over_time(a[10m])) - 1"),
            [("{i=\"1\"}".to_string(), minus.clone())]
        );
    }
}

/// An engine with delayed name removal on or off (`--enable-feature=promql-delayed-name-removal`).
fn name_removal(delayed: bool) -> Engine {
    Engine::new(EngineOptions {
        delayed_name_removal: delayed,
        ..EngineOptions::default()
    })
}

/// `query` at `t` with delayed name removal on or off: the vector, or the error's text.
fn instant_named(
    st: &MemoryStorage,
    delayed: bool,
    query: &str,
    t: i64,
) -> std::result::Result<Vec<(String, f64)>, String> {
    let e = crate::parse(query).expect("parses");
    name_removal(delayed)
        .instant(st.querier().as_ref(), &e, t)
        .map(|r| vector(&r))
        .map_err(|e| e.to_string())
}

#[test]
fn name_removal_delayed_and_at_once() {
    let st = storage(&[
        (
            &[("__name__", "m_total"), ("env", "1")],
            &linear(0.0, 60.0, 11),
        ),
        (
            &[("__name__", "n_total"), ("env", "1")],
            &linear(0.0, 120.0, 11),
        ),
        (
            &[("__name__", "o_total"), ("env", "2")],
            &linear(0.0, 180.0, 11),
        ),
    ]);
    let at = 10 * MIN;
    let q = |delayed: bool, query: &str| instant_named(&st, delayed, query, at);
    // Delayed, `label_replace` still sees the name `rate` marked for dropping; at once
    // (Prometheus's default), it is gone and the regular expression does not match.
    let relabel = r#"label_replace(rate(m_total[5m]), "__name__", "rate_$1", "__name__", "(.+)")"#;
    assert_eq!(
        q(true, relabel),
        Ok(vec![("rate_m_total{env=\"1\"}".into(), 1.0)])
    );
    assert_eq!(q(false, relabel), Ok(vec![("{env=\"1\"}".into(), 1.0)]));
    // `last_over_time` keeps the name either way; aggregations over marked series give
    // nameless results either way (under them the marks may stay until they end).
    for delayed in [true, false] {
        assert_eq!(
            q(delayed, "topk(1, rate(o_total[5m]))"),
            Ok(vec![("{env=\"2\"}".into(), 3.0)])
        );
        assert_eq!(
            q(delayed, "sum without (env) (rate(m_total[5m]))"),
            Ok(vec![("{}".into(), 1.0)])
        );
        assert_eq!(
            q(delayed, "sum by (__name__) (rate(m_total[5m]))"),
            Ok(vec![("{}".into(), 1.0)])
        );
        assert_eq!(
            q(delayed, "last_over_time(m_total[5m])"),
            Ok(vec![("m_total{env=\"1\"}".into(), 600.0)])
        );
        assert_eq!(
            q(delayed, "sum by (__name__) (abs(m_total))"),
            Ok(vec![("{}".into(), 600.0)])
        );
    }
    // Grouping by a name still there splits what at once is one group (name_label_dropping.test
    // calls the delayed error an accidental side effect).
    let by_name = r#"sum by (__name__) (rate({__name__=~"m_total|o_total"}[5m]))"#;
    assert_eq!(
        q(true, by_name),
        Err("vector cannot contain metrics with the same labelset".into())
    );
    assert_eq!(q(false, by_name), Ok(vec![("{}".into(), 4.0)]));
    // Two series that lose their names to a function over a range vector: refused at once
    // where it happens, and at the end when delayed.
    for delayed in [true, false] {
        assert_eq!(
            q(delayed, r#"rate({env="1"}[5m])"#),
            Err("vector cannot contain metrics with the same labelset".into())
        );
    }
    // ... but not if something above gives them their names back (delayed only).
    let renamed = r#"label_replace(rate({env="1"}[5m]), "m", "$1", "__name__", "(.+)")"#;
    assert_eq!(
        q(true, renamed),
        Ok(vec![
            ("{env=\"1\", m=\"m_total\"}".into(), 1.0),
            ("{env=\"1\", m=\"n_total\"}".into(), 2.0)
        ])
    );
    assert_eq!(
        q(false, renamed),
        Err("vector cannot contain metrics with the same labelset".into())
    );
}

#[test]
fn subquery_steps_are_aligned_to_absolute_multiples() {
    let st = storage(&[(&[("__name__", "m")], &linear(0.0, 1.0, 20))]);
    // m[5m:2m] at 10m30s: steps at 6m, 8m, 10m (after 5m30s).
    let sq = Expr::Subquery(SubqueryExpr {
        expr: Box::new(sel("m", &[])),
        range: 5 * MIN,
        range_expr: None,
        step: Some(2 * MIN),
        step_expr: None,
        offset: 0,
        offset_expr: None,
        at: None,
        span: span(0),
    });
    let r = instant(&st, &sq, 10 * MIN + 30_000);
    let QueryData::Matrix(m) = r.data else {
        panic!()
    };
    let pts: Vec<(i64, f64)> = m[0].samples.iter().map(|s| (s.t / MIN, s.v)).collect();
    assert_eq!(pts, [(6, 6.0), (8, 8.0), (10, 10.0)]);
    let e = call(&SUM_OVER_TIME, vec![sq]);
    assert_eq!(
        vector(&instant(&st, &e, 10 * MIN + 30_000)),
        [("{}".into(), 24.0)]
    );
}

#[test]
fn offset_and_at_modifiers() {
    let st = storage(&[(&[("__name__", "m")], &linear(0.0, 1.0, 20))]);
    let mut vs = sel_at("m", &[], 0);
    vs.offset = 3 * MIN;
    let e = Expr::VectorSelector(vs.clone());
    assert_eq!(vector(&instant(&st, &e, 10 * MIN)), [("m{}".into(), 7.0)]);
    vs.offset = 0;
    vs.at = Some(AtModifier::Timestamp(2 * MIN));
    let e = Expr::VectorSelector(vs.clone());
    let r = Engine::default()
        .range(st.querier().as_ref(), &e, 0, 4 * MIN, MIN)
        .expect("range");
    let QueryData::Matrix(m) = r.data else {
        panic!()
    };
    assert!(m[0].samples.iter().all(|s| s.v == 2.0));
    assert_eq!(m[0].samples.len(), 5);
    let e = call(&TIMESTAMP, vec![Expr::VectorSelector(vs)]);
    assert_eq!(vector(&instant(&st, &e, 9 * MIN)), [("{}".into(), 120.0)]);
}

#[test]
fn histogram_quantile_over_classic_buckets() {
    let st = storage(&[
        (&[("__name__", "h_bucket"), ("le", "0.1")], &[(0, 10.0)]),
        (&[("__name__", "h_bucket"), ("le", "1")], &[(0, 20.0)]),
        (&[("__name__", "h_bucket"), ("le", "+Inf")], &[(0, 40.0)]),
    ]);
    let e = call(&HISTOGRAM_QUANTILE, vec![num(0.5), sel("h_bucket", &[])]);
    assert_eq!(vector(&instant(&st, &e, 0)), [("{}".into(), 1.0)]);
    let e = call(&HISTOGRAM_QUANTILE, vec![num(0.25), sel("h_bucket", &[])]);
    assert_eq!(vector(&instant(&st, &e, 0)), [("{}".into(), 0.1)]);
    let e = call(&HISTOGRAM_QUANTILE, vec![num(0.9), sel("h_bucket", &[])]);
    assert_eq!(vector(&instant(&st, &e, 0)), [("{}".into(), 1.0)]);
    let e = call(&HISTOGRAM_QUANTILE, vec![num(2.0), sel("h_bucket", &[])]);
    let r = instant(&st, &e, 0);
    assert_eq!(vector(&r), [("{}".into(), f64::INFINITY)]);
    assert_eq!(
        r.warnings,
        ["PromQL warning: quantile value should be between 0 and 1, got 2 (1:1)"]
    );
}

#[test]
fn scalars_absent_and_deriv() {
    let st = storage(&[(&[("__name__", "m")], &linear(0.0, 2.0, 10))]);
    let r = Engine::default()
        .range(st.querier().as_ref(), &call(&TIME, vec![]), 0, 2 * MIN, MIN)
        .expect("range");
    let QueryData::Matrix(m) = r.data else {
        panic!()
    };
    let vals: Vec<f64> = m[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(vals, [0.0, 60.0, 120.0]);
    let e = call(&ABSENT, vec![sel("nope", &[("job", "x")])]);
    assert_eq!(vector(&instant(&st, &e, 0)), [("{job=\"x\"}".into(), 1.0)]);
    let e = call(&DERIV, vec![msel(sel_at("m", &[], 0), 5 * MIN)]);
    let got = vector(&instant(&st, &e, 5 * MIN));
    assert!((got[0].1 - 2.0 / 60.0).abs() < 1e-15, "{got:?}");
}

#[test]
fn range_query_rejects_range_vectors_and_limits_samples() {
    let st = storage(&[(&[("__name__", "m")], &linear(0.0, 1.0, 10))]);
    let e = msel(sel_at("m", &[], 0), MIN);
    let err = Engine::default()
        .range(st.querier().as_ref(), &e, 0, MIN, MIN)
        .expect_err("matrix");
    assert_eq!(
        err.to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let engine = Engine::new(EngineOptions {
        max_samples: 3,
        ..EngineOptions::default()
    });
    let err = engine
        .range(st.querier().as_ref(), &sel("m", &[]), 0, 9 * MIN, MIN)
        .expect_err("too many");
    assert!(matches!(err, EngineError::TooManySamples));
}

/// Range queries take series-by-series paths (`map_series`, `filter_by_presence`,
/// `match_series`, aggregation over step blocks) where instant queries take the step-by-step
/// ones; a range query must still give, at every step, what an instant query there gives,
/// errors included. Series come and go, change partners and collide at some steps only.
#[test]
fn range_queries_agree_with_instant_queries_at_every_step() {
    let storage = MemoryStorage::new();
    let mut app = storage.appender();
    let mut add = |labels: &[(&str, &str)], every: i64, phase: i64, until: i64, base: f64| {
        let labels = Labels::from_pairs(labels.iter().copied());
        let mut t = phase * 1000;
        let mut k = 0.0;
        while t <= until * MIN {
            app.append(&labels, t, base + k * 1.5 - (k * 0.37).sin() * 4.0)
                .unwrap();
            k += 1.0;
            t += every * MIN;
        }
    };
    for (i, inst) in ["a", "b", "c", "d"].iter().enumerate() {
        for m in ["GET", "POST"] {
            let every = 1 + (i as i64 % 2);
            add(
                &[("__name__", "req"), ("inst", inst), ("job", "x"), ("m", m)],
                every,
                i as i64 * 7,
                30,
                10.0 * i as f64,
            );
        }
        // One memory series per instance, with gaps: present up to minute 20 only for "d".
        let until = if *inst == "d" { 20 } else { 30 };
        add(
            &[("__name__", "mem"), ("inst", inst), ("job", "x")],
            1,
            3,
            until,
            100.0 + i as f64,
        );
    }
    // A second memory series for "c" from minute 15 on: `on(inst)` then has two right series
    // for "c" at the later steps only.
    add(
        &[("__name__", "mem"), ("inst", "c"), ("job", "y")],
        1,
        15 * 60,
        30,
        7.0,
    );
    // A right series for "d" once "d"'s own memory series is gone: a new partner.
    add(
        &[("__name__", "mem"), ("inst", "d"), ("job", "z")],
        1,
        27 * 60,
        30,
        9.0,
    );
    // "other" shares labels with "req" but for the name: dropping names makes them collide.
    add(
        &[
            ("__name__", "other"),
            ("inst", "a"),
            ("job", "x"),
            ("m", "GET"),
        ],
        2,
        5,
        30,
        3.0,
    );
    app.commit().unwrap();
    let queries = [
        "req / on(inst) group_left mem{job=\"x\"}",
        "req / on(inst) group_left mem",
        "req * ignoring(m) group_left mem",
        "req * on(inst) group_left mem{job!=\"y\"}",
        "req * on(inst) group_left(job) mem{job!=\"y\"}",
        "mem{job!=\"y\"} - on(inst) group_right(job) req",
        "mem{job=\"x\"} / on(inst) group_right(job) req",
        "req > on(inst) group_left mem{job=\"x\"}",
        "req > bool on(inst) group_left mem{job=\"x\"}",
        "req{m=\"GET\"} - ignoring(m) req{m=\"POST\"}",
        "req - req",
        "req < 20",
        "3 * req",
        "req > bool 20",
        "abs(-req)",
        "req unless on(inst) mem{job=\"x\"}",
        "req and on(inst) mem{job=\"x\"}",
        "req or other",
        "{__name__=~\"req|other\"} * 2",
        "{__name__=~\"req|other\"} + on(inst, m) group_left mem",
        "sum by (inst) (req)",
        "avg without (m) (req)",
        "quantile by (job) (0.3, req)",
        "stddev(req)",
    ];
    let engine = Engine::default();
    let querier = storage.querier();
    for q in queries {
        let expr = crate::parse(q).unwrap();
        let range = engine.range(querier.as_ref(), &expr, 0, 30 * MIN, MIN);
        let mut range_error_seen = false;
        for step in 0..=30 {
            let t = step * MIN;
            let instant = engine.instant(querier.as_ref(), &expr, t);
            match (&range, instant) {
                (Ok(r), Ok(i)) => {
                    let QueryData::Matrix(m) = &r.data else {
                        panic!("{q}: not a matrix")
                    };
                    let mut at: Vec<(Labels, f64)> = m
                        .iter()
                        .filter_map(|s| {
                            let p = s.samples.iter().find(|p| p.t == t)?;
                            Some((s.labels.clone(), p.v))
                        })
                        .collect();
                    at.sort_by(|a, b| a.0.cmp(&b.0));
                    let QueryData::Vector(mut v) = i.data else {
                        panic!("{q}: not a vector")
                    };
                    v.sort_by(|a, b| a.0.cmp(&b.0));
                    let v: Vec<(Labels, f64)> = v.into_iter().map(|(l, s)| (l, s.v)).collect();
                    let same = at.len() == v.len()
                        && at.iter().zip(&v).all(|(a, b)| {
                            a.0 == b.0 && (a.1 == b.1 || (a.1.is_nan() && b.1.is_nan()))
                        });
                    assert!(same, "{q} at minute {step}:\n range {at:?}\n instant {v:?}");
                }
                // A range query fails at the first step that fails.
                (Err(re), Err(ie)) => {
                    assert_eq!(re.to_string(), ie.to_string(), "{q} at minute {step}");
                    range_error_seen = true;
                    break;
                }
                // Steps before the failing one succeed.
                (Err(_), Ok(_)) => {}
                (Ok(_), Err(ie)) => panic!("{q}: range ok, instant at minute {step}: {ie}"),
            }
        }
        if let Err(e) = &range {
            assert!(
                range_error_seen,
                "{q}: range failed ({e}), no instant step did"
            );
        }
        if std::env::var_os("SHOW_RANGE_RESULTS").is_some() {
            match &range {
                Ok(r) => match &r.data {
                    QueryData::Matrix(m) => eprintln!("{q}: {} series", m.len()),
                    _ => unreachable!(),
                },
                Err(e) => eprintln!("{q}: {e}"),
            }
        }
    }
}

/// Range functions split over two threads give bit for bit what one thread gives: every
/// range function over counters with resets, gauges, NaN and infinities, with scalar arguments.
#[test]
fn range_functions_answer_alike_on_one_thread_and_two() {
    let storage = MemoryStorage::new();
    let mut app = storage.appender();
    for i in 0..24 {
        let labels = Labels::from_pairs([("__name__", "m"), ("i", &format!("{i:02}"))]);
        let mut counter = 0.0;
        for k in 0..1500i64 {
            let t = k * 15_000 + i * 97;
            counter += ((k * 7 + i) % 13) as f64 * 0.25;
            if (k + i) % 301 == 0 {
                counter = 0.0;
            }
            let v = match (k + 3 * i) % 500 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                _ if i % 2 == 0 => counter,
                _ => ((k as f64) * 0.37 + i as f64).sin() * 1e9,
            };
            app.append(&labels, t, v).unwrap();
        }
    }
    app.commit().unwrap();
    let queries = [
        "rate(m[5m])",
        "increase(m[10m])",
        "delta(m[5m])",
        "irate(m[5m])",
        "resets(m[30m])",
        "changes(m[30m])",
        "deriv(m[15m])",
        "predict_linear(m[30m], 3600)",
        "avg_over_time(m[10m])",
        "sum_over_time(m[10m])",
        "stddev_over_time(m[10m])",
        "quantile_over_time(0.9, m[10m])",
        "max_over_time(m[10m])",
        "last_over_time(m[10m])",
        "double_exponential_smoothing(m[10m], 0.5, 0.5)",
        "present_over_time(m[1m])",
    ];
    let engine = Engine::new(EngineOptions {
        experimental_functions: true,
        ..EngineOptions::default()
    });
    let querier = storage.querier();
    let run = |query: &str, min_work: usize| {
        functions::PARALLEL_MIN_WORK.store(min_work, std::sync::atomic::Ordering::Relaxed);
        let expr = crate::parse_with(query, &crate::ParseOptions::all()).unwrap();
        let result = engine
            .range(querier.as_ref(), &expr, 60 * MIN, 370 * MIN, 15_000)
            .unwrap();
        let mut json = String::new();
        result.data.write_json(&mut json);
        (json, result.warnings, result.infos)
    };
    for query in queries {
        let one = run(query, usize::MAX);
        let two = run(query, 0);
        assert!(one.0.len() > 100, "{query}: {}", one.0);
        assert_eq!(one, two, "{query}");
    }
    // --query.max-samples fails both ways alike: 24 series x 1,241 steps of output.
    let limited = Engine::new(EngineOptions {
        max_samples: 20_000,
        ..EngineOptions::default()
    });
    let expr = crate::parse("rate(m[5m])").unwrap();
    for min_work in [usize::MAX, 0] {
        functions::PARALLEL_MIN_WORK.store(min_work, std::sync::atomic::Ordering::Relaxed);
        let result = limited.range(querier.as_ref(), &expr, 60 * MIN, 370 * MIN, 15_000);
        assert!(
            matches!(result, Err(EngineError::TooManySamples)),
            "min_work {min_work}: {:?}",
            result.map(|r| r.data.result_type())
        );
    }
    functions::PARALLEL_MIN_WORK.store(200_000, std::sync::atomic::Ordering::Relaxed);
}

/// A subquery's dropped names leave two series with equal label sets under the range
/// function; Prometheus refuses the query, as with equal sets anywhere else.
#[test]
fn equal_label_sets_left_by_a_subquery_are_refused() {
    let st = storage(&[
        (&[("__name__", "a"), ("i", "1")], &linear(0.0, 1.0, 20)),
        (&[("__name__", "b"), ("i", "1")], &linear(0.0, 2.0, 20)),
    ]);
    for query in [
        r#"last_over_time(rate({__name__=~"a|b"}[5m])[10m:1m])"#,
        r#"max_over_time(rate({__name__=~"a|b"}[5m])[10m:1m])"#,
    ] {
        let e = crate::parser::parse(query).expect("parses");
        let err = Engine::default()
            .instant(st.querier().as_ref(), &e, 15 * MIN)
            .expect_err(query);
        assert_eq!(
            err.to_string(),
            "vector cannot contain metrics with the same labelset",
            "{query}"
        );
    }
}

/// `totalQueryableSamples` and `peakSamples`: the float cases of Prometheus 3.5.3's
/// `TestQueryStatistics` (`promql/engine_test.go`), on its data, with its figures; on one
/// thread and two.
#[test]
fn sample_statistics_are_counted_as_prometheus_counts_them() {
    let every_10s: Vec<(i64, f64)> = (0..=100).map(|i| (i * 10_000, 1.0 + i as f64)).collect();
    let st = storage(&[
        (
            &[("__name__", "metricWith1SampleEvery10Seconds")],
            &every_10s,
        ),
        (
            &[
                ("__name__", "metricWith3SampleEvery10Seconds"),
                ("a", "1"),
                ("b", "1"),
            ],
            &every_10s,
        ),
        (
            &[
                ("__name__", "metricWith3SampleEvery10Seconds"),
                ("a", "2"),
                ("b", "2"),
            ],
            &every_10s,
        ),
        (
            &[
                ("__name__", "metricWith3SampleEvery10Seconds"),
                ("a", "3"),
                ("b", "2"),
            ],
            &every_10s,
        ),
    ]);
    let one = "metricWith1SampleEvery10Seconds";
    let three = "metricWith3SampleEvery10Seconds";
    // (query, start s, end s (the start: an instant query), step s, total, peak)
    let cases: Vec<(String, i64, i64, i64, u64, usize)> = vec![
        ("\"literal string\"".into(), 21, 21, 0, 0, 0),
        ("1".into(), 21, 21, 0, 0, 1),
        (one.into(), 21, 21, 0, 1, 1),
        (format!("timestamp({one})"), 21, 21, 0, 1, 2),
        (one.into(), 22, 22, 0, 1, 1),
        (format!("{one} offset 10s"), 21, 21, 0, 1, 1),
        (format!("{one} @ 15"), 21, 21, 0, 1, 1),
        (format!("{three}{{a=\"1\"}}"), 21, 21, 0, 1, 1),
        (format!("{three}{{a=\"1\"}} @ 19"), 21, 21, 0, 1, 1),
        (format!("{three}{{a=\"1\"}}[20s] @ 19"), 21, 21, 0, 2, 2),
        (three.into(), 21, 21, 0, 3, 3),
        (format!("{one}[60s]"), 201, 201, 0, 6, 6),
        (
            format!("max_over_time({one}[60s])[20s:5s]"),
            201,
            201,
            0,
            24,
            10,
        ),
        (
            format!("max_over_time({one}[61s])[20s:5s]"),
            201,
            201,
            0,
            26,
            11,
        ),
        (format!("{one}[60s] @ 30"), 201, 201, 0, 4, 4),
        (
            format!("sum(max_over_time({three}[60s] @ 30))"),
            201,
            201,
            0,
            12,
            7,
        ),
        (
            format!("sum by (b) (max_over_time({three}[60s] @ 30))"),
            201,
            201,
            0,
            12,
            7,
        ),
        (format!("{one}[60s] offset 10s"), 201, 201, 0, 6, 6),
        (format!("{three}[60s]"), 201, 201, 0, 18, 18),
        (format!("max_over_time({one}[60s])"), 201, 201, 0, 6, 7),
        (format!("absent_over_time({one}[60s])"), 201, 201, 0, 6, 7),
        (format!("max_over_time({three}[60s])"), 201, 201, 0, 18, 9),
        (format!("{one}[60s:5s]"), 201, 201, 0, 12, 12),
        (format!("{one}[60s:5s] offset 10s"), 201, 201, 0, 12, 12),
        (
            format!("max_over_time({three}[60s:5s])"),
            201,
            201,
            0,
            36,
            51,
        ),
        (
            format!("sum(max_over_time({three}[60s:5s])) + sum(max_over_time({three}[60s:5s]))"),
            201,
            201,
            0,
            72,
            52,
        ),
        (format!("{three}{{a=\"1\"}}"), 201, 220, 5, 4, 4),
        (format!("{three}{{a=\"1\"}}"), 204, 223, 5, 4, 4),
        (format!("timestamp({one})"), 201, 220, 5, 4, 5),
        (
            format!("max_over_time({three}{{a=\"1\"}}[10s])"),
            991,
            1021,
            10,
            2,
            2,
        ),
        (format!("{three}{{a=\"1\"}} offset 10s"), 201, 220, 5, 4, 4),
        (
            format!("max_over_time({three}[60s] @ 30)"),
            201,
            220,
            5,
            48,
            12,
        ),
        (three.into(), 201, 220, 5, 12, 12),
        (format!("max_over_time({three}[60s])"), 201, 220, 5, 72, 18),
        (
            format!("max_over_time({three}[60s:5s])"),
            201,
            220,
            5,
            144,
            72,
        ),
        (format!("max_over_time({one}[60s:5s])"), 201, 220, 5, 48, 32),
        (
            format!("sum by (b) (max_over_time({one}[60s:5s]))"),
            201,
            220,
            5,
            48,
            32,
        ),
        (
            format!("sum(max_over_time({three}[60s:5s])) + sum(max_over_time({three}[60s:5s]))"),
            201,
            220,
            5,
            288,
            76,
        ),
        (
            format!("sum(max_over_time({three}[60s:5s])) + sum(max_over_time({one}[60s:5s]))"),
            201,
            220,
            5,
            192,
            72,
        ),
    ];
    let engine = Engine::default();
    let querier = st.querier();
    for min_work in [usize::MAX, 0] {
        functions::PARALLEL_MIN_WORK.store(min_work, std::sync::atomic::Ordering::Relaxed);
        for (query, start, end, step, total, peak) in &cases {
            let result = run_at(&engine, querier.as_ref(), query, *start, *end, *step)
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!(result.stats.samples_read, *total, "{query} from {start} s");
            assert_eq!(result.stats.peak_samples, *peak, "{query} from {start} s");
        }
    }
    functions::PARALLEL_MIN_WORK.store(200_000, std::sync::atomic::Ordering::Relaxed);
}

/// Runs `query` as an instant query at `start` (seconds) when `end` is `start`, else as a
/// range query.
fn run_at(
    engine: &Engine,
    querier: &dyn Querier,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
) -> std::result::Result<QueryResult, EngineError> {
    let expr = crate::parse(query).expect("parses");
    if start == end {
        engine.instant(querier, &expr, start * 1000)
    } else {
        engine.range(querier, &expr, start * 1000, end * 1000, step * 1000)
    }
}

/// `--query.max-samples`: the cases of Prometheus 3.5.3's `TestMaxQuerySamples`, on its data:
/// each query runs within a limit of its peak (and reports that peak), and fails one under it.
#[test]
fn max_samples_limit_queries_where_prometheus_limits_them() {
    let every_10s: Vec<(i64, f64)> = (0..=100).map(|i| (i * 10_000, 1.0 + i as f64)).collect();
    let st = storage(&[
        (&[("__name__", "metric")], &every_10s),
        (&[("__name__", "bigmetric"), ("a", "1")], &every_10s),
        (&[("__name__", "bigmetric"), ("a", "2")], &every_10s),
    ]);
    // (query, start s, end s (the start: an instant query), step s, the peak)
    let cases: [(&str, i64, i64, i64, usize); 17] = [
        ("1", 1, 1, 0, 1),
        ("metric", 1, 1, 0, 1),
        ("metric[20s]", 10, 10, 0, 2),
        ("rate(metric[20s])", 10, 10, 0, 3),
        ("metric[20s:5s]", 10, 10, 0, 3),
        ("metric[20s] @ 10", 0, 0, 0, 2),
        ("1", 0, 2, 1, 3),
        ("1", 0, 2, 1, 3),
        ("metric", 0, 2, 1, 3),
        ("metric", 0, 10, 5, 3),
        ("rate(bigmetric[1s])", 0, 10, 5, 1),
        ("metric @ 10", 0, 10, 5, 3),
        ("rate(bigmetric[10s:1s] @ 10)", 0, 10, 5, 32),
        (
            "rate(bigmetric[10s:1s] @ 10) + rate(bigmetric[10s:1s] @ 30)",
            0,
            10,
            5,
            34,
        ),
        (
            "rate(bigmetric[10s:1s]) + rate(bigmetric[10s:1s] @ 30)",
            10,
            20,
            5,
            56,
        ),
        (
            "rate(rate(bigmetric[10:1s] @ 10)[100s:25s] @ 1000)[100s:20s] @ 2000",
            10,
            10,
            0,
            32,
        ),
        (
            "rate(rate(bigmetric[10s:1s] @ 10)[100s:25s] @ 1000)[17s:1s] @ 2000",
            10,
            10,
            0,
            34,
        ),
    ];
    let querier = st.querier();
    for min_work in [usize::MAX, 0] {
        functions::PARALLEL_MIN_WORK.store(min_work, std::sync::atomic::Ordering::Relaxed);
        for (query, start, end, step, peak) in cases {
            let within = Engine::new(EngineOptions {
                max_samples: peak,
                ..EngineOptions::default()
            });
            let result = run_at(&within, querier.as_ref(), query, start, end, step)
                .unwrap_or_else(|e| panic!("{query} within {peak}: {e}"));
            assert_eq!(result.stats.peak_samples, peak, "{query}");
            let under = Engine::new(EngineOptions {
                max_samples: peak - 1,
                ..EngineOptions::default()
            });
            let err = run_at(&under, querier.as_ref(), query, start, end, step).expect_err(query);
            assert!(matches!(err, EngineError::TooManySamples), "{query}: {err}");
        }
    }
    functions::PARALLEL_MIN_WORK.store(200_000, std::sync::atomic::Ordering::Relaxed);
}

/// The monotonicity info of `histogram_quantile`, as Prometheus 3.5.3 gives it: the metric
/// named at the first step a histogram has buckets and not after (its labels are kept from
/// step to step, their name dropped once used), and never once a function dropped the name,
/// which also makes the buckets of two names one histogram.
#[test]
fn histogram_quantile_infos_name_the_metric_as_prometheus_does() {
    // The le="1" bucket counts more than le="+Inf": fixed for monotonicity at every step.
    let st = storage(&[
        (
            &[("__name__", "a_bucket"), ("le", "1")],
            &linear(0.0, 4.0, 30),
        ),
        (
            &[("__name__", "a_bucket"), ("le", "+Inf")],
            &linear(0.0, 2.0, 30),
        ),
        (
            &[("__name__", "b_bucket"), ("le", "2")],
            &linear(0.0, 1.0, 30),
        ),
    ]);
    let info = |name: &str| {
        format!("PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"{name}\" (1:25)")
    };
    let engine = Engine::default();
    let querier = st.querier();
    let run = |query: &str, start: i64, end: i64| {
        let expr = crate::parse(query).expect("parses");
        let result = if start == end {
            engine.instant(querier.as_ref(), &expr, start)
        } else {
            engine.range(querier.as_ref(), &expr, start, end, MIN)
        };
        let mut infos = result.expect("query").infos;
        infos.sort();
        infos
    };
    let raw = "histogram_quantile(0.5, a_bucket)";
    assert_eq!(run(raw, 10 * MIN, 10 * MIN), [info("a_bucket")]);
    assert_eq!(run(raw, 10 * MIN, 12 * MIN), [info(""), info("a_bucket")]);
    let rated = "histogram_quantile(0.5, rate({__name__=~\"a_bucket|b_bucket\"}[5m]))";
    assert_eq!(run(rated, 10 * MIN, 10 * MIN), [info("")]);
    // Without names, a_bucket's and b_bucket's buckets are one histogram: one result.
    let expr = crate::parse(rated).expect("parses");
    let result = engine
        .instant(querier.as_ref(), &expr, 10 * MIN)
        .expect("query");
    assert_eq!(vector(&result).len(), 1);
}

/// `clamp` as Go's math.Max and math.Min compute it: an infinite bound wins over a NaN one.
#[test]
fn clamp_with_infinite_and_nan_bounds() {
    let st = storage(&[(&[("__name__", "a")], &linear(5.0, 0.0, 3))]);
    let engine = Engine::default();
    let querier = st.querier();
    for (query, want) in [
        ("clamp(a, Inf, NaN)", f64::INFINITY),
        ("clamp(a, -Inf, NaN)", f64::NAN),
        ("clamp(a, NaN, -Inf)", f64::NAN),
        ("clamp(a, NaN, NaN)", f64::NAN),
        ("clamp(a, 1, 2)", 2.0),
        ("clamp_max(a, -Inf)", f64::NEG_INFINITY),
    ] {
        let expr = crate::parse(query).expect("parses");
        let result = engine
            .instant(querier.as_ref(), &expr, 2 * MIN)
            .expect(query);
        let got = vector(&result);
        assert_eq!(got.len(), 1, "{query}");
        assert!(
            got[0].1 == want || (got[0].1.is_nan() && want.is_nan()),
            "{query}: {}",
            got[0].1
        );
    }
}

/// `timestamp(selector)` keeps to `--query.max-samples` while it reads its series, not only
/// once it has them all: at each step Prometheus holds the results so far, the samples looked
/// at and their timestamps.
#[test]
fn timestamp_is_held_to_the_sample_limit() {
    let names: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let points = linear(1.0, 1.0, 10);
    let labels: Vec<[(&str, &str); 2]> = names
        .iter()
        .map(|n| [("__name__", "m"), ("i", n)])
        .collect();
    let refs: Vec<TestSeries> = labels.iter().map(|l| (&l[..], &points[..])).collect();
    let st = storage(&refs);
    let expr = crate::parse("timestamp(m)").expect("parses");
    // 50 series at 10 steps: 450 results before the last step, then 50 looked at and 50 more.
    let limited = |max_samples| {
        Engine::new(EngineOptions {
            max_samples,
            ..EngineOptions::default()
        })
        .range(st.querier().as_ref(), &expr, 0, 9 * MIN, MIN)
    };
    assert_eq!(limited(550).expect("within").stats.peak_samples, 550);
    assert!(matches!(limited(549), Err(EngineError::TooManySamples)));
    assert!(matches!(limited(100), Err(EngineError::TooManySamples)));
}

/// Inside an aggregation's parameter, which Prometheus's preprocessing never visits,
/// `@ start()` and `@ end()` are not resolved: Prometheus evaluates the parameter at every
/// step as if they were not there (checked against Prometheus 3.5.3). Elsewhere they apply.
#[test]
fn at_start_and_end_are_ignored_in_an_aggregation_parameter() {
    let st = storage(&[
        (&[("__name__", "q")], &linear(0.0, 0.25, 11)),
        (&[("__name__", "v"), ("i", "1")], &linear(1.0, 0.0, 11)),
        (&[("__name__", "v"), ("i", "2")], &linear(3.0, 0.0, 11)),
    ]);
    let engine = Engine::default();
    let querier = st.querier();
    let run = |query: &str| {
        let expr = crate::parse(query).expect("parses");
        let result = engine
            .range(querier.as_ref(), &expr, 2 * MIN, 4 * MIN, MIN)
            .expect(query);
        match result.data {
            QueryData::Matrix(m) => m
                .into_iter()
                .flat_map(|s| s.samples.into_iter().map(|p| p.v))
                .collect::<Vec<f64>>(),
            other => panic!("not a matrix: {other:?}"),
        }
    };
    // q is 0.5, 0.75, 1 at the three steps: quantiles of {1, 3}.
    let per_step = [2.0, 2.5, 3.0];
    assert_eq!(run("quantile(scalar(q), v)"), per_step);
    assert_eq!(run("quantile(scalar(q @ start()), v)"), per_step);
    assert_eq!(run("quantile(scalar(q @ end()), v)"), per_step);
    // An explicit time applies there too, and `@ start()` anywhere else.
    assert_eq!(run("quantile(scalar(q @ 120), v)"), [2.0, 2.0, 2.0]);
    assert_eq!(run("scalar(q @ start()) + 0"), [0.5, 0.5, 0.5]);
}
