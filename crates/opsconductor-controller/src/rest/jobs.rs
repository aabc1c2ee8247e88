//! Jobs, runs and results: CRUD with ETags, bulk changes, run now / cancel, result
//! queries with cursors, CSV / JSON exports and per-job time series.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{JobSpec, ResultStatus, Run, RunStatus};
use opsconductor_core::timestamp::Rfc3339;
use opsconductor_store::{ListedJob, SeriesPoint, SeriesQuery};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::extract::{JsonBody, OptionalJsonBody, QueryParams, etag, if_match_version};
use super::{ApiState, JobView, Problem, ResultView, job_id, json_response, run_id};
use crate::api::{JobQuery, Page, ResultQuery, RunDetail, RunQuery};
use crate::error::ControllerError;

type ApiResult = Result<Response, ControllerError>;

/// Most rows one export writes; narrow the range for more.
pub const MAX_EXPORT_ROWS: u64 = 1_000_000;
/// Rows fetched per page while exporting.
const EXPORT_PAGE: u32 = 1000;
/// Most ids in one bulk request.
pub const MAX_BULK_IDS: usize = 1000;

fn job_response(status: StatusCode, job: opsconductor_core::model::Job) -> Response {
    let tag = etag(job.version);
    let mut response = json_response(status, JobView::from(job));
    response.headers_mut().insert(ETAG, tag);
    response
}

/// A job in a list, with its newest run and next fire time.
#[derive(Serialize, ToSchema)]
pub struct JobListEntry {
    /// The job.
    #[serde(flatten)]
    #[schema(value_type = JobView)]
    pub job: ListedJobView,
    /// Its newest run.
    pub last_run: Option<Run>,
    /// When its schedule fires next (absent when disabled or manual).
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize_option")]
    pub next_run_at: Option<DateTime<Utc>>,
}

/// A listed job in the shape of a [`JobView`]: the stored spec's fields are written as
/// they are stored, between the job's identity and its times, without decoding them.
pub struct ListedJobView(pub ListedJob);

impl Serialize for ListedJobView {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap as _};
        let job = &self.0;
        // Top-level keys of a stored spec are its field names: never escaped, so they
        // borrow from the text.
        let spec: Vec<(&str, &RawValue)> =
            serde_json::from_str::<std::collections::BTreeMap<&str, &RawValue>>(job.spec.get())
                .map_err(|e| S::Error::custom(format!("stored spec of job {}: {e}", job.id)))?
                .into_iter()
                .collect();
        let mut map = serializer.serialize_map(Some(spec.len() + 4))?;
        map.serialize_entry("id", &job.id)?;
        map.serialize_entry("version", &job.version)?;
        for (key, value) in spec {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("created_at", &Rfc3339(job.created_at))?;
        map.serialize_entry("updated_at", &Rfc3339(job.updated_at))?;
        map.end()
    }
}

/// A page of jobs.
#[derive(Serialize, ToSchema)]
pub struct JobPage {
    /// Jobs by name.
    pub items: Vec<JobListEntry>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// Job list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobListParams {
    /// Case-insensitive text in the name or description.
    text: Option<String>,
    /// Only jobs with this tag.
    tag: Option<String>,
    /// Only enabled (true) or disabled (false) jobs.
    enabled: Option<bool>,
}

