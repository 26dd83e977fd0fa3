//! What evaluating a rule needs from outside: running a PromQL query at a timestamp against the
//! storage, and expanding label and annotation templates.

use narthex_model::api::QueryData;
use narthex_model::{Labels, Storage};
use narthex_promql::ast::Expr;
use narthex_promql::Engine;

/// A rule expression's result: Prometheus accepts a vector or a scalar.
pub enum QueryOutput {
    Vector(Vec<(Labels, f64)>),
    Scalar(f64),
}

/// Expands one label or annotation template of an alert.
pub trait TemplateExpander: Send + Sync {
    /// The expanded text, or Prometheus's `<error expanding template: ...>` text on error.
    fn expand(&self, request: &ExpandRequest<'_>) -> String;
}

/// One template to expand with its data.
pub struct ExpandRequest<'a> {
    /// `__alert_<rule name>`, as Prometheus names the template.
    pub template_name: &'a str,
    pub text: &'a str,
    pub labels: &'a Labels,
    pub value: f64,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub ts: i64,
    pub ctx: &'a EvalContext<'a>,
}

/// Leaves templates as written; for tools that do not expand.
pub struct NoTemplates;

impl TemplateExpander for NoTemplates {
    fn expand(&self, request: &ExpandRequest<'_>) -> String {
        request.text.to_string()
    }
}

pub struct EvalContext<'a> {
    pub engine: &'a Engine,
    pub storage: &'a dyn Storage,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub templates: &'a dyn TemplateExpander,
}

impl EvalContext<'_> {
    /// Runs `expr` as an instant query at `ts`, as Prometheus's `EngineQueryFunc`.
    pub fn query(&self, expr: &Expr, ts: i64) -> Result<QueryOutput, String> {
        let querier = self.storage.querier();
        let result = self
            .engine
            .instant(querier.as_ref(), expr, ts)
            .map_err(|e| e.to_string())?;
        match result.data {
            QueryData::Vector(samples) => Ok(QueryOutput::Vector(
                samples
                    .into_iter()
                    .map(|(labels, s)| (labels, s.v))
                    .collect(),
            )),
            QueryData::Scalar(s) => Ok(QueryOutput::Scalar(s.v)),
            _ => Err("rule result is not a vector or scalar".into()),
        }
    }

    /// Runs a query given as text (templates' `query` function).
    pub fn query_text(&self, text: &str, ts: i64) -> Result<Vec<(Labels, f64)>, String> {
        let expr = narthex_promql::parse(text).map_err(|e| e.to_string())?;
        match self.query(&expr, ts)? {
            QueryOutput::Vector(samples) => Ok(samples),
            QueryOutput::Scalar(v) => Ok(vec![(Labels::default(), v)]),
        }
    }

    pub fn expand_template(
        &self,
        template_name: &str,
        text: &str,
        labels: &Labels,
        value: f64,
        ts: i64,
    ) -> String {
        self.templates.expand(&ExpandRequest {
            template_name,
            text,
            labels,
            value,
            external_labels: self.external_labels,
            external_url: self.external_url,
            ts,
            ctx: self,
        })
    }
}
