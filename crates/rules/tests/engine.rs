//! Rule evaluation step by step against in-memory storage: the alert state machine (`for`,
//! `keep_firing_for`, resolution), ALERTS / ALERTS_FOR_STATE, recording rules and their
//! staleness markers, limits, sending, and the `for` state restored after a restart.

use std::sync::Mutex;

use narthex_config::Config;
use narthex_model::memory::MemoryStorage;
use narthex_model::{is_stale_nan, Labels, Matcher, SeriesOrder, Storage};
use narthex_promql::Engine;
use narthex_rules::group::{Group, GroupOptions};
use narthex_rules::manager::load_groups;
use narthex_rules::{AlertState, AlertToSend, EvalContext, NoTemplates, ReadOptions, Rule};

const SEC: i64 = 1000;

fn groups(rules_yaml: &str) -> (Vec<Group>, tempfile::TempDir) {
    groups_restoring(rules_yaml, false)
}

/// `should_restore` as for groups loaded at start.
fn groups_restoring(rules_yaml: &str, should_restore: bool) -> (Vec<Group>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, rules_yaml).unwrap();
    let config = Config::parse(
        &format!(
            "global: {{evaluation_interval: 10s}}\nrule_files: ['{}']\n",
            rules.display()
        ),
        "test",
    )
    .unwrap();
    (
        load_groups(&config, ReadOptions::default(), should_restore).unwrap(),
        dir,
    )
}

fn append(storage: &MemoryStorage, series: &[(&str, &str)], t: i64, v: f64) {
    let mut appender = storage.appender();
    appender
        .append(&Labels::from_pairs(series.iter().copied()), t, v)
        .unwrap();
    appender.commit().unwrap();
}

struct Harness {
    storage: MemoryStorage,
    engine: Engine,
    sent: Mutex<Vec<AlertToSend>>,
    external: Labels,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            storage: MemoryStorage::new(),
            engine: Engine::default(),
            sent: Mutex::new(Vec::new()),
            external: Labels::default(),
        }
    }

    fn eval(&self, group: &mut Group, ts: i64) {
        let ctx = EvalContext {
            engine: &self.engine,
            storage: &self.storage,
            external_labels: &self.external,
            external_url: "http://narthex:9090",
            templates: &NoTemplates,
        };
        let notify = |alerts: Vec<AlertToSend>| self.sent.lock().unwrap().extend(alerts);
        group.eval(&ctx, ts, &GroupOptions::default(), &notify);
    }

    fn select(&self, name: &str) -> Vec<narthex_model::Series> {
        self.storage
            .querier()
            .select(
                SeriesOrder::Labels,
                &[Matcher::equal("__name__", name)],
                0,
                i64::MAX / 2,
            )
            .unwrap()
    }
}

fn alert_states(group: &Group) -> Vec<(String, AlertState)> {
    let Rule::Alerting(rule) = &group.rules[0] else {
        panic!("not an alerting rule")
    };
    let mut states: Vec<_> = rule
        .active
        .values()
        .map(|a| (a.labels.get("instance").unwrap_or("").to_string(), a.state))
        .collect();
    states.sort();
    states
}

const INSTANCE_DOWN: &str = "groups:\n- name: g\n  rules:\n  - alert: InstanceDown\n    expr: up == 0\n    for: 30s\n    labels: {severity: page}\n    annotations: {summary: down}\n";

