//! The scrape manager: one pool per `scrape_configs` entry, each turning discovered label sets
//! into targets and running one loop per target.
//!
//! A configuration reload keeps what did not change: a pool whose config is identical is left
//! alone; a changed pool gets the new settings, its targets are recomputed, and only then are
//! loops started or stopped: a target that is still there keeps its loop (and its series
//! cache, unless the change affects how series are labelled), a target that went away gets
//! staleness markers for its series.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use narthex_config::{Config, ScrapeConfig};
use narthex_discovery::SdMetrics;

use crate::metrics::ScrapeMetrics;
use narthex_model::{Labels, Storage};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::discovery::{same_discovery, start_discovery};
use crate::scrape::{
    accept_header, failed_scrape, mark_all_stale, scrape_once, MetricRelabel, ScrapeError,
    ScrapeSettings, ScrapeState,
};
use crate::target::{populate, DroppedTarget, Populated, Target, TargetHealth, TargetStatus};

/// A pool's configuration that cannot be turned into an HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client of scrape pool {pool:?}: {reason}")]
pub struct ClientError {
    pub pool: String,
    pub reason: String,
}

/// What every loop of a pool shares; replaced as a whole when the pool's config changes.
struct PoolRuntime {
    config: ScrapeConfig,
    client: narthex_discovery::HttpClient,
    settings: ScrapeSettings,
    /// Set while the pool has more targets than `target_limit`: every scrape fails with it.
    forced_error: Option<String>,
}

impl PoolRuntime {
    fn new(config: &ScrapeConfig) -> Result<PoolRuntime, ClientError> {
        let client_error = |reason: String| ClientError {
            pool: config.job_name.clone(),
            reason,
        };
        let http = config.http_client().map_err(client_error)?;
        let client = narthex_discovery::HttpClient::new(&http, crate::USER_AGENT)
            .map_err(|e| client_error(e.to_string()))?;
        let metric_relabel: Option<MetricRelabel> = if config.metric_relabel_configs.is_empty() {
            None
        } else {
            let configs = config.metric_relabel_configs.clone();
            Some(Arc::new(move |labels: &Labels| {
                narthex_config::relabel::process(labels, &configs)
            }))
        };
        Ok(PoolRuntime {
            config: config.clone(),
            client,
            settings: ScrapeSettings {
                honor_labels: config.honor_labels,
                honor_timestamps: config.honor_timestamps,
                track_timestamps_staleness: config.track_timestamps_staleness,
                enable_compression: config.enable_compression,
                limits: config.limits(),
                accept: accept_header(config.protocols()),
                fallback_protocol: config.fallback_scrape_protocol,
                metric_relabel,
            },
            forced_error: None,
        })
    }

    fn with_forced_error(&self, forced_error: Option<String>) -> PoolRuntime {
        PoolRuntime {
            config: self.config.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            forced_error,
        }
    }

    /// Whether series cached under `self` would be labelled the same under `other`.
    fn labels_series_like(&self, other: &PoolRuntime) -> bool {
        self.config.honor_labels == other.config.honor_labels
            && self.config.metric_relabel_configs == other.config.metric_relabel_configs
            && self.settings.limits == other.settings.limits
    }
}

/// What every loop of every pool needs.
struct LoopContext {
    storage: Arc<dyn Storage>,
    metrics: Arc<ScrapeMetrics>,
    /// Mixed into every target's first-scrape offset.
    offset_seed: u64,
}

/// What a target's loop and the API share.
struct LoopShared {
    status: Mutex<TargetStatus>,
    runtime: Mutex<Arc<PoolRuntime>>,
}

struct RunningLoop {
    shared: Arc<LoopShared>,
    stop: watch::Sender<LoopCommand>,
    task: JoinHandle<()>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LoopCommand {
    Run,
    /// Stop and write staleness markers: the target went away.
    StopStale,
    /// Stop quietly: the server is shutting down.
    Stop,
}

#[derive(Default)]
struct PoolTargets {
    loops: Vec<RunningLoop>,
    dropped: Vec<DroppedTarget>,
    dropped_total: usize,
}

struct Pool {
    name: String,
    runtime: watch::Sender<Arc<PoolRuntime>>,
    targets: Arc<Mutex<PoolTargets>>,
    /// Runs discovery and keeps the loops in line with it.
    sync: JoinHandle<()>,
}

/// Scrape pools of a configuration, checked and ready for `ScrapeManager::apply`.
pub struct PreparedPools {
    runtimes: Vec<Arc<PoolRuntime>>,
}

/// Runs the scrape pools of the current configuration.
pub struct ScrapeManager {
    storage: Arc<dyn Storage>,
    /// Mixed into every target's offset, so that two servers scraping the same targets do
    /// not scrape them at the same instant (Prometheus uses its external labels the same way).
    offset_seed: u64,
    pools: Mutex<Vec<Pool>>,
    sd_metrics: Arc<SdMetrics>,
    metrics: Arc<ScrapeMetrics>,
}

impl ScrapeManager {
    pub fn new(storage: Arc<dyn Storage>) -> ScrapeManager {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::env::var("HOSTNAME")
            .unwrap_or_default()
            .hash(&mut hasher);
        ScrapeManager {
            storage,
            offset_seed: hasher.finish(),
            pools: Mutex::new(Vec::new()),
            sd_metrics: Arc::default(),
            metrics: Arc::default(),
        }
    }

