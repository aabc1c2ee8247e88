//! The libraries as the Job Builder reads them: commands, parsers and target sources, a
//! command's rendered preview, a parser run on sample text, what a target selection comes
//! to — and job templates (save, list, load, import and export as files).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_DISPOSITION;
use axum::response::{IntoResponse, Response};
use opsconductor_core::model::JobSpec;
use opsconductor_core::targets::TargetSpec;
use opsconductor_store::JobTemplate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::extract::{JsonBody, QueryParams};
use super::{ApiState, Problem, json_response, path_id};
use crate::api::TargetPreview;
use crate::error::ControllerError;

type ApiResult = Result<Response, ControllerError>;

fn entries<T: Serialize>(items: impl Iterator<Item = T>) -> Vec<Value> {
    items
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect()
}

/// Every command (id, kind, params schema, defaults, template, criteria, UI hints).
#[utoipa::path(get, path = "/api/v1/library/commands", tag = "library",
    responses((status = 200, body = Vec<Object>)))]
pub async fn list_commands(State(state): State<ApiState>) -> Response {
    let library = state.api.library();
    json_response(StatusCode::OK, entries(library.commands().map(|c| &c.def)))
}

/// One command.
#[utoipa::path(get, path = "/api/v1/library/commands/{id}", tag = "library",
    params(("id" = String, Path, description = "Command id (`ping.icmp`)")),
    responses((status = 200, body = Object),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_command(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let library = state.api.library();
    let command = library
        .command(&id)
        .ok_or_else(|| ControllerError::NotFound(format!("command {id:?}")))?;
    Ok(json_response(StatusCode::OK, &command.def))
}

/// Every parser.
#[utoipa::path(get, path = "/api/v1/library/parsers", tag = "library",
    responses((status = 200, body = Vec<Object>)))]
pub async fn list_parsers(State(state): State<ApiState>) -> Response {
    let library = state.api.library();
    json_response(StatusCode::OK, entries(library.parsers().map(|p| &p.def)))
}

/// Every target source.
#[utoipa::path(get, path = "/api/v1/library/target-sources", tag = "library",
    responses((status = 200, body = Vec<Object>)))]
pub async fn list_target_sources(State(state): State<ApiState>) -> Response {
    let library = state.api.library();
    json_response(
        StatusCode::OK,
        entries(library.target_sources().map(|t| &t.def)),
    )
}

/// A user-defined library entry.
#[derive(Serialize, ToSchema)]
pub struct UserEntry {
    /// `commands`, `parsers` or `target_sources`.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// The entry as written (same format as in the library files).
    #[schema(value_type = Object)]
    pub entry: Value,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The library entries users added (the shipped ones are in the lists above).
#[utoipa::path(get, path = "/api/v1/library/user-entries", tag = "library",
    responses((status = 200, body = Vec<UserEntry>)))]
pub async fn list_user_entries(State(state): State<ApiState>) -> ApiResult {
    let entries: Vec<UserEntry> = state
        .api
        .store()
        .library_entries()
        .await?
        .into_iter()
        .map(|e| UserEntry {
            kind: e.kind,
            id: e.id,
            entry: e.document,
            updated_at: e.updated_at,
        })
        .collect();
    Ok(json_response(StatusCode::OK, entries))
}

/// Adds or replaces a user entry. It is compiled with every other entry first — the
/// shipped files' validation, their ids cannot be taken — and its problems name the field
/// inside the entry.
#[utoipa::path(put, path = "/api/v1/library/user-entries/{kind}/{id}", tag = "library",
    params(("kind" = String, Path, description = "commands, parsers or target_sources"),
        ("id" = String, Path, description = "The entry's id (same as in the body)")),
    request_body(content = Object, description = "The entry, as in a library file"),
    responses((status = 200, body = UserEntry),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn put_user_entry(
    State(state): State<ApiState>,
    Path((kind, id)): Path<(String, String)>,
    JsonBody(entry): JsonBody<Value>,
) -> ApiResult {
    if !entry.is_object() {
        return Err(ControllerError::field(
            "",
            "a library entry is a JSON object",
        ));
    }
    if entry.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(ControllerError::field(
            "id",
            format!("must be {id:?}, the id in the path"),
        ));
    }
    let store = state.api.store();
    state
        .api
        .catalog()
        .put_entry(&**store, &kind, entry.clone())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        UserEntry {
            kind,
            id,
            entry,
            updated_at: chrono::Utc::now(),
        },
    ))
}

