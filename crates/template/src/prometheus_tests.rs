//! Prometheus's `template/template_test.go` (`TestTemplateExpansion`), case by case: the same
//! template texts, data, query results and expected output or error text. Cases of
//! `ExpandHTML` (console templates) and of the `missingkey=error` option are left out: alert
//! templates are always expanded as text with `missingkey=zero`.

use std::rc::Rc;

use narthex_model::Labels;

use super::{Expander, QuerySample, TemplateError};
use crate::value::Value;

const EXTERNAL_URL: &str = "http://testhost:9090/path/prefix";

struct Scenario {
    text: &'static str,
    input: Value,
    query_result: Vec<QuerySample>,
    expected: Result<&'static str, &'static str>,
}

fn ok(text: &'static str, output: &'static str) -> Scenario {
    Scenario {
        text,
        input: Value::Invalid,
        query_result: Vec::new(),
        expected: Ok(output),
    }
}

fn fail(text: &'static str, error: &'static str) -> Scenario {
    Scenario {
        text,
        input: Value::Invalid,
        query_result: Vec::new(),
        expected: Err(error),
    }
}

impl Scenario {
    fn input(mut self, input: Value) -> Scenario {
        self.input = input;
        self
    }

    fn query(mut self, result: Vec<QuerySample>) -> Scenario {
        self.query_result = result;
        self
    }
}

fn floats(v: &[f64]) -> Value {
    Value::List(
        Rc::new(v.iter().map(|f| Value::Float(*f)).collect()),
        "[]float64",
    )
}

fn strings(v: &[&str]) -> Value {
    Value::List(
        Rc::new(v.iter().map(|s| Value::str(s)).collect()),
        "[]string",
    )
}

fn int64s(v: &[i64]) -> Value {
    Value::List(
        Rc::new(v.iter().map(|i| Value::Int64(*i)).collect()),
        "[]int64",
    )
}

fn ints(v: &[i64]) -> Value {
    Value::List(Rc::new(v.iter().map(|i| Value::Int(*i)).collect()), "[]int")
}

fn uint64s(v: &[u64]) -> Value {
    Value::List(
        Rc::new(v.iter().map(|u| Value::Uint(*u)).collect()),
        "[]uint64",
    )
}

fn sample(pairs: &[(&str, &str)], value: f64) -> QuerySample {
    QuerySample {
        labels: Labels::from_pairs(pairs.iter().copied()),
        value,
    }
}

fn run(s: &Scenario) -> Result<String, TemplateError> {
    let query_result = s.query_result.clone();
    let query = move |_: &str, _: i64| Ok(query_result.clone());
    Expander::without_prelude("test", s.text)?.execute(s.input.clone(), &query, 0, EXTERNAL_URL)
}

