//! A real exposition: the official Python client's output for one registry with every metric
//! type it has (counters with `_created`, gauge with a unit, histogram with an exemplar, summary,
//! info, enum/stateset, timestamped gauge, gauge histogram, unknown), in OpenMetrics and in the
//! text format. `fixtures/generate_python_client.py` wrote both files.

use narthex_model::exposition::{
    parse_openmetrics, parse_text, Exposition, ExpositionFormat, MetricType, ParsedSample,
};

const OPENMETRICS: &str = include_str!("fixtures/python_client.om.txt");
const TEXT: &str = include_str!("fixtures/python_client.prom.txt");

/// The clock the generator pinned, which every `_created` sample carries.
const CREATED: f64 = 1_700_000_000.25;

type Row = (
    usize,
    &'static str,
    &'static [(&'static str, &'static str)],
    f64,
    Option<i64>,
);

/// A sample as (line, name, labels, value bits, timestamp), comparable across parses.
type OwnedRow = (usize, String, Vec<(String, String)>, u64, Option<i64>);

fn rows(expo: &Exposition<'_>) -> Vec<OwnedRow> {
    expo.samples
        .iter()
        .map(|s: &ParsedSample<'_>| {
            (
                s.line,
                s.name.to_string(),
                s.labels
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                s.value.to_bits(),
                s.timestamp_ms,
            )
        })
        .collect()
}

fn expected(rows: &[Row]) -> Vec<OwnedRow> {
    rows.iter()
        .map(|(line, name, labels, value, ts)| {
            (
                *line,
                name.to_string(),
                labels
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                value.to_bits(),
                *ts,
            )
        })
        .collect()
}

