//! The bridge from service discovery to scrape pools: a pool's target groups become label sets
//! (target labels merged over group labels, as Prometheus's `TargetsFromGroup`), which the pool
//! turns into targets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use narthex_config::ScrapeConfig;
use narthex_discovery::{
    Discovery, DiscoveryHandle, DiscoveryOptions, SdConfigs, SdMetrics, TargetGroup,
};
use narthex_model::Labels;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running discovery of one pool; stops when dropped.
pub struct DiscoveredTargets {
    _handle: DiscoveryHandle,
    receiver: watch::Receiver<Arc<Vec<Labels>>>,
    /// Keeps the channel open after discovery finished for good (static configs only), so that
    /// receivers wait instead of seeing a closed channel.
    _sender: watch::Sender<Arc<Vec<Labels>>>,
    relay: JoinHandle<()>,
    /// Mechanisms other than static configs, which report asynchronously.
    providers: usize,
}

impl DiscoveredTargets {
    /// The current label sets, updated as discovery finds changes.
    pub fn receiver(&self) -> watch::Receiver<Arc<Vec<Labels>>> {
        self.receiver.clone()
    }

    /// Waits (up to 5 s) until every mechanism other than static configs has reported once
    /// (each report is one update), so that a pool whose discovery was restarted is not
    /// reconciled against a partial result, which would stop and restart its other targets.
    pub async fn first_result(&self) {
        let mut receiver = self.receiver.clone();
        let providers = self.providers;
        let _ = tokio::time::timeout(Duration::from_secs(5), async move {
            for _ in 0..providers {
                if receiver.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
}

impl Drop for DiscoveredTargets {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// Starts the discovery mechanisms of a pool. Must be called inside a tokio runtime.
pub fn start_discovery(config: &ScrapeConfig, metrics: Arc<SdMetrics>) -> DiscoveredTargets {
    let options = DiscoveryOptions {
        pool: config.job_name.clone(),
        user_agent: crate::USER_AGENT.to_string(),
        metrics,
        ..DiscoveryOptions::default()
    };
    let handle = Discovery::start(SdConfigs::of_scrape(config), options);
    let mut groups = handle.subscribe();
    let (sender, receiver) = watch::channel(Arc::new(label_sets(&groups.borrow_and_update())));
    let keep_open = sender.clone();
    let relay = tokio::spawn(async move {
        while groups.changed().await.is_ok() {
            let sets = label_sets(&groups.borrow_and_update());
            if sender.send(Arc::new(sets)).is_err() {
                return;
            }
        }
    });
    DiscoveredTargets {
        _handle: handle,
        receiver,
        _sender: keep_open,
        relay,
        providers: config.file_sd_configs.len()
            + config.http_sd_configs.len()
            + config.dns_sd_configs.len(),
    }
}

/// One label set per discovered target: its own labels over its group's.
fn label_sets(groups: &[TargetGroup]) -> Vec<Labels> {
    let mut sets = Vec::new();
    for group in groups {
        for target in &group.targets {
            let mut merged: BTreeMap<&str, &str> = group
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            for (name, value) in target {
                merged.insert(name, value);
            }
            sets.push(Labels::from_pairs(merged));
        }
    }
    sets
}

/// Whether two versions of a pool's config discover the same label sets.
pub fn same_discovery(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    old.static_configs == new.static_configs
        && old.file_sd_configs == new.file_sd_configs
        && old.http_sd_configs == new.http_sd_configs
        && old.dns_sd_configs == new.dns_sd_configs
}
