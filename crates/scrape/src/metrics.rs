//! Counters over all scrapes, exported by the server under Prometheus's names.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::scrape::{ScrapeError, ScrapeReport};

/// Totals since start; one instance per scrape manager, shared by every loop.
#[derive(Default, Debug)]
pub struct ScrapeMetrics {
    pub scrapes: AtomicU64,
    pub exceeded_sample_limit: AtomicU64,
    pub exceeded_body_size_limit: AtomicU64,
    pub exceeded_label_limits: AtomicU64,
    pub exceeded_target_limit: AtomicU64,
    pub samples_out_of_order: AtomicU64,
    pub samples_duplicate_timestamp: AtomicU64,
    /// Exemplars parsed and not stored (the TSDB keeps no exemplars).
    pub exemplars_dropped: AtomicU64,
}

impl ScrapeMetrics {
    pub(crate) fn record(&self, report: &ScrapeReport) {
        let add = |counter: &AtomicU64, n: usize| {
            if n > 0 {
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        };
        add(&self.scrapes, 1);
        add(&self.samples_out_of_order, report.samples_out_of_order);
        add(
            &self.samples_duplicate_timestamp,
            report.samples_duplicate_timestamp,
        );
        add(&self.exemplars_dropped, report.exemplars_dropped);
        match &report.error {
            Some(ScrapeError::SampleLimit) => add(&self.exceeded_sample_limit, 1),
            Some(ScrapeError::BodySizeLimit) => add(&self.exceeded_body_size_limit, 1),
            Some(ScrapeError::LabelLimit(_)) => add(&self.exceeded_label_limits, 1),
            _ => {}
        }
    }

    /// (name, help, value) of every counter, Prometheus's names where Prometheus has one.
    pub fn samples(&self) -> [(&'static str, &'static str, f64); 8] {
        let v = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        [
            ("narthex_scrapes_total", "Scrapes attempted, successful or not.", v(&self.scrapes)),
            (
                "prometheus_target_scrapes_exceeded_sample_limit_total",
                "Total number of scrapes that hit the sample limit and were rejected.",
                v(&self.exceeded_sample_limit),
            ),
            (
                "prometheus_target_scrapes_exceeded_body_size_limit_total",
                "Total number of scrapes that hit the body size limit",
                v(&self.exceeded_body_size_limit),
            ),
            (
                "prometheus_target_scrape_pool_exceeded_label_limits_total",
                "Total number of times scrape pools hit the label limits, during sync or config reload.",
                v(&self.exceeded_label_limits),
            ),
            (
                "prometheus_target_scrape_pool_exceeded_target_limit_total",
                "Total number of times scrape pools hit the target limit, during sync or config reload.",
                v(&self.exceeded_target_limit),
            ),
            (
                "prometheus_target_scrapes_sample_out_of_order_total",
                "Total number of samples rejected due to not being out of the expected order.",
                v(&self.samples_out_of_order),
            ),
            (
                "prometheus_target_scrapes_sample_duplicate_timestamp_total",
                "Total number of samples rejected due to duplicate timestamps but different values.",
                v(&self.samples_duplicate_timestamp),
            ),
            (
                "narthex_scrape_exemplars_dropped_total",
                "Exemplars parsed from OpenMetrics scrapes and dropped: the TSDB stores no exemplars.",
                v(&self.exemplars_dropped),
            ),
        ]
    }
}
