//! The shared HTTP client against axum servers on 127.0.0.1: authentication headers as the
//! server sees them, secret files read per request, redirects, and TLS with certificates made
//! by the test (CA, client certificate, self-signed, server_name, versions, HTTP/2).

mod common;

use std::io::Write;

use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::Redirect;
use axum::routing::get;
use common::{error_chain, self_signed, serve, serve_tls, server_config, Pki};
use narthex_config::http_client::{
    Authorization, BasicAuth, HttpClientConfig, Secret, TlsConfig, TlsVersion,
};
use narthex_discovery::{HttpClient, HttpClientError};

/// Answers with the request's Authorization header, or `none`.
async fn echo_authorization(headers: HeaderMap) -> String {
    headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_else(|| "none".into())
}

fn router() -> axum::Router {
    axum::Router::new()
        .route("/auth", get(echo_authorization))
        .route(
            "/agent",
            get(|headers: HeaderMap| async move {
                headers["user-agent"].to_str().unwrap().to_string()
            }),
        )
        .route("/moved", get(|| async { Redirect::to("/auth") }))
        .route("/version", get(|| async { "ok" }))
}

async fn body(client: &HttpClient, url: &str) -> String {
    let response = client.get(url).unwrap().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.text().await.unwrap()
}

fn temp_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

fn path(file: &tempfile::NamedTempFile) -> String {
    file.path().display().to_string()
}

