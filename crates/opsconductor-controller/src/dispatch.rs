//! Job → run: expand the targets, route them to segments, cut chunks, and write the run,
//! its chunks and their outbox rows in one transaction.
//!
//! Planning ([`plan_run`]) is pure so it is tested without a database; [`Dispatcher`] adds
//! the store write and wakes the relay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::error::ValidationError;
use opsconductor_core::ids::{ChunkId, JobId, RunId};
use opsconductor_core::library::Library;
use opsconductor_core::model::{Job, Run, RunTrigger, Schedule, Segment};
use opsconductor_core::targets::TargetSpec;
use opsconductor_core::targets::{self, GroupResolver, SegmentRouter};
use opsconductor_proto::v1;
use opsconductor_store::prelude::*;
use opsconductor_store::{NewChunk, NewRun, StoreError};
use prost::Message as _;
use tokio::sync::Notify;

use crate::catalog::LibraryCatalog;
use crate::error::ControllerError;
use crate::events::EventBus;

/// Floor of a run's deadline: even a one-target run gets this long to be picked up.
const MIN_RUN_DEADLINE: Duration = Duration::from_secs(60);
/// Ceiling of a derived run deadline.
const MAX_RUN_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// A run ready to be written: the run row's facts and every chunk with its payload.
#[derive(Debug)]
pub struct RunPlan {
    /// The run's id.
    pub run_id: RunId,
    /// (target, action) pairs: the run's expected result count.
    pub total: u64,
    /// Targets after expansion and de-duplication.
    pub target_count: u64,
    /// When unfinished targets become timeouts.
    pub deadline_at: DateTime<Utc>,
    /// Chunks in publish order.
    pub chunks: Vec<NewChunk>,
}

/// Plans a run of `job`: resolves its actions against the library (for the wire), expands
/// its targets (inventory groups through `groups`, resolved as the run starts), routes
/// them and encodes one `ChunkWork` per chunk.
pub fn plan_run(
    job: &Job,
    library: &Library,
    segments: &[Segment],
    default_segment: &str,
    groups: &dyn GroupResolver,
    now: DateTime<Utc>,
) -> Result<RunPlan, ControllerError> {
    let run_id = RunId::new();
    let actions = wire_actions(job, library)?;
    let expanded =
        targets::expand(&job.spec.targets, groups).map_err(|e| prefix_errors("targets", e))?;
    if expanded.is_empty() {
        return Err(ControllerError::field(
            "targets",
            "selects no target (everything is excluded)",
        ));
    }
    let router = SegmentRouter::new(segments, default_segment);
    let override_segment = job.spec.options.segment.as_deref();
    if let Some(segment) = override_segment
        && !router.knows(segment)
    {
        return Err(ControllerError::field(
            "options.segment",
            format!("unknown segment {segment:?}"),
        ));
    }
    let options = &job.spec.options;
    let deadline = run_deadline(
        expanded.len(),
        options.concurrency,
        options.target_timeout_ms,
        options.run_deadline_seconds,
    );
    let deadline_at = chrono::Duration::from_std(deadline)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| ControllerError::field("options.run_deadline_seconds", "too large"))?;
    let chunk_size = usize::try_from(options.chunk_size).unwrap_or(usize::MAX);
    let mut chunks = Vec::new();
    for (segment, part) in router.split_with_override(&expanded, override_segment) {
        for targets in part.chunks(chunk_size) {
            let id = ChunkId::new();
            let targets: Vec<String> = targets.iter().map(ToString::to_string).collect();
            let work = v1::ChunkWork {
                chunk_id: id.to_string(),
                run_id: run_id.to_string(),
                job_id: job.id.to_string(),
                segment: segment.clone(),
                targets: targets.clone(),
                actions: actions.clone(),
                concurrency: options.concurrency,
                target_timeout_ms: u32::try_from(options.target_timeout_ms).unwrap_or(u32::MAX),
                run_deadline_unix_ms: deadline_at.timestamp_millis(),
                require_first_ok: options.require_first_ok,
            };
            chunks.push(NewChunk {
                id,
                segment: segment.clone(),
                seq: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                targets,
                action_count: u32::try_from(actions.len()).unwrap_or(u32::MAX),
                payload: work.encode_to_vec(),
            });
        }
    }
    let action_count = actions.len() as u64;
    Ok(RunPlan {
        run_id,
        total: expanded.len() * action_count,
        target_count: expanded.len(),
        deadline_at,
        chunks,
    })
}

