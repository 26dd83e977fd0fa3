//! Typed client for the Prometheus-compatible HTTP API under `/api/v1/`: queries, names and
//! metadata here, the targets, rules and status endpoints in [`status`].
//!
//! Decoding is kept apart from the network call so that every shape the
//! server may answer with (including garbage from a proxy in front of it) can
//! be unit-tested natively; all of it ends up as a value, never a panic.

pub mod status;

use std::fmt;

use serde::Deserialize;

use crate::percent_encoding::encode_uri_component;
use crate::series_format::Labels;

/// One `[<unix seconds>, "<value>"]` pair; the value stays a string because
/// Prometheus sends it that way to keep `NaN`, `+Inf` and full precision intact.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SamplePair(pub f64, pub String);

impl SamplePair {
    pub fn timestamp_seconds(&self) -> f64 {
        self.0
    }

    pub fn value(&self) -> &str {
        &self.1
    }
}

/// One `[<unix seconds>, {...}]` native-histogram pair. The histogram body is
/// kept as raw JSON: the table only needs to show it, and a future graph view
/// will decide how to interpret its buckets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HistogramPair(pub f64, pub serde_json::Value);

/// A series of an instant-vector result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstantSeries {
    #[serde(default)]
    pub metric: Labels,
    pub value: Option<SamplePair>,
    pub histogram: Option<HistogramPair>,
}

/// A series of a range-vector (matrix) result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RangeSeries {
    #[serde(default)]
    pub metric: Labels,
    #[serde(default)]
    pub values: Vec<SamplePair>,
    #[serde(default)]
    pub histograms: Vec<HistogramPair>,
}

/// The `data` of a successful `/api/v1/query` or `/api/v1/query_range` answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryResult {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar(SamplePair),
    String(SamplePair),
}

impl QueryResult {
    /// The `resultType` as the API names it.
    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(_) => "scalar",
            QueryResult::String(_) => "string",
        }
    }

    /// How many series the result holds; a scalar or string counts as one.
    pub fn series_count(&self) -> usize {
        match self {
            QueryResult::Vector(series) => series.len(),
            QueryResult::Matrix(series) => series.len(),
            QueryResult::Scalar(_) | QueryResult::String(_) => 1,
        }
    }
}

/// A successful query together with the advisory notes the server attached.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    pub result: QueryResult,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub stats: Option<QueryStats>,
}

/// Why a request produced no result.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server answered with the API's error envelope, e.g. a PromQL
    /// syntax error (`bad_data`) or an evaluation timeout.
    Server {
        http_status: u16,
        error_type: String,
        message: String,
    },
    /// The request never reached the server or the connection broke.
    Network(String),
    /// An answer arrived but is not the API's JSON (a proxy's HTML error page,
    /// a truncated body, a `resultType` this UI doesn't know, ...).
    Decode { http_status: u16, detail: String },
}

impl fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Server { message, .. } => formatter.write_str(message),
            ApiError::Network(detail) => write!(formatter, "cannot reach the server: {detail}"),
            ApiError::Decode {
                http_status,
                detail,
            } => write!(
                formatter,
                "unexpected response from the server (HTTP {http_status}): {detail}"
            ),
        }
    }
}

impl ApiError {
    /// The API's `errorType` (`bad_data`, `timeout`, ...) when the server sent one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            ApiError::Server { error_type, .. } => Some(error_type),
            ApiError::Network(_) | ApiError::Decode { .. } => None,
        }
    }
}

/// The envelope every `/api/v1/` answer is wrapped in; `data` is absent on errors.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<Data> {
    status: String,
    data: Option<Data>,
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

/// Enough of a non-JSON body to recognise it without flooding the error box.
fn body_excerpt(body: &str) -> String {
    const EXCERPT_CHARS: usize = 200;
    let trimmed = body.trim();
    if trimmed.chars().count() > EXCERPT_CHARS {
        let excerpt: String = trimmed.chars().take(EXCERPT_CHARS).collect();
        format!("{excerpt}…")
    } else {
        trimmed.to_owned()
    }
}

/// Interprets the HTTP status and body of an `/api/v1/query` or `query_range` answer.
pub fn decode_query_response(http_status: u16, body: &str) -> Result<QueryResponse, ApiError> {
    let (result, warnings, infos) = decode_response::<QueryResult>(http_status, body)?;
    // `stats` sits beside the result; read apart so the result's decoding stays a plain enum.
    let stats = body
        .contains("\"stats\"")
        .then(|| serde_json::from_str::<StatsEnvelope>(body).ok())
        .flatten()
        .and_then(|envelope| envelope.data.stats);
    Ok(QueryResponse {
        result,
        warnings,
        infos,
        stats,
    })
}

