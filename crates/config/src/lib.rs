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

pub mod discovery;
pub mod http_client;
pub mod relabel;

use discovery::{DnsSdConfig, FileSdConfig, HttpSdConfig};
use http_client::{
    Authorization, BasicAuth, HttpClientConfig, HttpClientFields, Secret, TlsConfig,
};
use relabel::RelabelConfig;

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
    /// Globs of files holding more `scrape_configs`, read by `Config::load`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Where alerts go: read by the notifier (`narthex-notifier`).
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// Sections of Prometheus's file that Narthex reads but does not act on yet, kept so that
    /// an existing prometheus.yml loads unchanged; `sections_not_acted_on` names them for a
    /// warning at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_write: Option<OpaqueSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_read: Option<OpaqueSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<OpaqueSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<OpaqueSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<OpaqueSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<OpaqueSection>,
    /// How many of `scrape_configs` (at the end) came from `scrape_config_files`: left out
    /// when the file is printed, which names those files instead.
    #[serde(skip)]
    pub scrape_configs_from_files: usize,
}

/// A section kept as read. When printed, values under keys that hold secrets in Prometheus's
/// configuration (`password`, `credentials`, `bearer_token`, ...) are shown as `<secret>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct OpaqueSection(pub serde_yaml::Value);

const SECRET_KEYS: [&str; 7] = [
    "password",
    "credentials",
    "bearer_token",
    "client_secret",
    "secret_key",
    "key",
    "access_key",
];

impl Serialize for OpaqueSection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn masked(value: &serde_yaml::Value) -> serde_yaml::Value {
            match value {
                serde_yaml::Value::Mapping(map) => serde_yaml::Value::Mapping(
                    map.iter()
                        .map(|(k, v)| {
                            let secret = k.as_str().is_some_and(|k| SECRET_KEYS.contains(&k));
                            let v = if secret {
                                serde_yaml::Value::String(http_client::SECRET_MASK.into())
                            } else {
                                masked(v)
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                ),
                serde_yaml::Value::Sequence(items) => {
                    serde_yaml::Value::Sequence(items.iter().map(masked).collect())
                }
                other => other.clone(),
            }
        }
        masked(&self.0).serialize(serializer)
    }
}

/// A file named by `scrape_config_files`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigsFile {
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    /// 0 while unset in the file; `Config::parse` resolves it as Prometheus does.
    #[serde(default = "unset_duration")]
    pub scrape_timeout: Duration,
    pub scrape_protocols: Vec<ScrapeProtocol>,
    pub evaluation_interval: Duration,
    pub rule_query_offset: Duration,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<LabelName, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_log_file: Option<String>,
    /// Default limits of every scrape config; 0 means none.
    pub body_size_limit: ByteSize,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    /// How many dropped targets each pool keeps for the API; 0 keeps all.
    pub keep_dropped_targets: u64,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration(60_000),
            scrape_timeout: Duration(10_000),
            scrape_protocols: DEFAULT_SCRAPE_PROTOCOLS.to_vec(),
            evaluation_interval: Duration(60_000),
            rule_query_offset: Duration(0),
            external_labels: BTreeMap::new(),
            query_log_file: None,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
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
    /// The formats asked for, most preferred first; the global list when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    /// The format assumed when a target sends no or an unknown Content-Type; without it such a
    /// scrape fails, as in Prometheus 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default)]
    pub scheme: Scheme,
    /// URL query parameters sent with every scrape.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub track_timestamps_staleness: bool,
    #[serde(default = "default_true")]
    pub enable_compression: bool,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_true")]
    pub enable_http2: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::http_client::serialize_redacted_url_option"
    )]
    pub proxy_url: Option<String>,

    /// Limits, 0 meaning none; unset ones take the global value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_name_length_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_value_length_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<ByteSize>,
    /// How many dropped targets the API keeps for this pool; 0 keeps all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_dropped_targets: Option<u64>,

    /// Applied to each discovered target before it is scraped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to each scraped series before it is stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<RelabelConfig>,

    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
}

impl ScrapeConfig {
    pub fn interval(&self) -> Duration {
        self.scrape_interval.unwrap_or(Duration(60_000))
    }