/// Removes a user entry (409 while a job or another entry uses it).
#[utoipa::path(delete, path = "/api/v1/library/user-entries/{kind}/{id}", tag = "library",
    params(("kind" = String, Path, description = "commands, parsers or target_sources"),
        ("id" = String, Path, description = "The entry's id")),
    responses((status = 204, description = "Removed"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_user_entry(
    State(state): State<ApiState>,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult {
    let store = state.api.store();
    state
        .api
        .catalog()
        .delete_entry(&**store, &kind, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A command preview request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Command id.
    #[schema(min_length = 1)]
    pub command: String,
    /// Params (missing ones take the command's defaults).
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Render for this target (default: a `{{ target }}` placeholder).
    #[serde(default)]
    pub target: Option<String>,
}

/// A rendered command.
#[derive(Serialize, ToSchema)]
pub struct PreviewResponse {
    /// Command id.
    pub command: String,
    /// Action kind (ping, snmp_get, ssh_command, http, tcp, ...).
    pub kind: String,
    /// Params with defaults filled in.
    pub params: Map<String, Value>,
    /// The rendered command; secret params masked.
    pub text: String,
    /// True when the text was cut.
    pub truncated: bool,
}

/// Renders a command with params (defaults filled in, secrets masked); params that break
/// the command's schema answer 422 with their fields.
#[utoipa::path(post, path = "/api/v1/library/preview", tag = "library",
    request_body = PreviewRequest,
    responses((status = 200, body = PreviewResponse),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn preview_command(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<PreviewRequest>,
) -> ApiResult {
    let preview = state.api.preview_command_for(
        &request.command,
        &request.params,
        request.target.as_deref(),
    )?;
    Ok(json_response(StatusCode::OK, preview))
}

/// A parser test: a library parser by id, or a definition being written.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParserTestRequest {
    /// Library parser id.
    #[serde(default)]
    pub parser: Option<String>,
    /// An inline parser definition (same format as the parser library).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    /// Sample output (at most 1 MiB).
    pub sample: String,
}

/// Runs a parser on sample text: fields, rows and errors.
#[utoipa::path(post, path = "/api/v1/library/parsers/test", tag = "library",
    request_body = ParserTestRequest,
    responses((status = 200, body = opsconductor_core::parse::ParsedOutput),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn test_parser(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<ParserTestRequest>,
) -> ApiResult {
    let output = state.api.test_parser(
        request.parser.as_deref(),
        request.definition.as_ref(),
        &request.sample,
    )?;
    Ok(json_response(StatusCode::OK, output))
}

/// A dry run: one action on one target.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// The action, as in a job.
    pub action: opsconductor_core::model::ActionSpec,
    /// One address or hostname.
    #[schema(min_length = 1, max_length = 253)]
    pub target: String,
    /// Run it in this segment (default: routed by address).
    #[serde(default)]
    pub segment: Option<String>,
    /// Seconds to wait for the result (default 30, at most 120).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 120)]
    pub timeout_seconds: Option<u64>,
}

/// Runs one action on one target through an agent of the target's segment and returns
/// the raw output, parsed fields and verdict (503 when no agent of that segment is online
/// or none answered in time).
#[utoipa::path(post, path = "/api/v1/library/dry-run", tag = "library",
    request_body = DryRunRequest,
    responses((status = 200, body = crate::api::DryRunOutcome),
        (status = "4XX", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn dry_run(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<DryRunRequest>,
) -> ApiResult {
    let seconds = request.timeout_seconds.unwrap_or(30);
    if !(1..=crate::api::MAX_DRY_RUN_WAIT.as_secs()).contains(&seconds) {
        return Err(ControllerError::field(
            "timeout_seconds",
            format!(
                "must be between 1 and {}",
                crate::api::MAX_DRY_RUN_WAIT.as_secs()
            ),
        ));
    }
    let outcome = state
        .api
        .dry_run(
            request.action,
            &request.target,
            request.segment,
            std::time::Duration::from_secs(seconds),
        )
        .await?;
    Ok(json_response(StatusCode::OK, outcome))
}

/// A target preview request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetPreviewRequest {
    /// The selection.
    pub targets: TargetSpec,
    /// Send everything to this segment instead of routing by address.
    #[serde(default)]
    pub segment: Option<String>,
    /// Targets to list (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// What a selection comes to: count, first targets, split by segment, invalid file lines.
#[utoipa::path(post, path = "/api/v1/targets/preview", tag = "library",
    request_body = TargetPreviewRequest,
    responses((status = 200, body = TargetPreview),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn preview_targets(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<TargetPreviewRequest>,
) -> ApiResult {
    let limit = request.limit.unwrap_or(100);
    if limit > 1000 {
        return Err(ControllerError::field("limit", "must be at most 1000"));
    }
    let preview = state
        .api
        .preview_targets(&request.targets, request.segment.as_deref(), limit as usize)
        .await?;
    Ok(json_response(StatusCode::OK, preview))
}

/// A template as saved, loaded, imported and exported.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// Unique name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
    /// The job it starts.
    pub spec: JobSpec,
    /// Replace a template of the same name instead of refusing.
    #[serde(default)]
    pub replace: bool,
}

/// A stored template.
#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    /// Stable id.
    pub id: uuid::Uuid,
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The job it starts.
    pub spec: JobSpec,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<JobTemplate> for TemplateView {
    fn from(t: JobTemplate) -> Self {
        Self {
            id: t.id,
            name: t.name,
            description: t.description,
            spec: t.spec,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A template file.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    /// The file format.
    pub format: TemplateFormat,
    /// Name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
    /// The job.
    pub spec: JobSpec,
}

/// The format tag of template files; a file of another format is refused.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
pub enum TemplateFormat {
    /// Version 1.
    #[serde(rename = "opsconductor.template/v1")]
    V1,
}

/// Template list paging.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateListParams {
    /// Name of the last template of the previous page.
    after: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Templates by name.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(TemplateListParams),
    responses((status = 200, body = Vec<TemplateView>),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_templates(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<TemplateListParams>,
) -> ApiResult {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ControllerError::field(
            "limit",
            "must be between 1 and 1000",
        ));
    }
    let templates = state
        .api
        .store()
        .list_templates(p.after.as_deref(), limit)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        templates
            .into_iter()
            .map(TemplateView::from)
            .collect::<Vec<_>>(),
    ))
}

async fn save(
    state: &ApiState,
    name: &str,
    description: &str,
    spec: &JobSpec,
    replace: bool,
) -> ApiResult {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ControllerError::field("name", "must be 1-200 characters"));
    }
    if description.chars().count() > 4000 {
        return Err(ControllerError::field(
            "description",
            "must be at most 4000 characters",
        ));
    }
    spec.validate(&state.api.library())
        .map_err(|e| ControllerError::Invalid(e.prefixed("spec")))?;
    let template = state
        .api
        .store()
        .save_template(name, description, spec, replace)
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        TemplateView::from(template),
    ))
}

/// Saves a job definition as a template (validated like a job).
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates",
    request_body = TemplateRequest,
    responses((status = 201, body = TemplateView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn save_template(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<TemplateRequest>,
) -> ApiResult {
    save(
        &state,
        &request.name,
        &request.description,
        &request.spec,
        request.replace,
    )
    .await
}

/// Imports a template file (as exported); a template of the same name is replaced.
#[utoipa::path(post, path = "/api/v1/templates/import", tag = "templates",
    request_body = TemplateFile,
    responses((status = 201, body = TemplateView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn import_template(
    State(state): State<ApiState>,
    JsonBody(file): JsonBody<TemplateFile>,
) -> ApiResult {
    save(&state, &file.name, &file.description, &file.spec, true).await
}

/// One template.
#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TemplateView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_template(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let template = state
        .api
        .store()
        .get_template(path_id("template", &id)?)
        .await?;
    Ok(json_response(StatusCode::OK, TemplateView::from(template)))
}

/// Deletes a template.
#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_template(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    state
        .api
        .store()
        .delete_template(path_id("template", &id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A template as a file to download (and import elsewhere).
#[utoipa::path(get, path = "/api/v1/templates/{id}/export", tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TemplateFile),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn export_template(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let template = state
        .api
        .store()
        .get_template(path_id("template", &id)?)
        .await?;
    let file_name: String = template
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut response = json_response(
        StatusCode::OK,
        TemplateFile {
            format: TemplateFormat::V1,
            name: template.name,
            description: template.description,
            spec: template.spec,
        },
    );
    if let Ok(value) = format!("attachment; filename=\"{file_name}.json\"").parse() {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
