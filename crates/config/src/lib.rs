//! `prometheus.yml`: the structure of Prometheus's configuration file, its defaults and its
//! validation, as Prometheus's `config` package defines them.
//!
//! Unknown keys are refused (a typo must not silently mean "default"), and every value is checked
//! while it is read so that the error names the key and the line. Checks that span several
//! entries (duplicate job names, timeout above interval) run after reading and name the job.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use narthex_model::duration::{format_duration, parse_duration};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub mod relabel;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: GlobalConfig,
    /// Accepted and shown; evaluation of rule files arrives with the rule engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Accepted and shown; sending alerts arrives with the rule engine.
    #[serde(default)]
    pub alerting: AlertingConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    /// 0 while unset in the file; `Config::parse` resolves it as Prometheus does.
    #[serde(default = "unset_duration")]
    pub scrape_timeout: Duration,
    pub evaluation_interval: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<LabelName, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration(60_000),
            scrape_timeout: Duration(10_000),
            evaluation_interval: Duration(60_000),
            external_labels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    /// Defaults to the global value (filled in by `Config::parse`).
    #[serde(default)]
    pub scrape_interval: Option<Duration>,
    #[serde(default)]
    pub scrape_timeout: Option<Duration>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
}

impl ScrapeConfig {
    pub fn interval(&self) -> Duration {
        self.scrape_interval.unwrap_or(Duration(60_000))
    }

    pub fn timeout(&self) -> Duration {
        self.scrape_timeout.unwrap_or(Duration(10_000))
    }
}

fn unset_duration() -> Duration {
    Duration(0)
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<TargetAddress>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<LabelName, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default = "default_path_prefix")]
    pub path_prefix: String,
    #[serde(default = "default_alertmanager_timeout")]
    pub timeout: Duration,
    #[serde(default = "default_api_version")]
    pub api_version: String,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
}

fn default_path_prefix() -> String {
    "/".into()
}

fn default_alertmanager_timeout() -> Duration {
    Duration(10_000)
}

fn default_api_version() -> String {
    "v2".into()
}

/// A duration in milliseconds, written in Prometheus's form (`15s`, `1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Duration {
    pub fn as_millis(self) -> i64 {
        self.0
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// A label name, checked against `[a-zA-Z_][a-zA-Z0-9_]*` when read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LabelName(pub String);

impl LabelName {
    /// Whether `name` is a valid label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub fn is_valid(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if LabelName::is_valid(&name) {
            Ok(LabelName(name))
        } else {
            Err(serde::de::Error::custom(format!(
                "{name:?} is not a valid label name"
            )))
        }
    }
}

/// A scrape target `host:port`, checked when read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetAddress(pub String);

impl<'de> Deserialize<'de> for TargetAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let address = String::deserialize(deserializer)?;
        check_target_address(&address).map_err(serde::de::Error::custom)?;
        Ok(TargetAddress(address))
    }
}

fn check_target_address(address: &str) -> Result<(), String> {
    if address.contains('/') {
        return Err(format!(
            "{address:?} is not a valid target address: it must be host:port, without scheme or path"
        ));
    }
    if address.is_empty() || address.chars().any(char::is_whitespace) {
        return Err(format!("{address:?} is not a valid target address"));
    }
    Ok(())
}

