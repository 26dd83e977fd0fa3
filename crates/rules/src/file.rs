//! Rule files: groups of recording and alerting rules, read and checked as Prometheus's
//! `rulefmt` does. Each rule is checked while it is read, so that serde_yaml places an error at
//! the rule's own line; errors name the file, the line and the reason.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use narthex_config::{Duration, LabelName};
use narthex_promql::ast::Expr;
use narthex_promql::ParseOptions;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A rule file that cannot be used, with the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum RuleFileError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("invalid rule_files pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

/// One file.
#[derive(Debug, Clone, Default)]
pub struct RuleFile {
    pub groups: Vec<GroupSpec>,
}

/// A group as written.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub name: String,
    /// The global `evaluation_interval` when unset.
    pub interval: Option<Duration>,
    /// The global `rule_query_offset` when unset.
    pub query_offset: Option<Duration>,
    /// At most this many series per recording rule or alerts per alerting rule; 0: no limit.
    pub limit: u64,
    /// Added to every rule's result, rule labels winning.
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<RuleSpec>,
}

/// A rule as written, checked.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub kind: RuleKind,
    /// The expression as written (shown by the API as Prometheus shows it: canonical form).
    pub expr_text: String,
    pub expr: Expr,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum RuleKind {
    Recording {
        record: String,
    },
    Alerting {
        alert: String,
        hold: Duration,
        keep_firing_for: Duration,
        annotations: BTreeMap<String, String>,
    },
}

impl RuleSpec {
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

/// Checks the template syntax of a label or annotation value of an alerting rule, given the
/// template's name (`__alert_<rule>`, as Prometheus names it) and its text.
pub type TemplateCheck = fn(template_name: &str, text: &str) -> Result<(), String>;

/// How rule files are read: PromQL feature flags and the template checker.
#[derive(Clone, Copy)]
pub struct ReadOptions {
    pub parse: ParseOptions,
    pub check_template: TemplateCheck,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            parse: ParseOptions::default(),
            check_template: crate::templates::check_template,
        }
    }
}

thread_local! {
    // serde's Deserialize has no context argument; the options of the file being read are
    // passed to the rule visitor this way.
    static READ_OPTIONS: std::cell::Cell<Option<ReadOptions>> = const { std::cell::Cell::new(None) };
}

fn read_options() -> ReadOptions {
    READ_OPTIONS.with(|o| o.get()).unwrap_or_default()
}

impl RuleFile {
    /// Parses the text of a rule file; `path` names it in errors.
    pub fn parse(text: &str, path: &str, options: ReadOptions) -> Result<RuleFile, RuleFileError> {
        let invalid = |message: String| RuleFileError::Invalid {
            path: path.to_string(),
            message,
        };
        if text.trim().is_empty() {
            return Ok(RuleFile::default());
        }
        READ_OPTIONS.with(|o| o.set(Some(options)));
        let raw: Result<RawRuleFile, _> = serde_yaml::from_str(text);
        READ_OPTIONS.with(|o| o.set(None));
        let raw = raw.map_err(|e| invalid(e.to_string()))?;
        let mut seen = std::collections::HashSet::new();
        for group in &raw.groups {
            if !seen.insert(group.name.as_str()) {
                return Err(invalid(format!(
                    "groupname: \"{}\" is repeated in the same file",
                    group.name
                )));
            }
        }
        Ok(RuleFile { groups: raw.groups })
    }

    /// Reads one file.
    pub fn load(path: &Path, options: ReadOptions) -> Result<RuleFile, RuleFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuleFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        RuleFile::parse(&text, &path.display().to_string(), options)
    }
}

