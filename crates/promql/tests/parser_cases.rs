//! The parser against Prometheus's expectations: tree shapes, canonical printing, and the exact
//! error messages and positions of Prometheus's own parser tests (`parse_test.go`).

use narthex_model::MatchOp;
use narthex_promql::ast::{
    AggregateOp, AtModifier, BinaryOp, Cardinality, DurationExpr, Expr, UnaryOp, VectorSelector,
};
use narthex_promql::{parse, parse_metric_selector, parse_with, ParseOptions};

fn all() -> ParseOptions {
    ParseOptions::all()
}

fn ok(q: &str) -> Expr {
    match parse_with(q, &all()) {
        Ok(e) => e,
        Err(err) => panic!("{q:?} should parse: {err}"),
    }
}

/// The printed (canonical) form.
fn fmt(q: &str) -> String {
    ok(q).to_string()
}

/// The first error, as Prometheus prints it.
fn err(q: &str) -> String {
    match parse_with(q, &all()) {
        Ok(e) => panic!("{q:?} should fail, parsed as {e}"),
        Err(err) => err.to_string(),
    }
}

fn err_default(q: &str) -> String {
    match parse(q) {
        Ok(e) => panic!("{q:?} should fail with default options, parsed as {e}"),
        Err(err) => err.to_string(),
    }
}

/// The tree with every binary and unary operation in explicit parentheses.
fn shape(e: &Expr) -> String {
    match e {
        Expr::Binary(b) => format!("({} {} {})", shape(&b.lhs), b.op.as_str(), shape(&b.rhs)),
        Expr::Unary(u) => format!("({}{})", u.op.as_str(), shape(&u.expr)),
        Expr::Paren(p) => format!("[{}]", shape(&p.expr)),
        other => other.to_string(),
    }
}

fn selector(e: &Expr) -> &VectorSelector {
    match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.selector,
        other => panic!("not a selector: {other:?}"),
    }
}

fn matchers(e: &Expr) -> Vec<String> {
    selector(e)
        .matchers
        .iter()
        .map(|m| format!("{}{}{:?}", m.name, m.op.as_str(), m.value))
        .collect()
}

fn number(e: &Expr) -> f64 {
    match e {
        Expr::Number(n) => n.value,
        other => panic!("not a number: {other:?}"),
    }
}

#[test]
fn number_literals() {
    assert_eq!(number(&ok("1")), 1.0);
    assert_eq!(number(&ok("+Inf")), f64::INFINITY);
    assert_eq!(number(&ok("-Inf")), f64::NEG_INFINITY);
    assert_eq!(number(&ok("inf")), f64::INFINITY);
    assert!(number(&ok("NaN")).is_nan());
    assert!(number(&ok("nan")).is_nan());
    assert_eq!(number(&ok(".5")), 0.5);
    assert_eq!(number(&ok("5.")), 5.0);
    assert_eq!(number(&ok("123.4567")), 123.4567);
    assert_eq!(number(&ok("5e-3")), 0.005);
    assert_eq!(number(&ok("5e3")), 5000.0);
    assert_eq!(number(&ok("0xc")), 12.0);
    assert_eq!(number(&ok("0x1f")), 31.0);
    assert_eq!(number(&ok("0755")), 493.0);
    assert_eq!(number(&ok("08")), 8.0);
    assert_eq!(number(&ok("1_000")), 1000.0);
    assert_eq!(number(&ok("+5.5e-3")), 0.0055);
    assert_eq!(number(&ok("-0755")), -493.0);
    // A duration is a number of seconds.
    let Expr::Number(n) = ok("5m") else {
        panic!("number")
    };
    assert_eq!((n.value, n.duration), (300.0, true));
    assert_eq!(number(&ok("1h30m")), 5400.0);
    assert_eq!(number(&ok("-1ms")), -0.001);
    assert_eq!(fmt("1 + 5m"), "1 + 5m");
    // The sign folds into the literal, with the span starting at the sign.
    assert_eq!(ok("-1").span().start, 0);
    assert_eq!(ok(" +1").span().start, 1);
}