    /// Counters over all scrapes, for `/metrics`.
    pub fn metrics(&self) -> &ScrapeMetrics {
        &self.metrics
    }

    /// Service discovery's counters, for `/metrics`.
    pub fn sd_metrics(&self) -> &SdMetrics {
        &self.sd_metrics
    }

    /// Applies a (new) configuration: `prepare` then `apply`. Must be called inside a tokio
    /// runtime.
    pub fn apply_config(&self, config: &Config) -> Result<(), ClientError> {
        let prepared = self.prepare(config)?;
        self.apply(prepared);
        Ok(())
    }

    /// Builds every pool's HTTP client and settings without changing anything, so that a
    /// reload can check every part of a configuration before applying any.
    pub fn prepare(&self, config: &Config) -> Result<PreparedPools, ClientError> {
        let mut runtimes = Vec::with_capacity(config.scrape_configs.len());
        for scrape in &config.scrape_configs {
            runtimes.push(Arc::new(PoolRuntime::new(scrape)?));
        }
        Ok(PreparedPools { runtimes })
    }

    /// Keeps unchanged pools, updates changed ones, stops removed ones. Must be called inside
    /// a tokio runtime.
    pub fn apply(&self, prepared: PreparedPools) {
        let runtimes = prepared.runtimes;
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let mut old: Vec<Pool> = pools.drain(..).collect();
        for runtime in runtimes {
            let name = runtime.config.job_name.clone();
            let pool = match old.iter().position(|p| p.name == name) {
                Some(i) => {
                    let pool = old.swap_remove(i);
                    if pool.runtime.borrow().config != runtime.config {
                        let _ = pool.runtime.send(runtime);
                    }
                    pool
                }
                None => self.start_pool(runtime),
            };
            pools.push(pool);
        }
        for pool in old {
            pool.stop(LoopCommand::StopStale);
        }
        tracing::info!(pools = pools.len(), "scrape configuration applied");
    }

    fn start_pool(&self, runtime: Arc<PoolRuntime>) -> Pool {
        let name = runtime.config.job_name.clone();
        let (runtime_tx, runtime_rx) = watch::channel(runtime);
        let targets = Arc::new(Mutex::new(PoolTargets::default()));
        let sync = tokio::spawn(sync_pool(
            runtime_rx,
            self.sd_metrics.clone(),
            targets.clone(),
            Arc::new(LoopContext {
                storage: self.storage.clone(),
                metrics: self.metrics.clone(),
                offset_seed: self.offset_seed,
            }),
        ));
        Pool {
            name,
            runtime: runtime_tx,
            targets,
            sync,
        }
    }

    /// The active targets and their health, pool by pool in configuration order.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = Vec::new();
        for pool in pools.iter() {
            let targets = pool.targets.lock().unwrap_or_else(|e| e.into_inner());
            for running in &targets.loops {
                all.push(lock(&running.shared.status).clone());
            }
        }
        all
    }

    /// The dropped targets kept for the API, and per pool how many were dropped in all.
    pub fn dropped_targets(&self) -> (Vec<DroppedTarget>, BTreeMap<String, usize>) {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = Vec::new();
        let mut counts = BTreeMap::new();
        for pool in pools.iter() {
            let targets = pool.targets.lock().unwrap_or_else(|e| e.into_inner());
            all.extend(targets.dropped.iter().cloned());
            counts.insert(pool.name.clone(), targets.dropped_total);
        }
        (all, counts)
    }

