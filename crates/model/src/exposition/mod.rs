//! Exposition formats: the parsers for scrape bodies and the helpers the server uses to write its
//! own `/metrics`.
//!
//! Two formats are read, each into the same [`Exposition`]:
//! - the Prometheus text format 0.0.4, by [`parse_text`] (`text.rs`);
//! - OpenMetrics 1.0 text, by [`parse_openmetrics`] (`openmetrics.rs`).
//!
//! [`parse`] dispatches on an [`ExpositionFormat`], and [`format_for_content_type`] picks the
//! format from a scrape response's `Content-Type` as Prometheus 3 does (`format.rs`). Both parsers
//! work line by line on bytes and borrow everything they can from the input: metric names, label
//! names, unescaped label values and the raw series text are slices of the scraped body, so a
//! sample costs one allocation (its label `Vec`) plus one per label value that actually contains
//! an escape. The scanning pieces they share live in `lex.rs`, the writers in `write.rs`.
//!
//! This file holds the types both parsers return.

use std::borrow::Cow;
use std::fmt;

mod format;
mod lex;
mod openmetrics;
mod text;
mod write;

pub use format::{
    format_for_content_type, parse, ContentTypeError, ExpositionFormat, NegotiatedFormat,
};
pub use openmetrics::parse_openmetrics;
pub use text::parse_text;
pub use write::{escape_help, escape_label_value, format_value};

/// The type named on a `# TYPE` line.
///
/// The text format knows the first five; OpenMetrics has `counter`, `gauge`, `histogram` and
/// `summary` too, plus the four after them. A family without a TYPE line is `Untyped` in the
/// text format and `Unknown` in OpenMetrics (Prometheus calls both "unknown").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// Text format's `untyped`.
    Untyped,
    /// OpenMetrics only: a histogram of a gauge (`_bucket`, `_gcount`, `_gsum`).
    GaugeHistogram,
    /// OpenMetrics only: one `<family>_info` sample of value 1 carrying labels.
    Info,
    /// OpenMetrics only: one sample per state, labelled with the family name, value 0 or 1.
    Stateset,
    /// OpenMetrics's `unknown`.
    Unknown,
}

impl MetricType {
    /// The word used for this type on a `# TYPE` line.
    pub fn as_str(&self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// A text-format TYPE word. Prometheus matches it case-sensitively.
    fn from_text_word(word: &str) -> Option<MetricType> {
        match word {
            "counter" => Some(MetricType::Counter),
            "gauge" => Some(MetricType::Gauge),
            "histogram" => Some(MetricType::Histogram),
            "summary" => Some(MetricType::Summary),
            "untyped" => Some(MetricType::Untyped),
            _ => None,
        }
    }

    /// An OpenMetrics TYPE word (case-sensitive; `untyped` is not one).
    fn from_openmetrics_word(word: &str) -> Option<MetricType> {
        match word {
            "counter" => Some(MetricType::Counter),
            "gauge" => Some(MetricType::Gauge),
            "histogram" => Some(MetricType::Histogram),
            "gaugehistogram" => Some(MetricType::GaugeHistogram),
            "summary" => Some(MetricType::Summary),
            "info" => Some(MetricType::Info),
            "stateset" => Some(MetricType::Stateset),
            "unknown" => Some(MetricType::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample<'a> {
    pub name: &'a str,
    /// label pairs in the order written (the caller sorts); values unescaped.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
    /// milliseconds since the epoch, when the line carried a timestamp
    pub timestamp_ms: Option<i64>,
    /// the raw text of the series part of the line (name + label block, before the value), for a per-target cache
    pub series_text: &'a str,
    /// 1-based line number
    pub line: usize,
}

/// An OpenMetrics exemplar: `# {labels} value [timestamp]` after a sample.
///
/// Parsed and validated like the sample it follows; Narthex stores no exemplars, so the scraper
/// only counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExemplar<'a> {
    /// Index in `Exposition::samples` of the sample the exemplar was written after.
    pub sample: usize,
    /// label pairs in the order written; values unescaped.
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
    /// milliseconds since the epoch, when the exemplar carried a timestamp
    pub timestamp_ms: Option<i64>,
}

/// The OpenMetrics limit on an exemplar's label set: names and values together, in characters.
/// Prometheus does not fail a scrape over a longer one; its exemplar storage refuses it.
pub const EXEMPLAR_MAX_LABEL_SET_LENGTH: usize = 128;

impl ParsedExemplar<'_> {
    /// The length of the label set in characters (names and values), as OpenMetrics and
    /// Prometheus count it against [`EXEMPLAR_MAX_LABEL_SET_LENGTH`].
    pub fn label_set_length(&self) -> usize {
        self.labels
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum()
    }
}

/// Metadata for one metric family.
///
/// A family with only a `# HELP` (or `# UNIT`) line gets `MetricType::Untyped` in the text
/// format and `MetricType::Unknown` in OpenMetrics; one without a HELP line gets `help: None`.
/// `unit` comes from an OpenMetrics `# UNIT` line (never empty: an empty unit is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricMetadata<'a> {
    pub family: &'a str,
    pub metric_type: MetricType,
    pub help: Option<Cow<'a, str>>,
    pub unit: Option<&'a str>,
}

/// A parsed scrape body.
///
/// `samples` are in input order. `metadata` holds one entry per family named on a HELP, TYPE or
/// UNIT line, sorted by family name: the parsers leave it that way and `metadata_for`
/// binary-searches it, so keep it sorted when building one by hand. `exemplars` (OpenMetrics
/// only) are in input order too. `format` says which parser produced it, which decides how
/// `metadata_for` maps sample names to families.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition<'a> {
    pub samples: Vec<ParsedSample<'a>>,
    pub metadata: Vec<MetricMetadata<'a>>,
    pub exemplars: Vec<ParsedExemplar<'a>>,
    pub format: ExpositionFormat,
}

