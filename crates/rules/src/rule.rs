//! The two kinds of rules and their evaluation at one timestamp: a recording rule turns its
//! expression's result into series named after it; an alerting rule keeps one alert per
//! result series and moves it through inactive -> pending -> firing -> resolved, as
//! Prometheus's `rules/recording.go` and `rules/alerting.go`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use narthex_model::{Labels, METRIC_NAME};
use narthex_promql::ast::Expr;

use crate::eval::{EvalContext, QueryOutput};

/// How long a resolved alert is kept (and sent as resolved), as Prometheus's
/// `resolvedRetention`.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

pub const ALERTS_METRIC: &str = "ALERTS";
pub const ALERTS_FOR_STATE_METRIC: &str = "ALERTS_FOR_STATE";
pub const ALERT_NAME_LABEL: &str = "alertname";
pub const ALERT_STATE_LABEL: &str = "alertstate";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule: one result series of its expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub value: f64,
    /// Milliseconds since the epoch, as every time below.
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

impl Alert {
    /// Prometheus's `needsSending`: firing alerts every `resend_delay`, resolved ones once more
    /// after they resolved; pending ones never.
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(resolved) = self.resolved_at {
            if self.last_sent_at.is_none_or(|sent| resolved > sent) {
                return true;
            }
        }
        self.last_sent_at
            .is_none_or(|sent| sent + resend_delay_ms < ts)
    }
}

/// An alert handed to the notifier.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertToSend {
    pub labels: Labels,
    pub annotations: Labels,
    /// When it started firing (ms).
    pub starts_at: i64,
    /// When it resolved, or until when it is valid if nobody says otherwise (ms).
    pub ends_at: i64,
    /// The rule's expression, for the generator URL.
    pub expr: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Good,
    Bad,
}

impl Health {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Good => "ok",
            Health::Bad => "err",
        }
    }
}

/// What the rules API shows about a rule's last evaluation.
#[derive(Clone, Debug)]
pub struct RuleStatus {
    pub health: Health,
    pub last_error: String,
    pub last_evaluation: Option<SystemTime>,
    pub evaluation_time: Duration,
}

impl Default for RuleStatus {
    fn default() -> Self {
        RuleStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RecordingRule {
    pub name: String,
    pub expr: Expr,
    pub labels: Labels,
    pub status: RuleStatus,
}

#[derive(Clone, Debug)]
pub struct AlertingRule {
    pub name: String,
    pub expr: Expr,
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
    /// Templates, expanded per alert.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// By the alert's label set.
    pub active: HashMap<Labels, Alert>,
    /// ALERTS and ALERTS_FOR_STATE are written only once the `for` state was restored (or
    /// found nothing to restore), as in Prometheus.
    pub restored: bool,
    pub status: RuleStatus,
}

#[derive(Clone, Debug)]
pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(r) => &r.name,
        }
    }

    pub fn expr(&self) -> &Expr {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(r) => &r.expr,
        }
    }

    pub fn status(&self) -> &RuleStatus {
        match self {
            Rule::Recording(r) => &r.status,
            Rule::Alerting(r) => &r.status,
        }
    }

    pub fn status_mut(&mut self) -> &mut RuleStatus {
        match self {
            Rule::Recording(r) => &mut r.status,
            Rule::Alerting(r) => &mut r.status,
        }
    }

    /// Evaluates at `ts` (the query runs at `ts - query_offset`); the samples to write.
    pub fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        ts: i64,
        query_offset_ms: i64,
        limit: u64,
    ) -> Result<Vec<(Labels, f64)>, String> {
        match self {
            Rule::Recording(r) => r.eval(ctx, ts - query_offset_ms, limit),
            Rule::Alerting(r) => r.eval(ctx, ts, query_offset_ms, limit),
        }
    }
}

impl RecordingRule {
    fn eval(
        &self,
        ctx: &EvalContext<'_>,
        ts: i64,
        limit: u64,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let result = ctx.query(&self.expr, ts)?;
        let samples = match result {
            QueryOutput::Vector(samples) => samples,
            QueryOutput::Scalar(v) => vec![(Labels::default(), v)],
        };
        let mut out: Vec<(Labels, f64)> = Vec::with_capacity(samples.len());
        for (labels, value) in samples {
            let mut builder = labels.to_builder();
            builder.set(METRIC_NAME, self.name.clone());
            for label in self.labels.iter() {
                builder.set(label.name.clone(), label.value.clone());
            }
            out.push((builder.build(), value));
        }
        let mut seen = std::collections::HashSet::with_capacity(out.len());
        if !out.iter().all(|(labels, _)| seen.insert(labels)) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        if limit > 0 && out.len() as u64 > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                out.len()
            ));
        }
        Ok(out)
    }
}

