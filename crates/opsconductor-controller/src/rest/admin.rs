//! The fleet and the controller itself: segments, agents, enrollment tokens, settings,
//! liveness and readiness.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::ETAG;
use axum::response::{IntoResponse, Response};
use opsconductor_core::ids::AgentId;
use opsconductor_core::model::Segment;
use opsconductor_store::{AgentRecord, SshHostKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{JsonBody, etag, if_match_version};
use super::{ApiState, Problem, json_response, path_id};
use crate::error::ControllerError;
use crate::settings::Settings;

type ApiResult = Result<Response, ControllerError>;

/// Longest enrollment token life an admin may ask for.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Prometheus metrics of this replica (text exposition format); 404 when the process
/// installed no recorder. Public like the health checks: counts and timings, no data.
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(State(state): State<ApiState>) -> ApiResult {
    let Some(handle) = &state.metrics else {
        return Err(ControllerError::NotFound(
            "metrics: this process has no metrics recorder".to_owned(),
        ));
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}

/// Readiness.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: String,
    /// PostgreSQL answers.
    pub database: bool,
}

/// Readiness: the database answers (503 otherwise, so a load balancer skips this replica).
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<ApiState>) -> Response {
    let database = state.api.store().ping().await.is_ok();
    let (status, text) = if database {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    json_response(
        status,
        Readiness {
            status: text.to_owned(),
            database,
        },
    )
}

/// Every segment with its CIDRs.
#[utoipa::path(get, path = "/api/v1/segments", tag = "fleet",
    responses((status = 200, body = Vec<Segment>)))]
pub async fn list_segments(State(state): State<ApiState>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.api.store().list_segments().await?,
    ))
}

/// One segment.
#[utoipa::path(get, path = "/api/v1/segments/{name}", tag = "fleet",
    params(("name" = String, Path, description = "Segment name")),
    responses((status = 200, body = Segment),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_segment(State(state): State<ApiState>, Path(name): Path<String>) -> ApiResult {
    let segment = state
        .api
        .store()
        .list_segments()
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ControllerError::NotFound(format!("segment {name:?}")))?;
    Ok(json_response(StatusCode::OK, segment))
}

/// A segment's address blocks.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentBody {
    /// CIDRs routed to this segment's agents (longest prefix wins).
    #[schema(value_type = Vec<String>)]
    pub cidrs: Vec<ipnet::IpNet>,
}

