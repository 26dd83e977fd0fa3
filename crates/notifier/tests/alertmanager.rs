//! The notifier against Debian's real Alertmanager (`prometheus-alertmanager`, API v2): a
//! firing alert arrives with its labels (external ones included) and annotations, its
//! resolution takes it out of the active alerts, an alert dropped by `alert_relabel_configs`
//! never arrives, and relabeling of the Alertmanager targets (`__alerts_path__`) reaches an
//! Alertmanager served under a route prefix.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{alert, config, wait_for};
use narthex_notifier::{Notifier, NotifierOptions};
use serde_json::Value;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// A running Alertmanager with its own config and storage, killed when dropped.
struct RealAlertmanager {
    child: Child,
    address: String,
    prefix: String,
    dir: tempfile::TempDir,
}

impl RealAlertmanager {
    /// Starts one serving under `prefix` ("" for the root), gossip off, and waits until ready.
    async fn start(prefix: &str) -> RealAlertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        // Every alert goes to a receiver that notifies nobody: only the API is looked at.
        std::fs::write(
            &config,
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let mut command = Command::new(ALERTMANAGER);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log);
        if !prefix.is_empty() {
            command.arg(format!("--web.route-prefix={prefix}"));
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {ALERTMANAGER}: {e}"));
        let am = RealAlertmanager {
            child,
            address,
            prefix: prefix.to_string(),
            dir,
        };
        let ready = format!("{}/-/ready", am.base());
        let client = reqwest::Client::new();
        wait_for("Alertmanager to be ready", Duration::from_secs(30), || {
            let request = client.get(&ready).send();
            async move {
                match request.await {
                    Ok(response) if response.status().is_success() => Some(()),
                    _ => None,
                }
            }
        })
        .await;
        am
    }

    fn base(&self) -> String {
        format!("http://{}{}", self.address, self.prefix)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    /// `GET /api/v2/alerts` (which lists unresolved alerts only).
    async fn alerts(&self) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts", self.base());
        get_json(&url).await
    }

    async fn alert_named(&self, name: &str) -> Option<Value> {
        self.alerts()
            .await
            .into_iter()
            .find(|a| a["labels"]["alertname"] == name)
    }

    async fn wait_for_alert(&self, name: &str) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                if let Some(alert) = self.alert_named(name).await {
                    return alert;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{name} never arrived; log:\n{}", self.log()))
    }
}

