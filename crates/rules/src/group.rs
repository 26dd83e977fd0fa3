//! A rule group: its rules evaluated in order at the group's interval, at timestamps aligned to
//! the interval (offset by a hash of the group, so groups do not all run at once), results and
//! staleness markers written to storage, alerts handed to the notifier, and the `for` state of
//! alerts restored after a restart from `ALERTS_FOR_STATE`.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant, SystemTime};

use narthex_model::{is_stale_nan, stale_nan, Labels, Matcher, SeriesOrder, Storage, METRIC_NAME};

use crate::eval::EvalContext;
use crate::rule::{AlertToSend, Health, Rule, ALERTS_FOR_STATE_METRIC, ALERT_NAME_LABEL};

/// Settings that come from flags rather than the rule file.
#[derive(Clone, Debug)]
pub struct GroupOptions {
    /// `--rules.alert.resend-delay` (1m).
    pub resend_delay_ms: i64,
    /// `--rules.alert.for-outage-tolerance` (1h).
    pub outage_tolerance_ms: i64,
    /// `--rules.alert.for-grace-period` (10m).
    pub for_grace_period_ms: i64,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 600_000,
        }
    }
}

/// Counters of one group, exported under Prometheus's names with `rule_group="file;name"`.
#[derive(Clone, Debug, Default)]
pub struct GroupMetrics {
    pub evaluations: u64,
    pub evaluation_failures: u64,
    pub iterations: u64,
    pub iterations_missed: u64,
}

#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    pub limit: u64,
    pub rules: Vec<Rule>,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_time: Duration,
    pub metrics: GroupMetrics,
    /// Per rule, the series written by its last successful evaluation: those missing from the
    /// next one get a staleness marker.
    previous_series: Vec<HashSet<Labels>>,
    /// Series of rules that a reload removed, marked stale at the next evaluation.
    pending_stale: HashSet<Labels>,
    /// Set for groups loaded at start: after the second evaluation the `for` state of alerts is
    /// restored from `ALERTS_FOR_STATE`.
    pub should_restore: bool,
}

impl Group {
    pub fn new(
        name: String,
        file: String,
        interval_ms: i64,
        query_offset_ms: i64,
        limit: u64,
        rules: Vec<Rule>,
        should_restore: bool,
    ) -> Group {
        let previous_series = rules.iter().map(|_| HashSet::new()).collect();
        Group {
            name,
            file,
            interval_ms,
            query_offset_ms,
            limit,
            rules,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
            metrics: GroupMetrics::default(),
            previous_series,
            pending_stale: HashSet::new(),
            should_restore,
        }
    }

    /// A copy for readers (the API, `/metrics`), without the series kept for staleness, so
    /// that they never wait for an evaluation in progress.
    pub fn snapshot(&self) -> Group {
        Group {
            name: self.name.clone(),
            file: self.file.clone(),
            interval_ms: self.interval_ms,
            query_offset_ms: self.query_offset_ms,
            limit: self.limit,
            rules: self.rules.clone(),
            last_evaluation: self.last_evaluation,
            evaluation_time: self.evaluation_time,
            metrics: self.metrics.clone(),
            previous_series: Vec::new(),
            pending_stale: HashSet::new(),
            should_restore: self.should_restore,
        }
    }

    /// `file;name`, the `rule_group` label of the metrics.
    pub fn key(&self) -> String {
        format!("{};{}", self.file, self.name)
    }

