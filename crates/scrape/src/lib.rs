//! Scraping: turning `scrape_configs` into targets, and each target into a loop that fetches its
//! exposition over HTTP, parses it and appends it to storage in one batch.
//!
//! - `discovery`: a pool's service discovery, as label sets;
//! - `target`: from a discovered label set to a target (relabeling, URL), and its health;
//! - `scrape`: one scrape of one target, from HTTP request to committed batch;
//! - `manager`: the pools and their loops, updated when discovery or the configuration changes;
//! - `metrics`: counters over all scrapes.

pub mod discovery;
pub mod manager;
mod metrics;
pub mod scrape;
pub mod target;

/// The User-Agent of scrapes and HTTP discovery.
pub const USER_AGENT: &str = concat!("Narthex/", env!("CARGO_PKG_VERSION"));
pub use manager::ScrapeManager;
pub use metrics::ScrapeMetrics;
pub use target::{DroppedTarget, MetricMetadata, Target, TargetHealth, TargetStatus};
