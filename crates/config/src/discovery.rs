//! The service discovery sections of a scrape or Alertmanager config: `file_sd_configs`,
//! `http_sd_configs` and `dns_sd_configs`, with Prometheus's defaults and the checks its
//! `UnmarshalYAML` methods run (same messages).
//!
//! The checks run while the YAML is read, so an error names the line of the offending entry.
//! serde cannot run a check after a derived `Deserialize` and still refuse unknown keys, so each
//! struct derives into an inherent function (`remote = "Self"`) and the trait impl wraps it with
//! the check.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::http_client::{
    Authorization, BasicAuth, HttpClientConfig, HttpClientFields, Secret, TlsConfig,
};
use crate::{default_true, Duration};

/// `file_sd_configs` entry: target groups read from JSON or YAML files.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths or patterns; only the last path component may hold a `*`.
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default = "default_file_refresh")]
    pub refresh_interval: Duration,
}

/// `http_sd_configs` entry: target groups fetched as JSON from a URL.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct HttpSdConfig {
    #[serde(default, serialize_with = "crate::http_client::serialize_redacted_url")]
    pub url: String,
    #[serde(default = "default_http_refresh")]
    pub refresh_interval: Duration,

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
}

/// `dns_sd_configs` entry: targets from DNS records, looked up every `refresh_interval`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct DnsSdConfig {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(rename = "type", default)]
    pub kind: DnsRecordType,
    /// The port of every target for all types but SRV, whose records carry their own.
    #[serde(default)]
    pub port: u16,
    #[serde(default = "default_dns_refresh")]
    pub refresh_interval: Duration,
}

/// The record types DNS service discovery can ask for; written in any case in the file, as
/// Prometheus upper-cases it before comparing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DnsRecordType {
    #[default]
    Srv,
    A,
    Aaaa,
    Mx,
    Ns,
}

impl DnsRecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            DnsRecordType::Srv => "SRV",
            DnsRecordType::A => "A",
            DnsRecordType::Aaaa => "AAAA",
            DnsRecordType::Mx => "MX",
            DnsRecordType::Ns => "NS",
        }
    }
}

impl<'de> Deserialize<'de> for DnsRecordType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_uppercase().as_str() {
            "SRV" => Ok(DnsRecordType::Srv),
            "A" => Ok(DnsRecordType::A),
            "AAAA" => Ok(DnsRecordType::Aaaa),
            "MX" => Ok(DnsRecordType::Mx),
            "NS" => Ok(DnsRecordType::Ns),
            _ => Err(serde::de::Error::custom(format!(
                "invalid DNS-SD records type {text}"
            ))),
        }
    }
}

impl Serialize for DnsRecordType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

fn default_file_refresh() -> Duration {
    Duration(5 * 60_000)
}

fn default_http_refresh() -> Duration {
    Duration(60_000)
}

fn default_dns_refresh() -> Duration {
    Duration(30_000)
}

/// Prometheus takes a zero interval and then panics in its ticker; refusing it here is the
/// readable form of that.
fn check_refresh_interval(interval: Duration) -> Result<(), String> {
    if interval.0 <= 0 {
        return Err(format!(
            "refresh_interval must be greater than 0, got {interval}"
        ));
    }
    Ok(())
}

/// Prometheus's `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`: a JSON or YAML file name, with
/// a `*` allowed only in the last path component.
fn valid_file_sd_name(name: &str) -> bool {
    let has_extension = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
        .iter()
        .any(|ext| name.ends_with(ext));
    let star_in_last_component = match name.find('*') {
        Some(star) => !name[star..].contains('/'),
        None => true,
    };
    has_extension && star_in_last_component
}

impl FileSdConfig {
    fn check(&self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        for name in &self.files {
            if !valid_file_sd_name(name) {
                return Err(format!(
                    "path name {name:?} is not valid for file discovery"
                ));
            }
        }
        check_refresh_interval(self.refresh_interval)
    }
}

impl HttpSdConfig {
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

    fn check(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("URL is missing".into());
        }
        match url::Url::parse(&self.url) {
            Ok(parsed) => {
                if parsed.scheme() != "http" && parsed.scheme() != "https" {
                    return Err("URL scheme must be 'http' or 'https'".into());
                }
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err("host is missing in URL".into());
                }
            }
            // Go's parser takes a URL without scheme and then fails the scheme check.
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                return Err("URL scheme must be 'http' or 'https'".into())
            }
            Err(url::ParseError::EmptyHost) => return Err("host is missing in URL".into()),
            Err(e) => return Err(format!("invalid URL {:?}: {e}", self.url)),
        }
        check_refresh_interval(self.refresh_interval)?;
        self.http_client().map(|_| ())
    }
}

impl DnsSdConfig {
    fn check(&self) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        if self.kind != DnsRecordType::Srv && self.port == 0 {
            return Err(
                "a port is required in DNS-SD configs for all record types except SRV".into(),
            );
        }
        check_refresh_interval(self.refresh_interval)
    }
}

/// The trait impls around the derived inherent functions: deserialize, then check.
macro_rules! checked_serde {
    ($ty:ident) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let config = $ty::deserialize(deserializer)?;
                config.check().map_err(serde::de::Error::custom)?;
                Ok(config)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, serializer)
            }
        }
    };
}