#[tokio::test]
async fn basic_auth_and_authorization_headers_reach_the_server() {
    let base = format!("http://{}", serve(router()).await);
    let url = format!("{base}/auth");

    let none = HttpClient::new(&HttpClientConfig::default(), "Narthex/test").unwrap();
    assert_eq!(body(&none, &url).await, "none");
    assert_eq!(body(&none, &format!("{base}/agent")).await, "Narthex/test");

    let basic = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username: "user".into(),
            password: Some(Secret("pass".into())),
            ..BasicAuth::default()
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&basic, "t").unwrap();
    // base64("user:pass")
    assert_eq!(body(&client, &url).await, "Basic dXNlcjpwYXNz");

    let bearer = HttpClientConfig {
        authorization: Some(Authorization {
            kind: "Bearer".into(),
            credentials: Some(Secret("t0ken".into())),
            credentials_file: None,
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&bearer, "t").unwrap();
    assert_eq!(body(&client, &url).await, "Bearer t0ken");

    let custom = HttpClientConfig {
        authorization: Some(Authorization {
            kind: "Token".into(),
            credentials: Some(Secret("abc".into())),
            credentials_file: None,
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&custom, "t").unwrap();
    assert_eq!(body(&client, &url).await, "Token abc");
}

#[tokio::test]
async fn secret_files_are_read_at_every_request() {
    let url = format!("http://{}/auth", serve(router()).await);

    let token = temp_file("first\n");
    let config = HttpClientConfig {
        authorization: Some(Authorization {
            kind: "Bearer".into(),
            credentials: None,
            credentials_file: Some(path(&token)),
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&config, "t").unwrap();
    // The trailing newline is not part of the token, as in Prometheus.
    assert_eq!(body(&client, &url).await, "Bearer first");
    std::fs::write(token.path(), "second").unwrap();
    assert_eq!(body(&client, &url).await, "Bearer second");

    let token_path = path(&token);
    drop(token);
    let err = client.get(&url).unwrap_err();
    assert!(matches!(err, HttpClientError::ReadFile { .. }));
    let message = err.to_string();
    assert!(
        message.contains("authorization credentials") && message.contains(&token_path),
        "{message}"
    );

    let username = temp_file("admin\n");
    let password = temp_file("one");
    let config = HttpClientConfig {
        basic_auth: Some(BasicAuth {
            username_file: Some(path(&username)),
            password_file: Some(path(&password)),
            ..BasicAuth::default()
        }),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(&config, "t").unwrap();
    // base64("admin:one"), then base64("admin:two")
    assert_eq!(body(&client, &url).await, "Basic YWRtaW46b25l");
    std::fs::write(password.path(), "two\n").unwrap();
    assert_eq!(body(&client, &url).await, "Basic YWRtaW46dHdv");
}

#[tokio::test]
async fn redirects_are_followed_unless_disabled() {
    let url = format!("http://{}/moved", serve(router()).await);
    let follow = HttpClient::new(&HttpClientConfig::default(), "t").unwrap();
    assert_eq!(body(&follow, &url).await, "none");
    let stay = HttpClient::new(
        &HttpClientConfig {
            follow_redirects: false,
            ..HttpClientConfig::default()
        },
        "t",
    )
    .unwrap();
    let response = stay.get(&url).unwrap().send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn requests_go_through_proxy_url() {
    // The test server plays the proxy: it gets the absolute-form request for a host that does
    // not resolve, and answers it like any other.
    let proxy = format!("http://{}", serve(router()).await);
    let client = HttpClient::new(
        &HttpClientConfig {
            proxy_url: Some(proxy),
            authorization: Some(Authorization {
                kind: "Bearer".into(),
                credentials: Some(Secret("via-proxy".into())),
                credentials_file: None,
            }),
            ..HttpClientConfig::default()
        },
        "t",
    )
    .unwrap();
    assert_eq!(
        body(&client, "http://target.invalid/auth").await,
        "Bearer via-proxy"
    );
}

fn tls_client(tls_config: TlsConfig) -> Result<HttpClient, HttpClientError> {
    HttpClient::new(
        &HttpClientConfig {
            tls_config,
            ..HttpClientConfig::default()
        },
        "t",
    )
}

async fn request_error(client: &HttpClient, url: &str) -> String {
    match client.get(url).unwrap().send().await {
        Ok(response) => panic!("{url} answered {}", response.status()),
        Err(error) => error_chain(&error),
    }
}

#[tokio::test]
async fn tls_with_a_ca_and_a_client_certificate() {
    let pki = Pki::new(&["localhost"]);
    let port = serve_tls(router(), pki.server_config(true)).await.port();
    let url = format!("https://localhost:{port}/auth");

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    };
    let from_files = tls_client(TlsConfig {
        ca_file: Some(write("ca.pem", &pki.ca)),
        cert_file: Some(write("client.pem", &pki.client.cert)),
        key_file: Some(write("client.key", &pki.client.key)),
        ..TlsConfig::default()
    })
    .unwrap();
    assert_eq!(body(&from_files, &url).await, "none");

    let inline = tls_client(TlsConfig {
        ca: Some(pki.ca.clone()),
        cert: Some(pki.client.cert.clone()),
        key: Some(Secret(pki.client.key.clone())),
        ..TlsConfig::default()
    })
    .unwrap();
    assert_eq!(body(&inline, &url).await, "none");

    // The server requires a client certificate: without one the request fails.
    let without_cert = tls_client(TlsConfig {
        ca: Some(pki.ca.clone()),
        ..TlsConfig::default()
    })
    .unwrap();
    let error = request_error(&without_cert, &url).await;
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    // Trusting only the public roots, the test CA's certificate is refused.
    let error = request_error(&tls_client(TlsConfig::default()).unwrap(), &url).await;
    assert!(
        error.contains("invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
}

#[tokio::test]
async fn insecure_skip_verify_accepts_a_self_signed_certificate() {
    let identity = self_signed();
    let port = serve_tls(router(), server_config(&identity, None))
        .await
        .port();
    let url = format!("https://localhost:{port}/auth");

    let error = request_error(&tls_client(TlsConfig::default()).unwrap(), &url).await;
    assert!(
        error.contains("invalid peer certificate: UnknownIssuer"),
        "{error}"
    );

    let insecure = tls_client(TlsConfig {
        insecure_skip_verify: true,
        ..TlsConfig::default()
    })
    .unwrap();
    assert_eq!(body(&insecure, &url).await, "none");
    // Trusting the certificate itself works too.
    let trusted = tls_client(TlsConfig {
        ca: Some(identity.cert.clone()),
        ..TlsConfig::default()
    })
    .unwrap();
    assert_eq!(body(&trusted, &url).await, "none");
}

#[tokio::test]
async fn server_name_is_the_name_checked() {
    let pki = Pki::new(&["metrics.internal"]);
    let port = serve_tls(router(), pki.server_config(false)).await.port();
    // Reached by IP address, as scrape targets often are.
    let url = format!("https://127.0.0.1:{port}/auth");

    let by_address = tls_client(TlsConfig {
        ca: Some(pki.ca.clone()),
        ..TlsConfig::default()
    })
    .unwrap();
    let error = request_error(&by_address, &url).await;
    assert!(error.contains("certificate not valid for name"), "{error}");

    let named = tls_client(TlsConfig {
        ca: Some(pki.ca.clone()),
        server_name: Some("metrics.internal".into()),
        ..TlsConfig::default()
    })
    .unwrap();
    assert_eq!(body(&named, &url).await, "none");

    let wrong = tls_client(TlsConfig {
        ca: Some(pki.ca.clone()),
        server_name: Some("other.internal".into()),
        ..TlsConfig::default()
    })
    .unwrap();
    let error = request_error(&wrong, &url).await;
    assert!(error.contains("certificate not valid for name"), "{error}");
}

#[tokio::test]
async fn tls_versions_and_http2() {
    let pki = Pki::new(&["localhost"]);
    let tls12_port = serve_tls(router(), common::tls12_only_server_config(&pki.server))
        .await
        .port();
    let tls12_url = format!("https://localhost:{tls12_port}/version");
    let ca = || TlsConfig {
        ca: Some(pki.ca.clone()),
        ..TlsConfig::default()
    };
    assert_eq!(body(&tls_client(ca()).unwrap(), &tls12_url).await, "ok");
    let tls13_only = tls_client(TlsConfig {
        min_version: Some(TlsVersion::TLS13),
        ..ca()
    })
    .unwrap();
    let error = request_error(&tls13_only, &tls12_url).await;
    assert!(error.contains("ProtocolVersion"), "{error}");

    let error = tls_client(TlsConfig {
        max_version: Some(TlsVersion::TLS11),
        ..ca()
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("only TLS 1.2 and 1.3 are supported"),
        "{error}"
    );

    // The server offers HTTP/2 through ALPN; the client takes it unless enable_http2 is off.
    let port = serve_tls(router(), pki.server_config(false)).await.port();
    let url = format!("https://localhost:{port}/version");
    let version = |enable_http2| {
        let client = HttpClient::new(
            &HttpClientConfig {
                tls_config: ca(),
                enable_http2,
                ..HttpClientConfig::default()
            },
            "t",
        )
        .unwrap();
        let url = url.clone();
        async move { client.get(&url).unwrap().send().await.unwrap().version() }
    };
    assert_eq!(version(true).await, Version::HTTP_2);
    assert_eq!(version(false).await, Version::HTTP_11);
}

#[tokio::test]
async fn unreadable_or_unusable_tls_files_are_named() {
    let error = tls_client(TlsConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..TlsConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("cannot read ca file /nonexistent/ca.pem"),
        "{error}"
    );

    let not_pem = temp_file("this is no certificate\n");
    let error = tls_client(TlsConfig {
        ca_file: Some(path(&not_pem)),
        ..TlsConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("invalid ca") && error.contains(&path(&not_pem)),
        "{error}"
    );

    let pki = Pki::new(&["localhost"]);
    let error = tls_client(TlsConfig {
        cert: Some(pki.client.cert.clone()),
        key_file: Some("/nonexistent/client.key".into()),
        ..TlsConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(error.contains("/nonexistent/client.key"), "{error}");

    let error = tls_client(TlsConfig {
        server_name: Some("not a name!".into()),
        ..TlsConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(error.contains("server_name"), "{error}");
}
