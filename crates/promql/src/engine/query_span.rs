//! The time range a whole query reads, as Prometheus's `FindMinMaxTime` computes it before
//! evaluating: Prometheus opens its storage for that range, which decides in what order every
//! selection of the query lists its series (see `Querier::query_order`).

use crate::ast::{AtModifier, Expr, VectorSelector};

/// What the subqueries around a selector add to its range (Prometheus's `subqueryTimes`):
/// their offsets and ranges summed, or from the innermost `@` on, that subquery's time.
#[derive(Clone, Copy, Default)]
struct Enclosing {
    offset: i64,
    range: i64,
    at: Option<i64>,
}

/// The oldest and newest time any selector of `expr` reads (ms), for a query from `start` to
/// `end`; `(0, 0)` when it has no selector, as in Prometheus.
pub(crate) fn query_span(expr: &Expr, start: i64, end: i64, lookback_ms: i64) -> (i64, i64) {
    let mut span = (i64::MAX, i64::MIN);
    let query = Query {
        start,
        end,
        lookback_ms,
    };
    visit(expr, &query, Enclosing::default(), &mut span);
    if span.1 == i64::MIN {
        (0, 0)
    } else {
        span
    }
}

struct Query {
    start: i64,
    end: i64,
    lookback_ms: i64,
}

impl Query {
    fn at_time(&self, at: AtModifier) -> i64 {
        match at {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.start,
            AtModifier::End => self.end,
        }
    }

    /// Prometheus's `getTimeRangesForSelector`: `range` is 0 for an instant selector.
    fn selector_span(&self, vs: &VectorSelector, range: i64, around: Enclosing) -> (i64, i64) {
        let (mut start, mut end) = match (vs.at, around.at) {
            (Some(at), _) => (self.at_time(at), self.at_time(at)),
            (None, Some(at)) => (
                at.saturating_sub(around.offset)
                    .saturating_sub(around.range),
                at.saturating_sub(around.offset),
            ),
            (None, None) => (
                self.start
                    .saturating_sub(around.offset)
                    .saturating_sub(around.range),
                self.end.saturating_sub(around.offset),
            ),
        };
        // Left-open windows: a sample exactly one lookback delta or range back is not read.
        let window = if range == 0 { self.lookback_ms } else { range };
        start = start.saturating_sub(window - 1);
        start = start.saturating_sub(vs.offset);
        end = end.saturating_sub(vs.offset);
        // `anchored` and `smoothed` read a lookback delta further (Prometheus versions that
        // have them widen the span alike).
        let (back, forward) = if range == 0 {
            (0, if vs.smoothed { self.lookback_ms } else { 0 })
        } else {
            super::extended::widening(vs, self.lookback_ms)
        };
        (start.saturating_sub(back), end.saturating_add(forward))
    }
}

fn visit(expr: &Expr, query: &Query, around: Enclosing, span: &mut (i64, i64)) {
    let mut note = |vs: &VectorSelector, range: i64| {
        let (start, end) = query.selector_span(vs, range, around);
        span.0 = span.0.min(start);
        span.1 = span.1.max(end);
    };
    match expr {
        Expr::VectorSelector(vs) => note(vs, 0),
        Expr::MatrixSelector(ms) => note(&ms.selector, ms.range),
        Expr::Subquery(sq) => {
            let inner = match sq.at {
                Some(at) => Enclosing {
                    offset: sq.offset,
                    range: sq.range,
                    at: Some(query.at_time(at)),
                },
                None => Enclosing {
                    offset: around.offset.saturating_add(sq.offset),
                    range: around.range.saturating_add(sq.range),
                    at: around.at,
                },
            };
            visit(&sq.expr, query, inner, span);
        }
        _ => {
            for child in expr.children() {
                visit(child, query, around, span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    const MINUTE: i64 = 60_000;
    const LOOKBACK: i64 = 5 * MINUTE;

    fn span(query: &str, start: i64, end: i64) -> (i64, i64) {
        let expr = parse(query).expect("query parses");
        query_span(&expr, start, end, LOOKBACK)
    }

    #[test]
    fn selectors_read_their_left_open_window_before_each_step() {
        let t = 1000 * MINUTE;
        assert_eq!(span("up", t, t), (t - LOOKBACK + 1, t));
        assert_eq!(
            span("rate(up[10m])", t - 60 * MINUTE, t),
            (t - 70 * MINUTE + 1, t)
        );
        // The widest of all selectors.
        assert_eq!(
            span("up + rate(x[1h] offset 1h) + y offset -5m", t, t),
            (t - 2 * 60 * MINUTE + 1, t + 5 * MINUTE)
        );
    }

    #[test]
    fn subqueries_add_their_range_and_offset_and_at_fixes_the_time() {
        let t = 1000 * MINUTE;
        assert_eq!(
            span("max_over_time(rate(x[5m])[30m:1m] offset 10m)", t, t),
            (t - 45 * MINUTE + 1, t - 10 * MINUTE)
        );
        // `@` on a subquery replaces what the outer subqueries added.
        assert_eq!(
            span(
                "max_over_time(max_over_time(x[10m:1m] @ 600)[30m:1m])",
                t,
                t
            ),
            (600_000 - 10 * MINUTE - LOOKBACK + 1, 600_000)
        );
        // `@` on the selector replaces everything, `@ end()` is the query's end.
        assert_eq!(
            span("max_over_time(x[10m] @ end())[30m:1m]", t - MINUTE, t),
            (t - 10 * MINUTE + 1, t)
        );
    }

    #[test]
    fn anchored_and_smoothed_selectors_read_a_lookback_delta_further() {
        let options = crate::parser::ParseOptions {
            extended_range_selectors: true,
            ..Default::default()
        };
        let span = |query: &str| {
            let expr = crate::parser::parse_with(query, &options).expect("query parses");
            query_span(&expr, 1000 * MINUTE, 1000 * MINUTE, LOOKBACK)
        };
        let t = 1000 * MINUTE;
        assert_eq!(
            span("rate(x[10m] anchored)"),
            (t - 10 * MINUTE + 1 - LOOKBACK, t)
        );
        assert_eq!(
            span("rate(x[10m] smoothed)"),
            (t - 10 * MINUTE + 1 - LOOKBACK, t + LOOKBACK)
        );
        assert_eq!(span("x smoothed"), (t - LOOKBACK + 1, t + LOOKBACK));
    }

    #[test]
    fn a_query_without_selectors_reads_nothing() {
        assert_eq!(span("vector(1) + time()", 5, 9), (0, 0));
    }
}