impl AlertingRule {
    fn eval(
        &mut self,
        ctx: &EvalContext<'_>,
        ts: i64,
        query_offset_ms: i64,
        limit: u64,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let query_ts = ts - query_offset_ms;
        let samples = match ctx.query(&self.expr, query_ts)? {
            QueryOutput::Vector(samples) => samples,
            QueryOutput::Scalar(v) => vec![(Labels::default(), v)],
        };
        let mut current: HashMap<Labels, Alert> = HashMap::with_capacity(samples.len());
        for (sample_labels, value) in samples {
            let template_name = format!("__alert_{}", self.name);
            let expand =
                |text: &str| ctx.expand_template(&template_name, text, &sample_labels, value, ts);
            let mut builder = sample_labels.to_builder();
            builder.remove(METRIC_NAME);
            for (name, text) in &self.labels {
                builder.set(name.clone(), expand(text));
            }
            builder.set(ALERT_NAME_LABEL, self.name.clone());
            let annotations = Labels::from_pairs(
                self.annotations
                    .iter()
                    .map(|(name, text)| (name.clone(), expand(text))),
            );
            let labels = builder.build();
            if current.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            current.insert(
                labels.clone(),
                Alert {
                    labels,
                    annotations,
                    state: AlertState::Pending,
                    value,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    last_sent_at: None,
                    valid_until: None,
                    keep_firing_since: None,
                },
            );
        }
        if limit > 0 && current.len() as u64 > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {} alerts",
                current.len()
            ));
        }
        for (labels, alert) in current.iter() {
            match self.active.get_mut(labels) {
                Some(existing) if existing.state != AlertState::Inactive => {
                    existing.value = alert.value;
                    existing.annotations = alert.annotations.clone();
                }
                _ => {
                    self.active.insert(labels.clone(), alert.clone());
                }
            }
        }
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (labels, alert) in self.active.iter_mut() {
            if current.contains_key(labels) {
                alert.keep_firing_since = None;
            } else {
                let mut keep_firing = false;
                if alert.state == AlertState::Firing && self.keep_firing_for_ms > 0 {
                    let since = *alert.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < self.keep_firing_for_ms;
                }
                if alert.state == AlertState::Pending
                    || alert
                        .resolved_at
                        .is_some_and(|resolved| ts - resolved > RESOLVED_RETENTION_MS)
                {
                    gone.push(labels.clone());
                }
                if alert.state != AlertState::Inactive && !keep_firing {
                    alert.state = AlertState::Inactive;
                    alert.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            }
            if alert.state == AlertState::Pending && ts - alert.active_at >= self.hold_ms {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(ts);
            }
            if self.restored {
                out.push((alerts_series(labels, alert.state), 1.0));
                out.push((
                    for_state_series(labels),
                    (alert.active_at.div_euclid(1000)) as f64,
                ));
            }
        }
        for labels in gone {
            self.active.remove(&labels);
        }
        Ok(out)
    }

    /// The alerts to hand to the notifier now, marking them sent.
    pub fn alerts_to_send(
        &mut self,
        ts: i64,
        resend_delay_ms: i64,
        interval_ms: i64,
        expr: &str,
    ) -> Vec<AlertToSend> {
        let mut out = Vec::new();
        for alert in self.active.values_mut() {
            if !alert.needs_sending(ts, resend_delay_ms) {
                continue;
            }
            alert.last_sent_at = Some(ts);
            // Valid for two missed evaluations or sends, as Prometheus.
            let valid_until = ts + 4 * resend_delay_ms.max(interval_ms);
            alert.valid_until = Some(valid_until);
            out.push(AlertToSend {
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at: alert.fired_at.unwrap_or(alert.active_at),
                ends_at: alert.resolved_at.unwrap_or(valid_until),
                expr: expr.to_string(),
            });
        }
        out
    }

    /// The highest state of its alerts.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Alerts that are pending or firing (not the resolved ones kept for sending).
    pub fn active_alerts(&self) -> Vec<&Alert> {
        let mut alerts: Vec<&Alert> = self
            .active
            .values()
            .filter(|a| a.resolved_at.is_none())
            .collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alerts
    }
}

/// `ALERTS{alertname, alertstate, <alert labels>}`.
fn alerts_series(alert_labels: &Labels, state: AlertState) -> Labels {
    let mut builder = alert_labels.to_builder();
    builder.set(METRIC_NAME, ALERTS_METRIC);
    builder.set(ALERT_STATE_LABEL, state.as_str());
    builder.build()
}

/// `ALERTS_FOR_STATE{alertname, <alert labels>}`, valued with the alert's active-since time.
pub(crate) fn for_state_series(alert_labels: &Labels) -> Labels {
    let mut builder = alert_labels.to_builder();
    builder.set(METRIC_NAME, ALERTS_FOR_STATE_METRIC);
    builder.build()
}