/// The job's actions as the agent needs them: params with defaults, parser definitions
/// and criteria inline, so the agent needs no library of its own and a run keeps the
/// definitions it started with even if the library changes mid-run.
fn wire_actions(job: &Job, library: &Library) -> Result<Vec<v1::ChunkAction>, ControllerError> {
    let mut problems = Vec::new();
    let mut actions = Vec::with_capacity(job.spec.actions.len());
    for (i, spec) in job.spec.actions.iter().enumerate() {
        let resolved = match library.resolve_action(spec) {
            Ok(r) => r,
            Err(e) => {
                problems.extend(prefix_errors(&format!("actions[{i}]"), e).errors());
                continue;
            }
        };
        let parsers: Vec<_> = resolved.parsers.iter().map(|p| &p.def).collect();
        let criteria = spec
            .criteria
            .clone()
            .unwrap_or_else(|| resolved.command.def.criteria.clone());
        actions.push(v1::ChunkAction {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            command_id: resolved.command.def.id.clone(),
            kind: resolved.command.def.kind.as_str().to_owned(),
            params_json: serde_json::Value::Object(resolved.params.clone()).to_string(),
            parsers_json: serde_json::to_string(&parsers)
                .map_err(|e| ControllerError::Internal(format!("encoding parsers: {e}")))?,
            criteria_json: serde_json::to_string(&criteria)
                .map_err(|e| ControllerError::Internal(format!("encoding criteria: {e}")))?,
            timeout_ms: u32::try_from(resolved.timeout_ms).unwrap_or(u32::MAX),
            credential_id: spec.credential.map(|c| c.to_string()),
        });
    }
    if problems.is_empty() {
        Ok(actions)
    } else {
        Err(ControllerError::Invalid(ValidationError {
            errors: problems,
        }))
    }
}

fn prefix_errors(prefix: &str, e: ValidationError) -> ControllerError {
    ControllerError::Invalid(ValidationError {
        errors: e
            .errors
            .into_iter()
            .map(|mut fe| {
                fe.field = opsconductor_core::error::join_path(prefix, &fe.field);
                fe
            })
            .collect(),
    })
}

