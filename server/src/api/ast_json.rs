//! What `/api/v1/parse_query` returns: the syntax tree as Prometheus's `translateAST`
//! (`web/api/v1/translate_ast.go`, in its 3.13 form with duration expressions, extended range
//! selectors and fill modifiers) builds it for the UI's tree view.
//!
//! Prometheus builds Go maps and lets its JSON encoder write them, so object keys come out sorted;
//! `Json::Object` sorts them the same way (bytewise) when written. Numbers of number literals are
//! strings in Go's `FormatFloat(v, 'f', -1)`, durations are milliseconds, and a missing parameter,
//! matching or `@` modifier is `null`.

use std::fmt::Write as _;

use narthex_model::api::write_json_string;
use narthex_model::Matcher;
use narthex_promql::ast::{AtModifier, Cardinality, DurationExpr, UnaryOp, VectorSelector};
use narthex_promql::printer::format_number;
use narthex_promql::Expr;

/// A value Prometheus's JSON encoder refuses (it answers such a request with a 500).
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("json: unsupported value: {0}")]
pub struct UnsupportedValue(String);

/// A JSON value as Go's encoder writes the maps `translateAST` builds.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// A Go string that is not valid UTF-8: each invalid byte is written as `\ufffd`.
    Bytes(Vec<u8>),
    Array(Vec<Json>),
    Object(Vec<(&'static str, Json)>),
}

impl Json {
    fn str(s: &str) -> Json {
        Json::String(s.to_string())
    }

    fn strings(items: &[String]) -> Json {
        Json::Array(items.iter().map(|s| Json::str(s)).collect())
    }

    fn write(&self, out: &mut String) -> Result<(), UnsupportedValue> {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Float(f) => out.push_str(&go_json_float(*f)?),
            Json::String(s) => write_json_string(s, out),
            Json::Bytes(bytes) => {
                out.push('"');
                for chunk in bytes.utf8_chunks() {
                    let mut valid = String::new();
                    write_json_string(chunk.valid(), &mut valid);
                    // Without the quotes write_json_string put around it.
                    out.push_str(valid.get(1..valid.len() - 1).unwrap_or(""));
                    for _ in chunk.invalid() {
                        out.push_str("\\ufffd");
                    }
                }
                out.push('"');
            }
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out)?;
                }
                out.push(']');
            }
            Json::Object(fields) => {
                let mut sorted: Vec<&(&str, Json)> = fields.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, value)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(key, out);
                    out.push(':');
                    value.write(out)?;
                }
                out.push('}');
            }
        }
        Ok(())
    }
}

/// A float64 as Go's `encoding/json` writes it: plain decimal, exponent form below 1e-6 and from
/// 1e21 (`1e-7`, `1e+21`); NaN and the infinities are refused.
fn go_json_float(v: f64) -> Result<String, UnsupportedValue> {
    if !v.is_finite() {
        return Err(UnsupportedValue(format_number(v, false)));
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let rust = format!("{v:e}");
        return Ok(match rust.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => rust,
        });
    }
    Ok(format!("{v}"))
}

/// The `data` JSON of a `parse_query` answer.
pub fn to_json(expr: &Expr) -> Result<String, UnsupportedValue> {
    let mut out = String::new();
    translate(expr).write(&mut out)?;
    Ok(out)
}

