//! Service discovery for Narthex, as Prometheus's `discovery` packages: static targets, file,
//! HTTP and DNS discovery, and the HTTP client built from Prometheus's HTTP client settings.
//!
//! [`Discovery::start`] runs the providers of one scrape config or Alertmanager config (a
//! "pool") as Tokio tasks and hands back a [`DiscoveryHandle`] whose watch channel holds the
//! merged target groups of all of them. A provider that fails to refresh keeps the groups it
//! had, as in Prometheus; dropping the handle stops the tasks.
//!
//! Updates are published as soon as a provider's groups change. Prometheus's discovery manager
//! additionally throttles what it hands the scrape manager to one update per 5 s; a consumer
//! wanting the same waits between reads of the channel, which keeps only the latest value.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use narthex_config::discovery::{DnsSdConfig, FileSdConfig, HttpSdConfig};
use narthex_config::{AlertmanagerConfig, ScrapeConfig, StaticConfig};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tracing::Instrument;

mod dns;
mod file;
mod http;
pub mod http_client;
mod metrics;
mod targetgroup;

pub use http_client::{HttpClient, HttpClientError};
pub use metrics::{SdMetricKind, SdMetrics, SdSample};
pub use targetgroup::{TargetGroup, ADDRESS_LABEL};

/// The discovery sections of one scrape config or Alertmanager config.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdConfigs<'a> {
    pub static_configs: &'a [StaticConfig],
    pub file_sd_configs: &'a [FileSdConfig],
    pub http_sd_configs: &'a [HttpSdConfig],
    pub dns_sd_configs: &'a [DnsSdConfig],
}

impl<'a> SdConfigs<'a> {
    pub fn of_scrape(config: &'a ScrapeConfig) -> SdConfigs<'a> {
        SdConfigs {
            static_configs: &config.static_configs,
            file_sd_configs: &config.file_sd_configs,
            http_sd_configs: &config.http_sd_configs,
            dns_sd_configs: &config.dns_sd_configs,
        }
    }

    pub fn of_alertmanager(config: &'a AlertmanagerConfig) -> SdConfigs<'a> {
        SdConfigs {
            static_configs: &config.static_configs,
            file_sd_configs: &config.file_sd_configs,
            http_sd_configs: &config.http_sd_configs,
            dns_sd_configs: &config.dns_sd_configs,
        }
    }
}

/// Which DNS servers DNS discovery asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DnsServers {
    /// The nameservers, search domains and options of `/etc/resolv.conf`, read again at every
    /// refresh as Prometheus does.
    #[default]
    System,
    /// These servers (UDP, then TCP for truncated answers), without search domains.
    Nameservers(Vec<SocketAddr>),
}

/// What every provider of a pool shares.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// Names the pool (the job name, or the Alertmanager config's index) in logs.
    pub pool: String,
    /// Sent by HTTP discovery, e.g. `Narthex/0.1.0`.
    pub user_agent: String,
    pub dns_servers: DnsServers,
    pub metrics: Arc<SdMetrics>,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            pool: String::new(),
            user_agent: concat!("Narthex/", env!("CARGO_PKG_VERSION")).to_string(),
            dns_servers: DnsServers::System,
            metrics: Arc::default(),
        }
    }
}

/// A discovery config that could not be started; the pool runs without it, as in Prometheus.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("http_sd_configs[{index}] ({url}): {message}")]
    InvalidHttpConfig {
        index: usize,
        url: String,
        message: String,
    },
    #[error("http_sd_configs[{index}] ({url}): {source}")]
    HttpClient {
        index: usize,
        url: String,
        source: HttpClientError,
    },
}

/// Entry point; see [`Discovery::start`].
pub struct Discovery;

