//! The notifier against stand-in Alertmanagers on loopback: the request it makes (path,
//! headers, body), batching, the queue's overflow, failing and slow Alertmanagers, file
//! discovery of Alertmanagers, reloads, and stopping.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{alert, config, wait_for, Behaviour, FakeAlertmanager};
use narthex_model::Labels;
use narthex_notifier::{Alert, AlertmanagerUrls, Notifier, NotifierOptions};
use tokio::sync::Semaphore;

fn static_config(addresses: &[&str], extra: &str) -> String {
    format!(
        "alerting:\n  alertmanagers:\n  - static_configs: [{{targets: {addresses:?}}}]\n{extra}"
    )
}

fn named(count: usize, prefix: &str) -> Vec<Alert> {
    (0..count)
        .map(|i| alert(&[("alertname", &format!("{prefix}{i}"))], &[]))
        .collect()
}

#[tokio::test]
async fn the_request_is_prometheus_s() {
    let am = FakeAlertmanager::start(Behaviour::Accept).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            "global:\n  external_labels: {{cluster: eu, team: infra}}\n{}    path_prefix: /prefix/\n    bearer_token: t0k3n\n",
            static_config(&[&am.address], "")
        )))
        .unwrap();
    assert_eq!(
        notifier.alertmanagers(),
        AlertmanagerUrls {
            active: vec![format!("http://{}/prefix/api/v2/alerts", am.address)],
            dropped: vec![],
        }
    );
    let at = |millis| UNIX_EPOCH + Duration::from_millis(millis);
    notifier.send(vec![Alert {
        labels: Labels::from_pairs([
            ("alertname", "HighLatency"),
            ("team", "db"),
            ("instance", "a:1"),
        ]),
        annotations: Labels::from_pairs([("summary", "p99 > 1s")]),
        starts_at: at(1_700_000_000_123),
        ends_at: Some(at(1_700_000_060_000)),
        generator_url: "http://narthex:9090/graph?g0.expr=up".into(),
    }]);
    let request = am.wait_for_requests(1).await.remove(0);
    assert_eq!(request.path, "/prefix/api/v2/alerts");
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        header("user-agent"),
        concat!("Narthex/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(header("authorization"), "Bearer t0k3n");
    // The alert's own `team` wins over the external label; `cluster` is added.
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        concat!(
            r#"[{"annotations":{"summary":"p99 \u003e 1s"},"endsAt":"2023-11-14T22:14:20.000Z","#,
            r#""startsAt":"2023-11-14T22:13:20.123Z","generatorURL":"http://narthex:9090/graph?g0.expr=up","#,
            r#""labels":{"alertname":"HighLatency","cluster":"eu","instance":"a:1","team":"db"}}]"#
        )
    );
    let metrics = notifier.metrics();
    assert_eq!(metrics.alertmanagers_discovered, 1);
    assert_eq!(metrics.alertmanagers[0].sent_total, 1);
    assert_eq!(metrics.alertmanagers[0].errors_total, 0);
    assert_eq!(metrics.alertmanagers[0].latency_seconds_count, 1);
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn more_than_a_batch_goes_in_several_posts_in_order() {
    let am = FakeAlertmanager::start(Behaviour::Accept).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&static_config(&[&am.address], "")))
        .unwrap();
    notifier.send(named(600, "a"));
    let requests = am.wait_for_requests(3).await;
    let sizes: Vec<usize> = requests.iter().map(|r| r.names().len()).collect();
    assert_eq!(sizes, [256, 256, 88]);
    let names: Vec<String> = requests.iter().flat_map(|r| r.names()).collect();
    assert_eq!(names, (0..600).map(|i| format!("a{i}")).collect::<Vec<_>>());
    let metrics = notifier.metrics();
    assert_eq!(metrics.alertmanagers[0].sent_total, 600);
    assert_eq!(metrics.queue_length, 0);
    assert_eq!(metrics.dropped_total, 0);
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_and_counts_them() {
    let gate = Arc::new(Semaphore::new(0));
    let am = FakeAlertmanager::start(Behaviour::Gate(gate.clone())).await;
    let notifier = Notifier::new(NotifierOptions {
        queue_capacity: 10,
        ..NotifierOptions::default()
    });
    notifier
        .apply_config(&config(&static_config(&[&am.address], "")))
        .unwrap();
    // The first alert is taken and its post held at the gate, so the rest waits in the queue.
    notifier.send(named(1, "first"));
    am.wait_for_requests(1).await;
    notifier.send(named(8, "a"));
    notifier.send(named(5, "b"));
    let metrics = notifier.metrics();
    assert_eq!((metrics.queue_length, metrics.queue_capacity), (10, 10));
    assert_eq!(metrics.dropped_total, 3);
    // A call larger than the queue keeps its newest alerts only.
    notifier.send(named(12, "c"));
    let metrics = notifier.metrics();
    assert_eq!(
        (metrics.queue_length, metrics.dropped_total),
        (10, 3 + 2 + 10)
    );

    gate.add_permits(10);
    let requests = am.wait_for_requests(2).await;
    assert_eq!(
        requests[1].names(),
        (2..12).map(|i| format!("c{i}")).collect::<Vec<_>>()
    );
    assert_eq!(notifier.metrics().queue_length, 0);
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn failing_and_slow_alertmanagers_count_errors_without_holding_up_the_others() {
    let good = FakeAlertmanager::start(Behaviour::Accept).await;
    let broken = FakeAlertmanager::start(Behaviour::Status(500)).await;
    let slow = FakeAlertmanager::start(Behaviour::Delay(Duration::from_secs(30))).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&static_config(
            &[&good.address, &broken.address, &slow.address],
            "    timeout: 2s\n",
        )))
        .unwrap();
    let sent = Instant::now();
    notifier.send(named(3, "x"));
    let received = good.wait_for_requests(1).await;
    // Had it waited for the slow one, it would have come after the 2s timeout.
    assert!(
        received[0].at.duration_since(sent) < Duration::from_millis(1900),
        "the good Alertmanager got the batch only after {:?}",
        received[0].at.duration_since(sent)
    );
    broken.wait_for_requests(1).await;
    slow.wait_for_requests(1).await;
    let metrics = wait_for(
        "the slow post to time out",
        Duration::from_secs(5),
        || async {
            let metrics = notifier.metrics();
            let done = metrics
                .alertmanagers
                .iter()
                .all(|am| am.latency_seconds_count == 1);
            done.then_some(metrics)
        },
    )
    .await;
    let of = |url: String| {
        metrics
            .alertmanagers
            .iter()
            .find(|am| am.url == url)
            .cloned()
            .unwrap()
    };
    let (good_m, broken_m, slow_m) = (of(good.url()), of(broken.url()), of(slow.url()));
    assert_eq!((good_m.sent_total, good_m.errors_total), (3, 0));
    assert_eq!((broken_m.sent_total, broken_m.errors_total), (3, 3));
    assert_eq!((slow_m.sent_total, slow_m.errors_total), (3, 3));
    assert!(slow_m.latency_seconds_sum >= 2.0 && slow_m.latency_seconds_sum < 6.0);
    // One Alertmanager of the set took the batch: nothing is dropped.
    assert_eq!(metrics.dropped_total, 0);

    // A set whose only Alertmanager fails loses the batch, and that is counted.
    notifier
        .apply_config(&config(&format!(
            "{}  - static_configs: [{{targets: ['{}']}}]\n",
            static_config(&[&good.address], ""),
            broken.address
        )))
        .unwrap();
    notifier.send(named(2, "y"));
    broken.wait_for_requests(2).await;
    good.wait_for_requests(2).await;
    wait_for(
        "the lost batch to be counted",
        Duration::from_secs(5),
        || async { (notifier.metrics().dropped_total == 2).then_some(()) },
    )
    .await;
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn alertmanagers_from_files_follow_the_files() {
    let first = FakeAlertmanager::start(Behaviour::Accept).await;
    let second = FakeAlertmanager::start(Behaviour::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alertmanagers.yml");
    let write = |addresses: &[&str]| {
        let temporary = dir.path().join("tmp");
        std::fs::write(&temporary, format!("- targets: {addresses:?}\n")).unwrap();
        std::fs::rename(&temporary, &file).unwrap();
    };
    write(&[&first.address]);
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            "alerting:\n  alertmanagers:\n  - file_sd_configs: [{{files: ['{}'], refresh_interval: 1s}}]\n",
            file.display()
        )))
        .unwrap();
    wait_for(
        "the first Alertmanager",
        Duration::from_secs(10),
        || async { (notifier.alertmanagers().active == [first.url()]).then_some(()) },
    )
    .await;

    write(&[&first.address, &second.address]);
    wait_for(
        "the second Alertmanager",
        Duration::from_secs(10),
        || async { (notifier.alertmanagers().active.len() == 2).then_some(()) },
    )
    .await;
    assert_eq!(notifier.metrics().alertmanagers_discovered, 2);
    notifier.send(named(1, "both"));
    assert_eq!(second.wait_for_requests(1).await[0].names(), ["both0"]);
    assert_eq!(first.wait_for_requests(1).await[0].names(), ["both0"]);

    write(&[&second.address]);
    wait_for("the first to go", Duration::from_secs(10), || async {
        (notifier.alertmanagers().active == [second.url()]).then_some(())
    })
    .await;
    let urls: Vec<String> = notifier
        .metrics()
        .alertmanagers
        .into_iter()
        .map(|m| m.url)
        .collect();
    assert_eq!(urls, [second.url()], "the series of a gone Alertmanager go");
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_config_that_fails_leaves_the_old_one_running() {
    let am = FakeAlertmanager::start(Behaviour::Accept).await;
    let other = FakeAlertmanager::start(Behaviour::Accept).await;
    let notifier = Notifier::new(NotifierOptions::default());
    let good = config(&static_config(&[&am.address], ""));
    notifier.apply_config(&good).unwrap();

    let bad = config(&format!(
        "{}{}    tls_config: {{ca_file: /nonexistent/ca.pem}}\n",
        static_config(&[&other.address], ""),
        "  - static_configs: [{targets: ['x:1']}]\n"
    ));
    let err = notifier.apply_config(&bad).unwrap_err().to_string();
    assert!(
        err.contains("alertmanagers[1]") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
    assert_eq!(notifier.alertmanagers().active, [am.url()]);
    notifier.send(named(1, "still"));
    assert_eq!(am.wait_for_requests(1).await[0].names(), ["still0"]);
    assert!(other.requests().is_empty());

    // An unchanged entry keeps its set; the alert relabeling of the new config applies.
    let relabeled = config(&format!(
        "{}  alert_relabel_configs:\n  - target_label: via\n    replacement: reload\n",
        static_config(&[&am.address], "")
    ));
    notifier.apply_config(&relabeled).unwrap();
    notifier.send(named(1, "after"));
    let body = am.wait_for_requests(2).await[1].json();
    assert_eq!(body[0]["labels"]["via"], "reload");
    notifier.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn stop_drains_the_queue_within_its_deadline() {
    let gate = Arc::new(Semaphore::new(0));
    let am = FakeAlertmanager::start(Behaviour::Gate(gate.clone())).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&static_config(&[&am.address], "")))
        .unwrap();
    notifier.send(named(1, "held"));
    am.wait_for_requests(1).await;
    notifier.send(named(300, "queued"));
    // Released in time: everything queued is sent before stop returns.
    let release = {
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            gate.add_permits(100);
        })
    };
    notifier.stop(Duration::from_secs(10)).await;
    release.await.unwrap();
    let names: usize = am.requests().iter().map(|r| r.names().len()).sum();
    assert_eq!(names, 301);
    assert_eq!(notifier.metrics().dropped_total, 0);
    assert!(notifier.alertmanagers().active.is_empty());
    // After stop, alerts are ignored.
    notifier.send(named(1, "late"));
    assert_eq!(notifier.metrics().queue_length, 0);

    // Never released: the deadline cuts the drain and what was unsent is counted.
    let stuck = FakeAlertmanager::start(Behaviour::Gate(Arc::new(Semaphore::new(0)))).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&static_config(&[&stuck.address], "")))
        .unwrap();
    notifier.send(named(1, "held"));
    stuck.wait_for_requests(1).await;
    notifier.send(named(5, "queued"));
    let started = Instant::now();
    notifier.stop(Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    let metrics = notifier.metrics();
    assert_eq!((metrics.dropped_total, metrics.queue_length), (6, 0));
}

