//! A range query's series prepared for drawing: values parsed once, a colour that stays with
//! the series across refreshes, gaps where a series has no sample or a value is not finite,
//! stacking, reduction to at most a few points per pixel column, and the lookup behind the
//! hover tooltip.

use std::sync::Arc;

use crate::api::RangeSeries;
use crate::series_format::{format_series, Labels, METRIC_NAME_LABEL};

/// One series of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphSeries {
    /// `name{labels}` as PromQL writes it; also the series' identity in the legend and URL-free
    /// state (hidden series).
    pub key: String,
    pub labels: Labels,
    pub color: &'static str,
    /// `(Unix ms, value)` in time order; non-finite values are kept and drawn as gaps. Shared,
    /// so that copies of a series (the drawn set, the tooltip's) cost nothing per point.
    pub points: Arc<Vec<(i64, f64)>>,
}

impl GraphSeries {
    pub fn metric_name(&self) -> Option<&str> {
        self.labels.get(METRIC_NAME_LABEL).map(String::as_str)
    }
}

/// Colours easy to tell apart on light and dark backgrounds.
pub const PALETTE: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#3b75af", "#ef8636", "#519e3e", "#c53a32", "#8d69b8", "#84584e",
    "#d57dbf", "#b5bd61", "#55a868", "#4c72b0",
];

/// A colour chosen by the series' labels (FNV-1a), so it does not change when other series
/// come or go.
pub fn color_for(key: &str) -> &'static str {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    PALETTE[hash as usize % PALETTE.len()]
}

/// Parses a range query's series; an unparsable value becomes NaN (drawn as a gap).
pub fn graph_series(series: &[RangeSeries]) -> Vec<GraphSeries> {
    series
        .iter()
        .map(|series| {
            let key = format_series(&series.metric);
            GraphSeries {
                color: color_for(&key),
                key,
                labels: series.metric.clone(),
                points: Arc::new(
                    series
                        .values
                        .iter()
                        .map(|pair| {
                            (
                                (pair.timestamp_seconds() * 1000.0).round() as i64,
                                parse_value(pair.value()),
                            )
                        })
                        .collect(),
                ),
            }
        })
        .collect()
}

/// A sample value as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, Go floats).
pub fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// Stacks `series` (each point on the query's step grid): every point becomes the sum of the
/// series before it at that time plus its own value. A missing or non-finite value adds
/// nothing below and leaves a gap itself.
pub fn stack(series: &[GraphSeries]) -> Vec<GraphSeries> {
    let mut totals: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
    series
        .iter()
        .map(|one| {
            let points = one
                .points
                .iter()
                .map(|&(t, v)| {
                    if !v.is_finite() {
                        return (t, f64::NAN);
                    }
                    let total = totals.entry(t).or_insert(0.0);
                    *total += v;
                    (t, *total)
                })
                .collect();
            GraphSeries {
                points: Arc::new(points),
                ..one.clone()
            }
        })
        .collect()
}