/// Where a page starts and how long it is: the same two parameters on every listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Lists jobs by name with their latest run.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobListParams, PageParams),
    responses((status = 200, body = JobPage),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_jobs(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<JobListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult {
    let page = state
        .api
        .list_jobs(JobQuery {
            text: p.text,
            tag: p.tag,
            enabled: p.enabled,
            cursor: page.cursor,
            limit: page.limit,
        })
        .await?;
    let now = Utc::now();
    // Jobs share a handful of schedules and parsing a cron expression dominates the cost
    // of a page (profiled), so each distinct schedule's next fire is computed once.
    let mut next_fires: Vec<(opsconductor_core::model::Schedule, Option<DateTime<Utc>>)> =
        Vec::new();
    let items = page
        .items
        .into_iter()
        .map(|item| {
            let schedule = &item.job.schedule;
            let next_run_at = if item.job.enabled {
                match next_fires.iter().find(|(s, _)| s == schedule) {
                    Some((_, next)) => *next,
                    None => {
                        let next = schedule.next_after(now);
                        next_fires.push((schedule.clone(), next));
                        next
                    }
                }
            } else {
                None
            };
            JobListEntry {
                job: ListedJobView(item.job),
                last_run: item.last_run,
                next_run_at,
            }
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        JobPage {
            items,
            next_cursor: page.next_cursor,
        },
    ))
}

/// Creates a job, validated against the libraries.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", request_body = JobSpec,
    responses((status = 201, body = JobView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_job(
    State(state): State<ApiState>,
    JsonBody(spec): JsonBody<JobSpec>,
) -> ApiResult {
    let job = state.api.create_job(spec).await?;
    Ok(job_response(StatusCode::CREATED, job))
}

/// The outcome of a validation.
#[derive(Serialize, ToSchema)]
pub struct Validated {
    /// Always true: an invalid job answers 422 with its problems.
    pub valid: bool,
}

/// Checks a job without saving it (the Job Builder's live validation).
#[utoipa::path(post, path = "/api/v1/jobs/validate", tag = "jobs", request_body = JobSpec,
    responses((status = 200, body = Validated),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn validate_job(
    State(state): State<ApiState>,
    JsonBody(spec): JsonBody<JobSpec>,
) -> ApiResult {
    state.api.validate_job(&spec).await?;
    Ok(json_response(StatusCode::OK, Validated { valid: true }))
}

/// A change to many jobs at once.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// What to do.
    pub action: BulkAction,
    /// The jobs (at most 1000).
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Vec<JobId>,
}

/// A bulk action.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Let them fire.
    Enable,
    /// Stop them firing.
    Disable,
    /// Delete them with their history.
    Delete,
}

/// What a bulk action changed.
#[derive(Serialize, ToSchema)]
pub struct BulkOutcome {
    /// The action.
    pub action: BulkAction,
    /// Jobs that changed.
    pub changed: Vec<JobId>,
    /// Jobs left as they were (unknown, or already in that state).
    pub unchanged: Vec<JobId>,
}

/// Enables, disables or deletes many jobs in one transaction.
#[utoipa::path(post, path = "/api/v1/jobs/bulk", tag = "jobs", request_body = BulkRequest,
    responses((status = 200, body = BulkOutcome),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn bulk_jobs(
    State(state): State<ApiState>,
    JsonBody(request): JsonBody<BulkRequest>,
) -> ApiResult {
    if request.ids.is_empty() || request.ids.len() > MAX_BULK_IDS {
        return Err(ControllerError::field(
            "ids",
            format!("give between 1 and {MAX_BULK_IDS} job ids"),
        ));
    }
    let changed = match request.action {
        BulkAction::Enable => state.api.set_jobs_enabled(&request.ids, true).await?,
        BulkAction::Disable => state.api.set_jobs_enabled(&request.ids, false).await?,
        BulkAction::Delete => state.api.delete_jobs(&request.ids).await?,
    };
    let unchanged = request
        .ids
        .iter()
        .filter(|id| !changed.contains(id))
        .copied()
        .collect();
    Ok(json_response(
        StatusCode::OK,
        BulkOutcome {
            action: request.action,
            changed,
            unchanged,
        },
    ))
}

/// One job; the `ETag` header holds its version.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView, headers(("ETag" = String, description = "The version"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let job = state.api.get_job(job_id(&id)?).await?;
    Ok(job_response(StatusCode::OK, job))
}

/// Replaces a job; with `If-Match` only if it is still at that version (412 otherwise).
#[utoipa::path(put, path = "/api/v1/jobs/{id}", tag = "jobs", request_body = JobSpec,
    params(("id" = String, Path, description = "Job id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 200, body = JobView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_job(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<JobSpec>,
) -> ApiResult {
    let id = job_id(&id)?;
    let expected = if_match_version(&headers)?;
    let job = state.api.update_job(id, expected, spec).await?;
    Ok(job_response(StatusCode::OK, job))
}

/// Deletes a job with its runs and results; `If-Match` makes it conditional.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id"),
        ("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_job(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let id = job_id(&id)?;
    let expected = if_match_version(&headers)?;
    state.api.delete_job(id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Options of a clone.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CloneRequest {
    /// Name of the copy (default: "`<name>` (copy)").
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
}

/// Copies a job (disabled, so it does not fire before it is reviewed).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/clone", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    request_body(content = Option<CloneRequest>),
    responses((status = 201, body = JobView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn clone_job(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(request): OptionalJsonBody<CloneRequest>,
) -> ApiResult {
    let job = state.api.clone_job(job_id(&id)?, request.name).await?;
    Ok(job_response(StatusCode::CREATED, job))
}

/// Lets a job fire on its schedule.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/enable", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn enable_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let job = state.api.set_job_enabled(job_id(&id)?, true).await?;
    Ok(job_response(StatusCode::OK, job))
}

/// Stops a job firing (manual runs still work).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/disable", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn disable_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let job = state.api.set_job_enabled(job_id(&id)?, false).await?;
    Ok(job_response(StatusCode::OK, job))
}

/// Runs a job now.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, body = Run),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn run_job(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let run = state.api.run_job(job_id(&id)?).await?;
    Ok(json_response(StatusCode::ACCEPTED, run))
}

/// Series parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// Start (RFC 3339; default: 24 hours before `to`).
    from: Option<DateTime<Utc>>,
    /// End (RFC 3339; default: now).
    to: Option<DateTime<Utc>>,
    /// Bucket width (`30s`, `5m`, `1h`; default 5m).
    step: Option<String>,
    /// A numeric result field to aggregate (`rtt_avg_ms`).
    field: Option<String>,
    /// Only this action of the job.
    action_index: Option<u32>,
}

/// A job's time series.
#[derive(Serialize, ToSchema)]
pub struct Series {
    /// The field aggregated, if any.
    pub field: Option<String>,
    /// Bucket width in seconds.
    pub step_seconds: u64,
    /// Buckets with results, oldest first.
    pub points: Vec<SeriesPointView>,
}

/// One bucket.
#[derive(Serialize, ToSchema)]
pub struct SeriesPointView {
    /// Bucket start.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub at: DateTime<Utc>,
    /// Results in it.
    pub count: i64,
    /// Share that was ok (0-1).
    pub success_rate: f64,
    /// Mean duration (ms).
    pub duration_avg_ms: f64,
    /// 95th percentile duration (ms).
    pub duration_p95_ms: f64,
    /// Mean of the field.
    pub value_avg: Option<f64>,
    /// Minimum of the field.
    pub value_min: Option<f64>,
    /// Maximum of the field.
    pub value_max: Option<f64>,
}

impl From<SeriesPoint> for SeriesPointView {
    fn from(p: SeriesPoint) -> Self {
        Self {
            at: p.at,
            count: p.count,
            success_rate: p.success_rate,
            duration_avg_ms: p.duration_avg_ms,
            duration_p95_ms: p.duration_p95_ms,
            value_avg: p.value_avg,
            value_min: p.value_min,
            value_max: p.value_max,
        }
    }
}

/// Results of a job over time: count, success rate, latency (mean, p95) and a numeric
/// field per bucket — the data of the history charts.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/series", tag = "results",
    params(("id" = String, Path, description = "Job id"), SeriesParams),
    responses((status = 200, body = Series),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn job_series(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    QueryParams(p): QueryParams<SeriesParams>,
) -> ApiResult {
    let id = job_id(&id)?;
    state.api.get_job(id).await?;
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - chrono::Duration::hours(24));
    if to <= from {
        return Err(ControllerError::field("to", "must be after `from`"));
    }
    let step = match p.step.as_deref() {
        None => Duration::from_secs(300),
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| ControllerError::field("step", format!("{e} (write e.g. 30s, 5m, 1h)")))?,
    };
    if step < Duration::from_secs(1) {
        return Err(ControllerError::field("step", "must be at least 1s"));
    }
    let span = (to - from).to_std().unwrap_or_default();
    if span.as_secs_f64() / step.as_secs_f64() > opsconductor_store::MAX_SERIES_POINTS as f64 {
        return Err(ControllerError::field(
            "step",
            format!(
                "the range holds more than {} steps; use a wider step",
                opsconductor_store::MAX_SERIES_POINTS
            ),
        ));
    }
    let points = state
        .api
        .store()
        .job_series(&SeriesQuery {
            job_id: id,
            field: p.field.clone(),
            action_index: p.action_index,
            from,
            to,
            step,
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        Series {
            field: p.field,
            step_seconds: step.as_secs(),
            points: points.into_iter().map(SeriesPointView::from).collect(),
        },
    ))
}

/// Run list filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunListParams {
    /// Only runs of this job.
    job_id: Option<JobId>,
    /// Only runs in this state.
    status: Option<RunStatus>,
}

/// A page of runs.
#[derive(Serialize, ToSchema)]
pub struct RunPage {
    /// Runs, newest first.
    pub items: Vec<Run>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// Lists runs newest first.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunListParams, PageParams),
    responses((status = 200, body = RunPage),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_runs(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<RunListParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult {
    let Page { items, next_cursor } = state
        .api
        .list_runs(RunQuery {
            job_id: p.job_id,
            status: p.status,
            cursor: page.cursor,
            limit: page.limit,
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        RunPage { items, next_cursor },
    ))
}

/// A run with live counters, the job version it ran, its rendered commands and chunks.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunDetail),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_run(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let detail = state.api.run_detail(run_id(&id)?).await?;
    Ok(json_response(StatusCode::OK, detail))
}

/// Why a run is cancelled.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Recorded on the run and its unfinished results.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// Cancels a run: agents drop its queued work, unfinished targets are recorded as errors.
#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    request_body(content = Option<CancelRequest>),
    responses((status = 200, body = Run),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_run(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    OptionalJsonBody(request): OptionalJsonBody<CancelRequest>,
) -> ApiResult {
    let run = state.api.cancel_run(run_id(&id)?, request.reason).await?;
    Ok(json_response(StatusCode::OK, run))
}

/// Result filters (the query and the export take the same).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultParams {
    /// Only this run.
    run_id: Option<RunId>,
    /// Only runs of this job.
    job_id: Option<JobId>,
    /// Only this target.
    target: Option<String>,
    /// Only this outcome.
    status: Option<ResultStatus>,
    /// Started at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Started before (RFC 3339).
    to: Option<DateTime<Utc>>,
}

impl ResultParams {
    fn query(self, cursor: Option<String>, limit: Option<u32>) -> ResultQuery {
        ResultQuery {
            run_id: self.run_id,
            job_id: self.job_id,
            target: self.target,
            status: self.status,
            from: self.from,
            to: self.to,
            cursor,
            limit,
        }
    }
}

/// A page of results.
#[derive(Serialize, ToSchema)]
pub struct ResultPage {
    /// Newest run first, then by target and action.
    pub items: Vec<ResultView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// Queries results by job, run, target, status and time range.
#[utoipa::path(get, path = "/api/v1/results", tag = "results", params(ResultParams, PageParams),
    responses((status = 200, body = ResultPage),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn query_results(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<ResultParams>,
    QueryParams(page): QueryParams<PageParams>,
) -> ApiResult {
    let page = state
        .api
        .query_results(p.query(page.cursor, page.limit))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        ResultPage {
            items: page.items.into_iter().map(ResultView::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

/// Export format.
#[derive(Deserialize, ToSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// One row per result; fields as JSON in one column.
    #[default]
    Csv,
    /// Newline-delimited JSON, one result per line.
    Json,
}

/// The export's own parameter, beside the result filters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// csv (default) or json (one JSON object per line).
    format: Option<ExportFormat>,
}

/// Streams matching results as CSV or newline-delimited JSON (at most 1,000,000 rows).
#[utoipa::path(get, path = "/api/v1/results/export", tag = "results", params(ResultParams, ExportParams),
    responses((status = 200, description = "The rows", content(
            (String = "text/csv"), (String = "application/x-ndjson"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn export_results(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<ResultParams>,
    QueryParams(export): QueryParams<ExportParams>,
) -> ApiResult {
    let format = export.format.unwrap_or_default();
    let query = p.query(None, Some(EXPORT_PAGE));
    // The first page is fetched before answering, so a bad filter is still a problem
    // response rather than a broken download.
    let first = state.api.query_results(query.clone()).await?;
    let api = state.api.clone();
    let header = (format == ExportFormat::Csv).then(|| Ok::<_, std::io::Error>(csv_header()));
    let pages = futures::stream::unfold(
        (Some(first), query, 0_u64),
        move |(page, mut query, written)| {
            let api = api.clone();
            async move {
                let page = match page {
                    Some(page) => page,
                    None => {
                        query.cursor.as_ref()?;
                        match api.query_results(query.clone()).await {
                            Ok(page) => page,
                            Err(e) => {
                                tracing::warn!(error = %e, "result export stopped");
                                return Some((
                                    Err(std::io::Error::other(e.to_string())),
                                    (None, query, written),
                                ));
                            }
                        }
                    }
                };
                if page.items.is_empty() || written >= MAX_EXPORT_ROWS {
                    return None;
                }
                let mut chunk = String::new();
                let mut count = 0;
                for item in page.items {
                    if written + count >= MAX_EXPORT_ROWS {
                        break;
                    }
                    match format {
                        ExportFormat::Csv => csv_row(&mut chunk, &item),
                        ExportFormat::Json => {
                            let line =
                                serde_json::to_string(&ResultView::from(item)).unwrap_or_default();
                            chunk.push_str(&line);
                            chunk.push('\n');
                        }
                    }
                    count += 1;
                }
                query.cursor = page.next_cursor;
                Some((Ok(chunk), (None, query, written + count)))
            }
        },
    );
    let body = futures::stream::iter(header).chain(pages);
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/x-ndjson", "ndjson"),
    };
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"results.{extension}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

fn csv_header() -> String {
    "run_id,job_id,target,action_index,status,started_at,duration_ms,reason,fields\n".to_owned()
}

/// One CSV line (RFC 4180 quoting: fields with a comma, quote or line break are quoted,
/// quotes doubled).
fn csv_row(out: &mut String, item: &opsconductor_store::StoredResult) {
    let r = &item.record;
    let fields = if r.fields.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&r.fields).unwrap_or_default()
    };
    let cells = [
        r.run_id.to_string(),
        item.job_id.to_string(),
        r.target.clone(),
        r.action_index.to_string(),
        r.status.as_str().to_owned(),
        r.started_at.to_rfc3339(),
        r.duration_ms.to_string(),
        r.reason.clone().unwrap_or_default(),
        fields,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use opsconductor_core::model::ResultRecord;

    #[test]
    fn csv_cells_with_separators_are_quoted() {
        let mut fields = serde_json::Map::new();
        fields.insert("banner".into(), "a,\"b\"".into());
        let item = opsconductor_store::StoredResult {
            record: ResultRecord {
                run_id: RunId::new(),
                target: "10.0.0.1".into(),
                action_index: 0,
                status: ResultStatus::Fail,
                started_at: Utc::now(),
                duration_ms: 1.5,
                timings: Default::default(),
                fields,
                rows: vec![],
                raw_excerpt: None,
                reason: Some("timed out, twice".into()),
                agent_id: None,
            },
            job_id: JobId::new(),
            run_created_at: Utc::now(),
        };
        let mut out = String::new();
        csv_row(&mut out, &item);
        assert!(out.contains(",\"timed out, twice\","), "{out}");
        assert!(
            out.contains("\"{\"\"banner\"\":\"\"a,\\\"\"b\\\"\"\"\"}\""),
            "{out}"
        );
        assert_eq!(csv_header().split(',').count(), 9);
    }
}
