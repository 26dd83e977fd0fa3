//! The notifier's counters, kept as atomics so that the server exports them under Prometheus's
//! names without a global registry, and the snapshot ([`NotifierMetrics`]) it reads them
//! through.
//!
//! Per-Alertmanager series exist while some Alertmanager set has that Alertmanager active: they
//! start at 0 when it is discovered and go away when it is no longer, as Prometheus creates and
//! deletes them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Counters of one Alertmanager URL.
#[derive(Debug, Default)]
pub(crate) struct AlertmanagerCounters {
    sent: AtomicU64,
    errors: AtomicU64,
    latency_nanos: AtomicU64,
    latency_count: AtomicU64,
}

impl AlertmanagerCounters {
    /// One post of `count` alerts, as Prometheus 3 counts it: `sent` whatever the outcome,
    /// `errors` when it failed, the latency from the start of the batch.
    pub(crate) fn record(&self, count: usize, failed: bool, latency: Duration) {
        self.sent.fetch_add(count as u64, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(count as u64, Ordering::Relaxed);
        }
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }
}

/// All counters of one notifier.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped: AtomicU64,
    /// Each URL with the number of sets that have it active.
    alertmanagers: Mutex<BTreeMap<String, (usize, Arc<AlertmanagerCounters>)>>,
}