fn translate(expr: &Expr) -> Json {
    match expr {
        Expr::Aggregate(a) => Json::Object(vec![
            ("type", Json::str("aggregation")),
            ("op", Json::str(a.op.as_str())),
            ("expr", translate(&a.expr)),
            ("param", a.param.as_deref().map_or(Json::Null, translate)),
            ("grouping", Json::strings(&a.grouping)),
            ("without", Json::Bool(a.without)),
        ]),
        Expr::Binary(b) => {
            let matching = match &b.matching {
                None => Json::Null,
                Some(m) => Json::Object(vec![
                    ("card", Json::str(cardinality(m.card))),
                    ("labels", Json::strings(&m.labels)),
                    ("on", Json::Bool(m.on)),
                    ("include", Json::strings(&m.include)),
                    (
                        "fillValues",
                        Json::Object(vec![
                            ("lhs", m.fill.lhs.map_or(Json::Null, Json::Float)),
                            ("rhs", m.fill.rhs.map_or(Json::Null, Json::Float)),
                        ]),
                    ),
                ]),
            };
            Json::Object(vec![
                ("type", Json::str("binaryExpr")),
                ("op", Json::str(b.op.as_str())),
                ("lhs", translate(&b.lhs)),
                ("rhs", translate(&b.rhs)),
                ("matching", matching),
                ("bool", Json::Bool(b.return_bool)),
            ])
        }
        Expr::Call(c) => Json::Object(vec![
            ("type", Json::str("call")),
            (
                "func",
                Json::Object(vec![
                    ("name", Json::str(c.func.name)),
                    (
                        "argTypes",
                        Json::Array(
                            c.func
                                .arg_types
                                .iter()
                                .map(|t| Json::str(t.internal_name()))
                                .collect(),
                        ),
                    ),
                    ("variadic", Json::Int(i64::from(c.func.variadic))),
                    ("returnType", Json::str(c.func.return_type.internal_name())),
                ]),
            ),
            ("args", Json::Array(c.args.iter().map(translate).collect())),
        ]),
        Expr::MatrixSelector(ms) => {
            let vs = &ms.selector;
            let (range, range_expr) = duration_field(ms.range, ms.range_expr.as_ref());
            let (offset, offset_expr) = duration_field(vs.offset, vs.offset_expr.as_ref());
            Json::Object(vec![
                ("type", Json::str("matrixSelector")),
                ("name", Json::str(vs.name.as_deref().unwrap_or(""))),
                ("range", range),
                ("rangeExpr", range_expr),
                ("offset", offset),
                ("offsetExpr", offset_expr),
                ("matchers", matchers(&vs.matchers)),
                ("timestamp", timestamp(vs.at)),
                ("startOrEnd", start_or_end(vs.at)),
                ("anchored", Json::Bool(vs.anchored)),
                ("smoothed", Json::Bool(vs.smoothed)),
            ])
        }
        Expr::Subquery(sq) => {
            let (range, range_expr) = duration_field(sq.range, sq.range_expr.as_ref());
            let (offset, offset_expr) = duration_field(sq.offset, sq.offset_expr.as_ref());
            let (step, step_expr) = duration_field(sq.step.unwrap_or(0), sq.step_expr.as_ref());
            Json::Object(vec![
                ("type", Json::str("subquery")),
                ("expr", translate(&sq.expr)),
                ("range", range),
                ("rangeExpr", range_expr),
                ("offset", offset),
                ("offsetExpr", offset_expr),
                ("step", step),
                ("stepExpr", step_expr),
                ("timestamp", timestamp(sq.at)),
                ("startOrEnd", start_or_end(sq.at)),
            ])
        }
        Expr::Number(n) => Json::Object(vec![
            ("type", Json::str("numberLiteral")),
            ("val", Json::String(format_number(n.value, false))),
        ]),
        Expr::Paren(p) => Json::Object(vec![
            ("type", Json::str("parenExpr")),
            ("expr", translate(&p.expr)),
        ]),
        Expr::String(s) => Json::Object(vec![
            ("type", Json::str("stringLiteral")),
            (
                "val",
                match &s.invalid_utf8 {
                    Some(bytes) => Json::Bytes(bytes.clone()),
                    None => Json::str(&s.value),
                },
            ),
        ]),
        Expr::Unary(u) => Json::Object(vec![
            ("type", Json::str("unaryExpr")),
            ("op", Json::str(u.op.as_str())),
            ("expr", translate(&u.expr)),
        ]),
        Expr::VectorSelector(vs) => vector_selector(vs),
    }
}

fn vector_selector(vs: &VectorSelector) -> Json {
    let (offset, offset_expr) = duration_field(vs.offset, vs.offset_expr.as_ref());
    Json::Object(vec![
        ("type", Json::str("vectorSelector")),
        ("name", Json::str(vs.name.as_deref().unwrap_or(""))),
        ("offset", offset),
        ("offsetExpr", offset_expr),
        ("matchers", matchers(&vs.matchers)),
        ("timestamp", timestamp(vs.at)),
        ("startOrEnd", start_or_end(vs.at)),
        ("anchored", Json::Bool(vs.anchored)),
        ("smoothed", Json::Bool(vs.smoothed)),
    ])
}

/// Go's `VectorMatchCardinality.String()`.
fn cardinality(card: Cardinality) -> &'static str {
    match card {
        Cardinality::OneToOne => "one-to-one",
        Cardinality::ManyToOne => "many-to-one",
        Cardinality::OneToMany => "one-to-many",
        Cardinality::ManyToMany => "many-to-many",
    }
}

/// Matchers in the parser's order (the name matcher last), with the regex as written.
fn matchers(matchers: &[Matcher]) -> Json {
    Json::Array(
        matchers
            .iter()
            .map(|m| {
                Json::Object(vec![
                    ("name", Json::str(&m.name)),
                    ("value", Json::str(&m.value)),
                    ("type", Json::str(m.op.as_str())),
                ])
            })
            .collect(),
    )
}

