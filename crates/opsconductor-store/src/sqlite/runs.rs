//! Runs on SQLite: a run, its chunks and their outbox rows in one `BEGIN IMMEDIATE`
//! transaction; cancellation and the deadline sweep with the shared fill-in.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, ChunkId, JobId, RunId};
use opsconductor_core::model::{JobSpec, ResultStatus, Run, RunStatus};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::results::fill_missing;
use super::{SqliteStore, Ts, db, earlier, now, uuid_list};
use crate::chunks::ChunkRef;
use crate::error::StoreError;
use crate::jobs::MAX_PAGE;
use crate::results::FillScope;
use crate::runs::{
    ChunkColumns, DEADLINE_RESULT_REASON, RunRow, run_columns, status_name, trigger_name,
};
use crate::{NewRun, RunFilter, RunStore};

/// Chunk rows per INSERT statement (8 parameters each, well inside SQLite's limit).
const CHUNKS_PER_INSERT: usize = 500;

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, new: &NewRun) -> Result<Run, StoreError> {
        let mut tx = self.begin().await?;
        let row =
            insert_run(&mut tx, new, false)
                .await?
                .ok_or_else(|| StoreError::AlreadyExists {
                    what: "run for this job and schedule time".to_owned(),
                })?;
        tx.commit().await.map_err(db)?;
        row.try_into()
    }

    async fn get_run(&self, id: RunId) -> Result<Run, StoreError> {
        let row: Option<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
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
        let mut tx = self.begin().await?;
        let mut written = Vec::with_capacity(runs.len());
        for new in runs {
            // A slot taken (by an earlier scheduler, or twice in this batch) skips that run
            // only; anything else fails the batch, and dropping `tx` rolls it back.
            written.push(insert_run(&mut tx, new, true).await?);
        }
        tx.commit().await.map_err(db)?;
        Ok(written
            .into_iter()
            .map(|row| match row {
                Some(row) => Run::try_from(row),
                None => Err(StoreError::AlreadyExists {
                    what: "run for this job and schedule time".to_owned(),
                }),
            })
            .collect())
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE true"
        ));
        if let Some(job_id) = filter.job_id {
            q.push(" AND job_id = ").push_bind(*job_id.as_uuid());
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status_name(status));
        }
        if let Some((at, id)) = filter.before {
            q.push(" AND (created_at, id) < (")
                .push_bind(Ts(at))
                .push(", ")
                .push_bind(*id.as_uuid())
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.clamp(1, MAX_PAGE)));
        let rows: Vec<RunRow> = q
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.into_iter().map(Run::try_from).collect()
    }

    async fn run_job_spec(&self, id: RunId) -> Result<JobSpec, StoreError> {
        let spec: Option<Json<JobSpec>> =
            sqlx::query_scalar("SELECT job_spec FROM runs WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&self.reader)
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
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(Run::try_from).collect()
    }

    async fn recently_ended_runs(
        &self,
        within: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<RunId>, StoreError> {
        let since = earlier(now(), within);
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM runs
             WHERE status IN ('cancelled', 'completed', 'failed') AND finished_at > $1
             ORDER BY finished_at DESC
             LIMIT $2",
        )
        .bind(Ts(since))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(RunId::from_uuid).collect())
    }

    async fn cancel_run(&self, id: RunId, reason: &str) -> Result<Vec<ChunkRef>, StoreError> {
        let now = now();
        let mut tx = self.begin().await?;
        let cancelled = sqlx::query(
            "UPDATE runs SET status = 'cancelled', finished_at = $3, reason = $2
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(id.as_uuid())
        .bind(reason)
        .bind(Ts(now))
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
             ORDER BY seq",
        )
        .bind(id.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let runs = [*id.as_uuid()];
        end_unstarted_chunks(&mut tx, &runs, now).await?;
        fill_missing(
            &mut tx,
            FillScope::Runs(&runs),
            ResultStatus::Error,
            &format!("run cancelled: {reason}"),
            now,
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
    }

    async fn expire_runs(&self, now: DateTime<Utc>) -> Result<Vec<RunId>, StoreError> {
        let mut tx = self.begin().await?;
        let due: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM runs
             WHERE status IN ('queued', 'running') AND deadline_at < $1
             ORDER BY id",
        )
        .bind(Ts(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let ended_at = super::now();
        end_unstarted_chunks(&mut tx, &due, ended_at).await?;
        let filled: std::collections::HashMap<Uuid, i64> = fill_missing(
            &mut tx,
            FillScope::Runs(&due),
            ResultStatus::Timeout,
            DEADLINE_RESULT_REASON,
            ended_at,
        )
        .await?
        .into_iter()
        .collect();
        for id in &due {
            let filled = filled.get(id).copied().unwrap_or_default();
            sqlx::query(
                "UPDATE runs
                 SET status = CASE WHEN status IN ('queued', 'running')
                                   THEN 'completed' ELSE status END,
                     finished_at = coalesce(finished_at, $3),
                     reason = CASE WHEN $2 > 0
                                   THEN 'run deadline passed: ' || $2 || ' of ' || total
                                        || ' results recorded as timeout'
                                   ELSE reason END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(filled)
            .bind(Ts(ended_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(due.into_iter().map(RunId::from_uuid).collect())
    }
}

/// Writes a run, its chunks and their outbox rows inside `tx`. With `skip_taken_slot`, a
/// scheduled run whose (job, fire time) slot has a run already is skipped (`None`);
/// without, that is an error like any other clash.
async fn insert_run(
    tx: &mut SqliteConnection,
    new: &NewRun,
    skip_taken_slot: bool,
) -> Result<Option<RunRow>, StoreError> {
    let chunks = ChunkColumns::new(&new.chunks)?;
    let total = i64::try_from(chunks.total)
        .map_err(|_| StoreError::invalid("the run's result count does not fit the store"))?;
    let (status, finished_at) = if chunks.total == 0 {
        (RunStatus::Completed, Some(new.created_at))
    } else {
        (RunStatus::Queued, None)
    };
    let sql = if skip_taken_slot {
        concat!(
            "INSERT INTO runs (id, job_id, job_version, status, trigger, scheduled_for,
                               created_at, finished_at, deadline_at, total, job_spec)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (job_id, scheduled_for) WHERE trigger IN ('schedule', 'catch_up')
             DO NOTHING
             RETURNING ",
            run_columns!()
        )
    } else {
        concat!(
            "INSERT INTO runs (id, job_id, job_version, status, trigger, scheduled_for,
                               created_at, finished_at, deadline_at, total, job_spec)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             RETURNING ",
            run_columns!()
        )
    };
    let row: Option<RunRow> = sqlx::query_as(sql)
        .bind(new.id.as_uuid())
        .bind(new.job_id.as_uuid())
        .bind(new.job_version)
        .bind(status_name(status))
        .bind(trigger_name(new.trigger))
        .bind(Ts(new.scheduled_for))
        .bind(Ts(new.created_at))
        .bind(finished_at.map(Ts))
        .bind(Ts(new.deadline_at))
        .bind(total)
        .bind(Json(&new.job_spec))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| match db(e) {
            StoreError::NotFound { .. } => StoreError::not_found(format!("job {}", new.job_id)),
            other => other,
        })?;
    let Some(row) = row else {
        return Ok(None);
    };
    let created = Ts(now());
    let indexes: Vec<usize> = (0..chunks.id.len()).collect();
    for part in indexes.chunks(CHUNKS_PER_INSERT) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO chunks (id, run_id, segment, seq, targets, action_count, payload,
                                 created_at) ",
        );
        q.push_values(part, |mut b, &i| {
            let from = usize::try_from(chunks.target_from[i]).unwrap_or_default();
            let count = usize::try_from(chunks.target_count[i]).unwrap_or_default();
            b.push_bind(chunks.id[i])
                .push_bind(*new.id.as_uuid())
                .push_bind(chunks.segment[i])
                .push_bind(chunks.seq[i])
                .push_bind(Json(&chunks.targets[from..from + count]))
                .push_bind(chunks.action_count[i])
                .push_bind(chunks.payload[i])
                .push_bind(created);
        });
        q.build().execute(&mut *tx).await.map_err(db)?;
    }
    sqlx::query(
        "INSERT INTO outbox (chunk_id, segment, created_at)
         SELECT id, segment, $2 FROM chunks WHERE run_id = $1 ORDER BY seq",
    )
    .bind(new.id.as_uuid())
    .bind(created)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(Some(row))
}

/// Cancels the chunks of `runs` no agent has started and removes them from the outbox.
pub(crate) async fn end_unstarted_chunks(
    tx: &mut SqliteConnection,
    runs: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let runs = uuid_list(runs);
    sqlx::query(
        "UPDATE chunks SET state = 'cancelled', finished_at = $2
         WHERE run_id IN (SELECT unhex(value) FROM json_each($1))
           AND state IN ('pending', 'published')",
    )
    .bind(&runs)
    .bind(Ts(now))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "DELETE FROM outbox WHERE chunk_id IN (
             SELECT id FROM chunks WHERE run_id IN (SELECT unhex(value) FROM json_each($1)))",
    )
    .bind(&runs)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}