impl Discovery {
    /// Starts the providers of one pool. Static groups are in the handle's channel when this
    /// returns; the others follow as their first refresh completes. Must be called within a
    /// Tokio runtime.
    pub fn start(configs: SdConfigs<'_>, options: DiscoveryOptions) -> DiscoveryHandle {
        let publisher = Publisher::default();
        publisher
            .add_slot()
            .set(static_groups(configs.static_configs));

        let span = tracing::info_span!("discovery", pool = %options.pool);
        let mut tasks = Vec::new();
        let mut failed = Vec::new();
        for config in configs.file_sd_configs {
            let task = file::run(
                config.clone(),
                publisher.add_slot(),
                options.metrics.clone(),
            );
            tasks.push(tokio::spawn(task.instrument(span.clone())).abort_handle());
        }
        for (index, config) in configs.http_sd_configs.iter().enumerate() {
            let slot = publisher.add_slot();
            match http_provider(index, config, &options) {
                Ok(client) => {
                    let task = http::run(config.clone(), client, slot, options.metrics.clone());
                    tasks.push(tokio::spawn(task.instrument(span.clone())).abort_handle());
                }
                Err(error) => {
                    tracing::error!(parent: &span, %error, "cannot create service discovery");
                    failed.push(error);
                }
            }
        }
        for config in configs.dns_sd_configs {
            let task = dns::run(
                config.clone(),
                options.dns_servers.clone(),
                publisher.add_slot(),
                options.metrics.clone(),
            );
            tasks.push(tokio::spawn(task.instrument(span.clone())).abort_handle());
        }
        options
            .metrics
            .failed_configs
            .fetch_add(failed.len() as i64, Ordering::Relaxed);
        DiscoveryHandle {
            groups: publisher.subscribe(),
            tasks,
            failed,
            metrics: options.metrics,
        }
    }
}

fn http_provider(
    index: usize,
    config: &HttpSdConfig,
    options: &DiscoveryOptions,
) -> Result<HttpClient, DiscoveryError> {
    let client_config =
        config
            .http_client()
            .map_err(|message| DiscoveryError::InvalidHttpConfig {
                index,
                url: config.url.clone(),
                message,
            })?;
    HttpClient::new(&client_config, &options.user_agent).map_err(|source| {
        DiscoveryError::HttpClient {
            index,
            url: config.url.clone(),
            source,
        }
    })
}

/// As Prometheus's static provider: one group per static config, its index as source.
fn static_groups(configs: &[StaticConfig]) -> Vec<TargetGroup> {
    configs
        .iter()
        .enumerate()
        .map(|(index, config)| TargetGroup {
            source: index.to_string(),
            targets: config
                .targets
                .iter()
                .map(|target| [(ADDRESS_LABEL.to_string(), target.0.clone())].into())
                .collect(),
            labels: config
                .labels
                .iter()
                .map(|(name, value)| (name.0.clone(), value.clone()))
                .collect(),
        })
        .collect()
}

/// The running providers of one pool; dropping it stops them.
pub struct DiscoveryHandle {
    groups: watch::Receiver<Arc<Vec<TargetGroup>>>,
    tasks: Vec<AbortHandle>,
    failed: Vec<DiscoveryError>,
    metrics: Arc<SdMetrics>,
}

impl DiscoveryHandle {
    /// A receiver of the merged groups: static first, then file, HTTP and DNS providers in
    /// config order, each provider's groups in its own order.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<TargetGroup>>> {
        self.groups.clone()
    }

    /// The merged groups now.
    pub fn current(&self) -> Arc<Vec<TargetGroup>> {
        self.groups.borrow().clone()
    }

    /// The configs that could not be started (also logged and counted in
    /// `prometheus_sd_failed_configs`).
    pub fn failed_configs(&self) -> &[DiscoveryError] {
        &self.failed
    }
}

impl Drop for DiscoveryHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.metrics
            .failed_configs
            .fetch_sub(self.failed.len() as i64, Ordering::Relaxed);
    }
}

/// The latest groups of each provider, merged into the watch channel whenever one changes.
#[derive(Default)]
struct Publisher {
    shared: Arc<Shared>,
}

struct Shared {
    slots: Mutex<Vec<Vec<TargetGroup>>>,
    sender: watch::Sender<Arc<Vec<TargetGroup>>>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            slots: Mutex::default(),
            sender: watch::Sender::new(Arc::default()),
        }
    }
}

