//! Sending alerts to Alertmanagers, as Prometheus's `notifier` package (its `Manager`): the
//! rule engine hands firing and resolved alerts to [`Notifier::send`], which labels and queues
//! them; one sender task posts them in batches to every Alertmanager that the `alerting`
//! section of `prometheus.yml` discovers.
//!
//! What follows Prometheus 3:
//! - `send` adds the external labels an alert lacks, applies `alert_relabel_configs`, and
//!   queues what is left. The queue holds `queue_capacity` alerts
//!   (`--alertmanager.notification-queue-capacity`); when full, the oldest alerts go and are
//!   counted in `prometheus_notifications_dropped_total`.
//! - The sender takes up to [`DEFAULT_MAX_BATCH_SIZE`] alerts at a time and posts them to all
//!   Alertmanagers of all sets at once (`POST <scheme>://<address><path_prefix>/api/v2/alerts`),
//!   each post bounded by its set's `timeout`, and takes the next batch when all posts have
//!   ended. A set's own `alert_relabel_configs` apply to what it is sent. A batch that reached
//!   no Alertmanager of some set is counted as dropped; it is not retried.
//! - Resending is not done here: the rule engine sends its active alerts again every
//!   `--rules.alert.resend-delay` (and resolved ones for a while), and each such call is queued
//!   anew. An Alertmanager that missed a batch thus gets the alert at the next resend.
//! - [`Notifier::apply_config`] replaces the Alertmanager sets. A set whose entry is unchanged
//!   is kept as it runs, with its discovered Alertmanagers; a config that cannot be applied (an
//!   unreadable TLS file, say) leaves the previous sets running.
//!
//! One difference: since a batch is posted to all Alertmanagers at once, a slow Alertmanager
//! delays the next batch for the others by up to its timeout, as in Prometheus releases up to
//! 3.x that share one queue; it never keeps the others from receiving a batch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use narthex_config::relabel::RelabelConfig;
use narthex_config::Config;
use narthex_discovery::{DnsServers, HttpClientError, SdMetrics};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};

mod alert;
mod alertmanager;
mod metrics;

pub use alert::Alert;
pub use metrics::{AlertmanagerMetrics, MetricKind, MetricSample, NotifierMetrics};

use alertmanager::AlertmanagerSet;
use metrics::Counters;

/// `--alertmanager.notification-queue-capacity`'s default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// The most alerts one request carries (Prometheus's `DefaultMaxBatchSize`).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 256;

/// Settings fixed for the notifier's lifetime (command-line flags in Prometheus).
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Alerts the queue holds before the oldest are dropped.
    pub queue_capacity: usize,
    /// Alerts per request; 0 means [`DEFAULT_MAX_BATCH_SIZE`].
    pub max_batch_size: usize,
    /// Whether [`Notifier::stop`] sends what is queued before returning
    /// (`--alertmanager.drain-notification-queue-on-shutdown`, on by default).
    pub drain_on_shutdown: bool,
    /// Sent with every request, e.g. `Narthex/0.1.0`.
    pub user_agent: String,
    /// Asked by DNS discovery of Alertmanagers.
    pub dns_servers: DnsServers,
    /// Where discovery of Alertmanagers counts its failures.
    pub sd_metrics: Arc<SdMetrics>,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            drain_on_shutdown: true,
            user_agent: concat!("Narthex/", env!("CARGO_PKG_VERSION")).to_string(),
            dns_servers: DnsServers::System,
            sd_metrics: Arc::default(),
        }
    }
}

/// Why a configuration was not applied; the previous one goes on.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("alertmanagers[{index}]: {message}")]
    InvalidConfig { index: usize, message: String },
    #[error("alertmanagers[{index}]: {source}")]
    HttpClient {
        index: usize,
        source: HttpClientError,
    },
}

/// The Alertmanager URLs alerts are posted to, and those relabeling dropped, in config order:
/// what `/api/v1/alertmanagers` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertmanagerUrls {
    pub active: Vec<String>,
    pub dropped: Vec<String>,
}

