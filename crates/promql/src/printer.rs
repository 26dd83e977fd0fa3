//! Prometheus's canonical PromQL formatting (`printer.go`, what `/api/v1/format_query` returns):
//! `impl Display for Expr`. For example
//! `sum by (job) (rate(http_requests_total{job="api"}[5m] offset 1m))`.
//!
//! As in Prometheus, matchers are sorted and joined with `,`, the name matcher is written as the
//! name, durations use Prometheus's units (`1h30m`, `90d`), strings are quoted as Go quotes them,
//! and parentheses are printed only where the query had them (the tree keeps `Paren` nodes), so
//! printing and parsing again gives the same tree.

use std::fmt;

use narthex_model::{MatchOp, Matcher, METRIC_NAME};

use crate::ast::{
    AggregateExpr, AtModifier, BinaryExpr, Cardinality, DurationExpr, Expr, MatrixSelector,
    SubqueryExpr, UnaryOp, VectorMatching, VectorSelector,
};
use crate::lexer;
use crate::parser::is_legacy_label_name;

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => f.write_str(&format_number(n.value, n.duration)),
            Expr::String(s) => match &s.invalid_utf8 {
                Some(bytes) => f.write_str(&quote(bytes)),
                None => f.write_str(&quote(s.value.as_bytes())),
            },
            Expr::VectorSelector(vs) => write_vector_selector(f, vs, true),
            Expr::MatrixSelector(ms) => write_matrix_selector(f, ms),
            Expr::Subquery(sq) => write_subquery(f, sq),
            Expr::Paren(p) => write!(f, "({})", p.expr),
            Expr::Unary(u) => write!(f, "{}{}", u.op.as_str(), u.expr),
            Expr::Binary(b) => write_binary(f, b),
            Expr::Aggregate(a) => write_aggregate(f, a),
            Expr::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, arg) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationExpr::Number {
                value, duration, ..
            } => f.write_str(&format_number(*value, *duration)),
            DurationExpr::Step { .. } => f.write_str("step()"),
            DurationExpr::Range { .. } => f.write_str("range()"),
            DurationExpr::Unary { op, expr, .. } => match op {
                UnaryOp::Neg => write!(f, "-{expr}"),
                UnaryOp::Pos => write!(f, "{expr}"),
            },
            DurationExpr::Binary { op, lhs, rhs, .. } => {
                write!(f, "{lhs} {} {rhs}", op.as_str())
            }
            DurationExpr::MinOf { lhs, rhs, .. } => write!(f, "min_of({lhs}, {rhs})"),
            DurationExpr::MaxOf { lhs, rhs, .. } => write!(f, "max_of({lhs}, {rhs})"),
            DurationExpr::Paren { expr, .. } => write!(f, "({expr})"),
        }
    }
}

/// A string as Go's `strconv.Quote` writes it (what Prometheus prints), except that U+FFFD is
/// escaped as `\ufffd`: Go writes it as it is, but the lexer (Prometheus's too) rejects it in a
/// string as an "invalid UTF-8 rune", and it is what invalid UTF-8 in a label name or matcher
/// value (`{a="\xff"}`) becomes here, so written as it is the query would not parse again.
fn quote(bytes: &[u8]) -> String {
    lexer::go_quote(bytes).replace('\u{FFFD}', "\\ufffd")
}

/// A number as Prometheus prints a literal: Go's `FormatFloat(v, 'f', -1, 64)` (no exponent,
/// shortest digits, `+Inf`, `NaN`), or a duration (`5m`, `-1h30m`) when written as one.
pub fn format_number(value: f64, duration: bool) -> String {
    if duration && value.is_finite() {
        // Go's model.Duration(v * 1e9): nanoseconds, truncated, shown in whole milliseconds.
        let ms = |v: f64| ((v * 1e9) as i64) / 1_000_000;
        // `-0m` is negative zero (`1 / -0m` is -Inf): print it as `-0s`, not `0s` as Prometheus
        // does, so that the printed query means the same.
        return if value.is_sign_negative() {
            format!("-{}", format_duration(ms(-value)))
        } else {
            format_duration(ms(value))
        };
    }
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

/// Durations print as Prometheus's `model.Duration.String()` (`1h30m`, `90d`, `0s`); the one
/// implementation lives in `model` so the config, the API and the printer agree.
pub use narthex_model::duration::format_duration;

/// A label name as Prometheus writes it in grouping clauses and matchers: bare when it is a
/// legacy name, quoted otherwise (`"service.name"`).
fn write_label_name(out: &mut String, name: &str) {
    if is_legacy_label_name(name) {
        out.push_str(name);
    } else {
        out.push_str(&quote(name.as_bytes()));
    }
}

fn write_labels(f: &mut fmt::Formatter<'_>, labels: &[String]) -> fmt::Result {
    let mut out = String::new();
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_label_name(&mut out, label);
    }
    f.write_str(&out)
}

