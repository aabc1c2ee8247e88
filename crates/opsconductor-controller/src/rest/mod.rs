//! The REST API under `/api/v1`, documented by the OpenAPI 3.1 document it generates
//! (`/api/openapi.json`, browsable at `/api/docs` from the binary, no CDN).
//!
//! Handlers are thin: they read the request with the [`extract`] extractors (errors name
//! the field) and call [`crate::api::Api`], which gRPC calls too. Every error is
//! `application/problem+json` (RFC 9457) with a list of field errors where there are
//! some; [`extract::problem_responses`] makes sure of it for the errors axum itself
//! answers. Versioned resources carry an `ETag`; `If-Match` makes an update or delete
//! conditional (412 when someone else changed it first).
//!
//! - [`jobs`]: jobs, runs, results, exports and time series.
//! - [`library`]: the libraries, command preview, parser test, target preview, templates.
//! - [`admin`]: segments, agents, enrollment tokens, settings, health.
//! - [`credentials`]: the credential vault (write-only secrets).
//! - [`inventory`]: scans, devices (import / export, bulk tags) and device groups.
//! - [`accounts`]: login, refresh, logout, password, sessions, API tokens, users, audit.
//! - [`access`]: the door every routed request passes: authentication, the role check
//!   of [`crate::auth::policy`], and the audit log entry of each change.
//! - [`request_id`]: every request's tracing span and `x-request-id`.
//!
//! Every route but health, login and refresh needs `Authorization: Bearer <token>`: 401
//! without a valid one, 403 when the caller's role is too small.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod credentials;
pub mod extract;
pub mod inventory;
pub mod jobs;
pub mod library;
pub mod request_id;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{Job, ResultRecord, Run};
use serde::Serialize;
use tower::ServiceExt as _;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::api::Api;
use crate::error::ControllerError;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The client API.
    pub api: Api,
    /// Authentication and accounts.
    pub auth: crate::auth::Auth,
    /// What `GET /metrics` renders (`None`: no recorder installed, 404).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// What answers paths outside `/api/` that no route owns: the web UI (`None`: 404).
    pub ui: Option<Router>,
}

