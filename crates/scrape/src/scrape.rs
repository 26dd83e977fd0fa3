//! One scrape of one target: HTTP GET, parse, relabel, check limits, append, commit.
//!
//! A scrape is all or nothing for the target's own series: if the body cannot be fetched,
//! parsed, or breaks a limit, none of it is stored, the target is down, and the series of the
//! previous scrape get staleness markers. The synthetic series (`up`,
//! `scrape_duration_seconds`, ...) are written in every case, in the same batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use narthex_config::{ScrapeLimits, ScrapeProtocol};
use narthex_model::exposition::{
    format_for_content_type, parse, Exposition, ExpositionFormat, ParsedSample,
};
use narthex_model::{
    stale_nan, Appender, Labels, LabelsBuilder, SeriesRef, Storage, StorageError, METRIC_NAME,
};

use crate::target::{MetricMetadata, Target};

/// Why a scrape failed, as `lastError` shows it.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("Get \"{url}\": {reason}")]
    Http { url: String, reason: String },
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("context deadline exceeded")]
    Timeout,
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("body is not valid UTF-8 text: {0}")]
    NotText(String),
    #[error("{0}")]
    ContentType(String),
    #[error("parse error: {0}")]
    Parse(#[from] narthex_model::exposition::ParseError),
    #[error("sample limit exceeded")]
    SampleLimit,
    #[error("{0}")]
    LabelLimit(String),
    #[error("duplicate series {0} in one scrape: the target's exposition is inconsistent")]
    DuplicateSeries(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A failure decided for the whole pool, such as `target_limit` exceeded.
    #[error("{0}")]
    Forced(String),
}

/// Relabels one scraped series (`metric_relabel_configs`); `None` drops it.
pub type MetricRelabel = Arc<dyn Fn(&Labels) -> Option<Labels> + Send + Sync>;

/// What a scrape pool's configuration says about each of its scrapes.
#[derive(Clone)]
pub struct ScrapeSettings {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub enable_compression: bool,
    pub limits: ScrapeLimits,
    /// The Accept header, from `scrape_protocols`.
    pub accept: String,
    pub fallback_protocol: Option<ScrapeProtocol>,
    pub metric_relabel: Option<MetricRelabel>,
}

impl Default for ScrapeSettings {
    fn default() -> Self {
        ScrapeSettings {
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            enable_compression: true,
            limits: ScrapeLimits::default(),
            accept: accept_header(&narthex_config::DEFAULT_SCRAPE_PROTOCOLS),
            fallback_protocol: None,
            metric_relabel: None,
        }
    }
}

/// The Accept header for a list of protocols, weighted in order as Prometheus does
/// (`;q=0.5`, `;q=0.4`, ..., then `*/*`). Protobuf is left out: Narthex does not parse it.
pub fn accept_header(protocols: &[ScrapeProtocol]) -> String {
    let types: Vec<&str> = protocols.iter().filter_map(|p| p.media_type()).collect();
    let mut weight = types.len() + 1;
    let mut header = String::new();
    for media_type in types {
        header.push_str(media_type);
        header.push_str(&format!(";q={}", q_value(weight)));
        header.push(',');
        weight -= 1;
    }
    header.push_str(&format!("*/*;q={}", q_value(weight)));
    header
}

/// Prometheus writes weights as `0.<n>`, or `0.0<n>` from ten protocols on.
fn q_value(weight: usize) -> String {
    if weight >= 10 {
        format!("0.{weight:02}").trim_end_matches('0').to_string()
    } else {
        format!("0.{weight}")
    }
}

/// What a scrape did, for target health and the synthetic series.
#[derive(Debug)]
pub struct ScrapeReport {
    pub started: SystemTime,
    pub duration: Duration,
    pub samples_scraped: usize,
    pub samples_post_relabel: usize,
    /// Samples the storage refused as out of order.
    pub samples_out_of_order: usize,
    /// Samples the storage refused as a different value at an existing timestamp.
    pub samples_duplicate_timestamp: usize,
    /// Samples the storage refused for their series (invalid labels).
    pub samples_invalid: usize,
    pub series_added: usize,
    /// Exemplars in the body; the TSDB does not store them.
    pub exemplars_dropped: usize,
    pub error: Option<ScrapeError>,
}

/// State a target's loop keeps between scrapes: the series cache and the last metadata.
///
/// Keyed by the raw series text of a line (`name{labels}` as the target wrote it), so a series
/// seen before is neither re-labelled nor looked up by labels again: the storage gets its ref.
/// The cache also tells which series vanished since the previous scrape (staleness markers).
#[derive(Default)]
pub struct ScrapeState {
    cache: HashMap<String, CachedSeries>,
    /// Counts successful scrapes; a cache entry remembers the last one that had its series.
    generation: u64,
    pub metadata: Arc<BTreeMap<String, MetricMetadata>>,
}

struct CachedSeries {
    /// `None` when metric relabeling drops the series.
    labels: Option<Labels>,
    series_ref: SeriesRef,
    seen: u64,
    /// `seen` before the current scrape: whether the series was in the previous scrape, even
    /// after a failure part-way through this one set `seen`.
    prev_seen: u64,
    /// Series with their own timestamps get no staleness markers, as in Prometheus (unless
    /// `track_timestamps_staleness`).
    explicit_timestamp: bool,
}

/// A fetched body and the Content-Type it came with.
pub struct Body {
    pub text: String,
    pub content_type: Option<String>,
}

/// Fetches the target's exposition body. `request` is a GET of the target's URL from the pool's
/// HTTP client (which adds authentication).
pub async fn fetch(
    request: reqwest::RequestBuilder,
    target: &Target,
    settings: &ScrapeSettings,
) -> Result<Body, ScrapeError> {
    let encoding = if settings.enable_compression {
        "gzip"
    } else {
        "identity"
    };
    let request = request
        .header(reqwest::header::ACCEPT, &settings.accept)
        .header(reqwest::header::ACCEPT_ENCODING, encoding)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        )
        .timeout(target.timeout);
    let http_error = |e: reqwest::Error| {
        if e.is_timeout() {
            ScrapeError::Timeout
        } else {
            ScrapeError::Http {
                url: target.url.clone(),
                reason: error_chain(&e),
            }
        }
    };
    let mut response = request.send().await.map_err(http_error)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ScrapeError::Status(status.to_string()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = settings.limits.body_size_limit;
    let mut bytes = Vec::new();
    // Read chunk by chunk so an oversized body is refused without buffering all of it.
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if limit > 0 && (bytes.len() + chunk.len()) as u64 > limit {
            return Err(ScrapeError::BodySizeLimit);
        }
        bytes.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(bytes).map_err(|e| ScrapeError::NotText(e.to_string()))?;
    Ok(Body { text, content_type })
}

/// The innermost causes too: reqwest's top-level message alone ("error sending request") does
/// not tell connection refused from a DNS failure.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Parses a body in the format its Content-Type names, as Prometheus 3 chooses: a missing or
/// unknown type fails the scrape unless the pool names a fallback protocol.
pub fn parse_body<'a>(
    body: &'a Body,
    fallback: Option<ScrapeProtocol>,
) -> Result<Exposition<'a>, ScrapeError> {
    let fallback = fallback.and_then(|protocol| match protocol {
        ScrapeProtocol::PrometheusText004 | ScrapeProtocol::PrometheusText100 => {
            Some(ExpositionFormat::Text)
        }
        ScrapeProtocol::OpenMetricsText001 | ScrapeProtocol::OpenMetricsText100 => {
            Some(ExpositionFormat::OpenMetrics)
        }
        ScrapeProtocol::PrometheusProto => None,
    });
    let negotiated = format_for_content_type(body.content_type.as_deref(), fallback)
        .map_err(|e| ScrapeError::ContentType(e.to_string()))?;
    Ok(parse(negotiated.format, &body.text)?)
}

