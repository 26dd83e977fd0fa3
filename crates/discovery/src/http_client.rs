//! The HTTP client built from Prometheus's HTTP client settings ([`HttpClientConfig`]), shared by
//! the scraper, HTTP service discovery and the Alertmanager notifier.
//!
//! TLS is a rustls configuration built here and handed to reqwest, because reqwest alone cannot
//! check a certificate against `server_name` or accept any certificate while still presenting a
//! client certificate. Secrets given as files (`password_file`, `credentials_file`, ...) are read
//! on every request, as Prometheus does, so a rotated token is picked up without a reload; the
//! TLS files are read once, when the client is built.
//!
//! Differences from Go's client that cannot be helped with rustls: TLS 1.0 and 1.1 are not
//! spoken (a `min_version` below TLS 1.2 means TLS 1.2, a `max_version` below it is refused), and
//! the SNI sent is the URL's host (none for an IP address) even when `server_name` is set;
//! `server_name` is the name the certificate is checked against. Without `ca`/`ca_file`, the
//! Mozilla roots (webpki-roots) are trusted, as reqwest's `rustls-tls` did before.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use narthex_config::http_client::{HttpClientConfig, TlsConfig, TlsVersion};
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{IntoUrl, Method, RequestBuilder};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why a client could not be built or a request not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot read {what} file {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {what} ({origin}): {message}")]
    InvalidPem {
        what: &'static str,
        origin: String,
        message: String,
    },
    #[error("{what} holds characters not allowed in an HTTP header")]
    InvalidHeader { what: &'static str },
    #[error("tls_config server_name {0:?} is not a valid DNS name or IP address")]
    ServerName(String),
    #[error("tls_config {0}")]
    UnsupportedTls(String),
    #[error("invalid TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid proxy_url {url:?}: {source}")]
    Proxy { url: String, source: reqwest::Error },
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// A secret given inline or as a file read at each use.
#[derive(Debug, Clone)]
enum SecretSource {
    Inline(String),
    File(PathBuf),
}

impl SecretSource {
    fn of(inline: Option<&str>, file: Option<&str>) -> Option<SecretSource> {
        match (file, inline) {
            (Some(path), _) => Some(SecretSource::File(PathBuf::from(path))),
            (None, Some(value)) => Some(SecretSource::Inline(value.to_string())),
            (None, None) => None,
        }
    }

    fn read(&self, what: &'static str) -> Result<String, HttpClientError> {
        match self {
            SecretSource::Inline(value) => Ok(value.clone()),
            // Prometheus trims the file's content, so a trailing newline is not part of it.
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim().to_string())
                .map_err(|source| HttpClientError::ReadFile {
                    what,
                    path: path.clone(),
                    source,
                }),
        }
    }
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic {
        username: Option<SecretSource>,
        password: Option<SecretSource>,
    },
    Header {
        kind: String,
        credentials: Option<SecretSource>,
    },
}

/// A reqwest client with the TLS, proxy and redirect settings applied, and the authentication
/// added to each request it prepares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Arc<Auth>,
}

impl HttpClient {
    /// Builds the client; fails if a TLS file cannot be read or holds nothing usable, naming it.
    pub fn new(config: &HttpClientConfig, user_agent: &str) -> Result<HttpClient, HttpClientError> {
        let tls = rustls_config(&config.tls_config, config.enable_http2)?;
        // Prometheus does not take proxies from the environment unless told to.
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent)
            .no_proxy()
            .use_preconfigured_tls(tls)
            .redirect(if config.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            });
        if !config.enable_http2 {
            builder = builder.http1_only();
        }
        if let Some(url) = &config.proxy_url {
            let proxy =
                reqwest::Proxy::all(url.as_str()).map_err(|source| HttpClientError::Proxy {
                    url: url.clone(),
                    source,
                })?;
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(HttpClientError::Build)?;
        let auth = if let Some(basic) = &config.basic_auth {
            Auth::Basic {
                username: SecretSource::of(
                    Some(basic.username.as_str()).filter(|u| !u.is_empty()),
                    basic.username_file.as_deref(),
                ),
                password: SecretSource::of(
                    basic.password.as_ref().map(|p| p.expose()),
                    basic.password_file.as_deref(),
                ),
            }
        } else if let Some(authorization) = &config.authorization {
            Auth::Header {
                kind: if authorization.kind.is_empty() {
                    "Bearer".into()
                } else {
                    authorization.kind.clone()
                },
                credentials: SecretSource::of(
                    authorization.credentials.as_ref().map(|c| c.expose()),
                    authorization.credentials_file.as_deref(),
                ),
            }
        } else {
            Auth::None
        };
        Ok(HttpClient {
            client,
            auth: Arc::new(auth),
        })
    }

    /// A GET request with the configured authentication.
    pub fn get(&self, url: impl IntoUrl) -> Result<RequestBuilder, HttpClientError> {
        self.request(Method::GET, url)
    }

    /// A request of any method (the notifier POSTs) with the configured authentication; fails
    /// if a secret file cannot be read now.
    pub fn request(
        &self,
        method: Method,
        url: impl IntoUrl,
    ) -> Result<RequestBuilder, HttpClientError> {
        let builder = self.client.request(method, url);
        match &*self.auth {
            Auth::None => Ok(builder),
            Auth::Basic { username, password } => {
                let username = match username {
                    Some(source) => source.read("basic_auth username")?,
                    None => String::new(),
                };
                let password = password
                    .as_ref()
                    .map(|source| source.read("basic_auth password"))
                    .transpose()?;
                Ok(builder.basic_auth(username, password))
            }
            Auth::Header { kind, credentials } => {
                let credentials = match credentials {
                    Some(source) => source.read("authorization credentials")?,
                    None => String::new(),
                };
                let mut value =
                    HeaderValue::from_str(&format!("{kind} {credentials}")).map_err(|_| {
                        HttpClientError::InvalidHeader {
                            what: "authorization credentials",
                        }
                    })?;
                value.set_sensitive(true);
                Ok(builder.header(AUTHORIZATION, value))
            }
        }
    }
}