#[test]
fn an_alert_goes_pending_then_firing_then_resolves() {
    let h = Harness::new();
    let (mut groups, _dir) = groups(INSTANCE_DOWN);
    let group = &mut groups[0];
    let down = [("__name__", "up"), ("instance", "a"), ("job", "node")];
    for t in (0..=40).step_by(10) {
        append(&h.storage, &down, t * SEC, 0.0);
    }
    h.eval(group, 0);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Pending)]);
    h.eval(group, 20 * SEC);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Pending)]);
    // Pending never reaches the notifier.
    assert!(h.sent.lock().unwrap().is_empty());
    h.eval(group, 30 * SEC);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Firing)]);
    let sent = std::mem::take(&mut *h.sent.lock().unwrap());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].labels.get("alertname"), Some("InstanceDown"));
    assert_eq!(sent[0].labels.get("severity"), Some("page"));
    assert_eq!(sent[0].labels.get("__name__"), None);
    assert_eq!(sent[0].starts_at, 30 * SEC);
    assert_eq!(sent[0].ends_at, 30 * SEC + 4 * 60 * SEC);
    assert_eq!(sent[0].annotations.get("summary"), Some("down"));

    // ALERTS and ALERTS_FOR_STATE follow the state.
    let alerts = h.select("ALERTS");
    let states: Vec<_> = alerts
        .iter()
        .map(|s| {
            let values: Vec<String> = s
                .samples
                .iter()
                .map(|p| {
                    if is_stale_nan(p.v) {
                        "stale".into()
                    } else {
                        p.v.to_string()
                    }
                })
                .collect();
            (
                s.labels.get("alertstate").unwrap().to_string(),
                values.join(" "),
            )
        })
        .collect();
    // The pending series ends with a staleness marker when the alert fires.
    assert_eq!(
        states,
        [
            ("firing".to_string(), "1".to_string()),
            ("pending".to_string(), "1 1 stale".to_string())
        ]
    );
    let for_state = h.select("ALERTS_FOR_STATE");
    assert_eq!(for_state[0].samples.last().unwrap().v, 0.0);

    // The target comes back: resolved, sent once more with endsAt, ALERTS goes stale.
    append(&h.storage, &down, 50 * SEC, 1.0);
    h.eval(group, 50 * SEC);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Inactive)]);
    let sent = std::mem::take(&mut *h.sent.lock().unwrap());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ends_at, 50 * SEC);
    let firing = h
        .select("ALERTS")
        .into_iter()
        .find(|s| s.labels.get("alertstate") == Some("firing"))
        .unwrap();
    assert!(is_stale_nan(firing.samples.last().unwrap().v));
    // Resolved alerts are not "active" for the API.
    let Rule::Alerting(rule) = &group.rules[0] else {
        unreachable!()
    };
    assert!(rule.active_alerts().is_empty());
}

#[test]
fn firing_alerts_are_resent_after_the_resend_delay_only() {
    let h = Harness::new();
    let (mut groups, _dir) =
        groups("groups:\n- name: g\n  rules:\n  - alert: Always\n    expr: vector(1)\n");
    let group = &mut groups[0];
    h.eval(group, 0);
    assert_eq!(h.sent.lock().unwrap().len(), 1, "for 0 fires at once");
    h.eval(group, 30 * SEC);
    assert_eq!(h.sent.lock().unwrap().len(), 1, "not again within a minute");
    h.eval(group, 61 * SEC);
    assert_eq!(h.sent.lock().unwrap().len(), 2);
}

#[test]
fn keep_firing_for_holds_a_firing_alert_after_its_condition_ends() {
    let h = Harness::new();
    let (mut groups, _dir) = groups(
        "groups:\n- name: g\n  rules:\n  - alert: Flappy\n    expr: up == 0\n    keep_firing_for: 30s\n",
    );
    let group = &mut groups[0];
    let series = [("__name__", "up"), ("instance", "a")];
    append(&h.storage, &series, 0, 0.0);
    h.eval(group, 0);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Firing)]);
    append(&h.storage, &series, 10 * SEC, 1.0);
    h.eval(group, 10 * SEC);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Firing)]);
    h.eval(group, 30 * SEC);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Firing)]);
    h.eval(group, 40 * SEC);
    assert_eq!(alert_states(group), [("a".into(), AlertState::Inactive)]);
}

#[test]
fn recording_rules_write_series_and_mark_vanished_ones_stale() {
    let h = Harness::new();
    let (mut groups, _dir) = groups(
        "groups:\n- name: g\n  labels: {source: rules}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {team: core}\n",
    );
    let group = &mut groups[0];
    append(&h.storage, &[("__name__", "up"), ("job", "a")], 0, 1.0);
    append(&h.storage, &[("__name__", "up"), ("job", "b")], 0, 1.0);
    h.eval(group, 10 * SEC);
    let recorded = h.select("job:up:sum");
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].labels.get("team"), Some("core"));
    assert_eq!(recorded[0].labels.get("source"), Some("rules"));
    assert_eq!(recorded[0].samples[0].t, 10 * SEC);
    // `b` disappears: its recorded series gets a staleness marker.
    append(
        &h.storage,
        &[("__name__", "up"), ("job", "b")],
        15 * SEC,
        narthex_model::stale_nan(),
    );
    append(
        &h.storage,
        &[("__name__", "up"), ("job", "a")],
        15 * SEC,
        1.0,
    );
    h.eval(group, 20 * SEC);
    let b = h
        .select("job:up:sum")
        .into_iter()
        .find(|s| s.labels.get("job") == Some("b"))
        .unwrap();
    assert!(is_stale_nan(b.samples.last().unwrap().v));
    assert_eq!(group.rules[0].status().health.as_str(), "ok");
}