fn timestamp(at: Option<AtModifier>) -> Json {
    match at {
        Some(AtModifier::Timestamp(ms)) => Json::Int(ms),
        _ => Json::Null,
    }
}

fn start_or_end(at: Option<AtModifier>) -> Json {
    match at {
        Some(AtModifier::Start) => Json::str("start"),
        Some(AtModifier::End) => Json::str("end"),
        _ => Json::Null,
    }
}

/// A range, offset or step as (milliseconds, expression). A plain duration is the milliseconds
/// with a `null` expression; a duration expression is 0 with its tree, as Prometheus keeps it
/// unevaluated until a query runs. Parentheses around a single number are no expression there.
fn duration_field(ms: i64, expr: Option<&DurationExpr>) -> (Json, Json) {
    match expr.map(duration_node) {
        None => (Json::Int(ms), Json::Null),
        Some(DurationNode::Number { value, .. }) => (
            Json::Int(narthex_promql::ast::seconds_to_ms(value)),
            Json::Null,
        ),
        Some(node) => (Json::Int(0), node.into_json()),
    }
}

/// Prometheus's representation of a duration expression: number literals, and `DurationExpr`
/// nodes whose parentheses are a `wrapped` flag.
enum DurationNode {
    Number {
        value: f64,
        duration: bool,
    },
    Expr {
        op: &'static str,
        lhs: Option<Box<DurationNode>>,
        rhs: Option<Box<DurationNode>>,
        wrapped: bool,
    },
}

impl DurationNode {
    fn into_json(self) -> Json {
        match self {
            DurationNode::Number { value, duration } => Json::Object(vec![
                ("type", Json::str("numberLiteral")),
                ("val", Json::String(format_number(value, false))),
                ("duration", Json::Bool(duration)),
            ]),
            DurationNode::Expr {
                op,
                lhs,
                rhs,
                wrapped,
            } => Json::Object(vec![
                ("type", Json::str("durationExpr")),
                ("op", Json::str(op)),
                ("lhs", lhs.map_or(Json::Null, |n| n.into_json())),
                ("rhs", rhs.map_or(Json::Null, |n| n.into_json())),
                ("wrapped", Json::Bool(wrapped)),
            ]),
        }
    }
}