impl Config {
    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and checks YAML text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            message,
        };
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        if config.global.scrape_timeout > config.global.scrape_interval {
            return Err(invalid(format!(
                "global scrape timeout {} greater than scrape interval {}",
                config.global.scrape_timeout, config.global.scrape_interval
            )));
        }
        // As Prometheus: an unset global timeout is 10s, or the interval when that is shorter.
        if config.global.scrape_timeout == Duration(0) {
            config.global.scrape_timeout = Duration(10_000).min(config.global.scrape_interval);
        }
        let mut seen = std::collections::HashSet::new();
        for scrape in &mut config.scrape_configs {
            if scrape.job_name.is_empty() {
                return Err(invalid("job_name is empty".into()));
            }
            if !seen.insert(scrape.job_name.clone()) {
                return Err(invalid(format!(
                    "found multiple scrape configs with job name {:?}",
                    scrape.job_name
                )));
            }
            let interval = *scrape
                .scrape_interval
                .get_or_insert(config.global.scrape_interval);
            // As Prometheus: an unset timeout takes the global one, capped at the interval.
            let timeout = *scrape
                .scrape_timeout
                .get_or_insert(config.global.scrape_timeout.min(interval));
            if timeout > interval {
                return Err(invalid(format!(
                    "scrape timeout {timeout} greater than scrape interval {interval} for scrape config with job name {:?}",
                    scrape.job_name
                )));
            }
            if interval.0 <= 0 {
                return Err(invalid(format!(
                    "scrape interval must be positive for scrape config with job name {:?}",
                    scrape.job_name
                )));
            }
            if !scrape.metrics_path.starts_with('/') {
                return Err(invalid(format!(
                    "metrics_path {:?} must start with '/' for scrape config with job name {:?}",
                    scrape.metrics_path, scrape.job_name
                )));
            }
        }
        Ok(config)
    }

    /// The configuration as YAML, as `/api/v1/status/config` shows it.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../tests/seed-prometheus.yml");

    #[test]
    fn seed_config_loads_unchanged() {
        let config = Config::parse(SEED, "prometheus.yml").unwrap();
        assert_eq!(config.global.scrape_interval, Duration(10_000));
        assert_eq!(config.global.evaluation_interval, Duration(10_000));
        let jobs: Vec<_> = config
            .scrape_configs
            .iter()
            .map(|s| {
                (
                    s.job_name.as_str(),
                    s.static_configs[0].targets[0].0.as_str(),
                )
            })
            .collect();
        assert_eq!(
            jobs,
            [("prometheus", "localhost:9090"), ("node", "exporter:9100")]
        );
        assert_eq!(config.scrape_configs[0].interval(), Duration(10_000));
        assert_eq!(config.scrape_configs[0].timeout(), Duration(10_000));
        assert_eq!(config.rule_files, ["rules.yml"]);
        assert_eq!(config.alerting.alertmanagers.len(), 1);
    }

    #[test]
    fn defaults_as_prometheus() {
        let config = Config::parse(
            "scrape_configs:\n - job_name: a\n   scrape_interval: 5s\n",
            "x",
        )
        .unwrap();
        let scrape = &config.scrape_configs[0];
        assert_eq!(scrape.metrics_path, "/metrics");
        assert_eq!(scrape.scheme, Scheme::Http);
        assert!(scrape.honor_timestamps);
        assert!(!scrape.honor_labels);
        // The global 10s timeout is capped at the job's 5s interval.
        assert_eq!(scrape.timeout(), Duration(5_000));
        assert_eq!(config.global.scrape_interval, Duration(60_000));
        assert_eq!(Config::parse("", "x").unwrap(), Config::default());
        assert_eq!(
            Config::parse("global: {}\n", "x").unwrap(),
            Config::default()
        );
    }

    fn error_of(text: &str) -> String {
        Config::parse(text, "bad.yml").unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let err = error_of("global:\n  scrape_interval: 5s\n  scrape_intervall: 5s\n");
        assert!(err.contains("unknown field `scrape_intervall`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("bad.yml"), "{err}");
        let err = error_of("scrape_configs:\n - job_name: a\n   static_config: []\n");
        assert!(err.contains("unknown field `static_config`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let cases = [
            ("global:\n  scrape_interval: 5x\n", "not a valid duration string", "line 2"),
            (
                "scrape_configs:\n - job_name: a\n   scheme: ftp\n",
                "unknown variant `ftp`",
                "line 3",
            ),
            (
                "scrape_configs:\n - job_name: a\n   static_configs:\n   - targets: ['http://x:1/metrics']\n",
                "not a valid target address",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   static_configs:\n   - labels: {1bad: x}\n",
                "not a valid label name",
                "line 4",
            ),
        ];
        for (text, what, line) in cases {
            let err = error_of(text);
            assert!(err.contains(what) && err.contains(line), "{text:?}: {err}");
        }
    }

    #[test]
    fn cross_entry_checks_name_the_job() {
        let err = error_of("scrape_configs:\n - job_name: a\n - job_name: a\n");
        assert!(
            err.contains("multiple scrape configs with job name \"a\""),
            "{err}"
        );
        let err = error_of(
            "scrape_configs:\n - job_name: a\n   scrape_interval: 5s\n   scrape_timeout: 10s\n",
        );
        assert!(err.contains("greater than scrape interval"), "{err}");
        assert!(err.contains("\"a\""), "{err}");
    }

    #[test]
    fn renders_back_to_yaml_that_parses_to_the_same() {
        let config = Config::parse(SEED, "x").unwrap();
        let again = Config::parse(&config.to_yaml(), "rendered").unwrap();
        assert_eq!(config, again);
    }

    #[test]
    fn an_unset_timeout_follows_a_short_interval_as_in_prometheus() {
        let config = Config::parse(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: a\n",
            "x",
        )
        .unwrap();
        assert_eq!(config.global.scrape_timeout, Duration(1000));
        assert_eq!(config.scrape_configs[0].timeout(), Duration(1000));
        let config = Config::parse("global:\n  scrape_interval: 30s\n", "x").unwrap();
        assert_eq!(config.global.scrape_timeout, Duration(10_000));
        let err = Config::parse(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 2s\n",
            "x",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("greater than scrape interval"), "{err}");
    }
}
