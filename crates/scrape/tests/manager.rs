//! The scrape manager with real discovery (files on disk), real HTTP targets on loopback and a
//! real TSDB: targets follow the file, targets that go away get staleness markers, relabeling
//! drops and rewrites targets, and `target_limit` fails a pool's scrapes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::routing::get;
use axum::Router;
use narthex_config::Config;
use narthex_model::{is_stale_nan, Matcher, Series, SeriesOrder, Storage};
use narthex_scrape::{ScrapeManager, TargetHealth, TargetStatus};
use narthex_tsdb::Tsdb;

/// A target that serves one gauge named after its port.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = format!(
        "# TYPE served gauge\nserved{{port=\"{}\"}} 1\n",
        addr.port()
    );
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn select(tsdb: &Tsdb, name: &str) -> Vec<Series> {
    tsdb.querier()
        .select(
            SeriesOrder::Labels,
            &[Matcher::equal("__name__", name)],
            0,
            i64::MAX / 2,
        )
        .unwrap()
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn targets_by_instance(manager: &ScrapeManager) -> Vec<(String, TargetStatus)> {
    let mut targets: Vec<_> = manager
        .targets()
        .into_iter()
        .map(|t| (t.target.labels.get("instance").unwrap_or("").to_string(), t))
        .collect();
    targets.sort_by(|a, b| a.0.cmp(&b.0));
    targets
}

fn file_sd_config(path: &std::path::Path, extra: &str) -> Config {
    Config::parse(
        &format!(
            "scrape_configs:\n - job_name: files\n   scrape_interval: 1s\n   file_sd_configs: [{{files: ['{}']}}]\n{extra}",
            path.display()
        ),
        "test",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn targets_follow_a_watched_file_and_removed_ones_go_stale() {
    let (a, b) = (serve().await, serve().await);
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(data.path()).unwrap();
    let manager = ScrapeManager::new(tsdb.clone());
    let targets_file = dir.path().join("targets.yml");
    std::fs::write(
        &targets_file,
        format!("- targets: ['{a}', '{b}']\n  labels: {{team: x}}\n"),
    )
    .unwrap();
    manager
        .apply_config(&file_sd_config(&targets_file, ""))
        .unwrap();

    let targets = wait_for("two healthy targets", || {
        let targets = targets_by_instance(&manager);
        (targets.len() == 2 && targets.iter().all(|(_, t)| t.health == TargetHealth::Up))
            .then_some(targets)
    })
    .await;
    let (_, first) = &targets[0];
    assert_eq!(first.target.labels.get("team"), Some("x"));
    assert_eq!(first.target.labels.get("job"), Some("files"));
    assert_eq!(
        first.target.discovered_labels.get("__meta_filepath"),
        Some(targets_file.to_str().unwrap())
    );
    assert_eq!(first.metadata["served"].metric_type, "gauge");

    // The file loses `b`: its loop stops and its series end with a staleness marker.
    std::fs::write(&targets_file, format!("- targets: ['{a}']\n")).unwrap();
    wait_for("one target left", || {
        (targets_by_instance(&manager).len() == 1).then_some(())
    })
    .await;
    let b_port = b.port().to_string();
    wait_for("b's series marked stale", || {
        let series = select(&tsdb, "served");
        let b_series = series
            .iter()
            .find(|s| s.labels.get("port") == Some(b_port.as_str()))?;
        is_stale_nan(b_series.samples.last()?.v).then_some(())
    })
    .await;
    let up = select(&tsdb, "up");
    let b_up = up
        .iter()
        .find(|s| s.labels.get("instance") == Some(b.to_string().as_str()))
        .unwrap();
    assert!(is_stale_nan(b_up.samples.last().unwrap().v));
    manager.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn relabeling_drops_targets_and_the_target_limit_fails_the_pool() {
    let (a, b) = (serve().await, serve().await);
    let data = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(data.path()).unwrap();
    let manager = ScrapeManager::new(tsdb.clone());
    let config = |extra: &str| {
        Config::parse(
            &format!(
                "scrape_configs:\n - job_name: static\n   scrape_interval: 1s\n   static_configs: [{{targets: ['{a}', '{b}', 'dropped:1']}}]\n   relabel_configs:\n    - {{source_labels: [__address__], regex: 'dropped:.*', action: drop}}\n    - {{target_label: env, replacement: lab}}\n{extra}"
            ),
            "test",
        )
        .unwrap()
    };
    manager.apply_config(&config("")).unwrap();
    wait_for("two healthy targets", || {
        let targets = manager.targets();
        (targets.len() == 2 && targets.iter().all(|t| t.health == TargetHealth::Up)).then_some(())
    })
    .await;
    let (dropped, counts) = manager.dropped_targets();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        dropped[0].discovered_labels.get("__address__"),
        Some("dropped:1")
    );
    assert_eq!(counts["static"], 1);
    assert!(manager
        .targets()
        .iter()
        .all(|t| t.target.labels.get("env") == Some("lab")));

    // One target allowed, two found: every scrape of the pool fails, as in Prometheus.
    manager
        .apply_config(&config("   target_limit: 1\n"))
        .unwrap();
    wait_for("target_limit errors", || {
        let targets = manager.targets();
        eprintln!(
            "{:?}",
            targets
                .iter()
                .map(|t| (t.health, t.last_error.clone()))
                .collect::<Vec<_>>()
        );
        targets
            .iter()
            .all(|t| {
                t.health == TargetHealth::Down
                    && t.last_error == "target_limit exceeded (number of targets: 2, limit: 1)"
            })
            .then_some(())
    })
    .await;
    assert_eq!(
        manager
            .metrics()
            .exceeded_target_limit
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    manager.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_config_keeps_every_loop() {
    let a = serve().await;
    let data = tempfile::tempdir().unwrap();
    let tsdb = Tsdb::open(data.path()).unwrap();
    let manager = ScrapeManager::new(tsdb.clone());
    let config = Config::parse(
        &format!(
            "scrape_configs:\n - job_name: j\n   scrape_interval: 1s\n   static_configs: [{{targets: ['{a}']}}]\n"
        ),
        "test",
    )
    .unwrap();
    manager.apply_config(&config).unwrap();
    let before = wait_for("a scrape", || {
        manager.targets().first().and_then(|t| t.last_scrape)
    })
    .await;
    manager.apply_config(&config).unwrap();
    // The loop's state survives: its last scrape is still known right after the reload.
    assert!(manager.targets()[0].last_scrape >= Some(before));
    // And no staleness marker was written for the target.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let up = select(&tsdb, "up");
    assert!(up[0].samples.iter().all(|s| !is_stale_nan(s.v)));
    manager.stop();
}
