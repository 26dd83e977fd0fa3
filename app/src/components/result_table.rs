//! The table view of a query result: one row per series, labelled the way
//! Prometheus prints series, with the value beside it.

use leptos::prelude::*;

use crate::api::{HistogramPair, InstantSeries, QueryResult, RangeSeries, SamplePair};
use crate::series_format::format_series;

/// What one table row shows, decoupled from the result shape it came from.
struct ResultRow {
    series: String,
    values: Vec<String>,
}

/// A native histogram is summarised by its count and sum; the buckets need
/// the graph view to be readable.
fn describe_histogram(histogram: &HistogramPair) -> String {
    let field = |name: &str| {
        histogram
            .1
            .get(name)
            .and_then(|value| value.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    format!("histogram: count={} sum={}", field("count"), field("sum"))
}

fn describe_point(sample: &SamplePair) -> String {
    format!("{} @{}", sample.value(), sample.timestamp_seconds())
}

fn instant_row(series: &InstantSeries) -> ResultRow {
    let value = match (&series.value, &series.histogram) {
        (Some(sample), _) => sample.value().to_owned(),
        (None, Some(histogram)) => describe_histogram(histogram),
        (None, None) => String::new(),
    };
    ResultRow {
        series: format_series(&series.metric),
        values: vec![value],
    }
}

fn range_row(series: &RangeSeries) -> ResultRow {
    let mut values: Vec<(f64, String)> = series
        .values
        .iter()
        .map(|sample| (sample.timestamp_seconds(), describe_point(sample)))
        .chain(series.histograms.iter().map(|histogram| {
            (
                histogram.0,
                format!("{} @{}", describe_histogram(histogram), histogram.0),
            )
        }))
        .collect();
    values.sort_by(|left, right| left.0.total_cmp(&right.0));
    ResultRow {
        series: format_series(&series.metric),
        values: values.into_iter().map(|(_, text)| text).collect(),
    }
}

fn rows_of(result: &QueryResult) -> Vec<ResultRow> {
    match result {
        QueryResult::Vector(series) => series.iter().map(instant_row).collect(),
        QueryResult::Matrix(series) => series.iter().map(range_row).collect(),
        QueryResult::Scalar(sample) => vec![ResultRow {
            series: "scalar".to_owned(),
            values: vec![sample.value().to_owned()],
        }],
        QueryResult::String(sample) => vec![ResultRow {
            series: "string".to_owned(),
            values: vec![sample.value().to_owned()],
        }],
    }
}

#[component]
pub fn ResultTable(result: QueryResult) -> impl IntoView {
    let rows = rows_of(&result);
    let body = if rows.is_empty() {
        view! {
            <tr class="empty">
                <td colspan="2">"This query returned no data."</td>
            </tr>
        }
        .into_any()
    } else {
        rows.into_iter()
            .map(|row| {
                view! {
                    <tr data-testid="result-row">
                        <td class="series">{row.series}</td>
                        <td class="value">
                            {row
                                .values
                                .into_iter()
                                .map(|value| view! { <div>{value}</div> })
                                .collect_view()}
                        </td>
                    </tr>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="table-scroll">
            <table class="result-table" data-testid="result-table">
                <thead>
                    <tr>
                        <th scope="col">"Series"</th>
                        <th scope="col" class="value">"Value"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series_format::Labels;

    #[test]
    fn matrix_rows_list_points_in_time_order() {
        let series = RangeSeries {
            metric: Labels::from([("__name__".to_owned(), "up".to_owned())]),
            values: vec![
                SamplePair(20.0, "0".to_owned()),
                SamplePair(10.5, "1".to_owned()),
            ],
            histograms: Vec::new(),
        };
        let row = range_row(&series);
        assert_eq!(row.series, "up");
        assert_eq!(row.values, vec!["1 @10.5".to_owned(), "0 @20".to_owned()]);
    }

    #[test]
    fn scalars_get_one_row() {
        let rows = rows_of(&QueryResult::Scalar(SamplePair(1.0, "42".to_owned())));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].series, "scalar");
        assert_eq!(rows[0].values, vec!["42".to_owned()]);
    }
}
