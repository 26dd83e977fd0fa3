//! Relabeling as Prometheus does it: its own test tables (`model/relabel/relabel_test.go`, the
//! relabeling cases of `config/config_test.go`), then reading, checking and writing rules.

use narthex_config::relabel::{process, Action, Regex, RelabelConfig, RelabelError};
use narthex_config::LabelName;
use narthex_model::Labels;
use serde::Deserialize;

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\nshould load: {e}"))
}

fn rule(yaml: &str) -> RelabelConfig {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\nshould load: {e}"))
}

fn error_of(yaml: &str) -> String {
    match serde_yaml::from_str::<Vec<RelabelConfig>>(yaml) {
        Ok(rules) => panic!("{yaml}\nshould be refused, loaded as {rules:?}"),
        Err(e) => e.to_string(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

struct Case {
    input: &'static [(&'static str, &'static str)],
    rules: &'static str,
    /// `None` when the label set is dropped.
    output: Option<&'static [(&'static str, &'static str)]>,
}

/// Prometheus's `TestRelabel`, case for case, with the rules written as YAML. The UTF-8 label
/// name cases are in `utf8_label_names_are_refused_under_legacy_validation`.
#[test]
fn prometheus_relabel_table() {
    let cases = [
        Case {
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: "
- source_labels: [a]
  regex: f(.*)
  target_label: d
  separator: ;
  replacement: ch${1}-ch${1}
  action: replace",
            output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        },
        Case {
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: "
- source_labels: [a, b]
  regex: f(.*);(.*)r
  target_label: a
  separator: ;
  replacement: b${1}${2}m # boobam
  action: replace
- source_labels: [c, a]
  regex: (b).*b(.*)ba(.*)
  target_label: d
  separator: ;
  replacement: $1$2$2$3
  action: replace",
            output: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        },
        Case {
            input: &[("a", "foo")],
            rules: "
- source_labels: [a]
  regex: .*o.*
  action: drop
- source_labels: [a]
  regex: f(.*)
  target_label: d
  separator: ;
  replacement: ch$1-ch$1
  action: replace",
            output: None,
        },
        Case {
            input: &[("a", "foo"), ("b", "bar")],
            rules: "
- source_labels: [a]
  regex: .*o.*
  action: drop",
            output: None,
        },
        Case {
            input: &[("a", "abc")],
            rules: "
- source_labels: [a]
  regex: .*(b).*
  target_label: d
  separator: ;
  replacement: $1
  action: replace",
            output: Some(&[("a", "abc"), ("d", "b")]),
        },
        Case {
            input: &[("a", "foo")],
            rules: "
- source_labels: [a]
  regex: no-match
  action: drop",
            output: Some(&[("a", "foo")]),
        },
        Case {
            input: &[("a", "foo")],
            rules: "
- source_labels: [a]
  regex: f|o
  action: drop",
            output: Some(&[("a", "foo")]),
        },
        Case {
            input: &[("a", "foo")],
            rules: "
- source_labels: [a]
  regex: no-match
  action: keep",
            output: None,
        },
        Case {
            input: &[("a", "foo")],
            rules: "
- source_labels: [a]
  regex: f.*
  action: keep",
            output: Some(&[("a", "foo")]),
        },
        // No replacement must be applied if there is no match.
        Case {
            input: &[("a", "boo")],
            rules: "
- source_labels: [a]
  regex: f
  target_label: b
  replacement: bar
  action: replace",
            output: Some(&[("a", "boo")]),
        },
        // Blank replacement should delete the label.
        Case {
            input: &[("a", "foo"), ("f", "baz")],
            rules: "
- source_labels: [a]
  regex: (f).*
  target_label: $1
  replacement: $2
  action: replace",
            output: Some(&[("a", "foo")]),
        },
        Case {
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: "
- source_labels: [c]
  target_label: d
  separator: ;
  action: hashmod
  modulus: 1000",
            output: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        },
        Case {
            input: &[("a", "foo\nbar")],
            rules: "
- source_labels: [a]
  target_label: b
  separator: ;
  action: hashmod
  modulus: 1000",
            output: Some(&[("a", "foo\nbar"), ("b", "734")]),
        },
        Case {
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "
- regex: (b.*)
  replacement: bar_${1}
  action: labelmap",
            output: Some(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz"),
            ]),
        },
        Case {
            input: &[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ],
            rules: "
- regex: __meta_(my.*)
  replacement: ${1}
  action: labelmap",
            output: Some(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        },
        // Valid case.
        Case {
            input: &[("a", "some-name-value")],
            rules: "
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  action: replace
  replacement: ${2}
  target_label: ${1}",
            output: Some(&[("a", "some-name-value"), ("name", "value")]),
        },
        // Invalid replacement \"\".
        Case {
            input: &[("a", "some-name-value")],
            rules: "
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  action: replace
  replacement: ${3}
  target_label: ${1}",
            output: Some(&[("a", "some-name-value")]),
        },
        // Invalid target_labels.
        Case {
            input: &[("a", "some-name-0")],
            rules: "
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  action: replace
  replacement: ${1}
  target_label: ${3}
- source_labels: [a]
  regex: some-([^-]+)-([^,]+)
  action: replace
  replacement: ${1}
  target_label: ${3}
- source_labels: [a]
  regex: some-([^-]+)(-[^,]+)
  action: replace
  replacement: ${1}
  target_label: ${3}",
            output: Some(&[("a", "some-name-0")]),
        },
        // More complex real-life like usecase.
        Case {
            input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            rules: "
- source_labels: [__meta_sd_tags]
  regex: (?:.+,|^)path:(/[^,]+).*
  action: replace
  replacement: ${1}
  target_label: __metrics_path__
- source_labels: [__meta_sd_tags]
  regex: (?:.+,|^)job:([^,]+).*
  action: replace
  replacement: ${1}
  target_label: job
- source_labels: [__meta_sd_tags]
  regex: (?:.+,|^)label:([^=]+)=([^,]+).*
  action: replace
  replacement: ${2}
  target_label: ${1}",
            output: Some(&[
                ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                ("__metrics_path__", "/secret"),
                ("job", "some-job"),
                ("foo", "bar"),
            ]),
        },
        // From https://github.com/prometheus/prometheus/issues/12283.
        Case {
            input: &[
                ("__meta_kubernetes_pod_container_port_name", "foo"),
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ],
            rules: "
- regex: ^__meta_kubernetes_pod_container_port_name$
  action: labeldrop
- source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port]
  regex: (.+)
  action: replace
  replacement: metrics
  target_label: __meta_kubernetes_pod_container_port_name
- source_labels: [__meta_kubernetes_pod_container_port_name]
  regex: ^metrics$
  action: keep",
            output: Some(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ]),
        },
        Case {
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "
- regex: (b.*)
  action: labelkeep",
            output: Some(&[("b1", "bar"), ("b2", "baz")]),
        },
        Case {
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: "
- regex: (b.*)
  action: labeldrop",
            output: Some(&[("a", "foo")]),
        },
        Case {
            input: &[("foo", "bAr123Foo")],
            rules: "
- source_labels: [foo]
  action: uppercase
  target_label: foo_uppercase
- source_labels: [foo]
  action: lowercase
  target_label: foo_lowercase",
            output: Some(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO"),
            ]),
        },
        Case {
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            rules: "
- source_labels: [__tmp_port]
  action: keepequal
  target_label: __port1",
            output: Some(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
        },
        Case {
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            rules: "
- source_labels: [__tmp_port]
  action: dropequal
  target_label: __port1",
            output: None,
        },
        Case {
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            rules: "
- source_labels: [__tmp_port]
  action: dropequal
  target_label: __port2",
            output: Some(&[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ]),
        },
        Case {
            input: &[
                ("__tmp_port", "1234"),
                ("__port1", "1234"),
                ("__port2", "5678"),
            ],
            rules: "
- source_labels: [__tmp_port]
  action: keepequal
  target_label: __port2",
            output: None,
        },
        Case {
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "
- source_labels: [a]
  regex: line1.*line2
  target_label: d
  separator: ;
  replacement: match${1}
  action: replace",
            output: Some(&[
                ("a", "line1\nline2"),
                ("b", "bar"),
                ("c", "baz"),
                ("d", "match"),
            ]),
        },
        // Replace targetLabel with various $var styles.
        Case {
            input: &[("a", "line1\nline2"), ("b", "bar"), ("c", "baz")],
            rules: "
- source_labels: [a]
  regex: (line1).*(?<second>line2)
  target_label: label1_${1}
  separator: ;
  replacement: val_${second}
  action: replace
- source_labels: [a]
  regex: (line1).*(?<second>line2)
  target_label: label2_$1
  separator: ;
  replacement: val_$second
  action: replace",
            output: Some(&[
                ("a", "line1\nline2"),
                ("b", "bar"),
                ("c", "baz"),
                ("label1_line1", "val_line2"),
                ("label2_line1", "val_line2"),
            ]),
        },
        Case {
            input: &[("__name__", "http_requests_total")],
            rules: "
- source_labels: [__name__]
  regex: .*_total$
  target_label: __type__
  replacement: counter
  action: replace",
            output: Some(&[("__name__", "http_requests_total"), ("__type__", "counter")]),
        },
        Case {
            input: &[("__name__", "disk_usage_bytes")],
            rules: "
- source_labels: [__name__]
  regex: .*_bytes$
  target_label: __unit__
  replacement: bytes
  action: replace",
            output: Some(&[("__name__", "disk_usage_bytes"), ("__unit__", "bytes")]),
        },
    ];
    assert_eq!(cases.len(), 31);
    for (i, case) in cases.iter().enumerate() {
        let input = labels(case.input);
        let got = process(&input, &rules(case.rules));
        let want = case.output.map(labels);
        assert_eq!(got, want, "case {i}: {}\non {input}", case.rules);
    }
}

/// Prometheus 3 accepts these by default (UTF-8 names); under the legacy names Narthex reads
/// they are refused when read, as Prometheus does with legacy validation.
#[test]
fn utf8_label_names_are_refused_under_legacy_validation() {
    let err = error_of("- source_labels: [utf-8.label]\n  target_label: d\n");
    assert!(
        err.contains(r#""utf-8.label" is not a valid label name"#),
        "{err}"
    );
    for target in ["utf-8.label", "utf-8.label${1}"] {
        let err = error_of(&format!(
            "- source_labels: [a]\n  regex: line1.*line2\n  target_label: {target:?}\n  replacement: match${{1}}\n"
        ));
        assert!(
            err.contains(&format!(
                "{target:?} is invalid 'target_label' for replace action"
            )),
            "{err}"
        );
    }
}

/// Prometheus's `TestRelabelValidate`, with the legacy-validation outcomes.
#[test]
fn prometheus_validate_table() {
    let cases: [(&str, Option<&str>); 10] = [
        ("action:", Some("relabel action cannot be empty")),
        ("action: replace", Some("requires 'target_label' value")),
        ("action: lowercase", Some("requires 'target_label' value")),
        (
            "action: lowercase\n  replacement: $1\n  target_label: ${3}",
            Some(r#""${3}" is invalid 'target_label' for lowercase action"#),
        ),
        (
            "source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  action: replace\n  replacement: ${1}\n  target_label: ${3}",
            None,
        ),
        (
            "source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  action: replace\n  replacement: ${1}\n  target_label: 0${3}",
            Some(r#""0${3}" is invalid 'target_label'"#),
        ),
        (
            "source_labels: [a]\n  regex: some-([^-]+)-([^,]+)\n  action: replace\n  replacement: ${1}\n  target_label: -${3}",
            Some(r#""-${3}" is invalid 'target_label' for replace action"#),
        ),
        (
            "regex: __meta_kubernetes_pod_label_(strimzi_io_.+)\n  action: labelmap\n  replacement: $1",
            None,
        ),
        (
            "regex: __meta_(.+)\n  action: labelmap\n  replacement: ${1}",
            None,
        ),
        ("{}", Some("relabel configuration for replace action requires 'target_label' value")),
    ];
    for (body, want) in cases {
        let yaml = format!("- {body}\n");
        let got = serde_yaml::from_str::<Vec<RelabelConfig>>(&yaml);
        match (want, got) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{yaml}\nshould load: {e}"),
            (Some(want), Ok(rules)) => panic!("{yaml}\nshould fail with {want}: {rules:?}"),
            (Some(want), Err(e)) => assert!(e.to_string().contains(want), "{yaml}\n{e}"),
        }
    }
}

/// Prometheus's `TestTargetLabelLegacyValidity`: which `target_label`s with `$` a replace rule
/// accepts.
#[test]
fn prometheus_target_label_validity_table() {
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${1}label", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("bar.foo${1}bar", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (target, valid) in cases {
        let yaml = format!("- target_label: {target:?}\n");
        let loaded = serde_yaml::from_str::<Vec<RelabelConfig>>(&yaml);
        assert_eq!(loaded.is_ok(), valid, "{target:?}: {loaded:?}");
        if let Err(e) = loaded {
            let want = format!("{target:?} is invalid 'target_label' for replace action");
            assert!(e.to_string().contains(&want), "{e}");
        }
    }
}

/// The relabeling cases of Prometheus's `config_test.go` (`TestBadConfigs`), each rule as its
/// test file has it.
#[test]
fn prometheus_bad_config_files() {
    let only_regex = "action requires only 'regex', and no other fields";
    let cases = [
        ("regex: abc(def\n  source_labels: [a]\n  target_label: b", "error parsing regexp".to_string()),
        (
            "source_labels: [__address__]\n  action: hashmod\n  target_label: __tmp_hash",
            "relabel configuration for hashmod requires non-zero modulus".into(),
        ),
        ("source_labels: [abcdef]\n  action: labelkeep", format!("labelkeep {only_regex}")),
        ("modulus: 8\n  action: labelkeep", format!("labelkeep {only_regex}")),
        ("separator: ','\n  action: labelkeep", format!("labelkeep {only_regex}")),
        ("replacement: yolo-{1}\n  action: labelkeep", format!("labelkeep {only_regex}")),
        ("target_label: yolo\n  action: labelkeep", format!("labelkeep {only_regex}")),
        ("source_labels: [abcdef]\n  action: labeldrop", format!("labeldrop {only_regex}")),
        ("modulus: 8\n  action: labeldrop", format!("labeldrop {only_regex}")),
        ("separator: ','\n  action: labeldrop", format!("labeldrop {only_regex}")),
        ("replacement: yolo-{1}\n  action: labeldrop", format!("labeldrop {only_regex}")),
        ("target_label: yolo\n  action: labeldrop", format!("labeldrop {only_regex}")),
        (
            "action: labelmap\n  regex: __meta_kubernetes_service_label_(.+)\n  replacement: l-$1",
            r#""l-$1" is invalid 'replacement' for labelmap action"#.into(),
        ),
        (
            "source_labels: [__name__]\n  action: dropequal",
            "relabel configuration for dropequal action requires 'target_label' value".into(),
        ),
        (
            "source_labels: [__name__]\n  target_label: foo\n  regex: \".*\"\n  action: dropequal",
            "dropequal action requires only 'source_labels' and `target_label`, and no other fields"
                .into(),
        ),
        (
            "source_labels: [__name__]\n  action: keepequal",
            "relabel configuration for keepequal action requires 'target_label' value".into(),
        ),
        (
            "source_labels: [__name__]\n  target_label: foo\n  regex: \".*\"\n  action: keepequal",
            "keepequal action requires only 'source_labels' and `target_label`, and no other fields"
                .into(),
        ),
        (
            "source_labels: [__name__]\n  action: lowercase",
            "relabel configuration for lowercase action requires 'target_label' value".into(),
        ),
        (
            "source_labels: [__name__]\n  target_label: 42lab\n  action: lowercase",
            r#""42lab" is invalid 'target_label' for lowercase action"#.into(),
        ),
        (
            "source_labels: [__name__]\n  target_label: __name__\n  replacement: bar\n  action: lowercase",
            "'replacement' can not be set for lowercase action".into(),
        ),
        (
            "source_labels: [__name__]\n  action: uppercase",
            "relabel configuration for uppercase action requires 'target_label' value".into(),
        ),
        (
            "source_labels: [__name__]\n  target_label: 42lab\n  action: uppercase",
            r#""42lab" is invalid 'target_label' for uppercase action"#.into(),
        ),
        (
            "source_labels: [__name__]\n  target_label: __name__\n  replacement: bar\n  action: uppercase",
            "'replacement' can not be set for uppercase action".into(),
        ),
        (
            "source_labels: [__address__]\n  regex: (.*)\n  replacement: foo",
            "relabel configuration for replace action requires 'target_label' value".into(),
        ),
        (
            "source_labels: [__address__]\n  modulus: 8\n  action: hashmod",
            "relabel configuration for hashmod action requires 'target_label' value".into(),
        ),
        (
            "source_labels: [__address__]\n  target_label: __address__\n  action:",
            "relabel action cannot be empty".into(),
        ),
        ("source_labels: [not$allowed]", r#""not$allowed" is not a valid label name"#.into()),
        ("source_labels: [not:allowed]", r#""not:allowed" is not a valid label name"#.into()),
    ];
    for (body, want) in cases {
        let err = error_of(&format!("- {body}\n"));
        assert!(err.contains(&want), "{body}\nwant {want}\ngot {err}");
    }
}

/// The rule sets of Prometheus's `BenchmarkRelabel` load and give what Prometheus gives
/// (cross-checked against Go's regexp and md5).
#[test]
fn prometheus_benchmark_rule_sets() {
    let example = rules(
        r#"
            - source_labels: [job, __meta_dns_name]
              regex: "(.*)some-[regex]"
              target_label: job
              replacement: foo-${1}
              # action defaults to 'replace'
            - source_labels: [abc]
              target_label: cde
            - replacement: static
              target_label: abc
            - regex:
              replacement: static
              target_label: abc"#,
    );
    let input = labels(&[
        ("__meta_dns_name", "example-some-x.com"),
        ("abc", "def"),
        ("job", "foo"),
    ]);
    assert_eq!(
        process(&input, &example),
        Some(labels(&[
            ("__meta_dns_name", "example-some-x.com"),
            ("abc", "static"),
            ("cde", "def"),
            ("job", "foo"),
        ]))
    );

    let kubernetes_text = r#"
        - source_labels:
            - __meta_kubernetes_pod_container_port_name
          regex: .*-metrics
          action: keep
        - source_labels:
            - __meta_kubernetes_pod_label_name
          action: drop
          regex: ""
        - source_labels:
            - __meta_kubernetes_pod_phase
          regex: Succeeded|Failed
          action: drop
        - source_labels:
            - __meta_kubernetes_pod_annotation_prometheus_io_scrape
          regex: "false"
          action: drop
        - source_labels:
            - __meta_kubernetes_pod_annotation_prometheus_io_scheme
          target_label: __scheme__
          regex: (https?)
          replacement: $1
          action: replace
        - source_labels:
            - __meta_kubernetes_pod_annotation_prometheus_io_path
          target_label: __metrics_path__
          regex: (.+)
          replacement: $1
          action: replace
        - source_labels:
            - __address__
            - __meta_kubernetes_pod_annotation_prometheus_io_port
          target_label: __address__
          regex: (.+?)(\:\d+)?;(\d+)
          replacement: $1:$3
          action: replace
        - regex: __meta_kubernetes_pod_annotation_prometheus_io_param_(.+)
          replacement: __param_$1
          action: labelmap
        - regex: __meta_kubernetes_pod_label_prometheus_io_label_(.+)
          action: labelmap
        - regex: __meta_kubernetes_pod_annotation_prometheus_io_label_(.+)
          action: labelmap
        - source_labels:
            - __meta_kubernetes_namespace
            - __meta_kubernetes_pod_label_name
          separator: /
          target_label: job
          replacement: $1
          action: replace
        - source_labels:
          - __meta_kubernetes_namespace
          target_label: namespace
          action: replace
        - source_labels:
            - __meta_kubernetes_pod_name
          target_label: pod
          action: replace
        - source_labels:
            - __meta_kubernetes_pod_container_name
          target_label: container
          action: replace
        - source_labels:
            - __meta_kubernetes_pod_name
            - __meta_kubernetes_pod_container_name
            - __meta_kubernetes_pod_container_port_name
          separator: ':'
          target_label: instance
          action: replace
        - target_label: cluster
          replacement: dev-us-central-0
        - source_labels:
            - __meta_kubernetes_namespace
          regex: hosted-grafana
          action: drop
        - source_labels:
            - __address__
          target_label: __tmp_hash
          modulus: 3
          action: hashmod
        - source_labels:
            - __tmp_hash
          regex: ^0$
          action: keep
        - regex: __tmp_hash
          action: labeldrop"#;
    let kubernetes = rules(kubernetes_text);
    assert_eq!(kubernetes.len(), 20);
    let pod: &[(&str, &str)] = &[
        ("__address__", "10.132.183.40:80"),
        ("__meta_kubernetes_namespace", "loki-boltdb-shipper"),
        ("__meta_kubernetes_pod_container_name", "promtail"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        (
            "__meta_kubernetes_pod_label_name",
            "promtail-loki-boltdb-shipper",
        ),
        (
            "__meta_kubernetes_pod_name",
            "promtail-loki-boltdb-shipper-jgtr7",
        ),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("job", "kubernetes-pods"),
    ];
    // md5("10.132.183.40:80") puts this pod in bucket 1 of 3, so the last keep drops it.
    assert_eq!(process(&labels(pod), &kubernetes), None);
    let mut want = pod.to_vec();
    want.retain(|(name, _)| *name != "job");
    want.extend([
        ("job", "loki-boltdb-shipper/promtail-loki-boltdb-shipper"),
        ("namespace", "loki-boltdb-shipper"),
        ("pod", "promtail-loki-boltdb-shipper-jgtr7"),
        ("container", "promtail"),
        (
            "instance",
            "promtail-loki-boltdb-shipper-jgtr7:promtail:http-metrics",
        ),
        ("cluster", "dev-us-central-0"),
        ("__tmp_hash", "1"),
    ]);
    assert_eq!(
        process(&labels(pod), &kubernetes[..18]),
        Some(labels(&want))
    );

    let static_pairs = rules(
        r#"
        - replacement: wwwwww
          target_label: wwwwww
        - replacement: yyyyyyyyyyyy
          target_label: xxxxxxxxx
        - replacement: xxxxxxxxx
          target_label: yyyyyyyyyyyy
        - source_labels: ["something"]
          target_label: with_source_labels
          replacement: value
        - replacement: dropped
          target_label: ${0}
        - replacement: ${0}
          target_label: dropped"#,
    );
    let input = labels(&[("abcdefg01", "hijklmn1"), ("job", "foo")]);
    assert_eq!(
        process(&input, &static_pairs),
        Some(labels(&[
            ("abcdefg01", "hijklmn1"),
            ("job", "foo"),
            ("wwwwww", "wwwwww"),
            ("xxxxxxxxx", "yyyyyyyyyyyy"),
            ("yyyyyyyyyyyy", "xxxxxxxxx"),
            ("with_source_labels", "value"),
        ]))
    );
}

/// Prometheus's `TestConfig_UnmarshalThenMarshal`: a rule is written back with the fields it
/// was read with (the regex only when the file names one), in Prometheus's order.
#[test]
fn rules_are_written_back_as_read() {
    let cases = [
        (
            "source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port]\nseparator: ;\nregex: \\\\d+\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
            "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\nregex: \\\\d+\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
        ),
        (
            "source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port]\nseparator: ;\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: keepequal\n",
            "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: keepequal\n",
        ),
        (
            "source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port]\nseparator: ;\nregex: (.*)\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
            "source_labels:\n- __meta_kubernetes_pod_annotation_prometheus_io_port\nseparator: ;\nregex: (.*)\ntarget_label: __meta_kubernetes_pod_container_port_number\nreplacement: $1\naction: replace\n",
        ),
    ];
    for (input, want) in cases {
        let config = rule(input);
        let written = serde_yaml::to_string(&config).unwrap();
        assert_eq!(written, want);
        assert_eq!(rule(&written), config);
    }
}

#[test]
fn every_rule_survives_writing_and_reading_back() {
    let all = rules(
        r#"
- source_labels: [a, b]
  separator: ""
  regex: "(?i)f(o+)\\d"
  target_label: "x_${1}"
  replacement: ""
- source_labels: [a]
  regex: ""
  action: keep
- source_labels: [a]
  regex: "b|c"
  action: Drop
- source_labels: [a]
  target_label: b
  action: keepequal
- source_labels: [a]
  target_label: b
  action: dropequal
- source_labels: [__address__]
  modulus: 7
  target_label: __tmp_hash
  action: hashmod
- regex: __meta_(.+)
  replacement: m_$1
  action: labelmap
- regex: __tmp.*
  action: labeldrop
- regex: "[a-z_]+"
  action: labelkeep
- source_labels: [a]
  target_label: lower
  action: lowercase
- source_labels: [a]
  target_label: upper
  action: UPPERCASE
"#,
    );
    let written = serde_yaml::to_string(&all).unwrap();
    let again: Vec<RelabelConfig> = serde_yaml::from_str(&written).unwrap();
    assert_eq!(again, all, "{written}");
    // The empty separator, replacement and regex are written out: left out they would read
    // back as the defaults.
    assert!(written.contains("separator: ''"), "{written}");
    assert!(written.contains("replacement: ''"), "{written}");
    assert!(written.contains("regex: ''"), "{written}");
    assert!(written.contains("action: drop\n"), "{written}");
    assert!(written.contains("action: uppercase\n"), "{written}");
    let input = labels(&[("a", "Foo"), ("__meta_x", "1"), ("__tmp_y", "2")]);
    assert_eq!(process(&input, &again), process(&input, &all));
}

#[test]
fn defaults_as_prometheus() {
    let config = rule("target_label: foo\n");
    assert_eq!(config.action(), Action::Replace);
    assert_eq!(config.separator(), ";");
    assert_eq!(config.regex().as_str(), "(.*)");
    assert_eq!(config.replacement(), "$1");
    assert_eq!(config.modulus(), 0);
    assert!(config.source_labels().is_empty());
    assert_eq!(config.target_label(), "foo");
    // The defaults copy the joined source values to the target.
    let config = rule("source_labels: [a, b]\ntarget_label: c\n");
    assert_eq!(
        config.source_labels(),
        [LabelName("a".into()), LabelName("b".into())]
    );
    let out = process(&labels(&[("a", "1"), ("b", "2")]), &[config]).unwrap();
    assert_eq!(out.get("c"), Some("1;2"));
}

#[test]
fn every_action_reads_in_any_case() {
    for action in Action::ALL {
        let name = action.as_str();
        assert_eq!(name.parse::<Action>(), Ok(action));
        assert_eq!(name.to_uppercase().parse::<Action>(), Ok(action));
        let mixed: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(mixed.parse::<Action>(), Ok(action));
        assert_eq!(action.to_string(), name);
        let fields = match action {
            Action::Replace | Action::Lowercase | Action::Uppercase => "target_label: t",
            Action::KeepEqual | Action::DropEqual => "source_labels: [a]\ntarget_label: t",
            Action::HashMod => "target_label: t\nmodulus: 2",
            _ => "regex: x",
        };
        let config = rule(&format!("{fields}\naction: {mixed}\n"));
        assert_eq!(config.action(), action);
        let written = serde_yaml::to_string(&config).unwrap();
        assert!(written.ends_with(&format!("action: {name}\n")), "{written}");
    }
    assert_eq!(
        "replac".parse::<Action>(),
        Err(RelabelError::UnknownAction("replac".into()))
    );
    let err = error_of("- action: Frobnicate\n");
    assert!(
        err.contains(r#"unknown relabel action "Frobnicate""#),
        "{err}"
    );
    let err = error_of("- action: ''\n");
    assert!(err.contains(r#"unknown relabel action """#), "{err}");
}

#[test]
fn regexes_are_anchored_at_both_ends() {
    let keep_foo = rules("- source_labels: [a]\n  regex: foo\n  action: keep\n");
    assert!(process(&labels(&[("a", "foo")]), &keep_foo).is_some());
    for value in ["foobar", "barfoo", "xfoox", "foo\n", ""] {
        assert_eq!(
            process(&labels(&[("a", value)]), &keep_foo),
            None,
            "{value:?}"
        );
    }
    // Alternatives are anchored as a whole, and `.` matches a newline (Prometheus 3).
    let keep = rules("- source_labels: [a]\n  regex: a|b.*\n  action: keep\n");
    assert!(process(&labels(&[("a", "b\nc")]), &keep).is_some());
    assert!(process(&labels(&[("a", "ab")]), &keep).is_none());
    let regex = Regex::new("foo").unwrap();
    assert!(regex.is_match("foo") && !regex.is_match("foobar"));
    assert_eq!(regex.as_str(), "foo");
    assert_eq!(regex.to_string(), "foo");
}

#[test]
fn an_empty_or_null_regex_matches_only_the_empty_value() {
    for written in ["regex:", "regex: ~", "regex: ''"] {
        let keep = rules(&format!(
            "- source_labels: [a]\n  {written}\n  action: keep\n"
        ));
        assert_eq!(keep[0].regex().as_str(), "", "{written}");
        assert!(process(&labels(&[]), &keep).is_some(), "{written}");
        assert!(
            process(&labels(&[("a", "x")]), &keep).is_none(),
            "{written}"
        );
    }
}

#[test]
fn null_fields_take_their_empty_value_as_in_prometheus() {
    // `replacement:` with nothing is the empty replacement, which removes the target.
    let config = rule("source_labels: [a]\ntarget_label: b\nreplacement:\nseparator:\n");
    assert_eq!(config.replacement(), "");
    assert_eq!(config.separator(), "");
    let out = process(&labels(&[("a", "1"), ("b", "2")]), &[config]).unwrap();
    assert_eq!(out, labels(&[("a", "1")]));
    let err = error_of("- action: hashmod\n  modulus:\n  target_label: t\n");
    assert!(err.contains("requires non-zero modulus"), "{err}");
    // A rule that is only `-` is refused, as Prometheus refuses a null rule.
    let err = error_of("- target_label: a\n-\n");
    assert!(err.contains("empty or null relabeling rule"), "{err}");
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn regexes_are_read_with_re2_meaning() {
    let keep_digits = rules("- source_labels: [a]\n  regex: \\d+\n  action: keep\n");
    assert!(process(&labels(&[("a", "42")]), &keep_digits).is_some());
    // Arabic-Indic digits are digits to the `regex` crate but not to RE2.
    assert!(process(&labels(&[("a", "٤٢")]), &keep_digits).is_none());
    let keep_octal = rules("- source_labels: [a]\n  regex: \\141\n  action: keep\n");
    assert!(process(&labels(&[("a", "a")]), &keep_octal).is_some());
}

/// A wrapper as the scrape configuration will hold rules, to see where errors point.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct File {
    scrape_configs: Vec<Job>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Job {
    job_name: String,
    #[serde(default)]
    relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    metric_relabel_configs: Vec<RelabelConfig>,
}

fn file_error(text: &str) -> String {
    serde_yaml::from_str::<File>(text).unwrap_err().to_string()
}

#[test]
fn errors_name_the_line_of_the_rule() {
    let text = "\
scrape_configs:
  - job_name: a
    relabel_configs:
      - source_labels: [x]
        target_label: y
      - source_labels: [x]
        action: hashmod
        target_label: y
";
    let err = file_error(text);
    assert!(
        err.contains("relabel configuration for hashmod requires non-zero modulus"),
        "{err}"
    );
    assert!(err.contains("line 6"), "{err}");
    assert!(err.contains("relabel_configs[1]"), "{err}");

    let text = "\
scrape_configs:
  - job_name: a
  - job_name: b
    metric_relabel_configs:
      - action: labeldrop
        regex: x
      - action: keep
        regex: (
";
    let err = file_error(text);
    assert!(
        err.contains("error parsing regexp: missing closing ): `^(?s:()$`"),
        "{err}"
    );
    assert!(err.contains("line 8"), "{err}");

    let cases = [
        (
            "      - target_label: y\n        regexx: a\n",
            "unknown field `regexx`",
            "line 5",
        ),
        (
            "      - target_label: y\n        action: frob\n",
            "unknown relabel action \"frob\"",
            "line 5",
        ),
        (
            "      - target_label: y\n        source_labels: [ok, 1bad]\n",
            "\"1bad\" is not a valid label name",
            "line 5",
        ),
        (
            "      - target_label: y\n        modulus: -1\n",
            "modulus",
            "line 5",
        ),
        (
            "      - target_label: y\n      - target_label: 'a b'\n",
            "\"a b\" is invalid 'target_label' for replace action",
            "line 5",
        ),
        (
            "      - target_label: y\n      - action: labelmap\n        replacement: 'a-$1'\n",
            "\"a-$1\" is invalid 'replacement' for labelmap action",
            "line 5",
        ),
    ];
    for (rules, what, line) in cases {
        let text = format!("scrape_configs:\n  - job_name: a\n    relabel_configs:\n{rules}");
        let err = file_error(&text);
        assert!(err.contains(what) && err.contains(line), "{text}\n{err}");
    }
}

#[test]
fn bad_regexes_are_named() {
    // Prometheus 3.5.3's errors for these regexes in a relabel rule.
    for (source, message) in [
        ("(", "missing closing ): `^(?s:()$`"),
        (")", "unexpected ): `^(?s:))$`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("\\p{Nope}", "invalid character class range: `\\p{Nope}`"),
        ("*a", "missing argument to repetition operator: `*`"),
    ] {
        let err = Regex::new(source).unwrap_err();
        let RelabelError::InvalidRegex { regex, .. } = &err else {
            panic!("{source}: {err:?}");
        };
        assert_eq!(regex, source);
        assert_eq!(err.to_string(), format!("error parsing regexp: {message}"));
    }
    // RE2's quoting, which Prometheus accepts.
    assert!(Regex::new("\\Qa.b\\E").unwrap().is_match("a.b"));
    // Prometheus wraps before parsing, so this odd text is a valid regex to it, and here.
    let odd = Regex::new("a)|(b").unwrap();
    assert_eq!(odd.as_str(), "a)|(b");
}

#[test]
fn replace_expands_as_go_does() {
    let cases = [
        // `$1x` is the group named `1x`, which does not exist: the label is removed.
        ("f(.*)", "$1x", Some("")),
        ("f(.*)", "${1}x", Some("oox")),
        ("f(.*)", "$$1", Some("$1")),
        ("f(.*)", "$", Some("$")),
        ("f(?P<rest>.*)", "<$rest>", Some("<oo>")),
        ("f(?P<rest>.*)", "$rest_x", Some("")),
        ("f(.*)", "$01", Some("")),
        ("f(.*)", "$0", Some("foo")),
        ("g(.*)", "$1", None),
    ];
    for (regex, replacement, want) in cases {
        let yaml = format!(
            "- source_labels: [a]\n  regex: {regex:?}\n  target_label: b\n  replacement: {replacement:?}\n"
        );
        let out = process(&labels(&[("a", "foo"), ("b", "old")]), &rules(&yaml)).unwrap();
        let want = match want {
            None => Some("old"),
            Some("") => None,
            Some(value) => Some(value),
        };
        assert_eq!(out.get("b"), want, "{yaml}");
    }
}

#[test]
fn an_expanded_target_that_is_no_label_name_is_skipped() {
    let yaml = "- source_labels: [a]\n  regex: (.*)\n  target_label: x_$1\n  replacement: v\n";
    let out = process(&labels(&[("a", "ok")]), &rules(yaml)).unwrap();
    assert_eq!(out.get("x_ok"), Some("v"));
    let input = labels(&[("a", "no-no")]);
    assert!(process(&input, &rules(yaml)).unwrap().ptr_eq(&input));
}

#[test]
fn hashmod_matches_prometheus() {
    // Prometheus's own table gives 976 for "baz" and 734 for "foo\nbar" modulo 1000; Go's
    // md5 gives bucket 1 of 3 for "10.132.183.40:80".
    for (value, modulus, bucket) in [
        ("baz", 1000, "976"),
        ("foo\nbar", 1000, "734"),
        ("10.132.183.40:80", 3, "1"),
        ("", 1, "0"),
    ] {
        let yaml = format!(
            "- source_labels: [a]\n  target_label: h\n  modulus: {modulus}\n  action: hashmod\n"
        );
        let out = process(&labels(&[("a", value)]), &rules(&yaml)).unwrap();
        assert_eq!(out.get("h"), Some(bucket), "{value:?}");
    }
}

#[test]
fn labelmap_collisions_resolve_as_in_prometheus() {
    // Untouched labels are visited in order, then labels added earlier in the run in the order
    // they were added; the last copy wins.
    let rules = rules(
        "
- source_labels: [z]
  target_label: __meta_a_x
- regex: __meta_[a-z]_(x)
  action: labelmap
",
    );
    let input = labels(&[("__meta_b_x", "from b"), ("z", "from a")]);
    let out = process(&input, &rules).unwrap();
    assert_eq!(out.get("x"), Some("from a"));
    // Without the earlier rule the sorted order decides.
    let input = labels(&[("__meta_a_x", "from a"), ("__meta_b_x", "from b")]);
    let out = process(&input, &rules[1..]).unwrap();
    assert_eq!(out.get("x"), Some("from b"));
}

#[test]
fn labelmap_reads_the_labels_as_they_were() {
    // `a` is copied to `b` and `b` to `c` in one rule: `c` gets the old `b`.
    let rules = rules("- regex: ([ab])\n  replacement: ${1}_\n  action: labelmap\n- regex: (a_|b_)\n  action: labelmap\n");
    let out = process(&labels(&[("a", "1"), ("b", "2")]), &rules).unwrap();
    assert_eq!(
        out,
        labels(&[("a", "1"), ("a_", "1"), ("b", "2"), ("b_", "2")])
    );
    let shift = self::rules("- regex: (a|b)\n  replacement: b\n  action: labelmap\n");
    let out = process(&labels(&[("a", "1"), ("b", "2")]), &shift).unwrap();
    // Both map to `b`; `b` is visited last.
    assert_eq!(out, labels(&[("a", "1"), ("b", "2")]));
}

#[test]
fn case_actions_map_like_go() {
    let rules = rules(
        "- source_labels: [a]\n  target_label: up\n  action: uppercase\n- source_labels: [a]\n  target_label: down\n  action: lowercase\n",
    );
    let out = process(&labels(&[("a", "Straße İZMİR ΟΔΟΣ")]), &rules).unwrap();
    // Go maps character by character: ß stays, İ becomes i, a final Σ becomes σ.
    assert_eq!(out.get("up"), Some("STRAßE İZMİR ΟΔΟΣ"));
    assert_eq!(out.get("down"), Some("straße izmir οδοσ"));
    // An empty source value removes the target.
    let out = process(&labels(&[("up", "x")]), &rules).unwrap();
    assert_eq!(out, labels(&[]));
}

#[test]
fn keepequal_and_dropequal_compare_absent_labels_as_empty() {
    let keep = rules("- source_labels: [a]\n  target_label: b\n  action: keepequal\n");
    assert!(process(&labels(&[]), &keep).is_some());
    assert!(process(&labels(&[("a", "1")]), &keep).is_none());
    let drop = rules("- source_labels: [a, c]\n  target_label: b\n  action: dropequal\n");
    assert!(process(&labels(&[("a", "1"), ("b", "1;")]), &drop).is_none());
    assert!(process(&labels(&[("a", "1"), ("b", "1")]), &drop).is_some());
}

#[test]
fn no_rule_or_no_change_hands_back_the_same_set() {
    let input = labels(&[("a", "1"), ("job", "x")]);
    assert!(process(&input, &[]).unwrap().ptr_eq(&input));
    let nothing_to_do = rules(
        "
- source_labels: [a]
  regex: nomatch
  target_label: b
- source_labels: [a]
  regex: '2'
  action: drop
- regex: __meta_.*
  action: labeldrop
- source_labels: [a]
  target_label: a
",
    );
    let out = process(&input, &nothing_to_do).unwrap();
    assert!(out.ptr_eq(&input), "{out}");
}

#[test]
fn rules_show_their_fields() {
    let config = rule("source_labels: [a]\nregex: x(.)\ntarget_label: b\n");
    let shown = format!("{config:?}");
    for part in [
        "source_labels: [LabelName(\"a\")]",
        "regex: Regex(\"x(.)\")",
        "target_label: \"b\"",
        "action: Replace",
    ] {
        assert!(shown.contains(part), "{shown}");
    }
}