/// Scrapes `target` once and writes the result to `storage` at the scrape's start time.
pub async fn scrape_once(
    request: reqwest::RequestBuilder,
    target: &Target,
    settings: &ScrapeSettings,
    storage: &dyn Storage,
    state: &mut ScrapeState,
) -> ScrapeReport {
    let started = SystemTime::now();
    let clock = Instant::now();
    let body = fetch(request, target, settings).await;
    record_scrape(
        target,
        settings,
        storage,
        state,
        started,
        clock.elapsed(),
        body,
    )
}

/// Writes what one scrape got (or why it failed) at the scrape's start time, with the
/// synthetic series, and reports it.
fn record_scrape(
    target: &Target,
    settings: &ScrapeSettings,
    storage: &dyn Storage,
    state: &mut ScrapeState,
    started: SystemTime,
    duration: Duration,
    body: Result<Body, ScrapeError>,
) -> ScrapeReport {
    let timestamp = started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut report = ScrapeReport {
        started,
        duration,
        samples_scraped: 0,
        samples_post_relabel: 0,
        samples_out_of_order: 0,
        samples_duplicate_timestamp: 0,
        samples_invalid: 0,
        series_added: 0,
        exemplars_dropped: 0,
        error: None,
    };
    if let Err(e) = write_scrape(
        target,
        settings,
        storage,
        state,
        timestamp,
        body,
        &mut report,
    ) {
        report.error = Some(e);
    }
    report
}