/// The `data` of any API answer, with its warnings and infos.
pub fn decode_response<Data: serde::de::DeserializeOwned>(
    http_status: u16,
    body: &str,
) -> Result<(Data, Vec<String>, Vec<String>), ApiError> {
    let envelope: Envelope<Data> =
        serde_json::from_str(body).map_err(|decode_error| ApiError::Decode {
            http_status,
            detail: if (200..300).contains(&http_status) {
                decode_error.to_string()
            } else {
                body_excerpt(body)
            },
        })?;
    match (envelope.status.as_str(), envelope.data) {
        ("success", Some(data)) => Ok((data, envelope.warnings, envelope.infos)),
        ("error", _) => Err(ApiError::Server {
            http_status,
            error_type: envelope.error_type.unwrap_or_default(),
            message: envelope
                .error
                .filter(|message| !message.trim().is_empty())
                .unwrap_or_else(|| format!("the server reported an error (HTTP {http_status})")),
        }),
        (status, _) => Err(ApiError::Decode {
            http_status,
            detail: format!("status \"{status}\" without a result"),
        }),
    }
}

/// What a query cost, from the API's `stats` (asked for with `stats=all`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct QueryStats {
    pub timings: QueryTimings,
    pub samples: QuerySamples,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTimings {
    /// Seconds the server spent evaluating.
    pub eval_total_time: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuerySamples {
    pub total_queryable_samples: u64,
    #[serde(default)]
    pub peak_samples: u64,
}

#[derive(Deserialize)]
struct StatsEnvelope {
    data: StatsOnly,
}

#[derive(Deserialize)]
struct StatsOnly {
    stats: Option<QueryStats>,
}

/// The relative URL of an instant query for `expression` evaluated at `time`
/// (unix seconds; millisecond precision is all the API honours), with its stats.
pub fn instant_query_url(expression: &str, time_seconds: f64) -> String {
    format!(
        "/api/v1/query?query={}&time={time_seconds:.3}&stats=all",
        encode_uri_component(expression)
    )
}

/// The relative URL of a range query; times in unix seconds, the step in seconds.
pub fn range_query_url(expression: &str, start: f64, end: f64, step: f64) -> String {
    format!(
        "/api/v1/query_range?query={}&start={start:.3}&end={end:.3}&step={step}&stats=all",
        encode_uri_component(expression)
    )
}

/// The body and status of a GET of `url`.
async fn get(url: &str) -> Result<(u16, String), ApiError> {
    let response = gloo_net::http::Request::get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|network_error| ApiError::Network(network_error.to_string()))?;
    let http_status = response.status();
    let body = response
        .text()
        .await
        .map_err(|network_error| ApiError::Network(network_error.to_string()))?;
    Ok((http_status, body))
}

/// The `data` of a GET of `url`, warnings and infos dropped (the endpoints other than queries
/// give none).
pub(crate) async fn fetch_data<Data: serde::de::DeserializeOwned>(
    url: &str,
) -> Result<Data, ApiError> {
    let (status, body) = get(url).await?;
    decode_response(status, &body).map(|(data, _, _)| data)
}

/// Runs `expression` as an instant query at `time` (unix seconds).
pub async fn instant_query(expression: &str, time_seconds: f64) -> Result<QueryResponse, ApiError> {
    let (status, body) = get(&instant_query_url(expression, time_seconds)).await?;
    decode_query_response(status, &body)
}

/// Runs `expression` as a range query.
pub async fn range_query(
    expression: &str,
    start: f64,
    end: f64,
    step: f64,
) -> Result<QueryResponse, ApiError> {
    let (status, body) = get(&range_query_url(expression, start, end, step)).await?;
    decode_query_response(status, &body)
}

/// `match[]` for a metric name, or nothing.
fn match_parameter(metric: Option<&str>) -> String {
    metric
        .filter(|name| !name.is_empty())
        .map(|name| {
            format!(
                "?match[]={}",
                encode_uri_component(&format!("{{__name__={}}}", quoted(name)))
            )
        })
        .unwrap_or_default()
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Label names, of the series of `metric` when given.
pub async fn label_names(metric: Option<&str>) -> Result<Vec<String>, ApiError> {
    fetch_data(&format!("/api/v1/labels{}", match_parameter(metric))).await
}

/// Values of label `name`, of the series of `metric` when given.
pub async fn label_values(name: &str, metric: Option<&str>) -> Result<Vec<String>, ApiError> {
    let url = format!(
        "/api/v1/label/{}/values{}",
        encode_uri_component(name),
        match_parameter(metric)
    );
    fetch_data(&url).await
}

/// One metric's metadata as `/api/v1/metadata` lists it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricMetadata {
    #[serde(rename = "type")]
    pub metric_type: String,
    pub help: String,
    #[serde(default)]
    pub unit: String,
}

