//! `POST /api/v1/write`: the remote write 1.0 receiver behind `--web.enable-remote-write-receiver`.
//!
//! Answers as Prometheus's write handler does: 204 on success; plain-text errors (Go's
//! `http.Error`: `text/plain; charset=utf-8`, `nosniff`, a trailing newline) with 404 when the
//! receiver is off, 415 for a content type or encoding other than remote write 1.0's, 400 for a
//! body that cannot be read and for samples the storage refuses (so senders drop them rather
//! than retry), 500 when the storage fails. Series with label sets that cannot be stored are
//! skipped with a warning, the rest written. Decoding and writing are in `narthex_remote`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::now_ms;
use crate::server::AppState;

const PROTOBUF: &str = "application/x-protobuf";
const WRITE_V1_MESSAGE: &str = "prometheus.WriteRequest";

pub(super) async fn remote_write(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if !state.api.remote_write_receiver {
        return text_response(
            StatusCode::NOT_FOUND,
            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver",
        );
    }
    if let Err(message) = check_headers(request.headers()) {
        return text_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message);
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    // Decompressing, decoding and the RocksDB commit are blocking work.
    let outcome = tokio::task::spawn_blocking(move || {
        let batch =
            narthex_remote::decode(&body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
        if batch.ignored_histograms > 0 {
            tracing::warn!(
                histograms = batch.ignored_histograms,
                "remote write: native histogram samples are not stored yet; dropped"
            );
        }
        if let Some(first) = batch.invalid.first() {
            // Skipped, as Prometheus skips them: the rest of the request is written.
            tracing::warn!(
                series = batch.invalid.len(),
                samples = batch.invalid.iter().map(|s| s.samples).sum::<usize>(),
                first = %first,
                "remote write: series with invalid labels skipped"
            );
        }
        if batch.ignored_exemplars > 0 || batch.ignored_metadata > 0 {
            tracing::debug!(
                exemplars = batch.ignored_exemplars,
                metadata = batch.ignored_metadata,
                "remote write: exemplars and metadata are not stored; dropped"
            );
        }
        let written =
            narthex_remote::write(state.tsdb.as_ref(), &batch, now_ms()).map_err(|e| {
                let status = if e.is_client_error() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                if status == StatusCode::BAD_REQUEST {
                    tracing::debug!(error = %e, "remote write refused");
                } else {
                    tracing::error!(error = %e, "remote write failed");
                }
                (status, e.to_string())
            })?;
        if written.conflicting > 0 {
            tracing::debug!(
                samples = written.conflicting,
                "remote write: samples out of order within their request dropped"
            );
        }
        Ok(written)
    })
    .await;
    match outcome {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err((status, message))) => text_response(status, &message),
        Err(e) => text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("remote write task failed: {e}"),
        ),
    }
}

/// Remote write 1.0's headers, read as Prometheus 3 reads them: no `Content-Type` or
/// `Content-Encoding` means protobuf and snappy (old senders omit them); a `proto=` parameter
/// must name the 1.0 message, since the 2.0 one is not accepted here.
fn check_headers(headers: &HeaderMap) -> Result<(), String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .unwrap_or_default();
    if !content_type.is_empty() {
        let mut parts = content_type.split(';');
        let media = parts.next().unwrap_or("");
        if media != PROTOBUF {
            return Err(format!(
                "expected {PROTOBUF} as the first (media) part, got {content_type} content-type"
            ));
        }
        for parameter in parts {
            let Some((key, value)) = parameter.split_once('=') else {
                return Err(format!(
                    "as per https://www.rfc-editor.org/rfc/rfc9110#parameter expected parameters to be key-values, got {parameter} in {content_type} content-type"
                ));
            };
            if key == "proto" && value != WRITE_V1_MESSAGE {
                return Err(format!(
                    "{value} protobuf message is not accepted by this server; accepted [{WRITE_V1_MESSAGE}]"
                ));
            }
        }
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
        .unwrap_or_default();
    if !encoding.is_empty() && encoding != "snappy" {
        return Err(format!(
            "{encoding} encoding (compression) is not accepted by this server; only snappy is acceptable"
        ));
    }
    Ok(())
}

/// A plain-text error as Go's `http.Error` writes it.
pub(super) fn text_response(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: Option<&str>, encoding: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(v) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        }
        if let Some(v) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn remote_write_1_headers() {
        assert!(check_headers(&headers(None, None)).is_ok());
        assert!(check_headers(&headers(Some("application/x-protobuf"), Some("snappy"))).is_ok());
        assert!(check_headers(&headers(
            Some("application/x-protobuf;proto=prometheus.WriteRequest"),
            None
        ))
        .is_ok());
        assert_eq!(
            check_headers(&headers(Some("text/plain"), None)),
            Err("expected application/x-protobuf as the first (media) part, got text/plain content-type".into())
        );
        assert_eq!(
            check_headers(&headers(
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
                None
            )),
            Err("io.prometheus.write.v2.Request protobuf message is not accepted by this server; accepted [prometheus.WriteRequest]".into())
        );
        assert_eq!(
            check_headers(&headers(None, Some("gzip"))),
            Err("gzip encoding (compression) is not accepted by this server; only snappy is acceptable".into())
        );
    }
}
