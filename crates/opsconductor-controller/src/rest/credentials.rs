//! The credential vault over REST: secrets go in and never come out. Reads show the
//! metadata only (name, kind, description, versions, when the secret last changed);
//! `PUT` renames, re-describes or rotates; a credential a job uses cannot be deleted.

use axum::extract::{Path, State};
use axum::http::header::ETAG;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use opsconductor_core::credential::CredentialKind;
use opsconductor_core::ids::CredentialId;
use opsconductor_store::CredentialMeta;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{JsonBody, etag, if_match_version};
use super::{ApiState, Problem, json_response, path_id};
use crate::api::{CredentialUpdate, NewCredential};
use crate::error::ControllerError;

type ApiResult = Result<Response, ControllerError>;

/// A stored credential as the API shows it: never its secret.
#[derive(Serialize, ToSchema)]
pub struct CredentialView {
    /// Stable id; actions reference it as `credential`.
    pub id: CredentialId,
    /// Unique name.
    pub name: String,
    /// What the secret holds.
    pub kind: CredentialKind,
    /// Free text.
    pub description: String,
    /// Increments on every change; the `ETag`.
    pub version: i64,
    /// Creation time.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change of any kind.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Last change of the secret (creation or rotation).
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub secret_updated_at: DateTime<Utc>,
}

impl From<CredentialMeta> for CredentialView {
    fn from(c: CredentialMeta) -> Self {
        Self {
            id: c.id,
            name: c.name,
            kind: c.kind,
            description: c.description,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
            secret_updated_at: c.secret_updated_at,
        }
    }
}

/// Every credential, by name.
#[derive(Serialize, ToSchema)]
pub struct CredentialList {
    /// The credentials.
    pub items: Vec<CredentialView>,
}

fn credential_response(status: StatusCode, credential: CredentialMeta) -> Response {
    let tag = etag(credential.version);
    let mut response = json_response(status, CredentialView::from(credential));
    response.headers_mut().insert(ETAG, tag);
    response
}

fn credential_id(text: &str) -> Result<CredentialId, ControllerError> {
    path_id("credential", text)
}

/// Lists credentials (metadata only).
#[utoipa::path(get, path = "/api/v1/credentials", tag = "credentials",
    responses((status = 200, body = CredentialList),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_credentials(State(state): State<ApiState>) -> ApiResult {
    let items = state
        .api
        .list_credentials()
        .await?
        .into_iter()
        .map(CredentialView::from)
        .collect();
    Ok(json_response(StatusCode::OK, CredentialList { items }))
}

/// Stores a credential. The secret's fields depend on the kind: `snmp_community`
/// {community}; `snmp_v3` {user, auth_protocol, auth_password, priv_protocol,
/// priv_password}; `ssh_password` and `http_basic` {user, password}; `ssh_key` {user,
/// private_key, passphrase}; `http_bearer` {token}. It is sealed at once and never shown
/// again.
#[utoipa::path(post, path = "/api/v1/credentials", tag = "credentials",
    request_body = NewCredential,
    responses((status = 201, body = CredentialView),
        (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No vault key configured", body = Problem, content_type = "application/problem+json")))]
pub async fn create_credential(
    State(state): State<ApiState>,
    JsonBody(new): JsonBody<NewCredential>,
) -> ApiResult {
    let credential = state.api.create_credential(new).await?;
    Ok(credential_response(StatusCode::CREATED, credential))
}

/// One credential's metadata; the `ETag` header holds its version.
#[utoipa::path(get, path = "/api/v1/credentials/{id}", tag = "credentials",
    params(("id" = String, Path, description = "Credential id")),
    responses((status = 200, body = CredentialView, headers(("ETag" = String, description = "The version"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_credential(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let credential = state.api.get_credential(credential_id(&id)?).await?;
    Ok(credential_response(StatusCode::OK, credential))
}

/// Renames, re-describes or rotates a credential (absent fields stay; the kind cannot
/// change); with `If-Match` only if it is still at that version.
#[utoipa::path(put, path = "/api/v1/credentials/{id}", tag = "credentials",
    request_body = CredentialUpdate,
    params(("id" = String, Path, description = "Credential id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 200, body = CredentialView),
        (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No vault key configured", body = Problem, content_type = "application/problem+json")))]
pub async fn update_credential(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(update): JsonBody<CredentialUpdate>,
) -> ApiResult {
    let id = credential_id(&id)?;
    let expected = if_match_version(&headers)?;
    let credential = state.api.update_credential(id, expected, update).await?;
    Ok(credential_response(StatusCode::OK, credential))
}

/// Deletes a credential no job uses (409 names the jobs that do).
#[utoipa::path(delete, path = "/api/v1/credentials/{id}", tag = "credentials",
    params(("id" = String, Path, description = "Credential id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_credential(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let id = credential_id(&id)?;
    let expected = if_match_version(&headers)?;
    state.api.delete_credential(id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
