//! Renders label sets the way Prometheus's UI and PromQL print them, e.g.
//! `up{instance="localhost:9090", job="prometheus"}`, so that a row can be
//! copied straight back into the expression input.

use std::collections::BTreeMap;

/// The label that carries a series' metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// A series' labels; a `BTreeMap` keeps label names sorted as Prometheus prints them.
pub type Labels = BTreeMap<String, String>;

/// Whether `name` can appear bare as a metric name in PromQL; anything else
/// (allowed since Prometheus 3's UTF-8 names) has to be quoted inside the braces.
fn is_legacy_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|rest| rest.is_ascii_alphanumeric() || rest == '_' || rest == ':')
}

/// Whether `name` can appear bare as a label name in PromQL.
fn is_legacy_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|rest| rest.is_ascii_alphanumeric() || rest == '_')
}

/// Quotes `text` as a PromQL double-quoted string literal.
fn quoted(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for character in text.chars() {
        match character {
            '\\' => literal.push_str(r"\\"),
            '"' => literal.push_str("\\\""),
            '\n' => literal.push_str(r"\n"),
            '\t' => literal.push_str(r"\t"),
            '\r' => literal.push_str(r"\r"),
            other => literal.push(other),
        }
    }
    literal.push('"');
    literal
}

fn label_name(name: &str) -> String {
    if is_legacy_label_name(name) {
        name.to_owned()
    } else {
        quoted(name)
    }
}

/// Formats a label set as `name{label="value", ...}`, or `{}` for a series
/// without labels (e.g. the result of `sum(up)`).
pub fn format_series(labels: &Labels) -> String {
    let metric_name = labels.get(METRIC_NAME_LABEL);
    let mut matchers: Vec<String> = Vec::with_capacity(labels.len() + 1);
    let mut rendered = String::new();
    match metric_name {
        Some(name) if is_legacy_metric_name(name) => rendered.push_str(name),
        Some(name) => matchers.push(quoted(name)),
        None => {}
    }
    matchers.extend(
        labels
            .iter()
            .filter(|(name, _)| name.as_str() != METRIC_NAME_LABEL)
            .map(|(name, value)| format!("{}={}", label_name(name), quoted(value))),
    );
    if matchers.is_empty() && metric_name.is_some() {
        return rendered;
    }
    rendered.push('{');
    rendered.push_str(&matchers.join(", "));
    rendered.push('}');
    rendered
}

#[cfg(test)]
mod tests {
    use super::{format_series, Labels};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn metric_name_comes_first_and_labels_are_sorted() {
        let up = labels(&[
            ("job", "prometheus"),
            ("__name__", "up"),
            ("instance", "localhost:9090"),
        ]);
        assert_eq!(
            format_series(&up),
            r#"up{instance="localhost:9090", job="prometheus"}"#
        );
    }

    #[test]
    fn a_bare_metric_name_has_no_braces() {
        assert_eq!(format_series(&labels(&[("__name__", "up")])), "up");
    }

    #[test]
    fn an_empty_label_set_prints_as_empty_braces() {
        assert_eq!(format_series(&Labels::new()), "{}");
        assert_eq!(
            format_series(&labels(&[("job", "node")])),
            r#"{job="node"}"#
        );
    }

    #[test]
    fn label_values_are_escaped_as_promql_strings() {
        let tricky = labels(&[("__name__", "m"), ("path", "C:\\dir \"x\"\n")]);
        assert_eq!(format_series(&tricky), r#"m{path="C:\\dir \"x\"\n"}"#);
    }

    #[test]
    fn utf8_names_are_quoted_inside_the_braces() {
        let dotted = labels(&[("__name__", "http.requests"), ("service.name", "api")]);
        assert_eq!(
            format_series(&dotted),
            r#"{"http.requests", "service.name"="api"}"#
        );
    }
}
