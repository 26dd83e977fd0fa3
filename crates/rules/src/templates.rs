//! Alert label and annotation templates expanded with `narthex-template` (Prometheus's Go
//! template language and functions), with `query` running against the rule engine's storage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use narthex_template::{Expander, QuerySample, TemplateData, TemplateError};

use crate::eval::{ExpandRequest, TemplateExpander};

/// The expander the server uses: Prometheus's templates, each parsed once (a rule's templates
/// are expanded for every alert at every evaluation).
#[derive(Default)]
pub struct GoTemplates {
    parsed: Mutex<HashMap<(String, String), Arc<Expander>>>,
}

impl GoTemplates {
    fn parsed(&self, name: &str, text: &str) -> Result<Arc<Expander>, TemplateError> {
        let key = (name.to_string(), text.to_string());
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(expander) = parsed.get(&key) {
            return Ok(expander.clone());
        }
        let expander = Arc::new(Expander::new(name, text)?);
        parsed.insert(key, expander.clone());
        Ok(expander)
    }
}

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
        let expanded = self
            .parsed(request.template_name, request.text)
            .and_then(|expander| expander.expand(&data, &query, request.ts));
        match expanded {
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