/// The files matching `rule_files` patterns, in pattern order and name order within one, each
/// once.
pub fn expand_patterns(patterns: &[String]) -> Result<Vec<std::path::PathBuf>, RuleFileError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let paths = glob::glob(pattern).map_err(|e| RuleFileError::Pattern {
            pattern: pattern.clone(),
            message: e.to_string(),
        })?;
        for path in paths {
            let path = path.map_err(|e| RuleFileError::Pattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?;
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    Ok(files)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleFile {
    #[serde(default)]
    groups: Vec<GroupSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<Duration>,
    #[serde(default)]
    query_offset: Option<Duration>,
    #[serde(default)]
    limit: u64,
    #[serde(default)]
    labels: BTreeMap<LabelName, String>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

impl<'de> Deserialize<'de> for GroupSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(GroupVisitor)
    }
}

struct GroupVisitor;

impl<'de> Visitor<'de> for GroupVisitor {
    type Value = GroupSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a rule group")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<GroupSpec, A::Error> {
        let raw = RawGroup::deserialize(MapAccessDeserializer::new(map))?;
        if raw.name.is_empty() {
            return Err(de::Error::custom("groupname must not be empty"));
        }
        if raw.interval.is_some_and(|i| i.0 <= 0) {
            return Err(de::Error::custom(format!(
                "group {:?}: interval must be positive",
                raw.name
            )));
        }
        Ok(GroupSpec {
            name: raw.name,
            interval: raw.interval,
            query_offset: raw.query_offset,
            limit: raw.limit,
            labels: raw.labels.into_iter().map(|(k, v)| (k.0, v)).collect(),
            rules: raw.rules,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    #[serde(default)]
    expr: Option<String>,
    #[serde(default, rename = "for")]
    hold: Option<Duration>,
    #[serde(default)]
    keep_firing_for: Option<Duration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for RuleSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RuleVisitor)
    }
}

struct RuleVisitor;

impl<'de> Visitor<'de> for RuleVisitor {
    type Value = RuleSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a recording or alerting rule")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RuleSpec, A::Error> {
        let raw = RawRule::deserialize(MapAccessDeserializer::new(map))?;
        check_rule(raw, read_options()).map_err(de::Error::custom)
    }
}

