//! What Prometheus's HTTP router and API wrapper add around the endpoints' own answers, so that
//! browsers and clients see the same headers and codes: CORS headers (`--web.cors.origin`),
//! answers compressed when the client asks (`Accept-Encoding: gzip` or `deflate`, as Grafana
//! sends), `OPTIONS` answered with 204 anywhere under `/api/v1/`, a plain-text 405 listing the
//! allowed methods (`HEAD` included: Prometheus registers none there), a plain-text 404 for
//! paths no endpoint serves, and `/api/v1` redirected to `/api/v1/`. Each was checked against
//! Prometheus 3.5.3.

use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use narthex_config::relabel::Regex;

use crate::server::AppState;

/// The endpoint Prometheus serves outside its API wrapper, so without CORS headers.
const REMOTE_WRITE_PATH: &str = "/api/v1/write";

/// Answers at least this large are compressed on the blocking pool, not on the thread that
/// serves connections (gzip takes about 10 ms a megabyte).
const COMPRESS_ELSEWHERE_FROM_BYTES: usize = 64 * 1024;

/// Whether [`prometheus_manners`] adds nothing but `Vary: Origin` to an endpoint's answer to
/// `request`: no `Origin` to answer with CORS headers, no compression asked for, not a method
/// it answers itself.
pub fn only_varies(request: &Request) -> bool {
    let headers = request.headers();
    !matches!(*request.method(), Method::OPTIONS | Method::HEAD)
        && !headers.contains_key(header::ORIGIN)
        && headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .all(|accept| negotiated_encoding(accept).is_none())
}

/// An endpoint's answer with what the router and [`prometheus_manners`] add when
/// [`only_varies`], in their order: axum's route sets `Content-Length` from a body of known
/// size, then the middleware `Vary: Origin`.
pub fn with_vary(mut answer: Response) -> Response {
    let known_length = axum::body::HttpBody::size_hint(answer.body()).exact();
    let headers = answer.headers_mut();
    if let Some(length) = known_length.filter(|_| !headers.contains_key(header::CONTENT_LENGTH)) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    answer
}

/// Marks an answer of the router itself (no endpoint), which gets no CORS headers.
#[derive(Clone, Copy)]
struct RouterAnswer;

/// The middleware around the whole router; it acts on paths under `/api` only.
pub async fn prometheus_manners(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !(path == "/api" || path.starts_with("/api/")) {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let encoding = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(negotiated_encoding);
    if request.method() == Method::OPTIONS && path.starts_with("/api/v1/") {
        let mut answer = StatusCode::NO_CONTENT.into_response();
        let headers = answer.headers_mut();
        set_cors(headers, origin.as_ref(), &state.api.cors_origin);
        // Go's compression wrapper names its encoding before the handler runs, so the empty
        // 204 carries it too.
        if let Some(encoding) = encoding {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.name()),
            );
        }
        return answer;
    }
    if request.method() == Method::HEAD && path.starts_with("/api/v1/") {
        return head_not_allowed(request, next).await;
    }
    let wrapped = path != REMOTE_WRITE_PATH;
    let mut answer = next.run(request).await;
    if answer.status() == StatusCode::METHOD_NOT_ALLOWED {
        return method_not_allowed(answer.headers());
    }
    if wrapped && answer.extensions().get::<RouterAnswer>().is_none() {
        set_cors(
            answer.headers_mut(),
            origin.as_ref(),
            &state.api.cors_origin,
        );
        // An answer already encoded (none is today) goes as it is.
        let encoded = answer.headers().contains_key(header::CONTENT_ENCODING);
        if let Some(encoding) = encoding.filter(|_| !encoded) {
            answer = compressed(answer, encoding).await;
        }
    }
    answer
}

/// `HEAD` under `/api/v1/`, which Prometheus's router takes nowhere (axum would answer it as a
/// `GET`): the 405 of the path's own methods, or the 404 of a path no endpoint serves.
async fn head_not_allowed(mut request: Request, next: Next) -> Response {
    // TRACE, which no endpoint takes either, makes the router list the methods the path takes.
    *request.method_mut() = Method::TRACE;
    let answer = next.run(request).await;
    if answer.status() == StatusCode::METHOD_NOT_ALLOWED {
        return method_not_allowed(answer.headers());
    }
    answer
}

/// A content coding Prometheus's API compresses its answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Gzip,
    /// zlib's format, as HTTP's `deflate` means and Go's `zlib.NewWriter` writes.
    Deflate,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// Prometheus's `httputil.CompressionHandler` choice: the first of `gzip` and `deflate` in the
/// (first) `Accept-Encoding` header, compared whole, so `gzip;q=0.5` is not `gzip` there either.
fn negotiated_encoding(accept: &HeaderValue) -> Option<Encoding> {
    encoding_of(accept.as_bytes())
}

/// Whether an `Accept-Encoding` value has [`prometheus_manners`] compress the answer; for a
/// request not built as a [`Request`] (see [`only_varies`]).
pub fn asks_for_compression(accept: &[u8]) -> bool {
    encoding_of(accept).is_some()
}

