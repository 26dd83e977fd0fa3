//! The explain tree: a parsed query as nested nodes, each with its canonical text (which the
//! explain view can run on its own), what kind of node it is and what it does. Parentheses are
//! folded into what they hold.

use narthex_promql::ast::{Cardinality, Expr};
use narthex_promql::printer::format_matcher;

use crate::editor::docs::{function_doc, AGGREGATIONS};

/// One node of the tree.
#[derive(Clone, Debug, PartialEq)]
pub struct ExplainNode {
    /// The node as canonical PromQL.
    pub text: String,
    /// What kind of node, e.g. "aggregation: sum by (job)".
    pub title: String,
    /// What it does, in a sentence.
    pub detail: String,
    /// `instant vector`, `range vector`, `scalar` or `string`.
    pub value_type: &'static str,
    pub children: Vec<ExplainNode>,
}

pub fn explain(expr: &Expr) -> ExplainNode {
    if let Expr::Paren(paren) = expr {
        return explain(&paren.expr);
    }
    let (title, detail) = describe(expr);
    ExplainNode {
        text: expr.to_string(),
        title,
        detail,
        value_type: expr.value_type().as_str(),
        children: expr.children().map(explain).collect(),
    }
}

fn describe(expr: &Expr) -> (String, String) {
    match expr {
        Expr::Number(number) => (
            "number literal".to_owned(),
            format!("The scalar {}.", number.value),
        ),
        Expr::String(_) => ("string literal".to_owned(), "A string argument.".to_owned()),
        Expr::VectorSelector(selector) => (
            "vector selector".to_owned(),
            format!(
                "The latest sample within the lookback window of every series matching {}{}.",
                selector
                    .matchers
                    .iter()
                    .map(format_matcher)
                    .collect::<Vec<_>>()
                    .join(", "),
                offset_text(selector.offset)
            ),
        ),
        Expr::MatrixSelector(matrix) => (
            format!(
                "range selector [{}]",
                narthex_model::duration::format_duration(matrix.range)
            ),
            format!(
                "All samples of the last {} of every matching series{}.",
                narthex_model::duration::format_duration(matrix.range),
                offset_text(matrix.selector.offset)
            ),
        ),
        Expr::Subquery(subquery) => (
            "subquery".to_owned(),
            format!(
                "The inner query evaluated over the last {}{}.",
                narthex_model::duration::format_duration(subquery.range),
                subquery
                    .step
                    .map(|step| format!(
                        " every {}",
                        narthex_model::duration::format_duration(step)
                    ))
                    .unwrap_or_else(|| " at the default evaluation interval".to_owned())
            ),
        ),
        Expr::Paren(_) => ("parentheses".to_owned(), String::new()),
        Expr::Unary(unary) => (
            format!("unary {}", unary.op.as_str()),
            "Negates every value.".to_owned(),
        ),
        Expr::Binary(binary) => {
            let mut title = format!("binary operator {}", binary.op.as_str());
            if binary.return_bool {
                title.push_str(" bool");
            }
            let detail = match &binary.matching {
                None => "Applies the operator to the values.".to_owned(),
                Some(matching) => {
                    let labels = matching.labels.join(", ");
                    let how = if matching.on {
                        format!("on ({labels})")
                    } else if labels.is_empty() {
                        "on all labels".to_owned()
                    } else {
                        format!("ignoring ({labels})")
                    };
                    let cardinality = match matching.card {
                        Cardinality::OneToOne => "one-to-one",
                        Cardinality::ManyToOne => "many-to-one (group_left)",
                        Cardinality::OneToMany => "one-to-many (group_right)",
                        Cardinality::ManyToMany => "many-to-many",
                    };
                    format!("Matches series {how}, {cardinality}.")
                }
            };
            (title, detail)
        }
        Expr::Aggregate(aggregate) => {
            let grouping = if aggregate.without {
                format!(" without ({})", aggregate.grouping.join(", "))
            } else if aggregate.grouping.is_empty() {
                String::new()
            } else {
                format!(" by ({})", aggregate.grouping.join(", "))
            };
            let doc = AGGREGATIONS
                .iter()
                .find(|(op, _)| *op == aggregate.op)
                .map_or("", |(_, doc)| *doc);
            (
                format!("aggregation: {}{grouping}", aggregate.op.as_str()),
                doc.to_owned(),
            )
        }
        Expr::Call(call) => (
            format!("function: {}()", call.func.name),
            function_doc(call.func.name).to_owned(),
        ),
    }
}

fn offset_text(offset_ms: i64) -> String {
    match offset_ms {
        0 => String::new(),
        ms if ms > 0 => format!(", {} ago", narthex_model::duration::format_duration(ms)),
        ms => format!(", {} ahead", narthex_model::duration::format_duration(-ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_follows_the_query_without_parentheses() {
        let parsed = narthex_promql::parse(
            r#"sum by (job) (rate(http_requests_total{code="500"}[5m])) / on(job) group_left () (2 * x offset 1h)"#,
        )
        .unwrap();
        let tree = explain(&parsed);
        assert_eq!(tree.title, "binary operator /");
        assert_eq!(
            tree.detail,
            "Matches series on (job), many-to-one (group_left)."
        );
        assert_eq!(tree.value_type, "instant vector");
        let [sum, product] = &tree.children[..] else {
            panic!("{tree:?}")
        };
        assert_eq!(sum.title, "aggregation: sum by (job)");
        assert_eq!(
            sum.text,
            r#"sum by (job) (rate(http_requests_total{code="500"}[5m]))"#
        );
        let rate = &sum.children[0];
        assert_eq!(rate.title, "function: rate()");
        assert!(rate.detail.starts_with("Per-second"));
        assert_eq!(rate.children[0].title, "range selector [5m]");
        assert_eq!(rate.children[0].value_type, "range vector");
        // The parentheses around `2 * x offset 1h` are folded away.
        assert_eq!(product.title, "binary operator *");
        assert_eq!(product.children[0].title, "number literal");
        assert_eq!(product.children[1].title, "vector selector");
        assert_eq!(
            product.children[1].detail,
            r#"The latest sample within the lookback window of every series matching __name__="x", 1h ago."#
        );
    }
}
