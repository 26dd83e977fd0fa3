//! What the notifier's integration tests share: alerts, configs, waiting, and a stand-in
//! Alertmanager on loopback (axum) that records every request and answers as told.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use narthex_config::Config;
use narthex_model::Labels;
use narthex_notifier::Alert;
use tokio::sync::Semaphore;

pub fn alert(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Alert {
    Alert {
        labels: Labels::from_pairs(labels.iter().copied()),
        annotations: Labels::from_pairs(annotations.iter().copied()),
        starts_at: SystemTime::now() - Duration::from_secs(60),
        ends_at: Some(SystemTime::now() + Duration::from_secs(600)),
        generator_url: String::new(),
    }
}

pub fn config(yaml: &str) -> Config {
    Config::parse(yaml, "test.yml").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Polls `check` until it gives a value or `limit` passes.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How the stand-in answers.
#[derive(Clone)]
pub enum Behaviour {
    Accept,
    Status(u16),
    /// Answers 200 after this long.
    Delay(Duration),
    /// Waits for a permit of the semaphore before answering 200.
    Gate(Arc<Semaphore>),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// The `alertname` of every alert in the body.
    pub fn names(&self) -> Vec<String> {
        self.json()
            .as_array()
            .expect("a list of alerts")
            .iter()
            .map(|a| a["labels"]["alertname"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

struct Inner {
    behaviour: Behaviour,
    requests: Mutex<Vec<Recorded>>,
}

/// A stand-in Alertmanager; stops when dropped.
pub struct FakeAlertmanager {
    pub address: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeAlertmanager {
    pub async fn start(behaviour: Behaviour) -> FakeAlertmanager {
        let inner = Arc::new(Inner {
            behaviour,
            requests: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(record)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAlertmanager {
            address,
            inner,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v2/alerts", self.address)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Waits until `count` requests have arrived and returns them.
    pub async fn wait_for_requests(&self, count: usize) -> Vec<Recorded> {
        wait_for(
            &format!("{count} requests at {}", self.address),
            Duration::from_secs(10),
            || async {
                let requests = self.requests();
                (requests.len() >= count).then_some(requests)
            },
        )
        .await
    }
}

impl Drop for FakeAlertmanager {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    inner.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    match &inner.behaviour {
        Behaviour::Accept => StatusCode::OK,
        Behaviour::Status(code) => StatusCode::from_u16(*code).unwrap(),
        Behaviour::Delay(delay) => {
            tokio::time::sleep(*delay).await;
            StatusCode::OK
        }
        Behaviour::Gate(gate) => {
            gate.acquire().await.unwrap().forget();
            StatusCode::OK
        }
    }
}
