//! The server's own `/metrics`, with Prometheus's metric names so that dashboards made for
//! Prometheus work: process metrics read from /proc, TSDB and scrape counters.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use narthex_model::exposition::{escape_label_value, format_value};

use crate::server::AppState;

pub async fn handler(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
}

/// Writes one family: HELP, TYPE and its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            self.sample(name, labels.iter().copied(), *value);
        }
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample line; `name` differs from the family's for a summary's `_sum` and `_count`.
    fn sample<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
        value: f64,
    ) {
        self.out.push_str(name);
        let mut labels = labels.into_iter().peekable();
        if labels.peek().is_some() {
            self.out.push('{');
            for (i, (label, label_value)) in labels.enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label_value(label_value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help, &[(&[], value)]);
    }
}

pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    let mut w = Family { out: &mut out };
    let process = ProcessStats::read();
    if let Some(cpu) = process.cpu_seconds {
        w.single(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            cpu,
        );
    }
    if let Some(rss) = process.resident_bytes {
        w.single(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss,
        );
    }
    if let Some(vsize) = process.virtual_bytes {
        w.single(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            vsize,
        );
    }
    if let Some(fds) = process.open_fds {
        w.single(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds,
        );
    }
    if let Some(max_fds) = process.max_fds {
        w.single(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max_fds,
        );
    }
    let start = state
        .started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    w.single(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        start.floor(),
    );
    w.family(
        "narthex_build_info",
        "gauge",
        "A metric with a constant '1' value labeled by version from which Narthex was built.",
        &[(&[("version", env!("CARGO_PKG_VERSION"))], 1.0)],
    );
    let stats = state.tsdb.stats();
    w.single(
        "prometheus_tsdb_head_series",
        "gauge",
        "Total number of series in the head block.",
        state.tsdb.series_count() as f64,
    );
    w.single(
        "prometheus_tsdb_head_series_created_total",
        "counter",
        "Total number of series created in the head",
        stats.series_created.load(Ordering::Relaxed) as f64,
    );
    w.family(
        "prometheus_tsdb_head_samples_appended_total",
        "counter",
        "Total number of appended samples.",
        &[(
            &[("type", "float")],
            stats.samples_appended.load(Ordering::Relaxed) as f64,
        )],
    );
    w.family(
        "prometheus_tsdb_out_of_order_samples_total",
        "counter",
        "Total number of out of order samples ingestion failed attempts due to out of order being disabled.",
        &[(
            &[("type", "float")],
            stats.out_of_order_samples.load(Ordering::Relaxed) as f64,
        )],
    );
    let tsdb = &state.tsdb;
    let counter = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed) as f64;
    w.single(
        "prometheus_tsdb_head_series_removed_total",
        "counter",
        "Total number of series removed in the head",
        counter(&stats.series_removed),
    );
    w.single(
        "prometheus_tsdb_head_chunks",
        "gauge",
        "Total number of chunks in the head block.",
        tsdb.head_chunks() as f64,
    );
    w.single(
        "prometheus_tsdb_head_chunks_created_total",
        "counter",
        "Total number of chunks created in the head",
        counter(&stats.chunks_created),
    );
    let (min_time, max_time) = tsdb.time_span().unwrap_or((i64::MAX, i64::MIN));
    w.single(
        "prometheus_tsdb_head_min_time",
        "gauge",
        "Minimum time bound of the head block. The unit is decided by the library consumer.",
        min_time as f64,
    );
    w.single(
        "prometheus_tsdb_head_max_time",
        "gauge",
        "Maximum timestamp of the head block. The unit is decided by the library consumer.",
        max_time as f64,
    );
    w.single(
        "prometheus_tsdb_lowest_timestamp",
        "gauge",
        "Lowest timestamp value stored in the database. The unit is decided by the library consumer.",
        min_time as f64,
    );
    w.single(
        "prometheus_tsdb_storage_blocks_bytes",
        "gauge",
        "The number of bytes that are currently used for local storage by all blocks.",
        tsdb.storage_bytes() as f64,
    );
    w.single(
        "prometheus_tsdb_retention_limit_bytes",
        "gauge",
        "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
        tsdb.options().retention_bytes.unwrap_or(0) as f64,
    );
    w.single(
        "prometheus_tsdb_time_retentions_total",
        "counter",
        "The number of times that blocks were deleted because the maximum time limit was exceeded.",
        counter(&stats.time_retentions),
    );
    w.single(
        "prometheus_tsdb_size_retentions_total",
        "counter",
        "The number of times that blocks were deleted because the maximum number of bytes was exceeded.",
        counter(&stats.size_retentions),
    );
    w.single(
        "prometheus_tsdb_checkpoint_creations_total",
        "counter",
        "Total number of checkpoint creations attempted.",
        counter(&stats.checkpoints) + counter(&stats.checkpoint_failures),
    );
    w.single(
        "prometheus_tsdb_checkpoint_creations_failed_total",
        "counter",
        "Total number of checkpoint creations that failed.",
        counter(&stats.checkpoint_failures),
    );
    w.single(
        "prometheus_tsdb_wal_truncations_total",
        "counter",
        "Total number of write log truncations attempted.",
        counter(&stats.wal_truncations),
    );
    w.single(
        "prometheus_tsdb_wal_corruptions_total",
        "counter",
        "Total number of WAL corruptions.",
        counter(&stats.wal_corruptions),
    );
    w.single(
        "narthex_tsdb_rocksdb_memory_bytes",
        "gauge",
        "Memory RocksDB holds: memtables, table readers and the block cache.",
        tsdb.rocksdb_memory_bytes() as f64,
    );
    w.single(
        "narthex_tsdb_wal_bytes",
        "gauge",
        "Bytes in Narthex's write-ahead log (samples not yet checkpointed into RocksDB).",
        tsdb.wal_bytes() as f64,
    );
    w.single(
        "narthex_http_direct_query_answers_total",
        "counter",
        "Queries answered on a connection's first request without the router (plain GETs).",
        crate::api::DIRECT_QUERY_ANSWERS.load(Ordering::Relaxed) as f64,
    );
    w.single(
        "narthex_http_plain_query_answers_total",
        "counter",
        "Of those, instant queries answered from the URL query string alone, without building a request.",
        crate::api::PLAIN_QUERY_ANSWERS.load(Ordering::Relaxed) as f64,
    );
    w.single(
        "prometheus_config_last_reload_successful",
        "gauge",
        "Whether the last configuration reload attempt was successful.",
        if state.config.last_reload_successful() {
            1.0
        } else {
            0.0
        },
    );
    w.single(
        "prometheus_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Timestamp of the last successful configuration reload.",
        state.config.last_success_seconds() as f64,
    );
    let targets = state.scrape.targets();
    w.single(
        "prometheus_sd_discovered_targets",
        "gauge",
        "Current number of discovered targets.",
        targets.len() as f64,
    );
    let mut per_pool: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for target in &targets {
        *per_pool.entry(target.target.pool.as_str()).or_default() += 1.0;
    }
    let pool_samples: Vec<([(&str, &str); 1], f64)> = per_pool
        .iter()
        .map(|(pool, count)| ([("scrape_job", *pool)], *count))
        .collect();
    let pool_refs: Vec<(&[(&str, &str)], f64)> = pool_samples
        .iter()
        .map(|(labels, count)| (&labels[..], *count))
        .collect();
    w.family(
        "prometheus_target_scrape_pool_targets",
        "gauge",
        "Current number of targets in this scrape pool.",
        &pool_refs,
    );
    let rule_groups = state.rules.group_metrics();
    type Pick = fn(
        &(
            narthex_rules::group::GroupMetrics,
            std::time::Duration,
            i64,
            usize,
        ),
    ) -> f64;
    let rule_families: [(&str, &str, &str, Pick); 7] = [
        (
            "prometheus_rule_evaluations_total",
            "counter",
            "The total number of rule evaluations.",
            |m| m.0.evaluations as f64,
        ),
        (
            "prometheus_rule_evaluation_failures_total",
            "counter",
            "The total number of rule evaluation failures.",
            |m| m.0.evaluation_failures as f64,
        ),
        (
            "prometheus_rule_group_iterations_total",
            "counter",
            "The total number of scheduled rule group evaluations, whether executed or missed.",
            |m| (m.0.iterations + m.0.iterations_missed) as f64,
        ),
        (
            "prometheus_rule_group_iterations_missed_total",
            "counter",
            "The total number of rule group evaluations missed due to slow rule group evaluation.",
            |m| m.0.iterations_missed as f64,
        ),
        (
            "prometheus_rule_group_last_duration_seconds",
            "gauge",
            "The duration of the last rule group evaluation.",
            |m| m.1.as_secs_f64(),
        ),
        (
            "prometheus_rule_group_interval_seconds",
            "gauge",
            "The interval of a rule group.",
            |m| m.2 as f64 / 1000.0,
        ),
        (
            "prometheus_rule_group_rules",
            "gauge",
            "The number of rules.",
            |m| m.3 as f64,
        ),
    ];
    for (name, kind, help, pick) in rule_families {
        let samples: Vec<([(&str, &str); 1], f64)> = rule_groups
            .iter()
            .map(|(group, metrics)| ([("rule_group", group.as_str())], pick(metrics)))
            .collect();
        let refs: Vec<(&[(&str, &str)], f64)> = samples.iter().map(|(l, v)| (&l[..], *v)).collect();
        w.family(name, kind, help, &refs);
    }
    // The notifier's families (a summary's _sum and _count under one HELP/TYPE).
    let notifier_samples = state.notifier.metrics().samples();
    let mut i = 0;
    while i < notifier_samples.len() {
        let family = &notifier_samples[i];
        let kind = match family.kind {
            narthex_notifier::MetricKind::Counter => "counter",
            narthex_notifier::MetricKind::Gauge => "gauge",
            narthex_notifier::MetricKind::Summary => "summary",
        };
        w.header(family.family, kind, family.help);
        while i < notifier_samples.len() && notifier_samples[i].family == family.family {
            let sample = &notifier_samples[i];
            let labels = sample
                .labels
                .iter()
                .map(|(name, value)| (*name, value.as_str()));
            w.sample(sample.name, labels, sample.value);
            i += 1;
        }
    }
    for (name, help, value) in state.scrape.metrics().samples() {
        w.single(name, "counter", help, value);
    }
    // Service discovery's counters, one family per name.
    let sd = state.scrape.sd_metrics().samples();
    let mut i = 0;
    while i < sd.len() {
        let first = &sd[i];
        let mut samples: Vec<(&[(&str, &str)], f64)> = Vec::new();
        while i < sd.len() && sd[i].name == first.name {
            samples.push((sd[i].labels, sd[i].value));
            i += 1;
        }
        let kind = match first.kind {
            narthex_discovery::SdMetricKind::Counter => "counter",
            narthex_discovery::SdMetricKind::Gauge => "gauge",
        };
        w.family(first.name, kind, first.help, &samples);
    }
    out
}

/// Process figures from /proc/self; each is absent where /proc cannot tell.
#[derive(Default)]
struct ProcessStats {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<f64>,
    virtual_bytes: Option<f64>,
    open_fds: Option<f64>,
    max_fds: Option<f64>,
}

impl ProcessStats {
    fn read() -> ProcessStats {
        let mut stats = ProcessStats::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name, which may itself contain spaces.
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                // utime and stime are fields 14 and 15 of the line, in clock ticks (100 Hz on
                // Linux for user space, whatever the kernel's HZ).
                let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
                if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                    stats.cpu_seconds = Some((user + system) / 100.0);
                }
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let kib = |key: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(key))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(|v| v * 1024.0)
            };
            stats.resident_bytes = kib("VmRSS:");
            stats.virtual_bytes = kib("VmSize:");
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            stats.open_fds = Some(entries.count() as f64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            stats.max_fds = limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok());
        }
        stats
    }
}
