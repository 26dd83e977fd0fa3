//! The rule manager: loads the groups of `rule_files`, runs each group in its own task, and on a
//! configuration reload swaps groups while keeping the state of the ones that stay (alerts keep
//! their pending/firing state; a group that goes away gets staleness markers for its series).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use narthex_config::Config;
use narthex_model::{Labels, Storage};
use narthex_promql::Engine;
use tokio::sync::watch;

use crate::eval::{EvalContext, TemplateExpander};
use crate::file::{expand_patterns, ReadOptions, RuleFile, RuleFileError, RuleKind};
use crate::group::{Group, GroupMetrics, GroupOptions};
use crate::rule::{Alert, AlertState, AlertToSend, AlertingRule, RecordingRule, Rule, RuleStatus};

/// Receives the alerts to send (Prometheus's `NotifyFunc`).
pub type Notify = Arc<dyn Fn(Vec<AlertToSend>) + Send + Sync>;

/// What the manager needs from the server.
pub struct RuleManagerOptions {
    pub engine: Arc<Engine>,
    pub storage: Arc<dyn Storage>,
    pub notify: Notify,
    pub templates: Arc<dyn TemplateExpander>,
    pub read: ReadOptions,
    pub group: GroupOptions,
    /// `--web.external-url`, for templates and generator URLs.
    pub external_url: String,
}

/// Settings of the configuration in force.
struct Settings {
    external_labels: Labels,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GroupCommand {
    Run,
    Stop,
    StopStale,
}

struct RunningGroup {
    name: String,
    file: String,
    /// The group its task evaluates; locked for a whole evaluation.
    group: Arc<Mutex<Group>>,
    /// A copy published after every evaluation, for readers.
    view: Arc<Mutex<Arc<Group>>>,
    stop: watch::Sender<GroupCommand>,
    task: tokio::task::JoinHandle<()>,
}

/// The group a new one replaces on reload: its state moves over once its task has ended.
struct Predecessor {
    group: Arc<Mutex<Group>>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    options: RuleManagerOptions,
    settings: Mutex<Arc<Settings>>,
}

pub struct RuleManager {
    shared: Arc<Shared>,
    groups: Mutex<Vec<RunningGroup>>,
    /// Set after the first load: groups loaded later start without restoring `for` state.
    loaded_once: Mutex<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Rule groups read and checked, ready for `RuleManager::apply`.
pub struct PreparedRules {
    groups: Vec<Group>,
    external_labels: Labels,
}

/// Reads every rule file of `config` into groups (not started); the first bad file is an error.
pub fn load_groups(
    config: &Config,
    read: ReadOptions,
    should_restore: bool,
) -> Result<Vec<Group>, RuleFileError> {
    let default_interval = config.global.evaluation_interval.as_millis();
    let default_offset = config.global.rule_query_offset.as_millis();
    let mut groups = Vec::new();
    for path in expand_patterns(&config.rule_files)? {
        let file = RuleFile::load(&path, read)?;
        groups.extend(file_groups(
            &path.display().to_string(),
            file,
            default_interval,
            default_offset,
            should_restore,
        ));
    }
    Ok(groups)
}

/// The groups of one rule file, ready to evaluate; `default_interval` and `default_offset` (ms)
/// apply to groups that set none.
pub(crate) fn file_groups(
    file_name: &str,
    file: RuleFile,
    default_interval: i64,
    default_offset: i64,
    should_restore: bool,
) -> Vec<Group> {
    let mut groups = Vec::with_capacity(file.groups.len());
    for spec in file.groups {
        let rules = spec
            .rules
            .into_iter()
            .map(|rule| {
                // Group labels apply to every rule; the rule's own win.
                let mut labels = spec.labels.clone();
                labels.extend(rule.labels.clone());
                match rule.kind {
                    RuleKind::Recording { record } => Rule::Recording(RecordingRule {
                        name: record,
                        expr: rule.expr,
                        labels: Labels::from_pairs(labels),
                        status: RuleStatus::default(),
                    }),
                    RuleKind::Alerting {
                        alert,
                        hold,
                        keep_firing_for,
                        annotations,
                    } => Rule::Alerting(AlertingRule {
                        name: alert,
                        expr: rule.expr,
                        hold_ms: hold.as_millis(),
                        keep_firing_for_ms: keep_firing_for.as_millis(),
                        labels,
                        annotations,
                        active: Default::default(),
                        restored: !should_restore,
                        status: RuleStatus::default(),
                    }),
                }
            })
            .collect();
        groups.push(Group::new(
            spec.name,
            file_name.to_string(),
            spec.interval.map_or(default_interval, |i| i.as_millis()),
            spec.query_offset.map_or(default_offset, |o| o.as_millis()),
            spec.limit,
            rules,
            should_restore,
        ));
    }
    groups
}

impl RuleManager {
    pub fn new(options: RuleManagerOptions) -> RuleManager {
        RuleManager {
            shared: Arc::new(Shared {
                options,
                settings: Mutex::new(Arc::new(Settings {
                    external_labels: Labels::default(),
                })),
            }),
            groups: Mutex::new(Vec::new()),
            loaded_once: Mutex::new(false),
        }
    }

