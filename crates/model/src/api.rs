//! The JSON of the Prometheus HTTP API, written byte for byte as Prometheus writes it.
//!
//! Grafana and other clients parse these documents, so numbers and strings follow Go's
//! formatting: sample values are strings in `strconv.FormatFloat(v, 'f'|'e', -1, 64)` form,
//! timestamps are seconds with three decimals (samples) or up to three (scalars, strings), and
//! strings are escaped as the one of Prometheus's three JSON writers that writes them would.

use crate::{Labels, Sample, Series};

/// The `errorType` values Prometheus uses, with their HTTP status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    NotFound,
    Unavailable,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Timeout | ErrorType::Unavailable => 503,
            ErrorType::Canceled => 499,
            ErrorType::Internal => 500,
            ErrorType::NotFound => 404,
        }
    }
}

/// The result of a query, as the API's `data` object carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryData {
    /// One sample per series at the evaluation time.
    Vector(Vec<(Labels, Sample)>),
    Matrix(Vec<Series>),
    Scalar(Sample),
    String {
        t: i64,
        value: String,
    },
}

impl QueryData {
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryData::Vector(_) => "vector",
            QueryData::Matrix(_) => "matrix",
            QueryData::Scalar(_) => "scalar",
            QueryData::String { .. } => "string",
        }
    }

    /// About how many bytes [`QueryData::write_json`] writes, to size its buffer once.
    pub fn json_size_hint(&self) -> usize {
        const LABELS: usize = 128;
        const POINT: usize = 32;
        match self {
            QueryData::Vector(samples) => 64 + samples.len() * (LABELS + POINT),
            QueryData::Matrix(series) => {
                64 + series
                    .iter()
                    .map(|s| LABELS + s.samples.len() * POINT)
                    .sum::<usize>()
            }
            QueryData::Scalar(_) | QueryData::String { .. } => 128,
        }
    }

    /// Writes `{"resultType":...,"result":...}`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str("{\"resultType\":\"");
        out.push_str(self.result_type());
        out.push_str("\",\"result\":");
        match self {
            QueryData::Vector(samples) => {
                out.push('[');
                for (i, (labels, sample)) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    write_labels(labels, out);
                    out.push_str(",\"value\":");
                    write_point(sample.t, sample.v, out);
                    out.push('}');
                }
                out.push(']');
            }
            QueryData::Matrix(series) => {
                out.push('[');
                for (i, s) in series.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    write_labels(&s.labels, out);
                    out.push_str(",\"values\":[");
                    for (j, sample) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(sample.t, sample.v, out);
                    }
                    out.push_str("]}");
                }
                out.push(']');
            }
            // A scalar or string is marshalled by Go's `encoding/json`, its time as a float
            // (`1.5`); samples of a vector or matrix by Prometheus's own writer (`1.500`).
            QueryData::Scalar(sample) => {
                out.push('[');
                write_timestamp(sample.t, out);
                out.push_str(",\"");
                // `Scalar.MarshalJSON`: always 'f', never the exponent form of samples.
                write_go(sample.v, 'f', out);
                out.push_str("\"]");
            }
            QueryData::String { t, value } => {
                out.push('[');
                write_timestamp(*t, out);
                out.push(',');
                write_string_result(value, out);
                out.push(']');
            }
        }
        out.push('}');
    }
}

/// A success document around already-written `data` JSON, with optional warnings and infos.
pub fn success_json(data_json: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(SUCCESS_PREFIX.len() + data_json.len() + 32);
    out.push_str(SUCCESS_PREFIX);
    out.push_str(data_json);
    end_success_json(warnings, infos, &mut out);
    out
}

/// How a success document starts; the data follows, then [`end_success_json`]. For large
/// results written straight into the document instead of copied into it.
pub const SUCCESS_PREFIX: &str = "{\"status\":\"success\",\"data\":";

/// Closes a document begun with [`SUCCESS_PREFIX`] and its data.
pub fn end_success_json(warnings: &[String], infos: &[String], out: &mut String) {
    write_string_list("warnings", warnings, out);
    write_string_list("infos", infos, out);
    out.push('}');
}

