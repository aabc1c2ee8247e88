//! Runs: creation with their chunks and outbox rows, reads, cancellation and the deadline
//! sweep.
//!
//! Status and trigger are stored under the serde names of the core enums. A run ends
//! `completed` when every expected (target, action) has a result — real, or filled in as
//! an error (cancel, dead letter) or a timeout (deadline); how it went is in its counters.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, ChunkId, JobId, RunId};
use opsconductor_core::model::{JobSpec, ResultStatus, Run, RunCounters, RunStatus, RunTrigger};
use sqlx::types::Json;
use uuid::Uuid;

use crate::PgStore;
use crate::chunks::ChunkRef;
use crate::error::{StoreError, db};
use crate::results::{FillScope, fill_missing};

/// Reason recorded on every result the deadline sweep fills in.
pub(crate) const DEADLINE_RESULT_REASON: &str =
    "run deadline passed before this target was executed";

/// A run to create, with all of its chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// Id.
    pub id: RunId,
    /// The job.
    pub job_id: JobId,
    /// The job version it runs.
    pub job_version: i64,
    /// What fired it.
    pub trigger: RunTrigger,
    /// The fire time it stands for; unique per job for scheduled runs.
    pub scheduled_for: DateTime<Utc>,
    /// Creation time; also decides which daily partition holds the run's results.
    pub created_at: DateTime<Utc>,
    /// Past this, the sweep records the unfinished targets as timeouts.
    pub deadline_at: DateTime<Utc>,
    /// The job as it is now, kept with the run.
    pub job_spec: JobSpec,
    /// The work, cut into chunks. The run's expected total is derived from them
    /// (Σ targets × action count), so the two cannot disagree.
    pub chunks: Vec<NewChunk>,
}

/// One chunk of a new run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    /// Id (the AMQP message id).
    pub id: ChunkId,
    /// The segment whose queue it goes to.
    pub segment: String,
    /// Position within the run (unique per run).
    pub seq: u32,
    /// Its targets, unique within the run.
    pub targets: Vec<String>,
    /// Actions run on each target.
    pub action_count: u32,
    /// The message body (protobuf `ChunkWork`), opaque to the store.
    pub payload: Vec<u8>,
}

/// What [`PgStore::list_runs`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job_id: Option<JobId>,
    /// Only runs in this state.
    pub status: Option<RunStatus>,
    /// Continue with runs created before this (created_at, id) key.
    pub before: Option<(DateTime<Utc>, RunId)>,
    /// Page size, 1..=[`crate::MAX_PAGE`].
    pub limit: u32,
}

/// The storage name of a run status (the core enum's serde name).
pub(crate) fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Queued => "queued",
        RunStatus::Running => "running",
        RunStatus::Completed => "completed",
        RunStatus::Cancelled => "cancelled",
        RunStatus::Failed => "failed",
    }
}

pub(crate) fn parse_status(name: &str) -> Result<RunStatus, StoreError> {
    Ok(match name {
        "queued" => RunStatus::Queued,
        "running" => RunStatus::Running,
        "completed" => RunStatus::Completed,
        "cancelled" => RunStatus::Cancelled,
        "failed" => RunStatus::Failed,
        other => return Err(StoreError::other(format!("unknown run status {other:?}"))),
    })
}

/// The storage name of a trigger (the core enum's serde name).
pub(crate) fn trigger_name(trigger: RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Schedule => "schedule",
        RunTrigger::Manual => "manual",
        RunTrigger::CatchUp => "catch_up",
    }
}

pub(crate) fn parse_trigger(name: &str) -> Result<RunTrigger, StoreError> {
    Ok(match name {
        "schedule" => RunTrigger::Schedule,
        "manual" => RunTrigger::Manual,
        "catch_up" => RunTrigger::CatchUp,
        other => return Err(StoreError::other(format!("unknown run trigger {other:?}"))),
    })
}

/// The columns of [`RunRow`], as a literal so queries stay `&'static str`.
macro_rules! run_columns {
    () => {
        "id, job_id, job_version, status, trigger, scheduled_for, created_at, deadline_at,
         started_at, finished_at, total, ok, warn, fail, error, timeout, reason"
    };
}
pub(crate) use run_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    pub(crate) id: Uuid,
    pub(crate) job_id: Uuid,
    job_version: i64,
    status: String,
    trigger: String,
    scheduled_for: DateTime<Utc>,
    created_at: DateTime<Utc>,
    deadline_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    total: i64,
    ok: i64,
    warn: i64,
    fail: i64,
    error: i64,
    timeout: i64,
    reason: Option<String>,
}

