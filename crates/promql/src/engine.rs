//! Evaluation of PromQL expressions against a `Querier`, with Prometheus 3 semantics for what
//! this slice supports: instant vector selectors with a left-open lookback window and staleness
//! markers. Range queries read each series once and walk it across all steps.

use narthex_model::api::QueryData;
use narthex_model::{is_stale_nan, Querier, Sample, Series, StorageError};

use crate::ast::{Expr, VectorSelector};

/// Prometheus's default `--query.lookback-delta`.
pub const DEFAULT_LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Storage(#[from] StorageError),
}

#[derive(Clone, Debug)]
pub struct Engine {
    /// How far back an instant selector looks for the newest sample, in milliseconds.
    pub lookback_delta_ms: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback_delta_ms: DEFAULT_LOOKBACK_DELTA_MS,
        }
    }
}

impl Engine {
    /// Evaluates `expr` at time `t` (ms).
    pub fn instant(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        t: i64,
    ) -> Result<QueryData, EngineError> {
        match expr {
            Expr::VectorSelector(selector) => {
                let series = self.select(querier, selector, t, t)?;
                let samples = series
                    .into_iter()
                    .filter_map(|s| {
                        let mut cursor = 0;
                        let sample = self.sample_at(&s.samples, &mut cursor, t)?;
                        Some((s.labels, Sample { t, v: sample.v }))
                    })
                    .collect();
                Ok(QueryData::Vector(samples))
            }
        }
    }

    /// Evaluates `expr` at every step from `start` to `end` inclusive (ms); `step` > 0.
    pub fn range(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryData, EngineError> {
        match expr {
            Expr::VectorSelector(selector) => {
                let series = self.select(querier, selector, start, end)?;
                let mut out = Vec::with_capacity(series.len());
                for s in series {
                    let mut points = Vec::new();
                    let mut cursor = 0;
                    let mut t = start;
                    while t <= end {
                        if let Some(sample) = self.sample_at(&s.samples, &mut cursor, t) {
                            points.push(Sample { t, v: sample.v });
                        }
                        t += step;
                    }
                    if !points.is_empty() {
                        out.push(Series {
                            labels: s.labels,
                            samples: points,
                        });
                    }
                }
                Ok(QueryData::Matrix(out))
            }
        }
    }

    fn select(
        &self,
        querier: &dyn Querier,
        selector: &VectorSelector,
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, EngineError> {
        // The window of the first step is (start - lookback, start].
        Ok(querier.select(&selector.matchers, start - self.lookback_delta_ms + 1, end)?)
    }

    /// The newest sample in `(t - lookback, t]`, unless it is a staleness marker. `cursor`
    /// remembers where the previous (earlier) step stopped, so a walk over all steps is linear.
    fn sample_at(&self, samples: &[Sample], cursor: &mut usize, t: i64) -> Option<Sample> {
        while *cursor < samples.len() && samples[*cursor].t <= t {
            *cursor += 1;
        }
        let newest = samples[..*cursor].last()?;
        if newest.t <= t - self.lookback_delta_ms || is_stale_nan(newest.v) {
            return None;
        }
        Some(*newest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::{Labels, Matcher};

    /// A querier over fixed series, applying matchers and the time range as storage does.
    struct Fixed(Vec<Series>);

    impl Querier for Fixed {
        fn select(
            &self,
            matchers: &[Matcher],
            mint: i64,
            maxt: i64,
        ) -> Result<Vec<Series>, StorageError> {
            Ok(self
                .0
                .iter()
                .filter(|s| {
                    matchers
                        .iter()
                        .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
                })
                .map(|s| Series {
                    labels: s.labels.clone(),
                    samples: s
                        .samples
                        .iter()
                        .filter(|p| p.t >= mint && p.t <= maxt)
                        .copied()
                        .collect(),
                })
                .filter(|s| !s.samples.is_empty())
                .collect())
        }
    }

    fn series(job: &str, points: &[(i64, f64)]) -> Series {
        Series {
            labels: Labels::from_pairs([("__name__", "up"), ("job", job)]),
            samples: points.iter().map(|&(t, v)| Sample { t, v }).collect(),
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn instant_takes_newest_sample_within_lookback() {
        let data = Fixed(vec![
            series("a", &[(0, 1.0), (MIN, 2.0)]),
            series("b", &[(0, 7.0)]),
        ]);
        let expr = crate::parse("up").unwrap();
        let engine = Engine::default();
        let QueryData::Vector(v) = engine.instant(&data, &expr, 2 * MIN).unwrap() else {
            panic!("not a vector")
        };
        let got: Vec<(String, i64, f64)> = v
            .iter()
            .map(|(l, s)| (l.get("job").unwrap_or("").to_string(), s.t, s.v))
            .collect();
        assert_eq!(got, [("a".into(), 2 * MIN, 2.0), ("b".into(), 2 * MIN, 7.0)]);
        // Exactly 5 minutes after the sample it is out of the left-open window.
        let QueryData::Vector(v) = engine.instant(&data, &expr, 5 * MIN).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].1.v, 2.0);
    }

    #[test]
    fn staleness_marker_ends_a_series() {
        let data = Fixed(vec![series(
            "a",
            &[(0, 1.0), (MIN, narthex_model::stale_nan()), (3 * MIN, 4.0)],
        )]);
        let expr = crate::parse("up").unwrap();
        let engine = Engine::default();
        let QueryData::Matrix(m) = engine
            .range(&data, &expr, 0, 4 * MIN, 30_000)
            .unwrap()
        else {
            panic!()
        };
        let times: Vec<i64> = m[0].samples.iter().map(|s| s.t / 1000).collect();
        assert_eq!(times, [0, 30, 180, 210, 240]);
    }

    #[test]
    fn range_respects_matchers() {
        let data = Fixed(vec![series("a", &[(0, 1.0)]), series("b", &[(0, 1.0)])]);
        let expr = crate::parse(r#"up{job!="a"}"#).unwrap();
        let QueryData::Matrix(m) = Engine::default().range(&data, &expr, 0, MIN, MIN).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].labels.get("job"), Some("b"));
        assert_eq!(m[0].samples.len(), 2);
    }
}
