//! `/api/v1/rules` and `/api/v1/alerts`: the rule groups with each rule's health and last
//! evaluation, and the pending and firing alerts, in Prometheus's JSON.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use narthex_model::duration::format_rfc3339_nanos;
use narthex_rules::rule::{Alert, AlertingRule, RecordingRule, RuleStatus};
use narthex_rules::{Group, Rule};
use serde::Serialize;

use super::{serde_success, success, to_json, ApiError, GoFloat, LabelMap, Params, TemplateMap};
use crate::server::AppState;

/// A time in milliseconds as Go's RFC 3339 with nanoseconds.
fn rfc3339_ms(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    format_rfc3339_nanos(Some(time))
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus writes alert values.
fn go_exponent_format(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let rust = format!("{v:e}");
    let (mantissa, exponent) = rust.split_once('e').unwrap_or((&rust, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertJson<'a> {
    labels: LabelMap<'a>,
    annotations: LabelMap<'a>,
    state: &'static str,
    active_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_since: Option<String>,
    value: String,
}

fn alert_json(alert: &Alert) -> AlertJson<'_> {
    AlertJson {
        labels: LabelMap(&alert.labels),
        annotations: LabelMap(&alert.annotations),
        state: alert.state.as_str(),
        active_at: rfc3339_ms(alert.active_at),
        keep_firing_since: alert.keep_firing_since.map(rfc3339_ms),
        value: go_exponent_format(alert.value),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertingRuleJson<'a> {
    state: &'static str,
    name: &'a str,
    query: String,
    duration: GoFloat,
    keep_firing_for: GoFloat,
    /// Templates as written, keys sorted, as Prometheus writes a label set.
    labels: TemplateMap<'a>,
    annotations: TemplateMap<'a>,
    alerts: Option<Vec<AlertJson<'a>>>,
    health: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    last_error: &'a str,
    evaluation_time: GoFloat,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingRuleJson<'a> {
    name: &'a str,
    query: String,
    /// Left out when empty, as Prometheus does (`omitempty`).
    #[serde(skip_serializing_if = "LabelMap::is_empty")]
    labels: LabelMap<'a>,
    health: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    last_error: &'a str,
    evaluation_time: GoFloat,
    last_evaluation: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum RuleJson<'a> {
    Alerting(AlertingRuleJson<'a>),
    Recording(RecordingRuleJson<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupJson<'a> {
    name: &'a str,
    file: &'a str,
    rules: Vec<RuleJson<'a>>,
    interval: GoFloat,
    limit: u64,
    evaluation_time: GoFloat,
    last_evaluation: String,
}

fn status_fields(status: &RuleStatus) -> (&'static str, &str, GoFloat, String) {
    (
        status.health.as_str(),
        &status.last_error,
        GoFloat(status.evaluation_time.as_secs_f64()),
        format_rfc3339_nanos(status.last_evaluation),
    )
}

fn alerting_json(rule: &AlertingRule, with_alerts: bool) -> AlertingRuleJson<'_> {
    let (health, last_error, evaluation_time, last_evaluation) = status_fields(&rule.status);
    AlertingRuleJson {
        state: rule.state().as_str(),
        name: &rule.name,
        query: rule.expr.to_string(),
        duration: GoFloat(rule.hold_ms as f64 / 1000.0),
        keep_firing_for: GoFloat(rule.keep_firing_for_ms as f64 / 1000.0),
        labels: TemplateMap(&rule.labels),
        annotations: TemplateMap(&rule.annotations),
        alerts: with_alerts.then(|| rule.active_alerts().into_iter().map(alert_json).collect()),
        health,
        last_error,
        evaluation_time,
        last_evaluation,
        kind: "alerting",
    }
}

fn recording_json(rule: &RecordingRule) -> RecordingRuleJson<'_> {
    let (health, last_error, evaluation_time, last_evaluation) = status_fields(&rule.status);
    RecordingRuleJson {
        name: &rule.name,
        query: rule.expr.to_string(),
        labels: LabelMap(&rule.labels),
        health,
        last_error,
        evaluation_time,
        last_evaluation,
        kind: "recording",
    }
}

/// `GET /api/v1/rules?type=alert|record&rule_name[]=&rule_group[]=&file[]=&exclude_alerts=`.
pub(super) async fn rules(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::parse_form(request).await?;
        // Both without case, as Prometheus lower-cases them first.
        let wanted_type = params.get("type").unwrap_or("").to_lowercase();
        let (want_alerting, want_recording) = match wanted_type.as_str() {
            "" => (true, true),
            "alert" => (true, false),
            "record" => (false, true),
            other => {
                return Err(ApiError::bad_param(
                    "type",
                    format!("not supported value {other:?}"),
                ))
            }
        };
        let names = params.get_all("rule_name[]");
        let group_names = params.get_all("rule_group[]");
        let files = params.get_all("file[]");
        // Go's strconv.ParseBool of the lower-cased value.
        let exclude_alerts = match params
            .get("exclude_alerts")
            .unwrap_or("")
            .to_lowercase()
            .as_str()
        {
            "" | "false" | "f" | "0" => false,
            "true" | "t" | "1" => true,
            other => {
                return Err(ApiError::bad_param(
                    "exclude_alerts",
                    format!(
                        "error converting exclude_alerts: strconv.ParseBool: parsing {other:?}: invalid syntax"
                    ),
                ))
            }
        };
        let json = state.rules.with_groups(|groups: &[&Group]| {
            let mut out = Vec::new();
            for group in groups {
                if !group_names.is_empty() && !group_names.contains(&group.name.as_str()) {
                    continue;
                }
                if !files.is_empty() && !files.contains(&group.file.as_str()) {
                    continue;
                }
                let rules: Vec<RuleJson<'_>> = group
                    .rules
                    .iter()
                    .filter(|rule| names.is_empty() || names.contains(&rule.name()))
                    .filter_map(|rule| match rule {
                        Rule::Alerting(r) if want_alerting => {
                            Some(RuleJson::Alerting(alerting_json(r, !exclude_alerts)))
                        }
                        Rule::Recording(r) if want_recording => {
                            Some(RuleJson::Recording(recording_json(r)))
                        }
                        _ => None,
                    })
                    .collect();
                // Groups without (matching) rules are not shown, as in Prometheus.
                if rules.is_empty() {
                    continue;
                }
                out.push(GroupJson {
                    name: &group.name,
                    file: &group.file,
                    rules,
                    interval: GoFloat(group.interval_ms as f64 / 1000.0),
                    limit: group.limit,
                    evaluation_time: GoFloat(group.evaluation_time.as_secs_f64()),
                    last_evaluation: format_rfc3339_nanos(group.last_evaluation),
                });
            }
            #[derive(Serialize)]
            struct Groups<'a> {
                groups: Vec<GroupJson<'a>>,
            }
            to_json(&Groups { groups: out })
        })?;
        Ok::<_, ApiError>(success(&json, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v1/alerts`: every pending or firing alert.
pub(super) async fn alerts(State(state): State<Arc<AppState>>) -> Response {
    let alerts = state.rules.active_alerts();
    #[derive(Serialize)]
    struct Alerts<'a> {
        alerts: Vec<AlertJson<'a>>,
    }
    serde_success(&Alerts {
        alerts: alerts.iter().map(alert_json).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_floats_as_go_writes_them() {
        let json = |v: f64| serde_json::to_string(&GoFloat(v)).unwrap();
        assert_eq!(json(1.0), "1");
        assert_eq!(json(60.0), "60");
        assert_eq!(json(0.5), "0.5");
        assert_eq!(json(0.000004), "0.000004");
        assert_eq!(json(0.0000004), "4e-7");
        assert_eq!(json(1e21), "1e+21");
        assert_eq!(json(0.0), "0");
    }

    #[test]
    fn alert_values_as_go_writes_them() {
        assert_eq!(go_exponent_format(1.0), "1e+00");
        assert_eq!(go_exponent_format(0.0), "0e+00");
        assert_eq!(go_exponent_format(1.5), "1.5e+00");
        assert_eq!(go_exponent_format(12345.0), "1.2345e+04");
        assert_eq!(go_exponent_format(0.001), "1e-03");
        assert_eq!(go_exponent_format(1e300), "1e+300");
        assert_eq!(go_exponent_format(f64::NAN), "NaN");
        assert_eq!(go_exponent_format(f64::NEG_INFINITY), "-Inf");
    }
}

#[derive(Serialize)]
struct AlertmanagerUrl<'a> {
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerDiscovery<'a> {
    active_alertmanagers: Vec<AlertmanagerUrl<'a>>,
    dropped_alertmanagers: Vec<AlertmanagerUrl<'a>>,
}

/// `GET /api/v1/alertmanagers`.
pub(super) async fn alertmanagers(State(state): State<Arc<AppState>>) -> Response {
    let urls = state.notifier.alertmanagers();
    let document = AlertmanagerDiscovery {
        active_alertmanagers: urls
            .active
            .iter()
            .map(|url| AlertmanagerUrl { url })
            .collect(),
        dropped_alertmanagers: urls
            .dropped
            .iter()
            .map(|url| AlertmanagerUrl { url })
            .collect(),
    };
    serde_success(&document)
}
