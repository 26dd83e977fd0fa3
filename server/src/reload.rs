//! Configuration reloads: on SIGHUP and `POST /-/reload` (with `--web.enable-lifecycle`), the
//! configuration file is read again and applied to the components. A file that does not load
//! changes nothing: the error is logged, returned to the HTTP caller and counted in
//! `prometheus_config_last_reload_successful`, and the old configuration keeps running.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use narthex_config::Config;

use crate::server::AppState;

/// Where the configuration comes from.
pub enum ConfigSource {
    File(PathBuf),
    /// The all-in-one configuration built into the binary.
    Embedded(String),
}

/// The configuration in force and how its last reload went.
pub struct ConfigState {
    current: RwLock<Arc<Config>>,
    source: ConfigSource,
    last_reload_successful: AtomicBool,
    /// Unix seconds of the last successful load.
    last_success_seconds: AtomicU64,
    /// Serialises reloads, so two SIGHUPs cannot apply configurations out of order.
    reloading: tokio::sync::Mutex<()>,
}

impl ConfigState {
    pub fn new(config: Config, source: ConfigSource) -> ConfigState {
        ConfigState {
            current: RwLock::new(Arc::new(config)),
            source,
            last_reload_successful: AtomicBool::new(true),
            last_success_seconds: AtomicU64::new(unix_seconds()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn current(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Holds off reloads for as long as the guard lives: taken at shutdown, so that a SIGHUP
    /// cannot restart scrape loops or rule groups that were just stopped.
    pub async fn block_reloads(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reloading.lock().await
    }

    pub fn last_reload_successful(&self) -> bool {
        self.last_reload_successful.load(Ordering::Relaxed)
    }

    pub fn last_success_seconds(&self) -> u64 {
        self.last_success_seconds.load(Ordering::Relaxed)
    }

    fn load(&self) -> anyhow::Result<Config> {
        Ok(match &self.source {
            ConfigSource::File(path) => Config::load(path)?,
            ConfigSource::Embedded(text) => Config::parse(text, "embedded default configuration")?,
        })
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads the configuration again and applies it; on error nothing changes.
pub async fn reload(state: &AppState) -> anyhow::Result<()> {
    let config_state = &state.config;
    let _one_at_a_time = config_state.reloading.lock().await;
    // Every part is checked before any is applied: rule files and scrape pools are prepared,
    // then the notifier (which builds its clients before changing anything) applies, and only
    // then the prepared pools and rules.
    let outcome = config_state.load().and_then(|config| {
        let rules = state.rules.prepare(&config)?;
        let pools = state.scrape.prepare(&config)?;
        state.notifier.apply_config(&config)?;
        state.scrape.apply(pools);
        state.rules.apply(rules);
        Ok(config)
    });
    match outcome {
        Ok(config) => {
            warn_about_unused_sections(&config);
            *config_state
                .current
                .write()
                .unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
            config_state
                .last_reload_successful
                .store(true, Ordering::Relaxed);
            config_state
                .last_success_seconds
                .store(unix_seconds(), Ordering::Relaxed);
            tracing::info!("completed loading of configuration file");
            Ok(())
        }
        Err(e) => {
            config_state
                .last_reload_successful
                .store(false, Ordering::Relaxed);
            tracing::error!(error = %format!("{e:#}"), "error reloading the configuration; the previous one stays in force");
            Err(e)
        }
    }
}

/// Says which sections of the file are kept but not acted on (remote_write, ...), so that a
/// configuration that loads is not mistaken for one that does everything it says.
pub fn warn_about_unused_sections(config: &Config) {
    for section in config.sections_not_acted_on() {
        tracing::warn!(
            section,
            "this configuration section is read but not acted on by Narthex yet"
        );
    }
}

/// Reloads on every SIGHUP until the process ends.
pub fn reload_on_sighup(state: Arc<AppState>) -> anyhow::Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the configuration");
            // The outcome is logged and counted by `reload`.
            let _ = reload(&state).await;
        }
    });
    Ok(())
}
