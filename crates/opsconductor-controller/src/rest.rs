//! The REST surface of this stage: enough to define segments, enroll agents, create a job,
//! run it, watch and cancel the run. The full API (OpenAPI, auth, the rest of the
//! resources) is built on the same handlers and errors.
//!
//! Every error is `application/problem+json`; a body that does not parse names the field
//! (`actions[0].params: invalid type …`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{JobSpec, RunTrigger, Segment};
use opsconductor_store::PgStore;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::dispatch::Dispatcher;
use crate::error::ControllerError;
use crate::session::SessionHub;

/// Longest enrollment token life an admin may ask for.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The store.
    pub store: PgStore,
    /// Starts runs.
    pub dispatcher: Dispatcher,
    /// Open agent sessions (for cancellations).
    pub hub: Arc<SessionHub>,
}

/// The router, mounted at the root.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/jobs", post(create_job))
        .route("/api/v1/jobs/{id}", get(get_job))
        .route("/api/v1/jobs/{id}/runs", post(run_job))
        .route("/api/v1/runs/{id}", get(get_run))
        .route("/api/v1/runs/{id}/cancel", post(cancel_run))
        .route("/api/v1/segments", get(list_segments))
        .route("/api/v1/segments/{name}", put(put_segment))
        .route("/api/v1/enrollment-tokens", post(create_enrollment_token))
        .route("/api/v1/agents", get(list_agents))
        .fallback(|| async { ControllerError::NotFound("route".to_owned()) })
        .with_state(state)
}

type ApiResult = Result<Response, ControllerError>;

/// Parses a JSON body, naming the field that does not fit.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ControllerError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        ControllerError::field(&field, e.inner().to_string())
    })
}

fn parse_path_id<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, ControllerError> {
    text.parse()
        .map_err(|_| ControllerError::NotFound(format!("{what} {text:?}")))
}

fn json_response(status: StatusCode, value: impl serde::Serialize) -> ApiResult {
    let body = serde_json::to_string(&value)
        .map_err(|e| ControllerError::Internal(format!("encoding response: {e}")))?;
    Ok((
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

async fn create_job(State(state): State<ApiState>, body: Bytes) -> ApiResult {
    let spec: JobSpec = parse_body(&body)?;
    spec.validate(state.dispatcher.library())?;
    let job = state.store.create_job(&spec).await?;
    json_response(StatusCode::CREATED, job)
}

async fn get_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id: JobId = parse_path_id("job", &id)?;
    json_response(StatusCode::OK, state.store.get_job(id).await?)
}

async fn run_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id: JobId = parse_path_id("job", &id)?;
    let run = state.dispatcher.start_run(id, RunTrigger::Manual).await?;
    json_response(StatusCode::ACCEPTED, run)
}

async fn get_run(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let id: RunId = parse_path_id("run", &id)?;
    json_response(StatusCode::OK, state.store.get_run(id).await?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn cancel_run(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id: RunId = parse_path_id("run", &id)?;
    let body: CancelBody = if body.is_empty() {
        CancelBody::default()
    } else {
        parse_body(&body)?
    };
    let reason = body
        .reason
        .unwrap_or_else(|| "cancelled by a user".to_owned());
    state.store.cancel_run(id, &reason).await?;
    state.hub.cancel_run(id, &reason);
    json_response(StatusCode::OK, state.store.get_run(id).await?)
}

async fn list_segments(State(state): State<ApiState>) -> ApiResult {
    json_response(StatusCode::OK, state.store.list_segments().await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    cidrs: Vec<ipnet::IpNet>,
}

async fn put_segment(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body: SegmentBody = parse_body(&body)?;
    let segment = Segment::new(name, body.cidrs)?;
    state.store.upsert_segment(&segment).await?;
    json_response(StatusCode::OK, segment)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    segment: String,
    #[serde(default = "default_token_ttl_seconds")]
    ttl_seconds: u64,
}

fn default_token_ttl_seconds() -> u64 {
    24 * 3600
}

async fn create_enrollment_token(State(state): State<ApiState>, body: Bytes) -> ApiResult {
    let body: TokenBody = parse_body(&body)?;
    let ttl = Duration::from_secs(body.ttl_seconds);
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(ControllerError::field(
            "ttl_seconds",
            format!("must be between 1 and {}", MAX_TOKEN_TTL.as_secs()),
        ));
    }
    let token = state
        .store
        .create_enrollment_token(&body.segment, ttl)
        .await?;
    json_response(
        StatusCode::CREATED,
        json!({"token": token, "segment": body.segment, "ttl_seconds": body.ttl_seconds}),
    )
}

async fn list_agents(State(state): State<ApiState>) -> ApiResult {
    let agents: Vec<_> = state
        .store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id, "name": a.name, "segment": a.segment, "version": a.version,
                "capabilities": a.capabilities, "registered_at": a.registered_at,
                "last_seen_at": a.last_seen_at, "online": a.online, "heartbeat": a.heartbeat,
            })
        })
        .collect();
    json_response(StatusCode::OK, agents)
}
