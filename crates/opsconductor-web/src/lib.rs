//! The web UI (the poller dashboard, the Job Builder, runs, history, agents, settings) as
//! served by the controller: the Vite production build in `web/dist`, embedded in the
//! binary at compile time so a release is one file.
//!
//! [`handler`] serves a request for any path outside the API: a file of the build when
//! one matches, otherwise `index.html`, so client-side routes (`/jobs/…/edit`) survive a
//! reload. Hashed files under `/assets/` are cached for a year; `index.html` is revalidated
//! every time (by its `ETag`), so a new release is picked up on the next load. Every
//! answer carries a Content-Security-Policy that allows only this origin.
//!
//! Debug builds embed too (`debug-embed`), so tests exercise what a release serves; the
//! build script makes cargo rebuild this crate when `web/dist` changes.

use axum::body::Body;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::{EmbeddedFile, RustEmbed};

#[derive(RustEmbed)]
#[folder = "$OPSCONDUCTOR_WEB_DIST"]
struct Assets;

/// Scripts and styles from this origin only. `'unsafe-eval'`: the Job Builder's form
/// library compiles JSON Schemas into validators with `new Function` (the controller
/// validates again and is the authority). Inline styles: positioning by the UI libraries.
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-eval'; \
                   style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                   connect-src 'self'; font-src 'self' data:; object-src 'none'; \
                   base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Whether the build embedded is the real UI (false: the "not built" placeholder).
pub fn is_built() -> bool {
    env!("OPSCONDUCTOR_WEB_BUILT") == "yes"
}

/// A router answering every request with [`handler`], for the controller's fallback.
pub fn router() -> axum::Router {
    axum::Router::new().fallback(handler)
}

/// Serves the UI for `GET`/`HEAD` of any path the API does not own.
pub async fn handler(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(axum::http::header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    if let Some(file) = (!path.is_empty()).then(|| Assets::get(path)).flatten() {
        let immutable = path.starts_with("assets/");
        return serve(file, immutable, &headers, method);
    }
    // A missing hashed asset is a stale page asking for an old release's file: a 404,
    // not index.html parsed as JavaScript.
    if path.starts_with("assets/") {
        return with_security_headers((StatusCode::NOT_FOUND, "not found").into_response());
    }
    match Assets::get("index.html") {
        Some(index) => serve(index, false, &headers, method),
        None => with_security_headers((StatusCode::NOT_FOUND, "not found").into_response()),
    }
}

fn serve(file: EmbeddedFile, immutable: bool, headers: &HeaderMap, method: Method) -> Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let not_modified = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = file.metadata.mimetype().to_owned();
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(file.data.into_owned())
        };
        let mut response = Response::new(body);
        if let Ok(value) = HeaderValue::from_str(&mime) {
            response.headers_mut().insert(CONTENT_TYPE, value);
        }
        response
    };
    let response_headers = response.headers_mut();
    response_headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(ETAG, value);
    }
    with_security_headers(response)
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(IF_NONE_MATCH, tag);
        }
        router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn client_side_routes_get_the_page_revalidated_by_etag() {
        let page = get("/jobs/0193/edit", None).await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html");
        assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
        assert!(
            page.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let etag = page.headers()[ETAG].to_str().unwrap().to_owned();
        let body = to_bytes(page.into_body(), usize::MAX).await.unwrap();
        assert!(body.starts_with(b"<!doctype html>"));

        let again = get("/", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(
            to_bytes(again.into_body(), usize::MAX)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn missing_assets_are_404_not_the_page() {
        let missing = get("/assets/index-00000000.js", None).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    #[tokio::test]
    async fn only_reads_are_served() {
        let response = router()
            .oneshot(Request::post("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn built_assets_are_immutable_with_their_type() {
        if !is_built() {
            // A checkout without `make web`: only the placeholder page exists.
            assert!(Assets::iter().all(|name| name == "index.html"));
            return;
        }
        let script = Assets::iter()
            .find(|name| name.starts_with("assets/") && name.ends_with(".js"))
            .expect("the build has a script");
        let response = get(&format!("/{script}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/javascript");
        assert_eq!(
            response.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
}
