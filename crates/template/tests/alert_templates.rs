//! Alert templates through the public API, as the rule engine uses it: the `$labels` /
//! `$value` / `$externalLabels` / `$externalURL` prelude, `query` with a fake query function,
//! Go's number formats and comparison rules, load-time checks and error texts (whose
//! positions count the prelude, as in Prometheus).

use std::cell::RefCell;

use narthex_model::Labels;
use narthex_template::{
    alert_template_name, check, error_annotation, expand, Expander, NoQuery, QuerySample,
    TemplateData, TemplateError, ALERT_PRELUDE,
};

const NAME: &str = "__alert_HighLatency";

struct Fixture {
    labels: Labels,
    external: Labels,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            labels: Labels::from_pairs([
                ("instance", "db1.example.com:9100"),
                ("job", "node"),
                ("severity", "critical"),
            ]),
            external: Labels::from_pairs([("cluster", "eu-1")]),
        }
    }

    fn data(&self, value: f64) -> TemplateData<'_> {
        TemplateData {
            labels: &self.labels,
            external_labels: &self.external,
            external_url: "http://prom.example.com:9090/prometheus",
            value,
        }
    }
}

fn render(text: &str, value: f64) -> String {
    let f = Fixture::new();
    expand(NAME, text, &f.data(value), &NoQuery, 0).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn render_err(text: &str, value: f64) -> String {
    let f = Fixture::new();
    match expand(NAME, text, &f.data(value), &NoQuery, 0) {
        Ok(out) => panic!("{text}: expected an error, got {out:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn prelude_variables_and_fields() {
    assert_eq!(
        render(
            "{{ $labels.instance }} is down, value {{ $value | humanize }}",
            1234567.0
        ),
        "db1.example.com:9100 is down, value 1.235M"
    );
    assert_eq!(render("{{ .Labels.job }}/{{ .Value }}", 2.5), "node/2.5");
    assert_eq!(render("{{ $externalLabels.cluster }}", 0.0), "eu-1");
    assert_eq!(render("{{ .ExternalLabels.cluster }}", 0.0), "eu-1");
    assert_eq!(
        render("{{ $externalURL }}", 0.0),
        "http://prom.example.com:9090/prometheus"
    );
    assert_eq!(
        render("{{ pathPrefix }}|{{ externalURL }}", 0.0),
        "/prometheus|http://prom.example.com:9090/prometheus"
    );
    // missingkey=zero on map[string]string: a missing label is empty, not "<no value>".
    assert_eq!(
        render("[{{ $labels.nope }}][{{ index $labels \"nope\" }}]", 0.0),
        "[][]"
    );
    assert_eq!(
        render(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0
        ),
        "instance=db1.example.com:9100;job=node;severity=critical;"
    );
    assert_eq!(
        render("{{ len $labels }} {{ $labels }}", 0.0),
        "3 map[instance:db1.example.com:9100 job:node severity:critical]"
    );
    assert_eq!(
        render("{{ .Labels.instance | stripPort | stripDomain }}", 0.0),
        "db1"
    );
}

#[test]
fn values_print_as_go_prints_float64() {
    let cases: &[(f64, &str)] = &[
        (0.1, "0.1"),
        (1.0, "1"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (0.00001, "1e-05"),
        (-3.25, "-3.25"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ];
    for (v, want) in cases {
        assert_eq!(render("{{ $value }}", *v), *want, "{v}");
        assert_eq!(render("{{ printf \"%v\" $value }}", *v), *want, "{v}");
    }
    assert_eq!(render("{{ printf \"%.2f\" $value }}", 1.23456), "1.23");
    assert_eq!(render("{{ $value | printf \"%.1f%%\" }}", 99.95), "100.0%");
    assert_eq!(render("{{ printf \"%d\" 1.5 }}", 0.0), "%!d(float64=1.5)");
    assert_eq!(render("{{ printf \"%s\" $value }}", 2.0), "%!s(float64=2)");
    assert_eq!(
        render("{{ printf \"%5.1f|%-6s|%q\" $value \"ab\" \"c\" }}", 2.25),
        "  2.2|ab    |\"c\""
    );
}

#[test]
fn humanize_functions_and_their_edge_cases() {
    let cases: &[(&str, f64, &str)] = &[
        ("humanize", 1234567.0, "1.235M"),
        ("humanize", -1234.0, "-1.234k"),
        ("humanize", 0.0, "0"),
        ("humanize", -0.001, "-1m"),
        ("humanize", 1e-30, "1e-06y"),
        ("humanize", 1e30, "1e+06Y"),
        ("humanize", f64::NAN, "NaN"),
        ("humanize", f64::NEG_INFINITY, "-Inf"),
        ("humanize1024", 1048576.0, "1Mi"),
        ("humanize1024", -2048.0, "-2ki"),
        ("humanize1024", 0.5, "0.5"),
        ("humanize1024", f64::INFINITY, "+Inf"),
        ("humanizeDuration", 3661.0, "1h 1m 1s"),
        ("humanizeDuration", 1e10, "115740d 17h 46m 40s"),
        ("humanizeDuration", -0.5, "-500ms"),
        ("humanizeDuration", 0.0, "0s"),
        ("humanizeDuration", 1.5e-9, "1.5ns"),
        ("humanizeDuration", f64::NAN, "NaN"),
        ("humanizePercentage", 0.1234, "12.34%"),
        ("humanizePercentage", -0.5, "-50%"),
        ("humanizePercentage", 12345.0, "1.234e+06%"),
        ("humanizePercentage", f64::NAN, "NaN%"),
        (
            "humanizeTimestamp",
            1435065584.128,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("humanizeTimestamp", -1.5, "1969-12-31 23:59:58.5 +0000 UTC"),
        ("humanizeTimestamp", f64::INFINITY, "+Inf"),
    ];
    for (func, v, want) in cases {
        assert_eq!(
            render(&format!("{{{{ $value | {func} }}}}"), *v),
            *want,
            "{func} {v}"
        );
    }
    assert_eq!(render("{{ \"1e3\" | humanize }}", 0.0), "1k");
    assert_eq!(
        render_err("{{ humanizeTimestamp 1e300 }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <humanizeTimestamp 1e300>: error calling humanizeTimestamp: 1e+300 cannot be represented as a nanoseconds timestamp since it overflows int64"
    );
    assert_eq!(
        render_err("{{ humanize true }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <humanize true>: error calling humanize: can't convert bool to float"
    );
}

#[test]
fn query_first_value_with_a_fake_query_function() {
    let f = Fixture::new();
    let seen = RefCell::new(Vec::new());
    let query = |expr: &str, at: i64| {
        seen.borrow_mut().push((expr.to_string(), at));
        Ok(vec![
            QuerySample {
                labels: Labels::from_pairs([("job", "node"), ("instance", "b")]),
                value: 0.25,
            },
            QuerySample {
                labels: Labels::from_pairs([("job", "node"), ("instance", "a")]),
                value: 1e6,
            },
        ])
    };
    let data = f.data(1.0);
    let run = |text: &str| expand(NAME, text, &data, &query, 1_700_000_000_000).unwrap();
    assert_eq!(run("{{ query \"up\" | first | value }}"), "0.25");
    assert_eq!(
        run("{{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}"),
        "b"
    );
    assert_eq!(run("{{ len (query \"up\") }}"), "2");
    assert_eq!(
        run("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}"),
        "a=1e+06 b=0.25 "
    );
    assert_eq!(run("{{ (index (query \"up\") 1).Value | humanize }}"), "1M");
    assert_eq!(
        run("{{ query \"up\" | first }}"),
        "{map[instance:b job:node] 0.25}"
    );
    assert_eq!(
        run(
            "{{ query (printf \"rate(x{instance=%q}[5m])\" $labels.instance) | first | strvalue }}"
        ),
        ""
    );
    // The query runs at the evaluation time.
    assert_eq!(seen.borrow()[0], ("up".to_string(), 1_700_000_000_000));
    assert_eq!(
        seen.borrow().last().map(|(e, _)| e.clone()),
        Some("rate(x{instance=\"db1.example.com:9100\"}[5m])".to_string())
    );

    let empty = |_: &str, _: i64| Ok(Vec::new());
    let err = expand(NAME, "{{ query \"up\" | first | value }}", &data, &empty, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:128: executing \"__alert_HighLatency\" at <first>: error calling first: first() called on vector with no elements"
    );
    let failing = |_: &str, _: i64| Err("parse error: unexpected end of input".to_string());
    let err = expand(NAME, "{{ query \"up{\" }}", &data, &failing, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <query \"up{\">: error calling query: parse error: unexpected end of input"
    );
}

#[test]
fn go_comparison_and_control_flow_rules() {
    assert_eq!(
        render("{{ if gt $value 10.0 }}high{{ else }}low{{ end }}", 12.0),
        "high"
    );
    assert_eq!(
        render(
            "{{ if eq $labels.severity \"critical\" \"page\" }}page{{ end }}",
            0.0
        ),
        "page"
    );
    assert_eq!(
        render(
            "{{ if and (gt $value 1.0) (lt $value 5.0) }}in{{ else if ge $value 5.0 }}hi{{ end }}",
            7.0
        ),
        "hi"
    );
    assert_eq!(render("{{ or $labels.nope \"default\" }}", 0.0), "default");
    assert_eq!(render("{{ not (eq $value 0.0) }}", 0.0), "false");
    assert_eq!(render("{{ range $i := 3 }}{{ $i }}{{ end }}", 0.0), "012");
    assert_eq!(
        render_err("{{ range $i, $e := 3 }}{{ $i }}{{ end }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:121: executing \"__alert_HighLatency\" at <{{range $i, $e := 3}}{{$i}}{{end}}>: can't use 3 to iterate over more than one variable"
    );
    assert_eq!(
        render(
            "{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            0.0
        ),
        "012"
    );
    assert_eq!(
        render(
            "{{ range 4 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            0.0
        ),
        "023"
    );
    assert_eq!(
        render("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0),
        "none"
    );
    assert_eq!(
        render("a  {{- $value -}}  b {{/* a comment */}}c", 1.0),
        "a1b c"
    );
    assert_eq!(
        render(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            0.0
        ),
        "2"
    );
    assert_eq!(
        render(
            "{{ define \"sev\" }}[{{ . }}]{{ end }}{{ template \"sev\" $labels.severity }}",
            0.0
        ),
        "[critical]"
    );
    assert_eq!(
        render(
            "{{ title \"hello world\" }} {{ toUpper \"abc\" }} {{ toLower \"ABC\" }}",
            0.0
        ),
        "Hello World ABC abc"
    );
    assert_eq!(
        render(
            r#"{{ reReplaceAll "(.*):\\d+" "$1" $labels.instance }}"#,
            0.0
        ),
        "db1.example.com"
    );
    assert_eq!(
        render(
            r#"{{ match "^\\d+$" "١٢" }} {{ match "^\\d+$" "12" }}"#,
            0.0
        ),
        "false true"
    );
    assert_eq!(
        render(
            "{{ html \"<a&b>\" }} {{ js \"it's\" }} {{ urlquery \"a b&c\" }}",
            0.0
        ),
        "&lt;a&amp;b&gt; it\\'s a+b%26c"
    );
    assert_eq!(
        render("{{ print 1 2 \"a\" \"b\" 3 }}|{{ println \"x\" 1 }}", 0.0),
        "1 2ab3|x 1\n"
    );
    assert_eq!(
        render("{{ graphLink \"rate(up[5m])\" }}", 0.0),
        "/graph?g0.expr=rate%28up%5B5m%5D%29&g0.tab=0"
    );
    assert_eq!(
        render("{{ \"x\" | safeHtml }}{{ slice \"abcdef\" 1 3 }}", 0.0),
        "xbc"
    );

    // Go refuses to compare float64 with int: Prometheus users write 10.0.
    assert_eq!(
        render_err("{{ if gt $value 10 }}high{{ end }}", 12.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:118: executing \"__alert_HighLatency\" at <gt $value 10>: error calling gt: incompatible types for comparison"
    );
    assert_eq!(
        render_err("{{ .Foo }}", 0.0),
        format!("error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <.Foo>: can't evaluate field Foo in type {}", "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }")
    );
    assert_eq!(
        render_err("{{ toUpper 1 }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:123: executing \"__alert_HighLatency\" at <1>: expected string; found 1"
    );
    assert_eq!(
        render_err("{{ $value | toUpper }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:124: executing \"__alert_HighLatency\" at <toUpper>: wrong type for value; expected string; got float64"
    );
    assert_eq!(
        render_err("{{ template \"x\" }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:124: executing \"__alert_HighLatency\" at <{{template \"x\"}}>: template \"x\" not defined"
    );
    assert_eq!(
        render_err("{{ reReplaceAll \"(\" \"\" \"a\" }}", 0.0),
        "error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <reReplaceAll \"(\" \"\" \"a\">: error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"
    );
}

#[test]
fn time_and_duration_functions() {
    let f = Fixture::new();
    let data = f.data(90.0);
    let run = |text: &str| expand(NAME, text, &data, &NoQuery, 1_700_000_000_123).unwrap();
    assert_eq!(run("{{ now }}"), "1.700000000123e+09");
    // As in Go, seconds×1e9 in float64 truncated to milliseconds loses the last one here.
    assert_eq!(
        run("{{ now | humanizeTimestamp }}"),
        "2023-11-14 22:13:20.122 +0000 UTC"
    );
    assert_eq!(
        run("{{ (now | toTime).Format \"2006-01-02T15:04:05Z07:00\" }}"),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(
        run("{{ now | toTime }}"),
        "2023-11-14 22:13:20.122 +0000 UTC"
    );
    assert_eq!(
        run("{{ (now | toTime).Unix }} {{ (now | toTime).Year }}"),
        "1700000000 2023"
    );
    assert_eq!(run("{{ $value | toDuration }}"), "1m30s");
    assert_eq!(
        run("{{ (90.5 | toDuration).Seconds }} {{ printf \"%v\" (3661 | toDuration) }}"),
        "90.5 1h1m1s"
    );
    assert_eq!(
        run("{{ ((3601 | toDuration).Round 60000000000).String }}"),
        "1h0m0s"
    );
    assert_eq!(
        run("{{ printf \"%.1f\" (parseDuration \"-1h30m\") }}"),
        "-5400.0"
    );
    let err = expand(NAME, "{{ parseDuration \"1x\" }}", &data, &NoQuery, 0).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("error calling parseDuration: not a valid duration string: \"1x\""),
        "{err}"
    );
    let err = expand(NAME, "{{ toTime \"NaN\" }}", &data, &NoQuery, 0).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("error calling toTime: value is NaN or Inf"),
        "{err}"
    );
}

#[test]
fn load_time_checks_report_go_parse_errors() {
    let name = alert_template_name("a");
    assert_eq!(name, "__alert_a");
    let detail = |text: &str| match check(&name, text) {
        Err(e @ TemplateError::Parse { .. }) => e.detail().to_string(),
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(
        check(&name, "{{ $labels.instance }} {{ $value | humanize }}"),
        Ok(())
    );
    assert_eq!(
        detail("{{ broken"),
        "template: __alert_a:1: function \"broken\" not defined"
    );
    assert_eq!(
        detail("{{ .broken"),
        "template: __alert_a:1: unclosed action"
    );
    assert_eq!(
        detail("{{ if .X }}a"),
        "template: __alert_a:1: unexpected EOF"
    );
    assert_eq!(
        detail("a{{ end }}b"),
        "template: __alert_a:1: unexpected {{end}}"
    );
    assert_eq!(
        detail("a{{ else }}b"),
        "template: __alert_a:1: unexpected {{else}}"
    );
    assert_eq!(
        detail("{{ if 1 }}{{ else }}{{ else }}{{ end }}"),
        "template: __alert_a:1: expected end; found {{else}}"
    );
    assert_eq!(
        detail("{{ $x }}"),
        "template: __alert_a:1: undefined variable \"$x\""
    );
    assert_eq!(
        detail("{{ break }}"),
        "template: __alert_a:1: {{break}} outside {{range}}"
    );
    assert_eq!(
        detail("{{ .X | 3 }}"),
        "template: __alert_a:1: non executable command in pipeline stage 2"
    );
    assert_eq!(
        detail("{{ }}"),
        "template: __alert_a:1: missing value for command"
    );
    assert_eq!(
        detail("line 1\nline 2 {{ if }}"),
        "template: __alert_a:2: missing value for if"
    );
    assert_eq!(
        detail("{{ \"abc }}"),
        "template: __alert_a:1: unterminated quoted string"
    );
    assert_eq!(
        detail("{{ 3x }}"),
        "template: __alert_a:1: bad number syntax: \"3x\""
    );
    assert_eq!(
        detail("{{ (1 }}"),
        "template: __alert_a:1: unclosed left paren"
    );
    assert_eq!(
        check(&name, "{{ if").unwrap_err().to_string(),
        "error parsing template __alert_a: template: __alert_a:1: unclosed action"
    );
}

#[test]
fn error_annotation_text_and_reuse() {
    let f = Fixture::new();
    let err = expand(
        NAME,
        "{{ query \"up\" | first }}",
        &f.data(0.0),
        &NoQuery,
        0,
    )
    .unwrap_err();
    assert_eq!(
        error_annotation(&err),
        "<error expanding template: error executing template __alert_HighLatency: template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <query \"up\">: error calling query: queries are not available here>"
    );

    // Parsed once, expanded per alert.
    let expander = Expander::new(NAME, "{{ $labels.job }}={{ $value }}").unwrap();
    let other = Labels::from_pairs([("job", "api")]);
    let mut data = f.data(1.5);
    assert_eq!(expander.expand(&data, &NoQuery, 0).unwrap(), "node=1.5");
    data.labels = &other;
    data.value = 2.0;
    assert_eq!(expander.expand(&data, &NoQuery, 0).unwrap(), "api=2");
    assert!(ALERT_PRELUDE.starts_with("{{$labels := .Labels}}"));
}

#[test]
fn deep_nesting_is_bounded_and_expanders_are_shareable() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Expander>();
    shareable::<TemplateError>();

    let nested = |n: usize| format!("{}x{}", "{{ if true }}".repeat(n), "{{ end }}".repeat(n));
    assert_eq!(render(&nested(90), 0.0), "x");
    let parens = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
    assert_eq!(render(&parens(90), 0.0), "1");
    for text in [nested(1000), parens(1000)] {
        let err = check("t", &text).unwrap_err();
        assert_eq!(err.detail(), "template: t:1: max expression depth exceeded");
    }
    let err = render_err(
        "{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}",
        0.0,
    );
    assert!(
        err.ends_with(
            "executing \"a\" at <{{template \"a\"}}>: exceeded maximum template depth (100)"
        ),
        "{err}"
    );
    // Ranges are lazy: this would not fit in memory as a list.
    assert_eq!(
        render(
            "{{ range 1000000000000 }}{{ if eq . 2 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            0.0
        ),
        "01"
    );
}
