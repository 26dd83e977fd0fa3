//! The Prometheus HTTP API under `/api/v1`: parameters read from the URL and from form bodies
//! (URL-encoded or multipart) as Prometheus reads them, answers and errors in Prometheus's JSON.
//!
//! Queries (`query`, `query_range`) pass a gate of `--query.max-concurrency` permits before they
//! run on the blocking pool; the time spent waiting counts against the query's timeout, the
//! shorter of the `timeout` parameter and `--query.timeout`, as in Prometheus. The metadata
//! endpoints live in `metadata`, `parse_query` in `ast_json` (`format_query` uses the promql crate's
//! `pretty`), and the remote write receiver in `write`.

mod ast_json;
pub(crate) mod http_compat;
mod metadata;
pub mod parsed_queries;
mod query_string;
mod rules;
mod status;
mod targets;

pub(crate) use targets::hostname;
mod tsdb_admin;
mod write;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use narthex_model::api::{error_json, go_quote, success_json, ErrorType, QueryData};
use narthex_model::duration::{parse_duration, parse_timestamp};
use narthex_model::{Querier, Storage};
use narthex_promql::engine::cost::{sample_bound, Evaluation};
use narthex_promql::{Engine, EngineError, Expr, QueryResult, QueryStats};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::first_request::DirectAnswer;
use crate::server::AppState;

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The warning Prometheus 3 adds when `limit` cut a result short.
const TRUNCATED_WARNING: &str = "results truncated due to limit";

/// Prometheus's `MinTime` and `MaxTime` (ms): the defaults of optional `start`/`end`.
const MIN_TIME: i64 = -9_223_309_901_257_974_000;
const MAX_TIME: i64 = 9_223_309_901_257_974_999;

/// `MinTime` and `MaxTime` as RFC 3339, which clients (client_golang, Grafana) send for an
/// unbounded range and which Go's time parser cannot read, so Prometheus matches them as text.
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// A remote write body may be this large; snappy bodies from Prometheus are far smaller (its
/// default batch is 2,000 samples), backfills can be larger.
const WRITE_BODY_LIMIT: usize = 64 << 20;

/// How the API is set up: what the `--query.max-concurrency` and
/// `--web.enable-remote-write-receiver` flags say.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Queries evaluated at once; more wait for a permit.
    pub max_concurrency: usize,
    /// Whether `POST /api/v1/write` accepts remote write requests (404 otherwise, as Prometheus).
    pub remote_write_receiver: bool,
    /// Whether the `/api/v1/admin/` endpoints work (`--web.enable-admin-api`).
    pub admin_api: bool,
    /// The origins browsers may read answers from (`--web.cors.origin`, anchored).
    pub cors_origin: narthex_config::relabel::Regex,
}

impl Default for ApiOptions {
    /// Prometheus's defaults.
    fn default() -> Self {
        ApiOptions {
            max_concurrency: 20,
            remote_write_receiver: false,
            admin_api: false,
            cors_origin: narthex_config::relabel::Regex::new(DEFAULT_CORS_ORIGIN)
                .expect("the default CORS origin pattern compiles"),
        }
    }
}

/// `--web.cors.origin`'s default: every origin.
pub const DEFAULT_CORS_ORIGIN: &str = ".*";

/// The API's own settings and query gate, kept in `AppState`.
pub struct ApiContext {
    /// One permit per query being evaluated.
    query_gate: Arc<Semaphore>,
    remote_write_receiver: bool,
    admin_api: bool,
    cors_origin: narthex_config::relabel::Regex,
}

impl ApiContext {
    pub fn new(options: &ApiOptions) -> ApiContext {
        ApiContext {
            query_gate: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
            remote_write_receiver: options.remote_write_receiver,
            admin_api: options.admin_api,
            cors_origin: options.cors_origin.clone(),
        }
    }
}

/// Every `/api/v1` route, with its full path: nesting would rewrite each request's URI. What
/// Prometheus's router adds around them (CORS, `OPTIONS`, 404, 405) is `http_compat`'s.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route(
            "/api/v1/series",
            get(metadata::series).post(metadata::series),
        )
        .route(
            "/api/v1/labels",
            get(metadata::labels).post(metadata::labels),
        )
        .route("/api/v1/label/{name}/values", get(metadata::label_values))
        .route("/api/v1/status/tsdb", get(tsdb_admin::status))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtime_info))
        .route("/api/v1/status/buildinfo", get(status::build_info))
        .route("/api/v1/status/walreplay", get(status::wal_replay))
        .route("/api/v1/scrape_pools", get(status::scrape_pools))
        .route("/api/v1/notifications", get(status::notifications))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/api/v1/alertmanagers", get(rules::alertmanagers))
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(tsdb_admin::snapshot).put(tsdb_admin::snapshot),
        )
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(tsdb_admin::delete_series).put(tsdb_admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(tsdb_admin::clean_tombstones).put(tsdb_admin::clean_tombstones),
        )
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
        .route(
            "/api/v1/write",
            post(write::remote_write).layer(DefaultBodyLimit::max(WRITE_BODY_LIMIT)),
        )
        // Paths under /api that name no endpoint get Prometheus's 404, not the web UI.
        .route("/api/v1", any(http_compat::redirect_to_api_root))
        .route("/api", any(http_compat::not_found))
        .route("/api/", any(http_compat::not_found))
        .route("/api/{*rest}", any(http_compat::not_found))
}

/// A label set as a JSON object, keys sorted (as Go writes a map), its strings escaped as
/// Prometheus 3 escapes label sets everywhere: `<`, `>` and `&` as they are (unlike the other
/// strings of a serde answer, see [`to_json`]).
pub(crate) struct LabelMap<'a>(pub &'a narthex_model::Labels);