/// Prometheus's `notifier.Manager`; see the crate documentation.
pub struct Notifier {
    shared: Arc<Shared>,
    sender: Mutex<Option<JoinHandle<()>>>,
    stop: watch::Sender<bool>,
}

struct Shared {
    options: NotifierOptions,
    applied: RwLock<Applied>,
    queue: Mutex<VecDeque<Alert>>,
    more: Notify,
    stopped: AtomicBool,
    /// Alerts of the batch being posted, counted as dropped if a stop's deadline cuts it off.
    in_flight: AtomicUsize,
    counters: Arc<Counters>,
}

/// What `apply_config` sets.
#[derive(Default)]
struct Applied {
    external_labels: Vec<(String, String)>,
    alert_relabel_configs: Vec<RelabelConfig>,
    sets: Vec<Arc<AlertmanagerSet>>,
}

impl Notifier {
    /// Starts the sender task, with no Alertmanager until [`Notifier::apply_config`]. Must be
    /// called within a Tokio runtime.
    pub fn new(mut options: NotifierOptions) -> Notifier {
        if options.max_batch_size == 0 {
            options.max_batch_size = DEFAULT_MAX_BATCH_SIZE;
        }
        let shared = Arc::new(Shared {
            options,
            applied: RwLock::default(),
            queue: Mutex::default(),
            more: Notify::new(),
            stopped: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            counters: Arc::default(),
        });
        let (stop, stop_requested) = watch::channel(false);
        let sender = tokio::spawn(run(shared.clone(), stop_requested));
        Notifier {
            shared,
            sender: Mutex::new(Some(sender)),
            stop,
        }
    }

