//! The HTTP client settings Prometheus shares between scrape configs, HTTP service discovery and
//! Alertmanager endpoints (`common/config.HTTPClientConfig`): authentication, TLS, redirects.
//!
//! serde cannot combine `flatten` with `deny_unknown_fields`, and these settings sit directly in
//! the enclosing YAML mapping, so each enclosing struct repeats the fields and hands them out as
//! one [`HttpClientConfig`] through its `http_client()` method. [`HttpClientFields::resolve`]
//! holds the checks Prometheus runs on them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret read from the file: shown as `<secret>` wherever the configuration is printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A URL with its password replaced by `xxxxx`, as Go's `url.Redacted` (Prometheus prints
/// proxy and discovery URLs so).
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:xxxxx@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `serialize_with` for URL fields that may carry a password.
pub fn serialize_redacted_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redacted_url(url))
}

/// `serialize_with` for optional URL fields that may carry a password.
pub fn serialize_redacted_url_option<S: Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&redacted_url(url)),
        None => serializer.serialize_none(),
    }
}

/// What Prometheus prints in place of a secret.
pub const SECRET_MASK: &str = "<secret>";

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(SECRET_MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SECRET_MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(rename = "type", default = "default_auth_type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<String>,
}

fn default_auth_type() -> String {
    "Bearer".into()
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<TlsVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<TlsVersion>,
}

/// The TLS versions Prometheus accepts for `min_version`/`max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

/// The HTTP client settings of one scrape config, HTTP SD config or Alertmanager config.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    /// `bearer_token(_file)` are folded in here as `type: Bearer`, as Prometheus does.
    pub authorization: Option<Authorization>,
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    pub proxy_url: Option<String>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy_url: None,
        }
    }
}

/// The raw fields as they sit in the YAML mapping, before `bearer_token` is folded into
/// `authorization`.
#[derive(Debug, Clone, Copy)]
pub struct HttpClientFields<'a> {
    pub basic_auth: &'a Option<BasicAuth>,
    pub authorization: &'a Option<Authorization>,
    pub bearer_token: &'a Option<Secret>,
    pub bearer_token_file: &'a Option<String>,
    pub tls_config: &'a Option<TlsConfig>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    pub proxy_url: &'a Option<String>,
}

impl HttpClientFields<'_> {
    /// Checks the fields as Prometheus's `HTTPClientConfig.Validate` does and combines them.
    pub fn resolve(self) -> Result<HttpClientConfig, String> {
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if self.basic_auth.is_some() && (bearer || self.authorization.is_some()) {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(basic) = self.basic_auth {
            if !basic.username.is_empty() && basic.username_file.is_some() {
                return Err(
                    "at most one of basic_auth username & username_file must be configured".into(),
                );
            }
            if basic.password.is_some() && basic.password_file.is_some() {
                return Err(
                    "at most one of basic_auth password & password_file must be configured".into(),
                );
            }
        }
        let mut authorization = self.authorization.clone();
        if let Some(auth) = &authorization {
            if bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if auth.credentials.is_some() && auth.credentials_file.is_some() {
                return Err(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            if auth.kind.eq_ignore_ascii_case("basic") {
                return Err(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                );
            }
        } else if bearer {
            authorization = Some(Authorization {
                kind: default_auth_type(),
                credentials: self.bearer_token.clone(),
                credentials_file: self.bearer_token_file.clone(),
            });
        }
        let tls_config = self.tls_config.clone().unwrap_or_default();
        for (inline, file, name) in [
            (tls_config.ca.is_some(), tls_config.ca_file.is_some(), "ca"),
            (
                tls_config.cert.is_some(),
                tls_config.cert_file.is_some(),
                "cert",
            ),
            (
                tls_config.key.is_some(),
                tls_config.key_file.is_some(),
                "key",
            ),
        ] {
            if inline && file {
                return Err(format!(
                    "at most one of {name} and {name}_file must be configured"
                ));
            }
        }
        let has_cert = tls_config.cert.is_some() || tls_config.cert_file.is_some();
        let has_key = tls_config.key.is_some() || tls_config.key_file.is_some();
        if has_cert != has_key {
            return Err(if has_cert {
                "exactly one of key or key_file must be configured when a client certificate is configured".into()
            } else {
                "exactly one of cert or cert_file must be configured when a client key is configured".into()
            });
        }
        if let (Some(min), Some(max)) = (tls_config.min_version, tls_config.max_version) {
            if min > max {
                return Err("tls_config min_version must not be greater than max_version".into());
            }
        }
        Ok(HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization,
            tls_config,
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
            proxy_url: self.proxy_url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(
        basic_auth: &'a Option<BasicAuth>,
        authorization: &'a Option<Authorization>,
        bearer_token: &'a Option<Secret>,
        bearer_token_file: &'a Option<String>,
    ) -> HttpClientFields<'a> {
        HttpClientFields {
            basic_auth,
            authorization,
            bearer_token,
            bearer_token_file,
            tls_config: &None,
            follow_redirects: true,
            enable_http2: true,
            proxy_url: &None,
        }
    }

    #[test]
    fn bearer_token_becomes_bearer_authorization() {
        let token = Some(Secret("t0k".into()));
        let resolved = fields(&None, &None, &token, &None).resolve().unwrap();
        let auth = resolved.authorization.unwrap();
        assert_eq!(auth.kind, "Bearer");
        assert_eq!(auth.credentials.unwrap().expose(), "t0k");
    }

    #[test]
    fn conflicting_auth_is_refused_with_prometheus_messages() {
        let basic = Some(BasicAuth {
            username: "u".into(),
            ..BasicAuth::default()
        });
        let token = Some(Secret("t".into()));
        let file = Some("/f".into());
        let err = fields(&basic, &None, &token, &None).resolve().unwrap_err();
        assert!(err.contains("at most one of basic_auth"), "{err}");
        let err = fields(&None, &None, &token, &file).resolve().unwrap_err();
        assert!(err.contains("bearer_token & bearer_token_file"), "{err}");
        let auth = Some(Authorization {
            kind: "Basic".into(),
            credentials: None,
            credentials_file: None,
        });
        let err = fields(&None, &auth, &None, &None).resolve().unwrap_err();
        assert!(err.contains("use \"basic_auth\" instead"), "{err}");
    }

    #[test]
    fn urls_print_without_their_password() {
        assert_eq!(
            redacted_url("http://user:pass@proxy:3128/x"),
            "http://user:xxxxx@proxy:3128/x"
        );
        assert_eq!(
            redacted_url("http://user@proxy:3128"),
            "http://user@proxy:3128"
        );
        assert_eq!(redacted_url("http://proxy:3128"), "http://proxy:3128");
    }

    #[test]
    fn secrets_print_masked() {
        let yaml = serde_yaml::to_string(&BasicAuth {
            username: "u".into(),
            password: Some(Secret("hunter2".into())),
            ..BasicAuth::default()
        })
        .unwrap();
        assert!(yaml.contains("password: <secret>"), "{yaml}");
        assert!(!yaml.contains("hunter2"));
        assert_eq!(format!("{:?}", Secret("x".into())), "<secret>");
    }
}
