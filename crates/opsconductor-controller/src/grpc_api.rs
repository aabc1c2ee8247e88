//! The gRPC client API (`proto/opsconductor/v1/api.proto`): `JobService`, `LibraryService`
//! and `FleetService` as thin adapters over [`Api`] (and `InventoryService`, in
//! [`crate::grpc_inventory`]), plus health and reflection, so `occtl`, scripts and generic
//! clients (grpcurl) reach exactly what REST reaches.
//!
//! Each method converts the request, calls one [`Api`] method and converts the answer;
//! nothing is validated here that the API does not validate for REST too. Job specs and
//! other free-form documents travel as JSON text and go through the same field-precise
//! parser as REST bodies, so a bad field reads the same on both surfaces.
//!
//! Errors are [`ControllerError`]s turned into statuses by its `From` impl: invalid or
//! malformed input → `INVALID_ARGUMENT` (every `field: message` in the status message),
//! unknown id → `NOT_FOUND`, name taken → `ALREADY_EXISTS`, stale `expected_version` →
//! `ABORTED` (re-read and retry), a run that already ended → `FAILED_PRECONDITION`,
//! database down → `UNAVAILABLE`. A malformed id is `INVALID_ARGUMENT` naming the request
//! field (REST answers 404 for a bad path segment; gRPC has a request field to name).
//!
//! `WatchRun` sends the run, then the run again whenever its status or counters changed:
//! woken by the event bus's coalesced [`Event::RunProgress`] (the WebSocket's source too)
//! and, for changes nobody announces, by a read every [`WATCH_POLL_INTERVAL`]. The stream
//! ends after the terminal state, when the client goes away, or with `UNAVAILABLE` when the
//! controller shuts down (so an open watch never holds up a graceful stop).

use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{Job, ResultStatus, Run, RunStatus, RunTrigger};
use opsconductor_core::parse::ParsedOutput;
use opsconductor_proto::v1;
use opsconductor_proto::v1::agent_service_server::AgentServiceServer;
use opsconductor_proto::v1::fleet_service_server::{FleetService, FleetServiceServer};
use opsconductor_proto::v1::inventory_service_server::InventoryServiceServer;
use opsconductor_proto::v1::job_service_server::{JobService, JobServiceServer};
use opsconductor_proto::v1::library_service_server::{LibraryService, LibraryServiceServer};
use opsconductor_store::{AgentRecord, ListedJob, StoredResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

use crate::api::{Api, JobQuery, Page, ResultQuery, RunQuery};
use crate::error::ControllerError;
use crate::events::{Event, EventBus};
use crate::grpc_inventory::{InventoryServiceImpl, MAX_INVENTORY_MESSAGE_BYTES};
use crate::session::AgentServiceImpl;

/// How often `WatchRun` reads a run it watches, besides waking on the event bus.
pub const WATCH_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Adds the client API, health (every service `SERVING`) and reflection (v1 and v1alpha)
/// to the controller's gRPC server, next to the agent service already on `router`.
/// `WatchRun` and `WatchScan` streams end when `shutdown` fires, so they never hold up a
/// graceful stop.
pub async fn add_client_services<L>(
    router: Router<L>,
    api: Api,
    events: EventBus,
    shutdown: CancellationToken,
) -> anyhow::Result<Router<L>> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AgentServiceServer<AgentServiceImpl>>()
        .await;
    health
        .set_serving::<JobServiceServer<JobServiceImpl>>()
        .await;
    health
        .set_serving::<LibraryServiceServer<LibraryServiceImpl>>()
        .await;
    health
        .set_serving::<FleetServiceServer<FleetServiceImpl>>()
        .await;
    health
        .set_serving::<InventoryServiceServer<InventoryServiceImpl>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(opsconductor_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    Ok(router
        .add_service(JobServiceServer::new(
            JobServiceImpl::new(api.clone(), shutdown.clone()).with_events(events.clone()),
        ))
        .add_service(LibraryServiceServer::new(LibraryServiceImpl::new(
            api.clone(),
        )))
        .add_service(FleetServiceServer::new(FleetServiceImpl::new(api.clone())))
        .add_service(
            InventoryServiceServer::new(
                InventoryServiceImpl::new(api, shutdown).with_events(events),
            )
            // An import carries a whole inventory file (up to 16 MiB).
            .max_decoding_message_size(MAX_INVENTORY_MESSAGE_BYTES),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha))
}

/// Logs failures that are the controller's (not the caller's) once, here where they are
/// answered, and turns the error into its status.
pub(crate) fn status(e: ControllerError) -> Status {
    if matches!(
        e,
        ControllerError::Internal(_) | ControllerError::Unavailable(_)
    ) {
        tracing::error!(error = %e, "grpc request failed");
    }
    e.into()
}

pub(crate) fn parse_id<T: FromStr>(field: &str, text: &str) -> Result<T, Status> {
    text.parse().map_err(|_| {
        status(ControllerError::field(
            field,
            format!("{text:?} is not a UUID"),
        ))
    })
}

fn parse_optional_id<T: FromStr>(field: &str, text: Option<&str>) -> Result<Option<T>, Status> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse_id(field, t))
        .transpose()
}