/// Prometheus's `RuleNode.Validate`, with its messages.
fn check_rule(raw: RawRule, options: ReadOptions) -> Result<RuleSpec, String> {
    let name = raw
        .record
        .clone()
        .or_else(|| raw.alert.clone())
        .unwrap_or_default();
    let context = |message: String| {
        if name.is_empty() {
            message
        } else {
            format!("rule {name:?}: {message}")
        }
    };
    let kind = match (&raw.record, &raw.alert) {
        (Some(_), Some(_)) => {
            return Err(context(
                "only one of 'record' and 'alert' must be set".into(),
            ))
        }
        (None, None) => return Err("one of 'record' or 'alert' must be set".into()),
        (Some(record), None) => {
            if raw.hold.is_some() {
                return Err(context("invalid field 'for' in recording rule".into()));
            }
            if raw.keep_firing_for.is_some() {
                return Err(context(
                    "invalid field 'keep_firing_for' in recording rule".into(),
                ));
            }
            if !raw.annotations.is_empty() {
                return Err(context(
                    "invalid field 'annotations' in recording rule".into(),
                ));
            }
            if !is_metric_name(record) {
                return Err(context(format!("invalid recording rule name: {record}")));
            }
            RuleKind::Recording {
                record: record.clone(),
            }
        }
        (None, Some(alert)) => {
            if alert.is_empty() {
                return Err("one of 'record' or 'alert' must be set".into());
            }
            for (annotation, text) in &raw.annotations {
                if !LabelName::is_valid(annotation) {
                    return Err(context(format!("invalid annotation name: {annotation}")));
                }
                (options.check_template)(&format!("__alert_{alert}"), text)
                    .map_err(|e| context(format!("annotation {annotation:?}: {e}")))?;
            }
            RuleKind::Alerting {
                alert: alert.clone(),
                hold: raw.hold.unwrap_or(Duration(0)),
                keep_firing_for: raw.keep_firing_for.unwrap_or(Duration(0)),
                annotations: raw.annotations.clone(),
            }
        }
    };
    let expr_text = raw.expr.clone().unwrap_or_default();
    if expr_text.trim().is_empty() {
        return Err(context("field 'expr' must be set in rule".into()));
    }
    let expr = narthex_promql::parse_with(&expr_text, &options.parse)
        .map_err(|e| context(format!("could not parse expression: {e}")))?;
    for (label, value) in &raw.labels {
        if !LabelName::is_valid(label) {
            return Err(context(format!("invalid label name: {label}")));
        }
        if label == "__name__" {
            return Err(context("invalid label name: __name__".into()));
        }
        if matches!(kind, RuleKind::Recording { .. }) {
            continue;
        }
        (options.check_template)(&format!("__alert_{name}"), value)
            .map_err(|e| context(format!("label {label:?}: {e}")))?;
    }
    Ok(RuleSpec {
        kind,
        expr_text,
        expr,
        labels: raw.labels,
    })
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus's legacy metric name check.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"groups:
  - name: example
    interval: 30s
    labels: {team: core}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 30s
        keep_firing_for: 1m
        labels: {severity: page}
        annotations:
          summary: "Instance {{ $labels.instance }} down"
"#;

    fn parse(text: &str) -> Result<RuleFile, String> {
        RuleFile::parse(text, "rules.yml", ReadOptions::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_groups_and_rules() {
        let file = parse(GOOD).unwrap();
        let group = &file.groups[0];
        assert_eq!(group.name, "example");
        assert_eq!(group.interval, Some(Duration(30_000)));
        assert_eq!(group.labels["team"], "core");
        assert_eq!(group.rules[0].name(), "job:up:sum");
        match &group.rules[1].kind {
            RuleKind::Alerting {
                alert,
                hold,
                keep_firing_for,
                annotations,
            } => {
                assert_eq!(alert, "InstanceDown");
                assert_eq!(*hold, Duration(30_000));
                assert_eq!(*keep_firing_for, Duration(60_000));
                assert_eq!(
                    annotations["summary"],
                    "Instance {{ $labels.instance }} down"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("").unwrap().groups.len(), 0);
    }

    #[test]
    fn errors_name_file_line_and_reason() {
        let cases = [
            (
                "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n",
                "could not parse expression",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - record: r\n    alert: a\n    expr: up\n",
                "only one of 'record' and 'alert' must be set",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - expr: up\n",
                "one of 'record' or 'alert' must be set",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n",
                "invalid field 'for' in recording rule",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n",
                "invalid recording rule name",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - alert: a\n    expr: up\n    labels: {'1x': y}\n",
                "invalid label name: 1x",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - alert: a\n    exp: up\n",
                "unknown field `exp`",
                "line 5",
            ),
            (
                "groups:\n- name: g\n  rules:\n  - alert: a\n    expr: up\n    for: soon\n",
                "not a valid duration string",
                "line 4",
            ),
            (
                "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
                "groupname: \"g\" is repeated in the same file",
                "rules.yml",
            ),
            (
                "groups:\n- rules: []\n",
                "groupname must not be empty",
                "line 2",
            ),
        ];
        for (text, reason, place) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with("rules.yml: "), "{err}");
            assert!(err.contains(reason), "{text:?}: {err}");
            assert!(err.contains(place), "{text:?}: {err}");
        }
    }

    #[test]
    fn template_errors_are_found_at_load() {
        let options = ReadOptions {
            check_template: |_, text| {
                if text.contains("{{ broken") {
                    Err("unclosed action".into())
                } else {
                    Ok(())
                }
            },
            ..ReadOptions::default()
        };
        let text = "groups:\n- name: g\n  rules:\n  - alert: a\n    expr: up\n    annotations: {summary: '{{ broken'}\n";
        let err = RuleFile::parse(text, "r.yml", options)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("annotation \"summary\": unclosed action"),
            "{err}"
        );
        assert!(err.contains("line 4"), "{err}");
    }
}