    /// Reads the rule files of `config` without changing anything: a configuration reload
    /// checks every part before applying any.
    pub fn prepare(&self, config: &Config) -> Result<PreparedRules, RuleFileError> {
        let loaded_once = *lock(&self.loaded_once);
        Ok(PreparedRules {
            groups: load_groups(config, self.shared.options.read, !loaded_once)?,
            external_labels: Labels::from_pairs(
                config
                    .global
                    .external_labels
                    .iter()
                    .map(|(k, v)| (k.0.clone(), v.clone())),
            ),
        })
    }

    /// Loads the rule files of `config` and runs their groups (`prepare` then `apply`).
    pub fn update(&self, config: &Config) -> Result<(), RuleFileError> {
        let prepared = self.prepare(config)?;
        self.apply(prepared);
        Ok(())
    }

    /// Runs prepared groups, keeping the state of groups that stay (same file and name); groups
    /// that went away get staleness markers. Must be called inside a tokio runtime.
    pub fn apply(&self, prepared: PreparedRules) {
        *lock(&self.loaded_once) = true;
        *lock(&self.shared.settings) = Arc::new(Settings {
            external_labels: prepared.external_labels,
        });
        let mut running = lock(&self.groups);
        let mut old: Vec<RunningGroup> = running.drain(..).collect();
        for group in prepared.groups {
            let previous = old
                .iter()
                .position(|r| r.name == group.name && r.file == group.file);
            // The old task stops; the new one takes its state over once it has ended, so the
            // two never evaluate at once and no evaluation in progress is blocked on here.
            let predecessor = previous.map(|i| {
                let previous = old.swap_remove(i);
                let _ = previous.stop.send(GroupCommand::Stop);
                Predecessor {
                    group: previous.group,
                    task: previous.task,
                }
            });
            running.push(self.start(group, predecessor));
        }
        for gone in old {
            let _ = gone.stop.send(GroupCommand::StopStale);
            let storage = self.shared.options.storage.clone();
            tokio::spawn(async move {
                let _ = gone.task.await;
                let group = gone.group;
                let _ = tokio::task::spawn_blocking(move || {
                    lock(&group).mark_all_stale(storage.as_ref(), now_ms());
                })
                .await;
            });
        }
        tracing::info!(groups = running.len(), "rule groups loaded");
    }

    fn start(&self, group: Group, predecessor: Option<Predecessor>) -> RunningGroup {
        let name = group.name.clone();
        let file = group.file.clone();
        let view = Arc::new(Mutex::new(Arc::new(group.snapshot())));
        let group = Arc::new(Mutex::new(group));
        let (stop, stop_rx) = watch::channel(GroupCommand::Run);
        let task = tokio::spawn(run_group(
            group.clone(),
            view.clone(),
            self.shared.clone(),
            stop_rx,
            predecessor,
        ));
        RunningGroup {
            name,
            file,
            group,
            view,
            stop,
            task,
        }
    }

    /// Runs `f` on every group, in load order (for the API and `/metrics`).
    /// Runs `f` on the groups as of their last evaluation, in load order (for the API and
    /// `/metrics`); never waits for an evaluation in progress.
    pub fn with_groups<R>(&self, f: impl FnOnce(&[&Group]) -> R) -> R {
        let views: Vec<Arc<Group>> = lock(&self.groups)
            .iter()
            .map(|r| lock(&r.view).clone())
            .collect();
        let groups: Vec<&Group> = views.iter().map(|g| &**g).collect();
        f(&groups)
    }