/// An error document: `{"status":"error","errorType":"bad_data","error":"..."}`.
pub fn error_json(error_type: ErrorType, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 48);
    out.push_str("{\"status\":\"error\",\"errorType\":\"");
    out.push_str(error_type.as_str());
    out.push_str("\",\"error\":");
    write_json_string(message, &mut out);
    out.push('}');
    out
}

fn write_string_list(key: &str, items: &[String], out: &mut String) {
    if items.is_empty() {
        return;
    }
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(item, out);
    }
    out.push(']');
}

/// `["a","b"]`: the `data` of `/api/v1/labels` and `/api/v1/label/<name>/values`.
pub fn write_string_array(items: &[String], out: &mut String) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(item, out);
    }
    out.push(']');
}

/// `[{"__name__":"up",...},...]`: the `data` of `/api/v1/series`.
pub fn write_labels_array(series: &[Labels], out: &mut String) {
    out.push('[');
    for (i, labels) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_labels(labels, out);
    }
    out.push(']');
}

/// A string quoted as Go's `%q` (`strconv.Quote`) writes it in error messages: `"a\"b"`, invalid
/// UTF-8 bytes as `\xff`, control and other invisible characters escaped. (Go's table of
/// printable characters is approximated by Rust's control and whitespace classes.)
pub fn go_quote(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() || (c.is_whitespace() && c != ' ') || c == '\u{feff}' => {
                    if (c as u32) < 0x10000 {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    } else {
                        let _ = write!(out, "\\U{:08x}", c as u32);
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// A label set as Prometheus's `labels.Labels.String()` writes it in messages:
/// `{__name__="up", job="api"}`, a name quoted when it is not a legacy (`[a-zA-Z_][a-zA-Z0-9_]*`)
/// name.
pub fn labels_string(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let legacy = label
            .name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if legacy && !label.name.is_empty() {
            out.push_str(&label.name);
        } else {
            out.push_str(&go_quote(label.name.as_bytes()));
        }
        out.push('=');
        out.push_str(&go_quote(label.value.as_bytes()));
    }
    out.push('}');
    out
}

/// `{"name":"value",...}` in label order (Go sorts map keys; labels are already sorted).
pub fn write_labels(labels: &Labels, out: &mut String) {
    write_label_pairs(
        labels.iter().map(|label| (&*label.name, &*label.value)),
        out,
    );
}

/// `{"name":"value",...}` of pairs in the order given, escaped as a label set.
pub fn write_label_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    out: &mut String,
) {
    out.push('{');
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_label_string(name, out);
        out.push(':');
        write_label_string(value, out);
    }
    out.push('}');
}

/// `[seconds,"value"]`, a sample of a vector or matrix.
pub fn write_point(t: i64, v: f64, out: &mut String) {
    out.push('[');
    write_sample_timestamp(t, out);
    out.push_str(",\"");
    write_float(v, out);
    out.push_str("\"]");
}

/// Milliseconds as seconds with all three decimals when there is a fraction (`1.500`, `2`):
/// Prometheus's `jsonutil.MarshalTimestamp`, which writes the samples of vectors and matrices.
pub fn write_sample_timestamp(t: i64, out: &mut String) {
    write_seconds(t, false, out);
}

/// Milliseconds as seconds with up to three decimals, without trailing zeros: how Go's
/// `encoding/json` writes Prometheus's `float64(t) / 1000` for scalar and string results.
pub fn write_timestamp(t: i64, out: &mut String) {
    write_seconds(t, true, out);
}

fn write_seconds(t: i64, trim_zeros: bool, out: &mut String) {
    let magnitude = t.unsigned_abs();
    if t < 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(magnitude / 1000));
    let fraction = magnitude % 1000;
    if fraction != 0 {
        let digits = [
            b'0' + (fraction / 100) as u8,
            b'0' + (fraction / 10 % 10) as u8,
            b'0' + (fraction % 10) as u8,
        ];
        let kept = if !trim_zeros || digits[2] != b'0' {
            3
        } else if digits[1] != b'0' {
            2
        } else {
            1
        };
        out.push('.');
        for &d in &digits[..kept] {
            out.push(char::from(d));
        }
    }
}

/// A float as Go's `strconv.FormatFloat(v, fmt, -1, 64)` with Prometheus's choice of `fmt`:
/// exponent form below 1e-6 and from 1e21, plain decimal otherwise.
pub fn format_float(v: f64) -> String {
    let mut out = String::new();
    write_float(v, &mut out);
    out
}