impl Drop for RealAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get_json(url: &str) -> Vec<Value> {
    let response = reqwest::get(url).await.unwrap();
    assert!(response.status().is_success(), "{url}: {response:?}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

fn alertmanagers_yaml(address: &str) -> String {
    format!("alerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['{address}']}}]\n")
}

#[tokio::test]
async fn a_firing_alert_arrives_and_its_resolution_ends_it() {
    assert!(Path::new(ALERTMANAGER).exists(), "{ALERTMANAGER} missing");
    let am = RealAlertmanager::start("").await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            "global:\n  external_labels: {{cluster: eu-1, replica: a}}\n{}",
            alertmanagers_yaml(&am.address)
        )))
        .unwrap();
    let firing = alert(
        &[
            ("alertname", "DiskFull"),
            ("instance", "db:9100"),
            ("severity", "page"),
            ("replica", "b"),
        ],
        &[
            ("summary", "Disk almost full"),
            ("description", "Less than 5% left on <root>"),
        ],
    );
    notifier.send(vec![firing.clone()]);

    let received = am.wait_for_alert("DiskFull").await;
    assert_eq!(
        received["labels"],
        serde_json::json!({
            "alertname": "DiskFull",
            "instance": "db:9100",
            "severity": "page",
            "cluster": "eu-1",
            "replica": "b",
        }),
        "external labels are added where the alert lacks them"
    );
    assert_eq!(
        received["annotations"],
        serde_json::json!({
            "summary": "Disk almost full",
            "description": "Less than 5% left on <root>",
        })
    );
    assert_eq!(received["status"]["state"], "active");
    let metrics = notifier.metrics();
    let url = format!("http://{}/api/v2/alerts", am.address);
    assert_eq!(metrics.alertmanagers[0].url, url);
    assert_eq!(metrics.alertmanagers[0].errors_total, 0);

    // Resolved: the same alert with an end in the past.
    let mut resolved = firing;
    resolved.ends_at = Some(SystemTime::now() - Duration::from_secs(1));
    notifier.send(vec![resolved]);
    tokio::time::timeout(Duration::from_secs(15), async {
        while am.alert_named("DiskFull").await.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the resolved alert is still active; log:\n{}", am.log()));
    let active = get_json(&format!("http://{}/api/v2/alerts?active=true", am.address)).await;
    assert!(active.is_empty(), "{active:?}");
    notifier.stop(Duration::from_secs(5)).await;
    let metrics = notifier.metrics();
    assert_eq!(metrics.dropped_total, 0);
}

#[tokio::test]
async fn alerts_dropped_by_alert_relabeling_never_arrive() {
    let am = RealAlertmanager::start("").await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            "{}  alert_relabel_configs:\n  - source_labels: [severity]\n    regex: debug\n    action: drop\n  - source_labels: [instance]\n    regex: '(.*):\\d+'\n    target_label: host\n",
            alertmanagers_yaml(&am.address)
        )))
        .unwrap();
    // Sent in one batch: once the kept one is there, the other would be too.
    notifier.send(vec![
        alert(&[("alertname", "Noise"), ("severity", "debug")], &[]),
        alert(
            &[
                ("alertname", "Kept"),
                ("severity", "page"),
                ("instance", "web:80"),
            ],
            &[],
        ),
    ]);
    let kept = am.wait_for_alert("Kept").await;
    assert_eq!(kept["labels"]["host"], "web");
    let names: Vec<Value> = am
        .alerts()
        .await
        .iter()
        .map(|a| a["labels"]["alertname"].clone())
        .collect();
    assert_eq!(names, [Value::from("Kept")]);
    assert_eq!(notifier.metrics().alertmanagers[0].sent_total, 1);
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn relabeled_alertmanager_targets_choose_path_and_are_dropped() {
    let am = RealAlertmanager::start("/am").await;
    let notifier = Notifier::new(NotifierOptions::default());
    // Discovered: the real one (role main) and another (role spare) that relabeling drops. The
    // path comes from a discovered label through __alerts_path__, not from path_prefix.
    let yaml = format!(
        r#"alerting:
  alertmanagers:
  - path_prefix: /wrong
    static_configs:
    - targets: ['{address}']
      labels: {{role: main, prefix: am}}
    - targets: ['127.0.0.1:1']
      labels: {{role: spare}}
    relabel_configs:
    - source_labels: [role]
      regex: main
      action: keep
    - source_labels: [prefix]
      target_label: __alerts_path__
      replacement: /${{1}}/api/v2/alerts
"#,
        address = am.address
    );
    notifier.apply_config(&config(&yaml)).unwrap();
    let urls = notifier.alertmanagers();
    assert_eq!(
        urls.active,
        [format!("http://{}/am/api/v2/alerts", am.address)]
    );
    assert_eq!(urls.dropped, ["http://127.0.0.1:1/wrong/api/v2/alerts"]);

    notifier.send(vec![alert(
        &[("alertname", "Prefixed")],
        &[("runbook", "x")],
    )]);
    let received = am.wait_for_alert("Prefixed").await;
    assert_eq!(received["annotations"]["runbook"], "x");
    let metrics = notifier.metrics();
    assert_eq!(
        (
            metrics.alertmanagers_discovered,
            metrics.alertmanagers[0].errors_total
        ),
        (1, 0)
    );
    notifier.stop(Duration::from_secs(5)).await;
}
