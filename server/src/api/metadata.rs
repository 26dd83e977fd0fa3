//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`: which series, label
//! names and label values exist, restricted to series matching `match[]` selectors with a sample
//! in `[start, end]` (all time by default), sorted, cut to `limit` with Prometheus 3's warning.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use narthex_model::api::{go_quote, write_labels_array, write_string_array, ErrorType};
use narthex_model::{Labels, Matcher, Querier, Storage, StorageError};

use super::{success, ApiError, Params, MAX_TIME, MIN_TIME, TRUNCATED_WARNING};
use crate::server::AppState;

/// `GET|POST /api/v1/series`.
pub(super) async fn series(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::parse_form(request).await?;
        let selectors = params.get_all("match[]");
        if selectors.is_empty() {
            return Err(ApiError::new(
                ErrorType::BadData,
                "no match[] parameter provided",
            ));
        }
        let limit = params.limit()?;
        let start = params.time_param("start", MIN_TIME)?;
        let end = params.time_param("end", MAX_TIME)?;
        let matcher_sets = parse_matcher_sets(&selectors)
            .map_err(|reason| ApiError::bad_param("match[]", reason))?;
        let mut series = read(state, move |querier| {
            let mut all: Vec<Labels> = Vec::new();
            for matchers in &matcher_sets {
                all.extend(querier.series(matchers, start, end)?);
            }
            Ok(all)
        })
        .await?;
        // Several selectors may select the same series.
        series.sort();
        series.dedup();
        let warnings = truncate(&mut series, limit);
        let mut json = String::new();
        write_labels_array(&series, &mut json);
        Ok::<_, ApiError>(success(&json, &warnings, &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET|POST /api/v1/labels`.
pub(super) async fn labels(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let limit = params.limit()?;
        let start = params.time_param("start", MIN_TIME)?;
        let end = params.time_param("end", MAX_TIME)?;
        let matcher_sets = parse_matcher_sets(&params.get_all("match[]"))
            .map_err(|reason| ApiError::new(ErrorType::BadData, reason))?;
        let names = read(state, move |querier| {
            if matcher_sets.is_empty() {
                return querier.label_names(&[], start, end);
            }
            let mut names = BTreeSet::new();
            for matchers in &matcher_sets {
                names.extend(querier.label_names(matchers, start, end)?);
            }
            Ok(names.into_iter().collect())
        })
        .await?;
        Ok::<_, ApiError>(string_list(names, limit))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /api/v1/label/<name>/values`.
pub(super) async fn label_values(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        // From the raw path: the name may be any UTF-8 (Prometheus 3), and a name that is not
        // UTF-8 at all gets Prometheus's error rather than the router's.
        let name = label_name_from_path(request.uri().path())?;
        let params = Params::from_request(request).await?;
        let limit = params.limit()?;
        let start = params.time_param("start", MIN_TIME)?;
        let end = params.time_param("end", MAX_TIME)?;
        let matcher_sets = parse_matcher_sets(&params.get_all("match[]"))
            .map_err(|reason| ApiError::new(ErrorType::BadData, reason))?;
        let values = read(state, move |querier| {
            if matcher_sets.is_empty() {
                return querier.label_values(&name, &[], start, end);
            }
            let mut values = BTreeSet::new();
            for matchers in &matcher_sets {
                values.extend(querier.label_values(&name, matchers, start, end)?);
            }
            Ok(values.into_iter().collect())
        })
        .await?;
        Ok::<_, ApiError>(string_list(values, limit))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A sorted list of strings as the `data` of a success document.
fn string_list(mut items: Vec<String>, limit: usize) -> Response {
    let warnings = truncate(&mut items, limit);
    let mut json = String::new();
    write_string_array(&items, &mut json);
    success(&json, &warnings, &[])
}

/// Cuts `items` to `limit` (0: no limit); Prometheus warns only when something was left out.
fn truncate<T>(items: &mut Vec<T>, limit: usize) -> Vec<String> {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        vec![TRUNCATED_WARNING.to_string()]
    } else {
        Vec::new()
    }
}

/// Reads the storage on the blocking pool (RocksDB reads block).
async fn read<T, F>(state: Arc<AppState>, lookup: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Querier) -> Result<T, StorageError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let querier = state.tsdb.querier();
        lookup(querier.as_ref())
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Internal, format!("lookup task failed: {e}")))?
    .map_err(|e| ApiError::new(ErrorType::Execution, e.to_string()))
}