checked_serde!(FileSdConfig);
checked_serde!(HttpSdConfig);
checked_serde!(DnsSdConfig);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, "sd.yml").map_err(|e| e.to_string())
    }

    #[test]
    fn reads_all_three_with_prometheus_defaults() {
        let config = parse(
            r#"
scrape_configs:
  - job_name: sd
    file_sd_configs:
      - files: [targets/*.json, 'static.yml']
    http_sd_configs:
      - url: https://sd.example.org/targets
        basic_auth: {username: u, password_file: /etc/pw}
        tls_config: {insecure_skip_verify: true}
    dns_sd_configs:
      - names: [_node._tcp.example.org]
      - names: [web.example.org]
        type: aaaa
        port: 9100
        refresh_interval: 1m
alerting:
  alertmanagers:
    - dns_sd_configs:
        - names: [_am._tcp.example.org]
"#,
        )
        .unwrap();
        let job = &config.scrape_configs[0];
        assert_eq!(
            job.file_sd_configs[0].files,
            ["targets/*.json", "static.yml"]
        );
        assert_eq!(job.file_sd_configs[0].refresh_interval, Duration(300_000));
        let http = &job.http_sd_configs[0];
        assert_eq!(http.refresh_interval, Duration(60_000));
        let client = http.http_client().unwrap();
        assert!(client.tls_config.insecure_skip_verify && client.follow_redirects);
        assert_eq!(
            client.basic_auth.unwrap().password_file.as_deref(),
            Some("/etc/pw")
        );
        let dns = &job.dns_sd_configs;
        assert_eq!(
            (dns[0].kind, dns[0].port, dns[0].refresh_interval),
            (DnsRecordType::Srv, 0, Duration(30_000))
        );
        assert_eq!(
            (dns[1].kind, dns[1].port, dns[1].refresh_interval),
            (DnsRecordType::Aaaa, 9100, Duration(60_000))
        );
        let am = &config.alerting.alertmanagers[0];
        assert_eq!(am.dns_sd_configs[0].names, ["_am._tcp.example.org"]);
        assert!(am.file_sd_configs.is_empty() && am.http_sd_configs.is_empty());
    }

    #[test]
    fn renders_back_and_omits_empty_lists() {
        let text = "scrape_configs:\n  - job_name: sd\n    dns_sd_configs:\n      - names: [a.example.org]\n        type: MX\n        port: 25\n";
        let config = parse(text).unwrap();
        let yaml = config.to_yaml();
        assert!(!yaml.contains("file_sd_configs"), "{yaml}");
        assert!(yaml.contains("type: MX"), "{yaml}");
        assert_eq!(parse(&yaml).unwrap(), config);
    }

    #[test]
    fn prometheus_checks_name_the_line() {
        let cases = [
            (
                "scrape_configs:\n - job_name: a\n   file_sd_configs:\n   - files: []\n",
                "must contain at least one path name",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   file_sd_configs:\n   - files: [a/*/b.json]\n",
                "path name \"a/*/b.json\" is not valid for file discovery",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   file_sd_configs:\n   - files: [targets.txt]\n",
                "not valid for file discovery",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   file_sd_configs:\n   - files: [t.json]\n     refresh_intervall: 1m\n",
                "unknown field `refresh_intervall`",
                "line 5",
            ),
            (
                "scrape_configs:\n - job_name: a\n   http_sd_configs:\n   - refresh_interval: 1m\n",
                "URL is missing",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   http_sd_configs:\n   - url: ftp://x/y\n",
                "URL scheme must be 'http' or 'https'",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   http_sd_configs:\n   - url: sd.example.org/x\n",
                "URL scheme must be 'http' or 'https'",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   http_sd_configs:\n   - url: 'http://'\n",
                "host is missing in URL",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   http_sd_configs:\n   - url: http://x/\n     bearer_token: t\n     bearer_token_file: /f\n",
                "at most one of bearer_token & bearer_token_file",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   http_sd_configs:\n   - url: http://x/\n     scheme: https\n",
                "unknown field `scheme`",
                "line 5",
            ),
            (
                "scrape_configs:\n - job_name: a\n   dns_sd_configs:\n   - names: []\n",
                "DNS-SD config must contain at least one SRV record name",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   dns_sd_configs:\n   - names: [x]\n     type: A\n",
                "a port is required in DNS-SD configs for all record types except SRV",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   dns_sd_configs:\n   - names: [x]\n     type: NS\n",
                "a port is required",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   dns_sd_configs:\n   - names: [x]\n     type: PTR\n",
                "invalid DNS-SD records type PTR",
                "line 4",
            ),
            (
                "scrape_configs:\n - job_name: a\n   dns_sd_configs:\n   - names: [x]\n     refresh_interval: 0s\n",
                "refresh_interval must be greater than 0",
                "line 4",
            ),
            (
                "alerting:\n  alertmanagers:\n  - file_sd_configs:\n    - files: [x.yml]\n      bogus: 1\n",
                "unknown field `bogus`",
                "line 5",
            ),
        ];
        for (text, what, line) in cases {
            let err = parse(text).unwrap_err();
            assert!(
                err.contains(what) && err.contains(line) && err.contains("sd.yml"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn file_sd_names_as_prometheus_pattern() {
        for good in [
            "a.json",
            "dir/a.yml",
            "dir/*.yaml",
            "/abs/dir/pre*post.JSON",
            "*.YML",
            "d*r.json",
        ] {
            assert!(valid_file_sd_name(good), "{good}");
        }
        for bad in ["a.txt", "a.Json", "dir*/a.json", "a.json.bak", "json"] {
            assert!(!valid_file_sd_name(bad), "{bad}");
        }
    }
}
