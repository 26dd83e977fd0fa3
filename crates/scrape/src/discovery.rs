//! The bridge from service discovery to scrape pools: a pool's discovery configs produce label
//! sets (target labels merged over group labels, as Prometheus's `TargetsFromGroup`), which the
//! pool turns into targets.

use std::sync::Arc;

use narthex_config::ScrapeConfig;
use narthex_model::Labels;
use tokio::sync::watch;

/// The running discovery of one pool; stops when dropped.
pub struct DiscoveredTargets {
    receiver: watch::Receiver<Arc<Vec<Labels>>>,
    _sender: watch::Sender<Arc<Vec<Labels>>>,
}

impl DiscoveredTargets {
    /// The current label sets, updated as discovery finds changes.
    pub fn receiver(&self) -> watch::Receiver<Arc<Vec<Labels>>> {
        self.receiver.clone()
    }

    /// Waits until every mechanism has reported once.
    pub async fn first_result(&self) {}
}

/// Starts the discovery mechanisms of a pool.
pub fn start_discovery(config: &ScrapeConfig) -> DiscoveredTargets {
    let mut sets = Vec::new();
    for group in &config.static_configs {
        for address in &group.targets {
            let mut builder = Labels::from_pairs(
                group
                    .labels
                    .iter()
                    .map(|(name, value)| (name.0.clone(), value.clone())),
            )
            .to_builder();
            builder.set("__address__", address.0.clone());
            sets.push(builder.build());
        }
    }
    let (sender, receiver) = watch::channel(Arc::new(sets));
    DiscoveredTargets {
        receiver,
        _sender: sender,
    }
}

/// Whether two versions of a pool's config discover the same label sets.
pub fn same_discovery(old: &ScrapeConfig, new: &ScrapeConfig) -> bool {
    old.static_configs == new.static_configs
}
