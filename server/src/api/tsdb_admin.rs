//! `/api/v1/status/tsdb` (head statistics and cardinality tables) and the admin endpoints under
//! `/api/v1/admin/tsdb/` (`snapshot`, `delete_series`, `clean_tombstones`), which answer only
//! when the server runs with `--web.enable-admin-api`, as in Prometheus.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use narthex_model::api::{error_json, write_json_string, ErrorType};

use super::metadata::parse_matcher_sets;
use super::{json_response, success, ApiContext, ApiError, Params, MAX_TIME, MIN_TIME};
use crate::server::AppState;

/// `GET /api/v1/status/tsdb[?limit=N]`: Prometheus's `headStats` and top-N lists (10 unless
/// `limit` says otherwise).
pub(super) async fn status(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let limit = match params.get("limit") {
            None | Some("") => 10,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ApiError::new(
                        ErrorType::BadData,
                        "limit must be a positive number",
                    ))
                }
            },
        };
        let status = blocking(move || Ok(state.tsdb.status(limit))).await?;
        let mut json = String::new();
        // An empty head reports Prometheus's sentinels: MaxInt64 / MinInt64.
        let _ = write!(
            json,
            "{{\"headStats\":{{\"numSeries\":{},\"numLabelPairs\":{},\"chunkCount\":{},\"minTime\":{},\"maxTime\":{}}}",
            status.num_series,
            status.num_label_pairs,
            status.chunk_count,
            status.min_time,
            status.max_time
        );
        for (key, list) in [
            ("seriesCountByMetricName", &status.series_count_by_metric_name),
            (
                "labelValueCountByLabelName",
                &status.label_value_count_by_label_name,
            ),
            (
                "memoryInBytesByLabelName",
                &status.memory_in_bytes_by_label_name,
            ),
            (
                "seriesCountByLabelValuePair",
                &status.series_count_by_label_value_pair,
            ),
        ] {
            let _ = write!(json, ",\"{key}\":[");
            for (i, (name, value)) in list.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str("{\"name\":");
                write_json_string(name, &mut json);
                let _ = write!(json, ",\"value\":{value}}}");
            }
            json.push(']');
        }
        json.push('}');
        Ok::<_, ApiError>(success(&json, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Runs TSDB work on the blocking pool (it reads and writes RocksDB).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(internal)?
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorType::Internal, e.to_string())
}

/// Prometheus answers a disabled admin API with errorType `unavailable` and status 500;
/// `None` when the admin API is enabled.
fn admin_disabled(context: &ApiContext) -> Option<Response> {
    (!context.admin_api).then(|| {
        json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_json(ErrorType::Unavailable, "admin APIs disabled"),
        )
    })
}

/// `POST|PUT /api/v1/admin/tsdb/snapshot`: a consistent copy under `<data>/snapshots/<name>`.
pub(super) async fn snapshot(State(state): State<Arc<AppState>>) -> Response {
    if let Some(disabled) = admin_disabled(&state.api) {
        return disabled;
    }
    let result = async {
        let name = snapshot_name();
        let dir = state.tsdb.path().join("snapshots").join(&name);
        let parent = dir.parent().map(std::path::Path::to_path_buf);
        blocking(move || {
            if let Some(parent) = parent {
                std::fs::create_dir_all(&parent).map_err(|e| {
                    ApiError::new(
                        ErrorType::Internal,
                        format!("create snapshot directory {}: {e}", parent.display()),
                    )
                })?;
            }
            state
                .tsdb
                .snapshot(&dir)
                .map_err(|e| ApiError::new(ErrorType::Internal, format!("create snapshot: {e}")))
        })
        .await?;
        let mut json = String::from("{\"name\":");
        write_json_string(&name, &mut json);
        json.push('}');
        Ok::<_, ApiError>(success(&json, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Prometheus's snapshot names: UTC time `YYYYMMDDTHHMMSSZ`, a dash, 16 hex digits.
fn snapshot_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = narthex_model::duration::civil_from_days(days);
    let random = u64::from(now.subsec_nanos()) ^ (std::process::id() as u64) << 32;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{random:016x}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `POST|PUT /api/v1/admin/tsdb/delete_series?match[]=...&start=...&end=...`: 204 No Content.
pub(super) async fn delete_series(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    if let Some(disabled) = admin_disabled(&state.api) {
        return disabled;
    }
    let result = async {
        let params = Params::parse_form(request).await?;
        let selectors = params.get_all("match[]");
        if selectors.is_empty() {
            return Err(ApiError::new(
                ErrorType::BadData,
                "no match[] parameter provided",
            ));
        }
        let start = params.time_param("start", MIN_TIME)?;
        let end = params.time_param("end", MAX_TIME)?;
        let sets = parse_matcher_sets(&selectors)
            .map_err(|reason| ApiError::new(ErrorType::BadData, reason))?;
        blocking(move || {
            for matchers in &sets {
                state
                    .tsdb
                    .delete_series(matchers, start, end)
                    .map_err(internal)?;
            }
            Ok(())
        })
        .await?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST|PUT /api/v1/admin/tsdb/clean_tombstones`: 204 No Content. Deletions take effect on
/// disk at once; this compacts the chunks to return their space.
pub(super) async fn clean_tombstones(State(state): State<Arc<AppState>>) -> Response {
    if let Some(disabled) = admin_disabled(&state.api) {
        return disabled;
    }
    let result = async {
        blocking(move || state.tsdb.compact().map_err(internal)).await?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_look_like_prometheus_ones() {
        assert_eq!(narthex_model::duration::civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            narthex_model::duration::civil_from_days(20_782),
            (2026, 11, 25)
        );
        assert_eq!(narthex_model::duration::civil_from_days(-1), (1969, 12, 31));
        let name = snapshot_name();
        assert_eq!(name.len(), 16 + 1 + 16, "{name}");
        assert!(
            name.as_bytes()[8] == b'T' && name.as_bytes()[15] == b'Z',
            "{name}"
        );
    }
}
