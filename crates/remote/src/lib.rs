//! Prometheus remote write 1.0 on the receiving side: what `POST /api/v1/write` does with a body.
//!
//! A request is a snappy block-compressed (not framed) protobuf `prometheus.WriteRequest`. The
//! message types are written by hand with `prost` derives (no `protoc` at build time) and declare
//! only what is stored: labels and float samples. Exemplars, native histograms and metric metadata
//! are decoded as opaque bytes so they can be counted and reported as ignored, and anything newer
//! in the message is skipped as an unknown field, as protobuf readers do.
//!
//! A series whose label set Prometheus could not store either (no metric name, an empty or
//! repeated label name, text that is not UTF-8) is skipped, with its samples, and the rest of
//! the request is written, as Prometheus's handler does (it logs such series and answers 204):
//! one bad series does not cost the sender the whole batch. Samples then go into one appender
//! batch. A sample the storage refuses against what it already holds (out of order, another
//! value at the newest timestamp) rolls the batch back and fails the request, as Prometheus's
//! handler does, so a sender never sees half a request written; one that conflicts only with
//! an earlier sample of the same series in the same request is dropped, as Prometheus's head
//! drops it when the batch is committed.

use std::collections::HashMap;
use std::fmt::Write as _;

use narthex_model::api::{go_quote, labels_string};
use narthex_model::{
    Labels, LabelsBuilder, Matcher, Sample, SeriesOrder, Storage, StorageError, METRIC_NAME,
};
use prost::Message;

/// The protobuf messages of `prompb/remote.proto` and `prompb/types.proto`, reduced to what
/// Narthex reads.
pub mod proto {
    /// `prometheus.WriteRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
        /// `MetricMetadata` entries, kept opaque: counted, not stored.
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub metadata: Vec<Vec<u8>>,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// `Exemplar` messages, kept opaque: counted, not stored.
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub exemplars: Vec<Vec<u8>>,
        /// Native `Histogram` messages, kept opaque: counted, not stored.
        #[prost(bytes = "vec", repeated, tag = "4")]
        pub histograms: Vec<Vec<u8>>,
    }

    /// `prometheus.Label`. Read as bytes, so that a series whose text is not UTF-8 can be
    /// skipped alone rather than failing the whole message.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(bytes = "vec", tag = "1")]
        pub name: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// `prometheus.Sample`.
    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
}

/// The most a request may decompress to. Snappy states the length up front, so a body claiming
/// more is refused before any memory is allocated for it.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// How far ahead of the receiver's clock a sample may be: Prometheus's `maxAheadTime`.
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Why a request body cannot be read. All are the sender's fault (HTTP 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Snappy(String),
    #[error("snappy: decompressed length {length} exceeds the limit of {limit} bytes")]
    TooLarge { length: usize, limit: usize },
    #[error("{0}")]
    Protobuf(String),
}

/// Why a decoded request was not written. Nothing of it was.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A sample older than the newest one of its series (HTTP 400, as Prometheus, so the sender
    /// does not retry it).
    #[error("out of order sample")]
    OutOfOrder,
    /// Another value at the newest timestamp of a series (HTTP 400). The message is Prometheus
    /// 3's.
    #[error(
        "duplicate sample for timestamp {timestamp}; overrides not allowed: existing {}, new value {} for series {series}",
        go_float(*existing),
        go_float(*new)
    )]
    Duplicate {
        timestamp: i64,
        existing: f64,
        new: f64,
        series: String,
    },
    /// A sample more than `MAX_AHEAD_MS` ahead of the receiver's clock (HTTP 400).
    #[error("out of bounds: timestamp is too far in the future")]
    TooFarInFuture,
    /// The storage refused the series (HTTP 400).
    #[error("{0}")]
    InvalidSeries(StorageError),
    /// The storage failed (HTTP 500): the request may be retried.
    #[error("{0}")]
    Storage(StorageError),
}

impl WriteError {
    /// Whether the sender's data is at fault (HTTP 400), rather than the receiver (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, WriteError::Storage(_))
    }
}

/// One series of a request with its samples, in the order sent.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A series of a request that was skipped, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid labels for series {series}: {reason}")]
pub struct InvalidSeries {
    /// The labels as sent.
    pub series: String,
    pub reason: String,
    /// Its samples, which are not written.
    pub samples: usize,
}