impl LabelMap<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl serde::Serialize for LabelMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = String::new();
        narthex_model::api::write_labels(self.0, &mut out);
        raw_json(out, serializer)
    }
}

/// Name-value pairs that Prometheus holds as a label set, such as an alerting rule's label
/// and annotation templates: written as [`LabelMap`] writes a label set.
pub(crate) struct TemplateMap<'a>(pub &'a std::collections::BTreeMap<String, String>);

impl serde::Serialize for TemplateMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = String::new();
        let pairs = self
            .0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()));
        narthex_model::api::write_label_pairs(pairs, &mut out);
        raw_json(out, serializer)
    }
}

/// JSON written by our own writers, passed through serde_json as it is.
fn raw_json<S: serde::Serializer>(json: String, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(json).map_err(serde::ser::Error::custom)?;
    serde::Serialize::serialize(&raw, serializer)
}

/// serde_json's output with every character of its strings escaped by
/// `model::api::write_json_string_content`, as Prometheus 3's json-iterator writes them
/// (HTML-safe, `\u0008` and `\u000c` where serde_json writes `\b` and `\f`).
#[derive(Default)]
struct PrometheusFormatter {
    /// Reused for each piece of a string.
    escaped: String,
}

impl PrometheusFormatter {
    fn write_escaped<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        text: &str,
    ) -> std::io::Result<()> {
        self.escaped.clear();
        narthex_model::api::write_json_string_content(text, &mut self.escaped);
        writer.write_all(self.escaped.as_bytes())
    }
}

impl serde_json::ser::Formatter for PrometheusFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        self.write_escaped(writer, fragment)
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape;
        let c = match char_escape {
            CharEscape::Quote => '"',
            CharEscape::ReverseSolidus => '\\',
            CharEscape::Solidus => '/',
            CharEscape::Backspace => '\u{8}',
            CharEscape::FormFeed => '\u{c}',
            CharEscape::LineFeed => '\n',
            CharEscape::CarriageReturn => '\r',
            CharEscape::Tab => '\t',
            CharEscape::AsciiControl(byte) => char::from(byte),
        };
        self.write_escaped(writer, c.encode_utf8(&mut [0; 4]))
    }
}

/// A document serialized with serde, for the `data` of a success answer.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, PrometheusFormatter::default());
    value
        .serialize(&mut serializer)
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("encoding the answer: {e}")))?;
    // serde_json writes UTF-8 only.
    String::from_utf8(out)
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("encoding the answer: {e}")))
}

/// A success answer whose `data` is `value` serialized with serde.
fn serde_success<T: serde::Serialize>(value: &T) -> Response {
    match to_json(value) {
        Ok(json) => success(&json, &[], &[]),
        Err(e) => e.into_response(),
    }
}

/// A float written as Go's `encoding/json` writes a float64: integral values without a
/// fraction (`1`, not `1.0`), fixed notation from 1e-6 to 1e21, exponent outside (`4e-7`,
/// `1e+21`). serde_json writes `1.0` and switches to exponents earlier.
pub(crate) struct GoFloat(pub f64);

impl serde::Serialize for GoFloat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if !v.is_finite() {
            // Go refuses these; Prometheus never puts them in these fields.
            return serializer.serialize_none();
        }
        let abs = v.abs();
        let text = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let e = format!("{v:e}");
            match e.split_once('e') {
                Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
                _ => e,
            }
        } else {
            format!("{v}")
        };
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
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

    /// Prometheus's `invalidParamError`: `invalid parameter "name": reason`.
    fn bad_param(name: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorType::BadData,
            format!("invalid parameter {name:?}: {reason}"),
        )
    }
}

impl ApiError {
    /// The answer's status and JSON document.
    fn status_and_json(&self) -> (StatusCode, String) {
        let status = StatusCode::from_u16(self.error_type.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, error_json(self.error_type, &self.message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, json) = self.status_and_json();
        json_response(status, json)
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A success document around already-written `data` JSON.
fn success(data_json: &str, warnings: &[String], infos: &[String]) -> Response {
    json_response(StatusCode::OK, success_json(data_json, warnings, infos))
}

/// Request parameters from the URL query and, for form posts, the body (as Go's
/// `Request.FormValue`, the body's values come first), read as Go reads them
/// (`query_string`); then the fields of a `multipart/form-data` body (`curl -F`), which Go's
/// `FormValue` reads too, after the others.
struct Params {
    pairs: Vec<(String, String)>,
    /// Why a pair was left out, first the body's: Go's `Request.ParseForm` error.
    form_error: Option<String>,
    /// A multipart body's values: none if it could not be read whole, as Go's
    /// `ParseMultipartForm` (whose error `FormValue` ignores) adds nothing then.
    multipart: Vec<(String, String)>,
}

/// The most of a multipart body read for its values. Go's `FormValue` holds up to 32 MiB of
/// it in memory (`defaultMaxMemory`) and writes larger files to disk; here a larger body
/// gives no values at all, rather than an unbounded read.
const MULTIPART_LIMIT: u64 = 32 << 20;

/// The most parts a multipart body may have, as Go's `ReadForm` (`multipartmaxparts`).
const MULTIPART_MAX_PARTS: usize = 1000;

/// The values of a `multipart/form-data` body with `boundary`, as Go's `ReadForm` keeps them:
/// named parts without a file name, in order; nothing when the body is not read whole
/// (malformed, over [`MULTIPART_LIMIT`] or [`MULTIPART_MAX_PARTS`]). Unlike Go's reader,
/// `multer` wants `\r\n` line ends (curl and every HTTP library send them) and takes a
/// part's name whatever its disposition type.
async fn multipart_values(body: axum::body::Body, boundary: String) -> Vec<(String, String)> {
    let limits = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MULTIPART_LIMIT));
    let mut form = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    let mut values = Vec::new();
    let mut parts = 0;
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                parts += 1;
                if parts > MULTIPART_MAX_PARTS {
                    return Vec::new();
                }
                let name = field.name().unwrap_or_default().to_string();
                // Go keeps a part with an empty file name as a value.
                if name.is_empty() || field.file_name().is_some_and(|file| !file.is_empty()) {
                    // Dropping the field skips its content.
                    continue;
                }
                match field.bytes().await {
                    Ok(value) => values.push((name, String::from_utf8_lossy(&value).into_owned())),
                    Err(_) => return Vec::new(),
                }
            }
            Ok(None) => return values,
            Err(_) => return Vec::new(),
        }
    }
}

