//! HTTP-based discovery, as Prometheus's `discovery/http`: a GET of the URL every
//! `refresh_interval`, answered with a JSON list of target groups.
//!
//! A refresh that fails (transport error, status other than 200, another Content-Type, a body
//! that is not such a list) keeps the previous groups; it is logged and counted.

use std::sync::Arc;

use narthex_config::discovery::HttpSdConfig;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::http_client::{HttpClient, HttpClientError};
use crate::metrics::{inc, SdMetrics};
use crate::targetgroup::{parse_groups, Format, GroupsError, TargetGroup};
use crate::Slot;

const URL_LABEL: &str = "__meta_url";

#[derive(Debug, thiserror::Error)]
enum HttpSdError {
    #[error(transparent)]
    Client(#[from] HttpClientError),
    #[error("{}", error_chain(.0))]
    Request(#[from] reqwest::Error),
    #[error("server returned HTTP status {0}")]
    Status(StatusCode),
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    #[error(transparent)]
    Groups(#[from] GroupsError),
}

/// reqwest's top-level message ("error sending request") hides the cause (refused connection,
/// certificate rejected), which is what the log reader needs.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(crate) async fn run(
    config: HttpSdConfig,
    client: HttpClient,
    slot: Slot,
    metrics: Arc<SdMetrics>,
) {
    let mut ticker = tokio::time::interval(config.refresh_interval.as_std());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match fetch(&config, &client).await {
            Ok(groups) => slot.set(groups),
            Err(error) => {
                inc(&metrics.http_failures);
                inc(&metrics.http_refresh_failures);
                tracing::error!(url = %config.url, %error, "unable to refresh HTTP target groups");
            }
        }
    }
}

async fn fetch(
    config: &HttpSdConfig,
    client: &HttpClient,
) -> Result<Vec<TargetGroup>, HttpSdError> {
    let interval = config.refresh_interval.as_std();
    let response = client
        .get(config.url.as_str())?
        .header(ACCEPT, "application/json")
        // Lets the server tell how stale its answer may be; written as Go's FormatFloat does.
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            interval.as_secs_f64().to_string(),
        )
        // As Prometheus, a refresh may take up to the interval.
        .timeout(interval)
        .send()
        .await?;
    if response.status() != StatusCode::OK {
        return Err(HttpSdError::Status(response.status()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    if !is_json(&content_type) {
        return Err(HttpSdError::ContentType(content_type));
    }
    let body = response.bytes().await?;
    Ok(parse_groups(
        &body,
        Format::Json,
        &config.url,
        URL_LABEL,
        &config.url,
    )?)
}

/// Prometheus's `^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$` on the trimmed value.
fn is_json(content_type: &str) -> bool {
    let value = content_type.trim().to_ascii_lowercase();
    let Some(rest) = value.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(parameter) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        parameter.trim_start_matches(char::is_whitespace),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_as_prometheus_matches_it() {
        for good in [
            "application/json",
            "Application/JSON",
            " application/json ",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_json(good), "{good}");
        }
        for bad in [
            "",
            "text/plain",
            "application/jsonx",
            "application/json; charset=latin1",
            "application/json; version=1",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }
}