/// The REST router with the OpenAPI document and docs page, mounted at the root.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/v1/auth/login", post(accounts::login))
        .route("/api/v1/auth/refresh", post(accounts::refresh))
        .route("/api/v1/auth/logout", post(accounts::logout))
        .route("/api/v1/auth/me", get(accounts::me))
        .route("/api/v1/auth/password", post(accounts::change_password))
        .route("/api/v1/auth/sessions", get(accounts::list_sessions))
        .route(
            "/api/v1/auth/sessions/{id}",
            axum::routing::delete(accounts::end_session),
        )
        .route(
            "/api/v1/api-tokens",
            get(accounts::list_api_tokens).post(accounts::create_api_token),
        )
        .route(
            "/api/v1/api-tokens/{id}",
            axum::routing::delete(accounts::revoke_api_token),
        )
        .route(
            "/api/v1/users",
            get(accounts::list_users).post(accounts::create_user),
        )
        .route(
            "/api/v1/users/{id}",
            get(accounts::get_user)
                .put(accounts::update_user)
                .delete(accounts::delete_user),
        )
        .route("/api/v1/audit", get(accounts::list_audit))
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .route("/metrics", get(admin::metrics))
        .route("/api/v1/jobs", get(jobs::list_jobs).post(jobs::create_job))
        .route("/api/v1/jobs/validate", post(jobs::validate_job))
        .route("/api/v1/jobs/bulk", post(jobs::bulk_jobs))
        .route(
            "/api/v1/jobs/{id}",
            get(jobs::get_job)
                .put(jobs::update_job)
                .delete(jobs::delete_job),
        )
        .route("/api/v1/jobs/{id}/clone", post(jobs::clone_job))
        .route("/api/v1/jobs/{id}/enable", post(jobs::enable_job))
        .route("/api/v1/jobs/{id}/disable", post(jobs::disable_job))
        .route("/api/v1/jobs/{id}/runs", post(jobs::run_job))
        .route("/api/v1/jobs/{id}/series", get(jobs::job_series))
        .route("/api/v1/runs", get(jobs::list_runs))
        .route("/api/v1/runs/{id}", get(jobs::get_run))
        .route("/api/v1/runs/{id}/cancel", post(jobs::cancel_run))
        .route("/api/v1/results", get(jobs::query_results))
        .route("/api/v1/results/export", get(jobs::export_results))
        .route("/api/v1/library/commands", get(library::list_commands))
        .route("/api/v1/library/commands/{id}", get(library::get_command))
        .route("/api/v1/library/parsers", get(library::list_parsers))
        .route(
            "/api/v1/library/target-sources",
            get(library::list_target_sources),
        )
        .route("/api/v1/library/preview", post(library::preview_command))
        .route("/api/v1/library/parsers/test", post(library::test_parser))
        .route("/api/v1/library/dry-run", post(library::dry_run))
        .route(
            "/api/v1/library/user-entries",
            get(library::list_user_entries),
        )
        .route(
            "/api/v1/library/user-entries/{kind}/{id}",
            axum::routing::put(library::put_user_entry).delete(library::delete_user_entry),
        )
        .route("/api/v1/targets/preview", post(library::preview_targets))
        .route(
            "/api/v1/templates",
            get(library::list_templates).post(library::save_template),
        )
        .route("/api/v1/templates/import", post(library::import_template))
        .route(
            "/api/v1/templates/{id}",
            get(library::get_template).delete(library::delete_template),
        )
        .route(
            "/api/v1/templates/{id}/export",
            get(library::export_template),
        )
        .route("/api/v1/segments", get(admin::list_segments))
        .route(
            "/api/v1/segments/{name}",
            get(admin::get_segment)
                .put(admin::put_segment)
                .delete(admin::delete_segment),
        )
        .route("/api/v1/agents", get(admin::list_agents))
        .route("/api/v1/agents/{id}", get(admin::get_agent))
        .route("/api/v1/agents/{id}/revoke", post(admin::revoke_agent))
        .route(
            "/api/v1/enrollment-tokens",
            post(admin::create_enrollment_token),
        )
        .route(
            "/api/v1/settings",
            get(admin::get_settings).put(admin::put_settings),
        )
        .route("/api/v1/ssh-host-keys", get(admin::list_ssh_host_keys))
        .route(
            "/api/v1/ssh-host-keys/{id}",
            axum::routing::delete(admin::delete_ssh_host_key),
        )
        .route(
            "/api/v1/credentials",
            get(credentials::list_credentials).post(credentials::create_credential),
        )
        .route(
            "/api/v1/credentials/{id}",
            get(credentials::get_credential)
                .put(credentials::update_credential)
                .delete(credentials::delete_credential),
        )
        .route(
            "/api/v1/scans",
            get(inventory::list_scans).post(inventory::start_scan),
        )
        .route("/api/v1/scans/{id}", get(inventory::get_scan))
        .route("/api/v1/scans/{id}/cancel", post(inventory::cancel_scan))
        .route("/api/v1/scans/{id}/diff", get(inventory::scan_diff))
        .route("/api/v1/devices", get(inventory::list_devices))
        .route("/api/v1/devices/bulk", post(inventory::bulk_devices))
        .route("/api/v1/devices/import", post(inventory::import_devices))
        .route("/api/v1/devices/export", get(inventory::export_devices))
        .route(
            "/api/v1/devices/{address}",
            get(inventory::get_device)
                .patch(inventory::update_device)
                .delete(inventory::delete_device),
        )
        .route(
            "/api/v1/groups",
            get(inventory::list_groups).post(inventory::create_group),
        )
        .route("/api/v1/groups/preview", post(inventory::preview_group))
        .route(
            "/api/v1/groups/{name}",
            get(inventory::get_group)
                .put(inventory::update_group)
                .delete(inventory::delete_group),
        )
        .route(
            "/api/v1/groups/{name}/members",
            get(inventory::group_members),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        .route_layer(axum::middleware::from_fn(crate::metrics::track_http))
        .fallback(fallback)
        .with_state(state);
    api.merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi()))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(extract::problem_responses))
        .layer(axum::middleware::from_fn(request_id::with_request_id))
}

/// Unknown paths under `/api/` are a problem document; any other path goes to the web UI
/// (its client-side routes included), public like the login page it shows.
async fn fallback(State(state): State<ApiState>, request: axum::extract::Request) -> Response {
    match state.ui {
        Some(ui) if !request.uri().path().starts_with("/api/") => match ui.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        _ => ControllerError::NotFound("route".to_owned()).into_response(),
    }
}

/// The OpenAPI document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OpsConductor API",
        description = "Jobs, runs, results, libraries and fleet of an OpsConductor controller. \
            Errors are application/problem+json with a list of field errors. Live progress: \
            the WebSocket at /api/v1/ws.",
        version = "1"
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        accounts::login,
        accounts::refresh,
        accounts::logout,
        accounts::me,
        accounts::change_password,
        accounts::list_sessions,
        accounts::end_session,
        accounts::list_api_tokens,
        accounts::create_api_token,
        accounts::revoke_api_token,
        accounts::list_users,
        accounts::create_user,
        accounts::get_user,
        accounts::update_user,
        accounts::delete_user,
        accounts::list_audit,
        admin::healthz,
        admin::readyz,
        admin::metrics,
        jobs::list_jobs,
        jobs::create_job,
        jobs::validate_job,
        jobs::bulk_jobs,
        jobs::get_job,
        jobs::update_job,
        jobs::delete_job,
        jobs::clone_job,
        jobs::enable_job,
        jobs::disable_job,
        jobs::run_job,
        jobs::job_series,
        jobs::list_runs,
        jobs::get_run,
        jobs::cancel_run,
        jobs::query_results,
        jobs::export_results,
        library::list_commands,
        library::get_command,
        library::list_parsers,
        library::list_target_sources,
        library::preview_command,
        library::test_parser,
        library::dry_run,
        library::list_user_entries,
        library::put_user_entry,
        library::delete_user_entry,
        library::preview_targets,
        library::list_templates,
        library::save_template,
        library::import_template,
        library::get_template,
        library::delete_template,
        library::export_template,
        admin::list_segments,
        admin::get_segment,
        admin::put_segment,
        admin::delete_segment,
        admin::list_agents,
        admin::get_agent,
        admin::revoke_agent,
        admin::create_enrollment_token,
        admin::get_settings,
        admin::put_settings,
        admin::list_ssh_host_keys,
        admin::delete_ssh_host_key,
        credentials::list_credentials,
        credentials::create_credential,
        credentials::get_credential,
        credentials::update_credential,
        credentials::delete_credential,
        inventory::start_scan,
        inventory::list_scans,
        inventory::get_scan,
        inventory::cancel_scan,
        inventory::scan_diff,
        inventory::list_devices,
        inventory::bulk_devices,
        inventory::import_devices,
        inventory::export_devices,
        inventory::get_device,
        inventory::update_device,
        inventory::delete_device,
        inventory::list_groups,
        inventory::create_group,
        inventory::preview_group,
        inventory::get_group,
        inventory::update_group,
        inventory::delete_group,
        inventory::group_members,
    ),
    components(schemas(Problem, FieldProblem, jobs::ExportFormat, inventory::InventoryFormat))
)]
struct ApiDoc;