    pub fn timeout(&self) -> Duration {
        self.scrape_timeout.unwrap_or(Duration(10_000))
    }

    /// The HTTP client settings, checked and combined (`Config::parse` has checked them once).
    pub fn http_client(&self) -> Result<HttpClientConfig, String> {
        HttpClientFields {
            basic_auth: &self.basic_auth,
            authorization: &self.authorization,
            bearer_token: &self.bearer_token,
            bearer_token_file: &self.bearer_token_file,
            tls_config: &self.tls_config,
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
            proxy_url: &self.proxy_url,
        }
        .resolve()
    }

    /// The formats to ask for (after `Config::parse` filled in the global list).
    pub fn protocols(&self) -> &[ScrapeProtocol] {
        self.scrape_protocols
            .as_deref()
            .unwrap_or(&DEFAULT_SCRAPE_PROTOCOLS)
    }

    /// The effective limits, after `Config::parse` filled in the global ones.
    pub fn limits(&self) -> ScrapeLimits {
        ScrapeLimits {
            sample_limit: self.sample_limit.unwrap_or(0),
            label_limit: self.label_limit.unwrap_or(0),
            label_name_length_limit: self.label_name_length_limit.unwrap_or(0),
            label_value_length_limit: self.label_value_length_limit.unwrap_or(0),
            target_limit: self.target_limit.unwrap_or(0),
            body_size_limit: self.body_size_limit.map_or(0, |b| b.0),
        }
    }
}

/// A scrape config's limits; 0 means unlimited, as in Prometheus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeLimits {
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub target_limit: u64,
    pub body_size_limit: u64,
}

/// An exposition format a scrape can ask for, named as in Prometheus's `scrape_protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum ScrapeProtocol {
    /// Accepted in configs so they load unchanged; Narthex does not ask for it (no native
    /// histograms), and the next protocol in the list is used.
    PrometheusProto,
    #[serde(rename = "OpenMetricsText0.0.1")]
    OpenMetricsText001,
    #[serde(rename = "OpenMetricsText1.0.0")]
    OpenMetricsText100,
    #[serde(rename = "PrometheusText0.0.4")]
    PrometheusText004,
    #[serde(rename = "PrometheusText1.0.0")]
    PrometheusText100,
}

impl ScrapeProtocol {
    /// The media type sent in the Accept header, `None` for the protobuf format.
    pub fn media_type(self) -> Option<&'static str> {
        match self {
            ScrapeProtocol::PrometheusProto => None,
            ScrapeProtocol::OpenMetricsText001 => {
                Some("application/openmetrics-text;version=0.0.1")
            }
            ScrapeProtocol::OpenMetricsText100 => {
                Some("application/openmetrics-text;version=1.0.0")
            }
            ScrapeProtocol::PrometheusText004 => Some("text/plain;version=0.0.4"),
            ScrapeProtocol::PrometheusText100 => Some("text/plain;version=1.0.0"),
        }
    }
}

/// Prometheus 3's default `scrape_protocols`.
pub const DEFAULT_SCRAPE_PROTOCOLS: [ScrapeProtocol; 4] = [
    ScrapeProtocol::OpenMetricsText100,
    ScrapeProtocol::OpenMetricsText001,
    ScrapeProtocol::PrometheusText100,
    ScrapeProtocol::PrometheusText004,
];

/// A byte size as Prometheus writes it (`10MB`, `1GiB`): units B, KB/KiB .. EB/EiB, each 1024
/// times the previous one; a bare `0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// Parses a [`ByteSize`].
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (B, KB, MB, GB, TB, PB, EB)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let power = match unit {
        "B" => 0,
        "KB" | "KiB" => 1,
        "MB" | "MiB" => 2,
        "GB" | "GiB" => 3,
        "TB" | "TiB" => 4,
        "PB" | "PiB" => 5,
        "EB" | "EiB" => 6,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use B, KB, MB, GB, TB, PB or EB)"
            ))
        }
    };
    number
        .checked_mul(1024u64.pow(power))
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 == 0 {
            return f.write_str("0");
        }
        let mut value = self.0;
        let mut unit = 0;
        while value.is_multiple_of(1024) && unit < UNITS.len() - 1 {
            value /= 1024;
            unit += 1;
        }
        write!(f, "{value}{}", UNITS[unit])
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_byte_size(&text)
            .map(ByteSize)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
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
    /// Applied to every alert (after the external labels are added) before it is queued; an
    /// alert they drop is sent to no Alertmanager.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers` entry: how a set of Alertmanagers is discovered and talked to.