#[test]
fn string_literals_and_escapes() {
    let string = |q: &str| match ok(q) {
        Expr::String(s) => s,
        other => panic!("not a string: {other:?}"),
    };
    assert_eq!(
        string(r#""double-quoted string \" with escaped quote""#).value,
        "double-quoted string \" with escaped quote"
    );
    assert_eq!(
        string(r"'single-quoted string \' with escaped quote'").value,
        "single-quoted string ' with escaped quote"
    );
    assert_eq!(
        string("`backtick-quoted string`").value,
        "backtick-quoted string"
    );
    assert_eq!(string(r"`\a\b\n`").value, r"\a\b\n");
    let s = string(r#""\a\b\f\n\r\t\v\\\" - \u1234\U00010111\U0001011111☺ \101\x41""#);
    assert_eq!(
        s.value,
        "\u{7}\u{8}\u{c}\n\r\t\u{b}\\\" - \u{1234}\u{10111}\u{10111}11☺ AA"
    );
    assert_eq!(s.invalid_utf8, None);
    // \xFF and \377 are bytes, which Go strings may hold; the lossy string keeps the rest.
    let s = string(r#""a\xFF\377b""#);
    assert_eq!(s.invalid_utf8.as_deref(), Some(&b"a\xff\xffb"[..]));
    assert_eq!(s.value, "a\u{FFFD}\u{FFFD}b");
    assert_eq!(ok(r#""a\xFF\377b""#).to_string(), r#""a\xff\xffb""#);
    assert_eq!(fmt(r#""a\nb\"c""#), r#""a\nb\"c""#);

    assert_eq!(err("`\\``"), "1:4: parse error: unterminated raw string");
    assert_eq!(
        err(r#""\"#),
        "1:1: parse error: escape sequence not terminated"
    );
    assert_eq!(
        err(r#""\c""#),
        "1:1: parse error: unknown escape sequence U+0063 'c'"
    );
    assert_eq!(
        err(r#""\x.""#),
        "1:1: parse error: illegal character U+002E '.' in escape sequence"
    );
    assert_eq!(
        err(r#"'\"'"#),
        "1:1: parse error: unknown escape sequence U+0022 '\"'"
    );
    assert_eq!(
        err(r#""\ud800""#),
        "1:1: parse error: escape sequence is an invalid Unicode code point"
    );
    assert_eq!(err("\"abc"), "1:1: parse error: unterminated quoted string");
    assert_eq!(err("\"a\u{FFFD}\""), "1:1: parse error: invalid UTF-8 rune");
}

#[test]
fn vector_selectors() {
    assert_eq!(matchers(&ok("foo")), vec![r#"__name__="foo""#]);
    assert_eq!(
        matchers(&ok(r#"foo:bar{a="bc"}"#)),
        vec![r#"a="bc""#, r#"__name__="foo:bar""#]
    );
    let e = ok(r#"foo{a="b", foo!="bar", test=~"test", bar!~"baz",}"#);
    assert_eq!(selector(&e).name.as_deref(), Some("foo"));
    let ops: Vec<MatchOp> = selector(&e).matchers.iter().map(|m| m.op).collect();
    assert_eq!(
        ops,
        vec![
            MatchOp::Equal,
            MatchOp::NotEqual,
            MatchOp::RegexMatch,
            MatchOp::RegexNoMatch,
            MatchOp::Equal
        ]
    );
    // A quoted name inside the braces is the metric name, wherever it is.
    let e = ok(r#"{a="b", "foo", test=~"test"}"#);
    assert_eq!(selector(&e).name, None);
    assert_eq!(
        matchers(&e),
        vec![r#"a="b""#, r#"__name__="foo""#, r#"test=~"test""#]
    );
    assert_eq!(
        matchers(&ok(r#"{'foo\'bar', 'a\\dos\\path'='boo\\urns'}"#)),
        vec![r#"__name__="foo'bar""#, r#"a\dos\path="boo\\urns""#]
    );
    assert_eq!(
        matchers(&ok(r#"{"foo", a="bc"}"#)),
        vec![r#"__name__="foo""#, r#"a="bc""#]
    );
    assert_eq!(
        matchers(&ok(r#"foo{NaN='bc'}"#)),
        vec![r#"NaN="bc""#, r#"__name__="foo""#]
    );
    assert_eq!(
        matchers(&ok(r#"foo{bar='}'}"#)),
        vec![r#"bar="}""#, r#"__name__="foo""#]
    );
    // __name__ may be given twice inside the braces.
    ok(r#"{__name__=~"bar", __name__!~"baz"}"#);
    ok(r#"{__name__="bar", __name__="baz"}"#);
    ok(r#"{"bar", __name__="baz"}"#);
    // Keywords are metric names where an expression starts.
    for name in [
        "sum", "min", "avg", "by", "without", "offset", "and", "or", "unless", "start", "end",
        "step", "range", "anchored", "smoothed", "fill", "limitk",
    ] {
        assert_eq!(selector(&ok(name)).name.as_deref(), Some(name), "{name}");
    }
    assert_eq!(fmt(r#"offset{step="1s"}[5m]"#), r#"offset{step="1s"}[5m]"#);
    assert_eq!(fmt(r#"step{offset="1s"}[5m]"#), r#"step{offset="1s"}[5m]"#);
    assert_eq!(fmt(r#"anchored{job="test"}"#), r#"anchored{job="test"}"#);
    assert_eq!(shape(&ok("foo * sum")), "(foo * sum)");
    assert_eq!(shape(&ok("a + sum")), "(a + sum)");
    assert_eq!(fmt("sum(sum)"), "sum(sum)");
    // Comments.
    assert_eq!(fmt("foo # a comment\n + # another\n bar"), "foo + bar");
    assert_eq!(fmt("foo{a=\"b\" # c\n, d=\"e\"}"), r#"foo{a="b",d="e"}"#);
}

#[test]
fn metric_selectors_for_match_params() {
    let m = parse_metric_selector(r#"up{job="api"}"#).expect("selector");
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].name, "__name__");
    assert!(parse_metric_selector(r#"{__name__=~"a.*"}"#).is_ok());
    assert!(parse_metric_selector("up offset 5m").is_err());
    assert!(parse_metric_selector("rate(x[5m])").is_err());
}

#[test]
fn range_selectors_and_modifiers() {
    let ms = |q: &str| match ok(q) {
        Expr::MatrixSelector(ms) => ms,
        other => panic!("not a range selector: {other:?}"),
    };
    assert_eq!(ms("test[1000ms]").range, 1000);
    assert_eq!(ms("test[5s]").range, 5000);
    assert_eq!(ms("foo[5m30s]").range, 330_000);
    assert_eq!(ms("test[5]").range, 5000);
    assert_eq!(ms("foo[4.018]").range, 4018);
    assert_eq!(ms("test[5y]").range, 5 * 365 * 86_400_000);
    let m = ms("test[5h] OFFSET 5m");
    assert_eq!((m.range, m.selector.offset), (5 * 3_600_000, 300_000));
    assert_eq!(
        ms(r#"test{a="b"}[5m] OFFSET 3600"#).selector.offset,
        3_600_000
    );
    assert_eq!(
        ms("foo[3ms] @ 2.345").selector.at,
        Some(AtModifier::Timestamp(2345))
    );
    assert_eq!(
        ms("some_metric[5m] @ 1m").selector.at,
        Some(AtModifier::Timestamp(60_000))
    );
    assert_eq!(
        ms("test[5y] @ start()").selector.at,
        Some(AtModifier::Start)
    );
    assert_eq!(ms("test[5y] @ end()").selector.at, Some(AtModifier::End));

    let vs = |q: &str| selector(&ok(q)).clone();
    assert_eq!(vs("foo offset 5m").offset, 300_000);
    assert_eq!(vs("foo offset -7m").offset, -420_000);
    assert_eq!(vs("foo OFFSET 1h30m").offset, 5_400_000);
    assert_eq!(vs("foo OFFSET 1m30ms").offset, 60_030);
    assert_eq!(
        vs("foo @ 1603774568").at,
        Some(AtModifier::Timestamp(1_603_774_568_000))
    );
    assert_eq!(vs("foo @ -100").at, Some(AtModifier::Timestamp(-100_000)));
    assert_eq!(vs("foo @ .3").at, Some(AtModifier::Timestamp(300)));
    assert_eq!(vs("foo @ 3.3333").at, Some(AtModifier::Timestamp(3333)));
    assert_eq!(vs("foo @ 3.3335").at, Some(AtModifier::Timestamp(3334)));
    assert_eq!(vs("foo @ 3e2").at, Some(AtModifier::Timestamp(300_000)));
    assert_eq!(vs("foo @ 0xA").at, Some(AtModifier::Timestamp(10_000)));
    assert_eq!(vs("foo @ -3.3e1").at, Some(AtModifier::Timestamp(-33_000)));
    // Offset and @ in either order, printed in Prometheus's order.
    assert_eq!(fmt("foo offset 1m @ 100"), "foo @ 100.000 offset 1m");
    assert_eq!(fmt("foo @ 100 offset 1m"), "foo @ 100.000 offset 1m");
    assert_eq!(
        fmt("foo[5m] offset 1m @ start()"),
        "foo[5m] @ start() offset 1m"
    );
    assert_eq!(fmt("foo offset -5m"), "foo offset -5m");
    // Modifiers bind tighter than any operator.
    assert_eq!(shape(&ok("a + b offset 5m")), "(a + b offset 5m)");
    assert_eq!(shape(&ok("-a offset 5m")), "(-a offset 5m)");
    assert_eq!(shape(&ok("a ^ b @ 5")), "(a ^ b @ 5.000)");
    assert_eq!(shape(&ok("rate(a[5m:]) * b")), "(rate(a[5m:]) * b)");
}

#[test]
fn subqueries() {
    let sq = |q: &str| match ok(q) {
        Expr::Subquery(sq) => sq,
        other => panic!("not a subquery: {other:?}"),
    };
    let s = sq(r#"foo{bar="baz"}[10m:6s]"#);
    assert_eq!((s.range, s.step), (600_000, Some(6000)));
    let s = sq(r#"foo{bar="baz"}[10m5s:1h6ms]"#);
    assert_eq!((s.range, s.step), (605_000, Some(3_600_006)));
    assert_eq!(sq("foo[10m:]").step, None);
    // Prometheus 3.5.3 refuses a zero step rather than reading it as the default.
    assert_eq!(
        parse_with("foo[10m:0s]", &all())
            .map_err(|e| e.to_string())
            .err(),
        Some("1:9: parse error: duration must be greater than 0".to_string())
    );
    let s = sq("min_over_time(rate(foo[2s])[5m:] offset 4m)[4m:3s]");
    assert_eq!(s.range, 240_000);
    let s = sq("some_metric[10m:5s] offset 1m @ 123");
    assert_eq!(
        (s.offset, s.at),
        (60_000, Some(AtModifier::Timestamp(123_000)))
    );
    let s = sq("some_metric OFFSET 1m [10m:5s]");
    assert_eq!(selector(&s.expr).offset, 60_000);
    assert_eq!(
        fmt("sum without(and, by, avg, count, alert, annotations)(some_metric) [30m:10s]"),
        "sum without (and, by, avg, count, alert, annotations) (some_metric)[30m:10s]"
    );
    assert_eq!(
        fmt("(foo + bar{nm=\"val\"})[5m:] offset 10m"),
        "(foo + bar{nm=\"val\"})[5m:] offset 10m"
    );
    assert_eq!(
        fmt("rate(foo[5m])[1h:1m] @ end()"),
        "rate(foo[5m])[1h:1m] @ end()"
    );
}

#[test]
fn precedence_and_associativity() {
    let s = |q: &str| shape(&ok(q));
    assert_eq!(s("-1^2"), "(-(1 ^ 2))");
    assert_eq!(s("-1*2"), "(-1 * 2)");
    assert_eq!(s("-1+2"), "(-1 + 2)");
    assert_eq!(s("-1^-2"), "(-(1 ^ -2))");
    assert_eq!(s("+1 + -2 * 1"), "(1 + (-2 * 1))");
    assert_eq!(s("1 + 2/(3*1)"), "(1 + (2 / [(3 * 1)]))");
    assert_eq!(s("1 < bool 2 - 1 * 2"), "(1 < (2 - (1 * 2)))");
    assert_eq!(s("2 ^ 3 ^ 2"), "(2 ^ (3 ^ 2))");
    assert_eq!(s("1 - 2 - 3"), "((1 - 2) - 3)");
    assert_eq!(s("1 / 2 * 3 % 4"), "(((1 / 2) * 3) % 4)");
    assert_eq!(s("a atan2 b * c"), "((a atan2 b) * c)");
    assert_eq!(s("a + b * c ^ d"), "(a + (b * (c ^ d)))");
    assert_eq!(s("a == b + c"), "(a == (b + c))");
    assert_eq!(
        s("foo + bar or bla and blub"),
        "((foo + bar) or (bla and blub))"
    );
    assert_eq!(
        s("foo and bar unless baz or qux"),
        "(((foo and bar) unless baz) or qux)"
    );
    assert_eq!(s("a or b or c"), "((a or b) or c)");
    assert_eq!(s("-a * b"), "((-a) * b)");
    assert_eq!(s("-a ^ b"), "(-(a ^ b))");
    assert_eq!(s("a ^ -b * c"), "((a ^ (-b)) * c)");
    assert_eq!(s("--1"), "1");
    assert_eq!(s("- - a"), "(-(-a))");
    assert_eq!(s("a </ 2 + 1"), "(a </ (2 + 1))");
    assert_eq!(
        s("bar + on(foo) bla / on(baz, buz) group_right(test) blub"),
        "(bar + (bla / blub))"
    );
    // Printing keeps only the parentheses of the query.
    assert_eq!(fmt("(1 + 2) * 3"), "(1 + 2) * 3");
    assert_eq!(fmt("1+2*3"), "1 + 2 * 3");
    let Expr::Unary(u) = ok("-some_metric") else {
        panic!("unary")
    };
    assert_eq!(u.op, UnaryOp::Neg);
    let Expr::Unary(u) = ok("+some_metric") else {
        panic!("unary")
    };
    assert_eq!((u.op, u.span.start), (UnaryOp::Pos, 0));
}

#[test]
fn binary_modifiers_and_vector_matching() {
    let b = |q: &str| match ok(q) {
        Expr::Binary(b) => b,
        other => panic!("not binary: {other:?}"),
    };
    let e = b("foo * bar");
    let m = e.matching.expect("matching");
    assert_eq!(
        (m.card, m.on, m.labels.len()),
        (Cardinality::OneToOne, false, 0)
    );
    assert!(b("foo == 1").matching.is_none());
    assert!(b("foo == bool 1").return_bool);
    assert!(b("2.5 / bar").matching.is_none());
    assert_eq!(
        b("foo and bar").matching.expect("m").card,
        Cardinality::ManyToMany
    );
    let m = b("foo * on(test,blub) group_left bar").matching.expect("m");
    assert_eq!(
        (m.card, m.on, m.labels.clone(), m.include.len()),
        (
            Cardinality::ManyToOne,
            true,
            vec!["test".to_string(), "blub".to_string()],
            0
        )
    );
    let m = b("foo - ignoring(test,blub) group_right(bar,foo) bar")
        .matching
        .expect("m");
    assert_eq!(
        (m.card, m.on, m.include.len()),
        (Cardinality::OneToMany, false, 2)
    );
    let m = b("foo and on() bar").matching.expect("m");
    assert_eq!(
        (m.card, m.on, m.labels.len()),
        (Cardinality::ManyToMany, true, 0)
    );
    let m = b("foo unless on(start) bar").matching.expect("m");
    assert_eq!(m.labels, vec!["start".to_string()]);
    // group_left's parentheses are its labels, not the right-hand side.
    let m = b("a * on(x) group_left (y) b").matching.expect("m");
    assert_eq!(m.include, vec!["y".to_string()]);
    assert_eq!(
        fmt("a * on(x) group_left (y) b"),
        "a * on (x) group_left (y) b"
    );
    assert_eq!(
        fmt("a * ignoring(x) group_right b"),
        "a * ignoring (x) group_right () b"
    );
    assert_eq!(fmt("a > bool on() b"), "a > bool on () b");
    assert_eq!(fmt("a + ignoring() b"), "a + b");
    assert_eq!(fmt("a and on(x) b"), "a and on (x) b");
    assert_eq!(fmt("1 + on() a"), "1 + a");
    // Fill modifiers.
    let m = b("a + fill(0) b").matching.expect("m");
    assert_eq!((m.fill.lhs, m.fill.rhs), (Some(0.0), Some(0.0)));
    let m = b("a + on(x) group_left fill_left(5) fill_right(-Inf) b")
        .matching
        .expect("m");
    assert_eq!(
        (m.fill.lhs, m.fill.rhs),
        (Some(5.0), Some(f64::NEG_INFINITY))
    );
    assert_eq!(fmt("a == bool fill(30) b"), "a == bool fill (30) b");
    assert_eq!(
        fmt("a + fill_right(7) fill_left(5) b"),
        "a + fill_left (5) fill_right (7) b"
    );
    assert_eq!(fmt("a + fill(NaN) b"), "a + fill (NaN) b");
    assert_eq!(fmt("fill + fill(0) fill"), "fill + fill (0) fill");
    assert_eq!(
        fmt("other + fill_left(0) fill_left"),
        "other + fill_left (0) fill_left"
    );
    assert_eq!(
        err("a + fill(0) fill(1) b"),
        "1:13: parse error: unexpected <fill>"
    );
    assert_eq!(
        err("a and fill(0) b"),
        "1:1: parse error: filling in missing series not allowed for set operators"
    );
    assert_eq!(
        err("a + fill(0) 1"),
        "1:1: parse error: filling in missing series only allowed between instant vectors"
    );
    assert_eq!(
        err_default("a + fill(0) b"),
        "1:1: parse error: binop fill modifiers are experimental and not enabled"
    );
    // Trim operators.
    assert_eq!(b("h </ 2").op, BinaryOp::TrimUpper);
    assert_eq!(fmt("h >/ on (label) f"), "h >/ on (label) f");
}

#[test]
fn aggregations() {
    let a = |q: &str| match ok(q) {
        Expr::Aggregate(a) => a,
        other => panic!("not an aggregation: {other:?}"),
    };
    let e = a("sum by (foo)(some_metric)");
    assert_eq!(
        (e.op, e.grouping.clone(), e.without),
        (AggregateOp::Sum, vec!["foo".into()], false)
    );
    let e = a("sum (some_metric) without (foo)");
    assert!(e.without);
    assert_eq!(a("stddev(some_metric)").grouping.len(), 0);
    assert_eq!(a("sum by ()(some_metric)").grouping.len(), 0);
    assert_eq!(a("sum by (foo,bar,)(some_metric)").grouping.len(), 2);
    let e = a("topk(5, some_metric)");
    assert_eq!(e.param.as_deref().map(number), Some(5.0));
    let e = a(r#"count_values("value", some_metric)"#);
    assert!(matches!(e.param.as_deref(), Some(Expr::String(s)) if s.value == "value"));
    assert_eq!(a("quantile(0.9, x)").op, AggregateOp::Quantile);
    assert_eq!(
        a("sum without(and, by, avg, count, alert, annotations)(some_metric)").grouping,
        vec!["and", "by", "avg", "count", "alert", "annotations"]
    );
    assert_eq!(
        a(r#"sum by ("foo bar")({"some.metric"})"#).grouping,
        vec!["foo bar"]
    );
    assert_eq!(a("sum by (anchored, smoothed, start)(x)").grouping.len(), 3);
    assert_eq!(a("limitk(2, x)").op, AggregateOp::Limitk);
    assert_eq!(a("limit_ratio(0.5, x)").op, AggregateOp::LimitRatio);
    assert_eq!(fmt("sum(x) by (job)"), "sum by (job) (x)");
    assert_eq!(fmt("sum by (job) (x)"), "sum by (job) (x)");
    assert_eq!(fmt("sum without () (x)"), "sum without () (x)");
    assert_eq!(fmt("sum by () (x)"), "sum(x)");
    assert_eq!(fmt("topk by (a) (3, x)"), "topk by (a) (3, x)");
    assert_eq!(
        fmt(r#"sum by ("foo bar", job) (x)"#),
        r#"sum by ("foo bar", job) (x)"#
    );
    assert_eq!(
        fmt(r#"sum by (job) (rate(http_requests_total{job="api"}[5m] offset 1m))"#),
        r#"sum by (job) (rate(http_requests_total{job="api"}[5m] offset 1m))"#
    );
}

#[test]
fn function_calls() {
    let c = |q: &str| match ok(q) {
        Expr::Call(c) => c,
        other => panic!("not a call: {other:?}"),
    };
    assert_eq!(c("time()").args.len(), 0);
    assert_eq!(c("round(some_metric, 5)").args.len(), 2);
    assert_eq!(
        c("label_join(x, \"a\", \",\", \"b\", \"c\", \"d\")")
            .args
            .len(),
        6
    );
    assert_eq!(c("start()").func.name, "start");
    assert_eq!(c("step()").func.name, "step");
    assert_eq!(c("min_of(3, 5)").func.name, "min_of");
    assert_eq!(
        c("histogram_quantiles(x, \"q\", 0.1, 0.5, 0.9)").args.len(),
        5
    );
    let e = c(r#"info(http_request_counter_total{namespace="zzz"}, {foo="bar", bar="baz"})"#);
    assert_eq!(e.args.len(), 2);
    // info()'s label selectors may be empty.
    ok("info(metric, {})");
    ok(r#"info(metric, {x=""})"#);
    assert_eq!(
        err_default(r#"sort_by_label(x, "a")"#),
        r#"1:1: parse error: function "sort_by_label" is not enabled"#
    );
    assert_eq!(
        err_default("info(x)"),
        r#"1:1: parse error: function "info" is not enabled"#
    );
    assert_eq!(
        err_default("limitk(2, x)"),
        "1:1: parse error: limitk() is experimental and must be enabled with \
         --enable-feature=promql-experimental-functions"
    );
    assert!(parse("rate(x[5m])").is_ok());
    assert!(parse("histogram_quantile(0.9, sum by (le) (rate(x[5m])))").is_ok());
}

#[test]
fn duration_expressions() {
    let ms = |q: &str| match ok(q) {
        Expr::MatrixSelector(ms) => ms,
        other => panic!("not a range selector: {other:?}"),
    };
    let m = ms("foo[5m+1m]");
    assert!(matches!(
        m.range_expr,
        Some(DurationExpr::Binary {
            op: BinaryOp::Add,
            ..
        })
    ));
    assert_eq!(fmt("foo[5m+1m]"), "foo[5m + 1m]");
    assert_eq!(fmt("foo[11s+10s-5*2^2]"), "foo[11s + 10s - 5 * 2 ^ 2]");
    assert_eq!(fmt("foo[-(10s-5s)+20s]"), "foo[-(10s - 5s) + 20s]");
    assert_eq!(fmt("foo[(5s)]"), "foo[(5s)]");
    assert_eq!(fmt("foo[-10s+15s]"), "foo[-10s + 15s]");
    assert_eq!(fmt("foo[  -  step  (  )  ]"), "foo[-step()]");
    assert_eq!(fmt("foo[max_of(step(),5s)]"), "foo[max_of(step(), 5s)]");
    assert_eq!(fmt("foo[1+(STep()-5)*2]"), "foo[1 + (step() - 5) * 2]");
    assert_eq!(
        fmt("foo[4s+4s:1s*2] offset (5s-8)"),
        "foo[4s + 4s:1s * 2] offset (5s - 8)"
    );
    assert_eq!(fmt("foo offset step()"), "foo offset step()");
    assert_eq!(
        fmt("foo offset -min_of(5s,step()+8s)"),
        "foo offset -min_of(5s, step() + 8s)"
    );
    assert_eq!(fmt("foo offset +(5)"), "foo offset (5)");
    assert_eq!(fmt("foo offset -(5)"), "foo offset -(5)");
    assert_eq!(fmt("foo offset range()"), "foo offset range()");
    // Only a single term belongs to the offset.
    assert_eq!(shape(&ok("foo offset 5s-8")), "(foo offset 5s - 8)");
    assert_eq!(shape(&ok("foo offset -1^1")), "(foo offset -1s ^ 1)");
    assert_eq!(
        shape(&ok("metric1_total offset step()*0")),
        "(metric1_total offset step() * 0)"
    );
    // The engine resolves them per query.
    let mut e = ok("foo[step()+1m] offset -step()");
    e.resolve_durations(10_000, 0).expect("resolves");
    let Expr::MatrixSelector(m) = &e else {
        panic!("matrix")
    };
    assert_eq!((m.range, m.selector.offset), (70_000, -10_000));
    let mut e = ok("rate(foo[1s-2s])");
    assert_eq!(
        e.resolve_durations(0, 0),
        Err("9:14: duration must be greater than 0".to_string())
    );
    let mut e = ok("foo[1m:step()/2] offset range()");
    e.resolve_durations(30_000, 600_000).expect("resolves");
    let Expr::Subquery(s) = &e else {
        panic!("subquery")
    };
    assert_eq!((s.range, s.step, s.offset), (60_000, Some(15_000), 600_000));

    assert_eq!(
        err_default("foo[5m+1m]"),
        "1:5: parse error: experimental duration expression is not enabled"
    );
    assert_eq!(
        err_default("foo offset step()"),
        "1:12: parse error: experimental duration expression is not enabled"
    );
    // Plain numbers as durations need no flag.
    assert!(parse("foo[300] offset 60").is_ok());
}

#[test]
fn extended_range_selectors() {
    let e = ok("rate(foo[1m] anchored)");
    let Expr::Call(c) = &e else { panic!("call") };
    assert!(selector(&c.args[0]).anchored);
    assert!(selector(&ok("metric smoothed")).smoothed);
    assert_eq!(fmt("rate(foo[1m] smoothed)"), "rate(foo[1m] smoothed)");
    assert_eq!(
        fmt("metric @ 100 smoothed + 0"),
        "metric @ 100.000 smoothed + 0"
    );
    assert_eq!(
        fmt("metric offset -100 smoothed"),
        "metric smoothed offset -1m40s"
    );
    assert_eq!(
        err("foo[1m] anchored smoothed"),
        "1:1: parse error: anchored and smoothed modifiers cannot be used together"
    );
    assert_eq!(
        err("foo[1m:] anchored"),
        "1:1: parse error: anchored modifier is not supported for subqueries"
    );
    assert_eq!(
        err("1[5m] smoothed"),
        "1:2: parse error: ranges only allowed for vector selectors"
    );
    assert_eq!(
        err_default("rate(foo[1m] anchored)"),
        "1:6: parse error: anchored modifier is experimental and not enabled"
    );
}

/// Prometheus's `parse_test.go` failure cases: the first error and its position.
#[test]
fn prometheus_error_messages() {
    let long = "9".repeat(309);
    let cases: Vec<(String, String)> = [
        ("", "unknown position: parse error: no expression found in input"),
        ("# just a comment\n\n", "1:1: parse error: no expression found in input"),
        ("   ", "1:1: parse error: no expression found in input"),
        ("1+", "1:3: parse error: unexpected end of input"),
        (".", "1:1: parse error: unexpected character: '.'"),
        ("2.5.", r#"1:1: parse error: bad number or duration syntax: "2.5.""#),
        ("100..4", r#"1:1: parse error: bad number or duration syntax: "100..""#),
        ("0deadbeef", r#"1:1: parse error: bad number or duration syntax: "0de""#),
        ("1 /", "1:4: parse error: unexpected end of input"),
        ("*1", "1:1: parse error: unexpected <op:*>"),
        ("(1))", "1:5: parse error: unexpected right parenthesis ')'"),
        ("((1)", "1:5: parse error: unclosed left parenthesis"),
        ("(", "1:2: parse error: unclosed left parenthesis"),
        ("1 and 1", r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#),
        ("1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
        ("1 or 1", r#"1:1: parse error: set operator "or" not allowed in binary scalar expression"#),
        ("1 unless 1", r#"1:1: parse error: set operator "unless" not allowed in binary scalar expression"#),
        ("1 !~ 1", "1:3: parse error: unexpected character after '!': '~'"),
        ("1 =~ 1", "1:3: parse error: unexpected character after '=': '~'"),
        (r#"-"string""#, r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "string""#),
        ("-test[5m]", r#"1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#),
        ("*test", "1:1: parse error: unexpected <op:*>"),
        ("@@", "1:1: parse error: unexpected <op:@>"),
        ("1 offset 1d", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
        ("foo offset 1s offset 2s", "1:1: parse error: offset may not be set multiple times"),
        ("a - on(b) ignoring(c) d", "1:11: parse error: unexpected <ignoring>"),
        ("foo and 1", r#"1:1: parse error: set operator "and" not allowed in binary scalar expression"#),
        ("1 or on(bar) foo", "1:1: parse error: vector matching only allowed between instant vectors"),
        ("foo == on(bar) 10", "1:1: parse error: vector matching only allowed between instant vectors"),
        ("foo + group_left(baz) bar", "1:7: parse error: unexpected <group_left>"),
        ("foo and on(bar) group_left(baz) bar", r#"1:1: parse error: no grouping allowed for "and" operation"#),
        ("foo or on(bar) group_right(baz) bar", r#"1:1: parse error: no grouping allowed for "or" operation"#),
        (r#"http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}"#,
            r#"1:35: parse error: label "instance" must not occur in ON and GROUP clause at once"#),
        ("foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"),
        ("foo + bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"),
        ("foo and bool 10", "1:5: parse error: bool modifier can only be used on comparison operators"),
        ("{", "1:2: parse error: unexpected end of input inside braces"),
        ("}", "1:1: parse error: unexpected character: '}'"),
        ("some{", "1:6: parse error: unexpected end of input inside braces"),
        ("up{", "1:4: parse error: unexpected end of input inside braces"),
        ("some}", "1:5: parse error: unexpected character: '}'"),
        ("some_metric{a=b}", r#"1:15: parse error: unexpected identifier "b" in label matching, expected string"#),
        (r#"some_metric{a:b="b"}"#, "1:14: parse error: unexpected character inside braces: ':'"),
        (r#"foo{a*"b"}"#, "1:6: parse error: unexpected character inside braces: '*'"),
        (r#"foo{a>="b"}"#, "1:6: parse error: unexpected character inside braces: '>'"),
        ("foo{gibberish}", r#"1:14: parse error: unexpected "}" in label matching, expected label matching operator"#),
        ("foo{1}", "1:5: parse error: unexpected character inside braces: '1'"),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        (r#"{x=""}"#, "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        (r#"{x=~".*"}"#, "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        (r#"{x!~".+"}"#, "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        (r#"{x!="a"}"#, "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        (r#"foo{__name__="bar"}"#, r#"1:1: parse error: metric name must not be set twice: "foo" or "bar""#),
        ("foo{__name__= =}", r#"1:15: parse error: unexpected "=" in label matching, expected string"#),
        ("foo{,}", r#"1:5: parse error: unexpected "," in label matching, expected identifier or "}""#),
        (r#"foo{__name__ == "bar"}"#, r#"1:15: parse error: unexpected "=" in label matching, expected string"#),
        (r#"foo{__name__="bar" lol}"#, r#"1:20: parse error: unexpected identifier "lol" in label matching, expected "," or "}""#),
        (r#"foo{"a"=}"#, r#"1:9: parse error: unexpected "}" in label matching, expected string"#),
        ("foo[5mm]", r#"1:5: parse error: bad number or duration syntax: "5mm""#),
        ("foo[5m1]", r#"1:5: parse error: bad number or duration syntax: "5m1""#),
        ("foo[5m:1m1]", r#"1:8: parse error: bad number or duration syntax: "1m1""#),
        ("foo[5y1hs]", r#"1:5: parse error: unknown unit "hs" in duration "5y1hs""#),
        ("foo[5m1h]", r#"1:5: parse error: not a valid duration string: "5m1h""#),
        ("foo[5m1m]", r#"1:5: parse error: not a valid duration string: "5m1m""#),
        ("foo[0m]", "1:5: parse error: duration must be greater than 0"),
        (r#"foo["5m"]"#, r#"1:5: parse error: unexpected character in duration expression: '"'"#),
        ("foo[]", r#"1:5: parse error: unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#),
        ("foo[-1]", "1:5: parse error: duration must be greater than 0"),
        ("some_metric[5m] OFFSET 1mm", r#"1:24: parse error: bad number or duration syntax: "1mm""#),
        ("some_metric[5m] OFFSET", "1:23: parse error: unexpected end of input in offset, expected number, duration, step(), or range()"),
        ("some_metric OFFSET 1m[5m]", "1:22: parse error: no offset modifiers allowed before range"),
        ("some_metric[5m] @", "1:18: parse error: unexpected end of input in @, expected timestamp"),
        ("some_metric @ 1234 [5m]", "1:20: parse error: no @ modifiers allowed before range"),
        ("some_metric @ start() [5m]", "1:23: parse error: no @ modifiers allowed before range"),
        ("some_metric @ end()[5m]", "1:20: parse error: no @ modifiers allowed before range"),
        ("some_metric offset step()[5m]", "1:26: parse error: no offset modifiers allowed before range"),
        ("(foo + bar)[5m]", "1:12: parse error: ranges only allowed for vector selectors"),
        (r#"sum by ("foo)(some_metric{})"#, "1:9: parse error: unterminated quoted string"),
        ("sum without(==)(some_metric)", "1:13: parse error: unexpected <op:==> in grouping opts, expected label"),
        ("sum without(,)(some_metric)", r#"1:13: parse error: unexpected "," in grouping opts, expected label"#),
        ("sum without(foo,,)(some_metric)", r#"1:17: parse error: unexpected "," in grouping opts, expected label"#),
        ("sum some_metric by (test)", r#"1:5: parse error: unexpected identifier "some_metric""#),
        ("sum (some_metric) by test", r#"1:22: parse error: unexpected identifier "test" in grouping opts, expected "(""#),
        ("sum () by (test)", "1:1: parse error: no arguments for aggregate expression provided"),
        ("MIN keep_common (some_metric)", r#"1:5: parse error: unexpected identifier "keep_common""#),
        ("MIN (some_metric) keep_common", r#"1:19: parse error: unexpected identifier "keep_common""#),
        ("sum (some_metric) without (test) by (test)", "1:34: parse error: unexpected <by>"),
        ("sum without (test) (some_metric) by (test)", "1:34: parse error: unexpected <by>"),
        ("topk(some_metric)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"),
        ("topk(some_metric,)", "1:17: parse error: trailing commas not allowed in function call args"),
        ("topk(some_metric, other_metric)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"),
        ("count_values(5, other_metric)", "1:14: parse error: expected type string in aggregation parameter, got scalar"),
        ("rate(some_metric[5m]) @ 1234", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
        ("floor()", r#"1:1: parse error: expected 1 argument(s) in call to "floor", got 0"#),
        ("floor(some_metric, other_metric)", r#"1:1: parse error: expected 1 argument(s) in call to "floor", got 2"#),
        ("floor(1)", r#"1:7: parse error: expected type instant vector in call to function "floor", got scalar"#),
        ("hour(some_metric, some_metric, some_metric)", r#"1:1: parse error: expected at most 1 argument(s) in call to "hour", got 3"#),
        ("time(some_metric)", r#"1:1: parse error: expected 0 argument(s) in call to "time", got 1"#),
        ("label_join(x)", r#"1:1: parse error: expected at least 3 argument(s) in call to "label_join", got 1"#),
        ("non_existent_function_far_bar()", r#"1:1: parse error: unknown function with name "non_existent_function_far_bar""#),
        ("rate(some_metric)", r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#),
        ("-=", r#"1:2: parse error: unexpected "=""#),
        ("++-++-+-+-<", "1:11: parse error: unexpected <op:<>"),
        ("e-+=/(0)", r#"1:4: parse error: unexpected "=""#),
        ("a>b()", r#"1:3: parse error: unknown function with name "b""#),
        ("rate(avg)", r#"1:6: parse error: expected type range vector in call to function "rate", got instant vector"#),
        (r#"foo{bar="baz"}["#, "1:16: parse error: unexpected end of input in duration expression"),
        ("test[5d] OFFSET 10s [10m:5s]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"),
        (r#"(foo + bar{nm="val"})[5m:][10m:5s]"#, "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"),
        ("rate(food[1m])[1h] offset 1h", "1:15: parse error: ranges only allowed for vector selectors"),
        ("rate(food[1m])[1h] @ 100", "1:15: parse error: ranges only allowed for vector selectors"),
        (r#"info(rate(http_request_counter_total{}[5m]), target_info{foo="bar"})"#,
            "1:46: parse error: expected label selectors only, got vector selector instead"),
        (r#"info(http_request_counter_total{namespace="zzz"}, {foo="bar"} == 1)"#,
            "1:51: parse error: expected label selectors only"),
        ("foo[step]", r#"1:9: parse error: unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#),
        ("foo[step()/0d]", "1:11: parse error: division by zero"),
        ("foo[5s/0d]", "1:7: parse error: division by zero"),
        ("foo offset (4d/0)", "1:15: parse error: division by zero"),
        ("foo[5s%0d]", "1:7: parse error: modulo by zero"),
        ("foo offset 9.5e10", "1:12: parse error: duration out of range"),
        ("foo[9.5e10]", "1:5: parse error: duration out of range"),
        ("sum(", "1:5: parse error: unclosed left parenthesis"),
        ("sum(rate(", "1:10: parse error: unclosed left parenthesis"),
        ("foo[5s x 5s]", "1:8: parse error: unexpected character: 'x', expected ':'"),
        ("foo[5s s 5s]", "1:8: parse error: unexpected character: 's', expected ':'"),
        ("1[5m] anchored", "1:2: parse error: ranges only allowed for vector selectors"),
        ("foo @ +Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"),
        ("foo @ -Inf", "1:1: parse error: timestamp out of bounds for @ modifier: -Inf"),
        ("foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"),
        ("foo @ 9223372036854775808", "1:1: parse error: timestamp out of bounds for @ modifier: 9223372036854775808.000000"),
        ("foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"),
        // Not from parse_test.go, but following the same rules.
        ("sum(1 2)", r#"1:7: parse error: unexpected number "2" in aggregation"#),
        ("sum by (x) 3", r#"1:12: parse error: unexpected number "3" in aggregation"#),
        ("rate(1 2)", r#"1:8: parse error: unexpected number "2""#),
        ("foo bar", r#"1:5: parse error: unexpected identifier "bar""#),
        ("foo bool", "1:5: parse error: unexpected <bool>"),
        ("foo{a=\"b\"} {", "1:12: parse error: unexpected \"{\""),
        (r#"foo{a="b""#, "1:10: parse error: unexpected end of input inside braces"),
        ("sum by (a:b) (x)", r#"1:9: parse error: unexpected metric identifier "a:b" in grouping opts, expected label"#),
        ("sum by (a b) (x)", r#"1:11: parse error: unexpected identifier "b" in grouping opts, expected "," or ")""#),
        ("foo[5m 1]", r#"1:8: parse error: unexpected number "1" in subquery or range, expected ":" or "]""#),
        ("\n\nfoo{", "3:5: parse error: unexpected end of input inside braces"),
        ("foo +\n  bar{x=~\"(\"}", "2:7: parse error: error parsing regexp: missing closing ): `(`"),
        ("a > 'string'", "1:5: parse error: binary expression must contain only scalar and instant vector types"),
        ("rate(x[5m]) + y[5m]", "1:15: parse error: binary expression must contain only scalar and instant vector types"),
        ("sum(x[5m])", "1:5: parse error: expected type instant vector in aggregation expression, got range vector"),
        ("1[5m:]", "1:1: parse error: subquery is only allowed on instant vector, got scalar instead"),
    ]
    .into_iter()
    .map(|(q, e)| (q.to_string(), e.to_string()))
    .chain([(
        long.clone(),
        format!(
            "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"{long}\": value out of range"
        ),
    )])
    .collect();
    let mut failures = Vec::new();
    for (query, want) in &cases {
        match parse_with(query, &all()) {
            Ok(e) => failures.push(format!("{query:?}: parsed as {e}, want {want}")),
            Err(got) if got.to_string() != *want => {
                failures.push(format!("{query:?}:\n   got  {got}\n   want {want}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_positions() {
    let e = parse_with("foo +\n  bar{", &all()).expect_err("fails");
    assert_eq!((e.offset, e.line, e.column), (12, 2, 7));
    let e = parse("").expect_err("fails");
    assert_eq!((e.line, e.column), (0, 0));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&deep).contains("nested too deeply"), "{}", err(&deep));
    let chain = format!("{}1", "1+".repeat(5000));
    assert!(err(&chain).contains("nested too deeply"));
    let pow = format!("{}1", "1^".repeat(5000));
    assert!(err(&pow).contains("nested too deeply"));
    let minus = format!("{}1", "-".repeat(5000));
    assert!(err(&minus).contains("nested too deeply"));
    let calls = format!("{}x{}", "abs(".repeat(3000), ")".repeat(3000));
    assert!(err(&calls).contains("nested too deeply"));
    let brackets = format!("foo[{}1{}]", "(".repeat(5000), ")".repeat(5000));
    assert!(err(&brackets).contains("nested too deeply"));
    // Below the limits, deep queries parse, print and check.
    let ok_deep = format!("{}x{}", "abs(".repeat(200), ")".repeat(200));
    assert_eq!(fmt(&ok_deep), ok_deep);
    let ok_chain = format!("{}1", "1+".repeat(500));
    assert_eq!(fmt(&ok_chain).len(), ok_chain.len() + 2 * 500);
    let too_long = format!("{}1", "1+".repeat(600));
    assert!(err(&too_long).contains("nested too deeply"));
}

/// A chain of duration operators (`foo[1m+1m+...]`) is built without recursion, but printing,
/// checking and dropping its tree recurse: 10,000 terms overflowed the stack.
#[test]
fn long_duration_chains_are_an_error_not_a_crash() {
    let chain = |n: usize| format!("{}1m", "1m+".repeat(n));
    for q in [
        format!("foo[{}]", chain(10_000)),
        format!("foo[1m:{}]", chain(10_000)),
        format!(
            "foo offset {}",
            chain(10_000).replacen("1m", "(1m", 1) + ")"
        ),
        format!("foo[({})]", chain(600)),
    ] {
        assert!(err(&q).contains("nested too deeply"), "{}", err(&q));
    }
    let ok_chain = format!("foo[{}]", chain(500));
    assert_eq!(fmt(&ok_chain).len(), ok_chain.len() + 2 * 500);
    // The duration expression counts towards the depth of the whole tree.
    let deep = format!(
        "{}foo[{}]{}",
        "abs(".repeat(200),
        chain(400),
        ")".repeat(200)
    );
    assert!(err(&deep).contains("nested too deeply"), "{}", err(&deep));
    let offset = format!(
        "{}foo offset ({}){}",
        "abs(".repeat(200),
        chain(400),
        ")".repeat(200)
    );
    assert!(
        err(&offset).contains("nested too deeply"),
        "{}",
        err(&offset)
    );
}
