//! Request extractors that fail as problems: a JSON body or query string that does not
//! fit names the field (`actions[0].params.count`, `limit`), an oversized body is a 413, a
//! body that is not JSON a 415 — never axum's plain-text rejections. The
//! [`problem_responses`] layer catches whatever else answers with an error (unknown
//! routes, wrong methods, bad path encodings) and turns it into `application/problem+json`
//! too, so a client parses every error the same way.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opsconductor_core::ValidationError;
use serde::de::DeserializeOwned;

use crate::api::parse_json;
use crate::error::ControllerError;

/// Largest request body accepted (a target file of a /16 is about 1 MiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A JSON request body, parsed with field-precise errors.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ControllerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        if bytes.is_empty() {
            return Err(ControllerError::Malformed(ValidationError::field(
                "",
                "a JSON body is required",
            )));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out (an empty body reads as `T::default()`).
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ControllerError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        // `null` reads as "no body" too (the OpenAPI document marks these bodies optional).
        parse_json::<Option<T>>(&bytes).map(|body| OptionalJsonBody(body.unwrap_or_default()))
    }
}

/// The body, if its content type is JSON (or unset: `curl -d` users) and it fits.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ControllerError> {
    if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ControllerError::UnsupportedMediaType(format!(
                "the body must be application/json, not {essence:?}"
            )));
        }
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ControllerError::TooLarge(format!("at most {MAX_BODY_BYTES} bytes"))
        } else {
            ControllerError::Malformed(ValidationError::field("", rejection.body_text()))
        }
    })
}

/// Query-string parameters, parsed with the parameter named in errors.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ControllerError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryParams)
            .map_err(|e| {
                let field = e.path().to_string();
                let field = if field == "." { String::new() } else { field };
                ControllerError::Malformed(ValidationError::field(field, e.inner().to_string()))
            })
    }
}

/// The version an `If-Match` header asks for: `None` without the header or with `*`.
pub fn if_match_version(headers: &HeaderMap) -> Result<Option<i64>, ControllerError> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    // Unquoted versions are taken too: some clients and proxies drop the quotes.
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    Some(tag)
        .filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ControllerError::Malformed(ValidationError::field(
                "If-Match",
                format!("{text:?} is not an ETag this API issued (they look like \"3\")"),
            ))
        })
}

/// What an `If-Match` header this API understands looks like (for the OpenAPI document).
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[0-9]{1,18}")$"#;

/// The ETag of a versioned resource.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Turns every error response that is not a problem document yet into one, keeping its
/// status and headers (a 405 keeps its `Allow`).
pub async fn problem_responses(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let detail = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let detail = if detail.trim().is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        detail
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    })
    .to_string();
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body)).into_response()
}