impl Params {
    /// The parameters as Go's `FormValue` reads them: the URL's, a URL-encoded body's, and a
    /// multipart body's.
    async fn from_request(request: Request) -> Result<Params, ApiError> {
        Params::read(request, true).await
    }

    /// The parameters as Go's `Request.ParseForm` leaves them, for Prometheus's handlers that
    /// call it before any `FormValue` (`series`, `delete_series`, `rules`): a request with a
    /// malformed pair is refused, and a multipart body is never read.
    async fn parse_form(request: Request) -> Result<Params, ApiError> {
        let params = Params::read(request, false).await?;
        match &params.form_error {
            Some(e) => Err(ApiError::new(
                ErrorType::BadData,
                format!("error parsing form values: {e}"),
            )),
            None => Ok(params),
        }
    }

    /// The URL's parameters alone, for Prometheus's handlers that read `r.URL.Query()`
    /// (`targets`).
    fn url_only(request: &Request) -> Params {
        let (pairs, form_error) =
            query_string::parse(request.uri().query().unwrap_or("").as_bytes());
        Params {
            pairs,
            form_error,
            multipart: Vec::new(),
        }
    }

    async fn read(request: Request, with_multipart: bool) -> Result<Params, ApiError> {
        // Go reads a form body for these methods only, and compares media types without case
        // (`mime.ParseMediaType`).
        let form_method = matches!(
            *request.method(),
            axum::http::Method::POST | axum::http::Method::PUT | axum::http::Method::PATCH
        );
        let is_form = form_method
            && request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|media| {
                    media
                        .trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                });
        // Whatever the method, as Go's `multipartReader` (the first `Content-Type` only).
        let boundary = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok());
        let (query_pairs, query_error) =
            query_string::parse(request.uri().query().unwrap_or("").as_bytes());
        let mut multipart = Vec::new();
        // Bodies are read in futures of their own, boxed: inline, their state would make
        // every query's future several times larger, for requests that mostly have none.
        let (pairs, form_error) = if is_form {
            let body = Box::pin(Bytes::from_request(request, &()))
                .await
                .map_err(|e| {
                    ApiError::new(ErrorType::BadData, format!("error parsing form: {e}"))
                })?;
            let (mut pairs, body_error) = query_string::parse(&body);
            // A body's values and error come first, as in Go's `Request.Form`.
            pairs.extend(query_pairs);
            (pairs, body_error.or(query_error))
        } else {
            if let Some(boundary) = boundary.filter(|_| with_multipart) {
                multipart = Box::pin(multipart_values(request.into_body(), boundary)).await;
            }
            (query_pairs, query_error)
        };
        Ok(Params {
            pairs,
            form_error,
            multipart,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .chain(&self.multipart)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`match[]`), in order.
    fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .chain(&self.multipart)
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Prometheus's `parseTimeParam`: a timestamp, or `default` when absent or empty.
    fn time_param(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => parse_time(text).map_err(|e| {
                ApiError::bad_param(name, format!("invalid time value for '{name}': {e}"))
            }),
        }
    }

    /// Prometheus's `parseTime` of a required parameter (the range query's `start` and `end`).
    fn required_time(&self, name: &str) -> Result<i64, ApiError> {
        parse_time(self.get(name).unwrap_or("")).map_err(|e| ApiError::bad_param(name, e))
    }

    /// Prometheus's `parseLimitParam`: 0 (no limit) when absent.
    fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None | Some("") => Ok(0),
            Some(text) => match go_atoi(text) {
                Err(e) => Err(ApiError::bad_param("limit", e)),
                Ok(n) if n < 0 => Err(ApiError::bad_param("limit", "limit must be non-negative")),
                Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            },
        }
    }
}

/// A timestamp parameter, with Prometheus's special case for its own bounds.
fn parse_time(text: &str) -> Result<i64, String> {
    match text {
        MIN_TIME_FORMATTED => Ok(MIN_TIME),
        MAX_TIME_FORMATTED => Ok(MAX_TIME),
        _ => parse_timestamp(text),
    }
}

/// Go's `strconv.Atoi` with its error messages.
fn go_atoi(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let quoted = go_quote(text.as_bytes());
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {quoted}: invalid syntax"));
    }
    text.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {quoted}: value out of range"))
}

/// Prometheus's API duration (`parseDuration`), in nanoseconds as Go's `time.Duration`: float
/// seconds, which must fit an int64 of nanoseconds, or a Prometheus duration string.
fn parse_api_duration_ns(text: &str) -> Result<i64, String> {
    // Go's ParseFloat refuses what overflows a float64 (`1e400`) where Rust reads infinity; only
    // a written infinity is one.
    let written_infinity = |text: &str| {
        let unsigned = text.trim_start_matches(['+', '-']);
        unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity")
    };
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() || written_infinity(text) => {
            let nanos = seconds * 1e9;
            if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
                return Err(format!(
                    "cannot parse {text:?} to a valid duration. It overflows int64"
                ));
            }
            Ok(nanos as i64)
        }
        _ => parse_duration(text)
            .map(|ms| ms.saturating_mul(1_000_000))
            .map_err(|_| format!("cannot parse {text:?} to a valid duration")),
    }
}

