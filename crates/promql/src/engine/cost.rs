//! A cheap upper bound on the work an evaluation does, before doing it: the server runs a
//! query that is certainly small on the thread that received it, and sends the others to the
//! blocking pool, where a long evaluation cannot hold up other requests, scrapes or rules.

use narthex_model::Matcher;

use crate::ast::Expr;

/// Samples assumed per second of a range selector's window: a bound for scrape intervals down
/// to one second, and a generous one for the usual 15 to 60 seconds.
const SAMPLES_PER_SECOND: u64 = 1;

/// An upper bound on the samples an evaluation over `steps` evaluation times reads and visits,
/// with `series_count` telling how many series a selector's matchers select (`None`: unknown).
/// `None` when no bound is cheap to give: subqueries (their steps multiply), ranges given as
/// expressions, or a selector of unknown size.
pub fn sample_bound(
    expr: &Expr,
    steps: u64,
    series_count: &dyn Fn(&[Matcher]) -> Option<usize>,
) -> Option<u64> {
    match expr {
        Expr::Number(_) | Expr::String(_) => Some(0),
        Expr::VectorSelector(vs) => {
            let series = series_count(&vs.matchers)? as u64;
            series.checked_mul(steps)
        }
        Expr::MatrixSelector(ms) => {
            if ms.range_expr.is_some() {
                return None;
            }
            let series = series_count(&ms.selector.matchers)? as u64;
            let window = (ms.range.max(0) as u64 / 1000).checked_mul(SAMPLES_PER_SECOND)?;
            series
                .checked_mul(steps)?
                .checked_mul(window.checked_add(1)?)
        }
        Expr::Subquery(_) => None,
        _ => expr.children().into_iter().try_fold(0u64, |total, child| {
            total.checked_add(sample_bound(child, steps, series_count)?)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(query: &str, steps: u64) -> Option<u64> {
        let expr = crate::parse(query).expect("test query parses");
        // Every selector selects 10 series, except `unknown`.
        let count =
            |matchers: &[Matcher]| (!matchers.iter().any(|m| m.value == "unknown")).then_some(10);
        sample_bound(&expr, steps, &count)
    }

    #[test]
    fn selectors_count_series_steps_and_window() {
        assert_eq!(bound("up", 1), Some(10));
        assert_eq!(bound("up", 61), Some(610));
        assert_eq!(bound("rate(x[5m])", 1), Some(10 * 301));
        assert_eq!(
            bound("sum by (job) (rate(x[1m])) / on() group_left up", 2),
            Some(10 * 2 * 61 + 10 * 2)
        );
        assert_eq!(
            bound("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", 1),
            Some(10)
        );
        assert_eq!(bound("1 + 2", 1), Some(0));
    }

    #[test]
    fn unbounded_shapes_have_no_bound() {
        assert_eq!(bound("max_over_time(rate(x[5m])[30m:1m])", 1), None);
        assert_eq!(bound("up + unknown", 1), None);
        assert_eq!(bound("rate(x[1000d])", u64::MAX), None);
    }
}
