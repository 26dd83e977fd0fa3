//! The web UI, embedded in the binary at build time from Trunk's `dist/` folder.
//!
//! Every path that is not an asset serves `index.html`, so the UI's client-side routes
//! (`/query`, `/graph`, ...) work on reload and as shared links.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../dist"]
struct Assets;

const UI_MISSING: &str = "<!doctype html><title>Narthex</title>\
<p>The web UI was not built into this binary. Build it with <code>make build</code>; \
the API is served under <a href=\"/api/v1/query?query=up\">/api/v1</a>.</p>";

pub async fn serve_ui(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(asset) = (!path.is_empty()).then(|| Assets::get(path)).flatten() {
        let mime = asset.metadata.mimetype().to_string();
        // Trunk puts a content hash in asset names, so they never change under the same name.
        return (
            [
                (header::CONTENT_TYPE, mime),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_string(),
                ),
            ],
            asset.data,
        )
            .into_response();
    }
    match Assets::get("index.html") {
        Some(index) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                (header::CACHE_CONTROL, "no-cache".to_string()),
            ],
            index.data,
        )
            .into_response(),
        None => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            UI_MISSING,
        )
            .into_response(),
    }
}
