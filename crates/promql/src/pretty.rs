//! Prometheus's `Prettify` (`promql/parser/prettier.go`): what `/api/v1/format_query` returns and
//! what the UI's format button writes.
//!
//! An expression whose canonical form (`Expr`'s `Display`) fits in 100 characters is that form.
//! A longer one is split: operands of binary operators, arguments of calls and aggregations, and
//! the insides of parentheses go on their own lines, indented two spaces per level, and each is
//! split again if it is still too long. The pieces between them (an aggregation's `sum by (job) `,
//! a binary operator with its modifiers, a subquery's `[5m:1m] offset 1m`) are cut out of the
//! canonical form, which prints them exactly as Prometheus's `ShortString`, `getMatchingStr` and
//! `getSubqueryTimeSuffix` do.

use crate::ast::{AggregateExpr, BinaryExpr, Call, SubqueryExpr};
use crate::Expr;

/// Prometheus's `maxCharactersPerLine`.
const MAX_CHARACTERS_PER_LINE: usize = 100;

pub fn prettify(expr: &Expr) -> String {
    pretty(expr, 0)
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

fn pretty(expr: &Expr, level: usize) -> String {
    let text = expr.to_string();
    let split = text.len() > MAX_CHARACTERS_PER_LINE;
    match expr {
        Expr::Aggregate(a) if split => pretty_aggregate(a, &text, level),
        Expr::Binary(b) if split => pretty_binary(b, &text, level),
        Expr::Call(c) if split => pretty_call(c, level),
        Expr::Paren(p) if split => {
            format!("{0}(\n{1}\n{0})", indent(level), pretty(&p.expr, level + 1))
        }
        Expr::Subquery(sq) => pretty_subquery(sq, &text, split, level),
        Expr::Unary(u) => {
            // The operand is printed at the same level and its indent moved before the operator.
            let operand = pretty(&u.expr, level);
            format!("{}{}{}", indent(level), u.op.as_str(), operand.trim())
        }
        _ => format!("{}{text}", indent(level)),
    }
}

fn pretty_aggregate(a: &AggregateExpr, text: &str, level: usize) -> String {
    // The canonical form is `<op and grouping>(<param>, <expr>)`.
    let inner = match &a.param {
        Some(param) => format!("{param}, {}", a.expr),
        None => a.expr.to_string(),
    };
    let head = text
        .get(..text.len().saturating_sub(inner.len() + 2))
        .unwrap_or(a.op.as_str());
    let mut out = format!("{}{head}(\n", indent(level));
    if let Some(param) = &a.param {
        out.push_str(&pretty(param, level + 1));
        out.push_str(",\n");
    }
    out.push_str(&pretty(&a.expr, level + 1));
    out.push('\n');
    out.push_str(&indent(level));
    out.push(')');
    out
}

fn pretty_binary(b: &BinaryExpr, text: &str, level: usize) -> String {
    // The canonical form is `<lhs> <op>[ bool][ matching] <rhs>`.
    let lhs = b.lhs.to_string();
    let rhs = b.rhs.to_string();
    let operator = text
        .get(lhs.len() + 1..text.len().saturating_sub(rhs.len() + 1))
        .unwrap_or(b.op.as_str());
    format!(
        "{}\n{}{operator}\n{}",
        pretty(&b.lhs, level + 1),
        indent(level),
        pretty(&b.rhs, level + 1)
    )
}

fn pretty_call(c: &Call, level: usize) -> String {
    let args: Vec<String> = c.args.iter().map(|a| pretty(a, level + 1)).collect();
    format!(
        "{0}{1}(\n{2}\n{0})",
        indent(level),
        c.func.name,
        args.join(",\n")
    )
}

fn pretty_subquery(sq: &SubqueryExpr, text: &str, split: bool, level: usize) -> String {
    if !split {
        // Prometheus writes a short subquery without its indent.
        return text.to_string();
    }
    let inner = sq.expr.to_string();
    let suffix = text.get(inner.len()..).unwrap_or("");
    format!("{}{suffix}", pretty(&sq.expr, level))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(query: &str) -> String {
        prettify(&crate::parse(query).unwrap())
    }

    #[test]
    fn short_queries_are_the_canonical_form() {
        assert_eq!(
            format("sum(rate(foo{job=\"a\",a=\"b\"}[5m]))by(job)"),
            "sum by (job) (rate(foo{a=\"b\",job=\"a\"}[5m]))"
        );
        assert_eq!(format("-foo"), "-foo");
        assert_eq!(format("foo[5m:1m]"), "foo[5m:1m]");
    }

    // Worked out from prettier.go: operands one level deeper, operators at the parent's level.
    #[test]
    fn long_queries_are_split_as_prometheus_splits_them() {
        assert_eq!(
            format("first_very_long_metric_name_label_one_with_some_length + second_very_long_metric_name_label_two_with_some_more_length"),
            "  first_very_long_metric_name_label_one_with_some_length\n+\n  second_very_long_metric_name_label_two_with_some_more_length"
        );
        assert_eq!(
            format("sum without(job,foo) (task:errors:rate10s{job=\"s\"}) / sum without(job,foo) (task:requests:rate10s{job=\"s\"})"),
            "  sum without (job, foo) (task:errors:rate10s{job=\"s\"})\n/\n  sum without (job, foo) (task:requests:rate10s{job=\"s\"})"
        );
        assert_eq!(
            format("sum by (job) (rate(very_long_metric_name_number_one_for_testing{job=\"api\"}[5m]) * on(instance) group_left(version) very_long_metric_name_number_two{instance!=\"\"})"),
            "sum by (job) (\n    rate(very_long_metric_name_number_one_for_testing{job=\"api\"}[5m])\n  * on (instance) group_left (version)\n    very_long_metric_name_number_two{instance!=\"\"}\n)"
        );
        assert_eq!(
            format("label_replace(very_long_metric_name_number_one_for_testing_purposes{job=\"api\"}, \"dst\", \"$1\", \"src\", \"(.*)\")"),
            "label_replace(\n  very_long_metric_name_number_one_for_testing_purposes{job=\"api\"},\n  \"dst\",\n  \"$1\",\n  \"src\",\n  \"(.*)\"\n)"
        );
        assert_eq!(
            format("-(very_long_metric_name_number_one_for_testing_purposes_and_more + very_long_metric_name_number_two_for_testing_purposes_and_more)"),
            "-(\n    very_long_metric_name_number_one_for_testing_purposes_and_more\n  +\n    very_long_metric_name_number_two_for_testing_purposes_and_more\n)"
        );
        // A short subquery inside a split expression keeps no indent, as in Prometheus.
        assert_eq!(
            format("max_over_time(rate(very_long_metric_name_number_one_for_testing_purposes_and_even_more_text[1m])[10m:])"),
            "max_over_time(\nrate(very_long_metric_name_number_one_for_testing_purposes_and_even_more_text[1m])[10m:]\n)"
        );
    }
}
