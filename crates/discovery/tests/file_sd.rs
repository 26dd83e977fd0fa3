//! File-based discovery against real files in a temporary directory: YAML and JSON, globs,
//! changes seen through the watch, failed reads keeping the old targets, removed files.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{addresses, wait_for, wait_for_metric};
use narthex_config::discovery::FileSdConfig;
use narthex_discovery::{Discovery, DiscoveryOptions, SdConfigs, SdMetrics};

fn config(files: &[String], refresh: &str) -> FileSdConfig {
    let yaml = format!("files: {files:?}\nrefresh_interval: {refresh}\n");
    serde_yaml::from_str(&yaml).unwrap()
}

fn path_of(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Writes through a temporary name and a rename, as careful writers (and Prometheus's docs)
/// do, so no half-written file is ever read.
fn write_atomically(path: &Path, content: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, content).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[tokio::test]
async fn yaml_and_json_files_matched_by_globs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yml"),
        "- targets: ['a1:9100', 'a2:9100']\n  labels:\n    env: prod\n- targets: ['a3:9100']\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        r#"[{"targets": ["b1:80"], "labels": {"team": "db"}}]"#,
    )
    .unwrap();
    // Neither matches a pattern: other extension, or not under the glob.
    std::fs::write(dir.path().join("c.txt"), "- targets: ['no:1']\n").unwrap();

    let files = [path_of(dir.path(), "*.yml"), path_of(dir.path(), "b.json")];
    let configs = [config(&files, "1h")];
    let handle = Discovery::start(
        SdConfigs {
            file_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions::default(),
    );
    let mut rx = handle.subscribe();
    let groups = wait_for(&mut rx, "both files", |g| g.len() == 3).await;

    let a = path_of(dir.path(), "a.yml");
    let b = path_of(dir.path(), "b.json");
    let sources: Vec<_> = groups.iter().map(|g| g.source.clone()).collect();
    assert_eq!(
        sources,
        [format!("{a}:0"), format!("{a}:1"), format!("{b}:0")]
    );
    assert_eq!(
        addresses(&groups),
        ["a1:9100", "a2:9100", "a3:9100", "b1:80"]
    );
    assert_eq!(groups[0].labels["env"], "prod");
    assert_eq!(groups[0].labels["__meta_filepath"], a);
    assert!(!groups[1].labels.contains_key("env"));
    assert_eq!(groups[2].labels["team"], "db");
    assert_eq!(groups[2].labels["__meta_filepath"], b);
}

#[tokio::test]
async fn changes_are_seen_through_the_watch_and_failures_keep_old_targets() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("nodes.yml");
    let json = dir.path().join("nodes.json");
    std::fs::write(&yml, "- targets: ['old:1']\n").unwrap();
    std::fs::write(&json, r#"[{"targets": ["json-old:1"]}]"#).unwrap();

    let metrics = Arc::new(SdMetrics::default());
    // An hour between refreshes: everything below must come through the watch.
    let configs = [config(
        &[path_of(dir.path(), "*.yml"), path_of(dir.path(), "*.json")],
        "1h",
    )];
    let handle = Discovery::start(
        SdConfigs {
            file_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions {
            metrics: metrics.clone(),
            ..DiscoveryOptions::default()
        },
    );
    let mut rx = handle.subscribe();
    wait_for(&mut rx, "the first read", |g| {
        addresses(g) == ["json-old:1", "old:1"]
    })
    .await;

    // Rewritten in place.
    std::fs::write(&yml, "- targets: ['new:1', 'new:2']\n").unwrap();
    wait_for(&mut rx, "the rewritten file", |g| {
        addresses(g) == ["json-old:1", "new:1", "new:2"]
    })
    .await;

    // Replaced by a rename.
    write_atomically(&yml, "- targets: ['renamed:1']\n");
    wait_for(&mut rx, "the replaced file", |g| {
        addresses(g) == ["json-old:1", "renamed:1"]
    })
    .await;

    // Broken YAML, then broken JSON: both keep what they had; each failure is counted.
    let errors = metrics
        .value("prometheus_sd_file_read_errors_total")
        .unwrap();
    write_atomically(&yml, "- targets: ['unclosed\n");
    wait_for_metric(
        &metrics,
        "prometheus_sd_file_read_errors_total",
        errors + 1.0,
    )
    .await;
    write_atomically(&json, r#"[{"targets": ["#);
    wait_for_metric(
        &metrics,
        "prometheus_sd_file_read_errors_total",
        errors + 2.0,
    )
    .await;
    // A refused document too: an unknown key.
    write_atomically(&json, r#"[{"targets": ["x:1"], "labelz": {}}]"#);
    wait_for_metric(
        &metrics,
        "prometheus_sd_file_read_errors_total",
        errors + 3.0,
    )
    .await;
    assert_eq!(addresses(&handle.current()), ["json-old:1", "renamed:1"]);

    // A new file matching the glob appears; the broken one, fixed, is read again.
    std::fs::write(dir.path().join("more.yml"), "- targets: ['more:1']\n").unwrap();
    write_atomically(&json, r#"[{"targets": ["json-new:1"]}]"#);
    wait_for(&mut rx, "the new file and the fixed one", |g| {
        addresses(g) == ["more:1", "json-new:1", "renamed:1"]
    })
    .await;

    // Removing a file drops its groups, even while it was failing.
    std::fs::remove_file(&yml).unwrap();
    let groups = wait_for(&mut rx, "the removed file's groups to go", |g| {
        addresses(g) == ["more:1", "json-new:1"]
    })
    .await;
    assert_eq!(
        groups[0].labels["__meta_filepath"],
        path_of(dir.path(), "more.yml")
    );
}

#[tokio::test]
async fn refresh_interval_finds_files_the_watch_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    // The directory does not exist yet, so it cannot be watched; only the refresh finds it.
    let sub = dir.path().join("later");
    let configs = [config(&[path_of(&sub, "*.yaml")], "200ms")];
    let handle = Discovery::start(
        SdConfigs {
            file_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions::default(),
    );
    let mut rx = handle.subscribe();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(handle.current().is_empty());
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("t.yaml"), "- targets: ['late:1']\n").unwrap();
    wait_for(&mut rx, "the file in the new directory", |g| {
        addresses(g) == ["late:1"]
    })
    .await;
    std::fs::write(sub.join("t.yaml"), "- targets: ['later:1']\n").unwrap();
    wait_for(&mut rx, "the change", |g| addresses(g) == ["later:1"]).await;
}

#[tokio::test]
async fn dropping_the_handle_stops_the_provider() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yml"), "- targets: ['a:1']\n").unwrap();
    let configs = [config(&[path_of(dir.path(), "*.yml")], "1h")];
    let handle = Discovery::start(
        SdConfigs {
            file_sd_configs: &configs,
            ..SdConfigs::default()
        },
        DiscoveryOptions::default(),
    );
    let mut rx = handle.subscribe();
    wait_for(&mut rx, "the first read", |g| addresses(g) == ["a:1"]).await;
    drop(handle);
    // The task is gone, and with it the sender: the channel closes.
    tokio::time::timeout(common::WAIT, async { while rx.changed().await.is_ok() {} })
        .await
        .expect("the channel closes once the providers stopped");
}
