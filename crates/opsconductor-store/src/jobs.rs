//! Jobs: versioned definitions, stored as the core `JobSpec` serialised to JSON, with the
//! list, update (optimistic concurrency on the version), enable/disable and delete the
//! client API needs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::{Job, JobSpec, Run, Schedule};
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};
use crate::runs::{RunRow, run_columns};

/// Most rows one list call returns.
pub const MAX_PAGE: u32 = 1000;

/// What to list, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Case-insensitive substring of the name or description.
    pub text: Option<String>,
    /// Only jobs carrying this tag.
    pub tag: Option<String>,
    /// Only enabled (true) or disabled (false) jobs.
    pub enabled: Option<bool>,
    /// Continue after the job with this name (jobs are listed by name).
    pub after_name: Option<String>,
    /// Page size, 1..=[`MAX_PAGE`].
    pub limit: u32,
}

/// A job in a list: the job and its latest run, so a dashboard needs one call.
#[derive(Debug, Clone)]
pub struct JobListItem {
    /// The job.
    pub job: ListedJob,
    /// Its newest run, if it ever ran.
    pub last_run: Option<Run>,
}

/// A job as lists carry it: the spec stays the JSON text it is stored as, with decoded
/// copies of the few fields a list works with. Lists hand the spec on to clients as it
/// is, and decoding 100 specs only to encode them again was a fifth of the CPU of a
/// page (`cargo bench -p opsconductor-controller --bench job_page`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedJob {
    /// Stable id.
    #[sqlx(try_from = "Uuid")]
    pub id: JobId,
    /// Increments on every change.
    pub version: i64,
    /// Unique name (the list order and cursor).
    pub name: String,
    /// Whether it fires by itself.
    pub enabled: bool,
    /// When it fires.
    #[sqlx(json)]
    pub schedule: Schedule,
    /// The whole [`JobSpec`] as stored JSON.
    #[sqlx(json)]
    pub spec: Box<RawValue>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: Uuid,
    version: i64,
    spec: Json<JobSpec>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Self {
            id: JobId::from_uuid(row.id),
            version: row.version,
            spec: row.spec.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(crate) fn name_clash(spec: &JobSpec) -> impl FnOnce(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::AlreadyExists { .. } => StoreError::AlreadyExists {
            what: format!("job named {:?}", spec.name),
        },
        other => other,
    }
}

/// The stored version differs from the one the caller based its change on.
pub(crate) fn stale(id: JobId, expected: i64, actual: i64) -> StoreError {
    StoreError::Conflict {
        message: format!(
            "job {id} is at version {actual}, not {expected}: it changed since it was read; \
             read it again and reapply the change"
        ),
    }
}

/// Job definitions, versioned for optimistic concurrency.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job at version 1. Fails with [`StoreError::AlreadyExists`] when a job
    /// with the same name exists. The spec is stored as given: validating it against the
    /// libraries is the caller's job.
    async fn create_job(&self, spec: &JobSpec) -> Result<Job, StoreError>;

    /// Stores a job that job lists leave out: the vehicle of a dry run, deleted by the
    /// caller once its result is in.
    async fn create_hidden_job(&self, spec: &JobSpec) -> Result<Job, StoreError>;

    /// The job with this id.
    async fn get_job(&self, id: JobId) -> Result<Job, StoreError>;

    /// Jobs by name, filtered, each with its newest run, at most `filter.limit`.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobListItem>, StoreError>;

    /// Replaces a job's spec if it is still at `expected_version` (optimistic
    /// concurrency: two editors cannot silently overwrite each other) and bumps the
    /// version. `None` skips the check (a script that means "whatever is there").
    async fn update_job(
        &self,
        id: JobId,
        expected_version: Option<i64>,
        spec: &JobSpec,
    ) -> Result<Job, StoreError>;

    /// Enables or disables jobs; returns the ids that changed (already in that state and
    /// unknown ids are left out). Each changed job's version is bumped.
    async fn set_jobs_enabled(
        &self,
        ids: &[JobId],
        enabled: bool,
    ) -> Result<Vec<JobId>, StoreError>;

    /// Deletes a job with its runs, chunks and results if it is still at
    /// `expected_version` (`None`: any version).
    async fn delete_job(&self, id: JobId, expected_version: Option<i64>) -> Result<(), StoreError>;

    /// Deletes many jobs with their history in one transaction; returns the ids that
    /// existed.
    async fn delete_jobs(&self, ids: &[JobId]) -> Result<Vec<JobId>, StoreError>;
}