impl ControllerError {
    fn errors(self) -> Vec<opsconductor_core::error::FieldError> {
        match self {
            Self::Invalid(v) => v.errors,
            other => vec![opsconductor_core::error::FieldError {
                field: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

/// How long a run may take before its unfinished targets become timeouts: the job's own
/// setting, or enough for every target to run twice over at the job's concurrency (room
/// for one redelivery), clamped to [1 minute, 24 hours].
pub fn run_deadline(
    targets: u64,
    concurrency: u32,
    target_timeout_ms: u64,
    explicit_seconds: Option<u64>,
) -> Duration {
    if let Some(seconds) = explicit_seconds {
        return Duration::from_secs(seconds);
    }
    let waves = targets.div_ceil(u64::from(concurrency.max(1)));
    let derived = Duration::from_millis(target_timeout_ms.saturating_mul(waves).saturating_mul(2));
    (derived + MIN_RUN_DEADLINE).min(MAX_RUN_DEADLINE)
}

/// A schedule fire to turn into a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledFire {
    /// The job.
    pub job_id: JobId,
    /// The fire time (the run's `scheduled_for`).
    pub fire_time: DateTime<Utc>,
    /// [`RunTrigger::Schedule`] or [`RunTrigger::CatchUp`].
    pub trigger: RunTrigger,
}

/// Starts runs: plans them against the current library and segments, writes them, and
/// wakes the relay.
#[derive(Clone)]
pub struct Dispatcher {
    store: SharedStore,
    catalog: LibraryCatalog,
    default_segment: String,
    relay_wake: Arc<Notify>,
    events: EventBus,
}

impl Dispatcher {
    /// A dispatcher writing to `store` and waking `relay_wake` after each run. It tells no
    /// one about new runs until given a bus with [`Dispatcher::with_events`].
    pub fn new(
        store: SharedStore,
        library: Arc<Library>,
        default_segment: String,
        relay_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            catalog: LibraryCatalog::fixed(Arc::unwrap_or_clone(library)),
            default_segment,
            relay_wake,
            events: EventBus::default(),
        }
    }

    /// Plans against `catalog` (which user-defined entries change at run time) instead of
    /// the fixed library given to [`Dispatcher::new`].
    #[must_use]
    pub fn with_catalog(mut self, catalog: LibraryCatalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// Announces every run it creates on `events`, so watchers of the job see it appear.
    /// (A builder rather than a `new` argument: tools and tests that only start runs need
    /// no bus.)
    #[must_use]
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = events;
        self
    }

    /// The libraries as they are now (runs are planned against this version).
    pub fn library(&self) -> Arc<Library> {
        self.catalog.current()
    }

    /// The libraries, with their user-defined entries.
    pub fn catalog(&self) -> &LibraryCatalog {
        &self.catalog
    }

    /// Where run changes are announced (watchers of runs and jobs).
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Where targets outside every segment's CIDRs go.
    pub fn default_segment(&self) -> &str {
        &self.default_segment
    }

    /// Creates a run of `job_id` now and queues its chunks for publishing.
    #[tracing::instrument(skip_all, fields(job.id = %job_id))]
    pub async fn start_run(
        &self,
        job_id: JobId,
        trigger: RunTrigger,
    ) -> Result<Run, ControllerError> {
        let job = self.store.get_job(job_id).await?;
        self.create(&job, trigger, None).await
    }

    /// Creates the run of a schedule fire: like [`Dispatcher::start_run`], with the fire
    /// time as the run's `scheduled_for`. Returns `None` (and creates nothing) when the job
    /// was removed, disabled or made manual since the scheduler read it. Fails with
    /// [`ControllerError::AlreadyExists`] when the fire has a run already — another
    /// scheduler fired it — which is what makes a stale leader harmless.
    #[tracing::instrument(skip_all, fields(job.id = %job_id, fire_time = %fire_time))]
    pub async fn start_scheduled_run(
        &self,
        job_id: JobId,
        fire_time: DateTime<Utc>,
        trigger: RunTrigger,
    ) -> Result<Option<Run>, ControllerError> {
        let fire = ScheduledFire {
            job_id,
            fire_time,
            trigger,
        };
        self.start_scheduled_runs(&[fire])
            .await
            .pop()
            .unwrap_or(Ok(None))
    }

    /// [`Dispatcher::start_scheduled_run`] for many fires at once, one outcome per fire in
    /// order: the jobs are read in one query and the runs written in one transaction, so a
    /// burst of fires (every job on "every minute") costs a few statements, not five per
    /// run.
    #[tracing::instrument(skip_all, fields(fires = fires.len()))]
    pub async fn start_scheduled_runs(
        &self,
        fires: &[ScheduledFire],
    ) -> Vec<Result<Option<Run>, ControllerError>> {
        let ids: Vec<JobId> = fires.iter().map(|f| f.job_id).collect();
        let read = async {
            let jobs = self.store.jobs_by_ids(&ids).await?;
            let segments = self.store.list_segments().await?;
            let specs: Vec<&TargetSpec> = jobs.iter().map(|j| &j.spec.targets).collect();
            let groups = crate::inventory::groups_for(&*self.store, &specs).await?;
            Ok::<_, StoreError>((jobs, segments, groups))
        };
        let (jobs, segments, groups) = match read.await {
            Ok(read) => read,
            Err(e) => return fires.iter().map(|_| Err(e.clone().into())).collect(),
        };
        let jobs: HashMap<JobId, Job> = jobs.into_iter().map(|j| (j.id, j)).collect();
        let now = Utc::now();
        let library = self.catalog.current();
        let mut outcomes: Vec<Option<Result<Option<Run>, ControllerError>>> =
            fires.iter().map(|_| None).collect();
        let mut new_runs = Vec::with_capacity(fires.len());
        // (position in `fires`, chunk count) of each run in `new_runs`.
        let mut placed = Vec::with_capacity(fires.len());
        for (i, fire) in fires.iter().enumerate() {
            let job = match jobs.get(&fire.job_id) {
                Some(job) if job.spec.enabled && job.spec.schedule != Schedule::Manual => job,
                _ => {
                    outcomes[i] = Some(Ok(None));
                    continue;
                }
            };
            match plan_run(
                job,
                &library,
                &segments,
                &self.default_segment,
                &groups,
                now,
            ) {
                Ok(plan) => {
                    placed.push((i, plan.chunks.len()));
                    new_runs.push(NewRun {
                        id: plan.run_id,
                        job_id: job.id,
                        job_version: job.version,
                        trigger: fire.trigger,
                        scheduled_for: fire.fire_time,
                        created_at: now,
                        deadline_at: plan.deadline_at,
                        job_spec: job.spec.clone(),
                        chunks: plan.chunks,
                    });
                }
                Err(e) => outcomes[i] = Some(Err(e)),
            }
        }
        let written = match self.store.create_runs(&new_runs).await {
            Ok(written) => written,
            Err(e) => {
                // One bad run (its job deleted meanwhile) fails the batch: write them one
                // by one so only that one fails.
                tracing::debug!(error = %e, runs = new_runs.len(), "batch run write failed; writing one by one");
                let mut one_by_one = Vec::with_capacity(new_runs.len());
                for new in &new_runs {
                    one_by_one.push(self.store.create_run(new).await);
                }
                one_by_one
            }
        };
        let mut created = 0;
        for (outcome, (i, chunks)) in written.into_iter().zip(placed) {
            outcomes[i] = Some(match outcome {
                Ok(run) => {
                    crate::metrics::runs_started(chunks);
                    tracing::debug!(run.id = %run.id, job.id = %run.job_id, chunks, "scheduled run dispatched");
                    created += 1;
                    self.events.run_changed(run.id);
                    Ok(Some(run))
                }
                Err(e) => Err(e.into()),
            });
        }
        if created > 0 {
            tracing::info!(runs = created, "scheduled runs dispatched");
            self.relay_wake.notify_one();
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Ok(None)))
            .collect()
    }

    /// Plans and writes a run of `job`; `scheduled_for` defaults to now.
    async fn create(
        &self,
        job: &Job,
        trigger: RunTrigger,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> Result<Run, ControllerError> {
        let segments = self.store.list_segments().await?;
        let groups = crate::inventory::groups_for(&*self.store, &[&job.spec.targets]).await?;
        let now = Utc::now();
        let plan = plan_run(
            job,
            &self.catalog.current(),
            &segments,
            &self.default_segment,
            &groups,
            now,
        )?;
        let run_id = plan.run_id;
        let chunk_count = plan.chunks.len();
        let new_run = NewRun {
            id: plan.run_id,
            job_id: job.id,
            job_version: job.version,
            trigger,
            scheduled_for: scheduled_for.unwrap_or(now),
            created_at: now,
            deadline_at: plan.deadline_at,
            job_spec: job.spec.clone(),
            chunks: plan.chunks,
        };
        let run = self.store.create_run(&new_run).await?;
        crate::metrics::runs_started(chunk_count);
        tracing::info!(run.id = %run_id, chunks = chunk_count, targets = plan.target_count, "run dispatched");
        self.relay_wake.notify_one();
        self.events.run_changed(run.id);
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opsconductor_core::model::JobSpec;
    use serde_json::json;

    fn library() -> Library {
        Library::load_dir(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"),
        )
        .expect("shipped libraries load")
    }

    fn job(spec: serde_json::Value) -> Job {
        let spec: JobSpec = serde_json::from_value(spec).expect("job spec");
        Job {
            id: JobId::new(),
            version: 3,
            spec,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn segments() -> Vec<Segment> {
        vec![
            Segment::new("a", vec!["127.0.0.0/24".parse().expect("cidr")]).expect("segment"),
            Segment::new("b", vec!["127.0.1.0/24".parse().expect("cidr")]).expect("segment"),
        ]
    }

    #[test]
    fn targets_are_routed_to_their_segments_and_cut_into_chunks() {
        let job = job(json!({
            "name": "sweep",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "range", "value": "127.0.0.0/23"}]},
            "actions": [{"command": "ping.icmp"}],
            "options": {"chunk_size": 100}
        }));
        let plan = plan_run(
            &job,
            &library(),
            &segments(),
            "default",
            &targets::NoGroups,
            Utc::now(),
        )
        .expect("plans");
        // A /23 without its network and broadcast addresses.
        assert_eq!(plan.target_count, 510);
        assert_eq!(plan.total, 510);
        let per_segment = |name: &str| -> usize {
            plan.chunks
                .iter()
                .filter(|c| c.segment == name)
                .map(|c| c.targets.len())
                .sum()
        };
        assert_eq!(per_segment("a"), 255);
        assert_eq!(per_segment("b"), 255);
        assert!(plan.chunks.iter().all(|c| c.targets.len() <= 100));
        let first = v1::ChunkWork::decode(plan.chunks[0].payload.as_slice()).expect("decodes");
        assert_eq!(first.chunk_id, plan.chunks[0].id.to_string());
        assert_eq!(first.actions[0].kind, "ping");
        assert!(first.targets.iter().all(|t| t.starts_with("127.0.0.")));
    }

    #[test]
    fn an_override_to_an_unknown_segment_is_refused_by_field() {
        let job = job(json!({
            "name": "x",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
            "actions": [{"command": "ping.icmp"}],
            "options": {"segment": "nowhere"}
        }));
        let err = plan_run(
            &job,
            &library(),
            &segments(),
            "default",
            &targets::NoGroups,
            Utc::now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("options.segment"), "{err}");
    }

    #[test]
    fn the_derived_deadline_allows_a_redelivery_and_is_clamped() {
        assert_eq!(run_deadline(1, 256, 10_000, None), Duration::from_secs(80));
        assert_eq!(run_deadline(10, 1, 1_000, Some(5)), Duration::from_secs(5));
        assert_eq!(run_deadline(u64::MAX, 1, 600_000, None), MAX_RUN_DEADLINE);
    }
}