fn encoding_of(accept: &[u8]) -> Option<Encoding> {
    // As `HeaderValue::to_str`: visible ASCII only, or no value at all.
    if !accept.iter().all(|&b| b == b'\t' || (32..127).contains(&b)) {
        return None;
    }
    std::str::from_utf8(accept)
        .ok()?
        .split(',')
        .find_map(|token| match token.trim() {
            "gzip" => Some(Encoding::Gzip),
            "deflate" => Some(Encoding::Deflate),
            _ => None,
        })
}

/// `answer` with its body compressed and `Content-Encoding` set (`Vary` stays `Origin`, as
/// Prometheus's). A body that cannot be read is an internal error; one that cannot be
/// compressed goes as it is.
async fn compressed(answer: Response, encoding: Encoding) -> Response {
    let (mut parts, body) = answer.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "reading an API answer to compress it failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let outcome = if bytes.len() >= COMPRESS_ELSEWHERE_FROM_BYTES {
        let input = bytes.clone();
        tokio::task::spawn_blocking(move || compress(&input, encoding))
            .await
            .map_err(std::io::Error::other)
            .and_then(|outcome| outcome)
    } else {
        compress(&bytes, encoding)
    };
    match outcome {
        Ok(compressed) => {
            parts.headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.name()),
            );
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(compressed))
        }
        Err(e) => {
            tracing::warn!(error = %e, "compressing an API answer failed; sending it as it is");
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

/// `bytes` compressed as `encoding`, at the default level (Go's too).
fn compress(bytes: &Bytes, encoding: Encoding) -> std::io::Result<Vec<u8>> {
    let level = flate2::Compression::default();
    let output = Vec::with_capacity(bytes.len() / 4 + 64);
    match encoding {
        Encoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(output, level);
            encoder.write_all(bytes)?;
            encoder.finish()
        }
        Encoding::Deflate => {
            let mut encoder = flate2::write::ZlibEncoder::new(output, level);
            encoder.write_all(bytes)?;
            encoder.finish()
        }
    }
}

/// Prometheus's `httputil.SetCORS`: `Vary: Origin` always; the other headers when the request
/// names an origin; that origin allowed when `allowed` matches all of it.
fn set_cors(headers: &mut HeaderMap, origin: Option<&HeaderValue>, allowed: &Regex) {
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.filter(|origin| !origin.is_empty()) else {
        return;
    };
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Accept, Authorization, Content-Type, Origin"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Date"),
    );
    if origin.to_str().is_ok_and(|text| allowed.is_match(text)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

/// Go's answer for a path served with other methods: the methods Prometheus registers (every
/// API path also takes `OPTIONS`; `HEAD` is axum's addition to `GET`), sorted.
fn method_not_allowed(routed: &HeaderMap) -> Response {
    let mut methods: Vec<&str> = routed
        .get(header::ALLOW)
        .and_then(|allow| allow.to_str().ok())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|method| !method.is_empty() && *method != "HEAD")
        .chain(["OPTIONS"])
        .collect();
    methods.sort_unstable();
    methods.dedup();
    let mut answer = plain_text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// Go's `http.NotFound`, Prometheus's answer for a path under `/api` that no endpoint serves.
pub async fn not_found() -> Response {
    let mut answer = plain_text(StatusCode::NOT_FOUND, "404 page not found\n");
    answer.extensions_mut().insert(RouterAnswer);
    answer
}

/// Go's redirect of `/api/v1` to `/api/v1/` (query kept): a small HTML body for `GET`, its
/// content type for `GET` and `HEAD`, nothing for other methods.
pub async fn redirect_to_api_root(request: Request) -> Response {
    let location = match request.uri().query() {
        Some(query) => format!("/api/v1/?{query}"),
        None => "/api/v1/".to_string(),
    };
    let method = request.method();
    let body = if method == Method::GET {
        format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            html_escape(&location)
        )
    } else {
        String::new()
    };
    let mut answer = (StatusCode::MOVED_PERMANENTLY, body).into_response();
    let headers = answer.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if method == Method::GET || method == Method::HEAD {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    answer.extensions_mut().insert(RouterAnswer);
    answer
}

fn plain_text(status: StatusCode, body: &'static str) -> Response {
    let mut answer = (status, body).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

/// Go's `htmlEscape` in `http.Redirect`.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_the_first_gzip_or_deflate_named_whole() {
        let chosen = |accept: &str| negotiated_encoding(&HeaderValue::from_str(accept).unwrap());
        assert_eq!(chosen("gzip"), Some(Encoding::Gzip));
        assert_eq!(chosen("gzip, deflate, br"), Some(Encoding::Gzip));
        assert_eq!(chosen("br,deflate,gzip"), Some(Encoding::Deflate));
        assert_eq!(chosen("  gzip  "), Some(Encoding::Gzip));
        // Go compares each token whole: parameters or other case make it another coding.
        assert_eq!(chosen("gzip;q=1"), None);
        assert_eq!(chosen("GZIP"), None);
        assert_eq!(chosen("identity, br"), None);
        assert_eq!(chosen(""), None);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_original() {
        use std::io::Read;
        let text = Bytes::from("{\"status\":\"success\"}".repeat(100));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&compress(&text, Encoding::Gzip).unwrap()[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
        back.clear();
        flate2::read::ZlibDecoder::new(&compress(&text, Encoding::Deflate).unwrap()[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
    }
}
