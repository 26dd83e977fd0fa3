//! Scraping end to end with the real binary: targets nobody here wrote (the seed article's
//! Python examples with PyPI's `prometheus_client`, Debian's node exporter, Debian's
//! Prometheus) are scraped and their series and values checked against what they serve; the
//! targets, metadata and status APIs are compared with Prometheus's; configuration reloads by
//! `/-/reload` and SIGHUP keep unchanged loops and refuse bad files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use narthex_model::exposition::parse_text;
use serde_json::Value;

mod common;
use common::*;

/// Waits until `job`'s target has been scraped successfully twice after now.
async fn wait_for_scrapes(server: &Server, job: &str) {
    let expr = format!("count_over_time(up{{job=\"{job}\"}}[1m])");
    let before = query(server, &expr)
        .await
        .first()
        .map(sample_value)
        .unwrap_or(0.0);
    wait_until(
        &format!("two scrapes of {job}"),
        Duration::from_secs(30),
        || async {
            let up = query(server, &format!("up{{job=\"{job}\"}}")).await;
            let count = query(server, &expr)
                .await
                .first()
                .map(sample_value)
                .unwrap_or(0.0);
            (count >= before + 2.0 && up.first().is_some_and(|v| sample_value(v) == 1.0))
                .then_some(())
        },
    )
    .await;
}

