//! One-line descriptions of PromQL's functions, aggregations and keywords, shown beside
//! completions. Signatures come from the promql crate's function table, so they cannot drift
//! from what the parser accepts.

use narthex_promql::ast::{AggregateOp, ValueType};
use narthex_promql::functions::Function;

/// What `name` does, in a line; empty for a name without a description.
pub fn function_doc(name: &str) -> &'static str {
    match name {
        "abs" => "Absolute value of each sample.",
        "absent" => "1-element vector when the input vector is empty, else empty.",
        "absent_over_time" => "1-element vector when the range vector has no samples, else empty.",
        "acos" | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh" | "sin"
        | "sinh" | "tan" | "tanh" => "Trigonometric function of each sample (radians).",
        "avg_over_time" => "Average of all samples in the range.",
        "ceil" => "Rounds each sample up to the nearest integer.",
        "changes" => "How many times the value changed within the range.",
        "clamp" => "Clamps each sample between a lower and an upper bound.",
        "clamp_max" => "Clamps each sample to an upper bound.",
        "clamp_min" => "Clamps each sample to a lower bound.",
        "count_over_time" => "Number of samples in the range.",
        "day_of_month" => "Day of the month (1-31) of each timestamp, in UTC.",
        "day_of_week" => "Day of the week (0 = Sunday) of each timestamp, in UTC.",
        "day_of_year" => "Day of the year (1-366) of each timestamp, in UTC.",
        "days_in_month" => "Number of days in the month of each timestamp, in UTC.",
        "deg" => "Converts radians to degrees.",
        "delta" => "Difference between the first and last value of a gauge over the range.",
        "deriv" => "Per-second derivative of a gauge by simple linear regression.",
        "double_exponential_smoothing" => {
            "Smoothed value of a gauge (smoothing and trend factors)."
        }
        "end" => "End of the query range (duration expressions).",
        "exp" => "Exponential function of each sample.",
        "first_over_time" => "Oldest sample in the range.",
        "floor" => "Rounds each sample down to the nearest integer.",
        "histogram_avg" => "Arithmetic average of native histogram observations.",
        "histogram_count" => "Count of observations in native histograms.",
        "histogram_fraction" => "Fraction of observations between two bounds.",
        "histogram_quantile" => "φ-quantile from classic buckets (by le) or native histograms.",
        "histogram_quantiles" => "Several quantiles of a histogram at once.",
        "histogram_stddev" => "Estimated standard deviation of native histogram observations.",
        "histogram_stdvar" => "Estimated variance of native histogram observations.",
        "histogram_sum" => "Sum of observations in native histograms.",
        "hour" => "Hour of the day (0-23) of each timestamp, in UTC.",
        "idelta" => "Difference between the last two samples of a gauge.",
        "increase" => "Increase of a counter over the range, extrapolated to its edges.",
        "info" => "Adds labels from info metrics (target_info by default).",
        "integral" => "Integral of the samples over the range.",
        "irate" => "Per-second rate from the last two samples of a counter.",
        "label_join" => "Joins the values of source labels into a destination label.",
        "label_replace" => "Sets a label from a regex match on another label.",
        "last_over_time" => "Most recent sample in the range.",
        "ln" => "Natural logarithm of each sample.",
        "log10" => "Decimal logarithm of each sample.",
        "log2" => "Binary logarithm of each sample.",
        "mad_over_time" => "Median absolute deviation of the samples in the range.",
        "max_of" => "Largest of several durations (duration expressions).",
        "max_over_time" => "Largest sample in the range.",
        "min_of" => "Smallest of several durations (duration expressions).",
        "min_over_time" => "Smallest sample in the range.",
        "minute" => "Minute of the hour (0-59) of each timestamp, in UTC.",
        "month" => "Month of the year (1-12) of each timestamp, in UTC.",
        "pi" => "The number π.",
        "predict_linear" => "Predicted value t seconds ahead, by linear regression.",
        "present_over_time" => "1 for each series with any sample in the range.",
        "quantile_over_time" => "φ-quantile of the samples in the range.",
        "rad" => "Converts degrees to radians.",
        "range" => "Length of the query range (duration expressions).",
        "rate" => "Per-second average rate of increase of a counter over the range.",
        "resets" => "Number of counter resets within the range.",
        "round" => "Rounds each sample to the nearest multiple of to_nearest (default 1).",
        "scalar" => "The sample of a 1-element vector as a scalar, else NaN.",
        "sgn" => "Sign of each sample: -1, 0 or 1.",
        "sort" => "Sorts by sample value, ascending (instant queries).",
        "sort_by_label" => "Sorts by the values of the given labels, ascending.",
        "sort_by_label_desc" => "Sorts by the values of the given labels, descending.",
        "sort_desc" => "Sorts by sample value, descending (instant queries).",
        "sqrt" => "Square root of each sample.",
        "start" => "Start of the query range (duration expressions).",
        "start_timestamp" => "Start timestamp of each sample's counter (created timestamp).",
        "stddev_over_time" => "Population standard deviation of the samples in the range.",
        "stdvar_over_time" => "Population variance of the samples in the range.",
        "step" => "Step of the query (duration expressions).",
        "sum_over_time" => "Sum of all samples in the range.",
        "time" => "Evaluation time in seconds since the epoch.",
        "timestamp" => "Timestamp of each sample in seconds since the epoch.",
        "ts_of_first_over_time" => "Timestamp of the oldest sample in the range.",
        "ts_of_last_over_time" => "Timestamp of the newest sample in the range.",
        "ts_of_max_over_time" => "Timestamp of the largest sample in the range.",
        "ts_of_min_over_time" => "Timestamp of the smallest sample in the range.",
        "vector" => "The scalar as a vector without labels.",
        "year" => "Year of each timestamp, in UTC.",
        _ => "",
    }
}

