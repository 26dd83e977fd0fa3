//! The Prometheus HTTP API under `/api/v1`: parameters read from the URL and from form bodies as
//! Prometheus reads them, answers and errors in Prometheus's JSON.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use narthex_model::api::{error_json, success_json, ErrorType};
use narthex_model::duration::{parse_duration, parse_timestamp};

use narthex_model::Storage;
use narthex_promql::{EngineError, Expr, QueryResult};

use crate::server::AppState;

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/query", get(query).post(query))
        .route("/query_range", get(query_range).post(query_range))
        .fallback(|| async { ApiError::new(ErrorType::NotFound, "not found") })
}

/// An API error: rendered as `{"status":"error",...}` with the error type's status code.
pub struct ApiError {
    error_type: ErrorType,
    message: String,
}

impl ApiError {
    fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            error_type,
            message: message.into(),
        }
    }

    fn bad_param(name: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorType::BadData,
            format!("invalid parameter {name:?}: {reason}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error_type.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, error_json(self.error_type, &self.message))
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Request parameters from the URL query and, for form posts, the body (as Go's
/// `Request.FormValue`, the body's values come first).
struct Params(Vec<(String, String)>);

impl Params {
    async fn from_request(request: Request) -> Result<Params, ApiError> {
        let mut pairs = Vec::new();
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let url_query = request.uri().query().unwrap_or("").to_string();
        if is_form {
            let body = Bytes::from_request(request, &()).await.map_err(|e| {
                ApiError::new(ErrorType::BadData, format!("error parsing form: {e}"))
            })?;
            pairs.extend(form_urlencoded::parse(&body).into_owned());
        }
        pairs.extend(form_urlencoded::parse(url_query.as_bytes()).into_owned());
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A timestamp parameter, or `default` when absent or empty.
    fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => parse_timestamp(text).map_err(|e| ApiError::bad_param(name, e)),
        }
    }

    fn required_time(&self, name: &str) -> Result<i64, ApiError> {
        parse_timestamp(self.get(name).unwrap_or("")).map_err(|e| ApiError::bad_param(name, e))
    }
}

/// Go's API duration: float seconds, or a Prometheus duration string.
fn parse_api_duration(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<f64>() {
        let ms = (seconds * 1000.0).round();
        if ms.is_finite() && ms.abs() < 9.2e18 {
            return Ok(ms as i64);
        }
    }
    parse_duration(text).map_err(|_| format!("cannot parse {text:?} to a valid duration"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The `query` parameter, parsed with the features the server was started with.
fn parse_expr(state: &AppState, params: &Params) -> Result<(String, Expr), ApiError> {
    let text = params.get("query").unwrap_or("").to_string();
    let expr = narthex_promql::parse_with(&text, &state.parse_options)
        .map_err(|e| ApiError::bad_param("query", e))?;
    Ok((text, expr))
}

async fn query(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let time = params.time_or("time", now_ms())?;
        let (text, expr) = parse_expr(&state, &params)?;
        evaluate(state, move |state| {
            let querier = state.tsdb.querier();
            state
                .engine
                .instant_with_source(querier.as_ref(), &expr, Some(&text), time)
        })
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn query_range(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let start = params.required_time("start")?;
        let end = params.required_time("end")?;
        if end < start {
            return Err(ApiError::new(
                ErrorType::BadData,
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_api_duration(params.get("step").unwrap_or(""))
            .map_err(|e| ApiError::bad_param("step", e))?;
        if step <= 0 {
            return Err(ApiError::new(
                ErrorType::BadData,
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(ApiError::new(
                ErrorType::BadData,
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let (text, expr) = parse_expr(&state, &params)?;
        evaluate(state, move |state| {
            let querier = state.tsdb.querier();
            state
                .engine
                .range_with_source(querier.as_ref(), &expr, Some(&text), start, end, step)
        })
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Runs an evaluation on the blocking pool (storage reads block) and renders its result.
async fn evaluate<F>(state: Arc<AppState>, evaluation: F) -> Result<Response, ApiError>
where
    F: FnOnce(&AppState) -> Result<QueryResult, EngineError> + Send + 'static,
{
    let outcome = tokio::task::spawn_blocking(move || evaluation(&state))
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("query task failed: {e}")))?;
    let result = outcome.map_err(|e| {
        // The error types Prometheus's API gives each engine error.
        let error_type = match &e {
            EngineError::BadData(_) => ErrorType::BadData,
            EngineError::Timeout => ErrorType::Timeout,
            EngineError::Canceled => ErrorType::Canceled,
            EngineError::Storage(_) => ErrorType::Internal,
            EngineError::Execution(_) | EngineError::TooManySamples => ErrorType::Execution,
        };
        ApiError::new(error_type, e.to_string())
    })?;
    let mut json = String::new();
    result.data.write_json(&mut json);
    Ok(json_response(
        StatusCode::OK,
        success_json(&json, &result.warnings, &result.infos),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_durations() {
        assert_eq!(parse_api_duration("15"), Ok(15_000));
        assert_eq!(parse_api_duration("0.5"), Ok(500));
        assert_eq!(parse_api_duration("1m"), Ok(60_000));
        assert_eq!(
            parse_api_duration("x"),
            Err("cannot parse \"x\" to a valid duration".to_string())
        );
    }
}