impl TryFrom<RunRow> for Run {
    type Error = StoreError;

    fn try_from(row: RunRow) -> Result<Self, StoreError> {
        // CHECK constraints keep every counter ≥ 0.
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        Ok(Self {
            id: RunId::from_uuid(row.id),
            job_id: JobId::from_uuid(row.job_id),
            job_version: row.job_version,
            status: parse_status(&row.status)?,
            trigger: parse_trigger(&row.trigger)?,
            scheduled_for: row.scheduled_for,
            created_at: row.created_at,
            deadline_at: row.deadline_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            counters: RunCounters {
                total: count(row.total),
                ok: count(row.ok),
                warn: count(row.warn),
                failed: count(row.fail),
                error: count(row.error),
                timeout: count(row.timeout),
            },
            reason: row.reason,
        })
    }
}

/// The chunks of a new run as column arrays for one `UNNEST` insert. The targets of all
/// chunks are one flat array; each chunk takes its slice of it.
pub(crate) struct ChunkColumns<'a> {
    pub(crate) id: Vec<Uuid>,
    pub(crate) segment: Vec<&'a str>,
    pub(crate) seq: Vec<i32>,
    pub(crate) target_from: Vec<i32>,
    pub(crate) target_count: Vec<i32>,
    pub(crate) action_count: Vec<i32>,
    pub(crate) payload: Vec<&'a [u8]>,
    pub(crate) targets: Vec<&'a str>,
    /// Expected results of the run.
    pub(crate) total: u64,
}

impl<'a> ChunkColumns<'a> {
    pub(crate) fn new(chunks: &'a [NewChunk]) -> Result<Self, StoreError> {
        let too_big = |what: &str| StoreError::invalid(format!("{what} does not fit the store"));
        let mut columns = Self {
            id: Vec::with_capacity(chunks.len()),
            segment: Vec::with_capacity(chunks.len()),
            seq: Vec::with_capacity(chunks.len()),
            target_from: Vec::with_capacity(chunks.len()),
            target_count: Vec::with_capacity(chunks.len()),
            action_count: Vec::with_capacity(chunks.len()),
            payload: Vec::with_capacity(chunks.len()),
            targets: Vec::new(),
            total: 0,
        };
        for chunk in chunks {
            columns.id.push(*chunk.id.as_uuid());
            columns.segment.push(&chunk.segment);
            columns
                .seq
                .push(i32::try_from(chunk.seq).map_err(|_| too_big("chunk seq"))?);
            columns.target_from.push(
                i32::try_from(columns.targets.len()).map_err(|_| too_big("the target count"))?,
            );
            columns
                .target_count
                .push(i32::try_from(chunk.targets.len()).map_err(|_| too_big("the target count"))?);
            columns
                .action_count
                .push(i32::try_from(chunk.action_count).map_err(|_| too_big("the action count"))?);
            columns.payload.push(&chunk.payload);
            columns
                .targets
                .extend(chunk.targets.iter().map(String::as_str));
            columns.total += chunk.targets.len() as u64 * u64::from(chunk.action_count);
        }
        Ok(columns)
    }
}

/// Many runs and all their chunks as column arrays for [`PgStore::create_runs`].
#[derive(Default)]
struct BatchColumns<'a> {
    id: Vec<Uuid>,
    job_id: Vec<Uuid>,
    job_version: Vec<i64>,
    status: Vec<&'static str>,
    trigger: Vec<&'static str>,
    scheduled_for: Vec<DateTime<Utc>>,
    created_at: Vec<DateTime<Utc>>,
    finished_at: Vec<Option<DateTime<Utc>>>,
    deadline_at: Vec<DateTime<Utc>>,
    total: Vec<i64>,
    job_spec: Vec<Json<&'a JobSpec>>,
    /// The run of each chunk in `chunks`.
    chunk_run: Vec<Uuid>,
    chunks: ChunkColumnsOwned<'a>,
}

/// The chunk columns of several runs, targets in one flat array.
#[derive(Default)]
struct ChunkColumnsOwned<'a> {
    id: Vec<Uuid>,
    segment: Vec<&'a str>,
    seq: Vec<i32>,
    target_from: Vec<i32>,
    target_count: Vec<i32>,
    action_count: Vec<i32>,
    payload: Vec<&'a [u8]>,
    targets: Vec<&'a str>,
}