/// A matcher as Prometheus's `Matcher.String()`: `name="value"`, the name quoted unless it is a
/// plain identifier.
pub fn format_matcher(m: &Matcher) -> String {
    let mut out = String::new();
    let plain = !m.name.is_empty()
        && m.name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if plain {
        out.push_str(&m.name);
    } else {
        out.push_str(&quote(m.name.as_bytes()));
    }
    out.push_str(match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::RegexMatch => "=~",
        MatchOp::RegexNoMatch => "!~",
    });
    out.push_str(&quote(m.value.as_bytes()));
    out
}

fn format_at(at: &AtModifier) -> String {
    match at {
        AtModifier::Timestamp(ms) => format!(" @ {:.3}", *ms as f64 / 1000.0),
        AtModifier::Start => " @ start()".into(),
        AtModifier::End => " @ end()".into(),
    }
}

fn format_offset(offset: i64, expr: &Option<DurationExpr>) -> String {
    match expr {
        Some(e) => format!(" offset {e}"),
        None if offset > 0 => format!(" offset {}", format_duration(offset)),
        None if offset < 0 => format!(" offset -{}", format_duration(offset.saturating_neg())),
        None => String::new(),
    }
}

/// The selector with its modifiers (`with_modifiers`), or without them for a range selector,
/// which prints them after the range.
fn write_vector_selector(
    f: &mut fmt::Formatter<'_>,
    vs: &VectorSelector,
    with_modifiers: bool,
) -> fmt::Result {
    let name = vs.name.as_deref().unwrap_or("");
    let mut matchers: Vec<String> = vs
        .matchers
        .iter()
        .filter(|m| {
            !(m.name == METRIC_NAME
                && m.op == MatchOp::Equal
                && m.value == name
                && !name.is_empty())
        })
        .map(format_matcher)
        .collect();
    matchers.sort();
    f.write_str(name)?;
    // Prometheus prints nothing for a selector without matchers (only info()'s label selectors
    // can be one); `{}` keeps the output parseable.
    if !matchers.is_empty() || name.is_empty() {
        write!(f, "{{{}}}", matchers.join(","))?;
    }
    if with_modifiers {
        if let Some(at) = &vs.at {
            f.write_str(&format_at(at))?;
        }
        write_extended(f, vs)?;
        f.write_str(&format_offset(vs.offset, &vs.offset_expr))?;
    }
    Ok(())
}

fn write_extended(f: &mut fmt::Formatter<'_>, vs: &VectorSelector) -> fmt::Result {
    if vs.anchored {
        f.write_str(" anchored")
    } else if vs.smoothed {
        f.write_str(" smoothed")
    } else {
        Ok(())
    }
}

fn write_matrix_selector(f: &mut fmt::Formatter<'_>, ms: &MatrixSelector) -> fmt::Result {
    write_vector_selector(f, &ms.selector, false)?;
    match &ms.range_expr {
        Some(e) => write!(f, "[{e}]")?,
        None => write!(f, "[{}]", format_duration(ms.range))?,
    }
    write_extended(f, &ms.selector)?;
    if let Some(at) = &ms.selector.at {
        f.write_str(&format_at(at))?;
    }
    f.write_str(&format_offset(ms.selector.offset, &ms.selector.offset_expr))
}

fn write_subquery(f: &mut fmt::Formatter<'_>, sq: &SubqueryExpr) -> fmt::Result {
    write!(f, "{}[", sq.expr)?;
    match &sq.range_expr {
        Some(e) => write!(f, "{e}:")?,
        None => write!(f, "{}:", format_duration(sq.range))?,
    }
    match (&sq.step, &sq.step_expr) {
        (Some(step), _) if *step != 0 => f.write_str(&format_duration(*step))?,
        (_, Some(e)) => write!(f, "{e}")?,
        _ => {}
    }
    f.write_str("]")?;
    if let Some(at) = &sq.at {
        f.write_str(&format_at(at))?;
    }
    f.write_str(&format_offset(sq.offset, &sq.offset_expr))
}

fn write_binary(f: &mut fmt::Formatter<'_>, b: &BinaryExpr) -> fmt::Result {
    write!(f, "{} {}", b.lhs, b.op.as_str())?;
    if b.return_bool {
        f.write_str(" bool")?;
    }
    if let Some(m) = &b.matching {
        write_matching(f, m)?;
    }
    write!(f, " {}", b.rhs)
}

