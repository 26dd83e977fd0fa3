//! The functions a template can call: Go's builtins (`and`, `eq`, `printf`, `index`...)
//! and Prometheus's (`query`, `humanize`, `reReplaceAll`, `toTime`...), each with its Go
//! signature so arguments are checked as Go checks them, plus the methods of the
//! `time.Time` and `time.Duration` values `toTime` and `toDuration` return.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::exec::Env;
use crate::gofmt::{self, format_float};
use crate::gotime::GoTime;
use crate::value::{DurationValue, SampleValue, Value};

/// A parameter type, as far as argument checking needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `interface{}`.
    Any,
    /// `reflect.Value`: the builtins' "anything, including nothing".
    Reflect,
    /// No type: the receiver of a chain.
    Untyped,
    Str,
    QueryResult,
    SamplePtr,
    Time,
    Duration,
}

impl Ty {
    pub fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::QueryResult | Ty::SamplePtr)
    }

    pub fn zero(self) -> Value {
        match self {
            Ty::QueryResult => Value::QueryResult(Rc::new(Vec::new())),
            _ => Value::Nil,
        }
    }

    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Any | Ty::Untyped => "interface {}",
            Ty::Reflect => "reflect.Value",
            Ty::Str => "string",
            Ty::QueryResult => "template.queryResult",
            Ty::SamplePtr => "*template.sample",
            Ty::Time => "time.Time",
            Ty::Duration => "time.Duration",
        }
    }
}

pub(crate) struct CallContext<'a> {
    pub env: &'a Env<'a>,
    /// The value a method is called on.
    pub receiver: Option<&'a Value>,
}

