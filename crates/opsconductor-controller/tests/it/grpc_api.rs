//! The gRPC client API against a real controller (port 0, fresh database, private broker
//! queues): every `JobService`, `LibraryService` and `FleetService` method, bad input and
//! unknown ids, `WatchRun` to the end of a run, health and reflection (v1 and v1alpha).
//! No agent runs, so runs stay queued until the test cancels them.

use opsconductor_store::prelude::*;
use std::time::Duration;

use futures::StreamExt as _;
use opsconductor_proto::bearer::Bearer;
use opsconductor_proto::v1;
use opsconductor_proto::v1::agent_service_client::AgentServiceClient;
use opsconductor_proto::v1::fleet_service_client::FleetServiceClient;
use opsconductor_proto::v1::job_service_client::JobServiceClient;
use opsconductor_proto::v1::library_service_client::LibraryServiceClient;
use opsconductor_store::PgStore;
use opsconductor_store::testing::{TestDb, fresh_database};
use serde_json::{Value, json};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::helpers::{RunningController, TestBroker, WAIT, controller_config};

/// A controller serving gRPC on a free port, with its database and broker slice.
pub(crate) struct GrpcApp {
    pub(crate) controller: RunningController,
    pub(crate) store: PgStore,
    _db: TestDb,
    _broker: TestBroker,
}

impl GrpcApp {
    pub(crate) async fn start() -> Self {
        let (store, db) = fresh_database().await;
        let broker = TestBroker::new();
        let controller = RunningController::start(controller_config(&db, &broker)).await;
        Self {
            controller,
            store,
            _db: db,
            _broker: broker,
        }
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.controller.grpc))
            .unwrap()
            .connect_timeout(WAIT)
            .connect()
            .await
            .unwrap()
    }

    pub(crate) fn bearer(&self) -> Bearer {
        Bearer::new(Some(&self.controller.admin_token)).unwrap()
    }

    async fn jobs(&self) -> JobServiceClient<Authed> {
        JobServiceClient::with_interceptor(self.channel().await, self.bearer())
    }

    async fn library(&self) -> LibraryServiceClient<Authed> {
        LibraryServiceClient::with_interceptor(self.channel().await, self.bearer())
    }

    async fn fleet(&self) -> FleetServiceClient<Authed> {
        FleetServiceClient::with_interceptor(self.channel().await, self.bearer())
    }

    pub(crate) async fn stop(self) {
        self.controller.stop().await;
    }
}

/// A manual job pinging 127.0.0.1: it only runs when asked.
fn spec(name: &str) -> Value {
    json!({
        "name": name,
        "tags": ["grpc"],
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ping.icmp", "params": {"count": 2}}],
    })
}

/// A channel that sends a token with every call.
pub(crate) type Authed = InterceptedService<Channel, Bearer>;

