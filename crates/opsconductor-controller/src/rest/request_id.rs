//! Request ids: every REST request runs in a tracing span carrying `request.id`, so each
//! log line it causes can be found together, and the id goes back in `x-request-id`. A
//! client's (or proxy's) own `x-request-id` is kept when it is a plausible id; anything
//! else is replaced, so logs never carry what a client chose to put there.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// The header that carries the id both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest id taken from a client.
const MAX_CLIENT_ID: usize = 64;

/// The middleware: span, id and response header.
pub async fn with_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| plausible(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request.id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn plausible(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::plausible;

    #[test]
    fn only_short_plain_ids_are_taken_from_clients() {
        assert!(plausible("0190f0c2-7c1e-7a4b-9d1e-2b3c4d5e6f70"));
        assert!(plausible("req_42.retry-1"));
        assert!(!plausible(""));
        assert!(!plausible(&"a".repeat(65)));
        assert!(!plausible("id with spaces"));
        assert!(!plausible("id\nforged: log line"));
    }
}
