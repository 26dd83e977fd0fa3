//! Service discovery counters, kept as atomics so a server exports them under Prometheus's names
//! without a global registry. One [`SdMetrics`] is shared by every pool of a discovery manager
//! (scrape or notify), as Prometheus's are per process.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// The counters; see [`SdMetrics::samples`] for their Prometheus names.
#[derive(Debug, Default)]
pub struct SdMetrics {
    pub(crate) file_read_errors: AtomicU64,
    pub(crate) http_failures: AtomicU64,
    pub(crate) http_refresh_failures: AtomicU64,
    pub(crate) dns_lookups: AtomicU64,
    pub(crate) dns_lookup_failures: AtomicU64,
    pub(crate) failed_configs: AtomicI64,
}

/// Whether a sample is a counter or a gauge, for the exposition's TYPE line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdMetricKind {
    Counter,
    Gauge,
}

/// One exported value.
#[derive(Debug, Clone, PartialEq)]
pub struct SdSample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: SdMetricKind,
    pub labels: &'static [(&'static str, &'static str)],
    pub value: f64,
}

pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl SdMetrics {
    /// The current values, named and described as Prometheus names them.
    ///
    /// Prometheus's DNS discovery never fails a whole refresh (it counts failed lookups per
    /// name instead), so there is no `mechanism="dns"` refresh failure series, as there.
    pub fn samples(&self) -> Vec<SdSample> {
        let counter = |name, help, labels, value: &AtomicU64| SdSample {
            name,
            help,
            kind: SdMetricKind::Counter,
            labels,
            value: value.load(Ordering::Relaxed) as f64,
        };
        vec![
            counter(
                "prometheus_sd_file_read_errors_total",
                "The number of File-SD read errors.",
                &[],
                &self.file_read_errors,
            ),
            counter(
                "prometheus_sd_http_failures_total",
                "Number of HTTP service discovery refresh failures.",
                &[],
                &self.http_failures,
            ),
            counter(
                "prometheus_sd_refresh_failures_total",
                "Number of refresh failures for the given SD mechanism.",
                &[("mechanism", "http")],
                &self.http_refresh_failures,
            ),
            counter(
                "prometheus_sd_dns_lookups_total",
                "The number of DNS-SD lookups.",
                &[],
                &self.dns_lookups,
            ),
            counter(
                "prometheus_sd_dns_lookup_failures_total",
                "The number of DNS-SD lookup failures.",
                &[],
                &self.dns_lookup_failures,
            ),
            SdSample {
                name: "prometheus_sd_failed_configs",
                help: "Current number of service discovery configurations that failed to load.",
                kind: SdMetricKind::Gauge,
                labels: &[],
                value: self.failed_configs.load(Ordering::Relaxed) as f64,
            },
        ]
    }

    /// The value of the sample with this name (each name has one sample).
    pub fn value(&self, name: &str) -> Option<f64> {
        self.samples()
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
    }
}
