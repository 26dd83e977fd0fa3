//! Scrapes of real HTTP targets (an axum server on loopback) into a real RocksDB-backed TSDB.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use narthex_model::{is_stale_nan, Labels, Matcher, Series, Storage};
use narthex_scrape::scrape::{scrape_once, ScrapeState};
use narthex_scrape::Target;
use narthex_tsdb::Tsdb;

/// What the fake target serves; tests change it between scrapes.
#[derive(Clone)]
struct Served {
    body: Arc<Mutex<String>>,
    gzip: bool,
    status: u16,
}

async fn serve(served: Served) -> SocketAddr {
    let app = Router::new().route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let served = served.clone();
            async move {
                let accept = headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                assert!(accept.starts_with("text/plain;version=0.0.4"), "{accept}");
                let body = served.body.lock().unwrap().clone();
                let status = axum::http::StatusCode::from_u16(served.status).unwrap();
                if served.gzip {
                    let mut encoder =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    encoder.write_all(body.as_bytes()).unwrap();
                    let compressed = encoder.finish().unwrap();
                    (status, [(header::CONTENT_ENCODING, "gzip")], compressed).into_response()
                } else {
                    (status, body).into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn target(addr: SocketAddr, honor_labels: bool) -> Target {
    Target {
        job: "test".into(),
        url: format!("http://{addr}/metrics"),
        labels: Labels::from_pairs([("job", "test"), ("instance", addr.to_string().as_str())]),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(5),
        honor_labels,
        honor_timestamps: true,
    }
}

fn select(tsdb: &Tsdb, name: &str) -> Vec<Series> {
    tsdb.querier()
        .select(
            &[Matcher::equal("__name__", name)],
            i64::MIN / 2,
            i64::MAX / 2,
        )
        .unwrap()
}

fn last_value(tsdb: &Tsdb, name: &str) -> f64 {
    let series = select(tsdb, name);
    assert_eq!(series.len(), 1, "{name}: {series:?}");
    series[0].samples.last().unwrap().v
}

const EXPOSITION: &str = r#"# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",job="app"} 1027
http_requests_total{code="500",job="app"} 3
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1"} 5
latency_seconds_bucket{le="+Inf"} 7
latency_seconds_sum 1.5
latency_seconds_count 7
explicit_time 4 1000
"#;

#[tokio::test]
async fn gzip_exposition_is_stored_with_target_labels_and_synthetic_series() {
    let served = Served {
        body: Arc::new(Mutex::new(EXPOSITION.to_string())),
        gzip: true,
        status: 200,
    };
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let target = target(addr, false);
    let report = scrape_once(&client, &target, tsdb.as_ref(), &mut ScrapeState::default()).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.samples_scraped, 7);

    let requests = select(&tsdb, "http_requests_total");
    assert_eq!(requests.len(), 2);
    // The scraped `job` clashes with the target's: kept as exported_job.
    assert_eq!(requests[0].labels.get("job"), Some("test"));
    assert_eq!(requests[0].labels.get("exported_job"), Some("app"));
    assert_eq!(
        requests[0].labels.get("instance"),
        Some(addr.to_string().as_str())
    );
    assert_eq!(requests[0].samples[0].v, 1027.0);
    let buckets = select(&tsdb, "latency_seconds_bucket");
    let les: Vec<_> = buckets
        .iter()
        .map(|s| s.labels.get("le").unwrap())
        .collect();
    assert_eq!(les, ["+Inf", "0.1"]);
    // An explicit timestamp is honoured.
    assert_eq!(select(&tsdb, "explicit_time")[0].samples[0].t, 1000);

    assert_eq!(last_value(&tsdb, "up"), 1.0);
    assert_eq!(last_value(&tsdb, "scrape_samples_scraped"), 7.0);
    assert_eq!(
        last_value(&tsdb, "scrape_samples_post_metric_relabeling"),
        7.0
    );
    // Every new series counts, also the one with its own timestamp (as in Prometheus, which
    // only leaves such series out of staleness tracking).
    assert_eq!(last_value(&tsdb, "scrape_series_added"), 7.0);
    let duration = last_value(&tsdb, "scrape_duration_seconds");
    assert!(duration > 0.0 && duration < 5.0, "{duration}");
    let up = select(&tsdb, "up");
    assert_eq!(up[0].labels.get("job"), Some("test"));
}

#[tokio::test]
async fn honor_labels_keeps_scraped_values() {
    let served = Served {
        body: Arc::new(Mutex::new("pushed{job=\"batch\",instance=\"\"} 1\n".into())),
        gzip: false,
        status: 200,
    };
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let report = scrape_once(
        &reqwest::Client::new(),
        &target(addr, true),
        tsdb.as_ref(),
        &mut ScrapeState::default(),
    )
    .await;
    assert!(report.error.is_none());
    let pushed = select(&tsdb, "pushed");
    assert_eq!(pushed[0].labels.get("job"), Some("batch"));
    assert_eq!(pushed[0].labels.get("exported_job"), None);
    // As Prometheus's mutateSampleLabels: a scraped label that is present but empty still
    // "has" the name, so the target's value is not filled in, and the empty label is dropped.
    assert_eq!(pushed[0].labels.get("instance"), None);
}

#[tokio::test]
async fn malformed_exposition_stores_nothing_and_names_the_line() {
    let body = Arc::new(Mutex::new("good 1\n".to_string()));
    let served = Served {
        body: body.clone(),
        gzip: false,
        status: 200,
    };
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let target = target(addr, false);
    let mut state = ScrapeState::default();
    let first = scrape_once(&client, &target, tsdb.as_ref(), &mut state).await;
    assert!(first.error.is_none());

    *body.lock().unwrap() = "good 2\nalso_good 1\nbad{ 3\n".into();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = scrape_once(&client, &target, tsdb.as_ref(), &mut state).await;
    let error = report.error.expect("malformed body must fail").to_string();
    assert!(error.contains("line 3"), "{error}");
    assert!(select(&tsdb, "also_good").is_empty());
    // `good` has its first value, then a staleness marker: the target went down.
    let good = select(&tsdb, "good");
    assert_eq!(good[0].samples.len(), 2);
    assert_eq!(good[0].samples[0].v, 1.0);
    assert!(is_stale_nan(good[0].samples[1].v));
    assert_eq!(last_value(&tsdb, "up"), 0.0);
    assert_eq!(last_value(&tsdb, "scrape_samples_scraped"), 0.0);
}

#[tokio::test]
async fn vanished_series_get_staleness_markers() {
    let body = Arc::new(Mutex::new("a 1\nb 1\n".to_string()));
    let addr = serve(Served {
        body: body.clone(),
        gzip: false,
        status: 200,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let target = target(addr, false);
    let mut state = ScrapeState::default();
    scrape_once(&client, &target, tsdb.as_ref(), &mut state).await;
    *body.lock().unwrap() = "a 2\n".into();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = scrape_once(&client, &target, tsdb.as_ref(), &mut state).await;
    assert!(report.error.is_none());
    let b = select(&tsdb, "b");
    assert!(is_stale_nan(b[0].samples.last().unwrap().v));
    let a = select(&tsdb, "a");
    assert_eq!(a[0].samples.last().unwrap().v, 2.0);
    assert_eq!(last_value(&tsdb, "scrape_series_added"), 0.0);
}

#[tokio::test]
async fn http_errors_and_unreachable_targets_are_down() {
    let addr = serve(Served {
        body: Arc::new(Mutex::new("x 1\n".into())),
        gzip: false,
        status: 503,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let report = scrape_once(
        &client,
        &target(addr, false),
        tsdb.as_ref(),
        &mut ScrapeState::default(),
    )
    .await;
    assert_eq!(
        report.error.unwrap().to_string(),
        "server returned HTTP status 503 Service Unavailable"
    );
    assert!(select(&tsdb, "x").is_empty());

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let report = scrape_once(
        &client,
        &target(closed_addr, false),
        tsdb.as_ref(),
        &mut ScrapeState::default(),
    )
    .await;
    let error = report.error.unwrap().to_string();
    assert!(error.contains(&closed_addr.to_string()), "{error}");
    assert!(error.to_lowercase().contains("connect"), "{error}");
}
