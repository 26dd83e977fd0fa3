//! One scrape of one target: HTTP GET, parse, label, append, commit.
//!
//! A scrape is all or nothing for the target's own series: if the body cannot be fetched or
//! parsed, none of it is stored, the target is down, and the series of the previous scrape get
//! staleness markers. The synthetic series (`up`, `scrape_duration_seconds`, ...) are written in
//! every case, in the same batch.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use narthex_model::exposition::{parse_text, ParsedSample};
use narthex_model::{
    stale_nan, Labels, LabelsBuilder, SeriesRef, Storage, StorageError, METRIC_NAME,
};

use crate::target::Target;
use crate::ACCEPT_HEADER;

/// Why a scrape failed, as `lastError` shows it.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("Get \"{url}\": {reason}")]
    Http { url: String, reason: String },
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("context deadline exceeded")]
    Timeout,
    #[error("body is not valid UTF-8 text: {0}")]
    NotText(String),
    #[error("parse error: {0}")]
    Parse(#[from] narthex_model::exposition::ParseError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// What a scrape did, for target health and the synthetic series.
#[derive(Debug)]
pub struct ScrapeReport {
    pub started: SystemTime,
    pub duration: Duration,
    pub samples_scraped: usize,
    /// Samples the storage refused one by one (out of order, duplicates).
    pub samples_rejected: usize,
    pub series_added: usize,
    pub error: Option<ScrapeError>,
}

/// State a target's loop keeps between scrapes: the series cache.
///
/// Keyed by the raw series text of a line (`name{labels}` as the target wrote it), so a series
/// seen before is neither re-labelled nor looked up by labels again: the storage gets its ref.
/// The cache also tells which series vanished since the previous scrape (staleness markers).
#[derive(Default)]
pub struct ScrapeState {
    cache: HashMap<String, CachedSeries>,
    /// Counts successful scrapes; a cache entry remembers the last one that had its series.
    generation: u64,
}

struct CachedSeries {
    labels: Labels,
    series_ref: SeriesRef,
    seen: u64,
    /// Series with their own timestamps get no staleness markers, as in Prometheus.
    explicit_timestamp: bool,
}

/// Fetches the target's exposition body.
pub async fn fetch(client: &reqwest::Client, target: &Target) -> Result<String, ScrapeError> {
    let request = client
        .get(&target.url)
        .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
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
    let response = request.send().await.map_err(http_error)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ScrapeError::Status(status.to_string()));
    }
    let bytes = response.bytes().await.map_err(http_error)?;
    String::from_utf8(bytes.to_vec()).map_err(|e| ScrapeError::NotText(e.to_string()))
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

/// Scrapes `target` once and writes the result to `storage` at the scrape's start time.
pub async fn scrape_once(
    client: &reqwest::Client,
    target: &Target,
    storage: &dyn Storage,
    state: &mut ScrapeState,
) -> ScrapeReport {
    let started = SystemTime::now();
    let clock = Instant::now();
    let timestamp = started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let body = fetch(client, target).await;
    let duration = clock.elapsed();
    let mut report = ScrapeReport {
        started,
        duration,
        samples_scraped: 0,
        samples_rejected: 0,
        series_added: 0,
        error: None,
    };
    if let Err(e) = write_scrape(target, storage, state, timestamp, body, &mut report) {
        report.error = Some(e);
    }
    report
}

fn write_scrape(
    target: &Target,
    storage: &dyn Storage,
    state: &mut ScrapeState,
    timestamp: i64,
    body: Result<String, ScrapeError>,
    report: &mut ScrapeReport,
) -> Result<(), ScrapeError> {
    let mut appender = storage.appender();
    let previous = state.generation;
    let current = previous + 1;
    let outcome = body.and_then(|text| {
        let exposition = parse_text(&text)?;
        report.samples_scraped = exposition.samples.len();
        for sample in &exposition.samples {
            let explicit = target
                .honor_timestamps
                .then_some(sample.timestamp_ms)
                .flatten();
            let t = explicit.unwrap_or(timestamp);
            let entry = match state.cache.get_mut(sample.series_text) {
                Some(entry) => entry,
                None => state
                    .cache
                    .entry(sample.series_text.to_string())
                    .or_insert(CachedSeries {
                        labels: sample_labels(sample, target),
                        series_ref: 0,
                        seen: 0,
                        explicit_timestamp: false,
                    }),
            };
            // Entries kept from the previous scrape have `seen >= 1`; a new one has 0.
            if entry.seen == 0 {
                report.series_added += 1;
            }
            // The same series twice in one scrape: Prometheus keeps the first.
            if entry.seen == current {
                report.samples_rejected += 1;
                continue;
            }
            entry.seen = current;
            entry.explicit_timestamp = explicit.is_some();
            match appender.append_ref(entry.series_ref, &entry.labels, t, sample.value) {
                Ok(r) => {
                    if r != 0 {
                        entry.series_ref = r;
                    }
                }
                Err(e) if e.is_sample_error() => report.samples_rejected += 1,
                Err(e) => return Err(ScrapeError::Storage(e)),
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        // Nothing of a failed scrape is stored: start the batch over with only what follows.
        appender.rollback();
        appender = storage.appender();
        report.samples_scraped = 0;
        report.samples_rejected = 0;
        report.series_added = 0;
        report.error = Some(e);
    }
    let succeeded = report.error.is_none();
    // Series of the previous scrape missing from this one (all of them after a failure) get a
    // staleness marker and leave the cache.
    state.cache.retain(|_, entry| {
        let now = succeeded && entry.seen == current;
        if !now && entry.seen == previous && previous > 0 && !entry.explicit_timestamp {
            // A marker can be refused if the series got a newer sample meanwhile.
            let _ = appender.append_ref(entry.series_ref, &entry.labels, timestamp, stale_nan());
        }
        now
    });
    state.generation = if succeeded { current } else { 0 };

    let up = if report.error.is_none() { 1.0 } else { 0.0 };
    let post_relabel = report.samples_scraped as f64;
    let synthetic = [
        ("up", up),
        ("scrape_duration_seconds", report.duration.as_secs_f64()),
        ("scrape_samples_scraped", report.samples_scraped as f64),
        ("scrape_samples_post_metric_relabeling", post_relabel),
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
    appender.commit()?;
    Ok(())
}

/// A scraped sample's labels merged with the target's, as Prometheus's `mutateSampleLabels`:
/// with `honor_labels` the scraped value wins; otherwise the target's wins and a clashing
/// scraped label is kept as `exported_<name>`.
pub fn sample_labels(sample: &ParsedSample<'_>, target: &Target) -> Labels {
    let mut builder = LabelsBuilder::with_capacity(sample.labels.len() + target.labels.len() + 1);
    builder.set(METRIC_NAME, sample.name);
    for (name, value) in &sample.labels {
        builder.set(*name, value.as_ref());
    }
    for label in target.labels.iter() {
        let scraped = builder.get(&label.name).map(str::to_string);
        match scraped {
            Some(_) if target.honor_labels => {}
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
