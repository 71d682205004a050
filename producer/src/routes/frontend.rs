//! The web page: the files of `frontend/`, built into the binary.

use poem::http::{StatusCode, header};
use poem::{Request, Response, handler};

use crate::error::into_json_response;
use crate::middleware::with_page_headers;

/// The static files of the web page.
#[derive(rust_embed::Embed)]
#[folder = "../frontend/"]
#[exclude = "tests/*"]
#[exclude = "node_modules/*"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
#[exclude = "*.md"]
struct Assets;

/// Shown at `/` when the build has no `frontend/index.html`.
const FALLBACK_INDEX: &str = "<!doctype html><meta charset=utf-8><title>User registry</title>\
    <h1>User registry</h1><p>See the API at <a href=\"/docs\">/docs</a>.</p>";

/// Serves `/`, `/users/{id}` (the page) and the page's files.
#[handler]
pub fn page(req: &Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let is_page = path.is_empty() || path == "index.html" || path.starts_with("users/");
    let name = if is_page { "index.html" } else { path };
    let resp = match Assets::get(name) {
        Some(file) => Response::builder()
            .content_type(file.metadata.mimetype())
            .header(header::CACHE_CONTROL, "no-cache")
            .body(file.data.into_owned()),
        None if is_page => Response::builder()
            .content_type("text/html; charset=utf-8")
            .body(FALLBACK_INDEX),
        None => into_json_response(poem::Error::from_status(StatusCode::NOT_FOUND)),
    };
    with_page_headers(resp)
}
