//! The scrape parsers on one large target: 100,000 samples in 10 metric families (counters,
//! gauges, two histograms with 10 buckets, a summary, an info-style gauge), 3 to 5 labels a
//! series, HELP and TYPE lines, written once in the text format 0.0.4 and once in OpenMetrics
//! 1.0 with the same series and values, the way client libraries write each (`le="1"` in text,
//! `le="1.0"` and `_total` counters in OpenMetrics). Throughput is in samples.
//!
//! `openmetrics_1.0_exemplars` is the OpenMetrics body with an exemplar on every tenth histogram
//! bucket, as a tracing-instrumented service exposes them.
//!
//! `cargo bench -p narthex-model --bench exposition`

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use narthex_model::exposition::{parse_openmetrics, parse_text};

const BUCKETS: &[(&str, &str)] = &[
    ("0.005", "0.005"),
    ("0.01", "0.01"),
    ("0.025", "0.025"),
    ("0.05", "0.05"),
    ("0.1", "0.1"),
    ("0.25", "0.25"),
    ("0.5", "0.5"),
    ("1", "1.0"),
    ("2.5", "2.5"),
    ("+Inf", "+Inf"),
];

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Text,
    OpenMetrics { exemplars: bool },
}

/// A deterministic pseudo-random sequence (xorshift), so every run parses the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A gauge-like value with a fractional part, sometimes in exponent form.
    fn float(&mut self) -> String {
        match self.next() % 4 {
            0 => format!("{}", (self.next() % 1_000_000) as f64 / 8.0),
            1 => format!("{:e}", (self.next() % 10_000) as f64 * 1.5e-7),
            _ => format!("{:.3}", (self.next() % 100_000_000) as f64 / 1000.0),
        }
    }
}

struct Writer {
    out: String,
    format: Format,
    samples: usize,
    rng: Rng,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let kind = match (self.format, kind) {
            (Format::Text, "info") => "gauge",
            _ => kind,
        };
        writeln!(self.out, "# HELP {name} {help}").unwrap();
        writeln!(self.out, "# TYPE {name} {kind}").unwrap();
    }

    fn sample(&mut self, name: &str, labels: &str, value: &str) {
        if labels.is_empty() {
            writeln!(self.out, "{name} {value}").unwrap();
        } else {
            writeln!(self.out, "{name}{{{labels}}} {value}").unwrap();
        }
        self.samples += 1;
    }

    /// A counter family: `name` in text, `name_total` samples of family `name` in OpenMetrics.
    fn counter(&mut self, name: &str, help: &str, series: impl Iterator<Item = String>) {
        let sample_name = format!("{name}_total");
        let family = match self.format {
            Format::Text => sample_name.clone(),
            Format::OpenMetrics { .. } => name.to_string(),
        };
        self.family(&family, "counter", help);
        for labels in series {
            let value = (self.rng.next() % 10_000_000).to_string();
            self.sample(&sample_name, &labels, &value);
        }
    }

    fn gauge(&mut self, name: &str, help: &str, series: impl Iterator<Item = String>) {
        self.family(name, "gauge", help);
        for labels in series {
            let value = self.rng.float();
            self.sample(name, &labels, &value);
        }
    }

    fn histogram(&mut self, name: &str, help: &str, series: impl Iterator<Item = String>) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for labels in series {
            let mut count = 0;
            for (i, (text_le, om_le)) in BUCKETS.iter().enumerate() {
                count += self.rng.next() % 500;
                let le = match self.format {
                    Format::Text => text_le,
                    Format::OpenMetrics { .. } => om_le,
                };
                let mut value = count.to_string();
                if self.format == (Format::OpenMetrics { exemplars: true }) && i % 10 == 3 {
                    let trace = self.rng.next();
                    write!(
                        value,
                        " # {{trace_id=\"{trace:016x}\"}} 0.0{} 1700000000.{:03}",
                        i + 1,
                        trace % 1000
                    )
                    .unwrap();
                }
                self.sample(&bucket, &format!("{labels},le=\"{le}\""), &value);
            }
            let sum = self.rng.float();
            self.sample(&format!("{name}_sum"), &labels, &sum);
            self.sample(&format!("{name}_count"), &labels, &count.to_string());
        }
    }

    fn summary(&mut self, name: &str, help: &str, series: impl Iterator<Item = String>) {
        self.family(name, "summary", help);
        for labels in series {
            for q in ["0.5", "0.9", "0.99"] {
                let value = self.rng.float();
                self.sample(name, &format!("{labels},quantile=\"{q}\""), &value);
            }
            let sum = self.rng.float();
            self.sample(&format!("{name}_sum"), &labels, &sum);
            let count = (self.rng.next() % 100_000).to_string();
            self.sample(&format!("{name}_count"), &labels, &count);
        }
    }
}

fn instance(i: usize) -> String {
    format!("10.{}.{}.{}:9100", i / 65536 % 256, i / 256 % 256, i % 256)
}