#[tokio::test]
async fn resolved_alerts_carry_their_end_and_relabel_drops_apply_per_set() {
    let a = FakeAlertmanager::start(Behaviour::Accept).await;
    let b = FakeAlertmanager::start(Behaviour::Accept).await;
    let notifier = Notifier::new(NotifierOptions::default());
    notifier
        .apply_config(&config(&format!(
            "{}  - static_configs: [{{targets: ['{}']}}]\n    alert_relabel_configs:\n    - source_labels: [severity]\n      regex: page\n      action: keep\n",
            static_config(&[&a.address], ""),
            b.address
        )))
        .unwrap();
    let mut resolved = alert(&[("alertname", "Gone"), ("severity", "page")], &[]);
    let ended = SystemTime::now() - Duration::from_secs(5);
    resolved.ends_at = Some(ended);
    notifier.send(vec![
        resolved,
        alert(&[("alertname", "Info"), ("severity", "info")], &[]),
    ]);
    assert_eq!(a.wait_for_requests(1).await[0].names(), ["Gone", "Info"]);
    let to_b = b.wait_for_requests(1).await[0].json();
    assert_eq!(to_b.as_array().unwrap().len(), 1);
    assert_eq!(to_b[0]["labels"]["alertname"], "Gone");
    let ends_at = to_b[0]["endsAt"].as_str().unwrap().to_string();
    assert!(ends_at.ends_with('Z') && ends_at.len() == 24, "{ends_at}");
    notifier.stop(Duration::from_secs(5)).await;
}