/// PEM given inline or as a file, with a description of where it came from for errors.
fn read_pem(
    inline: Option<&str>,
    file: Option<&str>,
    what: &'static str,
) -> Result<Option<(Vec<u8>, String)>, HttpClientError> {
    if let Some(path) = file {
        let bytes = std::fs::read(path).map_err(|source| HttpClientError::ReadFile {
            what,
            path: PathBuf::from(path),
            source,
        })?;
        return Ok(Some((bytes, format!("file {}", Path::new(path).display()))));
    }
    Ok(inline.map(|text| (text.as_bytes().to_vec(), "inline in the config".to_string())))
}

fn certificates(
    pem: &[u8],
    what: &'static str,
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
    let invalid = |message: String| HttpClientError::InvalidPem {
        what,
        origin: origin.to_string(),
        message,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn rustls_config(
    tls: &TlsConfig,
    enable_http2: bool,
) -> Result<rustls::ClientConfig, HttpClientError> {
    // ring, as reqwest's own rustls-tls uses; set explicitly so no process-wide default is needed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = protocol_versions(tls.min_version, tls.max_version)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)?;

    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAnyCertificate { provider })
    } else {
        let mut roots = RootCertStore::empty();
        match read_pem(tls.ca.as_deref(), tls.ca_file.as_deref(), "ca")? {
            Some((pem, origin)) => {
                for cert in certificates(&pem, "ca", &origin)? {
                    roots.add(cert).map_err(|e| HttpClientError::InvalidPem {
                        what: "ca",
                        origin: origin.clone(),
                        message: e.to_string(),
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| HttpClientError::UnsupportedTls(format!("ca cannot be used: {e}")))?;
        match &tls.server_name {
            Some(name) if !name.is_empty() => Arc::new(NamedVerifier {
                inner: webpki,
                name: ServerName::try_from(name.clone())
                    .map_err(|_| HttpClientError::ServerName(name.clone()))?,
            }),
            _ => webpki,
        }
    };
    // The custom verifier is a WebPKI verifier (or, with insecure_skip_verify, what was asked).
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);

    let cert = read_pem(tls.cert.as_deref(), tls.cert_file.as_deref(), "cert")?;
    let key = read_pem(
        tls.key.as_ref().map(|k| k.expose()),
        tls.key_file.as_deref(),
        "key",
    )?;
    let mut config = match (cert, key) {
        (Some((cert_pem, cert_origin)), Some((key_pem, key_origin))) => {
            let chain = certificates(&cert_pem, "cert", &cert_origin)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                HttpClientError::InvalidPem {
                    what: "key",
                    origin: key_origin,
                    message: e.to_string(),
                }
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
        (None, None) => builder.with_no_client_auth(),
        // The configuration check refuses one without the other; a hand-built config may not.
        _ => {
            return Err(HttpClientError::UnsupportedTls(
                "needs both a client certificate and its key".into(),
            ))
        }
    };
    config.alpn_protocols = if enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

fn protocol_versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, HttpClientError> {
    if let Some(max @ (TlsVersion::TLS10 | TlsVersion::TLS11)) = max {
        return Err(HttpClientError::UnsupportedTls(format!(
            "max_version {max:?} cannot be honoured: only TLS 1.2 and 1.3 are supported"
        )));
    }
    let versions: Vec<_> = [
        (TlsVersion::TLS12, &rustls::version::TLS12),
        (TlsVersion::TLS13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| min.is_none_or(|min| *version >= min))
    .filter(|(version, _)| max.is_none_or(|max| *version <= max))
    .map(|(_, supported)| supported)
    .collect();
    if versions.is_empty() {
        return Err(HttpClientError::UnsupportedTls(
            "min_version is greater than max_version".into(),
        ));
    }
    Ok(versions)
}

/// Checks the certificate against `server_name` instead of the URL's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted; the handshake signatures are still
/// checked, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_min_and_max() {
        let names = |min, max| {
            protocol_versions(min, max).map(|v| v.iter().map(|v| v.version).collect::<Vec<_>>())
        };
        assert_eq!(names(None, None).unwrap().len(), 2);
        assert_eq!(
            names(Some(TlsVersion::TLS10), None).unwrap().len(),
            2,
            "TLS 1.0 minimum means what rustls has"
        );
        assert_eq!(
            names(Some(TlsVersion::TLS13), None).unwrap(),
            [rustls::ProtocolVersion::TLSv1_3]
        );
        assert_eq!(
            names(None, Some(TlsVersion::TLS12)).unwrap(),
            [rustls::ProtocolVersion::TLSv1_2]
        );
        let err = names(None, Some(TlsVersion::TLS11))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("max_version TLS11 cannot be honoured"),
            "{err}"
        );
    }
}
