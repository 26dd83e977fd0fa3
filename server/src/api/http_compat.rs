//! What Prometheus's HTTP router and API wrapper add around the endpoints' own answers, so that
//! browsers and clients see the same headers and codes: CORS headers (`--web.cors.origin`),
//! `OPTIONS` answered with 204 anywhere under `/api/v1/`, a plain-text 405 listing the allowed
//! methods, a plain-text 404 for paths no endpoint serves, and `/api/v1` redirected to
//! `/api/v1/`. Each was checked against Prometheus 3.5.3.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use narthex_config::relabel::Regex;

use crate::server::AppState;

/// The endpoint Prometheus serves outside its API wrapper, so without CORS headers.
const REMOTE_WRITE_PATH: &str = "/api/v1/write";

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
    if request.method() == Method::OPTIONS && path.starts_with("/api/v1/") {
        let mut answer = StatusCode::NO_CONTENT.into_response();
        set_cors(
            answer.headers_mut(),
            origin.as_ref(),
            &state.api.cors_origin,
        );
        return answer;
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
    }
    answer
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