#[test]
fn limits_and_duplicates_fail_the_rule_with_prometheus_messages() {
    let h = Harness::new();
    let (mut groups, _dir) = groups(
        "groups:\n- name: limited\n  limit: 1\n  rules:\n  - record: r\n    expr: up\n- name: dup\n  rules:\n  - record: r2\n    expr: up\n    labels: {job: same}\n",
    );
    append(&h.storage, &[("__name__", "up"), ("job", "a")], 0, 1.0);
    append(&h.storage, &[("__name__", "up"), ("job", "b")], 0, 1.0);
    h.eval(&mut groups[0], 0);
    let status = groups[0].rules[0].status();
    assert_eq!(status.health.as_str(), "err");
    assert_eq!(status.last_error, "exceeded limit of 1 with 2 series");
    h.eval(&mut groups[1], 0);
    assert_eq!(
        groups[1].rules[0].status().last_error,
        "vector contains metrics with the same labelset after applying rule labels"
    );
    assert_eq!(groups[1].metrics.evaluation_failures, 1);
}

#[test]
fn the_for_state_is_restored_after_a_restart() {
    let h = Harness::new();
    let rules =
        "groups:\n- name: g\n  rules:\n  - alert: SlowBurn\n    expr: up == 0\n    for: 30m\n";
    let (mut before, _dir) = groups(rules);
    let series = [("__name__", "up"), ("instance", "a")];
    let minute = 60 * SEC;
    for m in 0..=10 {
        append(&h.storage, &series, m * minute, 0.0);
        h.eval(&mut before[0], m * minute);
    }
    assert_eq!(
        alert_states(&before[0]),
        [("a".into(), AlertState::Pending)]
    );

    // A restart at minute 15: a new group, restoring (it writes no ALERTS_FOR_STATE before).
    let (mut after, _dir2) = groups_restoring(rules, true);
    let options = GroupOptions::default();
    for m in 15..=16 {
        append(&h.storage, &series, m * minute, 0.0);
        h.eval(&mut after[0], m * minute);
    }
    after[0].restore_for_state(&h.storage, 16 * minute, &options);
    let Rule::Alerting(rule) = &after[0].rules[0] else {
        unreachable!()
    };
    let alert = rule.active.values().next().unwrap();
    // It was pending for 10 minutes before the 6-minute outage: active since 0 + 6 minutes.
    assert_eq!(alert.active_at, 6 * minute);
    // So it fires 30 minutes after that, not 30 minutes after the restart.
    for m in 17..=36 {
        append(&h.storage, &series, m * minute, 0.0);
        h.eval(&mut after[0], m * minute);
    }
    assert_eq!(alert_states(&after[0]), [("a".into(), AlertState::Firing)]);
}

#[test]
fn a_reload_hands_each_same_named_rule_its_own_alerts() {
    let h = Harness::new();
    let rules = "groups:\n- name: g\n  rules:\n  - alert: HostDown\n    expr: up{job=\"a\"} == 0\n  - alert: HostDown\n    expr: up{job=\"b\"} == 0\n";
    let (mut before, _dir) = groups(rules);
    append(
        &h.storage,
        &[("__name__", "up"), ("job", "a"), ("instance", "x")],
        0,
        0.0,
    );
    append(
        &h.storage,
        &[("__name__", "up"), ("job", "b"), ("instance", "y")],
        0,
        0.0,
    );
    h.eval(&mut before[0], 0);
    let (mut after, _dir2) = groups(rules);
    after[0].copy_state_from(&mut before[0]);
    let instances: Vec<Vec<String>> = after[0]
        .rules
        .iter()
        .map(|rule| match rule {
            Rule::Alerting(r) => r
                .active
                .values()
                .map(|a| a.labels.get("instance").unwrap_or("").to_string())
                .collect(),
            Rule::Recording(_) => Vec::new(),
        })
        .collect();
    assert_eq!(instances, [vec!["x".to_string()], vec!["y".to_string()]]);
    let Rule::Alerting(first) = &after[0].rules[0] else {
        unreachable!()
    };
    assert_eq!(
        first.active.values().next().unwrap().state,
        AlertState::Firing
    );
}
