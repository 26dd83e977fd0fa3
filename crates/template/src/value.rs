//! The values a template works on, typed as the Go values Prometheus hands its templates
//! (`map[string]string` labels, `*sample`, `queryResult`, `*time.Time`...), because Go's
//! template semantics depend on those types: a missing label is `""` not `<no value>`,
//! `eq 1 1.0` is an error, and error messages name the types.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::gotime::GoTime;

pub(crate) type StrMap = Rc<BTreeMap<String, String>>;

/// A query result element: Prometheus's `sample{Labels map[string]string; Value interface{}}`.
#[derive(Debug)]
pub(crate) struct SampleValue {
    pub labels: StrMap,
    pub value: f64,
}

/// The alert data: Prometheus's anonymous struct from `AlertTemplateData`.
#[derive(Debug)]
pub(crate) struct AlertData {
    pub labels: StrMap,
    pub external_labels: StrMap,
    pub external_url: Rc<str>,
    pub value: f64,
}

/// A `time.Duration`, as a pointer (`toDuration`'s `*time.Duration`) or a plain value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DurationValue {
    pub nanos: i64,
    pub pointer: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// Go's invalid `reflect.Value`: a missing value, printed `<no value>`.
    Invalid,
    /// A nil `interface{}`.
    Nil,
    Bool(bool),
    Int(i64),
    Int64(i64),
    Byte(u8),
    /// Alert data never holds unsigned numbers or plain slices; Prometheus's own tests feed
    /// templates these Go values, and the port of those tests does too.
    #[cfg_attr(not(test), allow(dead_code))]
    Uint(u64),
    Float(f64),
    Str(Rc<str>),
    /// `html/template.HTML`, from `safeHtml`.
    Html(Rc<str>),
    StrMap(StrMap),
    /// `map[string]interface{}`, from `args`.
    AnyMap(Rc<BTreeMap<String, Value>>),
    Data(Rc<AlertData>),
    Sample(Rc<SampleValue>),
    QueryResult(Rc<Vec<Rc<SampleValue>>>),
    /// A Go slice of other values, with its Go type name (`[]float64`).
    #[cfg_attr(not(test), allow(dead_code))]
    List(Rc<Vec<Value>>, &'static str),
    Time(GoTime),
    Duration(DurationValue),
}

pub(crate) const DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// The Go type, as `reflect.Type.String` writes it in error messages and `%T`.
    pub fn type_name(&self) -> String {
        match self {
            Value::Invalid | Value::Nil => "interface {}",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Byte(_) => "uint8",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::StrMap(_) => "map[string]string",
            Value::AnyMap(_) => "map[string]interface {}",
            Value::Data(_) => DATA_TYPE,
            Value::Sample(_) => "*template.sample",
            Value::QueryResult(_) => "template.queryResult",
            Value::List(_, name) => name,
            Value::Time(t) if t.pointer => "*time.Time",
            Value::Time(_) => "time.Time",
            Value::Duration(d) if d.pointer => "*time.Duration",
            Value::Duration(_) => "time.Duration",
        }
        .to_string()
    }

    /// Go's `template.IsTrue`.
    pub fn truth(&self) -> bool {
        match self {
            Value::Invalid | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Byte(b) => *b != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::AnyMap(m) => !m.is_empty(),
            Value::QueryResult(r) => !r.is_empty(),
            Value::List(l, _) => !l.is_empty(),
            Value::Data(_) | Value::Sample(_) => true,
            Value::Time(t) => t.pointer || !t.is_zero(),
            Value::Duration(d) => d.pointer || d.nanos != 0,
        }
    }
}