fn write_matching(f: &mut fmt::Formatter<'_>, m: &VectorMatching) -> fmt::Result {
    let grouped = matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany);
    if !m.labels.is_empty() || m.on || grouped {
        f.write_str(if m.on { " on (" } else { " ignoring (" })?;
        write_labels(f, &m.labels)?;
        f.write_str(")")?;
    }
    if grouped {
        f.write_str(if m.card == Cardinality::ManyToOne {
            " group_left ("
        } else {
            " group_right ("
        })?;
        write_labels(f, &m.include)?;
        f.write_str(")")?;
    }
    match (m.fill.lhs, m.fill.rhs) {
        (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
            write!(f, " fill ({})", format_go_value(l))?
        }
        (l, r) => {
            if let Some(l) = l {
                write!(f, " fill_left ({})", format_go_value(l))?;
            }
            if let Some(r) = r {
                write!(f, " fill_right ({})", format_go_value(r))?;
            }
        }
    }
    Ok(())
}

fn write_aggregate(f: &mut fmt::Formatter<'_>, a: &AggregateExpr) -> fmt::Result {
    f.write_str(a.op.as_str())?;
    if a.without {
        f.write_str(" without (")?;
        write_labels(f, &a.grouping)?;
        f.write_str(") ")?;
    } else if !a.grouping.is_empty() {
        f.write_str(" by (")?;
        write_labels(f, &a.grouping)?;
        f.write_str(") ")?;
    }
    f.write_str("(")?;
    if let Some(param) = &a.param {
        write!(f, "{param}, ")?;
    }
    write!(f, "{})", a.expr)
}

/// Go's `%v` of a float64 (`%g` with the shortest digits): `0`, `0.5`, `1e+06`, `+Inf`, `NaN`.
pub fn format_go_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits and decimal exponent, from Rust's `{:e}`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        // %g with the shortest digits switches to an exponent for exp < -4 or exp >= 6.
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_prints_them() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(1500), "1s500ms");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(365 * 86_400_000), "1y");
        assert_eq!(format_duration(366 * 86_400_000), "366d");
    }

    /// Fuzzing found `-0m-e` printing as `0s - e`, which lost the sign (`1 / -0m` is -Inf).
    #[test]
    fn negative_zero_duration_keeps_its_sign() {
        assert_eq!(format_number(-0.0, true), "-0s");
        let expr = crate::parse("-0m - e").expect("parses");
        assert_eq!(expr.to_string(), "-0s - e");
        assert_eq!(
            crate::roundtrip::check("-0m-e", &Default::default()),
            Ok(Some("-0s - e".into()))
        );
    }

    /// Fuzzing found `{a='\xff'}` printing the replacement character that the invalid byte
    /// became as it is, which the lexer rejects ("invalid UTF-8 rune").
    #[test]
    fn replacement_character_is_escaped() {
        assert_eq!(quote("a\u{FFFD}b".as_bytes()), r#""a\ufffdb""#);
        let all = crate::ParseOptions::all();
        for (query, printed) in [
            (r#"{a='\xff'}"#, r#"{a="\ufffd"}"#),
            (r#"{a="\ufffd"}"#, r#"{a="\ufffd"}"#),
            (r#"{"\xff\xfe"=~"x"}"#, r#"{"\ufffd\ufffd"=~"x"}"#),
            (r#"sum by ("\xff") (x)"#, r#"sum by ("\ufffd") (x)"#),
            (r#""\ufffd""#, r#""\ufffd""#),
            // A string literal keeps its invalid bytes.
            (r#""\xff""#, r#""\xff""#),
        ] {
            assert_eq!(
                crate::roundtrip::check(query, &all),
                Ok(Some(printed.to_string())),
                "{query}"
            );
        }
    }

    #[test]
    fn numbers_as_prometheus_prints_them() {
        assert_eq!(format_number(1.0, false), "1");
        assert_eq!(format_number(-0.5, false), "-0.5");
        assert_eq!(format_number(1e21, false), "1000000000000000000000");
        assert_eq!(format_number(1e-7, false), "0.0000001");
        assert_eq!(format_number(f64::INFINITY, false), "+Inf");
        assert_eq!(format_number(f64::NAN, false), "NaN");
        assert_eq!(format_number(300.0, true), "5m");
        assert_eq!(format_number(-90.0, true), "-1m30s");
        assert_eq!(format_number(0.0, true), "0s");
        assert_eq!(format_go_value(0.0), "0");
        assert_eq!(format_go_value(1.5), "1.5");
        assert_eq!(format_go_value(123456.0), "123456");
        assert_eq!(format_go_value(1e21), "1e+21");
        assert_eq!(format_go_value(1e6), "1e+06");
        assert_eq!(format_go_value(0.00001), "1e-05");
        assert_eq!(format_go_value(f64::NEG_INFINITY), "-Inf");
    }
}