fn write_scrape(
    target: &Target,
    settings: &ScrapeSettings,
    storage: &dyn Storage,
    state: &mut ScrapeState,
    timestamp: i64,
    body: Result<Body, ScrapeError>,
    report: &mut ScrapeReport,
) -> Result<(), ScrapeError> {
    let mut appender = storage.appender();
    let previous = state.generation;
    let current = previous + 1;
    let outcome = body.and_then(|body| {
        let exposition = parse_body(&body, settings.fallback_protocol)?;
        append_exposition(
            &exposition,
            target,
            settings,
            state,
            current,
            timestamp,
            appender.as_mut(),
            report,
        )?;
        update_metadata(&mut state.metadata, &exposition);
        Ok(())
    });
    if let Err(e) = outcome {
        // Nothing of a failed scrape is stored: start the batch over with only what follows.
        appender.rollback();
        appender = storage.appender();
        // Over the sample limit, the counts stay as Prometheus reports them (users compare
        // them with the limit); other failures count nothing.
        if !matches!(e, ScrapeError::SampleLimit) {
            report.samples_scraped = 0;
            report.samples_post_relabel = 0;
        }
        report.samples_out_of_order = 0;
        report.samples_duplicate_timestamp = 0;
        report.samples_invalid = 0;
        report.series_added = 0;
        report.error = Some(e);
    }
    let succeeded = report.error.is_none();
    // Series of the previous scrape missing from this one (all of them after a failure) get a
    // staleness marker and leave the cache.
    let track_explicit = settings.track_timestamps_staleness;
    state.cache.retain(|_, entry| {
        let now = succeeded && entry.seen == current;
        let in_previous = previous > 0
            && (entry.seen == previous || (entry.seen == current && entry.prev_seen == previous));
        if !now && in_previous {
            if let Some(labels) = &entry.labels {
                if !entry.explicit_timestamp || track_explicit {
                    // A marker can be refused if the series got a newer sample meanwhile.
                    let _ = appender.append_ref(entry.series_ref, labels, timestamp, stale_nan());
                }
            }
        }
        now
    });
    state.generation = if succeeded { current } else { 0 };

    write_synthetic(target, appender.as_mut(), timestamp, report)?;
    appender.commit()?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn append_exposition(
    exposition: &Exposition<'_>,
    target: &Target,
    settings: &ScrapeSettings,
    state: &mut ScrapeState,
    current: u64,
    timestamp: i64,
    appender: &mut dyn Appender,
    report: &mut ScrapeReport,
) -> Result<(), ScrapeError> {
    report.samples_scraped = exposition.samples.len();
    report.exemplars_dropped = exposition.exemplars.len();
    let sample_limit = settings.limits.sample_limit as usize;
    let mut over_limit = false;
    for sample in &exposition.samples {
        let explicit = settings
            .honor_timestamps
            .then_some(sample.timestamp_ms)
            .flatten();
        let t = explicit.unwrap_or(timestamp);
        let entry = match state.cache.get_mut(sample.series_text) {
            Some(entry) => entry,
            None => {
                let labels = series_labels(sample, target, settings)?;
                state
                    .cache
                    .entry(sample.series_text.to_string())
                    .or_insert(CachedSeries {
                        labels,
                        series_ref: 0,
                        seen: 0,
                        prev_seen: 0,
                        explicit_timestamp: false,
                    })
            }
        };
        // The same series twice in one scrape: the exposition contradicts itself.
        if entry.seen == current {
            return Err(ScrapeError::DuplicateSeries(sample.series_text.to_string()));
        }
        // Entries kept from the previous scrape have `seen >= 1`; a new one has 0.
        let new = entry.seen == 0;
        entry.prev_seen = entry.seen;
        entry.seen = current;
        entry.explicit_timestamp = explicit.is_some();
        let Some(labels) = &entry.labels else {
            continue;
        };
        if new {
            report.series_added += 1;
        }
        report.samples_post_relabel += 1;
        if sample_limit > 0 && report.samples_post_relabel > sample_limit {
            // Counted to the end, appended no further: the scrape fails below.
            over_limit = true;
        }
        if over_limit {
            continue;
        }
        match appender.append_ref(entry.series_ref, labels, t, sample.value) {
            Ok(r) => {
                if r != 0 {
                    entry.series_ref = r;
                }
            }
            Err(StorageError::OutOfOrder) => report.samples_out_of_order += 1,
            Err(StorageError::DuplicateTimestamp) => report.samples_duplicate_timestamp += 1,
            Err(e) if e.is_sample_error() => report.samples_invalid += 1,
            Err(e) => return Err(ScrapeError::Storage(e)),
        }
    }
    if over_limit {
        return Err(ScrapeError::SampleLimit);
    }
    Ok(())
}

/// A new series' labels: target labels merged in, metric relabeling applied, limits checked.
fn series_labels(
    sample: &ParsedSample<'_>,
    target: &Target,
    settings: &ScrapeSettings,
) -> Result<Option<Labels>, ScrapeError> {
    let merged = sample_labels(sample, target, settings.honor_labels);
    let labels = match &settings.metric_relabel {
        Some(relabel) => match relabel(&merged) {
            Some(labels) => labels,
            None => return Ok(None),
        },
        None => merged,
    };
    check_label_limits(&labels, &settings.limits)?;
    Ok(Some(labels))
}

/// Prometheus's `verifyLabelLimits`, with its messages.
fn check_label_limits(labels: &Labels, limits: &ScrapeLimits) -> Result<(), ScrapeError> {
    let metric: String = labels
        .metric_name()
        .unwrap_or("")
        .chars()
        .take(50)
        .collect();
    if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            limits.label_limit
        )));
    }
    for label in labels.iter() {
        // Lengths in bytes, as Prometheus's `len()`.
        let name_length = label.name.len() as u64;
        if limits.label_name_length_limit > 0 && name_length > limits.label_name_length_limit {
            let name: String = label.name.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {name_length}, limit: {})",
                limits.label_name_length_limit
            )));
        }
        let value_length = label.value.len() as u64;
        if limits.label_value_length_limit > 0 && value_length > limits.label_value_length_limit {
            let name: String = label.name.chars().take(50).collect();
            let value: String = label.value.chars().take(50).collect();
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {name}, value: {value:?}, length: {value_length}, limit: {})",
                limits.label_value_length_limit
            )));
        }
    }
    Ok(())
}

