//! Helpers shared by the integration tests: waiting on a discovery channel, HTTP and HTTPS
//! servers on 127.0.0.1, and certificates made for the test.

// Each test binary includes this module and uses only part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use narthex_discovery::{SdMetrics, TargetGroup};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const WAIT: Duration = Duration::from_secs(10);

/// Waits until the merged groups satisfy `done`, failing the test after [`WAIT`].
pub async fn wait_for(
    rx: &mut watch::Receiver<Arc<Vec<TargetGroup>>>,
    what: &str,
    done: impl Fn(&[TargetGroup]) -> bool,
) -> Arc<Vec<TargetGroup>> {
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let current = rx.borrow_and_update().clone();
            if done(&current) {
                return current;
            }
            if rx.changed().await.is_err() {
                panic!("discovery stopped while waiting for {what}");
            }
        }
    })
    .await;
    match waited {
        Ok(groups) => groups,
        Err(_) => panic!(
            "timed out waiting for {what}; groups are {:#?}",
            rx.borrow()
        ),
    }
}

/// Waits until the named metric reaches at least `at_least`.
pub async fn wait_for_metric(metrics: &SdMetrics, name: &str, at_least: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = metrics.value(name).expect("known metric");
        if value >= at_least {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {name} >= {at_least}, it is {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The addresses of every target of every group, in order.
pub fn addresses(groups: &[TargetGroup]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| g.targets.iter())
        .map(|t| t["__address__"].clone())
        .collect()
}

/// Serves `router` over plain HTTP on 127.0.0.1; the server stops with the test's runtime.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// Serves `router` over TLS on 127.0.0.1 with the given rustls configuration.
pub async fn serve_tls(router: axum::Router, config: rustls::ServerConfig) -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, address)) = self.tcp.accept().await else {
                continue;
            };
            // A refused handshake is what some tests expect; the next client is served.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its key, in PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A CA with a server certificate and a client certificate it signed.
pub struct Pki {
    pub ca: String,
    pub server: Pem,
    pub client: Pem,
}

impl Pki {
    /// The server certificate is valid for `server_names` (DNS names or IP addresses).
    pub fn new(server_names: &[&str]) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(DnType::CommonName, "Narthex test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>, usage| {
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            Pem {
                cert: cert.pem(),
                key: key.serialize_pem(),
            }
        };
        let server = leaf(
            server_names.iter().map(|n| n.to_string()).collect(),
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(vec!["client".into()], ExtendedKeyUsagePurpose::ClientAuth);
        Pki {
            ca: ca.pem(),
            server,
            client,
        }
    }

    /// A server presenting the server certificate; requiring a client certificate signed by
    /// the CA if `require_client_cert`.
    pub fn server_config(&self, require_client_cert: bool) -> rustls::ServerConfig {
        server_config(&self.server, require_client_cert.then_some(&self.ca))
    }
}

/// A self-signed certificate for `localhost`.
pub fn self_signed() -> Pem {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Pem {
        cert: certified.cert.pem(),
        key: certified.signing_key.serialize_pem(),
    }
}

/// A server configuration presenting `identity`, optionally requiring client certificates
/// signed by `client_ca`; it offers HTTP/2 and HTTP/1.1.
pub fn server_config(identity: &Pem, client_ca: Option<&String>) -> rustls::ServerConfig {
    let chain = vec![CertificateDer::from_pem_slice(identity.cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// A TLS 1.2-only variant of `server_config` without client authentication.
pub fn tls12_only_server_config(identity: &Pem) -> rustls::ServerConfig {
    let chain = vec![CertificateDer::from_pem_slice(identity.cert.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(identity.key.as_bytes()).unwrap();
    rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap()
}

/// An error and all its causes, as one line, to check what a failure says.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