/// Parses a JSON document from a request field. Problems name the path inside the
/// document under the field (`params_json.count: …`), or the field itself.
fn parse_json_field<T: DeserializeOwned>(field: &str, text: &str) -> Result<T, Status> {
    crate::api::parse_json(text.as_bytes()).map_err(|e| match e {
        ControllerError::Invalid(v) => status(ControllerError::Invalid(v.prefixed(field))),
        ControllerError::Malformed(v) => status(ControllerError::Malformed(v.prefixed(field))),
        other => status(other),
    })
}

/// Parses a job spec the way REST does; paths are relative to the spec
/// (`actions[0].params.count`), as in the job file the user wrote.
fn parse_spec(text: &str) -> Result<opsconductor_core::model::JobSpec, Status> {
    if text.trim().is_empty() {
        return Err(status(ControllerError::field(
            "spec_json",
            "must be a job spec as JSON",
        )));
    }
    Api::parse_job_spec(text.as_bytes()).map_err(status)
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Status> {
    serde_json::to_string(value)
        .map_err(|e| status(ControllerError::Internal(format!("encoding JSON: {e}"))))
}

/// JSON text of an object, empty for an empty one (as the agent contract does).
pub(crate) fn object_json(map: &Map<String, Value>) -> Result<String, Status> {
    if map.is_empty() {
        Ok(String::new())
    } else {
        to_json(map)
    }
}

pub(crate) fn limit(n: u32) -> Option<u32> {
    (n != 0).then_some(n)
}

pub(crate) fn cursor(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// A time as a protobuf timestamp.
pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

fn time_from_proto(
    field: &str,
    t: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, Status> {
    t.map(|t| {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| status(ControllerError::field(field, "not a valid timestamp")))
    })
    .transpose()
}

fn run_status_to_proto(s: RunStatus) -> v1::RunStatus {
    match s {
        RunStatus::Queued => v1::RunStatus::Queued,
        RunStatus::Running => v1::RunStatus::Running,
        RunStatus::Completed => v1::RunStatus::Completed,
        RunStatus::Cancelled => v1::RunStatus::Cancelled,
        RunStatus::Failed => v1::RunStatus::Failed,
    }
}

fn run_status_from_proto(field: &str, value: i32) -> Result<Option<RunStatus>, Status> {
    Ok(match v1::RunStatus::try_from(value) {
        Ok(v1::RunStatus::Unspecified) => None,
        Ok(v1::RunStatus::Queued) => Some(RunStatus::Queued),
        Ok(v1::RunStatus::Running) => Some(RunStatus::Running),
        Ok(v1::RunStatus::Completed) => Some(RunStatus::Completed),
        Ok(v1::RunStatus::Cancelled) => Some(RunStatus::Cancelled),
        Ok(v1::RunStatus::Failed) => Some(RunStatus::Failed),
        Err(_) => {
            return Err(status(ControllerError::field(
                field,
                format!("{value} is not a run status"),
            )));
        }
    })
}

fn result_status_from_proto(field: &str, value: i32) -> Result<Option<ResultStatus>, Status> {
    Ok(match v1::ResultStatus::try_from(value) {
        Ok(v1::ResultStatus::Unspecified) => None,
        Ok(v1::ResultStatus::Ok) => Some(ResultStatus::Ok),
        Ok(v1::ResultStatus::Warn) => Some(ResultStatus::Warn),
        Ok(v1::ResultStatus::Fail) => Some(ResultStatus::Fail),
        Ok(v1::ResultStatus::Error) => Some(ResultStatus::Error),
        Ok(v1::ResultStatus::Timeout) => Some(ResultStatus::Timeout),
        Err(_) => {
            return Err(status(ControllerError::field(
                field,
                format!("{value} is not a result status"),
            )));
        }
    })
}

/// The wire form of a job.
pub fn job_to_proto(job: &Job) -> Result<v1::Job, Status> {
    Ok(v1::Job {
        id: job.id.to_string(),
        version: job.version,
        spec_json: to_json(&job.spec)?,
        created_at: Some(timestamp(job.created_at)),
        updated_at: Some(timestamp(job.updated_at)),
        name: job.spec.name.clone(),
        enabled: job.spec.enabled,
        tags: job.spec.tags.clone(),
    })
}

/// The wire form of a job in a list: its spec goes out as the JSON it is stored as, and
/// the tags are read from it (REST lists do not need them decoded).
pub fn listed_job_to_proto(job: &ListedJob) -> Result<v1::Job, Status> {
    #[derive(Deserialize)]
    struct Tags {
        #[serde(default)]
        tags: Vec<String>,
    }
    let tags: Tags = serde_json::from_str(job.spec.get()).map_err(|e| {
        status(ControllerError::Internal(format!(
            "stored spec of job {}: {e}",
            job.id
        )))
    })?;
    Ok(v1::Job {
        id: job.id.to_string(),
        version: job.version,
        spec_json: job.spec.get().to_owned(),
        created_at: Some(timestamp(job.created_at)),
        updated_at: Some(timestamp(job.updated_at)),
        name: job.name.clone(),
        enabled: job.enabled,
        tags: tags.tags,
    })
}

/// The wire form of a run.
pub fn run_to_proto(run: &Run) -> v1::Run {
    let trigger = match run.trigger {
        RunTrigger::Schedule => v1::RunTrigger::Schedule,
        RunTrigger::Manual => v1::RunTrigger::Manual,
        RunTrigger::CatchUp => v1::RunTrigger::CatchUp,
    };
    let c = &run.counters;
    v1::Run {
        id: run.id.to_string(),
        job_id: run.job_id.to_string(),
        job_version: run.job_version,
        status: run_status_to_proto(run.status).into(),
        trigger: trigger.into(),
        scheduled_for: Some(timestamp(run.scheduled_for)),
        created_at: Some(timestamp(run.created_at)),
        deadline_at: Some(timestamp(run.deadline_at)),
        started_at: run.started_at.map(timestamp),
        finished_at: run.finished_at.map(timestamp),
        counters: Some(v1::RunCounters {
            total: c.total,
            ok: c.ok,
            warn: c.warn,
            fail: c.failed,
            error: c.error,
            timeout: c.timeout,
        }),
        reason: run.reason.clone(),
    }
}

fn result_to_proto(r: &StoredResult) -> Result<v1::StoredResult, Status> {
    let record = &r.record;
    Ok(v1::StoredResult {
        run_id: record.run_id.to_string(),
        job_id: r.job_id.to_string(),
        target: record.target.clone(),
        action_index: record.action_index,
        status: v1::ResultStatus::from(record.status).into(),
        started_at: Some(timestamp(record.started_at)),
        duration_ms: record.duration_ms,
        timings_json: object_json(&record.timings)?,
        fields_json: object_json(&record.fields)?,
        rows_json: if record.rows.is_empty() {
            String::new()
        } else {
            to_json(&record.rows)?
        },
        raw_excerpt: record.raw_excerpt.clone(),
        reason: record.reason.clone(),
        agent_id: record.agent_id.map(|a| a.to_string()),
        run_created_at: Some(timestamp(r.run_created_at)),
    })
}

fn agent_to_proto(a: &AgentRecord) -> Result<v1::Agent, Status> {
    Ok(v1::Agent {
        id: a.id.to_string(),
        name: a.name.clone(),
        segment: a.segment.clone(),
        version: a.version.clone(),
        capabilities: a.capabilities.clone(),
        registered_at: Some(timestamp(a.registered_at)),
        last_seen_at: a.last_seen_at.map(timestamp),
        online: a.online,
        heartbeat_json: a
            .heartbeat
            .as_ref()
            .map(to_json)
            .transpose()?
            .unwrap_or_default(),
    })
}

fn origin_to_proto(o: &opsconductor_core::library::Origin) -> v1::LibraryOrigin {
    v1::LibraryOrigin {
        file: o.file.clone(),
        library: o.library.clone(),
    }
}

/// `JobService`: jobs, runs and results.
#[derive(Clone)]
pub struct JobServiceImpl {
    api: Api,
    events: Option<EventBus>,
    shutdown: CancellationToken,
}

impl JobServiceImpl {
    /// The service over `api`; watch streams end when `shutdown` fires.
    pub fn new(api: Api, shutdown: CancellationToken) -> Self {
        Self {
            api,
            events: None,
            shutdown,
        }
    }

    /// Lets `WatchRun` send progress as soon as the bus announces it instead of at the
    /// next poll (the poll stays, for changes the bus is not told about).
    #[must_use]
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = Some(events);
        self
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchRunResponse, Status>> + Send>>;

/// Where a `WatchRun` stream is.
enum WatchState {
    /// The run as first read, not sent yet.
    Start(Watch, Run),
    /// The last run sent, not terminal.
    Watching(Watch, Run),
    /// Nothing more to send.
    Done,
}

/// What a watch needs between messages.
struct Watch {
    api: Api,
    events: Option<broadcast::Receiver<Arc<Event>>>,
    shutdown: CancellationToken,
}

/// What woke a watch up.
pub(crate) enum Wake {
    /// The bus announced the run's state.
    Progress(Run),
    /// Time to read the run again (poll, or the bus lost events).
    Reread,
}

/// The next progress event of `id` from `events`, or `Reread` when the bus lagged. Without
/// a bus (or once it closed) it never returns, leaving the poll to the caller.
pub(crate) async fn next_event(
    events: &mut Option<broadcast::Receiver<Arc<Event>>>,
    id: RunId,
) -> Wake {
    loop {
        let Some(rx) = events.as_mut() else {
            return std::future::pending().await;
        };
        match rx.recv().await {
            Ok(event) => {
                if let Event::RunProgress { run } = &*event
                    && run.id == id
                {
                    return Wake::Progress(run.clone());
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => return Wake::Reread,
            Err(broadcast::error::RecvError::Closed) => *events = None,
        }
    }
}

impl Watch {
    /// The run's next state that differs from `last`, or the status ending the stream.
    async fn next_change(&mut self, last: &Run) -> Result<Run, Status> {
        loop {
            let wake = tokio::select! {
                () = self.shutdown.cancelled() => {
                    return Err(Status::unavailable("the controller is shutting down"));
                }
                wake = next_event(&mut self.events, last.id) => wake,
                () = tokio::time::sleep(WATCH_POLL_INTERVAL) => Wake::Reread,
            };
            let run = match wake {
                Wake::Progress(run) => run,
                Wake::Reread => self.api.get_run(last.id).await.map_err(status)?,
            };
            if progressed(last, &run) {
                return Ok(run);
            }
        }
    }
}

/// Whether `now` is further along than `before`. Progress only moves forward (queued →
/// running → ended, results only added), so a snapshot older than one already sent — a
/// bus event loaded before the last poll — is not news and is not sent.
fn progressed(before: &Run, now: &Run) -> bool {
    fn stage(status: RunStatus) -> u8 {
        match status {
            RunStatus::Queued => 0,
            RunStatus::Running => 1,
            RunStatus::Completed | RunStatus::Cancelled | RunStatus::Failed => 2,
        }
    }
    (stage(now.status), now.counters.done()) > (stage(before.status), before.counters.done())
}

/// The stream of a run's changes: `run` first, then every change until it is terminal.
fn watch_stream(watch: Watch, run: Run) -> WatchStream {
    let after = |watch: Watch, run: Run| {
        let message = Ok(watch_response(&run));
        if run.status.is_terminal() {
            (message, WatchState::Done)
        } else {
            (message, WatchState::Watching(watch, run))
        }
    };
    Box::pin(futures::stream::unfold(
        WatchState::Start(watch, run),
        move |state| async move {
            match state {
                WatchState::Done => None,
                WatchState::Start(watch, run) => Some(after(watch, run)),
                WatchState::Watching(mut watch, last) => match watch.next_change(&last).await {
                    Ok(run) => Some(after(watch, run)),
                    Err(e) => Some((Err(e), WatchState::Done)),
                },
            }
        },
    ))
}

fn watch_response(run: &Run) -> v1::WatchRunResponse {
    v1::WatchRunResponse {
        run: Some(run_to_proto(run)),
    }
}

pub(crate) fn page_to_proto<T, U>(
    page: Page<T>,
    convert: impl Fn(&T) -> Result<U, Status>,
) -> Result<(Vec<U>, String), Status> {
    let items = page.items.iter().map(convert).collect::<Result<_, _>>()?;
    Ok((items, page.next_cursor.unwrap_or_default()))
}

#[tonic::async_trait]
impl JobService for JobServiceImpl {
    #[tracing::instrument(skip_all)]
    async fn create_job(
        &self,
        request: Request<v1::CreateJobRequest>,
    ) -> Result<Response<v1::Job>, Status> {
        let spec = parse_spec(&request.into_inner().spec_json)?;
        let job = self.api.create_job(spec).await.map_err(status)?;
        Ok(Response::new(job_to_proto(&job)?))
    }

    #[tracing::instrument(skip_all, fields(job.id = %request.get_ref().id))]
    async fn get_job(
        &self,
        request: Request<v1::GetJobRequest>,
    ) -> Result<Response<v1::Job>, Status> {
        let id: JobId = parse_id("id", &request.get_ref().id)?;
        let job = self.api.get_job(id).await.map_err(status)?;
        Ok(Response::new(job_to_proto(&job)?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_jobs(
        &self,
        request: Request<v1::ListJobsRequest>,
    ) -> Result<Response<v1::ListJobsResponse>, Status> {
        let r = request.into_inner();
        let page = self
            .api
            .list_jobs(JobQuery {
                text: r.text,
                tag: r.tag,
                enabled: r.enabled,
                cursor: cursor(r.cursor),
                limit: limit(r.limit),
            })
            .await
            .map_err(status)?;
        let (items, next_cursor) = page_to_proto(page, |item| {
            Ok(v1::JobListItem {
                job: Some(listed_job_to_proto(&item.job)?),
                last_run: item.last_run.as_ref().map(run_to_proto),
            })
        })?;
        Ok(Response::new(v1::ListJobsResponse { items, next_cursor }))
    }

    #[tracing::instrument(skip_all, fields(job.id = %request.get_ref().id))]
    async fn update_job(
        &self,
        request: Request<v1::UpdateJobRequest>,
    ) -> Result<Response<v1::Job>, Status> {
        let r = request.into_inner();
        let id: JobId = parse_id("id", &r.id)?;
        let spec = parse_spec(&r.spec_json)?;
        let job = self
            .api
            .update_job(id, r.expected_version, spec)
            .await
            .map_err(status)?;
        Ok(Response::new(job_to_proto(&job)?))
    }

    #[tracing::instrument(skip_all, fields(job.id = %request.get_ref().id))]
    async fn delete_job(
        &self,
        request: Request<v1::DeleteJobRequest>,
    ) -> Result<Response<v1::DeleteJobResponse>, Status> {
        let r = request.into_inner();
        let id: JobId = parse_id("id", &r.id)?;
        self.api
            .delete_job(id, r.expected_version)
            .await
            .map_err(status)?;
        Ok(Response::new(v1::DeleteJobResponse {}))
    }

    #[tracing::instrument(skip_all, fields(job.id = %request.get_ref().id))]
    async fn clone_job(
        &self,
        request: Request<v1::CloneJobRequest>,
    ) -> Result<Response<v1::Job>, Status> {
        let r = request.into_inner();
        let id: JobId = parse_id("id", &r.id)?;
        let job = self.api.clone_job(id, r.name).await.map_err(status)?;
        Ok(Response::new(job_to_proto(&job)?))
    }

    #[tracing::instrument(skip_all, fields(job.id = %request.get_ref().id))]
    async fn set_job_enabled(
        &self,
        request: Request<v1::SetJobEnabledRequest>,
    ) -> Result<Response<v1::Job>, Status> {
        let r = request.into_inner();
        let id: JobId = parse_id("id", &r.id)?;
        let job = self
            .api
            .set_job_enabled(id, r.enabled)
            .await
            .map_err(status)?;
        Ok(Response::new(job_to_proto(&job)?))
    }

    #[tracing::instrument(skip_all, fields(job.id = %request.get_ref().job_id))]
    async fn run_job(
        &self,
        request: Request<v1::RunJobRequest>,
    ) -> Result<Response<v1::Run>, Status> {
        let id: JobId = parse_id("job_id", &request.get_ref().job_id)?;
        let run = self.api.run_job(id).await.map_err(status)?;
        Ok(Response::new(run_to_proto(&run)))
    }

    #[tracing::instrument(skip_all, fields(run.id = %request.get_ref().id))]
    async fn get_run(
        &self,
        request: Request<v1::GetRunRequest>,
    ) -> Result<Response<v1::Run>, Status> {
        let id: RunId = parse_id("id", &request.get_ref().id)?;
        let run = self.api.get_run(id).await.map_err(status)?;
        Ok(Response::new(run_to_proto(&run)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_runs(
        &self,
        request: Request<v1::ListRunsRequest>,
    ) -> Result<Response<v1::ListRunsResponse>, Status> {
        let r = request.into_inner();
        let page = self
            .api
            .list_runs(RunQuery {
                job_id: parse_optional_id("job_id", r.job_id.as_deref())?,
                status: run_status_from_proto("status", r.status)?,
                cursor: cursor(r.cursor),
                limit: limit(r.limit),
            })
            .await
            .map_err(status)?;
        let (items, next_cursor) = page_to_proto(page, |run| Ok(run_to_proto(run)))?;
        Ok(Response::new(v1::ListRunsResponse { items, next_cursor }))
    }

    #[tracing::instrument(skip_all, fields(run.id = %request.get_ref().id))]
    async fn cancel_run(
        &self,
        request: Request<v1::CancelRunRequest>,
    ) -> Result<Response<v1::Run>, Status> {
        let r = request.into_inner();
        let id: RunId = parse_id("id", &r.id)?;
        let run = self.api.cancel_run(id, r.reason).await.map_err(status)?;
        Ok(Response::new(run_to_proto(&run)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_results(
        &self,
        request: Request<v1::ListResultsRequest>,
    ) -> Result<Response<v1::ListResultsResponse>, Status> {
        let r = request.into_inner();
        let page = self
            .api
            .query_results(ResultQuery {
                run_id: parse_optional_id("run_id", r.run_id.as_deref())?,
                job_id: parse_optional_id("job_id", r.job_id.as_deref())?,
                target: r.target.filter(|t| !t.is_empty()),
                status: result_status_from_proto("status", r.status)?,
                from: time_from_proto("from", r.from)?,
                to: time_from_proto("to", r.to)?,
                cursor: cursor(r.cursor),
                limit: limit(r.limit),
            })
            .await
            .map_err(status)?;
        let (items, next_cursor) = page_to_proto(page, result_to_proto)?;
        Ok(Response::new(v1::ListResultsResponse {
            items,
            next_cursor,
        }))
    }

    type WatchRunStream = WatchStream;

    #[tracing::instrument(skip_all, fields(run.id = %request.get_ref().id))]
    async fn watch_run(
        &self,
        request: Request<v1::WatchRunRequest>,
    ) -> Result<Response<Self::WatchRunStream>, Status> {
        let id: RunId = parse_id("id", &request.get_ref().id)?;
        // Subscribed before the first read, so no change in between is missed.
        let events = self.events.as_ref().map(EventBus::subscribe);
        // An unknown run fails the call itself rather than its first stream message.
        let run = self.api.get_run(id).await.map_err(status)?;
        let watch = Watch {
            api: self.api.clone(),
            events,
            shutdown: self.shutdown.clone(),
        };
        Ok(Response::new(watch_stream(watch, run)))
    }
}

/// `LibraryService`: the libraries jobs are built from.
#[derive(Clone)]
pub struct LibraryServiceImpl {
    api: Api,
}

impl LibraryServiceImpl {
    /// The service over `api`.
    pub fn new(api: Api) -> Self {
        Self { api }
    }
}

#[tonic::async_trait]
impl LibraryService for LibraryServiceImpl {
    async fn list_commands(
        &self,
        _request: Request<v1::ListCommandsRequest>,
    ) -> Result<Response<v1::ListCommandsResponse>, Status> {
        let commands = self
            .api
            .library()
            .commands()
            .map(|c| {
                Ok(v1::CommandInfo {
                    id: c.def.id.clone(),
                    name: c.def.name.clone(),
                    description: c.def.description.clone(),
                    category: c.def.category.clone(),
                    kind: c.def.kind.as_str().to_owned(),
                    default_parsers: c.def.parsers.clone(),
                    definition_json: to_json(&c.def)?,
                    origin: Some(origin_to_proto(&c.origin)),
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(v1::ListCommandsResponse { commands }))
    }

    async fn list_parsers(
        &self,
        _request: Request<v1::ListParsersRequest>,
    ) -> Result<Response<v1::ListParsersResponse>, Status> {
        let parsers = self
            .api
            .library()
            .parsers()
            .map(|p| {
                Ok(v1::ParserInfo {
                    id: p.def.id.clone(),
                    name: p.def.name.clone(),
                    description: p.def.description.clone(),
                    definition_json: to_json(&p.def)?,
                    origin: Some(origin_to_proto(&p.origin)),
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(v1::ListParsersResponse { parsers }))
    }

    async fn list_target_sources(
        &self,
        _request: Request<v1::ListTargetSourcesRequest>,
    ) -> Result<Response<v1::ListTargetSourcesResponse>, Status> {
        let target_sources = self
            .api
            .library()
            .target_sources()
            .map(|s| {
                Ok(v1::TargetSourceInfo {
                    id: s.def.id.clone(),
                    name: s.def.name.clone(),
                    description: s.def.description.clone(),
                    selector: s.def.selector.as_str().to_owned(),
                    definition_json: to_json(&s.def)?,
                    origin: Some(origin_to_proto(&s.origin)),
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(v1::ListTargetSourcesResponse {
            target_sources,
        }))
    }

    async fn preview_command(
        &self,
        request: Request<v1::PreviewCommandRequest>,
    ) -> Result<Response<v1::PreviewCommandResponse>, Status> {
        let r = request.into_inner();
        let params: Map<String, Value> = if r.params_json.trim().is_empty() {
            Map::new()
        } else {
            parse_json_field("params_json", &r.params_json)?
        };
        let preview = self
            .api
            .preview_command_for(&r.command, &params, r.target.as_deref())
            .map_err(status)?;
        Ok(Response::new(v1::PreviewCommandResponse {
            command: r.command,
            kind: preview["kind"].as_str().unwrap_or_default().to_owned(),
            params_json: to_json(&preview["params"])?,
            text: preview["text"].as_str().unwrap_or_default().to_owned(),
            truncated: preview["truncated"].as_bool().unwrap_or(false),
        }))
    }

    async fn test_parser(
        &self,
        request: Request<v1::TestParserRequest>,
    ) -> Result<Response<v1::TestParserResponse>, Status> {
        let r = request.into_inner();
        let output = match r.parser {
            Some(v1::test_parser_request::Parser::ParserId(id)) => {
                self.api.test_parser(Some(&id), None, &r.sample)
            }
            Some(v1::test_parser_request::Parser::DefinitionJson(text)) => {
                let definition: Value = parse_json_field("definition_json", &text)?;
                self.api.test_parser(None, Some(&definition), &r.sample)
            }
            None => Err(ControllerError::field(
                "parser",
                "give `parser_id` (a library parser) or `definition_json`",
            )),
        }
        .map_err(status)?;
        let output: ParsedOutput = serde_json::from_value(output).map_err(|e| {
            status(ControllerError::Internal(format!(
                "unexpected parser output: {e}"
            )))
        })?;
        Ok(Response::new(v1::TestParserResponse {
            fields_json: to_json(&output.fields)?,
            rows_json: to_json(&output.rows)?,
            errors: output.errors,
        }))
    }

    async fn validate_job(
        &self,
        request: Request<v1::ValidateJobRequest>,
    ) -> Result<Response<v1::ValidateJobResponse>, Status> {
        let text = request.into_inner().spec_json;
        let checked = if text.trim().is_empty() {
            Err(ControllerError::field(
                "spec_json",
                "must be a job spec as JSON",
            ))
        } else {
            match Api::parse_job_spec(text.as_bytes()) {
                Ok(spec) => self.api.validate_job(&spec).await,
                Err(e) => Err(e),
            }
        };
        let errors = match checked {
            Ok(()) => Vec::new(),
            Err(ControllerError::Invalid(v) | ControllerError::Malformed(v)) => v
                .errors
                .into_iter()
                .map(|e| v1::FieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            Err(other) => return Err(status(other)),
        };
        Ok(Response::new(v1::ValidateJobResponse {
            valid: errors.is_empty(),
            errors,
        }))
    }
}

/// `FleetService`: the agents.
#[derive(Clone)]
pub struct FleetServiceImpl {
    api: Api,
}

impl FleetServiceImpl {
    /// The service over `api`.
    pub fn new(api: Api) -> Self {
        Self { api }
    }
}

#[tonic::async_trait]
impl FleetService for FleetServiceImpl {
    async fn list_agents(
        &self,
        _request: Request<v1::ListAgentsRequest>,
    ) -> Result<Response<v1::ListAgentsResponse>, Status> {
        let agents = self
            .api
            .list_agents()
            .await
            .map_err(status)?
            .iter()
            .map(agent_to_proto)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(v1::ListAgentsResponse { agents }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_nanosecond() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        let back = time_from_proto("from", Some(timestamp(t))).ok().flatten();
        assert_eq!(back, Some(t));
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        let err = time_from_proto("from", Some(bad)).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("from"), "{}", err.message());
    }

    #[test]
    fn malformed_ids_and_enums_name_the_field() {
        let err = parse_id::<JobId>("job_id", "nope").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("job_id"), "{}", err.message());
        let err = run_status_from_proto("status", 99).unwrap_err();
        assert!(err.message().contains("status"), "{}", err.message());
        assert_eq!(run_status_from_proto("status", 0).ok().flatten(), None);
    }

    #[test]
    fn only_newer_progress_counts_as_a_change() {
        let run: Run = serde_json::from_value(serde_json::json!({
            "id": RunId::new(), "job_id": JobId::new(), "job_version": 1, "status": "running",
            "trigger": "manual", "scheduled_for": "2026-01-01T00:00:00Z",
            "created_at": "2026-01-01T00:00:00Z", "deadline_at": "2026-01-01T01:00:00Z",
            "started_at": null, "finished_at": null,
            "counters": {"total": 10, "ok": 3, "warn": 0, "failed": 0, "error": 0, "timeout": 0},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut more = run.clone();
        more.counters.ok = 4;
        assert!(progressed(&run, &more));
        assert!(!progressed(&more, &run), "an older snapshot is not news");
        assert!(!progressed(&run, &run));
        let mut ended = run.clone();
        ended.status = RunStatus::Cancelled;
        assert!(progressed(&more, &ended));
        let mut queued = run.clone();
        queued.status = RunStatus::Queued;
        assert!(!progressed(&run, &queued));
    }

    #[test]
    fn json_field_errors_are_placed_under_the_request_field() {
        let err = parse_json_field::<Map<String, Value>>("params_json", "[1]").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("params_json"), "{}", err.message());
    }
}
