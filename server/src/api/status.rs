//! `/api/v1/status/{config,flags,runtimeinfo,buildinfo}`: what the server runs with, in
//! Prometheus's JSON. The configuration is shown with secrets as `<secret>`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::response::Response;
use narthex_model::duration::format_rfc3339_nanos;
use serde::Serialize;

use super::serde_success;
use crate::server::AppState;

#[derive(Serialize)]
struct ConfigYaml {
    yaml: String,
}

/// `GET /api/v1/status/config`.
pub(super) async fn config(State(state): State<Arc<AppState>>) -> Response {
    serde_success(&ConfigYaml {
        yaml: state.config.current().to_yaml(),
    })
}

/// `GET /api/v1/status/flags`.
pub(super) async fn flags(State(state): State<Arc<AppState>>) -> Response {
    serde_success(&state.flags)
}

#[derive(Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    #[serde(rename = "serverTime")]
    server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: u64,
    /// Prometheus counts goroutines; here, the tokio tasks alive.
    #[serde(rename = "goroutineCount")]
    goroutine_count: usize,
    /// Prometheus's GOMAXPROCS; here, the runtime's worker threads.
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

/// `GET /api/v1/status/runtimeinfo`.
pub(super) async fn runtime_info(State(state): State<Arc<AppState>>) -> Response {
    let metrics = tokio::runtime::Handle::current().metrics();
    let last_config = UNIX_EPOCH + Duration::from_secs(state.config.last_success_seconds());
    serde_success(&RuntimeInfo {
        start_time: format_rfc3339_nanos(Some(state.started)),
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        hostname: super::hostname(),
        server_time: format_rfc3339_nanos(Some(std::time::SystemTime::now())),
        reload_config_success: state.config.last_reload_successful(),
        last_config_time: format_rfc3339_nanos(Some(last_config)),
        corruption_count: state
            .tsdb
            .stats()
            .wal_corruptions
            .load(std::sync::atomic::Ordering::Relaxed),
        goroutine_count: metrics.num_alive_tasks(),
        gomaxprocs: metrics.num_workers(),
        gomemlimit: i64::MAX,
        gogc: String::new(),
        godebug: String::new(),
        storage_retention: state.retention.clone(),
    })
}

/// `GET /api/v1/status/buildinfo`.
pub(super) async fn build_info() -> Response {
    let mut info = BTreeMap::new();
    info.insert("version", env!("CARGO_PKG_VERSION"));
    info.insert(
        "revision",
        option_env!("NARTHEX_REVISION").unwrap_or("unknown"),
    );
    info.insert("branch", option_env!("NARTHEX_BRANCH").unwrap_or("unknown"));
    info.insert(
        "buildUser",
        option_env!("NARTHEX_BUILD_USER").unwrap_or("unknown"),
    );
    info.insert(
        "buildDate",
        option_env!("NARTHEX_BUILD_DATE").unwrap_or("unknown"),
    );
    // Prometheus names its compiler version here; ours is Rust's.
    info.insert("goVersion", concat!("rust", env!("CARGO_PKG_RUST_VERSION")));
    serde_success(&info)
}

#[derive(Serialize)]
struct ScrapePools {
    #[serde(rename = "scrapePools")]
    scrape_pools: Vec<String>,
}

/// `GET /api/v1/scrape_pools`: the names of the scrape pools, sorted, as Prometheus lists them
/// for its targets page.
pub(super) async fn scrape_pools(State(state): State<Arc<AppState>>) -> Response {
    let mut scrape_pools = state.scrape.pool_names();
    scrape_pools.sort_unstable();
    serde_success(&ScrapePools { scrape_pools })
}

#[derive(Serialize)]
struct WalReplay {
    min: u64,
    max: u64,
    current: u64,
}

/// `GET /api/v1/status/walreplay`: how far the write-ahead log replay on start has come. The
/// TSDB replays its log before the server listens, so it is over whenever this is asked; the
/// answer is Prometheus's for a start with no log segments to replay (after a replay, Prometheus
/// keeps the segment numbers it went through).
pub(super) async fn wal_replay() -> Response {
    serde_success(&WalReplay {
        min: 0,
        max: 0,
        current: 0,
    })
}

/// `GET /api/v1/notifications`: Prometheus lists a failed configuration reload here for its
/// UI. The list is always empty here; a failed reload shows as `reloadConfigSuccess: false`
/// in `runtimeinfo` and as `prometheus_config_last_reload_successful` 0.
pub(super) async fn notifications() -> Response {
    serde_success(&Vec::<()>::new())
}
