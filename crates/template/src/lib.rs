//! Prometheus's alert templates: the labels and annotations of alerting rules
//! (`{{ $labels.instance }} is down, value {{ $value | humanize }}`) expanded exactly as
//! Prometheus's `template/template.go` does, for the rule engine.
//!
//! This is Go's `text/template` language (a port of its lexer, parser and executor, typed as
//! Prometheus's data is typed) with Prometheus's functions and Go's output formats: numbers
//! print as Go's `fmt` prints them, a missing label is empty, errors read as Prometheus's.
//!
//! ```
//! use narthex_model::Labels;
//! use narthex_template::{expand, NoQuery, TemplateData};
//!
//! let labels = Labels::from_pairs([("instance", "db1:9100")]);
//! let data = TemplateData {
//!     labels: &labels,
//!     external_labels: &Labels::default(),
//!     external_url: "http://prometheus:9090",
//!     value: 1234567.0,
//! };
//! let text = "{{ $labels.instance }} is down, value {{ $value | humanize }}";
//! let out = expand("__alert_Down", text, &data, &NoQuery, 0).unwrap();
//! assert_eq!(out, "db1:9100 is down, value 1.235M");
//! ```

mod exec;
mod funcs;
mod gofmt;
mod gotime;
mod lex;
mod parse;
mod value;

use std::collections::HashSet;
use std::rc::Rc;

use narthex_model::Labels;

use crate::value::{AlertData, Value};

/// What Prometheus prepends to every label and annotation template of an alerting rule, so
/// that `$labels`, `$externalLabels`, `$externalURL` and `$value` exist.
pub const ALERT_PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// The data of one alert instance, the template's dot (`.Labels`, `.Value`...).
#[derive(Clone, Copy, Debug)]
pub struct TemplateData<'a> {
    /// The alert's labels (the series' labels from the rule's expression).
    pub labels: &'a Labels,
    /// The server's external labels (`global.external_labels`).
    pub external_labels: &'a Labels,
    /// `--web.external-url`: `.ExternalURL`, and what `externalURL` and `pathPrefix` return.
    pub external_url: &'a str,
    /// The alert's value.
    pub value: f64,
}

/// One element of a `query` result, as templates see it (`.Labels`, `.Value`).
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

/// Runs the PromQL queries of the `query` template function.
pub trait QueryFunc {
    /// The instant vector of `expr` evaluated at `at_ms` (the rule evaluation time). The
    /// error text appears in the expansion error as Prometheus shows it.
    fn query(&self, expr: &str, at_ms: i64) -> Result<Vec<QuerySample>, String>;
}

impl<F> QueryFunc for F
where
    F: Fn(&str, i64) -> Result<Vec<QuerySample>, String>,
{
    fn query(&self, expr: &str, at_ms: i64) -> Result<Vec<QuerySample>, String> {
        self(expr, at_ms)
    }
}

/// For expansions where no query engine is at hand: every `query` call fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoQuery;

impl QueryFunc for NoQuery {
    fn query(&self, _expr: &str, _at_ms: i64) -> Result<Vec<QuerySample>, String> {
        Err("queries are not available here".into())
    }
}

/// A template that could not be parsed or executed. `Display` is Prometheus's
/// `error parsing template NAME: ...` / `error executing template NAME: ...` text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("error parsing template {name}: {detail}")]
    Parse { name: String, detail: String },
    #[error("error executing template {name}: {detail}")]
    Execute { name: String, detail: String },
}

impl TemplateError {
    /// Go's own error text (`template: NAME:LINE: ...`), without the "error parsing template"
    /// wrapper: what Prometheus prints when a rule file's template does not parse.
    pub fn detail(&self) -> &str {
        match self {
            TemplateError::Parse { detail, .. } | TemplateError::Execute { detail, .. } => detail,
        }
    }
}

/// The text Prometheus puts in a label or annotation whose template failed:
/// `<error expanding template: error executing template ...>`.
pub fn error_annotation(error: &TemplateError) -> String {
    format!("<error expanding template: {error}>")
}

/// The name Prometheus gives the templates of alerting rule `rule_name`.
pub fn alert_template_name(rule_name: &str) -> String {
    format!("__alert_{rule_name}")
}

/// A label or annotation template, parsed once (with [`ALERT_PRELUDE`]) and expanded per
/// alert.
#[derive(Clone, Debug)]
pub struct Expander {
    name: String,
    text: String,
    trees: parse::Trees,
}

impl Expander {
    /// Parses `text` as template `name` (Prometheus names them `__alert_<rule name>`).
    pub fn new(name: &str, text: &str) -> Result<Expander, TemplateError> {
        let full = format!("{ALERT_PRELUDE}{text}");
        let funcs: HashSet<&str> = funcs::NAMES.iter().copied().collect();
        let trees = parse::parse(name, &full, &funcs).map_err(|e| TemplateError::Parse {
            name: name.to_string(),
            detail: e.0,
        })?;
        Ok(Expander {
            name: name.to_string(),
            text: full,
            trees,
        })
    }

    /// Expands the template for one alert; `now_ms` is the evaluation time (`now`, and the
    /// time `query` runs at).
    pub fn expand(
        &self,
        data: &TemplateData<'_>,
        query: &dyn QueryFunc,
        now_ms: i64,
    ) -> Result<String, TemplateError> {
        let dot = Value::Data(Rc::new(AlertData {
            labels: exec::label_map(data.labels),
            external_labels: exec::label_map(data.external_labels),
            external_url: Rc::from(data.external_url),
            value: data.value,
        }));
        self.execute(dot, query, now_ms, data.external_url)
    }

    fn execute(
        &self,
        dot: Value,
        query: &dyn QueryFunc,
        now_ms: i64,
        external_url: &str,
    ) -> Result<String, TemplateError> {
        let env = exec::Env {
            query,
            now_ms,
            external_url,
        };
        exec::execute(&self.name, &self.text, &self.trees, dot, &env).map_err(|detail| {
            TemplateError::Execute {
                name: self.name.clone(),
                detail,
            }
        })
    }

    /// Parses without the alert prelude, for Prometheus's own template tests.
    #[cfg(test)]
    fn without_prelude(name: &str, text: &str) -> Result<Expander, TemplateError> {
        let funcs: HashSet<&str> = funcs::NAMES.iter().copied().collect();
        let trees = parse::parse(name, text, &funcs).map_err(|e| TemplateError::Parse {
            name: name.to_string(),
            detail: e.0,
        })?;
        Ok(Expander {
            name: name.to_string(),
            text: text.to_string(),
            trees,
        })
    }
}

#[cfg(test)]
mod prometheus_tests;

/// Parses and expands `text` in one go, as Prometheus does for each alert.
pub fn expand(
    name: &str,
    text: &str,
    data: &TemplateData<'_>,
    query: &dyn QueryFunc,
    now_ms: i64,
) -> Result<String, TemplateError> {
    Expander::new(name, text)?.expand(data, query, now_ms)
}

/// Checks that `text` parses, as Prometheus checks labels and annotations when it loads a
/// rule file; the error's [`TemplateError::detail`] is the text Prometheus reports.
pub fn check(name: &str, text: &str) -> Result<(), TemplateError> {
    Expander::new(name, text).map(|_| ())
}