    /// Prometheus's `EvalTimestamp`: the latest evaluation time at or before `now_ms`, on the
    /// group's grid (the interval, shifted by a hash of the group's name and file).
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.interval_ms.max(1);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.name.hash(&mut hasher);
        self.file.hash(&mut hasher);
        let offset = (hasher.finish() % interval as u64) as i64;
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(interval) + offset
    }

    /// Takes over the state of the same group before a reload: alerts of rules with the same
    /// name and labels keep their state, and the series written last stay known for staleness.
    pub fn copy_state_from(&mut self, old: &mut Group) {
        self.last_evaluation = old.last_evaluation;
        self.evaluation_time = old.evaluation_time;
        self.metrics = old.metrics.clone();
        self.should_restore = old.should_restore;
        // Each old rule hands its state to one new rule; rules with the same name and labels
        // are matched in order, as Prometheus's `CopyState`.
        let mut taken = vec![false; old.rules.len()];
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let Some(j) = old
                .rules
                .iter()
                .enumerate()
                .position(|(j, o)| !taken[j] && same_rule(o, rule))
            else {
                continue;
            };
            taken[j] = true;
            if let Some(previous) = old.previous_series.get_mut(j) {
                self.previous_series[i] = std::mem::take(previous);
            }
            *rule.status_mut() = old.rules[j].status().clone();
            if let (Rule::Alerting(new), Rule::Alerting(old)) = (rule, &mut old.rules[j]) {
                new.active = std::mem::take(&mut old.active);
                new.restored = old.restored;
            }
        }
        // What the old group wrote for rules that are gone goes stale now.
        let mut gone = std::collections::HashSet::new();
        for (j, previous) in old.previous_series.iter_mut().enumerate() {
            if !taken.get(j).copied().unwrap_or(false) {
                gone.extend(previous.drain());
            }
        }
        self.pending_stale = gone;
    }

    /// Evaluates every rule at `ts`, in order, writing results and staleness markers; alerts to
    /// send are handed to `notify`.
    pub fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        ts: i64,
        options: &GroupOptions,
        notify: &dyn Fn(Vec<AlertToSend>),
    ) {
        let started = Instant::now();
        let write_ts = ts - self.query_offset_ms;
        if !self.pending_stale.is_empty() {
            // An empty result marks every series in the set stale.
            let mut gone = std::mem::take(&mut self.pending_stale);
            if let Some(error) = write_samples(ctx.storage, &[], write_ts, &mut gone) {
                tracing::warn!(group = %self.name, %error, "cannot mark removed rules' series stale");
            }
        }
        for i in 0..self.rules.len() {
            let rule_started = Instant::now();
            self.metrics.evaluations += 1;
            let result = self.rules[i].eval(ctx, ts, self.query_offset_ms, self.limit);
            let samples = match result {
                Ok(samples) => samples,
                Err(error) => {
                    self.metrics.evaluation_failures += 1;
                    tracing::warn!(group = %self.name, rule = %self.rules[i].name(), %error, "rule evaluation failed");
                    let status = self.rules[i].status_mut();
                    status.health = Health::Bad;
                    status.last_error = error;
                    status.last_evaluation = Some(SystemTime::now());
                    status.evaluation_time = rule_started.elapsed();
                    continue;
                }
            };
            let write_error = write_samples(
                ctx.storage,
                &samples,
                write_ts,
                &mut self.previous_series[i],
            );
            let status = self.rules[i].status_mut();
            match write_error {
                Some(error) => {
                    status.health = Health::Bad;
                    status.last_error = error;
                }
                None => {
                    status.health = Health::Good;
                    status.last_error.clear();
                }
            }
            status.last_evaluation = Some(SystemTime::now());
            status.evaluation_time = rule_started.elapsed();
            if let Rule::Alerting(rule) = &mut self.rules[i] {
                let expr = rule.expr.to_string();
                let alerts =
                    rule.alerts_to_send(ts, options.resend_delay_ms, self.interval_ms, &expr);
                if !alerts.is_empty() {
                    notify(alerts);
                }
            }
        }
        self.metrics.iterations += 1;
        self.last_evaluation = Some(SystemTime::now());
        self.evaluation_time = started.elapsed();
    }

    /// Prometheus's `RestoreForState`: pending alerts that were already pending before a restart
    /// get their old active-since time back (shifted by the outage), so `for` does not start
    /// over; after `outage_tolerance` nothing is restored. Marks every alerting rule restored.
    pub fn restore_for_state(&mut self, storage: &dyn Storage, ts: i64, options: &GroupOptions) {
        let mint = ts - options.outage_tolerance_ms;
        let querier = storage.querier();
        for rule in self.rules.iter_mut() {
            let Rule::Alerting(rule) = rule else {
                continue;
            };
            if rule.hold_ms < options.for_grace_period_ms {
                rule.restored = true;
                continue;
            }
            for alert in rule.active.values_mut() {
                let mut matchers = vec![
                    Matcher::equal(METRIC_NAME, ALERTS_FOR_STATE_METRIC),
                    Matcher::equal(ALERT_NAME_LABEL, rule.name.clone()),
                ];
                for label in alert.labels.iter() {
                    if label.name != ALERT_NAME_LABEL {
                        matchers.push(Matcher::equal(label.name.as_str(), label.value.as_str()));
                    }
                }
                let Ok(series) = querier.select(SeriesOrder::Labels, &matchers, mint, ts) else {
                    continue;
                };
                // The series with exactly the alert's labels (a matcher set also matches
                // series with more labels).
                let wanted = crate::rule::for_state_series(&alert.labels);
                let Some(found) = series.iter().find(|s| s.labels == wanted) else {
                    continue;
                };
                let Some(last) = found.samples.last() else {
                    continue;
                };
                if is_stale_nan(last.v) {
                    continue;
                }
                let down_at = last.t.div_euclid(1000) * 1000;
                let mut restored_active_at = (last.v as i64) * 1000;
                let time_spent_pending = down_at - restored_active_at;
                let time_remaining_pending = rule.hold_ms - time_spent_pending;
                if time_remaining_pending <= 0 {
                    // It was firing before; the next evaluation makes it fire again.
                } else if time_remaining_pending < options.for_grace_period_ms {
                    restored_active_at = ts + options.for_grace_period_ms - rule.hold_ms;
                } else {
                    restored_active_at += ts - down_at;
                }
                alert.active_at = restored_active_at;
            }
            rule.restored = true;
        }
    }

    /// Staleness markers for everything the group wrote last: the group was removed.
    pub fn mark_all_stale(&mut self, storage: &dyn Storage, ts: i64) {
        let mut appender = storage.appender();
        for previous in self.previous_series.iter_mut() {
            for labels in previous.drain() {
                let _ = appender.append(&labels, ts, stale_nan());
            }
        }
        if let Err(e) = appender.commit() {
            tracing::warn!(group = %self.name, error = %e, "cannot write staleness markers");
        }
    }
}