impl<'a> BatchColumns<'a> {
    fn push(&mut self, new: &'a NewRun) -> Result<(), StoreError> {
        let one = ChunkColumns::new(&new.chunks)?;
        let total = i64::try_from(one.total)
            .map_err(|_| StoreError::invalid("the run's result count does not fit the store"))?;
        let offset = i32::try_from(self.chunks.targets.len())
            .map_err(|_| StoreError::invalid("the batch's target count does not fit the store"))?;
        let (status, finished_at) = if one.total == 0 {
            (RunStatus::Completed, Some(new.created_at))
        } else {
            (RunStatus::Queued, None)
        };
        self.id.push(*new.id.as_uuid());
        self.job_id.push(*new.job_id.as_uuid());
        self.job_version.push(new.job_version);
        self.status.push(status_name(status));
        self.trigger.push(trigger_name(new.trigger));
        self.scheduled_for.push(new.scheduled_for);
        self.created_at.push(new.created_at);
        self.finished_at.push(finished_at);
        self.deadline_at.push(new.deadline_at);
        self.total.push(total);
        self.job_spec.push(Json(&new.job_spec));
        self.chunk_run
            .extend(std::iter::repeat_n(*new.id.as_uuid(), one.id.len()));
        let chunks = &mut self.chunks;
        chunks.id.extend(one.id);
        chunks.segment.extend(one.segment);
        chunks.seq.extend(one.seq);
        for from in one.target_from {
            chunks
                .target_from
                .push(from.checked_add(offset).ok_or_else(|| {
                    StoreError::invalid("the batch's target count does not fit the store")
                })?);
        }
        chunks.target_count.extend(one.target_count);
        chunks.action_count.extend(one.action_count);
        chunks.payload.extend(one.payload);
        chunks.targets.extend(one.targets);
        Ok(())
    }
}

/// Runs: creation with their chunks and outbox rows in one transaction, reads, cancellation and deadlines.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Writes a run (queued), all its chunks (pending) and one outbox row per chunk in one
    /// transaction: either the relay will publish every chunk or the run does not exist.
    /// A run with nothing to do is written completed.
    ///
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken or a scheduled run for
    /// the same job and fire time exists (a second scheduler firing the same slot), and
    /// with [`StoreError::NotFound`] when the job does not exist.
    async fn create_run(&self, new: &NewRun) -> Result<Run, StoreError>;

    /// The run with this id, with its live counters.
    async fn get_run(&self, id: RunId) -> Result<Run, StoreError>;

    /// Writes many scheduled runs (with their chunks and outbox rows) in one transaction:
    /// the scheduler's path for a burst of fires, a few statements for the whole batch
    /// instead of five per run. Returns one outcome per run, in order: the run, or
    /// [`StoreError::AlreadyExists`] when its (job, fire time) slot has a run already —
    /// the other runs are written regardless.
    ///
    /// Any other failure (a job that no longer exists, the database) fails the whole batch
    /// and writes nothing; [`PgStore::create_run`] per run then tells which one it was.
    async fn create_runs(
        &self,
        runs: &[NewRun],
    ) -> Result<Vec<Result<Run, StoreError>>, StoreError>;

    /// Runs newest first, filtered, continuing before `filter.before`, at most
    /// `filter.limit`.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError>;

    /// The job as it was when the run fired (what the run actually executed).
    async fn run_job_spec(&self, id: RunId) -> Result<JobSpec, StoreError>;

    /// Every run of `job_id` (any trigger), by fire time then id.
    async fn runs_of_job(&self, job_id: JobId) -> Result<Vec<Run>, StoreError>;

    /// Every run still queued or running, oldest first.
    async fn active_runs(&self) -> Result<Vec<Run>, StoreError>;

    /// Runs that ended (cancelled, completed or failed) within `within`, newest first, at
    /// most `limit`: agents drop queued chunks of these instead of running them.
    async fn recently_ended_runs(
        &self,
        within: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError>;

    /// Cancels a queued or running run: it ends `cancelled` with `reason`, its chunks not
    /// yet started are cancelled and leave the outbox, and every (target, action) without
    /// a result is recorded as an `error` `"run cancelled: <reason>"`. Results still arriving
    /// from agents are then duplicates.
    ///
    /// Returns the chunks that were queued on the broker or running on an agent (the
    /// controller tells their agents to drop them). Fails with [`StoreError::NotFound`]
    /// for an unknown run and [`StoreError::Conflict`] for one that already ended.
    async fn cancel_run(&self, id: RunId, reason: &str) -> Result<Vec<ChunkRef>, StoreError>;

    /// Ends every queued or running run whose deadline is before `now`: chunks not yet
    /// started are cancelled, every (target, action) without a result is recorded as a
    /// `timeout` ("run deadline passed before this target was executed") and the run ends
    /// `completed`, its reason saying how many results timed out (none missing: it simply
    /// completes). Returns the runs it ended. Runs another controller is sweeping at the
    /// same moment are skipped, not waited for.
    async fn expire_runs(&self, now: DateTime<Utc>) -> Result<Vec<RunId>, StoreError>;
}

