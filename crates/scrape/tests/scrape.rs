//! Scrapes of real HTTP targets (an axum server on loopback) into a real RocksDB-backed TSDB.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use narthex_model::{is_stale_nan, Labels, Matcher, Series, SeriesOrder, Storage};
use narthex_scrape::scrape::{scrape_once, ScrapeReport, ScrapeSettings, ScrapeState};
use narthex_scrape::Target;
use narthex_tsdb::Tsdb;

/// What the fake target serves; tests change it between scrapes.
#[derive(Clone)]
struct Served {
    body: Arc<Mutex<String>>,
    gzip: bool,
    status: u16,
    content_type: Option<&'static str>,
    /// Sends `Content-Encoding: gzip` with a body that is not gzip.
    corrupt_gzip: bool,
    delay: Duration,
}

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Served {
    fn text(body: &str) -> Served {
        Served {
            body: Arc::new(Mutex::new(body.to_string())),
            gzip: false,
            status: 200,
            content_type: Some(TEXT_FORMAT),
            corrupt_gzip: false,
            delay: Duration::ZERO,
        }
    }
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
                assert!(
                    accept.starts_with("application/openmetrics-text;version=1.0.0"),
                    "{accept}"
                );
                tokio::time::sleep(served.delay).await;
                let body = served.body.lock().unwrap().clone();
                let status = axum::http::StatusCode::from_u16(served.status).unwrap();
                let mut response = if served.corrupt_gzip {
                    (
                        status,
                        [(header::CONTENT_ENCODING, "gzip")],
                        "not gzip at all",
                    )
                        .into_response()
                } else if served.gzip {
                    let mut encoder =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    encoder.write_all(body.as_bytes()).unwrap();
                    let compressed = encoder.finish().unwrap();
                    (status, [(header::CONTENT_ENCODING, "gzip")], compressed).into_response()
                } else {
                    (status, body).into_response()
                };
                let headers = response.headers_mut();
                match served.content_type {
                    Some(content_type) => {
                        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
                    }
                    None => {
                        headers.remove(header::CONTENT_TYPE);
                    }
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn target(addr: SocketAddr) -> Target {
    let labels = Labels::from_pairs([("job", "test"), ("instance", addr.to_string().as_str())]);
    Target {
        pool: "test".into(),
        url: format!("http://{addr}/metrics"),
        labels: labels.clone(),
        internal_labels: labels.clone(),
        discovered_labels: labels,
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(5),
    }
}

fn settings(honor_labels: bool) -> ScrapeSettings {
    ScrapeSettings {
        honor_labels,
        ..ScrapeSettings::default()
    }
}

async fn scrape(
    client: &reqwest::Client,
    target: &Target,
    settings: &ScrapeSettings,
    tsdb: &Tsdb,
    state: &mut ScrapeState,
) -> ScrapeReport {
    scrape_once(client.get(&target.url), target, settings, tsdb, state).await
}

fn select(tsdb: &Tsdb, name: &str) -> Vec<Series> {
    tsdb.querier()
        .select(
            SeriesOrder::Labels,
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
        gzip: true,
        ..Served::text(EXPOSITION)
    };
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let target = target(addr);
    let report = scrape(
        &client,
        &target,
        &settings(false),
        &tsdb,
        &mut ScrapeState::default(),
    )
    .await;
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
    let served = Served::text("pushed{job=\"batch\",instance=\"\"} 1\n");
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let report = scrape(
        &reqwest::Client::new(),
        &target(addr),
        &settings(true),
        &tsdb,
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
    let served = Served::text("good 1\n");
    let body = served.body.clone();
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let target = target(addr);
    let mut state = ScrapeState::default();
    let first = scrape(&client, &target, &settings(false), &tsdb, &mut state).await;
    assert!(first.error.is_none());

    *body.lock().unwrap() = "good 2\nalso_good 1\nbad{ 3\n".into();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = scrape(&client, &target, &settings(false), &tsdb, &mut state).await;
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
    let served = Served::text("a 1\nb 1\n");
    let body = served.body.clone();
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let target = target(addr);
    let mut state = ScrapeState::default();
    scrape(&client, &target, &settings(false), &tsdb, &mut state).await;
    *body.lock().unwrap() = "a 2\n".into();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = scrape(&client, &target, &settings(false), &tsdb, &mut state).await;
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
        status: 503,
        ..Served::text("x 1\n")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    let report = scrape(
        &client,
        &target(addr),
        &settings(false),
        &tsdb,
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
    let report = scrape(
        &client,
        &target(closed_addr),
        &settings(false),
        &tsdb,
        &mut ScrapeState::default(),
    )
    .await;
    let error = report.error.unwrap().to_string();
    assert!(error.contains(&closed_addr.to_string()), "{error}");
    assert!(error.to_lowercase().contains("connect"), "{error}");
}

/// Scrapes a target serving `served` once with `settings`; returns the report and the TSDB.
async fn scrape_served(
    served: Served,
    settings: ScrapeSettings,
) -> (ScrapeReport, Arc<Tsdb>, tempfile::TempDir) {
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let target = target(addr);
    let report = scrape(
        &reqwest::Client::new(),
        &target,
        &settings,
        &tsdb,
        &mut ScrapeState::default(),
    )
    .await;
    (report, tsdb, dir)
}

/// The scrape failed with `expected` in its error, stored none of the body, and `up` is 0.
fn assert_failed_cleanly(report: &ScrapeReport, tsdb: &Tsdb, expected: &str) {
    let error = report
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        error.contains(expected),
        "expected {expected:?} in {error:?}"
    );
    assert!(select(tsdb, "good").is_empty(), "partial data stored");
    assert_eq!(last_value(tsdb, "up"), 0.0);
}

#[tokio::test]
async fn lying_targets_get_a_clear_error_and_store_nothing() {
    let body = "good 1\nalso_good 2\n";
    let cases: Vec<(Served, &str)> = vec![
        (
            Served {
                content_type: Some("text/html; charset=utf-8"),
                ..Served::text(body)
            },
            "received unsupported Content-Type \"text/html; charset=utf-8\"",
        ),
        (
            Served {
                content_type: None,
                ..Served::text(body)
            },
            "blank Content-Type",
        ),
        (
            Served {
                corrupt_gzip: true,
                ..Served::text(body)
            },
            "error decoding response body",
        ),
        (
            Served::text("good 1\ngood 2\n"),
            "duplicate series good in one scrape",
        ),
        (
            // OpenMetrics promised, but no `# EOF`: a truncated body.
            Served {
                content_type: Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                ..Served::text(body)
            },
            "# EOF",
        ),
    ];
    for (served, expected) in cases {
        let (report, tsdb, _dir) = scrape_served(served, ScrapeSettings::default()).await;
        assert_failed_cleanly(&report, &tsdb, expected);
    }
}

#[tokio::test]
async fn a_missing_content_type_parses_with_the_fallback_protocol() {
    let served = Served {
        content_type: None,
        ..Served::text("good 1\n")
    };
    let settings = ScrapeSettings {
        fallback_protocol: Some(narthex_config::ScrapeProtocol::PrometheusText004),
        ..ScrapeSettings::default()
    };
    let (report, tsdb, _dir) = scrape_served(served, settings).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(last_value(&tsdb, "good"), 1.0);
}

#[tokio::test]
async fn openmetrics_bodies_are_stored_with_their_timestamps_in_seconds() {
    let served = Served {
        content_type: Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ..Served::text(
            "# TYPE jobs counter\n# HELP jobs Jobs run.\njobs_total 3 1700000000.5 # {trace_id=\"a\"} 1\njobs_created 1.6e9\n# EOF\n",
        )
    };
    let (report, tsdb, _dir) = scrape_served(served, ScrapeSettings::default()).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let jobs = select(&tsdb, "jobs_total");
    assert_eq!(jobs[0].samples[0].t, 1_700_000_000_500);
    assert_eq!(jobs[0].samples[0].v, 3.0);
    assert_eq!(last_value(&tsdb, "jobs_created"), 1.6e9);
    assert_eq!(report.exemplars_dropped, 1);
}

#[tokio::test]
async fn limits_fail_the_scrape_with_prometheus_messages() {
    let limited = |limits: narthex_config::ScrapeLimits| ScrapeSettings {
        limits,
        ..ScrapeSettings::default()
    };
    let body = "good{a=\"1\"} 1\ngood{a=\"2\"} 2\nother{long_label_name=\"long value\"} 3\n";
    let cases = [
        (
            narthex_config::ScrapeLimits {
                sample_limit: 2,
                ..Default::default()
            },
            "sample limit exceeded".to_string(),
        ),
        (
            narthex_config::ScrapeLimits {
                label_limit: 3,
                ..Default::default()
            },
            "label_limit exceeded (metric: good, number of labels: 4, limit: 3)".to_string(),
        ),
        (
            narthex_config::ScrapeLimits {
                label_name_length_limit: 10,
                ..Default::default()
            },
            "label_name_length_limit exceeded (metric: other, label name: long_label_name, length: 15, limit: 10)".to_string(),
        ),
        (
            narthex_config::ScrapeLimits {
                label_value_length_limit: 5,
                ..Default::default()
            },
            // The target's own labels count too: `instance` is the first long value.
            "label_value_length_limit exceeded (metric: good, label name: instance, value: \"127.0.0.1:".to_string(),
        ),
        (
            narthex_config::ScrapeLimits {
                body_size_limit: 20,
                ..Default::default()
            },
            "body size limit exceeded".to_string(),
        ),
    ];
    for (limits, expected) in cases {
        let (report, tsdb, _dir) = scrape_served(Served::text(body), limited(limits)).await;
        assert_failed_cleanly(&report, &tsdb, &expected);
    }
    // At the limit is fine.
    let (report, _tsdb, _dir) = scrape_served(
        Served::text(body),
        limited(narthex_config::ScrapeLimits {
            sample_limit: 3,
            label_limit: 4,
            ..Default::default()
        }),
    )
    .await;
    assert!(report.error.is_none(), "{:?}", report.error);
}

#[tokio::test]
async fn a_slow_target_times_out() {
    let served = Served {
        delay: Duration::from_secs(3),
        ..Served::text("good 1\n")
    };
    let addr = serve(served).await;
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let mut slow_target = target(addr);
    slow_target.timeout = Duration::from_millis(300);
    let report = scrape(
        &reqwest::Client::new(),
        &slow_target,
        &ScrapeSettings::default(),
        &tsdb,
        &mut ScrapeState::default(),
    )
    .await;
    assert_failed_cleanly(&report, &tsdb, "context deadline exceeded");
    assert!(
        report.duration < Duration::from_secs(2),
        "{:?}",
        report.duration
    );
}

#[tokio::test]
async fn metric_relabeling_drops_and_rewrites_series() {
    let relabel: narthex_scrape::scrape::MetricRelabel = Arc::new(|labels: &Labels| {
        if labels.metric_name() == Some("dropped") {
            return None;
        }
        let mut builder = labels.to_builder();
        builder.set("rewritten", "yes");
        Some(builder.build())
    });
    let settings = ScrapeSettings {
        metric_relabel: Some(relabel),
        ..ScrapeSettings::default()
    };
    let (report, tsdb, _dir) = scrape_served(Served::text("kept 1\ndropped 2\n"), settings).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(select(&tsdb, "dropped").is_empty());
    assert_eq!(
        select(&tsdb, "kept")[0].labels.get("rewritten"),
        Some("yes")
    );
    assert_eq!(last_value(&tsdb, "scrape_samples_scraped"), 2.0);
    assert_eq!(
        last_value(&tsdb, "scrape_samples_post_metric_relabeling"),
        1.0
    );
}

#[tokio::test]
async fn enable_compression_decides_the_accept_encoding_header() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let app = Router::new().route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let encoding = headers
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                record.lock().unwrap().push(encoding);
                ([(header::CONTENT_TYPE, TEXT_FORMAT)], "good 1\n")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(dir.path()).unwrap();
    let client = reqwest::Client::new();
    for enable_compression in [true, false] {
        let settings = ScrapeSettings {
            enable_compression,
            ..ScrapeSettings::default()
        };
        let report = scrape(
            &client,
            &target(addr),
            &settings,
            &tsdb,
            &mut ScrapeState::default(),
        )
        .await;
        assert!(report.error.is_none(), "{:?}", report.error);
    }
    assert_eq!(*seen.lock().unwrap(), ["gzip", "identity"]);
}