/// A decoded request: the series to write, and those skipped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    pub series: Vec<SeriesSamples>,
    /// Series with label sets that cannot be stored, skipped.
    pub invalid: Vec<InvalidSeries>,
    /// Native histogram samples, which Narthex does not store yet.
    pub ignored_histograms: usize,
    pub ignored_exemplars: usize,
    pub ignored_metadata: usize,
}

impl WriteBatch {
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// Decompresses and decodes a request body, and checks every label set (skipping those that
/// cannot be stored).
pub fn decode(body: &[u8]) -> Result<WriteBatch, DecodeError> {
    let length = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if length > MAX_DECOMPRESSED_BYTES {
        return Err(DecodeError::TooLarge {
            length,
            limit: MAX_DECOMPRESSED_BYTES,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    let request = proto::WriteRequest::decode(raw.as_slice())
        .map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let mut batch = WriteBatch {
        series: Vec::with_capacity(request.timeseries.len()),
        ignored_metadata: request.metadata.len(),
        ..WriteBatch::default()
    };
    for series in request.timeseries {
        batch.ignored_histograms += series.histograms.len();
        batch.ignored_exemplars += series.exemplars.len();
        let labels = match to_labels(&series.labels) {
            Ok(labels) => labels,
            Err(reason) => {
                batch.invalid.push(InvalidSeries {
                    series: written_labels(&series.labels),
                    reason,
                    samples: series.samples.len(),
                });
                continue;
            }
        };
        batch.series.push(SeriesSamples {
            labels,
            samples: series
                .samples
                .iter()
                .map(|s| Sample {
                    t: s.timestamp,
                    v: s.value,
                })
                .collect(),
        });
    }
    Ok(batch)
}

/// The label set of a series, or why Prometheus would not store it: no metric name, an empty
/// name, a name given twice, or text that is not UTF-8.
fn to_labels(labels: &[proto::Label]) -> Result<Labels, String> {
    let mut builder = LabelsBuilder::with_capacity(labels.len());
    let mut metric_name = None;
    for label in labels {
        let (Ok(name), Ok(value)) = (
            std::str::from_utf8(&label.name),
            std::str::from_utf8(&label.value),
        ) else {
            return Err("label name or value is not valid UTF-8".into());
        };
        if name.is_empty() {
            return Err("empty label name".into());
        }
        if builder.get(name).is_some() {
            return Err(format!(
                "duplicate label name {}",
                go_quote(name.as_bytes())
            ));
        }
        if name == METRIC_NAME {
            metric_name = Some(value);
        }
        builder.set(name, value);
    }
    match metric_name {
        None => Err("no metric name (__name__ label)".into()),
        Some("") => Err("empty metric name".into()),
        Some(_) => Ok(builder.build()),
    }
}

/// Labels as sent, for messages about label sets that never became a `Labels`.
fn written_labels(labels: &[proto::Label]) -> String {
    let mut out = String::from("{");
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}={}", go_quote(&label.name), go_quote(&label.value));
    }
    out.push('}');
    out
}

/// What a written request came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Samples appended (identical resends of a series' newest sample included).
    pub samples: usize,
    /// Samples dropped for conflicting with an earlier sample of their series in the request.
    pub conflicting: usize,
}

/// Appends a decoded request as one batch, all or nothing. `now_ms` is the receiver's clock, for
/// refusing samples too far in the future.
pub fn write(
    storage: &dyn Storage,
    batch: &WriteBatch,
    now_ms: i64,
) -> Result<Written, WriteError> {
    let max_time = now_ms.saturating_add(MAX_AHEAD_MS);
    let mut appender = storage.appender();
    // The newest value appended per series in this request, for the message of a duplicate.
    let mut newest: HashMap<&Labels, f64> = HashMap::new();
    let mut written = Written::default();
    for series in &batch.series {
        for sample in &series.samples {
            let refused = if sample.t > max_time {
                Some(WriteError::TooFarInFuture)
            } else {
                match appender.append(&series.labels, sample.t, sample.v) {
                    Ok(_) => None,
                    Err(StorageError::OutOfOrder) => Some(WriteError::OutOfOrder),
                    Err(StorageError::DuplicateTimestamp) => Some(WriteError::Duplicate {
                        timestamp: sample.t,
                        existing: match newest.get(&series.labels) {
                            Some(&v) => v,
                            None => stored_value(storage, &series.labels, sample.t),
                        },
                        new: sample.v,
                        series: labels_string(&series.labels),
                    }),
                    Err(e @ StorageError::InvalidSeries { .. }) => {
                        Some(WriteError::InvalidSeries(e))
                    }
                    Err(e) => Some(WriteError::Storage(e)),
                }
            };
            match refused {
                None => {}
                // Out of order only against this request's own earlier samples of the series,
                // which a fresh appender, seeing the stored data alone, takes.
                Some(WriteError::OutOfOrder | WriteError::Duplicate { .. })
                    if newest.contains_key(&series.labels)
                        && fits_stored(storage, &series.labels, sample) =>
                {
                    written.conflicting += 1;
                    continue;
                }
                Some(error) => {
                    appender.rollback();
                    return Err(error);
                }
            }
            newest.insert(&series.labels, sample.v);
            written.samples += 1;
        }
    }
    appender.commit().map_err(WriteError::Storage)?;
    Ok(written)
}

/// Whether `sample` would go after what is stored of `labels` (Prometheus's `Append` checks a
/// sample against the committed series only). The probing batch is never committed.
fn fits_stored(storage: &dyn Storage, labels: &Labels, sample: &Sample) -> bool {
    let mut probe = storage.appender();
    let fits = probe.append(labels, sample.t, sample.v).is_ok();
    probe.rollback();
    fits
}

/// The stored value of exactly `labels` at `t` (NaN when it cannot be read), for a message.
fn stored_value(storage: &dyn Storage, labels: &Labels, t: i64) -> f64 {
    let matchers: Vec<Matcher> = labels
        .iter()
        .map(|l| Matcher::equal(l.name.as_str(), l.value.as_str()))
        .collect();
    storage
        .querier()
        .select(SeriesOrder::Labels, &matchers, t, t)
        .ok()
        .and_then(|found| found.into_iter().find(|s| &s.labels == labels))
        .and_then(|s| s.samples.first().map(|s| s.v))
        .unwrap_or(f64::NAN)
}

/// A float as Go's `%g` writes it: the shortest digits, in exponent form from 1e6 and below 1e-4
/// (`1e+06`, `1.5e-05`), `+Inf`, `NaN`.
fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits with the decimal exponent.
    let sci = format!("{v:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return sci;
    };
    // Go's strconv: %e when exp < -4 || exp >= eprec, and eprec is 6 for the shortest form.
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use narthex_model::memory::MemoryStorage;