    /// Takes the external labels, `alert_relabel_configs` and Alertmanager sets of `config`.
    /// Entries equal to a running set keep it; new ones start their discovery, static
    /// Alertmanagers being active on return. Must be called within a Tokio runtime.
    pub fn apply_config(&self, config: &Config) -> Result<(), NotifierError> {
        if self.shared.stopped.load(Ordering::SeqCst) {
            tracing::debug!("notifier stopped; configuration not applied");
            return Ok(());
        }
        let mut reusable: Vec<Option<Arc<AlertmanagerSet>>> = self
            .shared
            .read_applied()
            .sets
            .iter()
            .cloned()
            .map(Some)
            .collect();
        let mut sets = Vec::with_capacity(config.alerting.alertmanagers.len());
        for (index, am) in config.alerting.alertmanagers.iter().enumerate() {
            let unchanged = reusable
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(|set| set.config == *am))
                .and_then(Option::take);
            let set = match unchanged {
                Some(set) => set,
                None => Arc::new(AlertmanagerSet::start(
                    index,
                    am,
                    &self.shared.options,
                    self.shared.counters.clone(),
                )?),
            };
            sets.push(set);
        }
        let applied = Applied {
            external_labels: config
                .global
                .external_labels
                .iter()
                .map(|(name, value)| (name.0.clone(), value.clone()))
                .collect(),
            alert_relabel_configs: config.alerting.alert_relabel_configs.clone(),
            sets,
        };
        let mut current = self.shared.write_applied();
        // Checked again under the lock that `stop` clears the sets under, so that no set
        // started here outlives a stop that ran meanwhile.
        if self.shared.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The replaced sets stop once the last batch posting to them ends.
        let _replaced = std::mem::replace(&mut *current, applied);
        Ok(())
    }

    /// Labels and queues alerts for sending; returns at once. Alerts sent after
    /// [`Notifier::stop`] are ignored.
    pub fn send(&self, alerts: Vec<Alert>) {
        if self.shared.stopped.load(Ordering::SeqCst) {
            tracing::debug!(count = alerts.len(), "notifier stopped; alerts ignored");
            return;
        }
        let mut alerts = {
            let applied = self.shared.read_applied();
            alert::relabel_alerts(
                &applied.alert_relabel_configs,
                &applied.external_labels,
                alerts,
            )
        };
        if alerts.is_empty() {
            return;
        }
        let capacity = self.shared.options.queue_capacity;
        let mut dropped = 0;
        {
            let mut queue = self.shared.lock_queue();
            // The newest alerts win, in the call as in the queue.
            if alerts.len() > capacity {
                let excess = alerts.len() - capacity;
                alerts.drain(..excess);
                tracing::warn!(
                    num_dropped = excess,
                    "alert batch larger than queue capacity, dropping alerts"
                );
                dropped += excess;
            }
            let overflow = (queue.len() + alerts.len()).saturating_sub(capacity);
            if overflow > 0 {
                queue.drain(..overflow);
                tracing::warn!(
                    num_dropped = overflow,
                    "alert notification queue full, dropping alerts"
                );
                dropped += overflow;
            }
            queue.extend(alerts);
        }
        self.shared.counters.add_dropped(dropped);
        self.shared.more.notify_one();
    }

    /// The Alertmanagers of all sets now.
    pub fn alertmanagers(&self) -> AlertmanagerUrls {
        let sets = self.shared.read_applied().sets.clone();
        AlertmanagerUrls {
            active: sets.iter().flat_map(|set| set.active()).collect(),
            dropped: sets.iter().flat_map(|set| set.dropped()).collect(),
        }
    }

    /// The metrics now.
    pub fn metrics(&self) -> NotifierMetrics {
        let sets = self.shared.read_applied().sets.clone();
        NotifierMetrics {
            queue_length: self.shared.lock_queue().len() as u64,
            queue_capacity: self.shared.options.queue_capacity as u64,
            dropped_total: self.shared.counters.dropped.load(Ordering::Relaxed),
            alertmanagers_discovered: sets.iter().map(|set| set.active().len() as u64).sum(),
            alertmanagers: self.shared.counters.per_alertmanager(),
        }
    }

    /// Stops accepting alerts, sends what is queued (unless `drain_on_shutdown` is off) and
    /// stops discovery. Whatever is still unsent after `deadline` is counted as dropped.
    /// Later calls return at once.
    pub async fn stop(&self, deadline: Duration) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.stop.send_replace(true);
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut sender) = sender {
            if tokio::time::timeout(deadline, &mut sender).await.is_err() {
                sender.abort();
                // Wait until it has really stopped, so that a batch it takes in the meantime
                // is neither lost nor counted twice below.
                let _ = sender.await;
                let left = {
                    let mut queue = self.shared.lock_queue();
                    let left = queue.len();
                    queue.clear();
                    left
                } + self.shared.in_flight.swap(0, Ordering::SeqCst);
                tracing::warn!(
                    count = left,
                    "notification queue not drained before the deadline, dropping alerts"
                );
                self.shared.counters.add_dropped(left);
            }
        }
        let _stopped = std::mem::take(&mut self.shared.write_applied().sets);
    }
}