fn duration_node(expr: &DurationExpr) -> DurationNode {
    let node = |op, lhs: Option<&DurationExpr>, rhs: Option<&DurationExpr>| DurationNode::Expr {
        op,
        lhs: lhs.map(|e| Box::new(duration_node(e))),
        rhs: rhs.map(|e| Box::new(duration_node(e))),
        wrapped: false,
    };
    match expr {
        DurationExpr::Number {
            value, duration, ..
        } => DurationNode::Number {
            value: *value,
            duration: *duration,
        },
        DurationExpr::Step { .. } => node("step", None, None),
        DurationExpr::Range { .. } => node("range", None, None),
        // A unary minus has only a right-hand side; a unary plus is no node.
        DurationExpr::Unary {
            op: UnaryOp::Neg,
            expr,
            ..
        } => node("-", None, Some(expr)),
        DurationExpr::Unary { expr, .. } => duration_node(expr),
        DurationExpr::Binary { op, lhs, rhs, .. } => node(op.as_str(), Some(lhs), Some(rhs)),
        DurationExpr::MinOf { lhs, rhs, .. } => node("min_of", Some(lhs), Some(rhs)),
        DurationExpr::MaxOf { lhs, rhs, .. } => node("max_of", Some(lhs), Some(rhs)),
        DurationExpr::Paren { expr, .. } => match duration_node(expr) {
            DurationNode::Expr { op, lhs, rhs, .. } => DurationNode::Expr {
                op,
                lhs,
                rhs,
                wrapped: true,
            },
            number => number,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_promql::{parse_with, ParseOptions};

    fn tree(query: &str) -> String {
        to_json(&parse_with(query, &ParseOptions::all()).unwrap()).unwrap()
    }

    #[test]
    fn selectors() {
        assert_eq!(
            tree("foo{a=~\"b.*\"} offset 5m @ 10.5"),
            r#"{"anchored":false,"matchers":[{"name":"a","type":"=~","value":"b.*"},{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":300000,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":10500,"type":"vectorSelector"}"#
        );
        assert_eq!(
            tree("{__name__=\"x\"}[5m] @ start()"),
            r#"{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"","offset":0,"offsetExpr":null,"range":300000,"rangeExpr":null,"smoothed":false,"startOrEnd":"start","timestamp":null,"type":"matrixSelector"}"#
        );
    }

    #[test]
    fn operators_calls_and_literals() {
        assert_eq!(
            tree("sum by (job) (rate(x[1m])) / on (job) group_left (v) -y > bool 2"),
            concat!(
                r#"{"bool":true,"lhs":{"bool":false,"lhs":{"expr":{"args":[{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":0,"offsetExpr":null,"range":60000,"rangeExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"},"grouping":["job"],"op":"sum","param":null,"type":"aggregation","without":false},"#,
                r#""matching":{"card":"many-to-one","fillValues":{"lhs":null,"rhs":null},"include":["v"],"labels":["job"],"on":true},"op":"/","rhs":{"expr":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"y"}],"name":"y","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"op":"-","type":"unaryExpr"},"type":"binaryExpr"},"#,
                r#""matching":null,"op":"\u003e","rhs":{"type":"numberLiteral","val":"2"},"type":"binaryExpr"}"#
            )
        );
        assert_eq!(
            tree("(\"a<b\")"),
            r#"{"expr":{"type":"stringLiteral","val":"a\u003cb"},"type":"parenExpr"}"#
        );
        assert_eq!(
            tree("1e300"),
            format!(r#"{{"type":"numberLiteral","val":"1{}"}}"#, "0".repeat(300))
        );
        assert_eq!(
            tree("\"\\xff\""),
            r#"{"type":"stringLiteral","val":"\ufffd"}"#
        );
    }

    // The cases of Prometheus's translate_ast_test.go.
    #[test]
    fn duration_expressions() {
        assert_eq!(
            tree("foo[5m+1m] offset (10m/2)"),
            r#"{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":0,"offsetExpr":{"lhs":{"duration":true,"type":"numberLiteral","val":"600"},"op":"/","rhs":{"duration":false,"type":"numberLiteral","val":"2"},"type":"durationExpr","wrapped":true},"range":0,"rangeExpr":{"lhs":{"duration":true,"type":"numberLiteral","val":"300"},"op":"+","rhs":{"duration":true,"type":"numberLiteral","val":"60"},"type":"durationExpr","wrapped":false},"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}"#
        );
        assert_eq!(
            tree("foo offset -min_of(5s,step()+8s)"),
            r#"{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":0,"offsetExpr":{"lhs":null,"op":"-","rhs":{"lhs":{"duration":true,"type":"numberLiteral","val":"5"},"op":"min_of","rhs":{"lhs":{"lhs":null,"op":"step","rhs":null,"type":"durationExpr","wrapped":false},"op":"+","rhs":{"duration":true,"type":"numberLiteral","val":"8"},"type":"durationExpr","wrapped":false},"type":"durationExpr","wrapped":false},"type":"durationExpr","wrapped":false},"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"}"#
        );
        assert_eq!(
            tree("foo[4s+4s:1s*2] offset (5s-8)"),
            r#"{"expr":{"anchored":false,"matchers":[{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":0,"offsetExpr":null,"smoothed":false,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"},"offset":0,"offsetExpr":{"lhs":{"duration":true,"type":"numberLiteral","val":"5"},"op":"-","rhs":{"duration":false,"type":"numberLiteral","val":"8"},"type":"durationExpr","wrapped":true},"range":0,"rangeExpr":{"lhs":{"duration":true,"type":"numberLiteral","val":"4"},"op":"+","rhs":{"duration":true,"type":"numberLiteral","val":"4"},"type":"durationExpr","wrapped":false},"startOrEnd":null,"step":0,"stepExpr":{"lhs":{"duration":true,"type":"numberLiteral","val":"1"},"op":"*","rhs":{"duration":false,"type":"numberLiteral","val":"2"},"type":"durationExpr","wrapped":false},"timestamp":null,"type":"subquery"}"#
        );
        assert!(tree("foo[5m:1m]").ends_with(
            r#""range":300000,"rangeExpr":null,"startOrEnd":null,"step":60000,"stepExpr":null,"timestamp":null,"type":"subquery"}"#
        ));
    }

    #[test]
    fn fill_values_and_refused_floats() {
        let json = tree("a + fill_left (1e-7) b");
        assert!(
            json.contains(r#""fillValues":{"lhs":1e-7,"rhs":null}"#),
            "{json}"
        );
        let err = to_json(&parse_with("a + fill (NaN) b", &ParseOptions::all()).unwrap());
        assert_eq!(err, Err(UnsupportedValue("NaN".into())));
    }
}