/// The body and its sample count.
fn exposition(format: Format) -> (String, usize) {
    let mut w = Writer {
        out: String::with_capacity(16 << 20),
        format,
        samples: 0,
        rng: Rng(0x9E37_79B9_7F4A_7C15),
    };
    const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];
    const CODES: &[&str] = &["200", "201", "400", "404", "500"];

    // 20,000 samples, 4 labels.
    w.counter(
        "http_requests",
        "Total HTTP requests served.",
        (0..20_000).map(|i| {
            format!(
                "method=\"{}\",code=\"{}\",handler=\"/api/v1/resource/{}\",instance=\"{}\"",
                METHODS[i % 4],
                CODES[i / 4 % 5],
                i / 20 % 50,
                instance(i / 1000)
            )
        }),
    );
    // 2,000 series x 12 samples = 24,000, 3 labels + le.
    w.histogram(
        "http_request_duration_seconds",
        "HTTP request latency.",
        (0..2_000).map(|i| {
            format!(
                "method=\"{}\",handler=\"/api/v1/resource/{}\",instance=\"{}\"",
                METHODS[i % 4],
                i / 4 % 50,
                instance(i / 200)
            )
        }),
    );
    // 2,000 series x 5 samples = 10,000, 3 labels + quantile.
    w.summary(
        "rpc_latency_seconds",
        "RPC latency quantiles.",
        (0..2_000).map(|i| {
            format!(
                "service=\"svc-{}\",method=\"Method{}\",instance=\"{}\"",
                i % 20,
                i / 20 % 10,
                instance(i / 200)
            )
        }),
    );
    // 5,000 samples, 3 labels.
    w.gauge(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        (0..5_000).map(|i| {
            format!(
                "instance=\"{}\",job=\"job-{}\",region=\"eu-west-{}\"",
                instance(i),
                i % 7,
                i % 3
            )
        }),
    );
    // 16,000 samples, 4 labels.
    w.counter(
        "node_cpu_seconds",
        "Seconds the CPUs spent in each mode.",
        (0..16_000).map(|i| {
            format!(
                "cpu=\"{}\",mode=\"{}\",instance=\"{}\",job=\"node\"",
                i % 16,
                ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"][i / 16 % 8],
                instance(i / 128)
            )
        }),
    );
    // 8,000 samples, 5 labels.
    w.gauge(
        "queue_length",
        "Items waiting in each queue.",
        (0..8_000).map(|i| {
            format!(
                "queue=\"q{}\",shard=\"{}\",instance=\"{}\",priority=\"{}\",tenant=\"tenant-{}\"",
                i % 10,
                i / 10 % 8,
                instance(i / 80),
                ["low", "normal", "high"][i % 3],
                i % 13
            )
        }),
    );
    // 5,000 samples, 3 labels.
    w.counter(
        "cache_hits",
        "Cache hits by cache and tier.",
        (0..5_000).map(|i| {
            format!(
                "cache=\"cache-{}\",instance=\"{}\",tier=\"{}\"",
                i % 25,
                instance(i / 25),
                ["l1", "l2"][i % 2]
            )
        }),
    );
    // 800 series x 12 samples = 9,600, 4 labels + le.
    w.histogram(
        "db_query_duration_seconds",
        "Database query latency.",
        (0..800).map(|i| {
            format!(
                "db=\"db{}\",op=\"{}\",instance=\"{}\",table=\"table_{}\"",
                i % 4,
                ["select", "insert", "update", "delete"][i / 4 % 4],
                instance(i / 80),
                i / 16 % 50
            )
        }),
    );
    // 2,000 samples, 3 labels.
    w.gauge(
        "temperature_celsius",
        "Sensor temperature.",
        (0..2_000).map(|i| format!("sensor=\"s{}\",rack=\"r{}\",dc=\"dc{}\"", i, i / 40, i % 3)),
    );
    // 400 samples, 4 labels.
    let info_name = match format {
        Format::Text => "build_info",
        Format::OpenMetrics { .. } => "build",
    };
    w.family(info_name, "info", "Build information.");
    for i in 0..400 {
        let labels = format!(
            "version=\"1.{}.{}\",revision=\"{:08x}\",goversion=\"go1.22.{}\",instance=\"{}\"",
            i % 5,
            i % 17,
            i * 2_654_435_761u64 as usize % (1 << 32),
            i % 9,
            instance(i)
        );
        w.sample("build_info", &labels, "1");
    }
    if format != Format::Text {
        w.out.push_str("# EOF\n");
    }
    (w.out, w.samples)
}

fn bench_parsers(c: &mut Criterion) {
    let (text, samples) = exposition(Format::Text);
    let (om, om_samples) = exposition(Format::OpenMetrics { exemplars: false });
    let (om_ex, om_ex_samples) = exposition(Format::OpenMetrics { exemplars: true });
    assert_eq!(samples, 100_000);
    assert_eq!((om_samples, om_ex_samples), (samples, samples));
    // The bodies parse, to the same samples.
    let t = parse_text(&text).expect("text body parses");
    let o = parse_openmetrics(&om).expect("OpenMetrics body parses");
    let e = parse_openmetrics(&om_ex).expect("OpenMetrics body with exemplars parses");
    assert_eq!((t.samples.len(), o.samples.len()), (samples, samples));
    assert_eq!(e.exemplars.len(), 2_800);
    assert!(t
        .samples
        .iter()
        .zip(&o.samples)
        .all(|(a, b)| a.value.to_bits() == b.value.to_bits() && a.labels.len() == b.labels.len()));
    drop((t, o, e));
    println!(
        "bodies: text {:.1} MiB, OpenMetrics {:.1} MiB, with exemplars {:.1} MiB; {samples} samples each",
        text.len() as f64 / (1 << 20) as f64,
        om.len() as f64 / (1 << 20) as f64,
        om_ex.len() as f64 / (1 << 20) as f64,
    );

    let mut group = c.benchmark_group("parse_100k_samples");
    group.throughput(Throughput::Elements(samples as u64));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("text_0.0.4", |b| {
        b.iter(|| parse_text(black_box(&text)).unwrap())
    });
    group.bench_function("openmetrics_1.0", |b| {
        b.iter(|| parse_openmetrics(black_box(&om)).unwrap())
    });
    group.bench_function("openmetrics_1.0_exemplars", |b| {
        b.iter(|| parse_openmetrics(black_box(&om_ex)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_parsers);
criterion_main!(benches);