/// Dropping without [`Notifier::stop`] ends the sender at once: queued alerts are lost and
/// discovery stops.
impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(sender) = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            sender.abort();
        }
    }
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, VecDeque<Alert>> {
        // Alerts are moved in and out whole; a poisoned queue is still a queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_applied(&self) -> std::sync::RwLockReadGuard<'_, Applied> {
        self.applied.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_applied(&self) -> std::sync::RwLockWriteGuard<'_, Applied> {
        self.applied.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_batch(&self) -> Vec<Alert> {
        let mut queue = self.lock_queue();
        let take = queue.len().min(self.options.max_batch_size);
        queue.drain(..take).collect()
    }

    async fn send_one_batch(&self) {
        let batch = self.next_batch();
        if batch.is_empty() {
            return;
        }
        self.in_flight.store(batch.len(), Ordering::SeqCst);
        if !self.send_all(&batch).await {
            self.counters.add_dropped(batch.len());
        }
        self.in_flight.store(0, Ordering::SeqCst);
    }

    /// Posts a batch to every Alertmanager at once and waits for all posts. True when every set
    /// that was posted to has at least one Alertmanager that took it (Prometheus's `sendAll`;
    /// with no Alertmanager at all the batch is gone and that counts as success there too).
    async fn send_all(&self, alerts: &[Alert]) -> bool {
        let begin = Instant::now();
        let sets = self.read_applied().sets.clone();
        let mut posts = JoinSet::new();
        let mut covered = Vec::new();
        let mut shared_body: Option<Arc<Vec<u8>>> = None;
        for set in sets {
            let urls = set.active();
            if urls.is_empty() {
                continue;
            }
            let (body, count) = if set.config.alert_relabel_configs.is_empty() {
                let body = match &shared_body {
                    Some(body) => body.clone(),
                    None => match alert::encode(alerts) {
                        Ok(body) => shared_body.insert(Arc::new(body)).clone(),
                        Err(error) => {
                            tracing::error!(%error, "encoding alerts for Alertmanager API v2 failed");
                            return false;
                        }
                    },
                };
                (body, alerts.len())
            } else {
                let relabeled =
                    alert::relabel_alerts(&set.config.alert_relabel_configs, &[], alerts.to_vec());
                if relabeled.is_empty() {
                    continue;
                }
                match alert::encode(&relabeled) {
                    Ok(body) => (Arc::new(body), relabeled.len()),
                    Err(error) => {
                        tracing::error!(%error, "encoding alerts for Alertmanager API v2 failed");
                        return false;
                    }
                }
            };
            let delivered = Arc::new(AtomicBool::new(false));
            covered.push(delivered.clone());
            for url in urls {
                let post = Post {
                    set: set.clone(),
                    counters: self.counters.of(&url),
                    url,
                    body: body.clone(),
                    count,
                    begin,
                    delivered: delivered.clone(),
                };
                posts.spawn(post.run());
            }
        }
        while posts.join_next().await.is_some() {}
        covered.iter().all(|set| set.load(Ordering::SeqCst))
    }
}

/// One request to one Alertmanager.
struct Post {
    set: Arc<AlertmanagerSet>,
    counters: Arc<metrics::AlertmanagerCounters>,
    url: String,
    body: Arc<Vec<u8>>,
    count: usize,
    begin: Instant,
    delivered: Arc<AtomicBool>,
}

impl Post {
    async fn run(self) {
        let result = self.send().await;
        if let Err(error) = &result {
            tracing::error!(alertmanager = %self.url, count = self.count, %error, "error sending alerts");
        } else {
            self.delivered.store(true, Ordering::SeqCst);
        }
        self.counters
            .record(self.count, result.is_err(), self.begin.elapsed());
    }

    async fn send(&self) -> Result<(), PostError> {
        let timeout = self.set.config.timeout.as_std();
        let request = self
            .set
            .client
            .request(Method::POST, self.url.as_str())?
            .header(CONTENT_TYPE, "application/json")
            .body(self.body.as_ref().clone());
        // The timeout covers reading the answer too, as Prometheus's request context does.
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status();
            // Read and discard the answer chunk by chunk: a wrong endpoint streaming a large
            // body must not fill memory.
            while let Ok(Some(_)) = response.chunk().await {}
            Ok::<_, PostError>(status)
        };
        let status = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PostError::Timeout(timeout))??;
        if !status.is_success() {
            return Err(PostError::Status(status));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error(transparent)]
    Client(#[from] HttpClientError),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("bad response status {0}")]
    Status(reqwest::StatusCode),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// The sender task: one batch at a time while there are alerts, then, once stopped, the rest
/// (Prometheus's `sendLoop` and `drainQueue`).
async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        // A stop takes priority over further batches.
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => break,
            _ = shared.more.notified() => {}
        }
        shared.send_one_batch().await;
        if !shared.lock_queue().is_empty() {
            shared.more.notify_one();
        }
    }
    if shared.options.drain_on_shutdown {
        while !shared.lock_queue().is_empty() {
            shared.send_one_batch().await;
        }
    } else {
        let left = std::mem::take(&mut *shared.lock_queue()).len();
        if left > 0 {
            tracing::warn!(
                count = left,
                "draining remaining notifications on shutdown is disabled, dropping alerts"
            );
            shared.counters.add_dropped(left);
        }
    }
}