/// [`format_float`] appended to `out`.
pub fn write_float(v: f64, out: &mut String) {
    let abs = v.abs();
    if abs != 0.0 && abs.is_finite() && !(1e-6..1e21).contains(&abs) {
        write_go(v, 'e', out);
    } else {
        write_go(v, 'f', out);
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: plain decimal, shortest digits.
pub fn format_go_f(v: f64) -> String {
    let mut out = String::new();
    write_go(v, 'f', &mut out);
    out
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which is also what `%g` and `%v` print:
/// exponent form when the exponent is below -4 or from 6 on.
pub fn format_go_g(v: f64) -> String {
    let mut out = String::new();
    write_go(v, 'g', &mut out);
    out
}

/// Go's `strconv.FormatFloat(v, format, -1, 64)` for `format` `f`, `e` or `g`. The digits are
/// the shortest that read back as `v`, from ryu, which breaks ties between two shortest
/// candidates as Go does (Rust's formatter can pick the other one: `1658206780088562.25` is
/// `…562.2` in Go, `…562.3` in Rust).
fn write_go(v: f64, format: char, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(v);
    // Ryu writes plain decimals (from 1e-5 to below 1e16) as Go's 'f' does, but for the `.0` of
    // whole numbers: the common case, without taking the digits apart.
    if format == 'f' && !text.as_bytes().contains(&b'e') {
        out.push_str(text.strip_suffix(".0").unwrap_or(text));
        return;
    }
    let (negative, digits, point) = decimal_digits(text);
    if negative {
        out.push('-');
    }
    let len = digits.len() as i32;
    // %g with the shortest digits: exponent form when the exponent is below -4 or from 6 on
    // (Go's `eprec = 6` for shortest).
    let exponent = point - 1;
    let plain = match format {
        'f' => true,
        'e' => false,
        _ => (-4..6).contains(&exponent),
    };
    if plain {
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if point >= len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - len) as usize));
        } else {
            let (int, fraction) = digits.split_at(point as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(fraction);
        }
    } else {
        // `d.ddde±XX`, at least two exponent digits.
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(&magnitude.to_string());
    }
}

/// Ryu's text (`123.45`, `1.0`, `0.0001`, `1.5e-7`, `1e21`) as sign, significant digits
/// without leading or trailing zeros, and the decimal point's position:
/// `0.DIGITS × 10^point`.
fn decimal_digits(text: &str) -> (bool, String, i32) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = String::with_capacity(int.len() + fraction.len());
    digits.push_str(int);
    digits.push_str(fraction);
    let mut point = int.len() as i32 + exponent;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..leading);
    point -= leading as i32;
    let significant = digits.trim_end_matches('0').len();
    digits.truncate(significant);
    (negative, digits, point)
}

/// The bytes that may start an escape in [`write_json_string`]: controls, `"`, `\`, `<`, `>`,
/// `&`, and 0xE2, which starts U+2028 and U+2029.
const MAY_NEED_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xE2] = true;
    table
};

/// How a string is escaped: Prometheus writes its JSON through three encoders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escaping {
    /// json-iterator in its standard-library mode (the lists of label names and values,
    /// warnings, errors): HTML-safe, U+2028 and U+2029 escaped, other controls as `\u00XX`.
    HtmlSafe,
    /// json-iterator's own writer, which Prometheus 3 uses for label sets: only `"`, `\` and
    /// controls are escaped.
    Plain,
    /// Go's `encoding/json` since Go 1.22 (string results): HTML-safe, and `\b` and `\f`.
    GoEncodingJson,
}

/// A JSON string as json-iterator's standard-library mode writes it (HTML-safe): what
/// Prometheus uses for most strings of its API.
pub fn write_json_string(s: &str, out: &mut String) {
    write_escaped(s, Escaping::HtmlSafe, out);
}

/// A label name or value inside a label set, as Prometheus 3 writes series in query results
/// and `/api/v1/series`: `<`, `>`, `&` and U+2028 stay as they are.
pub fn write_label_string(s: &str, out: &mut String) {
    write_escaped(s, Escaping::Plain, out);
}