/// Sample-name suffixes that point at a family of one of the listed types, per format.
type SuffixRules = &'static [(&'static str, &'static [MetricType])];

const HISTOGRAM: &[MetricType] = &[MetricType::Histogram];
const HISTOGRAM_OR_SUMMARY: &[MetricType] = &[MetricType::Histogram, MetricType::Summary];

/// Text format 0.0.4 names counters in full, and `_created` series are families of their own.
const TEXT_SUFFIXES: SuffixRules = &[
    ("_bucket", HISTOGRAM),
    ("_count", HISTOGRAM_OR_SUMMARY),
    ("_sum", HISTOGRAM_OR_SUMMARY),
];

/// OpenMetrics family names drop the suffixes their samples carry.
const OPENMETRICS_SUFFIXES: SuffixRules = &[
    ("_total", &[MetricType::Counter]),
    (
        "_created",
        &[
            MetricType::Counter,
            MetricType::Histogram,
            MetricType::Summary,
        ],
    ),
    (
        "_bucket",
        &[MetricType::Histogram, MetricType::GaugeHistogram],
    ),
    ("_count", HISTOGRAM_OR_SUMMARY),
    ("_sum", HISTOGRAM_OR_SUMMARY),
    ("_gcount", &[MetricType::GaugeHistogram]),
    ("_gsum", &[MetricType::GaugeHistogram]),
    ("_info", &[MetricType::Info]),
];

impl<'a> Exposition<'a> {
    /// Lookup helper: metadata for a sample name. An exact family match wins; otherwise a
    /// suffix names a family of a fitting type. In the text format `_bucket` finds a histogram
    /// family and `_count`/`_sum` a histogram or summary family, and `_total` is nothing special
    /// (text format 0.0.4 names counters in full). OpenMetrics adds `_total` (counter),
    /// `_created` (counter, histogram, summary), `_bucket` of a gauge histogram,
    /// `_gcount`/`_gsum` (gauge histogram) and `_info` (info).
    pub fn metadata_for(&self, family: &str) -> Option<&MetricMetadata<'a>> {
        if let Some(m) = self.family(family) {
            return Some(m);
        }
        let rules = match self.format {
            ExpositionFormat::Text => TEXT_SUFFIXES,
            ExpositionFormat::OpenMetrics => OPENMETRICS_SUFFIXES,
        };
        for (suffix, types) in rules {
            if let Some(base) = family.strip_suffix(suffix) {
                return self.family(base).filter(|m| types.contains(&m.metric_type));
            }
        }
        None
    }

    fn family(&self, family: &str) -> Option<&MetricMetadata<'a>> {
        self.metadata
            .binary_search_by(|m| m.family.cmp(family))
            .ok()
            .map(|i| &self.metadata[i])
    }
}

/// A parse error names the 1-based line and what was wrong, e.g. `line 3: invalid value "abc" for metric "foo"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}