/// `match[]` selectors: vector selectors each with a matcher that does not match the empty
/// string (a selector matching every series is refused), as Prometheus's `parseMatchersParam`.
/// The reason of a refusal is bare: `series` reports it as an invalid parameter, `labels` and
/// `label/<name>/values` as it is, as Prometheus does.
pub(super) fn parse_matcher_sets(selectors: &[&str]) -> Result<Vec<Vec<Matcher>>, String> {
    let sets = selectors
        .iter()
        .map(|s| narthex_promql::parse_metric_selector(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if sets
        .iter()
        .any(|set| set.iter().all(Matcher::matches_empty))
    {
        return Err("match[] must contain at least one non-empty matcher".into());
    }
    Ok(sets)
}

/// The label name of `/label/<name>/values`, percent-decoded and unescaped from Prometheus's
/// `U__` form; refused as Prometheus 3 refuses it (empty, or not UTF-8).
fn label_name_from_path(path: &str) -> Result<String, ApiError> {
    let raw = path
        .strip_prefix("/api/v1/label/")
        .and_then(|p| p.strip_suffix("/values"))
        .unwrap_or("");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    let invalid = |bytes: &[u8]| {
        ApiError::new(
            ErrorType::BadData,
            format!("invalid label name: {}", go_quote(bytes)),
        )
    };
    let name = String::from_utf8(bytes).map_err(|e| invalid(e.as_bytes()))?;
    let name = unescape_name(&name);
    if name.is_empty() {
        return Err(invalid(name.as_bytes()));
    }
    Ok(name)
}

/// Prometheus's `model.UnescapeName` with value-encoding escaping: `U__` then `_2e_` for `.`
/// (hex code points between underscores) and `__` for `_`. Anything malformed is the name as
/// given.
fn unescape_name(name: &str) -> String {
    let Some(escaped) = name.strip_prefix("U__") else {
        return name.to_string();
    };
    let bytes = escaped.as_bytes();
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'_' {
            // Multi-byte characters pass through whole.
            let Some(c) = escaped.get(i..).and_then(|rest| rest.chars().next()) else {
                return name.to_string();
            };
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        i += 1;
        match bytes.get(i) {
            None => return name.to_string(),
            Some(b'_') => {
                out.push('_');
                i += 1;
            }
            Some(_) => {
                let mut code: u32 = 0;
                let mut digits = 0;
                loop {
                    match bytes.get(i) {
                        Some(b'_') => break,
                        Some(&h) if digits < 6 => {
                            let Some(d) = (h as char).to_digit(16) else {
                                return name.to_string();
                            };
                            code = code * 16 + d;
                            digits += 1;
                            i += 1;
                        }
                        _ => return name.to_string(),
                    }
                }
                let Some(c) = char::from_u32(code) else {
                    return name.to_string();
                };
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_from_paths() {
        let ok = |path: &str| label_name_from_path(path).ok();
        assert_eq!(ok("/api/v1/label/job/values").as_deref(), Some("job"));
        assert_eq!(
            ok("/api/v1/label/service.name/values").as_deref(),
            Some("service.name")
        );
        assert_eq!(ok("/api/v1/label/%E6%97%A5/values").as_deref(), Some("日"));
        assert_eq!(
            ok("/api/v1/label/U__service_2e_name/values").as_deref(),
            Some("service.name")
        );
        let err = label_name_from_path("/api/v1/label/%FF/values")
            .err()
            .map(|e| e.message);
        assert_eq!(err.as_deref(), Some("invalid label name: \"\\xff\""));
    }

    #[test]
    fn unescaping_as_prometheus() {
        assert_eq!(unescape_name("plain"), "plain");
        assert_eq!(unescape_name("U__a__b"), "a_b");
        assert_eq!(unescape_name("U__a_2e_b_1f600_"), "a.b😀");
        // Malformed escapes leave the name as given.
        assert_eq!(unescape_name("U__a_zz_"), "U__a_zz_");
        assert_eq!(unescape_name("U__a_2e"), "U__a_2e");
        assert_eq!(unescape_name("U__a_"), "U__a_");
        assert_eq!(unescape_name("U__a_1234567_"), "U__a_1234567_");
        assert_eq!(unescape_name("U__a_d800_"), "U__a_d800_");
    }

    #[test]
    fn selectors_need_a_non_empty_matcher() {
        assert!(parse_matcher_sets(&["up", "{job=\"a\"}"]).is_ok());
        let message = |s: &str| parse_matcher_sets(&[s]).err();
        assert_eq!(
            message("{job=~\".*\"}").as_deref(),
            Some("match[] must contain at least one non-empty matcher")
        );
        assert_eq!(
            message("up[5m]").as_deref(),
            Some("1:3: parse error: unexpected \"[\"")
        );
    }
}