/// A string result's value, which Prometheus writes with Go's `encoding/json`.
pub fn write_string_result(s: &str, out: &mut String) {
    write_escaped(s, Escaping::GoEncodingJson, out);
}

/// The characters of a string as [`write_json_string`] writes them, without the quotes.
pub fn write_json_string_content(s: &str, out: &mut String) {
    push_escaped(s, Escaping::HtmlSafe, out);
}

fn write_escaped(s: &str, escaping: Escaping, out: &mut String) {
    out.push('"');
    push_escaped(s, escaping, out);
    out.push('"');
}

fn push_escaped(s: &str, escaping: Escaping, out: &mut String) {
    use std::fmt::Write;
    // Nearly every label needs no escape: one pass over the bytes finds that out.
    if !s
        .as_bytes()
        .iter()
        .any(|&b| MAY_NEED_ESCAPE[usize::from(b)])
    {
        out.push_str(s);
        return;
    }
    let html_safe = escaping != Escaping::Plain;
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' if escaping == Escaping::GoEncodingJson => Some("\\b"),
            '\u{c}' if escaping == Escaping::GoEncodingJson => Some("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html_safe => Some(""),
            c if (c as u32) < 0x20 => Some(""),
            _ => None,
        };
        if let Some(escape) = escape {
            out.push_str(&s[plain_from..i]);
            if escape.is_empty() {
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                out.push_str(escape);
            }
            plain_from = i + c.len_utf8();
        }
    }
    out.push_str(&s[plain_from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_writes_them() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(-2.25), "-2.25");
        assert_eq!(format_float(1e-7), "1e-07");
        assert_eq!(format_float(1.5e-7), "1.5e-07");
        assert_eq!(format_float(1e21), "1e+21");
        assert_eq!(format_float(1e20), "100000000000000000000");
        assert_eq!(format_float(0.000001), "0.000001");
        assert_eq!(format_float(1.2345e300), "1.2345e+300");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(0.0), "0");
        assert_eq!(format_float(-0.0), "-0");
        // Go's own output (tests/fixtures/go-floats.go.txt wrote it) for Prometheus's JSON
        // choice, %g and 'f': random bit patterns,
        // every magnitude around the changes of notation, and exact ties between two shortest
        // candidates, where Rust's formatter and Go disagree.
        let fixture = include_str!("../tests/fixtures/go-floats.txt");
        let mut checked = 0;
        for line in fixture.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [bits, json, g, f] = fields[..] else {
                panic!("fixture line {line:?}: bits, JSON, %g and 'f' expected");
            };
            let v = f64::from_bits(u64::from_str_radix(bits, 16).expect("fixture bits"));
            assert_eq!(format_float(v), json, "{bits}");
            assert_eq!(format_go_g(v), g, "{bits} %g");
            if f != "-" {
                assert_eq!(format_go_f(v), f, "{bits} 'f'");
            }
            checked += 1;
        }
        assert!(checked > 2_900);
        // The value is …562.25 exactly, halfway between the two shortest candidates.
        assert_eq!(format_float(1658206780088562.2), "1658206780088562.2");
    }

    #[test]
    fn timestamps_as_seconds() {
        let mut out = String::new();
        let cases = [
            (1_435_781_451_781i64, "1435781451.781"),
            (1_435_781_451_000, "1435781451"),
            (1_435_781_451_100, "1435781451.1"),
            (1_435_781_451_010, "1435781451.01"),
            (-1500, "-1.5"),
            (5, "0.005"),
            (120, "0.12"),
            (-1, "-0.001"),
            (1_000_000_000_000_999, "1000000000000.999"),
        ];
        for (t, want) in cases {
            out.clear();
            write_timestamp(t, &mut out);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn sample_timestamps_keep_three_decimals() {
        let mut out = String::new();
        let cases = [
            (1_435_781_451_000i64, "1435781451"),
            (1_435_781_451_100, "1435781451.100"),
            (1_435_781_451_010, "1435781451.010"),
            (-1500, "-1.500"),
            (-1, "-0.001"),
            (120, "0.120"),
        ];
        for (t, want) in cases {
            out.clear();
            write_sample_timestamp(t, &mut out);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn vector_document() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a<b>")]);
        let data = QueryData::Vector(vec![(labels, Sample { t: 1500, v: 1.0 })]);
        let mut json = String::new();
        data.write_json(&mut json);
        assert_eq!(
            success_json(&json, &[], &[]),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a<b>"},"value":[1.500,"1"]}]}}"#
        );
    }

    /// The three escapings, as Prometheus 3.5 wrote a label value `a<b>&c\x08d\x0ce"f\g\u{2028}h\x7fi`
    /// and the string result `"x\by\f<"`, and its times: sample times padded to three
    /// decimals, scalar and string times not.
    #[test]
    fn strings_and_times_as_prometheus_3_writes_them() {
        let value = "a<b>&c\u{8}d\u{c}e\"f\\g\u{2028}h\u{7f}i";
        let data = QueryData::Vector(vec![(
            Labels::from_pairs([("v", value)]),
            Sample {
                t: 1_795_674_900_120,
                v: 1.0,
            },
        )]);
        let mut json = String::new();
        data.write_json(&mut json);
        assert_eq!(
            json,
            "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"v\":\"a<b>&c\\u0008d\\u000ce\\\"f\\\\g\u{2028}h\u{7f}i\"},\"value\":[1795674900.120,\"1\"]}]}"
        );
        let mut json = String::new();
        write_string_array(&[value.to_string()], &mut json);
        assert_eq!(
            json,
            r#"["a\u003cb\u003e\u0026c\u0008d\u000ce\"f\\g\u2028h"#.to_string() + "\u{7f}i\"]"
        );
        let mut json = String::new();
        QueryData::String {
            t: 1_795_674_900_120,
            value: "x\u{8}y\u{c}<".into(),
        }
        .write_json(&mut json);
        assert_eq!(
            json,
            r#"{"resultType":"string","result":[1795674900.12,"x\by\f\u003c"]}"#
        );
        let mut json = String::new();
        QueryData::Scalar(Sample { t: 1500, v: 1.0 }).write_json(&mut json);
        assert_eq!(json, r#"{"resultType":"scalar","result":[1.5,"1"]}"#);
        let mut json = String::new();
        QueryData::Scalar(Sample { t: 0, v: 1e-7 }).write_json(&mut json);
        assert_eq!(json, r#"{"resultType":"scalar","result":[0,"0.0000001"]}"#);
        let mut json = String::new();
        QueryData::Scalar(Sample { t: 0, v: -1e21 }).write_json(&mut json);
        assert_eq!(
            json,
            r#"{"resultType":"scalar","result":[0,"-1000000000000000000000"]}"#
        );
        let mut json = String::new();
        QueryData::Matrix(vec![Series {
            labels: Labels::default(),
            samples: vec![
                Sample { t: 100, v: 1.0 },
                Sample { t: -2010, v: 2.0 },
                Sample { t: 3000, v: 3.0 },
            ],
        }])
        .write_json(&mut json);
        assert_eq!(
            json,
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[0.100,"1"],[-2.010,"2"],[3,"3"]]}]}"#
        );
    }

    #[test]
    fn arrays_quotes_and_label_strings() {
        let mut out = String::new();
        write_string_array(&["a".into(), "<b>".into()], &mut out);
        assert_eq!(out, r#"["a","\u003cb\u003e"]"#);
        out.clear();
        write_labels_array(&[Labels::from_pairs([("__name__", "up")])], &mut out);
        assert_eq!(out, r#"[{"__name__":"up"}]"#);
        out.clear();
        write_labels_array(&[], &mut out);
        assert_eq!(out, "[]");
        assert_eq!(go_quote(b"a\"b\\\n\xff\xc3\xa9"), r#""a\"b\\\n\xffé""#);
        assert_eq!(go_quote("\u{2028}\u{1}".as_bytes()), r#""\u2028\x01""#);
        let labels =
            Labels::from_pairs([("__name__", "up"), ("job", "a\"b"), ("service.name", "x")]);
        assert_eq!(
            labels_string(&labels),
            r#"{__name__="up", job="a\"b", "service.name"="x"}"#
        );
    }

    #[test]
    fn error_document() {
        assert_eq!(
            error_json(ErrorType::BadData, "parse error: \"x\""),
            r#"{"status":"error","errorType":"bad_data","error":"parse error: \"x\""}"#
        );
    }
}