type Impl = fn(&CallContext<'_>, &[Value]) -> Result<Value, String>;

pub(crate) struct Func {
    pub params: &'static [Ty],
    pub variadic: Option<Ty>,
    /// `and` and `or` evaluate their arguments lazily.
    pub short_circuit: bool,
    pub call: Impl,
}

const fn f(params: &'static [Ty], call: Impl) -> Func {
    Func {
        params,
        variadic: None,
        short_circuit: false,
        call,
    }
}

const fn variadic(params: &'static [Ty], rest: Ty, call: Impl) -> Func {
    Func {
        params,
        variadic: Some(rest),
        short_circuit: false,
        call,
    }
}

/// Every function name a template may call, for the parser's "function not defined" check.
pub(crate) const NAMES: &[&str] = &[
    "and",
    "call",
    "eq",
    "ge",
    "gt",
    "html",
    "index",
    "js",
    "le",
    "len",
    "lt",
    "ne",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "slice",
    "urlquery",
    // Prometheus's.
    "args",
    "externalURL",
    "first",
    "graphLink",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "label",
    "match",
    "now",
    "parseDuration",
    "pathPrefix",
    "query",
    "reReplaceAll",
    "safeHtml",
    "sortByLabel",
    "stripDomain",
    "stripPort",
    "strvalue",
    "tableLink",
    "title",
    "toDuration",
    "toLower",
    "toTime",
    "toUpper",
    "value",
];

use Ty::*;

pub(crate) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "and" | "or" => Func {
            params: &[Reflect],
            variadic: Some(Reflect),
            short_circuit: true,
            call: |_, _| Ok(Value::Invalid),
        },
        "not" => f(&[Reflect], |_, a| Ok(Value::Bool(!a[0].truth()))),
        "len" => f(&[Reflect], builtin_len),
        "index" => variadic(&[Reflect], Reflect, builtin_index),
        "slice" => variadic(&[Reflect], Reflect, builtin_slice),
        "call" => variadic(&[Reflect], Reflect, |_, a| {
            Err(format!("non-function of type {}", a[0].type_name()))
        }),
        "eq" => variadic(&[Reflect], Reflect, |_, a| {
            eq(&a[0], &a[1..]).map(Value::Bool)
        }),
        "ne" => f(&[Reflect, Reflect], |_, a| {
            eq(&a[0], &a[1..]).map(|b| Value::Bool(!b))
        }),
        "lt" => f(&[Reflect, Reflect], |_, a| {
            lt(&a[0], &a[1]).map(Value::Bool)
        }),
        "le" => f(&[Reflect, Reflect], |_, a| {
            le(&a[0], &a[1]).map(Value::Bool)
        }),
        "gt" => f(&[Reflect, Reflect], |_, a| {
            le(&a[0], &a[1]).map(|b| Value::Bool(!b))
        }),
        "ge" => f(&[Reflect, Reflect], |_, a| {
            lt(&a[0], &a[1]).map(|b| Value::Bool(!b))
        }),
        "html" => variadic(&[], Any, |_, a| Ok(Value::str(&html_escape(&eval_args(a))))),
        "js" => variadic(&[], Any, |_, a| Ok(Value::str(&js_escape(&eval_args(a))))),
        "urlquery" => variadic(&[], Any, |_, a| {
            Ok(Value::str(&query_escape(&eval_args(a))))
        }),
        "print" => variadic(&[], Any, |_, a| Ok(Value::str(&gofmt::sprint(a)))),
        "println" => variadic(&[], Any, |_, a| Ok(Value::str(&gofmt::sprintln(a)))),
        "printf" => variadic(&[Str], Any, |_, a| {
            Ok(Value::str(&gofmt::sprintf(&string_arg(&a[0]), &a[1..])))
        }),

        "query" => f(&[Str], prom_query),
        "first" => f(&[QueryResult], |_, a| match &a[0] {
            Value::QueryResult(r) if !r.is_empty() => Ok(Value::Sample(r[0].clone())),
            _ => Err("first() called on vector with no elements".into()),
        }),
        "label" => f(&[Str, SamplePtr], |_, a| {
            let s = sample(&a[1])?;
            Ok(Value::str(
                s.labels.get(&*string_arg(&a[0])).map_or("", String::as_str),
            ))
        }),
        "value" => f(&[SamplePtr], |_, a| Ok(Value::Float(sample(&a[0])?.value))),
        "strvalue" => f(&[SamplePtr], |_, a| {
            let s = sample(&a[0])?;
            Ok(Value::str(
                s.labels.get("__value__").map_or("", String::as_str),
            ))
        }),
        "args" => variadic(&[], Any, |_, a| {
            let map: BTreeMap<String, Value> = a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v.clone()))
                .collect();
            Ok(Value::AnyMap(Rc::new(map)))
        }),
        "reReplaceAll" => f(&[Str, Str, Str], |_, a| {
            let pattern = string_arg(&a[0]);
            let re = compile_regex(&pattern)
                .map_err(|e| format!("regexp: Compile({}): {e}", regexp_quote(&pattern)))?;
            Ok(Value::str(
                &re.replace_all(&string_arg(&a[2]), &*string_arg(&a[1])),
            ))
        }),
        "safeHtml" => f(&[Str], |_, a| Ok(Value::Html(string_arg(&a[0])))),
        "match" => f(&[Str, Str], |_, a| {
            let re = compile_regex(&string_arg(&a[0]))?;
            Ok(Value::Bool(re.is_match(&string_arg(&a[1]))))
        }),
        "title" => f(&[Str], |_, a| Ok(Value::str(&title(&string_arg(&a[0]))))),
        "toUpper" => f(&[Str], |_, a| Ok(Value::str(&to_upper(&string_arg(&a[0]))))),
        "toLower" => f(&[Str], |_, a| Ok(Value::str(&to_lower(&string_arg(&a[0]))))),
        "graphLink" => f(&[Str], |_, a| {
            Ok(Value::str(&format!(
                "/graph?g0.expr={}&g0.tab=0",
                query_escape(&string_arg(&a[0]))
            )))
        }),
        "tableLink" => f(&[Str], |_, a| {
            Ok(Value::str(&format!(
                "/graph?g0.expr={}&g0.tab=1",
                query_escape(&string_arg(&a[0]))
            )))
        }),
        "sortByLabel" => f(&[Str, QueryResult], |_, a| {
            let label = string_arg(&a[0]);
            let Value::QueryResult(r) = &a[1] else {
                return Ok(a[1].clone());
            };
            let mut sorted: Vec<Rc<SampleValue>> = r.as_ref().clone();
            let key = |s: &Rc<SampleValue>| s.labels.get(&*label).cloned().unwrap_or_default();
            sorted.sort_by_key(key);
            Ok(Value::QueryResult(Rc::new(sorted)))
        }),
        "stripPort" => f(&[Str], |_, a| {
            let host_port = string_arg(&a[0]);
            Ok(Value::str(match split_host_port(&host_port) {
                Some((host, _)) => host,
                None => &host_port,
            }))
        }),
        "stripDomain" => f(&[Str], |_, a| {
            Ok(Value::str(&strip_domain(&string_arg(&a[0]))))
        }),
        "humanize" => f(&[Any], |_, a| humanize(convert_to_float(&a[0])?)),
        "humanize1024" => f(&[Any], |_, a| humanize1024(convert_to_float(&a[0])?)),
        "humanizeDuration" => f(&[Any], |_, a| {
            Ok(Value::str(&humanize_duration(convert_to_float(&a[0])?)))
        }),
        "humanizePercentage" => f(&[Any], |_, a| {
            let v = convert_to_float(&a[0])?;
            Ok(Value::str(&format!(
                "{}%",
                format_float(v * 100.0, 'g', Some(4))
            )))
        }),
        "humanizeTimestamp" => f(&[Any], |_, a| {
            let v = convert_to_float(&a[0])?;
            if v.is_nan() || v.is_infinite() {
                return Ok(Value::str(&format_float(v, 'g', Some(4))));
            }
            Ok(Value::str(&float_to_time(v)?.to_string()))
        }),
        "toTime" => f(&[Any], |_, a| {
            let v = convert_to_float(&a[0])?;
            if v.is_nan() || v.is_infinite() {
                return Err(ERR_NAN_OR_INF.into());
            }
            let t = float_to_time(v)?;
            Ok(Value::Time(GoTime { pointer: true, ..t }))
        }),
        "toDuration" => f(&[Any], |_, a| {
            let v = convert_to_float(&a[0])?;
            if v.is_nan() || v.is_infinite() {
                return Err(ERR_NAN_OR_INF.into());
            }
            let nanos = v * 1e9;
            if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
                return Err(format!(
                    "{} cannot be represented as a nanoseconds duration since it overflows int64",
                    gofmt::float_v(v)
                ));
            }
            Ok(Value::Duration(DurationValue {
                nanos: nanos as i64,
                pointer: true,
            }))
        }),
        "now" => f(&[], |c, _| Ok(Value::Float(c.env.now_ms as f64 / 1000.0))),
        "pathPrefix" => f(&[], |c, _| Ok(Value::str(url_path(c.env.external_url)))),
        "externalURL" => f(&[], |c, _| Ok(Value::str(c.env.external_url))),
        "parseDuration" => f(&[Str], |_, a| {
            let text = string_arg(&a[0]);
            if text.is_empty() {
                return Err("empty duration string".into());
            }
            let (negative, body) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, &*text),
            };
            let ms = narthex_model::duration::parse_duration(body)
                .map_err(|_| format!("not a valid duration string: {}", gofmt::quote(&text)))?;
            let secs = ms as f64 / 1000.0;
            Ok(Value::Float(if negative { -secs } else { secs }))
        }),
        _ => return None,
    })
}

