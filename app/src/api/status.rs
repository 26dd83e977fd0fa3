//! The endpoints behind the operations pages: `/api/v1/targets`, `/api/v1/rules`, and
//! `/api/v1/status/{runtimeinfo,buildinfo,flags,config,tsdb}`, decoded into the shapes
//! Prometheus's API gives them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{fetch_data, ApiError};
use crate::series_format::Labels;

/// A target being scraped.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    #[serde(default)]
    pub discovered_labels: Labels,
    #[serde(default)]
    pub labels: Labels,
    pub scrape_pool: String,
    pub scrape_url: String,
    #[serde(default)]
    pub global_url: String,
    #[serde(default)]
    pub last_error: String,
    #[serde(default)]
    pub last_scrape: String,
    #[serde(default)]
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: String,
    #[serde(default)]
    pub scrape_interval: String,
    #[serde(default)]
    pub scrape_timeout: String,
}

/// A discovered target that relabeling dropped.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    #[serde(default)]
    pub discovered_labels: Labels,
    /// Prometheus 2 leaves it out; the pool is then `job` of the discovered labels.
    #[serde(default)]
    pub scrape_pool: String,
}

impl DroppedTarget {
    pub fn pool(&self) -> &str {
        if self.scrape_pool.is_empty() {
            self.discovered_labels.get("job").map_or("", String::as_str)
        } else {
            &self.scrape_pool
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    #[serde(default)]
    pub active_targets: Vec<ActiveTarget>,
    #[serde(default)]
    pub dropped_targets: Vec<DroppedTarget>,
    /// Per pool, how many were dropped in all: `keep_dropped_targets` may list fewer.
    #[serde(default)]
    pub dropped_target_counts: Option<BTreeMap<String, usize>>,
}

/// An alert of an alerting rule.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    pub state: String,
    #[serde(default)]
    pub active_at: Option<String>,
    #[serde(default)]
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRule {
    pub name: String,
    pub query: String,
    /// `inactive`, `pending` or `firing`.
    pub state: String,
    /// `for`, in seconds.
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub keep_firing_for: f64,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default)]
    pub alerts: Option<Vec<Alert>>,
    #[serde(flatten)]
    pub evaluation: RuleEvaluation,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRule {
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub labels: Labels,
    #[serde(flatten)]
    pub evaluation: RuleEvaluation,
}

/// How a rule's last evaluation went: the fields both kinds of rule carry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleEvaluation {
    pub health: String,
    #[serde(default)]
    pub last_error: String,
    #[serde(default)]
    pub evaluation_time: f64,
    #[serde(default)]
    pub last_evaluation: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rule {
    Alerting(AlertingRule),
    Recording(RecordingRule),
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Alerting(rule) => &rule.name,
            Rule::Recording(rule) => &rule.name,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroup {
    pub name: String,
    pub file: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Seconds.
    #[serde(default)]
    pub interval: f64,
    #[serde(default)]
    pub evaluation_time: f64,
    #[serde(default)]
    pub last_evaluation: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RuleGroups {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ConfigYaml {
    pub yaml: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct NameCount {
    pub name: String,
    pub value: u64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    #[serde(default)]
    pub num_label_pairs: u64,
    #[serde(default)]
    pub chunk_count: u64,
    #[serde(default)]
    pub min_time: i64,
    #[serde(default)]
    pub max_time: i64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStatus {
    pub head_stats: HeadStats,
    #[serde(default)]
    pub series_count_by_metric_name: Vec<NameCount>,
    #[serde(default)]
    pub label_value_count_by_label_name: Vec<NameCount>,
    #[serde(default)]
    pub memory_in_bytes_by_label_name: Vec<NameCount>,
    #[serde(default)]
    pub series_count_by_label_value_pair: Vec<NameCount>,
}

pub async fn targets() -> Result<Targets, ApiError> {
    fetch_data("/api/v1/targets").await
}

pub async fn rules(alerts_only: bool) -> Result<RuleGroups, ApiError> {
    fetch_data(if alerts_only {
        "/api/v1/rules?type=alert"
    } else {
        "/api/v1/rules"
    })
    .await
}

/// Runtime information: values of mixed types, shown as they come.
pub async fn runtime_info() -> Result<BTreeMap<String, serde_json::Value>, ApiError> {
    fetch_data("/api/v1/status/runtimeinfo").await
}

pub async fn build_info() -> Result<BTreeMap<String, String>, ApiError> {
    fetch_data("/api/v1/status/buildinfo").await
}

pub async fn flags() -> Result<BTreeMap<String, String>, ApiError> {
    fetch_data("/api/v1/status/flags").await
}

pub async fn config() -> Result<ConfigYaml, ApiError> {
    fetch_data("/api/v1/status/config").await
}

pub async fn tsdb_status() -> Result<TsdbStatus, ApiError> {
    fetch_data("/api/v1/status/tsdb").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::decode_response;

    #[test]
    fn targets_decode_as_prometheus_sends_them() {
        let body = r#"{"status":"success","data":{"activeTargets":[{"discoveredLabels":{"__address__":"localhost:9090","job":"prometheus"},"labels":{"instance":"localhost:9090","job":"prometheus"},"scrapePool":"prometheus","scrapeUrl":"http://localhost:9090/metrics","globalUrl":"http://host:9090/metrics","lastError":"","lastScrape":"2026-11-26T01:00:00.123Z","lastScrapeDuration":0.0042,"health":"up","scrapeInterval":"15s","scrapeTimeout":"10s"}],"droppedTargets":[{"discoveredLabels":{"__address__":"x:1","job":"node"}}],"droppedTargetCounts":{"node":1}}}"#;
        let (targets, _, _) = decode_response::<Targets>(200, body).expect("targets");
        assert_eq!(targets.active_targets[0].health, "up");
        assert_eq!(targets.active_targets[0].last_scrape_duration, 0.0042);
        assert_eq!(targets.dropped_targets[0].pool(), "node");
        assert_eq!(targets.dropped_target_counts.unwrap()["node"], 1);
    }

    #[test]
    fn rules_decode_both_kinds() {
        let body = r#"{"status":"success","data":{"groups":[{"name":"g","file":"rules.yml","rules":[
            {"state":"firing","name":"Up","query":"up == 1","duration":30,"keepFiringFor":0,"labels":{"severity":"page"},"annotations":{"summary":"s"},"alerts":[{"labels":{"alertname":"Up"},"annotations":{"summary":"s"},"state":"firing","activeAt":"2026-11-26T01:00:00Z","value":"1e+00"}],"health":"ok","evaluationTime":0.001,"lastEvaluation":"2026-11-26T01:00:01Z","type":"alerting"},
            {"name":"job:up:sum","query":"sum by (job) (up)","health":"ok","evaluationTime":0.0002,"lastEvaluation":"2026-11-26T01:00:01Z","type":"recording"}],
            "interval":15,"limit":0,"evaluationTime":0.0012,"lastEvaluation":"2026-11-26T01:00:01Z"}]}}"#;
        let (groups, _, _) = decode_response::<RuleGroups>(200, body).expect("rules");
        let group = &groups.groups[0];
        assert_eq!(group.interval, 15.0);
        let Rule::Alerting(alert) = &group.rules[0] else {
            panic!("{:?}", group.rules[0])
        };
        assert_eq!(alert.alerts.as_ref().unwrap()[0].value, "1e+00");
        assert_eq!(group.rules[1].name(), "job:up:sum");
        // Both kinds carry the same evaluation fields; a missing lastError is empty.
        let Rule::Recording(record) = &group.rules[1] else {
            panic!("{:?}", group.rules[1])
        };
        for (evaluation, took) in [(&alert.evaluation, 0.001), (&record.evaluation, 0.0002)] {
            assert_eq!(evaluation.health, "ok");
            assert_eq!(evaluation.last_error, "");
            assert_eq!(evaluation.evaluation_time, took);
            assert_eq!(evaluation.last_evaluation, "2026-11-26T01:00:01Z");
        }
    }

    #[test]
    fn tsdb_status_decodes() {
        let body = r#"{"status":"success","data":{"headStats":{"numSeries":5,"numLabelPairs":9,"chunkCount":5,"minTime":1,"maxTime":2},"seriesCountByMetricName":[{"name":"up","value":2}],"labelValueCountByLabelName":[],"memoryInBytesByLabelName":[],"seriesCountByLabelValuePair":[]}}"#;
        let (status, _, _) = decode_response::<TsdbStatus>(200, body).expect("tsdb");
        assert_eq!(status.head_stats.num_series, 5);
        assert_eq!(status.series_count_by_metric_name[0].value, 2);
    }
}