#[async_trait]
impl RunStore for PgStore {
    async fn create_run(&self, new: &NewRun) -> Result<Run, StoreError> {
        let chunks = ChunkColumns::new(&new.chunks)?;
        let total = i64::try_from(chunks.total)
            .map_err(|_| StoreError::invalid("the run's result count does not fit the store"))?;
        let (status, finished_at) = if chunks.total == 0 {
            (RunStatus::Completed, Some(new.created_at))
        } else {
            (RunStatus::Queued, None)
        };
        self.ensure_partitions_for_run(new.created_at).await?;

        let mut tx = self.pool.begin().await.map_err(db)?;
        let row: RunRow = sqlx::query_as(concat!(
            "INSERT INTO runs (id, job_id, job_version, status, trigger, scheduled_for,
                               created_at, finished_at, deadline_at, total, job_spec)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING ",
            run_columns!()
        ))
        .bind(new.id.as_uuid())
        .bind(new.job_id.as_uuid())
        .bind(new.job_version)
        .bind(status_name(status))
        .bind(trigger_name(new.trigger))
        .bind(new.scheduled_for)
        .bind(new.created_at)
        .bind(finished_at)
        .bind(new.deadline_at)
        .bind(total)
        .bind(Json(&new.job_spec))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db(e) {
            StoreError::NotFound { .. } => StoreError::not_found(format!("job {}", new.job_id)),
            other => other,
        })?;
        sqlx::query(
            "INSERT INTO chunks (id, run_id, segment, seq, targets, action_count, payload)
             SELECT c.id, $1, c.segment, c.seq,
                    ($2::text[])[c.target_from + 1 : c.target_from + c.target_count],
                    c.action_count, c.payload
             FROM unnest($3::uuid[], $4::text[], $5::int4[], $6::int4[], $7::int4[],
                         $8::int4[], $9::bytea[])
                  AS c(id, segment, seq, target_from, target_count, action_count, payload)",
        )
        .bind(new.id.as_uuid())
        .bind(&chunks.targets)
        .bind(&chunks.id)
        .bind(&chunks.segment)
        .bind(&chunks.seq)
        .bind(&chunks.target_from)
        .bind(&chunks.target_count)
        .bind(&chunks.action_count)
        .bind(&chunks.payload)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO outbox (chunk_id, segment)
             SELECT id, segment FROM chunks WHERE run_id = $1 ORDER BY seq",
        )
        .bind(new.id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        self.remember_run(new.id, new.created_at);
        row.try_into()
    }

    async fn get_run(&self, id: RunId) -> Result<Run, StoreError> {
        let row: Option<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("run {id}")))?
            .try_into()
    }

    async fn create_runs(
        &self,
        runs: &[NewRun],
    ) -> Result<Vec<Result<Run, StoreError>>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let mut columns = BatchColumns::default();
        for new in runs {
            columns.push(new)?;
        }
        if let (Some(first), Some(last)) = (
            runs.iter().map(|r| r.created_at).min(),
            runs.iter().map(|r| r.created_at).max(),
        ) {
            self.ensure_partitions_for_run(first).await?;
            if last.date_naive() != first.date_naive() {
                self.ensure_partitions_for_run(last).await?;
            }
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        // A slot taken (by another scheduler, or twice in this batch) skips that run only.
        let rows: Vec<RunRow> = sqlx::query_as(concat!(
            "INSERT INTO runs (id, job_id, job_version, status, trigger, scheduled_for,
                               created_at, finished_at, deadline_at, total, job_spec)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $5::text[],
                                  $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
                                  $9::timestamptz[], $10::int8[], $11::jsonb[])
             ON CONFLICT (job_id, scheduled_for) WHERE trigger IN ('schedule', 'catch_up')
             DO NOTHING
             RETURNING ",
            run_columns!()
        ))
        .bind(&columns.id)
        .bind(&columns.job_id)
        .bind(&columns.job_version)
        .bind(&columns.status)
        .bind(&columns.trigger)
        .bind(&columns.scheduled_for)
        .bind(&columns.created_at)
        .bind(&columns.finished_at)
        .bind(&columns.deadline_at)
        .bind(&columns.total)
        .bind(&columns.job_spec)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let written: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        sqlx::query(
            "INSERT INTO chunks (id, run_id, segment, seq, targets, action_count, payload)
             SELECT c.id, c.run_id, c.segment, c.seq,
                    ($1::text[])[c.target_from + 1 : c.target_from + c.target_count],
                    c.action_count, c.payload
             FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::int4[], $6::int4[],
                         $7::int4[], $8::int4[], $9::bytea[])
                  AS c(id, run_id, segment, seq, target_from, target_count, action_count,
                       payload)
             WHERE c.run_id = ANY($10)",
        )
        .bind(&columns.chunks.targets)
        .bind(&columns.chunks.id)
        .bind(&columns.chunk_run)
        .bind(&columns.chunks.segment)
        .bind(&columns.chunks.seq)
        .bind(&columns.chunks.target_from)
        .bind(&columns.chunks.target_count)
        .bind(&columns.chunks.action_count)
        .bind(&columns.chunks.payload)
        .bind(&written)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO outbox (chunk_id, segment)
             SELECT id, segment FROM chunks WHERE run_id = ANY($1) ORDER BY run_id, seq",
        )
        .bind(&written)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;

        let mut by_id: std::collections::HashMap<Uuid, RunRow> =
            rows.into_iter().map(|r| (r.id, r)).collect();
        Ok(runs
            .iter()
            .map(|new| match by_id.remove(new.id.as_uuid()) {
                Some(row) => {
                    self.remember_run(new.id, new.created_at);
                    Run::try_from(row)
                }
                None => Err(StoreError::AlreadyExists {
                    what: "run for this job and schedule time".to_owned(),
                }),
            })
            .collect())
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let (before_at, before_id) = filter
            .before
            .map(|(at, id)| (Some(at), Some(*id.as_uuid())))
            .unwrap_or_default();
        let rows: Vec<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs
             WHERE ($1::uuid IS NULL OR job_id = $1)
               AND ($2::text IS NULL OR status = $2)
               AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
             ORDER BY created_at DESC, id DESC
             LIMIT $5"
        ))
        .bind(filter.job_id.map(|id| *id.as_uuid()))
        .bind(filter.status.map(status_name))
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(filter.limit.clamp(1, crate::jobs::MAX_PAGE)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(Run::try_from).collect()
    }

    async fn run_job_spec(&self, id: RunId) -> Result<JobSpec, StoreError> {
        let spec: Option<Json<JobSpec>> =
            sqlx::query_scalar("SELECT job_spec FROM runs WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        spec.map(|s| s.0)
            .ok_or_else(|| StoreError::not_found(format!("run {id}")))
    }

    async fn runs_of_job(&self, job_id: JobId) -> Result<Vec<Run>, StoreError> {
        let rows: Vec<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE job_id = $1 ORDER BY scheduled_for, id"
        ))
        .bind(job_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(Run::try_from).collect()
    }

    async fn active_runs(&self) -> Result<Vec<Run>, StoreError> {
        let rows: Vec<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE status IN ('queued', 'running') ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(Run::try_from).collect()
    }

    async fn recently_ended_runs(
        &self,
        within: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM runs
             WHERE status IN ('cancelled', 'completed', 'failed')
               AND finished_at > now() - make_interval(secs => $1)
             ORDER BY finished_at DESC
             LIMIT $2",
        )
        .bind(within.as_secs_f64())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(RunId::from_uuid).collect())
    }

    async fn cancel_run(&self, id: RunId, reason: &str) -> Result<Vec<ChunkRef>, StoreError> {
        let result_reason = format!("run cancelled: {reason}");
        let result_reason = result_reason.as_str();
        self.retrying(move || async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let cancelled = sqlx::query(
                "UPDATE runs SET status = 'cancelled', finished_at = now(), reason = $2
                 WHERE id = $1 AND status IN ('queued', 'running')",
            )
            .bind(id.as_uuid())
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            if cancelled.rows_affected() == 0 {
                let status: Option<String> =
                    sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db)?;
                return Err(match status {
                    None => StoreError::not_found(format!("run {id}")),
                    Some(status) => StoreError::Conflict {
                        message: format!("run {id} is already {status}"),
                    },
                });
            }
            let out: Vec<(Uuid, String, Option<Uuid>)> = sqlx::query_as(
                "SELECT id, segment, agent_id FROM chunks
                 WHERE run_id = $1 AND state IN ('published', 'running')
                 ORDER BY seq
                 FOR UPDATE",
            )
            .bind(id.as_uuid())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            end_unstarted_chunks(&mut tx, &[*id.as_uuid()]).await?;
            fill_missing(
                &mut tx,
                FillScope::Runs(&[*id.as_uuid()]),
                ResultStatus::Error,
                result_reason,
            )
            .await?;
            tx.commit().await.map_err(db)?;
            Ok(out
                .into_iter()
                .map(|(chunk, segment, agent)| ChunkRef {
                    id: ChunkId::from_uuid(chunk),
                    segment,
                    agent_id: agent.map(AgentId::from_uuid),
                })
                .collect())
        })
        .await
    }

    async fn expire_runs(&self, now: DateTime<Utc>) -> Result<Vec<RunId>, StoreError> {
        self.retrying(move || async move {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let due: Vec<Uuid> = sqlx::query_scalar(
                "SELECT id FROM runs
                 WHERE status IN ('queued', 'running') AND deadline_at < $1
                 ORDER BY id
                 FOR UPDATE SKIP LOCKED",
            )
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            end_unstarted_chunks(&mut tx, &due).await?;
            let filled = fill_missing(
                &mut tx,
                FillScope::Runs(&due),
                ResultStatus::Timeout,
                DEADLINE_RESULT_REASON,
            )
            .await?;
            let (filled_runs, filled_counts): (Vec<Uuid>, Vec<i64>) = filled.into_iter().unzip();
            sqlx::query(
                "UPDATE runs AS r
                 SET status = CASE WHEN r.status IN ('queued', 'running')
                                   THEN 'completed' ELSE r.status END,
                     finished_at = coalesce(r.finished_at, now()),
                     reason = CASE WHEN f.filled > 0
                                   THEN format('run deadline passed: %s of %s results '
                                               'recorded as timeout', f.filled, r.total)
                                   ELSE r.reason END
                 FROM (SELECT due.id, coalesce(filled.n, 0) AS filled
                       FROM unnest($1::uuid[]) AS due(id)
                       LEFT JOIN unnest($2::uuid[], $3::int8[]) AS filled(id, n)
                              ON filled.id = due.id) AS f
                 WHERE r.id = f.id",
            )
            .bind(&due)
            .bind(&filled_runs)
            .bind(&filled_counts)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(due.into_iter().map(RunId::from_uuid).collect())
        })
        .await
    }
}

/// Cancels the chunks of `runs` no agent has started and removes them from the outbox.
async fn end_unstarted_chunks(
    conn: &mut sqlx::PgConnection,
    runs: &[Uuid],
) -> Result<(), StoreError> {
    sqlx::query(
        "WITH ended AS (
             UPDATE chunks SET state = 'cancelled', finished_at = now()
             WHERE run_id = ANY($1) AND state IN ('pending', 'published')
         )
         DELETE FROM outbox AS o USING chunks AS c
         WHERE c.id = o.chunk_id AND c.run_id = ANY($1)",
    )
    .bind(runs)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_names_are_the_core_serde_names() {
        for status in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Cancelled,
            RunStatus::Failed,
        ] {
            let serde = serde_json::to_value(status).unwrap();
            assert_eq!(serde, status_name(status));
            assert_eq!(parse_status(status_name(status)).unwrap(), status);
        }
        for trigger in [
            RunTrigger::Schedule,
            RunTrigger::Manual,
            RunTrigger::CatchUp,
        ] {
            let serde = serde_json::to_value(trigger).unwrap();
            assert_eq!(serde, trigger_name(trigger));
            assert_eq!(parse_trigger(trigger_name(trigger)).unwrap(), trigger);
        }
    }
}