/// [`parse_api_duration_ns`] in milliseconds, truncated as Go's `durationMilliseconds`.
fn parse_api_duration(text: &str) -> Result<i64, String> {
    parse_api_duration_ns(text).map(|ns| ns / 1_000_000)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The `query` parameter, parsed with the features the server was started with.
fn parse_expr(state: &AppState, params: &Params) -> Result<(Arc<str>, Arc<Expr>), ApiError> {
    let text = params.get("query").unwrap_or("");
    state
        .parsed_queries
        .parse(text)
        .map_err(|e| ApiError::bad_param("query", e))
}

/// When the query must have finished: `--query.timeout` from now, or the `timeout` parameter
/// when that is sooner. `None` when neither limits it.
fn query_deadline(engine: &Engine, params: &Params) -> Result<Deadline, ApiError> {
    let now = Instant::now();
    let configured = engine.options.timeout.map(|t| now + t);
    let mut expired = false;
    let requested = match params.get("timeout") {
        None | Some("") => None,
        Some(text) => {
            let ns = parse_api_duration_ns(text).map_err(|e| ApiError::bad_param("timeout", e))?;
            expired = ns <= 0;
            Some(now + Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
        }
    };
    let at = match (configured, requested) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(Deadline { at, expired })
}

/// When a query must have finished, and whether its `timeout` parameter had already run out
/// (zero or negative). Prometheus then reports, once the query has parsed, a bad `query`
/// parameter (its context expired while it prepared the query; depending on timing it also
/// answers a parse error first, or an execution error, for the same request).
struct Deadline {
    at: Option<Instant>,
    expired: bool,
}

/// Prometheus's words for a context that expired before the query started.
const DEADLINE_EXCEEDED: &str = "context deadline exceeded";

/// The `lookback_delta` parameter of a query, as Prometheus 3 reads it: a duration or seconds;
/// zero, negative or absent means `--query.lookback-delta`.
fn lookback_delta(engine: &Engine, params: &Params) -> Result<i64, ApiError> {
    let configured = engine.options.lookback_delta_ms;
    match params.get("lookback_delta") {
        None | Some("") => Ok(configured),
        Some(text) => {
            let ns = parse_api_duration_ns(text).map_err(|e| {
                ApiError::new(
                    ErrorType::BadData,
                    format!("error parsing lookback delta duration: {e}"),
                )
            })?;
            // Compared before truncating, as Prometheus does: half a millisecond is a
            // lookback of 0 ms, not the default.
            Ok(if ns > 0 { ns / 1_000_000 } else { configured })
        }
    }
}

fn queue_timeout() -> ApiError {
    ApiError::new(ErrorType::Timeout, "query timed out in query queue")
}

/// A permit of the query gate, waiting at most until `deadline`.
async fn acquire_permit(
    gate: &Arc<Semaphore>,
    deadline: Option<Instant>,
) -> Result<OwnedSemaphorePermit, ApiError> {
    let acquire = gate.clone().acquire_owned();
    let permit = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, acquire)
            .await
            .map_err(|_| queue_timeout())?,
        None => acquire.await,
    };
    permit.map_err(|_| ApiError::new(ErrorType::Internal, "query gate closed"))
}

/// How many queries [`direct_query`] answered (`/metrics`).
pub static DIRECT_QUERY_ANSWERS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// How many of those [`plain_instant_query`] answered (`/metrics`).
pub static PLAIN_QUERY_ANSWERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether [`direct_query`] answers `request` as the router would: a plain `GET` of `query`
/// or `query_range`, to which the middleware only adds `Vary: Origin`.
pub fn answered_directly(request: &Request) -> bool {
    request.method() == axum::http::Method::GET
        && matches!(
            request.uri().path(),
            "/api/v1/query" | "/api/v1/query_range"
        )
        && http_compat::only_varies(request)
}

/// A query endpoint's answer without the router and its middleware, for the acceptor thread
/// (`first_request`), which answers a connection's first request: the router would only find
/// the endpoint, the middleware only add `Vary: Origin`, together about as costly as a small
/// query itself. Only for the requests [`answered_directly`] takes.
pub fn direct_query(state: &Arc<AppState>, request: Request) -> DirectAnswer {
    DIRECT_QUERY_ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let state = state.clone();
    if request.uri().path() == "/api/v1/query_range" {
        Box::pin(async move { http_compat::with_vary(query_range(State(state), request).await) })
    } else {
        Box::pin(async move { http_compat::with_vary(query(State(state), request).await) })
    }
}

