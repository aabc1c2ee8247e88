//! Jobs on SQLite: the spec as JSON text; tags and text search read it with SQLite's JSON
//! functions (LIKE, which folds ASCII letters only, stands in for PostgreSQL's ILIKE).

use async_trait::async_trait;
use opsconductor_core::ids::JobId;
use opsconductor_core::model::{Job, JobSpec, Run};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use super::{SqliteStore, Ts, db, now, uuid_list};
use crate::error::StoreError;
use crate::jobs::{JobRow, MAX_PAGE, like_pattern, name_clash, stale};
use crate::runs::{RunRow, run_columns};
use crate::{JobFilter, JobListItem, JobStore, ListedJob};

#[async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, spec: &JobSpec) -> Result<Job, StoreError> {
        self.insert_job(spec, false).await
    }

    async fn create_hidden_job(&self, spec: &JobSpec) -> Result<Job, StoreError> {
        self.insert_job(spec, true).await
    }

    async fn get_job(&self, id: JobId) -> Result<Job, StoreError> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT id, version, spec, created_at, updated_at FROM jobs WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Job::from)
            .ok_or_else(|| StoreError::not_found(format!("job {id}")))
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobListItem>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT j.id, j.version, j.name, j.enabled,
                    json_extract(j.spec, '$.schedule') AS schedule, j.spec, j.created_at,
                    j.updated_at
             FROM jobs AS j WHERE NOT j.hidden",
        );
        if let Some(tag) = filter.tag.as_deref() {
            // A repeated tag matches once: EXISTS, not a join.
            q.push(
                " AND json_type(j.spec, '$.tags') = 'array'
                  AND EXISTS (SELECT 1 FROM json_each(j.spec, '$.tags') AS t
                              WHERE t.value = ",
            )
            .push_bind(tag.to_owned())
            .push(")");
        }
        if let Some(text) = filter.text.as_deref() {
            let pattern = like_pattern(text);
            q.push(" AND (j.name LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR json_extract(j.spec, '$.description') LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(enabled) = filter.enabled {
            q.push(" AND j.enabled = ").push_bind(enabled);
        }
        if let Some(after) = filter.after_name.as_deref() {
            q.push(" AND j.name > ").push_bind(after.to_owned());
        }
        q.push(" ORDER BY j.name LIMIT ")
            .push_bind(i64::from(filter.limit.clamp(1, MAX_PAGE)));
        let jobs: Vec<ListedJob> = q
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        // Each job's newest run from the top of its `runs_by_job_newest` range.
        let latest: Vec<RunRow> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id IN (
                 SELECT (SELECT r.id FROM runs AS r WHERE r.job_id = unhex(page.value)
                         ORDER BY r.created_at DESC, r.id DESC LIMIT 1)
                 FROM json_each($1) AS page
             )"
        ))
        .bind(uuid_list(jobs.iter().map(|j| j.id.as_uuid())))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let mut latest: std::collections::HashMap<Uuid, RunRow> =
            latest.into_iter().map(|r| (r.job_id, r)).collect();
        jobs.into_iter()
            .map(|job| {
                let last_run = latest
                    .remove(job.id.as_uuid())
                    .map(Run::try_from)
                    .transpose()?;
                Ok(JobListItem { job, last_run })
            })
            .collect()
    }

    async fn update_job(
        &self,
        id: JobId,
        expected_version: Option<i64>,
        spec: &JobSpec,
    ) -> Result<Job, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<JobRow> = sqlx::query_as(
            "UPDATE jobs SET spec = $3, name = $4, enabled = $5, version = version + 1,
                    updated_at = $6
             WHERE id = $1 AND ($2 IS NULL OR version = $2)
             RETURNING id, version, spec, created_at, updated_at",
        )
        .bind(id.as_uuid())
        .bind(expected_version)
        .bind(Json(spec))
        .bind(&spec.name)
        .bind(spec.enabled)
        .bind(Ts(now()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)
        .map_err(name_clash(spec))?;
        if let Some(row) = row {
            tx.commit().await.map_err(db)?;
            return Ok(row.into());
        }
        // Why nothing matched: the job is gone or its version moved.
        let version: Option<i64> = sqlx::query_scalar("SELECT version FROM jobs WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        Err(match version {
            Some(version) => stale(id, expected_version.unwrap_or_default(), version),
            None => StoreError::not_found(format!("job {id}")),
        })
    }

    async fn set_jobs_enabled(
        &self,
        ids: &[JobId],
        enabled: bool,
    ) -> Result<Vec<JobId>, StoreError> {
        // `json('true')`: a JSON boolean in the spec, not SQLite's integer 1.
        let changed: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE jobs
             SET enabled = $2,
                 spec = json_set(spec, '$.enabled', json(CASE WHEN $2 THEN 'true' ELSE 'false' END)),
                 version = version + 1, updated_at = $3
             WHERE id IN (SELECT unhex(value) FROM json_each($1)) AND enabled <> $2
             RETURNING id",
        )
        .bind(uuid_list(ids.iter().map(JobId::as_uuid)))
        .bind(enabled)
        .bind(Ts(now()))
        .fetch_all(&self.writer)
        .await
        .map_err(db)?;
        Ok(changed.into_iter().map(JobId::from_uuid).collect())
    }

    async fn delete_job(&self, id: JobId, expected_version: Option<i64>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let version: Option<i64> = sqlx::query_scalar("SELECT version FROM jobs WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(version) = version else {
            return Err(StoreError::not_found(format!("job {id}")));
        };
        if let Some(expected) = expected_version.filter(|e| *e != version) {
            return Err(stale(id, expected, version));
        }
        // Runs, chunks, outbox rows and results go by cascade.
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn delete_jobs(&self, ids: &[JobId]) -> Result<Vec<JobId>, StoreError> {
        let deleted: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM jobs WHERE id IN (SELECT unhex(value) FROM json_each($1)) RETURNING id",
        )
        .bind(uuid_list(ids.iter().map(JobId::as_uuid)))
        .fetch_all(&self.writer)
        .await
        .map_err(db)?;
        Ok(deleted.into_iter().map(JobId::from_uuid).collect())
    }
}

impl SqliteStore {
    async fn insert_job(&self, spec: &JobSpec, hidden: bool) -> Result<Job, StoreError> {
        let id = JobId::new();
        let row: JobRow = sqlx::query_as(
            "INSERT INTO jobs (id, name, version, spec, enabled, hidden, created_at, updated_at)
             VALUES ($1, $2, 1, $3, $4, $5, $6, $6)
             RETURNING id, version, spec, created_at, updated_at",
        )
        .bind(id.as_uuid())
        .bind(&spec.name)
        .bind(Json(spec))
        .bind(spec.enabled)
        .bind(hidden)
        .bind(Ts(now()))
        .fetch_one(&self.writer)
        .await
        .map_err(db)
        .map_err(name_clash(spec))?;
        Ok(row.into())
    }
}