impl Counters {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, (usize, Arc<AlertmanagerCounters>)>> {
        // Entries are inserted and removed whole, so a poisoned map is still consistent.
        self.alertmanagers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add_dropped(&self, count: usize) {
        if count > 0 {
            self.dropped.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// A set now has `url` active.
    pub(crate) fn acquire(&self, url: &str) {
        self.lock()
            .entry(url.to_string())
            .or_insert_with(|| (0, Arc::default()))
            .0 += 1;
    }

    /// A set no longer has `url` active.
    pub(crate) fn release(&self, url: &str) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(url) {
            entry.0 = entry.0.saturating_sub(1);
            if entry.0 == 0 {
                map.remove(url);
            }
        }
    }

    /// The counters of `url`; ones of an Alertmanager that went away meanwhile are counted
    /// nowhere, as Prometheus's deleted series are.
    pub(crate) fn of(&self, url: &str) -> Arc<AlertmanagerCounters> {
        self.lock()
            .get(url)
            .map(|(_, counters)| counters.clone())
            .unwrap_or_default()
    }

    pub(crate) fn per_alertmanager(&self) -> Vec<AlertmanagerMetrics> {
        self.lock()
            .iter()
            .map(|(url, (_, c))| AlertmanagerMetrics {
                url: url.clone(),
                sent_total: c.sent.load(Ordering::Relaxed),
                errors_total: c.errors.load(Ordering::Relaxed),
                latency_seconds_sum: c.latency_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                latency_seconds_count: c.latency_count.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// The notifier's metrics at one moment; [`NotifierMetrics::samples`] names them as
/// Prometheus does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifierMetrics {
    /// Alerts waiting to be sent.
    pub queue_length: u64,
    pub queue_capacity: u64,
    /// Alerts lost: pushed out of a full queue, in a batch that reached no Alertmanager of some
    /// set, or left in the queue at shutdown.
    pub dropped_total: u64,
    /// Active Alertmanagers over all sets (one in two sets counts twice, as in Prometheus).
    pub alertmanagers_discovered: u64,
    /// By URL.
    pub alertmanagers: Vec<AlertmanagerMetrics>,
}

/// The counters of one Alertmanager, by the URL alerts are posted to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertmanagerMetrics {
    pub url: String,
    /// Alerts posted, whether the post succeeded or not (Prometheus 3's meaning).
    pub sent_total: u64,
    /// Alerts in posts that failed (error status, timeout, connection error).
    pub errors_total: u64,
    /// Time from the start of a batch to the end of its post, summed over posts.
    pub latency_seconds_sum: f64,
    pub latency_seconds_count: u64,
}

/// Whether a family is a counter, a gauge or a summary, for the exposition's TYPE line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    /// Only `_sum` and `_count` are given; Prometheus's quantiles are not computed.
    Summary,
}

/// One exported value. `family` is the name in the HELP and TYPE lines; `name` that of the
/// sample, which differs for a summary's `_sum` and `_count`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    pub family: &'static str,
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricKind,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl NotifierMetrics {
    /// The values named, described and typed as Prometheus exports them, grouped by family.
    pub fn samples(&self) -> Vec<MetricSample> {
        let single = |family, help, kind, value: u64| MetricSample {
            family,
            name: family,
            help,
            kind,
            labels: Vec::new(),
            value: value as f64,
        };
        let mut samples = vec![
            single(
                "prometheus_notifications_queue_length",
                "The number of alert notifications in the queue.",
                MetricKind::Gauge,
                self.queue_length,
            ),
            single(
                "prometheus_notifications_queue_capacity",
                "The capacity of the alert notifications queue.",
                MetricKind::Gauge,
                self.queue_capacity,
            ),
            single(
                "prometheus_notifications_dropped_total",
                "Total number of alerts dropped due to errors when sending to Alertmanager.",
                MetricKind::Counter,
                self.dropped_total,
            ),
            single(
                "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.",
                MetricKind::Gauge,
                self.alertmanagers_discovered,
            ),
        ];
        let per_alertmanager =
            |family, name, help, kind, value: fn(&AlertmanagerMetrics) -> f64| {
                self.alertmanagers.iter().map(move |am| MetricSample {
                    family,
                    name,
                    help,
                    kind,
                    labels: vec![("alertmanager", am.url.clone())],
                    value: value(am),
                })
            };
        const LATENCY: &str = "prometheus_notifications_latency_seconds";
        const LATENCY_HELP: &str = "Latency quantiles for sending alert notifications.";
        samples.extend(per_alertmanager(
            LATENCY,
            "prometheus_notifications_latency_seconds_sum",
            LATENCY_HELP,
            MetricKind::Summary,
            |am| am.latency_seconds_sum,
        ));
        samples.extend(per_alertmanager(
            LATENCY,
            "prometheus_notifications_latency_seconds_count",
            LATENCY_HELP,
            MetricKind::Summary,
            |am| am.latency_seconds_count as f64,
        ));
        samples.extend(per_alertmanager(
            "prometheus_notifications_errors_total",
            "prometheus_notifications_errors_total",
            "Total number of sent alerts affected by errors.",
            MetricKind::Counter,
            |am| am.errors_total as f64,
        ));
        samples.extend(per_alertmanager(
            "prometheus_notifications_sent_total",
            "prometheus_notifications_sent_total",
            "Total number of alerts sent.",
            MetricKind::Counter,
            |am| am.sent_total as f64,
        ));
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_live_while_some_set_has_the_alertmanager() {
        let counters = Counters::default();
        counters.acquire("http://a/api/v2/alerts");
        counters.acquire("http://a/api/v2/alerts");
        counters
            .of("http://a/api/v2/alerts")
            .record(3, true, Duration::from_millis(250));
        counters.release("http://a/api/v2/alerts");
        let metrics = NotifierMetrics {
            alertmanagers: counters.per_alertmanager(),
            ..NotifierMetrics::default()
        };
        assert_eq!(
            metrics.alertmanagers,
            [AlertmanagerMetrics {
                url: "http://a/api/v2/alerts".into(),
                sent_total: 3,
                errors_total: 3,
                latency_seconds_sum: 0.25,
                latency_seconds_count: 1,
            }]
        );
        let names: Vec<_> = metrics.samples().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "prometheus_notifications_queue_length",
                "prometheus_notifications_queue_capacity",
                "prometheus_notifications_dropped_total",
                "prometheus_notifications_alertmanagers_discovered",
                "prometheus_notifications_latency_seconds_sum",
                "prometheus_notifications_latency_seconds_count",
                "prometheus_notifications_errors_total",
                "prometheus_notifications_sent_total",
            ]
        );
        counters.release("http://a/api/v2/alerts");
        assert!(counters.per_alertmanager().is_empty());
        // Counted nowhere, without panicking.
        counters.of("http://gone/").record(1, false, Duration::ZERO);
    }
}