/// Declares the bearer scheme every operation but health, login and refresh uses, and
/// documents on each such operation the two refusals the door in [`access`] answers
/// before any handler runs: 401 (no valid token) and 403 (role too small).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or oct_ API token")
                    .description(Some(
                        "An access token from /api/v1/auth/login, or an API token.",
                    ))
                    .build(),
            ),
        );
        use crate::auth::policy::{Access, rest_access};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let refusal = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                (axum::http::Method::GET, &mut item.get),
                (axum::http::Method::PUT, &mut item.put),
                (axum::http::Method::POST, &mut item.post),
                (axum::http::Method::DELETE, &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                if rest_access(&method, path) == Access::Public {
                    continue;
                }
                let responses = &mut operation.responses.responses;
                responses.insert(
                    "401".to_owned(),
                    refusal("No valid token (missing, expired, revoked or not ours)").into(),
                );
                responses.insert(
                    "403".to_owned(),
                    refusal("The caller's role does not allow this").into(),
                );
            }
        }
    }
}

/// An error (RFC 9457 problem details).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status' reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, in words.
    pub detail: String,
    /// One entry per field that broke a rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
}

/// One field's problem.
#[derive(Serialize, ToSchema)]
pub struct FieldProblem {
    /// Path of the field (`actions[0].params.count`); empty for the whole body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A stored job. Same fields as a job spec plus identity and version; the `ETag` header
/// carries the version for `If-Match`.
#[derive(Serialize, ToSchema)]
pub struct JobView {
    /// Stable id.
    pub id: JobId,
    /// Increments on every change.
    pub version: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Labels.
    pub tags: Vec<String>,
    /// Disabled jobs never fire by themselves.
    pub enabled: bool,
    /// When it fires.
    pub schedule: opsconductor_core::model::Schedule,
    /// What it runs against.
    pub targets: opsconductor_core::targets::TargetSpec,
    /// What it runs.
    pub actions: Vec<opsconductor_core::model::ActionSpec>,
    /// How it runs.
    pub options: opsconductor_core::model::JobOptions,
    /// Creation time.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<Job> for JobView {
    fn from(job: Job) -> Self {
        let s = job.spec;
        Self {
            id: job.id,
            version: job.version,
            name: s.name,
            description: s.description,
            tags: s.tags,
            enabled: s.enabled,
            schedule: s.schedule,
            targets: s.targets,
            actions: s.actions,
            options: s.options,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

/// A result with its job and run time.
#[derive(Serialize, ToSchema)]
pub struct ResultView {
    /// The result.
    #[serde(flatten)]
    pub result: ResultRecord,
    /// The job of its run.
    pub job_id: JobId,
    /// When its run was created.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub run_created_at: DateTime<Utc>,
}

impl From<opsconductor_store::StoredResult> for ResultView {
    fn from(r: opsconductor_store::StoredResult) -> Self {
        Self {
            result: r.record,
            job_id: r.job_id,
            run_created_at: r.run_created_at,
        }
    }
}

/// Counts by key (targets per segment).
pub type Counts = BTreeMap<String, u64>;

/// A run id in a path.
pub(crate) fn run_id(text: &str) -> Result<RunId, ControllerError> {
    path_id("run", text)
}

/// A job id in a path.
pub(crate) fn job_id(text: &str) -> Result<JobId, ControllerError> {
    path_id("job", text)
}

/// An id in a path; one that does not parse names nothing that exists.
pub(crate) fn path_id<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, ControllerError> {
    text.parse()
        .map_err(|_| ControllerError::NotFound(format!("{what} {text:?}")))
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: impl Serialize) -> Response {
    match serde_json::to_string(&value) {
        Ok(body) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ControllerError::Internal(format!("encoding response: {e}")).into_response(),
    }
}

/// A run in a response (the core type, documented).
pub type RunView = Run;