///
/// Its checks (HTTP client settings) run while it is read so that an error names its line;
/// as for the discovery sections, the derive goes into an inherent function
/// (`remote = "Self"`) that the trait impl wraps with the check.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default = "default_path_prefix")]
    pub path_prefix: String,
    #[serde(default = "default_alertmanager_timeout")]
    pub timeout: Duration,
    #[serde(default)]
    pub api_version: AlertmanagerApiVersion,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_true")]
    pub enable_http2: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::http_client::serialize_redacted_url_option"
    )]
    pub proxy_url: Option<String>,

    /// Applied to each discovered Alertmanager, whose `__scheme__`, `__address__` and
    /// `__alerts_path__` make the URL alerts are posted to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to the alerts sent to this set only, after the global `alert_relabel_configs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_relabel_configs: Vec<RelabelConfig>,

    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
}

impl AlertmanagerConfig {
    /// The HTTP client settings, checked and combined (checked once already when read).
    pub fn http_client(&self) -> Result<HttpClientConfig, String> {
        HttpClientFields {
            basic_auth: &self.basic_auth,
            authorization: &self.authorization,
            bearer_token: &self.bearer_token,
            bearer_token_file: &self.bearer_token_file,
            tls_config: &self.tls_config,
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
            proxy_url: &self.proxy_url,
        }
        .resolve()
    }

    fn resolve_paths(&mut self, base: &Path) {
        resolve_client_paths(
            &mut self.basic_auth,
            &mut self.authorization,
            &mut self.bearer_token_file,
            &mut self.tls_config,
            base,
        );
        resolve_sd_paths(&mut self.file_sd_configs, &mut self.http_sd_configs, base);
    }
}

impl<'de> Deserialize<'de> for AlertmanagerConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let config = AlertmanagerConfig::deserialize(deserializer)?;
        config.http_client().map_err(serde::de::Error::custom)?;
        Ok(config)
    }
}

impl Serialize for AlertmanagerConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        AlertmanagerConfig::serialize(self, serializer)
    }
}

/// The Alertmanager API alerts are posted to. Prometheus 3 speaks v2 only and refuses `v1`
/// when the file is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertmanagerApiVersion {
    #[default]
    V2,
}

impl AlertmanagerApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertmanagerApiVersion::V2 => "v2",
        }
    }
}

impl<'de> Deserialize<'de> for AlertmanagerApiVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "v2" => Ok(AlertmanagerApiVersion::V2),
            _ => Err(serde::de::Error::custom(format!(
                "expected Alertmanager api version to be one of [v2] but got {text}"
            ))),
        }
    }
}

impl Serialize for AlertmanagerApiVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

fn default_path_prefix() -> String {
    "/".into()
}