fn write_synthetic(
    target: &Target,
    appender: &mut dyn Appender,
    timestamp: i64,
    report: &ScrapeReport,
) -> Result<(), ScrapeError> {
    let up = if report.error.is_none() { 1.0 } else { 0.0 };
    let synthetic = [
        ("up", up),
        ("scrape_duration_seconds", report.duration.as_secs_f64()),
        ("scrape_samples_scraped", report.samples_scraped as f64),
        (
            "scrape_samples_post_metric_relabeling",
            report.samples_post_relabel as f64,
        ),
        ("scrape_series_added", report.series_added as f64),
    ];
    for (name, value) in synthetic {
        let mut labels = target.labels.to_builder();
        labels.set(METRIC_NAME, name);
        if let Err(e) = appender.append(&labels.build(), timestamp, value) {
            if !e.is_sample_error() {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Keeps the metadata of the last successful scrape; allocates only when it changed.
fn update_metadata(
    current: &mut Arc<BTreeMap<String, MetricMetadata>>,
    exposition: &Exposition<'_>,
) {
    let unchanged = current.len() == exposition.metadata.len()
        && exposition.metadata.iter().all(|m| {
            current.get(m.family).is_some_and(|old| {
                old.metric_type == m.metric_type.as_str()
                    && old.help == m.help.as_deref().unwrap_or("")
                    && old.unit == m.unit.unwrap_or("")
            })
        });
    if unchanged {
        return;
    }
    *current = Arc::new(
        exposition
            .metadata
            .iter()
            .map(|m| {
                (
                    m.family.to_string(),
                    MetricMetadata {
                        metric_type: m.metric_type.as_str().to_string(),
                        help: m.help.as_deref().unwrap_or("").to_string(),
                        unit: m.unit.unwrap_or("").to_string(),
                    },
                )
            })
            .collect(),
    );
}

/// Records a scrape that could not be attempted (`target_limit` exceeded, unreadable
/// credentials): the target is down with `error`, as in Prometheus.
pub fn failed_scrape(
    target: &Target,
    settings: &ScrapeSettings,
    storage: &dyn Storage,
    state: &mut ScrapeState,
    error: ScrapeError,
) -> ScrapeReport {
    record_scrape(
        target,
        settings,
        storage,
        state,
        SystemTime::now(),
        Duration::ZERO,
        Err(error),
    )
}

impl ScrapeState {
    /// Drops the cached series labels (the pool now labels series differently). Series that
    /// the new labelling no longer produces get no staleness marker; they end at the lookback
    /// delta.
    pub fn forget_series(&mut self) {
        self.cache.clear();
        self.generation = 0;
    }
}

/// Writes staleness markers for every series of the last scrape: the target went away.
pub fn mark_all_stale(
    state: &mut ScrapeState,
    target: &Target,
    storage: &dyn Storage,
    track_timestamps_staleness: bool,
) {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut appender = storage.appender();
    let previous = state.generation;
    for entry in state.cache.values() {
        if let (Some(labels), true) = (&entry.labels, entry.seen == previous && previous > 0) {
            if !entry.explicit_timestamp || track_timestamps_staleness {
                let _ = appender.append_ref(entry.series_ref, labels, timestamp, stale_nan());
            }
        }
    }
    for name in [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        let mut labels = target.labels.to_builder();
        labels.set(METRIC_NAME, name);
        let _ = appender.append(&labels.build(), timestamp, stale_nan());
    }
    if let Err(e) = appender.commit() {
        tracing::warn!(url = %target.url, error = %e, "cannot write staleness markers");
    }
    state.cache.clear();
    state.generation = 0;
}

/// A scraped sample's labels merged with the target's, as Prometheus's `mutateSampleLabels`:
/// with `honor_labels` the scraped value wins; otherwise the target's wins and a clashing
/// scraped label is kept as `exported_<name>`.
pub fn sample_labels(sample: &ParsedSample<'_>, target: &Target, honor_labels: bool) -> Labels {
    let mut builder = LabelsBuilder::with_capacity(sample.labels.len() + target.labels.len() + 1);
    builder.set(METRIC_NAME, sample.name);
    for (name, value) in &sample.labels {
        builder.set(*name, value.as_ref());
    }
    for label in target.labels.iter() {
        let scraped = builder.get(&label.name).map(str::to_string);
        match scraped {
            Some(_) if honor_labels => {}
            Some(value) => {
                let mut exported = format!("exported_{}", label.name);
                while builder.get(&exported).is_some() {
                    exported = format!("exported_{exported}");
                }
                builder.set(exported, value);
                builder.set(label.name.clone(), label.value.clone());
            }
            None => {
                builder.set(label.name.clone(), label.value.clone());
            }
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_weights_protocols_in_order_as_prometheus() {
        assert_eq!(
            accept_header(&narthex_config::DEFAULT_SCRAPE_PROTOCOLS),
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
        assert_eq!(
            accept_header(&[
                ScrapeProtocol::PrometheusProto,
                ScrapeProtocol::PrometheusText004
            ]),
            "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        );
    }

    fn body(content_type: Option<&str>, text: &str) -> Body {
        Body {
            text: text.into(),
            content_type: content_type.map(str::to_string),
        }
    }

    #[test]
    fn content_type_chooses_the_parser_and_unknown_types_fail_without_fallback() {
        let text = body(Some("text/plain; version=0.0.4; charset=utf-8"), "a 1\n");
        assert_eq!(parse_body(&text, None).unwrap().samples.len(), 1);
        let om = body(
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            "a_total 1\n# EOF\n",
        );
        assert_eq!(parse_body(&om, None).unwrap().samples.len(), 1);
        // OpenMetrics requires `# EOF`: the text parser would have accepted this body.
        let truncated = body(Some("application/openmetrics-text"), "a 1\n");
        assert!(parse_body(&truncated, None).is_err());
        let blank = body(None, "a 1\n");
        let err = parse_body(&blank, None).unwrap_err().to_string();
        assert!(err.contains("blank Content-Type"), "{err}");
        assert_eq!(
            parse_body(&blank, Some(ScrapeProtocol::PrometheusText004))
                .unwrap()
                .samples
                .len(),
            1
        );
        let html = body(Some("text/html"), "<html>");
        let err = parse_body(&html, None).unwrap_err().to_string();
        assert!(
            err.contains("unsupported Content-Type \"text/html\""),
            "{err}"
        );
    }
}