    fn label(name: &str, value: &str) -> proto::Label {
        proto::Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn body(request: &proto::WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap()
    }

    /// Labels and (timestamp, value) samples of one series.
    type TestSeries = (Vec<proto::Label>, Vec<(i64, f64)>);

    fn request(series: Vec<TestSeries>) -> proto::WriteRequest {
        proto::WriteRequest {
            timeseries: series
                .into_iter()
                .map(|(labels, samples)| proto::TimeSeries {
                    labels,
                    samples: samples
                        .into_iter()
                        .map(|(timestamp, value)| proto::Sample { value, timestamp })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            metadata: Vec::new(),
        }
    }

    #[test]
    fn decodes_series_and_counts_what_it_ignores() {
        let mut req = request(vec![(
            vec![label("__name__", "up"), label("job", "a")],
            vec![(1000, 1.0), (2000, 0.5)],
        )]);
        req.timeseries[0].histograms.push(vec![1, 2, 3]);
        req.timeseries[0].exemplars.push(vec![]);
        req.metadata.push(vec![8, 1]);
        let batch = decode(&body(&req)).unwrap();
        assert_eq!(batch.series.len(), 1);
        assert_eq!(
            batch.series[0].labels,
            Labels::from_pairs([("__name__", "up"), ("job", "a")])
        );
        assert_eq!(
            batch.series[0].samples,
            [Sample { t: 1000, v: 1.0 }, Sample { t: 2000, v: 0.5 }]
        );
        assert_eq!(
            (
                batch.ignored_histograms,
                batch.ignored_exemplars,
                batch.ignored_metadata
            ),
            (1, 1, 1)
        );
        assert_eq!(batch.sample_count(), 2);
    }

    #[test]
    fn refuses_bad_bodies_and_labels() {
        assert!(matches!(
            decode(b"\xff\xff\xff"),
            Err(DecodeError::Snappy(_))
        ));
        let not_proto = snap::raw::Encoder::new().compress_vec(b"\x0a\xff").unwrap();
        assert!(matches!(decode(&not_proto), Err(DecodeError::Protobuf(_))));
        // A length header beyond the limit is refused before decompressing.
        let mut huge = Vec::new();
        let mut n = (MAX_DECOMPRESSED_BYTES + 1) as u64;
        while n >= 0x80 {
            huge.push((n as u8) | 0x80);
            n >>= 7;
        }
        huge.push(n as u8);
        assert!(matches!(decode(&huge), Err(DecodeError::TooLarge { .. })));

        let cases = [
            (vec![label("job", "a")], "invalid labels for series {\"job\"=\"a\"}: no metric name (__name__ label)"),
            (
                vec![label("__name__", "up"), label("", "x")],
                "invalid labels for series {\"__name__\"=\"up\", \"\"=\"x\"}: empty label name",
            ),
            (
                vec![label("__name__", "up"), label("a", "1"), label("a", "2")],
                "invalid labels for series {\"__name__\"=\"up\", \"a\"=\"1\", \"a\"=\"2\"}: duplicate label name \"a\"",
            ),
            (vec![label("__name__", "")], "invalid labels for series {\"__name__\"=\"\"}: empty metric name"),
            (
                vec![
                    label("__name__", "up"),
                    proto::Label {
                        name: b"a".to_vec(),
                        value: b"\xff".to_vec(),
                    },
                ],
                "invalid labels for series {\"__name__\"=\"up\", \"a\"=\"\\xff\"}: label name or value is not valid UTF-8",
            ),
        ];
        for (labels, want) in cases {
            // The bad series is skipped with its samples; the good one beside it stays.
            let good = vec![label("__name__", "good")];
            let batch = decode(&body(&request(vec![
                (labels, vec![(1, 1.0), (2, 2.0)]),
                (good, vec![(1, 1.0)]),
            ])))
            .unwrap();
            assert_eq!(batch.invalid.len(), 1);
            assert_eq!(batch.invalid[0].to_string(), want);
            assert_eq!(batch.invalid[0].samples, 2);
            assert_eq!(batch.series.len(), 1);
            assert_eq!(batch.series[0].labels.metric_name(), Some("good"));
        }
    }

    #[test]
    fn writes_all_or_nothing() {
        let storage = MemoryStorage::new();
        let up = vec![label("__name__", "up"), label("job", "a")];
        let ok = decode(&body(&request(vec![(
            up.clone(),
            vec![(1000, 1.0), (2000, 2.0)],
        )])))
        .unwrap();
        assert_eq!(write(&storage, &ok, 0).unwrap().samples, 2);
        let stored = |storage: &MemoryStorage| {
            storage
                .querier()
                .select(
                    SeriesOrder::Labels,
                    &[Matcher::equal("__name__", "up")],
                    0,
                    10_000,
                )
                .unwrap()[0]
                .samples
                .len()
        };
        assert_eq!(stored(&storage), 2);

        // A too-new sample refuses the whole request, the good samples before it included.
        let future = decode(&body(&request(vec![
            (vec![label("__name__", "other")], vec![(3000, 1.0)]),
            (up.clone(), vec![(3000 + MAX_AHEAD_MS + 1, 1.0)]),
        ])))
        .unwrap();
        let err = write(&storage, &future, 3000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "out of bounds: timestamp is too far in the future"
        );
        assert!(err.is_client_error());
        assert!(storage
            .querier()
            .select(
                SeriesOrder::Labels,
                &[Matcher::equal("__name__", "other")],
                0,
                10_000
            )
            .unwrap()
            .is_empty());
    }

    #[test]
    fn go_float_formatting() {
        for (v, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }
}
