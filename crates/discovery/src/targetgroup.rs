//! Target groups, as Prometheus's `targetgroup.Group`, and the JSON/YAML list of groups that
//! file and HTTP service discovery read (`[{"targets": [...], "labels": {...}}]`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The label holding a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// A set of targets sharing labels, identified by its source within one provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Unique within the provider that produced it (`file:index`, `url:index`, the DNS name, or
    /// the static config's index), as in Prometheus.
    pub source: String,
    /// One label set per target, each with [`ADDRESS_LABEL`] and the mechanism's per-target
    /// `__meta_*` labels (DNS), which may be empty as in Prometheus.
    pub targets: Vec<BTreeMap<String, String>>,
    /// Labels common to every target, including per-source `__meta_*` labels (`__meta_filepath`,
    /// `__meta_url`).
    pub labels: BTreeMap<String, String>,
}

/// One entry of a file or HTTP SD document. Unknown keys are refused, as Prometheus's strict
/// YAML and `DisallowUnknownFields` JSON decoding do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Yaml,
}

/// Why a document of target groups was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GroupsError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("nil target group item found")]
    NullGroup,
    #[error("{0:?} is not a valid label name")]
    LabelName(String),
}

/// Parses a list of groups. Each group gets the source `{source_prefix}:{index}` and the label
/// `meta_label` = `meta_value` (`__meta_filepath`, `__meta_url`), as Prometheus sets them.
pub(crate) fn parse_groups(
    content: &[u8],
    format: Format,
    source_prefix: &str,
    meta_label: &str,
    meta_value: &str,
) -> Result<Vec<TargetGroup>, GroupsError> {
    let raw: Vec<Option<RawGroup>> = match format {
        Format::Json => serde_json::from_slice(content)?,
        // Go's YAML decoder reads an empty document as an empty list.
        Format::Yaml if content.iter().all(u8::is_ascii_whitespace) => Vec::new(),
        Format::Yaml => serde_yaml::from_slice(content)?,
    };
    raw.into_iter()
        .enumerate()
        .map(|(index, group)| {
            let group = group.ok_or(GroupsError::NullGroup)?;
            let mut labels = group.labels.unwrap_or_default();
            if let Some(bad) = labels.keys().find(|name| !valid_label_name(name)) {
                return Err(GroupsError::LabelName(bad.clone()));
            }
            labels.insert(meta_label.to_string(), meta_value.to_string());
            let targets = group
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|address| BTreeMap::from([(ADDRESS_LABEL.to_string(), address)]))
                .collect();
            Ok(TargetGroup {
                source: format!("{source_prefix}:{index}"),
                targets,
                labels,
            })
        })
        .collect()
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the rule the configuration file applies to label names too.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<Vec<TargetGroup>, GroupsError> {
        parse_groups(
            text.as_bytes(),
            Format::Yaml,
            "f.yml",
            "__meta_filepath",
            "f.yml",
        )
    }

    #[test]
    fn yaml_groups_with_sources_and_meta_label() {
        let groups = yaml(
            "- targets: ['a:1', 'b:2']\n  labels: {env: prod, port: 80}\n- targets: ['c:3']\n",
        )
        .unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "f.yml:0");
        assert_eq!(groups[1].source, "f.yml:1");
        assert_eq!(groups[0].targets[1][ADDRESS_LABEL], "b:2");
        assert_eq!(groups[0].labels["env"], "prod");
        // YAML scalars that look like numbers are label values like any other.
        assert_eq!(groups[0].labels["port"], "80");
        assert_eq!(groups[1].labels["__meta_filepath"], "f.yml");
        assert!(yaml("").unwrap().is_empty());
        assert!(yaml("[]").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        assert!(matches!(yaml("- ~\n"), Err(GroupsError::NullGroup)));
        assert!(matches!(
            yaml("- targets: [a]\n  labels: {'1x': y}\n"),
            Err(GroupsError::LabelName(name)) if name == "1x"
        ));
        let err = yaml("- targets: [a]\n  label: {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `label`"), "{err}");
        let err = parse_groups(
            br#"[{"targets": ["a"], "x": 1}]"#,
            Format::Json,
            "u",
            "m",
            "v",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `x`"), "{err}");
        assert!(parse_groups(br#"[{"labels": {"a": 1}}]"#, Format::Json, "u", "m", "v").is_err());
        assert!(parse_groups(b"", Format::Json, "u", "m", "v").is_err());
    }
}