/// Labels of a result entry, without `job` and `instance` (which the scrape adds).
fn served_labels(result: &Value) -> BTreeMap<String, String> {
    result["metric"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != "job" && k.as_str() != "instance")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Every series Narthex holds for `job` now, by label set (without job/instance), with value.
async fn stored_series(server: &Server, job: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    query(server, &format!("{{job=\"{job}\"}}"))
        .await
        .iter()
        .filter(|r| !SYNTHETIC.contains(&r["metric"]["__name__"].as_str().unwrap_or("")))
        .map(|r| (served_labels(r), sample_value(r)))
        .collect()
}

/// What a target serves in the text format, by label set, with value.
async fn served_series(url: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    let client = reqwest::Client::new();
    let body = client
        .get(url)
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exposition = parse_text(&body).unwrap();
    exposition
        .samples
        .iter()
        .map(|s| {
            let mut labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            labels.insert("__name__".into(), s.name.to_string());
            (labels, s.value)
        })
        .collect()
}

fn names<V>(series: &BTreeMap<BTreeMap<String, String>, V>) -> BTreeSet<String> {
    series.keys().map(|l| l["__name__"].clone()).collect()
}

fn value_of(series: &BTreeMap<BTreeMap<String, String>, f64>, name: &str) -> f64 {
    let matching: Vec<f64> = series
        .iter()
        .filter(|(labels, _)| labels["__name__"] == name)
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(matching.len(), 1, "{name}: {matching:?}");
    matching[0]
}

/// The active targets of the targets API, by scrape URL.
async fn active_targets(server: &Server) -> BTreeMap<String, Value> {
    let json = get_json(&format!("{}/api/v1/targets", server.base)).await;
    json["data"]["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["scrapeUrl"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The Python that setup installed prometheus_client into.
fn python() -> PathBuf {
    let venv = repo_path("../.tools/venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup.sh (make test does)",
        venv.display()
    );
    venv
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_examples_are_scraped_as_they_serve() {
    // The article's prometheus-example-app.yml, with its placeholder filled in and a shorter
    // interval so that the test does not wait 10 s per scrape.
    let config = std::fs::read_to_string(repo_path("../examples/prometheus-example-app.yml"))
        .unwrap()
        .replace("$PRIVATE_IP", "localhost")
        .replace("10s", "1s");
    for (script, app_metrics) in [
        (
            "counter.py",
            &["hello_worlds_total", "hello_worlds_created"][..],
        ),
        ("gauge.py", &["hello_worlds_inprogress"][..]),
        (
            "histogram.py",
            &[
                "hello_world_latency_seconds_count",
                "hello_world_latency_seconds_bucket",
            ][..],
        ),
        (
            "summary.py",
            &[
                "hello_world_latency_seconds_count",
                "hello_world_latency_seconds_sum",
            ][..],
        ),
    ] {
        // The examples listen on the fixed ports 8000 (metrics) and 8001 (the app).
        let example = Process(
            Command::new(python())
                .arg(repo_path("../examples").join(script))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_until(
            &format!("{script} listening"),
            Duration::from_secs(20),
            || async {
                (status_of("http://localhost:8000/metrics").await == Some(200)).then_some(())
            },
        )
        .await;
        for _ in 0..3 {
            assert_eq!(status_of("http://localhost:8001/").await, Some(200));
        }
        let server = narthex(&config, &[]).await;
        wait_for_scrapes(&server, "example").await;

        let stored = stored_series(&server, "example").await;
        let served = served_series("http://localhost:8000/metrics").await;
        // Every series the example serves is stored, and nothing else.
        assert_eq!(names(&stored), names(&served), "{script}");
        assert_eq!(
            stored.keys().collect::<BTreeSet<_>>(),
            served.keys().collect::<BTreeSet<_>>(),
            "{script}"
        );
        // The application's own metrics do not change between the two reads: same values.
        for (labels, value) in &served {
            if app_metrics.iter().any(|m| labels["__name__"] == *m) {
                assert_eq!(stored[labels], *value, "{script}: {labels:?}");
            }
        }
        if script == "counter.py" {
            assert_eq!(value_of(&stored, "hello_worlds_total"), 3.0);
        }
        let targets = active_targets(&server).await;
        let target = &targets["http://localhost:8000/metrics"];
        assert_eq!(target["health"], "up", "{target}");
        assert_eq!(target["lastError"], "");
        assert_eq!(
            target["labels"],
            serde_json::json!({"instance": "localhost:8000", "job": "example"})
        );
        drop(example);
        drop(server);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_apis_show_what_the_example_exposes() {
    let config = "global: {scrape_interval: 1s}\nscrape_configs:\n - job_name: example\n   static_configs: [{targets: ['localhost:8010']}]\n";
    // The counter example on other ports, so that this test can run beside the one above.
    let script = std::fs::read_to_string(repo_path("../examples/counter.py"))
        .unwrap()
        .replace("8000", "8010")
        .replace("8001", "8011");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("counter.py"), script).unwrap();
    let _example = Process(
        Command::new(python())
            .arg(dir.path().join("counter.py"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("counter.py listening", Duration::from_secs(20), || async {
        (status_of("http://localhost:8010/metrics").await == Some(200)).then_some(())
    })
    .await;
    let server = narthex(config, &[]).await;
    wait_for_scrapes(&server, "example").await;

    // OpenMetrics was negotiated: the counter family is `hello_worlds`, without `_total`.
    let metadata = get_json(&format!("{}/api/v1/metadata", server.base)).await;
    assert_eq!(
        metadata["data"]["hello_worlds"],
        serde_json::json!([{"type": "counter", "help": "Hello Worlds requested.", "unit": ""}]),
        "{metadata}"
    );
    let one = get_json(&format!(
        "{}/api/v1/metadata?metric=hello_worlds",
        server.base
    ))
    .await;
    assert_eq!(one["data"].as_object().unwrap().len(), 1, "{one}");
    let limited = get_json(&format!("{}/api/v1/metadata?limit=2", server.base)).await;
    assert_eq!(limited["data"].as_object().unwrap().len(), 2, "{limited}");

    let target_metadata = get_json(&format!(
        "{}/api/v1/targets/metadata?match_target={}&metric=hello_worlds",
        server.base,
        percent_encode("{job=\"example\"}")
    ))
    .await;
    assert_eq!(
        target_metadata["data"],
        serde_json::json!([{
            "target": {"instance": "localhost:8010", "job": "example"},
            "type": "counter",
            "help": "Hello Worlds requested.",
            "unit": ""
        }]),
        "{target_metadata}"
    );
    let none = get_json(&format!(
        "{}/api/v1/targets/metadata?match_target={}",
        server.base,
        percent_encode("{job=\"nope\"}")
    ))
    .await;
    assert_eq!(none["data"], serde_json::json!([]));
    let (status, body) = get_text(&format!(
        "{}/api/v1/targets/metadata?match_target={}",
        server.base,
        percent_encode("{job=")
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("match_target"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn node_exporter_is_scraped_as_it_serves() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} missing: run scripts/setup.sh"
    );
    let port = free_port();
    let _exporter = Process(
        Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    wait_until(
        "node exporter listening",
        Duration::from_secs(20),
        || async { (status_of(&metrics).await == Some(200)).then_some(()) },
    )
    .await;
    let config = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n - job_name: node\n   static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    );
    let server = narthex(&config, &[]).await;
    wait_for_scrapes(&server, "node").await;
    let stored = stored_series(&server, "node").await;
    let served = served_series(&metrics).await;
    assert_eq!(names(&stored), names(&served));
    assert!(stored.len() > 200, "only {} series", stored.len());
    for name in ["node_boot_time_seconds", "node_memory_MemTotal_bytes"] {
        assert_eq!(value_of(&stored, name), value_of(&served, name), "{name}");
    }
    let build_info = |series: &BTreeMap<BTreeMap<String, String>, f64>| {
        series
            .keys()
            .find(|l| l["__name__"] == "node_exporter_build_info")
            .cloned()
    };
    assert_eq!(build_info(&stored), build_info(&served));
    assert!(build_info(&stored).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_is_scraped_as_it_serves() {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} missing: run scripts/setup.sh"
    );
    let prometheus = start(PROMETHEUS, "global: {}\n", &[]).await;
    let metrics = format!("{}/metrics", prometheus.base);
    let config = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n - job_name: prometheus\n   static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
        prometheus.port
    );
    let server = narthex(&config, &[]).await;
    wait_for_scrapes(&server, "prometheus").await;
    let stored = stored_series(&server, "prometheus").await;
    let served = served_series(&metrics).await;
    let stored_names = names(&stored);
    let served_names = names(&served);
    assert_eq!(
        stored_names,
        served_names,
        "{:?}",
        stored_names
            .symmetric_difference(&served_names)
            .collect::<Vec<_>>()
    );
    let build_info = |series: &BTreeMap<BTreeMap<String, String>, f64>| {
        series
            .keys()
            .find(|l| l["__name__"] == "prometheus_build_info")
            .cloned()
    };
    assert_eq!(build_info(&stored), build_info(&served));
    assert_eq!(
        value_of(&stored, "prometheus_config_last_reload_successful"),
        1.0
    );
    assert_eq!(
        value_of(
            &stored,
            "prometheus_config_last_reload_success_timestamp_seconds"
        ),
        value_of(
            &served,
            "prometheus_config_last_reload_success_timestamp_seconds"
        )
    );
}

/// One config for both servers: a target that is up (the Prometheus under comparison itself), one
/// that is down (a closed port), one dropped by relabeling, `params` and a relabeled label.
fn comparison_config(up_port: &str, down_port: u16) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: pool-a
    params:
      format: [text]
    static_configs:
      - targets: ['127.0.0.1:{up_port}', '127.0.0.1:{down_port}']
        labels: {{env: test}}
      - targets: ['drop.me:1']
        labels: {{drop: 'yes'}}
    relabel_configs:
      - source_labels: [drop]
        regex: 'yes'
        action: drop
      - source_labels: [__address__]
        regex: '(.*):(\d+)'
        target_label: port
        replacement: '$2'
  - job_name: pool-b
    scrape_interval: 2s
    scrape_timeout: 1500ms
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:{up_port}']
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_targets_api_answers_as_prometheus_does() {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} missing: run scripts/setup.sh"
    );
    let down_port = free_port();
    // Prometheus scrapes itself: `start` fills in its own port.
    let prometheus = start(PROMETHEUS, &comparison_config("{port}", down_port), &[]).await;
    let narthex = narthex(
        &comparison_config(&prometheus.port.to_string(), down_port),
        &[],
    )
    .await;

    let wait_scraped = |server: &Server| {
        let base = server.base.clone();
        async move {
            wait_until("every target scraped", Duration::from_secs(30), || async {
                let json = get_json(&format!("{base}/api/v1/targets")).await;
                let targets = json["data"]["activeTargets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                (targets.len() == 3 && targets.iter().all(|t| t["health"] != "unknown"))
                    .then_some(json)
            })
            .await
        }
    };
    let theirs = wait_scraped(&prometheus).await;
    let ours = wait_scraped(&narthex).await;

    let by_pool_and_url = |json: &Value| -> BTreeMap<(String, String), Value> {
        json["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    (
                        t["scrapePool"].as_str().unwrap().to_string(),
                        t["scrapeUrl"].as_str().unwrap().to_string(),
                    ),
                    t.clone(),
                )
            })
            .collect()
    };
    let their_targets = by_pool_and_url(&theirs);
    let our_targets = by_pool_and_url(&ours);
    assert_eq!(
        their_targets.keys().collect::<Vec<_>>(),
        our_targets.keys().collect::<Vec<_>>()
    );
    for (key, their) in &their_targets {
        let our = &our_targets[key];
        let keys = |v: &Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(keys(their), keys(our), "{key:?}");
        for field in [
            "discoveredLabels",
            "labels",
            "scrapePool",
            "scrapeUrl",
            "health",
            "scrapeInterval",
            "scrapeTimeout",
        ] {
            assert_eq!(their[field], our[field], "{key:?} {field}");
        }
        assert_eq!(
            their["lastError"] == "",
            our["lastError"] == "",
            "{key:?}: {} / {}",
            their["lastError"],
            our["lastError"]
        );
        let last_scrape = our["lastScrape"].as_str().unwrap();
        assert!(
            last_scrape.ends_with('Z') && last_scrape.starts_with("20"),
            "{last_scrape}"
        );
        assert!(our["lastScrapeDuration"].as_f64().unwrap() > 0.0);
    }
    let down = &our_targets[&(
        "pool-a".to_string(),
        format!("http://127.0.0.1:{down_port}/metrics?format=text"),
    )];
    assert!(
        down["lastError"]
            .as_str()
            .unwrap()
            .contains("onnection refused"),
        "{down}"
    );
    // Prometheus 3 adds `scrapePool` to dropped targets; 2.42 has only the labels.
    let dropped_labels = |json: &Value| -> Vec<Value> {
        json["data"]["droppedTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["discoveredLabels"].clone())
            .collect()
    };
    assert_eq!(dropped_labels(&theirs), dropped_labels(&ours));
    assert_eq!(ours["data"]["droppedTargets"][0]["scrapePool"], "pool-a");
    assert_eq!(
        ours["data"]["droppedTargetCounts"],
        serde_json::json!({"pool-a": 1, "pool-b": 0})
    );

    // Filters.
    let active_only = get_json(&format!("{}/api/v1/targets?state=active", narthex.base)).await;
    assert_eq!(active_only["data"]["droppedTargets"], serde_json::json!([]));
    assert_eq!(active_only["data"]["droppedTargetCounts"], Value::Null);
    let dropped_only = get_json(&format!("{}/api/v1/targets?state=dropped", narthex.base)).await;
    assert_eq!(dropped_only["data"]["activeTargets"], serde_json::json!([]));
    let pool_b = get_json(&format!(
        "{}/api/v1/targets?scrapePool=pool-b",
        narthex.base
    ))
    .await;
    assert_eq!(pool_b["data"]["activeTargets"].as_array().unwrap().len(), 1);

    // The status endpoints carry the same fields as Prometheus's.
    for endpoint in ["runtimeinfo", "buildinfo"] {
        let keys = |json: Value| {
            json["data"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        let theirs = keys(get_json(&format!("{}/api/v1/status/{endpoint}", prometheus.base)).await);
        let ours = keys(get_json(&format!("{}/api/v1/status/{endpoint}", narthex.base)).await);
        assert!(
            ours.is_superset(&theirs),
            "{endpoint}: missing {:?}",
            theirs.difference(&ours).collect::<Vec<_>>()
        );
    }
    let flags = get_json(&format!("{}/api/v1/status/flags", narthex.base)).await;
    assert_eq!(
        flags["data"]["web.listen-address"],
        format!("127.0.0.1:{}", narthex.port)
    );
    assert_eq!(flags["data"]["storage.tsdb.retention.time"], "15d");
    assert_eq!(flags["data"]["web.enable-lifecycle"], "false");
    let config = get_json(&format!("{}/api/v1/status/config", narthex.base)).await;
    assert!(config["data"]["yaml"]
        .as_str()
        .unwrap()
        .contains("job_name: pool-b"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_api_masks_secrets() {
    let server = narthex(
        "scrape_configs:\n - job_name: a\n   basic_auth: {username: u, password: hunter2}\n - job_name: b\n   authorization: {credentials: t0ken}\n",
        &[],
    )
    .await;
    let config = get_json(&format!("{}/api/v1/status/config", server.base)).await;
    let yaml = config["data"]["yaml"].as_str().unwrap();
    assert!(
        !yaml.contains("hunter2") && !yaml.contains("t0ken"),
        "{yaml}"
    );
    assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
}

fn self_scrape_config(extra_job: &str) -> String {
    format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n - job_name: self\n   static_configs: [{{targets: ['127.0.0.1:{{port}}']}}]\n{extra_job}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn reloads_keep_running_loops_and_refuse_bad_files() {
    let server = narthex(&self_scrape_config(""), &["--web.enable-lifecycle"]).await;
    let port = server.port.to_string();
    wait_for_scrapes(&server, "self").await;
    let client = reqwest::Client::new();
    let reload = || async {
        let response = client
            .post(format!("{}/-/reload", server.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    };

    // A second pool with a target that is down.
    let down_port = free_port();
    server.write_config(
        &self_scrape_config(&format!(
            " - job_name: other\n   static_configs: [{{targets: ['127.0.0.1:{down_port}']}}]\n"
        ))
        .replace("{port}", &port),
    );
    assert_eq!(reload().await, (200, String::new()));
    // A new pool finds its targets in a task of its own, a moment after the reload.
    wait_until(
        "the other pool's target",
        Duration::from_secs(20),
        || async { (active_targets(&server).await.len() == 2).then_some(()) },
    )
    .await;
    wait_until("other scraped", Duration::from_secs(20), || async {
        let up = query(&server, "up{job=\"other\"}").await;
        up.first()
            .is_some_and(|v| sample_value(v) == 0.0)
            .then_some(())
    })
    .await;
    // The self target kept its loop: its series cache made later scrapes add no series in
    // bulk, which a new loop's first scrape would (every series counts as added then).
    wait_for_scrapes(&server, "self").await;
    let total = query(&server, "scrape_samples_scraped{job=\"self\"}").await;
    let total = sample_value(&total[0]);
    let added = query(
        &server,
        "max_over_time(scrape_series_added{job=\"self\"}[3s])",
    )
    .await;
    assert!(
        sample_value(&added[0]) < total / 2.0,
        "{added:?} of {total}"
    );

    // A file that does not load changes nothing and says why.
    let good = std::fs::read_to_string(server.config_path()).unwrap();
    server.write_config(&format!("{good}   scrape_intervall: 5s\n"));
    let (status, body) = reload().await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("unknown field `scrape_intervall`"), "{body}");
    assert!(body.contains("line"), "{body}");
    assert_eq!(active_targets(&server).await.len(), 2);
    let (_, metrics) = get_text(&format!("{}/metrics", server.base)).await;
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 0"),
        "{metrics}"
    );
    let runtime = get_json(&format!("{}/api/v1/status/runtimeinfo", server.base)).await;
    assert_eq!(runtime["data"]["reloadConfigSuccess"], false);

    // SIGHUP applies a file without the second pool: its target goes away, and its series end
    // at once with staleness markers instead of lingering for the lookback delta.
    server.write_config(&self_scrape_config("").replace("{port}", &port));
    unsafe { libc::kill(server.process.0.id() as i32, libc::SIGHUP) };
    wait_until(
        "the other pool removed",
        Duration::from_secs(20),
        || async { (active_targets(&server).await.len() == 1).then_some(()) },
    )
    .await;
    wait_until("up{job=other} stale", Duration::from_secs(10), || async {
        query(&server, "up{job=\"other\"}")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let (_, metrics) = get_text(&format!("{}/metrics", server.base)).await;
    assert!(
        metrics.contains("prometheus_config_last_reload_successful 1"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_api_is_off_by_default() {
    let server = narthex(&self_scrape_config(""), &[]).await;
    let response = reqwest::Client::new()
        .post(format!("{}/-/reload", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.text().await.unwrap(),
        "Lifecycle API is not enabled."
    );
}
