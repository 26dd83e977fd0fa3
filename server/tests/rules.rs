//! Rules end to end with the real binary: the seed's alert goes pending then firing for a target
//! that is down, ALERTS is written, a recording rule records, the rules and alerts APIs carry
//! Prometheus's fields (compared with Debian's Prometheus running the same files), and a reload
//! with a broken rule file keeps the old rules.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::*;

/// The seed's InstanceDown with a shorter `for` (the 30 s one runs in the Alertmanager test),
/// a templated annotation, and a recording rule.
const RULES: &str = r#"groups:
 - name: example
   rules:
   - alert: InstanceDown
     expr: up == 0
     for: 3s
     labels:
       severity: page
     annotations:
       summary: "Instance {{ $labels.instance }} down"
   - record: job:up:sum
     expr: sum by (job) (up)
"#;

/// Writes the rules next to a config that scrapes `down_port` (nothing listens there) and
/// names them; `{port}` stays for `start` to fill in.
fn config_with_rules(dir: &Path, down_port: u16) -> String {
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{}']\nscrape_configs:\n - job_name: down\n   static_configs: [{{targets: ['127.0.0.1:{down_port}']}}]\n",
        rules.display()
    )
}

async fn alerts(server: &Server) -> Vec<Value> {
    let json = get_json(&format!("{}/api/v1/alerts", server.base)).await;
    json["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_for_state(server: &Server, state: &str) -> Value {
    wait_until(
        &format!("an alert {state}"),
        Duration::from_secs(30),
        || async {
            alerts(server)
                .await
                .into_iter()
                .find(|a| a["state"] == state)
        },
    )
    .await
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_alert_goes_pending_then_firing_as_in_prometheus() {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} missing: run scripts/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_rules(dir.path(), free_port());
    let ours = narthex(&config, &[]).await;
    let theirs = start(PROMETHEUS, &config, &[]).await;

    let pending = wait_for_state(&ours, "pending").await;
    assert_eq!(pending["labels"]["alertname"], "InstanceDown");
    assert_eq!(pending["labels"]["severity"], "page");
    assert_eq!(pending["value"], "0e+00");
    let firing = wait_for_state(&ours, "firing").await;
    assert_eq!(firing["labels"]["job"], "down");
    let fired = query(
        &ours,
        "ALERTS{alertname=\"InstanceDown\",alertstate=\"firing\"}",
    )
    .await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let recorded = query(&ours, "job:up:sum").await;
    assert_eq!(sample_value(&recorded[0]), 0.0);

    // Prometheus gets there too; the documents have the same shape.
    let their_firing = wait_for_state(&theirs, "firing").await;
    assert_eq!(keys(&firing), keys(&their_firing));
    assert_eq!(firing["labels"], their_firing["labels"]);
    // The annotation template expanded as Prometheus expands it.
    assert_eq!(firing["annotations"], their_firing["annotations"]);
    assert!(
        firing["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Instance 127.0.0.1:"),
        "{firing}"
    );
    let our_rules = get_json(&format!("{}/api/v1/rules", ours.base)).await;
    let their_rules = get_json(&format!("{}/api/v1/rules", theirs.base)).await;
    let our_group = &our_rules["data"]["groups"][0];
    let their_group = &their_rules["data"]["groups"][0];
    assert_eq!(keys(our_group), keys(their_group));
    for field in ["name", "interval", "limit"] {
        assert_eq!(our_group[field], their_group[field], "{field}");
    }
    for i in 0..2 {
        let (our_rule, their_rule) = (&our_group["rules"][i], &their_group["rules"][i]);
        assert_eq!(keys(our_rule), keys(their_rule), "rule {i}");
        for field in [
            "name",
            "query",
            "type",
            "health",
            "labels",
            "duration",
            "annotations",
            "state",
        ] {
            assert_eq!(our_rule[field], their_rule[field], "rule {i} {field}");
        }
    }
    let our_alert = &our_group["rules"][0]["alerts"][0];
    let their_alert = &their_group["rules"][0]["alerts"][0];
    assert_eq!(keys(our_alert), keys(their_alert));

    // Filters.
    let recording = get_json(&format!("{}/api/v1/rules?type=record", ours.base)).await;
    let rules = recording["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["type"], "recording");
    let (status, body) = get_text(&format!("{}/api/v1/rules?type=nope", ours.base)).await;
    assert_eq!(status, 400, "{body}");

    let (_, metrics) = get_text(&format!("{}/metrics", ours.base)).await;
    assert!(
        metrics.contains("prometheus_rule_group_rules{rule_group="),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_rule_file_is_refused_at_reload_and_the_old_rules_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_rules(dir.path(), free_port());
    let server = narthex(&config, &["--web.enable-lifecycle"]).await;
    wait_for_state(&server, "pending").await;
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n - name: example\n   rules:\n   - alert: Broken\n     expr: up ==\n",
    )
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/-/reload", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let body = response.text().await.unwrap();
    assert!(body.contains("rules.yml"), "{body}");
    assert!(body.contains("line 4"), "{body}");
    assert!(body.contains("could not parse expression"), "{body}");
    let rules = get_json(&format!("{}/api/v1/rules", server.base)).await;
    assert_eq!(
        rules["data"]["groups"][0]["rules"][0]["name"],
        "InstanceDown"
    );
    // The alert keeps its state: it still fires on schedule.
    wait_for_state(&server, "firing").await;

    // A start with a broken rule file fails, naming it.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_narthex"))
        .arg("server")
        .arg(format!("--config.file={}", server.config_path().display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("other").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("could not parse expression"), "{stderr}");
}

/// Debian's Alertmanager on a free port, with a receiver that sends nowhere.
async fn alertmanager(dir: &Path) -> (Process, String) {
    const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} missing: run scripts/setup.sh"
    );
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n",
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
    let process = Process(
        std::process::Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let ready = format!("{base}/-/ready");
    wait_until("alertmanager ready", Duration::from_secs(30), || async {
        (status_of(&ready).await == Some(200)).then_some(())
    })
    .await;
    (process, base)
}

/// The alerts Alertmanager holds that are not resolved.
async fn alertmanager_alerts(base: &str) -> Vec<Value> {
    let json = get_json(&format!("{base}/api/v2/alerts?active=true")).await;
    json.as_array().cloned().unwrap_or_default()
}

/// A scrape target whose health the test switches.
async fn switchable_target() -> (std::net::SocketAddr, Arc<AtomicBool>) {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let healthy = flag.load(Ordering::SeqCst);
            async move {
                if healthy {
                    (
                        axum::http::StatusCode::OK,
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        "app_ready 1\n",
                    )
                } else {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        [(axum::http::header::CONTENT_TYPE, "text/plain")],
                        "stopped\n",
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, healthy)
}

/// The issue's end-to-end case: the seed's rules.yml unchanged (`InstanceDown`, `up == 0` for
/// 30 s), a target that stops, the alert pending then firing after 30 s, Debian's real
/// Alertmanager receiving it, and resolving it when the target returns.
#[tokio::test(flavor = "multi_thread")]
async fn instance_down_reaches_the_real_alertmanager_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let (_am, am_base) = alertmanager(dir.path()).await;
    let (target, healthy) = switchable_target().await;
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules.yml");
    let am_address = am_base.trim_start_matches("http://");
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{cluster: test}}}}\nrule_files: ['{}']\nscrape_configs:\n - job_name: app\n   static_configs: [{{targets: ['{target}']}}]\nalerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['{am_address}']}}]\n",
        rules.display()
    );
    let server = narthex(&config, &[]).await;
    let am = get_json(&format!("{}/api/v1/alertmanagers", server.base)).await;
    assert_eq!(
        am["data"]["activeAlertmanagers"][0]["url"],
        format!("{am_base}/api/v2/alerts")
    );
    wait_until("the target up", Duration::from_secs(20), || async {
        let up = query(&server, "up{job=\"app\"}").await;
        up.first()
            .is_some_and(|v| sample_value(v) == 1.0)
            .then_some(())
    })
    .await;

    healthy.store(false, Ordering::SeqCst);
    wait_for_state(&server, "pending").await;
    let pending_since = std::time::Instant::now();
    assert!(
        alertmanager_alerts(&am_base).await.is_empty(),
        "pending alerts are not sent"
    );
    wait_for_state_within(&server, "firing", Duration::from_secs(45)).await;
    let waited = pending_since.elapsed();
    assert!(
        waited >= Duration::from_secs(27),
        "fired after only {waited:?}"
    );

    let received = wait_until(
        "the alert in Alertmanager",
        Duration::from_secs(20),
        || async {
            alertmanager_alerts(&am_base)
                .await
                .into_iter()
                .find(|a| a["labels"]["alertname"] == "InstanceDown")
        },
    )
    .await;
    assert_eq!(received["labels"]["job"], "app");
    assert_eq!(received["labels"]["instance"], target.to_string());
    assert_eq!(received["labels"]["cluster"], "test");
    assert_eq!(received["status"]["state"], "active");
    assert!(
        received["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr=up+%3D%3D+0&g0.tab=1"),
        "{received}"
    );

    // The target comes back: the alert resolves and leaves Alertmanager's active alerts.
    healthy.store(true, Ordering::SeqCst);
    wait_until(
        "the alert resolved in Alertmanager",
        Duration::from_secs(30),
        || async {
            alertmanager_alerts(&am_base)
                .await
                .iter()
                .all(|a| a["labels"]["alertname"] != "InstanceDown")
                .then_some(())
        },
    )
    .await;
    assert!(alerts(&server).await.is_empty());
    let (_, metrics) = get_text(&format!("{}/metrics", server.base)).await;
    assert!(
        metrics.contains("prometheus_notifications_sent_total{alertmanager="),
        "{metrics}"
    );
}

async fn wait_for_state_within(server: &Server, state: &str, timeout: Duration) -> Value {
    wait_until(&format!("an alert {state}"), timeout, || async {
        alerts(server)
            .await
            .into_iter()
            .find(|a| a["state"] == state)
    })
    .await
}