const ERR_NAN_OR_INF: &str = "value is NaN or Inf";

fn string_arg(v: &Value) -> Rc<str> {
    match v {
        Value::Str(s) | Value::Html(s) => s.clone(),
        _ => Rc::from(""),
    }
}

fn sample(v: &Value) -> Result<&SampleValue, String> {
    match v {
        Value::Sample(s) => Ok(s),
        _ => Err("runtime error: invalid memory address or nil pointer dereference".into()),
    }
}

fn prom_query(c: &CallContext<'_>, a: &[Value]) -> Result<Value, String> {
    let samples = c.env.query.query(&string_arg(&a[0]), c.env.now_ms)?;
    let result = samples
        .into_iter()
        .map(|s| {
            Rc::new(SampleValue {
                labels: crate::exec::label_map(&s.labels),
                value: s.value,
            })
        })
        .collect();
    Ok(Value::QueryResult(Rc::new(result)))
}

/// Go's `evalArgs` for `html`, `js` and `urlquery`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.to_string();
    }
    gofmt::sprint(args)
}

/// `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() || gofmt::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Compiles a Go (RE2) regular expression with RE2's meaning, the error worded as Go's.
fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    narthex_model::re2::compile(pattern).map_err(|e| format!("error parsing regexp: {e}"))
}