fn default_alertmanager_timeout() -> Duration {
    Duration(10_000)
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

/// The scrape configs of every file matching `pattern`, in name order, their relative paths
/// resolved against their own file's directory.
fn read_scrape_config_files(pattern: &str) -> Result<Vec<ScrapeConfig>, String> {
    let paths = glob::glob(pattern)
        .map_err(|e| format!("scrape_config_files: invalid pattern {pattern:?}: {e}"))?;
    let mut found = Vec::new();
    for path in paths {
        let path = path.map_err(|e| format!("scrape_config_files: {e}"))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("scrape_config_files: cannot read {}: {e}", path.display()))?;
        let file: ScrapeConfigsFile = serde_yaml::from_str(&text)
            .map_err(|e| format!("scrape_config_files: {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for mut scrape in file.scrape_configs {
            scrape.resolve_paths(base);
            found.push(scrape);
        }
    }
    Ok(found)
}

/// As Prometheus: the list must not be empty nor name a protocol twice. Narthex also needs one
/// text protocol in it, since it does not ask for protobuf.
fn check_protocols(protocols: &[ScrapeProtocol]) -> Result<(), String> {
    if protocols.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    for (i, p) in protocols.iter().enumerate() {
        if protocols[..i].contains(p) {
            return Err(format!(
                "duplicated protocol in scrape_protocols, got {protocols:?}"
            ));
        }
    }
    if protocols.iter().all(|p| p.media_type().is_none()) {
        return Err(
            "scrape_protocols names only PrometheusProto, which Narthex does not support; add a text protocol"
                .into(),
        );
    }
    Ok(())
}

/// Makes a relative path relative to `base` (Prometheus resolves the paths in a configuration
/// file against the file's directory).
fn resolve(path: &mut String, base: &Path) {
    if !path.is_empty() && Path::new(path.as_str()).is_relative() {
        *path = base.join(path.as_str()).display().to_string();
    }
}

fn resolve_option(path: &mut Option<String>, base: &Path) {
    if let Some(path) = path {
        resolve(path, base);
    }
}

fn resolve_client_paths(
    basic_auth: &mut Option<BasicAuth>,
    authorization: &mut Option<Authorization>,
    bearer_token_file: &mut Option<String>,
    tls_config: &mut Option<TlsConfig>,
    base: &Path,
) {
    if let Some(basic) = basic_auth {
        resolve_option(&mut basic.username_file, base);
        resolve_option(&mut basic.password_file, base);
    }
    if let Some(auth) = authorization {
        resolve_option(&mut auth.credentials_file, base);
    }
    resolve_option(bearer_token_file, base);
    if let Some(tls) = tls_config {
        resolve_option(&mut tls.ca_file, base);
        resolve_option(&mut tls.cert_file, base);
        resolve_option(&mut tls.key_file, base);
    }
}

impl ScrapeConfig {
    fn resolve_paths(&mut self, base: &Path) {
        resolve_client_paths(
            &mut self.basic_auth,
            &mut self.authorization,
            &mut self.bearer_token_file,
            &mut self.tls_config,
            base,
        );
        resolve_sd_paths(&mut self.file_sd_configs, &mut self.http_sd_configs, base);
    }
}

fn resolve_sd_paths(file_sd: &mut [FileSdConfig], http_sd: &mut [HttpSdConfig], base: &Path) {
    for file_sd in file_sd {
        for file in &mut file_sd.files {
            resolve(file, base);
        }
    }
    for http_sd in http_sd {
        resolve_client_paths(
            &mut http_sd.basic_auth,
            &mut http_sd.authorization,
            &mut http_sd.bearer_token_file,
            &mut http_sd.tls_config,
            base,
        );
    }
}

impl Config {
    /// Reads and checks a file, with the files its `scrape_config_files` name; relative paths
    /// in it are taken relative to its directory, as Prometheus does.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse_in(&text, &path.display().to_string(), Some(base))
    }

    /// Parses and checks YAML text; `source_name` names it in errors. Relative paths stay
    /// relative to the working directory.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        Config::parse_in(text, source_name, None)
    }

    /// The sections present that Narthex reads but does not act on yet.
    pub fn sections_not_acted_on(&self) -> Vec<&'static str> {
        [
            ("remote_write", self.remote_write.is_some()),
            ("remote_read", self.remote_read.is_some()),
            ("storage", self.storage.is_some()),
            ("tracing", self.tracing.is_some()),
            ("otlp", self.otlp.is_some()),
            ("runtime", self.runtime.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect()
    }

    fn parse_in(text: &str, source_name: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            message,
        };
        let mut config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        if let Some(base) = base {
            for scrape in &mut config.scrape_configs {
                scrape.resolve_paths(base);
            }
            for rule_file in &mut config.rule_files {
                resolve(rule_file, base);
            }
            for pattern in &mut config.scrape_config_files {
                resolve(pattern, base);
            }
            for alertmanager in &mut config.alerting.alertmanagers {
                alertmanager.resolve_paths(base);
            }
        }
        for pattern in config.scrape_config_files.clone() {
            let from_files = read_scrape_config_files(&pattern).map_err(invalid)?;
            config.scrape_configs_from_files += from_files.len();
            config.scrape_configs.extend(from_files);
        }
        check_protocols(&config.global.scrape_protocols)
            .map_err(|e| invalid(format!("{e} in global scrape_protocols")))?;
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
            let global = &config.global;
            scrape
                .scrape_protocols
                .get_or_insert_with(|| global.scrape_protocols.clone());
            scrape.sample_limit.get_or_insert(global.sample_limit);
            scrape.label_limit.get_or_insert(global.label_limit);
            scrape
                .label_name_length_limit
                .get_or_insert(global.label_name_length_limit);
            scrape
                .label_value_length_limit
                .get_or_insert(global.label_value_length_limit);
            scrape.target_limit.get_or_insert(global.target_limit);
            scrape.body_size_limit.get_or_insert(global.body_size_limit);
            scrape
                .keep_dropped_targets
                .get_or_insert(global.keep_dropped_targets);
            check_protocols(scrape.protocols()).map_err(|e| {
                invalid(format!(
                    "{e} for scrape config with job name {:?}",
                    scrape.job_name
                ))
            })?;
            scrape.http_client().map_err(|e| {
                invalid(format!(
                    "{e} for scrape config with job name {:?}",
                    scrape.job_name
                ))
            })?;
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
        let mut shown = self.clone();
        let own = shown
            .scrape_configs
            .len()
            .saturating_sub(shown.scrape_configs_from_files);
        shown.scrape_configs.truncate(own);
        serde_yaml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
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

    #[test]
    fn full_scrape_config_reads_with_global_limits_filled_in() {
        let config = Config::parse(
            r#"
global:
  sample_limit: 1000
  body_size_limit: 10MB
  scrape_protocols: [PrometheusText0.0.4]
scrape_configs:
  - job_name: full
    metrics_path: /probe
    scheme: https
    params: {module: [http_2xx], target: [a, b]}
    basic_auth: {username: u, password: p}
    tls_config: {insecure_skip_verify: true, server_name: example.org}
    follow_redirects: false
    enable_compression: false
    label_limit: 30
    scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0]
    fallback_scrape_protocol: PrometheusText0.0.4
  - job_name: bearer
    bearer_token: s3cret
"#,
            "x",
        )
        .unwrap();
        let full = &config.scrape_configs[0];
        assert_eq!(full.params["target"], ["a", "b"]);
        assert_eq!(
            full.limits(),
            ScrapeLimits {
                sample_limit: 1000,
                label_limit: 30,
                body_size_limit: 10 << 20,
                ..ScrapeLimits::default()
            }
        );
        assert_eq!(
            full.protocols(),
            [
                ScrapeProtocol::PrometheusProto,
                ScrapeProtocol::OpenMetricsText100
            ]
        );
        let client = full.http_client().unwrap();
        assert!(!client.follow_redirects && client.tls_config.insecure_skip_verify);
        assert_eq!(
            config.scrape_configs[1].protocols(),
            [ScrapeProtocol::PrometheusText004]
        );
        let auth = config.scrape_configs[1]
            .http_client()
            .unwrap()
            .authorization;
        assert_eq!(auth.unwrap().credentials.unwrap().expose(), "s3cret");
        let yaml = config.to_yaml();
        assert!(
            yaml.contains("<secret>") && !yaml.contains("s3cret"),
            "{yaml}"
        );
    }

    #[test]
    fn bad_client_settings_and_protocols_name_the_job() {
        let err = error_of(
            "scrape_configs:\n - job_name: a\n   bearer_token: x\n   bearer_token_file: /f\n",
        );
        assert!(
            err.contains("bearer_token & bearer_token_file") && err.contains("\"a\""),
            "{err}"
        );
        let err = error_of("scrape_configs:\n - job_name: a\n   scrape_protocols: []\n");
        assert!(err.contains("scrape_protocols cannot be empty"), "{err}");
        let err = error_of("scrape_configs:\n - job_name: a\n   scrape_protocols: [Text]\n");
        assert!(
            err.contains("unknown variant `Text`") && err.contains("line 3"),
            "{err}"
        );
        let err = error_of("global:\n  body_size_limit: 10XB\n");
        assert!(
            err.contains("unknown unit") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn alerting_section_reads_as_prometheus_with_relabeling_and_client_settings() {
        let config = Config::parse(
            r#"
alerting:
  alert_relabel_configs:
    - source_labels: [severity]
      regex: debug
      action: drop
  alertmanagers:
    - scheme: https
      path_prefix: /am
      timeout: 3s
      api_version: v2
      bearer_token: s3cret
      tls_config: {insecure_skip_verify: true}
      follow_redirects: false
      relabel_configs:
        - source_labels: [__meta_x]
          target_label: __alerts_path__
      alert_relabel_configs:
        - target_label: team
          replacement: db
      static_configs: [{targets: ['am:9093']}]
    - file_sd_configs: [{files: [am/*.yml]}]
"#,
            "x",
        )
        .unwrap();
        let alerting = &config.alerting;
        assert_eq!(alerting.alert_relabel_configs.len(), 1);
        let first = &alerting.alertmanagers[0];
        assert_eq!(
            (first.scheme, first.path_prefix.as_str(), first.timeout),
            (Scheme::Https, "/am", Duration(3_000))
        );
        assert_eq!(first.api_version, AlertmanagerApiVersion::V2);
        assert_eq!(first.relabel_configs[0].target_label(), "__alerts_path__");
        assert_eq!(first.alert_relabel_configs[0].replacement(), "db");
        let client = first.http_client().unwrap();
        assert!(client.tls_config.insecure_skip_verify && !client.follow_redirects);
        assert_eq!(
            client.authorization.unwrap().credentials.unwrap().expose(),
            "s3cret"
        );
        // Prometheus's defaults.
        let second = &alerting.alertmanagers[1];
        assert_eq!(
            (second.scheme, second.path_prefix.as_str(), second.timeout),
            (Scheme::Http, "/", Duration(10_000))
        );
        assert_eq!(second.api_version.as_str(), "v2");
        assert!(second.http_client().unwrap().follow_redirects);
        let yaml = config.to_yaml();
        assert!(
            yaml.contains("<secret>") && !yaml.contains("s3cret"),
            "{yaml}"
        );
        let again = Config::parse(&yaml.replace("<secret>", "s3cret"), "rendered").unwrap();
        assert_eq!(config, again);
    }

    #[test]
    fn bad_alerting_settings_name_the_line() {
        let cases = [
            (
                "alerting:\n  alertmanagers:\n  - api_version: v1\n",
                "expected Alertmanager api version to be one of [v2] but got v1",
                "line 3",
            ),
            (
                "alerting:\n  alert_relabel_configs:\n  - action: bogus\n",
                "unknown relabel action",
                "line 3",
            ),
            (
                "alerting:\n  alertmanagers:\n  - static_configs: []\n    relabel_configs:\n    - action: hashmod\n      target_label: x\n",
                "requires non-zero modulus",
                "line 5",
            ),
            (
                "alerting:\n  alertmanagers:\n  - alert_relabel_configs:\n    - regex: '('\n",
                "error parsing regexp",
                "line 4",
            ),
            (
                "alerting:\n  alertmanagers:\n  - timeout: 1s\n    bearer_token: a\n    bearer_token_file: /b\n",
                "at most one of bearer_token & bearer_token_file",
                "line 3",
            ),
            (
                "alerting:\n  alertmanagers:\n  - static_configs: []\n    sigv5: {}\n",
                "unknown field `sigv5`",
                "line 4",
            ),
            (
                "alerting:\n  alertmanagers:\n  - scheme: ftp\n",
                "unknown variant `ftp`",
                "line 3",
            ),
        ];
        for (text, what, line) in cases {
            let err = error_of(text);
            assert!(err.contains(what) && err.contains(line), "{text:?}: {err}");
        }
    }

    #[test]
    fn alertmanager_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(
            &path,
            "alerting:\n  alertmanagers:\n  - file_sd_configs: [{files: [am/*.json, /abs/x.yml]}]\n    bearer_token_file: token\n    tls_config: {ca_file: ca.pem}\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        let am = &config.alerting.alertmanagers[0];
        let base = dir.path().display().to_string();
        assert_eq!(
            am.file_sd_configs[0].files,
            [format!("{base}/am/*.json"), "/abs/x.yml".to_string()]
        );
        assert_eq!(
            am.bearer_token_file.as_deref(),
            Some(format!("{base}/token").as_str())
        );
        let ca = am.tls_config.as_ref().and_then(|t| t.ca_file.as_deref());
        assert_eq!(ca, Some(format!("{base}/ca.pem").as_str()));
    }
}