/// The runs of a series to draw as lines: split where a value is not finite or where more than
/// `max_gap_ms` passes without a sample, each run reduced to the first, smallest, largest and
/// last value of every `ms_per_pixel` column, so a line costs at most four points per pixel
/// whatever the number of samples.
pub fn runs(points: &[(i64, f64)], max_gap_ms: i64, ms_per_pixel: f64) -> Vec<Vec<(i64, f64)>> {
    let mut runs = Vec::new();
    let mut run: Vec<(i64, f64)> = Vec::new();
    let mut column: Option<Column> = None;
    let mut previous_t: Option<i64> = None;
    let column_of = |t: i64| (t as f64 / ms_per_pixel.max(1e-9)).floor() as i64;
    for &(t, v) in points {
        if !v.is_finite() || previous_t.is_some_and(|p| t - p > max_gap_ms) {
            if let Some(done) = column.take() {
                done.append_to(&mut run);
            }
            if !run.is_empty() {
                runs.push(std::mem::take(&mut run));
            }
        }
        previous_t = Some(t);
        if !v.is_finite() {
            continue;
        }
        let index = column_of(t);
        match column.as_mut() {
            Some(current) if current.index == index => current.add((t, v)),
            _ => {
                if let Some(done) = column.replace(Column::new(index, (t, v))) {
                    done.append_to(&mut run);
                }
            }
        }
    }
    if let Some(done) = column.take() {
        done.append_to(&mut run);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The points of one pixel column that shape its line: first, lowest, highest, last.
struct Column {
    index: i64,
    first: (i64, f64),
    low: (i64, f64),
    high: (i64, f64),
    last: (i64, f64),
}

impl Column {
    fn new(index: i64, point: (i64, f64)) -> Self {
        Column {
            index,
            first: point,
            low: point,
            high: point,
            last: point,
        }
    }

    fn add(&mut self, point: (i64, f64)) {
        if point.1 < self.low.1 {
            self.low = point;
        }
        if point.1 > self.high.1 {
            self.high = point;
        }
        self.last = point;
    }

    fn append_to(self, run: &mut Vec<(i64, f64)>) {
        let mut points = [self.first, self.low, self.high, self.last];
        points.sort_by_key(|point| point.0);
        for point in points {
            if run.last() != Some(&point) {
                run.push(point);
            }
        }
    }
}

/// The value range of the finite points of `series`, widened a little so lines do not touch
/// the frame, and to at least ±1 around a flat line.
pub fn value_range(series: &[&GraphSeries]) -> Option<(f64, f64)> {
    let mut range: Option<(f64, f64)> = None;
    for point in series.iter().flat_map(|s| s.points.iter()) {
        if point.1.is_finite() {
            range = Some(match range {
                None => (point.1, point.1),
                Some((low, high)) => (low.min(point.1), high.max(point.1)),
            });
        }
    }
    let (low, high) = range?;
    if high - low < f64::EPSILON * high.abs().max(1.0) {
        return Some((low - 1.0, high + 1.0));
    }
    let margin = (high - low) * 0.05;
    let low = if low >= 0.0 && low - margin < 0.0 {
        0.0
    } else {
        low - margin
    };
    Some((low, high + margin))
}

/// For the tooltip: the time nearest `t` that any of `series` has a sample at, and each
/// series' value there (the raw value, not the stacked one), in the order given.
pub fn values_at(series: &[&GraphSeries], t: i64) -> Option<(i64, Vec<(usize, f64)>)> {
    let nearest = series
        .iter()
        .filter_map(|s| nearest_time(&s.points, t))
        .min_by_key(|candidate| (candidate - t).abs())?;
    let values = series
        .iter()
        .enumerate()
        .filter_map(|(index, s)| {
            let found = s.points.binary_search_by_key(&nearest, |p| p.0).ok()?;
            Some((index, s.points[found].1))
        })
        .collect();
    Some((nearest, values))
}

fn nearest_time(points: &[(i64, f64)], t: i64) -> Option<i64> {
    let after = points.partition_point(|p| p.0 < t);
    let candidates = [after.checked_sub(1), Some(after)];
    candidates
        .into_iter()
        .flatten()
        .filter_map(|i| points.get(i).map(|p| p.0))
        .min_by_key(|candidate| (candidate - t).abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(key: &str, points: &[(i64, f64)]) -> GraphSeries {
        GraphSeries {
            key: key.to_owned(),
            labels: Labels::new(),
            color: color_for(key),
            points: Arc::new(points.to_vec()),
        }
    }

    #[test]
    fn colours_depend_only_on_the_series() {
        assert_eq!(color_for("up{job=\"a\"}"), color_for("up{job=\"a\"}"));
        let distinct: std::collections::HashSet<_> = (0..40)
            .map(|i| color_for(&format!("up{{instance=\"host{i}\"}}")))
            .collect();
        assert!(distinct.len() > 8, "{distinct:?}");
    }

    #[test]
    fn values_parse_as_prometheus_writes_them() {
        assert_eq!(parse_value("1.5"), 1.5);
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert_eq!(parse_value("-Inf"), f64::NEG_INFINITY);
        assert!(parse_value("NaN").is_nan());
        assert!(parse_value("garbage").is_nan());
    }

    #[test]
    fn stacking_sums_in_order_and_skips_gaps() {
        let stacked = stack(&[
            series("a", &[(0, 1.0), (10, 2.0), (20, f64::NAN)]),
            series("b", &[(0, 3.0), (10, 4.0), (20, 5.0)]),
        ]);
        assert_eq!(stacked[0].points[..2], [(0, 1.0), (10, 2.0)]);
        assert!(stacked[0].points[2].1.is_nan());
        assert_eq!(*stacked[1].points, [(0, 4.0), (10, 6.0), (20, 5.0)]);
    }

    #[test]
    fn runs_break_at_gaps_and_non_finite_values() {
        let points = [
            (0, 1.0),
            (10, 2.0),
            (20, f64::INFINITY),
            (30, 3.0),
            (40, 4.0),
            (100, 5.0),
        ];
        assert_eq!(
            runs(&points, 15, 1.0),
            vec![
                vec![(0, 1.0), (10, 2.0)],
                vec![(30, 3.0), (40, 4.0)],
                vec![(100, 5.0)]
            ]
        );
    }

    #[test]
    fn runs_keep_extremes_of_each_pixel_column() {
        // 11,000 points over 100 columns: at most 4 per column, extremes kept.
        let points: Vec<(i64, f64)> = (0..11_000)
            .map(|i| {
                (
                    i,
                    if i == 5_555 {
                        1000.0
                    } else if i == 7_777 {
                        -1000.0
                    } else {
                        (i % 7) as f64
                    },
                )
            })
            .collect();
        let reduced = runs(&points, 10, 110.0);
        assert_eq!(reduced.len(), 1);
        let run = &reduced[0];
        assert!(run.len() <= 400, "{}", run.len());
        assert!(run.contains(&(5_555, 1000.0)));
        assert!(run.contains(&(7_777, -1000.0)));
        assert_eq!(run.first(), Some(&(0, 0.0)));
        assert_eq!(run.last(), Some(&(10_999, (10_999 % 7) as f64)));
        assert!(run.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn value_ranges_pad_and_handle_flat_lines() {
        let a = series("a", &[(0, 10.0), (1, 20.0), (2, f64::NAN)]);
        assert_eq!(value_range(&[&a]), Some((9.5, 20.5)));
        let flat = series("b", &[(0, 1.0), (1, 1.0)]);
        assert_eq!(value_range(&[&flat]), Some((0.0, 2.0)));
        let empty = series("c", &[(0, f64::NAN)]);
        assert_eq!(value_range(&[&empty]), None);
        let positive = series("d", &[(0, 1.0), (1, 100.0)]);
        assert_eq!(value_range(&[&positive]), Some((0.0, 104.95)));
    }

    #[test]
    fn tooltip_values_come_from_the_nearest_sample_time() {
        let a = series("a", &[(0, 1.0), (15, 2.0), (30, 3.0)]);
        let b = series("b", &[(15, 7.0), (30, f64::NAN)]);
        assert_eq!(
            values_at(&[&a, &b], 17),
            Some((15, vec![(0, 2.0), (1, 7.0)]))
        );
        let (t, values) = values_at(&[&a, &b], 29).unwrap();
        assert_eq!(t, 30);
        assert_eq!(values[0], (0, 3.0));
        assert!(values[1].1.is_nan());
        assert_eq!(values_at(&[], 5), None);
    }
}
