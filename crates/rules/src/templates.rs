//! Alert label and annotation templates expanded with `narthex-template` (Prometheus's Go
//! template language and functions), with `query` running against the rule engine's storage.

use narthex_template::{QuerySample, TemplateData};

use crate::eval::{ExpandRequest, TemplateExpander};

/// The expander the server uses: Prometheus's templates.
pub struct GoTemplates;

impl TemplateExpander for GoTemplates {
    fn expand(&self, request: &ExpandRequest<'_>) -> String {
        let data = TemplateData {
            labels: request.labels,
            external_labels: request.external_labels,
            external_url: request.external_url,
            value: request.value,
        };
        let query = |expr: &str, at_ms: i64| {
            request.ctx.query_text(expr, at_ms).map(|samples| {
                samples
                    .into_iter()
                    .map(|(labels, value)| QuerySample { labels, value })
                    .collect()
            })
        };
        match narthex_template::expand(
            request.template_name,
            request.text,
            &data,
            &query,
            request.ts,
        ) {
            Ok(text) => text,
            Err(e) => {
                // As Prometheus: the error goes into the label or annotation, and the log.
                tracing::warn!(template = request.template_name, error = %e, "expanding alert template failed");
                narthex_template::error_annotation(&e)
            }
        }
    }
}

/// The load-time syntax check of rule files (`ReadOptions::default`).
pub fn check_template(template_name: &str, text: &str) -> Result<(), String> {
    narthex_template::check(template_name, text).map_err(|e| e.detail().to_string())
}
