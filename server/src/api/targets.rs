//! `/api/v1/targets`, `/api/v1/targets/metadata` and `/api/v1/metadata`: the scrape pools'
//! targets and the metric metadata their last scrapes exposed, in Prometheus's JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use narthex_model::api::ErrorType;
use narthex_model::duration::format_rfc3339_nanos;
use narthex_scrape::target::SCRAPE_INTERVAL_LABEL;
use narthex_scrape::target::SCRAPE_TIMEOUT_LABEL;
use narthex_scrape::TargetStatus;
use serde::Serialize;

use super::{success, to_json, ApiError, GoFloat, LabelMap, Params};
use crate::server::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveTarget<'a> {
    discovered_labels: LabelMap<'a>,
    labels: LabelMap<'a>,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: &'a str,
    last_scrape: String,
    last_scrape_duration: GoFloat,
    health: &'static str,
    scrape_interval: &'a str,
    scrape_timeout: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedTarget<'a> {
    discovered_labels: LabelMap<'a>,
    scrape_pool: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetDiscovery<'a> {
    active_targets: Vec<ActiveTarget<'a>>,
    dropped_targets: Vec<DroppedTarget<'a>>,
    /// `null` when dropped targets were not asked for, as in Prometheus.
    dropped_target_counts: Option<BTreeMap<String, usize>>,
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=NAME`.
pub(super) async fn targets(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let params = Params::url_only(&request);
    let result = async {
        let wanted = params.get("state").unwrap_or("").to_ascii_lowercase();
        let (show_active, show_dropped) = match wanted.as_str() {
            "" | "any" => (true, true),
            "active" => (true, false),
            "dropped" => (false, true),
            // Prometheus answers an unknown state with nothing at all.
            _ => (false, false),
        };
        let pool = params.get("scrapePool").filter(|p| !p.is_empty());
        let in_pool = |name: &str| pool.is_none_or(|p| p == name);

        let mut active = state.scrape.targets();
        // Prometheus lists pools by name; targets keep their order within a pool.
        active.sort_by(|a, b| a.target.pool.cmp(&b.target.pool));
        let (mut dropped, dropped_counts) = state.scrape.dropped_targets();
        dropped.sort_by(|a, b| a.pool.cmp(&b.pool));
        let (scheme, host) = state
            .external_url
            .split_once("://")
            .unwrap_or(("http", state.external_url.as_str()));
        let host = host.split('/').next().unwrap_or(host);
        let global = GlobalUrlOptions {
            scheme,
            host,
            listen_port: state.listen_port,
        };
        let document = TargetDiscovery {
            active_targets: if show_active {
                active
                    .iter()
                    .filter(|t| in_pool(&t.target.pool))
                    .map(|t| active_json(t, &global))
                    .collect()
            } else {
                Vec::new()
            },
            dropped_targets: if show_dropped {
                dropped
                    .iter()
                    .filter(|t| in_pool(&t.pool))
                    .map(|t| DroppedTarget {
                        discovered_labels: LabelMap(&t.discovered_labels),
                        scrape_pool: &t.pool,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            dropped_target_counts: show_dropped.then(|| {
                dropped_counts
                    .into_iter()
                    .filter(|(name, _)| in_pool(name))
                    .collect()
            }),
        };
        Ok::<_, ApiError>(success(&to_json(&document)?, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn active_json<'a>(status: &'a TargetStatus, global: &GlobalUrlOptions<'_>) -> ActiveTarget<'a> {
    let target = &status.target;
    ActiveTarget {
        discovered_labels: LabelMap(&target.discovered_labels),
        labels: LabelMap(&target.labels),
        scrape_pool: &target.pool,
        scrape_url: &target.url,
        global_url: global_url(&target.url, global),
        last_error: &status.last_error,
        last_scrape: format_rfc3339_nanos(status.last_scrape),
        last_scrape_duration: GoFloat(status.last_scrape_duration.as_secs_f64()),
        health: status.health.as_str(),
        scrape_interval: target
            .internal_labels
            .get(SCRAPE_INTERVAL_LABEL)
            .unwrap_or(""),
        scrape_timeout: target
            .internal_labels
            .get(SCRAPE_TIMEOUT_LABEL)
            .unwrap_or(""),
    }
}

/// Where this server is reached from outside, for `globalUrl`.
pub(crate) struct GlobalUrlOptions<'a> {
    /// The external URL's scheme and `host:port`.
    pub scheme: &'a str,
    pub host: &'a str,
    /// The port Narthex listens on.
    pub listen_port: u16,
}

/// Splits `host:port` (`[v6]:port`); `None` without a port, as Go's `net.SplitHostPort` fails.
fn split_host_port(host_port: &str) -> Option<(&str, &str)> {
    let (host, port) = host_port.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.contains(':') || host_port.starts_with('[')).then_some((host, port))
}

/// Prometheus's `getGlobalURL`: a target on a loopback host is shown with the external URL's
/// host; the server's own `/metrics` (loopback and the listen port) with the external scheme,
/// host and port.
fn global_url(url: &str, options: &GlobalUrlOptions<'_>) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((host, port)) = split_host_port(authority) else {
        return url.to_string();
    };
    if !["127.0.0.1", "localhost", "::1"].contains(&host) {
        return url.to_string();
    }
    if port == options.listen_port.to_string() {
        return format!("{}://{}{path}", options.scheme, options.host);
    }
    match split_host_port(options.host) {
        Some((external_host, _)) => format!("{scheme}://{external_host}:{port}{path}"),
        None => url.to_string(),
    }
}

pub(crate) fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

#[derive(Serialize)]
struct TargetMetadata<'a> {
    target: LabelMap<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<&'a str>,
    #[serde(rename = "type")]
    metric_type: &'a str,
    help: &'a str,
    unit: &'a str,
}

/// `GET /api/v1/targets/metadata?match_target=SELECTOR&metric=NAME&limit=N`.
pub(super) async fn targets_metadata(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let limit = optional_limit(&params, "limit")?;
        let matchers = match params.get("match_target").filter(|m| !m.is_empty()) {
            Some(selector) => narthex_promql::parse_metric_selector(selector)
                .map_err(|e| ApiError::bad_param("match_target", e))?,
            None => Vec::new(),
        };
        let metric = params.get("metric").filter(|m| !m.is_empty());
        let targets = state.scrape.targets();
        let mut entries = Vec::new();
        'targets: for status in &targets {
            let labels = &status.target.labels;
            if !matchers
                .iter()
                .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            {
                continue;
            }
            for (name, meta) in status.metadata.iter() {
                if metric.is_some_and(|m| m != name) {
                    continue;
                }
                if limit.is_some_and(|limit| entries.len() >= limit) {
                    break 'targets;
                }
                entries.push(TargetMetadata {
                    target: LabelMap(labels),
                    metric: metric.is_none().then_some(name.as_str()),
                    metric_type: &meta.metric_type,
                    help: &meta.help,
                    unit: &meta.unit,
                });
            }
        }
        Ok::<_, ApiError>(success(&to_json(&entries)?, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Metadata<'a> {
    #[serde(rename = "type")]
    metric_type: &'a str,
    help: &'a str,
    unit: &'a str,
}

/// `GET /api/v1/metadata?metric=NAME&limit=N&limit_per_metric=N`: each metric's distinct
/// metadata across all targets.
pub(super) async fn metadata(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let limit = optional_limit(&params, "limit")?;
        let per_metric = optional_limit(&params, "limit_per_metric")?;
        let metric = params.get("metric").filter(|m| !m.is_empty());
        let targets = state.scrape.targets();
        let mut all: BTreeMap<&str, Vec<Metadata<'_>>> = BTreeMap::new();
        for status in &targets {
            for (name, meta) in status.metadata.iter() {
                if metric.is_some_and(|m| m != name) {
                    continue;
                }
                let entry = Metadata {
                    metric_type: &meta.metric_type,
                    help: &meta.help,
                    unit: &meta.unit,
                };
                let list = all.entry(name.as_str()).or_default();
                if !list.contains(&entry) {
                    list.push(entry);
                }
            }
        }
        let mut answer: BTreeMap<&str, Vec<Metadata<'_>>> = BTreeMap::new();
        for (name, mut list) in all {
            if limit.is_some_and(|limit| answer.len() >= limit) {
                break;
            }
            if let Some(per_metric) = per_metric {
                list.truncate(per_metric);
            }
            answer.insert(name, list);
        }
        Ok::<_, ApiError>(success(&to_json(&answer)?, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A count parameter where absent or negative means no limit (Prometheus's `-1` default).
fn optional_limit(params: &Params, name: &str) -> Result<Option<usize>, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::new(
                ErrorType::BadData,
                format!("invalid {name}: {text:?} is not a number"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_urls_as_prometheus_computes_them() {
        let options = GlobalUrlOptions {
            scheme: "https",
            host: "box.example:443",
            listen_port: 9090,
        };
        // Our own /metrics: the external scheme, host and port.
        assert_eq!(
            global_url("http://localhost:9090/metrics", &options),
            "https://box.example:443/metrics"
        );
        // Another local service: only the host is replaced.
        assert_eq!(
            global_url("http://127.0.0.1:9100/metrics?x=1", &options),
            "http://box.example:9100/metrics?x=1"
        );
        assert_eq!(
            global_url("http://[::1]:9100/m", &options),
            "http://box.example:9100/m"
        );
        assert_eq!(
            global_url("http://10.0.0.1:1/m", &options),
            "http://10.0.0.1:1/m"
        );
        assert_eq!(
            global_url("http://localhostx:1/m", &options),
            "http://localhostx:1/m"
        );
        // No port: left alone, as Go's SplitHostPort fails.
        assert_eq!(
            global_url("http://localhost/m", &options),
            "http://localhost/m"
        );
    }
}
