//! The `format_query` round-trip property, shared by the parser tests and the fuzz target
//! (`fuzz/fuzz_targets/promql_parser.rs`): whatever parses prints (`Display`, what
//! `/api/v1/format_query` returns) to a query that parses again, to the same tree, and prints
//! identically.
//!
//! "The same tree" ignores what printing legitimately changes: spans (positions in the text) and
//! the order of matchers, which the printer sorts.

use crate::ast::{DurationExpr, Expr, Span};
use crate::parser::{parse_metric_selector, parse_with, ParseOptions};

/// What the fuzz target checks for one input, so that the regression test over its corpus
/// (`tests/fuzz_corpus.rs`) checks exactly the same: the bytes as lossy UTF-8, round-tripped
/// with Prometheus's default options, with every experimental feature on, and with the mix of
/// features that the low four bits of the first byte select; and `parse_metric_selector` (the
/// API's `match[]`) must return. Returns how many of the option sets parsed the input.
pub fn check_input(data: &[u8]) -> Result<usize, String> {
    let input = String::from_utf8_lossy(data);
    let bits = data.first().copied().unwrap_or(0);
    let mixed = ParseOptions {
        experimental_functions: bits & 1 != 0,
        duration_expressions: bits & 2 != 0,
        extended_range_selectors: bits & 4 != 0,
        binop_fill_modifiers: bits & 8 != 0,
    };
    let mut option_sets = vec![ParseOptions::default(), ParseOptions::all()];
    if !option_sets.contains(&mixed) {
        option_sets.push(mixed);
    }
    let mut parsed = 0;
    for options in &option_sets {
        if check(&input, options)
            .map_err(|failure| format!("with {options:?}: {failure}"))?
            .is_some()
        {
            parsed += 1;
        }
    }
    let _ = parse_metric_selector(&input);
    Ok(parsed)
}

/// Checks the round trip of `input` under `options`. `Ok(None)` when the input does not parse,
/// `Ok(Some(printed))` when it parses and round-trips, and `Err` with a description when the
/// printed form does not parse again, parses to another tree, or prints differently.
pub fn check(input: &str, options: &ParseOptions) -> Result<Option<String>, String> {
    let Ok(first) = parse_with(input, options) else {
        return Ok(None);
    };
    let printed = first.to_string();
    let second = parse_with(&printed, options).map_err(|err| {
        format!("{input:?} prints as {printed:?}, which does not parse again: {err}")
    })?;
    let (a, b) = (normalized(&first), normalized(&second));
    if a != b {
        return Err(format!(
            "{input:?} prints as {printed:?}, which parses to another tree:\n  first  {a}\n  \
             second {b}"
        ));
    }
    let reprinted = second.to_string();
    if reprinted != printed {
        return Err(format!(
            "{input:?} prints as {printed:?}, which prints again as {reprinted:?}"
        ));
    }
    Ok(Some(printed))
}

/// The tree with every span zeroed and matchers sorted, as `Debug` text (which also makes NaN
/// equal to NaN), for comparing trees up to what printing changes.
pub fn normalized(expr: &Expr) -> String {
    let mut e = expr.clone();
    normalize(&mut e);
    format!("{e:?}")
}

fn normalize_duration(d: &mut DurationExpr) {
    match d {
        DurationExpr::Number { span, .. }
        | DurationExpr::Step { span }
        | DurationExpr::Range { span } => *span = Span::default(),
        DurationExpr::Unary { expr, span, .. } | DurationExpr::Paren { expr, span } => {
            *span = Span::default();
            normalize_duration(expr);
        }
        DurationExpr::Binary { lhs, rhs, span, .. }
        | DurationExpr::MinOf { lhs, rhs, span }
        | DurationExpr::MaxOf { lhs, rhs, span } => {
            *span = Span::default();
            normalize_duration(lhs);
            normalize_duration(rhs);
        }
    }
}

fn normalize_selector(vs: &mut crate::ast::VectorSelector) {
    vs.span = Span::default();
    vs.matchers.sort_by_key(|m| format!("{m}"));
    if let Some(d) = &mut vs.offset_expr {
        normalize_duration(d);
    }
}

fn normalize(e: &mut Expr) {
    match e {
        Expr::Number(n) => n.span = Span::default(),
        Expr::String(s) => s.span = Span::default(),
        Expr::VectorSelector(vs) => normalize_selector(vs),
        Expr::MatrixSelector(ms) => {
            ms.span = Span::default();
            normalize_selector(&mut ms.selector);
            if let Some(d) = &mut ms.range_expr {
                normalize_duration(d);
            }
        }
        Expr::Subquery(sq) => {
            sq.span = Span::default();
            normalize(&mut sq.expr);
            for d in [&mut sq.range_expr, &mut sq.step_expr, &mut sq.offset_expr]
                .into_iter()
                .flatten()
            {
                normalize_duration(d);
            }
        }
        Expr::Paren(p) => {
            p.span = Span::default();
            normalize(&mut p.expr);
        }
        Expr::Unary(u) => {
            u.span = Span::default();
            normalize(&mut u.expr);
        }
        Expr::Binary(b) => {
            b.span = Span::default();
            normalize(&mut b.lhs);
            normalize(&mut b.rhs);
        }
        Expr::Aggregate(a) => {
            a.span = Span::default();
            normalize(&mut a.expr);
            if let Some(p) = &mut a.param {
                normalize(p);
            }
        }
        Expr::Call(c) => {
            c.span = Span::default();
            c.args.iter_mut().for_each(normalize);
        }
    }
}
