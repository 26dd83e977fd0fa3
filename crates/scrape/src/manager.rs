//! The scrape manager: one tokio task per target, replaced when the configuration changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use narthex_config::Config;
use narthex_model::Storage;
use tokio::task::JoinHandle;

use crate::scrape::{scrape_once, ScrapeState};
use crate::target::{Target, TargetHealth, TargetStatus};

struct RunningTarget {
    status: Arc<Mutex<TargetStatus>>,
    task: JoinHandle<()>,
}

/// Runs the scrape loops of the current configuration.
pub struct ScrapeManager {
    storage: Arc<dyn Storage>,
    client: reqwest::Client,
    running: Mutex<Vec<RunningTarget>>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

impl ScrapeManager {
    pub fn new(storage: Arc<dyn Storage>) -> Result<ScrapeManager, ClientError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Narthex/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(ScrapeManager {
            storage,
            client,
            running: Mutex::new(Vec::new()),
        })
    }

    /// Stops the loops of the previous configuration and starts those of `config`.
    /// Must be called inside a tokio runtime.
    pub fn apply_config(&self, config: &Config) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for old in running.drain(..) {
            old.task.abort();
        }
        for target in Target::all_from_config(config) {
            let status = Arc::new(Mutex::new(TargetStatus {
                target: target.clone(),
                health: TargetHealth::Unknown,
                last_error: String::new(),
                last_scrape: None,
                last_scrape_duration: Duration::ZERO,
            }));
            let task = tokio::spawn(run_loop(
                target,
                self.storage.clone(),
                self.client.clone(),
                status.clone(),
            ));
            running.push(RunningTarget { status, task });
        }
        tracing::info!(targets = running.len(), "scrape configuration applied");
    }

    /// The current targets and their health, in configuration order.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running
            .iter()
            .map(|r| r.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    /// Stops every loop.
    pub fn stop(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        for old in running.drain(..) {
            old.task.abort();
        }
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run_loop(
    target: Target,
    storage: Arc<dyn Storage>,
    client: reqwest::Client,
    status: Arc<Mutex<TargetStatus>>,
) {
    let mut state = ScrapeState::default();
    let mut ticker = tokio::time::interval(target.interval);
    // A scrape that overruns skips the missed ticks instead of bursting to catch up.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let report = scrape_once(&client, &target, storage.as_ref(), &mut state).await;
        if let Some(error) = &report.error {
            tracing::debug!(url = %target.url, %error, "scrape failed");
        }
        let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
        status.health = if report.error.is_none() {
            TargetHealth::Up
        } else {
            TargetHealth::Down
        };
        status.last_error = report
            .error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        status.last_scrape = Some(report.started);
        status.last_scrape_duration = report.duration;
    }
}
