//! Scraping: turning `scrape_configs` into targets, and each target into a loop that fetches its
//! exposition over HTTP, parses it and appends it to storage in one batch.
//!
//! - `target`: a target's identity (URL, labels, interval) and its health as the API shows it;
//! - `scrape`: one scrape of one target, from HTTP request to committed batch;
//! - `manager`: the loops, started and replaced when the configuration changes.

pub mod manager;
pub mod scrape;
pub mod target;

pub use manager::ScrapeManager;
pub use target::{Target, TargetHealth, TargetStatus};

/// The Accept header Prometheus sends when only the text format 0.0.4 is enabled.
pub const ACCEPT_HEADER: &str = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1";
