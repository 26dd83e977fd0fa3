//! File-based discovery, as Prometheus's `discovery/file`: JSON or YAML files of target groups,
//! named by paths whose last component may be a glob, re-read when their directory changes and
//! every `refresh_interval`.
//!
//! Each file keeps the groups of its last good read: a file that fails to read or parse keeps
//! them (the error is logged and counted), a file that no longer matches drops them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use narthex_config::discovery::FileSdConfig;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::metrics::{inc, SdMetrics};
use crate::targetgroup::{parse_groups, Format, GroupsError, TargetGroup};
use crate::Slot;

const FILEPATH_LABEL: &str = "__meta_filepath";

/// How long the directory must stay quiet after an event before the files are read, so a file
/// written in several steps is read once it is complete rather than half-written.
const SETTLE: Duration = Duration::from_millis(50);
/// The longest a burst of events can put reading off.
const MAX_SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Parse(#[from] GroupsError),
}

pub(crate) async fn run(config: FileSdConfig, slot: Slot, metrics: Arc<SdMetrics>) {
    let (events_tx, mut events) = mpsc::channel::<()>(1);
    // The watcher calls back on its own thread; a full channel means a read is already due.
    let mut watcher = match notify::recommended_watcher(
        move |event: notify::Result<notify::Event>| match event {
            Ok(event) if needs_reread(&event.kind) => {
                let _ = events_tx.try_send(());
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "file watch error"),
        },
    ) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::error!(%error, "cannot watch files for file_sd; reading them every refresh_interval only");
            None
        }
    };

    let mut known: BTreeMap<PathBuf, Vec<TargetGroup>> = BTreeMap::new();
    let mut ticker = tokio::time::interval(config.refresh_interval.as_std());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Some(()) = events.recv() => settle(&mut events).await,
        }
        // Watches are set again before every read, as Prometheus does after each: a directory
        // created or replaced since is then watched too, and a change made while the files
        // are read is not missed.
        if let Some(watcher) = &mut watcher {
            for dir in watched_dirs(&config.files) {
                if let Err(error) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
                    tracing::debug!(%error, dir = %dir.display(), "cannot watch directory for file_sd");
                }
            }
        }
        known = refresh(&config.files, known, &metrics).await;
        slot.set(known.values().flatten().cloned().collect());
    }
}

/// Everything but an access or a metadata change (chmod, touch) may change what a file holds.
fn needs_reread(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(notify::event::ModifyKind::Metadata(_))
    )
}

async fn settle(events: &mut mpsc::Receiver<()>) {
    let deadline = tokio::time::Instant::now() + MAX_SETTLE;
    loop {
        let wait = SETTLE.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, events.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < deadline => continue,
            _ => return,
        }
    }
}

/// The directory of each pattern, as Prometheus watches them (`./` for a bare file name).
fn watched_dirs(patterns: &[String]) -> BTreeSet<PathBuf> {
    patterns
        .iter()
        .map(|pattern| match pattern.rfind('/') {
            Some(0) => PathBuf::from("/"),
            Some(slash) => PathBuf::from(&pattern[..slash]),
            None => PathBuf::from("."),
        })
        .collect()
}

/// Reads every matching file; files that fail keep their previous groups.
async fn refresh(
    patterns: &[String],
    mut previous: BTreeMap<PathBuf, Vec<TargetGroup>>,
    metrics: &SdMetrics,
) -> BTreeMap<PathBuf, Vec<TargetGroup>> {
    let patterns = patterns.to_vec();
    let reads = match tokio::task::spawn_blocking(move || read_all(&patterns)).await {
        Ok(reads) => reads,
        Err(error) => {
            tracing::error!(%error, "file_sd read task failed");
            return previous;
        }
    };
    let mut next = BTreeMap::new();
    for (path, result) in reads {
        match result {
            Ok(groups) => {
                next.insert(path, groups);
            }
            Err(error) => {
                inc(&metrics.file_read_errors);
                tracing::error!(path = %path.display(), %error, "error reading file_sd file");
                if let Some(groups) = previous.remove(&path) {
                    next.insert(path, groups);
                }
            }
        }
    }
    next
}

type FileRead = (PathBuf, Result<Vec<TargetGroup>, FileError>);

fn read_all(patterns: &[String]) -> Vec<FileRead> {
    let mut paths = BTreeSet::new();
    for pattern in patterns {
        match glob::glob(pattern) {
            Ok(matches) => {
                // Entries that cannot be read during the walk are skipped, as Go's Glob does.
                paths.extend(matches.filter_map(Result::ok));
            }
            Err(error) => {
                tracing::error!(pattern, %error, "error expanding file_sd glob");
            }
        }
    }
    paths
        .into_iter()
        .filter(|path| !path.is_dir())
        .map(|path| {
            let result = read_file(&path);
            (path, result)
        })
        .collect()
}

fn read_file(path: &Path) -> Result<Vec<TargetGroup>, FileError> {
    let content = std::fs::read(path)?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let format = if extension == "json" {
        Format::Json
    } else {
        Format::Yaml
    };
    let name = path.display().to_string();
    Ok(parse_groups(
        &content,
        format,
        &name,
        FILEPATH_LABEL,
        &name,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_the_directory_part_of_each_pattern() {
        let dirs = watched_dirs(&[
            "targets/*.json".into(),
            "targets/b.yml".into(),
            "/abs.yml".into(),
            "local.yaml".into(),
        ]);
        let dirs: Vec<_> = dirs.iter().map(|d| d.display().to_string()).collect();
        assert_eq!(dirs, ["/", ".", "targets"]);
    }
}