#[test]
fn template_expansion() {
    let metric_a = || vec![sample(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    let scenarios = vec![
        // No template.
        ok("plain text", "plain text"),
        // Simple value.
        ok("{{ 1 }}", "1"),
        // Non-ASCII space (not allowed in text/template).
        fail(
            "{{\u{a0}}}",
            "error parsing template test: template: test:1: unrecognized character in action: U+00A0",
        ),
        // HTML escaping doesn't apply to non-html.
        ok("{{ \"<b>\" }}", "<b>"),
        // Pass multiple arguments to templates.
        ok("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}", "1 2"),
        ok("{{ query \"1.5\" | first | value }}", "1.5").query(vec![sample(&[], 1.5)]),
        // Get value from query.
        ok("{{ query \"metric{instance='a'}\" | first | value }}", "11").query(metric_a()),
        // Get label from query.
        ok("{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", "a")
            .query(metric_a()),
        // Get label "__value__" from query.
        ok("{{ query \"metric{__value__='a'}\" | first | strvalue }}", "a")
            .query(vec![sample(&[("__name__", "metric"), ("__value__", "a")], 11.0)]),
        // Missing label is empty when using label function.
        ok("{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", "").query(metric_a()),
        // Missing label is empty when not using label function.
        ok("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", "").query(metric_a()),
        // Range over query and sort by label.
        ok(
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            "a:11: b:21: ",
        )
        .query(vec![
            sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
            sample(&[("__name__", "metric"), ("instance", "a")], 11.0),
        ]),
        // stripPort.
        ok("{{ \"foo.example.com\" | stripPort }}", "foo.example.com"),
        ok("{{ \"foo.example.com:12345\" | stripPort }}", "foo.example.com"),
        ok("{{ \"192.0.2.1\" | stripPort }}", "192.0.2.1"),
        ok("{{ \"192.0.2.1:12345\" | stripPort }}", "192.0.2.1"),
        ok("{{ \"2001:0DB8::1\" | stripPort }}", "2001:0DB8::1"),
        ok("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", "2001:0DB8::1"),
        ok("{{ \"[2001:0DB8::1]::12345\" | stripPort }}", "[2001:0DB8::1]::12345"),
        // Missing value is no value for nil options.
        ok("{{ .Foo }}", "<no value>"),
        // Unparsable template.
        fail("{{", "error parsing template test: template: test:1: unclosed action"),
        // Error in function.
        fail(
            "{{ query \"missing\" | first }}",
            "error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements",
        ),
        // Panic.
        fail(
            "{{ (query \"missing\").banana }}",
            "error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult",
        ),
        // Regex replacement.
        ok("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
        // Humanize - float64.
        ok("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:120m:")
            .input(floats(&[0.0, 1.0, 1234567.0, 0.12])),
        // Humanize - string.
        ok("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:120m:")
            .input(strings(&["0.0", "1.0", "1234567.0", ".12"])),
        // Humanize - string with error.
        fail(
            "{{ humanize \"one\" }}",
            "error executing template test: template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax",
        ),
        // Humanize - int.
        ok("{{ range . }}{{ humanize . }}:{{ end }}", "0:-1:1:1.235M:9.223E:")
            .input(int64s(&[0, -1, 1, 1234567, i64::MAX])),
        // Humanize - uint.
        ok("{{ range . }}{{ humanize . }}:{{ end }}", "0:1:1.235M:18.45E:")
            .input(uint64s(&[0, 1, 1234567, u64::MAX])),
        // Humanize1024 - float64.
        ok("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1Mi:0.12:")
            .input(floats(&[0.0, 1.0, 1048576.0, 0.12])),
        // Humanize1024 - string.
        ok("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1Mi:0.12:")
            .input(strings(&["0.0", "1.0", "1048576.0", ".12"])),
        // Humanize1024 - string with error.
        fail(
            "{{ humanize1024 \"one\" }}",
            "error executing template test: template: test:1:3: executing \"test\" at <humanize1024 \"one\">: error calling humanize1024: strconv.ParseFloat: parsing \"one\": invalid syntax",
        ),
        // Humanize1024 - int.
        ok("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:-1:1:1.177Mi:8Ei:")
            .input(int64s(&[0, -1, 1, 1234567, i64::MAX])),
        // Humanize1024 - uint.
        ok("{{ range . }}{{ humanize1024 . }}:{{ end }}", "0:1:1.177Mi:16Ei:")
            .input(uint64s(&[0, 1, 1234567, u64::MAX])),
        // HumanizeDuration - seconds - float64.
        ok(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
        )
        .input(floats(&[
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
        ])),
        // HumanizeDuration - seconds - string.
        ok(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
        )
        .input(strings(&["0", "1", "60", "3600", "86400"])),
        // HumanizeDuration - subsecond and fractional seconds - float64.
        ok(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        )
        .input(floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345])),
        // HumanizeDuration - subsecond and fractional seconds - string.
        ok(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        )
        .input(strings(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"])),
        // HumanizeDuration - string with error.
        fail(
            "{{ humanizeDuration \"one\" }}",
            "error executing template test: template: test:1:3: executing \"test\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax",
        ),
        // HumanizeDuration - int.
        ok(
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            "0s:-1s:1s:14d 6h 56m 7s:",
        )
        .input(ints(&[0, -1, 1, 1234567])),
        // HumanizeDuration - uint.
        ok("{{ range . }}{{ humanizeDuration . }}:{{ end }}", "0s:1s:14d 6h 56m 7s:")
            .input(uint64s(&[0, 1, 1234567])),
        // Humanize* Inf and NaN - float64.
        ok(
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        )
        .input(floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN])),
        // Humanize* Inf and NaN - string.
        ok(
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        )
        .input(strings(&["+Inf", "-Inf", "NaN"])),
        // HumanizePercentage - model.SampleValue input - float64.
        ok(
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        // HumanizePercentage - int.
        ok(
            "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
            "0%:-100%:100%:1.235e+08%:9.223e+20%:",
        )
        .input(int64s(&[0, -1, 1, 1234567, i64::MAX])),
        // HumanizePercentage - uint.
        ok(
            "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
            "0%:100%:1.235e+08%:1.845e+21%:",
        )
        .input(uint64s(&[0, 1, 1234567, u64::MAX])),
        // HumanizePercentage - model.SampleValue input - string.
        ok(
            "{{ \"-0.22222\" | humanizePercentage }}:{{ \"0.0\" | humanizePercentage }}:{{ \"0.1234567\" | humanizePercentage }}:{{ \"1.23456\" | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        // HumanizePercentage - model.SampleValue input - string with error.
        fail(
            "{{ \"one\" | humanizePercentage }}",
            "error executing template test: template: test:1:11: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax",
        ),
        // HumanizeTimestamp - int.
        ok(
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
        )
        .input(int64s(&[0, -1, 1, 1234567, 9223372036])),
        // HumanizeTimestamp - uint.
        ok(
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            "1970-01-01 00:00:00 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
        )
        .input(uint64s(&[0, 1, 1234567, 9223372036])),
        // HumanizeTimestamp - int with error.
        fail(
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            "error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64",
        )
        .input(int64s(&[i64::MIN, i64::MAX])),
        // HumanizeTimestamp - uint with error.
        fail(
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            "error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64",
        )
        .input(uint64s(&[u64::MAX])),
        // HumanizeTimestamp - model.SampleValue input - float64.
        ok("{{ 1435065584.128 | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        // HumanizeTimestamp - model.SampleValue input - string.
        ok("{{ \"1435065584.128\" | humanizeTimestamp }}", "2015-06-23 13:19:44.128 +0000 UTC"),
        // ToTime - model.SampleValue input - float64.
        ok("{{ (1435065584.128 | toTime).Format \"2006\" }}", "2015"),
        // ToTime - model.SampleValue input - string.
        ok("{{ (\"1435065584.128\" | toTime).Format \"2006\" }}", "2015"),
        // Title.
        ok("{{ \"aa bb CC\" | title }}", "Aa Bb CC"),
        // toUpper.
        ok("{{ \"aa bb CC\" | toUpper }}", "AA BB CC"),
        // toLower.
        ok("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
        // Match.
        ok("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", "true false"),
        // graphLink.
        ok("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"),
        // tableLink.
        ok("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        // pathPrefix.
        ok("{{ pathPrefix }}", "/path/prefix"),
        // externalURL.
        ok("{{ externalURL }}", "http://testhost:9090/path/prefix"),
        // parseDuration (using printf to ensure the return is a string).
        ok("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", "3720.01"),
        // stripDomain.
        ok("{{ \"foo.example.com\" | stripDomain }}", "foo"),
        ok("{{ \"foo.example.com:12345\" | stripDomain }}", "foo:12345"),
        ok("{{ \"192.0.2.1\" | stripDomain }}", "192.0.2.1"),
        ok("{{ \"192.0.2.1:12345\" | stripDomain }}", "192.0.2.1:12345"),
        ok("{{ \"2001:0DB8::1\" | stripDomain }}", "2001:0DB8::1"),
        ok("{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", "[2001:0DB8::1]:12345"),
        ok("{{ \"[2001:0DB8::1]::12345\" | stripDomain }}", "[2001:0DB8::1]::12345"),
    ];

    let mut failures = Vec::new();
    for s in &scenarios {
        let got = run(s);
        let matches = match (&got, &s.expected) {
            (Ok(out), Ok(want)) => out == want,
            (Err(e), Err(want)) => e.to_string() == *want,
            _ => false,
        };
        if !matches {
            failures.push(format!(
                "{:?}\n   want {:?}\n    got {:?}",
                s.text,
                s.expected,
                got.map_err(|e| e.to_string())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