async fn create(client: &mut JobServiceClient<Authed>, spec: &Value) -> v1::Job {
    client
        .create_job(v1::CreateJobRequest {
            spec_json: spec.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn spec_of(job: &v1::Job) -> Value {
    serde_json::from_str(&job.spec_json).unwrap()
}

/// Asserts `result` failed with `code` and a message mentioning every one of `words`.
#[track_caller]
pub(crate) fn assert_status<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    words: &[&str],
) {
    let status = result.expect_err("the call fails");
    assert_eq!(status.code(), code, "{status:?}");
    for word in words {
        assert!(
            status.message().contains(word),
            "{:?} does not mention {word:?}",
            status.message()
        );
    }
}

pub(crate) fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn grpc_jobs_are_created_read_listed_updated_cloned_toggled_and_deleted() {
    let app = GrpcApp::start().await;
    let mut jobs = app.jobs().await;

    let job = create(&mut jobs, &spec("core ping")).await;
    assert_eq!(job.version, 1);
    assert_eq!(job.name, "core ping");
    assert!(job.enabled);
    assert_eq!(job.tags, ["grpc"]);
    assert!(job.created_at.is_some() && job.updated_at.is_some());
    // Defaults are filled in: the stored spec is the whole job.
    assert_eq!(spec_of(&job)["options"]["overlap"], "skip");

    let got = jobs
        .get_job(v1::GetJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, job);

    // Update with the version read: it goes through and bumps the version.
    let mut changed = spec("core ping");
    changed["description"] = json!("pings the loopback");
    let updated = jobs
        .update_job(v1::UpdateJobRequest {
            id: job.id.clone(),
            spec_json: changed.to_string(),
            expected_version: Some(1),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(spec_of(&updated)["description"], "pings the loopback");

    // A second editor still holding version 1 is refused, and nothing changes.
    changed["description"] = json!("overwritten");
    assert_status(
        jobs.update_job(v1::UpdateJobRequest {
            id: job.id.clone(),
            spec_json: changed.to_string(),
            expected_version: Some(1),
        })
        .await,
        Code::Aborted,
        &["version 2", "not 1"],
    );
    let job_now = app.store.get_job(job.id.parse().unwrap()).await.unwrap();
    assert_eq!(job_now.version, 2);
    assert_eq!(job_now.spec.description, "pings the loopback");

    // A clone is a new, disabled job; a second clone gets a numbered name.
    let copy = jobs
        .clone_job(v1::CloneJobRequest {
            id: job.id.clone(),
            name: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(copy.id, job.id);
    assert_eq!(copy.name, "core ping (copy)");
    assert!(!copy.enabled);
    let named = jobs
        .clone_job(v1::CloneJobRequest {
            id: job.id.clone(),
            name: Some("edge ping".to_owned()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named.name, "edge ping");
    assert_status(
        jobs.clone_job(v1::CloneJobRequest {
            id: job.id.clone(),
            name: Some("edge ping".to_owned()),
        })
        .await,
        Code::AlreadyExists,
        &["edge ping"],
    );

    let disabled = jobs
        .set_job_enabled(v1::SetJobEnabledRequest {
            id: job.id.clone(),
            enabled: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.enabled);
    assert_eq!(spec_of(&disabled)["enabled"], false);
    assert_eq!(disabled.version, 3);

    // Listing: by name, filtered, paged with a cursor.
    let all = jobs
        .list_jobs(v1::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = all
        .items
        .iter()
        .map(|i| i.job.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["core ping", "core ping (copy)", "edge ping"]);
    assert!(all.next_cursor.is_empty());
    assert!(all.items.iter().all(|i| i.last_run.is_none()));
    let enabled = jobs
        .list_jobs(v1::ListJobsRequest {
            enabled: Some(false),
            text: Some("CORE".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(enabled.items.len(), 2, "{enabled:?}");
    let first = jobs
        .list_jobs(v1::ListJobsRequest {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.items.len(), 2);
    assert!(!first.next_cursor.is_empty());
    let second = jobs
        .list_jobs(v1::ListJobsRequest {
            limit: 2,
            cursor: first.next_cursor,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].job.as_ref().unwrap().name, "edge ping");

    // Delete: a stale version is refused, the current one deletes.
    assert_status(
        jobs.delete_job(v1::DeleteJobRequest {
            id: job.id.clone(),
            expected_version: Some(1),
        })
        .await,
        Code::Aborted,
        &["version"],
    );
    jobs.delete_job(v1::DeleteJobRequest {
        id: job.id.clone(),
        expected_version: Some(3),
    })
    .await
    .unwrap();
    assert_status(
        jobs.get_job(v1::GetJobRequest { id: job.id.clone() }).await,
        Code::NotFound,
        &[&job.id],
    );
    assert_status(
        jobs.delete_job(v1::DeleteJobRequest {
            id: job.id.clone(),
            expected_version: None,
        })
        .await,
        Code::NotFound,
        &[],
    );
    app.stop().await;
}

#[tokio::test]
async fn grpc_a_run_is_started_watched_cancelled_and_its_results_listed() {
    let app = GrpcApp::start().await;
    let mut jobs = app.jobs().await;
    let job = create(&mut jobs, &spec("watched")).await;

    let run = jobs
        .run_job(v1::RunJobRequest {
            job_id: job.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.job_id, job.id);
    assert_eq!(run.job_version, 1);
    assert_eq!(run.trigger(), v1::RunTrigger::Manual);
    assert_eq!(run.status(), v1::RunStatus::Queued);
    assert_eq!(run.counters.unwrap().total, 1);

    let got = jobs
        .get_run(v1::GetRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, run.id);
    let runs = jobs
        .list_runs(v1::ListRunsRequest {
            job_id: Some(job.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(runs.items.len(), 1);
    let queued = jobs
        .list_runs(v1::ListRunsRequest {
            status: v1::RunStatus::Completed.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(queued.items.is_empty(), "{queued:?}");
    let listed = jobs
        .list_jobs(v1::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.items[0].last_run.as_ref().map(|r| r.id.as_str()),
        Some(run.id.as_str())
    );

    // The watch starts with the run as it is, then follows it to its end.
    let mut watch = jobs
        .watch_run(v1::WatchRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("first progress in time")
        .expect("a first message")
        .unwrap();
    assert_eq!(first.run.unwrap().status(), v1::RunStatus::Queued);

    let cancelled = jobs
        .cancel_run(v1::CancelRunRequest {
            id: run.id.clone(),
            reason: Some("maintenance window".to_owned()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.status(), v1::RunStatus::Cancelled);
    assert_eq!(cancelled.reason.as_deref(), Some("maintenance window"));
    assert!(cancelled.finished_at.is_some());

    // Every message until the end, each a change; the last is the terminal state.
    let rest: Vec<v1::Run> =
        tokio::time::timeout(WAIT, watch.map(|m| m.unwrap().run.unwrap()).collect())
            .await
            .expect("the watch ends in time");
    let last = rest.last().expect("the cancellation is sent");
    assert_eq!(last.status(), v1::RunStatus::Cancelled);
    assert_eq!(last.counters.unwrap().error, 1);
    assert!(
        rest[..rest.len() - 1]
            .iter()
            .all(|r| r.status() != v1::RunStatus::Cancelled)
    );

    // A watch of a finished run sends it once and ends.
    let again: Vec<_> = jobs
        .watch_run(v1::WatchRunRequest { id: run.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(again.len(), 1);

    assert_status(
        jobs.cancel_run(v1::CancelRunRequest {
            id: run.id.clone(),
            reason: None,
        })
        .await,
        Code::FailedPrecondition,
        &["already cancelled"],
    );

    // The cancelled target is an error result, found by run, by job and by status.
    let by_run = jobs
        .list_results(v1::ListResultsRequest {
            run_id: Some(run.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_run.items.len(), 1, "{by_run:?}");
    let result = &by_run.items[0];
    assert_eq!(result.target, "127.0.0.1");
    assert_eq!(result.action_index, 0);
    assert_eq!(result.status(), v1::ResultStatus::Error);
    assert_eq!(result.job_id, job.id);
    assert!(
        result
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("maintenance window")),
        "{result:?}"
    );
    assert!(by_run.next_cursor.is_empty());
    let by_job = jobs
        .list_results(v1::ListResultsRequest {
            job_id: Some(job.id.clone()),
            status: v1::ResultStatus::Error.into(),
            target: Some("127.0.0.1".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_job.items, by_run.items);
    let none_ok = jobs
        .list_results(v1::ListResultsRequest {
            job_id: Some(job.id.clone()),
            status: v1::ResultStatus::Ok.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none_ok.items.is_empty());
    let far_future = prost_types::Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    };
    let later = jobs
        .list_results(v1::ListResultsRequest {
            run_id: Some(run.id.clone()),
            from: Some(far_future),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(later.items.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn grpc_an_open_watch_ends_with_unavailable_when_the_controller_stops() {
    let app = GrpcApp::start().await;
    let mut jobs = app.jobs().await;
    let job = create(&mut jobs, &spec("left open")).await;
    let run = jobs
        .run_job(v1::RunJobRequest { job_id: job.id })
        .await
        .unwrap()
        .into_inner();
    let mut watch = jobs
        .watch_run(v1::WatchRunRequest { id: run.id })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(WAIT, watch.next()).await.unwrap();
    assert!(first.is_some_and(|m| m.is_ok()));
    // `stop` asserts the controller ends in time although the stream is open.
    app.stop().await;
    let end = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the stream ends");
    if let Some(message) = end {
        assert_eq!(message.unwrap_err().code(), Code::Unavailable);
    }
}

#[tokio::test]
async fn grpc_bad_input_is_invalid_argument_naming_the_field_and_changes_nothing() {
    let app = GrpcApp::start().await;
    let mut jobs = app.jobs().await;
    let job = create(&mut jobs, &spec("existing")).await;

    let create_err = |spec_json: String| {
        let mut jobs = jobs.clone();
        async move { jobs.create_job(v1::CreateJobRequest { spec_json }).await }
    };
    assert_status(
        create_err("{\"name\": ".to_owned()).await,
        Code::InvalidArgument,
        &["EOF"],
    );
    assert_status(
        create_err(String::new()).await,
        Code::InvalidArgument,
        &["spec_json"],
    );
    let mut wrong_type = spec("wrong type");
    wrong_type["tags"] = json!("grpc");
    assert_status(
        create_err(wrong_type.to_string()).await,
        Code::InvalidArgument,
        &["tags", "invalid type"],
    );
    let mut unknown_field = spec("unknown field");
    unknown_field["colour"] = json!("red");
    assert_status(
        create_err(unknown_field.to_string()).await,
        Code::InvalidArgument,
        &["colour"],
    );
    let mut bad_param = spec("bad param");
    bad_param["actions"][0]["params"]["count"] = json!(1000);
    assert_status(
        create_err(bad_param.to_string()).await,
        Code::InvalidArgument,
        &["actions[0].params.count"],
    );
    let mut bad_command = spec("bad command");
    bad_command["actions"][0]["command"] = json!("ping.nope");
    assert_status(
        create_err(bad_command.to_string()).await,
        Code::InvalidArgument,
        &["actions[0].command"],
    );
    let mut bad_cidr = spec("bad cidr");
    bad_cidr["targets"] = json!({"include": [{"type": "range", "value": "10.0.0.0/33"}]});
    assert_status(
        create_err(bad_cidr.to_string()).await,
        Code::InvalidArgument,
        &["targets"],
    );
    let mut bad_cron = spec("bad cron");
    bad_cron["schedule"] = json!({"type": "cron", "expression": "61 * * * *"});
    assert_status(
        create_err(bad_cron.to_string()).await,
        Code::InvalidArgument,
        &["schedule"],
    );
    assert_status(
        create_err(spec("existing").to_string()).await,
        Code::AlreadyExists,
        &["existing"],
    );

    // Updates are validated the same way and leave the job as it was.
    assert_status(
        jobs.update_job(v1::UpdateJobRequest {
            id: job.id.clone(),
            spec_json: bad_param.to_string(),
            expected_version: Some(1),
        })
        .await,
        Code::InvalidArgument,
        &["actions[0].params.count"],
    );

    // Malformed ids name the request field.
    assert_status(
        jobs.get_job(v1::GetJobRequest {
            id: "not-a-uuid".to_owned(),
        })
        .await,
        Code::InvalidArgument,
        &["id", "not-a-uuid"],
    );
    assert_status(
        jobs.run_job(v1::RunJobRequest {
            job_id: "42".to_owned(),
        })
        .await,
        Code::InvalidArgument,
        &["job_id"],
    );
    assert_status(
        jobs.list_results(v1::ListResultsRequest {
            run_id: Some("x".to_owned()),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["run_id"],
    );
    // Enum values outside the proto's, page sizes, cursors, time ranges.
    assert_status(
        jobs.list_runs(v1::ListRunsRequest {
            status: 99,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["status"],
    );
    assert_status(
        jobs.list_results(v1::ListResultsRequest {
            status: 99,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["status"],
    );
    assert_status(
        jobs.list_jobs(v1::ListJobsRequest {
            limit: 1_000_000,
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["limit"],
    );
    assert_status(
        jobs.list_jobs(v1::ListJobsRequest {
            cursor: "zz".to_owned(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["cursor"],
    );
    let t = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    assert_status(
        jobs.list_results(v1::ListResultsRequest {
            from: Some(t(2_000_000_000)),
            to: Some(t(1_000_000_000)),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["to"],
    );
    assert_status(
        jobs.list_results(v1::ListResultsRequest {
            from: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: -5,
            }),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        &["from"],
    );
    let long_reason = "x".repeat(2000);
    let run = jobs
        .run_job(v1::RunJobRequest {
            job_id: job.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_status(
        jobs.cancel_run(v1::CancelRunRequest {
            id: run.id.clone(),
            reason: Some(long_reason),
        })
        .await,
        Code::InvalidArgument,
        &["reason"],
    );

    // Nothing of it reached the store.
    let stored = app.store.get_job(job.id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.version, 1);
    let listed = jobs
        .list_jobs(v1::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.items.len(), 1);
    let still = jobs
        .get_run(v1::GetRunRequest { id: run.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.status(), v1::RunStatus::Queued);
    app.stop().await;
}

#[tokio::test]
async fn grpc_unknown_ids_are_not_found_on_every_method() {
    let app = GrpcApp::start().await;
    let mut jobs = app.jobs().await;
    let id = unknown_id();
    let spec_json = spec("ghost").to_string();
    let nf = Code::NotFound;
    assert_status(
        jobs.get_job(v1::GetJobRequest { id: id.clone() }).await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.update_job(v1::UpdateJobRequest {
            id: id.clone(),
            spec_json,
            expected_version: None,
        })
        .await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.delete_job(v1::DeleteJobRequest {
            id: id.clone(),
            expected_version: None,
        })
        .await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.clone_job(v1::CloneJobRequest {
            id: id.clone(),
            name: None,
        })
        .await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.set_job_enabled(v1::SetJobEnabledRequest {
            id: id.clone(),
            enabled: true,
        })
        .await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.run_job(v1::RunJobRequest { job_id: id.clone() }).await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.get_run(v1::GetRunRequest { id: id.clone() }).await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.cancel_run(v1::CancelRunRequest {
            id: id.clone(),
            reason: None,
        })
        .await,
        nf,
        &[&id],
    );
    assert_status(
        jobs.watch_run(v1::WatchRunRequest { id: id.clone() }).await,
        nf,
        &[&id],
    );
    // Results of an unknown run: the run is named as missing; a job filter by an unknown
    // id simply matches nothing.
    assert_status(
        jobs.list_results(v1::ListResultsRequest {
            run_id: Some(id.clone()),
            ..Default::default()
        })
        .await,
        nf,
        &[&id],
    );
    let results = jobs
        .list_results(v1::ListResultsRequest {
            job_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(results.items.is_empty());
    let runs = jobs
        .list_runs(v1::ListRunsRequest {
            job_id: Some(id),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(runs.items.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn grpc_libraries_are_listed_previewed_tested_and_jobs_validated() {
    let app = GrpcApp::start().await;
    let mut library = app.library().await;

    let commands = library
        .list_commands(v1::ListCommandsRequest {})
        .await
        .unwrap()
        .into_inner()
        .commands;
    let ping = commands
        .iter()
        .find(|c| c.id == "ping.icmp")
        .expect("ping.icmp is shipped");
    assert_eq!(ping.kind, "ping");
    assert_eq!(
        ping.origin.as_ref().map(|o| o.file.as_str()),
        Some("commandLibrary.json")
    );
    let definition: Value = serde_json::from_str(&ping.definition_json).unwrap();
    assert_eq!(
        definition["params_schema"]["properties"]["count"]["default"],
        3
    );

    let parsers = library
        .list_parsers(v1::ListParsersRequest {})
        .await
        .unwrap()
        .into_inner()
        .parsers;
    assert!(parsers.iter().any(|p| p.id == "ping.stats"), "{parsers:?}");
    let sources = library
        .list_target_sources(v1::ListTargetSourcesRequest {})
        .await
        .unwrap()
        .into_inner()
        .target_sources;
    assert!(!sources.is_empty());
    assert!(sources.iter().all(|s| !s.selector.is_empty()));

    let preview = library
        .preview_command(v1::PreviewCommandRequest {
            command: "ping.icmp".to_owned(),
            params_json: json!({"count": 5}).to_string(),
            target: Some("192.0.2.7".to_owned()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.kind, "ping");
    assert!(preview.text.contains("-c 5"), "{}", preview.text);
    assert!(preview.text.ends_with("192.0.2.7"), "{}", preview.text);
    let params: Value = serde_json::from_str(&preview.params_json).unwrap();
    assert_eq!(params["ttl"], 64, "defaults are filled in");
    let placeholder = library
        .preview_command(v1::PreviewCommandRequest {
            command: "ping.icmp".to_owned(),
            params_json: String::new(),
            target: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(placeholder.text.contains("-c 3"), "{}", placeholder.text);
    assert_status(
        library
            .preview_command(v1::PreviewCommandRequest {
                command: "ping.icmp".to_owned(),
                params_json: json!({"count": "many"}).to_string(),
                target: None,
            })
            .await,
        Code::InvalidArgument,
        &["count"],
    );
    assert_status(
        library
            .preview_command(v1::PreviewCommandRequest {
                command: "ping.icmp".to_owned(),
                params_json: "[1]".to_owned(),
                target: None,
            })
            .await,
        Code::InvalidArgument,
        &["params_json"],
    );
    assert_status(
        library
            .preview_command(v1::PreviewCommandRequest {
                command: "nope".to_owned(),
                params_json: String::new(),
                target: None,
            })
            .await,
        Code::InvalidArgument,
        &["command", "nope"],
    );

    let sample = "3 packets transmitted, 3 received, 0% packet loss, time 2003ms\n\
                  rtt min/avg/max/mdev = 0.030/0.042/0.055/0.010 ms\n";
    let parsed = library
        .test_parser(v1::TestParserRequest {
            parser: Some(v1::test_parser_request::Parser::ParserId(
                "ping.stats".to_owned(),
            )),
            sample: sample.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(parsed.errors.is_empty(), "{parsed:?}");
    let fields: Value = serde_json::from_str(&parsed.fields_json).unwrap();
    assert_eq!(fields["sent"], 3);
    assert_eq!(fields["rtt_avg_ms"], 0.042);

    let inline = json!({
        "id": "test.kv", "name": "kv",
        "extract": {"type": "regex", "pattern": "load=(?P<load>[0-9.]+)", "mode": "first"},
        "fields": {"load": {"from": "load", "type": "float"}}
    });
    let parsed = library
        .test_parser(v1::TestParserRequest {
            parser: Some(v1::test_parser_request::Parser::DefinitionJson(
                inline.to_string(),
            )),
            sample: "cpu load=0.75".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let fields: Value = serde_json::from_str(&parsed.fields_json).unwrap();
    assert_eq!(fields["load"], 0.75, "{parsed:?}");
    let broken = json!({
        "id": "test.bad", "name": "bad",
        "extract": {"type": "regex", "pattern": "(unclosed", "mode": "first"}
    });
    assert_status(
        library
            .test_parser(v1::TestParserRequest {
                parser: Some(v1::test_parser_request::Parser::DefinitionJson(
                    broken.to_string(),
                )),
                sample: "x".to_owned(),
            })
            .await,
        Code::InvalidArgument,
        &["definition"],
    );
    assert_status(
        library
            .test_parser(v1::TestParserRequest {
                parser: Some(v1::test_parser_request::Parser::ParserId("nope".to_owned())),
                sample: "x".to_owned(),
            })
            .await,
        Code::InvalidArgument,
        &["parser", "nope"],
    );
    assert_status(
        library
            .test_parser(v1::TestParserRequest {
                parser: None,
                sample: "x".to_owned(),
            })
            .await,
        Code::InvalidArgument,
        &["parser"],
    );

    let valid = library
        .validate_job(v1::ValidateJobRequest {
            spec_json: spec("valid").to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(valid.valid && valid.errors.is_empty(), "{valid:?}");
    let mut invalid = spec("");
    invalid["actions"][0]["params"]["count"] = json!(0);
    let checked = library
        .validate_job(v1::ValidateJobRequest {
            spec_json: invalid.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!checked.valid);
    let fields: Vec<&str> = checked.errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"name"), "{checked:?}");
    assert!(fields.contains(&"actions[0].params.count"), "{checked:?}");
    let malformed = library
        .validate_job(v1::ValidateJobRequest {
            spec_json: "{\"name\": 5}".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!malformed.valid);
    assert_eq!(malformed.errors[0].field, "name", "{malformed:?}");
    // Validation stores nothing.
    let mut jobs = app.jobs().await;
    let listed = jobs
        .list_jobs(v1::ListJobsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.items.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn grpc_agents_are_listed_with_their_liveness() {
    let app = GrpcApp::start().await;
    let mut fleet = app.fleet().await;
    let empty = fleet
        .list_agents(v1::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(empty.agents.is_empty());

    let segment = opsconductor_core::model::Segment::new("default".to_owned(), Vec::new()).unwrap();
    app.store.upsert_segment(&segment).await.unwrap();
    let token = app
        .store
        .create_enrollment_token("default", Duration::from_secs(600))
        .await
        .unwrap();
    let registered = AgentServiceClient::new(app.channel().await)
        .register(v1::RegisterRequest {
            enrollment_token: token,
            name: "probe-1".to_owned(),
            version: "0.1.0".to_owned(),
            capabilities: vec!["ping".to_owned()],
        })
        .await
        .unwrap()
        .into_inner();
    let agents = fleet
        .list_agents(v1::ListAgentsRequest {})
        .await
        .unwrap()
        .into_inner()
        .agents;
    assert_eq!(agents.len(), 1);
    let agent = &agents[0];
    assert_eq!(agent.id, registered.agent_id);
    assert_eq!(agent.name, "probe-1");
    assert_eq!(agent.segment, "default");
    assert_eq!(agent.capabilities, ["ping"]);
    assert!(agent.registered_at.is_some());
    app.stop().await;
}

#[tokio::test]
async fn grpc_health_reports_every_service_serving_and_reflection_lists_them() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let app = GrpcApp::start().await;
    let mut health = HealthClient::new(app.channel().await);
    let services = [
        "",
        "opsconductor.v1.AgentService",
        "opsconductor.v1.JobService",
        "opsconductor.v1.LibraryService",
        "opsconductor.v1.FleetService",
        "opsconductor.v1.InventoryService",
    ];
    for service in services {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service:?}");
    }
    assert_status(
        health
            .check(HealthCheckRequest {
                service: "opsconductor.v1.Nope".to_owned(),
            })
            .await,
        Code::NotFound,
        &[],
    );

    let expected = [
        "grpc.health.v1.Health",
        "opsconductor.v1.AgentService",
        "opsconductor.v1.FleetService",
        "opsconductor.v1.InventoryService",
        "opsconductor.v1.JobService",
        "opsconductor.v1.LibraryService",
    ];
    // v1
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

        let ask = |request: MessageRequest| ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        let mut client = ServerReflectionClient::new(app.channel().await);
        let answers: Vec<ServerReflectionResponse> = client
            .server_reflection_info(tokio_stream::iter([
                ask(MessageRequest::ListServices(String::new())),
                ask(MessageRequest::FileContainingSymbol(
                    "opsconductor.v1.JobService".to_owned(),
                )),
            ]))
            .await
            .unwrap()
            .into_inner()
            .map(|r| r.unwrap())
            .collect()
            .await;
        let Some(MessageResponse::ListServicesResponse(list)) = &answers[0].message_response else {
            panic!("a service list: {:?}", answers[0]);
        };
        let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        for name in expected {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let Some(MessageResponse::FileDescriptorResponse(files)) = &answers[1].message_response
        else {
            panic!("a file descriptor: {:?}", answers[1]);
        };
        assert!(!files.file_descriptor_proto.is_empty());
    }
    // v1alpha, which older grpcurl builds still ask.
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

        let mut client = ServerReflectionClient::new(app.channel().await);
        let answers: Vec<_> = client
            .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            }]))
            .await
            .unwrap()
            .into_inner()
            .map(|r| r.unwrap())
            .collect()
            .await;
        let Some(MessageResponse::ListServicesResponse(list)) = &answers[0].message_response else {
            panic!("a service list: {:?}", answers[0]);
        };
        let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        for name in expected {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
    app.stop().await;
}