#[async_trait]
impl JobStore for PgStore {
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
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Job::from)
            .ok_or_else(|| StoreError::not_found(format!("job {id}")))
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobListItem>, StoreError> {
        // Only the filters given are in the statement: `($1 IS NULL OR …)` conditions
        // hide from the planner which indexes apply. A tag reads its `job_tags` rows,
        // which are in name order.
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT j.id, j.version, j.name, j.enabled, j.spec->'schedule' AS schedule,
                    j.spec, j.created_at, j.updated_at FROM ",
        );
        let name = match filter.tag.as_deref() {
            Some(tag) => {
                q.push("job_tags AS t JOIN jobs AS j ON j.id = t.job_id WHERE t.tag = ")
                    .push_bind(tag.to_owned());
                "t.name"
            }
            None => {
                q.push("jobs AS j WHERE true");
                "j.name"
            }
        };
        q.push(" AND NOT j.hidden");
        if let Some(text) = filter.text.as_deref() {
            let pattern = like_pattern(text);
            q.push(" AND (j.name ILIKE ")
                .push_bind(pattern.clone())
                .push(" OR j.spec->>'description' ILIKE ")
                .push_bind(pattern)
                .push(")");
        }
        if let Some(enabled) = filter.enabled {
            q.push(" AND j.enabled = ").push_bind(enabled);
        }
        if let Some(after) = filter.after_name.as_deref() {
            q.push(format!(" AND {name} > "))
                .push_bind(after.to_owned());
        }
        q.push(format!(" ORDER BY {name} LIMIT "))
            .push_bind(i64::from(filter.limit.clamp(1, MAX_PAGE)));
        // A text search is planned for its value (an unnamed statement): how common the
        // text is decides between the trigram indexes and a walk of the name index, and a
        // generic plan cannot know.
        let jobs: Vec<ListedJob> = q
            .build_query_as()
            .persistent(filter.text.is_none())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let ids: Vec<Uuid> = jobs.iter().map(|j| *j.id.as_uuid()).collect();
        // Each job's newest run from the top of its `runs_by_job_newest` range; DISTINCT ON
        // would read every run of every job on the page.
        let latest: Vec<RunRow> = sqlx::query_as(concat!(
            "SELECT r.* FROM unnest($1::uuid[]) AS page (job_id)
             CROSS JOIN LATERAL (
                 SELECT ",
            run_columns!(),
            " FROM runs WHERE runs.job_id = page.job_id
                 ORDER BY created_at DESC, id DESC LIMIT 1
             ) AS r"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
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
        let row: Option<JobRow> = sqlx::query_as(
            "UPDATE jobs SET spec = $3, name = $4, enabled = $5, version = version + 1,
                    updated_at = now()
             WHERE id = $1 AND ($2::bigint IS NULL OR version = $2)
             RETURNING id, version, spec, created_at, updated_at",
        )
        .bind(id.as_uuid())
        .bind(expected_version)
        .bind(Json(spec))
        .bind(&spec.name)
        .bind(spec.enabled)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)
        .map_err(name_clash(spec))?;
        match row {
            Some(row) => Ok(row.into()),
            None => Err(self.why_not_updated(id, expected_version).await),
        }
    }

    async fn set_jobs_enabled(
        &self,
        ids: &[JobId],
        enabled: bool,
    ) -> Result<Vec<JobId>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        let changed: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE jobs SET enabled = $2, spec = jsonb_set(spec, '{enabled}', to_jsonb($2)),
                    version = version + 1, updated_at = now()
             WHERE id = ANY($1) AND enabled <> $2
             RETURNING id",
        )
        .bind(&ids)
        .bind(enabled)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(changed.into_iter().map(JobId::from_uuid).collect())
    }

    async fn delete_job(&self, id: JobId, expected_version: Option<i64>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM jobs WHERE id = $1 FOR UPDATE")
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
        delete_jobs_in(&mut tx, &[*id.as_uuid()]).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn delete_jobs(&self, ids: &[JobId]) -> Result<Vec<JobId>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let deleted = delete_jobs_in(&mut tx, &ids).await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted.into_iter().map(JobId::from_uuid).collect())
    }
}

impl PgStore {
    async fn insert_job(&self, spec: &JobSpec, hidden: bool) -> Result<Job, StoreError> {
        let id = JobId::new();
        let (created_at, updated_at): (DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
            "INSERT INTO jobs (id, name, version, spec, enabled, hidden)
             VALUES ($1, $2, 1, $3, $4, $5)
             RETURNING created_at, updated_at",
        )
        .bind(id.as_uuid())
        .bind(&spec.name)
        .bind(Json(spec))
        .bind(spec.enabled)
        .bind(hidden)
        .fetch_one(&self.pool)
        .await
        .map_err(db)
        .map_err(name_clash(spec))?;
        Ok(Job {
            id,
            version: 1,
            spec: spec.clone(),
            created_at,
            updated_at,
        })
    }

    /// Why a conditional update matched no row: the job is gone or its version moved.
    async fn why_not_updated(&self, id: JobId, expected: Option<i64>) -> StoreError {
        match self.get_job(id).await {
            Ok(job) => stale(id, expected.unwrap_or_default(), job.version),
            Err(e) => e,
        }
    }
}

/// Deletes jobs, their results and (by cascade) runs, chunks and outbox rows.
async fn delete_jobs_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    sqlx::query(
        "DELETE FROM results AS res USING runs AS r
         WHERE r.job_id = ANY($1) AND res.run_id = r.id AND res.run_created_at = r.created_at",
    )
    .bind(ids)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    sqlx::query_scalar("DELETE FROM jobs WHERE id = ANY($1) RETURNING id")
        .bind(ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(db)
}

/// `%text%` for ILIKE, with the pattern characters in `text` taken literally.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