async fn query(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let query = InstantQuery::from_params(&state, &params)?;
        let (limit, stats) = (query.limit, query.stats);
        let (deadline, lookback_ms, placement) =
            (query.deadline, query.lookback_ms, query.placement);
        let run = query.into_evaluation();
        let (result, timings) = evaluate(state, deadline, lookback_ms, placement, run).await?;
        Ok::<_, ApiError>(render(result, limit, stats.then_some(timings)))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// An instant query's parameters, checked in Prometheus's order, and its expression.
struct InstantQuery {
    text: Arc<str>,
    expr: Arc<Expr>,
    time: i64,
    limit: usize,
    stats: bool,
    deadline: Option<Instant>,
    lookback_ms: i64,
    placement: Placement,
}

impl InstantQuery {
    fn from_params(state: &AppState, params: &Params) -> Result<InstantQuery, ApiError> {
        let limit = params.limit()?;
        let time = params.time_param("time", now_ms())?;
        let stats = wants_stats(params);
        let deadline = query_deadline(&state.engine, params)?;
        let lookback_ms = lookback_delta(&state.engine, params)?;
        let (text, expr) = parse_expr(state, params)?;
        if deadline.expired {
            return Err(ApiError::bad_param("query", DEADLINE_EXCEEDED));
        }
        let placement = placement(state, &expr, time, time, 1, lookback_ms);
        Ok(InstantQuery {
            text,
            expr,
            time,
            limit,
            stats,
            deadline: deadline.at,
            lookback_ms,
            placement,
        })
    }

    fn into_evaluation(
        self,
    ) -> impl FnOnce(&Engine, &dyn Querier) -> Result<QueryResult, EngineError> + Send + 'static
    {
        let InstantQuery {
            text, expr, time, ..
        } = self;
        move |engine: &Engine, querier: &dyn Querier| {
            engine.instant_with_source(querier, &expr, Some(&text), time)
        }
    }
}

/// The answer to a plain `GET /api/v1/query` (one [`answered_directly`] takes) from its URL
/// query string alone, as [`query`] gives it: its status and JSON document, evaluated on the
/// calling thread. For the acceptor thread (`first_request`), which then writes it without
/// building a request or a response. A small query's answer leaves sooner, and a client that
/// finds its answer there when it first looks does not sleep: in `query.py`'s sequence on the
/// benchmark machine, `absent(...)` came under 0.225 ms in 75% of cycles instead of 60%
/// (BENCHMARKS.md, session 21). `None` when the query is not one to evaluate at once (see
/// [`Placement`]) or has to wait for the query gate; the caller then goes through
/// [`direct_query`].
pub fn plain_instant_query(
    state: &Arc<AppState>,
    query_string: &[u8],
) -> Option<(StatusCode, String)> {
    let (pairs, form_error) = query_string::parse(query_string);
    let params = Params {
        pairs,
        form_error,
        multipart: Vec::new(),
    };
    let answer = match InstantQuery::from_params(state, &params) {
        Err(e) => Err(e),
        Ok(query) if query.placement != Placement::Immediately => return None,
        Ok(query) => {
            let (limit, stats) = (query.limit, query.stats);
            let (deadline, lookback_ms) = (query.deadline, query.lookback_ms);
            let permit = state.api.query_gate.clone().try_acquire_owned().ok()?;
            evaluate_now(
                state.clone(),
                permit,
                0.0,
                deadline,
                lookback_ms,
                query.into_evaluation(),
            )
            .map(|(result, timings)| render_json(result, limit, stats.then_some(timings)))
        }
    };
    DIRECT_QUERY_ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    PLAIN_QUERY_ANSWERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Some(match answer {
        Ok(json) => (StatusCode::OK, json),
        Err(e) => e.status_and_json(),
    })
}

async fn query_range(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let limit = params.limit()?;
        let start = params.required_time("start")?;
        let end = params.required_time("end")?;
        if end < start {
            return Err(ApiError::bad_param(
                "end",
                "end timestamp must not be before start time",
            ));
        }
        let step = parse_api_duration(params.get("step").unwrap_or(""))
            .map_err(|e| ApiError::bad_param("step", e))?;
        if step <= 0 {
            return Err(ApiError::bad_param(
                "step",
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(ApiError::new(
                ErrorType::BadData,
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        let stats = wants_stats(&params);
        let deadline = query_deadline(&state.engine, &params)?;
        let lookback_ms = lookback_delta(&state.engine, &params)?;
        let (text, expr) = parse_expr(&state, &params)?;
        // Before evaluating, as a bad parameter, as Prometheus answers it.
        if let Some(message) = narthex_promql::engine::range_query_type_error(&expr) {
            return Err(ApiError::bad_param("query", message));
        }
        if deadline.expired {
            return Err(ApiError::bad_param("query", DEADLINE_EXCEEDED));
        }
        let deadline = deadline.at;
        let steps = u64::try_from((end - start) / step + 1).unwrap_or(u64::MAX);
        let placement = placement(&state, &expr, start, end, steps, lookback_ms);
        let run = move |engine: &Engine, querier: &dyn Querier| {
            engine.range_with_source(querier, &expr, Some(&text), start, end, step)
        };
        let (result, timings) = evaluate(state, deadline, lookback_ms, placement, run).await?;
        Ok::<_, ApiError>(render(result, limit, stats.then_some(timings)))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Queries bounded by this many samples (`narthex_promql::engine::cost`) over data the head
/// holds in memory are evaluated on the thread that received them: a few milliseconds at most,
/// where handing a query to the blocking pool and back costs a small one more than its
/// evaluation (two thread wake-ups).
const INLINE_SAMPLE_BOUND: u64 = 1_000_000;

/// Queries bounded by this many samples take half a millisecond at most: they go ahead
/// without first yielding the thread, which costs a few tens of microseconds (the runtime
/// wakes another thread).
const IMMEDIATE_SAMPLE_BOUND: u64 = 300_000;

/// Where a query is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// On the request's thread, at once.
    Immediately,
    /// On the request's thread, after yielding once. Yielding wakes another worker thread
    /// (Tokio does so for the queued task), which then polls for I/O while the query holds
    /// this thread; without it, new connections and other requests could wait for the whole
    /// evaluation when the other threads are asleep. On the acceptor thread
    /// (`first_request`), the yield moves the query to a Tokio task, and the acceptor goes on
    /// taking connections.
    AfterYielding,
    /// On the blocking pool: too large, or reads storage.
    BlockingPool,
}

/// Where to evaluate a query, from its bound: on the request's thread only when it is
/// certainly small and reads only data the head holds in memory.
fn placement(
    state: &AppState,
    expr: &Expr,
    start: i64,
    end: i64,
    steps: u64,
    lookback_ms: i64,
) -> Placement {
    let querier = state.tsdb.querier();
    let selection_size = |matchers: &[narthex_model::Matcher]| querier.selection_size(matchers);
    let evaluation = Evaluation {
        start,
        end,
        steps,
        lookback_ms,
    };
    match sample_bound(expr, &evaluation, &selection_size) {
        Some(bound) if bound.in_memory && bound.samples <= IMMEDIATE_SAMPLE_BOUND => {
            Placement::Immediately
        }
        Some(bound) if bound.in_memory && bound.samples <= INLINE_SAMPLE_BOUND => {
            Placement::AfterYielding
        }
        _ => Placement::BlockingPool,
    }
}

/// Runs an evaluation once the query gate lets it in, with whatever is left of its time, where
/// [`placement`] put it. The blocking pool takes the rest since storage reads block and a long
/// evaluation would hold up the requests, scrapes and rules that share this thread.
async fn evaluate<F>(
    state: Arc<AppState>,
    deadline: Option<Instant>,
    lookback_ms: i64,
    placement: Placement,
    evaluation: F,
) -> Result<(QueryResult, EvalTimings), ApiError>
where
    F: FnOnce(&Engine, &dyn Querier) -> Result<QueryResult, EngineError> + Send + 'static,
{
    let queued_at = Instant::now();
    let permit = acquire_permit(&state.api.query_gate, deadline).await?;
    let queue_seconds = queued_at.elapsed().as_secs_f64();
    if placement != Placement::BlockingPool {
        if placement == Placement::AfterYielding {
            tokio::task::yield_now().await;
        }
        return evaluate_now(
            state,
            permit,
            queue_seconds,
            deadline,
            lookback_ms,
            evaluation,
        );
    }
    let run = evaluation_run(state, permit, deadline, lookback_ms, evaluation)?;
    let outcome = tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| ApiError::new(ErrorType::Internal, format!("query task failed: {e}")))?;
    evaluated(outcome, queue_seconds)
}

/// Evaluates on this thread, with a permit of the query gate.
fn evaluate_now<F>(
    state: Arc<AppState>,
    permit: OwnedSemaphorePermit,
    queue_seconds: f64,
    deadline: Option<Instant>,
    lookback_ms: i64,
    evaluation: F,
) -> Result<(QueryResult, EvalTimings), ApiError>
where
    F: FnOnce(&Engine, &dyn Querier) -> Result<QueryResult, EngineError> + Send + 'static,
{
    let run = evaluation_run(state, permit, deadline, lookback_ms, evaluation)?;
    // A panic must still answer the request, as a failed blocking task does.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .map_err(|_| ApiError::new(ErrorType::Internal, "query evaluation panicked"))?;
    evaluated(outcome, queue_seconds)
}

/// The evaluation with the engine set for it, which holds the permit while it runs; a query
/// timeout error if the deadline passed in the queue.
fn evaluation_run<F>(
    state: Arc<AppState>,
    permit: OwnedSemaphorePermit,
    deadline: Option<Instant>,
    lookback_ms: i64,
    evaluation: F,
) -> Result<impl FnOnce() -> Result<(QueryResult, Duration), EngineError> + Send + 'static, ApiError>
where
    F: FnOnce(&Engine, &dyn Querier) -> Result<QueryResult, EngineError> + Send + 'static,
{
    let mut engine = state.engine.clone();
    engine.options.lookback_delta_ms = lookback_ms;
    if let Some(deadline) = deadline {
        // Time spent in the queue counts against the query's timeout, as in Prometheus.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(queue_timeout());
        }
        engine.options.timeout = Some(left);
    }
    Ok(move || {
        let _permit = permit;
        let began = Instant::now();
        let querier = state.tsdb.querier();
        evaluation(&engine, querier.as_ref()).map(|result| (result, began.elapsed()))
    })
}

/// An evaluation's outcome as the API reports it.
fn evaluated(
    outcome: Result<(QueryResult, Duration), EngineError>,
    queue_seconds: f64,
) -> Result<(QueryResult, EvalTimings), ApiError> {
    let (result, eval_time) = outcome.map_err(|e| {
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
    Ok((
        result,
        EvalTimings {
            queue_seconds,
            eval_seconds: eval_time.as_secs_f64(),
        },
    ))
}

/// Where a query's time went, for the `stats` parameter.
struct EvalTimings {
    queue_seconds: f64,
    eval_seconds: f64,
}

/// Whether the request asked for `stats` (any non-empty value, as in Prometheus).
fn wants_stats(params: &Params) -> bool {
    params.get("stats").is_some_and(|value| !value.is_empty())
}

/// Prometheus's `data.stats` object: timings in seconds and sample counts. Preparation and
/// evaluation are one step here, so `queryPreparationTime` and `resultSortTime` are 0.
fn write_stats(stats: QueryStats, timings: &EvalTimings, out: &mut String) {
    let number = |seconds: f64| serde_json::to_string(&GoFloat(seconds)).unwrap_or_default();
    let eval = number(timings.eval_seconds);
    let exec_total = number(timings.eval_seconds + timings.queue_seconds);
    out.push_str(&format!(
        "\"stats\":{{\"timings\":{{\"evalTotalTime\":{eval},\"resultSortTime\":0,\
         \"queryPreparationTime\":0,\"innerEvalTime\":{eval},\"execQueueTime\":{},\
         \"execTotalTime\":{exec_total}}},\"samples\":{{\"totalQueryableSamples\":{},\
         \"peakSamples\":{}}}}}",
        number(timings.queue_seconds),
        stats.samples_read,
        stats.peak_samples
    ));
}

/// The result document, cut to `limit` series (0: all) with Prometheus 3's warning, with
/// `stats` when asked for.
fn render(result: QueryResult, limit: usize, timings: Option<EvalTimings>) -> Response {
    json_response(StatusCode::OK, render_json(result, limit, timings))
}

/// [`render`]'s document.
fn render_json(mut result: QueryResult, limit: usize, timings: Option<EvalTimings>) -> String {
    if limit > 0 {
        let truncated = match &mut result.data {
            QueryData::Vector(samples) if samples.len() > limit => {
                samples.truncate(limit);
                true
            }
            QueryData::Matrix(series) if series.len() > limit => {
                series.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            result.warnings.push(TRUNCATED_WARNING.to_string());
        }
    }
    // Written straight into the document: a range result can be megabytes.
    let mut json = String::with_capacity(result.data.json_size_hint());
    json.push_str(narthex_model::api::SUCCESS_PREFIX);
    result.data.write_json(&mut json);
    if let Some(timings) = timings {
        // The data object is open again for one more member.
        json.pop();
        json.push(',');
        write_stats(result.stats, &timings, &mut json);
        json.push('}');
    }
    narthex_model::api::end_success_json(&result.warnings, &result.infos, &mut json);
    json
}

/// `query_exemplars`: the exemplars of the query's series. Narthex keeps no exemplars (as
/// Prometheus without `--enable-feature=exemplar-storage`), so a valid request gets an empty
/// list, or no content when the query selects nothing; Grafana asks whenever a panel's
/// Exemplars switch is on. Checks as Prometheus's `queryExemplars`: times, their order, then
/// the query, whose parse error is not wrapped as an invalid parameter.
async fn query_exemplars(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let start = params.time_param("start", MIN_TIME)?;
        let end = params.time_param("end", MAX_TIME)?;
        if end < start {
            return Err(ApiError::new(
                ErrorType::BadData,
                "end timestamp must not be before start timestamp",
            ));
        }
        let text = params.get("query").unwrap_or("");
        let expr = narthex_promql::parse_with(text, &state.parse_options)
            .map_err(|e| ApiError::new(ErrorType::BadData, e.to_string()))?;
        let mut selects_series = false;
        expr.for_each_selector(&mut |_| selects_series = true);
        if !selects_series {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Ok(success("[]", &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `format_query`: the query in Prometheus's canonical form, split over lines as its
/// `Pretty(0)` does when longer than 100 characters.
async fn format_query(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let (_, expr) = parse_expr(&state, &params)?;
        let mut json = String::new();
        narthex_model::api::write_json_string(&narthex_promql::pretty::prettify(&expr), &mut json);
        Ok::<_, ApiError>(success(&json, &[], &[]))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `parse_query`: the syntax tree as Prometheus 3's UI receives it.
async fn parse_query(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let result = async {
        let params = Params::from_request(request).await?;
        let (_, expr) = parse_expr(&state, &params)?;
        match ast_json::to_json(&expr) {
            Ok(json) => Ok(success(&json, &[], &[])),
            // As Prometheus, whose JSON encoder refuses NaN (`fill(NaN)`): a plain-text 500.
            Err(e) => Ok(write::text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &e.to_string(),
            )),
        }
    }
    .await;
    result.unwrap_or_else(|e: ApiError| e.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only requests whose answer the middleware leaves alone but for `Vary` skip the router:
    /// CORS and compression stay the middleware's, other methods and paths the router's.
    #[test]
    fn plain_gets_of_the_query_endpoints_are_answered_directly() {
        let request = |method: &str, target: &str, headers: &[(&str, &str)]| {
            let mut builder = Request::builder().method(method).uri(target);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(axum::body::Body::empty()).expect("request")
        };
        let taken = [
            request("GET", "/api/v1/query?query=up", &[]),
            request("GET", "/api/v1/query_range?query=up", &[]),
            request("GET", "/api/v1/query", &[("Accept-Encoding", "identity")]),
            request(
                "GET",
                "/api/v1/query",
                &[("Accept-Encoding", "br, gzip;q=0")],
            ),
        ];
        for request in &taken {
            assert!(answered_directly(request), "{request:?}");
        }
        let left = [
            request("POST", "/api/v1/query", &[]),
            request("HEAD", "/api/v1/query", &[]),
            request("OPTIONS", "/api/v1/query", &[]),
            request("GET", "/api/v1/query", &[("Origin", "https://grafana")]),
            request("GET", "/api/v1/query", &[("Accept-Encoding", "gzip")]),
            request(
                "GET",
                "/api/v1/query",
                &[("Accept-Encoding", "br, deflate")],
            ),
            request("GET", "/api/v1/query/", &[]),
            request("GET", "/api/v1/series", &[]),
        ];
        for request in &left {
            assert!(!answered_directly(request), "{request:?}");
        }
    }

    /// Go's `Request.Form` order: a form body's values before the URL's (so `FormValue` takes
    /// the body's), and the body's malformed pair reported before the URL's.
    #[test]
    fn form_values_come_before_the_urls() {
        let read = |method: &str, target: &str, body: &str| {
            let request = Request::builder()
                .method(method)
                .uri(target)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body.to_string()))
                .expect("request");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            runtime
                .block_on(Params::read(request, true))
                .unwrap_or_else(|e| panic!("{method} {target}: {}", e.message))
        };
        let both = read(
            "POST",
            "/api/v1/query?query=url&time=1",
            "query=body&limit=2",
        );
        assert_eq!(both.get("query"), Some("body"));
        assert_eq!(both.get_all("query"), ["body", "url"]);
        assert_eq!(
            (both.get("time"), both.get("limit")),
            (Some("1"), Some("2"))
        );
        assert_eq!(both.form_error, None);
        // A GET's body is not read, whatever its type.
        let get = read("GET", "/api/v1/query?query=url", "query=body");
        assert_eq!(get.get_all("query"), ["url"]);
        let errors = read("POST", "/api/v1/query?query=%zz", "query=%yy&limit=1");
        assert!(
            errors
                .form_error
                .as_deref()
                .is_some_and(|e| e.contains("%yy")),
            "{:?}",
            errors.form_error
        );
        let url_error = read("POST", "/api/v1/query?query=%zz", "limit=1");
        assert!(
            url_error
                .form_error
                .as_deref()
                .is_some_and(|e| e.contains("%zz")),
            "{:?}",
            url_error.form_error
        );
        assert_eq!(url_error.get("limit"), Some("1"));
    }

    /// The strings Prometheus 3.5.3 answered on /api/v1/targets and /api/v1/rules for a scrape
    /// pool, a target label and an annotation holding these characters.
    #[test]
    fn serde_answers_escape_strings_as_prometheus_3() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer<'a> {
            scrape_pool: &'a str,
            labels: LabelMap<'a>,
            annotations: TemplateMap<'a>,
        }
        let labels = narthex_model::Labels::from_pairs([("x", "<tag>&amp\u{2028}\u{8}")]);
        let annotations = std::collections::BTreeMap::from([(
            "summary".to_string(),
            "<b>bold</b> & \u{8}".to_string(),
        )]);
        let json = to_json(&Answer {
            scrape_pool: "a<b>&c",
            labels: LabelMap(&labels),
            annotations: TemplateMap(&annotations),
        })
        .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(
            json,
            "{\"scrapePool\":\"a\\u003cb\\u003e\\u0026c\",\
             \"labels\":{\"x\":\"<tag>&amp\u{2028}\\u0008\"},\
             \"annotations\":{\"summary\":\"<b>bold</b> & \\u0008\"}}"
        );
    }

    #[test]
    fn api_durations() {
        assert_eq!(parse_api_duration("15"), Ok(15_000));
        assert_eq!(parse_api_duration("0.5"), Ok(500));
        assert_eq!(parse_api_duration("1m"), Ok(60_000));
        assert_eq!(
            parse_api_duration("x"),
            Err("cannot parse \"x\" to a valid duration".to_string())
        );
        // Go's truncations: to nanoseconds, then to milliseconds.
        assert_eq!(parse_api_duration_ns("0.0005"), Ok(500_000));
        assert_eq!(parse_api_duration("0.0005"), Ok(0));
        assert_eq!(parse_api_duration("-0.0015"), Ok(-1));
        // What no int64 of nanoseconds holds (292 years), and what no float64 holds.
        assert_eq!(
            parse_api_duration("1e10"),
            Err("cannot parse \"1e10\" to a valid duration. It overflows int64".to_string())
        );
        assert_eq!(
            parse_api_duration("+Inf"),
            Err("cannot parse \"+Inf\" to a valid duration. It overflows int64".to_string())
        );
        assert_eq!(
            parse_api_duration("1e400"),
            Err("cannot parse \"1e400\" to a valid duration".to_string())
        );
    }

    #[test]
    fn limits_as_go_parses_them() {
        let params = |v: &str| Params {
            pairs: vec![("limit".into(), v.into())],
            form_error: None,
            multipart: Vec::new(),
        };
        assert_eq!(params("5").limit().ok(), Some(5));
        assert_eq!(params("+5").limit().ok(), Some(5));
        assert_eq!(params("0").limit().ok(), Some(0));
        assert_eq!(params("").limit().ok(), Some(0));
        let message = |v: &str| params(v).limit().err().map(|e| e.message);
        assert_eq!(
            message("x").as_deref(),
            Some("invalid parameter \"limit\": strconv.Atoi: parsing \"x\": invalid syntax")
        );
        assert_eq!(
            message("99999999999999999999").as_deref(),
            Some("invalid parameter \"limit\": strconv.Atoi: parsing \"99999999999999999999\": value out of range")
        );
        assert_eq!(
            message("-1").as_deref(),
            Some("invalid parameter \"limit\": limit must be non-negative")
        );
        assert_eq!(
            message("1.5").as_deref(),
            Some("invalid parameter \"limit\": strconv.Atoi: parsing \"1.5\": invalid syntax")
        );
    }

    #[test]
    fn prometheus_time_bounds_are_accepted() {
        assert_eq!(parse_time(MIN_TIME_FORMATTED), Ok(MIN_TIME));
        assert_eq!(parse_time(MAX_TIME_FORMATTED), Ok(MAX_TIME));
        let params = Params {
            pairs: vec![("start".into(), "soon".into())],
            form_error: None,
            multipart: Vec::new(),
        };
        assert_eq!(
            params.time_param("start", 0).err().map(|e| e.message).as_deref(),
            Some("invalid parameter \"start\": invalid time value for 'start': cannot parse \"soon\" to a valid timestamp")
        );
    }

    #[tokio::test]
    async fn the_query_gate_makes_queries_wait_and_times_them_out_in_the_queue() {
        let gate = Arc::new(Semaphore::new(1));
        let held = acquire_permit(&gate, None).await.ok().unwrap();
        // A second query waits; past its deadline it fails as Prometheus's queue does.
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = acquire_permit(&gate, Some(deadline)).await.err().unwrap();
        assert_eq!(err.error_type, ErrorType::Timeout);
        assert_eq!(err.message, "query timed out in query queue");
        // Once the running query finishes, the waiting one gets in.
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { acquire_permit(&gate, None).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(held);
        assert!(waiting.await.unwrap());
    }
}