#[test]
fn every_openmetrics_sample() {
    let expo = parse_openmetrics(OPENMETRICS).expect("the Python client's OpenMetrics parses");
    assert_eq!(expo.format, ExpositionFormat::OpenMetrics);
    let get_200: &[(&str, &str)] = &[("code", "200"), ("method", "get")];
    let post_400: &[(&str, &str)] = &[("code", "400"), ("method", "post")];
    let want: &[Row] = &[
        (3, "http_requests_total", get_200, 1027.5, None),
        (4, "http_requests_created", get_200, CREATED, None),
        (5, "http_requests_total", post_400, 3.0, None),
        (6, "http_requests_created", post_400, CREATED, None),
        (
            10,
            "temperature_celsius",
            &[("room", "kitchen \"main\"")],
            21.5,
            None,
        ),
        (
            11,
            "temperature_celsius",
            &[("room", "cellar\\1")],
            -3.25,
            None,
        ),
        (
            15,
            "request_latency_seconds_bucket",
            &[("le", "0.005"), ("path", "/api")],
            1.0,
            None,
        ),
        (
            16,
            "request_latency_seconds_bucket",
            &[("le", "0.1"), ("path", "/api")],
            3.0,
            None,
        ),
        (
            17,
            "request_latency_seconds_bucket",
            &[("le", "1.0"), ("path", "/api")],
            4.0,
            None,
        ),
        (
            18,
            "request_latency_seconds_bucket",
            &[("le", "10.0"), ("path", "/api")],
            5.0,
            None,
        ),
        (
            19,
            "request_latency_seconds_bucket",
            &[("le", "+Inf"), ("path", "/api")],
            6.0,
            None,
        ),
        (
            20,
            "request_latency_seconds_count",
            &[("path", "/api")],
            6.0,
            None,
        ),
        (
            21,
            "request_latency_seconds_sum",
            &[("path", "/api")],
            55.621,
            None,
        ),
        (
            22,
            "request_latency_seconds_created",
            &[("path", "/api")],
            CREATED,
            None,
        ),
        (26, "payload_bytes_count", &[], 2.0, None),
        (27, "payload_bytes_sum", &[], 2560.0, None),
        (28, "payload_bytes_created", &[], CREATED, None),
        (
            31,
            "build_info",
            &[("revision", "deadbeef"), ("version", "1.2.3")],
            1.0,
            None,
        ),
        (
            34,
            "task_state",
            &[("task", "backup"), ("task_state", "starting")],
            0.0,
            None,
        ),
        (
            35,
            "task_state",
            &[("task", "backup"), ("task_state", "running")],
            1.0,
            None,
        ),
        (
            36,
            "task_state",
            &[("task", "backup"), ("task_state", "stopped")],
            0.0,
            None,
        ),
        (39, "jobs_total", &[], 7.0, None),
        (40, "jobs_created", &[], CREATED, None),
        (
            43,
            "queue_depth",
            &[("queue", "fast")],
            12.0,
            Some(1_699_999_990_500),
        ),
        (
            44,
            "queue_depth",
            &[("queue", "slow")],
            0.0,
            Some(1_699_999_991_000),
        ),
        (48, "queue_wait_seconds_bucket", &[("le", "0.5")], 4.0, None),
        (49, "queue_wait_seconds_bucket", &[("le", "2.5")], 9.0, None),
        (
            50,
            "queue_wait_seconds_bucket",
            &[("le", "+Inf")],
            10.0,
            None,
        ),
        (51, "queue_wait_seconds_gcount", &[], 10.0, None),
        (52, "queue_wait_seconds_gsum", &[], 12.5, None),
        (55, "legacy_value", &[], 1e-07, None),
    ];
    assert_eq!(rows(&expo), expected(want));

    // Every series text is the start of its line, up to the value.
    for s in &expo.samples {
        let line = OPENMETRICS.lines().nth(s.line - 1).unwrap();
        let rest = line
            .strip_prefix(s.series_text)
            .expect("series text starts the line");
        assert!(rest.starts_with(' '), "{line}");
        assert!(
            s.series_text == s.name || s.series_text.ends_with('}'),
            "{}",
            s.series_text
        );
    }

    // The two exemplars, on the 0.1 bucket and on the counter.
    let exemplars: Vec<_> = expo
        .exemplars
        .iter()
        .map(|e| {
            (
                expo.samples[e.sample].line,
                e.labels
                    .iter()
                    .map(|(n, v)| (*n, v.as_ref()))
                    .collect::<Vec<_>>(),
                e.value,
                e.timestamp_ms,
            )
        })
        .collect();
    assert_eq!(
        exemplars,
        vec![
            (
                16,
                vec![("trace_id", "abc123")],
                0.07,
                Some(1_700_000_000_250)
            ),
            (39, vec![("job_id", "42")], 7.0, Some(1_700_000_000_250)),
        ]
    );

    let metadata: Vec<_> = expo
        .metadata
        .iter()
        .map(|m| (m.family, m.metric_type, m.help.as_deref(), m.unit))
        .collect();
    use MetricType::*;
    assert_eq!(
        metadata,
        vec![
            ("build", Info, Some("Build information."), None),
            ("http_requests", Counter, Some("Requests served."), None),
            ("jobs", Counter, Some("Jobs done."), None),
            (
                "legacy_value",
                Unknown,
                Some("Something from elsewhere."),
                None
            ),
            (
                "payload_bytes",
                Summary,
                Some("Payload sizes."),
                Some("bytes")
            ),
            (
                "queue_depth",
                Gauge,
                Some("Queue depth, sampled earlier."),
                None
            ),
            (
                "queue_wait_seconds",
                GaugeHistogram,
                Some("Wait of the queued items."),
                Some("seconds")
            ),
            (
                "request_latency_seconds",
                Histogram,
                Some("Request latency."),
                Some("seconds")
            ),
            ("task_state", Stateset, Some("Task state."), None),
            (
                "temperature_celsius",
                Gauge,
                Some("Room temperature \\ with \"quotes\"\nand a newline."),
                Some("celsius")
            ),
        ]
    );

    // Every sample finds its family, `_created`, `_total`, `_info` and `_gsum` included.
    for s in &expo.samples {
        let family = expo
            .metadata_for(s.name)
            .unwrap_or_else(|| panic!("no metadata for {}", s.name));
        assert!(s.name.starts_with(family.family), "{}", s.name);
    }
}

#[test]
fn text_format_of_the_same_registry_has_the_same_samples() {
    let om = parse_openmetrics(OPENMETRICS).unwrap();
    let text = parse_text(TEXT).expect("the Python client's text format parses");
    assert_eq!(text.format, ExpositionFormat::Text);
    assert!(text.exemplars.is_empty());
    let key = |expo: &Exposition<'_>| {
        let mut samples: Vec<_> = rows(expo)
            .into_iter()
            .map(|(_, name, labels, value, ts)| (name, labels, value, ts))
            .collect();
        samples.sort();
        samples
    };
    // Same names, labels, values and (millisecond) timestamps, line numbers aside.
    assert_eq!(key(&om), key(&text));
    assert_eq!(text.samples.len(), 31);

    // The text format makes `_created` and `_total` families of their own.
    assert_eq!(
        text.metadata_for("http_requests_created")
            .map(|m| (m.family, m.metric_type)),
        Some(("http_requests_created", MetricType::Gauge))
    );
    assert_eq!(
        text.metadata_for("build_info").map(|m| m.metric_type),
        Some(MetricType::Gauge)
    );
    assert!(text.metadata.iter().all(|m| m.unit.is_none()));
}