impl Publisher {
    /// A place for one more provider, after those added before.
    fn add_slot(&self) -> Slot {
        let mut slots = self.shared.lock_slots();
        slots.push(Vec::new());
        Slot {
            shared: self.shared.clone(),
            index: slots.len() - 1,
        }
    }

    fn subscribe(&self) -> watch::Receiver<Arc<Vec<TargetGroup>>> {
        self.shared.sender.subscribe()
    }
}

impl Shared {
    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Vec<Vec<TargetGroup>>> {
        // A panic elsewhere while holding the lock leaves whole lists behind, never half ones.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One provider's place in the merged list.
struct Slot {
    shared: Arc<Shared>,
    index: usize,
}

impl Slot {
    /// Replaces this provider's groups; receivers are woken only if the merged list changed.
    fn set(&self, groups: Vec<TargetGroup>) {
        let mut slots = self.shared.lock_slots();
        if slots[self.index] == groups {
            return;
        }
        slots[self.index] = groups;
        let merged: Vec<TargetGroup> = slots.iter().flatten().cloned().collect();
        self.shared.sender.send_modify(|current| {
            *current = Arc::new(merged);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_config::{LabelName, TargetAddress};

    #[tokio::test]
    async fn static_groups_are_there_at_once_and_merge_with_others() {
        let statics = vec![
            StaticConfig {
                targets: vec![TargetAddress("a:1".into()), TargetAddress("b:2".into())],
                labels: [(LabelName("env".into()), "prod".into())].into(),
            },
            StaticConfig {
                targets: vec![TargetAddress("c:3".into())],
                labels: Default::default(),
            },
        ];
        let handle = Discovery::start(
            SdConfigs {
                static_configs: &statics,
                ..SdConfigs::default()
            },
            DiscoveryOptions::default(),
        );
        let groups = handle.current();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].source, "0");
        assert_eq!(groups[0].targets[1][ADDRESS_LABEL], "b:2");
        assert_eq!(groups[0].labels["env"], "prod");
        assert_eq!(groups[1].source, "1");

        let publisher = Publisher::default();
        let slots: Vec<Slot> = (0..3).map(|_| publisher.add_slot()).collect();
        let mut rx = publisher.subscribe();
        let group = |source: &str| TargetGroup {
            source: source.into(),
            ..TargetGroup::default()
        };
        slots[2].set(vec![group("dns")]);
        slots[0].set(vec![group("static")]);
        assert!(rx.has_changed().unwrap());
        let sources: Vec<_> = rx
            .borrow_and_update()
            .iter()
            .map(|g| g.source.clone())
            .collect();
        assert_eq!(sources, ["static", "dns"]);
        // The same groups again wake nobody.
        slots[2].set(vec![group("dns")]);
        assert!(!rx.has_changed().unwrap());
    }

    #[test]
    fn configs_of_a_scrape_config_and_an_alertmanager_config() {
        let config = narthex_config::Config::parse(
            r#"
scrape_configs:
  - job_name: a
    static_configs: [{targets: ['x:1']}]
    file_sd_configs: [{files: [a.json]}, {files: [b.yml]}]
    dns_sd_configs: [{names: [_x._tcp.example.org]}]
alerting:
  alertmanagers:
    - http_sd_configs: [{url: 'http://sd.example.org/am'}]
"#,
            "t.yml",
        )
        .unwrap();
        let scrape = SdConfigs::of_scrape(&config.scrape_configs[0]);
        assert_eq!(
            (
                scrape.static_configs.len(),
                scrape.file_sd_configs.len(),
                scrape.http_sd_configs.len(),
                scrape.dns_sd_configs.len()
            ),
            (1, 2, 0, 1)
        );
        let am = SdConfigs::of_alertmanager(&config.alerting.alertmanagers[0]);
        assert_eq!(am.http_sd_configs[0].url, "http://sd.example.org/am");
        assert!(am.static_configs.is_empty() && am.file_sd_configs.is_empty());
    }
}