/// Rules are the same across a reload when kind, name and labels are (Prometheus's `equal`).
fn same_rule(a: &Rule, b: &Rule) -> bool {
    match (a, b) {
        (Rule::Recording(a), Rule::Recording(b)) => a.name == b.name && a.labels == b.labels,
        (Rule::Alerting(a), Rule::Alerting(b)) => a.name == b.name && a.labels == b.labels,
        _ => false,
    }
}

/// Appends a rule's samples and staleness markers for its series that are gone; the error text
/// when the storage refused the batch.
fn write_samples(
    storage: &dyn Storage,
    samples: &[(Labels, f64)],
    ts: i64,
    previous: &mut HashSet<Labels>,
) -> Option<String> {
    let mut appender = storage.appender();
    let mut current = HashSet::with_capacity(samples.len());
    let mut refused = None;
    for (labels, value) in samples {
        match appender.append(labels, ts, *value) {
            Ok(_) => {
                current.insert(labels.clone());
            }
            // Out of order or duplicate: as Prometheus, the rule is unhealthy, the other
            // samples are written, and the refused series does not count as written.
            Err(e) if e.is_sample_error() => {
                tracing::debug!(series = %labels, error = %e, "rule sample refused");
                refused.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                appender.rollback();
                return Some(e.to_string());
            }
        }
    }
    for gone in previous.difference(&current) {
        let _ = appender.append(gone, ts, stale_nan());
    }
    if let Err(e) = appender.commit() {
        return Some(e.to_string());
    }
    *previous = current;
    refused
}