/// Every aggregation operator with its one-line description.
pub const AGGREGATIONS: &[(AggregateOp, &str)] = &[
    (AggregateOp::Sum, "Sum over dimensions."),
    (AggregateOp::Min, "Minimum over dimensions."),
    (AggregateOp::Max, "Maximum over dimensions."),
    (AggregateOp::Avg, "Average over dimensions."),
    (
        AggregateOp::Group,
        "1 for each group (all values become 1).",
    ),
    (
        AggregateOp::Stddev,
        "Population standard deviation over dimensions.",
    ),
    (AggregateOp::Stdvar, "Population variance over dimensions."),
    (AggregateOp::Count, "Number of elements in the vector."),
    (
        AggregateOp::CountValues,
        "Number of elements with the same value.",
    ),
    (AggregateOp::Bottomk, "Smallest k elements by sample value."),
    (AggregateOp::Topk, "Largest k elements by sample value."),
    (
        AggregateOp::Quantile,
        "φ-quantile (0 ≤ φ ≤ 1) over dimensions.",
    ),
    (
        AggregateOp::Limitk,
        "k elements, chosen deterministically (experimental).",
    ),
    (
        AggregateOp::LimitRatio,
        "A ratio of elements, chosen deterministically (experimental).",
    ),
];

/// Keywords and set operators that may follow an expression, with what they do.
pub const KEYWORDS: &[(&str, &str)] = &[
    (
        "and",
        "Intersection: left-hand elements with a match on the right.",
    ),
    (
        "or",
        "Union: left-hand elements plus unmatched right-hand ones.",
    ),
    (
        "unless",
        "Complement: left-hand elements without a match on the right.",
    ),
    (
        "atan2",
        "Arc tangent of left / right, per matching element.",
    ),
    ("by", "Aggregate keeping only these labels."),
    ("without", "Aggregate dropping these labels."),
    ("on", "Match vectors on these labels only."),
    ("ignoring", "Match vectors ignoring these labels."),
    ("group_left", "Many-to-one matching: many on the left."),
    ("group_right", "One-to-many matching: many on the right."),
    ("bool", "Comparison returns 0 or 1 instead of filtering."),
    (
        "offset",
        "Shift the evaluation time back (or ahead) by a duration.",
    ),
];

/// Durations offered inside `[...]`.
pub const DURATIONS: &[&str] = &["1m", "5m", "10m", "15m", "30m", "1h", "6h", "1d", "1w"];

/// `rate(v range-vector) vector`-style signature from the function table.
pub fn signature(function: &Function) -> String {
    let names: Vec<String> = function
        .arg_types
        .iter()
        .enumerate()
        .map(|(index, value_type)| {
            let optional = function.variadic > 0
                && index >= function.arg_types.len() - function.variadic as usize;
            let repeated = function.variadic < 0 && index + 1 == function.arg_types.len();
            let mut text = type_name(*value_type).to_owned();
            if repeated {
                text.push_str("...");
            }
            if optional {
                text = format!("[{text}]");
            }
            text
        })
        .collect();
    format!(
        "{}({}) {}",
        function.name,
        names.join(", "),
        type_name(function.return_type)
    )
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Vector => "instant-vector",
        ValueType::Matrix => "range-vector",
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_promql::functions::{lookup, FUNCTIONS};

    #[test]
    fn every_function_has_a_description() {
        for function in FUNCTIONS {
            assert!(!function_doc(function.name).is_empty(), "{}", function.name);
        }
    }

    #[test]
    fn signatures_show_optional_and_repeated_arguments() {
        let signature_of = |name| signature(lookup(name).unwrap());
        assert_eq!(signature_of("rate"), "rate(range-vector) instant-vector");
        assert_eq!(
            signature_of("round"),
            "round(instant-vector, [scalar]) instant-vector"
        );
        assert_eq!(
            signature_of("label_join"),
            "label_join(instant-vector, string, string, string...) instant-vector"
        );
    }
}