    /// Every pending or firing alert of every alerting rule.
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.with_groups(|groups| {
            let mut alerts = Vec::new();
            for group in groups {
                for rule in &group.rules {
                    if let Rule::Alerting(rule) = rule {
                        alerts.extend(rule.active_alerts().into_iter().cloned());
                    }
                }
            }
            alerts
        })
    }

    /// Per group (`file;name`): its counters, last duration, interval and rule count.
    pub fn group_metrics(&self) -> BTreeMap<String, (GroupMetrics, Duration, i64, usize)> {
        self.with_groups(|groups| {
            groups
                .iter()
                .map(|g| {
                    (
                        g.key(),
                        (
                            g.metrics.clone(),
                            g.evaluation_time,
                            g.interval_ms,
                            g.rules.len(),
                        ),
                    )
                })
                .collect()
        })
    }

    /// Stops every group quietly (the server is shutting down).
    pub fn stop(&self) {
        for running in lock(&self.groups).drain(..) {
            let _ = running.stop.send(GroupCommand::Stop);
        }
    }

    /// Stops every group and waits for them: an evaluation in progress completes first, so
    /// that nothing writes to the storage after this returns.
    pub async fn shutdown(&self) {
        let running: Vec<RunningGroup> = lock(&self.groups).drain(..).collect();
        for group in &running {
            let _ = group.stop.send(GroupCommand::Stop);
        }
        for group in running {
            let _ = group.task.await;
        }
    }
}

impl Drop for RuleManager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Evaluates a group at its interval until told to stop.
async fn run_group(
    group: Arc<Mutex<Group>>,
    view: Arc<Mutex<Arc<Group>>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<GroupCommand>,
    predecessor: Option<Predecessor>,
) {
    if let Some(predecessor) = predecessor {
        // Its evaluation in progress, if any, completes before its state moves over.
        let _ = predecessor.task.await;
        let group = group.clone();
        let view = view.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut group = lock(&group);
            group.copy_state_from(&mut lock(&predecessor.group));
            *lock(&view) = Arc::new(group.snapshot());
        })
        .await;
    }
    let interval = lock(&group).interval_ms.max(1);
    let mut next = lock(&group).eval_timestamp(now_ms()) + interval;
    let mut evaluations = 0u32;
    loop {
        let wait = Duration::from_millis((next - now_ms()).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() != GroupCommand::Run {
                    return;
                }
                continue;
            }
        }
        if *stop.borrow() != GroupCommand::Run {
            return;
        }
        let ts = next;
        let evaluated = {
            let group = group.clone();
            let view = view.clone();
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || {
                let settings = lock(&shared.settings).clone();
                let options = &shared.options;
                let ctx = EvalContext {
                    engine: &options.engine,
                    storage: options.storage.as_ref(),
                    external_labels: &settings.external_labels,
                    external_url: &options.external_url,
                    templates: options.templates.as_ref(),
                };
                let notify = |alerts: Vec<AlertToSend>| (options.notify)(alerts);
                let mut group = lock(&group);
                group.eval(&ctx, ts, &options.group, &notify);
                *lock(&view) = Arc::new(group.snapshot());
            })
            .await
        };
        if evaluated.is_err() {
            tracing::error!("a rule group evaluation panicked");
        }
        evaluations += 1;
        // As Prometheus: restore after the second evaluation, when recording rules the alerts
        // may depend on have run once.
        if evaluations == 2 {
            let group = group.clone();
            let view = view.clone();
            let shared = shared.clone();
            // The restore reads the storage: off the async workers, like evaluations.
            let _ = tokio::task::spawn_blocking(move || {
                let mut group = lock(&group);
                if group.should_restore {
                    group.restore_for_state(
                        shared.options.storage.as_ref(),
                        now_ms(),
                        &shared.options.group,
                    );
                    group.should_restore = false;
                    *lock(&view) = Arc::new(group.snapshot());
                }
            })
            .await;
        }
        next += interval;
        let now = now_ms();
        if next <= now - interval {
            let missed = (now - next) / interval;
            lock(&group).metrics.iterations_missed += missed as u64;
            next += missed * interval;
        }
    }
}

/// The state shown for an alerting rule: the highest of its alerts.
pub fn rule_state(rule: &AlertingRule) -> AlertState {
    rule.state()
}
