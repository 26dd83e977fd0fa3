//! HTTP-based discovery against an axum server on 127.0.0.1 whose answer the test changes:
//! good answers replace the groups, bad ones (wrong Content-Type, 500, invalid JSON) keep them.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{addresses, serve, wait_for, wait_for_metric};
use narthex_config::discovery::HttpSdConfig;
use narthex_discovery::{Discovery, DiscoveryOptions, SdConfigs, SdMetrics};

#[derive(Clone)]
struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: String,
}

#[derive(Clone, Default)]
struct Server {
    answer: Arc<Mutex<Option<Answer>>>,
    /// The headers of the last request.
    seen: Arc<Mutex<HeaderMap>>,
}

impl Server {
    fn answer(&self, status: StatusCode, content_type: &'static str, body: &str) {
        *self.answer.lock().unwrap() = Some(Answer {
            status,
            content_type,
            body: body.to_string(),
        });
    }

    fn header(&self, name: &str) -> Option<String> {
        self.seen
            .lock()
            .unwrap()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

async fn targets(State(server): State<Server>, headers: HeaderMap) -> impl IntoResponse {
    *server.seen.lock().unwrap() = headers;
    let answer = server.answer.lock().unwrap().clone();
    match answer {
        Some(a) => (a.status, [("content-type", a.content_type)], a.body).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::test]
async fn good_answers_replace_groups_and_bad_ones_keep_them() {
    let server = Server::default();
    server.answer(
        StatusCode::OK,
        "application/json",
        r#"[{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]"#,
    );
    let address = serve(
        axum::Router::new()
            .route("/sd", get(targets))
            .with_state(server.clone()),
    )
    .await;
    let url = format!("http://{address}/sd");
    let config: HttpSdConfig = serde_yaml::from_str(&format!(
        "url: {url}\nrefresh_interval: 250ms\nauthorization: {{credentials: s3cret}}\n"
    ))
    .unwrap();
    let metrics = Arc::new(SdMetrics::default());
    let configs = [config];
    let handle = Discovery::start(
        SdConfigs {
            http_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions {
            user_agent: "Narthex/test".into(),
            metrics: metrics.clone(),
            ..DiscoveryOptions::default()
        },
    );
    assert!(handle.failed_configs().is_empty());
    let mut rx = handle.subscribe();
    let groups = wait_for(&mut rx, "the first answer", |g| g.len() == 2).await;
    assert_eq!(groups[0].source, format!("{url}:0"));
    assert_eq!(groups[1].source, format!("{url}:1"));
    assert_eq!(addresses(&groups), ["a:1", "b:2", "c:3"]);
    assert_eq!(groups[0].labels["env"], "prod");
    assert_eq!(groups[0].labels["__meta_url"], url);
    assert_eq!(groups[1].labels["__meta_url"], url);
    assert_eq!(
        server
            .header("x-prometheus-refresh-interval-seconds")
            .as_deref(),
        Some("0.25")
    );
    assert_eq!(server.header("accept").as_deref(), Some("application/json"));
    assert_eq!(server.header("user-agent").as_deref(), Some("Narthex/test"));
    assert_eq!(
        server.header("authorization").as_deref(),
        Some("Bearer s3cret")
    );

    let bad_answers = [
        (StatusCode::OK, "text/plain", r#"[{"targets": ["x:1"]}]"#),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            r#"[{"targets": ["x:1"]}]"#,
        ),
        (StatusCode::OK, "application/json", r#"[{"targets": ["x:1""#),
        (StatusCode::OK, "application/json", r#"[null]"#),
    ];
    for (status, content_type, body) in bad_answers {
        let failures = metrics.value("prometheus_sd_http_failures_total").unwrap();
        server.answer(status, content_type, body);
        wait_for_metric(
            &metrics,
            "prometheus_sd_http_failures_total",
            failures + 1.0,
        )
        .await;
        assert_eq!(
            addresses(&handle.current()),
            ["a:1", "b:2", "c:3"],
            "after {status} {content_type} {body}"
        );
    }
    assert!(
        metrics
            .value("prometheus_sd_refresh_failures_total")
            .unwrap()
            >= 4.0
    );

    // Back to good, with one group fewer: the second group is gone.
    server.answer(
        StatusCode::OK,
        "application/json; charset=utf-8",
        r#"[{"targets": ["d:4"]}]"#,
    );
    let groups = wait_for(&mut rx, "the new answer", |g| addresses(g) == ["d:4"]).await;
    assert_eq!(groups.len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_counts_failures_and_a_bad_client_config_is_reported() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let metrics = Arc::new(SdMetrics::default());
    let good: HttpSdConfig = serde_yaml::from_str(&format!(
        "url: http://127.0.0.1:{port}/\nrefresh_interval: 100ms\n"
    ))
    .unwrap();
    let bad: HttpSdConfig = serde_yaml::from_str(
        "url: https://sd.example.org/\ntls_config: {ca_file: /nonexistent/ca.pem}\n",
    )
    .unwrap();
    let configs = [good, bad];
    let handle = Discovery::start(
        SdConfigs {
            http_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions {
            metrics: metrics.clone(),
            ..DiscoveryOptions::default()
        },
    );
    let failed: Vec<_> = handle
        .failed_configs()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].contains("/nonexistent/ca.pem") && failed[0].contains("http_sd_configs[1]"),
        "{failed:?}"
    );
    assert_eq!(metrics.value("prometheus_sd_failed_configs"), Some(1.0));
    wait_for_metric(&metrics, "prometheus_sd_http_failures_total", 2.0).await;
    assert!(handle.current().is_empty());
    drop(handle);
    assert_eq!(metrics.value("prometheus_sd_failed_configs"), Some(0.0));
}
