//! One error type for the controller, mapped to both HTTP problems and gRPC statuses so
//! REST and gRPC callers get the same answer for the same fault.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use opsconductor_core::error::ValidationError;
use opsconductor_store::StoreError;
use serde_json::json;

/// What a controller operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// Input that breaks a rule; every problem with its field.
    #[error("invalid input: {0}")]
    Invalid(ValidationError),
    /// The request cannot be read at all: broken JSON, a bad query string, a wrong type.
    #[error("malformed request: {0}")]
    Malformed(ValidationError),
    /// The body is larger than the endpoint accepts.
    #[error("request body too large: {0}")]
    TooLarge(String),
    /// The body is not in a format the endpoint reads.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The caller's version (If-Match / expected_version) is not the stored one.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The thing exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The state forbids it now (cancelling a finished run).
    #[error("conflict: {0}")]
    Conflict(String),
    /// No credentials, or credentials that were refused.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is known but their role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The caller must wait (too many failed logins).
    #[error("too many requests: {message}")]
    TooManyRequests {
        /// What was limited and for how long.
        message: String,
        /// Seconds until a new attempt may succeed (`Retry-After`).
        retry_after_seconds: u64,
    },
    /// A dependency (database, broker) is down; retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or a broken deployment.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ControllerError {
    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(ValidationError::field(field, message))
    }

    fn http_status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AlreadyExists(_) | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ControllerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::NotFound(what),
            StoreError::AlreadyExists { what } => Self::AlreadyExists(what),
            StoreError::Conflict { message } => Self::Conflict(message),
            StoreError::Invalid { message } => Self::field("", message),
            StoreError::Unauthorized { message } => Self::Unauthorized(message),
            StoreError::Unavailable { message } => Self::Unavailable(message),
            StoreError::Other { message } => Self::Internal(message),
        }
    }
}

impl From<ValidationError> for ControllerError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid(e)
    }
}

impl From<ControllerError> for tonic::Status {
    fn from(e: ControllerError) -> Self {
        let message = e.to_string();
        match e {
            ControllerError::Invalid(_)
            | ControllerError::Malformed(_)
            | ControllerError::UnsupportedMediaType(_) => Self::invalid_argument(message),
            ControllerError::TooLarge(_) => Self::out_of_range(message),
            ControllerError::PreconditionFailed(_) => Self::aborted(message),
            ControllerError::NotFound(_) => Self::not_found(message),
            ControllerError::AlreadyExists(_) => Self::already_exists(message),
            ControllerError::Conflict(_) => Self::failed_precondition(message),
            ControllerError::Unauthorized(_) => Self::unauthenticated(message),
            ControllerError::Forbidden(_) => Self::permission_denied(message),
            ControllerError::TooManyRequests { .. } => Self::resource_exhausted(message),
            ControllerError::Unavailable(_) => Self::unavailable(message),
            ControllerError::Internal(_) => Self::internal(message),
        }
    }
}

/// REST errors are `application/problem+json` (RFC 9457) with the field errors listed.
impl IntoResponse for ControllerError {
    fn into_response(self) -> Response {
        let status = self.http_status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut body = json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        if let Self::Invalid(v) | Self::Malformed(v) = &self {
            body["errors"] = json!(
                v.errors
                    .iter()
                    .map(|e| json!({"field": e.field, "message": e.message}))
                    .collect::<Vec<_>>()
            );
        }
        let mut response = (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer realm=\"opsconductor\""),
                );
            }
            Self::TooManyRequests {
                retry_after_seconds,
                ..
            } => {
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(*retry_after_seconds),
                );
            }
            _ => {}
        }
        response
    }
}