/// The quoting `regexp.MustCompile` uses in its panic message.
fn regexp_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c != '`' && (c == '\t' || !c.is_control()))
    {
        format!("`{s}`")
    } else {
        gofmt::quote(s)
    }
}

/// Go's `unicode.ToUpper` per character: simple mappings only, never growing a character.
fn to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

fn to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut low = c.to_lowercase();
            match (low.next(), low.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// `cases.Title(language.AmericanEnglish, cases.NoLower)`: the first letter of each word
/// upper-cased, the rest untouched. Apostrophes, periods and colons between letters and
/// underscores stay inside a word, as in Unicode word segmentation.
fn title(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for (i, &c) in chars.iter().enumerate() {
        let word_char = c.is_alphanumeric() || c == '_';
        let mid_word = matches!(c, '\'' | '’' | '.' | ':' | '·')
            && in_word
            && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if word_char {
            if !in_word {
                out.push_str(&to_upper(&c.to_string()));
            } else {
                out.push(c);
            }
            in_word = true;
        } else {
            out.push(c);
            in_word = mid_word;
        }
    }
    out
}

/// `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(host_port: &str) -> Option<(&str, &str)> {
    let i = host_port.rfind(':')?;
    let (host, j, k);
    if host_port.starts_with('[') {
        let end = host_port.find(']')?;
        if end + 1 == host_port.len() || end + 1 != i {
            return None;
        }
        host = &host_port[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &host_port[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if host_port[j..].contains('[') || host_port[k..].contains(']') {
        return None;
    }
    Some((host, &host_port[i + 1..]))
}

fn strip_domain(host_port: &str) -> String {
    let (host, port) = split_host_port(host_port).unwrap_or((host_port, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host_port.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Prometheus's `ConvertToFloat`.
fn convert_to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Str(s) => parse_go_float(s),
        Value::Int(i) | Value::Int64(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::Duration(d) if !d.pointer => Ok(d.nanos as f64 / 1e9),
        Value::Invalid | Value::Nil => Err("can't convert <nil> to float".into()),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// `strconv.ParseFloat(s, 64)`, with Go's error texts.
fn parse_go_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            gofmt::quote(s)
        )
    };
    let body = s.trim_start_matches(['+', '-']);
    let lower = body.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    if s.len() - body.len() > 1
        || (!special && !body.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
    {
        return Err(syntax());
    }
    let v: f64 = s.parse().map_err(|_| syntax())?;
    if v.is_infinite() && !special {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            gofmt::quote(s)
        ));
    }
    Ok(v)
}

fn humanize(mut v: f64) -> Result<Value, String> {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return Ok(Value::str(&format_float(v, 'g', Some(4))));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(Value::str(&format!(
        "{}{prefix}",
        format_float(v, 'g', Some(4))
    )))
}

fn humanize1024(mut v: f64) -> Result<Value, String> {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return Ok(Value::str(&format_float(v, 'g', Some(4))));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::str(&format!(
        "{}{prefix}",
        format_float(v, 'g', Some(4))
    )))
}

/// Prometheus's `HumanizeDuration` (from prometheus/common).
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_float(v, 'g', Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_float(v, 'g', Some(4)));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let duration = v as i64;
        let seconds = duration % 60;
        let minutes = (duration / 60) % 60;
        let hours = (duration / 60 / 60) % 24;
        let days = duration / 60 / 60 / 24;
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", format_float(v, 'g', Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_float(v, 'g', Some(4)))
}

/// Prometheus's `FloatToTime` for finite values: millisecond precision, truncated, as
/// `model.TimeFromUnixNano`.
fn float_to_time(v: f64) -> Result<GoTime, String> {
    let timestamp = v * 1e9;
    if timestamp > i64::MAX as f64 || timestamp < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            gofmt::float_v(v)
        ));
    }
    let nanos = timestamp as i64;
    Ok(GoTime::from_millis(nanos / 1_000_000))
}

