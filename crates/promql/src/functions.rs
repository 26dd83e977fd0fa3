//! The table of PromQL functions with their signatures, as Prometheus 3's
//! `promql/parser/functions.go` declares them; the parser type-checks calls against it and the
//! engine dispatches on `Function::name`.
//!
//! Sorted by name so `lookup` can binary-search.

pub use crate::ast::Function;
use crate::ast::ValueType;

/// Functions whose result depends on the evaluation time even when their arguments do not
/// (Prometheus's `AtModifierUnsafeFunctions`): an expression calling one is never step-invariant.
pub const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// Every function Prometheus 3 knows, sorted by name. `experimental` ones need
/// `ParseOptions::experimental_functions` (`--enable-feature=promql-experimental-functions`).
pub static FUNCTIONS: &[Function] = &[
    Function {
        name: "abs",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "absent",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "absent_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "acos",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "acosh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "asin",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "asinh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "atan",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "atanh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "avg_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "ceil",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "changes",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "clamp",
        arg_types: &[ValueType::Vector, ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "clamp_max",
        arg_types: &[ValueType::Vector, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "clamp_min",
        arg_types: &[ValueType::Vector, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "cos",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "cosh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "count_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "day_of_month",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "day_of_week",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "day_of_year",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "days_in_month",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "deg",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "delta",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "deriv",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "double_exponential_smoothing",
        arg_types: &[ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "end",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: true,
    },
    Function {
        name: "exp",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "first_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "floor",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_avg",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_count",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_fraction",
        arg_types: &[ValueType::Scalar, ValueType::Scalar, ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_quantile",
        arg_types: &[ValueType::Scalar, ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_quantiles",
        arg_types: &[
            ValueType::Vector,
            ValueType::String,
            ValueType::Scalar,
            ValueType::Scalar,
        ],
        variadic: 9,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "histogram_stddev",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_stdvar",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "histogram_sum",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "hour",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "idelta",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "increase",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "info",
        arg_types: &[ValueType::Vector, ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "integral",
        arg_types: &[ValueType::Matrix, ValueType::Scalar],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "irate",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "label_join",
        arg_types: &[
            ValueType::Vector,
            ValueType::String,
            ValueType::String,
            ValueType::String,
        ],
        variadic: -1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "label_replace",
        arg_types: &[
            ValueType::Vector,
            ValueType::String,
            ValueType::String,
            ValueType::String,
            ValueType::String,
        ],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "last_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "ln",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "log10",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "log2",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "mad_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "max_of",
        arg_types: &[ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: true,
    },
    Function {
        name: "max_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "min_of",
        arg_types: &[ValueType::Scalar, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: true,
    },
    Function {
        name: "min_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "minute",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "month",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "pi",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: false,
    },
    Function {
        name: "predict_linear",
        arg_types: &[ValueType::Matrix, ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "present_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "quantile_over_time",
        arg_types: &[ValueType::Scalar, ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "rad",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "range",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: true,
    },
    Function {
        name: "rate",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "resets",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "round",
        arg_types: &[ValueType::Vector, ValueType::Scalar],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "scalar",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: false,
    },
    Function {
        name: "sgn",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "sin",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "sinh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "sort",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "sort_by_label",
        arg_types: &[ValueType::Vector, ValueType::String],
        variadic: -1,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "sort_by_label_desc",
        arg_types: &[ValueType::Vector, ValueType::String],
        variadic: -1,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "sort_desc",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "sqrt",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "start",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: true,
    },
    Function {
        name: "start_timestamp",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "stddev_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "stdvar_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "step",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: true,
    },
    Function {
        name: "sum_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "tan",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "tanh",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "time",
        arg_types: &[],
        variadic: 0,
        return_type: ValueType::Scalar,
        experimental: false,
    },
    Function {
        name: "timestamp",
        arg_types: &[ValueType::Vector],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "ts_of_first_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "ts_of_last_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "ts_of_max_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "ts_of_min_over_time",
        arg_types: &[ValueType::Matrix],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: true,
    },
    Function {
        name: "vector",
        arg_types: &[ValueType::Scalar],
        variadic: 0,
        return_type: ValueType::Vector,
        experimental: false,
    },
    Function {
        name: "year",
        arg_types: &[ValueType::Vector],
        variadic: 1,
        return_type: ValueType::Vector,
        experimental: false,
    },
];

/// The function called `name` (case-sensitive, as in Prometheus).
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .and_then(|i| FUNCTIONS.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in FUNCTIONS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} / {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn lookup_finds_every_function() {
        for f in FUNCTIONS {
            assert_eq!(lookup(f.name).map(|g| g.name), Some(f.name));
        }
        assert!(lookup("holt_winters").is_none());
        assert!(lookup("RATE").is_none());
        let rate = lookup("rate").expect("rate");
        assert_eq!(rate.arg_types, &[ValueType::Matrix]);
        assert!(!rate.experimental);
        assert!(lookup("sort_by_label").is_some_and(|f| f.experimental && f.variadic == -1));
        assert!(lookup("info").is_some_and(|f| f.experimental && f.variadic == 1));
    }
}