/// Creates a segment or replaces its CIDRs.
#[utoipa::path(put, path = "/api/v1/segments/{name}", tag = "fleet",
    params(("name" = String, Path, description = "Segment name")),
    request_body = SegmentBody,
    responses((status = 200, body = Segment),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn put_segment(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SegmentBody>,
) -> ApiResult {
    if body.cidrs.len() > 10_000 {
        return Err(ControllerError::field("cidrs", "at most 10000 CIDRs"));
    }
    let segment = Segment::new(name, body.cidrs)?;
    state.api.store().upsert_segment(&segment).await?;
    Ok(json_response(StatusCode::OK, segment))
}

/// Deletes a segment no agent or enrollment token uses.
#[utoipa::path(delete, path = "/api/v1/segments/{name}", tag = "fleet",
    params(("name" = String, Path, description = "Segment name")),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_segment(State(state): State<ApiState>, Path(name): Path<String>) -> ApiResult {
    state.api.store().delete_segment(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An agent as the API shows it (never its secret).
#[derive(Serialize, ToSchema)]
pub struct AgentView {
    /// Id.
    pub id: AgentId,
    /// Name it registered with.
    pub name: String,
    /// Its segment.
    pub segment: String,
    /// Agent version.
    pub version: String,
    /// Action kinds it runs.
    pub capabilities: Vec<String>,
    /// Enrollment time.
    pub registered_at: chrono::DateTime<chrono::Utc>,
    /// Last heartbeat or message.
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Has an open session and heartbeats on time.
    pub online: bool,
    /// Its last heartbeat (load, work in flight, buffer).
    #[schema(value_type = Option<Object>)]
    pub heartbeat: Option<serde_json::Value>,
    /// When an admin revoked it (its identity no longer works).
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<AgentRecord> for AgentView {
    fn from(a: AgentRecord) -> Self {
        Self {
            id: a.id,
            name: a.name,
            segment: a.segment,
            version: a.version,
            capabilities: a.capabilities,
            registered_at: a.registered_at,
            last_seen_at: a.last_seen_at,
            online: a.online,
            heartbeat: a.heartbeat,
            revoked_at: a.revoked_at,
        }
    }
}

/// Every agent with liveness and its last heartbeat.
#[utoipa::path(get, path = "/api/v1/agents", tag = "fleet",
    responses((status = 200, body = Vec<AgentView>)))]
pub async fn list_agents(State(state): State<ApiState>) -> ApiResult {
    let agents: Vec<AgentView> = state
        .api
        .list_agents()
        .await?
        .into_iter()
        .map(AgentView::from)
        .collect();
    Ok(json_response(StatusCode::OK, agents))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "fleet",
    params(("id" = String, Path, description = "Agent id")),
    responses((status = 200, body = AgentView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_agent(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id: AgentId = path_id("agent", &id)?;
    let agent = state
        .api
        .list_agents()
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ControllerError::NotFound(format!("agent {id}")))?;
    Ok(json_response(StatusCode::OK, AgentView::from(agent)))
}

/// Revokes an agent: its identity stops working at once and its session ends; enroll
/// it again with a new token to bring it back.
#[utoipa::path(post, path = "/api/v1/agents/{id}/revoke", tag = "fleet",
    params(("id" = String, Path, description = "Agent id")),
    responses((status = 200, body = AgentView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_agent(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id: AgentId = path_id("agent", &id)?;
    let agent = state.api.revoke_agent(id).await?;
    Ok(json_response(StatusCode::OK, AgentView::from(agent)))
}

/// An enrollment token request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The segment agents enrolling with it join.
    pub segment: String,
    /// Life of the token in seconds (default one day, at most 30 days).
    #[serde(default = "default_token_ttl_seconds")]
    #[schema(minimum = 1, maximum = 2592000)]
    pub ttl_seconds: u64,
}

fn default_token_ttl_seconds() -> u64 {
    24 * 3600
}

/// A one-time enrollment token, shown once.
#[derive(Serialize, ToSchema)]
pub struct EnrollmentToken {
    /// The token: give it to one agent.
    pub token: String,
    /// Its segment.
    pub segment: String,
    /// Its life in seconds.
    pub ttl_seconds: u64,
}

/// Creates a one-time enrollment token for a segment.
#[utoipa::path(post, path = "/api/v1/enrollment-tokens", tag = "fleet",
    request_body = TokenRequest,
    responses((status = 201, body = EnrollmentToken),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_enrollment_token(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<TokenRequest>,
) -> ApiResult {
    let ttl = Duration::from_secs(body.ttl_seconds);
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(ControllerError::field(
            "ttl_seconds",
            format!("must be between 1 and {}", MAX_TOKEN_TTL.as_secs()),
        ));
    }
    let token = state
        .api
        .store()
        .create_enrollment_token(&body.segment, ttl)
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        EnrollmentToken {
            token,
            segment: body.segment,
            ttl_seconds: body.ttl_seconds,
        },
    ))
}

/// The current settings (defaults until first written); the `ETag` is their version.
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings",
    responses((status = 200, body = Settings)))]
pub async fn get_settings(State(state): State<ApiState>) -> ApiResult {
    let stored = state.api.store().get_settings().await?;
    let (version, settings) = match stored {
        Some(s) => (s.version, Settings::from_document(s.document)),
        None => (0, Settings::default()),
    };
    let mut response = json_response(StatusCode::OK, settings);
    response.headers_mut().insert(ETAG, etag(version));
    Ok(response)
}

/// Replaces the settings; `If-Match` makes it conditional.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", request_body = Settings,
    params(("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 200, body = Settings),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn put_settings(
    State(state): State<ApiState>,
    headers: HeaderMap,
    JsonBody(settings): JsonBody<Settings>,
) -> ApiResult {
    settings.validate()?;
    let expected = if_match_version(&headers)?;
    let document =
        serde_json::to_value(&settings).map_err(|e| ControllerError::Internal(e.to_string()))?;
    let stored = state
        .api
        .store()
        .put_settings(expected, &document)
        .await
        .map_err(|e| match e {
            opsconductor_store::StoreError::Conflict { message } => {
                ControllerError::PreconditionFailed(message)
            }
            other => other.into(),
        })?;
    let mut response = json_response(StatusCode::OK, settings);
    response.headers_mut().insert(ETAG, etag(stored.version));
    Ok(response)
}

/// An SSH host key recorded on first use.
#[derive(Serialize, ToSchema)]
pub struct SshHostKeyView {
    /// Id, for resetting the record.
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// The target as actions address it.
    pub host: String,
    /// The SSH port.
    pub port: i32,
    /// Key algorithm (`ssh-ed25519`).
    pub algorithm: String,
    /// `SHA256:…` fingerprint.
    pub fingerprint: String,
    /// When it was recorded.
    pub first_seen_at: chrono::DateTime<chrono::Utc>,
    /// The agent that saw it first.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub first_seen_by: Option<uuid::Uuid>,
    /// When it was last presented and trusted.
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    /// The last different key that was refused (`<algorithm> <fingerprint>`), if any:
    /// check it before resetting the record.
    pub refused_key: Option<String>,
    /// When that key was refused.
    pub refused_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<SshHostKey> for SshHostKeyView {
    fn from(k: SshHostKey) -> Self {
        Self {
            id: k.id,
            host: k.host,
            port: k.port,
            algorithm: k.algorithm,
            fingerprint: k.fingerprint,
            first_seen_at: k.first_seen_at,
            first_seen_by: k.first_seen_by,
            last_seen_at: k.last_seen_at,
            refused_key: k
                .refused_algorithm
                .zip(k.refused_fingerprint)
                .map(|(a, f)| format!("{a} {f}")),
            refused_at: k.refused_at,
        }
    }
}

/// SSH host keys recorded on first use, by host and port.
#[utoipa::path(get, path = "/api/v1/ssh-host-keys", tag = "fleet",
    responses((status = 200, body = Vec<SshHostKeyView>),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_ssh_host_keys(State(state): State<ApiState>) -> ApiResult {
    let keys: Vec<SshHostKeyView> = state
        .api
        .store()
        .list_host_keys()
        .await?
        .into_iter()
        .map(SshHostKeyView::from)
        .collect();
    Ok(json_response(StatusCode::OK, keys))
}

/// Forgets a recorded host key (after a legitimate key change): the next key presented
/// for its host and port is trusted on first use.
#[utoipa::path(delete, path = "/api/v1/ssh-host-keys/{id}", tag = "fleet",
    params(("id" = String, Path, description = "Host key record id")),
    responses((status = 204, description = "Forgotten"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_ssh_host_key(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult {
    let id: uuid::Uuid = path_id("ssh host key", &id)?;
    state.api.store().delete_host_key(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