/// Every metric's metadata (the first entry of each), by name.
pub async fn metadata() -> Result<std::collections::BTreeMap<String, Vec<MetricMetadata>>, ApiError>
{
    fetch_data("/api/v1/metadata").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_results_decode_with_labels_and_values() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"prometheus","instance":"localhost:9090"},
             "value":[1435781451.781,"1"]}]}}"#;
        let response = decode_query_response(200, body).expect("valid vector");
        let QueryResult::Vector(series) = &response.result else {
            panic!("expected a vector, got {:?}", response.result);
        };
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].metric["job"], "prometheus");
        let sample = series[0].value.as_ref().expect("a value");
        assert_eq!(sample.value(), "1");
        assert!((sample.timestamp_seconds() - 1_435_781_451.781).abs() < 1e-6);
        assert_eq!(response.result.result_type(), "vector");
        assert_eq!(response.result.series_count(), 1);
    }

    #[test]
    fn matrix_results_keep_every_point() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up"},"values":[[1,"1"],[2,"0"]]}]},
            "warnings":["careful"]}"#;
        let response = decode_query_response(200, body).expect("valid matrix");
        let QueryResult::Matrix(series) = &response.result else {
            panic!("expected a matrix, got {:?}", response.result);
        };
        assert_eq!(
            series[0].values,
            vec![
                SamplePair(1.0, "1".to_owned()),
                SamplePair(2.0, "0".to_owned())
            ]
        );
        assert_eq!(response.warnings, vec!["careful".to_owned()]);
    }

    #[test]
    fn scalar_and_string_results_decode_as_a_single_pair() {
        let scalar = decode_query_response(
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[10,"2"]}}"#,
        )
        .expect("valid scalar");
        assert_eq!(
            scalar.result,
            QueryResult::Scalar(SamplePair(10.0, "2".to_owned()))
        );
        let string = decode_query_response(
            200,
            r#"{"status":"success","data":{"resultType":"string","result":[10,"hi"]}}"#,
        )
        .expect("valid string");
        assert_eq!(string.result.series_count(), 1);
        assert_eq!(string.result.result_type(), "string");
    }

    #[test]
    fn native_histograms_do_not_break_decoding() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"histogram":[5,{"count":"3","sum":"1","buckets":[]}]}]}}"#;
        let response = decode_query_response(200, body).expect("valid histogram");
        let QueryResult::Vector(series) = &response.result else {
            panic!("expected a vector");
        };
        assert!(series[0].value.is_none());
        assert!(series[0].histogram.is_some());
    }

    #[test]
    fn api_errors_carry_the_servers_message() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:4: parse error: unexpected end of input"}"#;
        let error = decode_query_response(400, body).expect_err("an error");
        assert_eq!(error.error_type(), Some("bad_data"));
        assert_eq!(
            error.to_string(),
            "1:4: parse error: unexpected end of input"
        );
    }

    #[test]
    fn non_json_answers_become_decode_errors() {
        let error = decode_query_response(502, "<html>Bad Gateway</html>").expect_err("an error");
        assert_eq!(
            error,
            ApiError::Decode {
                http_status: 502,
                detail: "<html>Bad Gateway</html>".to_owned()
            }
        );
        assert!(decode_query_response(200, "").is_err());
        assert!(decode_query_response(
            200,
            r#"{"status":"success","data":{"resultType":"streams","result":[]}}"#
        )
        .is_err());
        assert!(decode_query_response(200, r#"{"status":"success"}"#).is_err());
    }

    #[test]
    fn query_urls_encode_the_expression() {
        assert_eq!(
            instant_query_url(r#"up{job="a&b"}"#, 1_435_781_451.781),
            "/api/v1/query?query=up%7Bjob%3D%22a%26b%22%7D&time=1435781451.781&stats=all"
        );
        assert_eq!(
            range_query_url("up", 10.0, 70.5, 15.0),
            "/api/v1/query_range?query=up&start=10.000&end=70.500&step=15&stats=all"
        );
        assert_eq!(match_parameter(None), "");
        assert_eq!(
            match_parameter(Some("a\"b")),
            "?match[]=%7B__name__%3D%22a%5C%22b%22%7D"
        );
    }

    #[test]
    fn stats_are_read_beside_the_result() {
        let body = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"],
            "stats":{"timings":{"evalTotalTime":0.0025,"execTotalTime":0.003},
            "samples":{"totalQueryableSamples":60,"peakSamples":3}}}}"#;
        let response = decode_query_response(200, body).expect("valid");
        let stats = response.stats.expect("stats");
        assert_eq!(stats.timings.eval_total_time, 0.0025);
        assert_eq!(stats.samples.total_queryable_samples, 60);
        assert_eq!(stats.samples.peak_samples, 3);
        let plain = decode_query_response(
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#,
        )
        .expect("valid");
        assert_eq!(plain.stats, None);
    }

    #[test]
    fn other_endpoints_decode_their_data() {
        let (names, _, _) = decode_response::<Vec<String>>(
            200,
            r#"{"status":"success","data":["__name__","job"]}"#,
        )
        .expect("names");
        assert_eq!(names, ["__name__", "job"]);
        let (metadata, _, _) =
            decode_response::<std::collections::BTreeMap<String, Vec<MetricMetadata>>>(
                200,
                r#"{"status":"success","data":{"up":[{"type":"gauge","help":"Up.","unit":""}]}}"#,
            )
            .expect("metadata");
        assert_eq!(metadata["up"][0].metric_type, "gauge");
    }
}
