//! A cheap upper bound on the work an evaluation does, before doing it: the server runs a
//! query that is certainly small, over data the head holds in memory, on the thread that
//! received it, and sends the others to the blocking pool, where a long evaluation cannot hold
//! up other requests, scrapes or rules.

use narthex_model::{Matcher, SelectionSize};

use crate::ast::{Expr, VectorSelector};

/// Samples assumed per second of stored data: a bound for scrape intervals down to one second,
/// and a generous one for the usual 15 to 60 seconds.
const SAMPLES_PER_SECOND: u64 = 1;

/// The evaluation times of a query: `steps` times from `start` to `end` (ms).
#[derive(Clone, Copy, Debug)]
pub struct Evaluation {
    pub start: i64,
    pub end: i64,
    pub steps: u64,
    pub lookback_ms: i64,
}

/// What an evaluation reads and visits at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// Samples read from storage plus samples visited per evaluation time.
    pub samples: u64,
    /// The oldest time any selector reads (ms); `i64::MAX` when nothing is read.
    pub earliest: i64,
    /// Whether every selector reads only what the storage holds in memory.
    pub in_memory: bool,
}

impl Bound {
    const NOTHING: Bound = Bound {
        samples: 0,
        earliest: i64::MAX,
        in_memory: true,
    };
}

/// An upper bound on the samples an evaluation reads and visits, with `selection_size` telling
/// how many series a selector's matchers select and from when on they are in memory (`None`:
/// unknown). `None` when no bound is cheap to give: subqueries (their steps multiply),
/// `info()` (it reads info series of its own), `@`, `anchored` and `smoothed` selectors,
/// ranges given as expressions, or a selector of unknown size.
pub fn sample_bound(
    expr: &Expr,
    evaluation: &Evaluation,
    selection_size: &dyn Fn(&[Matcher]) -> Option<SelectionSize>,
) -> Option<Bound> {
    let span = evaluation.end.checked_sub(evaluation.start)?.max(0);
    let samples_in = |ms: i64| -> Option<u64> {
        (u64::try_from(ms).ok()? / 1000)
            .checked_mul(SAMPLES_PER_SECOND)?
            .checked_add(1)
    };
    // A selector reading `window` ms before each step (lookback or range), visiting
    // `visited_per_step` samples a series at each step.
    let selector = |vs: &VectorSelector, window: i64, visited_per_step: u64| -> Option<Bound> {
        if vs.at.is_some() || vs.anchored || vs.smoothed {
            return None;
        }
        let size = selection_size(&vs.matchers)?;
        let series = u64::try_from(size.series).ok()?;
        let read = series.checked_mul(samples_in(span.checked_add(window)?)?)?;
        let visited = series
            .checked_mul(evaluation.steps)?
            .checked_mul(visited_per_step)?;
        let earliest = evaluation
            .start
            .checked_sub(vs.offset)?
            .checked_sub(window)?;
        Some(Bound {
            samples: read.checked_add(visited)?,
            earliest,
            in_memory: earliest >= size.in_memory_from,
        })
    };
    match expr {
        Expr::Number(_) | Expr::String(_) => Some(Bound::NOTHING),
        // Every sample from one lookback before the first step to the last step is read; each
        // step visits one a series.
        Expr::VectorSelector(vs) => selector(vs, evaluation.lookback_ms, 1),
        // Each step visits its window.
        Expr::MatrixSelector(ms) if ms.range_expr.is_none() => {
            selector(&ms.selector, ms.range, samples_in(ms.range)?)
        }
        Expr::MatrixSelector(_) | Expr::Subquery(_) => None,
        Expr::Call(call) if call.func.name == "info" => None,
        _ => expr.children().try_fold(Bound::NOTHING, |total, child| {
            let child = sample_bound(child, evaluation, selection_size)?;
            Some(Bound {
                samples: total.samples.checked_add(child.samples)?,
                earliest: total.earliest.min(child.earliest),
                in_memory: total.in_memory && child.in_memory,
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn bound(query: &str, start: i64, end: i64, steps: u64) -> Option<Bound> {
        let expr =
            crate::parse_with(query, &crate::ParseOptions::all()).expect("test query parses");
        // Every selector selects 10 series, in memory from minute 40 on, except `unknown`.
        let count = |matchers: &[Matcher]| {
            (!matchers.iter().any(|m| m.value == "unknown")).then_some(SelectionSize {
                series: 10,
                in_memory_from: 40 * MINUTE,
            })
        };
        let evaluation = Evaluation {
            start,
            end,
            steps,
            lookback_ms: 5 * MINUTE,
        };
        sample_bound(&expr, &evaluation, &count)
    }

    fn samples(query: &str, start: i64, end: i64, steps: u64) -> Option<u64> {
        bound(query, start, end, steps).map(|b| b.samples)
    }

    #[test]
    fn instant_queries_read_their_windows() {
        let t = 100 * MINUTE;
        // 10 series x (lookback 300 s + 1) read, one visited each.
        assert_eq!(samples("up", t, t, 1), Some(10 * 301 + 10));
        assert_eq!(samples("rate(x[5m])", t, t, 1), Some(10 * 301 * 2));
        assert_eq!(
            samples("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", t, t, 1),
            Some(10 * 301 + 10)
        );
        assert_eq!(samples("1 + 2", t, t, 1), Some(0));
        assert_eq!(
            bound("up offset 10m + rate(x[1h])", t, t, 1).map(|b| b.earliest),
            Some(t - 60 * MINUTE)
        );
        assert_eq!(
            bound("up offset 1h", t, t, 1).map(|b| b.earliest),
            Some(t - 65 * MINUTE)
        );
        // Minute 100 reaches back to 35 with the offset: before the memory starts at 40.
        assert_eq!(
            bound("rate(x[1h])", t, t, 1).map(|b| b.in_memory),
            Some(true)
        );
        assert_eq!(
            bound("rate(x[1h]) + up offset 1h", t, t, 1).map(|b| b.in_memory),
            Some(false)
        );
    }

    #[test]
    fn range_queries_read_their_whole_span() {
        // A day at 1 h steps reads the day, not 25 samples a series.
        let day = 24 * 60 * MINUTE;
        assert_eq!(
            samples("up", 0, day, 25),
            Some(10 * (86_400 + 300 + 1) + 250)
        );
        // A step longer than the range still reads the whole span.
        assert_eq!(
            samples("rate(x[1m])", 0, day, 25),
            Some(10 * (86_400 + 60 + 1) + 10 * 25 * 61)
        );
    }

    #[test]
    fn unbounded_shapes_have_no_bound() {
        let t = 100 * MINUTE;
        assert_eq!(bound("max_over_time(rate(x[5m])[30m:1m])", t, t, 1), None);
        assert_eq!(bound("up + unknown", t, t, 1), None);
        assert_eq!(bound("info(up)", t, t, 1), None);
        assert_eq!(bound("up @ 100", t, t, 1), None);
        assert_eq!(bound("rate(x[1000d])", 0, i64::MAX, u64::MAX), None);
    }
}