    /// The pools' names in configuration order.
    pub fn pool_names(&self) -> Vec<String> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.iter().map(|pool| pool.name.clone()).collect()
    }

    /// Stops every loop, without staleness markers (the server is shutting down).
    pub fn stop(&self) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        for pool in pools.drain(..) {
            pool.stop(LoopCommand::Stop);
        }
    }

    /// Stops every loop and waits until none runs, so that nothing writes to the storage after
    /// this returns (the server closes the TSDB next). A loop in the middle of a scrape is
    /// aborted at its next await; a commit in progress completes.
    pub async fn shutdown(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
            let mut tasks = Vec::new();
            for pool in pools.drain(..) {
                pool.sync.abort();
                let mut targets = pool.targets.lock().unwrap_or_else(|e| e.into_inner());
                for running in targets.loops.drain(..) {
                    running.task.abort();
                    tasks.push(running.task);
                }
            }
            tasks
        };
        for task in tasks {
            // Cancelled tasks report an error here, which is what was asked for.
            let _ = task.await;
        }
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Pool {
    fn stop(self, command: LoopCommand) {
        self.sync.abort();
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        for running in targets.loops.drain(..) {
            let _ = running.stop.send(command);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps a pool's loops in line with its discovery and configuration.
async fn sync_pool(
    mut runtime: watch::Receiver<Arc<PoolRuntime>>,
    sd_metrics: Arc<SdMetrics>,
    targets: Arc<Mutex<PoolTargets>>,
    context: Arc<LoopContext>,
) {
    let mut current = runtime.borrow_and_update().clone();
    let mut discovery = start_discovery(&current.config, sd_metrics.clone());
    let mut discovered = discovery.receiver();
    loop {
        let label_sets = discovered.borrow_and_update().clone();
        reconcile(&current, &label_sets, &targets, &context);
        tokio::select! {
            changed = runtime.changed() => {
                if changed.is_err() {
                    return;
                }
                let next = runtime.borrow_and_update().clone();
                if !same_discovery(&current.config, &next.config) {
                    discovery = start_discovery(&next.config, sd_metrics.clone());
                    discovered = discovery.receiver();
                    // Reconcile against the new discovery's first result, not an empty start.
                    discovery.first_result().await;
                }
                current = next;
            }
            changed = discovered.changed() => if changed.is_err() { return },
        }
    }
}

fn reconcile(
    runtime: &Arc<PoolRuntime>,
    label_sets: &[Labels],
    targets: &Mutex<PoolTargets>,
    context: &Arc<LoopContext>,
) {
    let config = &runtime.config;
    let relabel =
        |labels: &Labels| narthex_config::relabel::process(labels, &config.relabel_configs);
    let mut active: Vec<Target> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut dropped = Vec::new();
    for discovered in label_sets {
        match populate(discovered, config, &relabel) {
            Ok(Populated::Active(target)) => {
                // Two discovered sets that relabel into the same target scrape it once.
                if seen.insert(identity_key(&target)) {
                    active.push(target);
                }
            }
            Ok(Populated::Dropped(target)) => dropped.push(target),
            Err(e) => {
                tracing::warn!(pool = %config.job_name, labels = %discovered, error = %e, "target refused")
            }
        }
    }
    let limit = config.limits().target_limit;
    let forced_error = (limit > 0 && active.len() as u64 > limit).then(|| {
        format!(
            "target_limit exceeded (number of targets: {}, limit: {limit})",
            active.len()
        )
    });
    if forced_error.is_some() && runtime.forced_error.is_none() {
        context
            .metrics
            .exceeded_target_limit
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let runtime = if forced_error != runtime.forced_error {
        Arc::new(runtime.with_forced_error(forced_error))
    } else {
        runtime.clone()
    };

    let mut state = lock(targets);
    state.dropped_total = dropped.len();
    let keep = config.keep_dropped_targets.unwrap_or(0) as usize;
    if keep > 0 {
        dropped.truncate(keep);
    }
    state.dropped = dropped;
    // Indexed once, so that matching is linear in the number of targets.
    let mut old: HashMap<IdentityKey, RunningLoop> = state
        .loops
        .drain(..)
        .map(|running| {
            let key = identity_key(&lock(&running.shared.status).target);
            (key, running)
        })
        .collect();
    let mut loops = Vec::with_capacity(active.len());
    for target in active {
        match old.remove(&identity_key(&target)) {
            Some(running) => {
                *lock(&running.shared.runtime) = runtime.clone();
                // Labels of a target may change with the same identity only in their
                // discovered part (e.g. a `__meta_` label): keep the API view current.
                lock(&running.shared.status).target = target;
                loops.push(running);
            }
            None => loops.push(start_loop(target, runtime.clone(), context.clone())),
        }
    }
    for gone in old.into_values() {
        let _ = gone.stop.send(LoopCommand::StopStale);
    }
    state.loops = loops;
}

/// What identifies a target across discovery updates and reloads (see `Target::identity`).
type IdentityKey = (Labels, String, Duration, Duration);

fn identity_key(target: &Target) -> IdentityKey {
    let (labels, url, interval, timeout) = target.identity();
    (labels.clone(), url.to_string(), interval, timeout)
}

/// When a target's first scrape happens: spread over the interval by the target's hash, so
/// targets of one pool do not all scrape at once (Prometheus's `Target.offset`).
fn first_scrape_delay(target: &Target, offset_seed: u64, now_nanos: u128) -> Duration {
    let interval = target.interval.as_nanos().max(1);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    target.internal_labels.hash(&mut hasher);
    target.url.hash(&mut hasher);
    let offset = u128::from(hasher.finish() ^ offset_seed) % interval;
    let base = interval - now_nanos % interval;
    let mut next = base + offset;
    if next > interval {
        next -= interval;
    }
    Duration::from_nanos(next as u64)
}

fn start_loop(target: Target, runtime: Arc<PoolRuntime>, context: Arc<LoopContext>) -> RunningLoop {
    let shared = Arc::new(LoopShared {
        status: Mutex::new(TargetStatus::new(target.clone())),
        runtime: Mutex::new(runtime),
    });
    let (stop, stop_rx) = watch::channel(LoopCommand::Run);
    let task = tokio::spawn(run_loop(target, shared.clone(), context, stop_rx));
    RunningLoop { shared, stop, task }
}

async fn run_loop(
    target: Target,
    shared: Arc<LoopShared>,
    context: Arc<LoopContext>,
    mut stop: watch::Receiver<LoopCommand>,
) {
    let storage = &context.storage;
    let now_nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let delay = first_scrape_delay(&target, context.offset_seed, now_nanos);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + delay, target.interval);
    // A scrape that overruns skips the missed ticks instead of bursting to catch up.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut state = ScrapeState::default();
    let mut previous: Option<Arc<PoolRuntime>> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = stop.changed() => {
                let command = *stop.borrow();
                match (changed, command) {
                    (Ok(()), LoopCommand::Run) => continue,
                    (Ok(()), LoopCommand::StopStale) => {
                        let track = lock(&shared.runtime).settings.track_timestamps_staleness;
                        mark_all_stale(&mut state, &target, storage.as_ref(), track);
                        return;
                    }
                    _ => return,
                }
            }
        }
        let runtime = lock(&shared.runtime).clone();
        // Settings that label series differently invalidate the cached labels.
        if previous
            .as_ref()
            .is_some_and(|p| !Arc::ptr_eq(p, &runtime) && !p.labels_series_like(&runtime))
        {
            state.forget_series();
        }
        previous = Some(runtime.clone());
        let report = match &runtime.forced_error {
            Some(error) => failed_scrape(
                &target,
                &runtime.settings,
                storage.as_ref(),
                &mut state,
                ScrapeError::Forced(error.clone()),
            ),
            None => match runtime.client.get(target.url.as_str()) {
                Ok(request) => {
                    scrape_once(
                        request,
                        &target,
                        &runtime.settings,
                        storage.as_ref(),
                        &mut state,
                    )
                    .await
                }
                // A credentials file that cannot be read: the scrape fails naming it.
                Err(e) => failed_scrape(
                    &target,
                    &runtime.settings,
                    storage.as_ref(),
                    &mut state,
                    ScrapeError::Http {
                        url: target.url.clone(),
                        reason: e.to_string(),
                    },
                ),
            },
        };
        context.metrics.record(&report);
        if let Some(error) = &report.error {
            tracing::debug!(url = %target.url, %error, "scrape failed");
        }
        let mut status = lock(&shared.status);
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
        status.metadata = state.metadata.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_scrapes_spread_over_the_interval_and_stay_within_it() {
        let config = narthex_config::Config::parse(
            "scrape_configs:\n - job_name: j\n   scrape_interval: 10s\n",
            "x",
        )
        .unwrap()
        .scrape_configs
        .remove(0);
        let keep = |l: &Labels| Some(l.clone());
        let mut delays = Vec::new();
        for i in 0..50 {
            let discovered = Labels::from_pairs([("__address__", format!("h{i}:1"))]);
            let Ok(Populated::Active(target)) = populate(&discovered, &config, &keep) else {
                panic!("target {i}");
            };
            let delay = first_scrape_delay(&target, 7, 123_456_789_000);
            assert!(delay <= Duration::from_secs(10), "{delay:?}");
            // The same target at the same instant always gets the same delay.
            assert_eq!(delay, first_scrape_delay(&target, 7, 123_456_789_000));
            // One interval later, the phase is the same.
            assert_eq!(delay, first_scrape_delay(&target, 7, 133_456_789_000));
            delays.push(delay.as_millis() / 1000);
        }
        delays.sort();
        delays.dedup();
        // 50 targets over 10 one-second buckets: a thundering herd would put them in one.
        assert!(delays.len() >= 8, "{delays:?}");
    }
}