/// The path of a URL (`url.URL.Path`), for `pathPrefix`.
fn url_path(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => return url.split(['?', '#']).next().unwrap_or(""),
    };
    let Some(slash) = rest.find('/') else {
        return "";
    };
    rest[slash..].split(['?', '#']).next().unwrap_or("")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Duration(d) if !d.pointer => Kind::Int,
        Value::Byte(_) | Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn int_of(v: &Value) -> i128 {
    match v {
        Value::Int(i) | Value::Int64(i) => i128::from(*i),
        Value::Duration(d) => i128::from(d.nanos),
        Value::Byte(b) => i128::from(*b),
        Value::Uint(u) => i128::from(*u),
        _ => 0,
    }
}

fn float_of(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

fn str_of(v: &Value) -> &str {
    match v {
        Value::Str(s) | Value::Html(s) => s,
        _ => "",
    }
}

fn is_valid(v: &Value) -> bool {
    !matches!(v, Value::Invalid | Value::Nil)
}

const ERR_BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const ERR_BAD_COMPARISON: &str = "incompatible types for comparison";

/// Go's `eq`: true if `a` equals any of `others`, with Go's type rules.
fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => int_of(a) == int_of(b),
                _ => {
                    if is_valid(a) && is_valid(b) {
                        return Err(ERR_BAD_COMPARISON.into());
                    }
                    false
                }
            }
        } else {
            match k1 {
                Kind::Bool => a.truth() == b.truth(),
                Kind::Float => float_of(a) == float_of(b),
                Kind::Int | Kind::Uint => int_of(a) == int_of(b),
                Kind::String => str_of(a) == str_of(b),
                Kind::Invalid => match (a, b) {
                    (x, y) if !is_valid(x) || !is_valid(y) => !is_valid(x) && !is_valid(y),
                    (Value::Sample(x), Value::Sample(y)) => Rc::ptr_eq(x, y),
                    (Value::Time(x), Value::Time(y)) if x.pointer == y.pointer => {
                        !x.pointer && x == y
                    }
                    (Value::Duration(x), Value::Duration(y)) if x.pointer && y.pointer => false,
                    (x, y) if x.type_name() != y.type_name() => {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::value_string(x),
                            x.type_name(),
                            y.type_name(),
                            gofmt::value_string(y)
                        ))
                    }
                    (_, y) => {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            gofmt::value_string(y),
                            y.type_name()
                        ))
                    }
                },
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(ERR_BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(int_of(a) < int_of(b)),
            _ => Err(ERR_BAD_COMPARISON.into()),
        };
    }
    match k1 {
        Kind::Bool | Kind::Invalid => Err(ERR_BAD_COMPARISON_TYPE.into()),
        Kind::Float => Ok(float_of(a) < float_of(b)),
        Kind::Int | Kind::Uint => Ok(int_of(a) < int_of(b)),
        Kind::String => Ok(str_of(a) < str_of(b)),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

fn builtin_len(_: &CallContext<'_>, a: &[Value]) -> Result<Value, String> {
    let n = match &a[0] {
        Value::Str(s) | Value::Html(s) => s.len(),
        Value::StrMap(m) => m.len(),
        Value::AnyMap(m) => m.len(),
        Value::QueryResult(r) => r.len(),
        Value::List(l, _) => l.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

fn index_arg(index: &Value, len: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Byte(b) => i64::from(*b),
        Value::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
        Value::Invalid | Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ))
        }
    };
    if x < 0 || x as u64 > len as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn builtin_index(_: &CallContext<'_>, a: &[Value]) -> Result<Value, String> {
    let mut item = a[0].clone();
    if !is_valid(&item) {
        return Err("index of untyped nil".into());
    }
    for index in &a[1..] {
        item = match &item {
            Value::Str(s) | Value::Html(s) => {
                let x = index_arg(index, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Byte(*b),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::QueryResult(r) => {
                let x = index_arg(index, r.len())?;
                match r.get(x) {
                    Some(s) => Value::Sample(s.clone()),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::List(items, _) => {
                let x = index_arg(index, items.len())?;
                match items.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::StrMap(m) => match index {
                Value::Str(k) => Value::str(m.get(&**k).map_or("", String::as_str)),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::AnyMap(m) => match index {
                Value::Str(k) => m.get(&**k).cloned().unwrap_or(Value::Nil),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ))
                }
            },
            Value::Nil => return Err("index of nil pointer".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn builtin_slice(_: &CallContext<'_>, a: &[Value]) -> Result<Value, String> {
    let item = &a[0];
    if !is_valid(item) {
        return Err("slice of untyped nil".into());
    }
    if a.len() > 4 {
        return Err(format!("too many slice indexes: {}", a.len() - 1));
    }
    let len = match item {
        Value::Str(s) => s.len(),
        Value::QueryResult(r) => r.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0usize, len];
    for (i, index) in a[1..].iter().take(2).enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if a.len() > 3 {
        return Err("cannot 3-index slice a string".into());
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    Ok(match item {
        Value::Str(s) => match s.get(idx[0]..idx[1]) {
            Some(sub) => Value::str(sub),
            None => return Err("slice of a string splits a character".into()),
        },
        Value::QueryResult(r) => Value::QueryResult(Rc::new(r[idx[0]..idx[1]].to_vec())),
        _ => Value::Invalid,
    })
}

/// The methods of `time.Time` and `time.Duration` values, found before fields as in Go.
pub(crate) fn method(receiver: &Value, name: &str) -> Option<Func> {
    match receiver {
        Value::Time(_) => time_method(name),
        Value::Duration(_) => duration_method(name),
        _ => None,
    }
}

fn recv_time(c: &CallContext<'_>) -> GoTime {
    match c.receiver {
        Some(Value::Time(t)) => t.value(),
        _ => GoTime::from_millis(0),
    }
}

fn recv_duration(c: &CallContext<'_>) -> i64 {
    match c.receiver {
        Some(Value::Duration(d)) => d.nanos,
        _ => 0,
    }
}

fn duration_arg(v: &Value) -> i64 {
    match v {
        Value::Duration(d) => d.nanos,
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn duration_value(nanos: i64) -> Value {
    Value::Duration(DurationValue {
        nanos,
        pointer: false,
    })
}

fn time_method(name: &str) -> Option<Func> {
    Some(match name {
        "Format" => f(&[Str], |c, a| {
            Ok(Value::str(&recv_time(c).format(&string_arg(&a[0]))))
        }),
        "String" => f(&[], |c, _| Ok(Value::str(&recv_time(c).to_string()))),
        "Unix" => f(&[], |c, _| Ok(Value::Int64(recv_time(c).secs))),
        "UnixMilli" => f(&[], |c, _| {
            Ok(Value::Int64((recv_time(c).unix_nanos() / 1_000_000) as i64))
        }),
        "UnixMicro" => f(&[], |c, _| {
            Ok(Value::Int64((recv_time(c).unix_nanos() / 1_000) as i64))
        }),
        "UnixNano" => f(&[], |c, _| {
            Ok(Value::Int64(recv_time(c).unix_nanos() as i64))
        }),
        "Year" => f(&[], |c, _| Ok(Value::Int(recv_time(c).civil().0))),
        "Month" => f(&[], |c, _| Ok(Value::str(&recv_time(c).format("January")))),
        "Day" => f(&[], |c, _| Ok(Value::Int(recv_time(c).civil().2))),
        "Hour" => f(&[], |c, _| Ok(Value::Int(recv_time(c).civil().3))),
        "Minute" => f(&[], |c, _| Ok(Value::Int(recv_time(c).civil().4))),
        "Second" => f(&[], |c, _| Ok(Value::Int(recv_time(c).civil().5))),
        "Nanosecond" => f(&[], |c, _| Ok(Value::Int(i64::from(recv_time(c).nanos)))),
        "YearDay" => f(&[], |c, _| Ok(Value::Int(recv_time(c).civil().7))),
        "Weekday" => f(&[], |c, _| Ok(Value::str(&recv_time(c).format("Monday")))),
        "UTC" | "Local" => f(&[], |c, _| Ok(Value::Time(recv_time(c)))),
        "IsZero" => f(&[], |c, _| Ok(Value::Bool(recv_time(c).is_zero()))),
        "Add" => f(&[Ty::Duration], |c, a| {
            let t = recv_time(c);
            Ok(Value::Time(GoTime::from_nanos(
                t.unix_nanos() + i128::from(duration_arg(&a[0])),
            )))
        }),
        "Sub" => f(&[Ty::Time], |c, a| {
            let Value::Time(u) = &a[0] else {
                return Ok(duration_value(0));
            };
            let d = recv_time(c).unix_nanos() - u.unix_nanos();
            Ok(duration_value(
                d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            ))
        }),
        _ => return None,
    })
}

fn duration_method(name: &str) -> Option<Func> {
    Some(match name {
        "String" => f(&[], |c, _| {
            Ok(Value::str(&crate::gotime::duration_string(recv_duration(
                c,
            ))))
        }),
        "Seconds" => f(&[], |c, _| {
            Ok(Value::Float(nanos_to(recv_duration(c), 1e9)))
        }),
        "Minutes" => f(&[], |c, _| {
            Ok(Value::Float(nanos_to(recv_duration(c), 6e10)))
        }),
        "Hours" => f(&[], |c, _| {
            Ok(Value::Float(nanos_to(recv_duration(c), 3.6e12)))
        }),
        "Milliseconds" => f(&[], |c, _| Ok(Value::Int64(recv_duration(c) / 1_000_000))),
        "Microseconds" => f(&[], |c, _| Ok(Value::Int64(recv_duration(c) / 1_000))),
        "Nanoseconds" => f(&[], |c, _| Ok(Value::Int64(recv_duration(c)))),
        "Abs" => f(&[], |c, _| {
            Ok(duration_value(recv_duration(c).saturating_abs()))
        }),
        "Truncate" => f(&[Ty::Duration], |c, a| {
            let m = duration_arg(&a[0]);
            let d = recv_duration(c);
            Ok(duration_value(if m <= 0 { d } else { d - d % m }))
        }),
        "Round" => f(&[Ty::Duration], |c, a| {
            let m = duration_arg(&a[0]);
            let d = recv_duration(c);
            if m <= 0 {
                return Ok(duration_value(d));
            }
            let r = d % m;
            let rounded = if d < 0 {
                let r = -r;
                if r + r < m {
                    d + r
                } else {
                    d.saturating_sub(m - r)
                }
            } else if r + r < m {
                d - r
            } else {
                d.saturating_add(m - r)
            };
            Ok(duration_value(rounded))
        }),
        _ => return None,
    })
}

/// Go's `Duration.Seconds` etc.: whole units plus the fraction, to keep precision.
fn nanos_to(d: i64, unit: f64) -> f64 {
    let unit_i = unit as i64;
    let whole = d / unit_i;
    let frac = d % unit_i;
    whole as f64 + frac as f64 / unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splitting_follows_go() {
        assert_eq!(
            split_host_port("foo.example.com:12345"),
            Some(("foo.example.com", "12345"))
        );
        assert_eq!(split_host_port("foo.example.com"), None);
        assert_eq!(
            split_host_port("[2001:0DB8::1]:12345"),
            Some(("2001:0DB8::1", "12345"))
        );
        assert_eq!(split_host_port("2001:0DB8::1"), None);
        assert_eq!(split_host_port("[2001:0DB8::1]::12345"), None);
        assert_eq!(strip_domain("foo.example.com:12345"), "foo:12345");
        assert_eq!(strip_domain("192.0.2.1:12345"), "192.0.2.1:12345");
    }

    #[test]
    fn escapers() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("a'b\"c<d>=&\n"),
            "a\\'b\\\"c\\u003Cd\\u003E\\u003D\\u0026\\u000A"
        );
        assert_eq!(
            query_escape("rate(x{a=\"b c\"}[5m])"),
            "rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29"
        );
    }

    #[test]
    fn titles() {
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(
            title("don't stop-me now_please"),
            "Don't Stop-Me Now_please"
        );
    }

    #[test]
    fn float_parsing_errors() {
        assert_eq!(
            parse_go_float("one").unwrap_err(),
            "strconv.ParseFloat: parsing \"one\": invalid syntax"
        );
        assert_eq!(parse_go_float("+Inf").unwrap(), f64::INFINITY);
        assert!(parse_go_float("NaN").unwrap().is_nan());
        assert_eq!(parse_go_float(".12").unwrap(), 0.12);
        assert!(parse_go_float("1e400")
            .unwrap_err()
            .ends_with("value out of range"));
    }

    #[test]
    fn url_paths() {
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://testhost:9090"), "");
        assert_eq!(url_path("https://h/p?q=1#f"), "/p");
    }
}
